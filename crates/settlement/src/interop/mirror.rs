//! A `MessageRoot`'s history rebuilt from its events, to place a batch in its trees at some
//! block (message proofs).
//!
//! The history lives in the node's store (`gateway_store`'s interop mirror tables), not in
//! memory: what stays in memory is one frontier per chain tree (a node per level), so the
//! process's memory does not grow with the layer's history, and a restart reads on from where
//! it stopped instead of from block 0.

use std::{collections::HashMap, time::Duration};

use alloy::{
    primitives::B256,
    providers::{DynProvider, Provider},
    rpc::types::Filter,
    sol_types::SolEvent,
};
use gateway_contracts::MessageRoot;
use gateway_primitives::{IncrementalTree, batch_leaf, chain_leaf, merkle_proof, merkle_root};
use gateway_store::{MirrorProgress, MirroredLeaf, Store};
use tracing::debug;

use crate::{
    config::MessageRootSource,
    error::{LayerCall, LayerError, SettlementResult},
    support::within,
};

/// Blocks per `eth_getLogs` query.
const LOG_PAGE_BLOCKS: u64 = 10_000;

/// How many times a page whose last block changed while it was read is read again.
const MAX_UNSETTLED_PAGES: u32 = 5;

/// One settlement layer's `MessageRoot` history, read into the store.
#[derive(Debug, Default)]
pub(super) struct Mirror {
    /// Per chain, its batch tree's frontier as far as the store holds it (read from the store
    /// the first time a chain gains a leaf in this process).
    trees: HashMap<u64, IncrementalTree>,
}

/// How far down a proof's batch sits in a `MessageRoot` at some block.
pub(super) struct Placement {
    pub(super) batch_index: u64,
    pub(super) batch_path: Vec<B256>,
    pub(super) chain_index: u64,
    pub(super) chain_path: Vec<B256>,
    pub(super) root: B256,
}

fn unexpected(reason: String) -> LayerCall {
    LayerCall::new("the MessageRoot's trees", LayerError::Unexpected(reason))
}

impl Mirror {
    /// The trees of `layer` as of the end of `block`; checks the rebuilt root against the one
    /// the layer recorded (the inner error: they differ, and the mirror should be read again). Reads every chain's tree root at `block` (a bisection each) and the
    /// leaves of `chain_id`'s own tree (for its path); nothing of it is kept.
    pub(super) fn place(
        store: &Store,
        layer: u64,
        chain_id: u64,
        batch_number: u64,
        block: u64,
    ) -> SettlementResult<Result<Placement, LayerCall>> {
        let not_in_tree = || {
            unexpected(format!(
                "batch {batch_number} of chain {chain_id} is not in the tree at block {block}"
            ))
        };
        let (batch_index, leaf) =
            store.mirror_batch(layer, chain_id, batch_number)?.ok_or_else(not_in_tree)?;
        if leaf.block > block {
            return Err(not_in_tree().into());
        }
        let chains: Vec<u64> = store
            .mirror_chains(layer)?
            .into_iter()
            .filter(|c| c.added_at <= block)
            .map(|c| c.chain_id)
            .collect();
        let chain_index = chains.iter().position(|id| *id == chain_id).ok_or_else(|| {
            unexpected(format!("chain {chain_id} is not in the shared tree at block {block}"))
        })?;
        let empty = merkle_root(&[]);
        let chain_leaves = chains
            .iter()
            .map(|id| {
                let root = store.mirror_tree_root_at(layer, *id, block)?.unwrap_or(empty);
                Ok(chain_leaf(*id, root))
            })
            .collect::<SettlementResult<Vec<B256>>>()?;
        let own: Vec<B256> = store
            .mirror_leaves(layer, chain_id, 0, block)?
            .iter()
            .map(|l| batch_leaf(l.batchNumber, l.batchRoot))
            .collect();
        let root = merkle_root(&chain_leaves);
        let recorded = store.mirror_root_at_or_before(layer, block)?.map(|(_, r)| r);
        if recorded != Some(root) {
            return Ok(Err(unexpected(format!(
                "the rebuilt interop root at block {block} is {root}, the MessageRoot recorded {recorded:?} (the mirror is read again on the next request)"
            ))));
        }
        Ok(Ok(Placement {
            batch_index,
            batch_path: merkle_proof(&own, batch_index as usize).unwrap_or_default(),
            chain_index: chain_index as u64,
            chain_path: merkle_proof(&chain_leaves, chain_index).unwrap_or_default(),
            root,
        }))
    }

