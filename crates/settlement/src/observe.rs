//! What an operator watches beside the status: how long each batch waits in each stage
//! (`settlement_batch_stage_seconds`), settlement gas per L2 transaction
//! (`settlement_l1_gas_per_l2_tx`), how long the oldest transaction has waited
//! (`settlement_pending_tx_age_seconds`), and the operator's balance on each layer with the
//! batches it still pays for (`settlement_operator_balance_wei`,
//! `settlement_operator_batches_affordable`).
//!
//! Times are this process's: a batch first seen after a restart has no entry time, so its
//! first stage change is not observed (no made-up latency).

use std::{
    collections::BTreeMap,
    sync::Mutex,
    time::{Duration, Instant},
};

use alloy::primitives::{Address, U256};
use gateway_store::BatchStage;

use crate::{status::TxStage, support::lock};

/// Batches the clocks follow at most (the oldest are dropped beyond).
const MAX_TRACKED: usize = 10_000;
/// The weight of the newest batch in the moving cost per batch.
const COST_WEIGHT: f64 = 0.2;

/// The stage label of a batch that just reached `stage`.
const fn stage_label(stage: BatchStage) -> Option<&'static str> {
    match stage {
        BatchStage::Sealed => None,
        BatchStage::Proved => Some("proved"),
        BatchStage::Committed => Some("committed"),
        BatchStage::ProvedOnChain => Some("proved_on_chain"),
        BatchStage::Executed => Some("executed"),
    }
}

/// The clocks and meters of one settlement pipeline.
#[derive(Debug, Default)]
pub(crate) struct Observer {
    /// Per batch: the stage last seen and when it entered it (`None`: before this process
    /// saw it).
    stages: Mutex<BTreeMap<u64, (BatchStage, Option<Instant>)>>,
    /// Per executed batch not yet L1-final: when it was seen executed, and the layer it was
    /// built for.
    executed: Mutex<BTreeMap<u64, (Instant, u64)>>,
    /// Per batch: settlement gas and fees of the transactions that carried it so far.
    spent: Mutex<BTreeMap<u64, (u64, U256)>>,
    /// Per settlement layer (chain id): the moving settlement cost of one batch there (wei),
    /// once a batch was executed there.
    cost_per_batch: Mutex<BTreeMap<u64, f64>>,
    /// The nonce of the transaction in flight and when it was first seen.
    in_flight_since: Mutex<Option<(u64, Instant)>>,
    /// Per settlement layer (chain id): the fee per committed batch its fee schedule asked
    /// for at the last commit (a Gateway's `GatewayFees.price`).
    fee_per_batch: Mutex<BTreeMap<u64, U256>>,
    /// Gateway mode: the fee vault as last read.
    gateway_fees: Mutex<Option<crate::status::GatewayFeesStatus>>,
}

fn bounded<V>(map: &mut BTreeMap<u64, V>) {
    while map.len() > MAX_TRACKED {
        map.pop_first();
    }
}

impl Observer {
    /// `number` is at `stage` now: observes the time it waited for it, when this process saw
    /// it enter its previous stage. A batch first seen past `Sealed` (after a restart, or two
    /// stages passed between looks) is followed from then on, but its next wait is not
    /// observed: when it entered its stage is unknown.
    pub(crate) fn stage(&self, number: u64, sl_chain_id: u64, stage: BatchStage) {
        let now = Instant::now();
        let mut stages = lock(&self.stages);
        let entered = match stages.get(&number) {
            Some((seen, since)) if *seen < stage => {
                // Two stages passed between looks: the wait spans both, and when it entered
                // this one is unknown.
                let skipped = stage as u8 > *seen as u8 + 1;
                if let (Some(label), Some(since), false) = (stage_label(stage), since, skipped) {
                    metrics::histogram!("settlement_batch_stage_seconds", "stage" => label)
                        .record(now.duration_since(*since).as_secs_f64());
                }
                (!skipped).then_some(now)
            }
            // A stage lowered by a reorg of the layer: the batch waits again from now.
            Some((seen, _)) if *seen > stage => Some(now),
            Some(_) => return,
            None if stage == BatchStage::Sealed => Some(now),
            None => None,
        };
        if stage == BatchStage::Executed {
            stages.remove(&number);
            if let Some(at) = entered {
                let mut executed = lock(&self.executed);
                executed.insert(number, (at, sl_chain_id));
                bounded(&mut executed);
            }
        } else {
            stages.insert(number, (stage, entered));
            bounded(&mut stages);
        }
    }

