//! Stage 4, send: commits, proves and executes batches on the settlement layer (in gateway mode:
//! settles each Gateway batch on L1 in one transaction), one signed-and-persisted transaction in
//! flight at a time ([`transaction`]).
//!
//! It decides what to send from the executor's on-chain counters, which are the truth: after a
//! restart or a lost transaction it simply sends what the counters say is missing, so nothing is
//! sent twice and nothing is skipped.

mod transaction;

pub(crate) use transaction::{Signer, broadcast_signed, confirm_broadcast};

use std::{
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use alloy::{
    network::EthereumWallet,
    primitives::{Address, B256, Bytes, U256},
    providers::{DynProvider, Provider},
};
use gateway_contracts::{ChainExecutor, GatewayExecutor, convert};
use gateway_primitives::DaScheme;
use gateway_prover::{BatchProof, ProofBackend};
use gateway_store::{BatchRecord, BatchStage, Store};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::{
    commitment::{batch_public_input, decode_commit_info, imported_roots, stored_info},
    config::{SettlementConfig, SettlementLayerEndpoint},
    da::{DaInput, MAX_BLOBS_PER_TX},
    error::{SettlementError, SettlementResult},
    gateway::Gateway,
    state::{L1Final, Pipeline, wait},
    status::{OnChainCounters, TxStage},
    support::{lock, within},
};

/// How long reading an inactive layer's counters (for the status) may take.
const INACTIVE_LAYER_TIMEOUT: Duration = Duration::from_secs(5);
/// How long after a failed read of an inactive layer's counters it is tried again.
const INACTIVE_LAYER_RETRY: Duration = Duration::from_secs(30);

/// Runs the send stage until `shutdown`: follows the active layer (a new sender after a
/// migration), reads the executor's counters, moves the stored stages to them, and sends the
/// next transaction unless paused.
pub(crate) async fn run(
    pipeline: Arc<Pipeline>,
    gateway: Option<Arc<Gateway>>,
    shutdown: CancellationToken,
) -> SettlementResult<()> {
    let mut sender = Sender::new(
        pipeline.active_config(),
        Arc::clone(&pipeline.store),
        Arc::clone(&pipeline.backend),
        gateway.clone(),
        Arc::clone(&pipeline.observer),
    )?;
    if pipeline.l1_finality(0).is_none() {
        tracing::warn!(
            target: "settlement::send",
            "retention is off: this node cannot tell what L1 holds final (give it both layers, --settlement.topology, or L1 finality for a chain on the Gateway); nothing is pruned"
        );
    }
    let mut inactive_read_failed: Option<Instant> = None;
    loop {
        let active = pipeline.active_config();
        let active_layer = active.layer.chain_id;
        if sender.layer() != &active.layer {
            match Sender::new(
                active,
                Arc::clone(&pipeline.store),
                Arc::clone(&pipeline.backend),
                gateway.clone(),
                Arc::clone(&pipeline.observer),
            ) {
                Ok(next) => {
                    info!(target: "settlement::send", layer = next.layer().chain_id, executor = %next.layer().executor, "sending to the new settlement layer");
                    // The layer left behind is read once more, now that it is final.
                    pipeline.forget_counters(sender.layer().chain_id);
                    sender = next;
                }
                Err(err) => pipeline.record("sender", &Err::<(), _>(err)),
            }
        }
        read_inactive_layers(&pipeline, active_layer, &mut inactive_read_failed).await;
        let result = async {
            let counters = sender.counters().await?;
            pipeline.set_counters(sender.layer().chain_id, counters, true);
            sender.sync_stages(counters, pipeline.l1_finality(counters.executed))?;
            sender.forget_mined_in_flight().await?;
            if pipeline.paused() {
                return Ok(SenderAction::Idle);
            }
            if let Some(halt) = pipeline.store.halt()? {
                let action = sender.unhalt_step(halt, counters).await?;
                if action == SenderAction::Unhalted {
                    pipeline.wakes.seal.notify_one();
                }
                return Ok(action);
            }
            crate::failpoint::panic_point("panic-in-sender");
            sender.step(counters).await
        }
        .await;
        pipeline.record("sender", &result);
        match result {
            Ok(SenderAction::Idle) | Err(_) => {
                if wait(&shutdown, &pipeline.wakes.send, pipeline.config.poll_interval).await {
                    return Ok(());
                }
            }
            Ok(action) => {
                pipeline.clear_error(None);
                debug!(target: "settlement::send", ?action, "step done");
                if shutdown.is_cancelled() {
                    return Ok(());
                }
            }
        }
    }
}

/// Reads, once, the counters of the executors on the layers the chain does not settle on now
/// (for `settlement_status.layers`); a failed read is tried again after
/// [`INACTIVE_LAYER_RETRY`], so an unreachable layer the chain does not use never slows the
/// sender.
async fn read_inactive_layers(pipeline: &Pipeline, active: u64, failed: &mut Option<Instant>) {
    let Some(migration) = &pipeline.config.migration else { return };
    let known = pipeline.layer_counters();
    for layer in [&migration.l1, &migration.gateway] {
        if layer.chain_id == active || known.contains_key(&layer.chain_id) {
            continue;
        }
        if failed.is_some_and(|at| at.elapsed() < INACTIVE_LAYER_RETRY) {
            continue;
        }
        match layer_counters(layer, INACTIVE_LAYER_TIMEOUT).await {
            Ok(counters) => {
                pipeline.set_counters(layer.chain_id, counters, false);
                *failed = None;
            }
            Err(err) => {
                *failed = Some(Instant::now());
                debug!(target: "settlement::send", layer = layer.chain_id, %err, "cannot read the executor's counters there yet");
            }
        }
    }
}

/// What one step of the sender did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SenderAction {
    /// Committed batches `from..=to`.
    Committed(u64, u64),
    /// Proved batches `from..=to`.
    Proved(u64, u64),
    /// Executed batches `from..=to`.
    Executed(u64, u64),
    /// Gateway mode: committed, proved and executed Gateway batch `n` on L1 in one transaction.
    Settled(u64),
    /// Reverted committed batches `from..=to` (the chain reorged below them).
    Reverted(u64, u64),
    /// The settlement layer no longer holds a reorged batch: the halt is lifted.
    Unhalted,
    /// Nothing to do.
    Idle,
}