    /// Reads `layer`'s events since the last refresh into the store, a page of blocks per
    /// store transaction (all of them again after a reorg below what was read).
    pub(super) async fn refresh(
        &mut self,
        store: &Store,
        layer: &MessageRootSource,
        provider: &DynProvider,
        timeout: Duration,
    ) -> SettlementResult<()> {
        let result = self.read_on(store, layer, provider, timeout).await;
        if result.is_err() {
            // A page may have failed after its frontiers moved: read them again.
            self.trees.clear();
        }
        result
    }

    async fn read_on(
        &mut self,
        store: &Store,
        layer: &MessageRootSource,
        provider: &DynProvider,
        timeout: Duration,
    ) -> SettlementResult<()> {
        let id = layer.chain_id;
        let hash_of = |block: u64| async move {
            Ok::<_, LayerCall>(
                within(timeout, "a block", provider.get_block_by_number(block.into()))
                    .await?
                    .map(|b| b.header.hash),
            )
        };
        let mut head = within(timeout, "the head", provider.get_block_number()).await?;
        let mut progress = store.mirror_progress(id)?;
        let mut unsettled_pages = 0;
        loop {
            // What was read is still the layer's chain (checked before each page, so a reorg
            // under an earlier page is seen too); a reorg below it: start over (rare; the
            // events are cheap to read).
            if let Some(read) = progress {
                match hash_of(read.scanned_through).await? {
                    Some(hash) if hash == read.scanned_hash => {}
                    Some(_) => {
                        tracing::warn!(target: "settlement::interop", layer = id, scanned = read.scanned_through, "the layer reorged below the mirrored events: reading them again");
                        store.write(|tx| tx.mirror_clear(id))?;
                        self.trees.clear();
                        progress = None;
                    }
                    None => {
                        return Err(unexpected(format!(
                            "layer {id}'s node has no block {} (it is behind the events already read): try again later",
                            read.scanned_through
                        ))
                        .into());
                    }
                }
            }
            let from = progress.map_or(0, |p| p.scanned_through + 1);
            if from > head {
                break;
            }
            // Pages, as public RPC endpoints cap the range of one query.
            let to = head.min(from + LOG_PAGE_BLOCKS - 1);
            let before = hash_of(to).await?;
            let filter = Filter::new()
                .address(layer.message_root)
                .event_signature(vec![
                    MessageRoot::ExecutorSet::SIGNATURE_HASH,
                    MessageRoot::ChainBatchRootAdded::SIGNATURE_HASH,
                    MessageRoot::NewInteropRoot::SIGNATURE_HASH,
                ])
                .from_block(from)
                .to_block(to);
            let logs = within(timeout, "MessageRoot events", provider.get_logs(&filter)).await?;
            let after = hash_of(to).await?;
            let Some(hash) = after.filter(|_| before == after) else {
                // The page's last block changed (or went) while it was read: read it again
                // from a fresh head, a few times at most.
                unsettled_pages += 1;
                if unsettled_pages >= MAX_UNSETTLED_PAGES {
                    return Err(unexpected(format!(
                        "layer {id}'s blocks {from}..={to} kept changing while their MessageRoot events were read: try again later"
                    ))
                    .into());
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
                head = within(timeout, "the head", provider.get_block_number()).await?;
                continue;
            };
            // Frontiers of the chains this page extends, read before the write.
            for log in &logs {
                if let Ok(e) = MessageRoot::ChainBatchRootAdded::decode_log_data(log.data()) {
                    let chain: u64 = e.chainId.saturating_to();
                    if let std::collections::hash_map::Entry::Vacant(entry) =
                        self.trees.entry(chain)
                    {
                        let mut tree = IncrementalTree::default();
                        for leaf in store.mirror_leaves(id, chain, 0, u64::MAX)? {
                            tree.push(batch_leaf(leaf.batchNumber, leaf.batchRoot));
                        }
                        entry.insert(tree);
                    }
                }
            }
            let trees = &mut self.trees;
            let read = MirrorProgress { scanned_through: to, scanned_hash: hash };
            store.write(|tx| {
                for log in &logs {
                    let block = log.block_number.unwrap_or_default();
                    if let Ok(e) = MessageRoot::ExecutorSet::decode_log_data(log.data()) {
                        tx.mirror_add_chain(id, e.chainId.saturating_to(), block)?;
                    } else if let Ok(e) =
                        MessageRoot::ChainBatchRootAdded::decode_log_data(log.data())
                    {
                        let chain = e.chainId.saturating_to();
                        let number = e.batchNumber.saturating_to();
                        let tree = trees.entry(chain).or_default();
                        tree.push(batch_leaf(number, e.batchRoot));
                        let leaf = MirroredLeaf {
                            batchNumber: number,
                            batchRoot: e.batchRoot,
                            block,
                            treeRoot: tree.root(),
                        };
                        tx.mirror_push_leaf(id, chain, &leaf)?;
                    } else if let Ok(e) = MessageRoot::NewInteropRoot::decode_log_data(log.data()) {
                        tx.mirror_put_root(id, e.blockNumber.saturating_to(), e.root)?;
                    }
                }
                tx.mirror_set_progress(id, read)
            })?;
            progress = Some(read);
        }
        debug!(target: "settlement::interop", layer = id, head, "MessageRoot mirror refreshed");
        Ok(())
    }

    /// Forgets what was read of `layer` (a rebuilt root disagreed with the recorded one): the
    /// next refresh reads its events again.
    pub(super) fn forget(&mut self, store: &Store, layer: u64) -> SettlementResult<()> {
        self.trees.clear();
        store.write(|tx| tx.mirror_clear(layer))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use gateway_store::Store;

    use super::*;

    /// Writes a history by hand: chains 7 and 9 on layer 1, roots recorded as the contract
    /// would, and checks each placement's paths lead to the recorded root.
    #[test]
    fn a_placement_from_the_store_proves_against_the_recorded_root_at_each_block() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let mut trees: HashMap<u64, (IncrementalTree, Vec<B256>)> = HashMap::new();
        let mut order: Vec<u64> = Vec::new();
        // (block, chain, batch number)
        let history = [(2, 7, 1), (3, 9, 1), (3, 7, 2), (5, 7, 3), (6, 9, 2), (6, 9, 3)];
        for (block, chain, number) in history {
            store
                .write(|tx| {
                    if !order.contains(&chain) {
                        order.push(chain);
                        tx.mirror_add_chain(1, chain, block)?;
                    }
                    let (tree, leaves) = trees.entry(chain).or_default();
                    let root = B256::repeat_byte((chain * 16 + number) as u8);
                    tree.push(batch_leaf(number, root));
                    leaves.push(batch_leaf(number, root));
                    tx.mirror_push_leaf(
                        1,
                        chain,
                        &MirroredLeaf {
                            batchNumber: number,
                            batchRoot: root,
                            block,
                            treeRoot: tree.root(),
                        },
                    )?;
                    let shared = merkle_root(
                        &order
                            .iter()
                            .map(|c| chain_leaf(*c, trees[c].0.root()))
                            .collect::<Vec<_>>(),
                    );
                    tx.mirror_put_root(1, block, shared)
                })
                .unwrap();
        }
        for (block, chain, number) in history {
            for at in block..=7 {
                let placed = Mirror::place(&store, 1, chain, number, at).unwrap().unwrap();
                let (index, leaf) = store.mirror_batch(1, chain, number).unwrap().unwrap();
                assert_eq!(placed.batch_index, index);
                let chain_root = store.mirror_tree_root_at(1, chain, at).unwrap().unwrap();
                assert!(
                    gateway_primitives::verify_merkle_proof(
                        chain_root,
                        batch_leaf(number, leaf.batchRoot),
                        index as usize,
                        &placed.batch_path
                    ),
                    "chain {chain} batch {number} in its tree at block {at}"
                );
                assert!(
                    gateway_primitives::verify_merkle_proof(
                        placed.root,
                        chain_leaf(chain, chain_root),
                        placed.chain_index as usize,
                        &placed.chain_path
                    ),
                    "chain {chain} batch {number} at block {at}"
                );
                assert_eq!(
                    Some(placed.root),
                    store.mirror_root_at_or_before(1, at).unwrap().map(|(_, r)| r)
                );
            }
            if block > 2 {
                let err = Mirror::place(&store, 1, chain, number, block - 1).err().unwrap();
                assert!(err.to_string().contains("not in the tree"), "{err}");
            }
        }
        // A recorded root that the leaves do not rebuild is refused, naming both.
        store.write(|tx| tx.mirror_put_root(1, 7, B256::repeat_byte(0xee))).unwrap();
        let err = Mirror::place(&store, 1, 7, 1, 7).unwrap().err().unwrap().to_string();
        assert!(err.contains("the MessageRoot recorded"), "{err}");
    }
}
