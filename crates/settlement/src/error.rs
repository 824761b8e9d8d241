//! What can go wrong settling, each with its cause kept as a source.

use std::time::Duration;

use alloy::primitives::B256;
use gateway_contracts::{Bridgehub, ChainExecutor, GatewayExecutor};

/// The result type of the settlement crate.
pub type SettlementResult<T> = Result<T, SettlementError>;

/// What can go wrong settling.
#[derive(Debug, thiserror::Error)]
pub enum SettlementError {
    /// The store failed.
    #[error("store: {0}")]
    Store(#[from] gateway_store::StoreError),
    /// A batch the sender or prover needs is not in the store.
    #[error("batch {0} is not in the store")]
    MissingBatch(u64),
    /// Stored data is not what the pipeline wrote (a bug, or a store edited by hand).
    #[error("corrupt store data: {0}")]
    Corrupt(String),
    /// The host delivered a block that does not follow the last one the store holds (a gap or
    /// a fork the host did not revert first).
    #[error(transparent)]
    UnlinkedBlock(Box<UnlinkedBlock>),
    /// A stored value does not decode.
    #[error("corrupt store data: {what}: {source}")]
    Decode {
        /// What did not decode.
        what: String,
        /// The decoder's error.
        #[source]
        source: Box<alloy::sol_types::Error>,
    },
    /// Proving failed.
    #[error("prover: {0}")]
    Prover(#[from] gateway_prover::ProverError),
    /// A proof job's thread ended without an answer (it panicked or was cancelled).
    #[error("prover: proof job for batch {batch}: {source}")]
    ProofJob {
        /// The batch being proved.
        batch: u64,
        /// The join error.
        #[source]
        source: Box<tokio::task::JoinError>,
    },
    /// The settlement layer (or another chain the node reads) refused or did not answer.
    #[error("settlement layer: {0}")]
    Layer(#[from] LayerCall),
    /// A settlement-layer transaction is kept in flight: no replacement the pool would take
    /// is allowed (fee cap or last bump).
    #[error(
        "{hash} pending at {cap}: a replacement could not pay the {required_percent}% more the pool needs; waiting for it to be mined"
    )]
    HeldAtFeeCap {
        /// The transaction in flight.
        hash: B256,
        /// What capped the fee, for the operator.
        cap: String,
        /// The fee increase the pool needs for a replacement.
        required_percent: u128,
    },
    /// The chain reorged batches while their commit was prepared: nothing was sent.
    #[error(
        "settlement layer: {stage} batches {from}..={to}: the chain reorged them while the commit was prepared; not sent"
    )]
    ReorgedWhileSending {
        /// `commit` or `settle`.
        stage: &'static str,
        /// First batch.
        from: u64,
        /// Last batch.
        to: u64,
    },
    /// A batch was built for another settlement layer.
    #[error(
        "batch {batch} was built for settlement layer {built_for}, the chain settles on {layer}"
    )]
    WrongLayer {
        /// The batch.
        batch: u64,
        /// The layer in its commitment.
        built_for: u64,
        /// The current layer.
        layer: u64,
    },
    /// Blocks to publish have no stored pubdata.
    #[error(
        "data availability: blocks {from}..={to} have no stored pubdata for --settlement.da {da} ({source}): they were stored while the node ran with validium or an older build; run with --settlement.da validium until they are batched, or resync the settlement store"
    )]
    MissingPubdata {
        /// First block.
        from: u64,
        /// Last block.
        to: u64,
        /// The configured scheme.
        da: &'static str,
        /// The store's answer.
        #[source]
        source: Box<gateway_store::StoreError>,
    },
    /// KZG commitments or proofs of blobs could not be made.
    #[error("data availability: kzg: {0}")]
    Kzg(#[source] Box<alloy::eips::eip4844::c_kzg::Error>),
    /// The thread building a blob sidecar ended without an answer.
    #[error("data availability: building the blob sidecar: {0}")]
    Sidecar(#[source] Box<tokio::task::JoinError>),
    /// A key does not parse.
    #[error("configuration: the {what} key does not parse: {source}")]
    Key {
        /// Which key (`operator`, `relayer`, ...).
        what: &'static str,
        /// The parser's error.
        #[source]
        source: Box<alloy::signers::local::LocalSignerError>,
    },
    /// The executor's verifier is not the one it had when the node first read it: the node
    /// sends no proof through a verifier it has not checked.
    #[error(
        "settlement layer: executor {executor} on chain {layer} now verifies with {found}, not {expected} as when this node first read it: no proof is sent through a verifier the node has not checked; restart the node (it checks the new verifier at start and refuses one that accepts any proof unless --dev)"
    )]
    VerifierChanged {
        /// The executor.
        executor: alloy::primitives::Address,
        /// Its settlement layer's chain id.
        layer: u64,
        /// The verifier the node read first.
        expected: alloy::primitives::Address,
        /// The verifier it has now.
        found: alloy::primitives::Address,
    },
    /// Gateway mode: a carried chain batch's leaf proof does not verify at the Gateway's node.
    #[error(
        "gateway: Gateway batch {gateway_batch} carries chain {chain_id} batch {batch_number}, whose leaf proof does not verify here: {source}"
    )]
    ChainProofInvalid {
        /// The Gateway batch.
        gateway_batch: u64,
        /// The chain.
        chain_id: u64,
        /// Its batch.
        batch_number: u64,
        /// The backend's refusal.
        #[source]
        source: gateway_prover::ProverError,
    },
    /// A block that imported Gateway interop roots would go into a batch for another layer.
    #[error(
        "configuration: block {block} imported Gateway interop roots but batch {batch} would settle on {layer}, whose executor cannot check them: migrate back to the Gateway (settlement_migrate) to settle it"
    )]
    ImportsOffGateway {
        /// The block.
        block: u64,
        /// The batch it would go into.
        batch: u64,
        /// The layer that batch would settle on.
        layer: u64,
    },
    /// No messenger is configured, so no message can be proven.
    #[error("configuration: no messenger is configured: messages cannot be proven")]
    NoMessenger,
    /// A message proof request names nothing a proof can be built for.
    #[error("{0}")]
    Request(String),
    /// A value did not convert between ABI types.
    #[error(transparent)]
    Contracts(#[from] gateway_contracts::ContractsError),
    /// A configured feature cannot start with its settings.
    #[error("{feature} is configured but cannot start: {source}; fix its settings or leave it off")]
    Feature {
        /// The feature.
        feature: &'static str,
        /// Why.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

impl From<alloy::eips::eip4844::c_kzg::Error> for SettlementError {
    fn from(err: alloy::eips::eip4844::c_kzg::Error) -> Self {
        Self::Kzg(Box::new(err))
    }
}

/// One call to a settlement layer (or any other JSON-RPC endpoint the node reads) that failed:
/// what was asked, and why it failed.
#[derive(Debug, thiserror::Error)]
#[error("{what}: {source}")]
pub struct LayerCall {
    /// What was asked (`reading the operator's nonce`, `commit batches 3..=4`).
    pub what: String,
    /// Why it failed.
    #[source]
    pub source: Box<LayerError>,
}

impl LayerCall {
    /// `what` failed for `source`.
    pub fn new(what: impl Into<String>, source: impl Into<LayerError>) -> Self {
        Self { what: what.into(), source: Box::new(source.into()) }
    }
}

/// A block the host delivered that does not follow the last one settlement holds.
#[derive(Debug, thiserror::Error)]
#[error(
    "block {number} ({hash}, parent {parent_hash}) does not follow block {} ({}) that settlement holds last: the host skipped or forked blocks; restart the node to backfill from the store's head",
    expected.number,
    expected.hash
)]
pub struct UnlinkedBlock {
    /// The block delivered.
    pub number: u64,
    /// Its hash.
    pub hash: B256,
    /// Its parent's hash.
    pub parent_hash: B256,
    /// The block it had to follow.
    pub expected: alloy::eips::BlockNumHash,
}

