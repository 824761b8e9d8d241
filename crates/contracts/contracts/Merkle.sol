// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity 0.8.30;

/// @notice Keccak binary Merkle trees, as the Rust side computes them.
/// @dev For n leaves the tree has depth d = max(1, ceil(log2 n)); missing leaves are bytes32(0)
/// and an inner node is keccak256(0x01 ‖ left ‖ right): a 65-byte preimage, which no leaf's
/// preimage has (a message leaf hashes at least 116 bytes, a batch or chain leaf 40), so a node
/// can never be passed off as a leaf or the other way round. The root of no leaf is
/// nodeOf(0, 0).
library Merkle {
    uint256 internal constant MAX_DEPTH = 32;

    /// @notice An append-only tree that keeps one node per level.
    struct Tree {
        uint256 count;
        bytes32[MAX_DEPTH] branch;
    }

    error TreeFull();
    /// @notice A frontier without exactly one node per set bit of its tree's leaf count.
    error FrontierLengthMismatch(uint256 count, uint256 frontierLength);

    /// @notice The inner node over `left` and `right`.
    function nodeOf(bytes32 left, bytes32 right) internal pure returns (bytes32 node) {
        // keccak256(abi.encodePacked(bytes1(0x01), left, right)), hashed in the free memory past
        // the free memory pointer instead of allocating a new preimage for every node.
        assembly ("memory-safe") {
            let p := mload(0x40)
            mstore(p, shl(248, 0x01))
            mstore(add(p, 0x01), left)
            mstore(add(p, 0x21), right)
            node := keccak256(p, 0x41)
        }
    }

    /// @notice Appends a leaf; O(log n).
    function push(Tree storage tree, bytes32 leaf) internal {
        uint256 size = tree.count + 1;
        if (size > (uint256(1) << MAX_DEPTH) - 1) revert TreeFull();
        tree.count = size;
        bytes32 node = leaf;
        for (uint256 h = 0; h < MAX_DEPTH; ++h) {
            if (size & 1 == 1) {
                tree.branch[h] = node;
                return;
            }
            node = nodeOf(tree.branch[h], node);
            size >>= 1;
        }
    }

    /// @notice The root over the leaves pushed so far.
    function root(Tree storage tree) internal view returns (bytes32 node) {
        uint256 count = tree.count;
        uint256 depth = depthFor(count);
        // A full tree's root is the node push stored one level above the leaves' levels.
        if (count == uint256(1) << depth) return tree.branch[depth];
        bytes32 zero = bytes32(0);
        uint256 size = count;
        for (uint256 h = 0; h < depth; ++h) {
            if (size & 1 == 1) {
                node = nodeOf(tree.branch[h], node);
            } else {
                node = nodeOf(node, zero);
            }
            zero = nodeOf(zero, zero);
            size >>= 1;
        }
    }

    /// @notice The branch of an append-only tree of `count` leaves, in memory, from its
    /// frontier: the nodes `push` keeps at the set bits of `count`, lowest bit first (the only
    /// ones its root and its next pushes read). Reverts `FrontierLengthMismatch` unless there is
    /// exactly one per set bit.
    function branchOf(bytes32[] calldata frontier, uint256 count)
        internal
        pure
        returns (bytes32[MAX_DEPTH] memory branch)
    {
        if (count >> MAX_DEPTH != 0) revert TreeFull();
        uint256 bits = 0;
        assembly ("memory-safe") {
            for { let rest := count } rest { rest := shr(1, rest) } {
                bits := add(bits, and(rest, 1))
            }
        }
        if (bits != frontier.length) revert FrontierLengthMismatch(count, frontier.length);
        // (In assembly: a loop of bounds-checked array accesses costs several times as much.)
        assembly ("memory-safe") {
            let from := frontier.offset
            for { let h := 0 } shr(h, count) { h := add(h, 1) } {
                if and(shr(h, count), 1) {
                    mstore(add(branch, shl(5, h)), calldataload(from))
                    from := add(from, 0x20)
                }
            }
        }
    }

    /// @notice `push` on a branch in memory whose leaf count is kept apart: appends `leaf` to
    /// the `count` leaves under `branch`; returns the new count.
    function pushIn(bytes32[MAX_DEPTH] memory branch, uint256 count, bytes32 leaf)
        internal
        pure
        returns (uint256 size)
    {
        size = count + 1;
        if (size > (uint256(1) << MAX_DEPTH) - 1) revert TreeFull();
        // As `push`, in assembly (hashing past the free memory pointer, as `nodeOf`): the
        // lowest set bit of `size` is below MAX_DEPTH, so the loop always stores the node.
        assembly ("memory-safe") {
            let p := mload(0x40)
            mstore(p, shl(248, 0x01))
            let node := leaf
            for { let h := 0 } lt(h, MAX_DEPTH) { h := add(h, 1) } {
                let at := add(branch, shl(5, h))
                if and(shr(h, size), 1) {
                    mstore(at, node)
                    break
                }
                mstore(add(p, 0x01), mload(at))
                mstore(add(p, 0x21), node)
                node := keccak256(p, 0x41)
            }
        }
    }

    /// @notice `root` of the `count` leaves under `branch` (see `pushIn`).
    function rootIn(bytes32[MAX_DEPTH] memory branch, uint256 count) internal pure returns (bytes32 node) {
        uint256 depth = depthFor(count);
        if (count == uint256(1) << depth) return branch[depth];
        // As `root`, in assembly (hashing past the free memory pointer, as `nodeOf`).
        assembly ("memory-safe") {
            let p := mload(0x40)
            mstore(p, shl(248, 0x01))
            let zero := 0
            for { let h := 0 } lt(h, depth) { h := add(h, 1) } {
                switch and(shr(h, count), 1)
                case 1 {
                    mstore(add(p, 0x01), mload(add(branch, shl(5, h))))
                    mstore(add(p, 0x21), node)
                }
                default {
                    mstore(add(p, 0x01), node)
                    mstore(add(p, 0x21), zero)
                }
                node := keccak256(p, 0x41)
                mstore(add(p, 0x01), zero)
                mstore(add(p, 0x21), zero)
                zero := keccak256(p, 0x41)
            }
        }
    }

    /// @notice The root over `leaves` (memory); the same tree as push and root.
    function rootOf(bytes32[] memory leaves) internal pure returns (bytes32) {
        uint256 n = leaves.length;
        uint256 width = uint256(1) << depthFor(n);
        uint256 level;
        assembly ("memory-safe") {
            // The bottom level past the free memory pointer (see `levelRoot`): the leaves, then
            // zeros for the missing ones (the free memory may hold anything).
            level := mload(0x40)
            mcopy(level, add(leaves, 0x20), shl(5, n))
            for { let i := n } lt(i, width) { i := add(i, 1) } {
                mstore(add(level, shl(5, i)), 0)
            }
        }
        return levelRoot(level, width);
    }

    /// @notice The root over the `width` nodes (a power of two) at memory `level`, hashed level
    /// by level in place: for a caller that wrote a tree's bottom level past the free memory
    /// pointer (not allocated: `level` and the 65 bytes after its `width` words are overwritten,
    /// and nothing is allocated between writing it and this call).
    function levelRoot(uint256 level, uint256 width) internal pure returns (bytes32 root_) {
        assembly ("memory-safe") {
            // The preimage of each node (nodeOf: 0x01 ‖ left ‖ right, 65 bytes) after the level.
            let scratch := add(level, shl(5, width))
            mstore(scratch, shl(248, 0x01))
            for {} gt(width, 1) {} {
                width := shr(1, width)
                for { let i := 0 } lt(i, width) { i := add(i, 1) } {
                    let pair := add(level, shl(6, i))
                    mstore(add(scratch, 0x01), mload(pair))
                    mstore(add(scratch, 0x21), mload(add(pair, 0x20)))
                    mstore(add(level, shl(5, i)), keccak256(scratch, 0x41))
                }
            }
            root_ := mload(level)
        }
    }

    /// @notice Checks a proof of `leaf` at `index` against `expectedRoot`.
    function verify(bytes32 expectedRoot, bytes32 leaf, uint256 index, bytes32[] memory proof)
        internal
        pure
        returns (bool)
    {
        bytes32 node = leaf;
        for (uint256 h = 0; h < proof.length; ++h) {
            if ((index >> h) & 1 == 1) {
                node = nodeOf(proof[h], node);
            } else {
                node = nodeOf(node, proof[h]);
            }
        }
        return index >> proof.length == 0 && node == expectedRoot;
    }

    /// @notice max(1, ceil(log2 count)).
    function depthFor(uint256 count) internal pure returns (uint256 depth) {
        // (At most 255: a count above 2^255 gets 255, as no tree holds that many leaves.)
        assembly ("memory-safe") {
            depth := 1
            for {} and(lt(shl(depth, 1), count), lt(depth, 255)) {} {
                depth := add(depth, 1)
            }
        }
    }
}
