//! Interop (schema 7): each settlement layer's `MessageRoot` history as its events tell it, so a
//! chain's node places one of its batches in the layer's trees at some block (message proofs)
//! without keeping that history in memory or reading it again after a restart.
//!
//! Every table is keyed by the layer's chain id first:
//! - `interop_mirror_progress`: the last layer block read, with its hash (a reorg below it
//!   clears the layer's rows and they are read again);
//! - `interop_mirror_chains`: the chains in the order the shared tree added them;
//! - `interop_mirror_leaves`: per chain, its batch leaves in tree order, each with the block that
//!   added it and the chain tree's root after it (so the tree of any chain at any block is one
//!   bisection away);
//! - `interop_mirror_batch_index`: per chain and batch number, where its first leaf sits;
//! - `interop_mirror_roots`: the shared root recorded at each block (`NewInteropRoot`).

use alloy::{primitives::B256, sol, sol_types::SolValue};
use redb::{ReadableDatabase, ReadableTable, TableDefinition};

use crate::{Store, StoreError, StoreResult, StoreWriter};

pub(crate) const PROGRESS: TableDefinition<'_, u64, (u64, [u8; 32])> =
    TableDefinition::new("interop_mirror_progress");
pub(crate) const CHAINS: TableDefinition<'_, (u64, u64), (u64, u64)> =
    TableDefinition::new("interop_mirror_chains");
pub(crate) const LEAVES: TableDefinition<'_, (u64, u64, u64), &[u8]> =
    TableDefinition::new("interop_mirror_leaves");
pub(crate) const BATCH_INDEX: TableDefinition<'_, (u64, u64, u64), u64> =
    TableDefinition::new("interop_mirror_batch_index");
pub(crate) const ROOTS: TableDefinition<'_, (u64, u64), [u8; 32]> =
    TableDefinition::new("interop_mirror_roots");

sol! {
    /// One leaf of a chain's batch tree in a layer's `MessageRoot`.
    #[derive(Debug, Default, PartialEq, Eq)]
    struct MirroredLeaf {
        /// The batch's number.
        uint64 batchNumber;
        /// The batch's root (`ChainBatchRootAdded`).
        bytes32 batchRoot;
        /// The layer block that added it.
        uint64 block;
        /// The chain's batch-tree root once this leaf was added.
        bytes32 treeRoot;
    }
}

/// How far a layer's `MessageRoot` events were read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MirrorProgress {
    /// The last layer block read.
    pub scanned_through: u64,
    /// Its hash when it was read.
    pub scanned_hash: B256,
}

/// A chain in a layer's shared tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MirroredChain {
    /// The chain's id.
    pub chain_id: u64,
    /// The layer block that added it.
    pub added_at: u64,
}

fn decode_leaf(key: (u64, u64, u64), bytes: &[u8]) -> StoreResult<MirroredLeaf> {
    MirroredLeaf::abi_decode(bytes).map_err(|e| StoreError::Corrupt {
        table: "interop_mirror_leaves",
        key: format!("{key:?}"),
        reason: e.to_string(),
    })
}

impl Store {
    /// How far layer `layer`'s `MessageRoot` events were read, if at all.
    pub fn mirror_progress(&self, layer: u64) -> StoreResult<Option<MirrorProgress>> {
        let tx = self.db.begin_read()?;
        let table = tx.open_table(PROGRESS)?;
        Ok(table.get(layer)?.map(|v| {
            let (scanned_through, hash) = v.value();
            MirrorProgress { scanned_through, scanned_hash: hash.into() }
        }))
    }

    /// The chains in layer `layer`'s shared tree, in the order they were added.
    pub fn mirror_chains(&self, layer: u64) -> StoreResult<Vec<MirroredChain>> {
        let tx = self.db.begin_read()?;
        let table = tx.open_table(CHAINS)?;
        table
            .range((layer, 0)..=(layer, u64::MAX))?
            .map(|entry| {
                let (_, value) = entry?;
                let (chain_id, added_at) = value.value();
                Ok(MirroredChain { chain_id, added_at })
            })
            .collect()
    }

