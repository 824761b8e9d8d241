//! Stage 1, ingest: the ExEx's notification loop. Persists each block's settlement data (and in
//! gateway mode the chains' events in it) with the ExEx head in one store transaction, then
//! reports the finished height and wakes the seal stage. Nothing slow happens here; a reorg
//! unseals the batches over reverted blocks that were never committed.

use std::sync::Arc;

use alloy::{
    consensus::{BlockHeader as _, TxReceipt as _},
    eips::{BlockNumHash, Encodable2718},
    sol_types::SolEvent as _,
};
use exex_host::{Chain, ExExContext, ExExHead, ExExNotification};
use futures::{FutureExt as _, TryStreamExt};
use gateway_store::{BatchStage, BlockRecord, Halt, Store, StoreResult, StoreWriter};
use reth_primitives_traits::RecoveredBlock;
use tokio::sync::Notify;
use tracing::{error, info};

use eyre::WrapErr as _;

use crate::{
    config::SettlementConfig,
    error::{SettlementError, SettlementResult, UnlinkedBlock},
    gateway::Gateway,
};

/// The id the settlement ExEx persists its head under.
pub const SETTLEMENT_EXEX_ID: &str = "settlement";

/// At most this many notifications that are already waiting go into one store transaction
/// (one fsync): a backlog (a restart, a burst) is ingested in a few writes, and no block is
/// acknowledged before the transaction holding it is durable.
const MAX_NOTIFICATIONS_PER_WRITE: usize = 32;

/// What one block contributes to settlement.
pub fn block_record(
    config: &SettlementConfig,
    block: &RecoveredBlock<exex_host::Block>,
    receipts: &[exex_host::Receipt],
) -> BlockRecord {
    block_record_of(config, block, receipts, pubdata_len(block))
}

/// [`block_record`] with the block's pubdata size already known.
fn block_record_of(
    config: &SettlementConfig,
    block: &RecoveredBlock<exex_host::Block>,
    receipts: &[exex_host::Receipt],
    pubdata_bytes: u64,
) -> BlockRecord {
    let mut message_leaves = Vec::new();
    let mut imported_roots = Vec::new();
    let mut priority_ops = Vec::new();
    let interop_roots = config.interop.as_ref().map(|i| i.interop_roots);
    let inbox = config.inbox.as_ref().map(|i| i.address);
    for log in receipts.iter().flat_map(|r| r.logs()) {
        let topic = log.data.topics().first();
        if Some(log.address) == inbox
            && topic == Some(&gateway_contracts::L2Inbox::PriorityOpProcessed::SIGNATURE_HASH)
            && let Ok(processed) =
                gateway_contracts::L2Inbox::PriorityOpProcessed::decode_log_data(&log.data)
        {
            priority_ops.push(processed.opHash);
            continue;
        }
        if Some(log.address) == config.messenger
            && topic == Some(&gateway_contracts::L2Messenger::MessageSent::SIGNATURE_HASH)
        {
            message_leaves
                .push(gateway_primitives::message_leaf_of_log(log.address, &log.data.data));
        } else if Some(log.address) == interop_roots
            && topic == Some(&gateway_contracts::InteropRoots::RootImported::SIGNATURE_HASH)
            && let Ok(imported) =
                gateway_contracts::InteropRoots::RootImported::decode_log_data(&log.data)
        {
            imported_roots.push(gateway_store::ImportedRoot {
                gateway_block: imported.gatewayBlock.saturating_to(),
                root: imported.root,
            });
        }
    }
    BlockRecord {
        number: block.number(),
        hash: block.hash(),
        parent_hash: block.parent_hash(),
        timestamp: block.timestamp(),
        tx_count: block.body().transactions.len() as u32,
        gas_used: block.gas_used(),
        pubdata_bytes,
        message_leaves,
        imported_roots,
        priority_ops,
    }
}

/// How many bytes [`block_pubdata`] has for `block`, without encoding it.
fn pubdata_len(block: &RecoveredBlock<exex_host::Block>) -> u64 {
    block.body().transactions.iter().map(|t| t.encode_2718_len() as u64).sum()
}

/// The bytes a block publishes under a rollup DA scheme: its transactions, EIP-2718 encoded, in
/// order (a stand-in for state diffs).
pub fn block_pubdata(block: &RecoveredBlock<exex_host::Block>) -> Vec<u8> {
    let transactions = &block.body().transactions;
    let mut out = Vec::with_capacity(transactions.iter().map(|t| t.encode_2718_len()).sum());
    for transaction in transactions {
        transaction.encode_2718(&mut out);
    }
    out
}

/// How many times a first run reads the chain's genesis block before it gives up.
const GENESIS_TRIES: u32 = 30;

