//! Measures the halo2 backend: for flat aggregations of 1, 2 and 4 leaves and two-level trees
//! (`tree-2`: 4 leaves; `tree-4`: 16, the Gateway's tree): keygen time (leaf and aggregation,
//! fresh keys over the cached dev SRS), prove time per leaf and per aggregation, peak memory,
//! proof size, and the gas to verify the proof in its generated Solidity verifier on anvil (plus
//! the verifier's code size). A tree is also measured level by level: each first-level
//! aggregation's time, the top's, and each level's own peak memory (`levels` in the report),
//! and from those the time from the last chain batch proved to the Gateway batch's proof, with
//! the groups after the first made ahead (as the Gateway's node does) and with all made at seal.
//!
//! Each configuration runs in a child process of its own, so its peak memory is its own.
//! Prints a table and writes `reports/bench-proofs.json`. Takes about 40 minutes on 2 cores (aggregations at k = 21, a tree's top at k = 22).
//!
//! With `--queue-workers 1,2`, also real leaf proofs through the PostgreSQL prover queue with 1
//! and 2 worker processes (see `queue.rs`), written to `reports/bench-proofs-queue.json`
//! (`--configs none` skips the aggregations).
//!
//! ```text
//! cargo run --release -p example-bench-proofs [-- --configs flat-1,flat-2,flat-4,tree-2]
//! cargo run --release -p example-bench-proofs -- --configs none --queue-workers 1,2
//! ```

mod queue;

use std::{
    path::{Path, PathBuf},
    process::Command,
    sync::Arc,
    time::Instant,
};

use alloy::{
    network::TransactionBuilder,
    primitives::{Bytes, U256},
    providers::Provider,
    rpc::types::TransactionRequest,
};
use clap::Parser;
use devnet::{Anvil, AnvilConfig, signer_provider};
use gateway_prover::{
    BatchPublicInput, GroupProof, Halo2Backend, Halo2Config, ProofBackend, peak_memory_bytes,
};

/// Flags of the benchmark.
#[derive(Debug, Parser)]
struct Args {
    /// Configurations: `flat-N` (one aggregation of N leaves) or `tree-N` (N×N leaves, two levels).
    #[arg(long, value_delimiter = ',', default_value = "flat-1,flat-2,flat-4,tree-2")]
    configs: Vec<String>,
    /// Where to write the JSON report.
    #[arg(long, default_value = "reports/bench-proofs.json")]
    report: PathBuf,
    /// Internal: run one configuration and write its results into this directory.
    #[arg(long, hide = true, requires = "out")]
    one: Option<String>,
    /// Internal: the child's output directory.
    #[arg(long, hide = true)]
    out: Option<PathBuf>,
    /// Worker process counts for leaf proofs through the PostgreSQL prover queue (none: skip).
    #[arg(long, value_delimiter = ',')]
    queue_workers: Vec<usize>,
    /// Leaf proofs asked at once per worker count.
    #[arg(long, default_value_t = 8)]
    queue_leaves: usize,
    /// Internal: run a queue worker for this PostgreSQL URL.
    #[arg(long, hide = true, requires_all = ["out", "worker_id"])]
    worker: Option<String>,
    /// Internal: the worker's id.
    #[arg(long, hide = true)]
    worker_id: Option<String>,
}

/// A configuration: tree or flat, and its arity.
fn parse_config(config: &str) -> eyre::Result<(bool, usize)> {
    let (kind, arity) = config
        .split_once('-')
        .ok_or_else(|| eyre::eyre!("config {config:?}: expected flat-N or tree-N"))?;
    let arity: usize = arity.parse().map_err(|_| eyre::eyre!("config {config:?}: bad arity"))?;
    match kind {
        "flat" => Ok((false, arity)),
        "tree" => Ok((true, arity)),
        _ => eyre::bail!("config {config:?}: expected flat-N or tree-N"),
    }
}

