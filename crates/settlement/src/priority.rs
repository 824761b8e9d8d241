//! The chain's priority queue (L1 -> L2 transactions) on its settlement layer: watched for
//! censorship (`settlement_status.priority`: pending, oldest age, expired), and, with the
//! inbox relayer's key, relayed: each operation queued there is handed to the chain's `L2Inbox`,
//! in queue order, one transaction each.
//!
//! Exactly once: each `processOp` is signed and persisted in the store (the relayer's own slot)
//! before it is broadcast, so a node killed between the broadcast and the receipt finds it at
//! restart and replaces it at the same nonce (a higher fee) instead of sending a second
//! transaction: at most one of them is mined. The inbox also takes only its `nextOpIdOf(layer)`,
//! so an operation sent twice anyway (a second relayer) is refused there, never processed
//! twice; the next step reads `nextOpId` again and goes on from it. What the chain processed
//! reaches the batches through the inbox's logs (see `ingest`), and the settlement layer's
//! executor checks them against its queue when it executes each batch.

use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use alloy::{
    network::EthereumWallet,
    primitives::{Address, B256, Bytes, U256, keccak256},
    providers::{DynProvider, Provider, ProviderBuilder},
    rpc::types::Filter,
    sol_types::{SolEvent, SolValue},
};
use gateway_contracts::{ChainExecutor, GatewayExecutor, L2Inbox};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use gateway_store::InFlightSlot;

use crate::{
    config::{InboxConfig, L1FinalitySource, SettlementConfig},
    error::{LayerCall, LayerError, SettlementError, SettlementResult},
    send::{Signer, broadcast_signed, confirm_broadcast},
    state::{Pipeline, wait},
    status::TxStage,
    status::{GatewayL1Queue, PriorityStatus},
    support::{lock, within},
};

/// How long one read or one receipt may take.
const STEP_TIMEOUT: Duration = Duration::from_secs(60);
/// Layer blocks read per `eth_getLogs`.
const LOG_PAGE: u64 = 10_000;
/// Pages of the Gateway's queue on L1 read per step (a node that starts reads L1's history
/// over several steps, relaying meanwhile).
const L1_LEG_PAGES_PER_STEP: u64 = 5;
/// How long one read of the Gateway's queue on L1 may take (it only feeds the status).
const L1_LEG_TIMEOUT: Duration = Duration::from_secs(10);
/// How often the Gateway's queue on L1 is read.
const L1_LEG_INTERVAL: Duration = Duration::from_secs(5);

/// One operation as its layer queued it.
#[derive(Debug, Clone)]
struct QueuedOp {
    block: u64,
    expiration: u64,
    sender: Address,
    data: Bytes,
    /// Its hash, as the executor holds it (checked again before it is relayed).
    hash: B256,
}

/// The queue of one executor, as read from its `NewPriorityRequest` logs.
#[derive(Debug, Default)]
struct Queue {
    /// The executor (and its layer) it belongs to.
    executor: Address,
    layer: u64,
    /// The next layer block to read logs from.
    next_block: u64,
    /// Operations not yet consumed, by id.
    ops: BTreeMap<u64, QueuedOp>,
}

/// What this node last read of the Gateway's queue on L1 (see [`read_l1_leg`]), read again
/// at most every [`L1_LEG_INTERVAL`] so that a run of relays does not pay for it each time.
#[derive(Default)]
struct L1Leg {
    queue: Queue,
    read: Option<(Instant, Option<GatewayL1Queue>)>,
}

