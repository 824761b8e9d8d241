//! How the settlement ExEx runs: [`Settlement::new`] builds the pipeline and the parts beside
//! it, [`Settlement::install`] puts the ExEx and its RPC into a host, and [`Settlement::run`]
//! runs the ingest loop with every other stage as a task under one supervisor.

use std::{path::PathBuf, sync::Arc, time::Duration};

use alloy::{primitives::U256, providers::Provider as _};

use exex_host::{ExExContext, HostBuilder};
use futures::FutureExt as _;
use gateway_prover::ProofBackend;
use gateway_store::Store;
use jsonrpsee::RpcModule;
use tokio_util::sync::CancellationToken;
use tracing::warn;

use crate::{
    config::SettlementConfig,
    error::{SettlementError, SettlementResult},
    finality::Finality,
    gateway::Gateway,
    handle::Settlement,
    ingest::{SETTLEMENT_EXEX_ID, run_exex},
    interop::Interop,
    migration::MigrationRunner,
    state::Pipeline,
    supervisor::{Supervisor, TaskFailure},
    support::within,
};

/// How long the tasks may take to end once the host stops, before they are aborted.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// How often the gauges are refreshed.
const METRICS_INTERVAL: Duration = Duration::from_secs(2);

impl Settlement {
    /// A settlement service over `store` proving with `backend`. In gateway mode, a Gateway
    /// batch carries at most as many chain batches as one aggregation holds beside the
    /// Gateway's own leaf, unless configured lower.
    ///
    /// # Errors
    /// A configured feature (interop, runtime migration) whose settings cannot be built: the
    /// node must not start with a feature it was asked for silently switched off.
    pub fn new(
        mut config: SettlementConfig,
        store: Arc<Store>,
        backend: Arc<dyn ProofBackend>,
    ) -> SettlementResult<Self> {
        if let Some(mode) = &mut config.gateway
            && let Some(max) = backend.max_aggregated()
        {
            let fits = max.saturating_sub(1).max(1);
            mode.max_chain_batches = Some(mode.max_chain_batches.map_or(fits, |m| m.min(fits)));
        }
        let config = Arc::new(config);
        let pipeline = Arc::new(Pipeline::new(Arc::clone(&config), store, backend));
        let interop = Interop::new(&config)
            .map_err(|source| SettlementError::Feature {
                feature: "interop",
                source: Box::new(source),
            })?
            .map(Arc::new);
        let migration = match config.migration.clone() {
            Some(migration) => Some(Arc::new(
                MigrationRunner::new(Arc::clone(&pipeline), migration, interop.clone()).map_err(
                    |source| SettlementError::Feature {
                        feature: "runtime migration",
                        source: Box::new(source),
                    },
                )?,
            )),
            None => None,
        };
        Ok(Self {
            gateway: config.gateway.clone().map(|mode| Arc::new(Gateway::new(mode))),
            finality: config.l1_finality.clone().map(|source| Arc::new(Finality::new(source))),
            pipeline,
            migration,
            interop,
        })
    }

    /// Installs the ExEx and its RPC namespace into a host: the reads on its `--http` server,
    /// the admin methods on its authenticated listener only.
    pub fn install(self, builder: HostBuilder) -> HostBuilder {
        let (reads, admin) = (self.rpc_module(), self.admin_rpc_module());
        builder
            .extend_rpc_modules(move |ctx| {
                ctx.modules.merge(reads)?;
                ctx.auth_modules.merge(admin)?;
                Ok(())
            })
            .install_exex(SETTLEMENT_EXEX_ID, move |ctx| async move { Ok(self.run(ctx)) })
    }

    /// The settlement ExEx's read JSON-RPC methods, safe to serve to anyone who can reach the
    /// node: `settlement_status` and `interop_getMessageProof`.
    pub fn rpc_module(&self) -> RpcModule<()> {
        crate::rpc::read_module(self)
    }

