//! The Bridgehub's side of a move that keeps L1 -> L2 transactions: the admin's request that
//! opens it (from then on the Bridgehub parks the chain's new operations, so the old layer's
//! queue can only shrink and the drain ends), its cancellation when the node gives the move
//! up, and the forwarding of what was parked to the layer the chain settles on afterwards.

use alloy::{primitives::U256, providers::Provider, rpc::types::Filter, sol_types::SolEvent};
use gateway_contracts::Bridgehub;
use gateway_store::{MigrationPhase, MigrationRecord};

use super::{Advance, MigrationError, Migrator, Who};
use crate::config::LayerKind;

/// `stepsDone` bit: nothing is left to tidy after the migration ended (no request of it open
/// on the Bridgehub, nothing parked waiting to be forwarded).
pub(crate) const STEP_TIDY: u8 = 2;
/// `stepsDone` bit of a cancelled migration: the node gave it up because the chain's admin
/// cancelled the move on the Bridgehub (without it, it was cancelled through the node's RPC).
pub(crate) const STEP_GIVEN_UP: u8 = 4;
/// `stepsDone` bit of a cancelled migration: the node gave it up because priority operations
/// of the old layer's queue stayed unprocessed past `--settlement.migration-priority-ops-timeout`.
pub(crate) const STEP_TIMED_OUT: u8 = 8;
/// The most parked operations one `forwardParked` transaction routes.
const MAX_FORWARDED_PER_TX: u64 = 32;

impl Migrator {
    /// The move `record` asks for must be open on the Bridgehub before the drain: `None` once
    /// it is (or the Bridgehub already has the chain on the target), else the step taken.
    pub(crate) async fn request_move(
        &self,
        record: &mut MigrationRecord,
        to: LayerKind,
    ) -> Result<Option<Advance>, MigrationError> {
        if let Some(waiting) = self.settle_pending_tx(record).await? {
            return Ok(Some(Advance::Waiting(waiting)));
        }
        let chain = U256::from(self.base.chain_id);
        let bridgehub = self.bridgehub();
        let requested: u64 = self
            .read("Bridgehub.migrationRequested", bridgehub.migrationRequested(chain).call())
            .await?
            .saturating_to();
        if requested == record.toLayer || self.bridgehub_layer().await? == record.toLayer {
            return Ok(None);
        }
        if requested != 0 {
            return Err(MigrationError::OnChain(format!(
                "the Bridgehub has a move of chain {} to {requested} open, not to this migration's target {}: cancel this migration, or the chain admin cancels that move (Bridgehub.cancelMigration)",
                self.base.chain_id, record.toLayer
            )));
        }
        let advance = match to {
            LayerKind::Gateway => {
                let call = bridgehub.startMigrationToGateway(chain, U256::from(record.toLayer));
                self.send(
                    record,
                    Who::Admin(LayerKind::L1),
                    "Bridgehub.startMigrationToGateway",
                    call,
                    0,
                )
                .await?
            }
            LayerKind::L1 => {
                let call = bridgehub.startMigrationFromGateway(chain);
                self.send(
                    record,
                    Who::Admin(LayerKind::L1),
                    "Bridgehub.startMigrationFromGateway",
                    call,
                    0,
                )
                .await?
            }
        };
        Ok(Some(advance))
    }

    /// Draining off the Gateway: how many L1 -> L2 transactions the Bridgehub routed to the
    /// chain through the Gateway and the Gateway's node has not yet forwarded to the chain's
    /// executor there (its executor must not be deactivated before they arrive).
    pub(crate) async fn unforwarded_through_gateway(&self) -> Result<u64, MigrationError> {
        let chain = U256::from(self.base.chain_id);
        let gateway = U256::from(self.config.gateway.chain_id);
        let routed: u64 = self
            .read("Bridgehub.opsRoutedVia", self.bridgehub().opsRoutedVia(chain, gateway).call())
            .await?
            .saturating_to();
        let forwarded: u64 = self
            .read(
                "ChainExecutor.totalPriorityOps",
                self.executor_on(LayerKind::Gateway).totalPriorityOps().call(),
            )
            .await?
            .saturating_to();
        Ok(routed.saturating_sub(forwarded))
    }

