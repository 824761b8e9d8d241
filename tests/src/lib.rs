//! Fixtures of the end-to-end tests: an ExEx that keeps what it sees in the redb store.
//!
//! # Examples
//! ```no_run
//! # use std::sync::Arc;
//! # async fn run(ctx: exex_host::ExExContext, store: Arc<gateway_store::Store>) -> eyre::Result<()> {
//! e2e_tests::store_exex(ctx, store, None).await
//! # }
//! ```
#![cfg_attr(not(test), warn(unused_crate_dependencies))]

pub mod bridge_net;
pub mod fixtures;
pub mod gateway_l1;
mod store_exex;

pub use store_exex::{STORE_EXEX_ID, store_exex};

// Used by the `e2e-follower` binary only.
use clap as _;
