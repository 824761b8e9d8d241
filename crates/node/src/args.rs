//! The settlement flags of `gateway-node node`.

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use alloy::{
    primitives::{Address, B256},
    transports::http::reqwest::Url,
};
use clap::{Args, ValueEnum};
use gateway_settlement::{
    DEFAULT_LAYER_CONFIRMATIONS, DEFAULT_MAX_BATCHES_PER_TX, DEFAULT_MAX_BLOCKS, DEFAULT_MAX_GAS,
    DEFAULT_MAX_PUBDATA_BYTES, DEFAULT_MAX_TXS, DEFAULT_PROOF_CONCURRENCY,
};

/// The Gateway's chain id on mainnet.
pub const GATEWAY_MAINNET_CHAIN_ID: u64 = 9075;
/// The Gateway's chain id on testnet.
pub const GATEWAY_TESTNET_CHAIN_ID: u64 = 506;

/// Which settlement layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LayerArg {
    /// Ethereum (L1) directly.
    L1,
    /// The Gateway.
    Gateway,
}

/// How batch data is made available.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DaArg {
    /// EIP-4844 blobs on L1.
    RollupBlobs,
    /// Calldata.
    RollupCalldata,
    /// A commitment only.
    Validium,
}

/// Which proof backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ProofsArg {
    /// Instant fake proofs, accepted only by MockVerifier (devnets and protocol tests).
    Mock,
    /// Real halo2-KZG proofs.
    Halo2,
}

/// The shape of the Gateway's aggregated halo2 proof.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum)]
pub enum Halo2AggregationArg {
    /// One aggregation of 4 leaves (the Gateway's and 3 chain batches), verified on L1 by
    /// `Halo2AggregationVerifier`.
    #[default]
    Flat,
    /// A two-level tree of 16 leaves (the Gateway's and 15 chain batches): four aggregations
    /// of 4 leaves, aggregated again; verified on L1 by `Halo2TreeVerifier`.
    Tree,
}

impl Halo2AggregationArg {
    /// Whether it is the tree.
    pub const fn is_tree(self) -> bool {
        matches!(self, Self::Tree)
    }
}

/// Everything `gateway-node node` adds to the host's flags.
#[derive(Debug, Clone, Args)]
pub struct NodeExtArgs {
    /// Settlement.
    #[command(flatten)]
    pub settlement: SettlementArgs,
    /// Batching.
    #[command(flatten)]
    pub batch: BatchArgs,
    /// Gateway mode.
    #[command(flatten)]
    pub gateway: GatewayArgs,
    /// Interop.
    #[command(flatten)]
    pub interop: InteropArgs,
    /// Proof jobs on workers elsewhere.
    #[command(flatten)]
    pub prover: ProverQueueArgs,
    /// Allow setups that are safe on a devnet only: settling through an executor whose verifier
    /// is a `MockVerifier` (accepts any proof), mock proofs, halo2 proofs over the public-seed
    /// dev SRS. Without it the node refuses them at start.
    #[arg(long = "dev", env = "GATEWAY_DEV")]
    pub dev: bool,
    /// Serve Prometheus metrics on this address.
    #[arg(long = "metrics", env = "GATEWAY_METRICS", value_name = "ADDR")]
    pub metrics: Option<SocketAddr>,
    /// A TOML file with any of these settings (`[settlement] layer = "gateway"`); flags and
    /// environment variables override it.
    #[arg(long = "config", env = "GATEWAY_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
}

