//! L1 gas per chain batch, settled directly on L1 versus carried by a Gateway batch, for 1, 2,
//! 4, 8, 16, 32 and 64 chains carrying one batch each, and for 8, 16 and 64 chains carrying
//! several each (`chains x batches`), measured in one run on the same anvil L1. Prints a table
//! and writes `reports/bench-gateway.json`.
//!
//! - Direct: each chain commits, proves and executes its batch on its own L1 executor (three
//!   transactions, mock verifier: the protocol's own cost).
//! - Through the Gateway: one `GatewayExecutor.settleBatch` per Gateway batch carrying one batch
//!   of each of N chains, with the mock aggregated verifier (steady state: every chain already
//!   has an L1-final batch; 64 chains in the shared tree, which the batch brings in calldata
//!   and whose root L1 recomputes each time).
//! - Real proofs (`--halo2 15,4`): the same Gateway batches with a REAL aggregated proof, a
//!   two-level halo2 tree of 16 leaves (the Gateway's and up to 15 chain batches) verified on L1
//!   by the deployed `Halo2TreeVerifier` behind its adapter. Per shape, on one L1: a warm-up
//!   Gateway batch and a measured one with the mock verifier, then governance switches L1's
//!   aggregated verifier to the tree's and one Gateway batch of the same shape settles with the
//!   real proof (then back). Each real row proves its tree on this machine (four k = 21
//!   aggregations and a k = 22 top: about 38 minutes and 20 GB on 2 cores) and is written to
//!   `reports/bench-gateway-halo2.json`, with the verifier call's gas from an opcode trace of
//!   each settlement (with `GAS_PROFILE_PCS`, the generated verifier's own steps are the
//!   `.frame<N>.depth3.txt` file: `node scripts/gas-by-line.js <file> Halo2TreeVerifier`).
//!   `--halo2-only` skips the mock tables.
//! - Where the gas goes: every shape runs again on a second devnet whose L1 traces every opcode
//!   (`devnet::gas_profile`), and a second table splits each measured `settleBatch` per chain
//!   batch into calldata, storage reads and writes, hashing, events, calls, the rest, and the
//!   calldata floor's top-up (EIP-7623: a Gateway batch whose calldata is priced above its
//!   execution pays for its calldata alone, so execution savings do not show in it). With
//!   `GAS_PROFILE_PCS=<folder>` each traced transaction's steps are written there too, for
//!   `node scripts/gas-by-line.js <file> GatewayExecutor` to add up by source line.
//!
//! ```text
//! cargo run --release -p example-bench-gateway
//! cargo run --release -p example-bench-gateway -- --halo2 15,4 --halo2-only
//! ```

use std::{sync::Arc, time::Instant};

use alloy::{
    primitives::{B256, Bytes, U256, keccak256},
    providers::Provider,
};
use devnet::{
    Devnet, DevnetConfig, GasProfile, InitialSettlement, change_verifier, confirm, gas_profile,
    signer_provider,
};
use e2e_tests::gateway_l1::GatewayL1;
use gateway_contracts::{ChainExecutor, convert, deploy_halo2_tree_verifier};
use gateway_primitives::{CommitBatchInfo, StoredBatchInfo};
use gateway_prover::{Halo2Backend, Halo2Config, MockBackend, ProofBackend, peak_memory_bytes};

const CHAIN_COUNTS: [usize; 7] = [1, 2, 4, 8, 16, 32, 64];
/// Rows where each chain carries several batches per Gateway batch (a chain that seals more
/// often than the Gateway settles): (chains, batches per chain).
const RUNS: [(usize, usize); 4] = [(8, 4), (16, 4), (16, 16), (64, 4)];
/// The widest Gateway batch whose settlement is traced to say where its gas went (all of them).
const MAX_PROFILED: u64 = 256;

