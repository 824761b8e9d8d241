//! The settlement protocol's data: batches, their commitments, and keccak Merkle trees.
//!
//! Everything here is computed exactly as the Solidity contracts compute it (`Types.sol`,
//! `Merkle.sol`); the end-to-end tests check both sides against each other on random inputs.
//!
//! # Examples
//! ```
//! use alloy_primitives::B256;
//! use gateway_primitives::{merkle_proof, merkle_root, verify_merkle_proof};
//!
//! let leaves = [B256::repeat_byte(1), B256::repeat_byte(2), B256::repeat_byte(3)];
//! let root = merkle_root(&leaves);
//! let proof = merkle_proof(&leaves, 2).unwrap();
//! assert!(verify_merkle_proof(root, leaves[2], 2, &proof));
//! ```
#![cfg_attr(not(test), warn(unused_crate_dependencies))]

mod batch;
mod interop;
mod merkle;
#[cfg(any(test, feature = "test-vectors"))]
pub mod vectors;

pub use batch::{
    ChainBatchRef, ChainFrontier, ChainRoot, CommitBatchInfo, DaScheme, GatewayCarry,
    StoredBatchInfo, batch_leaf, batch_output_hash, chain_leaf, encode_leaf_order,
    gateway_commitment, public_input, stored_batch_hash,
};
pub use interop::{MessageProof, dependency_roots_rolling_hash, message_leaf, message_leaf_of_log};
pub use merkle::{
    IncrementalTree, NODE_PREFIX, merkle_depth, merkle_node, merkle_proof, merkle_root,
    verify_merkle_proof, zero_hashes,
};
