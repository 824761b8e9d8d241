//! What a Gateway batch carries, and what L1 holds of the Gateway's shared tree.

use std::collections::HashMap;

use alloy::primitives::{B256, U256};
use gateway_primitives::{
    ChainFrontier, ChainRoot, IncrementalTree, batch_leaf, chain_leaf, merkle_root,
};
use gateway_store::{ChainRef, GatewayBatchContents, Store};
use tracing::warn;

use crate::error::SettlementResult;

/// What L1 holds of the Gateway's shared tree after Gateway batches `1..number`: the chains
/// in the order the Gateway added them, each with the tree of its carried batch roots, and
/// per chain the last batch carried.
#[derive(Debug, Default, Clone)]
pub(super) struct L1Mirror {
    chains: Vec<(u64, IncrementalTree)>,
    last_carried: HashMap<u64, u64>,
}

alloy::sol! {
    /// [`L1Mirror`] as the store keeps it once retention pruned the contents it was folded from.
    #[derive(Debug, Default, PartialEq, Eq)]
    struct L1MirrorCheckpoint {
        uint64[] chainIds;
        uint64[] leafCounts;
        bytes32[][] branches;
        uint64[] carriedChains;
        uint64[] lastCarried;
    }
}

impl L1Mirror {
    /// Folds the contents of Gateway batches `1..number`, from the newest checkpoint retention
    /// left below `number` on (O(batches since): done when the node starts or a batch was
    /// unsealed; otherwise the Gateway keeps the last one).
    pub(super) fn before(store: &Store, number: u64) -> SettlementResult<Self> {
        let Some(last) = number.checked_sub(1) else { return Ok(Self::default()) };
        let (mut mirror, from) = match store.gateway_l1_checkpoint(last)? {
            Some((through, bytes)) => (Self::decode(through, &bytes)?, through + 1),
            None => (Self::default(), 1),
        };
        if from <= last {
            for (_, contents) in store.gateway_batches_contents(from..=last)? {
                mirror.apply(&contents);
            }
        }
        Ok(mirror)
    }

    /// What to keep of it in place of Gateway batches `1..=through`'s contents.
    pub(super) fn checkpoint(store: &Store, through: u64) -> SettlementResult<L1MirrorCheckpoint> {
        let mirror = Self::before(store, through + 1)?;
        let mut carried: Vec<(u64, u64)> =
            mirror.last_carried.iter().map(|(c, n)| (*c, *n)).collect();
        carried.sort_unstable();
        Ok(L1MirrorCheckpoint {
            chainIds: mirror.chains.iter().map(|(id, _)| *id).collect(),
            leafCounts: mirror.chains.iter().map(|(_, tree)| tree.count()).collect(),
            branches: mirror.chains.iter().map(|(_, tree)| tree.branch().to_vec()).collect(),
            carriedChains: carried.iter().map(|(c, _)| *c).collect(),
            lastCarried: carried.iter().map(|(_, n)| *n).collect(),
        })
    }

    fn decode(through: u64, bytes: &[u8]) -> SettlementResult<Self> {
        Ok(Self::from_checkpoint(super::GatewayCheckpoint::decode(through, bytes)?.mirror))
    }

    fn from_checkpoint(c: L1MirrorCheckpoint) -> Self {
        Self {
            chains: c
                .chainIds
                .iter()
                .zip(c.leafCounts.iter().zip(c.branches))
                .map(|(id, (count, branch))| (*id, IncrementalTree::from_parts(*count, branch)))
                .collect(),
            last_carried: c.carriedChains.into_iter().zip(c.lastCarried).collect(),
        }
    }

    /// True when this is what L1 holds after Gateway batch `number` as now stored (its
    /// shared root commits to every tree, so a batch unsealed and sealed otherwise shows).
    pub(super) fn holds(&self, store: &Store, number: u64) -> SettlementResult<bool> {
        Ok(store.gateway_batch_contents(number)?.is_some_and(|c| c.sharedRoot == self.root()))
    }

