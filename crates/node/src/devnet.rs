//! `gateway-node devnet`: the whole system on this machine, on embedded defaults.
//!
//! Starts L1, the Gateway and the chains on anvil (from `.tools/`), deploys and registers every
//! contract, then runs, in this process, one host per chain following the chain's node with the
//! settlement ExEx installed, and traffic on every chain (transfers and calls to a log emitter
//! whose logs are the chain's L2 -> L1 messages). A status view is printed every few seconds and
//! written to `<datadir>/status.json`. Ctrl-C (or SIGTERM, or `--duration`) stops the hosts and
//! every anvil it started, by pid.

use std::{
    path::{Path, PathBuf},
    sync::Arc,
    time::{Duration, Instant},
};

use clap::Args;
use devnet::{Devnet, DevnetConfig, DevnetProofs, InitialSettlement, Topology, Traffic};
use exex_host::{HostBuilder, HostConfig, RpcBlockSource, RpcBlockSourceConfig};
use eyre::WrapErr;
use gateway_prover::{Halo2Backend, Halo2Config, ProofBackend};
use gateway_settlement::{Settlement, SettlementConfig, SettlementStatus};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::args::ProofsArg;

/// The devnet's data directory by default.
pub const DEFAULT_DEVNET_DATADIR: &str = "./devnet-data";

/// `gateway-node devnet`.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Devnet")]
pub struct DevnetArgs {
    /// Chains that settle on the Gateway.
    #[arg(long = "chains", value_name = "N", default_value_t = 2)]
    pub chains: usize,
    /// Chains that settle directly on L1, beside those on the Gateway.
    #[arg(long = "l1-chains", value_name = "N", default_value_t = 0)]
    pub l1_chains: usize,
    /// The proof backend. `mock` is instant and accepted only by the devnet's MockVerifier;
    /// `halo2` is real and slow (the executors then check it with the generated verifier).
    #[arg(long = "proofs", value_enum, default_value = "mock", value_name = "BACKEND")]
    pub proofs: ProofsArg,
    /// With `--proofs halo2`: the Gateway's aggregated proof on L1, one aggregation of 4 leaves
    /// (`flat`) or a two-level tree of 16 (`tree`: up to 15 chain batches per Gateway batch,
    /// about five aggregations' time each).
    #[arg(long = "halo2-aggregation", value_enum, default_value = "flat", value_name = "SHAPE")]
    pub halo2_aggregation: crate::args::Halo2AggregationArg,
    /// Where the hosts keep their WALs and stores, and where the topology and status files go.
    /// Each run starts fresh: the chains' old stores are removed.
    #[arg(long = "datadir", value_name = "DIR", default_value = DEFAULT_DEVNET_DATADIR)]
    pub datadir: PathBuf,
    /// Time between traffic blocks on each chain.
    #[arg(long = "block-time", value_name = "DURATION", default_value = "1s", value_parser = humantime::parse_duration)]
    pub block_time: Duration,
    /// Transactions per traffic block.
    #[arg(long = "txs-per-block", value_name = "N", default_value_t = 4)]
    pub txs_per_block: usize,
    /// How often the status view is printed and written.
    #[arg(long = "status-interval", value_name = "DURATION", default_value = "5s", value_parser = humantime::parse_duration)]
    pub status_interval: Duration,
    /// Stop after this long (default: run until Ctrl-C).
    #[arg(long = "duration", value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub duration: Option<Duration>,
    /// Time between value rounds on each chain: a deposit from L1, a withdrawal, and the claim
    /// of each withdrawal final on L1.
    #[arg(long = "value-interval", value_name = "DURATION", default_value = "10s", value_parser = humantime::parse_duration)]
    pub value_interval: Duration,
    /// Serve each chain host's JSON-RPC (`settlement_*`) on this port plus the chain's index.
    #[arg(long = "http.port", value_name = "PORT")]
    pub http_port: Option<u16>,
}

/// Cancels its tokens when dropped: an early return stops what was started.
struct StopOnDrop(Vec<CancellationToken>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        for token in &self.0 {
            token.cancel();
        }
    }
}

