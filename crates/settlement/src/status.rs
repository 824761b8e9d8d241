//! What `settlement_status` shows: plain serializable types, filled by the service and read by
//! the RPC, the metrics and the devnet's view.

use std::collections::BTreeMap;

use alloy::primitives::{Address, B256, U256};
use serde::Serialize;

/// The executor's counters on the settlement layer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct OnChainCounters {
    /// `totalBatchesCommitted`.
    pub committed: u64,
    /// `totalBatchesVerified`.
    pub proved: u64,
    /// `totalBatchesExecuted`.
    pub executed: u64,
}

/// What a settlement-layer transaction does, as `InFlightTx::stage` stores it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum TxStage {
    /// `commitBatches`.
    Commit = 0,
    /// `proveBatches`.
    Prove = 1,
    /// `executeBatches`.
    Execute = 2,
    /// Gateway mode: commit, prove and execute at once (`settleBatch`).
    Settle = 3,
    /// `revertBatches`: the chain reorged below committed batches (a halt).
    Revert = 4,
    /// A migration step (Bridgehub or executor call of the admin or the relayer).
    Migrate = 5,
    /// The inbox relayer's `processOp` on the chain (an L1 -> L2 transaction handed over).
    Relay = 6,
}

impl TxStage {
    /// Its name in logs, metrics and the status.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Commit => "commit",
            Self::Prove => "prove",
            Self::Execute => "execute",
            Self::Settle => "settle",
            Self::Revert => "revert",
            Self::Migrate => "migrate",
            Self::Relay => "relay",
        }
    }

    /// The name of a stored stage byte (`unknown` for a byte no stage has).
    pub fn name_of(stored: u8) -> &'static str {
        [
            Self::Commit,
            Self::Prove,
            Self::Execute,
            Self::Settle,
            Self::Revert,
            Self::Migrate,
            Self::Relay,
        ]
        .into_iter()
        .find(|s| *s as u8 == stored)
        .map_or("unknown", Self::as_str)
    }
}

/// What `settlement_status` returns.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SettlementStatus {
    /// The chain being settled.
    pub chain_id: u64,
    /// Its current settlement layer's chain id.
    pub settlement_layer: u64,
    /// `settling`, `paused`, `draining`, `migrating` or `halted`.
    pub phase: String,
    /// The highest block in the store.
    pub chain_head: Option<u64>,
    /// The lowest block still in the store (older ones were pruned past retention).
    pub oldest_stored_block: Option<u64>,
    /// The highest sealed batch.
    pub last_sealed_batch: Option<u64>,
    /// The highest batch with a local proof.
    pub last_proved_batch: Option<u64>,
    /// The executor's counters, as last read.
    pub on_chain: OnChainCounters,
    /// Every settlement layer the chain can settle on: its executor's counters there, as last
    /// read, and the last batch sealed for it (the active layer only).
    pub layers: Vec<LayerStatus>,
    /// Blocks in the store that no sealed batch holds yet.
    pub unbatched_blocks: u64,
    /// Blocks from the chain head down to the last executed batch's last block.
    pub lag_blocks: u64,
    /// How many stored batches are at each stage.
    pub batches_by_stage: BTreeMap<&'static str, u64>,
    /// The settlement-layer transaction sent and not yet seen mined, if any.
    pub pending_tx: Option<PendingTx>,
    /// The last error of any task, if the last attempt failed.
    pub last_error: Option<String>,
    /// Gateway mode: the chains the Gateway settles, its batches on L1, and what they cost.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gateway: Option<GatewayStatus>,
    /// A chain on the Gateway: which of its batches are interop-final and L1-final.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finality: Option<FinalityStatus>,
    /// The running migration, else the last one, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub migration: Option<MigrationStatus>,
    /// Migrations completed so far.
    pub migrations_completed: u64,
    /// Why settlement is halted (`phase: "halted"`), if it is.
    pub halt: Option<HaltStatus>,
    /// The L1 -> L2 transactions queued for the chain on its settlement layer, when the node
    /// knows the chain's `L2Inbox` (read by the relayer task; `None` before its first read).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub priority: Option<PriorityStatus>,
    /// Proof jobs, when they run on workers through a queue (`--prover.queue`): jobs by kind
    /// and state, workers alive, lease expiries, refused proofs and failed jobs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prover_jobs: Option<gateway_prover::JobsStatus>,
}

