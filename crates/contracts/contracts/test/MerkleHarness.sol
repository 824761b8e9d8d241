// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity 0.8.30;

import {Merkle} from "../Merkle.sol";
import {Commitments} from "../Types.sol";

/// @notice Test-only: exposes Merkle so the Rust implementation can be checked against it.
contract MerkleHarness {
    using Merkle for Merkle.Tree;

    Merkle.Tree internal tree;

    /// @notice Root of `leaves` computed in memory.
    function rootOf(bytes32[] calldata leaves) external pure returns (bytes32) {
        return Merkle.rootOf(leaves);
    }

    /// @notice Root of `leaves` pushed one by one into a fresh storage tree (then cleared).
    function incrementalRootOf(bytes32[] calldata leaves) external returns (bytes32 root) {
        delete tree;
        for (uint256 i = 0; i < leaves.length; ++i) {
            tree.push(leaves[i]);
        }
        root = tree.root();
    }

    /// @notice Root of `leaves` pushed one by one with `pushIn` on a branch in memory (the
    /// count kept apart, as GatewayExecutor keeps it), read with `rootIn`; and the same root
    /// rebuilt from the frontier (`branchOf`), which is returned too.
    function countedRootOf(bytes32[] calldata leaves) external pure returns (bytes32 root, bytes32[] memory frontier) {
        bytes32[32] memory branch;
        uint256 count = 0;
        for (uint256 i = 0; i < leaves.length; ++i) {
            count = Merkle.pushIn(branch, count, leaves[i]);
        }
        root = Merkle.rootIn(branch, count);
        uint256 bits = 0;
        for (uint256 h = 0; count >> h != 0; ++h) {
            bits += (count >> h) & 1;
        }
        frontier = new bytes32[](bits);
        uint256 k = 0;
        for (uint256 h = 0; count >> h != 0; ++h) {
            if ((count >> h) & 1 == 1) frontier[k++] = branch[h];
        }
    }

    /// @notice The root of a tree of `count` leaves from its frontier (`branchOf`, `rootIn`).
    function frontierRootOf(bytes32[] calldata frontier, uint256 count) external pure returns (bytes32) {
        return Merkle.rootIn(Merkle.branchOf(frontier, count), count);
    }

    /// @notice Merkle.verify.
    function verify(bytes32 root, bytes32 leaf, uint256 index, bytes32[] calldata proof) external pure returns (bool) {
        return Merkle.verify(root, leaf, index, proof);
    }

    /// @notice A batch's leaf in its chain's tree, as MessageRoot computes it.
    function batchLeaf(uint64 batchNumber, bytes32 batchRoot) external pure returns (bytes32) {
        return Commitments.batchLeaf(batchNumber, batchRoot);
    }

    /// @notice The shared root over `chains` (two words per chain: its id, its batch tree's root)
    /// as GatewayExecutor computes it (`Commitments.sharedRootOf`).
    function sharedRootOf(bytes32[] calldata chains) external pure returns (bytes32) {
        return Commitments.sharedRootOf(chains);
    }

    /// @notice A chain's leaf in the shared tree, as MessageRoot computes it.
    function chainLeaf(uint64 chainId, bytes32 chainRoot) external pure returns (bytes32) {
        return Commitments.chainLeaf(chainId, chainRoot);
    }
}
