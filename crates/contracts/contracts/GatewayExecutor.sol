// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity 0.8.30;

import {DataAvailability} from "./DataAvailability.sol";
import {IVerifier} from "./IVerifier.sol";
import {ChainBatchRef, CommitBatchInfo, Commitments, StoredBatchInfo} from "./Types.sol";

/// @notice The Gateway's own executor on L1. Each Gateway batch is committed, proved and executed
/// in one call, with ONE aggregated proof whose exposed inputs are the Gateway batch's own public
/// input followed by those of every chain batch it carries (the chain batches executed on the
/// Gateway inside it). Once a Gateway batch is settled here, those chain batches are L1-final and
/// the Gateway's shared message root as of that batch is recorded for proofs on L1.
/// @dev The verifier sees `[gatewayChainId, gatewayInput, chainId_1, input_1, ...]`: the chain ids
/// come from the committed list, never from the caller's proof, and every chain's leaf proof
/// binds its chain id, so a Gateway cannot pass one chain's proof off as another's.
contract GatewayExecutor {
    /// @notice The operator role bit that may settle batches (its own bit: holding other roles
    /// does not let an operator settle).
    uint8 public constant ROLE_SETTLE = 8;
    /// @notice How far a batch's last block may be ahead of L1's clock.
    uint256 public constant MAX_FUTURE_TIMESTAMP = 1 hours;

    /// @notice The Gateway's chain id.
    uint256 public immutable chainId;
    address public admin;
    /// @notice Checks aggregated proofs.
    IVerifier public verifier;
    mapping(address => uint8) public operatorRoles;

    /// @notice Gateway batches settled (committed, proved and executed at once).
    uint256 public totalBatchesExecuted;
    mapping(uint256 batchNumber => bytes32) public storedBatchHash;
    uint64 public lastCommittedTimestamp;
    /// @notice Per chain, its highest batch made L1-final through the Gateway.
    mapping(uint256 chainId => uint256) public lastFinalBatch;
    /// @notice The Gateway's shared message root (interop root) as of each settled Gateway batch.
    mapping(uint256 batchNumber => bytes32) public sharedRootOf;

    /// @notice A Gateway batch was committed, proved and executed.
    event GatewayBatchSettled(uint256 indexed batchNumber, bytes32 batchHash, bytes32 sharedRoot, uint256 chainBatches);
    /// @notice Chain `chainId`'s batches `fromBatch..=toBatch` are L1-final through Gateway batch `gatewayBatch`.
    event ChainBatchesFinal(uint256 indexed chainId, uint256 fromBatch, uint256 toBatch, uint256 indexed gatewayBatch);
    event OperatorSet(address indexed operator, uint8 roles);
    event VerifierSet(address verifier);

    error NotAdmin(address caller);
    error NotOperator(address caller, uint8 role);
    error BatchNumberMismatch(uint256 expected, uint256 got);
    error PreviousBatchHashMismatch(bytes32 expected, bytes32 got);
    error ChainIdMismatch(uint256 expected, uint256 got);
    error SettlementLayerChainIdMismatch(uint256 expected, uint256 got);
    error TimestampsInvalid(uint64 first, uint64 last, uint64 previousLast, uint256 now_);
    /// @notice The Gateway settles no priority operations of its own on L1.
    error PriorityOpsUnsupported(uint256 batchNumber, uint256 numberOfL1Txs);
    /// @notice A carried chain batch names chain 0 or the Gateway itself.
    error InvalidChainId(uint256 index, uint256 chainId);
    /// @notice A carried chain batch is not after the chain's last L1-final one (or not
    /// consecutive with the previous entry of the same chain).
    error ChainBatchOutOfOrder(uint256 chainId, uint256 expectedAbove, uint256 got);
    /// @notice The aggregated proof does not prove exactly these batches.
    error InvalidProof();

    constructor(uint256 chainId_, IVerifier verifier_, address admin_, StoredBatchInfo memory genesis) {
        chainId = chainId_;
        verifier = verifier_;
        admin = admin_;
        storedBatchHash[0] = Commitments.storedBatchHash(genesis);
    }

    /// @notice Gives `operator` the `roles` bits (0 removes it; settling needs `ROLE_SETTLE`).
    function setOperator(address operator, uint8 roles) external {
        if (msg.sender != admin) revert NotAdmin(msg.sender);
        operatorRoles[operator] = roles;
        emit OperatorSet(operator, roles);
    }

    /// @notice Plugs in another aggregated-proof verifier.
    function setVerifier(IVerifier verifier_) external {
        if (msg.sender != admin) revert NotAdmin(msg.sender);
        verifier = verifier_;
        emit VerifierSet(address(verifier_));
    }

    /// @notice Same as `totalBatchesExecuted`: settling commits, proves and executes at once.
    function totalBatchesCommitted() external view returns (uint256) {
        return totalBatchesExecuted;
    }

    /// @notice Same as `totalBatchesExecuted`.
    function totalBatchesVerified() external view returns (uint256) {
        return totalBatchesExecuted;
    }

    /// @notice Commits, proves and executes Gateway batch `batch` on top of `last` (the info of
    /// batch `totalBatchesExecuted`).
    /// @param daInput checked against the batch's `daCommitment` (`DataAvailability.check`).
    /// @param chainBatches the chain batches executed on the Gateway inside this batch, grouped
    /// by chain, each chain's in ascending order.
    /// @param proof the aggregated proof over the Gateway's leaf and the chain batches' leaves.
    function settleBatch(
        StoredBatchInfo calldata last,
        CommitBatchInfo calldata batch,
        bytes calldata daInput,
        ChainBatchRef[] calldata chainBatches,
        bytes calldata proof
    ) external {
        if (operatorRoles[msg.sender] & ROLE_SETTLE == 0) revert NotOperator(msg.sender, ROLE_SETTLE);
        uint256 number = totalBatchesExecuted + 1;
        {
            bytes32 expectedPrev = storedBatchHash[number - 1];
            bytes32 gotPrev = Commitments.storedBatchHash(last);
            if (gotPrev != expectedPrev) revert PreviousBatchHashMismatch(expectedPrev, gotPrev);
        }
        if (batch.batchNumber != number) revert BatchNumberMismatch(number, batch.batchNumber);
        if (batch.chainId != chainId) revert ChainIdMismatch(chainId, batch.chainId);
        if (batch.slChainId != block.chainid) revert SettlementLayerChainIdMismatch(block.chainid, batch.slChainId);
        uint64 previousLast = lastCommittedTimestamp;
        if (
            batch.firstBlockTimestamp > batch.lastBlockTimestamp || batch.firstBlockTimestamp < previousLast
                || batch.lastBlockTimestamp > block.timestamp + MAX_FUTURE_TIMESTAMP
        ) revert TimestampsInvalid(batch.firstBlockTimestamp, batch.lastBlockTimestamp, previousLast, block.timestamp);
        if (batch.numberOfL1Txs != 0 || batch.priorityOpsHash != bytes32(0)) {
            revert PriorityOpsUnsupported(number, batch.numberOfL1Txs);
        }
        DataAvailability.requireNoBlobAfter(DataAvailability.check(batch, daInput, 0));

        bytes32 commitment = Commitments.gatewayCommitment(Commitments.batchOutputHash(batch), chainBatches);
        StoredBatchInfo memory stored = StoredBatchInfo({
            batchNumber: batch.batchNumber,
            stateCommitment: batch.newStateCommitment,
            numberOfL1Txs: 0,
            priorityOpsHash: bytes32(0),
            dependencyRootsRollingHash: batch.dependencyRootsRollingHash,
            l2LogsRoot: batch.l2LogsRoot,
            commitment: commitment
        });
        uint256[] memory inputs = new uint256[](2 + 2 * chainBatches.length);
        inputs[0] = chainId;
        inputs[1] = Commitments.publicInput(last.stateCommitment, batch.newStateCommitment, commitment);
        _finalizeChainBatches(chainBatches, inputs, number);
        // A verifier that reverts (a malformed proof) refuses the proof as well.
        try verifier.verify(inputs, proof) returns (bool valid) {
            if (!valid) revert InvalidProof();
        } catch {
            revert InvalidProof();
        }

        bytes32 hash = Commitments.storedBatchHash(stored);
        storedBatchHash[number] = hash;
        sharedRootOf[number] = batch.l2LogsRoot;
        lastCommittedTimestamp = batch.lastBlockTimestamp;
        totalBatchesExecuted = number;
        emit GatewayBatchSettled(number, hash, batch.l2LogsRoot, chainBatches.length);
    }

    /// @dev Fills the chain batches' inputs after the Gateway's own two, checks their order and
    /// advances each chain's last L1-final batch (one storage write per chain run).
    function _finalizeChainBatches(ChainBatchRef[] calldata refs, uint256[] memory inputs, uint256 gatewayBatch)
        internal
    {
        uint256 i = 0;
        while (i < refs.length) {
            uint256 id = refs[i].chainId;
            if (id == 0 || id == chainId) revert InvalidChainId(i, id);
            uint256 previous = lastFinalBatch[id];
            uint256 first = refs[i].batchNumber;
            if (first <= previous) revert ChainBatchOutOfOrder(id, previous, first);
            uint256 next = first;
            while (i < refs.length && refs[i].chainId == id) {
                if (refs[i].batchNumber != next) revert ChainBatchOutOfOrder(id, next - 1, refs[i].batchNumber);
                inputs[2 + 2 * i] = id;
                inputs[3 + 2 * i] = refs[i].publicInput;
                ++next;
                ++i;
            }
            lastFinalBatch[id] = next - 1;
            emit ChainBatchesFinal(id, first, next - 1, gatewayBatch);
        }
    }

    /// @notice Commitments.gatewayCommitment over `Commitments.batchOutputHash(batch)`, for the
    /// Rust side to check its hashing against.
    function gatewayCommitment(CommitBatchInfo calldata batch, ChainBatchRef[] calldata chainBatches)
        external
        pure
        returns (bytes32)
    {
        return Commitments.gatewayCommitment(Commitments.batchOutputHash(batch), chainBatches);
    }
}
