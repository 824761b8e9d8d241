//! From flags to a checked settlement configuration: every bad value or unreachable endpoint
//! fails here, at start, with an error that names the flag.

use std::time::Duration;

use alloy::{
    primitives::{Address, B256},
    providers::{Provider, ProviderBuilder},
    transports::http::reqwest::Url,
};
use devnet::Topology;
use eyre::WrapErr;
use gateway_primitives::DaScheme;
use gateway_settlement::{
    BatchLimits, GatewayMode, LayerKind, MigrationConfig, OperatorKey, SettlementConfig,
    SettlementLayerEndpoint,
};

use crate::args::{DaArg, LayerArg, NodeExtArgs, ProofsArg};

/// The environment variable that may hold the operator key itself.
pub const OPERATOR_KEY_ENV: &str = "GATEWAY_OPERATOR_KEY";
const ENDPOINT_TIMEOUT: Duration = Duration::from_secs(10);

async fn chain_id_of(url: &Url, flag: &str) -> eyre::Result<u64> {
    let provider = ProviderBuilder::new().connect_http(url.clone());
    match tokio::time::timeout(ENDPOINT_TIMEOUT, provider.get_chain_id()).await {
        Ok(Ok(id)) => Ok(id),
        Ok(Err(e)) => eyre::bail!("{flag} {url}: the endpoint does not answer: {e}"),
        Err(_) => eyre::bail!("{flag} {url}: no answer within {ENDPOINT_TIMEOUT:?}"),
    }
}

fn key_file(path: &std::path::Path, flag: &str) -> eyre::Result<OperatorKey> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| eyre::eyre!("{flag} {}: cannot read it: {e}", path.display()))?;
    checked_key(OperatorKey::new(text.trim()), &format!("{flag} {}", path.display()))
}

/// `key` if it parses as a private key; else an error naming where it came from (never the key).
fn checked_key(key: OperatorKey, source: &str) -> eyre::Result<OperatorKey> {
    match key.signer("operator") {
        Ok(_) => Ok(key),
        Err(_) => eyre::bail!("{source}: not a private key (expected 32 bytes of hex)"),
    }
}

/// Fails unless a contract is deployed at `address` on the endpoint at `url`.
async fn require_code(url: &Url, address: Address, flag: &str) -> eyre::Result<()> {
    let provider = ProviderBuilder::new().connect_http(url.clone());
    match tokio::time::timeout(ENDPOINT_TIMEOUT, provider.get_code_at(address)).await {
        Ok(Ok(code)) if code.is_empty() => {
            eyre::bail!("{flag} {address}: no contract at that address on {url}")
        }
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => eyre::bail!("{flag} {address}: cannot read its code on {url}: {e}"),
        Err(_) => eyre::bail!("{flag} {address}: {url} gave no answer within {ENDPOINT_TIMEOUT:?}"),
    }
}

/// The settlement layer the Bridgehub has for `chain_id`.
async fn bridgehub_layer(migration: &MigrationConfig, chain_id: u64) -> eyre::Result<u64> {
    let provider = ProviderBuilder::new().connect_http(migration.l1.rpc_url.clone());
    let bridgehub = gateway_contracts::Bridgehub::new(migration.bridgehub, provider);
    let call = bridgehub.settlementLayer(alloy::primitives::U256::from(chain_id));
    match tokio::time::timeout(ENDPOINT_TIMEOUT, call.call()).await {
        Ok(Ok(layer)) => Ok(layer.saturating_to()),
        Ok(Err(e)) => eyre::bail!(
            "--settlement.bridgehub {}: cannot read chain {chain_id}'s settlement layer: {e}",
            migration.bridgehub
        ),
        Err(_) => eyre::bail!(
            "--settlement.bridgehub {}: no answer within {ENDPOINT_TIMEOUT:?}",
            migration.bridgehub
        ),
    }
}

fn operator_key(args: &NodeExtArgs) -> eyre::Result<OperatorKey> {
    if let Some(path) = &args.settlement.operator_key_file {
        return key_file(path, "--settlement.operator-key-file");
    }
    match std::env::var(OPERATOR_KEY_ENV) {
        Ok(key) => checked_key(OperatorKey::new(key.trim()), OPERATOR_KEY_ENV),
        Err(_) => eyre::bail!(
            "no operator key: pass --settlement.operator-key-file FILE or set {OPERATOR_KEY_ENV}"
        ),
    }
}

