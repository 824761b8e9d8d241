//! Gateway mode with a backend that makes trees group by group: the groups of a Gateway batch's
//! leaves aggregated before it is sealed.
//!
//! A Gateway batch's aggregated proof is a tree whose first level aggregates groups of
//! [`ProofBackend::tree_group_size`] leaves: the Gateway's own leaf first, then the chain
//! batches' in the order they executed on the Gateway ([`super::Gateway::leaf_order`]). A chain
//! batch's place is fixed once it executes (later ones come after it), so every full group after
//! the first (which holds the Gateway's leaf, made only once the batch is sealed) is aggregated
//! while the Gateway batch still gathers ([`run`]). Its proof job then takes them
//! ([`aggregate`]): only the first group, a last partial one and the top remain.
//!
//! In-process (no job queue) the aggregations take turns, one at a time on the machine as a
//! tree made in one piece did (a real one takes gigabytes): while a sealed batch's proof job is
//! on, groups made ahead for later batches wait, except those it waits for. Through a job queue
//! the groups go out at once, to as many workers.
//!
//! A group made for leaves the sealed batch does not hold in those places (a chain held back,
//! a reorg, a batch cut by another limit) is simply not used: it is dropped once
//! [`MAX_READY`] newer ones are kept.

use std::{
    collections::{HashMap, HashSet, VecDeque},
    sync::{Arc, Condvar, Mutex},
    time::Duration,
};

use gateway_prover::{
    AggregatedProof, BatchProof, BatchPublicInput, GroupProof, JobCancel, ProofBackend,
    ProverError, ProverResult,
};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::Gateway;
use crate::{
    error::SettlementResult,
    state::{IDLE_TICK, Pipeline},
    status::GroupCounts,
    support::lock,
};

/// Groups made ahead and not used yet that are kept (the oldest go first).
pub(crate) const MAX_READY: usize = 64;
/// How long a proof job waits for a group being made ahead before making it itself (a real
/// group takes minutes on a small machine; through a job queue, making it again would be the
/// same queued job anyway).
const IN_FLIGHT_WAIT: Duration = Duration::from_secs(3600);

/// The group size when `backend` makes its trees group by group (`None`: it aggregates in one
/// piece, and nothing is made ahead).
pub(crate) fn group_size(backend: &dyn ProofBackend) -> Option<usize> {
    backend.tree_group_size().filter(|size| *size >= 1 && backend.aggregates_trees())
}

type Key = Vec<BatchPublicInput>;

/// Groups made ahead of their Gateway batch's seal, and those being made.
#[derive(Debug, Default)]
pub(crate) struct ReadyGroups {
    state: Mutex<ReadyState>,
    changed: Condvar,
    /// The backend makes trees group by group ([`run`] works).
    enabled: std::sync::atomic::AtomicBool,
    /// Held by the aggregation running on this machine ([`ReadyGroups::turn`]).
    one_at_a_time: Mutex<()>,
}

#[derive(Debug, Default)]
struct ReadyState {
    made: HashMap<Key, GroupProof>,
    /// Insertion order of `made`, to drop the oldest.
    order: VecDeque<Key>,
    making: HashSet<Key>,
    counts: GroupCounts,
    /// Proof jobs on now, and the groups made ahead they wait for.
    jobs: usize,
    wanted: HashSet<Key>,
}

/// Where a group stands when a proof job asks for it ([`ReadyGroups::claim`]).
enum Claim {
    /// Made ahead: taken.
    Taken(GroupProof),
    /// Being made ahead: to wait for.
    BeingMade,
    /// Neither: the job makes it.
    Missing,
}

impl ReadyGroups {
    /// The counts, with the groups ready now.
    pub(crate) fn counts(&self) -> GroupCounts {
        let state = lock(&self.state);
        GroupCounts { ready: state.made.len() as u64, ..state.counts }
    }

