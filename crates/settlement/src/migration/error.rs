//! Why a migration was refused or could not go on.

use alloy::primitives::Address;

use crate::{config::UnknownLayer, error::LayerCall};

/// Why a migration was refused or could not go on.
#[derive(Debug, thiserror::Error)]
pub enum MigrationError {
    /// The node has no migration settings.
    #[error(
        "runtime migration is not configured: give the node both layers and the Bridgehub (--settlement.topology, or --settlement.l1-rpc-url, --settlement.gateway-rpc-url, both executors and --settlement.bridgehub)"
    )]
    NotConfigured,
    /// `to` is neither `l1` nor `gateway`.
    #[error(transparent)]
    UnknownLayer(#[from] UnknownLayer),
    /// Another migration runs.
    #[error(
        "migration {id} ({from} -> {to}) is already {phase}: wait for it (settlement_status) or, while it drains, cancel it (settlement_cancel_migration)"
    )]
    AlreadyRunning {
        /// Its id.
        id: u64,
        /// Layer it leaves.
        from: u64,
        /// Layer it goes to.
        to: u64,
        /// Its phase.
        phase: &'static str,
    },
    /// The chain already settles there.
    #[error("the chain already settles on {0} (chain id {1}): nothing to migrate")]
    AlreadyOn(&'static str, u64),
    /// Governance has not whitelisted the target.
    #[error(
        "settlement layer {layer} is not whitelisted on the Bridgehub {bridgehub}: governance must call setSettlementLayerStatus({layer}, true, relayer) first"
    )]
    NotWhitelisted {
        /// The target's chain id.
        layer: u64,
        /// The Bridgehub.
        bridgehub: Address,
    },
    /// The chain is not on the Bridgehub at all.
    #[error("chain {chain_id} is not registered on the Bridgehub {bridgehub}")]
    ChainNotRegistered {
        /// The chain.
        chain_id: u64,
        /// The Bridgehub.
        bridgehub: Address,
    },
    /// The chain has no executor on the target.
    #[error(
        "chain {chain_id} is not registered on settlement layer {layer}: the Bridgehub has no executor for it there (governance: setExecutor)"
    )]
    NotRegisteredOn {
        /// The chain.
        chain_id: u64,
        /// The target's chain id.
        layer: u64,
    },
    /// The admin key is not the chain's admin.
    #[error(
        "the chain admin key ({key}) is not chain {chain_id}'s admin on the Bridgehub ({admin}): migrations must be sent by the admin; pass the admin's key"
    )]
    NotChainAdmin {
        /// The chain.
        chain_id: u64,
        /// The admin the Bridgehub has.
        admin: Address,
        /// The key's address.
        key: Address,
    },
    /// No migration is running.
    #[error("no migration is running")]
    NothingToCancel,
    /// Priority operations kept the old layer from draining longer than the node waits.
    #[error(
        "migration {id} cancelled: {pending} priority operation(s) stayed pending on {layer} for {waited_s} s (--settlement.migration-priority-ops-timeout {timeout_s} s): nothing processed them (is --settlement.inbox set, and does the Gateway's node forward its L1 queue?); the chain settles on {layer} again"
    )]
    PriorityOpsBlockedDrain {
        /// The migration.
        id: u64,
        /// Priority operations pending.
        pending: u64,
        /// The layer the chain stays on.
        layer: &'static str,
        /// How long it drained.
        waited_s: u64,
        /// The timeout.
        timeout_s: u64,
    },
    /// Past draining, the Bridgehub transaction may be out.
    #[error(
        "migration {id} is {phase}: past draining the Bridgehub transaction may already be sent, so it can no longer be cancelled; migrate back once it completes"
    )]
    NotCancellable {
        /// Its id.
        id: u64,
        /// Its phase.
        phase: &'static str,
    },
    /// The Bridgehub no longer holds the move a migrating node was carrying out (the chain's
    /// admin cancelled it there): the node gives the migration up and settles where it was.
    #[error(
        "migration {id} abandoned: the Bridgehub holds no move of chain {chain_id} to {target} any more (the chain admin's cancelMigration?); the chain settles on {stays_on} again and what was parked is forwarded there"
    )]
    CancelledOnBridgehub {
        /// The migration.
        id: u64,
        /// The chain.
        chain_id: u64,
        /// Where it was going.
        target: u64,
        /// Where it stays.
        stays_on: u64,
    },
    /// A transaction of the last migration is still pending (its cancellation on the
    /// Bridgehub, or the forwarding of parked operations): a new migration waits for it.
    #[error(
        "migration {id}'s transaction {tx} is still pending: start a new migration once it is mined (settlement_status shows it)"
    )]
    PreviousTxPending {
        /// The last migration.
        id: u64,
        /// Its pending transaction.
        tx: alloy::primitives::B256,
    },
    /// A layer did not answer or refused.
    #[error(transparent)]
    Layer(#[from] LayerCall),
    /// On-chain state does not allow the next step (the Bridgehub or an executor says what the
    /// migration did not expect); the step is retried and the status shows this.
    #[error("{0}")]
    OnChain(String),
    /// The store failed.
    #[error("store: {0}")]
    Store(#[from] gateway_store::StoreError),
    /// Building a batch's stored info failed.
    #[error(transparent)]
    Settlement(#[from] Box<crate::error::SettlementError>),
}

impl From<crate::error::SettlementError> for MigrationError {
    fn from(err: crate::error::SettlementError) -> Self {
        Self::Settlement(Box::new(err))
    }
}
