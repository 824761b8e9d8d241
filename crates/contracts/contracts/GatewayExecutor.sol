// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity 0.8.30;

import {DataAvailability} from "./DataAvailability.sol";
import {GovernedVerifier} from "./GovernedVerifier.sol";
import {IVerifier} from "./IVerifier.sol";
import {Merkle} from "./Merkle.sol";
import {PriorityQueue} from "./PriorityQueue.sol";
import {
    ChainBatchRef, ChainFrontier, ChainRoot, CommitBatchInfo, Commitments, GatewayCarry, StoredBatchInfo
} from "./Types.sol";

/// @notice The Gateway's own executor on L1. Each Gateway batch is committed, proved and executed
/// in one call, with ONE aggregated proof whose exposed inputs are the Gateway batch's own public
/// input followed by those of every chain batch it carries (the chain batches executed on the
/// Gateway inside it). Once a Gateway batch is settled here, those chain batches are L1-final and
/// the Gateway's shared message root as of that batch is recorded for proofs on L1.
/// @dev L1 trusts the Gateway operator for nothing it can check itself:
/// - per chain it keeps the last L1-final batch (number and stored hash), set by the Bridgehub
///   when the chain is handed over to the Gateway; the carried batches of a chain must start
///   from exactly that batch and be consecutive, and only chains the Bridgehub handed over (and
///   has not taken back) may be carried;
/// - each chain batch's public input is recomputed here from the previous batch's state
///   commitment and the carried batch, never taken from calldata;
/// - the shared message root is recomputed here from what L1 holds of the Gateway
///   MessageRoot's trees (chains in the order the Gateway added them, each chain's tree of its
///   L1-final batch roots): one hash of the shared tree and each chain's leaf count in storage,
///   the tree and the carried chains' frontiers in calldata, checked against them; a Gateway
///   batch whose `l2LogsRoot` differs is refused.
/// The verifier sees `[gatewayChainId, gatewayInput, chainId_1, input_1, ...]`, the chain
/// batches in the order `GatewayCarry.leafOrder` gives (the order they executed on the Gateway):
/// every chain's leaf proof binds its chain id, so a Gateway cannot pass one chain's proof off as
/// another's.
contract GatewayExecutor is GovernedVerifier, PriorityQueue {

    /// @notice The operator role bit that may settle batches (its own bit: holding other roles
    /// does not let an operator settle).
    uint8 public constant ROLE_SETTLE = 8;
    /// @notice How far a batch's last block may be ahead of L1's clock.
    uint256 public constant MAX_FUTURE_TIMESTAMP = 1 hours;

    /// @notice The Gateway's chain id.
    uint256 public immutable chainId;
    /// @notice The only caller that may hand chains over to the Gateway and take them back.
    address public immutable bridgehub;
    address public admin;
    mapping(address => uint8) public operatorRoles;

    /// @dev How many Gateway batches are settled (committed, proved and executed at once) and
    /// the last one's last block timestamp: ONE slot, read once and written once per Gateway
    /// batch (`totalBatchesExecuted`, `lastCommittedTimestamp`).
    struct Settled {
        uint64 count;
        uint64 lastTimestamp;
    }

    Settled internal settled;
    /// @notice The stored hash of the last settled Gateway batch (`totalBatchesExecuted`), the
    /// one the next settles on top of: the only one L1 needs, so one slot is rewritten instead
    /// of a new one per batch (22,100 gas); every settled batch's hash is in its
    /// `GatewayBatchSettled` event.
    bytes32 public lastBatchHash;
    /// @dev What L1 holds of one chain, packed in ONE slot so that a carried run of the chain
    /// reads it once and writes it once (the getters below read it field by field):
    /// - `lastFinalBatch`: its highest batch L1-final through the Gateway (or the batch it was
    ///   handed over after);
    /// - `priorityOpsFinal`: the priority operations its L1-final batches executed (their
    ///   `numberOfL1Txs`), ever; the Bridgehub lets a chain leave only when this matches what it
    ///   routed to the chain through the Gateway;
    /// - `leafCount`: the leaves of its batch tree (whose root is in the shared tree);
    /// - `onGateway`: it settles on the Gateway (handed over and not taken back);
    /// - `inSharedTree`: the Gateway's MessageRoot added it to the shared tree.
    struct ChainState {
        uint64 lastFinalBatch;
        uint64 priorityOpsFinal;
        uint64 leafCount;
        bool onGateway;
        bool inSharedTree;
    }

    mapping(uint256 chainId => ChainState) internal chains;
    /// @notice Per chain, the stored hash of `lastFinalBatch`.
    mapping(uint256 chainId => bytes32) public lastFinalHash;
    /// @notice The Gateway's shared message root (interop root) as of each settled Gateway batch.
    mapping(uint256 batchNumber => bytes32) public sharedRootOf;
    /// @notice The Gateway's shared tree as L1 holds it (every chain in the order the Gateway's
    /// MessageRoot added it, with the root of its batch tree), as a hash:
    /// keccak256 of its entries as `GatewayCarry.sharedTree` encodes them (two words each: the
    /// chain id and the root). Each Gateway batch brings the tree in calldata, checked against
    /// it: one slot instead of one per chain.
    bytes32 public sharedTreeHash;
    // The Gateway's priority queue (`PriorityQueue`): operations the Bridgehub queued for the
    // chains on the Gateway; the Gateway's node forwards each to its chain's queue there, and
    // each Gateway batch reports the ones it forwarded (`numberOfL1Txs`, `priorityOpsHash`).

    /// @notice A Gateway batch was committed, proved and executed.
    event GatewayBatchSettled(uint256 indexed batchNumber, bytes32 batchHash, bytes32 sharedRoot, uint256 chainBatches);
    /// @notice Chain `chainId`'s batches `fromBatch..=toBatch` are L1-final through Gateway batch `gatewayBatch`.
    event ChainBatchesFinal(uint256 indexed chainId, uint256 fromBatch, uint256 toBatch, uint256 indexed gatewayBatch);
    /// @notice The Bridgehub handed chain `chainId` over to the Gateway after batch `lastBatch`.
    event ChainHandedOver(uint256 indexed chainId, uint256 lastBatch, bytes32 lastBatchHash);
    /// @notice The Bridgehub took chain `chainId` back to L1 after batch `lastBatch`.
    event ChainTakenBack(uint256 indexed chainId, uint256 lastBatch);
    event OperatorSet(address indexed operator, uint8 roles);

    error NotAdmin(address caller);
    /// @notice L1 keeps the stored hash of the last settled Gateway batch only
    /// (`lastBatchHash`); earlier ones are in the `GatewayBatchSettled` events.
    error BatchHashNotKept(uint256 batchNumber, uint256 lastSettled);
    error NotBridgehub(address caller);
    error NotOperator(address caller, uint8 role);
    error BatchNumberMismatch(uint256 expected, uint256 got);
    error PreviousBatchHashMismatch(bytes32 expected, bytes32 got);
    error ChainIdMismatch(uint256 expected, uint256 got);
    error SettlementLayerChainIdMismatch(uint256 expected, uint256 got);
    error TimestampsInvalid(uint64 first, uint64 last, uint64 previousLast, uint256 now_);
    /// @notice The Gateway settles no priority operations of its own on L1.
    error PriorityOpsHashMismatch(uint256 batchNumber, bytes32 expected, bytes32 got);
    /// @notice A carried chain batch or an added chain names chain 0, the Gateway itself, or an
    /// id above 64 bits.
    error InvalidChainId(uint256 index, uint256 chainId);
    /// @notice A carried chain batch is not the one after the chain's last L1-final one (or
    /// after the previous entry of the same chain).
    error ChainBatchOutOfOrder(uint256 chainId, uint256 expected, uint256 got);
    /// @notice The carried previous batch of a chain is not the one L1 holds as its last final.
    error ChainPreviousBatchMismatch(uint256 chainId, uint256 lastFinalBatch, bytes32 expected, bytes32 got);
    /// @notice A carried chain batch was committed for another chain or settlement layer.
    error CarriedBatchMisdirected(uint256 chainId, uint256 batchNumber, uint256 committedChainId, uint256 slChainId);
    /// @notice A carried chain batch's public input is not the one L1 computes for it.
    error ChainPublicInputMismatch(uint256 chainId, uint256 batchNumber, uint256 expected, uint256 got);
    /// @notice A carried chain batch belongs to a chain the Bridgehub has not handed over to
    /// the Gateway (or has taken back).
    error ChainNotOnGateway(uint256 chainId, uint256 batchNumber);
    /// @notice A carried chain batch belongs to a chain that is not in the shared tree.
    error ChainNotInSharedTree(uint256 chainId);
    /// @notice An added chain is already in the shared tree.
    error ChainAlreadyInSharedTree(uint256 chainId);
    /// @notice The carried shared tree is not the one L1 holds.
    error SharedTreeMismatch(bytes32 expected, bytes32 got);
    /// @notice `previous` does not hold exactly one entry per run of one chain.
    error PreviousBatchesLengthMismatch(uint256 runs, uint256 previous);
    /// @notice `frontiers` does not hold exactly one entry per run of one chain.
    error FrontiersLengthMismatch(uint256 runs, uint256 frontiers);
    /// @notice The carried frontier of a chain's batch tree is not the tree L1 holds.
    error ChainFrontierMismatch(uint256 chainId, bytes32 expected, bytes32 got);
    /// @notice A run's `treeIndex` does not point at its chain in the shared tree.
    error ChainTreeIndexMismatch(uint256 chainId, uint256 treeIndex);
    /// @notice The Gateway batch's `l2LogsRoot` is not the shared root of what L1 holds final.
    error SharedRootMismatch(uint256 batchNumber, bytes32 expected, bytes32 got);
    /// @notice A handover names a batch below the chain's last L1-final one.
    error StaleHandover(uint256 chainId, uint256 lastBatch, uint256 lastFinalBatch);
    /// @notice `leafOrder` does not hold two bytes per carried chain batch.
    error LeafOrderLengthMismatch(uint256 chainBatches, uint256 bytesGiven);
    /// @notice `leafOrder` places carried chain batch `index` at `position`, which is past the
    /// last leaf or taken by another batch (it must be a permutation).
    error LeafOrderInvalid(uint256 index, uint256 position);
    /// @notice The aggregated proof does not prove exactly these batches.
    error InvalidProof();

    constructor(
        uint256 chainId_,
        IVerifier verifier_,
        address admin_,
        address bridgehub_,
        address governance_,
        uint256 verifierDelay_,
        StoredBatchInfo memory genesis
    ) GovernedVerifier(verifier_, governance_, verifierDelay_) {
        chainId = chainId_;
        admin = admin_;
        bridgehub = bridgehub_;
        lastBatchHash = Commitments.storedBatchHash(genesis);
        sharedTreeHash = keccak256("");
    }

    /// @notice Gateway batches settled (committed, proved and executed at once).
    function totalBatchesExecuted() public view returns (uint256) {
        return settled.count;
    }

    /// @notice The last settled Gateway batch's last block timestamp (the next one's first block
    /// may not be older).
    function lastCommittedTimestamp() external view returns (uint64) {
        return settled.lastTimestamp;
    }

    /// @notice The stored hash of Gateway batch `batchNumber`, which must be the last settled
    /// one (`BatchHashNotKept` otherwise: see `lastBatchHash`).
    function storedBatchHash(uint256 batchNumber) external view returns (bytes32) {
        uint256 last = settled.count;
        if (batchNumber != last) revert BatchHashNotKept(batchNumber, last);
        return lastBatchHash;
    }

    /// @notice Per chain, its highest batch L1-final through the Gateway (or the batch it was
    /// handed over after).
    function lastFinalBatch(uint256 id) external view returns (uint256) {
        return chains[id].lastFinalBatch;
    }

    /// @notice Per chain: the priority operations its L1-final batches executed, ever.
    function priorityOpsFinal(uint256 id) external view returns (uint256) {
        return chains[id].priorityOpsFinal;
    }

    /// @notice Whether the chain settles on the Gateway (handed over and not taken back).
    function onGateway(uint256 id) external view returns (bool) {
        return chains[id].onGateway;
    }

    /// @notice Whether the chain is in the Gateway's shared tree.
    function inSharedTree(uint256 id) external view returns (bool) {
        return chains[id].inSharedTree;
    }

    /// @notice Gives `operator` the `roles` bits (0 removes it; settling needs `ROLE_SETTLE`).
    function setOperator(address operator, uint8 roles) external {
        if (msg.sender != admin) revert NotAdmin(msg.sender);
        operatorRoles[operator] = roles;
        emit OperatorSet(operator, roles);
    }

    /// @notice The Bridgehub hands chain `id` over to the Gateway: its next carried batch must
    /// follow `lastBatch` (the last batch it executed where it settled before, or its genesis).
    function handOver(uint256 id, StoredBatchInfo calldata lastBatch) external {
        if (msg.sender != bridgehub) revert NotBridgehub(msg.sender);
        ChainState storage state = chains[id];
        if (lastBatch.batchNumber < state.lastFinalBatch) {
            revert StaleHandover(id, lastBatch.batchNumber, state.lastFinalBatch);
        }
        bytes32 hash = Commitments.storedBatchHash(lastBatch);
        state.lastFinalBatch = lastBatch.batchNumber;
        state.onGateway = true;
        lastFinalHash[id] = hash;
        emit ChainHandedOver(id, lastBatch.batchNumber, hash);
    }

    /// @notice The Bridgehub takes chain `id` back: no batch of it is carried any more.
    function takeBack(uint256 id) external {
        if (msg.sender != bridgehub) revert NotBridgehub(msg.sender);
        chains[id].onGateway = false;
        emit ChainTakenBack(id, chains[id].lastFinalBatch);
    }

    /// @notice The shared root of what L1 holds final: the root the next Gateway batch must carry
    /// when it adds no chain and carries no chain batch.
    function sharedRoot() external view returns (bytes32) {
        uint256 count = settled.count;
        return count == 0 ? Merkle.rootOf(new bytes32[](0)) : sharedRootOf[count];
    }

    /// @notice Same as `totalBatchesExecuted`: settling commits, proves and executes at once.
    function totalBatchesCommitted() external view returns (uint256) {
        return settled.count;
    }

    /// @notice Same as `totalBatchesExecuted`.
    function totalBatchesVerified() external view returns (uint256) {
        return settled.count;
    }

    /// @notice Queues an operation for a chain on the Gateway that `sender` paid for; only the
    /// Bridgehub. Returns its id.
    function requestPriorityOp(address sender, bytes calldata data) external returns (uint256 id) {
        if (msg.sender != bridgehub) revert NotBridgehub(msg.sender);
        id = _queuePriorityOp(sender, data);
    }

    /// @notice Commits, proves and executes Gateway batch `batch` on top of `last` (the info of
    /// batch `totalBatchesExecuted`).
    /// @param daInput checked against the batch's `daCommitment` (`DataAvailability.check`).
    /// @param carry the chain batches executed on the Gateway inside this batch (with each
    /// chain's previous batch) and the chains its MessageRoot added.
    /// @param proof the aggregated proof over the Gateway's leaf and the chain batches' leaves.
    function settleBatch(
        StoredBatchInfo calldata last,
        CommitBatchInfo calldata batch,
        bytes calldata daInput,
        GatewayCarry calldata carry,
        bytes calldata proof
    ) external {
        if (operatorRoles[msg.sender] & ROLE_SETTLE == 0) revert NotOperator(msg.sender, ROLE_SETTLE);
        Settled memory before = settled;
        uint256 number = uint256(before.count) + 1;
        {
            bytes32 expectedPrev = lastBatchHash;
            bytes32 gotPrev = Commitments.storedBatchHash(last);
            if (gotPrev != expectedPrev) revert PreviousBatchHashMismatch(expectedPrev, gotPrev);
        }
        _checkBatch(number, batch, before.lastTimestamp);
        DataAvailability.requireNoBlobAfter(DataAvailability.check(batch, daInput, 0));

        bytes32 commitment = Commitments.gatewayCommitment(Commitments.batchOutputHashOf(batch), carry.chainBatches);
        uint256[] memory inputs = new uint256[](2 + 2 * carry.chainBatches.length);
        inputs[0] = chainId;
        inputs[1] = Commitments.publicInput(last.stateCommitment, batch.newStateCommitment, commitment);
        {
            // The Gateway's own priority operations (L1 -> L2 transactions of the chains on it,
            // forwarded to their queues there): the batch processed these, in queue order.
            bytes32 opsHash = _consumePriorityOps(batch.numberOfL1Txs);
            if (opsHash != batch.priorityOpsHash) revert PriorityOpsHashMismatch(number, opsHash, batch.priorityOpsHash);
        }
        bytes32[] memory tree = _sharedTree(carry);
        _finalizeChainBatches(carry, inputs, number, tree);
        {
            bytes32 expectedRoot = Commitments.sharedRootOf(tree);
            if (batch.l2LogsRoot != expectedRoot) revert SharedRootMismatch(number, expectedRoot, batch.l2LogsRoot);
            sharedTreeHash = _hashOf(tree);
        }
        inputs = _inLeafOrder(inputs, carry.leafOrder);
        // A verifier that reverts (a malformed proof) refuses the proof as well.
        try verifier.verify(inputs, proof) returns (bool valid) {
            if (!valid) revert InvalidProof();
        } catch {
            revert InvalidProof();
        }

        StoredBatchInfo memory stored = StoredBatchInfo({
            batchNumber: batch.batchNumber,
            stateCommitment: batch.newStateCommitment,
            numberOfL1Txs: batch.numberOfL1Txs,
            priorityOpsHash: batch.priorityOpsHash,
            dependencyRootsRollingHash: batch.dependencyRootsRollingHash,
            l2LogsRoot: batch.l2LogsRoot,
            commitment: commitment
        });
        bytes32 hash = Commitments.storedBatchHash(stored);
        lastBatchHash = hash;
        sharedRootOf[number] = batch.l2LogsRoot;
        // (`number` is `batch.batchNumber`, a uint64.)
        settled = Settled({count: uint64(number), lastTimestamp: batch.lastBlockTimestamp});
        emit GatewayBatchSettled(number, hash, batch.l2LogsRoot, carry.chainBatches.length);
    }

    /// @dev The Gateway batch's own fields.
    function _checkBatch(uint256 number, CommitBatchInfo calldata batch, uint64 previousLast) internal view {
        if (batch.batchNumber != number) revert BatchNumberMismatch(number, batch.batchNumber);
        if (batch.chainId != chainId) revert ChainIdMismatch(chainId, batch.chainId);
        if (batch.slChainId != block.chainid) revert SettlementLayerChainIdMismatch(block.chainid, batch.slChainId);
        if (
            batch.firstBlockTimestamp > batch.lastBlockTimestamp || batch.firstBlockTimestamp < previousLast
                || batch.lastBlockTimestamp > block.timestamp + MAX_FUTURE_TIMESTAMP
        ) revert TimestampsInvalid(batch.firstBlockTimestamp, batch.lastBlockTimestamp, previousLast, block.timestamp);
    }

    /// @dev The shared tree as L1 holds it (the carried one, checked against `sharedTreeHash`),
    /// in memory as two words per chain (its id, its batch tree's root), followed by the chains
    /// the Gateway's MessageRoot added in this batch, each with an empty batch tree.
    function _sharedTree(GatewayCarry calldata carry) internal returns (bytes32[] memory tree) {
        ChainRoot[] calldata held = carry.sharedTree;
        uint256 n = held.length;
        uint256[] calldata ids = carry.chainsAdded;
        tree = new bytes32[](2 * (n + ids.length));
        // The carried entries as they are encoded (static structs: two words each).
        assembly ("memory-safe") {
            calldatacopy(add(tree, 0x20), held.offset, mul(n, 0x40))
        }
        {
            bytes32 got;
            assembly ("memory-safe") {
                got := keccak256(add(tree, 0x20), mul(n, 0x40))
            }
            bytes32 expected = sharedTreeHash;
            if (got != expected) revert SharedTreeMismatch(expected, got);
        }
        bytes32 empty = Merkle.nodeOf(bytes32(0), bytes32(0));
        for (uint256 i = 0; i < ids.length; ++i) {
            uint256 id = ids[i];
            if (id == 0 || id == chainId || id > type(uint64).max) revert InvalidChainId(i, id);
            ChainState storage state = chains[id];
            if (state.inSharedTree) revert ChainAlreadyInSharedTree(id);
            state.inSharedTree = true;
            // (Its batch tree is empty: no batch of a chain outside the tree is carried.)
            tree[2 * (n + i)] = bytes32(id);
            tree[2 * (n + i) + 1] = empty;
        }
    }

    /// @dev `sharedTreeHash` of `tree` (see `_sharedTree`).
    function _hashOf(bytes32[] memory tree) internal pure returns (bytes32 hash) {
        assembly ("memory-safe") {
            hash := keccak256(add(tree, 0x20), mul(mload(tree), 0x20))
        }
    }

    /// @dev Checks each run of one chain against what L1 holds final for it, fills the chain
    /// batches' inputs after the Gateway's own two (recomputed here), adds their roots to the
    /// chain's batch tree and advances the chain's last L1-final batch (one write per run).
    function _finalizeChainBatches(
        GatewayCarry calldata carry,
        uint256[] memory inputs,
        uint256 gatewayBatch,
        bytes32[] memory tree
    ) internal {
        ChainBatchRef[] calldata refs = carry.chainBatches;
        uint256 i = 0;
        uint256 run = 0;
        while (i < refs.length) {
            // What a run allocates (its chain's state and tree, each batch's hashing) is dead
            // once the run is done: the free memory pointer goes back, so memory (whose cost
            // grows with its square) stays the size of one run, not of the whole carry.
            uint256 freeMemory;
            assembly ("memory-safe") {
                freeMemory := mload(0x40)
            }
            uint256 id = refs[i].chainId;
            if (id == 0 || id == chainId) revert InvalidChainId(i, id);
            // One read of the chain's packed state; one write after its run.
            ChainState memory state = chains[id];
            if (!state.onGateway) revert ChainNotOnGateway(id, refs[i].batch.batchNumber);
            if (!state.inSharedTree) revert ChainNotInSharedTree(id);
            if (run >= carry.previous.length) revert PreviousBatchesLengthMismatch(run + 1, carry.previous.length);
            if (run >= carry.frontiers.length) revert FrontiersLengthMismatch(run + 1, carry.frontiers.length);
            uint256 first = uint256(state.lastFinalBatch) + 1;
            {
                StoredBatchInfo calldata previous = carry.previous[run];
                bytes32 got = Commitments.storedBatchHashOf(previous);
                bytes32 expected = lastFinalHash[id];
                if (got != expected || previous.batchNumber != first - 1) {
                    revert ChainPreviousBatchMismatch(id, first - 1, expected, got);
                }
            }
            i = _finalizeRun(carry, i, run, inputs, state, tree);
            chains[id] = state;
            emit ChainBatchesFinal(id, first, state.lastFinalBatch, gatewayBatch);
            ++run;
            assembly ("memory-safe") {
                mstore(0x40, freeMemory)
            }
        }
        if (run != carry.previous.length) revert PreviousBatchesLengthMismatch(run, carry.previous.length);
        if (run != carry.frontiers.length) revert FrontiersLengthMismatch(run, carry.frontiers.length);
    }

    /// @dev Run `run` of the carry, of chain `carry.chainBatches[start].chainId` from index
    /// `start`: its batch tree taken from the shared tree (checked against the carried
    /// frontier), the run finalized, the new root put back; returns the index after it.
    function _finalizeRun(
        GatewayCarry calldata carry,
        uint256 start,
        uint256 run,
        uint256[] memory inputs,
        ChainState memory state,
        bytes32[] memory tree
    ) internal returns (uint256 i) {
        uint256 id = carry.chainBatches[start].chainId;
        ChainFrontier calldata frontier = carry.frontiers[run];
        uint256 at = _rootIndexOf(tree, frontier.treeIndex, id);
        bytes32[32] memory branch = _branchOf(id, tree[at], frontier.nodes, state.leafCount);
        i = _carryRun(carry.chainBatches, start, carry.previous[run].stateCommitment, inputs, state, branch);
        tree[at] = Merkle.rootIn(branch, state.leafCount);
    }

    /// @dev The batches of one run from index `start`: each checked and its public input put
    /// in `inputs`, its root appended to `branch`; the chain's `state` advanced (in memory; the
    /// caller writes it back) and its last final hash written (the stored hash of the run's
    /// last batch, the only one L1 keeps); returns the index after it.
    function _carryRun(
        ChainBatchRef[] calldata refs,
        uint256 start,
        bytes32 prevState,
        uint256[] memory inputs,
        ChainState memory state,
        bytes32[32] memory branch
    ) internal returns (uint256 i) {
        uint256 id = refs[start].chainId;
        uint256 next = uint256(state.lastFinalBatch) + 1;
        bytes32 commitment;
        i = start;
        uint256 count = refs.length;
        while (i < count && refs[i].chainId == id) {
            ChainBatchRef calldata r = refs[i];
            CommitBatchInfo calldata c = r.batch;
            commitment = _checkCarried(r, next, prevState);
            uint256 input = r.publicInput;
            assembly ("memory-safe") {
                // inputs[2 + 2i] = id, inputs[3 + 2i] = input: `inputs` holds 2 + 2 * count
                // words and i < count.
                let at := add(inputs, shl(6, add(i, 1)))
                mstore(add(at, 0x20), id)
                mstore(add(at, 0x40), input)
            }
            // (A tree holds fewer than 2^32 leaves: the count fits; `next` is the batch's
            // number, which fits 64 bits.)
            state.leafCount = uint64(
                Merkle.pushIn(branch, state.leafCount, Commitments.batchLeaf(uint64(next), c.l2LogsRoot))
            );
            prevState = c.newStateCommitment;
            uint256 l1Txs = c.numberOfL1Txs;
            if (l1Txs != 0) {
                state.priorityOpsFinal = Commitments.toUint64(uint256(state.priorityOpsFinal) + l1Txs);
            }
            unchecked {
                ++next;
                ++i;
            }
        }
        state.lastFinalBatch = Commitments.toUint64(next - 1);
        lastFinalHash[id] = Commitments.storedHashOf(refs[i - 1].batch, commitment);
    }

    /// @dev Carried batch `r` must be its chain's batch `next`, committed on this Gateway, and
    /// its carried public input the one L1 computes from `prevState` and it; returns its
    /// commitment (its batch output hash). Every ref of the carry passes here, so every one is
    /// checked as ABI decoding would (`Commitments.batchOutputHashOf`).
    function _checkCarried(ChainBatchRef calldata r, uint256 next, bytes32 prevState)
        internal
        view
        returns (bytes32 commitment)
    {
        CommitBatchInfo calldata c = r.batch;
        uint256 id = r.chainId;
        commitment = Commitments.batchOutputHashOf(c);
        if (c.batchNumber != next) revert ChainBatchOutOfOrder(id, next, c.batchNumber);
        if (c.chainId != id || c.slChainId != chainId) {
            revert CarriedBatchMisdirected(id, next, c.chainId, c.slChainId);
        }
        uint256 input = Commitments.publicInput(prevState, c.newStateCommitment, commitment);
        if (input != r.publicInput) revert ChainPublicInputMismatch(id, next, input, r.publicInput);
    }

    /// @dev The verifier's inputs with the chain batches' leaves moved where `order` puts them
    /// (`GatewayCarry.leafOrder`): `inputs` itself when `order` is empty. Each carried batch
    /// goes to a distinct position below their count, so every leaf is in the proof once and
    /// no slot is left empty.
    function _inLeafOrder(uint256[] memory inputs, bytes calldata order)
        internal
        pure
        returns (uint256[] memory out)
    {
        if (order.length == 0) return inputs;
        uint256 n = (inputs.length - 2) / 2;
        if (order.length != 2 * n) revert LeafOrderLengthMismatch(n, order.length);
        out = new uint256[](inputs.length);
        // One bit per place, set when a batch takes it.
        uint256[] memory taken = new uint256[]((n >> 8) + 1);
        uint256 bad = type(uint256).max;
        assembly ("memory-safe") {
            let src := add(inputs, 0x20)
            let dst := add(out, 0x20)
            // The Gateway's own leaf stays first.
            mstore(dst, mload(src))
            mstore(add(dst, 0x20), mload(add(src, 0x20)))
            let bits := add(taken, 0x20)
            for { let i := 0 } lt(i, n) { i := add(i, 1) } {
                let at := shr(240, calldataload(add(order.offset, shl(1, i))))
                if iszero(lt(at, n)) {
                    bad := i
                    break
                }
                let word := add(bits, shl(5, shr(8, at)))
                let bit := shl(and(at, 0xff), 1)
                let held := mload(word)
                if and(held, bit) {
                    bad := i
                    break
                }
                mstore(word, or(held, bit))
                // Batch i's two words (chain id, input) from place i to place `at`.
                let from := add(src, shl(6, add(i, 1)))
                let to := add(dst, shl(6, add(at, 1)))
                mstore(to, mload(from))
                mstore(add(to, 0x20), mload(add(from, 0x20)))
            }
        }
        if (bad != type(uint256).max) revert LeafOrderInvalid(bad, uint16(bytes2(order[2 * bad:2 * bad + 2])));
    }

    /// @dev Where chain `id`'s root is in `tree` (see `_sharedTree`), the chain being its
    /// `index`th entry (the carry says which).
    function _rootIndexOf(bytes32[] memory tree, uint256 index, uint256 id) internal pure returns (uint256) {
        if (index >= tree.length / 2 || tree[2 * index] != bytes32(id)) revert ChainTreeIndexMismatch(id, index);
        return 2 * index + 1;
    }

    /// @dev Chain `id`'s batch tree of `count` leaves in memory, from the carried `frontier`,
    /// which must be the tree L1 holds (whose root is `root`).
    function _branchOf(uint256 id, bytes32 root, bytes32[] calldata frontier, uint256 count)
        internal
        pure
        returns (bytes32[32] memory branch)
    {
        branch = Merkle.branchOf(frontier, count);
        bytes32 got = Merkle.rootIn(branch, count);
        if (got != root) revert ChainFrontierMismatch(id, root, got);
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
