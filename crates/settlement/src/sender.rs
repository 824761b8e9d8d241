//! The sender: commits, proves and executes batches on the settlement layer.
//!
//! It decides what to send from the executor's on-chain counters, which are the truth: after a
//! restart or a lost transaction it simply sends what the counters say is missing, so nothing is
//! sent twice and nothing is skipped.

use std::{sync::Arc, time::Duration};

use alloy::{
    eips::eip2718::Encodable2718,
    network::{EthereumWallet, NetworkTransactionBuilder, TransactionBuilder},
    primitives::{Address, B256, Bytes, U256},
    providers::{DynProvider, Provider},
    transports::http::reqwest::Url,
};
use gateway_contracts::{ChainExecutor, GatewayExecutor, convert};
use gateway_primitives::DaScheme;
use gateway_primitives::StoredBatchInfo;
use gateway_prover::{BatchProof, ProofBackend};
use gateway_store::{BatchRecord, BatchStage, InFlightTx, Store};
use std::sync::Mutex;
use tracing::{debug, info};

use crate::{
    SettlementConfig, SettlementError, SettlementResult,
    batcher::{decode_commit_info, stored_info},
    da::{DaInput, MAX_BLOBS_PER_TX},
    failpoint::failpoint,
    prover::batch_public_input,
};

/// Gas limit above the estimate (percent).
const GAS_MARGIN_PERCENT: u64 = 25;

/// Each resend of a stuck transaction pays this much more (percent of the previous fee).
const FEE_BUMP_PERCENT: u128 = 20;
/// Fees stop growing after this many bumps (1.2^20 ≈ 38 times the estimate); `--settlement.max-fee-per-gas` caps them
/// below that.
const MAX_FEE_BUMPS: u32 = 20;

/// Each resend of a stuck blob transaction pays this much more on every fee (blob pools refuse
/// smaller bumps).
const BLOB_FEE_BUMP_PERCENT: u128 = 100;
/// Blob transaction fees stop doubling after this many resends (2^6 = 64 times the estimate).
const MAX_BLOB_FEE_BUMPS: u32 = 6;

/// The fee increase a pool needs to take a replacement (geth and anvil: 10%; blob
/// transactions: 100%).
const REPLACEMENT_PERCENT: u128 = 10;
/// See [`REPLACEMENT_PERCENT`].
const BLOB_REPLACEMENT_PERCENT: u128 = 100;

/// One fee bump: `percent` more, at least one wei more, never overflowing.
const fn bump(fee: u128, percent: u128) -> u128 {
    fee.saturating_mul(100 + percent).saturating_div(100).saturating_add(1)
}

/// The executor's counters on the settlement layer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct OnChainCounters {
    /// `totalBatchesCommitted`.
    pub committed: u64,
    /// `totalBatchesVerified`.
    pub proved: u64,
    /// `totalBatchesExecuted`.
    pub executed: u64,
}

/// What one step of the sender did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SenderAction {
    /// Committed batches `from..=to`.
    Committed(u64, u64),
    /// Proved batches `from..=to`.
    Proved(u64, u64),
    /// Executed batches `from..=to`.
    Executed(u64, u64),
    /// Gateway mode: committed, proved and executed Gateway batch `n` on L1 in one transaction.
    Settled(u64),
    /// Nothing to do.
    Idle,
}

/// Sends the chain's batches to its executor on the settlement layer.
#[derive(Debug)]
pub struct Sender {
    config: Arc<SettlementConfig>,
    store: Arc<Store>,
    backend: Arc<dyn ProofBackend>,
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
}

