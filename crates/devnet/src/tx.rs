//! Signing and sending on the devnet's nodes: a provider per key, and bounded waits for
//! receipts.

use std::time::Duration;

use alloy::{
    network::EthereumWallet,
    primitives::Address,
    providers::{DynProvider, Provider, ProviderBuilder},
    rpc::types::TransactionReceipt,
    signers::local::PrivateKeySigner,
    transports::http::reqwest::Url,
};

use crate::anvil::{DevnetError, DevnetResult};

const TX_TIMEOUT: Duration = Duration::from_secs(30);

/// A provider that signs with `key`. It asks the node for the nonce of every transaction, so
/// several providers may share a key.
pub fn signer_provider(url: Url, key: &str) -> DevnetResult<DynProvider> {
    let signer: PrivateKeySigner = key.parse().map_err(|e| DevnetError::BadKey(format!("{e}")))?;
    Ok(ProviderBuilder::new()
        .disable_recommended_fillers()
        .with_gas_estimation()
        .with_simple_nonce_management()
        .fetch_chain_id()
        .wallet(EthereumWallet::from(signer))
        .connect_http(url)
        .erased())
}

/// Waits (at most 30 s) for a sent transaction's receipt and fails if it reverted.
pub async fn confirm(
    what: &str,
    pending: alloy::providers::PendingTransactionBuilder<alloy::network::Ethereum>,
) -> DevnetResult<TransactionReceipt> {
    let receipt = tokio::time::timeout(TX_TIMEOUT, pending.get_receipt())
        .await
        .map_err(|_| DevnetError::Rpc(format!("{what}: no receipt within {TX_TIMEOUT:?}")))?
        .map_err(|e| DevnetError::Rpc(format!("{what}: {e}")))?;
    if !receipt.status() {
        return Err(DevnetError::Rpc(format!("{what}: reverted in {}", receipt.transaction_hash)));
    }
    Ok(receipt)
}

pub(crate) fn address_of(key: &str) -> DevnetResult<Address> {
    let signer: PrivateKeySigner = key.parse().map_err(|e| DevnetError::BadKey(format!("{e}")))?;
    Ok(signer.address())
}

/// Sends a contract call and waits for a successful receipt.
pub(crate) async fn send<C>(what: &str, call: C) -> DevnetResult<TransactionReceipt>
where
    C: std::future::IntoFuture<
            Output = Result<
                alloy::providers::PendingTransactionBuilder<alloy::network::Ethereum>,
                alloy::contract::Error,
            >,
        >,
{
    let pending = call.await.map_err(|e| DevnetError::Rpc(format!("{what}: {e}")))?;
    confirm(what, pending).await
}
