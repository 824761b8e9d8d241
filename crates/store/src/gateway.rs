//! Gateway mode (schema 4; schema 6 carries each chain batch's stored info and the chains the
//! shared tree added, for L1's checks): what the Gateway's node learns from its own blocks about the chains
//! settling on it, and what each Gateway batch carries to L1.
//!
//! - `gateway_block_events`: per Gateway block, the chain executors' and MessageRoot's events in
//!   it (chain batches committed, proved with their proofs, executed with their roots; the shared
//!   root after the block). It is the truth; the other tables are indexes over it and are undone
//!   with it when the Gateway reorgs.
//! - `gateway_chain_proofs`: per chain batch, its latest proof seen on the Gateway.
//! - `gateway_chains`: per chain, its executor and counters as the events tell them.
//! - `gateway_batch_contents`: per Gateway batch, the chain batches it carries, the shared root it
//!   commits to, and (once settled) what settling it on L1 cost.

use alloy::{
    primitives::{Address, B256},
    sol,
    sol_types::SolValue,
};
use redb::{ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition};

use crate::{Store, StoreError, StoreResult, StoreWriter};

pub(crate) const BLOCK_EVENTS: TableDefinition<'_, u64, &[u8]> =
    TableDefinition::new("gateway_block_events");
pub(crate) const CHAIN_PROOFS: TableDefinition<'_, (u64, u64), &[u8]> =
    TableDefinition::new("gateway_chain_proofs");
pub(crate) const CHAINS: TableDefinition<'_, u64, &[u8]> = TableDefinition::new("gateway_chains");
pub(crate) const BATCH_CONTENTS: TableDefinition<'_, u64, &[u8]> =
    TableDefinition::new("gateway_batch_contents");
/// Schema 6: per chain batch, its `CommitBatchInfo` as committed on the Gateway (what L1
/// derives the batch's stored info from).
pub(crate) const CHAIN_COMMITS: TableDefinition<'_, (u64, u64), &[u8]> =
    TableDefinition::new("gateway_chain_commits");
/// Schema 6: chains whose batches the Gateway carries no more, with why.
pub(crate) const HELD_BACK: TableDefinition<'_, u64, &str> =
    TableDefinition::new("gateway_held_back_chains");
/// Schema 7: what L1 holds of the shared tree after a Gateway batch whose contents (and those
/// of every batch before it) retention pruned, encoded by the settlement crate; the newest only.
pub(crate) const L1_CHECKPOINT: TableDefinition<'_, u64, &[u8]> =
    TableDefinition::new("gateway_l1_checkpoint");

