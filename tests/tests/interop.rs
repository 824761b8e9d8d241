//! Interop on a real devnet (mock proofs): a message sent on chain A is proven on chain B
//! against a Gateway interop root B imported, before any L1 finality of its batch, and on L1
//! once L1-final; tampered proofs are refused with their errors; a chain settling on L1 proves
//! its own messages on L1; a forged imported root makes the importing chain's batch fail to
//! execute on the Gateway.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use e2e_tests::fixtures::devnet_of;
use std::time::{Duration, Instant};

use alloy::{
    primitives::{Address, B256, Bytes, U256},
    providers::DynProvider,
};
use devnet::{Devnet, DevnetConfig, InitialSettlement, Traffic, signer_provider};
use e2e_tests::fixtures::{
    Mined, chain_config, gateway_config, migration_config, send_message, start_host, wait_for,
};
use exex_host::HostHandle;
use gateway_contracts::{GatewayExecutor, InteropRoots, MessageVerifier};
use gateway_settlement::ProofJson;
use jsonrpsee::{
    core::client::ClientT,
    http_client::{HttpClient, HttpClientBuilder},
    rpc_params,
};
use serde_json::Value;

use e2e_tests::fixtures::init_tracing;

fn client(host: &HostHandle) -> HttpClient {
    HttpClientBuilder::default()
        .request_timeout(Duration::from_secs(30))
        .build(format!("http://{}", host.rpc_addr().unwrap()))
        .unwrap()
}

/// The contract's shape of the proof in an `interop_getMessageProof` answer.
fn contract_proof(proof: &Value) -> MessageVerifier::MessageProof {
    serde_json::from_value::<ProofJson>(proof.clone()).unwrap().to_contract()
}

fn message(sender: Address, data: &[u8]) -> MessageVerifier::Message {
    MessageVerifier::Message { sender, data: Bytes::copy_from_slice(data) }
}

