//! [`BlockProvider`]: what notification streams need from the node to catch up after a restart.

use std::{fmt::Debug, ops::RangeInclusive};

use alloy::{
    eips::BlockNumHash,
    primitives::{B256, BlockNumber},
};
use futures::future::BoxFuture;
use reth_primitives_traits::NodePrimitives;

use crate::{Chain, EthPrimitives, HostResult};

/// Read access to the canonical chain of the node the host follows (the part of reth's
/// provider that ExEx notification streams use).
pub trait BlockProvider<N: NodePrimitives = EthPrimitives>: Debug + Send + Sync + 'static {
    /// The canonical block hash at `number`, or `None` above the tip.
    fn canonical_hash(&self, number: BlockNumber) -> BoxFuture<'_, HostResult<Option<B256>>>;

    /// The host's canonical tip: the highest block it has delivered (or is about to deliver) to
    /// the manager. Backfill runs up to here; later blocks arrive as notifications.
    fn best_block(&self) -> BoxFuture<'_, HostResult<BlockNumHash>>;

    /// The canonical blocks in `range`, with receipts.
    fn chain_range(
        &self,
        range: RangeInclusive<BlockNumber>,
    ) -> BoxFuture<'_, HostResult<Chain<N>>>;
}