sol! {
    /// A chain batch proved on the Gateway, with the proof from the `proveBatches` calldata.
    #[derive(Debug, Default, PartialEq, Eq)]
    struct ProvedChainBatch {
        uint64 chainId;
        uint64 batchNumber;
        uint256 publicInput;
        bytes proof;
        /// The batch as the chain's executor stores it (from the same calldata).
        ChainBatchInfo batch;
        /// The batch before it, as the executor stores it.
        ChainBatchInfo previous;
    }

    /// A chain batch's `StoredBatchInfo` (the contracts' struct, field for field).
    #[derive(Debug, Default, PartialEq, Eq)]
    struct ChainBatchInfo {
        uint64 batchNumber;
        bytes32 stateCommitment;
        uint256 numberOfL1Txs;
        bytes32 priorityOpsHash;
        bytes32 dependencyRootsRollingHash;
        bytes32 l2LogsRoot;
        bytes32 commitment;
    }

    /// A chain batch executed on the Gateway, with its batch root (`l2LogsRoot`).
    #[derive(Debug, Default, PartialEq, Eq)]
    struct ExecutedChainBatch {
        uint64 chainId;
        uint64 batchNumber;
        bytes32 batchRoot;
    }

    /// A chain batch committed on the Gateway.
    #[derive(Debug, Default, PartialEq, Eq)]
    struct CommittedChainBatch {
        uint64 chainId;
        uint64 batchNumber;
        /// Its `CommitBatchInfo` as committed, ABI-encoded, from the `commitBatches` calldata
        /// (empty when that was not readable).
        bytes commitInfo;
    }

    /// A chain's executor, authorized in the Gateway's MessageRoot.
    #[derive(Debug, Default, PartialEq, Eq)]
    struct ChainExecutorSet {
        uint64 chainId;
        address executor;
    }

    /// Everything one Gateway block did for the chains settling on it, in log order per kind.
    #[derive(Debug, Default, PartialEq, Eq)]
    struct GatewayBlockEvents {
        ChainExecutorSet[] executorsSet;
        CommittedChainBatch[] committed;
        ProvedChainBatch[] proved;
        ExecutedChainBatch[] executed;
        /// The interop root after this block, when the block changed it.
        bool sharedRootChanged;
        bytes32 sharedRoot;
        /// The chains the MessageRoot added to its shared tree in this block, in order.
        uint64[] chainsAdded;
    }

    /// A chain as the Gateway sees it.
    #[derive(Debug, Default, PartialEq, Eq)]
    struct GatewayChain {
        address executor;
        uint64 committed;
        uint64 proved;
        uint64 executed;
    }

    /// What a Gateway batch carries to L1 and what settling it cost.
    #[derive(Debug, Default, PartialEq, Eq)]
    struct GatewayBatchContents {
        /// The chain batches executed on the Gateway inside it, grouped by chain, ascending.
        ChainRef[] chainBatches;
        /// The Gateway's shared message root after its last block.
        bytes32 sharedRoot;
        /// Gas its L1 settlement used (0 until settled).
        uint64 l1GasUsed;
        /// What that gas cost, in wei.
        uint256 l1CostWei;
        /// The chains the Gateway's MessageRoot added to its shared tree inside it, in order.
        uint64[] chainsAdded;
    }

    /// A carried chain batch: `ChainBatchRef` of the contracts, with the batch before it.
    #[derive(Debug, Default, PartialEq, Eq)]
    struct ChainRef {
        uint256 chainId;
        uint256 batchNumber;
        uint256 publicInput;
        ChainBatchInfo batch;
        ChainBatchInfo previous;
        /// Its `CommitBatchInfo` as committed on the Gateway, ABI-encoded.
        bytes commitInfo;
    }
}

fn decode<T: SolValue + From<<T::SolType as alloy::sol_types::SolType>::RustType>>(
    table: &'static str,
    key: impl std::fmt::Display,
    bytes: &[u8],
) -> StoreResult<T> {
    T::abi_decode(bytes).map_err(|e| StoreError::Corrupt {
        table,
        key: key.to_string(),
        reason: e.to_string(),
    })
}

impl Store {
    /// The events of Gateway blocks in `range`, ascending.
    pub fn gateway_block_events(
        &self,
        range: std::ops::RangeInclusive<u64>,
    ) -> StoreResult<Vec<(u64, GatewayBlockEvents)>> {
        let tx = self.db.begin_read()?;
        let table = tx.open_table(BLOCK_EVENTS)?;
        let mut out = Vec::new();
        for item in table.range(range)? {
            let (key, value) = item?;
            out.push((key.value(), decode("gateway_block_events", key.value(), value.value())?));
        }
        Ok(out)
    }

    /// The latest proof seen on the Gateway of `chain_id`'s batch `batch_number`.
    pub fn gateway_chain_proof(
        &self,
        chain_id: u64,
        batch_number: u64,
    ) -> StoreResult<Option<ProvedChainBatch>> {
        let tx = self.db.begin_read()?;
        let table = tx.open_table(CHAIN_PROOFS)?;
        table
            .get((chain_id, batch_number))?
            .map(|v| decode("gateway_chain_proofs", chain_id, v.value()))
            .transpose()
    }

