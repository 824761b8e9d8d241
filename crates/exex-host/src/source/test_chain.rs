//! [`TestChain`]: a block source whose blocks tests build by hand.

use std::{
    ops::RangeInclusive,
    sync::{Arc, Mutex, MutexGuard},
};

use alloy::{
    consensus::{EthereumReceipt, Header, Signed, TxEip1559, TxType},
    eips::BlockNumHash,
    primitives::{Address, B256, BlockNumber, Bytes, Log, LogData, Signature, TxKind, U256},
};
use futures::{FutureExt, future::BoxFuture};
use reth_primitives_traits::RecoveredBlock;
use tokio::sync::mpsc;

use super::{BlockWithReceipts, chain_from, resume};
use crate::{
    Block, BlockBody, BlockProvider, BlockSource, Chain, EthPrimitives, ExExNotification,
    HostError, HostResult, SourceContext, TransactionSigned,
};

/// How many blocks one catch-up notification of the test source carries.
const CATCH_UP_CHUNK: usize = 64;

enum Event {
    Notification(ExExNotification),
    Finalized(BlockNumHash),
}

#[derive(Default)]
struct State {
    /// The canonical chain from genesis; `blocks[n]` is block `n`.
    blocks: Vec<BlockWithReceipts<EthPrimitives>>,
    finalized: Option<BlockNumHash>,
    subscriber: Option<mpsc::UnboundedSender<Event>>,
    /// Makes blocks of different forks differ.
    salt: u64,
}

impl State {
    fn emit(&mut self, event: Event) {
        if let Some(subscriber) = &self.subscriber
            && subscriber.send(event).is_err()
        {
            // The host stopped: later changes happen "while it is down".
            self.subscriber = None;
        }
    }

    fn tip(&self) -> BlockNumHash {
        self.blocks.last().map(|(b, _)| b.num_hash()).unwrap_or_default()
    }

    fn build_block(&mut self, txs: usize) -> BlockWithReceipts<EthPrimitives> {
        self.salt += 1;
        let parent = self.tip();
        let number = if self.blocks.is_empty() { 0 } else { parent.number + 1 };
        let mut transactions = Vec::with_capacity(txs);
        let mut senders = Vec::with_capacity(txs);
        let mut receipts = Vec::with_capacity(txs);
        for i in 0..txs {
            let sender = Address::with_last_byte((i % 250) as u8 + 1);
            let tx = TxEip1559 {
                chain_id: 1337,
                nonce: number * 100_000 + i as u64,
                gas_limit: 21_000,
                max_fee_per_gas: 1_000_000_000,
                max_priority_fee_per_gas: 1,
                to: TxKind::Call(Address::with_last_byte(0xee)),
                value: U256::from(self.salt),
                access_list: Default::default(),
                input: Bytes::new(),
            };
            // Senders are given, not recovered: the signature is a fixed placeholder.
            let signed = Signed::new_unhashed(tx, Signature::test_signature());
            transactions.push(TransactionSigned::Eip1559(signed));
            senders.push(sender);
            receipts.push(EthereumReceipt {
                tx_type: TxType::Eip1559,
                success: true,
                cumulative_gas_used: 21_000 * (i as u64 + 1),
                logs: vec![Log {
                    address: Address::with_last_byte(0xee),
                    data: LogData::new_unchecked(
                        vec![B256::with_last_byte(1)],
                        Bytes::from(vec![i as u8]),
                    ),
                }],
            });
        }
        let header = Header {
            parent_hash: if number == 0 { B256::ZERO } else { parent.hash },
            number,
            timestamp: 1_700_000_000 + number,
            gas_limit: 30_000_000,
            gas_used: 21_000 * txs as u64,
            extra_data: Bytes::from(self.salt.to_be_bytes().to_vec()),
            ..Default::default()
        };
        let block =
            Block { header, body: BlockBody { transactions, ommers: vec![], withdrawals: None } };
        let block = Arc::new(RecoveredBlock::new_unhashed(block, senders));
        self.blocks.push((Arc::clone(&block), receipts.clone()));
        (block, receipts)
    }
}

