//! Proof backends for batch proofs, behind [`ProofBackend`].
//!
//! A chain's batch proof binds the batch's public input (DESIGN section 4:
//! `uint256(keccak(prevStateCommitment ‖ stateCommitment ‖ batchOutputHash)) >> 32`); the
//! Gateway aggregates several batch proofs into one whose exposed inputs are exactly the leaves'
//! inputs, in order. A chain's real validity prover plugs in through the same trait.
//!
//! [`MockBackend`] proves instantly and is accepted on chain only by `MockVerifier`: it is for
//! protocol-logic tests and the mock-proof devnet, never a stand-in for a real proof. Its proofs
//! still bind their inputs, so native verification catches a tampered proof or a wrong input.
//!
//! # Examples
//! ```
//! use alloy_primitives::U256;
//! use gateway_prover::{BatchPublicInput, MockBackend, ProofBackend};
//!
//! let backend = MockBackend::default();
//! let input = BatchPublicInput { chain_id: 270, batch_number: 1, value: U256::from(7) };
//! let proof = backend.prove_batch(&input)?;
//! backend.verify_batch(&proof)?;
//! let aggregated = backend.aggregate(&[proof])?;
//! assert_eq!(aggregated.inputs, vec![input]);
//! # Ok::<_, gateway_prover::ProverError>(())
//! ```
#![cfg_attr(not(test), warn(unused_crate_dependencies))]

mod halo2;
mod job;
mod mock;

pub use halo2::{
    AggregationKeys, CIRCUIT_HASH, CIRCUIT_VERSION, DEFAULT_AGGREGATION_K, DEFAULT_ARITY,
    DEFAULT_LEAF_K, DEFAULT_TREE_K, DEV_SRS_SEED, Halo2Backend, Halo2Config, LeafKeys, SrsSource,
    Subtree, peak_memory_bytes,
};
pub use job::{JobCancel, job_cancelled, run_job};
pub use mock::{MOCK_PROOF_MAGIC, MockBackend};

// Used by the `halo2-verifiers` binary only.
use eyre as _;
use tracing_subscriber as _;

use alloy_primitives::{Bytes, U256};
use alloy_sol_types::SolValue;

/// The result type of proving.
pub type ProverResult<T> = Result<T, ProverError>;

/// What can go wrong proving or verifying.
#[derive(Debug, thiserror::Error)]
pub enum ProverError {
    /// A proof does not verify.
    #[error("{kind} proof for {what} does not verify: {reason}")]
    Invalid {
        /// The backend.
        kind: BackendKind,
        /// Which proof.
        what: String,
        /// Why.
        reason: String,
    },
    /// A proof of another backend was handed over.
    #[error("a {got} proof was given to the {expected} backend")]
    WrongBackend {
        /// The backend that was asked.
        expected: BackendKind,
        /// The backend that made the proof.
        got: BackendKind,
    },
    /// The backend could not make a proof (out of resources, cancelled, a bug); the job may be
    /// retried.
    #[error("proving {what} failed: {reason}")]
    Failed {
        /// Which proof.
        what: String,
        /// Why.
        reason: String,
    },
    /// The job was cancelled (the node is stopping).
    #[error("proving {0} was cancelled")]
    Cancelled(String),
    /// Nothing to aggregate.
    #[error("aggregation needs at least one proof")]
    EmptyAggregation,
    /// A public input does not fit the field the circuit works in.
    #[error("public input {0} is wider than 224 bits")]
    InputTooWide(U256),
}

/// Which backend made a proof.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BackendKind {
    /// [`MockBackend`].
    Mock,
    /// The halo2-KZG backend.
    Halo2,
}

impl std::fmt::Display for BackendKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Mock => "mock",
            Self::Halo2 => "halo2",
        })
    }
}

/// What a batch proof proves: the batch's public input, with where it comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BatchPublicInput {
    /// The chain.
    pub chain_id: u64,
    /// The batch.
    pub batch_number: u64,
    /// The public input the contracts compute (224 bits).
    pub value: U256,
}

/// A proof of one batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchProof {
    /// Who made it.
    pub backend: BackendKind,
    /// What it proves.
    pub input: BatchPublicInput,
    /// The proof.
    pub bytes: Bytes,
}

