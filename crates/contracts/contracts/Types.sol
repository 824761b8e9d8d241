// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity 0.8.30;

import {Merkle} from "./Merkle.sol";

/// @notice What a settlement layer keeps of a committed batch; contracts store
/// keccak256(abi.encode(StoredBatchInfo)).
struct StoredBatchInfo {
    uint64 batchNumber;
    bytes32 stateCommitment;
    uint256 numberOfL1Txs;
    bytes32 priorityOpsHash;
    bytes32 dependencyRootsRollingHash;
    bytes32 l2LogsRoot;
    bytes32 commitment;
}

/// @notice What an operator commits for a new batch.
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

/// @notice An interop root a chain imported: the root its settlement layer's MessageRoot had at
/// the end of `gatewayBlock`.
struct InteropRootRef {
    uint256 gatewayBlock;
    bytes32 root;
}

/// @notice A chain batch a Gateway batch carries to L1: executed on the Gateway inside it, its
/// leaf proof aggregated into the Gateway batch's proof.
/// @dev L1 recomputes `publicInput` from the chain's previous L1-final batch and `batch`, and
/// refuses a ref whose carried value differs (the value is carried only so that the refusal
/// names the batch instead of failing the whole proof).
struct ChainBatchRef {
    uint256 chainId;
    /// @notice The batch as the chain committed it on the Gateway: L1 derives what the chain's
    /// executor stored from it (its commitment is the batch output hash over every field), so
    /// no field the proof does not cover can be swapped.
    CommitBatchInfo batch;
    uint256 publicInput;
}

/// @notice What a Gateway batch carries to L1 besides its own batch.
struct GatewayCarry {
    /// @notice The chain batches executed on the Gateway inside it, grouped by chain, each
    /// chain's consecutive and ascending.
    ChainBatchRef[] chainBatches;
    /// @notice One per run of one chain in `chainBatches`, in order: that chain's last L1-final
    /// batch (or the batch it was handed over to the Gateway after), as L1 holds its hash.
    StoredBatchInfo[] previous;
    /// @notice The chains the Gateway's MessageRoot added to its shared tree inside this batch,
    /// in the order it added them.
    uint256[] chainsAdded;
    /// @notice The Gateway's shared tree as L1 holds it before this batch: every chain in it,
    /// in the order the Gateway added them, with the root of its batch tree. L1 keeps only a
    /// hash of it (`GatewayExecutor.sharedTreeHash`) and checks this against it.
    ChainRoot[] sharedTree;
    /// @notice One per run of one chain in `chainBatches`, in order: where the chain is in
    /// `sharedTree` (after the chains this batch adds) and the frontier of its batch tree,
    /// which L1 checks against the root there before appending the run's batch roots.
    ChainFrontier[] frontiers;
    /// @notice Where each carried chain batch's leaf is in the aggregated proof, after the
    /// Gateway's own: two bytes per entry of `chainBatches` (big-endian), a permutation of
    /// `0..chainBatches.length`; empty when the leaves are in `chainBatches`' order. The Gateway
    /// places leaves in the order their batches executed on it (a position fixed as soon as a
    /// batch executes, so a group of leaves is aggregated before the Gateway batch is sealed),
    /// while `chainBatches` is grouped by chain for L1's checks.
    bytes leafOrder;
}

/// @notice A chain of the Gateway's shared tree and the root of its batch tree.
struct ChainRoot {
    uint64 chainId;
    bytes32 root;
}

/// @notice Where a chain is in the shared tree, and the frontier of its batch tree
/// (`Merkle.branchOf`: the nodes at the set bits of its leaf count, lowest first).
struct ChainFrontier {
    uint256 treeIndex;
    bytes32[] nodes;
}

