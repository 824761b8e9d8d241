//! Proving on other processes through PostgreSQL, as an operator runs it: a chain's
//! `gateway-node node --prover.queue URL` and `gateway-node prover` workers on a throwaway
//! PostgreSQL (`devnet::postgres`). A worker is killed with `kill -9` in the middle of a job:
//! the job is taken over by the other worker once its lease expires and its result is used
//! once; PostgreSQL restarts under the node and the worker and both carry on; the metrics of the
//! node and of the worker pass `promtool`. Mock proofs (the real halo2 leaf job through the
//! queue is in `tests/tests/halo2.rs`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::{
    path::Path,
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use devnet::{
    ChainTopology, ChildProcess, Devnet, DevnetConfig, InitialSettlement, Traffic, local_rpc,
    postgres::Postgres,
};
use gateway_prover_queue::{Db, FAULT_ENV};

const BIN: &str = env!("CARGO_BIN_EXE_gateway-node");
const WAIT: Duration = Duration::from_secs(120);

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn log(dir: &Path, name: &str) -> std::fs::File {
    std::fs::OpenOptions::new().create(true).append(true).open(dir.join(name)).unwrap()
}

/// The chain's node, proving through the queue at `url`.
fn spawn_node(
    chain: &ChainTopology,
    dir: &Path,
    port: u16,
    metrics: u16,
    url: &str,
) -> ChildProcess {
    let child = Command::new(BIN)
        .args(["node", "--chain.rpc-url", chain.node.rpc_url.as_str()])
        .args(["--chain.start-after", "0", "--chain.poll-interval", "100ms"])
        .args(["--settlement.enabled", "--settlement.proofs", "mock", "--dev"])
        .args(["--batch.max-blocks", "2", "--batch.timeout", "1s"])
        .args(["--prover.queue", url, "--prover.max-attempts", "5"])
        .arg("--settlement.topology")
        .arg(dir.join("topology.json"))
        .arg("--settlement.operator-key-file")
        .arg(dir.join("operator.key"))
        .args(["--http", "--http.port", &port.to_string(), "--authrpc.port", "0"])
        .args(["--metrics", &format!("127.0.0.1:{metrics}")])
        .arg("--datadir")
        .arg(dir.join("data"))
        .env("RUST_LOG", "warn,prover_queue=info")
        .stdout(Stdio::null())
        .stderr(log(dir, "node.stderr"))
        .spawn()
        .unwrap();
    ChildProcess(child)
}

/// A worker process named `id`, with a 6 s lease (renewed every 2 s, with room for a loaded
/// machine); `hang`: its jobs never end (it renews their
/// lease while it lives).
fn spawn_worker(dir: &Path, url: &str, id: &str, metrics: u16, hang: bool) -> ChildProcess {
    let mut command = Command::new(BIN);
    command
        .args(["prover", "--queue", url, "--proofs", "mock", "--worker-id", id])
        .args(["--kinds", "leaf,aggregate", "--concurrency", "2", "--lease", "6s"])
        .args(["--metrics", &format!("127.0.0.1:{metrics}")])
        .env("RUST_LOG", "info")
        .env_remove(FAULT_ENV)
        .stdout(Stdio::null())
        .stderr(log(dir, &format!("worker-{id}.stderr")));
    if hang {
        command.env(FAULT_ENV, "hang");
    }
    ChildProcess(command.spawn().unwrap())
}

