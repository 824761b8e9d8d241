//! The workers' side: [`Worker`] claims jobs, proves them under a lease it renews, and writes
//! the results back.

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use alloy_primitives::Bytes;
use gateway_prover::{JobCancel, ProofBackend, ProverError, run_job};
use tokio::{sync::Semaphore, task::JoinSet};
use tokio_util::sync::CancellationToken;
use tracing::{debug, error, info, warn};

use crate::{
    db::Db,
    error::QueueError,
    job::{JobKind, Payload},
};

/// The environment variable that makes a worker misbehave, for the tests that show the queue
/// survives it: `hang` (proves for ever, renewing its lease: a long job to kill with `kill -9`).
/// Never set it in production.
pub const FAULT_ENV: &str = "GATEWAY_PROVER_FAULT";

/// A misbehaviour asked for through [`FAULT_ENV`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    Hang,
}

/// How a worker works.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// Its name in the queue (unique per process; default: host name and process id).
    pub id: String,
    /// The kinds of job it takes (`aggregate` stands for a tree's groups and top too:
    /// [`JobKind::taken_with`]).
    pub kinds: Vec<JobKind>,
    /// Jobs it proves at once.
    pub concurrency: usize,
    /// How long a claimed job stays its own without a renewal (renewed every third of it).
    pub lease: Duration,
    /// How often it looks for a job when there was none.
    pub poll_interval: Duration,
}

impl WorkerConfig {
    /// Every kind, one job at a time, a 30 s lease, a look every 200 ms.
    pub fn new() -> Self {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_string())
            .unwrap_or_else(|_| "worker".into());
        Self {
            id: format!("{host}-{}", std::process::id()),
            kinds: JobKind::ALL.to_vec(),
            concurrency: 1,
            lease: Duration::from_secs(30),
            poll_interval: Duration::from_millis(200),
        }
    }
}

impl Default for WorkerConfig {
    fn default() -> Self {
        Self::new()
    }
}

/// A claimed job.
#[derive(Debug)]
struct Claimed {
    id: i64,
    /// This claim's token: every later write of the job checks it, so a worker whose lease
    /// expired (or another process with the same id) cannot touch the job again.
    claim: String,
    kind: JobKind,
    what: String,
    payload: Payload,
}

/// A worker: proves the queue's jobs of its kinds with its backend.
#[derive(Debug)]
pub struct Worker {
    db: Db,
    backend: Arc<dyn ProofBackend>,
    config: WorkerConfig,
    fault: Option<Fault>,
    /// Unique to this process's run (with `claims`: each claim's token).
    run: u128,
    claims: AtomicU64,
}

impl Worker {
    /// A worker for the queue `db`, proving with `backend`.
    pub fn new(db: Db, backend: Arc<dyn ProofBackend>, config: WorkerConfig) -> Self {
        let fault = match std::env::var(FAULT_ENV).as_deref() {
            Ok("hang") => Some(Fault::Hang),
            _ => None,
        };
        if let Some(fault) = fault {
            error!(target: "prover_queue", ?fault, "{FAULT_ENV} is set: this worker misbehaves on purpose (tests only)");
        }
        let run = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let config = WorkerConfig { kinds: JobKind::taken_with(&config.kinds), ..config };
        Self { db, backend, config, fault, run, claims: AtomicU64::new(0) }
    }