/// @notice The hashes both the contracts and the Rust side compute (DESIGN section 4).
library Commitments {
    /// @notice keccak of the packed batch outputs; slChainId is inside, so a batch built for one
    /// settlement layer can never be committed on another.
    function batchOutputHash(CommitBatchInfo memory b) internal pure returns (bytes32) {
        return keccak256(
            abi.encodePacked(
                b.chainId,
                b.firstBlockTimestamp,
                b.lastBlockTimestamp,
                b.daScheme,
                b.daCommitment,
                b.numberOfL1Txs,
                b.numberOfL2Txs,
                b.priorityOpsHash,
                b.l2LogsRoot,
                b.dependencyRootsRollingHash,
                b.slChainId
            )
        );
    }

    /// @notice A Gateway batch's commitment: its own outputs (whose `l2LogsRoot` is the shared
    /// message root) bound to the chain batches it carries, in order.
    function gatewayCommitment(bytes32 outputHash, ChainBatchRef[] calldata chainBatches)
        internal
        pure
        returns (bytes32)
    {
        // keccak256(abi.encode(chainBatches)), hashed from the calldata as it is (the refs are
        // static structs: CHAIN_BATCH_REF_BYTES each, contiguous) instead of re-encoded field by
        // field. This relies on GatewayExecutor checking every ref whole (`batchOutputHashOf`
        // refuses a field with dirty bits, as ABI decoding does); and dirty bytes could only
        // change this hash, which the proof must then match. Callers outside settleBatch (the
        // view below) get no such check.
        bytes32 refsHash;
        assembly ("memory-safe") {
            let p := mload(0x40)
            let size := mul(chainBatches.length, CHAIN_BATCH_REF_BYTES)
            mstore(p, 0x20)
            mstore(add(p, 0x20), chainBatches.length)
            calldatacopy(add(p, 0x40), chainBatches.offset, size)
            refsHash := keccak256(p, add(size, 0x40))
        }
        return keccak256(abi.encodePacked(outputHash, refsHash));
    }

    /// @notice Thrown when a narrow field of a batch in calldata has bits above its type (ABI
    /// decoding refuses the same).
    error DirtyField();

    /// @notice `batchOutputHash` of a batch in calldata, hashed from its words where they lie
    /// instead of from a decoded copy. Checks its narrow fields (`batchNumber`, the
    /// timestamps, `daScheme`) as ABI decoding does: a field with bits above its type reverts
    /// `DirtyField`, so a batch hashed here reads the same to every other decoder.
    function batchOutputHashOf(CommitBatchInfo calldata b) internal pure returns (bytes32 hash) {
        bool dirty;
        assembly ("memory-safe") {
            let first := calldataload(add(b, 0x40))
            let last := calldataload(add(b, 0x60))
            let da := calldataload(add(b, 0xa0))
            dirty := or(
                or(gt(calldataload(b), 0xffffffffffffffff), gt(first, 0xffffffffffffffff)),
                or(gt(last, 0xffffffffffffffff), gt(da, 0xff))
            )
            // chainId ‖ firstBlockTimestamp (8) ‖ lastBlockTimestamp (8) ‖ daScheme (1) ‖ the
            // seven words from daCommitment to slChainId, as they lie: 273 bytes, past the free
            // memory pointer (nothing allocated).
            let p := mload(0x40)
            mstore(p, calldataload(add(b, 0x80)))
            mstore(add(p, 0x20), shl(192, first))
            mstore(add(p, 0x28), shl(192, last))
            mstore(add(p, 0x30), shl(248, da))
            calldatacopy(add(p, 0x31), add(b, 0xc0), 0xe0)
            hash := keccak256(p, 0x111)
        }
        if (dirty) revert DirtyField();
    }

    /// @notice `storedBatchHash` of what a chain's executor stores for batch `b` in calldata,
    /// whose output hash is `commitment` (`batchOutputHashOf`, which has checked its fields).
    function storedHashOf(CommitBatchInfo calldata b, bytes32 commitment) internal pure returns (bytes32 hash) {
        assembly ("memory-safe") {
            let p := mload(0x40)
            mstore(p, calldataload(b)) // batchNumber
            mstore(add(p, 0x20), calldataload(add(b, 0x20))) // stateCommitment
            mstore(add(p, 0x40), calldataload(add(b, 0xe0))) // numberOfL1Txs
            mstore(add(p, 0x60), calldataload(add(b, 0x120))) // priorityOpsHash
            mstore(add(p, 0x80), calldataload(add(b, 0x160))) // dependencyRootsRollingHash
            mstore(add(p, 0xa0), calldataload(add(b, 0x140))) // l2LogsRoot
            mstore(add(p, 0xc0), commitment)
            hash := keccak256(p, 0xe0)
        }
    }

    /// @notice `storedBatchHash` of a stored batch in calldata, hashed from its words where they
    /// lie; its `batchNumber` checked as ABI decoding does (`DirtyField`).
    function storedBatchHashOf(StoredBatchInfo calldata b) internal pure returns (bytes32 hash) {
        bool dirty;
        assembly ("memory-safe") {
            dirty := gt(calldataload(b), 0xffffffffffffffff)
            let p := mload(0x40)
            calldatacopy(p, b, 0xe0)
            hash := keccak256(p, 0xe0)
        }
        if (dirty) revert DirtyField();
    }

    /// @notice The ABI size of a `ChainBatchRef`: its chain id, the 13 words of its
    /// `CommitBatchInfo` and its public input (15 words).
    uint256 internal constant CHAIN_BATCH_REF_BYTES = 480;

    /// @notice The hash a settlement layer stores for a batch.
    function storedBatchHash(StoredBatchInfo memory b) internal pure returns (bytes32) {
        return keccak256(abi.encode(b));
    }

    /// @notice The proof's public input for a batch: 224 bits, so it fits a BN254 field element.
    /// keccak256(abi.encodePacked(...)) >> 32, hashed past the free memory pointer without
    /// allocating the preimage.
    function publicInput(bytes32 prevStateCommitment, bytes32 stateCommitment, bytes32 commitment)
        internal
        pure
        returns (uint256 input)
    {
        assembly ("memory-safe") {
            let p := mload(0x40)
            mstore(p, prevStateCommitment)
            mstore(add(p, 0x20), stateCommitment)
            mstore(add(p, 0x40), commitment)
            input := shr(32, keccak256(p, 0x60))
        }
    }

    /// @notice A leaf of a chain's batch tree in MessageRoot: a 40-byte preimage, never an inner
    /// node's (Merkle.nodeOf hashes 65 bytes).
    function batchLeaf(uint64 batchNumber, bytes32 batchRoot) internal pure returns (bytes32) {
        return packedHash(batchNumber, batchRoot);
    }

    /// @notice keccak256(abi.encodePacked(a, b)), hashed past the free memory pointer without
    /// allocating the preimage.
    function packedHash(uint64 a, bytes32 b) internal pure returns (bytes32 hash) {
        assembly ("memory-safe") {
            let p := mload(0x40)
            mstore(p, shl(192, a))
            mstore(add(p, 0x08), b)
            hash := keccak256(p, 0x28)
        }
    }

    /// @notice A leaf of the shared tree over chains in MessageRoot (40-byte preimage).
    function chainLeaf(uint64 chainId, bytes32 chainRoot) internal pure returns (bytes32) {
        return packedHash(chainId, chainRoot);
    }

    /// @notice The shared message root over the chains of `tree`, two words per chain (its id,
    /// the root of its batch tree; GatewayExecutor's in-memory shared tree): `Merkle.rootOf`
    /// over their `chainLeaf`s (MerkleHarness checks it against the Rust side), without
    /// allocating them: each leaf is hashed straight into the bottom level that
    /// `Merkle.levelRoot` hashes, in the free memory, which stays unallocated.
    function sharedRootOf(bytes32[] memory tree) internal pure returns (bytes32) {
        uint256 n = tree.length / 2;
        uint256 width = uint256(1) << Merkle.depthFor(n);
        uint256 level;
        assembly ("memory-safe") {
            // The bottom level past the free memory pointer (see `Merkle.levelRoot`), and the
            // scratch for each chain leaf's preimage after it.
            level := mload(0x40)
            let scratch := add(level, shl(5, width))
            let entry := add(tree, 0x20)
            for { let i := 0 } lt(i, n) { i := add(i, 1) } {
                // chainLeaf: keccak256(abi.encodePacked(uint64(id), root)), 40 bytes.
                mstore(scratch, shl(192, mload(entry)))
                mstore(add(scratch, 0x08), mload(add(entry, 0x20)))
                mstore(add(level, shl(5, i)), keccak256(scratch, 0x28))
                entry := add(entry, 0x40)
            }
            // Missing leaves are zero (the free memory may hold anything).
            for { let i := n } lt(i, width) { i := add(i, 1) } {
                mstore(add(level, shl(5, i)), 0)
            }
        }
        return Merkle.levelRoot(level, width);
    }

    /// @notice Thrown when a chain id or batch number does not fit 64 bits.
    error NotUint64(uint256 value);

    /// @notice `value` as a uint64; reverts `NotUint64` when it does not fit.
    function toUint64(uint256 value) internal pure returns (uint64) {
        if (value > type(uint64).max) revert NotUint64(value);
        return uint64(value);
    }
}
