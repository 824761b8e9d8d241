//! The settlement service: the ExEx plus its batcher, prover and sender tasks, their shared
//! status, and the `settlement_*` RPC namespace.

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use exex_host::{ExExContext, HostBuilder};
use gateway_prover::ProofBackend;
use gateway_store::{BatchStage, MigrationPhase, MigrationRecord, Store};
use jsonrpsee::{RpcModule, types::ErrorObjectOwned};
use serde::Serialize;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

use crate::{
    LayerKind, MigrationError, OnChainCounters, SETTLEMENT_EXEX_ID, SenderAction, SettlementConfig,
    SettlementResult,
    batcher::seal_ready_batches,
    exex::run_exex,
    migration::{Advance, Migrator},
    prover::{drop_foreign_proofs, prove_ready},
    sender::Sender,
};

/// How long reading an inactive layer's counters (for the status) may take.
const INACTIVE_LAYER_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);
/// How long after a failed read of an inactive layer's counters it is tried again.
const INACTIVE_LAYER_RETRY: std::time::Duration = std::time::Duration::from_secs(30);

/// How often the batcher and the prover look again without being woken (for timeouts).
const IDLE_TICK: Duration = Duration::from_millis(500);
/// How often the gauges are refreshed.
const METRICS_INTERVAL: Duration = Duration::from_secs(2);

/// What `settlement_status` returns.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SettlementStatus {
    /// The chain being settled.
    pub chain_id: u64,
    /// Its current settlement layer's chain id.
    pub settlement_layer: u64,
    /// `settling` or `paused`.
    pub phase: String,
    /// The highest block in the store.
    pub chain_head: Option<u64>,
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
    pub batches_by_stage: std::collections::BTreeMap<&'static str, u64>,
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
    pub executor: alloy::primitives::Address,
    /// The chain settles here now.
    pub active: bool,
    /// The last batch sealed for this layer (the active one only: a migration reseals what
    /// the layer it leaves did not commit).
    pub last_sealed_batch: Option<u64>,
    /// The executor's counters there, as last read (`None` before the first read).
    pub on_chain: Option<OnChainCounters>,
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
    pub pending_tx: Option<alloy::primitives::B256>,
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
    pub l1_cost_wei: alloy::primitives::U256,
    /// L1 gas per chain batch through the Gateway (all L1 gas over all carried chain batches).
    pub l1_gas_per_chain_batch: Option<u64>,
    /// L1 gas one chain batch costs settled directly on L1 (measured).
    pub direct_l1_gas_per_chain_batch: u64,
    /// The fixed price each chain pays per settled batch, in the Gateway's gas token (wei).
    pub price_per_chain_batch: alloy::primitives::U256,
    /// Per chain.
    pub chains: Vec<GatewayChainStatus>,
    /// The last few Gateway batches.
    pub recent_batches: Vec<GatewayBatchStatus>,
}

/// One chain as the Gateway sees it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GatewayChainStatus {
    /// The chain.
    pub chain_id: u64,
    /// Its executor on the Gateway.
    pub executor: alloy::primitives::Address,
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
    pub charged: alloy::primitives::U256,
    /// Its share of the Gateway batches' real L1 cost (wei).
    pub l1_cost_share_wei: alloy::primitives::U256,
    /// What settling them directly on L1 would have cost at the same gas prices (wei).
    pub direct_l1_cost_wei: alloy::primitives::U256,
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
    pub hash: alloy::primitives::B256,
}

#[derive(Debug, Default)]
struct Shared {
    paused: AtomicBool,
    counters: Mutex<OnChainCounters>,
    /// The last counters read of the chain's executor on each settlement layer (chain id): the
    /// active one each poll, the others once (only the active one changes).
    layer_counters: Mutex<std::collections::BTreeMap<u64, OnChainCounters>>,
    /// When reading an inactive layer's counters last failed.
    inactive_layer_read: Mutex<Option<std::time::Instant>>,
    last_error: Mutex<Option<String>>,
    /// Gateway mode: running totals over settled Gateway batches.
    gateway_totals: Mutex<GatewayTotals>,
    /// A chain on the Gateway: what L1 says of its batches.
    l1_finality: Mutex<L1Finality>,
    /// The configuration for the layer the chain settles on now, once it differs from the
    /// configured one (after a migration).
    active: Mutex<Option<Arc<SettlementConfig>>>,
    /// What the running migration waits for.
    migration_waiting: Mutex<Option<String>>,
    /// Draining off the Gateway: the migration and the chain head the store must reach.
    drain_head: Mutex<Option<(u64, u64)>>,
    /// The layer was checked against the Bridgehub since the start.
    reconciled: AtomicBool,
}

#[derive(Debug, Default)]
struct GatewayTotals {
    scanned_through: u64,
    chain_batches: u64,
    gas: u64,
    cost: alloy::primitives::U256,
    chains: std::collections::BTreeMap<u64, GatewayChainStatus>,
}

#[derive(Debug, Default)]
struct L1Finality {
    through: u64,
    /// `(first, last, gateway batch)` per `ChainBatchesFinal` event seen.
    ranges: Vec<(u64, u64, u64)>,
    scanned_l1_block: u64,
}

/// The settlement ExEx and its tasks.
#[derive(Debug, Clone)]
pub struct Settlement {
    config: Arc<SettlementConfig>,
    store: Arc<Store>,
    backend: Arc<dyn ProofBackend>,
    shared: Arc<Shared>,
    batcher_wake: Arc<Notify>,
    prover_wake: Arc<Notify>,
    sender_wake: Arc<Notify>,
    migrator: Option<Arc<Migrator>>,
    interop: Option<Arc<crate::interop::Interop>>,
}

