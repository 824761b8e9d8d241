//! What can go wrong talking to the queue.

/// An error of the job queue.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    /// The queue's address does not parse.
    #[error("the prover queue address is not a PostgreSQL URL ({url}): {source}")]
    BadUrl {
        /// The address, without its password.
        url: String,
        /// Why.
        #[source]
        source: tokio_postgres::Error,
    },
    /// The TLS settings cannot be made (the CA file does not read or parse).
    #[error("the prover queue's TLS: the CA file {file}: {reason}")]
    Tls {
        /// The CA file.
        file: String,
        /// Why.
        reason: String,
    },
    /// PostgreSQL refused or dropped the connection, or a statement failed.
    #[error("the prover queue at {url}: {what}: {}", chain(source))]
    Postgres {
        /// The address, without its password.
        url: String,
        /// What was being done.
        what: &'static str,
        /// Why.
        #[source]
        source: tokio_postgres::Error,
    },
    /// PostgreSQL did not answer in time.
    #[error("the prover queue at {url}: {what}: no answer within {seconds} s")]
    Timeout {
        /// The address, without its password.
        url: String,
        /// What was being done.
        what: &'static str,
        /// The limit.
        seconds: u64,
    },
    /// A job's payload or result does not decode.
    #[error("proof job {id}: {reason}")]
    BadJob {
        /// The job.
        id: i64,
        /// Why.
        reason: String,
    },
}

/// `err` and its causes (`error performing TLS handshake: invalid peer certificate: …`).
fn chain(err: &tokio_postgres::Error) -> String {
    let mut text = err.to_string();
    let mut cause = std::error::Error::source(err);
    while let Some(inner) = cause {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        cause = inner.source();
    }
    text
}

impl QueueError {
    /// True when the connection is gone (it is re-made on the next call).
    pub fn is_connection(&self) -> bool {
        match self {
            Self::Postgres { source, .. } => source.is_closed() || source.code().is_none(),
            Self::Timeout { .. } => true,
            _ => false,
        }
    }
}
