//! Gateway mode on a real devnet with mock proofs: two chains settle on the Gateway, the
//! Gateway's node settles Gateway batches on L1 with one aggregated proof each, and every chain
//! batch becomes L1-final; L1 refuses a Gateway batch that does not continue each chain's batch
//! chain, whose shared root it does not recompute, or whose aggregated inputs omit or alter a
//! chain batch.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use alloy::primitives::{B256, Bytes, U256};
use devnet::{Devnet, DevnetConfig, InitialSettlement, Traffic, signer_provider};
use e2e_tests::fixtures::devnet_of;
use e2e_tests::fixtures::{self, chain_config, gateway_config, start_host, start_settlement};
use e2e_tests::gateway_l1::GatewayL1;
use exex_host::HostHandle;
use gateway_contracts::{ChainExecutor, GatewayExecutor, MessageRoot, convert};
use gateway_primitives::{
    CommitBatchInfo, GatewayCarry, StoredBatchInfo, batch_output_hash, gateway_commitment,
    public_input, stored_batch_hash,
};
use gateway_prover::{
    AggregatedProof, BackendKind, BatchProof, BatchPublicInput, MockBackend, ProofBackend,
    ProverResult,
};
use gateway_settlement::SettlementStatus;
use jsonrpsee::{core::client::ClientT, http_client::HttpClientBuilder, rpc_params};
use std::sync::Arc;

use e2e_tests::fixtures::init_tracing;

/// `settlement_status` of `host` as JSON.
async fn status_json(host: &HostHandle) -> serde_json::Value {
    let url = format!("http://{}", host.rpc_addr().unwrap());
    let client = HttpClientBuilder::default().build(url).unwrap();
    client.request("settlement_status", rpc_params![]).await.unwrap()
}

async fn status(host: &HostHandle) -> SettlementStatus {
    let url = format!("http://{}", host.rpc_addr().unwrap());
    let client = HttpClientBuilder::default().build(url).unwrap();
    let value: serde_json::Value =
        client.request("settlement_status", rpc_params![]).await.unwrap();
    // Only the fields the test reads; the JSON is camelCase.
    SettlementStatus {
        chain_id: value["chainId"].as_u64().unwrap(),
        last_sealed_batch: value["lastSealedBatch"].as_u64(),
        on_chain: gateway_settlement::OnChainCounters {
            committed: value["onChain"]["committed"].as_u64().unwrap(),
            proved: value["onChain"]["proved"].as_u64().unwrap(),
            executed: value["onChain"]["executed"].as_u64().unwrap(),
        },
        finality: value.get("finality").filter(|f| !f.is_null()).map(|f| {
            gateway_settlement::FinalityStatus {
                interop_final_through: f["interopFinalThrough"].as_u64().unwrap(),
                l1_final_through: f["l1FinalThrough"].as_u64().unwrap(),
                recent: f["recent"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|b| gateway_settlement::BatchFinality {
                        batch: b["batch"].as_u64().unwrap(),
                        interop_final: b["interopFinal"].as_bool().unwrap(),
                        l1_final: b["l1Final"].as_bool().unwrap(),
                        gateway_batch: b["gatewayBatch"].as_u64(),
                    })
                    .collect(),
            }
        }),
        ..Default::default()
    }
}