    /// The shared tree as L1 holds it (`GatewayCarry.sharedTree`), and for each run of one
    /// chain in `contents` (a Gateway batch on top of it), where the chain is in the tree once
    /// the batch's chains are added and the frontier of its batch tree (`GatewayCarry.
    /// frontiers`; a chain the same batch adds has an empty tree).
    pub(super) fn l1_view(
        &self,
        contents: &GatewayBatchContents,
    ) -> (Vec<ChainRoot>, Vec<ChainFrontier>) {
        let tree: Vec<ChainRoot> = self
            .chains
            .iter()
            .map(|(id, tree)| ChainRoot { chainId: *id, root: tree.root() })
            .collect();
        let mut frontiers = Vec::new();
        let mut last = None;
        for r in &contents.chainBatches {
            if last == Some(r.chainId) {
                continue;
            }
            last = Some(r.chainId);
            let id = r.chainId.saturating_to::<u64>();
            let held = self.chains.iter().position(|(c, _)| *c == id);
            let index = held
                .or_else(|| {
                    let added = contents.chainsAdded.iter().position(|c| *c == id)?;
                    Some(self.chains.len() + added)
                })
                .unwrap_or(usize::MAX);
            frontiers.push(ChainFrontier {
                treeIndex: U256::from(index),
                nodes: held.map(|i| self.chains[i].1.frontier()).unwrap_or_default(),
            });
        }
        (tree, frontiers)
    }

    pub(super) fn apply(&mut self, contents: &GatewayBatchContents) {
        for id in &contents.chainsAdded {
            self.chains.push((*id, IncrementalTree::default()));
        }
        for r in &contents.chainBatches {
            let id = r.chainId.saturating_to::<u64>();
            if let Some((_, tree)) = self.chains.iter_mut().find(|(c, _)| *c == id) {
                tree.push(batch_leaf(r.batch.batchNumber, r.batch.l2LogsRoot));
            }
            self.last_carried.insert(id, r.batch.batchNumber);
        }
    }

    fn root(&self) -> B256 {
        let leaves: Vec<B256> =
            self.chains.iter().map(|(id, tree)| chain_leaf(*id, tree.root())).collect();
        merkle_root(&leaves)
    }
}

/// What Gateway batch `number` over blocks `from..=to` carries, and the chains to hold back
/// while sealing it:
/// - per chain not held back, its batches executed on the Gateway at or below block `to` that no
///   earlier Gateway batch carried (those of the range, preceded by any a hold or the size cap
///   left uncarried), grouped by chain, each chain's consecutive and ascending, as
///   `GatewayExecutor` wants them; at most `max` in all (a chain's run is cut, never split);
/// - the chains the MessageRoot added in `from..=to`;
/// - the shared root L1 computes over what it then holds (the Gateway MessageRoot's own root
///   unless a chain was left out).
///
/// A chain batch whose proof or commit info the node could not read (the chain called its
/// executor through another contract) holds its chain back instead of stopping every chain.
/// Chains to hold back, with why.
pub(super) type Holds = Vec<(u64, String)>;

/// How many of its waiting batches each chain of `runs` may carry in Gateway batch `number`
/// under a cap of `room`: one slot per chain in turn (in chain-id order), each Gateway batch's
/// turn starting where the previous batch's slots would have ended.
fn fair_quotas(
    runs: &std::collections::BTreeMap<u64, Vec<u64>>,
    mut room: usize,
    number: u64,
) -> HashMap<u64, usize> {
    let mut waiting: Vec<(u64, usize)> =
        runs.iter().filter(|(_, run)| !run.is_empty()).map(|(id, run)| (*id, run.len())).collect();
    let mut quotas = HashMap::new();
    if waiting.is_empty() {
        return quotas;
    }
    // Each Gateway batch starts its turn where the previous one's slots ended.
    let n = waiting.len() as u64;
    let start = (number.wrapping_mul((room as u64).min(n)) % n) as usize;
    waiting.rotate_left(start);
    while room > 0 && !waiting.is_empty() {
        waiting.retain(|(id, len)| quotas.get(id).copied().unwrap_or(0) < *len);
        for (id, len) in &waiting {
            if room == 0 {
                break;
            }
            let quota = quotas.entry(*id).or_insert(0);
            if *quota < *len {
                *quota += 1;
                room -= 1;
            }
        }
    }
    quotas
}