/// Sends the chain's batches to its executor on the settlement layer.
#[derive(Debug)]
pub(crate) struct Sender {
    config: Arc<SettlementConfig>,
    store: Arc<Store>,
    backend: Arc<dyn ProofBackend>,
    /// Gateway mode: settles Gateway batches on L1.
    gateway: Option<Arc<Gateway>>,
    executor: ChainExecutor::ChainExecutorInstance<DynProvider>,
    /// Gateway mode: the same address, as the Gateway's executor on L1.
    gateway_executor: GatewayExecutor::GatewayExecutorInstance<DynProvider>,
    operator: Address,
    /// Signs the settlement transactions (the operator key).
    wallet: EthereumWallet,
    /// The transaction last held at the fee cap (counted once).
    held: Mutex<Option<B256>>,
    /// The last executed batch whose blocks' pubdata is pruned.
    pubdata_pruned_through: Mutex<u64>,
    /// The executed counter at the last [`Sender::sync_stages`], once it ran.
    synced_executed: Mutex<Option<u64>>,
    /// The executor's verifier as first read, and the queued change last warned about.
    verifier: Mutex<VerifierSeen>,
    /// Stage clocks, gas and cost meters.
    observer: Arc<crate::observe::Observer>,
}

/// What the sender saw of its executor's verifier.
#[derive(Debug, Default)]
struct VerifierSeen {
    first: Option<Address>,
    warned_pending: Option<(Address, U256)>,
}

impl Sender {
    /// A sender signing with the configured operator key; `gateway` in gateway mode.
    pub(crate) fn new(
        config: Arc<SettlementConfig>,
        store: Arc<Store>,
        backend: Arc<dyn ProofBackend>,
        gateway: Option<Arc<Gateway>>,
        observer: Arc<crate::observe::Observer>,
    ) -> SettlementResult<Self> {
        let signer = config.operator_key.signer("operator")?;
        let operator = signer.address();
        let wallet = EthereumWallet::from(signer);
        let provider = config.operator_key.provider("operator", &config.layer.rpc_url)?;
        let gateway_executor = GatewayExecutor::new(config.layer.executor, provider.clone());
        let executor = ChainExecutor::new(config.layer.executor, provider);
        Ok(Self {
            config,
            store,
            backend,
            gateway,
            executor,
            gateway_executor,
            operator,
            wallet,
            held: Mutex::new(None),
            pubdata_pruned_through: Mutex::new(0),
            synced_executed: Mutex::new(None),
            verifier: Mutex::new(VerifierSeen::default()),
            observer,
        })
    }

