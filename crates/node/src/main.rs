//! `gateway-node`: the ExEx host following a chain's node, with the settlement ExEx installed
//! when `--settlement.enabled` is set.
//!
//! ```text
//! gateway-node node --chain.rpc-url http://127.0.0.1:8545 --datadir ./data \
//!     --settlement.enabled --settlement.layer gateway --settlement.topology devnet.json \
//!     --settlement.operator-key-file operator.key --http --metrics 127.0.0.1:9001
//! ```

// A binary: its modules' public items are public to the binary only.
#![allow(unreachable_pub)]

mod args;
mod config_file;
mod settings;

use std::sync::Arc;

use clap::{CommandFactory, Parser};
use eyre::WrapErr;
use gateway_settlement::Settlement;
use tracing::info;

type Cli = exex_host::Cli<args::NodeExtArgs>;

fn main() -> eyre::Result<()> {
    let args = config_file::merge_config_file(std::env::args_os().collect(), &Cli::command())?;
    let cli = Cli::try_parse_from(args).unwrap_or_else(|e| e.exit());
    cli.run(async move |builder, ext| {
        if let Some(addr) = ext.metrics {
            metrics_exporter_prometheus::PrometheusBuilder::new()
                .with_http_listener(addr)
                .install()
                .wrap_err_with(|| format!("--metrics {addr}: cannot serve metrics there"))?;
            info!(target: "gateway_node", %addr, "serving metrics");
        }
        let builder = if ext.settlement.enabled {
            let chain_url = builder
                .config()
                .source_url
                .clone()
                .ok_or_else(|| eyre::eyre!("--chain.rpc-url is required for settlement"))?;
            let config = settings::settlement_config(&ext, &chain_url).await?;
            let backend = settings::proof_backend(&ext)?;
            info!(
                target: "gateway_node",
                chain = config.chain_id,
                settlement_layer = config.layer.chain_id,
                executor = %config.layer.executor,
                "settlement enabled"
            );
            let store = Arc::new(
                gateway_store::Store::open(&builder.config().datadir)
                    .wrap_err("--datadir: opening the settlement store")?,
            );
            Settlement::new(config, store, backend).install(builder)
        } else {
            builder
        };
        let host = builder.launch().await?;
        if let Some(addr) = host.rpc_addr() {
            info!(target: "gateway_node", %addr, "JSON-RPC");
        }
        host.wait_for_node_exit().await
    })
}