    /// How many leaves chain `chain_id`'s batch tree has in layer `layer`'s `MessageRoot`.
    pub fn mirror_leaf_count(&self, layer: u64, chain_id: u64) -> StoreResult<u64> {
        let tx = self.db.begin_read()?;
        let table = tx.open_table(LEAVES)?;
        Ok(table
            .range((layer, chain_id, 0)..=(layer, chain_id, u64::MAX))?
            .next_back()
            .transpose()?
            .map_or(0, |(key, _)| key.value().2 + 1))
    }

    /// Chain `chain_id`'s leaves in layer `layer`'s tree, in tree order, from index `from` on,
    /// as long as they were added at or before layer block `through`.
    pub fn mirror_leaves(
        &self,
        layer: u64,
        chain_id: u64,
        from: u64,
        through: u64,
    ) -> StoreResult<Vec<MirroredLeaf>> {
        let tx = self.db.begin_read()?;
        let table = tx.open_table(LEAVES)?;
        let mut out = Vec::new();
        for entry in table.range((layer, chain_id, from)..=(layer, chain_id, u64::MAX))? {
            let (key, value) = entry?;
            let leaf = decode_leaf(key.value(), value.value())?;
            if leaf.block > through {
                break;
            }
            out.push(leaf);
        }
        Ok(out)
    }

    /// Where chain `chain_id`'s batch `batch_number` first sits in its tree in layer `layer`,
    /// with the leaf.
    pub fn mirror_batch(
        &self,
        layer: u64,
        chain_id: u64,
        batch_number: u64,
    ) -> StoreResult<Option<(u64, MirroredLeaf)>> {
        let tx = self.db.begin_read()?;
        let Some(index) = tx.open_table(BATCH_INDEX)?.get((layer, chain_id, batch_number))? else {
            return Ok(None);
        };
        let index = index.value();
        let key = (layer, chain_id, index);
        let leaves = tx.open_table(LEAVES)?;
        let Some(bytes) = leaves.get(key)? else {
            return Err(StoreError::Corrupt {
                table: "interop_mirror_leaves",
                key: format!("{key:?}"),
                reason: format!("missing, indexed for batch {batch_number}"),
            });
        };
        Ok(Some((index, decode_leaf(key, bytes.value())?)))
    }

    /// The root of chain `chain_id`'s batch tree in layer `layer` as of the end of layer block
    /// `block`; `None` when it had no leaf then. A bisection: leaves are added in block order.
    pub fn mirror_tree_root_at(
        &self,
        layer: u64,
        chain_id: u64,
        block: u64,
    ) -> StoreResult<Option<B256>> {
        let tx = self.db.begin_read()?;
        let table = tx.open_table(LEAVES)?;
        let Some(last) = table
            .range((layer, chain_id, 0)..=(layer, chain_id, u64::MAX))?
            .next_back()
            .transpose()?
            .map(|(key, _)| key.value().2)
        else {
            return Ok(None);
        };
        let leaf = |index: u64| -> StoreResult<MirroredLeaf> {
            let key = (layer, chain_id, index);
            let bytes = table.get(key)?.ok_or_else(|| StoreError::Corrupt {
                table: "interop_mirror_leaves",
                key: format!("{key:?}"),
                reason: "missing below the chain's last leaf".into(),
            })?;
            decode_leaf(key, bytes.value())
        };
        // The last index whose block is at or before `block`.
        let (mut low, mut high, mut found) = (0u64, last, None);
        while low <= high {
            let mid = low + (high - low) / 2;
            let at = leaf(mid)?;
            if at.block <= block {
                found = Some(at.treeRoot);
                low = mid + 1;
            } else if mid == 0 {
                break;
            } else {
                high = mid - 1;
            }
        }
        Ok(found)
    }

    /// The shared root layer `layer` recorded last at or before `block`, with its block.
    pub fn mirror_root_at_or_before(
        &self,
        layer: u64,
        block: u64,
    ) -> StoreResult<Option<(u64, B256)>> {
        let tx = self.db.begin_read()?;
        let table = tx.open_table(ROOTS)?;
        Ok(table
            .range((layer, 0)..=(layer, block))?
            .next_back()
            .transpose()?
            .map(|(key, value)| (key.value().1, value.value().into())))
    }

