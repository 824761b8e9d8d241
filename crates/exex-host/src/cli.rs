//! [`Cli`]: the host's command line, extensible with an ExEx's own flags (reth's `Cli<Ext>`).

use std::{future::Future, net::IpAddr, path::PathBuf, time::Duration};

use alloy::transports::http::reqwest::Url;
use clap::{Args, Parser, Subcommand, ValueEnum};
use eyre::WrapErr;
use tracing::info;
use tracing_subscriber::{EnvFilter, fmt::writer::BoxMakeWriter};

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

/// The default authenticated JSON-RPC listen address.
pub const DEFAULT_AUTHRPC_ADDR: &str = "127.0.0.1";
/// The default authenticated JSON-RPC port.
pub const DEFAULT_AUTHRPC_PORT: u16 = 8646;

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
    #[arg(long = "datadir", env = "GATEWAY_DATADIR", value_name = "DIR", default_value = DEFAULT_DATADIR)]
    pub datadir: PathBuf,
    /// The JSON-RPC endpoint of the node to follow.
    #[arg(long = "chain.rpc-url", env = "GATEWAY_CHAIN_RPC_URL", value_name = "URL")]
    pub chain_rpc_url: Url,
    /// How often to poll the followed node.
    #[arg(long = "chain.poll-interval", env = "GATEWAY_CHAIN_POLL_INTERVAL", value_name = "DURATION", default_value = "1s", value_parser = humantime::parse_duration)]
    pub chain_poll_interval: Duration,
    /// Only deliver blocks this many blocks below the node's tip.
    #[arg(
        long = "chain.confirmations",
        env = "GATEWAY_CHAIN_CONFIRMATIONS",
        value_name = "BLOCKS",
        default_value_t = 0
    )]
    pub chain_confirmations: u64,
    /// On a first start, deliver the blocks after this one (default: start at the tip).
    #[arg(long = "chain.start-after", env = "GATEWAY_CHAIN_START_AFTER", value_name = "BLOCK")]
    pub chain_start_after: Option<u64>,
    /// How many delivered blocks to keep for reorgs.
    #[arg(long = "chain.max-reorg-depth", env = "GATEWAY_CHAIN_MAX_REORG_DEPTH", value_name = "BLOCKS", default_value_t = DEFAULT_MAX_REORG_DEPTH)]
    pub chain_max_reorg_depth: usize,
    /// How many blocks one notification carries at most while catching up.
    #[arg(long = "chain.catch-up-range", env = "GATEWAY_CHAIN_CATCH_UP_RANGE", value_name = "BLOCKS", default_value_t = DEFAULT_CATCH_UP_RANGE)]
    pub chain_catch_up_range: u64,
    /// Serve JSON-RPC (the ExExs' namespaces).
    #[arg(long = "http", env = "GATEWAY_HTTP")]
    pub http: bool,
    /// The JSON-RPC listen address.
    #[arg(long = "http.addr", env = "GATEWAY_HTTP_ADDR", value_name = "ADDR", default_value = DEFAULT_HTTP_ADDR)]
    pub http_addr: IpAddr,
    /// The JSON-RPC port.
    #[arg(long = "http.port", env = "GATEWAY_HTTP_PORT", value_name = "PORT", default_value_t = DEFAULT_HTTP_PORT)]
    pub http_port: u16,
    /// The authenticated JSON-RPC listen address: the admin methods (everything that changes
    /// the node's settlement or allowlists) are served only there, to requests with a JWT.
    #[arg(long = "authrpc.addr", env = "GATEWAY_AUTHRPC_ADDR", value_name = "ADDR", default_value = DEFAULT_AUTHRPC_ADDR)]
    pub authrpc_addr: IpAddr,
    /// The authenticated JSON-RPC port.
    #[arg(long = "authrpc.port", env = "GATEWAY_AUTHRPC_PORT", value_name = "PORT", default_value_t = DEFAULT_AUTHRPC_PORT)]
    pub authrpc_port: u16,
    /// The file holding the authenticated JSON-RPC's secret (64 hex characters; made with mode
    /// 0600 when missing). Default: `<datadir>/jwt.hex`.
    #[arg(long = "authrpc.jwtsecret", env = "GATEWAY_AUTHRPC_JWTSECRET", value_name = "FILE")]
    pub authrpc_jwtsecret: Option<PathBuf>,
    /// Warn when the WAL holds more blocks than this.
    #[arg(long = "exex.wal-blocks-warning", env = "GATEWAY_EXEX_WAL_BLOCKS_WARNING", value_name = "BLOCKS", default_value_t = DEFAULT_WAL_BLOCKS_WARNING)]
    pub wal_blocks_warning: usize,
    /// Logging.
    #[command(flatten)]
    pub log: LogArgs,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line (for log collectors).
    Json,
}

/// When log lines are colored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogColor {
    /// When writing to a terminal.
    Auto,
    /// Always.
    Always,
    /// Never.
    Never,
}