    /// Every chain the Gateway knows, by chain id.
    pub fn gateway_chains(&self) -> StoreResult<Vec<(u64, GatewayChain)>> {
        let tx = self.db.begin_read()?;
        let table = tx.open_table(CHAINS)?;
        let mut out = Vec::new();
        for item in table.iter()? {
            let (key, value) = item?;
            out.push((key.value(), decode("gateway_chains", key.value(), value.value())?));
        }
        Ok(out)
    }

    /// What Gateway batch `number` carries, if sealed in gateway mode.
    pub fn gateway_batch_contents(&self, number: u64) -> StoreResult<Option<GatewayBatchContents>> {
        let tx = self.db.begin_read()?;
        let table = tx.open_table(BATCH_CONTENTS)?;
        table.get(number)?.map(|v| decode("gateway_batch_contents", number, v.value())).transpose()
    }

    /// The contents of Gateway batches in `range`, ascending.
    pub fn gateway_batches_contents(
        &self,
        range: std::ops::RangeInclusive<u64>,
    ) -> StoreResult<Vec<(u64, GatewayBatchContents)>> {
        let tx = self.db.begin_read()?;
        let table = tx.open_table(BATCH_CONTENTS)?;
        let mut out = Vec::new();
        for item in table.range(range)? {
            let (key, value) = item?;
            out.push((key.value(), decode("gateway_batch_contents", key.value(), value.value())?));
        }
        Ok(out)
    }

    /// The newest checkpoint taken at or below Gateway batch `number`, with its batch: what L1
    /// holds of the shared tree after it (see [`StoreWriter::prune_gateway_batch_contents`]).
    pub fn gateway_l1_checkpoint(&self, number: u64) -> StoreResult<Option<(u64, Vec<u8>)>> {
        let tx = self.db.begin_read()?;
        let table = tx.open_table(L1_CHECKPOINT)?;
        Ok(table
            .range(..=number)?
            .next_back()
            .transpose()?
            .map(|(key, value)| (key.value(), value.value().to_vec())))
    }

    /// Chain `chain_id`'s batch `batch_number` as committed on the Gateway (ABI-encoded
    /// `CommitBatchInfo`), if its `commitBatches` calldata was read.
    pub fn gateway_chain_commit(
        &self,
        chain_id: u64,
        batch_number: u64,
    ) -> StoreResult<Option<Vec<u8>>> {
        let tx = self.db.begin_read()?;
        let table = tx.open_table(CHAIN_COMMITS)?;
        Ok(table.get((chain_id, batch_number))?.map(|v| v.value().to_vec()))
    }

    /// The batch numbers of `chain_id` in `batches` that have a stored proof, ascending.
    pub fn gateway_chain_proofs_in(
        &self,
        chain_id: u64,
        batches: std::ops::Range<u64>,
    ) -> StoreResult<Vec<u64>> {
        let tx = self.db.begin_read()?;
        let table = tx.open_table(CHAIN_PROOFS)?;
        let mut out = Vec::new();
        for item in table.range((chain_id, batches.start)..(chain_id, batches.end))? {
            out.push(item?.0.value().1);
        }
        Ok(out)
    }

    /// The chains held back (their batches carried to L1 no more), with why.
    pub fn gateway_held_back(&self) -> StoreResult<Vec<(u64, String)>> {
        let tx = self.db.begin_read()?;
        let table = tx.open_table(HELD_BACK)?;
        let mut out = Vec::new();
        for item in table.iter()? {
            let (key, value) = item?;
            out.push((key.value(), value.value().to_string()));
        }
        Ok(out)
    }

