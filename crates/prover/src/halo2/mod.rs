//! [`Halo2Backend`]: real halo2-KZG proofs on BN254 (axiom's `halo2-base` and
//! `snark-verifier-sdk`), verifiable on the EVM.
//!
//! - **Leaf**: one proof per batch from a narrow circuit (one advice column, `k` = 12) whose
//!   public instances are `[chain_id, batch_public_input]`. It stands in for a chain's validity
//!   circuit: it binds the proof to exactly one batch, and proves nothing about execution.
//!   Each batch is proven twice: with a Keccak transcript for the on-chain leaf verifier, and with
//!   a Poseidon transcript for aggregation.
//! - **Aggregation**: one proof over `arity` (4) leaves (KZG accumulation, SHPLONK, `k` = 21). Its
//!   instances are the 12 limbs of the KZG accumulator, then every leaf's
//!   `[chain_id, batch_public_input]` in order; fewer leaves are padded with proofs of
//!   `[0, 0]`.
//! - **Tree** ([`Halo2Config::tree`]): `arity` aggregations of `arity` leaves each
//!   ([`Halo2Backend::aggregate_subtree`], Poseidon transcript), aggregated again at `tree_k`
//!   ([`Halo2Backend::aggregate_subtrees`], `k` = 22: at 21 its verifier does not deploy under
//!   EIP-170) into one EVM proof exposing the accumulator and then every leaf's inputs, like a
//!   flat aggregation of `arity²` leaves.
//! - **SRS**: for dev and tests, generated once from a fixed, public seed
//!   ([`DEV_SRS_SEED`]: INSECURE, anyone can forge proofs against it) and cached; production
//!   loads a ceremony SRS file ([`SrsSource::File`]).
//! - **Keys** are cached under the cache directory with the circuit version and the SRS in the
//!   file name, so a changed circuit or SRS never reuses stale keys.
//!
//! Proof byte formats: a [`crate::BatchProof`] holds `u32 len ‖ keccak-transcript proof ‖
//! poseidon-transcript proof`; [`crate::ProofBackend::batches_calldata`] is
//! `abi.encode(bytes[] batchProofs)`, of which the `Halo2BatchVerifier` contract checks the
//! keccak-transcript part and the Gateway aggregates the poseidon one; an
//! [`crate::AggregatedProof`] and its calldata are `12 accumulator limbs (32 bytes each) ‖
//! keccak-transcript proof` for the `Halo2AggregationVerifier` adapter.

mod circuits;
mod keys;
mod native;
mod tree;

use keys::Inner;
pub use keys::{AggregationKeys, LeafKeys};
pub use native::peak_memory_bytes;
pub use tree::Subtree;

use std::{
    panic::AssertUnwindSafe,
    path::PathBuf,
    sync::{
        Arc, OnceLock,
        atomic::{AtomicBool, Ordering},
    },
    time::Instant,
};

use alloy_primitives::{Bytes, U256};
use halo2_base::{
    gates::circuit::CircuitBuilderStage,
    halo2_proofs::halo2curves::{bn256::Fr, ff::PrimeField},
};
use snark_verifier_sdk::{
    CircuitExt, SHPLONK, Snark,
    evm::{gen_evm_proof_shplonk, gen_evm_verifier_sol_code},
    halo2::{aggregation::AggregationCircuit, gen_snark_shplonk},
};
use tracing::{info, warn};

use crate::{
    AggregatedProof, BackendKind, BatchProof, BatchPublicInput, GroupProof, ProofBackend,
    ProverError, ProverResult, check_input_width,
};
use circuits::{ACCUMULATOR_LIMBS, LEAF_INSTANCES, aggregation_circuit, leaf_circuit};

