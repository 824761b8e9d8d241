//! Benchmark (not a test): on a devnet with two chains on the Gateway and the Gateway's node
//! settling on L1 (mock proofs, the devnet's batch limits: 5 blocks or 3 s; one block of 2
//! transactions per second on each chain), for each of `--messages N` messages sent on chain A:
//! the time until it is provable on chain B (against a Gateway root B imported: interop) and
//! until it is provable on L1 (against the Gateway batch that carried it: L1-final). Prints a
//! table and writes `reports/bench-interop.json`.
//!
//! ```text
//! cargo run --release -p example-bench-interop [-- --messages 5]
//! ```

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use alloy::primitives::Bytes;
use devnet::{Devnet, DevnetConfig, InitialSettlement, Traffic, signer_provider};
use e2e_tests::fixtures::{WAIT, chain_config, gateway_config, send_message, start_host};
use eyre::{WrapErr, bail};
use gateway_contracts::{InteropRoots, MessageVerifier};
use gateway_settlement::{BatchLimits, ProofJson};
use jsonrpsee::{core::client::ClientT, http_client::HttpClientBuilder, rpc_params};
use serde_json::Value;

fn contract_proof(proof: &Value) -> eyre::Result<MessageVerifier::MessageProof> {
    Ok(serde_json::from_value::<ProofJson>(proof.clone())?.to_contract())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> eyre::Result<()> {
    let mut messages = 5usize;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--messages" => {
                let value = args.next().unwrap_or_default();
                messages = value
                    .parse()
                    .wrap_err_with(|| format!("--messages {value:?}: expected a number"))?;
            }
            other => bail!("unknown argument {other:?}; known: --messages N"),
        }
    }
    let devnet = Devnet::start(
        DevnetConfig {
            chains: vec![InitialSettlement::Gateway, InitialSettlement::Gateway],
            ..Default::default()
        },
        None,
    )
    .await?;
    let topology = devnet.topology.clone();
    let (a, b) = (topology.chains[0].clone(), topology.chains[1].clone());
    let dirs = [tempfile::tempdir()?, tempfile::tempdir()?, tempfile::tempdir()?];
    let mut hosts = Vec::new();
    for (chain, dir) in [&a, &b].into_iter().zip(&dirs) {
        let mut config = chain_config(&topology, chain);
        config.limits =
            BatchLimits { max_blocks: 5, timeout: Duration::from_secs(3), ..Default::default() };
        config.poll_interval = Duration::from_millis(500);
        hosts.push(start_host(config, &chain.node.rpc_url, dir.path()).await?);
    }
    hosts.push(
        start_host(gateway_config(&topology), &topology.gateway.node.rpc_url, dirs[2].path())
            .await?,
    );
    let client_a = HttpClientBuilder::default()
        .request_timeout(Duration::from_secs(30))
        .build(format!("http://{}", hosts[0].0.rpc_addr().ok_or_else(|| eyre::eyre!("no RPC"))?))?;

    let stop = Arc::new(AtomicBool::new(false));
    let mut traffic_tasks = Vec::new();
    for chain in [&a, &b] {
        let traffic = Traffic::new(chain.node.rpc_url.clone(), &chain.operator_key)?;
        let flag = Arc::clone(&stop);
        traffic_tasks.push(tokio::spawn(async move {
            while !flag.load(Ordering::Relaxed) {
                traffic.blocks(1, 2).await?;
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            Ok::<_, devnet::DevnetError>(())
        }));
    }
    // The sender is not the traffic account, so their nonces never collide.
    let sender_key = topology.gateway.governance_key.clone();
    let b_provider = signer_provider(b.node.rpc_url.clone(), &b.operator_key)?;
    let l1 = signer_provider(topology.l1.node.rpc_url.clone(), &sender_key)?;
    let b_roots = InteropRoots::new(b.interop.interop_roots, &b_provider);
    let b_verifier = MessageVerifier::new(b.interop.message_verifier, &b_provider);
    let l1_verifier = MessageVerifier::new(topology.l1_interop.gateway_batches_verifier, &l1);

    let mut rows = Vec::new();
    for i in 0..messages {
        let data = Bytes::from(format!("message {i} from chain A").into_bytes());
        let sent = Instant::now();
        let (tx, log_index) = send_message(&a, &sender_key, &data).await?;
        let message = MessageVerifier::Message { sender: topology.gateway.governance, data };
        let (mut on_b, mut on_l1, mut batch) = (None, None, 0);
        while on_b.is_none() || on_l1.is_none() {
            if sent.elapsed() > WAIT {
                bail!("message {i}: not provable within {WAIT:?} (B: {on_b:?}, L1: {on_l1:?})");
            }
            if on_b.is_none() && !b_roots.importedCount().call().await?.is_zero() {
                let last: u64 = b_roots.lastImportedBlock().call().await?.to();
                let answer: Value = client_a
                    .request("interop_getMessageProof", rpc_params![tx, log_index, "interop", last])
                    .await?;
                if !answer["proof"].is_null() {
                    batch = answer["batchNumber"].as_u64().unwrap_or_default();
                    b_verifier
                        .proveMessageInclusion(
                            a.node.chain_id,
                            batch,
                            message.clone(),
                            contract_proof(&answer["proof"])?,
                        )
                        .call()
                        .await?;
                    on_b = Some(sent.elapsed());
                }
            }
            if on_l1.is_none() {
                let answer: Value = client_a
                    .request("interop_getMessageProof", rpc_params![tx, log_index, "l1"])
                    .await?;
                if !answer["proof"].is_null() {
                    l1_verifier
                        .proveMessageInclusion(
                            a.node.chain_id,
                            answer["batchNumber"].as_u64().unwrap_or_default(),
                            message.clone(),
                            contract_proof(&answer["proof"])?,
                        )
                        .call()
                        .await?;
                    on_l1 = Some(sent.elapsed());
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        rows.push((i, batch, on_b.unwrap_or_default(), on_l1.unwrap_or_default()));
    }
    stop.store(true, Ordering::Relaxed);
    for task in traffic_tasks {
        task.await??;
    }
    for (mut host, _) in hosts {
        host.stop().await;
    }

    println!(
        "| message | batch on A | provable on B (interop, ms) | provable on L1 (L1-final, ms) |"
    );
    println!("|---:|---:|---:|---:|");
    for (i, batch, b, l1) in &rows {
        println!("| {i} | {batch} | {} | {} |", b.as_millis(), l1.as_millis());
    }
    let mean = |f: fn(&(usize, u64, Duration, Duration)) -> Duration| {
        rows.iter().map(f).sum::<Duration>().as_millis() as u64 / rows.len().max(1) as u64
    };
    let (interop, l1_final) = (mean(|r| r.2), mean(|r| r.3));
    println!("mean: interop {interop} ms, L1-final {l1_final} ms");
    let report = serde_json::json!({
        "setup": "2 chains on the Gateway + the Gateway's node, mock proofs, batches of 5 blocks or 3 s, 1 block/s per chain",
        "messages": rows.iter().map(|(i, batch, b, l1)| serde_json::json!({
            "message": i, "batch": batch, "interopMs": b.as_millis() as u64, "l1FinalMs": l1.as_millis() as u64,
        })).collect::<Vec<_>>(),
        "meanInteropMs": interop,
        "meanL1FinalMs": l1_final,
    });
    std::fs::create_dir_all("reports")?;
    std::fs::write("reports/bench-interop.json", serde_json::to_vec_pretty(&report)?)?;
    eprintln!("report written to reports/bench-interop.json");
    Ok(())
}