/// Watches, and with a key relays, until `shutdown`.
pub(crate) async fn run(
    pipeline: Arc<Pipeline>,
    inbox: InboxConfig,
    shutdown: CancellationToken,
) -> SettlementResult<()> {
    let chain: DynProvider =
        ProviderBuilder::new().connect_http(inbox.chain_rpc_url.clone()).erased();
    let relayer = match &inbox.relayer_key {
        Some(key) => {
            let signer = key.signer("inbox relayer")?;
            // The chain's own transactions: once mined is final enough (the next step reads
            // `nextOpIdOf` again), and the settlement layer's fee cap is not the chain's.
            let config = SettlementConfig {
                layer_confirmations: 1,
                max_fee_per_gas: None,
                ..(*pipeline.config).clone()
            };
            Some(Relayer {
                address: signer.address(),
                wallet: EthereumWallet::from(signer),
                config,
                held: Mutex::new(None),
            })
        }
        None => None,
    };
    let mut queue = Queue::default();
    let mut l1_leg = L1Leg::default();
    loop {
        let result =
            step(&pipeline, &inbox, &chain, relayer.as_ref(), &mut queue, &mut l1_leg).await;
        pipeline.record("priority", &result);
        if matches!(result, Ok(true)) {
            continue;
        }
        if wait(&shutdown, &pipeline.wakes.send, pipeline.config.poll_interval).await {
            return Ok(());
        }
    }
}

/// What signs `processOp`, when this node relays.
struct Relayer {
    address: Address,
    wallet: EthereumWallet,
    /// The node's settlement config, with the chain's confirmations (1) and no fee cap.
    config: SettlementConfig,
    /// The transaction last held at a fee cap (see `send`).
    held: Mutex<Option<B256>>,
}

/// Reads the queue, records its status, and relays the next operation if this node relays and
/// the chain has not processed it; true when one was processed.
async fn step(
    pipeline: &Pipeline,
    inbox: &InboxConfig,
    chain: &DynProvider,
    relayer: Option<&Relayer>,
    queue: &mut Queue,
    l1_leg: &mut L1Leg,
) -> SettlementResult<bool> {
    let contract = L2Inbox::new(inbox.address, chain.clone());
    let active = pipeline.active_config();
    let layer_id = U256::from(active.layer.chain_id);
    let next: u64 =
        within(STEP_TIMEOUT, "L2Inbox.nextOpIdOf", contract.nextOpIdOf(layer_id).call())
            .await?
            .saturating_to();
    let layer = ProviderBuilder::new().connect_http(active.layer.rpc_url.clone());
    if queue.executor != active.layer.executor || queue.layer != active.layer.chain_id {
        // Another layer (a migration): its own queue, read from its start.
        *queue = Queue {
            executor: active.layer.executor,
            layer: active.layer.chain_id,
            ..Queue::default()
        };
    }
    let executor = ChainExecutor::new(active.layer.executor, &layer);
    let head: u64 = within(STEP_TIMEOUT, "priorityQueueHead", executor.priorityQueueHead().call())
        .await?
        .saturating_to();
    let pending: u64 =
        within(STEP_TIMEOUT, "pendingPriorityOps", executor.pendingPriorityOps().call())
            .await?
            .saturating_to();
    let queued = head.saturating_add(pending);
    let latest = within(STEP_TIMEOUT, "the layer's head", layer.get_block_number()).await?;
    // Operations are read only once as deep as the layer's confirmations: a deposit a reorg
    // of the layer drops must not be credited on the chain.
    let safe = latest.saturating_sub(active.layer_confirmations.saturating_sub(1));
    read_logs(&layer, queue, safe, STEP_TIMEOUT).await?;
    queue.ops.retain(|id, _| *id >= head.min(next));
    let oldest = queue.ops.get(&head).filter(|_| pending > 0);
    // Only what the status shows: a failed or unfinished read of it never holds relaying up.
    let gateway_l1_queue = match on_gateway_via(pipeline, &active) {
        Some(_) if l1_leg.read.is_some_and(|(at, _)| at.elapsed() < L1_LEG_INTERVAL) => {
            l1_leg.read.and_then(|(_, leg)| leg)
        }
        Some(source) => {
            let confirmations = active.layer_confirmations;
            let leg = match read_l1_leg(
                source,
                active.layer.executor,
                confirmations,
                &mut l1_leg.queue,
            )
            .await
            {
                Ok(leg) => leg,
                Err(err) => {
                    warn!(target: "settlement::priority", error = %err, "reading the Gateway's queue on L1 failed; its part of the status is unknown");
                    None
                }
            };
            l1_leg.read = Some((Instant::now(), leg));
            leg
        }
        None => None,
    };
    let status = PriorityStatus {
        layer: active.layer.chain_id,
        queued,
        processed: next,
        pending,
        oldest_age_blocks: oldest.map_or(0, |op| latest.saturating_sub(op.block)),
        expired: queue.ops.range(head..queued).filter(|(_, op)| op.expiration < latest).count()
            as u64,
        gateway_l1_queue,
    };
    record(&status);
    *lock(&pipeline.priority) = Some(status);
    let Some(relayer) = relayer.filter(|_| next < queued) else { return Ok(false) };
    let Some(op) = queue.ops.get(&next).cloned() else { return Ok(false) };
    // What the layer holds now for this id must be what was read (a reorg of the layer may
    // have replaced it): otherwise the queue is read again from its start.
    let held =
        within(STEP_TIMEOUT, "priorityOpHash", executor.priorityOpHash(U256::from(next)).call())
            .await?;
    if held != op.hash {
        warn!(target: "settlement::priority", id = next, "the layer's queue changed under what was read (a reorg): reading it again");
        *queue = Queue { executor: queue.executor, layer: queue.layer, ..Queue::default() };
        return Ok(false);
    }
    let call =
        contract.processOp(layer_id, U256::from(next), op.sender, op.data).from(relayer.address);
    let chain_id = pipeline.config.chain_id;
    let signer = Signer {
        provider: chain,
        wallet: &relayer.wallet,
        address: relayer.address,
        layer: chain_id,
        rpc_url: &inbox.chain_rpc_url,
        slot: InFlightSlot::Relay { chain: chain_id, signer: relayer.address },
        held: &relayer.held,
    };
    let (store, config) = (&pipeline.store, &relayer.config);
    // Signed and persisted before it is broadcast; one still in flight from before (a crash)
    // is replaced at its nonce, never joined by a second.
    let broadcast =
        broadcast_signed(store, config, &signer, TxStage::Relay, next, next, call, false, None)
            .await?;
    crate::failpoint::failpoint("after-priority-op-sent");
    let hash = broadcast.hash;
    match confirm_broadcast(store, config, &signer, TxStage::Relay, next, next, broadcast).await {
        Ok(_) => {}
        Err(SettlementError::Layer(call)) if matches!(*call.source, LayerError::Reverted(_)) => {
            // Another relayer processed it first: read again.
            warn!(target: "settlement::priority", id = next, %hash, "processOp reverted; reading nextOpIdOf again");
            return Ok(false);
        }
        Err(err) => return Err(err),
    }
    metrics::counter!("settlement_priority_ops_relayed_total").increment(1);
    info!(target: "settlement::priority", id = next, %hash, "priority operation processed on the chain");
    Ok(true)
}

