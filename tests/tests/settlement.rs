//! The settlement ExEx on a real devnet: a chain settling on L1 and a chain settling on the
//! Gateway, with traffic; batches are sealed, proved (mock backend), committed, proved and
//! executed, and what the contracts store equals what the ExEx's store holds.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use e2e_tests::fixtures::devnet_of;
use std::{sync::Arc, time::Duration};

use alloy::{
    consensus::Transaction as _,
    primitives::{B256, U256},
};
use devnet::{
    ChainTopology, Devnet, DevnetConfig, InitialSettlement, Topology, Traffic, signer_provider,
};
use exex_host::{HostBuilder, HostHandle, RpcBlockSource, RpcBlockSourceConfig};
use gateway_contracts::ChainExecutor;
use gateway_primitives::stored_batch_hash;
use gateway_settlement::{
    BatchLimits, OperatorKey, Settlement, SettlementConfig, SettlementLayerEndpoint,
    commitment::decode_commit_info,
};
use gateway_store::{BatchStage, Store};
use jsonrpsee::{core::client::ClientT, http_client::HttpClientBuilder, rpc_params};

const WAIT: Duration = Duration::from_secs(90);

/// Logs to the test's captured output (shown when it fails); `RUST_LOG` overrides the filter.
use e2e_tests::fixtures::init_tracing;

fn config_for(topology: &Topology, chain: &ChainTopology) -> SettlementConfig {
    config_with_timeout(topology, chain, Duration::from_secs(60))
}

fn config_with_timeout(
    topology: &Topology,
    chain: &ChainTopology,
    tx_timeout: Duration,
) -> SettlementConfig {
    let (node, executor) = topology.initial_layer(chain);
    let layer = SettlementLayerEndpoint {
        chain_id: node.chain_id,
        rpc_url: node.rpc_url.clone(),
        executor,
    };
    let mut config = SettlementConfig::new(
        chain.node.chain_id,
        chain.genesis.state_commitment,
        layer,
        OperatorKey::new(chain.operator_key.clone()),
    );
    config.limits =
        BatchLimits { max_blocks: 3, timeout: Duration::from_secs(2), ..Default::default() };
    config.poll_interval = Duration::from_millis(200);
    config.tx_timeout = tx_timeout;
    config
}

async fn start_node(
    topology: &Topology,
    chain: &ChainTopology,
    datadir: &std::path::Path,
) -> (HostHandle, Arc<Store>) {
    start_node_with(config_for(topology, chain), chain, datadir).await
}

async fn start_node_with(
    config: SettlementConfig,
    chain: &ChainTopology,
    datadir: &std::path::Path,
) -> (HostHandle, Arc<Store>) {
    start_node_proving_with(
        config,
        chain,
        datadir,
        Arc::new(gateway_prover::MockBackend::default()),
    )
    .await
}

