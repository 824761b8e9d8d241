//! `gateway-node ecosystem init` and `gateway-node chain init`: deploy and register the
//! contracts on an operator's own L1, Gateway and chain nodes, and write the topology file that
//! `--settlement.topology` reads. Both are idempotent: a second run checks what the file names
//! and changes nothing.

use std::path::{Path, PathBuf};

use alloy::{primitives::U256, transports::http::reqwest::Url};
use clap::{Args, Subcommand, ValueEnum};
use devnet::{ChainSpec, DevnetProofs, EcosystemSpec, InitialSettlement, Topology};
use eyre::WrapErr;

use crate::args::LayerArg;

/// `gateway-node ecosystem ...`.
#[derive(Debug, Subcommand)]
pub enum EcosystemCommand {
    /// Deploy the Bridgehub, both `MessageRoot`s, the Gateway's L1 executor and the verifiers,
    /// whitelist the Gateway, and write the topology file.
    Init(EcosystemInitArgs),
}

/// `gateway-node chain ...`.
#[derive(Debug, Subcommand)]
pub enum ChainCommand {
    /// Deploy a chain's executors on L1 and the Gateway, register it with the Bridgehub and both
    /// `MessageRoot`s, grant its admin the operator roles, deploy its interop contracts, and add
    /// it to the topology file.
    Init(ChainInitArgs),
}

/// Which proofs the verifiers accept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum InitProofs {
    /// Real halo2 proofs: the generated verifiers.
    Halo2,
    /// `MockVerifier`s, which accept ANY proof (devnets only: needs --dev).
    Mock,
}

/// `gateway-node ecosystem init`.
#[derive(Debug, Args)]
pub struct EcosystemInitArgs {
    /// L1's JSON-RPC endpoint.
    #[arg(long = "l1-rpc-url", value_name = "URL")]
    pub l1_rpc_url: Url,
    /// The Gateway's JSON-RPC endpoint.
    #[arg(long = "gateway-rpc-url", value_name = "URL")]
    pub gateway_rpc_url: Url,
    /// A file holding L1 governance's key: it owns the Bridgehub, L1's `MessageRoot` and every
    /// executor's verifier.
    #[arg(long = "l1-governance-key-file", value_name = "FILE")]
    pub l1_governance_key_file: PathBuf,
    /// A file holding the Gateway governance's key: it owns the Gateway's `MessageRoot`,
    /// relays migrations and is the Gateway's L1 operator (the Gateway node's
    /// `--settlement.operator-key-file`).
    #[arg(long = "gateway-governance-key-file", value_name = "FILE")]
    pub gateway_governance_key_file: PathBuf,
    /// The topology file to write (read first: when it names a deployed ecosystem on these
    /// nodes, nothing is done).
    #[arg(long = "topology", value_name = "FILE")]
    pub topology: PathBuf,
    /// Which proofs the verifiers accept.
    #[arg(long = "proofs", value_enum, default_value = "halo2", value_name = "BACKEND")]
    pub proofs: InitProofs,
    /// With `--proofs halo2`: which verifier checks the Gateway's aggregated proof on L1, one
    /// aggregation of 4 leaves (`flat`) or a two-level tree of 16 (`tree`); the Gateway's node
    /// must run with the same `--settlement.halo2-aggregation`.
    #[arg(long = "halo2-aggregation", value_enum, default_value = "flat", value_name = "SHAPE")]
    pub halo2_aggregation: crate::args::Halo2AggregationArg,
    /// Blocks between governance queueing a verifier change on an executor and applying it.
    #[arg(long = "verifier-delay-blocks", value_name = "BLOCKS", default_value_t = 7200)]
    pub verifier_delay_blocks: u64,
    /// What an L1 -> L2 transaction costs on the Bridgehub (wei).
    #[arg(long = "priority-op-fee", value_name = "WEI", default_value_t = devnet::PRIORITY_OP_FEE_WEI)]
    pub priority_op_fee: u64,
    /// What the Gateway charges per committed chain batch, in its gas token (wei; paid into
    /// its `GatewayFees`).
    #[arg(long = "gateway-fee-per-batch", value_name = "WEI", default_value_t = gateway_settlement::DEFAULT_PRICE_PER_CHAIN_BATCH)]
    pub gateway_fee_per_batch: u128,
    /// Gateway blocks between Gateway governance announcing a new price and its taking effect.
    #[arg(long = "fee-change-delay-blocks", value_name = "BLOCKS", default_value_t = 7200)]
    pub fee_change_delay_blocks: u64,
    /// With `--proofs halo2`: the halo2 verifiers built into this binary were generated from
    /// your ceremony SRS (docs/operators.md, "What you need"). Without it,
    /// `--proofs halo2` needs `--dev`: the committed verifiers are the dev SRS's, whose secret
    /// comes from a public seed.
    #[arg(long = "ceremony-verifiers")]
    pub ceremony_verifiers: bool,
    /// Allow what is safe on a devnet only: mock verifiers, or the dev SRS's halo2 verifiers.
    #[arg(long = "dev")]
    pub dev: bool,
}

