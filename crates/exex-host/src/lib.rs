//! reth's ExEx API, mirrored, and the host that drives it.
//!
//! reth's node crates are not on crates.io. This crate keeps reth's names and semantics
//! (`ExExNotification`, `ExExContext`, `ExExEvent::FinishedHeight`, the WAL, the manager,
//! `install_exex`) on top of reth's published primitives (`reth-primitives-traits`), so an ExEx
//! written against it reads like a reth ExEx. Instead of executing blocks itself, the host
//! follows a node through a [`BlockSource`]: [`RpcBlockSource`] for any Ethereum JSON-RPC node,
//! `TestChain` (feature `test-utils`) for tests.
//!
//! # Examples
//! ```no_run
//! use exex_host::{ExExContext, HostBuilder, HostConfig, RpcBlockSource, RpcBlockSourceConfig};
//! use futures::TryStreamExt;
//!
//! async fn my_exex(mut ctx: ExExContext) -> eyre::Result<()> {
//!     while let Some(notification) = ctx.notifications.try_next().await? {
//!         if let Some(chain) = notification.committed_chain() {
//!             ctx.send_finished_height(chain.tip().num_hash())?;
//!         }
//!     }
//!     Ok(())
//! }
//!
//! # async fn run() -> eyre::Result<()> {
//! let source = RpcBlockSource::new(RpcBlockSourceConfig::new("http://127.0.0.1:8545".parse()?));
//! let host = HostBuilder::new(HostConfig::new("/tmp/datadir"), source)
//!     .install_exex("my-exex", async move |ctx| Ok(my_exex(ctx)))
//!     .launch()
//!     .await?;
//! host.wait_for_node_exit().await
//! # }
//! ```
//!
//! # Invariants
//! - Every notification is written to the WAL before any ExEx sees it.
//! - An ExEx receives every notification in order; only commits at or below the height it has
//!   reported finished are skipped for it.
//! - An ExEx future that returns stops the host with an error naming it.
#![cfg_attr(not(test), warn(unused_crate_dependencies))]

pub mod auth;
mod chain;
mod cli;
mod context;
mod error;
mod event;
mod host;
mod manager;
pub mod metrics;
mod notification;
mod notifications;
mod primitives;
mod provider;
mod source;
mod wal;

pub use auth::{AdminClient, AuthRpcConfig, JwtSecret};
pub use chain::{Chain, ChainBlocks, ExecutionOutcome};
pub use cli::{
    Cli, Commands, DEFAULT_AUTHRPC_ADDR, DEFAULT_AUTHRPC_PORT, DEFAULT_DATADIR, DEFAULT_HTTP_ADDR,
    DEFAULT_HTTP_PORT, NoArgs, NodeArgs, NodeCommand,
};
pub use context::{ExExContext, ExExContextDyn, HostComponents};
pub use error::{HostError, HostResult};
pub use event::{ExExEvent, ExExHead, FinishedExExHeight};
pub use host::{
    BlockSource, BoxExEx, HostBuilder, HostConfig, HostHandle, RpcContext, SourceContext,
};
pub use manager::{
    DEFAULT_EXEX_CHANNEL_CAPACITY, DEFAULT_EXEX_MANAGER_CAPACITY, ExExHandle, ExExManager,
    ExExManagerHandle,
};
pub use notification::ExExNotification;
pub use notifications::{BACKFILL_CHUNK_BLOCKS, ExExNotifications, ExExNotificationsStream};
pub use primitives::{Block, BlockBody, EthPrimitives, Receipt, TransactionSigned};
pub use provider::BlockProvider;
pub use source::{
    DEFAULT_CATCH_UP_RANGE, DEFAULT_MAX_REORG_DEPTH, DEFAULT_POLL_INTERVAL,
    DEFAULT_REQUEST_TIMEOUT, MAX_RETRY_BACKOFF, RpcBlockSource, RpcBlockSourceConfig, RpcProvider,
};
#[cfg(any(test, feature = "test-utils"))]
pub use source::{TestChain, TestChainProvider, TestChainSource};
pub use wal::{DEFAULT_WAL_BLOCKS_WARNING, WAL_FORMAT_VERSION, Wal, WalHandle};
