//! The devnet: L1, the Gateway and N chains on anvil, with the settlement contracts deployed and
//! registered, described by a topology file that nodes and tests read.
//!
//! Keys are anvil's well-known dev keys: for local use only. Account 0 governs L1 (Bridgehub,
//! L1 MessageRoot), account 1 governs the Gateway and relays migrations, account `2 + i` is chain
//! `i`'s admin and operator.

use std::{path::Path, time::Duration};

use alloy::{
    primitives::{Address, B256},
    transports::http::reqwest::Url,
};
use gateway_contracts::ChainExecutor;
use gateway_primitives::StoredBatchInfo;
use serde::{Deserialize, Serialize};

use crate::{
    anvil::{DevnetError, DevnetResult},
    tx::{send, signer_provider},
};

/// L1's chain id on the devnet.
pub const DEFAULT_L1_CHAIN_ID: u64 = 31337;
/// The Gateway's chain id on the devnet (testnet's).
pub const DEFAULT_GATEWAY_CHAIN_ID: u64 = 506;
/// The first chain's id; the others follow.
pub const DEFAULT_FIRST_CHAIN_ID: u64 = 270;
/// How many chains by default.
pub const DEFAULT_CHAINS: usize = 2;

/// Where a chain settles first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InitialSettlement {
    /// Directly on L1.
    L1,
    /// On the Gateway.
    Gateway,
}

/// What to start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DevnetConfig {
    /// L1's chain id.
    pub l1_chain_id: u64,
    /// The Gateway's chain id.
    pub gateway_chain_id: u64,
    /// The first chain's id.
    pub first_chain_id: u64,
    /// Where each chain settles first; its length is the number of chains.
    pub chains: Vec<InitialSettlement>,
    /// Block time of every node; `None` mines on each transaction.
    pub block_time: Option<Duration>,
    /// Which proofs the executors accept.
    pub proofs: DevnetProofs,
    /// Keep at most this many historical states per node, in memory only (anvil's
    /// `--prune-history`): for long runs, where anvil would otherwise write every state to
    /// disk. `None` keeps anvil's default (full history; calls at old blocks work).
    pub prune_history: Option<usize>,
    /// L1 records each opcode's gas (anvil's `--steps-tracing`), so that
    /// [`crate::gas_profile`] can say where a transaction's gas went. Off by default: it slows
    /// every transaction down.
    pub l1_steps_tracing: bool,
}

/// Which proofs a devnet's executors accept.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DevnetProofs {
    /// `MockVerifier` everywhere: accepts any proof (protocol tests, fast devnets).
    #[default]
    Mock,
    /// Real halo2 leaf proofs: the generated `Halo2LeafVerifier` on L1 and the Gateway and a
    /// `Halo2BatchVerifier` per chain and settlement layer. No `MockVerifier` is deployed.
    /// The Gateway's aggregated proof on L1: one flat aggregation of 4 leaves.
    Halo2,
    /// As [`DevnetProofs::Halo2`], but the Gateway's aggregated proof on L1 is a two-level
    /// tree of 16 leaves (`Halo2TreeVerifier`): its node runs with
    /// `--settlement.halo2-aggregation tree`.
    Halo2Tree,
}

impl Default for DevnetConfig {
    fn default() -> Self {
        Self {
            l1_chain_id: DEFAULT_L1_CHAIN_ID,
            gateway_chain_id: DEFAULT_GATEWAY_CHAIN_ID,
            first_chain_id: DEFAULT_FIRST_CHAIN_ID,
            chains: vec![InitialSettlement::Gateway; DEFAULT_CHAINS],
            block_time: None,
            proofs: DevnetProofs::Mock,
            prune_history: None,
            l1_steps_tracing: false,
        }
    }
}

/// One node of the topology.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeTopology {
    /// Its chain id.
    pub chain_id: u64,
    /// Its JSON-RPC endpoint.
    pub rpc_url: Url,
    /// Its anvil's pid (for operators' information; the devnet stops it); 0 for a node the
    /// devnet did not start (`ecosystem init`, `chain init`).
    pub pid: u32,
}

/// A settlement layer's contracts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SettlementLayerTopology {
    /// The node.
    pub node: NodeTopology,
    /// Its MessageRoot.
    pub message_root: Address,
    /// The verifier its executors use.
    pub verifier: Address,
    /// On the Gateway: its `GatewayFees` (the price per committed chain batch and the vault
    /// the fees go to); zero on L1.
    #[serde(default)]
    pub fees: Address,
    /// Who governs it (owns MessageRoot); on the Gateway also the migration relayer.
    pub governance: Address,
    /// The governance key (devnets only; empty, and left out of the file, when `init` was given key files).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub governance_key: String,
}

/// One chain of the devnet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainTopology {
    /// The chain's node.
    pub node: NodeTopology,
    /// Where it settled at start.
    pub initial_settlement: InitialSettlement,
    /// Its executor on L1.
    pub l1_executor: Address,
    /// Its executor on the Gateway.
    pub gateway_executor: Address,
    /// Its admin and operator account.
    pub operator: Address,
    /// The operator key (devnets only; empty, and left out of the file, when `init` was given key files).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub operator_key: String,
    /// Its batch 0, as both executors store it.
    pub genesis: GenesisBatch,
    /// Its interop contracts.
    #[serde(default)]
    pub interop: ChainInterop,
    /// Its `L2Inbox`, at [`INBOX_ADDRESS`] (zero: a topology from before deposits).
    #[serde(default)]
    pub inbox: Address,
}

