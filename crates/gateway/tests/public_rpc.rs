//! The Gateway's public front before a real anvil (chain 506): deployments from accounts not on
//! the allowlist are refused with a JSON-RPC error that says why; everything else is forwarded;
//! the allowlist changes through the admin methods and survives a restart.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{sync::Arc, time::Duration};

use alloy::{
    network::{EthereumWallet, TransactionBuilder},
    primitives::{Address, Bytes, U256},
    providers::{Provider, ProviderBuilder},
    rpc::types::TransactionRequest,
    signers::local::PrivateKeySigner,
    transports::http::reqwest::Url,
};
use devnet::{Anvil, AnvilConfig, LOG_EMITTER_INITCODE};
use gateway_mode::{DEPLOYMENT_REFUSED_CODE, DeploymentAllowlist, PublicRpc, PublicRpcConfig};

const WAIT: Duration = Duration::from_secs(30);

fn wallet_provider(url: Url, key: &str) -> (Address, impl Provider) {
    let signer: PrivateKeySigner = key.parse().unwrap();
    let address = signer.address();
    // Nonces read from the node each time: a refused transaction must not use one up.
    let provider = ProviderBuilder::new()
        .disable_recommended_fillers()
        .with_gas_estimation()
        .with_simple_nonce_management()
        .fetch_chain_id()
        .wallet(EthereumWallet::from(signer))
        .connect_http(url);
    (address, provider)
}