    /// Observes, and stops following, the executed batches `is_final(number, sl_chain_id)`
    /// says L1 holds final: how long each waited since it was seen executed.
    pub(crate) fn l1_final(&self, is_final: impl Fn(u64, u64) -> bool) {
        let now = Instant::now();
        lock(&self.executed).retain(|number, (since, sl)| {
            let done = is_final(*number, *sl);
            if done {
                metrics::histogram!("settlement_batch_stage_seconds", "stage" => "l1_final")
                    .record(now.duration_since(*since).as_secs_f64());
            }
            !done
        });
    }

    /// A settlement transaction for `batches` was mined: its gas and fee are shared
    /// among them. Once `Execute` (or gateway mode's `Settle`) carries them, their gas per L2
    /// transaction is observed (`l2_txs`: their L2 transactions) and their cost feeds the
    /// cost per batch.
    pub(crate) fn mined(
        &self,
        layer: u64,
        stage: TxStage,
        batches: std::ops::RangeInclusive<u64>,
        gas: u64,
        fee: U256,
        l2_txs: impl FnOnce() -> Option<u64>,
    ) {
        let (from, to) = (*batches.start(), *batches.end());
        if to < from
            || !matches!(
                stage,
                TxStage::Commit | TxStage::Prove | TxStage::Execute | TxStage::Settle
            )
        {
            return;
        }
        let count = to - from + 1;
        let mut spent = lock(&self.spent);
        for number in from..=to {
            let entry = spent.entry(number).or_default();
            entry.0 = entry.0.saturating_add(gas / count);
            entry.1 = entry.1.saturating_add(fee / U256::from(count));
        }
        if !matches!(stage, TxStage::Execute | TxStage::Settle) {
            bounded(&mut spent);
            return;
        }
        let rest = spent.split_off(&to.saturating_add(1));
        let carried: Vec<(u64, U256)> = spent.range(from..=to).map(|(_, spent)| *spent).collect();
        *spent = rest;
        drop(spent);
        let total_gas: u64 = carried.iter().map(|(gas, _)| gas).sum();
        let total_fee: U256 =
            carried.iter().map(|(_, fee)| *fee).fold(U256::ZERO, U256::saturating_add);
        if let Some(txs) = l2_txs().filter(|txs| *txs > 0) {
            metrics::histogram!("settlement_l1_gas_per_l2_tx")
                .record(total_gas as f64 / txs as f64);
        }
        let per_batch = f64::from(total_fee) / carried.len().max(1) as f64;
        let mut costs = lock(&self.cost_per_batch);
        let cost = costs.entry(layer).or_insert(per_batch);
        *cost = *cost * (1.0 - COST_WEIGHT) + per_batch * COST_WEIGHT;
    }

    /// The moving settlement cost of one batch on `layer` (wei), once known.
    pub(crate) fn cost_per_batch(&self, layer: u64) -> Option<f64> {
        lock(&self.cost_per_batch).get(&layer).copied()
    }

    /// The fee per committed batch `layer`'s schedule asked for at the last commit.
    pub(crate) fn set_fee_per_batch(&self, layer: u64, fee: U256) {
        lock(&self.fee_per_batch).insert(layer, fee);
    }

    /// The fee per committed batch on `layer` at the last commit, once one was committed there.
    pub(crate) fn fee_per_batch(&self, layer: u64) -> Option<U256> {
        lock(&self.fee_per_batch).get(&layer).copied()
    }

    /// Gateway mode: records the fee vault as just read.
    pub(crate) fn set_gateway_fees(&self, fees: crate::status::GatewayFeesStatus) {
        metrics::gauge!("gateway_fees_collected_wei").set(f64::from(fees.collected_wei));
        *lock(&self.gateway_fees) = Some(fees);
    }

    /// Gateway mode: the fee vault as last read.
    pub(crate) fn gateway_fees(&self) -> Option<crate::status::GatewayFeesStatus> {
        lock(&self.gateway_fees).clone()
    }

    /// How long the transaction in flight (its nonce; `None`: none) has waited.
    pub(crate) fn in_flight_age(&self, nonce: Option<u64>) -> Duration {
        let mut since = lock(&self.in_flight_since);
        match (nonce, *since) {
            (None, _) => {
                *since = None;
                Duration::ZERO
            }
            (Some(nonce), Some((seen, at))) if seen == nonce => at.elapsed(),
            (Some(nonce), _) => {
                *since = Some((nonce, Instant::now()));
                Duration::ZERO
            }
        }
    }
}

