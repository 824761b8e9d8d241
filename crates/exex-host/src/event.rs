//! What an ExEx reports back to the host, and the heights derived from it.

use alloy::{eips::BlockNumHash, primitives::BlockNumber};

/// An event an ExEx sends to the host (reth's `ExExEvent`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExExEvent {
    /// The ExEx has processed, and durably stored what it needs of, every block up to and
    /// including this one. The host may prune its WAL up to the lowest such height of all ExExs.
    FinishedHeight(BlockNumHash),
}

/// The block an ExEx has finished processing, persisted by the ExEx and handed back on restart
/// (reth's `ExExHead`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExExHead {
    /// The highest block the ExEx has fully processed.
    pub block: BlockNumHash,
}

impl ExExHead {
    /// A head at `block`.
    pub const fn new(block: BlockNumHash) -> Self {
        Self { block }
    }
}

/// The height every ExEx has finished, as the manager computes it (reth's `FinishedExExHeight`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FinishedExExHeight {
    /// No ExEx is installed: nothing holds the WAL back.
    NoExExs,
    /// At least one ExEx has not reported a finished height yet.
    NotReady,
    /// Every ExEx has finished this block; it is the lowest of their finished heights.
    Height(BlockNumber),
}

impl FinishedExExHeight {
    /// True when every ExEx has reported, or there are none.
    pub const fn is_ready(&self) -> bool {
        !matches!(self, Self::NotReady)
    }
}