/// `settlement_status.priority`: whether the chain takes the operations queued for it, or
/// something (a stopped relayer, a censoring operator) keeps them waiting.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PriorityStatus {
    /// The settlement layer whose queue this is.
    pub layer: u64,
    /// Operations queued there.
    pub queued: u64,
    /// Operations of this layer's queue the chain's inbox processed (its `nextOpIdOf(layer)`).
    pub processed: u64,
    /// Operations queued and not yet executed there (consumed by an executed batch).
    pub pending: u64,
    /// How many layer blocks the oldest pending operation has waited (0: none pending).
    pub oldest_age_blocks: u64,
    /// Pending operations past their expiry (`expirationBlock` of the layer): the chain's
    /// operator has not included them in time (alarm).
    pub expired: u64,
    /// For a chain on the Gateway (when this node knows the Gateway's executor on L1): its
    /// operations still in the Gateway's own queue on L1, where the Bridgehub queued them
    /// with an expiry in L1 blocks and the Gateway's node has not forwarded them yet.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gateway_l1_queue: Option<GatewayL1Queue>,
}

/// `settlement_status.priority.gatewayL1Queue`: a chain's operations waiting in the Gateway's
/// queue on L1 (not yet forwarded into the Gateway, or forwarded in a Gateway batch L1 has not
/// settled).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GatewayL1Queue {
    /// This chain's operations there not yet consumed by a settled Gateway batch.
    pub pending: u64,
    /// How many L1 blocks the oldest of them has waited (0: none).
    pub oldest_age_blocks: u64,
    /// Those past their L1 expiration block: the Gateway has not carried them in time (alarm).
    pub expired: u64,
}

/// `settlement_status.halt`: the chain reorged below a batch the settlement layer holds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HaltStatus {
    /// The lowest batch the settlement layer holds that has a replaced block.
    pub batch: u64,
    /// The first block the chain replaced.
    pub first_reverted_block: u64,
    /// Whether the settlement layer executed that batch.
    pub executed: bool,
    /// What disagrees and what the operator can do.
    pub advice: String,
}

impl From<&gateway_store::Halt> for HaltStatus {
    fn from(halt: &gateway_store::Halt) -> Self {
        Self {
            batch: halt.batch,
            first_reverted_block: halt.first_reverted_block,
            executed: halt.executed,
            advice: halt_advice(halt),
        }
    }
}

/// What a halt means and what the operator can do about it.
pub(crate) fn halt_advice(halt: &gateway_store::Halt) -> String {
    let what = format!(
        "the chain replaced block {} and later ones, but batch {} (holding some of them) is {} on the settlement layer",
        halt.first_reverted_block,
        halt.batch,
        if halt.executed { "executed" } else { "committed" }
    );
    if halt.executed {
        format!(
            "{what}: an executed batch cannot be undone, so the chain's canonical history must return to the settled blocks (the reorg was deeper than --settlement.confirmations); nothing is sealed or sent meanwhile"
        )
    } else {
        format!(
            "{what}: the node reverts it there (ChainExecutor.revertBatches({})) and then seals the new blocks again; if someone else reverts it, settlement_clear_halt lifts the halt",
            halt.batch.saturating_sub(1)
        )
    }
}

