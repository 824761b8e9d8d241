//! An ExEx that persists every block it sees and its head in one store transaction per
//! notification, refusing a commit that does not build on its head (a gap or a duplicate) and
//! a revert of blocks it does not have.

use std::sync::Arc;

use alloy::consensus::BlockHeader as _;
use exex_host::{ExExContext, ExExHead, ExExNotification};
use futures::TryStreamExt;
use gateway_store::{BlockRecord, Store, StoreError};
use tokio::sync::mpsc;

/// The id the store ExEx persists its head under.
pub const STORE_EXEX_ID: &str = "store-exex";

/// Runs the ExEx: resumes from the store's head, applies notifications, reports finished
/// heights. Each applied notification is also sent to `observer`, if given.
pub async fn store_exex(
    mut ctx: ExExContext,
    store: Arc<Store>,
    observer: Option<mpsc::UnboundedSender<ExExNotification>>,
) -> eyre::Result<()> {
    if let Some(head) = store.head(STORE_EXEX_ID)? {
        ctx.set_notifications_with_head(ExExHead::new(head));
    }
    while let Some(notification) = ctx.notifications.try_next().await? {
        let head = store.write(|tx| {
            let mut head = None;
            if let Some(old) = notification.reverted_chain() {
                let first = old.first().number();
                for block in old.blocks_iter() {
                    let stored = tx.block(block.number())?;
                    if stored.map(|s| s.hash) != Some(block.hash()) {
                        return Err(corrupt(
                            block.number(),
                            "revert of a block the ExEx does not have",
                        ));
                    }
                }
                tx.remove_blocks_from(first)?;
                head = Some(old.fork_block());
            }
            if let Some(new) = notification.committed_chain() {
                let fork = new.fork_block();
                if fork.number > 0 {
                    let parent = tx.block(fork.number)?;
                    if parent.map(|p| p.hash) != Some(fork.hash) {
                        return Err(corrupt(
                            new.first().number(),
                            "commit does not build on the stored chain",
                        ));
                    }
                }
                if tx.block(new.first().number())?.is_some() {
                    return Err(corrupt(new.first().number(), "block committed twice"));
                }
                for (block, receipts) in new.blocks_and_receipts() {
                    tx.put_block(&BlockRecord {
                        number: block.number(),
                        hash: block.hash(),
                        parent_hash: block.parent_hash(),
                        timestamp: block.timestamp(),
                        tx_count: receipts.len() as u32,
                        gas_used: block.gas_used(),
                        ..Default::default()
                    })?;
                }
                head = Some(new.tip().num_hash());
            }
            if let Some(head) = head {
                tx.set_head(STORE_EXEX_ID, head)?;
            }
            Ok(head)
        })?;
        if let Some(head) = head {
            ctx.send_finished_height(head)?;
        }
        if let Some(observer) = &observer {
            let _ = observer.send(notification);
        }
    }
    Ok(())
}

fn corrupt(number: u64, reason: &str) -> StoreError {
    StoreError::Corrupt { table: "blocks", key: number.to_string(), reason: reason.into() }
}