/// `mirror` is what L1 holds before it; returned with what L1 holds after it.
pub(super) fn batch_contents(
    store: &Store,
    mut mirror: L1Mirror,
    number: u64,
    from: u64,
    to: u64,
    max: Option<usize>,
) -> SettlementResult<(GatewayBatchContents, Holds, L1Mirror)> {
    use std::collections::BTreeMap;
    let held: HashMap<u64, String> = store.gateway_held_back()?.into_iter().collect();
    let events = store.gateway_block_events(from..=to)?;
    // (A chain the shared tree already holds is never added twice, whatever the events say.)
    let mut chains_added: Vec<u64> = Vec::new();
    for id in events.iter().flat_map(|(_, events)| events.chainsAdded.iter().copied()) {
        if !chains_added.contains(&id) && !mirror.chains.iter().any(|(c, _)| *c == id) {
            chains_added.push(id);
        }
    }
    let last_carried = |chain: &u64| mirror.last_carried.get(chain).copied().unwrap_or(0);
    let mut runs: BTreeMap<u64, Vec<u64>> = BTreeMap::new();
    for (_, block) in &events {
        for e in &block.executed {
            if !held.contains_key(&e.chainId) && e.batchNumber > last_carried(&e.chainId) {
                runs.entry(e.chainId).or_default().push(e.batchNumber);
            }
        }
    }
    // What a hold or the cap left uncarried: the chain's proved batches above its last carried
    // one, below its first of this range, or else through what it executed at or below `to`
    // (a gap without proofs on the Gateway is batches settled elsewhere, before a migration).
    let after: Vec<(u64, u64)> = store
        .gateway_block_events(to + 1..=u64::MAX)?
        .iter()
        .flat_map(|(_, block)| block.executed.iter().map(|e| (e.chainId, e.batchNumber)))
        .collect();
    for (chain_id, chain) in store.gateway_chains()? {
        if held.contains_key(&chain_id) {
            continue;
        }
        let run = runs.entry(chain_id).or_default();
        run.sort_unstable();
        run.dedup();
        let below = match run.first() {
            Some(first) => *first,
            None => after
                .iter()
                .filter(|(c, _)| *c == chain_id)
                .map(|(_, n)| *n)
                .min()
                .unwrap_or(chain.executed.saturating_add(1)),
        };
        let last = last_carried(&chain_id);
        if below > last + 1 {
            let backlog = store.gateway_chain_proofs_in(chain_id, last + 1..below)?;
            run.splice(0..0, backlog);
        }
    }
    // The cap is shared out fairly: a slot per chain in turn, starting at a chain that turns
    // with the Gateway batch number, so that no busy chain (a low chain id, say) can keep the
    // others' batches off L1.
    let quotas = fair_quotas(&runs, max.unwrap_or(usize::MAX), number);
    let mut chain_batches = Vec::new();
    let mut holds = Vec::new();
    for (chain_id, run) in runs {
        let quota = quotas.get(&chain_id).copied().unwrap_or(0);
        let mut refs = Vec::with_capacity(run.len().min(quota));
        let mut unreadable = None;
        for batch_number in run.into_iter().take(quota) {
            let proof = store.gateway_chain_proof(chain_id, batch_number)?;
            let commit_info = store.gateway_chain_commit(chain_id, batch_number)?;
            let (Some(proof), Some(commit_info)) = (proof, commit_info) else {
                unreadable = Some(format!(
                    "chain {chain_id} batch {batch_number} was executed on the Gateway but its proof or commit info could not be read (not a direct proveBatches / commitBatches call of its executor)"
                ));
                break;
            };
            refs.push(ChainRef {
                chainId: U256::from(chain_id),
                batchNumber: U256::from(batch_number),
                publicInput: proof.publicInput,
                batch: proof.batch,
                previous: proof.previous,
                commitInfo: commit_info.into(),
            });
        }
        if let Some(reason) = unreadable {
            holds.push((chain_id, reason));
            continue;
        }
        chain_batches.extend(refs);
    }
    let mut contents = GatewayBatchContents {
        chainBatches: chain_batches,
        chainsAdded: chains_added,
        ..Default::default()
    };
    mirror.apply(&contents);
    contents.sharedRoot = mirror.root();
    let gateway_root = store.gateway_shared_root_at(to)?.unwrap_or_else(|| merkle_root(&[]));
    if held.is_empty() && holds.is_empty() && contents.sharedRoot != gateway_root {
        warn!(
            target: "settlement::gateway",
            gateway_batch = number,
            l1 = %contents.sharedRoot,
            gateway = %gateway_root,
            "the shared root L1 will hold differs from the Gateway MessageRoot's (a chain batch left for a later Gateway batch, or a chain added before this node's first block): message proofs for L1 are built against the Gateway's trees"
        );
    }
    Ok((contents, holds, mirror))
}

