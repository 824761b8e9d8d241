// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity 0.8.30;

import {IVerifier} from "./IVerifier.sol";

/// @notice NOT SOUND: accepts a "proof" that anyone can compute, `"MOCKPRF1" ‖
/// keccak256(abi.encodePacked(publicInputs))`. It only binds the proof to its inputs, so that
/// protocol tests with mock proofs still see L1 reject a Gateway batch whose aggregated inputs
/// omit or alter a chain batch. For tests and the mock-proof devnet only.
contract MockAggregatedVerifier is IVerifier {
    /// @inheritdoc IVerifier
    function verify(uint256[] calldata publicInputs, bytes calldata proof) external pure returns (bool) {
        return keccak256(proof) == keccak256(abi.encodePacked(bytes8("MOCKPRF1"), keccak256(abi.encodePacked(publicInputs))));
    }
}
