//! The status view: one table row per chain and a line for the Gateway's node, from
//! `settlement_status` answers. `gateway-node devnet` prints it every few seconds;
//! `gateway-node status --rpc-url URL` prints it for any running node (`--json`: the answer).

use std::{fmt::Write as _, time::Duration};

use alloy::transports::http::reqwest::Url;
use clap::Args;
use eyre::WrapErr;
use serde_json::Value;

/// `gateway-node status`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// A node's JSON-RPC endpoint (its `--http` address); give it once per node.
    #[arg(long = "rpc-url", value_name = "URL", required = true)]
    pub rpc_urls: Vec<Url>,
    /// Print `settlement_status` as JSON (an array, one answer per `--rpc-url`) instead of the
    /// table.
    #[arg(long = "json")]
    pub json: bool,
}

const TIMEOUT: Duration = Duration::from_secs(10);

/// Asks each node for its `settlement_status`; prints the table or the JSON.
pub async fn run(args: StatusArgs) -> eyre::Result<()> {
    let client = alloy::transports::http::reqwest::Client::builder()
        .timeout(TIMEOUT)
        .build()
        .wrap_err("an HTTP client")?;
    let mut statuses = Vec::with_capacity(args.rpc_urls.len());
    for url in &args.rpc_urls {
        let body = serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": "settlement_status", "params": []});
        let answer: Value = client
            .post(url.clone())
            .json(&body)
            .send()
            .await
            .wrap_err_with(|| {
                format!("--rpc-url {url}: the node does not answer (is it started with --http?)")
            })?
            .json()
            .await
            .wrap_err_with(|| format!("--rpc-url {url}: not a JSON-RPC answer"))?;
        if let Some(error) = answer.get("error").filter(|e| !e.is_null()) {
            eyre::bail!(
                "--rpc-url {url}: settlement_status failed: {error} (is the node started with --settlement.enabled?)"
            );
        }
        statuses.push(answer.get("result").cloned().unwrap_or(Value::Null));
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&Value::Array(statuses))?);
    } else {
        print!("{}", render(&statuses));
    }
    Ok(())
}

fn u64_at(value: &Value, pointer: &str) -> u64 {
    value.pointer(pointer).and_then(Value::as_u64).unwrap_or_default()
}

fn str_at<'a>(value: &'a Value, pointer: &str) -> &'a str {
    value.pointer(pointer).and_then(Value::as_str).unwrap_or("-")
}

/// `L1` or `GW` for the layer a status settles on.
fn layer_label(status: &Value) -> &'static str {
    let layer = u64_at(status, "/settlementLayer");
    let kind = status
        .get("layers")
        .and_then(Value::as_array)
        .and_then(|layers| layers.iter().find(|l| u64_at(l, "/chainId") == layer))
        .and_then(|l| l.get("kind"))
        .and_then(Value::as_str);
    match kind {
        Some("gateway") => "GW",
        Some(_) => "L1",
        // Gateway mode settles on L1; otherwise the kind is known only with migration.
        None if status.get("gateway").is_some_and(|g| !g.is_null()) => "L1",
        None => "SL",
    }
}

/// A wei amount at `pointer` (a quantity, hex or decimal), in decimal.
fn wei_at(value: &Value, pointer: &str) -> Option<String> {
    let raw = value.pointer(pointer)?;
    let parsed = match raw {
        Value::String(text) => text.parse::<alloy::primitives::U256>().ok()?,
        Value::Number(n) => alloy::primitives::U256::from(n.as_u64()?),
        _ => return None,
    };
    Some(parsed.to_string())
}