/// Where each chain batch `contents` carries (a Gateway batch over blocks `from..=to`) is among
/// its aggregated proof's chain leaves, in the order of `contents.chainBatches`: the order the
/// batches executed on the Gateway (block, then log), those carried over from before `from`
/// first. A batch's place is fixed as soon as it executes (later ones only come after it), so
/// whole groups of leaves are aggregated before the Gateway batch is sealed
/// ([`super::Gateway::upcoming_groups`]); `chainBatches` stays grouped by chain for L1.
pub(super) fn leaf_order(
    store: &Store,
    contents: &GatewayBatchContents,
    from: u64,
    to: u64,
) -> SettlementResult<Vec<usize>> {
    let mut executed_at: HashMap<(u64, u64), (u64, usize)> = HashMap::new();
    for (block, events) in store.gateway_block_events(from..=to)? {
        for (index, e) in events.executed.iter().enumerate() {
            executed_at.entry((e.chainId, e.batchNumber)).or_insert((block, index));
        }
    }
    let key = |r: &ChainRef| {
        let id = (r.chainId.saturating_to::<u64>(), r.batchNumber.saturating_to::<u64>());
        // Carried over from an earlier Gateway batch's range: before everything this range
        // executed (a stable sort keeps them in chain order).
        executed_at.get(&id).copied().unwrap_or((0, 0))
    };
    let mut by_execution: Vec<usize> = (0..contents.chainBatches.len()).collect();
    by_execution.sort_by_key(|i| key(&contents.chainBatches[*i]));
    let mut positions = vec![0; by_execution.len()];
    for (at, i) in by_execution.into_iter().enumerate() {
        positions[i] = at;
    }
    Ok(positions)
}

pub(super) fn executed_per_block(
    store: &Store,
    from: u64,
    to: u64,
) -> SettlementResult<Vec<(u64, usize)>> {
    Ok(store
        .gateway_block_events(from..=to)?
        .iter()
        .map(|(number, events)| (*number, events.executed.len()))
        .collect())
}

#[cfg(test)]
mod tests {
    use alloy::sol_types::SolValue;
    use gateway_primitives::CommitBatchInfo;
    use gateway_store::{
        ChainBatchInfo, CommittedChainBatch, ExecutedChainBatch, GatewayBlockEvents,
        ProvedChainBatch,
    };

    use super::*;

