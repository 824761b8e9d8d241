//! Proof jobs: one per sealed batch, through the [`ProofBackend`], verified natively before the
//! proof is stored.

use std::{sync::Arc, time::Instant};

use gateway_primitives::{batch_output_hash, public_input};
use gateway_prover::{BatchProof, BatchPublicInput, ProofBackend};
use gateway_store::{BatchStage, Store};
use tracing::{info, warn};

use crate::{
    SettlementConfig, SettlementError, SettlementResult,
    batcher::{decode_commit_info, stored_info},
};

/// The public input of batch `number`, as the executor computes it.
pub fn batch_public_input(
    store: &Store,
    config: &SettlementConfig,
    number: u64,
) -> SettlementResult<BatchPublicInput> {
    let batch = store.batch(number)?.ok_or(SettlementError::MissingBatch(number))?;
    let info = decode_commit_info(&batch)?;
    let prev = stored_info(store, config, number - 1)?;
    Ok(BatchPublicInput {
        chain_id: config.chain_id,
        batch_number: number,
        value: public_input(
            prev.stateCommitment,
            info.newStateCommitment,
            batch_output_hash(&info),
        ),
    })
}

/// Proves the lowest sealed batch without a proof, if any; returns its number.
pub async fn prove_next(
    store: &Arc<Store>,
    config: &SettlementConfig,
    backend: &Arc<dyn ProofBackend>,
) -> SettlementResult<Option<u64>> {
    let from = store.batches(1..=u64::MAX)?.into_iter().find(|b| b.proof.is_empty());
    let Some(batch) = from else { return Ok(None) };
    let input = batch_public_input(store, config, batch.number)?;
    let started = Instant::now();
    let job_backend = Arc::clone(backend);
    let proof: BatchProof = tokio::task::spawn_blocking(move || {
        let proof = job_backend.prove_batch(&input)?;
        job_backend.verify_batch(&proof)?;
        Ok::<_, gateway_prover::ProverError>(proof)
    })
    .await
    .map_err(|e| SettlementError::Prover(format!("proof job for batch {}: {e}", batch.number)))??;
    let seconds = started.elapsed().as_secs_f64();
    metrics::histogram!("settlement_proof_seconds").record(seconds);
    let stored = store.write(|tx| {
        // The batch may have been unsealed and resealed meanwhile: store only a matching proof.
        let Some(mut current) = tx.batch(batch.number)? else { return Ok(false) };
        if current.commit_info != batch.commit_info {
            return Ok(false);
        }
        current.proof = proof.bytes.to_vec();
        if current.stage < BatchStage::Proved {
            current.stage = BatchStage::Proved;
        }
        tx.put_batch(&current)?;
        Ok(true)
    })?;
    if stored {
        crate::failpoint::failpoint("after-proof");
        info!(target: "settlement::prover", batch = batch.number, seconds, backend = %backend.kind(), "proved batch");
    } else {
        warn!(target: "settlement::prover", batch = batch.number, "batch changed while proving: proof dropped");
    }
    Ok(Some(batch.number))
}