impl Settlement {
    /// A settlement service over `store` proving with `backend`. In gateway mode, a Gateway
    /// batch carries at most as many chain batches as one aggregation holds beside the
    /// Gateway's own leaf, unless configured lower.
    pub fn new(
        mut config: SettlementConfig,
        store: Arc<Store>,
        backend: Arc<dyn ProofBackend>,
    ) -> Self {
        if let Some(mode) = &mut config.gateway
            && let Some(max) = backend.max_aggregated()
        {
            let fits = max.saturating_sub(1).max(1);
            mode.max_chain_batches = Some(mode.max_chain_batches.map_or(fits, |m| m.min(fits)));
        }
        let config = Arc::new(config);
        let migrator = config.migration.clone().and_then(|migration| {
            Migrator::new(Arc::clone(&config), migration, Arc::clone(&store))
                .map_err(|err| {
                    tracing::error!(target: "settlement::migration", %err, "runtime migration is off");
                })
                .ok()
                .map(Arc::new)
        });
        let interop = crate::interop::Interop::new(&config)
            .map_err(|err| {
                tracing::error!(target: "settlement::interop", %err, "interop is off");
            })
            .ok()
            .flatten()
            .map(Arc::new);
        let this = Self {
            interop,
            config,
            store,
            backend,
            shared: Arc::default(),
            batcher_wake: Arc::default(),
            prover_wake: Arc::default(),
            sender_wake: Arc::default(),
            migrator,
        };
        match this.store.migrated_layer() {
            Ok(Some(layer)) => this.switch_to(layer),
            Ok(None) => {}
            Err(err) => {
                warn!(target: "settlement::migration", %err, "reading past migrations failed")
            }
        }
        this
    }

    /// The configuration for the layer the chain settles on now.
    pub fn active_config(&self) -> Arc<SettlementConfig> {
        lock(&self.shared.active).clone().unwrap_or_else(|| Arc::clone(&self.config))
    }

    /// Settles on `layer` from now on (known to the migration settings; else ignored).
    fn switch_to(&self, layer: u64) {
        let Some(migrator) = &self.migrator else { return };
        let migration = migrator.config();
        let Some(kind) = migration.kind_of(layer) else {
            warn!(target: "settlement::migration", layer, "the store names a layer neither L1 nor the Gateway; keeping the configured one");
            return;
        };
        let config = self.config.on_layer(migration.endpoint(kind).clone(), migration.l1.chain_id);
        *lock(&self.shared.active) = Some(Arc::new(config));
        self.batcher_wake.notify_one();
        self.sender_wake.notify_one();
    }

    /// Installs the ExEx and its RPC namespace into a host.
    pub fn install(self, builder: HostBuilder) -> HostBuilder {
        let rpc = self.rpc_module();
        builder
            .extend_rpc_modules(move |ctx| {
                ctx.modules.merge(rpc)?;
                Ok(())
            })
            .install_exex(SETTLEMENT_EXEX_ID, move |ctx| async move { Ok(self.run(ctx)) })
    }

    /// The status as of now.
    pub fn status(&self) -> SettlementResult<SettlementStatus> {
        let head = self.store.last_block()?.map(|b| b.number);
        let last = self.store.last_batch()?;
        let on_chain = *lock(&self.shared.counters);
        // Only the batches not yet executed are read (status and the metrics loop run often, and
        // a chain's history grows without bound); the executed ones are counted, not read.
        let last_number = last.as_ref().map(|b| b.number).unwrap_or_default();
        let executed_stored = on_chain.executed.min(last_number);
        let open = self.store.batches(executed_stored + 1..=u64::MAX)?;
        let mut batches_by_stage: std::collections::BTreeMap<&'static str, u64> =
            BatchStage::ALL.iter().map(|s| (s.as_str(), 0)).collect();
        *batches_by_stage.entry(BatchStage::Executed.as_str()).or_default() += executed_stored;
        for batch in &open {
            *batches_by_stage.entry(batch.stage.as_str()).or_default() += 1;
        }
        let last_proved = open
            .iter()
            .rev()
            .find(|b| !b.proof.is_empty())
            .map(|b| b.number)
            .or((executed_stored > 0).then_some(executed_stored));
        let executed_block = match on_chain.executed {
            0 => 0,
            n => self.store.batch(n)?.map(|b| b.last_block).unwrap_or_default(),
        };
        let paused = self.shared.paused.load(Ordering::Relaxed);
        let (migration, migrations_completed) = self.migration_status(head.unwrap_or_default())?;
        let phase = match &migration {
            Some(m) if m.phase == "draining" || m.phase == "migrating" => m.phase.clone(),
            _ if paused => "paused".into(),
            _ => "settling".into(),
        };
        Ok(SettlementStatus {
            chain_id: self.config.chain_id,
            settlement_layer: self.active_config().layer.chain_id,
            phase,
            chain_head: head,
            last_sealed_batch: last.as_ref().map(|b| b.number),
            last_proved_batch: last_proved,
            on_chain,
            layers: self.layer_statuses(last.as_ref().map(|b| b.number)),
            unbatched_blocks: head
                .unwrap_or_default()
                .saturating_sub(last.as_ref().map(|b| b.last_block).unwrap_or_default()),
            lag_blocks: head.unwrap_or_default().saturating_sub(executed_block),
            batches_by_stage,
            pending_tx: self.store.in_flight()?.map(|tx| PendingTx {
                stage: crate::sender::stage_name(tx.stage).to_string(),
                from_batch: tx.from,
                to_batch: tx.to,
                nonce: tx.nonce,
                attempts: tx.attempts,
                hash: tx.hash,
            }),
            last_error: lock(&self.shared.last_error).clone(),
            gateway: self.gateway_status(on_chain.executed, &open)?,
            finality: self.finality_status(on_chain, last.as_ref().map(|b| b.number)),
            migration,
            migrations_completed,
        })
    }

