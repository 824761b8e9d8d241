//! Gateway mode: the same ExEx, run in the Gateway's own node, settling the Gateway on L1. The
//! stages call one [`Gateway`] object where the Gateway's node differs from a chain's:
//!
//! - From each Gateway block it records the chain executors' events (chain batches committed,
//!   proved with their proofs taken from the `proveBatches` calldata, executed with their roots)
//!   and the MessageRoot's (executors authorized, the shared root), in the block's store
//!   transaction (ingest: [`Gateway::record_block`]).
//! - A Gateway batch carries the chain batches executed on the Gateway inside it: its
//!   commitment binds them, `(chainId, storedBatchInfo, publicInput)` in order, and its
//!   `l2LogsRoot` is the shared message root after its last block (seal: [`Gateway::cap`],
//!   [`Gateway::contents`]).
//! - Its proof is ONE aggregation of the Gateway's own leaf and every carried chain batch's
//!   leaf proof; the Gateway's `GatewayExecutor` on L1 commits, proves and executes it in one
//!   transaction and then holds those chain batches L1-final (prove: [`Gateway::chain_leaves`];
//!   send: [`Gateway::settled`]; status: [`Gateway::status`]).
//!
//! A chain batch proved through another contract (not a direct call of its executor) has no
//! proof in the calldata the Gateway can read: it is logged as an error and counted in
//! `gateway_chain_proofs_unreadable_total`, and the Gateway batch that executes it cannot be
//! proved until an operator intervenes.

use std::{collections::HashMap, sync::Mutex};

use alloy::{
    consensus::TxReceipt as _,
    primitives::{Address, B256, U256},
    sol_types::{SolCall, SolEvent},
};
use gateway_contracts::{ChainExecutor, MessageRoot};
use gateway_primitives::{IncrementalTree, batch_leaf, chain_leaf, merkle_root, public_input};
use gateway_prover::{BatchProof, BatchPublicInput, ProofBackend};
use gateway_store::{
    BatchRecord, BatchStage, ChainBatchInfo, ChainExecutorSet, ChainRef, CommittedChainBatch,
    ExecutedChainBatch, GatewayBatchContents, GatewayBlockEvents, ProvedChainBatch, Store,
    StoreResult, StoreWriter,
};
use reth_primitives_traits::RecoveredBlock;
use tracing::{error, info, warn};

use crate::{
    commitment::gateway_contents,
    config::GatewayMode,
    error::{SettlementError, SettlementResult},
    status::{GatewayBatchStatus, GatewayChainStatus, GatewayStatus},
    support::lock,
};

/// Gateway mode, as the stages call it.
#[derive(Debug)]
pub(crate) struct Gateway {
    mode: GatewayMode,
    /// Running totals over settled Gateway batches (for the status).
    totals: Mutex<GatewayTotals>,
    /// What L1 holds after the last Gateway batch sealed here, so that sealing the next one
    /// does not fold every earlier batch again.
    mirror: Mutex<Option<(u64, L1Mirror)>>,
}

#[derive(Debug, Default)]
struct GatewayTotals {
    scanned_through: u64,
    chain_batches: u64,
    gas: u64,
    cost: U256,
    chains: std::collections::BTreeMap<u64, GatewayChainStatus>,
}

impl Gateway {
    /// Gateway mode with these settings.
    pub(crate) fn new(mode: GatewayMode) -> Self {
        Self { mode, totals: Mutex::default(), mirror: Mutex::default() }
    }

    /// Ingest: records the chain events of a Gateway block in the block's store transaction.
    pub(crate) fn record_block(
        &self,
        tx: &mut StoreWriter<'_>,
        block: &RecoveredBlock<exex_host::Block>,
        receipts: &[exex_host::Receipt],
    ) -> StoreResult<()> {
        let events = block_events(tx, &self.mode, block, receipts)?;
        tx.put_gateway_block_events(block.header().number, &events)
    }

