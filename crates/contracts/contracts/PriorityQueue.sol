// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity 0.8.30;

/// @notice A queue of priority operations (L1 -> L2 transactions): each queued by hash, in
/// order, and consumed in order by the batches that processed them, which report how many they
/// processed and the rolling hash of their hashes (`numberOfL1Txs`, `priorityOpsHash`).
abstract contract PriorityQueue {
    /// @notice Blocks of this layer an operation may wait before whoever must include it is
    /// late (its `expirationBlock`; nodes show and alarm on expired ones).
    uint256 public constant PRIORITY_EXPIRY_BLOCKS = 7200;

    bytes32[] internal priorityQueue;
    /// @notice The first operation not yet consumed.
    uint256 public priorityQueueHead;

    event NewPriorityRequest(uint256 indexed id, bytes32 opHash, address sender, bytes data, uint64 expirationBlock);

    error NotEnoughPriorityOps(uint256 wanted, uint256 pending);
    error UnknownPriorityOp(uint256 id, uint256 queued);

    /// @notice Operations queued and not yet consumed.
    function pendingPriorityOps() public view returns (uint256) {
        return priorityQueue.length - priorityQueueHead;
    }

    /// @notice Operations ever queued here (the next one's id).
    function totalPriorityOps() external view returns (uint256) {
        return priorityQueue.length;
    }

    /// @notice The hash of priority operation `id`.
    function priorityOpHash(uint256 id) external view returns (bytes32) {
        if (id >= priorityQueue.length) revert UnknownPriorityOp(id, priorityQueue.length);
        return priorityQueue[id];
    }

    /// @dev Queues the operation `sender` paid for; returns its id.
    function _queuePriorityOp(address sender, bytes calldata data) internal returns (uint256 id) {
        id = priorityQueue.length;
        bytes32 opHash = keccak256(abi.encode(id, sender, data));
        priorityQueue.push(opHash);
        emit NewPriorityRequest(id, opHash, sender, data, uint64(block.number + PRIORITY_EXPIRY_BLOCKS));
    }

    /// @dev Consumes `count` operations from the head of the queue; returns their rolling hash.
    function _consumePriorityOps(uint256 count) internal returns (bytes32 rolling) {
        uint256 head = priorityQueueHead;
        uint256 pending = priorityQueue.length - head;
        if (count > pending) revert NotEnoughPriorityOps(count, pending);
        for (uint256 i = 0; i < count; ++i) {
            rolling = keccak256(abi.encodePacked(rolling, priorityQueue[head + i]));
        }
        priorityQueueHead = head + count;
    }
}
