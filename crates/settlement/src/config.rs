//! Settings of the settlement ExEx: the chain, its settlement layers, the operator's keys, batch
//! limits, and the optional parts (runtime migration, interop, gateway mode). Plain data: nothing
//! here talks to a layer.

use std::{fmt, time::Duration};

use alloy::{
    network::EthereumWallet,
    primitives::{Address, U256},
    providers::{DynProvider, Provider as _, ProviderBuilder},
    signers::local::PrivateKeySigner,
    transports::http::reqwest::Url,
};
use gateway_primitives::DaScheme;

use crate::error::{SettlementError, SettlementResult};

/// Seal a batch at this many blocks by default.
pub const DEFAULT_MAX_BLOCKS: u64 = 10;
/// Seal a batch at this many transactions by default.
pub const DEFAULT_MAX_TXS: u64 = 1_000;
/// Seal a batch at this many pubdata bytes by default.
pub const DEFAULT_MAX_PUBDATA_BYTES: u64 = 120_000;
/// Seal a batch at this much gas by default.
pub const DEFAULT_MAX_GAS: u64 = 300_000_000;
/// Seal a non-empty batch this long after its first block by default.
pub const DEFAULT_BATCH_TIMEOUT: Duration = Duration::from_secs(10);
/// Batches per commit, prove or execute transaction by default.
pub const DEFAULT_MAX_BATCHES_PER_TX: usize = 10;
/// How often the sender looks at the settlement layer by default.
pub const DEFAULT_SENDER_POLL_INTERVAL: Duration = Duration::from_secs(1);
/// How long a settlement-layer transaction may take to be mined by default.
pub const DEFAULT_TX_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a migration's drain waits for priority operations pending on the old layer before
/// it is cancelled (nothing in this build processes them, so they would block it forever).
pub const DEFAULT_PRIORITY_OPS_DRAIN_TIMEOUT: Duration = Duration::from_secs(10 * 60);
/// Proof jobs run at once by default (real proofs take gigabytes each).
pub const DEFAULT_PROOF_CONCURRENCY: u64 = 1;
/// Blocks on the settlement layer a transaction must be under before it counts as mined.
pub const DEFAULT_LAYER_CONFIRMATIONS: u64 = 1;
/// Executed batches whose pubdata is kept by default, in case a settlement-layer reorg undoes
/// their execution and they must be committed again.
pub const DEFAULT_PUBDATA_RETENTION_BATCHES: u64 = 64;

/// How long the data of L1-final batches stays in the store by default (their blocks, for
/// message proofs, and in gateway mode the carried chain batches' proofs).
pub const DEFAULT_RETENTION: Duration = Duration::from_secs(7 * 24 * 60 * 60);

/// When the batcher seals a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchLimits {
    /// At most this many blocks.
    pub max_blocks: u64,
    /// At most this many transactions.
    pub max_txs: u64,
    /// At most this many pubdata bytes.
    pub max_pubdata_bytes: u64,
    /// At most this much gas.
    pub max_gas: u64,
    /// Seal a non-empty batch once its first block is this old.
    pub timeout: Duration,
}

impl Default for BatchLimits {
    fn default() -> Self {
        Self {
            max_blocks: DEFAULT_MAX_BLOCKS,
            max_txs: DEFAULT_MAX_TXS,
            max_pubdata_bytes: DEFAULT_MAX_PUBDATA_BYTES,
            max_gas: DEFAULT_MAX_GAS,
            timeout: DEFAULT_BATCH_TIMEOUT,
        }
    }
}

/// Where the chain settles.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettlementLayerEndpoint {
    /// The settlement layer's chain id (it goes into every batch commitment).
    pub chain_id: u64,
    /// Its JSON-RPC endpoint.
    pub rpc_url: Url,
    /// The chain's executor there.
    pub executor: Address,
}

/// The operator's private key; never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct OperatorKey(String);

impl OperatorKey {
    /// Wraps a hex private key.
    pub fn new(key: impl Into<String>) -> Self {
        Self(key.into())
    }

    /// The key, for the signer only.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Its signer; `what` names the key in the error (`operator`, `relayer`, ...).
    pub fn signer(&self, what: &'static str) -> SettlementResult<PrivateKeySigner> {
        self.0.parse().map_err(|source| SettlementError::Key { what, source: Box::new(source) })
    }

