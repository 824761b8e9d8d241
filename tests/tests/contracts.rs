//! The settlement contracts on a real devnet (L1, the Gateway, chain 270 on L1 and chain 271 on
//! the Gateway): the batch lifecycle, every guard's custom error, migrations back and forth, and
//! the Rust and Solidity hashing and Merkle trees agreeing on random inputs.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use alloy::{
    primitives::{Address, B256, Bytes, U256},
    providers::DynProvider,
};
use devnet::{Devnet, DevnetConfig, InitialSettlement, signer_provider};
use e2e_tests::{fixtures::Mined, gateway_l1::GatewayL1};
use gateway_contracts::{
    Bridgehub, ChainExecutor, MerkleHarness, MessageRoot, MessageVerifier, convert,
    deploy_halo2_batch_verifier, deploy_halo2_leaf_verifier, deploy_merkle_harness,
};
use gateway_primitives::vectors::SplitMix as Rng;
use gateway_primitives::{
    CommitBatchInfo, MessageProof, StoredBatchInfo, batch_leaf, batch_output_hash, chain_leaf,
    merkle_proof, merkle_root, message_leaf, public_input, stored_batch_hash,
};

type Errors = ChainExecutor::ChainExecutorErrors;

const TX_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

async fn devnet() -> Devnet {
    Devnet::start(
        DevnetConfig {
            chains: vec![InitialSettlement::L1, InitialSettlement::Gateway],
            ..Default::default()
        },
        None,
    )
    .await
    .unwrap()
}

/// One chain's executor on one settlement layer, driven by its operator.
struct Settler {
    chain_id: u64,
    sl_chain_id: u64,
    executor: ChainExecutor::ChainExecutorInstance<DynProvider>,
    /// The last committed batch, as the contract stores it.
    last: StoredBatchInfo,
}

impl Settler {
    fn new(devnet: &Devnet, chain_id: u64, on_gateway: bool) -> Self {
        let chain = devnet.topology.chain(chain_id).unwrap();
        let (node, executor, sl) = if on_gateway {
            (
                &devnet.topology.gateway.node,
                chain.gateway_executor,
                devnet.topology.gateway.node.chain_id,
            )
        } else {
            (&devnet.topology.l1.node, chain.l1_executor, devnet.topology.l1.node.chain_id)
        };
        let provider = signer_provider(node.rpc_url.clone(), &chain.operator_key).unwrap();
        Self {
            chain_id,
            sl_chain_id: sl,
            executor: ChainExecutor::new(executor, provider),
            last: chain.genesis.stored_info(),
        }
    }

    fn batch(&self, number: u64) -> CommitBatchInfo {
        CommitBatchInfo {
            batchNumber: number,
            newStateCommitment: B256::with_last_byte(number as u8),
            firstBlockTimestamp: 1_000 + number * 10,
            lastBlockTimestamp: 1_000 + number * 10 + 5,
            chainId: U256::from(self.chain_id),
            daScheme: 2,
            daCommitment: B256::repeat_byte(0xda),
            numberOfL1Txs: U256::ZERO,
            numberOfL2Txs: U256::from(number * 3),
            priorityOpsHash: B256::ZERO,
            l2LogsRoot: B256::repeat_byte(number as u8),
            dependencyRootsRollingHash: B256::ZERO,
            slChainId: U256::from(self.sl_chain_id),
        }
    }

    async fn commit(&mut self, batches: &[CommitBatchInfo]) -> Result<(), alloy::contract::Error> {
        self.commit_with(batches, vec![Bytes::new(); batches.len()]).await
    }

    /// Commits with these data-availability inputs.
    async fn commit_with(
        &mut self,
        batches: &[CommitBatchInfo],
        da_inputs: Vec<Bytes>,
    ) -> Result<(), alloy::contract::Error> {
        self.commit_carrying(batches, da_inputs, Vec::new()).await
    }

    /// Commits one batch with a transaction that carries `blobs` (EIP-7594 sidecar).
    async fn commit_with_blobs(
        &mut self,
        batch: &CommitBatchInfo,
        da_input: Bytes,
        blobs: Vec<alloy::eips::eip4844::Blob>,
    ) -> Result<(), alloy::contract::Error> {
        self.commit_carrying(std::slice::from_ref(batch), vec![da_input], blobs).await
    }

    async fn commit_carrying(
        &mut self,
        batches: &[CommitBatchInfo],
        da_inputs: Vec<Bytes>,
        blobs: Vec<alloy::eips::eip4844::Blob>,
    ) -> Result<(), alloy::contract::Error> {
        let last: ChainExecutor::StoredBatchInfo = convert(&self.last).unwrap();
        let new: Vec<ChainExecutor::CommitBatchInfo> =
            batches.iter().map(|b| convert(b).unwrap()).collect();
        // On the Gateway a commit pays the Gateway's price per batch.
        let schedule = self.executor.feeSchedule().call().await?;
        let fee = if schedule.is_zero() {
            U256::ZERO
        } else {
            gateway_contracts::GatewayFees::new(schedule, self.executor.provider())
                .price()
                .call()
                .await?
                * U256::from(new.len())
        };
        let mut call = self.executor.commitBatches(last, new, da_inputs).value(fee);
        if !blobs.is_empty() {
            let sidecar = gateway_settlement::da::sidecar(blobs).unwrap();
            call = call.sidecar_7594(sidecar).max_fee_per_blob_gas(1_000_000_000);
        }
        call.send().await?.with_timeout(Some(TX_TIMEOUT)).get_receipt().await.unwrap();
        self.last = batches.last().unwrap().to_stored();
        Ok(())
    }

    async fn prove(
        &self,
        prev: &StoredBatchInfo,
        batches: &[StoredBatchInfo],
    ) -> Result<(), alloy::contract::Error> {
        let prev: ChainExecutor::StoredBatchInfo = convert(prev).unwrap();
        let batches: Vec<ChainExecutor::StoredBatchInfo> =
            batches.iter().map(|b| convert(b).unwrap()).collect();
        self.executor
            .proveBatches(prev, batches, Bytes::from_static(b"mock proof"))
            .send()
            .await?
            .with_timeout(Some(TX_TIMEOUT))
            .get_receipt()
            .await
            .unwrap();
        Ok(())
    }

    async fn execute(&self, batches: &[StoredBatchInfo]) -> Result<(), alloy::contract::Error> {
        let batches: Vec<ChainExecutor::StoredBatchInfo> =
            batches.iter().map(|b| convert(b).unwrap()).collect();
        let no_imports = vec![vec![]; batches.len()];
        self.executor
            .executeBatches(batches, no_imports)
            .send()
            .await?
            .with_timeout(Some(TX_TIMEOUT))
            .get_receipt()
            .await
            .unwrap();
        Ok(())
    }

    async fn counters(&self) -> (u64, u64, u64) {
        let c = self.executor.totalBatchesCommitted().call().await.unwrap();
        let v = self.executor.totalBatchesVerified().call().await.unwrap();
        let e = self.executor.totalBatchesExecuted().call().await.unwrap();
        (c.to(), v.to(), e.to())
    }
}

fn expect_error(result: Result<(), alloy::contract::Error>) -> Errors {
    let err = result.expect_err("the call should revert");
    err.as_decoded_interface_error::<Errors>()
        .unwrap_or_else(|| panic!("not a ChainExecutor error: {err}"))
}