/// A made-up batch settled directly; its state commitment, logs root and DA commitment are
/// hashes, as many nonzero bytes as real ones (as `GatewayL1::chain_batch`'s), so both sides pay
/// a real batch's calldata.
fn batch(chain_id: u64, sl: u64, number: u64, timestamp: u64) -> CommitBatchInfo {
    let hash = |field: &str| {
        keccak256([&chain_id.to_be_bytes()[..], &number.to_be_bytes(), field.as_bytes()].concat())
    };
    CommitBatchInfo {
        batchNumber: number,
        newStateCommitment: hash("state"),
        firstBlockTimestamp: timestamp,
        lastBlockTimestamp: timestamp + 1,
        chainId: U256::from(chain_id),
        daScheme: 2,
        daCommitment: hash("da"),
        numberOfL2Txs: U256::from(100),
        l2LogsRoot: hash("logs"),
        slChainId: U256::from(sl),
        ..Default::default()
    }
}

/// One measured Gateway batch of a shape.
struct Measured {
    chains: usize,
    per_chain: usize,
    gas: u64,
    tx: B256,
}

/// Starts a devnet (L1 traced or not), registers 64 made-up chains on its Gateway and settles,
/// per shape, a warm-up Gateway batch and the measured one, each carrying `per_chain` batches
/// of each of the shape's chains. L1 checks each chain's previous batch, recomputes every
/// public input and the shared root over all 64 chains. Returns the measured batches, the
/// direct cost per chain batch and, when traced, each measured batch's gas profile.
async fn measure(
    shapes: &[(usize, usize)],
    traced: bool,
) -> eyre::Result<(u64, Vec<(Measured, Option<GasProfile>)>)> {
    let devnet = Devnet::start(
        DevnetConfig {
            chains: vec![InitialSettlement::L1],
            l1_steps_tracing: traced,
            ..Default::default()
        },
        None,
    )
    .await?;
    let topology = &devnet.topology;
    let chain = &topology.chains[0];
    let l1_chain = topology.l1.node.chain_id;
    let direct_provider = signer_provider(topology.l1.node.rpc_url.clone(), &chain.operator_key)?;
    let direct = ChainExecutor::new(chain.l1_executor, &direct_provider);
    let gateway_provider =
        signer_provider(topology.l1.node.rpc_url.clone(), &topology.gateway.governance_key)?;

    // Direct: one chain batch in three transactions, averaged over 4 batches.
    let mut last: StoredBatchInfo = chain.genesis.stored_info();
    let mut direct_total = 0;
    let direct_batches = 4u64;
    for number in 1..=direct_batches {
        let info = batch(chain.node.chain_id, l1_chain, number, 1_000 + number * 10);
        let stored = info.to_stored();
        let commit = confirm(
            "commit",
            direct
                .commitBatches(convert(&last)?, vec![convert(&info)?], vec![Bytes::new()])
                .send()
                .await?,
        )
        .await?;
        let prove = confirm(
            "prove",
            direct
                .proveBatches(convert(&last)?, vec![convert(&stored)?], Bytes::from_static(b"mock"))
                .send()
                .await?,
        )
        .await?;
        let execute = confirm(
            "execute",
            direct.executeBatches(vec![convert(&stored)?], vec![vec![]]).send().await?,
        )
        .await?;
        direct_total += commit.gas_used + prove.gas_used + execute.gas_used;
        last = stored;
    }
    let direct_per_batch = direct_total / direct_batches;

    let max_chains = CHAIN_COUNTS.iter().copied().max().unwrap_or(1) as u64;
    let ids: Vec<u64> = (0..max_chains).map(|i| 1_000 + i).collect();
    let (mut gateway, mut last_of) = GatewayL1::with_made_up_chains(topology, &ids).await?;
    let mut measured = Vec::new();
    for &(chains, per_chain) in shapes {
        let mut last_receipt = None;
        for round in 0..2u8 {
            let runs: Vec<_> = ids[..chains]
                .iter()
                .map(|id| {
                    let previous = last_of[id].clone();
                    let mut batches = Vec::with_capacity(per_chain);
                    let mut last = previous.clone();
                    for k in 0..per_chain {
                        let next = gateway.chain_batch(*id, &last, (*id as u8) ^ round ^ (k as u8));
                        last = next.to_stored();
                        batches.push(next);
                    }
                    last_of.insert(*id, last);
                    (*id, previous, batches)
                })
                .collect();
            last_receipt = Some(gateway.settle(gateway.batch(GatewayL1::carry(&[], &runs))).await?);
        }
        let receipt = last_receipt.ok_or_else(|| eyre::eyre!("no Gateway batch settled"))?;
        let profile = if traced {
            Some(
                checked_profile(&gateway_provider, receipt.transaction_hash, receipt.gas_used)
                    .await?,
            )
        } else {
            None
        };
        measured.push((
            Measured { chains, per_chain, gas: receipt.gas_used, tx: receipt.transaction_hash },
            profile,
        ));
    }
    Ok((direct_per_batch, measured))
}

