//! [`Chain`]: a run of consecutive blocks with their receipts, the payload of every notification.

use std::{collections::BTreeMap, ops::RangeInclusive, sync::Arc};

use alloy::{
    consensus::BlockHeader,
    eips::BlockNumHash,
    primitives::{BlockHash, BlockNumber},
};
use reth_primitives_traits::{NodePrimitives, RecoveredBlock};

use crate::{EthPrimitives, HostError};

/// The receipts of a run of consecutive blocks, as reth's `ExecutionOutcome`.
///
/// reth's outcome also carries the post-state bundle of the executed blocks. The host follows an
/// external node and does not execute blocks, so it has no bundle: it carries the receipts the
/// node reported, which is what a settlement ExEx reads (logs, gas, status).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecutionOutcome<R> {
    /// The receipts of each block, in block order; `receipts[i]` belongs to `first_block + i`.
    pub receipts: Vec<Vec<R>>,
    /// The number of the first block these receipts belong to.
    pub first_block: BlockNumber,
}

impl<R> Default for ExecutionOutcome<R> {
    fn default() -> Self {
        Self { receipts: Vec::new(), first_block: 0 }
    }
}

impl<R> ExecutionOutcome<R> {
    /// Creates an outcome from per-block receipts starting at `first_block`.
    pub const fn new(receipts: Vec<Vec<R>>, first_block: BlockNumber) -> Self {
        Self { receipts, first_block }
    }

    /// The receipts of block `number`, if this outcome covers it.
    pub fn receipts_by_block(&self, number: BlockNumber) -> Option<&[R]> {
        let index = number.checked_sub(self.first_block)?;
        self.receipts.get(usize::try_from(index).ok()?).map(Vec::as_slice)
    }

    /// All receipts, per block.
    pub fn receipts(&self) -> &[Vec<R>] {
        &self.receipts
    }

    /// The range of block numbers this outcome covers (empty when it has no blocks).
    pub fn range(&self) -> RangeInclusive<BlockNumber> {
        let len = self.receipts.len() as u64;
        self.first_block..=(self.first_block + len).saturating_sub(1)
    }

    /// Appends the receipts of the next block.
    pub fn push_block(&mut self, receipts: Vec<R>) {
        self.receipts.push(receipts);
    }
}

/// The blocks of a [`Chain`], by number.
pub type ChainBlocks<N> = BTreeMap<BlockNumber, Arc<RecoveredBlock<<N as NodePrimitives>::Block>>>;

/// A chain of consecutive blocks and their receipts (reth's `reth_execution_types::Chain`).
///
/// # Invariants
/// The chain is never empty, its blocks are consecutive and each block's parent hash is the hash
/// of the block before it, and `execution_outcome` covers exactly the same block numbers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chain<N: NodePrimitives = EthPrimitives> {
    blocks: BTreeMap<BlockNumber, Arc<RecoveredBlock<N::Block>>>,
    execution_outcome: ExecutionOutcome<N::Receipt>,
}

impl<N: NodePrimitives> Chain<N> {
    /// Creates a chain from blocks and the receipts that belong to them.
    ///
    /// Fails if there is no block, the blocks are not linked by number and parent hash, or the
    /// receipts do not cover exactly the same blocks.
    pub fn new(
        blocks: impl IntoIterator<Item = Arc<RecoveredBlock<N::Block>>>,
        execution_outcome: ExecutionOutcome<N::Receipt>,
    ) -> Result<Self, HostError> {
        let blocks: BTreeMap<_, _> = blocks.into_iter().map(|b| (b.number(), b)).collect();
        let mut previous: Option<&Arc<RecoveredBlock<N::Block>>> = None;
        for block in blocks.values() {
            if let Some(previous) = previous
                && block.parent_hash() != previous.hash()
            {
                return Err(HostError::UnlinkedChain {
                    number: block.number(),
                    parent_hash: block.parent_hash(),
                    expected: previous.hash(),
                });
            }
            previous = Some(block);
        }
        let Some((&first, _)) = blocks.first_key_value() else {
            return Err(HostError::EmptyChain);
        };
        if execution_outcome.first_block != first
            || execution_outcome.receipts.len() != blocks.len()
        {
            return Err(HostError::ReceiptsMismatch {
                blocks: blocks.len(),
                first_block: first,
                receipt_blocks: execution_outcome.receipts.len(),
                receipts_first_block: execution_outcome.first_block,
            });
        }
        Ok(Self { blocks, execution_outcome })
    }

    /// Creates a chain of one block.
    pub fn from_block(
        block: impl Into<Arc<RecoveredBlock<N::Block>>>,
        receipts: Vec<N::Receipt>,
    ) -> Self {
        let block = block.into();
        let number = block.number();
        Self {
            blocks: BTreeMap::from([(number, block)]),
            execution_outcome: ExecutionOutcome::new(vec![receipts], number),
        }
    }

    /// The blocks of this chain, by number.
    pub const fn blocks(&self) -> &BTreeMap<BlockNumber, Arc<RecoveredBlock<N::Block>>> {
        &self.blocks
    }