async fn start_node_proving_with(
    config: SettlementConfig,
    chain: &ChainTopology,
    datadir: &std::path::Path,
    backend: Arc<dyn gateway_prover::ProofBackend>,
) -> (HostHandle, Arc<Store>) {
    let store = Arc::new(Store::open(datadir).unwrap());
    let mut source = RpcBlockSourceConfig::new(chain.node.rpc_url.clone());
    source.poll_interval = Duration::from_millis(100);
    source.start_after = Some(0);
    let host = e2e_tests::fixtures::host_config(datadir);
    let settlement = Settlement::new(config, Arc::clone(&store), backend).unwrap();
    let handle = settlement
        .install(HostBuilder::new(host, RpcBlockSource::new(source)))
        .launch()
        .await
        .unwrap();
    (handle, store)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_settle_on_l1_and_on_the_gateway() {
    init_tracing();
    let devnet = Devnet::start(
        DevnetConfig {
            chains: vec![InitialSettlement::L1, InitialSettlement::Gateway],
            ..Default::default()
        },
        None,
    )
    .await
    .unwrap();
    let topology = devnet.topology.clone();
    for chain in &topology.chains {
        let dir = tempfile::tempdir().unwrap();
        let (mut host, store) = start_node(&topology, chain, dir.path()).await;
        let traffic = Traffic::new(chain.node.rpc_url.clone(), &chain.operator_key).unwrap();
        traffic.blocks(9, 2).await.unwrap();

        let sl_node = topology.initial_layer(chain);
        let reader = signer_provider(sl_node.0.rpc_url.clone(), &chain.operator_key).unwrap();
        let executor = ChainExecutor::new(sl_node.1, reader);
        tokio::time::timeout(WAIT, async {
            while executor.totalBatchesExecuted().call().await.unwrap() < U256::from(3) {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        })
        .await
        .unwrap_or_else(|_| panic!("chain {} did not execute 3 batches", chain.node.chain_id));

        // What the contract stores equals what the ExEx stored, batch by batch; the batches
        // cover the chain's blocks without gap or overlap.
        let executed: u64 = executor.totalBatchesExecuted().call().await.unwrap().to();
        let batches = store.batches(1..=executed).unwrap();
        assert_eq!(batches.len() as u64, executed);
        let mut next_block = 1;
        for batch in &batches {
            assert_eq!(
                batch.first_block, next_block,
                "batch {} starts where the last ended",
                batch.number
            );
            next_block = batch.last_block + 1;
            assert_eq!(batch.sl_chain_id, sl_node.0.chain_id);
            let info = decode_commit_info(batch).unwrap();
            let on_chain = executor.storedBatchHash(U256::from(batch.number)).call().await.unwrap();
            assert_eq!(on_chain, stored_batch_hash(&info.to_stored()), "batch {}", batch.number);
            assert!(!batch.proof.is_empty());
        }

        // The status endpoint tells the same; pausing (an admin method) shows.
        let admin = e2e_tests::fixtures::admin_client(&host, dir.path()).unwrap();
        let client = HttpClientBuilder::default()
            .request_timeout(Duration::from_secs(10))
            .build(format!("http://{}", host.rpc_addr().unwrap()))
            .unwrap();
        let status: serde_json::Value =
            client.request("settlement_status", rpc_params![]).await.unwrap();
        assert_eq!(status["chainId"], chain.node.chain_id);
        assert_eq!(status["settlementLayer"], sl_node.0.chain_id);
        assert!(status["onChain"]["executed"].as_u64().unwrap() >= 3);
        assert_eq!(status["phase"], "settling");
        assert_eq!(admin.call("settlement_pause", serde_json::json!([])).await.unwrap(), "paused");
        let status: serde_json::Value =
            client.request("settlement_status", rpc_params![]).await.unwrap();
        assert_eq!(status["phase"], "paused");
        tokio::time::timeout(WAIT, async {
            while store.batch(executed).unwrap().unwrap().stage != BatchStage::Executed {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
        .await
        .expect("the store's stages follow the on-chain counters");

        // While paused, three more batches are sealed and proved; on resume one commit and one
        // execute transaction carry all of them (up to --settlement.max-batches-per-tx).
        let settled: u64 = executor.totalBatchesExecuted().call().await.unwrap().to();
        traffic.blocks(9, 1).await.unwrap();
        wait_for(&store, "three batches proved while paused", |s| {
            s.batches(settled + 1..=u64::MAX)
                .unwrap()
                .iter()
                .filter(|b| !b.proof.is_empty())
                .count()
                >= 3
        })
        .await;
        let waiting = store.batches(settled + 1..=u64::MAX).unwrap().len();
        assert_eq!(
            admin.call("settlement_resume", serde_json::json!([])).await.unwrap(),
            "settling"
        );
        tokio::time::timeout(WAIT, async {
            while executor.totalBatchesExecuted().call().await.unwrap()
                < U256::from(settled + waiting as u64)
            {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        })
        .await
        .expect("the batches sealed while paused settle on resume");
        let mined = devnet::mined_from(&sl_node.0.rpc_url, chain.operator).await.unwrap();
        let calls = devnet::SettlementCalls::of(&mined, sl_node.1).unwrap();
        calls.check_each_batch_once(settled + waiting as u64).unwrap();
        assert_eq!(
            calls.commit_tx_sizes.last(),
            Some(&waiting),
            "one commit carried every batch sealed while paused: {:?}",
            calls.commit_tx_sizes
        );
        assert_eq!(calls.execute_tx_sizes.last(), Some(&waiting), "{:?}", calls.execute_tx_sizes);
        host.stop().await;

        // A new datadir cannot take over the chain's settlement: the node stops at start,
        // naming the layer, the batches it holds and the store.
        let fresh = tempfile::tempdir().unwrap();
        let (host, _) = start_node(&topology, chain, fresh.path()).await;
        let exit = tokio::time::timeout(WAIT, host.wait_for_node_exit())
            .await
            .expect("a fresh store of a settled chain stops the node");
        let err = format!("{:#}", exit.expect_err("it stops with an error"));
        assert!(
            err.contains("a new datadir cannot take over")
                && err.contains(&format!("settlement layer {}", sl_node.0.chain_id)),
            "{err}"
        );
    }
}

async fn anvil_call(
    url: &alloy::transports::http::reqwest::Url,
    method: &'static str,
    params: serde_json::Value,
) {
    devnet::rpc_call(url, method, params).await.unwrap();
}

async fn wait_for<F: Fn(&Store) -> bool>(store: &Store, what: &str, check: F) {
    tokio::time::timeout(WAIT, async {
        while !check(store) {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("timed out waiting for {what}"));
}

fn executor_on_l1(
    devnet: &Devnet,
) -> ChainExecutor::ChainExecutorInstance<alloy::providers::DynProvider> {
    let chain = &devnet.topology.chains[0];
    let provider =
        signer_provider(devnet.topology.l1.node.rpc_url.clone(), &chain.operator_key).unwrap();
    ChainExecutor::new(chain.l1_executor, provider)
}

/// A devnet chain settling on an L1 that mines nothing (automine off), with its node running
/// and the first commit signed; `cap_over_base_percent` caps the fees that much above L1's
/// base fee.
struct StuckOnL1 {
    devnet: Devnet,
    chain: ChainTopology,
    l1: alloy::transports::http::reqwest::Url,
    host: HostHandle,
    store: Arc<Store>,
    cap: Option<u128>,
    _dir: tempfile::TempDir,
}

impl StuckOnL1 {
    async fn start(tx_timeout: Duration, cap_over_base_percent: Option<u128>) -> Self {
        init_tracing();
        let devnet = devnet_of(vec![InitialSettlement::L1]).await.unwrap();
        let topology = devnet.topology.clone();
        let chain = topology.chains[0].clone();
        let l1 = topology.l1.node.rpc_url.clone();
        anvil_call(&l1, "evm_setAutomine", serde_json::json!([false])).await;
        let dir = tempfile::tempdir().unwrap();
        let mut config = config_with_timeout(&topology, &chain, tx_timeout);
        let mut cap = None;
        if let Some(percent) = cap_over_base_percent {
            use alloy::providers::Provider;
            let provider = alloy::providers::ProviderBuilder::new().connect_http(l1.clone());
            let latest = provider.get_block(alloy::eips::BlockId::latest()).await.unwrap().unwrap();
            let base_fee = u128::from(latest.header.base_fee_per_gas.unwrap());
            cap = Some(base_fee + base_fee * percent / 100 + 1);
            config.max_fee_per_gas = cap;
        }
        let (host, store) = start_node_with(config, &chain, dir.path()).await;
        Traffic::new(chain.node.rpc_url.clone(), &chain.operator_key)
            .unwrap()
            .blocks(3, 1)
            .await
            .unwrap();
        wait_for(&store, "a first send", |s| {
            s.in_flight().unwrap().is_some_and(|tx| tx.hash != B256::ZERO)
        })
        .await;
        Self { devnet, chain, l1, host, store, cap, _dir: dir }
    }

    /// L1 mines again: batch 1 settles, and of all the sends one commit was mined and nothing
    /// reverted.
    async fn mine_and_settle_once(mut self) {
        anvil_call(&self.l1, "evm_setAutomine", serde_json::json!([true])).await;
        anvil_call(&self.l1, "evm_mine", serde_json::json!([])).await;
        let executor = executor_on_l1(&self.devnet);
        tokio::time::timeout(WAIT, async {
            while executor.totalBatchesExecuted().call().await.unwrap() < U256::from(1) {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        })
        .await
        .expect("the batch settles once mining resumes");
        let mined = devnet::mined_from(&self.l1, self.chain.operator).await.unwrap();
        devnet::SettlementCalls::of(&mined, self.chain.l1_executor)
            .unwrap()
            .check_each_batch_once(1)
            .unwrap();
        self.host.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_the_fee_cap_a_stuck_transaction_is_kept_and_rebroadcast_not_replaced() {
    // Just above L1's base fee (which stays: L1 mines nothing now), below what the sender
    // would pay: the first send already pays the cap. (The next block's base fee may be up to
    // 12.5% above the latest's.)
    let stuck = StuckOnL1::start(Duration::from_secs(1), Some(25)).await;
    let cap = stuck.cap.unwrap();
    let (l1, store) = (stuck.l1.clone(), Arc::clone(&stuck.store));
    let first = store.in_flight().unwrap().unwrap();
    let pooled_first = pooled_soon(&l1, &first).await;
    assert_eq!(pooled_first.max_fee_per_gas(), cap);

    // Several timeouts later: no replacement (the pool would refuse it), the same transaction.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let still = store.in_flight().unwrap().unwrap();
    assert_eq!((still.hash, still.attempts), (first.hash, first.attempts), "kept, not replaced");
    assert!(pooled(&l1, &first).await.is_some());

    // Lost from the pool: the very same bytes go out again.
    anvil_call(&l1, "anvil_dropAllTransactions", serde_json::json!([])).await;
    tokio::time::timeout(WAIT, async {
        while pooled(&l1, &first).await.is_none() {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
    .expect("the same transaction is rebroadcast");
    assert_eq!(store.in_flight().unwrap().unwrap().hash, first.hash);
    stuck.mine_and_settle_once().await;
}

/// [`pooled`], waiting (at most 10 s) for the transaction to reach the pool: the record is
/// written before the broadcast.
async fn pooled_soon(
    l1: &alloy::transports::http::reqwest::Url,
    record: &gateway_store::InFlightTx,
) -> alloy::rpc::types::Transaction {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(tx) = pooled(l1, record).await {
            return tx;
        }
        assert!(std::time::Instant::now() < deadline, "{} never reached L1's pool", record.hash);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The in-flight record's transaction as L1's pool (or chain) has it, checked against the
/// signed bytes the sender persisted before broadcasting; `None` when L1 does not know it.
async fn pooled(
    l1: &alloy::transports::http::reqwest::Url,
    record: &gateway_store::InFlightTx,
) -> Option<alloy::rpc::types::Transaction> {
    use alloy::{eips::eip2718::Decodable2718, providers::Provider};
    let signed = alloy::consensus::TxEnvelope::decode_2718(&mut record.raw.as_slice())
        .expect("the persisted bytes are a signed transaction");
    assert_eq!(*signed.tx_hash(), record.hash, "the persisted hash is the bytes' hash");
    assert_eq!(signed.nonce(), record.nonce);
    let provider = alloy::providers::ProviderBuilder::new().connect_http(l1.clone());
    provider.get_transaction_by_hash(record.hash).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stuck_transaction_is_fee_bumped_and_a_dropped_one_resent() {
    // L1 stops mining: the first commit stays in the mempool, persisted signed before its
    // broadcast; the pool holds exactly it.
    let stuck = StuckOnL1::start(Duration::from_secs(2), None).await;
    let (l1, store) = (stuck.l1.clone(), Arc::clone(&stuck.store));
    let first = store.in_flight().unwrap().unwrap();
    let first_tx = pooled_soon(&l1, &first).await;
    // Not mined within the timeout: resent with the same nonce and a higher fee, replacing it.
    wait_for(&store, "a fee-bumped resend", |s| {
        s.in_flight().unwrap().is_some_and(|tx| tx.attempts >= 2 && tx.hash != first.hash)
    })
    .await;
    let bumped = store.in_flight().unwrap().unwrap();
    let bumped_tx = pooled_soon(&l1, &bumped).await;
    assert_eq!(bumped_tx.nonce(), first_tx.nonce());
    assert!(
        bumped_tx.max_fee_per_gas() > first_tx.max_fee_per_gas()
            && bumped_tx.max_priority_fee_per_gas() > first_tx.max_priority_fee_per_gas(),
        "the resend pays more"
    );
    assert!(pooled(&l1, &first).await.is_none(), "the resend replaced the first send");

    // The mempool loses it: it is sent again, and is in the pool again.
    anvil_call(&l1, "anvil_dropAllTransactions", serde_json::json!([])).await;
    wait_for(&store, "a resend after the drop", |s| {
        s.in_flight().unwrap().is_some_and(|tx| tx.hash != bumped.hash && tx.hash != B256::ZERO)
    })
    .await;
    let resent = store.in_flight().unwrap().unwrap();
    assert_eq!(resent.nonce, bumped.nonce);
    let resent_tx = pooled_soon(&l1, &resent).await;
    assert_eq!(resent_tx.nonce(), bumped_tx.nonce());
    stuck.mine_and_settle_once().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_settlement_layer_reorg_that_removes_a_commit_leads_to_committing_again() {
    init_tracing();
    let (devnet, topology, chain) = one_l1_chain().await;
    let l1 = {
        use alloy::providers::ProviderBuilder;
        ProviderBuilder::new().connect_http(topology.l1.node.rpc_url.clone())
    };
    // Everything after this block is settlement; the devnet's setup stays below the reorg.
    let setup_block = {
        use alloy::providers::Provider;
        l1.get_block_number().await.unwrap()
    };
    let dir = tempfile::tempdir().unwrap();
    let (mut host, store) = start_node(&topology, &chain, dir.path()).await;
    Traffic::new(chain.node.rpc_url.clone(), &chain.operator_key)
        .unwrap()
        .blocks(3, 1)
        .await
        .unwrap();
    let executor = executor_on_l1(&devnet);
    tokio::time::timeout(WAIT, async {
        while executor.totalBatchesExecuted().call().await.unwrap() < U256::from(1) {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
    .expect("batch 1 executed");

    // Pause, then reorg L1 deep enough to remove batch 1's commit, prove and execute.
    let admin = e2e_tests::fixtures::admin_client(&host, dir.path()).unwrap();
    assert_eq!(admin.call("settlement_pause", serde_json::json!([])).await.unwrap(), "paused");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let committed_before: u64 = executor.totalBatchesCommitted().call().await.unwrap().to();
    let depth = {
        use alloy::providers::Provider;
        l1.get_block_number().await.unwrap() - setup_block
    };
    anvil_call(&topology.l1.node.rpc_url, "anvil_reorg", serde_json::json!([depth, []])).await;
    assert_eq!(
        executor.totalBatchesCommitted().call().await.unwrap(),
        U256::ZERO,
        "the reorg removed the commits"
    );

    assert_eq!(admin.call("settlement_resume", serde_json::json!([])).await.unwrap(), "settling");
    tokio::time::timeout(WAIT, async {
        while executor.totalBatchesExecuted().call().await.unwrap() < U256::from(committed_before) {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
    .expect("the removed batches are committed, proved and executed again");
    for batch in store.batches(1..=committed_before).unwrap() {
        let info = decode_commit_info(&batch).unwrap();
        let on_chain = executor.storedBatchHash(U256::from(batch.number)).call().await.unwrap();
        assert_eq!(on_chain, stored_batch_hash(&info.to_stored()));
    }
    host.stop().await;
}

/// The commit transaction of `batch` on `executor`'s settlement layer.
async fn commit_tx_of(
    executor: &ChainExecutor::ChainExecutorInstance<alloy::providers::DynProvider>,
    batch: u64,
) -> alloy::rpc::types::Transaction {
    use alloy::{providers::Provider, rpc::types::Filter, sol_types::SolEvent};
    let filter = Filter::new()
        .address(*executor.address())
        .event_signature(ChainExecutor::BatchCommitted::SIGNATURE_HASH)
        .topic1(U256::from(batch))
        .from_block(0);
    let logs = executor.provider().get_logs(&filter).await.unwrap();
    let hash = logs.last().unwrap().transaction_hash.unwrap();
    executor.provider().get_transaction_by_hash(hash).await.unwrap().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollup_pubdata_goes_in_blobs_on_l1_and_in_calldata_on_the_gateway() {
    use alloy::{consensus::Transaction as _, primitives::keccak256, sol_types::SolCall};
    use gateway_primitives::DaScheme;
    init_tracing();
    let devnet = Devnet::start(
        DevnetConfig {
            chains: vec![InitialSettlement::L1, InitialSettlement::Gateway],
            ..Default::default()
        },
        None,
    )
    .await
    .unwrap();
    let topology = devnet.topology.clone();
    for (chain, da) in topology.chains.iter().zip([DaScheme::RollupBlobs, DaScheme::RollupCalldata])
    {
        let dir = tempfile::tempdir().unwrap();
        let mut config = config_for(&topology, chain);
        config.da = da;
        // Prune the pubdata of executed batches at once (the default keeps the last 64).
        config.pubdata_retention_batches = 0;
        let (mut host, store) = start_node_with(config, chain, dir.path()).await;
        Traffic::new(chain.node.rpc_url.clone(), &chain.operator_key)
            .unwrap()
            .blocks(6, 3)
            .await
            .unwrap();
        let (node, address) = topology.initial_layer(chain);
        let executor = ChainExecutor::new(
            address,
            signer_provider(node.rpc_url.clone(), &chain.operator_key).unwrap(),
        );
        tokio::time::timeout(WAIT, async {
            while executor.totalBatchesExecuted().call().await.unwrap() < U256::from(2) {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        })
        .await
        .unwrap_or_else(|_| panic!("chain {} did not execute 2 batches", chain.node.chain_id));

        for number in 1..=2 {
            let batch = store.batch(number).unwrap().unwrap();
            let info = decode_commit_info(&batch).unwrap();
            assert_eq!(info.daScheme, da as u8, "batch {number} is sealed with {}", da.as_str());
            let tx = commit_tx_of(&executor, number).await;
            let call = ChainExecutor::commitBatchesCall::abi_decode(tx.input()).unwrap();
            let index = call
                .newBatches
                .iter()
                .position(|b| b.batchNumber == number)
                .expect("the commit carries the batch");
            let input = &call.daInputs[index];
            let pubdata_bytes: u64 = store
                .blocks(batch.first_block..=batch.last_block)
                .unwrap()
                .iter()
                .map(|b| b.pubdata_bytes)
                .sum();
            assert!(pubdata_bytes > 0, "traffic put transactions in batch {number}");
            match da {
                DaScheme::RollupBlobs => {
                    // The blobs' versioned hashes, as BLOBHASH saw them, are the commitment.
                    let hashes = tx.blob_versioned_hashes().expect("a blob transaction");
                    let count: usize = U256::from_be_slice(input).to();
                    let before: usize = call.daInputs[..index]
                        .iter()
                        .map(|i| U256::from_be_slice(i).to::<usize>())
                        .sum();
                    assert!(count >= 1);
                    let packed: Vec<u8> =
                        hashes[before..before + count].iter().flat_map(|h| h.0).collect();
                    assert_eq!(keccak256(packed), info.daCommitment, "batch {number}");
                }
                _ => {
                    // The pubdata itself is in the calldata: the batch's transactions.
                    assert!(tx.blob_versioned_hashes().is_none_or(|h| h.is_empty()));
                    assert_eq!(input.len() as u64, pubdata_bytes, "batch {number}");
                    assert_eq!(keccak256(input), info.daCommitment, "batch {number}");
                }
            }
        }
        // Executed batches' pubdata is pruned from the store.
        let executed = store.batch(2).unwrap().unwrap();
        tokio::time::timeout(WAIT, async {
            while store.pubdata(executed.first_block..=executed.first_block).is_ok() {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
        .await
        .expect("pubdata of executed batches is pruned");
        host.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_halo2_leaf_proofs_settle_chains_on_the_gateway_and_on_l1() {
    use gateway_prover::{BackendKind, Halo2Backend, Halo2Config};
    init_tracing();
    let backend: Arc<dyn gateway_prover::ProofBackend> = Arc::new(
        tokio::task::spawn_blocking(|| {
            Halo2Backend::new(Halo2Config::dev(Halo2Config::default_cache_dir()))
        })
        .await
        .unwrap()
        .unwrap(),
    );
    let devnet = Devnet::start(
        DevnetConfig {
            chains: vec![InitialSettlement::Gateway, InitialSettlement::L1],
            proofs: devnet::DevnetProofs::Halo2,
            ..Default::default()
        },
        None,
    )
    .await
    .unwrap();
    let topology = devnet.topology.clone();
    for chain in &topology.chains {
        let (node, address) = topology.initial_layer(chain);
        let executor = ChainExecutor::new(
            address,
            signer_provider(node.rpc_url.clone(), &chain.operator_key).unwrap(),
        );
        // The executor checks real proofs: a mock proof is refused.
        let verifier = executor.verifier().call().await.unwrap();
        assert_ne!(verifier, topology.l1.verifier, "a per-chain adapter, not the raw verifier");

        let dir = tempfile::tempdir().unwrap();
        let (mut host, store) = start_node_proving_with(
            config_for(&topology, chain),
            chain,
            dir.path(),
            Arc::clone(&backend),
        )
        .await;
        Traffic::new(chain.node.rpc_url.clone(), &chain.operator_key)
            .unwrap()
            .blocks(6, 2)
            .await
            .unwrap();
        tokio::time::timeout(WAIT, async {
            while executor.totalBatchesExecuted().call().await.unwrap() < U256::from(2) {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        })
        .await
        .unwrap_or_else(|_| {
            panic!("chain {} did not execute 2 batches with halo2 proofs", chain.node.chain_id)
        });
        for batch in store.batches(1..=2).unwrap() {
            let proof = gateway_prover::BatchProof {
                backend: BackendKind::Halo2,
                input: gateway_settlement::commitment::batch_public_input(
                    &store,
                    &config_for(&topology, chain),
                    batch.number,
                )
                .unwrap(),
                bytes: batch.proof.clone().into(),
            };
            backend.verify_batch(&proof).unwrap();
        }
        host.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_send_refused_before_broadcast_is_retried_at_the_same_fee() {
    init_tracing();
    let (_devnet, topology, chain) = one_l1_chain().await;
    // The chain settles on L1, but this node sends to its (inactive) executor on the Gateway:
    // every commit reverts in gas estimation and is never broadcast.
    let mut config = config_for(&topology, &chain);
    config.layer = SettlementLayerEndpoint {
        chain_id: topology.gateway.node.chain_id,
        rpc_url: topology.gateway.node.rpc_url.clone(),
        executor: chain.gateway_executor,
    };
    let dir = tempfile::tempdir().unwrap();
    let (mut host, store) = start_node_with(config, &chain, dir.path()).await;
    Traffic::new(chain.node.rpc_url.clone(), &chain.operator_key)
        .unwrap()
        .blocks(3, 1)
        .await
        .unwrap();
    let client = HttpClientBuilder::default()
        .request_timeout(Duration::from_secs(10))
        .build(format!("http://{}", host.rpc_addr().unwrap()))
        .unwrap();
    // Many failed attempts later (the sender polls every 200 ms)...
    let status = tokio::time::timeout(WAIT, async {
        loop {
            let status: serde_json::Value =
                client.request("settlement_status", rpc_params![]).await.unwrap();
            if status["lastError"].as_str().is_some_and(|e| e.contains("SettlementLayerNotActive"))
            {
                tokio::time::sleep(Duration::from_secs(3)).await;
                break status;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
    .expect("the refusal shows in the status");
    assert!(status["lastError"].as_str().unwrap().contains("commit batches 1..="), "{status}");
    // ...nothing was broadcast, and the attempt count, which sets the fee, did not grow.
    let in_flight = store.in_flight().unwrap().expect("the attempt is recorded before sending");
    assert_eq!(in_flight.attempts, 1, "a send that never left does not bump the fee");
    assert_eq!(in_flight.hash, alloy::primitives::B256::ZERO);
    host.stop().await;
}

/// A devnet with one chain settling on L1: the devnet, its topology and the chain.
async fn one_l1_chain() -> (Devnet, Topology, ChainTopology) {
    let devnet = devnet_of(vec![InitialSettlement::L1]).await.unwrap();
    let topology = devnet.topology.clone();
    let chain = topology.chains[0].clone();
    (devnet, topology, chain)
}

/// The status of the node at `host`, read over `--http`.
async fn status_of(host: &HostHandle) -> serde_json::Value {
    HttpClientBuilder::default()
        .request_timeout(Duration::from_secs(10))
        .build(format!("http://{}", host.rpc_addr().unwrap()))
        .unwrap()
        .request("settlement_status", rpc_params![])
        .await
        .unwrap()
}

/// Waits until `check` holds on the node's status; the last status.
async fn wait_status(
    host: &HostHandle,
    what: &str,
    check: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    tokio::time::timeout(WAIT, async {
        loop {
            let status = status_of(host).await;
            if check(&status) {
                return status;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
}

/// Replaces the chain's last `depth` blocks with empty ones (a reorg deeper than any
/// confirmations the node waits for: it seals with none).
async fn reorg_chain(chain: &ChainTopology, depth: u64) {
    anvil_call(&chain.node.rpc_url, "anvil_reorg", serde_json::json!([depth, []])).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chain_reorg_below_an_executed_batch_halts_settlement_saying_why() {
    init_tracing();
    let (devnet, topology, chain) = one_l1_chain().await;
    let dir = tempfile::tempdir().unwrap();
    let (host, store) = start_node(&topology, &chain, dir.path()).await;
    let traffic = Traffic::new(chain.node.rpc_url.clone(), &chain.operator_key).unwrap();
    traffic.blocks(3, 1).await.unwrap();
    let executor = executor_on_l1(&devnet);
    wait_status(&host, "batch 1 executed", |s| s["onChain"]["executed"].as_u64() >= Some(1)).await;
    let head = {
        use alloy::providers::{Provider, ProviderBuilder};
        ProviderBuilder::new()
            .connect_http(chain.node.rpc_url.clone())
            .get_block_number()
            .await
            .unwrap()
    };

    // The chain replaces every block: batch 1's blocks are gone, but L1 executed it.
    reorg_chain(&chain, head).await;
    traffic.blocks(4, 1).await.unwrap();
    let halted = wait_status(&host, "halted", |s| s["phase"] == "halted").await;
    assert_eq!(halted["halt"]["executed"], true, "{halted}");
    assert_eq!(halted["halt"]["batch"], 1);
    let advice = halted["halt"]["advice"].as_str().unwrap();
    assert!(advice.contains("batch 1 ") && advice.contains("cannot be undone"), "{advice}");
    // Nothing more is sealed or sent: the committed counter and the sealed batches stay.
    let sealed = halted["lastSealedBatch"].clone();
    let committed = executor.totalBatchesCommitted().call().await.unwrap();
    traffic.blocks(4, 1).await.unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let later = status_of(&host).await;
    assert_eq!(later["phase"], "halted");
    assert_eq!(later["lastSealedBatch"], sealed, "nothing sealed on top: {later}");
    assert_eq!(executor.totalBatchesCommitted().call().await.unwrap(), committed);
    // It cannot be cleared: an executed batch cannot be reverted.
    let admin = e2e_tests::fixtures::admin_client(&host, dir.path()).unwrap();
    let err = admin.call("settlement_clear_halt", serde_json::json!([])).await.unwrap_err();
    assert!(err.to_string().contains("cannot be undone"), "{err}");
    assert!(store.halt().unwrap().is_some(), "the halt is persisted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chain_reorg_below_a_committed_batch_halts_the_node_reverts_it_and_settles_the_new_blocks()
 {
    init_tracing();
    let (devnet, topology, chain) = one_l1_chain().await;
    let l1_url = topology.l1.node.rpc_url.clone();
    let dir = tempfile::tempdir().unwrap();
    // A commit must be 3 L1 blocks deep before the proof is sent: L1 mines only on demand here,
    // so batch 1 stays committed and unexecuted until the test mines.
    // A replaced send is given up on after 5 s (not the usual 60), so a revert racing the
    // proof in flight does not wait long.
    let mut config = config_with_timeout(&topology, &chain, Duration::from_secs(5));
    config.layer_confirmations = 3;
    let (host, store) = start_node_with(config, &chain, dir.path()).await;
    let traffic = Traffic::new(chain.node.rpc_url.clone(), &chain.operator_key).unwrap();
    traffic.blocks(3, 1).await.unwrap();
    let executor = executor_on_l1(&devnet);
    // The node reads counters 3 blocks deep: two more L1 blocks show it batch 1 committed
    // (and let the proof go), not yet executable.
    tokio::time::timeout(WAIT, async {
        while executor.totalBatchesCommitted().call().await.unwrap() < U256::from(1) {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
    .expect("batch 1 committed");
    anvil_call(&l1_url, "anvil_mine", serde_json::json!([2])).await;
    wait_status(&host, "batch 1 committed", |s| s["onChain"]["committed"].as_u64() >= Some(1))
        .await;
    assert_eq!(executor.totalBatchesExecuted().call().await.unwrap(), U256::ZERO);
    let chain_provider = {
        use alloy::providers::ProviderBuilder;
        ProviderBuilder::new().connect_http(chain.node.rpc_url.clone())
    };
    let head = {
        use alloy::providers::Provider;
        chain_provider.get_block_number().await.unwrap()
    };

    reorg_chain(&chain, head).await;
    traffic.blocks(2, 1).await.unwrap();
    let halted = wait_status(&host, "halted", |s| s["phase"] == "halted").await;
    assert_eq!(halted["halt"]["executed"], false, "{halted}");
    assert!(halted["halt"]["advice"].as_str().unwrap().contains("revertBatches(0)"), "{halted}");
    // Not lifted by hand while the layer holds the batch.
    let admin = e2e_tests::fixtures::admin_client(&host, dir.path()).unwrap();
    let err = admin.call("settlement_clear_halt", serde_json::json!([])).await.unwrap_err();
    assert!(err.to_string().contains("still holds batch 1"), "{err}");

    // The node reverts batch 1 on L1 itself (its transactions wait for L1 blocks here), then
    // lifts the halt once L1's counters no longer hold it.
    let mut reverted_seen = false;
    tokio::time::timeout(WAIT, async {
        loop {
            anvil_call(&l1_url, "anvil_mine", serde_json::json!([1])).await;
            reverted_seen |= executor.totalBatchesCommitted().call().await.unwrap() == U256::ZERO;
            if status_of(&host).await["phase"] != "halted" {
                return;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
    .await
    .expect("the node reverts the batch and lifts the halt");
    assert!(reverted_seen, "L1 dropped batch 1 (revertBatches)");

    // The new blocks are sealed again and settle: batch 1 now holds the new chain's blocks.
    traffic.blocks(3, 1).await.unwrap();
    tokio::time::timeout(WAIT, async {
        while executor.totalBatchesExecuted().call().await.unwrap() < U256::from(1) {
            anvil_call(&l1_url, "anvil_mine", serde_json::json!([1])).await;
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
    .await
    .expect("batch 1 executed over the new blocks");
    let batch = store.batch(1).unwrap().unwrap();
    assert_eq!(batch.first_block, 1);
    let new_block_1 = {
        use alloy::providers::Provider;
        chain_provider.get_block_by_number(1.into()).await.unwrap().unwrap().header.hash
    };
    assert_eq!(
        store.block(1).unwrap().unwrap().hash,
        new_block_1,
        "the store follows the new chain"
    );
    let on_chain = executor.storedBatchHash(U256::from(1)).call().await.unwrap();
    let info = decode_commit_info(&batch).unwrap();
    assert_eq!(on_chain, stored_batch_hash(&info.to_stored()));
    assert_ne!(status_of(&host).await["phase"], "halted");
}

/// Governance changes a chain executor's verifier only through a delay, and the node sends no
/// proof through a verifier it has not checked: after the change it stops proving (saying why),
/// and once restarted (the start reads the new verifier) it proves on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_verifier_changed_under_the_node_stops_its_proofs_until_a_restart_checks_it() {
    init_tracing();
    let (devnet, topology, chain) = one_l1_chain().await;
    let executor = executor_on_l1(&devnet);
    type Errors = ChainExecutor::ChainExecutorErrors;
    let decoded = |err: alloy::contract::Error| {
        err.as_decoded_interface_error::<Errors>()
            .unwrap_or_else(|| panic!("not an executor error: {err}"))
    };
    // The chain's operator (its executor's admin) cannot change the verifier at all.
    let other = gateway_contracts::deploy_mock_verifier(executor.provider()).await.unwrap();
    let err = executor.queueVerifier(other).call().await.unwrap_err();
    assert!(matches!(decoded(err), Errors::NotGovernance(_)));
    let governance =
        devnet::signer_provider(topology.l1.node.rpc_url.clone(), &topology.l1.governance_key)
            .unwrap();
    let as_governance = ChainExecutor::new(chain.l1_executor, &governance);
    let err = as_governance.applyVerifier().call().await.unwrap_err();
    assert!(matches!(decoded(err), Errors::NoVerifierChangeQueued(_)));

    let dir = tempfile::tempdir().unwrap();
    let (host, store) = start_node(&topology, &chain, dir.path()).await;
    let traffic = Traffic::new(chain.node.rpc_url.clone(), &chain.operator_key).unwrap();
    traffic.blocks(3, 1).await.unwrap();
    wait_status(&host, "batch 1 proved", |s| s["onChain"]["proved"].as_u64() >= Some(1)).await;

    // Queued: not applicable before its delay, and the node goes on meanwhile.
    as_governance.queueVerifier(other).send().await.unwrap().get_receipt().await.unwrap();
    let err = as_governance.applyVerifier().call().await.unwrap_err();
    assert!(matches!(decoded(err), Errors::VerifierChangeNotDue(_)));
    assert_eq!(executor.pendingVerifier().call().await.unwrap(), other);
    anvil_call(
        &topology.l1.node.rpc_url,
        "anvil_mine",
        serde_json::json!([devnet::VERIFIER_DELAY_BLOCKS]),
    )
    .await;
    as_governance.applyVerifier().send().await.unwrap().get_receipt().await.unwrap();
    assert_eq!(executor.verifier().call().await.unwrap(), other);

    // Applied: the node proves nothing more and says why.
    let proved = executor.totalBatchesVerified().call().await.unwrap();
    traffic.blocks(6, 1).await.unwrap();
    let refused = wait_status(&host, "the changed verifier refused", |s| {
        s["lastError"].as_str().is_some_and(|e| e.contains("now verifies with"))
    })
    .await;
    let error = refused["lastError"].as_str().unwrap();
    assert!(error.contains(&other.to_string()) && error.contains("restart the node"), "{error}");
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(executor.totalBatchesVerified().call().await.unwrap(), proved, "no proof sent");

    // A restart reads the new verifier as the one it checked: proofs go on.
    let mut host = host;
    host.stop().await;
    drop(store);
    let (host, _store) = start_node(&topology, &chain, dir.path()).await;
    wait_status(&host, "proofs after the restart", |s| {
        s["onChain"]["proved"].as_u64() > Some(proved.to::<u64>())
    })
    .await;
    let mut host = host;
    host.stop().await;
}