/// The leaf circuit's `k` by default.
pub const DEFAULT_LEAF_K: u32 = 12;
/// The aggregation circuit's `k` by default (and the SRS size).
pub const DEFAULT_AGGREGATION_K: u32 = 21;
/// The `k` of a tree's top (the aggregation of aggregations) by default. At `k` = 21 the top of
/// a 4 × 4 tree needs 10 advice columns and its generated verifier is 33,036 bytes, over
/// EIP-170's 24,576; twice the rows halve the columns (same dev SRS seed, so the same secret).
pub const DEFAULT_TREE_K: u32 = 22;
/// Leaves per aggregation by default: the Gateway's leaf and three chain batches. At `k` = 21
/// the aggregation circuit needs 6 advice columns for 4 leaves, and its generated verifier
/// (22,264 bytes) still deploys under EIP-170; at `k` = 20 only 2 leaves fit.
pub const DEFAULT_ARITY: usize = 4;
/// The seed of the dev SRS. PUBLIC, so INSECURE: whoever knows it can forge proofs. For devnets
/// and tests only.
pub const DEV_SRS_SEED: [u8; 32] = *b"gateway-exex INSECURE dev SRS!!!";
/// Bumped whenever a circuit changes; part of every cached key's file name.
pub const CIRCUIT_VERSION: u32 = 1;
/// A hash of the sources that define the circuits and make their keys (computed at build
/// time); part of every cached key's file name, so editing a circuit without bumping
/// [`CIRCUIT_VERSION`] still never reuses a stale key.
pub const CIRCUIT_HASH: &str = env!("GATEWAY_CIRCUIT_HASH");

/// Where the structured reference string comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SrsSource {
    /// Generated from [`DEV_SRS_SEED`] and cached: insecure, for devnets and tests.
    DevSeed,
    /// A ceremony SRS in halo2's `ParamsKZG` format, of at least the aggregation's `k`.
    File(PathBuf),
}

/// Settings of the halo2 backend.
#[derive(Debug, Clone)]
pub struct Halo2Config {
    /// Where the SRS and the keys are cached.
    pub cache_dir: PathBuf,
    /// The SRS.
    pub srs: SrsSource,
    /// The leaf circuit's `k`.
    pub leaf_k: u32,
    /// The aggregation circuit's `k`.
    pub aggregation_k: u32,
    /// The `k` of a tree's top (raised to `aggregation_k` if below it); trees need an SRS of
    /// this size.
    pub tree_k: u32,
    /// Leaves per aggregation.
    pub arity: usize,
    /// Whether [`ProofBackend::aggregate`] makes a two-level tree of `arity × arity` leaves
    /// (verified on L1 by `Halo2TreeVerifier`) instead of one flat aggregation of `arity`
    /// leaves (`Halo2AggregationVerifier`). L1's aggregated verifier must be the matching one.
    pub tree: bool,
}

impl Halo2Config {
    /// Defaults, with the insecure dev SRS, caching under `cache_dir`.
    pub fn dev(cache_dir: impl Into<PathBuf>) -> Self {
        Self {
            cache_dir: cache_dir.into(),
            srs: SrsSource::DevSeed,
            leaf_k: DEFAULT_LEAF_K,
            aggregation_k: DEFAULT_AGGREGATION_K,
            tree_k: DEFAULT_TREE_K,
            arity: DEFAULT_ARITY,
            tree: false,
        }
    }

    /// Leaves one aggregated proof holds: `arity`, or `arity²` for a tree.
    pub const fn leaves_per_proof(&self) -> usize {
        if self.tree { self.arity * self.arity } else { self.arity }
    }

    /// The default cache directory: `$XDG_CACHE_HOME/gateway-exex/halo2`, else
    /// `$HOME/.cache/gateway-exex/halo2`, else `./.cache/halo2`.
    pub fn default_cache_dir() -> PathBuf {
        std::env::var_os("XDG_CACHE_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
            .map_or_else(|| PathBuf::from(".cache/halo2"), |c| c.join("gateway-exex").join("halo2"))
    }
}

/// Real halo2-KZG proofs; see the module docs.
pub struct Halo2Backend {
    config: Halo2Config,
    leaf: Arc<LeafKeys>,
    aggregation: OnceLock<Result<Arc<AggregationKeys>, String>>,
    tree: OnceLock<Result<Arc<AggregationKeys>, String>>,
    /// A first-level aggregation of padding leaves alone, made once and reused by every tree
    /// with at most `arity × (arity - 1)` leaves.
    padding_subtree: OnceLock<Subtree>,
    cancelled: AtomicBool,
    /// Aggregations (and their keygen) run on their own rayon pool: they take minutes and
    /// would otherwise hold rayon's global pool, starving every leaf proof queued behind them.
    aggregation_pool: OnceLock<Option<rayon::ThreadPool>>,
}

impl std::fmt::Debug for Halo2Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Halo2Backend").field("config", &self.config).finish_non_exhaustive()
    }
}

