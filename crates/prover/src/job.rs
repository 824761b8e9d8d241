//! Cancelling one proof job: [`JobCancel`] and [`run_job`].
//!
//! A job runs on a blocking thread ([`run_job`] there); the backend checks the job's handle,
//! and its own [`ProofBackend::cancel`](crate::ProofBackend::cancel), between the steps of the
//! job (witness generation, each proof, each aggregation level) and fails with
//! [`ProverError::Cancelled`](crate::ProverError::Cancelled). A step already running (a
//! halo2 proof has no cancellation points inside) ends first; its result is dropped.

use std::{
    cell::RefCell,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
};

/// Cancels one proof job; clones share the same job.
#[derive(Debug, Clone, Default)]
pub struct JobCancel(Arc<AtomicBool>);

impl JobCancel {
    /// A handle for a new job.
    pub fn new() -> Self {
        Self::default()
    }

    /// Asks the job to stop at its next step.
    pub fn cancel(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    /// Whether [`JobCancel::cancel`] was called.
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

thread_local! {
    static CURRENT_JOB: RefCell<Option<JobCancel>> = const { RefCell::new(None) };
}

/// Runs `job` on this thread as the job `cancel` cancels: backend calls inside it check
/// `cancel` between their steps.
pub fn run_job<T>(cancel: &JobCancel, job: impl FnOnce() -> T) -> T {
    with_job(Some(cancel.clone()), job)
}

/// The job running on this thread, if any (to carry it onto another thread).
pub(crate) fn current_job() -> Option<JobCancel> {
    CURRENT_JOB.with(|job| job.borrow().clone())
}

/// Runs `f` as `job` (or as no job), restoring what ran before.
pub(crate) fn with_job<T>(job: Option<JobCancel>, f: impl FnOnce() -> T) -> T {
    let previous = CURRENT_JOB.with(|current| current.replace(job));
    struct Restore(Option<Option<JobCancel>>);
    impl Drop for Restore {
        fn drop(&mut self) {
            let previous = self.0.take().flatten();
            CURRENT_JOB.with(|current| *current.borrow_mut() = previous);
        }
    }
    let _restore = Restore(Some(previous));
    f()
}

/// True when the job running on this thread was cancelled.
pub fn job_cancelled() -> bool {
    CURRENT_JOB.with(|job| job.borrow().as_ref().is_some_and(JobCancel::is_cancelled))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_job_sees_its_own_handle_only_while_it_runs() {
        let cancel = JobCancel::new();
        assert!(!job_cancelled());
        run_job(&cancel, || {
            assert!(!job_cancelled());
            cancel.cancel();
            assert!(job_cancelled());
            // Carried to another thread, the handle goes along.
            let job = current_job();
            std::thread::spawn(move || with_job(job, job_cancelled))
                .join()
                .map(|seen| assert!(seen))
        })
        .unwrap();
        assert!(!job_cancelled(), "no job outside run_job");
        let other = JobCancel::new();
        run_job(&other, || assert!(!job_cancelled(), "another job is not cancelled"));
    }
}
