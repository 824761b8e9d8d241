//! A node of your own with the settlement ExEx in it.
//!
//! This is what an operator with a custom node writes: a [`exex_host::Cli`] extended with flags of
//! its own (`--custom.*`), an ExEx of its own (`block-reporter`, which logs every N blocks and
//! answers `custom_blocksSeen`), and the settlement ExEx from `gateway-settlement`, installed with
//! `install_exex` and its `settlement_*` RPC merged into the node's server.
//!
//! ```text
//! example-custom-node node --chain.rpc-url http://127.0.0.1:8545 --datadir ./data --http \
//!     --custom.topology devnet.json --custom.chain-id 270 --custom.report-every 5
//! ```
//!
//! It reads the chain's settlement layer, executor and operator key from a devnet topology file
//! and proves with the mock backend, which only the devnet's `MockVerifier` accepts: a production
//! node builds its [`gateway_settlement::SettlementConfig`] from its own settings and plugs in a
//! real [`gateway_prover::ProofBackend`].

use std::{
    path::PathBuf,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
};

use devnet::Topology;
use exex_host::{ExExContext, HostBuilder};
use eyre::WrapErr;
use futures::TryStreamExt;
use gateway_settlement::{
    OperatorKey, SETTLEMENT_EXEX_ID, Settlement, SettlementConfig, SettlementLayerEndpoint,
};
use jsonrpsee::RpcModule;
use tracing::info;

/// This node's own flags, beside the host's.
#[derive(Debug, Clone, clap::Args)]
#[command(next_help_heading = "Custom node")]
struct CustomArgs {
    /// The devnet topology file: the chain's settlement layer, executor and operator key.
    #[arg(long = "custom.topology", value_name = "FILE")]
    topology: PathBuf,
    /// The chain this node settles.
    #[arg(long = "custom.chain-id", value_name = "ID")]
    chain_id: u64,
    /// The block reporter logs a line every this many blocks.
    #[arg(long = "custom.report-every", value_name = "BLOCKS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..))]
    report_every: u64,
}

/// The settlement settings of `chain_id` from a devnet topology file.
fn settlement_config(args: &CustomArgs) -> eyre::Result<SettlementConfig> {
    let topology = Topology::load(&args.topology)
        .wrap_err_with(|| format!("--custom.topology {}", args.topology.display()))?;
    let chain = topology.chain(args.chain_id).ok_or_else(|| {
        eyre::eyre!(
            "--custom.chain-id {}: not in the topology (it has {:?})",
            args.chain_id,
            topology.chains.iter().map(|c| c.node.chain_id).collect::<Vec<_>>()
        )
    })?;
    let (node, executor) = topology.initial_layer(chain);
    let layer = SettlementLayerEndpoint {
        chain_id: node.chain_id,
        rpc_url: node.rpc_url.clone(),
        executor,
    };
    Ok(SettlementConfig::new(
        args.chain_id,
        chain.genesis.state_commitment,
        layer,
        OperatorKey::new(chain.operator_key.clone()),
    ))
}

/// This node's own ExEx: counts blocks, logs every `every`, and reports its finished height.
async fn block_reporter(
    mut ctx: ExExContext,
    seen: Arc<AtomicU64>,
    every: u64,
) -> eyre::Result<()> {
    while let Some(notification) = ctx.notifications.try_next().await? {
        if let Some(reverted) = notification.reverted_chain() {
            seen.fetch_sub(reverted.len() as u64, Ordering::Relaxed);
        }
        if let Some(committed) = notification.committed_chain() {
            for number in committed.blocks().keys() {
                let total = seen.fetch_add(1, Ordering::Relaxed) + 1;
                if total.is_multiple_of(every) {
                    info!(target: "custom_node::reporter", blocks = total, tip = number, "blocks seen");
                }
            }
            ctx.send_finished_height(committed.tip().num_hash())?;
        }
    }
    Ok(())
}

/// Installs both ExExs and their RPC methods.
fn install(builder: HostBuilder, args: &CustomArgs) -> eyre::Result<HostBuilder> {
    let config = settlement_config(args)?;
    let store = Arc::new(
        gateway_store::Store::open(&builder.config().datadir)
            .wrap_err("opening the settlement store")?,
    );
    let settlement =
        Settlement::new(config, store, Arc::new(gateway_prover::MockBackend::default()))?;
    let seen = Arc::new(AtomicU64::new(0));
    let mut custom = RpcModule::new(Arc::clone(&seen));
    custom.register_method("custom_blocksSeen", |_, seen, _| seen.load(Ordering::Relaxed))?;
    // Reads on --http; the admin methods (pause, migrate, ...) only on the authenticated
    // listener (--authrpc.*).
    let (settlement_rpc, settlement_admin) =
        (settlement.rpc_module(), settlement.admin_rpc_module());
    let every = args.report_every;
    Ok(builder
        .extend_rpc_modules(move |ctx| {
            ctx.modules.merge(settlement_rpc)?;
            ctx.auth_modules.merge(settlement_admin)?;
            ctx.modules.merge(custom)?;
            Ok(())
        })
        .install_exex(SETTLEMENT_EXEX_ID, move |ctx| async move { Ok(settlement.run(ctx)) })
        .install_exex(
            "block-reporter",
            move |ctx| async move { Ok(block_reporter(ctx, seen, every)) },
        ))
}

fn main() -> eyre::Result<()> {
    exex_host::Cli::<CustomArgs>::parse_args().run(async move |builder, args| {
        let host = install(builder, &args)?.launch().await?;
        match host.rpc_addr() {
            Some(addr) => info!(target: "custom_node", %addr, chain = args.chain_id, "custom node running"),
            None => info!(target: "custom_node", chain = args.chain_id, "custom node running (no --http: no RPC)"),
        }
        host.wait_for_node_exit().await
    })
}