    /// A turn to aggregate on this machine: one aggregation at a time ([`in_process`]).
    fn turn(&self) -> std::sync::MutexGuard<'_, ()> {
        match self.one_at_a_time.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// A turn for a group made ahead (`key`): it waits while a proof job is on (a sealed
    /// batch's work goes first) unless the job waits for this very group; `None` when
    /// cancelled.
    fn turn_ahead(&self, key: &Key, cancel: &JobCancel) -> Option<std::sync::MutexGuard<'_, ()>> {
        let mut state = lock(&self.state);
        while state.jobs > 0 && !state.wanted.contains(key) {
            if cancel.is_cancelled() {
                return None;
            }
            state = match self.changed.wait_timeout(state, Duration::from_millis(200)) {
                Ok((state, _)) => state,
                Err(poisoned) => poisoned.into_inner().0,
            };
        }
        drop(state);
        Some(self.turn())
    }

    /// The counts when the backend makes trees group by group (`settlement_status`).
    pub(crate) fn status(&self) -> Option<GroupCounts> {
        self.enabled.load(std::sync::atomic::Ordering::Relaxed).then(|| self.counts())
    }

    /// Marks `key` as being made; false when it is made or being made already.
    fn start(&self, key: &Key) -> bool {
        let mut state = lock(&self.state);
        !state.made.contains_key(key) && state.making.insert(key.clone())
    }

    /// Ends making `key`: keeps the group when there is one.
    fn finish(&self, key: &Key, group: Option<GroupProof>) {
        let mut state = lock(&self.state);
        state.making.remove(key);
        if let Some(group) = group {
            state.counts.made_ahead += 1;
            metrics::counter!("gateway_tree_groups_total", "made" => "ahead").increment(1);
            state.keep(group);
        }
        drop(state);
        self.changed.notify_all();
    }

    /// Takes `key` if it is made ahead, else says whether it is being made (one look).
    fn claim(&self, key: &Key) -> Claim {
        let mut state = lock(&self.state);
        match state.take(key) {
            Some(group) => Claim::Taken(group),
            None if state.making.contains(key) => Claim::BeingMade,
            None => Claim::Missing,
        }
    }

    /// Puts back groups taken for a proof that then failed (or was cancelled): the next try
    /// takes them again instead of making them anew.
    fn put_back(&self, groups: Vec<GroupProof>) {
        let mut state = lock(&self.state);
        for group in groups {
            state.counts.used_ready = state.counts.used_ready.saturating_sub(1);
            state.keep(group);
        }
    }

    /// The group made ahead for `key`, waiting while it is being made (until `deadline`).
    fn take(
        &self,
        key: &Key,
        deadline: std::time::Instant,
        cancel: &JobCancel,
    ) -> Option<GroupProof> {
        let mut state = lock(&self.state);
        loop {
            if let Some(group) = state.take(key) {
                return Some(group);
            }
            let now = std::time::Instant::now();
            if !state.making.contains(key) || now >= deadline || cancel.is_cancelled() {
                return None;
            }
            let slice = (deadline - now).min(Duration::from_millis(200));
            state = match self.changed.wait_timeout(state, slice) {
                Ok((state, _)) => state,
                Err(poisoned) => poisoned.into_inner().0,
            };
        }
    }

    /// A proof job starts (`true`, waiting for `wanted`) or ends: while one is on, groups made
    /// ahead for later batches wait for their turn ([`ReadyGroups::turn_ahead`]).
    fn job(&self, on: bool, wanted: &[Key]) {
        let mut state = lock(&self.state);
        if on {
            state.jobs += 1;
            state.wanted.extend(wanted.iter().cloned());
        } else {
            state.jobs = state.jobs.saturating_sub(1);
            for key in wanted {
                state.wanted.remove(key);
            }
        }
        drop(state);
        self.changed.notify_all();
    }

    fn made_at_seal(&self) {
        lock(&self.state).counts.made_at_seal += 1;
        metrics::counter!("gateway_tree_groups_total", "made" => "at_seal").increment(1);
    }
}

