//! Gateway mode on a real devnet with mock proofs: two chains settle on the Gateway, the
//! Gateway's node settles Gateway batches on L1 with one aggregated proof each, and every chain
//! batch becomes L1-final; L1 refuses a Gateway batch whose aggregated inputs omit or alter a
//! chain batch.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use alloy::primitives::{B256, Bytes, U256};
use devnet::{Devnet, DevnetConfig, InitialSettlement, Topology, Traffic, signer_provider};
use e2e_tests::fixtures::{self, chain_config, gateway_config, start_host};
use exex_host::HostHandle;
use gateway_contracts::{ChainExecutor, GatewayExecutor, MessageRoot};
use gateway_primitives::{
    ChainBatchRef, CommitBatchInfo, batch_output_hash, gateway_commitment, public_input,
};
use gateway_prover::{BatchPublicInput, MockBackend, ProofBackend};
use gateway_settlement::SettlementStatus;
use jsonrpsee::{core::client::ClientT, http_client::HttpClientBuilder, rpc_params};

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| "info,settlement=debug".into());
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_test_writer().try_init();
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
    fixtures::wait_for(what, check).await.unwrap();
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

/// A Gateway batch as the contracts see it, with its mock aggregated proof over `proven`.
struct GatewayBatch {
    info: CommitBatchInfo,
    refs: Vec<ChainBatchRef>,
    proof: Bytes,
}

fn gateway_batch(
    topology: &Topology,
    number: u64,
    prev_state: B256,
    refs: Vec<ChainBatchRef>,
    proven: &[ChainBatchRef],
) -> GatewayBatch {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let info = CommitBatchInfo {
        batchNumber: number,
        newStateCommitment: B256::repeat_byte(number as u8),
        firstBlockTimestamp: now - 30 + 10 * number,
        lastBlockTimestamp: now - 25 + 10 * number,
        chainId: U256::from(topology.gateway.node.chain_id),
        daScheme: 2,
        l2LogsRoot: B256::repeat_byte(0x40 + number as u8),
        slChainId: U256::from(topology.l1.node.chain_id),
        ..Default::default()
    };
    // The proof covers the Gateway's leaf over the batch committing to `proven`.
    let commitment = gateway_commitment(batch_output_hash(&info), proven);
    let backend = MockBackend::default();
    let mut leaves = vec![
        backend
            .prove_batch(&BatchPublicInput {
                chain_id: topology.gateway.node.chain_id,
                batch_number: number,
                value: public_input(prev_state, info.newStateCommitment, commitment),
            })
            .unwrap(),
    ];
    for r in proven {
        leaves.push(
            backend
                .prove_batch(&BatchPublicInput {
                    chain_id: r.chainId.to(),
                    batch_number: r.batchNumber.to(),
                    value: r.publicInput,
                })
                .unwrap(),
        );
    }
    let proof = backend.aggregated_calldata(&backend.aggregate(&leaves).unwrap());
    GatewayBatch { info, refs, proof }
}

