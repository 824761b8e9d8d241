//! L1 -> L2 transactions survive migrations: an operation requested while a chain drains or
//! migrates is parked on L1 and forwarded to the layer the chain then settles on; one waiting in
//! the old layer's queue is processed there before the chain leaves; one routed through the
//! Gateway and not yet forwarded holds the move back to L1 until it is. Each is processed
//! exactly once. Real anvil nodes, mock proofs.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use e2e_tests::fixtures::devnet_of;
use std::time::Duration;

use alloy::{
    primitives::{Address, U256},
    providers::{Provider, ProviderBuilder},
    rpc::types::TransactionReceipt,
    sol_types::SolEvent,
};
use devnet::{Devnet, InitialSettlement, Traffic, bridge::deposit as deposit_to, signer_provider};
use e2e_tests::fixtures::{
    Mined, admin_client, forwarding_gateway_config, funded_l1_user, init_tracing, migration_config,
    relaying_chain_config, start_settlement, wait_for,
};
use gateway_contracts::{Bridgehub, ChainExecutor, GatewayExecutor};

/// How a deposit entered: the queue of a layer, or parked on the Bridgehub.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Entered {
    Queued,
    Parked,
}

fn entered(receipt: &TransactionReceipt) -> Entered {
    let parked = receipt
        .inner
        .logs()
        .iter()
        .any(|log| log.topic0() == Some(&Bridgehub::L2TransactionParked::SIGNATURE_HASH));
    if parked { Entered::Parked } else { Entered::Queued }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deposit_in_each_migration_phase_is_processed_once_on_the_layer_the_chain_then_settles_on()
 {
    init_tracing();
    let devnet = devnet_of(vec![InitialSettlement::L1]).await.unwrap();
    let topology = devnet.topology.clone();
    let user_key = funded_l1_user(&topology).await.unwrap();
    let chain = topology.chains[0].clone();
    let chain_id = U256::from(chain.node.chain_id);
    let (l1_id, gateway_id) = (topology.l1.node.chain_id, topology.gateway.node.chain_id);

    // The Gateway's node forwards its L1 queue into the Gateway (its inbox) and settles there.
    let gateway_dir = tempfile::tempdir().unwrap();
    let gateway_settings = || forwarding_gateway_config(&topology);
    let (mut gateway_host, _, _) =
        start_settlement(gateway_settings(), &topology.gateway.node.rpc_url, gateway_dir.path())
            .await
            .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut config = relaying_chain_config(&topology, &chain);
    config.migration = Some(migration_config(&topology, &chain));
    config.tx_timeout = Duration::from_secs(30);
    let (host, _store, settlement) =
        start_settlement(config, &chain.node.rpc_url, dir.path()).await.unwrap();
    let admin = admin_client(&host, dir.path()).unwrap();
    let migrate = async |to: &str| {
        admin.call("settlement_migrate", serde_json::json!([{ "to": to }])).await.unwrap();
    };
    let traffic = Traffic::new(chain.node.rpc_url.clone(), &chain.operator_key).unwrap();

    let user = signer_provider(topology.l1.node.rpc_url.clone(), &chain.operator_key).unwrap();
    let bridgehub = Bridgehub::new(topology.bridgehub, &user);
    let mut deposits: Vec<(Address, U256, Entered, &str)> = Vec::new();
    let deposit = async |n: u8| -> (Address, U256, Entered) {
        let (to, amount) = (Address::with_last_byte(0x60 + n), U256::from(1_000 + u64::from(n)));
        let receipt =
            deposit_to(&topology, &user_key, chain.node.chain_id, to, amount).await.unwrap();
        (to, amount, entered(&receipt))
    };
    let l2 = ProviderBuilder::new().connect_http(chain.node.rpc_url.clone());
    let credited = async |deposits: &[(Address, U256, Entered, &str)]| {
        for (to, amount, _, _) in deposits {
            if l2.get_balance(*to).await.unwrap() != *amount {
                return false;
            }
        }
        true
    };
    let layer = || settlement.status().unwrap().settlement_layer;
    let phase = || settlement.status().unwrap().migration.map(|m| m.phase);

    // On L1, settling there.
    let (to, amount, how) = deposit(0).await;
    deposits.push((to, amount, how, "on L1"));
    wait_for("the first deposit credited", || async {
        traffic.blocks(1, 1).await.unwrap();
        credited(&deposits).await
    })
    .await
    .unwrap();
    // L1 -> Gateway, the chain's node mining nothing for a while: a deposit waiting in L1's
    // queue holds the drain (it must be settled on L1 first), and one made meanwhile is parked.
    let automine = async |on: bool| {
        devnet::rpc_call(&chain.node.rpc_url, "evm_setAutomine", serde_json::json!([on]))
            .await
            .unwrap();
    };
    automine(false).await;
    let (to, amount, how) = deposit(1).await;
    assert_eq!(how, Entered::Queued);
    deposits.push((to, amount, how, "on L1, just before the move to the Gateway"));
    migrate("gateway").await;
    wait_for("the drain waiting for the deposit in L1's queue", || async {
        settlement.status().unwrap().migration.is_some_and(|m| {
            m.phase == "draining"
                && m.waiting_for.as_deref().is_some_and(|w| w.contains("priority operation"))
        }) && bridgehub.migrationRequested(chain_id).call().await.unwrap() == U256::from(gateway_id)
    })
    .await
    .unwrap();
    let (to, amount, how) = deposit(2).await;
    assert_eq!(how, Entered::Parked, "a deposit made while the chain drains is parked");
    deposits.push((to, amount, how, "while draining off L1"));
    automine(true).await;
    devnet::rpc_call(&chain.node.rpc_url, "evm_mine", serde_json::json!([])).await.unwrap();
    wait_for("the chain on the Gateway", || async {
        traffic.blocks(1, 1).await.unwrap();
        layer() == gateway_id && phase().as_deref() == Some("completed")
    })
    .await
    .unwrap();
    let (to, amount, how) = deposit(3).await;
    deposits.push((to, amount, how, "on the Gateway"));
    wait_for("every deposit so far credited once", || async {
        traffic.blocks(1, 1).await.unwrap();
        credited(&deposits).await
    })
    .await
    .unwrap();

    // Gateway -> L1 with the Gateway's node down: a deposit routed through the Gateway is not
    // forwarded, so the drain waits for it (the chain must not leave it behind), and one made
    // while it waits is parked.
    gateway_host.stop().await;
    let (to, amount, how) = deposit(4).await;
    assert_eq!(how, Entered::Queued);
    deposits.push((to, amount, how, "on the Gateway, its node down"));
    migrate("l1").await;
    wait_for("the drain waiting for the unforwarded deposit", || async {
        traffic.blocks(1, 1).await.unwrap();
        settlement.status().unwrap().migration.is_some_and(|m| {
            m.phase == "draining"
                && m.waiting_for
                    .as_deref()
                    .is_some_and(|w| w.contains("routed through the Gateway"))
        })
    })
    .await
    .unwrap();
    assert_eq!(
        bridgehub.migrationRequested(chain_id).call().await.unwrap(),
        U256::from(l1_id),
        "the move is open on the Bridgehub"
    );
    let (to, amount, how) = deposit(5).await;
    assert_eq!(how, Entered::Parked, "a deposit made while the chain drains is parked");
    deposits.push((to, amount, how, "while draining off the Gateway"));
    (gateway_host, _, _) =
        start_settlement(gateway_settings(), &topology.gateway.node.rpc_url, gateway_dir.path())
            .await
            .unwrap();
    wait_for("the chain back on L1", || async {
        traffic.blocks(1, 1).await.unwrap();
        layer() == l1_id && phase().as_deref() == Some("completed")
    })
    .await
    .unwrap();
    let (to, amount, how) = deposit(6).await;
    deposits.push((to, amount, how, "back on L1"));
    wait_for("every deposit credited", || async {
        traffic.blocks(1, 1).await.unwrap();
        credited(&deposits).await
    })
    .await
    .unwrap();
    for (to, _, how, when) in &deposits {
        println!("deposit to {to} {when}: {how:?}");
    }

    // Once each: more blocks and batches move nothing again; every queue is consumed, what
    // was parked is forwarded, and L1 counts every operation routed through the Gateway as
    // executed in batches it holds final.
    let l1 = ProviderBuilder::new().connect_http(topology.l1.node.rpc_url.clone());
    let gateway = ProviderBuilder::new().connect_http(topology.gateway.node.rpc_url.clone());
    let on_l1 = ChainExecutor::new(chain.l1_executor, &l1);
    let on_gateway = ChainExecutor::new(chain.gateway_executor, &gateway);
    wait_for("both executors' queues consumed", || async {
        traffic.blocks(1, 1).await.unwrap();
        on_l1.pendingPriorityOps().call().await.unwrap().is_zero()
            && on_gateway.pendingPriorityOps().call().await.unwrap().is_zero()
    })
    .await
    .unwrap();
    assert!(credited(&deposits).await, "no deposit credited twice");
    let parked = bridgehub.parkedCount(chain_id).call().await.unwrap();
    assert_eq!(parked.forwarded, parked.total);
    assert!(parked.total >= U256::from(1));
    let routed = bridgehub.opsRoutedVia(chain_id, U256::from(gateway_id)).call().await.unwrap();
    let final_on_l1 = GatewayExecutor::new(topology.gateway_l1_executor, &l1)
        .priorityOpsFinal(chain_id)
        .call()
        .await
        .unwrap();
    assert_eq!(routed, final_on_l1);
    assert!(routed >= U256::from(2), "deposits 3 and 4 went through the Gateway: {routed}");
    let total = on_l1.totalPriorityOps().call().await.unwrap()
        + on_gateway.totalPriorityOps().call().await.unwrap();
    assert_eq!(total, U256::from(deposits.len()), "each deposit queued once, on one layer");
    assert!(settlement.status().unwrap().last_error.is_none());
    let mut host = host;
    host.stop().await;
    gateway_host.stop().await;
}

/// A chain on the Gateway whose node was asked to move it to L1 and waits, in the `migrating`
/// phase, for the migration relayer's step (it has no relayer key), with a deposit made then.
struct WaitingMove {
    _devnet: Devnet,
    topology: devnet::Topology,
    chain: devnet::ChainTopology,
    _gateway_dir: tempfile::TempDir,
    gateway_host: exex_host::HostHandle,
    dir: tempfile::TempDir,
    host: exex_host::HostHandle,
    store: std::sync::Arc<gateway_store::Store>,
    settlement: gateway_settlement::Settlement,
    traffic: Traffic,
    /// The deposit made while migrating: its receiver and amount.
    deposit: (Address, U256),
}

impl WaitingMove {
    /// The chain's settlement config, with the migration relayer's key or without it.
    fn config(
        topology: &devnet::Topology,
        chain: &devnet::ChainTopology,
        relayer: bool,
    ) -> gateway_settlement::SettlementConfig {
        let mut config = relaying_chain_config(topology, chain);
        let mut migration = migration_config(topology, chain);
        if !relayer {
            migration.relayer_key = None;
        }
        config.migration = Some(migration);
        config
    }

    async fn start(to: Address, amount: U256) -> Self {
        init_tracing();
        let devnet = devnet_of(vec![InitialSettlement::Gateway]).await.unwrap();
        let topology = devnet.topology.clone();
        let user_key = funded_l1_user(&topology).await.unwrap();
        let chain = topology.chains[0].clone();
        let gateway_dir = tempfile::tempdir().unwrap();
        let (gateway_host, _, _) = start_settlement(
            forwarding_gateway_config(&topology),
            &topology.gateway.node.rpc_url,
            gateway_dir.path(),
        )
        .await
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let (host, store, settlement) = start_settlement(
            Self::config(&topology, &chain, false),
            &chain.node.rpc_url,
            dir.path(),
        )
        .await
        .unwrap();
        let admin = admin_client(&host, dir.path()).unwrap();
        let traffic = Traffic::new(chain.node.rpc_url.clone(), &chain.operator_key).unwrap();
        traffic.blocks(3, 1).await.unwrap();
        admin.call("settlement_migrate", serde_json::json!([{ "to": "l1" }])).await.unwrap();
        wait_for("the migration waiting for the relayer", || async {
            traffic.blocks(1, 1).await.unwrap();
            settlement.status().unwrap().migration.is_some_and(|m| {
                m.phase == "migrating"
                    && m.waiting_for.as_deref().is_some_and(|w| w.contains("relayer"))
            })
        })
        .await
        .unwrap();
        let receipt =
            deposit_to(&topology, &user_key, chain.node.chain_id, to, amount).await.unwrap();
        assert_eq!(entered(&receipt), Entered::Parked, "a deposit while migrating is parked");
        Self {
            _devnet: devnet,
            topology,
            chain,
            _gateway_dir: gateway_dir,
            gateway_host,
            dir,
            host,
            store,
            settlement,
            traffic,
            deposit: (to, amount),
        }
    }
}

/// The chain's admin cancels the move on the Bridgehub while the node is past draining (here
/// the node has no relayer key: it waits for the Gateway's relayer): the node gives the
/// migration up, settles on the Gateway again, and forwards what was parked meanwhile there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_move_cancelled_on_the_bridgehub_mid_migration_is_given_up_and_parked_deposits_go_on() {
    let mut m = WaitingMove::start(Address::repeat_byte(0x3c), U256::from(4_321u64)).await;
    let (topology, chain, settlement, traffic) = (&m.topology, &m.chain, &m.settlement, &m.traffic);
    let chain_id = U256::from(chain.node.chain_id);
    let gateway_id = topology.gateway.node.chain_id;
    let (to, amount) = m.deposit;
    let user = signer_provider(topology.l1.node.rpc_url.clone(), &chain.operator_key).unwrap();
    let bridgehub = Bridgehub::new(topology.bridgehub, &user);
    // The admin gives the move up on the Bridgehub, not through the node.
    bridgehub.cancelMigration(chain_id).send().await.unwrap().mined().await.unwrap();
    wait_for("the node giving the migration up", || async {
        // The reason is in the status for good (`lastError` shows it only until the next
        // successful step, which may come before a poll: the CI run of 99af21a missed it).
        settlement.status().unwrap().migration.is_some_and(|m| {
            m.phase == "cancelled" && m.cancelled_by.as_deref() == Some("bridgehub")
        })
    })
    .await
    .unwrap();
    // It settles on the Gateway again, and the parked deposit reaches the chain through it.
    let l2 = ProviderBuilder::new().connect_http(chain.node.rpc_url.clone());
    let executed = settlement.status().unwrap().on_chain.executed;
    wait_for("the deposit credited and new batches on the Gateway", || async {
        traffic.blocks(1, 1).await.unwrap();
        let status = settlement.status().unwrap();
        l2.get_balance(to).await.unwrap() == amount
            && status.settlement_layer == gateway_id
            && status.on_chain.executed > executed + 1
    })
    .await
    .unwrap();
    let parked = bridgehub.parkedCount(chain_id).call().await.unwrap();
    assert_eq!((parked.forwarded, parked.total), (U256::from(1), U256::from(1)));
    m.host.stop().await;
    m.gateway_host.stop().await;
}