/// `--prover.*`: proof jobs in PostgreSQL, proved by `gateway-node prover` workers on any
/// machine. Without `--prover.queue` the node proves in-process.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Prover queue")]
pub struct ProverQueueArgs {
    /// Put proof jobs (leaf proofs, aggregations) into this PostgreSQL database
    /// (`postgres://user:password@host:port/db`) for `gateway-node prover` workers; every proof
    /// they return is verified here before it is used.
    #[arg(long = "prover.queue", env = "GATEWAY_PROVER_QUEUE", value_name = "URL")]
    pub queue: Option<String>,
    /// CA certificates (PEM) to trust for the queue's TLS certificate, beside the system's
    /// (TLS follows the address's `sslmode`: `require` for TLS only).
    #[arg(
        long = "prover.queue-ca-file",
        env = "GATEWAY_PROVER_QUEUE_CA_FILE",
        value_name = "FILE",
        requires = "queue"
    )]
    pub queue_ca_file: Option<PathBuf>,
    /// Claims a job may have (a worker's failure, an expired lease and a refused proof each
    /// spend one) before it is marked failed and shown in the status.
    #[arg(
        long = "prover.max-attempts",
        env = "GATEWAY_PROVER_MAX_ATTEMPTS",
        default_value_t = 3,
        value_parser = clap::value_parser!(u32).range(1..=100),
        value_name = "N"
    )]
    pub max_attempts: u32,
}

