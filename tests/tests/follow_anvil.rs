//! The host driven by `RpcBlockSource` against real anvil nodes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{
    io::{BufRead, BufReader},
    process::{Command, Stdio},
    sync::Arc,
    time::Duration,
};

use alloy::transports::http::reqwest::Url;
use alloy::{
    consensus::BlockHeader as _,
    eips::{BlockId, BlockNumHash},
    primitives::B256,
    providers::Provider,
};
use devnet::{Anvil, AnvilConfig, DEV_ACCOUNT_KEYS, Traffic};
use e2e_tests::{STORE_EXEX_ID, store_exex};
use exex_host::{
    ExExNotification, HostBuilder, HostConfig, HostHandle, RpcBlockSource, RpcBlockSourceConfig,
};
use gateway_store::Store;
use tokio::sync::mpsc;

const WAIT: Duration = Duration::from_secs(60);

struct Following {
    host: HostHandle,
    seen: mpsc::UnboundedReceiver<ExExNotification>,
    store: Arc<Store>,
}

async fn follow(anvil: &Anvil, datadir: &std::path::Path) -> Following {
    follow_with(anvil, datadir, 0).await
}

async fn follow_with(anvil: &Anvil, datadir: &std::path::Path, confirmations: u64) -> Following {
    follow_url(anvil.endpoint(), datadir, confirmations).await
}

async fn follow_url(url: Url, datadir: &std::path::Path, confirmations: u64) -> Following {
    let mut config = RpcBlockSourceConfig::new(url);
    config.poll_interval = Duration::from_millis(50);
    config.start_after = Some(0);
    config.catch_up_range = 16;
    config.confirmations = confirmations;
    let store = Arc::new(Store::open(datadir).unwrap());
    let (observer, seen) = mpsc::unbounded_channel();
    let exex_store = Arc::clone(&store);
    let host = HostBuilder::new(HostConfig::new(datadir), RpcBlockSource::new(config))
        .install_exex(STORE_EXEX_ID, async move |ctx| {
            Ok(store_exex(ctx, exex_store, Some(observer)))
        })
        .launch()
        .await
        .unwrap();
    Following { host, seen, store }
}

