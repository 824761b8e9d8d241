//! The `gateway-node` binary as an operator runs it: bad inputs fail at start naming the flag,
//! and a node settles a devnet chain's batches, serves status and metrics, and stops on SIGTERM.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{
    path::Path,
    process::{Command, Output, Stdio},
    time::{Duration, Instant},
};

use devnet::{
    Anvil, AnvilConfig, ChildProcess, Devnet, DevnetConfig, InitialSettlement, Traffic, local_http,
    local_rpc,
};

mod common;

const BIN: &str = env!("CARGO_BIN_EXE_gateway-node");

/// Runs the binary to completion (it must fail fast); at most 60 s.
fn run_to_exit(args: &[&str], datadir: &Path) -> Output {
    run_to_exit_with_env(args, datadir, &[])
}

/// [`run_to_exit`] with these environment variables set.
fn run_to_exit_with_env(args: &[&str], datadir: &Path, env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(BIN);
    command
        .args(args)
        .envs(env.iter().copied())
        .arg("--datadir")
        .arg(datadir)
        .env_remove("GATEWAY_OPERATOR_KEY")
        .env("RUST_LOG", "warn");
    output_within_a_minute(command)
}

/// Runs `command` to completion with its output captured; fails after 60 s.
fn output_within_a_minute(mut command: Command) -> Output {
    let mut child = command.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() >= deadline {
            // Not left running: it was started here.
            let _ = child.kill();
            let _ = child.wait();
            panic!("{command:?} did not exit");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.wait_with_output().unwrap()
}

/// `gateway-node admin --authrpc.url http://127.0.0.1:<port> --authrpc.jwtsecret <secret> ARGS`.
fn run_admin(port: u16, secret: &Path, args: &[&str]) -> Output {
    let mut command = Command::new(BIN);
    command
        .args(["admin", "--authrpc.url", &format!("http://127.0.0.1:{port}")])
        .arg("--authrpc.jwtsecret")
        .arg(secret)
        .args(args);
    output_within_a_minute(command)
}

/// The admin call's printed result; panics with its stderr when it failed.
fn admin_ok(port: u16, secret: &Path, args: &[&str]) -> serde_json::Value {
    let out = run_admin(port, secret, args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "gateway-node admin {args:?} failed: {stderr}");
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The admin call's error output; panics when it succeeded.
fn admin_err(port: u16, secret: &Path, args: &[&str]) -> String {
    let out = run_admin(port, secret, args);
    assert!(!out.status.success(), "gateway-node admin {args:?} succeeded");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A raw JSON-RPC POST to `port` with an optional `Authorization` header; the whole answer.
fn post(port: u16, authorization: Option<&str>, body: &str) -> String {
    let auth = authorization.map(|a| format!("Authorization: {a}\r\n")).unwrap_or_default();
    local_http(
        port,
        &format!(
            "POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n{auth}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ),
    )
}

/// A devnet with one chain settling on `layer`; its topology file and the chain operator's key
/// file, both in `dir`.
async fn one_chain_devnet(
    dir: &Path,
    layer: InitialSettlement,
) -> (Devnet, std::path::PathBuf, std::path::PathBuf) {
    let topology_file = dir.join("topology.json");
    let devnet = Devnet::start(
        DevnetConfig { chains: vec![layer], ..Default::default() },
        Some(&topology_file),
    )
    .await
    .unwrap();
    let key_file = dir.join("operator.key");
    std::fs::write(&key_file, &devnet.topology.chains[0].operator_key).unwrap();
    (devnet, topology_file, key_file)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsafe_setups_are_refused_at_start_unless_dev() {
    let dir = tempfile::tempdir().unwrap();
    let (devnet, topology_file, key_file) =
        one_chain_devnet(dir.path(), InitialSettlement::L1).await;
    let chain = &devnet.topology.chains[0];
    let topology = topology_file.to_str().unwrap();
    let key = key_file.to_str().unwrap();
    let node = |extra: &[&str]| {
        let mut args = vec![
            "node",
            "--chain.rpc-url",
            chain.node.rpc_url.as_str(),
            "--settlement.enabled",
            "--settlement.topology",
            topology,
            "--settlement.operator-key-file",
            key,
        ];
        args.extend_from_slice(extra);
        let out = run_to_exit(&args, &dir.path().join("data"));
        assert!(!out.status.success(), "{extra:?} must be refused");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let err = node(&["--settlement.proofs", "mock"]);
    assert!(err.contains("--settlement.proofs mock") && err.contains("--dev"), "{err}");
    let err = node(&["--settlement.proofs", "halo2"]);
    assert!(err.contains("--settlement.srs-file") && err.contains("INSECURE dev SRS"), "{err}");
    // A ceremony SRS named, but the devnet's executors verify with a MockVerifier.
    let err = node(&["--settlement.proofs", "halo2", "--settlement.srs-file", "/nonexistent.srs"]);
    assert!(err.contains("MockVerifier") && err.contains("--dev"), "{err}");
    assert!(err.contains(&chain.l1_executor.to_string()), "names the executor: {err}");

    // Another code that accepts anything (returns true for every call) is found by asking it.
    use alloy::{
        network::TransactionBuilder, primitives::Bytes, providers::Provider,
        rpc::types::TransactionRequest,
    };
    let operator =
        devnet::signer_provider(devnet.topology.l1.node.rpc_url.clone(), &chain.operator_key)
            .unwrap();
    // Runtime: mstore(0, 1); return(0, 32). Init code copies it out.
    let runtime = [0x60, 0x01, 0x5f, 0x52, 0x60, 0x20, 0x5f, 0xf3];
    let mut init = vec![0x60, 8, 0x80, 0x60, 9, 0x5f, 0x39, 0x5f, 0xf3];
    init.extend_from_slice(&runtime);
    let receipt = operator
        .send_transaction(TransactionRequest::default().with_deploy_code(Bytes::from(init)))
        .await
        .unwrap()
        .get_receipt()
        .await
        .unwrap();
    let yes_man = receipt.contract_address.unwrap();
    devnet::change_verifier(
        &devnet.topology.l1.node.rpc_url,
        &devnet.topology.l1.governance_key,
        chain.l1_executor,
        yes_man,
    )
    .await
    .unwrap();
    let err = node(&["--settlement.proofs", "halo2", "--settlement.srs-file", "/nonexistent.srs"]);
    assert!(err.contains("accepts a junk proof") && err.contains(&yes_man.to_string()), "{err}");
}

#[test]
fn bad_inputs_fail_at_start_and_name_the_flag() {
    let chain = Anvil::spawn(AnvilConfig { chain_id: 270, ..Default::default() }).unwrap();
    let l1 = Anvil::spawn(AnvilConfig::default()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let chain_url = chain.endpoint().to_string();
    let l1_url = l1.endpoint().to_string();
    let base = [
        "node",
        "--chain.rpc-url",
        chain_url.as_str(),
        "--settlement.enabled",
        "--dev",
        "--settlement.proofs",
        "mock",
        "--settlement.l1-executor",
        "0x00000000000000000000000000000000000000aa",
        "--settlement.genesis-state-commitment",
        "0x0000000000000000000000000000000000000000000000000000000000000001",
    ];
    let dev_key = dir.path().join("dev.key");
    std::fs::write(&dev_key, devnet::DEV_ACCOUNT_KEYS[0]).unwrap();
    let dev_key = dev_key.to_str().unwrap().to_owned();
    let bad_key = dir.path().join("bad.key");
    std::fs::write(&bad_key, "0xnot-a-key").unwrap();
    let bad_key = bad_key.to_str().unwrap().to_owned();
    let no_such_dir = dir.path().join("missing/node.log");
    let no_such_dir = no_such_dir.to_str().unwrap().to_owned();
    let key = ["--settlement.operator-key-file", dev_key.as_str()];
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec![
                "--settlement.l1-rpc-url",
                &l1_url,
                "--settlement.operator-key-file",
                "/nonexistent/key",
            ],
            "--settlement.operator-key-file /nonexistent/key",
        ),
        (
            vec![
                "--settlement.layer",
                "gateway",
                "--settlement.gateway-rpc-url",
                &l1_url,
                "--settlement.gateway-executor",
                "0x00000000000000000000000000000000000000bb",
                key[0],
                key[1],
            ],
            "chain id is 31337, but --settlement.gateway-network expects 506",
        ),
        (vec!["--settlement.da", "carrier-pigeon"], "--settlement.da"),
        (
            vec!["--settlement.l1-rpc-url", "http://127.0.0.1:1", key[0], key[1]],
            "--settlement.l1-rpc-url http://127.0.0.1:1/",
        ),
        (key.to_vec(), "--settlement.layer l1 needs --settlement.l1-rpc-url"),
    ];
    let cases: Vec<(Vec<&str>, &str)> = cases
        .into_iter()
        .chain([
            (
                vec![
                    "--settlement.l1-rpc-url",
                    &l1_url,
                    "--settlement.operator-key-file",
                    &bad_key,
                ],
                "--settlement.operator-key-file",
            ),
            (
                vec![
                    "--settlement.l1-rpc-url",
                    &l1_url,
                    "--settlement.operator-key-file",
                    &dev_key,
                ],
                "no contract at that address",
            ),
            (vec!["--log.filter", "gateway=[nope"], "--log.filter"),
            (
                vec!["--prover.queue", "postgres://p:s3cret@db:port/x"],
                "--prover.queue: not a PostgreSQL address (postgres://p:***@db:port/x)",
            ),
            (vec!["--log.file", &no_such_dir], "--log.file"),
        ])
        .collect();
    for (extra, expected) in cases {
        let mut args: Vec<&str> = base.to_vec();
        args.extend(extra.iter());
        let out = run_to_exit(&args, dir.path());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} should fail");
        assert!(stderr.contains(expected), "{args:?}: expected {expected:?} in:\n{stderr}");
    }

    // The queue's address is checked before anything connects, without its password.
    let out = run_to_exit(
        &[&base[..], &["--prover.queue", "postgres://p:s3cret@db:port/x"]].concat(),
        dir.path(),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("s3cret"), "{stderr}");

    // A queue without the settlement ExEx would be ignored: refused.
    let out = run_to_exit(
        &["node", "--chain.rpc-url", &chain_url, "--prover.queue", "postgres://u@db/p"],
        dir.path(),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && stderr.contains("--prover.queue needs --settlement.enabled"),
        "{stderr}"
    );

    // The key error names the flag and never prints the file's content.
    let out = run_to_exit(
        &[
            &base[..],
            &["--settlement.l1-rpc-url", &l1_url, "--settlement.operator-key-file", &bad_key],
        ]
        .concat(),
        dir.path(),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("not a private key") && !stderr.contains("not-a-key"), "{stderr}");

    // Settings from the environment are checked like flags.
    let out = run_to_exit_with_env(
        &base,
        dir.path(),
        &[("GATEWAY_SETTLEMENT_DA", "carrier-pigeon"), ("GATEWAY_SETTLEMENT_L1_RPC_URL", &l1_url)],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && stderr.contains("--settlement.da"), "{stderr}");

    // A malformed config file.
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "[settlement\nlayer = ").unwrap();
    let out = run_to_exit(
        &["node", "--chain.rpc-url", &chain_url, "--config", bad.to_str().unwrap()],
        dir.path(),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && stderr.contains("not valid TOML"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_settles_serves_status_and_metrics_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let (devnet, topology_file, key_file) =
        one_chain_devnet(dir.path(), InitialSettlement::Gateway).await;
    let chain = &devnet.topology.chains[0];
    let config = dir.path().join("node.toml");
    std::fs::write(&config, "[batch]\nmax-blocks = 2\ntimeout = \"1s\"\n").unwrap();
    let (http_port, metrics_port, auth_port) = (free_port(), free_port(), free_port());
    let datadir = dir.path().join("data");
    let child = Command::new(BIN)
        .args([
            "node",
            "--chain.rpc-url",
            chain.node.rpc_url.as_str(),
            "--chain.start-after",
            "0",
            "--chain.poll-interval",
            "100ms",
        ])
        .args([
            "--settlement.enabled",
            "--dev",
            "--settlement.layer",
            "gateway",
            "--settlement.proofs",
            "mock",
        ])
        .arg("--settlement.topology")
        .arg(&topology_file)
        .arg("--settlement.operator-key-file")
        .arg(&key_file)
        .arg("--config")
        .arg(&config)
        .args([
            "--http",
            "--http.port",
            &http_port.to_string(),
            "--metrics",
            &format!("127.0.0.1:{metrics_port}"),
            "--authrpc.port",
            &auth_port.to_string(),
        ])
        .arg("--datadir")
        .arg(&datadir)
        .env("RUST_LOG", "warn")
        // From the environment, like any flag: blobs exist on L1 only, so on the Gateway the
        // node publishes the pubdata as calldata.
        .env("GATEWAY_SETTLEMENT_DA", "rollup-blobs")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut child = ChildProcess(child);

    let mut traffic = Traffic::new(chain.node.rpc_url.clone(), &chain.operator_key).unwrap();
    // Every other transaction sends an L2->L1 message through the chain's L2Messenger, which
    // the node knows from the topology file.
    traffic.use_messenger(chain.interop.messenger);
    traffic.blocks(6, 2).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(90);
    let status = loop {
        assert!(child.0.try_wait().unwrap().is_none(), "gateway-node exited early");
        let status = local_rpc(http_port, "settlement_status");
        if status["onChain"]["executed"].as_u64().unwrap_or_default() >= 3 {
            break status;
        }
        assert!(Instant::now() < deadline, "no 3 executed batches; last status {status}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    assert_eq!(status["settlementLayer"], 506);
    assert_eq!(status["chainId"], chain.node.chain_id);
    // Admin methods are not served on --http: nothing changes.
    let on_http = post(
        http_port,
        None,
        r#"{"jsonrpc":"2.0","id":1,"method":"settlement_pause","params":[]}"#,
    );
    assert!(on_http.contains("-32601"), "{on_http}");
    assert_eq!(local_rpc(http_port, "settlement_status")["phase"], "settling");
    // On the authenticated listener: refused without a token, or with another secret's.
    let pause = r#"{"jsonrpc":"2.0","id":1,"method":"settlement_pause","params":[]}"#;
    assert!(post(auth_port, None, pause).starts_with("HTTP/1.1 401"));
    let other = dir.path().join("other.hex");
    let forged = exex_host::JwtSecret::load_or_create(&other).unwrap().token();
    assert!(post(auth_port, Some(&format!("Bearer {forged}")), pause).starts_with("HTTP/1.1 401"));
    let err = admin_err(auth_port, &other, &["settlement_pause"]);
    assert!(err.contains("refused the token"), "{err}");
    assert_eq!(local_rpc(http_port, "settlement_status")["phase"], "settling");
    // The secret file the node made is its owner's only.
    let secret = datadir.join("jwt.hex");
    {
        use std::os::unix::fs::PermissionsExt as _;
        assert_eq!(std::fs::metadata(&secret).unwrap().permissions().mode() & 0o777, 0o600);
    }
    // Strict params: junk and unknown fields are refused, naming them; nothing changes.
    let err = admin_err(auth_port, &secret, &["settlement_pause", "junk"]);
    assert!(err.contains("-32602") && err.contains("junk"), "{err}");
    let err = admin_err(auth_port, &secret, &["settlement_migrate", r#"{"to":"l1","force":true}"#]);
    assert!(err.contains("-32602") && err.contains("force"), "{err}");
    let err = admin_err(auth_port, &secret, &["settlement_migrate", r#"{"to":"l1"}"#, "2"]);
    assert!(err.contains("-32602"), "{err}");
    assert!(!err.contains("ErrorObject"), "a sentence, not debug text: {err}");
    assert_eq!(local_rpc(http_port, "settlement_status")["phase"], "settling");
    assert!(local_rpc(http_port, "settlement_status")["migration"].is_null());
    // With the node's secret: paused.
    assert_eq!(admin_ok(auth_port, &secret, &["settlement_pause"]), "paused");
    assert_eq!(local_rpc(http_port, "settlement_status")["phase"], "paused");

    let metrics =
        local_http(metrics_port, "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert!(metrics.contains("settlement_batches_sealed_total"), "{metrics}");
    assert!(metrics.contains("settlement_txs_sent_total"), "{metrics}");
    assert!(metrics.contains("exex_wal_blocks"), "{metrics}");
    // Prometheus' own checker accepts every name and type the node exports.
    common::promtool_checked_metrics(metrics_port).await;
    // The WAL's size, refreshed every 2 s: the notifications not yet finalized are there.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let metrics = local_http(
            metrics_port,
            "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        );
        let wal_bytes = metrics
            .lines()
            .find_map(|l| l.strip_prefix("settlement_wal_bytes "))
            .and_then(|v| v.trim().parse::<f64>().ok())
            .unwrap_or_else(|| panic!("no settlement_wal_bytes in {metrics}"));
        if wal_bytes > 0.0 {
            break;
        }
        assert!(Instant::now() < deadline, "settlement_wal_bytes stayed 0");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(metrics.contains("settlement_batches{stage=\"executed\"}"), "{metrics}");
    assert!(metrics.contains("settlement_lag_blocks"), "{metrics}");
    assert!(metrics.contains("settlement_gas_used_total{stage=\"commit\"}"), "{metrics}");
    assert!(metrics.contains("# HELP settlement_proof_seconds"), "{metrics}");

    let status = Command::new("kill").arg(child.0.id().to_string()).status().unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(30);
    let exit = loop {
        if let Some(exit) = child.0.try_wait().unwrap() {
            break exit;
        }
        assert!(Instant::now() < deadline, "gateway-node ignored SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(exit.success(), "clean exit on SIGTERM, got {exit}");

    // The node collected the messages: one per traffic block, in the blocks' records.
    let store = gateway_store::Store::open(&datadir).unwrap();
    let last = store.last_block().unwrap().unwrap().number;
    let messages: usize =
        store.blocks(1..=last).unwrap().iter().map(|b| b.message_leaves.len()).sum();
    assert!(messages >= 6, "{messages} L2->L1 messages recorded");
    for batch in store.batches(1..=3).unwrap() {
        let info = gateway_settlement::commitment::decode_commit_info(&batch).unwrap();
        assert_eq!(
            gateway_primitives::DaScheme::from_u8(info.daScheme),
            Some(gateway_primitives::DaScheme::RollupCalldata),
            "batch {}",
            batch.number
        );
        assert_ne!(info.daCommitment, alloy::primitives::B256::ZERO);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gateway_public_rpc_refuses_deployments_until_the_admin_allows_them() {
    use alloy::{
        network::{EthereumWallet, TransactionBuilder},
        primitives::Bytes,
        providers::{Provider, ProviderBuilder},
        rpc::types::TransactionRequest,
        signers::local::PrivateKeySigner,
    };
    let gateway = Anvil::spawn(AnvilConfig { chain_id: 506, ..Default::default() }).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (front_port, http_port, auth_port) = (free_port(), free_port(), free_port());
    let child = Command::new(BIN)
        .args(["node", "--chain.rpc-url", gateway.endpoint().as_str()])
        .args(["--gateway.public-rpc", &format!("127.0.0.1:{front_port}")])
        .args(["--http", "--http.port", &http_port.to_string()])
        .args(["--authrpc.port", &auth_port.to_string(), "--datadir"])
        .arg(dir.path())
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut child = ChildProcess(child);
    let secret = dir.path().join("jwt.hex");
    let deadline = Instant::now() + Duration::from_secs(60);
    while !secret.exists()
        || !run_admin(auth_port, &secret, &["gateway_deploymentAllowlist"]).status.success()
    {
        assert!(child.is_running(), "gateway-node exited early");
        assert!(Instant::now() < deadline, "the admin methods never answered");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Not on --http, nor without a token.
    let allow = |who: &str| {
        format!(r#"{{"jsonrpc":"2.0","id":1,"method":"gateway_allowDeployer","params":["{who}"]}}"#)
    };
    let signer: PrivateKeySigner = gateway.dev_keys()[0].parse().unwrap();
    let deployer = signer.address();
    let provider = ProviderBuilder::new()
        .disable_recommended_fillers()
        .with_gas_estimation()
        .with_simple_nonce_management()
        .fetch_chain_id()
        .wallet(EthereumWallet::from(signer))
        .connect_http(format!("http://127.0.0.1:{front_port}").parse().unwrap());
    let deploy = || {
        provider.send_transaction(
            TransactionRequest::default()
                .with_deploy_code(Bytes::from_static(&devnet::LOG_EMITTER_INITCODE)),
        )
    };
    // The binary's front signs nothing for outsiders: the sequencer's accounts stay its own.
    let sign_as = format!(
        r#"{{"jsonrpc":"2.0","id":1,"method":"eth_sendTransaction","params":[{{"from":"{deployer}","to":"{deployer}","value":"0x1"}}]}}"#
    );
    let answer = post(front_port, None, &sign_as);
    assert!(answer.contains("-32601") && answer.contains("eth_sendTransaction"), "{answer}");
    let answer =
        post(front_port, None, r#"{"jsonrpc":"2.0","id":1,"method":"eth_accounts","params":[]}"#);
    assert!(answer.contains("-32601"), "{answer}");
    let err = deploy().await.expect_err("not on the allowlist");
    let message = err.as_error_resp().unwrap().message.to_string();
    assert!(message.contains(&deployer.to_string()), "{message}");

    let on_http = post(http_port, None, &allow(&deployer.to_string()));
    assert!(on_http.contains("-32601"), "{on_http}");
    assert!(post(auth_port, None, &allow(&deployer.to_string())).starts_with("HTTP/1.1 401"));
    deploy().await.expect_err("still not on the allowlist");
    let err = admin_err(auth_port, &secret, &["gateway_allowDeployer", "0x1234"]);
    assert!(err.contains("-32602") && err.contains("0x1234"), "{err}");
    assert_eq!(
        admin_ok(auth_port, &secret, &["gateway_deploymentAllowlist"]),
        serde_json::json!([])
    );
    // With the secret, through the operator's client.
    assert_eq!(
        admin_ok(auth_port, &secret, &["gateway_allowDeployer", &deployer.to_string()]),
        true
    );
    let receipt =
        tokio::time::timeout(Duration::from_secs(30), deploy().await.unwrap().get_receipt())
            .await
            .unwrap()
            .unwrap();
    assert!(receipt.contract_address.is_some());
    assert!(
        std::fs::read_to_string(dir.path().join("gateway/deployment-allowlist.json"))
            .unwrap()
            .contains(&format!("{deployer:#x}").to_lowercase())
    );
    assert!(child.signal("TERM"));
    assert!(child.wait_exit(Duration::from_secs(30)).is_some_and(|s| s.success()));
}

/// A Gateway node whose aggregated proofs are not the shape L1's verifier takes (flat 4 leaves
/// or a tree of 16) would have every `settleBatch` revert: it is refused at start, naming
/// `--settlement.halo2-aggregation`, the executor and both sizes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateway_node_whose_proof_shape_l1_does_not_verify_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (devnet, topology_file, _) = one_chain_devnet(dir.path(), InitialSettlement::L1).await;
    let topology = &devnet.topology;
    let gateway_key = dir.path().join("gateway.key");
    std::fs::write(&gateway_key, &topology.gateway.governance_key).unwrap();
    let l1 = &topology.l1.node.rpc_url;
    let l1_governance = devnet::signer_provider(l1.clone(), &topology.l1.governance_key).unwrap();
    let gateway = |shape: &str| {
        let out = run_to_exit(
            &[
                "node",
                "--chain.rpc-url",
                topology.gateway.node.rpc_url.as_str(),
                "--settlement.enabled",
                "--dev",
                "--gateway.enabled",
                "--settlement.gateway-network",
                &topology.gateway.node.chain_id.to_string(),
                "--settlement.topology",
                topology_file.to_str().unwrap(),
                "--settlement.operator-key-file",
                gateway_key.to_str().unwrap(),
                "--settlement.proofs",
                "halo2",
                "--settlement.halo2-aggregation",
                shape,
            ],
            &dir.path().join(format!("data-{shape}")),
        );
        assert!(!out.status.success(), "{shape} must be refused");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let executor = topology.gateway_l1_executor.to_string();
    // L1 verifies flat aggregations of 4 leaves; the node would make trees of 16.
    let flat =
        gateway_contracts::deploy_halo2_aggregated_verifier(&l1_governance, 4).await.unwrap();
    devnet::change_verifier(l1, &topology.l1.governance_key, topology.gateway_l1_executor, flat)
        .await
        .unwrap();
    let err = gateway("tree");
    assert!(
        err.contains("--settlement.halo2-aggregation tree")
            && err.contains("hold 16 leaves")
            && err.contains("proofs of 4 leaves")
            && err.contains(&executor)
            && err.contains("--settlement.halo2-aggregation flat"),
        "{err}"
    );
    // And the other way round.
    let tree = gateway_contracts::deploy_halo2_tree_verifier(&l1_governance, 16).await.unwrap();
    devnet::change_verifier(l1, &topology.l1.governance_key, topology.gateway_l1_executor, tree)
        .await
        .unwrap();
    let err = gateway("flat");
    assert!(
        err.contains("--settlement.halo2-aggregation flat")
            && err.contains("hold 4 leaves")
            && err.contains("proofs of 16 leaves")
            && err.contains("--settlement.halo2-aggregation tree"),
        "{err}"
    );
}
