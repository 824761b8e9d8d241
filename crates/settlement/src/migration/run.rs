//! Running migrations: starting and cancelling one (`settlement_migrate`,
//! `settlement_cancel_migration`), following the Bridgehub at start, and the task that steps the
//! state machine ([`super::Migrator`]) until the chain settles on the new layer.

use std::sync::{
    Arc, Mutex,
    atomic::{AtomicBool, Ordering},
};
use std::time::Duration;

use gateway_store::{MigrationPhase, MigrationRecord, Store};
use tokio_util::sync::CancellationToken;
use tracing::warn;

use super::{Advance, DrainWait, MigrationError, Migrator, RPC_TRIGGER, enter, now_ms};
use crate::{
    config::{LayerKind, MigrationConfig},
    error::SettlementResult,
    interop::Interop,
    state::Pipeline,
    status::MigrationStatus,
    support::lock,
};

/// The chain head the store must reach before a drain off the Gateway can tell which blocks
/// to settle there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct DrainHead {
    /// The migration draining.
    migration: u64,
    /// The chain's head when it was read.
    head: u64,
}

/// Starts, cancels and runs migrations of the settlement layer.
#[derive(Debug)]
pub(crate) struct MigrationRunner {
    pipeline: Arc<Pipeline>,
    migrator: Migrator,
    interop: Option<Arc<Interop>>,
    /// What the running migration waits for.
    waiting: Mutex<Option<String>>,
    /// Draining off the Gateway with interop: the head the store must reach.
    drain_head: Mutex<Option<DrainHead>>,
    /// The layer was checked against the Bridgehub since the start.
    reconciled: AtomicBool,
    /// When the node last looked at what an ended migration left to tidy.
    last_tidy: Mutex<Option<std::time::Instant>>,
}

/// How often an ended migration's leftovers (a request open on the Bridgehub, parked
/// operations) are looked at while there is something to wait for.
const TIDY_INTERVAL: Duration = Duration::from_secs(5);

impl MigrationRunner {
    /// A runner for `config`; the layer a past migration left the chain on (in the store) is
    /// the active one from now on.
    pub(crate) fn new(
        pipeline: Arc<Pipeline>,
        config: MigrationConfig,
        interop: Option<Arc<Interop>>,
    ) -> Result<Self, MigrationError> {
        let migrator =
            Migrator::new(Arc::clone(&pipeline.config), config, Arc::clone(&pipeline.store))?;
        let this = Self {
            pipeline,
            migrator,
            interop,
            waiting: Mutex::default(),
            drain_head: Mutex::default(),
            reconciled: AtomicBool::new(false),
            last_tidy: Mutex::default(),
        };
        match this.pipeline.store.migrated_layer() {
            Ok(Some(layer)) => this.switch_to(layer),
            Ok(None) => {}
            Err(err) => {
                warn!(target: "settlement::migration", %err, "reading past migrations failed")
            }
        }
        Ok(this)
    }

    /// What the running migration waits for.
    pub(crate) fn waiting(&self) -> Option<String> {
        lock(&self.waiting).clone()
    }

    fn set_waiting(&self, waiting: Option<String>) {
        *lock(&self.waiting) = waiting;
    }

    /// Settles on `layer` from now on (known to the migration settings; else ignored).
    fn switch_to(&self, layer: u64) {
        let migration = self.migrator.config();
        let Some(kind) = migration.kind_of(layer) else {
            warn!(target: "settlement::migration", layer, "the store names a layer neither L1 nor the Gateway; keeping the configured one");
            return;
        };
        let config =
            self.pipeline.config.on_layer(migration.endpoint(kind).clone(), migration.l1.chain_id);
        self.pipeline.set_active(config);
    }