    /// The Gateway's shared message root as of the end of block `number`: the last one a block
    /// at or below it set, if any.
    pub fn gateway_shared_root_at(&self, number: u64) -> StoreResult<Option<B256>> {
        let tx = self.db.begin_read()?;
        let table = tx.open_table(BLOCK_EVENTS)?;
        for item in table.range(..=number)?.rev() {
            let (key, value) = item?;
            let events: GatewayBlockEvents =
                decode("gateway_block_events", key.value(), value.value())?;
            if events.sharedRootChanged {
                return Ok(Some(events.sharedRoot));
            }
        }
        Ok(None)
    }
}

impl StoreWriter<'_> {
    /// The executor of `chain_id` as stored in this transaction.
    pub fn gateway_chain(&self, chain_id: u64) -> StoreResult<Option<GatewayChain>> {
        let table = self.tx.open_table(CHAINS)?;
        let value = table.get(chain_id)?.map(|v| v.value().to_vec());
        value.map(|v| decode("gateway_chains", chain_id, &v)).transpose()
    }

    /// The chain whose executor is `executor`, as stored in this transaction.
    pub fn gateway_chain_of(&self, executor: Address) -> StoreResult<Option<u64>> {
        let table = self.tx.open_table(CHAINS)?;
        for item in table.iter()? {
            let (key, value) = item?;
            let chain: GatewayChain = decode("gateway_chains", key.value(), value.value())?;
            if chain.executor == executor {
                return Ok(Some(key.value()));
            }
        }
        Ok(None)
    }

    /// Stores Gateway block `number`'s events and applies them to the indexes.
    pub fn put_gateway_block_events(
        &mut self,
        number: u64,
        events: &GatewayBlockEvents,
    ) -> StoreResult<()> {
        {
            let mut chains = self.tx.open_table(CHAINS)?;
            let mut update = |chain_id: u64, f: &dyn Fn(&mut GatewayChain)| -> StoreResult<()> {
                let mut chain: GatewayChain = match chains.get(chain_id)? {
                    Some(v) => decode("gateway_chains", chain_id, v.value())?,
                    None => GatewayChain::default(),
                };
                f(&mut chain);
                chains.insert(chain_id, chain.abi_encode().as_slice())?;
                Ok(())
            };
            for set in &events.executorsSet {
                let executor = set.executor;
                update(set.chainId, &|c| c.executor = executor)?;
            }
            for c in &events.committed {
                let n = c.batchNumber;
                update(c.chainId, &|chain| chain.committed = chain.committed.max(n))?;
            }
            for p in &events.proved {
                let n = p.batchNumber;
                update(p.chainId, &|chain| chain.proved = chain.proved.max(n))?;
            }
            for e in &events.executed {
                let n = e.batchNumber;
                update(e.chainId, &|chain| chain.executed = chain.executed.max(n))?;
            }
        }
        let mut proofs = self.tx.open_table(CHAIN_PROOFS)?;
        for p in &events.proved {
            proofs.insert((p.chainId, p.batchNumber), p.abi_encode().as_slice())?;
        }
        drop(proofs);
        let mut commits = self.tx.open_table(CHAIN_COMMITS)?;
        for c in &events.committed {
            // An unreadable (re-)commit leaves no stale info behind.
            if c.commitInfo.is_empty() {
                commits.remove((c.chainId, c.batchNumber))?;
            } else {
                commits.insert((c.chainId, c.batchNumber), c.commitInfo.as_ref())?;
            }
        }
        drop(commits);
        let mut table = self.tx.open_table(BLOCK_EVENTS)?;
        table.insert(number, events.abi_encode().as_slice())?;
        Ok(())
    }

    /// Folds the events of Gateway blocks at or below `number` (settled long ago) into one
    /// entry at `number` holding what later readers still need of them: per chain its latest
    /// executor and its highest committed, proved and executed batch (a reorg of later blocks
    /// recomputes the counters from the entries left), and the latest shared root. The proofs
    /// they carried are dropped. Returns how many entries were folded (0: nothing to fold).
    pub fn compact_gateway_block_events_through(&mut self, number: u64) -> StoreResult<u64> {
        use std::collections::BTreeMap;
        let mut executors: BTreeMap<u64, Address> = BTreeMap::new();
        let mut committed: BTreeMap<u64, u64> = BTreeMap::new();
        let mut proved: BTreeMap<u64, u64> = BTreeMap::new();
        let mut executed: BTreeMap<u64, (u64, B256)> = BTreeMap::new();
        let mut summary = GatewayBlockEvents::default();
        let mut folded = 0;
        let mut table = self.tx.open_table(BLOCK_EVENTS)?;
        for item in table.range(..=number)? {
            let (key, value) = item?;
            let events: GatewayBlockEvents =
                decode("gateway_block_events", key.value(), value.value())?;
            for set in &events.executorsSet {
                executors.insert(set.chainId, set.executor);
            }
            for c in &events.committed {
                let entry = committed.entry(c.chainId).or_default();
                *entry = (*entry).max(c.batchNumber);
            }
            for p in &events.proved {
                let entry = proved.entry(p.chainId).or_default();
                *entry = (*entry).max(p.batchNumber);
            }
            for e in &events.executed {
                let entry = executed.entry(e.chainId).or_default();
                if e.batchNumber >= entry.0 {
                    *entry = (e.batchNumber, e.batchRoot);
                }
            }
            if events.sharedRootChanged {
                summary.sharedRootChanged = true;
                summary.sharedRoot = events.sharedRoot;
            }
            folded += 1;
        }
        if folded <= 1 {
            return Ok(0);
        }
        summary.executorsSet = executors
            .into_iter()
            .map(|(chain_id, executor)| ChainExecutorSet { chainId: chain_id, executor })
            .collect();
        summary.committed = committed
            .into_iter()
            .map(|(chain_id, number)| CommittedChainBatch {
                chainId: chain_id,
                batchNumber: number,
                ..Default::default()
            })
            .collect();
        summary.proved = proved
            .into_iter()
            .map(|(chain_id, number)| ProvedChainBatch {
                chainId: chain_id,
                batchNumber: number,
                ..Default::default()
            })
            .collect();
        summary.executed = executed
            .into_iter()
            .map(|(chain_id, (number, root))| ExecutedChainBatch {
                chainId: chain_id,
                batchNumber: number,
                batchRoot: root,
            })
            .collect();
        table.retain_in(..=number, |_, _| false)?;
        table.insert(number, summary.abi_encode().as_slice())?;
        Ok(folded)
    }

    /// Forgets the stored proofs of the chain batches that the Gateway batches in
    /// `gateway_batches` carried (settled on L1 long enough ago); returns how many went.
    pub fn prune_gateway_chain_proofs(
        &mut self,
        gateway_batches: std::ops::Range<u64>,
    ) -> StoreResult<u64> {
        let carried: Vec<(u64, u64)> = {
            let table = self.tx.open_table(BATCH_CONTENTS)?;
            let mut carried = Vec::new();
            for item in table.range(gateway_batches)? {
                let (key, value) = item?;
                let contents: GatewayBatchContents =
                    decode("gateway_batch_contents", key.value(), value.value())?;
                carried.extend(contents.chainBatches.iter().map(|r| {
                    (r.chainId.saturating_to::<u64>(), r.batchNumber.saturating_to::<u64>())
                }));
            }
            carried
        };
        let mut proofs = self.tx.open_table(CHAIN_PROOFS)?;
        let mut commits = self.tx.open_table(CHAIN_COMMITS)?;
        let mut removed = 0;
        for key in carried {
            removed += u64::from(proofs.remove(key)?.is_some());
            commits.remove(key)?;
        }
        Ok(removed)
    }

    /// Forgets the events of Gateway blocks at or above `number` (a reorg of the Gateway) and
    /// what the indexes learnt from them: proofs first seen there, and counters (recomputed from
    /// the remaining blocks' events).
    pub fn remove_gateway_block_events_from(&mut self, number: u64) -> StoreResult<usize> {
        let mut removed = Vec::new();
        {
            let mut table = self.tx.open_table(BLOCK_EVENTS)?;
            for item in table.range(number..)? {
                let (key, value) = item?;
                removed.push(decode::<GatewayBlockEvents>(
                    "gateway_block_events",
                    key.value(),
                    value.value(),
                )?);
            }
            table.retain_in(number.., |_, _| false)?;
        }
        if removed.is_empty() {
            return Ok(0);
        }
        {
            let mut proofs = self.tx.open_table(CHAIN_PROOFS)?;
            for p in removed.iter().flat_map(|e| &e.proved) {
                proofs.remove((p.chainId, p.batchNumber))?;
            }
            let mut commits = self.tx.open_table(CHAIN_COMMITS)?;
            for c in removed.iter().flat_map(|e| &e.committed) {
                commits.remove((c.chainId, c.batchNumber))?;
            }
        }
        // Counters: recompute from what is left (reorgs are rare; the history is scanned once).
        let mut recomputed: std::collections::BTreeMap<u64, GatewayChain> = Default::default();
        {
            let table = self.tx.open_table(BLOCK_EVENTS)?;
            for item in table.iter()? {
                let (key, value) = item?;
                let events: GatewayBlockEvents =
                    decode("gateway_block_events", key.value(), value.value())?;
                for set in &events.executorsSet {
                    recomputed.entry(set.chainId).or_default().executor = set.executor;
                }
                for c in &events.committed {
                    let chain = recomputed.entry(c.chainId).or_default();
                    chain.committed = chain.committed.max(c.batchNumber);
                }
                for p in &events.proved {
                    let chain = recomputed.entry(p.chainId).or_default();
                    chain.proved = chain.proved.max(p.batchNumber);
                }
                for e in &events.executed {
                    let chain = recomputed.entry(e.chainId).or_default();
                    chain.executed = chain.executed.max(e.batchNumber);
                }
            }
        }
        let mut chains = self.tx.open_table(CHAINS)?;
        chains.retain(|_, _| false)?;
        for (id, chain) in &recomputed {
            chains.insert(*id, chain.abi_encode().as_slice())?;
        }
        Ok(removed.len())
    }

    /// The events of Gateway blocks in `range` as stored in this transaction, ascending.
    pub fn gateway_block_events(
        &self,
        range: std::ops::RangeInclusive<u64>,
    ) -> StoreResult<Vec<(u64, GatewayBlockEvents)>> {
        let table = self.tx.open_table(BLOCK_EVENTS)?;
        let mut out = Vec::new();
        for item in table.range(range)? {
            let (key, value) = item?;
            out.push((key.value(), decode("gateway_block_events", key.value(), value.value())?));
        }
        Ok(out)
    }

    /// Holds chain `chain_id` back: no later Gateway batch carries its batches until it is
    /// restored.
    pub fn hold_back_gateway_chain(&mut self, chain_id: u64, reason: &str) -> StoreResult<()> {
        self.tx.open_table(HELD_BACK)?.insert(chain_id, reason)?;
        Ok(())
    }

    /// Restores a held-back chain; false when it was not held back.
    pub fn restore_gateway_chain(&mut self, chain_id: u64) -> StoreResult<bool> {
        Ok(self.tx.open_table(HELD_BACK)?.remove(chain_id)?.is_some())
    }

    /// Stores (or replaces) what Gateway batch `number` carries.
    pub fn put_gateway_batch_contents(
        &mut self,
        number: u64,
        contents: &GatewayBatchContents,
    ) -> StoreResult<()> {
        let mut table = self.tx.open_table(BATCH_CONTENTS)?;
        table.insert(number, contents.abi_encode().as_slice())?;
        Ok(())
    }

    /// Forgets the contents of Gateway batches at or above `number` (unsealed with them), and
    /// any checkpoint taken after one of them.
    pub fn remove_gateway_batch_contents_from(&mut self, number: u64) -> StoreResult<()> {
        let mut table = self.tx.open_table(BATCH_CONTENTS)?;
        table.retain_in(number.., |_, _| false)?;
        self.tx.open_table(L1_CHECKPOINT)?.retain_in(number.., |_, _| false)?;
        Ok(())
    }

    /// Retention: forgets the contents of Gateway batches up to `through`, keeping instead
    /// `checkpoint`, what L1 holds of the shared tree after batch `through` (older checkpoints
    /// go). Returns how many contents went.
    pub fn prune_gateway_batch_contents(
        &mut self,
        through: u64,
        checkpoint: &[u8],
    ) -> StoreResult<u64> {
        let mut table = self.tx.open_table(BATCH_CONTENTS)?;
        let before = table.len()?;
        table.retain_in(..=through, |_, _| false)?;
        let removed = before - table.len()?;
        let mut checkpoints = self.tx.open_table(L1_CHECKPOINT)?;
        checkpoints.retain_in(..through, |_, _| false)?;
        checkpoints.insert(through, checkpoint)?;
        Ok(removed)
    }
}