fn chain_ref(chain: u64, batch: u64, input: u64) -> ChainBatchRef {
    ChainBatchRef {
        chainId: U256::from(chain),
        batchNumber: U256::from(batch),
        publicInput: U256::from(input),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn l1_refuses_a_gateway_batch_whose_aggregated_inputs_omit_or_alter_a_chain_batch() {
    let devnet = Devnet::start(
        DevnetConfig { chains: vec![InitialSettlement::Gateway; 2], ..Default::default() },
        None,
    )
    .await
    .unwrap();
    let topology = devnet.topology.clone();
    let l1 = signer_provider(topology.l1.node.rpc_url.clone(), &topology.gateway.governance_key)
        .unwrap();
    let executor = GatewayExecutor::new(topology.gateway_l1_executor, &l1);
    let genesis = topology.gateway_genesis.stored_info();
    let proven = vec![chain_ref(270, 1, 11), chain_ref(270, 2, 12), chain_ref(271, 1, 21)];
    type Errors = GatewayExecutor::GatewayExecutorErrors;
    let settle = |batch: &GatewayBatch, last: &gateway_primitives::StoredBatchInfo| {
        let refs: Vec<GatewayExecutor::ChainBatchRef> =
            batch.refs.iter().map(gateway_contracts::convert).collect::<Result<_, _>>().unwrap();
        executor.settleBatch(
            gateway_contracts::convert(last).unwrap(),
            gateway_contracts::convert(&batch.info).unwrap(),
            Bytes::new(),
            refs,
            batch.proof.clone(),
        )
    };
    let refused = async |batch: &GatewayBatch| {
        let err = settle(batch, &genesis).call().await.unwrap_err();
        err.as_decoded_interface_error::<Errors>().unwrap()
    };

    // The Rust commitment is the contract's.
    let honest = gateway_batch(&topology, 1, genesis.stateCommitment, proven.clone(), &proven);
    let info = gateway_contracts::convert(&honest.info).unwrap();
    let refs: Vec<GatewayExecutor::ChainBatchRef> =
        proven.iter().map(gateway_contracts::convert).collect::<Result<_, _>>().unwrap();
    assert_eq!(
        executor.gatewayCommitment(info, refs).call().await.unwrap(),
        gateway_commitment(batch_output_hash(&honest.info), &proven)
    );

    // The Gateway commits to fewer chain batches than its proof aggregates: refused.
    let omitted =
        gateway_batch(&topology, 1, genesis.stateCommitment, proven[..2].to_vec(), &proven);
    assert!(matches!(refused(&omitted).await, Errors::InvalidProof(_)));
    // A chain batch committed with another input than the one its proof covers: refused.
    let mut altered_refs = proven.clone();
    altered_refs[2].publicInput = U256::from(99);
    let altered = gateway_batch(&topology, 1, genesis.stateCommitment, altered_refs, &proven);
    assert!(matches!(refused(&altered).await, Errors::InvalidProof(_)));
    // Another chain's proof passed off under a different chain id: refused.
    let mut renamed = proven.clone();
    renamed[2].chainId = U256::from(272);
    let renamed = gateway_batch(&topology, 1, genesis.stateCommitment, renamed, &proven);
    assert!(matches!(refused(&renamed).await, Errors::InvalidProof(_)));
    // Out of order within a chain, and the Gateway's own chain id: refused by name.
    let shuffled = vec![proven[1].clone(), proven[0].clone(), proven[2].clone()];
    let out_of_order =
        gateway_batch(&topology, 1, genesis.stateCommitment, shuffled.clone(), &shuffled);
    assert!(matches!(refused(&out_of_order).await, Errors::ChainBatchOutOfOrder(_)));
    let own = vec![chain_ref(topology.gateway.node.chain_id, 1, 5)];
    let own = gateway_batch(&topology, 1, genesis.stateCommitment, own.clone(), &own);
    assert!(matches!(refused(&own).await, Errors::InvalidChainId(_)));
    assert_eq!(executor.totalBatchesExecuted().call().await.unwrap(), U256::ZERO);

    // Roles are bits: an operator with every chain-executor role but not ROLE_SETTLE cannot
    // settle, even the right batch.
    let (other, other_address) = (&topology.chains[0].operator_key, topology.chains[0].operator);
    executor
        .setOperator(other_address, gateway_contracts::roles::ALL)
        .send()
        .await
        .unwrap()
        .get_receipt()
        .await
        .unwrap();
    let not_settler = GatewayExecutor::new(
        topology.gateway_l1_executor,
        signer_provider(topology.l1.node.rpc_url.clone(), other).unwrap(),
    );
    let err = not_settler
        .settleBatch(
            gateway_contracts::convert(&genesis).unwrap(),
            gateway_contracts::convert(&honest.info).unwrap(),
            Bytes::new(),
            proven.iter().map(gateway_contracts::convert).collect::<Result<_, _>>().unwrap(),
            honest.proof.clone(),
        )
        .call()
        .await
        .unwrap_err();
    assert!(matches!(
        err.as_decoded_interface_error::<Errors>().unwrap(),
        Errors::NotOperator(e) if e.caller == other_address && e.role == gateway_contracts::roles::SETTLE
    ));

    // Exactly the chain batches its proof covers: settled, and those batches are L1-final.
    let receipt = settle(&honest, &genesis).send().await.unwrap().get_receipt().await.unwrap();
    assert!(receipt.status());
    assert_eq!(executor.totalBatchesExecuted().call().await.unwrap(), U256::from(1));
    assert_eq!(executor.lastFinalBatch(U256::from(270)).call().await.unwrap(), U256::from(2));
    assert_eq!(executor.lastFinalBatch(U256::from(271)).call().await.unwrap(), U256::from(1));
    assert_eq!(executor.sharedRootOf(U256::from(1)).call().await.unwrap(), honest.info.l2LogsRoot);
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
    assert_eq!(finals, vec![(270, 1, 2, 1), (271, 1, 1, 1)]);

    // A chain batch already L1-final cannot be carried again.
    let mut stored = honest.info.to_stored();
    stored.commitment = gateway_commitment(batch_output_hash(&honest.info), &proven);
    let again = vec![chain_ref(271, 1, 21)];
    let replay = gateway_batch(&topology, 2, stored.stateCommitment, again.clone(), &again);
    let err = settle(&replay, &stored).call().await.unwrap_err();
    assert!(matches!(
        err.as_decoded_interface_error::<Errors>().unwrap(),
        Errors::ChainBatchOutOfOrder(_)
    ));
}
