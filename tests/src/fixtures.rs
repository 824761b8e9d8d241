//! Settlement fixtures shared by the end-to-end tests: configurations for a devnet's chains and
//! its Gateway node, an in-process host running the settlement ExEx, and bounded waits.

use std::{future::Future, path::Path, sync::Arc, time::Duration};

use alloy::{
    network::Ethereum,
    primitives::{B256, Bytes},
    providers::PendingTransactionBuilder,
    rpc::types::TransactionReceipt,
    sol_types::SolEvent,
    transports::http::reqwest::Url,
};
use devnet::{ChainTopology, Topology};
use exex_host::{HostBuilder, HostConfig, HostHandle, RpcBlockSource, RpcBlockSourceConfig};
use gateway_contracts::L2Messenger;
use gateway_settlement::{
    BatchLimits, GatewayMode, InboxConfig, InteropConfig, L1FinalitySource, MessageRootSource,
    MigrationConfig, OperatorKey, Settlement, SettlementConfig, SettlementLayerEndpoint,
};
use gateway_store::Store;

/// How long a fixture waits for anything.
pub const WAIT: Duration = Duration::from_secs(120);

/// Logs to the test's output (`RUST_LOG`, else info and the settlement crate's debug lines),
/// once per test binary.
pub fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| "info,settlement=debug".into());
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_test_writer().try_init();
}

/// A devnet chain settling where the topology registered it: small batches, quick polls, its
/// L1 finality read from the Gateway's executor on L1, and interop (messenger, root import,
/// proofs) when the topology has the contracts.
pub fn chain_config(topology: &Topology, chain: &ChainTopology) -> SettlementConfig {
    let (node, executor) = topology.initial_layer(chain);
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
    config.limits =
        BatchLimits { max_blocks: 3, timeout: Duration::from_secs(2), ..Default::default() };
    config.poll_interval = Duration::from_millis(200);
    config.l1_finality = Some(L1FinalitySource {
        l1_rpc_url: topology.l1.node.rpc_url.clone(),
        gateway_executor: topology.gateway_l1_executor,
    });
    if !chain.interop.messenger.is_zero() {
        config.messenger = Some(chain.interop.messenger);
        config.interop = Some(InteropConfig {
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
        });
    }
    config
}

/// Runtime migration for a devnet chain: both layers, the Bridgehub, and the Gateway's relayer
/// key (the node relays its own migrations).
pub fn migration_config(topology: &Topology, chain: &ChainTopology) -> MigrationConfig {
    let endpoint = |node: &devnet::NodeTopology, executor| SettlementLayerEndpoint {
        chain_id: node.chain_id,
        rpc_url: node.rpc_url.clone(),
        executor,
    };
    MigrationConfig {
        l1: endpoint(&topology.l1.node, chain.l1_executor),
        gateway: endpoint(&topology.gateway.node, chain.gateway_executor),
        bridgehub: topology.bridgehub,
        admin_key: None,
        relayer_key: Some(OperatorKey::new(topology.gateway.governance_key.clone())),
        start_on: None,
    }
}

/// The devnet Gateway's own node: gateway mode, settling Gateway batches on L1.
pub fn gateway_config(topology: &Topology) -> SettlementConfig {
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
    config.limits =
        BatchLimits { max_blocks: 20, timeout: Duration::from_secs(2), ..Default::default() };
    config.poll_interval = Duration::from_millis(200);
    config.gateway = Some(GatewayMode::new(topology.gateway.message_root));
    config
}

/// A devnet with the default settings and one chain per entry of `chains`, each settling first
/// where its entry says (stopped, by pid, when dropped).
pub async fn devnet_of(chains: Vec<devnet::InitialSettlement>) -> eyre::Result<devnet::Devnet> {
    Ok(devnet::Devnet::start(devnet::DevnetConfig { chains, ..Default::default() }, None).await?)
}

/// A test's own user on L1 (its key, funded with 1,000 ETH there): a test that sends L1
/// transactions while a node runs must not share the node's key (their nonces would race).
pub async fn funded_l1_user(topology: &Topology) -> eyre::Result<String> {
    const USER_KEY: &str = "0x4343434343434343434343434343434343434343434343434343434343434343";
    devnet::fund_key(&topology.l1.node.rpc_url, USER_KEY).await?;
    Ok(USER_KEY.to_string())
}

/// [`gateway_config`], also forwarding the Gateway's L1 queue (L1 -> L2 transactions of the
/// chains on it) into the Gateway's `L2Inbox`, with Gateway governance as its relayer.
pub fn forwarding_gateway_config(topology: &Topology) -> SettlementConfig {
    let mut config = gateway_config(topology);
    config.inbox = Some(InboxConfig {
        address: devnet::INBOX_ADDRESS,
        chain_rpc_url: topology.gateway.node.rpc_url.clone(),
        relayer_key: Some(OperatorKey::new(topology.gateway.governance_key.clone())),
    });
    config
}

