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
//! proof in the calldata the Gateway can read: it is logged as an error, counted in
//! `gateway_chain_proofs_unreadable_total`, and its chain is held back (the others go on).
//!
//! Modules: [`events`] reads a Gateway block's chain events; [`contents`] decides what a Gateway
//! batch carries and mirrors what L1 holds of the shared tree.

mod contents;
mod events;
pub(crate) mod groups;

use std::sync::Mutex;

use alloy::primitives::U256;
use gateway_prover::{BatchProof, BatchPublicInput, ProofBackend};
use gateway_store::{
    BatchRecord, BatchStage, GatewayBatchContents, Store, StoreResult, StoreWriter,
};
use reth_primitives_traits::RecoveredBlock;
use tracing::{error, info, warn};

use self::{
    contents::{
        Holds, L1Mirror, L1MirrorCheckpoint, batch_contents, executed_per_block, leaf_order,
    },
    events::block_events,
};
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
    /// What L1 holds after the Gateway batches below the last one sent from here, so that
    /// sending (and sending again) does not fold every earlier batch either.
    sent_mirror: Mutex<Option<(u64, L1Mirror)>>,
    /// Groups of leaves aggregated ahead of their Gateway batch's seal ([`groups`]).
    pub(crate) ready: std::sync::Arc<groups::ReadyGroups>,
    /// Chain leaves that verified here ([`checked_key`]), so that the next Gateway batch's
    /// leaves, read again at each of its blocks, are checked once.
    checked: Mutex<std::collections::HashSet<alloy::primitives::B256>>,
}

/// At most this many checked leaves are remembered (then forgotten at once).
const MAX_CHECKED_LEAVES: usize = 4096;

/// What identifies a checked leaf: its input and its proof's bytes.
fn checked_key(leaf: &BatchProof) -> alloy::primitives::B256 {
    let mut preimage = Vec::with_capacity(48 + leaf.bytes.len());
    preimage.extend_from_slice(&leaf.input.chain_id.to_be_bytes());
    preimage.extend_from_slice(&leaf.input.batch_number.to_be_bytes());
    preimage.extend_from_slice(&leaf.input.value.to_be_bytes::<32>());
    preimage.extend_from_slice(&leaf.bytes);
    alloy::primitives::keccak256(preimage)
}

#[derive(Debug, Default)]
struct GatewayTotals {
    scanned_through: u64,
    chain_batches: u64,
    gas: u64,
    cost: U256,
    chains: std::collections::BTreeMap<u64, GatewayChainStatus>,
}

alloy::sol! {
    /// The totals of the settled Gateway batches, per chain in `chainIds` order.
    #[derive(Debug, Default, PartialEq, Eq)]
    struct SettledTotals {
        uint64 chainBatches;
        uint64 gas;
        uint256 cost;
        uint64[] chainIds;
        uint64[] batchesSettled;
        uint64[] l1Final;
        uint256[] charged;
        uint256[] l1CostShare;
        uint256[] directL1Cost;
    }

    /// What retention keeps in place of the contents of Gateway batches `1..=N`: what L1 holds
    /// of the shared tree after batch N, and the totals over those batches.
    #[derive(Debug, Default, PartialEq, Eq)]
    struct GatewayCheckpoint {
        L1MirrorCheckpoint mirror;
        SettledTotals totals;
    }
}

impl GatewayCheckpoint {
    fn decode(through: u64, bytes: &[u8]) -> SettlementResult<Self> {
        use alloy::sol_types::SolValue as _;
        Self::abi_decode(bytes).map_err(|source| SettlementError::Decode {
            what: format!("the Gateway's L1 checkpoint after batch {through}"),
            source: Box::new(source),
        })
    }
}

impl GatewayTotals {
    fn from_checkpoint(through: u64, t: &SettledTotals) -> Self {
        let mut chains = std::collections::BTreeMap::new();
        for (i, chain_id) in t.chainIds.iter().enumerate() {
            let at = |v: &[U256]| v.get(i).copied().unwrap_or_default();
            chains.insert(
                *chain_id,
                GatewayChainStatus {
                    chain_id: *chain_id,
                    batches_settled: t.batchesSettled.get(i).copied().unwrap_or_default(),
                    l1_final: t.l1Final.get(i).copied().unwrap_or_default(),
                    charged: at(&t.charged),
                    l1_cost_share_wei: at(&t.l1CostShare),
                    direct_l1_cost_wei: at(&t.directL1Cost),
                    ..Default::default()
                },
            );
        }
        Self {
            scanned_through: through,
            chain_batches: t.chainBatches,
            gas: t.gas,
            cost: t.cost,
            chains,
        }
    }