/// Runs one configuration in this process: writes `row.json`, `Verifier.sol` and
/// `calldata.hex` into `out`.
fn run_one(config: &str, out: &Path) -> eyre::Result<()> {
    let (tree, arity) = parse_config(config)?;
    let leaves = if tree { arity * arity } else { arity };
    // Fresh keys over the shared, cached dev SRS.
    let cache = tempfile::tempdir()?;
    let shared_srs = Halo2Config::default_cache_dir().join("srs");
    std::fs::create_dir_all(&shared_srs)?;
    std::os::unix::fs::symlink(&shared_srs, cache.path().join("srs"))?;
    let mut halo2 = Halo2Config::dev(cache.path());
    halo2.arity = arity;

    let started = Instant::now();
    let backend = Arc::new(Halo2Backend::new(halo2)?);
    let leaf_keygen = started.elapsed().as_secs_f64();

    let started = Instant::now();
    let mut proofs = Vec::new();
    for i in 0..leaves as u64 {
        let input = BatchPublicInput {
            chain_id: 270 + i,
            batch_number: i + 1,
            value: U256::from(1_000 + i),
        };
        proofs.push(backend.prove_batch(&input)?);
    }
    let per_leaf = started.elapsed().as_secs_f64() / leaves as f64;

    let started = Instant::now();
    backend.prepare_aggregation()?;
    if tree {
        backend.prepare_tree()?;
    }
    let keygen = started.elapsed().as_secs_f64();

    // A tree level by level, as the prover queue spreads it over workers: each group (a
    // first-level aggregation) made and checked as it travels (`GroupProof`), then the top over
    // the groups; each timed, with the peak memory of each level on its own.
    let started = Instant::now();
    let mut levels = serde_json::Map::new();
    let mut verify_seconds = 0.0;
    let aggregated = if tree {
        let mut subtree_seconds = Vec::new();
        let mut groups = Vec::new();
        reset_peak_memory();
        for group in proofs.chunks(arity) {
            let started = Instant::now();
            let made = backend.aggregate_group(group)?;
            subtree_seconds.push(started.elapsed().as_secs_f64());
            let started = Instant::now();
            backend.verify_group(&made)?;
            verify_seconds += started.elapsed().as_secs_f64();
            // A group altered on its way (one byte of its proof) is refused.
            let mut altered = made.bytes.to_vec();
            let last = altered.len() - 1;
            altered[last] ^= 1;
            let altered = GroupProof { bytes: altered.into(), ..made.clone() };
            eyre::ensure!(backend.verify_group(&altered).is_err(), "an altered group verified");
            groups.push(made);
        }
        levels.insert("level1_subtree_seconds".into(), subtree_seconds.clone().into());
        levels.insert("level1_group_verify_seconds".into(), verify_seconds.into());
        levels.insert("level1_peak_memory_bytes".into(), peak_memory_bytes().into());
        reset_peak_memory();
        let started = Instant::now();
        let top = backend.aggregate_groups(&groups)?;
        let top_seconds = started.elapsed().as_secs_f64();
        levels.insert("level2_top_seconds".into(), top_seconds.into());
        levels.insert("level2_peak_memory_bytes".into(), peak_memory_bytes().into());
        // From the last chain batch proved to the Gateway batch's proof, from these measured
        // times: the Gateway's own leaf (one leaf's time), then with the groups after the first
        // made while the batch gathered (`gateway::groups`) only the first group and the top;
        // with every group made at seal, all of them and the top.
        let first_group = subtree_seconds.first().copied().unwrap_or_default();
        let all_groups: f64 = subtree_seconds.iter().sum();
        levels.insert(
            "after_last_leaf_seconds_groups_ahead".into(),
            (per_leaf + first_group + top_seconds).into(),
        );
        levels.insert(
            "after_last_leaf_seconds_all_at_seal".into(),
            (per_leaf + all_groups + top_seconds).into(),
        );
        top
    } else {
        backend.aggregate(&proofs)?
    };
    let prove = started.elapsed().as_secs_f64() - verify_seconds;
    backend.verify_aggregated(&aggregated)?;

    let solidity = if tree {
        backend.tree_verifier_solidity()?
    } else {
        backend.aggregation_verifier_solidity()?
    };
    std::fs::write(out.join("Verifier.sol"), solidity)?;
    // The raw verifier's calldata: accumulator limbs, every leaf's [chainId, input], the proof.
    let bytes = backend.aggregated_calldata(&aggregated);
    let mut calldata = bytes[..12 * 32].to_vec();
    for input in &aggregated.inputs {
        calldata.extend_from_slice(&U256::from(input.chain_id).to_be_bytes::<32>());
        calldata.extend_from_slice(&input.value.to_be_bytes::<32>());
    }
    calldata.extend_from_slice(&bytes[12 * 32..]);
    std::fs::write(out.join("calldata.hex"), alloy::hex::encode(&calldata))?;
    let row = serde_json::json!({
        "config": config,
        "leaves": leaves,
        "leaf_keygen_seconds": leaf_keygen,
        "prove_seconds_per_leaf": per_leaf,
        "aggregation_keygen_seconds": keygen,
        "aggregation_prove_seconds": prove,
        // A tree makes `arity` first-level aggregations and one on top.
        "aggregations": if tree { arity + 1 } else { 1 },
        "prove_seconds_per_aggregation": prove / if tree { (arity + 1) as f64 } else { 1.0 },
        "aggregation_k": backend.config().aggregation_k,
        "peak_memory_bytes": peak_memory_bytes(),
        "proof_bytes": bytes.len(),
        "levels": levels,
    });
    std::fs::write(out.join("row.json"), serde_json::to_vec_pretty(&row)?)?;
    Ok(())
}