/// A chain of hand-built, linked blocks starting at a genesis block 0. Clones share the chain.
/// Changes made while its source runs in a host are delivered as notifications; changes made
/// while no host runs are found by the next host on start (a restart).
#[derive(Clone)]
pub struct TestChain {
    state: Arc<Mutex<State>>,
}

impl std::fmt::Debug for TestChain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestChain").field("tip", &self.tip()).finish()
    }
}

impl Default for TestChain {
    fn default() -> Self {
        Self::new()
    }
}

impl TestChain {
    /// A chain with only its genesis block.
    pub fn new() -> Self {
        let mut state = State::default();
        state.build_block(0);
        Self { state: Arc::new(Mutex::new(state)) }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The canonical tip.
    pub fn tip(&self) -> BlockNumHash {
        self.lock().tip()
    }

    /// The canonical block `number`.
    pub fn block(&self, number: BlockNumber) -> Option<BlockNumHash> {
        let index = usize::try_from(number).ok()?;
        self.lock().blocks.get(index).map(|(b, _)| b.num_hash())
    }

    /// Canonical blocks `range` as a chain.
    pub fn chain(&self, range: RangeInclusive<BlockNumber>) -> HostResult<Chain> {
        chain_range(&self.lock(), range)
    }

    /// Adds `count` blocks of `txs_per_block` transactions each; returns them.
    pub fn commit(&self, count: usize, txs_per_block: usize) -> Arc<Chain> {
        let mut state = self.lock();
        let blocks: Vec<_> = (0..count).map(|_| state.build_block(txs_per_block)).collect();
        let new = Arc::new(chain_from(blocks).unwrap_or_else(|e| unreachable!("{e}")));
        state.emit(Event::Notification(ExExNotification::ChainCommitted { new: Arc::clone(&new) }));
        new
    }

    /// Replaces the top `depth` blocks by `new_len` new ones; returns `(old, new)`.
    pub fn reorg(
        &self,
        depth: usize,
        new_len: usize,
        txs_per_block: usize,
    ) -> (Arc<Chain>, Arc<Chain>) {
        let mut state = self.lock();
        let old = pop(&mut state, depth);
        let blocks: Vec<_> =
            (0..new_len.max(1)).map(|_| state.build_block(txs_per_block)).collect();
        let new = Arc::new(chain_from(blocks).unwrap_or_else(|e| unreachable!("{e}")));
        state.emit(Event::Notification(ExExNotification::ChainReorged {
            old: Arc::clone(&old),
            new: Arc::clone(&new),
        }));
        (old, new)
    }

    /// Removes the top `depth` blocks; returns them.
    pub fn revert(&self, depth: usize) -> Arc<Chain> {
        let mut state = self.lock();
        let old = pop(&mut state, depth);
        state.emit(Event::Notification(ExExNotification::ChainReverted { old: Arc::clone(&old) }));
        old
    }

    /// Marks block `number` finalized.
    pub fn finalize(&self, number: BlockNumber) {
        let mut state = self.lock();
        let Some(block) = usize::try_from(number).ok().and_then(|n| state.blocks.get(n)) else {
            return;
        };
        let finalized = block.0.num_hash();
        state.finalized = Some(finalized);
        state.emit(Event::Finalized(finalized));
    }

    /// A block source over this chain, for one host run. Changes from now on are delivered
    /// by it; earlier ones are caught up from the host's WAL head when it starts.
    pub fn source(&self) -> TestChainSource {
        let (tx, rx) = mpsc::unbounded_channel();
        let (tip, finalized) = {
            let mut state = self.lock();
            state.subscriber = Some(tx);
            (state.tip(), state.finalized)
        };
        TestChainSource { chain: self.clone(), events: rx, tip, finalized }
    }
}

fn pop(state: &mut State, depth: usize) -> Arc<Chain> {
    // Genesis is never removed.
    let depth = depth.clamp(1, state.blocks.len().saturating_sub(1));
    let split = state.blocks.len() - depth;
    let old = state.blocks.split_off(split);
    Arc::new(chain_from(old).unwrap_or_else(|e| unreachable!("{e}")))
}

fn chain_range(state: &State, range: RangeInclusive<BlockNumber>) -> HostResult<Chain> {
    let mut blocks = Vec::new();
    for number in range {
        let index = usize::try_from(number).map_err(|_| HostError::MissingBlock(number))?;
        let block = state.blocks.get(index).ok_or(HostError::MissingBlock(number))?;
        blocks.push(block.clone());
    }
    chain_from(blocks)
}

/// The [`BlockProvider`] of a [`TestChain`].
#[derive(Debug, Clone)]
pub struct TestChainProvider {
    chain: TestChain,
}

impl BlockProvider<EthPrimitives> for TestChainProvider {
    fn canonical_hash(&self, number: BlockNumber) -> BoxFuture<'_, HostResult<Option<B256>>> {
        let hash = self.chain.block(number).map(|b| b.hash);
        async move { Ok(hash) }.boxed()
    }