/// Asks `client` for the L1 proof of (`tx`, `log_index`) until it has one, running `drive`
/// (blocks on the chains involved) before each try; at most [`e2e_tests::fixtures::WAIT`].
async fn l1_proof_of(
    client: &HttpClient,
    tx: B256,
    log_index: u64,
    drive: impl AsyncFn(),
) -> Value {
    let answer = async {
        loop {
            drive().await;
            let answer: Value = client
                .request("interop_getMessageProof", rpc_params![tx, log_index, "l1"])
                .await
                .unwrap();
            if !answer["proof"].is_null() {
                return answer;
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    };
    tokio::time::timeout(e2e_tests::fixtures::WAIT, answer).await.expect("an L1 proof in time")
}

fn decode_error(err: &alloy::contract::Error) -> MessageVerifier::MessageVerifierErrors {
    err.as_decoded_interface_error::<MessageVerifier::MessageVerifierErrors>()
        .unwrap_or_else(|| panic!("not a MessageVerifier error: {err}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_are_proven_across_chains_before_l1_finality_and_on_l1_after() {
    init_tracing();
    let devnet = Devnet::start(
        DevnetConfig {
            chains: vec![
                InitialSettlement::Gateway,
                InitialSettlement::Gateway,
                InitialSettlement::L1,
            ],
            ..Default::default()
        },
        None,
    )
    .await
    .unwrap();
    let topology = devnet.topology.clone();
    let (a, b, c) =
        (topology.chains[0].clone(), topology.chains[1].clone(), topology.chains[2].clone());
    let dirs: Vec<_> = (0..4).map(|_| tempfile::tempdir().unwrap()).collect();
    let mut hosts = Vec::new();
    for (chain, dir) in [&a, &b, &c].into_iter().zip(&dirs) {
        let mut config = chain_config(&topology, chain);
        config.migration = Some(migration_config(&topology, chain));
        hosts.push(start_host(config, &chain.node.rpc_url, dir.path()).await.unwrap());
    }
    let (client_a, client_c) = (client(&hosts[0].0), client(&hosts[2].0));
    let traffic: Vec<Traffic> = [&a, &b, &c]
        .iter()
        .map(|chain| Traffic::new(chain.node.rpc_url.clone(), &chain.operator_key).unwrap())
        .collect();

    // A sends a message; blocks follow so its batch seals, settles and B imports roots.
    let payload = b"from chain A to chain B".to_vec();
    let sent_at = Instant::now();
    let (tx, log_index) = send_message(&a, &a.operator_key, &payload).await.unwrap();
    let sender = a.operator;
    let b_provider: DynProvider = signer_provider(b.node.rpc_url.clone(), &b.operator_key).unwrap();
    let b_roots = InteropRoots::new(b.interop.interop_roots, &b_provider);
    let b_verifier = MessageVerifier::new(b.interop.message_verifier, &b_provider);
    let proven = tokio::time::timeout(e2e_tests::fixtures::WAIT, async {
        loop {
            traffic[0].blocks(1, 1).await.unwrap();
            traffic[1].blocks(1, 1).await.unwrap();
            if b_roots.importedCount().call().await.unwrap().is_zero() {
                continue;
            }
            let last: u64 = b_roots.lastImportedBlock().call().await.unwrap().to();
            let answer: Value = client_a
                .request("interop_getMessageProof", rpc_params![tx, log_index, "interop", last])
                .await
                .unwrap();
            if answer["proof"].is_null() {
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
            let batch = answer["batchNumber"].as_u64().unwrap();
            let proof = contract_proof(&answer["proof"]);
            b_verifier
                .proveMessageInclusion(270, batch, message(sender, &payload), proof)
                .call()
                .await
                .expect("the proof against a root B imported verifies on B");
            return answer;
        }
    })
    .await
    .expect("the message provable on chain B");
    let interop_latency = sent_at.elapsed();
    let answer = proven;
    let batch = answer["batchNumber"].as_u64().unwrap();
    assert_eq!(answer["srcChainId"], 270);
    assert_eq!(answer["proof"]["rootKind"], "gateway-block");
    // Not L1-final: the Gateway's own node has not even started.
    let l1 = signer_provider(topology.l1.node.rpc_url.clone(), &a.operator_key).unwrap();
    let gateway_executor = GatewayExecutor::new(topology.gateway_l1_executor, &l1);
    assert!(
        gateway_executor.lastFinalBatch(U256::from(270)).call().await.unwrap() < U256::from(batch)
    );
    println!(
        "interop latency (send on A -> provable on B): {} ms, before L1 finality",
        interop_latency.as_millis()
    );

    // Refusals on B, each with its error.
    let proof = contract_proof(&answer["proof"]);
    let prove = |msg: MessageVerifier::Message, proof: MessageVerifier::MessageProof| {
        let verifier = &b_verifier;
        async move { verifier.proveMessageInclusion(270, batch, msg, proof).call().await.map(drop) }
    };
    let err = decode_error(
        &prove(message(sender, b"from chain A to chain C"), proof.clone()).await.unwrap_err(),
    );
    assert!(
        matches!(err, MessageVerifier::MessageVerifierErrors::MessageNotIncluded(_)),
        "tampered: {err:?}"
    );
    let mut wrong_index = proof.clone();
    wrong_index.messageIndex ^= U256::from(1);
    let err = decode_error(&prove(message(sender, &payload), wrong_index).await.unwrap_err());
    assert!(
        matches!(
            err,
            MessageVerifier::MessageVerifierErrors::MessageNotIncluded(_)
                | MessageVerifier::MessageVerifierErrors::PathTooShort(_)
        ),
        "wrong index: {err:?}"
    );
    let mut unknown = proof.clone();
    unknown.rootId += U256::from(1_000_000);
    let err = decode_error(&prove(message(sender, &payload), unknown).await.unwrap_err());
    assert!(
        matches!(err, MessageVerifier::MessageVerifierErrors::UnknownRoot(_)),
        "unknown root: {err:?}"
    );

    // The Gateway's node settles Gateway batches on L1: the same message is proven on L1.
    let (gateway_host, _) =
        start_host(gateway_config(&topology), &topology.gateway.node.rpc_url, dirs[3].path())
            .await
            .unwrap();
    let l1_final_at = Instant::now();
    let gateway_traffic =
        Traffic::new(topology.gateway.node.rpc_url.clone(), &topology.gateway.governance_key)
            .unwrap();
    let on_l1 = l1_proof_of(&client_a, tx, log_index, async || {
        traffic[0].blocks(1, 1).await.unwrap();
        gateway_traffic.mine(1).await.unwrap();
    })
    .await;
    println!(
        "L1-final latency: {} ms after the Gateway's node started ({} ms after the send)",
        l1_final_at.elapsed().as_millis(),
        sent_at.elapsed().as_millis()
    );
    assert_eq!(on_l1["proof"]["rootKind"], "gateway-batch");
    let l1_verifier = MessageVerifier::new(topology.l1_interop.gateway_batches_verifier, &l1);
    let l1_proof = contract_proof(&on_l1["proof"]);
    let root = l1_verifier
        .proveMessageInclusion(270, batch, message(sender, &payload), l1_proof.clone())
        .call()
        .await
        .unwrap();
    assert_eq!(root.to_string(), on_l1["proof"]["root"].as_str().unwrap());
    // A root from another Gateway batch.
    wait_for("a second Gateway batch on L1", || {
        let executor = &gateway_executor;
        let gateway_traffic = &gateway_traffic;
        async move {
            gateway_traffic.mine(1).await.unwrap();
            executor.totalBatchesExecuted().call().await.unwrap() >= U256::from(2)
        }
    })
    .await
    .unwrap();
    let mut other = l1_proof.clone();
    other.rootId =
        if other.rootId > U256::from(1) { other.rootId - U256::from(1) } else { U256::from(2) };
    let err = decode_error(
        &l1_verifier
            .proveMessageInclusion(270, batch, message(sender, &payload), other)
            .call()
            .await
            .unwrap_err(),
    );
    assert!(
        matches!(err, MessageVerifier::MessageVerifierErrors::MessageNotIncluded(_)),
        "other batch's root: {err:?}"
    );

    // Chain C settles on L1 directly and proves its own messages on L1.
    let withdrawal = b"withdraw from chain C".to_vec();
    let (tx_c, log_c) = send_message(&c, &c.operator_key, &withdrawal).await.unwrap();
    let sender_c = c.operator;
    traffic[2].blocks(3, 1).await.unwrap();
    let answer_c = l1_proof_of(&client_c, tx_c, log_c, async || {
        traffic[2].blocks(1, 1).await.unwrap();
    })
    .await;
    assert_eq!(answer_c["proof"]["rootKind"], "l1-block");
    MessageVerifier::new(topology.l1_interop.l1_roots_verifier, &l1)
        .proveMessageInclusion(
            272,
            answer_c["batchNumber"].as_u64().unwrap(),
            message(sender_c, &withdrawal),
            contract_proof(&answer_c["proof"]),
        )
        .call()
        .await
        .unwrap();

    // A migrates off the Gateway: every block that imported a Gateway root settles on the
    // Gateway (only its executor can check them); A then settles on L1.
    let admin_a = e2e_tests::fixtures::admin_client(&hosts[0].0, dirs[0].path()).unwrap();
    let migrated =
        admin_a.call("settlement_migrate", serde_json::json!([{"to": "l1"}])).await.unwrap();
    let id = migrated["id"].as_u64().unwrap();
    wait_for("A settling on L1", || {
        let (client_a, traffic) = (&client_a, &traffic);
        async move {
            traffic[0].blocks(1, 1).await.unwrap();
            let status: Value = client_a.request("settlement_status", rpc_params![]).await.unwrap();
            status["migration"]["id"] == id
                && status["migration"]["phase"] == "completed"
                && status["onChain"]["executed"].as_u64().unwrap()
                    > status["migration"]["drainedThrough"].as_u64().unwrap()
        }
    })
    .await
    .unwrap();
    let store_a = &hosts[0].1;
    let mut imports_seen = 0;
    for batch in store_a.batches(1..=u64::MAX).unwrap() {
        let imported = store_a
            .blocks(batch.first_block..=batch.last_block)
            .unwrap()
            .iter()
            .map(|b| b.imported_roots.len())
            .sum::<usize>();
        imports_seen += imported;
        if imported > 0 {
            assert_eq!(batch.sl_chain_id, topology.gateway.node.chain_id, "batch {}", batch.number);
        }
    }
    assert!(imports_seen > 0, "chain A imported Gateway roots");

    // A forged root imported on B: B's batch holding it cannot execute on the Gateway.
    let importer = signer_provider(b.node.rpc_url.clone(), &b.interop.importer_key).unwrap();
    let last: u64 = b_roots.lastImportedBlock().call().await.unwrap().to();
    let forged = InteropRoots::new(b.interop.interop_roots, &importer)
        .importRoot(U256::from(last + 1_000), B256::repeat_byte(0xf0))
        .send()
        .await
        .unwrap()
        .mined()
        .await
        .unwrap();
    let forged_block = forged.block_number.unwrap();
    let client_b = client(&hosts[1].0);
    wait_for("B's execution refused for the forged root", || {
        let (client_b, traffic) = (&client_b, &traffic);
        async move {
            traffic[1].blocks(1, 1).await.unwrap();
            let status: Value = client_b.request("settlement_status", rpc_params![]).await.unwrap();
            status["lastError"].as_str().is_some_and(|e| e.contains("UnknownInteropRoot"))
        }
    })
    .await
    .unwrap();
    let store_b = &hosts[1].1;
    let holding = (1..=store_b.last_batch().unwrap().unwrap().number)
        .find(|n| {
            let batch = store_b.batch(*n).unwrap().unwrap();
            (batch.first_block..=batch.last_block).contains(&forged_block)
        })
        .unwrap();
    let status: Value = client_b.request("settlement_status", rpc_params![]).await.unwrap();
    assert!(status["onChain"]["executed"].as_u64().unwrap() < holding, "{status}");

    drop(gateway_host);
    drop(hosts);
}

/// Interop roots are imported only once `root_confirmations` Gateway blocks follow them: a
/// root the Gateway then reorgs away is never imported (the chain would halt: its next batch
/// naming the root could never execute on the Gateway), and a root imported is one the Gateway
/// still has.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_roots_with_enough_gateway_confirmations_are_imported_and_a_reorged_one_never() {
    use gateway_contracts::MessageRoot;
    init_tracing();
    let devnet = devnet_of(vec![InitialSettlement::Gateway]).await.unwrap();
    let topology = devnet.topology.clone();
    let chain = &topology.chains[0];
    let mut config = chain_config(&topology, chain);
    config.interop.as_mut().unwrap().root_confirmations = 3;
    let interop = gateway_settlement::interop::Interop::new(&config).unwrap().unwrap();
    let gateway_url = topology.gateway.node.rpc_url.clone();
    let gateway = signer_provider(gateway_url.clone(), &topology.gateway.governance_key).unwrap();
    let gateway_roots = MessageRoot::new(topology.gateway.message_root, &gateway);
    let chain_roots = InteropRoots::new(
        chain.interop.interop_roots,
        signer_provider(chain.node.rpc_url.clone(), &chain.operator_key).unwrap(),
    );
    let mine = async |url: &alloy::transports::http::reqwest::Url, blocks: u64| {
        devnet::rpc_call(url, "anvil_mine", serde_json::json!([blocks])).await.unwrap();
    };
    let head = async || {
        use alloy::providers::Provider;
        gateway.get_block_number().await.unwrap()
    };
    // Whatever the setup left: imported once it is deep enough.
    mine(&gateway_url, 3).await;
    interop.import_newest().await.unwrap();

    // A new root on the Gateway (a chain added to its shared tree), followed by one block.
    let receipt = gateway_roots
        .setExecutor(U256::from(4_242), Address::repeat_byte(0x42))
        .send()
        .await
        .unwrap()
        .get_receipt()
        .await
        .unwrap();
    let new_root_block = receipt.block_number.unwrap();
    let new_root = gateway_roots.historicalRoot(U256::from(new_root_block)).call().await.unwrap();
    assert_ne!(new_root, B256::ZERO);
    mine(&gateway_url, 1).await;
    mine(&chain.node.rpc_url, 1).await;
    assert_eq!(interop.import_newest().await.unwrap(), None, "2 blocks deep of 3: not imported");
    assert!(chain_roots.interopRoot(U256::from(new_root_block)).call().await.unwrap().is_zero());

    // The Gateway reorgs the root away; later blocks bury the reorg.
    let depth = head().await - new_root_block + 1;
    devnet::rpc_call(&gateway_url, "anvil_reorg", serde_json::json!([depth, []])).await.unwrap();
    assert!(
        gateway_roots.historicalRoot(U256::from(new_root_block)).call().await.unwrap() != new_root,
        "the reorg replaced the root"
    );
    mine(&gateway_url, 5).await;
    mine(&chain.node.rpc_url, 1).await;
    let imported = interop.import_newest().await.unwrap();
    // What the chain holds is what the Gateway holds, block by block: never the reorged root.
    let last: u64 = chain_roots.lastImportedBlock().call().await.unwrap().to();
    let on_chain = chain_roots.interopRoot(U256::from(last)).call().await.unwrap();
    let on_gateway = gateway_roots.historicalRoot(U256::from(last)).call().await.unwrap();
    assert_eq!(on_chain, on_gateway, "imported {imported:?}: the Gateway still has it");
    assert_ne!(
        chain_roots.interopRoot(U256::from(new_root_block)).call().await.unwrap(),
        new_root,
        "the reorged root was never imported"
    );
    assert!(head().await - last >= 3, "imported at least 3 blocks deep");
}
