// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity 0.8.30;

import {ChainExecutor} from "./ChainExecutor.sol";
import {GatewayExecutor} from "./GatewayExecutor.sol";
import {StoredBatchInfo} from "./Types.sol";
import {Message, MessageProof, MessageVerifier} from "./MessageVerifier.sol";

/// @notice L1's registry of chains and settlement layers: which executor settles a chain on each
/// settlement layer, which settlement layer is active, the governance whitelist of settlement
/// layers, and the migrations between them (any number of round trips).
/// @dev A Gateway cannot be called from L1 here, so each whitelisted Gateway has a relayer: the
/// account that carries the Bridgehub's migrations to the Gateway's executors and reports back
/// the last batch a chain executed there. It stands in for L1 <-> Gateway message delivery.
/// The relayer is trusted with liveness only: every batch it reports back must already be
/// L1-final in the Gateway's own L1 executor (`GatewayExecutor`, the Gateway's executor on L1
/// here), which the Bridgehub tells when a chain is handed over to the Gateway and taken back.
contract Bridgehub {
    struct ChainInfo {
        address admin;
        uint256 settlementLayer;
        bool registered;
    }

    /// @notice When a chain started settling on a settlement layer.
    struct Migration {
        uint256 chainId;
        uint256 settlementLayer;
        uint256 firstBatch;
    }

    address public owner;
    mapping(uint256 chainId => ChainInfo) public chains;
    mapping(uint256 chainId => mapping(uint256 settlementLayer => address)) public executorOn;
    mapping(uint256 settlementLayer => bool) public whitelisted;
    mapping(uint256 settlementLayer => address) public relayerOf;
    /// @notice Every chain's migrations (registration included), in order.
    Migration[] public migrations;
    /// @notice Per chain, its own entries of `migrations`, in order (their `firstBatch` never
    /// decreases): what `settlementLayerOfBatch` searches, so another chain's migrations never
    /// make a withdrawal dearer.
    mapping(uint256 chainId => Migration[]) internal historyOf;
    /// @notice What an L1 -> L2 transaction (a priority operation) costs, in wei.
    uint256 public priorityOpFee;
    /// @notice Fees paid for priority operations and not yet withdrawn.
    uint256 public feesCollected;
    /// @notice Per chain: the value its L1 -> L2 transactions carried in, held here for it.
    mapping(uint256 chainId => uint256) public escrowed;
    /// @notice The gas the Gateway's inbox gives the call that queues an operation in a chain's
    /// executor on the Gateway.
    uint256 public constant GATEWAY_FORWARD_GAS = 300_000;
    /// @notice The most calldata an L1 -> L2 transaction may carry (its forward through a
    /// Gateway must fit `GATEWAY_FORWARD_GAS`).
    uint256 public constant MAX_L2_CALLDATA = 8_192;
    /// @notice The most gas an L1 -> L2 transaction's call may ask for on the chain.
    uint256 public constant MAX_L2_GAS_LIMIT = 10_000_000;
    /// @notice Every chain's `L2Bridge` (the same address on each chain): the only sender whose
    /// messages release escrowed value.
    address public constant L2_BRIDGE = 0x0000000000000000000000000000000000008011;
    /// @notice Proves messages of batches settled on L1 (over L1's `MessageRoot` history).
    MessageVerifier public l1RootsVerifier;
    /// @notice Proves messages of batches settled on a Gateway (over the Gateway batches'
    /// shared roots its `GatewayExecutor` holds on L1).
    MessageVerifier public gatewayBatchesVerifier;
    /// @notice Withdrawals paid out, by `keccak256(chainId, batchNumber, messageIndex)`.
    mapping(bytes32 => bool) public withdrawalFinalized;
    /// @notice The layer a chain's admin asked to move to (`startMigrationToGateway`: the Gateway;
    /// `startMigrationFromGateway`: L1), until the move completes or is cancelled; 0 when none.
    /// While it is set, the chain's L1 -> L2 transactions are parked here.
    mapping(uint256 chainId => uint256 target) public migrationRequested;
    /// @notice Per chain: the L1 -> L2 transactions requested while it migrated, parked here in
    /// order (`keccak256(abi.encode(sender, data, fee))`), until `forwardParked` routes them to
    /// the layer the chain then settles on.
    mapping(uint256 chainId => bytes32[]) internal parked;
    /// @notice Per chain: how many of its parked operations were forwarded.
    mapping(uint256 chainId => uint256) public parkedHead;
    /// @notice Per chain and Gateway: how many of the chain's operations were routed through that
    /// Gateway's queue, ever. A chain leaves the Gateway only once the Gateway's L1 executor
    /// counts as many executed in its L1-final batches (`GatewayExecutor.priorityOpsFinal`).
    mapping(uint256 chainId => mapping(uint256 gateway => uint256)) public opsRoutedVia;

    /// @notice An L1 -> L2 transaction parked while its chain migrates (what `forwardParked`
    /// takes back, as the `L2TransactionParked` event gave it).
    struct ParkedOp {
        address sender;
        bytes data;
        uint256 fee;
    }

    event ChainRegistered(uint256 indexed chainId, address admin, uint256 settlementLayer);
    event ExecutorSet(uint256 indexed chainId, uint256 indexed settlementLayer, address executor);
    event SettlementLayerStatus(uint256 indexed settlementLayer, bool whitelisted, address relayer);
    event MigrationToGateway(uint256 indexed chainId, uint256 indexed gateway, uint256 firstBatch, StoredBatchInfo lastBatch);
    event MigrationFromGatewayStarted(uint256 indexed chainId, uint256 indexed gateway);
    event MigrationToGatewayStarted(uint256 indexed chainId, uint256 indexed gateway);
    event MigrationCancelled(uint256 indexed chainId, uint256 indexed target);
    /// @notice An L1 -> L2 transaction was parked (its chain migrates); `index` among the chain's
    /// parked operations.
    event L2TransactionParked(uint256 indexed chainId, uint256 indexed index, address sender, bytes data, uint256 fee);
    /// @notice Parked operations `fromIndex..toIndex` (exclusive) were routed to the chain's layer.
    event ParkedForwarded(uint256 indexed chainId, uint256 fromIndex, uint256 toIndex);
    event MigrationFromGateway(uint256 indexed chainId, uint256 indexed gateway, uint256 firstBatch);
    event SettlementLayerChanged(uint256 indexed chainId, uint256 from, uint256 to, uint256 firstBatch);
    event PriorityOpFeeSet(uint256 fee);
    event L2TransactionRequested(uint256 indexed chainId, uint256 indexed id, address indexed sender, uint256 fee);
    event FeesWithdrawn(address to, uint256 amount);
    event Deposited(uint256 indexed chainId, uint256 indexed id, address l2To, uint256 value);
    event MessageVerifiersSet(address l1Roots, address gatewayBatches);
    event WithdrawalFinalized(
        uint256 indexed chainId, uint256 indexed batchNumber, uint256 messageIndex, address receiver, uint256 amount
    );

    error NotOwner(address caller);
    error NotChainAdmin(uint256 chainId, address caller);
    error NotRelayer(uint256 settlementLayer, address caller);
    error ChainNotRegistered(uint256 chainId);
    error ChainAlreadyRegistered(uint256 chainId);
    error SettlementLayerNotWhitelisted(uint256 settlementLayer);
    error SettlementLayerNotOnL1(uint256 settlementLayer, uint256 settlesOn);
    error NoExecutorOn(uint256 chainId, uint256 settlementLayer);
    error AlreadySettlingOn(uint256 chainId, uint256 settlementLayer);
    error NotSettlingOnL1(uint256 chainId, uint256 settlementLayer);
    error NotSettlingOnGateway(uint256 chainId, uint256 settlementLayer);
    error LastBatchMismatch(uint256 chainId, bytes32 expected, bytes32 got);
    error MigrationNotStarted(uint256 chainId, uint256 target);
    /// @notice The chain's admin asked to move it to `target` and the move is not complete.
    error MigrationInProgress(uint256 chainId, uint256 target);
    /// @notice `forwardParked` was given an operation other than parked operation `index`.
    error ParkedOpMismatch(uint256 chainId, uint256 index, bytes32 expected, bytes32 got);
    /// @notice `forwardParked` was given more operations than are parked.
    error NotParked(uint256 chainId, uint256 index, uint256 parkedCount);
    /// @notice Operations routed to the chain through the Gateway are not all executed in batches
    /// L1 holds final: leaving now would lose them.
    error PriorityOpsNotFinal(uint256 chainId, uint256 gateway, uint256 routed, uint256 finalOnL1);
    /// @notice A priority operation paid less than `priorityOpFee`.
    error PriorityOpFeeTooLow(uint256 paid, uint256 fee);
    error L2GasLimitTooHigh(uint256 gasLimit, uint256 max);
    error L2CalldataTooLong(uint256 length, uint256 max);
    error NotAChain(uint256 chainId);
    error NoMessageVerifier(uint256 settlementLayer);
    error WithdrawalAlreadyFinalized(uint256 chainId, uint256 batchNumber, uint256 messageIndex);
    error EscrowTooLow(uint256 chainId, uint256 escrowed, uint256 amount);
    error BatchNotSettled(uint256 chainId, uint256 batchNumber);
    error WithdrawalTransferFailed(address receiver, uint256 amount);
    /// @notice Priority operations for a chain on a Gateway are not carried there yet.
    error PriorityOpsNotOnL1(uint256 chainId, uint256 settlementLayer);
    /// @notice Sending the collected fees failed.
    error FeeTransferFailed(address to, uint256 amount);
    /// @notice The batch a chain comes back with is not the one L1 holds as its last final
    /// batch through the Gateway (number and stored hash): the Gateway must settle it on L1 first.
    error NotFinalOnL1(uint256 chainId, uint256 batchNumber, uint256 lastFinalBatch, bytes32 expected, bytes32 got);

    modifier onlyOwner() {
        if (msg.sender != owner) revert NotOwner(msg.sender);
        _;
    }

    modifier onlyChainAdmin(uint256 chainId) {
        if (!chains[chainId].registered) revert ChainNotRegistered(chainId);
        if (msg.sender != chains[chainId].admin) revert NotChainAdmin(chainId, msg.sender);
        _;
    }

    constructor(address owner_) {
        owner = owner_;
    }

    // === governance ===

    /// @notice Registers a chain settling on `settlementLayer` (L1's chain id or a whitelisted
    /// one); a chain that starts on a Gateway is handed over to it after `genesis` (its batch 0).
    function registerChain(uint256 chainId, address admin, uint256 slChainId, StoredBatchInfo calldata genesis)
        external
        onlyOwner
    {
        if (chains[chainId].registered) revert ChainAlreadyRegistered(chainId);
        if (slChainId != block.chainid) {
            _requireUsableSettlementLayer(slChainId);
            _gatewayExecutor(slChainId).handOver(chainId, genesis);
        }
        chains[chainId] = ChainInfo({admin: admin, settlementLayer: slChainId, registered: true});
        _recordMigration(chainId, slChainId, 1);
        emit ChainRegistered(chainId, admin, slChainId);
    }

    /// @notice Records the executor that settles `chainId` on `settlementLayer`.
    function setExecutor(uint256 chainId, uint256 slChainId, address executor) external onlyOwner {
        if (!chains[chainId].registered) revert ChainNotRegistered(chainId);
        executorOn[chainId][slChainId] = executor;
        emit ExecutorSet(chainId, slChainId, executor);
    }

    /// @notice Whitelists (or removes) a settlement layer, with its relayer.
    function setSettlementLayerStatus(uint256 slChainId, bool status, address relayer) external onlyOwner {
        if (status) {
            if (!chains[slChainId].registered) revert ChainNotRegistered(slChainId);
            uint256 settlesOn = chains[slChainId].settlementLayer;
            if (settlesOn != block.chainid) revert SettlementLayerNotOnL1(slChainId, settlesOn);
        }
        whitelisted[slChainId] = status;
        relayerOf[slChainId] = relayer;
        emit SettlementLayerStatus(slChainId, status, relayer);
    }

    /// @notice Sets what an L1 -> L2 transaction costs (a fee makes flooding a chain's queue
    /// cost the flooder).
    function setPriorityOpFee(uint256 fee) external onlyOwner {
        priorityOpFee = fee;
        emit PriorityOpFeeSet(fee);
    }

    /// @notice Sends the collected fees to `to`.
    function withdrawFees(address payable to) external onlyOwner {
        uint256 amount = feesCollected;
        feesCollected = 0;
        (bool ok,) = to.call{value: amount}("");
        if (!ok) revert FeeTransferFailed(to, amount);
        emit FeesWithdrawn(to, amount);
    }

    // === priority operations ===

    /// @notice Queues an L1 -> L2 transaction for `chainId` and returns its id in the first
    /// queue it enters: the chain's executor on L1 for a chain on L1; for a chain on a Gateway,
    /// the Gateway's own queue (its `GatewayExecutor`), from which the Gateway's node forwards
    /// it to the chain's executor on the Gateway (the Gateway's batches report what they
    /// forwarded, checked against that queue here on L1). While the chain migrates (from its
    /// admin's start to the move's end) the operation is parked here instead and the id returned
    /// is its index among the chain's parked operations (`L2TransactionParked`): `forwardParked`
    /// routes it, in order, to the layer the chain then settles on, so no queue is left behind
    /// holding it and no deposit can hold a migration up. On the chain, `l2To` is called with
    /// `l2Value` and `l2Calldata` under
    /// `l2GasLimit` (or, when that fails, `l2Value` goes to `refundRecipient`; the sender when
    /// zero). `msg.value` pays `l2Value`, escrowed here for the chain, and at least
    /// `priorityOpFee`. The only way to queue one: an executor takes priority operations from
    /// its controller (this contract) alone.
    function requestL2Transaction(
        uint256 chainId,
        address l2To,
        uint256 l2Value,
        bytes calldata l2Calldata,
        uint256 l2GasLimit,
        address refundRecipient
    ) external payable returns (uint256 id) {
        if (!chains[chainId].registered) revert ChainNotRegistered(chainId);
        // A settlement layer (the Gateway) takes no L1 -> L2 transactions of its own: its queue
        // holds only the forwards this contract builds for the chains on it.
        if (whitelisted[chainId]) revert NotAChain(chainId);
        if (l2Calldata.length > MAX_L2_CALLDATA) revert L2CalldataTooLong(l2Calldata.length, MAX_L2_CALLDATA);
        if (msg.value < l2Value || msg.value - l2Value < priorityOpFee) {
            revert PriorityOpFeeTooLow(msg.value < l2Value ? 0 : msg.value - l2Value, priorityOpFee);
        }
        if (l2GasLimit > MAX_L2_GAS_LIMIT) revert L2GasLimitTooHigh(l2GasLimit, MAX_L2_GAS_LIMIT);
        escrowed[chainId] += l2Value;
        feesCollected += msg.value - l2Value;
        bytes memory data = abi.encode(
            l2To, l2Value, l2Calldata, l2GasLimit, refundRecipient == address(0) ? msg.sender : refundRecipient
        );
        if (migrationRequested[chainId] != 0 || parkedHead[chainId] < parked[chainId].length) {
            // The chain migrates (or operations parked during its migration wait to be
            // forwarded): parked here, in order, and routed to the layer it then settles on.
            id = parked[chainId].length;
            parked[chainId].push(keccak256(abi.encode(msg.sender, data, msg.value - l2Value)));
            emit L2TransactionParked(chainId, id, msg.sender, data, msg.value - l2Value);
            return id;
        }
        id = _route(chainId, msg.sender, data, l2To, l2Value, msg.value - l2Value);
    }

    /// @notice Routes the chain's parked operations `ops` (the next ones after `parkedHead`, as
    /// their `L2TransactionParked` events gave them) to the layer it settles on; anyone may, once
    /// no migration of the chain is under way (the node of a chain that migrated does it).
    function forwardParked(uint256 chainId, ParkedOp[] calldata ops) external {
        uint256 target = migrationRequested[chainId];
        if (target != 0) revert MigrationInProgress(chainId, target);
        uint256 head = parkedHead[chainId];
        bytes32[] storage list = parked[chainId];
        if (head + ops.length > list.length) revert NotParked(chainId, head + ops.length - 1, list.length);
        parkedHead[chainId] = head + ops.length;
        for (uint256 i = 0; i < ops.length; ++i) {
            ParkedOp calldata op = ops[i];
            bytes32 got = keccak256(abi.encode(op.sender, op.data, op.fee));
            if (got != list[head + i]) revert ParkedOpMismatch(chainId, head + i, list[head + i], got);
            (address l2To, uint256 l2Value,,,) = abi.decode(op.data, (address, uint256, bytes, uint256, address));
            _route(chainId, op.sender, op.data, l2To, l2Value, op.fee);
        }
        emit ParkedForwarded(chainId, head, head + ops.length);
    }

    /// @notice The chain's parked operations: how many were forwarded, and how many were parked.
    function parkedCount(uint256 chainId) external view returns (uint256 forwarded, uint256 total) {
        return (parkedHead[chainId], parked[chainId].length);
    }

    /// @dev Queues an operation in the queue of the chain's current layer (see
    /// `requestL2Transaction`); returns its id there.
    function _route(uint256 chainId, address sender, bytes memory data, address l2To, uint256 l2Value, uint256 fee)
        internal
        returns (uint256 id)
    {
        uint256 sl = chains[chainId].settlementLayer;
        if (sl == block.chainid) {
            id = _l1Executor(chainId).requestPriorityOp(sender, data);
        } else {
            // A chain on a Gateway: queued in the Gateway's own L1 queue as a call its inbox
            // makes on the Gateway, queuing the operation in the chain's executor there.
            address target = executorOn[chainId][sl];
            if (target == address(0)) revert NoExecutorOn(chainId, sl);
            bytes memory forward = abi.encode(
                target,
                uint256(0),
                abi.encodeCall(ChainExecutor.requestPriorityOp, (sender, data)),
                GATEWAY_FORWARD_GAS,
                sender
            );
            id = _gatewayExecutor(sl).requestPriorityOp(sender, forward);
            opsRoutedVia[chainId][sl] += 1;
        }
        emit L2TransactionRequested(chainId, id, sender, fee);
        emit Deposited(chainId, id, l2To, l2Value);
    }

    /// @notice Sets the message verifiers withdrawals are proven with.
    function setMessageVerifiers(address l1Roots, address gatewayBatches) external onlyOwner {
        l1RootsVerifier = MessageVerifier(l1Roots);
        gatewayBatchesVerifier = MessageVerifier(gatewayBatches);
        emit MessageVerifiersSet(l1Roots, gatewayBatches);
    }

    // === withdrawals ===

    /// @notice Pays out a withdrawal: the chain's `L2Bridge` sent `data` = `abi.encode(receiver,
    /// amount)` in batch `batchNumber`, proven against the roots of the layer the chain settled
    /// that batch on (L1's own, or the Gateway batches' on L1: where the batch was settled,
    /// before or after any migration, is in the migration history). Once per message; from the
    /// value escrowed for the chain.
    function finalizeWithdrawal(uint256 chainId, uint64 batchNumber, bytes calldata data, MessageProof calldata proof)
        external
    {
        bytes32 key = keccak256(abi.encode(chainId, batchNumber, proof.messageIndex));
        if (withdrawalFinalized[key]) revert WithdrawalAlreadyFinalized(chainId, batchNumber, proof.messageIndex);
        uint256 layer = settlementLayerOfBatch(chainId, batchNumber);
        MessageVerifier verifier = layer == block.chainid ? l1RootsVerifier : gatewayBatchesVerifier;
        if (address(verifier) == address(0)) revert NoMessageVerifier(layer);
        verifier.proveMessageInclusion(uint64(chainId), batchNumber, Message({sender: L2_BRIDGE, data: data}), proof);
        (address receiver, uint256 amount) = abi.decode(data, (address, uint256));
        uint256 held = escrowed[chainId];
        if (held < amount) revert EscrowTooLow(chainId, held, amount);
        withdrawalFinalized[key] = true;
        escrowed[chainId] = held - amount;
        emit WithdrawalFinalized(chainId, batchNumber, proof.messageIndex, receiver, amount);
        (bool ok,) = receiver.call{value: amount}("");
        if (!ok) revert WithdrawalTransferFailed(receiver, amount);
    }

    /// @notice The layer `chainId` settled batch `batchNumber` on, from its migration history
    /// (a binary search: the last of its entries starting at or before the batch).
    function settlementLayerOfBatch(uint256 chainId, uint256 batchNumber) public view returns (uint256) {
        Migration[] storage history = historyOf[chainId];
        (uint256 low, uint256 high) = (0, history.length);
        while (low < high) {
            uint256 mid = (low + high) / 2;
            if (history[mid].firstBatch <= batchNumber) low = mid + 1;
            else high = mid;
        }
        if (low == 0) revert BatchNotSettled(chainId, batchNumber);
        return history[low - 1].settlementLayer;
    }

    /// @notice How many migrations `chainId` has (its registration included).
    function migrationCountOf(uint256 chainId) external view returns (uint256) {
        return historyOf[chainId].length;
    }

    function _recordMigration(uint256 chainId, uint256 settlementLayer_, uint256 firstBatch) internal {
        Migration memory m = Migration({chainId: chainId, settlementLayer: settlementLayer_, firstBatch: firstBatch});
        migrations.push(m);
        historyOf[chainId].push(m);
    }

    // === views ===

    /// @notice The chain's active settlement layer.
    function settlementLayer(uint256 chainId) external view returns (uint256) {
        if (!chains[chainId].registered) revert ChainNotRegistered(chainId);
        return chains[chainId].settlementLayer;
    }

    /// @notice How many migration intervals are recorded (registration included).
    function migrationCount() external view returns (uint256) {
        return migrations.length;
    }

    // === migrations ===

    /// @notice The chain admin asks to move the chain from L1 to `gateway`: from now on its L1 ->
    /// L2 transactions are parked (its L1 queue can only shrink), so the node can drain it and
    /// call migrateToGateway.
    function startMigrationToGateway(uint256 chainId, uint256 gateway) external onlyChainAdmin(chainId) {
        _requireCanMoveToGateway(chainId, gateway);
        uint256 requested = migrationRequested[chainId];
        if (requested != 0) revert MigrationInProgress(chainId, requested);
        migrationRequested[chainId] = gateway;
        emit MigrationToGatewayStarted(chainId, gateway);
    }

    /// @notice The chain admin gives up the move it asked for (before it completed); what was
    /// parked meanwhile is then forwarded to the layer the chain stays on. Off a Gateway, the
    /// Gateway's relayer must reactivate the chain's executor there if it had deactivated it.
    function cancelMigration(uint256 chainId) external onlyChainAdmin(chainId) {
        uint256 target = migrationRequested[chainId];
        if (target == 0) revert MigrationNotStarted(chainId, 0);
        delete migrationRequested[chainId];
        emit MigrationCancelled(chainId, target);
    }

    /// @notice Moves a chain from L1 to `gateway`, after its admin's startMigrationToGateway:
    /// the L1 executor must be drained (every committed batch executed, no pending priority
    /// operation); `lastBatch` is the info of its last executed batch, which the relayer hands to
    /// the Gateway's executor.
    function migrateToGateway(uint256 chainId, uint256 gateway, StoredBatchInfo calldata lastBatch)
        external
        onlyChainAdmin(chainId)
    {
        ChainInfo storage chain = chains[chainId];
        _requireCanMoveToGateway(chainId, gateway);
        if (migrationRequested[chainId] != gateway) revert MigrationNotStarted(chainId, gateway);
        ChainExecutor l1Executor = _l1Executor(chainId);
        bytes32 expected = l1Executor.storedBatchHash(l1Executor.totalBatchesExecuted());
        bytes32 got = keccak256(abi.encode(lastBatch));
        if (got != expected || lastBatch.batchNumber != l1Executor.totalBatchesExecuted()) {
            revert LastBatchMismatch(chainId, expected, got);
        }
        l1Executor.deactivate();
        _gatewayExecutor(gateway).handOver(chainId, lastBatch);
        uint256 firstBatch = lastBatch.batchNumber + 1;
        chain.settlementLayer = gateway;
        delete migrationRequested[chainId];
        _recordMigration(chainId, gateway, firstBatch);
        emit MigrationToGateway(chainId, gateway, firstBatch, lastBatch);
        emit SettlementLayerChanged(chainId, block.chainid, gateway, firstBatch);
    }

    /// @notice The chain admin asks to move back to L1; from now on its L1 -> L2 transactions
    /// are parked. The relayer drains and deactivates the Gateway's executor and then calls
    /// finalizeMigrationFromGateway.
    function startMigrationFromGateway(uint256 chainId) external onlyChainAdmin(chainId) {
        uint256 gateway = chains[chainId].settlementLayer;
        if (gateway == block.chainid) revert NotSettlingOnGateway(chainId, gateway);
        uint256 requested = migrationRequested[chainId];
        if (requested != 0) revert MigrationInProgress(chainId, requested);
        migrationRequested[chainId] = block.chainid;
        emit MigrationFromGatewayStarted(chainId, gateway);
    }

    /// @notice Completes a move from the Gateway back to L1 with the last batch the chain
    /// executed on the Gateway; only the Gateway's relayer, only after the chain's admin asked
    /// for it (startMigrationFromGateway), and only once that batch is L1-final through the
    /// Gateway (the Gateway's L1 executor holds it as the chain's last final batch) and every
    /// operation routed to the chain through the Gateway is executed in its L1-final batches.
    function finalizeMigrationFromGateway(uint256 chainId, StoredBatchInfo calldata lastBatch) external {
        if (!chains[chainId].registered) revert ChainNotRegistered(chainId);
        uint256 gateway = chains[chainId].settlementLayer;
        if (gateway == block.chainid) revert NotSettlingOnGateway(chainId, gateway);
        if (msg.sender != relayerOf[gateway]) revert NotRelayer(gateway, msg.sender);
        if (migrationRequested[chainId] != block.chainid) revert MigrationNotStarted(chainId, block.chainid);
        GatewayExecutor onL1 = _gatewayExecutor(gateway);
        {
            uint256 routed = opsRoutedVia[chainId][gateway];
            uint256 done = onL1.priorityOpsFinal(chainId);
            if (done != routed) revert PriorityOpsNotFinal(chainId, gateway, routed, done);
        }
        {
            uint256 lastFinal = onL1.lastFinalBatch(chainId);
            bytes32 expected = onL1.lastFinalHash(chainId);
            bytes32 got = keccak256(abi.encode(lastBatch));
            if (lastBatch.batchNumber != lastFinal || got != expected) {
                revert NotFinalOnL1(chainId, lastBatch.batchNumber, lastFinal, expected, got);
            }
        }
        onL1.takeBack(chainId);
        delete migrationRequested[chainId];
        ChainExecutor l1Executor = _l1Executor(chainId);
        l1Executor.activate(lastBatch);
        uint256 firstBatch = lastBatch.batchNumber + 1;
        chains[chainId].settlementLayer = block.chainid;
        _recordMigration(chainId, block.chainid, firstBatch);
        emit MigrationFromGateway(chainId, gateway, firstBatch);
        emit SettlementLayerChanged(chainId, gateway, block.chainid, firstBatch);
    }

    function _l1Executor(uint256 chainId) internal view returns (ChainExecutor) {
        address executor = executorOn[chainId][block.chainid];
        if (executor == address(0)) revert NoExecutorOn(chainId, block.chainid);
        return ChainExecutor(executor);
    }

    /// @dev The Gateway's own executor on L1 (the executor of chain `gateway` on L1).
    function _gatewayExecutor(uint256 gateway) internal view returns (GatewayExecutor) {
        address executor = executorOn[gateway][block.chainid];
        if (executor == address(0)) revert NoExecutorOn(gateway, block.chainid);
        return GatewayExecutor(executor);
    }

    function _requireCanMoveToGateway(uint256 chainId, uint256 gateway) internal view {
        uint256 current = chains[chainId].settlementLayer;
        if (current == gateway) revert AlreadySettlingOn(chainId, gateway);
        if (current != block.chainid) revert NotSettlingOnL1(chainId, current);
        _requireUsableSettlementLayer(gateway);
        if (executorOn[chainId][gateway] == address(0)) revert NoExecutorOn(chainId, gateway);
    }

    function _requireUsableSettlementLayer(uint256 slChainId) internal view {
        if (!whitelisted[slChainId]) revert SettlementLayerNotWhitelisted(slChainId);
        uint256 settlesOn = chains[slChainId].settlementLayer;
        if (settlesOn != block.chainid) revert SettlementLayerNotOnL1(slChainId, settlesOn);
    }
}
