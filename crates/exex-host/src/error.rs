//! The host's error type.

use std::path::PathBuf;

use alloy::primitives::{B256, BlockNumber};

/// The result type of the host's fallible operations.
pub type HostResult<T> = Result<T, HostError>;

/// Everything that can go wrong in the host.
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    /// A chain was built without blocks.
    #[error("a chain must hold at least one block")]
    EmptyChain,
    /// Blocks of a chain do not link up.
    #[error("block {number} has parent hash {parent_hash}, expected {expected}")]
    UnlinkedChain {
        /// The block that does not link.
        number: BlockNumber,
        /// Its parent hash.
        parent_hash: B256,
        /// The hash of the block before it.
        expected: B256,
    },
    /// The receipts of a chain do not cover its blocks.
    #[error(
        "{blocks} blocks from {first_block} but receipts for {receipt_blocks} blocks from {receipts_first_block}"
    )]
    ReceiptsMismatch {
        /// How many blocks the chain has.
        blocks: usize,
        /// Its first block.
        first_block: BlockNumber,
        /// How many blocks the receipts cover.
        receipt_blocks: usize,
        /// The first block the receipts cover.
        receipts_first_block: BlockNumber,
    },
    /// A WAL file was written by another format version.
    #[error(
        "WAL file {path} has format version {found}, this build reads version {expected}; \
         finish or remove the WAL with the build that wrote it"
    )]
    WalVersionMismatch {
        /// The file.
        path: PathBuf,
        /// The version byte in the file.
        found: u8,
        /// The version this build writes and reads.
        expected: u8,
    },
    /// A WAL file could not be decoded.
    #[error("WAL file {path} is corrupt: {reason}")]
    WalCorrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// A filesystem operation failed.
    #[error("{action} {path}: {source}")]
    Io {
        /// What the host tried to do.
        action: &'static str,
        /// On which path.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The block provider failed.
    #[error("block provider: {0}")]
    Provider(String),
    /// A block the host needs is not in the provider.
    #[error("block {0} is not available from the block provider")]
    MissingBlock(BlockNumber),
    /// The followed node has no block at the host's last delivered height: it is behind (a
    /// restarted or syncing node), not reorged. The source waits for it.
    #[error(
        "the followed node is behind: its tip is block {tip}, the host has delivered up to block {head}; waiting for it to sync"
    )]
    NodeBehind {
        /// The node's tip.
        tip: BlockNumber,
        /// The host's last delivered block.
        head: BlockNumber,
    },
    /// The followed node serves another chain than the one this host's WAL was written for.
    #[error(
        "the followed node is on another chain: its genesis block is {seen} (chain id {chain_id}), this host's WAL was written for genesis {expected}; point the host at the chain this datadir follows, or start with a new datadir"
    )]
    OtherChain {
        /// The node's genesis hash.
        seen: B256,
        /// The node's chain id (`eth_chainId`), to name it.
        chain_id: u64,
        /// The genesis hash the WAL records.
        expected: B256,
    },
    /// The host is shutting down or a channel to it is closed.
    #[error("the host channel {0} is closed")]
    ChannelClosed(&'static str),
}

impl HostError {
    /// True for what another try may cure: a provider that did not answer or answered for a
    /// chain that moved meanwhile, a block it did not have yet.
    pub const fn is_transient(&self) -> bool {
        matches!(
            self,
            Self::Provider(_)
                | Self::MissingBlock(_)
                | Self::UnlinkedChain { .. }
                | Self::ReceiptsMismatch { .. }
                | Self::NodeBehind { .. }
        )
    }

    /// An I/O error with what was being done and where.
    pub fn io(action: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io { action, path: path.into(), source }
    }
}