    /// The settlement ExEx's admin JSON-RPC methods, which change its state: serve them only
    /// behind authentication (the host's `RpcContext::auth_modules`): `settlement_pause`,
    /// `settlement_resume`, `settlement_migrate` and `settlement_cancel_migration`.
    pub fn admin_rpc_module(&self) -> RpcModule<()> {
        crate::rpc::admin_module(self)
    }

    /// A store that holds nothing yet (a new datadir) settles the chain from block 1; on a
    /// chain whose settlement layer already holds committed batches that would seal them again
    /// over other block ranges and take the layer's counters for its own. Refused, naming both.
    async fn refuse_a_fresh_store_of_a_settled_chain(&self) -> eyre::Result<()> {
        let store = &self.pipeline.store;
        // Gateway mode settles on the Gateway's L1 executor, which keeps other counters.
        if self.pipeline.config.gateway.is_some()
            || store.head(SETTLEMENT_EXEX_ID)?.is_some()
            || store.last_batch()?.is_some()
        {
            return Ok(());
        }
        let config = self.pipeline.active_config();
        let counters = crate::send::layer_counters(&config.layer, config.tx_timeout)
            .await
            .map_err(|e| {
                eyre::eyre!(
                    "a new settlement store must first check that settlement layer {} holds no batch of chain {}: {e}",
                    config.layer.chain_id,
                    config.chain_id
                )
            })?;
        if counters.committed > 0 {
            return Err(eyre::eyre!(
                "settlement layer {} already holds {} committed batches of chain {} ({} executed), but this node's settlement store ({}) is new: a new datadir cannot take over a chain's settlement; restore <datadir>/settlement from this node's backup",
                config.layer.chain_id,
                counters.committed,
                config.chain_id,
                counters.executed,
                store.path().display()
            ));
        }
        Ok(())
    }

    /// Runs the ExEx until the host stops: the ingest loop here, and beside it, each a task
    /// under one supervisor, the seal, prove and send stages, the metrics, and (when
    /// configured) L1 finality, migrations and interop root imports. A task that panics, fails
    /// or ends early stops the ExEx with an error naming it, and with it the host.
    pub async fn run(self, ctx: ExExContext) -> eyre::Result<()> {
        let shutdown = ctx.components.shutdown.clone();
        if let Some(migration) = &self.migration {
            // Before the sender starts: it starts on the layer the Bridgehub names.
            migration.reconcile_once().await;
        }
        crate::metrics::describe();
        self.refuse_a_fresh_store_of_a_settled_chain().await?;
        let pipeline = &self.pipeline;
        let mut supervisor = Supervisor::new(shutdown.clone());
        supervisor
            .spawn("metrics", metrics_loop(self.clone(), ctx.config.wal_dir(), shutdown.clone()));
        supervisor.spawn(
            "batcher",
            crate::seal::run(Arc::clone(pipeline), self.gateway.clone(), shutdown.clone()),
        );
        supervisor.spawn(
            "prover",
            crate::prove::run(Arc::clone(pipeline), self.gateway.clone(), shutdown.clone()),
        );
        if let Some(gateway) = &self.gateway
            && crate::gateway::groups::group_size(pipeline.backend.as_ref()).is_some()
        {
            supervisor.spawn(
                "groups-ahead",
                crate::gateway::groups::run(
                    Arc::clone(pipeline),
                    Arc::clone(gateway),
                    shutdown.clone(),
                ),
            );
        }
        if let Some(finality) = &self.finality {
            supervisor.spawn(
                "finality",
                Arc::clone(finality).run(Arc::clone(pipeline), shutdown.clone()),
            );
        }
        if let Some(migration) = &self.migration {
            supervisor.spawn("migration", Arc::clone(migration).run(shutdown.clone()));
        }
        if let Some(interop) = &self.interop {
            supervisor.spawn(
                "interop",
                Arc::clone(interop).run_imports(Arc::clone(pipeline), shutdown.clone()),
            );
        }
        supervisor.spawn(
            "sender",
            crate::send::run(Arc::clone(pipeline), self.gateway.clone(), shutdown.clone()),
        );
        if let Some(inbox) = pipeline.config.inbox.clone() {
            supervisor.spawn(
                "priority",
                crate::priority::run(Arc::clone(pipeline), inbox, shutdown.clone()),
            );
        }
        // The ingest loop is the ExEx future itself; a panic in it stops the ExEx too.
        let ingest = std::panic::AssertUnwindSafe(run_exex(
            ctx,
            Arc::clone(&pipeline.config),
            Arc::clone(&pipeline.store),
            Arc::clone(&pipeline.wakes.seal),
        ))
        .catch_unwind();
        let result = tokio::select! {
            ingested = ingest => match ingested {
                Ok(result) => result,
                Err(payload) => Err(eyre::Report::new(TaskFailure::panicked("ingest", &*payload))),
            },
            failure = supervisor.failure() => return Err(eyre::Report::new(failure)),
            // The host stops: the tasks see the same token and end. An ExEx that returns is
            // an error to its host, so this one then waits to be aborted, as ExExs do.
            () = shutdown.cancelled() => {
                supervisor.stop(SHUTDOWN_GRACE).await;
                return std::future::pending().await;
            }
        };
        let grace = if result.is_ok() { SHUTDOWN_GRACE } else { Duration::ZERO };
        supervisor.stop(grace).await;
        result
    }
}

