//! [`MockBackend`]: instant proofs for protocol tests, accepted on chain only by `MockVerifier`.

use alloy_primitives::{Bytes, U256, keccak256};
use alloy_sol_types::SolValue;

use crate::{
    AggregatedProof, BackendKind, BatchProof, BatchPublicInput, GroupProof, ProofBackend,
    ProverError, ProverResult, check_input_width,
};

/// The first bytes of every mock proof, so a mock proof is never mistaken for a real one.
pub const MOCK_PROOF_MAGIC: &[u8; 8] = b"MOCKPRF1";
/// The first bytes of a mock group proof ([`MockBackend::with_tree_groups`]): a group is never
/// taken for a batch proof or an aggregation over the same inputs.
const MOCK_GROUP_MAGIC: &[u8; 8] = b"MOCKGRP1";

/// Proofs that are a keccak commitment to their inputs. Not zero-knowledge, not sound: only
/// `MockVerifier` accepts them, and only the mock-proof devnet deploys it.
///
/// [`MockBackend::default`] makes a tree as one piece of work;
/// [`MockBackend::with_tree_groups`] makes it group by group, like the halo2 backend (for
/// tests of how groups are spread over workers).
#[derive(Debug, Clone, Copy, Default)]
#[non_exhaustive]
pub struct MockBackend {
    tree_groups: Option<usize>,
}

fn commit(inputs: &[BatchPublicInput]) -> Bytes {
    commit_as(MOCK_PROOF_MAGIC, inputs)
}

fn commit_as(magic: &[u8; 8], inputs: &[BatchPublicInput]) -> Bytes {
    let encoded: Vec<(U256, U256, U256)> = inputs
        .iter()
        .map(|i| (U256::from(i.chain_id), U256::from(i.batch_number), i.value))
        .collect();
    let mut bytes = magic.to_vec();
    bytes.extend_from_slice(keccak256(encoded.abi_encode()).as_slice());
    Bytes::from(bytes)
}

impl MockBackend {
    /// A mock backend whose trees are made in groups of `leaves` leaves
    /// ([`ProofBackend::tree_group_size`]; at most `leaves` groups).
    pub fn with_tree_groups(leaves: usize) -> Self {
        Self { tree_groups: Some(leaves.max(1)) }
    }

    fn check(
        &self,
        backend: BackendKind,
        inputs: &[BatchPublicInput],
        bytes: &Bytes,
        what: String,
    ) -> ProverResult<()> {
        if backend != BackendKind::Mock {
            return Err(ProverError::WrongBackend { expected: BackendKind::Mock, got: backend });
        }
        if *bytes != commit(inputs) {
            return Err(ProverError::Invalid {
                kind: BackendKind::Mock,
                what,
                reason: "the proof does not commit to these inputs".into(),
            });
        }
        Ok(())
    }
}

impl ProofBackend for MockBackend {
    fn kind(&self) -> BackendKind {
        BackendKind::Mock
    }

    fn prove_batch(&self, input: &BatchPublicInput) -> ProverResult<BatchProof> {
        check_input_width(input.value)?;
        Ok(BatchProof {
            backend: BackendKind::Mock,
            input: *input,
            bytes: commit(std::slice::from_ref(input)),
        })
    }

    fn aggregate(&self, proofs: &[BatchProof]) -> ProverResult<AggregatedProof> {
        if proofs.is_empty() {
            return Err(ProverError::EmptyAggregation);
        }
        for proof in proofs {
            self.verify_batch(proof)?;
        }
        let inputs: Vec<_> = proofs.iter().map(|p| p.input).collect();
        let bytes = commit(&inputs);
        Ok(AggregatedProof { backend: BackendKind::Mock, inputs, bytes })
    }

    fn tree_group_size(&self) -> Option<usize> {
        self.tree_groups
    }

    fn aggregates_trees(&self) -> bool {
        self.tree_groups.is_some()
    }

