//! Host semantics on a hand-built chain: commit, reorg, revert, finished-height gating,
//! restarts with a head (skip, dead fork, backfill), RPC modules and ExEx exit.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use alloy::eips::BlockNumHash;
use exex_host::{
    ExExContext, ExExHead, ExExNotification, FinishedExExHeight, HostBuilder, HostConfig,
    HostHandle, TestChain,
};
use futures::TryStreamExt;
use tokio::sync::mpsc;

const WAIT: Duration = Duration::from_secs(10);

/// What a recording ExEx persists across host restarts, as a real ExEx keeps its store.
#[derive(Debug, Default, Clone)]
struct Persisted {
    /// The ExEx's view of the chain (block 1 upward), applied from notifications.
    blocks: Arc<Mutex<Vec<BlockNumHash>>>,
}

impl Persisted {
    fn head(&self, genesis: BlockNumHash) -> BlockNumHash {
        self.blocks.lock().unwrap().last().copied().unwrap_or(genesis)
    }

    fn blocks(&self) -> Vec<BlockNumHash> {
        self.blocks.lock().unwrap().clone()
    }

    /// Applies a notification, checking it fits the chain the ExEx has.
    fn apply(
        &self,
        notification: &ExExNotification,
        genesis: BlockNumHash,
    ) -> eyre::Result<BlockNumHash> {
        let mut blocks = self.blocks.lock().unwrap();
        if let Some(old) = notification.reverted_chain() {
            let tip = blocks.last().copied().unwrap_or(genesis);
            eyre::ensure!(
                old.tip().num_hash() == tip,
                "revert of {:?} but the ExEx is at {tip:?}",
                old.range()
            );
            let keep = blocks.len() - old.len();
            blocks.truncate(keep);
        }
        if let Some(new) = notification.committed_chain() {
            let tip = blocks.last().copied().unwrap_or(genesis);
            eyre::ensure!(
                new.fork_block() == tip,
                "commit of {:?} does not build on {tip:?}",
                new.range()
            );
            blocks.extend(new.blocks_iter().map(|b| b.num_hash()));
        }
        Ok(blocks.last().copied().unwrap_or(genesis))
    }
}

/// An ExEx that applies every notification to `persisted`, reports its finished height, and
/// forwards each notification to the test.
async fn recording_exex(
    mut ctx: ExExContext,
    persisted: Persisted,
    genesis: BlockNumHash,
    report_finished: bool,
    seen: mpsc::UnboundedSender<ExExNotification>,
) -> eyre::Result<()> {
    while let Some(notification) = ctx.notifications.try_next().await? {
        let head = persisted.apply(&notification, genesis)?;
        if report_finished {
            ctx.send_finished_height(head)?;
        }
        let _ = seen.send(notification);
    }
    Ok(())
}

struct Running {
    host: HostHandle,
    seen: mpsc::UnboundedReceiver<ExExNotification>,
}

async fn launch(
    chain: &TestChain,
    datadir: &std::path::Path,
    persisted: &Persisted,
    with_head: bool,
) -> Running {
    let genesis = chain.block(0).unwrap();
    let (seen_tx, seen) = mpsc::unbounded_channel();
    let persisted = persisted.clone();
    let host = HostBuilder::new(HostConfig::new(datadir), chain.source())
        .install_exex("recorder", async move |mut ctx: ExExContext| {
            if with_head {
                ctx.set_notifications_with_head(ExExHead::new(persisted.head(genesis)));
            }
            Ok(recording_exex(ctx, persisted, genesis, true, seen_tx))
        })
        .launch()
        .await
        .unwrap();
    Running { host, seen }
}

async fn next(seen: &mut mpsc::UnboundedReceiver<ExExNotification>) -> ExExNotification {
    tokio::time::timeout(WAIT, seen.recv())
        .await
        .expect("no notification within 10s")
        .expect("ExEx stopped")
}

