// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity 0.8.30;

import {Merkle} from "./Merkle.sol";
import {Commitments} from "./Types.sol";

/// @notice Per-chain trees of executed batch roots and a shared tree over the chains. The shared
/// root is the interop root; its history is kept by block.
contract MessageRoot {
    using Merkle for Merkle.Tree;

    /// @notice Who may authorize executors.
    address public owner;
    /// @notice The executor allowed to add batch roots for a chain.
    mapping(uint256 chainId => address) public executorOf;
    /// @notice Chains in the order they were added: their index in the shared tree.
    uint256[] public chainIds;
    mapping(uint256 chainId => uint256) internal chainIndexPlusOne;
    mapping(uint256 chainId => Merkle.Tree) internal batchTrees;
    /// @notice The last batch number added per chain.
    mapping(uint256 chainId => uint256) public lastBatchOf;
    /// @notice The current interop root.
    bytes32 public sharedRoot;
    /// @notice The interop root as of the end of each block that changed it.
    mapping(uint256 blockNumber => bytes32) public historicalRoot;

    event ExecutorSet(uint256 indexed chainId, address executor);
    event ChainBatchRootAdded(uint256 indexed chainId, uint256 indexed batchNumber, bytes32 batchRoot);
    event NewInteropRoot(uint256 indexed blockNumber, bytes32 root);

    error NotOwner(address caller);
    error NotExecutor(uint256 chainId, address caller);
    error BatchNumberMismatch(uint256 expected, uint256 got);

    constructor(address owner_) {
        owner = owner_;
        sharedRoot = Merkle.rootOf(new bytes32[](0));
    }

    /// @notice Authorizes `executor` to add batch roots of `chainId`, adding the chain to the shared tree.
    function setExecutor(uint256 chainId, address executor) external {
        if (msg.sender != owner) revert NotOwner(msg.sender);
        Commitments.toUint64(chainId);
        executorOf[chainId] = executor;
        if (chainIndexPlusOne[chainId] == 0) {
            chainIds.push(chainId);
            chainIndexPlusOne[chainId] = chainIds.length;
            _updateSharedRoot();
        }
        emit ExecutorSet(chainId, executor);
    }

    /// @notice Records the roots of executed batches `firstBatchNumber, firstBatchNumber + 1, ...`;
    /// batch numbers per chain are consecutive. The interop root is updated once per call.
    function addChainBatchRoots(uint256 chainId, uint256 firstBatchNumber, bytes32[] calldata batchRoots) external {
        if (msg.sender != executorOf[chainId]) revert NotExecutor(chainId, msg.sender);
        uint256 expected = lastBatchOf[chainId] + 1;
        if (firstBatchNumber != expected) revert BatchNumberMismatch(expected, firstBatchNumber);
        Merkle.Tree storage tree = batchTrees[chainId];
        for (uint256 i = 0; i < batchRoots.length; ++i) {
            tree.push(Commitments.batchLeaf(Commitments.toUint64(firstBatchNumber + i), batchRoots[i]));
            emit ChainBatchRootAdded(chainId, firstBatchNumber + i, batchRoots[i]);
        }
        lastBatchOf[chainId] = firstBatchNumber + batchRoots.length - 1;
        _updateSharedRoot();
    }

    /// @notice Sets the next batch number expected for a chain (when a chain starts or migrates here).
    function setLastBatch(uint256 chainId, uint256 batchNumber) external {
        if (msg.sender != executorOf[chainId]) revert NotExecutor(chainId, msg.sender);
        if (batchNumber > lastBatchOf[chainId]) lastBatchOf[chainId] = batchNumber;
    }

    /// @notice The root of a chain's batch tree.
    function chainRoot(uint256 chainId) public view returns (bytes32) {
        return batchTrees[chainId].root();
    }

    /// @notice How many batch roots a chain has here.
    function chainBatchCount(uint256 chainId) external view returns (uint256) {
        return batchTrees[chainId].count;
    }

    /// @notice How many chains the shared tree has.
    function chainCount() external view returns (uint256) {
        return chainIds.length;
    }

    function _updateSharedRoot() internal {
        uint256 n = chainIds.length;
        bytes32[] memory leaves = new bytes32[](n);
        for (uint256 i = 0; i < n; ++i) {
            uint256 id = chainIds[i];
            leaves[i] = Commitments.chainLeaf(uint64(id), batchTrees[id].root());
        }
        bytes32 root = Merkle.rootOf(leaves);
        sharedRoot = root;
        historicalRoot[block.number] = root;
        emit NewInteropRoot(block.number, root);
    }
}
