//! The whole system as an operator runs it, from the binary alone: L1, the Gateway and two
//! chains on their own anvil nodes; `gateway-node ecosystem init` and `chain init` deploy and
//! register everything (idempotent, refusing what the keys may not do); the Gateway's node and
//! each chain's node run as separate `gateway-node node` processes from flags. The chains
//! become L1-final through the Gateway, a message sent on chain A is proven on chain B, the
//! Gateway's node is killed (SIGKILL) in the middle of an aggregation and loses and repeats
//! nothing, chain B migrates to L1 and back, `gateway-node status` shows it all, and the
//! dashboard's and the alert rules' metrics are what the nodes export.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{
    collections::BTreeSet,
    path::{Path, PathBuf},
    process::{Command, Output, Stdio},
    time::{Duration, Instant},
};

use alloy::{
    primitives::{B256, Bytes, U256},
    providers::{Provider, ProviderBuilder},
    rpc::types::Filter,
    sol_types::{SolCall, SolEvent},
};
use devnet::{Anvil, AnvilConfig, ChildProcess, Topology, Traffic, local_rpc};
use gateway_contracts::{GatewayExecutor, InteropRoots, L2Messenger, MessageVerifier};

mod common;

const BIN: &str = env!("CARGO_BIN_EXE_gateway-node");
const WAIT: Duration = Duration::from_secs(120);

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Runs a one-shot `gateway-node` command to completion (at most 120 s).
fn run(args: &[&str]) -> Output {
    let mut child = Command::new(BIN)
        .args(args)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + WAIT;
    while child.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "gateway-node {args:?} did not exit");
        std::thread::sleep(Duration::from_millis(50));
    }
    child.wait_with_output().unwrap()
}