    /// After a migration ended: cancels its request on the Bridgehub when it was given up, then
    /// forwards what the Bridgehub parked meanwhile. `Completed` when nothing is left to do.
    pub(crate) async fn tidy(
        &self,
        record: &mut MigrationRecord,
    ) -> Result<Advance, MigrationError> {
        if let Some(waiting) = self.settle_pending_tx(record).await? {
            return Ok(Advance::Waiting(waiting));
        }
        let chain = U256::from(self.base.chain_id);
        let bridgehub = self.bridgehub();
        let requested: u64 = self
            .read("Bridgehub.migrationRequested", bridgehub.migrationRequested(chain).call())
            .await?
            .saturating_to();
        if requested != 0 {
            if record.migration_phase()? == MigrationPhase::Cancelled && requested == record.toLayer
            {
                let call = bridgehub.cancelMigration(chain);
                return self
                    .send(record, Who::Admin(LayerKind::L1), "Bridgehub.cancelMigration", call, 0)
                    .await;
            }
            // A move this node did not ask for is open: what is parked waits for it (looked at
            // again later).
            return Ok(Advance::Waiting(format!(
                "a move of the chain to {requested} this node did not ask for is open on the Bridgehub"
            )));
        }
        let counts =
            self.read("Bridgehub.parkedCount", bridgehub.parkedCount(chain).call()).await?;
        let (forwarded, total): (u64, u64) =
            (counts.forwarded.saturating_to(), counts.total.saturating_to());
        if forwarded >= total {
            return self.tidied(record);
        }
        let ops = self.parked_ops(forwarded, total.min(forwarded + MAX_FORWARDED_PER_TX)).await?;
        tracing::info!(target: "settlement::migration", id = record.id, from = forwarded, count = ops.len(), parked = total, "forwarding the L1 -> L2 transactions parked during the migration");
        let call = bridgehub.forwardParked(chain, ops);
        self.send(record, Who::Admin(LayerKind::L1), "Bridgehub.forwardParked", call, 0).await
    }

    /// Marks `record` tidy: nothing to do for it any more.
    fn tidied(&self, record: &mut MigrationRecord) -> Result<Advance, MigrationError> {
        record.stepsDone |= STEP_TIDY;
        self.persist(record)?;
        Ok(Advance::Completed)
    }

    /// The chain's parked operations `from..to`, from the Bridgehub's `L2TransactionParked`
    /// events.
    async fn parked_ops(
        &self,
        from: u64,
        to: u64,
    ) -> Result<Vec<Bridgehub::ParkedOp>, MigrationError> {
        let filter = Filter::new()
            .address(self.config.bridgehub)
            .event_signature(Bridgehub::L2TransactionParked::SIGNATURE_HASH)
            .topic1(U256::from(self.base.chain_id))
            .from_block(0);
        let logs =
            self.read("Bridgehub parked operations", self.l1_admin.get_logs(&filter)).await?;
        let mut ops: Vec<(u64, Bridgehub::ParkedOp)> = Vec::new();
        for log in &logs {
            let event = Bridgehub::L2TransactionParked::decode_log(&log.inner).map_err(|err| {
                MigrationError::OnChain(format!(
                    "an L2TransactionParked event does not decode: {err}"
                ))
            })?;
            let index: u64 = event.index.saturating_to();
            if (from..to).contains(&index) {
                ops.push((
                    index,
                    Bridgehub::ParkedOp {
                        sender: event.sender,
                        data: event.data.data.clone(),
                        fee: event.fee,
                    },
                ));
            }
        }
        ops.sort_by_key(|(index, _)| *index);
        ops.dedup_by_key(|(index, _)| *index);
        if ops.len() as u64 != to - from || ops.first().map(|(i, _)| *i) != Some(from) {
            return Err(MigrationError::OnChain(format!(
                "the Bridgehub's events hold {} of the chain's parked operations {from}..{to}: is the L1 node pruned?",
                ops.len()
            )));
        }
        Ok(ops.into_iter().map(|(_, op)| op).collect())
    }
}

impl Migrator {
    /// Migrating while the Bridgehub still has the chain on the old layer: `None` while it
    /// holds the move open; else the move was cancelled there (by the chain's admin), and the
    /// node gives the migration up, first reactivating the chain's Gateway executor if the
    /// relayer had deactivated it (the chain settles there again).
    pub(super) async fn cancelled_on_bridgehub(
        &self,
        record: &mut MigrationRecord,
        last: &gateway_primitives::StoredBatchInfo,
    ) -> Result<Option<Advance>, MigrationError> {
        let chain = U256::from(self.base.chain_id);
        let requested: u64 = self
            .read("Bridgehub.migrationRequested", self.bridgehub().migrationRequested(chain).call())
            .await?
            .saturating_to();
        if requested == record.toLayer {
            return Ok(None);
        }
        if record.fromLayer == self.config.gateway.chain_id {
            let on_gateway = self.executor_on(LayerKind::Gateway);
            if !self.read("active", on_gateway.active().call()).await? {
                let Some((_, gateway_relayer)) = &self.relayer else {
                    return Ok(Some(Advance::Waiting(
                        "the move was cancelled on the Bridgehub: the Gateway's relayer to reactivate the chain's executor there".into(),
                    )));
                };
                let executor = gateway_contracts::ChainExecutor::new(
                    self.config.gateway.executor,
                    gateway_relayer.clone(),
                );
                let call = executor.activate(
                    gateway_contracts::convert(last)
                        .map_err(crate::error::SettlementError::from)?,
                );
                return Ok(Some(
                    self.send(
                        record,
                        Who::Relayer(LayerKind::Gateway),
                        "reactivate on the Gateway",
                        call,
                        0,
                    )
                    .await?,
                ));
            }
        }
        Ok(Some(Advance::Abandoned(
            MigrationError::CancelledOnBridgehub {
                id: record.id,
                chain_id: self.base.chain_id,
                target: record.toLayer,
                stays_on: record.fromLayer,
            }
            .to_string(),
        )))
    }
}