/// One host of the devnet (a chain's, or the Gateway's in gateway mode) as it runs here.
struct HostRun {
    chain_id: u64,
    settlement: Settlement,
    host: JoinHandle<eyre::Result<()>>,
    stop: CancellationToken,
}

/// Runs the devnet until Ctrl-C, SIGTERM or `--duration`.
pub async fn run(args: DevnetArgs) -> eyre::Result<()> {
    let total = args.chains + args.l1_chains;
    eyre::ensure!(
        total > 0,
        "--chains {} --l1-chains {}: the devnet needs a chain",
        args.chains,
        args.l1_chains
    );
    eyre::ensure!(
        total <= 16,
        "--chains + --l1-chains = {total}: at most 16 chains on one machine"
    );
    std::fs::create_dir_all(&args.datadir)
        .wrap_err_with(|| format!("--datadir {}: cannot create it", args.datadir.display()))?;
    let chains_dir = args.datadir.join("chains");
    if chains_dir.exists() {
        std::fs::remove_dir_all(&chains_dir).wrap_err_with(|| {
            format!("removing the last run's stores in {}", chains_dir.display())
        })?;
    }
    let topology_file = args.datadir.join("topology.json");
    let mut initial = vec![InitialSettlement::Gateway; args.chains];
    initial.extend(vec![InitialSettlement::L1; args.l1_chains]);
    let (proofs, backend): (DevnetProofs, Arc<dyn ProofBackend>) = match args.proofs {
        ProofsArg::Mock => (DevnetProofs::Mock, Arc::new(gateway_prover::MockBackend::default())),
        ProofsArg::Halo2 => {
            // The one cache the node and the tests use: keys made once serve all of them.
            let cache = Halo2Config::default_cache_dir();
            info!(target: "gateway_node::devnet", cache = %cache.display(), "halo2 proofs: loading or making the SRS and leaf keys");
            let tree = args.halo2_aggregation.is_tree();
            let backend = tokio::task::spawn_blocking(move || {
                Halo2Backend::new(Halo2Config { tree, ..Halo2Config::dev(cache) })
            })
            .await?
            .map_err(|e| eyre::eyre!("--proofs halo2: {e}"))?;
            (if tree { DevnetProofs::Halo2Tree } else { DevnetProofs::Halo2 }, Arc::new(backend))
        }
    };
    info!(target: "gateway_node::devnet", chains = args.chains, l1_chains = args.l1_chains, proofs = ?proofs, "starting the devnet");
    let config = DevnetConfig { chains: initial, proofs, ..Default::default() };
    let mut devnet = Devnet::start(config, Some(&topology_file))
        .await
        .wrap_err("starting the devnet's anvil nodes")?;
    let result = run_on(&devnet.topology, &args, &chains_dir, Arc::clone(&backend)).await;
    backend.cancel();
    devnet.stop();
    info!(target: "gateway_node::devnet", "every node stopped");
    result
}

