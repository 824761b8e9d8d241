//! Onboarding without writing code: deploy the shared contracts on a given L1 and Gateway
//! ([`init_ecosystem`]), then each chain's executors and registration ([`init_chain`]). The
//! devnet starts its anvils and calls the same two functions, and `gateway-node ecosystem init`
//! / `gateway-node chain init` call them on an operator's own nodes.
//!
//! Both are idempotent through the topology they write: [`check_ecosystem`] and
//! [`check_chain`] say whether what a topology names is deployed and registered, so a second run
//! changes nothing. Both refuse, before sending anything, what their keys may not do: a key
//! with no funds on a layer it must pay on, a key that does not own the contract it must call.

use alloy::{
    primitives::{Address, U256},
    providers::{DynProvider, Provider, ProviderBuilder},
    signers::local::PrivateKeySigner,
    transports::http::reqwest::Url,
};
use gateway_contracts::{
    Bridgehub, ChainExecutor, ExecutorDeployment, GatewayExecutor, GatewayExecutorDeployment,
    MessageRoot, convert, deploy_bridgehub, deploy_chain_executor, deploy_gateway_executor,
    deploy_halo2_aggregated_verifier, deploy_halo2_batch_verifier, deploy_halo2_leaf_verifier,
    deploy_halo2_tree_verifier, deploy_interop_roots, deploy_l2_messenger, deploy_message_root,
    deploy_message_verifier, deploy_mock_aggregated_verifier, deploy_mock_verifier, roles,
    root_sources,
};
use tracing::info;

use crate::{
    anvil::{DevnetError, DevnetResult},
    topology::{
        ChainInterop, ChainTopology, DevnetProofs, GenesisBatch, InitialSettlement, L1Interop,
        MESSENGER_ADDRESS, NodeTopology, SettlementLayerTopology, Topology,
    },
    tx::{send, signer_provider},
};

/// What [`init_ecosystem`] deploys with, and where.
#[derive(Debug, Clone)]
pub struct EcosystemSpec {
    /// L1's JSON-RPC endpoint.
    pub l1_rpc_url: Url,
    /// The Gateway's JSON-RPC endpoint (its sequencer, or its public front: the Gateway
    /// governance key must then be on the deployment allowlist).
    pub gateway_rpc_url: Url,
    /// L1 governance: owns the Bridgehub, L1's `MessageRoot` and every executor's verifier.
    pub l1_governance_key: String,
    /// The Gateway's governance and operator: owns the Gateway's `MessageRoot`, relays
    /// migrations, and settles the Gateway on L1 through its `GatewayExecutor`.
    pub gateway_governance_key: String,
    /// Which proofs the verifiers accept.
    pub proofs: DevnetProofs,
    /// Blocks between governance queueing a verifier change and applying it.
    pub verifier_delay: u64,
    /// What an L1 -> L2 transaction costs on the Bridgehub (wei).
    pub priority_op_fee: U256,
    /// What the Gateway charges per committed chain batch, in its gas token (wei).
    pub gateway_fee_per_batch: U256,
    /// Blocks of the Gateway between announcing a new price and its taking effect.
    pub fee_change_delay: u64,
    /// Keep the keys in the topology (devnets only: anyone who reads the file holds them).
    pub keys_in_topology: bool,
}

/// What [`init_chain`] deploys and registers.
#[derive(Debug, Clone)]
pub struct ChainSpec {
    /// The chain's JSON-RPC endpoint.
    pub rpc_url: Url,
    /// Where the chain settles first.
    pub settles_on: InitialSettlement,
    /// The chain's admin and operator on both executors and the Bridgehub.
    pub admin_key: String,
    /// L1 governance (the Bridgehub's and L1 `MessageRoot`'s owner).
    pub l1_governance_key: String,
    /// The Gateway's governance (the Gateway `MessageRoot`'s owner, a Gateway deployer).
    pub gateway_governance_key: String,
    /// Writes the chain's `InteropRoots` and deploys the chain's interop contracts.
    pub importer_key: String,
    /// Keep the keys in the topology (devnets only).
    pub keys_in_topology: bool,
}

/// The address of a private key, or an error naming `what` (never the key).
pub fn address_of_key(key: &str, what: &str) -> DevnetResult<Address> {
    let signer: PrivateKeySigner = key
        .trim()
        .parse()
        .map_err(|_| DevnetError::BadKey(format!("{what}: not a private key")))?;
    Ok(signer.address())
}

