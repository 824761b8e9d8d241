//! Made-up Gateway batches settled on L1's `GatewayExecutor` with mock aggregated proofs (or a
//! real backend's, [`GatewayL1::with_backend`]), for tests of what L1 checks without running the
//! Gateway's node. [`GatewayL1`] keeps what L1 holds
//! (the last Gateway batch, each chain's carried batches in the shared tree) so that an honest
//! batch is built exactly as L1 recomputes it, and a test can alter one thing at a time.

// A fixture that cannot build its mock proof or convert a type has a bug: it panics the test.
#![allow(clippy::expect_used)]

use alloy::{
    primitives::{B256, Bytes, U256, keccak256},
    providers::DynProvider,
    rpc::types::TransactionReceipt,
};
use devnet::Topology;
use gateway_contracts::{Bridgehub, GatewayExecutor, convert};
use gateway_primitives::{
    ChainBatchRef, ChainFrontier, ChainRoot, CommitBatchInfo, GatewayCarry, IncrementalTree,
    StoredBatchInfo, batch_leaf, batch_output_hash, chain_leaf, gateway_commitment, merkle_root,
    public_input,
};
use gateway_prover::{BatchPublicInput, MockBackend, ProofBackend};
use std::sync::Arc;

/// A Gateway batch as `settleBatch` takes it.
#[derive(Debug, Clone)]
pub struct GatewayBatch {
    /// The batch itself.
    pub info: CommitBatchInfo,
    /// What it carries.
    pub carry: GatewayCarry,
    /// The aggregated proof (mock unless the fixture has another backend).
    pub proof: Bytes,
}

/// L1's `GatewayExecutor` as a test drives it, and what it holds.
#[derive(Debug)]
pub struct GatewayL1 {
    /// The contract, called by the Gateway's settling operator.
    pub executor: GatewayExecutor::GatewayExecutorInstance<DynProvider>,
    gateway_chain_id: u64,
    l1_chain_id: u64,
    /// The last settled Gateway batch's stored info.
    pub last: StoredBatchInfo,
    last_timestamp: u64,
    /// The shared tree as L1 holds it: chains in order, each with its carried batches.
    tree: Vec<(u64, Vec<CommitBatchInfo>)>,
    /// Proves the Gateway's leaf and the chain batches, and aggregates them.
    backend: Arc<dyn ProofBackend>,
}

/// Registers made-up chains `ids` on the Gateway through L1's Bridgehub (by L1 governance),
/// each after a genesis whose state commitment is its id; returns each chain's genesis (the
/// previous batch of its first carried one).
pub async fn register_made_up_chains(
    topology: &Topology,
    ids: &[u64],
) -> eyre::Result<std::collections::BTreeMap<u64, StoredBatchInfo>> {
    let governance =
        devnet::signer_provider(topology.l1.node.rpc_url.clone(), &topology.l1.governance_key)?;
    let bridgehub = Bridgehub::new(topology.bridgehub, &governance);
    let mut genesis_of = std::collections::BTreeMap::new();
    for id in ids {
        let genesis =
            StoredBatchInfo { stateCommitment: B256::from(U256::from(*id)), ..Default::default() };
        let pending = bridgehub
            .registerChain(
                U256::from(*id),
                topology.l1.governance,
                U256::from(topology.gateway.node.chain_id),
                convert(&genesis)?,
            )
            .send()
            .await?;
        devnet::confirm("registerChain", pending).await?;
        genesis_of.insert(*id, genesis);
    }
    Ok(genesis_of)
}

impl GatewayL1 {
    /// The devnet's Gateway executor on L1, nothing settled yet; `operator` must hold
    /// `ROLE_SETTLE` there (the devnet's Gateway governance does).
    pub fn new(topology: &Topology, operator: DynProvider) -> Self {
        Self {
            executor: GatewayExecutor::new(topology.gateway_l1_executor, operator),
            gateway_chain_id: topology.gateway.node.chain_id,
            l1_chain_id: topology.l1.node.chain_id,
            last: topology.gateway_genesis.stored_info(),
            last_timestamp: now().saturating_sub(3_000),
            tree: Vec::new(),
            backend: Arc::new(MockBackend::default()),
        }
    }

