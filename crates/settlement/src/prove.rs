//! Stage 3, prove: one proof job per sealed batch, through the [`ProofBackend`] (in gateway mode
//! ONE aggregation of the Gateway's leaf and every carried chain batch's), verified natively
//! before the proof is stored; then the send stage is woken.

use std::{sync::Arc, time::Instant};

use gateway_prover::{BatchProof, ProofBackend};
use gateway_store::{BatchStage, MigrationPhase, Store};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::{
    commitment::batch_public_input,
    config::SettlementConfig,
    error::{SettlementError, SettlementResult},
    gateway::{Gateway, groups::ReadyGroups},
    state::{IDLE_TICK, Pipeline, wait},
};

/// Runs the prove stage until `shutdown`. The backend may be shared with other hosts of the
/// process: its owner cancels it (`ProofBackend::cancel`) when the process stops; this stage
/// only stops starting jobs.
pub(crate) async fn run(
    pipeline: Arc<Pipeline>,
    gateway: Option<Arc<Gateway>>,
    shutdown: CancellationToken,
) -> SettlementResult<()> {
    let (store, backend) = (&pipeline.store, &pipeline.backend);
    if gateway.is_none() {
        // Aggregated proofs are checked natively when made; the L1 verifier checks them again.
        let check = drop_foreign_proofs(store, &pipeline.active_config(), backend, 0);
        pipeline.record("prover", &check);
    }
    loop {
        let executed = pipeline.counters().executed;
        let result =
            prove_ready(store, &pipeline.active_config(), backend, gateway.as_deref(), executed)
                .await;
        pipeline.record("prover", &result);
        if matches!(result, Ok(n) if n > 0) {
            pipeline.wakes.send.notify_one();
            // The stage clocks see each proof when it is stored.
            for batch in store.batches(executed + 1..=u64::MAX).unwrap_or_default() {
                if batch.stage == BatchStage::Proved {
                    pipeline.observer.stage(batch.number, batch.sl_chain_id, BatchStage::Proved);
                }
            }
            continue;
        }
        if wait(&shutdown, &pipeline.wakes.prove, IDLE_TICK).await {
            return Ok(());
        }
    }
}

/// Proves the lowest sealed batches above `executed` (batches executed on the settlement layer
/// have their proofs) that have none, at most `config.proof_concurrency` at once; returns how
/// many proofs were stored. A failed job is counted and logged, and the batch is tried again on
/// the next call; the first error is returned once every job has ended.
pub(crate) async fn prove_ready(
    store: &Arc<Store>,
    config: &SettlementConfig,
    backend: &Arc<dyn ProofBackend>,
    gateway: Option<&Gateway>,
    executed: u64,
) -> SettlementResult<usize> {
    let mut waiting: Vec<_> = store
        .batches(executed + 1..=u64::MAX)?
        .into_iter()
        .filter(|b| b.proof.is_empty())
        .collect();
    metrics::gauge!("settlement_proofs_waiting").set(waiting.len() as f64);
    waiting.truncate(config.proof_concurrency.clamp(1, 64) as usize);
    let jobs = waiting.into_iter().map(|batch| prove_one(store, config, backend, gateway, batch));
    let mut proved = 0;
    let mut first_error = None;
    for result in futures::future::join_all(jobs).await {
        match result {
            Ok(true) => proved += 1,
            Ok(false) => {}
            Err(err) => {
                metrics::counter!("settlement_proofs_failed_total").increment(1);
                first_error.get_or_insert(err);
            }
        }
    }
    match first_error {
        Some(err) if proved == 0 => Err(err),
        Some(err) => {
            warn!(target: "settlement::prove", %err, "a proof job failed; it will be retried");
            Ok(proved)
        }
        None => Ok(proved),
    }
}

/// Drops the stored proofs of batches above `executed` that `backend` does not accept (made by
/// another backend before a restart), so they are proved again; returns how many. Run once when
/// the prove stage starts (not in gateway mode: aggregated proofs are not leaf proofs).
pub(crate) fn drop_foreign_proofs(
    store: &Store,
    config: &SettlementConfig,
    backend: &Arc<dyn ProofBackend>,
    executed: u64,
) -> SettlementResult<usize> {
    let mut dropped = Vec::new();
    for mut batch in store.batches(executed + 1..=u64::MAX)? {
        if batch.proof.is_empty() || batch.stage >= BatchStage::ProvedOnChain {
            continue;
        }
        let proof = BatchProof {
            backend: backend.kind(),
            input: batch_public_input(store, config, batch.number)?,
            bytes: batch.proof.clone().into(),
        };
        if let Err(err) = backend.verify_batch(&proof) {
            warn!(target: "settlement::prove", batch = batch.number, %err, "stored proof does not verify: proving again");
            batch.proof.clear();
            if batch.stage == BatchStage::Proved {
                batch.stage = BatchStage::Sealed;
            }
            dropped.push(batch);
        }
    }
    if !dropped.is_empty() {
        store.write(|tx| dropped.iter().try_for_each(|b| tx.put_batch(b)))?;
    }
    Ok(dropped.len())
}

