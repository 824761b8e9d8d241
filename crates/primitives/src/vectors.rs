//! Fixed test vectors of this crate's hashes and Merkle trees, committed in
//! `testdata/vectors.json` and checked on both sides: by this crate's unit tests against the
//! Rust code, and by the end-to-end contract tests against the deployed Solidity. Where both
//! pass, Rust and Solidity agree on every vector.
//!
//! Regenerate the file (only when a hash is meant to change) with
//! `REGENERATE_TEST_VECTORS=1 cargo test -p gateway-primitives vectors`.

use alloy_primitives::{B256, U256, hex};
use alloy_sol_types::SolValue;
use serde_json::{Value, json};

use crate::{
    CommitBatchInfo, batch_leaf, batch_output_hash, chain_leaf, merkle_proof, merkle_root,
    public_input, stored_batch_hash,
};

/// The committed vectors file.
pub const VECTORS_JSON: &str = include_str!("../testdata/vectors.json");

/// A tree, its root and one leaf's proof.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MerkleVector {
    /// The leaves, in order.
    pub leaves: Vec<B256>,
    /// `merkle_root(leaves)`.
    pub root: B256,
    /// The proven leaf's index (0 for an empty tree, which has no proof).
    pub index: usize,
    /// `merkle_proof(leaves, index)`; empty for an empty tree.
    pub proof: Vec<B256>,
}

/// A committed batch and its hashes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchVector {
    /// The batch as an operator commits it.
    pub batch: CommitBatchInfo,
    /// `batch_output_hash(batch)`.
    pub batch_output_hash: B256,
    /// `stored_batch_hash(batch.to_stored())`.
    pub stored_batch_hash: B256,
}

/// A proof's public input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicInputVector {
    /// The previous batch's state commitment.
    pub prev_state_commitment: B256,
    /// The batch's state commitment.
    pub state_commitment: B256,
    /// The batch's commitment.
    pub commitment: B256,
    /// `public_input(..)` of the three.
    pub public_input: U256,
}

/// A chain's batch leaf and chain leaf in the message-root trees.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeafVector {
    /// The chain.
    pub chain_id: u64,
    /// The batch.
    pub batch_number: u64,
    /// The batch's (or chain's) root.
    pub root: B256,
    /// `batch_leaf(batch_number, root)`.
    pub batch_leaf: B256,
    /// `chain_leaf(chain_id, root)`.
    pub chain_leaf: B256,
}

/// Every vector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vectors {
    /// Merkle trees of 0 to 33 leaves.
    pub merkle: Vec<MerkleVector>,
    /// Batches: all zero, all ones, and random ones.
    pub batches: Vec<BatchVector>,
    /// Public inputs, including ones whose hash exceeds the BN254 field.
    pub public_inputs: Vec<PublicInputVector>,
    /// Batch and chain leaves.
    pub leaves: Vec<LeafVector>,
}

/// Why the vectors file does not parse.
#[derive(Debug, thiserror::Error)]
#[error("test vectors: {0}")]
pub struct VectorsError(String);

/// The committed vectors.
pub fn load() -> Result<Vectors, VectorsError> {
    let file: Value =
        serde_json::from_str(VECTORS_JSON).map_err(|e| VectorsError(e.to_string()))?;
    let list = |key: &str| {
        file[key].as_array().cloned().ok_or_else(|| VectorsError(format!("no array {key}")))
    };
    let merkle = list("merkle")?
        .iter()
        .map(|v| {
            Ok(MerkleVector {
                leaves: words(&v["leaves"])?,
                root: word(&v["root"])?,
                index: v["index"].as_u64().ok_or_else(|| VectorsError("index".into()))? as usize,
                proof: words(&v["proof"])?,
            })
        })
        .collect::<Result<_, VectorsError>>()?;
    let batches = list("batches")?
        .iter()
        .map(|v| {
            let encoded = hex::decode(v["abiEncoded"].as_str().unwrap_or_default())
                .map_err(|e| VectorsError(format!("abiEncoded: {e}")))?;
            Ok(BatchVector {
                batch: CommitBatchInfo::abi_decode(&encoded)
                    .map_err(|e| VectorsError(format!("abiEncoded: {e}")))?,
                batch_output_hash: word(&v["batchOutputHash"])?,
                stored_batch_hash: word(&v["storedBatchHash"])?,
            })
        })
        .collect::<Result<_, VectorsError>>()?;
    let public_inputs = list("publicInputs")?
        .iter()
        .map(|v| {
            Ok(PublicInputVector {
                prev_state_commitment: word(&v["prevStateCommitment"])?,
                state_commitment: word(&v["stateCommitment"])?,
                commitment: word(&v["commitment"])?,
                public_input: U256::from_be_bytes(word(&v["publicInput"])?.0),
            })
        })
        .collect::<Result<_, VectorsError>>()?;
    let leaves = list("leaves")?
        .iter()
        .map(|v| {
            Ok(LeafVector {
                chain_id: v["chainId"].as_u64().ok_or_else(|| VectorsError("chainId".into()))?,
                batch_number: v["batchNumber"]
                    .as_u64()
                    .ok_or_else(|| VectorsError("batchNumber".into()))?,
                root: word(&v["root"])?,
                batch_leaf: word(&v["batchLeaf"])?,
                chain_leaf: word(&v["chainLeaf"])?,
            })
        })
        .collect::<Result<_, VectorsError>>()?;
    Ok(Vectors { merkle, batches, public_inputs, leaves })
}