fn rpc_err(
    what: impl std::fmt::Display,
) -> impl FnOnce(alloy::transports::TransportError) -> DevnetError {
    move |e| DevnetError::Rpc(format!("{what}: {e}"))
}

fn deployed(what: &'static str) -> impl Fn(gateway_contracts::ContractsError) -> DevnetError {
    move |e| DevnetError::Rpc(format!("{what}: {e}"))
}

/// The node at `url`, read: its chain id (pid 0: not started by the devnet).
pub async fn node_at(url: &Url) -> DevnetResult<NodeTopology> {
    let provider = ProviderBuilder::new().connect_http(url.clone());
    let chain_id =
        tokio::time::timeout(std::time::Duration::from_secs(10), provider.get_chain_id())
            .await
            .map_err(|_| DevnetError::Rpc(format!("{url}: no answer within 10 s")))?
            .map_err(rpc_err(format!("{url}: reading its chain id")))?;
    Ok(NodeTopology { chain_id, rpc_url: url.clone(), pid: 0 })
}

/// Refuses a key that cannot pay on the node at `url`.
async fn require_funds(url: &Url, account: Address, what: &str, layer: &str) -> DevnetResult<()> {
    let provider = ProviderBuilder::new().connect_http(url.clone());
    let balance = provider
        .get_balance(account)
        .await
        .map_err(rpc_err(format!("{what}: reading the balance of {account} on {layer}")))?;
    if balance.is_zero() {
        return Err(DevnetError::Refused(format!(
            "{what}: account {account} has no funds on {layer} ({url}) to pay for its transactions: fund it first"
        )));
    }
    Ok(())
}

async fn has_code(url: &Url, address: Address) -> DevnetResult<bool> {
    let provider = ProviderBuilder::new().connect_http(url.clone());
    Ok(!provider
        .get_code_at(address)
        .await
        .map_err(rpc_err(format!("reading the code at {address} on {url}")))?
        .is_empty())
}

/// The batch-0 state commitment of the chain at `url`: its genesis block's hash.
pub async fn genesis_of(url: &Url) -> DevnetResult<GenesisBatch> {
    let provider = ProviderBuilder::new().connect_http(url.clone());
    let block = provider
        .get_block_by_number(0.into())
        .await
        .map_err(rpc_err(format!("genesis block at {url}")))?
        .ok_or_else(|| DevnetError::Rpc(format!("{url} has no genesis block")))?;
    Ok(GenesisBatch { state_commitment: block.header.hash })
}

/// Fails unless everything `topology` names for L1 and the Gateway is deployed on the nodes it
/// names and the Gateway is whitelisted: the check that makes [`init_ecosystem`] idempotent.
pub async fn check_ecosystem(topology: &Topology) -> DevnetResult<()> {
    let l1 = node_at(&topology.l1.node.rpc_url).await?;
    let gateway = node_at(&topology.gateway.node.rpc_url).await?;
    for (node, expected, name) in [
        (&l1, topology.l1.node.chain_id, "L1"),
        (&gateway, topology.gateway.node.chain_id, "the Gateway"),
    ] {
        if node.chain_id != expected {
            return Err(DevnetError::Refused(format!(
                "the topology's {name} is chain {expected}, but {} is chain {}",
                node.rpc_url, node.chain_id
            )));
        }
    }
    let l1_url = &topology.l1.node.rpc_url;
    let gw_url = &topology.gateway.node.rpc_url;
    for (url, address, name) in [
        (l1_url, topology.bridgehub, "the Bridgehub"),
        (l1_url, topology.l1.message_root, "L1's MessageRoot"),
        (l1_url, topology.l1.verifier, "L1's verifier"),
        (l1_url, topology.gateway_l1_executor, "the Gateway's L1 executor"),
        (gw_url, topology.gateway.message_root, "the Gateway's MessageRoot"),
        (gw_url, topology.gateway.verifier, "the Gateway's verifier"),
        (gw_url, topology.gateway.fees, "the Gateway's GatewayFees"),
    ] {
        if !has_code(url, address).await? {
            return Err(DevnetError::Refused(format!(
                "the topology names {name} at {address}, but {url} has no contract there"
            )));
        }
    }
    let provider = ProviderBuilder::new().connect_http(l1_url.clone());
    let whitelisted = Bridgehub::new(topology.bridgehub, &provider)
        .whitelisted(U256::from(topology.gateway.node.chain_id))
        .call()
        .await
        .map_err(|e| DevnetError::Rpc(format!("Bridgehub.whitelisted: {e}")))?;
    if !whitelisted {
        return Err(DevnetError::Refused(format!(
            "the Bridgehub {} does not whitelist the Gateway {}",
            topology.bridgehub, topology.gateway.node.chain_id
        )));
    }
    Ok(())
}