/// Sets the operator's balance gauge on `layer` (`l1` or `gateway`) and the batches it pays
/// for at `cost_per_batch`.
pub(crate) fn record_balance(layer: &'static str, balance: U256, cost_per_batch: Option<f64>) {
    let balance = f64::from(balance);
    metrics::gauge!("settlement_operator_balance_wei", "layer" => layer).set(balance);
    if let Some(cost) = cost_per_batch.filter(|cost| *cost > 0.0) {
        metrics::gauge!("settlement_operator_batches_affordable", "layer" => layer)
            .set((balance / cost).floor());
    }
}

/// Reads `operator`'s balance at `rpc_url` (at most `timeout`).
pub(crate) async fn balance_of(
    rpc_url: &alloy::transports::http::reqwest::Url,
    operator: Address,
    timeout: Duration,
) -> Option<U256> {
    use alloy::providers::{Provider as _, ProviderBuilder};
    let provider = ProviderBuilder::new().connect_http(rpc_url.clone());
    tokio::time::timeout(timeout, provider.get_balance(operator)).await.ok()?.ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gas_and_cost_are_shared_by_the_batches_a_transaction_carries() {
        let observer = Observer::default();
        assert_eq!(observer.cost_per_batch(1), None);
        observer.mined(1, TxStage::Commit, 1..=2, 100_000, U256::from(2_000), || None);
        observer.mined(1, TxStage::Prove, 1..=2, 300_000, U256::from(6_000), || None);
        // Not carried yet: no cost per batch.
        assert_eq!(observer.cost_per_batch(1), None);
        let mut asked = false;
        observer.mined(1, TxStage::Execute, 1..=2, 200_000, U256::from(4_000), || {
            asked = true;
            Some(60)
        });
        assert!(asked);
        // (1,000 + 3,000 + 2,000) per batch.
        assert_eq!(observer.cost_per_batch(1), Some(6_000.0));
        assert!(lock(&observer.spent).is_empty(), "carried batches are forgotten");
        // A revert or migration transaction is no batch's cost.
        observer.mined(1, TxStage::Revert, 3..=3, 1, U256::from(1), || None);
        assert!(lock(&observer.spent).is_empty());
        // The cost moves toward newer batches, per layer.
        observer.mined(1, TxStage::Settle, 3..=3, 10, U256::from(16_000), || Some(1));
        assert_eq!(observer.cost_per_batch(1), Some(6_000.0 * 0.8 + 16_000.0 * 0.2));
        assert_eq!(observer.cost_per_batch(2), None, "another layer's cost is its own");
    }

    #[test]
    fn stage_clocks_follow_a_batch_seen_from_its_seal_and_forget_it_once_final() {
        let observer = Observer::default();
        observer.stage(1, 9, BatchStage::Sealed);
        observer.stage(1, 9, BatchStage::Proved);
        assert_eq!(lock(&observer.stages).get(&1).map(|s| s.0), Some(BatchStage::Proved));
        observer.stage(1, 9, BatchStage::Committed);
        observer.stage(1, 9, BatchStage::ProvedOnChain);
        observer.stage(1, 9, BatchStage::Executed);
        assert!(lock(&observer.stages).get(&1).is_none());
        assert!(lock(&observer.executed).contains_key(&1));
        // First seen committed (after a restart): followed, its entry time unknown, so its
        // wait for execution is not observed and it is not followed to L1 finality.
        observer.stage(2, 9, BatchStage::Committed);
        assert_eq!(lock(&observer.stages).get(&2), Some(&(BatchStage::Committed, None)));
        observer.stage(2, 9, BatchStage::Executed);
        assert!(!lock(&observer.executed).contains_key(&2));
        // Two stages in one look: the second's entry time is unknown.
        observer.stage(4, 9, BatchStage::Sealed);
        observer.stage(4, 9, BatchStage::Committed);
        assert_eq!(lock(&observer.stages).get(&4), Some(&(BatchStage::Committed, None)));
        // First seen executed: its execution time is unknown, it is not followed.
        observer.stage(3, 9, BatchStage::Executed);
        assert!(!lock(&observer.executed).contains_key(&3));
        observer.l1_final(|number, sl| number == 1 && sl == 9);
        assert!(lock(&observer.executed).is_empty());
    }

    #[test]
    fn the_age_of_a_transaction_in_flight_runs_per_nonce() {
        let observer = Observer::default();
        assert_eq!(observer.in_flight_age(Some(7)), Duration::ZERO);
        std::thread::sleep(Duration::from_millis(20));
        assert!(observer.in_flight_age(Some(7)) >= Duration::from_millis(20));
        // A replacement keeps the nonce and its age; a new nonce starts again.
        assert_eq!(observer.in_flight_age(Some(8)), Duration::ZERO);
        assert_eq!(observer.in_flight_age(None), Duration::ZERO);
    }
}