/// How often a running proof job checks that its batch is still sealed as it was.
const JOB_CHECK_INTERVAL: std::time::Duration = std::time::Duration::from_millis(500);

/// The blocking part of a proof job: the batch's proof, checked natively; in Gateway mode ONE
/// proof over the Gateway's leaf and every carried chain batch's. Returns what is stored.
/// A tree's groups made ahead ([`crate::gateway::groups`]) are taken.
fn prove_job(
    backend: &dyn ProofBackend,
    input: &gateway_prover::BatchPublicInput,
    chain_leaves: Option<(Vec<BatchProof>, Arc<ReadyGroups>)>,
    cancel: &gateway_prover::JobCancel,
) -> Result<Vec<u8>, gateway_prover::ProverError> {
    let proof = backend.prove_batch(input)?;
    backend.verify_batch(&proof)?;
    let Some((chain_leaves, ready)) = chain_leaves else { return Ok(proof.bytes.to_vec()) };
    let mut leaves = Vec::with_capacity(1 + chain_leaves.len());
    leaves.push(proof);
    leaves.extend(chain_leaves);
    let aggregated = crate::gateway::groups::aggregate(backend, &leaves, &ready, cancel)?;
    backend.verify_aggregated(&aggregated)?;
    Ok(backend.aggregated_calldata(&aggregated).to_vec())
}

/// Proves one batch and stores the proof if the batch is unchanged; true when stored. A batch
/// unsealed while proving cancels its job.
async fn prove_one(
    store: &Arc<Store>,
    config: &SettlementConfig,
    backend: &Arc<dyn ProofBackend>,
    gateway: Option<&Gateway>,
    batch: gateway_store::BatchRecord,
) -> SettlementResult<bool> {
    let input = batch_public_input(store, config, batch.number)?;
    let chain_leaves = match gateway {
        Some(gateway) => match gateway.chain_leaves(store, backend.as_ref(), batch.number) {
            Ok(leaves) => Some((leaves, Arc::clone(&gateway.ready))),
            Err(err @ SettlementError::ChainProofInvalid { chain_id, .. }) => {
                gateway.hold_back(store, batch.number, chain_id, &err.to_string())?;
                return Ok(false);
            }
            Err(err) => return Err(err),
        },
        None => None,
    };
    // Gateway mode: the job aggregates the carried chain batches' proofs.
    let aggregates = chain_leaves.as_ref().is_some_and(|(leaves, _)| !leaves.is_empty());
    let started = Instant::now();
    let job_backend = Arc::clone(backend);
    let cancel = gateway_prover::JobCancel::new();
    let job_cancel = cancel.clone();
    // Whatever ends this function early (an error, the future dropped at shutdown) cancels the
    // job too.
    struct CancelOnDrop(Option<gateway_prover::JobCancel>);
    impl Drop for CancelOnDrop {
        fn drop(&mut self) {
            if let Some(cancel) = &self.0 {
                cancel.cancel();
            }
        }
    }
    let mut job = tokio::task::spawn_blocking(move || {
        gateway_prover::run_job(&job_cancel, || {
            prove_job(job_backend.as_ref(), &input, chain_leaves, &job_cancel)
        })
    });
    let mut guard = CancelOnDrop(Some(cancel.clone()));
    // While the job runs, the batch must stay as it was sealed: a chain reorg that unseals it
    // cancels the job, which stops at its next step (awaited, so no more jobs run at once than
    // the limit allows).
    let proof_bytes: Vec<u8> = loop {
        tokio::select! {
            joined = &mut job => break joined
                .map_err(|source| SettlementError::ProofJob { batch: batch.number, source: Box::new(source) })??,
            () = tokio::time::sleep(JOB_CHECK_INTERVAL) => {
                let current = store.batch(batch.number)?;
                if current.is_none_or(|current| current.commit_info != batch.commit_info) {
                    cancel.cancel();
                    metrics::counter!("settlement_proof_jobs_cancelled_total").increment(1);
                    warn!(target: "settlement::prove", batch = batch.number, "the batch was unsealed while proving: job cancelled");
                    let _ = (&mut job).await;
                    return Ok(false);
                }
            }
        }
    };
    guard.0 = None;
    // Crash test: the Gateway's node killed in the middle of an aggregation (its result made,
    // not yet stored).
    if aggregates {
        crate::failpoint::failpoint("mid-aggregation");
    }
    let seconds = started.elapsed().as_secs_f64();
    metrics::histogram!("settlement_proof_seconds").record(seconds);
    // Crash test: a proof made while a migration drains, not yet stored.
    if crate::failpoint::armed("draining-proof")
        && store.last_migration()?.is_some_and(|m| m.phase == MigrationPhase::Draining.as_u8())
    {
        crate::failpoint::failpoint("draining-proof");
    }
    let stored = store.write(|tx| {
        // The batch may have been unsealed and resealed meanwhile: store only a matching proof.
        let Some(mut current) = tx.batch(batch.number)? else { return Ok(false) };
        if current.commit_info != batch.commit_info {
            return Ok(false);
        }
        current.proof = proof_bytes;
        if current.stage < BatchStage::Proved {
            current.stage = BatchStage::Proved;
        }
        tx.put_batch(&current)?;
        Ok(true)
    })?;
    if stored {
        crate::failpoint::failpoint("after-proof");
        info!(target: "settlement::prove", batch = batch.number, seconds, backend = %backend.kind(), "proved batch");
    } else {
        warn!(target: "settlement::prove", batch = batch.number, "batch changed while proving: proof dropped");
    }
    Ok(stored)
}

