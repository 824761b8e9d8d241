//! The devnet as one process starts it: anvil nodes for L1, the Gateway and the chains, with
//! everything deployed and registered through the same two steps as `ecosystem init` and
//! `chain init` ([`crate::init`]).

use std::path::Path;

use alloy::{
    primitives::{Address, U256},
    providers::{DynProvider, Provider},
};
use tracing::info;

use crate::{
    anvil::{Anvil, AnvilConfig, DevnetError, DevnetResult},
    topology::{
        DevnetConfig, GATEWAY_FEE_PER_BATCH_WEI, NodeTopology, PRIORITY_OP_FEE_WEI, Topology,
        VERIFIER_DELAY_BLOCKS,
    },
    tx::{address_of, signer_provider},
};

/// A running devnet; every anvil it started is stopped, by pid, when it is dropped.
#[derive(Debug)]
pub struct Devnet {
    /// What was started and deployed.
    pub topology: Topology,
    l1: Anvil,
    gateway: Anvil,
    chains: Vec<Anvil>,
}

impl Devnet {
    /// Starts every node, deploys and registers everything; writes the topology to
    /// `topology_file` if given.
    pub async fn start(config: DevnetConfig, topology_file: Option<&Path>) -> DevnetResult<Self> {
        let accounts =
            u32::try_from(config.chains.len()).unwrap_or(u32::MAX).saturating_add(2).max(10);
        let spawn = |chain_id: u64, extra_args: &[&str]| {
            Anvil::spawn(AnvilConfig {
                chain_id,
                block_time: config.block_time,
                accounts: Some(accounts),
                extra_args: extra_args
                    .iter()
                    .map(ToString::to_string)
                    .chain(config.prune_history.map(|n| format!("--prune-history={n}")))
                    .collect(),
                ..Default::default()
            })
        };
        let l1 = spawn(
            config.l1_chain_id,
            if config.l1_steps_tracing { &["--steps-tracing"] } else { &[] },
        )?;
        // The Gateway's sequencer starts with no code that outsiders could deploy with (anvil's
        // default CREATE2 deployer): every contract on it comes from an allowlisted deployer.
        let gateway = spawn(config.gateway_chain_id, &["--disable-default-create2-deployer"])?;
        let mut chains = Vec::with_capacity(config.chains.len());
        for i in 0..config.chains.len() {
            chains.push(spawn(config.first_chain_id + i as u64, &[])?);
        }
        let keys = l1.dev_keys().to_vec();
        let key = |i: usize| {
            keys.get(i)
                .cloned()
                .ok_or_else(|| DevnetError::Topology(format!("anvil printed no dev key {i}")))
        };
        let (gov_key, relayer_key) = (key(0)?, key(1)?);
        let relayer = address_of(&relayer_key)?;
        fund(&signer_provider(l1.endpoint(), &relayer_key)?, relayer).await?;
        // The same two steps `gateway-node ecosystem init` and `chain init` take.
        let mut topology = crate::init::init_ecosystem(&crate::init::EcosystemSpec {
            l1_rpc_url: l1.endpoint(),
            gateway_rpc_url: gateway.endpoint(),
            l1_governance_key: gov_key.clone(),
            gateway_governance_key: relayer_key.clone(),
            proofs: config.proofs,
            verifier_delay: VERIFIER_DELAY_BLOCKS,
            priority_op_fee: U256::from(PRIORITY_OP_FEE_WEI),
            gateway_fee_per_batch: U256::from(GATEWAY_FEE_PER_BATCH_WEI),
            fee_change_delay: VERIFIER_DELAY_BLOCKS,
            keys_in_topology: true,
        })
        .await?;
        topology.l1.node = node_topology(&l1);
        topology.gateway.node = node_topology(&gateway);
        for (i, (node, settlement)) in chains.iter().zip(&config.chains).enumerate() {
            let operator_key = key(2 + i)?;
            let operator = address_of(&operator_key)?;
            for url in [l1.endpoint(), gateway.endpoint()] {
                fund(&signer_provider(url, &operator_key)?, operator).await?;
            }
            let mut chain = crate::init::init_chain(
                &topology,
                &crate::init::ChainSpec {
                    rpc_url: node.endpoint(),
                    settles_on: *settlement,
                    admin_key: operator_key,
                    l1_governance_key: gov_key.clone(),
                    gateway_governance_key: relayer_key.clone(),
                    importer_key: key(0)?,
                    keys_in_topology: true,
                },
            )
            .await?;
            chain.node = node_topology(node);
            topology.chains.push(chain);
        }
        if let Some(path) = topology_file {
            topology.save(path)?;
        }
        info!(target: "devnet", chains = topology.chains.len(), bridgehub = %topology.bridgehub, "devnet ready");
        Ok(Self { topology, l1, gateway, chains })
    }

    /// Every anvil the devnet started: L1, the Gateway, then the chains.
    pub fn nodes(&self) -> impl Iterator<Item = &Anvil> {
        [&self.l1, &self.gateway].into_iter().chain(self.chains.iter())
    }

    /// Stops every node it started, by pid.
    pub fn stop(&mut self) {
        self.l1.stop();
        self.gateway.stop();
        for chain in &mut self.chains {
            chain.stop();
        }
    }
}

fn node_topology(anvil: &Anvil) -> NodeTopology {
    NodeTopology { chain_id: anvil.chain_id(), rpc_url: anvil.endpoint(), pid: anvil.pid() }
}

/// Gives the account of `key` 1,000 ETH on the anvil at `url` and returns its address: a
/// devnet's or a test's own user, whose nonces never race a node's.
///
/// # Errors
/// A key that does not parse, or the node refusing `anvil_setBalance`.
pub async fn fund_key(
    url: &alloy::transports::http::reqwest::Url,
    key: &str,
) -> DevnetResult<Address> {
    let account = crate::init::address_of_key(key, "the key to fund")?;
    let provider = alloy::providers::ProviderBuilder::new().connect_http(url.clone()).erased();
    fund(&provider, account).await?;
    Ok(account)
}

/// Gives `account` 1,000 ETH on the node `provider` talks to (anvil_setBalance).
async fn fund(provider: &DynProvider, account: Address) -> DevnetResult<()> {
    let balance = U256::from(1_000u64) * U256::from(10u64).pow(U256::from(18u64));
    provider
        .raw_request::<_, serde_json::Value>("anvil_setBalance".into(), (account, balance))
        .await
        .map_err(|e| DevnetError::Rpc(format!("anvil_setBalance: {e}")))?;
    Ok(())
}
