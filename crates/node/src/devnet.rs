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
use devnet::{
    ChainTopology, Devnet, DevnetConfig, DevnetProofs, InitialSettlement, Topology, Traffic,
};
use exex_host::{HostBuilder, HostConfig, RpcBlockSource, RpcBlockSourceConfig};
use eyre::WrapErr;
use gateway_primitives::DaScheme;
use gateway_prover::{Halo2Backend, Halo2Config, ProofBackend};
use gateway_settlement::{
    BatchLimits, GatewayMode, InteropConfig, L1FinalitySource, MessageRootSource, MigrationConfig,
    OperatorKey, Settlement, SettlementConfig, SettlementLayerEndpoint, SettlementStatus,
};
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
            let backend =
                tokio::task::spawn_blocking(move || Halo2Backend::new(Halo2Config::dev(cache)))
                    .await?
                    .map_err(|e| eyre::eyre!("--proofs halo2: {e}"))?;
            (DevnetProofs::Halo2, Arc::new(backend))
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
    // The Gateway's own node: gateway mode, settling the Gateway on L1.
    let gateway_run = start_host(
        topology.gateway.node.chain_id,
        &topology.gateway.node.rpc_url,
        devnet_gateway_config(topology),
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
        let config = devnet_settlement_config(topology, chain);
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
                if let Err(err) = report(topology, &runs, &gateway_run, started.elapsed(), &args.datadir) {
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
        if let Err(err) = report(topology, &runs, &gateway_run, started.elapsed(), &args.datadir) {
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

/// The settlement settings of a devnet chain: blobs on L1, calldata on the Gateway, small
/// batches so the devnet shows progress quickly.
pub fn devnet_settlement_config(topology: &Topology, chain: &ChainTopology) -> SettlementConfig {
    let (node, executor) = topology.initial_layer(chain);
    let da = match chain.initial_settlement {
        InitialSettlement::L1 => DaScheme::RollupBlobs,
        InitialSettlement::Gateway => DaScheme::RollupCalldata,
    };
    let layer = SettlementLayerEndpoint {
        chain_id: node.chain_id,
        rpc_url: node.rpc_url.clone(),
        executor,
    };
    let mut config = SettlementConfig::new(
        chain.node.chain_id,
        chain.genesis.state_commitment,
        layer,
        OperatorKey::new(chain.operator_key.clone()),
    );
    config.da = da;
    config.limits =
        BatchLimits { max_blocks: 5, timeout: Duration::from_secs(3), ..Default::default() };
    config.poll_interval = Duration::from_millis(500);
    config.migration = Some(devnet_migration_config(topology, chain));
    if !chain.interop.messenger.is_zero() {
        config.messenger = Some(chain.interop.messenger);
        config.interop = Some(devnet_interop_config(topology, chain));
    }
    if chain.initial_settlement == InitialSettlement::Gateway {
        config.l1_finality = Some(L1FinalitySource {
            l1_rpc_url: topology.l1.node.rpc_url.clone(),
            gateway_executor: topology.gateway_l1_executor,
        });
    }
    config
}

/// A devnet chain's interop settings: its `InteropRoots` and importer, both `MessageRoot`s, and
/// the Gateway's executor on L1.
pub fn devnet_interop_config(topology: &Topology, chain: &ChainTopology) -> InteropConfig {
    InteropConfig {
        chain_rpc_url: chain.node.rpc_url.clone(),
        interop_roots: chain.interop.interop_roots,
        importer_key: OperatorKey::new(chain.interop.importer_key.clone()),
        gateway: MessageRootSource {
            chain_id: topology.gateway.node.chain_id,
            rpc_url: topology.gateway.node.rpc_url.clone(),
            message_root: topology.gateway.message_root,
        },
        l1: MessageRootSource {
            chain_id: topology.l1.node.chain_id,
            rpc_url: topology.l1.node.rpc_url.clone(),
            message_root: topology.l1.message_root,
        },
        gateway_executor_on_l1: topology.gateway_l1_executor,

        root_confirmations: gateway_settlement::DEFAULT_ROOT_CONFIRMATIONS,
    }
}

/// A devnet chain's runtime-migration settings: both layers, the Bridgehub, and the Gateway's
/// relayer key (the devnet node carries its chains' migrations to the Gateway itself).
pub fn devnet_migration_config(topology: &Topology, chain: &ChainTopology) -> MigrationConfig {
    MigrationConfig {
        l1: SettlementLayerEndpoint {
            chain_id: topology.l1.node.chain_id,
            rpc_url: topology.l1.node.rpc_url.clone(),
            executor: chain.l1_executor,
        },
        gateway: SettlementLayerEndpoint {
            chain_id: topology.gateway.node.chain_id,
            rpc_url: topology.gateway.node.rpc_url.clone(),
            executor: chain.gateway_executor,
        },
        bridgehub: topology.bridgehub,
        admin_key: None,
        relayer_key: Some(OperatorKey::new(topology.gateway.governance_key.clone())),
        start_on: None,
    }
}

/// The settlement settings of the devnet Gateway's own node: gateway mode, settling on L1
/// through its `GatewayExecutor`, validium (the chains' pubdata is already on the Gateway).
pub fn devnet_gateway_config(topology: &Topology) -> SettlementConfig {
    let layer = SettlementLayerEndpoint {
        chain_id: topology.l1.node.chain_id,
        rpc_url: topology.l1.node.rpc_url.clone(),
        executor: topology.gateway_l1_executor,
    };
    let mut config = SettlementConfig::new(
        topology.gateway.node.chain_id,
        topology.gateway_genesis.state_commitment,
        layer,
        OperatorKey::new(topology.gateway.governance_key.clone()),
    );
    config.da = DaScheme::Validium;
    config.limits =
        BatchLimits { max_blocks: 50, timeout: Duration::from_secs(4), ..Default::default() };
    config.poll_interval = Duration::from_millis(500);
    config.gateway = Some(GatewayMode::new(topology.gateway.message_root));
    config
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
    uptime: Duration,
    datadir: &Path,
) -> eyre::Result<()> {
    let statuses: Vec<SettlementStatus> =
        runs.iter().map(|r| r.settlement.status()).collect::<Result<_, _>>()?;
    let gateway_status = gateway.settlement.status()?;
    println!("--- {}s ---", uptime.as_secs());
    println!(
        "{:>6} {:>8} {:>6} {:>7} {:>7} {:>9} {:>6} {:>6} {:>9} {:>4}  last error",
        "chain", "SL", "head", "sealed", "proved", "committed", "execd", "L1fin", "lag(blk)", "tx",
    );
    for status in &statuses {
        let layer = if status.settlement_layer == topology.l1.node.chain_id { "L1" } else { "GW" };
        let l1_final = match &status.finality {
            Some(f) => f.l1_final_through,
            None => status.on_chain.executed,
        };
        println!(
            "{:>6} {:>8} {:>6} {:>7} {:>7} {:>9} {:>6} {:>6} {:>9} {:>4}  {}",
            status.chain_id,
            format!("{layer}:{}", status.settlement_layer),
            status.chain_head.unwrap_or_default(),
            status.last_sealed_batch.unwrap_or_default(),
            status.last_proved_batch.unwrap_or_default(),
            status.on_chain.committed,
            status.on_chain.executed,
            l1_final,
            status.lag_blocks,
            status.pending_tx.as_ref().map_or("-", |t| t.stage.as_str()),
            status.last_error.as_deref().unwrap_or("-")
        );
    }
    for status in &statuses {
        if let Some(m) =
            status.migration.as_ref().filter(|m| m.phase == "draining" || m.phase == "migrating")
        {
            println!(
                "chain {} migration {}: {} -> {} {} for {} ms, waiting for {}",
                status.chain_id,
                m.id,
                m.from,
                m.to,
                m.phase,
                m.phase_ms,
                m.waiting_for.as_deref().unwrap_or("-")
            );
        }
    }
    if let Some(gw) = &gateway_status.gateway {
        let per_batch =
            gw.l1_gas_per_chain_batch.map_or_else(|| "-".to_string(), |gas| format!("{gas}"));
        println!(
            "Gateway {}: head {}, batches sealed {} proved {} settled on L1 {}; chain batches L1-final {}; L1 gas per chain batch {} (direct on L1: {}); {}",
            gateway_status.chain_id,
            gateway_status.chain_head.unwrap_or_default(),
            gateway_status.last_sealed_batch.unwrap_or_default(),
            gateway_status.last_proved_batch.unwrap_or_default(),
            gw.batches_settled,
            gw.chain_batches_settled,
            per_batch,
            gw.direct_l1_gas_per_chain_batch,
            gateway_status.last_error.as_deref().unwrap_or("no error"),
        );
    }
    let json = serde_json::json!({
        "uptimeSeconds": uptime.as_secs(),
        "l1": topology.l1.node.chain_id,
        "gateway": topology.gateway.node.chain_id,
        "proofs": topology.proofs,
        "chains": statuses,
        "gatewayNode": gateway_status,
    });
    let path = datadir.join("status.json");
    let tmp = datadir.join("status.json.tmp");
    std::fs::write(&tmp, serde_json::to_vec_pretty(&json)?)?;
    std::fs::rename(&tmp, &path)?;
    Ok(())
}
