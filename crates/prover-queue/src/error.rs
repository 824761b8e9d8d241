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
    /// PostgreSQL refused or dropped the connection, or a statement failed.
    #[error("the prover queue at {url}: {what}: {source}")]
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