/// Deploys the shared contracts on L1 and the Gateway and whitelists the Gateway; the
/// returned topology has no chains yet.
pub async fn init_ecosystem(spec: &EcosystemSpec) -> DevnetResult<Topology> {
    let l1_node = node_at(&spec.l1_rpc_url).await?;
    let gw_node = node_at(&spec.gateway_rpc_url).await?;
    if l1_node.chain_id == gw_node.chain_id {
        return Err(DevnetError::Refused(format!(
            "L1 ({}) and the Gateway ({}) are both chain {}: the Gateway is a chain of its own",
            spec.l1_rpc_url, spec.gateway_rpc_url, l1_node.chain_id
        )));
    }
    let gov = address_of_key(&spec.l1_governance_key, "the L1 governance key")?;
    let relayer = address_of_key(&spec.gateway_governance_key, "the Gateway governance key")?;
    require_funds(&spec.l1_rpc_url, gov, "the L1 governance key", "L1").await?;
    require_funds(&spec.l1_rpc_url, relayer, "the Gateway governance key", "L1").await?;
    require_funds(&spec.gateway_rpc_url, relayer, "the Gateway governance key", "the Gateway")
        .await?;
    let l1_gov = signer_provider(spec.l1_rpc_url.clone(), &spec.l1_governance_key)?;
    let gw_relayer = signer_provider(spec.gateway_rpc_url.clone(), &spec.gateway_governance_key)?;
    let l1_relayer = signer_provider(spec.l1_rpc_url.clone(), &spec.gateway_governance_key)?;
    let (l1_chain, gw_chain) = (l1_node.chain_id, gw_node.chain_id);
    let mock = spec.proofs == DevnetProofs::Mock;

    let l1_verifier = if mock {
        deploy_mock_verifier(&l1_gov).await.map_err(deployed("L1 MockVerifier"))?
    } else {
        deploy_halo2_leaf_verifier(&l1_gov).await.map_err(deployed("L1 Halo2LeafVerifier"))?
    };
    let l1_message_root =
        deploy_message_root(&l1_gov, gov).await.map_err(deployed("L1 MessageRoot"))?;
    let bridgehub_address = deploy_bridgehub(&l1_gov, gov).await.map_err(deployed("Bridgehub"))?;
    let bridgehub = Bridgehub::new(bridgehub_address, &l1_gov);

    // The Gateway settles on L1 with one aggregated proof per Gateway batch, and is
    // whitelisted as a settlement layer.
    let gw_genesis = genesis_of(&spec.gateway_rpc_url).await?;
    let aggregated_verifier = if mock {
        deploy_mock_aggregated_verifier(&l1_gov)
            .await
            .map_err(deployed("L1 MockAggregatedVerifier"))?
    } else if spec.proofs == DevnetProofs::Halo2Tree {
        deploy_halo2_tree_verifier(&l1_gov, gateway_prover_arity() * gateway_prover_arity())
            .await
            .map_err(deployed("L1 halo2 tree verifier"))?
    } else {
        deploy_halo2_aggregated_verifier(&l1_gov, gateway_prover_arity())
            .await
            .map_err(deployed("L1 halo2 aggregated verifier"))?
    };
    let gateway_l1_executor = deploy_gateway_executor(
        &l1_gov,
        &GatewayExecutorDeployment {
            gateway_chain_id: gw_chain,
            verifier: aggregated_verifier,
            admin: relayer,
            bridgehub: bridgehub_address,
            governance: gov,
            verifier_delay: spec.verifier_delay,
            genesis: gw_genesis.stored_info(),
        },
    )
    .await
    .map_err(deployed("Gateway's L1 executor"))?;
    send(
        "let the Gateway's operator settle",
        GatewayExecutor::new(gateway_l1_executor, &l1_relayer)
            .setOperator(relayer, roles::SETTLE)
            .send(),
    )
    .await?;
    send(
        "register the Gateway",
        bridgehub
            .registerChain(
                U256::from(gw_chain),
                relayer,
                U256::from(l1_chain),
                convert(&gw_genesis.stored_info()).map_err(deployed("Gateway genesis"))?,
            )
            .send(),
    )
    .await?;
    send(
        "set the Gateway's executor",
        bridgehub
            .setExecutor(U256::from(gw_chain), U256::from(l1_chain), gateway_l1_executor)
            .send(),
    )
    .await?;
    send("charge for priority operations", bridgehub.setPriorityOpFee(spec.priority_op_fee).send())
        .await?;
    send(
        "whitelist the Gateway",
        bridgehub.setSettlementLayerStatus(U256::from(gw_chain), true, relayer).send(),
    )
    .await?;

    // The Gateway's own contracts: its inbox (a system contract; the Gateway's governance key
    // relays the operations the Bridgehub queues for the chains on it), ...
    ensure_inbox(&spec.gateway_rpc_url, &spec.gateway_governance_key).await?;
    let gw_verifier = if mock {
        deploy_mock_verifier(&gw_relayer).await.map_err(deployed("Gateway MockVerifier"))?
    } else {
        deploy_halo2_leaf_verifier(&gw_relayer)
            .await
            .map_err(deployed("Gateway Halo2LeafVerifier"))?
    };
    let gw_message_root =
        deploy_message_root(&gw_relayer, relayer).await.map_err(deployed("Gateway MessageRoot"))?;
    let gw_fees = gateway_contracts::deploy_gateway_fees(
        &gw_relayer,
        relayer,
        spec.gateway_fee_per_batch,
        spec.fee_change_delay,
    )
    .await
    .map_err(deployed("GatewayFees"))?;
    let l1_interop = L1Interop {
        gateway_batches_verifier: deploy_message_verifier(
            &l1_gov,
            MESSENGER_ADDRESS,
            gateway_l1_executor,
            root_sources::GATEWAY_EXECUTOR,
        )
        .await
        .map_err(deployed("L1 MessageVerifier over Gateway batches"))?,
        l1_roots_verifier: deploy_message_verifier(
            &l1_gov,
            MESSENGER_ADDRESS,
            l1_message_root,
            root_sources::MESSAGE_ROOT,
        )
        .await
        .map_err(deployed("L1 MessageVerifier over L1 roots"))?,
    };
    send(
        "set the withdrawal verifiers",
        bridgehub
            .setMessageVerifiers(l1_interop.l1_roots_verifier, l1_interop.gateway_batches_verifier)
            .send(),
    )
    .await?;
    let kept = |key: &str| if spec.keys_in_topology { key.to_string() } else { String::new() };
    info!(target: "devnet", l1 = l1_chain, gateway = gw_chain, bridgehub = %bridgehub_address, "ecosystem deployed");
    Ok(Topology {
        l1: SettlementLayerTopology {
            node: l1_node,
            message_root: l1_message_root,
            verifier: l1_verifier,
            fees: Address::ZERO,
            governance: gov,
            governance_key: kept(&spec.l1_governance_key),
        },
        bridgehub: bridgehub_address,
        gateway: SettlementLayerTopology {
            node: gw_node,
            message_root: gw_message_root,
            verifier: gw_verifier,
            fees: gw_fees,
            governance: relayer,
            governance_key: kept(&spec.gateway_governance_key),
        },
        gateway_l1_executor,
        gateway_genesis: gw_genesis,
        chains: Vec::new(),
        proofs: spec.proofs,
        l1_interop,
    })
}

