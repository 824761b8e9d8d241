// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity 0.8.30;

import {IVerifier} from "./IVerifier.sol";

/// @notice One chain's batch proofs, checked by the generated halo2 leaf verifier: the proof of
/// batch i has the public instances `[chainId, publicInputs[i]]`.
/// @dev `proof` is `abi.encode(bytes[] batchProofs)`, one per public input, each `uint32 len ‖
/// keccak-transcript proof (len bytes) ‖ poseidon-transcript proof`: this contract checks the
/// first; the second rides along so the Gateway can aggregate it from the calldata. The generated
/// verifier takes raw calldata (instances as 32-byte words, then the proof) and reverts when
/// the proof is wrong.
contract Halo2BatchVerifier is IVerifier {
    /// @notice The BN254 scalar field: instances must be below it.
    uint256 internal constant R = 21888242871839275222246405745257275088548364400416034343698204186575808495617;

    address public immutable leafVerifier;
    uint256 public immutable chainId;

    /// @notice A call to an address without code succeeds: such a verifier would accept anything.
    error VerifierHasNoCode(address verifier);

    constructor(address leafVerifier_, uint256 chainId_) {
        if (leafVerifier_.code.length == 0) revert VerifierHasNoCode(leafVerifier_);
        leafVerifier = leafVerifier_;
        chainId = chainId_;
    }

    /// @inheritdoc IVerifier
    function verify(uint256[] calldata publicInputs, bytes calldata proof) external view returns (bool) {
        bytes[] memory proofs = abi.decode(proof, (bytes[]));
        if (proofs.length != publicInputs.length || proofs.length == 0) return false;
        for (uint256 i = 0; i < proofs.length; ++i) {
            if (publicInputs[i] >= R) return false;
            bytes memory batchProof = proofs[i];
            if (batchProof.length < 4) return false;
            uint256 len = uint32(bytes4(batchProof));
            if (batchProof.length < 4 + len) return false;
            bytes memory evmProof = new bytes(len);
            assembly ("memory-safe") {
                mcopy(add(evmProof, 32), add(batchProof, 36), len)
            }
            (bool ok,) = leafVerifier.staticcall(abi.encodePacked(chainId, publicInputs[i], evmProof));
            if (!ok) return false;
        }
        return true;
    }
}