    /// The shared root layer `layer` recorded at exactly `block`, if it recorded one.
    pub fn mirror_root_at(&self, layer: u64, block: u64) -> StoreResult<Option<B256>> {
        let tx = self.db.begin_read()?;
        Ok(tx.open_table(ROOTS)?.get((layer, block))?.map(|v| v.value().into()))
    }

    /// The last block at which layer `layer` recorded shared root `root`, newest first (the
    /// root asked for is almost always recent).
    pub fn mirror_block_of_root(&self, layer: u64, root: B256) -> StoreResult<Option<u64>> {
        let tx = self.db.begin_read()?;
        let table = tx.open_table(ROOTS)?;
        for entry in table.range((layer, 0)..=(layer, u64::MAX))?.rev() {
            let (key, value) = entry?;
            if B256::from(value.value()) == root {
                return Ok(Some(key.value().1));
            }
        }
        Ok(None)
    }
}

impl StoreWriter<'_> {
    /// Forgets everything read of layer `layer`'s `MessageRoot` (it reorged below it).
    pub fn mirror_clear(&mut self, layer: u64) -> StoreResult<()> {
        self.tx.open_table(PROGRESS)?.remove(layer)?;
        self.tx.open_table(CHAINS)?.retain_in((layer, 0)..=(layer, u64::MAX), |_, _| false)?;
        self.tx
            .open_table(LEAVES)?
            .retain_in((layer, 0, 0)..=(layer, u64::MAX, u64::MAX), |_, _| false)?;
        self.tx
            .open_table(BATCH_INDEX)?
            .retain_in((layer, 0, 0)..=(layer, u64::MAX, u64::MAX), |_, _| false)?;
        self.tx.open_table(ROOTS)?.retain_in((layer, 0)..=(layer, u64::MAX), |_, _| false)?;
        Ok(())
    }

    /// Records that layer `layer`'s shared tree added chain `chain_id` at `block`; a chain
    /// already there keeps its place (an executor set again).
    pub fn mirror_add_chain(&mut self, layer: u64, chain_id: u64, block: u64) -> StoreResult<()> {
        let mut table = self.tx.open_table(CHAINS)?;
        let mut next = 0;
        for entry in table.range((layer, 0)..=(layer, u64::MAX))? {
            let (key, value) = entry?;
            if value.value().0 == chain_id {
                return Ok(());
            }
            next = key.value().1 + 1;
        }
        table.insert((layer, next), (chain_id, block))?;
        Ok(())
    }

    /// Appends `leaf` to chain `chain_id`'s batch tree in layer `layer`; its index is returned.
    pub fn mirror_push_leaf(
        &mut self,
        layer: u64,
        chain_id: u64,
        leaf: &MirroredLeaf,
    ) -> StoreResult<u64> {
        let mut leaves = self.tx.open_table(LEAVES)?;
        let index = leaves
            .range((layer, chain_id, 0)..=(layer, chain_id, u64::MAX))?
            .next_back()
            .transpose()?
            .map_or(0, |(key, _)| key.value().2 + 1);
        leaves.insert((layer, chain_id, index), leaf.abi_encode().as_slice())?;
        let mut by_number = self.tx.open_table(BATCH_INDEX)?;
        let key = (layer, chain_id, leaf.batchNumber);
        if by_number.get(key)?.is_none() {
            by_number.insert(key, index)?;
        }
        Ok(index)
    }

    /// Records the shared root layer `layer` recorded at `block` (the last one wins).
    pub fn mirror_put_root(&mut self, layer: u64, block: u64, root: B256) -> StoreResult<()> {
        self.tx.open_table(ROOTS)?.insert((layer, block), root.0)?;
        Ok(())
    }

    /// Records how far layer `layer`'s events were read.
    pub fn mirror_set_progress(&mut self, layer: u64, progress: MirrorProgress) -> StoreResult<()> {
        self.tx
            .open_table(PROGRESS)?
            .insert(layer, (progress.scanned_through, progress.scanned_hash.0))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaf(number: u64, block: u64) -> MirroredLeaf {
        MirroredLeaf {
            batchNumber: number,
            batchRoot: B256::repeat_byte(number as u8),
            block,
            treeRoot: B256::repeat_byte(100 + number as u8),
        }
    }

    #[test]
    fn a_layers_history_is_read_back_by_block_and_number_and_cleared_alone() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        store
            .write(|tx| {
                for layer in [1, 2] {
                    tx.mirror_add_chain(layer, 10, 5)?;
                    tx.mirror_add_chain(layer, 11, 7)?;
                    tx.mirror_add_chain(layer, 10, 9)?;
                    for (n, block) in [(1, 6), (2, 8), (3, 8), (4, 12)] {
                        tx.mirror_push_leaf(layer, 10, &leaf(n, block))?;
                    }
                    // A batch number seen again keeps its first place.
                    tx.mirror_push_leaf(layer, 10, &leaf(2, 13))?;
                    tx.mirror_put_root(layer, 6, B256::repeat_byte(1))?;
                    tx.mirror_put_root(layer, 8, B256::repeat_byte(2))?;
                    tx.mirror_put_root(layer, 12, B256::repeat_byte(1))?;
                    tx.mirror_set_progress(
                        layer,
                        MirrorProgress { scanned_through: 13, scanned_hash: B256::repeat_byte(9) },
                    )?;
                }
                Ok(())
            })
            .unwrap();
        assert_eq!(
            store.mirror_chains(1).unwrap(),
            vec![
                MirroredChain { chain_id: 10, added_at: 5 },
                MirroredChain { chain_id: 11, added_at: 7 }
            ]
        );
        assert_eq!(store.mirror_leaf_count(1, 10).unwrap(), 5);
        assert_eq!(store.mirror_leaf_count(1, 11).unwrap(), 0);
        assert_eq!(store.mirror_batch(1, 10, 2).unwrap(), Some((1, leaf(2, 8))));
        assert_eq!(store.mirror_batch(1, 10, 9).unwrap(), None);
        let numbers = |through| {
            store
                .mirror_leaves(1, 10, 0, through)
                .unwrap()
                .iter()
                .map(|l| l.batchNumber)
                .collect::<Vec<_>>()
        };
        assert_eq!(numbers(5), Vec::<u64>::new());
        assert_eq!(numbers(8), vec![1, 2, 3]);
        assert_eq!(numbers(100), vec![1, 2, 3, 4, 2]);
        assert_eq!(store.mirror_leaves(1, 10, 3, 100).unwrap().len(), 2);
        for (block, expected) in
            [(5, None), (6, Some(1)), (7, Some(1)), (8, Some(3)), (11, Some(3)), (12, Some(4))]
        {
            assert_eq!(
                store.mirror_tree_root_at(1, 10, block).unwrap(),
                expected.map(|n| leaf(n, 0).treeRoot),
                "tree root at block {block}"
            );
        }
        assert_eq!(store.mirror_tree_root_at(1, 11, 100).unwrap(), None);
        assert_eq!(store.mirror_root_at_or_before(1, 5).unwrap(), None);
        assert_eq!(store.mirror_root_at_or_before(1, 9).unwrap(), Some((8, B256::repeat_byte(2))));
        assert_eq!(store.mirror_root_at(1, 8).unwrap(), Some(B256::repeat_byte(2)));
        assert_eq!(store.mirror_root_at(1, 9).unwrap(), None);
        assert_eq!(store.mirror_block_of_root(1, B256::repeat_byte(1)).unwrap(), Some(12));
        assert_eq!(store.mirror_block_of_root(1, B256::repeat_byte(7)).unwrap(), None);

        store.write(|tx| tx.mirror_clear(1)).unwrap();
        assert_eq!(store.mirror_progress(1).unwrap(), None);
        assert!(store.mirror_chains(1).unwrap().is_empty());
        assert_eq!(store.mirror_leaf_count(1, 10).unwrap(), 0);
        assert_eq!(store.mirror_batch(1, 10, 1).unwrap(), None);
        assert_eq!(store.mirror_root_at_or_before(1, 100).unwrap(), None);
        // The other layer is untouched, and everything survives a reopen.
        drop(store);
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(store.mirror_leaf_count(2, 10).unwrap(), 5);
        assert_eq!(store.mirror_progress(2).unwrap().map(|p| p.scanned_through), Some(13));
        assert_eq!(store.mirror_tree_root_at(2, 10, 12).unwrap(), Some(leaf(4, 0).treeRoot));
    }
}
