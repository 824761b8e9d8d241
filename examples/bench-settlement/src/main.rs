//! Measures the chain-side settlement ExEx, for blocks of 1, 100 and 1,000 transactions:
//!
//! - **ingest**: hand-built blocks (`TestChain`) go through the host (manager + WAL) into the
//!   settlement ExEx, which stores each block's settlement data, its pubdata (rollup DA) and its
//!   head in one fsynced redb transaction. Burst: blocks per second. Paced: the time one block
//!   takes from commit to the ExEx's finished height (what the ExEx adds per block).
//! - **seal to executed**: a devnet (real anvil L1, instant mining) and a chain settling there
//!   with blob DA and mock proofs; traffic fills blocks; for each batch, the time from its seal
//!   (seen in the store) to `totalBatchesExecuted` covering it on L1, and the L1 gas of the
//!   commit, prove and execute transactions per batch.
//!
//! Prints a table and writes `reports/bench-settlement.json`.
//!
//! ```text
//! cargo run --release -p example-bench-settlement -- --blocks 200 --batches 6
//! ```

use std::{
    collections::BTreeMap,
    sync::Arc,
    time::{Duration, Instant},
};

use clap::Parser;
use devnet::{Devnet, DevnetConfig, InitialSettlement, Traffic, signer_provider};
use exex_host::{FinishedExExHeight, HostBuilder, HostConfig, RpcBlockSourceConfig, TestChain};
use gateway_contracts::ChainExecutor;
use gateway_primitives::DaScheme;
use gateway_settlement::{
    BatchLimits, OperatorKey, Settlement, SettlementConfig, SettlementLayerEndpoint, run_exex,
};
use gateway_store::Store;

/// Flags of the benchmark.
#[derive(Debug, Parser)]
struct Args {
    /// Blocks per ingest run.
    #[arg(long, default_value_t = 200)]
    blocks: usize,
    /// Batches measured per seal-to-executed run.
    #[arg(long, default_value_t = 6)]
    batches: u64,
    /// Transactions per block, one run each.
    #[arg(long, value_delimiter = ',', default_value = "1,100,1000")]
    txs: Vec<usize>,
    /// Where to write the JSON report.
    #[arg(long, default_value = "reports/bench-settlement.json")]
    report: std::path::PathBuf,
}

/// A settlement config for `chain`'s settlement on L1 in `topology`.
fn config_for(topology: &devnet::Topology, chain: &devnet::ChainTopology) -> SettlementConfig {
    let layer = SettlementLayerEndpoint {
        chain_id: topology.l1.node.chain_id,
        rpc_url: topology.l1.node.rpc_url.clone(),
        executor: chain.l1_executor,
    };
    SettlementConfig::new(
        chain.node.chain_id,
        chain.genesis.state_commitment,
        layer,
        OperatorKey::new(chain.operator_key.clone()),
    )
}

/// Ingest results for one block size.
struct Ingest {
    blocks_per_second: f64,
    p50_ms: f64,
    p99_ms: f64,
    max_ms: f64,
}

async fn wait_finished(
    finished: &mut tokio::sync::watch::Receiver<FinishedExExHeight>,
    number: u64,
) -> eyre::Result<()> {
    let reached =
        |h: &FinishedExExHeight| matches!(h, FinishedExExHeight::Height(h) if *h >= number);
    tokio::time::timeout(Duration::from_secs(600), finished.wait_for(reached))
        .await
        .map_err(|_| eyre::eyre!("the ExEx did not finish block {number} in time"))??;
    Ok(())
}

/// Blocks through the host into the settlement ExEx's store.
async fn ingest(blocks: usize, txs: usize) -> eyre::Result<Ingest> {
    let dir = tempfile::tempdir()?;
    let chain = TestChain::new();
    let store = Arc::new(Store::open(dir.path())?);
    // The ExEx loop only; no settlement layer is needed to ingest.
    let mut config = SettlementConfig::new(
        270,
        Default::default(),
        SettlementLayerEndpoint {
            chain_id: 1,
            rpc_url: "http://127.0.0.1:1".parse()?,
            executor: Default::default(),
        },
        OperatorKey::new(""),
    );
    config.da = DaScheme::RollupCalldata;
    let config = Arc::new(config);
    let exex_store = Arc::clone(&store);
    let mut host = HostBuilder::new(HostConfig::new(dir.path()), chain.source())
        .install_exex("settlement", move |ctx| async move {
            Ok(run_exex(ctx, config, exex_store, Arc::default()))
        })
        .launch()
        .await?;
    let mut finished = host.finished_height();

    // Burst: every block committed at once.
    let start = Instant::now();
    for _ in 0..blocks {
        chain.commit(1, txs);
    }
    wait_finished(&mut finished, chain.tip().number).await?;
    let blocks_per_second = blocks as f64 / start.elapsed().as_secs_f64();

    // Paced: one block at a time.
    let mut latencies = Vec::new();
    for _ in 0..blocks.min(100) {
        let sent = Instant::now();
        chain.commit(1, txs);
        wait_finished(&mut finished, chain.tip().number).await?;
        latencies.push(sent.elapsed().as_secs_f64() * 1e3);
    }
    host.stop().await;
    latencies.sort_by(f64::total_cmp);
    let pick = |q: f64| latencies[((latencies.len() as f64 - 1.0) * q).round() as usize];
    Ok(Ingest { blocks_per_second, p50_ms: pick(0.5), p99_ms: pick(0.99), max_ms: pick(1.0) })
}