/// `gateway-node chain init`.
#[derive(Debug, Args)]
pub struct ChainInitArgs {
    /// The topology file `gateway-node ecosystem init` wrote; the chain is added to it.
    #[arg(long = "topology", value_name = "FILE")]
    pub topology: PathBuf,
    /// The chain's JSON-RPC endpoint (its chain id is read there).
    #[arg(long = "chain-rpc-url", value_name = "URL")]
    pub chain_rpc_url: Url,
    /// Where the chain settles first.
    #[arg(long = "settles-on", value_enum, default_value = "gateway", value_name = "LAYER")]
    pub settles_on: LayerArg,
    /// A file holding the chain admin's key: admin on the Bridgehub and both executors, and
    /// their operator (the chain node's `--settlement.operator-key-file`).
    #[arg(long = "admin-key-file", value_name = "FILE")]
    pub admin_key_file: PathBuf,
    /// A file holding L1 governance's key (the Bridgehub's owner registers chains).
    #[arg(long = "l1-governance-key-file", value_name = "FILE")]
    pub l1_governance_key_file: PathBuf,
    /// A file holding the Gateway governance's key (it deploys the chain's Gateway executor and
    /// authorizes it in the Gateway's `MessageRoot`).
    #[arg(long = "gateway-governance-key-file", value_name = "FILE")]
    pub gateway_governance_key_file: PathBuf,
    /// A file holding the key that writes the chain's `InteropRoots` (the chain node's
    /// `--interop.importer-key-file`); it deploys the chain's interop contracts.
    #[arg(long = "importer-key-file", value_name = "FILE")]
    pub importer_key_file: PathBuf,
}

fn read_key(path: &Path, flag: &str) -> eyre::Result<String> {
    let key = std::fs::read_to_string(path)
        .map_err(|e| eyre::eyre!("{flag} {}: cannot read it: {e}", path.display()))?
        .trim()
        .to_string();
    devnet::address_of_key(&key, &format!("{flag} {}", path.display()))?;
    Ok(key)
}

/// One `chain init` at a time per topology file: `<file>.lock`, removed when the run ends.
struct TopologyLock(PathBuf);

