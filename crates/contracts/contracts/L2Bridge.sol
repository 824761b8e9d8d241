// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity 0.8.30;

interface IL2Messenger {
    function sendMessage(bytes calldata data) external returns (bytes32 leaf);
}

/// @notice The chain side of withdrawals, a system contract at the same fixed address on every
/// chain: `withdraw` takes the value out of circulation (into the chain's `L2Inbox`, which holds
/// the locked supply deposits are paid from) and sends the L2 -> L1 message
/// `abi.encode(l1Receiver, amount)` through the chain's `L2Messenger`. Once the batch holding it
/// is final on L1, anyone claims it with `Bridgehub.finalizeWithdrawal`, which pays from the
/// value escrowed for the chain, once.
contract L2Bridge {
    /// @notice The chain's messenger.
    address public constant MESSENGER = 0x0000000000000000000000000000000000008008;
    /// @notice The chain's inbox (the locked supply).
    address public constant INBOX = 0x0000000000000000000000000000000000008010;

    event WithdrawalInitiated(address indexed sender, address indexed l1Receiver, uint256 amount);

    error NothingToWithdraw();
    error LockFailed(uint256 amount);

    /// @notice Withdraws `msg.value` to `l1Receiver` on L1; returns the message's leaf.
    function withdraw(address l1Receiver) external payable returns (bytes32 leaf) {
        if (msg.value == 0) revert NothingToWithdraw();
        (bool locked,) = INBOX.call{value: msg.value}("");
        if (!locked) revert LockFailed(msg.value);
        leaf = IL2Messenger(MESSENGER).sendMessage(abi.encode(l1Receiver, msg.value));
        emit WithdrawalInitiated(msg.sender, l1Receiver, msg.value);
    }
}