/// [`fixtures::wait_for`], failing the test on a timeout.
async fn wait_for<F, Fut>(what: &str, check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = std::time::Instant::now();
    fixtures::wait_for(what, check).await.unwrap();
    println!("waited {} ms for {what}", started.elapsed().as_millis());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_chains_on_the_gateway_become_l1_final_through_gateway_batches() {
    init_tracing();
    let devnet = Devnet::start(
        DevnetConfig {
            chains: vec![InitialSettlement::Gateway, InitialSettlement::Gateway],
            ..Default::default()
        },
        None,
    )
    .await
    .unwrap();
    let topology = devnet.topology.clone();
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let (gateway_host, gateway_store) =
        start_host(gateway_config(&topology), &topology.gateway.node.rpc_url, dirs[0].path())
            .await
            .unwrap();
    let mut chain_hosts = Vec::new();
    for (chain, dir) in topology.chains.iter().zip(&dirs[1..]) {
        chain_hosts.push(
            start_host(chain_config(&topology, chain), &chain.node.rpc_url, dir.path())
                .await
                .unwrap(),
        );
        let traffic = Traffic::new(chain.node.rpc_url.clone(), &chain.operator_key).unwrap();
        traffic.blocks(6, 2).await.unwrap();
    }

    // Every chain executes its batches on the Gateway and the Gateway settles them on L1.
    let l1 =
        signer_provider(topology.l1.node.rpc_url.clone(), &topology.l1.governance_key).unwrap();
    let gw = signer_provider(topology.gateway.node.rpc_url.clone(), &topology.l1.governance_key)
        .unwrap();
    let l1_executor = GatewayExecutor::new(topology.gateway_l1_executor, &l1);
    let mut executed_on_gateway = Vec::new();
    for chain in &topology.chains {
        let executor = ChainExecutor::new(chain.gateway_executor, &gw);
        wait_for("2 chain batches executed on the Gateway", || async {
            executor.totalBatchesExecuted().call().await.unwrap() >= U256::from(2)
        })
        .await;
        executed_on_gateway.push(executor.totalBatchesExecuted().call().await.unwrap());
    }
    for (chain, executed) in topology.chains.iter().zip(&executed_on_gateway) {
        let id = U256::from(chain.node.chain_id);
        wait_for("the chain's executed batches L1-final", || async {
            l1_executor.lastFinalBatch(id).call().await.unwrap() >= *executed
        })
        .await;
    }
    let settled: u64 = l1_executor.totalBatchesExecuted().call().await.unwrap().to();
    assert!(settled >= 1);

    // Quiet: no new chain blocks; wait until the Gateway has carried everything to L1.
    let gateway_roots = MessageRoot::new(topology.gateway.message_root, &gw);
    wait_for("the Gateway to carry every executed chain batch to L1", || async {
        let mut all = true;
        for chain in &topology.chains {
            let on_gateway = ChainExecutor::new(chain.gateway_executor, &gw)
                .totalBatchesExecuted()
                .call()
                .await
                .unwrap();
            let final_ =
                l1_executor.lastFinalBatch(U256::from(chain.node.chain_id)).call().await.unwrap();
            all &= on_gateway == final_;
        }
        let last = l1_executor.totalBatchesExecuted().call().await.unwrap();
        all && l1_executor.sharedRootOf(last).call().await.unwrap()
            == gateway_roots.sharedRoot().call().await.unwrap()
    })
    .await;

    // The Gateway's store agrees with L1: every settled Gateway batch carries the chain batches
    // L1 made final, each chain's exactly once and in order, and its shared root.
    let settled: u64 = l1_executor.totalBatchesExecuted().call().await.unwrap().to();
    let mut next = std::collections::BTreeMap::<u64, u64>::new();
    for number in 1..=settled {
        let contents = gateway_store.gateway_batch_contents(number).unwrap().unwrap();
        assert_eq!(
            l1_executor.sharedRootOf(U256::from(number)).call().await.unwrap(),
            contents.sharedRoot
        );
        assert!(contents.l1GasUsed > 0, "the L1 cost of Gateway batch {number} is recorded");
        for carried in &contents.chainBatches {
            let expected = next.entry(carried.chainId.to()).or_insert(1);
            assert_eq!(
                carried.batchNumber,
                U256::from(*expected),
                "no chain batch skipped or repeated"
            );
            *expected += 1;
        }
    }
    for (chain, executed) in topology.chains.iter().zip(&executed_on_gateway) {
        assert!(U256::from(next[&chain.node.chain_id] - 1) >= *executed);
    }

    // Each chain's node shows its batches interop-final and L1-final, with the Gateway batch.
    for ((host, _), chain) in chain_hosts.iter().zip(&topology.chains) {
        wait_for("the chain's status to show L1 finality", || async {
            let status = status(host).await;
            let finality = status.finality.unwrap();
            finality.l1_final_through >= 2
                && finality
                    .recent
                    .iter()
                    .any(|b| b.batch == 1 && b.l1_final && b.gateway_batch.is_some())
        })
        .await;
        let status = status(host).await;
        let finality = status.finality.unwrap();
        assert_eq!(finality.interop_final_through, status.on_chain.executed);
        assert!(finality.l1_final_through <= finality.interop_final_through);
        for batch in &finality.recent {
            assert_eq!(batch.l1_final, batch.batch <= finality.l1_final_through, "{batch:?}");
            assert!(!batch.l1_final || batch.interop_final, "L1-final implies interop-final");
            if let Some(gateway_batch) = batch.gateway_batch {
                assert!(gateway_batch >= 1 && gateway_batch <= settled);
            }
        }
        assert_eq!(status.chain_id, chain.node.chain_id);
    }

    // The Gateway node's status: chains, costs, the fixed price. A chain may still execute a
    // last batch on the Gateway (the block of its last root import, sealed by timeout) after
    // the wait above: wait until the Gateway has carried that one to L1 too.
    let url = format!("http://{}", gateway_host.rpc_addr().unwrap());
    let client = HttpClientBuilder::default().build(url).unwrap();
    let read = || async {
        client.request::<serde_json::Value, _>("settlement_status", rpc_params![]).await.unwrap()
    };
    wait_for("the Gateway's status to show every executed chain batch L1-final", || async {
        let value = read().await;
        value["gateway"]["chains"]
            .as_array()
            .is_some_and(|chains| chains.iter().all(|c| c["l1Final"] == c["executed"]))
    })
    .await;
    let value = read().await;
    let settled: u64 = l1_executor.totalBatchesExecuted().call().await.unwrap().to();
    let gateway = &value["gateway"];
    assert_eq!(gateway["batchesSettled"].as_u64().unwrap(), settled);
    let chains = gateway["chains"].as_array().unwrap();
    assert_eq!(chains.len(), 2, "{gateway}");
    for chain in chains {
        assert!(chain["batchesSettled"].as_u64().unwrap() >= 2, "{chain}");
        assert_eq!(chain["l1Final"], chain["executed"], "{chain}");
        assert_ne!(chain["charged"], "0x0", "{chain}");
        assert_ne!(chain["l1CostShareWei"], "0x0", "{chain}");
        assert_ne!(chain["directL1CostWei"], "0x0", "{chain}");
    }

    for (host, _) in chain_hosts {
        host.shutdown_token().cancel();
        tokio::time::timeout(fixtures::WAIT, host.wait_for_node_exit()).await.unwrap().unwrap();
    }
    gateway_host.shutdown_token().cancel();
    tokio::time::timeout(fixtures::WAIT, gateway_host.wait_for_node_exit()).await.unwrap().unwrap();
}

/// L1 trusts the Gateway's operator for nothing it can check: each chain's carried batches must
/// start right after the batch L1 holds as the chain's last final one (or its handover) and be
/// consecutive, their public inputs and the shared root are recomputed on L1, only chains handed
/// over to the Gateway may be carried, and the aggregated proof must cover exactly them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn l1_checks_each_chains_batch_chain_and_the_shared_root_it_recomputes() {
    let devnet = devnet_of(vec![InitialSettlement::Gateway; 2]).await.unwrap();
    let topology = devnet.topology.clone();
    let l1 = signer_provider(topology.l1.node.rpc_url.clone(), &topology.gateway.governance_key)
        .unwrap();
    let mut gateway = GatewayL1::new(&topology, l1.clone());
    type Errors = GatewayExecutor::GatewayExecutorErrors;
    let (a, b) = (270, 271);
    let genesis_of = |id: u64| topology.chain(id).unwrap().genesis.stored_info();
    let (a0, b0) = (genesis_of(a), genesis_of(b));
    let (a1, b1) = (gateway.chain_batch(a, &a0, 0x11), gateway.chain_batch(b, &b0, 0x21));
    let a2 = gateway.chain_batch(a, &a1.to_stored(), 0x12);
    let added = [a, b];
    let honest_carry = GatewayL1::carry(
        &added,
        &[(a, a0.clone(), vec![a1.clone(), a2.clone()]), (b, b0.clone(), vec![b1.clone()])],
    );
    let honest = gateway.batch(honest_carry.clone());

    // The Rust commitment is the contract's.
    assert_eq!(
        gateway
            .executor
            .gatewayCommitment(
                convert(&honest.info).unwrap(),
                honest.carry.chainBatches.iter().map(|r| convert(r).unwrap()).collect(),
            )
            .call()
            .await
            .unwrap(),
        gateway_commitment(batch_output_hash(&honest.info), &honest.carry.chainBatches)
    );

    // The refs are hashed from calldata as they are encoded: one whose narrow field (each
    // uint64 timestamp, the uint8 DA scheme) has dirty upper bits is refused by the same check
    // ABI decoding makes (`DirtyField`), not hashed as if it were clean.
    {
        use alloy::providers::Provider as _;
        type Mark = fn(&mut CommitBatchInfo, u64);
        let fields: [(&str, u64, Mark); 3] = [
            ("firstBlockTimestamp", 0x1122_3344_5566_7788, |b, m| b.firstBlockTimestamp = m),
            ("lastBlockTimestamp", 0x2233_4455_6677_8899, |b, m| b.lastBlockTimestamp = m),
            ("daScheme", 0xa7, |b, m| b.daScheme = m as u8),
        ];
        for (field, marker, mark) in fields {
            let mut marked = a1.clone();
            mark(&mut marked, marker);
            let carry = GatewayL1::carry(&added, &[(a, a0.clone(), vec![marked])]);
            let batch = gateway.batch(carry);
            let call = gateway.settle_call(&batch);
            let mut calldata = call.calldata().to_vec();
            let word = B256::from(U256::from(marker));
            let at = calldata
                .windows(32)
                .position(|w| w == word.as_slice())
                .unwrap_or_else(|| panic!("the marked {field}"));
            // Clean, the batch settles (checked by a call, not sent).
            call.call().await.unwrap();
            calldata[at] = 0x01;
            let request = alloy::rpc::types::TransactionRequest::default()
                .from(topology.gateway.governance)
                .to(*gateway.executor.address())
                .input(calldata.into());
            let err = l1.call(request).await.expect_err("a dirty field must be refused");
            let data = err.as_error_resp().and_then(|e| e.as_revert_data()).unwrap_or_default();
            assert!(
                matches!(
                    <Errors as alloy::sol_types::SolInterface>::abi_decode(&data),
                    Ok(Errors::DirtyField(_))
                ),
                "a dirty {field} refused as a dirty field, not by a check of the hash: {err}"
            );
        }
    }

    // A skipped batch: chain a's batch 2 right after its genesis.
    let skipped = gateway.batch(GatewayL1::carry(&added, &[(a, a0.clone(), vec![a2.clone()])]));
    assert!(matches!(
        gateway.refused(&skipped).await,
        Errors::ChainBatchOutOfOrder(e) if e.chainId == U256::from(a) && e.expected == U256::from(1) && e.got == U256::from(2)
    ));
    // A reordered pair.
    let mut reordered = honest_carry.clone();
    reordered.chainBatches.swap(0, 1);
    let reordered = gateway.batch(reordered);
    assert!(matches!(gateway.refused(&reordered).await, Errors::ChainBatchOutOfOrder(_)));
    // A run that claims another previous batch than the one L1 holds (for example a Gateway
    // executor the relayer activated after the wrong batch).
    let other_previous = gateway.chain_batch(a, &a0, 0x99).to_stored();
    let mut wrong_previous = honest_carry.clone();
    wrong_previous.previous[0] = StoredBatchInfo { batchNumber: 0, ..other_previous };
    let wrong_previous = gateway.batch(wrong_previous);
    assert!(matches!(
        gateway.refused(&wrong_previous).await,
        Errors::ChainPreviousBatchMismatch(e) if e.chainId == U256::from(a) && e.lastFinalBatch == U256::ZERO
    ));
    // A batch whose public input was computed from another previous state commitment.
    let mut wrong_input = honest_carry.clone();
    let b1_stored = b1.to_stored();
    wrong_input.chainBatches[2].publicInput =
        public_input(B256::repeat_byte(0x55), b1_stored.stateCommitment, b1_stored.commitment);
    let wrong_input = gateway.batch(wrong_input);
    assert!(matches!(
        gateway.refused(&wrong_input).await,
        Errors::ChainPublicInputMismatch(e) if e.chainId == U256::from(b) && e.batchNumber == U256::from(1)
    ));
    // A real, proved chain batch carried with another batch root (the root L1 would prove
    // withdrawals against): its commitment covers every field, so the input L1 derives differs
    // from the one its proof covers.
    let mut forged_root = honest_carry.clone();
    forged_root.chainBatches[2].batch.l2LogsRoot = B256::repeat_byte(0x66);
    let forged_root = gateway.batch_with(
        forged_root.clone(),
        gateway.shared_root_after(&forged_root),
        &honest_carry.chainBatches,
    );
    assert!(matches!(
        gateway.refused(&forged_root).await,
        Errors::ChainPublicInputMismatch(e) if e.chainId == U256::from(b) && e.got == honest_carry.chainBatches[2].publicInput
    ));
    // A batch committed for another chain, or for another settlement layer.
    for (chain_id, sl) in [(U256::from(a), U256::from(1)), (U256::from(99), U256::from(506))] {
        let mut misdirected = honest_carry.clone();
        misdirected.chainBatches[2].batch.chainId = chain_id;
        misdirected.chainBatches[2].batch.slChainId = sl;
        let misdirected = gateway.batch(misdirected);
        assert!(matches!(
            gateway.refused(&misdirected).await,
            Errors::CarriedBatchMisdirected(e) if e.chainId == U256::from(b)
        ));
    }
    // A made-up batch of a chain the Bridgehub never handed over to the Gateway.
    let made_up = gateway.batch(GatewayL1::carry(
        &[a, b, 4_242],
        &[(
            4_242,
            StoredBatchInfo::default(),
            vec![gateway.chain_batch(4_242, &StoredBatchInfo::default(), 0x42)],
        )],
    ));
    assert!(matches!(
        gateway.refused(&made_up).await,
        Errors::ChainNotOnGateway(e) if e.chainId == U256::from(4_242)
    ));
    // A made-up shared root (the interop root L1 would prove withdrawals against).
    let made_up_root = gateway.batch_with(
        honest_carry.clone(),
        B256::repeat_byte(0xee),
        &honest_carry.chainBatches,
    );
    assert!(matches!(
        gateway.refused(&made_up_root).await,
        Errors::SharedRootMismatch(e) if e.got == B256::repeat_byte(0xee) && e.expected == honest.info.l2LogsRoot
    ));
    // Chain batches of a chain the shared tree does not hold yet.
    let unlisted = gateway.batch(GatewayL1::carry(&[b], &[(a, a0.clone(), vec![a1.clone()])]));
    assert!(matches!(gateway.refused(&unlisted).await, Errors::ChainNotInSharedTree(_)));
    // One previous batch per run, no more.
    let mut extra_previous = honest_carry.clone();
    extra_previous.previous.push(b0.clone());
    let extra_previous = gateway.batch(extra_previous);
    assert!(matches!(
        gateway.refused(&extra_previous).await,
        Errors::PreviousBatchesLengthMismatch(_)
    ));
    // The Gateway commits to fewer chain batches than its proof aggregates: refused.
    let omitted = GatewayL1::carry(&added, &[(a, a0.clone(), vec![a1.clone(), a2.clone()])]);
    let root = gateway.shared_root_after(&omitted);
    let omitted = gateway.batch_with(omitted, root, &honest_carry.chainBatches);
    assert!(matches!(gateway.refused(&omitted).await, Errors::InvalidProof(_)));
    // The Gateway's own chain id: refused by name.
    let own = topology.gateway.node.chain_id;
    let own = gateway.batch(GatewayL1::carry(&added, &[(own, a0.clone(), vec![a1.clone()])]));
    assert!(matches!(gateway.refused(&own).await, Errors::InvalidChainId(_)));
    assert_eq!(gateway.executor.totalBatchesExecuted().call().await.unwrap(), U256::ZERO);

    // Roles are bits: an operator with every chain-executor role but not ROLE_SETTLE cannot
    // settle, even the right batch.
    let (other, other_address) = (&topology.chains[0].operator_key, topology.chains[0].operator);
    GatewayExecutor::new(topology.gateway_l1_executor, &l1)
        .setOperator(other_address, gateway_contracts::roles::ALL)
        .send()
        .await
        .unwrap()
        .get_receipt()
        .await
        .unwrap();
    let not_settler = GatewayL1::new(
        &topology,
        signer_provider(topology.l1.node.rpc_url.clone(), other).unwrap(),
    );
    assert!(matches!(
        not_settler.refused(&honest).await,
        Errors::NotOperator(e) if e.caller == other_address && e.role == gateway_contracts::roles::SETTLE
    ));

    // The honest batch: settled, its chain batches L1-final with their hashes, the shared root
    // recorded.
    let receipt = gateway.settle(honest.clone()).await.unwrap();
    let executor = &gateway.executor;
    assert_eq!(executor.totalBatchesExecuted().call().await.unwrap(), U256::from(1));
    assert_eq!(executor.lastFinalBatch(U256::from(a)).call().await.unwrap(), U256::from(2));
    assert_eq!(
        executor.lastFinalHash(U256::from(a)).call().await.unwrap(),
        stored_batch_hash(&a2.to_stored())
    );
    assert_eq!(executor.lastFinalBatch(U256::from(b)).call().await.unwrap(), U256::from(1));
    assert_eq!(executor.sharedRootOf(U256::from(1)).call().await.unwrap(), honest.info.l2LogsRoot);
    assert_eq!(executor.sharedRoot().call().await.unwrap(), honest.info.l2LogsRoot);
    // L1 keeps the last Gateway batch's stored hash only (earlier ones are in their events).
    let last_hash = stored_batch_hash(&gateway.last);
    assert_eq!(executor.lastBatchHash().call().await.unwrap(), last_hash);
    assert_eq!(executor.storedBatchHash(U256::from(1)).call().await.unwrap(), last_hash);
    let err = executor.storedBatchHash(U256::ZERO).call().await.expect_err("batch 0 is not kept");
    assert!(matches!(
        err.as_decoded_interface_error::<Errors>(),
        Some(Errors::BatchHashNotKept(e)) if e.batchNumber == U256::ZERO && e.lastSettled == U256::from(1)
    ));
    let finals: Vec<_> = receipt
        .inner
        .logs()
        .iter()
        .filter_map(|l| l.log_decode::<GatewayExecutor::ChainBatchesFinal>().ok())
        .map(|l| {
            let e = l.inner.data;
            (
                e.chainId.to::<u64>(),
                e.fromBatch.to::<u64>(),
                e.toBatch.to::<u64>(),
                e.gatewayBatch.to::<u64>(),
            )
        })
        .collect();
    assert_eq!(finals, vec![(a, 1, 2, 1), (b, 1, 1, 1)]);

    // A chain batch already L1-final cannot be carried again, neither after its own previous
    // batch nor after the last final one.
    let replay = gateway.batch(GatewayL1::carry(&[], &[(b, b0.clone(), vec![b1.clone()])]));
    assert!(matches!(gateway.refused(&replay).await, Errors::ChainPreviousBatchMismatch(_)));
    let replay = gateway.batch(GatewayL1::carry(&[], &[(b, b1.to_stored(), vec![b1.clone()])]));
    assert!(matches!(
        gateway.refused(&replay).await,
        Errors::ChainBatchOutOfOrder(e) if e.expected == U256::from(2) && e.got == U256::from(1)
    ));
    // A chain cannot be added to the shared tree twice.
    let twice = gateway.batch(GatewayL1::carry(&[a], &[]));
    assert!(matches!(gateway.refused(&twice).await, Errors::ChainAlreadyInSharedTree(_)));
    // And the next honest batch goes on from there.
    let b2 = gateway.chain_batch(b, &b1.to_stored(), 0x22);
    let next = gateway.batch(GatewayL1::carry(&[], &[(b, b1.to_stored(), vec![b2.clone()])]));
    gateway.settle(next).await.unwrap();
    assert_eq!(gateway.executor.lastFinalBatch(U256::from(b)).call().await.unwrap(), U256::from(2));

    // The Gateway's own L1 queue: two deposits to chain a, which the Gateway's node forwards
    // into the Gateway; each Gateway batch reports those it forwarded, and L1 refuses one that
    // skips, reorders or invents an operation.
    let user = signer_provider(topology.l1.node.rpc_url.clone(), &topology.chains[0].operator_key)
        .unwrap();
    let bridgehub = gateway_contracts::Bridgehub::new(topology.bridgehub, &user);
    for amount in [5u64, 6] {
        bridgehub
            .requestL2Transaction(
                U256::from(a),
                alloy::primitives::Address::repeat_byte(0x77),
                U256::from(amount),
                alloy::primitives::Bytes::new(),
                U256::from(100_000),
                alloy::primitives::Address::ZERO,
            )
            .value(U256::from(devnet::PRIORITY_OP_FEE_WEI + amount))
            .send()
            .await
            .unwrap()
            .get_receipt()
            .await
            .unwrap();
    }
    let queue = gateway.executor.clone();
    let (op0, op1) = (
        queue.priorityOpHash(U256::ZERO).call().await.unwrap(),
        queue.priorityOpHash(U256::from(1)).call().await.unwrap(),
    );
    let rolling = |ops: &[B256]| {
        ops.iter().fold(B256::ZERO, |acc, op| {
            alloy::primitives::keccak256([acc.as_slice(), op.as_slice()].concat())
        })
    };
    let empty = || GatewayL1::carry(&[], &[]);
    for (count, hash, what) in [
        (1, rolling(&[op1]), "skips the first"),
        (2, rolling(&[op1, op0]), "reorders them"),
        (1, B256::repeat_byte(0x31), "invents one"),
    ] {
        assert!(
            matches!(
                gateway.refused(&gateway.batch_consuming(empty(), count, hash)).await,
                Errors::PriorityOpsHashMismatch(_)
            ),
            "a Gateway batch that {what}"
        );
    }
    assert!(matches!(
        gateway.refused(&gateway.batch_consuming(empty(), 3, rolling(&[op0, op1]))).await,
        Errors::NotEnoughPriorityOps(e) if e.wanted == U256::from(3) && e.pending == U256::from(2)
    ));
    // In order: consumed. A chain batch that executed operations counts them as final on L1
    // (what the Bridgehub checks before the chain may leave the Gateway).
    let mut b3 = gateway.chain_batch(b, &b2.to_stored(), 0x23);
    b3.numberOfL1Txs = U256::from(2);
    let forwarded = gateway.batch_consuming(
        GatewayL1::carry(&[], &[(b, b2.to_stored(), vec![b3])]),
        2,
        rolling(&[op0, op1]),
    );
    gateway.settle(forwarded).await.unwrap();
    assert_eq!(queue.pendingPriorityOps().call().await.unwrap(), U256::ZERO);
    assert_eq!(queue.priorityOpsFinal(U256::from(b)).call().await.unwrap(), U256::from(2));
    assert_eq!(queue.priorityOpsFinal(U256::from(a)).call().await.unwrap(), U256::ZERO);

    // Only the Bridgehub hands chains over and takes them back: not the Gateway's operator.
    for err in [
        gateway.executor.handOver(U256::from(b), convert(&b0).unwrap()).call().await.unwrap_err(),
        gateway.executor.takeBack(U256::from(b)).call().await.unwrap_err(),
    ] {
        assert!(matches!(
            err.as_decoded_interface_error::<Errors>().unwrap(),
            Errors::NotBridgehub(e) if e.caller == topology.gateway.governance
        ));
    }
    // The Gateway's operator (the executor's admin) cannot change the aggregated verifier;
    // L1's governance can, through the delay.
    let other = gateway_contracts::deploy_mock_aggregated_verifier(&l1).await.unwrap();
    for err in [
        gateway.executor.queueVerifier(other).call().await.unwrap_err(),
        gateway.executor.applyVerifier().call().await.unwrap_err(),
        gateway.executor.cancelVerifierChange().call().await.unwrap_err(),
    ] {
        assert!(matches!(
            err.as_decoded_interface_error::<Errors>().unwrap(),
            Errors::NotGovernance(e) if e.caller == topology.gateway.governance
        ));
    }
    devnet::change_verifier(
        &topology.l1.node.rpc_url,
        &topology.l1.governance_key,
        topology.gateway_l1_executor,
        other,
    )
    .await
    .unwrap();
    assert_eq!(gateway.executor.verifier().call().await.unwrap(), other);
    // Nor can it change a chain's verifier on the Gateway: those answer to L1's governance too.
    let gw =
        signer_provider(topology.gateway.node.rpc_url.clone(), &topology.gateway.governance_key)
            .unwrap();
    let err = ChainExecutor::new(topology.chains[0].gateway_executor, &gw)
        .queueVerifier(other)
        .call()
        .await
        .unwrap_err();
    assert!(matches!(
        err.as_decoded_interface_error::<ChainExecutor::ChainExecutorErrors>().unwrap(),
        ChainExecutor::ChainExecutorErrors::NotGovernance(_)
    ));
}

