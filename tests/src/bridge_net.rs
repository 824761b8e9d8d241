//! A devnet for the bridge's users (the `bridge` example and `bench-bridge`): one chain settling
//! on L1 and one on the Gateway, each with its node relaying L1 -> L2 transactions into its
//! inbox and serving message proofs, and the Gateway's node forwarding the Gateway's L1 queue
//! and settling on L1. Mock proofs.

use std::time::{Duration, Instant};

use devnet::{
    ChainTopology, Devnet, DevnetConfig, InitialSettlement, Topology, Traffic, bridge::Withdrawal,
};
use exex_host::HostHandle;
use gateway_contracts::Bridgehub;
use gateway_settlement::{ProofTarget, Settlement};

use crate::fixtures::{WAIT, forwarding_gateway_config, relaying_chain_config, start_settlement};

/// One chain of the bridge devnet and its node.
pub struct BridgeChain {
    /// The chain.
    pub chain: ChainTopology,
    /// Its node.
    pub host: HostHandle,
    /// Its settlement service (message proofs, status).
    pub settlement: Settlement,
    /// Blocks on the chain (a chain seals batches over new blocks).
    pub traffic: Traffic,
}

/// The bridge devnet: [`BridgeNet::chains`]`[0]` settles on L1, `[1]` on the Gateway.
pub struct BridgeNet {
    /// The anvil nodes (stopped when dropped).
    pub devnet: Devnet,
    /// What the devnet deployed.
    pub topology: Topology,
    /// The Gateway's node.
    pub gateway: HostHandle,
    /// The chains and their nodes.
    pub chains: Vec<BridgeChain>,
    _dirs: Vec<tempfile::TempDir>,
}

impl BridgeNet {
    /// Starts the anvils, deploys, and starts the three nodes.
    pub async fn start() -> eyre::Result<Self> {
        let devnet = Devnet::start(
            DevnetConfig {
                chains: vec![InitialSettlement::L1, InitialSettlement::Gateway],
                ..Default::default()
            },
            None,
        )
        .await?;
        let topology = devnet.topology.clone();
        let mut dirs = Vec::new();
        let dir = tempfile::tempdir()?;
        let config = forwarding_gateway_config(&topology);
        let (gateway, _, _) =
            start_settlement(config, &topology.gateway.node.rpc_url, dir.path()).await?;
        dirs.push(dir);
        let mut chains = Vec::new();
        for chain in &topology.chains {
            let dir = tempfile::tempdir()?;
            let config = relaying_chain_config(&topology, chain);
            let (host, _, settlement) =
                start_settlement(config, &chain.node.rpc_url, dir.path()).await?;
            dirs.push(dir);
            let traffic = Traffic::new(chain.node.rpc_url.clone(), &chain.operator_key)?;
            chains.push(BridgeChain { chain: chain.clone(), host, settlement, traffic });
        }
        Ok(Self { devnet, topology, gateway, chains, _dirs: dirs })
    }

    /// Stops the nodes.
    pub async fn stop(mut self) {
        for chain in &mut self.chains {
            chain.host.stop().await;
        }
        self.gateway.stop().await;
    }
}

impl BridgeChain {
    /// Waits (at most [`WAIT`], making a block now and then) until `withdrawal` is final on
    /// L1: the batch it was sent in, and the proof `Bridgehub.finalizeWithdrawal` takes.
    pub async fn claimable(
        &self,
        withdrawal: &Withdrawal,
    ) -> eyre::Result<(u64, Bridgehub::MessageProof)> {
        let started = Instant::now();
        loop {
            let answer = self
                .settlement
                .message_proof(withdrawal.tx, withdrawal.log_index, ProofTarget::L1, None)
                .await
                .ok_or_else(|| eyre::eyre!("the chain's node serves no message proofs"))??;
            if let Some(proof) = answer.proof {
                return Ok((answer.batch_number, proof.to_withdrawal_proof()));
            }
            eyre::ensure!(
                started.elapsed() < WAIT,
                "withdrawal {} not final on L1 within {WAIT:?}",
                withdrawal.tx
            );
            self.traffic.blocks(1, 1).await?;
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}