/// One settlement layer in `settlement_status.layers`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LayerStatus {
    /// The layer's chain id.
    pub chain_id: u64,
    /// `l1` or `gateway`, when the configuration tells (always with runtime migration).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<&'static str>,
    /// The chain's executor there.
    pub executor: Address,
    /// The chain settles here now.
    pub active: bool,
    /// The last batch sealed for this layer (the active one only: a migration reseals what
    /// the layer it leaves did not commit).
    pub last_sealed_batch: Option<u64>,
    /// The executor's counters there, as last read (`None` before the first read).
    pub on_chain: Option<OnChainCounters>,
    /// What one batch cost the operator to settle there, lately (wei of the layer's gas token:
    /// the gas of its commit, prove and execute transactions, and the Gateway's fee; a moving
    /// average over the batches this process saw executed there).
    pub cost_per_batch_wei: Option<U256>,
    /// The fee per committed batch the layer's schedule asked for at the last commit (a
    /// Gateway's `GatewayFees.price`; `None` before a commit there, zero on L1).
    pub fee_per_batch_wei: Option<U256>,
}

/// A migration of the settlement layer, as `settlement_status` shows it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MigrationStatus {
    /// Its id (what `settlement_migrate` returned).
    pub id: u64,
    /// The settlement layer's chain id it leaves.
    pub from: u64,
    /// The settlement layer's chain id it goes to.
    pub to: u64,
    /// `draining`, `migrating`, `completed` or `cancelled`.
    pub phase: String,
    /// What started it: `rpc` or `start flag`.
    pub trigger: String,
    /// While running: what it waits for now.
    pub waiting_for: Option<String>,
    /// The last batch settled on `from` (once drained).
    pub drained_through: Option<u64>,
    /// Milliseconds in the current phase (or, finished, from start to finish).
    pub phase_ms: u64,
    /// Milliseconds since it started (or, finished, from start to finish).
    pub elapsed_ms: u64,
    /// Blocks the chain produced since it started (up to its end once finished).
    pub blocks_meanwhile: u64,
    /// A migration transaction sent and not yet seen mined.
    pub pending_tx: Option<B256>,
    /// Once cancelled, why: `rpc` (`settlement_cancelMigration` while it drained), `bridgehub`
    /// (the chain's admin cancelled the move there; the node gave it up and settles on `from`
    /// again) or `timeout` (priority operations of `from` stayed unprocessed past
    /// `--settlement.migration-priority-ops-timeout`). Unlike `lastError`, it stays until the
    /// next migration.
    pub cancelled_by: Option<String>,
}

/// Gateway mode's part of `settlement_status`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GatewayStatus {
    /// Gateway batches settled on L1.
    pub batches_settled: u64,
    /// Chain batches made L1-final by them.
    pub chain_batches_settled: u64,
    /// L1 gas they used, in all.
    pub l1_gas_used: u64,
    /// What that gas cost on L1 (wei).
    pub l1_cost_wei: U256,
    /// L1 gas per chain batch through the Gateway (all L1 gas over all carried chain batches).
    pub l1_gas_per_chain_batch: Option<u64>,
    /// L1 gas one chain batch costs settled directly on L1 (measured).
    pub direct_l1_gas_per_chain_batch: u64,
    /// The price per chain batch this node assumes for `chains[].charged`
    /// (`--gateway.price-per-chain-batch`); what chains really pay is in `fees`.
    pub price_per_chain_batch: U256,
    /// The Gateway's fee vault (`GatewayFees`) as last read: the price chains pay per
    /// committed batch and the fees collected, beside `l1CostWei` (what this node paid on L1);
    /// `None` without `--gateway.fee-vault` or before the first read.
    pub fees: Option<GatewayFeesStatus>,
    /// What gathers for the next Gateway batch while one waits for its aggregated proof.
    pub proving_backlog: ProvingBacklog,
    /// With a backend that makes trees group by group: the groups of Gateway batches' proofs
    /// made ahead of their seal and at it, since the node started (`None` otherwise).
    pub tree_groups: Option<GroupCounts>,
    /// Per chain.
    pub chains: Vec<GatewayChainStatus>,
    /// The last few Gateway batches.
    pub recent_batches: Vec<GatewayBatchStatus>,
}

/// Gateway mode, trees made group by group: how the groups of Gateway batches' proofs were
/// made since the node started (`settlement_status.gateway.treeGroups`; made by the settlement
/// crate's `gateway::groups`).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupCounts {
    /// Groups aggregated while their Gateway batch still gathered.
    pub made_ahead: u64,
    /// Groups a sealed Gateway batch's proof job made itself (its first group, the Gateway's
    /// leaf in it; a last partial one; any not made ahead).
    pub made_at_seal: u64,
    /// Groups made ahead that a sealed Gateway batch's proof used.
    pub used_ready: u64,
    /// Groups made ahead and ready now.
    pub ready: u64,
}