/// Builds and checks the settlement configuration for the chain at `chain_rpc_url`.
pub async fn settlement_config(
    args: &NodeExtArgs,
    chain_rpc_url: &Url,
) -> eyre::Result<SettlementConfig> {
    let s = &args.settlement;
    // The operator key first: one that cannot be read or parsed fails before any endpoint is
    // asked.
    let operator_key = operator_key(args)?;
    let chain_id = chain_id_of(chain_rpc_url, "--chain.rpc-url").await?;
    let topology = match &s.topology {
        Some(path) => Some(
            Topology::load(path)
                .wrap_err_with(|| format!("--settlement.topology {}", path.display()))?,
        ),
        None => None,
    };
    if args.gateway.enabled {
        return gateway_mode_config(args, chain_rpc_url, chain_id, topology.as_ref(), operator_key)
            .await;
    }
    let chain = topology.as_ref().and_then(|t| t.chain(chain_id));
    if topology.is_some() && chain.is_none() {
        eyre::bail!(
            "--settlement.topology: chain {chain_id} (from --chain.rpc-url) is not in the topology file"
        );
    }

    let l1_url =
        s.l1_rpc_url.clone().or_else(|| topology.as_ref().map(|t| t.l1.node.rpc_url.clone()));
    let gateway_url = s
        .gateway_rpc_url
        .clone()
        .or_else(|| topology.as_ref().map(|t| t.gateway.node.rpc_url.clone()));
    let l1_executor = s.l1_executor.or(chain.map(|c| c.l1_executor));
    let gateway_executor = s.gateway_executor.or(chain.map(|c| c.gateway_executor));
    // The configured layer must be fully known; the other one only for runtime migration.
    let layer_arg = match (s.layer, &l1_url, &gateway_url) {
        (Some(layer), _, _) => layer,
        (None, Some(_), _) => LayerArg::L1,
        (None, None, Some(_)) => LayerArg::Gateway,
        (None, None, None) => eyre::bail!(
            "no settlement layer is known: --settlement.layer l1 needs --settlement.l1-rpc-url, --settlement.layer gateway needs --settlement.gateway-rpc-url (or pass --settlement.topology)"
        ),
    };
    match layer_arg {
        LayerArg::L1 => {
            if l1_url.is_none() {
                eyre::bail!("--settlement.layer l1 needs --settlement.l1-rpc-url");
            }
            if l1_executor.is_none() {
                eyre::bail!(
                    "the chain's L1 executor is unknown: pass --settlement.l1-executor or --settlement.topology"
                );
            }
        }
        LayerArg::Gateway => {
            if gateway_url.is_none() {
                eyre::bail!("--settlement.layer gateway needs --settlement.gateway-rpc-url");
            }
            if gateway_executor.is_none() {
                eyre::bail!(
                    "the chain's Gateway executor is unknown: pass --settlement.gateway-executor or --settlement.topology"
                );
            }
        }
    }
    let l1 = match (&l1_url, l1_executor) {
        (Some(url), Some(executor)) => {
            let flag = "--settlement.l1-rpc-url";
            let l1_chain_id = chain_id_of(url, flag).await?;
            if let Some(expected) = topology.as_ref().map(|t| t.l1.node.chain_id)
                && l1_chain_id != expected
            {
                eyre::bail!(
                    "{flag} {url}: the endpoint's chain id is {l1_chain_id}, but --settlement.topology's L1 is {expected}"
                );
            }
            require_code(url, executor, "--settlement.l1-executor").await?;
            Some(SettlementLayerEndpoint { chain_id: l1_chain_id, rpc_url: url.clone(), executor })
        }
        _ => None,
    };
    let gateway = match (&gateway_url, gateway_executor) {
        (Some(url), Some(executor)) => {
            let flag = "--settlement.gateway-rpc-url";
            let sl_chain_id = chain_id_of(url, flag).await?;
            if sl_chain_id != s.gateway_network {
                eyre::bail!(
                    "{flag} {url}: the endpoint's chain id is {sl_chain_id}, but --settlement.gateway-network expects {}",
                    s.gateway_network
                );
            }
            require_code(url, executor, "--settlement.gateway-executor").await?;
            Some(SettlementLayerEndpoint { chain_id: sl_chain_id, rpc_url: url.clone(), executor })
        }
        _ => None,
    };
    let wanted = match layer_arg {
        LayerArg::L1 => LayerKind::L1,
        LayerArg::Gateway => LayerKind::Gateway,
    };
    let bridgehub = s.bridgehub.or(topology.as_ref().map(|t| t.bridgehub));
    if let (Some(l1), Some(bridgehub)) = (&l1, bridgehub) {
        require_code(&l1.rpc_url, bridgehub, "--settlement.bridgehub").await?;
    }
    let migration = match (&l1, &gateway, bridgehub) {
        (Some(l1), Some(gateway), Some(bridgehub)) => Some(MigrationConfig {
            l1: l1.clone(),
            gateway: gateway.clone(),
            bridgehub,
            admin_key: s
                .admin_key_file
                .as_deref()
                .map(|p| key_file(p, "--settlement.admin-key-file"))
                .transpose()?,
            relayer_key: s
                .relayer_key_file
                .as_deref()
                .map(|p| key_file(p, "--settlement.relayer-key-file"))
                .transpose()?,
            // Only an explicit flag asks for a layer; without it the node follows the Bridgehub.
            start_on: s.layer.map(|_| wanted),
        }),
        _ => None,
    };
    // With runtime migration the chain starts on the layer the Bridgehub has (the truth) and
    // migrates to `--settlement.layer` if that differs.
    let initial = match &migration {
        Some(migration) => {
            let on_chain = bridgehub_layer(migration, chain_id).await?;
            let Some(kind) = migration.kind_of(on_chain) else {
                eyre::bail!(
                    "the Bridgehub {} says chain {chain_id} settles on {on_chain}, neither L1 ({}) nor the Gateway ({})",
                    migration.bridgehub,
                    migration.l1.chain_id,
                    migration.gateway.chain_id
                );
            };
            if s.layer.is_some() && kind != wanted {
                tracing::info!(
                    target: "gateway_node",
                    chain = chain_id,
                    bridgehub_layer = on_chain,
                    wanted = wanted.as_str(),
                    "--settlement.layer differs from the Bridgehub's: the chain migrates there at start (unless the last migration was made at runtime)"
                );
            }
            kind
        }
        None => wanted,
    };
    let layer = match initial {
        LayerKind::L1 => l1,
        LayerKind::Gateway => gateway,
    }
    .ok_or_else(|| {
        eyre::eyre!("the settlement layer {} is not fully configured", initial.as_str())
    })?;
    let genesis: B256 = s
        .genesis_state_commitment
        .or(chain.map(|c| c.genesis.state_commitment))
        .ok_or_else(|| {
            eyre::eyre!("the genesis batch is unknown: pass --settlement.genesis-state-commitment or --settlement.topology")
        })?;
    let da = match s.da {
        DaArg::Validium => DaScheme::Validium,
        DaArg::RollupCalldata => DaScheme::RollupCalldata,
        // Blobs exist on L1 only: on the Gateway, rollup pubdata goes as calldata and the
        // Gateway carries it to L1 in its own batch.
        DaArg::RollupBlobs if initial == LayerKind::Gateway => {
            tracing::info!(
                target: "gateway_node",
                "--settlement.da rollup-blobs: the chain settles on the Gateway, so its pubdata goes as calldata there"
            );
            DaScheme::RollupCalldata
        }
        DaArg::RollupBlobs => DaScheme::RollupBlobs,
    };
    let messenger = s.messenger.or_else(|| {
        chain.map(|c| c.interop.messenger).filter(|messenger| *messenger != Address::ZERO)
    });
    match messenger {
        Some(messenger) => require_code(chain_rpc_url, messenger, "--settlement.messenger").await?,
        None => tracing::warn!(
            target: "gateway_node",
            "no --settlement.messenger: the chain's L2->L1 messages are not collected (every batch's l2LogsRoot is empty)"
        ),
    }
    let inbox = inbox_config(args, chain_rpc_url, chain).await?;
    // L1 finality of batches settled on the Gateway: on whenever L1 and the Gateway's
    // executor there are known.
    let gateway_l1_executor =
        s.gateway_l1_executor.or(topology.as_ref().map(|t| t.gateway_l1_executor));
    let l1_finality = match (&l1_url, gateway_l1_executor, &gateway_url) {
        (Some(url), Some(executor), Some(_)) => {
            require_code(url, executor, "--settlement.gateway-l1-executor").await?;
            Some(gateway_settlement::L1FinalitySource {
                l1_rpc_url: url.clone(),
                gateway_executor: executor,
            })
        }
        _ => None,
    };
    let interop = match (&l1_url, &gateway_url, gateway_l1_executor) {
        (Some(l1_url), Some(gateway_url), Some(executor)) => {
            interop_config(
                args,
                chain_rpc_url,
                chain,
                topology.as_ref(),
                [l1_url, gateway_url],
                executor,
            )
            .await?
        }
        _ => None,
    };
    let mut config = SettlementConfig::new(chain_id, genesis, layer, operator_key);
    config.interop = interop;
    config.l1_finality = l1_finality;
    config.messenger = messenger;
    config.inbox = inbox;
    config.da = da;
    config.priority_ops_drain_timeout = s.migration_priority_ops_timeout;
    config.migration = migration;
    apply_common(&mut config, args);
    Ok(config)
}