    /// Under the cap, a chain with a long backlog (the lowest chain id, too) never keeps
    /// another chain's batches out: each waiting chain gets a slot in every Gateway batch while
    /// there are fewer chains than slots, and a turn within a few batches when there are more.
    #[test]
    fn the_cap_is_shared_by_every_waiting_chain_however_busy_one_is() {
        use std::collections::BTreeMap;
        let busy_and_idle: BTreeMap<u64, Vec<u64>> =
            [(270, (1..=50).collect()), (271, vec![7, 8])].into_iter().collect();
        for number in 1..=6 {
            let quotas = fair_quotas(&busy_and_idle, 3, number);
            assert!(quotas[&271] >= 1, "batch {number}: {quotas:?}");
            assert_eq!(quotas.values().sum::<usize>(), 3, "the cap is used whole");
        }
        // Fewer waiting than the cap: all of it.
        let quotas = fair_quotas(&busy_and_idle, 100, 1);
        assert_eq!((quotas[&270], quotas[&271]), (50, 2));
        // More chains than slots: each gets a turn within ceil(chains / slots) batches.
        let many: BTreeMap<u64, Vec<u64>> = (300..305).map(|id| (id, vec![1, 2, 3])).collect();
        let mut served = std::collections::HashSet::new();
        for number in 1..=3 {
            let quotas = fair_quotas(&many, 2, number);
            assert_eq!(quotas.values().sum::<usize>(), 2);
            served.extend(quotas.into_iter().filter(|(_, q)| *q > 0).map(|(id, _)| id));
        }
        assert_eq!(served.len(), 5, "every chain carried within 3 Gateway batches: {served:?}");
        assert!(fair_quotas(&BTreeMap::new(), 3, 1).is_empty());
    }

    fn executed(chain: u64, n: u64) -> ExecutedChainBatch {
        ExecutedChainBatch { chainId: chain, batchNumber: n, batchRoot: B256::repeat_byte(n as u8) }
    }

    /// Block events where `chain`'s batches `ns` are committed (readable), proved and executed.
    fn settled(chain: u64, ns: &[u64]) -> GatewayBlockEvents {
        GatewayBlockEvents {
            committed: ns
                .iter()
                .map(|n| CommittedChainBatch {
                    chainId: chain,
                    batchNumber: *n,
                    commitInfo: CommitBatchInfo { batchNumber: *n, ..Default::default() }
                        .abi_encode()
                        .into(),
                })
                .collect(),
            proved: ns
                .iter()
                .map(|n| ProvedChainBatch {
                    chainId: chain,
                    batchNumber: *n,
                    proof: vec![1].into(),
                    batch: ChainBatchInfo {
                        batchNumber: *n,
                        l2LogsRoot: B256::repeat_byte(*n as u8),
                        ..Default::default()
                    },
                    ..Default::default()
                })
                .collect(),
            executed: ns.iter().map(|n| executed(chain, *n)).collect(),
            ..Default::default()
        }
    }

    fn carried(contents: &GatewayBatchContents) -> Vec<(u64, u64)> {
        contents
            .chainBatches
            .iter()
            .map(|r| (r.chainId.saturating_to(), r.batchNumber.saturating_to()))
            .collect()
    }