/// `--settlement.*`.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Settlement")]
pub struct SettlementArgs {
    /// Run the settlement ExEx.
    #[arg(long = "settlement.enabled", env = "GATEWAY_SETTLEMENT_ENABLED")]
    pub enabled: bool,
    /// Where the chain settles. With runtime migration (both layers and the Bridgehub known)
    /// leave it out: the node follows the Bridgehub. Given and different from the Bridgehub's,
    /// it starts a migration at start, unless the last migration was made at runtime
    /// (`settlement_migrate`): a restart never undoes that. Without runtime migration: `l1`
    /// when L1 is known, else `gateway`.
    #[arg(
        long = "settlement.layer",
        env = "GATEWAY_SETTLEMENT_LAYER",
        value_enum,
        value_name = "LAYER"
    )]
    pub layer: Option<LayerArg>,
    /// L1's JSON-RPC endpoint.
    #[arg(
        long = "settlement.l1-rpc-url",
        env = "GATEWAY_SETTLEMENT_L1_RPC_URL",
        value_name = "URL"
    )]
    pub l1_rpc_url: Option<Url>,
    /// The Gateway's JSON-RPC endpoint.
    #[arg(
        long = "settlement.gateway-rpc-url",
        env = "GATEWAY_SETTLEMENT_GATEWAY_RPC_URL",
        value_name = "URL"
    )]
    pub gateway_rpc_url: Option<Url>,
    /// Which Gateway: `mainnet` (9075), `testnet` (506) or a chain id.
    #[arg(long = "settlement.gateway-network", env = "GATEWAY_SETTLEMENT_GATEWAY_NETWORK", value_name = "NETWORK", default_value = "testnet", value_parser = parse_network)]
    pub gateway_network: u64,
    /// A file holding the operator's private key (hex). Or set GATEWAY_OPERATOR_KEY.
    #[arg(
        long = "settlement.operator-key-file",
        env = "GATEWAY_SETTLEMENT_OPERATOR_KEY_FILE",
        value_name = "FILE"
    )]
    pub operator_key_file: Option<PathBuf>,
    /// How batch data is made available.
    #[arg(
        long = "settlement.da",
        env = "GATEWAY_SETTLEMENT_DA",
        value_enum,
        default_value = "validium",
        value_name = "MODE"
    )]
    pub da: DaArg,
    /// Only blocks at least this deep are batched.
    #[arg(
        long = "settlement.confirmations",
        env = "GATEWAY_SETTLEMENT_CONFIRMATIONS",
        value_name = "BLOCKS",
        default_value_t = 0
    )]
    pub confirmations: u64,
    /// The highest fee per gas (wei) the sender pays.
    #[arg(
        long = "settlement.max-fee-per-gas",
        env = "GATEWAY_SETTLEMENT_MAX_FEE_PER_GAS",
        value_name = "WEI"
    )]
    pub max_fee_per_gas: Option<u128>,
    /// The devnet topology file to read executor addresses and the genesis batch from.
    #[arg(long = "settlement.topology", env = "GATEWAY_SETTLEMENT_TOPOLOGY", value_name = "FILE")]
    pub topology: Option<PathBuf>,
    /// The chain's executor on L1 (instead of a topology file).
    #[arg(
        long = "settlement.l1-executor",
        env = "GATEWAY_SETTLEMENT_L1_EXECUTOR",
        value_name = "ADDRESS"
    )]
    pub l1_executor: Option<Address>,
    /// The chain's executor on the Gateway (instead of a topology file).
    #[arg(
        long = "settlement.gateway-executor",
        env = "GATEWAY_SETTLEMENT_GATEWAY_EXECUTOR",
        value_name = "ADDRESS"
    )]
    pub gateway_executor: Option<Address>,
    /// The Gateway's `GatewayExecutor` on L1 (default: the topology's). With L1 known, a chain
    /// on the Gateway reads there which of its batches are L1-final
    /// (`settlement_status.finality`); on by default when it is known.
    #[arg(
        long = "settlement.gateway-l1-executor",
        env = "GATEWAY_SETTLEMENT_GATEWAY_L1_EXECUTOR",
        value_name = "ADDRESS"
    )]
    pub gateway_l1_executor: Option<Address>,
    /// The state commitment of the chain's batch 0 (instead of a topology file).
    #[arg(
        long = "settlement.genesis-state-commitment",
        env = "GATEWAY_SETTLEMENT_GENESIS_STATE_COMMITMENT",
        value_name = "HASH"
    )]
    pub genesis_state_commitment: Option<B256>,
    /// The proof backend; `mock` is for devnets only.
    #[arg(
        long = "settlement.proofs",
        env = "GATEWAY_SETTLEMENT_PROOFS",
        value_enum,
        default_value = "halo2",
        value_name = "BACKEND"
    )]
    pub proofs: ProofsArg,
    /// A ceremony SRS file (halo2 `ParamsKZG` format) for `--settlement.proofs halo2`; without
    /// it the INSECURE dev SRS is used.
    #[arg(long = "settlement.srs-file", env = "GATEWAY_SETTLEMENT_SRS_FILE", value_name = "FILE")]
    pub srs_file: Option<PathBuf>,
    /// Where the halo2 SRS and keys are cached (default: the one cache the devnet and the
    /// tests use too, `$XDG_CACHE_HOME/gateway-exex/halo2` or `~/.cache/gateway-exex/halo2`;
    /// keys are named by circuit, k and SRS hash, so a ceremony SRS never meets dev-SRS keys).
    #[arg(
        long = "settlement.halo2-cache-dir",
        env = "GATEWAY_SETTLEMENT_HALO2_CACHE_DIR",
        value_name = "DIR"
    )]
    pub halo2_cache_dir: Option<PathBuf>,
    /// Gateway mode with halo2: the shape of the aggregated proof, which must match the
    /// verifier behind the Gateway's executor on L1 (checked at start): `flat` (4 leaves) or
    /// `tree` (16 leaves: up to 15 chain batches per Gateway batch, about five times the
    /// proving work of `flat`).
    #[arg(
        long = "settlement.halo2-aggregation",
        env = "GATEWAY_SETTLEMENT_HALO2_AGGREGATION",
        value_enum,
        default_value = "flat",
        value_name = "SHAPE"
    )]
    pub halo2_aggregation: Halo2AggregationArg,
    /// How often the sender looks at the settlement layer (receipts, the executor's counters).
    #[arg(long = "settlement.poll-interval", env = "GATEWAY_SETTLEMENT_POLL_INTERVAL", value_name = "DURATION", default_value = "1s", value_parser = parse_poll_interval)]
    pub poll_interval: Duration,
    /// Batches per commit, prove or execute transaction.
    #[arg(long = "settlement.max-batches-per-tx", env = "GATEWAY_SETTLEMENT_MAX_BATCHES_PER_TX", value_name = "N", default_value_t = DEFAULT_MAX_BATCHES_PER_TX)]
    pub max_batches_per_tx: usize,
    /// Blocks a settlement-layer transaction must be under before the next one is sent (1: mined).
    #[arg(long = "settlement.layer-confirmations", env = "GATEWAY_SETTLEMENT_LAYER_CONFIRMATIONS", value_name = "BLOCKS", default_value_t = DEFAULT_LAYER_CONFIRMATIONS, value_parser = clap::value_parser!(u64).range(1..))]
    pub layer_confirmations: u64,
    /// How long a settlement-layer transaction may wait to be mined before it is resent with a
    /// higher fee.
    #[arg(long = "settlement.tx-timeout", env = "GATEWAY_SETTLEMENT_TX_TIMEOUT", value_name = "DURATION", default_value = "60s", value_parser = humantime::parse_duration)]
    pub tx_timeout: Duration,
    /// How long a migration's drain waits for priority operations pending on the old layer
    /// before it is cancelled (this build's batcher does not process them yet).
    #[arg(long = "settlement.migration-priority-ops-timeout", env = "GATEWAY_SETTLEMENT_MIGRATION_PRIORITY_OPS_TIMEOUT", value_name = "DURATION", default_value = "10m", value_parser = humantime::parse_duration)]
    pub migration_priority_ops_timeout: Duration,
    /// How long the data of an L1-final batch stays in the store after its last block (its
    /// blocks, which message proofs read; in gateway mode the carried chain batches' proofs);
    /// then it is pruned.
    #[arg(long = "settlement.retention", env = "GATEWAY_SETTLEMENT_RETENTION", value_name = "DURATION", default_value = "7d", value_parser = humantime::parse_duration)]
    pub retention: Duration,
    /// Proof jobs run at once (each real proof takes gigabytes).
    #[arg(long = "settlement.proof-concurrency", env = "GATEWAY_SETTLEMENT_PROOF_CONCURRENCY", value_name = "N", default_value_t = DEFAULT_PROOF_CONCURRENCY, value_parser = clap::value_parser!(u64).range(1..64))]
    pub proof_concurrency: u64,
    /// The chain's L2Messenger: its `MessageSent` logs are the chain's L2->L1 messages
    /// (default: the one in --settlement.topology; without either, no message is collected).
    #[arg(
        long = "settlement.messenger",
        env = "GATEWAY_SETTLEMENT_MESSENGER",
        value_name = "ADDRESS"
    )]
    pub messenger: Option<Address>,
    /// The chain's `L2Inbox` (default: the topology's): its logs are the L1 -> L2 transactions
    /// the chain processed, which each batch reports to the settlement layer.
    #[arg(long = "settlement.inbox", env = "GATEWAY_SETTLEMENT_INBOX", value_name = "ADDRESS")]
    pub inbox: Option<Address>,
    /// A file holding the key of the `L2Inbox`'s relayer: this node then hands the chain the
    /// L1 -> L2 transactions queued on its settlement layer (default: the interop importer's
    /// key, `--interop.importer-key-file` or the topology's; without any, another process
    /// relays).
    #[arg(
        long = "settlement.inbox-relayer-key-file",
        env = "GATEWAY_SETTLEMENT_INBOX_RELAYER_KEY_FILE",
        value_name = "FILE"
    )]
    pub inbox_relayer_key_file: Option<PathBuf>,
    /// The L1 Bridgehub (instead of a topology file). With both layers known it turns on
    /// runtime migration: `settlement_migrate`, and a `--settlement.layer` that differs from the
    /// Bridgehub's migrates the chain at start.
    #[arg(
        long = "settlement.bridgehub",
        env = "GATEWAY_SETTLEMENT_BRIDGEHUB",
        value_name = "ADDRESS"
    )]
    pub bridgehub: Option<Address>,
    /// A file holding the chain admin's key on the Bridgehub (default: the operator key).
    #[arg(
        long = "settlement.admin-key-file",
        env = "GATEWAY_SETTLEMENT_ADMIN_KEY_FILE",
        value_name = "FILE"
    )]
    pub admin_key_file: Option<PathBuf>,
    /// A file holding the Gateway relayer's key: this node then carries its own migrations to
    /// the Gateway's executor (devnets; without it the Gateway's relayer does).
    #[arg(
        long = "settlement.relayer-key-file",
        env = "GATEWAY_SETTLEMENT_RELAYER_KEY_FILE",
        value_name = "FILE"
    )]
    pub relayer_key_file: Option<PathBuf>,
}