/// Seal-to-executed results for one block size.
struct Settle {
    batches: u64,
    mean_seconds: f64,
    max_seconds: f64,
    gas_per_batch: f64,
}

/// A devnet chain settling on L1 with blob DA and mock proofs.
async fn seal_to_executed(batches: u64, txs: usize) -> eyre::Result<Settle> {
    let mut devnet = Devnet::start(
        DevnetConfig { chains: vec![InitialSettlement::L1], ..Default::default() },
        None,
    )
    .await?;
    let topology = devnet.topology.clone();
    let chain = topology.chains[0].clone();
    let dir = tempfile::tempdir()?;
    let store = Arc::new(Store::open(dir.path())?);
    let mut config = config_for(&topology, &chain);
    config.da = DaScheme::RollupBlobs;
    config.limits =
        BatchLimits { max_blocks: 1, timeout: Duration::from_secs(1), ..Default::default() };
    config.poll_interval = Duration::from_millis(100);
    let mut source = RpcBlockSourceConfig::new(chain.node.rpc_url.clone());
    source.poll_interval = Duration::from_millis(50);
    source.start_after = Some(0);
    let settlement = Settlement::new(
        config,
        Arc::clone(&store),
        Arc::new(gateway_prover::MockBackend::default()),
    )?;
    let mut host = settlement
        .install(HostBuilder::new(
            HostConfig::new(dir.path()),
            exex_host::RpcBlockSource::new(source),
        ))
        .launch()
        .await?;
    let executor = ChainExecutor::new(
        chain.l1_executor,
        signer_provider(topology.l1.node.rpc_url.clone(), &chain.operator_key)?,
    );
    let traffic = Traffic::new(chain.node.rpc_url.clone(), &chain.operator_key)?;
    // The devnet's own blocks (its deployments on the chain) settle first: the batches measured
    // are the traffic's, one block each.
    let head = {
        use alloy::providers::Provider;
        traffic.provider().get_block_number().await?
    };
    let settled_before = Instant::now() + Duration::from_secs(120);
    let base = loop {
        eyre::ensure!(Instant::now() < settled_before, "the devnet's blocks did not settle");
        let executed: u64 = executor.totalBatchesExecuted().call().await?.to();
        if let Some(last) = store.last_batch()?
            && last.last_block == head
            && executed == last.number
        {
            break executed;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let l1 = signer_provider(topology.l1.node.rpc_url.clone(), &chain.operator_key)?;
    let first_l1_block = {
        use alloy::providers::Provider;
        l1.get_block_number().await? + 1
    };

    // When each batch is sealed: the store is watched every 2 ms on a task of its own (reading
    // the settlement layer's counters takes longer than sealing, proving and committing a batch
    // with mock proofs, so one loop would see some batches sealed only once executed).
    let sealed_at: Arc<std::sync::Mutex<BTreeMap<u64, Instant>>> = Arc::default();
    let watching = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let watcher = {
        let (store, sealed_at, watching) =
            (Arc::clone(&store), Arc::clone(&sealed_at), Arc::clone(&watching));
        tokio::spawn(async move {
            while watching.load(std::sync::atomic::Ordering::Relaxed) {
                if let Ok(Some(last)) = store.last_batch() {
                    let mut sealed_at = sealed_at.lock().unwrap_or_else(|e| e.into_inner());
                    for n in base + 1..=last.number {
                        sealed_at.entry(n).or_insert_with(Instant::now);
                    }
                }
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        })
    };
    let mut took = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(600);
    let producer = tokio::spawn(async move { traffic.blocks(batches as usize, txs).await });
    while (took.len() as u64) < batches {
        eyre::ensure!(Instant::now() < deadline, "batches were not executed within 10 minutes");
        let executed: u64 = executor.totalBatchesExecuted().call().await?.to();
        while (took.len() as u64) < executed.saturating_sub(base).min(batches) {
            let n = base + took.len() as u64 + 1;
            let sealed = sealed_at.lock().unwrap_or_else(|e| e.into_inner()).get(&n).copied();
            let sealed =
                sealed.ok_or_else(|| eyre::eyre!("batch {n} executed, never seen sealed"))?;
            took.push(sealed.elapsed().as_secs_f64());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    watching.store(false, std::sync::atomic::Ordering::Relaxed);
    watcher.await?;
    producer.await??;
    // The traffic's blocks (the last non-empty ones; the devnet's own deployments come first)
    // really held `txs` transactions each.
    let last = store.last_block()?.map_or(0, |b| b.number);
    let full: Vec<u32> =
        store.blocks(1..=last)?.iter().map(|b| b.tx_count).filter(|n| *n > 0).collect();
    let traffic_blocks = &full[full.len().saturating_sub(batches as usize)..];
    eyre::ensure!(
        traffic_blocks.len() as u64 == batches && traffic_blocks.iter().all(|n| *n as usize == txs),
        "expected {batches} blocks of {txs} transactions, the chain has {full:?}"
    );
    let gas = settlement_gas(&l1, chain.operator, first_l1_block).await?;
    host.stop().await;
    devnet.stop();
    let mean_seconds = took.iter().sum::<f64>() / took.len() as f64;
    let max_seconds = took.iter().copied().fold(0.0, f64::max);
    Ok(Settle { batches, mean_seconds, max_seconds, gas_per_batch: gas as f64 / batches as f64 })
}

/// Gas used by every transaction the operator sent on L1 from block `from` on (the settlement's
/// commit, prove and execute transactions).
async fn settlement_gas(
    l1: &alloy::providers::DynProvider,
    operator: alloy::primitives::Address,
    from: u64,
) -> eyre::Result<u64> {
    use alloy::{consensus::Transaction as _, providers::Provider};
    let tip = l1.get_block_number().await?;
    let mut gas = 0;
    for number in from..=tip {
        let Some(block) = l1.get_block_by_number(number.into()).full().await? else { continue };
        for tx in block.transactions.txns() {
            if tx.inner.signer() == operator
                && tx.to() != Some(operator)
                && let Some(receipt) = l1.get_transaction_receipt(*tx.inner.tx_hash()).await?
            {
                gas += receipt.gas_used;
            }
        }
    }
    Ok(gas)
}

#[tokio::main]
async fn main() -> eyre::Result<()> {
    let args = Args::parse();
    let mut rows = Vec::new();
    for &txs in &args.txs {
        eprintln!("ingest: {} blocks of {txs} transactions...", args.blocks);
        let ingest = ingest(args.blocks, txs).await?;
        eprintln!(
            "seal to executed on L1: {} batches of blocks of {txs} transactions...",
            args.batches
        );
        let settle = seal_to_executed(args.batches, txs).await?;
        rows.push((txs, ingest, settle));
    }
    println!(
        "{:>8} {:>12} {:>12} {:>10} {:>10} {:>10} {:>12} {:>12} {:>14}",
        "txs/blk",
        "ingest b/s",
        "ingest tx/s",
        "p50 ms",
        "p99 ms",
        "max ms",
        "seal->exec s",
        "max s",
        "L1 gas/batch"
    );
    let mut json = Vec::new();
    for (txs, ingest, settle) in &rows {
        println!(
            "{:>8} {:>12.1} {:>12.0} {:>10.2} {:>10.2} {:>10.2} {:>12.2} {:>12.2} {:>14.0}",
            txs,
            ingest.blocks_per_second,
            ingest.blocks_per_second * *txs as f64,
            ingest.p50_ms,
            ingest.p99_ms,
            ingest.max_ms,
            settle.mean_seconds,
            settle.max_seconds,
            settle.gas_per_batch
        );
        json.push(serde_json::json!({
            "txs_per_block": txs,
            "ingest": {
                "blocks": args.blocks,
                "blocks_per_second": ingest.blocks_per_second,
                "latency_ms": { "p50": ingest.p50_ms, "p99": ingest.p99_ms, "max": ingest.max_ms },
            },
            "seal_to_executed_on_l1": {
                "batches": settle.batches,
                "mean_seconds": settle.mean_seconds,
                "max_seconds": settle.max_seconds,
                "l1_gas_per_batch": settle.gas_per_batch,
                "da": "rollup-blobs",
                "proofs": "mock",
            },
        }));
    }
    if let Some(dir) = args.report.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let report = serde_json::json!({
        "bench": "settlement",
        "profile": if cfg!(debug_assertions) { "debug" } else { "release" },
        "rows": json,
    });
    std::fs::write(&args.report, serde_json::to_vec_pretty(&report)?)?;
    eprintln!("report written to {}", args.report.display());
    Ok(())
}
