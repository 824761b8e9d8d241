//! A two-level tree of aggregations: `arity` first-level aggregations of `arity` leaves each
//! (subtrees, in the Poseidon transcript so they can be aggregated again), and their aggregation
//! at the tree's own `k` into one EVM-verifiable proof exposing every leaf's inputs in order.

use std::time::Instant;

use halo2_base::{gates::circuit::CircuitBuilderStage, halo2_proofs::halo2curves::bn256::Fr};
use snark_verifier_sdk::{CircuitExt, Snark, evm::gen_evm_proof_shplonk, halo2::gen_proof_shplonk};
use tracing::info;

use super::{
    ACCUMULATOR_LIMBS, Halo2Backend, accumulator_and, circuits::aggregation_circuit, guarded,
    leaf_instances, native, split_accumulator,
};
use crate::{
    AggregatedProof, BackendKind, BatchProof, BatchPublicInput, GroupProof, ProofBackend,
    ProverError, ProverResult,
};

/// A tree's first-level aggregation ([`Halo2Backend::aggregate_subtree`]): its leaves' inputs
/// (padding included) and its proof, which only [`Halo2Backend::aggregate_subtrees`] reads.
#[derive(Clone)]
pub struct Subtree {
    inputs: Vec<BatchPublicInput>,
    /// Real leaves (not padding) at the start of `inputs`.
    leaves: usize,
    snark: Snark,
}

impl Subtree {
    /// The leaves' inputs, in order, padding included.
    pub fn inputs(&self) -> &[BatchPublicInput] {
        &self.inputs
    }

    /// As it travels ([`ProofBackend::aggregate_group`]): its real leaves' inputs, and its
    /// accumulator's limbs followed by its Poseidon-transcript proof.
    pub fn to_group(&self) -> GroupProof {
        GroupProof {
            backend: BackendKind::Halo2,
            inputs: self.inputs[..self.leaves].to_vec(),
            bytes: accumulator_and(&self.snark.instances, &self.snark.proof),
        }
    }
}

impl std::fmt::Debug for Subtree {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subtree").field("inputs", &self.inputs).finish_non_exhaustive()
    }
}

impl Halo2Backend {
    /// One proof over `arity × arity` leaves as a two-level tree: each group of `arity` leaves is
    /// aggregated ([`Self::aggregate_subtree`]), then the groups' aggregations are aggregated
    /// into one EVM-verifiable proof ([`Self::aggregate_subtrees`]). Its inputs are every
    /// leaf's, in order; fewer leaves are padded with proofs of `[0, 0]`, and a group of padding
    /// alone is aggregated once per backend and reused. Verified by
    /// [`ProofBackend::verify_aggregated`] (it tells a tree from a flat aggregation by the
    /// number of inputs).
    pub(super) fn tree_of_leaves(&self, proofs: &[BatchProof]) -> ProverResult<AggregatedProof> {
        let arity = self.config.arity;
        if proofs.is_empty() {
            return Err(ProverError::EmptyAggregation);
        }
        if proofs.len() > arity * arity {
            return Err(ProverError::Failed {
                what: format!("a tree of {} proofs", proofs.len()),
                reason: format!(
                    "a two-level tree of arity {arity} takes at most {}",
                    arity * arity
                ),
            });
        }
        let mut subtrees = Vec::with_capacity(arity);
        for (index, group) in proofs.chunks(arity).enumerate() {
            info!(target: "prover::halo2", level = 1, group = index + 1, leaves = group.len(), "tree: aggregating");
            subtrees.push(self.aggregate_subtree(group)?);
        }
        self.aggregate_subtrees(subtrees)
    }

