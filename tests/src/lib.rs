//! Fixtures of the end-to-end tests: an ExEx that keeps what it sees in the redb store, and
//! traffic for anvil.
//!
//! # Examples
//! ```no_run
//! # async fn run(url: alloy::transports::http::reqwest::Url) -> eyre::Result<()> {
//! let key = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";
//! let traffic = e2e_tests::Traffic::new(url, key)?;
//! traffic.blocks(3, 4).await?; // 3 blocks of 4 transactions
//! # Ok(()) }
//! ```
#![cfg_attr(not(test), warn(unused_crate_dependencies))]

mod store_exex;
mod traffic;

pub use store_exex::{STORE_EXEX_ID, store_exex};
pub use traffic::{LOG_EMITTER_INITCODE, Traffic};

// Used by the `e2e-follower` binary only.
use clap as _;
