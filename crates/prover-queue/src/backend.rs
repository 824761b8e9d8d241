//! The node's side: [`QueueBackend`] queues each proof job and verifies what a worker returns.

use std::{
    sync::{
        Arc, Mutex, Weak,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use alloy_primitives::Bytes;
use gateway_prover::{
    AggregatedProof, BackendKind, BatchProof, BatchPublicInput, FailedJob, GroupProof, JobsStatus,
    ProofBackend, ProverError, ProverResult, check_input_width,
};
use tracing::{info, warn};

use crate::{
    db::Db,
    error::QueueError,
    job::{JobKind, Payload},
};

/// The job states a queue row goes through.
const STATES: [&str; 4] = ["queued", "running", "done", "failed"];

/// How the node uses the queue.
#[derive(Debug, Clone)]
pub struct QueueConfig {
    /// `postgres://user:password@host:port/database` (`?sslmode=require` for TLS only).
    pub url: String,
    /// CA certificates (PEM) trusted for the server's TLS certificate, beside the system's.
    pub ca_file: Option<std::path::PathBuf>,
    /// Claims a job may have before it is marked failed (a worker's error, an expired lease
    /// and a refused proof each spend one).
    pub max_attempts: u32,
    /// How often a waiting job is looked at.
    pub poll_interval: Duration,
    /// How often the status (and the queue's gauges) is refreshed.
    pub status_interval: Duration,
}

impl QueueConfig {
    /// The defaults for a queue at `url`: 3 attempts, a look every 100 ms, the status every 2 s.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            ca_file: None,
            max_attempts: 3,
            poll_interval: Duration::from_millis(100),
            status_interval: Duration::from_secs(2),
        }
    }
}

/// A proof backend whose jobs run on workers ([`crate::Worker`]) through PostgreSQL. Every
/// proof that comes back is verified by `local` (the same backend, in-process) before it is
/// returned: a worker is not trusted. Calls block: make them from a blocking thread of the
/// runtime the backend was made in, as the settlement's prove stage does.
#[derive(Debug, Clone)]
pub struct QueueBackend {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    db: Db,
    local: Arc<dyn ProofBackend>,
    config: QueueConfig,
    handle: tokio::runtime::Handle,
    status: Mutex<JobsStatus>,
    cancelled: AtomicBool,
    /// The task refreshing `status` (it holds only a weak reference; aborted on drop).
    refresher: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Some(task) = lock(&self.refresher).take() {
            task.abort();
        }
    }
}

/// What a look at one job found.
enum Polled {
    Waiting,
    Done { result: Vec<u8>, worker: String },
    Failed { attempts: i32, reason: String },
    Gone,
}

impl QueueBackend {
    /// A backend queueing its jobs at `config.url` and verifying results with `local`. Must be
    /// called inside a tokio runtime: it keeps a task there that refreshes the status and the
    /// queue's gauges. Nothing connects yet (a queue that is down is waited for, and shown).
    pub fn new(config: QueueConfig, local: Arc<dyn ProofBackend>) -> Result<Self, QueueError> {
        let db = Db::with_ca_file(&config.url, config.ca_file.as_deref())?;
        let status = JobsStatus { queue: db.url().to_string(), ..Default::default() };
        let inner = Arc::new(Inner {
            db,
            local,
            config,
            handle: tokio::runtime::Handle::current(),
            status: Mutex::new(status),
            cancelled: AtomicBool::new(false),
            refresher: Mutex::new(None),
        });
        info!(target: "prover_queue", queue = inner.db.url(), backend = %inner.local.kind(), "proof jobs go to the queue; workers prove them");
        let task = tokio::spawn(refresh_status(Arc::downgrade(&inner)));
        *lock(&inner.refresher) = Some(task);
        Ok(Self { inner })
    }

    /// The backend that verifies the workers' proofs.
    pub fn local(&self) -> &Arc<dyn ProofBackend> {
        &self.inner.local
    }

    fn run<T>(
        &self,
        payload: Payload,
        verify: impl Fn(Bytes) -> ProverResult<T>,
    ) -> ProverResult<T> {
        let inner = &self.inner;
        inner.handle.block_on(inner.run(payload, verify))
    }
}

