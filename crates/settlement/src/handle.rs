//! [`Settlement`]: what a node, its RPC and its tests hold of the settlement ExEx. Its methods
//! read the status and steer the pipeline (pause, resume, migrate); how it runs is in
//! [`crate::service`].

use std::sync::Arc;

use gateway_store::{BatchStage, MigrationRecord};

use crate::{
    config::{LayerKind, SettlementConfig, SettlementLayerEndpoint},
    error::{SettlementError, SettlementResult},
    finality::Finality,
    gateway::Gateway,
    interop::{Interop, MessageProofResponse, ProofTarget},
    migration::{MigrationError, MigrationRunner, migration_status},
    state::Pipeline,
    status::{LayerStatus, PendingTx, SettlementStatus, TxStage},
};

/// The settlement ExEx: cloneable; every clone steers the same pipeline.
#[derive(Debug, Clone)]
pub struct Settlement {
    pub(crate) pipeline: Arc<Pipeline>,
    /// Gateway mode.
    pub(crate) gateway: Option<Arc<Gateway>>,
    /// A chain on the Gateway: what L1 says of its batches.
    pub(crate) finality: Option<Arc<Finality>>,
    /// Runtime migration.
    pub(crate) migration: Option<Arc<MigrationRunner>>,
    /// Interop: root imports and message proofs.
    pub(crate) interop: Option<Arc<Interop>>,
}

impl Settlement {
    /// The configuration for the layer the chain settles on now.
    pub fn active_config(&self) -> Arc<SettlementConfig> {
        self.pipeline.active_config()
    }

    /// Stops sending to the settlement layer (blocks keep being stored, batched and proved).
    pub fn pause(&self) {
        self.pipeline.set_paused(true);
    }

    /// Resumes sending.
    pub fn resume(&self) {
        self.pipeline.set_paused(false);
    }

    /// Lifts a halt (a reorg of the chain below a committed batch) once the affected batches
    /// are reverted on the settlement layer (the node does that itself; this is for a revert
    /// made by someone else): the batches above the layer's committed counter are unsealed, and
    /// the new blocks are sealed again. Refused, changing nothing,
    /// when settlement is not halted, when the affected batch was executed (nothing can undo
    /// that), when the layer still holds it committed, or while a transaction is in flight.
    /// Returns the batch the chain settles on from.
    pub fn clear_halt(&self) -> SettlementResult<u64> {
        let pipeline = &self.pipeline;
        let Some(halt) = pipeline.store.halt()? else {
            return Err(SettlementError::Request("settlement is not halted".into()));
        };
        if halt.executed {
            return Err(SettlementError::Request(crate::status::halt_advice(&halt)));
        }
        let counters = pipeline.counters();
        if counters.committed >= halt.batch {
            return Err(SettlementError::Request(format!(
                "the settlement layer still holds batch {} committed (committed through {}, as last read): revert it first with ChainExecutor.revertBatches({}) and the operator key",
                halt.batch,
                counters.committed,
                halt.batch.saturating_sub(1)
            )));
        }
        let keep = counters.committed;
        if crate::seal::lift_halt(&pipeline.store, keep)?.is_none() {
            return Err(SettlementError::Request(
                "a settlement transaction is in flight: wait until settlement_status shows none, then retry".into(),
            ));
        }
        pipeline.wakes.seal.notify_one();
        pipeline.wakes.send.notify_one();
        Ok(keep + 1)
    }

    /// Gateway mode: holds chain `chain_id` back (Gateway governance suspends it): Gateway
    /// batches sealed from now on carry none of its batches, and the status shows it with
    /// `reason`. Refused outside gateway mode.
    pub fn hold_back_chain(&self, chain_id: u64, reason: &str) -> SettlementResult<()> {
        self.require_gateway_mode("settlement_gatewayHoldBackChain")?;
        let reason = format!("held back by the Gateway's governance: {reason}");
        self.pipeline.store.write(|tx| tx.hold_back_gateway_chain(chain_id, &reason))?;
        tracing::warn!(target: "settlement::gateway", chain_id, %reason, "chain held back");
        Ok(())
    }