/// Deploys the log emitter through `provider`; the contract's address or the refusal.
async fn deploy(provider: &impl Provider) -> Result<Address, (i64, String)> {
    let request = TransactionRequest::default()
        .with_deploy_code(Bytes::from_static(&LOG_EMITTER_INITCODE))
        .with_gas_limit(200_000);
    match provider.send_transaction(request).await {
        Ok(pending) => {
            let receipt = tokio::time::timeout(WAIT, pending.get_receipt()).await.unwrap().unwrap();
            Ok(receipt.contract_address.unwrap())
        }
        Err(err) => {
            let payload =
                err.as_error_resp().unwrap_or_else(|| panic!("not a JSON-RPC error: {err}"));
            Err((payload.code, payload.message.to_string()))
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deployments_need_the_allowlist_and_everything_else_is_forwarded() {
    let anvil = Anvil::spawn(AnvilConfig { chain_id: 506, ..Default::default() }).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let allowlist = Arc::new(DeploymentAllowlist::open(dir.path(), &[]).unwrap());
    let front = PublicRpc::start(
        PublicRpcConfig::new("127.0.0.1:0".parse().unwrap(), anvil.endpoint()),
        Arc::clone(&allowlist),
    )
    .await
    .unwrap();
    let url: Url = format!("http://{}", front.local_addr()).parse().unwrap();
    let (deployer, through_front) = wallet_provider(url.clone(), &anvil.dev_keys()[0]);
    let (other, other_through_front) = wallet_provider(url.clone(), &anvil.dev_keys()[1]);
    assert_eq!(through_front.get_chain_id().await.unwrap(), 506, "reads are forwarded");

    // Not on the list: refused, saying who and what to do.
    let (code, message) = deploy(&through_front).await.unwrap_err();
    assert_eq!(code, DEPLOYMENT_REFUSED_CODE);
    assert!(message.contains(&deployer.to_string()) && message.contains("allowlist"), "{message}");
    // A transfer from the same account goes through.
    let transfer = through_front
        .send_transaction(TransactionRequest::default().with_to(other).with_value(U256::from(1)))
        .await
        .unwrap();
    assert!(tokio::time::timeout(WAIT, transfer.get_receipt()).await.unwrap().unwrap().status());

    // Allowed through the admin method: the deployment goes through and the contract exists.
    let admin = allowlist.admin_rpc_module();
    let added: bool = admin.call("gateway_allowDeployer", [deployer]).await.unwrap();
    assert!(added);
    let contract = deploy(&through_front).await.unwrap();
    assert!(!through_front.get_code_at(contract).await.unwrap().is_empty());
    let listed: Vec<Address> = admin.call("gateway_deploymentAllowlist", [(); 0]).await.unwrap();
    assert_eq!(listed, vec![deployer]);
    // Another account is still refused.
    assert_eq!(deploy(&other_through_front).await.unwrap_err().0, DEPLOYMENT_REFUSED_CODE);

    // A batch: the refused deployment is answered here, the rest by the sequencer.
    let signer: PrivateKeySigner = anvil.dev_keys()[1].parse().unwrap();
    let nonce = other_through_front.get_transaction_count(other).await.unwrap();
    let raw = {
        use alloy::{eips::Encodable2718, network::NetworkTransactionBuilder};
        let request = TransactionRequest::default()
            .with_deploy_code(Bytes::from_static(&LOG_EMITTER_INITCODE))
            .with_nonce(nonce)
            .with_chain_id(506)
            .with_gas_limit(200_000)
            .with_max_fee_per_gas(10_000_000_000)
            .with_max_priority_fee_per_gas(1);
        let envelope = <TransactionRequest as NetworkTransactionBuilder<
            alloy::network::Ethereum,
        >>::build(request, &EthereumWallet::from(signer))
        .await
        .unwrap();
        Bytes::from(envelope.encoded_2718())
    };
    let batch = serde_json::json!([
        {"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []},
        {"jsonrpc": "2.0", "id": 2, "method": "eth_sendRawTransaction", "params": [raw]},
    ]);
    let client = alloy::transports::http::reqwest::Client::new();
    let answer: serde_json::Value =
        client.post(url.clone()).json(&batch).send().await.unwrap().json().await.unwrap();
    let answers = answer.as_array().unwrap();
    assert_eq!(answers.len(), 2);
    let by_id = |id: u64| answers.iter().find(|a| a["id"] == id).unwrap();
    assert_eq!(by_id(1)["result"], "0x1fa");
    assert_eq!(by_id(2)["error"]["code"], DEPLOYMENT_REFUSED_CODE);
    assert_eq!(by_id(2)["error"]["data"]["deployer"], other.to_string());
    let status = client.get(url.clone()).send().await.unwrap().status();
    assert_eq!(status.as_u16(), 405, "only POST");

    // Node control and other ways around the allowlist are not served.
    let call = |method: &str, params: serde_json::Value| {
        let client = client.clone();
        let url = url.clone();
        let body =
            serde_json::json!({"jsonrpc": "2.0", "id": 7, "method": method, "params": params});
        async move {
            client
                .post(url)
                .json(&body)
                .send()
                .await
                .unwrap()
                .json::<serde_json::Value>()
                .await
                .unwrap()
        }
    };
    let set_code = call("anvil_setCode", serde_json::json!([other, "0x6000"])).await;
    assert_eq!(set_code["error"]["code"], -32601, "{set_code}");
    assert!(through_front.get_code_at(other).await.unwrap().is_empty());
    let unsigned = call("eth_sendUnsignedTransaction", serde_json::json!([{"from": other}])).await;
    assert_eq!(unsigned["error"]["code"], -32601);
    // A creation the node would sign with its own account is not served at all.
    let no_from = call(
        "eth_sendTransaction",
        serde_json::json!([{"data": Bytes::from_static(&LOG_EMITTER_INITCODE)}]),
    )
    .await;
    assert_eq!(no_from["error"]["code"], -32601, "{no_from}");
    let garbage = call("eth_sendRawTransaction", serde_json::json!(["0x02ff"])).await;
    assert_eq!(garbage["error"]["code"], -32602, "{garbage}");

    // Removed: refused again; the list survives a restart.
    let removed: bool = admin.call("gateway_disallowDeployer", [deployer]).await.unwrap();
    assert!(removed);
    assert_eq!(deploy(&through_front).await.unwrap_err().0, DEPLOYMENT_REFUSED_CODE);
    let _: bool = admin.call("gateway_allowDeployer", [other]).await.unwrap();
    front.stop().await;
    drop(admin);
    drop(allowlist);
    let reopened = DeploymentAllowlist::open(dir.path(), &[deployer]).unwrap();
    assert_eq!(reopened.accounts(), {
        let mut both = vec![deployer, other];
        both.sort();
        both
    });
}