    fn aggregate_group(&self, proofs: &[BatchProof]) -> ProverResult<GroupProof> {
        let Some(size) = self.tree_groups else {
            return Err(ProverError::Failed {
                what: format!("a group of {} proofs", proofs.len()),
                reason: "this mock backend makes trees in one piece".into(),
            });
        };
        if proofs.len() > size {
            return Err(ProverError::Failed {
                what: format!("a group of {} proofs", proofs.len()),
                reason: format!("a group holds at most {size}"),
            });
        }
        let aggregated = self.aggregate(proofs)?;
        let bytes = commit_as(MOCK_GROUP_MAGIC, &aggregated.inputs);
        Ok(GroupProof { backend: BackendKind::Mock, inputs: aggregated.inputs, bytes })
    }

    fn aggregate_groups(&self, groups: &[GroupProof]) -> ProverResult<AggregatedProof> {
        let Some(size) = self.tree_groups else {
            return Err(ProverError::Failed {
                what: format!("a tree of {} groups", groups.len()),
                reason: "this mock backend makes trees in one piece".into(),
            });
        };
        if groups.is_empty() {
            return Err(ProverError::EmptyAggregation);
        }
        if groups.len() > size {
            return Err(ProverError::Failed {
                what: format!("a tree of {} groups", groups.len()),
                reason: format!("a tree holds at most {size} groups"),
            });
        }
        // As the halo2 tree: padding only at the end, so every group but the last is full.
        if let Some(short) = groups[..groups.len() - 1].iter().position(|g| g.inputs.len() < size) {
            return Err(ProverError::Failed {
                what: format!("a tree of {} groups", groups.len()),
                reason: format!("group {} is not full and not the last", short + 1),
            });
        }
        let mut inputs = Vec::new();
        for group in groups {
            self.verify_group(group)?;
            inputs.extend_from_slice(&group.inputs);
        }
        let bytes = commit(&inputs);
        Ok(AggregatedProof { backend: BackendKind::Mock, inputs, bytes })
    }

    fn verify_group(&self, group: &GroupProof) -> ProverResult<()> {
        if group.backend != BackendKind::Mock {
            return Err(ProverError::WrongBackend {
                expected: BackendKind::Mock,
                got: group.backend,
            });
        }
        let size = self.tree_groups.unwrap_or(0);
        if group.inputs.is_empty()
            || group.inputs.len() > size
            || group.bytes != commit_as(MOCK_GROUP_MAGIC, &group.inputs)
        {
            return Err(ProverError::Invalid {
                kind: BackendKind::Mock,
                what: format!("a group of {} leaves", group.inputs.len()),
                reason: format!("not a group of at most {size} leaves committing to these inputs"),
            });
        }
        Ok(())
    }

    fn verify_batch(&self, proof: &BatchProof) -> ProverResult<()> {
        let what = format!("batch {} of chain {}", proof.input.batch_number, proof.input.chain_id);
        self.check(proof.backend, std::slice::from_ref(&proof.input), &proof.bytes, what)
    }

    fn verify_aggregated(&self, proof: &AggregatedProof) -> ProverResult<()> {
        let what = format!("an aggregation of {} batches", proof.inputs.len());
        self.check(proof.backend, &proof.inputs, &proof.bytes, what)
    }

