//! Typed deploy helpers and conversions between the primitives' and the bindings' types.

use alloy::{
    primitives::{Address, U256},
    providers::Provider,
    sol_types::SolValue,
};
use gateway_primitives::StoredBatchInfo;

use crate::{
    Bridgehub, ChainExecutor, GatewayExecutor, GatewayFees, Halo2AggregatedVerifier,
    Halo2AggregationVerifier, Halo2BatchVerifier, Halo2LeafVerifier, Halo2TreeVerifier,
    InteropRoots, L2Bridge, L2Inbox, L2Messenger, MerkleHarness, MessageRoot, MessageVerifier,
    MockAggregatedVerifier, MockVerifier,
};

/// The result type of this crate.
pub type ContractsResult<T> = Result<T, ContractsError>;

/// What can go wrong deploying or calling the contracts.
#[derive(Debug, thiserror::Error)]
pub enum ContractsError {
    /// Deploying a contract failed.
    #[error("deploying {contract}: {source}")]
    Deploy {
        /// Which contract.
        contract: &'static str,
        /// Why.
        source: Box<alloy::contract::Error>,
    },
    /// A value did not convert between two ABI types.
    #[error("abi conversion: {0}")]
    Convert(#[from] alloy::sol_types::Error),
}

/// Converts between two Solidity types with the same ABI encoding (the primitives' batch types
/// and each binding's copy of them).
pub fn convert<
    A: SolValue,
    B: SolValue + From<<B::SolType as alloy::sol_types::SolType>::RustType>,
>(
    value: &A,
) -> ContractsResult<B> {
    Ok(B::abi_decode(&value.abi_encode())?)
}

/// Deploys the L1 Bridgehub governed by `owner`.
pub async fn deploy_bridgehub<P: Provider>(
    provider: P,
    owner: Address,
) -> ContractsResult<Address> {
    let contract = Bridgehub::deploy(provider, owner).await.map_err(|source| {
        ContractsError::Deploy { source: Box::new(source), contract: "Bridgehub" }
    })?;
    Ok(*contract.address())
}

/// Deploys a MessageRoot owned by `owner` (who authorizes executors).
pub async fn deploy_message_root<P: Provider>(
    provider: P,
    owner: Address,
) -> ContractsResult<Address> {
    let contract = MessageRoot::deploy(provider, owner).await.map_err(|source| {
        ContractsError::Deploy { source: Box::new(source), contract: "MessageRoot" }
    })?;
    Ok(*contract.address())
}

/// Deploys the verifier that accepts any proof (mock-proof devnets and tests only).
pub async fn deploy_mock_verifier<P: Provider>(provider: P) -> ContractsResult<Address> {
    let contract = MockVerifier::deploy(provider).await.map_err(|source| {
        ContractsError::Deploy { source: Box::new(source), contract: "MockVerifier" }
    })?;
    Ok(*contract.address())
}

/// Deploys the generated halo2 leaf verifier (one per settlement layer serves every chain).
pub async fn deploy_halo2_leaf_verifier<P: Provider>(provider: P) -> ContractsResult<Address> {
    let contract = Halo2LeafVerifier::deploy(provider).await.map_err(|source| {
        ContractsError::Deploy { source: Box::new(source), contract: "Halo2LeafVerifier" }
    })?;
    Ok(*contract.address())
}

/// Deploys the `IVerifier` of one chain's halo2 leaf proofs over `leaf_verifier`.
pub async fn deploy_halo2_batch_verifier<P: Provider>(
    provider: P,
    leaf_verifier: Address,
    chain_id: u64,
) -> ContractsResult<Address> {
    let contract = Halo2BatchVerifier::deploy(provider, leaf_verifier, U256::from(chain_id))
        .await
        .map_err(|source| ContractsError::Deploy {
            source: Box::new(source),
            contract: "Halo2BatchVerifier",
        })?;
    Ok(*contract.address())
}

/// Deploys the Merkle test harness.
pub async fn deploy_merkle_harness<P: Provider>(provider: P) -> ContractsResult<Address> {
    let contract = MerkleHarness::deploy(provider).await.map_err(|source| {
        ContractsError::Deploy { source: Box::new(source), contract: "MerkleHarness" }
    })?;
    Ok(*contract.address())
}

/// What a chain executor is deployed with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecutorDeployment {
    /// The chain it settles.
    pub chain_id: u64,
    /// Who activates and deactivates it: the Bridgehub on L1, the Gateway's relayer there.
    pub controller: Address,
    /// The MessageRoot it records batch roots in.
    pub message_root: Address,
    /// The proof verifier.
    pub verifier: Address,
    /// The chain's admin on this settlement layer.
    pub admin: Address,
    /// The settlement layer's governance: alone changes the verifier, after `verifier_delay`.
    pub governance: Address,
    /// Blocks between queueing a verifier change and applying it.
    pub verifier_delay: u64,
    /// The chain's batch 0.
    pub genesis: StoredBatchInfo,
    /// True when this is the chain's initial settlement layer.
    pub active: bool,
}

