//! The custom node runs as its operator would start it: its own flag is parsed, its own ExEx and
//! RPC answer, and the embedded settlement ExEx settles a devnet chain's batches.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use devnet::{ChildProcess, Devnet, DevnetConfig, InitialSettlement, Traffic, local_rpc};

const BIN: &str = env!("CARGO_BIN_EXE_example-custom-node");

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_custom_node_runs_its_own_exex_and_settles_through_the_embedded_one() {
    let dir = tempfile::tempdir().unwrap();
    let topology_file = dir.path().join("topology.json");
    let devnet = Devnet::start(
        DevnetConfig { chains: vec![InitialSettlement::Gateway], ..Default::default() },
        Some(&topology_file),
    )
    .await
    .unwrap();
    let chain = &devnet.topology.chains[0];
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    // The chain has history before the node starts, and the node is started as the README
    // shows (no --chain.start-after): settlement still starts from block 1.
    let traffic = Traffic::new(chain.node.rpc_url.clone(), &chain.operator_key).unwrap();
    traffic.blocks(4, 2).await.unwrap();
    let child = Command::new(BIN)
        .args(["node", "--chain.rpc-url", chain.node.rpc_url.as_str()])
        .args(["--chain.poll-interval", "100ms", "--http", "--http.port", &port.to_string()])
        .args(["--authrpc.port", "0"])
        .arg("--custom.topology")
        .arg(&topology_file)
        .args(["--custom.chain-id", &chain.node.chain_id.to_string(), "--custom.report-every", "2"])
        .arg("--datadir")
        .arg(dir.path().join("data"))
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut child = ChildProcess(child);

    // Once the node answers (its host has started at the chain's tip), 4 more blocks: the custom
    // ExEx (no head) sees those.
    let deadline = Instant::now() + Duration::from_secs(60);
    while local_rpc(port, "custom_blocksSeen").is_null() {
        assert!(child.0.try_wait().unwrap().is_none(), "the custom node exited early");
        assert!(Instant::now() < deadline, "the custom node never answered");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    traffic.blocks(4, 2).await.unwrap();
    // The default batch timeout (10 s) seals the blocks; the settlement layer executes them.
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        assert!(child.0.try_wait().unwrap().is_none(), "the custom node exited early");
        let status = local_rpc(port, "settlement_status");
        let executed = status["onChain"]["executed"].as_u64().unwrap_or_default();
        let seen = local_rpc(port, "custom_blocksSeen").as_u64().unwrap_or_default();
        if executed >= 1 && seen >= 4 {
            assert_eq!(status["chainId"], chain.node.chain_id);
            assert_eq!(status["settlementLayer"], devnet.topology.gateway.node.chain_id);
            break;
        }
        assert!(Instant::now() < deadline, "not settled: status {status}, blocks seen {seen}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }

    assert!(Command::new("kill").arg(child.0.id().to_string()).status().unwrap().success());
    let deadline = Instant::now() + Duration::from_secs(30);
    let exit = loop {
        if let Some(exit) = child.0.try_wait().unwrap() {
            break exit;
        }
        assert!(Instant::now() < deadline, "the custom node ignored SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(exit.success(), "{exit:?}");

    // A bad value of its own flag fails at start, naming the flag.
    let output = Command::new(BIN)
        .args(["node", "--chain.rpc-url", chain.node.rpc_url.as_str()])
        .arg("--custom.topology")
        .arg(&topology_file)
        .args(["--custom.chain-id", "999"])
        .arg("--datadir")
        .arg(dir.path().join("other"))
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--custom.chain-id 999"), "{stderr}");
}
