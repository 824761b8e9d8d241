//! [`Cli`]: the host's command line, extensible with an ExEx's own flags (reth's `Cli<Ext>`).

use std::{future::Future, net::IpAddr, path::PathBuf, time::Duration};

use alloy::transports::http::reqwest::Url;
use clap::{Args, Parser, Subcommand};
use tracing::info;

use crate::{
    DEFAULT_CATCH_UP_RANGE, DEFAULT_MAX_REORG_DEPTH, DEFAULT_WAL_BLOCKS_WARNING, HostBuilder,
    HostConfig, RpcBlockSource, RpcBlockSourceConfig,
};

/// How long a stopping process waits for blocking work (a proof job) before it exits.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// The default data directory.
pub const DEFAULT_DATADIR: &str = "./data";
/// The default JSON-RPC listen address.
pub const DEFAULT_HTTP_ADDR: &str = "127.0.0.1";
/// The default JSON-RPC port.
pub const DEFAULT_HTTP_PORT: u16 = 8645;

/// No extra flags.
#[derive(Debug, Clone, Copy, Default, Args)]
#[non_exhaustive]
pub struct NoArgs;

/// The host's command line; `Ext` adds an ExEx's own flags to `node`.
#[derive(Debug, Parser)]
#[command(version, about = "runs ExExs on the blocks of a followed Ethereum node")]
pub struct Cli<Ext: Args = NoArgs> {
    /// What to run.
    #[command(subcommand)]
    pub command: Commands<Ext>,
}

/// The host's commands.
#[derive(Debug, Subcommand)]
pub enum Commands<Ext: Args> {
    /// Follow a node and run the installed ExExs.
    Node(NodeCommand<Ext>),
}

/// `node`: the host's flags and the extension's.
#[derive(Debug, Args)]
pub struct NodeCommand<Ext: Args> {
    /// The host's own flags.
    #[command(flatten)]
    pub node: NodeArgs,
    /// The extension's flags.
    #[command(flatten)]
    pub ext: Ext,
}

/// The host's flags.
#[derive(Debug, Clone, PartialEq, Eq, Args)]
#[command(next_help_heading = "Host")]
pub struct NodeArgs {
    /// Where the host keeps its WAL and the ExExs their stores.
    #[arg(long = "datadir", value_name = "DIR", env = "GATEWAY_DATADIR", default_value = DEFAULT_DATADIR)]
    pub datadir: PathBuf,
    /// The JSON-RPC endpoint of the node to follow.
    #[arg(long = "chain.rpc-url", value_name = "URL", env = "GATEWAY_CHAIN_RPC_URL")]
    pub chain_rpc_url: Url,
    /// How often to poll the followed node.
    #[arg(long = "chain.poll-interval", value_name = "DURATION", default_value = "1s", value_parser = humantime::parse_duration)]
    pub chain_poll_interval: Duration,
    /// Only deliver blocks this many blocks below the node's tip.
    #[arg(long = "chain.confirmations", value_name = "BLOCKS", default_value_t = 0)]
    pub chain_confirmations: u64,
    /// On a first start, deliver the blocks after this one (default: start at the tip).
    #[arg(long = "chain.start-after", value_name = "BLOCK")]
    pub chain_start_after: Option<u64>,
    /// How many delivered blocks to keep for reorgs.
    #[arg(long = "chain.max-reorg-depth", value_name = "BLOCKS", default_value_t = DEFAULT_MAX_REORG_DEPTH)]
    pub chain_max_reorg_depth: usize,
    /// How many blocks one notification carries at most while catching up.
    #[arg(long = "chain.catch-up-range", value_name = "BLOCKS", default_value_t = DEFAULT_CATCH_UP_RANGE)]
    pub chain_catch_up_range: u64,
    /// Serve JSON-RPC (the ExExs' namespaces).
    #[arg(long = "http")]
    pub http: bool,
    /// The JSON-RPC listen address.
    #[arg(long = "http.addr", value_name = "ADDR", default_value = DEFAULT_HTTP_ADDR)]
    pub http_addr: IpAddr,
    /// The JSON-RPC port.
    #[arg(long = "http.port", value_name = "PORT", default_value_t = DEFAULT_HTTP_PORT)]
    pub http_port: u16,
    /// Warn when the WAL holds more blocks than this.
    #[arg(long = "exex.wal-blocks-warning", value_name = "BLOCKS", default_value_t = DEFAULT_WAL_BLOCKS_WARNING)]
    pub wal_blocks_warning: usize,
}

