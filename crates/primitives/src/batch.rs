//! Batch types and their hashes (DESIGN section 4).

use alloy_primitives::{B256, Bytes, U256, keccak256};
use alloy_sol_types::{SolValue, sol};

sol! {
    /// What a settlement layer keeps of a committed batch; contracts store
    /// `keccak256(abi.encode(StoredBatchInfo))`.
    #[derive(Debug, Default, PartialEq, Eq, Hash)]
    struct StoredBatchInfo {
        uint64 batchNumber;
        bytes32 stateCommitment;
        uint256 numberOfL1Txs;
        bytes32 priorityOpsHash;
        bytes32 dependencyRootsRollingHash;
        bytes32 l2LogsRoot;
        bytes32 commitment;
    }

    /// What an operator commits for a new batch.
    #[derive(Debug, Default, PartialEq, Eq, Hash)]
    struct CommitBatchInfo {
        uint64 batchNumber;
        bytes32 newStateCommitment;
        uint64 firstBlockTimestamp;
        uint64 lastBlockTimestamp;
        uint256 chainId;
        uint8 daScheme;
        bytes32 daCommitment;
        uint256 numberOfL1Txs;
        uint256 numberOfL2Txs;
        bytes32 priorityOpsHash;
        bytes32 l2LogsRoot;
        bytes32 dependencyRootsRollingHash;
        uint256 slChainId;
    }

    /// A chain batch a Gateway batch carries to L1: executed on the Gateway inside it, its leaf
    /// proof aggregated into the Gateway batch's proof. L1 recomputes `publicInput` from the
    /// chain's previous L1-final batch and `batch` and refuses a ref whose value differs.
    #[derive(Debug, Default, PartialEq, Eq, Hash)]
    struct ChainBatchRef {
        uint256 chainId;
        /// The batch as the chain committed it on the Gateway (L1 derives the stored info).
        CommitBatchInfo batch;
        uint256 publicInput;
    }

    /// What a Gateway batch carries to L1 besides its own batch.
    #[derive(Debug, Default, PartialEq, Eq)]
    struct GatewayCarry {
        /// The chain batches executed on the Gateway inside it, grouped by chain, each chain's
        /// consecutive and ascending.
        ChainBatchRef[] chainBatches;
        /// One per run of one chain in `chainBatches`: the batch before the run's first.
        StoredBatchInfo[] previous;
        /// The chains the Gateway's MessageRoot added to its shared tree inside it, in order.
        uint256[] chainsAdded;
        /// The Gateway's shared tree as L1 holds it before this batch (every chain in the
        /// order the Gateway added them, with its batch tree's root); L1 keeps only its hash.
        ChainRoot[] sharedTree;
        /// One per run of one chain in `chainBatches`: where the chain is in `sharedTree`
        /// (after the chains this batch adds) and the frontier of its batch tree as L1 holds it
        /// ([`crate::IncrementalTree::frontier`]), which L1 checks against the root there.
        ChainFrontier[] frontiers;
        /// Where each entry of `chainBatches` is among the aggregated proof's chain leaves
        /// (after the Gateway's own): two big-endian bytes each, a permutation; empty when the
        /// leaves are in `chainBatches`' order ([`crate::encode_leaf_order`]).
        bytes leafOrder;
    }

    /// A chain of the Gateway's shared tree and the root of its batch tree.
    #[derive(Debug, Default, PartialEq, Eq)]
    struct ChainRoot {
        uint64 chainId;
        bytes32 root;
    }

    /// Where a chain is in the shared tree, and the frontier of its batch tree.
    #[derive(Debug, Default, PartialEq, Eq)]
    struct ChainFrontier {
        uint256 treeIndex;
        bytes32[] nodes;
    }
}

/// How a batch's data is made available.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum DaScheme {
    /// Pubdata in EIP-4844 blobs on L1.
    RollupBlobs = 0,
    /// Pubdata as calldata.
    RollupCalldata = 1,
    /// Only a commitment to the data is published.
    Validium = 2,
}

