//! [`ExExContext`]: what an installed ExEx receives from the host (reth's `ExExContext`).

use std::sync::Arc;

use alloy::eips::BlockNumHash;
use reth_primitives_traits::NodePrimitives;
use tokio::sync::mpsc::{UnboundedSender, error::SendError};
use tokio_util::sync::CancellationToken;

use crate::{
    BlockProvider, EthPrimitives, ExExEvent, ExExHead, ExExNotifications, ExExNotificationsStream,
    HostConfig,
};

/// The host's components an ExEx may use (reth's `FullNodeComponents`, reduced to what a host
/// that follows an external node has).
#[derive(Debug, Clone)]
pub struct HostComponents<N: NodePrimitives = EthPrimitives> {
    /// Read access to the canonical chain.
    pub provider: Arc<dyn BlockProvider<N>>,
    /// Cancelled when the host shuts down.
    pub shutdown: CancellationToken,
}

/// The context of one ExEx.
#[derive(Debug)]
pub struct ExExContext<N: NodePrimitives = EthPrimitives> {
    /// The host's head when the ExEx was launched (not the ExEx's own head).
    pub head: BlockNumHash,
    /// The host's configuration.
    pub config: HostConfig,
    /// Where the ExEx reports [`ExExEvent::FinishedHeight`].
    pub events: UnboundedSender<ExExEvent>,
    /// The notifications, without a head until the ExEx sets one.
    pub notifications: ExExNotifications<N>,
    /// The host's components.
    pub components: HostComponents<N>,
}

impl<N: NodePrimitives> ExExContext<N> {
    /// The block provider.
    pub fn provider(&self) -> &Arc<dyn BlockProvider<N>> {
        &self.components.provider
    }

    /// Reports that the ExEx has finished every block up to and including `height`.
    pub fn send_finished_height(
        &self,
        height: BlockNumHash,
    ) -> Result<(), SendError<BlockNumHash>> {
        self.events.send(ExExEvent::FinishedHeight(height)).map_err(|_| SendError(height))
    }

    /// Delivers every notification from now on, without catching up.
    pub fn set_notifications_without_head(&mut self) {
        self.notifications.set_without_head();
    }

    /// Catches up from `head` (revert if not canonical, backfill if behind) before live
    /// notifications.
    pub fn set_notifications_with_head(&mut self, head: ExExHead) {
        self.notifications.set_with_head(head);
    }

    /// The same context without the host's components (reth's `ExExContextDyn`).
    pub fn into_dyn(self) -> ExExContextDyn<N> {
        ExExContextDyn {
            head: self.head,
            config: self.config,
            events: self.events,
            notifications: Box::new(self.notifications),
        }
    }
}

/// A context that does not name the host's component types (reth's `ExExContextDyn`).
pub struct ExExContextDyn<N: NodePrimitives = EthPrimitives> {
    /// The host's head when the ExEx was launched.
    pub head: BlockNumHash,
    /// The host's configuration.
    pub config: HostConfig,
    /// Where the ExEx reports [`ExExEvent::FinishedHeight`].
    pub events: UnboundedSender<ExExEvent>,
    /// The notifications.
    pub notifications: Box<dyn ExExNotificationsStream<N>>,
}

impl<N: NodePrimitives> std::fmt::Debug for ExExContextDyn<N> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExExContextDyn")
            .field("head", &self.head)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl<N: NodePrimitives> ExExContextDyn<N> {
    /// Reports that the ExEx has finished every block up to and including `height`.
    pub fn send_finished_height(
        &self,
        height: BlockNumHash,
    ) -> Result<(), SendError<BlockNumHash>> {
        self.events.send(ExExEvent::FinishedHeight(height)).map_err(|_| SendError(height))
    }
}