/// The gas profile of settled transaction `hash`, which must add up to its receipt's `gas_used`.
async fn checked_profile<P: Provider>(
    provider: &P,
    hash: B256,
    gas_used: u64,
) -> eyre::Result<GasProfile> {
    let profile = gas_profile(provider, hash).await?;
    eyre::ensure!(
        profile.gas_used == gas_used,
        "the trace of {hash} says {} gas, its receipt {gas_used}",
        profile.gas_used
    );
    Ok(profile)
}

/// Real rows: for each count of chains (one batch each), a Gateway batch settled on L1 with a
/// real halo2 tree proof (see the module docs), beside the same shape with the mock verifier.
async fn measure_halo2(chain_counts: &[usize]) -> eyre::Result<Vec<serde_json::Value>> {
    // An L1 that traces every opcode, so that each settlement says where its gas went and what
    // the verifier call cost (a few settlements: the tracing's cost does not matter).
    let devnet = Devnet::start(
        DevnetConfig {
            chains: vec![InitialSettlement::L1],
            l1_steps_tracing: true,
            ..Default::default()
        },
        None,
    )
    .await?;
    let topology = &devnet.topology;
    let l1_url = &topology.l1.node.rpc_url;
    let operator = signer_provider(l1_url.clone(), &topology.gateway.governance_key)?;
    let l1_governance = signer_provider(l1_url.clone(), &topology.l1.governance_key)?;
    let executor = topology.gateway_l1_executor;
    let mock_verifier = ChainExecutor::new(executor, &operator).verifier().call().await?;

    let cache = Halo2Config::default_cache_dir();
    let backend = tokio::task::block_in_place(|| {
        Halo2Backend::new(Halo2Config { tree: true, ..Halo2Config::dev(cache) })
    })?;
    let started = Instant::now();
    tokio::task::block_in_place(|| backend.prepare_tree())?;
    eprintln!("tree keys ready in {:.1} s", started.elapsed().as_secs_f64());
    let leaves = backend.config().leaves_per_proof();
    let backend: Arc<dyn ProofBackend> = Arc::new(backend);
    let tree_verifier = deploy_halo2_tree_verifier(&l1_governance, leaves).await?;
    let generated = gateway_contracts::Halo2AggregatedVerifier::new(tree_verifier, &operator)
        .aggregationVerifier()
        .call()
        .await?;
    let verifier_size = operator.get_code_at(generated).await?.len();
    eprintln!("Halo2TreeVerifier deployed: {verifier_size} bytes of code (EIP-170: 24,576)");

    let max_chains = chain_counts.iter().copied().max().unwrap_or(1);
    eyre::ensure!(
        max_chains < leaves,
        "a tree of {leaves} leaves holds the Gateway's and at most {} chain batches",
        leaves - 1
    );
    let ids: Vec<u64> = (0..max_chains as u64).map(|i| 2_000 + i).collect();
    let (mut gateway, mut last_of) = GatewayL1::with_made_up_chains(topology, &ids).await?;
    let mut rows = Vec::new();
    for &chains in chain_counts {
        let mut mock_gas = 0;
        let mut mock_profile = None;
        for round in 0..3u8 {
            let real = round == 2;
            let runs: Vec<_> = ids[..chains]
                .iter()
                .map(|id| {
                    let previous = last_of[id].clone();
                    let next = gateway.chain_batch(*id, &previous, (*id as u8) ^ round);
                    last_of.insert(*id, next.to_stored());
                    (*id, previous, vec![next])
                })
                .collect();
            if real {
                change_verifier(l1_url, &topology.l1.governance_key, executor, tree_verifier)
                    .await?;
                gateway = gateway.with_backend(Arc::clone(&backend));
            }
            let carry = GatewayL1::carry(&[], &runs);
            let started = Instant::now();
            let batch = tokio::task::block_in_place(|| gateway.batch(carry));
            let prove_seconds = started.elapsed().as_secs_f64();
            let receipt = gateway.settle(batch).await?;
            let profile =
                checked_profile(&operator, receipt.transaction_hash, receipt.gas_used).await?;
            if !real {
                mock_gas = receipt.gas_used;
                mock_profile = Some(profile);
                continue;
            }
            change_verifier(l1_url, &topology.l1.governance_key, executor, mock_verifier).await?;
            gateway = gateway.with_backend(Arc::new(MockBackend::default()));
            rows.push(serde_json::json!({
                "chains": chains,
                "chain_batches": chains,
                "leaves": leaves,
                "gateway_settle_gas_real": receipt.gas_used,
                "gateway_settle_tx_real": receipt.transaction_hash,
                "gateway_settle_gas_mock": mock_gas,
                "real_minus_mock_gas": receipt.gas_used.saturating_sub(mock_gas),
                // The verifier call (the adapter, the generated verifier, its precompiles), from
                // the opcode trace; the rest of each profile is settleBatch's own work.
                "verify_call_gas_real": profile.calls,
                "verify_call_gas_mock": mock_profile.map(|p| p.calls),
                "gateway_settle_gas_profile_real": profile,
                "gateway_settle_gas_profile_mock": mock_profile,
                "gateway_gas_per_chain_batch_real": receipt.gas_used / chains as u64,
                "prove_seconds": prove_seconds,
                "peak_memory_bytes": peak_memory_bytes(),
                "tree_verifier_code_bytes": verifier_size,
            }));
            eprintln!("{}", rows.last().map(ToString::to_string).unwrap_or_default());
        }
    }
    Ok(rows)
}