    fn to_checkpoint(&self) -> SettledTotals {
        let chains = self.chains.values();
        SettledTotals {
            chainBatches: self.chain_batches,
            gas: self.gas,
            cost: self.cost,
            chainIds: chains.clone().map(|c| c.chain_id).collect(),
            batchesSettled: chains.clone().map(|c| c.batches_settled).collect(),
            l1Final: chains.clone().map(|c| c.l1_final).collect(),
            charged: chains.clone().map(|c| c.charged).collect(),
            l1CostShare: chains.clone().map(|c| c.l1_cost_share_wei).collect(),
            directL1Cost: chains.map(|c| c.direct_l1_cost_wei).collect(),
        }
    }

    /// The totals over Gateway batches `1..=through`: from the newest checkpoint at or below
    /// it, then the stored contents after it.
    fn through(store: &Store, mode: &GatewayMode, through: u64) -> SettlementResult<Self> {
        let mut totals = match store.gateway_l1_checkpoint(through)? {
            Some((at, bytes)) => {
                Self::from_checkpoint(at, &GatewayCheckpoint::decode(at, &bytes)?.totals)
            }
            None => Self::default(),
        };
        if through > totals.scanned_through {
            for (_, contents) in
                store.gateway_batches_contents(totals.scanned_through + 1..=through)?
            {
                add_settled_batch(&mut totals, mode, &contents);
            }
            totals.scanned_through = through;
        }
        Ok(totals)
    }
}

impl Gateway {
    /// What retention keeps in place of Gateway batches `1..=through`'s contents: what L1 holds
    /// of the shared tree after them, and the totals over them.
    pub(crate) fn l1_checkpoint(&self, store: &Store, through: u64) -> SettlementResult<Vec<u8>> {
        use alloy::sol_types::SolValue as _;
        Ok(GatewayCheckpoint {
            mirror: L1Mirror::checkpoint(store, through)?,
            totals: GatewayTotals::through(store, &self.mode, through)?.to_checkpoint(),
        }
        .abi_encode())
    }

    /// Gateway mode with these settings.
    pub(crate) fn new(mode: GatewayMode) -> Self {
        Self {
            mode,
            totals: Mutex::default(),
            mirror: Mutex::default(),
            sent_mirror: Mutex::default(),
            ready: std::sync::Arc::default(),
            checked: Mutex::default(),
        }
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
        let (fits, carried) = self.fitting(store, from, take)?;
        if let Some(max) = self.mode.max_chain_batches
            && fits.is_none()
            && carried > max
        {
            warn!(
                target: "settlement::gateway",
                batch = number,
                carried,
                max,
                "a Gateway block executed more chain batches than one aggregation holds; this Gateway batch cannot be proved with this backend"
            );
        }
        Ok(fits)
    }

