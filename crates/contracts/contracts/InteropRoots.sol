// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity 0.8.30;

/// @notice A chain's record of the Gateway's interop roots it imported (a system contract
/// written by the chain's operator from the Gateway's `NewInteropRoot` events). Messages from
/// other chains are proven against these roots. Each import is a `RootImported` log, which the
/// chain's settlement ExEx folds into its batch's `dependencyRootsRollingHash`; the Gateway's
/// executor checks at execution that each imported root is one the Gateway really had.
contract InteropRoots {
    /// @notice Who may import roots (the chain's operator).
    address public immutable importer;
    /// @notice The root the Gateway had at the end of each Gateway block, once imported.
    mapping(uint256 gatewayBlock => bytes32) public rootAt;
    /// @notice The last Gateway block whose root was imported.
    uint256 public lastImportedBlock;
    /// @notice Roots imported so far.
    uint256 public importedCount;

    event RootImported(uint256 gatewayBlock, bytes32 root);

    error NotImporter(address caller);
    error RootNotNewer(uint256 gatewayBlock, uint256 lastImportedBlock);
    error ZeroRoot(uint256 gatewayBlock);

    constructor(address importer_) {
        importer = importer_;
    }

    /// @notice Imports the Gateway's interop root at `gatewayBlock` (strictly after the last one).
    function importRoot(uint256 gatewayBlock, bytes32 root) external {
        if (msg.sender != importer) revert NotImporter(msg.sender);
        if (importedCount > 0 && gatewayBlock <= lastImportedBlock) {
            revert RootNotNewer(gatewayBlock, lastImportedBlock);
        }
        if (root == bytes32(0)) revert ZeroRoot(gatewayBlock);
        rootAt[gatewayBlock] = root;
        lastImportedBlock = gatewayBlock;
        ++importedCount;
        emit RootImported(gatewayBlock, root);
    }

    /// @notice The root a message proof names by `rootId` (a Gateway block); zero if unknown.
    function interopRoot(uint256 rootId) external view returns (bytes32) {
        return rootAt[rootId];
    }
}