/// A deposit made in the `migrating` phase of a move that completes (the node waits there for
/// the relayer's step until it is restarted with the relayer's key): parked on L1 while the
/// move is open, forwarded to the new layer once the chain is active there, and processed
/// there once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deposit_while_migrating_is_parked_then_processed_once_on_the_new_layer() {
    let mut m = WaitingMove::start(Address::repeat_byte(0x3d), U256::from(5_432u64)).await;
    let (topology, chain) = (m.topology.clone(), m.chain.clone());
    let chain_id = U256::from(chain.node.chain_id);
    let l1_id = topology.l1.node.chain_id;
    let (to, amount) = m.deposit;
    // Restarted with the relayer's key, the node completes the move; the parked deposit is
    // forwarded to L1's queue and processed once.
    m.host.stop().await;
    drop((m.settlement, m.store));
    let (mut host, _store, settlement) = start_settlement(
        WaitingMove::config(&topology, &chain, true),
        &chain.node.rpc_url,
        m.dir.path(),
    )
    .await
    .unwrap();
    let l2 = ProviderBuilder::new().connect_http(chain.node.rpc_url.clone());
    let l1 = ProviderBuilder::new().connect_http(topology.l1.node.rpc_url.clone());
    let on_l1 = ChainExecutor::new(chain.l1_executor, &l1);
    let traffic = &m.traffic;
    wait_for("the move completed and the deposit consumed on L1", || async {
        traffic.blocks(1, 1).await.unwrap();
        let status = settlement.status().unwrap();
        status.settlement_layer == l1_id
            && status.migration.is_some_and(|m| m.phase == "completed")
            && on_l1.priorityQueueHead().call().await.unwrap() >= U256::from(1)
    })
    .await
    .unwrap();
    traffic.blocks(3, 1).await.unwrap();
    assert_eq!(l2.get_balance(to).await.unwrap(), amount, "credited once");
    let bridgehub = Bridgehub::new(topology.bridgehub, &l1);
    let parked = bridgehub.parkedCount(chain_id).call().await.unwrap();
    assert_eq!((parked.forwarded, parked.total), (U256::from(1), U256::from(1)));
    assert_eq!(on_l1.totalPriorityOps().call().await.unwrap(), U256::from(1), "queued once");
    host.stop().await;
    m.gateway_host.stop().await;
}
