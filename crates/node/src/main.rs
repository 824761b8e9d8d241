//! `gateway-node`: the ExEx host following a chain's node, with the settlement ExEx installed
//! when `--settlement.enabled` is set; and `gateway-node devnet`, the whole system on anvil.
//!
//! ```text
//! gateway-node node --chain.rpc-url http://127.0.0.1:8545 --datadir ./data \
//!     --settlement.enabled --settlement.layer gateway --settlement.topology devnet.json \
//!     --settlement.operator-key-file operator.key --http --metrics 127.0.0.1:9001
//! gateway-node devnet --chains 2
//! gateway-node admin settlement_migrate '{"to": "l1"}'
//! gateway-node ecosystem init --l1-rpc-url URL --gateway-rpc-url URL --topology topology.json ...
//! gateway-node chain init --topology topology.json --chain-rpc-url URL ...
//! gateway-node status --rpc-url http://127.0.0.1:8545
//! gateway-node prover --queue postgres://prover@db:5432/proofs --kinds leaf --concurrency 4
//! ```

// A binary: its modules' public items are public to the binary only.
#![allow(unreachable_pub)]

mod admin;
mod args;
mod config_file;
mod devnet;
mod init;
mod prover;
mod settings;
mod status;
mod value;

use std::sync::Arc;

use clap::{CommandFactory, Parser, Subcommand};
use eyre::WrapErr;
use gateway_settlement::Settlement;
use tracing::info;

/// The `gateway-node` command line.
#[derive(Debug, Parser)]
#[command(
    name = "gateway-node",
    version,
    about = "settles a ZK chain on L1 or a Gateway from inside its node"
)]
struct GatewayCli {
    #[command(subcommand)]
    command: GatewayCommand,
}

#[derive(Debug, Subcommand)]
enum GatewayCommand {
    /// Follow a chain's node and run the ExExs (the settlement ExEx with --settlement.enabled).
    Node(Box<exex_host::NodeCommand<args::NodeExtArgs>>),
    /// Start L1, the Gateway and chains on anvil, every chain settling; Ctrl-C stops everything.
    Devnet(devnet::DevnetArgs),
    /// Call an admin method on a node's authenticated JSON-RPC (`--authrpc.*`); prints JSON.
    Admin(admin::AdminArgs),
    /// Print the status table of running nodes (`settlement_status` over their JSON-RPC).
    Status(status::StatusArgs),
    /// The shared contracts on L1 and the Gateway (`ecosystem init`).
    #[command(subcommand)]
    Ecosystem(init::EcosystemCommand),
    /// A chain's contracts and registration (`chain init`).
    #[command(subcommand)]
    Chain(init::ChainCommand),
    /// A proof worker for nodes started with `--prover.queue`: claims jobs from PostgreSQL,
    /// proves them, writes the results back (the node verifies each).
    Prover(prover::ProverArgs),
}

fn main() -> eyre::Result<()> {
    let args =
        config_file::merge_config_file(std::env::args_os().collect(), &GatewayCli::command())?;
    let cli = GatewayCli::try_parse_from(args).unwrap_or_else(|e| e.exit());
    match cli.command {
        GatewayCommand::Node(command) => run_node(*command),
        GatewayCommand::Devnet(args) => run_devnet(args),
        GatewayCommand::Admin(args) => {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            runtime.block_on(admin::run(args))
        }
        GatewayCommand::Status(args) => {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            runtime.block_on(status::run(args))
        }
        GatewayCommand::Ecosystem(init::EcosystemCommand::Init(args)) => {
            init_logs();
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            runtime.block_on(init::ecosystem_init(args))
        }
        GatewayCommand::Prover(args) => {
            let _ = tracing_subscriber::fmt()
                .with_writer(std::io::stderr)
                .with_env_filter(
                    tracing_subscriber::EnvFilter::try_from_default_env()
                        .unwrap_or_else(|_| "info".into()),
                )
                .try_init();
            let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
            let result = runtime.block_on(prover::run(args));
            // A halo2 proof in a blocking thread cannot be interrupted: its job is back in the
            // queue already, so the process does not wait for it.
            runtime.shutdown_timeout(std::time::Duration::from_secs(2));
            result
        }
        GatewayCommand::Chain(init::ChainCommand::Init(args)) => {
            init_logs();
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            runtime.block_on(init::chain_init(args))
        }
    }
}