impl Sender {
    /// A sender signing with the configured operator key.
    pub fn new(
        config: Arc<SettlementConfig>,
        store: Arc<Store>,
        backend: Arc<dyn ProofBackend>,
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
            executor,
            gateway_executor,
            operator,
            wallet,
            held: Mutex::new(None),
            pubdata_pruned_through: Mutex::new(0),
            synced_executed: Mutex::new(None),
        })
    }

    /// The settlement layer it sends to.
    pub fn layer(&self) -> &crate::SettlementLayerEndpoint {
        &self.config.layer
    }

    /// The executor's counters.
    pub async fn counters(&self) -> SettlementResult<OnChainCounters> {
        read_counters(&self.executor, &self.config.layer.rpc_url, self.config.tx_timeout).await
    }

    /// Forgets the transaction in flight once the operator's nonce on the layer moved past it
    /// (it was mined, or replaced, while nobody waited for it: say the node stopped first), so
    /// the status and a migration's drain do not wait for it.
    pub async fn forget_mined_in_flight(&self) -> SettlementResult<()> {
        // A record without a hash (a send that failed before broadcast, or a crash right after
        // it) counts too: once its nonce is used, whatever used it is mined.
        let Some(in_flight) = self.store.in_flight()? else { return Ok(()) };
        let provider = self.executor.provider();
        let timeout = self.config.tx_timeout;
        let nonce =
            tokio::time::timeout(timeout, provider.get_transaction_count(self.operator).latest())
                .await
                .map_err(|_| SettlementError::Layer(format!("no nonce within {timeout:?}")))?
                .map_err(|e| {
                    SettlementError::Layer(format!("reading the operator's nonce: {e}"))
                })?;
        if nonce > in_flight.nonce {
            debug!(target: "settlement::sender", nonce = in_flight.nonce, hash = %in_flight.hash, "the transaction in flight is mined: forgetting it");
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
    /// settlement layer removed a transaction).
    /// Batches at or below both this call's and the last call's executed counter are executed
    /// in both and are not read again (the first call reads them all).
    pub fn sync_stages(&self, counters: OnChainCounters) -> SettlementResult<()> {
        let Some(last) = self.store.last_batch()? else { return Ok(()) };
        let synced = self
            .synced_executed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .map_or(0, |previous| previous.min(counters.executed));
        let batches = self.store.batches(synced + 1..=last.number)?;
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
        if !changed.is_empty() {
            self.store.write(|tx| changed.iter().try_for_each(|b| tx.put_batch(b)))?;
        }
        *self.synced_executed.lock().unwrap_or_else(|e| e.into_inner()) = Some(counters.executed);
        self.prune_pubdata(counters.executed)
    }

    /// Sends at most one transaction: execute what is proved, else prove what is committed and
    /// proved locally, else commit what is sealed.
    pub async fn step(&self, counters: OnChainCounters) -> SettlementResult<SenderAction> {
        if self.config.gateway.is_some() {
            return self.settle_step(counters).await;
        }
        let max = self.config.max_batches_per_tx.max(1) as u64;
        if counters.proved > counters.executed {
            let (from, to) = (counters.executed + 1, counters.proved.min(counters.executed + max));
            let infos = self.stored_infos(from, to)?;
            let imported = (from..=to)
                .map(|n| self.imported_roots(n))
                .collect::<SettlementResult<Vec<_>>>()?;
            let call = self.executor.executeBatches(infos, imported);
            self.send(Stage::Execute, from, to, call, false, None).await?;
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
                let to = from + proofs.len() as u64 - 1;
                let prev = convert(&stored_info(&self.store, &self.config, from - 1)?)?;
                let infos = self.stored_infos(from, to)?;
                let calldata: Bytes = self.backend.batches_calldata(&proofs);
                self.send(
                    Stage::Prove,
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
            if batch.sl_chain_id != self.config.layer.chain_id {
                return Err(SettlementError::WrongLayer {
                    batch: number,
                    built_for: batch.sl_chain_id,
                    layer: self.config.layer.chain_id,
                });
            }
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
        let call = self.executor.commitBatches(prev, batches, da_inputs);
        if blobs.is_empty() {
            self.send(Stage::Commit, from, to, call, false, Some(&sealed)).await?;
        } else {
            let count = blobs.len();
            let sidecar =
                tokio::task::spawn_blocking(move || crate::da::sidecar(blobs)).await.map_err(
                    |e| SettlementError::Da(format!("building the blob sidecar: {e}")),
                )??;
            debug!(target: "settlement::sender", from, to, blobs = count, "commit carries blobs");
            self.send(Stage::Commit, from, to, call.sidecar_7594(sidecar), true, Some(&sealed))
                .await?;
        }
        Ok(SenderAction::Committed(from, to))
    }

    /// Gateway mode: settles the next Gateway batch on L1 (commit, prove and execute in one
    /// `GatewayExecutor.settleBatch`) once its aggregated proof is ready, and records what it
    /// cost on L1.
    async fn settle_step(&self, counters: OnChainCounters) -> SettlementResult<SenderAction> {
        let number = counters.executed + 1;
        let Some(batch) = self.store.batch(number)? else { return Ok(SenderAction::Idle) };
        if batch.proof.is_empty() {
            return Ok(SenderAction::Idle);
        }
        if batch.sl_chain_id != self.config.layer.chain_id {
            return Err(SettlementError::WrongLayer {
                batch: number,
                built_for: batch.sl_chain_id,
                layer: self.config.layer.chain_id,
            });
        }
        let info = decode_commit_info(&batch)?;
        let da = self.da_input(&batch, info.daScheme)?;
        let sealed = [batch.commit_info.clone()];
        let mut contents = self.store.gateway_batch_contents(number)?.ok_or_else(|| {
            SettlementError::Corrupt(format!("Gateway batch {number} has no stored contents"))
        })?;
        let refs: Vec<GatewayExecutor::ChainBatchRef> = contents
            .chainBatches
            .iter()
            .map(|r| GatewayExecutor::ChainBatchRef {
                chainId: r.chainId,
                batchNumber: r.batchNumber,
                publicInput: r.publicInput,
            })
            .collect();
        let prev = convert(&stored_info(&self.store, &self.config, number - 1)?)?;
        let call = self.gateway_executor.settleBatch(
            prev,
            convert(&info)?,
            da.input,
            refs,
            batch.proof.clone().into(),
        );
        let mined = if da.blobs.is_empty() {
            self.send(Stage::Settle, number, number, call, false, Some(&sealed)).await?
        } else {
            let blobs = da.blobs;
            let sidecar =
                tokio::task::spawn_blocking(move || crate::da::sidecar(blobs)).await.map_err(
                    |e| SettlementError::Da(format!("building the blob sidecar: {e}")),
                )??;
            self.send(
                Stage::Settle,
                number,
                number,
                call.sidecar_7594(sidecar),
                true,
                Some(&sealed),
            )
            .await?
        };
        contents.l1GasUsed = mined.gas_used;
        contents.l1CostWei = mined.cost_wei;
        self.store.write(|tx| tx.put_gateway_batch_contents(number, &contents))?;
        metrics::counter!("gateway_chain_batches_settled_total")
            .increment(contents.chainBatches.len() as u64);
        metrics::counter!("gateway_l1_gas_total").increment(mined.gas_used);
        info!(
            target: "settlement::gateway",
            gateway_batch = number,
            chain_batches = contents.chainBatches.len(),
            l1_gas = mined.gas_used,
            "Gateway batch settled on L1: its chain batches are L1-final"
        );
        Ok(SenderAction::Settled(number))
    }

    /// What the commit transaction carries for `batch`, sealed with DA scheme `scheme`.
    fn da_input(&self, batch: &BatchRecord, scheme: u8) -> SettlementResult<DaInput> {
        let scheme = DaScheme::from_u8(scheme).ok_or_else(|| {
            SettlementError::Corrupt(format!("batch {} has DA scheme {scheme}", batch.number))
        })?;
        let pubdata = if scheme.publishes_pubdata() {
            self.store.pubdata(batch.first_block..=batch.last_block).map_err(|e| {
                crate::batcher::missing_pubdata(
                    &self.config,
                    batch.first_block,
                    batch.last_block,
                    &e,
                )
            })?
        } else {
            Vec::new()
        };
        Ok(crate::da::commit_input(scheme, pubdata))
    }

    /// Forgets the pubdata of blocks in executed batches (once per newly executed batch).
    /// Keeps the pubdata of the last `pubdata_retention_batches` executed batches: a reorg of
    /// the settlement layer can undo an execution, and those batches must be committed again.
    fn prune_pubdata(&self, executed: u64) -> SettlementResult<()> {
        let through = executed.saturating_sub(self.config.pubdata_retention_batches);
        let mut pruned = self.pubdata_pruned_through.lock().unwrap_or_else(|e| e.into_inner());
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
        Ok(crate::batcher::imported_roots(&self.store, batch.first_block, batch.last_block)?
            .into_iter()
            .map(|(block, root)| ChainExecutor::InteropRootRef {
                gatewayBlock: U256::from(block),
                root,
            })
            .collect())
    }

    fn stored_infos(
        &self,
        from: u64,
        to: u64,
    ) -> SettlementResult<Vec<ChainExecutor::StoredBatchInfo>> {
        (from..=to)
            .map(|n| {
                let info: StoredBatchInfo = stored_info(&self.store, &self.config, n)?;
                Ok(convert(&info)?)
            })
            .collect()
    }

    /// The transaction `previous` sent at this nonce stays the one in flight: the fee cap (or
    /// the last bump) leaves no replacement the pool would take. It is broadcast again if the
    /// node lost it; the returned error says the sender waits for it.
    async fn hold(&self, previous: &InFlightTx, required_percent: u128) -> SettlementError {
        let provider = self.executor.provider();
        let timeout = self.config.tx_timeout;
        let known = tokio::time::timeout(timeout, provider.get_transaction_by_hash(previous.hash))
            .await
            .ok()
            .and_then(Result::ok)
            .flatten()
            .is_some();
        if !known {
            // Lost from the pool: the very same signed transaction goes out again.
            let resent =
                tokio::time::timeout(timeout, provider.send_raw_transaction(&previous.raw)).await;
            info!(target: "settlement::sender", hash = %previous.hash, ok = matches!(resent, Ok(Ok(_))), "rebroadcast the held transaction");
        }
        let mut held = self.held.lock().unwrap_or_else(|e| e.into_inner());
        if *held != Some(previous.hash) {
            *held = Some(previous.hash);
            metrics::counter!("settlement_txs_held_at_fee_cap_total").increment(1);
            info!(target: "settlement::sender", hash = %previous.hash, nonce = previous.nonce, "no replacement the pool would take: waiting for the transaction in flight");
        }
        let cap = match self.config.max_fee_per_gas {
            Some(cap) => format!("the fee cap (--settlement.max-fee-per-gas {cap})"),
            None => "the highest fee the sender pays".to_string(),
        };
        SettlementError::Layer(format!(
            "{} pending at {cap}: a replacement could not pay the {required_percent}% more the pool needs; waiting for it to be mined",
            previous.hash
        ))
    }

    /// Sends one transaction with the operator's next nonce, persisting it as in flight first.
    /// A transaction still in flight from before (not mined in time, dropped, or sent just
    /// before a crash) is replaced: same nonce, every fee at least what the pool needs above
    /// the one it replaces, so at most one of them is mined. A blob transaction
    /// (`carries_blobs`) also pays a blob fee, and its replacements double every fee, as blob
    /// pools require. `sealed` (commits) holds the batches' commit info as the call was built:
    /// if a chain reorg changed them meanwhile, nothing is sent.
    #[allow(clippy::too_many_arguments)]
    async fn send<D>(
        &self,
        stage: Stage,
        from: u64,
        to: u64,
        call: alloy::contract::CallBuilder<&DynProvider, D>,
        carries_blobs: bool,
        sealed: Option<&[Vec<u8>]>,
    ) -> SettlementResult<Mined>
    where
        D: alloy::contract::CallDecoder + Send + Sync,
    {
        let provider = self.executor.provider();
        let name = stage.as_str();
        let timeout = self.config.tx_timeout;
        let nonce =
            tokio::time::timeout(timeout, provider.get_transaction_count(self.operator).latest())
                .await
                .map_err(|_| {
                    SettlementError::Layer(format!(
                        "no nonce from {} within {timeout:?}",
                        self.config.layer.rpc_url
                    ))
                })?
                .map_err(|e| {
                    SettlementError::Layer(format!("reading the operator's nonce: {e}"))
                })?;
        // Only a transaction that was broadcast (it has a hash) can be stuck in a mempool and
        // need a higher fee to be replaced; a send that failed before that (a revert in gas
        // estimation, an outage) is retried at the same fee.
        let previous = self.store.in_flight()?.filter(|p| p.nonce == nonce);
        let attempts = match &previous {
            Some(previous) if previous.hash != B256::ZERO => previous.attempts + 1,
            Some(previous) => previous.attempts.max(1),
            None => 1,
        };
        let fees = tokio::time::timeout(timeout, provider.estimate_eip1559_fees())
            .await
            .map_err(|_| SettlementError::Layer(format!("no fee estimate within {timeout:?}")))?
            .map_err(|e| SettlementError::Layer(format!("estimating fees: {e}")))?;
        let (mut max_fee, mut priority) =
            (fees.max_fee_per_gas, fees.max_priority_fee_per_gas.max(1));
        let percent = if carries_blobs { BLOB_FEE_BUMP_PERCENT } else { FEE_BUMP_PERCENT };
        let mut blob_fee = 0;
        if carries_blobs {
            let base = tokio::time::timeout(timeout, provider.get_blob_base_fee())
                .await
                .map_err(|_| {
                    SettlementError::Layer(format!("no blob base fee within {timeout:?}"))
                })?
                .map_err(|e| SettlementError::Layer(format!("reading the blob base fee: {e}")))?;
            blob_fee = base.saturating_mul(2).max(1);
        }
        let max_bumps = if carries_blobs { MAX_BLOB_FEE_BUMPS } else { MAX_FEE_BUMPS };
        for _ in 1..attempts.min(max_bumps + 1) {
            max_fee = bump(max_fee, percent);
            priority = bump(priority, percent);
            blob_fee = bump(blob_fee, percent);
        }
        // A transaction of this nonce may be in the pool (it was signed, maybe broadcast): its
        // replacement must pay what the pool needs above it on every fee, whatever the
        // estimate says now. Where the cap or the last bump forbids that, it is kept instead.
        let required = if carries_blobs { BLOB_REPLACEMENT_PERCENT } else { REPLACEMENT_PERCENT };
        let sent = previous.as_ref().filter(|p| p.hash != B256::ZERO).and_then(|p| {
            let fees = sent_fees(&p.raw);
            if fees.is_none() {
                tracing::warn!(target: "settlement::sender", hash = %p.hash, "the persisted transaction does not decode: replacing it without a fee floor");
            }
            fees.map(|fees| (p, fees))
        });
        if let Some((_, (sent_max, sent_priority, sent_blob))) = sent {
            max_fee = max_fee.max(bump(sent_max, required));
            priority = priority.max(bump(sent_priority, required));
            if carries_blobs {
                blob_fee = blob_fee.max(bump(sent_blob, required));
            }
        }
        if let Some(cap) = self.config.max_fee_per_gas {
            max_fee = max_fee.min(cap);
        }
        priority = priority.min(max_fee);
        if let Some((previous, (sent_max, sent_priority, _))) = sent
            && (max_fee < bump(sent_max, required)
                || priority < bump(sent_priority, required)
                || attempts > max_bumps + 1)
        {
            return Err(self.hold(previous, required).await);
        }
        // The record of what is about to be sent; one for this nonce with a signed transaction
        // stays until the replacement is signed (that transaction may still be mined).
        let mut record = InFlightTx {
            stage: stage as u8,
            from,
            to,
            nonce,
            attempts,
            hash: B256::ZERO,
            raw: Vec::new(),
        };
        if sent.is_none() {
            self.store.write(|tx| tx.set_in_flight(Some(&record)))?;
        }
        let previous = previous.filter(|p| p.hash != B256::ZERO);

        let call = if carries_blobs { call.max_fee_per_blob_gas(blob_fee) } else { call };
        // The estimate is exact for the state it ran on; other chains' executions (a
        // MessageRoot's shared root is recomputed over every chain) can make the mined call
        // cost more, so the limit carries a margin.
        let estimate = tokio::time::timeout(timeout, call.estimate_gas())
            .await
            .map_err(|_| SettlementError::Layer(format!("no gas estimate within {timeout:?}")))?
            .map_err(|e| {
                SettlementError::Layer(format!("{name} batches {from}..={to}: {}", describe(&e)))
            })?;
        // ... but never above the block gas limit, or the node refuses it outright.
        let block_limit = tokio::time::timeout(
            timeout,
            provider.get_block_by_number(alloy::eips::BlockNumberOrTag::Latest),
        )
        .await
        .map_err(|_| SettlementError::Layer(format!("no latest block within {timeout:?}")))?
        .map_err(|e| SettlementError::Layer(format!("reading the latest block: {e}")))?
        .map_or(u64::MAX, |block| block.header.gas_limit);
        let limit = (estimate.saturating_mul(100 + GAS_MARGIN_PERCENT) / 100).min(block_limit);
        // Signed here, and persisted with its hash and bytes before it is broadcast: a crash
        // at any point leaves a record of exactly what may be in the settlement layer's pool.
        let mut request = call
            .gas(limit.max(estimate))
            .nonce(nonce)
            .max_fee_per_gas(max_fee)
            .max_priority_fee_per_gas(priority)
            .into_transaction_request();
        request.set_from(self.operator);
        request.set_chain_id(self.config.layer.chain_id);
        let signed = request.build(&self.wallet).await.map_err(|e| {
            SettlementError::Layer(format!("{name} batches {from}..={to}: signing: {e}"))
        })?;
        let hash = *signed.tx_hash();
        record.hash = hash;
        record.raw = signed.encoded_2718();
        let unchanged = self.store.write(|tx| {
            // A chain reorg may have unsealed the batches since the call was built.
            for (i, info) in sealed.unwrap_or_default().iter().enumerate() {
                if tx.batch(from + i as u64)?.is_none_or(|b| b.commit_info != *info) {
                    return Ok(false);
                }
            }
            tx.set_in_flight(Some(&record))?;
            Ok(true)
        })?;
        if !unchanged {
            return Err(SettlementError::Layer(format!(
                "{name} batches {from}..={to}: the chain reorged them while the commit was prepared; not sent"
            )));
        }
        let sending = std::time::Instant::now();
        let broadcast = tokio::time::timeout(timeout, provider.send_raw_transaction(&record.raw))
            .await
            .map_err(|_| {
                SettlementError::Layer(format!(
                    "{name} batches {from}..={to} ({hash}): no answer to the broadcast within {timeout:?}; it may be pending"
                ))
            })?;
        let pending = match broadcast {
            Ok(pending) => pending,
            Err(e) => {
                // The node answered with an error: it refused this transaction, which is in no
                // pool. What was in flight at this nonce before stays the record (it may still
                // be pooled, and the next replacement must top it); with nothing before, the
                // next attempt is a first send again, at the same fee.
                if e.as_error_resp().is_some() {
                    let restored = previous.clone().unwrap_or(InFlightTx {
                        hash: B256::ZERO,
                        raw: Vec::new(),
                        ..record.clone()
                    });
                    self.store.write(|tx| tx.set_in_flight(Some(&restored)))?;
                }
                let e = alloy::contract::Error::TransportError(e);
                return Err(SettlementError::Layer(format!(
                    "{name} batches {from}..={to}: {}",
                    describe(&e)
                )));
            }
        };
        debug!(target: "settlement::sender", stage = name, from, to, %hash, ms = sending.elapsed().as_millis() as u64, "sent");
        metrics::counter!("settlement_txs_sent_total", "stage" => name).increment(1);
        if attempts > 1 {
            metrics::counter!("settlement_txs_replaced_total", "stage" => name).increment(1);
            tracing::warn!(target: "settlement::sender", stage = name, from, to, nonce, attempts, max_fee, "resent with a higher fee");
        }
        failpoint(&format!("after-{name}-sent"));

        let receipt = pending
            .with_required_confirmations(self.config.layer_confirmations.max(1))
            .with_timeout(Some(timeout))
            .get_receipt()
            .await
            .map_err(|e| {
            SettlementError::Layer(format!("{name} batches {from}..={to} ({hash}) not mined: {e}; it will be resent with a higher fee"))
        })?;
        self.store.write(|tx| tx.set_in_flight(None))?;
        if !receipt.status() {
            return Err(SettlementError::Layer(format!(
                "{name} batches {from}..={to} reverted in {hash}"
            )));
        }
        metrics::counter!("settlement_gas_used_total", "stage" => name).increment(receipt.gas_used);
        let fee = U256::from(receipt.gas_used) * U256::from(receipt.effective_gas_price);
        metrics::counter!("settlement_fees_wei_total", "stage" => name)
            .increment(fee.saturating_to::<u64>());
        info!(target: "settlement::sender", stage = name, from, to, %hash, gas = receipt.gas_used, "mined");
        failpoint(&format!("after-{name}-mined"));
        Ok(Mined { gas_used: receipt.gas_used, cost_wei: fee })
    }
}

/// What a mined settlement-layer transaction cost.
#[derive(Debug, Clone, Copy)]
struct Mined {
    gas_used: u64,
    cost_wei: U256,
}

/// What a settlement-layer transaction does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
enum Stage {
    Commit = 0,
    Prove = 1,
    Execute = 2,
    /// Gateway mode: commit, prove and execute at once.
    Settle = 3,
}

/// The name of a stage as `InFlightTx::stage` stores it.
pub(crate) fn stage_name(stage: u8) -> &'static str {
    [Stage::Commit, Stage::Prove, Stage::Execute, Stage::Settle]
        .into_iter()
        .find(|s| *s as u8 == stage)
        .map_or("unknown", Stage::as_str)
}

impl Stage {
    const fn as_str(self) -> &'static str {
        match self {
            Self::Commit => "commit",
            Self::Prove => "prove",
            Self::Execute => "execute",
            Self::Settle => "settle",
        }
    }
}

/// The contract's custom error by name when there is one, else the transport's message.
fn describe(err: &alloy::contract::Error) -> String {
    if let Some(decoded) = err.as_decoded_interface_error::<ChainExecutor::ChainExecutorErrors>() {
        return format!("{decoded:?}");
    }
    match err.as_decoded_interface_error::<GatewayExecutor::GatewayExecutorErrors>() {
        Some(decoded) => format!("{decoded:?}"),
        None => err.to_string(),
    }
}

/// The fees a persisted signed transaction pays: max fee, priority fee, blob fee (0 without
/// blobs); `None` when the bytes do not decode.
fn sent_fees(raw: &[u8]) -> Option<(u128, u128, u128)> {
    use alloy::{consensus::Transaction as _, eips::eip2718::Decodable2718};
    let sent = alloy::consensus::TxEnvelope::network_decode(&mut &raw[..])
        .or_else(|_| alloy::consensus::TxEnvelope::decode_2718(&mut &raw[..]))
        .ok()?;
    Some((
        sent.max_fee_per_gas(),
        sent.max_priority_fee_per_gas().unwrap_or_default(),
        sent.max_fee_per_blob_gas().unwrap_or_default(),
    ))
}

/// The counters of `executor` (reached at `rpc_url`), read within `timeout`.
pub(crate) async fn read_counters<P: Provider>(
    executor: &ChainExecutor::ChainExecutorInstance<P>,
    rpc_url: &Url,
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
    tokio::time::timeout(timeout, read)
        .await
        .map_err(|_| {
            SettlementError::Layer(format!("no answer from {rpc_url} within {timeout:?}"))
        })?
        .map_err(|e| SettlementError::Layer(format!("reading the executor's counters: {e}")))
}

/// The counters of the chain's executor on `layer`, through a read-only connection.
pub(crate) async fn layer_counters(
    layer: &crate::SettlementLayerEndpoint,
    timeout: Duration,
) -> SettlementResult<OnChainCounters> {
    let provider = alloy::providers::ProviderBuilder::new().connect_http(layer.rpc_url.clone());
    read_counters(&ChainExecutor::new(layer.executor, provider), &layer.rpc_url, timeout).await
}
