//! `gateway-node devnet`, the main job: it starts everything, every chain settles (on the
//! Gateway and on L1), the Gateway settles its batches on L1 so the Gateway's chains' batches
//! become L1-final, value moves on every chain (deposits, withdrawals claimed on L1), the
//! status view is written, and Ctrl-C stops every process it started.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use devnet::{ChildProcess, process_alive};

const BIN: &str = env!("CARGO_BIN_EXE_gateway-node");

#[test]
fn the_devnet_runs_a_minute_makes_gateway_chains_l1_final_and_ctrl_c_stops_everything() {
    let dir = tempfile::tempdir().unwrap();
    let datadir = dir.path().join("devnet");
    let stdout = std::fs::File::create(dir.path().join("stdout")).unwrap();
    let child = Command::new(BIN)
        .args(["devnet", "--chains", "2", "--l1-chains", "1", "--block-time", "300ms"])
        .args(["--status-interval", "500ms", "--value-interval", "2s", "--datadir"])
        .arg(&datadir)
        .env("RUST_LOG", "warn")
        .stdout(stdout)
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut child = ChildProcess(child);

    // It runs for a minute, then must show every chain settled and, through a Gateway batch
    // executed on L1, the Gateway chains' batches L1-final.
    let started = Instant::now();
    let deadline = started + Duration::from_secs(150);
    let status = loop {
        assert!(child.0.try_wait().unwrap().is_none(), "the devnet exited early");
        let text = std::fs::read_to_string(datadir.join("status.json")).unwrap_or_default();
        if let Ok(status) = serde_json::from_str::<serde_json::Value>(&text) {
            let chains = status["chains"].as_array().unwrap();
            let settled = status["gatewayNode"]["gateway"]["batchesSettled"].as_u64();
            let l1_final = chains
                .iter()
                .filter(|c| c["settlementLayer"] == 506)
                .all(|c| c["finality"]["l1FinalThrough"].as_u64().unwrap_or_default() >= 1);
            // Value moved on every chain: deposits in, withdrawals claimed on L1 (for the
            // Gateway's chains, through Gateway batches settled on L1).
            let values = status["value"].as_array().cloned().unwrap_or_default();
            let moved = values.len() == 3
                && values.iter().all(|v| v["totals"]["claimed"].as_u64().unwrap_or_default() >= 1);
            if started.elapsed() >= Duration::from_secs(60)
                && moved
                && chains.len() == 3
                && chains.iter().all(|c| c["onChain"]["executed"].as_u64().unwrap_or_default() >= 1)
                && settled.unwrap_or_default() >= 1
                && l1_final
            {
                break status;
            }
        }
        assert!(
            Instant::now() < deadline,
            "after {:?}: no Gateway batch on L1 with every chain settled: {text}",
            started.elapsed()
        );
        std::thread::sleep(Duration::from_millis(500));
    };
    let gateway = &status["gatewayNode"]["gateway"];
    assert!(gateway["chainBatchesSettled"].as_u64().unwrap() >= 2, "{gateway}");
    let per_batch = gateway["l1GasPerChainBatch"].as_u64().unwrap();
    let direct = gateway["directL1GasPerChainBatch"].as_u64().unwrap();
    assert!(per_batch < direct, "via the Gateway {per_batch} gas per chain batch, direct {direct}");
    for value in status["value"].as_array().unwrap() {
        let wei = |field: &str| value["totals"][field].as_str().unwrap().parse::<u128>().unwrap();
        // Paid out of what came in; the escrow holds the rest.
        assert!(wei("depositedWei") > wei("withdrawnWei"), "{value}");
        assert!(wei("escrowedWei") > 0 && wei("withdrawnWei") > 0, "{value}");
    }
    let layers: Vec<u64> = status["chains"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["settlementLayer"].as_u64().unwrap())
        .collect();
    assert_eq!(layers, vec![506, 506, 31337], "two chains on the Gateway, one on L1");

    let topology: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(datadir.join("topology.json")).unwrap())
            .unwrap();
    let mut pids = vec![
        topology["l1"]["node"]["pid"].as_u64().unwrap(),
        topology["gateway"]["node"]["pid"].as_u64().unwrap(),
    ];
    pids.extend(
        topology["chains"].as_array().unwrap().iter().map(|c| c["node"]["pid"].as_u64().unwrap()),
    );
    assert_eq!(pids.len(), 5);
    assert!(pids.iter().all(|&pid| process_alive(pid)));

    // Ctrl-C.
    assert!(
        Command::new("kill").args(["-INT", &child.0.id().to_string()]).status().unwrap().success()
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    let exit = loop {
        if let Some(exit) = child.0.try_wait().unwrap() {
            break exit;
        }
        assert!(Instant::now() < deadline, "the devnet ignored Ctrl-C");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(exit.success(), "{exit:?}");
    for pid in pids {
        assert!(!process_alive(pid), "anvil {pid} is gone");
    }
    let printed = std::fs::read_to_string(dir.path().join("stdout")).unwrap();
    assert!(printed.contains("devnet up"), "{printed}");
    assert!(printed.contains("committed"), "the status view was printed: {printed}");
    assert!(printed.contains("settled on L1"), "the Gateway's line was printed: {printed}");
    assert!(printed.contains("value: escrowed"), "the value lines were printed: {printed}");
}

#[test]
fn the_devnet_refuses_what_it_cannot_run_naming_the_flag() {
    let dir = tempfile::tempdir().unwrap();
    for (args, flag) in [
        (vec!["devnet", "--l1-chains", "20"], "at most 16 chains"),
        (vec!["devnet", "--chains", "0"], "--chains 0"),
    ] {
        let output = Command::new(BIN)
            .args(&args)
            .arg("--datadir")
            .arg(dir.path())
            .env("RUST_LOG", "off")
            .output()
            .unwrap();
        assert!(!output.status.success(), "{args:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(flag), "{args:?}: {stderr}");
    }
}