/// The chain's `L2Inbox`, when known (`--settlement.inbox` or the topology), and its relayer's
/// key when given (checked against the inbox's `relayer`).
async fn inbox_config(
    args: &NodeExtArgs,
    chain_rpc_url: &Url,
    chain: Option<&devnet::ChainTopology>,
) -> eyre::Result<Option<gateway_settlement::InboxConfig>> {
    let s = &args.settlement;
    let Some(address) = s.inbox.or(chain.map(|c| c.inbox)).filter(|a| !a.is_zero()) else {
        tracing::warn!(target: "gateway_node", "no --settlement.inbox: the chain's batches report no L1 -> L2 transactions");
        return Ok(None);
    };
    require_code(chain_rpc_url, address, "--settlement.inbox").await?;
    let (relayer_key, flag) = match (&s.inbox_relayer_key_file, &args.interop.importer_key_file) {
        (Some(path), _) => (
            Some(key_file(path, "--settlement.inbox-relayer-key-file")?),
            "--settlement.inbox-relayer-key-file",
        ),
        (None, Some(path)) => {
            (Some(key_file(path, "--interop.importer-key-file")?), "--interop.importer-key-file")
        }
        (None, None) => (
            chain
                .map(|c| c.interop.importer_key.clone())
                .filter(|k| !k.is_empty())
                .map(|k| checked_key(OperatorKey::new(k), "--settlement.topology's importer key"))
                .transpose()?,
            "--settlement.topology's importer key",
        ),
    };
    if let Some(key) = &relayer_key {
        let provider = ProviderBuilder::new().connect_http(chain_rpc_url.clone());
        let relayer = gateway_contracts::L2Inbox::new(address, &provider)
            .relayer()
            .call()
            .await
            .wrap_err_with(|| format!("--settlement.inbox {address}: reading its relayer"))?;
        let ours = key.signer("inbox relayer").map_err(|e| eyre::eyre!("{flag}: {e}"))?.address();
        if relayer != ours {
            eyre::bail!(
                "{flag}: its account {ours} is not the relayer of the L2Inbox {address} ({relayer}); pass the relayer's key with --settlement.inbox-relayer-key-file"
            );
        }
    }
    Ok(Some(gateway_settlement::InboxConfig {
        address,
        chain_rpc_url: chain_rpc_url.clone(),
        relayer_key,
    }))
}

