//! What the Gateway's own node runs besides the settlement ExEx: the Gateway's public JSON-RPC
//! front ([`PublicRpc`]). It forwards an allowlist of methods ([`PUBLIC_METHODS`]) to the
//! Gateway's sequencer and refuses contract deployments from accounts not on the
//! [`DeploymentAllowlist`] on every route it can see (DESIGN section 6: deployment on the Gateway
//! is restricted to whitelisted accounts). The allowlist persists under the
//! node's data dir and is changed through admin JSON-RPC methods.
//!
//! Gateway batches, the chains' events they carry and their ONE aggregated proof settled on L1
//! are the settlement ExEx's gateway mode (`gateway_settlement`, `SettlementConfig::gateway`),
//! which the same node runs.
//!
//! # Examples
//! ```no_run
//! # async fn run(upstream: alloy::transports::http::reqwest::Url) -> Result<(), gateway_mode::GatewayError> {
//! use std::sync::Arc;
//! use gateway_mode::{DeploymentAllowlist, PublicRpc, PublicRpcConfig};
//!
//! let allowlist = Arc::new(DeploymentAllowlist::open("./data/gateway", &[])?);
//! let front = PublicRpc::start(
//!     PublicRpcConfig::new("127.0.0.1:8547".parse().unwrap(), upstream),
//!     Arc::clone(&allowlist),
//! )
//! .await?;
//! println!("public RPC on {}", front.local_addr());
//! # Ok(()) }
//! ```
#![cfg_attr(not(test), warn(unused_crate_dependencies))]

mod allowlist;
mod error;
mod metrics;
mod public_rpc;

pub use allowlist::{ALLOWLIST_FILE, DeploymentAllowlist};
pub use error::{GatewayError, GatewayResult};
pub use metrics::describe_metrics;
pub use public_rpc::{
    DEFAULT_MAX_BODY_BYTES, DEFAULT_TRACE_BURST, DEFAULT_TRACES_PER_SECOND,
    DEFAULT_UPSTREAM_TIMEOUT, DEPLOYMENT_REFUSED_CODE, MAX_BATCH, MAX_SIMULATIONS_PER_REQUEST,
    PUBLIC_METHODS, PublicRpc, PublicRpcConfig,
};