impl ReadyState {
    /// Keeps `group` (once: a key already kept keeps its place), dropping the oldest beyond
    /// [`MAX_READY`].
    fn keep(&mut self, group: GroupProof) {
        let key = group.inputs.clone();
        if self.made.insert(key.clone(), group).is_none() {
            self.order.push_back(key);
        }
        while self.order.len() > MAX_READY {
            if let Some(oldest) = self.order.pop_front() {
                self.made.remove(&oldest);
            }
        }
    }

    /// Removes `key` for a proof, counting it used.
    fn take(&mut self, key: &Key) -> Option<GroupProof> {
        let group = self.made.remove(key)?;
        self.order.retain(|k| k != key);
        self.counts.used_ready += 1;
        metrics::counter!("gateway_tree_groups_used_ahead_total").increment(1);
        Some(group)
    }
}

/// Groups a proof job took, put back unless the proof is made (also on a panic), and the job
/// marked on while it lasts ([`ReadyGroups::job`]).
struct JobGroups<'a> {
    ready: &'a ReadyGroups,
    taken: Vec<GroupProof>,
    wanted: Vec<Key>,
    done: bool,
}

impl Drop for JobGroups<'_> {
    fn drop(&mut self) {
        if !self.done {
            self.ready.put_back(std::mem::take(&mut self.taken));
        }
        self.ready.job(false, &self.wanted);
    }
}

/// The full groups after the first among `leaves` (a Gateway batch's chain leaves in proof
/// order, the Gateway's own leaf to go before them) of `size` leaves each.
pub(crate) fn full_groups_after_first(leaves: &[BatchProof], size: usize) -> Vec<Vec<BatchProof>> {
    if size == 0 || leaves.len() < size {
        return Vec::new();
    }
    // The first group is the Gateway's leaf and the first `size - 1` chain leaves.
    leaves[size - 1..].chunks_exact(size).map(<[BatchProof]>::to_vec).collect()
}

/// A Gateway batch's aggregated proof over `leaves` (the Gateway's first, then the chain
/// batches' in proof order): a tree of groups when the backend makes trees group by group,
/// taking the groups made ahead and making the others (side by side through a job queue, one
/// at a time in-process, before any group made ahead for a later batch) while it waits for
/// those still being made ahead; else the backend's own aggregation. Groups taken are put back
/// if the proof is not made.
pub(crate) fn aggregate(
    backend: &dyn ProofBackend,
    leaves: &[BatchProof],
    ready: &ReadyGroups,
    cancel: &JobCancel,
) -> ProverResult<AggregatedProof> {
    let Some(size) = group_size(backend) else { return backend.aggregate(leaves) };
    let chunks: Vec<&[BatchProof]> = leaves.chunks(size).collect();
    let mut groups: Vec<Option<GroupProof>> = vec![None; chunks.len()];
    let (mut waiting, mut missing) = (Vec::new(), Vec::new());
    let mut job = JobGroups { ready, taken: Vec::new(), wanted: Vec::new(), done: false };
    for (i, chunk) in chunks.iter().enumerate() {
        // Only whole groups after the first (the Gateway's leaf is in it) are made ahead.
        if i == 0 || chunk.len() < size {
            missing.push(i);
            continue;
        }
        match ready.claim(&key_of(chunk)) {
            Claim::Taken(group) => {
                job.taken.push(group.clone());
                groups[i] = Some(group);
            }
            Claim::BeingMade => waiting.push(i),
            Claim::Missing => missing.push(i),
        }
    }
    job.wanted = waiting.iter().map(|i| key_of(chunks[*i])).collect();
    ready.job(true, &job.wanted);
    // The missing groups are made while those being made ahead are waited for (one deadline
    // for all of them).
    let deadline = std::time::Instant::now() + IN_FLIGHT_WAIT;
    let (made, awaited) = std::thread::scope(|scope| {
        let making = scope.spawn(|| make_groups(backend, &chunks, &missing, ready, cancel));
        let awaited: Vec<(usize, Option<GroupProof>)> = waiting
            .iter()
            .map(|i| (*i, ready.take(&key_of(chunks[*i]), deadline, cancel)))
            .collect();
        let made = making.join().unwrap_or_else(|_| {
            Err(ProverError::Failed {
                what: "the groups of a Gateway batch's tree".into(),
                reason: "the thread making them panicked".into(),
            })
        });
        (made, awaited)
    });
    let mut late = Vec::new();
    for (i, group) in awaited {
        match group {
            Some(group) => {
                job.taken.push(group.clone());
                groups[i] = Some(group);
            }
            // Its making ahead failed or took too long: made here.
            None => late.push(i),
        }
    }
    for (i, group) in made? {
        groups[i] = Some(group);
    }
    for (i, group) in make_groups(backend, &chunks, &late, ready, cancel)? {
        groups[i] = Some(group);
    }
    let groups: Vec<GroupProof> = groups.into_iter().flatten().collect();
    let top = {
        let _turn = in_process(backend).then(|| ready.turn());
        backend.aggregate_groups(&groups)?
    };
    job.done = true;
    Ok(top)
}

