//! [`ExExNotifications`]: the stream of notifications an ExEx reads, with or without a head.
//!
//! Without a head, the stream yields what the manager sends from now on. With a head (the block
//! the ExEx had finished before a restart), it first makes the ExEx consistent with the
//! canonical chain:
//! 1. if the head's block is no longer canonical, it yields a revert of the blocks the ExEx
//!    processed from the WAL entry that committed the head, and repeats from that entry's fork
//!    block, until it reaches a canonical block;
//! 2. if the head is behind the provider's best block, it backfills from the provider in
//!    [`BACKFILL_CHUNK_BLOCKS`] chunks;
//! 3. it then yields the manager's notifications, skipping commits at or below what the ExEx
//!    already has and trimming a commit that straddles it.
//!
//! Two deliberate differences from reth: a revert after a dead head covers only the blocks the
//! ExEx processed (reth inverts the whole WAL entry, which for a reorg entry would re-commit a
//! chain that was already replaced), and in step 3 reverts of blocks the ExEx never had (for
//! instance the block source's own catch-up after a restart) are dropped instead of delivered.

use alloy::consensus::BlockHeader as _;
use std::{
    collections::VecDeque,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll, ready},
};

use alloy::eips::BlockNumHash;
use futures::{FutureExt, Stream, future::BoxFuture};
use reth_primitives_traits::NodePrimitives;
use tokio::sync::mpsc;
use tracing::{debug, info};

use crate::{BlockProvider, EthPrimitives, ExExHead, ExExNotification, WalHandle};

/// How many blocks one backfill notification carries at most.
pub const BACKFILL_CHUNK_BLOCKS: u64 = 100;

/// The operations on a notification stream an ExEx can use (reth's `ExExNotificationsStream`).
pub trait ExExNotificationsStream<N: NodePrimitives = EthPrimitives>:
    Stream<Item = eyre::Result<ExExNotification<N>>> + Unpin + Send
{
    /// From now on, yield every notification without catching up from a head.
    fn set_without_head(&mut self);

    /// From now on, catch up from `head` first (see the module docs).
    fn set_with_head(&mut self, head: ExExHead);

    /// [`Self::set_without_head`], by value.
    fn without_head(self) -> Self
    where
        Self: Sized;

    /// [`Self::set_with_head`], by value.
    fn with_head(self, head: ExExHead) -> Self
    where
        Self: Sized;
}

/// The notification stream handed to an ExEx in its context (reth's `ExExNotifications`).
pub struct ExExNotifications<N: NodePrimitives = EthPrimitives> {
    inner: Inner<N>,
}

impl<N: NodePrimitives> std::fmt::Debug for ExExNotifications<N> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mode = match &self.inner {
            Inner::WithoutHead(_) => "without_head",
            Inner::WithHead(_) => "with_head",
            Inner::Switching => "switching",
        };
        f.debug_struct("ExExNotifications").field("mode", &mode).finish_non_exhaustive()
    }
}

enum Inner<N: NodePrimitives> {
    WithoutHead(WithoutHead<N>),
    WithHead(Box<WithHead<N>>),
    /// Only while switching mode.
    Switching,
}

struct WithoutHead<N: NodePrimitives> {
    receiver: mpsc::Receiver<ExExNotification<N>>,
    /// The manager's notifications taken off the channel while a stream with a head catches
    /// up (reth drains its channel during backfill too): the manager and the other ExExs never
    /// wait on a backfill. Kept across a switch of mode, and yielded first.
    pending: VecDeque<ExExNotification<N>>,
    provider: Arc<dyn BlockProvider<N>>,
    wal: WalHandle<N>,
}

