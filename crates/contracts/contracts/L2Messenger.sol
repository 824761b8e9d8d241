// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity 0.8.30;

/// @notice A chain's messenger (one per chain, at the same address on every chain of a devnet):
/// whoever calls `sendMessage` emits a message to L1 and to the other chains on its settlement
/// layer. The chain's settlement ExEx puts every `MessageSent` log of its blocks into the batch's
/// `l2LogsRoot` as the leaf `keccak256(messenger ‖ abi.encode(sender, data))`.
contract L2Messenger {
    /// @notice Messages sent so far.
    uint256 public messagesSent;

    event MessageSent(address sender, bytes data);

    /// @notice Sends `data` from the caller; returns the message's leaf.
    function sendMessage(bytes calldata data) external returns (bytes32 leaf) {
        ++messagesSent;
        emit MessageSent(msg.sender, data);
        return keccak256(abi.encodePacked(address(this), abi.encode(msg.sender, data)));
    }
}