impl Inner {
    fn cancelled(&self) -> bool {
        self.cancelled.load(Ordering::Relaxed) || gateway_prover::job_cancelled()
    }

    async fn run<T>(
        &self,
        payload: Payload,
        verify: impl Fn(Bytes) -> ProverResult<T>,
    ) -> ProverResult<T> {
        let what = payload.what();
        let kind = payload.kind();
        let started = Instant::now();
        let mut id = None;
        let mut complained = Instant::now();
        loop {
            if self.cancelled() {
                if let Some(job) = id {
                    self.withdraw(job).await;
                }
                return Err(ProverError::Cancelled(what));
            }
            let step = match id {
                None => self.submit(&payload).await.map(|new| {
                    id = Some(new);
                    Polled::Waiting
                }),
                Some(job) => self.poll(job).await,
            };
            match step {
                Ok(Polled::Waiting) => {}
                Ok(Polled::Gone) => id = None,
                Ok(Polled::Done { result, worker }) => {
                    let job = id.unwrap_or_default();
                    match verify(result.into()) {
                        Ok(value) => {
                            self.taken(job).await;
                            metrics::histogram!("prover_queue_job_wait_seconds", "kind" => kind.as_str())
                                .record(started.elapsed().as_secs_f64());
                            return Ok(value);
                        }
                        // Only a proof that does not verify is the worker's fault; an error
                        // of this node's own backend (keys that fail to load) is returned
                        // as it is, and the job and its result stay.
                        Err(
                            err @ (ProverError::Invalid { .. } | ProverError::WrongBackend { .. }),
                        ) => {
                            metrics::counter!("prover_queue_refused_proofs_total").increment(1);
                            warn!(target: "prover_queue", job, %worker, %err, "a worker's proof does not verify: refused; the job goes to another worker");
                            if let Err(err) = self.refuse(job, &worker, &err.to_string()).await {
                                warn!(target: "prover_queue", job, %err, "could not put the refused job back; retrying");
                            }
                        }
                        Err(err) => return Err(err),
                    }
                }
                Ok(Polled::Failed { attempts, reason }) => {
                    return Err(ProverError::Failed {
                        what,
                        reason: format!(
                            "job {} failed {attempts} attempt(s) on the workers, the last: {reason} (`gateway-node prover --queue URL --retry-failed` puts it back)",
                            id.unwrap_or_default()
                        ),
                    });
                }
                Err(err) => {
                    if complained.elapsed() > Duration::from_secs(10) || id.is_none() {
                        warn!(target: "prover_queue", %err, %what, "the prover queue is unreachable; waiting for it");
                        complained = Instant::now();
                    }
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
            }
            tokio::time::sleep(self.config.poll_interval).await;
        }
    }

    /// Queues `payload` (or finds the job already asked for); its id.
    async fn submit(&self, payload: &Payload) -> Result<i64, QueueError> {
        let backend = self.local.kind().to_string();
        let rows = self
            .db
            .query(
                "queueing a job",
                "INSERT INTO gateway_proof_jobs (key, kind, backend, what, payload, max_attempts)
                 VALUES ($1, $2, $3, $4, $5, $6)
                 ON CONFLICT (key) DO UPDATE SET key = EXCLUDED.key
                 RETURNING id",
                &[
                    &payload.key(self.local.kind()),
                    &payload.kind().as_str(),
                    &backend,
                    &payload.what(),
                    &payload.encode(),
                    &(self.config.max_attempts.max(1) as i32),
                ],
            )
            .await?;
        Ok(rows.first().map(|row| row.get::<_, i64>(0)).unwrap_or_default())
    }

    async fn poll(&self, id: i64) -> Result<Polled, QueueError> {
        let rows = self
            .db
            .query(
                "looking at a job",
                "SELECT state, result, coalesce(worker, ''), attempts, coalesce(last_error, '')
                 FROM gateway_proof_jobs WHERE id = $1",
                &[&id],
            )
            .await?;
        let Some(row) = rows.first() else { return Ok(Polled::Gone) };
        Ok(match row.get::<_, &str>(0) {
            "done" => Polled::Done {
                result: row.get::<_, Option<Vec<u8>>>(1).unwrap_or_default(),
                worker: row.get(2),
            },
            "failed" => Polled::Failed { attempts: row.get(3), reason: row.get(4) },
            _ => Polled::Waiting,
        })
    }

    /// A job nobody waits for any more (its batch was unsealed, the node stops) leaves the
    /// queue if no worker took it yet.
    async fn withdraw(&self, id: i64) {
        let withdrawn = self
            .db
            .execute(
                "withdrawing a job",
                "DELETE FROM gateway_proof_jobs WHERE id = $1 AND state = 'queued'",
                &[&id],
            )
            .await;
        if let Err(err) = withdrawn {
            warn!(target: "prover_queue", job = id, %err, "could not withdraw a cancelled job");
        }
    }

    /// [`Self::withdraw`] by the job's key: the job asked for `payload`, if no worker took it.
    async fn withdraw_payload(&self, payload: &Payload) {
        let withdrawn = self
            .db
            .execute(
                "withdrawing a job",
                "DELETE FROM gateway_proof_jobs WHERE key = $1 AND state = 'queued'",
                &[&payload.key(self.local.kind())],
            )
            .await;
        if let Err(err) = withdrawn {
            warn!(target: "prover_queue", %err, what = %payload.what(), "could not withdraw a cancelled job");
        }
    }

    /// The result of `id` is used (counted; kept a while for a node that restarts).
    async fn taken(&self, id: i64) {
        let taken = self
            .db
            .execute(
                "marking a result taken",
                "UPDATE gateway_proof_jobs SET taken = taken + 1 WHERE id = $1",
                &[&id],
            )
            .await;
        if let Err(err) = taken {
            warn!(target: "prover_queue", job = id, %err, "could not mark the result taken");
        }
    }

    /// `worker`'s result of `id` does not verify: back to the queue without `worker`, or
    /// failed once its attempts are spent.
    async fn refuse(&self, id: i64, worker: &str, reason: &str) -> Result<u64, QueueError> {
        let reason = format!("the proof of worker {worker} does not verify: {reason}");
        self.db
            .execute(
                "refusing a proof",
                "UPDATE gateway_proof_jobs SET
                     state = CASE WHEN attempts >= max_attempts THEN 'failed' ELSE 'queued' END,
                     queued_at = now(),
                     result = NULL, worker = NULL, claim = NULL, lease_until = NULL,
                     refused = refused + 1,
                     bad_workers = array_append(bad_workers, $2), last_error = $3
                 WHERE id = $1 AND state = 'done'",
                &[&id, &worker, &reason],
            )
            .await
    }

    /// One look at the whole queue; also fails the jobs whose last lease expired and drops
    /// results taken more than an hour ago.
    async fn look(&self) -> Result<JobsStatus, QueueError> {
        let expired = self
            .db
            .execute(
                "failing jobs whose attempts are spent",
                "UPDATE gateway_proof_jobs SET state = 'failed', lease_expiries = lease_expiries + 1,
                     last_error = 'the lease of worker ' || coalesce(worker, '?')
                         || ' expired on its last attempt' || coalesce(' (before: ' || last_error || ')', ''),
                     worker = NULL, claim = NULL, lease_until = NULL
                 WHERE state = 'running' AND lease_until < now() AND attempts >= max_attempts",
                &[],
            )
            .await?;
        metrics::counter!("prover_queue_lease_expiries_total").increment(expired);
        self.db
            .execute(
                "dropping old results",
                "DELETE FROM gateway_proof_jobs
                 WHERE state = 'done' AND finished_at < now() - interval '1 hour'",
                &[],
            )
            .await?;
        self.db
            .execute(
                "forgetting workers long gone",
                "DELETE FROM gateway_prover_workers WHERE seen_at < now() - interval '1 hour'",
                &[],
            )
            .await?;
        let mut status =
            JobsStatus { queue: self.db.url().to_string(), reachable: true, ..Default::default() };
        for kind in JobKind::ALL {
            for state in STATES {
                status.jobs.insert(format!("{kind}.{state}"), 0);
            }
        }
        for row in self
            .db
            .query(
                "counting jobs",
                "SELECT kind, state, count(*) FROM gateway_proof_jobs GROUP BY kind, state",
                &[],
            )
            .await?
        {
            let (kind, state): (&str, &str) = (row.get(0), row.get(1));
            status.jobs.insert(format!("{kind}.{state}"), row.get::<_, i64>(2).max(0) as u64);
        }
        let totals = self
            .db
            .query(
                "counting workers",
                "SELECT (SELECT count(*) FROM gateway_prover_workers
                         WHERE seen_at > now() - interval '30 seconds'),
                        (SELECT coalesce(sum(lease_expiries), 0)::bigint FROM gateway_proof_jobs),
                        (SELECT coalesce(sum(refused), 0)::bigint FROM gateway_proof_jobs),
                        (SELECT coalesce(extract(epoch FROM now() - min(queued_at)), 0)::bigint
                         FROM gateway_proof_jobs WHERE state = 'queued')",
                &[],
            )
            .await?;
        if let Some(row) = totals.first() {
            status.workers = row.get::<_, i64>(0).max(0) as u64;
            status.lease_expiries = row.get::<_, i64>(1).max(0) as u64;
            status.refused_proofs = row.get::<_, i64>(2).max(0) as u64;
            status.oldest_queued_s = row.get::<_, i64>(3).max(0) as u64;
        }
        // Kinds queued that no live worker takes (a worker lists its kinds, comma-separated).
        let takers: Vec<String> = self
            .db
            .query(
                "listing live workers' kinds",
                "SELECT kinds FROM gateway_prover_workers WHERE seen_at > now() - interval '30 seconds'",
                &[],
            )
            .await?
            .iter()
            .map(|row| row.get::<_, String>(0))
            .collect();
        status.kinds_without_workers = JobKind::ALL
            .iter()
            .map(|k| k.as_str())
            .filter(|kind| status.jobs.get(&format!("{kind}.queued")).is_some_and(|n| *n > 0))
            .filter(|kind| !takers.iter().any(|list| list.split(',').any(|k| k == *kind)))
            .map(str::to_string)
            .collect();
        status.failed = self
            .db
            .query(
                "listing failed jobs",
                "SELECT id, kind, what, attempts, coalesce(last_error, '') FROM gateway_proof_jobs
                 WHERE state = 'failed' ORDER BY id DESC LIMIT 10",
                &[],
            )
            .await?
            .iter()
            .map(|row| FailedJob {
                id: row.get(0),
                kind: row.get(1),
                what: row.get(2),
                attempts: row.get::<_, i32>(3).max(0) as u32,
                reason: row.get(4),
            })
            .collect();
        Ok(status)
    }
}