    fn best_block(&self) -> BoxFuture<'_, HostResult<BlockNumHash>> {
        let tip = self.chain.tip();
        async move { Ok(tip) }.boxed()
    }

    fn chain_range(&self, range: RangeInclusive<BlockNumber>) -> BoxFuture<'_, HostResult<Chain>> {
        let chain = self.chain.chain(range);
        async move { chain }.boxed()
    }
}

/// The [`BlockSource`] of a [`TestChain`].
pub struct TestChainSource {
    chain: TestChain,
    /// Changes since the source was made.
    events: mpsc::UnboundedReceiver<Event>,
    /// The tip and finalized block when the source was made.
    tip: BlockNumHash,
    finalized: Option<BlockNumHash>,
}

impl std::fmt::Debug for TestChainSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestChainSource").field("tip", &self.tip).finish_non_exhaustive()
    }
}

impl BlockSource<EthPrimitives> for TestChainSource {
    fn provider(&self) -> Arc<dyn BlockProvider<EthPrimitives>> {
        Arc::new(TestChainProvider { chain: self.chain.clone() })
    }

    fn run(
        self: Box<Self>,
        mut ctx: SourceContext<EthPrimitives>,
    ) -> BoxFuture<'static, eyre::Result<()>> {
        async move {
            let provider = self.provider();
            let Self { chain, events: mut rx, tip, finalized } = *self;
            if let Some(finalized) = finalized {
                ctx.finalized.send_replace(Some(finalized));
            }
            if let Some(resume_from) = ctx.resume_from {
                let (revert, mut head) = resume(provider.as_ref(), &ctx.wal, resume_from).await?;
                if let Some(revert) = revert {
                    ctx.manager.send_async(revert).await?;
                }
                while head.number < tip.number {
                    let to = tip.number.min(head.number + CATCH_UP_CHUNK as u64);
                    let new = Arc::new(chain.chain(head.number + 1..=to)?);
                    head = new.tip().num_hash();
                    ctx.manager.send_async(ExExNotification::ChainCommitted { new }).await?;
                }
            }
            loop {
                let event = tokio::select! {
                    () = ctx.shutdown.cancelled() => return Ok(()),
                    event = rx.recv() => event,
                };
                match event {
                    Some(Event::Notification(notification)) => {
                        ctx.manager.send_async(notification).await?
                    }
                    Some(Event::Finalized(finalized)) => {
                        ctx.finalized.send_replace(Some(finalized));
                    }
                    None => return Ok(()),
                }
            }
        }
        .boxed()
    }
}
