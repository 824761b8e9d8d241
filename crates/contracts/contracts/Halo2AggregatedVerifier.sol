// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity 0.8.30;

import {IVerifier} from "./IVerifier.sol";

/// @notice Aggregated proofs, checked by the generated halo2 aggregation verifier: the proof's
/// public instances are the KZG accumulator (12 limbs) followed by every aggregated leaf's
/// `[chainId, batchPublicInput]`, which the caller passes as `publicInputs` in order. Fewer than
/// `arity` leaves are padded with `[0, 0]` leaves, as the prover pads them.
/// @dev `proof` is `12 accumulator limbs (32 bytes each) ‖ the proof`; the accumulator is
/// checked by the generated verifier's pairing.
contract Halo2AggregatedVerifier is IVerifier {
    uint256 internal constant R = 21888242871839275222246405745257275088548364400416034343698204186575808495617;
    uint256 internal constant ACCUMULATOR_BYTES = 12 * 32;

    address public immutable aggregationVerifier;
    /// @notice Leaves per aggregated proof.
    uint256 public immutable arity;

    /// @notice A call to an address without code succeeds: such a verifier would accept anything.
    error VerifierHasNoCode(address verifier);

    constructor(address aggregationVerifier_, uint256 arity_) {
        if (aggregationVerifier_.code.length == 0) revert VerifierHasNoCode(aggregationVerifier_);
        aggregationVerifier = aggregationVerifier_;
        arity = arity_;
    }

    /// @inheritdoc IVerifier
    function verify(uint256[] calldata publicInputs, bytes calldata proof) external view returns (bool) {
        uint256 n = publicInputs.length;
        if (n == 0 || n % 2 != 0 || n > 2 * arity || proof.length <= ACCUMULATOR_BYTES) return false;
        for (uint256 i = 0; i < n; ++i) {
            if (publicInputs[i] >= R) return false;
        }
        (bool ok,) = aggregationVerifier.staticcall(
            abi.encodePacked(
                proof[:ACCUMULATOR_BYTES], publicInputs, new uint256[](2 * arity - n), proof[ACCUMULATOR_BYTES:]
            )
        );
        return ok;
    }
}
