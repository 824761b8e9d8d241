//! Stage 2, seal: seals runs of stored blocks into batches (max blocks, transactions, pubdata,
//! gas, or a timeout; in gateway mode also the chain batches one aggregation holds) with their
//! commit info for the layer the chain settles on now, and wakes the prove stage.

use std::{
    sync::Arc,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use alloy::primitives::B256;
use alloy::sol_types::SolValue;
use gateway_store::{BatchRecord, BatchStage, BlockRecord, MigrationPhase, Store};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info};

use crate::{
    commitment::{commit_info, last_block_to_drain},
    config::{BatchLimits, SettlementConfig},
    error::{SettlementError, SettlementResult},
    gateway::Gateway,
    state::{IDLE_TICK, Pipeline, wait},
};

/// Runs the seal stage until `shutdown`: seals what the stored blocks allow whenever woken
/// (or every [`IDLE_TICK`], for timeouts).
pub(crate) async fn run(
    pipeline: Arc<Pipeline>,
    gateway: Option<Arc<Gateway>>,
    shutdown: CancellationToken,
) -> SettlementResult<()> {
    loop {
        let result = seal_batches(&pipeline.store, &pipeline.active_config(), gateway.as_deref());
        if let Ok(sealed @ 1..) = result {
            pipeline.wakes.prove.notify_one();
            // The stage clocks start at the seal.
            if let Ok(Some(last)) = pipeline.store.last_batch() {
                let first = last.number.saturating_sub(sealed as u64 - 1);
                for batch in pipeline.store.batches(first..=last.number).unwrap_or_default() {
                    pipeline.observer.stage(batch.number, batch.sl_chain_id, BatchStage::Sealed);
                }
            }
        }
        pipeline.record("batcher", &result);
        if wait(&shutdown, &pipeline.wakes.seal, IDLE_TICK).await {
            return Ok(());
        }
    }
}

/// Why a batch was sealed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SealReason {
    /// It reached the block limit.
    MaxBlocks,
    /// The next block would pass the transaction limit.
    MaxTxs,
    /// The next block would pass the pubdata limit.
    MaxPubdata,
    /// The next block would pass the gas limit.
    MaxGas,
    /// Its first block is older than the timeout.
    Timeout,
    /// Gateway mode: one more chain batch would not fit one aggregated proof.
    MaxChainBatches,
    /// A migration off the Gateway drains: blocks that imported Gateway interop roots must
    /// settle on the Gateway (only its executor can check those roots).
    Draining,
    /// Gateway mode: what gathered while the previous Gateway batch waited for its proof, in
    /// one batch (up to the chain batches one aggregation holds).
    ProvingBacklog,
}

impl SealReason {
    /// A short name for logs and metrics.
    pub const fn as_str(&self) -> &'static str {
        match self {
            Self::MaxBlocks => "max_blocks",
            Self::MaxTxs => "max_txs",
            Self::MaxPubdata => "max_pubdata",
            Self::MaxGas => "max_gas",
            Self::Timeout => "timeout",
            Self::MaxChainBatches => "max_chain_batches",
            Self::Draining => "draining",
            Self::ProvingBacklog => "proving_backlog",
        }
    }
}

/// A decision to seal: the next batch takes this many of the candidate blocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seal {
    /// How many of the candidate blocks, oldest first.
    pub blocks: usize,
    /// Why now.
    pub reason: SealReason,
}

impl Seal {
    /// Seal the first `blocks` candidates for `reason`.
    pub const fn new(blocks: usize, reason: SealReason) -> Self {
        Self { blocks, reason }
    }
}

/// How many of `candidates` (consecutive blocks, oldest first, all deep enough) the next batch
/// takes, and why; `None` while the batch may still grow.
pub fn seal_decision(
    candidates: &[BlockRecord],
    limits: &BatchLimits,
    now: Duration,
) -> Option<Seal> {
    let (mut txs, mut pubdata, mut gas) = (0u64, 0u64, 0u64);
    for (i, block) in candidates.iter().enumerate() {
        let over = |total: u64, add: u64, max: u64| total + add > max && i > 0;
        if over(txs, u64::from(block.tx_count), limits.max_txs) {
            return Some(Seal::new(i, SealReason::MaxTxs));
        }
        if over(pubdata, block.pubdata_bytes, limits.max_pubdata_bytes) {
            return Some(Seal::new(i, SealReason::MaxPubdata));
        }
        if over(gas, block.gas_used, limits.max_gas) {
            return Some(Seal::new(i, SealReason::MaxGas));
        }
        txs += u64::from(block.tx_count);
        pubdata += block.pubdata_bytes;
        gas += block.gas_used;
        if i as u64 + 1 >= limits.max_blocks {
            return Some(Seal::new(i + 1, SealReason::MaxBlocks));
        }
    }
    let first = candidates.first()?;
    let age = now.saturating_sub(Duration::from_secs(first.timestamp));
    (age >= limits.timeout).then_some(Seal::new(candidates.len(), SealReason::Timeout))
}

