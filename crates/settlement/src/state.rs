//! What the pipeline's stages share: the store and proof backend, the configuration for the
//! layer the chain settles on now, the executor's counters as last read, the pause switch, the
//! last error, and the `Notify` each stage is woken by.

use std::{
    collections::BTreeMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use gateway_prover::ProofBackend;
use gateway_store::{MigrationRecord, Store};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tracing::warn;

use crate::{
    config::SettlementConfig, error::SettlementResult, status::OnChainCounters, support::lock,
};

/// How often the seal and prove stages look again without being woken (for timeouts).
pub(crate) const IDLE_TICK: Duration = Duration::from_millis(500);

/// The `Notify` that wakes each stage when the one before it wrote something.
#[derive(Debug, Default)]
pub(crate) struct Wakes {
    /// The seal stage: a block was stored, a migration ended.
    pub(crate) seal: Arc<Notify>,
    /// The prove stage: a batch was sealed.
    pub(crate) prove: Arc<Notify>,
    /// The send stage: a batch was proved, sending was resumed, a migration started or ended.
    pub(crate) send: Arc<Notify>,
}

/// The state every stage reads and writes (behind an `Arc`).
#[derive(Debug)]
pub(crate) struct Pipeline {
    /// The configuration as given (for the layer the node started on).
    pub(crate) config: Arc<SettlementConfig>,
    /// The settlement store.
    pub(crate) store: Arc<Store>,
    /// Proves batches.
    pub(crate) backend: Arc<dyn ProofBackend>,
    /// The stages' wake-ups.
    pub(crate) wakes: Wakes,
    /// The configuration for the layer the chain settles on now, once it differs from the
    /// configured one (after a migration).
    active: Mutex<Option<Arc<SettlementConfig>>>,
    paused: AtomicBool,
    /// The active executor's counters, as the send stage last read them.
    counters: Mutex<OnChainCounters>,
    /// The last counters read of the chain's executor on each settlement layer (chain id).
    layer_counters: Mutex<BTreeMap<u64, OnChainCounters>>,
    last_error: Mutex<Option<String>>,
    /// A chain on the Gateway: its highest batch L1 holds final, as the finality task last
    /// read it.
    l1_final: Mutex<Option<u64>>,
    /// Stage clocks, gas and cost meters.
    pub(crate) observer: Arc<crate::observe::Observer>,
    /// The chain's priority queue on its settlement layer, as the relayer task last read it.
    pub(crate) priority: Mutex<Option<crate::status::PriorityStatus>>,
}

impl Pipeline {
    /// The shared state of a pipeline over `store`, proving with `backend`.
    pub(crate) fn new(
        config: Arc<SettlementConfig>,
        store: Arc<Store>,
        backend: Arc<dyn ProofBackend>,
    ) -> Self {
        Self {
            config,
            store,
            backend,
            wakes: Wakes::default(),
            active: Mutex::default(),
            paused: AtomicBool::new(false),
            counters: Mutex::default(),
            layer_counters: Mutex::default(),
            last_error: Mutex::default(),
            l1_final: Mutex::default(),
            observer: Arc::default(),
            priority: Mutex::default(),
        }
    }

    /// The configuration for the layer the chain settles on now.
    pub(crate) fn active_config(&self) -> Arc<SettlementConfig> {
        lock(&self.active).clone().unwrap_or_else(|| Arc::clone(&self.config))
    }

    /// Settles with `config` from now on, and wakes the seal and send stages.
    pub(crate) fn set_active(&self, config: SettlementConfig) {
        *lock(&self.active) = Some(Arc::new(config));
        self.wakes.seal.notify_one();
        self.wakes.send.notify_one();
    }

    /// True while sending is paused.
    pub(crate) fn paused(&self) -> bool {
        self.paused.load(Ordering::Relaxed)
    }

    /// Pauses or resumes sending.
    pub(crate) fn set_paused(&self, paused: bool) {
        self.paused.store(paused, Ordering::Relaxed);
        if !paused {
            self.wakes.send.notify_one();
        }
    }

    /// The active executor's counters, as last read.
    pub(crate) fn counters(&self) -> OnChainCounters {
        *lock(&self.counters)
    }

    /// Records the counters read of the executor on layer `layer`; `active` when the chain
    /// settles there now.
    pub(crate) fn set_counters(&self, layer: u64, counters: OnChainCounters, active: bool) {
        if active {
            *lock(&self.counters) = counters;
        }
        lock(&self.layer_counters).insert(layer, counters);
    }

    /// Forgets what was read of layer `layer` (it is read again, once).
    pub(crate) fn forget_counters(&self, layer: u64) {
        lock(&self.layer_counters).remove(&layer);
    }

    /// The counters last read on each layer.
    pub(crate) fn layer_counters(&self) -> BTreeMap<u64, OnChainCounters> {
        lock(&self.layer_counters).clone()
    }

    /// The last error of any task, if its last attempt failed.
    pub(crate) fn last_error(&self) -> Option<String> {
        lock(&self.last_error).clone()
    }

    /// Sets the last error; `task` names who failed.
    pub(crate) fn set_error(&self, task: &str, err: &dyn std::fmt::Display) {
        *lock(&self.last_error) = Some(format!("{task}: {err}"));
    }

    /// Clears the last error (all of it, or only `task`'s).
    pub(crate) fn clear_error(&self, task: Option<&str>) {
        let mut last = lock(&self.last_error);
        if task.is_none_or(|task| {
            last.as_deref().is_some_and(|e| e.starts_with(task) && e[task.len()..].starts_with(':'))
        }) {
            *last = None;
        }
    }

    /// Logs, counts and shows a failed step of `task` (it is retried).
    pub(crate) fn record<T>(&self, task: &'static str, result: &SettlementResult<T>) {
        if let Err(err) = result {
            warn!(target: "settlement", task, %err, "step failed; retrying");
            metrics::counter!("settlement_errors_total", "task" => task).increment(1);
            self.set_error(task, err);
        }
    }

    /// Records what L1 holds final of a chain on the Gateway.
    pub(crate) fn set_l1_final(&self, through: u64) {
        *lock(&self.l1_final) = Some(through);
    }

    /// What L1 holds final, given the `executed` counter of the executor the send stage just
    /// read; `None` when this node cannot tell (a chain that knows neither which of its layers
    /// is L1 nor what L1 says of its Gateway batches).
    pub(crate) fn l1_finality(&self, executed: u64) -> Option<L1Final> {
        let config = &self.config;
        let via_gateway = *lock(&self.l1_final);
        if config.gateway.is_some() {
            // The Gateway's own node settles on L1.
            return Some(L1Final {
                executed,
                l1_chain_id: None,
                via_gateway: None,
                all_on_l1: true,
            });
        }
        if let Some(migration) = &config.migration {
            return Some(L1Final {
                executed,
                l1_chain_id: Some(migration.l1.chain_id),
                via_gateway,
                all_on_l1: false,
            });
        }
        config.l1_finality.as_ref()?;
        Some(L1Final { executed, l1_chain_id: None, via_gateway, all_on_l1: false })
    }

    /// The running migration, if any.
    pub(crate) fn running_migration(&self) -> SettlementResult<Option<MigrationRecord>> {
        Ok(self
            .store
            .last_migration()?
            .filter(|m| m.migration_phase().is_ok_and(|p| p.is_running())))
    }
}

/// What L1 holds final of the chain's batches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct L1Final {
    /// The executed counter of the executor the send stage reads.
    executed: u64,
    /// L1's chain id, when the node knows both layers.
    l1_chain_id: Option<u64>,
    /// For batches settled on the Gateway: the highest one L1 holds final (the Gateway batch
    /// carrying it is executed on L1), once read.
    via_gateway: Option<u64>,
    /// Every batch settles on L1 (the Gateway's own node).
    all_on_l1: bool,
}

