//! Benchmark (not a test): the devnet's whole settlement pipeline in one process under steady
//! traffic — the Gateway's own node (gateway mode) and chains on the Gateway and on L1, each
//! with its settlement ExEx (mock proofs) and a short `retention` — while the process's resident
//! memory and the size of every datadir are sampled as the chains grow. It shows whether
//! memory stays flat after warm-up and whether disk stays bounded by the retention.
//!
//! Prints a table of samples and writes `reports/bench-soak.json`.
//!
//! ```text
//! cargo run --release -p example-bench-soak [-- --blocks 10000 --txs 20 --retention-s 120]
//! ```

use std::{
    path::Path,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use devnet::{Devnet, DevnetConfig, InitialSettlement, Traffic};
use e2e_tests::fixtures::{chain_config, gateway_config, migration_config, start_settlement};
use eyre::{WrapErr, bail};
use gateway_settlement::Settlement;

/// Blocks each traffic call mines before the progress counter moves.
const BLOCKS_PER_CALL: usize = 10;

/// Flags.
struct Args {
    /// Blocks per chain.
    blocks: u64,
    /// Transactions per block.
    txs: usize,
    /// Chains settling on the Gateway (one more settles on L1).
    gateway_chains: usize,
    /// Retention of L1-final batches' data, on the chains' clocks (seconds).
    retention_s: u64,
    /// Samples taken over the run.
    samples: u64,
}

impl Args {
    fn parse() -> eyre::Result<Self> {
        let mut parsed =
            Self { blocks: 10_000, txs: 20, gateway_chains: 3, retention_s: 120, samples: 40 };
        let mut args = std::env::args().skip(1);
        while let Some(arg) = args.next() {
            let value = args.next().ok_or_else(|| eyre::eyre!("{arg} needs a value"))?;
            let number = || value.parse::<u64>().wrap_err_with(|| format!("{arg} {value}"));
            match arg.as_str() {
                "--blocks" => parsed.blocks = number()?,
                "--txs" => parsed.txs = number()? as usize,
                "--gateway-chains" => parsed.gateway_chains = number()? as usize,
                "--retention-s" => parsed.retention_s = number()?,
                "--samples" => parsed.samples = number()?.max(2),
                other => bail!(
                    "unknown flag {other}: --blocks N, --txs N, --gateway-chains N, --retention-s N, --samples N"
                ),
            }
        }
        Ok(parsed)
    }
}

/// One sample.
struct Sample {
    seconds: f64,
    /// The fewest blocks any chain's traffic has mined so far.
    blocks: u64,
    rss_bytes: u64,
    datadir_bytes: u64,
    /// Blocks still in the nodes' stores (summed).
    stored_blocks: u64,
    /// The highest batch executed per node, summed.
    executed: u64,
}

/// The process's resident set size (`VmRSS`).
fn rss_bytes() -> eyre::Result<u64> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    let kb = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .ok_or_else(|| eyre::eyre!("no VmRSS in /proc/self/status"))?;
    Ok(kb * 1024)
}

/// Bytes of every file under `dir`.
fn dir_bytes(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else { return 0 };
    entries
        .filter_map(Result::ok)
        .map(|entry| match entry.metadata() {
            Ok(meta) if meta.is_dir() => dir_bytes(&entry.path()),
            Ok(meta) => meta.len(),
            Err(_) => 0,
        })
        .sum()
}

