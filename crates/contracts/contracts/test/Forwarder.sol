// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity 0.8.30;

/// @notice Test-only: calls `target` with `data` on its caller's behalf, as a multisig or a
/// multicall would; a chain that settles through it leaves calldata the Gateway's node cannot
/// read.
contract Forwarder {
    error ForwardFailed(bytes reason);

    /// @notice Calls `target` with `data`; reverts with the callee's reason when it reverts.
    function forward(address target, bytes calldata data) external returns (bytes memory out) {
        bool ok;
        (ok, out) = target.call(data);
        if (!ok) revert ForwardFailed(out);
    }
}