/// Waits until the ExEx's chain equals the canonical chain.
async fn wait_in_sync(chain: &TestChain, persisted: &Persisted) {
    let want: Vec<_> = (1..=chain.tip().number).map(|n| chain.block(n).unwrap()).collect();
    tokio::time::timeout(WAIT, async {
        while persisted.blocks() != want {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("ExEx has {:?}, chain has {want:?}", persisted.blocks()));
}

async fn stop(mut running: Running) {
    running.host.stop().await;
}

#[tokio::test]
async fn commit_reorg_and_revert_reach_the_exex_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let chain = TestChain::new();
    let persisted = Persisted::default();
    let mut running = launch(&chain, dir.path(), &persisted, false).await;

    let committed = chain.commit(5, 2);
    let ExExNotification::ChainCommitted { new } = next(&mut running.seen).await else {
        panic!("expected a commit")
    };
    assert_eq!(new, committed);
    assert_eq!(new.range(), 1..=5);
    assert_eq!(new.transaction_count(), 10);

    let (old, new_chain) = chain.reorg(2, 3, 1);
    match next(&mut running.seen).await {
        ExExNotification::ChainReorged { old: got_old, new: got_new } => {
            assert_eq!(got_old, old);
            assert_eq!(got_old.range(), 4..=5);
            assert_eq!(got_new, new_chain);
            assert_eq!(got_new.range(), 4..=6);
        }
        other => panic!("expected a reorg, got {}", other.kind()),
    }

    let reverted = chain.revert(1);
    match next(&mut running.seen).await {
        ExExNotification::ChainReverted { old } => assert_eq!(old, reverted),
        other => panic!("expected a revert, got {}", other.kind()),
    }
    wait_in_sync(&chain, &persisted).await;
    stop(running).await;
}

#[tokio::test]
async fn finished_height_waits_for_every_exex_and_gates_the_wal() {
    let dir = tempfile::tempdir().unwrap();
    let chain = TestChain::new();
    let genesis = chain.block(0).unwrap();
    let (fast_tx, mut fast_seen) = mpsc::unbounded_channel();
    let (slow_tx, mut slow_seen) = mpsc::unbounded_channel();
    let (slow_finish_tx, mut slow_finish_rx) = mpsc::unbounded_channel::<BlockNumHash>();
    let fast = Persisted::default();
    let host = HostBuilder::new(HostConfig::new(dir.path()), chain.source())
        .install_exex("fast", async move |ctx: ExExContext| {
            Ok(recording_exex(ctx, fast, genesis, true, fast_tx))
        })
        .install_exex("slow", async move |mut ctx: ExExContext| {
            Ok(async move {
                // Reports only the heights the test tells it to.
                loop {
                    tokio::select! {
                        n = ctx.notifications.try_next() => match n? {
                            Some(n) => { let _ = slow_tx.send(n); }
                            None => return Ok(()),
                        },
                        Some(height) = slow_finish_rx.recv() => ctx.send_finished_height(height)?,
                    }
                }
            })
        })
        .launch()
        .await
        .unwrap();
    let mut finished = host.finished_height();
    assert_eq!(*finished.borrow(), FinishedExExHeight::NotReady);

    chain.commit(4, 0);
    next(&mut fast_seen).await;
    next(&mut slow_seen).await;
    // Only one ExEx reported: still not ready.
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(*finished.borrow_and_update(), FinishedExExHeight::NotReady);

    slow_finish_tx.send(chain.block(2).unwrap()).unwrap();
    tokio::time::timeout(WAIT, finished.wait_for(|h| *h == FinishedExExHeight::Height(2)))
        .await
        .expect("finished height never reached 2")
        .unwrap();

    // Finalizing block 4 prunes the WAL only up to what every ExEx finished (2): the entry
    // with blocks 1..=4 stays.
    chain.commit(2, 0);
    next(&mut fast_seen).await;
    next(&mut slow_seen).await;
    chain.finalize(6);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let wal =
        exex_host::Wal::<exex_host::EthPrimitives>::open(dir.path().join("exex/wal")).unwrap();
    assert_eq!(wal.len(), 2, "nothing may be pruned above the slowest ExEx");
    drop(wal);

    slow_finish_tx.send(chain.block(6).unwrap()).unwrap();
    tokio::time::timeout(WAIT, finished.wait_for(|h| *h == FinishedExExHeight::Height(6)))
        .await
        .expect("finished height never reached 6")
        .unwrap();
    tokio::time::timeout(WAIT, async {
        loop {
            let wal = exex_host::Wal::<exex_host::EthPrimitives>::open(dir.path().join("exex/wal"))
                .unwrap();
            if wal.is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("WAL was not pruned after every ExEx finished the finalized block");
    let mut host = host;
    host.stop().await;
}

#[tokio::test]
async fn the_wal_keeps_what_every_exex_finished_above_the_finalized_block() {
    let dir = tempfile::tempdir().unwrap();
    let chain = TestChain::new();
    let genesis = chain.block(0).unwrap();
    let (seen_tx, mut seen) = mpsc::unbounded_channel();
    let mut host = HostBuilder::new(HostConfig::new(dir.path()), chain.source())
        .install_exex("exex", async move |ctx: ExExContext| {
            Ok(recording_exex(ctx, Persisted::default(), genesis, true, seen_tx))
        })
        .launch()
        .await
        .unwrap();
    let mut finished = host.finished_height();
    // Three WAL entries: blocks 1..=4, 5..=7 and 8..=10; the ExEx finishes all of them.
    for blocks in [4, 3, 3] {
        chain.commit(blocks, 0);
        next(&mut seen).await;
    }
    tokio::time::timeout(WAIT, finished.wait_for(|h| *h == FinishedExExHeight::Height(10)))
        .await
        .expect("finished height never reached 10")
        .unwrap();
    // Counted from the directory: opening a second `Wal` on the live one would race the host.
    let wal_len = || {
        std::fs::read_dir(dir.path().join("exex/wal"))
            .unwrap()
            .filter_map(Result::ok)
            .filter(|entry| entry.path().extension().is_some_and(|ext| ext == "wal"))
            .count()
    };
    assert_eq!(wal_len(), 3);

    // Finalizing block 5 prunes only the entry wholly at or below it.
    chain.finalize(5);
    tokio::time::timeout(WAIT, async {
        while wal_len() != 2 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the entry of blocks 1..=4 was not pruned");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        wal_len(),
        2,
        "entries above the finalized block stay though the ExEx finished them"
    );

    chain.finalize(10);
    tokio::time::timeout(WAIT, async {
        while wal_len() != 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the WAL was not pruned once block 10 was final");
    host.stop().await;
}

#[tokio::test]
async fn restart_skips_what_the_exex_has_and_backfills_what_it_missed() {
    let dir = tempfile::tempdir().unwrap();
    let chain = TestChain::new();
    let persisted = Persisted::default();
    let running = launch(&chain, dir.path(), &persisted, true).await;
    chain.commit(6, 1);
    wait_in_sync(&chain, &persisted).await;
    stop(running).await;

    // The ExEx lost its last two blocks (its store was behind the WAL), and the chain grew while
    // the host was down.
    persisted.blocks.lock().unwrap().truncate(4);
    chain.commit(10, 1);

    let mut running = launch(&chain, dir.path(), &persisted, true).await;
    let first = next(&mut running.seen).await;
    let new = first.committed_chain().expect("a backfill commit first");
    assert_eq!(*new.range().start(), 5, "backfill starts right after the ExEx head");
    wait_in_sync(&chain, &persisted).await;
    // Every block exactly once: the model would have rejected a duplicate commit.
    assert_eq!(persisted.blocks().len(), 16);
    stop(running).await;
}

#[tokio::test]
async fn restart_with_head_on_a_dead_fork_reverts_first() {
    let dir = tempfile::tempdir().unwrap();
    let chain = TestChain::new();
    let persisted = Persisted::default();
    let running = launch(&chain, dir.path(), &persisted, true).await;
    chain.commit(5, 1);
    wait_in_sync(&chain, &persisted).await;
    chain.commit(5, 1);
    wait_in_sync(&chain, &persisted).await;
    stop(running).await;
    let dead: Vec<_> = persisted.blocks()[7..].to_vec();

    // While the host is down, blocks 8..=10 are replaced by 8..=12.
    chain.reorg(3, 5, 1);

    let mut running = launch(&chain, dir.path(), &persisted, true).await;
    expect_revert_first(&mut running, &dead).await;
    wait_in_sync(&chain, &persisted).await;
    assert_eq!(persisted.head(chain.block(0).unwrap()), chain.tip());
    stop(running).await;
}

/// The first notification after a restart reverts (at least) the ExEx's `dead` blocks.
async fn expect_revert_first(running: &mut Running, dead: &[BlockNumHash]) {
    match next(&mut running.seen).await {
        ExExNotification::ChainReverted { old } => {
            let reverted: Vec<_> = old.blocks_iter().map(|b| b.num_hash()).collect();
            assert!(
                reverted.ends_with(dead),
                "the dead blocks {dead:?} are reverted (with the rest of their WAL entry), got {reverted:?}"
            );
        }
        other => panic!("expected a revert first, got {}", other.kind()),
    }
}

/// reth's manager finalizes the WAL only while every finished block is canonical: an ExEx that
/// finished block 10, then stalled while a reorg replaced blocks 8..=11 and block 12 was
/// finalized, finds on restart the WAL entry that committed its dead head, and gets the revert.
#[tokio::test]
async fn a_finished_block_reorged_away_before_finalization_is_reverted_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let chain = TestChain::new();
    let genesis = chain.block(0).unwrap();
    let persisted = Persisted::default();
    let (seen_tx, mut seen) = mpsc::unbounded_channel();
    let stalled = persisted.clone();
    let mut host = HostBuilder::new(HostConfig::new(dir.path()), chain.source())
        .install_exex("recorder", async move |mut ctx: ExExContext| {
            Ok(async move {
                // Takes the first notification, reports it finished, then stalls.
                if let Some(n) = ctx.notifications.try_next().await? {
                    let head = stalled.apply(&n, genesis)?;
                    ctx.send_finished_height(head)?;
                    let _ = seen_tx.send(n);
                }
                std::future::pending::<eyre::Result<()>>().await
            })
        })
        .launch()
        .await
        .unwrap();
    chain.commit(10, 1);
    next(&mut seen).await;
    let dead: Vec<_> = persisted.blocks()[7..].to_vec();
    // Block 11 fills the stalled ExEx's channel; the reorg waits in the manager.
    chain.commit(1, 0);
    chain.reorg(4, 4, 2);
    chain.commit(1, 0);
    chain.finalize(12);
    tokio::time::sleep(Duration::from_millis(300)).await;
    host.stop().await;

    let mut running = launch(&chain, dir.path(), &persisted, true).await;
    expect_revert_first(&mut running, &dead).await;
    wait_in_sync(&chain, &persisted).await;
    stop(running).await;
}

/// reth's `exex_notifications_backfill_drains_channel`, at the host: while one ExEx backfills
/// a long history slowly, the manager (here with room for 2 notifications) and a second ExEx
/// keep receiving the live blocks.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_backfill_never_holds_back_another_exex() {
    use std::sync::atomic::{AtomicU64, Ordering};
    let dir = tempfile::tempdir().unwrap();
    let chain = TestChain::new();
    let genesis = chain.block(0).unwrap();
    chain.commit(3_000, 0);
    let mut config = HostConfig::new(dir.path());
    config.exex_manager_capacity = 2;
    config.exex_channel_capacity = 1;
    let backfilled = Arc::new(AtomicU64::new(0));
    let progress = Arc::clone(&backfilled);
    let (live_tx, mut live_seen) = mpsc::unbounded_channel();
    let mut host = HostBuilder::new(config, chain.source())
        .install_exex("backfiller", async move |mut ctx: ExExContext| {
            ctx.set_notifications_with_head(ExExHead::new(genesis));
            Ok(async move {
                while let Some(n) = ctx.notifications.try_next().await? {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    if let Some(new) = n.committed_chain() {
                        progress.store(new.tip().num_hash().number, Ordering::SeqCst);
                    }
                }
                Ok(())
            })
        })
        .install_exex("live", async move |mut ctx: ExExContext| {
            Ok(async move {
                while let Some(n) = ctx.notifications.try_next().await? {
                    let _ = live_tx.send(n);
                }
                Ok(())
            })
        })
        .launch()
        .await
        .unwrap();
    // Five live blocks while the backfiller works through 30 chunks of 100 blocks.
    for _ in 0..5 {
        chain.commit(1, 0);
    }
    for expected in 3_001..=3_005 {
        let n = next(&mut live_seen).await;
        assert_eq!(n.committed_chain().unwrap().tip().num_hash().number, expected);
    }
    let reached = backfilled.load(Ordering::SeqCst);
    assert!(reached < 3_000, "the live ExEx waited for the backfill (it had reached {reached})");
    host.stop().await;
}

#[tokio::test]
async fn an_exex_that_returns_stops_the_host_with_its_name() {
    let dir = tempfile::tempdir().unwrap();
    let chain = TestChain::new();
    let host = HostBuilder::new(HostConfig::new(dir.path()), chain.source())
        .install_exex("quitter", async move |_ctx: ExExContext| Ok(async { Ok(()) }))
        .launch()
        .await
        .unwrap();
    let err = tokio::time::timeout(WAIT, host.wait_for_node_exit()).await.unwrap().unwrap_err();
    assert!(format!("{err:#}").contains("ExEx quitter finished"), "{err:#}");

    let host = HostBuilder::new(HostConfig::new(dir.path()), chain.source())
        .install_exex("crasher", async move |_ctx: ExExContext| {
            Ok(async { Err(eyre::eyre!("boom")) })
        })
        .launch()
        .await
        .unwrap();
    let err = tokio::time::timeout(WAIT, host.wait_for_node_exit()).await.unwrap().unwrap_err();
    let text = format!("{err:#}");
    assert!(text.contains("ExEx crasher crashed") && text.contains("boom"), "{text}");
}

#[tokio::test]
async fn install_exex_if_and_rpc_modules_are_merged() {
    let dir = tempfile::tempdir().unwrap();
    let chain = TestChain::new();
    let mut config = HostConfig::new(dir.path());
    config.http_addr = Some("127.0.0.1:0".parse().unwrap());
    let (tx, mut seen) = mpsc::unbounded_channel();
    let tx2 = tx.clone();
    let genesis = chain.block(0).unwrap();
    let mut host = HostBuilder::new(config, chain.source())
        .install_exex_if(false, "disabled", async move |ctx: ExExContext| {
            Ok(recording_exex(ctx, Persisted::default(), BlockNumHash::default(), true, tx2))
        })
        .install_exex("enabled", async move |ctx: ExExContext| {
            Ok(recording_exex(ctx, Persisted::default(), genesis, true, tx))
        })
        .extend_rpc_modules(|ctx| {
            let mut module = jsonrpsee::RpcModule::new(());
            module.register_method("test_hello", |_, _, _| "hello")?;
            ctx.modules.merge(module)?;
            Ok(())
        })
        .launch()
        .await
        .unwrap();
    chain.commit(1, 0);
    next(&mut seen).await;
    // Exactly one ExEx is installed: one notification, not two.
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(seen.try_recv().is_err());

    let addr = host.rpc_addr().unwrap();
    let client = jsonrpsee::http_client::HttpClientBuilder::default()
        .request_timeout(WAIT)
        .build(format!("http://{addr}"))
        .unwrap();
    let answer: String =
        jsonrpsee::core::client::ClientT::request(&client, "test_hello", jsonrpsee::rpc_params![])
            .await
            .unwrap();
    assert_eq!(answer, "hello");
    host.stop().await;
}

#[tokio::test]
async fn a_dyn_context_receives_notifications_and_reports_its_height() {
    let dir = tempfile::tempdir().unwrap();
    let chain = TestChain::new();
    let (seen_tx, mut seen) = mpsc::unbounded_channel();
    let mut host = HostBuilder::new(HostConfig::new(dir.path()), chain.source())
        .install_exex("dyn", async move |ctx: ExExContext| {
            // Node-agnostic from here on: only the boxed stream and the events channel.
            let mut ctx = ctx.into_dyn();
            Ok(async move {
                while let Some(notification) = ctx.notifications.try_next().await? {
                    if let Some(new) = notification.committed_chain() {
                        ctx.send_finished_height(new.tip().num_hash())?;
                    }
                    let _ = seen_tx.send(notification);
                }
                Ok(())
            })
        })
        .launch()
        .await
        .unwrap();
    let committed = chain.commit(3, 1);
    assert_eq!(next(&mut seen).await.committed_chain(), Some(committed));
    let mut finished = host.finished_height();
    let tip = chain.tip().number;
    tokio::time::timeout(
        WAIT,
        finished.wait_for(|h| matches!(h, FinishedExExHeight::Height(n) if *n == tip)),
    )
    .await
    .expect("the finished height reaches the tip")
    .unwrap();
    host.stop().await;
}

#[tokio::test]
async fn without_head_skips_the_catch_up_a_head_would_bring() {
    let dir = tempfile::tempdir().unwrap();
    let chain = TestChain::new();
    let genesis = chain.block(0).unwrap();
    // The host sees blocks 1..=3; the ExEx keeps nothing.
    let first = launch(&chain, dir.path(), &Persisted::default(), false).await;
    chain.commit(3, 0);
    let mut first = first;
    next(&mut first.seen).await;
    stop(first).await;

    // Restarted: the ExEx sets a head at genesis, then changes its mind and asks for live
    // notifications only. No backfill of 1..=3 arrives; the next block does.
    let (seen_tx, mut seen) = mpsc::unbounded_channel();
    let mut host = HostBuilder::new(HostConfig::new(dir.path()), chain.source())
        .install_exex("recorder", async move |mut ctx: ExExContext| {
            ctx.set_notifications_with_head(ExExHead::new(genesis));
            ctx.set_notifications_without_head();
            Ok(async move {
                while let Some(notification) = ctx.notifications.try_next().await? {
                    let _ = seen_tx.send(notification);
                }
                Ok(())
            })
        })
        .launch()
        .await
        .unwrap();
    let live = chain.commit(1, 0);
    let first_seen = next(&mut seen).await;
    assert_eq!(first_seen.committed_chain(), Some(live), "only the live block arrives");
    host.stop().await;
}
