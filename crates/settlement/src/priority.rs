//! The relayer of priority operations (L1 -> L2 transactions): hands the chain's `L2Inbox` the
//! operations queued for the chain on its settlement layer, in queue order, one transaction
//! each.
//!
//! Exactly once: the inbox takes only its `nextOpId`, so an operation sent twice (a crash
//! between the broadcast and the receipt, a second relayer) is refused there, never processed
//! twice; the next step reads `nextOpId` again and goes on from it. What the chain processed
//! reaches the batches through the inbox's logs (see `ingest`), and the settlement layer's
//! executor checks them against its queue when it executes each batch.

use std::{sync::Arc, time::Duration};

use alloy::{
    primitives::{U256, keccak256},
    providers::{DynProvider, Provider, ProviderBuilder},
    rpc::types::Filter,
    sol_types::{SolEvent, SolValue},
};
use gateway_contracts::{ChainExecutor, L2Inbox};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::{
    config::InboxConfig,
    error::{LayerCall, LayerError, SettlementResult},
    state::{Pipeline, wait},
    support::within,
};

/// How long one read or one receipt may take.
const STEP_TIMEOUT: Duration = Duration::from_secs(60);

/// Relays until `shutdown`; `inbox` has a relayer key (the caller checks).
pub(crate) async fn run(
    pipeline: Arc<Pipeline>,
    inbox: InboxConfig,
    shutdown: CancellationToken,
) -> SettlementResult<()> {
    let Some(key) = &inbox.relayer_key else { return Ok(()) };
    let chain = key.provider("inbox relayer", &inbox.chain_rpc_url)?;
    let mut from_block = 0u64;
    loop {
        let result = relay_next(&pipeline, &inbox, &chain, &mut from_block).await;
        pipeline.record("priority", &result);
        if matches!(result, Ok(true)) {
            continue;
        }
        if wait(&shutdown, &pipeline.wakes.send, pipeline.config.poll_interval).await {
            return Ok(());
        }
    }
}

/// Hands the inbox its next operation if the settlement layer has it queued; true when one
/// was processed. `from_block` is where the search for the next operation's event starts (the
/// block of the last one found).
async fn relay_next(
    pipeline: &Pipeline,
    inbox: &InboxConfig,
    chain: &DynProvider,
    from_block: &mut u64,
) -> SettlementResult<bool> {
    let contract = L2Inbox::new(inbox.address, chain);
    let next: U256 = within(STEP_TIMEOUT, "L2Inbox.nextOpId", contract.nextOpId().call()).await?;
    let active = pipeline.active_config();
    let layer = ProviderBuilder::new().connect_http(active.layer.rpc_url.clone());
    let executor = ChainExecutor::new(active.layer.executor, &layer);
    let head: U256 =
        within(STEP_TIMEOUT, "priorityQueueHead", executor.priorityQueueHead().call()).await?;
    let pending: U256 =
        within(STEP_TIMEOUT, "pendingPriorityOps", executor.pendingPriorityOps().call()).await?;
    let queued = head.saturating_add(pending);
    metrics::gauge!("settlement_priority_ops_unprocessed")
        .set(f64::from(queued.saturating_sub(next)));
    if next >= queued {
        return Ok(false);
    }
    let filter = Filter::new()
        .address(active.layer.executor)
        .event_signature(ChainExecutor::NewPriorityRequest::SIGNATURE_HASH)
        .topic1(next)
        .from_block(*from_block);
    let logs = within(STEP_TIMEOUT, "NewPriorityRequest logs", layer.get_logs(&filter)).await?;
    let Some(log) = logs.first() else {
        // Queued but not found from `from_block`: search from the start next time.
        *from_block = 0;
        return Ok(false);
    };
    let request = ChainExecutor::NewPriorityRequest::decode_log_data(log.data()).map_err(|e| {
        LayerCall::new("decoding NewPriorityRequest", LayerError::Unexpected(e.to_string()))
    })?;
    // What the executor queued is what the inbox hashes: a mismatch is refused there anyway.
    let hash = keccak256((request.id, request.sender, request.data.clone()).abi_encode_params());
    if hash != request.opHash {
        warn!(target: "settlement::priority", id = %next, "the queued operation's hash does not match its data: not relayed");
        return Ok(false);
    }
    *from_block = log.block_number.unwrap_or(*from_block);
    let call = contract.processOp(request.id, request.sender, request.data);
    let pending = within(STEP_TIMEOUT, "L2Inbox.processOp", call.send()).await?;
    crate::failpoint::failpoint("after-priority-op-sent");
    let hash = *pending.tx_hash();
    let receipt = within(STEP_TIMEOUT, "L2Inbox.processOp receipt", pending.get_receipt()).await?;
    if !receipt.status() {
        // Another relayer (or an earlier send of this one) processed it first: read again.
        warn!(target: "settlement::priority", id = %next, %hash, "processOp reverted; reading nextOpId again");
        return Ok(false);
    }
    metrics::counter!("settlement_priority_ops_relayed_total").increment(1);
    info!(target: "settlement::priority", id = %next, %hash, "priority operation processed on the chain");
    Ok(true)
}
