//! [`RpcBlockSource`]: follows any Ethereum JSON-RPC node (anvil, reth, geth) through alloy.
//!
//! It polls the node's tip, fetches full blocks with their receipts (in ranges of
//! [`RpcBlockSourceConfig::catch_up_range`] when it lags), and keeps the last
//! [`RpcBlockSourceConfig::max_reorg_depth`] blocks it delivered. When the node's block at the
//! next height does not build on what was delivered, it walks back to the fork point and emits
//! one `ChainReorged { old, new }` (or `ChainReverted` when the node's chain got shorter). When
//! the node cannot be reached it retries with a growing backoff, logs, and resumes.

use std::{
    collections::VecDeque,
    future::IntoFuture,
    ops::RangeInclusive,
    sync::{Arc, Mutex},
    time::Duration,
};

use alloy::{
    consensus::{BlockHeader, EthereumReceipt},
    eips::{BlockId, BlockNumHash, BlockNumberOrTag},
    network::Ethereum,
    primitives::{B256, BlockNumber},
    providers::{Provider, RootProvider},
    transports::http::reqwest::Url,
};
use futures::{FutureExt, StreamExt, TryStreamExt, future::BoxFuture};
use metrics::{counter, gauge};
use reth_primitives_traits::RecoveredBlock;
use tracing::{debug, info, warn};

use super::{BlockWithReceipts, chain_from, resume};
use crate::{
    Block, BlockProvider, BlockSource, Chain, EthPrimitives, ExExNotification, HostError,
    HostResult, SourceContext, TransactionSigned,
};

/// How often the source asks the node for its tip by default.
pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_secs(1);
/// How many blocks one notification carries at most while catching up, by default.
pub const DEFAULT_CATCH_UP_RANGE: u64 = 64;
/// How many delivered blocks the source keeps to build reorg notifications, by default.
pub const DEFAULT_MAX_REORG_DEPTH: usize = 256;
/// How long one request may take by default.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// The longest pause between retries when the node cannot be reached.
pub const MAX_RETRY_BACKOFF: Duration = Duration::from_secs(5);
/// How many blocks the source fetches at once.
const FETCH_CONCURRENCY: usize = 8;
/// Transactions per batched `eth_getTransactionReceipt` request (without `eth_getBlockReceipts`).
const RECEIPTS_PER_BATCH: usize = 100;

/// Settings of an [`RpcBlockSource`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RpcBlockSourceConfig {
    /// The node's HTTP JSON-RPC endpoint.
    pub url: Url,
    /// How often to poll the node's tip.
    pub poll_interval: Duration,
    /// Only blocks at least this many blocks below the node's tip are delivered.
    pub confirmations: u64,
    /// How many blocks one notification carries at most while catching up.
    pub catch_up_range: u64,
    /// How many delivered blocks to keep for reorgs; a deeper reorg stops the host.
    pub max_reorg_depth: usize,
    /// How long one request may take.
    pub request_timeout: Duration,
    /// On a first start (no WAL), deliver the blocks after this one; `None` starts at the tip.
    pub start_after: Option<BlockNumber>,
}

impl RpcBlockSourceConfig {
    /// Defaults for following `url`.
    pub const fn new(url: Url) -> Self {
        Self {
            url,
            poll_interval: DEFAULT_POLL_INTERVAL,
            confirmations: 0,
            catch_up_range: DEFAULT_CATCH_UP_RANGE,
            max_reorg_depth: DEFAULT_MAX_REORG_DEPTH,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            start_after: None,
        }
    }
}

/// Follows a JSON-RPC node and drives the host with its blocks.
#[derive(Debug)]
pub struct RpcBlockSource {
    config: RpcBlockSourceConfig,
    provider: Arc<RpcProvider>,
}

impl RpcBlockSource {
    /// A source following `config.url`. Does not connect yet.
    pub fn new(config: RpcBlockSourceConfig) -> Self {
        let provider = Arc::new(RpcProvider {
            client: RootProvider::new_http(config.url.clone()),
            timeout: config.request_timeout,
            confirmations: config.confirmations,
            delivered: Mutex::new(None),
            no_block_receipts: std::sync::atomic::AtomicBool::new(false),
        });
        Self { config, provider }
    }

    /// The node's client, e.g. to send transactions to it.
    pub fn client(&self) -> RootProvider<Ethereum> {
        self.provider.client.clone()
    }
}