    /// The devnet's Gateway executor on L1 with made-up chains `ids` registered on the
    /// Gateway (by L1 governance) and added to its shared tree by a first Gateway batch (settled
    /// by the Gateway's governance, which holds `ROLE_SETTLE`); returns it with each chain's
    /// genesis (the previous batch of its first carried one).
    pub async fn with_made_up_chains(
        topology: &Topology,
        ids: &[u64],
    ) -> eyre::Result<(Self, std::collections::BTreeMap<u64, StoredBatchInfo>)> {
        let last_of = register_made_up_chains(topology, ids).await?;
        let operator = devnet::signer_provider(
            topology.l1.node.rpc_url.clone(),
            &topology.gateway.governance_key,
        )?;
        let mut gateway = Self::new(topology, operator);
        gateway.settle(gateway.batch(Self::carry(ids, &[]))).await?;
        Ok((gateway, last_of))
    }

    /// Proves the batches it builds from now on with `backend` (L1's aggregated verifier must
    /// accept that backend's proofs).
    #[must_use]
    pub fn with_backend(mut self, backend: Arc<dyn ProofBackend>) -> Self {
        self.backend = backend;
        self
    }

    /// A made-up batch of `chain` after `previous`, committed on this Gateway, its fields
    /// derived from `tag`. Its state commitment, logs root and DA commitment are hashes (of
    /// the chain, the batch number, the tag and the field's name): as many nonzero bytes as
    /// real ones, so the calldata L1 pays for is a real batch's.
    pub fn chain_batch(&self, chain: u64, previous: &StoredBatchInfo, tag: u8) -> CommitBatchInfo {
        let number = previous.batchNumber + 1;
        let hash = |field: &str| {
            keccak256(
                [&chain.to_be_bytes()[..], &number.to_be_bytes(), &[tag], field.as_bytes()]
                    .concat(),
            )
        };
        CommitBatchInfo {
            batchNumber: number,
            newStateCommitment: hash("state"),
            firstBlockTimestamp: 1_000 + u64::from(tag),
            lastBlockTimestamp: 1_001 + u64::from(tag),
            chainId: U256::from(chain),
            daScheme: 2,
            daCommitment: hash("da"),
            l2LogsRoot: hash("logs"),
            slChainId: U256::from(self.gateway_chain_id),
            ..Default::default()
        }
    }

    /// The ref of `batch` of `chain` after `previous`, with the public input L1 computes.
    pub fn chain_ref(
        chain: u64,
        previous: &StoredBatchInfo,
        batch: &CommitBatchInfo,
    ) -> ChainBatchRef {
        let stored = batch.to_stored();
        ChainBatchRef {
            chainId: U256::from(chain),
            batch: batch.clone(),
            publicInput: public_input(
                previous.stateCommitment,
                stored.stateCommitment,
                stored.commitment,
            ),
        }
    }

    /// An honest carry: `runs` of (chain, its previous batch, its batches), adding `added` to
    /// the shared tree first.
    pub fn carry(
        added: &[u64],
        runs: &[(u64, StoredBatchInfo, Vec<CommitBatchInfo>)],
    ) -> GatewayCarry {
        let mut refs = Vec::new();
        for (chain, previous, batches) in runs {
            let mut prev = previous.clone();
            for b in batches {
                refs.push(Self::chain_ref(*chain, &prev, b));
                prev = b.to_stored();
            }
        }
        GatewayCarry {
            chainBatches: refs,
            previous: runs.iter().map(|(_, p, _)| p.clone()).collect(),
            chainsAdded: added.iter().map(|id| U256::from(*id)).collect(),
            // Filled in by `batch` (and its kin) from what L1 holds then.
            sharedTree: Vec::new(),
            frontiers: Vec::new(),
            // The leaves in the carried order (a test sets another).
            leafOrder: Bytes::new(),
        }
    }

