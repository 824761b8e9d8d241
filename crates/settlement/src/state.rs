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

    /// The highest batch L1 holds final, given the active executor's `executed` counter:
    /// `executed` itself on L1 (the Gateway's own node settles there; a chain's node knows its
    /// layer from the migration settings); for a chain on the Gateway what L1's
    /// `GatewayExecutor` said, if it is read. `None` when unknown.
    pub(crate) fn l1_final_through(&self, executed: u64) -> Option<u64> {
        let config = &self.config;
        if config.gateway.is_some() {
            return Some(executed);
        }
        let layer = self.active_config().layer.chain_id;
        let on_l1 = config.migration.as_ref().and_then(|m| m.kind_of(layer))
            == Some(crate::config::LayerKind::L1);
        if on_l1 {
            return Some(executed);
        }
        (*lock(&self.l1_final)).map(|through| through.min(executed))
    }

    /// The running migration, if any.
    pub(crate) fn running_migration(&self) -> SettlementResult<Option<MigrationRecord>> {
        Ok(self
            .store
            .last_migration()?
            .filter(|m| m.migration_phase().is_ok_and(|p| p.is_running())))
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
        // Unknown layer, no finality read: nothing is final.
        let (_dir, unknown) = pipeline(offline_config());
        assert_eq!(unknown.l1_final_through(5), None);

        // The Gateway's own node settles on L1.
        let mut gateway = offline_config();
        gateway.gateway = Some(GatewayMode::new(Default::default()));
        assert_eq!(pipeline(gateway).1.l1_final_through(5), Some(5));

        // A chain that knows both layers: on L1 executed is final; on the Gateway only what
        // L1's GatewayExecutor said, never above executed.
        let mut chain = offline_config();
        let mut l1 = chain.layer.clone();
        l1.chain_id = 31337;
        chain.migration = Some(MigrationConfig {
            l1: l1.clone(),
            gateway: chain.layer.clone(),
            bridgehub: Default::default(),
            admin_key: None,
            relayer_key: None,
            start_on: Some(LayerKind::Gateway),
        });
        let (_dir, on_gateway) = pipeline(chain.clone());
        assert_eq!(on_gateway.l1_final_through(5), None, "executed on the Gateway is not final");
        on_gateway.set_l1_final(3);
        assert_eq!(on_gateway.l1_final_through(5), Some(3));
        assert_eq!(on_gateway.l1_final_through(2), Some(2));
        on_gateway.set_active(chain.on_layer(l1, 31337));
        assert_eq!(on_gateway.l1_final_through(5), Some(5), "on L1 executed is final");
    }
}