/// The [`BlockProvider`] of an [`RpcBlockSource`]: reads the followed node.
#[derive(Debug)]
pub struct RpcProvider {
    client: RootProvider<Ethereum>,
    timeout: Duration,
    confirmations: u64,
    /// The last block the source delivered: the host's canonical tip.
    delivered: Mutex<Option<BlockNumHash>>,
    /// Set once the node answered `eth_getBlockReceipts` with "no such method": receipts are
    /// then read per transaction, in one batched request per block.
    no_block_receipts: std::sync::atomic::AtomicBool,
}

impl RpcProvider {
    async fn call<T, F>(&self, what: &str, request: F) -> HostResult<T>
    where
        F: IntoFuture<Output = Result<T, alloy::transports::TransportError>>,
    {
        match tokio::time::timeout(self.timeout, request.into_future()).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(err)) => Err(HostError::Provider(format!("{what}: {err}"))),
            Err(_) => {
                Err(HostError::Provider(format!("{what}: no answer within {:?}", self.timeout)))
            }
        }
    }

    async fn tip_number(&self) -> HostResult<BlockNumber> {
        self.call("eth_blockNumber", self.client.get_block_number()).await
    }

    async fn hash_at(&self, number: BlockNumber) -> HostResult<Option<B256>> {
        let block = self
            .call("eth_getBlockByNumber", self.client.get_block_by_number(number.into()).hashes())
            .await?;
        Ok(block.map(|b| b.header.hash))
    }

    async fn finalized(&self) -> HostResult<Option<BlockNumHash>> {
        let block = self
            .call(
                "eth_getBlockByNumber(finalized)",
                self.client.get_block_by_number(BlockNumberOrTag::Finalized).hashes(),
            )
            .await?;
        Ok(block.map(|b| BlockNumHash::new(b.header.number(), b.header.hash)))
    }

    /// Block `number` with its transactions' senders and its receipts.
    async fn block_with_receipts(
        &self,
        number: BlockNumber,
    ) -> HostResult<BlockWithReceipts<EthPrimitives>> {
        use std::sync::atomic::Ordering;
        let block_request = self
            .call("eth_getBlockByNumber", self.client.get_block_by_number(number.into()).full());
        let (block, block_receipts) = if self.no_block_receipts.load(Ordering::Relaxed) {
            (block_request.await?, None)
        } else {
            let receipts_request = async {
                let request = self.client.get_block_receipts(BlockId::number(number));
                match tokio::time::timeout(self.timeout, request.into_future()).await {
                    Ok(Ok(receipts)) => Ok(Some(receipts)),
                    Ok(Err(err)) if method_missing(&err) => {
                        if !self.no_block_receipts.swap(true, Ordering::Relaxed) {
                            warn!(target: "exex::source", %err, "the node has no eth_getBlockReceipts: reading receipts per transaction (one batched request per block)");
                        }
                        Ok(None)
                    }
                    Ok(Err(err)) => {
                        Err(HostError::Provider(format!("eth_getBlockReceipts: {err}")))
                    }
                    Err(_) => Err(HostError::Provider(format!(
                        "eth_getBlockReceipts: no answer within {:?}",
                        self.timeout
                    ))),
                }
            };
            futures::try_join!(block_request, receipts_request)?
        };
        let block = block.ok_or(HostError::MissingBlock(number))?;
        let receipts = match block_receipts {
            Some(receipts) => receipts.ok_or(HostError::MissingBlock(number))?,
            None => {
                let hashes: Vec<B256> = block.transactions.hashes().collect();
                self.transaction_receipts(number, block.header.hash, &hashes).await?
            }
        };
        let rpc_hash = block.header.hash;
        let mut senders = Vec::with_capacity(block.transactions.len());
        let block = block.map_transactions(|tx| {
            let recovered = tx.inner;
            senders.push(recovered.signer());
            TransactionSigned::from(recovered.into_inner())
        });
        let block: Block = block.into_consensus();
        if receipts.len() != block.body.transactions.len() {
            // The node answered for different blocks (a reorg between the two requests).
            return Err(HostError::Provider(format!(
                "block {number} has {} transactions but {} receipts",
                block.body.transactions.len(),
                receipts.len()
            )));
        }
        let receipts: Vec<EthereumReceipt> = receipts
            .into_iter()
            .map(|r| EthereumReceipt::from(r.inner.into_primitives_receipt()))
            .collect();
        let recovered = RecoveredBlock::new_unhashed(block, senders);
        if recovered.hash() != rpc_hash {
            return Err(HostError::Provider(format!(
                "block {number}: the node reports hash {rpc_hash} but its header hashes to {}",
                recovered.hash()
            )));
        }
        Ok((Arc::new(recovered), receipts))
    }

    /// The receipts of `hashes`, the transactions of block `number` (`hash`), in one batched
    /// request of `eth_getTransactionReceipt`s.
    async fn transaction_receipts(
        &self,
        number: BlockNumber,
        hash: B256,
        hashes: &[B256],
    ) -> HostResult<Vec<alloy::rpc::types::TransactionReceipt>> {
        let mut receipts = Vec::with_capacity(hashes.len());
        // Chunks, as providers cap the size of one batch.
        for chunk in hashes.chunks(RECEIPTS_PER_BATCH) {
            receipts.extend(self.transaction_receipts_batch(number, hash, chunk).await?);
        }
        Ok(receipts)
    }

    async fn transaction_receipts_batch(
        &self,
        number: BlockNumber,
        hash: B256,
        hashes: &[B256],
    ) -> HostResult<Vec<alloy::rpc::types::TransactionReceipt>> {
        let mut batch = alloy::rpc::client::BatchRequest::new(self.client.client());
        let waiters = hashes
            .iter()
            .map(|tx| {
                batch.add_call::<_, Option<alloy::rpc::types::TransactionReceipt>>(
                    "eth_getTransactionReceipt",
                    &(tx,),
                )
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| HostError::Provider(format!("eth_getTransactionReceipt: {e}")))?;
        self.call("eth_getTransactionReceipt (batch)", batch.send()).await?;
        let mut receipts = Vec::with_capacity(waiters.len());
        for (tx, waiter) in hashes.iter().zip(waiters) {
            let receipt =
                self.call("eth_getTransactionReceipt", waiter).await?.ok_or_else(|| {
                    HostError::Provider(format!(
                        "block {number}: no receipt for transaction {tx} yet"
                    ))
                })?;
            if receipt.block_hash != Some(hash) {
                // The node reorged between the block and its receipts.
                return Err(HostError::Provider(format!(
                    "block {number}: transaction {tx}'s receipt is for block {:?}",
                    receipt.block_hash
                )));
            }
            receipts.push(receipt);
        }
        Ok(receipts)
    }

    /// Blocks `range` with receipts, fetched concurrently, in order.
    async fn blocks(
        &self,
        range: RangeInclusive<BlockNumber>,
    ) -> HostResult<Vec<BlockWithReceipts<EthPrimitives>>> {
        futures::stream::iter(range.map(|n| self.block_with_receipts(n)))
            .buffered(FETCH_CONCURRENCY)
            .try_collect()
            .await
    }

    fn set_delivered(&self, head: BlockNumHash) {
        *self.delivered.lock().unwrap_or_else(|e| e.into_inner()) = Some(head);
        gauge!("exex_source_tip").set(head.number as f64);
    }
}

