//! One settlement-layer transaction, signed and persisted before it is broadcast: fees (with
//! bumps for a stuck one, a floor above what the pool holds, the operator's cap), gas (estimate
//! plus a margin, under the block limit), broadcast, and the wait for its receipt.

use std::sync::Mutex;

use alloy::{
    eips::eip2718::Encodable2718,
    network::{EthereumWallet, NetworkTransactionBuilder, TransactionBuilder},
    primitives::{Address, B256, U256},
    providers::{DynProvider, Provider},
    transports::http::reqwest::Url,
};
use gateway_store::{InFlightSlot, InFlightTx, Store};
use tracing::{debug, info};

use super::Sender;
use crate::{
    config::SettlementConfig,
    error::{LayerCall, LayerError, SettlementError, SettlementResult},
    failpoint::failpoint,
    status::TxStage,
    support::{lock, within},
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

/// What a mined settlement-layer transaction cost.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Mined {
    pub(crate) gas_used: u64,
    pub(crate) cost_wei: U256,
}

/// Who signs a settlement-layer transaction, on which layer, and where its record in flight is
/// kept (each signer has its own nonces on each layer, so its own slot).
pub(crate) struct Signer<'a> {
    /// Connected to the layer.
    pub(crate) provider: &'a DynProvider,
    /// Signs.
    pub(crate) wallet: &'a EthereumWallet,
    /// The signing account.
    pub(crate) address: Address,
    /// The layer's chain id.
    pub(crate) layer: u64,
    /// The layer's endpoint (for messages).
    pub(crate) rpc_url: &'a Url,
    /// Where the signed transaction is persisted before it is broadcast.
    pub(crate) slot: InFlightSlot,
    /// The transaction last held at the fee cap (counted once).
    pub(crate) held: &'a Mutex<Option<B256>>,
}

impl Sender {
    /// The operator signing on the settlement layer, in the sender's slot.
    fn signer(&self) -> Signer<'_> {
        Signer {
            provider: self.executor.provider(),
            wallet: &self.wallet,
            address: self.operator,
            layer: self.config.layer.chain_id,
            rpc_url: &self.config.layer.rpc_url,
            slot: InFlightSlot::Sender,
            held: &self.held,
        }
    }

    /// One transaction by the operator: [`broadcast_signed`], then [`confirm_broadcast`].
    pub(super) async fn send<D>(
        &self,
        stage: TxStage,
        from: u64,
        to: u64,
        call: alloy::contract::CallBuilder<&DynProvider, D>,
        carries_blobs: bool,
        sealed: Option<&[Vec<u8>]>,
    ) -> SettlementResult<Mined>
    where
        D: alloy::contract::CallDecoder + Send + Sync,
    {
        let signer = self.signer();
        let name = stage.as_str();
        let broadcast = broadcast_signed(
            &self.store,
            &self.config,
            &signer,
            stage,
            from,
            to,
            call,
            carries_blobs,
            sealed,
        )
        .await?;
        failpoint(&format!("after-{name}-sent"));
        let mined =
            confirm_broadcast(&self.store, &self.config, &signer, stage, from, to, broadcast)
                .await?;
        failpoint(&format!("after-{name}-mined"));
        self.observer.mined(
            self.config.layer.chain_id,
            stage,
            from..=to,
            mined.gas_used,
            mined.cost_wei,
            || {
                let batches = self.store.batches(from..=to).ok()?;
                batches.iter().try_fold(0u64, |txs, batch| {
                    let info = crate::commitment::decode_commit_info(batch).ok()?;
                    Some(txs.saturating_add(info.numberOfL2Txs.saturating_to::<u64>()))
                })
            },
        );
        Ok(mined)
    }
}

/// The transaction `previous` sent at this nonce stays the one in flight: the fee cap (or the
/// last bump) leaves no replacement the pool would take. It is broadcast again if the node lost
/// it; the returned error says the sender waits for it.
async fn hold(
    config: &SettlementConfig,
    signer: &Signer<'_>,
    previous: &InFlightTx,
    required_percent: u128,
) -> SettlementError {
    let provider = signer.provider;
    let timeout = config.tx_timeout;
    let known =
        within(timeout, "the held transaction", provider.get_transaction_by_hash(previous.hash))
            .await
            .ok()
            .flatten()
            .is_some();
    if !known {
        // Lost from the pool: the very same signed transaction goes out again.
        let resent =
            within(timeout, "rebroadcast", provider.send_raw_transaction(&previous.raw)).await;
        info!(target: "settlement::send", hash = %previous.hash, ok = resent.is_ok(), "rebroadcast the held transaction");
    }
    let mut held = lock(signer.held);
    if *held != Some(previous.hash) {
        *held = Some(previous.hash);
        metrics::counter!("settlement_txs_held_at_fee_cap_total").increment(1);
        info!(target: "settlement::send", hash = %previous.hash, nonce = previous.nonce, "no replacement the pool would take: waiting for the transaction in flight");
    }
    let cap = match config.max_fee_per_gas {
        Some(cap) => format!("the fee cap (--settlement.max-fee-per-gas {cap})"),
        None => "the highest fee the sender pays".to_string(),
    };
    SettlementError::HeldAtFeeCap { hash: previous.hash, cap, required_percent }
}