    /// `settlement_status.layers`: the configured layer, or both with runtime migration.
    fn layer_statuses(&self, last_sealed: Option<u64>) -> Vec<LayerStatus> {
        let active = self.active_config();
        let counters = lock(&self.shared.layer_counters).clone();
        let layers: Vec<(&crate::SettlementLayerEndpoint, Option<&'static str>)> =
            match &self.config.migration {
                Some(migration) => {
                    vec![(&migration.l1, Some("l1")), (&migration.gateway, Some("gateway"))]
                }
                None => {
                    // The Gateway's own node settles on L1; a chain reading L1 finality settles
                    // on the Gateway; otherwise the configuration does not say.
                    let kind = if self.config.gateway.is_some() {
                        Some("l1")
                    } else if self.config.l1_finality.is_some() {
                        Some("gateway")
                    } else {
                        None
                    };
                    vec![(&active.layer, kind)]
                }
            };
        layers
            .into_iter()
            .map(|(layer, kind)| {
                let is_active = layer.chain_id == active.layer.chain_id;
                LayerStatus {
                    chain_id: layer.chain_id,
                    kind,
                    executor: layer.executor,
                    active: is_active,
                    last_sealed_batch: if is_active { last_sealed } else { None },
                    on_chain: counters.get(&layer.chain_id).copied(),
                }
            })
            .collect()
    }

    /// The running (else the last) migration, and how many completed.
    fn migration_status(&self, head: u64) -> SettlementResult<(Option<MigrationStatus>, u64)> {
        let migrations = self.store.migrations()?;
        let completed =
            migrations.iter().filter(|m| m.phase == MigrationPhase::Completed.as_u8()).count()
                as u64;
        let Some(last) = migrations.last() else { return Ok((None, 0)) };
        let phase = last.migration_phase()?;
        let now = crate::migration::now_ms();
        let running = phase.is_running();
        let end = if running { now } else { last.finishedAtMs };
        let status = MigrationStatus {
            id: last.id,
            from: last.fromLayer,
            to: last.toLayer,
            phase: phase.as_str().into(),
            trigger: last.trigger.clone(),
            waiting_for: if running { lock(&self.shared.migration_waiting).clone() } else { None },
            drained_through: (phase != MigrationPhase::Draining
                && phase != MigrationPhase::Cancelled)
                .then_some(last.drainedThrough),
            phase_ms: end.saturating_sub(if running {
                last.phaseStartedAtMs
            } else {
                last.startedAtMs
            }),
            elapsed_ms: end.saturating_sub(last.startedAtMs),
            blocks_meanwhile: if running { head } else { last.headAtFinish }
                .saturating_sub(last.headAtStart),
            pending_tx: last.pending_tx(),
        };
        Ok((Some(status), completed))
    }

    /// Starts a migration to `to`; returns its record at once (the migration goes on in the
    /// background: `settlement_status` shows it). Refused, changing nothing, when the node has
    /// no migration settings, a migration runs, the chain already settles there, or the
    /// Bridgehub would refuse (target not whitelisted, chain not registered there, the admin key
    /// not the chain's admin).
    pub async fn migrate(
        &self,
        to: LayerKind,
        trigger: &str,
    ) -> Result<MigrationRecord, MigrationError> {
        let migrator = self.migrator.as_ref().ok_or(MigrationError::NotConfigured)?;
        if let Some(running) = self.running_migration()? {
            return Err(already_running(&running));
        }
        let from = self.active_config().layer.chain_id;
        let target = migrator.config().endpoint(to).chain_id;
        if from == target {
            return Err(MigrationError::AlreadyOn(to.as_str(), target));
        }
        migrator.check_target(to).await?;
        // No interop root import is under way from here on, and none starts (see import_loop).
        let _no_import = match &self.interop {
            Some(interop) => Some(interop.import_gate().lock().await),
            None => None,
        };
        let head = self.store.last_block()?.map(|b| b.number).unwrap_or_default();
        let now = crate::migration::now_ms();
        let started = self.store.write(|tx| {
            let last = tx.last_migration()?;
            if let Some(last) = &last
                && last.migration_phase()?.is_running()
            {
                return Ok(Err(last.clone()));
            }
            let mut record = MigrationRecord {
                id: last.map_or(1, |l| l.id + 1),
                fromLayer: from,
                toLayer: target,
                startedAtMs: now,
                phaseStartedAtMs: now,
                headAtStart: head,
                trigger: trigger.into(),
                ..Default::default()
            };
            record.set_phase(MigrationPhase::Draining);
            tx.put_migration(&record)?;
            Ok(Ok(record))
        })?;
        let record = started.map_err(|running| already_running(&running))?;
        *lock(&self.shared.migration_waiting) = Some("the sealed batches to settle".into());
        metrics::counter!("settlement_migrations_started_total").increment(1);
        tracing::info!(
            target: "settlement::migration",
            id = record.id,
            from,
            to = target,
            trigger,
            "migration started: draining (no new batches for the old layer; blocks keep coming)"
        );
        self.sender_wake.notify_one();
        Ok(record)
    }

    /// Cancels the running migration while it drains: the chain goes on settling where it was.
    pub fn cancel_migration(&self) -> Result<MigrationRecord, MigrationError> {
        let cancelled = self.store.write(|tx| {
            let Some(mut last) = tx.last_migration()? else { return Ok(Err(None)) };
            match last.migration_phase()? {
                MigrationPhase::Draining => {
                    crate::migration::enter(&mut last, MigrationPhase::Cancelled);
                    tx.put_migration(&last)?;
                    Ok(Ok(last))
                }
                phase if phase.is_running() => Ok(Err(Some((last.id, phase.as_str())))),
                _ => Ok(Err(None)),
            }
        })?;
        let record = cancelled.map_err(|refused| match refused {
            Some((id, phase)) => MigrationError::NotCancellable { id, phase },
            None => MigrationError::NothingToCancel,
        })?;
        tracing::info!(target: "settlement::migration", id = record.id, "migration cancelled while draining: settling on {} again", record.fromLayer);
        self.batcher_wake.notify_one();
        Ok(record)
    }

    fn running_migration(&self) -> SettlementResult<Option<MigrationRecord>> {
        Ok(self
            .store
            .last_migration()?
            .filter(|m| m.migration_phase().is_ok_and(|p| p.is_running())))
    }

    /// At start, with migration settings: the Bridgehub is the truth for where the chain
    /// settles (a node whose store says otherwise, with no migration running, follows it), and
    /// a configured layer that differs starts a migration there.
    async fn reconcile_layer_at_start(&self) -> Result<(), MigrationError> {
        let Some(migrator) = &self.migrator else { return Ok(()) };
        if self.running_migration()?.is_none() {
            let on_chain = migrator.bridgehub_layer().await?;
            let active = self.active_config().layer.chain_id;
            if on_chain != active {
                if migrator.config().kind_of(on_chain).is_none() {
                    return Err(MigrationError::Layer(format!(
                        "the Bridgehub says the chain settles on {on_chain}, neither L1 ({}) nor the Gateway ({})",
                        migrator.config().l1.chain_id,
                        migrator.config().gateway.chain_id
                    )));
                }
                warn!(target: "settlement::migration", on_chain, configured = active, "the Bridgehub says the chain settles elsewhere: following it");
                let head = self.store.last_block()?.map(|b| b.number).unwrap_or_default();
                // The layer it follows goes on after its executor's last batch: batches the
                // store sealed above that (for the other layer) are unsealed and sealed again.
                let kind = migrator.config().kind_of(on_chain).ok_or_else(|| {
                    MigrationError::Layer(format!("unknown settlement layer {on_chain}"))
                })?;
                let drained = migrator.executed_on(kind).await?;
                let now = crate::migration::now_ms();
                self.store.write(|tx| {
                    let unsealed = tx.remove_batches_from(drained + 1)?;
                    if unsealed > 0 {
                        warn!(target: "settlement::migration", unsealed, from = drained + 1, "unsealed batches built for the layer the chain left");
                    }
                    // A transaction in flight belonged to the other layer.
                    tx.set_in_flight(None)?;
                    let mut record = MigrationRecord {
                        id: tx.last_migration()?.map_or(1, |l| l.id + 1),
                        fromLayer: active,
                        toLayer: on_chain,
                        drainedThrough: drained,
                        startedAtMs: now,
                        phaseStartedAtMs: now,
                        finishedAtMs: now,
                        headAtStart: head,
                        headAtFinish: head,
                        trigger: "found on the Bridgehub at start".into(),
                        ..Default::default()
                    };
                    record.set_phase(MigrationPhase::Completed);
                    tx.put_migration(&record)
                })?;
                self.switch_to(on_chain);
            }
            if let Some(target) = migrator.config().start_on {
                let wanted = migrator.config().endpoint(target).chain_id;
                if wanted != on_chain {
                    tracing::info!(target: "settlement::migration", from = on_chain, to = wanted, "the configured settlement layer differs from the Bridgehub's: migrating");
                    self.migrate(target, "start flag").await?;
                }
            }
        }
        Ok(())
    }

    /// Imports the Gateway's newest interop root into the chain while it settles on the Gateway.
    async fn import_loop(self, shutdown: CancellationToken) {
        let Some(interop) = self.interop.clone() else { return };
        let gateway = self.config.interop.as_ref().map(|i| i.gateway.chain_id);
        loop {
            // Not while a migration runs: roots imported then could land in a batch settled on
            // L1, which cannot check them.
            {
                let _gate = interop.import_gate().lock().await;
                // A store error counts as "migrating": better no import than a stray one.
                let migrating = !matches!(self.running_migration(), Ok(None));
                if Some(self.active_config().layer.chain_id) == gateway && !migrating {
                    let result = interop.import_newest().await;
                    self.record("interop", &result);
                }
            }
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(self.config.poll_interval) => {}
            }
        }
    }

