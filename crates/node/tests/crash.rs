//! `kill -9` of a settling `gateway-node` at five points of the pipeline, then a restart: every
//! batch ends up committed and executed exactly once, with the hashes the store computed.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{
    collections::BTreeMap,
    io::{Read, Write},
    net::TcpStream,
    os::unix::process::ExitStatusExt,
    path::Path,
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use alloy::{primitives::U256, providers::Provider};
use devnet::{
    ChainTopology, ChildProcess, Devnet, DevnetConfig, InitialSettlement, Traffic, signer_provider,
};
use gateway_contracts::ChainExecutor;
use gateway_settlement::{FAILPOINT_ENV, PANIC_FAILPOINTS, commitment::decode_commit_info};

const BIN: &str = env!("CARGO_BIN_EXE_gateway-node");
const WAIT: Duration = Duration::from_secs(90);

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn spawn(chain: &ChainTopology, dir: &Path, port: u16, failpoint: Option<&str>) -> ChildProcess {
    spawn_on(chain, dir, port, failpoint, "l1")
}

/// The node settling on `layer` (`l1` or `gateway`): a Bridgehub that says otherwise makes it
/// migrate at start; it relays its own migrations to the Gateway (devnet relayer key).
fn spawn_on(
    chain: &ChainTopology,
    dir: &Path,
    port: u16,
    failpoint: Option<&str>,
    layer: &str,
) -> ChildProcess {
    spawn_with(chain, dir, port, failpoint, &["--settlement.layer", layer, "--authrpc.port", "0"])
}

/// The node with `extra` flags after the common ones.
fn spawn_with(
    chain: &ChainTopology,
    dir: &Path,
    port: u16,
    failpoint: Option<&str>,
    extra: &[&str],
) -> ChildProcess {
    let mut command = Command::new(BIN);
    command
        .args([
            "node",
            "--chain.rpc-url",
            chain.node.rpc_url.as_str(),
            "--chain.start-after",
            "0",
            "--chain.poll-interval",
            "100ms",
        ])
        .args(["--settlement.enabled", "--settlement.proofs", "mock"])
        .args([
            "--batch.max-blocks",
            "2",
            "--batch.timeout",
            "1s",
            "--settlement.max-batches-per-tx",
            "1",
        ])
        .arg("--settlement.topology")
        .arg(dir.join("topology.json"))
        .arg("--settlement.operator-key-file")
        .arg(dir.join("operator.key"))
        .args(["--http", "--http.port", &port.to_string(), "--dev"])
        .args(extra)
        .arg("--datadir")
        .arg(dir.join("data"))
        .env("RUST_LOG", "warn")
        .env_remove(FAILPOINT_ENV)
        .stdout(Stdio::null())
        .stderr(stderr_log(dir));
    if let Some(point) = failpoint {
        command.env(FAILPOINT_ENV, point);
    }
    if dir.join("relayer.key").exists() {
        command.arg("--settlement.relayer-key-file").arg(dir.join("relayer.key"));
    }
    ChildProcess(command.spawn().unwrap())
}

/// Where the node's standard error goes: `node.stderr` in `dir`, appended to by each start.
fn stderr_log(dir: &Path) -> std::fs::File {
    std::fs::OpenOptions::new().create(true).append(true).open(dir.join("node.stderr")).unwrap()
}

/// A devnet with one chain settling on L1, its topology in `dir/topology.json` and the chain's
/// operator key in `dir/operator.key` (what [`spawn`] passes the node).
async fn l1_devnet(dir: &Path) -> (Devnet, ChainTopology) {
    let devnet = Devnet::start(
        DevnetConfig { chains: vec![InitialSettlement::L1], ..Default::default() },
        Some(&dir.join("topology.json")),
    )
    .await
    .unwrap();
    let chain = devnet.topology.chains[0].clone();
    std::fs::write(dir.join("operator.key"), &chain.operator_key).unwrap();
    (devnet, chain)
}

fn executed(port: u16) -> u64 {
    status(port).and_then(|s| s["onChain"]["executed"].as_u64()).unwrap_or_default()
}