    /// Claims and proves jobs until `shutdown`; jobs running then are put back in the queue.
    pub async fn run(self: Arc<Self>, shutdown: CancellationToken) -> Result<(), QueueError> {
        let kinds: Vec<&str> = self.config.kinds.iter().map(|k| k.as_str()).collect();
        info!(target: "prover_queue", queue = self.db.url(), worker = %self.config.id, ?kinds, concurrency = self.config.concurrency, backend = %self.backend.kind(), "prover worker started");
        let heartbeat = tokio::spawn(Arc::clone(&self).heartbeat());
        let slots = Arc::new(Semaphore::new(self.config.concurrency.max(1)));
        let mut running = JoinSet::new();
        let mut complained = None::<Instant>;
        loop {
            while running.try_join_next().is_some() {}
            let slot = tokio::select! {
                _ = shutdown.cancelled() => break,
                slot = Arc::clone(&slots).acquire_owned() => match slot {
                    Ok(slot) => slot,
                    Err(_) => break,
                },
            };
            let idle = match self.claim().await {
                Ok(Some(job)) => {
                    complained = None;
                    let worker = Arc::clone(&self);
                    let stop = shutdown.clone();
                    running.spawn(async move {
                        worker.work(job, stop).await;
                        drop(slot);
                    });
                    continue;
                }
                Ok(None) => {
                    complained = None;
                    self.config.poll_interval
                }
                Err(err) => {
                    if complained.is_none_or(|at| at.elapsed() > Duration::from_secs(10)) {
                        warn!(target: "prover_queue", %err, "the prover queue is unreachable; waiting for it");
                        complained = Some(Instant::now());
                    }
                    Duration::from_secs(1)
                }
            };
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tokio::time::sleep(idle) => {}
            }
        }
        info!(target: "prover_queue", worker = %self.config.id, "stopping: putting running jobs back");
        self.backend.cancel();
        while running.join_next().await.is_some() {}
        heartbeat.abort();
        let _ = heartbeat.await;
        let _ = self
            .db
            .execute(
                "removing the worker",
                "DELETE FROM gateway_prover_workers WHERE id = $1",
                &[&self.config.id],
            )
            .await;
        Ok(())
    }

    /// Says the worker is alive, every third of its lease.
    async fn heartbeat(self: Arc<Self>) {
        let kinds: Vec<&str> = self.config.kinds.iter().map(|k| k.as_str()).collect();
        let kinds = kinds.join(",");
        let backend = self.backend.kind().to_string();
        // Seen within 30 s counts as alive (the node's status): at least every 10 s.
        let every =
            (self.config.lease / 3).clamp(Duration::from_millis(200), Duration::from_secs(10));
        loop {
            let seen = self
                .db
                .execute(
                    "saying the worker is alive",
                    "INSERT INTO gateway_prover_workers (id, kinds, backend, concurrency)
                     VALUES ($1, $2, $3, $4)
                     ON CONFLICT (id) DO UPDATE SET seen_at = now(), kinds = EXCLUDED.kinds,
                         backend = EXCLUDED.backend, concurrency = EXCLUDED.concurrency",
                    &[&self.config.id, &kinds, &backend, &(self.config.concurrency as i32)],
                )
                .await;
            if let Err(err) = seen {
                debug!(target: "prover_queue", %err, "heartbeat failed");
            }
            tokio::time::sleep(every).await;
        }
    }

    /// The oldest job this worker may take: queued, or running under an expired lease (the
    /// expiry is counted), of its kinds and backend, with attempts left, and never a job whose
    /// proof from this worker was refused.
    async fn claim(&self) -> Result<Option<Claimed>, QueueError> {
        let kinds: Vec<String> = self.config.kinds.iter().map(|k| k.as_str().to_string()).collect();
        let backend = self.backend.kind().to_string();
        let claim = format!(
            "{}/{:x}/{}",
            self.config.id,
            self.run,
            self.claims.fetch_add(1, Ordering::Relaxed)
        );
        let rows = self
            .db
            .query(
                "claiming a job",
                "UPDATE gateway_proof_jobs j SET state = 'running', worker = $1, claim = $5,
                     attempts = j.attempts + 1,
                     lease_until = now() + make_interval(secs => $2),
                     lease_expiries = j.lease_expiries
                         + CASE WHEN c.state = 'running' THEN 1 ELSE 0 END
                 FROM (SELECT id, state FROM gateway_proof_jobs
                       WHERE backend = $3 AND kind = ANY($4)
                         AND (state = 'queued' OR (state = 'running' AND lease_until < now()))
                         AND attempts < max_attempts AND NOT ($1 = ANY(bad_workers))
                       ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED) c
                 WHERE j.id = c.id
                 RETURNING j.id, j.kind, j.what, j.payload, c.state",
                &[&self.config.id, &self.config.lease.as_secs_f64(), &backend, &kinds, &claim],
            )
            .await?;
        let Some(row) = rows.first() else { return Ok(None) };
        let id: i64 = row.get(0);
        let kind: JobKind =
            row.get::<_, &str>(1).parse().map_err(|reason| QueueError::BadJob { id, reason })?;
        let what: String = row.get(2);
        if row.get::<_, &str>(4) == "running" {
            metrics::counter!("prover_queue_lease_expiries_total").increment(1);
            warn!(target: "prover_queue", job = id, %what, "took over a job whose lease expired (its worker stopped renewing it)");
        }
        match Payload::decode(id, kind, self.backend.kind(), row.get(3)) {
            Ok(payload) => Ok(Some(Claimed { id, claim, kind, what, payload })),
            Err(err) => {
                self.fail(id, &claim, &err.to_string()).await;
                Err(err)
            }
        }
    }

    /// Proves `job` while renewing its lease; writes the result back (or the failure).
    async fn work(&self, job: Claimed, shutdown: CancellationToken) {
        let started = Instant::now();
        info!(target: "prover_queue", job = job.id, what = %job.what, "proving");
        metrics::gauge!("prover_worker_busy").increment(1.0);
        let cancel = JobCancel::new();
        let job_cancel = cancel.clone();
        let backend = Arc::clone(&self.backend);
        let (payload, fault) = (job.payload.clone(), self.fault);
        let mut proving = tokio::task::spawn_blocking(move || {
            run_job(&job_cancel, || prove(backend.as_ref(), &payload, fault))
        });
        let mut renew =
            tokio::time::interval((self.config.lease / 3).max(Duration::from_millis(100)));
        renew.tick().await;
        let mut lease_lost = false;
        let outcome = loop {
            tokio::select! {
                joined = &mut proving => break joined.unwrap_or_else(|e| Err(ProverError::Failed {
                    what: job.what.clone(),
                    reason: format!("the proving thread ended: {e}"),
                })),
                // Stopping: the job goes back now (a halo2 step cannot be interrupted, and the
                // process may be killed before it ends); the proof, if it ends, is dropped.
                _ = shutdown.cancelled() => {
                    cancel.cancel();
                    // The blocking proof is not waited for (its result would be dropped): the
                    // cancel token stops it at its next step, or it ends with the process (a
                    // blocking task cannot be aborted).
                    self.put_back(job.id, &job.claim).await;
                    metrics::gauge!("prover_worker_busy").decrement(1.0);
                    metrics::counter!("prover_worker_jobs_total", "kind" => job.kind.as_str(), "outcome" => "stopped")
                        .increment(1);
                    return;
                }
                _ = renew.tick(), if !lease_lost => match self.renew(job.id, &job.claim).await {
                    Ok(true) => {}
                    Ok(false) => {
                        warn!(target: "prover_queue", job = job.id, "lost the lease (another worker took the job): stopping it");
                        lease_lost = true;
                        cancel.cancel();
                    }
                    Err(err) => debug!(target: "prover_queue", job = job.id, %err, "renewing the lease failed; retrying"),
                },
            }
        };
        metrics::gauge!("prover_worker_busy").decrement(1.0);
        let seconds = started.elapsed().as_secs_f64();
        let result = match outcome {
            _ if lease_lost => "lease_lost",
            Ok(bytes) => {
                metrics::histogram!("prover_worker_job_seconds", "kind" => job.kind.as_str())
                    .record(seconds);
                if self.complete(job.id, &job.claim, &bytes, started.elapsed()).await {
                    info!(target: "prover_queue", job = job.id, what = %job.what, seconds, "proved");
                    "done"
                } else {
                    "lease_lost"
                }
            }
            Err(err) => {
                warn!(target: "prover_queue", job = job.id, what = %job.what, %err, "proving failed");
                self.fail(job.id, &job.claim, &err.to_string()).await;
                "failed"
            }
        };
        metrics::counter!("prover_worker_jobs_total", "kind" => job.kind.as_str(), "outcome" => result)
            .increment(1);
    }

    /// Renews the lease of `id`; false when it is no longer this worker's.
    async fn renew(&self, id: i64, claim: &str) -> Result<bool, QueueError> {
        let changed = self
            .db
            .execute(
                "renewing a lease",
                "UPDATE gateway_proof_jobs SET lease_until = now() + make_interval(secs => $3)
                 WHERE id = $1 AND claim = $2 AND state = 'running'",
                &[&id, &claim, &self.config.lease.as_secs_f64()],
            )
            .await?;
        Ok(changed > 0)
    }

    /// Writes the result of `id` (retried while PostgreSQL is away, up to a minute); false when
    /// the job is no longer this worker's (its result is dropped).
    async fn complete(&self, id: i64, claim: &str, result: &Bytes, took: Duration) -> bool {
        for _ in 0..60 {
            let written = self
                .db
                .execute(
                    "writing a result",
                    // `done` by this claim already: an earlier try committed, its answer lost.
                    "UPDATE gateway_proof_jobs SET state = 'done', result = $3, prove_ms = $4,
                         finished_at = now(), lease_until = NULL
                     WHERE id = $1 AND claim = $2 AND state IN ('running', 'done')",
                    &[&id, &claim, &result.to_vec(), &(took.as_millis() as i64)],
                )
                .await;
            match written {
                Ok(0) => {
                    warn!(target: "prover_queue", job = id, "the job is no longer ours (lease expired): result dropped");
                    return false;
                }
                Ok(_) => {
                    let _ = self
                        .db
                        .execute(
                            "counting a done job",
                            "UPDATE gateway_prover_workers SET jobs_done = jobs_done + 1 WHERE id = $1",
                            &[&self.config.id],
                        )
                        .await;
                    return true;
                }
                Err(err) => {
                    debug!(target: "prover_queue", job = id, %err, "writing the result failed; retrying");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
        false
    }

    /// `id` failed here: back to the queue, or failed once its attempts are spent.
    async fn fail(&self, id: i64, claim: &str, reason: &str) {
        let reason = format!("worker {}: {reason}", self.config.id);
        let failed = self
            .db
            .execute(
                "recording a failure",
                "UPDATE gateway_proof_jobs SET
                     state = CASE WHEN attempts >= max_attempts THEN 'failed' ELSE 'queued' END,
                     queued_at = now(),
                     worker = NULL, claim = NULL, lease_until = NULL, last_error = $3
                 WHERE id = $1 AND claim = $2 AND state = 'running'",
                &[&id, &claim, &reason],
            )
            .await;
        if let Err(err) = failed {
            warn!(target: "prover_queue", job = id, %err, "could not record the failure; the lease will expire");
        }
    }

    /// The worker stops: `id` goes back without spending an attempt.
    async fn put_back(&self, id: i64, claim: &str) {
        let back = self
            .db
            .execute(
                "putting a job back",
                "UPDATE gateway_proof_jobs SET state = 'queued', queued_at = now(), worker = NULL,
                     claim = NULL, lease_until = NULL, attempts = greatest(attempts - 1, 0)
                 WHERE id = $1 AND claim = $2 AND state = 'running'",
                &[&id, &claim],
            )
            .await;
        if let Err(err) = back {
            warn!(target: "prover_queue", job = id, %err, "could not put the job back; its lease will expire");
        }
    }
}

/// The blocking part: the proof's bytes.
fn prove(
    backend: &dyn ProofBackend,
    payload: &Payload,
    fault: Option<Fault>,
) -> Result<Bytes, ProverError> {
    if fault == Some(Fault::Hang) {
        while !gateway_prover::job_cancelled() {
            std::thread::sleep(Duration::from_millis(50));
        }
        return Err(ProverError::Cancelled("a hanging job".into()));
    }
    Ok(match payload {
        Payload::Leaf(input) => backend.prove_batch(input)?.bytes,
        Payload::Aggregate { tree: false, proofs } => backend.aggregate(proofs)?.bytes,
        Payload::Aggregate { tree: true, proofs } => backend.aggregate_tree(proofs)?.bytes,
        Payload::Group { proofs } => backend.aggregate_group(proofs)?.bytes,
        Payload::Top { groups } => backend.aggregate_groups(groups)?.bytes,
    })
}

/// Puts every failed job back in the queue with its attempts reset, and lets every worker
/// take every waiting job again (a worker whose proof was refused, then fixed); returns how
/// many failed jobs went back.
pub async fn retry_failed(db: &Db) -> Result<u64, QueueError> {
    db.execute(
        "forgiving refused workers",
        "UPDATE gateway_proof_jobs SET bad_workers = '{}', queued_at = now()
         WHERE state = 'queued' AND bad_workers <> '{}'",
        &[],
    )
    .await?;
    db.execute(
        "putting failed jobs back",
        "UPDATE gateway_proof_jobs SET state = 'queued', queued_at = now(), attempts = 0,
             worker = NULL, claim = NULL, lease_until = NULL, bad_workers = '{}'
         WHERE state = 'failed'",
        &[],
    )
    .await
}
