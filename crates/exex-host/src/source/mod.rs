//! Block sources: [`RpcBlockSource`] follows any Ethereum JSON-RPC node; `TestChain` (feature
//! `test-utils`) builds blocks by hand.

mod rpc;
#[cfg(any(test, feature = "test-utils"))]
mod test_chain;

pub use rpc::{
    DEFAULT_CATCH_UP_RANGE, DEFAULT_MAX_REORG_DEPTH, DEFAULT_POLL_INTERVAL,
    DEFAULT_REQUEST_TIMEOUT, MAX_RETRY_BACKOFF, RpcBlockSource, RpcBlockSourceConfig, RpcProvider,
};
#[cfg(any(test, feature = "test-utils"))]
pub use test_chain::{TestChain, TestChainProvider, TestChainSource};

use alloy::consensus::BlockHeader as _;
use std::sync::Arc;

use alloy::eips::BlockNumHash;
use reth_primitives_traits::{NodePrimitives, RecoveredBlock};

use crate::{
    BlockProvider, Chain, ExExNotification, ExecutionOutcome, HostError, HostResult, WalHandle,
};

/// A block with its receipts, as sources keep them.
pub(crate) type BlockWithReceipts<N> =
    (Arc<RecoveredBlock<<N as NodePrimitives>::Block>>, Vec<<N as NodePrimitives>::Receipt>);

/// Builds a chain from blocks with receipts in ascending order.
pub(crate) fn chain_from<N: NodePrimitives>(
    blocks: Vec<BlockWithReceipts<N>>,
) -> HostResult<Chain<N>> {
    let first = blocks.first().map(|(b, _)| b.number()).ok_or(HostError::EmptyChain)?;
    let (blocks, receipts): (Vec<_>, Vec<_>) = blocks.into_iter().unzip();
    Chain::new(blocks, ExecutionOutcome::new(receipts, first))
}

/// Where a source resumes after a restart: if the block it last delivered is no longer
/// canonical, the blocks it delivered on the dead fork (rebuilt from the WAL) and the canonical
/// block to continue from.
///
/// Returns the revert to send first, if any, and the block to continue after.
pub(crate) async fn resume<N: NodePrimitives>(
    provider: &dyn BlockProvider<N>,
    wal: &WalHandle<N>,
    resume_from: BlockNumHash,
) -> HostResult<(Option<ExExNotification<N>>, BlockNumHash)> {
    let mut head = resume_from;
    let mut reverted: Vec<BlockWithReceipts<N>> = Vec::new();
    while provider.canonical_hash(head.number).await? != Some(head.hash) {
        let Some(entry) = wal.get_committed_notification_by_block_hash(&head.hash)? else {
            return Err(HostError::Provider(format!(
                "the host's last block {} ({}) is not canonical any more and the WAL does not \
                 hold it; remove the WAL directory to start from the current tip",
                head.number, head.hash
            )));
        };
        let Some(committed) = entry.committed_chain() else {
            break;
        };
        let mut part: Vec<BlockWithReceipts<N>> = committed
            .blocks_and_receipts()
            .filter(|(b, _)| b.number() <= head.number)
            .map(|(b, r)| (Arc::clone(b), r.to_vec()))
            .collect();
        part.append(&mut reverted);
        reverted = part;
        head = committed.fork_block();
    }
    if reverted.is_empty() {
        return Ok((None, head));
    }
    let old = Arc::new(chain_from::<N>(reverted)?);
    Ok((Some(ExExNotification::ChainReverted { old }), head))
}
