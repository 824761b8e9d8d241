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

use alloy::{primitives::U256, providers::Provider, rpc::types::Filter, sol_types::SolEvent};
use devnet::{
    ChainTopology, ChildProcess, Devnet, DevnetConfig, InitialSettlement, Traffic, signer_provider,
};
use gateway_contracts::ChainExecutor;
use gateway_settlement::{FAILPOINT_ENV, batcher::decode_commit_info};

const BIN: &str = env!("CARGO_BIN_EXE_gateway-node");
const WAIT: Duration = Duration::from_secs(90);

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn spawn(chain: &ChainTopology, dir: &Path, port: u16, failpoint: Option<&str>) -> ChildProcess {
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
        .args(["--settlement.enabled", "--settlement.layer", "l1", "--settlement.proofs", "mock"])
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
        .args(["--http", "--http.port", &port.to_string()])
        .arg("--datadir")
        .arg(dir.join("data"))
        .env("RUST_LOG", "warn")
        .env_remove(FAILPOINT_ENV)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    if let Some(point) = failpoint {
        command.env(FAILPOINT_ENV, point);
    }
    ChildProcess(command.spawn().unwrap())
}

fn executed(port: u16) -> u64 {
    let body = r#"{"jsonrpc":"2.0","id":1,"method":"settlement_status","params":[]}"#;
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else { return 0 };
    stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let request = format!(
        "POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    if stream.write_all(request.as_bytes()).is_err() {
        return 0;
    }
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    let json = response.split("\r\n\r\n").nth(1).unwrap_or_default();
    serde_json::from_str::<serde_json::Value>(json)
        .ok()
        .and_then(|v| v["result"]["onChain"]["executed"].as_u64())
        .unwrap_or_default()
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_at_each_point_then_restart_loses_and_repeats_nothing() {
    for point in [
        "after-seal",
        "after-proof",
        "after-commit-sent",
        "after-commit-mined",
        "after-execute-sent",
    ] {
        let dir = tempfile::tempdir().unwrap();
        let devnet = Devnet::start(
            DevnetConfig { chains: vec![InitialSettlement::L1], ..Default::default() },
            Some(&dir.path().join("topology.json")),
        )
        .await
        .unwrap();
        let chain = devnet.topology.chains[0].clone();
        std::fs::write(dir.path().join("operator.key"), &chain.operator_key).unwrap();
        let traffic = Traffic::new(chain.node.rpc_url.clone(), &chain.operator_key).unwrap();
        traffic.blocks(4, 1).await.unwrap();

        let port = free_port();
        let mut child = spawn(&chain, dir.path(), port, Some(point));
        let status = wait_exit(&mut child).await;
        assert_eq!(
            status.signal(),
            Some(9),
            "{point}: the process was killed at the failpoint ({status})"
        );

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

        // Each batch was committed and executed exactly once, with the store's hashes.
        let l1 =
            signer_provider(devnet.topology.l1.node.rpc_url.clone(), &chain.operator_key).unwrap();
        let executor = ChainExecutor::new(chain.l1_executor, &l1);
        let executed_on_chain: u64 = executor.totalBatchesExecuted().call().await.unwrap().to();
        let count_events = |signature| {
            let filter =
                Filter::new().address(chain.l1_executor).event_signature(signature).from_block(0);
            let l1 = l1.clone();
            async move {
                let mut counts: BTreeMap<U256, usize> = BTreeMap::new();
                for log in l1.get_logs(&filter).await.unwrap() {
                    *counts.entry(U256::from_be_bytes(log.topics()[1].0)).or_default() += 1;
                }
                counts
            }
        };
        let commits = count_events(ChainExecutor::BatchCommitted::SIGNATURE_HASH).await;
        let executions = count_events(ChainExecutor::BatchExecuted::SIGNATURE_HASH).await;
        assert!(
            commits.values().all(|n| *n == 1),
            "{point}: a batch was committed twice: {commits:?}"
        );
        assert!(
            executions.values().all(|n| *n == 1),
            "{point}: a batch was executed twice: {executions:?}"
        );
        assert!(executions.len() as u64 >= executed_on_chain);

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