/// Fails unless `chain` is registered with the topology's Bridgehub with the executors the
/// topology names, both deployed: the check that makes [`init_chain`] idempotent.
pub async fn check_chain(topology: &Topology, chain: &ChainTopology) -> DevnetResult<()> {
    let id = U256::from(chain.node.chain_id);
    let provider = ProviderBuilder::new().connect_http(topology.l1.node.rpc_url.clone());
    let bridgehub = Bridgehub::new(topology.bridgehub, &provider);
    let info = bridgehub
        .chains(id)
        .call()
        .await
        .map_err(|e| DevnetError::Rpc(format!("Bridgehub.chains({id}): {e}")))?;
    if info.admin != chain.operator {
        return Err(DevnetError::Refused(format!(
            "the Bridgehub has chain {} with admin {}, the topology says {}",
            chain.node.chain_id, info.admin, chain.operator
        )));
    }
    let genesis = genesis_of(&chain.node.rpc_url).await?;
    if genesis != chain.genesis {
        return Err(DevnetError::Refused(format!(
            "chain {}'s node at {} has genesis {}, the topology says {}: not the chain that was registered",
            chain.node.chain_id,
            chain.node.rpc_url,
            genesis.state_commitment,
            chain.genesis.state_commitment
        )));
    }
    for (address, name) in [
        (chain.interop.interop_roots, "InteropRoots"),
        (chain.interop.message_verifier, "MessageVerifier"),
        (MESSENGER_ADDRESS, "L2Messenger"),
        (crate::topology::INBOX_ADDRESS, "L2Inbox"),
        (crate::topology::L2_BRIDGE_ADDRESS, "L2Bridge"),
    ] {
        if !has_code(&chain.node.rpc_url, address).await? {
            return Err(DevnetError::Refused(format!(
                "chain {}'s {name} {address} has no code on {}",
                chain.node.chain_id, chain.node.rpc_url
            )));
        }
    }
    for (layer, executor, url) in [
        (topology.l1.node.chain_id, chain.l1_executor, &topology.l1.node.rpc_url),
        (topology.gateway.node.chain_id, chain.gateway_executor, &topology.gateway.node.rpc_url),
    ] {
        let registered = bridgehub
            .executorOn(id, U256::from(layer))
            .call()
            .await
            .map_err(|e| DevnetError::Rpc(format!("Bridgehub.executorOn: {e}")))?;
        if registered != executor {
            return Err(DevnetError::Refused(format!(
                "the Bridgehub has {registered} as chain {}'s executor on {layer}, the topology says {executor}",
                chain.node.chain_id
            )));
        }
        if !has_code(url, executor).await? {
            return Err(DevnetError::Refused(format!(
                "chain {}'s executor {executor} has no code on {url}",
                chain.node.chain_id
            )));
        }
    }
    Ok(())
}