/// Gateway mode: the Gateway's own `L2Inbox` (`--settlement.inbox`, by default the system
/// address when it has code there), which forwards the L1 -> L2 transactions the Bridgehub
/// queued for the chains on the Gateway into their queues there. This node relays them with
/// `--settlement.inbox-relayer-key-file`, by default its operator key (checked against the
/// inbox's relayer).
async fn gateway_inbox_config(
    args: &NodeExtArgs,
    gateway_rpc_url: &Url,
    operator_key: &OperatorKey,
) -> eyre::Result<Option<gateway_settlement::InboxConfig>> {
    let s = &args.settlement;
    let address = match s.inbox {
        Some(address) => {
            require_code(gateway_rpc_url, address, "--settlement.inbox").await?;
            address
        }
        None => {
            let provider = ProviderBuilder::new().connect_http(gateway_rpc_url.clone());
            let code = provider
                .get_code_at(devnet::INBOX_ADDRESS)
                .await
                .wrap_err("--gateway.enabled: reading the Gateway's inbox")?;
            if code.is_empty() {
                tracing::warn!(target: "gateway_node", "the Gateway has no L2Inbox: L1 -> L2 transactions to its chains are not forwarded");
                return Ok(None);
            }
            devnet::INBOX_ADDRESS
        }
    };
    let (key, flag) = match &s.inbox_relayer_key_file {
        Some(path) => (
            key_file(path, "--settlement.inbox-relayer-key-file")?,
            "--settlement.inbox-relayer-key-file",
        ),
        None => (operator_key.clone(), "--settlement.operator-key-file"),
    };
    let provider = ProviderBuilder::new().connect_http(gateway_rpc_url.clone());
    let relayer = gateway_contracts::L2Inbox::new(address, &provider)
        .relayer()
        .call()
        .await
        .wrap_err_with(|| format!("the Gateway's L2Inbox {address}: reading its relayer"))?;
    let ours = key.signer("inbox relayer").map_err(|e| eyre::eyre!("{flag}: {e}"))?.address();
    if relayer != ours {
        eyre::bail!(
            "{flag}: its account {ours} is not the relayer of the Gateway's L2Inbox {address} ({relayer}); pass the relayer's key with --settlement.inbox-relayer-key-file"
        );
    }
    Ok(Some(gateway_settlement::InboxConfig {
        address,
        chain_rpc_url: gateway_rpc_url.clone(),
        relayer_key: Some(key),
    }))
}