    /// A tree's first level: one aggregation of at most `arity` leaves (padded with proofs of
    /// `[0, 0]`), kept in the Poseidon transcript so [`Self::aggregate_subtrees`] can aggregate
    /// it again. Independent of the other groups: a group can be aggregated as soon as its
    /// leaves are proved.
    ///
    /// # Errors
    /// No or too many leaves, a leaf of another backend, cancellation, or the prover failing.
    pub fn aggregate_subtree(&self, proofs: &[BatchProof]) -> ProverResult<Subtree> {
        let arity = self.config.arity;
        if proofs.is_empty() {
            return Err(ProverError::EmptyAggregation);
        }
        if proofs.len() > arity {
            return Err(ProverError::Failed {
                what: format!("a subtree of {} proofs", proofs.len()),
                reason: format!("a subtree holds at most {arity} (the arity)"),
            });
        }
        let what = format!("a first-level aggregation of {} leaves", proofs.len());
        self.check_cancelled(&what)?;
        let inner = self.prepare_aggregation()?;
        let (inputs, snarks) = self.leaf_snarks(proofs, arity)?;
        self.check_cancelled(&what)?;
        let started = Instant::now();
        let snark = self.on_aggregation_pool(|| {
            guarded(&what, || {
                let circuit = aggregation_circuit(
                    CircuitBuilderStage::Prover,
                    inner.config,
                    &inner.params,
                    snarks,
                    Some(inner.break_points.clone()),
                    false,
                );
                let instances = circuit.instances();
                let proof =
                    gen_proof_shplonk(&inner.params, &inner.pk, circuit, instances.clone(), None);
                Snark::new(inner.protocol.clone(), instances, proof)
            })
        })?;
        native::record_proof("subtree", started);
        info!(target: "prover::halo2", level = 1, seconds = started.elapsed().as_secs_f64(), "tree: subtree aggregated");
        Ok(Subtree { inputs, leaves: proofs.len(), snark })
    }

    /// A tree's top: one EVM-verifiable aggregation of at most `arity` subtrees (in order;
    /// fewer are padded with a subtree of padding leaves, made once per backend). Its inputs
    /// are the subtrees' leaves' inputs, in order.
    ///
    /// # Errors
    /// No or too many subtrees, cancellation, or the prover failing.
    pub fn aggregate_subtrees(&self, mut subtrees: Vec<Subtree>) -> ProverResult<AggregatedProof> {
        let arity = self.config.arity;
        if subtrees.is_empty() {
            return Err(ProverError::EmptyAggregation);
        }
        if subtrees.len() > arity {
            return Err(ProverError::Failed {
                what: format!("a tree of {} subtrees", subtrees.len()),
                reason: format!("a two-level tree takes at most {arity} (the arity)"),
            });
        }
        // The leaves' inputs must read as L1 reads them: every leaf, then padding at the end
        // only. A subtree before the last must be full.
        if let Some(short) = subtrees[..subtrees.len() - 1].iter().position(|s| s.leaves < arity) {
            return Err(ProverError::Failed {
                what: format!("a tree of {} subtrees", subtrees.len()),
                reason: format!(
                    "subtree {} holds {} leaves and is not the last: padding would sit between leaves",
                    short + 1,
                    subtrees[short].leaves
                ),
            });
        }
        let top = self.prepare_tree()?;
        if subtrees.len() < arity {
            let padding = self.padding_subtree()?;
            subtrees.resize(arity, padding);
        }
        let inputs: Vec<BatchPublicInput> =
            subtrees.iter().flat_map(|s| s.inputs.iter().copied()).collect();
        let what = format!("a tree over {} leaves", inputs.len());
        self.check_cancelled(&what)?;
        info!(target: "prover::halo2", level = 2, subtrees = subtrees.len(), "tree: aggregating the subtrees");
        let started = Instant::now();
        let snarks: Vec<Snark> = subtrees.into_iter().map(|s| s.snark).collect();
        let (instances, proof) = self.on_aggregation_pool(|| {
            guarded(&what, || {
                let circuit = aggregation_circuit(
                    CircuitBuilderStage::Prover,
                    top.config,
                    &top.params,
                    snarks,
                    Some(top.break_points.clone()),
                    true,
                );
                let instances = circuit.instances();
                let proof = gen_evm_proof_shplonk(&top.params, &top.pk, circuit, instances.clone());
                (instances, proof)
            })
        })?;
        native::record_proof("tree", started);
        info!(target: "prover::halo2", level = 2, seconds = started.elapsed().as_secs_f64(), "tree: top aggregated");
        Ok(AggregatedProof {
            backend: BackendKind::Halo2,
            inputs,
            bytes: accumulator_and(&instances, &proof),
        })
    }