#[cfg(test)]
mod tests {
    use std::sync::{
        Mutex,
        atomic::{AtomicUsize, Ordering},
    };

    use alloy::sol_types::SolValue;
    use gateway_prover::{
        AggregatedProof, BackendKind, BatchPublicInput, MockBackend, ProverError, ProverResult,
    };
    use gateway_store::{BatchRecord, BlockRecord};

    use super::*;
    use crate::commitment::commit_info;

    /// Wraps the mock backend: slow, counts jobs running at once, fails batches on a list once.
    #[derive(Debug, Default)]
    struct SlowFlakyBackend {
        inner: MockBackend,
        running: AtomicUsize,
        most_at_once: AtomicUsize,
        fail_once: Mutex<Vec<u64>>,
        /// Batches whose proof runs until its job is cancelled (at most 30 s).
        until_cancelled: Mutex<Vec<u64>>,
        /// Jobs that saw their cancellation.
        cancelled: AtomicUsize,
    }

    impl ProofBackend for SlowFlakyBackend {
        fn kind(&self) -> BackendKind {
            self.inner.kind()
        }
        fn prove_batch(&self, input: &BatchPublicInput) -> ProverResult<BatchProof> {
            if self.until_cancelled.lock().unwrap().contains(&input.batch_number) {
                let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
                while std::time::Instant::now() < deadline {
                    if gateway_prover::job_cancelled() {
                        self.cancelled.fetch_add(1, Ordering::SeqCst);
                        return Err(ProverError::Cancelled(format!(
                            "batch {}",
                            input.batch_number
                        )));
                    }
                    std::thread::sleep(std::time::Duration::from_millis(10));
                }
            }
            let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
            self.most_at_once.fetch_max(now, Ordering::SeqCst);
            std::thread::sleep(std::time::Duration::from_millis(100));
            self.running.fetch_sub(1, Ordering::SeqCst);
            let mut fail = self.fail_once.lock().unwrap();
            if let Some(i) = fail.iter().position(|b| *b == input.batch_number) {
                fail.remove(i);
                return Err(ProverError::Failed {
                    what: format!("batch {}", input.batch_number),
                    reason: "fails once".into(),
                });
            }
            self.inner.prove_batch(input)
        }
        fn aggregate(&self, proofs: &[BatchProof]) -> ProverResult<AggregatedProof> {
            self.inner.aggregate(proofs)
        }
        fn verify_batch(&self, proof: &BatchProof) -> ProverResult<()> {
            self.inner.verify_batch(proof)
        }
        fn verify_aggregated(&self, proof: &AggregatedProof) -> ProverResult<()> {
            self.inner.verify_aggregated(proof)
        }
        fn batches_calldata(&self, proofs: &[BatchProof]) -> alloy::primitives::Bytes {
            self.inner.batches_calldata(proofs)
        }
        fn aggregated_calldata(&self, proof: &AggregatedProof) -> alloy::primitives::Bytes {
            self.inner.aggregated_calldata(proof)
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn proofs_run_up_to_the_limit_at_once_and_a_failed_job_is_retried() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(Store::open(dir.path()).unwrap());
        let mut config = crate::config::offline_config();
        config.proof_concurrency = 3;
        store
            .write(|tx| {
                for n in 1..=5u64 {
                    let block = BlockRecord { number: n, timestamp: n, ..Default::default() };
                    let info = commit_info(&config, n, &[block], config.da, Default::default());
                    tx.put_batch(&BatchRecord {
                        number: n,
                        first_block: n,
                        last_block: n,
                        sl_chain_id: 506,
                        stage: BatchStage::Sealed,
                        commit_info: info.abi_encode(),
                        proof: Vec::new(),
                    })?;
                }
                Ok(())
            })
            .unwrap();
        let flaky = Arc::new(SlowFlakyBackend::default());
        flaky.fail_once.lock().unwrap().push(2);
        let backend: Arc<dyn ProofBackend> = flaky.clone();

        // Batches 1..=3 at once; 2 fails and is the first waiting next time.
        assert_eq!(prove_ready(&store, &config, &backend, None, 0).await.unwrap(), 2);
        assert_eq!(flaky.most_at_once.load(Ordering::SeqCst), 3);
        let waiting: Vec<u64> = store
            .batches(1..=5)
            .unwrap()
            .iter()
            .filter(|b| b.proof.is_empty())
            .map(|b| b.number)
            .collect();
        assert_eq!(waiting, vec![2, 4, 5]);
        assert_eq!(prove_ready(&store, &config, &backend, None, 0).await.unwrap(), 3);
        assert_eq!(prove_ready(&store, &config, &backend, None, 0).await.unwrap(), 0);
        for batch in store.batches(1..=5).unwrap() {
            assert_eq!(batch.stage, BatchStage::Proved);
            let proof = BatchProof {
                backend: backend.kind(),
                input: batch_public_input(&store, &config, batch.number).unwrap(),
                bytes: batch.proof.into(),
            };
            backend.verify_batch(&proof).unwrap();
        }

        // A stored proof the backend does not accept (here: altered) is dropped at start and
        // made again; proofs at or below the executed batch are not even read.
        let mut third = store.batch(3).unwrap().unwrap();
        third.proof[9] ^= 1;
        store.write(|tx| tx.put_batch(&third)).unwrap();
        assert_eq!(drop_foreign_proofs(&store, &config, &backend, 3).unwrap(), 0);
        assert_eq!(drop_foreign_proofs(&store, &config, &backend, 0).unwrap(), 1);
        let third = store.batch(3).unwrap().unwrap();
        assert!(third.proof.is_empty());
        assert_eq!(third.stage, BatchStage::Sealed);
        assert_eq!(prove_ready(&store, &config, &backend, None, 0).await.unwrap(), 1);
        assert!(!store.batch(3).unwrap().unwrap().proof.is_empty());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_batch_unsealed_while_proving_cancels_its_job() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(Store::open(dir.path()).unwrap());
        let config = crate::config::offline_config();
        let block = BlockRecord { number: 1, timestamp: 1, ..Default::default() };
        let info = commit_info(&config, 1, &[block], config.da, Default::default());
        let batch = BatchRecord {
            number: 1,
            first_block: 1,
            last_block: 1,
            sl_chain_id: 506,
            stage: BatchStage::Sealed,
            commit_info: info.abi_encode(),
            proof: Vec::new(),
        };
        store.write(|tx| tx.put_batch(&batch)).unwrap();
        let slow = Arc::new(SlowFlakyBackend::default());
        slow.until_cancelled.lock().unwrap().push(1);
        let backend: Arc<dyn ProofBackend> = slow.clone();

        let proving = {
            let (store, backend, config) =
                (Arc::clone(&store), Arc::clone(&backend), config.clone());
            tokio::spawn(async move { prove_ready(&store, &config, &backend, None, 0).await })
        };
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        // A chain reorg unseals the batch while its proof runs.
        store.write(|tx| tx.remove_batches_from(1).map(drop)).unwrap();
        let proved = tokio::time::timeout(std::time::Duration::from_secs(5), proving)
            .await
            .expect("the prover stops waiting for the cancelled job")
            .unwrap()
            .unwrap();
        assert_eq!(proved, 0);
        tokio::time::timeout(std::time::Duration::from_secs(5), async {
            while slow.cancelled.load(Ordering::SeqCst) == 0 {
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
        })
        .await
        .expect("the job itself saw its cancellation and stopped");
        assert!(store.batch(1).unwrap().is_none());
    }
}