/// Runs `f`, turning a panic of the proving libraries (they assert and unwrap) into an error.
fn guarded<T>(what: &str, f: impl FnOnce() -> T) -> ProverResult<T> {
    std::panic::catch_unwind(AssertUnwindSafe(f)).map_err(|panic| {
        let reason = panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_string()))
            .unwrap_or_else(|| "the prover panicked".into());
        ProverError::Failed { what: what.into(), reason }
    })
}

/// The field element of a 224-bit public input or a chain id.
pub(crate) fn to_fr(value: U256) -> ProverResult<Fr> {
    Option::from(Fr::from_repr(value.to_le_bytes::<32>())).ok_or(ProverError::InputTooWide(value))
}

/// A field element as a 256-bit integer.
pub(crate) fn from_fr(value: &Fr) -> U256 {
    U256::from_le_bytes(value.to_repr())
}

fn leaf_instances(input: &BatchPublicInput) -> ProverResult<Vec<Fr>> {
    Ok(vec![Fr::from(input.chain_id), to_fr(input.value)?])
}

/// A batch proof's two proofs.
struct LeafProofBytes<'a> {
    evm: &'a [u8],
    poseidon: &'a [u8],
}

fn split_leaf(bytes: &[u8]) -> ProverResult<LeafProofBytes<'_>> {
    let bad = |reason: &str| ProverError::Invalid {
        kind: BackendKind::Halo2,
        what: "a batch proof".into(),
        reason: reason.into(),
    };
    let len_bytes: [u8; 4] = bytes
        .get(..4)
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| bad("shorter than its header"))?;
    let len = u32::from_be_bytes(len_bytes) as usize;
    let evm = bytes.get(4..4 + len).ok_or_else(|| bad("shorter than its header says"))?;
    Ok(LeafProofBytes { evm, poseidon: &bytes[4 + len..] })
}

impl Halo2Backend {
    /// Loads (or generates and caches) the SRS and the leaf keys. The aggregation keys are made
    /// on the first aggregation, or by [`Self::prepare_aggregation`].
    pub fn new(config: Halo2Config) -> ProverResult<Self> {
        if config.arity == 0 || config.arity > 8 {
            return Err(ProverError::Failed {
                what: "the halo2 backend".into(),
                reason: format!("arity {} is outside 1..=8", config.arity),
            });
        }
        if config.tree
            && let SrsSource::File(path) = &config.srs
        {
            // Found at start, not at the first Gateway batch's proof.
            check_srs_file_k(path, config.tree_k.max(config.aggregation_k))?;
        }
        native::describe_metrics();
        let leaf = Arc::new(LeafKeys::load_or_create(&config)?);
        Ok(Self {
            config,
            leaf,
            aggregation: OnceLock::new(),
            tree: OnceLock::new(),
            padding_subtree: OnceLock::new(),
            aggregation_pool: OnceLock::new(),
            cancelled: AtomicBool::new(false),
        })
    }

    /// The backend's settings.
    pub const fn config(&self) -> &Halo2Config {
        &self.config
    }

    /// The leaf keys.
    pub fn leaf_keys(&self) -> &LeafKeys {
        &self.leaf
    }

    /// Makes (or loads) the aggregation keys now: the big SRS, then about a minute of keygen.
    pub fn prepare_aggregation(&self) -> ProverResult<Arc<AggregationKeys>> {
        self.aggregation
            .get_or_init(|| {
                AggregationKeys::load_or_create(&self.config, Inner::Leaves(&self.leaf))
                    .map(Arc::new)
                    .map_err(|e| e.to_string())
            })
            .clone()
            .map_err(|reason| ProverError::Failed { what: "aggregation keys".into(), reason })
    }

    /// Makes (or loads) the keys of a tree's second level (an aggregation of `arity`
    /// aggregations), after the first level's.
    pub fn prepare_tree(&self) -> ProverResult<Arc<AggregationKeys>> {
        let inner = self.prepare_aggregation()?;
        // The top's keys and SRS are of its own `k`: the key file names it.
        let k = self.config.tree_k.max(self.config.aggregation_k);
        let top = Halo2Config { aggregation_k: k, ..self.config.clone() };
        self.tree
            .get_or_init(|| {
                AggregationKeys::load_or_create(&top, Inner::Aggregations(&inner))
                    .map(Arc::new)
                    .map_err(|e| e.to_string())
            })
            .clone()
            .map_err(|reason| ProverError::Failed { what: "tree aggregation keys".into(), reason })
    }