    /// Runs the migration state machine until the host stops.
    async fn migration_loop(self, shutdown: CancellationToken) {
        let Some(migrator) = self.migrator.clone() else { return };
        loop {
            if !self.shared.reconciled.load(Ordering::Relaxed) {
                match self.reconcile_layer_at_start().await {
                    Ok(()) => self.shared.reconciled.store(true, Ordering::Relaxed),
                    Err(err) => {
                        warn!(target: "settlement::migration", %err, "checking the settlement layer on the Bridgehub failed; retrying");
                    }
                }
            }
            let result = self.migration_step(&migrator).await;
            let progressed = matches!(result, Ok(true));
            if let Err(err) = &result {
                warn!(target: "settlement::migration", %err, "migration step failed; retrying");
                metrics::counter!("settlement_errors_total", "task" => "migration").increment(1);
                *lock(&self.shared.last_error) = Some(format!("migration: {err}"));
                *lock(&self.shared.migration_waiting) = Some(format!("a retry after: {err}"));
            }
            if progressed {
                if shutdown.is_cancelled() {
                    return;
                }
                continue;
            }
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(self.config.poll_interval) => {}
            }
        }
    }

    /// Draining off the Gateway with interop: every chain block that may hold a root import
    /// (imports stopped when the migration started) must be in the store before the drain can
    /// tell which blocks to settle on the Gateway. What it waits for, if anything.
    async fn imports_not_stored(
        &self,
        record: &MigrationRecord,
    ) -> Result<Option<String>, MigrationError> {
        let Some(interop) = &self.interop else { return Ok(None) };
        if self.config.interop.as_ref().map(|i| i.gateway.chain_id) != Some(record.fromLayer) {
            return Ok(None);
        }
        let target = {
            let known = *lock(&self.shared.drain_head);
            match known {
                Some((id, head)) if id == record.id => head,
                _ => {
                    let head = interop.chain_head().await?;
                    *lock(&self.shared.drain_head) = Some((record.id, head));
                    head
                }
            }
        };
        if !interop.importer_idle().await? {
            return Ok(Some(
                "a root import sent before the migration to be mined or dropped".into(),
            ));
        }
        let stored = self.store.last_block()?.map(|b| b.number).unwrap_or_default();
        Ok((stored < target).then(|| {
            format!("the chain's blocks through {target} to reach the store (stored {stored}): they may import interop roots")
        }))
    }

    /// One step of the running migration, if any; true when it changed something.
    async fn migration_step(&self, migrator: &Migrator) -> Result<bool, MigrationError> {
        let Some(mut record) = self.running_migration()? else { return Ok(false) };
        let from = migrator.config().kind_of(record.fromLayer).ok_or_else(|| {
            MigrationError::Layer(format!(
                "migration {} leaves unknown layer {}",
                record.id, record.fromLayer
            ))
        })?;
        if record.migration_phase()? == MigrationPhase::Draining
            && let Some(waiting) = self.imports_not_stored(&record).await?
        {
            *lock(&self.shared.migration_waiting) = Some(waiting);
            return Ok(false);
        }
        match record.migration_phase()? {
            MigrationPhase::Draining => match migrator.drained(from).await? {
                Err(waiting) => {
                    *lock(&self.shared.migration_waiting) = Some(waiting);
                    Ok(false)
                }
                Ok(last) => {
                    let moved = self.store.write(|tx| {
                        let Some(mut current) = tx.last_migration()? else { return Ok(false) };
                        if current.id != record.id
                            || current.migration_phase()? != MigrationPhase::Draining
                            || tx.last_batch()?.map_or(0, |b| b.number) != last
                        {
                            return Ok(false);
                        }
                        current.drainedThrough = last;
                        crate::migration::enter(&mut current, MigrationPhase::Migrating);
                        tx.put_migration(&current)?;
                        Ok(true)
                    })?;
                    if moved {
                        tracing::info!(target: "settlement::migration", id = record.id, through = last, from = from.as_str(), "drained: every sealed batch is executed on the old layer; migrating");
                        *lock(&self.shared.migration_waiting) =
                            Some("the Bridgehub migration".into());
                    }
                    Ok(moved)
                }
            },
            MigrationPhase::Migrating => match migrator.advance(&mut record).await? {
                Advance::Waiting(waiting) => {
                    *lock(&self.shared.migration_waiting) = Some(waiting);
                    Ok(false)
                }
                Advance::Progressed => Ok(true),
                Advance::Completed => {
                    crate::migration::enter(&mut record, MigrationPhase::Completed);
                    record.headAtFinish =
                        self.store.last_block()?.map(|b| b.number).unwrap_or_default();
                    self.store.write(|tx| tx.put_migration(&record))?;
                    self.switch_to(record.toLayer);
                    *lock(&self.shared.migration_waiting) = None;
                    tracing::info!(
                        target: "settlement::migration",
                        id = record.id,
                        to = record.toLayer,
                        next_batch = record.drainedThrough + 1,
                        ms = record.finishedAtMs.saturating_sub(record.startedAtMs),
                        blocks_meanwhile = record.headAtFinish.saturating_sub(record.headAtStart),
                        "migration complete: the chain settles on the new layer"
                    );
                    Ok(true)
                }
            },
            _ => Ok(false),
        }
    }

    /// Gateway mode's status: totals over settled Gateway batches (read once each, then kept).
    fn gateway_status(
        &self,
        settled: u64,
        open: &[gateway_store::BatchRecord],
    ) -> SettlementResult<Option<GatewayStatus>> {
        let Some(mode) = &self.config.gateway else { return Ok(None) };
        let mut totals = lock(&self.shared.gateway_totals);
        if settled > totals.scanned_through {
            for (_, contents) in
                self.store.gateway_batches_contents(totals.scanned_through + 1..=settled)?
            {
                add_settled_batch(&mut totals, mode, &contents);
            }
            totals.scanned_through = settled;
        }
        let mut chains = totals.chains.clone();
        for (chain_id, chain) in self.store.gateway_chains()? {
            let entry = chains.entry(chain_id).or_default();
            entry.chain_id = chain_id;
            entry.executor = chain.executor;
            entry.committed = chain.committed;
            entry.proved = chain.proved;
            entry.executed = chain.executed;
        }
        let mut recent = Vec::new();
        let first_recent = settled.saturating_sub(4).max(1);
        for (number, contents) in self.store.gateway_batches_contents(first_recent..=settled)? {
            recent.push(GatewayBatchStatus {
                number,
                stage: BatchStage::Executed.as_str().into(),
                chain_batches: contents.chainBatches.len() as u64,
                l1_gas_used: contents.l1GasUsed,
            });
        }
        for batch in open.iter().take(4) {
            let carried = self.store.gateway_batch_contents(batch.number)?;
            recent.push(GatewayBatchStatus {
                number: batch.number,
                stage: batch.stage.as_str().into(),
                chain_batches: carried.map_or(0, |c| c.chainBatches.len() as u64),
                l1_gas_used: 0,
            });
        }
        Ok(Some(GatewayStatus {
            batches_settled: settled,
            chain_batches_settled: totals.chain_batches,
            l1_gas_used: totals.gas,
            l1_cost_wei: totals.cost,
            l1_gas_per_chain_batch: (totals.chain_batches > 0)
                .then(|| totals.gas / totals.chain_batches),
            direct_l1_gas_per_chain_batch: mode.direct_l1_gas_per_batch,
            price_per_chain_batch: mode.price_per_chain_batch,
            chains: chains.into_values().collect(),
            recent_batches: recent,
        }))
    }

    /// A chain on the Gateway: its batches' finality, from the executor's counters on the
    /// Gateway and what L1's `GatewayExecutor` said.
    fn finality_status(
        &self,
        on_chain: OnChainCounters,
        last: Option<u64>,
    ) -> Option<FinalityStatus> {
        self.config.l1_finality.as_ref()?;
        let l1 = lock(&self.shared.l1_finality);
        let last = last.unwrap_or_default();
        let recent = (last.saturating_sub(7).max(1)..=last)
            .filter(|n| *n > 0)
            .map(|batch| BatchFinality {
                batch,
                interop_final: batch <= on_chain.executed,
                l1_final: batch <= l1.through,
                gateway_batch: l1
                    .ranges
                    .iter()
                    .find(|(first, to, _)| (*first..=*to).contains(&batch))
                    .map(|(_, _, gateway_batch)| *gateway_batch),
            })
            .collect();
        Some(FinalityStatus {
            interop_final_through: on_chain.executed,
            l1_final_through: l1.through,
            recent,
        })
    }

    /// Stops sending to the settlement layer (blocks keep being stored, batched and proved).
    pub fn pause(&self) {
        self.shared.paused.store(true, Ordering::Relaxed);
    }

    /// Resumes sending.
    pub fn resume(&self) {
        self.shared.paused.store(false, Ordering::Relaxed);
        self.sender_wake.notify_one();
    }

    /// `settlement_status`, `settlement_pause`, `settlement_resume`.
    pub fn rpc_module(&self) -> RpcModule<()> {
        let mut module = RpcModule::new(());
        let this = self.clone();
        let migrate = module
            .register_async_method("settlement_migrate", move |params, _, _| {
                let this = this.clone();
                async move {
                    let request: MigrateRequest =
                        params.one().or_else(|_| params.parse()).map_err(|e| {
                            ErrorObjectOwned::owned(
                                -32602,
                                format!(
                                    "settlement_migrate takes {{\"to\": \"gateway\" | \"l1\"}}: {e}"
                                ),
                                None::<()>,
                            )
                        })?;
                    let to: LayerKind = request.to.parse().map_err(|e: MigrationError| {
                        ErrorObjectOwned::owned(-32602, e.to_string(), None::<()>)
                    })?;
                    let record = this
                        .migrate(to, "rpc")
                        .await
                        .map_err(|e| ErrorObjectOwned::owned(-32000, e.to_string(), None::<()>))?;
                    Ok::<_, ErrorObjectOwned>(serde_json::json!({
                        "id": record.id,
                        "from": record.fromLayer,
                        "to": record.toLayer,
                        "phase": MigrationPhase::Draining.as_str(),
                    }))
                }
            })
            .is_ok();
        let this = self.clone();
        let proof = module
            .register_async_method("interop_getMessageProof", move |params, _, _| {
                let this = this.clone();
                async move {
                    let invalid = |e: String| ErrorObjectOwned::owned(-32602, e, None::<()>);
                    let mut seq = params.sequence();
                    let tx_hash: alloy::primitives::B256 = seq.next().map_err(|e| {
                        invalid(format!("interop_getMessageProof(txHash, logIndex[, \"interop\" | \"l1\"[, rootBlock]]): txHash: {e}"))
                    })?;
                    let log_index: u64 = seq.next().map_err(|e| invalid(format!("logIndex: {e}")))?;
                    let target: Option<crate::interop::ProofTarget> =
                        seq.optional_next().map_err(|e| invalid(format!("target: {e}")))?;
                    let at_block: Option<u64> =
                        seq.optional_next().map_err(|e| invalid(format!("rootBlock: {e}")))?;
                    let Some(interop) = &this.interop else {
                        return Err(ErrorObjectOwned::owned(
                            -32000,
                            "interop is not configured on this node",
                            None::<()>,
                        ));
                    };
                    interop
                        .message_proof(
                            &this.store,
                            tx_hash,
                            log_index,
                            target.unwrap_or(crate::interop::ProofTarget::Interop),
                            at_block,
                        )
                        .await
                        .map_err(|e| ErrorObjectOwned::owned(-32000, e.to_string(), None::<()>))
                }
            })
            .is_ok();
        let this = self.clone();
        let cancel = module
            .register_method("settlement_cancel_migration", move |_, _, _| {
                let record = this
                    .cancel_migration()
                    .map_err(|e| ErrorObjectOwned::owned(-32000, e.to_string(), None::<()>))?;
                Ok::<_, ErrorObjectOwned>(serde_json::json!({
                    "id": record.id,
                    "phase": MigrationPhase::Cancelled.as_str(),
                }))
            })
            .is_ok();
        let this = self.clone();
        let status = module
            .register_method("settlement_status", move |_, _, _| {
                this.status()
                    .map_err(|e| ErrorObjectOwned::owned(-32000, e.to_string(), None::<()>))
            })
            .is_ok();
        let this = self.clone();
        let pause = module
            .register_method("settlement_pause", move |_, _, _| {
                this.pause();
                "paused"
            })
            .is_ok();
        let this = self.clone();
        let resume = module
            .register_method("settlement_resume", move |_, _, _| {
                this.resume();
                "settling"
            })
            .is_ok();
        // Method names are unique constants: registering cannot fail.
        debug_assert!(status && pause && resume && migrate && cancel && proof);
        module
    }

    /// Runs the ExEx, with the batcher, prover and sender beside it, until the host stops.
    pub async fn run(self, ctx: ExExContext) -> eyre::Result<()> {
        let shutdown = ctx.components.shutdown.clone();
        match self.reconcile_layer_at_start().await {
            Ok(()) => self.shared.reconciled.store(true, Ordering::Relaxed),
            Err(err) => {
                warn!(target: "settlement::migration", %err, "checking the settlement layer on the Bridgehub at start failed; retrying");
                *lock(&self.shared.last_error) = Some(format!("migration: {err}"));
            }
        }
        let sender =
            Sender::new(self.active_config(), Arc::clone(&self.store), Arc::clone(&self.backend))?;
        crate::metrics::describe();
        tokio::spawn(self.clone().metrics_loop(ctx.config.wal_dir(), shutdown.clone()));
        tokio::spawn(self.clone().batcher_loop(shutdown.clone()));
        // The backend may be shared with other hosts of the process: its owner cancels it
        // (`ProofBackend::cancel`) when the process stops; this host only stops starting jobs.
        tokio::spawn(self.clone().prover_loop(shutdown.clone()));
        if self.config.l1_finality.is_some() {
            tokio::spawn(self.clone().finality_loop(shutdown.clone()));
        }
        if self.migrator.is_some() {
            tokio::spawn(self.clone().migration_loop(shutdown.clone()));
        }
        if self.interop.is_some() {
            tokio::spawn(self.clone().import_loop(shutdown.clone()));
        }
        tokio::spawn(self.clone().sender_loop(sender, shutdown));
        run_exex(
            ctx,
            Arc::clone(&self.config),
            Arc::clone(&self.store),
            Arc::clone(&self.batcher_wake),
        )
        .await
    }

    fn record(&self, task: &str, result: &SettlementResult<impl std::fmt::Debug>) {
        match result {
            Ok(_) => {}
            Err(err) => {
                warn!(target: "settlement", task, %err, "step failed; retrying");
                metrics::counter!("settlement_errors_total", "task" => task.to_string())
                    .increment(1);
                *lock(&self.shared.last_error) = Some(format!("{task}: {err}"));
            }
        }
    }

    /// Refreshes the gauges from the status, and the size of the host's WAL (`wal_dir`), every
    /// [`METRICS_INTERVAL`].
    async fn metrics_loop(self, wal_dir: std::path::PathBuf, shutdown: CancellationToken) {
        loop {
            match self.status() {
                Ok(status) => crate::metrics::record_status(&status),
                Err(err) => warn!(target: "settlement", %err, "status for metrics failed"),
            }
            let (files, bytes) = crate::metrics::dir_size(&wal_dir);
            metrics::gauge!("settlement_wal_files").set(files as f64);
            metrics::gauge!("settlement_wal_bytes").set(bytes as f64);
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(METRICS_INTERVAL) => {}
            }
        }
    }

    async fn batcher_loop(self, shutdown: CancellationToken) {
        loop {
            let result = seal_ready_batches(&self.store, &self.active_config());
            if matches!(result, Ok(n) if n > 0) {
                self.prover_wake.notify_one();
            }
            self.record("batcher", &result);
            if wait(&shutdown, &self.batcher_wake, IDLE_TICK).await {
                return;
            }
        }
    }

    async fn prover_loop(self, shutdown: CancellationToken) {
        let check = drop_foreign_proofs(&self.store, &self.active_config(), &self.backend, 0);
        self.record("prover", &check);
        loop {
            let executed = lock(&self.shared.counters).executed;
            let result =
                prove_ready(&self.store, &self.active_config(), &self.backend, executed).await;
            self.record("prover", &result);
            if matches!(result, Ok(n) if n > 0) {
                self.sender_wake.notify_one();
                continue;
            }
            if wait(&shutdown, &self.prover_wake, IDLE_TICK).await {
                return;
            }
        }
    }

    /// A chain on the Gateway: reads which of its batches L1 holds final through the Gateway
    /// (`GatewayExecutor.lastFinalBatch` and its `ChainBatchesFinal` events).
    async fn finality_loop(self, shutdown: CancellationToken) {
        let Some(source) = self.config.l1_finality.clone() else { return };
        let provider =
            alloy::providers::ProviderBuilder::new().connect_http(source.l1_rpc_url.clone());
        let executor = gateway_contracts::GatewayExecutor::new(source.gateway_executor, provider);
        let chain_id = alloy::primitives::U256::from(self.config.chain_id);
        loop {
            let result = async {
                let timeout = self.config.tx_timeout;
                let scanned = lock(&self.shared.l1_finality).scanned_l1_block;
                let read = async {
                    use alloy::providers::Provider as _;
                    use std::future::IntoFuture as _;
                    let head = executor.provider().get_block_number().into_future().await.map_err(
                        |e| crate::SettlementError::Layer(format!("reading L1's head: {e}")),
                    )?;
                    let through = executor.lastFinalBatch(chain_id).call().await.map_err(|e| {
                        crate::SettlementError::Layer(format!("reading lastFinalBatch: {e}"))
                    })?;
                    let events = if head > scanned {
                        executor
                            .ChainBatchesFinal_filter()
                            .topic1(chain_id)
                            .from_block(scanned + 1)
                            .to_block(head)
                            .query()
                            .await
                            .map_err(|e| {
                                crate::SettlementError::Layer(format!(
                                    "reading ChainBatchesFinal: {e}"
                                ))
                            })?
                    } else {
                        Vec::new()
                    };
                    Ok::<_, crate::SettlementError>((head, through, events))
                };
                let (head, through, events) =
                    tokio::time::timeout(timeout, read).await.map_err(|_| {
                        crate::SettlementError::Layer(format!(
                            "no answer from L1 within {timeout:?}"
                        ))
                    })??;
                let mut state = lock(&self.shared.l1_finality);
                state.through = through.saturating_to();
                for (event, _) in events {
                    state.ranges.push((
                        event.fromBatch.saturating_to(),
                        event.toBatch.saturating_to(),
                        event.gatewayBatch.saturating_to(),
                    ));
                }
                state.scanned_l1_block = state.scanned_l1_block.max(head);
                // Only the recent ranges matter to the status.
                let keep = state.ranges.len().saturating_sub(64);
                state.ranges.drain(..keep);
                Ok::<_, crate::SettlementError>(())
            }
            .await;
            self.record("finality", &result);
            if result.is_ok() {
                let mut last_error = lock(&self.shared.last_error);
                if last_error.as_deref().is_some_and(|e| e.starts_with("finality:")) {
                    *last_error = None;
                }
            }
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(self.config.poll_interval) => {}
            }
        }
    }

    /// Reads, once, the counters of the executors on the layers the chain does not settle on
    /// now (for `settlement_status.layers`); a failed read is tried again next poll.
    async fn read_inactive_layers(&self, active: u64) {
        let Some(migration) = &self.config.migration else { return };
        for layer in [&migration.l1, &migration.gateway] {
            if layer.chain_id == active
                || lock(&self.shared.layer_counters).contains_key(&layer.chain_id)
            {
                continue;
            }
            // An unreachable layer the chain does not use must not slow the sender: a short
            // timeout, and after a failure no new try for a while.
            if lock(&self.shared.inactive_layer_read)
                .is_some_and(|failed| failed.elapsed() < INACTIVE_LAYER_RETRY)
            {
                continue;
            }
            match crate::sender::layer_counters(layer, INACTIVE_LAYER_TIMEOUT).await {
                Ok(counters) => {
                    lock(&self.shared.layer_counters).insert(layer.chain_id, counters);
                    *lock(&self.shared.inactive_layer_read) = None;
                }
                Err(err) => {
                    *lock(&self.shared.inactive_layer_read) = Some(std::time::Instant::now());
                    debug!(target: "settlement::sender", layer = layer.chain_id, %err, "cannot read the executor's counters there yet");
                }
            }
        }
    }

    async fn sender_loop(self, mut sender: Sender, shutdown: CancellationToken) {
        loop {
            let active = self.active_config();
            let active_layer = active.layer.chain_id;
            if sender.layer() != &active.layer {
                match Sender::new(active, Arc::clone(&self.store), Arc::clone(&self.backend)) {
                    Ok(next) => {
                        tracing::info!(target: "settlement::sender", layer = next.layer().chain_id, executor = %next.layer().executor, "sending to the new settlement layer");
                        // The layer left behind is read once more, now that it is final.
                        lock(&self.shared.layer_counters).remove(&sender.layer().chain_id);
                        sender = next;
                    }
                    Err(err) => self.record("sender", &Err::<(), _>(err)),
                }
            }
            self.read_inactive_layers(active_layer).await;
            let result = async {
                let counters = sender.counters().await?;
                *lock(&self.shared.counters) = counters;
                lock(&self.shared.layer_counters).insert(sender.layer().chain_id, counters);
                sender.sync_stages(counters)?;
                sender.forget_mined_in_flight().await?;
                if self.shared.paused.load(Ordering::Relaxed) {
                    return Ok(SenderAction::Idle);
                }
                sender.step(counters).await
            }
            .await;
            self.record("sender", &result);
            match result {
                Ok(SenderAction::Idle) | Err(_) => {
                    if wait(&shutdown, &self.sender_wake, self.config.poll_interval).await {
                        return;
                    }
                }
                Ok(action) => {
                    *lock(&self.shared.last_error) = None;
                    debug!(target: "settlement::sender", ?action, "step done");
                    if shutdown.is_cancelled() {
                        return;
                    }
                }
            }
        }
    }
}

