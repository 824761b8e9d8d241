//! The settlement contracts: Solidity sources under `contracts/`, their compiled artifacts under
//! `artifacts/` (committed; `make contracts` regenerates them with the pinned solc and CI checks
//! they match), alloy bindings generated from the artifacts, and typed deploy helpers.
//!
//! | contract | where | job |
//! |---|---|---|
//! | [`Bridgehub`] | L1 | chain registry, settlement-layer whitelist, migrations |
//! | [`ChainExecutor`] | L1 and the Gateway, one per chain | commit, prove, execute, revert batches |
//! | [`MessageRoot`] | L1 and the Gateway | per-chain batch trees and the shared interop root |
//! | [`MockVerifier`] | mock-proof devnets and tests only | accepts any proof |
//!
//! # Examples
//! ```no_run
//! # async fn run(provider: alloy::providers::DynProvider) -> Result<(), gateway_contracts::ContractsError> {
//! use alloy::primitives::Address;
//! let owner = Address::repeat_byte(1);
//! let bridgehub = gateway_contracts::deploy_bridgehub(&provider, owner).await?;
//! # Ok(()) }
//! ```
#![cfg_attr(not(test), warn(unused_crate_dependencies))]

mod bindings;
mod deploy;

pub use bindings::{
    Bridgehub, ChainExecutor, IVerifier, MerkleHarness, MessageRoot, MockVerifier, roles,
};
pub use deploy::{
    ContractsError, ContractsResult, ExecutorDeployment, convert, deploy_bridgehub,
    deploy_chain_executor, deploy_merkle_harness, deploy_message_root, deploy_mock_verifier,
};
