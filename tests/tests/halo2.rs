//! Real halo2 proofs, once per CI run (one test, so the SRS and keys are made or loaded once):
//! leaf proofs, made as jobs of the PostgreSQL prover queue by a worker, verify natively and in the generated Solidity verifier through a chain's executor
//! on anvil; ONE aggregated proof of a Gateway batch's leaf and two chain batches' leaves
//! verifies natively and on anvil and exposes the leaves' inputs in order, and L1's
//! `GatewayExecutor` settles that Gateway batch with it, making both chain batches L1-final;
//! tampered proofs, altered and omitted inputs are rejected by the contracts.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use e2e_tests::fixtures::devnet_of;
use std::{sync::Arc, time::Instant};

use alloy::{
    primitives::{B256, Bytes, U256},
    providers::Provider,
};
use devnet::{InitialSettlement, signer_provider};
use gateway_contracts::{
    ChainExecutor, GatewayExecutor, GatewayExecutorDeployment, Halo2AggregatedVerifier,
    Halo2AggregationVerifier, Halo2BatchVerifier, Halo2LeafVerifier, convert,
    deploy_gateway_executor,
};
use gateway_primitives::{
    ChainBatchRef, CommitBatchInfo, GatewayCarry, batch_leaf, batch_output_hash, chain_leaf,
    gateway_commitment, merkle_root, public_input,
};
use gateway_prover::{BatchPublicInput, DEFAULT_ARITY, Halo2Backend, Halo2Config, ProofBackend};
use gateway_prover_queue::{Db, JobKind, QueueBackend, QueueConfig, Worker, WorkerConfig};

