//! Every background task of the settlement ExEx runs under one [`Supervisor`]: a task that
//! panics, returns an error, or ends before the host shuts down stops the ExEx with an error
//! that names it (reth's `spawn_critical`). The host then stops as it does whenever an ExEx
//! returns; a restart resumes from the store.

use std::{collections::HashMap, future::Future};

use tokio::task::{Id, JoinError, JoinSet};
use tokio_util::sync::CancellationToken;

use crate::error::SettlementError;

/// A supervised task that stopped the ExEx.
#[derive(Debug, thiserror::Error)]
pub enum TaskFailure {
    /// It panicked.
    #[error(
        "settlement task `{task}` panicked: {message}; the settlement ExEx stops (restart the node: it resumes from its store)"
    )]
    Panicked {
        /// The task.
        task: &'static str,
        /// The panic's message.
        message: String,
    },
    /// It returned an error.
    #[error(
        "settlement task `{task}` failed: {source}; the settlement ExEx stops (restart the node: it resumes from its store)"
    )]
    Failed {
        /// The task.
        task: &'static str,
        /// Its error.
        #[source]
        source: SettlementError,
    },
    /// It ended while the host still ran.
    #[error("settlement task `{task}` ended while the node still runs; the settlement ExEx stops")]
    Ended {
        /// The task.
        task: &'static str,
    },
    /// It was cancelled from outside.
    #[error("settlement task `{task}` was cancelled: {source}")]
    Cancelled {
        /// The task.
        task: &'static str,
        /// The join error.
        #[source]
        source: JoinError,
    },
}

impl TaskFailure {
    /// `task` panicked with `payload`.
    pub(crate) fn panicked(task: &'static str, payload: &(dyn std::any::Any + Send)) -> Self {
        let message = payload
            .downcast_ref::<&str>()
            .map(|s| (*s).to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "(no message)".into());
        Self::Panicked { task, message }
    }

    /// The task that failed.
    pub const fn task(&self) -> &'static str {
        match self {
            Self::Panicked { task, .. }
            | Self::Failed { task, .. }
            | Self::Ended { task }
            | Self::Cancelled { task, .. } => task,
        }
    }
}

/// Owns the background tasks; dropping it aborts them.
#[derive(Debug)]
pub(crate) struct Supervisor {
    tasks: JoinSet<Result<(), SettlementError>>,
    names: HashMap<Id, &'static str>,
    shutdown: CancellationToken,
}

impl Supervisor {
    /// A supervisor whose tasks stop when `shutdown` is cancelled.
    pub(crate) fn new(shutdown: CancellationToken) -> Self {
        Self { tasks: JoinSet::new(), names: HashMap::new(), shutdown }
    }

    /// Runs `task` as `name`.
    pub(crate) fn spawn<F>(&mut self, name: &'static str, task: F)
    where
        F: Future<Output = Result<(), SettlementError>> + Send + 'static,
    {
        let handle = self.tasks.spawn(task);
        self.names.insert(handle.id(), name);
    }

    /// Waits for the first task to fail (never returns while every task runs, or once all
    /// ended cleanly at shutdown).
    pub(crate) async fn failure(&mut self) -> TaskFailure {
        loop {
            let Some(joined) = self.tasks.join_next_with_id().await else {
                return std::future::pending().await;
            };
            let failure = match joined {
                Ok((id, Ok(()))) => {
                    let task = self.name(id);
                    if self.shutdown.is_cancelled() {
                        continue;
                    }
                    TaskFailure::Ended { task }
                }
                Ok((id, Err(source))) => TaskFailure::Failed { task: self.name(id), source },
                Err(err) => {
                    let task = self.name(err.id());
                    if err.is_panic() {
                        TaskFailure::panicked(task, &*err.into_panic())
                    } else {
                        TaskFailure::Cancelled { task, source: err }
                    }
                }
            };
            tracing::error!(target: "settlement", task = failure.task(), err = %failure, "a settlement task stopped: the settlement ExEx stops");
            return failure;
        }
    }

    /// At shutdown: gives the tasks `grace` to see the cancelled token and end, then aborts
    /// what is left (a task is never aborted inside a store write: writes do not await).
    pub(crate) async fn stop(mut self, grace: std::time::Duration) {
        let ended =
            tokio::time::timeout(grace, async { while self.tasks.join_next().await.is_some() {} })
                .await;
        if ended.is_err() {
            tracing::warn!(target: "settlement", left = self.tasks.len(), "settlement tasks did not end in time at shutdown: aborted");
            self.tasks.abort_all();
        }
    }

    fn name(&mut self, id: Id) -> &'static str {
        self.names.remove(&id).unwrap_or("unknown")
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn a_panicking_or_failing_task_is_named_and_clean_ends_at_shutdown_are_not_failures() {
        let shutdown = CancellationToken::new();
        let mut supervisor = Supervisor::new(shutdown.clone());
        supervisor.spawn("idle", std::future::pending());
        supervisor.spawn("sender", async {
            tokio::time::sleep(Duration::from_millis(10)).await;
            panic!("boom in the sender");
        });
        let failure =
            tokio::time::timeout(Duration::from_secs(5), supervisor.failure()).await.unwrap();
        assert_eq!(failure.task(), "sender");
        assert!(failure.to_string().contains("`sender` panicked: boom in the sender"), "{failure}");

        supervisor.spawn("prover", async { Err(SettlementError::MissingBatch(3)) });
        let failure =
            tokio::time::timeout(Duration::from_secs(5), supervisor.failure()).await.unwrap();
        assert!(matches!(failure, TaskFailure::Failed { task: "prover", .. }), "{failure}");
        assert!(failure.to_string().contains("batch 3 is not in the store"), "{failure}");

        supervisor.spawn("batcher", async { Ok(()) });
        let failure =
            tokio::time::timeout(Duration::from_secs(5), supervisor.failure()).await.unwrap();
        assert!(matches!(failure, TaskFailure::Ended { task: "batcher" }), "{failure}");

        // At shutdown a task that ends cleanly is no failure.
        shutdown.cancel();
        supervisor.spawn("metrics", async { Ok(()) });
        assert!(
            tokio::time::timeout(Duration::from_millis(200), supervisor.failure()).await.is_err(),
            "no failure is reported for clean ends at shutdown"
        );
    }
}