#[cfg(test)]
mod tests {
    use alloy::primitives::U256;

    use super::*;

    fn proved(chain: u64, n: u64, tag: u8) -> ProvedChainBatch {
        ProvedChainBatch {
            chainId: chain,
            batchNumber: n,
            publicInput: U256::from(n * 100 + u64::from(tag)),
            proof: vec![tag; 4].into(),
            ..Default::default()
        }
    }

    #[test]
    fn events_index_proofs_and_counters_and_a_reorg_undoes_them() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let executor = Address::repeat_byte(9);
        let block1 = GatewayBlockEvents {
            executorsSet: vec![ChainExecutorSet { chainId: 270, executor }],
            committed: vec![CommittedChainBatch {
                chainId: 270,
                batchNumber: 1,
                ..Default::default()
            }],
            ..Default::default()
        };
        let block2 = GatewayBlockEvents {
            proved: vec![proved(270, 1, 1)],
            executed: vec![ExecutedChainBatch {
                chainId: 270,
                batchNumber: 1,
                batchRoot: B256::repeat_byte(1),
            }],
            sharedRootChanged: true,
            sharedRoot: B256::repeat_byte(2),
            ..Default::default()
        };
        store
            .write(|tx| {
                tx.put_gateway_block_events(1, &block1)?;
                assert_eq!(tx.gateway_chain_of(executor)?, Some(270));
                tx.put_gateway_block_events(2, &block2)
            })
            .unwrap();
        let chains = store.gateway_chains().unwrap();
        assert_eq!(
            chains,
            vec![(270, GatewayChain { executor, committed: 1, proved: 1, executed: 1 })]
        );
        assert_eq!(store.gateway_chain_proof(270, 1).unwrap(), Some(proved(270, 1, 1)));
        assert_eq!(store.gateway_shared_root_at(5).unwrap(), Some(B256::repeat_byte(2)));
        assert_eq!(store.gateway_shared_root_at(1).unwrap(), None);
        assert_eq!(store.gateway_block_events(1..=9).unwrap().len(), 2);