/// `--log.*`: what is logged, how, and where.
#[derive(Debug, Clone, PartialEq, Eq, Args)]
#[command(next_help_heading = "Logging")]
pub struct LogArgs {
    /// What to log, as `tracing` directives (`info,settlement=debug`); without it `RUST_LOG`,
    /// else `info`.
    #[arg(long = "log.filter", env = "GATEWAY_LOG_FILTER", value_name = "DIRECTIVES")]
    pub filter: Option<String>,
    /// How lines are written.
    #[arg(
        long = "log.format",
        env = "GATEWAY_LOG_FORMAT",
        value_enum,
        value_name = "FORMAT",
        default_value = "text"
    )]
    pub format: LogFormat,
    /// Append log lines to this file instead of standard output.
    #[arg(long = "log.file", env = "GATEWAY_LOG_FILE", value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// When to color text lines (never in a file).
    #[arg(
        long = "log.color",
        env = "GATEWAY_LOG_COLOR",
        value_enum,
        value_name = "WHEN",
        default_value = "auto"
    )]
    pub color: LogColor,
}

impl Default for LogArgs {
    fn default() -> Self {
        Self { filter: None, format: LogFormat::Text, file: None, color: LogColor::Auto }
    }
}

impl LogArgs {
    /// The filter these flags ask for; a bad directive is an error naming `--log.filter`.
    pub fn env_filter(&self) -> eyre::Result<EnvFilter> {
        match &self.filter {
            Some(directives) => EnvFilter::try_new(directives)
                .wrap_err_with(|| format!("--log.filter {directives:?}: not a valid filter")),
            None => {
                Ok(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")))
            }
        }
    }

    /// Installs the global subscriber these flags describe (once per process; later calls
    /// change nothing). A file that cannot be opened is an error naming `--log.file`.
    pub fn init(&self) -> eyre::Result<()> {
        use std::io::IsTerminal;
        let filter = self.env_filter()?;
        let (writer, ansi) = match &self.file {
            Some(path) => {
                let file = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .wrap_err_with(|| {
                        format!("--log.file {}: cannot append to it", path.display())
                    })?;
                (BoxMakeWriter::new(std::sync::Mutex::new(file)), false)
            }
            None => {
                let ansi = match self.color {
                    LogColor::Auto => std::io::stdout().is_terminal(),
                    LogColor::Always => true,
                    LogColor::Never => false,
                };
                (BoxMakeWriter::new(std::io::stdout), ansi)
            }
        };
        let builder =
            tracing_subscriber::fmt().with_env_filter(filter).with_writer(writer).with_ansi(ansi);
        let _ = match self.format {
            LogFormat::Text => builder.try_init(),
            LogFormat::Json => builder.json().try_init(),
        };
        Ok(())
    }
}

impl NodeArgs {
    /// The host configuration these flags describe.
    pub fn host_config(&self) -> HostConfig {
        let mut config = HostConfig::new(&self.datadir);
        config.http_addr = self.http.then(|| (self.http_addr, self.http_port).into());
        config.auth = Some(crate::AuthRpcConfig {
            addr: (self.authrpc_addr, self.authrpc_port).into(),
            jwt_secret: self
                .authrpc_jwtsecret
                .clone()
                .unwrap_or_else(|| self.datadir.join(crate::auth::DEFAULT_JWT_SECRET_FILE)),
        });
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
        command.node.log.init()?;
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
        #[arg(long = "settlement.enabled", env = "GATEWAY_SETTLEMENT_ENABLED")]
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
    fn log_flags_parse_and_a_bad_filter_names_its_flag() {
        let cli = Cli::<NoArgs>::try_parse_from([
            "host",
            "node",
            "--chain.rpc-url",
            "http://x:1",
            "--log.filter",
            "info,settlement=debug",
            "--log.format",
            "json",
            "--log.file",
            "/var/log/node.log",
            "--log.color",
            "never",
        ])
        .unwrap();
        let Commands::Node(command) = cli.command;
        let log = &command.node.log;
        assert_eq!(log.filter.as_deref(), Some("info,settlement=debug"));
        assert_eq!(
            (log.format, log.color, log.file.as_deref()),
            (LogFormat::Json, LogColor::Never, Some(std::path::Path::new("/var/log/node.log")))
        );
        assert!(log.env_filter().is_ok());
        let bad = LogArgs { filter: Some("x=[nope".into()), ..LogArgs::default() };
        let err = bad.env_filter().unwrap_err().to_string();
        assert!(err.contains("--log.filter"), "{err}");
        let err = Cli::<NoArgs>::try_parse_from([
            "host",
            "node",
            "--chain.rpc-url",
            "http://x:1",
            "--log.format",
            "xml",
        ])
        .unwrap_err()
        .to_string();
        assert!(err.contains("--log.format"), "{err}");
    }

    #[test]
    fn http_is_off_by_default() {
        let cli = Cli::<NoArgs>::try_parse_from(["host", "node", "--chain.rpc-url", "http://x:1"])
            .unwrap();
        let Commands::Node(command) = cli.command;
        assert_eq!(command.node.host_config().http_addr, None);
    }
}
