//! The settlement ExEx on a real devnet: a chain settling on L1 and a chain settling on the
//! Gateway, with traffic; batches are sealed, proved (mock backend), committed, proved and
//! executed, and what the contracts store equals what the ExEx's store holds.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{sync::Arc, time::Duration};

use alloy::primitives::U256;
use devnet::{
    ChainTopology, Devnet, DevnetConfig, InitialSettlement, Topology, Traffic, signer_provider,
};
use exex_host::{HostBuilder, HostConfig, HostHandle, RpcBlockSource, RpcBlockSourceConfig};
use gateway_contracts::ChainExecutor;
use gateway_primitives::stored_batch_hash;
use gateway_settlement::{
    BatchLimits, OperatorKey, Settlement, SettlementConfig, SettlementLayerEndpoint,
    batcher::decode_commit_info,
};
use gateway_store::{BatchStage, Store};
use jsonrpsee::{core::client::ClientT, http_client::HttpClientBuilder, rpc_params};

const WAIT: Duration = Duration::from_secs(90);

fn config_for(topology: &Topology, chain: &ChainTopology) -> SettlementConfig {
    let (node, executor) = match chain.initial_settlement {
        InitialSettlement::L1 => (&topology.l1.node, chain.l1_executor),
        InitialSettlement::Gateway => (&topology.gateway.node, chain.gateway_executor),
    };
    let layer = SettlementLayerEndpoint {
        chain_id: node.chain_id,
        rpc_url: node.rpc_url.clone(),
        executor,
    };
    let mut config = SettlementConfig::new(
        chain.node.chain_id,
        chain.genesis.state_commitment,
        layer,
        OperatorKey::new(chain.operator_key.clone()),
    );
    config.limits =
        BatchLimits { max_blocks: 3, timeout: Duration::from_secs(2), ..Default::default() };
    config.poll_interval = Duration::from_millis(200);
    config
}

async fn start_node(
    topology: &Topology,
    chain: &ChainTopology,
    datadir: &std::path::Path,
) -> (HostHandle, Arc<Store>) {
    let store = Arc::new(Store::open(datadir).unwrap());
    let mut source = RpcBlockSourceConfig::new(chain.node.rpc_url.clone());
    source.poll_interval = Duration::from_millis(100);
    source.start_after = Some(0);
    let mut host = HostConfig::new(datadir);
    host.http_addr = Some("127.0.0.1:0".parse().unwrap());
    let settlement = Settlement::new(
        config_for(topology, chain),
        Arc::clone(&store),
        Arc::new(gateway_prover::MockBackend::default()),
    );
    let handle = settlement
        .install(HostBuilder::new(host, RpcBlockSource::new(source)))
        .launch()
        .await
        .unwrap();
    (handle, store)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_settle_on_l1_and_on_the_gateway() {
    let devnet = Devnet::start(
        DevnetConfig {
            chains: vec![InitialSettlement::L1, InitialSettlement::Gateway],
            ..Default::default()
        },
        None,
    )
    .await
    .unwrap();
    let topology = devnet.topology.clone();
    for chain in &topology.chains {
        let dir = tempfile::tempdir().unwrap();
        let (mut host, store) = start_node(&topology, chain, dir.path()).await;
        let traffic = Traffic::new(chain.node.rpc_url.clone(), &chain.operator_key).unwrap();
        traffic.blocks(9, 2).await.unwrap();

        let sl_node = match chain.initial_settlement {
            InitialSettlement::L1 => (&topology.l1.node, chain.l1_executor),
            InitialSettlement::Gateway => (&topology.gateway.node, chain.gateway_executor),
        };
        let reader = signer_provider(sl_node.0.rpc_url.clone(), &chain.operator_key).unwrap();
        let executor = ChainExecutor::new(sl_node.1, reader);
        tokio::time::timeout(WAIT, async {
            while executor.totalBatchesExecuted().call().await.unwrap() < U256::from(3) {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        })
        .await
        .unwrap_or_else(|_| panic!("chain {} did not execute 3 batches", chain.node.chain_id));

        // What the contract stores equals what the ExEx stored, batch by batch; the batches
        // cover the chain's blocks without gap or overlap.
        let executed: u64 = executor.totalBatchesExecuted().call().await.unwrap().to();
        let batches = store.batches(1..=executed).unwrap();
        assert_eq!(batches.len() as u64, executed);
        let mut next_block = 1;
        for batch in &batches {
            assert_eq!(
                batch.first_block, next_block,
                "batch {} starts where the last ended",
                batch.number
            );
            next_block = batch.last_block + 1;
            assert_eq!(batch.sl_chain_id, sl_node.0.chain_id);
            let info = decode_commit_info(batch).unwrap();
            let on_chain = executor.storedBatchHash(U256::from(batch.number)).call().await.unwrap();
            assert_eq!(on_chain, stored_batch_hash(&info.to_stored()), "batch {}", batch.number);
            assert!(!batch.proof.is_empty());
        }

        // The status endpoint tells the same; pausing shows.
        let client = HttpClientBuilder::default()
            .request_timeout(Duration::from_secs(10))
            .build(format!("http://{}", host.rpc_addr().unwrap()))
            .unwrap();
        let status: serde_json::Value =
            client.request("settlement_status", rpc_params![]).await.unwrap();
        assert_eq!(status["chainId"], chain.node.chain_id);
        assert_eq!(status["settlementLayer"], sl_node.0.chain_id);
        assert!(status["onChain"]["executed"].as_u64().unwrap() >= 3);
        assert_eq!(status["phase"], "settling");
        let _: String = client.request("settlement_pause", rpc_params![]).await.unwrap();
        let status: serde_json::Value =
            client.request("settlement_status", rpc_params![]).await.unwrap();
        assert_eq!(status["phase"], "paused");
        tokio::time::timeout(WAIT, async {
            while store.batch(executed).unwrap().unwrap().stage != BatchStage::Executed {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
        .await
        .expect("the store's stages follow the on-chain counters");
        host.stop().await;
    }
}