const TX_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);
const SIZE_LIMIT: usize = 24_576;

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_halo2_proofs_verify_natively_and_in_the_generated_verifiers_on_anvil() {
    let backend = Arc::new(
        blocking(|| Halo2Backend::new(Halo2Config::dev(Halo2Config::default_cache_dir())))
            .await
            .unwrap(),
    );
    let devnet = devnet_of(vec![InitialSettlement::L1]).await.unwrap();
    let chain = devnet.topology.chains[0].clone();
    let l1 = signer_provider(devnet.topology.l1.node.rpc_url.clone(), &chain.operator_key).unwrap();

    // The generated verifiers deploy under the contract size limit.
    let leaf_verifier = Halo2LeafVerifier::deploy(&l1).await.unwrap();
    let size = l1.get_code_at(*leaf_verifier.address()).await.unwrap().len();
    println!("Halo2LeafVerifier: {size} bytes");
    assert!(size > 0 && size <= SIZE_LIMIT, "leaf verifier is {size} bytes");
    let batch_verifier =
        Halo2BatchVerifier::deploy(&l1, *leaf_verifier.address(), U256::from(chain.node.chain_id))
            .await
            .unwrap();
    // An adapter over an address without code would accept anything: it does not deploy.
    assert!(
        Halo2BatchVerifier::deploy(
            &l1,
            alloy::primitives::Address::repeat_byte(0x42),
            U256::from(1)
        )
        .await
        .is_err()
    );
    let executor = ChainExecutor::new(chain.l1_executor, l1.clone());
    devnet::change_verifier(
        &devnet.topology.l1.node.rpc_url,
        &devnet.topology.l1.governance_key,
        chain.l1_executor,
        *batch_verifier.address(),
    )
    .await
    .unwrap();

    // Two batches committed on L1; their public inputs as the executor computes them.
    let genesis = chain.genesis.stored_info();
    let batch = |n: u64| CommitBatchInfo {
        batchNumber: n,
        newStateCommitment: B256::with_last_byte(n as u8),
        firstBlockTimestamp: 1_000 + n * 10,
        lastBlockTimestamp: 1_000 + n * 10 + 5,
        chainId: U256::from(chain.node.chain_id),
        daScheme: 2,
        daCommitment: B256::repeat_byte(0xda),
        numberOfL2Txs: U256::from(n),
        slChainId: U256::from(devnet.topology.l1.node.chain_id),
        ..Default::default()
    };
    let (one, two) = (batch(1), batch(2));
    let commits: Vec<ChainExecutor::CommitBatchInfo> =
        [&one, &two].iter().map(|b| convert(*b).unwrap()).collect();
    executor
        .commitBatches(convert(&genesis).unwrap(), commits, vec![Bytes::new(), Bytes::new()])
        .send()
        .await
        .unwrap()
        .with_timeout(Some(TX_TIMEOUT))
        .get_receipt()
        .await
        .unwrap();
    let input = |prev: B256, b: &CommitBatchInfo| BatchPublicInput {
        chain_id: chain.node.chain_id,
        batch_number: b.batchNumber,
        value: public_input(prev, b.newStateCommitment, batch_output_hash(b)),
    };
    let (input_one, input_two) =
        (input(genesis.stateCommitment, &one), input(one.newStateCommitment, &two));

    // Leaf proofs as jobs of the prover queue on a throwaway PostgreSQL: a worker (in-process
    // here, on the same keys) proves them, the node's side verifies them before returning them;
    // the executor on anvil verifies them below.
    let pg = devnet::postgres::Postgres::start().unwrap();
    let local: Arc<dyn ProofBackend> = backend.clone();
    let queue = QueueBackend::new(QueueConfig::new(pg.url()), Arc::clone(&local)).unwrap();
    let worker_config = WorkerConfig { kinds: vec![JobKind::Leaf], ..WorkerConfig::new() };
    let worker = Worker::new(Db::new(&pg.url()).unwrap(), Arc::clone(&local), worker_config);
    // Never cancelled: stopping a worker cancels its backend, shared with the rest of the test.
    tokio::spawn(Arc::new(worker).run(tokio_util::sync::CancellationToken::new()));
    let started = Instant::now();
    let proofs = {
        let queue = queue.clone();
        blocking(move || [input_one, input_two].map(|i| queue.prove_batch(&i).unwrap())).await
    };
    println!("two leaf proofs through the queue in {:.1} s", started.elapsed().as_secs_f64());
    let deadline = Instant::now() + std::time::Duration::from_secs(30);
    while queue.jobs_status().unwrap().jobs.get("leaf.done") != Some(&2) {
        assert!(Instant::now() < deadline, "{:?}", queue.jobs_status());
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    for proof in &proofs {
        backend.verify_batch(proof).unwrap();
    }

    // On chain: a proof of another batch, a tampered proof and a wrong chain are refused.
    let stored_one: ChainExecutor::StoredBatchInfo = convert(&one.to_stored()).unwrap();
    let prove = |proof: Bytes| {
        executor.proveBatches(convert(&genesis).unwrap(), vec![stored_one.clone()], proof)
    };
    let invalid = |result: Result<(), alloy::contract::Error>| {
        let err = result.expect_err("the proof must be refused");
        let decoded = err
            .as_decoded_interface_error::<ChainExecutor::ChainExecutorErrors>()
            .unwrap_or_else(|| panic!("not an executor error: {err}"));
        assert!(
            matches!(decoded, ChainExecutor::ChainExecutorErrors::InvalidProof(_)),
            "{decoded:?}"
        );
    };
    invalid(prove(backend.batches_calldata(&proofs[1..])).call().await.map(drop));
    let mut tampered = proofs[0].clone();
    let mut bytes = tampered.bytes.to_vec();
    bytes[100] ^= 1;
    tampered.bytes = bytes.into();
    invalid(prove(backend.batches_calldata(&[tampered])).call().await.map(drop));
    let same_chain = Halo2BatchVerifier::new(*batch_verifier.address(), l1.clone());
    assert!(
        !Halo2BatchVerifier::deploy(&l1, *leaf_verifier.address(), U256::from(999))
            .await
            .unwrap()
            .verify(vec![input_one.value], backend.batches_calldata(&proofs[..1]))
            .call()
            .await
            .unwrap(),
        "a proof for chain 270 does not verify for chain 999"
    );
    assert!(
        same_chain
            .verify(vec![input_one.value], backend.batches_calldata(&proofs[..1]))
            .call()
            .await
            .unwrap()
    );

    // The real proof of batch 1 is accepted by the executor.
    let receipt = prove(backend.batches_calldata(&proofs[..1]))
        .send()
        .await
        .unwrap()
        .with_timeout(Some(TX_TIMEOUT))
        .get_receipt()
        .await
        .unwrap();
    assert!(receipt.status());
    assert_eq!(executor.totalBatchesVerified().call().await.unwrap(), U256::from(1));
    println!("proveBatches with one real leaf proof: {} gas", receipt.gas_used);

    // A Gateway batch carrying chain batches 1 and 2: the Gateway's own leaf over its
    // commitment. The chain batches were committed on L1's executor (their slChainId is L1's,
    // which L1 checks against the Gateway's chain id), so this test's "Gateway" is L1's chain.
    let topology = &devnet.topology;
    let gateway_id = topology.l1.node.chain_id;
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let gateway_info = CommitBatchInfo {
        batchNumber: 1,
        newStateCommitment: B256::repeat_byte(0x66),
        firstBlockTimestamp: now - 20,
        lastBlockTimestamp: now - 10,
        chainId: U256::from(gateway_id),
        daScheme: 2,
        // The shared root L1 recomputes: the chain added to the shared tree, with the roots of
        // the two batches it carries.
        l2LogsRoot: merkle_root(&[chain_leaf(
            chain.node.chain_id,
            merkle_root(&[
                batch_leaf(1, one.to_stored().l2LogsRoot),
                batch_leaf(2, two.to_stored().l2LogsRoot),
            ]),
        )]),
        slChainId: U256::from(topology.l1.node.chain_id),
        ..Default::default()
    };
    let carried: Vec<ChainBatchRef> = [(&one, input_one), (&two, input_two)]
        .iter()
        .map(|(batch, input)| ChainBatchRef {
            chainId: U256::from(chain.node.chain_id),
            batch: (*batch).clone(),
            publicInput: input.value,
        })
        .collect();
    let gateway_genesis = topology.gateway_genesis.stored_info();
    let gateway_input = BatchPublicInput {
        chain_id: gateway_id,
        batch_number: 1,
        value: public_input(
            gateway_genesis.stateCommitment,
            gateway_info.newStateCommitment,
            gateway_commitment(batch_output_hash(&gateway_info), &carried),
        ),
    };

    // ONE aggregation of the Gateway's leaf and both chain batches' (padded to the arity with a
    // [0, 0] leaf): exposes their inputs in order, verifies natively and on L1.
    let started = Instant::now();
    let aggregated = {
        let (backend, chain_leaves) = (Arc::clone(&backend), proofs.clone());
        blocking(move || {
            let gateway_leaf = backend.prove_batch(&gateway_input).unwrap();
            let [one, two] = chain_leaves;
            backend.aggregate(&[gateway_leaf, one, two]).unwrap()
        })
        .await
    };
    println!(
        "Gateway leaf + aggregation of 3 leaves (keygen included if not cached) in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    // (The leaves' inputs in order, then the [0, 0] padding: checked against the proof below,
    // natively and on L1, where a swapped order is refused.)
    let expected = [
        gateway_input,
        input_one,
        input_two,
        BatchPublicInput { chain_id: 0, batch_number: 0, value: U256::ZERO },
    ];
    assert_eq!(aggregated.inputs, expected);
    backend.verify_aggregated(&aggregated).unwrap();
    let mut swapped = aggregated.clone();
    swapped.inputs.swap(1, 2);
    assert!(backend.verify_aggregated(&swapped).is_err(), "the order of the inputs is bound");
    // The inputs as asked (a queued aggregation's, unpadded) verify: the padding is added as
    // L1's adapter adds it; dropping a real leaf instead is refused.
    let mut unpadded = aggregated.clone();
    unpadded.inputs.truncate(3);
    backend.verify_aggregated(&unpadded).unwrap();
    unpadded.inputs.truncate(2);
    assert!(backend.verify_aggregated(&unpadded).is_err(), "a real leaf is not padding");

    let raw = Halo2AggregationVerifier::deploy(&l1).await.unwrap();
    let size = l1.get_code_at(*raw.address()).await.unwrap().len();
    println!("Halo2AggregationVerifier: {size} bytes");
    assert!(size > 0 && size <= SIZE_LIMIT, "aggregation verifier is {size} bytes");
    let adapter = Halo2AggregatedVerifier::deploy(&l1, *raw.address(), U256::from(DEFAULT_ARITY))
        .await
        .unwrap();
    let pairs = |inputs: &[BatchPublicInput]| -> Vec<U256> {
        inputs.iter().flat_map(|i| [U256::from(i.chain_id), i.value]).collect()
    };
    let calldata = backend.aggregated_calldata(&aggregated);
    let call = adapter.verify(pairs(&aggregated.inputs), calldata.clone());
    assert!(call.call().await.unwrap(), "the aggregated proof verifies on L1");
    // The raw verifier reverts on a bad proof, so its estimate is the real cost (the adapter
    // turns an out-of-gas verification into `false`, which an estimate would mistake for
    // success).
    let mut raw_calldata = calldata[..12 * 32].to_vec();
    for word in pairs(&aggregated.inputs) {
        raw_calldata.extend_from_slice(&word.to_be_bytes::<32>());
    }
    raw_calldata.extend_from_slice(&calldata[12 * 32..]);
    let gas = l1
        .estimate_gas(
            alloy::rpc::types::TransactionRequest::default()
                .to(*raw.address())
                .input(Bytes::from(raw_calldata).into()),
        )
        .await
        .unwrap();
    println!("aggregated proof verify on L1: {gas} gas (incl. 21,000 base and calldata)");
    let mut altered = aggregated.inputs.clone();
    altered[1].value += U256::from(1);
    assert!(
        !adapter.verify(pairs(&altered), calldata.clone()).call().await.unwrap(),
        "an altered input is refused"
    );
    let mut swapped = expected.to_vec();
    swapped.swap(1, 2);
    assert!(
        !adapter.verify(pairs(&swapped), calldata.clone()).call().await.unwrap(),
        "the leaves' order is bound on L1: the exposed inputs are the leaves' inputs in order"
    );
    assert!(
        adapter.verify(pairs(&expected), calldata.clone()).call().await.unwrap(),
        "the leaves' inputs, in order, are what the proof exposes"
    );
    let mut omitted = aggregated.inputs.clone();
    omitted[1] = omitted[0];
    assert!(
        !adapter.verify(pairs(&omitted), calldata.clone()).call().await.unwrap(),
        "a replaced leaf is refused"
    );
    let mut bytes = calldata.to_vec();
    let last = bytes.len() - 1;
    bytes[last - 40] ^= 1;
    assert!(
        !adapter.verify(pairs(&aggregated.inputs), bytes.into()).call().await.unwrap(),
        "a tampered proof is refused"
    );

    // L1's GatewayExecutor with the real aggregated verifier settles the Gateway batch in one
    // transaction, and only with exactly the chain batches its proof covers.
    let operator = chain.operator;
    let gateway_executor = GatewayExecutor::new(
        deploy_gateway_executor(
            &l1,
            &GatewayExecutorDeployment {
                gateway_chain_id: gateway_id,
                verifier: *adapter.address(),
                admin: operator,
                bridgehub: operator,
                governance: operator,
                verifier_delay: 0,
                genesis: gateway_genesis.clone(),
            },
        )
        .await
        .unwrap(),
        l1.clone(),
    );
    // (The operator stands in for the Bridgehub: it hands the chain over after its genesis.)
    gateway_executor
        .handOver(U256::from(chain.node.chain_id), convert(&genesis).unwrap())
        .send()
        .await
        .unwrap()
        .with_timeout(Some(TX_TIMEOUT))
        .get_receipt()
        .await
        .unwrap();
    gateway_executor
        .setOperator(operator, gateway_contracts::roles::SETTLE)
        .send()
        .await
        .unwrap()
        .with_timeout(Some(TX_TIMEOUT))
        .get_receipt()
        .await
        .unwrap();
    let settle = |info: &CommitBatchInfo, refs: &[ChainBatchRef]| {
        let carry = GatewayCarry {
            chainBatches: refs.to_vec(),
            previous: vec![genesis.clone()],
            chainsAdded: vec![U256::from(chain.node.chain_id)],
            // Nothing in the shared tree before; the chain, added in this batch, has an empty
            // batch tree.
            sharedTree: Vec::new(),
            frontiers: vec![gateway_primitives::ChainFrontier::default()],
            // One chain batch: in its carried place.
            leafOrder: Bytes::new(),
        };
        gateway_executor.settleBatch(
            convert(&gateway_genesis).unwrap(),
            convert(info).unwrap(),
            Bytes::new(),
            convert(&carry).unwrap(),
            calldata.clone(),
        )
    };
    let refused = async |info: &CommitBatchInfo, refs: &[ChainBatchRef]| {
        let err = settle(info, refs).call().await.unwrap_err();
        err.as_decoded_interface_error::<GatewayExecutor::GatewayExecutorErrors>()
            .unwrap_or_else(|| panic!("not a GatewayExecutor error: {err}"))
    };
    use GatewayExecutor::GatewayExecutorErrors as Errors;
    // An altered input is refused by L1's own recomputation, an omitted chain batch by the
    // shared root, and a Gateway batch the real proof does not cover by the real verifier.
    let mut altered = carried.clone();
    altered[1].publicInput += U256::from(1);
    assert!(matches!(refused(&gateway_info, &altered).await, Errors::ChainPublicInputMismatch(_)));
    assert!(matches!(refused(&gateway_info, &carried[..1]).await, Errors::SharedRootMismatch(_)));
    let other_state =
        CommitBatchInfo { newStateCommitment: B256::repeat_byte(0x67), ..gateway_info.clone() };
    assert!(matches!(refused(&other_state, &carried).await, Errors::InvalidProof(_)));
    let receipt = settle(&gateway_info, &carried)
        .send()
        .await
        .unwrap()
        .with_timeout(Some(TX_TIMEOUT))
        .get_receipt()
        .await
        .unwrap();
    assert!(receipt.status());
    println!(
        "settleBatch with a real aggregated proof (2 chain batches): {} gas",
        receipt.gas_used
    );
    assert_eq!(
        gateway_executor.lastFinalBatch(U256::from(chain.node.chain_id)).call().await.unwrap(),
        U256::from(2),
        "both chain batches are L1-final"
    );
    drop(devnet);
}
