// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity 0.8.30;

import {IVerifier} from "./IVerifier.sol";

/// @notice A proof verifier that only governance changes, and only `verifierDelay` blocks after
/// it queued the change (so that whoever relies on the executor sees it coming): the executors'
/// shared timelock.
abstract contract GovernedVerifier {
    /// @notice Alone queues, applies and cancels verifier changes.
    address public immutable governance;
    /// @notice Blocks between queueing a verifier change and applying it.
    uint256 public immutable verifierDelay;
    /// @notice Checks proofs.
    IVerifier public verifier;
    /// @notice The verifier governance queued, applicable from block `verifierChangeAt`.
    IVerifier public pendingVerifier;
    /// @notice The first block the queued verifier may be applied at (0: none queued).
    uint256 public verifierChangeAt;

    event VerifierSet(address verifier);
    event VerifierChangeQueued(address verifier, uint256 applicableAt);
    event VerifierChangeCancelled(address verifier);

    error NotGovernance(address caller);
    error NoVerifierChangeQueued();
    error VerifierChangeNotDue(uint256 applicableAt, uint256 blockNumber);

    constructor(IVerifier verifier_, address governance_, uint256 verifierDelay_) {
        verifier = verifier_;
        governance = governance_;
        verifierDelay = verifierDelay_;
    }

    /// @notice Governance queues another verifier; it can be applied `verifierDelay` blocks
    /// later. Queueing again replaces the queued one and restarts the delay.
    function queueVerifier(IVerifier verifier_) external {
        if (msg.sender != governance) revert NotGovernance(msg.sender);
        pendingVerifier = verifier_;
        verifierChangeAt = block.number + verifierDelay;
        emit VerifierChangeQueued(address(verifier_), verifierChangeAt);
    }

    /// @notice Governance applies the queued verifier once its delay has passed.
    function applyVerifier() external {
        if (msg.sender != governance) revert NotGovernance(msg.sender);
        uint256 at = verifierChangeAt;
        if (at == 0) revert NoVerifierChangeQueued();
        if (block.number < at) revert VerifierChangeNotDue(at, block.number);
        verifier = pendingVerifier;
        delete pendingVerifier;
        delete verifierChangeAt;
        emit VerifierSet(address(verifier));
    }

    /// @notice Governance drops the queued verifier.
    function cancelVerifierChange() external {
        if (msg.sender != governance) revert NotGovernance(msg.sender);
        if (verifierChangeAt == 0) revert NoVerifierChangeQueued();
        emit VerifierChangeCancelled(address(pendingVerifier));
        delete pendingVerifier;
        delete verifierChangeAt;
    }
}
