//! The queue on a real, throwaway PostgreSQL (`devnet::postgres`): jobs go through it and
//! come back verified; a worker's wrong proof is refused and redone by another; a job failing
//! every attempt is shown and put back on request; PostgreSQL restarting under a node and a
//! worker is survived. Workers here run in-process with mock proofs (the process-level tests,
//! `kill -9` included, are in `crates/node/tests/prover_queue.rs`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{sync::Arc, time::Duration};

use alloy_primitives::{Bytes, U256};
use devnet::postgres::Postgres;
use gateway_prover::{
    AggregatedProof, BackendKind, BatchProof, BatchPublicInput, GroupProof, JobsStatus,
    MockBackend, ProofBackend, ProverError, ProverResult,
};
use gateway_prover_queue::{Db, QueueBackend, QueueConfig, Worker, WorkerConfig, retry_failed};
use tokio_util::sync::CancellationToken;

const WAIT: Duration = Duration::from_secs(60);

fn input(batch: u64) -> BatchPublicInput {
    BatchPublicInput { chain_id: 270, batch_number: batch, value: U256::from(batch * 1000 + 7) }
}

fn flip(bytes: &Bytes) -> Bytes {
    let mut bytes = bytes.to_vec();
    *bytes.last_mut().unwrap() ^= 1;
    bytes.into()
}

/// The mock backend with one thing broken on purpose.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Broken {
    /// A worker's proofs are FAKED and wrong (the mock proof with one byte flipped).
    WrongProofs,
    /// A worker fails every job.
    Failing,
    /// A node's own verification of leaf proofs cannot run (its keys fail to load).
    VerifyingKeys,
}

impl ProofBackend for Broken {
    fn kind(&self) -> BackendKind {
        BackendKind::Mock
    }
    fn prove_batch(&self, input: &BatchPublicInput) -> ProverResult<BatchProof> {
        let proof = match self {
            Self::Failing => {
                return Err(ProverError::Failed {
                    what: format!("batch {}", input.batch_number),
                    reason: "out of memory (test)".into(),
                });
            }
            _ => MockBackend::default().prove_batch(input)?,
        };
        match self {
            Self::WrongProofs => Ok(BatchProof { bytes: flip(&proof.bytes), ..proof }),
            _ => Ok(proof),
        }
    }
    fn aggregate(&self, proofs: &[BatchProof]) -> ProverResult<AggregatedProof> {
        let proof = MockBackend::default().aggregate(proofs)?;
        match self {
            Self::WrongProofs => Ok(AggregatedProof { bytes: flip(&proof.bytes), ..proof }),
            Self::Failing => Err(ProverError::EmptyAggregation),
            Self::VerifyingKeys => Ok(proof),
        }
    }
    fn verify_batch(&self, proof: &BatchProof) -> ProverResult<()> {
        if *self == Self::VerifyingKeys {
            return Err(ProverError::Failed {
                what: "the leaf keys".into(),
                reason: "disk full (test)".into(),
            });
        }
        MockBackend::default().verify_batch(proof)
    }
    fn verify_aggregated(&self, proof: &AggregatedProof) -> ProverResult<()> {
        MockBackend::default().verify_aggregated(proof)
    }
    fn aggregated_calldata(&self, proof: &AggregatedProof) -> Bytes {
        MockBackend::default().aggregated_calldata(proof)
    }
}

/// A worker named `id` proving with `backend` until the token is cancelled.
fn worker(url: &str, id: &str, backend: Arc<dyn ProofBackend>) -> CancellationToken {
    let config = WorkerConfig {
        id: id.into(),
        lease: Duration::from_secs(5),
        poll_interval: Duration::from_millis(50),
        ..WorkerConfig::new()
    };
    let worker = Arc::new(Worker::new(Db::new(url).unwrap(), backend, config));
    let stop = CancellationToken::new();
    tokio::spawn(worker.run(stop.clone()));
    stop
}

fn node(url: &str) -> QueueBackend {
    let config = QueueConfig {
        poll_interval: Duration::from_millis(50),
        status_interval: Duration::from_millis(200),
        ..QueueConfig::new(url)
    };
    QueueBackend::new(config, Arc::new(MockBackend::default())).unwrap()
}