    /// A provider for `url` that signs with this key, estimates gas, and reads the nonce for
    /// every transaction (other parts of the node may send with the same key on the same
    /// chain).
    pub fn provider(&self, what: &'static str, url: &Url) -> SettlementResult<DynProvider> {
        Ok(ProviderBuilder::new()
            .disable_recommended_fillers()
            .with_gas_estimation()
            .with_simple_nonce_management()
            .fetch_chain_id()
            .wallet(EthereumWallet::from(self.signer(what)?))
            .connect_http(url.clone())
            .erased())
    }
}

impl fmt::Debug for OperatorKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("OperatorKey(<redacted>)")
    }
}

/// Everything the settlement ExEx needs.
#[derive(Debug, Clone)]
pub struct SettlementConfig {
    /// The chain being settled.
    pub chain_id: u64,
    /// The state commitment of the chain's batch 0 (its genesis block hash on the devnet).
    pub genesis_state_commitment: alloy::primitives::B256,
    /// Where it settles.
    pub layer: SettlementLayerEndpoint,
    /// Signs commit, prove and execute transactions.
    pub operator_key: OperatorKey,
    /// How the batches' data is made available.
    pub da: DaScheme,
    /// When to seal.
    pub limits: BatchLimits,
    /// Only blocks at least this deep are batched.
    pub confirmations: u64,
    /// Batches per settlement-layer transaction.
    pub max_batches_per_tx: usize,
    /// How often the sender looks at the settlement layer.
    pub poll_interval: Duration,
    /// How long a transaction may take to be mined.
    pub tx_timeout: Duration,
    /// How long a migration's drain waits for pending priority operations before it is
    /// cancelled (`--settlement.migration-priority-ops-timeout`).
    pub priority_ops_drain_timeout: Duration,
    /// Blocks a settlement-layer transaction must be under (1: mined) before the sender moves on.
    pub layer_confirmations: u64,
    /// Proof jobs run at once.
    pub proof_concurrency: u64,
    /// Executed batches whose pubdata is kept (a settlement-layer reorg may need it again).
    pub pubdata_retention_batches: u64,
    /// How long after its last block an L1-final batch's data stays in the store (see
    /// `retention`).
    pub retention: Duration,
    /// The contract whose logs are the chain's L2 -> L1 messages, if any.
    pub messenger: Option<Address>,
    /// The chain's `L2Inbox`: its logs are the priority operations (L1 -> L2 transactions) the
    /// chain processed, which each batch reports (`numberOfL1Txs`, `priorityOpsHash`); with a
    /// relayer key the node also hands it the operations queued on its settlement layer.
    pub inbox: Option<InboxConfig>,
    /// The highest fee per gas (wei) the sender pays, if capped.
    pub max_fee_per_gas: Option<u128>,
    /// Set in the Gateway's own node: settle the Gateway on L1 with aggregated proofs
    /// (`layer` is then L1 and its executor the `GatewayExecutor`).
    pub gateway: Option<GatewayMode>,
    /// Where a chain settling on the Gateway reads its batches' L1 finality, if anywhere.
    pub l1_finality: Option<L1FinalitySource>,
    /// Both layers and the Bridgehub, to switch the settlement layer at runtime.
    pub migration: Option<MigrationConfig>,
    /// Interop: importing the Gateway's interop roots, and message proofs.
    pub interop: Option<InteropConfig>,
}

/// Where a chain on the Gateway learns which of its batches are L1-final: the Gateway's
/// executor on L1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct L1FinalitySource {
    /// L1's JSON-RPC endpoint.
    pub l1_rpc_url: Url,
    /// The Gateway's `GatewayExecutor` on L1.
    pub gateway_executor: Address,
}

impl SettlementConfig {
    /// This configuration settling on `layer` instead: rollup blobs become calldata off L1
    /// (blobs exist on L1 only; the Gateway carries the pubdata to L1 in its own batch).
    pub fn on_layer(&self, layer: SettlementLayerEndpoint, l1_chain_id: u64) -> Self {
        let mut config = self.clone();
        if layer.chain_id != l1_chain_id && config.da == DaScheme::RollupBlobs {
            config.da = DaScheme::RollupCalldata;
        }
        config.layer = layer;
        config
    }

