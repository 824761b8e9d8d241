//! [`ExExManager`]: fans notifications out to every installed ExEx (reth's `ExExManager`).
//!
//! The manager writes each notification to the [`Wal`] before buffering it, then hands it to
//! each ExEx in order through that ExEx's bounded channel. The buffer holds at most
//! `max_capacity` notifications; when it is full the [`ExExManagerHandle`] reports no capacity
//! and [`ExExManagerHandle::send_async`] waits, so a slow ExEx slows the block source instead of
//! losing notifications or growing a queue without bound. Nothing is ever dropped for an ExEx except commits at or below the
//! height it has already finished.

use alloy::consensus::BlockHeader as _;
use std::{
    collections::VecDeque,
    future::Future,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
};

use alloy::eips::BlockNumHash;
use futures::StreamExt;
use metrics::{Counter, Gauge, counter, gauge};
use reth_primitives_traits::NodePrimitives;
use tokio::sync::{Semaphore, mpsc, watch};
use tokio_stream::wrappers::WatchStream;
use tokio_util::sync::PollSender;
use tracing::{debug, warn};

use crate::{
    BlockProvider, EthPrimitives, ExExEvent, ExExNotification, ExExNotifications,
    FinishedExExHeight, HostError, Wal,
};

/// How many notifications the manager buffers by default.
pub const DEFAULT_EXEX_MANAGER_CAPACITY: usize = 1024;

/// How many notifications wait in each ExEx's channel by default (reth uses one).
pub const DEFAULT_EXEX_CHANNEL_CAPACITY: usize = 1;

/// The manager's end of one ExEx (reth's `ExExHandle`).
#[derive(Debug)]
pub struct ExExHandle<N: NodePrimitives = EthPrimitives> {
    id: String,
    sender: PollSender<ExExNotification<N>>,
    receiver: mpsc::UnboundedReceiver<ExExEvent>,
    next_notification_id: u64,
    finished_height: Option<BlockNumHash>,
    notifications_sent: Counter,
    notifications_skipped: Counter,
    events_received: Counter,
}

impl<N: NodePrimitives> ExExHandle<N> {
    /// Creates the handle of ExEx `id`, with the event sender and notification stream that go
    /// into its context.
    pub fn new(
        id: impl Into<String>,
        channel_capacity: usize,
        provider: Arc<dyn BlockProvider<N>>,
        wal: &Wal<N>,
    ) -> (Self, mpsc::UnboundedSender<ExExEvent>, ExExNotifications<N>) {
        let id = id.into();
        let (notification_tx, notification_rx) = mpsc::channel(channel_capacity.max(1));
        let (event_tx, event_rx) = mpsc::unbounded_channel();
        let labels = [("exex", id.clone())];
        let handle = Self {
            notifications_sent: counter!("exex_notifications_sent_total", &labels),
            notifications_skipped: counter!("exex_notifications_skipped_total", &labels),
            events_received: counter!("exex_events_sent_total", &labels),
            id,
            sender: PollSender::new(notification_tx),
            receiver: event_rx,
            next_notification_id: 0,
            finished_height: None,
        };
        let notifications = ExExNotifications::new(notification_rx, provider, wal.handle());
        (handle, event_tx, notifications)
    }

    /// The ExEx's id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// A revert handed to the ExEx lowers its finished height to the fork point (its blocks
    /// above it are gone), so no commit above the fork is ever skipped as "already finished";
    /// a `FinishedHeight` for a block the WAL holds reverted is stale and ignored (poll).
    fn note_revert(&mut self, notification: &ExExNotification<N>) {
        if let Some(old) = notification.reverted_chain() {
            let fork = old.fork_block();
            if self.finished_height.is_some_and(|f| f.number > fork.number) {
                self.finished_height = Some(fork);
            }
        }
    }