impl BlockProvider<EthPrimitives> for RpcProvider {
    fn canonical_hash(&self, number: BlockNumber) -> BoxFuture<'_, HostResult<Option<B256>>> {
        self.hash_at(number).boxed()
    }

    fn best_block(&self) -> BoxFuture<'_, HostResult<BlockNumHash>> {
        async move {
            let delivered = *self.delivered.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(delivered) = delivered {
                return Ok(delivered);
            }
            let tip = self.tip_number().await?.saturating_sub(self.confirmations);
            let hash = self.hash_at(tip).await?.ok_or(HostError::MissingBlock(tip))?;
            Ok(BlockNumHash::new(tip, hash))
        }
        .boxed()
    }

    fn chain_range(&self, range: RangeInclusive<BlockNumber>) -> BoxFuture<'_, HostResult<Chain>> {
        async move { chain_from(self.blocks(range).await?) }.boxed()
    }
}

impl BlockSource<EthPrimitives> for RpcBlockSource {
    fn provider(&self) -> Arc<dyn BlockProvider<EthPrimitives>> {
        Arc::clone(&self.provider) as Arc<dyn BlockProvider<EthPrimitives>>
    }

    fn run(
        self: Box<Self>,
        ctx: SourceContext<EthPrimitives>,
    ) -> BoxFuture<'static, eyre::Result<()>> {
        async move {
            let mut follower = Follower {
                config: self.config,
                provider: self.provider,
                window: VecDeque::new(),
                head: BlockNumHash::default(),
                ctx,
            };
            follower.run().await
        }
        .boxed()
    }
}