    /// Defaults for everything but what identifies the chain and its settlement layer.
    pub fn new(
        chain_id: u64,
        genesis_state_commitment: alloy::primitives::B256,
        layer: SettlementLayerEndpoint,
        operator_key: OperatorKey,
    ) -> Self {
        Self {
            chain_id,
            genesis_state_commitment,
            layer,
            operator_key,
            da: DaScheme::Validium,
            limits: BatchLimits::default(),
            confirmations: 0,
            max_batches_per_tx: DEFAULT_MAX_BATCHES_PER_TX,
            poll_interval: DEFAULT_SENDER_POLL_INTERVAL,
            tx_timeout: DEFAULT_TX_TIMEOUT,
            priority_ops_drain_timeout: DEFAULT_PRIORITY_OPS_DRAIN_TIMEOUT,
            layer_confirmations: DEFAULT_LAYER_CONFIRMATIONS,
            proof_concurrency: DEFAULT_PROOF_CONCURRENCY,
            pubdata_retention_batches: DEFAULT_PUBDATA_RETENTION_BATCHES,
            retention: DEFAULT_RETENTION,
            messenger: None,
            inbox: None,
            max_fee_per_gas: None,
            gateway: None,
            l1_finality: None,
            migration: None,
            interop: None,
        }
    }
}

/// Which settlement layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LayerKind {
    /// Ethereum (the devnet's L1 anvil).
    L1,
    /// The Gateway.
    Gateway,
}

impl LayerKind {
    /// `l1` or `gateway`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::L1 => "l1",
            Self::Gateway => "gateway",
        }
    }
}

/// A layer name that is neither `l1` nor `gateway`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown settlement layer {0:?}: expected \"l1\" or \"gateway\"")]
pub struct UnknownLayer(pub String);

impl std::str::FromStr for LayerKind {
    type Err = UnknownLayer;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "l1" => Ok(Self::L1),
            "gateway" => Ok(Self::Gateway),
            other => Err(UnknownLayer(other.to_string())),
        }
    }
}

/// What a chain needs to switch its settlement layer at runtime.
#[derive(Debug, Clone)]
pub struct MigrationConfig {
    /// L1, with the chain's executor there.
    pub l1: SettlementLayerEndpoint,
    /// The Gateway, with the chain's executor there.
    pub gateway: SettlementLayerEndpoint,
    /// The Bridgehub on L1.
    pub bridgehub: Address,
    /// The chain admin's key on the Bridgehub (default: the operator key).
    pub admin_key: Option<OperatorKey>,
    /// The Gateway's relayer key, if this node may act as the relayer (it carries the
    /// Bridgehub's migrations to the Gateway's executor). Without it the node waits for the
    /// Gateway's relayer.
    pub relayer_key: Option<OperatorKey>,
    /// Settle here: a different on-chain layer at start starts a migration (`--settlement.layer`).
    pub start_on: Option<LayerKind>,
}

impl MigrationConfig {
    /// The endpoint of `kind`.
    pub const fn endpoint(&self, kind: LayerKind) -> &SettlementLayerEndpoint {
        match kind {
            LayerKind::L1 => &self.l1,
            LayerKind::Gateway => &self.gateway,
        }
    }

    /// Which layer has chain id `chain_id`, if either.
    pub fn kind_of(&self, chain_id: u64) -> Option<LayerKind> {
        if chain_id == self.l1.chain_id {
            Some(LayerKind::L1)
        } else if chain_id == self.gateway.chain_id {
            Some(LayerKind::Gateway)
        } else {
            None
        }
    }
}

/// A `MessageRoot` and where to read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageRootSource {
    /// The layer's chain id.
    pub chain_id: u64,
    /// Its JSON-RPC endpoint.
    pub rpc_url: Url,
    /// Its `MessageRoot`.
    pub message_root: Address,
}

/// The chain's `L2Inbox` and who relays to it.
#[derive(Debug, Clone)]
pub struct InboxConfig {
    /// Its address on the chain.
    pub address: Address,
    /// The chain's own JSON-RPC endpoint (where the relayer sends).
    pub chain_rpc_url: Url,
    /// Signs `processOp` (the inbox's `relayer`); `None`: another process relays, this node
    /// only reports what the chain processed.
    pub relayer_key: Option<OperatorKey>,
}