/// `--gateway.*`: what the Gateway's own node serves.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Gateway")]
pub struct GatewayArgs {
    /// Gateway mode: this node follows the Gateway (`--chain.rpc-url`), records the chains'
    /// batches settled on it, aggregates their proofs and settles the Gateway on L1
    /// (`--settlement.l1-rpc-url`, the operator key is the Gateway's L1 operator). Needs
    /// `--settlement.enabled`.
    #[arg(id = "gateway.enabled", long = "gateway.enabled", env = "GATEWAY_GATEWAY_ENABLED")]
    pub enabled: bool,
    /// The Gateway's `GatewayExecutor` on L1 (default: the topology's).
    #[arg(
        id = "gateway.l1-executor",
        long = "gateway.l1-executor",
        env = "GATEWAY_GATEWAY_L1_EXECUTOR",
        value_name = "ADDRESS"
    )]
    pub l1_executor: Option<Address>,
    /// The Gateway's `MessageRoot`, whose `ExecutorSet` events name the chain executors the
    /// node follows (default: the topology's).
    #[arg(
        id = "gateway.message-root",
        long = "gateway.message-root",
        env = "GATEWAY_GATEWAY_MESSAGE_ROOT",
        value_name = "ADDRESS"
    )]
    pub message_root: Option<Address>,
    /// The fixed price each chain pays per settled batch, in the Gateway's gas token (wei).
    #[arg(id = "gateway.price-per-chain-batch", long = "gateway.price-per-chain-batch", env = "GATEWAY_GATEWAY_PRICE_PER_CHAIN_BATCH", value_name = "WEI", default_value_t = gateway_settlement::DEFAULT_PRICE_PER_CHAIN_BATCH)]
    pub price_per_chain_batch: u128,
    /// The Gateway's fee vault (`GatewayFees`, default: the topology's): the status shows the
    /// price chains pay per committed batch and the fees collected, beside the L1 cost.
    #[arg(
        id = "gateway.fee-vault",
        long = "gateway.fee-vault",
        env = "GATEWAY_GATEWAY_FEE_VAULT",
        value_name = "ADDRESS"
    )]
    pub fee_vault: Option<Address>,
    /// A Gateway batch carries at most this many chain batches (default: as many as the proof
    /// backend aggregates, less the Gateway's own leaf).
    #[arg(id = "gateway.max-chain-batches", long = "gateway.max-chain-batches", env = "GATEWAY_GATEWAY_MAX_CHAIN_BATCHES", value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub max_chain_batches: Option<u64>,
    /// Serve the Gateway's public JSON-RPC here: an allowlist of methods is forwarded to the
    /// followed node (`--chain.rpc-url`, the Gateway's sequencer) and contract deployments from
    /// accounts not on the deployment allowlist are refused.
    #[arg(long = "gateway.public-rpc", env = "GATEWAY_GATEWAY_PUBLIC_RPC", value_name = "ADDR")]
    pub public_rpc: Option<SocketAddr>,
    /// Accounts allowed to deploy contracts on the Gateway, added to the persisted allowlist
    /// (`<datadir>/gateway/deployment-allowlist.json`; change it at runtime with
    /// `gateway_allowDeployer` / `gateway_disallowDeployer` on the authenticated `--authrpc`).
    #[arg(
        long = "gateway.deployers",
        env = "GATEWAY_GATEWAY_DEPLOYERS",
        value_name = "ADDRESSES",
        value_delimiter = ','
    )]
    pub deployers: Vec<Address>,
    /// Transactions from accounts off the allowlist that each client address may have traced
    /// per second before the public front forwards them.
    #[arg(long = "gateway.traces-per-second", env = "GATEWAY_GATEWAY_TRACES_PER_SECOND", value_name = "N", default_value_t = gateway_mode::DEFAULT_TRACES_PER_SECOND)]
    pub traces_per_second: f64,
    /// ... and at once.
    #[arg(long = "gateway.trace-burst", env = "GATEWAY_GATEWAY_TRACE_BURST", value_name = "N", default_value_t = gateway_mode::DEFAULT_TRACE_BURST)]
    pub trace_burst: u32,
}