    /// Tries to hand notification `id` to the ExEx. `Ready(Ok)` when it was sent or skipped.
    fn poll_send(
        &mut self,
        cx: &mut Context<'_>,
        id: u64,
        notification: &ExExNotification<N>,
    ) -> Poll<Result<(), HostError>> {
        if let (Some(finished), ExExNotification::ChainCommitted { new }) =
            (self.finished_height, notification)
            && finished.number >= new.tip().number()
        {
            debug!(
                target: "exex::manager",
                exex = %self.id,
                tip = new.tip().number(),
                "skipping commit below finished height"
            );
            self.next_notification_id = id + 1;
            self.notifications_skipped.increment(1);
            return Poll::Ready(Ok(()));
        }
        match self.sender.poll_reserve(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Err(_)) => Poll::Ready(Err(HostError::ChannelClosed("exex notifications"))),
            Poll::Ready(Ok(())) => {
                if self.sender.send_item(notification.clone()).is_err() {
                    return Poll::Ready(Err(HostError::ChannelClosed("exex notifications")));
                }
                self.note_revert(notification);
                self.next_notification_id = id + 1;
                self.notifications_sent.increment(1);
                Poll::Ready(Ok(()))
            }
        }
    }
}

/// The cloneable side of the manager, used by the block source (reth's `ExExManagerHandle`).
///
/// [`Self::send_async`] takes one of `max_capacity` permits per notification and the manager
/// returns it once every ExEx has the notification, so at most `max_capacity` notifications are
/// ever waiting between the source and the slowest ExEx: a slow ExEx pauses the source.
#[derive(Debug, Clone)]
pub struct ExExManagerHandle<N: NodePrimitives = EthPrimitives> {
    sender: mpsc::UnboundedSender<(ExExNotification<N>, bool)>,
    num_exexs: usize,
    permits: Arc<Semaphore>,
    finished_height: watch::Receiver<FinishedExExHeight>,
}

impl<N: NodePrimitives> ExExManagerHandle<N> {
    /// Hands a notification to the manager at once, past the capacity limit.
    pub fn send(&self, notification: ExExNotification<N>) -> Result<(), HostError> {
        self.sender
            .send((notification, false))
            .map_err(|_| HostError::ChannelClosed("exex manager"))
    }

    /// Waits until the manager has room, then hands it a notification.
    pub async fn send_async(&mut self, notification: ExExNotification<N>) -> Result<(), HostError> {
        let permit =
            self.permits.acquire().await.map_err(|_| HostError::ChannelClosed("exex manager"))?;
        permit.forget();
        self.sender.send((notification, true)).map_err(|_| HostError::ChannelClosed("exex manager"))
    }

    /// Waits until the manager has room.
    pub async fn ready(&mut self) -> Result<(), HostError> {
        self.permits.acquire().await.map(drop).map_err(|_| HostError::ChannelClosed("exex manager"))
    }

    /// How many more notifications the manager takes now.
    pub fn capacity(&self) -> usize {
        self.permits.available_permits()
    }

    /// True when the manager takes another notification now.
    pub fn has_capacity(&self) -> bool {
        self.capacity() > 0
    }

    /// True when at least one ExEx is installed.
    pub const fn has_exexs(&self) -> bool {
        self.num_exexs > 0
    }

    /// The height every ExEx has finished.
    pub fn finished_height(&self) -> watch::Receiver<FinishedExExHeight> {
        self.finished_height.clone()
    }
}

/// Fans notifications out to ExExs; a future that runs until the host stops.
#[derive(Debug)]
pub struct ExExManager<N: NodePrimitives = EthPrimitives> {
    exexs: Vec<ExExHandle<N>>,
    receiver: mpsc::UnboundedReceiver<(ExExNotification<N>, bool)>,
    handle: ExExManagerHandle<N>,
    /// Notifications not yet delivered to every ExEx, with their id and whether they hold a
    /// permit of the handle.
    buffer: VecDeque<(u64, ExExNotification<N>, bool)>,
    max_capacity: usize,
    next_id: u64,
    min_id: u64,
    permits: Arc<Semaphore>,
    finished_height: watch::Sender<FinishedExExHeight>,
    finalized: WatchStream<Option<BlockNumHash>>,
    last_finalized: Option<BlockNumHash>,
    reported_full: bool,
    wal: Wal<N>,
    metrics: ManagerMetrics,
}