/// The settings a chain's node and the Gateway's share: confirmations, transactions, retention,
/// proving and batching.
fn apply_common(config: &mut SettlementConfig, args: &NodeExtArgs) {
    let s = &args.settlement;
    config.confirmations = s.confirmations;
    config.max_batches_per_tx = s.max_batches_per_tx;
    config.poll_interval = s.poll_interval;
    config.layer_confirmations = s.layer_confirmations;
    config.tx_timeout = s.tx_timeout;
    config.retention = s.retention;
    config.proof_concurrency = s.proof_concurrency;
    config.max_fee_per_gas = s.max_fee_per_gas;
    config.limits = BatchLimits {
        max_blocks: args.batch.max_blocks,
        max_txs: args.batch.max_txs,
        max_pubdata_bytes: args.batch.max_pubdata_bytes,
        max_gas: args.batch.max_gas,
        timeout: args.batch.timeout,
    };
}

/// Interop on a chain's node, when its `InteropRoots` is known (`--interop.roots` or the
/// topology): the importer's key, both layers' `MessageRoot`s, checked at start.
async fn interop_config(
    args: &NodeExtArgs,
    chain_rpc_url: &Url,
    chain: Option<&devnet::ChainTopology>,
    topology: Option<&Topology>,
    [l1_url, gateway_url]: [&Url; 2],
    gateway_executor_on_l1: Address,
) -> eyre::Result<Option<gateway_settlement::InteropConfig>> {
    let i = &args.interop;
    let Some(roots) = i.roots.or(chain.map(|c| c.interop.interop_roots)).filter(|a| !a.is_zero())
    else {
        return Ok(None);
    };
    require_code(chain_rpc_url, roots, "--interop.roots").await?;
    let importer_key = match &i.importer_key_file {
        Some(path) => key_file(path, "--interop.importer-key-file")?,
        None => match chain.map(|c| c.interop.importer_key.clone()).filter(|k| !k.is_empty()) {
            Some(key) => {
                checked_key(OperatorKey::new(key), "--settlement.topology's importer key")?
            }
            None => eyre::bail!(
                "--interop.roots {roots} needs the importer's key: pass --interop.importer-key-file"
            ),
        },
    };
    let source = |url: &Url, root: Option<Address>, flag: &'static str| {
        let url = url.clone();
        async move {
            let message_root =
                root.ok_or_else(|| eyre::eyre!("interop needs {flag} (or --settlement.topology)"))?;
            require_code(&url, message_root, flag).await?;
            let chain_id = chain_id_of(&url, flag).await?;
            Ok::<_, eyre::Report>(gateway_settlement::MessageRootSource {
                chain_id,
                rpc_url: url,
                message_root,
            })
        }
    };
    let gateway = source(
        gateway_url,
        i.gateway_message_root.or(topology.map(|t| t.gateway.message_root)),
        "--interop.gateway-message-root",
    )
    .await?;
    let l1 = source(
        l1_url,
        i.l1_message_root.or(topology.map(|t| t.l1.message_root)),
        "--interop.l1-message-root",
    )
    .await?;
    tracing::info!(target: "gateway_node", %roots, gateway = %gateway.message_root, l1 = %l1.message_root, "interop: importing the Gateway's roots, interop_getMessageProof served");
    Ok(Some(gateway_settlement::InteropConfig {
        chain_rpc_url: chain_rpc_url.clone(),
        interop_roots: roots,
        importer_key,
        gateway,
        l1,
        gateway_executor_on_l1,
        root_confirmations: i.root_confirmations,
    }))
}

