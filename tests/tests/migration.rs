//! Switching the settlement layer at runtime on a real devnet (mock proofs): a chain with traffic
//! migrates L1 → Gateway → L1 → Gateway in-process, and every refusal changes nothing.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use e2e_tests::fixtures::devnet_of;
use std::{
    collections::BTreeMap,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use alloy::{
    primitives::{Address, U256},
    providers::{Provider, ProviderBuilder},
    sol_types::SolEvent,
};
use devnet::{ChainTopology, Devnet, InitialSettlement, Topology, Traffic, signer_provider};
use e2e_tests::fixtures::{Mined, gateway_config, start_host, start_settlement};
use exex_host::HostHandle;
use gateway_contracts::{Bridgehub, ChainExecutor};
use gateway_settlement::{
    BatchLimits, LayerKind, MigrationConfig, MigrationError, OperatorKey, Settlement,
    SettlementConfig, SettlementLayerEndpoint, commitment::decode_commit_info,
};
use gateway_store::{BatchStage, Store};
use jsonrpsee::{
    core::client::ClientT,
    http_client::{HttpClient, HttpClientBuilder},
    rpc_params,
};
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(120);

use e2e_tests::fixtures::init_tracing;

fn endpoint(node: &devnet::NodeTopology, executor: Address) -> SettlementLayerEndpoint {
    SettlementLayerEndpoint { chain_id: node.chain_id, rpc_url: node.rpc_url.clone(), executor }
}

/// A chain that starts on L1 and may migrate; `relay`: the node relays to the Gateway itself.
fn config(topology: &Topology, chain: &ChainTopology, relay: bool) -> SettlementConfig {
    let mut config = SettlementConfig::new(
        chain.node.chain_id,
        chain.genesis.state_commitment,
        endpoint(&topology.l1.node, chain.l1_executor),
        OperatorKey::new(chain.operator_key.clone()),
    );
    config.limits =
        BatchLimits { max_blocks: 3, timeout: Duration::from_secs(1), ..Default::default() };
    config.poll_interval = Duration::from_millis(200);
    config.tx_timeout = Duration::from_secs(30);
    config.migration = Some(MigrationConfig {
        l1: endpoint(&topology.l1.node, chain.l1_executor),
        gateway: endpoint(&topology.gateway.node, chain.gateway_executor),
        bridgehub: topology.bridgehub,
        admin_key: None,
        relayer_key: relay.then(|| OperatorKey::new(topology.gateway.governance_key.clone())),
        start_on: None,
    });
    config
}

async fn start(config: SettlementConfig, chain: &ChainTopology, dir: &std::path::Path) -> Node {
    let (host, store, settlement) =
        start_settlement(config, &chain.node.rpc_url, dir).await.unwrap();
    let client = HttpClientBuilder::default()
        .request_timeout(Duration::from_secs(30))
        .build(format!("http://{}", host.rpc_addr().unwrap()))
        .unwrap();
    let admin = e2e_tests::fixtures::admin_client(&host, dir).unwrap();
    Node { host, store, client, admin, settlement }
}

struct Node {
    host: HostHandle,
    store: Arc<Store>,
    client: HttpClient,
    admin: exex_host::AdminClient,
    settlement: Settlement,
}

impl Node {
    async fn status(&self) -> Value {
        self.client.request("settlement_status", rpc_params![]).await.unwrap()
    }

    async fn migrate(&self, to: &str) -> Result<Value, String> {
        self.admin.call("settlement_migrate", serde_json::json!([{ "to": to }])).await.map_err(
            |e| match e {
                exex_host::auth::AdminCallError::Rpc { message, .. } => message,
                other => panic!("not a JSON-RPC error: {other}"),
            },
        )
    }

    /// Waits until `check` holds on the status.
    async fn wait(&self, what: &str, check: impl Fn(&Value) -> bool) -> Value {
        let last = std::sync::Mutex::new(Value::Null);
        tokio::time::timeout(WAIT, async {
            loop {
                let status = self.status().await;
                if check(&status) {
                    return status;
                }
                *last.lock().unwrap() = status;
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        })
        .await
        .unwrap_or_else(|_| {
            panic!("timed out waiting for {what}; last status {}", last.lock().unwrap())
        })
    }
}

/// Blocks with a few transactions each, until stopped.
fn steady_traffic(chain: &ChainTopology) -> (Arc<AtomicBool>, tokio::task::JoinHandle<()>) {
    let stop = Arc::new(AtomicBool::new(false));
    let traffic = Traffic::new(chain.node.rpc_url.clone(), &chain.operator_key).unwrap();
    let flag = Arc::clone(&stop);
    let task = tokio::spawn(async move {
        while !flag.load(Ordering::Relaxed) {
            traffic.blocks(1, 2).await.unwrap();
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    });
    (stop, task)
}

fn executed(status: &Value) -> u64 {
    status["onChain"]["executed"].as_u64().unwrap()
}

/// Migrates to `to` and waits until it is complete and two more batches are executed there.
async fn migrate_and_settle(node: &Node, to: &str, layer: u64, completed: u64) -> u64 {
    let started = std::time::Instant::now();
    let answer = node.migrate(to).await.unwrap();
    assert_eq!(answer["phase"], "draining");
    let id = answer["id"].as_u64().unwrap();
    assert_eq!(answer["to"], layer);
    let done = node
        .wait(&format!("migration {id} to {to}"), |s| {
            s["migrationsCompleted"] == completed && s["settlementLayer"] == layer
        })
        .await;
    assert_eq!(done["migration"]["id"], id);
    assert_eq!(done["migration"]["phase"], "completed");
    assert_eq!(done["phase"], "settling");
    let drained = done["migration"]["drainedThrough"].as_u64().unwrap();
    let settled = node.wait(&format!("batches on {to}"), |s| executed(s) >= drained + 2).await;
    println!(
        "migration {id} to {to}: {} ms to complete, first batch on {to} executed after {} ms; {} blocks meanwhile",
        done["migration"]["elapsedMs"],
        started.elapsed().as_millis(),
        done["migration"]["blocksMeanwhile"]
    );
    assert_eq!(settled["settlementLayer"], layer);
    drained
}

/// `BatchExecuted` batch numbers on `executor`.
async fn executed_batches(
    url: &alloy::transports::http::reqwest::Url,
    executor: Address,
) -> Vec<u64> {
    let provider = alloy::providers::ProviderBuilder::new().connect_http(url.clone());
    let filter = alloy::rpc::types::Filter::new()
        .address(executor)
        .event_signature(ChainExecutor::BatchExecuted::SIGNATURE_HASH)
        .from_block(0);
    provider
        .get_logs(&filter)
        .await
        .unwrap()
        .iter()
        .map(|log| ChainExecutor::BatchExecuted::decode_log(&log.inner).unwrap().batchNumber.to())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chain_migrates_to_the_gateway_back_to_l1_and_again_losing_and_repeating_nothing() {
    init_tracing();
    let devnet = devnet_of(vec![InitialSettlement::L1]).await.unwrap();
    let topology = devnet.topology.clone();
    let chain = topology.chains[0].clone();
    let (l1, gateway) = (topology.l1.node.chain_id, topology.gateway.node.chain_id);
    // The Gateway's own node settles the chain's Gateway batches on L1: L1 takes the chain back
    // only once its last batch there is L1-final.
    let gateway_dir = tempfile::tempdir().unwrap();
    let (gateway_host, _) =
        start_host(gateway_config(&topology), &topology.gateway.node.rpc_url, gateway_dir.path())
            .await
            .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut node = start(config(&topology, &chain, true), &chain, dir.path()).await;
    let (stop, traffic) = steady_traffic(&chain);
    node.wait("two batches executed on L1", |s| executed(s) >= 2).await;

    let mut drained = Vec::new();
    drained.push(migrate_and_settle(&node, "gateway", gateway, 1).await);
    drained.push(migrate_and_settle(&node, "l1", l1, 2).await);
    drained.push(migrate_and_settle(&node, "gateway", gateway, 3).await);
    stop.store(true, Ordering::Relaxed);
    traffic.await.unwrap();
    // Let everything sealed settle.
    let last = node.store.last_block().unwrap().unwrap().number;
    node.wait("every block settled", |s| {
        let sealed = s["lastSealedBatch"].as_u64().unwrap_or_default();
        s["unbatchedBlocks"] == 0 && executed(s) == sealed && s["chainHead"] == last
    })
    .await;
    let status = node.status().await;
    node.host.stop().await;
    gateway_host.shutdown_token().cancel();
    tokio::time::timeout(WAIT, gateway_host.wait_for_node_exit()).await.unwrap().unwrap();

    // Every block is in exactly one batch, batch numbers continue across the switches.
    let batches = node.store.batches(1..=u64::MAX).unwrap();
    let mut next_block = 1;
    for (i, batch) in batches.iter().enumerate() {
        assert_eq!(batch.number, i as u64 + 1);
        assert_eq!(batch.first_block, next_block, "batch {}", batch.number);
        next_block = batch.last_block + 1;
        assert_eq!(batch.stage, BatchStage::Executed);
    }
    assert_eq!(next_block, last + 1);
    // Each batch was built for, and executed on, exactly one layer: the one it was sealed
    // for, which changes exactly after each migration's last drained batch.
    let on_l1 = executed_batches(&topology.l1.node.rpc_url, chain.l1_executor).await;
    let on_gateway = executed_batches(&topology.gateway.node.rpc_url, chain.gateway_executor).await;
    let mut where_executed = BTreeMap::new();
    for (layer, numbers) in [(l1, &on_l1), (gateway, &on_gateway)] {
        for n in numbers {
            assert!(where_executed.insert(*n, layer).is_none(), "batch {n} executed twice");
        }
    }
    let expected_layer = |n: u64| match drained.iter().filter(|d| n > **d).count() {
        0 | 2 => l1,
        _ => gateway,
    };
    for batch in &batches {
        let layer = where_executed[&batch.number];
        assert_eq!(layer, batch.sl_chain_id, "batch {}", batch.number);
        assert_eq!(layer, expected_layer(batch.number), "batch {}", batch.number);
        assert_eq!(decode_commit_info(batch).unwrap().slChainId, U256::from(layer));
    }
    assert_eq!(where_executed.len(), batches.len());
    // The Bridgehub agrees: four intervals, each starting right after a drained batch.
    let provider = signer_provider(topology.l1.node.rpc_url.clone(), &chain.operator_key).unwrap();
    let bridgehub = Bridgehub::new(topology.bridgehub, &provider);
    let id = U256::from(chain.node.chain_id);
    assert_eq!(bridgehub.settlementLayer(id).call().await.unwrap(), U256::from(gateway));
    let mut starts = Vec::new();
    for i in 0..bridgehub.migrationCount().call().await.unwrap().to::<u64>() {
        let m = bridgehub.migrations(U256::from(i)).call().await.unwrap();
        if m.chainId == id {
            starts.push((m.settlementLayer.to::<u64>(), m.firstBatch.to::<u64>()));
        }
    }
    assert_eq!(
        starts,
        vec![(l1, 1), (gateway, drained[0] + 1), (l1, drained[1] + 1), (gateway, drained[2] + 1)]
    );
    // The executors' counters agree with the node.
    let gw_provider =
        signer_provider(topology.gateway.node.rpc_url.clone(), &chain.operator_key).unwrap();
    let on_gw = ChainExecutor::new(chain.gateway_executor, &gw_provider);
    let on_l1_executor = ChainExecutor::new(chain.l1_executor, &provider);
    assert_eq!(on_gw.totalBatchesExecuted().call().await.unwrap().to::<u64>(), executed(&status));
    assert_eq!(on_l1_executor.totalBatchesExecuted().call().await.unwrap().to::<u64>(), drained[2]);
    assert!(on_gw.active().call().await.unwrap());
    assert!(!on_l1_executor.active().call().await.unwrap());
    // The status shows both layers, with what each executor holds.
    let layers = status["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 2, "{status}");
    let (l1_status, gw_status) = (&layers[0], &layers[1]);
    assert_eq!((l1_status["chainId"].as_u64(), l1_status["kind"].as_str()), (Some(l1), Some("l1")));
    assert_eq!(l1_status["active"], false);
    assert_eq!(l1_status["onChain"]["executed"], drained[2]);
    assert_eq!(l1_status["onChain"]["committed"], drained[2]);
    assert_eq!(gw_status["chainId"], gateway);
    assert_eq!(gw_status["active"], true);
    assert_eq!(gw_status["onChain"]["executed"].as_u64(), Some(executed(&status)));
    assert_eq!(gw_status["lastSealedBatch"], status["lastSealedBatch"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_refusal_returns_its_error_and_changes_nothing() {
    init_tracing();
    let devnet = devnet_of(vec![InitialSettlement::L1]).await.unwrap();
    let topology = devnet.topology.clone();
    let chain = topology.chains[0].clone();
    let (l1, gateway) = (topology.l1.node.chain_id, topology.gateway.node.chain_id);
    let id = U256::from(chain.node.chain_id);
    let gov =
        signer_provider(topology.l1.node.rpc_url.clone(), &topology.l1.governance_key).unwrap();
    let bridgehub = Bridgehub::new(topology.bridgehub, &gov);
    let dir = tempfile::tempdir().unwrap();
    // No relayer key: the migration to the Gateway stops in Migrating until the relayer acts.
    let mut node = start(config(&topology, &chain, false), &chain, dir.path()).await;
    let traffic = Traffic::new(chain.node.rpc_url.clone(), &chain.operator_key).unwrap();
    traffic.blocks(3, 1).await.unwrap();
    node.wait("a batch executed on L1", |s| executed(s) >= 1).await;

    let unchanged = async |node: &Node| {
        assert_eq!(bridgehub.settlementLayer(id).call().await.unwrap(), U256::from(l1));
        (node.store.migrations().unwrap(), node.store.last_migration().unwrap())
    };
    let before = unchanged(&node).await;

    // Unknown layer, and the layer it is already on.
    let err = node.migrate("mars").await.unwrap_err();
    assert!(err.contains("unknown settlement layer \"mars\""), "{err}");
    let err = node.migrate("l1").await.unwrap_err();
    assert!(err.contains(&format!("already settles on l1 (chain id {l1})")), "{err}");
    // Not whitelisted.
    bridgehub
        .setSettlementLayerStatus(U256::from(gateway), false, topology.gateway.governance)
        .send()
        .await
        .unwrap()
        .mined()
        .await
        .unwrap();
    let err = node.migrate("gateway").await.unwrap_err();
    assert!(err.contains(&format!("settlement layer {gateway} is not whitelisted")), "{err}");
    bridgehub
        .setSettlementLayerStatus(U256::from(gateway), true, topology.gateway.governance)
        .send()
        .await
        .unwrap()
        .mined()
        .await
        .unwrap();
    // Not registered on the Gateway.
    bridgehub
        .setExecutor(id, U256::from(gateway), Address::ZERO)
        .send()
        .await
        .unwrap()
        .mined()
        .await
        .unwrap();
    let err = node.migrate("gateway").await.unwrap_err();
    assert!(err.contains(&format!("is not registered on settlement layer {gateway}")), "{err}");
    bridgehub
        .setExecutor(id, U256::from(gateway), chain.gateway_executor)
        .send()
        .await
        .unwrap()
        .mined()
        .await
        .unwrap();
    // The admin key is not the chain admin (a second service over its own store, not run).
    let mut wrong_admin = config(&topology, &chain, false);
    if let Some(m) = &mut wrong_admin.migration {
        m.admin_key = Some(OperatorKey::new(topology.l1.governance_key.clone()));
    }
    let other_dir = tempfile::tempdir().unwrap();
    let other = Settlement::new(
        wrong_admin,
        Arc::new(Store::open(other_dir.path()).unwrap()),
        Arc::new(gateway_prover::MockBackend::default()),
    )
    .unwrap();
    let err = other.migrate(LayerKind::Gateway, "test").await.unwrap_err();
    assert!(matches!(err, MigrationError::NotChainAdmin { .. }), "{err}");
    assert!(err.to_string().contains("is not chain"), "{err}");
    // Nothing to cancel.
    let err = node.settlement.cancel_migration().unwrap_err();
    assert!(matches!(err, MigrationError::NothingToCancel), "{err}");
    assert_eq!(unchanged(&node).await, before);
    assert_eq!(node.status().await["phase"], "settling");

    // Pause the sender and seal a batch, so the next migration cannot finish draining.
    node.admin.call("settlement_pause", serde_json::json!([])).await.unwrap();
    traffic.blocks(3, 1).await.unwrap();
    // (Nothing in flight either: a transaction sent before the pause still lands, and could
    // execute the batch this waits for.)
    node.wait("a sealed batch not executed, nothing in flight", |s| {
        s["lastSealedBatch"].as_u64().unwrap_or_default() > executed(s) && s["pendingTx"].is_null()
    })
    .await;
    let first = node.migrate("gateway").await.unwrap();
    // It waits for the sealed batch to be executed on L1.
    let draining = node
        .wait("draining, waiting for the sealed batch", |s| {
            s["phase"] == "draining"
                && s["migration"]["waitingFor"]
                    .as_str()
                    .is_some_and(|w| w.contains("to be executed on l1"))
        })
        .await;
    assert_eq!(draining["migration"]["id"], first["id"]);
    // A migration already running.
    let err = node.migrate("gateway").await.unwrap_err();
    assert!(err.contains("is already draining"), "{err}");
    // Blocks keep flowing into the store, and no batch is sealed while draining.
    let sealed = draining["lastSealedBatch"].as_u64().unwrap();
    traffic.blocks(4, 1).await.unwrap();
    node.wait("blocks stored while draining", |s| s["unbatchedBlocks"].as_u64().unwrap() >= 4)
        .await;
    assert_eq!(node.status().await["lastSealedBatch"], sealed);
    // Cancel while draining: settling on L1 again, sealing resumes.
    let cancelled =
        node.admin.call("settlement_cancel_migration", serde_json::json!([])).await.unwrap();
    assert_eq!(cancelled["phase"], "cancelled");
    node.admin.call("settlement_resume", serde_json::json!([])).await.unwrap();
    let back = node
        .wait("sealing again on L1", |s| {
            s["phase"] == "settling" && s["lastSealedBatch"].as_u64().unwrap() > sealed
        })
        .await;
    assert_eq!(back["settlementLayer"], l1);
    assert_eq!(back["migration"]["phase"], "cancelled");
    assert_eq!(back["migration"]["cancelledBy"], "rpc");
    assert_eq!(bridgehub.settlementLayer(id).call().await.unwrap(), U256::from(l1));

    // Without a relayer the migration waits in Migrating; it cannot be cancelled there.
    node.migrate("gateway").await.unwrap();
    let waiting = node
        .wait("waiting for the relayer", |s| {
            s["phase"] == "migrating"
                && s["migration"]["waitingFor"].as_str().is_some_and(|w| w.contains("relayer"))
        })
        .await;
    let err = node.settlement.cancel_migration().unwrap_err();
    assert!(matches!(err, MigrationError::NotCancellable { .. }), "{err}");
    // The relayer activates the Gateway's executor after the drained batch: the node goes on.
    let drained = waiting["migration"]["drainedThrough"].as_u64().unwrap();
    let relayer =
        signer_provider(topology.gateway.node.rpc_url.clone(), &topology.gateway.governance_key)
            .unwrap();
    let info = gateway_settlement::commitment::stored_info(
        &node.store,
        &config(&topology, &chain, false),
        drained,
    )
    .unwrap();
    ChainExecutor::new(chain.gateway_executor, &relayer)
        .activate(gateway_contracts::convert(&info).unwrap())
        .send()
        .await
        .unwrap()
        .mined()
        .await
        .unwrap();
    traffic.blocks(3, 1).await.unwrap();
    let done = node
        .wait("settling on the Gateway", |s| {
            s["settlementLayer"] == gateway && executed(s) > drained
        })
        .await;
    assert_eq!(done["migrationsCompleted"], 1);
    node.host.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_restarted_after_a_migration_done_elsewhere_follows_the_bridgehub() {
    init_tracing();
    let devnet = devnet_of(vec![InitialSettlement::L1]).await.unwrap();
    let topology = devnet.topology.clone();
    let chain = topology.chains[0].clone();
    let (l1, gateway) = (topology.l1.node.chain_id, topology.gateway.node.chain_id);
    let dir = tempfile::tempdir().unwrap();
    let traffic = Traffic::new(chain.node.rpc_url.clone(), &chain.operator_key).unwrap();

    // The node settles on L1, then stops sending: batches are sealed but not committed. A
    // commit sent just before the pause would leave L1 not drained (committed above executed):
    // it is let through and executed first (the full run at 17353fb hit it).
    let mut node = start(config(&topology, &chain, true), &chain, dir.path()).await;
    traffic.blocks(3, 1).await.unwrap();
    node.wait("a batch executed on L1", |s| executed(s) >= 1).await;
    let l1_reader = ProviderBuilder::new().connect_http(topology.l1.node.rpc_url.clone());
    let l1_executor = ChainExecutor::new(chain.l1_executor, &l1_reader);
    let mut drained = false;
    for _ in 0..10 {
        node.admin.call("settlement_pause", serde_json::json!([])).await.unwrap();
        node.wait("no transaction in flight", |s| s["pendingTx"].is_null()).await;
        let committed: u64 = l1_executor.totalBatchesCommitted().call().await.unwrap().to();
        let executed_on_l1: u64 = l1_executor.totalBatchesExecuted().call().await.unwrap().to();
        if committed == executed_on_l1 {
            drained = true;
            break;
        }
        node.admin.call("settlement_resume", serde_json::json!([])).await.unwrap();
        node.wait("the committed batches executed", |s| executed(s) >= committed).await;
    }
    assert!(drained, "L1 has batches committed and not executed after 10 pauses");
    let on_l1: u64 = executed(&node.status().await);
    traffic.blocks(6, 1).await.unwrap();
    node.wait("batches sealed above the executed one", |s| {
        s["lastSealedBatch"].as_u64().unwrap_or_default() >= on_l1 + 2
    })
    .await;
    node.host.stop().await;
    let drained = {
        let l1_provider =
            signer_provider(topology.l1.node.rpc_url.clone(), &chain.operator_key).unwrap();
        let executed: u64 = ChainExecutor::new(chain.l1_executor, &l1_provider)
            .totalBatchesExecuted()
            .call()
            .await
            .unwrap()
            .to();
        assert!(node.store.last_batch().unwrap().unwrap().number > executed);
        let info = gateway_settlement::commitment::stored_info(
            &node.store,
            &config(&topology, &chain, true),
            executed,
        )
        .unwrap();
        // The operator migrates by hand while the node is down: the Bridgehub, then the
        // relayer on the Gateway.
        Bridgehub::new(topology.bridgehub, &l1_provider)
            .startMigrationToGateway(U256::from(chain.node.chain_id), U256::from(gateway))
            .send()
            .await
            .unwrap()
            .mined()
            .await
            .unwrap();
        Bridgehub::new(topology.bridgehub, &l1_provider)
            .migrateToGateway(
                U256::from(chain.node.chain_id),
                U256::from(gateway),
                gateway_contracts::convert(&info).unwrap(),
            )
            .send()
            .await
            .unwrap()
            .mined()
            .await
            .unwrap();
        let relayer = signer_provider(
            topology.gateway.node.rpc_url.clone(),
            &topology.gateway.governance_key,
        )
        .unwrap();
        ChainExecutor::new(chain.gateway_executor, &relayer)
            .activate(gateway_contracts::convert(&info).unwrap())
            .send()
            .await
            .unwrap()
            .mined()
            .await
            .unwrap();
        executed
    };
    drop(node);

    // Restarted with its old L1 settings: it follows the Bridgehub, unseals the batches it had
    // sealed for L1 and settles them, resealed, on the Gateway.
    let node = start(config(&topology, &chain, true), &chain, dir.path()).await;
    let status = node
        .wait("settling on the Gateway", |s| {
            s["settlementLayer"] == gateway && executed(s) >= drained + 2
        })
        .await;
    assert_eq!(status["migration"]["trigger"], "found on the Bridgehub at start");
    assert_eq!(status["migration"]["from"], l1);
    assert_eq!(status["migration"]["drainedThrough"], drained);
    for batch in node.store.batches(1..=executed(&status)).unwrap() {
        let layer = if batch.number <= drained { l1 } else { gateway };
        assert_eq!(batch.sl_chain_id, layer, "batch {}", batch.number);
    }
}

/// A devnet with one chain on L1 and its node (relaying its own migrations, `tweak`ed
/// settings), after three blocks of traffic.
async fn relaying_node_with(
    tweak: impl FnOnce(&mut SettlementConfig),
) -> (Devnet, Topology, ChainTopology, Node, Traffic, tempfile::TempDir) {
    init_tracing();
    let devnet = devnet_of(vec![InitialSettlement::L1]).await.unwrap();
    let topology = devnet.topology.clone();
    let chain = topology.chains[0].clone();
    let mut config = config(&topology, &chain, true);
    tweak(&mut config);
    let dir = tempfile::tempdir().unwrap();
    let node = start(config, &chain, dir.path()).await;
    let traffic = Traffic::new(chain.node.rpc_url.clone(), &chain.operator_key).unwrap();
    traffic.blocks(3, 1).await.unwrap();
    (devnet, topology, chain, node, traffic, dir)
}

/// A migration transaction goes through the sender's path: signed and persisted (in its
/// signer's own slot) before it is broadcast, and replaced with a higher fee at the same nonce
/// when it is not mined in time; exactly one of them is mined.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stuck_migration_transaction_is_persisted_before_broadcast_and_fee_bumped() {
    let (_devnet, topology, chain, node, _traffic, _dir) =
        relaying_node_with(|c| c.tx_timeout = Duration::from_secs(2)).await;
    node.wait("every block settled", |s| {
        s["unbatchedBlocks"] == 0
            && executed(s) >= 1
            && Some(executed(s)) == s["lastSealedBatch"].as_u64()
            && s["pendingTx"].is_null()
    })
    .await;

    // L1 stops mining: the Bridgehub transaction stays in its pool.
    let l1 =
        alloy::providers::ProviderBuilder::new().connect_http(topology.l1.node.rpc_url.clone());
    l1.raw_request::<_, Value>("evm_setAutomine".into(), (false,)).await.unwrap();
    node.migrate("gateway").await.unwrap();
    let admin: Address = chain.operator;
    let slot =
        gateway_store::InFlightSlot::Migration { layer: topology.l1.node.chain_id, signer: admin };
    let first = tokio::time::timeout(WAIT, async {
        loop {
            if let Some(record) =
                node.store.in_flight_at(&slot).unwrap().filter(|r| !r.raw.is_empty())
            {
                return record;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
    .expect("the signed migration transaction is persisted");
    assert_eq!(first.stage, gateway_settlement::TxStage::Migrate as u8);
    // Not mined within the tx timeout: replaced at the same nonce with a higher fee.
    let bumped = tokio::time::timeout(WAIT, async {
        loop {
            if let Some(record) =
                node.store.in_flight_at(&slot).unwrap().filter(|r| r.attempts > first.attempts)
            {
                return record;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
    .await
    .expect("the stuck migration transaction is replaced");
    assert_eq!(bumped.nonce, first.nonce);
    assert_ne!(bumped.hash, first.hash);
    let fee = |hash| {
        let l1 = l1.clone();
        async move {
            use alloy::consensus::Transaction as _;
            l1.get_transaction_by_hash(hash).await.unwrap().map(|tx| tx.max_fee_per_gas())
        }
    };
    let bumped_fee = fee(bumped.hash).await.expect("the replacement is in L1's pool");
    assert_eq!(fee(first.hash).await, None, "the replaced one left the pool");
    let first_fee = {
        use alloy::{consensus::Transaction as _, eips::eip2718::Decodable2718};
        alloy::consensus::TxEnvelope::decode_2718(&mut &first.raw[..]).unwrap().max_fee_per_gas()
    };
    assert!(bumped_fee > first_fee, "{bumped_fee} > {first_fee}");

    // L1 mines again: the migration completes, with one Bridgehub transaction mined.
    l1.raw_request::<_, Value>("evm_setAutomine".into(), (true,)).await.unwrap();
    l1.raw_request::<_, Value>("evm_mine".into(), ()).await.unwrap();
    node.wait("the migration completed", |s| s["migrationsCompleted"] == 1).await;
    let provider = signer_provider(topology.l1.node.rpc_url.clone(), &chain.operator_key).unwrap();
    let bridgehub = Bridgehub::new(topology.bridgehub, &provider);
    let filter = alloy::rpc::types::Filter::new()
        .address(topology.bridgehub)
        .event_signature(Bridgehub::MigrationToGateway::SIGNATURE_HASH)
        .from_block(0);
    assert_eq!(l1.get_logs(&filter).await.unwrap().len(), 1, "exactly one migration mined");
    assert_eq!(
        bridgehub.settlementLayer(U256::from(chain.node.chain_id)).call().await.unwrap(),
        U256::from(topology.gateway.node.chain_id)
    );
    assert_eq!(node.store.in_flight_at(&slot).unwrap(), None, "the slot is cleared once mined");
    let mut host = node.host;
    host.stop().await;
}

/// A priority operation nobody processes cannot hold a migration forever: the drain waits
/// `--settlement.migration-priority-ops-timeout`, saying so, then gives the move up and the chain
/// settles on where it was.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pending_priority_operation_holds_a_migration_a_bounded_time_then_it_is_given_up() {
    let (_devnet, topology, chain, node, traffic, _dir) =
        relaying_node_with(|c| c.priority_ops_drain_timeout = Duration::from_secs(3)).await;
    node.wait("batch 1 executed", |s| executed(s) >= 1).await;

    // Someone pays for an L1 -> L2 transaction through the Bridgehub (with its own key: the
    // node's sender uses the operator's, and their nonces would race).
    let user_key = e2e_tests::fixtures::funded_l1_user(&topology).await.unwrap();
    let user = signer_provider(topology.l1.node.rpc_url.clone(), &user_key).unwrap();
    Bridgehub::new(topology.bridgehub, &user)
        .requestL2Transaction(
            U256::from(chain.node.chain_id),
            alloy::primitives::Address::ZERO,
            U256::ZERO,
            alloy::primitives::Bytes::new(),
            U256::ZERO,
            alloy::primitives::Address::ZERO,
        )
        .value(U256::from(devnet::PRIORITY_OP_FEE_WEI))
        .send()
        .await
        .unwrap()
        .get_receipt()
        .await
        .unwrap();
    node.migrate("gateway").await.unwrap();
    let waiting = node
        .wait("the drain waiting for the priority operation", |s| {
            s["migration"]["waitingFor"]
                .as_str()
                .is_some_and(|w| w.contains("priority operation") && w.contains("cancelled in"))
        })
        .await;
    assert_eq!(waiting["migration"]["phase"], "draining");
    let given_up = node
        .wait("the migration given up, saying why", |s| {
            // Why stays in the status (`lastError` has the whole reason only until the next
            // successful step, which may come before a poll).
            s["migration"]["phase"] == "cancelled" && s["migration"]["cancelledBy"] == "timeout"
        })
        .await;
    // The chain settles on L1 on.
    let before = executed(&given_up);
    traffic.blocks(3, 1).await.unwrap();
    let after = node.wait("more batches on L1", |s| executed(s) > before).await;
    assert_eq!(after["settlementLayer"], topology.l1.node.chain_id);
    let mut host = node.host;
    host.stop().await;
}
