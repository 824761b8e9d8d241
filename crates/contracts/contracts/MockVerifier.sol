// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity 0.8.30;

import {IVerifier} from "./IVerifier.sol";

/// @notice ACCEPTS ANY PROOF. For protocol-logic tests and the mock-proof devnet only; never
/// deploy it where proofs matter.
contract MockVerifier is IVerifier {
    /// @inheritdoc IVerifier
    function verify(uint256[] calldata, bytes calldata) external pure returns (bool) {
        return true;
    }
}