    /// The Solidity source of the verifier of a two-level tree's top proof (contract
    /// `Halo2TreeVerifier`).
    pub fn tree_verifier_solidity(&self) -> ProverResult<String> {
        let keys = self.prepare_tree()?;
        let source = guarded("the tree verifier", || {
            gen_evm_verifier_sol_code::<AggregationCircuit, SHPLONK>(
                &keys.params,
                keys.pk.get_vk(),
                vec![keys.num_instance],
            )
        })?;
        Ok(rename_verifier(&source, "Halo2TreeVerifier"))
    }

    /// The leaves' inputs and snarks, padded to `count` with proofs of `[0, 0]`.
    fn leaf_snarks(
        &self,
        proofs: &[BatchProof],
        count: usize,
    ) -> ProverResult<(Vec<BatchPublicInput>, Vec<Snark>)> {
        let mut inputs = Vec::with_capacity(count);
        let mut snarks = Vec::with_capacity(count);
        for proof in proofs {
            if proof.backend != BackendKind::Halo2 {
                return Err(ProverError::WrongBackend {
                    expected: BackendKind::Halo2,
                    got: proof.backend,
                });
            }
            let parts = split_leaf(&proof.bytes)?;
            snarks.push(self.leaf_snark(&proof.input, parts.poseidon)?);
            inputs.push(proof.input);
        }
        if proofs.len() < count {
            let padding = self.prove_batch(&Self::padding_input())?;
            let parts = split_leaf(&padding.bytes)?;
            while snarks.len() < count {
                snarks.push(self.leaf_snark(&padding.input, parts.poseidon)?);
                inputs.push(padding.input);
            }
        }
        Ok((inputs, snarks))
    }

    /// The Solidity source of the leaf verifier (contract `Halo2LeafVerifier`).
    pub fn leaf_verifier_solidity(&self) -> ProverResult<String> {
        let keys = &self.leaf;
        let source = guarded("the leaf verifier", || {
            gen_evm_verifier_sol_code::<
                halo2_base::gates::circuit::builder::BaseCircuitBuilder<Fr>,
                SHPLONK,
            >(&keys.params, keys.pk.get_vk(), vec![LEAF_INSTANCES])
        })?;
        Ok(rename_verifier(&source, "Halo2LeafVerifier"))
    }

    /// The Solidity source of the aggregation verifier (contract `Halo2AggregationVerifier`).
    pub fn aggregation_verifier_solidity(&self) -> ProverResult<String> {
        let keys = self.prepare_aggregation()?;
        let instances = ACCUMULATOR_LIMBS + LEAF_INSTANCES * self.config.arity;
        let source = guarded("the aggregation verifier", || {
            gen_evm_verifier_sol_code::<AggregationCircuit, SHPLONK>(
                &keys.params,
                keys.pk.get_vk(),
                vec![instances],
            )
        })?;
        Ok(rename_verifier(&source, "Halo2AggregationVerifier"))
    }

    /// [`ProofBackend::aggregate`], on the calling thread's rayon pool.
    fn aggregate_leaves(&self, proofs: &[BatchProof]) -> ProverResult<AggregatedProof> {
        if proofs.is_empty() {
            return Err(ProverError::EmptyAggregation);
        }
        if proofs.len() > self.config.arity {
            return Err(ProverError::Failed {
                what: format!("an aggregation of {} proofs", proofs.len()),
                reason: format!(
                    "this backend aggregates at most {} (its arity)",
                    self.config.arity
                ),
            });
        }
        self.check_cancelled("an aggregation")?;
        let keys = self.prepare_aggregation()?;
        let (inputs, snarks) = self.leaf_snarks(proofs, self.config.arity)?;
        let what = format!("an aggregation of {} leaves", snarks.len());
        self.check_cancelled(&what)?;
        info!(target: "prover::halo2", leaves = snarks.len(), "aggregating");
        let started = Instant::now();
        let (instances, proof) = guarded(&what, || {
            let circuit = aggregation_circuit(
                CircuitBuilderStage::Prover,
                keys.config,
                &keys.params,
                snarks,
                Some(keys.break_points.clone()),
                false,
            );
            let instances = circuit.instances();
            let proof = gen_evm_proof_shplonk(&keys.params, &keys.pk, circuit, instances.clone());
            (instances, proof)
        })?;
        native::record_proof("aggregation", started);
        info!(target: "prover::halo2", seconds = started.elapsed().as_secs_f64(), "aggregated");
        Ok(AggregatedProof {
            backend: BackendKind::Halo2,
            inputs,
            bytes: accumulator_and(&instances, &proof),
        })
    }