/// Runs the command; its stdout, or a panic with its stderr.
fn run_ok(args: &[&str]) -> String {
    let out = run(args);
    assert!(
        out.status.success(),
        "gateway-node {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs the command, which must fail; its stderr.
fn run_err(args: &[&str]) -> String {
    let out = run(args);
    assert!(!out.status.success(), "gateway-node {args:?} succeeded");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_string()
}

/// One `gateway-node node` process.
struct NodeProcess {
    name: String,
    child: ChildProcess,
    log: PathBuf,
}

impl NodeProcess {
    fn spawn(dir: &Path, name: &str, args: &[String], failpoint: Option<&str>) -> Self {
        let log = dir.join(format!("{name}.log"));
        let mut command = Command::new(BIN);
        command
            .arg("node")
            .args(args)
            .env("RUST_LOG", "warn,gateway_node=info")
            .env_remove(gateway_settlement::FAILPOINT_ENV)
            .stdout(std::fs::OpenOptions::new().create(true).append(true).open(&log).unwrap())
            .stderr(std::fs::OpenOptions::new().create(true).append(true).open(&log).unwrap());
        if let Some(point) = failpoint {
            command.env(gateway_settlement::FAILPOINT_ENV, point);
        }
        Self { name: name.to_string(), child: ChildProcess(command.spawn().unwrap()), log }
    }

    fn assert_running(&mut self) {
        assert!(
            self.child.0.try_wait().unwrap().is_none(),
            "the {} node exited: {}",
            self.name,
            std::fs::read_to_string(&self.log).unwrap_or_default()
        );
    }

    fn stop(mut self) {
        assert!(self.child.signal("TERM"));
        assert!(
            self.child.wait_exit(Duration::from_secs(30)).is_some_and(|s| s.success()),
            "the {} node did not stop cleanly: {}",
            self.name,
            std::fs::read_to_string(&self.log).unwrap_or_default()
        );
    }
}

/// Polls until `done` (at most [`WAIT`]), driving traffic and checking the nodes still run.
async fn until<T>(
    what: &str,
    nodes: &mut [&mut NodeProcess],
    traffic: &[&Traffic],
    mut done: impl AsyncFnMut() -> Option<T>,
) -> T {
    let deadline = Instant::now() + WAIT;
    loop {
        for node in nodes.iter_mut() {
            node.assert_running();
        }
        if let Some(value) = done().await {
            return value;
        }
        assert!(Instant::now() < deadline, "{what}: not within {WAIT:?}");
        for t in traffic {
            t.blocks(1, 1).await.unwrap();
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

fn status_of(port: u16) -> serde_json::Value {
    local_rpc(port, "settlement_status")
}

/// The expressions of an operator's file: the dashboard's `expr` fields, or the alert rules'
/// `expr:` blocks (to their `for:`).
fn expressions(file: &str) -> Vec<String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").join(file);
    let text = std::fs::read_to_string(&path).unwrap();
    if file.ends_with(".json") {
        let dashboard: serde_json::Value = serde_json::from_str(&text).unwrap();
        let mut exprs = Vec::new();
        let mut stack = vec![&dashboard];
        while let Some(value) = stack.pop() {
            match value {
                serde_json::Value::Object(map) => {
                    exprs.extend(map.get("expr").and_then(|e| e.as_str()).map(String::from));
                    stack.extend(map.values());
                }
                serde_json::Value::Array(items) => stack.extend(items),
                _ => {}
            }
        }
        return exprs;
    }
    let mut exprs = Vec::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        let trimmed = line.trim();
        if let Some(rest) = trimmed.strip_prefix("expr:") {
            current = Some(rest.to_string());
        } else if trimmed.starts_with("for:") || trimmed.starts_with("labels:") {
            exprs.extend(current.take());
        } else if let Some(expr) = &mut current {
            expr.push(' ');
            expr.push_str(trimmed);
        }
    }
    exprs
}

/// Every metric name the expressions of an operator's file read: the identifiers with this
/// project's prefixes (`settlement_`, `gateway_`, `exex_`).
fn metrics_read_by(file: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for expr in expressions(file) {
        let mut word = String::new();
        for c in expr.chars().chain([' ']) {
            if c.is_ascii_alphanumeric() || c == '_' {
                word.push(c);
                continue;
            }
            if ["settlement_", "gateway_", "exex_"].iter().any(|p| word.starts_with(p)) {
                names.insert(std::mem::take(&mut word));
            }
            word.clear();
        }
    }
    assert!(names.len() > 10, "{file} reads the node's metrics: {names:?}");
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_system_runs_as_separate_processes_from_init_to_l1_finality_interop_a_killed_gateway_and_migration()
 {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let spawn = |chain_id: u64, extra: &[&str]| {
        Anvil::spawn(AnvilConfig {
            chain_id,
            extra_args: extra.iter().map(ToString::to_string).collect(),
            ..Default::default()
        })
        .unwrap()
    };
    let l1 = spawn(31337, &[]);
    // Contracts on the Gateway come from allowlisted deployers only: no CREATE2 deployer.
    let gateway = spawn(506, &["--disable-default-create2-deployer"]);
    let (chain_a, chain_b) = (spawn(270, &[]), spawn(271, &[]));
    let keys = l1.dev_keys().to_vec();
    let l1_gov = write(d, "l1-governance.key", &keys[0]);
    let gw_gov = write(d, "gateway-governance.key", &keys[1]);
    let a_admin = write(d, "a-admin.key", &keys[2]);
    let b_admin = write(d, "b-admin.key", &keys[3]);
    let importer = write(d, "importer.key", &keys[0]);
    let unfunded = write(d, "unfunded.key", &format!("0x{}", "42".repeat(32)));
    let topology_file = d.join("topology.json");
    let topology_arg = topology_file.to_str().unwrap();
    let (l1_url, gw_url) = (l1.endpoint().to_string(), gateway.endpoint().to_string());

    // ecosystem init: mock verifiers only with --dev; then deployed once.
    let ecosystem = |extra: &[&str]| {
        let mut args = vec![
            "ecosystem",
            "init",
            "--l1-rpc-url",
            &l1_url,
            "--gateway-rpc-url",
            &gw_url,
            "--l1-governance-key-file",
            &l1_gov,
            "--gateway-governance-key-file",
            &gw_gov,
            "--topology",
            topology_arg,
            "--proofs",
            "mock",
            "--verifier-delay-blocks",
            "5",
            "--gateway-fee-per-batch",
            "10000000000000000",
            "--fee-change-delay-blocks",
            "5",
        ];
        args.extend_from_slice(extra);
        args.iter().map(ToString::to_string).collect::<Vec<_>>()
    };
    let without_dev = ecosystem(&[]);
    assert!(run_err(&strs(&without_dev)).contains("--dev"));
    // The committed halo2 verifiers are the dev SRS's: refused unless a ceremony's verifiers
    // are built in (or --dev).
    let mut dev_srs = without_dev.clone();
    let at = dev_srs.iter().position(|w| w == "mock").unwrap();
    dev_srs[at] = "halo2".into();
    let refused = run_err(&strs(&dev_srs));
    assert!(refused.contains("--ceremony-verifiers") && refused.contains("INSECURE"), "{refused}");
    // --ceremony-verifiers with the dev SRS's verifiers built in: refused, naming them (the
    // tree's with --halo2-aggregation tree).
    let mut promised = dev_srs.clone();
    promised.push("--ceremony-verifiers".into());
    let refused = run_err(&strs(&promised));
    assert!(
        refused.contains("Halo2LeafVerifier and Halo2AggregationVerifier")
            && refused.contains("dev SRS")
            && !refused.contains("--tree"),
        "{refused}"
    );
    promised.extend(["--halo2-aggregation".into(), "tree".into()]);
    let refused = run_err(&strs(&promised));
    assert!(
        refused.contains("Halo2LeafVerifier and Halo2TreeVerifier")
            && refused.contains("--srs-file ceremony.srs --tree"),
        "{refused}"
    );
    // L1 and the Gateway on one node: refused.
    let mut one_node = ecosystem(&["--dev"]);
    let at = one_node.iter().position(|w| w == "--gateway-rpc-url").unwrap();
    one_node[at + 1] = l1_url.clone();
    assert!(run_err(&strs(&one_node)).contains("the Gateway is a chain of its own"));
    assert!(!topology_file.exists(), "a refusal writes nothing");
    let with_dev = ecosystem(&["--dev"]);
    assert!(run_ok(&strs(&with_dev)).contains("deployed"));
    assert!(run_ok(&strs(&with_dev)).starts_with("nothing to do"), "a second run changes nothing");

    // chain init: each chain once; refused with a key that does not own the Bridgehub, or
    // cannot pay, before anything is sent.
    let chain_init = |url: &str, admin: &str, gov: &str, settles_on: &str| {
        [
            "chain",
            "init",
            "--topology",
            topology_arg,
            "--chain-rpc-url",
            url,
            "--settles-on",
            settles_on,
            "--admin-key-file",
            admin,
            "--l1-governance-key-file",
            gov,
            "--gateway-governance-key-file",
            &gw_gov,
            "--importer-key-file",
            &importer,
        ]
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
    };
    let (a_url, b_url) = (chain_a.endpoint().to_string(), chain_b.endpoint().to_string());
    let wrong_owner = run_err(&strs(&chain_init(&a_url, &a_admin, &a_admin, "gateway")));
    assert!(wrong_owner.contains("only its owner registers chains"), "{wrong_owner}");
    let unpaid = run_err(&strs(&chain_init(&a_url, &unfunded, &l1_gov, "gateway")));
    assert!(unpaid.contains("has no funds") && unpaid.contains("fund it"), "{unpaid}");
    let l1_as_chain = run_err(&strs(&chain_init(&l1_url, &a_admin, &l1_gov, "gateway")));
    assert!(l1_as_chain.contains("a chain needs a node of its own"), "{l1_as_chain}");
    // Nothing was sent by the refusals: governance's nonce on L1 is what ecosystem init left.
    let l1_reader = ProviderBuilder::new().connect_http(l1.endpoint());
    let governance = devnet::address_of_key(&keys[0], "governance").unwrap();
    let nonce_before = l1_reader.get_transaction_count(governance).await.unwrap();
    let wrong_owner = run_err(&strs(&chain_init(&b_url, &b_admin, &b_admin, "gateway")));
    assert!(wrong_owner.contains("only its owner registers chains"), "{wrong_owner}");
    assert_eq!(l1_reader.get_transaction_count(governance).await.unwrap(), nonce_before);
    // One chain init at a time per topology file.
    let lock = topology_file.with_extension("json.lock");
    std::fs::write(&lock, "").unwrap();
    let busy = run_err(&strs(&chain_init(&a_url, &a_admin, &l1_gov, "gateway")));
    assert!(busy.contains("another `chain init` holds"), "{busy}");
    std::fs::remove_file(&lock).unwrap();
    assert!(
        run_ok(&strs(&chain_init(&a_url, &a_admin, &l1_gov, "gateway")))
            .contains("registered chain 270")
    );
    // A run that stopped right after registering chain B (simulated: governance registers it
    // by hand, as that run would have) is picked up by the next; a chain id registered by
    // another admin is refused.
    let ecosystem_only = Topology::load(&topology_file).unwrap();
    let l1_governance = devnet::signer_provider(l1.endpoint(), &keys[0]).unwrap();
    let bridgehub = gateway_contracts::Bridgehub::new(ecosystem_only.bridgehub, &l1_governance);
    let chain_c = spawn(272, &[]);
    for (chain, url, admin) in
        [(271u64, &b_url, &keys[3]), (272, &chain_c.endpoint().to_string(), &keys[4])]
    {
        let genesis = devnet::genesis_of(&url.parse().unwrap()).await.unwrap();
        let info = gateway_contracts::convert(&genesis.stored_info()).unwrap();
        let admin = devnet::address_of_key(admin, "admin").unwrap();
        bridgehub
            .registerChain(U256::from(chain), admin, U256::from(506), info)
            .send()
            .await
            .unwrap()
            .get_receipt()
            .await
            .unwrap();
    }
    let taken =
        run_err(&strs(&chain_init(chain_c.endpoint().as_str(), &b_admin, &l1_gov, "gateway")));
    assert!(taken.contains("already registered") && taken.contains("by admin"), "{taken}");
    assert!(
        run_ok(&strs(&chain_init(&b_url, &b_admin, &l1_gov, "gateway")))
            .contains("registered chain 271")
    );
    assert!(
        run_ok(&strs(&chain_init(&a_url, &a_admin, &l1_gov, "gateway")))
            .starts_with("nothing to do"),
        "a second run changes nothing"
    );
    assert!(!lock.exists(), "a run removes its lock");
    let file = std::fs::read_to_string(&topology_file).unwrap();
    for key in &keys[..4] {
        assert!(!file.contains(key.trim_start_matches("0x")), "no key is written to the topology");
    }
    let topology = Topology::load(&topology_file).unwrap();
    let (a, b) = (topology.chain(270).unwrap().clone(), topology.chain(271).unwrap().clone());

    // The nodes, from flags.
    let common = |rpc: &str, key: &str, datadir: &str, http: u16| -> Vec<String> {
        [
            "--chain.rpc-url",
            rpc,
            "--chain.poll-interval",
            "100ms",
            "--settlement.enabled",
            "--dev",
            "--settlement.proofs",
            "mock",
            "--settlement.poll-interval",
            "300ms",
            "--batch.max-blocks",
            "2",
            "--batch.timeout",
            "1s",
            "--settlement.topology",
            topology_arg,
            "--settlement.operator-key-file",
            key,
            "--http",
            "--http.port",
            &http.to_string(),
            "--datadir",
            d.join(datadir).to_str().unwrap(),
        ]
        .iter()
        .map(ToString::to_string)
        .collect()
    };
    let (gw_http, a_http, b_http) = (free_port(), free_port(), free_port());
    let (gw_metrics, a_metrics, b_auth) = (free_port(), free_port(), free_port());
    let mut gw_args = common(&gw_url, &gw_gov, "gateway", gw_http);
    gw_args.extend(
        ["--gateway.enabled", "--gateway.max-chain-batches", "8", "--authrpc.port", "0"]
            .map(String::from),
    );
    gw_args.extend(["--metrics".into(), format!("127.0.0.1:{gw_metrics}")]);
    let mut a_args = common(&a_url, &a_admin, "a", a_http);
    a_args.extend(["--interop.importer-key-file".into(), importer.clone()]);
    a_args.extend(["--authrpc.port".into(), "0".into()]);
    a_args.extend(["--metrics".into(), format!("127.0.0.1:{a_metrics}")]);
    let mut b_args = common(&b_url, &b_admin, "b", b_http);
    b_args.extend(["--interop.importer-key-file".into(), importer.clone()]);
    // B carries its own migrations to the Gateway (the Gateway governance key relays).
    b_args.extend(["--settlement.relayer-key-file".into(), gw_gov.clone()]);
    b_args.extend(["--authrpc.port".into(), b_auth.to_string()]);
    let mut gw_node = NodeProcess::spawn(d, "gateway", &gw_args, None);
    let mut a_node = NodeProcess::spawn(d, "a", &a_args, None);
    let mut b_node = NodeProcess::spawn(d, "b", &b_args, None);
    let mut traffic_a = Traffic::new(a.node.rpc_url.clone(), &keys[2]).unwrap();
    traffic_a.use_messenger(a.interop.messenger);
    let mut traffic_b = Traffic::new(b.node.rpc_url.clone(), &keys[3]).unwrap();
    traffic_b.use_messenger(b.interop.messenger);

    // Both chains L1-final through the Gateway's batches.
    let gw_executor = GatewayExecutor::new(topology.gateway_l1_executor, &l1_reader);
    let l1_final = async |chain: u64| -> u64 {
        gw_executor.lastFinalBatch(U256::from(chain)).call().await.unwrap().to()
    };
    until(
        "both chains L1-final through the Gateway",
        &mut [&mut gw_node, &mut a_node, &mut b_node],
        &[&traffic_a, &traffic_b],
        async || (l1_final(270).await >= 2 && l1_final(271).await >= 2).then_some(()),
    )
    .await;
    until(
        "chain A's status shows its L1 finality",
        &mut [&mut a_node],
        &[&traffic_a],
        async || {
            let s = status_of(a_http);
            (s["finality"]["l1FinalThrough"].as_u64().unwrap_or_default() >= 2).then_some(())
        },
    )
    .await;

    // The status view of every node, and its JSON.
    let urls = [a_http, b_http, gw_http].map(|p| format!("http://127.0.0.1:{p}"));
    let table =
        run_ok(&["status", "--rpc-url", &urls[0], "--rpc-url", &urls[1], "--rpc-url", &urls[2]]);
    let rows: Vec<&str> = table.lines().collect();
    assert!(rows[1].split_whitespace().take(2).eq(["270", "GW:506"]), "{table}");
    assert!(rows[2].split_whitespace().take(2).eq(["271", "GW:506"]), "{table}");
    assert!(table.contains("Gateway 506: head"), "{table}");
    let json: serde_json::Value =
        serde_json::from_str(&run_ok(&["status", "--json", "--rpc-url", &urls[2]])).unwrap();
    assert_eq!(json[0]["chainId"], 506);
    assert!(json[0]["gateway"]["batchesSettled"].as_u64().unwrap() >= 1);
    let refused = run_err(&["status", "--rpc-url", &format!("http://127.0.0.1:{}", free_port())]);
    assert!(refused.contains("--rpc-url") && refused.contains("does not answer"), "{refused}");

    // A message sent on chain A, proven on chain B with the proof A's node returns.
    let payload = b"from chain A to chain B".to_vec();
    let a_signer = devnet::signer_provider(a.node.rpc_url.clone(), &keys[2]).unwrap();
    let receipt = L2Messenger::new(a.interop.messenger, &a_signer)
        .sendMessage(Bytes::copy_from_slice(&payload))
        .send()
        .await
        .unwrap()
        .get_receipt()
        .await
        .unwrap();
    let log_index = receipt
        .inner
        .logs()
        .iter()
        .find(|l| l.topics().first() == Some(&L2Messenger::MessageSent::SIGNATURE_HASH))
        .and_then(|l| l.log_index)
        .unwrap();
    let tx = receipt.transaction_hash;
    let b_reader = ProviderBuilder::new().connect_http(b.node.rpc_url.clone());
    let b_roots = InteropRoots::new(b.interop.interop_roots, &b_reader);
    let b_verifier = MessageVerifier::new(b.interop.message_verifier, &b_reader);
    let sender = devnet::address_of_key(&keys[2], "a").unwrap();
    until(
        "the message proven on chain B",
        &mut [&mut a_node, &mut b_node, &mut gw_node],
        &[&traffic_a, &traffic_b],
        async || {
            if b_roots.importedCount().call().await.unwrap().is_zero() {
                return None;
            }
            let last: u64 = b_roots.lastImportedBlock().call().await.unwrap().to();
            let answer = proof_answer(a_http, tx, log_index, &format!("\"interop\",{last}"));
            if answer["proof"].is_null() {
                return None;
            }
            let proof =
                serde_json::from_value::<gateway_settlement::ProofJson>(answer["proof"].clone())
                    .unwrap()
                    .to_contract();
            let batch = answer["batchNumber"].as_u64().unwrap();
            let message =
                MessageVerifier::Message { sender, data: Bytes::copy_from_slice(&payload) };
            b_verifier
                .proveMessageInclusion(270, batch, message, proof)
                .call()
                .await
                .expect("the proof verifies on chain B");
            Some(())
        },
    )
    .await;

    // ... and on L1, once the Gateway batch carrying it is settled there: proven against the
    // shared root L1 holds for that Gateway batch.
    let l1_proof = until(
        "the message's L1 proof",
        &mut [&mut a_node, &mut gw_node],
        &[&traffic_a],
        async || {
            let answer = proof_answer(a_http, tx, log_index, "\"l1\"");
            (!answer["proof"].is_null()).then(|| answer["proof"].clone())
        },
    )
    .await;
    let root_id = U256::from(l1_proof["rootId"].as_u64().unwrap());
    let shared_root: B256 = gw_executor.sharedRootOf(root_id).call().await.unwrap();
    assert_eq!(l1_proof["root"].as_str().unwrap(), shared_root.to_string());
    let s = status_of(a_http);
    assert!(
        s["finality"]["interopFinalThrough"].as_u64() >= s["finality"]["l1FinalThrough"].as_u64(),
        "interop-final before L1-final: {s}"
    );

    // A deposit to chain A, which settles on the Gateway: queued in the Gateway's L1 queue,
    // forwarded by the Gateway's node into A's queue on the Gateway, processed once by A; the
    // Gateway batch that forwarded it consumes the L1 queue, A's batch A's queue there. Then a
    // withdrawal from A, paid from that escrow once the Gateway batch carrying it is on L1.
    let depositor = devnet::signer_provider(topology.l1.node.rpc_url.clone(), &keys[6]).unwrap();
    let hub = gateway_contracts::Bridgehub::new(topology.bridgehub, &depositor);
    let (a_receiver, a_amount) =
        (alloy::primitives::Address::repeat_byte(0xa1), U256::from(90_000u64));
    hub.requestL2Transaction(
        U256::from(270),
        a_receiver,
        a_amount,
        Bytes::new(),
        U256::from(50_000),
        alloy::primitives::Address::ZERO,
    )
    .value(a_amount + U256::from(devnet::PRIORITY_OP_FEE_WEI))
    .send()
    .await
    .unwrap()
    .get_receipt()
    .await
    .unwrap();
    // Nobody queues operations for a chain on the Gateway but the Bridgehub: a "deposit" to the
    // Gateway itself (whose inbox would make any call) is refused, and so is the Gateway's
    // operator calling the chain's executor there.
    let to_gateway = hub
        .requestL2Transaction(
            U256::from(506),
            a.gateway_executor,
            U256::ZERO,
            Bytes::new(),
            U256::from(50_000),
            alloy::primitives::Address::ZERO,
        )
        .value(U256::from(devnet::PRIORITY_OP_FEE_WEI))
        .call()
        .await
        .expect_err("the Gateway takes no deposits of its own");
    assert!(to_gateway.to_string().contains("revert"), "{to_gateway}");
    let gw_operator =
        devnet::signer_provider(topology.gateway.node.rpc_url.clone(), &keys[1]).unwrap();
    let injected = gateway_contracts::ChainExecutor::new(a.gateway_executor, &gw_operator)
        .requestPriorityOp(alloy::primitives::Address::ZERO, Bytes::new())
        .call()
        .await
        .expect_err("the Gateway's operator queues nothing");
    assert!(injected.to_string().contains("revert"), "{injected}");
    let a_l2 = ProviderBuilder::new().connect_http(a.node.rpc_url.clone());
    let gw_reader = ProviderBuilder::new().connect_http(topology.gateway.node.rpc_url.clone());
    let a_on_gateway = gateway_contracts::ChainExecutor::new(a.gateway_executor, &gw_reader);
    until(
        "the deposit to A forwarded, processed and consumed on both layers",
        &mut [&mut gw_node, &mut a_node],
        &[&traffic_a],
        async || {
            let forwarded = gw_executor.priorityQueueHead().call().await.unwrap() == U256::from(1);
            let consumed = a_on_gateway.priorityQueueHead().call().await.unwrap() == U256::from(1);
            (forwarded && consumed).then_some(())
        },
    )
    .await;
    assert_eq!(a_l2.get_balance(a_receiver).await.unwrap(), a_amount, "deposited once");
    let a_withdrawal =
        withdraw(&a, &keys[2], alloy::primitives::Address::repeat_byte(0xa2), U256::from(1_000u64))
            .await;
    let answer =
        proof_of(a_http, a_withdrawal, &mut [&mut a_node, &mut gw_node], &[&traffic_a]).await;
    claim(
        &topology,
        &keys[6],
        270,
        &answer,
        alloy::primitives::Address::repeat_byte(0xa2),
        U256::from(1_000u64),
    )
    .await
    .unwrap();
    assert_eq!(
        hub.escrowed(U256::from(270)).call().await.unwrap(),
        a_amount - U256::from(1_000u64)
    );

    // The Gateway's node killed with SIGKILL in the middle of an aggregation (its result made,
    // not stored), then restarted: it loses and repeats nothing.
    gw_node.stop();
    let settled_before: u64 = gw_executor.totalBatchesExecuted().call().await.unwrap().to();
    let mut killed = NodeProcess::spawn(d, "gateway", &gw_args, Some("mid-aggregation"));
    let deadline = Instant::now() + WAIT;
    let exit = loop {
        if let Some(status) = killed.child.0.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "the failpoint was never reached");
        traffic_a.blocks(1, 1).await.unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    assert_eq!(std::os::unix::process::ExitStatusExt::signal(&exit), Some(9), "killed (SIGKILL)");
    let log = std::fs::read_to_string(&killed.log).unwrap();
    assert!(log.contains("failpoint reached"), "{log}");
    let mut gw_node = NodeProcess::spawn(d, "gateway", &gw_args, None);
    let a_final_before = l1_final(270).await;
    until(
        "the restarted Gateway's node settles again",
        &mut [&mut gw_node, &mut a_node],
        &[&traffic_a, &traffic_b],
        async || {
            let settled: u64 = gw_executor.totalBatchesExecuted().call().await.unwrap().to();
            (settled > settled_before && l1_final(270).await > a_final_before).then_some(())
        },
    )
    .await;

    // Chain B migrates to L1 and back, by the operator's admin calls.
    let secret = d.join("b/jwt.hex");
    let admin = |to: &str| {
        run_ok(&[
            "admin",
            "--authrpc.url",
            &format!("http://127.0.0.1:{b_auth}"),
            "--authrpc.jwtsecret",
            secret.to_str().unwrap(),
            "settlement_migrate",
            &format!(r#"{{"to": "{to}"}}"#),
        ])
    };
    // Value out of chain B: a withdrawal sent while B settles on the Gateway (claimed after it
    // moved to L1), one while on L1, one after it came back; a deposit while it is on L1 pays
    // for them (the Bridgehub escrows per chain).
    let b_key = &keys[3];
    let (x, y, z) = (U256::from(3_000u64), U256::from(4_000u64), U256::from(5_000u64));
    let receivers = [0x91u8, 0x92, 0x93].map(alloy::primitives::Address::repeat_byte);
    let on_gateway_before = withdraw(&b, b_key, receivers[0], x).await;
    admin("l1");
    until("chain B settles on L1", &mut [&mut b_node], &[&traffic_b], async || {
        let s = status_of(b_http);
        (s["migrationsCompleted"] == 1
            && s["settlementLayer"] == 31337
            && s["onChain"]["executed"].as_u64().unwrap_or_default() >= 1)
            .then_some(())
    })
    .await;
    let user = devnet::signer_provider(topology.l1.node.rpc_url.clone(), &keys[5]).unwrap();
    let bridgehub = gateway_contracts::Bridgehub::new(topology.bridgehub, &user);
    let deposit = x + y + z;
    bridgehub
        .requestL2Transaction(
            U256::from(271),
            receivers[2],
            deposit,
            Bytes::new(),
            U256::from(50_000),
            alloy::primitives::Address::ZERO,
        )
        .value(deposit + U256::from(devnet::PRIORITY_OP_FEE_WEI))
        .send()
        .await
        .unwrap()
        .get_receipt()
        .await
        .unwrap();
    let b_l1_executor = gateway_contracts::ChainExecutor::new(b.l1_executor, &l1_reader);
    until(
        "the deposit to B processed and consumed on L1",
        &mut [&mut b_node],
        &[&traffic_b],
        async || {
            (b_l1_executor.priorityQueueHead().call().await.unwrap() == U256::from(1)).then_some(())
        },
    )
    .await;
    let b_l2 = ProviderBuilder::new().connect_http(b.node.rpc_url.clone());
    assert_eq!(b_l2.get_balance(receivers[2]).await.unwrap(), deposit, "deposited once");
    // The withdrawal from before the migration: its batch was settled on the Gateway, so the
    // Bridgehub proves it with the Gateway batches' roots.
    claim(
        &topology,
        &keys[5],
        271,
        &proof_of(b_http, on_gateway_before, &mut [&mut b_node, &mut gw_node], &[&traffic_b]).await,
        receivers[0],
        x,
    )
    .await
    .unwrap();
    let on_l1 = withdraw(&b, b_key, receivers[1], y).await;
    claim(
        &topology,
        &keys[5],
        271,
        &proof_of(b_http, on_l1, &mut [&mut b_node], &[&traffic_b]).await,
        receivers[1],
        y,
    )
    .await
    .unwrap();
    // On L1, chain B's status shows what a batch costs it there, with no fee in it.
    let wei = |v: &serde_json::Value| v.as_str().and_then(|t| t.parse::<U256>().ok());
    until("chain B's cost per batch on L1", &mut [&mut b_node], &[&traffic_b], async || {
        let status = status_of(b_http);
        let layer = status["layers"].as_array()?.iter().find(|l| l["kind"] == "l1")?.clone();
        (wei(&layer["feePerBatchWei"]) == Some(U256::ZERO)
            && wei(&layer["costPerBatchWei"]).is_some_and(|c| c > U256::ZERO))
        .then_some(())
    })
    .await;
    admin("gateway");
    let b_final_before = l1_final(271).await;
    until(
        "chain B back on the Gateway and L1-final there",
        &mut [&mut b_node, &mut gw_node],
        &[&traffic_b, &traffic_a],
        async || {
            let s = status_of(b_http);
            (s["migrationsCompleted"] == 2
                && s["settlementLayer"] == 506
                && l1_final(271).await > b_final_before)
                .then_some(())
        },
    )
    .await;

    let after_return = withdraw(&b, b_key, receivers[2], z).await;
    let answer =
        proof_of(b_http, after_return, &mut [&mut b_node, &mut gw_node], &[&traffic_b]).await;
    claim(&topology, &keys[5], 271, &answer, receivers[2], z).await.unwrap();
    for (receiver, amount) in receivers.iter().zip([x, y, z]) {
        assert_eq!(l1_reader.get_balance(*receiver).await.unwrap(), amount, "paid once");
    }
    let again = claim(&topology, &keys[5], 271, &answer, receivers[2], z).await;
    assert!(again.is_err(), "a second claim is refused");
    assert!(bridgehub.escrowed(U256::from(271)).call().await.unwrap().is_zero());

    // The Gateway's fee: every batch committed on the Gateway paid its price into the vault
    // (read at one Gateway block: the chains go on committing); a commit that pays less is
    // refused; a new price takes effect only after its announced delay.
    let fees = gateway_contracts::GatewayFees::new(topology.gateway.fees, &gw_reader);
    let at = alloy::eips::BlockId::number(gw_reader.get_block_number().await.unwrap());
    let price = fees.price().block(at).call().await.unwrap();
    assert_eq!(price, U256::from(10_000_000_000_000_000u64));
    // Chain A has only ever settled on the Gateway: its executor's fees are its commits'.
    let committed = gateway_contracts::ChainExecutor::new(a.gateway_executor, &gw_reader)
        .totalBatchesCommitted()
        .block(at)
        .call()
        .await
        .unwrap();
    assert!(committed >= U256::from(2), "{committed}");
    let paid_by_a: U256 = gw_reader
        .get_logs(
            &Filter::new()
                .address(topology.gateway.fees)
                .event_signature(gateway_contracts::GatewayFees::FeePaid::SIGNATURE_HASH)
                .topic1(a.gateway_executor.into_word())
                .from_block(0)
                .to_block(at.as_u64().unwrap()),
        )
        .await
        .unwrap()
        .iter()
        .map(|log| {
            gateway_contracts::GatewayFees::FeePaid::decode_log(&log.inner).unwrap().data.amount
        })
        .fold(U256::ZERO, |sum, amount| sum + amount);
    assert_eq!(paid_by_a, price * committed, "chain A paid the price of each committed batch");
    let a_on_gw = devnet::signer_provider(topology.gateway.node.rpc_url.clone(), &keys[2]).unwrap();
    let underpaid = gateway_contracts::ChainExecutor::new(a.gateway_executor, &a_on_gw)
        .commitBatches(
            gateway_contracts::convert(&gateway_primitives::StoredBatchInfo::default()).unwrap(),
            vec![
                gateway_contracts::convert(&gateway_primitives::CommitBatchInfo::default())
                    .unwrap(),
            ],
            vec![Bytes::new()],
        )
        .call()
        .await
        .expect_err("a commit without the fee");
    assert!(underpaid.to_string().contains("revert"), "{underpaid}");
    let gw_governance =
        devnet::signer_provider(topology.gateway.node.rpc_url.clone(), &keys[1]).unwrap();
    gateway_contracts::GatewayFees::new(topology.gateway.fees, &gw_governance)
        .announcePrice(U256::from(7u64))
        .send()
        .await
        .unwrap()
        .get_receipt()
        .await
        .unwrap();
    assert_eq!(fees.price().call().await.unwrap(), price, "not before the delay");
    devnet::rpc_call(&topology.gateway.node.rpc_url, "anvil_mine", serde_json::json!([5]))
        .await
        .unwrap();
    assert_eq!(fees.price().call().await.unwrap(), U256::from(7u64), "after the delay");
    // A commit chain A paid at the new price: a FeePaid of 7 wei per batch (a commit priced
    // before the change may still be mined after it, at the old price: it does not count).
    let paid_before = fees.feesCollected().call().await.unwrap();
    let effective = gw_reader.get_block_number().await.unwrap();
    until("a commit at the new price", &mut [&mut a_node], &[&traffic_a], async || {
        let logs = gw_reader
            .get_logs(
                &Filter::new()
                    .address(topology.gateway.fees)
                    .event_signature(gateway_contracts::GatewayFees::FeePaid::SIGNATURE_HASH)
                    .topic1(a.gateway_executor.into_word())
                    .from_block(effective),
            )
            .await
            .unwrap();
        logs.iter()
            .map(|log| {
                gateway_contracts::GatewayFees::FeePaid::decode_log(&log.inner).unwrap().data.amount
            })
            .any(|amount| {
                !amount.is_zero() && amount < price && amount % U256::from(7u64) == U256::ZERO
            })
            .then_some(())
    })
    .await;
    // Chain A's status shows what a batch costs it on the Gateway, the fee in it at the price
    // its last commit paid; the Gateway's shows the fees collected beside the L1 cost it paid.
    let wei = |v: &serde_json::Value| v.as_str().and_then(|t| t.parse::<U256>().ok());
    until(
        "chain A's cost per batch on the Gateway",
        &mut [&mut a_node],
        &[&traffic_a],
        async || {
            let status = status_of(a_http);
            let layer =
                status["layers"].as_array()?.iter().find(|l| l["kind"] == "gateway")?.clone();
            (wei(&layer["feePerBatchWei"]) == Some(U256::from(7u64))
                && wei(&layer["costPerBatchWei"]).is_some_and(|c| c > U256::ZERO))
            .then_some(())
        },
    )
    .await;
    until(
        "the Gateway's status showing the fees collected",
        &mut [&mut gw_node],
        &[],
        async || {
            // Read after the status: the chains may pay more meanwhile, never less.
            let status = status_of(gw_http);
            let collected = fees.feesCollected().call().await.unwrap();
            let shown = &status["gateway"]["fees"];
            (wei(&shown["collectedWei"]).is_some_and(|c| c > paid_before && c <= collected)
                && wei(&shown["priceWei"]) == Some(U256::from(7u64))
                && wei(&status["gateway"]["l1CostWei"]).is_some_and(|c| c > U256::ZERO))
            .then_some(())
        },
    )
    .await;

    // Who may not touch the value surfaces is refused (eth_call, nothing sent): a chain's
    // operator announcing the Gateway's price, taking its fees, swapping its executor's fee
    // schedule, or making the Gateway's executor queue an operation; the Gateway's operator
    // swapping a schedule set once; anyone but governance setting the withdrawal verifiers;
    // anyone re-initializing a chain's inbox.
    let zero = alloy::primitives::Address::ZERO;
    let as_a = gateway_contracts::GatewayFees::new(topology.gateway.fees, &a_on_gw);
    let a_gw_executor = gateway_contracts::ChainExecutor::new(a.gateway_executor, &a_on_gw);
    let a_l1 = devnet::signer_provider(topology.l1.node.rpc_url.clone(), &keys[2]).unwrap();
    let refusals = [
        as_a.announcePrice(U256::ZERO).call().await.map(drop),
        as_a.withdraw(zero).call().await.map(drop),
        a_gw_executor.setFeeSchedule(zero).call().await.map(drop),
        gateway_contracts::ChainExecutor::new(a.gateway_executor, &gw_governance)
            .setFeeSchedule(zero)
            .call()
            .await
            .map(drop),
        gateway_contracts::GatewayExecutor::new(topology.gateway_l1_executor, &a_l1)
            .requestPriorityOp(zero, Bytes::new())
            .call()
            .await
            .map(drop),
        gateway_contracts::Bridgehub::new(topology.bridgehub, &a_l1)
            .setMessageVerifiers(zero, zero)
            .call()
            .await
            .map(drop),
        gateway_contracts::L2Inbox::new(
            devnet::INBOX_ADDRESS,
            &devnet::signer_provider(a.node.rpc_url.clone(), &keys[2]).unwrap(),
        )
        .initialize(zero)
        .call()
        .await
        .map(drop),
    ];
    for (i, refused) in refusals.into_iter().enumerate() {
        let err = refused.expect_err(&format!("surface {i} refuses its caller"));
        assert!(err.to_string().contains("revert"), "surface {i}: {err}");
    }

    // Nothing lost, nothing repeated: on L1, each Gateway batch settled once, in order, and
    // each chain's batches made final in contiguous ranges that never overlap (read through one
    // L1 block: the Gateway's node goes on settling meanwhile).
    let latest = l1_reader.get_block_number().await.unwrap();
    let settled = l1_reader
        .get_logs(
            &Filter::new()
                .address(topology.gateway_l1_executor)
                .event_signature(GatewayExecutor::GatewayBatchSettled::SIGNATURE_HASH)
                .from_block(0)
                .to_block(latest),
        )
        .await
        .unwrap();
    let numbers: Vec<u64> = settled
        .iter()
        .map(|log| {
            GatewayExecutor::GatewayBatchSettled::decode_log(&log.inner).unwrap().batchNumber.to()
        })
        .collect();
    assert_eq!(numbers, (1..=numbers.len() as u64).collect::<Vec<_>>(), "Gateway batches on L1");
    let finals = l1_reader
        .get_logs(
            &Filter::new()
                .address(topology.gateway_l1_executor)
                .event_signature(GatewayExecutor::ChainBatchesFinal::SIGNATURE_HASH)
                .from_block(0)
                .to_block(latest),
        )
        .await
        .unwrap();
    for chain in [270u64, 271] {
        let mut next = 1u64;
        for log in &finals {
            let event = GatewayExecutor::ChainBatchesFinal::decode_log(&log.inner).unwrap().data;
            if event.chainId != U256::from(chain) {
                continue;
            }
            let (from, to): (u64, u64) = (event.fromBatch.to(), event.toBatch.to());
            // Chain B's batches settled on L1 while it was there are final on L1 directly.
            assert!(from >= next, "chain {chain}: batches {from}..={to} made final twice");
            assert!(chain == 271 || from == next, "chain {chain}: a gap before {from}");
            next = to + 1;
        }
        assert!(next > 2, "chain {chain} has L1-final batches");
    }

    // ... and the Gateway's operator sent L1 exactly one settleBatch per Gateway batch, none
    // reverted: the aggregation lost to the kill was made again, not sent twice.
    let operator = devnet::address_of_key(&keys[1], "gateway").unwrap();
    let mut settles = 0usize;
    for number in 0..=latest {
        let block = l1_reader.get_block_by_number(number.into()).full().await.unwrap().unwrap();
        for tx in block.transactions.txns() {
            let (from, to) = (tx.inner.signer(), alloy::consensus::Transaction::to(tx));
            if from != operator || to != Some(topology.gateway_l1_executor) {
                continue;
            }
            let hash = *tx.inner.tx_hash();
            let receipt = l1_reader.get_transaction_receipt(hash).await.unwrap().unwrap();
            assert!(receipt.status(), "the Gateway operator's {hash} reverted");
            let input = alloy::consensus::Transaction::input(tx);
            settles += usize::from(input.starts_with(&GatewayExecutor::settleBatchCall::SELECTOR));
        }
    }
    assert_eq!(settles, numbers.len(), "one settleBatch per settled Gateway batch");

    // Metrics: Prometheus' checker accepts each node's, and every metric the dashboard reads
    // is exported by a chain's node or the Gateway's.
    let mut exported = common::promtool_checked_metrics(gw_metrics).await;
    exported.extend(common::promtool_checked_metrics(a_metrics).await);
    for file in ["etc/grafana/gateway-exex.json", "etc/prometheus/alerts.yml"] {
        let missing: Vec<_> = metrics_read_by(file).difference(&exported).cloned().collect();
        assert!(missing.is_empty(), "{file} reads metrics no node exports: {missing:?}");
    }
    // Chain A's batches were timed through every stage, L1 finality included: each stage's
    // latency histogram holds samples.
    let a_text =
        alloy::transports::http::reqwest::get(format!("http://127.0.0.1:{a_metrics}/metrics"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
    for stage in ["proved", "committed", "proved_on_chain", "executed", "l1_final"] {
        let samples: f64 = a_text
            .lines()
            .filter(|l| {
                l.starts_with("settlement_batch_stage_seconds_count")
                    && l.contains(&format!("stage=\"{stage}\""))
            })
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum();
        assert!(samples > 0.0, "no batch of chain A timed to stage {stage}: {a_text}");
    }

    // A Gateway node pointed at a chain instead of the Gateway is refused, naming the flag.
    let mut wrong = common(&a_url, &gw_gov, "wrong", free_port());
    wrong.push("--gateway.enabled".into());
    let mut args = vec!["node".to_string()];
    args.extend(wrong);
    let stderr = run_err(&strs(&args));
    assert!(stderr.contains("--gateway.enabled") && stderr.contains("Gateway is"), "{stderr}");
    // Each contract address that gateway mode and interop take is checked at start: one with
    // no contract behind it is refused, naming the flag.
    let nowhere = "0x000000000000000000000000000000000000dEaD";
    let refused_flags = [
        (&gw_url, &gw_gov, "--gateway.l1-executor", true),
        (&gw_url, &gw_gov, "--gateway.message-root", true),
        (&gw_url, &gw_gov, "--gateway.fee-vault", true),
        (&a_url, &a_admin, "--interop.roots", false),
    ];
    for (url, key, flag, gateway_mode) in refused_flags {
        let mut args = vec!["node".to_string()];
        args.extend(common(url, key, "refused", free_port()));
        if gateway_mode {
            args.push("--gateway.enabled".into());
        }
        args.extend([flag.to_string(), nowhere.to_string()]);
        let stderr = run_err(&strs(&args));
        assert!(stderr.contains(flag) && stderr.contains("no contract"), "{flag}: {stderr}");
    }

    for node in [gw_node, a_node, b_node] {
        node.stop();
    }
    drop((l1, gateway, chain_a, chain_b));
}

/// `interop_getMessageProof(tx, log_index, <rest>)` on the node at `port`: its result.
fn proof_answer(port: u16, tx: B256, log_index: u64, rest: &str) -> serde_json::Value {
    let body = format!(
        r#"{{"jsonrpc":"2.0","id":1,"method":"interop_getMessageProof","params":["{tx}",{log_index},{rest}]}}"#
    );
    let response = devnet::local_http(
        port,
        &format!(
            "POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ),
    );
    let json = response.split("\r\n\r\n").nth(1).unwrap_or_default();
    let answer: serde_json::Value = serde_json::from_str(json).unwrap_or_default();
    assert!(answer["error"].is_null(), "{answer}");
    answer["result"].clone()
}

/// Withdraws `amount` from `chain` to `receiver` on L1 through the `L2Bridge`, signed by `key`:
/// the transaction and the index of its message's log.
async fn withdraw(
    chain: &devnet::ChainTopology,
    key: &str,
    receiver: alloy::primitives::Address,
    amount: U256,
) -> (B256, u64) {
    let signer = devnet::signer_provider(chain.node.rpc_url.clone(), key).unwrap();
    let receipt = gateway_contracts::L2Bridge::new(devnet::L2_BRIDGE_ADDRESS, &signer)
        .withdraw(receiver)
        .value(amount)
        .send()
        .await
        .unwrap()
        .get_receipt()
        .await
        .unwrap();
    assert!(receipt.status());
    let log_index = receipt
        .inner
        .logs()
        .iter()
        .find(|l| l.topics().first() == Some(&L2Messenger::MessageSent::SIGNATURE_HASH))
        .and_then(|l| l.log_index)
        .unwrap();
    (receipt.transaction_hash, log_index)
}

/// The L1 proof of a message, once the node at `port` has one.
async fn proof_of(
    port: u16,
    (tx, log_index): (B256, u64),
    nodes: &mut [&mut NodeProcess],
    traffic: &[&Traffic],
) -> serde_json::Value {
    until("a message's L1 proof", nodes, traffic, async || {
        let answer = proof_answer(port, tx, log_index, "\"l1\"");
        (!answer["proof"].is_null()).then_some(answer)
    })
    .await
}

/// `Bridgehub.finalizeWithdrawal` of `amount` to `receiver` from `chain_id` with the node's
/// proof `answer`, sent by `key`.
async fn claim(
    topology: &Topology,
    key: &str,
    chain_id: u64,
    answer: &serde_json::Value,
    receiver: alloy::primitives::Address,
    amount: U256,
) -> Result<(), String> {
    use alloy::sol_types::SolValue as _;
    let proof = serde_json::from_value::<gateway_settlement::ProofJson>(answer["proof"].clone())
        .unwrap()
        .to_withdrawal_proof();
    let signer = devnet::signer_provider(topology.l1.node.rpc_url.clone(), key).unwrap();
    let data = Bytes::from((receiver, amount).abi_encode_params());
    let batch = answer["batchNumber"].as_u64().unwrap();
    let pending = gateway_contracts::Bridgehub::new(topology.bridgehub, &signer)
        .finalizeWithdrawal(U256::from(chain_id), batch, data, proof)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let receipt = pending.get_receipt().await.map_err(|e| e.to_string())?;
    if receipt.status() { Ok(()) } else { Err("reverted".into()) }
}