impl<N: NodePrimitives> ExExNotifications<N> {
    /// A stream over what the manager sends on `receiver`, without a head.
    pub fn new(
        receiver: mpsc::Receiver<ExExNotification<N>>,
        provider: Arc<dyn BlockProvider<N>>,
        wal: WalHandle<N>,
    ) -> Self {
        Self {
            inner: Inner::WithoutHead(WithoutHead {
                receiver,
                pending: VecDeque::new(),
                provider,
                wal,
            }),
        }
    }

    fn take_without_head(&mut self) -> Option<WithoutHead<N>> {
        match std::mem::replace(&mut self.inner, Inner::Switching) {
            Inner::WithoutHead(inner) => Some(inner),
            Inner::WithHead(inner) => Some(inner.into_without_head()),
            Inner::Switching => None,
        }
    }
}

impl<N: NodePrimitives> ExExNotificationsStream<N> for ExExNotifications<N> {
    fn set_without_head(&mut self) {
        if let Some(inner) = self.take_without_head() {
            self.inner = Inner::WithoutHead(inner);
        }
    }

    fn set_with_head(&mut self, head: ExExHead) {
        if let Some(inner) = self.take_without_head() {
            self.inner = Inner::WithHead(Box::new(WithHead::new(inner, head)));
        }
    }

    fn without_head(mut self) -> Self {
        self.set_without_head();
        self
    }

    fn with_head(mut self, head: ExExHead) -> Self {
        self.set_with_head(head);
        self
    }
}

impl<N: NodePrimitives> Stream for ExExNotifications<N> {
    type Item = eyre::Result<ExExNotification<N>>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        match &mut self.get_mut().inner {
            Inner::WithoutHead(inner) => match inner.pending.pop_front() {
                Some(notification) => Poll::Ready(Some(Ok(notification))),
                None => inner.receiver.poll_recv(cx).map(|n| n.map(Ok)),
            },
            Inner::WithHead(inner) => inner.poll_next_notification(cx),
            Inner::Switching => Poll::Ready(None),
        }
    }
}

/// Where a stream with a head is in catching up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// Checking that the ExEx's head is canonical.
    CheckCanonical,
    /// Fetching blocks above the head from the provider.
    Backfill,
    /// Yielding the manager's notifications.
    Live,
}

/// What one asynchronous catch-up step produced.
struct StepOutput<N: NodePrimitives> {
    /// Notifications to yield, in order.
    notifications: Vec<ExExNotification<N>>,
    /// The ExEx's head once they are processed.
    head: BlockNumHash,
    /// The next stage.
    stage: Stage,
}

type StepFuture<N> = BoxFuture<'static, eyre::Result<StepOutput<N>>>;

struct WithHead<N: NodePrimitives> {
    inner: WithoutHead<N>,
    /// The highest block the ExEx has (or will have once `ready` is yielded).
    head: BlockNumHash,
    stage: Stage,
    ready: VecDeque<ExExNotification<N>>,
    step: Option<StepFuture<N>>,
}

impl<N: NodePrimitives> WithHead<N> {
    fn new(inner: WithoutHead<N>, head: ExExHead) -> Self {
        Self {
            inner,
            head: head.block,
            stage: Stage::CheckCanonical,
            ready: VecDeque::new(),
            step: None,
        }
    }

    fn into_without_head(self) -> WithoutHead<N> {
        self.inner
    }