/// Prints the real rows and writes their report.
fn report_halo2(rows: &[serde_json::Value], direct_per_batch: Option<u64>) -> eyre::Result<()> {
    println!(
        "\nL1 gas with the REAL aggregated proof (halo2 tree of 16 leaves, Halo2TreeVerifier):"
    );
    println!(
        "{:>7} {:>14} {:>14} {:>14} {:>14} {:>14} {:>9} {:>10}",
        "chains",
        "settle (real)",
        "settle (mock)",
        "real - mock",
        "verify call",
        "real/batch",
        "saving",
        "prove s"
    );
    for row in rows {
        let chains = row["chains"].as_u64().unwrap_or(1);
        let per_batch = row["gateway_gas_per_chain_batch_real"].as_u64().unwrap_or_default();
        let saving = direct_per_batch
            .map_or_else(|| "-".to_string(), |d| format!("{:.1}x", d as f64 / per_batch as f64));
        println!(
            "{chains:>7} {:>14} {:>14} {:>14} {:>14} {per_batch:>14} {saving:>9} {:>10.0}",
            row["gateway_settle_gas_real"],
            row["gateway_settle_gas_mock"],
            row["real_minus_mock_gas"],
            row["verify_call_gas_real"],
            row["prove_seconds"].as_f64().unwrap_or_default(),
        );
    }
    std::fs::create_dir_all("reports")?;
    let report = serde_json::json!({
        "bench": "gateway-gas-halo2",
        "verifiers": { "gateway": "Halo2AggregatedVerifier over Halo2TreeVerifier (16 leaves)" },
        "direct_gas_per_chain_batch_mock": direct_per_batch,
        "rows": rows,
    });
    std::fs::write("reports/bench-gateway-halo2.json", serde_json::to_vec_pretty(&report)?)?;
    eprintln!("report written to reports/bench-gateway-halo2.json");
    Ok(())
}

/// `--halo2 N,M` (chain counts of the real rows) and `--halo2-only`.
fn parse_args() -> eyre::Result<(Vec<usize>, bool)> {
    let mut halo2 = Vec::new();
    let mut only = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--halo2" => {
                let value = args.next().unwrap_or_default();
                halo2 = value
                    .split(',')
                    .map(|n| n.trim().parse::<usize>())
                    .collect::<Result<_, _>>()
                    .map_err(|e| {
                        eyre::eyre!("--halo2 {value:?}: expected chain counts like 15,4 ({e})")
                    })?;
                eyre::ensure!(halo2.iter().all(|n| *n > 0), "--halo2 {value:?}: counts start at 1");
            }
            "--halo2-only" => only = true,
            other => {
                eyre::bail!("unknown argument {other:?}; known: --halo2 N[,M...], --halo2-only")
            }
        }
    }
    eyre::ensure!(!only || !halo2.is_empty(), "--halo2-only needs --halo2 N[,M...]");
    Ok((halo2, only))
}