/// The running state of an [`RpcBlockSource`].
struct Follower {
    config: RpcBlockSourceConfig,
    provider: Arc<RpcProvider>,
    /// The last blocks delivered, oldest first, at most `max_reorg_depth`.
    window: VecDeque<BlockWithReceipts<EthPrimitives>>,
    /// The last block delivered.
    head: BlockNumHash,
    ctx: SourceContext<EthPrimitives>,
}

/// What one step of the follower asks for next.
enum Next {
    /// Poll again at once: still behind.
    Continue,
    /// Wait for the poll interval.
    Wait,
}

impl Follower {
    async fn run(&mut self) -> eyre::Result<()> {
        info!(target: "exex::source", url = %self.config.url, "following node");
        self.retrying(|this| Box::pin(this.start())).await?;
        let mut polls: u64 = 0;
        loop {
            if self.ctx.shutdown.is_cancelled() {
                return Ok(());
            }
            let next = self.retrying(|this| Box::pin(this.step())).await?;
            polls += 1;
            if polls % 10 == 1 {
                match self.provider.finalized().await {
                    Ok(Some(finalized)) => {
                        self.ctx.finalized.send_replace(Some(finalized));
                    }
                    Ok(None) => {}
                    Err(err) => debug!(target: "exex::source", %err, "no finalized block"),
                }
            }
            if matches!(next, Next::Wait) {
                tokio::select! {
                    () = self.ctx.shutdown.cancelled() => return Ok(()),
                    () = tokio::time::sleep(self.config.poll_interval) => {}
                }
            }
        }
    }

