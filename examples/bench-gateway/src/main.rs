//! L1 gas per chain batch, settled directly on L1 versus carried by a Gateway batch, for 1, 2,
//! 4, 8, 16, 32 and 64 chains carrying one batch each, and for 16 and 64 chains carrying
//! several each (`chains x batches`), measured in one run on the same anvil L1. Prints a table and writes
//! `reports/bench-gateway.json`.
//!
//! - Direct: each chain commits, proves and executes its batch on its own L1 executor (three
//!   transactions, mock verifier: the protocol's own cost).
//! - Through the Gateway: one `GatewayExecutor.settleBatch` per Gateway batch carrying one batch
//!   of each of N chains, with the mock aggregated verifier (steady state: every chain already
//!   has an L1-final batch; 64 chains in the shared tree, whose root L1 recomputes each time).
//!   The real path adds the halo2 aggregated proof's verification per Gateway batch; it is not
//!   estimated here (no constant stands in for a measurement): `tests/tests/halo2.rs` measures
//!   it for the 4-leaf aggregation, the widest the flat aggregation verifies on L1 today.
//!
//! ```text
//! cargo run --release -p example-bench-gateway
//! ```

use alloy::primitives::{B256, Bytes, U256};
use devnet::{Devnet, DevnetConfig, InitialSettlement, confirm, signer_provider};
use e2e_tests::gateway_l1::{GatewayL1, register_made_up_chains};
use gateway_contracts::{ChainExecutor, convert};
use gateway_primitives::{CommitBatchInfo, StoredBatchInfo};

const CHAIN_COUNTS: [usize; 7] = [1, 2, 4, 8, 16, 32, 64];
/// Rows where each chain carries several batches per Gateway batch (a chain that seals more
/// often than the Gateway settles): (chains, batches per chain).
const RUNS: [(usize, usize); 3] = [(16, 4), (16, 16), (64, 4)];

fn batch(chain_id: u64, sl: u64, number: u64, timestamp: u64) -> CommitBatchInfo {
    CommitBatchInfo {
        batchNumber: number,
        newStateCommitment: B256::from(U256::from(number * 1_000 + chain_id)),
        firstBlockTimestamp: timestamp,
        lastBlockTimestamp: timestamp + 1,
        chainId: U256::from(chain_id),
        daScheme: 2,
        daCommitment: B256::repeat_byte(0xda),
        numberOfL2Txs: U256::from(100),
        l2LogsRoot: B256::from(U256::from(number * 7 + 1)),
        slChainId: U256::from(sl),
        ..Default::default()
    }
}

#[tokio::main]
async fn main() -> eyre::Result<()> {
    let devnet = Devnet::start(
        DevnetConfig { chains: vec![InitialSettlement::L1], ..Default::default() },
        None,
    )
    .await?;
    let topology = &devnet.topology;
    let chain = &topology.chains[0];
    let l1_chain = topology.l1.node.chain_id;
    let direct_provider = signer_provider(topology.l1.node.rpc_url.clone(), &chain.operator_key)?;
    let direct = ChainExecutor::new(chain.l1_executor, &direct_provider);
    let gateway_provider =
        signer_provider(topology.l1.node.rpc_url.clone(), &topology.gateway.governance_key)?;

    // Direct: one chain batch in three transactions, averaged over 4 batches.
    let mut last: StoredBatchInfo = chain.genesis.stored_info();
    let mut direct_total = 0;
    let direct_batches = 4u64;
    for number in 1..=direct_batches {
        let info = batch(chain.node.chain_id, l1_chain, number, 1_000 + number * 10);
        let stored = info.to_stored();
        let commit = confirm(
            "commit",
            direct
                .commitBatches(convert(&last)?, vec![convert(&info)?], vec![Bytes::new()])
                .send()
                .await?,
        )
        .await?;
        let prove = confirm(
            "prove",
            direct
                .proveBatches(convert(&last)?, vec![convert(&stored)?], Bytes::from_static(b"mock"))
                .send()
                .await?,
        )
        .await?;
        let execute = confirm(
            "execute",
            direct.executeBatches(vec![convert(&stored)?], vec![vec![]]).send().await?,
        )
        .await?;
        direct_total += commit.gas_used + prove.gas_used + execute.gas_used;
        last = stored;
    }
    let direct_per_batch = direct_total / direct_batches;

    // Through the Gateway: 64 chains registered on the Gateway (handed over after a made-up
    // genesis) and added to the shared tree by a first Gateway batch; then per N, a warm-up
    // Gateway batch and the measured one, each carrying one batch of each of N chains. L1
    // checks each chain's previous batch, recomputes every public input and the shared root
    // over all 64 chains.
    let max_chains = CHAIN_COUNTS.iter().copied().max().unwrap_or(1) as u64;
    let ids: Vec<u64> = (0..max_chains).map(|i| 1_000 + i).collect();
    let mut last_of = register_made_up_chains(topology, &ids).await?;
    let mut gateway = GatewayL1::new(topology, gateway_provider.clone());
    gateway.settle(gateway.batch(GatewayL1::carry(&ids, &[]))).await?;
    let mut rows = Vec::new();
    println!(
        "{:>8} {:>7} {:>14} {:>16} {:>16} {:>12}",
        "chains", "batches", "direct/batch", "gateway tx gas", "via GW/batch", "saving"
    );
    let shapes = CHAIN_COUNTS.iter().map(|c| (*c, 1)).chain(RUNS);
    for (chains, per_chain) in shapes {
        let mut measured = 0;
        for round in 0..2u8 {
            let runs: Vec<_> = ids[..chains]
                .iter()
                .map(|id| {
                    let previous = last_of[id].clone();
                    let mut batches = Vec::with_capacity(per_chain);
                    let mut last = previous.clone();
                    for k in 0..per_chain {
                        let next = gateway.chain_batch(*id, &last, (*id as u8) ^ round ^ (k as u8));
                        last = next.to_stored();
                        batches.push(next);
                    }
                    last_of.insert(*id, last);
                    (*id, previous, batches)
                })
                .collect();
            let receipt = gateway.settle(gateway.batch(GatewayL1::carry(&[], &runs))).await?;
            measured = receipt.gas_used;
        }
        let carried = (chains * per_chain) as u64;
        let per_batch = measured / carried;
        let saving = direct_per_batch as f64 / per_batch as f64;
        let shape = format!("{chains}x{per_chain}");
        println!(
            "{shape:>8} {carried:>7} {direct_per_batch:>14} {measured:>16} {per_batch:>16} {saving:>11.1}x"
        );
        rows.push(serde_json::json!({
            "chains": chains,
            "batches_per_chain": per_chain,
            "chain_batches": carried,
            "direct_gas_per_chain_batch": direct_per_batch,
            "gateway_settle_gas": measured,
            "gateway_gas_per_chain_batch": per_batch,
            "saving_factor": saving,
        }));
    }
    std::fs::create_dir_all("reports")?;
    let report = serde_json::json!({
        "bench": "gateway-gas",
        "verifiers": { "direct": "MockVerifier", "gateway": "MockAggregatedVerifier" },
        "rows": rows,
    });
    std::fs::write("reports/bench-gateway.json", serde_json::to_vec_pretty(&report)?)?;
    eprintln!("report written to reports/bench-gateway.json");
    Ok(())
}
