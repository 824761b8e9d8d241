//! The chain-side settlement ExEx.
//!
//! The ExEx's notification loop only persists each block's settlement data and its head in one
//! redb transaction, then reports the finished height. Beside it, fed from the store, the
//! batcher seals batches (max blocks, transactions, pubdata, gas, or a timeout) and computes
//! their commitments for the current settlement layer, the prover proves each sealed batch
//! through a [`gateway_prover::ProofBackend`], and the sender commits, proves and executes them
//! on the settlement layer, deciding what to send from the executor's on-chain counters.
//!
//! [`migration`] switches the settlement layer at runtime (L1 ⇄ Gateway, persisted and
//! crash-safe); [`interop`] imports the Gateway's interop roots into the chain and builds message
//! proofs (`interop_getMessageProof`); [`gateway`] is the Gateway's own node's mode.
//!
//! # Examples
//! ```no_run
//! # use std::sync::Arc;
//! # fn run(builder: exex_host::HostBuilder, config: gateway_settlement::SettlementConfig) -> eyre::Result<()> {
//! let store = Arc::new(gateway_store::Store::open(&builder.config().datadir)?);
//! let backend = Arc::new(gateway_prover::MockBackend::default());
//! let builder = gateway_settlement::Settlement::new(config, store, backend).install(builder);
//! # Ok(()) }
//! ```
#![cfg_attr(not(test), warn(unused_crate_dependencies))]

pub mod batcher;
mod config;
pub mod da;
mod exex;
mod failpoint;
pub mod gateway;
pub mod interop;
mod metrics;
pub mod migration;
pub mod prover;
mod sender;
mod service;

pub use config::{
    BatchLimits, DEFAULT_BATCH_TIMEOUT, DEFAULT_LAYER_CONFIRMATIONS, DEFAULT_MAX_BATCHES_PER_TX,
    DEFAULT_MAX_BLOCKS, DEFAULT_MAX_GAS, DEFAULT_MAX_PUBDATA_BYTES, DEFAULT_MAX_TXS,
    DEFAULT_PROOF_CONCURRENCY, DEFAULT_PUBDATA_RETENTION_BATCHES, DEFAULT_SENDER_POLL_INTERVAL,
    DEFAULT_TX_TIMEOUT, L1FinalitySource, OperatorKey, SettlementConfig, SettlementLayerEndpoint,
};
pub use exex::{SETTLEMENT_EXEX_ID, block_pubdata, block_record, run_exex};
pub use failpoint::{FAILPOINT_ENV, FAILPOINTS};
pub use gateway::GatewayMode;
pub use interop::{InteropConfig, MessageRootSource, ProofJson};
pub use metrics::describe as describe_metrics;
pub use migration::{LayerKind, MigrationConfig, MigrationError};
pub use sender::{OnChainCounters, Sender, SenderAction};
pub use service::{
    BatchFinality, FinalityStatus, GatewayBatchStatus, GatewayChainStatus, GatewayStatus,
    MigrationStatus, PendingTx, Settlement, SettlementStatus,
};

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
    /// Stored data does not decode.
    #[error("corrupt store data: {0}")]
    Corrupt(String),
    /// Proving failed.
    #[error("prover: {0}")]
    Prover(String),
    /// The settlement layer refused or did not answer.
    #[error("settlement layer: {0}")]
    Layer(String),
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
    /// Building a batch's data availability input failed.
    #[error("data availability: {0}")]
    Da(String),
    /// The configuration is unusable.
    #[error("configuration: {0}")]
    Config(String),
    /// A value did not convert between ABI types.
    #[error(transparent)]
    Contracts(#[from] gateway_contracts::ContractsError),
}

impl From<gateway_prover::ProverError> for SettlementError {
    fn from(err: gateway_prover::ProverError) -> Self {
        Self::Prover(err.to_string())
    }
}