/// A chain's interop contracts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainInterop {
    /// Its `L2Messenger`, at [`MESSENGER_ADDRESS`].
    pub messenger: Address,
    /// Its `InteropRoots`, written by the importer.
    pub interop_roots: Address,
    /// The importer's key (dev account 0 of the chain's anvil; devnets only: empty when `chain init` was given a key file).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub importer_key: String,
    /// Its `MessageVerifier` over the imported Gateway roots.
    pub message_verifier: Address,
}

/// L1's message verifiers.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct L1Interop {
    /// Over the Gateway batches' roots (`GatewayExecutor.sharedRootOf`).
    pub gateway_batches_verifier: Address,
    /// Over L1's own roots (`MessageRoot.historicalRoot`), for chains settling on L1.
    pub l1_roots_verifier: Address,
}

/// Where every chain's `L2Messenger` lives (the same address on each chain).
pub const MESSENGER_ADDRESS: Address =
    Address::new([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x80, 0x08]);

/// Where every chain's `L2Inbox` lives (the same address on each chain): the chain side of
/// L1 -> L2 transactions.
pub const INBOX_ADDRESS: Address =
    Address::new([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x80, 0x10]);

/// Where every chain's `L2Bridge` lives (the same address on each chain; the Bridgehub releases
/// escrowed value for its messages only).
pub const L2_BRIDGE_ADDRESS: Address =
    Address::new([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x80, 0x11]);

/// The native supply a dev chain's `L2Inbox` holds for deposits (1,000,000 ETH), standing in for
/// a protocol mint.
pub const INBOX_DEV_SUPPLY_WEI: u128 = 1_000_000 * 1_000_000_000_000_000_000;

/// A chain's batch 0.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GenesisBatch {
    /// The state commitment: the chain's genesis block hash.
    pub state_commitment: B256,
}

impl GenesisBatch {
    /// The stored info of batch 0.
    pub fn stored_info(&self) -> StoredBatchInfo {
        StoredBatchInfo { stateCommitment: self.state_commitment, ..Default::default() }
    }
}

/// The whole devnet, as written to the topology file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Topology {
    /// L1 and its contracts.
    pub l1: SettlementLayerTopology,
    /// The L1 Bridgehub.
    pub bridgehub: Address,
    /// The Gateway and its contracts.
    pub gateway: SettlementLayerTopology,
    /// The Gateway's own executor on L1 (a `GatewayExecutor`: one aggregated proof per
    /// Gateway batch), operated with the Gateway's governance key.
    pub gateway_l1_executor: Address,
    /// The Gateway's batch 0, as its L1 executor stores it.
    #[serde(default)]
    pub gateway_genesis: GenesisBatch,
    /// The chains.
    pub chains: Vec<ChainTopology>,
    /// Which proofs the executors accept.
    #[serde(default)]
    pub proofs: DevnetProofs,
    /// L1's message verifiers.
    #[serde(default)]
    pub l1_interop: L1Interop,
}

impl Topology {
    /// Reads a topology file.
    pub fn load(path: &Path) -> DevnetResult<Self> {
        let bytes = std::fs::read(path)
            .map_err(|source| DevnetError::Io { path: path.to_path_buf(), source })?;
        serde_json::from_slice(&bytes)
            .map_err(|e| DevnetError::Topology(format!("{}: {e}", path.display())))
    }

    /// Writes the topology file.
    pub fn save(&self, path: &Path) -> DevnetResult<()> {
        let json =
            serde_json::to_vec_pretty(self).map_err(|e| DevnetError::Topology(e.to_string()))?;
        std::fs::write(path, json)
            .map_err(|source| DevnetError::Io { path: path.to_path_buf(), source })
    }

    /// The chain with `chain_id`.
    pub fn chain(&self, chain_id: u64) -> Option<&ChainTopology> {
        self.chains.iter().find(|c| c.node.chain_id == chain_id)
    }

    /// Where `chain` settled at start: that layer's node and the chain's executor there.
    pub fn initial_layer(&self, chain: &ChainTopology) -> (&NodeTopology, Address) {
        match chain.initial_settlement {
            InitialSettlement::L1 => (&self.l1.node, chain.l1_executor),
            InitialSettlement::Gateway => (&self.gateway.node, chain.gateway_executor),
        }
    }
}

/// What an L1 -> L2 transaction costs on the devnet's Bridgehub (0.0001 ETH): flooding a
/// chain's priority queue costs the flooder.
pub const PRIORITY_OP_FEE_WEI: u64 = 100_000_000_000_000;

/// What the devnet's Gateway charges per committed chain batch (0.01 of its gas token).
pub const GATEWAY_FEE_PER_BATCH_WEI: u64 = 10_000_000_000_000_000;

/// Blocks between governance queueing a verifier change on an executor and applying it, on the
/// devnet (short, so that tests can wait it out; a production deployment picks its own).
pub const VERIFIER_DELAY_BLOCKS: u64 = 5;

/// Governance's verifier change on an executor (a `ChainExecutor` or the `GatewayExecutor`,
/// which share the three calls), waited out on a devnet: queued with `governance_key`, the delay
/// mined away on the anvil at `url`, applied.
pub async fn change_verifier(
    url: &Url,
    governance_key: &str,
    executor: Address,
    verifier: Address,
) -> DevnetResult<()> {
    let governance = signer_provider(url.clone(), governance_key)?;
    let executor = ChainExecutor::new(executor, &governance);
    send("queue the verifier", executor.queueVerifier(verifier).send()).await?;
    let delay: u64 = executor
        .verifierDelay()
        .call()
        .await
        .map_err(|e| DevnetError::Rpc(format!("verifierDelay: {e}")))?
        .saturating_to();
    crate::traffic::rpc_call(url, "anvil_mine", serde_json::json!([delay])).await?;
    send("apply the verifier", executor.applyVerifier().send()).await?;
    Ok(())
}