/// Deploys a chain executor.
pub async fn deploy_chain_executor<P: Provider>(
    provider: P,
    deployment: &ExecutorDeployment,
) -> ContractsResult<Address> {
    let genesis: ChainExecutor::StoredBatchInfo = convert(&deployment.genesis)?;
    let contract = ChainExecutor::deploy(
        provider,
        U256::from(deployment.chain_id),
        deployment.controller,
        deployment.message_root,
        deployment.verifier,
        deployment.admin,
        deployment.governance,
        U256::from(deployment.verifier_delay),
        genesis,
        deployment.active,
    )
    .await
    .map_err(|source| ContractsError::Deploy {
        source: Box::new(source),
        contract: "ChainExecutor",
    })?;
    Ok(*contract.address())
}

/// Deploys the mock aggregated-proof verifier (mock-proof devnets and tests only): it accepts
/// any "proof" that commits to its inputs.
pub async fn deploy_mock_aggregated_verifier<P: Provider>(provider: P) -> ContractsResult<Address> {
    let contract = MockAggregatedVerifier::deploy(provider).await.map_err(|source| {
        ContractsError::Deploy { source: Box::new(source), contract: "MockAggregatedVerifier" }
    })?;
    Ok(*contract.address())
}

/// Deploys the generated halo2 aggregation verifier and its `IVerifier` adapter for
/// aggregations of `arity` leaves; returns the adapter.
pub async fn deploy_halo2_aggregated_verifier<P: Provider>(
    provider: P,
    arity: usize,
) -> ContractsResult<Address> {
    let generated = Halo2AggregationVerifier::deploy(&provider).await.map_err(|source| {
        ContractsError::Deploy { source: Box::new(source), contract: "Halo2AggregationVerifier" }
    })?;
    let generated = *generated.address();
    deploy_halo2_adapter(provider, generated, arity).await
}

/// Deploys the generated verifier of a two-level halo2 tree and its `IVerifier` adapter for
/// `leaves` leaves (the tree's arity squared); returns the adapter.
pub async fn deploy_halo2_tree_verifier<P: Provider>(
    provider: P,
    leaves: usize,
) -> ContractsResult<Address> {
    let generated = Halo2TreeVerifier::deploy(&provider).await.map_err(|source| {
        ContractsError::Deploy { source: Box::new(source), contract: "Halo2TreeVerifier" }
    })?;
    let generated = *generated.address();
    deploy_halo2_adapter(provider, generated, leaves).await
}

async fn deploy_halo2_adapter<P: Provider>(
    provider: P,
    generated: Address,
    leaves: usize,
) -> ContractsResult<Address> {
    let adapter = Halo2AggregatedVerifier::deploy(&provider, generated, U256::from(leaves))
        .await
        .map_err(|source| ContractsError::Deploy {
        source: Box::new(source),
        contract: "Halo2AggregatedVerifier",
    })?;
    Ok(*adapter.address())
}