/// Refreshes the status and the queue's gauges every `status_interval` while the backend
/// lives.
async fn refresh_status(inner: Weak<Inner>) {
    loop {
        let Some(strong) = inner.upgrade() else { return };
        let interval = strong.config.status_interval;
        let status = match strong.look().await {
            Ok(status) => {
                for (key, count) in &status.jobs {
                    let (kind, state) = key.split_once('.').unwrap_or((key, ""));
                    metrics::gauge!("prover_queue_jobs", "kind" => kind.to_string(), "state" => state.to_string())
                        .set(*count as f64);
                }
                metrics::gauge!("prover_queue_workers").set(status.workers as f64);
                metrics::gauge!("prover_queue_oldest_queued_seconds")
                    .set(status.oldest_queued_s as f64);
                metrics::gauge!("prover_queue_reachable").set(1.0);
                let before = lock(&strong.status).kinds_without_workers.clone();
                if !status.kinds_without_workers.is_empty()
                    && status.kinds_without_workers != before
                {
                    let kinds = status.kinds_without_workers.join(",");
                    warn!(target: "prover_queue", %kinds, "proof jobs of these kinds wait and no live worker takes them: start a worker with `--kinds aggregate` (or `--kinds {kinds}`), or upgrade workers older than these kinds");
                }
                status
            }
            Err(err) => {
                metrics::gauge!("prover_queue_reachable").set(0.0);
                let mut last = crate::backend::lock(&strong.status).clone();
                last.reachable = false;
                last.error = Some(err.to_string());
                last
            }
        };
        *lock(&strong.status) = status;
        drop(strong);
        tokio::time::sleep(interval).await;
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl ProofBackend for QueueBackend {
    fn kind(&self) -> BackendKind {
        self.inner.local.kind()
    }

    fn prove_batch(&self, input: &BatchPublicInput) -> ProverResult<BatchProof> {
        check_input_width(input.value)?;
        let local = &self.inner.local;
        self.run(Payload::Leaf(*input), |bytes| {
            let proof = BatchProof { backend: local.kind(), input: *input, bytes };
            local.verify_batch(&proof)?;
            Ok(proof)
        })
    }

    fn aggregate(&self, proofs: &[BatchProof]) -> ProverResult<AggregatedProof> {
        // The shape is the node's: a worker makes what the job asks, whatever its own setting.
        self.aggregate_as(proofs, self.inner.local.aggregates_trees())
    }

    fn aggregate_tree(&self, proofs: &[BatchProof]) -> ProverResult<AggregatedProof> {
        self.aggregate_as(proofs, true)
    }

    fn tree_group_size(&self) -> Option<usize> {
        self.inner.local.tree_group_size()
    }

    fn aggregate_group(&self, proofs: &[BatchProof]) -> ProverResult<GroupProof> {
        if proofs.is_empty() {
            return Err(ProverError::EmptyAggregation);
        }
        self.check_groups(&[proofs.len()])?;
        self.inner.handle.block_on(self.inner.group(proofs))
    }

    fn aggregate_groups(&self, groups: &[GroupProof]) -> ProverResult<AggregatedProof> {
        if groups.is_empty() {
            return Err(ProverError::EmptyAggregation);
        }
        let sizes: Vec<usize> = groups.iter().map(|g| g.inputs.len()).collect();
        self.check_groups(&sizes)?;
        for group in groups {
            self.inner.local.verify_group(group)?;
        }
        self.inner.handle.block_on(self.inner.top(groups.to_vec()))
    }

    fn verify_group(&self, group: &GroupProof) -> ProverResult<()> {
        self.inner.local.verify_group(group)
    }

    fn verify_batch(&self, proof: &BatchProof) -> ProverResult<()> {
        self.inner.local.verify_batch(proof)
    }

    fn verify_aggregated(&self, proof: &AggregatedProof) -> ProverResult<()> {
        self.inner.local.verify_aggregated(proof)
    }

    fn batches_calldata(&self, proofs: &[BatchProof]) -> Bytes {
        self.inner.local.batches_calldata(proofs)
    }

    fn aggregated_calldata(&self, proof: &AggregatedProof) -> Bytes {
        self.inner.local.aggregated_calldata(proof)
    }

    fn max_aggregated(&self) -> Option<usize> {
        self.inner.local.max_aggregated()
    }

    fn aggregates_trees(&self) -> bool {
        self.inner.local.aggregates_trees()
    }

    fn jobs_status(&self) -> Option<JobsStatus> {
        Some(lock(&self.inner.status).clone())
    }

    fn cancel(&self) {
        self.inner.cancelled.store(true, Ordering::Relaxed);
        self.inner.local.cancel();
    }
}

impl QueueBackend {
    fn aggregate_as(&self, proofs: &[BatchProof], tree: bool) -> ProverResult<AggregatedProof> {
        if proofs.is_empty() {
            return Err(ProverError::EmptyAggregation);
        }
        if let (true, Some(size)) = (tree, self.inner.local.tree_group_size()) {
            return self.aggregate_in_groups(proofs, size);
        }
        let local = &self.inner.local;
        let inputs: Vec<BatchPublicInput> = proofs.iter().map(|p| p.input).collect();
        self.run(Payload::Aggregate { tree, proofs: proofs.to_vec() }, |bytes| {
            let proof = AggregatedProof { backend: local.kind(), inputs: inputs.clone(), bytes };
            local.verify_aggregated(&proof)?;
            Ok(proof)
        })
    }

    /// A tree made group by group: one job per group of `size` leaves, all queued at once (so
    /// as many workers as there are groups prove them side by side), each group checked when
    /// it comes back; then one job for the top over them. The same group asked again (a
    /// restarted node, a group queued ahead of time) is the same job.
    fn aggregate_in_groups(
        &self,
        proofs: &[BatchProof],
        size: usize,
    ) -> ProverResult<AggregatedProof> {
        let size = size.max(1);
        if proofs.len() > size * size {
            return Err(ProverError::Failed {
                what: format!("a tree of {} proofs", proofs.len()),
                reason: format!(
                    "a two-level tree of groups of {size} holds at most {}",
                    size * size
                ),
            });
        }
        let inner = &self.inner;
        inner.handle.block_on(async {
            let groups =
                match futures::future::try_join_all(proofs.chunks(size).map(|g| inner.group(g)))
                    .await
                {
                    Ok(groups) => groups,
                    Err(err) => {
                        // The first group to fail ends the wait for the others; cancelled, none
                        // is needed any more: those no worker took yet leave the queue.
                        if matches!(err, ProverError::Cancelled(_)) {
                            for group in proofs.chunks(size) {
                                inner
                                    .withdraw_payload(&Payload::Group { proofs: group.to_vec() })
                                    .await;
                            }
                        }
                        return Err(err);
                    }
                };
            inner.top(groups).await
        })
    }

    /// The checks a tree's pieces must pass before they are queued (a worker would refuse them
    /// after spending attempts): groups of at most `size` leaves, at most `size` of them, each
    /// but the last full.
    fn check_groups(&self, sizes: &[usize]) -> ProverResult<()> {
        let Some(size) = self.inner.local.tree_group_size() else {
            return Err(ProverError::Failed {
                what: format!("a tree of {} groups", sizes.len()),
                reason: format!("the {} backend makes no tree group by group", self.kind()),
            });
        };
        let short = sizes.iter().position(|n| *n < size);
        let bad = if sizes.is_empty() || sizes.contains(&0) {
            Some("an empty group".to_string())
        } else if let Some(n) = sizes.iter().find(|n| **n > size) {
            Some(format!("a group of {n} leaves; a group holds at most {size}"))
        } else if sizes.len() > size {
            Some(format!("{} groups; a tree holds at most {size}", sizes.len()))
        } else if short.is_some_and(|i| i + 1 < sizes.len()) {
            Some("a group that is not full before the last".to_string())
        } else {
            None
        };
        match bad {
            Some(reason) => Err(ProverError::Failed {
                what: format!("a tree of {} groups", sizes.len()),
                reason,
            }),
            None => Ok(()),
        }
    }
}

impl Inner {
    /// One group of a tree, as a job; checked when it comes back.
    async fn group(&self, proofs: &[BatchProof]) -> ProverResult<GroupProof> {
        let local = &self.local;
        let inputs: Vec<BatchPublicInput> = proofs.iter().map(|p| p.input).collect();
        self.run(Payload::Group { proofs: proofs.to_vec() }, move |bytes| {
            let group = GroupProof { backend: local.kind(), inputs: inputs.clone(), bytes };
            local.verify_group(&group)?;
            Ok(group)
        })
        .await
    }

    /// A tree's top over `groups`, as a job; checked when it comes back.
    async fn top(&self, groups: Vec<GroupProof>) -> ProverResult<AggregatedProof> {
        let local = &self.local;
        let inputs: Vec<BatchPublicInput> =
            groups.iter().flat_map(|g| g.inputs.iter().copied()).collect();
        self.run(Payload::Top { groups }, |bytes| {
            let proof = AggregatedProof { backend: local.kind(), inputs: inputs.clone(), bytes };
            local.verify_aggregated(&proof)?;
            Ok(proof)
        })
        .await
    }
}