/// Runs the ExEx until the host stops: applies notifications to the store and wakes the seal
/// stage (`seal`).
pub async fn run_exex(
    mut ctx: ExExContext,
    config: Arc<SettlementConfig>,
    store: Arc<Store>,
    seal: Arc<Notify>,
) -> eyre::Result<()> {
    let gateway = config.gateway.clone().map(Gateway::new);
    let head = match store.head(SETTLEMENT_EXEX_ID)? {
        Some(head) => {
            info!(target: "settlement::ingest", head = head.number, "resuming after the persisted head");
            head
        }
        // A first run settles the chain from its first block, whatever the node's tip: the
        // host backfills every block after genesis before the live ones.
        None => {
            let mut tries = 0;
            let genesis = loop {
                match ctx.provider().canonical_hash(0).await {
                    Err(err) if err.is_transient() && tries < GENESIS_TRIES => {
                        tries += 1;
                        tracing::warn!(target: "settlement::ingest", %err, tries, "reading the chain's genesis block failed: trying again");
                        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                    }
                    read => break read,
                }
            };
            let genesis = genesis
                .wrap_err("settlement's first run reads the chain's genesis block")?
                .ok_or_else(|| {
                    eyre::eyre!(
                        "the followed node does not serve the chain's genesis block: settlement needs every block from 1 (follow an archive node)"
                    )
                })?;
            let genesis = BlockNumHash::new(0, genesis);
            info!(target: "settlement::ingest", genesis = %genesis.hash, "first run: settling the chain from block 1 (blocks the node already has are backfilled)");
            genesis
        }
    };
    ctx.set_notifications_with_head(ExExHead::new(head));
    // The block the next committed one must follow: a gap or a fork in what the host delivers
    // is an error, never a silent hole in the store.
    let mut linked = head;
    while let Some(first) = ctx.notifications.try_next().await.wrap_err_with(|| {
        format!("settlement needs the chain's blocks from block {} on", linked.number + 1)
    })? {
        // The notifications already waiting join the first in one transaction; an error
        // after them is returned once they are stored.
        let mut waiting = vec![first];
        let mut failed = None;
        while waiting.len() < MAX_NOTIFICATIONS_PER_WRITE {
            match ctx.notifications.try_next().now_or_never() {
                Some(Ok(Some(next))) => waiting.push(next),
                Some(Err(err)) => {
                    failed = Some(err);
                    break;
                }
                Some(Ok(None)) | None => break,
            }
        }
        // What the blocks contribute is computed before the write lock is taken.
        let prepared: Vec<Prepared<'_>> =
            waiting.iter().map(|notification| prepare(&config, notification)).collect();
        for prepared in &prepared {
            linked = check_links(linked, prepared)?;
        }
        let head = store.write(|tx| {
            let mut head = None;
            for prepared in &prepared {
                head = apply(tx, gateway.as_ref(), prepared)?.or(head);
            }
            if let Some(head) = head {
                tx.set_head(SETTLEMENT_EXEX_ID, head)?;
            }
            Ok(head)
        })?;
        if let Some(head) = head {
            ctx.send_finished_height(head)?;
        }
        seal.notify_one();
        if let Some(err) = failed {
            return Err(err);
        }
    }
    Ok(())
}

/// One notification, with each committed block's record and pubdata computed.
struct Prepared<'a> {
    notification: &'a ExExNotification,
    blocks: Vec<(BlockRecord, Option<Vec<u8>>)>,
}

fn prepare<'a>(config: &SettlementConfig, notification: &'a ExExNotification) -> Prepared<'a> {
    let blocks = notification
        .committed_chain()
        .map(|new| {
            new.blocks_and_receipts()
                .map(|(block, receipts)| {
                    let pubdata = config.da.publishes_pubdata().then(|| block_pubdata(block));
                    let bytes =
                        pubdata.as_ref().map_or_else(|| pubdata_len(block), |p| p.len() as u64);
                    (block_record_of(config, block, receipts, bytes), pubdata)
                })
                .collect()
        })
        .unwrap_or_default();
    Prepared { notification, blocks }
}

/// Checks that `prepared`'s committed blocks follow `after` (or the fork point it reverts to),
/// each the child of the one before; returns the block the next notification must follow.
fn check_links(after: BlockNumHash, prepared: &Prepared<'_>) -> SettlementResult<BlockNumHash> {
    let mut linked = prepared.notification.reverted_chain().map_or(after, |old| old.fork_block());
    for (record, _) in &prepared.blocks {
        if record.number != linked.number + 1 || record.parent_hash != linked.hash {
            return Err(SettlementError::UnlinkedBlock(Box::new(UnlinkedBlock {
                number: record.number,
                hash: record.hash,
                parent_hash: record.parent_hash,
                expected: linked,
            })));
        }
        linked = BlockNumHash::new(record.number, record.hash);
    }
    Ok(linked)
}

/// Applies one notification in `tx`; returns the head it leaves the ExEx at.
fn apply(
    tx: &mut StoreWriter<'_>,
    gateway: Option<&Gateway>,
    prepared: &Prepared<'_>,
) -> StoreResult<Option<BlockNumHash>> {
    let notification = prepared.notification;
    let mut head = None;
    if let Some(old) = notification.reverted_chain() {
        revert(tx, &old)?;
        head = Some(old.fork_block());
    }
    if let Some(new) = notification.committed_chain() {
        for ((record, pubdata), (block, receipts)) in
            prepared.blocks.iter().zip(new.blocks_and_receipts())
        {
            tx.put_block(record)?;
            if let Some(pubdata) = pubdata {
                tx.put_block_pubdata(record.number, pubdata)?;
            }
            if let Some(gateway) = gateway {
                gateway.record_block(tx, block, receipts)?;
            }
        }
        head = Some(new.tip().num_hash());
    }
    Ok(head)
}