/// One proof over several batch proofs; it exposes their inputs in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AggregatedProof {
    /// Who made it.
    pub backend: BackendKind,
    /// The inputs of the aggregated batch proofs, in order.
    pub inputs: Vec<BatchPublicInput>,
    /// The proof.
    pub bytes: Bytes,
}

/// One group of a two-level tree, aggregated on its own (the tree's first level,
/// [`ProofBackend::aggregate_group`]): it exposes its leaves' inputs in order and is read only
/// by [`ProofBackend::aggregate_groups`], which aggregates groups into the tree's one proof.
/// Groups are independent of each other, so each can be proved on another machine, and as soon
/// as its leaves are proved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupProof {
    /// Who made it.
    pub backend: BackendKind,
    /// The inputs of its leaves, in order (without the padding a backend adds to fill the
    /// group: that is implied by the group's width).
    pub inputs: Vec<BatchPublicInput>,
    /// The proof.
    pub bytes: Bytes,
}

/// A proof system for batch proofs and their aggregation. Proving is CPU-bound: call it from a
/// blocking task.
pub trait ProofBackend: std::fmt::Debug + Send + Sync + 'static {
    /// Which backend this is.
    fn kind(&self) -> BackendKind;

    /// Proves one batch's public input.
    fn prove_batch(&self, input: &BatchPublicInput) -> ProverResult<BatchProof>;

    /// Aggregates batch proofs into one exposing their inputs in order.
    fn aggregate(&self, proofs: &[BatchProof]) -> ProverResult<AggregatedProof>;

    /// Aggregates aggregations: a two-level tree whose first level aggregates groups of batch
    /// proofs (at most [`ProofBackend::max_aggregated`] each) and whose second level
    /// aggregates those aggregations into one proof; it exposes every batch's input in order,
    /// like [`ProofBackend::aggregate`], and [`ProofBackend::verify_aggregated`] checks it. A
    /// backend without recursion aggregates them flat.
    fn aggregate_tree(&self, proofs: &[BatchProof]) -> ProverResult<AggregatedProof> {
        self.aggregate(proofs)
    }

    /// Leaves per group when this backend's trees are made group by group
    /// ([`ProofBackend::aggregate_group`], then [`ProofBackend::aggregate_groups`]), so the
    /// groups can be proved apart (on other machines, ahead of time); `None`: a tree is one
    /// piece of work ([`ProofBackend::aggregate_tree`]).
    fn tree_group_size(&self) -> Option<usize> {
        None
    }

    /// A tree's first level: one group of at most [`ProofBackend::tree_group_size`] leaves.
    /// The default refuses (a backend without groups).
    fn aggregate_group(&self, proofs: &[BatchProof]) -> ProverResult<GroupProof> {
        Err(no_groups(self.kind(), format!("a group of {} proofs", proofs.len())))
    }

    /// A tree's top: one proof over `groups` (in order; each but the last full), exposing every
    /// leaf's input in order, the same proof [`ProofBackend::aggregate_tree`] makes over their
    /// leaves; checked by [`ProofBackend::verify_aggregated`]. The default refuses.
    fn aggregate_groups(&self, groups: &[GroupProof]) -> ProverResult<AggregatedProof> {
        Err(no_groups(self.kind(), format!("a tree of {} groups", groups.len())))
    }

    /// Checks a group's proof natively. The default refuses.
    fn verify_group(&self, group: &GroupProof) -> ProverResult<()> {
        Err(no_groups(self.kind(), format!("a group of {} leaves", group.inputs.len())))
    }

    /// Checks a batch proof natively.
    fn verify_batch(&self, proof: &BatchProof) -> ProverResult<()>;

    /// Checks an aggregated proof natively.
    fn verify_aggregated(&self, proof: &AggregatedProof) -> ProverResult<()>;

    /// The `proof` argument of the executor's `proveBatches` for consecutive batches, proven
    /// one by one: `abi.encode(bytes[] batchProofs)`, each the whole [`BatchProof::bytes`], so
    /// the Gateway can take every batch's proof from the calldata and aggregate it
    /// ([`batch_proofs_from_calldata`]).
    fn batches_calldata(&self, proofs: &[BatchProof]) -> Bytes {
        let bytes: Vec<Bytes> = proofs.iter().map(|p| p.bytes.clone()).collect();
        bytes.abi_encode().into()
    }

    /// The `proof` argument the L1 contract takes for an aggregated proof.
    fn aggregated_calldata(&self, proof: &AggregatedProof) -> Bytes;

    /// At most this many proofs go into one aggregation (`None`: no limit).
    fn max_aggregated(&self) -> Option<usize> {
        None
    }

    /// Whether [`ProofBackend::aggregate`] makes what [`ProofBackend::aggregate_tree`] makes
    /// (a backend configured for trees): a job sent elsewhere then asks for a tree.
    fn aggregates_trees(&self) -> bool {
        false
    }

    /// Where the proof jobs stand when they run elsewhere (a job queue shared with workers):
    /// `None` for a backend that proves in-process.
    fn jobs_status(&self) -> Option<JobsStatus> {
        None
    }

    /// Cancels every job: running ones stop at their next step and fail with
    /// [`ProverError::Cancelled`], and so do later ones. Called when the node stops. Instant
    /// backends have nothing to cancel. One job alone is cancelled through its [`JobCancel`]
    /// (see [`run_job`]).
    fn cancel(&self) {}
}