#[tokio::main]
async fn main() -> eyre::Result<()> {
    // The prover logs each level of a real tree (RUST_LOG=prover=info).
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .try_init();
    let (halo2, halo2_only) = parse_args()?;
    if halo2_only {
        let rows = measure_halo2(&halo2).await?;
        return report_halo2(&rows, None);
    }
    let shapes: Vec<_> = CHAIN_COUNTS.iter().map(|c| (*c, 1)).chain(RUNS).collect();
    let (direct_per_batch, measured) = measure(&shapes, false).await?;
    // Where the gas went: the same shapes up to MAX_PROFILED chain batches (all of them) again,
    // on an L1 that traces each opcode (slower: anvil keeps every step).
    let profiled: Vec<_> =
        shapes.iter().copied().filter(|(c, b)| (c * b) as u64 <= MAX_PROFILED).collect();
    let (_, traced) = measure(&profiled, true).await?;

    let mut rows = Vec::new();
    println!(
        "{:>8} {:>7} {:>14} {:>16} {:>16} {:>12}",
        "chains", "batches", "direct/batch", "gateway tx gas", "via GW/batch", "saving"
    );
    for (m, _) in &measured {
        let carried = (m.chains * m.per_chain) as u64;
        let per_batch = m.gas / carried;
        let saving = direct_per_batch as f64 / per_batch as f64;
        let shape = format!("{}x{}", m.chains, m.per_chain);
        println!(
            "{shape:>8} {carried:>7} {direct_per_batch:>14} {:>16} {per_batch:>16} {saving:>11.1}x",
            m.gas
        );
        let profile = traced
            .iter()
            .find(|(t, _)| (t.chains, t.per_chain) == (m.chains, m.per_chain))
            .and_then(|(t, p)| p.map(|p| (t, p)));
        rows.push(serde_json::json!({
            "chains": m.chains,
            "batches_per_chain": m.per_chain,
            "chain_batches": carried,
            "direct_gas_per_chain_batch": direct_per_batch,
            "gateway_settle_gas": m.gas,
            "gateway_settle_tx": m.tx,
            "gateway_gas_per_chain_batch": per_batch,
            "saving_factor": saving,
            // Traced on a second L1 (same contracts; the shapes up to MAX_PROFILED only, so
            // its chains have carried fewer batches before each shape than on the first).
            "gateway_settle_gas_profile": profile.map(|(t, p)| serde_json::json!({
                "gas_used": t.gas, "parts": p,
            })),
        }));
    }
    println!("\nL1 gas per chain batch of the Gateway's settleBatch, by kind (opcode trace):");
    println!(
        "{:>8} {:>8} {:>9} {:>9} {:>8} {:>9} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8}",
        "shape",
        "total",
        "base+data",
        "SLOAD",
        "(count)",
        "SSTORE-rf",
        "(count)",
        "keccak",
        "events",
        "calls",
        "other",
        "floor"
    );
    for (m, p) in &traced {
        let Some(p) = p else { continue };
        let p = p.per((m.chains * m.per_chain) as u64);
        println!(
            "{:>8} {:>8} {:>9} {:>9} {:>8} {:>9} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8}",
            format!("{}x{}", m.chains, m.per_chain),
            p.gas_used,
            p.base + p.calldata,
            p.storage_reads,
            p.sloads,
            p.storage_writes.saturating_sub(p.refund),
            p.sstores,
            p.hashing,
            p.events,
            p.calls,
            p.other,
            p.floor,
        );
    }
    std::fs::create_dir_all("reports")?;
    let report = serde_json::json!({
        "bench": "gateway-gas",
        "verifiers": { "direct": "MockVerifier", "gateway": "MockAggregatedVerifier" },
        "rows": rows,
    });
    std::fs::write("reports/bench-gateway.json", serde_json::to_vec_pretty(&report)?)?;
    eprintln!("report written to reports/bench-gateway.json");
    if !halo2.is_empty() {
        let rows = measure_halo2(&halo2).await?;
        report_halo2(&rows, Some(direct_per_batch))?;
    }
    Ok(())
}