    /// [`Gateway::cap`] without its warning, with the chain batches the blocks it keeps
    /// executed.
    fn fitting(
        &self,
        store: &Store,
        from: u64,
        take: usize,
    ) -> SettlementResult<(Option<usize>, usize)> {
        let Some(max) = self.mode.max_chain_batches else { return Ok((None, 0)) };
        let mut carried = 0;
        for (block, executed) in executed_per_block(store, from, from + take as u64 - 1)? {
            if carried + executed > max && block > from {
                return Ok((Some((block - from) as usize), carried));
            }
            carried += executed;
        }
        Ok((None, carried))
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

    /// Send: what L1 holds of the shared tree before Gateway batch `number` (`contents`) and,
    /// per run of one chain in it, where the chain is there and its batch tree's frontier
    /// (`GatewayCarry.sharedTree` and `frontiers`).
    pub(crate) fn l1_view(
        &self,
        store: &Store,
        number: u64,
        contents: &GatewayBatchContents,
    ) -> SettlementResult<(
        Vec<gateway_primitives::ChainRoot>,
        Vec<gateway_primitives::ChainFrontier>,
    )> {
        let mut cached = lock(&self.sent_mirror);
        let before = number.saturating_sub(1);
        let mirror = match cached.take() {
            // The same batch sent again.
            Some((through, mirror)) if through == before && mirror.holds(store, through)? => mirror,
            // The next batch: the last one sent is folded in.
            Some((through, mut mirror))
                if through + 1 == before && mirror.holds(store, through)? =>
            {
                match store.gateway_batch_contents(before)? {
                    Some(last) => {
                        mirror.apply(&last);
                        mirror
                    }
                    None => L1Mirror::before(store, number)?,
                }
            }
            _ => L1Mirror::before(store, number)?,
        };
        let view = mirror.l1_view(contents);
        *cached = Some((before, mirror));
        Ok(view)
    }

    /// Prove and send: where each chain batch Gateway batch `number` (carrying `contents`)
    /// carries is among its aggregated proof's chain leaves, in the order of
    /// `contents.chainBatches`: the order they executed on the Gateway (`GatewayCarry.
    /// leafOrder` on L1).
    pub(crate) fn leaf_order(
        &self,
        store: &Store,
        number: u64,
        contents: &GatewayBatchContents,
    ) -> SettlementResult<Vec<usize>> {
        let batch = store.batch(number)?.ok_or(SettlementError::MissingBatch(number))?;
        leaf_order(store, contents, batch.first_block, batch.last_block)
    }

    /// Prove: the leaf proofs of the chain batches Gateway batch `number` carries, as the
    /// chains proved them on the Gateway, in the order of its aggregated proof's leaves
    /// ([`Gateway::leaf_order`]).
    pub(crate) fn chain_leaves(
        &self,
        store: &Store,
        backend: &dyn ProofBackend,
        number: u64,
    ) -> SettlementResult<Vec<BatchProof>> {
        let contents = gateway_contents(store, number)?;
        let order = self.leaf_order(store, number, &contents)?;
        let leaves = self
            .leaves_of(store, backend, number, &contents)?
            .into_iter()
            .collect::<Result<_, _>>()?;
        Ok(in_proof_order(leaves, &order))
    }

    /// Make ahead ([`groups`]): the chain leaves, in proof order, of the Gateway batch that
    /// gathers now, as it would be sealed over the blocks stored deep enough (cut as
    /// [`Gateway::cap`] cuts them), up to the first that does not verify (its chain will be
    /// held back, moving every leaf after it).
    pub(crate) fn upcoming_leaves(
        &self,
        store: &Store,
        config: &crate::config::SettlementConfig,
        backend: &dyn ProofBackend,
    ) -> SettlementResult<Vec<BatchProof>> {
        let last = store.last_batch()?;
        let (number, from) = match &last {
            Some(batch) => (batch.number + 1, batch.last_block + 1),
            None => (1, 1),
        };
        let Some(tip) = store.last_block()? else { return Ok(Vec::new()) };
        let mut to = tip.number.saturating_sub(config.confirmations);
        if to < from {
            return Ok(Vec::new());
        }
        if let Some(fits) = self.fitting(store, from, (to - from + 1) as usize)?.0 {
            to = from + fits as u64 - 1;
        }
        let mirror = {
            let mut cached = lock(&self.mirror);
            match cached.as_ref() {
                Some((through, mirror))
                    if through + 1 == number && mirror.holds(store, *through)? =>
                {
                    mirror.clone()
                }
                _ => {
                    let mirror = L1Mirror::before(store, number)?;
                    // Kept for the next call and for sealing `number` (what L1 holds after
                    // `number - 1`), so a start does not fold every batch again each block.
                    // (Unless the seal stage keeps a newer one.)
                    if number > 1 && cached.as_ref().is_none_or(|(t, _)| *t < number) {
                        *cached = Some((number - 1, mirror.clone()));
                    }
                    mirror
                }
            }
        };
        // (A chain whose batches cannot be read is left out, as sealing leaves it out.)
        let (contents, _, _) =
            batch_contents(store, mirror, number, from, to, self.mode.max_chain_batches)?;
        let order = leaf_order(store, &contents, from, to)?;
        let leaves = self.leaves_of(store, backend, number, &contents)?;
        // A chain with a leaf that does not verify will be held back, all its batches taken
        // out: the leaves before its first one keep their places.
        let bad: std::collections::HashSet<U256> = contents
            .chainBatches
            .iter()
            .zip(&leaves)
            .filter(|(_, leaf)| leaf.is_err())
            .map(|(r, _)| r.chainId)
            .collect();
        let mut placed: Vec<Option<BatchProof>> = (0..order.len()).map(|_| None).collect();
        for ((r, leaf), at) in contents.chainBatches.iter().zip(leaves).zip(order) {
            if let (Some(slot), Ok(leaf)) = (placed.get_mut(at), leaf)
                && !bad.contains(&r.chainId)
            {
                *slot = Some(leaf);
            }
        }
        Ok(placed.into_iter().map_while(|leaf| leaf).collect())
    }

    /// The leaf proofs of the chain batches `contents` carries (Gateway batch `number`, sealed
    /// or about to be), in its order, each checked (a leaf checked before, the same bytes for
    /// the same input, is not checked again): one that does not verify is a
    /// [`SettlementError::ChainProofInvalid`] in its place; the outer error is the store's.
    fn leaves_of(
        &self,
        store: &Store,
        backend: &dyn ProofBackend,
        number: u64,
        contents: &GatewayBatchContents,
    ) -> SettlementResult<Vec<SettlementResult<BatchProof>>> {
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
            let key = checked_key(&leaf);
            if lock(&self.checked).contains(&key) {
                leaves.push(Ok(leaf));
                continue;
            }
            // One chain's junk must not stall the others: a leaf that does not verify here is
            // left out (the caller holds its chain back and seals again).
            match backend.verify_batch(&leaf) {
                Ok(()) => {
                    let mut checked = lock(&self.checked);
                    if checked.len() >= MAX_CHECKED_LEAVES {
                        checked.clear();
                    }
                    checked.insert(key);
                    leaves.push(Ok(leaf));
                }
                Err(source) => leaves.push(Err(SettlementError::ChainProofInvalid {
                    gateway_batch: number,
                    chain_id,
                    batch_number,
                    source,
                })),
            }
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
        if totals.scanned_through == 0 && settled > 0 {
            // First read (after a start): from the checkpoint retention left, if any.
            *totals = GatewayTotals::through(store, &self.mode, settled)?;
        } else if settled > totals.scanned_through {
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
            // Read by the metrics loop (`Settlement::status` fills it in).
            fees: None,
            proving_backlog: proving_backlog(store, open)?,
            tree_groups: self.ready.status(),
            chains: chains.into_values().collect(),
            recent_batches: recent,
        })
    }
}