    /// Starts a migration to `to`; returns its record at once (the migration goes on in the
    /// background: `settlement_status` shows it). Refused, changing nothing, when a migration
    /// runs, the chain already settles there, or the Bridgehub would refuse (target not
    /// whitelisted, chain not registered there, the admin key not the chain's admin).
    pub(crate) async fn migrate(
        &self,
        to: LayerKind,
        trigger: &str,
    ) -> Result<MigrationRecord, MigrationError> {
        let store = &self.pipeline.store;
        if let Some(running) = self.pipeline.running_migration()? {
            return Err(already_running(&running));
        }
        // The last one's cancellation or forwarding still in flight would act on this one.
        if let Some(last) = store.last_migration()?
            && let Some(tx) = last.pending_tx()
        {
            return Err(MigrationError::PreviousTxPending { id: last.id, tx });
        }
        let from = self.pipeline.active_config().layer.chain_id;
        let target = self.migrator.config().endpoint(to).chain_id;
        if from == target {
            return Err(MigrationError::AlreadyOn(to.as_str(), target));
        }
        self.migrator.check_target(to).await?;
        // No interop root import is under way from here on, and none starts (see the import
        // task in `interop`).
        let _no_import = match &self.interop {
            Some(interop) => Some(interop.import_gate().lock().await),
            None => None,
        };
        let head = store.last_block()?.map(|b| b.number).unwrap_or_default();
        let now = now_ms();
        let started = store.write(|tx| {
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
        self.set_waiting(Some("the sealed batches to settle".into()));
        metrics::counter!("settlement_migrations_started_total").increment(1);
        tracing::info!(
            target: "settlement::migration",
            id = record.id,
            from,
            to = target,
            trigger,
            "migration started: draining (no new batches for the old layer; blocks keep coming)"
        );
        self.pipeline.wakes.send.notify_one();
        Ok(record)
    }

    /// Checks the layer against the Bridgehub, once per start (retried by [`Self::run`] until
    /// it succeeds).
    pub(crate) async fn reconcile_once(&self) {
        if self.reconciled.load(Ordering::Relaxed) {
            return;
        }
        match self.reconcile_layer_at_start().await {
            Ok(()) => self.reconciled.store(true, Ordering::Relaxed),
            Err(err) => {
                warn!(target: "settlement::migration", %err, "checking the settlement layer on the Bridgehub failed; retrying");
                self.pipeline.set_error("migration", &err);
            }
        }
    }

    /// At start: the Bridgehub is the truth for where the chain settles (a node whose store
    /// says otherwise, with no migration running, follows it), and a configured layer that
    /// differs starts a migration there.
    async fn reconcile_layer_at_start(&self) -> Result<(), MigrationError> {
        if self.pipeline.running_migration()?.is_some() {
            return Ok(());
        }
        let store = &self.pipeline.store;
        let migrator = &self.migrator;
        let on_chain = migrator.bridgehub_layer().await?;
        let active = self.pipeline.active_config().layer.chain_id;
        if on_chain != active {
            let kind = migrator.config().kind_of(on_chain).ok_or_else(|| {
                MigrationError::OnChain(format!(
                    "the Bridgehub says the chain settles on {on_chain}, neither L1 ({}) nor the Gateway ({})",
                    migrator.config().l1.chain_id,
                    migrator.config().gateway.chain_id
                ))
            })?;
            warn!(target: "settlement::migration", on_chain, configured = active, "the Bridgehub says the chain settles elsewhere: following it");
            let head = store.last_block()?.map(|b| b.number).unwrap_or_default();
            // The layer it follows goes on after its executor's last batch: batches the store
            // sealed above that (for the other layer) are unsealed and sealed again.
            let drained = migrator.executed_on(kind).await?;
            let now = now_ms();
            store.write(|tx| {
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
            // A restart never undoes a migration an operator made at runtime.
            let by_operator = store.last_migration()?.filter(|last| {
                last.trigger == RPC_TRIGGER
                    && matches!(last.migration_phase(), Ok(MigrationPhase::Completed))
                    && last.toLayer == on_chain
            });
            if let Some(last) = by_operator.filter(|_| wanted != on_chain) {
                warn!(
                    target: "settlement::migration",
                    configured = wanted,
                    settles_on = on_chain,
                    migration = last.id,
                    "the configured settlement layer differs from the Bridgehub's, but the chain got there by a migration made at runtime (settlement_migrate): not undoing it; to move, call settlement_migrate, or leave --settlement.layer out to follow the Bridgehub"
                );
            } else if wanted != on_chain {
                tracing::info!(target: "settlement::migration", from = on_chain, to = wanted, "the configured settlement layer differs from the Bridgehub's: migrating");
                self.migrate(target, "start flag").await?;
            }
        }
        Ok(())
    }

    /// Runs the migration state machine until `shutdown`.
    pub(crate) async fn run(self: Arc<Self>, shutdown: CancellationToken) -> SettlementResult<()> {
        loop {
            self.reconcile_once().await;
            let result = self.step().await;
            let progressed = matches!(result, Ok(true));
            if let Err(err) = &result {
                warn!(target: "settlement::migration", %err, "migration step failed; retrying");
                metrics::counter!("settlement_errors_total", "task" => "migration").increment(1);
                self.pipeline.set_error("migration", err);
                self.set_waiting(Some(format!("a retry after: {err}")));
            }
            if progressed {
                if shutdown.is_cancelled() {
                    return Ok(());
                }
                continue;
            }
            tokio::select! {
                () = shutdown.cancelled() => return Ok(()),
                () = tokio::time::sleep(self.pipeline.config.poll_interval) => {}
            }
        }
    }

    /// After the last migration ended: its request cancelled on the Bridgehub if it was given
    /// up, and what the Bridgehub parked meanwhile forwarded (once; true when it sent one).
    async fn tidy(&self) -> Result<bool, MigrationError> {
        let Some(mut last) = self.pipeline.store.last_migration()? else { return Ok(false) };
        if last.stepsDone & super::STEP_TIDY != 0 || last.migration_phase()?.is_running() {
            return Ok(false);
        }
        // At most every TIDY_INTERVAL while there is something to wait for.
        {
            let mut tidied = lock(&self.last_tidy);
            if tidied.is_some_and(|at| at.elapsed() < TIDY_INTERVAL) {
                return Ok(false);
            }
            *tidied = Some(std::time::Instant::now());
        }
        match self.migrator.tidy(&mut last).await? {
            Advance::Progressed => {
                *lock(&self.last_tidy) = None;
                Ok(true)
            }
            Advance::Waiting(waiting) => {
                tracing::debug!(target: "settlement::migration", id = last.id, waiting, "tidying after the migration");
                Ok(false)
            }
            Advance::Completed | Advance::Abandoned(_) => Ok(false),
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
        let config = &self.pipeline.config;
        if config.interop.as_ref().map(|i| i.gateway.chain_id) != Some(record.fromLayer) {
            return Ok(None);
        }
        let known = *lock(&self.drain_head);
        let target = match known {
            Some(known) if known.migration == record.id => known.head,
            _ => {
                let head = interop.chain_head().await?;
                *lock(&self.drain_head) = Some(DrainHead { migration: record.id, head });
                head
            }
        };
        if !interop.importer_idle().await? {
            return Ok(Some(
                "a root import sent before the migration to be mined or dropped".into(),
            ));
        }
        let stored = self.pipeline.store.last_block()?.map(|b| b.number).unwrap_or_default();
        Ok((stored < target).then(|| {
            format!("the chain's blocks through {target} to reach the store (stored {stored}): they may import interop roots")
        }))
    }

    /// One step of the running migration, if any; true when it changed something.
    async fn step(&self) -> Result<bool, MigrationError> {
        let store = &self.pipeline.store;
        let migrator = &self.migrator;
        let Some(mut record) = self.pipeline.running_migration()? else {
            return self.tidy().await;
        };
        let from = migrator.config().kind_of(record.fromLayer).ok_or_else(|| {
            MigrationError::OnChain(format!(
                "migration {} leaves unknown layer {}",
                record.id, record.fromLayer
            ))
        })?;
        let to = migrator.config().kind_of(record.toLayer).ok_or_else(|| {
            MigrationError::OnChain(format!(
                "migration {} goes to unknown layer {}",
                record.id, record.toLayer
            ))
        })?;
        if record.migration_phase()? == MigrationPhase::Draining {
            // The move is open on the Bridgehub first: it parks new L1 -> L2 transactions.
            match migrator.request_move(&mut record, to).await? {
                None => {}
                Some(Advance::Waiting(waiting)) => {
                    self.set_waiting(Some(waiting));
                    return Ok(false);
                }
                Some(_) => return Ok(true),
            }
        }
        if record.migration_phase()? == MigrationPhase::Draining
            && let Some(waiting) = self.imports_not_stored(&record).await?
        {
            self.set_waiting(Some(waiting));
            return Ok(false);
        }
        match record.migration_phase()? {
            MigrationPhase::Draining => match migrator.drained(from).await? {
                Err(DrainWait { reason, priority_ops: None }) => {
                    self.set_waiting(Some(reason));
                    Ok(false)
                }
                Err(DrainWait { reason, priority_ops: Some(pending) }) => {
                    // Operations no relayer processes (no `--settlement.inbox` on this node, or
                    // a Gateway node that does not forward) would hold the drain forever: it
                    // waits a bounded time and then gives the move up.
                    let timeout = self.pipeline.config.priority_ops_drain_timeout;
                    let waited =
                        Duration::from_millis(now_ms().saturating_sub(record.phaseStartedAtMs));
                    if waited < timeout {
                        let left = timeout.saturating_sub(waited).as_secs();
                        self.set_waiting(Some(format!(
                            "{reason}: the migration is cancelled in {left} s unless they are processed (new ones are parked on L1 meanwhile; --settlement.inbox relays them, --settlement.migration-priority-ops-timeout sets the wait)"
                        )));
                        return Ok(false);
                    }
                    let err = MigrationError::PriorityOpsBlockedDrain {
                        id: record.id,
                        pending,
                        layer: from.as_str(),
                        waited_s: waited.as_secs(),
                        timeout_s: timeout.as_secs(),
                    };
                    tracing::error!(target: "settlement::migration", %err, "migration given up");
                    metrics::counter!("settlement_migrations_given_up_total").increment(1);
                    self.pipeline.set_error("migration", &err);
                    cancel_migration(&self.pipeline, super::STEP_TIMED_OUT)?;
                    self.set_waiting(None);
                    Ok(true)
                }
                Ok(last) => {
                    let moved = store.write(|tx| {
                        let Some(mut current) = tx.last_migration()? else { return Ok(false) };
                        if current.id != record.id
                            || current.migration_phase()? != MigrationPhase::Draining
                            || tx.last_batch()?.map_or(0, |b| b.number) != last
                        {
                            return Ok(false);
                        }
                        current.drainedThrough = last;
                        enter(&mut current, MigrationPhase::Migrating);
                        tx.put_migration(&current)?;
                        Ok(true)
                    })?;
                    if moved {
                        tracing::info!(target: "settlement::migration", id = record.id, through = last, from = from.as_str(), "drained: every sealed batch is executed on the old layer; migrating");
                        self.set_waiting(Some("the Bridgehub migration".into()));
                    }
                    Ok(moved)
                }
            },
            MigrationPhase::Migrating => match migrator.advance(&mut record).await? {
                Advance::Waiting(waiting) => {
                    self.set_waiting(Some(waiting));
                    Ok(false)
                }
                Advance::Progressed => Ok(true),
                Advance::Abandoned(reason) => {
                    enter(&mut record, MigrationPhase::Cancelled);
                    record.stepsDone |= super::STEP_GIVEN_UP;
                    record.headAtFinish = store.last_block()?.map(|b| b.number).unwrap_or_default();
                    store.write(|tx| tx.put_migration(&record))?;
                    self.set_waiting(None);
                    tracing::error!(target: "settlement::migration", id = record.id, %reason, "migration given up");
                    metrics::counter!("settlement_migrations_given_up_total").increment(1);
                    self.pipeline.set_error("migration", &reason);
                    self.pipeline.wakes.seal.notify_one();
                    Ok(true)
                }
                Advance::Completed => {
                    enter(&mut record, MigrationPhase::Completed);
                    record.headAtFinish = store.last_block()?.map(|b| b.number).unwrap_or_default();
                    store.write(|tx| tx.put_migration(&record))?;
                    self.switch_to(record.toLayer);
                    self.set_waiting(None);
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
}

/// Cancels the running migration of `pipeline`'s store while it drains; `why` are the
/// `stepsDone` bits that say who cancelled it (none: the operator, through the RPC).
pub(crate) fn cancel_migration(
    pipeline: &Pipeline,
    why: u8,
) -> Result<MigrationRecord, MigrationError> {
    let cancelled = pipeline.store.write(|tx| {
        let Some(mut last) = tx.last_migration()? else { return Ok(Err(None)) };
        match last.migration_phase()? {
            MigrationPhase::Draining => {
                enter(&mut last, MigrationPhase::Cancelled);
                last.stepsDone |= why;
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
    pipeline.wakes.seal.notify_one();
    Ok(record)
}

/// The running (else the last) migration as the status shows it, and how many completed;
/// `waiting` is what a running one waits for, `head` the chain head now.
pub(crate) fn migration_status(
    store: &Store,
    waiting: Option<String>,
    head: u64,
) -> SettlementResult<(Option<MigrationStatus>, u64)> {
    let migrations = store.migrations()?;
    let completed =
        migrations.iter().filter(|m| m.phase == MigrationPhase::Completed.as_u8()).count() as u64;
    let Some(last) = migrations.last() else { return Ok((None, 0)) };
    let phase = last.migration_phase()?;
    let now = now_ms();
    let running = phase.is_running();
    let end = if running { now } else { last.finishedAtMs };
    let status = MigrationStatus {
        id: last.id,
        from: last.fromLayer,
        to: last.toLayer,
        phase: phase.as_str().into(),
        trigger: last.trigger.clone(),
        waiting_for: if running { waiting } else { None },
        drained_through: (phase != MigrationPhase::Draining && phase != MigrationPhase::Cancelled)
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
        cancelled_by: (phase == MigrationPhase::Cancelled).then(|| {
            if last.stepsDone & super::STEP_GIVEN_UP != 0 {
                "bridgehub"
            } else if last.stepsDone & super::STEP_TIMED_OUT != 0 {
                "timeout"
            } else {
                RPC_TRIGGER
            }
            .into()
        }),
    };
    Ok((Some(status), completed))
}

fn already_running(record: &MigrationRecord) -> MigrationError {
    MigrationError::AlreadyRunning {
        id: record.id,
        from: record.fromLayer,
        to: record.toLayer,
        phase: record.migration_phase().map_or("running", MigrationPhase::as_str),
    }
}