/// Logs of the one-shot commands go to stderr (their result is printed on stdout).
fn init_logs() {
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "warn,devnet=info".into()),
        )
        .try_init();
}

/// `gateway-node devnet`: logs go to stderr so the status view on stdout stays readable.
fn run_devnet(args: devnet::DevnetArgs) -> eyre::Result<()> {
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "warn,gateway_node=info,devnet=info".into()),
        )
        .try_init();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let result = runtime.block_on(devnet::run(args));
    // Every node is stopped by now; a proof job or an SRS/key generation in a blocking thread
    // cannot be interrupted, so the process does not wait for it.
    runtime.shutdown_timeout(std::time::Duration::from_secs(5));
    result
}

/// The Prometheus exporter: histograms as Prometheus histograms (`_bucket` series, which
/// `histogram_quantile` and the dashboard read), with buckets per kind of value.
fn metrics_builder() -> eyre::Result<metrics_exporter_prometheus::PrometheusBuilder> {
    use metrics_exporter_prometheus::Matcher;
    const SECONDS: &[f64] = &[
        0.1, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0, 7200.0,
        21600.0, 86400.0,
    ];
    const GAS_PER_TX: &[f64] = &[10.0, 100.0, 300.0, 1e3, 3e3, 1e4, 3e4, 1e5, 3e5, 1e6, 3e6, 1e7];
    Ok(metrics_exporter_prometheus::PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), SECONDS)?
        .set_buckets_for_metric(Matcher::Full("settlement_l1_gas_per_l2_tx".into()), GAS_PER_TX)?)
}

/// Cancels the proof backend's jobs when the node stops (also when a signal drops the node's
/// future), so the process does not wait for a long proof to finish.
struct CancelOnDrop(Arc<dyn gateway_prover::ProofBackend>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.cancel();
    }
}