/// `settlement_migrate`'s parameter.
#[derive(Debug, serde::Deserialize)]
struct MigrateRequest {
    /// `gateway` or `l1`.
    to: String,
}

fn already_running(record: &MigrationRecord) -> MigrationError {
    MigrationError::AlreadyRunning {
        id: record.id,
        from: record.fromLayer,
        to: record.toLayer,
        phase: record.migration_phase().map_or("running", MigrationPhase::as_str),
    }
}

/// Adds a settled Gateway batch to the running totals: its chain batches, its L1 cost split
/// evenly over them, and what each would have cost settled directly at the same gas price.
fn add_settled_batch(
    totals: &mut GatewayTotals,
    mode: &crate::gateway::GatewayMode,
    contents: &gateway_store::GatewayBatchContents,
) {
    use alloy::primitives::U256;
    let carried = contents.chainBatches.len() as u64;
    totals.chain_batches += carried;
    totals.gas += contents.l1GasUsed;
    totals.cost += contents.l1CostWei;
    if carried == 0 {
        return;
    }
    let gas_price = if contents.l1GasUsed == 0 {
        U256::ZERO
    } else {
        contents.l1CostWei / U256::from(contents.l1GasUsed)
    };
    let share = contents.l1CostWei / U256::from(carried);
    for r in &contents.chainBatches {
        let chain_id = r.chainId.saturating_to::<u64>();
        let chain = totals.chains.entry(chain_id).or_default();
        chain.chain_id = chain_id;
        chain.batches_settled += 1;
        chain.l1_final = chain.l1_final.max(r.batchNumber.saturating_to());
        chain.charged += mode.price_per_chain_batch;
        chain.l1_cost_share_wei += share;
        chain.direct_l1_cost_wei += gas_price * U256::from(mode.direct_l1_gas_per_batch);
    }
}

/// Waits for a wake-up or `tick`; true when the host is shutting down.
async fn wait(shutdown: &CancellationToken, wake: &Notify, tick: Duration) -> bool {
    tokio::select! {
        () = shutdown.cancelled() => true,
        () = wake.notified() => false,
        () = tokio::time::sleep(tick) => false,
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}