/// Where the Gateway's own queue on L1 is, when the chain settles on the Gateway now and this
/// node knows it (`--settlement.gateway-l1-executor`, the L1-finality source).
fn on_gateway_via<'a>(
    pipeline: &'a Pipeline,
    active: &SettlementConfig,
) -> Option<&'a L1FinalitySource> {
    let config = &pipeline.config;
    let source = config.l1_finality.as_ref().filter(|_| config.gateway.is_none())?;
    match &config.migration {
        Some(migration) => (active.layer.chain_id == migration.gateway.chain_id).then_some(source),
        None => Some(source),
    }
}

/// The first leg of an L1 -> L2 transaction to a chain on the Gateway: the Gateway's own queue
/// on L1 (`GatewayExecutor`), where the Bridgehub queues it with an expiry in L1 blocks until
/// the Gateway's node forwards it into the Gateway. Reads that queue's logs on from where the
/// last read stopped (at most [`L1_LEG_PAGES_PER_STEP`] pages per call, as deep as
/// `confirmations`) and counts this chain's operations in it (those for `target`, the chain's
/// executor on the Gateway) that the Gateway has not consumed; `None` until the read has
/// caught up with L1.
async fn read_l1_leg(
    source: &L1FinalitySource,
    target: Address,
    confirmations: u64,
    leg: &mut Queue,
) -> SettlementResult<Option<GatewayL1Queue>> {
    let l1 = ProviderBuilder::new().connect_http(source.l1_rpc_url.clone());
    if leg.executor != source.gateway_executor {
        *leg = Queue { executor: source.gateway_executor, ..Queue::default() };
    }
    let executor = GatewayExecutor::new(source.gateway_executor, &l1);
    let head: u64 = within(
        L1_LEG_TIMEOUT,
        "the Gateway's priorityQueueHead on L1",
        executor.priorityQueueHead().call(),
    )
    .await?
    .saturating_to();
    let latest = within(L1_LEG_TIMEOUT, "L1's head", l1.get_block_number()).await?;
    let safe = latest.saturating_sub(confirmations.saturating_sub(1));
    let through = safe.min(leg.next_block.saturating_add(L1_LEG_PAGES_PER_STEP * LOG_PAGE - 1));
    read_logs(&l1, leg, through, L1_LEG_TIMEOUT).await?;
    // Only this chain's operations are kept: a forward is abi.encode(target, value, call,
    // gas, sender), target being the chain's executor on the Gateway.
    leg.ops.retain(|id, op| {
        *id >= head
            && <(Address, U256, Bytes, U256, Address)>::abi_decode_params(&op.data)
                .is_ok_and(|(to, ..)| to == target)
    });
    if through < safe {
        return Ok(None);
    }
    Ok(Some(GatewayL1Queue {
        pending: leg.ops.len() as u64,
        oldest_age_blocks: leg
            .ops
            .values()
            .map(|op| latest.saturating_sub(op.block))
            .max()
            .unwrap_or(0),
        expired: leg.ops.values().filter(|op| op.expiration < latest).count() as u64,
    }))
}