/// Starts a new peak of resident memory (`VmHWM`) from now (Linux; elsewhere a no-op, and the
/// peak stays the whole run's).
fn reset_peak_memory() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// Deploys the verifier and measures a verification: (gas, deployed size).
async fn verify_on_anvil(out: &Path) -> eyre::Result<(u64, u64)> {
    let compiled = Command::new("node")
        .args(["scripts/compile-solidity.js"])
        .arg(out.join("Verifier.sol"))
        .arg(
            if out.join("Verifier.sol").exists()
                && std::fs::read_to_string(out.join("Verifier.sol"))?
                    .contains("contract Halo2TreeVerifier")
            {
                "Halo2TreeVerifier"
            } else {
                "Halo2AggregationVerifier"
            },
        )
        .output()?;
    eyre::ensure!(
        compiled.status.success(),
        "compiling the verifier: {}",
        String::from_utf8_lossy(&compiled.stderr)
    );
    let compiled: serde_json::Value = serde_json::from_slice(&compiled.stdout)?;
    let bytecode: Bytes = compiled["bytecode"].as_str().unwrap_or_default().parse()?;
    let size = compiled["deployedSize"].as_u64().unwrap_or_default();

    // No code-size limit, so a verifier above it is still measured (the table shows its size).
    let anvil = Anvil::spawn(AnvilConfig {
        extra_args: vec!["--disable-code-size-limit".into()],
        ..Default::default()
    })?;
    let key =
        anvil.dev_keys().first().cloned().ok_or_else(|| eyre::eyre!("anvil printed no key"))?;
    let provider = signer_provider(anvil.endpoint(), &key)?;
    let receipt = provider
        .send_transaction(TransactionRequest::default().with_deploy_code(bytecode))
        .await?
        .get_receipt()
        .await?;
    let address =
        receipt.contract_address.ok_or_else(|| eyre::eyre!("the verifier did not deploy"))?;
    let calldata: Bytes = std::fs::read_to_string(out.join("calldata.hex"))?.trim().parse()?;
    let call = TransactionRequest::default().with_to(address).with_input(calldata.clone());
    provider
        .call(call.clone())
        .await
        .map_err(|e| eyre::eyre!("the proof does not verify on anvil: {e}"))?;
    let gas = provider.estimate_gas(call).await?;
    // What the verification itself costs: the estimate less the transaction's base and calldata.
    let calldata_gas: u64 = calldata.iter().map(|b| if *b == 0 { 4 } else { 16 }).sum();
    Ok((gas.saturating_sub(21_000 + calldata_gas), size))
}

