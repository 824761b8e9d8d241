//! Transactions for anvil: value transfers and calls to a contract that emits logs.

use std::time::Duration;

use alloy::{
    network::TransactionBuilder,
    primitives::{Address, Bytes, U256},
    providers::{DynProvider, Provider},
    rpc::types::TransactionRequest,
    signers::local::PrivateKeySigner,
    sol_types::SolCall as _,
    transports::http::reqwest::Url,
};

use crate::anvil::{DevnetError, DevnetResult};

/// Creation code of a contract whose runtime code logs its calldata (`LOG0`):
/// runtime `CALLDATASIZE PUSH0 PUSH0 CALLDATACOPY CALLDATASIZE PUSH0 LOG0 STOP`.
pub const LOG_EMITTER_INITCODE: [u8; 17] = [
    0x67, 0x36, 0x5f, 0x5f, 0x37, 0x36, 0x5f, 0xa0, 0x00, // PUSH8 runtime
    0x5f, 0x52, // PUSH0 MSTORE
    0x60, 0x08, 0x60, 0x18, 0xf3, // PUSH1 8 PUSH1 24 RETURN
    0x00,
];

const RECEIPT_TIMEOUT: Duration = Duration::from_secs(20);

/// Sends traffic to one anvil node from one dev account.
#[derive(Debug, Clone)]
pub struct Traffic {
    provider: DynProvider,
    from: Address,
    emitter: Option<Address>,
    messenger: Option<Address>,
}

impl Traffic {
    /// Traffic to `url` signed by `private_key`.
    pub fn new(url: Url, private_key: &str) -> DevnetResult<Self> {
        let signer: PrivateKeySigner =
            private_key.parse().map_err(|e| DevnetError::BadKey(format!("{e}")))?;
        let from = signer.address();
        let provider = crate::tx::signer_provider(url, private_key)?;
        Ok(Self { provider, from, emitter: None, messenger: None })
    }

    /// The node's client.
    pub fn provider(&self) -> &DynProvider {
        &self.provider
    }

    async fn raw(
        &self,
        method: &'static str,
        params: serde_json::Value,
    ) -> DevnetResult<serde_json::Value> {
        raw_call(&self.provider, method, params).await
    }

    /// Sends every other transaction as a message through the chain's `L2Messenger` at
    /// `messenger` (its payload: the sender's nonce).
    pub fn use_messenger(&mut self, messenger: Address) {
        self.messenger = Some(messenger);
    }

    /// Deploys the log emitter (mined at once) and uses it for later calls.
    pub async fn deploy_emitter(&mut self) -> DevnetResult<Address> {
        let tx = TransactionRequest::default()
            .with_deploy_code(Bytes::from(LOG_EMITTER_INITCODE.to_vec()));
        let pending =
            self.provider.send_transaction(tx).await.map_err(rpc("eth_sendTransaction"))?;
        let receipt = tokio::time::timeout(RECEIPT_TIMEOUT, pending.get_receipt())
            .await
            .map_err(|_| {
                DevnetError::Rpc(format!("no emitter receipt within {RECEIPT_TIMEOUT:?}"))
            })?
            .map_err(rpc("eth_getTransactionReceipt"))?;
        let address = receipt.contract_address.ok_or_else(|| {
            DevnetError::Rpc("the emitter deployment has no contract address".into())
        })?;
        self.emitter = Some(address);
        Ok(address)
    }

    /// Mines `blocks` blocks of `txs_per_block` transactions each (transfers, and emitter
    /// calls once deployed), with automine off while filling a block.
    pub async fn blocks(&self, blocks: usize, txs_per_block: usize) -> DevnetResult<()> {
        self.raw("evm_setAutomine", serde_json::json!([false])).await?;
        let mut nonce = self
            .provider
            .get_transaction_count(self.from)
            .pending()
            .await
            .map_err(rpc("eth_getTransactionCount"))?;
        let result = async {
            for _ in 0..blocks {
                for i in 0..txs_per_block {
                    let tx = match (self.messenger, self.emitter) {
                        (Some(messenger), _) if i % 2 == 1 => TransactionRequest::default()
                            .with_to(messenger)
                            .with_input(Bytes::from(
                                gateway_contracts::L2Messenger::sendMessageCall {
                                    data: Bytes::from(nonce.to_be_bytes().to_vec()),
                                }
                                .abi_encode(),
                            )),
                        (None, Some(emitter)) if i % 2 == 1 => TransactionRequest::default()
                            .with_to(emitter)
                            .with_input(Bytes::from(nonce.to_be_bytes().to_vec())),
                        _ => TransactionRequest::default()
                            .with_to(Address::with_last_byte((i % 200) as u8 + 1))
                            .with_value(U256::from(nonce + 1)),
                    }
                    .with_nonce(nonce)
                    .with_gas_limit(100_000);
                    let _pending = self
                        .provider
                        .send_transaction(tx)
                        .await
                        .map_err(rpc("eth_sendTransaction"))?;
                    nonce += 1;
                }
                self.raw("evm_mine", serde_json::json!([])).await?;
            }
            Ok::<_, DevnetError>(())
        }
        .await;
        self.raw("evm_setAutomine", serde_json::json!([true])).await?;
        result
    }

    /// Mines `count` empty blocks.
    pub async fn mine(&self, count: u64) -> DevnetResult<()> {
        self.raw("anvil_mine", serde_json::json!([count])).await?;
        Ok(())
    }

    /// Replaces the top `depth` blocks with new empty ones (`anvil_reorg`).
    pub async fn reorg(&self, depth: u64) -> DevnetResult<()> {
        self.raw("anvil_reorg", serde_json::json!([depth, []])).await?;
        Ok(())
    }
}

fn rpc<E: std::fmt::Display>(method: &'static str) -> impl Fn(E) -> DevnetError {
    move |e| DevnetError::Rpc(format!("{method}: {e}"))
}

/// One JSON-RPC call (`anvil_reorg`, `evm_setAutomine`, `txpool_content`, ...) answered within
/// 20 s; its result.
pub async fn raw_call<P: Provider>(
    provider: &P,
    method: &'static str,
    params: serde_json::Value,
) -> DevnetResult<serde_json::Value> {
    match tokio::time::timeout(RECEIPT_TIMEOUT, provider.raw_request(method.into(), params)).await {
        Ok(result) => result.map_err(|e| DevnetError::Rpc(format!("{method}: {e}"))),
        Err(_) => Err(DevnetError::Rpc(format!("{method}: no answer within {RECEIPT_TIMEOUT:?}"))),
    }
}

/// [`raw_call`] to the node at `url`.
pub async fn rpc_call(
    url: &alloy::transports::http::reqwest::Url,
    method: &'static str,
    params: serde_json::Value,
) -> DevnetResult<serde_json::Value> {
    let provider = alloy::providers::ProviderBuilder::new().connect_http(url.clone());
    raw_call(&provider, method, params).await
}