/// Gateway mode: the proving backlog. At most one sealed Gateway batch waits for its proof;
/// what the chains execute meanwhile gathers in the Gateway's unsealed blocks for the next one.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProvingBacklog {
    /// The sealed Gateway batch waiting for its aggregated proof, if one is.
    pub waiting_for_proof: Option<u64>,
    /// Gateway blocks stored and not yet in a Gateway batch.
    pub blocks: u64,
    /// Chain batches executed in them (carried by the next Gateway batches).
    pub chain_batches: u64,
    /// How long the oldest of those blocks has waited (seconds, by its timestamp).
    pub oldest_age_s: u64,
}

/// The Gateway's fee vault, as its node last read it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GatewayFeesStatus {
    /// The vault (`GatewayFees`) on the Gateway.
    pub vault: Address,
    /// The price per committed chain batch now (the Gateway's gas token, wei).
    pub price_wei: U256,
    /// An announced price and the Gateway block it takes effect at, if one is pending.
    pub next_price_wei: Option<U256>,
    /// ... its first block.
    pub next_price_from_block: Option<u64>,
    /// Fees the chains paid into the vault, ever (the Gateway's gas token, wei).
    pub collected_wei: U256,
}

/// One chain as the Gateway sees it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GatewayChainStatus {
    /// The chain.
    pub chain_id: u64,
    /// Its executor on the Gateway.
    pub executor: Address,
    /// Its batches committed on the Gateway.
    pub committed: u64,
    /// Proved on the Gateway.
    pub proved: u64,
    /// Executed on the Gateway (interop-final).
    pub executed: u64,
    /// Its highest batch made L1-final by a settled Gateway batch.
    pub l1_final: u64,
    /// Its batches settled on L1 through the Gateway.
    pub batches_settled: u64,
    /// What the Gateway charged it for them (fixed price × batches, gas-token wei).
    pub charged: U256,
    /// Its share of the Gateway batches' real L1 cost (wei).
    pub l1_cost_share_wei: U256,
    /// What settling them directly on L1 would have cost at the same gas prices (wei).
    pub direct_l1_cost_wei: U256,
    /// Why its batches are carried to L1 no more, while it is held back (`None`: carried).
    pub held_back: Option<String>,
}

/// One Gateway batch.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GatewayBatchStatus {
    /// The Gateway batch.
    pub number: u64,
    /// Its stage.
    pub stage: String,
    /// The chain batches it carries.
    pub chain_batches: u64,
    /// L1 gas its settlement used (0 until settled).
    pub l1_gas_used: u64,
}

/// A chain's finality on the Gateway and L1.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FinalityStatus {
    /// Batches up to here are executed on the Gateway: other chains may act on their messages.
    pub interop_final_through: u64,
    /// Batches up to here are L1-final: the Gateway batch carrying them is executed on L1.
    pub l1_final_through: u64,
    /// The last few batches.
    pub recent: Vec<BatchFinality>,
}

/// One batch's finality.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchFinality {
    /// The batch.
    pub batch: u64,
    /// Executed on the Gateway.
    pub interop_final: bool,
    /// Carried to L1 by a settled Gateway batch.
    pub l1_final: bool,
    /// That Gateway batch, once known.
    pub gateway_batch: Option<u64>,
}

/// A settlement-layer transaction in flight, as `settlement_status` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PendingTx {
    /// `commit`, `prove` or `execute`.
    pub stage: String,
    /// Its first batch.
    pub from_batch: u64,
    /// Its last batch.
    pub to_batch: u64,
    /// The operator nonce it uses.
    pub nonce: u64,
    /// How many times it was sent; each resend pays a higher fee.
    pub attempts: u32,
    /// The hash of the last send.
    pub hash: B256,
}