/// `--interop.*`: importing the Gateway's interop roots into the chain, and
/// `interop_getMessageProof`. On when the chain's `InteropRoots` is known (from the flag or
/// `--settlement.topology`), with both layers and the Gateway's L1 executor.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Interop")]
pub struct InteropArgs {
    /// The chain's `InteropRoots` contract (default: the topology's).
    #[arg(
        id = "interop.roots",
        long = "interop.roots",
        env = "GATEWAY_INTEROP_ROOTS",
        value_name = "ADDRESS"
    )]
    pub roots: Option<Address>,
    /// A file holding the key of `InteropRoots`' importer (default: the topology's, dev only).
    #[arg(
        id = "interop.importer-key-file",
        long = "interop.importer-key-file",
        env = "GATEWAY_INTEROP_IMPORTER_KEY_FILE",
        value_name = "FILE"
    )]
    pub importer_key_file: Option<PathBuf>,
    /// The Gateway's `MessageRoot` (default: the topology's).
    #[arg(
        id = "interop.gateway-message-root",
        long = "interop.gateway-message-root",
        env = "GATEWAY_INTEROP_GATEWAY_MESSAGE_ROOT",
        value_name = "ADDRESS"
    )]
    pub gateway_message_root: Option<Address>,
    /// L1's `MessageRoot` (default: the topology's).
    #[arg(
        id = "interop.l1-message-root",
        long = "interop.l1-message-root",
        env = "GATEWAY_INTEROP_L1_MESSAGE_ROOT",
        value_name = "ADDRESS"
    )]
    pub l1_message_root: Option<Address>,
    /// Gateway blocks that must follow an interop root's block before it is imported.
    #[arg(id = "interop.root-confirmations", long = "interop.root-confirmations", env = "GATEWAY_INTEROP_ROOT_CONFIRMATIONS", value_name = "N", default_value_t = gateway_settlement::DEFAULT_ROOT_CONFIRMATIONS)]
    pub root_confirmations: u64,
}