    /// Gateway mode: restores a held-back chain: the next Gateway batch that carries its
    /// batches carries first what the hold left uncarried (a leaf that still does not verify
    /// holds it back again). Refused when it is not held back, or outside gateway mode.
    pub fn restore_chain(&self, chain_id: u64) -> SettlementResult<()> {
        self.require_gateway_mode("settlement_gatewayRestoreChain")?;
        if !self.pipeline.store.write(|tx| tx.restore_gateway_chain(chain_id))? {
            return Err(SettlementError::Request(format!("chain {chain_id} is not held back")));
        }
        tracing::info!(target: "settlement::gateway", chain_id, "chain restored: its batches are carried to L1 again");
        self.pipeline.wakes.seal.notify_one();
        Ok(())
    }

    fn require_gateway_mode(&self, method: &str) -> SettlementResult<()> {
        if self.pipeline.config.gateway.is_none() {
            return Err(SettlementError::Request(format!(
                "{method}: this node is not the Gateway's (gateway mode is off)"
            )));
        }
        Ok(())
    }

    /// Starts a migration to `to`; returns its record at once (the migration goes on in the
    /// background: `settlement_status` shows it). Refused, changing nothing, when the node has
    /// no migration settings, a migration runs, the chain already settles there, or the
    /// Bridgehub would refuse (target not whitelisted, chain not registered there, the admin key
    /// not the chain's admin).
    pub async fn migrate(
        &self,
        to: LayerKind,
        trigger: &str,
    ) -> Result<MigrationRecord, MigrationError> {
        let runner = self.migration.as_ref().ok_or(MigrationError::NotConfigured)?;
        runner.migrate(to, trigger).await
    }

    /// Cancels the running migration while it drains: the chain goes on settling where it was.
    pub fn cancel_migration(&self) -> Result<MigrationRecord, MigrationError> {
        crate::migration::cancel_migration(&self.pipeline, 0)
    }

    /// `interop_getMessageProof`: the proof of a message sent on this chain; see
    /// [`crate::interop`]. `None` when interop is not configured.
    pub async fn message_proof(
        &self,
        tx_hash: alloy::primitives::B256,
        log_index: u64,
        target: ProofTarget,
        at_block: Option<u64>,
    ) -> Option<SettlementResult<MessageProofResponse>> {
        let interop = self.interop.as_ref()?;
        Some(
            interop.message_proof(&self.pipeline.store, tx_hash, log_index, target, at_block).await,
        )
    }

