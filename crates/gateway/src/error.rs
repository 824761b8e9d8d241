//! What can go wrong in gateway mode.

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