    /// Leaves go in the order their batches executed (block, then log), those carried over from
    /// before the range first, whatever the chain ids; the carried batches stay grouped by chain.
    #[test]
    fn leaves_are_placed_in_execution_order_with_carried_over_batches_first() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let block = |executed: Vec<ExecutedChainBatch>| GatewayBlockEvents {
            executed,
            ..Default::default()
        };
        store
            .write(|tx| {
                tx.put_gateway_block_events(5, &block(vec![executed(271, 1), executed(270, 1)]))?;
                tx.put_gateway_block_events(6, &block(vec![executed(270, 2), executed(271, 2)]))
            })
            .unwrap();
        let carried = |pairs: &[(u64, u64)]| GatewayBatchContents {
            chainBatches: pairs
                .iter()
                .map(|(c, n)| ChainRef {
                    chainId: U256::from(*c),
                    batchNumber: U256::from(*n),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        };
        // Grouped by chain: 270/1, 270/2, 271/1, 271/2; executed 271/1, 270/1, 270/2, 271/2.
        let contents = carried(&[(270, 1), (270, 2), (271, 1), (271, 2)]);
        assert_eq!(leaf_order(&store, &contents, 5, 6).unwrap(), vec![1, 2, 0, 3]);
        // 269/7 executed before block 5 (a cap left it): first; a range that holds only
        // block 6 puts 270/1 and 271/1 (executed before it) first too, in carried order.
        let contents = carried(&[(269, 7), (270, 1), (270, 2), (271, 1), (271, 2)]);
        assert_eq!(leaf_order(&store, &contents, 5, 6).unwrap(), vec![0, 2, 3, 1, 4]);
        let contents = carried(&[(270, 1), (270, 2), (271, 1), (271, 2)]);
        assert_eq!(leaf_order(&store, &contents, 6, 6).unwrap(), vec![0, 2, 1, 3]);
        // One place each, every place taken.
        let mut places = leaf_order(&store, &contents, 5, 6).unwrap();
        places.sort_unstable();
        assert_eq!(places, vec![0, 1, 2, 3]);
    }

    #[test]
    fn contents_add_chains_once_respect_the_cap_carry_the_rest_later_and_hold_back_the_unreadable()
    {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let seal = |number: u64, block: u64, max: Option<usize>| {
            let mirror = L1Mirror::before(&store, number).unwrap();
            let (contents, holds, after) =
                batch_contents(&store, mirror, number, block, block, max).unwrap();
            // What the next seal would start from is what folding the stored batches gives.
            store.write(|tx| tx.put_gateway_batch_contents(number, &contents)).unwrap();
            assert!(after.holds(&store, number).unwrap());
            assert_eq!(after.root(), L1Mirror::before(&store, number + 1).unwrap().root());
            (contents, holds)
        };
        // Block 1: two chains added (one reported twice), chain 270's batch 1 settled.
        let mut block1 = settled(270, &[1]);
        block1.chainsAdded = vec![270, 271, 270];
        store.write(|tx| tx.put_gateway_block_events(1, &block1)).unwrap();
        let (first, holds) = seal(1, 1, None);
        assert!(holds.is_empty());
        assert_eq!(first.chainsAdded, vec![270, 271]);
        assert_eq!(carried(&first), vec![(270, 1)]);
        let leaf_270 = chain_leaf(270, merkle_root(&[batch_leaf(1, B256::repeat_byte(1))]));
        assert_eq!(first.sharedRoot, merkle_root(&[leaf_270, chain_leaf(271, merkle_root(&[]))]));

        // Block 2: a chain the tree holds reported as added again is not added twice; three
        // batches executed under a cap of one: one carried, the rest in later batches, in order.
        let mut block2 = settled(270, &[2, 3, 4]);
        block2.chainsAdded = vec![271];
        store.write(|tx| tx.put_gateway_block_events(2, &block2)).unwrap();
        let (second, _) = seal(2, 2, Some(1));
        assert!(second.chainsAdded.is_empty());
        assert_eq!(carried(&second), vec![(270, 2)]);
        store.write(|tx| tx.put_gateway_block_events(3, &GatewayBlockEvents::default())).unwrap();
        assert_eq!(carried(&seal(3, 3, Some(2)).0), vec![(270, 3), (270, 4)]);

        // Block 4: chain 271 executes a batch whose proof and commit info were not readable:
        // held back, and chain 270's batch of the same block is carried.
        let mut block4 = settled(270, &[5]);
        block4.executed.push(executed(271, 1));
        store.write(|tx| tx.put_gateway_block_events(4, &block4)).unwrap();
        let (fourth, holds) = seal(4, 4, None);
        assert_eq!(carried(&fourth), vec![(270, 5)]);
        assert_eq!(holds.len(), 1);
        assert_eq!(holds[0].0, 271);
        assert!(holds[0].1.contains("could not be read"), "{}", holds[0].1);
    }
}