    /// Seal: how many of the `take` blocks from `from` Gateway batch `number` may hold so that
    /// its chain batches fit one aggregated proof; `None` when all of them fit.
    pub(crate) fn cap(
        &self,
        store: &Store,
        number: u64,
        from: u64,
        take: usize,
    ) -> SettlementResult<Option<usize>> {
        let Some(max) = self.mode.max_chain_batches else { return Ok(None) };
        let mut carried = 0;
        for (block, executed) in executed_per_block(store, from, from + take as u64 - 1)? {
            if carried + executed > max && block > from {
                return Ok(Some((block - from) as usize));
            }
            carried += executed;
        }
        if carried > max {
            warn!(
                target: "settlement::gateway",
                batch = number,
                carried,
                max,
                "a Gateway block executed more chain batches than one aggregation holds; this Gateway batch cannot be proved with this backend"
            );
        }
        Ok(None)
    }

    /// Seal: what Gateway batch `number`, over blocks `from..=to`, carries, and the chains to
    /// hold back with it (their batches could not be read).
    pub(crate) fn contents(
        &self,
        store: &Store,
        number: u64,
        from: u64,
        to: u64,
    ) -> SettlementResult<(GatewayBatchContents, Holds)> {
        let mut cached = lock(&self.mirror);
        let mirror = match cached.take() {
            Some((through, mirror)) if through + 1 == number && mirror.holds(store, through)? => {
                mirror
            }
            _ => L1Mirror::before(store, number)?,
        };
        let (contents, holds, after) =
            batch_contents(store, mirror, number, from, to, self.mode.max_chain_batches)?;
        *cached = Some((number, after));
        Ok((contents, holds))
    }

    /// Prove: the leaf proofs of the chain batches Gateway batch `number` carries, as the
    /// chains proved them on the Gateway.
    pub(crate) fn chain_leaves(
        &self,
        store: &Store,
        backend: &dyn ProofBackend,
        number: u64,
    ) -> SettlementResult<Vec<BatchProof>> {
        let contents = gateway_contents(store, number)?;
        let mut leaves = Vec::with_capacity(contents.chainBatches.len());
        for carried in &contents.chainBatches {
            let (chain_id, batch_number) = (
                carried.chainId.saturating_to::<u64>(),
                carried.batchNumber.saturating_to::<u64>(),
            );
            let proved = store.gateway_chain_proof(chain_id, batch_number)?.ok_or_else(|| {
                SettlementError::Corrupt(format!(
                    "Gateway batch {number} carries chain {chain_id} batch {batch_number} but no proof of it was seen"
                ))
            })?;
            if proved.publicInput != carried.publicInput {
                return Err(SettlementError::Corrupt(format!(
                    "chain {chain_id} batch {batch_number} was proved again with another input after Gateway batch {number} was sealed"
                )));
            }
            let leaf = BatchProof {
                backend: backend.kind(),
                input: BatchPublicInput { chain_id, batch_number, value: proved.publicInput },
                bytes: proved.proof,
            };
            // One chain's junk must not stall the others: a leaf that does not verify here is
            // left out (the caller holds its chain back and seals again).
            backend.verify_batch(&leaf).map_err(|source| SettlementError::ChainProofInvalid {
                gateway_batch: number,
                chain_id,
                batch_number,
                source,
            })?;
            leaves.push(leaf);
        }
        Ok(leaves)
    }

    /// Prove: holds chain `chain_id` back (its leaf proof of `batch_number` does not verify):
    /// Gateway batches from `gateway_batch` on are unsealed, to be sealed again without its
    /// batches, and none carries them until it is restored.
    pub(crate) fn hold_back(
        &self,
        store: &Store,
        gateway_batch: u64,
        chain_id: u64,
        reason: &str,
    ) -> SettlementResult<()> {
        store.write(|tx| {
            tx.hold_back_gateway_chain(chain_id, reason)?;
            tx.remove_batches_from(gateway_batch).map(drop)
        })?;
        metrics::counter!("gateway_chains_held_back_total").increment(1);
        error!(
            target: "settlement::gateway",
            chain_id,
            gateway_batch,
            %reason,
            "chain held back: its batches are carried to L1 no more (the other chains go on); restore it with settlement_gatewayRestoreChain once its proofs verify"
        );
        Ok(())
    }