/// Gateway mode with its proof jobs on a worker (`--prover.queue`): the chain's leaf proofs and
/// the Gateway's aggregations go through a throwaway PostgreSQL to a worker, the Gateway's node
/// verifies each result, and the chain's batches become L1-final through Gateway batches.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gateway_aggregates_through_a_worker_on_postgres_and_its_chain_becomes_l1_final() {
    init_tracing();
    let devnet = devnet_of(vec![InitialSettlement::Gateway]).await.unwrap();
    let topology = devnet.topology.clone();
    let pg = devnet::postgres::Postgres::start().unwrap();
    let queue = |url: &str| -> Arc<dyn ProofBackend> {
        let config = gateway_prover_queue::QueueConfig {
            poll_interval: std::time::Duration::from_millis(50),
            status_interval: std::time::Duration::from_millis(300),
            ..gateway_prover_queue::QueueConfig::new(url)
        };
        Arc::new(
            gateway_prover_queue::QueueBackend::new(config, Arc::new(MockBackend::default()))
                .unwrap(),
        )
    };
    let worker = gateway_prover_queue::Worker::new(
        gateway_prover_queue::Db::new(&pg.url()).unwrap(),
        Arc::new(MockBackend::default()),
        gateway_prover_queue::WorkerConfig {
            concurrency: 2,
            poll_interval: std::time::Duration::from_millis(50),
            ..gateway_prover_queue::WorkerConfig::new()
        },
    );
    let stop = tokio_util::sync::CancellationToken::new();
    tokio::spawn(Arc::new(worker).run(stop.clone()));
    let dirs: Vec<_> = (0..2).map(|_| tempfile::tempdir().unwrap()).collect();
    let gateway_backend = queue(&pg.url());
    let (mut gateway_host, _, _) = fixtures::start_settlement_proving_with(
        gateway_config(&topology),
        &topology.gateway.node.rpc_url,
        dirs[0].path(),
        Arc::clone(&gateway_backend),
    )
    .await
    .unwrap();
    let chain = &topology.chains[0];
    let (mut chain_host, _, _) = fixtures::start_settlement_proving_with(
        chain_config(&topology, chain),
        &chain.node.rpc_url,
        dirs[1].path(),
        queue(&pg.url()),
    )
    .await
    .unwrap();
    let traffic = Traffic::new(chain.node.rpc_url.clone(), &chain.operator_key).unwrap();
    let l1 =
        signer_provider(topology.l1.node.rpc_url.clone(), &topology.l1.governance_key).unwrap();
    let l1_executor = GatewayExecutor::new(topology.gateway_l1_executor, &l1);
    let id = U256::from(chain.node.chain_id);
    wait_for("2 chain batches L1-final through Gateway batches proved by the worker", || async {
        traffic.blocks(1, 1).await.unwrap();
        l1_executor.lastFinalBatch(id).call().await.unwrap() >= U256::from(2)
    })
    .await;
    wait_for("the Gateway's aggregations done by the worker", || async {
        gateway_backend.jobs_status().is_some_and(|s| {
            s.jobs.get("aggregate.done").is_some_and(|n| *n >= 1) && s.workers == 1
        })
    })
    .await;
    let jobs = gateway_backend.jobs_status().unwrap();
    assert!(jobs.failed.is_empty() && jobs.refused_proofs == 0, "{jobs:?}");
    let status = status(&gateway_host).await;
    assert!(status.on_chain.executed >= 1);
    chain_host.stop().await;
    gateway_host.stop().await;
    stop.cancel();
}