/// [`chain_config`], also relaying the chain's L1 -> L2 transactions into its `L2Inbox`, with
/// the importer key as its relayer.
pub fn relaying_chain_config(topology: &Topology, chain: &ChainTopology) -> SettlementConfig {
    let mut config = chain_config(topology, chain);
    config.inbox = Some(InboxConfig {
        address: chain.inbox,
        chain_rpc_url: chain.node.rpc_url.clone(),
        relayer_key: Some(OperatorKey::new(chain.interop.importer_key.clone())),
    });
    config
}

/// A host following `rpc_url` with the settlement ExEx (mock proofs) and `settlement_*` on a
/// free local port.
pub async fn start_host(
    config: SettlementConfig,
    rpc_url: &Url,
    datadir: &Path,
) -> eyre::Result<(HostHandle, Arc<Store>)> {
    let (host, store, _) = start_settlement(config, rpc_url, datadir).await?;
    Ok((host, store))
}

/// [`start_host`], also returning the settlement service (to call it directly).
pub async fn start_settlement(
    config: SettlementConfig,
    rpc_url: &Url,
    datadir: &Path,
) -> eyre::Result<(HostHandle, Arc<Store>, Settlement)> {
    start_settlement_proving_with(
        config,
        rpc_url,
        datadir,
        Arc::new(gateway_prover::MockBackend::default()),
    )
    .await
}

/// [`start_settlement`] proving with `backend`.
pub async fn start_settlement_proving_with(
    config: SettlementConfig,
    rpc_url: &Url,
    datadir: &Path,
    backend: Arc<dyn gateway_prover::ProofBackend>,
) -> eyre::Result<(HostHandle, Arc<Store>, Settlement)> {
    let store = Arc::new(Store::open(datadir)?);
    let mut source = RpcBlockSourceConfig::new(rpc_url.clone());
    source.poll_interval = Duration::from_millis(100);
    source.start_after = Some(0);
    let host = host_config(datadir);
    let settlement = Settlement::new(config, Arc::clone(&store), backend)?;
    let handle = settlement
        .clone()
        .install(HostBuilder::new(host, RpcBlockSource::new(source)))
        .launch()
        .await?;
    Ok((handle, store, settlement))
}

/// A host config for tests: reads on `--http`, admin methods on the authenticated listener,
/// both on free loopback ports, the JWT secret in `datadir`.
pub fn host_config(datadir: &Path) -> HostConfig {
    let mut host = HostConfig::new(datadir);
    host.http_addr = Some(([127, 0, 0, 1], 0).into());
    host.auth = Some(exex_host::AuthRpcConfig {
        addr: ([127, 0, 0, 1], 0).into(),
        jwt_secret: datadir.join(exex_host::auth::DEFAULT_JWT_SECRET_FILE),
    });
    host
}

/// A client of `host`'s admin methods (its authenticated listener), with the secret from
/// `datadir`.
pub fn admin_client(host: &HostHandle, datadir: &Path) -> eyre::Result<exex_host::AdminClient> {
    let addr = host.auth_addr().ok_or_else(|| eyre::eyre!("the host serves no admin methods"))?;
    let secret =
        exex_host::JwtSecret::read(&datadir.join(exex_host::auth::DEFAULT_JWT_SECRET_FILE))?;
    Ok(exex_host::AdminClient::new(format!("http://{addr}").parse()?, secret))
}

/// Polls `check` until it holds; fails after [`WAIT`] naming `what`.
pub async fn wait_for<F, Fut>(what: &str, mut check: F) -> eyre::Result<()>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    tokio::time::timeout(WAIT, async {
        while !check().await {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
    .await
    .map_err(|_| eyre::eyre!("timed out after {WAIT:?} waiting for {what}"))
}

/// A sent transaction, awaited with a bound ([`devnet::confirm`]): mined, and not reverted.
pub trait Mined {
    /// Its receipt, within 30 s.
    fn mined(self) -> impl Future<Output = eyre::Result<TransactionReceipt>> + Send;
}

impl Mined for PendingTransactionBuilder<Ethereum> {
    async fn mined(self) -> eyre::Result<TransactionReceipt> {
        Ok(devnet::confirm("a test transaction", self).await?)
    }
}

/// Sends `data` through `chain`'s `L2Messenger`, signed by `key`; returns the transaction and
/// the block-wide index of its `MessageSent` log (what `interop_getMessageProof` takes).
pub async fn send_message(
    chain: &ChainTopology,
    key: &str,
    data: &[u8],
) -> eyre::Result<(B256, u64)> {
    let provider = devnet::signer_provider(chain.node.rpc_url.clone(), key)?;
    let receipt = L2Messenger::new(chain.interop.messenger, &provider)
        .sendMessage(Bytes::copy_from_slice(data))
        .send()
        .await?
        .mined()
        .await?;
    let log_index = receipt
        .inner
        .logs()
        .iter()
        .find(|l| l.topics().first() == Some(&L2Messenger::MessageSent::SIGNATURE_HASH))
        .and_then(|l| l.log_index)
        .ok_or_else(|| eyre::eyre!("{}: no MessageSent log", receipt.transaction_hash))?;
    Ok((receipt.transaction_hash, log_index))
}