fn expect_bridgehub_error(
    result: Result<(), alloy::contract::Error>,
) -> Bridgehub::BridgehubErrors {
    let err = result.expect_err("the call should revert");
    err.as_decoded_interface_error().unwrap_or_else(|| panic!("not a Bridgehub error: {err}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_batches_commit_prove_execute_on_l1_and_on_the_gateway() {
    let devnet = devnet().await;
    for (chain_id, on_gateway) in [(270, false), (271, true)] {
        let mut settler = Settler::new(&devnet, chain_id, on_gateway);
        let genesis = settler.last.clone();
        let batches: Vec<_> = (1..=3).map(|n| settler.batch(n)).collect();
        settler.commit(&batches).await.unwrap();
        assert_eq!(settler.counters().await, (3, 0, 0));
        let stored: Vec<_> = batches.iter().map(CommitBatchInfo::to_stored).collect();
        for info in &stored {
            let on_chain = settler
                .executor
                .storedBatchHash(U256::from(info.batchNumber))
                .call()
                .await
                .unwrap();
            assert_eq!(
                on_chain,
                stored_batch_hash(info),
                "stored hash of batch {}",
                info.batchNumber
            );
        }
        settler.prove(&genesis, &stored).await.unwrap();
        assert_eq!(settler.counters().await, (3, 3, 0));
        settler.execute(&stored).await.unwrap();
        assert_eq!(settler.counters().await, (3, 3, 3));

        // MessageRoot holds the chain's batch tree and the shared tree exactly as Rust builds them.
        let (node, roots_address) = if on_gateway {
            (&devnet.topology.gateway.node, devnet.topology.gateway.message_root)
        } else {
            (&devnet.topology.l1.node, devnet.topology.l1.message_root)
        };
        let provider =
            signer_provider(node.rpc_url.clone(), &devnet.topology.l1.governance_key).unwrap();
        let roots = MessageRoot::new(roots_address, provider);
        let leaves: Vec<_> =
            stored.iter().map(|b| batch_leaf(b.batchNumber, b.l2LogsRoot)).collect();
        assert_eq!(
            roots.chainRoot(U256::from(chain_id)).call().await.unwrap(),
            merkle_root(&leaves)
        );
        let count: u64 = roots.chainCount().call().await.unwrap().to();
        let mut chain_leaves = Vec::new();
        for i in 0..count {
            let id: u64 = roots.chainIds(U256::from(i)).call().await.unwrap().to();
            let chain_root = roots.chainRoot(U256::from(id)).call().await.unwrap();
            chain_leaves.push(chain_leaf(id, chain_root));
        }
        assert_eq!(roots.sharedRoot().call().await.unwrap(), merkle_root(&chain_leaves));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_guard_rejects_with_its_custom_error() {
    let devnet = devnet().await;
    let mut settler = Settler::new(&devnet, 270, false);
    let genesis = settler.last.clone();

    // Wrong batch number.
    let err = expect_error(settler.commit(&[settler.batch(2)]).await);
    assert!(
        matches!(err, Errors::BatchNumberMismatch(e) if e.expected == U256::from(1) && e.got == U256::from(2))
    );

    // Wrong previous hash.
    let saved = settler.last.clone();
    settler.last.stateCommitment = B256::repeat_byte(9);
    let err = expect_error(settler.commit(&[settler.batch(1)]).await);
    assert!(
        matches!(err, Errors::PreviousBatchHashMismatch(e) if e.expected == stored_batch_hash(&saved))
    );
    settler.last = saved;

    // Wrong slChainId: a batch built for the Gateway can never be committed on L1.
    let mut for_gateway = settler.batch(1);
    for_gateway.slChainId = U256::from(devnet.topology.gateway.node.chain_id);
    let err = expect_error(settler.commit(&[for_gateway]).await);
    assert!(
        matches!(err, Errors::SettlementLayerChainIdMismatch(e) if e.expected == U256::from(31337) && e.got == U256::from(506))
    );

    // Another chain's batch.
    let mut other_chain = settler.batch(1);
    other_chain.chainId = U256::from(271);
    let err = expect_error(settler.commit(&[other_chain]).await);
    assert!(
        matches!(err, Errors::ChainIdMismatch(e) if e.expected == U256::from(270) && e.got == U256::from(271))
    );

    // Timestamps: first after last, and last too far in the future.
    let mut backwards = settler.batch(1);
    backwards.firstBlockTimestamp = backwards.lastBlockTimestamp + 1;
    let err = expect_error(settler.commit(&[backwards.clone()]).await);
    assert!(
        matches!(err, Errors::TimestampsInvalid(e) if e.first == backwards.firstBlockTimestamp && e.last == backwards.lastBlockTimestamp)
    );
    let mut future = settler.batch(1);
    future.lastBlockTimestamp = u64::MAX / 2;
    let err = expect_error(settler.commit(&[future]).await);
    assert!(matches!(err, Errors::TimestampsInvalid(e) if e.last == u64::MAX / 2));

    // Not the operator.
    let intruder = signer_provider(
        devnet.topology.l1.node.rpc_url.clone(),
        &devnet.topology.l1.governance_key,
    )
    .unwrap();
    let as_intruder = ChainExecutor::new(*settler.executor.address(), intruder);
    let last: ChainExecutor::StoredBatchInfo = convert(&settler.last).unwrap();
    let batch: ChainExecutor::CommitBatchInfo = convert(&settler.batch(1)).unwrap();
    let err = expect_error(
        as_intruder.commitBatches(last, vec![batch], vec![Bytes::new()]).send().await.map(drop),
    );
    assert!(matches!(err, Errors::NotOperator(e) if e.caller == devnet.topology.l1.governance));

    // The settlement layer is not the chain's active one: chain 270 settles on L1.
    let mut on_gateway = Settler::new(&devnet, 270, true);
    let err = expect_error(on_gateway.commit(&[on_gateway.batch(1)]).await);
    assert!(
        matches!(err, Errors::SettlementLayerNotActive(e) if e.chainId == U256::from(270) && e.settlementLayer == U256::from(506))
    );

    // Prove before commit.
    let one = settler.batch(1).to_stored();
    let err = expect_error(settler.prove(&genesis, std::slice::from_ref(&one)).await);
    assert!(matches!(err, Errors::BatchNotCommitted(e) if e.batchNumber == U256::from(1)));

    // Execute before prove.
    settler.commit(&[settler.batch(1)]).await.unwrap();
    let err = expect_error(settler.execute(std::slice::from_ref(&one)).await);
    assert!(
        matches!(err, Errors::BatchNotProved(e) if e.batchNumber == U256::from(1) && e.totalVerified == U256::ZERO)
    );

    // Migration while a batch is committed and not executed.
    let admin = signer_provider(
        devnet.topology.l1.node.rpc_url.clone(),
        &devnet.topology.chains[0].operator_key,
    )
    .unwrap();
    let bridgehub = Bridgehub::new(devnet.topology.bridgehub, admin);
    let genesis_info: Bridgehub::StoredBatchInfo = convert(&genesis).unwrap();
    // Not before the admin opened the move (startMigrationToGateway).
    let err = expect_bridgehub_error(
        bridgehub
            .migrateToGateway(U256::from(270), U256::from(506), genesis_info.clone())
            .send()
            .await
            .map(drop),
    );
    assert!(
        matches!(err, Bridgehub::BridgehubErrors::MigrationNotStarted(e) if e.chainId == U256::from(270) && e.target == U256::from(506))
    );
    bridgehub
        .startMigrationToGateway(U256::from(270), U256::from(506))
        .send()
        .await
        .unwrap()
        .mined()
        .await
        .unwrap();
    let err = bridgehub
        .migrateToGateway(U256::from(270), U256::from(506), genesis_info.clone())
        .send()
        .await
        .map(drop);
    let err = expect_error(err);
    assert!(
        matches!(err, Errors::NotDrained(e) if e.committed == U256::from(1) && e.executed == U256::ZERO)
    );
    bridgehub.cancelMigration(U256::from(270)).send().await.unwrap().mined().await.unwrap();

    // Revert of an executed batch.
    settler.prove(&genesis, std::slice::from_ref(&one)).await.unwrap();
    settler.execute(std::slice::from_ref(&one)).await.unwrap();
    let err = expect_error(settler.executor.revertBatches(U256::ZERO).send().await.map(drop));
    assert!(
        matches!(err, Errors::CannotRevertExecutedBatch(e) if e.newLastBatch == U256::ZERO && e.totalExecuted == U256::from(1))
    );

    // Migration to a settlement layer governance never whitelisted.
    let last: Bridgehub::StoredBatchInfo = convert(&one).unwrap();
    let err = expect_bridgehub_error(
        bridgehub.migrateToGateway(U256::from(270), U256::from(999), last).send().await.map(drop),
    );
    assert!(
        matches!(err, Bridgehub::BridgehubErrors::SettlementLayerNotWhitelisted(e) if e.settlementLayer == U256::from(999))
    );
    // A batch starting before the last committed one ended.
    let mut earlier = settler.batch(2);
    earlier.firstBlockTimestamp = settler.batch(1).lastBlockTimestamp - 1;
    let err = expect_error(settler.commit(&[earlier]).await);
    assert!(
        matches!(err, Errors::TimestampsInvalid(e) if e.previousLast == settler.batch(1).lastBlockTimestamp)
    );

    // Governance calls from anyone but the owner.
    let err = expect_bridgehub_error(
        bridgehub
            .setSettlementLayerStatus(U256::from(999), true, Address::ZERO)
            .send()
            .await
            .map(drop),
    );
    assert!(
        matches!(err, Bridgehub::BridgehubErrors::NotOwner(e) if e.caller == devnet.topology.chains[0].operator)
    );

    // A priority operation that was never queued.
    let err = expect_error(settler.executor.priorityOpHash(U256::from(5)).call().await.map(drop));
    assert!(
        matches!(err, Errors::UnknownPriorityOp(e) if e.id == U256::from(5) && e.queued == U256::ZERO)
    );
    assert_eq!(settler.counters().await, (1, 1, 1), "the refusals changed nothing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_halo2_verifier_refuses_mock_and_malformed_proofs_with_invalid_proof() {
    use alloy::sol_types::SolValue;
    let devnet = devnet().await;
    let mut settler = Settler::new(&devnet, 270, false);
    let provider = settler.executor.provider().clone();
    let leaf = deploy_halo2_leaf_verifier(&provider).await.unwrap();
    let verifier = deploy_halo2_batch_verifier(&provider, leaf, 270).await.unwrap();
    let topology = &devnet.topology;
    devnet::change_verifier(
        &topology.l1.node.rpc_url,
        &topology.l1.governance_key,
        *settler.executor.address(),
        verifier,
    )
    .await
    .unwrap();
    let genesis = settler.last.clone();
    let one = settler.batch(1);
    settler.commit(std::slice::from_ref(&one)).await.unwrap();
    let prove = |proof: Bytes| {
        let prev: ChainExecutor::StoredBatchInfo = convert(&genesis).unwrap();
        let batch: ChainExecutor::StoredBatchInfo = convert(&one.to_stored()).unwrap();
        let executor = settler.executor.clone();
        async move { executor.proveBatches(prev, vec![batch], proof).call().await.map(drop) }
    };
    // What the mock backend submits; bytes that are no `bytes[]` at all (the verifier reverts);
    // a well-formed envelope around a proof that is not one (the leaf verifier refuses it).
    let mock = Bytes::from(vec![Bytes::from_static(b"mock proof")].abi_encode());
    let mut garbage = vec![0u8; 4];
    garbage[3] = 64;
    garbage.extend_from_slice(&[7u8; 64]);
    let not_a_proof = Bytes::from(vec![Bytes::from(garbage)].abi_encode());
    for proof in [mock, Bytes::from_static(b"mock proof"), not_a_proof] {
        let err = expect_error(prove(proof.clone()).await);
        assert!(matches!(err, Errors::InvalidProof(_)), "{proof}: {err:?}");
    }
    assert_eq!(settler.counters().await, (1, 0, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chain_migrates_to_the_gateway_and_back_twice() {
    let devnet = devnet().await;
    let topology = &devnet.topology;
    let chain = topology.chain(270).unwrap();
    let l1_admin = signer_provider(topology.l1.node.rpc_url.clone(), &chain.operator_key).unwrap();
    let bridgehub = Bridgehub::new(topology.bridgehub, l1_admin);
    let l1_relayer =
        signer_provider(topology.l1.node.rpc_url.clone(), &topology.gateway.governance_key)
            .unwrap();
    let bridgehub_as_relayer = Bridgehub::new(topology.bridgehub, l1_relayer);
    let gw_relayer =
        signer_provider(topology.gateway.node.rpc_url.clone(), &topology.gateway.governance_key)
            .unwrap();
    let gw_executor_as_relayer = ChainExecutor::new(chain.gateway_executor, gw_relayer);

    let mut on_l1 = Settler::new(&devnet, 270, false);
    let mut on_gw = Settler::new(&devnet, 270, true);
    // The Gateway's own settlement on L1, made up here (no Gateway node runs).
    let mut gateway_l1 = GatewayL1::new(
        topology,
        signer_provider(topology.l1.node.rpc_url.clone(), &topology.gateway.governance_key)
            .unwrap(),
    );
    let mut next = 1;
    for round in 0..2 {
        // A batch on L1.
        let prev = on_l1.last.clone();
        let batch = on_l1.batch(next);
        on_l1.commit(std::slice::from_ref(&batch)).await.unwrap();
        on_l1.prove(&prev, &[batch.to_stored()]).await.unwrap();
        on_l1.execute(&[batch.to_stored()]).await.unwrap();
        next += 1;

        // L1 -> Gateway: the Bridgehub checks the drain and deactivates L1; the relayer
        // activates the Gateway's executor with the last batch.
        let last = on_l1.last.clone();
        let last_bh: Bridgehub::StoredBatchInfo = convert(&last).unwrap();
        bridgehub
            .startMigrationToGateway(U256::from(270), U256::from(506))
            .send()
            .await
            .unwrap()
            .mined()
            .await
            .unwrap();
        bridgehub
            .migrateToGateway(U256::from(270), U256::from(506), last_bh)
            .send()
            .await
            .unwrap()
            .with_timeout(Some(TX_TIMEOUT))
            .get_receipt()
            .await
            .unwrap();
        assert_eq!(
            bridgehub.settlementLayer(U256::from(270)).call().await.unwrap(),
            U256::from(506)
        );
        let last_ex: ChainExecutor::StoredBatchInfo = convert(&last).unwrap();
        gw_executor_as_relayer
            .activate(last_ex)
            .send()
            .await
            .unwrap()
            .with_timeout(Some(TX_TIMEOUT))
            .get_receipt()
            .await
            .unwrap();

        // A batch on the Gateway, continuing the numbering.
        let handed_over = last.clone();
        on_gw.last = last.clone();
        let batch = on_gw.batch(next);
        on_gw.commit(std::slice::from_ref(&batch)).await.unwrap();
        on_gw.prove(&last, &[batch.to_stored()]).await.unwrap();
        on_gw.execute(&[batch.to_stored()]).await.unwrap();
        let on_gw_batch = batch;
        next += 1;
        // L1 refuses batches while the chain settles on the Gateway.
        on_l1.last = last.clone();
        assert!(matches!(
            expect_error(on_l1.commit(&[on_l1.batch(next)]).await),
            Errors::SettlementLayerNotActive(_)
        ));

        // Gateway -> L1: the relayer alone cannot move the chain back.
        if round == 0 {
            let err = expect_bridgehub_error(
                bridgehub_as_relayer
                    .finalizeMigrationFromGateway(U256::from(270), convert(&on_gw.last).unwrap())
                    .send()
                    .await
                    .map(drop),
            );
            assert!(
                matches!(err, Bridgehub::BridgehubErrors::MigrationNotStarted(e) if e.chainId == U256::from(270) && e.target == U256::from(31337))
            );
        }
        bridgehub
            .startMigrationFromGateway(U256::from(270))
            .send()
            .await
            .unwrap()
            .with_timeout(Some(TX_TIMEOUT))
            .get_receipt()
            .await
            .unwrap();
        gw_executor_as_relayer
            .deactivate()
            .send()
            .await
            .unwrap()
            .with_timeout(Some(TX_TIMEOUT))
            .get_receipt()
            .await
            .unwrap();
        let last = on_gw.last.clone();
        let last_bh: Bridgehub::StoredBatchInfo = convert(&last).unwrap();
        // L1 takes the chain back only once its last batch on the Gateway is L1-final there.
        let err = expect_bridgehub_error(
            bridgehub_as_relayer
                .finalizeMigrationFromGateway(U256::from(270), last_bh.clone())
                .send()
                .await
                .map(drop),
        );
        assert!(
            matches!(&err, Bridgehub::BridgehubErrors::NotFinalOnL1(e) if e.chainId == U256::from(270) && e.batchNumber == U256::from(next - 1) && e.lastFinalBatch == U256::from(next - 2)),
            "{err:?}"
        );
        let added: &[u64] = if round == 0 { &[270] } else { &[] };
        let carry =
            GatewayL1::carry(added, &[(270, handed_over.clone(), vec![on_gw_batch.clone()])]);
        gateway_l1.settle(gateway_l1.batch(carry)).await.unwrap();
        // Coming back with a batch L1 does not hold as final (the one the chain was handed
        // over with) is refused as well.
        let err = expect_bridgehub_error(
            bridgehub_as_relayer
                .finalizeMigrationFromGateway(U256::from(270), convert(&handed_over).unwrap())
                .send()
                .await
                .map(drop),
        );
        assert!(matches!(err, Bridgehub::BridgehubErrors::NotFinalOnL1(_)), "{err:?}");
        bridgehub_as_relayer
            .finalizeMigrationFromGateway(U256::from(270), last_bh)
            .send()
            .await
            .unwrap()
            .with_timeout(Some(TX_TIMEOUT))
            .get_receipt()
            .await
            .unwrap();
        assert_eq!(
            bridgehub.settlementLayer(U256::from(270)).call().await.unwrap(),
            U256::from(31337)
        );
        on_l1.last = last;
        let n = next - 1;
        assert_eq!(
            on_l1.counters().await,
            (n, n, n),
            "round {round}: L1 continues after the Gateway's last batch"
        );
    }
    // Registration plus four migrations, each with the batch it starts at.
    let count: u64 = bridgehub.migrationCount().call().await.unwrap().to();
    let mut intervals = Vec::new();
    for i in 0..count {
        let m = bridgehub.migrations(U256::from(i)).call().await.unwrap();
        if m.chainId == U256::from(270) {
            intervals.push((m.settlementLayer.to::<u64>(), m.firstBatch.to::<u64>()));
        }
    }
    assert_eq!(intervals, vec![(31337, 1), (506, 2), (31337, 3), (506, 4), (31337, 5)]);
    // Each batch's layer comes from the chain's own history (another chain's migrations never
    // make its withdrawals dearer); before its first batch there is none.
    assert_eq!(bridgehub.migrationCountOf(U256::from(270)).call().await.unwrap(), U256::from(5));
    assert_eq!(bridgehub.migrationCountOf(U256::from(271)).call().await.unwrap(), U256::from(1));
    for (batch, layer) in [(1u64, 31337u64), (2, 506), (3, 31337), (4, 506), (5, 31337), (9, 31337)]
    {
        assert_eq!(
            bridgehub
                .settlementLayerOfBatch(U256::from(270), U256::from(batch))
                .call()
                .await
                .unwrap(),
            U256::from(layer),
            "batch {batch}"
        );
    }
    let err = expect_bridgehub_error(
        bridgehub.settlementLayerOfBatch(U256::from(270), U256::ZERO).call().await.map(drop),
    );
    assert!(matches!(err, Bridgehub::BridgehubErrors::BatchNotSettled(_)), "{err:?}");
}

/// L1 -> L2 transactions requested while a chain migrates are parked on the Bridgehub (its old
/// queue can only shrink, so no deposit holds the move up) and forwarded in order, exactly as
/// they were parked, once no move is open; a chain leaves the Gateway only once every
/// operation routed to it through the Gateway is executed in batches L1 holds final.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operations_requested_while_a_chain_migrates_are_parked_and_forwarded_in_order() {
    use alloy::primitives::keccak256;
    use alloy::sol_types::SolValue;
    let devnet = devnet().await;
    let topology = &devnet.topology;
    let admin_of = |id: u64| {
        let chain = topology.chain(id).unwrap();
        Bridgehub::new(
            topology.bridgehub,
            signer_provider(topology.l1.node.rpc_url.clone(), &chain.operator_key).unwrap(),
        )
    };
    let bridgehub = admin_of(270);
    let l1 =
        signer_provider(topology.l1.node.rpc_url.clone(), &topology.l1.governance_key).unwrap();
    let on_l1 = ChainExecutor::new(topology.chain(270).unwrap().l1_executor, &l1);
    let sender = topology
        .chain(270)
        .unwrap()
        .operator_key
        .parse::<alloy::signers::local::PrivateKeySigner>()
        .unwrap()
        .address();
    let fee = U256::from(devnet::PRIORITY_OP_FEE_WEI);
    // What the Bridgehub encodes for a deposit of `amount` to `to`, refunds to the sender.
    let data = |to: Address, amount: u64| {
        (to, U256::from(amount), Bytes::new(), U256::from(100_000), sender).abi_encode_params()
    };
    let request = async |b: &Bridgehub::BridgehubInstance<DynProvider>,
                         chain: u64,
                         to: Address,
                         amount: u64| {
        b.requestL2Transaction(
            U256::from(chain),
            to,
            U256::from(amount),
            Bytes::new(),
            U256::from(100_000),
            Address::ZERO,
        )
        .value(fee + U256::from(amount))
        .send()
        .await
        .unwrap()
        .mined()
        .await
        .unwrap()
    };
    let (a, b, c, d) = (
        Address::repeat_byte(0xa1),
        Address::repeat_byte(0xb2),
        Address::repeat_byte(0xc3),
        Address::repeat_byte(0xd4),
    );

    request(&bridgehub, 270, a, 1).await;
    assert_eq!(on_l1.totalPriorityOps().call().await.unwrap(), U256::from(1));
    // The admin opens the move: from now on, parked.
    bridgehub
        .startMigrationToGateway(U256::from(270), U256::from(506))
        .send()
        .await
        .unwrap()
        .mined()
        .await
        .unwrap();
    let err = expect_bridgehub_error(
        bridgehub.startMigrationToGateway(U256::from(270), U256::from(506)).send().await.map(drop),
    );
    assert!(matches!(err, Bridgehub::BridgehubErrors::MigrationInProgress(_)), "{err:?}");
    // Only the chain's admin opens or cancels its move.
    for err in [
        admin_of(271).cancelMigration(U256::from(270)).send().await.map(drop),
        admin_of(271)
            .startMigrationToGateway(U256::from(270), U256::from(506))
            .send()
            .await
            .map(drop),
        admin_of(271).startMigrationFromGateway(U256::from(270)).send().await.map(drop),
    ] {
        let err = expect_bridgehub_error(err);
        assert!(matches!(err, Bridgehub::BridgehubErrors::NotChainAdmin(_)), "{err:?}");
    }
    let receipt = request(&bridgehub, 270, b, 2).await;
    let parked = receipt
        .decoded_log::<Bridgehub::L2TransactionParked>()
        .expect("an L2TransactionParked event");
    assert_eq!((parked.index, parked.sender), (U256::ZERO, sender));
    assert_eq!(parked.data.data, Bytes::from(data(b, 2)));
    assert_eq!(on_l1.totalPriorityOps().call().await.unwrap(), U256::from(1), "not queued");
    let op_b = Bridgehub::ParkedOp { sender, data: data(b, 2).into(), fee };
    // Not forwarded while the move is open.
    let err = expect_bridgehub_error(
        bridgehub.forwardParked(U256::from(270), vec![op_b.clone()]).send().await.map(drop),
    );
    assert!(matches!(err, Bridgehub::BridgehubErrors::MigrationInProgress(_)), "{err:?}");
    // Given up: still parked until forwarded, and a new request queues behind it.
    bridgehub.cancelMigration(U256::from(270)).send().await.unwrap().mined().await.unwrap();
    let receipt = request(&bridgehub, 270, c, 3).await;
    assert!(receipt.decoded_log::<Bridgehub::L2TransactionParked>().is_some(), "parked behind b");
    let op_c = Bridgehub::ParkedOp { sender, data: data(c, 3).into(), fee };
    // Only exactly what was parked, in order.
    let mut cheaper = op_b.clone();
    cheaper.fee = U256::ZERO;
    for (ops, why) in [
        (vec![cheaper], "ParkedOpMismatch"),
        (vec![op_c.clone(), op_b.clone()], "ParkedOpMismatch"),
        (vec![op_b.clone(), op_c.clone(), op_c.clone()], "NotParked"),
    ] {
        let err = expect_bridgehub_error(
            bridgehub.forwardParked(U256::from(270), ops).send().await.map(drop),
        );
        assert!(format!("{err:?}").contains(why), "{why}: {err:?}");
    }
    // Anyone may forward them (here governance's key).
    let as_anyone = Bridgehub::new(topology.bridgehub, &l1);
    as_anyone
        .forwardParked(U256::from(270), vec![op_b, op_c])
        .send()
        .await
        .unwrap()
        .mined()
        .await
        .unwrap();
    let counts = bridgehub.parkedCount(U256::from(270)).call().await.unwrap();
    assert_eq!((counts.forwarded, counts.total), (U256::from(2), U256::from(2)));
    request(&bridgehub, 270, d, 4).await;
    assert_eq!(on_l1.totalPriorityOps().call().await.unwrap(), U256::from(4));
    for (id, (to, amount)) in [(a, 1u64), (b, 2), (c, 3), (d, 4)].into_iter().enumerate() {
        let expected =
            keccak256((U256::from(id), sender, Bytes::from(data(to, amount))).abi_encode_params());
        assert_eq!(on_l1.priorityOpHash(U256::from(id)).call().await.unwrap(), expected, "op {id}");
    }

    // Chain 271 settles on the Gateway: an operation routed to it there and not yet executed
    // in a batch L1 holds final keeps it from leaving.
    let admin_271 = admin_of(271);
    request(&admin_271, 271, a, 5).await;
    assert_eq!(
        admin_271.opsRoutedVia(U256::from(271), U256::from(506)).call().await.unwrap(),
        U256::from(1)
    );
    admin_271
        .startMigrationFromGateway(U256::from(271))
        .send()
        .await
        .unwrap()
        .mined()
        .await
        .unwrap();
    let relayer = Bridgehub::new(
        topology.bridgehub,
        signer_provider(topology.l1.node.rpc_url.clone(), &topology.gateway.governance_key)
            .unwrap(),
    );
    let genesis: Bridgehub::StoredBatchInfo =
        convert(&topology.chain(271).unwrap().genesis.stored_info()).unwrap();
    let err = expect_bridgehub_error(
        relayer.finalizeMigrationFromGateway(U256::from(271), genesis).send().await.map(drop),
    );
    assert!(
        matches!(&err, Bridgehub::BridgehubErrors::PriorityOpsNotFinal(e) if e.routed == U256::from(1) && e.finalOnL1 == U256::ZERO),
        "{err:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_and_solidity_agree_on_message_proofs_for_random_nested_trees() {
    let devnet = devnet().await;
    let topology = &devnet.topology;
    let provider =
        signer_provider(topology.l1.node.rpc_url.clone(), &topology.l1.governance_key).unwrap();
    // Over L1's own roots: the property checks `computeRoot`, and `proveMessageInclusion`
    // against a real recorded root below.
    let verifier = MessageVerifier::new(topology.l1_interop.l1_roots_verifier, &provider);
    let messenger = topology.chains[0].interop.messenger;
    let seed = 0x5eed_0008;
    let mut rng = Rng(seed);
    let mut last = None;
    for case in 0..120 {
        // A batch of 1..=20 messages, a chain tree of 1..=12 batches, a shared tree of 1..=9
        // chains, each with the proven element at a random place.
        let messages: Vec<(Address, Vec<u8>)> = (0..1 + rng.next() % 20)
            .map(|_| {
                let len = (rng.next() % 70) as usize;
                (Address::from_word(rng.word()), (0..len).map(|_| rng.next() as u8).collect())
            })
            .collect();
        let leaves: Vec<B256> =
            messages.iter().map(|(sender, data)| message_leaf(messenger, *sender, data)).collect();
        let message_index = (rng.next() as usize) % leaves.len();
        let batch_number = rng.next() % 1_000_000;
        let src_chain = rng.next() % 100_000;
        let mut batch_leaves: Vec<B256> = (0..1 + rng.next() % 12).map(|_| rng.word()).collect();
        let batch_index = (rng.next() as usize) % batch_leaves.len();
        batch_leaves[batch_index] = batch_leaf(batch_number, merkle_root(&leaves));
        let mut chain_leaves: Vec<B256> = (0..1 + rng.next() % 9).map(|_| rng.word()).collect();
        let chain_index = (rng.next() as usize) % chain_leaves.len();
        chain_leaves[chain_index] = chain_leaf(src_chain, merkle_root(&batch_leaves));
        let root = merkle_root(&chain_leaves);
        let proof = MessageProof {
            root_id: rng.next(),
            message_index: message_index as u64,
            message_path: merkle_proof(&leaves, message_index).unwrap(),
            batch_index: batch_index as u64,
            batch_path: merkle_proof(&batch_leaves, batch_index).unwrap(),
            chain_index: chain_index as u64,
            chain_path: merkle_proof(&chain_leaves, chain_index).unwrap(),
        };
        let leaf = leaves[message_index];
        assert!(proof.verify(src_chain, batch_number, leaf, root), "seed {seed} case {case}");
        let (sender, data) = &messages[message_index];
        let message = MessageVerifier::Message { sender: *sender, data: Bytes::from(data.clone()) };
        let onchain = |p: &MessageProof| MessageVerifier::MessageProof {
            rootId: U256::from(p.root_id),
            messageIndex: U256::from(p.message_index),
            messagePath: p.message_path.clone(),
            batchIndex: U256::from(p.batch_index),
            batchPath: p.batch_path.clone(),
            chainIndex: U256::from(p.chain_index),
            chainPath: p.chain_path.clone(),
        };
        let computed = verifier
            .computeRoot(src_chain, batch_number, message.clone(), onchain(&proof))
            .call()
            .await
            .unwrap();
        assert_eq!(computed, root, "seed {seed} case {case}");
        // A changed index at any level: both sides move off the root (or refuse the index).
        let mut changed = proof.clone();
        match rng.next() % 3 {
            0 => changed.message_index ^= 1,
            1 => changed.batch_index ^= 1,
            _ => changed.chain_index ^= 1,
        }
        let rust = changed.compute_root(src_chain, batch_number, leaf);
        let solidity = verifier
            .computeRoot(src_chain, batch_number, message.clone(), onchain(&changed))
            .call()
            .await
            .ok();
        assert_eq!(rust, solidity, "seed {seed} case {case}: Rust and Solidity differ");
        assert_ne!(rust, Some(root), "seed {seed} case {case}");
        last = Some((src_chain, batch_number, message, onchain(&proof)));
    }

    // Chain ids and batch numbers are uint64: a word above 2^64 - 1 where one is expected is
    // refused before any hashing (under uint256, `keccak256(uint256 n ‖ root)` could equal an
    // inner node `keccak256(left ‖ right)` with n = left: a node passed off as a batch leaf).
    let (src_chain, batch_number, message, proof) = last.unwrap();
    use alloy::sol_types::SolCall;
    let call = MessageVerifier::computeRootCall {
        srcChainId: src_chain,
        batchNumber: batch_number,
        message,
        proof,
    };
    let calldata = call.abi_encode();
    let honest = alloy::providers::Provider::call(
        &provider,
        alloy::rpc::types::TransactionRequest::default()
            .to(*verifier.address())
            .input(calldata.clone().into()),
    )
    .await;
    assert!(honest.is_ok(), "the honest call answers: {honest:?}");
    for word in [0usize, 1] {
        let mut forged = calldata.clone();
        let at = 4 + 32 * word;
        forged[at..at + 32]
            .copy_from_slice(&(U256::from(u64::MAX) + U256::from(1)).to_be_bytes::<32>());
        let refused = alloy::providers::Provider::call(
            &provider,
            alloy::rpc::types::TransactionRequest::default()
                .to(*verifier.address())
                .input(forged.into()),
        )
        .await;
        assert!(refused.is_err(), "word {word} above uint64 must be refused: {refused:?}");
    }
    // And an inner node's preimage is prefixed: never the 64 bytes of two words.
    let (left, right) = (B256::repeat_byte(0xaa), B256::repeat_byte(0xbb));
    assert_ne!(
        gateway_primitives::merkle_node(&left, &right),
        alloy::primitives::keccak256([left.as_slice(), right.as_slice()].concat())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_and_solidity_agree_on_hashes_and_merkle_trees_for_random_inputs() {
    let devnet = devnet().await;
    let provider = signer_provider(
        devnet.topology.l1.node.rpc_url.clone(),
        &devnet.topology.l1.governance_key,
    )
    .unwrap();
    let harness = MerkleHarness::new(deploy_merkle_harness(&provider).await.unwrap(), &provider);
    let executor = ChainExecutor::new(devnet.topology.chains[0].l1_executor, &provider);
    let seed = 0x5eed_0001;
    let mut rng = Rng(seed);
    // The first cases: empty, one leaf, and full trees (the roots push keeps one level up).
    let sizes = [0usize, 1, 2, 3, 4, 5, 8, 16, 32];
    for case in 0..120 {
        let count = sizes.get(case).copied().unwrap_or((rng.next() % 40) as usize);
        let leaves: Vec<B256> = (0..count).map(|_| rng.word()).collect();
        let root = merkle_root(&leaves);
        assert_eq!(
            harness.rootOf(leaves.clone()).call().await.unwrap(),
            root,
            "seed {seed} case {case}"
        );
        assert_eq!(
            harness.incrementalRootOf(leaves.clone()).call().await.unwrap(),
            root,
            "seed {seed} case {case}"
        );
        // In memory with the count kept apart, as GatewayExecutor keeps a chain's tree: the
        // same root, the frontier the Rust tree gives, and the root rebuilt from it.
        let counted = harness.countedRootOf(leaves.clone()).call().await.unwrap();
        assert_eq!(counted.root, root, "seed {seed} case {case}: pushIn/rootIn");
        let mut tree = gateway_primitives::IncrementalTree::default();
        for leaf in &leaves {
            tree.push(*leaf);
        }
        assert_eq!(counted.frontier, tree.frontier(), "seed {seed} case {case}: frontier");
        assert_eq!(
            harness.frontierRootOf(tree.frontier(), U256::from(count)).call().await.unwrap(),
            root,
            "seed {seed} case {case}: branchOf/rootIn"
        );
        if count > 0 {
            let index = (rng.next() as usize) % count;
            let proof = merkle_proof(&leaves, index).unwrap();
            assert!(
                harness
                    .verify(root, leaves[index], U256::from(index), proof.clone())
                    .call()
                    .await
                    .unwrap()
            );
            assert!(
                !harness.verify(root, rng.word(), U256::from(index), proof).call().await.unwrap()
            );
        }

        let batch = CommitBatchInfo {
            batchNumber: rng.next(),
            newStateCommitment: rng.word(),
            firstBlockTimestamp: rng.next(),
            lastBlockTimestamp: rng.next(),
            chainId: rng.u256(),
            daScheme: rng.next() as u8,
            daCommitment: rng.word(),
            numberOfL1Txs: rng.u256(),
            numberOfL2Txs: rng.u256(),
            priorityOpsHash: rng.word(),
            l2LogsRoot: rng.word(),
            dependencyRootsRollingHash: rng.word(),
            slChainId: rng.u256(),
        };
        let onchain: ChainExecutor::CommitBatchInfo = convert(&batch).unwrap();
        assert_eq!(
            executor.batchOutputHash(onchain).call().await.unwrap(),
            batch_output_hash(&batch),
            "seed {seed} case {case}"
        );
        let stored = batch.to_stored();
        let onchain: ChainExecutor::StoredBatchInfo = convert(&stored).unwrap();
        assert_eq!(
            executor.hashStoredBatchInfo(onchain).call().await.unwrap(),
            stored_batch_hash(&stored)
        );
        let (a, b, c) = (rng.word(), rng.word(), rng.word());
        assert_eq!(executor.publicInput(a, b, c).call().await.unwrap(), public_input(a, b, c));

        // The shared root GatewayExecutor recomputes (in assembly, from its in-memory shared
        // tree of ids and roots): the MessageRoot's root over the chains' leaves, for trees up
        // to 64 chains and past a power of two.
        let chains = [0usize, 1, 2, 3, 4, 5, 63, 64, 65].get(case).copied();
        let chains = chains.unwrap_or((rng.next() % 70) as usize);
        let ids_and_roots: Vec<(u64, B256)> =
            (0..chains).map(|_| (rng.next(), rng.word())).collect();
        let flat: Vec<B256> = ids_and_roots
            .iter()
            .flat_map(|(id, root)| [B256::from(U256::from(*id)), *root])
            .collect();
        let leaves: Vec<B256> =
            ids_and_roots.iter().map(|(id, root)| chain_leaf(*id, *root)).collect();
        assert_eq!(
            harness.sharedRootOf(flat).call().await.unwrap(),
            merkle_root(&leaves),
            "seed {seed} case {case}: {chains} chains"
        );
    }
    let _: Address = *harness.address();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shared_test_vectors_hold_in_solidity() {
    // The same file `gateway-primitives`' unit tests check the Rust code against.
    let vectors = gateway_primitives::vectors::load().unwrap();
    let devnet = devnet().await;
    let provider = signer_provider(
        devnet.topology.l1.node.rpc_url.clone(),
        &devnet.topology.l1.governance_key,
    )
    .unwrap();
    let harness = MerkleHarness::new(deploy_merkle_harness(&provider).await.unwrap(), &provider);
    let executor = ChainExecutor::new(devnet.topology.chains[0].l1_executor, &provider);
    for v in &vectors.merkle {
        let n = v.leaves.len();
        assert_eq!(harness.rootOf(v.leaves.clone()).call().await.unwrap(), v.root, "{n} leaves");
        assert_eq!(harness.incrementalRootOf(v.leaves.clone()).call().await.unwrap(), v.root);
        if n > 0 {
            let (leaf, index) = (v.leaves[v.index], U256::from(v.index));
            assert!(harness.verify(v.root, leaf, index, v.proof.clone()).call().await.unwrap());
        }
    }
    for v in &vectors.batches {
        let batch: ChainExecutor::CommitBatchInfo = convert(&v.batch).unwrap();
        assert_eq!(executor.batchOutputHash(batch).call().await.unwrap(), v.batch_output_hash);
        let stored: ChainExecutor::StoredBatchInfo = convert(&v.batch.to_stored()).unwrap();
        assert_eq!(executor.hashStoredBatchInfo(stored).call().await.unwrap(), v.stored_batch_hash);
    }
    for v in &vectors.public_inputs {
        let onchain = executor
            .publicInput(v.prev_state_commitment, v.state_commitment, v.commitment)
            .call()
            .await
            .unwrap();
        assert_eq!(onchain, v.public_input);
    }
    for v in &vectors.leaves {
        let (batch, chain) = (v.batch_number, v.chain_id);
        assert_eq!(harness.batchLeaf(batch, v.root).call().await.unwrap(), v.batch_leaf);
        assert_eq!(harness.chainLeaf(chain, v.root).call().await.unwrap(), v.chain_leaf);
    }
    assert!(vectors.merkle.len() >= 10 && vectors.batches.len() >= 8 && vectors.leaves.len() >= 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn priority_operations_are_consumed_in_order_and_block_migration_while_pending() {
    use alloy::primitives::keccak256;
    let devnet = devnet().await;
    let mut settler = Settler::new(&devnet, 270, false);
    let genesis = settler.last.clone();
    // Nobody queues an operation on the executor directly: only its controller, the Bridgehub.
    let err = expect_error(
        settler
            .executor
            .requestPriorityOp(Address::repeat_byte(7), Bytes::new())
            .send()
            .await
            .map(drop),
    );
    assert!(matches!(err, Errors::NotController(_)), "{err:?}");
    // Through the Bridgehub, at governance's fee: an underpaid request is refused.
    let topology = &devnet.topology;
    let governance =
        signer_provider(topology.l1.node.rpc_url.clone(), &topology.l1.governance_key).unwrap();
    let fee = U256::from(1_000_000_000_000_000u64);
    Bridgehub::new(topology.bridgehub, &governance)
        .setPriorityOpFee(fee)
        .send()
        .await
        .unwrap()
        .with_timeout(Some(TX_TIMEOUT))
        .get_receipt()
        .await
        .unwrap();
    let user = signer_provider(topology.l1.node.rpc_url.clone(), &topology.chains[0].operator_key)
        .unwrap();
    let as_user = Bridgehub::new(topology.bridgehub, &user);
    // Only governance sets the fee and takes the fees.
    for err in [
        expect_bridgehub_error(as_user.setPriorityOpFee(U256::ZERO).send().await.map(drop)),
        expect_bridgehub_error(
            as_user.withdrawFees(topology.chains[0].operator).send().await.map(drop),
        ),
    ] {
        assert!(matches!(err, Bridgehub::BridgehubErrors::NotOwner(_)), "{err:?}");
    }
    let err = expect_bridgehub_error(
        as_user
            .requestL2Transaction(
                U256::from(270),
                Address::repeat_byte(9),
                U256::from(5),
                Bytes::from_static(b"free ride"),
                U256::from(100_000),
                Address::ZERO,
            )
            .value(fee + U256::from(4))
            .send()
            .await
            .map(drop),
    );
    assert!(
        matches!(err, Bridgehub::BridgehubErrors::PriorityOpFeeTooLow(ref e) if e.fee == fee),
        "{err:?}"
    );
    // A call that asks for more gas than the chain gives one is refused.
    let err = expect_bridgehub_error(
        as_user
            .requestL2Transaction(
                U256::from(270),
                Address::repeat_byte(9),
                U256::ZERO,
                Bytes::new(),
                U256::from(10_000_001),
                Address::ZERO,
            )
            .value(fee)
            .send()
            .await
            .map(drop),
    );
    assert!(matches!(err, Bridgehub::BridgehubErrors::L2GasLimitTooHigh(_)), "{err:?}");
    for (value, data) in [(7u64, b"deposit one".as_slice()), (11, b"deposit two".as_slice())] {
        as_user
            .requestL2Transaction(
                U256::from(270),
                Address::repeat_byte(9),
                U256::from(value),
                Bytes::copy_from_slice(data),
                U256::from(100_000),
                Address::ZERO,
            )
            .value(fee + U256::from(value))
            .send()
            .await
            .unwrap()
            .with_timeout(Some(TX_TIMEOUT))
            .get_receipt()
            .await
            .unwrap();
    }
    assert_eq!(settler.executor.pendingPriorityOps().call().await.unwrap(), U256::from(2));
    assert_eq!(as_user.feesCollected().call().await.unwrap(), fee * U256::from(2));
    // The values are escrowed for the chain, apart from the fees.
    assert_eq!(as_user.escrowed(U256::from(270)).call().await.unwrap(), U256::from(18));

    // A pending priority operation blocks migration even with nothing committed.
    let admin = signer_provider(
        devnet.topology.l1.node.rpc_url.clone(),
        &devnet.topology.chains[0].operator_key,
    )
    .unwrap();
    let bridgehub = Bridgehub::new(devnet.topology.bridgehub, admin);
    let genesis_info: Bridgehub::StoredBatchInfo = convert(&genesis).unwrap();
    bridgehub
        .startMigrationToGateway(U256::from(270), U256::from(506))
        .send()
        .await
        .unwrap()
        .mined()
        .await
        .unwrap();
    let err = expect_error(
        bridgehub
            .migrateToGateway(U256::from(270), U256::from(506), genesis_info)
            .send()
            .await
            .map(drop),
    );
    assert!(matches!(err, Errors::NotDrained(e) if e.pendingPriorityOps == U256::from(2)));
    bridgehub.cancelMigration(U256::from(270)).send().await.unwrap().mined().await.unwrap();

    // The rolling hash over queued operations, in the order a batch reports them.
    let mut ops = Vec::new();
    for id in 0..2u64 {
        ops.push(settler.executor.priorityOpHash(U256::from(id)).call().await.unwrap());
    }
    let rolling_over = |ids: &[usize]| {
        ids.iter().fold(B256::ZERO, |rolling, id| {
            let mut packed = rolling.to_vec();
            packed.extend_from_slice(ops[*id].as_slice());
            keccak256(packed)
        })
    };
    let rolling = rolling_over(&[0, 1]);
    let mut right = settler.batch(1);
    right.numberOfL1Txs = U256::from(2);
    right.priorityOpsHash = rolling;

    // A batch that reports a made-up hash, skips the first operation, or reorders them is
    // refused when it is executed; each is reverted (never executed) before the next.
    let saved = settler.last.clone();
    for (what, ids, hash) in [
        ("made up", vec![0, 1], B256::repeat_byte(1)),
        ("skipped", vec![0], rolling_over(&[1])),
        ("reordered", vec![0, 1], rolling_over(&[1, 0])),
    ] {
        let mut wrong = right.clone();
        wrong.numberOfL1Txs = U256::from(ids.len());
        wrong.priorityOpsHash = hash;
        settler.commit(std::slice::from_ref(&wrong)).await.unwrap();
        settler.prove(&saved, &[wrong.to_stored()]).await.unwrap();
        let err = expect_error(settler.execute(&[wrong.to_stored()]).await);
        let expected = rolling_over(&ids);
        assert!(
            matches!(err, Errors::PriorityOpsHashMismatch(ref e) if e.expected == expected && e.got == hash),
            "{what}: {err:?}"
        );
        settler.executor.revertBatches(U256::ZERO).send().await.unwrap().mined().await.unwrap();
        settler.last = saved.clone();
    }
    settler.last = saved.clone();
    settler.commit(std::slice::from_ref(&right)).await.unwrap();
    settler.prove(&saved, &[right.to_stored()]).await.unwrap();
    settler.execute(&[right.to_stored()]).await.unwrap();
    assert_eq!(settler.executor.pendingPriorityOps().call().await.unwrap(), U256::ZERO);
    assert_eq!(settler.counters().await, (1, 1, 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_availability_inputs_are_checked_against_the_commitment() {
    use alloy::{primitives::keccak256, sol_types::SolValue};
    let devnet = devnet().await;
    let mut settler = Settler::new(&devnet, 270, false);
    let pubdata = Bytes::from(vec![0xab; 300]);
    let mut calldata_batch = settler.batch(1);
    calldata_batch.daScheme = 1;
    calldata_batch.daCommitment = keccak256(&pubdata);

    // One input per batch.
    let err = expect_error(settler.commit_with(&[calldata_batch.clone()], vec![]).await);
    assert!(
        matches!(err, Errors::DaInputsLengthMismatch(e) if e.batches == U256::from(1) && e.daInputs == U256::ZERO)
    );
    // Calldata DA: the pubdata must hash to the commitment.
    let mut tampered = pubdata.to_vec();
    tampered[7] ^= 1;
    let err = expect_error(
        settler.commit_with(&[calldata_batch.clone()], vec![tampered.clone().into()]).await,
    );
    assert!(
        matches!(err, Errors::DaCommitmentMismatch(e) if e.batchNumber == U256::from(1) && e.expected == keccak256(&pubdata) && e.got == keccak256(&tampered))
    );
    // Blob DA: a batch that declares a blob the transaction does not carry.
    let mut blob_batch = settler.batch(1);
    blob_batch.daScheme = 0;
    let err = expect_error(
        settler.commit_with(&[blob_batch.clone()], vec![U256::from(1).abi_encode().into()]).await,
    );
    assert!(
        matches!(err, Errors::MissingBlob(e) if e.batchNumber == U256::from(1) && e.blobIndex == U256::ZERO)
    );
    let err = expect_error(
        settler.commit_with(&[blob_batch.clone()], vec![Bytes::from_static(b"two")]).await,
    );
    assert!(matches!(err, Errors::InvalidBlobCount(e) if e.batchNumber == U256::from(1)));
    // Blob DA: the transaction carries a blob, but not the one the batch committed to; and a
    // blob no batch declares.
    let carried = gateway_settlement::da::blobs_of(&[0x11; 200]);
    let committed = gateway_settlement::da::blobs_of(&[0x22; 200]);
    let mut wrong_blob = settler.batch(1);
    wrong_blob.daScheme = 0;
    wrong_blob.daCommitment = gateway_settlement::da::blob_commitment(&committed).unwrap();
    let carried_commitment = gateway_settlement::da::blob_commitment(&carried).unwrap();
    let err = expect_error(
        settler
            .commit_with_blobs(&wrong_blob, U256::from(1).abi_encode().into(), carried.clone())
            .await,
    );
    assert!(
        matches!(&err, Errors::DaCommitmentMismatch(e) if e.expected == wrong_blob.daCommitment && e.got == carried_commitment),
        "{err:?}"
    );
    let mut no_blob_declared = settler.batch(1);
    no_blob_declared.daScheme = 0;
    no_blob_declared.daCommitment = keccak256([]);
    let err = expect_error(
        settler.commit_with_blobs(&no_blob_declared, U256::ZERO.abi_encode().into(), carried).await,
    );
    assert!(matches!(&err, Errors::UnusedBlob(e) if e.blobIndex == U256::ZERO), "{err:?}");
    // An unknown scheme.
    let mut unknown = settler.batch(1);
    unknown.daScheme = 7;
    let err = expect_error(settler.commit_with(&[unknown], vec![Bytes::new()]).await);
    assert!(matches!(err, Errors::UnknownDaScheme(e) if e.daScheme == 7));

    // The right pubdata commits; so does a blob batch with no pubdata (no blob, empty list).
    settler.commit_with(&[calldata_batch], vec![pubdata]).await.unwrap();
    let mut empty_blobs = settler.batch(2);
    empty_blobs.daScheme = 0;
    empty_blobs.daCommitment = keccak256([]);
    settler.commit_with(&[empty_blobs], vec![U256::ZERO.abi_encode().into()]).await.unwrap();
    assert_eq!(settler.executor.totalBatchesCommitted().call().await.unwrap(), U256::from(2));
    drop(devnet);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn roles_l1_only_settlement_layers_and_interop_root_history() {
    use alloy::{providers::Provider, signers::local::PrivateKeySigner, sol_types::SolEvent as _};
    let devnet = devnet().await;
    let l1_url = devnet.topology.l1.node.rpc_url.clone();

    // An account with only the commit role commits, and may neither prove nor execute.
    let committer = PrivateKeySigner::random();
    let committer_key = alloy::hex::encode(committer.to_bytes());
    let funder = signer_provider(l1_url.clone(), &devnet.topology.l1.governance_key).unwrap();
    let _: serde_json::Value = funder
        .raw_request(
            "anvil_setBalance".into(),
            (committer.address(), U256::from(10u64).pow(U256::from(19u64))),
        )
        .await
        .unwrap();
    let mut admin = Settler::new(&devnet, 270, false);
    admin
        .executor
        .setOperator(committer.address(), gateway_contracts::roles::COMMIT)
        .send()
        .await
        .unwrap()
        .with_timeout(Some(TX_TIMEOUT))
        .get_receipt()
        .await
        .unwrap();
    let mut only_commit = Settler::new(&devnet, 270, false);
    only_commit.executor = ChainExecutor::new(
        *admin.executor.address(),
        signer_provider(l1_url.clone(), &committer_key).unwrap(),
    );
    let genesis = only_commit.last.clone();
    let batch = only_commit.batch(1);
    only_commit.commit(std::slice::from_ref(&batch)).await.unwrap();
    let one = batch.to_stored();
    let err = expect_error(only_commit.prove(&genesis, std::slice::from_ref(&one)).await);
    assert!(
        matches!(err, Errors::NotOperator(e) if e.caller == committer.address() && e.role == gateway_contracts::roles::PROVE)
    );
    admin.prove(&genesis, std::slice::from_ref(&one)).await.unwrap();
    let err = expect_error(only_commit.execute(std::slice::from_ref(&one)).await);
    assert!(
        matches!(err, Errors::NotOperator(e) if e.caller == committer.address() && e.role == gateway_contracts::roles::EXECUTE)
    );

    // Executing records the chain's batch root: the interop root changes, is emitted with its
    // block and kept in the history by block.
    let stored: ChainExecutor::StoredBatchInfo = convert(&one).unwrap();
    let receipt = admin
        .executor
        .executeBatches(vec![stored], vec![vec![]])
        .send()
        .await
        .unwrap()
        .with_timeout(Some(TX_TIMEOUT))
        .get_receipt()
        .await
        .unwrap();
    admin.last = one.clone();
    let roots = MessageRoot::new(devnet.topology.l1.message_root, funder.clone());
    let emitted: Vec<_> = receipt
        .inner
        .logs()
        .iter()
        .filter_map(|log| MessageRoot::NewInteropRoot::decode_log(&log.inner).ok())
        .collect();
    assert_eq!(emitted.len(), 1, "one interop root per executeBatches call");
    let block = receipt.block_number.unwrap();
    let shared = roots.sharedRoot().call().await.unwrap();
    assert_eq!(emitted[0].blockNumber, U256::from(block));
    assert_eq!(emitted[0].root, shared);
    assert_eq!(roots.historicalRoot(U256::from(block)).call().await.unwrap(), shared);
    let chain_leaf_270 = chain_leaf(270, merkle_root(&[batch_leaf(1, one.l2LogsRoot)]));
    let chain_ids: Vec<u64> = {
        let count: u64 = roots.chainCount().call().await.unwrap().to();
        let mut ids = Vec::new();
        for i in 0..count {
            ids.push(roots.chainIds(U256::from(i)).call().await.unwrap().to());
        }
        ids
    };
    let leaves: Vec<B256> = chain_ids
        .iter()
        .map(|&id| if id == 270 { chain_leaf_270 } else { chain_leaf(id, merkle_root(&[])) })
        .collect();
    assert_eq!(shared, merkle_root(&leaves), "Rust computes the same interop root");
    assert_ne!(
        roots.historicalRoot(U256::from(block - 1)).call().await.unwrap(),
        shared,
        "the block before has no new root"
    );

    // Only a settlement layer that itself settles on L1 may be whitelisted: chain 271 settles
    // on the Gateway.
    let bridgehub = Bridgehub::new(devnet.topology.bridgehub, funder);
    let err = expect_bridgehub_error(
        bridgehub
            .setSettlementLayerStatus(U256::from(271), true, devnet.topology.gateway.governance)
            .send()
            .await
            .map(drop),
    );
    assert!(
        matches!(err, Bridgehub::BridgehubErrors::SettlementLayerNotOnL1(e) if e.settlementLayer == U256::from(271) && e.settlesOn == U256::from(506))
    );
    assert!(!bridgehub.whitelisted(U256::from(271)).call().await.unwrap());
}