    /// The status as of now.
    pub fn status(&self) -> SettlementResult<SettlementStatus> {
        let pipeline = &self.pipeline;
        let store = &pipeline.store;
        let head = store.last_block()?.map(|b| b.number);
        let last = store.last_batch()?;
        let on_chain = pipeline.counters();
        // Only the batches not yet executed are read (status and the metrics loop run often, and
        // a chain's history grows without bound); the executed ones are counted, not read.
        let last_number = last.as_ref().map(|b| b.number).unwrap_or_default();
        let executed_stored = on_chain.executed.min(last_number);
        let open = store.batches(executed_stored + 1..=u64::MAX)?;
        let mut batches_by_stage: std::collections::BTreeMap<&'static str, u64> =
            BatchStage::ALL.iter().map(|s| (s.as_str(), 0)).collect();
        *batches_by_stage.entry(BatchStage::Executed.as_str()).or_default() += executed_stored;
        for batch in &open {
            *batches_by_stage.entry(batch.stage.as_str()).or_default() += 1;
        }
        let last_proved = open
            .iter()
            .rev()
            .find(|b| !b.proof.is_empty())
            .map(|b| b.number)
            .or((executed_stored > 0).then_some(executed_stored));
        let executed_block = match on_chain.executed {
            0 => 0,
            n => store.batch(n)?.map(|b| b.last_block).unwrap_or_default(),
        };
        let waiting = self.migration.as_ref().and_then(|runner| runner.waiting());
        let (migration, migrations_completed) =
            migration_status(store, waiting, head.unwrap_or_default())?;
        let halt = store.halt()?;
        let phase = match &migration {
            _ if halt.is_some() => "halted".into(),
            Some(m) if m.phase == "draining" || m.phase == "migrating" => m.phase.clone(),
            _ if pipeline.paused() => "paused".into(),
            _ => "settling".into(),
        };
        Ok(SettlementStatus {
            chain_id: pipeline.config.chain_id,
            settlement_layer: pipeline.active_config().layer.chain_id,
            phase,
            chain_head: head,
            oldest_stored_block: store.first_block()?.map(|b| b.number),
            last_sealed_batch: last.as_ref().map(|b| b.number),
            last_proved_batch: last_proved,
            on_chain,
            layers: self.layer_statuses(last.as_ref().map(|b| b.number)),
            unbatched_blocks: head
                .unwrap_or_default()
                .saturating_sub(last.as_ref().map(|b| b.last_block).unwrap_or_default()),
            lag_blocks: head.unwrap_or_default().saturating_sub(executed_block),
            batches_by_stage,
            pending_tx: store.in_flight()?.map(|tx| PendingTx {
                stage: TxStage::name_of(tx.stage).to_string(),
                from_batch: tx.from,
                to_batch: tx.to,
                nonce: tx.nonce,
                attempts: tx.attempts,
                hash: tx.hash,
            }),
            last_error: pipeline.last_error(),
            gateway: match &self.gateway {
                Some(gateway) => {
                    let mut status = gateway.status(store, on_chain.executed, &open)?;
                    status.fees = pipeline.observer.gateway_fees();
                    Some(status)
                }
                None => None,
            },
            finality: self.finality.as_ref().map(|finality| {
                let on_l1 =
                    self.pipeline.config.migration.as_ref().is_some_and(|m| {
                        m.l1.chain_id == self.pipeline.active_config().layer.chain_id
                    });
                finality.status(on_chain, last.as_ref().map(|b| b.number), on_l1)
            }),
            migration,
            migrations_completed,
            halt: halt.as_ref().map(crate::status::HaltStatus::from),
            priority: *crate::support::lock(&pipeline.priority),
            prover_jobs: pipeline.backend.jobs_status(),
        })
    }

    /// `settlement_status.layers`: the configured layer, or both with runtime migration.
    fn layer_statuses(&self, last_sealed: Option<u64>) -> Vec<LayerStatus> {
        let config = &self.pipeline.config;
        let active = self.pipeline.active_config();
        let counters = self.pipeline.layer_counters();
        let layers: Vec<(&SettlementLayerEndpoint, Option<&'static str>)> = match &config.migration
        {
            Some(migration) => {
                vec![(&migration.l1, Some("l1")), (&migration.gateway, Some("gateway"))]
            }
            None => {
                // The Gateway's own node settles on L1; a chain reading L1 finality settles on
                // the Gateway; otherwise the configuration does not say.
                let kind = if config.gateway.is_some() {
                    Some("l1")
                } else if config.l1_finality.is_some() {
                    Some("gateway")
                } else {
                    None
                };
                vec![(&active.layer, kind)]
            }
        };
        layers
            .into_iter()
            .map(|(layer, kind)| {
                let is_active = layer.chain_id == active.layer.chain_id;
                LayerStatus {
                    chain_id: layer.chain_id,
                    kind,
                    executor: layer.executor,
                    active: is_active,
                    last_sealed_batch: if is_active { last_sealed } else { None },
                    on_chain: counters.get(&layer.chain_id).copied(),
                    cost_per_batch_wei: self
                        .pipeline
                        .observer
                        .cost_per_batch(layer.chain_id)
                        .map(|cost| alloy::primitives::U256::from(cost.max(0.0) as u128)),
                    fee_per_batch_wei: self.pipeline.observer.fee_per_batch(layer.chain_id),
                }
            })
            .collect()
    }
}