/// The Gateway places chain leaves in its aggregated proof in the order their batches
/// executed on it (`GatewayCarry.leafOrder`), while the carried batches stay grouped by chain:
/// L1 builds the verifier's inputs in that order. A proof in another order than the one carried
/// is refused, and so is an order that is not one distinct place per carried batch (a repeated
/// place would leave a slot for a padding leaf, and one past the end or a short order would
/// drop a batch from the proof). The gas of a reordered batch is printed beside the same batch
/// in carried order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn l1_takes_the_leaves_in_the_carried_leaf_order_and_refuses_an_order_that_is_no_permutation()
{
    let devnet = devnet_of(vec![InitialSettlement::L1]).await.unwrap();
    let topology = devnet.topology.clone();
    type Errors = GatewayExecutor::GatewayExecutorErrors;
    let ids: Vec<u64> = (0..4).map(|i| 6_000 + i).collect();
    let (mut gateway, mut last_of) = GatewayL1::with_made_up_chains(&topology, &ids).await.unwrap();
    let order_bytes = |order: &[u16]| -> Bytes {
        order.iter().flat_map(|p| p.to_be_bytes()).collect::<Vec<u8>>().into()
    };
    let mut gas = Vec::new();
    // Rounds 2 and 3 carry the same shape (each chain's batch tree frontier one node long).
    for (tag, order) in [(1u8, None), (2, Some([2u16, 0, 3, 1])), (3, None)] {
        let runs: Vec<_> = ids
            .iter()
            .map(|id| {
                let previous = last_of[id].clone();
                let next = gateway.chain_batch(*id, &previous, tag);
                (*id, previous, vec![next])
            })
            .collect();
        let mut carry = GatewayL1::carry(&[], &runs);
        let Some(order) = order else {
            // The same shape in carried order, for the gas beside it.
            let receipt = gateway.settle(gateway.batch(carry)).await.unwrap();
            gas.push(receipt.gas_used);
            for (id, _, batches) in &runs {
                last_of.insert(*id, batches[0].to_stored());
            }
            continue;
        };
        carry.leafOrder = order_bytes(&order);
        let honest = gateway.batch(carry.clone());

        // The proof's leaves in carried order while the carry says otherwise.
        let mut plain = gateway.batch(GatewayCarry { leafOrder: Bytes::new(), ..carry.clone() });
        plain.carry.leafOrder = order_bytes(&order);
        assert!(matches!(gateway.refused(&plain).await, Errors::InvalidProof(_)));
        // The leaves in the right order, the carry saying nothing (L1 keeps the carried order).
        let mut unsaid = honest.clone();
        unsaid.carry.leafOrder = Bytes::new();
        assert!(matches!(gateway.refused(&unsaid).await, Errors::InvalidProof(_)));
        // Two batches in one place (the slot of place 2 left empty).
        let mut repeated = honest.clone();
        repeated.carry.leafOrder = order_bytes(&[0, 0, 3, 1]);
        let refusal = gateway.refused(&repeated).await;
        assert!(
            matches!(&refusal, Errors::LeafOrderInvalid(e) if e.index == U256::from(1) && e.position == U256::ZERO),
            "{refusal:?}"
        );
        // A place past the last leaf.
        let mut past = honest.clone();
        past.carry.leafOrder = order_bytes(&[2, 0, 4, 1]);
        let refusal = gateway.refused(&past).await;
        assert!(
            matches!(&refusal, Errors::LeafOrderInvalid(e) if e.index == U256::from(2) && e.position == U256::from(4)),
            "{refusal:?}"
        );
        // Too short, and an odd byte too many.
        for bytes in [order_bytes(&[2, 0, 1]), {
            let mut b = order_bytes(&order).to_vec();
            b.push(0);
            b.into()
        }] {
            let mut short = honest.clone();
            short.carry.leafOrder = bytes.clone();
            let refusal = gateway.refused(&short).await;
            assert!(
                matches!(&refusal, Errors::LeafOrderLengthMismatch(e) if e.chainBatches == U256::from(4) && e.bytesGiven == U256::from(bytes.len())),
                "{refusal:?}"
            );
        }
        assert_eq!(gateway.executor.totalBatchesExecuted().call().await.unwrap(), U256::from(2));
        // The honest batch in its leaf order settles.
        let receipt = gateway.settle(honest).await.unwrap();
        gas.push(receipt.gas_used);
        for (id, _, batches) in &runs {
            assert_eq!(
                gateway.executor.lastFinalBatch(U256::from(*id)).call().await.unwrap(),
                U256::from(2)
            );
            last_of.insert(*id, batches[0].to_stored());
        }
    }
    println!(
        "4 chain batches: settleBatch {} gas in another leaf order, {} in carried order (the same shape)",
        gas[1], gas[2]
    );
}

