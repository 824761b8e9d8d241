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
mod public_rpc;

pub use allowlist::{ALLOWLIST_FILE, DeploymentAllowlist};
pub use public_rpc::{
    DEFAULT_MAX_BODY_BYTES, DEFAULT_UPSTREAM_TIMEOUT, DEPLOYMENT_REFUSED_CODE, MAX_BATCH,
    MAX_SIMULATIONS_PER_REQUEST, PUBLIC_METHODS, PublicRpc, PublicRpcConfig,
};

/// Describes gateway mode's metrics to the installed recorder; [`PublicRpc::start`] calls it.
/// Idempotent.
pub fn describe_metrics() {
    use metrics::describe_counter;
    describe_counter!(
        "gateway_public_rpc_requests_total",
        "HTTP requests received by the Gateway's public JSON-RPC front"
    );
    describe_counter!(
        "gateway_public_rpc_refused_methods_total",
        "JSON-RPC requests the public front refused because it does not serve their method"
    );
    describe_counter!(
        "gateway_public_rpc_upstream_errors_total",
        "requests the public front could not forward because the Gateway sequencer did not answer"
    );
    describe_counter!(
        "gateway_public_rpc_simulations_total",
        "signed transactions from accounts off the deployment allowlist traced before forwarding"
    );
    describe_counter!(
        "gateway_public_rpc_simulation_failures_total",
        "signed transactions refused because their trace could not be had (fail closed)"
    );
    describe_counter!(
        "gateway_deployments_refused_total",
        "transactions refused because they deploy a contract from an account off the allowlist"
    );
}

use std::{net::SocketAddr, path::PathBuf};

/// The result type of gateway mode.
pub type GatewayResult<T> = Result<T, GatewayError>;

/// What can go wrong in gateway mode.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    /// A file could not be read or written.
    #[error("{path}: {reason}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        reason: String,
    },
    /// A persisted file does not parse.
    #[error("{path} is corrupt: {reason}; fix or remove it")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The public front could not listen.
    #[error("cannot listen on {addr}: {reason}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        reason: String,
    },
    /// The sequencer client could not be built.
    #[error("the Gateway sequencer client: {0}")]
    Upstream(String),
}

impl GatewayError {
    pub(crate) fn io(path: &std::path::Path, err: &std::io::Error) -> Self {
        Self::Io { path: path.to_path_buf(), reason: err.to_string() }
    }
}
