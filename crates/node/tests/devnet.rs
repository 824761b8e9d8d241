//! `gateway-node devnet`, the main job: it starts everything, every chain settles (on the
//! Gateway and on L1), the status view is written, and Ctrl-C stops every process it started.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use devnet::{ChildProcess, process_alive};

const BIN: &str = env!("CARGO_BIN_EXE_gateway-node");

#[test]
fn the_devnet_settles_every_chain_and_ctrl_c_stops_everything() {
    let dir = tempfile::tempdir().unwrap();
    let datadir = dir.path().join("devnet");
    let stdout = std::fs::File::create(dir.path().join("stdout")).unwrap();
    let child = Command::new(BIN)
        .args(["devnet", "--chains", "2", "--l1-chains", "1", "--block-time", "300ms"])
        .args(["--status-interval", "500ms", "--datadir"])
        .arg(&datadir)
        .env("RUST_LOG", "warn")
        .stdout(stdout)
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut child = ChildProcess(child);

    let deadline = Instant::now() + Duration::from_secs(120);
    let status = loop {
        assert!(child.0.try_wait().unwrap().is_none(), "the devnet exited early");
        let text = std::fs::read_to_string(datadir.join("status.json")).unwrap_or_default();
        if let Ok(status) = serde_json::from_str::<serde_json::Value>(&text) {
            let chains = status["chains"].as_array().unwrap();
            if chains.len() == 3
                && chains.iter().all(|c| c["onChain"]["executed"].as_u64().unwrap_or_default() >= 1)
            {
                break status;
            }
        }
        assert!(Instant::now() < deadline, "not every chain executed a batch: {text}");
        std::thread::sleep(Duration::from_millis(250));
    };
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
