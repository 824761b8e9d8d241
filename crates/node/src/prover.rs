//! `gateway-node prover`: a proof worker for nodes started with `--prover.queue`. It runs on
//! any machine that reaches the queue's PostgreSQL, claims jobs of its kinds, proves them with
//! its backend and writes the results back; the node verifies each before using it.

use std::{net::SocketAddr, path::PathBuf, sync::Arc, time::Duration};

use clap::Args;
use eyre::WrapErr;
use gateway_prover_queue::{Db, JobKind, Worker, WorkerConfig};
use tokio_util::sync::CancellationToken;
use tracing::info;

use crate::args::ProofsArg;

/// `gateway-node prover`.
#[derive(Debug, Args)]
pub struct ProverArgs {
    /// The queue: the PostgreSQL database the nodes' `--prover.queue` names.
    #[arg(long = "queue", env = "GATEWAY_PROVER_QUEUE", value_name = "URL")]
    pub queue: String,
    /// CA certificates (PEM) to trust for the queue's TLS certificate, beside the system's
    /// (TLS follows the address's `sslmode`: `require` for TLS only).
    #[arg(long = "queue-ca-file", env = "GATEWAY_PROVER_QUEUE_CA_FILE", value_name = "FILE")]
    pub queue_ca_file: Option<PathBuf>,
    /// The kinds of job this worker takes, comma-separated: `leaf`, `aggregate` (every
    /// aggregation, a tree's groups and top included), or only a tree's `group` or `top` jobs
    /// (the top needs the most memory).
    #[arg(
        long = "kinds",
        env = "GATEWAY_PROVER_KINDS",
        value_delimiter = ',',
        default_value = "leaf,aggregate",
        value_name = "KINDS"
    )]
    pub kinds: Vec<JobKind>,
    /// Jobs proved at once (a halo2 aggregation takes several GB of memory each).
    #[arg(
        long = "concurrency",
        env = "GATEWAY_PROVER_CONCURRENCY",
        default_value_t = 1,
        value_parser = clap::value_parser!(u32).range(1..=256),
        value_name = "N"
    )]
    pub concurrency: u32,
    /// How long a claimed job stays this worker's without a renewal (renewed every third of
    /// it); a worker that dies gives its jobs back after this.
    #[arg(
        long = "lease",
        env = "GATEWAY_PROVER_LEASE",
        default_value = "30s",
        value_parser = parse_lease,
        value_name = "DURATION"
    )]
    pub lease: Duration,
    /// Its name in the queue (default: host name and process id).
    #[arg(long = "worker-id", env = "GATEWAY_PROVER_WORKER_ID", value_name = "ID")]
    pub worker_id: Option<String>,
    /// The proof backend: the nodes' `--settlement.proofs` (a worker takes only jobs of its
    /// own backend).
    #[arg(
        long = "proofs",
        env = "GATEWAY_PROVER_PROOFS",
        value_enum,
        default_value = "halo2",
        value_name = "BACKEND"
    )]
    pub proofs: ProofsArg,
    /// A ceremony SRS file for halo2 (the nodes' `--settlement.srs-file`); without it the
    /// INSECURE dev SRS.
    #[arg(long = "srs-file", env = "GATEWAY_PROVER_SRS_FILE", value_name = "FILE")]
    pub srs_file: Option<PathBuf>,
    /// Where the halo2 SRS and keys are cached (default: the one shared cache).
    #[arg(long = "halo2-cache-dir", env = "GATEWAY_PROVER_HALO2_CACHE_DIR", value_name = "DIR")]
    pub halo2_cache_dir: Option<PathBuf>,
    /// Serve Prometheus metrics on this address.
    #[arg(long = "metrics", env = "GATEWAY_PROVER_METRICS", value_name = "ADDR")]
    pub metrics: Option<SocketAddr>,
    /// Put every failed job back in the queue (attempts reset), print how many, and exit.
    #[arg(long = "retry-failed")]
    pub retry_failed: bool,
}

fn parse_lease(text: &str) -> Result<Duration, String> {
    let lease = humantime::parse_duration(text).map_err(|e| e.to_string())?;
    if lease < Duration::from_millis(300) {
        return Err("a lease shorter than 300ms expires between renewals".into());
    }
    Ok(lease)
}

/// Runs the worker until Ctrl-C or SIGTERM (running jobs go back to the queue), or puts failed
/// jobs back with `--retry-failed`.
pub async fn run(args: ProverArgs) -> eyre::Result<()> {
    let db = Db::with_ca_file(&args.queue, args.queue_ca_file.as_deref())
        .map_err(|e| eyre::eyre!("--queue: {e}"))?;
    if args.retry_failed {
        let count = gateway_prover_queue::retry_failed(&db)
            .await
            .map_err(|e| eyre::eyre!("--retry-failed: {e}"))?;
        println!("{count} failed job(s) put back in the queue at {}", db.url());
        return Ok(());
    }
    if let Some(addr) = args.metrics {
        crate::metrics_builder()?
            .with_http_listener(addr)
            .install()
            .wrap_err_with(|| format!("--metrics {addr}: cannot serve metrics there"))?;
        info!(target: "gateway_node", %addr, "serving metrics");
    }
    gateway_prover_queue::describe();
    let cache_dir =
        args.halo2_cache_dir.clone().unwrap_or_else(gateway_prover::Halo2Config::default_cache_dir);
    let backend = crate::settings::local_backend(
        args.proofs,
        args.srs_file.as_deref(),
        &cache_dir,
        // The shape comes with each aggregation job (the node's own setting).
        crate::args::Halo2AggregationArg::Flat,
        "--proofs",
    )?;
    let mut config = WorkerConfig::new();
    if let Some(id) = args.worker_id {
        config.id = id;
    }
    config.kinds = args.kinds;
    config.concurrency = args.concurrency as usize;
    config.lease = args.lease;
    let worker = Arc::new(Worker::new(db, backend, config));
    let shutdown = CancellationToken::new();
    let stop = shutdown.clone();
    let signals = tokio::spawn(async move {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(term) => term,
                Err(_) => return,
            };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
        stop.cancel();
    });
    let result = worker.run(shutdown).await.map_err(|e| eyre::eyre!("--queue: {e}"));
    signals.abort();
    result
}