#[tokio::main]
async fn main() -> eyre::Result<()> {
    let args = Args::parse();
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .try_init();
    if let (Some(config), Some(out)) = (&args.one, &args.out) {
        return tokio::task::block_in_place(|| run_one(config, out));
    }
    if let (Some(url), Some(id), Some(out)) = (&args.worker, &args.worker_id, &args.out) {
        return queue::run_worker(url, id, out).await;
    }
    if !args.queue_workers.is_empty() {
        let rows = queue::measure(&args.queue_workers, args.queue_leaves).await?;
        queue::print(&rows);
        let path = args.report.with_file_name("bench-proofs-queue.json");
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let report = serde_json::json!({
            "bench": "proofs-queue",
            "profile": if cfg!(debug_assertions) { "debug" } else { "release" },
            "cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
            "rows": rows,
        });
        std::fs::write(&path, serde_json::to_vec_pretty(&report)?)?;
        eprintln!("report written to {}", path.display());
    }
    let configs: Vec<&String> = args.configs.iter().filter(|c| c.as_str() != "none").collect();
    if configs.is_empty() {
        return Ok(());
    }
    let exe = std::env::current_exe()?;
    let mut rows = Vec::new();
    for config in configs {
        parse_config(config)?;
        let out = tempfile::tempdir()?;
        eprintln!("{config}: running in a child process...");
        let status =
            Command::new(&exe).args(["--one", config, "--out"]).arg(out.path()).status()?;
        eyre::ensure!(status.success(), "{config}: the child failed ({status})");
        let mut row: serde_json::Value =
            serde_json::from_slice(&std::fs::read(out.path().join("row.json"))?)?;
        let (gas, size) = verify_on_anvil(out.path()).await?;
        row["verify_gas"] = gas.into();
        row["verifier_bytes"] = size.into();
        rows.push(row);
    }
    println!(
        "{:>8} {:>6} {:>10} {:>10} {:>12} {:>12} {:>12} {:>10} {:>9} {:>11} {:>10}",
        "config",
        "leaves",
        "leaf kg s",
        "leaf s",
        "agg kg s",
        "agg prove s",
        "s per agg",
        "peak GB",
        "proof B",
        "verify gas",
        "code B"
    );
    for row in &rows {
        let f = |k: &str| row[k].as_f64().unwrap_or_default();
        println!(
            "{:>8} {:>6} {:>10.2} {:>10.2} {:>12.1} {:>12.1} {:>12.1} {:>10.2} {:>9} {:>11} {:>10}",
            row["config"].as_str().unwrap_or_default(),
            row["leaves"],
            f("leaf_keygen_seconds"),
            f("prove_seconds_per_leaf"),
            f("aggregation_keygen_seconds"),
            f("aggregation_prove_seconds"),
            f("prove_seconds_per_aggregation"),
            f("peak_memory_bytes") / 1e9,
            row["proof_bytes"],
            row["verify_gas"],
            row["verifier_bytes"],
        );
    }
    for row in &rows {
        let levels = &row["levels"];
        let Some(subtrees) = levels["level1_subtree_seconds"].as_array() else { continue };
        let seconds: Vec<String> =
            subtrees.iter().map(|s| format!("{:.1}", s.as_f64().unwrap_or_default())).collect();
        let gb = |k: &str| levels[k].as_f64().unwrap_or_default() / 1e9;
        let s = |k: &str| levels[k].as_f64().unwrap_or_default();
        println!(
            "{}: level 1 (subtrees) {} s, peak {:.2} GB; level 2 (top) {:.1} s, peak {:.2} GB",
            row["config"].as_str().unwrap_or_default(),
            seconds.join(" / "),
            gb("level1_peak_memory_bytes"),
            s("level2_top_seconds"),
            gb("level2_peak_memory_bytes"),
        );
        println!(
            "{}: last chain batch proved -> Gateway batch's proof: {:.1} s with the later groups made ahead, {:.1} s with all made at seal",
            row["config"].as_str().unwrap_or_default(),
            s("after_last_leaf_seconds_groups_ahead"),
            s("after_last_leaf_seconds_all_at_seal"),
        );
    }
    if let Some(dir) = args.report.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let report = serde_json::json!({
        "bench": "proofs",
        "profile": if cfg!(debug_assertions) { "debug" } else { "release" },
        "srs": format!("insecure dev seed, k = {}", gateway_prover::DEFAULT_AGGREGATION_K),
        "rows": rows,
    });
    std::fs::write(&args.report, serde_json::to_vec_pretty(&report)?)?;
    eprintln!("report written to {}", args.report.display());
    Ok(())
}
