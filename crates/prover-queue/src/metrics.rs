//! The queue's metrics (prefixes `prover_queue_`, seen by the node, and `prover_worker_`, seen by
//! each worker), with their descriptions.

use metrics::{describe_counter, describe_gauge, describe_histogram};

/// Registers a description for every metric of the queue and its workers, and sets the alarm
/// counters to 0 where they do not exist yet. Idempotent.
pub fn describe() {
    metrics::counter!("prover_queue_refused_proofs_total").increment(0);
    metrics::counter!("prover_queue_lease_expiries_total").increment(0);
    describe_gauge!(
        "prover_queue_jobs",
        "proof jobs in the queue by kind (leaf, aggregate, group, top) and state (queued, running, done, failed)"
    );
    describe_gauge!("prover_queue_workers", "prover workers seen in the last 30 s");
    describe_gauge!(
        "prover_queue_oldest_queued_seconds",
        metrics::Unit::Seconds,
        "how long the oldest queued proof job has waited for a worker (0: none waits)"
    );
    describe_gauge!(
        "prover_queue_reachable",
        "1 while the node's last look at the prover queue succeeded, else 0"
    );
    describe_histogram!(
        "prover_queue_job_wait_seconds",
        metrics::Unit::Seconds,
        "from queueing a proof job to its verified result, by kind"
    );
    describe_counter!(
        "prover_queue_refused_proofs_total",
        "proofs a worker returned that did not verify (refused; the job went to another worker)"
    );
    describe_counter!(
        "prover_queue_lease_expiries_total",
        "jobs a worker took over because their lease expired (their worker stopped renewing it)"
    );
    describe_gauge!("prover_worker_busy", "jobs this worker is proving now");
    describe_histogram!(
        "prover_worker_job_seconds",
        metrics::Unit::Seconds,
        "time this worker took to prove a job, by kind"
    );
    describe_counter!(
        "prover_worker_jobs_total",
        "jobs this worker ended, by kind and outcome (done, failed, lease_lost, stopped)"
    );
}
