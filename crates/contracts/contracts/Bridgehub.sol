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
    Migration[] public migrations;
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
    /// @notice The Gateway a chain's admin asked to leave (startMigrationFromGateway), until the
    /// move back to L1 completes; 0 when no such request is open.
    mapping(uint256 chainId => uint256 gateway) public migrationBackRequested;

    event ChainRegistered(uint256 indexed chainId, address admin, uint256 settlementLayer);
    event ExecutorSet(uint256 indexed chainId, uint256 indexed settlementLayer, address executor);
    event SettlementLayerStatus(uint256 indexed settlementLayer, bool whitelisted, address relayer);
    event MigrationToGateway(uint256 indexed chainId, uint256 indexed gateway, uint256 firstBatch, StoredBatchInfo lastBatch);
    event MigrationFromGatewayStarted(uint256 indexed chainId, uint256 indexed gateway);
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
    error MigrationNotStarted(uint256 chainId, uint256 gateway);
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
        migrations.push(Migration({chainId: chainId, settlementLayer: slChainId, firstBatch: 1}));
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
    /// forwarded, checked against that queue here on L1). On the chain, on the chain, `l2To` is called with `l2Value` and `l2Calldata` under
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
        uint256 sl = chains[chainId].settlementLayer;
        if (msg.value < l2Value || msg.value - l2Value < priorityOpFee) {
            revert PriorityOpFeeTooLow(msg.value < l2Value ? 0 : msg.value - l2Value, priorityOpFee);
        }
        if (l2GasLimit > MAX_L2_GAS_LIMIT) revert L2GasLimitTooHigh(l2GasLimit, MAX_L2_GAS_LIMIT);
        escrowed[chainId] += l2Value;
        feesCollected += msg.value - l2Value;
        bytes memory data = abi.encode(
            l2To, l2Value, l2Calldata, l2GasLimit, refundRecipient == address(0) ? msg.sender : refundRecipient
        );
        if (sl == block.chainid) {
            id = _l1Executor(chainId).requestPriorityOp(msg.sender, data);
        } else {
            // A chain on a Gateway: queued in the Gateway's own L1 queue as a call its inbox
            // makes on the Gateway, queuing the operation in the chain's executor there.
            address target = executorOn[chainId][sl];
            if (target == address(0)) revert NoExecutorOn(chainId, sl);
            bytes memory forward = abi.encode(
                target,
                uint256(0),
                abi.encodeCall(ChainExecutor.requestPriorityOp, (msg.sender, data)),
                GATEWAY_FORWARD_GAS,
                msg.sender
            );
            id = _gatewayExecutor(sl).requestPriorityOp(msg.sender, forward);
        }
        emit L2TransactionRequested(chainId, id, msg.sender, msg.value - l2Value);
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

    /// @notice The layer `chainId` settled batch `batchNumber` on, from the migration history.
    function settlementLayerOfBatch(uint256 chainId, uint256 batchNumber) public view returns (uint256) {
        for (uint256 i = migrations.length; i > 0; i--) {
            Migration storage m = migrations[i - 1];
            if (m.chainId == chainId && m.firstBatch <= batchNumber) return m.settlementLayer;
        }
        revert BatchNotSettled(chainId, batchNumber);
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

    /// @notice Moves a chain from L1 to `gateway`: the L1 executor must be drained (every
    /// committed batch executed, no pending priority operation); `lastBatch` is the info of its
    /// last executed batch, which the relayer hands to the Gateway's executor.
    function migrateToGateway(uint256 chainId, uint256 gateway, StoredBatchInfo calldata lastBatch)
        external
        onlyChainAdmin(chainId)
    {
        ChainInfo storage chain = chains[chainId];
        if (chain.settlementLayer == gateway) revert AlreadySettlingOn(chainId, gateway);
        if (chain.settlementLayer != block.chainid) revert NotSettlingOnL1(chainId, chain.settlementLayer);
        _requireUsableSettlementLayer(gateway);
        if (executorOn[chainId][gateway] == address(0)) revert NoExecutorOn(chainId, gateway);
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
        migrations.push(Migration({chainId: chainId, settlementLayer: gateway, firstBatch: firstBatch}));
        emit MigrationToGateway(chainId, gateway, firstBatch, lastBatch);
        emit SettlementLayerChanged(chainId, block.chainid, gateway, firstBatch);
    }

    /// @notice The chain admin asks to move back to L1; the relayer drains and deactivates the
    /// Gateway's executor and then calls finalizeMigrationFromGateway.
    function startMigrationFromGateway(uint256 chainId) external onlyChainAdmin(chainId) {
        uint256 gateway = chains[chainId].settlementLayer;
        if (gateway == block.chainid) revert NotSettlingOnGateway(chainId, gateway);
        migrationBackRequested[chainId] = gateway;
        emit MigrationFromGatewayStarted(chainId, gateway);
    }

    /// @notice Completes a move from the Gateway back to L1 with the last batch the chain
    /// executed on the Gateway; only the Gateway's relayer, only after the chain's admin asked
    /// for it (startMigrationFromGateway), and only once that batch is L1-final through the
    /// Gateway (the Gateway's L1 executor holds it as the chain's last final batch).
    function finalizeMigrationFromGateway(uint256 chainId, StoredBatchInfo calldata lastBatch) external {
        if (!chains[chainId].registered) revert ChainNotRegistered(chainId);
        uint256 gateway = chains[chainId].settlementLayer;
        if (gateway == block.chainid) revert NotSettlingOnGateway(chainId, gateway);
        if (msg.sender != relayerOf[gateway]) revert NotRelayer(gateway, msg.sender);
        if (migrationBackRequested[chainId] != gateway) revert MigrationNotStarted(chainId, gateway);
        GatewayExecutor onL1 = _gatewayExecutor(gateway);
        {
            uint256 lastFinal = onL1.lastFinalBatch(chainId);
            bytes32 expected = onL1.lastFinalHash(chainId);
            bytes32 got = keccak256(abi.encode(lastBatch));
            if (lastBatch.batchNumber != lastFinal || got != expected) {
                revert NotFinalOnL1(chainId, lastBatch.batchNumber, lastFinal, expected, got);
            }
        }
        onL1.takeBack(chainId);
        delete migrationBackRequested[chainId];
        ChainExecutor l1Executor = _l1Executor(chainId);
        l1Executor.activate(lastBatch);
        uint256 firstBatch = lastBatch.batchNumber + 1;
        chains[chainId].settlementLayer = block.chainid;
        migrations.push(Migration({chainId: chainId, settlementLayer: block.chainid, firstBatch: firstBatch}));
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

    function _requireUsableSettlementLayer(uint256 slChainId) internal view {
        if (!whitelisted[slChainId]) revert SettlementLayerNotWhitelisted(slChainId);
        uint256 settlesOn = chains[slChainId].settlementLayer;
        if (settlesOn != block.chainid) revert SettlementLayerNotOnL1(slChainId, settlesOn);
    }
}