    /// What L1 holds of the shared tree now (`GatewayCarry.sharedTree`) and, per run of one
    /// chain in `carry`, where the chain is in it once `carry`'s chains are added and the
    /// frontier of its batch tree (`GatewayCarry.frontiers`; a chain not in the tree yet has
    /// an empty one, and one in neither an index past the end).
    pub fn l1_view(&self, carry: &GatewayCarry) -> (Vec<ChainRoot>, Vec<ChainFrontier>) {
        let tree_of = |batches: &[CommitBatchInfo]| {
            let mut tree = IncrementalTree::default();
            for b in batches {
                tree.push(batch_leaf(b.batchNumber, b.l2LogsRoot));
            }
            tree
        };
        let shared = self
            .tree
            .iter()
            .map(|(id, batches)| ChainRoot { chainId: *id, root: tree_of(batches).root() })
            .collect();
        let mut frontiers = Vec::new();
        let mut last = None;
        for r in &carry.chainBatches {
            if last == Some(r.chainId) {
                continue;
            }
            last = Some(r.chainId);
            let held = self.tree.iter().position(|(id, _)| U256::from(*id) == r.chainId);
            let index = held
                .or_else(|| {
                    let added = carry.chainsAdded.iter().position(|c| *c == r.chainId)?;
                    Some(self.tree.len() + added)
                })
                .unwrap_or(usize::MAX);
            frontiers.push(ChainFrontier {
                treeIndex: U256::from(index),
                nodes: held.map(|i| tree_of(&self.tree[i].1).frontier()).unwrap_or_default(),
            });
        }
        (shared, frontiers)
    }

    /// The shared root L1 computes after `carry`.
    pub fn shared_root_after(&self, carry: &GatewayCarry) -> B256 {
        let mut tree = self.tree.clone();
        apply(&mut tree, carry);
        let leaves: Vec<B256> = tree
            .iter()
            .map(|(id, batches)| {
                let batch_leaves: Vec<B256> =
                    batches.iter().map(|b| batch_leaf(b.batchNumber, b.l2LogsRoot)).collect();
                chain_leaf(*id, merkle_root(&batch_leaves))
            })
            .collect();
        merkle_root(&leaves)
    }

    /// The next Gateway batch carrying `carry`, honest in all but what a test changes later:
    /// its `l2LogsRoot` is the shared root L1 computes, and its aggregated proof covers
    /// the Gateway's leaf and `carry`'s chain batches.
    pub fn batch(&self, carry: GatewayCarry) -> GatewayBatch {
        let root = self.shared_root_after(&carry);
        let proven = carry.chainBatches.clone();
        self.batch_with(carry, root, &proven)
    }

    /// The next Gateway batch carrying `carry`, committing to `root`, with a mock aggregated
    /// proof over the Gateway's leaf and `proven` (which may differ from what it carries), the
    /// chain leaves where `carry.leafOrder` puts them.
    pub fn batch_with(
        &self,
        carry: GatewayCarry,
        root: B256,
        proven: &[ChainBatchRef],
    ) -> GatewayBatch {
        self.build(carry, root, proven, 0, B256::ZERO)
    }

    /// [`Self::batch`], reporting `count` of the Gateway's own priority operations (the L1 ->
    /// L2 transactions it forwarded to its chains) with rolling hash `ops_hash`.
    pub fn batch_consuming(&self, carry: GatewayCarry, count: u64, ops_hash: B256) -> GatewayBatch {
        let root = self.shared_root_after(&carry);
        let proven = carry.chainBatches.clone();
        self.build(carry, root, &proven, count, ops_hash)
    }

