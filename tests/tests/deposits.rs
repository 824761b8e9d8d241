//! Value that moves, for a chain that settles on L1. Deposits (L1 -> L2 transactions): the
//! Bridgehub escrows the value and queues the operation in the chain's executor; the chain
//! node's relayer hands it to the chain's `L2Inbox` exactly once, in queue order; the batch that
//! holds it reports it (`numberOfL1Txs`, `priorityOpsHash`) and the executor consumes the queue
//! when it executes the batch. Withdrawals: the chain's `L2Bridge` sends an L2 -> L1 message, and
//! the Bridgehub pays it out of the escrow once, against the proof the node serves. Real anvil
//! nodes, mock proofs.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use e2e_tests::fixtures::devnet_of;
use std::time::Duration;

use alloy::sol_types::{SolEvent, SolValue};
use alloy::{
    primitives::{Address, B256, Bytes, U256},
    providers::{Provider, ProviderBuilder},
};
use devnet::{Devnet, DevnetConfig, InitialSettlement, Traffic, signer_provider};
use e2e_tests::fixtures::{Mined, chain_config, relaying_chain_config, start_settlement, wait_for};
use gateway_contracts::{Bridgehub, ChainExecutor, L2Bridge, L2Inbox};
use gateway_settlement::{InboxConfig, commitment::decode_commit_info};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deposits_to_and_withdrawals_from_a_chain_on_l1_move_value_once_each() {
    let devnet = devnet_of(vec![InitialSettlement::L1]).await.unwrap();
    let topology = devnet.topology.clone();
    let chain = topology.chains[0].clone();
    assert_eq!(chain.inbox, devnet::INBOX_ADDRESS, "chain init places the inbox");
    let dir = tempfile::tempdir().unwrap();
    let config = relaying_chain_config(&topology, &chain);
    let (host, store, settlement) =
        start_settlement(config, &chain.node.rpc_url, dir.path()).await.unwrap();
    let traffic = Traffic::new(chain.node.rpc_url.clone(), &chain.operator_key).unwrap();

    // A user on L1 deposits to a fresh account on the chain, and asks for a call that reverts
    // (its value then goes to the refund recipient).
    let user_key = &e2e_tests::fixtures::funded_l1_user(&topology).await.unwrap();
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
    assert_eq!(inbox.nextOpIdOf(U256::from(31337)).call().await.unwrap(), U256::from(2));

    // The batches that hold them report them, and the sum is the queue L1 consumed.
    let batches = store.batches(1..=u64::MAX).unwrap();
    let reported: u64 =
        batches.iter().map(|b| decode_commit_info(b).unwrap().numberOfL1Txs.to::<u64>()).sum();
    assert_eq!(reported, 2, "the batches report both operations");
    assert!(settlement.status().unwrap().last_error.is_none());
    // The status follows the queue (read each poll).
    wait_for("the status showing nothing pending", || async {
        settlement.status().unwrap().priority.is_some_and(|p| p.pending == 0)
    })
    .await
    .unwrap();
    let priority = settlement.status().unwrap().priority.expect("the queue is read");
    assert_eq!(
        (priority.queued, priority.processed, priority.pending, priority.expired),
        (2, 2, 0, 0),
        "{priority:?}"
    );

    // The relayer cannot process an operation twice, nor out of order.
    let relayer = signer_provider(chain.node.rpc_url.clone(), &chain.interop.importer_key).unwrap();
    let as_relayer = L2Inbox::new(devnet::INBOX_ADDRESS, &relayer);
    for id in [0u64, 1, 5] {
        let err = as_relayer
            .processOp(U256::from(31337), U256::from(id), Address::ZERO, Bytes::new())
            .send()
            .await
            .map(drop)
            .expect_err("refused");
        assert!(err.to_string().contains("revert"), "{err}");
    }
    // Nobody else hands the inbox an operation.
    let stranger = signer_provider(chain.node.rpc_url.clone(), &chain.operator_key).unwrap();
    let err = L2Inbox::new(devnet::INBOX_ADDRESS, &stranger)
        .processOp(U256::from(31337), U256::from(2), Address::ZERO, Bytes::new())
        .send()
        .await
        .map(drop)
        .expect_err("not the relayer");
    assert!(err.to_string().contains("revert"), "{err}");

    // A withdrawal: the chain's operator sends value through the L2Bridge to a fresh L1
    // account; once its batch is executed on L1, the proof the node serves pays it out, once.
    let withdrawn = U256::from(600_000u64);
    let l1_receiver = Address::repeat_byte(0x7c);
    let operator = signer_provider(chain.node.rpc_url.clone(), &chain.operator_key).unwrap();
    let receipt = L2Bridge::new(devnet::L2_BRIDGE_ADDRESS, &operator)
        .withdraw(l1_receiver)
        .value(withdrawn)
        .send()
        .await
        .unwrap()
        .mined()
        .await
        .unwrap();
    let log_index = receipt
        .inner
        .logs()
        .iter()
        .find(|l| {
            l.topics().first() == Some(&gateway_contracts::L2Messenger::MessageSent::SIGNATURE_HASH)
        })
        .and_then(|l| l.log_index)
        .unwrap();
    let port = host.rpc_addr().unwrap().port();
    let tx = receipt.transaction_hash;
    let body = format!(
        r#"{{"jsonrpc":"2.0","id":1,"method":"interop_getMessageProof","params":["{tx}",{log_index},"l1"]}}"#
    );
    let deadline = std::time::Instant::now() + e2e_tests::fixtures::WAIT;
    let answer = loop {
        traffic.blocks(1, 1).await.unwrap();
        let response = devnet::local_http(
            port,
            &format!(
                "POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            ),
        );
        let json = response.split("\r\n\r\n").nth(1).unwrap_or_default();
        let value: serde_json::Value = serde_json::from_str(json).unwrap_or_default();
        if !value["result"]["proof"].is_null() {
            break value["result"].clone();
        }
        assert!(std::time::Instant::now() < deadline, "no L1 proof of the withdrawal: {value}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let batch = answer["batchNumber"].as_u64().unwrap();
    let proof = serde_json::from_value::<gateway_settlement::ProofJson>(answer["proof"].clone())
        .unwrap()
        .to_withdrawal_proof();
    let data = Bytes::from((l1_receiver, withdrawn).abi_encode_params());
    let claimer = signer_provider(topology.l1.node.rpc_url.clone(), user_key).unwrap();
    let as_claimer = Bridgehub::new(topology.bridgehub, &claimer);
    let id = U256::from(chain.node.chain_id);
    // A proof of another amount is refused.
    let more = Bytes::from((l1_receiver, withdrawn + U256::from(1)).abi_encode_params());
    as_claimer
        .finalizeWithdrawal(id, batch, more, proof.clone())
        .send()
        .await
        .map(drop)
        .expect_err("a message that was not sent");
    // A proof altered anywhere is refused by the verifier: a node of the message's path, its
    // index in the batch, the batch's place in the chain's tree.
    type VerifierErrors = gateway_contracts::MessageVerifier::MessageVerifierErrors;
    let refusal = async |proof: gateway_contracts::Bridgehub::MessageProof| {
        let err = as_claimer
            .finalizeWithdrawal(id, batch, data.clone(), proof)
            .call()
            .await
            .expect_err("a wrong proof");
        err.as_decoded_interface_error::<VerifierErrors>()
            .unwrap_or_else(|| panic!("not the verifier's refusal: {err}"))
    };
    let mut wrong_path = proof.clone();
    wrong_path.messagePath[0] = B256::repeat_byte(0x77);
    assert!(matches!(refusal(wrong_path).await, VerifierErrors::MessageNotIncluded(_)));
    let mut wrong_index = proof.clone();
    wrong_index.messageIndex ^= U256::from(1);
    assert!(matches!(
        refusal(wrong_index).await,
        VerifierErrors::MessageNotIncluded(_) | VerifierErrors::PathTooShort(_)
    ));
    let mut wrong_batch_path = proof.clone();
    wrong_batch_path.batchPath[0] = B256::repeat_byte(0x78);
    assert!(matches!(refusal(wrong_batch_path).await, VerifierErrors::MessageNotIncluded(_)));
    as_claimer
        .finalizeWithdrawal(id, batch, data.clone(), proof.clone())
        .send()
        .await
        .unwrap()
        .mined()
        .await
        .unwrap();
    assert_eq!(l1.get_balance(l1_receiver).await.unwrap(), withdrawn);
    assert_eq!(bridgehub.escrowed(id).call().await.unwrap(), amount + second - withdrawn);
    // Once.
    as_claimer
        .finalizeWithdrawal(id, batch, data, proof)
        .send()
        .await
        .map(drop)
        .expect_err("a second claim");
    assert_eq!(l1.get_balance(l1_receiver).await.unwrap(), withdrawn);
    tokio::time::sleep(Duration::from_millis(100)).await;
}

/// What [`one_unrelayed_operation`] started: kept alive by the test.
type Unrelayed = (
    Devnet,
    tempfile::TempDir,
    exex_host::HostHandle,
    std::sync::Arc<gateway_store::Store>,
    gateway_settlement::Settlement,
);

/// A devnet of two chains settling as `settles_on`, the first one's node watching the priority
/// queue without relaying, and one operation requested on L1 for each chain (by a funded account
/// of the test's own): the first chain's status must count its own only.
async fn one_unrelayed_operation(settles_on: InitialSettlement) -> Unrelayed {
    let devnet = Devnet::start(
        // Mined blocks keep no state on disk: thousands of them are mined in seconds.
        DevnetConfig { chains: vec![settles_on; 2], prune_history: Some(64), ..Default::default() },
        None,
    )
    .await
    .unwrap();
    let topology = devnet.topology.clone();
    let chain = topology.chains[0].clone();
    let dir = tempfile::tempdir().unwrap();
    let mut config = chain_config(&topology, &chain);
    // The node knows the inbox but does not relay.
    config.inbox = Some(InboxConfig {
        address: chain.inbox,
        chain_rpc_url: chain.node.rpc_url.clone(),
        relayer_key: None,
    });
    let (host, store, settlement) =
        start_settlement(config, &chain.node.rpc_url, dir.path()).await.unwrap();
    let user_key = e2e_tests::fixtures::funded_l1_user(&topology).await.unwrap();
    let user = signer_provider(topology.l1.node.rpc_url.clone(), &user_key).unwrap();
    for target in &topology.chains {
        Bridgehub::new(topology.bridgehub, &user)
            .requestL2Transaction(
                U256::from(target.node.chain_id),
                Address::repeat_byte(0x44),
                U256::from(1),
                Bytes::new(),
                U256::from(50_000),
                Address::ZERO,
            )
            .value(U256::from(devnet::PRIORITY_OP_FEE_WEI + 1))
            .send()
            .await
            .unwrap()
            .mined()
            .await
            .unwrap();
    }
    (devnet, dir, host, store, settlement)
}

/// Mines the 7,200 L1 blocks after which a queued operation is past its expiration block.
async fn mine_past_expiry(devnet: &Devnet) {
    for _ in 0..8 {
        devnet::rpc_call(&devnet.topology.l1.node.rpc_url, "anvil_mine", serde_json::json!([901]))
            .await
            .unwrap();
    }
}

/// Censorship is visible: an operation nobody relays stays pending, and once past its
/// expiration block `settlement_status.priority` counts it expired (and the gauge alarms).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operation_nobody_includes_shows_pending_then_expired_in_the_status() {
    let (devnet, _dir, _host, _store, settlement) =
        one_unrelayed_operation(InitialSettlement::L1).await;
    let priority =
        |settlement: &gateway_settlement::Settlement| settlement.status().unwrap().priority;
    wait_for("the operation pending in the status", || async {
        priority(&settlement).is_some_and(|p| p.queued == 1 && p.pending == 1)
    })
    .await
    .unwrap();
    let status = priority(&settlement).unwrap();
    assert_eq!((status.processed, status.expired), (0, 0), "{status:?}");
    mine_past_expiry(&devnet).await;
    wait_for("the operation expired in the status", || async {
        priority(&settlement).is_some_and(|p| p.expired == 1)
    })
    .await
    .unwrap();
    let status = priority(&settlement).unwrap();
    assert!(status.oldest_age_blocks >= 7_200, "{status:?}");
    assert_eq!(status.pending, 1);
}

/// For a chain on the Gateway, an operation first waits in the Gateway's own queue on L1 (with
/// an expiry in L1 blocks): while nobody forwards it (no Gateway node here), the chain's status
/// shows it pending there, then expired 7,200 L1 blocks later.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operation_the_gateway_does_not_forward_shows_pending_then_expired_on_l1() {
    let (devnet, _dir, _host, _store, settlement) =
        one_unrelayed_operation(InitialSettlement::Gateway).await;
    let leg = |settlement: &gateway_settlement::Settlement| {
        settlement.status().unwrap().priority.and_then(|p| p.gateway_l1_queue)
    };
    wait_for("the operation pending in the Gateway's L1 queue", || async {
        leg(&settlement).is_some_and(|l| l.pending == 1)
    })
    .await
    .unwrap();
    let status = settlement.status().unwrap().priority.unwrap();
    assert_eq!((status.queued, status.pending), (0, 0), "nothing reached the Gateway: {status:?}");
    assert_eq!(leg(&settlement).unwrap().expired, 0);
    mine_past_expiry(&devnet).await;
    wait_for("the operation expired in the Gateway's L1 queue", || async {
        leg(&settlement).is_some_and(|l| l.expired == 1)
    })
    .await
    .unwrap();
    let l1_leg = leg(&settlement).unwrap();
    assert!(l1_leg.oldest_age_blocks >= 7_200, "{l1_leg:?}");
    assert_eq!(l1_leg.pending, 1);
}