async fn run_on(
    topology: &Topology,
    args: &DevnetArgs,
    chains_dir: &Path,
    backend: Arc<dyn ProofBackend>,
) -> eyre::Result<()> {
    let traffic_stop = CancellationToken::new();
    // Whatever way this function returns, traffic and every started host stop.
    let mut guard = StopOnDrop(vec![traffic_stop.clone()]);
    let mut runs = Vec::new();
    let mut traffic_tasks = Vec::new();
    let mut values = Vec::new();
    // The Gateway's own node: gateway mode, settling the Gateway on L1.
    let topology_file = args.datadir.join("topology.json");
    let keys = args.datadir.join("keys");
    let relayer_key = write_key(&keys, "gateway-operator", &topology.gateway.governance_key)?;
    let mut flags =
        host_flags(topology, &topology_file, &relayer_key, &relayer_key, true, args.proofs);
    if topology.proofs == DevnetProofs::Halo2Tree {
        flags.extend(["--settlement.halo2-aggregation".into(), "tree".into()]);
    }
    let gateway_run = start_host(
        topology.gateway.node.chain_id,
        &topology.gateway.node.rpc_url,
        host_config(flags, &topology.gateway.node.rpc_url).await?,
        &chains_dir.join(format!("gateway-{}", topology.gateway.node.chain_id)),
        None,
        Arc::clone(&backend),
    )
    .await?;
    guard.0.push(gateway_run.stop.clone());
    for (index, chain) in topology.chains.iter().enumerate() {
        let mut traffic = Traffic::new(chain.node.rpc_url.clone(), &chain.operator_key)?;
        traffic.use_messenger(chain.interop.messenger);
        let http_port = match args.http_port {
            Some(port) => {
                Some(u16::try_from(index).ok().and_then(|i| port.checked_add(i)).ok_or_else(
                    || eyre::eyre!("--http.port {port}: no port left for chain index {index}"),
                )?)
            }
            None => None,
        };
        let key = write_key(
            &keys,
            &format!("chain-{}-operator", chain.node.chain_id),
            &chain.operator_key,
        )?;
        let flags = host_flags(topology, &topology_file, &key, &relayer_key, false, args.proofs);
        let config = host_config(flags, &chain.node.rpc_url).await?;
        runs.push(
            start_host(
                chain.node.chain_id,
                &chain.node.rpc_url,
                config,
                &chains_dir.join(chain.node.chain_id.to_string()),
                http_port,
                Arc::clone(&backend),
            )
            .await?,
        );
        guard.0.extend(runs.last().map(|r: &HostRun| r.stop.clone()));
        traffic_tasks.push(tokio::spawn(traffic_loop(
            traffic,
            args.block_time,
            args.txs_per_block,
            traffic_stop.clone(),
        )));
        let totals = Arc::new(std::sync::Mutex::new(crate::value::ValueTotals::default()));
        if let Some(run) = runs.last() {
            traffic_tasks.push(tokio::spawn(crate::value::value_loop(
                topology.clone(),
                chain.clone(),
                run.settlement.clone(),
                args.value_interval,
                Arc::clone(&totals),
                traffic_stop.clone(),
            )));
        }
        values.push((chain.node.chain_id, totals));
    }
    println!(
        "devnet up: L1 {} at {}, Gateway {} at {}, {} chains; topology in {}",
        topology.l1.node.chain_id,
        topology.l1.node.rpc_url,
        topology.gateway.node.chain_id,
        topology.gateway.node.rpc_url,
        topology.chains.len(),
        args.datadir.join("topology.json").display()
    );
    match topology.proofs {
        DevnetProofs::Mock => println!(
            "proofs: mock (instant, accepted only by the devnet's MockVerifier). Ctrl-C stops everything."
        ),
        DevnetProofs::Halo2 => println!(
            "proofs: halo2, REAL and slow (leaf proofs about 1 s each on 2 cores, checked on chain by the generated verifier; INSECURE dev SRS). Ctrl-C stops everything."
        ),
        DevnetProofs::Halo2Tree => println!(
            "proofs: halo2, REAL and slow, the Gateway's proof a tree of 16 leaves (about five aggregations per Gateway batch; INSECURE dev SRS). Ctrl-C stops everything."
        ),
    }

    let started = Instant::now();
    let deadline = args.duration.map(|d| started + d);
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let mut interrupt = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())?;
    let mut ticker = tokio::time::interval(args.status_interval);
    let outcome = loop {
        tokio::select! {
            _ = interrupt.recv() => break Ok("SIGINT"),
            _ = terminate.recv() => break Ok("SIGTERM"),
            () = sleep_until(deadline) => break Ok("--duration elapsed"),
            _ = ticker.tick() => {
                if let Some(run) = runs.iter().chain([&gateway_run]).find(|r| r.host.is_finished()) {
                    break Err(eyre::eyre!("the host of chain {} stopped", run.chain_id));
                }
                if let Err(err) = report(topology, &runs, &gateway_run, &values, started.elapsed(), &args.datadir) {
                    warn!(target: "gateway_node::devnet", %err, "status view failed");
                }
            }
        }
    };
    traffic_stop.cancel();
    for task in traffic_tasks {
        let _ = task.await;
    }
    if let Ok(why) = &outcome {
        if let Err(err) =
            report(topology, &runs, &gateway_run, &values, started.elapsed(), &args.datadir)
        {
            warn!(target: "gateway_node::devnet", %err, "status view failed");
        }
        info!(target: "gateway_node::devnet", why, "stopping");
    }
    let mut first_error = outcome.err();
    for run in runs.into_iter().chain([gateway_run]) {
        run.stop.cancel();
        match run.host.await {
            Ok(Ok(())) => {}
            Ok(Err(err)) => {
                first_error.get_or_insert(err.wrap_err(format!("chain {}", run.chain_id)));
            }
            Err(join) => {
                first_error.get_or_insert(eyre::eyre!("chain {} host task: {join}", run.chain_id));
            }
        }
    }
    first_error.map_or(Ok(()), Err)
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline.into()).await,
        None => std::future::pending().await,
    }
}

