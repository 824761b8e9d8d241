//! Deposits (L1 -> L2 transactions) to a chain that settles on L1: the Bridgehub escrows the
//! value and queues the operation in the chain's executor; the chain node's relayer hands it to
//! the chain's `L2Inbox` exactly once, in queue order; the batch that holds it reports it
//! (`numberOfL1Txs`, `priorityOpsHash`) and the executor consumes the queue when it executes the
//! batch. Real anvil nodes, mock proofs.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use alloy::{
    primitives::{Address, Bytes, U256},
    providers::{Provider, ProviderBuilder},
};
use devnet::{Devnet, DevnetConfig, InitialSettlement, Traffic, signer_provider};
use e2e_tests::fixtures::{Mined, chain_config, start_settlement, wait_for};
use gateway_contracts::{Bridgehub, ChainExecutor, L2Inbox};
use gateway_settlement::{InboxConfig, OperatorKey, commitment::decode_commit_info};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deposit_to_a_chain_on_l1_is_processed_once_reported_by_its_batch_and_consumed_on_l1() {
    let devnet = Devnet::start(
        DevnetConfig { chains: vec![InitialSettlement::L1], ..Default::default() },
        None,
    )
    .await
    .unwrap();
    let topology = devnet.topology.clone();
    let chain = topology.chains[0].clone();
    assert_eq!(chain.inbox, devnet::INBOX_ADDRESS, "chain init places the inbox");
    let dir = tempfile::tempdir().unwrap();
    let mut config = chain_config(&topology, &chain);
    config.inbox = Some(InboxConfig {
        address: chain.inbox,
        chain_rpc_url: chain.node.rpc_url.clone(),
        relayer_key: Some(OperatorKey::new(chain.interop.importer_key.clone())),
    });
    let (_host, store, settlement) =
        start_settlement(config, &chain.node.rpc_url, dir.path()).await.unwrap();
    let traffic = Traffic::new(chain.node.rpc_url.clone(), &chain.operator_key).unwrap();

    // A user on L1 deposits to a fresh account on the chain, and asks for a call that reverts
    // (its value then goes to the refund recipient).
    let user_key = &topology.chains[0].operator_key;
    let user = signer_provider(topology.l1.node.rpc_url.clone(), user_key).unwrap();
    let bridgehub = Bridgehub::new(topology.bridgehub, &user);
    let fee = U256::from(devnet::PRIORITY_OP_FEE_WEI);
    let (recipient, refunded) = (Address::repeat_byte(0x5a), Address::repeat_byte(0x5b));
    let (amount, second) = (U256::from(1_234_567u64), U256::from(777u64));
    bridgehub
        .requestL2Transaction(
            U256::from(chain.node.chain_id),
            recipient,
            amount,
            Bytes::new(),
            U256::from(100_000),
            Address::ZERO,
        )
        .value(fee + amount)
        .send()
        .await
        .unwrap()
        .mined()
        .await
        .unwrap();
    // The inbox itself refuses a plain call with data: the call reverts, the value is refunded.
    bridgehub
        .requestL2Transaction(
            U256::from(chain.node.chain_id),
            devnet::INBOX_ADDRESS,
            second,
            Bytes::from_static(&[0xde, 0xad, 0xbe, 0xef]),
            U256::from(100_000),
            refunded,
        )
        .value(fee + second)
        .send()
        .await
        .unwrap()
        .mined()
        .await
        .unwrap();
    assert_eq!(
        bridgehub.escrowed(U256::from(chain.node.chain_id)).call().await.unwrap(),
        amount + second
    );

    let l2 = ProviderBuilder::new().connect_http(chain.node.rpc_url.clone());
    let l1 = ProviderBuilder::new().connect_http(topology.l1.node.rpc_url.clone());
    let executor = ChainExecutor::new(chain.l1_executor, &l1);
    wait_for("both deposits processed and consumed on L1", || async {
        traffic.blocks(1, 1).await.unwrap();
        executor.pendingPriorityOps().call().await.unwrap().is_zero()
            && executor.priorityQueueHead().call().await.unwrap() == U256::from(2)
    })
    .await
    .unwrap();
    // Once each: the balances moved by the deposits and not again.
    for _ in 0..3 {
        traffic.blocks(1, 1).await.unwrap();
    }
    assert_eq!(l2.get_balance(recipient).await.unwrap(), amount);
    assert_eq!(l2.get_balance(refunded).await.unwrap(), second);
    let inbox = L2Inbox::new(devnet::INBOX_ADDRESS, &l2);
    assert_eq!(inbox.nextOpId().call().await.unwrap(), U256::from(2));

    // The batches that hold them report them, and the sum is the queue L1 consumed.
    let batches = store.batches(1..=u64::MAX).unwrap();
    let reported: u64 =
        batches.iter().map(|b| decode_commit_info(b).unwrap().numberOfL1Txs.to::<u64>()).sum();
    assert_eq!(reported, 2, "the batches report both operations");
    assert!(settlement.status().unwrap().last_error.is_none());

    // The relayer cannot process an operation twice, nor out of order.
    let relayer = signer_provider(chain.node.rpc_url.clone(), &chain.interop.importer_key).unwrap();
    let as_relayer = L2Inbox::new(devnet::INBOX_ADDRESS, &relayer);
    for id in [0u64, 1, 5] {
        let err = as_relayer
            .processOp(U256::from(id), Address::ZERO, Bytes::new())
            .send()
            .await
            .map(drop)
            .expect_err("refused");
        assert!(err.to_string().contains("revert"), "{err}");
    }
    // Nobody else hands the inbox an operation.
    let stranger = signer_provider(chain.node.rpc_url.clone(), &chain.operator_key).unwrap();
    let err = L2Inbox::new(devnet::INBOX_ADDRESS, &stranger)
        .processOp(U256::from(2), Address::ZERO, Bytes::new())
        .send()
        .await
        .map(drop)
        .expect_err("not the relayer");
    assert!(err.to_string().contains("revert"), "{err}");
    tokio::time::sleep(Duration::from_millis(100)).await;
}