/// The node proves `batch` (from a blocking thread, as the prove stage does), within 60 s.
async fn prove(node: &QueueBackend, batch: u64) -> ProverResult<BatchProof> {
    let node = node.clone();
    let job = tokio::task::spawn_blocking(move || node.prove_batch(&input(batch)));
    tokio::time::timeout(WAIT, job).await.expect("the proof within 60 s").unwrap()
}

async fn status_until(
    node: &QueueBackend,
    what: &str,
    check: impl Fn(&JobsStatus) -> bool,
) -> JobsStatus {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let status = node.jobs_status().unwrap();
        if check(&status) {
            return status;
        }
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for {what}: {status:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Rows of the jobs table: (kind, state, worker, attempts, refused, taken, bad workers).
async fn rows(url: &str) -> Vec<(String, String, Option<String>, i32, i32, i32, Vec<String>)> {
    let db = Db::new(url).unwrap();
    let client = db.client().await.unwrap();
    client
        .query(
            "SELECT kind, state, worker, attempts, refused, taken, bad_workers
             FROM gateway_proof_jobs ORDER BY id",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4), r.get(5), r.get(6)))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proofs_go_through_the_queue_come_back_verified_and_the_same_job_is_asked_once() {
    let pg = Postgres::start().unwrap();
    let node = node(&pg.url());
    let _worker = worker(&pg.url(), "w1", Arc::new(MockBackend::default()));
    let first = prove(&node, 1).await.unwrap();
    let second = prove(&node, 2).await.unwrap();
    MockBackend::default().verify_batch(&first).unwrap();
    assert_eq!(second.input, input(2));
    let (a, b) = (first.clone(), second.clone());
    let aggregated = {
        let node = node.clone();
        tokio::task::spawn_blocking(move || node.aggregate(&[a, b])).await.unwrap().unwrap()
    };
    MockBackend::default().verify_aggregated(&aggregated).unwrap();
    assert_eq!(aggregated.inputs, vec![input(1), input(2)]);
    // Asked again (a restarted node): the same job's result, no new job.
    assert_eq!(prove(&node, 1).await.unwrap(), first);
    let status = status_until(&node, "the jobs done and the worker seen", |s| {
        s.jobs.get("leaf.done") == Some(&2)
            && s.jobs.get("aggregate.done") == Some(&1)
            && s.workers == 1
    })
    .await;
    assert!(status.reachable && status.failed.is_empty() && status.refused_proofs == 0);
    let rows = rows(&pg.url()).await;
    assert_eq!(rows.len(), 3, "{rows:?}");
    assert_eq!(rows.iter().map(|r| r.5).collect::<Vec<_>>(), vec![2, 1, 1], "taken per job");
    assert!(rows.iter().all(|r| r.2.as_deref() == Some("w1") && r.3 == 1), "{rows:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_faked_wrong_proof_from_a_worker_is_refused_and_the_job_is_proved_by_another() {
    let pg = Postgres::start().unwrap();
    let node = node(&pg.url());
    let liar = worker(&pg.url(), "liar", Arc::new(Broken::WrongProofs));
    let job = {
        let node = node.clone();
        tokio::spawn(async move { prove(&node, 5).await })
    };
    status_until(&node, "the liar's proof refused", |s| s.refused_proofs >= 1).await;
    // The liar may not take the job again: it stays queued until another worker comes.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!job.is_finished(), "no verified proof without an honest worker");
    let _honest = worker(&pg.url(), "honest", Arc::new(MockBackend::default()));
    let proof = job.await.unwrap().unwrap();
    MockBackend::default().verify_batch(&proof).unwrap();
    let rows = rows(&pg.url()).await;
    assert_eq!(rows.len(), 1);
    let (_, state, worker, attempts, refused, taken, bad) = &rows[0];
    assert_eq!((state.as_str(), worker.as_deref()), ("done", Some("honest")));
    assert_eq!((*attempts, *refused, *taken), (2, 1, 1));
    assert_eq!(bad, &vec!["liar".to_string()]);
    liar.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_failing_every_attempt_is_shown_failed_and_put_back_on_request() {
    let pg = Postgres::start().unwrap();
    let node = node(&pg.url());
    let failing = worker(&pg.url(), "oom", Arc::new(Broken::Failing));
    let err = prove(&node, 9).await.unwrap_err().to_string();
    assert!(err.contains("failed 3 attempt(s)") && err.contains("out of memory (test)"), "{err}");
    assert!(err.contains("--retry-failed"), "says how to put it back: {err}");
    let status = status_until(&node, "the failed job shown", |s| !s.failed.is_empty()).await;
    assert_eq!(status.failed[0].attempts, 3);
    assert_eq!(status.failed[0].kind, "leaf");
    assert_eq!(status.failed[0].what, "batch 9 of chain 270");
    assert!(status.failed[0].reason.contains("worker oom: "), "{:?}", status.failed);
    // Asked again, a failed job stays failed: nothing retries it behind the operator's back.
    assert!(prove(&node, 9).await.is_err());
    failing.cancel();
    let _honest = worker(&pg.url(), "honest", Arc::new(MockBackend::default()));
    assert_eq!(retry_failed(&Db::new(&pg.url()).unwrap()).await.unwrap(), 1);
    let proof = prove(&node, 9).await.unwrap();
    MockBackend::default().verify_batch(&proof).unwrap();
    status_until(&node, "nothing failed any more", |s| s.failed.is_empty()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_node_and_a_worker_carry_on_when_postgres_restarts_under_them() {
    let mut pg = Postgres::start().unwrap();
    let node = node(&pg.url());
    let _worker = worker(&pg.url(), "w1", Arc::new(MockBackend::default()));
    prove(&node, 1).await.unwrap();
    pg.stop();
    status_until(&node, "the queue shown unreachable", |s| !s.reachable && s.error.is_some()).await;
    // A job asked while PostgreSQL is down waits for it.
    let job = {
        let node = node.clone();
        tokio::spawn(async move { prove(&node, 2).await })
    };
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(!job.is_finished());
    pg.resume().unwrap();
    let proof = job.await.unwrap().unwrap();
    MockBackend::default().verify_batch(&proof).unwrap();
    // And a restart in one go.
    pg.restart().unwrap();
    prove(&node, 3).await.unwrap();
    status_until(&node, "the queue reachable again", |s| s.reachable && s.jobs["leaf.done"] == 3)
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_nodes_own_failure_to_verify_is_not_blamed_on_the_worker() {
    let pg = Postgres::start().unwrap();
    let config =
        QueueConfig { poll_interval: Duration::from_millis(50), ..QueueConfig::new(pg.url()) };
    let node = QueueBackend::new(config, Arc::new(Broken::VerifyingKeys)).unwrap();
    let _worker = worker(&pg.url(), "honest", Arc::new(MockBackend::default()));
    let err = prove(&node, 4).await.unwrap_err().to_string();
    assert!(err.contains("disk full (test)"), "{err}");
    let rows = rows(&pg.url()).await;
    let (_, state, worker, attempts, refused, _, bad) = &rows[0];
    assert_eq!(
        (state.as_str(), worker.as_deref(), *attempts, *refused),
        ("done", Some("honest"), 1, 0)
    );
    assert!(bad.is_empty(), "the honest worker is not blamed: {bad:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_nobody_waits_for_any_more_leaves_the_queue() {
    let pg = Postgres::start().unwrap();
    let node = node(&pg.url());
    let cancel = gateway_prover::JobCancel::new();
    let job = {
        let (node, cancel) = (node.clone(), cancel.clone());
        tokio::task::spawn_blocking(move || {
            gateway_prover::run_job(&cancel, || node.prove_batch(&input(6)))
        })
    };
    // No worker: the job waits in the queue until its batch is unsealed (the job cancelled).
    let deadline = tokio::time::Instant::now() + WAIT;
    while rows(&pg.url()).await.is_empty() {
        assert!(tokio::time::Instant::now() < deadline, "the job never queued");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    cancel.cancel();
    let result = tokio::time::timeout(WAIT, job).await.unwrap().unwrap();
    assert!(matches!(result, Err(ProverError::Cancelled(_))), "{result:?}");
    assert!(rows(&pg.url()).await.is_empty(), "withdrawn");

    // A tree waits for all its groups at once: cancelled, every group no worker took leaves
    // the queue (not only the one whose wait saw the cancellation first).
    let config =
        QueueConfig { poll_interval: Duration::from_millis(50), ..QueueConfig::new(pg.url()) };
    let node = QueueBackend::new(config, Arc::new(MockBackend::with_tree_groups(3))).unwrap();
    let leaves: Vec<BatchProof> =
        (1..=7).map(|b| MockBackend::default().prove_batch(&input(b)).unwrap()).collect();
    let cancel = gateway_prover::JobCancel::new();
    let job = {
        let (node, cancel) = (node.clone(), cancel.clone());
        tokio::task::spawn_blocking(move || {
            gateway_prover::run_job(&cancel, || node.aggregate_tree(&leaves))
        })
    };
    let deadline = tokio::time::Instant::now() + WAIT;
    while rows(&pg.url()).await.len() < 3 {
        assert!(tokio::time::Instant::now() < deadline, "the groups never queued");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    cancel.cancel();
    let result = tokio::time::timeout(WAIT, job).await.unwrap().unwrap();
    assert!(matches!(result, Err(ProverError::Cancelled(_))), "{result:?}");
    let left = rows(&pg.url()).await;
    assert!(left.is_empty(), "every group withdrawn: {left:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_tls_the_queue_works_only_with_a_certificate_it_trusts() {
    let pg = Postgres::start_tls().unwrap();
    let ca = pg.ca_file().unwrap().to_path_buf();
    let url = format!("{}?sslmode=require", pg.url());
    // Trusting the server's CA: the session is encrypted.
    let db = Db::with_ca_file(&url, Some(&ca)).unwrap();
    let ssl: bool = db
        .client()
        .await
        .unwrap()
        .query_one("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()", &[])
        .await
        .unwrap()
        .get(0);
    assert!(ssl);
    // Not trusting it: refused, whatever the sslmode (no fall back to plain text).
    for mode in ["require", "prefer"] {
        let err = Db::new(&format!("{}?sslmode={mode}", pg.url()))
            .unwrap()
            .client()
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("connecting") && err.to_lowercase().contains("certificate"), "{err}");
    }
    // A CA file that is not one names itself.
    let junk = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(junk.path(), "not a certificate").unwrap();
    let err = Db::with_ca_file(&url, Some(junk.path())).unwrap_err().to_string();
    assert!(err.contains(&junk.path().display().to_string()), "{err}");
    // A node and a worker over TLS.
    let config = QueueConfig {
        ca_file: Some(ca.clone()),
        poll_interval: Duration::from_millis(50),
        ..QueueConfig::new(url.clone())
    };
    let node = QueueBackend::new(config, Arc::new(MockBackend::default())).unwrap();
    let worker = Worker::new(
        Db::with_ca_file(&url, Some(&ca)).unwrap(),
        Arc::new(MockBackend::default()),
        WorkerConfig { poll_interval: Duration::from_millis(50), ..WorkerConfig::new() },
    );
    tokio::spawn(Arc::new(worker).run(CancellationToken::new()));
    let proof = prove(&node, 1).await.unwrap();
    MockBackend::default().verify_batch(&proof).unwrap();
}

/// A backend that says it aggregates trees (as a Gateway node's with
/// `--settlement.halo2-aggregation tree`), or a worker's that records which shape it was asked.
#[derive(Debug, Default)]
struct Shapes {
    trees: bool,
    asked_trees: std::sync::atomic::AtomicUsize,
    asked_flat: std::sync::atomic::AtomicUsize,
}

impl ProofBackend for Shapes {
    fn kind(&self) -> BackendKind {
        BackendKind::Mock
    }
    fn prove_batch(&self, input: &BatchPublicInput) -> ProverResult<BatchProof> {
        MockBackend::default().prove_batch(input)
    }
    fn aggregate(&self, proofs: &[BatchProof]) -> ProverResult<AggregatedProof> {
        self.asked_flat.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        MockBackend::default().aggregate(proofs)
    }
    fn aggregate_tree(&self, proofs: &[BatchProof]) -> ProverResult<AggregatedProof> {
        self.asked_trees.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        MockBackend::default().aggregate(proofs)
    }
    fn aggregates_trees(&self) -> bool {
        self.trees
    }
    fn verify_batch(&self, proof: &BatchProof) -> ProverResult<()> {
        MockBackend::default().verify_batch(proof)
    }
    fn verify_aggregated(&self, proof: &AggregatedProof) -> ProverResult<()> {
        MockBackend::default().verify_aggregated(proof)
    }
    fn aggregated_calldata(&self, proof: &AggregatedProof) -> Bytes {
        MockBackend::default().aggregated_calldata(proof)
    }
}

/// The shape of an aggregation is the node's: a node that aggregates trees asks its workers
/// for a tree, and a worker (whatever its own setting) makes what the job asks.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_that_aggregates_trees_asks_its_workers_for_trees() {
    use std::sync::atomic::Ordering::SeqCst;
    let pg = Postgres::start().unwrap();
    let config =
        QueueConfig { poll_interval: Duration::from_millis(50), ..QueueConfig::new(pg.url()) };
    let trees =
        QueueBackend::new(config.clone(), Arc::new(Shapes { trees: true, ..Shapes::default() }))
            .unwrap();
    let flat = QueueBackend::new(config, Arc::new(Shapes::default())).unwrap();
    assert!(trees.aggregates_trees() && !flat.aggregates_trees());
    let worker_backend = Arc::new(Shapes::default());
    let _worker = worker(&pg.url(), "w1", worker_backend.clone());
    let leaves = vec![
        MockBackend::default().prove_batch(&input(1)).unwrap(),
        MockBackend::default().prove_batch(&input(2)).unwrap(),
    ];
    let aggregate = |node: QueueBackend, leaves: Vec<BatchProof>| async move {
        let job = tokio::task::spawn_blocking(move || node.aggregate(&leaves));
        tokio::time::timeout(WAIT, job)
            .await
            .expect("the aggregation within 60 s")
            .unwrap()
            .unwrap()
    };
    aggregate(trees, leaves.clone()).await;
    assert_eq!(
        (worker_backend.asked_trees.load(SeqCst), worker_backend.asked_flat.load(SeqCst)),
        (1, 0),
        "the tree node's job asked for a tree"
    );
    let mut other = leaves;
    other.reverse();
    aggregate(flat, other).await;
    assert_eq!(
        (worker_backend.asked_trees.load(SeqCst), worker_backend.asked_flat.load(SeqCst)),
        (1, 1),
        "the flat node's job asked for a flat aggregation"
    );
}

/// A worker's backend that makes trees group by group (groups of 3) and FAKES every group and
/// top it makes (the mock proof with one byte flipped).
#[derive(Debug)]
struct LyingGroups;

impl ProofBackend for LyingGroups {
    fn kind(&self) -> BackendKind {
        BackendKind::Mock
    }
    fn prove_batch(&self, input: &BatchPublicInput) -> ProverResult<BatchProof> {
        MockBackend::default().prove_batch(input)
    }
    fn aggregate(&self, proofs: &[BatchProof]) -> ProverResult<AggregatedProof> {
        MockBackend::default().aggregate(proofs)
    }
    fn tree_group_size(&self) -> Option<usize> {
        Some(3)
    }
    fn aggregate_group(&self, proofs: &[BatchProof]) -> ProverResult<GroupProof> {
        let group = MockBackend::with_tree_groups(3).aggregate_group(proofs)?;
        Ok(GroupProof { bytes: flip(&group.bytes), ..group })
    }
    fn aggregate_groups(&self, groups: &[GroupProof]) -> ProverResult<AggregatedProof> {
        let top = MockBackend::with_tree_groups(3).aggregate_groups(groups)?;
        Ok(AggregatedProof { bytes: flip(&top.bytes), ..top })
    }
    fn verify_batch(&self, proof: &BatchProof) -> ProverResult<()> {
        MockBackend::default().verify_batch(proof)
    }
    fn verify_aggregated(&self, proof: &AggregatedProof) -> ProverResult<()> {
        MockBackend::default().verify_aggregated(proof)
    }
    fn aggregated_calldata(&self, proof: &AggregatedProof) -> Bytes {
        MockBackend::default().aggregated_calldata(proof)
    }
}

/// A tree whose backend makes it group by group goes to the queue as one job per group, all
/// queued at once (any worker takes any group), and then one job for the top: each group is
/// checked when it comes back, so a worker's FAKED group is refused and proved by another
/// before the top is asked; the tree is the one the backend makes in one piece, and asking it
/// again (a restarted node, groups queued ahead of time) reuses every job.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tree_goes_to_the_workers_group_by_group_and_a_faked_group_is_refused() {
    let pg = Postgres::start().unwrap();
    let config = QueueConfig {
        poll_interval: Duration::from_millis(50),
        status_interval: Duration::from_millis(200),
        ..QueueConfig::new(pg.url())
    };
    let node = QueueBackend::new(config, Arc::new(MockBackend::with_tree_groups(3))).unwrap();
    let leaves: Vec<BatchProof> =
        (1..=7).map(|b| MockBackend::default().prove_batch(&input(b)).unwrap()).collect();
    let tree = |node: QueueBackend, leaves: Vec<BatchProof>| {
        tokio::spawn(async move {
            let job = tokio::task::spawn_blocking(move || node.aggregate_tree(&leaves));
            tokio::time::timeout(WAIT, job).await.expect("the tree within 60 s").unwrap()
        })
    };
    // A worker that takes leaves only: the groups wait, and the status says no worker takes
    // them.
    let leaves_only = {
        let config = WorkerConfig {
            id: "leaves-only".into(),
            kinds: vec![gateway_prover_queue::JobKind::Leaf],
            poll_interval: Duration::from_millis(50),
            ..WorkerConfig::new()
        };
        let worker = Arc::new(Worker::new(
            Db::new(&pg.url()).unwrap(),
            Arc::new(MockBackend::default()),
            config,
        ));
        let stop = CancellationToken::new();
        tokio::spawn(worker.run(stop.clone()));
        stop
    };
    let job = tree(node.clone(), leaves.clone());
    let status = status_until(&node, "groups shown waiting without a worker", |s| {
        s.kinds_without_workers == vec!["group".to_string()]
    })
    .await;
    assert_eq!(status.jobs.get("group.queued"), Some(&3), "{status:?}");
    let liar = worker(&pg.url(), "liar", Arc::new(LyingGroups));
    status_until(&node, "the liar's group refused", |s| s.refused_proofs >= 1).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!job.is_finished(), "no tree without an honest worker");
    let honest: Vec<_> = ["h1", "h2"]
        .iter()
        .map(|id| worker(&pg.url(), id, Arc::new(MockBackend::with_tree_groups(3))))
        .collect();
    let proof = job.await.unwrap().unwrap();
    assert_eq!(proof.inputs, (1..=7).map(input).collect::<Vec<_>>());
    MockBackend::with_tree_groups(3).verify_aggregated(&proof).unwrap();
    assert_eq!(proof, MockBackend::default().aggregate_tree(&leaves).unwrap());

    let rows = rows(&pg.url()).await;
    assert_eq!(rows.len(), 4, "3 groups (3 + 3 + 1 leaves) and the top: {rows:?}");
    assert_eq!(
        rows.iter().map(|r| r.0.as_str()).collect::<Vec<_>>(),
        vec!["group", "group", "group", "top"],
        "jobs of their own kinds (a worker that knows no groups never claims them)"
    );
    assert!(
        rows.iter()
            .all(|r| r.1 == "done" && matches!(r.2.as_deref(), Some("h1" | "h2")) && r.5 == 1),
        "every job proved by an honest worker and used once: {rows:?}"
    );
    let refused: i32 = rows.iter().map(|r| r.4).sum();
    assert!(refused >= 1 && rows.iter().any(|r| r.6 == vec!["liar".to_string()]), "{rows:?}");

    // Asked again: the same four jobs, each used twice.
    let again = tree(node.clone(), leaves.clone()).await.unwrap().unwrap();
    assert_eq!(again, proof);
    let rows = self::rows(&pg.url()).await;
    assert_eq!(rows.iter().map(|r| r.5).collect::<Vec<_>>(), vec![2, 2, 2, 2], "{rows:?}");
    // One group asked alone (as a node would queue it ahead of its tree): the same job too.
    let group = {
        let (node, leaves) = (node.clone(), leaves[3..6].to_vec());
        let job = tokio::task::spawn_blocking(move || node.aggregate_group(&leaves));
        tokio::time::timeout(WAIT, job).await.expect("the group within 60 s").unwrap().unwrap()
    };
    assert_eq!(group, MockBackend::with_tree_groups(3).aggregate_group(&leaves[3..6]).unwrap());
    assert_eq!(self::rows(&pg.url()).await.len(), 4);
    assert!(node.jobs_status().unwrap().kinds_without_workers.is_empty());
    liar.cancel();
    leaves_only.cancel();
    honest.iter().for_each(CancellationToken::cancel);
}
