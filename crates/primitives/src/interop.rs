//! Messages between chains and to L1, and their nested Merkle proofs.
//!
//! A chain's `L2Messenger` emits `MessageSent(address sender, bytes data)`; the message's
//! **leaf** is `keccak256(messenger ‖ abi.encode(sender, data))`, and a batch's `l2LogsRoot` is
//! the Merkle root over its messages' leaves in block and log order. When the batch executes on
//! its settlement layer, that layer's `MessageRoot` appends `keccak256(uint64 batchNumber ‖
//! l2LogsRoot)` to the chain's tree, and the **interop root** is the Merkle root over
//! `keccak256(uint64 chainId ‖ chainRoot)` of every chain there, in the order the chains were
//! added. Inner nodes are `keccak256(0x01 ‖ left ‖ right)` (see [`crate::merkle_node`]).
//!
//! A [`MessageProof`] climbs those three trees: message → batch root (`message_path`), batch
//! leaf → chain root (`batch_path`), chain leaf → interop root (`chain_path`). `root_id` names
//! the trusted root it ends at: a Gateway block whose root a chain imported
//! (`InteropRoots.interopRoot`), a Gateway batch on L1 (`GatewayExecutor.sharedRootOf`), or an
//! L1 block for chains settling on L1 (`MessageRoot.historicalRoot`). `MessageVerifier.sol`
//! checks the same proof on chain.
//!
//! A chain's batch also commits to the interop roots it imported:
//! `dependencyRootsRollingHash` = [`dependency_roots_rolling_hash`] over them, in order.

use alloy_primitives::{Address, B256, U256, keccak256};
use alloy_sol_types::SolValue;

use crate::{batch_leaf, chain_leaf};

/// The leaf of a message `data` sent by `sender` through `messenger`.
pub fn message_leaf(messenger: Address, sender: Address, data: &[u8]) -> B256 {
    let mut packed = messenger.to_vec();
    packed.extend_from_slice(&(sender, data.to_vec()).abi_encode_params());
    keccak256(packed)
}

/// The leaf of a `MessageSent` log: `keccak256(messenger ‖ log data)`.
pub fn message_leaf_of_log(messenger: Address, log_data: &[u8]) -> B256 {
    let mut packed = messenger.to_vec();
    packed.extend_from_slice(log_data);
    keccak256(packed)
}

/// `keccak256(acc ‖ uint256 gatewayBlock ‖ root)` folded over `roots` from zero: what a batch
/// that imported `roots` (in order) commits to as `dependencyRootsRollingHash`; zero when it
/// imported none.
pub fn dependency_roots_rolling_hash(roots: &[(u64, B256)]) -> B256 {
    roots.iter().fold(B256::ZERO, |acc, (block, root)| {
        let mut packed = [0u8; 96];
        packed[..32].copy_from_slice(acc.as_slice());
        packed[32..64].copy_from_slice(&U256::from(*block).to_be_bytes::<32>());
        packed[64..].copy_from_slice(root.as_slice());
        keccak256(packed)
    })
}

/// The nested proof of one message; see the module docs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MessageProof {
    /// Names the trusted root the proof ends at.
    pub root_id: u64,
    /// The message's index among its batch's messages.
    pub message_index: u64,
    /// Siblings from the message leaf up to the batch root.
    pub message_path: Vec<B256>,
    /// The batch's index in the chain's tree on its settlement layer.
    pub batch_index: u64,
    /// Siblings from the batch leaf up to the chain root.
    pub batch_path: Vec<B256>,
    /// The chain's index in the shared tree.
    pub chain_index: u64,
    /// Siblings from the chain leaf up to the interop root.
    pub chain_path: Vec<B256>,
}

