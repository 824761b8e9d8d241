//! Benchmark: how long value takes through the bridge on a devnet (mock proofs, anvil
//! mining a block per transaction, the nodes polling every 200 ms). Per route (a chain on L1,
//! a chain on the Gateway), `--rounds` times: deposit latency, from the L1 transaction mined to
//! the amount visible on the chain; and withdrawal latency, from the L2 transaction mined to
//! its proof served for L1 (claimable). Each claim is made, so each measured withdrawal was
//! really payable. Prints a table and writes `reports/bench-bridge.json`.
//!
//! ```text
//! cargo run --release -p example-bench-bridge -- --rounds 20
//! ```

use std::time::{Duration, Instant};

use alloy::{
    primitives::{Address, U256},
    providers::{Provider, ProviderBuilder},
};
use clap::Parser;
use devnet::bridge::{claim, deposit, withdraw};
use e2e_tests::{bridge_net::BridgeNet, fixtures::WAIT};

/// The depositor's key (funded on L1 with anvil_setBalance).
const USER_KEY: &str = "0x4242424242424242424242424242424242424242424242424242424242424242";

#[derive(Parser, Debug)]
struct Args {
    /// Deposits and withdrawals measured per route.
    #[arg(long, default_value_t = 20)]
    rounds: u32,
}

/// Mean and 95th percentile of `samples` (ms).
fn summary(samples: &mut [f64]) -> (f64, f64) {
    samples.sort_by(f64::total_cmp);
    let mean = samples.iter().sum::<f64>() / samples.len().max(1) as f64;
    let rank = ((samples.len() as f64) * 0.95).ceil() as usize;
    let p95 = samples.get(rank.saturating_sub(1)).copied().unwrap_or(f64::NAN);
    (mean, p95)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> eyre::Result<()> {
    let args = Args::parse();
    eyre::ensure!(args.rounds > 0, "--rounds must be at least 1");
    let net = BridgeNet::start().await?;
    let topology = net.topology.clone();
    let user = devnet::address_of_key(USER_KEY, "the user key")?;
    devnet::rpc_call(
        &topology.l1.node.rpc_url,
        "anvil_setBalance",
        serde_json::json!([user, "0x3635c9adc5dea00000"]),
    )
    .await?;
    let mut rows = Vec::new();
    for side in &net.chains {
        let chain = &side.chain;
        let id = chain.node.chain_id;
        let route = match chain.initial_settlement {
            devnet::InitialSettlement::L1 => "L1",
            devnet::InitialSettlement::Gateway => "Gateway",
        };
        let l2 = ProviderBuilder::new().connect_http(chain.node.rpc_url.clone());
        let (mut deposits, mut withdrawals) = (Vec::new(), Vec::new());
        for round in 0..args.rounds {
            // A fresh receiver each round: its balance shows this deposit alone.
            let receiver = Address::left_padding_from(&[0xbb, route.len() as u8, round as u8]);
            let amount = U256::from(1_000_000_000_000_000u64);
            deposit(&topology, USER_KEY, id, receiver, amount).await?;
            let mined = Instant::now();
            while l2.get_balance(receiver).await? < amount {
                eyre::ensure!(
                    mined.elapsed() < WAIT,
                    "deposit {round} not credited within {WAIT:?}"
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            deposits.push(mined.elapsed().as_secs_f64() * 1e3);
            // The user withdraws from what the first deposit gave it.
            if round == 0 {
                deposit(&topology, USER_KEY, id, user, U256::from(10u64).pow(U256::from(19)))
                    .await?;
                while l2.get_balance(user).await?.is_zero() {
                    eyre::ensure!(mined.elapsed() < WAIT, "the user's funds not credited");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
            let withdrawal = withdraw(chain, USER_KEY, user, U256::from(1_000u64)).await?;
            let sent = Instant::now();
            let (batch, proof) = side.claimable(&withdrawal).await?;
            withdrawals.push(sent.elapsed().as_secs_f64() * 1e3);
            claim(&topology, USER_KEY, id, batch, &withdrawal, proof).await?;
            eprintln!(
                "{route} round {round}: deposit {:.0} ms, withdrawal claimable after {:.0} ms",
                deposits.last().copied().unwrap_or_default(),
                withdrawals.last().copied().unwrap_or_default()
            );
        }
        let (dep_mean, dep_p95) = summary(&mut deposits);
        let (wd_mean, wd_p95) = summary(&mut withdrawals);
        rows.push((route, id, args.rounds, dep_mean, dep_p95, wd_mean, wd_p95));
    }
    net.stop().await;

    println!(
        "{:<8} {:>6} {:>6} {:>16} {:>15} {:>19} {:>18}",
        "route",
        "chain",
        "n",
        "deposit mean ms",
        "deposit p95 ms",
        "withdrawal mean ms",
        "withdrawal p95 ms"
    );
    for (route, id, n, dm, dp, wm, wp) in &rows {
        println!("{route:<8} {id:>6} {n:>6} {dm:>16.0} {dp:>15.0} {wm:>19.0} {wp:>18.0}");
    }
    let report = serde_json::json!({
        "benchmark": "bench-bridge",
        "profile": if cfg!(debug_assertions) { "debug" } else { "release" },
        "setup": "devnet, mock proofs, anvil mining a block per transaction, nodes polling every 200 ms; chain batches of up to 3 blocks",
        "routes": rows.iter().map(|(route, id, n, dm, dp, wm, wp)| serde_json::json!({
            "route": route,
            "chainId": id,
            "rounds": n,
            "depositMs": { "mean": dm, "p95": dp },
            "withdrawalToClaimableMs": { "mean": wm, "p95": wp },
        })).collect::<Vec<_>>(),
    });
    std::fs::create_dir_all("reports")?;
    std::fs::write("reports/bench-bridge.json", serde_json::to_vec_pretty(&report)?)?;
    eprintln!("report written to reports/bench-bridge.json");
    Ok(())
}
