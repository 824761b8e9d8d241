//! Stage 5, finality (a chain on the Gateway): which of the chain's batches L1 holds final
//! through the Gateway, read from the Gateway's `GatewayExecutor` on L1 (`lastFinalBatch` and
//! its `ChainBatchesFinal` events), for the status.

use std::{sync::Arc, sync::Mutex};

use alloy::{primitives::U256, providers::ProviderBuilder};
use gateway_contracts::GatewayExecutor;
use tokio_util::sync::CancellationToken;

use crate::{
    config::L1FinalitySource,
    error::SettlementResult,
    state::Pipeline,
    status::{BatchFinality, FinalityStatus, OnChainCounters},
    support::{lock, within},
};

/// How many of the last `ChainBatchesFinal` ranges are kept (only the recent ones matter to
/// the status).
const KEPT_RANGES: usize = 64;

/// Chain batches `from..=to` made L1-final by Gateway batch `gateway_batch`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FinalRange {
    from: u64,
    to: u64,
    gateway_batch: u64,
}

#[derive(Debug, Default)]
struct Seen {
    /// `lastFinalBatch` as last read.
    through: u64,
    /// The recent `ChainBatchesFinal` events.
    ranges: Vec<FinalRange>,
    /// L1 blocks read for events so far.
    scanned_l1_block: u64,
}

/// What L1 says of the chain's batches.
#[derive(Debug)]
pub(crate) struct Finality {
    source: L1FinalitySource,
    seen: Mutex<Seen>,
}

impl Finality {
    /// Reads finality from `source`.
    pub(crate) fn new(source: L1FinalitySource) -> Self {
        Self { source, seen: Mutex::default() }
    }

    /// Runs until `shutdown`, reading L1 every poll interval.
    pub(crate) async fn run(
        self: Arc<Self>,
        pipeline: Arc<Pipeline>,
        shutdown: CancellationToken,
    ) -> SettlementResult<()> {
        let provider = ProviderBuilder::new().connect_http(self.source.l1_rpc_url.clone());
        let executor = GatewayExecutor::new(self.source.gateway_executor, provider);
        let chain_id = U256::from(pipeline.config.chain_id);
        loop {
            let result = self.read(&executor, chain_id, &pipeline).await;
            pipeline.record("finality", &result);
            if result.is_ok() {
                pipeline.clear_error(Some("finality"));
            }
            tokio::select! {
                () = shutdown.cancelled() => return Ok(()),
                () = tokio::time::sleep(pipeline.config.poll_interval) => {}
            }
        }
    }

    async fn read<P: alloy::providers::Provider>(
        &self,
        executor: &GatewayExecutor::GatewayExecutorInstance<P>,
        chain_id: U256,
        pipeline: &Pipeline,
    ) -> SettlementResult<()> {
        let timeout = pipeline.config.tx_timeout;
        let scanned = lock(&self.seen).scanned_l1_block;
        let head =
            within(timeout, "reading L1's head", executor.provider().get_block_number()).await?;
        let through =
            within(timeout, "reading lastFinalBatch", executor.lastFinalBatch(chain_id).call())
                .await?;
        let events = if head > scanned {
            let query = executor
                .ChainBatchesFinal_filter()
                .topic1(chain_id)
                .from_block(scanned + 1)
                .to_block(head);
            within(timeout, "reading ChainBatchesFinal", query.query()).await?
        } else {
            Vec::new()
        };
        let mut seen = lock(&self.seen);
        seen.through = through.saturating_to();
        pipeline.set_l1_final(seen.through);
        for (event, _) in events {
            seen.ranges.push(FinalRange {
                from: event.fromBatch.saturating_to(),
                to: event.toBatch.saturating_to(),
                gateway_batch: event.gatewayBatch.saturating_to(),
            });
        }
        seen.scanned_l1_block = seen.scanned_l1_block.max(head);
        let keep = seen.ranges.len().saturating_sub(KEPT_RANGES);
        seen.ranges.drain(..keep);
        Ok(())
    }

    /// The chain's batches' finality: interop-final from the executor's counters on the
    /// Gateway, L1-final from what L1 said; the last few batches through `last`. A chain that
    /// settles on L1 now (`on_l1`) holds every batch executed there L1-final too.
    pub(crate) fn status(
        &self,
        on_chain: OnChainCounters,
        last: Option<u64>,
        on_l1: bool,
    ) -> FinalityStatus {
        let seen = lock(&self.seen);
        let last = last.unwrap_or_default();
        let through = if on_l1 { seen.through.max(on_chain.executed) } else { seen.through };
        let recent = (last.saturating_sub(7).max(1)..=last)
            .filter(|n| *n > 0)
            .map(|batch| BatchFinality {
                batch,
                interop_final: batch <= on_chain.executed,
                l1_final: batch <= through,
                gateway_batch: seen
                    .ranges
                    .iter()
                    .find(|range| (range.from..=range.to).contains(&batch))
                    .map(|range| range.gateway_batch),
            })
            .collect();
        FinalityStatus {
            interop_final_through: on_chain.executed,
            l1_final_through: through,
            recent,
        }
    }
}
