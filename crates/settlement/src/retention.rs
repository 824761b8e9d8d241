//! Retention: what settled batches no longer need leaves the store once they are L1-final and
//! `--settlement.retention` has passed since their last block's timestamp: their blocks (with pubdata)
//! and the batch records below the newest such batch (kept: the next commit builds on it); in
//! gateway mode also the chain batches' proofs the Gateway batches below it carried, and the
//! chains' events of its Gateway blocks, folded into one summary entry. The send
//! stage prunes in the same store transaction that moves the stages to the executor's
//! counters.
//!
//! What is pruned cannot be served any more: a message in a pruned block has no
//! `interop_getMessageProof` from this node (the reason says so).

use std::time::Duration;

use gateway_store::{Pruned, Store, StoreResult, StoreWriter};

use crate::{commitment::decode_commit_info, error::SettlementResult, state::L1Final};

/// What one prune removes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Prune {
    /// Blocks at or below this go (the last block of the newest prunable batch).
    pub(crate) blocks_through: u64,
    /// Batch records below this go (the newest prunable batch stays).
    pub(crate) batches_below: u64,
    /// The lowest batch stored before this prune.
    pub(crate) first_batch: u64,
}

impl Prune {
    /// Removes it in `tx`; `gateway` in gateway mode (the carried chain batches' proofs go
    /// too).
    pub(crate) fn apply(
        &self,
        tx: &mut StoreWriter<'_>,
        gateway_checkpoint: Option<&[u8]>,
    ) -> StoreResult<Pruned> {
        if let Some(checkpoint) = gateway_checkpoint {
            tx.prune_gateway_chain_proofs(self.first_batch..self.batches_below)?;
            tx.compact_gateway_block_events_through(self.blocks_through)?;
            // The pruned Gateway batches' contents go; what L1 holds after them stays.
            if let Some(through) = self.batches_below.checked_sub(1).filter(|t| *t > 0) {
                tx.prune_gateway_batch_contents(through, checkpoint)?;
            }
        }
        tx.prune_settled(self.blocks_through, self.batches_below)
    }
}

/// At most this many batches are read (and pruned) per call: a node that turns retention on
/// over a long history catches up in steps, never in one long store transaction.
const MAX_BATCHES_PER_PRUNE: u64 = 1_000;

/// What may be pruned now: batches that `finality` holds L1-final with `keep` more final
/// batches above them (a reorg of the settlement layer can undo the newest executions, and
/// those batches must be sent again), and whose last block is `retention` older than `now`
/// (Unix time). `None` when nothing new may go.
pub(crate) fn plan(
    store: &Store,
    finality: &L1Final,
    keep: u64,
    retention: Duration,
    now: Duration,
) -> SettlementResult<Option<Prune>> {
    let Some(first) = store.first_batch()? else { return Ok(None) };
    let cutoff = now.saturating_sub(retention).as_secs();
    let mut newest = None;
    // Batches are in time order: the scan stops at the first one too young or not final, so
    // it reads only what it prunes, plus one.
    for number in first.number..first.number.saturating_add(MAX_BATCHES_PER_PRUNE) {
        let Some(batch) = store.batch(number)? else { break };
        if !finality.holds(&batch, keep) || decode_commit_info(&batch)?.lastBlockTimestamp > cutoff
        {
            break;
        }
        newest = Some(batch);
    }
    let Some(newest) = newest else { return Ok(None) };
    if newest.number == first.number && store.block(newest.first_block)?.is_none() {
        return Ok(None);
    }
    Ok(Some(Prune {
        blocks_through: newest.last_block,
        batches_below: newest.number,
        first_batch: first.number,
    }))
}

#[cfg(test)]
mod tests {
    use alloy::sol_types::SolValue as _;
    use gateway_store::{BatchRecord, BatchStage, BlockRecord};

    use super::*;
    use crate::commitment::commit_info;

    /// Six batches of two blocks each; block `n` is at time `10 * n`.
    fn store_with_batches() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let config = crate::config::offline_config();
        store
            .write(|tx| {
                for n in 1..=12u64 {
                    tx.put_block(&BlockRecord {
                        number: n,
                        timestamp: 10 * n,
                        ..Default::default()
                    })?;
                    tx.put_block_pubdata(n, &[n as u8; 100])?;
                }
                for b in 1..=6u64 {
                    let blocks: Vec<BlockRecord> = (2 * b - 1..=2 * b)
                        .map(|n| BlockRecord { number: n, timestamp: 10 * n, ..Default::default() })
                        .collect();
                    let info = commit_info(&config, b, &blocks, config.da, Default::default());
                    tx.put_batch(&BatchRecord {
                        number: b,
                        first_block: 2 * b - 1,
                        last_block: 2 * b,
                        sl_chain_id: 506,
                        stage: BatchStage::Executed,
                        commit_info: info.abi_encode(),
                        proof: Vec::new(),
                    })?;
                }
                Ok(())
            })
            .unwrap();
        (dir, store)
    }

    #[test]
    fn only_l1_final_batches_past_retention_are_pruned_and_the_newest_of_them_stays() {
        let (_dir, store) = store_with_batches();
        let retention = Duration::from_secs(50);
        // At time 130, blocks up to time 80 (block 8, batch 4) are past retention, but only
        // batches through 3 are L1-final.
        // Keeping one more executed batch than that: batch 2 is the newest that may go.
        let kept = plan(&store, &L1Final::on_l1(3), 1, retention, Duration::from_secs(130));
        assert_eq!(kept.unwrap().unwrap().batches_below, 2);
        let first = plan(&store, &L1Final::on_l1(3), 0, retention, Duration::from_secs(130))
            .unwrap()
            .unwrap();
        assert_eq!(first, Prune { blocks_through: 6, batches_below: 3, first_batch: 1 });
        let pruned = store.write(|tx| first.apply(tx, None)).unwrap();
        assert_eq!(pruned, Pruned { blocks: 6, batches: 2 });
        assert_eq!(store.first_batch().unwrap().unwrap().number, 3, "batch 3 stays");
        assert_eq!(store.blocks(0..=12).unwrap().first().map(|b| b.number), Some(7));
        assert!(store.pubdata(7..=12).is_ok(), "younger pubdata stays");
        assert!(store.pubdata(6..=6).is_err(), "pruned pubdata is gone");
        assert_eq!(
            crate::commitment::stored_info(&store, &crate::config::offline_config(), 3)
                .unwrap()
                .batchNumber,
            3,
            "the next commit still builds on the newest pruned-through batch"
        );
        // Nothing new: the same plan again is none.
        assert_eq!(
            plan(&store, &L1Final::on_l1(3), 0, retention, Duration::from_secs(130)).unwrap(),
            None
        );

        // Later everything is final, but the retention keeps what is younger than 50 s.
        let later = plan(&store, &L1Final::on_l1(6), 0, retention, Duration::from_secs(150))
            .unwrap()
            .unwrap();
        assert_eq!(later, Prune { blocks_through: 10, batches_below: 5, first_batch: 3 });
        // Nothing is past retention: nothing goes, final or not.
        let (_dir, fresh) = store_with_batches();
        assert_eq!(
            plan(&fresh, &L1Final::on_l1(6), 0, retention, Duration::from_secs(60)).unwrap(),
            None
        );
    }
}