/// The vectors as this crate computes them today (deterministic).
pub fn generate() -> Vectors {
    let mut rng = SplitMix(0x7e57_0001);
    let merkle = [0usize, 1, 2, 3, 4, 5, 7, 8, 9, 16, 17, 33]
        .into_iter()
        .map(|count| {
            let leaves: Vec<B256> = (0..count).map(|_| rng.word()).collect();
            let index = if count == 0 { 0 } else { rng.next() as usize % count };
            let proof = merkle_proof(&leaves, index).unwrap_or_default();
            MerkleVector { root: merkle_root(&leaves), leaves, index, proof }
        })
        .collect();
    let ones = B256::repeat_byte(0xff);
    let mut batches = vec![
        CommitBatchInfo::default(),
        CommitBatchInfo {
            batchNumber: u64::MAX,
            newStateCommitment: ones,
            firstBlockTimestamp: u64::MAX,
            lastBlockTimestamp: u64::MAX,
            chainId: U256::MAX,
            daScheme: u8::MAX,
            daCommitment: ones,
            numberOfL1Txs: U256::MAX,
            numberOfL2Txs: U256::MAX,
            priorityOpsHash: ones,
            l2LogsRoot: ones,
            dependencyRootsRollingHash: ones,
            slChainId: U256::MAX,
        },
    ];
    for _ in 0..6 {
        batches.push(CommitBatchInfo {
            batchNumber: rng.next(),
            newStateCommitment: rng.word(),
            firstBlockTimestamp: rng.next(),
            lastBlockTimestamp: rng.next(),
            chainId: U256::from(rng.next()),
            daScheme: rng.next() as u8 % 3,
            daCommitment: rng.word(),
            numberOfL1Txs: U256::from(rng.next() % 1000),
            numberOfL2Txs: U256::from(rng.next() % 100_000),
            priorityOpsHash: rng.word(),
            l2LogsRoot: rng.word(),
            dependencyRootsRollingHash: rng.word(),
            slChainId: U256::from(rng.next()),
        });
    }
    let batches = batches
        .into_iter()
        .map(|batch| BatchVector {
            batch_output_hash: batch_output_hash(&batch),
            stored_batch_hash: stored_batch_hash(&batch.to_stored()),
            batch,
        })
        .collect();
    let mut triples = vec![(B256::ZERO, B256::ZERO, B256::ZERO), (ones, ones, ones)];
    triples.extend((0..6).map(|_| (rng.word(), rng.word(), rng.word())));
    let public_inputs = triples
        .into_iter()
        .map(|(prev, state, commitment)| PublicInputVector {
            prev_state_commitment: prev,
            state_commitment: state,
            commitment,
            public_input: public_input(prev, state, commitment),
        })
        .collect();
    let leaves = (0..6)
        .map(|i| {
            let (chain_id, batch_number) =
                if i == 0 { (0, 0) } else { (rng.next() % 100_000, rng.next() % 1_000_000) };
            let root = if i == 0 { B256::ZERO } else { rng.word() };
            LeafVector {
                chain_id,
                batch_number,
                root,
                batch_leaf: batch_leaf(batch_number, root),
                chain_leaf: chain_leaf(chain_id, root),
            }
        })
        .collect();
    Vectors { merkle, batches, public_inputs, leaves }
}

