//! Retention: once a chain's batches are L1-final and their last block is older than
//! `retention`, their blocks and older batch records leave the store in the transaction that
//! moves the stages on; settlement goes on over the pruned history, nothing above L1-final is
//! pruned, and a message proof for a pruned block says why there is none.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use e2e_tests::fixtures::devnet_of;
use std::time::Duration;

use devnet::{InitialSettlement, Traffic};
use e2e_tests::fixtures::{
    chain_config, migration_config, send_message, start_settlement, wait_for,
};
use gateway_settlement::interop::ProofTarget;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn l1_final_history_past_retention_is_pruned_and_settlement_goes_on() {
    let devnet = devnet_of(vec![InitialSettlement::L1]).await.unwrap();
    let topology = devnet.topology.clone();
    let chain = topology.chains[0].clone();
    let mut config = chain_config(&topology, &chain);
    // The node knows it settles on L1 (both layers known): executed there is L1-final.
    config.migration = Some(migration_config(&topology, &chain));
    // Two seconds: the blocks of the first batches are past it soon after they settle; one
    // executed batch more is kept (a reorg of L1 could undo its execution).
    config.retention = Duration::from_secs(2);
    config.pubdata_retention_batches = 1;
    let dir = tempfile::tempdir().unwrap();
    let (mut host, store, settlement) =
        start_settlement(config, &chain.node.rpc_url, dir.path()).await.unwrap();

    // A message in an early block, then traffic.
    let (message_tx, log_index) = send_message(&chain, &chain.operator_key, b"old").await.unwrap();
    let message_block = store_block_of(&chain, message_tx).await;
    let traffic = Traffic::new(chain.node.rpc_url.clone(), &chain.operator_key).unwrap();
    traffic.blocks(12, 2).await.unwrap();
    wait_for("3 executed batches and a pruned history", || async {
        settlement.status().is_ok_and(|s| {
            s.on_chain.executed >= 3 && s.oldest_stored_block.is_some_and(|o| o > message_block)
        })
    })
    .await
    .unwrap_or_else(|e| {
        let blocks = store.blocks(0..=u64::MAX).unwrap();
        let stamps: Vec<(u64, u64)> = blocks.iter().map(|b| (b.number, b.timestamp)).collect();
        panic!("{e}: {:?}\nblocks {stamps:?}", settlement.status())
    });

    // Only L1-final (executed) batches lost their blocks: every block of a batch above the
    // executed one is still stored, and the newest pruned-through batch record stays.
    let status = settlement.status().unwrap();
    let oldest = status.oldest_stored_block.unwrap();
    let first = store.first_batch().unwrap().expect("a batch record stays");
    assert!(first.number < status.on_chain.executed, "the newest executed batch stays: {status:?}");
    assert_eq!(oldest, first.last_block + 1, "blocks through the kept batch's are pruned");
    assert!(store.batch(first.number - 1).unwrap().is_none(), "older batch records are pruned");
    for batch in store.batches(status.on_chain.executed + 1..=u64::MAX).unwrap() {
        assert_eq!(
            store.blocks(batch.first_block..=batch.last_block).unwrap().len() as u64,
            batch.last_block - batch.first_block + 1,
            "batch {} is not L1-final: its blocks stay",
            batch.number
        );
    }

    // A proof for the message in a pruned block: none, and the reason says why.
    let answer = settlement
        .message_proof(message_tx, log_index, ProofTarget::Interop, None)
        .await
        .expect("interop is configured")
        .unwrap();
    assert!(answer.proof.is_none());
    assert!(answer.reason.as_deref().is_some_and(|r| r.contains("pruned")), "{answer:?}");

    // Settlement goes on over the pruned history: the next commits build on the kept batch.
    let executed = status.on_chain.executed;
    traffic.blocks(9, 2).await.unwrap();
    wait_for("3 more executed batches", || async {
        settlement.status().is_ok_and(|s| s.on_chain.executed >= executed + 3)
    })
    .await
    .unwrap();
    let last_error = settlement.status().unwrap().last_error.unwrap_or_default();
    assert!(
        !last_error.contains("not in the store") && !last_error.contains("corrupt"),
        "nothing the pipeline needs was pruned: {last_error}"
    );
    host.stop().await;
}

/// The block that holds `tx`.
async fn store_block_of(chain: &devnet::ChainTopology, tx: alloy::primitives::B256) -> u64 {
    use alloy::providers::Provider as _;
    let provider =
        alloy::providers::ProviderBuilder::new().connect_http(chain.node.rpc_url.clone());
    provider.get_transaction_receipt(tx).await.unwrap().unwrap().block_number.unwrap()
}