    /// What `MockAggregatedVerifier` accepts: `MOCK_PROOF_MAGIC ‖
    /// keccak256(abi.encodePacked(chainId_1, input_1, chainId_2, input_2, ...))`.
    fn aggregated_calldata(&self, proof: &AggregatedProof) -> Bytes {
        let mut packed = Vec::with_capacity(64 * proof.inputs.len());
        for input in &proof.inputs {
            packed.extend_from_slice(&U256::from(input.chain_id).to_be_bytes::<32>());
            packed.extend_from_slice(&input.value.to_be_bytes::<32>());
        }
        let mut bytes = MOCK_PROOF_MAGIC.to_vec();
        bytes.extend_from_slice(keccak256(packed).as_slice());
        Bytes::from(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(batch: u64) -> BatchPublicInput {
        BatchPublicInput { chain_id: 270, batch_number: batch, value: U256::from(batch * 11) }
    }

    #[test]
    fn round_trip_and_aggregation_expose_inputs_in_order() {
        let backend = MockBackend::default();
        let proofs: Vec<_> = (1..=3).map(|b| backend.prove_batch(&input(b)).unwrap()).collect();
        for proof in &proofs {
            backend.verify_batch(proof).unwrap();
            assert!(proof.bytes.starts_with(MOCK_PROOF_MAGIC));
        }
        let aggregated = backend.aggregate(&proofs).unwrap();
        assert_eq!(aggregated.inputs, vec![input(1), input(2), input(3)]);
        backend.verify_aggregated(&aggregated).unwrap();
        // Without recursion a tree is a flat aggregation, bound the same way.
        let tree = backend.aggregate_tree(&proofs).unwrap();
        backend.verify_aggregated(&tree).unwrap();
        let mut reordered = tree;
        reordered.inputs.swap(0, 2);
        assert!(backend.verify_aggregated(&reordered).is_err(), "the order is bound");
    }

    #[test]
    fn a_tree_made_group_by_group_is_the_tree_and_binds_its_groups() {
        let backend = MockBackend::with_tree_groups(2);
        assert_eq!(backend.tree_group_size(), Some(2));
        assert_eq!(MockBackend::default().tree_group_size(), None);
        let proofs: Vec<_> = (1..=3).map(|b| backend.prove_batch(&input(b)).unwrap()).collect();
        let first = backend.aggregate_group(&proofs[..2]).unwrap();
        let last = backend.aggregate_group(&proofs[2..]).unwrap();
        backend.verify_group(&first).unwrap();
        let tree = backend.aggregate_groups(&[first.clone(), last.clone()]).unwrap();
        assert_eq!(tree, backend.aggregate_tree(&proofs).unwrap(), "the same proof either way");
        backend.verify_aggregated(&tree).unwrap();
        // A group is not an aggregation, nor a group of other inputs; a short group goes last.
        let as_aggregation = AggregatedProof {
            backend: BackendKind::Mock,
            inputs: first.inputs.clone(),
            bytes: first.bytes.clone(),
        };
        assert!(backend.verify_aggregated(&as_aggregation).is_err());
        let mut renamed = first.clone();
        renamed.inputs[1].chain_id = 271;
        assert!(matches!(backend.verify_group(&renamed), Err(ProverError::Invalid { .. })));
        assert!(backend.aggregate_groups(&[renamed, last.clone()]).is_err());
        assert!(backend.aggregate_groups(&[last.clone(), first.clone()]).is_err());
        assert!(backend.aggregate_groups(&[first.clone(), first, last]).is_err(), "3 groups of 2");
        assert!(backend.aggregate_group(&proofs).is_err(), "3 leaves in a group of 2");
        assert!(MockBackend::default().aggregate_group(&proofs[..1]).is_err());
    }

    #[test]
    fn a_tampered_proof_or_a_wrong_input_is_rejected() {
        let backend = MockBackend::default();
        let mut proof = backend.prove_batch(&input(1)).unwrap();
        let mut bytes = proof.bytes.to_vec();
        bytes[10] ^= 1;
        let tampered = BatchProof { bytes: bytes.into(), ..proof.clone() };
        assert!(matches!(backend.verify_batch(&tampered), Err(ProverError::Invalid { .. })));
        proof.input.value += U256::from(1);
        assert!(matches!(backend.verify_batch(&proof), Err(ProverError::Invalid { .. })));
        assert!(matches!(backend.aggregate(&[proof]), Err(ProverError::Invalid { .. })));
        assert!(matches!(backend.aggregate(&[]), Err(ProverError::EmptyAggregation)));
    }

    #[test]
    fn batch_proofs_come_back_out_of_prove_calldata() {
        let backend = MockBackend::default();
        let proofs: Vec<_> = (1..=3).map(|b| backend.prove_batch(&input(b)).unwrap()).collect();
        let calldata = backend.batches_calldata(&proofs);
        let back = crate::batch_proofs_from_calldata(&calldata).unwrap();
        assert_eq!(back, proofs.iter().map(|p| p.bytes.clone()).collect::<Vec<_>>());
        assert!(crate::batch_proofs_from_calldata(b"not abi").is_err());
    }

    #[test]
    fn inputs_wider_than_the_field_are_refused() {
        let wide = BatchPublicInput { value: U256::from(1) << 224, ..input(1) };
        assert!(matches!(
            MockBackend::default().prove_batch(&wide),
            Err(ProverError::InputTooWide(_))
        ));
    }
}