/// Seals every batch the stored blocks allow under `config` (in gateway mode, Gateway batches);
/// returns how many.
pub fn seal_ready_batches(store: &Store, config: &SettlementConfig) -> SettlementResult<usize> {
    let gateway = config.gateway.clone().map(Gateway::new);
    seal_batches(store, config, gateway.as_ref())
}

/// Lifts a halt once the settlement layer holds no batch above `committed`: unseals the batches
/// above it (to be sealed again over the chain's new blocks). `None`, changing nothing, while a
/// settlement transaction is in flight; else how many batches were unsealed.
pub(crate) fn lift_halt(store: &Store, committed: u64) -> SettlementResult<Option<usize>> {
    let unsealed = store.write(|tx| {
        if tx.in_flight()?.is_some() {
            return Ok(None);
        }
        let unsealed = tx.remove_batches_from(committed + 1)?;
        tx.set_halt(None)?;
        Ok(Some(unsealed))
    })?;
    if let Some(unsealed) = unsealed {
        tracing::warn!(target: "settlement::seal", unsealed, from = committed + 1, "halt lifted: batches above the settlement layer's committed counter unsealed, to be sealed again over the new blocks");
    }
    Ok(unsealed)
}

/// Seals every batch the stored blocks allow; `gateway` in gateway mode. Returns how many.
pub(crate) fn seal_batches(
    store: &Store,
    config: &SettlementConfig,
    gateway: Option<&Gateway>,
) -> SettlementResult<usize> {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    let mut sealed = 0;
    if store.halt()?.is_some() {
        // The chain reorged below a batch the settlement layer holds: nothing is sealed on top.
        return Ok(0);
    }
    loop {
        let last = store.last_batch()?;
        // Gateway mode: at most one sealed Gateway batch waits for its aggregated proof; what
        // the chains execute meanwhile gathers for the next one, so Gateway batches grow with
        // the prover's pace instead of queueing up behind it.
        if gateway.is_some() && last.as_ref().is_some_and(|b| b.stage == BatchStage::Sealed) {
            return Ok(sealed);
        }
        let (number, from) = match &last {
            Some(batch) => (batch.number + 1, batch.last_block + 1),
            None => (1, 1),
        };
        let Some(tip) = store.last_block()? else { return Ok(sealed) };
        let mut deep_enough = tip.number.saturating_sub(config.confirmations);
        // While a migration runs nothing is sealed, except that a drain seals (for the layer
        // left) the blocks up to the last one that imported an interop root or processed an
        // L1 -> L2 transaction, deep enough or not (the drain waits for them).
        let draining_to = match store.last_migration()? {
            Some(m) if m.migration_phase()?.is_running() => {
                let limit = (m.migration_phase()? == MigrationPhase::Draining
                    && m.fromLayer == config.layer.chain_id)
                    .then(|| last_block_to_drain(store, from, tip.number))
                    .transpose()?
                    .flatten();
                let Some(limit) = limit else { return Ok(sealed) };
                deep_enough = limit;
                Some(limit)
            }
            _ => None,
        };
        if deep_enough < from {
            return Ok(sealed);
        }
        // More than a batch's worth gathered while a Gateway batch was proved: all of it goes
        // into the next one (the cap on chain batches and the other limits still apply).
        let backlog = gateway.is_some()
            && last.is_some()
            && draining_to.is_none()
            && deep_enough - from + 1 > config.limits.max_blocks.max(1);
        let max_blocks = if backlog { u64::MAX } else { config.limits.max_blocks.max(1) };
        let to = deep_enough.min(from.saturating_add(max_blocks - 1));
        let candidates = store.blocks(from..=to)?;
        if candidates.first().map(|b| b.number) != Some(from) {
            return Err(SettlementError::Corrupt(format!(
                "block {from} is missing from the store"
            )));
        }
        let limits = BatchLimits { max_blocks, ..config.limits };
        let decision = match draining_to {
            Some(_) => seal_decision(&candidates, &limits, now)
                .or(Some(Seal::new(candidates.len(), SealReason::Draining))),
            None if backlog => {
                seal_decision(&candidates, &limits, now).map(|seal| match seal.reason {
                    SealReason::Timeout => Seal::new(seal.blocks, SealReason::ProvingBacklog),
                    _ => seal,
                })
            }
            None => seal_decision(&candidates, &limits, now),
        };
        let Some(Seal { blocks: mut take, mut reason }) = decision else {
            return Ok(sealed);
        };
        if let Some(gateway) = gateway
            && let Some(fits) = gateway.cap(store, number, from, take)?
        {
            take = fits;
            reason = SealReason::MaxChainBatches;
        }
        let blocks = &candidates[..take];
        let last_block = from + take as u64 - 1;
        // Only the Gateway's executor can check Gateway interop roots: a block that imported one
        // never goes into a batch for another layer (a migration off the Gateway drains them).
        if let Some(gateway) = config.interop.as_ref().map(|i| i.gateway.chain_id)
            && config.layer.chain_id != gateway
            && let Some(block) = blocks.iter().find(|b| !b.imported_roots.is_empty())
        {
            return Err(SettlementError::ImportsOffGateway {
                block: block.number,
                batch: number,
                layer: config.layer.chain_id,
            });
        }
        let pubdata = crate::da::stored_pubdata(store, config.da, from, last_block)?;
        let hashes: Vec<B256> = blocks.iter().map(|b| b.hash).collect();
        let (da, da_commitment) = crate::da::seal_commitment(config.da, &hashes, &pubdata, number)?;
        let mut info = commit_info(config, number, blocks, da, da_commitment);
        let (contents, holds) = match gateway {
            Some(gateway) => {
                let (contents, holds) = gateway.contents(store, number, from, last_block)?;
                info.l2LogsRoot = contents.sharedRoot;
                (Some(contents), holds)
            }
            None => (None, Vec::new()),
        };
        let record = BatchRecord {
            number,
            first_block: from,
            last_block,
            sl_chain_id: config.layer.chain_id,
            stage: BatchStage::Sealed,
            commit_info: info.abi_encode(),
            proof: Vec::new(),
        };
        // Seal only on top of what is still the last batch (the ExEx may have unsealed meanwhile).
        // And only while no migration runs, for the layer the chain settles on now.
        let written = store.write(|tx| {
            if tx.last_batch()?.map(|b| b.number) != last.as_ref().map(|b| b.number) {
                return Ok(false);
            }
            if let Some(migration) = tx.last_migration()? {
                let layer = match migration.migration_phase()? {
                    MigrationPhase::Completed => migration.toLayer,
                    MigrationPhase::Cancelled => migration.fromLayer,
                    MigrationPhase::Draining
                        if draining_to.is_some_and(|limit| record.last_block <= limit) =>
                    {
                        migration.fromLayer
                    }
                    MigrationPhase::Draining | MigrationPhase::Migrating => return Ok(false),
                };
                if layer != config.layer.chain_id {
                    return Ok(false);
                }
            }
            if let Some(contents) = &contents {
                tx.put_gateway_batch_contents(number, contents)?;
            }
            for (chain_id, reason) in &holds {
                tx.hold_back_gateway_chain(*chain_id, reason)?;
            }
            tx.put_batch(&record)?;
            Ok(true)
        })?;
        if !written {
            return Ok(sealed);
        }
        crate::failpoint::failpoint("after-seal");
        metrics::counter!("settlement_batches_sealed_total", "reason" => reason.as_str())
            .increment(1);
        info!(
            target: "settlement::seal",
            batch = number,
            first_block = record.first_block,
            last_block = record.last_block,
            txs = %info.numberOfL2Txs,
            chain_batches = contents.as_ref().map(|c| c.chainBatches.len()),
            reason = reason.as_str(),
            "sealed batch"
        );
        debug!(target: "settlement::seal", batch = number, commitment = %gateway_primitives::batch_output_hash(&info));
        sealed += 1;
    }
}