    /// Send: Gateway batch `number`, carrying `contents`, was settled on L1 for `gas_used` gas
    /// costing `cost_wei`: records what it cost beside what it carries.
    pub(crate) fn settled(
        &self,
        store: &Store,
        number: u64,
        mut contents: GatewayBatchContents,
        gas_used: u64,
        cost_wei: U256,
    ) -> SettlementResult<()> {
        contents.l1GasUsed = gas_used;
        contents.l1CostWei = cost_wei;
        store.write(|tx| tx.put_gateway_batch_contents(number, &contents))?;
        metrics::counter!("gateway_chain_batches_settled_total")
            .increment(contents.chainBatches.len() as u64);
        metrics::counter!("gateway_l1_gas_total").increment(gas_used);
        info!(
            target: "settlement::gateway",
            gateway_batch = number,
            chain_batches = contents.chainBatches.len(),
            l1_gas = gas_used,
            "Gateway batch settled on L1: its chain batches are L1-final"
        );
        Ok(())
    }

    /// Status: totals over settled Gateway batches (each read once, then kept), the chains,
    /// and the recent Gateway batches (`open`: the stored batches not yet settled).
    pub(crate) fn status(
        &self,
        store: &Store,
        settled: u64,
        open: &[BatchRecord],
    ) -> SettlementResult<GatewayStatus> {
        let mut totals = lock(&self.totals);
        if settled > totals.scanned_through {
            for (_, contents) in
                store.gateway_batches_contents(totals.scanned_through + 1..=settled)?
            {
                add_settled_batch(&mut totals, &self.mode, &contents);
            }
            totals.scanned_through = settled;
        }
        let mut chains = totals.chains.clone();
        for (chain_id, chain) in store.gateway_chains()? {
            let entry = chains.entry(chain_id).or_default();
            entry.chain_id = chain_id;
            entry.executor = chain.executor;
            entry.committed = chain.committed;
            entry.proved = chain.proved;
            entry.executed = chain.executed;
        }
        let held = store.gateway_held_back()?;
        metrics::gauge!("gateway_chains_held_back").set(held.len() as f64);
        for (chain_id, reason) in held {
            let entry = chains.entry(chain_id).or_default();
            entry.chain_id = chain_id;
            entry.held_back = Some(reason);
        }
        let mut recent = Vec::new();
        let first_recent = settled.saturating_sub(4).max(1);
        for (number, contents) in store.gateway_batches_contents(first_recent..=settled)? {
            recent.push(GatewayBatchStatus {
                number,
                stage: BatchStage::Executed.as_str().into(),
                chain_batches: contents.chainBatches.len() as u64,
                l1_gas_used: contents.l1GasUsed,
            });
        }
        for batch in open.iter().take(4) {
            let carried = store.gateway_batch_contents(batch.number)?;
            recent.push(GatewayBatchStatus {
                number: batch.number,
                stage: batch.stage.as_str().into(),
                chain_batches: carried.map_or(0, |c| c.chainBatches.len() as u64),
                l1_gas_used: 0,
            });
        }
        Ok(GatewayStatus {
            batches_settled: settled,
            chain_batches_settled: totals.chain_batches,
            l1_gas_used: totals.gas,
            l1_cost_wei: totals.cost,
            l1_gas_per_chain_batch: (totals.chain_batches > 0)
                .then(|| totals.gas / totals.chain_batches),
            direct_l1_gas_per_chain_batch: self.mode.direct_l1_gas_per_batch,
            price_per_chain_batch: self.mode.price_per_chain_batch,
            chains: chains.into_values().collect(),
            recent_batches: recent,
        })
    }
}

/// Adds a settled Gateway batch to the running totals: its chain batches, its L1 cost split
/// evenly over them, and what each would have cost settled directly at the same gas price.
fn add_settled_batch(
    totals: &mut GatewayTotals,
    mode: &GatewayMode,
    contents: &GatewayBatchContents,
) {
    let carried = contents.chainBatches.len() as u64;
    totals.chain_batches += carried;
    totals.gas += contents.l1GasUsed;
    totals.cost += contents.l1CostWei;
    if carried == 0 {
        return;
    }
    let gas_price = if contents.l1GasUsed == 0 {
        U256::ZERO
    } else {
        contents.l1CostWei / U256::from(contents.l1GasUsed)
    };
    let share = contents.l1CostWei / U256::from(carried);
    for r in &contents.chainBatches {
        let chain_id = r.chainId.saturating_to::<u64>();
        let chain = totals.chains.entry(chain_id).or_default();
        chain.chain_id = chain_id;
        chain.batches_settled += 1;
        chain.l1_final = chain.l1_final.max(r.batchNumber.saturating_to());
        chain.charged += mode.price_per_chain_batch;
        chain.l1_cost_share_wei += share;
        chain.direct_l1_cost_wei += gas_price * U256::from(mode.direct_l1_gas_per_batch);
    }
}