/// The settings of the Gateway's own node (`--gateway.enabled`): it follows the Gateway
/// (`gateway_id`, from `--chain.rpc-url`) and settles it on L1 through its `GatewayExecutor`.
async fn gateway_mode_config(
    args: &NodeExtArgs,
    gateway_rpc_url: &Url,
    gateway_id: u64,
    topology: Option<&Topology>,
    operator_key: OperatorKey,
) -> eyre::Result<SettlementConfig> {
    let s = &args.settlement;
    let g = &args.gateway;
    if let Some(expected) = topology.map(|t| t.gateway.node.chain_id)
        && gateway_id != expected
    {
        eyre::bail!(
            "--gateway.enabled: --chain.rpc-url {gateway_rpc_url} has chain id {gateway_id}, but --settlement.topology's Gateway is {expected}: gateway mode follows the Gateway's own node"
        );
    }
    if s.layer == Some(LayerArg::Gateway) {
        eyre::bail!(
            "--gateway.enabled with --settlement.layer gateway: the Gateway's node settles on L1 (leave --settlement.layer out, or pass l1)"
        );
    }
    let l1_url =
        s.l1_rpc_url.clone().or_else(|| topology.map(|t| t.l1.node.rpc_url.clone())).ok_or_else(
            || {
                eyre::eyre!(
                    "--gateway.enabled needs --settlement.l1-rpc-url (or --settlement.topology)"
                )
            },
        )?;
    let l1_chain_id = chain_id_of(&l1_url, "--settlement.l1-rpc-url").await?;
    let executor = g.l1_executor.or(topology.map(|t| t.gateway_l1_executor)).ok_or_else(|| {
        eyre::eyre!("--gateway.enabled needs --gateway.l1-executor (or --settlement.topology)")
    })?;
    require_code(&l1_url, executor, "--gateway.l1-executor").await?;
    let message_root =
        g.message_root.or(topology.map(|t| t.gateway.message_root)).ok_or_else(|| {
            eyre::eyre!("--gateway.enabled needs --gateway.message-root (or --settlement.topology)")
        })?;
    require_code(gateway_rpc_url, message_root, "--gateway.message-root").await?;
    let genesis: B256 = s
        .genesis_state_commitment
        .or(topology.map(|t| t.gateway_genesis.state_commitment))
        .ok_or_else(|| {
            eyre::eyre!(
                "the Gateway's genesis batch is unknown: pass --settlement.genesis-state-commitment or --settlement.topology"
            )
        })?;
    let layer = SettlementLayerEndpoint { chain_id: l1_chain_id, rpc_url: l1_url, executor };
    let mut config = SettlementConfig::new(gateway_id, genesis, layer, operator_key);
    // A Gateway batch publishes a commitment to its blocks; the chains' own DA is theirs.
    config.da = match s.da {
        DaArg::Validium => DaScheme::Validium,
        DaArg::RollupCalldata => DaScheme::RollupCalldata,
        DaArg::RollupBlobs => DaScheme::RollupBlobs,
    };
    apply_common(&mut config, args);
    config.inbox = gateway_inbox_config(args, gateway_rpc_url, &config.operator_key).await?;
    let mut mode = GatewayMode::new(message_root);
    mode.price_per_chain_batch = alloy::primitives::U256::from(g.price_per_chain_batch);
    mode.max_chain_batches = g.max_chain_batches.map(|n| n as usize);
    let fee_vault = g.fee_vault.or(topology.map(|t| t.gateway.fees).filter(|a| !a.is_zero()));
    if let Some(address) = fee_vault {
        require_code(gateway_rpc_url, address, "--gateway.fee-vault").await?;
        mode.fee_vault =
            Some(gateway_settlement::FeeVault { rpc_url: gateway_rpc_url.clone(), address });
    }
    config.gateway = Some(mode);
    tracing::info!(
        target: "gateway_node",
        gateway = gateway_id,
        l1 = l1_chain_id,
        %executor,
        %message_root,
        "gateway mode: aggregating the chains settled on this Gateway and settling it on L1"
    );
    Ok(config)
}