    fn poll_next_notification(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<eyre::Result<ExExNotification<N>>>> {
        loop {
            if self.stage != Stage::Live || self.step.is_some() {
                while let Poll::Ready(Some(notification)) = self.inner.receiver.poll_recv(cx) {
                    self.inner.pending.push_back(notification);
                }
            }
            if let Some(notification) = self.ready.pop_front() {
                return Poll::Ready(Some(Ok(notification)));
            }
            if let Some(step) = self.step.as_mut() {
                let output = ready!(step.poll_unpin(cx));
                self.step = None;
                match output {
                    Ok(output) => {
                        self.ready.extend(output.notifications);
                        self.head = output.head;
                        self.stage = output.stage;
                        continue;
                    }
                    Err(err) => return Poll::Ready(Some(Err(err))),
                }
            }
            match self.stage {
                Stage::CheckCanonical => {
                    self.step = Some(
                        check_canonical(
                            Arc::clone(&self.inner.provider),
                            self.inner.wal.clone(),
                            self.head,
                        )
                        .boxed(),
                    );
                }
                Stage::Backfill => {
                    self.step = Some(backfill(Arc::clone(&self.inner.provider), self.head).boxed());
                }
                Stage::Live => {
                    let notification = match self.inner.pending.pop_front() {
                        Some(notification) => notification,
                        None => match ready!(self.inner.receiver.poll_recv(cx)) {
                            Some(notification) => notification,
                            None => return Poll::Ready(None),
                        },
                    };
                    if let Some(gap) = self.gap_before(&notification) {
                        self.step = Some(
                            fill_gap(
                                Arc::clone(&self.inner.provider),
                                self.head,
                                gap,
                                notification,
                            )
                            .boxed(),
                        );
                        continue;
                    }
                    if let Some(notification) = self.skip_or_trim(&notification) {
                        return Poll::Ready(Some(Ok(notification)));
                    }
                }
            }
        }
    }

    /// The blocks missing between the ExEx's head and a commit that starts above it (the source
    /// started above the backfilled head).
    fn gap_before(
        &self,
        notification: &ExExNotification<N>,
    ) -> Option<std::ops::RangeInclusive<alloy::primitives::BlockNumber>> {
        if notification.reverted_chain().is_some() {
            return None;
        }
        let first = notification.committed_chain()?.first().number();
        (first > self.head.number + 1).then(|| self.head.number + 1..=first - 1)
    }

    /// Keeps what applies to the ExEx's chain: a revert only of blocks the ExEx has (up to its
    /// head), a commit only of blocks above its head. Returns `None` when nothing is left.
    fn skip_or_trim(&mut self, notification: &ExExNotification<N>) -> Option<ExExNotification<N>> {
        let mut reverted = None;
        if let Some(old) = notification.reverted_chain()
            && old.block_by_hash(self.head.hash).is_some()
            && let Some(old) = old.blocks_at_or_below(self.head.number)
        {
            self.head = old.fork_block();
            reverted = Some(Arc::new(old));
        }
        let committed = notification
            .committed_chain()
            .and_then(|new| new.blocks_above(self.head.number))
            .map(Arc::new);
        if let Some(new) = &committed {
            self.head = new.tip().num_hash();
        }
        match (reverted, committed) {
            (Some(old), Some(new)) => Some(ExExNotification::ChainReorged { old, new }),
            (Some(old), None) => Some(ExExNotification::ChainReverted { old }),
            (None, Some(new)) => Some(ExExNotification::ChainCommitted { new }),
            (None, None) => None,
        }
    }
}

/// How long a head check waits for a node that is behind the ExEx's head.
const BEHIND_RECHECK: std::time::Duration = std::time::Duration::from_secs(1);

/// How many times a provider read is tried before its error reaches the ExEx.
const PROVIDER_TRIES: u32 = 45;

/// Runs `read` until it succeeds, at most [`PROVIDER_TRIES`] times with a growing pause (up to
/// 8 s; about 5 minutes in all): a node that is unreachable or restarting for a while does not
/// stop the ExEx.
async fn retry<T, F>(what: &str, mut read: impl FnMut() -> F) -> crate::HostResult<T>
where
    F: std::future::Future<Output = crate::HostResult<T>>,
{
    let mut pause = std::time::Duration::from_millis(250);
    let mut tries = 1;
    loop {
        match read().await {
            Ok(value) => return Ok(value),
            Err(err) if tries < PROVIDER_TRIES && err.is_transient() => {
                tracing::warn!(target: "exex::notifications", what, %err, tries, retry_in = ?pause, "block provider read failed");
                metrics::counter!("exex_notifications_provider_retries_total").increment(1);
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(std::time::Duration::from_secs(8));
                tries += 1;
            }
            Err(err) => return Err(err),
        }
    }
}

async fn check_canonical<N: NodePrimitives>(
    provider: Arc<dyn BlockProvider<N>>,
    wal: WalHandle<N>,
    head: BlockNumHash,
) -> eyre::Result<StepOutput<N>> {
    let canonical =
        retry("the head's canonical hash", || provider.canonical_hash(head.number)).await?;
    if canonical == Some(head.hash) {
        return Ok(StepOutput { notifications: Vec::new(), head, stage: Stage::Backfill });
    }
    if canonical.is_none() {
        // The node has no block at the ExEx's head: it is behind (restarted or syncing), not
        // reorged. Nothing is reverted; the head is checked again once it has the block.
        tracing::warn!(target: "exex::notifications", head = head.number, "the followed node has no block at the ExEx's head yet: waiting for it");
        tokio::time::sleep(BEHIND_RECHECK).await;
        return Ok(StepOutput { notifications: Vec::new(), head, stage: Stage::CheckCanonical });
    }
    let entry = wal.get_committed_notification_by_block_hash(&head.hash)?.ok_or_else(|| {
        eyre::eyre!(
            "the ExEx head {} ({}) is not canonical and the WAL no longer holds the notification \
             that committed it, so it cannot be reverted; restore the ExEx's store from a backup \
             at or below the finalized block",
            head.number,
            head.hash
        )
    })?;
    let committed = entry
        .committed_chain()
        .ok_or_else(|| eyre::eyre!("WAL entry for block {} has no committed chain", head.number))?;
    // Revert only what the ExEx processed: the committed blocks up to its head.
    let processed: Vec<_> = committed
        .blocks_and_receipts()
        .take_while(|(block, _)| block.number() <= head.number)
        .map(|(b, r)| (Arc::clone(b), r.to_vec()))
        .collect();
    let first_block = committed.first().number();
    let (blocks, receipts): (Vec<_>, Vec<_>) = processed.into_iter().unzip();
    let reverted = crate::Chain::new(blocks, crate::ExecutionOutcome::new(receipts, first_block))?;
    let fork = reverted.fork_block();
    info!(
        target: "exex::notifications",
        head = head.number,
        %head.hash,
        fork = fork.number,
        "ExEx head is not canonical: reverting what it processed"
    );
    Ok(StepOutput {
        notifications: vec![ExExNotification::ChainReverted { old: Arc::new(reverted) }],
        head: fork,
        stage: Stage::CheckCanonical,
    })
}

async fn backfill<N: NodePrimitives>(
    provider: Arc<dyn BlockProvider<N>>,
    head: BlockNumHash,
) -> eyre::Result<StepOutput<N>> {
    let best = retry("the best block", || provider.best_block()).await?;
    if best.number <= head.number {
        return Ok(StepOutput { notifications: Vec::new(), head, stage: Stage::Live });
    }
    let to = best.number.min(head.number + BACKFILL_CHUNK_BLOCKS);
    let chain = retry("backfill blocks", || provider.chain_range(head.number + 1..=to)).await?;
    if to == best.number && chain.tip().hash() != best.hash {
        // The node's last block differs from the one the host delivered (it moved since): the
        // ExEx gets only blocks the host delivered, so this chunk is fetched again.
        debug!(target: "exex::notifications", tip = to, "backfill tip is not the host's: fetching again");
        tokio::time::sleep(BEHIND_RECHECK).await;
        return Ok(StepOutput { notifications: Vec::new(), head, stage: Stage::Backfill });
    }
    if chain.fork_block().hash != head.hash {
        // The chain changed under the backfill: check the head again.
        debug!(target: "exex::notifications", head = head.number, "reorg during backfill");
        return Ok(StepOutput { notifications: Vec::new(), head, stage: Stage::CheckCanonical });
    }
    debug!(target: "exex::notifications", from = head.number + 1, to, best = best.number, "backfilled");
    let new_head = chain.tip().num_hash();
    Ok(StepOutput {
        notifications: vec![ExExNotification::ChainCommitted { new: Arc::new(chain) }],
        head: new_head,
        stage: Stage::Backfill,
    })
}

/// Fetches the blocks between the ExEx's head and `notification`, then yields both.
async fn fill_gap<N: NodePrimitives>(
    provider: Arc<dyn BlockProvider<N>>,
    head: BlockNumHash,
    gap: std::ops::RangeInclusive<alloy::primitives::BlockNumber>,
    notification: ExExNotification<N>,
) -> eyre::Result<StepOutput<N>> {
    let chain = retry("the blocks of a gap", || provider.chain_range(gap.clone())).await?;
    let new = notification
        .committed_chain()
        .ok_or_else(|| eyre::eyre!("a gap is only filled before a commit"))?;
    if chain.fork_block() != head || new.fork_block() != chain.tip().num_hash() {
        // The chain moved meanwhile: check the head again, then backfill.
        return Ok(StepOutput { notifications: Vec::new(), head, stage: Stage::CheckCanonical });
    }
    debug!(target: "exex::notifications", gap = ?chain.range(), "filled a gap before a commit");
    let tip = new.tip().num_hash();
    Ok(StepOutput {
        notifications: vec![
            ExExNotification::ChainCommitted { new: Arc::new(chain) },
            notification,
        ],
        head: tip,
        stage: Stage::Live,
    })
}

#[cfg(test)]
mod tests {
    use futures::StreamExt as _;