/// Reads the executor's `NewPriorityRequest` logs from where the last read stopped through
/// `latest`, page by page.
async fn read_logs(
    layer: &impl Provider,
    queue: &mut Queue,
    latest: u64,
    timeout: Duration,
) -> SettlementResult<()> {
    while queue.next_block <= latest {
        let to = latest.min(queue.next_block.saturating_add(LOG_PAGE - 1));
        let filter = Filter::new()
            .address(queue.executor)
            .event_signature(ChainExecutor::NewPriorityRequest::SIGNATURE_HASH)
            .from_block(queue.next_block)
            .to_block(to);
        let logs = within(timeout, "NewPriorityRequest logs", layer.get_logs(&filter)).await?;
        for log in logs {
            let request =
                ChainExecutor::NewPriorityRequest::decode_log_data(log.data()).map_err(|e| {
                    LayerCall::new(
                        "decoding NewPriorityRequest",
                        LayerError::Unexpected(e.to_string()),
                    )
                })?;
            // What the executor queued is what the inbox hashes: a mismatch would be refused
            // there, so it is not kept.
            let hash =
                keccak256((request.id, request.sender, request.data.clone()).abi_encode_params());
            if hash != request.opHash {
                warn!(target: "settlement::priority", id = %request.id, "a queued operation's hash does not match its data");
                continue;
            }
            queue.ops.insert(
                request.id.saturating_to(),
                QueuedOp {
                    block: log.block_number.unwrap_or(to),
                    expiration: request.expirationBlock,
                    sender: request.sender,
                    data: request.data,
                    hash,
                },
            );
        }
        queue.next_block = to + 1;
    }
    Ok(())
}

/// The queue's gauges.
fn record(status: &PriorityStatus) {
    metrics::gauge!("settlement_priority_ops_pending").set(status.pending as f64);
    metrics::gauge!("settlement_priority_ops_unprocessed")
        .set(status.queued.saturating_sub(status.processed) as f64);
    metrics::gauge!("settlement_priority_oldest_age_blocks").set(status.oldest_age_blocks as f64);
    metrics::gauge!("settlement_priority_ops_expired").set(status.expired as f64);
    // Unknown (a failed or unfinished read) leaves the gauges as last read: a zero there would
    // clear the alarm while L1 cannot be read.
    if let Some(leg) = status.gateway_l1_queue {
        metrics::gauge!("settlement_priority_gateway_l1_ops_pending").set(leg.pending as f64);
        metrics::gauge!("settlement_priority_gateway_l1_oldest_age_blocks")
            .set(leg.oldest_age_blocks as f64);
        metrics::gauge!("settlement_priority_gateway_l1_ops_expired").set(leg.expired as f64);
    }
}