/// Refreshes the gauges from the status, and the size of the host's WAL (`wal_dir`), every
/// [`METRICS_INTERVAL`].
async fn metrics_loop(
    settlement: Settlement,
    wal_dir: PathBuf,
    shutdown: CancellationToken,
) -> SettlementResult<()> {
    let mut balances_read: Option<(std::time::Instant, bool)> = None;
    loop {
        match settlement.status() {
            Ok(status) => crate::metrics::record_status(&status),
            Err(err) => warn!(target: "settlement", %err, "status for metrics failed"),
        }
        let pipeline = &settlement.pipeline;
        let nonce = pipeline.store.in_flight().ok().flatten().map(|tx| tx.nonce);
        metrics::gauge!("settlement_pending_tx_age_seconds")
            .set(pipeline.observer.in_flight_age(nonce).as_secs_f64());
        // Every BALANCE_INTERVAL, and as soon as the first cost per batch is known.
        let cost_known =
            pipeline.observer.cost_per_batch(pipeline.active_config().layer.chain_id).is_some();
        if balances_read
            .is_none_or(|(at, known)| at.elapsed() >= BALANCE_INTERVAL || known != cost_known)
        {
            balances_read = Some((std::time::Instant::now(), cost_known));
            record_balances(pipeline).await;
            record_gateway_fees(pipeline).await;
        } else if pipeline.observer.gateway_fees().is_none() {
            // Until the first read succeeds, every tick (it shows in the status at once).
            record_gateway_fees(pipeline).await;
        }
        let (files, bytes) = crate::metrics::dir_size(&wal_dir);
        metrics::gauge!("settlement_wal_files").set(files as f64);
        metrics::gauge!("settlement_wal_bytes").set(bytes as f64);
        tokio::select! {
            () = shutdown.cancelled() => return Ok(()),
            () = tokio::time::sleep(METRICS_INTERVAL) => {}
        }
    }
}

/// How often the operator's balances are read.
const BALANCE_INTERVAL: Duration = Duration::from_secs(15);