async fn wait_status(
    port: u16,
    what: &str,
    check: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let deadline = Instant::now() + WAIT;
    loop {
        let status = local_rpc(port, "settlement_status");
        if check(&status) {
            return status;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}: {status}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn executed(status: &serde_json::Value) -> u64 {
    status["onChain"]["executed"].as_u64().unwrap_or_default()
}

/// The job rows of leaf proofs: (batch, state, worker, attempts, lease expiries, taken).
async fn leaf_jobs(url: &str) -> Vec<(u64, String, Option<String>, i32, i32, i32)> {
    let client = Db::new(url).unwrap().client().await.unwrap();
    let rows = client
        .query(
            "SELECT key, state, worker, attempts, lease_expiries, taken FROM gateway_proof_jobs
             WHERE kind = 'leaf' ORDER BY id",
            &[],
        )
        .await
        .unwrap();
    rows.iter()
        .map(|r| {
            // mock/leaf/<chain>/<batch>/<input>
            let key: &str = r.get(0);
            let batch = key.split('/').nth(3).unwrap().parse().unwrap();
            (batch, r.get(1), r.get(2), r.get(3), r.get(4), r.get(5))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn worker_processes_prove_for_the_node_through_postgres_surviving_kill_9_and_a_postgres_restart()
 {
    let dir = tempfile::tempdir().unwrap();
    let devnet = Devnet::start(
        DevnetConfig { chains: vec![InitialSettlement::L1], ..Default::default() },
        Some(&dir.path().join("topology.json")),
    )
    .await
    .unwrap();
    let chain = devnet.topology.chains[0].clone();
    std::fs::write(dir.path().join("operator.key"), &chain.operator_key).unwrap();
    let mut pg = Postgres::start().unwrap();
    let url = pg.url();

    // The first worker hangs on its jobs: nothing is proved while it holds them.
    let mut hanging = spawn_worker(dir.path(), &url, "hanging", free_port(), true);
    let (port, node_metrics) = (free_port(), free_port());
    let mut node = spawn_node(&chain, dir.path(), port, node_metrics, &url);
    let traffic = Traffic::new(chain.node.rpc_url.clone(), &chain.operator_key).unwrap();
    traffic.blocks(4, 1).await.unwrap();
    let held = wait_status(port, "a leaf job running on the hanging worker", |s| {
        s["proverJobs"]["jobs"]["leaf.running"].as_u64() >= Some(1)
    })
    .await;
    assert_eq!(executed(&held), 0);
    assert!(held["proverJobs"]["reachable"].as_bool().unwrap(), "{held}");

    // A second worker comes; the jobs the live hanging worker holds stay its own.
    let worker_metrics = free_port();
    let mut worker = spawn_worker(dir.path(), &url, "b", worker_metrics, false);
    wait_status(port, "both workers seen", |s| s["proverJobs"]["workers"] == 2).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(executed(&local_rpc(port, "settlement_status")), 0, "batch 1 is held");
    let first_held: Vec<u64> = leaf_jobs(&url)
        .await
        .into_iter()
        .filter(|j| j.2.as_deref() == Some("hanging"))
        .map(|j| j.0)
        .collect();
    assert!(first_held.contains(&1), "the hanging worker holds batch 1: {first_held:?}");

    // kill -9 mid-job: its leases expire, the other worker proves the jobs, each used once.
    assert!(hanging.signal("KILL"));
    hanging.wait_exit(Duration::from_secs(10)).unwrap();
    let after_kill =
        wait_status(port, "batches executed after the kill, the expiries shown", |s| {
            executed(s) >= 3 && s["proverJobs"]["leaseExpiries"].as_u64() >= Some(1)
        })
        .await;
    for (batch, state, by, attempts, expiries, taken) in leaf_jobs(&url).await {
        if first_held.contains(&batch) {
            assert_eq!(
                (state.as_str(), by.as_deref(), attempts, expiries, taken),
                ("done", Some("b"), 2, 1, 1),
                "batch {batch}: redone after its lease, used once"
            );
        }
    }

    // PostgreSQL restarts under the node and the worker: both carry on.
    pg.restart().unwrap();
    let before = executed(&after_kill);
    traffic.blocks(4, 1).await.unwrap();
    let after = wait_status(port, "batches executed after PostgreSQL restarted", |s| {
        executed(s) >= before + 2 && s["proverJobs"]["reachable"] == true
    })
    .await;
    assert!(after["proverJobs"]["failed"].as_array().unwrap().is_empty(), "{after}");
    assert!(node.is_running() && worker.is_running());

    // What the node and the worker export passes promtool, with the queue's series.
    let names = common::promtool_checked_metrics(node_metrics).await;
    for name in ["prover_queue_jobs", "prover_queue_workers", "prover_queue_refused_proofs_total"] {
        assert!(names.contains(name), "the node exports {name}: {names:?}");
    }
    let names = common::promtool_checked_metrics(worker_metrics).await;
    for name in ["prover_worker_jobs_total", "prover_queue_lease_expiries_total"] {
        assert!(names.contains(name), "the worker exports {name}: {names:?}");
    }

    // SIGTERM: the worker stops cleanly and leaves the queue's list of workers.
    assert!(worker.signal("TERM"));
    let exit = worker.wait_exit(Duration::from_secs(30)).expect("the worker exits after SIGTERM");
    assert!(exit.success(), "{exit}");
    let client = Db::new(&url).unwrap().client().await.unwrap();
    let left: i64 = client
        .query_one("SELECT count(*) FROM gateway_prover_workers WHERE id = 'b'", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(left, 0);
    // Nothing failed, so `--retry-failed` puts nothing back (and says so).
    let out = Command::new(BIN)
        .args(["prover", "--queue", &url, "--retry-failed"])
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.starts_with("0 failed job(s) put back in the queue at postgres://"), "{said}");
    assert!(node.signal("TERM"));
    node.wait_exit(Duration::from_secs(30));
}