    /// Refuses (`VerifierChanged`) once the executor verifies with another verifier than when
    /// this sender first read it, and warns (`settlement_verifier_change_pending`) while
    /// governance has a change queued. Called before each proof is sent.
    async fn check_verifier(&self) -> SettlementResult<()> {
        let timeout = self.config.tx_timeout;
        let executor = &self.executor;
        let found = within(timeout, "verifier", executor.verifier().call()).await?;
        let pending = within(timeout, "pendingVerifier", executor.pendingVerifier().call()).await?;
        let at = within(timeout, "verifierChangeAt", executor.verifierChangeAt().call()).await?;
        let mut seen = lock(&self.verifier);
        let expected = *seen.first.get_or_insert(found);
        if found != expected {
            return Err(SettlementError::VerifierChanged {
                executor: self.config.layer.executor,
                layer: self.config.layer.chain_id,
                expected,
                found,
            });
        }
        let queued = (!at.is_zero()).then_some((pending, at));
        metrics::gauge!("settlement_verifier_change_pending")
            .set(f64::from(u8::from(queued.is_some())));
        if queued.is_some() && seen.warned_pending != queued {
            warn!(
                target: "settlement::send",
                executor = %self.config.layer.executor,
                current = %found,
                queued = %pending,
                applicable_at_block = %at,
                "governance queued another verifier for the executor: once applied, this node sends no proof through it until restarted (it checks the new verifier at start)"
            );
        }
        seen.warned_pending = queued;
        Ok(())
    }

    /// The settlement layer it sends to.
    pub(crate) fn layer(&self) -> &SettlementLayerEndpoint {
        &self.config.layer
    }

    /// The executor's counters.
    pub(crate) async fn counters(&self) -> SettlementResult<OnChainCounters> {
        read_counters(&self.executor, self.config.tx_timeout).await
    }

    /// Forgets the transaction in flight once the operator's nonce on the layer moved past it
    /// (it was mined, or replaced, while nobody waited for it: say the node stopped first), so
    /// the status and a migration's drain do not wait for it.
    pub(crate) async fn forget_mined_in_flight(&self) -> SettlementResult<()> {
        // A record without a hash (a send that failed before broadcast, or a crash right after
        // it) counts too: once its nonce is used, whatever used it is mined.
        let Some(in_flight) = self.store.in_flight()? else { return Ok(()) };
        let provider = self.executor.provider();
        let timeout = self.config.tx_timeout;
        let nonce = within(
            timeout,
            "reading the operator's nonce",
            provider.get_transaction_count(self.operator).latest(),
        )
        .await?;
        if nonce > in_flight.nonce {
            debug!(target: "settlement::send", nonce = in_flight.nonce, hash = %in_flight.hash, "the transaction in flight is mined: forgetting it");
            self.store.write(|tx| {
                // Only the record read above: a new send may have replaced it meanwhile.
                if tx.in_flight()?.is_some_and(|current| current == in_flight) {
                    tx.set_in_flight(None)?;
                }
                Ok(())
            })?;
        }
        Ok(())
    }