/// The Gateway's proof backend in the groups test: a mock that makes trees group by group
/// (groups of 4) whose tops take a while (so that chain batches gather while one runs), and
/// that records every group and top it makes.
#[derive(Debug)]
struct RecordingTreeBackend {
    inner: MockBackend,
    groups: std::sync::Mutex<Vec<Vec<BatchPublicInput>>>,
    tops: std::sync::Mutex<Vec<Vec<BatchPublicInput>>>,
}

impl ProofBackend for RecordingTreeBackend {
    fn kind(&self) -> BackendKind {
        BackendKind::Mock
    }
    fn prove_batch(&self, input: &BatchPublicInput) -> ProverResult<BatchProof> {
        self.inner.prove_batch(input)
    }
    fn aggregate(&self, proofs: &[BatchProof]) -> ProverResult<AggregatedProof> {
        self.inner.aggregate(proofs)
    }
    fn tree_group_size(&self) -> Option<usize> {
        self.inner.tree_group_size()
    }
    fn aggregates_trees(&self) -> bool {
        self.inner.aggregates_trees()
    }
    fn aggregate_group(&self, proofs: &[BatchProof]) -> ProverResult<gateway_prover::GroupProof> {
        let group = self.inner.aggregate_group(proofs)?;
        self.groups.lock().unwrap().push(group.inputs.clone());
        Ok(group)
    }
    fn aggregate_groups(
        &self,
        groups: &[gateway_prover::GroupProof],
    ) -> ProverResult<AggregatedProof> {
        std::thread::sleep(std::time::Duration::from_secs(3));
        let top = self.inner.aggregate_groups(groups)?;
        self.tops.lock().unwrap().push(top.inputs.clone());
        Ok(top)
    }
    fn verify_group(&self, group: &gateway_prover::GroupProof) -> ProverResult<()> {
        self.inner.verify_group(group)
    }
    fn verify_batch(&self, proof: &BatchProof) -> ProverResult<()> {
        self.inner.verify_batch(proof)
    }
    fn verify_aggregated(&self, proof: &AggregatedProof) -> ProverResult<()> {
        self.inner.verify_aggregated(proof)
    }
    fn aggregated_calldata(&self, proof: &AggregatedProof) -> alloy::primitives::Bytes {
        self.inner.aggregated_calldata(proof)
    }
}

