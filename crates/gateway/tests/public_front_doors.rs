//! What an outsider with only the public front's address can do, tried against a real anvil
//! (chain 506) with its unlocked accounts and its default CREATE2 deployer: never sign as the
//! sequencer's accounts, never deploy (directly, through a factory, through a nested call or a
//! delegated account), in a batch or alone, in any letter case.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{sync::Arc, time::Duration};

use alloy::{
    eips::{Encodable2718, eip7702::Authorization},
    network::{
        EthereumWallet, NetworkTransactionBuilder, TransactionBuilder, TransactionBuilder7702,
    },
    primitives::{Address, B256, Bytes, U256, address},
    providers::{Provider, ProviderBuilder},
    rpc::types::TransactionRequest,
    signers::{SignerSync, local::PrivateKeySigner},
    transports::http::reqwest::{Client, Url},
};
use devnet::{Anvil, AnvilConfig, LOG_EMITTER_INITCODE};
use gateway_mode::{DEPLOYMENT_REFUSED_CODE, DeploymentAllowlist, PublicRpc, PublicRpcConfig};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(30);
/// The deterministic-deployment proxy anvil (and many sequencers) have by default.
const CREATE2_FACTORY: Address = address!("4e59b44847b379578588920cA78FbF26c0B4956C");
/// Runtime code: creates a contract from its calldata (CREATE) and returns its address.
const FACTORY_RUNTIME: &[u8] =
    &[0x36, 0x5f, 0x5f, 0x37, 0x36, 0x5f, 0x5f, 0xf0, 0x5f, 0x52, 0x60, 0x20, 0x5f, 0xf3];

/// Init code that deploys `runtime` (at most 255 bytes).
fn init_code(runtime: &[u8]) -> Bytes {
    let mut code =
        vec![0x60, u8::try_from(runtime.len()).unwrap(), 0x80, 0x60, 9, 0x5f, 0x39, 0x5f, 0xf3];
    code.extend_from_slice(runtime);
    code.into()
}

/// Runtime code that forwards its calldata to `target` (a nested call) and returns 32 bytes.
fn proxy_runtime(target: Address) -> Vec<u8> {
    let mut code = vec![0x36, 0x5f, 0x5f, 0x37, 0x60, 0x20, 0x5f, 0x36, 0x5f, 0x5f, 0x73];
    code.extend_from_slice(target.as_slice());
    code.extend_from_slice(&[0x5a, 0xf1, 0x50, 0x60, 0x20, 0x5f, 0xf3]);
    code
}

struct Front {
    _anvil: Anvil,
    _dir: tempfile::TempDir,
    front: PublicRpc,
    url: Url,
    direct: Url,
    keys: Vec<String>,
    client: Client,
}

async fn front(allowed: &[usize]) -> Front {
    front_with(allowed, |_| {}).await
}

async fn front_with(allowed: &[usize], tweak: impl FnOnce(&mut PublicRpcConfig)) -> Front {
    let anvil = Anvil::spawn(AnvilConfig { chain_id: 506, ..Default::default() }).unwrap();
    let keys = anvil.dev_keys().to_vec();
    let allowed: Vec<Address> =
        allowed.iter().map(|i| keys[*i].parse::<PrivateKeySigner>().unwrap().address()).collect();
    let dir = tempfile::tempdir().unwrap();
    let allowlist = Arc::new(DeploymentAllowlist::open(dir.path(), &allowed).unwrap());
    let mut config = PublicRpcConfig::new("127.0.0.1:0".parse().unwrap(), anvil.endpoint());
    tweak(&mut config);
    let front = PublicRpc::start(config, allowlist).await.unwrap();
    let url = format!("http://{}", front.local_addr()).parse().unwrap();
    Front {
        direct: anvil.endpoint(),
        _anvil: anvil,
        _dir: dir,
        front,
        url,
        keys,
        client: Client::new(),
    }
}

impl Front {
    async fn post(&self, body: &Value) -> Value {
        self.client.post(self.url.clone()).json(body).send().await.unwrap().json().await.unwrap()
    }

    async fn call(&self, method: &str, params: Value) -> Value {
        self.post(&json!({"jsonrpc": "2.0", "id": 7, "method": method, "params": params})).await
    }

    fn address(&self, key: usize) -> Address {
        self.keys[key].parse::<PrivateKeySigner>().unwrap().address()
    }

    /// Signs `request` with dev key `key` (nonce from the node plus `skip`) for the Gateway.
    async fn raw(&self, key: usize, request: TransactionRequest, skip: u64) -> Bytes {
        self.raw_for(key, request, skip, 506).await
    }

