// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity 0.8.30;

/// @notice The Gateway's stable price for settlement, and the vault its fees go to: every chain
/// executor on the Gateway charges `price()` per committed batch, in the Gateway's gas token,
/// and sends it here. Gateway governance sets the price; a change takes effect only
/// `changeDelay` blocks after it is announced, so the price a chain sees is stable.
contract GatewayFees {
    /// @notice Gateway governance: announces prices, withdraws the fees.
    address public immutable owner;
    /// @notice Blocks between announcing a price and its taking effect.
    uint256 public immutable changeDelay;
    /// @notice The price in effect before `nextPriceFrom`.
    uint256 public currentPrice;
    /// @notice The announced price, in effect from block `nextPriceFrom` (0: none announced).
    uint256 public nextPrice;
    uint256 public nextPriceFrom;
    /// @notice Fees received so far (withdrawals do not lower it).
    uint256 public feesCollected;

    event PriceAnnounced(uint256 price, uint256 fromBlock);
    event FeePaid(address indexed executor, uint256 amount);
    event FeesWithdrawn(address to, uint256 amount);

    error NotOwner(address caller);
    error TransferFailed(address to, uint256 amount);
    error NoDelay();

    constructor(address owner_, uint256 price_, uint256 changeDelay_) {
        if (changeDelay_ == 0) revert NoDelay();
        owner = owner_;
        currentPrice = price_;
        changeDelay = changeDelay_;
    }

    /// @notice The price per committed batch now.
    function price() public view returns (uint256) {
        return nextPriceFrom != 0 && block.number >= nextPriceFrom ? nextPrice : currentPrice;
    }

    /// @notice Announces `price_`, in effect `changeDelay` blocks from now (replacing any
    /// announced price not yet in effect).
    function announcePrice(uint256 price_) external {
        if (msg.sender != owner) revert NotOwner(msg.sender);
        currentPrice = price();
        nextPrice = price_;
        nextPriceFrom = block.number + changeDelay;
        emit PriceAnnounced(price_, nextPriceFrom);
    }

    /// @notice Receives a fee (from a chain executor's `commitBatches`).
    function pay() external payable {
        feesCollected += msg.value;
        emit FeePaid(msg.sender, msg.value);
    }

    /// @notice Sends the fees held here to `to`.
    function withdraw(address payable to) external {
        if (msg.sender != owner) revert NotOwner(msg.sender);
        uint256 amount = address(this).balance;
        (bool ok,) = to.call{value: amount}("");
        if (!ok) revert TransferFailed(to, amount);
        emit FeesWithdrawn(to, amount);
    }
}
