//! A withdrawal, end to end on a devnet (mock proofs): a user on chain 270, which settles on the
//! Gateway, sends a message to L1 through the chain's `L2Messenger`; the chain's batch executes
//! on the Gateway, the Gateway's node settles the Gateway batch carrying it on L1, and the
//! message is then proven on L1 with `interop_getMessageProof(txHash, logIndex, "l1")` and L1's
//! `MessageVerifier` (what an L1 bridge would call before releasing funds).
//!
//! ```text
//! cargo run -p example-withdrawal
//! ```

use std::time::{Duration, Instant};

use alloy::primitives::Bytes;
use devnet::{Devnet, DevnetConfig, InitialSettlement, Traffic, signer_provider};
use e2e_tests::fixtures::{WAIT, chain_config, gateway_config, send_message, start_host};
use gateway_contracts::MessageVerifier;
use gateway_settlement::ProofJson;
use jsonrpsee::{core::client::ClientT, http_client::HttpClientBuilder, rpc_params};
use serde_json::Value;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> eyre::Result<()> {
    let devnet = Devnet::start(
        DevnetConfig { chains: vec![InitialSettlement::Gateway], ..Default::default() },
        None,
    )
    .await?;
    let topology = devnet.topology.clone();
    let chain = topology.chains[0].clone();
    let dirs = [tempfile::tempdir()?, tempfile::tempdir()?];
    let (mut chain_host, _) =
        start_host(chain_config(&topology, &chain), &chain.node.rpc_url, dirs[0].path()).await?;
    let (mut gateway_host, _) =
        start_host(gateway_config(&topology), &topology.gateway.node.rpc_url, dirs[1].path())
            .await?;
    let node = HttpClientBuilder::default()
        .request_timeout(Duration::from_secs(30))
        .build(format!("http://{}", chain_host.rpc_addr().ok_or_else(|| eyre::eyre!("no RPC"))?))?;

    // The user (the devnet's account 1 on the chain) withdraws: a message to L1.
    let payload =
        Bytes::from_static(b"withdraw 1 ETH to 0x70997970C51812dc3A010C7d01b50e0d17dc79C8");
    let started = Instant::now();
    let (tx, log_index) = send_message(&chain, &topology.gateway.governance_key, &payload).await?;
    println!("1. sent on chain {}: tx {tx}, log {log_index}", chain.node.chain_id);

    // Blocks keep coming on the chain; ask the node until the message is L1-final.
    let traffic = Traffic::new(chain.node.rpc_url.clone(), &chain.operator_key)?;
    let mut last_reason = String::new();
    let answer = loop {
        if started.elapsed() > WAIT {
            eyre::bail!("not provable on L1 within {WAIT:?}: {last_reason}");
        }
        traffic.blocks(1, 1).await?;
        let answer: Value =
            node.request("interop_getMessageProof", rpc_params![tx, log_index, "l1"]).await?;
        if !answer["proof"].is_null() {
            break answer;
        }
        let reason = answer["reason"].as_str().unwrap_or_default().to_string();
        if reason != last_reason {
            println!("   waiting: {reason}");
            last_reason = reason;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let proof = &answer["proof"];
    println!(
        "2. L1-final after {} ms: batch {} of chain {}, carried by Gateway batch {} (root {})",
        started.elapsed().as_millis(),
        answer["batchNumber"],
        answer["srcChainId"],
        proof["rootId"],
        proof["root"].as_str().unwrap_or_default()
    );

    // What an L1 bridge does before paying out.
    let parsed: ProofJson = serde_json::from_value(proof.clone())?;
    let l1 = signer_provider(topology.l1.node.rpc_url.clone(), &topology.gateway.governance_key)?;
    let root = MessageVerifier::new(topology.l1_interop.gateway_batches_verifier, &l1)
        .proveMessageInclusion(
            chain.node.chain_id,
            answer["batchNumber"].as_u64().unwrap_or_default(),
            MessageVerifier::Message { sender: topology.gateway.governance, data: payload },
            parsed.to_contract(),
        )
        .call()
        .await?;
    println!("3. proven on L1 by MessageVerifier against the Gateway batch root {root}");
    chain_host.stop().await;
    gateway_host.stop().await;
    Ok(())
}