/// Deploys a chain's executors on L1 and the Gateway, registers the chain with the Bridgehub
/// and both `MessageRoot`s, grants its admin every operator role, and deploys its interop
/// contracts on the chain. The caller adds the returned chain to the topology.
pub async fn init_chain(topology: &Topology, spec: &ChainSpec) -> DevnetResult<ChainTopology> {
    let node = node_at(&spec.rpc_url).await?;
    let chain_id = node.chain_id;
    let id = U256::from(chain_id);
    let (l1_url, gw_url) = (&topology.l1.node.rpc_url, &topology.gateway.node.rpc_url);
    let (l1_chain, gw_chain) = (topology.l1.node.chain_id, topology.gateway.node.chain_id);
    if chain_id == l1_chain || chain_id == gw_chain {
        return Err(DevnetError::Refused(format!(
            "{} is chain {chain_id}, the ecosystem's {}: a chain needs a node of its own",
            spec.rpc_url,
            if chain_id == l1_chain { "L1" } else { "Gateway" }
        )));
    }
    let gov = address_of_key(&spec.l1_governance_key, "the L1 governance key")?;
    let relayer = address_of_key(&spec.gateway_governance_key, "the Gateway governance key")?;
    let operator = address_of_key(&spec.admin_key, "the chain admin key")?;
    let importer = address_of_key(&spec.importer_key, "the interop importer key")?;
    // Everything the keys may not do is refused here, before anything is sent.
    let l1_reader = ProviderBuilder::new().connect_http(l1_url.clone());
    let gw_reader = ProviderBuilder::new().connect_http(gw_url.clone());
    let bridgehub_reader = Bridgehub::new(topology.bridgehub, &l1_reader);
    let owner = bridgehub_reader
        .owner()
        .call()
        .await
        .map_err(|e| DevnetError::Rpc(format!("Bridgehub.owner: {e}")))?;
    if owner != gov {
        return Err(DevnetError::Refused(format!(
            "the L1 governance key is account {gov}, but the Bridgehub {} is owned by {owner}: only its owner registers chains",
            topology.bridgehub
        )));
    }
    for (reader, root, key_owner, name) in [
        (&l1_reader, topology.l1.message_root, gov, "L1's MessageRoot"),
        (&gw_reader, topology.gateway.message_root, relayer, "the Gateway's MessageRoot"),
    ] {
        let root_owner = MessageRoot::new(root, reader)
            .owner()
            .call()
            .await
            .map_err(|e| DevnetError::Rpc(format!("{name}.owner: {e}")))?;
        if root_owner != key_owner {
            return Err(DevnetError::Refused(format!(
                "{name} {root} is owned by {root_owner}, not by the governance key given for it ({key_owner}): only its owner authorizes executors"
            )));
        }
    }
    let registered = bridgehub_reader
        .chains(id)
        .call()
        .await
        .map_err(|e| DevnetError::Rpc(format!("Bridgehub.chains({chain_id}): {e}")))?;
    // Registered by an earlier run with this admin (which stopped before writing the
    // topology): this run picks up from what is there. By anyone else: refused.
    if registered.registered && registered.admin != operator {
        return Err(DevnetError::Refused(format!(
            "chain {chain_id} is already registered with the Bridgehub {} by admin {}, not by this admin key ({operator}): a chain id is registered once",
            topology.bridgehub, registered.admin
        )));
    }
    require_funds(l1_url, gov, "the L1 governance key", "L1").await?;
    require_funds(gw_url, relayer, "the Gateway governance key", "the Gateway").await?;
    require_funds(l1_url, operator, "the chain admin key", "L1").await?;
    require_funds(gw_url, operator, "the chain admin key", "the Gateway").await?;
    require_funds(&spec.rpc_url, importer, "the interop importer key", "the chain").await?;
    // The L2Messenger and the L2Inbox are system contracts at fixed addresses; a dev node gets
    // them now.
    ensure_messenger(&spec.rpc_url, &spec.importer_key).await?;
    ensure_inbox(&spec.rpc_url, &spec.importer_key).await?;

    let l1_gov = signer_provider(l1_url.clone(), &spec.l1_governance_key)?;
    let gw_relayer = signer_provider(gw_url.clone(), &spec.gateway_governance_key)?;
    let mock = topology.proofs == DevnetProofs::Mock;
    let verifier_for = async |provider: &DynProvider, leaf: Address| {
        if mock {
            Ok(leaf)
        } else {
            deploy_halo2_batch_verifier(provider, leaf, chain_id)
                .await
                .map_err(deployed("Halo2BatchVerifier"))
        }
    };
    let delay = verifier_delay(topology).await?;
    let genesis = genesis_of(&spec.rpc_url).await?;
    let on_l1 = spec.settles_on == InitialSettlement::L1;
    // An executor an earlier run deployed and set on the Bridgehub is kept.
    let existing = async |layer: u64, url: &Url| -> DevnetResult<Option<Address>> {
        if !registered.registered {
            return Ok(None);
        }
        let executor = bridgehub_reader
            .executorOn(id, U256::from(layer))
            .call()
            .await
            .map_err(|e| DevnetError::Rpc(format!("Bridgehub.executorOn: {e}")))?;
        Ok(if !executor.is_zero() && has_code(url, executor).await? {
            Some(executor)
        } else {
            None
        })
    };
    let l1_executor = match existing(l1_chain, l1_url).await? {
        Some(executor) => executor,
        None => deploy_chain_executor(
            &l1_gov,
            &ExecutorDeployment {
                chain_id,
                controller: topology.bridgehub,
                message_root: topology.l1.message_root,
                verifier: verifier_for(&l1_gov, topology.l1.verifier).await?,
                admin: operator,
                governance: gov,
                verifier_delay: delay,
                genesis: genesis.stored_info(),
                active: on_l1,
            },
        )
        .await
        .map_err(deployed("chain L1 executor"))?,
    };
    let gateway_executor = match existing(gw_chain, gw_url).await? {
        Some(executor) => executor,
        None => deploy_chain_executor(
            &gw_relayer,
            &ExecutorDeployment {
                chain_id,
                controller: relayer,
                message_root: topology.gateway.message_root,
                verifier: verifier_for(&gw_relayer, topology.gateway.verifier).await?,
                admin: operator,
                // The verifiers on the Gateway answer to L1's governance, not to the
                // Gateway's operator (who relays and settles with another key).
                governance: gov,
                verifier_delay: delay,
                genesis: genesis.stored_info(),
                active: !on_l1,
            },
        )
        .await
        .map_err(deployed("chain Gateway executor"))?,
    };
    let sl = if on_l1 { l1_chain } else { gw_chain };
    let bridgehub = Bridgehub::new(topology.bridgehub, &l1_gov);
    // Each step is sent only if its effect is not there yet: a rerun after a failure goes on.
    if !registered.registered {
        let genesis_info = convert(&genesis.stored_info()).map_err(deployed("chain genesis"))?;
        send(
            "register chain",
            bridgehub.registerChain(id, operator, U256::from(sl), genesis_info).send(),
        )
        .await?;
    }
    for (layer, executor, what) in [
        (l1_chain, l1_executor, "set L1 executor"),
        (gw_chain, gateway_executor, "set Gateway executor"),
    ] {
        let current = bridgehub_reader
            .executorOn(id, U256::from(layer))
            .call()
            .await
            .map_err(|e| DevnetError::Rpc(format!("Bridgehub.executorOn: {e}")))?;
        if current != executor {
            send(what, bridgehub.setExecutor(id, U256::from(layer), executor).send()).await?;
        }
    }
    for (provider, reader, root, executor, what) in [
        (&l1_gov, &l1_reader, topology.l1.message_root, l1_executor, "authorize L1 executor"),
        (
            &gw_relayer,
            &gw_reader,
            topology.gateway.message_root,
            gateway_executor,
            "authorize Gateway executor",
        ),
    ] {
        let current = MessageRoot::new(root, reader)
            .executorOf(id)
            .call()
            .await
            .map_err(|e| DevnetError::Rpc(format!("MessageRoot.executorOf: {e}")))?;
        if current != executor {
            send(what, MessageRoot::new(root, provider).setExecutor(id, executor).send()).await?;
        }
    }
    // On the Gateway the chain pays the Gateway's price per committed batch.
    let on_gateway = ChainExecutor::new(gateway_executor, &gw_relayer);
    let schedule = on_gateway
        .feeSchedule()
        .call()
        .await
        .map_err(|e| DevnetError::Rpc(format!("feeSchedule: {e}")))?;
    if schedule != topology.gateway.fees {
        send("charge the Gateway's fee", on_gateway.setFeeSchedule(topology.gateway.fees).send())
            .await?;
    }
    for (url, executor) in [(l1_url, l1_executor), (gw_url, gateway_executor)] {
        let admin = signer_provider(url.clone(), &spec.admin_key)?;
        let executor = ChainExecutor::new(executor, &admin);
        let roles_now = executor
            .operatorRoles(operator)
            .call()
            .await
            .map_err(|e| DevnetError::Rpc(format!("operatorRoles: {e}")))?;
        if roles_now != roles::ALL {
            send("set operator", executor.setOperator(operator, roles::ALL).send()).await?;
        }
    }
    let interop =
        deploy_chain_interop(&spec.rpc_url, &spec.importer_key, spec.keys_in_topology).await?;
    info!(target: "devnet", chain_id, settles_on = sl, %l1_executor, %gateway_executor, "chain registered");
    Ok(ChainTopology {
        node,
        initial_settlement: spec.settles_on,
        l1_executor,
        gateway_executor,
        operator,
        operator_key: if spec.keys_in_topology { spec.admin_key.clone() } else { String::new() },
        genesis,
        interop,
        inbox: crate::topology::INBOX_ADDRESS,
    })
}