/// Makes the groups of `chunks` at `indices` for a proof job: one at a time in-process, side
/// by side through a job queue (each on a thread of its own, carrying the job's cancellation).
fn make_groups(
    backend: &dyn ProofBackend,
    chunks: &[&[BatchProof]],
    indices: &[usize],
    ready: &ReadyGroups,
    cancel: &JobCancel,
) -> ProverResult<Vec<(usize, GroupProof)>> {
    let make = |i: usize| {
        let group = gateway_prover::run_job(cancel, || backend.aggregate_group(chunks[i]))?;
        ready.made_at_seal();
        Ok((i, group))
    };
    if in_process(backend) {
        // One aggregation at a time on this machine (memory: a real one takes gigabytes).
        return indices
            .iter()
            .map(|i| {
                if cancel.is_cancelled() {
                    return Err(ProverError::Cancelled("a Gateway batch's tree".into()));
                }
                let _turn = ready.turn();
                make(*i)
            })
            .collect();
    }
    std::thread::scope(|scope| {
        let handles: Vec<_> = indices.iter().map(|i| scope.spawn(move || make(*i))).collect();
        handles
            .into_iter()
            .map(|h| {
                h.join().unwrap_or_else(|_| {
                    Err(ProverError::Failed {
                        what: "a group of a Gateway batch's tree".into(),
                        reason: "the thread making it panicked".into(),
                    })
                })
            })
            .collect()
    })
}

/// Whether `backend` proves on this machine (not through a job queue to workers elsewhere):
/// then its aggregations run one at a time, the groups made ahead and the proof job's taking
/// turns ([`ReadyGroups::turn`]), as a tree made in one piece did.
fn in_process(backend: &dyn ProofBackend) -> bool {
    backend.jobs_status().is_none()
}

fn key_of(leaves: &[BatchProof]) -> Key {
    leaves.iter().map(|l| l.input).collect()
}