/// Refuses, unless `--dev`, proofs that are safe on a devnet only: mock proofs, and halo2 over
/// the public-seed dev SRS. Reads no file and asks no node, so it runs first.
pub fn refuse_dev_proofs(args: &NodeExtArgs) -> eyre::Result<()> {
    if args.dev {
        return Ok(());
    }
    match args.settlement.proofs {
        ProofsArg::Mock => eyre::bail!(
            "--settlement.proofs mock: mock proofs are accepted only by a MockVerifier, which accepts any proof; use --settlement.proofs halo2 with --settlement.srs-file, or pass --dev on a devnet"
        ),
        ProofsArg::Halo2 if args.settlement.srs_file.is_none() => eyre::bail!(
            "--settlement.proofs halo2 without --settlement.srs-file would prove over the INSECURE dev SRS (its secret comes from a public seed: anyone can forge proofs); pass --settlement.srs-file <the ceremony SRS>, or --dev on a devnet"
        ),
        ProofsArg::Halo2 => Ok(()),
    }
}

/// Refuses, unless `--dev`, to settle through an executor whose verifier accepts any proof (has
/// the code of `MockVerifier` or `MockAggregatedVerifier`): the settlement layer and, for
/// runtime migration, both layers.
pub async fn refuse_mock_verifiers(
    args: &NodeExtArgs,
    config: &SettlementConfig,
) -> eyre::Result<()> {
    let mut executors = vec![(&config.layer, "--settlement.layer's executor")];
    if let Some(migration) = &config.migration {
        executors.push((&migration.l1, "--settlement.l1-executor"));
        executors.push((&migration.gateway, "--settlement.gateway-executor"));
    }
    for (layer, flag) in executors {
        let provider = alloy::providers::ProviderBuilder::new().connect_http(layer.rpc_url.clone());
        let executor = gateway_contracts::ChainExecutor::new(layer.executor, &provider);
        let verifier = executor.verifier().call().await.wrap_err_with(|| {
            format!("{flag} {} on chain {}: reading its verifier", layer.executor, layer.chain_id)
        })?;
        let code = alloy::providers::Provider::get_code_at(&provider, verifier)
            .await
            .wrap_err_with(|| format!("{flag}: reading the code of verifier {verifier}"))?;
        let mock = [
            ("MockVerifier", &gateway_contracts::MockVerifier::DEPLOYED_BYTECODE),
            (
                "MockAggregatedVerifier",
                &gateway_contracts::MockAggregatedVerifier::DEPLOYED_BYTECODE,
            ),
        ]
        .into_iter()
        .find(|(_, mock)| code == ***mock)
        .map(|(name, _)| format!("a {name}"));
        // Whatever its code: a verifier that accepts a junk proof accepts anything.
        let junk = gateway_contracts::IVerifier::new(verifier, &provider)
            .verify(
                vec![alloy::primitives::U256::from(1), alloy::primitives::U256::from(2)],
                vec![1u8; 64].into(),
            )
            .call()
            .await
            .unwrap_or(false);
        let mock =
            mock.or_else(|| junk.then(|| "a verifier that accepts a junk proof".to_string()));
        match mock {
            Some(name) if !args.dev => eyre::bail!(
                "{flag} {} on chain {} verifies with {verifier}, {name}: it accepts any proof, so anyone could settle anything; have governance point the executor at a real verifier (queueVerifier, then applyVerifier after its delay), or pass --dev on a devnet",
                layer.executor,
                layer.chain_id
            ),
            Some(name) => {
                tracing::warn!(target: "gateway_node", executor = %layer.executor, %verifier, name, "the executor accepts any proof (--dev)")
            }
            None => {}
        }
    }
    Ok(())
}

