// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity 0.8.30;

/// @notice A proof verifier for batch proofs: the mock one for protocol tests, the generated
/// halo2 verifiers in production.
interface IVerifier {
    /// @notice True when `proof` proves the batches whose public inputs are `publicInputs`.
    function verify(uint256[] calldata publicInputs, bytes calldata proof) external view returns (bool);
}
