//! The chain events of one Gateway block, read from its receipts and the calldata of the
//! chain executors' calls.

use std::collections::HashMap;

use alloy::{
    consensus::TxReceipt as _,
    primitives::Address,
    sol_types::{SolCall, SolEvent},
};
use gateway_contracts::{ChainExecutor, MessageRoot};
use gateway_primitives::public_input;
use gateway_store::{
    ChainBatchInfo, ChainExecutorSet, CommittedChainBatch, ExecutedChainBatch, GatewayBlockEvents,
    ProvedChainBatch, StoreResult, StoreWriter,
};
use reth_primitives_traits::RecoveredBlock;
use tracing::error;

use crate::config::GatewayMode;

/// The chain events of one Gateway block. `tx` looks up executors authorized in earlier blocks.
pub(super) fn block_events(
    tx: &StoreWriter<'_>,
    mode: &GatewayMode,
    block: &RecoveredBlock<exex_host::Block>,
    receipts: &[exex_host::Receipt],
) -> StoreResult<GatewayBlockEvents> {
    let mut events = GatewayBlockEvents::default();
    let mut executors: HashMap<Address, u64> = HashMap::new();
    let transactions = &block.body().transactions;
    for (index, receipt) in receipts.iter().enumerate() {
        for log in receipt.logs() {
            let Some(topic) = log.topics().first() else { continue };
            if log.address == mode.message_root {
                if *topic == MessageRoot::ExecutorSet::SIGNATURE_HASH {
                    if let Ok(e) = MessageRoot::ExecutorSet::decode_log_data(&log.data) {
                        let chain_id = e.chainId.saturating_to::<u64>();
                        // The MessageRoot adds a chain to its shared tree the first time it
                        // authorizes an executor for it.
                        let known = executors.values().any(|id| *id == chain_id)
                            || tx.gateway_chain(chain_id)?.is_some();
                        if !known {
                            events.chainsAdded.push(chain_id);
                        }
                        executors.insert(e.executor, chain_id);
                        events
                            .executorsSet
                            .push(ChainExecutorSet { chainId: chain_id, executor: e.executor });
                    }
                } else if *topic == MessageRoot::NewInteropRoot::SIGNATURE_HASH
                    && let Ok(e) = MessageRoot::NewInteropRoot::decode_log_data(&log.data)
                {
                    events.sharedRootChanged = true;
                    events.sharedRoot = e.root;
                }
                continue;
            }
            let chain_id = match executors.get(&log.address) {
                Some(id) => *id,
                None => match tx.gateway_chain_of(log.address)? {
                    Some(id) => {
                        executors.insert(log.address, id);
                        id
                    }
                    None => continue,
                },
            };
            if *topic == ChainExecutor::BatchCommitted::SIGNATURE_HASH {
                if let Ok(e) = ChainExecutor::BatchCommitted::decode_log_data(&log.data) {
                    let number: u64 = e.batchNumber.saturating_to();
                    // What L1 derives the batch's stored info from: its commit info, from the
                    // executor's own commitBatches calldata.
                    let commit_info = transactions
                        .get(index)
                        .filter(|t| alloy::consensus::Transaction::to(*t) == Some(log.address))
                        .and_then(|t| {
                            ChainExecutor::commitBatchesCall::abi_decode(
                                alloy::consensus::Transaction::input(t),
                            )
                            .ok()
                        })
                        .and_then(|call| {
                            call.newBatches.into_iter().find(|b| b.batchNumber == number)
                        })
                        .map(|b| alloy::sol_types::SolValue::abi_encode(&b));
                    if commit_info.is_none() {
                        metrics::counter!("gateway_chain_proofs_unreadable_total").increment(1);
                        error!(
                            target: "settlement::gateway",
                            chain_id,
                            batch = number,
                            gateway_block = block.header().number,
                            "a chain batch's commit info is not readable from a direct commitBatches call of its executor: the Gateway batch that executes it cannot be settled on L1"
                        );
                    }
                    events.committed.push(CommittedChainBatch {
                        chainId: chain_id,
                        batchNumber: number,
                        commitInfo: commit_info.unwrap_or_default().into(),
                    });
                }
            } else if *topic == ChainExecutor::BatchExecuted::SIGNATURE_HASH {
                if let Ok(e) = ChainExecutor::BatchExecuted::decode_log_data(&log.data) {
                    events.executed.push(ExecutedChainBatch {
                        chainId: chain_id,
                        batchNumber: e.batchNumber.saturating_to(),
                        batchRoot: e.l2LogsRoot,
                    });
                }
            } else if *topic == ChainExecutor::BatchesProved::SIGNATURE_HASH {
                let proved = transactions
                    .get(index)
                    .filter(|t| alloy::consensus::Transaction::to(*t) == Some(log.address))
                    .and_then(|t| {
                        ChainExecutor::proveBatchesCall::abi_decode(
                            alloy::consensus::Transaction::input(t),
                        )
                        .ok()
                    });
                match proved.map(|call| proved_batches(chain_id, &call)) {
                    Some(Ok(batches)) => events.proved.extend(batches),
                    other => {
                        let reason = match other {
                            Some(Err(err)) => err.to_string(),
                            _ => {
                                "the transaction is not a direct proveBatches call of the executor"
                                    .to_string()
                            }
                        };
                        metrics::counter!("gateway_chain_proofs_unreadable_total").increment(1);
                        error!(
                            target: "settlement::gateway",
                            chain_id,
                            gateway_block = block.header().number,
                            tx_index = index,
                            %reason,
                            "a chain's proofs are not readable from its proveBatches calldata: the Gateway batch that executes those chain batches cannot be proved"
                        );
                    }
                }
            }
        }
    }
    Ok(events)
}

/// The chain batches a `proveBatches` call proved, each with its public input and proof.
fn proved_batches(
    chain_id: u64,
    call: &ChainExecutor::proveBatchesCall,
) -> Result<Vec<ProvedChainBatch>, gateway_prover::ProverError> {
    let proofs = gateway_prover::batch_proofs_from_calldata(&call.proof)?;
    if proofs.len() != call.batches.len() {
        return Err(gateway_prover::ProverError::Invalid {
            kind: gateway_prover::BackendKind::Mock,
            what: "a proveBatches call".into(),
            reason: format!("{} proofs for {} batches", proofs.len(), call.batches.len()),
        });
    }
    let mut previous = chain_batch_info(&call.prevBatch);
    let mut out = Vec::with_capacity(proofs.len());
    for (batch, proof) in call.batches.iter().zip(proofs) {
        let info = chain_batch_info(batch);
        out.push(ProvedChainBatch {
            chainId: chain_id,
            batchNumber: batch.batchNumber,
            publicInput: public_input(
                previous.stateCommitment,
                info.stateCommitment,
                info.commitment,
            ),
            proof,
            previous: std::mem::replace(&mut previous, info.clone()),
            batch: info,
        });
    }
    Ok(out)
}

/// A chain executor's `StoredBatchInfo` as the store keeps it.
fn chain_batch_info(b: &ChainExecutor::StoredBatchInfo) -> ChainBatchInfo {
    ChainBatchInfo {
        batchNumber: b.batchNumber,
        stateCommitment: b.stateCommitment,
        numberOfL1Txs: b.numberOfL1Txs,
        priorityOpsHash: b.priorityOpsHash,
        dependencyRootsRollingHash: b.dependencyRootsRollingHash,
        l2LogsRoot: b.l2LogsRoot,
        commitment: b.commitment,
    }
}