impl NodeArgs {
    /// The host configuration these flags describe.
    pub fn host_config(&self) -> HostConfig {
        let mut config = HostConfig::new(&self.datadir);
        config.http_addr = self.http.then(|| (self.http_addr, self.http_port).into());
        config.wal_blocks_warning = self.wal_blocks_warning;
        config.source_url = Some(self.chain_rpc_url.clone());
        config
    }

    /// The block source these flags describe.
    pub fn source_config(&self) -> RpcBlockSourceConfig {
        let mut config = RpcBlockSourceConfig::new(self.chain_rpc_url.clone());
        config.poll_interval = self.chain_poll_interval;
        config.confirmations = self.chain_confirmations;
        config.start_after = self.chain_start_after;
        config.max_reorg_depth = self.chain_max_reorg_depth;
        config.catch_up_range = self.chain_catch_up_range;
        config
    }
}

impl<Ext: Args> Cli<Ext> {
    /// Parses the process arguments.
    pub fn parse_args() -> Self {
        Self::parse()
    }

    /// Runs the command: builds the host from the flags and hands it, with the extension's
    /// flags, to `launcher`, which installs ExExs, launches and waits. SIGINT (Ctrl-C) and
    /// SIGTERM stop it cleanly.
    pub fn run<L, Fut>(self, launcher: L) -> eyre::Result<()>
    where
        L: FnOnce(HostBuilder, Ext) -> Fut,
        Fut: Future<Output = eyre::Result<()>>,
    {
        let Commands::Node(command) = self.command;
        let _ = tracing_subscriber::fmt()
            .with_env_filter(
                tracing_subscriber::EnvFilter::try_from_default_env()
                    .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
            )
            .try_init();
        let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
        let result = runtime.block_on(async move {
            let source = RpcBlockSource::new(command.node.source_config());
            let builder = HostBuilder::new(command.node.host_config(), source);
            let mut terminate =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
            tokio::select! {
                result = launcher(builder, command.ext) => result,
                _ = tokio::signal::ctrl_c() => {
                    info!(target: "exex::host", "SIGINT: stopping");
                    Ok(())
                }
                _ = terminate.recv() => {
                    info!(target: "exex::host", "SIGTERM: stopping");
                    Ok(())
                }
            }
        });
        // Blocking work (a proof, a key generation) cannot be interrupted: what is persisted
        // is safe, so the process does not wait for it.
        runtime.shutdown_timeout(SHUTDOWN_GRACE);
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Args)]
    struct ExtArgs {
        #[arg(long = "settlement.enabled")]
        enabled: bool,
    }

    #[test]
    fn parses_node_flags_and_extension() {
        let cli = Cli::<ExtArgs>::try_parse_from([
            "host",
            "node",
            "--chain.rpc-url",
            "http://127.0.0.1:8545",
            "--chain.poll-interval",
            "250ms",
            "--http",
            "--http.port",
            "9000",
            "--settlement.enabled",
        ])
        .unwrap();
        let Commands::Node(command) = cli.command;
        assert!(command.ext.enabled);
        assert_eq!(command.node.chain_poll_interval, Duration::from_millis(250));
        let config = command.node.host_config();
        assert_eq!(config.http_addr, Some("127.0.0.1:9000".parse().unwrap()));
        assert_eq!(command.node.source_config().poll_interval, Duration::from_millis(250));
    }

    #[test]
    fn rejects_a_bad_url_naming_the_flag() {
        let err = Cli::<NoArgs>::try_parse_from(["host", "node", "--chain.rpc-url", "not a url"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("--chain.rpc-url"), "{err}");
    }

    #[test]
    fn http_is_off_by_default() {
        let cli = Cli::<NoArgs>::try_parse_from(["host", "node", "--chain.rpc-url", "http://x:1"])
            .unwrap();
        let Commands::Node(command) = cli.command;
        assert_eq!(command.node.host_config().http_addr, None);
    }
}