    fn build(
        &self,
        mut carry: GatewayCarry,
        root: B256,
        proven: &[ChainBatchRef],
        ops: u64,
        ops_hash: B256,
    ) -> GatewayBatch {
        (carry.sharedTree, carry.frontiers) = self.l1_view(&carry);
        let number = self.last.batchNumber + 1;
        let first = self.last_timestamp + 1;
        let info = CommitBatchInfo {
            batchNumber: number,
            newStateCommitment: B256::repeat_byte(number as u8),
            firstBlockTimestamp: first,
            lastBlockTimestamp: first + 5,
            chainId: U256::from(self.gateway_chain_id),
            daScheme: 2,
            l2LogsRoot: root,
            slChainId: U256::from(self.l1_chain_id),
            numberOfL1Txs: U256::from(ops),
            priorityOpsHash: ops_hash,
            ..Default::default()
        };
        let commitment = gateway_commitment(batch_output_hash(&info), proven);
        let backend = &self.backend;
        let mut leaves = Vec::with_capacity(1 + proven.len());
        let gateway_input = BatchPublicInput {
            chain_id: self.gateway_chain_id,
            batch_number: number,
            value: public_input(self.last.stateCommitment, info.newStateCommitment, commitment),
        };
        leaves.push(backend.prove_batch(&gateway_input).expect("the Gateway's leaf proof"));
        // The chain leaves where `carry.leafOrder` puts them (in `proven`'s order when it is
        // empty or not one position per batch: a test that breaks it sets it after building).
        let order =
            carry.leafOrder.chunks_exact(2).map(|p| usize::from(u16::from_be_bytes([p[0], p[1]])));
        let order: Vec<usize> = if carry.leafOrder.len() == 2 * proven.len() {
            order.collect()
        } else {
            (0..proven.len()).collect()
        };
        let mut placed = vec![None; proven.len()];
        for (r, at) in proven.iter().zip(order) {
            let input = BatchPublicInput {
                chain_id: r.chainId.saturating_to(),
                batch_number: r.batch.batchNumber,
                value: r.publicInput,
            };
            placed[at] = Some(backend.prove_batch(&input).expect("a chain batch's leaf proof"));
        }
        leaves.extend(placed.into_iter().map(|leaf| leaf.expect("one leaf per place")));
        let proof =
            backend.aggregated_calldata(&backend.aggregate(&leaves).expect("the aggregation"));
        GatewayBatch { info, carry, proof }
    }

    /// `settleBatch` of `batch` on top of the last settled Gateway batch.
    pub fn settle_call(
        &self,
        batch: &GatewayBatch,
    ) -> alloy::contract::CallBuilder<
        &DynProvider,
        std::marker::PhantomData<GatewayExecutor::settleBatchCall>,
    > {
        self.executor.settleBatch(
            convert(&self.last).expect("stored info"),
            convert(&batch.info).expect("batch info"),
            Bytes::new(),
            convert(&batch.carry).expect("carry"),
            batch.proof.clone(),
        )
    }

    /// The error `settleBatch` of `batch` reverts with (panics if it would succeed).
    pub async fn refused(&self, batch: &GatewayBatch) -> GatewayExecutor::GatewayExecutorErrors {
        let err = self.settle_call(batch).call().await.expect_err("settleBatch should revert");
        err.as_decoded_interface_error::<GatewayExecutor::GatewayExecutorErrors>()
            .unwrap_or_else(|| panic!("not a GatewayExecutor error: {err}"))
    }

    /// Settles `batch` and records what L1 now holds.
    pub async fn settle(&mut self, batch: GatewayBatch) -> eyre::Result<TransactionReceipt> {
        let receipt = self
            .settle_call(&batch)
            .send()
            .await?
            .with_timeout(Some(std::time::Duration::from_secs(30)))
            .get_receipt()
            .await?;
        eyre::ensure!(receipt.status(), "settleBatch reverted: {receipt:?}");
        apply(&mut self.tree, &batch.carry);
        let mut stored = batch.info.to_stored();
        stored.commitment =
            gateway_commitment(batch_output_hash(&batch.info), &batch.carry.chainBatches);
        self.last = stored;
        self.last_timestamp = batch.info.lastBlockTimestamp;
        Ok(receipt)
    }
}

fn apply(tree: &mut Vec<(u64, Vec<CommitBatchInfo>)>, carry: &GatewayCarry) {
    for id in &carry.chainsAdded {
        tree.push((id.saturating_to(), Vec::new()));
    }
    for r in &carry.chainBatches {
        let id: u64 = r.chainId.saturating_to();
        if let Some((_, batches)) = tree.iter_mut().find(|(c, _)| *c == id) {
            batches.push(r.batch.clone());
        }
    }
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}