/// What the Gateway's executor on L1 is deployed with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewayExecutorDeployment {
    /// The Gateway's chain id.
    pub gateway_chain_id: u64,
    /// The aggregated-proof verifier.
    pub verifier: Address,
    /// Who grants the settling role.
    pub admin: Address,
    /// L1's Bridgehub: alone hands chains over to the Gateway and takes them back.
    pub bridgehub: Address,
    /// L1's governance: alone changes the verifier, after `verifier_delay`.
    pub governance: Address,
    /// Blocks between queueing a verifier change and applying it.
    pub verifier_delay: u64,
    /// The Gateway's batch 0.
    pub genesis: StoredBatchInfo,
}

/// Deploys the Gateway's executor on L1.
pub async fn deploy_gateway_executor<P: Provider>(
    provider: P,
    deployment: &GatewayExecutorDeployment,
) -> ContractsResult<Address> {
    let genesis: GatewayExecutor::StoredBatchInfo = convert(&deployment.genesis)?;
    let contract = GatewayExecutor::deploy(
        provider,
        U256::from(deployment.gateway_chain_id),
        deployment.verifier,
        deployment.admin,
        deployment.bridgehub,
        deployment.governance,
        U256::from(deployment.verifier_delay),
        genesis,
    )
    .await
    .map_err(|source| ContractsError::Deploy {
        source: Box::new(source),
        contract: "GatewayExecutor",
    })?;
    Ok(*contract.address())
}

/// Deploys an `L2Messenger` (the devnet then copies its code to the fixed messenger address).
pub async fn deploy_l2_messenger<P: Provider>(provider: P) -> ContractsResult<Address> {
    let contract = L2Messenger::deploy(provider).await.map_err(|source| {
        ContractsError::Deploy { source: Box::new(source), contract: "L2Messenger" }
    })?;
    Ok(*contract.address())
}

/// Deploys the Gateway's `GatewayFees`: `owner` announces prices (in effect `change_delay`
/// blocks later) and withdraws; `price` per committed batch to start with.
pub async fn deploy_gateway_fees<P: Provider>(
    provider: P,
    owner: Address,
    price: alloy::primitives::U256,
    change_delay: u64,
) -> ContractsResult<Address> {
    let contract =
        GatewayFees::deploy(provider, owner, price, alloy::primitives::U256::from(change_delay))
            .await
            .map_err(|source| ContractsError::Deploy {
                source: Box::new(source),
                contract: "GatewayFees",
            })?;
    Ok(*contract.address())
}

/// Deploys a chain's `L2Bridge` (stateless: its code is copied to its fixed address).
pub async fn deploy_l2_bridge<P: Provider>(provider: P) -> ContractsResult<Address> {
    let contract = L2Bridge::deploy(provider).await.map_err(|source| ContractsError::Deploy {
        source: Box::new(source),
        contract: "L2Bridge",
    })?;
    Ok(*contract.address())
}

/// Deploys a chain's `L2Inbox` (uninitialized: its relayer is set by `initialize`).
pub async fn deploy_l2_inbox<P: Provider>(provider: P) -> ContractsResult<Address> {
    let contract = L2Inbox::deploy(provider).await.map_err(|source| ContractsError::Deploy {
        source: Box::new(source),
        contract: "L2Inbox",
    })?;
    Ok(*contract.address())
}

/// Deploys a chain's `InteropRoots`, written by `importer` (the chain's operator).
pub async fn deploy_interop_roots<P: Provider>(
    provider: P,
    importer: Address,
) -> ContractsResult<Address> {
    let contract = InteropRoots::deploy(provider, importer).await.map_err(|source| {
        ContractsError::Deploy { source: Box::new(source), contract: "InteropRoots" }
    })?;
    Ok(*contract.address())
}

/// Deploys a `MessageVerifier` for messages sent through `messenger`, trusting the roots of
/// `root_source`, a source of kind `source_kind` (`crate::root_sources`).
pub async fn deploy_message_verifier<P: Provider>(
    provider: P,
    messenger: Address,
    root_source: Address,
    source_kind: u8,
) -> ContractsResult<Address> {
    let contract = MessageVerifier::deploy(provider, messenger, root_source, source_kind)
        .await
        .map_err(|source| ContractsError::Deploy {
            source: Box::new(source),
            contract: "MessageVerifier",
        })?;
    Ok(*contract.address())
}