        // The Gateway reorgs block 2 away.
        store.write(|tx| tx.remove_blocks_from(2)).unwrap();
        assert_eq!(store.gateway_chain_proof(270, 1).unwrap(), None);
        assert_eq!(
            store.gateway_chains().unwrap(),
            vec![(270, GatewayChain { executor, committed: 1, proved: 0, executed: 0 })]
        );
        assert_eq!(store.gateway_shared_root_at(5).unwrap(), None);
    }

    #[test]
    fn compacted_events_keep_the_counters_a_later_reorg_recomputes_and_the_shared_root() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let (a, b) = (Address::repeat_byte(9), Address::repeat_byte(8));
        let root = |n: u8| B256::repeat_byte(n);
        let blocks = [
            GatewayBlockEvents {
                executorsSet: vec![
                    ChainExecutorSet { chainId: 270, executor: a },
                    ChainExecutorSet { chainId: 271, executor: b },
                ],
                committed: vec![CommittedChainBatch {
                    chainId: 270,
                    batchNumber: 1,
                    ..Default::default()
                }],
                ..Default::default()
            },
            GatewayBlockEvents {
                proved: vec![proved(270, 1, 1)],
                executed: vec![ExecutedChainBatch {
                    chainId: 270,
                    batchNumber: 1,
                    batchRoot: root(1),
                }],
                sharedRootChanged: true,
                sharedRoot: root(2),
                ..Default::default()
            },
            GatewayBlockEvents {
                committed: vec![CommittedChainBatch {
                    chainId: 271,
                    batchNumber: 4,
                    ..Default::default()
                }],
                ..Default::default()
            },
            GatewayBlockEvents {
                committed: vec![CommittedChainBatch {
                    chainId: 270,
                    batchNumber: 2,
                    ..Default::default()
                }],
                proved: vec![proved(270, 2, 2)],
                sharedRootChanged: true,
                sharedRoot: root(3),
                ..Default::default()
            },
        ];
        store
            .write(|tx| {
                for (i, events) in blocks.iter().enumerate() {
                    tx.put_gateway_block_events(i as u64 + 1, events)?;
                }
                Ok(())
            })
            .unwrap();
        let before = store.gateway_chains().unwrap();

        assert_eq!(store.write(|tx| tx.compact_gateway_block_events_through(3)).unwrap(), 3);
        assert_eq!(store.gateway_block_events(0..=9).unwrap().len(), 2, "one summary, block 4");
        assert_eq!(store.gateway_chains().unwrap(), before);
        assert_eq!(store.gateway_shared_root_at(3).unwrap(), Some(root(2)));
        assert_eq!(store.write(|tx| tx.gateway_chain_of(b)).unwrap(), Some(271));
        assert_eq!(store.write(|tx| tx.compact_gateway_block_events_through(3)).unwrap(), 0);

        // A reorg of block 4 recomputes the counters from the summary: as after block 3.
        store.write(|tx| tx.remove_gateway_block_events_from(4).map(drop)).unwrap();
        assert_eq!(
            store.gateway_chains().unwrap(),
            vec![
                (270, GatewayChain { executor: a, committed: 1, proved: 1, executed: 1 }),
                (271, GatewayChain { executor: b, committed: 4, proved: 0, executed: 0 }),
            ]
        );
        assert_eq!(store.gateway_shared_root_at(9).unwrap(), Some(root(2)));
    }

    #[test]
    fn batch_contents_round_trip_and_go_with_unsealed_batches() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let contents = GatewayBatchContents {
            chainBatches: vec![ChainRef {
                chainId: U256::from(270),
                batchNumber: U256::from(3),
                publicInput: U256::from(7),
                batch: ChainBatchInfo { batchNumber: 3, ..Default::default() },
                previous: ChainBatchInfo { batchNumber: 2, ..Default::default() },
                commitInfo: vec![3u8; 8].into(),
            }],
            chainsAdded: vec![270],
            sharedRoot: B256::repeat_byte(4),
            l1GasUsed: 0,
            l1CostWei: U256::ZERO,
        };
        store
            .write(|tx| {
                tx.put_gateway_batch_contents(1, &contents)?;
                tx.put_gateway_batch_contents(2, &GatewayBatchContents::default())
            })
            .unwrap();
        assert_eq!(store.gateway_batch_contents(1).unwrap(), Some(contents));
        store.write(|tx| tx.remove_batches_from(2).map(drop)).unwrap();
        assert_eq!(store.gateway_batch_contents(2).unwrap(), None);
        assert_eq!(store.gateway_batches_contents(0..=9).unwrap().len(), 1);
    }
}