/// `--batch.*`.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Batching")]
pub struct BatchArgs {
    /// Seal at this many blocks.
    #[arg(long = "batch.max-blocks", env = "GATEWAY_BATCH_MAX_BLOCKS", value_name = "N", default_value_t = DEFAULT_MAX_BLOCKS)]
    pub max_blocks: u64,
    /// Seal at this many transactions.
    #[arg(long = "batch.max-txs", env = "GATEWAY_BATCH_MAX_TXS", value_name = "N", default_value_t = DEFAULT_MAX_TXS)]
    pub max_txs: u64,
    /// Seal at this many pubdata bytes.
    #[arg(long = "batch.max-pubdata-bytes", env = "GATEWAY_BATCH_MAX_PUBDATA_BYTES", value_name = "BYTES", default_value_t = DEFAULT_MAX_PUBDATA_BYTES)]
    pub max_pubdata_bytes: u64,
    /// Seal at this much gas.
    #[arg(long = "batch.max-gas", env = "GATEWAY_BATCH_MAX_GAS", value_name = "GAS", default_value_t = DEFAULT_MAX_GAS)]
    pub max_gas: u64,
    /// Seal a non-empty batch once its first block is this old.
    #[arg(long = "batch.timeout", env = "GATEWAY_BATCH_TIMEOUT", value_name = "DURATION", default_value = "10s", value_parser = humantime::parse_duration)]
    pub timeout: Duration,
}