fn sample(
    started: Instant,
    progress: &[Arc<AtomicU64>],
    data: &Path,
    nodes: &[Settlement],
) -> eyre::Result<Sample> {
    let mut stored_blocks = 0;
    let mut executed = 0;
    for node in nodes {
        let status = node.status()?;
        executed += status.on_chain.executed;
        if let (Some(head), Some(oldest)) = (status.chain_head, status.oldest_stored_block) {
            stored_blocks += head + 1 - oldest;
        }
    }
    Ok(Sample {
        seconds: started.elapsed().as_secs_f64(),
        blocks: progress.iter().map(|p| p.load(Ordering::Relaxed)).min().unwrap_or_default(),
        rss_bytes: rss_bytes()?,
        datadir_bytes: dir_bytes(data),
        stored_blocks,
        executed,
    })
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> eyre::Result<()> {
    let args = Args::parse()?;
    let mut chains = vec![InitialSettlement::Gateway; args.gateway_chains];
    chains.push(InitialSettlement::L1);
    // anvil would write every historical state of 40,000+ blocks to disk (tens of GB): it
    // keeps the last 256 in memory instead; the pipeline reads logs and the latest state only.
    let devnet = Devnet::start(
        DevnetConfig { chains, prune_history: Some(256), ..Default::default() },
        None,
    )
    .await?;
    let topology = &devnet.topology;
    let data = tempfile::tempdir()?;
    let retention = Duration::from_secs(args.retention_s);

    let mut nodes = Vec::new();
    let mut hosts = Vec::new();
    let mut gateway = gateway_config(topology);
    gateway.retention = retention;
    let (host, _, node) =
        start_settlement(gateway, &topology.gateway.node.rpc_url, &data.path().join("gateway"))
            .await?;
    hosts.push(host);
    nodes.push(node);
    for chain in &topology.chains {
        let mut config = chain_config(topology, chain);
        // Both layers known: the chain on L1 knows it is there (its executed batches are
        // L1-final); the chains on the Gateway read L1 finality.
        config.migration = Some(migration_config(topology, chain));
        config.retention = retention;
        let dir = data.path().join(format!("chain-{}", chain.node.chain_id));
        let (host, _, node) = start_settlement(config, &chain.node.rpc_url, &dir).await?;
        hosts.push(host);
        nodes.push(node);
    }

    // Traffic on every chain until each has mined `blocks` blocks.
    let mut progress = Vec::new();
    let mut traffic = Vec::new();
    for chain in &topology.chains {
        let counter = Arc::new(AtomicU64::new(0));
        progress.push(Arc::clone(&counter));
        let generator = Traffic::new(chain.node.rpc_url.clone(), &chain.operator_key)?;
        let (blocks, txs) = (args.blocks, args.txs);
        traffic.push(tokio::spawn(async move {
            while counter.load(Ordering::Relaxed) < blocks {
                generator.blocks(BLOCKS_PER_CALL, txs).await?;
                counter.fetch_add(BLOCKS_PER_CALL as u64, Ordering::Relaxed);
            }
            Ok::<_, devnet::DevnetError>(())
        }));
    }

    let started = Instant::now();
    let step = (args.blocks / args.samples).max(1);
    let mut samples = vec![sample(started, &progress, data.path(), &nodes)?];
    let mut next = step;
    // Each chain mines its blocks in minutes; a stalled run is an error, not a hang.
    let deadline = started + Duration::from_secs(3 * 3600);
    loop {
        let done = progress.iter().all(|p| p.load(Ordering::Relaxed) >= args.blocks);
        let reached = progress.iter().map(|p| p.load(Ordering::Relaxed)).min().unwrap_or_default();
        if reached >= next || done {
            samples.push(sample(started, &progress, data.path(), &nodes)?);
            let last = samples.last().map(|s| (s.blocks, s.rss_bytes, s.datadir_bytes));
            if let Some((blocks, rss, disk)) = last {
                eprintln!(
                    "{blocks:>6} blocks  rss {:>7.1} MB  datadir {:>7.1} MB",
                    rss as f64 / 1e6,
                    disk as f64 / 1e6
                );
            }
            next = reached + step;
        }
        if done {
            break;
        }
        if Instant::now() > deadline {
            bail!("the traffic did not reach {} blocks per chain in 3 hours", args.blocks);
        }
        // A traffic task that ended short of its blocks failed: say why.
        if let Some(i) = traffic
            .iter()
            .zip(&progress)
            .position(|(t, p)| t.is_finished() && p.load(Ordering::Relaxed) < args.blocks)
        {
            traffic.remove(i).await?.wrap_err("traffic")?;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    for handle in traffic {
        handle.await?.wrap_err("traffic")?;
    }
    for mut host in hosts {
        host.stop().await;
    }

    // Warm-up: the first quarter of the run. After it, memory should stay flat and disk bounded.
    let warm = samples.iter().position(|s| s.blocks >= args.blocks / 4).unwrap_or(0);
    let after = &samples[warm..];
    let rss_at_warm = after.first().map_or(0, |s| s.rss_bytes);
    let rss_max = after.iter().map(|s| s.rss_bytes).max().unwrap_or_default();
    let rss_end = after.last().map_or(0, |s| s.rss_bytes);
    let disk_at_warm = after.first().map_or(0, |s| s.datadir_bytes);
    let disk_max = after.iter().map(|s| s.datadir_bytes).max().unwrap_or_default();
    let disk_end = after.last().map_or(0, |s| s.datadir_bytes);
    let growth = |end: u64, start: u64| {
        if start == 0 { 0.0 } else { (end as f64 - start as f64) / start as f64 * 100.0 }
    };

    println!("| seconds | blocks/chain | RSS MB | datadir MB | stored blocks | executed batches |");
    println!("|---:|---:|---:|---:|---:|---:|");
    for s in &samples {
        println!(
            "| {:.0} | {} | {:.1} | {:.1} | {} | {} |",
            s.seconds,
            s.blocks,
            s.rss_bytes as f64 / 1e6,
            s.datadir_bytes as f64 / 1e6,
            s.stored_blocks,
            s.executed
        );
    }
    println!(
        "after warm-up ({} blocks/chain): RSS {:.1} -> {:.1} MB (max {:.1}, {:+.1}%), datadir {:.1} -> {:.1} MB (max {:.1}, {:+.1}%)",
        after.first().map_or(0, |s| s.blocks),
        rss_at_warm as f64 / 1e6,
        rss_end as f64 / 1e6,
        rss_max as f64 / 1e6,
        growth(rss_end, rss_at_warm),
        disk_at_warm as f64 / 1e6,
        disk_end as f64 / 1e6,
        disk_max as f64 / 1e6,
        growth(disk_end, disk_at_warm),
    );

    let report = serde_json::json!({
        "blocks_per_chain": args.blocks,
        "txs_per_block": args.txs,
        "chains_on_gateway": args.gateway_chains,
        "chains_on_l1": 1,
        "retention_seconds": args.retention_s,
        "wall_seconds": started.elapsed().as_secs_f64(),
        "warm_up_blocks": after.first().map_or(0, |s| s.blocks),
        "rss_bytes": { "at_warm_up": rss_at_warm, "max_after": rss_max, "end": rss_end,
            "growth_percent": growth(rss_end, rss_at_warm) },
        "datadir_bytes": { "at_warm_up": disk_at_warm, "max_after": disk_max, "end": disk_end,
            "growth_percent": growth(disk_end, disk_at_warm) },
        "samples": samples.iter().map(|s| serde_json::json!({
            "seconds": s.seconds,
            "blocks_per_chain": s.blocks,
            "rss_bytes": s.rss_bytes,
            "datadir_bytes": s.datadir_bytes,
            "stored_blocks": s.stored_blocks,
            "executed_batches": s.executed,
        })).collect::<Vec<_>>(),
    });
    std::fs::create_dir_all("reports")?;
    std::fs::write("reports/bench-soak.json", serde_json::to_vec_pretty(&report)?)?;
    eprintln!("report written to reports/bench-soak.json");
    Ok(())
}