/// `leaves` (in the order of a Gateway batch's `chainBatches`) moved to their places in its
/// aggregated proof (`order`, from [`Gateway::leaf_order`]).
fn in_proof_order(leaves: Vec<BatchProof>, order: &[usize]) -> Vec<BatchProof> {
    let mut placed: Vec<Option<BatchProof>> = vec![None; leaves.len()];
    for (leaf, at) in leaves.into_iter().zip(order) {
        if let Some(slot) = placed.get_mut(*at) {
            *slot = Some(leaf);
        }
    }
    placed.into_iter().flatten().collect()
}

/// What gathers for the next Gateway batch: the Gateway's stored blocks above the last sealed
/// batch, the chain batches executed in them, and how long the oldest has waited.
fn proving_backlog(
    store: &Store,
    open: &[BatchRecord],
) -> SettlementResult<crate::status::ProvingBacklog> {
    let sealed_to = store.last_batch()?.map_or(0, |b| b.last_block);
    let head = store.last_block()?.map_or(0, |b| b.number);
    let mut backlog = crate::status::ProvingBacklog {
        waiting_for_proof: open.iter().find(|b| b.stage == BatchStage::Sealed).map(|b| b.number),
        blocks: head.saturating_sub(sealed_to),
        ..Default::default()
    };
    if head > sealed_to {
        backlog.chain_batches = contents::executed_per_block(store, sealed_to + 1, head)?
            .iter()
            .map(|(_, executed)| *executed as u64)
            .sum();
        if let Some(oldest) = store.blocks(sealed_to + 1..=sealed_to + 1)?.first() {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            backlog.oldest_age_s = now.saturating_sub(oldest.timestamp);
        }
    }
    metrics::gauge!("gateway_proving_backlog_chain_batches").set(backlog.chain_batches as f64);
    metrics::gauge!("gateway_proving_backlog_age_seconds").set(backlog.oldest_age_s as f64);
    Ok(backlog)
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

#[cfg(test)]
mod tests {
    use alloy::primitives::Address;
    use gateway_store::ChainRef;

    use super::*;

    /// The status totals after a restart are the same whether retention pruned the settled
    /// batches' contents (folded from the checkpoint) or not.
    #[test]
    fn settled_totals_survive_the_pruning_of_their_contents() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let gateway = Gateway::new(GatewayMode::new(Address::ZERO));
        store
            .write(|tx| {
                for n in 1..=4u64 {
                    let contents = GatewayBatchContents {
                        chainBatches: (0..n)
                            .map(|i| ChainRef {
                                chainId: U256::from(270 + i % 2),
                                batchNumber: U256::from(n * 10 + i),
                                ..Default::default()
                            })
                            .collect(),
                        l1GasUsed: 1_000 * n,
                        l1CostWei: U256::from(7_000 * n),
                        ..Default::default()
                    };
                    tx.put_gateway_batch_contents(n, &contents)?;
                }
                Ok(())
            })
            .unwrap();
        let whole = GatewayTotals::through(&store, &gateway.mode, 4).unwrap();
        assert_eq!(whole.chain_batches, 10);
        let checkpoint = gateway.l1_checkpoint(&store, 2).unwrap();
        store.write(|tx| tx.prune_gateway_batch_contents(2, &checkpoint)).unwrap();
        let folded = GatewayTotals::through(&store, &gateway.mode, 4).unwrap();
        assert_eq!(
            (folded.chain_batches, folded.gas, folded.cost, folded.scanned_through),
            (whole.chain_batches, whole.gas, whole.cost, 4)
        );
        assert_eq!(folded.chains, whole.chains);
        let status = gateway.status(&store, 4, &[]).unwrap();
        assert_eq!(status.chain_batches_settled, 10);
        assert_eq!(status.l1_gas_used, 10_000);
    }
}