    /// Runs `f` on the aggregation pool (made on first use), or here if it cannot be made.
    fn on_aggregation_pool<T: Send>(&self, f: impl FnOnce() -> T + Send) -> T {
        let pool = self.aggregation_pool.get_or_init(|| {
            let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .thread_name(|i| format!("halo2-aggregation-{i}"))
                .build()
                .map_err(|e| warn!(target: "prover::halo2", %e, "no aggregation pool: aggregating on the global one"))
                .ok()
        });
        match pool {
            // The calling job goes along to the pool's thread, so it can still be cancelled.
            Some(pool) => {
                let job = crate::job::current_job();
                pool.install(move || crate::job::with_job(job, f))
            }
            None => f(),
        }
    }

    fn leaf_snark(&self, input: &BatchPublicInput, poseidon: &[u8]) -> ProverResult<Snark> {
        Ok(Snark::new(self.leaf.protocol.clone(), vec![leaf_instances(input)?], poseidon.to_vec()))
    }

    /// Fails with [`ProverError::Cancelled`] once [`ProofBackend::cancel`] was called, or the
    /// running job's [`crate::JobCancel`]: checked between the steps of a job (halo2 itself has
    /// no cancellation points).
    fn check_cancelled(&self, what: &str) -> ProverResult<()> {
        if self.cancelled.load(Ordering::Relaxed) || crate::job::job_cancelled() {
            return Err(ProverError::Cancelled(what.into()));
        }
        Ok(())
    }

    fn padding_input() -> BatchPublicInput {
        BatchPublicInput { chain_id: 0, batch_number: 0, value: U256::ZERO }
    }
}

/// Refuses an SRS file (halo2's `ParamsKZG` format: `k` first, 4 bytes little-endian) smaller
/// than `2^k`, reading its header only.
fn check_srs_file_k(path: &std::path::Path, k: u32) -> ProverResult<()> {
    use std::io::Read;
    let failed = |reason: String| ProverError::Failed {
        what: format!("SRS file {}", path.display()),
        reason,
    };
    let mut header = [0u8; 4];
    std::fs::File::open(path)
        .and_then(|mut file| file.read_exact(&mut header))
        .map_err(|e| failed(e.to_string()))?;
    let has = u32::from_le_bytes(header);
    if has < k {
        return Err(failed(format!("it has k = {has}, a tree's top needs k = {k}")));
    }
    Ok(())
}

/// An aggregated proof's bytes: its accumulator limbs (32 bytes each), then the proof.
fn accumulator_and(instances: &[Vec<Fr>], proof: &[u8]) -> Bytes {
    let mut bytes = Vec::with_capacity(ACCUMULATOR_LIMBS * 32 + proof.len());
    for limb in instances.first().into_iter().flatten().take(ACCUMULATOR_LIMBS) {
        bytes.extend_from_slice(&from_fr(limb).to_be_bytes::<32>());
    }
    bytes.extend_from_slice(proof);
    bytes.into()
}