    /// Sets the stored stages to what the counters show (lowering them when a reorg of the
    /// settlement layer removed a transaction), and in the same store transaction prunes what
    /// batches L1 holds final (`l1_final`, if known) no longer need once past retention,
    /// keeping the newest `pubdata_retention_batches` executed ones (a reorg of the layer may
    /// undo their execution). A failed prune plan is logged and skipped: it never stops
    /// sending.
    /// Batches at or below both this call's and the last call's executed counter are executed
    /// in both and are not read again (the first call reads them all).
    pub(crate) fn sync_stages(
        &self,
        counters: OnChainCounters,
        l1_final: Option<L1Final>,
    ) -> SettlementResult<()> {
        let Some(last) = self.store.last_batch()? else { return Ok(()) };
        let synced =
            lock(&self.synced_executed).map_or(0, |previous| previous.min(counters.executed));
        let batches = self.store.batches(synced + 1..=last.number)?;
        for batch in &batches {
            let stage = if batch.number <= counters.executed {
                BatchStage::Executed
            } else if batch.number <= counters.proved {
                BatchStage::ProvedOnChain
            } else if batch.number <= counters.committed {
                BatchStage::Committed
            } else if batch.proof.is_empty() {
                BatchStage::Sealed
            } else {
                BatchStage::Proved
            };
            self.observer.stage(batch.number, batch.sl_chain_id, stage);
        }
        if let Some(finality) = &l1_final {
            self.observer.l1_final(|number, sl| finality.holds_number(number, sl, 0));
        }
        let changed: Vec<_> = batches
            .into_iter()
            .filter_map(|mut batch| {
                let stage = if batch.number <= counters.executed {
                    BatchStage::Executed
                } else if batch.number <= counters.proved {
                    BatchStage::ProvedOnChain
                } else if batch.number <= counters.committed {
                    BatchStage::Committed
                } else if batch.proof.is_empty() {
                    BatchStage::Sealed
                } else {
                    BatchStage::Proved
                };
                (batch.stage != stage).then(|| {
                    batch.stage = stage;
                    batch
                })
            })
            .collect();
        let prune = l1_final.and_then(|finality| {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default();
            let keep = self.config.pubdata_retention_batches;
            crate::retention::plan(&self.store, &finality, keep, self.config.retention, now)
                .inspect_err(|err| {
                    tracing::warn!(target: "settlement::send", %err, "planning the retention prune failed; nothing pruned");
                })
                .ok()
                .flatten()
        });
        // Gateway mode: what L1 holds of the shared tree after the pruned Gateway batches,
        // kept in place of their contents (a failure skips this prune, as above).
        let prune = match (prune, &self.gateway) {
            (Some(prune), Some(gateway)) => {
                let through = prune.batches_below.saturating_sub(1);
                gateway
                    .l1_checkpoint(&self.store, through)
                    .inspect_err(|err| {
                        tracing::warn!(target: "settlement::send", %err, "the Gateway's L1 checkpoint failed; nothing pruned");
                    })
                    .ok()
                    .map(|checkpoint| (prune, Some(checkpoint)))
            }
            (Some(prune), None) => Some((prune, None)),
            (None, _) => None,
        };
        if !changed.is_empty() || prune.is_some() {
            let pruned = self.store.write(|tx| {
                changed.iter().try_for_each(|b| tx.put_batch(b))?;
                prune
                    .as_ref()
                    .map(|(prune, checkpoint)| prune.apply(tx, checkpoint.as_deref()))
                    .transpose()
            })?;
            if let Some(pruned) = pruned {
                metrics::counter!("settlement_pruned_blocks_total").increment(pruned.blocks);
                metrics::counter!("settlement_pruned_batches_total").increment(pruned.batches);
                debug!(target: "settlement::send", blocks = pruned.blocks, batches = pruned.batches, "pruned settled history past retention");
            }
        }
        *lock(&self.synced_executed) = Some(counters.executed);
        self.prune_pubdata(counters.executed)
    }

    /// While halted (the chain reorged below batch `halt.batch`): reverts the affected
    /// committed batches on the settlement layer, then, once the layer's counters no longer hold
    /// them, lifts the halt. An executed batch cannot be reverted, nor a Gateway batch (settled
    /// in one transaction): idle.
    pub(crate) async fn unhalt_step(
        &self,
        halt: gateway_store::Halt,
        counters: OnChainCounters,
    ) -> SettlementResult<SenderAction> {
        // Gateway mode settles in one transaction (no revert exists there), and an executed
        // batch cannot be reverted anywhere: the operator acts.
        if self.gateway.is_some() || halt.executed || counters.executed >= halt.batch {
            return Ok(SenderAction::Idle);
        }
        if counters.committed >= halt.batch {
            let keep = halt.batch - 1;
            let call = self.executor.revertBatches(alloy::primitives::U256::from(keep));
            warn!(target: "settlement::send", from = halt.batch, to = counters.committed, "reverting committed batches the chain reorged away");
            self.send(TxStage::Revert, halt.batch, counters.committed, call, false, None).await?;
            return Ok(SenderAction::Reverted(halt.batch, counters.committed));
        }
        Ok(match crate::seal::lift_halt(&self.store, counters.committed)? {
            Some(_) => SenderAction::Unhalted,
            None => SenderAction::Idle,
        })
    }

