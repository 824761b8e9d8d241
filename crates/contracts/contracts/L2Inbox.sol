// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity 0.8.30;

/// @notice The chain side of L1 -> L2 transactions (priority operations): a system contract at
/// the same fixed address on every chain, holding the chain's locked supply of the native token.
/// The chain node's relayer hands it the operations of the chain's queue on its settlement layer
/// in queue order, each exactly once (`processOp` refuses any other id of that layer); each one moves its value
/// to `l2To` with `l2Calldata`, or, when that call fails, to `refundRecipient`. Its
/// `PriorityOpProcessed` logs are what the chain's batches report as processed: their count is
/// the batch's `numberOfL1Txs` and their hashes roll into its `priorityOpsHash`, which the
/// settlement layer's executor checks against its queue when it executes the batch.
///
/// The supply stands in for a protocol mint, which an external sequencer cannot do: a real
/// chain puts this contract, its relayer and its balance in its genesis; a dev chain places the
/// code, calls `initialize` at once, and sets the balance.
contract L2Inbox {
    /// @notice Who may hand operations in (the chain node's relayer).
    address public relayer;
    /// @notice Per settlement layer (chain id), the id of the next operation of its queue to
    /// process: each layer's executor numbers its own queue, and a chain that migrates takes
    /// operations from the queue of the layer it settles on.
    mapping(uint256 layer => uint256) public nextOpIdOf;

    event RelayerSet(address relayer);
    event PriorityOpProcessed(
        uint256 indexed layer, uint256 indexed id, bytes32 opHash, address l2To, uint256 l2Value, bool success
    );

    error AlreadyInitialized(address relayer);
    error NotRelayer(address caller);
    error OutOfOrder(uint256 expected, uint256 got);
    error NotEnoughSupply(uint256 balance, uint256 wanted);
    error NotEnoughGas(uint256 left, uint256 wanted);

    /// @notice The most gas an operation's call may take (the Bridgehub's limit).
    uint256 public constant MAX_GAS = 10_000_000;

    /// @notice Sets the relayer, once.
    function initialize(address relayer_) external {
        if (relayer != address(0)) revert AlreadyInitialized(relayer);
        relayer = relayer_;
        emit RelayerSet(relayer_);
    }

    /// @notice The parts of an operation's data, as the Bridgehub encodes them.
    function decodeOp(bytes calldata data)
        external
        pure
        returns (address l2To, uint256 l2Value, bytes memory l2Calldata, uint256 l2GasLimit, address refundRecipient)
    {
        return abi.decode(data, (address, uint256, bytes, uint256, address));
    }

    /// @notice Processes operation `id` of `layer`'s queue, queued by `sender` with `data`; true
    /// when its call succeeded. An operation whose data does not decode is processed with no
    /// effect.
    function processOp(uint256 layer, uint256 id, address sender, bytes calldata data)
        external
        returns (bool success)
    {
        if (msg.sender != relayer) revert NotRelayer(msg.sender);
        uint256 expected = nextOpIdOf[layer];
        if (id != expected) revert OutOfOrder(expected, id);
        nextOpIdOf[layer] = id + 1;
        bytes32 opHash = keccak256(abi.encode(id, sender, data));
        address l2To;
        uint256 l2Value;
        try this.decodeOp(data) returns (
            address to, uint256 value, bytes memory l2Calldata, uint256 l2GasLimit, address refundRecipient
        ) {
            (l2To, l2Value) = (to, value);
            if (address(this).balance < value) revert NotEnoughSupply(address(this).balance, value);
            // The relayer must give the call all the gas it asked for: it cannot make a deposit
            // fail by starving it.
            // (and leave enough for the refund after it).
            // An operation asking for more than any L1 request may cannot run: it fails and is
            // refunded.
            uint256 gasLimit = l2GasLimit > MAX_GAS ? 0 : l2GasLimit;
            if (gasleft() < gasLimit + gasLimit / 63 + 120_000) revert NotEnoughGas(gasleft(), gasLimit);
            if (to != address(0) && l2GasLimit <= MAX_GAS) {
                (success,) = to.call{value: value, gas: gasLimit}(l2Calldata);
            }
            if (!success && value > 0) {
                // A recipient that refuses the refund too leaves the value here.
                (bool refunded,) = refundRecipient.call{value: value, gas: 50_000}("");
                refunded;
            }
        } catch {}
        emit PriorityOpProcessed(layer, id, opHash, l2To, l2Value, success);
    }

    receive() external payable {}
}
