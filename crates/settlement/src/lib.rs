//! The settlement ExEx: settles a ZK chain's batches on its settlement layer (L1 or the
//! Gateway), and in the Gateway's own node (gateway mode) settles the Gateway on L1 with one
//! aggregated proof per Gateway batch.
//!
//! # The pipeline
//!
//! The modules read as the data path. Each stage reads its input from the store and writes its
//! output there, then wakes the next (a `Notify`):
//!
//! 1. [`ingest`](run_exex): the ExEx's notification loop stores each block's settlement data
//!    and the ExEx head in one redb transaction, then reports the finished height;
//! 2. [`seal`]: runs of stored blocks become batches (max blocks, transactions, pubdata, gas, or a
//!    timeout) with their commit info for the layer the chain settles on now;
//! 3. `prove`: each sealed batch is proved through a [`gateway_prover::ProofBackend`];
//! 4. `send`: batches are committed, proved and executed on the settlement layer, one signed
//!    and persisted transaction in flight, decided from the executor's on-chain counters;
//! 5. `finality` (a chain on the Gateway): which batches L1 holds final through the Gateway;
//!    once L1-final and past `SettlementConfig::retention`, what a batch no longer needs is
//!    pruned from the store (`retention`) in the transaction that moves the stages on.
//!
//! At the bottom, [`commitment`] derives what every stage needs from a batch (commit info,
//! stored info, commitment, public input) and imports no stage. Beside the stages:
//! [`migration`] switches the settlement layer at runtime (L1 ⇄ Gateway, persisted and
//! crash-safe); [`interop`] imports the Gateway's interop roots and builds message proofs;
//! `gateway` is gateway mode, one object the stages call where the Gateway's node differs; the
//! RPC methods call the service through its handle, [`Settlement`]; [`SettlementStatus`] and
//! its parts are plain types. Every background task runs under one supervisor: a task that
//! panics or fails stops the ExEx with an error naming it ([`TaskFailure`]), and the host
//! stops, as in reth.
//!
//! # Examples
//! ```no_run
//! # use std::sync::Arc;
//! # fn run(builder: exex_host::HostBuilder, config: gateway_settlement::SettlementConfig) -> eyre::Result<()> {
//! let store = Arc::new(gateway_store::Store::open(&builder.config().datadir)?);
//! let backend = Arc::new(gateway_prover::MockBackend::default());
//! let builder = gateway_settlement::Settlement::new(config, store, backend)?.install(builder);
//! # Ok(()) }
//! ```
#![cfg_attr(not(test), warn(unused_crate_dependencies))]

pub mod commitment;
mod config;
pub mod da;
mod error;
mod failpoint;
mod finality;
mod gateway;
mod handle;
mod ingest;
pub mod interop;
mod metrics;
pub mod migration;
mod observe;
mod priority;
mod prove;
mod retention;
mod rpc;
pub mod seal;
mod send;
mod service;
mod state;
mod status;
mod supervisor;
mod support;

pub use config::{
    BatchLimits, DEFAULT_BATCH_TIMEOUT, DEFAULT_DIRECT_L1_GAS_PER_BATCH,
    DEFAULT_LAYER_CONFIRMATIONS, DEFAULT_MAX_BATCHES_PER_TX, DEFAULT_MAX_BLOCKS, DEFAULT_MAX_GAS,
    DEFAULT_MAX_PUBDATA_BYTES, DEFAULT_MAX_TXS, DEFAULT_PRICE_PER_CHAIN_BATCH,
    DEFAULT_PRIORITY_OPS_DRAIN_TIMEOUT, DEFAULT_PROOF_CONCURRENCY,
    DEFAULT_PUBDATA_RETENTION_BATCHES, DEFAULT_RETENTION, DEFAULT_ROOT_CONFIRMATIONS,
    DEFAULT_SENDER_POLL_INTERVAL, DEFAULT_TX_TIMEOUT, FeeVault, GatewayMode, InboxConfig,
    InteropConfig, L1FinalitySource, LayerKind, MessageRootSource, MigrationConfig, OperatorKey,
    SettlementConfig, SettlementLayerEndpoint, UnknownLayer,
};
pub use error::{LayerCall, LayerError, SettlementError, SettlementResult, UnlinkedBlock};
pub use failpoint::{FAILPOINT_ENV, FAILPOINTS, PANIC_FAILPOINTS};
pub use handle::Settlement;
pub use ingest::{SETTLEMENT_EXEX_ID, block_pubdata, block_record, run_exex};
pub use interop::{MessageProofResponse, ProofJson, ProofTarget};
pub use metrics::describe as describe_metrics;
pub use migration::MigrationError;
pub use status::{
    BatchFinality, FinalityStatus, GatewayBatchStatus, GatewayChainStatus, GatewayFeesStatus,
    GatewayL1Queue, GatewayStatus, GroupCounts, HaltStatus, LayerStatus, MigrationStatus,
    OnChainCounters, PendingTx, PriorityStatus, ProvingBacklog, SettlementStatus, TxStage,
};
pub use supervisor::TaskFailure;