    /// Sends at most one transaction: execute what is proved, else prove what is committed and
    /// proved locally, else commit what is sealed.
    pub(crate) async fn step(&self, counters: OnChainCounters) -> SettlementResult<SenderAction> {
        if let Some(gateway) = &self.gateway {
            return self.settle_step(gateway, counters).await;
        }
        let max = self.config.max_batches_per_tx.max(1) as u64;
        if counters.proved > counters.executed {
            let (from, to) = (counters.executed + 1, counters.proved.min(counters.executed + max));
            let infos = self.stored_infos(from, to)?;
            let imported = (from..=to)
                .map(|n| self.imported_roots(n))
                .collect::<SettlementResult<Vec<_>>>()?;
            let call = self.executor.executeBatches(infos, imported);
            self.send(TxStage::Execute, from, to, call, false, None).await?;
            return Ok(SenderAction::Executed(from, to));
        }
        if counters.committed > counters.proved {
            let from = counters.proved + 1;
            let mut proofs = Vec::new();
            for number in from..=counters.committed.min(counters.proved + max) {
                let Some(batch) = self.store.batch(number)? else { break };
                if batch.proof.is_empty() {
                    break;
                }
                let input = batch_public_input(&self.store, &self.config, number)?;
                proofs.push(BatchProof {
                    backend: self.backend.kind(),
                    input,
                    bytes: batch.proof.into(),
                });
            }
            if !proofs.is_empty() {
                self.check_verifier().await?;
                let to = from + proofs.len() as u64 - 1;
                let prev = convert(&stored_info(&self.store, &self.config, from - 1)?)?;
                let infos = self.stored_infos(from, to)?;
                let calldata: Bytes = self.backend.batches_calldata(&proofs);
                self.send(
                    TxStage::Prove,
                    from,
                    to,
                    self.executor.proveBatches(prev, infos, calldata),
                    false,
                    None,
                )
                .await?;
                return Ok(SenderAction::Proved(from, to));
            }
        }
        let from = counters.committed + 1;
        let (mut batches, mut da_inputs, mut blobs) = (Vec::new(), Vec::new(), Vec::new());
        let mut sealed = Vec::new();
        for number in from..from + max {
            let Some(batch) = self.store.batch(number)? else { break };
            self.check_layer(&batch)?;
            let info = decode_commit_info(&batch)?;
            let da = self.da_input(&batch, info.daScheme)?;
            if !batches.is_empty() && blobs.len() + da.blobs.len() > MAX_BLOBS_PER_TX {
                break;
            }
            batches.push(convert::<_, ChainExecutor::CommitBatchInfo>(&info)?);
            sealed.push(batch.commit_info);
            da_inputs.push(da.input);
            blobs.extend(da.blobs);
        }
        if batches.is_empty() {
            return Ok(SenderAction::Idle);
        }
        let to = from + batches.len() as u64 - 1;
        let prev = convert(&stored_info(&self.store, &self.config, from - 1)?)?;
        // On a Gateway: its price per committed batch, paid with the commit.
        let fee = self.commit_fee(batches.len()).await?;
        let call = self.executor.commitBatches(prev, batches, da_inputs).value(fee);
        if blobs.is_empty() {
            self.send(TxStage::Commit, from, to, call, false, Some(&sealed)).await?;
        } else {
            let count = blobs.len();
            let sidecar = crate::da::sidecar_off_thread(blobs).await?;
            debug!(target: "settlement::send", from, to, blobs = count, "commit carries blobs");
            self.send(TxStage::Commit, from, to, call.sidecar_7594(sidecar), true, Some(&sealed))
                .await?;
        }
        if !fee.is_zero() {
            metrics::counter!("settlement_gateway_fees_wei_total")
                .increment(fee.saturating_to::<u64>());
            // The fee is part of what a batch costs the operator.
            self.observer.mined(
                self.config.layer.chain_id,
                TxStage::Commit,
                from..=to,
                0,
                fee,
                || None,
            );
        }
        Ok(SenderAction::Committed(from, to))
    }

