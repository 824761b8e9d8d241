//! What every stage derives from a sealed batch: its commit info, its stored info and
//! commitment as the settlement layer holds them, its proof's public input, and the interop
//! roots its blocks imported. Read from the store; no stage is imported here.

use alloy::{
    primitives::{B256, U256},
    sol_types::SolValue as _,
};
use gateway_primitives::{
    ChainBatchRef, CommitBatchInfo, DaScheme, StoredBatchInfo, merkle_root, public_input,
};
use gateway_prover::BatchPublicInput;
use gateway_store::{
    BatchRecord, BlockRecord, GatewayBatchContents, ImportedRoot, Store, StoreResult,
};

use crate::{
    config::SettlementConfig,
    error::{SettlementError, SettlementResult},
};

/// The commit info of a batch over `blocks` (at least one), whose data is available under
/// `da` with commitment `da_commitment` (see [`crate::da`]).
pub fn commit_info(
    config: &SettlementConfig,
    number: u64,
    blocks: &[BlockRecord],
    da: DaScheme,
    da_commitment: B256,
) -> CommitBatchInfo {
    let leaves: Vec<B256> = blocks.iter().flat_map(|b| b.message_leaves.iter().copied()).collect();
    let imported: Vec<(u64, B256)> = blocks
        .iter()
        .flat_map(|b| b.imported_roots.iter().map(|i| (i.gateway_block, i.root)))
        .collect();
    let last = blocks.last();
    let ops: Vec<B256> = blocks.iter().flat_map(|b| b.priority_ops.iter().copied()).collect();
    CommitBatchInfo {
        batchNumber: number,
        newStateCommitment: last.map(|b| b.hash).unwrap_or_default(),
        firstBlockTimestamp: blocks.first().map(|b| b.timestamp).unwrap_or_default(),
        lastBlockTimestamp: last.map(|b| b.timestamp).unwrap_or_default(),
        chainId: U256::from(config.chain_id),
        daScheme: da as u8,
        daCommitment: da_commitment,
        numberOfL1Txs: U256::from(ops.len()),
        numberOfL2Txs: U256::from(blocks.iter().map(|b| u64::from(b.tx_count)).sum::<u64>()),
        priorityOpsHash: priority_ops_hash(&ops),
        l2LogsRoot: merkle_root(&leaves),
        dependencyRootsRollingHash: gateway_primitives::dependency_roots_rolling_hash(&imported),
        slChainId: U256::from(config.layer.chain_id),
    }
}

/// The rolling hash of the priority operations a batch processed, in order, as the executor
/// folds its queue when it executes the batch: `h = keccak256(h ‖ opHash)` from zero.
pub fn priority_ops_hash(ops: &[B256]) -> B256 {
    ops.iter().fold(B256::ZERO, |rolling, op| {
        let mut packed = [0u8; 64];
        packed[..32].copy_from_slice(rolling.as_slice());
        packed[32..].copy_from_slice(op.as_slice());
        alloy::primitives::keccak256(packed)
    })
}

/// The commit info a batch record carries.
pub fn decode_commit_info(batch: &BatchRecord) -> SettlementResult<CommitBatchInfo> {
    CommitBatchInfo::abi_decode(&batch.commit_info).map_err(|source| SettlementError::Decode {
        what: format!("batch {} commit info", batch.number),
        source: Box::new(source),
    })
}

/// The stored info of batch `number` (batch 0 is the chain's genesis).
pub fn stored_info(
    store: &Store,
    config: &SettlementConfig,
    number: u64,
) -> SettlementResult<StoredBatchInfo> {
    if number == 0 {
        return Ok(StoredBatchInfo {
            stateCommitment: config.genesis_state_commitment,
            ..Default::default()
        });
    }
    let batch = store.batch(number)?.ok_or(SettlementError::MissingBatch(number))?;
    let info = decode_commit_info(&batch)?;
    let mut stored = info.to_stored();
    stored.commitment = batch_commitment(store, config, &info)?;
    Ok(stored)
}

/// A batch's commitment as its settlement layer stores it: the output hash, and in gateway mode
/// that hash bound to the chain batches the Gateway batch carries.
pub fn batch_commitment(
    store: &Store,
    config: &SettlementConfig,
    info: &CommitBatchInfo,
) -> SettlementResult<B256> {
    let output = gateway_primitives::batch_output_hash(info);
    if config.gateway.is_none() {
        return Ok(output);
    }
    let contents = gateway_contents(store, info.batchNumber)?;
    gateway_commitment(output, &contents)
}

/// The public input of batch `number`'s proof, as the executor computes it.
pub fn batch_public_input(
    store: &Store,
    config: &SettlementConfig,
    number: u64,
) -> SettlementResult<BatchPublicInput> {
    let batch = store.batch(number)?.ok_or(SettlementError::MissingBatch(number))?;
    let info = decode_commit_info(&batch)?;
    let prev = stored_info(store, config, number - 1)?;
    let commitment = batch_commitment(store, config, &info)?;
    Ok(BatchPublicInput {
        chain_id: config.chain_id,
        batch_number: number,
        value: public_input(prev.stateCommitment, info.newStateCommitment, commitment),
    })
}

