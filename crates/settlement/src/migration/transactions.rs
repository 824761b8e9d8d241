//! Migration transactions: sent signed, persisted before the node waits for them, and found
//! again after a restart.

use super::*;

impl Migrator {
    /// Stores `record`'s transaction bookkeeping; its phase stays what the store holds (a
    /// cancellation meanwhile is kept, never undone by a step that was under way).
    pub(super) fn persist(&self, record: &mut MigrationRecord) -> Result<(), MigrationError> {
        self.store.write(|tx| {
            if let Some(current) = tx.last_migration()?
                && current.id == record.id
            {
                record.phase = current.phase;
                record.phaseStartedAtMs = current.phaseStartedAtMs;
                record.finishedAtMs = current.finishedAtMs;
            }
            tx.put_migration(record)
        })?;
        Ok(())
    }

    /// A migration transaction sent before (maybe before a crash): mined → cleared; still
    /// pending → what to wait for; unknown (dropped) → cleared, so the step is decided again.
    pub(super) async fn settle_pending_tx(
        &self,
        record: &mut MigrationRecord,
    ) -> Result<Option<String>, MigrationError> {
        let Some(hash) = record.pending_tx() else { return Ok(None) };
        for provider in [&self.l1_admin, &self.gateway_admin] {
            if let Some(receipt) =
                self.read("receipt", provider.get_transaction_receipt(hash)).await?
            {
                // As deep as `send` would have waited for.
                let head = self.read("the head", provider.get_block_number()).await?;
                let depth = head.saturating_sub(receipt.block_number.unwrap_or(head)) + 1;
                if depth < self.base.layer_confirmations.max(1) {
                    return Ok(Some(format!(
                        "the migration transaction {hash} to be {} blocks deep (now {depth})",
                        self.base.layer_confirmations
                    )));
                }
                record.pendingTx = B256::ZERO;
                if receipt.status() {
                    record.stepsDone |= record.pendingSteps;
                } else {
                    tracing::warn!(target: "settlement::migration", id = record.id, %hash, "a migration transaction reverted; deciding the step again from on-chain state");
                }
                record.pendingSteps = 0;
                self.persist(record)?;
                return Ok(None);
            }
        }
        for provider in [&self.l1_admin, &self.gateway_admin] {
            if self.read("transaction", provider.get_transaction_by_hash(hash)).await?.is_some() {
                // Waited for up to the tx timeout (in this process), then replaced: the step
                // is decided again and sent at the same nonce with a higher fee.
                let waited = {
                    let mut since = lock(&self.pending_since);
                    match *since {
                        Some((h, at)) if h == hash => at.elapsed(),
                        _ => {
                            *since = Some((hash, Instant::now()));
                            Duration::ZERO
                        }
                    }
                };
                if waited < self.timeout() {
                    return Ok(Some(format!("the migration transaction {hash} to be mined")));
                }
                tracing::warn!(target: "settlement::migration", id = record.id, %hash, waited_s = waited.as_secs(), "a migration transaction is not mined: replacing it with a higher fee");
                record.pendingTx = B256::ZERO;
                record.pendingSteps = 0;
                self.persist(record)?;
                return Ok(None);
            }
        }
        tracing::warn!(target: "settlement::migration", id = record.id, %hash, "a migration transaction was dropped; deciding the step again");
        record.pendingTx = B256::ZERO;
        record.pendingSteps = 0;
        self.persist(record)?;
        Ok(None)
    }

    /// Sends `call` signed by `who` through the sender's path (signed and persisted in `who`'s
    /// slot before it is broadcast; a transaction of the same nonce still in flight is replaced
    /// with a higher fee), records its hash in `record`, and waits (up to the tx timeout) for it
    /// to be mined.
    pub(super) async fn send<D>(
        &self,
        record: &mut MigrationRecord,
        who: Who,
        what: &str,
        call: alloy::contract::CallBuilder<&DynProvider, D>,
        steps: u8,
    ) -> Result<Advance, MigrationError>
    where
        D: alloy::contract::CallDecoder + Send + Sync,
    {
        failpoint("before-migration-send");
        let signer = self.signer(who)?;
        let (stage, id) = (TxStage::Migrate, record.id);
        let broadcast = match broadcast_signed(
            &self.store,
            &self.base,
            &signer,
            stage,
            id,
            id,
            call,
            false,
            None,
        )
        .await
        {
            Ok(broadcast) => broadcast,
            Err(err @ SettlementError::HeldAtFeeCap { .. }) => {
                return Ok(Advance::Waiting(format!("{what}: {err}")));
            }
            Err(err) => return Err(Box::new(err).into()),
        };
        let hash = broadcast.hash;
        record.pendingTx = hash;
        record.pendingSteps = steps;
        self.persist(record)?;
        *lock(&self.pending_since) = Some((hash, Instant::now()));
        info!(target: "settlement::migration", id = record.id, what, %hash, "sent");
        metrics::counter!("settlement_migration_txs_sent_total").increment(1);
        failpoint("after-migration-sent");
        // Final enough: as deep as the sender's own transactions must be.
        let mined =
            match confirm_broadcast(&self.store, &self.base, &signer, stage, id, id, broadcast)
                .await
            {
                Ok(mined) => mined,
                Err(SettlementError::Layer(call))
                    if matches!(*call.source, LayerError::Reverted(_)) =>
                {
                    record.pendingTx = B256::ZERO;
                    record.pendingSteps = 0;
                    self.persist(record)?;
                    return Err(LayerCall::new(what, LayerError::Reverted(hash)).into());
                }
                Err(e) => return Ok(Advance::Waiting(format!("{what} ({hash}) to be mined: {e}"))),
            };
        record.pendingTx = B256::ZERO;
        record.stepsDone |= record.pendingSteps;
        record.pendingSteps = 0;
        self.persist(record)?;
        info!(target: "settlement::migration", id = record.id, what, %hash, gas = mined.gas_used, "mined");
        failpoint("after-migration-mined");
        Ok(Advance::Progressed)
    }
}