/// A transaction signed, persisted and broadcast, not yet seen mined.
pub(crate) struct Broadcast {
    /// Its hash.
    pub(crate) hash: B256,
    /// What it does, for messages.
    what: String,
    pending: alloy::providers::PendingTransactionBuilder<alloy::network::Ethereum>,
}

/// Signs, persists and broadcasts one transaction with `signer`'s next nonce (its record in
/// flight, in the signer's slot, is written before it is broadcast). A transaction still in flight from before (not mined in time, dropped,
/// or sent just before a crash) is replaced: same nonce, every fee at least what the pool needs
/// above the one it replaces, so at most one of them is mined. A blob transaction
/// (`carries_blobs`) also pays a blob fee, and its replacements double every fee, as blob pools
/// require. `sealed` (commits) holds the batches' commit info as the call was built: if a chain
/// reorg changed them meanwhile, nothing is sent.
#[allow(clippy::too_many_arguments)] // one transaction's whole description, used by two callers
pub(crate) async fn broadcast_signed<D>(
    store: &Store,
    config: &SettlementConfig,
    signer: &Signer<'_>,
    stage: TxStage,
    from: u64,
    to: u64,
    call: alloy::contract::CallBuilder<&DynProvider, D>,
    carries_blobs: bool,
    sealed: Option<&[Vec<u8>]>,
) -> SettlementResult<Broadcast>
where
    D: alloy::contract::CallDecoder + Send + Sync,
{
    let provider = signer.provider;
    let name = stage.as_str();
    let timeout = config.tx_timeout;
    let slot = signer.slot;
    let nonce = within(
        timeout,
        &format!("reading the nonce of {} on {}", signer.address, signer.rpc_url),
        provider.get_transaction_count(signer.address).latest(),
    )
    .await?;
    // Only a transaction that was broadcast (it has a hash) can be stuck in a mempool and
    // need a higher fee to be replaced; a send that failed before that (a revert in gas
    // estimation, an outage) is retried at the same fee.
    let previous = store.in_flight_at(&slot)?.filter(|p| p.nonce == nonce);
    let attempts = match &previous {
        Some(previous) if previous.hash != B256::ZERO => previous.attempts + 1,
        Some(previous) => previous.attempts.max(1),
        None => 1,
    };
    let fees = within(timeout, "estimating fees", provider.estimate_eip1559_fees()).await?;
    let (mut max_fee, mut priority) = (fees.max_fee_per_gas, fees.max_priority_fee_per_gas.max(1));
    let percent = if carries_blobs { BLOB_FEE_BUMP_PERCENT } else { FEE_BUMP_PERCENT };
    let mut blob_fee = 0;
    if carries_blobs {
        let base =
            within(timeout, "reading the blob base fee", provider.get_blob_base_fee()).await?;
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
                tracing::warn!(target: "settlement::send", hash = %p.hash, "the persisted transaction does not decode: replacing it without a fee floor");
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
    if let Some(cap) = config.max_fee_per_gas {
        max_fee = max_fee.min(cap);
    }
    priority = priority.min(max_fee);
    if let Some((previous, (sent_max, sent_priority, _))) = sent
        && (max_fee < bump(sent_max, required)
            || priority < bump(sent_priority, required)
            || attempts > max_bumps + 1)
    {
        return Err(hold(config, signer, previous, required).await);
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
        store.write(|tx| tx.set_in_flight_at(&slot, Some(&record)))?;
    }
    let previous = previous.filter(|p| p.hash != B256::ZERO);

    let call = if carries_blobs { call.max_fee_per_blob_gas(blob_fee) } else { call };
    // The estimate is exact for the state it ran on; other chains' executions (a
    // MessageRoot's shared root is recomputed over every chain) can make the mined call
    // cost more, so the limit carries a margin.
    let what = match stage {
        TxStage::Migrate => format!("migration {from}'s step"),
        TxStage::Relay => format!("L2Inbox.processOp of priority operation {from}"),
        _ => format!("{name} batches {from}..={to}"),
    };
    let estimate = within(timeout, &what, call.estimate_gas()).await?;
    // ... but never above the block gas limit, or the node refuses it outright.
    let block_limit = within(
        timeout,
        "reading the latest block",
        provider.get_block_by_number(alloy::eips::BlockNumberOrTag::Latest),
    )
    .await?
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
    request.set_from(signer.address);
    request.set_chain_id(signer.layer);
    let signed = request
        .build(signer.wallet)
        .await
        .map_err(|e| LayerCall::new(&what, LayerError::Signing(Box::new(e))))?;
    let hash = *signed.tx_hash();
    record.hash = hash;
    record.raw = signed.encoded_2718();
    let unchanged = store.write(|tx| {
        // A chain reorg may have unsealed the batches since the call was built.
        for (i, info) in sealed.unwrap_or_default().iter().enumerate() {
            if tx.batch(from + i as u64)?.is_none_or(|b| b.commit_info != *info) {
                return Ok(false);
            }
        }
        tx.set_in_flight_at(&slot, Some(&record))?;
        Ok(true)
    })?;
    if !unchanged {
        return Err(SettlementError::ReorgedWhileSending { stage: name, from, to });
    }
    let sending = std::time::Instant::now();
    let broadcast = within(
        timeout,
        &format!("{what} ({hash}): broadcast (it may be pending)"),
        provider.send_raw_transaction(&record.raw),
    )
    .await;
    let pending = match broadcast {
        Ok(pending) => pending,
        Err(call) => {
            // The node answered with an error: it refused this transaction, which is in no
            // pool. What was in flight at this nonce before stays the record (it may still
            // be pooled, and the next replacement must top it); with nothing before, the
            // next attempt is a first send again, at the same fee.
            if matches!(&*call.source, LayerError::Rpc(e) if e.as_error_resp().is_some()) {
                let restored = previous.clone().unwrap_or(InFlightTx {
                    hash: B256::ZERO,
                    raw: Vec::new(),
                    ..record.clone()
                });
                store.write(|tx| tx.set_in_flight_at(&slot, Some(&restored)))?;
            }
            return Err(call.into());
        }
    };
    debug!(target: "settlement::send", stage = name, from, to, %hash, ms = sending.elapsed().as_millis() as u64, "sent");
    metrics::counter!("settlement_txs_sent_total", "stage" => name).increment(1);
    if attempts > 1 {
        metrics::counter!("settlement_txs_replaced_total", "stage" => name).increment(1);
        tracing::warn!(target: "settlement::send", stage = name, from, to, nonce, attempts, max_fee, "resent with a higher fee");
    }
    Ok(Broadcast { hash, what, pending })
}

/// Waits (up to the tx timeout) for `broadcast` to be mined as deep as the settlement layer's
/// confirmations ask, then clears `signer`'s slot.
pub(crate) async fn confirm_broadcast(
    store: &Store,
    config: &SettlementConfig,
    signer: &Signer<'_>,
    stage: TxStage,
    from: u64,
    to: u64,
    broadcast: Broadcast,
) -> SettlementResult<Mined> {
    let Broadcast { hash, what, pending } = broadcast;
    let name = stage.as_str();
    let slot = signer.slot;
    let receipt = pending
        .with_required_confirmations(config.layer_confirmations.max(1))
        .with_timeout(Some(config.tx_timeout))
        .get_receipt()
        .await
        .map_err(|e| LayerCall::new(format!("{what} ({hash})"), e))?;
    store.write(|tx| tx.set_in_flight_at(&slot, None))?;
    if !receipt.status() {
        return Err(LayerCall::new(what, LayerError::Reverted(hash)).into());
    }
    metrics::counter!("settlement_gas_used_total", "stage" => name).increment(receipt.gas_used);
    // Blob transactions pay for their blobs too.
    let blob_fee = U256::from(receipt.blob_gas_used.unwrap_or_default())
        * U256::from(receipt.blob_gas_price.unwrap_or_default());
    let fee = U256::from(receipt.gas_used) * U256::from(receipt.effective_gas_price) + blob_fee;
    metrics::counter!("settlement_fees_wei_total", "stage" => name)
        .increment(fee.saturating_to::<u64>());
    info!(target: "settlement::send", stage = name, from, to, %hash, gas = receipt.gas_used, "mined");
    Ok(Mined { gas_used: receipt.gas_used, cost_wei: fee })
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