/// Refuses a Gateway node whose aggregated proofs are not the shape its executor on L1
/// verifies (`--settlement.halo2-aggregation` against the adapter's `arity()`): every
/// `settleBatch` would revert. A verifier without `arity()` (a mock) is not checked.
pub async fn refuse_aggregation_mismatch(
    args: &NodeExtArgs,
    config: &SettlementConfig,
    backend: &dyn gateway_prover::ProofBackend,
) -> eyre::Result<()> {
    if config.gateway.is_none() || args.settlement.proofs != ProofsArg::Halo2 {
        return Ok(());
    }
    let Some(leaves) = backend.max_aggregated() else { return Ok(()) };
    let layer = &config.layer;
    let provider = alloy::providers::ProviderBuilder::new().connect_http(layer.rpc_url.clone());
    let verifier = gateway_contracts::ChainExecutor::new(layer.executor, &provider)
        .verifier()
        .call()
        .await
        .wrap_err_with(|| {
            format!(
                "the Gateway's executor {} on chain {}: reading its verifier",
                layer.executor, layer.chain_id
            )
        })?;
    let Ok(arity) =
        gateway_contracts::Halo2AggregatedVerifier::new(verifier, &provider).arity().call().await
    else {
        return Ok(());
    };
    if arity != alloy::primitives::U256::from(leaves) {
        let shape = args.settlement.halo2_aggregation;
        let other = if shape.is_tree() { "flat" } else { "tree" };
        eyre::bail!(
            "--settlement.halo2-aggregation {}: this node's aggregated proofs hold {leaves} leaves, but the Gateway's executor {} on chain {} verifies proofs of {arity} leaves (verifier {verifier}): every settleBatch would revert; pass --settlement.halo2-aggregation {other}, or have governance point the executor at the matching verifier",
            if shape.is_tree() { "tree" } else { "flat" },
            layer.executor,
            layer.chain_id
        );
    }
    Ok(())
}

/// Where the halo2 SRS and keys are: `--settlement.halo2-cache-dir`, else the one cache the
/// devnet and the tests use too.
pub fn halo2_cache_dir(args: &NodeExtArgs) -> std::path::PathBuf {
    args.settlement
        .halo2_cache_dir
        .clone()
        .unwrap_or_else(gateway_prover::Halo2Config::default_cache_dir)
}

/// The proof backend the flags ask for. The halo2 backend loads (or makes, once) its SRS and
/// leaf keys under `--settlement.halo2-cache-dir` (default: the shared cache, see the flag).
/// With `--prover.queue` the jobs go to workers through PostgreSQL, and this backend verifies
/// what they return. Call it inside the node's runtime.
pub fn proof_backend(
    args: &NodeExtArgs,
) -> eyre::Result<std::sync::Arc<dyn gateway_prover::ProofBackend>> {
    let local = local_backend(
        args.settlement.proofs,
        args.settlement.srs_file.as_deref(),
        &halo2_cache_dir(args),
        args.settlement.halo2_aggregation,
        "--settlement.proofs",
    )?;
    let Some(url) = &args.prover.queue else { return Ok(local) };
    let mut config = gateway_prover_queue::QueueConfig::new(url.clone());
    config.max_attempts = args.prover.max_attempts;
    config.ca_file.clone_from(&args.prover.queue_ca_file);
    gateway_prover_queue::describe();
    let queued = gateway_prover_queue::QueueBackend::new(config, local)
        .map_err(|e| eyre::eyre!("--prover.queue: {e}"))?;
    Ok(std::sync::Arc::new(queued))
}

/// The in-process backend: `proofs`, with a ceremony SRS from `srs_file` (else the dev SRS),
/// keys under `cache_dir` and aggregated proofs of the shape `aggregation`; `flag` names the
/// setting in errors.
pub fn local_backend(
    proofs: ProofsArg,
    srs_file: Option<&std::path::Path>,
    cache_dir: &std::path::Path,
    aggregation: crate::args::Halo2AggregationArg,
    flag: &str,
) -> eyre::Result<std::sync::Arc<dyn gateway_prover::ProofBackend>> {
    match proofs {
        ProofsArg::Mock => {
            tracing::warn!(target: "gateway_node", "mock proofs: only a MockVerifier accepts them (devnet only)");
            Ok(std::sync::Arc::new(gateway_prover::MockBackend::default()))
        }
        ProofsArg::Halo2 => {
            let srs = match srs_file {
                Some(path) => gateway_prover::SrsSource::File(path.to_path_buf()),
                None => {
                    tracing::warn!(target: "gateway_node", "halo2 proofs over the INSECURE dev SRS (public seed): for devnets only; production passes an SRS file");
                    gateway_prover::SrsSource::DevSeed
                }
            };
            let config = gateway_prover::Halo2Config {
                cache_dir: cache_dir.to_path_buf(),
                srs,
                tree: aggregation.is_tree(),
                ..gateway_prover::Halo2Config::dev(cache_dir)
            };
            let backend = tokio::task::block_in_place(|| gateway_prover::Halo2Backend::new(config))
                .map_err(|e| eyre::eyre!("{flag} halo2: {e}"))?;
            Ok(std::sync::Arc::new(backend))
        }
    }
}