/// `settlement_status`, if the node answers.
fn status(port: u16) -> Option<serde_json::Value> {
    let body = r#"{"jsonrpc":"2.0","id":1,"method":"settlement_status","params":[]}"#;
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let request = format!(
        "POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).ok()?;
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    let json = response.split("\r\n\r\n").nth(1).unwrap_or_default();
    serde_json::from_str::<serde_json::Value>(json).ok().map(|mut v| v["result"].take())
}

async fn wait_exit(node: &mut ChildProcess) -> std::process::ExitStatus {
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(status) = node.0.try_wait().unwrap() {
            return status;
        }
        assert!(Instant::now() < deadline, "gateway-node did not exit");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Where a node is killed, and whether L1 holds back the transaction it sent last (the
/// kill then lands between the broadcast and the mining).
const KILL_POINTS: [(&str, Option<&str>); 5] = [
    ("after-seal", None),
    ("after-proof", None),
    // The commit is in L1's pool, not mined, when the node dies.
    ("after-commit-sent", Some("commit")),
    ("after-commit-mined", None),
    // Mid-execute: committed and proved, the execute in L1's pool, not mined.
    ("after-execute-sent", Some("execute")),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_at_each_point_then_restart_loses_and_repeats_nothing() {
    for (point, hold_back) in KILL_POINTS {
        let dir = tempfile::tempdir().unwrap();
        let (devnet, chain) = l1_devnet(dir.path()).await;
        let l1_url = devnet.topology.l1.node.rpc_url.clone();
        let traffic = Traffic::new(chain.node.rpc_url.clone(), &chain.operator_key).unwrap();
        traffic.blocks(4, 1).await.unwrap();

        let port = free_port();
        let mut child = spawn(&chain, dir.path(), port, Some(point));
        let status = match hold_back {
            // The test mines L1 itself: every settlement call but `held` is mined at once.
            Some(held) => {
                devnet::rpc_call(&l1_url, "evm_setAutomine", serde_json::json!([false]))
                    .await
                    .unwrap();
                mine_all_but(&l1_url, held, &mut child).await
            }
            None => wait_exit(&mut child).await,
        };
        assert_eq!(
            status.signal(),
            Some(9),
            "{point}: the process was killed at the failpoint ({status})"
        );
        if hold_back.is_some() {
            // The persisted in-flight transaction is the one in L1's pool, not mined.
            let store = gateway_store::Store::open(dir.path().join("data")).unwrap();
            let sent = store.in_flight().unwrap().expect("an in-flight record");
            drop(store);
            let l1 = alloy::providers::ProviderBuilder::new().connect_http(l1_url.clone());
            let pooled = l1.get_transaction_by_hash(sent.hash).await.unwrap();
            let pooled = pooled.unwrap_or_else(|| panic!("{point}: {} is not on L1", sent.hash));
            assert_eq!(pooled.block_number, None, "{point}: killed before it was mined");
            devnet::rpc_call(&l1_url, "evm_setAutomine", serde_json::json!([true])).await.unwrap();
        }

        traffic.blocks(4, 1).await.unwrap();
        let mut child = spawn(&chain, dir.path(), port, None);
        let deadline = Instant::now() + WAIT;
        while executed(port) < 4 {
            assert!(child.0.try_wait().unwrap().is_none(), "{point}: the restarted node exited");
            assert!(
                Instant::now() < deadline,
                "{point}: 4 batches were not executed after the restart"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        Command::new("kill").arg(child.0.id().to_string()).status().unwrap();
        let exit = wait_exit(&mut child).await;
        assert!(exit.success(), "{point}: clean exit after SIGTERM ({exit})");

        // Each batch was committed, proved and executed exactly once (no duplicate was even
        // mined as a revert), with the store's hashes.
        let l1 = signer_provider(l1_url.clone(), &chain.operator_key).unwrap();
        let executor = ChainExecutor::new(chain.l1_executor, &l1);
        let executed_on_chain: u64 = executor.totalBatchesExecuted().call().await.unwrap().to();
        let mined = devnet::mined_from(&l1_url, chain.operator).await.unwrap();
        let calls = devnet::SettlementCalls::of(&mined, chain.l1_executor).unwrap();
        calls.check_each_batch_once(executed_on_chain).unwrap_or_else(|e| panic!("{point}: {e}"));

        let store = gateway_store::Store::open(dir.path().join("data")).unwrap();
        let batches = store.batches(1..=executed_on_chain).unwrap();
        let mut next_block = 1;
        for batch in &batches {
            assert_eq!(
                batch.first_block, next_block,
                "{point}: blocks of batch {} follow on",
                batch.number
            );
            next_block = batch.last_block + 1;
            let info = decode_commit_info(batch).unwrap();
            let on_chain = executor.storedBatchHash(U256::from(batch.number)).call().await.unwrap();
            assert_eq!(
                on_chain,
                gateway_primitives::stored_batch_hash(&info.to_stored()),
                "{point}: batch {}",
                batch.number
            );
        }
    }
}

/// A panic inside the sender is not lost while the node keeps acknowledging blocks: the
/// supervisor stops the settlement ExEx, and with it the node, with a non-zero exit and an error
/// that names the sender; a restart resumes from the store and settles on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_sender_stops_the_node_naming_it_and_a_restart_settles_on() {
    let dir = tempfile::tempdir().unwrap();
    let (_devnet, chain) = l1_devnet(dir.path()).await;
    let traffic = Traffic::new(chain.node.rpc_url.clone(), &chain.operator_key).unwrap();
    traffic.blocks(4, 1).await.unwrap();

    let port = free_port();
    let mut child = spawn(&chain, dir.path(), port, Some(PANIC_FAILPOINTS[0]));
    let status = wait_exit(&mut child).await;
    assert!(
        !status.success() && status.signal().is_none(),
        "the node exits with an error, not by a signal ({status})"
    );
    let stderr = std::fs::read_to_string(dir.path().join("node.stderr")).unwrap();
    assert!(stderr.contains("settlement task `sender` panicked"), "{stderr}");

    traffic.blocks(2, 1).await.unwrap();
    let mut child = spawn(&chain, dir.path(), port, None);
    let deadline = Instant::now() + WAIT;
    while executed(port) < 3 {
        assert!(child.0.try_wait().unwrap().is_none(), "the restarted node exited");
        assert!(Instant::now() < deadline, "3 batches were not executed after the restart");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    stop(child).await;
}

/// Mines L1 (automine off) whenever its pool holds a transaction, until `node` exits; stops
/// mining for good once the pool holds a `held` (`commit` or `execute`) call.
async fn mine_all_but(
    l1: &alloy::transports::http::reqwest::Url,
    held: &str,
    node: &mut ChildProcess,
) -> std::process::ExitStatus {
    use alloy::sol_types::SolCall;
    let selector = match held {
        "commit" => ChainExecutor::commitBatchesCall::SELECTOR,
        "execute" => ChainExecutor::executeBatchesCall::SELECTOR,
        other => panic!("cannot hold back {other:?}: commit or execute"),
    };
    let deadline = Instant::now() + WAIT;
    let mut holding = false;
    loop {
        if let Some(status) = node.0.try_wait().unwrap() {
            return status;
        }
        assert!(Instant::now() < deadline, "the node did not reach its failpoint");
        let inputs: Vec<String> = pending_txs(l1)
            .await
            .iter()
            .filter_map(|tx| tx["input"].as_str().map(str::to_owned))
            .collect();
        let held_hex = alloy::primitives::hex::encode_prefixed(selector);
        holding |= inputs.iter().any(|input| input.starts_with(&held_hex));
        if !holding && !inputs.is_empty() {
            devnet::rpc_call(l1, "evm_mine", serde_json::json!([])).await.unwrap();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The Gateway's own node, in gateway mode, in this process: it settles the Gateway's batches
/// on L1, so that a chain's last batch on the Gateway becomes L1-final (L1 takes a chain back
/// only then).
async fn start_gateway_host(topology: &devnet::Topology, datadir: &Path) -> exex_host::HostHandle {
    use std::sync::Arc;

    use exex_host::{HostBuilder, HostConfig, RpcBlockSource, RpcBlockSourceConfig};
    use gateway_settlement::{
        BatchLimits, GatewayMode, OperatorKey, Settlement, SettlementConfig,
        SettlementLayerEndpoint,
    };
    let layer = SettlementLayerEndpoint {
        chain_id: topology.l1.node.chain_id,
        rpc_url: topology.l1.node.rpc_url.clone(),
        executor: topology.gateway_l1_executor,
    };
    let mut config = SettlementConfig::new(
        topology.gateway.node.chain_id,
        topology.gateway_genesis.state_commitment,
        layer,
        OperatorKey::new(topology.gateway.governance_key.clone()),
    );
    config.limits =
        BatchLimits { max_blocks: 20, timeout: Duration::from_secs(2), ..Default::default() };
    config.poll_interval = Duration::from_millis(200);
    config.gateway = Some(GatewayMode::new(topology.gateway.message_root));
    let store = Arc::new(gateway_store::Store::open(datadir).unwrap());
    let mut source = RpcBlockSourceConfig::new(topology.gateway.node.rpc_url.clone());
    source.poll_interval = Duration::from_millis(100);
    source.start_after = Some(0);
    let settlement =
        Settlement::new(config, store, Arc::new(gateway_prover::MockBackend::default())).unwrap();
    settlement
        .install(HostBuilder::new(HostConfig::new(datadir), RpcBlockSource::new(source)))
        .launch()
        .await
        .unwrap()
}

/// Waits until the node on `port` reports a status for which `check` holds (the node must stay
/// up meanwhile).
async fn wait_status(
    node: &mut ChildProcess,
    port: u16,
    what: &str,
    check: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(status) = status(port).filter(|s| check(s)) {
            return status;
        }
        assert!(node.0.try_wait().unwrap().is_none(), "{what}: the node exited");
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Waits for the node to reach its failpoint and kill itself.
async fn expect_killed(node: &mut ChildProcess, point: &str) {
    let deadline = Instant::now() + WAIT;
    while node.0.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "{point}: the node did not reach its failpoint");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let status = wait_exit(node).await;
    assert_eq!(status.signal(), Some(9), "{point}: killed at the failpoint ({status})");
}

async fn stop(mut node: ChildProcess) {
    Command::new("kill").arg(node.0.id().to_string()).status().unwrap();
    let exit = wait_exit(&mut node).await;
    assert!(exit.success(), "clean exit after SIGTERM ({exit})");
}

fn last_migration(dir: &Path) -> gateway_store::MigrationRecord {
    let store = gateway_store::Store::open(dir.join("data")).unwrap();
    store.last_migration().unwrap().expect("a migration is recorded")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_in_each_migration_phase_then_restart_completes_it_losing_and_repeating_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (devnet, chain) = l1_devnet(dir.path()).await;
    let topology = devnet.topology.clone();
    let (l1_id, gateway_id) = (topology.l1.node.chain_id, topology.gateway.node.chain_id);
    std::fs::write(dir.path().join("relayer.key"), &topology.gateway.governance_key).unwrap();
    let l1 = signer_provider(topology.l1.node.rpc_url.clone(), &chain.operator_key).unwrap();
    let bridgehub = gateway_contracts::Bridgehub::new(topology.bridgehub, &l1);
    let id = U256::from(chain.node.chain_id);
    let gateway_dir = tempfile::tempdir().unwrap();
    let mut gateway_host = start_gateway_host(&topology, gateway_dir.path()).await;
    // Blocks keep coming the whole time, whatever the node does.
    let traffic = Traffic::new(chain.node.rpc_url.clone(), &chain.operator_key).unwrap();
    let stop_traffic = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = std::sync::Arc::clone(&stop_traffic);
    let traffic_task = tokio::spawn(async move {
        while !flag.load(std::sync::atomic::Ordering::Relaxed) {
            traffic.blocks(1, 1).await.unwrap();
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    });
    let port = free_port();

    // Draining with a proof in flight: a batch sealed (and the node killed before proving it),
    // then a start with `--settlement.layer gateway` drains, and the node dies with that
    // batch's proof made but not stored.
    let mut node = spawn_on(&chain, dir.path(), port, Some("after-seal"), "l1");
    expect_killed(&mut node, "after-seal").await;
    let mut node = spawn_on(&chain, dir.path(), port, Some("draining-proof"), "gateway");
    expect_killed(&mut node, "draining-proof").await;
    let record = last_migration(dir.path());
    assert_eq!(record.migration_phase().unwrap(), gateway_store::MigrationPhase::Draining);
    assert_eq!(record.trigger, "start flag");
    // Restarted, it dies just before its first Bridgehub transaction: the admin's request that
    // opens the move (sent as the drain starts; from then on L1 parks new deposits).
    let mut node = spawn_on(&chain, dir.path(), port, Some("before-migration-send"), "gateway");
    expect_killed(&mut node, "before-migration-send").await;
    let record = last_migration(dir.path());
    assert_eq!(record.migration_phase().unwrap(), gateway_store::MigrationPhase::Draining);
    assert_eq!(bridgehub.migrationRequested(id).call().await.unwrap(), U256::ZERO);
    assert_eq!(bridgehub.settlementLayer(id).call().await.unwrap(), U256::from(l1_id));

    // After that L1 transaction was sent, before it was mined: L1 stops mining.
    l1.raw_request::<_, serde_json::Value>("evm_setAutomine".into(), (false,)).await.unwrap();
    let mut node = spawn_on(&chain, dir.path(), port, Some("after-migration-sent"), "gateway");
    expect_killed(&mut node, "after-migration-sent").await;
    let record = last_migration(dir.path());
    let sent = record.pending_tx().expect("the sent transaction is recorded");
    let tx = l1.get_transaction_by_hash(sent).await.unwrap().expect("in L1's pool");
    assert!(tx.block_number.is_none(), "not mined yet");
    assert_eq!(bridgehub.migrationRequested(id).call().await.unwrap(), U256::ZERO);
    // Restarted, it waits for that transaction instead of sending another; L1 mines again.
    let mut node = spawn_on(&chain, dir.path(), port, None, "gateway");
    wait_status(&mut node, port, "waiting for the sent transaction", |s| {
        s["phase"] == "draining"
            && s["migration"]["waitingFor"]
                .as_str()
                .is_some_and(|w| w.contains(&sent.to_string()) && w.contains("to be mined"))
    })
    .await;
    l1.raw_request::<_, serde_json::Value>("evm_setAutomine".into(), (true,)).await.unwrap();
    l1.raw_request::<_, serde_json::Value>("evm_mine".into(), ()).await.unwrap();
    let done = wait_status(&mut node, port, "settling on the Gateway", |s| {
        s["migrationsCompleted"] == 1
            && s["settlementLayer"] == gateway_id
            && s["onChain"]["executed"].as_u64().unwrap_or_default()
                >= s["migration"]["drainedThrough"].as_u64().unwrap_or(u64::MAX) + 2
    })
    .await;
    let drained_to_gateway = done["migration"]["drainedThrough"].as_u64().unwrap();
    assert!(drained_to_gateway >= 1);
    assert_eq!(
        bridgehub.migrationRequested(id).call().await.unwrap(),
        U256::ZERO,
        "the move is closed"
    );
    stop(node).await;

    // Right after a migration transaction was mined, on the way back to L1.
    let mut node = spawn_on(&chain, dir.path(), port, Some("after-migration-mined"), "l1");
    expect_killed(&mut node, "after-migration-mined").await;
    let mut node = spawn_on(&chain, dir.path(), port, None, "l1");
    let back = wait_status(&mut node, port, "settling on L1 again", |s| {
        s["migrationsCompleted"] == 2 && s["settlementLayer"] == l1_id
    })
    .await;
    let drained_to_l1 = back["migration"]["drainedThrough"].as_u64().unwrap();
    stop_traffic.store(true, std::sync::atomic::Ordering::Relaxed);
    traffic_task.await.unwrap();
    let head = chain_head(&chain).await;
    wait_status(&mut node, port, "every block settled on L1", |s| {
        let sealed = s["lastSealedBatch"].as_u64().unwrap_or_default();
        s["chainHead"] == head
            && s["unbatchedBlocks"] == 0
            && s["onChain"]["executed"] == sealed
            && sealed > drained_to_l1
    })
    .await;
    stop(node).await;

    // Every block in exactly one batch; every batch committed and executed exactly once, on
    // the layer it was sealed for; the numbering runs on across both switches.
    let store = gateway_store::Store::open(dir.path().join("data")).unwrap();
    let batches = store.batches(1..=u64::MAX).unwrap();
    // From the operator's mined transactions on each layer (a duplicate would show, even as a
    // revert).
    let mut commits: BTreeMap<u64, Vec<u64>> = BTreeMap::new();
    let mut executions: BTreeMap<u64, Vec<u64>> = BTreeMap::new();
    for (layer, url, executor) in [
        (l1_id, &topology.l1.node.rpc_url, chain.l1_executor),
        (gateway_id, &topology.gateway.node.rpc_url, chain.gateway_executor),
    ] {
        let mined = devnet::mined_from(url, chain.operator).await.unwrap();
        let calls = devnet::SettlementCalls::of(&mined, executor).unwrap();
        assert!(calls.reverted.is_empty(), "reverted on {layer}: {:?}", calls.reverted);
        for (numbers, into) in
            [(&calls.committed, &mut commits), (&calls.executed, &mut executions)]
        {
            for number in numbers {
                into.entry(*number).or_default().push(layer);
            }
        }
    }
    let mut next_block = 1;
    for batch in &batches {
        assert_eq!(batch.first_block, next_block, "blocks of batch {} follow on", batch.number);
        next_block = batch.last_block + 1;
        let layer = if batch.number <= drained_to_gateway || batch.number > drained_to_l1 {
            l1_id
        } else {
            gateway_id
        };
        assert_eq!(batch.sl_chain_id, layer, "batch {}", batch.number);
        assert_eq!(commits.get(&batch.number), Some(&vec![layer]), "batch {}", batch.number);
        assert_eq!(executions.get(&batch.number), Some(&vec![layer]), "batch {}", batch.number);
    }
    assert_eq!(next_block, head + 1);
    assert_eq!(executions.len(), batches.len());
    println!(
        "{} batches over {head} blocks: 1..={drained_to_gateway} on L1, ..={drained_to_l1} on the Gateway, the rest on L1",
        batches.len()
    );
    assert!(drained_to_l1 > drained_to_gateway);
    gateway_host.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_with_unchanged_flags_never_undoes_a_migration_made_at_runtime() {
    let dir = tempfile::tempdir().unwrap();
    let (devnet, chain) = l1_devnet(dir.path()).await;
    let topology = devnet.topology.clone();
    let (l1_id, gateway_id) = (topology.l1.node.chain_id, topology.gateway.node.chain_id);
    std::fs::write(dir.path().join("relayer.key"), &topology.gateway.governance_key).unwrap();
    let traffic = Traffic::new(chain.node.rpc_url.clone(), &chain.operator_key).unwrap();
    let (port, auth_port) = (free_port(), free_port().to_string());
    let log_file = dir.path().join("node.log");
    let log_file = log_file.to_str().unwrap();
    let flags =
        ["--settlement.layer", "l1", "--authrpc.port", auth_port.as_str(), "--log.file", log_file];
    let mut node = spawn_with(&chain, dir.path(), port, None, &flags);
    traffic.blocks(4, 1).await.unwrap();
    wait_status(&mut node, port, "a batch executed on L1", |s| {
        s["settlementLayer"] == l1_id && s["onChain"]["executed"].as_u64().unwrap_or_default() >= 1
    })
    .await;

    // The operator moves the chain to the Gateway at runtime.
    let admin = Command::new(BIN)
        .args(["admin", "--authrpc.url", &format!("http://127.0.0.1:{auth_port}")])
        .arg("--authrpc.jwtsecret")
        .arg(dir.path().join("data/jwt.hex"))
        .args(["settlement_migrate", r#"{"to": "gateway"}"#])
        .output()
        .unwrap();
    assert!(admin.status.success(), "{}", String::from_utf8_lossy(&admin.stderr));
    traffic.blocks(2, 1).await.unwrap();
    wait_status(&mut node, port, "settling on the Gateway", |s| {
        s["migrationsCompleted"] == 1 && s["settlementLayer"] == gateway_id
    })
    .await;
    stop(node).await;

    // Restarted with the same flags (`--settlement.layer l1`): still on the Gateway, and no
    // migration back starts; the log says why.
    let mut node = spawn_with(&chain, dir.path(), port, None, &flags);
    traffic.blocks(2, 1).await.unwrap();
    wait_status(&mut node, port, "settling on the Gateway after the restart", |s| {
        s["settlementLayer"] == gateway_id
            && s["onChain"]["executed"].as_u64().unwrap_or_default() >= 1
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let status = status(port).unwrap();
    assert_eq!(status["settlementLayer"], gateway_id, "{status}");
    assert_eq!(status["migrationsCompleted"], 1, "{status}");
    stop(node).await;
    let last = last_migration(dir.path());
    assert_eq!(last.trigger, "rpc", "no migration started at the restart");
    let log = std::fs::read_to_string(log_file).unwrap_or_default();
    assert!(log.contains("not undoing it"), "the log says why it stays: {log}");

    // Without --settlement.layer the node follows the Bridgehub.
    let mut node = spawn_with(&chain, dir.path(), port, None, &["--authrpc.port", "0"]);
    wait_status(&mut node, port, "following the Bridgehub", |s| s["settlementLayer"] == gateway_id)
        .await;
    stop(node).await;
    assert_eq!(last_migration(dir.path()).id, last.id);
}

async fn chain_head(chain: &ChainTopology) -> u64 {
    let provider =
        alloy::providers::ProviderBuilder::new().connect_http(chain.node.rpc_url.clone());
    provider.get_block_number().await.unwrap()
}

/// The chain's node killed (SIGKILL) right after it handed a deposit to the chain's inbox, before
/// it saw the receipt: restarted, it processes the deposit no second time, and the batch that
/// holds it is executed on L1, consuming the queue.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_killed_while_relaying_a_deposit_processes_it_once() {
    use alloy::primitives::{Address, Bytes, U256};
    let dir = tempfile::tempdir().unwrap();
    let (devnet, chain) = l1_devnet(dir.path()).await;
    let topology = devnet.topology.clone();
    let port = free_port();
    // The chain mines nothing until told: the relayer's `processOp` is still pending when the
    // node is killed, as on a chain with a block time.
    let chain_rpc = &chain.node.rpc_url;
    devnet::rpc_call(chain_rpc, "evm_setAutomine", serde_json::json!([false])).await.unwrap();
    let mut node = spawn(&chain, dir.path(), port, Some("after-priority-op-sent"));
    let user =
        devnet::signer_provider(topology.l1.node.rpc_url.clone(), &chain.operator_key).unwrap();
    let amount = U256::from(424_242u64);
    let recipient = Address::repeat_byte(0x61);
    gateway_contracts::Bridgehub::new(topology.bridgehub, &user)
        .requestL2Transaction(
            U256::from(chain.node.chain_id),
            recipient,
            amount,
            Bytes::new(),
            U256::from(50_000),
            Address::ZERO,
        )
        .value(amount + U256::from(devnet::PRIORITY_OP_FEE_WEI))
        .send()
        .await
        .unwrap()
        .get_receipt()
        .await
        .unwrap();
    expect_killed(&mut node, "after-priority-op-sent").await;
    let before = pending_to(chain_rpc, devnet::INBOX_ADDRESS).await;
    assert_eq!(before.len(), 1, "one processOp pending when the node was killed: {before:?}");
    let (relayer, nonce, first) = before[0];
    let mut node = spawn(&chain, dir.path(), port, None);
    // The restarted node finds the send it persisted and replaces it at the same nonce (a
    // higher fee) instead of sending a second transaction after it.
    let deadline = Instant::now() + WAIT;
    loop {
        let now = pending_to(chain_rpc, devnet::INBOX_ADDRESS).await;
        assert!(
            now.iter().all(|(from, n, _)| (*from, *n) == (relayer, nonce)),
            "a second processOp besides the one at nonce {nonce}: {now:?}"
        );
        if now.iter().any(|(_, _, hash)| *hash != first) {
            break;
        }
        assert!(Instant::now() < deadline, "the pending processOp {first} never replaced: {now:?}");
        assert!(node.0.try_wait().unwrap().is_none(), "the restarted node exited");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    devnet::rpc_call(chain_rpc, "evm_setAutomine", serde_json::json!([true])).await.unwrap();
    devnet::rpc_call(chain_rpc, "evm_mine", serde_json::json!([])).await.unwrap();
    let traffic = Traffic::new(chain.node.rpc_url.clone(), &chain.operator_key).unwrap();
    let l1 =
        alloy::providers::ProviderBuilder::new().connect_http(topology.l1.node.rpc_url.clone());
    let executor = ChainExecutor::new(chain.l1_executor, &l1);
    let deadline = Instant::now() + WAIT;
    while executor.priorityQueueHead().call().await.unwrap() < U256::from(1) {
        assert!(Instant::now() < deadline, "the deposit never consumed on L1: {:?}", status(port));
        assert!(node.0.try_wait().unwrap().is_none(), "the restarted node exited");
        traffic.blocks(1, 1).await.unwrap();
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let l2 = alloy::providers::ProviderBuilder::new().connect_http(chain.node.rpc_url.clone());
    assert_eq!(l2.get_balance(recipient).await.unwrap(), amount, "processed once");
    let inbox = gateway_contracts::L2Inbox::new(devnet::INBOX_ADDRESS, &l2);
    assert_eq!(inbox.nextOpIdOf(U256::from(31337)).call().await.unwrap(), U256::from(1));
    // The first send was replaced at its nonce, never mined beside its replacement.
    assert!(
        l2.get_transaction_receipt(first).await.unwrap().is_none(),
        "the replaced processOp {first} was mined too"
    );
    stop(node).await;
}

/// The pending transactions in the pool of the node at `url` (`txpool_content`), as it shows
/// them.
async fn pending_txs(url: &alloy::transports::http::reqwest::Url) -> Vec<serde_json::Value> {
    let pool = devnet::rpc_call(url, "txpool_content", serde_json::json!([])).await.unwrap();
    pool["pending"]
        .as_object()
        .into_iter()
        .flat_map(|by_sender| by_sender.values())
        .filter_map(|by_nonce| by_nonce.as_object())
        .flat_map(|by_nonce| by_nonce.values().cloned())
        .collect()
}

/// The pending transactions to `to` in the pool of the node at `url`: (from, nonce, hash).
async fn pending_to(
    url: &alloy::transports::http::reqwest::Url,
    to: alloy::primitives::Address,
) -> Vec<(alloy::primitives::Address, u64, alloy::primitives::B256)> {
    let mut found = Vec::new();
    for tx in pending_txs(url).await {
        let field = |name: &str| tx[name].as_str().unwrap_or_default().to_string();
        if field("to").parse::<alloy::primitives::Address>().ok() != Some(to) {
            continue;
        }
        let nonce = u64::from_str_radix(field("nonce").trim_start_matches("0x"), 16).unwrap();
        found.push((field("from").parse().unwrap(), nonce, field("hash").parse().unwrap()));
    }
    found
}