/// Drops reverted blocks. Batches that hold them are unsealed if never committed; a reorg below a
/// committed batch cannot be undone here and raises an alarm.
fn revert(tx: &mut StoreWriter<'_>, old: &Chain) -> StoreResult<()> {
    let first = old.first().number();
    // A batch a commit transaction was sent for may be committed already (mined, and the
    // sender has not seen it yet): it counts as committed.
    let in_flight = tx.in_flight()?;
    // (Only a signed one: a record without a hash was never broadcast, and the sender checks
    // the batches again when it signs.)
    let maybe_committed = |number: u64| {
        in_flight.as_ref().is_some_and(|sent| {
            sent.hash != alloy::primitives::B256::ZERO && (sent.from..=sent.to).contains(&number)
        })
    };
    let mut unseal_from = None;
    let mut number = tx.last_batch()?.map(|b| b.number).unwrap_or_default();
    while number > 0 {
        let Some(batch) = tx.batch(number)? else { break };
        if batch.last_block < first {
            break;
        }
        if batch.stage >= BatchStage::Committed || maybe_committed(number) {
            metrics::counter!("settlement_reorg_below_committed_total").increment(1);
            // Every batch from here down that holds a replaced block is on the settlement
            // layer: the lowest one is where the layer and the chain part.
            let mut lowest = batch;
            while lowest.number > 1 {
                match tx.batch(lowest.number - 1)? {
                    Some(below) if below.last_block >= first => lowest = below,
                    _ => break,
                }
            }
            // Nothing more is sealed or sent until the operator acts: proving or executing a
            // batch of blocks the chain no longer has would settle a fork that does not exist.
            let halt = Halt {
                batch: lowest.number,
                first_reverted_block: first,
                executed: lowest.stage == BatchStage::Executed,
            };
            if tx.halt()?.is_none_or(|old| old.batch > halt.batch) {
                tx.set_halt(Some(&halt))?;
            }
            error!(
                target: "settlement::ingest",
                batch = halt.batch,
                stage = lowest.stage.as_str(),
                commit_in_flight = maybe_committed(number),
                first_reverted_block = first,
                "the chain reorged below a committed batch: settlement is halted ({})",
                crate::status::halt_advice(&halt)
            );
            break;
        }
        unseal_from = Some(number);
        number -= 1;
    }
    if let Some(from) = unseal_from {
        let removed = tx.remove_batches_from(from)?;
        metrics::counter!("settlement_reorg_below_sealed_total").increment(1);
        metrics::counter!("settlement_batches_unsealed_total").increment(removed as u64);
        error!(
            target: "settlement::ingest",
            from,
            removed,
            first_reverted_block = first,
            "the chain reorged below a sealed batch: unsealed (it was never committed) to be rebuilt over the new blocks"
        );
    }
    tx.remove_blocks_from(first)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use exex_host::TestChain;

    use super::*;

    fn committed(new: Arc<Chain>) -> ExExNotification {
        ExExNotification::ChainCommitted { new }
    }

    #[test]
    fn only_blocks_that_follow_the_last_one_held_are_taken() {
        let config = SettlementConfig::new(
            270,
            Default::default(),
            crate::SettlementLayerEndpoint {
                chain_id: 506,
                rpc_url: "http://127.0.0.1:1".parse().unwrap(),
                executor: Default::default(),
            },
            crate::OperatorKey::new(""),
        );
        let chain = TestChain::new();
        let genesis = chain.tip();
        let first = committed(chain.commit(3, 1));
        let after_a_gap = {
            chain.commit(2, 0);
            committed(Arc::new(chain.chain(5..=5).unwrap()))
        };
        let linked = check_links(genesis, &prepare(&config, &first)).unwrap();
        assert_eq!(linked, chain.block(3).unwrap());
        // Block 5 after block 3: a gap (block 4 never delivered).
        let err = check_links(linked, &prepare(&config, &after_a_gap)).unwrap_err();
        assert!(
            matches!(&err, SettlementError::UnlinkedBlock(u) if u.number == 5 && u.expected.number == 3),
            "{err}"
        );
        // The same blocks again after block 3 (a fork the host did not revert first).
        let err = check_links(linked, &prepare(&config, &first)).unwrap_err();
        assert!(err.to_string().contains("does not follow block 3"), "{err}");
        // A revert first lowers what the next block must follow.
        let (old, new) = chain.reorg(2, 2, 0);
        let reorged = ExExNotification::ChainReorged { old, new };
        let tip = check_links(chain.block(5).unwrap(), &prepare(&config, &reorged)).unwrap();
        assert_eq!(tip, chain.tip());
        // ...and a commit on a stale parent, after the reorg, is refused.
        assert!(check_links(tip, &prepare(&config, &after_a_gap)).is_err());
    }
}
