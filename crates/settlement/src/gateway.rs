//! Gateway mode: the same ExEx, run in the Gateway's own node, settling the Gateway on L1.
//!
//! - From each Gateway block it records the chain executors' events (chain batches committed,
//!   proved with their proofs taken from the `proveBatches` calldata, executed with their roots)
//!   and the MessageRoot's (executors authorized, the shared root), in the block's store
//!   transaction ([`block_events`]).
//! - A Gateway batch carries the chain batches executed on the Gateway inside it: its
//!   commitment binds them, `(chainId, batchNumber, publicInput)` in order, and its
//!   `l2LogsRoot` is the shared message root after its last block ([`batch_contents`]).
//! - Its proof is ONE aggregation of the Gateway's own leaf and every carried chain batch's
//!   leaf proof; the Gateway's `GatewayExecutor` on L1 commits, proves and executes it in one
//!   transaction and then holds those chain batches L1-final.
//!
//! A chain batch proved through another contract (not a direct call of its executor) has no
//! proof in the calldata the Gateway can read: it is logged as an error and counted in
//! `gateway_chain_proofs_unreadable_total`, and the Gateway batch that executes it cannot be
//! proved until an operator intervenes.

use std::collections::HashMap;

use alloy::{
    consensus::TxReceipt as _,
    primitives::{Address, B256, U256},
    sol_types::{SolCall, SolEvent},
};
use gateway_contracts::{ChainExecutor, MessageRoot};
use gateway_primitives::{ChainBatchRef, merkle_root, public_input};
use gateway_store::{
    ChainExecutorSet, ChainRef, CommittedChainBatch, ExecutedChainBatch, GatewayBatchContents,
    GatewayBlockEvents, ProvedChainBatch, Store, StoreResult, StoreWriter,
};
use reth_primitives_traits::RecoveredBlock;
use tracing::{error, warn};

use crate::{SettlementError, SettlementResult};

/// What gateway mode needs beyond the settlement config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewayMode {
    /// The Gateway's MessageRoot: its `ExecutorSet` events name the chain executors followed.
    pub message_root: Address,
    /// The fixed price each chain pays per settled batch, in the Gateway's gas token (wei).
    pub price_per_chain_batch: U256,
    /// L1 gas one chain batch costs settled directly on L1 (commit + prove + execute), measured;
    /// the status compares each chain's share of the Gateway's real L1 cost with it.
    pub direct_l1_gas_per_batch: u64,
    /// A Gateway batch carries at most this many chain batches (`None`: as many as the proof
    /// backend aggregates, minus the Gateway's own leaf).
    pub max_chain_batches: Option<usize>,
}

/// The fixed price per chain batch by default: 0.01 $ZK.
pub const DEFAULT_PRICE_PER_CHAIN_BATCH: u128 = 10_000_000_000_000_000;
/// Direct L1 gas per chain batch by default: measured by `bench-contracts` (one batch per
/// commit, prove and execute transaction, mock verifier: ≈ 375k gas).
pub const DEFAULT_DIRECT_L1_GAS_PER_BATCH: u64 = 374_784;

impl GatewayMode {
    /// Gateway mode following `message_root`, with the default price and direct-L1 gas.
    pub fn new(message_root: Address) -> Self {
        Self {
            message_root,
            price_per_chain_batch: U256::from(DEFAULT_PRICE_PER_CHAIN_BATCH),
            direct_l1_gas_per_batch: DEFAULT_DIRECT_L1_GAS_PER_BATCH,
            max_chain_batches: None,
        }
    }
}

/// The chain events of one Gateway block. `tx` looks up executors authorized in earlier blocks.
pub fn block_events(
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
                    events.committed.push(CommittedChainBatch {
                        chainId: chain_id,
                        batchNumber: e.batchNumber.saturating_to(),
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
    let mut prev_state = call.prevBatch.stateCommitment;
    let mut out = Vec::with_capacity(proofs.len());
    for (batch, proof) in call.batches.iter().zip(proofs) {
        out.push(ProvedChainBatch {
            chainId: chain_id,
            batchNumber: batch.batchNumber,
            publicInput: public_input(prev_state, batch.stateCommitment, batch.commitment),
            proof,
        });
        prev_state = batch.stateCommitment;
    }
    Ok(out)
}

/// The chain batches executed on the Gateway in blocks `from..=to` (grouped by chain, each
/// chain's ascending, as `GatewayExecutor` wants them) and the shared root after block `to`.
pub fn batch_contents(store: &Store, from: u64, to: u64) -> SettlementResult<GatewayBatchContents> {
    let mut executed: Vec<(u64, u64)> = store
        .gateway_block_events(from..=to)?
        .iter()
        .flat_map(|(_, events)| events.executed.iter().map(|e| (e.chainId, e.batchNumber)))
        .collect();
    executed.sort_unstable();
    let mut chain_batches = Vec::with_capacity(executed.len());
    for (chain_id, batch_number) in executed {
        let proof = store.gateway_chain_proof(chain_id, batch_number)?.ok_or_else(|| {
            SettlementError::Corrupt(format!(
                "chain {chain_id} batch {batch_number} was executed on the Gateway in blocks {from}..={to} but no proof of it was seen"
            ))
        })?;
        chain_batches.push(ChainRef {
            chainId: U256::from(chain_id),
            batchNumber: U256::from(batch_number),
            publicInput: proof.publicInput,
        });
    }
    let shared_root = store.gateway_shared_root_at(to)?.unwrap_or_else(|| merkle_root(&[]));
    Ok(GatewayBatchContents {
        chainBatches: chain_batches,
        sharedRoot: shared_root,
        ..Default::default()
    })
}

/// How many chain batches were executed in each of the Gateway blocks `from..=to`.
pub fn executed_per_block(
    store: &Store,
    from: u64,
    to: u64,
) -> SettlementResult<Vec<(u64, usize)>> {
    Ok(store
        .gateway_block_events(from..=to)?
        .iter()
        .map(|(number, events)| (*number, events.executed.len()))
        .collect())
}

/// The store's chain batch references as the primitives' type.
pub fn refs(contents: &GatewayBatchContents) -> Vec<ChainBatchRef> {
    contents
        .chainBatches
        .iter()
        .map(|r| ChainBatchRef {
            chainId: r.chainId,
            batchNumber: r.batchNumber,
            publicInput: r.publicInput,
        })
        .collect()
}

/// The Gateway batch's commitment: its output hash bound to the chain batches it carries.
pub fn commitment(output_hash: B256, contents: &GatewayBatchContents) -> B256 {
    gateway_primitives::gateway_commitment(output_hash, &refs(contents))
}

/// Warns once per call when a Gateway batch carries more chain batches than the backend
/// aggregates: it cannot be proved.
pub(crate) fn warn_over_capacity(batch: u64, carried: usize, max: usize) {
    warn!(
        target: "settlement::gateway",
        batch,
        carried,
        max,
        "a Gateway block executed more chain batches than one aggregation holds; this Gateway batch cannot be proved with this backend"
    );
}