/// The chain events of one Gateway block. `tx` looks up executors authorized in earlier blocks.
fn block_events(
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

/// What L1 holds of the Gateway's shared tree after Gateway batches `1..number`: the chains
/// in the order the Gateway added them, each with the tree of its carried batch roots, and
/// per chain the last batch carried.
#[derive(Debug, Default, Clone)]
struct L1Mirror {
    chains: Vec<(u64, IncrementalTree)>,
    last_carried: HashMap<u64, u64>,
}

impl L1Mirror {
    /// Folds the contents of Gateway batches `1..number` (O(carried batches): done when the
    /// node starts or a batch was unsealed; otherwise the Gateway keeps the last one).
    fn before(store: &Store, number: u64) -> SettlementResult<Self> {
        let mut mirror = Self::default();
        if number > 1 {
            for (_, contents) in store.gateway_batches_contents(1..=number - 1)? {
                mirror.apply(&contents);
            }
        }
        Ok(mirror)
    }

    /// True when this is what L1 holds after Gateway batch `number` as now stored (its
    /// shared root commits to every tree, so a batch unsealed and sealed otherwise shows).
    fn holds(&self, store: &Store, number: u64) -> SettlementResult<bool> {
        Ok(store.gateway_batch_contents(number)?.is_some_and(|c| c.sharedRoot == self.root()))
    }

    fn apply(&mut self, contents: &GatewayBatchContents) {
        for id in &contents.chainsAdded {
            self.chains.push((*id, IncrementalTree::default()));
        }
        for r in &contents.chainBatches {
            let id = r.chainId.saturating_to::<u64>();
            if let Some((_, tree)) = self.chains.iter_mut().find(|(c, _)| *c == id) {
                tree.push(batch_leaf(r.batch.batchNumber, r.batch.l2LogsRoot));
            }
            self.last_carried.insert(id, r.batch.batchNumber);
        }
    }

    fn root(&self) -> B256 {
        let leaves: Vec<B256> =
            self.chains.iter().map(|(id, tree)| chain_leaf(*id, tree.root())).collect();
        merkle_root(&leaves)
    }
}

/// What Gateway batch `number` over blocks `from..=to` carries, and the chains to hold back
/// while sealing it:
/// - per chain not held back, its batches executed on the Gateway at or below block `to` that no
///   earlier Gateway batch carried (those of the range, preceded by any a hold or the size cap
///   left uncarried), grouped by chain, each chain's consecutive and ascending, as
///   `GatewayExecutor` wants them; at most `max` in all (a chain's run is cut, never split);
/// - the chains the MessageRoot added in `from..=to`;
/// - the shared root L1 computes over what it then holds (the Gateway MessageRoot's own root
///   unless a chain was left out).
///
/// A chain batch whose proof or commit info the node could not read (the chain called its
/// executor through another contract) holds its chain back instead of stopping every chain.
/// Chains to hold back, with why.
type Holds = Vec<(u64, String)>;

/// `mirror` is what L1 holds before it; returned with what L1 holds after it.
fn batch_contents(
    store: &Store,
    mut mirror: L1Mirror,
    number: u64,
    from: u64,
    to: u64,
    max: Option<usize>,
) -> SettlementResult<(GatewayBatchContents, Holds, L1Mirror)> {
    use std::collections::BTreeMap;
    let held: HashMap<u64, String> = store.gateway_held_back()?.into_iter().collect();
    let events = store.gateway_block_events(from..=to)?;
    // (A chain the shared tree already holds is never added twice, whatever the events say.)
    let mut chains_added: Vec<u64> = Vec::new();
    for id in events.iter().flat_map(|(_, events)| events.chainsAdded.iter().copied()) {
        if !chains_added.contains(&id) && !mirror.chains.iter().any(|(c, _)| *c == id) {
            chains_added.push(id);
        }
    }
    let last_carried = |chain: &u64| mirror.last_carried.get(chain).copied().unwrap_or(0);
    let mut runs: BTreeMap<u64, Vec<u64>> = BTreeMap::new();
    for (_, block) in &events {
        for e in &block.executed {
            if !held.contains_key(&e.chainId) && e.batchNumber > last_carried(&e.chainId) {
                runs.entry(e.chainId).or_default().push(e.batchNumber);
            }
        }
    }
    // What a hold or the cap left uncarried: the chain's proved batches above its last carried
    // one, below its first of this range, or else through what it executed at or below `to`
    // (a gap without proofs on the Gateway is batches settled elsewhere, before a migration).
    let after: Vec<(u64, u64)> = store
        .gateway_block_events(to + 1..=u64::MAX)?
        .iter()
        .flat_map(|(_, block)| block.executed.iter().map(|e| (e.chainId, e.batchNumber)))
        .collect();
    for (chain_id, chain) in store.gateway_chains()? {
        if held.contains_key(&chain_id) {
            continue;
        }
        let run = runs.entry(chain_id).or_default();
        run.sort_unstable();
        run.dedup();
        let below = match run.first() {
            Some(first) => *first,
            None => after
                .iter()
                .filter(|(c, _)| *c == chain_id)
                .map(|(_, n)| *n)
                .min()
                .unwrap_or(chain.executed.saturating_add(1)),
        };
        let last = last_carried(&chain_id);
        if below > last + 1 {
            let backlog = store.gateway_chain_proofs_in(chain_id, last + 1..below)?;
            run.splice(0..0, backlog);
        }
    }
    let mut room = max.unwrap_or(usize::MAX);
    let mut chain_batches = Vec::new();
    let mut holds = Vec::new();
    for (chain_id, run) in runs {
        let mut refs = Vec::with_capacity(run.len());
        let mut unreadable = None;
        for batch_number in run.into_iter().take(room) {
            let proof = store.gateway_chain_proof(chain_id, batch_number)?;
            let commit_info = store.gateway_chain_commit(chain_id, batch_number)?;
            let (Some(proof), Some(commit_info)) = (proof, commit_info) else {
                unreadable = Some(format!(
                    "chain {chain_id} batch {batch_number} was executed on the Gateway but its proof or commit info could not be read (not a direct proveBatches / commitBatches call of its executor)"
                ));
                break;
            };
            refs.push(ChainRef {
                chainId: U256::from(chain_id),
                batchNumber: U256::from(batch_number),
                publicInput: proof.publicInput,
                batch: proof.batch,
                previous: proof.previous,
                commitInfo: commit_info.into(),
            });
        }
        if let Some(reason) = unreadable {
            holds.push((chain_id, reason));
            continue;
        }
        room -= refs.len();
        chain_batches.extend(refs);
    }
    let mut contents = GatewayBatchContents {
        chainBatches: chain_batches,
        chainsAdded: chains_added,
        ..Default::default()
    };
    mirror.apply(&contents);
    contents.sharedRoot = mirror.root();
    let gateway_root = store.gateway_shared_root_at(to)?.unwrap_or_else(|| merkle_root(&[]));
    if held.is_empty() && holds.is_empty() && contents.sharedRoot != gateway_root {
        warn!(
            target: "settlement::gateway",
            gateway_batch = number,
            l1 = %contents.sharedRoot,
            gateway = %gateway_root,
            "the shared root L1 will hold differs from the Gateway MessageRoot's (a chain batch left for a later Gateway batch, or a chain added before this node's first block): message proofs for L1 are built against the Gateway's trees"
        );
    }
    Ok((contents, holds, mirror))
}

fn executed_per_block(store: &Store, from: u64, to: u64) -> SettlementResult<Vec<(u64, usize)>> {
    Ok(store
        .gateway_block_events(from..=to)?
        .iter()
        .map(|(number, events)| (*number, events.executed.len()))
        .collect())
}

#[cfg(test)]
mod tests {
    use alloy::sol_types::SolValue;
    use gateway_primitives::CommitBatchInfo;

    use super::*;

    fn executed(chain: u64, n: u64) -> ExecutedChainBatch {
        ExecutedChainBatch { chainId: chain, batchNumber: n, batchRoot: B256::repeat_byte(n as u8) }
    }

    /// Block events where `chain`'s batches `ns` are committed (readable), proved and executed.
    fn settled(chain: u64, ns: &[u64]) -> GatewayBlockEvents {
        GatewayBlockEvents {
            committed: ns
                .iter()
                .map(|n| CommittedChainBatch {
                    chainId: chain,
                    batchNumber: *n,
                    commitInfo: CommitBatchInfo { batchNumber: *n, ..Default::default() }
                        .abi_encode()
                        .into(),
                })
                .collect(),
            proved: ns
                .iter()
                .map(|n| ProvedChainBatch {
                    chainId: chain,
                    batchNumber: *n,
                    proof: vec![1].into(),
                    batch: ChainBatchInfo {
                        batchNumber: *n,
                        l2LogsRoot: B256::repeat_byte(*n as u8),
                        ..Default::default()
                    },
                    ..Default::default()
                })
                .collect(),
            executed: ns.iter().map(|n| executed(chain, *n)).collect(),
            ..Default::default()
        }
    }

    fn carried(contents: &GatewayBatchContents) -> Vec<(u64, u64)> {
        contents
            .chainBatches
            .iter()
            .map(|r| (r.chainId.saturating_to(), r.batchNumber.saturating_to()))
            .collect()
    }

    #[test]
    fn contents_add_chains_once_respect_the_cap_carry_the_rest_later_and_hold_back_the_unreadable()
    {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let seal = |number: u64, block: u64, max: Option<usize>| {
            let mirror = L1Mirror::before(&store, number).unwrap();
            let (contents, holds, after) =
                batch_contents(&store, mirror, number, block, block, max).unwrap();
            // What the next seal would start from is what folding the stored batches gives.
            store.write(|tx| tx.put_gateway_batch_contents(number, &contents)).unwrap();
            assert!(after.holds(&store, number).unwrap());
            assert_eq!(after.root(), L1Mirror::before(&store, number + 1).unwrap().root());
            (contents, holds)
        };
        // Block 1: two chains added (one reported twice), chain 270's batch 1 settled.
        let mut block1 = settled(270, &[1]);
        block1.chainsAdded = vec![270, 271, 270];
        store.write(|tx| tx.put_gateway_block_events(1, &block1)).unwrap();
        let (first, holds) = seal(1, 1, None);
        assert!(holds.is_empty());
        assert_eq!(first.chainsAdded, vec![270, 271]);
        assert_eq!(carried(&first), vec![(270, 1)]);
        let leaf_270 = chain_leaf(270, merkle_root(&[batch_leaf(1, B256::repeat_byte(1))]));
        assert_eq!(first.sharedRoot, merkle_root(&[leaf_270, chain_leaf(271, merkle_root(&[]))]));

        // Block 2: a chain the tree holds reported as added again is not added twice; three
        // batches executed under a cap of one: one carried, the rest in later batches, in order.
        let mut block2 = settled(270, &[2, 3, 4]);
        block2.chainsAdded = vec![271];
        store.write(|tx| tx.put_gateway_block_events(2, &block2)).unwrap();
        let (second, _) = seal(2, 2, Some(1));
        assert!(second.chainsAdded.is_empty());
        assert_eq!(carried(&second), vec![(270, 2)]);
        store.write(|tx| tx.put_gateway_block_events(3, &GatewayBlockEvents::default())).unwrap();
        assert_eq!(carried(&seal(3, 3, Some(2)).0), vec![(270, 3), (270, 4)]);

        // Block 4: chain 271 executes a batch whose proof and commit info were not readable:
        // held back, and chain 270's batch of the same block is carried.
        let mut block4 = settled(270, &[5]);
        block4.executed.push(executed(271, 1));
        store.write(|tx| tx.put_gateway_block_events(4, &block4)).unwrap();
        let (fourth, holds) = seal(4, 4, None);
        assert_eq!(carried(&fourth), vec![(270, 5)]);
        assert_eq!(holds.len(), 1);
        assert_eq!(holds[0].0, 271);
        assert!(holds[0].1.contains("could not be read"), "{}", holds[0].1);
    }
}
