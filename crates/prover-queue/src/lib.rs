//! Proof jobs in PostgreSQL, proved by workers on any machine.
//!
//! - [`QueueBackend`] is a [`ProofBackend`](gateway_prover::ProofBackend) for a node (chain or
//!   Gateway): each leaf proof and each aggregation becomes a row of `gateway_proof_jobs`, and
//!   the node waits for a worker's result, **verifies it** with its own backend (a worker is not
//!   trusted) and uses it once. A proof that does not verify is refused: the job goes back to
//!   the queue for another worker, and the refusing node counts it.
//! - [`Worker`] claims jobs with `FOR UPDATE SKIP LOCKED`, holds each under a lease it renews
//!   while it proves, and writes the result back. A worker that dies stops renewing: once its
//!   lease expires the job is claimed again (the expiry is counted). Every claim counts an
//!   attempt; a job whose attempts are spent is marked failed with its reason, which the node's
//!   status shows until an operator puts it back ([`retry_failed`]).
//! - Every connection is re-made when PostgreSQL goes away; a node and its workers carry on
//!   once it is back.
//!
//! Without a queue the node proves in-process (the embedded default); the queue only moves
//! where the same backend runs.
#![cfg_attr(not(test), warn(unused_crate_dependencies))]

mod backend;
mod db;
mod error;
mod job;
mod metrics;
mod worker;

pub use backend::{QueueBackend, QueueConfig};
pub use db::{Db, check_url, redact};
pub use error::QueueError;
pub use job::JobKind;
pub use metrics::describe;
pub use worker::{FAULT_ENV, Worker, WorkerConfig, retry_failed};

#[cfg(test)]
use tempfile as _;
