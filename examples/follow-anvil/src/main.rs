//! Starts an anvil node from the project's tools folder, sends a steady traffic mix to it
//! (transfers and calls to a contract that emits logs), follows it through the ExEx host with an
//! ExEx that prints every notification, and stops everything on Ctrl-C (or after `--blocks`).
//!
//! ```text
//! cargo run -p example-follow-anvil -- --blocks 20
//! ```

use std::time::Duration;

use alloy::consensus::BlockHeader as _;
use clap::Parser;
use devnet::{Anvil, AnvilConfig, DEV_ACCOUNT_KEYS, Traffic};
use exex_host::{
    ExExContext, ExExNotification, HostBuilder, HostConfig, RpcBlockSource, RpcBlockSourceConfig,
};
use futures::TryStreamExt;
use tracing::info;

/// Flags of the example.
#[derive(Debug, Parser)]
#[command(about = "follow a local anvil chain through the ExEx host")]
struct Args {
    /// Stop after this many blocks (default: run until Ctrl-C).
    #[arg(long)]
    blocks: Option<u64>,
    /// Mine a block this often.
    #[arg(long, default_value = "1s", value_parser = humantime::parse_duration)]
    block_time: Duration,
    /// Transactions per block.
    #[arg(long, default_value_t = 4)]
    txs_per_block: usize,
    /// Where the host keeps its WAL (default: a temporary directory).
    #[arg(long)]
    datadir: Option<std::path::PathBuf>,
}

/// The ExEx: prints each notification and reports it finished.
async fn printer(mut ctx: ExExContext, stop_after: Option<u64>) -> eyre::Result<()> {
    let mut seen = 0u64;
    while let Some(notification) = ctx.notifications.try_next().await? {
        if let Some(old) = notification.reverted_chain() {
            println!("{:<10} blocks {:?}", notification.kind(), old.range());
        }
        if let Some(new) = notification.committed_chain() {
            for (block, receipts) in new.blocks_and_receipts() {
                let logs: usize = receipts.iter().map(|r| r.logs.len()).sum();
                println!(
                    "{:<10} block {:>5} {} txs {:>3} logs {:>3} gas {:>8}",
                    notification.kind(),
                    block.number(),
                    block.hash(),
                    receipts.len(),
                    logs,
                    block.gas_used()
                );
                seen += 1;
            }
            ctx.send_finished_height(new.tip().num_hash())?;
        }
        if stop_after.is_some_and(|n| seen >= n) {
            // Parks instead of returning: an ExEx that returns stops the host with an error.
            ctx.components.shutdown.cancel();
            std::future::pending::<()>().await;
        }
        if matches!(notification, ExExNotification::ChainReorged { .. }) {
            info!(target: "example", "reorg handled");
        }
    }
    Ok(())
}

#[tokio::main]
async fn main() -> eyre::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let args = Args::parse();
    let temp = tempfile_dir()?;
    let datadir = args.datadir.clone().unwrap_or_else(|| temp.clone());

    let anvil = Anvil::spawn(AnvilConfig::default())?;
    info!(target: "example", pid = anvil.pid(), endpoint = %anvil.endpoint(), "anvil started");
    let mut traffic = Traffic::new(anvil.endpoint(), DEV_ACCOUNT_KEYS[0])?;
    traffic.deploy_emitter().await?;

    let mut source = RpcBlockSourceConfig::new(anvil.endpoint());
    source.poll_interval = Duration::from_millis(200);
    let stop_after = args.blocks;
    let host = HostBuilder::new(HostConfig::new(&datadir), RpcBlockSource::new(source))
        .install_exex("printer", async move |ctx| Ok(printer(ctx, stop_after)))
        .launch()
        .await?;
    let shutdown = host.shutdown_token();

    let sender = tokio::spawn({
        let shutdown = shutdown.clone();
        async move {
            let mut tick = tokio::time::interval(args.block_time);
            loop {
                tokio::select! {
                    () = shutdown.cancelled() => return Ok::<_, eyre::Report>(()),
                    _ = tick.tick() => traffic.blocks(1, args.txs_per_block).await?,
                }
            }
        }
    });

    let result = tokio::select! {
        result = host.wait_for_node_exit() => result,
        _ = tokio::signal::ctrl_c() => {
            info!(target: "example", "ctrl-c: stopping");
            shutdown.cancel();
            Ok(())
        }
    };
    shutdown.cancel();
    let _ = tokio::time::timeout(Duration::from_secs(5), sender).await;
    drop(anvil);
    if args.datadir.is_none() {
        let _ = std::fs::remove_dir_all(&temp);
    }
    result
}

fn tempfile_dir() -> eyre::Result<std::path::PathBuf> {
    let dir = std::env::temp_dir().join(format!("follow-anvil-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}
