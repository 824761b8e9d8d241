//! The devnet topology: what it starts, deploys and registers, and that it stops everything.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use alloy::{primitives::U256, providers::Provider};
use devnet::{Devnet, DevnetConfig, InitialSettlement, Topology, signer_provider};
use e2e_tests::fixtures::devnet_of;
use gateway_contracts::{Bridgehub, ChainExecutor, MessageRoot, roles};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn starts_registers_writes_the_topology_and_stops_by_pid() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("topology.json");
    let config = DevnetConfig {
        chains: vec![InitialSettlement::Gateway, InitialSettlement::L1, InitialSettlement::Gateway],
        ..Default::default()
    };
    let mut devnet = Devnet::start(config, Some(&file)).await.unwrap();
    let topology = Topology::load(&file).unwrap();
    assert_eq!(topology, devnet.topology, "the file describes what runs");
    assert_eq!(topology.l1.node.chain_id, 31337);
    assert_eq!(topology.gateway.node.chain_id, 506);
    let ids: Vec<u64> = topology.chains.iter().map(|c| c.node.chain_id).collect();
    assert_eq!(ids, vec![270, 271, 272]);

    let l1 =
        signer_provider(topology.l1.node.rpc_url.clone(), &topology.l1.governance_key).unwrap();
    let gw = signer_provider(topology.gateway.node.rpc_url.clone(), &topology.l1.governance_key)
        .unwrap();
    assert_eq!(l1.get_chain_id().await.unwrap(), 31337);
    assert_eq!(gw.get_chain_id().await.unwrap(), 506);
    // No code on the Gateway that an outsider could deploy with: anvil's CREATE2 deployer is
    // absent there (it is present on the other nodes).
    let create2 = alloy::primitives::address!("4e59b44847b379578588920cA78FbF26c0B4956C");
    assert!(
        gw.get_code_at(create2).await.unwrap().is_empty(),
        "no CREATE2 deployer on the Gateway"
    );
    assert!(!l1.get_code_at(create2).await.unwrap().is_empty());
    let bridgehub = Bridgehub::new(topology.bridgehub, &l1);
    assert!(
        bridgehub.whitelisted(U256::from(506)).call().await.unwrap(),
        "the Gateway is a whitelisted SL"
    );
    assert_eq!(bridgehub.settlementLayer(U256::from(506)).call().await.unwrap(), U256::from(31337));
    assert_eq!(
        bridgehub.relayerOf(U256::from(506)).call().await.unwrap(),
        topology.gateway.governance
    );

    for chain in &topology.chains {
        let id = U256::from(chain.node.chain_id);
        let on_gateway = chain.initial_settlement == InitialSettlement::Gateway;
        let expected_sl = if on_gateway { 506 } else { 31337 };
        assert_eq!(bridgehub.settlementLayer(id).call().await.unwrap(), U256::from(expected_sl));
        assert_eq!(
            bridgehub.executorOn(id, U256::from(31337)).call().await.unwrap(),
            chain.l1_executor
        );
        assert_eq!(
            bridgehub.executorOn(id, U256::from(506)).call().await.unwrap(),
            chain.gateway_executor
        );
        let l1_exec = ChainExecutor::new(chain.l1_executor, &l1);
        let gw_exec = ChainExecutor::new(chain.gateway_executor, &gw);
        assert_eq!(l1_exec.active().call().await.unwrap(), !on_gateway);
        assert_eq!(gw_exec.active().call().await.unwrap(), on_gateway);
        assert_eq!(l1_exec.operatorRoles(chain.operator).call().await.unwrap(), roles::ALL);
        assert_eq!(gw_exec.operatorRoles(chain.operator).call().await.unwrap(), roles::ALL);
        assert_eq!(l1_exec.controller().call().await.unwrap(), topology.bridgehub);
        assert_eq!(gw_exec.controller().call().await.unwrap(), topology.gateway.governance);
        let genesis = gateway_primitives::stored_batch_hash(&chain.genesis.stored_info());
        assert_eq!(gw_exec.storedBatchHash(U256::ZERO).call().await.unwrap(), genesis);
        let chain_node = signer_provider(chain.node.rpc_url.clone(), &chain.operator_key).unwrap();
        let block0 = chain_node.get_block_by_number(0.into()).await.unwrap().unwrap();
        assert_eq!(block0.header.hash, chain.genesis.state_commitment);
        for (provider, node) in [(&l1, &topology.l1.node), (&gw, &topology.gateway.node)] {
            let balance = provider.get_balance(chain.operator).await.unwrap();
            assert!(
                balance >= U256::from(10u64).pow(U256::from(20u64)),
                "operator funded on {}",
                node.chain_id
            );
        }
    }
    let gw_roots = MessageRoot::new(topology.gateway.message_root, &gw);
    assert_eq!(gw_roots.chainCount().call().await.unwrap(), U256::from(3));

    let ports: Vec<u16> = devnet.nodes().map(devnet::Anvil::port).collect();
    let pids: Vec<u32> = devnet.nodes().map(devnet::Anvil::pid).collect();
    assert_eq!(pids.len(), 5);
    devnet.stop();
    for port in ports {
        assert!(
            std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
            "port {port} is closed"
        );
    }
    for pid in pids {
        let state = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        assert!(state.is_empty() || state.contains(") Z"), "anvil {pid} is gone");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_devnet_dropped_without_stop_still_stops_every_node() {
    let devnet = devnet_of(vec![InitialSettlement::L1]).await.unwrap();
    let ports: Vec<u16> = devnet.nodes().map(devnet::Anvil::port).collect();
    let pids: Vec<u32> = devnet.nodes().map(devnet::Anvil::pid).collect();
    assert_eq!(pids.len(), 3);
    for port in &ports {
        assert!(std::net::TcpStream::connect(("127.0.0.1", *port)).is_ok(), "port {port} serves");
    }
    drop(devnet);
    for port in ports {
        assert!(
            std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
            "port {port} is closed"
        );
    }
    for pid in pids {
        let state = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        assert!(state.is_empty() || state.contains(") Z"), "anvil {pid} is gone");
    }
}