impl TopologyLock {
    fn take(topology: &Path) -> eyre::Result<Self> {
        let path = topology.with_extension("json.lock");
        match std::fs::OpenOptions::new().write(true).create_new(true).open(&path) {
            Ok(_) => Ok(Self(path)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => eyre::bail!(
                "--topology {}: another `chain init` holds {} (if none runs, a run was killed: remove the lock file)",
                topology.display(),
                path.display()
            ),
            Err(e) => Err(eyre::eyre!(
                "--topology {}: cannot create {}: {e}",
                topology.display(),
                path.display()
            )),
        }
    }
}

impl Drop for TopologyLock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Writes `topology` to `path` atomically (a temporary file renamed over it).
fn save(topology: &Topology, path: &Path) -> eyre::Result<()> {
    let tmp = path.with_extension("json.tmp");
    topology.save(&tmp).wrap_err_with(|| format!("--topology {}", tmp.display()))?;
    std::fs::rename(&tmp, path).wrap_err_with(|| format!("--topology {}", path.display()))?;
    Ok(())
}

/// Runs `gateway-node ecosystem init`.
pub async fn ecosystem_init(args: EcosystemInitArgs) -> eyre::Result<()> {
    let l1_key = read_key(&args.l1_governance_key_file, "--l1-governance-key-file")?;
    let gateway_key = read_key(&args.gateway_governance_key_file, "--gateway-governance-key-file")?;
    let proofs = match args.proofs {
        InitProofs::Halo2 if args.dev || args.ceremony_verifiers => {
            if args.halo2_aggregation.is_tree() {
                DevnetProofs::Halo2Tree
            } else {
                DevnetProofs::Halo2
            }
        }
        InitProofs::Halo2 => eyre::bail!(
            "--proofs halo2: the halo2 verifiers built into this binary are the committed ones, made from the INSECURE dev SRS (its secret comes from a public seed: anyone could forge proofs they accept); build the binary with your ceremony SRS's verifiers and pass --ceremony-verifiers (docs/operators.md), or pass --dev on a devnet"
        ),
        InitProofs::Mock if args.dev => DevnetProofs::Mock,
        InitProofs::Mock => eyre::bail!(
            "--proofs mock deploys MockVerifiers, which accept ANY proof: anyone could settle anything; use --proofs halo2, or pass --dev on a devnet"
        ),
    };
    if proofs != DevnetProofs::Mock && !args.dev {
        // --ceremony-verifiers is a promise: the code built in must not be the dev SRS's.
        let tree = proofs == DevnetProofs::Halo2Tree;
        let deployed = [
            "Halo2LeafVerifier",
            if tree { "Halo2TreeVerifier" } else { "Halo2AggregationVerifier" },
        ];
        let dev: Vec<&str> = gateway_contracts::built_in_dev_srs_verifiers()
            .into_iter()
            .filter(|name| deployed.contains(name))
            .collect();
        if !dev.is_empty() {
            eyre::bail!(
                "--ceremony-verifiers: {} built into this binary {} the INSECURE dev SRS's (the committed code: anyone could forge proofs it accepts); generate your ceremony SRS's with `cargo run --release -p gateway-prover --bin halo2-verifiers -- --srs-file ceremony.srs{}`, run `make contracts` and rebuild the binary",
                dev.join(" and "),
                if dev.len() == 1 { "is" } else { "are" },
                if tree { " --tree" } else { "" }
            );
        }
    }
    if args.topology.exists() {
        let topology = Topology::load(&args.topology)
            .wrap_err_with(|| format!("--topology {}", args.topology.display()))?;
        let l1 = devnet::node_at(&args.l1_rpc_url).await.wrap_err("--l1-rpc-url")?;
        let gateway = devnet::node_at(&args.gateway_rpc_url).await.wrap_err("--gateway-rpc-url")?;
        if l1.chain_id != topology.l1.node.chain_id
            || gateway.chain_id != topology.gateway.node.chain_id
        {
            eyre::bail!(
                "--topology {} is the ecosystem of L1 {} and Gateway {}, not of --l1-rpc-url (chain {}) and --gateway-rpc-url (chain {}): pass another --topology to deploy a new one",
                args.topology.display(),
                topology.l1.node.chain_id,
                topology.gateway.node.chain_id,
                l1.chain_id,
                gateway.chain_id
            );
        }
        if topology.proofs != proofs {
            eyre::bail!(
                "--topology {} is an ecosystem whose verifiers accept {:?} proofs, not {:?}: pass another --topology to deploy a new one",
                args.topology.display(),
                topology.proofs,
                proofs
            );
        }
        match devnet::check_ecosystem(&topology).await {
            Ok(()) => {}
            // Only what the nodes positively lack is a reason for a new ecosystem; a node that
            // does not answer is not.
            Err(err @ devnet::DevnetError::Refused(_)) => {
                return Err(eyre::Report::new(err).wrap_err(format!(
                    "--topology {} names an ecosystem these nodes do not have; pass another --topology to deploy a new one",
                    args.topology.display()
                )));
            }
            Err(err) => {
                return Err(eyre::Report::new(err).wrap_err(format!(
                    "--topology {}: checking the ecosystem it names failed; try again",
                    args.topology.display()
                )));
            }
        }
        println!(
            "nothing to do: the ecosystem in {} is deployed (Bridgehub {} on L1 {}, Gateway {} whitelisted)",
            args.topology.display(),
            topology.bridgehub,
            topology.l1.node.chain_id,
            topology.gateway.node.chain_id
        );
        return Ok(());
    }
    let topology = devnet::init_ecosystem(&EcosystemSpec {
        l1_rpc_url: args.l1_rpc_url,
        gateway_rpc_url: args.gateway_rpc_url,
        l1_governance_key: l1_key,
        gateway_governance_key: gateway_key,
        proofs,
        verifier_delay: args.verifier_delay_blocks,
        priority_op_fee: U256::from(args.priority_op_fee),
        gateway_fee_per_batch: U256::from(args.gateway_fee_per_batch),
        fee_change_delay: args.fee_change_delay_blocks,
        keys_in_topology: false,
    })
    .await
    .wrap_err("ecosystem init")?;
    save(&topology, &args.topology)?;
    println!(
        "deployed: Bridgehub {} and MessageRoot {} on L1 {}; the Gateway's L1 executor {}; MessageRoot {} on the Gateway {} (whitelisted); topology written to {}",
        topology.bridgehub,
        topology.l1.message_root,
        topology.l1.node.chain_id,
        topology.gateway_l1_executor,
        topology.gateway.message_root,
        topology.gateway.node.chain_id,
        args.topology.display()
    );
    Ok(())
}

/// Runs `gateway-node chain init`.
pub async fn chain_init(args: ChainInitArgs) -> eyre::Result<()> {
    let admin_key = read_key(&args.admin_key_file, "--admin-key-file")?;
    let l1_key = read_key(&args.l1_governance_key_file, "--l1-governance-key-file")?;
    let gateway_key = read_key(&args.gateway_governance_key_file, "--gateway-governance-key-file")?;
    let importer_key = read_key(&args.importer_key_file, "--importer-key-file")?;
    let topology = Topology::load(&args.topology).wrap_err_with(|| {
        format!("--topology {}: run `gateway-node ecosystem init` first", args.topology.display())
    })?;
    let _lock = TopologyLock::take(&args.topology)?;
    let node = devnet::node_at(&args.chain_rpc_url).await.wrap_err("--chain-rpc-url")?;
    if let Some(known) = topology.chain(node.chain_id) {
        // Checked at the node this run names (the topology's address may be stale).
        let mut chain = known.clone();
        chain.node.rpc_url = args.chain_rpc_url.clone();
        devnet::check_chain(&topology, &chain).await.wrap_err_with(|| {
            format!(
                "--topology {} has chain {}, but L1 disagrees",
                args.topology.display(),
                node.chain_id
            )
        })?;
        println!(
            "nothing to do: chain {} is registered (L1 executor {}, Gateway executor {})",
            node.chain_id, chain.l1_executor, chain.gateway_executor
        );
        return Ok(());
    }
    let settles_on = match args.settles_on {
        LayerArg::L1 => InitialSettlement::L1,
        LayerArg::Gateway => InitialSettlement::Gateway,
    };
    let chain = devnet::init_chain(
        &topology,
        &ChainSpec {
            rpc_url: args.chain_rpc_url,
            settles_on,
            admin_key,
            l1_governance_key: l1_key,
            gateway_governance_key: gateway_key,
            importer_key,
            keys_in_topology: false,
        },
    )
    .await
    .wrap_err_with(|| format!("chain init of chain {}", node.chain_id))?;
    println!(
        "registered chain {} (settles on {}): L1 executor {}, Gateway executor {}, InteropRoots {}; added to {}",
        chain.node.chain_id,
        match settles_on {
            InitialSettlement::L1 => "L1",
            InitialSettlement::Gateway => "the Gateway",
        },
        chain.l1_executor,
        chain.gateway_executor,
        chain.interop.interop_roots,
        args.topology.display()
    );
    // Another run may have added a chain meanwhile: add this one to the file as it is now.
    let mut topology = Topology::load(&args.topology)
        .wrap_err_with(|| format!("--topology {}", args.topology.display()))?;
    topology.chains.retain(|c| c.node.chain_id != chain.node.chain_id);
    topology.chains.push(chain);
    save(&topology, &args.topology)
}
