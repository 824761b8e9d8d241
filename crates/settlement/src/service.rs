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
use gateway_store::{BatchStage, Store};
use jsonrpsee::{RpcModule, types::ErrorObjectOwned};
use serde::Serialize;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

use crate::{
    OnChainCounters, SETTLEMENT_EXEX_ID, SenderAction, SettlementConfig, SettlementResult,
    batcher::seal_ready_batches,
    exex::run_exex,
    prover::{drop_foreign_proofs, prove_ready},
    sender::Sender,
};

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
    last_error: Mutex<Option<String>>,
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
}

impl Settlement {
    /// A settlement service over `store` proving with `backend`.
    pub fn new(
        config: SettlementConfig,
        store: Arc<Store>,
        backend: Arc<dyn ProofBackend>,
    ) -> Self {
        Self {
            config: Arc::new(config),
            store,
            backend,
            shared: Arc::default(),
            batcher_wake: Arc::default(),
            prover_wake: Arc::default(),
            sender_wake: Arc::default(),
        }
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
        Ok(SettlementStatus {
            chain_id: self.config.chain_id,
            settlement_layer: self.config.layer.chain_id,
            phase: if paused { "paused" } else { "settling" }.into(),
            chain_head: head,
            last_sealed_batch: last.as_ref().map(|b| b.number),
            last_proved_batch: last_proved,
            on_chain,
            unbatched_blocks: head
                .unwrap_or_default()
                .saturating_sub(last.map(|b| b.last_block).unwrap_or_default()),
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
        debug_assert!(status && pause && resume);
        module
    }

    /// Runs the ExEx, with the batcher, prover and sender beside it, until the host stops.
    pub async fn run(self, ctx: ExExContext) -> eyre::Result<()> {
        let shutdown = ctx.components.shutdown.clone();
        let sender = Sender::new(
            Arc::clone(&self.config),
            Arc::clone(&self.store),
            Arc::clone(&self.backend),
        )?;
        crate::metrics::describe();
        tokio::spawn(self.clone().metrics_loop(shutdown.clone()));
        tokio::spawn(self.clone().batcher_loop(shutdown.clone()));
        // The backend may be shared with other hosts of the process: its owner cancels it
        // (`ProofBackend::cancel`) when the process stops; this host only stops starting jobs.
        tokio::spawn(self.clone().prover_loop(shutdown.clone()));
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

    /// Refreshes the gauges from the status every [`METRICS_INTERVAL`].
    async fn metrics_loop(self, shutdown: CancellationToken) {
        loop {
            match self.status() {
                Ok(status) => crate::metrics::record_status(&status),
                Err(err) => warn!(target: "settlement", %err, "status for metrics failed"),
            }
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(METRICS_INTERVAL) => {}
            }
        }
    }

    async fn batcher_loop(self, shutdown: CancellationToken) {
        loop {
            let result = seal_ready_batches(&self.store, &self.config);
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
        let check = drop_foreign_proofs(&self.store, &self.config, &self.backend, 0);
        self.record("prover", &check);
        loop {
            let executed = lock(&self.shared.counters).executed;
            let result = prove_ready(&self.store, &self.config, &self.backend, executed).await;
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

    async fn sender_loop(self, sender: Sender, shutdown: CancellationToken) {
        loop {
            let result = async {
                let counters = sender.counters().await?;
                *lock(&self.shared.counters) = counters;
                sender.sync_stages(counters)?;
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