/// Gateway mode: what Gateway batch `number` carries, as sealed.
pub fn gateway_contents(store: &Store, number: u64) -> SettlementResult<GatewayBatchContents> {
    store.gateway_batch_contents(number)?.ok_or_else(|| {
        SettlementError::Corrupt(format!(
            "Gateway batch {number} has no stored contents (chain batches it carries)"
        ))
    })
}

/// The chain batches a Gateway batch carries, as the primitives' type.
pub fn chain_batch_refs(contents: &GatewayBatchContents) -> SettlementResult<Vec<ChainBatchRef>> {
    contents
        .chainBatches
        .iter()
        .map(|r| {
            let batch = CommitBatchInfo::abi_decode(&r.commitInfo).map_err(|e| {
                SettlementError::Decode {
                    what: format!(
                        "the commit info of chain {} batch {} a Gateway batch carries",
                        r.chainId, r.batchNumber
                    ),
                    source: Box::new(e),
                }
            })?;
            Ok(ChainBatchRef { chainId: r.chainId, batch, publicInput: r.publicInput })
        })
        .collect()
}

/// A chain batch's stored info as the store keeps it, as the primitives' type.
pub fn stored_batch_info(b: &gateway_store::ChainBatchInfo) -> StoredBatchInfo {
    StoredBatchInfo {
        batchNumber: b.batchNumber,
        stateCommitment: b.stateCommitment,
        numberOfL1Txs: b.numberOfL1Txs,
        priorityOpsHash: b.priorityOpsHash,
        dependencyRootsRollingHash: b.dependencyRootsRollingHash,
        l2LogsRoot: b.l2LogsRoot,
        commitment: b.commitment,
    }
}

/// What Gateway batch `contents` carries, as `GatewayExecutor.settleBatch` takes it: the chain
/// batches, one previous batch per run of one chain (the batch before the run's first), the
/// chains the shared tree added, what L1 holds of the shared tree (`shared_tree`) and, per run,
/// where the chain is in it and its batch tree's frontier (`frontiers`), and where each chain
/// batch's leaf is in the aggregated proof (`leaf_order`, in the order of
/// `contents.chainBatches`; `GatewayCarry.leafOrder`).
pub fn gateway_carry(
    contents: &GatewayBatchContents,
    shared_tree: Vec<gateway_primitives::ChainRoot>,
    frontiers: Vec<gateway_primitives::ChainFrontier>,
    leaf_order: &[usize],
) -> SettlementResult<gateway_primitives::GatewayCarry> {
    let order = gateway_primitives::encode_leaf_order(leaf_order).ok_or_else(|| {
        SettlementError::Corrupt(format!(
            "a Gateway batch carries {} chain batches: more than a leaf order can place (65,536)",
            leaf_order.len()
        ))
    })?;
    let mut previous = Vec::new();
    let mut last_chain = None;
    for r in &contents.chainBatches {
        if last_chain != Some(r.chainId) {
            previous.push(stored_batch_info(&r.previous));
            last_chain = Some(r.chainId);
        }
    }
    Ok(gateway_primitives::GatewayCarry {
        chainBatches: chain_batch_refs(contents)?,
        previous,
        chainsAdded: contents.chainsAdded.iter().map(|id| U256::from(*id)).collect(),
        sharedTree: shared_tree,
        frontiers,
        leafOrder: order,
    })
}

/// A Gateway batch's commitment: its output hash bound to the chain batches it carries.
pub fn gateway_commitment(
    output_hash: B256,
    contents: &GatewayBatchContents,
) -> SettlementResult<B256> {
    Ok(gateway_primitives::gateway_commitment(output_hash, &chain_batch_refs(contents)?))
}

/// The last of the blocks `first..=last` that a drain must settle on the layer the chain
/// leaves, if any: one that imported an interop root (only the Gateway can check it) or
/// processed an L1 -> L2 transaction of that layer's queue (only its executor consumes it).
pub fn last_block_to_drain(store: &Store, first: u64, last: u64) -> StoreResult<Option<u64>> {
    if first > last {
        return Ok(None);
    }
    Ok(store
        .blocks(first..=last)?
        .iter()
        .rev()
        .find(|b| !b.imported_roots.is_empty() || !b.priority_ops.is_empty())
        .map(|b| b.number))
}

/// The interop roots the blocks of `batch` imported, in order.
pub fn imported_roots(store: &Store, batch: &BatchRecord) -> StoreResult<Vec<ImportedRoot>> {
    Ok(store
        .blocks(batch.first_block..=batch.last_block)?
        .into_iter()
        .flat_map(|b| b.imported_roots)
        .collect())
}