fn run_node(command: exex_host::NodeCommand<args::NodeExtArgs>) -> eyre::Result<()> {
    let cli = exex_host::Cli { command: exex_host::Commands::Node(command) };
    cli.run(async move |builder, ext| {
        if let Some(addr) = ext.metrics {
            metrics_builder()?
                .with_http_listener(addr)
                .install()
                .wrap_err_with(|| format!("--metrics {addr}: cannot serve metrics there"))?;
            info!(target: "gateway_node", %addr, "serving metrics");
        }
        let mut cancel_proofs = None;
        if !ext.settlement.enabled && ext.prover.queue.is_some() {
            eyre::bail!(
                "--prover.queue needs --settlement.enabled: without the settlement ExEx the node proves nothing"
            );
        }
        let builder = if ext.settlement.enabled {
            settings::refuse_dev_proofs(&ext)?;
            // Checked before anything connects (an error never shows the password).
            if let Some(url) = &ext.prover.queue {
                gateway_prover_queue::check_url(url).map_err(|e| eyre::eyre!("--prover.queue: {e}"))?;
            }
            let chain_url = builder
                .config()
                .source_url
                .clone()
                .ok_or_else(|| eyre::eyre!("--chain.rpc-url is required for settlement"))?;
            let config = settings::settlement_config(&ext, &chain_url).await?;
            settings::refuse_mock_verifiers(&ext, &config).await?;
            let backend = settings::proof_backend(&ext)?;
            settings::refuse_aggregation_mismatch(&ext, &config, backend.as_ref()).await?;
            cancel_proofs = Some(CancelOnDrop(Arc::clone(&backend)));
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
            Settlement::new(config, store, backend)
                .wrap_err("--settlement.*: the settlement ExEx cannot start")?
                .install(builder)
        } else {
            builder
        };
        let (builder, _public_rpc) = match ext.gateway.public_rpc {
            Some(addr) => {
                let upstream = builder.config().source_url.clone().ok_or_else(|| {
                    eyre::eyre!("--gateway.public-rpc needs --chain.rpc-url (the Gateway's sequencer)")
                })?;
                let allowlist = Arc::new(
                    gateway_mode::DeploymentAllowlist::open(
                        builder.config().datadir.join("gateway"),
                        &ext.gateway.deployers,
                    )
                    .wrap_err("--gateway.deployers: opening the deployment allowlist")?,
                );
                let mut front_config = gateway_mode::PublicRpcConfig::new(addr, upstream);
                front_config.traces_per_second = ext.gateway.traces_per_second;
                front_config.trace_burst = ext.gateway.trace_burst;
                let front = gateway_mode::PublicRpc::start(front_config, Arc::clone(&allowlist))
                .await
                .wrap_err_with(|| format!("--gateway.public-rpc {addr}"))?;
                info!(target: "gateway_node", addr = %front.local_addr(), "Gateway public JSON-RPC (deployment allowlist)");
                let admin = allowlist.admin_rpc_module();
                let builder = builder.extend_rpc_modules(move |ctx| {
                    ctx.auth_modules.merge(admin)?;
                    Ok(())
                });
                (builder, Some(front))
            }
            None => (builder, None),
        };
        let host = builder.launch().await?;
        if let Some(addr) = host.rpc_addr() {
            info!(target: "gateway_node", %addr, "JSON-RPC");
        }
        let result = host.wait_for_node_exit().await;
        drop(cancel_proofs);
        result
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    /// The `gateway-node` commands of `docs/operators.md`'s `sh` blocks, continuation lines
    /// joined, split as a shell would (single quotes kept together).
    fn documented_commands() -> Vec<Vec<String>> {
        let doc = std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/operators.md"),
        )
        .unwrap();
        let mut commands = Vec::new();
        let (mut in_block, mut line) = (false, String::new());
        for text in doc.lines() {
            if text.starts_with("```") {
                in_block = text == "```sh";
                continue;
            }
            if !in_block {
                continue;
            }
            line.push_str(text.trim_end_matches('\\').trim());
            line.push(' ');
            if text.ends_with('\\') {
                continue;
            }
            let command = std::mem::take(&mut line);
            if !command.starts_with("gateway-node ") {
                continue;
            }
            let mut words = Vec::new();
            let (mut word, mut quoted) = (String::new(), false);
            for c in command.chars() {
                match c {
                    '\'' => quoted = !quoted,
                    ' ' if !quoted => {
                        if !word.is_empty() {
                            words.push(std::mem::take(&mut word));
                        }
                    }
                    c => word.push(c),
                }
            }
            commands.push(words);
        }
        commands
    }

    /// Every command `docs/operators.md` shows parses with the binary's flags, and every flag
    /// and admin method it uses is one a test runs.
    #[test]
    fn docs_commands_parse() {
        let commands = documented_commands();
        let subcommands: std::collections::BTreeSet<String> =
            commands.iter().filter_map(|c| c.get(1..3)).map(|c| c.join(" ")).collect();
        for wanted in ["ecosystem init", "chain init", "status --rpc-url", "admin --authrpc.url"] {
            assert!(subcommands.iter().any(|s| s.starts_with(wanted)), "{wanted}: {subcommands:?}");
        }
        assert!(commands.iter().filter(|c| c[1] == "node").count() >= 2, "both nodes");
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let mut tests = String::new();
        // Every test source, folders of shared helpers (`tests/common/`) included.
        let mut dirs = vec![root.join("crates/node/tests"), root.join("tests/tests")];
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    dirs.push(path);
                } else if path.extension().is_some_and(|e| e == "rs") {
                    tests.push_str(&std::fs::read_to_string(&path).unwrap());
                }
            }
        }
        for command in commands {
            if let Err(err) = GatewayCli::try_parse_from(&command) {
                panic!("docs/operators.md: {command:?} does not parse: {err}");
            }
            for word in
                command.iter().filter(|w| w.starts_with("--") || w.starts_with("settlement_"))
            {
                assert!(
                    tests.contains(&format!("\"{word}")),
                    "docs/operators.md uses {word}, which no test runs"
                );
            }
        }
    }
}