/// The table: a row per chain node, migration lines, and a line per Gateway node.
pub fn render(statuses: &[Value]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:>6} {:>8} {:>10} {:>6} {:>7} {:>7} {:>9} {:>6} {:>6} {:>9} {:>4}  last error",
        "chain",
        "SL",
        "phase",
        "head",
        "sealed",
        "proved",
        "committed",
        "execd",
        "L1fin",
        "lag(blk)",
        "tx",
    );
    for status in statuses.iter().filter(|s| s.get("gateway").is_none_or(Value::is_null)) {
        let l1_final = match status.get("finality").filter(|f| !f.is_null()) {
            Some(f) => u64_at(f, "/l1FinalThrough"),
            None => u64_at(status, "/onChain/executed"),
        };
        let _ = writeln!(
            out,
            "{:>6} {:>8} {:>10} {:>6} {:>7} {:>7} {:>9} {:>6} {:>6} {:>9} {:>4}  {}",
            u64_at(status, "/chainId"),
            format!("{}:{}", layer_label(status), u64_at(status, "/settlementLayer")),
            str_at(status, "/phase"),
            u64_at(status, "/chainHead"),
            u64_at(status, "/lastSealedBatch"),
            u64_at(status, "/lastProvedBatch"),
            u64_at(status, "/onChain/committed"),
            u64_at(status, "/onChain/executed"),
            l1_final,
            u64_at(status, "/lagBlocks"),
            str_at(status, "/pendingTx/stage"),
            str_at(status, "/lastError"),
        );
    }
    for status in statuses {
        let Some(m) = status.get("migration").filter(|m| {
            matches!(m.get("phase").and_then(Value::as_str), Some("draining" | "migrating"))
        }) else {
            continue;
        };
        let _ = writeln!(
            out,
            "chain {} migration {}: {} -> {} {} for {} ms, waiting for {}",
            u64_at(status, "/chainId"),
            u64_at(m, "/id"),
            u64_at(m, "/from"),
            u64_at(m, "/to"),
            str_at(m, "/phase"),
            u64_at(m, "/phaseMs"),
            str_at(m, "/waitingFor"),
        );
    }
    for status in statuses.iter().filter(|s| s.get("gateway").is_none_or(Value::is_null)) {
        // What one batch cost lately on each layer, and the Gateway's fee in it.
        let costs: Vec<String> = status
            .get("layers")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|layer| {
                let cost = wei_at(layer, "/costPerBatchWei")?;
                let fee = wei_at(layer, "/feePerBatchWei")
                    .filter(|fee| fee != "0")
                    .map_or_else(String::new, |fee| format!(" (fee {fee})"));
                let kind = match layer.get("kind").and_then(Value::as_str) {
                    Some("gateway") => "GW",
                    Some("l1") => "L1",
                    _ => "SL",
                };
                Some(format!("{kind}:{} {cost} wei{fee}", u64_at(layer, "/chainId")))
            })
            .collect();
        if !costs.is_empty() {
            let _ = writeln!(
                out,
                "chain {} cost per batch: {}",
                u64_at(status, "/chainId"),
                costs.join(", ")
            );
        }
    }
    for status in statuses {
        let Some(gw) = status.get("gateway").filter(|g| !g.is_null()) else { continue };
        let per_batch = gw
            .get("l1GasPerChainBatch")
            .and_then(Value::as_u64)
            .map_or_else(|| "-".to_string(), |gas| gas.to_string());
        let _ = writeln!(
            out,
            "Gateway {}: head {}, batches sealed {} proved {} settled on L1 {}; chain batches L1-final {}; L1 gas per chain batch {} (direct on L1: {}); {}",
            u64_at(status, "/chainId"),
            u64_at(status, "/chainHead"),
            u64_at(status, "/lastSealedBatch"),
            u64_at(status, "/lastProvedBatch"),
            u64_at(gw, "/batchesSettled"),
            u64_at(gw, "/chainBatchesSettled"),
            per_batch,
            u64_at(gw, "/directL1GasPerChainBatch"),
            status.get("lastError").and_then(Value::as_str).unwrap_or("no error"),
        );
        if let Some(fees) = gw.get("fees").filter(|f| !f.is_null()) {
            let next = match (wei_at(fees, "/nextPriceWei"), fees.pointer("/nextPriceFromBlock")) {
                (Some(price), Some(from)) => format!(" (then {price} from block {from})"),
                _ => String::new(),
            };
            let _ = writeln!(
                out,
                "  fees: {} wei per committed chain batch{next}; collected {} wei, L1 cost paid {} wei",
                wei_at(fees, "/priceWei").unwrap_or_else(|| "-".into()),
                wei_at(fees, "/collectedWei").unwrap_or_else(|| "-".into()),
                wei_at(gw, "/l1CostWei").unwrap_or_else(|| "-".into()),
            );
        }
        if let Some(backlog) = gw.get("provingBacklog").filter(|b| u64_at(b, "/blocks") > 0) {
            let waiting = match backlog.get("waitingForProof").and_then(Value::as_u64) {
                Some(batch) => format!(" while batch {batch} waits for its proof"),
                None => String::new(),
            };
            let _ = writeln!(
                out,
                "  gathering: {} chain batches in {} blocks, the oldest {} s old{waiting}",
                u64_at(backlog, "/chainBatches"),
                u64_at(backlog, "/blocks"),
                u64_at(backlog, "/oldestAgeS"),
            );
        }
        if let Some(groups) = gw.get("treeGroups").filter(|g| g.is_object()) {
            let _ = writeln!(
                out,
                "  tree groups: {} made ahead of their Gateway batch ({} used, {} ready now), {} made at seal",
                u64_at(groups, "/madeAhead"),
                u64_at(groups, "/usedReady"),
                u64_at(groups, "/ready"),
                u64_at(groups, "/madeAtSeal"),
            );
        }
        for chain in gw.get("chains").and_then(Value::as_array).into_iter().flatten() {
            if let Some(why) = chain.get("heldBack").and_then(Value::as_str) {
                let _ = writeln!(out, "  chain {} HELD BACK: {why}", u64_at(chain, "/chainId"));
            }
        }
    }
    for status in statuses {
        let Some(jobs) = status.get("proverJobs").filter(|j| !j.is_null()) else { continue };
        // Every kind's jobs in a state (leaf, aggregate, a tree's group and top).
        let by_state: Vec<String> = ["queued", "running", "failed"]
            .iter()
            .map(|state| {
                let suffix = format!(".{state}");
                let total: u64 = jobs
                    .pointer("/jobs")
                    .and_then(Value::as_object)
                    .into_iter()
                    .flatten()
                    .filter(|(key, _)| key.ends_with(&suffix))
                    .filter_map(|(_, n)| n.as_u64())
                    .sum();
                format!("{total} {state}")
            })
            .collect();
        let reach = if jobs.get("reachable").and_then(Value::as_bool) == Some(true) {
            String::new()
        } else {
            format!("; UNREACHABLE: {}", str_at(jobs, "/error"))
        };
        let _ = writeln!(
            out,
            "chain {} proof jobs at {}: {}; {} workers, {} lease expiries, {} refused proofs{reach}",
            u64_at(status, "/chainId"),
            str_at(jobs, "/queue"),
            by_state.join(", "),
            u64_at(jobs, "/workers"),
            u64_at(jobs, "/leaseExpiries"),
            u64_at(jobs, "/refusedProofs"),
        );
        let idle: Vec<&str> = jobs
            .get("kindsWithoutWorkers")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        if !idle.is_empty() {
            let _ = writeln!(
                out,
                "  NO WORKER takes the queued {} jobs: start one with --kinds aggregate (or upgrade older workers)",
                idle.join(", ")
            );
        }
        for failed in jobs.get("failed").and_then(Value::as_array).into_iter().flatten() {
            let _ = writeln!(
                out,
                "  FAILED job {} ({}, {} attempts): {}",
                u64_at(failed, "/id"),
                str_at(failed, "/what"),
                u64_at(failed, "/attempts"),
                str_at(failed, "/reason"),
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_row_per_chain_and_a_line_per_gateway() {
        let chain = serde_json::json!({
            "chainId": 270, "settlementLayer": 506, "phase": "settling", "chainHead": 42,
            "lastSealedBatch": 7, "lastProvedBatch": 6,
            "onChain": {"committed": 6, "proved": 5, "executed": 4},
            "finality": {"l1FinalThrough": 3}, "lagBlocks": 9, "lastError": null,
            "pendingTx": {"stage": "prove"},
            "layers": [{"chainId": 506, "kind": "gateway", "costPerBatchWei": "0x3e8", "feePerBatchWei": "0x64"},
                       {"chainId": 31337, "kind": "l1", "costPerBatchWei": null}],
            "migration": {"id": 2, "from": 31337, "to": 506, "phase": "draining", "phaseMs": 5, "waitingFor": "execute"}
        });
        let gateway = serde_json::json!({
            "chainId": 506, "settlementLayer": 31337, "chainHead": 99, "lastSealedBatch": 4,
            "lastProvedBatch": 3, "lastError": "L1 is slow",
            "gateway": {"batchesSettled": 2, "chainBatchesSettled": 5, "l1GasPerChainBatch": 12345,
                        "directL1GasPerChainBatch": 90000, "l1CostWei": "0x10",
                        "fees": {"priceWei": "0x5", "nextPriceWei": "0x7", "nextPriceFromBlock": 120, "collectedWei": "0x14"},
                        "provingBacklog": {"waitingForProof": 5, "blocks": 9, "chainBatches": 4, "oldestAgeS": 12},
                        "treeGroups": {"madeAhead": 6, "madeAtSeal": 3, "usedReady": 5, "ready": 1},
                        "chains": [{"chainId": 271, "heldBack": "a junk proof"}]}
        });
        let table = render(&[chain, gateway]);
        let rows: Vec<&str> = table.lines().collect();
        let row: Vec<&str> = rows[1].split_whitespace().collect();
        assert_eq!(
            row[..11],
            ["270", "GW:506", "settling", "42", "7", "6", "6", "4", "3", "9", "prove"]
        );
        assert!(rows[2].contains("migration 2: 31337 -> 506 draining"), "{table}");
        assert_eq!(rows[3], "chain 270 cost per batch: GW:506 1000 wei (fee 100)", "{table}");
        assert!(rows[4].starts_with("Gateway 506: head 99"), "{table}");
        assert!(rows[4].contains("L1 gas per chain batch 12345 (direct on L1: 90000); L1 is slow"));
        assert_eq!(
            rows[5],
            "  fees: 5 wei per committed chain batch (then 7 from block 120); collected 20 wei, L1 cost paid 16 wei",
            "{table}"
        );
        assert_eq!(
            rows[6],
            "  gathering: 4 chain batches in 9 blocks, the oldest 12 s old while batch 5 waits for its proof",
            "{table}"
        );
        assert_eq!(
            rows[7],
            "  tree groups: 6 made ahead of their Gateway batch (5 used, 1 ready now), 3 made at seal",
            "{table}"
        );
        assert!(rows[8].contains("chain 271 HELD BACK: a junk proof"), "{table}");
        assert_eq!(rows.len(), 9);
    }

    #[test]
    fn proof_jobs_on_workers_show_their_queue_and_failures() {
        let chain = serde_json::json!({
            "chainId": 270, "settlementLayer": 31337, "phase": "settling",
            "proverJobs": {"queue": "postgres://p:***@db/proofs", "reachable": false,
                           "error": "connection refused",
                           "jobs": {"leaf.queued": 3, "aggregate.queued": 1, "group.queued": 2, "top.running": 1, "leaf.running": 2, "leaf.failed": 1},
                           "workers": 2, "leaseExpiries": 4, "refusedProofs": 1,
                           "kindsWithoutWorkers": ["group"],
                           "failed": [{"id": 17, "kind": "leaf", "what": "batch 9 of chain 270", "attempts": 3, "reason": "worker w: out of memory"}]}
        });
        let table = render(&[chain]);
        let rows: Vec<&str> = table.lines().collect();
        assert_eq!(
            rows[2],
            "chain 270 proof jobs at postgres://p:***@db/proofs: 6 queued, 3 running, 1 failed; 2 workers, 4 lease expiries, 1 refused proofs; UNREACHABLE: connection refused",
            "{table}"
        );
        assert_eq!(
            rows[3],
            "  NO WORKER takes the queued group jobs: start one with --kinds aggregate (or upgrade older workers)"
        );
        assert_eq!(
            rows[4],
            "  FAILED job 17 (batch 9 of chain 270, 3 attempts): worker w: out of memory"
        );
    }
}