/// Collects notifications until the ExEx's head is `tip`; returns them.
async fn until_head(
    seen: &mut mpsc::UnboundedReceiver<ExExNotification>,
    tip: BlockNumHash,
) -> Vec<ExExNotification> {
    let mut out = Vec::new();
    tokio::time::timeout(WAIT, async {
        loop {
            let n = seen.recv().await.expect("the ExEx stopped");
            let head = n.committed_chain().map(|c| c.tip().num_hash());
            out.push(n);
            if head == Some(tip) {
                break;
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("the ExEx never reached {tip:?}"));
    out
}

async fn anvil_tip(traffic: &Traffic) -> BlockNumHash {
    let block = traffic.provider().get_block(BlockId::latest()).await.unwrap().unwrap();
    BlockNumHash::new(block.header.number(), block.header.hash)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn committed_stream_equals_anvil_blocks_and_receipts() {
    let anvil = Anvil::spawn(AnvilConfig::default()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut following = follow(&anvil, dir.path()).await;
    let mut traffic = Traffic::new(anvil.endpoint(), DEV_ACCOUNT_KEYS[0]).unwrap();
    traffic.deploy_emitter().await.unwrap();
    // Traffic while the host follows: 55 blocks of 1 to 4 transactions.
    for round in 0..11 {
        traffic.blocks(5, 1 + round % 4).await.unwrap();
    }
    let tip = anvil_tip(&traffic).await;
    assert!(tip.number >= 50);
    let notifications = until_head(&mut following.seen, tip).await;
    assert!(notifications.iter().all(|n| matches!(n, ExExNotification::ChainCommitted { .. })));

    let mut next = 1;
    let mut txs = 0;
    let mut logs = 0;
    for notification in &notifications {
        let chain = notification.committed_chain().unwrap();
        for (block, receipts) in chain.blocks_and_receipts() {
            assert_eq!(block.number(), next, "blocks arrive in order, without gap");
            next += 1;
            let rpc =
                traffic.provider().get_block(block.number().into()).full().await.unwrap().unwrap();
            assert_eq!(block.hash(), rpc.header.hash);
            let rpc_txs: Vec<B256> = rpc.transactions.hashes().collect();
            let our_txs: Vec<B256> = block.body().transactions.iter().map(|t| *t.hash()).collect();
            assert_eq!(our_txs, rpc_txs);
            let rpc_senders: Vec<_> = rpc.transactions.txns().map(|t| t.inner.signer()).collect();
            assert_eq!(block.senders(), rpc_senders.as_slice());
            let rpc_receipts = traffic
                .provider()
                .get_block_receipts(block.number().into())
                .await
                .unwrap()
                .unwrap();
            assert_eq!(receipts.len(), rpc_receipts.len());
            for (ours, theirs) in receipts.iter().zip(&rpc_receipts) {
                assert_eq!(ours.success, theirs.status());
                assert_eq!(ours.cumulative_gas_used, theirs.inner.cumulative_gas_used());
                let their_logs: Vec<_> =
                    theirs.inner.logs().iter().map(|l| l.inner.clone()).collect();
                assert_eq!(ours.logs, their_logs);
                logs += ours.logs.len();
            }
            txs += receipts.len();
        }
    }
    assert_eq!(next, tip.number + 1);
    assert!(txs >= 100 && logs >= 20, "traffic had {txs} transactions and {logs} logs");
    following.host.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anvil_reorg_yields_one_chain_reorged() {
    let anvil = Anvil::spawn(AnvilConfig::default()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut following = follow(&anvil, dir.path()).await;
    let traffic = Traffic::new(anvil.endpoint(), DEV_ACCOUNT_KEYS[0]).unwrap();
    traffic.blocks(10, 2).await.unwrap();
    let tip = anvil_tip(&traffic).await;
    until_head(&mut following.seen, tip).await;
    let before: Vec<BlockNumHash> = following
        .store
        .blocks(8..=10)
        .unwrap()
        .iter()
        .map(|b| BlockNumHash::new(b.number, b.hash))
        .collect();

    traffic.reorg(3).await.unwrap();
    let new_tip = anvil_tip(&traffic).await;
    assert_ne!(new_tip.hash, tip.hash);
    let notifications = until_head(&mut following.seen, new_tip).await;
    assert_eq!(notifications.len(), 1, "one notification for the reorg");
    let ExExNotification::ChainReorged { old, new } = &notifications[0] else {
        panic!("expected ChainReorged, got {}", notifications[0].kind())
    };
    let old: Vec<_> = old.blocks_iter().map(|b| b.num_hash()).collect();
    assert_eq!(old, before);
    for block in new.blocks_iter() {
        let rpc = traffic.provider().get_block(block.number().into()).await.unwrap().unwrap();
        assert_eq!(block.hash(), rpc.header.hash);
    }
    assert_eq!(new.range(), 8..=10);
    // The store followed the reorg.
    assert_eq!(following.store.head(STORE_EXEX_ID).unwrap(), Some(new_tip));
    following.host.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reorg_after_a_host_restart_takes_the_old_blocks_from_the_wal() {
    let anvil = Anvil::spawn(AnvilConfig::default()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let traffic = Traffic::new(anvil.endpoint(), DEV_ACCOUNT_KEYS[0]).unwrap();
    let mut following = follow(&anvil, dir.path()).await;
    traffic.blocks(10, 1).await.unwrap();
    let tip = anvil_tip(&traffic).await;
    until_head(&mut following.seen, tip).await;
    let before: Vec<BlockNumHash> = following
        .store
        .blocks(9..=10)
        .unwrap()
        .iter()
        .map(|b| BlockNumHash::new(b.number, b.hash))
        .collect();
    following.host.stop().await;
    drop(following);

    // A new host process starts with an empty window: the reorg's old blocks come from the WAL.
    let mut following = follow(&anvil, dir.path()).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    traffic.reorg(2).await.unwrap();
    let new_tip = anvil_tip(&traffic).await;
    let notifications = until_head(&mut following.seen, new_tip).await;
    let ExExNotification::ChainReorged { old, new } = notifications.last().unwrap() else {
        panic!("expected ChainReorged, got {}", notifications.last().unwrap().kind())
    };
    let old: Vec<_> = old.blocks_iter().map(|b| b.num_hash()).collect();
    assert_eq!(old, before);
    assert_eq!(new.range(), 9..=10);
    assert_eq!(following.store.head(STORE_EXEX_ID).unwrap(), Some(new_tip));
    following.host.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endpoint_stopped_for_10s_and_restarted_is_followed_again() {
    let state = tempfile::tempdir().unwrap();
    let mut anvil = Anvil::spawn(AnvilConfig {
        state: Some(state.path().join("anvil.json")),
        ..Default::default()
    })
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut following = follow(&anvil, dir.path()).await;
    let traffic = Traffic::new(anvil.endpoint(), DEV_ACCOUNT_KEYS[0]).unwrap();
    traffic.blocks(5, 1).await.unwrap();
    let tip = anvil_tip(&traffic).await;
    until_head(&mut following.seen, tip).await;

    anvil.stop();
    tokio::time::sleep(Duration::from_secs(10)).await;
    anvil.restart().unwrap();
    assert_eq!(anvil_tip(&traffic).await, tip, "anvil restored its chain");
    traffic.blocks(5, 1).await.unwrap();
    let new_tip = anvil_tip(&traffic).await;
    let notifications = until_head(&mut following.seen, new_tip).await;
    assert!(notifications.iter().all(|n| matches!(n, ExExNotification::ChainCommitted { .. })));
    let stored = following.store.blocks(1..=new_tip.number).unwrap();
    assert_eq!(stored.len() as u64, new_tip.number, "no gap across the outage");
    following.host.stop().await;
}

/// reth's `exex_notifications_behind_head_canonical`, across a node restart: the followed node
/// comes back behind the host's last block (an older copy of its own chain). The host waits
/// for it instead of reverting what it delivered; once the node mines new blocks (a fork below
/// the host's old tip), that real reorg is delivered as one, without waiting for the node to
/// pass the old tip.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_restarted_behind_the_host_is_waited_for_not_reverted() {
    let state = tempfile::tempdir().unwrap();
    let state_file = state.path().join("anvil.json");
    let mut anvil =
        Anvil::spawn(AnvilConfig { state: Some(state_file.clone()), ..Default::default() })
            .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut following = follow(&anvil, dir.path()).await;
    let traffic = Traffic::new(anvil.endpoint(), DEV_ACCOUNT_KEYS[0]).unwrap();
    traffic.blocks(5, 1).await.unwrap();
    let behind = anvil_tip(&traffic).await;
    // Anvil writes its state when it stops: keep the copy at block `behind`.
    anvil.stop();
    std::fs::copy(&state_file, state.path().join("behind.json")).unwrap();
    anvil.restart().unwrap();
    traffic.blocks(5, 1).await.unwrap();
    let tip = anvil_tip(&traffic).await;
    until_head(&mut following.seen, tip).await;

    // The node comes back from the older copy: same chain, 5 blocks behind the host.
    anvil.stop();
    std::fs::copy(state.path().join("behind.json"), &state_file).unwrap();
    anvil.restart().unwrap();
    assert_eq!(anvil_tip(&traffic).await, behind);
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        following.seen.try_recv().is_err(),
        "nothing is reverted or delivered while the node is behind"
    );
    assert_eq!(following.store.head(STORE_EXEX_ID).unwrap(), Some(tip));

    // It mines on, on new blocks: still below the host's tip, but on another fork (a reorg to
    // a shorter chain), delivered at once, whole.
    traffic.blocks(2, 1).await.unwrap();
    let new_tip = anvil_tip(&traffic).await;
    let notifications = until_head(&mut following.seen, new_tip).await;
    let reverted: Vec<u64> = notifications
        .iter()
        .filter_map(|n| n.reverted_chain())
        .flat_map(|old| old.blocks_iter().map(|b| b.number()).collect::<Vec<_>>())
        .collect();
    assert_eq!(reverted, (behind.number + 1..=tip.number).collect::<Vec<_>>());
    let stored = following.store.blocks(1..=new_tip.number).unwrap();
    assert!(stored.windows(2).all(|w| w[1].parent_hash == w[0].hash));
    following.host.stop().await;
}

/// A node without `eth_getBlockReceipts` (ganache is one): the host reads each block's receipts
/// per transaction, in one batched request, and delivers the same blocks and receipts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_without_eth_get_block_receipts_is_followed_through_transaction_receipts() {
    let anvil = Anvil::spawn(AnvilConfig::default()).unwrap();
    let front = FlakyRpc::serving(
        &anvil,
        u64::MAX,
        &[
            "eth_blockNumber",
            "eth_chainId",
            "eth_getBlockByNumber",
            "eth_getBlockByHash",
            "eth_getTransactionReceipt",
        ],
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let mut following = follow_url(front.url.clone(), dir.path(), 0).await;
    let traffic = Traffic::new(anvil.endpoint(), DEV_ACCOUNT_KEYS[0]).unwrap();
    traffic.blocks(4, 3).await.unwrap();
    traffic.blocks(2, 0).await.unwrap();
    let tip = anvil_tip(&traffic).await;
    let notifications = until_head(&mut following.seen, tip).await;
    let mut txs = 0;
    for (block, receipts) in notifications.iter().flat_map(|n| {
        n.committed_chain()
            .unwrap()
            .blocks_and_receipts()
            .map(|(b, r)| (Arc::clone(b), r.to_vec()))
            .collect::<Vec<_>>()
    }) {
        let rpc =
            traffic.provider().get_block_receipts(block.number().into()).await.unwrap().unwrap();
        assert_eq!(receipts.len(), rpc.len(), "block {}", block.number());
        for (ours, theirs) in receipts.iter().zip(&rpc) {
            assert_eq!(ours.cumulative_gas_used, theirs.inner.cumulative_gas_used());
            assert_eq!(ours.logs.len(), theirs.inner.logs().len());
        }
        txs += receipts.len();
    }
    assert_eq!(txs, 12, "every transaction's receipt");
    following.host.stop().await;
}

/// The followed node comes back as another chain (a fresh anvil on the same port): the host
/// stops with an error naming the genesis it sees and the one its WAL was written for.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_restarted_on_another_chain_stops_the_host_naming_both_geneses() {
    let mut anvil = Anvil::spawn(AnvilConfig::default()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut following = follow(&anvil, dir.path()).await;
    let traffic = Traffic::new(anvil.endpoint(), DEV_ACCOUNT_KEYS[0]).unwrap();
    let genesis = traffic.provider().get_block(0.into()).await.unwrap().unwrap().header.hash;
    traffic.blocks(3, 1).await.unwrap();
    let tip = anvil_tip(&traffic).await;
    until_head(&mut following.seen, tip).await;

    // Without a state file, a restart is a new chain (a new genesis block).
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    anvil.restart().unwrap();
    let fresh = traffic.provider().get_block(0.into()).await.unwrap().unwrap().header.hash;
    assert_ne!(fresh, genesis, "anvil made a new chain");
    let exit = tokio::time::timeout(WAIT, following.host.wait_for_node_exit())
        .await
        .expect("the host stops");
    let err = format!("{:#}", exit.expect_err("the host stops with an error"));
    assert!(err.contains("another chain"), "{err}");
    assert!(err.contains(&fresh.to_string()) && err.contains(&genesis.to_string()), "{err}");
}

/// Runs the `e2e-follower` binary, a real host process, and reads its `head` lines.
struct Follower {
    child: std::process::Child,
    heads: std::sync::mpsc::Receiver<u64>,
}

impl Follower {
    fn spawn(anvil: &Anvil, datadir: &std::path::Path) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_e2e-follower"))
            .args([
                "node",
                "--chain.rpc-url",
                anvil.endpoint().as_str(),
                "--chain.poll-interval",
                "50ms",
            ])
            .args(["--chain.start-after", "0", "--chain.catch-up-range", "4"])
            .arg("--datadir")
            .arg(datadir)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, heads) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(number) = line.strip_prefix("head ").and_then(|r| r.split(' ').next()) {
                    let _ = tx.send(number.parse().unwrap());
                }
            }
        });
        Self { child, heads }
    }

    fn wait_for_head(&self, number: u64) {
        let deadline = std::time::Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.heads.recv_timeout(left) {
                Ok(head) if head >= number => return,
                Ok(_) => {}
                Err(_) => panic!("the follower never reached block {number}"),
            }
        }
    }

    fn signal(&self, signal: &str) {
        let status =
            Command::new("kill").args([signal, &self.child.id().to_string()]).status().unwrap();
        assert!(status.success());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_host_process_resumes_from_its_persisted_head() {
    let anvil = Anvil::spawn(AnvilConfig::default()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let traffic = Traffic::new(anvil.endpoint(), DEV_ACCOUNT_KEYS[0]).unwrap();
    traffic.blocks(20, 2).await.unwrap();

    // Kill -9 while it is catching up.
    let mut follower = Follower::spawn(&anvil, dir.path());
    follower.wait_for_head(4);
    follower.signal("-KILL");
    let _ = follower.child.wait();

    // Blocks keep coming while it is down, and while it restarts.
    traffic.blocks(10, 2).await.unwrap();
    let mut follower = Follower::spawn(&anvil, dir.path());
    traffic.blocks(10, 2).await.unwrap();
    let tip = anvil_tip(&traffic).await;
    follower.wait_for_head(tip.number);
    follower.signal("-TERM");
    let status =
        tokio::time::timeout(WAIT, tokio::task::spawn_blocking(move || follower.child.wait()))
            .await
            .unwrap()
            .unwrap()
            .unwrap();
    assert!(
        status.success(),
        "the follower exited with {status}: an ExEx error (gap or duplicate) stops it"
    );

    // Every block exactly once, equal to anvil's.
    let store = Store::open(dir.path()).unwrap();
    let stored = store.blocks(0..=tip.number + 10).unwrap();
    assert_eq!(stored.len() as u64, tip.number);
    for (expected, record) in (1..=tip.number).zip(&stored) {
        assert_eq!(record.number, expected);
        let rpc = traffic.provider().get_block(expected.into()).await.unwrap().unwrap();
        assert_eq!(record.hash, rpc.header.hash);
    }
    assert_eq!(store.head(STORE_EXEX_ID).unwrap(), Some(tip));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn confirmations_hold_back_the_newest_blocks() {
    let anvil = Anvil::spawn(AnvilConfig::default()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut following = follow_with(&anvil, dir.path(), 3).await;
    let traffic = Traffic::new(anvil.endpoint(), DEV_ACCOUNT_KEYS[0]).unwrap();
    traffic.blocks(10, 1).await.unwrap();
    let tip = anvil_tip(&traffic).await;
    let seven = traffic.provider().get_block(7.into()).await.unwrap().unwrap();
    until_head(&mut following.seen, BlockNumHash::new(tip.number - 3, seven.header.hash)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(following.seen.try_recv().is_err(), "nothing above tip - 3 is delivered");
    traffic.mine(1).await.unwrap();
    let eight = traffic.provider().get_block(8.into()).await.unwrap().unwrap();
    until_head(&mut following.seen, BlockNumHash::new(8, eight.header.hash)).await;
    following.host.stop().await;
}

/// A JSON-RPC front of a real anvil that refuses about one request in `one_in` (picked by a
/// fixed hash of the request's sequence number: an endpoint that drops requests now and then).
struct FlakyRpc {
    url: Url,
    failed: Arc<std::sync::atomic::AtomicU64>,
    /// Requests are dropped only once armed.
    armed: Arc<std::sync::atomic::AtomicBool>,
    _server: jsonrpsee::server::ServerHandle,
}

impl FlakyRpc {
    async fn start(anvil: &Anvil, one_in: u64) -> Self {
        Self::serving(
            anvil,
            one_in,
            &[
                "eth_blockNumber",
                "eth_chainId",
                "eth_getBlockByNumber",
                "eth_getBlockByHash",
                "eth_getBlockReceipts",
            ],
        )
        .await
    }

    /// A front that serves only `methods` (others answer -32601, method not found).
    async fn serving(anvil: &Anvil, one_in: u64, methods: &[&'static str]) -> Self {
        use std::sync::atomic::{AtomicU64, Ordering};
        let upstream =
            alloy::providers::RootProvider::<alloy::network::Ethereum>::new_http(anvil.endpoint());
        let requests = Arc::new(AtomicU64::new(0));
        let failed = Arc::new(AtomicU64::new(0));
        let armed = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let mut module = jsonrpsee::RpcModule::new(());
        for method in methods.iter().copied() {
            let upstream = upstream.clone();
            let requests = Arc::clone(&requests);
            let failed = Arc::clone(&failed);
            let armed = Arc::clone(&armed);
            module
                .register_async_method(method, move |params, _, _| {
                    let upstream = upstream.clone();
                    let requests = Arc::clone(&requests);
                    let failed = Arc::clone(&failed);
                    let armed = armed.load(Ordering::SeqCst);
                    let params = params.as_str().unwrap_or("[]").to_owned();
                    async move {
                        let n = requests.fetch_add(1, Ordering::SeqCst);
                        if armed
                            && gateway_primitives::vectors::SplitMix(n)
                                .next()
                                .is_multiple_of(one_in)
                        {
                            failed.fetch_add(1, Ordering::SeqCst);
                            return Err(jsonrpsee::types::ErrorObjectOwned::owned(
                                -32000,
                                "flaky endpoint: request dropped",
                                None::<()>,
                            ));
                        }
                        let params = serde_json::value::RawValue::from_string(params).unwrap();
                        upstream.raw_request_dyn(method.into(), &params).await.map_err(|e| {
                            jsonrpsee::types::ErrorObjectOwned::owned(
                                -32000,
                                e.to_string(),
                                None::<()>,
                            )
                        })
                    }
                })
                .unwrap();
        }
        let server = jsonrpsee::server::Server::builder().build("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", server.local_addr().unwrap()).parse().unwrap();
        Self { url, failed, armed, _server: server.start(module) }
    }
}

/// Replays notifications on a list of block ids: every commit must extend the list's tip and
/// every reorg or revert must take off exactly the list's newest blocks.
fn replay(chain: &mut Vec<BlockNumHash>, notification: &ExExNotification) {
    if let Some(old) = notification.reverted_chain() {
        let old: Vec<BlockNumHash> = old.blocks_iter().map(|b| b.num_hash()).collect();
        assert!(
            chain.ends_with(&old),
            "a {} reverts {:?}..{:?}, not the delivered tip {:?}",
            notification.kind(),
            old.first(),
            old.last(),
            chain.last()
        );
        chain.truncate(chain.len() - old.len());
    }
    if let Some(new) = notification.committed_chain() {
        let first = new.first();
        assert_eq!(
            Some(first.parent_hash()),
            chain.last().map(|b| b.hash),
            "block {} does not extend the delivered tip",
            first.number()
        );
        chain.extend(new.blocks_iter().map(|b| b.num_hash()));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reorgs_while_the_endpoint_drops_requests_are_delivered_whole() {
    let anvil = Anvil::spawn(AnvilConfig::default()).unwrap();
    let flaky = FlakyRpc::start(&anvil, 12).await;
    let dir = tempfile::tempdir().unwrap();
    let traffic = Traffic::new(anvil.endpoint(), DEV_ACCOUNT_KEYS[0]).unwrap();
    let genesis = traffic.provider().get_block(0.into()).await.unwrap().unwrap();
    let mut chain = vec![BlockNumHash::new(0, genesis.header.hash)];
    let mut following = follow_url(flaky.url.clone(), dir.path(), 0).await;
    flaky.armed.store(true, std::sync::atomic::Ordering::SeqCst);
    let mut reorgs = 0;
    for depth in [2, 3, 4, 2, 3, 5] {
        traffic.blocks(6, 1).await.unwrap();
        let tip = anvil_tip(&traffic).await;
        for n in until_head(&mut following.seen, tip).await {
            replay(&mut chain, &n);
        }
        traffic.reorg(depth).await.unwrap();
        let tip = anvil_tip(&traffic).await;
        for n in until_head(&mut following.seen, tip).await {
            reorgs += usize::from(matches!(n, ExExNotification::ChainReorged { .. }));
            replay(&mut chain, &n);
        }
    }
    assert_eq!(reorgs, 6, "one ChainReorged per anvil_reorg");
    assert!(
        flaky.failed.load(std::sync::atomic::Ordering::SeqCst) > 10,
        "the endpoint dropped requests"
    );
    // What the ExEx was told adds up to anvil's canonical chain.
    for block in &chain {
        let canonical = traffic.provider().get_block(block.number.into()).await.unwrap().unwrap();
        assert_eq!(block.hash, canonical.header.hash, "block {}", block.number);
    }
    assert_eq!(chain.last().copied(), Some(anvil_tip(&traffic).await));
    following.host.stop().await;
}
