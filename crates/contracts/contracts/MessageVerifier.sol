// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity 0.8.30;

import {Merkle} from "./Merkle.sol";
import {Commitments} from "./Types.sol";

/// @notice A message sent on a chain, as `L2Messenger` emitted it.
struct Message {
    address sender;
    bytes data;
}

/// @notice The nested Merkle proof of a message (the format `interop_getMessageProof` returns):
/// the message's leaf in its batch's `l2LogsRoot` (`messageIndex`, `messagePath`), that batch's
/// leaf `keccak256(uint64 batchNumber ‖ batchRoot)` in the chain's tree on its settlement layer
/// (`batchIndex`, `batchPath`), and the chain's leaf `keccak256(uint64 chainId ‖ chainRoot)` in the
/// shared tree (`chainIndex`, `chainPath`), whose root is the interop root named by `rootId`.
struct MessageProof {
    uint256 rootId;
    uint256 messageIndex;
    bytes32[] messagePath;
    uint256 batchIndex;
    bytes32[] batchPath;
    uint256 chainIndex;
    bytes32[] chainPath;
}

/// @notice Proves that a chain sent a message, against a source of trusted roots: the
/// chain's imported Gateway interop roots (`InteropRoots.interopRoot(gatewayBlock)`), the
/// Gateway's batch roots recorded on L1 (`GatewayExecutor.sharedRootOf(gatewayBatch)`), or L1's
/// own interop roots for chains settling directly on L1 (`MessageRoot.historicalRoot(l1Block)`).
contract MessageVerifier {
    /// @notice Kinds of root source.
    uint8 public constant SOURCE_INTEROP_ROOTS = 0;
    uint8 public constant SOURCE_GATEWAY_EXECUTOR = 1;
    uint8 public constant SOURCE_MESSAGE_ROOT = 2;

    /// @notice The messenger's address on the source chains.
    address public immutable messenger;
    /// @notice Where the trusted roots are read.
    address public immutable rootSource;
    /// @notice Which kind of source it is.
    uint8 public immutable sourceKind;

    error UnknownRoot(uint256 rootId);
    error PathTooShort(uint8 level, uint256 index, uint256 pathLength);
    error MessageNotIncluded(uint64 srcChainId, uint64 batchNumber, bytes32 computedRoot, bytes32 root);
    error UnknownSourceKind(uint8 kind);

    constructor(address messenger_, address rootSource_, uint8 sourceKind_) {
        if (sourceKind_ > SOURCE_MESSAGE_ROOT) revert UnknownSourceKind(sourceKind_);
        messenger = messenger_;
        rootSource = rootSource_;
        sourceKind = sourceKind_;
    }

    /// @notice Reverts unless `message` was sent on `srcChainId` in batch `batchNumber` and the
    /// proof leads to the trusted root `proof.rootId`; returns that root.
    function proveMessageInclusion(
        uint64 srcChainId,
        uint64 batchNumber,
        Message calldata message,
        MessageProof calldata proof
    ) external view returns (bytes32 root) {
        root = trustedRoot(proof.rootId);
        if (root == bytes32(0)) revert UnknownRoot(proof.rootId);
        bytes32 computed = computeRoot(srcChainId, batchNumber, message, proof);
        if (computed != root) revert MessageNotIncluded(srcChainId, batchNumber, computed, root);
    }

    /// @notice The interop root the proof leads to (no trusted root involved).
    function computeRoot(
        uint64 srcChainId,
        uint64 batchNumber,
        Message calldata message,
        MessageProof calldata proof
    ) public view returns (bytes32) {
        bytes32 leaf = keccak256(abi.encodePacked(messenger, abi.encode(message.sender, message.data)));
        bytes32 batchRoot = _climb(0, leaf, proof.messageIndex, proof.messagePath);
        bytes32 chainRoot = _climb(1, Commitments.batchLeaf(batchNumber, batchRoot), proof.batchIndex, proof.batchPath);
        return _climb(2, Commitments.chainLeaf(srcChainId, chainRoot), proof.chainIndex, proof.chainPath);
    }

    /// @notice The trusted root named `rootId`, zero when the source has none.
    function trustedRoot(uint256 rootId) public view returns (bytes32) {
        bytes4 selector;
        if (sourceKind == SOURCE_INTEROP_ROOTS) {
            selector = bytes4(keccak256("interopRoot(uint256)"));
        } else if (sourceKind == SOURCE_GATEWAY_EXECUTOR) {
            selector = bytes4(keccak256("sharedRootOf(uint256)"));
        } else {
            selector = bytes4(keccak256("historicalRoot(uint256)"));
        }
        (bool ok, bytes memory out) = rootSource.staticcall(abi.encodeWithSelector(selector, rootId));
        if (!ok || out.length < 32) return bytes32(0);
        return abi.decode(out, (bytes32));
    }

    function _climb(uint8 level, bytes32 leaf, uint256 index, bytes32[] calldata path)
        internal
        pure
        returns (bytes32 node)
    {
        if (path.length >= 256 || index >> path.length != 0) revert PathTooShort(level, index, path.length);
        node = leaf;
        for (uint256 h = 0; h < path.length; ++h) {
            if ((index >> h) & 1 == 1) {
                node = Merkle.nodeOf(path[h], node);
            } else {
                node = Merkle.nodeOf(node, path[h]);
            }
        }
    }
}