/// Why a call to a settlement layer failed.
#[derive(Debug, thiserror::Error)]
pub enum LayerError {
    /// No answer in time.
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    /// The transport failed or the node answered with an error.
    #[error(transparent)]
    Rpc(#[from] alloy::transports::TransportError),
    /// A contract call failed; its custom error is named when the ABI knows it.
    #[error("{}", describe(.0))]
    Contract(#[from] alloy::contract::Error),
    /// A sent transaction was not seen mined.
    #[error("{0}; it will be resent with a higher fee")]
    NotMined(#[from] alloy::providers::PendingTransactionError),
    /// A transaction could not be signed.
    #[error("signing: {0}")]
    Signing(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// A mined transaction reverted.
    #[error("reverted in {0}")]
    Reverted(B256),
    /// The answer is not what the protocol allows (an event that does not decode, a block
    /// without the expected data).
    #[error("{0}")]
    Unexpected(String),
}

impl From<alloy::sol_types::Error> for LayerError {
    fn from(err: alloy::sol_types::Error) -> Self {
        Self::Unexpected(format!("does not decode: {err}"))
    }
}

/// A contract call's error: the custom error by name when one of our contracts' ABIs knows
/// it, else the transport's message.
pub(crate) fn describe(err: &alloy::contract::Error) -> String {
    if let Some(decoded) = err.as_decoded_interface_error::<ChainExecutor::ChainExecutorErrors>() {
        return format!("{decoded:?}");
    }
    if let Some(decoded) =
        err.as_decoded_interface_error::<GatewayExecutor::GatewayExecutorErrors>()
    {
        return format!("{decoded:?}");
    }
    match err.as_decoded_interface_error::<Bridgehub::BridgehubErrors>() {
        Some(decoded) => format!("{decoded:?}"),
        None => err.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layer_failures_name_the_call_and_keep_their_cause() {
        let err = SettlementError::from(LayerCall::new(
            "commit batches 1..=2",
            LayerError::Timeout(Duration::from_secs(3)),
        ));
        assert_eq!(err.to_string(), "settlement layer: commit batches 1..=2: no answer within 3s");
        let source = std::error::Error::source(&err).expect("the call is the source");
        let cause = source.source().expect("the timeout is the call's source");
        assert_eq!(cause.to_string(), "no answer within 3s");
    }
}
