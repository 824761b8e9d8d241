//! A `MessageRoot`'s history rebuilt from its events, to place a batch in its trees at some
//! block (message proofs).

use std::{collections::BTreeMap, time::Duration};

use alloy::{
    primitives::B256,
    providers::{DynProvider, Provider},
    rpc::types::Filter,
    sol_types::SolEvent,
};
use gateway_contracts::MessageRoot;
use gateway_primitives::{batch_leaf, chain_leaf, merkle_proof, merkle_root};
use tracing::debug;

use crate::{config::MessageRootSource, error::LayerCall, support::within};

/// Blocks per `eth_getLogs` query.
const LOG_PAGE_BLOCKS: u64 = 10_000;

/// A `MessageRoot`'s history rebuilt from its events.
#[derive(Debug, Default)]
pub(super) struct Mirror {
    pub(super) scanned_through: Option<u64>,
    /// The hash of that block, to notice a reorg below it.
    scanned_hash: Option<B256>,
    /// Chains in the order they were added, with the block they were added in.
    chains: Vec<(u64, u64)>,
    /// Per chain: `(batch number, batch root, block)` in the order they were added.
    batches: BTreeMap<u64, Vec<(u64, B256, u64)>>,
    /// `(block, root)` of every `NewInteropRoot`, ascending.
    pub(super) roots: Vec<(u64, B256)>,
}

/// How far down a proof's batch sits in a `MessageRoot` at some block.
pub(super) struct Placement {
    pub(super) batch_index: u64,
    pub(super) batch_path: Vec<B256>,
    pub(super) chain_index: u64,
    pub(super) chain_path: Vec<B256>,
    pub(super) root: B256,
}

impl Mirror {
    /// The trees as of the end of `block`; checks the rebuilt root against the event's.
    pub(super) fn place(
        &self,
        chain_id: u64,
        batch_number: u64,
        block: u64,
    ) -> Result<Placement, String> {
        let batches = self.batches.get(&chain_id).map(Vec::as_slice).unwrap_or_default();
        let batch_index = batches
            .iter()
            .position(|(n, _, at)| *n == batch_number && *at <= block)
            .ok_or_else(|| {
                format!(
                    "batch {batch_number} of chain {chain_id} is not in the tree at block {block}"
                )
            })?;
        let chain_leaves: Vec<B256> = self
            .chains
            .iter()
            .filter(|(_, added)| *added <= block)
            .map(|(id, _)| {
                let leaves: Vec<B256> = self
                    .batches
                    .get(id)
                    .into_iter()
                    .flatten()
                    .filter(|(_, _, at)| *at <= block)
                    .map(|(n, root, _)| batch_leaf(*n, *root))
                    .collect();
                chain_leaf(*id, merkle_root(&leaves))
            })
            .collect();
        let chain_index = self
            .chains
            .iter()
            .filter(|(_, added)| *added <= block)
            .position(|(id, _)| *id == chain_id)
            .ok_or_else(|| {
                format!("chain {chain_id} is not in the shared tree at block {block}")
            })?;
        let own: Vec<B256> = batches
            .iter()
            .filter(|(_, _, at)| *at <= block)
            .map(|(n, root, _)| batch_leaf(*n, *root))
            .collect();
        let root = merkle_root(&chain_leaves);
        let recorded = self.roots.iter().rev().find(|(at, _)| *at <= block).map(|(_, r)| *r);
        if recorded != Some(root) {
            return Err(format!(
                "the rebuilt interop root at block {block} is {root}, the MessageRoot recorded {recorded:?}"
            ));
        }
        Ok(Placement {
            batch_index: batch_index as u64,
            batch_path: merkle_proof(&own, batch_index).unwrap_or_default(),
            chain_index: chain_index as u64,
            chain_path: merkle_proof(&chain_leaves, chain_index).unwrap_or_default(),
            root,
        })
    }

    /// The block where `chain_id`'s batch `batch_number` was added, if it was.
    pub(super) fn added_at(&self, chain_id: u64, batch_number: u64) -> Option<u64> {
        self.batches
            .get(&chain_id)?
            .iter()
            .find(|(n, _, _)| *n == batch_number)
            .map(|(_, _, at)| *at)
    }

    /// Reads `layer`'s events since the last refresh (all of them again after a reorg below
    /// what was read).
    pub(super) async fn refresh(
        &mut self,
        layer: &MessageRootSource,
        provider: &DynProvider,
        timeout: Duration,
    ) -> Result<(), LayerCall> {
        let head = within(timeout, "the head", provider.get_block_number()).await?;
        // A reorg below what was scanned: start over (rare; the events are cheap to read).
        if let (Some(scanned), Some(hash)) = (self.scanned_through, self.scanned_hash) {
            let block =
                within(timeout, "a block", provider.get_block_by_number(scanned.into())).await?;
            if block.map(|b| b.header.hash) != Some(hash) {
                tracing::warn!(target: "settlement::interop", layer = layer.chain_id, scanned, "the layer reorged below the mirrored events: reading them again");
                *self = Self::default();
            }
        }
        let mut from = self.scanned_through.map_or(0, |s| s + 1);
        while from <= head {
            // Pages, as public RPC endpoints cap the range of one query.
            let to = head.min(from + LOG_PAGE_BLOCKS - 1);
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
            for log in logs {
                let block = log.block_number.unwrap_or_default();
                if let Ok(e) = MessageRoot::ExecutorSet::decode_log_data(log.data()) {
                    let id = e.chainId.saturating_to();
                    if !self.chains.iter().any(|(c, _)| *c == id) {
                        self.chains.push((id, block));
                    }
                } else if let Ok(e) = MessageRoot::ChainBatchRootAdded::decode_log_data(log.data())
                {
                    self.batches.entry(e.chainId.saturating_to()).or_default().push((
                        e.batchNumber.saturating_to(),
                        e.batchRoot,
                        block,
                    ));
                } else if let Ok(e) = MessageRoot::NewInteropRoot::decode_log_data(log.data()) {
                    self.roots.push((e.blockNumber.saturating_to(), e.root));
                }
            }
            from = to + 1;
        }
        self.scanned_hash =
            within(timeout, "the head block", provider.get_block_by_number(head.into()))
                .await?
                .map(|b| b.header.hash);
        self.scanned_through = Some(head);
        debug!(target: "settlement::interop", layer = layer.chain_id, head, "MessageRoot mirror refreshed");
        Ok(())
    }
}
