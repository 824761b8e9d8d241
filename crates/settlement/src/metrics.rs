//! The settlement ExEx's metrics (prefix `settlement_`), with their descriptions.

use metrics::{describe_counter, describe_gauge, describe_histogram};

use crate::status::SettlementStatus;

/// Counters that count alarms or failures: set to 0 at start, so that the first event after a
/// start is an increase an alert rule sees (a series born at 1 is no increase).
const ZEROED_COUNTERS: [&str; 8] = [
    "settlement_reorg_below_sealed_total",
    "settlement_reorg_below_committed_total",
    "settlement_proofs_failed_total",
    "settlement_txs_held_at_fee_cap_total",
    "settlement_migrations_given_up_total",
    "gateway_chains_held_back_total",
    "gateway_chain_proofs_unreadable_total",
    "settlement_proof_jobs_cancelled_total",
];

/// Registers a description for every metric the settlement ExEx records, and sets the alarm
/// counters (and the gauges alerts read) to 0 where they do not exist yet. Idempotent.
pub fn describe() {
    for name in ZEROED_COUNTERS {
        metrics::counter!(name).increment(0);
    }
    metrics::gauge!("settlement_pending_tx_age_seconds").increment(0.0);
    for task in ["batcher", "prover", "sender", "finality", "interop", "migration", "priority"] {
        metrics::counter!("settlement_errors_total", "task" => task).increment(0);
    }
    for stage in ["commit", "prove", "execute", "settle"] {
        metrics::counter!("settlement_txs_replaced_total", "stage" => stage).increment(0);
    }
    for outcome in ["completed", "cancelled"] {
        metrics::counter!("settlement_migrations_total", "outcome" => outcome).increment(0);
    }
    describe_counter!(
        "settlement_gateway_fees_wei_total",
        "the Gateway's settlement fee paid with commits (its price per committed batch; wei of its gas token, saturating at u64)"
    );
    describe_counter!(
        "settlement_priority_ops_relayed_total",
        "priority operations (L1 -> L2 transactions) this node handed to the chain's L2Inbox"
    );
    describe_gauge!(
        "settlement_priority_ops_unprocessed",
        "priority operations queued on the settlement layer that the chain has not processed yet"
    );
    describe_gauge!(
        "settlement_priority_ops_pending",
        "priority operations queued on the settlement layer and not yet executed there"
    );
    describe_gauge!(
        "settlement_priority_oldest_age_blocks",
        "settlement-layer blocks the oldest pending priority operation has waited"
    );
    describe_gauge!(
        "settlement_priority_ops_expired",
        "pending priority operations past their expiration block: the chain is late to include them (alarm: censorship)"
    );
    describe_gauge!(
        "settlement_priority_gateway_l1_ops_pending",
        "a chain on the Gateway: its priority operations still in the Gateway's own queue on L1 (not yet carried by a settled Gateway batch)"
    );
    describe_gauge!(
        "settlement_priority_gateway_l1_oldest_age_blocks",
        "a chain on the Gateway: L1 blocks the oldest of its operations in the Gateway's queue on L1 has waited"
    );
    describe_gauge!(
        "settlement_priority_gateway_l1_ops_expired",
        "a chain on the Gateway: its operations in the Gateway's queue on L1 past their L1 expiration block: the Gateway is late to forward them (alarm: censorship)"
    );
    describe_histogram!(
        "settlement_batch_stage_seconds",
        "time a batch waited for each stage (label stage: proved, committed, proved_on_chain, executed, l1_final), measured from the previous stage as this process saw it"
    );
    describe_histogram!(
        "settlement_l1_gas_per_l2_tx",
        "settlement-layer gas of the commit, prove and execute transactions (gateway mode: settle) per L2 transaction of the batches they carried"
    );
    describe_gauge!(
        "settlement_operator_balance_wei",
        "the operator's balance on each layer (label layer: l1, gateway, or settlement_layer when the node knows one layer)"
    );
    describe_gauge!(
        "settlement_operator_batches_affordable",
        "batches the operator's balance still pays for on the layer it settles on, at the recent settlement cost per batch (alarm when low)"
    );
    describe_gauge!(
        "settlement_pending_tx_age_seconds",
        "how long the settlement transaction in flight has waited to be mined (0: none)"
    );
    describe_counter!("settlement_batches_sealed_total", "batches sealed, by seal reason");
    describe_counter!(
        "settlement_batches_unsealed_total",
        "sealed, never committed batches unsealed because the chain reorged their blocks"
    );
    describe_counter!(
        "settlement_reorg_below_sealed_total",
        "chain reorgs that reached a sealed, never committed batch: it was unsealed and is rebuilt (alarm)"
    );
    describe_counter!(
        "settlement_reorg_below_committed_total",
        "chain reorgs that reached a batch already committed on the settlement layer (alarm)"
    );
    describe_histogram!("settlement_proof_seconds", "time to prove and natively verify a batch");
    describe_counter!(
        "settlement_proof_jobs_cancelled_total",
        "proof jobs cancelled because their batch was unsealed (a chain reorg) while proving"
    );
    describe_counter!(
        "settlement_proofs_failed_total",
        "proof jobs that failed and will be retried"
    );
    describe_gauge!(
        "settlement_proofs_waiting",
        "sealed batches waiting for their proof (the proof queue)"
    );
    describe_counter!("settlement_txs_sent_total", "settlement-layer transactions sent, by stage");
    describe_counter!(
        "settlement_txs_held_at_fee_cap_total",
        "times a stuck transaction was kept (and rebroadcast if lost) because the fee cap left no valid replacement"
    );
    describe_counter!(
        "settlement_txs_replaced_total",
        "settlement-layer transactions resent with the same nonce and a higher fee, by stage"
    );
    describe_counter!(
        "settlement_gas_used_total",
        "gas used by mined settlement transactions, by stage"
    );
    describe_counter!(
        "settlement_fees_wei_total",
        "fees paid by mined settlement transactions in wei (saturating at u64), by stage"
    );
    describe_counter!("settlement_errors_total", "failed steps of a settlement task, by task");
    describe_counter!(
        "settlement_pruned_blocks_total",
        "blocks of L1-final batches pruned from the store once past --settlement.retention"
    );
    describe_counter!(
        "settlement_pruned_batches_total",
        "batch records of L1-final batches pruned from the store once past --settlement.retention"
    );
    describe_gauge!(
        "settlement_l1_final_batch",
        "a chain on the Gateway: its highest batch L1-final through a settled Gateway batch"
    );
    describe_counter!(
        "gateway_chain_batches_settled_total",
        "gateway mode: chain batches made L1-final by Gateway batches settled on L1"
    );
    describe_counter!(
        "gateway_l1_gas_total",
        "gateway mode: L1 gas used settling Gateway batches (one transaction each)"
    );
    describe_counter!(
        "gateway_tree_groups_total",
        "gateway mode, trees made group by group: groups of Gateway batches' proofs made, by when (made=ahead: while their Gateway batch gathered; made=at_seal: by its proof job)"
    );
    describe_counter!(
        "gateway_tree_groups_used_ahead_total",
        "gateway mode, trees made group by group: groups made ahead that a Gateway batch's proof took (made ahead minus this: work a reorg or a hold-back wasted)"
    );
    describe_counter!(
        "gateway_chains_held_back_total",
        "gateway mode: chains held back because a leaf proof they submitted does not verify at the Gateway's node (alarm)"
    );
    describe_gauge!(
        "gateway_chains_held_back",
        "gateway mode: chains whose batches are carried to L1 no more (held back; alarm while above 0)"
    );
    describe_gauge!(
        "gateway_proving_backlog_chain_batches",
        "gateway mode: chain batches executed in Gateway blocks not yet in a Gateway batch (they gather while one waits for its proof)"
    );
    describe_gauge!(
        "gateway_proving_backlog_age_seconds",
        "gateway mode: how long the oldest Gateway block not yet in a Gateway batch has waited"
    );
    describe_gauge!(
        "gateway_fees_collected_wei",
        "gateway mode with --gateway.fee-vault: fees the chains paid into the Gateway's fee vault, ever (wei of its gas token)"
    );
    describe_counter!(
        "gateway_chain_proofs_unreadable_total",
        "gateway mode: chain proveBatches transactions whose proofs could not be read from calldata (alarm)"
    );
    describe_gauge!("settlement_batches", "batches in the store, by stage");
    describe_gauge!("settlement_chain_head", "highest chain block in the store");
    describe_gauge!(
        "settlement_lag_blocks",
        "blocks from the chain head down to the last block of the last executed batch"
    );
    describe_gauge!("settlement_unbatched_blocks", "stored blocks no sealed batch holds yet");
    describe_gauge!(
        "settlement_on_chain_batches",
        "the executor's counters on the settlement layer, by stage (committed, proved, executed)"
    );
    describe_gauge!("settlement_paused", "1 while sending is paused");
    describe_gauge!(
        "settlement_halted",
        "1 while settlement is halted: the chain reorged below a batch the settlement layer holds (alarm)"
    );
    describe_gauge!(
        "settlement_verifier_change_pending",
        "1 while governance has another verifier queued on the executor the node settles through (alarm: once applied, the node sends no proof until restarted)"
    );
    describe_gauge!(
        "settlement_wal_bytes",
        "bytes in the host's WAL (notifications not yet finalized and finished by every ExEx)"
    );
    describe_gauge!("settlement_wal_files", "files in the host's WAL (one per notification)");
    describe_gauge!(
        "gateway_chain_batches_l1_final",
        "gateway mode: per chain (label chain_id), its batches settled on L1 through the Gateway"
    );
    describe_gauge!(
        "gateway_chain_charged_wei",
        "gateway mode: per chain, what the Gateway charged it (fixed price per batch, gas-token wei)"
    );
    describe_gauge!(
        "gateway_chain_l1_cost_share_wei",
        "gateway mode: per chain, its share of the Gateway batches' real L1 cost (wei)"
    );
    describe_gauge!(
        "gateway_chain_direct_l1_cost_wei",
        "gateway mode: per chain, what settling its batches directly on L1 would have cost (wei)"
    );
    describe_counter!("settlement_migrations_started_total", "settlement-layer migrations started");
    describe_counter!(
        "settlement_migrations_total",
        "settlement-layer migrations finished, by outcome (completed, cancelled)"
    );
    describe_counter!(
        "settlement_migrations_given_up_total",
        "migrations cancelled because priority operations kept the old layer from draining (alarm)"
    );
    describe_histogram!(
        "settlement_migration_phase_seconds",
        "time a migration spent in each phase (draining, migrating)"
    );
    describe_counter!(
        "settlement_migration_txs_sent_total",
        "migration transactions sent (Bridgehub, executor activation, operator roles)"
    );
    describe_gauge!(
        "settlement_layer",
        "the chain id of the settlement layer the chain settles on"
    );
    describe_counter!(
        "interop_roots_imported_total",
        "Gateway interop roots imported into the chain's InteropRoots"
    );
    describe_gauge!(
        "settlement_migration_running",
        "1 while a migration drains, 2 while it migrates, 0 otherwise"
    );
}