/// What interop needs on a chain's node.
#[derive(Debug, Clone)]
pub struct InteropConfig {
    /// The chain's own JSON-RPC endpoint (receipts, and the import transactions).
    pub chain_rpc_url: Url,
    /// The chain's `InteropRoots`.
    pub interop_roots: Address,
    /// Signs `importRoot` (the contract's `importer`).
    pub importer_key: OperatorKey,
    /// The Gateway's `MessageRoot` (roots to import; trees of batches executed there).
    pub gateway: MessageRootSource,
    /// L1's `MessageRoot` (trees of batches executed on L1).
    pub l1: MessageRootSource,
    /// The Gateway's `GatewayExecutor` on L1 (Gateway batches' roots, chain batches' L1 finality).
    pub gateway_executor_on_l1: Address,
    /// How many Gateway blocks must follow the block of an interop root before it is imported
    /// ([`DEFAULT_ROOT_CONFIRMATIONS`]): a root imported and then reorged away on the Gateway
    /// would make every later batch of the chain unexecutable there (`UnknownInteropRoot`).
    pub root_confirmations: u64,
}

/// Gateway blocks that must follow an interop root's block before it is imported, by default.
pub const DEFAULT_ROOT_CONFIRMATIONS: u64 = 2;

/// The fixed price per chain batch by default: 0.01 $ZK.
pub const DEFAULT_PRICE_PER_CHAIN_BATCH: u128 = 10_000_000_000_000_000;
/// Direct L1 gas per chain batch by default: measured by `bench-contracts` (one batch per
/// commit, prove and execute transaction, mock verifier: ≈ 375k gas).
pub const DEFAULT_DIRECT_L1_GAS_PER_BATCH: u64 = 374_784;

/// What gateway mode (the Gateway's own node) needs beyond the settlement config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewayMode {
    /// The Gateway's MessageRoot: its `ExecutorSet` events name the chain executors followed.
    pub message_root: Address,
    /// The fixed price each chain pays per settled batch, in the Gateway's gas token (wei).
    pub price_per_chain_batch: U256,
    /// L1 gas one chain batch costs settled directly on L1 (commit + prove + execute), measured;
    /// the status compares each chain's share of the Gateway's real L1 cost with it.
    pub direct_l1_gas_per_batch: u64,
    /// A Gateway batch carries at most this many chain batches (`None`: as many as the proof
    /// backend aggregates, minus the Gateway's own leaf).
    pub max_chain_batches: Option<usize>,
    /// The Gateway's fee vault (`GatewayFees`) and the Gateway node to read it at: the status
    /// shows its price and the fees collected.
    pub fee_vault: Option<FeeVault>,
}

impl GatewayMode {
    /// Gateway mode following `message_root`, with the default price and direct-L1 gas.
    pub fn new(message_root: Address) -> Self {
        Self {
            message_root,
            price_per_chain_batch: U256::from(DEFAULT_PRICE_PER_CHAIN_BATCH),
            direct_l1_gas_per_batch: DEFAULT_DIRECT_L1_GAS_PER_BATCH,
            max_chain_batches: None,
            fee_vault: None,
        }
    }
}

/// The Gateway's fee vault, for gateway mode's status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeeVault {
    /// The Gateway node's JSON-RPC endpoint.
    pub rpc_url: Url,
    /// Its `GatewayFees`.
    pub address: Address,
}

/// Unit tests' configuration: chain 270 on a settlement layer 506 nobody listens at.
#[cfg(test)]
pub(crate) fn offline_config() -> SettlementConfig {
    let layer = SettlementLayerEndpoint {
        chain_id: 506,
        rpc_url: "http://127.0.0.1:1".parse().unwrap_or_else(|_| unreachable!()),
        executor: Default::default(),
    };
    SettlementConfig::new(270, Default::default(), layer, OperatorKey::new(""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_operator_key_never_prints() {
        let key = OperatorKey::new("0xsecret");
        assert!(!format!("{key:?}").contains("secret"));
        assert_eq!(key.expose(), "0xsecret");
    }
}