    use super::*;
    use crate::{BlockSource as _, TestChain, Wal};

    /// reth's `exex_notifications_backfill_drains_channel`: while the ExEx backfills, the
    /// manager's notifications are taken off its channel (so the manager never waits on it),
    /// and each is delivered, after the backfill, only for what the ExEx does not have yet.
    #[tokio::test]
    async fn exex_notifications_backfill_drains_channel() {
        let dir = tempfile::tempdir().unwrap();
        let wal = Wal::open(dir.path()).unwrap();
        let chain = TestChain::new();
        let genesis = chain.tip();
        chain.commit(250, 0);
        let live = chain.commit(1, 0);
        let (tx, rx) = mpsc::channel(1);
        tx.send(ExExNotification::ChainCommitted { new: Arc::clone(&live) }).await.unwrap();
        let mut stream = ExExNotifications::new(rx, chain.source().provider(), wal.handle())
            .with_head(ExExHead::new(genesis));
        let wait = std::time::Duration::from_secs(5);
        let first = tokio::time::timeout(wait, stream.next()).await.unwrap().unwrap().unwrap();
        assert_eq!(first.committed_chain().unwrap().range(), 1..=BACKFILL_CHUNK_BLOCKS);
        // The channel (capacity 1) was drained during the backfill: another send goes through.
        let next = chain.commit(1, 0);
        tx.try_send(ExExNotification::ChainCommitted { new: Arc::clone(&next) })
            .expect("the backfill drained the channel");
        let mut tips = Vec::new();
        while tips.last() != Some(&next.tip().number()) {
            let n = tokio::time::timeout(wait, stream.next()).await.unwrap().unwrap().unwrap();
            let committed = n.committed_chain().unwrap();
            assert_eq!(
                committed.first().number(),
                tips.last().map_or(BACKFILL_CHUNK_BLOCKS, |t| *t) + 1
            );
            tips.push(committed.tip().number());
        }
        // Every block once, in order, the live commits only for what the backfill had not
        // brought; then nothing more.
        assert!(tips.len() >= 2, "{tips:?}");
        assert!(
            tokio::time::timeout(std::time::Duration::from_millis(100), stream.next())
                .await
                .is_err()
        );
    }
}