/// The flags of a devnet host, as an operator would pass them to `gateway-node node`: the
/// devnet reads them through the binary's own settings path ([`host_config`]), so nothing
/// exists only in the devnet. Small batches, so the devnet shows progress quickly.
fn host_flags(
    topology: &Topology,
    topology_file: &Path,
    key_file: &Path,
    relayer_key_file: &Path,
    gateway_mode: bool,
    proofs: ProofsArg,
) -> Vec<std::ffi::OsString> {
    let mut flags: Vec<std::ffi::OsString> = [
        "gateway-node",
        "--settlement.enabled",
        "--dev",
        "--settlement.poll-interval",
        "500ms",
        "--settlement.gateway-network",
    ]
    .into_iter()
    .map(Into::into)
    .collect();
    flags.push(topology.gateway.node.chain_id.to_string().into());
    flags.push("--settlement.proofs".into());
    flags.push(match proofs {
        ProofsArg::Mock => "mock".into(),
        ProofsArg::Halo2 => "halo2".into(),
    });
    flags.extend(["--settlement.topology".into(), topology_file.as_os_str().to_owned()]);
    flags.extend(["--settlement.operator-key-file".into(), key_file.as_os_str().to_owned()]);
    let rest: &[&str] = if gateway_mode {
        // The chains' pubdata is already on the Gateway: its own batches publish a commitment.
        &[
            "--gateway.enabled",
            "--settlement.da",
            "validium",
            "--batch.max-blocks",
            "50",
            "--batch.timeout",
            "4s",
        ]
    } else {
        // Blobs on L1; on the Gateway the settings send rollup pubdata as calldata.
        &["--settlement.da", "rollup-blobs", "--batch.max-blocks", "5", "--batch.timeout", "3s"]
    };
    flags.extend(rest.iter().map(Into::into));
    if !gateway_mode {
        // The devnet's node carries its chains' migrations to the Gateway itself.
        flags.extend([
            "--settlement.relayer-key-file".into(),
            relayer_key_file.as_os_str().to_owned(),
        ]);
    }
    flags
}

/// A host's settlement configuration from its flags, through the same checks as
/// `gateway-node node` (endpoints, contracts, keys; `--dev` allows the mock verifiers).
async fn host_config(
    flags: Vec<std::ffi::OsString>,
    rpc_url: &alloy::transports::http::reqwest::Url,
) -> eyre::Result<SettlementConfig> {
    #[derive(clap::Parser)]
    struct Flags {
        #[command(flatten)]
        ext: crate::args::NodeExtArgs,
    }
    let ext =
        <Flags as clap::Parser>::try_parse_from(flags).wrap_err("the devnet's host flags")?.ext;
    crate::settings::refuse_dev_proofs(&ext)?;
    let config = crate::settings::settlement_config(&ext, rpc_url).await?;
    crate::settings::refuse_mock_verifiers(&ext, &config).await?;
    Ok(config)
}

/// Writes `key` to `<dir>/<name>.key`, readable by its owner only.
fn write_key(dir: &Path, name: &str, key: &str) -> eyre::Result<PathBuf> {
    use std::os::unix::fs::OpenOptionsExt as _;
    std::fs::create_dir_all(dir).wrap_err_with(|| format!("creating {}", dir.display()))?;
    let path = dir.join(format!("{name}.key"));
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&path)
        .wrap_err_with(|| format!("writing {}", path.display()))?;
    std::io::Write::write_all(&mut file, key.as_bytes())?;
    Ok(path)
}