/// The vectors as the committed file holds them.
pub fn to_json(vectors: &Vectors) -> String {
    let merkle: Vec<Value> = vectors
        .merkle
        .iter()
        .map(|v| json!({"leaves": v.leaves, "root": v.root, "index": v.index, "proof": v.proof}))
        .collect();
    let batches: Vec<Value> = vectors
        .batches
        .iter()
        .map(|v| {
            json!({
                "abiEncoded": hex::encode_prefixed(v.batch.abi_encode()),
                "batchOutputHash": v.batch_output_hash,
                "storedBatchHash": v.stored_batch_hash,
            })
        })
        .collect();
    let public_inputs: Vec<Value> = vectors
        .public_inputs
        .iter()
        .map(|v| {
            json!({
                "prevStateCommitment": v.prev_state_commitment,
                "stateCommitment": v.state_commitment,
                "commitment": v.commitment,
                "publicInput": B256::from(v.public_input.to_be_bytes()),
            })
        })
        .collect();
    let leaves: Vec<Value> = vectors
        .leaves
        .iter()
        .map(|v| {
            json!({
                "chainId": v.chain_id,
                "batchNumber": v.batch_number,
                "root": v.root,
                "batchLeaf": v.batch_leaf,
                "chainLeaf": v.chain_leaf,
            })
        })
        .collect();
    let file = json!({
        "about": "Shared Rust/Solidity test vectors; see crates/primitives/src/vectors.rs",
        "merkle": merkle,
        "batches": batches,
        "publicInputs": public_inputs,
        "leaves": leaves,
    });
    let mut text = serde_json::to_string_pretty(&file).unwrap_or_default();
    text.push('\n');
    text
}

fn word(value: &Value) -> Result<B256, VectorsError> {
    value
        .as_str()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| VectorsError(format!("not a 32-byte hex word: {value}")))
}

fn words(value: &Value) -> Result<Vec<B256>, VectorsError> {
    value
        .as_array()
        .ok_or_else(|| VectorsError(format!("not a list: {value}")))?
        .iter()
        .map(word)
        .collect()
}

/// splitmix64: a fixed pseudo-random sequence from a seed, for the vectors' inputs and the
/// tests' random cases (reproducible from the seed).
#[derive(Debug, Clone)]
pub struct SplitMix(pub u64);

impl SplitMix {
    /// The next number.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// The next 32 bytes.
    pub fn word(&mut self) -> B256 {
        let mut bytes = [0u8; 32];
        for chunk in bytes.chunks_mut(8) {
            chunk.copy_from_slice(&self.next().to_be_bytes());
        }
        B256::from(bytes)
    }

    /// The next 256-bit number.
    pub fn u256(&mut self) -> U256 {
        U256::from_be_bytes(self.word().0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify_merkle_proof;

    #[test]
    fn the_committed_vectors_match_the_rust_code() {
        let computed = generate();
        if std::env::var_os("REGENERATE_TEST_VECTORS").is_some() {
            let path = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/vectors.json");
            std::fs::write(path, to_json(&computed)).unwrap();
            return;
        }
        let committed = load().unwrap();
        // Each vector on its own, so a failure names what changed.
        for v in &committed.merkle {
            assert_eq!(merkle_root(&v.leaves), v.root, "root of {} leaves", v.leaves.len());
            if !v.leaves.is_empty() {
                assert_eq!(merkle_proof(&v.leaves, v.index).unwrap(), v.proof);
                assert!(verify_merkle_proof(v.root, v.leaves[v.index], v.index, &v.proof));
            }
        }
        for v in &committed.batches {
            assert_eq!(batch_output_hash(&v.batch), v.batch_output_hash, "{:?}", v.batch);
            assert_eq!(stored_batch_hash(&v.batch.to_stored()), v.stored_batch_hash);
        }
        for v in &committed.public_inputs {
            assert_eq!(
                public_input(v.prev_state_commitment, v.state_commitment, v.commitment),
                v.public_input
            );
        }
        for v in &committed.leaves {
            assert_eq!(batch_leaf(v.batch_number, v.root), v.batch_leaf);
            assert_eq!(chain_leaf(v.chain_id, v.root), v.chain_leaf);
        }
        assert_eq!(committed, computed, "the file holds exactly the generated cases");
        assert_eq!(to_json(&committed), VECTORS_JSON, "the file is in its canonical form");
    }
}