/// Climbs `path` from `leaf` at `index`; `None` if `index` does not fit the path.
fn climb(leaf: B256, index: u64, path: &[B256]) -> Option<B256> {
    if path.len() >= 64 || index >> path.len() != 0 {
        return None;
    }
    let mut node = leaf;
    for (h, sibling) in path.iter().enumerate() {
        node = if (index >> h) & 1 == 1 {
            crate::merkle_node(sibling, &node)
        } else {
            crate::merkle_node(&node, sibling)
        };
    }
    Some(node)
}

impl MessageProof {
    /// The interop root the proof leads to from `message_leaf` (what `MessageVerifier.computeRoot`
    /// returns), or `None` when an index does not fit its path.
    pub fn compute_root(
        &self,
        src_chain_id: u64,
        batch_number: u64,
        message_leaf: B256,
    ) -> Option<B256> {
        let batch_root = climb(message_leaf, self.message_index, &self.message_path)?;
        let chain_root =
            climb(batch_leaf(batch_number, batch_root), self.batch_index, &self.batch_path)?;
        climb(chain_leaf(src_chain_id, chain_root), self.chain_index, &self.chain_path)
    }

    /// True when the proof leads from `message_leaf` to `root`.
    pub fn verify(
        &self,
        src_chain_id: u64,
        batch_number: u64,
        message_leaf: B256,
        root: B256,
    ) -> bool {
        self.compute_root(src_chain_id, batch_number, message_leaf) == Some(root)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{merkle_proof, merkle_root};

    #[test]
    fn a_built_proof_verifies_and_a_changed_one_does_not() {
        let messenger = Address::with_last_byte(0x80);
        let leaves: Vec<B256> = (0..5u8)
            .map(|i| message_leaf(messenger, Address::with_last_byte(i), &[i; 3]))
            .collect();
        let batch_root = merkle_root(&leaves);
        let batch_leaves = [B256::repeat_byte(9), batch_leaf(7, batch_root)];
        let chain_root = merkle_root(&batch_leaves);
        let chain_leaves = [
            chain_leaf(271, B256::repeat_byte(3)),
            chain_leaf(270, chain_root),
            B256::repeat_byte(4),
        ];
        let root = merkle_root(&chain_leaves);
        let proof = MessageProof {
            root_id: 42,
            message_index: 3,
            message_path: merkle_proof(&leaves, 3).unwrap(),
            batch_index: 1,
            batch_path: merkle_proof(&batch_leaves, 1).unwrap(),
            chain_index: 1,
            chain_path: merkle_proof(&chain_leaves, 1).unwrap(),
        };
        assert!(proof.verify(270, 7, leaves[3], root));
        assert!(!proof.verify(270, 7, leaves[2], root), "another message");
        assert!(!proof.verify(270, 8, leaves[3], root), "another batch number");
        assert!(!proof.verify(271, 7, leaves[3], root), "another chain");
        let wrong_index = MessageProof { message_index: 2, ..proof.clone() };
        assert!(!wrong_index.verify(270, 7, leaves[3], root));
        let out_of_range = MessageProof { chain_index: 4, ..proof };
        assert_eq!(out_of_range.compute_root(270, 7, leaves[3]), None);
    }

    #[test]
    fn the_log_leaf_is_the_message_leaf_and_no_imports_hash_to_zero() {
        let (messenger, sender) = (Address::with_last_byte(1), Address::with_last_byte(2));
        let data = b"withdraw 1 ETH".to_vec();
        let log_data = (sender, data.clone()).abi_encode_params();
        assert_eq!(
            message_leaf_of_log(messenger, &log_data),
            message_leaf(messenger, sender, &data)
        );
        assert_eq!(dependency_roots_rolling_hash(&[]), B256::ZERO);
        let one = dependency_roots_rolling_hash(&[(5, B256::repeat_byte(1))]);
        let two =
            dependency_roots_rolling_hash(&[(5, B256::repeat_byte(1)), (6, B256::repeat_byte(2))]);
        assert_ne!(one, B256::ZERO);
        assert_ne!(one, two);
    }
}