/// The verifier delay the ecosystem uses (read from the Gateway's executor on L1).
async fn verifier_delay(topology: &Topology) -> DevnetResult<u64> {
    let provider = ProviderBuilder::new().connect_http(topology.l1.node.rpc_url.clone());
    let delay = GatewayExecutor::new(topology.gateway_l1_executor, &provider)
        .verifierDelay()
        .call()
        .await
        .map_err(|e| DevnetError::Rpc(format!("the Gateway's L1 executor's verifierDelay: {e}")))?;
    Ok(delay.saturating_to())
}

/// The chain's `L2Messenger` at [`MESSENGER_ADDRESS`] and `L2Bridge` at
/// [`crate::topology::L2_BRIDGE_ADDRESS`]: system contracts in the chain's genesis.
async fn ensure_messenger(url: &Url, deployer_key: &str) -> DevnetResult<()> {
    ensure_system_contract(url, deployer_key, MESSENGER_ADDRESS, "L2Messenger").await?;
    ensure_system_contract(url, deployer_key, crate::topology::L2_BRIDGE_ADDRESS, "L2Bridge").await
}

/// A stateless system contract (`L2Messenger`, `L2Bridge`) at `address`: in the chain's
/// genesis; a dev node without it gets a copy there (`anvil_setCode`); any other node is
/// refused.
async fn ensure_system_contract(
    url: &Url,
    deployer_key: &str,
    address: Address,
    name: &'static str,
) -> DevnetResult<()> {
    if has_code(url, address).await? {
        return Ok(());
    }
    let provider = signer_provider(url.clone(), deployer_key)?;
    let deployed_at = match name {
        "L2Bridge" => gateway_contracts::deploy_l2_bridge(&provider).await,
        _ => deploy_l2_messenger(&provider).await,
    }
    .map_err(deployed(name))?;
    let code = provider
        .get_code_at(deployed_at)
        .await
        .map_err(rpc_err(format!("reading the {name}'s code")))?;
    provider
        .raw_request::<_, serde_json::Value>("anvil_setCode".into(), (address, code))
        .await
        .map_err(|e| {
            DevnetError::Refused(format!(
                "the chain at {url} has no {name} at {address} and cannot be given one ({e}): put it in the chain's genesis as a system contract"
            ))
        })?;
    Ok(())
}