#[derive(Debug)]
struct ManagerMetrics {
    buffer_size: Gauge,
    current_capacity: Gauge,
    notifications_total: Counter,
    finished_height: Gauge,
}

impl<N: NodePrimitives> ExExManager<N> {
    /// Creates a manager over `exexs` that buffers up to `max_capacity` notifications, logs
    /// each to `wal`, and prunes the WAL as `finalized` advances.
    pub fn new(
        exexs: Vec<ExExHandle<N>>,
        max_capacity: usize,
        wal: Wal<N>,
        finalized: watch::Receiver<Option<BlockNumHash>>,
    ) -> Self {
        let max_capacity = max_capacity.max(1);
        let (sender, receiver) = mpsc::unbounded_channel();
        let initial = if exexs.is_empty() {
            FinishedExExHeight::NoExExs
        } else {
            FinishedExExHeight::NotReady
        };
        let (finished_height, finished_height_rx) = watch::channel(initial);
        let permits = Arc::new(Semaphore::new(max_capacity));
        gauge!("exex_manager_max_capacity").set(max_capacity as f64);
        gauge!("exex_manager_num_exexs").set(exexs.len() as f64);
        let handle = ExExManagerHandle {
            sender,
            num_exexs: exexs.len(),
            permits: Arc::clone(&permits),
            finished_height: finished_height_rx,
        };
        Self {
            exexs,
            receiver,
            handle,
            buffer: VecDeque::new(),
            max_capacity,
            next_id: 0,
            min_id: 0,
            permits,
            finished_height,
            finalized: WatchStream::new(finalized),
            last_finalized: None,
            reported_full: false,
            wal,
            metrics: ManagerMetrics {
                buffer_size: gauge!("exex_manager_buffer_size"),
                current_capacity: gauge!("exex_manager_current_capacity"),
                notifications_total: counter!("exex_manager_notifications_total"),
                finished_height: gauge!("exex_manager_finished_height"),
            },
        }
    }

    /// The handle the block source sends through.
    pub fn handle(&self) -> ExExManagerHandle<N> {
        self.handle.clone()
    }

    fn update_capacity(&self) {
        self.metrics.buffer_size.set(self.buffer.len() as f64);
        self.metrics.current_capacity.set(self.permits.available_permits() as f64);
    }

    fn compute_finished_height(&self) -> FinishedExExHeight {
        if self.exexs.is_empty() {
            return FinishedExExHeight::NoExExs;
        }
        let mut lowest = u64::MAX;
        for exex in &self.exexs {
            match exex.finished_height {
                Some(height) => lowest = lowest.min(height.number),
                None => return FinishedExExHeight::NotReady,
            }
        }
        FinishedExExHeight::Height(lowest)
    }

    fn finalize_wal(&self) -> Result<(), HostError> {
        let Some(finalized) = self.last_finalized else {
            return Ok(());
        };
        let mut to = finalized;
        for exex in &self.exexs {
            match exex.finished_height {
                // A finished block that a notification in the WAL replaced: the ExEx has not
                // taken that revert yet, and after a restart it needs the entry that committed
                // its head to revert it. Nothing is finalized until it moves on.
                Some(height) if self.wal.is_reverted(&height.hash) => {
                    debug!(target: "exex::manager", exex = %exex.id, height = height.number, "not finalizing the WAL: the ExEx's finished block was reverted");
                    return Ok(());
                }
                Some(height) if height.number < to.number => to = height,
                Some(_) => {}
                None => return Ok(()),
            }
        }
        self.wal.finalize(to)?;
        Ok(())
    }
}