async fn start_host(
    chain_id: u64,
    rpc_url: &alloy::transports::http::reqwest::Url,
    config: SettlementConfig,
    datadir: &Path,
    http_port: Option<u16>,
    backend: Arc<dyn ProofBackend>,
) -> eyre::Result<HostRun> {
    let store = Arc::new(gateway_store::Store::open(datadir)?);
    let settlement = Settlement::new(config, store, backend)?;
    let mut source = RpcBlockSourceConfig::new(rpc_url.clone());
    source.poll_interval = Duration::from_millis(250);
    source.start_after = Some(0);
    let mut host_config = HostConfig::new(datadir);
    host_config.source_url = Some(rpc_url.clone());
    host_config.http_addr = http_port.map(|port| ([127, 0, 0, 1], port).into());
    // The admin methods: on loopback, any free port, the secret in the node's data dir.
    host_config.auth = Some(exex_host::AuthRpcConfig {
        addr: ([127, 0, 0, 1], 0).into(),
        jwt_secret: datadir.join(exex_host::auth::DEFAULT_JWT_SECRET_FILE),
    });
    let host = settlement
        .clone()
        .install(HostBuilder::new(host_config, RpcBlockSource::new(source)))
        .launch()
        .await
        .wrap_err_with(|| format!("starting the host of chain {chain_id}"))?;
    if let Some(addr) = host.rpc_addr() {
        info!(target: "gateway_node::devnet", chain = chain_id, %addr, "settlement_* JSON-RPC");
    }
    if let Some(addr) = host.auth_addr() {
        info!(target: "gateway_node::devnet", chain = chain_id, %addr, secret = %datadir.join(exex_host::auth::DEFAULT_JWT_SECRET_FILE).display(), "admin JSON-RPC (gateway-node admin --authrpc.url http://ADDR --authrpc.jwtsecret SECRET)");
    }
    let stop = host.shutdown_token();
    Ok(HostRun { chain_id, settlement, host: tokio::spawn(host.wait_for_node_exit()), stop })
}

/// One traffic block every `block_time` until stopped; failures are logged and retried.
async fn traffic_loop(traffic: Traffic, block_time: Duration, txs: usize, stop: CancellationToken) {
    loop {
        if let Err(err) = traffic.blocks(1, txs).await {
            warn!(target: "gateway_node::devnet", %err, "traffic block failed");
        }
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(block_time) => {}
        }
    }
}

/// Prints the status view and writes it to `<datadir>/status.json`.
fn report(
    topology: &Topology,
    runs: &[HostRun],
    gateway: &HostRun,
    values: &[(u64, Arc<std::sync::Mutex<crate::value::ValueTotals>>)],
    uptime: Duration,
    datadir: &Path,
) -> eyre::Result<()> {
    let statuses: Vec<SettlementStatus> =
        runs.iter().map(|r| r.settlement.status()).collect::<Result<_, _>>()?;
    let gateway_status = gateway.settlement.status()?;
    // The same view `gateway-node status --rpc-url ...` prints for running nodes.
    let chain_values = values;
    let mut values = statuses.iter().map(serde_json::to_value).collect::<Result<Vec<_>, _>>()?;
    values.push(serde_json::to_value(&gateway_status)?);
    println!("--- {}s ---", uptime.as_secs());
    print!("{}", crate::status::render(&values));
    let value_totals: Vec<(u64, crate::value::ValueTotals)> = chain_values
        .iter()
        .map(|(id, totals)| {
            (*id, *totals.lock().unwrap_or_else(std::sync::PoisonError::into_inner))
        })
        .collect();
    for (id, totals) in &value_totals {
        println!("{}", crate::value::render(*id, totals));
    }
    let json = serde_json::json!({
        "uptimeSeconds": uptime.as_secs(),
        "l1": topology.l1.node.chain_id,
        "gateway": topology.gateway.node.chain_id,
        "proofs": topology.proofs,
        "chains": statuses,
        "gatewayNode": gateway_status,
        "value": value_totals
            .iter()
            .map(|(id, totals)| serde_json::json!({"chainId": id, "totals": totals.to_json()}))
            .collect::<Vec<_>>(),
    });
    let path = datadir.join("status.json");
    let tmp = datadir.join("status.json.tmp");
    std::fs::write(&tmp, serde_json::to_vec_pretty(&json)?)?;
    std::fs::rename(&tmp, &path)?;
    Ok(())
}