    /// Runs `step` until it succeeds, backing off while the node is unreachable. Only a
    /// reorg deeper than the kept window is fatal.
    async fn retrying<T>(
        &mut self,
        mut step: impl for<'a> FnMut(&'a mut Self) -> BoxFuture<'a, Result<T, StepError>>,
    ) -> eyre::Result<T> {
        let mut backoff = Duration::from_millis(250);
        let mut failures: u32 = 0;
        loop {
            match step(self).await {
                Ok(value) => {
                    gauge!("exex_source_node_behind").set(0.0);
                    if failures > 0 {
                        info!(target: "exex::source", url = %self.config.url, failures, "node reachable again");
                    }
                    return Ok(value);
                }
                Err(StepError::Fatal(report)) => return Err(report),
                Err(StepError::Retry(err)) => {
                    failures += 1;
                    if matches!(err, HostError::NodeBehind { .. }) {
                        gauge!("exex_source_node_behind").set(1.0);
                    }
                    counter!("exex_source_errors_total").increment(1);
                    warn!(target: "exex::source", url = %self.config.url, %err, retry_in = ?backoff, failures, "block source request failed");
                    tokio::select! {
                        () = self.ctx.shutdown.cancelled() => return Err(eyre::eyre!("shutdown while retrying")),
                        () = tokio::time::sleep(backoff) => {}
                    }
                    backoff = (backoff * 2).min(MAX_RETRY_BACKOFF);
                }
            }
        }
    }

    /// Decides where to start: after the WAL's head (reverting first if it died), or after
    /// `start_after`, or at the node's tip.
    async fn start(&mut self) -> Result<(), StepError> {
        self.check_genesis().await?;
        if let Some(resume_from) = self.ctx.resume_from {
            // A node restarted behind the host's last block is waited for, not reverted.
            let tip = self.provider.tip_number().await?;
            if tip < resume_from.number {
                return Err(StepError::Retry(HostError::NodeBehind {
                    tip,
                    head: resume_from.number,
                }));
            }
            let (revert, head) = resume(self.provider.as_ref(), &self.ctx.wal, resume_from).await?;
            if let Some(revert) = revert {
                info!(target: "exex::source", from = resume_from.number, to = head.number, "the host's last block is not canonical: reverting");
                self.ctx.manager.send_async(revert).await.map_err(StepError::fatal)?;
            }
            self.head = head;
            info!(target: "exex::source", after = head.number, "resuming after the WAL head");
        } else {
            let number = match self.config.start_after {
                Some(number) => number,
                None => self.provider.tip_number().await?.saturating_sub(self.config.confirmations),
            };
            let hash =
                self.provider.hash_at(number).await?.ok_or(HostError::MissingBlock(number))?;
            self.head = BlockNumHash::new(number, hash);
            info!(target: "exex::source", after = number, "starting");
        }
        self.provider.set_delivered(self.head);
        Ok(())
    }

    async fn step(&mut self) -> Result<Next, StepError> {
        let tip = self.provider.tip_number().await?;
        let safe_tip = tip.saturating_sub(self.config.confirmations);
        if safe_tip <= self.head.number {
            // Nothing new: make sure what we delivered is still canonical.
            match self.provider.hash_at(self.head.number).await? {
                Some(hash) if hash == self.head.hash => return Ok(Next::Wait),
                // No block at our height: the node is behind (restarted, syncing), or a new
                // chain: wait for the one, stop for the other.
                None if tip < self.head.number => {
                    self.check_genesis().await?;
                    // Behind on our chain (its tip is a block we delivered): wait. Its tip on
                    // another fork: a reorg to a shorter chain, delivered now.
                    let ours = self
                        .window
                        .iter()
                        .rev()
                        .find(|(block, _)| block.number() == tip)
                        .map(|(block, _)| block.hash());
                    if ours.is_some() && self.provider.hash_at(tip).await? != ours {
                        self.reorg(safe_tip).await?;
                        return Ok(Next::Continue);
                    }
                    return Err(StepError::Retry(HostError::NodeBehind {
                        tip,
                        head: self.head.number,
                    }));
                }
                _ => {
                    self.reorg(safe_tip).await?;
                    return Ok(Next::Continue);
                }
            }
        }
        let to = safe_tip.min(self.head.number + self.config.catch_up_range);
        let blocks = self.provider.blocks(self.head.number + 1..=to).await?;
        if blocks.first().is_some_and(|(b, _)| b.parent_hash() != self.head.hash) {
            self.reorg(safe_tip).await?;
            return Ok(Next::Continue);
        }
        if !linked(&blocks) {
            // The node reorged while we fetched: fetch again.
            return Ok(Next::Continue);
        }
        self.deliver_commit(blocks).await?;
        Ok(if to < safe_tip { Next::Continue } else { Next::Wait })
    }

    async fn deliver_commit(
        &mut self,
        blocks: Vec<BlockWithReceipts<EthPrimitives>>,
    ) -> Result<(), StepError> {
        let count = blocks.len();
        let new = Arc::new(chain_from(blocks.clone())?);
        debug!(target: "exex::source", range = ?new.range(), "committed");
        self.ctx
            .manager
            .send_async(ExExNotification::ChainCommitted { new: Arc::clone(&new) })
            .await
            .map_err(StepError::fatal)?;
        self.remember(blocks);
        counter!("exex_source_blocks_total").increment(count as u64);
        Ok(())
    }

    fn remember(&mut self, blocks: Vec<BlockWithReceipts<EthPrimitives>>) {
        for block in blocks {
            self.head = block.0.num_hash();
            self.window.push_back(block);
        }
        while self.window.len() > self.config.max_reorg_depth {
            self.window.pop_front();
        }
        self.provider.set_delivered(self.head);
    }

    /// The node's chain no longer extends our head: find the fork point and emit one reorg.
    async fn reorg(&mut self, safe_tip: BlockNumber) -> Result<(), StepError> {
        // Blocks popped off the window while walking back. Whatever fails before the
        // notification is sent (the node unreachable mid-walk, a second reorg) puts them back,
        // so that the retried walk starts again from the delivered head.
        let mut old: Vec<BlockWithReceipts<EthPrimitives>> = Vec::new();
        let found = self.walk_back_and_fetch(safe_tip, &mut old).await;
        let (fork, new_blocks) = match found {
            Ok(found) => found,
            Err(err) => {
                for block in old.into_iter().rev() {
                    self.window.push_back(block);
                }
                return Err(err);
            }
        };
        old.reverse();
        let old_chain = Arc::new(chain_from(old)?);
        counter!("exex_source_reorgs_total").increment(1);
        info!(target: "exex::source", fork = fork.number, old = ?old_chain.range(), new_blocks = new_blocks.len(), "reorg");
        if new_blocks.is_empty() {
            self.ctx
                .manager
                .send_async(ExExNotification::ChainReverted { old: old_chain })
                .await
                .map_err(StepError::fatal)?;
            self.head = fork;
            self.provider.set_delivered(fork);
        } else {
            let new = Arc::new(chain_from(new_blocks.clone())?);
            self.ctx
                .manager
                .send_async(ExExNotification::ChainReorged { old: old_chain, new })
                .await
                .map_err(StepError::fatal)?;
            self.head = fork;
            self.remember(new_blocks);
        }
        Ok(())
    }

    /// Walks back from the delivered head to the newest block the node still has, moving each
    /// block it passes from the window (or the WAL) into `old`, newest first; then fetches the
    /// node's blocks after the fork. Returns the fork and those blocks.
    async fn walk_back_and_fetch(
        &mut self,
        safe_tip: BlockNumber,
        old: &mut Vec<BlockWithReceipts<EthPrimitives>>,
    ) -> Result<(BlockNumHash, Vec<BlockWithReceipts<EthPrimitives>>), StepError> {
        let mut fork = self.head;
        loop {
            if fork.number <= safe_tip
                && self.provider.hash_at(fork.number).await? == Some(fork.hash)
            {
                break;
            }
            let Some(block) = self.window.pop_back().or_else(|| self.block_from_wal(fork)) else {
                // Walked back to the end of what this host knows: a node on another chain
                // says so by its genesis.
                self.check_genesis().await?;
                return Err(StepError::Fatal(eyre::eyre!(
                    "the node at {} reorged deeper than the {} blocks this host keeps in memory and \
                     its WAL holds (fork below block {}); raise --chain.max-reorg-depth or restart \
                     from a fresh datadir",
                    self.config.url,
                    self.config.max_reorg_depth,
                    fork.number
                )));
            };
            fork = BlockNumHash::new(block.0.number().saturating_sub(1), block.0.parent_hash());
            old.push(block);
        }
        let to = safe_tip.min(fork.number + self.config.catch_up_range);
        let new_blocks = if to > fork.number {
            self.provider.blocks(fork.number + 1..=to).await?
        } else {
            Vec::new()
        };
        if new_blocks.first().is_some_and(|(b, _)| b.parent_hash() != fork.hash)
            || !linked(&new_blocks)
        {
            // Still moving: try again on the next step.
            return Err(StepError::Retry(HostError::Provider(
                "the node reorged again while fetching".into(),
            )));
        }
        Ok((fork, new_blocks))
    }

    /// Checks the node's genesis against the one the WAL recorded (recording it on the first
    /// start): a node on another chain stops the source with an error naming both.
    async fn check_genesis(&self) -> Result<(), StepError> {
        let seen = self.provider.hash_at(0).await?.ok_or(HostError::MissingBlock(0))?;
        match self.ctx.wal.genesis().map_err(StepError::fatal)? {
            Some(expected) if expected != seen => {
                let chain_id = self
                    .provider
                    .call("eth_chainId", self.provider.client.get_chain_id())
                    .await
                    .unwrap_or_default();
                Err(StepError::fatal(HostError::OtherChain { seen, chain_id, expected }))
            }
            Some(_) => Ok(()),
            None => self.ctx.wal.set_genesis(seen).map_err(StepError::fatal),
        }
    }

    /// A delivered block the window no longer holds (after a restart), from the WAL.
    fn block_from_wal(&self, block: BlockNumHash) -> Option<BlockWithReceipts<EthPrimitives>> {
        let entry = self.ctx.wal.get_committed_notification_by_block_hash(&block.hash).ok()??;
        let chain = entry.committed_chain()?;
        let found = chain.block(block.number)?;
        Some((Arc::clone(found), chain.receipts_by_block(block.number)?.to_vec()))
    }
}

/// True when the node says it has no such method (JSON-RPC -32601, or a message about the
/// method in the words nodes use; not a missing block's "header not found").
fn method_missing(err: &alloy::transports::TransportError) -> bool {
    err.as_error_resp().is_some_and(|resp| {
        let message = resp.message.to_lowercase();
        resp.code == -32601
            || (message.contains("method")
                && ["not found", "not supported", "does not exist", "not available", "unsupported"]
                    .iter()
                    .any(|words| message.contains(words)))
    })
}

fn linked(blocks: &[BlockWithReceipts<EthPrimitives>]) -> bool {
    blocks.windows(2).all(|pair| pair[1].0.parent_hash() == pair[0].0.hash())
}

/// Why a step failed.
enum StepError {
    /// The node could not answer; retry after a pause.
    Retry(HostError),
    /// The source cannot go on.
    Fatal(eyre::Report),
}

impl StepError {
    fn fatal(err: HostError) -> Self {
        Self::Fatal(err.into())
    }
}

impl From<HostError> for StepError {
    fn from(err: HostError) -> Self {
        Self::Retry(err)
    }
}