/// Gateway mode with `--gateway.fee-vault`: reads the vault (price, announced price, fees
/// collected) for the status and `gateway_fees_collected_wei`. A failed read keeps the last one.
async fn record_gateway_fees(pipeline: &crate::state::Pipeline) {
    let Some(vault) = pipeline.config.gateway.as_ref().and_then(|g| g.fee_vault.clone()) else {
        return;
    };
    let timeout = Duration::from_secs(5);
    let provider = alloy::providers::ProviderBuilder::new().connect_http(vault.rpc_url.clone());
    let fees = gateway_contracts::GatewayFees::new(vault.address, &provider);
    let read = async {
        let price = within(timeout, "GatewayFees.price", fees.price().call()).await?;
        let next = within(timeout, "GatewayFees.nextPrice", fees.nextPrice().call()).await?;
        let from =
            within(timeout, "GatewayFees.nextPriceFrom", fees.nextPriceFrom().call()).await?;
        let collected =
            within(timeout, "GatewayFees.feesCollected", fees.feesCollected().call()).await?;
        let head = within(timeout, "the Gateway's head", provider.get_block_number()).await?;
        let pending = !from.is_zero() && from > U256::from(head);
        Ok::<_, SettlementError>(crate::status::GatewayFeesStatus {
            vault: vault.address,
            price_wei: price,
            next_price_wei: pending.then_some(next),
            next_price_from_block: pending.then(|| from.saturating_to()),
            collected_wei: collected,
        })
    };
    match read.await {
        Ok(status) => pipeline.observer.set_gateway_fees(status),
        Err(err) => {
            warn!(target: "settlement", %err, vault = %vault.address, "reading the Gateway's fee vault failed")
        }
    }
}

