//! Benchmark (not a test): a chain with steady traffic (a block of 2 transactions every 250 ms)
//! switches its settlement layer L1 → Gateway → L1 … in-process, mock proofs, on a real anvil
//! devnet. For each migration: time until it completes, time until the first batch is executed
//! on the new layer (from the `migrate` call), and blocks the chain produced meanwhile. Prints a
//! table and writes `reports/bench-migration.json`.
//!
//! ```text
//! cargo run --release -p example-bench-migration [-- --migrations 6]
//! ```

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use devnet::{Devnet, DevnetConfig, InitialSettlement, Traffic};
use e2e_tests::fixtures::{
    chain_config, gateway_config, migration_config, start_host, start_settlement,
};
use eyre::{WrapErr, bail};
use gateway_settlement::{BatchLimits, LayerKind, Settlement, SettlementStatus};

const WAIT: Duration = Duration::from_secs(120);

/// One migration's measurements.
struct Row {
    to: LayerKind,
    complete_ms: u128,
    first_batch_ms: u128,
    blocks_meanwhile: u64,
    drained_through: u64,
}

async fn wait_for(
    settlement: &Settlement,
    what: &str,
    check: impl Fn(&SettlementStatus) -> bool,
) -> eyre::Result<SettlementStatus> {
    let deadline = Instant::now() + WAIT;
    loop {
        let status = settlement.status()?;
        if check(&status) {
            return Ok(status);
        }
        if Instant::now() > deadline {
            bail!("timed out waiting for {what}: {status:?}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> eyre::Result<()> {
    let mut migrations = 6usize;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--migrations" => {
                let value = args.next().unwrap_or_default();
                migrations = value
                    .parse()
                    .wrap_err_with(|| format!("--migrations {value:?}: expected a number"))?;
            }
            other => bail!("unknown argument {other:?}; known: --migrations N"),
        }
    }
    let devnet = Devnet::start(
        DevnetConfig { chains: vec![InitialSettlement::L1], ..Default::default() },
        None,
    )
    .await?;
    let topology = devnet.topology.clone();
    let chain = topology.chains[0].clone();
    let mut config = chain_config(&topology, &chain);
    config.limits =
        BatchLimits { max_blocks: 4, timeout: Duration::from_secs(1), ..Default::default() };
    config.poll_interval = Duration::from_millis(100);
    config.migration = Some(migration_config(&topology, &chain));
    // The Gateway's own node settles the chain's Gateway batches on L1 (a move back to L1 waits
    // for the chain's last batch there to be L1-final).
    let gateway_dir = tempfile::tempdir()?;
    let (mut gateway_host, _) =
        start_host(gateway_config(&topology), &topology.gateway.node.rpc_url, gateway_dir.path())
            .await?;
    let dir = tempfile::tempdir()?;
    let (mut host, _, settlement) =
        start_settlement(config, &chain.node.rpc_url, dir.path()).await?;

    let stop = Arc::new(AtomicBool::new(false));
    let traffic = Traffic::new(chain.node.rpc_url.clone(), &chain.operator_key)?;
    let flag = Arc::clone(&stop);
    let traffic_task = tokio::spawn(async move {
        while !flag.load(Ordering::Relaxed) {
            traffic.blocks(1, 2).await?;
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        Ok::<_, devnet::DevnetError>(())
    });
    wait_for(&settlement, "two batches on L1", |s| s.on_chain.executed >= 2).await?;

    let mut rows = Vec::new();
    for i in 0..migrations {
        let to = if i % 2 == 0 { LayerKind::Gateway } else { LayerKind::L1 };
        let started = Instant::now();
        let head_before = settlement.status()?.chain_head.unwrap_or_default();
        let record = settlement.migrate(to, "bench").await?;
        let done = wait_for(&settlement, "the migration", |s| {
            s.migration.as_ref().is_some_and(|m| m.id == record.id && m.phase == "completed")
        })
        .await?;
        let complete_ms = started.elapsed().as_millis();
        let drained = done.migration.and_then(|m| m.drained_through).unwrap_or_default();
        let first =
            wait_for(&settlement, "a batch on the new layer", |s| s.on_chain.executed > drained)
                .await?;
        rows.push(Row {
            to,
            complete_ms,
            first_batch_ms: started.elapsed().as_millis(),
            blocks_meanwhile: first.chain_head.unwrap_or_default().saturating_sub(head_before),
            drained_through: drained,
        });
    }
    stop.store(true, Ordering::Relaxed);
    traffic_task.await??;
    host.stop().await;
    gateway_host.stop().await;

    println!(
        "| # | to | drained through | migration complete (ms) | first batch executed on new SL (ms) | blocks meanwhile |"
    );
    println!("|---:|---|---:|---:|---:|---:|");
    for (i, row) in rows.iter().enumerate() {
        println!(
            "| {} | {} | {} | {} | {} | {} |",
            i + 1,
            row.to.as_str(),
            row.drained_through,
            row.complete_ms,
            row.first_batch_ms,
            row.blocks_meanwhile
        );
    }
    let report = serde_json::json!({
        "traffic": "one block of 2 txs every 250 ms",
        "proofs": "mock",
        "migrations": rows.iter().map(|r| serde_json::json!({
            "to": r.to.as_str(),
            "drainedThrough": r.drained_through,
            "completeMs": r.complete_ms as u64,
            "firstBatchExecutedMs": r.first_batch_ms as u64,
            "blocksMeanwhile": r.blocks_meanwhile,
        })).collect::<Vec<_>>(),
    });
    std::fs::create_dir_all("reports")?;
    std::fs::write("reports/bench-migration.json", serde_json::to_vec_pretty(&report)?)?;
    eprintln!("report written to reports/bench-migration.json");
    Ok(())
}