impl L1Final {
    /// Every batch settles on L1, executed through `executed` (tests).
    #[cfg(test)]
    pub(crate) const fn on_l1(executed: u64) -> Self {
        Self { executed, l1_chain_id: None, via_gateway: None, all_on_l1: true }
    }

    /// True when `batch` is L1-final with `margin` more batches final above it: executed on
    /// L1 (a batch built for L1 at or below the executed counter: a drain executes every batch
    /// on the layer it leaves), or carried to L1 by a settled Gateway batch (a batch built for
    /// the Gateway).
    pub(crate) fn holds(&self, batch: &gateway_store::BatchRecord, margin: u64) -> bool {
        self.holds_number(batch.number, batch.sl_chain_id, margin)
    }

    /// [`Self::holds`] for batch `number` built for `sl_chain_id`.
    pub(crate) fn holds_number(&self, number: u64, sl_chain_id: u64, margin: u64) -> bool {
        let on_l1 = self.all_on_l1 || Some(sl_chain_id) == self.l1_chain_id;
        let through = if on_l1 { Some(self.executed) } else { self.via_gateway };
        through.is_some_and(|through| number.saturating_add(margin) <= through)
    }
}

/// Waits for a wake-up or `tick`; true when the host is shutting down.
pub(crate) async fn wait(shutdown: &CancellationToken, wake: &Notify, tick: Duration) -> bool {
    tokio::select! {
        () = shutdown.cancelled() => true,
        () = wake.notified() => false,
        () = tokio::time::sleep(tick) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{GatewayMode, LayerKind, MigrationConfig, offline_config};

    fn pipeline(config: SettlementConfig) -> (tempfile::TempDir, Pipeline) {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(Store::open(dir.path()).unwrap());
        let backend = Arc::new(gateway_prover::MockBackend::default());
        (dir, Pipeline::new(Arc::new(config), store, backend))
    }

    #[test]
    fn only_what_l1_holds_final_counts_as_final() {
        let batch = |number, sl_chain_id| gateway_store::BatchRecord {
            number,
            first_block: number,
            last_block: number,
            sl_chain_id,
            stage: gateway_store::BatchStage::Executed,
            commit_info: Vec::new(),
            proof: Vec::new(),
        };
        // Unknown layer, no finality source: the node cannot tell.
        let (_dir, unknown) = pipeline(offline_config());
        assert_eq!(unknown.l1_finality(5), None);

        // The Gateway's own node settles on L1: executed is final.
        let mut gateway = offline_config();
        gateway.gateway = Some(GatewayMode::new(Default::default()));
        let view = pipeline(gateway).1.l1_finality(5).unwrap();
        assert!(view.holds(&batch(5, 31337), 0) && !view.holds(&batch(6, 31337), 0));

        // A chain that knows both layers (L1 31337, the Gateway 506): its batches built for L1
        // are final once executed; those built for the Gateway only once L1's GatewayExecutor
        // holds them final, whatever the executed counter says (after a migration back to L1
        // it is L1's, and counts the Gateway's batches as executed).
        let mut chain = offline_config();
        let mut l1 = chain.layer.clone();
        l1.chain_id = 31337;
        chain.migration = Some(MigrationConfig {
            l1,
            gateway: chain.layer.clone(),
            bridgehub: Default::default(),
            admin_key: None,
            relayer_key: None,
            start_on: Some(LayerKind::Gateway),
        });
        let (_dir, node) = pipeline(chain);
        let view = node.l1_finality(9).unwrap();
        assert!(view.holds(&batch(9, 31337), 0), "built for L1 and executed");
        assert!(!view.holds(&batch(9, 31337), 1), "one more executed batch is kept");
        assert!(!view.holds(&batch(3, 506), 0), "executed on the Gateway is not L1-final");
        node.set_l1_final(3);
        let view = node.l1_finality(9).unwrap();
        assert!(view.holds(&batch(3, 506), 0) && !view.holds(&batch(4, 506), 0));
    }
}