/// Runs until `shutdown`: whenever the Gateway's stored blocks or batches change, starts
/// aggregating each full group of the Gateway batch that gathers (after its first) that is not
/// made or being made yet, side by side (each a blocking task of its own, awaited when the
/// node stops).
pub(crate) async fn run(
    pipeline: Arc<Pipeline>,
    gateway: Arc<Gateway>,
    shutdown: CancellationToken,
) -> SettlementResult<()> {
    let backend = Arc::clone(&pipeline.backend);
    let Some(size) = group_size(backend.as_ref()) else {
        // Nothing to make ahead (the service starts this task only for such backends).
        shutdown.cancelled().await;
        return Ok(());
    };
    gateway.ready.enabled.store(true, std::sync::atomic::Ordering::Relaxed);
    let store = Arc::clone(&pipeline.store);
    let cancel = JobCancel::new();
    let mut jobs = tokio::task::JoinSet::new();
    let mut seen = None;
    let mut last_error = None;
    loop {
        while jobs.try_join_next().is_some() {}
        let now = (store.last_block()?.map(|b| b.number), store.last_batch()?.map(|b| b.number));
        if seen != Some(now) {
            seen = Some(now);
            // Reading the store and checking leaves is blocking work.
            let read = {
                let (gateway, store, backend) =
                    (Arc::clone(&gateway), Arc::clone(&store), Arc::clone(&backend));
                let config = pipeline.active_config();
                tokio::task::spawn_blocking(move || {
                    gateway.upcoming_leaves(&store, &config, backend.as_ref())
                })
                .await
            };
            match read {
                Ok(Ok(leaves)) => {
                    last_error = None;
                    for group in full_groups_after_first(&leaves, size) {
                        let key = key_of(&group);
                        if !gateway.ready.start(&key) {
                            continue;
                        }
                        let (backend, ready, cancel) =
                            (Arc::clone(&backend), Arc::clone(&gateway.ready), cancel.clone());
                        jobs.spawn_blocking(move || {
                            make_ahead(backend.as_ref(), &ready, &group, &cancel)
                        });
                    }
                }
                Ok(Err(err)) => {
                    let err = err.to_string();
                    // Once per distinct error, not at every block.
                    if last_error.as_ref() != Some(&err) {
                        warn!(target: "settlement::gateway", %err, "the next Gateway batch's leaves could not be read: no group made ahead");
                    }
                    last_error = Some(err);
                }
                Err(err) => {
                    warn!(target: "settlement::gateway", %err, "reading the next Gateway batch's leaves panicked");
                }
            }
        }
        tokio::select! {
            () = shutdown.cancelled() => {
                cancel.cancel();
                while jobs.join_next().await.is_some() {}
                return Ok(());
            }
            () = tokio::time::sleep(IDLE_TICK) => {}
        }
    }
}

/// Makes `group` ahead of its Gateway batch's seal (checked), and keeps it in `ready`.
fn make_ahead(
    backend: &dyn ProofBackend,
    ready: &ReadyGroups,
    group: &[BatchProof],
    cancel: &JobCancel,
) {
    let key = key_of(group);
    // A panic while making it must not leave it "being made" (a proof job would wait for it).
    let made = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        gateway_prover::run_job(cancel, || {
            let made = if in_process(backend) {
                let Some(_turn) = ready.turn_ahead(&key, cancel) else {
                    return Err(ProverError::Cancelled(gateway_prover::describe_inputs(&key)));
                };
                backend.aggregate_group(group)?
            } else {
                backend.aggregate_group(group)?
            };
            backend.verify_group(&made)?;
            Ok::<_, ProverError>(made)
        })
    }))
    .unwrap_or_else(|_| {
        Err(ProverError::Failed {
            what: format!("a group of {}", gateway_prover::describe_inputs(&key)),
            reason: "the backend panicked".into(),
        })
    });
    match made {
        Ok(made) => {
            info!(target: "settlement::gateway", leaves = %gateway_prover::describe_inputs(&key), "group aggregated ahead of its Gateway batch's seal");
            ready.finish(&key, Some(made));
        }
        Err(err) => {
            warn!(target: "settlement::gateway", %err, "a group could not be made ahead: its Gateway batch's proof job makes it");
            ready.finish(&key, None);
        }
    }
}

#[cfg(test)]
mod tests {
    use gateway_prover::MockBackend;

    use super::*;

    fn leaf(batch: u64) -> BatchProof {
        let input = BatchPublicInput {
            chain_id: 270 + batch % 2,
            batch_number: batch,
            value: alloy::primitives::U256::from(batch),
        };
        MockBackend::default().prove_batch(&input).unwrap()
    }

    /// The groups made ahead are the whole ones after the Gateway's: with groups of 3, chain
    /// leaves 2..5 and 5..8 (leaves 0 and 1 share the first group with the Gateway's).
    #[test]
    fn only_whole_groups_after_the_gateways_are_made_ahead() {
        let leaves: Vec<BatchProof> = (0..9).map(leaf).collect();
        let groups = full_groups_after_first(&leaves, 3);
        let numbers: Vec<Vec<u64>> =
            groups.iter().map(|g| g.iter().map(|l| l.input.batch_number).collect()).collect();
        assert_eq!(numbers, vec![vec![2, 3, 4], vec![5, 6, 7]]);
        assert!(full_groups_after_first(&leaves[..2], 3).is_empty());
        assert!(full_groups_after_first(&leaves, 0).is_empty());
    }