impl<N: NodePrimitives> Future for ExExManager<N> {
    type Output = eyre::Result<()>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let mut finished_changed = false;

        // 1. Events from the ExExs.
        for exex in &mut this.exexs {
            while let Poll::Ready(Some(event)) = exex.receiver.poll_recv(cx) {
                let ExExEvent::FinishedHeight(height) = event;
                exex.events_received.increment(1);
                // The WAL knows every block a notification reverted and none brought back.
                if this.wal.is_reverted(&height.hash) {
                    debug!(target: "exex::manager", exex = %exex.id, height = height.number, "ignoring a finished height on a reverted block");
                    continue;
                }
                exex.finished_height = Some(height);
                finished_changed = true;
            }
        }

        // 2. The finalized block.
        let mut finalized_changed = false;
        while let Poll::Ready(Some(finalized)) = this.finalized.poll_next_unpin(cx) {
            if finalized.is_some() && finalized != this.last_finalized {
                this.last_finalized = finalized;
                finalized_changed = true;
            }
        }

        // 3. New notifications, written to the WAL before anyone sees them.
        while this.buffer.len() < this.max_capacity {
            match this.receiver.poll_recv(cx) {
                Poll::Ready(Some((notification, holds_permit))) => {
                    this.wal.commit(&notification)?;
                    this.buffer.push_back((this.next_id, notification, holds_permit));
                    this.next_id += 1;
                    this.metrics.notifications_total.increment(1);
                }
                // The handle lives in `this`, so the channel never closes while we run.
                Poll::Ready(None) | Poll::Pending => break,
            }
        }
        // After step 3, so a reorg that arrived with the finalized block is known to the WAL.
        if finalized_changed || finished_changed {
            this.finalize_wal()?;
        }

        // 4. Hand each ExEx every buffered notification it can take.
        let mut min_id = this.next_id;
        for exex in &mut this.exexs {
            loop {
                let id = exex.next_notification_id;
                let Some(index) = id.checked_sub(this.min_id) else {
                    break;
                };
                let Some((_, notification, _)) =
                    usize::try_from(index).ok().and_then(|index| this.buffer.get(index))
                else {
                    break;
                };
                match exex.poll_send(cx, id, notification) {
                    Poll::Ready(Ok(())) => {}
                    Poll::Ready(Err(err)) => {
                        return Poll::Ready(Err(eyre::eyre!(
                            "ExEx {} stopped receiving notifications: {err}",
                            exex.id
                        )));
                    }
                    Poll::Pending => break,
                }
            }
            min_id = min_id.min(exex.next_notification_id);
        }

        // 5. Drop what every ExEx has.
        let was_full = this.buffer.len() >= this.max_capacity;
        while this.buffer.front().is_some_and(|(id, ..)| *id < min_id) {
            if let Some((_, _, true)) = this.buffer.pop_front() {
                this.permits.add_permits(1);
            }
        }
        this.min_id = min_id;
        this.update_capacity();
        let full = this.buffer.len() >= this.max_capacity;
        if was_full && !full {
            // Room again: take what the source sent meanwhile.
            cx.waker().wake_by_ref();
        }
        if full && !this.reported_full {
            warn!(
                target: "exex::manager",
                buffered = this.buffer.len(),
                "notification buffer is full: an ExEx is lagging and the block source waits"
            );
        }
        this.reported_full = full;

        // 6. Publish the finished height.
        let finished = this.compute_finished_height();
        if let FinishedExExHeight::Height(height) = finished {
            this.metrics.finished_height.set(height as f64);
        }
        this.finished_height.send_if_modified(|current| {
            let changed = *current != finished;
            *current = finished;
            changed
        });

        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use futures::StreamExt;

    use super::*;
    use crate::{BlockSource, TestChain};