    /// A group as it travelled ([`Subtree::to_group`]) made a subtree again, its instances
    /// rebuilt from the inputs it names (padded to the arity) and its accumulator; returns it
    /// with the accumulator's limbs. Nothing is verified here ([`Self::verify_subtree`]).
    fn subtree_of(&self, group: &GroupProof) -> ProverResult<(Subtree, Vec<Fr>)> {
        let arity = self.config.arity;
        let what = format!("a group of {}", crate::describe_inputs(&group.inputs));
        let invalid = |reason: String| ProverError::Invalid {
            kind: BackendKind::Halo2,
            what: what.clone(),
            reason,
        };
        if group.backend != BackendKind::Halo2 {
            return Err(ProverError::WrongBackend {
                expected: BackendKind::Halo2,
                got: group.backend,
            });
        }
        if group.inputs.is_empty() || group.inputs.len() > arity {
            return Err(invalid(format!(
                "{} leaves; a group holds 1 to {arity}",
                group.inputs.len()
            )));
        }
        let (limbs, proof) = split_accumulator(&group.bytes).map_err(invalid)?;
        let mut instances = Vec::with_capacity(ACCUMULATOR_LIMBS + 2 * arity);
        instances.extend_from_slice(&limbs);
        let padding = Self::padding_input();
        let mut inputs = group.inputs.clone();
        inputs.resize(arity, padding);
        for input in &inputs {
            instances.extend(leaf_instances(input)?);
        }
        let keys = self.prepare_aggregation()?;
        let snark = Snark::new(keys.protocol.clone(), vec![instances], proof.to_vec());
        Ok((Subtree { inputs, leaves: group.inputs.len(), snark }, limbs))
    }

    /// Checks a subtree natively: its proof against the first level's verifying key, and its
    /// accumulator's pairing.
    fn verify_subtree(&self, subtree: &Subtree, limbs: &[Fr]) -> ProverResult<()> {
        let what =
            format!("a group of {}", crate::describe_inputs(&subtree.inputs[..subtree.leaves]));
        let keys = self.prepare_aggregation()?;
        let instances = subtree.snark.instances.first().map(Vec::as_slice).unwrap_or_default();
        native::verify_poseidon_proof(
            &keys.params,
            keys.pk.get_vk(),
            instances,
            &subtree.snark.proof,
            &what,
        )?;
        native::check_accumulator(&keys.params, limbs, &what)
    }

    /// [`ProofBackend::verify_group`].
    pub(super) fn verify_group_proof(&self, group: &GroupProof) -> ProverResult<()> {
        let (subtree, limbs) = self.subtree_of(group)?;
        self.verify_subtree(&subtree, &limbs)
    }

    /// [`ProofBackend::aggregate_groups`]: each group checked, then the top over them.
    pub(super) fn aggregate_group_proofs(
        &self,
        groups: &[GroupProof],
    ) -> ProverResult<AggregatedProof> {
        let mut subtrees = Vec::with_capacity(groups.len());
        for group in groups {
            let (subtree, limbs) = self.subtree_of(group)?;
            self.verify_subtree(&subtree, &limbs)?;
            subtrees.push(subtree);
        }
        self.aggregate_subtrees(subtrees)
    }

    /// The subtree of `arity` padding leaves, aggregated on first use and kept.
    fn padding_subtree(&self) -> ProverResult<Subtree> {
        if let Some(subtree) = self.padding_subtree.get() {
            return Ok(subtree.clone());
        }
        let padding = self.prove_batch(&Self::padding_input())?;
        let subtree = Subtree { leaves: 0, ..self.aggregate_subtree(&[padding])? };
        Ok(self.padding_subtree.get_or_init(|| subtree).clone())
    }
}