    /// A tree made from groups made ahead is the tree made in one piece; the groups taken are
    /// counted and gone; a group for other leaves is not used.
    #[test]
    fn a_tree_takes_the_groups_made_ahead_and_equals_the_one_made_in_one_piece() {
        let backend = MockBackend::with_tree_groups(3);
        let gateway_leaf = leaf(100);
        let chain: Vec<BatchProof> = (0..8).map(leaf).collect();
        let ready = ReadyGroups::default();
        for group in full_groups_after_first(&chain, 3) {
            let key = key_of(&group);
            assert!(ready.start(&key));
            assert!(!ready.start(&key), "being made: not started twice");
            ready.finish(&key, Some(backend.aggregate_group(&group).unwrap()));
        }
        // A group made for leaves the batch does not hold (another order).
        let stray = vec![chain[3].clone(), chain[2].clone(), chain[4].clone()];
        ready.finish(&key_of(&stray), Some(backend.aggregate_group(&stray).unwrap()));
        assert_eq!(ready.counts().ready, 3);
        let mut leaves = vec![gateway_leaf];
        leaves.extend(chain);
        let tree = aggregate(&backend, &leaves, &ready, &JobCancel::new()).unwrap();
        assert_eq!(tree, backend.aggregate_tree(&leaves).unwrap());
        backend.verify_aggregated(&tree).unwrap();
        let counts = ready.counts();
        // Leaves [gw, 0, 1], [2, 3, 4], [5, 6, 7]: two groups taken, one made at seal, the
        // stray one left.
        assert_eq!((counts.used_ready, counts.made_at_seal, counts.ready), (2, 1, 1), "{counts:?}");
        // A backend aggregating in one piece makes nothing ahead and ignores the groups.
        assert_eq!(group_size(&MockBackend::default()), None);
    }