/// A poll interval of at least 10 ms (a shorter one spins the sender).
fn parse_poll_interval(value: &str) -> Result<Duration, String> {
    let interval = humantime::parse_duration(value).map_err(|e| e.to_string())?;
    if interval < Duration::from_millis(10) {
        return Err(format!("{value} is shorter than 10ms"));
    }
    Ok(interval)
}

fn parse_network(value: &str) -> Result<u64, String> {
    match value {
        "mainnet" => Ok(GATEWAY_MAINNET_CHAIN_ID),
        "testnet" => Ok(GATEWAY_TESTNET_CHAIN_ID),
        other => other
            .parse()
            .map_err(|_| format!("expected mainnet, testnet or a chain id, got {other:?}")),
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Debug, Parser)]
    struct Wrapper {
        #[command(flatten)]
        ext: NodeExtArgs,
    }

    #[test]
    fn parses_every_flag() {
        let parsed = Wrapper::try_parse_from([
            "x",
            "--settlement.enabled",
            "--settlement.layer",
            "gateway",
            "--settlement.gateway-rpc-url",
            "http://127.0.0.1:1",
            "--settlement.gateway-network",
            "mainnet",
            "--settlement.da",
            "rollup-calldata",
            "--batch.max-blocks",
            "7",
            "--batch.timeout",
            "3s",
            "--settlement.layer-confirmations",
            "3",
            "--settlement.tx-timeout",
            "2m",
            "--settlement.retention",
            "36h",
            "--settlement.proof-concurrency",
            "2",
            "--settlement.bridgehub",
            "0x00000000000000000000000000000000000000cc",
            "--settlement.relayer-key-file",
            "/tmp/relayer.key",
            "--gateway.public-rpc",
            "127.0.0.1:8547",
            "--gateway.deployers",
            "0x00000000000000000000000000000000000000aa,0x00000000000000000000000000000000000000bb",
            "--gateway.enabled",
            "--gateway.l1-executor",
            "0x00000000000000000000000000000000000000dd",
            "--gateway.message-root",
            "0x00000000000000000000000000000000000000ee",
            "--gateway.price-per-chain-batch",
            "5",
            "--gateway.max-chain-batches",
            "16",
            "--interop.roots",
            "0x0000000000000000000000000000000000000011",
            "--interop.root-confirmations",
            "4",
            "--settlement.gateway-l1-executor",
            "0x0000000000000000000000000000000000000022",
            "--metrics",
            "127.0.0.1:9001",
            "--prover.queue",
            "postgres://prover@db:5432/proofs?sslmode=require",
            "--prover.queue-ca-file",
            "/etc/ssl/queue-ca.pem",
            "--prover.max-attempts",
            "5",
        ])
        .unwrap();
        let ext = parsed.ext;
        assert_eq!(
            ext.prover.queue.as_deref(),
            Some("postgres://prover@db:5432/proofs?sslmode=require")
        );
        assert_eq!(ext.prover.queue_ca_file, Some(PathBuf::from("/etc/ssl/queue-ca.pem")));
        assert_eq!(ext.prover.max_attempts, 5);
        assert!(ext.settlement.enabled);
        assert_eq!(ext.settlement.layer, Some(LayerArg::Gateway));
        assert_eq!(ext.settlement.gateway_network, GATEWAY_MAINNET_CHAIN_ID);
        assert_eq!(ext.settlement.da, DaArg::RollupCalldata);
        assert_eq!(ext.batch.max_blocks, 7);
        assert_eq!(ext.batch.timeout, Duration::from_secs(3));
        assert_eq!(ext.settlement.layer_confirmations, 3);
        assert_eq!(ext.settlement.tx_timeout, Duration::from_secs(120));
        assert_eq!(ext.settlement.retention, Duration::from_secs(36 * 3600));
        assert_eq!(ext.settlement.proof_concurrency, 2);
        assert_eq!(ext.settlement.bridgehub, Some(Address::with_last_byte(0xcc)));
        assert_eq!(ext.settlement.relayer_key_file, Some(PathBuf::from("/tmp/relayer.key")));
        assert_eq!(ext.gateway.public_rpc, Some("127.0.0.1:8547".parse().unwrap()));
        assert_eq!(ext.gateway.deployers.len(), 2);
        assert!(ext.gateway.enabled);
        assert_eq!(ext.gateway.l1_executor, Some(Address::with_last_byte(0xdd)));
        assert_eq!(ext.gateway.message_root, Some(Address::with_last_byte(0xee)));
        assert_eq!(ext.gateway.price_per_chain_batch, 5);
        assert_eq!(ext.gateway.max_chain_batches, Some(16));
        assert_eq!(ext.interop.roots, Some(Address::with_last_byte(0x11)));
        assert_eq!(ext.interop.root_confirmations, 4);
        assert_eq!(ext.settlement.gateway_l1_executor, Some(Address::with_last_byte(0x22)));
        assert_eq!(ext.metrics, Some("127.0.0.1:9001".parse().unwrap()));
    }

    #[test]
    fn bad_values_name_their_flag() {
        for (args, flag) in [
            (vec!["--settlement.da", "carrier-pigeon"], "--settlement.da"),
            (vec!["--settlement.gateway-network", "moon"], "--settlement.gateway-network"),
            (vec!["--batch.timeout", "soon"], "--batch.timeout"),
            (vec!["--settlement.layer-confirmations", "0"], "--settlement.layer-confirmations"),
            (vec!["--settlement.proof-concurrency", "0"], "--settlement.proof-concurrency"),
            (vec!["--prover.max-attempts", "0"], "--prover.max-attempts"),
            (vec!["--gateway.deployers", "0xnope"], "--gateway.deployers"),
            (vec!["--gateway.max-chain-batches", "0"], "--gateway.max-chain-batches"),
            (vec!["--gateway.message-root", "0x12"], "--gateway.message-root"),
            (vec!["--settlement.poll-interval", "0s"], "--settlement.poll-interval"),
            // A CA file for no queue would be silently ignored.
            (vec!["--prover.queue-ca-file", "/etc/ssl/ca.pem"], "--prover.queue"),
        ] {
            let err =
                Wrapper::try_parse_from(std::iter::once("x").chain(args)).unwrap_err().to_string();
            assert!(err.contains(flag), "{err}");
        }
    }

    #[test]
    fn one_halo2_cache_for_node_devnet_and_tests_unless_a_flag_names_another() {
        let parsed = Wrapper::try_parse_from(["x"]).unwrap();
        assert_eq!(
            crate::settings::halo2_cache_dir(&parsed.ext),
            gateway_prover::Halo2Config::default_cache_dir()
        );
        let parsed =
            Wrapper::try_parse_from(["x", "--settlement.halo2-cache-dir", "/srv/halo2"]).unwrap();
        assert_eq!(crate::settings::halo2_cache_dir(&parsed.ext), PathBuf::from("/srv/halo2"));
    }

    #[test]
    fn network_presets() {
        assert_eq!(parse_network("testnet"), Ok(506));
        assert_eq!(parse_network("9075"), Ok(9075));
    }
}