#[cfg(test)]
mod tests {
    use gateway_primitives::DaScheme;

    use super::*;

    fn block(number: u64, txs: u32, timestamp: u64) -> BlockRecord {
        BlockRecord {
            number,
            tx_count: txs,
            gas_used: 21_000 * u64::from(txs),
            pubdata_bytes: 110 * u64::from(txs),
            timestamp,
            ..Default::default()
        }
    }

    fn limits() -> BatchLimits {
        BatchLimits {
            max_blocks: 4,
            max_txs: 10,
            max_pubdata_bytes: 1_000_000,
            max_gas: u64::MAX,
            timeout: Duration::from_secs(30),
        }
    }

    #[test]
    fn seals_at_each_limit() {
        let now = Duration::from_secs(1_000);
        let young: Vec<_> = (1..=4).map(|n| block(n, 1, 990)).collect();
        assert_eq!(
            seal_decision(&young, &limits(), now),
            Some(Seal::new(4, SealReason::MaxBlocks))
        );
        assert_eq!(seal_decision(&young[..3], &limits(), now), None, "may still grow");
        let busy = vec![block(1, 6, 990), block(2, 6, 990)];
        assert_eq!(seal_decision(&busy, &limits(), now), Some(Seal::new(1, SealReason::MaxTxs)));
        let old = vec![block(1, 1, 900)];
        assert_eq!(seal_decision(&old, &limits(), now), Some(Seal::new(1, SealReason::Timeout)));
        let mut tight = limits();
        tight.max_pubdata_bytes = 500;
        let heavy = vec![block(1, 3, 990), block(2, 3, 990)];
        assert_eq!(seal_decision(&heavy, &tight, now), Some(Seal::new(1, SealReason::MaxPubdata)));
        tight = limits();
        tight.max_gas = 100_000;
        assert_eq!(seal_decision(&heavy, &tight, now), Some(Seal::new(1, SealReason::MaxGas)));
        // A single block over a limit still forms a batch of its own.
        let huge = vec![block(1, 50, 990)];
        assert_eq!(seal_decision(&huge, &limits(), now), None);
        assert_eq!(
            seal_decision(&huge, &limits(), Duration::from_secs(2_000)),
            Some(Seal::new(1, SealReason::Timeout))
        );
        assert_eq!(seal_decision(&[], &limits(), now), None);
    }