/// The chain's `L2Inbox` at [`crate::topology::INBOX_ADDRESS`], relayed by `relayer_key`'s account: a
/// system contract in the chain's genesis with its supply; a dev node without it gets a copy
/// there (`anvil_setCode`), initialized with the relayer, and the dev supply
/// ([`crate::topology::INBOX_DEV_SUPPLY_WEI`], `anvil_setBalance`). One with another relayer is refused.
async fn ensure_inbox(url: &Url, relayer_key: &str) -> DevnetResult<()> {
    let relayer = address_of_key(relayer_key, "the inbox relayer key")?;
    let provider = signer_provider(url.clone(), relayer_key)?;
    let inbox = gateway_contracts::L2Inbox::new(crate::topology::INBOX_ADDRESS, &provider);
    if !has_code(url, crate::topology::INBOX_ADDRESS).await? {
        let deployed_at =
            gateway_contracts::deploy_l2_inbox(&provider).await.map_err(deployed("L2Inbox"))?;
        let code = provider
            .get_code_at(deployed_at)
            .await
            .map_err(rpc_err("reading the L2Inbox's code"))?;
        let supply = U256::from(crate::topology::INBOX_DEV_SUPPLY_WEI);
        for (method, params) in [
            ("anvil_setCode", serde_json::json!([crate::topology::INBOX_ADDRESS, code])),
            ("anvil_setBalance", serde_json::json!([crate::topology::INBOX_ADDRESS, supply])),
        ] {
            provider.raw_request::<_, serde_json::Value>(method.into(), params).await.map_err(|e| {
                DevnetError::Refused(format!(
                    "the chain at {url} has no L2Inbox at {} and cannot be given one ({method}: {e}): put it, its relayer and its supply in the chain's genesis",
                    crate::topology::INBOX_ADDRESS
                ))
            })?;
        }
        send("initialize the L2Inbox", inbox.initialize(relayer).send()).await?;
    }
    let current = inbox
        .relayer()
        .call()
        .await
        .map_err(|e| DevnetError::Rpc(format!("L2Inbox.relayer: {e}")))?;
    if current != relayer {
        return Err(DevnetError::Refused(format!(
            "the L2Inbox at {url} is relayed by {current}, not by the given relayer key's account {relayer}"
        )));
    }
    Ok(())
}