fn no_groups(kind: BackendKind, what: String) -> ProverError {
    ProverError::Failed {
        what,
        reason: format!(
            "the {kind} backend makes no tree group by group (tree_group_size is None)"
        ),
    }
}

/// Proof jobs that run on workers elsewhere, as `settlement_status.proverJobs` shows them.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct JobsStatus {
    /// Where the jobs are queued (the queue's address without its password).
    pub queue: String,
    /// Whether the last look at the queue succeeded (else `error` says why).
    pub reachable: bool,
    /// Jobs by kind and state (`leaf.queued`, `aggregate.running`, `leaf.failed`, …).
    pub jobs: std::collections::BTreeMap<String, u64>,
    /// Workers seen in the last 30 s.
    pub workers: u64,
    /// Seconds the oldest queued job has waited for a worker since it was last queued (0: none
    /// waits).
    pub oldest_queued_s: u64,
    /// Leases that expired (a worker stopped renewing one: its job was put back).
    pub lease_expiries: u64,
    /// Proofs that workers returned and that did not verify (refused; the job went to another
    /// worker).
    pub refused_proofs: u64,
    /// Jobs that failed every attempt, newest first (at most 10): they wait for an operator
    /// (`gateway-node prover retry-failed`).
    pub failed: Vec<FailedJob>,
    /// Kinds of job waiting in the queue that no live worker takes (say `group` while every
    /// worker is of a release without tree groups, or started with `--kinds leaf`): they wait
    /// until such a worker comes.
    pub kinds_without_workers: Vec<String>,
    /// The last error reaching the queue, if the last look failed.
    pub error: Option<String>,
}

/// A proof job that failed every attempt.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FailedJob {
    /// Its id in the queue.
    pub id: i64,
    /// `leaf` or `aggregate`.
    pub kind: String,
    /// What it proves.
    pub what: String,
    /// Attempts made.
    pub attempts: u32,
    /// Why the last one failed.
    pub reason: String,
}

/// Every batch's proof bytes from a `proveBatches` `proof` argument made by
/// [`ProofBackend::batches_calldata`].
pub fn batch_proofs_from_calldata(calldata: &[u8]) -> ProverResult<Vec<Bytes>> {
    Vec::<Bytes>::abi_decode(calldata).map_err(|e| ProverError::Invalid {
        kind: BackendKind::Mock,
        what: "a proveBatches proof argument".into(),
        reason: format!("not abi.encode(bytes[]): {e}"),
    })
}

/// Checks that `value` fits 224 bits, as every public input the contracts make does.
pub fn check_input_width(value: U256) -> ProverResult<()> {
    if value >> 224 != U256::ZERO {
        return Err(ProverError::InputTooWide(value));
    }
    Ok(())
}

/// Inputs for people: `N proofs (chain a batch b .. chain c batch d)`, naming the first and
/// the last (job names, error messages).
pub fn describe_inputs<'a>(inputs: impl IntoIterator<Item = &'a BatchPublicInput>) -> String {
    let inputs: Vec<_> = inputs.into_iter().collect();
    match (inputs.first(), inputs.last()) {
        (Some(first), Some(last)) => format!(
            "{} proofs (chain {} batch {} .. chain {} batch {})",
            inputs.len(),
            first.chain_id,
            first.batch_number,
            last.chain_id,
            last.batch_number
        ),
        _ => "no proofs".into(),
    }
}
