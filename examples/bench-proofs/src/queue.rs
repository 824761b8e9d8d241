//! `--queue-workers 1,2`: real halo2 leaf proofs through the PostgreSQL prover queue, proved by 1
//! and by 2 worker processes (children of this benchmark) on a throwaway PostgreSQL. Per worker
//! count: the wall time to prove and verify `--queue-leaves` leaves asked at once, leaves per
//! second, each job's wait (queued -> verified by the node's side) mean and p95, and the workers'
//! peak memory. Worker start (loading the leaf keys) is not timed.

use std::{
    path::{Path, PathBuf},
    process::Command,
    sync::Arc,
    time::{Duration, Instant},
};

use alloy::primitives::U256;
use devnet::{ChildProcess, postgres::Postgres};
use gateway_prover::{
    BatchPublicInput, Halo2Backend, Halo2Config, ProofBackend, peak_memory_bytes,
};
use gateway_prover_queue::{Db, JobKind, QueueBackend, QueueConfig, Worker, WorkerConfig};

/// Runs one worker in this process until SIGTERM; then writes its peak memory and the jobs it
/// proved into `out/worker-<id>.json`.
pub(crate) async fn run_worker(url: &str, id: &str, out: &Path) -> eyre::Result<()> {
    let backend: Arc<dyn ProofBackend> = Arc::new(tokio::task::block_in_place(|| {
        Halo2Backend::new(Halo2Config::dev(Halo2Config::default_cache_dir()))
    })?);
    let config = WorkerConfig {
        id: id.into(),
        kinds: vec![JobKind::Leaf],
        poll_interval: Duration::from_millis(20),
        ..WorkerConfig::new()
    };
    let worker = Arc::new(Worker::new(Db::new(url)?, backend, config));
    let stop = tokio_util::sync::CancellationToken::new();
    let signal = stop.clone();
    tokio::spawn(async move {
        if let Ok(mut term) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            term.recv().await;
        }
        signal.cancel();
    });
    worker.run(stop).await?;
    let row = serde_json::json!({ "worker": id, "peak_memory_bytes": peak_memory_bytes() });
    std::fs::write(out.join(format!("worker-{id}.json")), serde_json::to_vec(&row)?)?;
    Ok(())
}

/// How long a worker may take to put its jobs back and exit after SIGTERM.
const WORKER_EXIT: Duration = Duration::from_secs(60);

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((sorted.len() as f64) * p).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// The rows for each worker count.
pub(crate) async fn measure(
    worker_counts: &[usize],
    leaves: usize,
) -> eyre::Result<Vec<serde_json::Value>> {
    let pg = tokio::task::block_in_place(Postgres::start)?;
    let url = pg.url();
    let local: Arc<dyn ProofBackend> = Arc::new(tokio::task::block_in_place(|| {
        Halo2Backend::new(Halo2Config::dev(Halo2Config::default_cache_dir()))
    })?);
    let node = QueueBackend::new(
        QueueConfig {
            poll_interval: Duration::from_millis(20),
            status_interval: Duration::from_millis(200),
            ..QueueConfig::new(url.clone())
        },
        Arc::clone(&local),
    )?;
    let exe = std::env::current_exe()?;
    let mut rows = Vec::new();
    for (round, &workers) in worker_counts.iter().enumerate() {
        let out = tempfile::tempdir()?;
        let mut children = Vec::new();
        for w in 0..workers {
            let child = Command::new(&exe)
                .args(["--worker", &url, "--worker-id", &format!("r{round}w{w}"), "--out"])
                .arg(out.path())
                .env("RUST_LOG", "warn")
                .spawn()?;
            children.push(ChildProcess(child));
        }
        let deadline = Instant::now() + Duration::from_secs(600);
        while node.jobs_status().is_none_or(|s| s.workers < workers as u64) {
            eyre::ensure!(Instant::now() < deadline, "{workers} worker(s) did not start in 600 s");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let started = Instant::now();
        let jobs: Vec<_> = (0..leaves as u64)
            .map(|i| {
                let node = node.clone();
                let input = BatchPublicInput {
                    chain_id: 270 + round as u64,
                    batch_number: i + 1,
                    value: U256::from(7_000 + i),
                };
                tokio::task::spawn_blocking(move || {
                    let asked = Instant::now();
                    node.prove_batch(&input).map(|_| asked.elapsed().as_secs_f64())
                })
            })
            .collect();
        let mut waits = Vec::with_capacity(leaves);
        for job in jobs {
            waits.push(job.await??);
        }
        let seconds = started.elapsed().as_secs_f64();
        for child in &children {
            child.signal("TERM");
        }
        for mut child in children {
            let pid = child.pid();
            child.wait_exit(WORKER_EXIT).ok_or_else(|| {
                eyre::eyre!("worker {pid} did not exit within {WORKER_EXIT:?} of SIGTERM")
            })?;
        }
        let mut peaks = Vec::new();
        for w in 0..workers {
            let path: PathBuf = out.path().join(format!("worker-r{round}w{w}.json"));
            let row: serde_json::Value = serde_json::from_slice(&std::fs::read(&path)?)?;
            peaks.push(row["peak_memory_bytes"].as_u64().unwrap_or_default());
        }
        waits.sort_by(f64::total_cmp);
        let mean = waits.iter().sum::<f64>() / waits.len().max(1) as f64;
        rows.push(serde_json::json!({
            "workers": workers,
            "leaves": leaves,
            "seconds": seconds,
            "leaves_per_second": leaves as f64 / seconds,
            "wait_mean_seconds": mean,
            "wait_p95_seconds": percentile(&waits, 0.95),
            "worker_peak_memory_bytes": peaks,
        }));
    }
    Ok(rows)
}

/// Prints the rows.
pub(crate) fn print(rows: &[serde_json::Value]) {
    println!(
        "{:>8} {:>7} {:>9} {:>10} {:>12} {:>11} {:>16}",
        "workers", "leaves", "wall s", "leaves/s", "wait mean s", "wait p95 s", "peak GB each"
    );
    for row in rows {
        let f = |k: &str| row[k].as_f64().unwrap_or_default();
        let peaks: Vec<String> = row["worker_peak_memory_bytes"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|p| format!("{:.2}", p.as_f64().unwrap_or_default() / 1e9))
            .collect();
        println!(
            "{:>8} {:>7} {:>9.2} {:>10.2} {:>12.2} {:>11.2} {:>16}",
            row["workers"],
            row["leaves"],
            f("seconds"),
            f("leaves_per_second"),
            f("wait_mean_seconds"),
            f("wait_p95_seconds"),
            peaks.join(",")
        );
    }
}