/// The inverse of [`accumulator_and`]: the accumulator's limbs and the proof after them, or
/// why the bytes are not that.
fn split_accumulator(bytes: &[u8]) -> Result<(Vec<Fr>, &[u8]), String> {
    let head = ACCUMULATOR_LIMBS * 32;
    if bytes.len() <= head {
        return Err("shorter than its accumulator".into());
    }
    let limbs = bytes[..head]
        .chunks(32)
        .map(|limb| {
            to_fr(U256::from_be_slice(limb))
                .map_err(|_| "an accumulator limb is not a field element".to_string())
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok((limbs, &bytes[head..]))
}

/// Gives the generated verifier a name of its own and this repo's compiler version.
fn rename_verifier(source: &str, name: &str) -> String {
    let mut out = String::from(
        "// SPDX-License-Identifier: MIT OR Apache-2.0\n// GENERATED by `cargo run --release -p gateway-prover --bin halo2-verifiers`; do not edit.\n",
    );
    for line in source.lines() {
        let line = if line.trim_start().starts_with("pragma solidity") {
            "pragma solidity 0.8.30;".to_string()
        } else if line.trim_start().starts_with("// SPDX") {
            continue;
        } else {
            line.replace("contract Halo2Verifier", &format!("contract {name}"))
        };
        out.push_str(&line);
        out.push('\n');
    }
    out
}

impl ProofBackend for Halo2Backend {
    fn kind(&self) -> BackendKind {
        BackendKind::Halo2
    }

    fn prove_batch(&self, input: &BatchPublicInput) -> ProverResult<BatchProof> {
        check_input_width(input.value)?;
        let value = to_fr(input.value)?;
        let keys = &self.leaf;
        let what = format!("chain {} batch {}", input.chain_id, input.batch_number);
        let started = Instant::now();
        let circuit = || {
            leaf_circuit(
                CircuitBuilderStage::Prover,
                &keys.circuit_params,
                Some(keys.break_points.clone()),
                input.chain_id,
                value,
            )
        };
        let instances = leaf_instances(input)?;
        self.check_cancelled(&what)?;
        let evm = guarded(&what, || {
            gen_evm_proof_shplonk(&keys.params, &keys.pk, circuit(), vec![instances.clone()])
        })?;
        self.check_cancelled(&what)?;
        let snark =
            guarded(&what, || gen_snark_shplonk(&keys.params, &keys.pk, circuit(), None::<&str>))?;
        let mut bytes = (evm.len() as u32).to_be_bytes().to_vec();
        bytes.extend_from_slice(&evm);
        bytes.extend_from_slice(&snark.proof);
        native::record_proof("leaf", started);
        Ok(BatchProof { backend: BackendKind::Halo2, input: *input, bytes: bytes.into() })
    }

    fn aggregate(&self, proofs: &[BatchProof]) -> ProverResult<AggregatedProof> {
        if self.config.tree {
            // Keygen and padding proofs too run on the aggregation pool (the subtrees' and the
            // top's installs then run in place).
            self.on_aggregation_pool(|| self.tree_of_leaves(proofs))
        } else {
            self.on_aggregation_pool(|| self.aggregate_leaves(proofs))
        }
    }

    fn aggregate_tree(&self, proofs: &[BatchProof]) -> ProverResult<AggregatedProof> {
        self.on_aggregation_pool(|| self.tree_of_leaves(proofs))
    }

    fn tree_group_size(&self) -> Option<usize> {
        Some(self.config.arity)
    }

    fn aggregate_group(&self, proofs: &[BatchProof]) -> ProverResult<GroupProof> {
        self.on_aggregation_pool(|| self.aggregate_subtree(proofs)).map(|s| s.to_group())
    }

    fn aggregate_groups(&self, groups: &[GroupProof]) -> ProverResult<AggregatedProof> {
        self.on_aggregation_pool(|| self.aggregate_group_proofs(groups))
    }

    fn verify_group(&self, group: &GroupProof) -> ProverResult<()> {
        self.verify_group_proof(group)
    }

    fn verify_batch(&self, proof: &BatchProof) -> ProverResult<()> {
        if proof.backend != BackendKind::Halo2 {
            return Err(ProverError::WrongBackend {
                expected: BackendKind::Halo2,
                got: proof.backend,
            });
        }
        let parts = split_leaf(&proof.bytes)?;
        let instances = leaf_instances(&proof.input)?;
        let what = format!("chain {} batch {}", proof.input.chain_id, proof.input.batch_number);
        native::verify_evm_proof(
            &self.leaf.params,
            self.leaf.pk.get_vk(),
            &instances,
            parts.evm,
            &what,
        )?;
        native::verify_poseidon_proof(
            &self.leaf.params,
            self.leaf.pk.get_vk(),
            &instances,
            parts.poseidon,
            &what,
        )
    }

    fn verify_aggregated(&self, proof: &AggregatedProof) -> ProverResult<()> {
        if proof.backend != BackendKind::Halo2 {
            return Err(ProverError::WrongBackend {
                expected: BackendKind::Halo2,
                got: proof.backend,
            });
        }
        let what = format!("an aggregation of {} leaves", proof.inputs.len());
        let invalid = |reason: String| ProverError::Invalid {
            kind: BackendKind::Halo2,
            what: what.clone(),
            reason,
        };
        // The inputs the proof exposes: the given ones, then padding leaves up to its width
        // (as L1's adapter pads them). A backend configured for trees takes only trees; any
        // takes a tree when it holds more leaves than one flat aggregation.
        let arity = self.config.arity;
        let (keys, width) = match proof.inputs.len() {
            0 => return Err(invalid("no inputs".into())),
            n if n <= arity && !self.config.tree => (self.prepare_aggregation()?, arity),
            n if n <= arity * arity => (self.prepare_tree()?, arity * arity),
            n => {
                return Err(invalid(format!(
                    "{n} inputs: a two-level tree of arity {arity} holds at most {}",
                    arity * arity
                )));
            }
        };
        let (limbs, evm_proof) = split_accumulator(&proof.bytes).map_err(invalid)?;
        let mut instances = Vec::with_capacity(ACCUMULATOR_LIMBS + LEAF_INSTANCES * width);
        instances.extend(limbs);
        let padding = Self::padding_input();
        for input in
            proof.inputs.iter().chain(std::iter::repeat_n(&padding, width - proof.inputs.len()))
        {
            instances.extend(leaf_instances(input)?);
        }
        native::verify_evm_proof(&keys.params, keys.pk.get_vk(), &instances, evm_proof, &what)?;
        native::check_accumulator(&keys.params, &instances[..ACCUMULATOR_LIMBS], &what)
    }

    fn aggregated_calldata(&self, proof: &AggregatedProof) -> Bytes {
        proof.bytes.clone()
    }

    fn max_aggregated(&self) -> Option<usize> {
        Some(self.config.leaves_per_proof())
    }

    fn aggregates_trees(&self) -> bool {
        self.config.tree
    }

    fn cancel(&self) {
        self.cancelled.store(true, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn backend(dir: &std::path::Path) -> Halo2Backend {
        Halo2Backend::new(Halo2Config::dev(dir)).unwrap()
    }

    #[test]
    fn field_conversions_round_trip_and_refuse_what_does_not_fit() {
        let value = (U256::from(1) << 223) + U256::from(12_345);
        assert_eq!(from_fr(&to_fr(value).unwrap()), value);
        assert!(matches!(to_fr(U256::MAX), Err(ProverError::InputTooWide(_))));
    }

    #[test]
    fn generated_verifiers_get_their_own_name_and_our_compiler() {
        let source = "// SPDX-License-Identifier: MIT\npragma solidity 0.8.19;\ncontract Halo2Verifier {\n}\n";
        let renamed = rename_verifier(source, "Halo2LeafVerifier");
        assert!(renamed.contains("pragma solidity 0.8.30;"));
        assert!(renamed.contains("contract Halo2LeafVerifier {"));
        assert!(!renamed.contains("0.8.19") && !renamed.contains("SPDX-License-Identifier: MIT\n"));
    }

    #[test]
    fn a_leaf_proof_verifies_and_a_tampered_or_misattributed_one_does_not() {
        let dir = tempfile::tempdir().unwrap();
        let backend = backend(dir.path());
        let input =
            BatchPublicInput { chain_id: 270, batch_number: 7, value: U256::from(1) << 200 };
        let proof = backend.prove_batch(&input).unwrap();
        backend.verify_batch(&proof).unwrap();

        let mut tampered = proof.clone();
        let mut bytes = tampered.bytes.to_vec();
        bytes[40] ^= 1;
        tampered.bytes = bytes.into();
        assert!(matches!(
            backend.verify_batch(&tampered),
            Err(ProverError::Invalid { .. } | ProverError::Failed { .. })
        ));

        let mut other_batch = proof.clone();
        other_batch.input.value += U256::from(1);
        assert!(backend.verify_batch(&other_batch).is_err(), "bound to its public input");
        let mut other_chain = proof.clone();
        other_chain.input.chain_id = 271;
        assert!(backend.verify_batch(&other_chain).is_err(), "bound to its chain");

        let mut mock = proof;
        mock.backend = BackendKind::Mock;
        assert!(matches!(backend.verify_batch(&mock), Err(ProverError::WrongBackend { .. })));
        assert!(matches!(
            backend.prove_batch(&BatchPublicInput { value: U256::from(1) << 224, ..input }),
            Err(ProverError::InputTooWide(_))
        ));

        // A second backend over the same cache loads the keys instead of making them, and
        // accepts the first one's proofs. The key file names the circuit's fingerprint.
        assert!(!backend.leaf_keys().from_cache, "made on first use");
        let name = backend.leaf_keys().path.file_name().unwrap().to_string_lossy().into_owned();
        assert!(name.contains(&format!("c{CIRCUIT_HASH}")), "{name}");
        assert_eq!(CIRCUIT_HASH.len(), 10);
        let again = Halo2Backend::new(Halo2Config::dev(dir.path())).unwrap();
        assert!(again.leaf_keys().from_cache, "loaded from the cache");
        assert_eq!(again.leaf_keys().path, backend.leaf_keys().path);
        let proof = backend.prove_batch(&input).unwrap();
        again.verify_batch(&proof).unwrap();

        // One job cancelled: it fails, the next one runs.
        let job = crate::JobCancel::new();
        job.cancel();
        assert!(matches!(
            crate::run_job(&job, || again.prove_batch(&input)),
            Err(ProverError::Cancelled(_))
        ));
        assert!(matches!(
            crate::run_job(&job, || again.aggregate(std::slice::from_ref(&proof))),
            Err(ProverError::Cancelled(_))
        ));
        again.verify_batch(&again.prove_batch(&input).unwrap()).unwrap();

        // Cancelled: later jobs fail at once, aggregation included (before any keygen).
        again.cancel();
        assert!(matches!(again.prove_batch(&input), Err(ProverError::Cancelled(_))));
        assert!(matches!(again.aggregate(&[proof]), Err(ProverError::Cancelled(_))));
    }

    #[test]
    fn an_srs_file_from_config_is_used_and_one_too_small_is_refused_naming_it() {
        use halo2_base::halo2_proofs::{
            halo2curves::bn256::Bn256,
            poly::{commitment::Params, kzg::commitment::ParamsKZG},
        };
        use rand_chacha::rand_core::SeedableRng;
        let dir = tempfile::tempdir().unwrap();
        let made = backend(dir.path());
        let input = BatchPublicInput { chain_id: 270, batch_number: 1, value: U256::from(5) };
        let proof = made.prove_batch(&input).unwrap();
        // The SRS the first backend cached, handed over as a file (a ceremony's file would be
        // the same format): same tau, so the keys and proofs agree.
        let srs = dir.path().join("srs").join(format!("insecure-dev-seed-k{DEFAULT_LEAF_K}.srs"));
        let other = tempfile::tempdir().unwrap();
        // A tree's top needs a bigger SRS than the leaf's: refused at start, from the header.
        let err = Halo2Backend::new(Halo2Config {
            srs: SrsSource::File(srs.clone()),
            tree: true,
            ..Halo2Config::dev(other.path())
        })
        .unwrap_err()
        .to_string();
        assert!(
            err.contains(&srs.display().to_string())
                && err.contains(&format!("k = {DEFAULT_LEAF_K}"))
                && err.contains(&format!("needs k = {DEFAULT_TREE_K}")),
            "{err}"
        );
        let from_file = Halo2Backend::new(Halo2Config {
            srs: SrsSource::File(srs),
            ..Halo2Config::dev(other.path())
        })
        .unwrap();
        from_file.verify_batch(&proof).unwrap();
        made.verify_batch(&from_file.prove_batch(&input).unwrap()).unwrap();

        // A file with a smaller k than the circuits need.
        let small = other.path().join("small.srs");
        let params = ParamsKZG::<Bn256>::setup(
            DEFAULT_LEAF_K - 2,
            rand_chacha::ChaCha20Rng::from_seed([7; 32]),
        );
        let mut file = std::fs::File::create(&small).unwrap();
        params.write(&mut file).unwrap();
        drop(file);
        let third = tempfile::tempdir().unwrap();
        let err = Halo2Backend::new(Halo2Config {
            srs: SrsSource::File(small.clone()),
            ..Halo2Config::dev(third.path())
        })
        .unwrap_err()
        .to_string();
        assert!(
            err.contains(&small.display().to_string())
                && err.contains(&format!("k = {}", DEFAULT_LEAF_K - 2))
                && err.contains(&format!("need k = {DEFAULT_LEAF_K}")),
            "{err}"
        );
    }
}