/// The operator's balance on each layer it knows (the one it settles on, and with runtime
/// migration the other), with the batches it still pays for at the recent cost per batch.
async fn record_balances(pipeline: &crate::state::Pipeline) {
    let active = pipeline.active_config();
    let Ok(signer) = active.operator_key.signer("operator") else { return };
    let operator = signer.address();
    let mut layers = vec![(active.layer.clone(), None)];
    if let Some(migration) = &pipeline.config.migration {
        layers =
            vec![(migration.l1.clone(), Some("l1")), (migration.gateway.clone(), Some("gateway"))];
    }
    for (layer, kind) in layers {
        // Without migration: the Gateway's own node and any chain with one layer; a layer
        // that is L1 is the one a Gateway-mode node settles on.
        let kind = kind.unwrap_or(if pipeline.config.gateway.is_some() {
            "l1"
        } else {
            "settlement_layer"
        });
        if let Some(balance) =
            crate::observe::balance_of(&layer.rpc_url, operator, Duration::from_secs(5)).await
        {
            // Each layer's batches at that layer's own recent cost.
            let cost = pipeline.observer.cost_per_batch(layer.chain_id);
            crate::observe::record_balance(kind, balance, cost);
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use crate::config::{
        InteropConfig, MessageRootSource, MigrationConfig, OperatorKey, offline_config,
    };

    /// Anvil's first public dev key: a key that parses.
    const KEY: &str = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";

    fn build(config: SettlementConfig) -> SettlementResult<Settlement> {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(Store::open(dir.path()).unwrap());
        Settlement::new(config, store, Arc::new(gateway_prover::MockBackend::default()))
    }

    #[test]
    fn a_feature_that_cannot_be_built_stops_the_start_instead_of_switching_off() {
        let mut config = offline_config();
        config.operator_key = OperatorKey::new(KEY);
        assert!(build(config.clone()).is_ok(), "no feature configured");

        let mut migration = config.clone();
        migration.migration = Some(MigrationConfig {
            l1: config.layer.clone(),
            gateway: config.layer.clone(),
            bridgehub: Default::default(),
            admin_key: None,
            relayer_key: Some(OperatorKey::new("0xnot-a-key")),
            start_on: None,
        });
        let err = build(migration).expect_err("a bad relayer key is refused");
        assert!(matches!(err, SettlementError::Feature { feature: "runtime migration", .. }));
        assert!(err.to_string().contains("relayer"), "{err}");

        let source = MessageRootSource {
            chain_id: 506,
            rpc_url: config.layer.rpc_url.clone(),
            message_root: Default::default(),
        };
        let mut interop = config;
        interop.interop = Some(InteropConfig {
            chain_rpc_url: interop.layer.rpc_url.clone(),
            interop_roots: Default::default(),
            importer_key: OperatorKey::new("junk"),
            gateway: source.clone(),
            l1: source,
            gateway_executor_on_l1: Default::default(),

            root_confirmations: crate::config::DEFAULT_ROOT_CONFIRMATIONS,
        });
        let err = build(interop).expect_err("a bad importer key is refused");
        assert!(matches!(err, SettlementError::Feature { feature: "interop", .. }));
        assert!(err.to_string().contains("importer"), "{err}");
    }
}

#[cfg(test)]
mod rpc_params {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use serde_json::{Value, json};

    use super::*;
    use crate::config::{OperatorKey, offline_config};

    /// The JSON-RPC error code and message of `method(params)` on `module`.
    async fn refusal(module: &RpcModule<()>, method: &str, params: Value) -> (i64, String) {
        let request = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
        let (answer, _) = module.raw_json_request(&request.to_string(), 1).await.unwrap();
        let answer: Value = serde_json::from_str(answer.get()).unwrap();
        let error =
            answer.get("error").unwrap_or_else(|| panic!("{method}({params}) answered {answer}"));
        (error["code"].as_i64().unwrap(), error["message"].as_str().unwrap().to_string())
    }

    #[tokio::test]
    async fn every_method_refuses_params_it_does_not_take_naming_them() {
        let mut config = offline_config();
        config.operator_key =
            OperatorKey::new("0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80");
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(Store::open(dir.path()).unwrap());
        let settlement =
            Settlement::new(config, store, Arc::new(gateway_prover::MockBackend::default()))
                .unwrap();
        let (reads, admin) = (settlement.rpc_module(), settlement.admin_rpc_module());
        for method in [
            "settlement_pause",
            "settlement_resume",
            "settlement_cancel_migration",
            "settlement_clear_halt",
        ] {
            let (code, message) = refusal(&admin, method, json!(["junk"])).await;
            assert_eq!(code, -32602, "{method}");
            assert!(message.contains(method) && message.contains("junk"), "{message}");
        }
        let (code, message) = refusal(&reads, "settlement_status", json!({"verbose": true})).await;
        assert_eq!(code, -32602);
        assert!(message.contains("verbose"), "{message}");
        let (code, message) =
            refusal(&admin, "settlement_migrate", json!([{"to": "l1", "force": true}])).await;
        assert_eq!(code, -32602);
        assert!(message.contains("force") && !message.contains("ErrorObject"), "{message}");
        let (code, _) = refusal(&admin, "settlement_migrate", json!([{"to": "l1"}, 1])).await;
        assert_eq!(code, -32602);
        let (code, message) =
            refusal(&admin, "settlement_gatewayHoldBackChain", json!([270, "why", 1])).await;
        assert_eq!(code, -32602);
        assert!(message.contains("(chainId, reason)"), "{message}");
        let (code, message) =
            refusal(&admin, "settlement_gatewayRestoreChain", json!(["junk"])).await;
        assert_eq!(code, -32602);
        assert!(message.contains("(chainId)"), "{message}");
        // Outside gateway mode both are refused, naming why.
        let (code, message) = refusal(&admin, "settlement_gatewayRestoreChain", json!([270])).await;
        assert_eq!(code, -32000);
        assert!(message.contains("gateway mode is off"), "{message}");
        let hash = format!("0x{}", "11".repeat(32));
        let (code, message) = refusal(
            &reads,
            "interop_getMessageProof",
            json!([hash, 0, "interop", 5, null, "junk"]),
        )
        .await;
        assert_eq!(code, -32602);
        assert!(message.contains("6 parameters"), "{message}");
        let (code, message) = refusal(&reads, "interop_getMessageProof", json!(["0x12", 0])).await;
        assert_eq!(code, -32602);
        assert!(message.contains("txHash") && !message.contains("ErrorObject"), "{message}");
        // No admin method is among the reads.
        for method in [
            "settlement_pause",
            "settlement_resume",
            "settlement_migrate",
            "settlement_cancel_migration",
            "settlement_clear_halt",
            "settlement_gatewayHoldBackChain",
            "settlement_gatewayRestoreChain",
        ] {
            assert!(reads.method(method).is_none(), "{method} is served with the reads");
            assert!(admin.method(method).is_some());
        }
    }
}