/// Two chains settle through a Gateway whose backend makes trees group by group: the chain
/// batches' leaves are in the order they executed on the Gateway (not grouped by chain), L1
/// takes that order, and while one Gateway batch's top is proved, the whole groups of the next
/// are aggregated before it is sealed, each once; its proof job takes them
/// (`settlement_status.gateway.treeGroups`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn groups_of_the_next_gateway_batch_are_aggregated_before_it_is_sealed_in_execution_order() {
    init_tracing();
    let devnet =
        devnet_of(vec![InitialSettlement::Gateway, InitialSettlement::Gateway]).await.unwrap();
    let topology = devnet.topology.clone();
    let backend = Arc::new(RecordingTreeBackend {
        inner: MockBackend::with_tree_groups(4),
        groups: Default::default(),
        tops: Default::default(),
    });
    let mut config = gateway_config(&topology);
    if let Some(mode) = config.gateway.as_mut() {
        mode.max_chain_batches = Some(15);
    }
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let (mut gateway_host, _, _) = fixtures::start_settlement_proving_with(
        config,
        &topology.gateway.node.rpc_url,
        dirs[0].path(),
        Arc::clone(&backend) as Arc<dyn ProofBackend>,
    )
    .await
    .unwrap();
    let mut hosts = Vec::new();
    let mut traffic = Vec::new();
    for (chain, dir) in topology.chains.iter().zip(&dirs[1..]) {
        hosts.push(
            start_host(chain_config(&topology, chain), &chain.node.rpc_url, dir.path())
                .await
                .unwrap()
                .0,
        );
        traffic.push(Traffic::new(chain.node.rpc_url.clone(), &chain.operator_key).unwrap());
    }
    let ids: Vec<u64> = topology.chains.iter().map(|c| c.node.chain_id).collect();
    let l1 =
        signer_provider(topology.l1.node.rpc_url.clone(), &topology.l1.governance_key).unwrap();
    let l1_executor = GatewayExecutor::new(topology.gateway_l1_executor, &l1);
    // A top whose chain leaves are not grouped by chain: they went in execution order.
    let interleaved = |top: &Vec<BatchPublicInput>| {
        let chains: Vec<u64> = top[1..].iter().map(|i| i.chain_id).collect();
        chains.windows(2).any(|w| w[0] > w[1])
    };
    wait_for("a group made ahead used, and a Gateway batch in execution order settled", || async {
        for t in &traffic {
            t.blocks(1, 1).await.unwrap();
        }
        let value = status_json(&gateway_host).await;
        let used = value["gateway"]["treeGroups"]["usedReady"].as_u64().unwrap_or(0);
        let tops = backend.tops.lock().unwrap().clone();
        let settled = l1_executor.totalBatchesExecuted().call().await.unwrap();
        used >= 1 && tops.iter().any(interleaved) && settled >= U256::from(tops.len())
    })
    .await;
    // Each group was made once (ahead or at its seal, never both).
    let groups = backend.groups.lock().unwrap().clone();
    let mut seen = std::collections::HashSet::new();
    for group in &groups {
        assert!(seen.insert(group.clone()), "group made twice: {group:?}");
    }
    let value = status_json(&gateway_host).await;
    let counts = &value["gateway"]["treeGroups"];
    assert_eq!(
        counts["madeAhead"].as_u64().unwrap() + counts["madeAtSeal"].as_u64().unwrap(),
        groups.len() as u64,
        "{counts}"
    );
    println!(
        "{} Gateway batch proofs, {} groups: {counts}",
        backend.tops.lock().unwrap().len(),
        groups.len()
    );
    // Every chain batch of a settled top is L1-final.
    for id in &ids {
        assert!(l1_executor.lastFinalBatch(U256::from(*id)).call().await.unwrap() >= U256::from(1));
    }
    for mut host in hosts {
        host.stop().await;
    }
    gateway_host.stop().await;
}

/// One Gateway batch carrying 1, 4, 16 and 64 chain batches (of as many chains, 64 in the
/// shared tree) settles on L1 with one mock aggregated proof; at each width L1 refuses the
/// batch with a chain batch omitted from what it commits to (the proof covers it), altered
/// (another batch root), renamed (carried as another chain's) or two reordered (the proof's
/// leaves in the other order). The gas of each width is printed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_batches_of_1_4_16_and_64_chain_batches_settle_and_any_tampered_leaf_is_refused() {
    let devnet = devnet_of(vec![InitialSettlement::L1]).await.unwrap();
    let topology = devnet.topology.clone();
    type Errors = GatewayExecutor::GatewayExecutorErrors;
    let ids: Vec<u64> = (0..64).map(|i| 5_000 + i).collect();
    let (mut gateway, mut last_of) = GatewayL1::with_made_up_chains(&topology, &ids).await.unwrap();
    for (settled, width) in (1u64..).zip([1usize, 4, 16, 64]) {
        let runs: Vec<_> = ids[..width]
            .iter()
            .map(|id| {
                let previous = last_of[id].clone();
                let next = gateway.chain_batch(*id, &previous, width as u8);
                (*id, previous, vec![next])
            })
            .collect();
        let honest_carry = GatewayL1::carry(&[], &runs);
        let honest = gateway.batch(honest_carry.clone());
        let proven = &honest_carry.chainBatches;
        let last = width - 1;

        // Omitted: the last chain batch is not committed to, but the proof covers it.
        let mut omitted = honest_carry.clone();
        omitted.chainBatches.pop();
        omitted.previous.pop();
        let root = gateway.shared_root_after(&omitted);
        let omitted = gateway.batch_with(omitted, root, proven);
        assert!(
            matches!(gateway.refused(&omitted).await, Errors::InvalidProof(_)),
            "width {width}: omitted"
        );
        // Altered: the last chain batch carried with another batch root.
        let mut altered = honest_carry.clone();
        altered.chainBatches[last].batch.l2LogsRoot = B256::repeat_byte(0x66);
        let root = gateway.shared_root_after(&altered);
        let altered = gateway.batch_with(altered, root, proven);
        assert!(
            matches!(
                gateway.refused(&altered).await,
                Errors::ChainPublicInputMismatch(e) if e.chainId == U256::from(ids[last])
            ),
            "width {width}: altered"
        );
        // Renamed: the last chain batch carried as a batch of a chain outside this batch.
        let stranger = ids[(last + 1) % ids.len()];
        let mut renamed = honest_carry.clone();
        renamed.chainBatches[last].chainId = U256::from(stranger);
        renamed.chainBatches[last].batch.chainId = U256::from(stranger);
        let root = gateway.shared_root_after(&renamed);
        let renamed = gateway.batch_with(renamed, root, proven);
        let refusal = gateway.refused(&renamed).await;
        assert!(
            matches!(
                &refusal,
                Errors::ChainPreviousBatchMismatch(e) if e.chainId == U256::from(stranger)
            ),
            "width {width}: renamed: {refusal:?}"
        );
        // Reordered: the proof's leaves in another order than the batch commits to.
        if width > 1 {
            let mut swapped = proven.clone();
            swapped.swap(0, last);
            let reordered =
                gateway.batch_with(honest_carry.clone(), honest.info.l2LogsRoot, &swapped);
            assert!(
                matches!(gateway.refused(&reordered).await, Errors::InvalidProof(_)),
                "width {width}: reordered"
            );
        }
        // A frontier of the first chain's batch tree that is not the tree L1 holds: a node
        // changed, or one too many (L1 keeps only the tree's root and leaf count).
        let mut wrong_frontier = honest.clone();
        let frontier = &mut wrong_frontier.carry.frontiers[0].nodes;
        let expect_mismatch = !frontier.is_empty();
        match frontier.first_mut() {
            Some(node) => *node = B256::repeat_byte(0x5f),
            None => frontier.push(B256::repeat_byte(0x5f)),
        }
        let refusal = gateway.refused(&wrong_frontier).await;
        assert!(
            if expect_mismatch {
                matches!(&refusal, Errors::ChainFrontierMismatch(e) if e.chainId == U256::from(ids[0]))
            } else {
                matches!(&refusal, Errors::FrontierLengthMismatch(_))
            },
            "width {width}: wrong frontier: {refusal:?}"
        );
        // The shared tree L1 holds comes in calldata, checked against the one hash L1 keeps:
        // another root for the last chain is refused, and so is a run pointing at another
        // chain's place in the tree.
        let mut wrong_tree = honest.clone();
        let entry = wrong_tree.carry.sharedTree.last_mut().unwrap();
        entry.root = B256::repeat_byte(0x6e);
        assert!(
            matches!(gateway.refused(&wrong_tree).await, Errors::SharedTreeMismatch(_)),
            "width {width}: wrong shared tree"
        );
        let mut misplaced = honest.clone();
        misplaced.carry.frontiers[0].treeIndex += U256::from(1);
        assert!(
            matches!(
                gateway.refused(&misplaced).await,
                Errors::ChainTreeIndexMismatch(e) if e.chainId == U256::from(ids[0])
            ),
            "width {width}: misplaced"
        );
        assert_eq!(
            gateway.executor.totalBatchesExecuted().call().await.unwrap(),
            U256::from(settled),
            "width {width}: nothing refused settled"
        );

        // The honest batch settles; every carried chain's batch is L1-final.
        let receipt = gateway.settle(honest).await.unwrap();
        println!(
            "{width} chain batches: settleBatch {} gas, {} per chain batch",
            receipt.gas_used,
            receipt.gas_used / width as u64
        );
        for (id, _, batches) in &runs {
            assert_eq!(
                gateway.executor.lastFinalBatch(U256::from(*id)).call().await.unwrap(),
                U256::from(batches[0].batchNumber),
                "width {width}: chain {id}"
            );
            last_of.insert(*id, batches[0].to_stored());
        }
    }
}

