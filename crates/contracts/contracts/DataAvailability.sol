// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity 0.8.30;

import {CommitBatchInfo} from "./Types.sol";

/// @notice A batch's `daScheme` is not one of the schemes below.
error UnknownDaScheme(uint256 batchNumber, uint8 daScheme);
/// @notice What the transaction carries does not hash to the batch's `daCommitment`.
error DaCommitmentMismatch(uint256 batchNumber, bytes32 expected, bytes32 got);
/// @notice A rollup-blobs batch's input is not `abi.encode(uint256 count)` with count <= 6.
error InvalidBlobCount(uint256 batchNumber, bytes daInput);
/// @notice The transaction has fewer blobs than its batches claim.
error MissingBlob(uint256 batchNumber, uint256 blobIndex);
/// @notice The transaction carries a blob no batch claims.
error UnusedBlob(uint256 blobIndex);

/// @notice Checks a batch's data availability input against its commitment (DESIGN section 4).
library DataAvailability {
    /// @notice `daScheme` values.
    uint8 internal constant ROLLUP_BLOBS = 0;
    uint8 internal constant ROLLUP_CALLDATA = 1;
    uint8 internal constant VALIDIUM = 2;
    /// @notice At most this many blobs per batch.
    uint256 internal constant MAX_BLOBS_PER_BATCH = 6;

    /// @notice Checks `daInput` for batch `b`: rollup-calldata, the pubdata itself
    /// (`keccak256(pubdata)`); rollup-blobs, `abi.encode(uint256 blobCount)` for the batch's blobs
    /// in this transaction from `blobCursor` on (`keccak256(abi.encodePacked(versionedHashes))`);
    /// validium, nothing. Returns the index of the next unread blob.
    function check(CommitBatchInfo calldata b, bytes calldata daInput, uint256 blobCursor)
        internal
        view
        returns (uint256)
    {
        if (b.daScheme == VALIDIUM) return blobCursor;
        bytes32 got;
        if (b.daScheme == ROLLUP_CALLDATA) {
            got = keccak256(daInput);
        } else if (b.daScheme == ROLLUP_BLOBS) {
            if (daInput.length != 32) revert InvalidBlobCount(b.batchNumber, daInput);
            uint256 count = abi.decode(daInput, (uint256));
            if (count > MAX_BLOBS_PER_BATCH) revert InvalidBlobCount(b.batchNumber, daInput);
            bytes32[] memory hashes = new bytes32[](count);
            for (uint256 j = 0; j < count; ++j) {
                bytes32 versionedHash = blobhash(blobCursor + j);
                if (versionedHash == bytes32(0)) revert MissingBlob(b.batchNumber, blobCursor + j);
                hashes[j] = versionedHash;
            }
            got = keccak256(abi.encodePacked(hashes));
            blobCursor += count;
        } else {
            revert UnknownDaScheme(b.batchNumber, b.daScheme);
        }
        if (got != b.daCommitment) revert DaCommitmentMismatch(b.batchNumber, b.daCommitment, got);
        return blobCursor;
    }

    /// @notice Reverts if the transaction carries a blob at or after `blobCursor`.
    function requireNoBlobAfter(uint256 blobCursor) internal view {
        if (blobhash(blobCursor) != bytes32(0)) revert UnusedBlob(blobCursor);
    }
}