impl DaScheme {
    /// The scheme with this `daScheme` byte, if any.
    pub const fn from_u8(value: u8) -> Option<Self> {
        match value {
            0 => Some(Self::RollupBlobs),
            1 => Some(Self::RollupCalldata),
            2 => Some(Self::Validium),
            _ => None,
        }
    }

    /// Whether the batch's pubdata itself is published (rollups), not only a commitment.
    pub const fn publishes_pubdata(self) -> bool {
        !matches!(self, Self::Validium)
    }

    /// The name operators use (`--settlement.da`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::RollupBlobs => "rollup-blobs",
            Self::RollupCalldata => "rollup-calldata",
            Self::Validium => "validium",
        }
    }
}

/// `keccak256(abi.encodePacked(chainId, firstBlockTimestamp, lastBlockTimestamp, daScheme,
/// daCommitment, numberOfL1Txs, numberOfL2Txs, priorityOpsHash, l2LogsRoot,
/// dependencyRootsRollingHash, slChainId))`: the batch's commitment.
pub fn batch_output_hash(batch: &CommitBatchInfo) -> B256 {
    let mut packed = Vec::with_capacity(32 * 8 + 8 * 2 + 1 + 32);
    packed.extend_from_slice(&batch.chainId.to_be_bytes::<32>());
    packed.extend_from_slice(&batch.firstBlockTimestamp.to_be_bytes());
    packed.extend_from_slice(&batch.lastBlockTimestamp.to_be_bytes());
    packed.push(batch.daScheme);
    packed.extend_from_slice(batch.daCommitment.as_slice());
    packed.extend_from_slice(&batch.numberOfL1Txs.to_be_bytes::<32>());
    packed.extend_from_slice(&batch.numberOfL2Txs.to_be_bytes::<32>());
    packed.extend_from_slice(batch.priorityOpsHash.as_slice());
    packed.extend_from_slice(batch.l2LogsRoot.as_slice());
    packed.extend_from_slice(batch.dependencyRootsRollingHash.as_slice());
    packed.extend_from_slice(&batch.slChainId.to_be_bytes::<32>());
    keccak256(packed)
}

impl CommitBatchInfo {
    /// The info a settlement layer stores once this batch is committed.
    pub fn to_stored(&self) -> StoredBatchInfo {
        StoredBatchInfo {
            batchNumber: self.batchNumber,
            stateCommitment: self.newStateCommitment,
            numberOfL1Txs: self.numberOfL1Txs,
            priorityOpsHash: self.priorityOpsHash,
            dependencyRootsRollingHash: self.dependencyRootsRollingHash,
            l2LogsRoot: self.l2LogsRoot,
            commitment: batch_output_hash(self),
        }
    }
}

/// `keccak256(abi.encodePacked(outputHash, keccak256(abi.encode(chainBatches))))`: a Gateway
/// batch's commitment, binding its own outputs (whose `l2LogsRoot` is the Gateway's shared
/// message root) to the chain batches it carries, in order.
pub fn gateway_commitment(output_hash: B256, chain_batches: &[ChainBatchRef]) -> B256 {
    let mut packed = [0u8; 64];
    packed[..32].copy_from_slice(output_hash.as_slice());
    packed[32..].copy_from_slice(keccak256(chain_batches.abi_encode()).as_slice());
    keccak256(packed)
}

/// `GatewayCarry.leafOrder` for `positions` (where each carried chain batch's leaf is among the
/// aggregated proof's chain leaves, in the order of `chainBatches`): two big-endian bytes each,
/// or empty when every batch is where it is carried (L1 then keeps the carried order). `None`
/// when a position does not fit two bytes.
pub fn encode_leaf_order(positions: &[usize]) -> Option<Bytes> {
    if positions.iter().enumerate().all(|(i, at)| i == *at) {
        return Some(Bytes::new());
    }
    let mut bytes = Vec::with_capacity(2 * positions.len());
    for at in positions {
        bytes.extend_from_slice(&u16::try_from(*at).ok()?.to_be_bytes());
    }
    Some(bytes.into())
}

