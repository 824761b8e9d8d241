//! Gas of the executor's entry points on a real anvil devnet: one transaction each to commit,
//! prove (with the mock verifier, so this is the protocol's own cost) and execute 1 and 10
//! batches. Prints a table and writes `reports/bench-contracts.json`.
//!
//! ```text
//! cargo run --release -p example-bench-contracts
//! ```

use alloy::primitives::{B256, Bytes, U256};
use devnet::{Devnet, DevnetConfig, InitialSettlement, confirm, signer_provider};
use gateway_contracts::{ChainExecutor, convert};
use gateway_primitives::{CommitBatchInfo, StoredBatchInfo};

fn batch(chain_id: u64, sl: u64, number: u64) -> CommitBatchInfo {
    CommitBatchInfo {
        batchNumber: number,
        newStateCommitment: B256::from(U256::from(number)),
        firstBlockTimestamp: 1_000 + number * 10,
        lastBlockTimestamp: 1_000 + number * 10 + 9,
        chainId: U256::from(chain_id),
        daScheme: 2,
        daCommitment: B256::repeat_byte(0xda),
        numberOfL1Txs: U256::ZERO,
        numberOfL2Txs: U256::from(100),
        priorityOpsHash: B256::ZERO,
        l2LogsRoot: B256::from(U256::from(number * 7 + 1)),
        dependencyRootsRollingHash: B256::ZERO,
        slChainId: U256::from(sl),
    }
}

#[tokio::main]
async fn main() -> eyre::Result<()> {
    let devnet = Devnet::start(
        DevnetConfig { chains: vec![InitialSettlement::L1], ..Default::default() },
        None,
    )
    .await?;
    let chain = &devnet.topology.chains[0];
    let provider = signer_provider(devnet.topology.l1.node.rpc_url.clone(), &chain.operator_key)?;
    let executor = ChainExecutor::new(chain.l1_executor, &provider);
    let (chain_id, sl) = (chain.node.chain_id, devnet.topology.l1.node.chain_id);

    let mut last: StoredBatchInfo = chain.genesis.stored_info();
    let mut next = 1;
    let mut rows = Vec::new();
    println!(
        "{:>8} {:>12} {:>12} {:>12} {:>12} {:>16}",
        "batches", "commit gas", "prove gas", "execute gas", "total gas", "gas per batch"
    );
    for count in [1u64, 10] {
        let batches: Vec<CommitBatchInfo> =
            (next..next + count).map(|n| batch(chain_id, sl, n)).collect();
        let stored: Vec<StoredBatchInfo> = batches.iter().map(CommitBatchInfo::to_stored).collect();
        let on_chain_last: ChainExecutor::StoredBatchInfo = convert(&last)?;
        let commits: Vec<ChainExecutor::CommitBatchInfo> =
            batches.iter().map(convert).collect::<Result<_, _>>()?;
        let stored_abi: Vec<ChainExecutor::StoredBatchInfo> =
            stored.iter().map(convert).collect::<Result<_, _>>()?;

        // Validium batches: no data-availability input to check.
        let da_inputs = vec![alloy::primitives::Bytes::new(); commits.len()];
        let commit = confirm(
            "commit",
            executor.commitBatches(on_chain_last.clone(), commits, da_inputs).send().await?,
        )
        .await?;
        let prove = confirm(
            "prove",
            executor
                .proveBatches(on_chain_last, stored_abi.clone(), Bytes::from_static(b"mock"))
                .send()
                .await?,
        )
        .await?;
        let execute = confirm(
            "execute",
            executor.executeBatches(stored_abi, vec![vec![]; count as usize]).send().await?,
        )
        .await?;
        let (c, p, e) = (commit.gas_used, prove.gas_used, execute.gas_used);
        let total = c + p + e;
        println!("{count:>8} {c:>12} {p:>12} {e:>12} {total:>12} {:>16}", total / count);
        rows.push(serde_json::json!({
            "batches": count, "commit_gas": c, "prove_gas": p, "execute_gas": e,
            "total_gas": total, "gas_per_batch": total / count,
        }));
        last = stored.last().cloned().unwrap_or(last);
        next += count;
    }
    std::fs::create_dir_all("reports")?;
    let report =
        serde_json::json!({ "bench": "contracts-gas", "verifier": "MockVerifier", "rows": rows });
    std::fs::write("reports/bench-contracts.json", serde_json::to_vec_pretty(&report)?)?;
    eprintln!("report written to reports/bench-contracts.json");
    Ok(())
}