    /// Iterates over the blocks in ascending order.
    pub fn blocks_iter(&self) -> impl DoubleEndedIterator<Item = &Arc<RecoveredBlock<N::Block>>> {
        self.blocks.values()
    }

    /// Iterates over each block with its receipts, in ascending order.
    pub fn blocks_and_receipts(
        &self,
    ) -> impl Iterator<Item = (&Arc<RecoveredBlock<N::Block>>, &[N::Receipt])> {
        self.blocks.values().zip(self.execution_outcome.receipts.iter().map(Vec::as_slice))
    }

    /// The receipts of these blocks.
    pub const fn execution_outcome(&self) -> &ExecutionOutcome<N::Receipt> {
        &self.execution_outcome
    }

    /// The block with the given number, if in this chain.
    pub fn block(&self, number: BlockNumber) -> Option<&Arc<RecoveredBlock<N::Block>>> {
        self.blocks.get(&number)
    }

    /// The block with the given hash, if in this chain.
    pub fn block_by_hash(&self, hash: BlockHash) -> Option<&Arc<RecoveredBlock<N::Block>>> {
        self.blocks.values().find(|b| b.hash() == hash)
    }

    /// The receipts of the block with the given number, if in this chain.
    pub fn receipts_by_block(&self, number: BlockNumber) -> Option<&[N::Receipt]> {
        self.execution_outcome.receipts_by_block(number)
    }

    /// The highest block.
    pub fn tip(&self) -> &Arc<RecoveredBlock<N::Block>> {
        // The chain is never empty (constructor invariant).
        self.blocks.last_key_value().map(|(_, b)| b).unwrap_or_else(|| unreachable!())
    }

    /// The lowest block.
    pub fn first(&self) -> &Arc<RecoveredBlock<N::Block>> {
        // The chain is never empty (constructor invariant).
        self.blocks.first_key_value().map(|(_, b)| b).unwrap_or_else(|| unreachable!())
    }

    /// The block this chain builds on: number and hash of the first block's parent.
    pub fn fork_block(&self) -> BlockNumHash {
        let first = self.first();
        BlockNumHash::new(first.number().saturating_sub(1), first.parent_hash())
    }

    /// The numbers of the blocks in this chain.
    pub fn range(&self) -> RangeInclusive<BlockNumber> {
        self.first().number()..=self.tip().number()
    }

    /// The number of blocks.
    pub fn len(&self) -> usize {
        self.blocks.len()
    }

    /// Always false: a chain holds at least one block. Present for API parity.
    pub fn is_empty(&self) -> bool {
        self.blocks.is_empty()
    }

    /// The number of transactions in all blocks.
    pub fn transaction_count(&self) -> usize {
        self.blocks.values().map(|b| b.senders().len()).sum()
    }

    /// Appends a block that extends the tip.
    pub fn append_block(
        &mut self,
        block: impl Into<Arc<RecoveredBlock<N::Block>>>,
        receipts: Vec<N::Receipt>,
    ) -> Result<(), HostError> {
        let block = block.into();
        let tip = self.tip();
        if block.number() != tip.number() + 1 || block.parent_hash() != tip.hash() {
            return Err(HostError::UnlinkedChain {
                number: block.number(),
                parent_hash: block.parent_hash(),
                expected: tip.hash(),
            });
        }
        self.blocks.insert(block.number(), block);
        self.execution_outcome.push_block(receipts);
        Ok(())
    }

    /// Keeps the blocks above `number`; `None` if none is left.
    pub fn blocks_above(&self, number: BlockNumber) -> Option<Self> {
        if self.tip().number() <= number {
            return None;
        }
        if self.first().number() > number {
            return Some(self.clone());
        }
        let blocks: BTreeMap<_, _> =
            self.blocks.range(number + 1..).map(|(n, b)| (*n, Arc::clone(b))).collect();
        let skip = usize::try_from(number + 1 - self.first().number()).ok()?;
        let receipts = self.execution_outcome.receipts[skip..].to_vec();
        Some(Self { blocks, execution_outcome: ExecutionOutcome::new(receipts, number + 1) })
    }

    /// Keeps the blocks at or below `number`; `None` if none is left.
    pub fn blocks_at_or_below(&self, number: BlockNumber) -> Option<Self> {
        if self.first().number() > number {
            return None;
        }
        if self.tip().number() <= number {
            return Some(self.clone());
        }
        let blocks: BTreeMap<_, _> =
            self.blocks.range(..=number).map(|(n, b)| (*n, Arc::clone(b))).collect();
        let keep = blocks.len();
        let receipts = self.execution_outcome.receipts[..keep].to_vec();
        Some(Self {
            blocks,
            execution_outcome: ExecutionOutcome::new(receipts, self.first().number()),
        })
    }

    /// Splits the chain into its blocks and their receipts.
    pub fn into_inner(self) -> (ChainBlocks<N>, ExecutionOutcome<N::Receipt>) {
        (self.blocks, self.execution_outcome)
    }
}
