//! [`ExExNotification`]: what the host tells every ExEx about the canonical chain.

use std::sync::Arc;

use reth_primitives_traits::NodePrimitives;

use crate::{Chain, EthPrimitives};

/// A change of the canonical chain, sent to every ExEx (reth's `ExExNotification`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExExNotification<N: NodePrimitives = EthPrimitives> {
    /// New blocks were added on top of the canonical tip.
    ChainCommitted {
        /// The committed blocks.
        new: Arc<Chain<N>>,
    },
    /// Blocks were replaced: `old` is no longer canonical and `new` took its place.
    ChainReorged {
        /// The blocks that left the canonical chain.
        old: Arc<Chain<N>>,
        /// The blocks that replaced them.
        new: Arc<Chain<N>>,
    },
    /// Blocks left the canonical chain and nothing replaced them (yet).
    ChainReverted {
        /// The reverted blocks.
        old: Arc<Chain<N>>,
    },
}

impl<N: NodePrimitives> ExExNotification<N> {
    /// The chain that became canonical, if any (`ChainCommitted` and `ChainReorged`).
    pub fn committed_chain(&self) -> Option<Arc<Chain<N>>> {
        match self {
            Self::ChainCommitted { new } | Self::ChainReorged { new, .. } => Some(Arc::clone(new)),
            Self::ChainReverted { .. } => None,
        }
    }

    /// The chain that left the canonical chain, if any (`ChainReorged` and `ChainReverted`).
    pub fn reverted_chain(&self) -> Option<Arc<Chain<N>>> {
        match self {
            Self::ChainReorged { old, .. } | Self::ChainReverted { old } => Some(Arc::clone(old)),
            Self::ChainCommitted { .. } => None,
        }
    }

    /// The notification that undoes this one: a commit becomes a revert of the same blocks, a
    /// revert becomes a commit, and a reorg swaps its old and new chains.
    pub fn into_inverted(self) -> Self {
        match self {
            Self::ChainCommitted { new } => Self::ChainReverted { old: new },
            Self::ChainReverted { old } => Self::ChainCommitted { new: old },
            Self::ChainReorged { old, new } => Self::ChainReorged { old: new, new: old },
        }
    }

    /// A short name of the variant, for logs and metrics labels.
    pub const fn kind(&self) -> &'static str {
        match self {
            Self::ChainCommitted { .. } => "committed",
            Self::ChainReorged { .. } => "reorged",
            Self::ChainReverted { .. } => "reverted",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::TestChain;

    #[test]
    fn inverting_swaps_commits_and_reverts_and_the_chains_of_a_reorg() {
        let chain = TestChain::new();
        let a = chain.commit(2, 1);
        let (old, new) = chain.reorg(1, 2, 0);
        let commit = ExExNotification::ChainCommitted { new: Arc::clone(&a) };
        let inverted = commit.clone().into_inverted();
        assert_eq!(inverted.reverted_chain(), Some(Arc::clone(&a)));
        assert_eq!(inverted.committed_chain(), None);
        assert_eq!(inverted.into_inverted(), commit, "inverting twice is the identity");
        let reorg = ExExNotification::ChainReorged { old: Arc::clone(&old), new: Arc::clone(&new) };
        let inverted = reorg.into_inverted();
        assert_eq!(inverted.reverted_chain(), Some(new));
        assert_eq!(inverted.committed_chain(), Some(old));
    }
}
