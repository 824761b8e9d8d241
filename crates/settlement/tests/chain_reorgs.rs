//! Chain reorgs through the settlement ExEx, on hand-built blocks: reverted blocks leave the
//! store with their pubdata; a sealed batch over them is unsealed and rebuilt if it was never
//! committed; a reorg reaching a committed batch is an alarm and the batch stays.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{sync::Arc, time::Duration};

use exex_host::{HostBuilder, HostConfig, TestChain};
use gateway_primitives::DaScheme;
use gateway_settlement::{
    BatchLimits, OperatorKey, SettlementConfig, SettlementLayerEndpoint, run_exex,
    seal::seal_ready_batches,
};
use gateway_store::{BatchStage, InFlightTx, Store};
use metrics_util::debugging::{DebugValue, DebuggingRecorder};

async fn wait_for_head(store: &Store, number: u64, hash: alloy::primitives::B256) {
    tokio::time::timeout(Duration::from_secs(30), async {
        while store.head("settlement").unwrap().is_none_or(|h| h.number != number || h.hash != hash)
        {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the ExEx reached the chain's tip");
}

/// A host following `chain` with the settlement ExEx alone (its layer unreachable: only the
/// ingest and seal stages run), sealing 3 blocks a batch.
async fn settlement_host(
    dir: &std::path::Path,
    chain: &TestChain,
    da: DaScheme,
) -> (exex_host::HostHandle, Arc<Store>, Arc<SettlementConfig>) {
    let store = Arc::new(Store::open(dir).unwrap());
    let layer = SettlementLayerEndpoint {
        chain_id: 506,
        rpc_url: "http://127.0.0.1:1".parse().unwrap(),
        executor: Default::default(),
    };
    let mut config = SettlementConfig::new(270, Default::default(), layer, OperatorKey::new(""));
    config.da = da;
    config.limits =
        BatchLimits { max_blocks: 3, timeout: Duration::from_secs(3_600), ..Default::default() };
    let config = Arc::new(config);
    let (exex_config, exex_store) = (Arc::clone(&config), Arc::clone(&store));
    let host = HostBuilder::new(HostConfig::new(dir), chain.source())
        .install_exex("settlement", move |ctx| async move {
            Ok(run_exex(ctx, exex_config, exex_store, Arc::default()))
        })
        .launch()
        .await
        .unwrap();
    (host, store, config)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reorgs_unseal_uncommitted_batches_and_alarm_below_committed_ones() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    recorder.install().unwrap();

    let dir = tempfile::tempdir().unwrap();
    let chain = TestChain::new();
    let (mut host, store, config) =
        settlement_host(dir.path(), &chain, DaScheme::RollupCalldata).await;

    chain.commit(6, 2);
    wait_for_head(&store, 6, chain.tip().hash).await;
    assert_eq!(seal_ready_batches(&store, &config).unwrap(), 2);
    let batch_2 = store.batch(2).unwrap().unwrap();
    assert_eq!((batch_2.first_block, batch_2.last_block), (4, 6));

    // Blocks 5 and 6 are replaced: batch 2 was never committed, so it is unsealed and rebuilt
    // over the new blocks.
    let (old, _) = chain.reorg(2, 2, 3);
    wait_for_head(&store, 6, chain.tip().hash).await;
    assert!(store.batch(2).unwrap().is_none(), "batch 2 is unsealed");
    let block_6 = store.block(6).unwrap().unwrap();
    assert_eq!(block_6.hash, chain.tip().hash);
    assert_ne!(block_6.hash, old.tip().hash());
    assert_eq!(block_6.tx_count, 3);
    assert_eq!(seal_ready_batches(&store, &config).unwrap(), 1);
    let rebuilt = store.batch(2).unwrap().unwrap();
    assert_eq!((rebuilt.first_block, rebuilt.last_block), (4, 6));
    assert_ne!(rebuilt.commit_info, batch_2.commit_info, "rebuilt over the new blocks");
    assert!(store.pubdata(4..=6).is_ok());
    assert_eq!(
        counter(&snapshotter, "settlement_reorg_below_sealed_total"),
        Some(DebugValue::Counter(1))
    );

    // Batch 1 is committed on the settlement layer; a reorg from block 2 reaches it.
    let mut batch_1 = store.batch(1).unwrap().unwrap();
    batch_1.stage = BatchStage::Committed;
    store.write(|tx| tx.put_batch(&batch_1)).unwrap();
    chain.reorg(5, 5, 1);
    wait_for_head(&store, 6, chain.tip().hash).await;
    assert_eq!(store.batch(1).unwrap().unwrap(), batch_1, "a committed batch stays");
    assert!(store.batch(2).unwrap().is_none(), "the uncommitted batch above it is unsealed");
    assert_eq!(store.block(2).unwrap().unwrap().hash, chain.block(2).unwrap().hash);
    assert_eq!(
        counter(&snapshotter, "settlement_reorg_below_committed_total"),
        Some(DebugValue::Counter(1))
    );
    // Settlement is halted at batch 1: nothing is sealed on top of it.
    let halt = store.halt().unwrap().expect("halted");
    assert_eq!((halt.batch, halt.first_reverted_block, halt.executed), (1, 2, false));
    assert_eq!(seal_ready_batches(&store, &config).unwrap(), 0, "nothing sealed while halted");
    // (The rest checks the ingest alone: the halt is lifted by hand, batch 1 kept.)
    store.write(|tx| tx.set_halt(None)).unwrap();

    // A revert of blocks no batch holds just drops them and their pubdata.
    chain.revert(1);
    wait_for_head(&store, 5, chain.tip().hash).await;
    assert!(store.block(6).unwrap().is_none());
    assert!(store.pubdata(6..=6).is_err());

    // A commit was sent for batch 2 and is not seen mined yet: the batch may be committed on
    // the settlement layer, so a reorg below it is the alarm and the batch stays.
    chain.commit(1, 1);
    wait_for_head(&store, 6, chain.tip().hash).await;
    assert_eq!(seal_ready_batches(&store, &config).unwrap(), 1);
    let batch_2 = store.batch(2).unwrap().unwrap();
    assert!(batch_2.stage < BatchStage::Committed);
    let sent = InFlightTx {
        stage: 0,
        from: 2,
        to: 2,
        nonce: 7,
        attempts: 1,
        hash: alloy::primitives::B256::repeat_byte(7),
        raw: vec![2],
    };
    store.write(|tx| tx.set_in_flight(Some(&sent))).unwrap();
    chain.reorg(1, 1, 2);
    wait_for_head(&store, 6, chain.tip().hash).await;
    assert_eq!(store.batch(2).unwrap().unwrap(), batch_2, "a batch with a commit in flight stays");
    assert_eq!(store.halt().unwrap().map(|h| h.batch), Some(2), "and settlement halts there");
    // (The debugging recorder's counters count from the last snapshot.)
    let alarms = snapshotter.snapshot().into_vec();
    let delta = |name: &str| {
        alarms.iter().find(|(key, ..)| key.key().name() == name).map(|(.., value)| value)
    };
    assert_eq!(delta("settlement_reorg_below_committed_total"), Some(&DebugValue::Counter(1)));
    assert_eq!(delta("settlement_reorg_below_sealed_total"), Some(&DebugValue::Counter(0)));
    host.stop().await;
}

/// `name`'s increments since the last snapshot.
fn counter(snapshotter: &metrics_util::debugging::Snapshotter, name: &str) -> Option<DebugValue> {
    snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .find(|(key, ..)| key.key().name() == name)
        .map(|(.., value)| value)
}

/// Settlement turned on for a chain that already has history (no `--chain.start-after`): the
/// host starts at the node's tip, and the ExEx's first run backfills from block 1.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chain_with_history_settles_from_block_1_on_a_first_run() {
    let dir = tempfile::tempdir().unwrap();
    let chain = TestChain::new();
    chain.commit(100, 1);
    let (mut host, store, config) = settlement_host(dir.path(), &chain, DaScheme::Validium).await;
    chain.commit(2, 1);
    wait_for_head(&store, 102, chain.tip().hash).await;
    let blocks = store.blocks(1..=102).unwrap();
    assert_eq!(blocks.len(), 102, "every block from 1 is stored");
    assert!(blocks.windows(2).all(|w| w[1].parent_hash == w[0].hash));
    assert_eq!(seal_ready_batches(&store, &config).unwrap(), 34);
    assert_eq!(store.batch(1).unwrap().map(|b| (b.first_block, b.last_block)), Some((1, 3)));
    host.stop().await;
}