    /// What committing `batches` batches costs on top of gas: the price of the executor's
    /// fee schedule (a Gateway's `GatewayFees`) per batch; zero where it has none (L1).
    async fn commit_fee(&self, batches: usize) -> SettlementResult<U256> {
        let timeout = self.config.tx_timeout;
        let schedule = within(timeout, "feeSchedule", self.executor.feeSchedule().call()).await?;
        if schedule.is_zero() {
            // No fee schedule (L1): the status says so (zero), not "unknown".
            self.observer.set_fee_per_batch(self.config.layer.chain_id, U256::ZERO);
            return Ok(U256::ZERO);
        }
        let fees = gateway_contracts::GatewayFees::new(schedule, self.executor.provider());
        let price = within(timeout, "GatewayFees.price", fees.price().call()).await?;
        self.observer.set_fee_per_batch(self.config.layer.chain_id, price);
        Ok(price.saturating_mul(U256::from(batches)))
    }

    /// Gateway mode: settles the next Gateway batch on L1 (commit, prove and execute in one
    /// `GatewayExecutor.settleBatch`) once its aggregated proof is ready, and records what it
    /// cost on L1.
    async fn settle_step(
        &self,
        gateway: &Gateway,
        counters: OnChainCounters,
    ) -> SettlementResult<SenderAction> {
        let number = counters.executed + 1;
        let Some(batch) = self.store.batch(number)? else { return Ok(SenderAction::Idle) };
        if batch.proof.is_empty() {
            return Ok(SenderAction::Idle);
        }
        self.check_verifier().await?;
        self.check_layer(&batch)?;
        let info = decode_commit_info(&batch)?;
        let da = self.da_input(&batch, info.daScheme)?;
        let sealed = [batch.commit_info.clone()];
        let contents = crate::commitment::gateway_contents(&self.store, number)?;
        let (shared_tree, frontiers) = gateway.l1_view(&self.store, number, &contents)?;
        let order = gateway.leaf_order(&self.store, number, &contents)?;
        let carry =
            convert(&crate::commitment::gateway_carry(&contents, shared_tree, frontiers, &order)?)?;
        let prev = convert(&stored_info(&self.store, &self.config, number - 1)?)?;
        let call = self.gateway_executor.settleBatch(
            prev,
            convert(&info)?,
            da.input,
            carry,
            batch.proof.clone().into(),
        );
        // A carried chain L1 refuses by name (not handed over, another previous batch, ...)
        // would stop every chain: it is held back and the Gateway batch sealed again without
        // it. Simulated only before a first send (blobs need their sidecar).
        if da.blobs.is_empty()
            && self.store.in_flight()?.is_none()
            && let Ok(Err(err)) = tokio::time::timeout(self.config.tx_timeout, call.call()).await
            && let Some((chain_id, reason)) = refused_chain(&err)
        {
            gateway.hold_back(
                &self.store,
                number,
                chain_id,
                &format!("L1 refuses Gateway batch {number} over its carried batches: {reason}"),
            )?;
            return Ok(SenderAction::Idle);
        }
        let mined = if da.blobs.is_empty() {
            self.send(TxStage::Settle, number, number, call, false, Some(&sealed)).await?
        } else {
            let sidecar = crate::da::sidecar_off_thread(da.blobs).await?;
            self.send(
                TxStage::Settle,
                number,
                number,
                call.sidecar_7594(sidecar),
                true,
                Some(&sealed),
            )
            .await?
        };
        gateway.settled(&self.store, number, contents, mined.gas_used, mined.cost_wei)?;
        Ok(SenderAction::Settled(number))
    }

    /// Refuses a batch built for another settlement layer (its commitment names the layer).
    fn check_layer(&self, batch: &BatchRecord) -> SettlementResult<()> {
        if batch.sl_chain_id != self.config.layer.chain_id {
            return Err(SettlementError::WrongLayer {
                batch: batch.number,
                built_for: batch.sl_chain_id,
                layer: self.config.layer.chain_id,
            });
        }
        Ok(())
    }

