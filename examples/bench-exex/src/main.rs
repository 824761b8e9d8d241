//! Measures the host's fan-out path: each notification is written to the WAL (fsynced) by the
//! manager and delivered to every ExEx, which reports its finished height. Two modes: a burst
//! (every notification sent at once: throughput) and paced (one at a time, finalizing the WAL as
//! it goes: the latency one block adds). Blocks carry 1,000 transactions (with receipts and a
//! log each) by default.
//!
//! Prints a table and writes `reports/bench-exex.json`.
//!
//! ```text
//! cargo run --release -p example-bench-exex -- --blocks 200 --txs 1000
//! ```

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use clap::Parser;
use exex_host::{BlockSource, ExExHandle, ExExManager, ExExNotification, TestChain, Wal};
use futures::StreamExt;
use tokio::sync::{mpsc, watch};

/// Flags of the benchmark.
#[derive(Debug, Parser)]
struct Args {
    /// Blocks per run, one notification each.
    #[arg(long, default_value_t = 200)]
    blocks: usize,
    /// Transactions per block.
    #[arg(long, default_value_t = 1000)]
    txs: usize,
    /// Where to write the JSON report.
    #[arg(long, default_value = "reports/bench-exex.json")]
    report: std::path::PathBuf,
}

/// One measured configuration.
#[derive(Debug)]
struct Row {
    exexs: usize,
    notifications: usize,
    /// Burst: every notification sent at once; the time until every ExEx had all of them.
    burst_seconds: f64,
    /// Average size of one WAL file.
    wal_bytes_per_block: u64,
    /// Paced: one notification at a time, from send until every ExEx has it.
    latency_p50_ms: f64,
    latency_p99_ms: f64,
    latency_max_ms: f64,
}

struct Harness {
    _dir: tempfile::TempDir,
    wal_dir: std::path::PathBuf,
    handle: exex_host::ExExManagerHandle,
    finalized: watch::Sender<Option<alloy::eips::BlockNumHash>>,
    done: mpsc::UnboundedReceiver<Instant>,
}

fn harness(exexs: usize, chain: &TestChain) -> eyre::Result<Harness> {
    let dir = tempfile::tempdir()?;
    let wal_dir = dir.path().join("wal");
    let wal = Wal::open(&wal_dir)?;
    let provider = chain.source().provider();
    let mut handles = Vec::new();
    let (done_tx, done) = mpsc::unbounded_channel::<Instant>();
    for id in 0..exexs {
        let (handle, events, mut notifications) =
            ExExHandle::new(format!("bench-{id}"), 1, Arc::clone(&provider), &wal);
        handles.push(handle);
        let done = done_tx.clone();
        tokio::spawn(async move {
            while let Some(Ok(notification)) = notifications.next().await {
                if let Some(new) = notification.committed_chain() {
                    let _ = events.send(exex_host::ExExEvent::FinishedHeight(new.tip().num_hash()));
                }
                let _ = done.send(Instant::now());
            }
        });
    }
    let (finalized, finalized_rx) = watch::channel(None);
    let manager = ExExManager::new(handles, 1024, wal, finalized_rx);
    let handle = manager.handle();
    tokio::spawn(manager);
    Ok(Harness { _dir: dir, wal_dir, handle, finalized, done })
}

async fn receive(
    done: &mut mpsc::UnboundedReceiver<Instant>,
    count: usize,
) -> eyre::Result<Instant> {
    let deadline = Duration::from_secs(600);
    let mut last = Instant::now();
    for _ in 0..count {
        last = tokio::time::timeout(deadline, done.recv())
            .await
            .map_err(|_| eyre::eyre!("ExExs did not finish within {deadline:?}"))?
            .ok_or_else(|| eyre::eyre!("an ExEx stopped"))?;
    }
    Ok(last)
}