/// A chain's interop contracts: its `InteropRoots` written by the importer, and a
/// `MessageVerifier` over them (messages from the `L2Messenger` at [`MESSENGER_ADDRESS`]).
async fn deploy_chain_interop(
    url: &Url,
    importer_key: &str,
    keys_in_topology: bool,
) -> DevnetResult<ChainInterop> {
    let provider = signer_provider(url.clone(), importer_key)?;
    let importer = address_of_key(importer_key, "the interop importer key")?;
    let interop_roots =
        deploy_interop_roots(&provider, importer).await.map_err(deployed("InteropRoots"))?;
    let message_verifier = deploy_message_verifier(
        &provider,
        MESSENGER_ADDRESS,
        interop_roots,
        root_sources::INTEROP_ROOTS,
    )
    .await
    .map_err(deployed("chain MessageVerifier"))?;
    Ok(ChainInterop {
        messenger: MESSENGER_ADDRESS,
        interop_roots,
        importer_key: if keys_in_topology { importer_key.to_string() } else { String::new() },
        message_verifier,
    })
}

/// Leaves per aggregated proof of the halo2 backend (its committed verifier's arity:
/// `gateway_prover::DEFAULT_ARITY`, which this crate does not depend on).
const fn gateway_prover_arity() -> usize {
    4
}