/// Chain batches one Gateway batch may carry in the held-back test.
const CAP: usize = 3;

/// The Gateway's node carrying at most [`CAP`] chain batches per Gateway batch.
fn capped_gateway_config(topology: &devnet::Topology) -> gateway_settlement::SettlementConfig {
    let mut config = gateway_config(topology);
    if let Some(mode) = config.gateway.as_mut() {
        mode.max_chain_batches = Some(CAP);
    }
    config
}

/// FAKE PROOFS, on purpose: the prover of a chain that submits junk to the Gateway (whose mock
/// verifier accepts anything); its own node checks nothing. Stands in for a chain whose proofs
/// its Gateway executor accepts but that do not verify.
#[derive(Debug, Default)]
struct FakeJunkProofBackend(MockBackend);

impl ProofBackend for FakeJunkProofBackend {
    fn kind(&self) -> BackendKind {
        BackendKind::Mock
    }
    fn prove_batch(&self, input: &BatchPublicInput) -> ProverResult<BatchProof> {
        Ok(BatchProof {
            backend: BackendKind::Mock,
            input: *input,
            bytes: alloy::primitives::Bytes::from_static(b"MOCKPRF1 junk, not a proof of anything"),
        })
    }
    fn aggregate(&self, proofs: &[BatchProof]) -> ProverResult<AggregatedProof> {
        self.0.aggregate(proofs)
    }
    fn verify_batch(&self, _: &BatchProof) -> ProverResult<()> {
        Ok(())
    }
    fn verify_aggregated(&self, proof: &AggregatedProof) -> ProverResult<()> {
        self.0.verify_aggregated(proof)
    }
    fn aggregated_calldata(&self, proof: &AggregatedProof) -> alloy::primitives::Bytes {
        self.0.aggregated_calldata(proof)
    }
}

/// One chain proving junk through a permissive verifier on the Gateway cannot stall the others:
/// the Gateway's node leaves its batches out (holding it back, shown in the status) and the
/// other two keep reaching L1 finality; governance can hold a chain back and restore it, and a
/// restored chain's batches left uncarried meanwhile reach L1 in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_chain_proving_junk_is_held_back_and_the_others_reach_l1_finality() {
    init_tracing();
    let devnet = devnet_of(vec![InitialSettlement::Gateway; 3]).await.unwrap();
    let topology = devnet.topology.clone();
    let dirs: Vec<_> = (0..4).map(|_| tempfile::tempdir().unwrap()).collect();
    let (gateway_host, _gateway_store, _) = start_settlement(
        capped_gateway_config(&topology),
        &topology.gateway.node.rpc_url,
        dirs[0].path(),
    )
    .await
    .unwrap();
    let junk_chain = topology.chains[2].node.chain_id;
    let mut hosts = Vec::new();
    let mut traffic = Vec::new();
    for (chain, dir) in topology.chains.iter().zip(&dirs[1..]) {
        let backend: std::sync::Arc<dyn ProofBackend> = if chain.node.chain_id == junk_chain {
            std::sync::Arc::new(FakeJunkProofBackend::default())
        } else {
            std::sync::Arc::new(MockBackend::default())
        };
        let (host, _, _) = fixtures::start_settlement_proving_with(
            chain_config(&topology, chain),
            &chain.node.rpc_url,
            dir.path(),
            backend,
        )
        .await
        .unwrap();
        hosts.push(host);
        traffic.push(Traffic::new(chain.node.rpc_url.clone(), &chain.operator_key).unwrap());
    }
    let l1 =
        signer_provider(topology.l1.node.rpc_url.clone(), &topology.l1.governance_key).unwrap();
    let l1_executor = GatewayExecutor::new(topology.gateway_l1_executor, &l1);
    let final_of = async |id: u64| -> u64 {
        l1_executor.lastFinalBatch(U256::from(id)).call().await.unwrap().to()
    };
    let more_blocks = async || {
        for t in &traffic {
            t.blocks(4, 1).await.unwrap();
        }
    };
    let (a, b) = (topology.chains[0].node.chain_id, topology.chains[1].node.chain_id);

    // The junk chain is held back, saying why; the two others keep reaching L1 finality.
    let held_back = async || held_back_reason(&gateway_host, junk_chain).await;
    more_blocks().await;
    wait_for("the junk chain held back", || async { held_back().await.is_some() }).await;
    let reason = held_back().await.unwrap();
    assert!(
        reason.contains("does not verify") && reason.contains(&format!("chain {junk_chain}")),
        "{reason}"
    );
    for round in 0..2 {
        let before = (final_of(a).await, final_of(b).await);
        more_blocks().await;
        wait_for("the other chains' new batches L1-final", || async {
            final_of(a).await > before.0 && final_of(b).await > before.1
        })
        .await;
        println!(
            "round {round}: chains {a} and {b} L1-final through {:?}",
            (final_of(a).await, final_of(b).await)
        );
    }
    assert_eq!(final_of(junk_chain).await, 0, "none of the junk chain's batches reached L1");

    // Governance holds chain b back: it stops reaching L1 while a goes on; restored, what it
    // executed meanwhile reaches L1 in order (L1 checks the run starts right after its last
    // final batch, and the shared root it recomputes matches).
    let admin = fixtures::admin_client(&gateway_host, dirs[0].path()).unwrap();
    admin
        .call("settlement_gatewayHoldBackChain", serde_json::json!([b, "maintenance"]))
        .await
        .unwrap();
    let gw = signer_provider(topology.gateway.node.rpc_url.clone(), &topology.l1.governance_key)
        .unwrap();
    let executed_on_gateway = async |chain: usize| -> u64 {
        ChainExecutor::new(topology.chains[chain].gateway_executor, &gw)
            .totalBatchesExecuted()
            .call()
            .await
            .unwrap()
            .to()
    };
    // Gateway batches sealed before the hold may still carry what b executed by then (up to the
    // cap each); nothing b executes after it.
    let held_at = executed_on_gateway(1).await;
    more_blocks().await;
    // (Chains seal on new blocks, and the Gateway on new Gateway blocks: traffic keeps them
    // coming while the test waits.)
    wait_for("b executing on the Gateway while held back", || async {
        traffic[0].blocks(1, 1).await.unwrap();
        traffic[1].blocks(1, 1).await.unwrap();
        executed_on_gateway(1).await > held_at
    })
    .await;
    let a_executed = executed_on_gateway(0).await;
    wait_for("chain a L1-final past b's new batches", || async {
        traffic[0].blocks(1, 1).await.unwrap();
        final_of(a).await >= a_executed
    })
    .await;
    let b_during = final_of(b).await;
    assert!(b_during <= held_at, "b reached L1 while held back: {held_at} -> {b_during}");
    admin.call("settlement_gatewayRestoreChain", serde_json::json!([b])).await.unwrap();
    let err =
        admin.call("settlement_gatewayRestoreChain", serde_json::json!([b])).await.unwrap_err();
    assert!(err.to_string().contains("not held back"), "{err}");
    // b stays idle: what it executed during the hold still reaches L1 (only a keeps the
    // Gateway's blocks coming).
    let b_on_gateway = executed_on_gateway(1).await;
    assert!(b_on_gateway > b_during, "b executed batches on the Gateway while held back");
    // The Gateway seals over new Gateway blocks: a keeps them coming (one block a check), as a
    // live Gateway's traffic does; b's backlog may need several Gateway batches under the cap.
    traffic[0].blocks(4, 1).await.unwrap();
    let a_traffic = &traffic[0];
    wait_for("b's backlog L1-final, though b is idle", || async {
        a_traffic.blocks(1, 1).await.unwrap();
        final_of(b).await >= b_on_gateway
    })
    .await;

    // No Gateway batch carried more than the cap, backlog included.
    let settled = alloy::rpc::types::Filter::new()
        .address(topology.gateway_l1_executor)
        .event_signature(
            <GatewayExecutor::GatewayBatchSettled as alloy::sol_types::SolEvent>::SIGNATURE_HASH,
        )
        .from_block(0);
    let carried: Vec<U256> = alloy::providers::Provider::get_logs(&l1, &settled)
        .await
        .unwrap()
        .iter()
        .map(|log| {
            log.log_decode::<GatewayExecutor::GatewayBatchSettled>()
                .unwrap()
                .inner
                .data
                .chainBatches
        })
        .collect();
    assert!(carried.iter().all(|n| *n <= U256::from(CAP)), "{carried:?}");

    for mut host in hosts {
        host.stop().await;
    }
    let mut gateway_host = gateway_host;
    gateway_host.stop().await;
}