async fn run(chains: &[ExExNotification], exexs: usize, chain: &TestChain) -> eyre::Result<Row> {
    // Burst, without finalization so the WAL keeps every file to measure.
    let mut burst = harness(exexs, chain)?;
    let start = Instant::now();
    for notification in chains {
        burst.handle.send_async(notification.clone()).await?;
    }
    let last = receive(&mut burst.done, chains.len() * exexs).await?;
    let burst_seconds = last.duration_since(start).as_secs_f64();
    let (mut bytes, mut files) = (0u64, 0u64);
    for entry in std::fs::read_dir(&burst.wal_dir)? {
        let entry = entry?;
        if entry.path().extension().is_some_and(|e| e == "wal") {
            bytes += entry.metadata()?.len();
            files += 1;
        }
    }

    // Paced, finalizing as it goes.
    let mut paced = harness(exexs, chain)?;
    let mut latencies = Vec::with_capacity(chains.len());
    for notification in chains {
        let sent = Instant::now();
        paced.handle.send_async(notification.clone()).await?;
        let seen = receive(&mut paced.done, exexs).await?;
        latencies.push(seen.duration_since(sent).as_secs_f64() * 1e3);
        if let Some(new) = notification.committed_chain() {
            paced.finalized.send_replace(Some(new.tip().num_hash()));
        }
    }
    latencies.sort_by(f64::total_cmp);
    let pick = |q: f64| latencies[((latencies.len() as f64 - 1.0) * q).round() as usize];
    Ok(Row {
        exexs,
        notifications: chains.len(),
        burst_seconds,
        wal_bytes_per_block: bytes / files.max(1),
        latency_p50_ms: pick(0.5),
        latency_p99_ms: pick(0.99),
        latency_max_ms: pick(1.0),
    })
}

#[tokio::main]
async fn main() -> eyre::Result<()> {
    let args = Args::parse();
    eprintln!("building {} blocks of {} transactions...", args.blocks, args.txs);
    let chain = TestChain::new();
    let notifications: Vec<ExExNotification> = (0..args.blocks)
        .map(|_| ExExNotification::ChainCommitted { new: chain.commit(1, args.txs) })
        .collect();

    let mut rows = Vec::new();
    for exexs in [1, 3] {
        rows.push(run(&notifications, exexs, &chain).await?);
    }

    println!(
        "{:>5} {:>7} {:>8} {:>12} {:>12} {:>10} {:>10} {:>10} {:>12}",
        "exexs",
        "blocks",
        "txs/blk",
        "notif/s",
        "txs/s",
        "p50 ms",
        "p99 ms",
        "max ms",
        "WAL B/block"
    );
    let mut json = Vec::new();
    for row in &rows {
        let per_second = row.notifications as f64 / row.burst_seconds;
        println!(
            "{:>5} {:>7} {:>8} {:>12.1} {:>12.0} {:>10.2} {:>10.2} {:>10.2} {:>12}",
            row.exexs,
            row.notifications,
            args.txs,
            per_second,
            per_second * args.txs as f64,
            row.latency_p50_ms,
            row.latency_p99_ms,
            row.latency_max_ms,
            row.wal_bytes_per_block
        );
        json.push(serde_json::json!({
            "exexs": row.exexs,
            "blocks": row.notifications,
            "txs_per_block": args.txs,
            "burst_seconds": row.burst_seconds,
            "notifications_per_second": per_second,
            "transactions_per_second": per_second * args.txs as f64,
            "latency_ms": { "p50": row.latency_p50_ms, "p99": row.latency_p99_ms, "max": row.latency_max_ms },
            "wal_bytes_per_block": row.wal_bytes_per_block,
        }));
    }
    if let Some(dir) = args.report.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let report = serde_json::json!({ "bench": "exex-manager-wal", "profile": if cfg!(debug_assertions) { "debug" } else { "release" }, "rows": json });
    std::fs::write(&args.report, serde_json::to_vec_pretty(&report)?)?;
    eprintln!("report written to {}", args.report.display());
    Ok(())
}