    /// `take` of `key` answers at once, with nothing: no group is made or being made (the
    /// 30 s it may wait would show).
    fn assert_nothing_to_wait_for(ready: &ReadyGroups, key: &Key) {
        let started = std::time::Instant::now();
        let deadline = started + Duration::from_secs(30);
        assert_eq!(ready.take(key, deadline, &JobCancel::new()), None);
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    /// A backend that panics while making a group.
    #[derive(Debug)]
    struct Panicking(MockBackend);

    impl ProofBackend for Panicking {
        fn kind(&self) -> gateway_prover::BackendKind {
            self.0.kind()
        }
        fn prove_batch(&self, input: &BatchPublicInput) -> ProverResult<BatchProof> {
            self.0.prove_batch(input)
        }
        fn aggregate(&self, proofs: &[BatchProof]) -> ProverResult<AggregatedProof> {
            self.0.aggregate(proofs)
        }
        fn aggregate_group(&self, _: &[BatchProof]) -> ProverResult<GroupProof> {
            panic!("a bug in the backend")
        }
        fn verify_batch(&self, proof: &BatchProof) -> ProverResult<()> {
            self.0.verify_batch(proof)
        }
        fn verify_aggregated(&self, proof: &AggregatedProof) -> ProverResult<()> {
            self.0.verify_aggregated(proof)
        }
        fn aggregated_calldata(&self, proof: &AggregatedProof) -> alloy::primitives::Bytes {
            self.0.aggregated_calldata(proof)
        }
    }

    /// A group whose making panicked is no longer "being made": a proof job does not wait for
    /// it, and it can be started again.
    #[test]
    fn a_group_whose_making_panicked_is_not_waited_for() {
        let group: Vec<BatchProof> = (0..2).map(leaf).collect();
        let key = key_of(&group);
        let ready = ReadyGroups::default();
        assert!(ready.start(&key));
        make_ahead(&Panicking(MockBackend::default()), &ready, &group, &JobCancel::new());
        assert_nothing_to_wait_for(&ready, &key);
        assert!(ready.start(&key), "can be made again");
        assert_eq!(ready.counts().made_ahead, 0);
    }

    /// An in-process backend that records how many aggregations run at once.
    #[derive(Debug)]
    struct Overlap {
        inner: MockBackend,
        running: std::sync::atomic::AtomicUsize,
        most: std::sync::atomic::AtomicUsize,
        fail_top: std::sync::atomic::AtomicBool,
    }

    impl Overlap {
        fn aggregation<T>(&self, f: impl FnOnce() -> T) -> T {
            use std::sync::atomic::Ordering::SeqCst;
            let now = self.running.fetch_add(1, SeqCst) + 1;
            self.most.fetch_max(now, SeqCst);
            std::thread::sleep(Duration::from_millis(30));
            let out = f();
            self.running.fetch_sub(1, SeqCst);
            out
        }
    }

    impl ProofBackend for Overlap {
        fn kind(&self) -> gateway_prover::BackendKind {
            self.inner.kind()
        }
        fn prove_batch(&self, input: &BatchPublicInput) -> ProverResult<BatchProof> {
            self.inner.prove_batch(input)
        }
        fn aggregate(&self, proofs: &[BatchProof]) -> ProverResult<AggregatedProof> {
            self.inner.aggregate(proofs)
        }
        fn tree_group_size(&self) -> Option<usize> {
            self.inner.tree_group_size()
        }
        fn aggregates_trees(&self) -> bool {
            true
        }
        fn aggregate_group(&self, proofs: &[BatchProof]) -> ProverResult<GroupProof> {
            self.aggregation(|| self.inner.aggregate_group(proofs))
        }
        fn aggregate_groups(&self, groups: &[GroupProof]) -> ProverResult<AggregatedProof> {
            if self.fail_top.load(std::sync::atomic::Ordering::SeqCst) {
                return Err(ProverError::Failed { what: "a top".into(), reason: "test".into() });
            }
            self.aggregation(|| self.inner.aggregate_groups(groups))
        }
        fn verify_group(&self, group: &GroupProof) -> ProverResult<()> {
            self.inner.verify_group(group)
        }
        fn verify_batch(&self, proof: &BatchProof) -> ProverResult<()> {
            self.inner.verify_batch(proof)
        }
        fn verify_aggregated(&self, proof: &AggregatedProof) -> ProverResult<()> {
            self.inner.verify_aggregated(proof)
        }
        fn aggregated_calldata(&self, proof: &AggregatedProof) -> alloy::primitives::Bytes {
            self.inner.aggregated_calldata(proof)
        }
    }

    /// In-process, the groups made ahead and a proof job's groups and top take turns: one
    /// aggregation at a time on the machine (a real one takes gigabytes), as a tree made in one
    /// piece did.
    #[test]
    fn in_process_aggregations_run_one_at_a_time() {
        let backend = Arc::new(Overlap {
            inner: MockBackend::with_tree_groups(2),
            running: Default::default(),
            most: Default::default(),
            fail_top: Default::default(),
        });
        let ready = Arc::new(ReadyGroups::default());
        // Groups of another Gateway batch made ahead while this one's proof job runs.
        let ahead: Vec<_> = (0..3)
            .map(|i| {
                let (backend, ready) = (Arc::clone(&backend), Arc::clone(&ready));
                std::thread::spawn(move || {
                    let group = vec![leaf(10 + 2 * i), leaf(11 + 2 * i)];
                    assert!(ready.start(&key_of(&group)));
                    make_ahead(backend.as_ref(), &ready, &group, &JobCancel::new());
                })
            })
            .collect();
        let leaves: Vec<BatchProof> = (0..4).map(leaf).collect();
        let tree = aggregate(backend.as_ref(), &leaves, &ready, &JobCancel::new()).unwrap();
        for maker in ahead {
            maker.join().unwrap();
        }
        backend.verify_aggregated(&tree).unwrap();
        assert_eq!(ready.counts().made_ahead, 3);
        assert_eq!(backend.most.load(std::sync::atomic::Ordering::SeqCst), 1);
    }

    /// Groups made ahead that a failed proof took are put back: the next try takes them
    /// instead of making them again.
    #[test]
    fn groups_a_failed_proof_took_are_put_back() {
        let backend = Overlap {
            inner: MockBackend::with_tree_groups(3),
            running: Default::default(),
            most: Default::default(),
            fail_top: true.into(),
        };
        let leaves: Vec<BatchProof> = (0..9).map(leaf).collect();
        let ready = ReadyGroups::default();
        for group in full_groups_after_first(&leaves[1..], 3) {
            assert!(ready.start(&key_of(&group)));
            make_ahead(&backend, &ready, &group, &JobCancel::new());
        }
        assert_eq!(ready.counts().ready, 2);
        assert!(aggregate(&backend, &leaves, &ready, &JobCancel::new()).is_err());
        let counts = ready.counts();
        assert_eq!((counts.ready, counts.used_ready), (2, 0), "{counts:?}");
        backend.fail_top.store(false, std::sync::atomic::Ordering::SeqCst);
        let tree = aggregate(&backend, &leaves, &ready, &JobCancel::new()).unwrap();
        backend.verify_aggregated(&tree).unwrap();
        let counts = ready.counts();
        assert_eq!((counts.ready, counts.used_ready), (0, 2), "{counts:?}");
    }

    /// In-process, a group made ahead for a later batch waits while a proof job is on, unless
    /// the job waits for that very group.
    #[test]
    fn groups_for_later_batches_wait_while_a_proof_job_is_on() {
        let backend = Arc::new(MockBackend::with_tree_groups(2));
        let ready = Arc::new(ReadyGroups::default());
        let wanted: Vec<BatchProof> = (0..2).map(leaf).collect();
        let later: Vec<BatchProof> = (2..4).map(leaf).collect();
        ready.job(true, &[key_of(&wanted)]);
        let spawn = |group: Vec<BatchProof>| {
            let (backend, ready) = (Arc::clone(&backend), Arc::clone(&ready));
            assert!(ready.start(&key_of(&group)));
            std::thread::spawn(move || {
                make_ahead(backend.as_ref(), &ready, &group, &JobCancel::new())
            })
        };
        let (later_maker, wanted_maker) = (spawn(later), spawn(wanted.clone()));
        wanted_maker.join().unwrap();
        std::thread::sleep(Duration::from_millis(400));
        assert_eq!(ready.counts().made_ahead, 1, "only the group the job waits for");
        assert!(
            ready.take(&key_of(&wanted), std::time::Instant::now(), &JobCancel::new()).is_some()
        );
        ready.job(false, &[key_of(&wanted)]);
        later_maker.join().unwrap();
        assert_eq!(ready.counts().made_ahead, 2);
    }

    /// A proof job waits for a group being made ahead instead of making it twice.
    #[test]
    fn a_proof_job_waits_for_a_group_being_made_ahead() {
        let backend = MockBackend::with_tree_groups(2);
        let group: Vec<BatchProof> = (0..2).map(leaf).collect();
        let key = key_of(&group);
        let ready = Arc::new(ReadyGroups::default());
        assert!(ready.start(&key));
        let made = backend.aggregate_group(&group).unwrap();
        let maker = {
            let (ready, key, made) = (Arc::clone(&ready), key.clone(), made.clone());
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(300));
                ready.finish(&key, Some(made));
            })
        };
        let taken = ready.take(
            &key,
            std::time::Instant::now() + Duration::from_secs(30),
            &JobCancel::new(),
        );
        maker.join().unwrap();
        assert_eq!(taken, Some(made));
        // Not being made: no wait.
        assert_nothing_to_wait_for(&ready, &key);
    }
}
