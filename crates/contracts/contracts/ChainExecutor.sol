// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity 0.8.30;

import {DataAvailability} from "./DataAvailability.sol";
import {GatewayFees} from "./GatewayFees.sol";
import {GovernedVerifier} from "./GovernedVerifier.sol";
import {IVerifier} from "./IVerifier.sol";
import {MessageRoot} from "./MessageRoot.sol";
import {PriorityQueue} from "./PriorityQueue.sol";
import {CommitBatchInfo, Commitments, InteropRootRef, StoredBatchInfo} from "./Types.sol";

/// @notice One chain's batches on one settlement layer (L1 or the Gateway): commit, prove,
/// execute and revert, only while this settlement layer is the chain's active one.
/// @dev The `controller` turns the executor on and off when the chain migrates: the L1 Bridgehub
/// on L1; on the Gateway, the account that relays the Bridgehub's migrations (it stands in for
/// L1 -> Gateway message delivery).
contract ChainExecutor is GovernedVerifier, PriorityQueue {
    /// @notice Operator roles, as bits.
    uint8 public constant ROLE_COMMIT = 1;
    uint8 public constant ROLE_PROVE = 2;
    uint8 public constant ROLE_EXECUTE = 4;
    /// @notice How far a batch's last block may be ahead of this chain's clock.
    uint256 public constant MAX_FUTURE_TIMESTAMP = 1 hours;
    /// @notice `daScheme` values (DESIGN section 4).
    uint8 public constant DA_ROLLUP_BLOBS = DataAvailability.ROLLUP_BLOBS;
    uint8 public constant DA_ROLLUP_CALLDATA = DataAvailability.ROLLUP_CALLDATA;
    uint8 public constant DA_VALIDIUM = DataAvailability.VALIDIUM;
    /// @notice At most this many blobs per batch.
    uint256 public constant MAX_BLOBS_PER_BATCH = DataAvailability.MAX_BLOBS_PER_BATCH;

    uint256 public immutable chainId;
    address public immutable controller;
    MessageRoot public immutable messageRoot;
    address public admin;
    bool public active;

    uint256 public totalBatchesCommitted;
    uint256 public totalBatchesVerified;
    uint256 public totalBatchesExecuted;
    mapping(uint256 batchNumber => bytes32) public storedBatchHash;
    /// @notice The last block timestamp of the last committed batch.
    uint64 public lastCommittedTimestamp;
    /// @notice The last block timestamp of each committed batch, to roll back on revert.
    mapping(uint256 batchNumber => uint64) public batchLastTimestamp;
    mapping(address => uint8) public operatorRoles;

    /// @notice Where the settlement fee is priced and paid (a Gateway's `GatewayFees`; zero on L1).
    address public feeSchedule;
    /// @notice The system `L2Inbox` address (the same on every chain).
    address public constant SYSTEM_INBOX = 0x0000000000000000000000000000000000008010;

    event BatchCommitted(uint256 indexed batchNumber, bytes32 batchHash, bytes32 commitment);
    event BatchesProved(uint256 indexed fromBatch, uint256 indexed toBatch);
    event BatchExecuted(uint256 indexed batchNumber, bytes32 batchHash, bytes32 l2LogsRoot);
    event BatchesReverted(uint256 totalCommitted, uint256 totalVerified, uint256 totalExecuted);
    event FeeScheduleSet(address feeSchedule);
    event OperatorSet(address indexed operator, uint8 roles);
    event Activated(uint256 lastBatch, bytes32 lastBatchHash);
    event Deactivated(uint256 lastBatch);

    error NotAdmin(address caller);
    error NotController(address caller);
    error NotOperator(address caller, uint8 role);
    error SettlementLayerNotActive(uint256 chainId, uint256 settlementLayer);
    error BatchNumberMismatch(uint256 expected, uint256 got);
    error PreviousBatchHashMismatch(bytes32 expected, bytes32 got);
    error BatchHashMismatch(uint256 batchNumber, bytes32 expected, bytes32 got);
    error ChainIdMismatch(uint256 expected, uint256 got);
    error SettlementLayerChainIdMismatch(uint256 expected, uint256 got);
    error TimestampsInvalid(uint64 first, uint64 last, uint64 previousLast, uint256 now_);
    error BatchNotCommitted(uint256 batchNumber, uint256 totalCommitted);
    error BatchNotProved(uint256 batchNumber, uint256 totalVerified);
    error InvalidProof();
    error CannotRevertExecutedBatch(uint256 newLastBatch, uint256 totalExecuted);
    error PriorityOpsHashMismatch(uint256 batchNumber, bytes32 expected, bytes32 got);
    error FeeTooLow(uint256 due, uint256 paid);
    error FeeScheduleAlreadySet(address feeSchedule);
    error NotDrained(uint256 committed, uint256 executed, uint256 pendingPriorityOps);
    error AlreadyActive();
    error DaInputsLengthMismatch(uint256 batches, uint256 daInputs);
    error StaleActivation(uint256 lastBatch, uint256 totalExecuted);
    error ImportedRootsLengthMismatch(uint256 batches, uint256 importedRoots);
    error UnknownInteropRoot(uint256 batchNumber, uint256 gatewayBlock, bytes32 root);
    error DependencyRootsMismatch(uint256 batchNumber, bytes32 committed, bytes32 imported);

    modifier onlyRole(uint8 role) {
        if (operatorRoles[msg.sender] & role == 0) revert NotOperator(msg.sender, role);
        _;
    }

    modifier onlyActiveSettlementLayer() {
        if (!active) revert SettlementLayerNotActive(chainId, block.chainid);
        _;
    }

    /// @param genesis the chain's batch 0; `active_` when this is the chain's initial settlement layer.
    constructor(
        uint256 chainId_,
        address controller_,
        MessageRoot messageRoot_,
        IVerifier verifier_,
        address admin_,
        address governance_,
        uint256 verifierDelay_,
        StoredBatchInfo memory genesis,
        bool active_
    ) GovernedVerifier(verifier_, governance_, verifierDelay_) {
        chainId = chainId_;
        controller = controller_;
        messageRoot = messageRoot_;
        admin = admin_;
        active = active_;
        storedBatchHash[0] = Commitments.storedBatchHash(genesis);
    }

    // === admin ===

    /// @notice On a Gateway: where the settlement fee is priced and paid (`GatewayFees`); set
    /// by the controller (the Gateway's relayer). Zero (L1): no fee, and a commit carrying
    /// value is refused.
    function setFeeSchedule(address feeSchedule_) external {
        if (msg.sender != controller) revert NotController(msg.sender);
        // Once: the schedule's own announced delay is what keeps the price stable.
        if (feeSchedule != address(0)) revert FeeScheduleAlreadySet(feeSchedule);
        feeSchedule = feeSchedule_;
        emit FeeScheduleSet(feeSchedule_);
    }

    /// @dev Charges the fee for `batches` committed batches: at least the schedule's price for
    /// each, all of what was sent going to the vault.
    function _payFee(uint256 batches) internal {
        if (feeSchedule == address(0)) {
            if (msg.value != 0) revert FeeTooLow(0, msg.value);
            return;
        }
        uint256 due = GatewayFees(feeSchedule).price() * batches;
        if (msg.value < due) revert FeeTooLow(due, msg.value);
        GatewayFees(feeSchedule).pay{value: msg.value}();
    }

    /// @notice Gives `operator` the `roles` bits (0 removes it).
    function setOperator(address operator, uint8 roles) external {
        if (msg.sender != admin) revert NotAdmin(msg.sender);
        operatorRoles[operator] = roles;
        emit OperatorSet(operator, roles);
    }

    // === batches ===

    /// @notice Commits batches on top of `lastCommitted`, the info of batch `totalBatchesCommitted`.
    /// @param daInputs one per batch, checked against its `daCommitment` (`DataAvailability.check`):
    /// the pubdata (rollup-calldata), `abi.encode(uint256 blobCount)` (rollup-blobs, the batch's
    /// blobs in this transaction, in order), or empty (validium).
    function commitBatches(
        StoredBatchInfo calldata lastCommitted,
        CommitBatchInfo[] calldata newBatches,
        bytes[] calldata daInputs
    ) external payable onlyActiveSettlementLayer onlyRole(ROLE_COMMIT) {
        _payFee(newBatches.length);
        if (daInputs.length != newBatches.length) revert DaInputsLengthMismatch(newBatches.length, daInputs.length);
        uint256 blobCursor = 0;
        bytes32 expectedPrev = storedBatchHash[totalBatchesCommitted];
        bytes32 gotPrev = Commitments.storedBatchHash(lastCommitted);
        if (gotPrev != expectedPrev) revert PreviousBatchHashMismatch(expectedPrev, gotPrev);
        uint256 next = totalBatchesCommitted + 1;
        uint64 previousLast = lastCommittedTimestamp;
        for (uint256 i = 0; i < newBatches.length; ++i) {
            CommitBatchInfo calldata b = newBatches[i];
            if (b.batchNumber != next) revert BatchNumberMismatch(next, b.batchNumber);
            if (b.chainId != chainId) revert ChainIdMismatch(chainId, b.chainId);
            if (b.slChainId != block.chainid) revert SettlementLayerChainIdMismatch(block.chainid, b.slChainId);
            if (
                b.firstBlockTimestamp > b.lastBlockTimestamp || b.firstBlockTimestamp < previousLast
                    || b.lastBlockTimestamp > block.timestamp + MAX_FUTURE_TIMESTAMP
            ) revert TimestampsInvalid(b.firstBlockTimestamp, b.lastBlockTimestamp, previousLast, block.timestamp);
            blobCursor = DataAvailability.check(b, daInputs[i], blobCursor);
            StoredBatchInfo memory stored = StoredBatchInfo({
                batchNumber: b.batchNumber,
                stateCommitment: b.newStateCommitment,
                numberOfL1Txs: b.numberOfL1Txs,
                priorityOpsHash: b.priorityOpsHash,
                dependencyRootsRollingHash: b.dependencyRootsRollingHash,
                l2LogsRoot: b.l2LogsRoot,
                commitment: Commitments.batchOutputHash(b)
            });
            bytes32 hash = Commitments.storedBatchHash(stored);
            storedBatchHash[next] = hash;
            batchLastTimestamp[next] = b.lastBlockTimestamp;
            emit BatchCommitted(next, hash, stored.commitment);
            previousLast = b.lastBlockTimestamp;
            ++next;
        }
        DataAvailability.requireNoBlobAfter(blobCursor);
        lastCommittedTimestamp = previousLast;
        totalBatchesCommitted = next - 1;
    }

    /// @notice Proves the batches after `prevBatch` (batch `totalBatchesVerified`) with one proof
    /// over their public inputs.
    function proveBatches(StoredBatchInfo calldata prevBatch, StoredBatchInfo[] calldata batches, bytes calldata proof)
        external
        onlyActiveSettlementLayer
        onlyRole(ROLE_PROVE)
    {
        uint256 verified = totalBatchesVerified;
        _checkStored(verified, prevBatch);
        uint256[] memory inputs = new uint256[](batches.length);
        bytes32 prevState = prevBatch.stateCommitment;
        for (uint256 i = 0; i < batches.length; ++i) {
            StoredBatchInfo calldata b = batches[i];
            uint256 expected = verified + 1 + i;
            if (b.batchNumber != expected) revert BatchNumberMismatch(expected, b.batchNumber);
            if (expected > totalBatchesCommitted) revert BatchNotCommitted(expected, totalBatchesCommitted);
            _checkStored(expected, b);
            inputs[i] = Commitments.publicInput(prevState, b.stateCommitment, b.commitment);
            prevState = b.stateCommitment;
        }
        // A verifier that reverts (a malformed proof) refuses the proof as well.
        try verifier.verify(inputs, proof) returns (bool valid) {
            if (!valid) revert InvalidProof();
        } catch {
            revert InvalidProof();
        }
        totalBatchesVerified = verified + batches.length;
        emit BatchesProved(verified + 1, verified + batches.length);
    }

    /// @notice Executes proved batches: checks the interop roots each imported (every one must be
    /// a root this settlement layer's MessageRoot really had, and together they must hash to the
    /// batch's `dependencyRootsRollingHash`), consumes their priority operations and records
    /// their roots in MessageRoot.
    /// @param importedRoots per batch, the interop roots it imported, in order.
    function executeBatches(StoredBatchInfo[] calldata batches, InteropRootRef[][] calldata importedRoots)
        external
        onlyActiveSettlementLayer
        onlyRole(ROLE_EXECUTE)
    {
        if (importedRoots.length != batches.length) {
            revert ImportedRootsLengthMismatch(batches.length, importedRoots.length);
        }
        uint256 executed = totalBatchesExecuted;
        bytes32[] memory roots = new bytes32[](batches.length);
        for (uint256 i = 0; i < batches.length; ++i) {
            StoredBatchInfo calldata b = batches[i];
            uint256 expected = executed + 1 + i;
            if (b.batchNumber != expected) revert BatchNumberMismatch(expected, b.batchNumber);
            if (expected > totalBatchesVerified) revert BatchNotProved(expected, totalBatchesVerified);
            _checkStored(expected, b);
            _checkImportedRoots(expected, b.dependencyRootsRollingHash, importedRoots[i]);
            bytes32 opsHash = _consumePriorityOps(b.numberOfL1Txs);
            if (opsHash != b.priorityOpsHash) revert PriorityOpsHashMismatch(expected, opsHash, b.priorityOpsHash);
            roots[i] = b.l2LogsRoot;
            emit BatchExecuted(expected, storedBatchHash[expected], b.l2LogsRoot);
        }
        if (batches.length > 0) messageRoot.addChainBatchRoots(chainId, executed + 1, roots);
        totalBatchesExecuted = executed + batches.length;
    }

    /// @notice Forgets committed batches above `newLastBatch`; executed batches stay.
    function revertBatches(uint256 newLastBatch) external onlyActiveSettlementLayer onlyRole(ROLE_COMMIT) {
        if (newLastBatch < totalBatchesExecuted) revert CannotRevertExecutedBatch(newLastBatch, totalBatchesExecuted);
        if (newLastBatch > totalBatchesCommitted) revert BatchNotCommitted(newLastBatch, totalBatchesCommitted);
        for (uint256 n = newLastBatch + 1; n <= totalBatchesCommitted; ++n) {
            delete storedBatchHash[n];
            delete batchLastTimestamp[n];
        }
        totalBatchesCommitted = newLastBatch;
        lastCommittedTimestamp = batchLastTimestamp[newLastBatch];
        if (totalBatchesVerified > newLastBatch) totalBatchesVerified = newLastBatch;
        emit BatchesReverted(totalBatchesCommitted, totalBatchesVerified, totalBatchesExecuted);
    }

    // === priority operations ===

    /// @notice Queues an operation for the chain (an L1 -> L2 transaction) that `sender` paid
    /// for; returns its id. Only the controller: on L1 the Bridgehub, which charges the fee
    /// (`Bridgehub.requestL2Transaction`); on the Gateway the relayer that carries them there.
    function requestPriorityOp(address sender, bytes calldata data) external returns (uint256 id) {
        // On L1 the controller is the Bridgehub (a contract). On a Gateway the controller is an
        // account (the relayer), which may not queue anything: there only the system inbox does,
        // forwarding the operations the Bridgehub queued in the Gateway's L1 queue (L1 checks
        // each Gateway batch's forwards against that queue; no account can send from the inbox's
        // address).
        bool bridgehub = msg.sender == controller && controller.code.length > 0;
        if (!bridgehub && msg.sender != SYSTEM_INBOX) revert NotController(msg.sender);
        id = _queuePriorityOp(sender, data);
    }

    // === migration ===

    /// @notice Makes this the chain's active settlement layer, continuing after `lastBatch`
    /// (the last batch executed on the previous one).
    function activate(StoredBatchInfo calldata lastBatch) external {
        if (msg.sender != controller) revert NotController(msg.sender);
        if (active) revert AlreadyActive();
        if (lastBatch.batchNumber < totalBatchesExecuted) {
            revert StaleActivation(lastBatch.batchNumber, totalBatchesExecuted);
        }
        bytes32 hash = Commitments.storedBatchHash(lastBatch);
        storedBatchHash[lastBatch.batchNumber] = hash;
        totalBatchesCommitted = lastBatch.batchNumber;
        totalBatchesVerified = lastBatch.batchNumber;
        totalBatchesExecuted = lastBatch.batchNumber;
        messageRoot.setLastBatch(chainId, lastBatch.batchNumber);
        active = true;
        emit Activated(lastBatch.batchNumber, hash);
    }

    /// @notice Stops settling here; only when every committed batch is executed and no priority
    /// operation waits.
    function deactivate() external {
        if (msg.sender != controller) revert NotController(msg.sender);
        _requireDrained();
        active = false;
        emit Deactivated(totalBatchesExecuted);
    }

    /// @notice Reverts unless every committed batch is executed and no priority operation waits.
    function requireDrained() external view {
        _requireDrained();
    }

    // === helpers the Rust side checks its own hashing against ===

    /// @notice Commitments.batchOutputHash.
    function batchOutputHash(CommitBatchInfo calldata b) external pure returns (bytes32) {
        return Commitments.batchOutputHash(b);
    }

    /// @notice Commitments.storedBatchHash.
    function hashStoredBatchInfo(StoredBatchInfo calldata b) external pure returns (bytes32) {
        return Commitments.storedBatchHash(b);
    }

    /// @notice Commitments.publicInput.
    function publicInput(bytes32 prevStateCommitment, bytes32 stateCommitment, bytes32 commitment)
        external
        pure
        returns (uint256)
    {
        return Commitments.publicInput(prevStateCommitment, stateCommitment, commitment);
    }

    function _requireDrained() internal view {
        uint256 pending = pendingPriorityOps();
        if (totalBatchesCommitted != totalBatchesExecuted || pending != 0) {
            revert NotDrained(totalBatchesCommitted, totalBatchesExecuted, pending);
        }
    }

    function _checkImportedRoots(uint256 batchNumber, bytes32 rollingHash, InteropRootRef[] calldata refs)
        internal
        view
    {
        bytes32 rolling = bytes32(0);
        for (uint256 j = 0; j < refs.length; ++j) {
            bytes32 known = messageRoot.historicalRoot(refs[j].gatewayBlock);
            if (known == bytes32(0) || known != refs[j].root) {
                revert UnknownInteropRoot(batchNumber, refs[j].gatewayBlock, refs[j].root);
            }
            rolling = keccak256(abi.encodePacked(rolling, refs[j].gatewayBlock, refs[j].root));
        }
        if (rolling != rollingHash) revert DependencyRootsMismatch(batchNumber, rollingHash, rolling);
    }

    function _checkStored(uint256 batchNumber, StoredBatchInfo calldata info) internal view {
        bytes32 expected = storedBatchHash[batchNumber];
        bytes32 got = Commitments.storedBatchHash(info);
        if (got != expected) revert BatchHashMismatch(batchNumber, expected, got);
    }
}