/// How many WAL entries (`*.wal` files) `dir` holds and their bytes (0, 0 when it cannot be
/// read).
pub(crate) fn dir_size(dir: &std::path::Path) -> (u64, u64) {
    let Ok(entries) = std::fs::read_dir(dir) else { return (0, 0) };
    entries
        .filter_map(Result::ok)
        .filter(|entry| entry.path().extension().is_some_and(|ext| ext == "wal"))
        .filter_map(|entry| entry.metadata().ok())
        .filter(std::fs::Metadata::is_file)
        .fold((0, 0), |(files, bytes), meta| (files + 1, bytes + meta.len()))
}

/// Sets the gauges from a status snapshot.
pub(crate) fn record_status(status: &SettlementStatus) {
    metrics::gauge!("settlement_chain_head").set(status.chain_head.unwrap_or_default() as f64);
    metrics::gauge!("settlement_lag_blocks").set(status.lag_blocks as f64);
    metrics::gauge!("settlement_unbatched_blocks").set(status.unbatched_blocks as f64);
    for (stage, value) in [
        ("committed", status.on_chain.committed),
        ("proved", status.on_chain.proved),
        ("executed", status.on_chain.executed),
    ] {
        metrics::gauge!("settlement_on_chain_batches", "stage" => stage).set(value as f64);
    }
    for (stage, count) in &status.batches_by_stage {
        metrics::gauge!("settlement_batches", "stage" => *stage).set(*count as f64);
    }
    metrics::gauge!("settlement_paused").set(if status.phase == "paused" { 1.0 } else { 0.0 });
    metrics::gauge!("settlement_halted").set(if status.halt.is_some() { 1.0 } else { 0.0 });
    metrics::gauge!("settlement_layer").set(status.settlement_layer as f64);
    let migration = match status.phase.as_str() {
        "draining" => 1.0,
        "migrating" => 2.0,
        _ => 0.0,
    };
    metrics::gauge!("settlement_migration_running").set(migration);
    if let Some(gateway) = &status.gateway {
        let wei = |v: alloy::primitives::U256| f64::from(v);
        for chain in &gateway.chains {
            let id = chain.chain_id.to_string();
            metrics::gauge!("gateway_chain_batches_l1_final", "chain_id" => id.clone())
                .set(chain.batches_settled as f64);
            metrics::gauge!("gateway_chain_charged_wei", "chain_id" => id.clone())
                .set(wei(chain.charged));
            metrics::gauge!("gateway_chain_l1_cost_share_wei", "chain_id" => id.clone())
                .set(wei(chain.l1_cost_share_wei));
            metrics::gauge!("gateway_chain_direct_l1_cost_wei", "chain_id" => id)
                .set(wei(chain.direct_l1_cost_wei));
        }
    }
    if let Some(finality) = &status.finality {
        metrics::gauge!("settlement_l1_final_batch").set(finality.l1_final_through as f64);
    }
}