    /// What the commit transaction carries for `batch`, sealed with DA scheme `scheme`.
    fn da_input(&self, batch: &BatchRecord, scheme: u8) -> SettlementResult<DaInput> {
        let scheme = DaScheme::from_u8(scheme).ok_or_else(|| {
            SettlementError::Corrupt(format!("batch {} has DA scheme {scheme}", batch.number))
        })?;
        let pubdata =
            crate::da::stored_pubdata(&self.store, scheme, batch.first_block, batch.last_block)?;
        Ok(crate::da::commit_input(scheme, pubdata))
    }

    /// Forgets the pubdata of blocks in executed batches (once per newly executed batch).
    /// Keeps the pubdata of the last `pubdata_retention_batches` executed batches: a reorg of
    /// the settlement layer can undo an execution, and those batches must be committed again.
    fn prune_pubdata(&self, executed: u64) -> SettlementResult<()> {
        let through = executed.saturating_sub(self.config.pubdata_retention_batches);
        let mut pruned = lock(&self.pubdata_pruned_through);
        if through == 0 || through <= *pruned || !self.config.da.publishes_pubdata() {
            return Ok(());
        }
        if let Some(batch) = self.store.batch(through)? {
            self.store.write(|tx| tx.prune_pubdata_through(batch.last_block))?;
        }
        *pruned = through;
        Ok(())
    }

    /// The interop roots batch `number`'s blocks imported, in order, as `executeBatches` takes
    /// them.
    fn imported_roots(&self, number: u64) -> SettlementResult<Vec<ChainExecutor::InteropRootRef>> {
        let batch = self.store.batch(number)?.ok_or(SettlementError::MissingBatch(number))?;
        Ok(imported_roots(&self.store, &batch)?
            .into_iter()
            .map(|imported| ChainExecutor::InteropRootRef {
                gatewayBlock: U256::from(imported.gateway_block),
                root: imported.root,
            })
            .collect())
    }

    fn stored_infos(
        &self,
        from: u64,
        to: u64,
    ) -> SettlementResult<Vec<ChainExecutor::StoredBatchInfo>> {
        (from..=to).map(|n| Ok(convert(&stored_info(&self.store, &self.config, n)?)?)).collect()
    }
}

/// The counters of `executor` (reached at `rpc_url`), read within `timeout`.
/// The chain whose carried batches `GatewayExecutor` refused `err` names, and why.
fn refused_chain(err: &alloy::contract::Error) -> Option<(u64, String)> {
    use GatewayExecutor::GatewayExecutorErrors as E;
    let decoded = err.as_decoded_interface_error::<E>()?;
    let chain = match &decoded {
        E::ChainNotOnGateway(e) => e.chainId,
        E::ChainNotInSharedTree(e) => e.chainId,
        E::ChainPreviousBatchMismatch(e) => e.chainId,
        E::ChainPublicInputMismatch(e) => e.chainId,
        E::ChainBatchOutOfOrder(e) => e.chainId,
        E::CarriedBatchMisdirected(e) => e.chainId,
        _ => return None,
    };
    Some((chain.saturating_to(), format!("{decoded:?}")))
}

async fn read_counters<P: Provider>(
    executor: &ChainExecutor::ChainExecutorInstance<P>,
    timeout: Duration,
) -> SettlementResult<OnChainCounters> {
    let read = async {
        let committed = executor.totalBatchesCommitted().call().await?;
        let proved = executor.totalBatchesVerified().call().await?;
        let executed = executor.totalBatchesExecuted().call().await?;
        Ok::<_, alloy::contract::Error>(OnChainCounters {
            committed: committed.to(),
            proved: proved.to(),
            executed: executed.to(),
        })
    };
    Ok(within(timeout, "reading the executor's counters", read).await?)
}

/// The counters of the chain's executor on `layer`, through a read-only connection.
pub(crate) async fn layer_counters(
    layer: &SettlementLayerEndpoint,
    timeout: Duration,
) -> SettlementResult<OnChainCounters> {
    let provider = alloy::providers::ProviderBuilder::new().connect_http(layer.rpc_url.clone());
    read_counters(&ChainExecutor::new(layer.executor, provider), timeout).await
}