    #[test]
    fn only_blocks_confirmations_deep_are_sealed() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        // Old blocks: each batch seals at once by timeout, as far as it may reach.
        store.write(|tx| (1..=5).try_for_each(|n| tx.put_block(&block(n, 1, 1)))).unwrap();
        let mut config = crate::config::offline_config();
        config.limits = BatchLimits { max_blocks: 10, ..limits() };
        config.confirmations = 2;
        assert_eq!(seal_ready_batches(&store, &config).unwrap(), 1);
        let batch = store.last_batch().unwrap().unwrap();
        assert_eq!((batch.first_block, batch.last_block), (1, 3), "blocks 4 and 5 are too new");
        assert_eq!(seal_ready_batches(&store, &config).unwrap(), 0);
        store.write(|tx| tx.put_block(&block(6, 1, 1))).unwrap();
        assert_eq!(seal_ready_batches(&store, &config).unwrap(), 1);
        let batch = store.last_batch().unwrap().unwrap();
        assert_eq!((batch.first_block, batch.last_block), (4, 4));
    }

    #[test]
    fn blocks_without_pubdata_under_a_rollup_scheme_name_the_cause_and_the_fix() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        // Stored while the node ran as a validium: no pubdata.
        store.write(|tx| (1..=3).try_for_each(|n| tx.put_block(&block(n, 1, 1)))).unwrap();
        let mut config = crate::config::offline_config();
        config.limits = BatchLimits { max_blocks: 3, ..limits() };
        config.da = DaScheme::RollupCalldata;
        let err = seal_ready_batches(&store, &config).unwrap_err().to_string();
        assert!(
            err.contains("blocks 1..=3 have no stored pubdata")
                && err.contains("--settlement.da rollup-calldata")
                && err.contains("run with --settlement.da validium"),
            "{err}"
        );
        assert!(store.last_batch().unwrap().is_none(), "nothing sealed without its data");
        config.da = DaScheme::Validium;
        assert_eq!(seal_ready_batches(&store, &config).unwrap(), 1);
    }

    #[test]
    fn blocks_that_imported_gateway_roots_are_sealed_only_for_the_gateway_and_drained_before_leaving()
     {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let mut importing = block(2, 1, 1);
        importing.imported_roots =
            vec![gateway_store::ImportedRoot { gateway_block: 40, root: B256::repeat_byte(4) }];
        store
            .write(|tx| {
                tx.put_block(&block(1, 1, 1))?;
                tx.put_block(&importing)?;
                (3..=4).try_for_each(|n| tx.put_block(&block(n, 1, 1)))
            })
            .unwrap();
        let endpoint = |chain_id| crate::config::SettlementLayerEndpoint {
            chain_id,
            rpc_url: "http://127.0.0.1:1".parse().unwrap(),
            executor: Default::default(),
        };
        let source = |chain_id| crate::config::MessageRootSource {
            chain_id,
            rpc_url: "http://127.0.0.1:1".parse().unwrap(),
            message_root: Default::default(),
        };
        let mut gateway = SettlementConfig::new(
            270,
            B256::ZERO,
            endpoint(506),
            crate::config::OperatorKey::new(""),
        );
        gateway.limits = BatchLimits { max_blocks: 10, ..limits() };
        gateway.interop = Some(crate::config::InteropConfig {
            chain_rpc_url: "http://127.0.0.1:1".parse().unwrap(),
            interop_roots: Default::default(),
            importer_key: crate::OperatorKey::new(""),
            gateway: source(506),
            l1: source(31337),
            gateway_executor_on_l1: Default::default(),

            root_confirmations: crate::config::DEFAULT_ROOT_CONFIRMATIONS,
        });
        let l1 = gateway.on_layer(endpoint(31337), 31337);
        // For L1: refused, naming the block and the way out.
        let err = seal_ready_batches(&store, &l1).unwrap_err().to_string();
        assert!(
            err.contains("block 2 imported Gateway interop roots")
                && err.contains("settlement_migrate"),
            "{err}"
        );
        assert!(store.last_batch().unwrap().is_none());
        // Draining off the Gateway: the blocks through the importing one are sealed for the
        // Gateway at once (young as they are), the rest waits for the new layer.
        let mut draining = gateway_store::MigrationRecord {
            id: 1,
            fromLayer: 506,
            toLayer: 31337,
            ..Default::default()
        };
        draining.set_phase(MigrationPhase::Draining);
        store.write(|tx| tx.put_migration(&draining)).unwrap();
        assert_eq!(seal_ready_batches(&store, &gateway).unwrap(), 1);
        let sealed = store.last_batch().unwrap().unwrap();
        assert_eq!((sealed.first_block, sealed.last_block, sealed.sl_chain_id), (1, 2, 506));
        assert_eq!(seal_ready_batches(&store, &gateway).unwrap(), 0, "nothing more while draining");
        assert_eq!(
            crate::commitment::decode_commit_info(&sealed).unwrap().dependencyRootsRollingHash,
            gateway_primitives::dependency_roots_rolling_hash(&[(40, B256::repeat_byte(4))])
        );
    }

    /// Gateway mode: while a sealed Gateway batch waits for its aggregated proof no other is
    /// sealed; once it is proved, everything that gathered meanwhile goes into the next one
    /// (more blocks than `max_blocks`), so batches grow with the prover's pace.
    #[test]
    fn a_gateway_batch_waiting_for_its_proof_holds_the_next_which_then_takes_all_that_gathered() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        store.write(|tx| (1..=12).try_for_each(|n| tx.put_block(&block(n, 1, 1)))).unwrap();
        let mut config = SettlementConfig::new(
            506,
            B256::ZERO,
            crate::config::SettlementLayerEndpoint {
                chain_id: 31337,
                rpc_url: "http://127.0.0.1:1".parse().unwrap(),
                executor: Default::default(),
            },
            crate::config::OperatorKey::new(""),
        );
        config.limits = BatchLimits { max_blocks: 4, max_txs: 1_000, ..limits() };
        config.gateway = Some(crate::config::GatewayMode::new(Default::default()));
        assert_eq!(seal_ready_batches(&store, &config).unwrap(), 1, "one, then it waits");
        let first = store.last_batch().unwrap().unwrap();
        assert_eq!((first.first_block, first.last_block), (1, 4));
        assert_eq!(seal_ready_batches(&store, &config).unwrap(), 0, "its proof is not made");
        let status = crate::gateway::Gateway::new(config.gateway.clone().unwrap())
            .status(&store, 0, std::slice::from_ref(&first))
            .unwrap()
            .proving_backlog;
        assert_eq!((status.waiting_for_proof, status.blocks), (Some(1), 8));
        assert!(status.oldest_age_s > 1_000, "block 5's timestamp is 1: {status:?}");
        store
            .write(|tx| tx.put_batch(&BatchRecord { stage: BatchStage::Proved, ..first.clone() }))
            .unwrap();
        assert_eq!(seal_ready_batches(&store, &config).unwrap(), 1);
        let next = store.last_batch().unwrap().unwrap();
        assert_eq!((next.number, next.first_block, next.last_block), (2, 5, 12));
        // Caught up: batches are cut at max_blocks again.
        store
            .write(|tx| {
                tx.put_batch(&BatchRecord { stage: BatchStage::Proved, ..next.clone() })?;
                (13..=16).try_for_each(|n| tx.put_block(&block(n, 1, 1)))
            })
            .unwrap();
        assert_eq!(seal_ready_batches(&store, &config).unwrap(), 1);
        let caught_up = store.last_batch().unwrap().unwrap();
        assert_eq!((caught_up.first_block, caught_up.last_block), (13, 16));
    }
}