    /// [`Front::raw`] signed for `chain_id`.
    async fn raw_for(
        &self,
        key: usize,
        request: TransactionRequest,
        skip: u64,
        chain_id: u64,
    ) -> Bytes {
        let signer: PrivateKeySigner = self.keys[key].parse().unwrap();
        let direct = ProviderBuilder::new().connect_http(self.direct.clone());
        let nonce = direct.get_transaction_count(signer.address()).await.unwrap() + skip;
        let request = request
            .with_nonce(nonce)
            .with_chain_id(chain_id)
            .with_gas_limit(1_000_000)
            .with_max_fee_per_gas(10_000_000_000)
            .with_max_priority_fee_per_gas(1);
        let envelope = <TransactionRequest as NetworkTransactionBuilder<
            alloy::network::Ethereum,
        >>::build(request, &EthereumWallet::from(signer))
        .await
        .unwrap();
        Bytes::from(envelope.encoded_2718())
    }

    /// Sends a signed transaction through the front; its receipt's status, or the refusal.
    async fn send(&self, key: usize, request: TransactionRequest) -> Result<bool, Value> {
        let raw = self.raw(key, request, 0).await;
        let answer = self.call("eth_sendRawTransaction", json!([raw])).await;
        if let Some(error) = answer.get("error") {
            return Err(error.clone());
        }
        let hash: B256 = serde_json::from_value(answer["result"].clone()).unwrap();
        let direct = ProviderBuilder::new().connect_http(self.direct.clone());
        let receipt = tokio::time::timeout(WAIT, async {
            loop {
                if let Some(receipt) = direct.get_transaction_receipt(hash).await.unwrap() {
                    return receipt;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
        .await
        .unwrap();
        Ok(receipt.status())
    }

    async fn code(&self, at: Address) -> Bytes {
        ProviderBuilder::new().connect_http(self.direct.clone()).get_code_at(at).await.unwrap()
    }

    /// Deploys `runtime` from the allowlisted dev key 0 directly on the sequencer.
    async fn install(&self, runtime: &[u8]) -> Address {
        let signer: PrivateKeySigner = self.keys[0].parse().unwrap();
        let provider = ProviderBuilder::new()
            .wallet(EthereumWallet::from(signer))
            .connect_http(self.direct.clone());
        let pending = provider
            .send_transaction(TransactionRequest::default().with_deploy_code(init_code(runtime)))
            .await
            .unwrap();
        tokio::time::timeout(WAIT, pending.get_receipt())
            .await
            .unwrap()
            .unwrap()
            .contract_address
            .unwrap()
    }
}

fn assert_refused(answer: &Result<bool, Value>, who: Address, what: &str) {
    let error = answer.as_ref().expect_err(what);
    assert_eq!(error["code"], DEPLOYMENT_REFUSED_CODE, "{what}: {error}");
    assert_eq!(error["data"]["deployer"], who.to_string(), "{what}: {error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_allowlisted_methods_are_served_in_any_case_alone_or_in_a_batch() {
    let f = front(&[]).await;
    let governance = f.address(0);
    let victim_balance = |f: &Front| {
        let direct = ProviderBuilder::new().connect_http(f.direct.clone());
        async move { direct.get_balance(governance).await.unwrap() }
    };
    let before = victim_balance(&f).await;

    // The sequencer's unlocked accounts cannot be made to sign or send, nor listed.
    let refused = [
        ("eth_sendTransaction", json!([{"from": governance, "to": f.address(1), "value": "0x1"}])),
        (
            "eth_sendTransactionSync",
            json!([{"from": governance, "to": f.address(1), "value": "0x1"}]),
        ),
        (
            "eth_signTypedData_v4",
            json!([governance, {"types": {}, "primaryType": "x", "domain": {}, "message": {}}]),
        ),
        ("eth_sign", json!([governance, "0x00"])),
        ("eth_signTransaction", json!([{"from": governance}])),
        ("eth_accounts", json!([])),
        ("personal_sign", json!(["0x00", governance])),
        ("wallet_sendCalls", json!([])),
        ("anvil_setBalance", json!([f.address(1), "0x1"])),
        ("evm_mine", json!([])),
        ("debug_traceCall", json!([{}, "latest"])),
        ("ETH_SENDTRANSACTION", json!([{"from": governance, "to": f.address(1), "value": "0x1"}])),
        ("Eth_ChainId", json!([])),
    ];
    for (method, params) in &refused {
        let answer = f.call(method, params.clone()).await;
        assert_eq!(answer["error"]["code"], -32601, "{method}: {answer}");
        let message = answer["error"]["message"].as_str().unwrap();
        assert!(message.contains(method), "the refusal names {method}: {message}");
        assert!(answer.get("result").is_none());
    }
    // The same methods in one batch with a read: the read is answered, the rest refused.
    let mut batch: Vec<Value> = refused
        .iter()
        .enumerate()
        .map(|(i, (method, params))| json!({"jsonrpc": "2.0", "id": i, "method": method, "params": params}))
        .collect();
    batch.push(json!({"jsonrpc": "2.0", "id": "read", "method": "eth_chainId", "params": []}));
    let answers = f.post(&Value::Array(batch)).await;
    let answers = answers.as_array().unwrap();
    assert_eq!(answers.len(), refused.len() + 1);
    for answer in answers {
        if answer["id"] == "read" {
            assert_eq!(answer["result"], "0x1fa");
        } else {
            assert_eq!(answer["error"]["code"], -32601, "{answer}");
        }
    }
    assert_eq!(victim_balance(&f).await, before, "nothing was sent as the governance account");

    // Not a request: answered here, never forwarded.
    let not_json = f.client.post(f.url.clone()).body("{oops").send().await.unwrap();
    let not_json: Value = not_json.json().await.unwrap();
    assert_eq!(not_json["error"]["code"], -32700, "{not_json}");
    let no_method = f.post(&json!({"jsonrpc": "2.0", "id": 1, "params": []})).await;
    assert_eq!(no_method["error"]["code"], -32600, "{no_method}");
    let empty = f.post(&json!([])).await;
    assert_eq!(empty["error"]["code"], -32600, "{empty}");
    // Extra parameters on a send are refused rather than guessed at.
    let extra = f.call("eth_sendRawTransaction", json!(["0x00", "0x01"])).await;
    assert_eq!(extra["error"]["code"], -32602, "{extra}");
    f.front.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deployments_are_refused_on_every_route_the_front_can_see() {
    // Dev key 0 is the allowlisted deployer; 1 is the outsider; 2 an account it delegates.
    let f = front(&[0]).await;
    let (deployer, outsider) = (f.address(0), f.address(1));
    let child = Bytes::from_static(&LOG_EMITTER_INITCODE);

    // 1. The sequencer's CREATE2 factory.
    let salt = B256::repeat_byte(7);
    let mut calldata = salt.to_vec();
    calldata.extend_from_slice(&child);
    let predicted = CREATE2_FACTORY.create2_from_code(salt, &child);
    let through_create2 =
        TransactionRequest::default().with_to(CREATE2_FACTORY).with_input(calldata.clone());
    assert_refused(&f.send(1, through_create2.clone()).await, outsider, "the CREATE2 factory");
    assert!(f.code(predicted).await.is_empty());

    // 2. A factory of our own (installed by the allowlisted deployer).
    let factory = f.install(FACTORY_RUNTIME).await;
    let through_factory = TransactionRequest::default().with_to(factory).with_input(child.clone());
    assert_refused(&f.send(1, through_factory.clone()).await, outsider, "our own factory");
    assert!(f.code(factory.create(1)).await.is_empty());

    // 3. A nested create: a proxy that calls the factory.
    let proxy = f.install(&proxy_runtime(factory)).await;
    let through_proxy = TransactionRequest::default().with_to(proxy).with_input(child.clone());
    assert_refused(&f.send(1, through_proxy).await, outsider, "a nested create");

    // 4. EIP-7702: the outsider cannot delegate; an account delegated (by the deployer) to the
    //    factory cannot be used by the outsider to deploy.
    let delegated: PrivateKeySigner = f.keys[2].parse().unwrap();
    let direct = ProviderBuilder::new().connect_http(f.direct.clone());
    let authorization = |nonce: u64| {
        let auth = Authorization { chain_id: U256::from(506), address: factory, nonce };
        let signature = delegated.sign_hash_sync(&auth.signature_hash()).unwrap();
        auth.into_signed(signature)
    };
    let nonce = direct.get_transaction_count(delegated.address()).await.unwrap();
    let delegate = TransactionRequest::default()
        .with_to(delegated.address())
        .with_authorization_list(vec![authorization(nonce)]);
    assert_refused(&f.send(1, delegate.clone()).await, outsider, "a 7702 delegation");
    assert!(f.code(delegated.address()).await.is_empty());
    assert_eq!(f.send(0, delegate).await, Ok(true), "the allowlisted deployer may delegate");
    assert!(!f.code(delegated.address()).await.is_empty());
    let through_delegated =
        TransactionRequest::default().with_to(delegated.address()).with_input(child.clone());
    assert_refused(
        &f.send(1, through_delegated).await,
        outsider,
        "a delegated account that deploys",
    );

    // 5. The allowlisted deployer may deploy through a factory.
    assert_eq!(f.send(0, through_create2).await, Ok(true));
    assert!(!f.code(predicted).await.is_empty(), "deployed through the CREATE2 factory");

    // 6. A batch mixing an allowed transfer, a refused factory call (another outsider) and a
    //    read.
    let transfer = f
        .raw(1, TransactionRequest::default().with_to(deployer).with_value(U256::from(1)), 0)
        .await;
    let factory_call = f.raw(3, through_factory.clone(), 0).await;
    let answers = f
        .post(&json!([
            {"jsonrpc": "2.0", "id": 1, "method": "eth_sendRawTransaction", "params": [transfer]},
            {"jsonrpc": "2.0", "id": 2, "method": "eth_sendRawTransaction", "params": [factory_call]},
            {"jsonrpc": "2.0", "id": 3, "method": "eth_blockNumber", "params": []},
        ]))
        .await;
    let answers = answers.as_array().unwrap();
    let by_id = |id: u64| answers.iter().find(|a| a["id"] == id).unwrap();
    assert!(by_id(1)["result"].as_str().is_some_and(|h| h.len() == 66), "{answers:?}");
    assert_eq!(by_id(2)["error"]["code"], DEPLOYMENT_REFUSED_CODE, "{answers:?}");
    assert_eq!(by_id(2)["error"]["data"]["deployer"], f.address(3).to_string());
    assert!(by_id(3)["result"].is_string());

    // 6b. What a trace cannot vouch for is refused: a later nonce (its state is not the
    //     trace's), two transactions of one account in one batch (the second would be traced
    //     without the first), a transaction for another chain or none (replayable).
    let plain = || TransactionRequest::default().with_to(deployer).with_value(U256::from(1));
    let ahead = f.raw(1, plain(), 5).await;
    let answer = f.call("eth_sendRawTransaction", json!([ahead])).await;
    assert!(answer["error"]["message"].as_str().unwrap().contains("not"), "{answer}");
    let (first, second) = (f.raw(4, plain(), 0).await, f.raw(4, plain(), 1).await);
    let answers = f
        .post(&json!([
            {"jsonrpc": "2.0", "id": 1, "method": "eth_sendRawTransaction", "params": [first]},
            {"jsonrpc": "2.0", "id": 2, "method": "eth_sendRawTransaction", "params": [second]},
        ]))
        .await;
    let answers = answers.as_array().unwrap();
    let by_id = |id: u64| answers.iter().find(|a| a["id"] == id).unwrap();
    assert!(by_id(1)["result"].is_string(), "{answers:?}");
    assert!(by_id(2)["error"]["message"].as_str().unwrap().contains("one transaction per account"));
    let elsewhere = f.raw_for(1, plain(), 0, 1).await;
    let answer = f.call("eth_sendRawTransaction", json!([elsewhere])).await;
    assert!(
        answer["error"]["message"].as_str().unwrap().contains("not the Gateway's chain 506"),
        "{answer}"
    );
    // A batch may have at most MAX_SIMULATIONS_PER_REQUEST transactions traced: anvil's nine
    // outsiders, one transaction each.
    assert_eq!(gateway_mode::MAX_SIMULATIONS_PER_REQUEST, 8);
    let mut many = Vec::new();
    for key in 1..=9 {
        let raw = f.raw(key, plain(), 0).await;
        many.push(json!({"jsonrpc": "2.0", "id": key, "method": "eth_sendRawTransaction", "params": [raw]}));
    }
    let answers = f.post(&Value::Array(many)).await;
    let answers = answers.as_array().unwrap();
    let refused: Vec<&Value> = answers.iter().filter(|a| a.get("error").is_some()).collect();
    assert_eq!(refused.len(), 1, "{answers:?}");
    assert_eq!(refused[0]["id"], 9);
    assert!(refused[0]["error"]["message"].as_str().unwrap().contains("at most 8"));

    // 7. Plain calls and transfers from the outsider are forwarded.
    let plain = TransactionRequest::default().with_to(deployer).with_value(U256::from(1));
    assert_eq!(f.send(1, plain).await, Ok(true));
    f.front.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_client_has_a_budget_of_traced_transactions() {
    // Two traces at once, then one per thousand seconds.
    let f = front_with(&[0], |config| {
        config.traces_per_second = 0.001;
        config.trace_burst = 2;
    })
    .await;
    let deployer = f.address(0);
    let plain = || TransactionRequest::default().with_to(deployer).with_value(U256::from(1));
    assert_eq!(f.send(1, plain()).await, Ok(true));
    assert_eq!(f.send(2, plain()).await, Ok(true));
    let refused = f.send(3, plain()).await.unwrap_err();
    assert_eq!(refused["code"], DEPLOYMENT_REFUSED_CODE, "{refused}");
    assert!(refused["message"].as_str().unwrap().contains("retry in"), "{refused}");
    // The allowlisted deployer is not traced, so not limited; reads are not either.
    assert_eq!(f.send(0, plain()).await, Ok(true));
    assert_eq!(f.call("eth_chainId", json!([])).await["result"], "0x1fa");
    f.front.stop().await;
}
