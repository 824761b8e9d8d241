//! alloy bindings generated from the committed artifacts.
#![allow(missing_docs, unreachable_pub, clippy::too_many_arguments)]

use alloy::sol;

sol!(
    #[sol(rpc)]
    #[derive(Debug, PartialEq, Eq)]
    Bridgehub,
    "artifacts/Bridgehub.json"
);

sol!(
    #[sol(rpc)]
    #[derive(Debug, PartialEq, Eq)]
    ChainExecutor,
    "artifacts/ChainExecutor.json"
);

sol!(
    #[sol(rpc)]
    #[derive(Debug, PartialEq, Eq)]
    MessageRoot,
    "artifacts/MessageRoot.json"
);

sol!(
    #[sol(rpc)]
    #[derive(Debug, PartialEq, Eq)]
    MockVerifier,
    "artifacts/MockVerifier.json"
);

sol!(
    #[sol(rpc)]
    #[derive(Debug, PartialEq, Eq)]
    IVerifier,
    "artifacts/IVerifier.json"
);

sol!(
    #[sol(rpc)]
    #[derive(Debug, PartialEq, Eq)]
    MerkleHarness,
    "artifacts/MerkleHarness.json"
);

sol!(
    #[sol(rpc)]
    #[derive(Debug, PartialEq, Eq)]
    Forwarder,
    "artifacts/Forwarder.json"
);

/// The operator role bits of [`ChainExecutor`].
pub mod roles {
    /// May commit and revert batches.
    pub const COMMIT: u8 = 1;
    /// May prove batches.
    pub const PROVE: u8 = 2;
    /// May execute batches.
    pub const EXECUTE: u8 = 4;
    /// Every role on a chain executor.
    pub const ALL: u8 = COMMIT | PROVE | EXECUTE;
    /// May settle Gateway batches on the Gateway's L1 executor (its own bit).
    pub const SETTLE: u8 = 8;
}

sol!(
    #[sol(rpc)]
    #[derive(Debug, PartialEq, Eq)]
    Halo2BatchVerifier,
    "artifacts/Halo2BatchVerifier.json"
);

sol!(
    #[sol(rpc)]
    #[derive(Debug, PartialEq, Eq)]
    Halo2AggregatedVerifier,
    "artifacts/Halo2AggregatedVerifier.json"
);

sol!(
    #[sol(rpc)]
    #[derive(Debug, PartialEq, Eq)]
    Halo2LeafVerifier,
    "artifacts/Halo2LeafVerifier.json"
);

sol!(
    #[sol(rpc)]
    #[derive(Debug, PartialEq, Eq)]
    Halo2AggregationVerifier,
    "artifacts/Halo2AggregationVerifier.json"
);

sol!(
    #[sol(rpc)]
    #[derive(Debug, PartialEq, Eq)]
    Halo2TreeVerifier,
    "artifacts/Halo2TreeVerifier.json"
);

sol!(
    #[sol(rpc)]
    #[derive(Debug, PartialEq, Eq)]
    GatewayExecutor,
    "artifacts/GatewayExecutor.json"
);

sol!(
    #[sol(rpc)]
    #[derive(Debug, PartialEq, Eq)]
    MockAggregatedVerifier,
    "artifacts/MockAggregatedVerifier.json"
);

sol!(
    #[sol(rpc)]
    #[derive(Debug, PartialEq, Eq)]
    L2Messenger,
    "artifacts/L2Messenger.json"
);

sol!(
    #[sol(rpc)]
    #[derive(Debug, PartialEq, Eq)]
    GatewayFees,
    "artifacts/GatewayFees.json"
);

sol!(
    #[sol(rpc)]
    #[derive(Debug, PartialEq, Eq)]
    L2Bridge,
    "artifacts/L2Bridge.json"
);

sol!(
    #[sol(rpc)]
    #[derive(Debug, PartialEq, Eq)]
    L2Inbox,
    "artifacts/L2Inbox.json"
);

sol!(
    #[sol(rpc)]
    #[derive(Debug, PartialEq, Eq)]
    InteropRoots,
    "artifacts/InteropRoots.json"
);

sol!(
    #[sol(rpc)]
    #[derive(Debug, PartialEq, Eq)]
    MessageVerifier,
    "artifacts/MessageVerifier.json"
);

/// Where a [`MessageVerifier`] reads its trusted roots (`sourceKind`).
pub mod root_sources {
    /// A chain's `InteropRoots` (`interopRoot(gatewayBlock)`): imported Gateway roots.
    pub const INTEROP_ROOTS: u8 = 0;
    /// L1's `GatewayExecutor` (`sharedRootOf(gatewayBatch)`): Gateway batches settled on L1.
    pub const GATEWAY_EXECUTOR: u8 = 1;
    /// A `MessageRoot` (`historicalRoot(block)`): L1's own roots, for chains settling on L1.
    pub const MESSAGE_ROOT: u8 = 2;
}