    #[tokio::test]
    async fn commits_at_or_below_the_finished_height_are_skipped_for_that_exex_only() {
        let dir = tempfile::tempdir().unwrap();
        let chain = TestChain::new();
        let wal = Wal::open(dir.path()).unwrap();
        let provider = chain.source().provider();
        let (a, a_events, mut a_stream) = ExExHandle::new("a", 4, Arc::clone(&provider), &wal);
        let (b, _b_events, mut b_stream) = ExExHandle::new("b", 4, provider, &wal);
        let (_finalized_tx, finalized_rx) = watch::channel(None);
        let manager = ExExManager::new(vec![a, b], 16, wal, finalized_rx);
        let mut handle = manager.handle();
        tokio::spawn(manager);

        let first = chain.commit(5, 0);
        let next = chain.commit(1, 0);
        // "a" reports it has finished block 5 before the commits arrive (as after a restart).
        a_events.send(ExExEvent::FinishedHeight(first.tip().num_hash())).unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
        handle
            .send_async(ExExNotification::ChainCommitted { new: Arc::clone(&first) })
            .await
            .unwrap();
        handle
            .send_async(ExExNotification::ChainCommitted { new: Arc::clone(&next) })
            .await
            .unwrap();

        let wait = Duration::from_secs(5);
        let a_first = tokio::time::timeout(wait, a_stream.next()).await.unwrap().unwrap().unwrap();
        assert_eq!(a_first.committed_chain().unwrap(), next, "a skips blocks 1..=5");
        for expected in [&first, &next] {
            let got = tokio::time::timeout(wait, b_stream.next()).await.unwrap().unwrap().unwrap();
            assert_eq!(&got.committed_chain().unwrap(), expected, "b gets everything");
        }
    }

    /// reth's `test_sends_chain_reverted_notification`, for an ExEx without a head that had
    /// finished the reverted blocks: the commit that replaces them, at or below its old finished
    /// height, still reaches it.
    #[tokio::test]
    async fn test_sends_chain_reverted_notification_then_the_commit_below_the_old_finished_height()
    {
        let dir = tempfile::tempdir().unwrap();
        let chain = TestChain::new();
        let wal = Wal::open(dir.path()).unwrap();
        let (a, a_events, mut a_stream) = ExExHandle::new("a", 4, chain.source().provider(), &wal);
        let (_finalized_tx, finalized_rx) = watch::channel(None);
        let manager = ExExManager::new(vec![a], 16, wal, finalized_rx);
        let mut handle = manager.handle();
        tokio::spawn(manager);
        let wait = Duration::from_secs(5);

        let first = chain.commit(5, 0);
        handle.send_async(ExExNotification::ChainCommitted { new: first }).await.unwrap();
        let got = tokio::time::timeout(wait, a_stream.next()).await.unwrap().unwrap().unwrap();
        a_events
            .send(ExExEvent::FinishedHeight(got.committed_chain().unwrap().tip().num_hash()))
            .unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;

        // Blocks 4 and 5 are reverted, then block 3; then new blocks 3 to 5 are committed.
        let old = chain.revert(2);
        handle.send_async(ExExNotification::ChainReverted { old: Arc::clone(&old) }).await.unwrap();
        let third = chain.revert(1);
        handle
            .send_async(ExExNotification::ChainReverted { old: Arc::clone(&third) })
            .await
            .unwrap();
        // The reverts reach the ExEx's channel first; then its report of block 5 again (sent
        // before it read either revert) arrives, and is stale.
        tokio::time::sleep(Duration::from_millis(50)).await;
        a_events.send(ExExEvent::FinishedHeight(old.tip().num_hash())).unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
        let new = chain.commit(3, 1);
        handle
            .send_async(ExExNotification::ChainCommitted { new: Arc::clone(&new) })
            .await
            .unwrap();

        for expected in [old, third] {
            let got = tokio::time::timeout(wait, a_stream.next()).await.unwrap().unwrap().unwrap();
            assert_eq!(got.reverted_chain(), Some(expected));
        }
        let committed = tokio::time::timeout(wait, a_stream.next())
            .await
            .expect("the commit above the fork point is not skipped")
            .unwrap()
            .unwrap();
        assert_eq!(committed.committed_chain(), Some(new));
    }