/// `keccak256(abi.encode(info))`: what contracts store per batch.
pub fn stored_batch_hash(info: &StoredBatchInfo) -> B256 {
    keccak256(info.abi_encode())
}

/// `uint256(keccak256(prevStateCommitment ‖ stateCommitment ‖ commitment)) >> 32`: the proof's
/// public input for a batch (224 bits, so it fits a BN254 field element).
pub fn public_input(prev_state_commitment: B256, state_commitment: B256, commitment: B256) -> U256 {
    let mut packed = [0u8; 96];
    packed[..32].copy_from_slice(prev_state_commitment.as_slice());
    packed[32..64].copy_from_slice(state_commitment.as_slice());
    packed[64..].copy_from_slice(commitment.as_slice());
    U256::from_be_bytes(keccak256(packed).0) >> 32
}

/// A leaf of a chain's batch tree: `keccak256(abi.encodePacked(uint64 batchNumber, batchRoot))`,
/// a 40-byte preimage (an inner node hashes 65).
pub fn batch_leaf(batch_number: u64, batch_root: B256) -> B256 {
    number_leaf(batch_number, batch_root)
}

/// A leaf of the shared tree over chains: `keccak256(abi.encodePacked(uint64 chainId,
/// chainRoot))`, a 40-byte preimage.
pub fn chain_leaf(chain_id: u64, chain_root: B256) -> B256 {
    number_leaf(chain_id, chain_root)
}

fn number_leaf(number: u64, root: B256) -> B256 {
    let mut packed = [0u8; 40];
    packed[..8].copy_from_slice(&number.to_be_bytes());
    packed[8..].copy_from_slice(root.as_slice());
    keccak256(packed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_input_fits_224_bits() {
        let input = public_input(B256::repeat_byte(0xff), B256::repeat_byte(0xee), B256::ZERO);
        assert!(input < U256::from(1) << 224);
        assert_ne!(input, U256::ZERO);
    }

    #[test]
    fn sl_chain_id_is_inside_the_commitment() {
        let mut batch = CommitBatchInfo {
            chainId: U256::from(270),
            slChainId: U256::from(1),
            ..Default::default()
        };
        let on_l1 = batch_output_hash(&batch);
        batch.slChainId = U256::from(506);
        assert_ne!(on_l1, batch_output_hash(&batch));
    }

    #[test]
    fn the_gateway_commitment_binds_every_chain_batch_in_order() {
        let output = B256::repeat_byte(7);
        let a = ChainBatchRef {
            chainId: U256::from(270),
            batch: CommitBatchInfo { batchNumber: 1, ..Default::default() },
            publicInput: U256::from(5),
        };
        let b = ChainBatchRef { chainId: U256::from(271), ..a.clone() };
        let both = gateway_commitment(output, &[a.clone(), b.clone()]);
        assert_ne!(both, gateway_commitment(output, &[b.clone(), a.clone()]));
        assert_ne!(both, gateway_commitment(output, std::slice::from_ref(&a)));
        let altered = ChainBatchRef { publicInput: U256::from(6), ..b.clone() };
        assert_ne!(both, gateway_commitment(output, &[a.clone(), altered]));
        let mut other_root = b;
        other_root.batch.l2LogsRoot = B256::repeat_byte(1);
        assert_ne!(both, gateway_commitment(output, &[a, other_root]));
        assert_ne!(gateway_commitment(output, &[]), output);
    }

    #[test]
    fn stored_info_carries_the_commitment() {
        let batch =
            CommitBatchInfo { batchNumber: 3, numberOfL1Txs: U256::from(2), ..Default::default() };
        let stored = batch.to_stored();
        assert_eq!(stored.batchNumber, 3);
        assert_eq!(stored.commitment, batch_output_hash(&batch));
        assert_ne!(stored_batch_hash(&stored), stored_batch_hash(&StoredBatchInfo::default()));
    }
}