/// A chain on the Gateway (its executor there, in the Gateway's shared tree) that the L1
/// Bridgehub never handed over, with batch 1 committed, proved (a proof the Gateway's node
/// verifies) and executed there; through a `Forwarder` (as a multisig would) when `forwarded`,
/// so the Gateway's node cannot read its calldata.
async fn rogue_chain_settles_a_batch(topology: &devnet::Topology, chain_id: u64, forwarded: bool) {
    use alloy::sol_types::SolCall;
    use gateway_contracts::{
        ExecutorDeployment, Forwarder, convert, deploy_chain_executor, deploy_mock_verifier,
    };
    let gw =
        signer_provider(topology.gateway.node.rpc_url.clone(), &topology.gateway.governance_key)
            .unwrap();
    let relayer = topology.gateway.governance;
    let genesis = gateway_primitives::StoredBatchInfo::default();
    let executor_address = deploy_chain_executor(
        &gw,
        &ExecutorDeployment {
            chain_id,
            controller: relayer,
            message_root: topology.gateway.message_root,
            verifier: deploy_mock_verifier(&gw).await.unwrap(),
            admin: relayer,
            governance: relayer,
            verifier_delay: devnet::VERIFIER_DELAY_BLOCKS,
            genesis: genesis.clone(),
            active: true,
        },
    )
    .await
    .unwrap();
    // Each transaction names its gas limit: chain 270's node executes on the Gateway meanwhile,
    // so an estimate made one block earlier can fall short (the node's own sender adds a margin).
    const GAS: u64 = 3_000_000;
    let mined =
        async |pending: alloy::providers::PendingTransactionBuilder<alloy::network::Ethereum>| {
            let receipt = pending.get_receipt().await.unwrap();
            assert!(receipt.status(), "reverted: {receipt:?}");
        };
    mined(
        MessageRoot::new(topology.gateway.message_root, &gw)
            .setExecutor(U256::from(chain_id), executor_address)
            .gas(GAS)
            .send()
            .await
            .unwrap(),
    )
    .await;
    let executor = ChainExecutor::new(executor_address, &gw);
    let forwarder = Forwarder::deploy(&gw).await.unwrap();
    let operator = if forwarded { *forwarder.address() } else { relayer };
    mined(
        executor
            .setOperator(operator, gateway_contracts::roles::ALL)
            .gas(GAS)
            .send()
            .await
            .unwrap(),
    )
    .await;
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let batch = gateway_primitives::CommitBatchInfo {
        batchNumber: 1,
        newStateCommitment: B256::repeat_byte(chain_id as u8),
        firstBlockTimestamp: now - 10,
        lastBlockTimestamp: now - 5,
        chainId: U256::from(chain_id),
        daScheme: 2,
        slChainId: U256::from(topology.gateway.node.chain_id),
        ..Default::default()
    };
    let stored = batch.to_stored();
    let backend = MockBackend::default();
    let proof = backend
        .prove_batch(&BatchPublicInput {
            chain_id,
            batch_number: 1,
            value: public_input(genesis.stateCommitment, stored.stateCommitment, stored.commitment),
        })
        .unwrap();
    let calls = [
        ChainExecutor::commitBatchesCall {
            lastCommitted: convert(&genesis).unwrap(),
            newBatches: vec![convert(&batch).unwrap()],
            daInputs: vec![alloy::primitives::Bytes::new()],
        }
        .abi_encode(),
        ChainExecutor::proveBatchesCall {
            prevBatch: convert(&genesis).unwrap(),
            batches: vec![convert(&stored).unwrap()],
            proof: backend.batches_calldata(&[proof]),
        }
        .abi_encode(),
        ChainExecutor::executeBatchesCall {
            batches: vec![convert(&stored).unwrap()],
            importedRoots: vec![vec![]],
        }
        .abi_encode(),
    ];
    for data in calls {
        let pending = if forwarded {
            forwarder.forward(executor_address, data.into()).gas(GAS).send().await.unwrap()
        } else {
            alloy::providers::Provider::send_transaction(
                &gw,
                alloy::rpc::types::TransactionRequest::default()
                    .to(executor_address)
                    .gas_limit(GAS)
                    .input(alloy::primitives::Bytes::from(data).into()),
            )
            .await
            .unwrap()
        };
        mined(pending).await;
    }
}

/// A chain L1 refuses by name, or whose calldata the Gateway's node cannot read, cannot stop
/// the others: chain 999 was never handed over on L1's Bridgehub, chain 998 settles through a
/// forwarding contract; the Gateway's node holds both back, saying why, and chain 270 goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chains_l1_refuses_or_the_node_cannot_read_are_held_back_and_the_other_goes_on() {
    init_tracing();
    let devnet = devnet_of(vec![InitialSettlement::Gateway]).await.unwrap();
    let topology = devnet.topology.clone();
    let gateway_dir = tempfile::tempdir().unwrap();
    let (gateway_host, _) =
        start_host(gateway_config(&topology), &topology.gateway.node.rpc_url, gateway_dir.path())
            .await
            .unwrap();
    let chain = &topology.chains[0];
    let dir = tempfile::tempdir().unwrap();
    let (mut chain_host, _) =
        start_host(chain_config(&topology, chain), &chain.node.rpc_url, dir.path()).await.unwrap();
    let traffic = Traffic::new(chain.node.rpc_url.clone(), &chain.operator_key).unwrap();
    traffic.blocks(4, 1).await.unwrap();
    let (refused, unreadable) = (999u64, 998u64);
    rogue_chain_settles_a_batch(&topology, refused, false).await;
    rogue_chain_settles_a_batch(&topology, unreadable, true).await;

    for (chain_id, why) in [(refused, "ChainNotOnGateway"), (unreadable, "could not be read")] {
        wait_for("the chain held back", || async {
            held_back_reason(&gateway_host, chain_id).await.is_some()
        })
        .await;
        let reason = held_back_reason(&gateway_host, chain_id).await.unwrap();
        assert!(reason.contains(why), "{chain_id}: {reason}");
    }
    let l1 =
        signer_provider(topology.l1.node.rpc_url.clone(), &topology.l1.governance_key).unwrap();
    let l1_executor = GatewayExecutor::new(topology.gateway_l1_executor, &l1);
    let id = U256::from(chain.node.chain_id);
    let before = l1_executor.lastFinalBatch(id).call().await.unwrap();
    traffic.blocks(4, 1).await.unwrap();
    wait_for("chain 270 going on", || async {
        l1_executor.lastFinalBatch(id).call().await.unwrap() > before
    })
    .await;
    for rogue in [refused, unreadable] {
        assert_eq!(l1_executor.lastFinalBatch(U256::from(rogue)).call().await.unwrap(), U256::ZERO);
    }
    chain_host.stop().await;
    let mut gateway_host = gateway_host;
    gateway_host.stop().await;
}

/// Why the Gateway's node at `host` holds `chain` back, if it does (its status).
async fn held_back_reason(host: &HostHandle, chain: u64) -> Option<String> {
    let raw: serde_json::Value = HttpClientBuilder::default()
        .build(format!("http://{}", host.rpc_addr().unwrap()))
        .unwrap()
        .request("settlement_status", rpc_params![])
        .await
        .unwrap();
    raw["gateway"]["chains"]
        .as_array()?
        .iter()
        .find(|c| c["chainId"] == chain)
        .and_then(|c| c["heldBack"].as_str())
        .map(str::to_string)
}