    /// reth's manager checks every finished block is still known before it finalizes the WAL:
    /// an ExEx that finished a block a waiting reorg replaced keeps the entry that committed it.
    #[tokio::test]
    async fn the_wal_keeps_a_finished_block_that_a_waiting_reorg_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let chain = TestChain::new();
        let wal = Wal::open(dir.path()).unwrap();
        let lookup = wal.handle();
        let (a, a_events, mut a_stream) = ExExHandle::new("a", 1, chain.source().provider(), &wal);
        let (finalized_tx, finalized_rx) = watch::channel(None);
        let manager = ExExManager::new(vec![a], 16, wal, finalized_rx);
        let mut handle = manager.handle();
        tokio::spawn(manager);
        let wait = Duration::from_secs(5);

        let first = chain.commit(10, 0);
        handle
            .send_async(ExExNotification::ChainCommitted { new: Arc::clone(&first) })
            .await
            .unwrap();
        tokio::time::timeout(wait, a_stream.next()).await.unwrap().unwrap().unwrap();
        a_events.send(ExExEvent::FinishedHeight(first.tip().num_hash())).unwrap();
        // Block 11 fills the ExEx's channel (it reads nothing more for now); the reorg of blocks
        // 9..=11 waits in the manager; then block 11 of the new chain is finalized.
        let eleventh = chain.commit(1, 0);
        handle.send_async(ExExNotification::ChainCommitted { new: eleventh }).await.unwrap();
        let (old, new) = chain.reorg(3, 3, 1);
        handle
            .send_async(ExExNotification::ChainReorged { old, new: Arc::clone(&new) })
            .await
            .unwrap();
        finalized_tx.send(Some(new.tip().num_hash())).unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        let head = first.tip().hash();
        assert!(
            lookup.get_committed_notification_by_block_hash(&head).unwrap().is_some(),
            "the entry that committed the ExEx's finished block 10 is kept"
        );

        // The ExEx takes block 11 and the reorg and finishes the new tip: the WAL finalizes.
        for _ in 0..2 {
            tokio::time::timeout(wait, a_stream.next()).await.unwrap().unwrap().unwrap();
        }
        a_events.send(ExExEvent::FinishedHeight(new.tip().num_hash())).unwrap();
        tokio::time::timeout(wait, async {
            while lookup.get_committed_notification_by_block_hash(&head).unwrap().is_some() {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await
        .expect("the WAL is finalized once the ExEx moved on");
    }

    #[tokio::test]
    async fn a_full_buffer_makes_the_source_wait_instead_of_dropping() {
        let dir = tempfile::tempdir().unwrap();
        let chain = TestChain::new();
        let wal = Wal::open(dir.path()).unwrap();
        let (exex, _events, mut stream) =
            ExExHandle::new("slow", 1, chain.source().provider(), &wal);
        let (_finalized_tx, finalized_rx) = watch::channel(None);
        let manager = ExExManager::new(vec![exex], 2, wal, finalized_rx);
        let mut handle = manager.handle();
        tokio::spawn(manager);

        let commits: Vec<_> = (0..6).map(|_| chain.commit(1, 0)).collect();
        let sender = {
            let commits = commits.clone();
            tokio::spawn(async move {
                for new in commits {
                    handle.send_async(ExExNotification::ChainCommitted { new }).await.unwrap();
                }
                handle
            })
        };
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(!sender.is_finished(), "the source waits while the slow ExEx reads nothing");
        for expected in &commits {
            let got = tokio::time::timeout(Duration::from_secs(5), stream.next())
                .await
                .unwrap()
                .unwrap()
                .unwrap();
            assert_eq!(&got.committed_chain().unwrap(), expected);
        }
        let handle = tokio::time::timeout(Duration::from_secs(5), sender).await.unwrap().unwrap();
        assert!(handle.has_capacity());
    }
}
