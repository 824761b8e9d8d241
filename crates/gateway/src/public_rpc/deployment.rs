//! Contract deployment on the Gateway is restricted to allowlisted accounts, on every route the
//! public front can see: a signed transaction from an account not on the allowlist is refused when
//! it creates a contract itself, delegates code (EIP-7702), or — simulated against the pending
//! state with the sequencer's call tracer — creates one in any frame (a factory, a constructor
//! that deploys, a delegated account that deploys). When the simulation cannot be had, the
//! transaction is refused (fail closed).
//!
//! A simulation can differ from the transaction's real inclusion (code that deploys only in some
//! blocks); the Gateway's sequencer must therefore start with no code an outsider could use to
//! deploy (no default CREATE2 deployer), so that every contract comes from an allowlisted
//! deployer and this check is defense in depth.

use std::{collections::HashSet, time::Duration};

use alloy::{
    consensus::{Transaction as _, TxEnvelope, transaction::SignerRecoverable},
    eips::Decodable2718,
    primitives::{Address, Bytes},
    transports::http::reqwest::{self, Url},
};
use serde_json::{Value, json};
use tokio::sync::{OnceCell, Semaphore};
use tracing::{info, warn};

use super::answer::error_body;
use crate::allowlist::DeploymentAllowlist;

/// The JSON-RPC error code of a refused deployment (EIP-1474: transaction rejected).
pub const DEPLOYMENT_REFUSED_CODE: i64 = -32003;

/// Most transactions one request (a batch) may have traced.
pub const MAX_SIMULATIONS_PER_REQUEST: usize = 8;
/// Most traces running on the sequencer at once, over all requests.
pub(crate) const MAX_CONCURRENT_SIMULATIONS: usize = 4;
/// How long a transaction waits for a trace slot before it is refused (retry later).
const SIMULATION_QUEUE_TIMEOUT: Duration = Duration::from_secs(10);

/// What the front knows and shares to judge signed transactions.
pub(crate) struct Judge<'a> {
    /// The sequencer client.
    pub(crate) client: &'a reqwest::Client,
    /// The sequencer.
    pub(crate) upstream: &'a Url,
    /// Who may deploy.
    pub(crate) allowlist: &'a DeploymentAllowlist,
    /// The Gateway's chain id, read from the sequencer once.
    pub(crate) chain_id: &'a OnceCell<u64>,
    /// Trace slots.
    pub(crate) slots: &'a Semaphore,
    /// Traces per client address.
    pub(crate) budgets: &'a super::clients::TraceBudgets,
}

/// What one request (a single call or a batch) from `client` has used of the trace budget.
#[derive(Debug)]
pub(crate) struct Budget {
    client: std::net::IpAddr,
    traced: usize,
    senders: HashSet<Address>,
}

impl Budget {
    /// A fresh budget for one request from `client`.
    pub(crate) fn for_client(client: std::net::IpAddr) -> Self {
        Self { client, traced: 0, senders: HashSet::new() }
    }
}

impl Judge<'_> {
    /// The refusal of `method(params)` (a raw send) by `id`, if any.
    pub(crate) async fn refusal(
        &self,
        id: &Value,
        method: &str,
        params: Option<&Value>,
        budget: &mut Budget,
    ) -> Option<Value> {
        let unreadable = |what: &str| {
            Some(error_body(
                id,
                -32602,
                &format!("{method}: {what}; expected [\"0x<signed transaction, EIP-2718>\"]"),
                None,
            ))
        };
        let raw = match params {
            Some(Value::Array(items)) if items.len() == 1 => {
                items[0].as_str().and_then(|r| r.parse::<Bytes>().ok())
            }
            _ => return unreadable("takes exactly one parameter"),
        };
        let Some(raw) = raw else {
            return unreadable("the transaction is not a hex string");
        };
        // Exact: no trailing bytes that the sequencer might read otherwise.
        let Ok(tx) = TxEnvelope::decode_2718_exact(raw.as_ref()) else {
            return unreadable("the transaction does not decode");
        };
        let Ok(sender) = tx.recover_signer() else {
            return unreadable("the transaction's signature does not recover");
        };
        match self.gateway_chain_id().await {
            Ok(expected) if tx.chain_id() == Some(expected) => {}
            Ok(expected) => {
                return Some(unchecked(
                    id,
                    &format!(
                        "the transaction is signed for chain {}, not the Gateway's chain {expected}: sign it with chain id {expected} (EIP-155)",
                        tx.chain_id()
                            .map_or_else(|| "none (pre-EIP-155)".to_string(), |c| c.to_string())
                    ),
                ));
            }
            Err(reason) => return Some(unsimulated(id, sender, &reason)),
        }
        if self.allowlist.contains(&sender) {
            if tx.kind().is_create() || tx.is_eip7702() {
                info!(target: "gateway::public_rpc", deployer = %sender, "deployment allowed");
            }
            return None;
        }
        if tx.kind().is_create() {
            return Some(refused(id, sender, "creates a contract"));
        }
        if tx.is_eip7702() {
            return Some(refused(id, sender, "delegates code to an account (EIP-7702)"));
        }
        if budget.traced >= MAX_SIMULATIONS_PER_REQUEST {
            return Some(unchecked(
                id,
                &format!(
                    "a request may carry at most {MAX_SIMULATIONS_PER_REQUEST} transactions from accounts off the deployment allowlist; send the rest in another request"
                ),
            ));
        }
        if !budget.senders.insert(sender) {
            return Some(unchecked(
                id,
                &format!(
                    "{sender} has another transaction in this batch: send one transaction per account per request (each is checked on the state before the other)"
                ),
            ));
        }
        if let Err(wait) = self.budgets.take(budget.client) {
            metrics::counter!("gateway_public_rpc_trace_budget_refusals_total").increment(1);
            return Some(unchecked(
                id,
                &format!(
                    "{} has sent more transactions to check than the Gateway traces per client; retry in {} ms",
                    budget.client,
                    wait.as_millis().min(u128::from(u32::MAX))
                ),
            ));
        }
        budget.traced += 1;
        self.simulate(id, sender, &tx).await
    }

    async fn gateway_chain_id(&self) -> Result<u64, String> {
        self.chain_id
            .get_or_try_init(|| async {
                let answer = self
                    .upstream_call(&json!([
                        {"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []}
                    ]))
                    .await?;
                answer
                    .first()
                    .and_then(|a| a.get("result"))
                    .and_then(Value::as_str)
                    .and_then(|hex| u64::from_str_radix(hex.trim_start_matches("0x"), 16).ok())
                    .ok_or_else(|| format!("eth_chainId answered {answer:?}"))
            })
            .await
            .copied()
    }

    /// A batch to the sequencer; its answers in request order (by id).
    async fn upstream_call(&self, batch: &Value) -> Result<Vec<Value>, String> {
        let answer = self
            .client
            .post(self.upstream.clone())
            .json(batch)
            .send()
            .await
            .map_err(|e| e.to_string())?
            .json::<Value>()
            .await
            .map_err(|e| e.to_string())?;
        let Value::Array(mut answers) = answer else {
            return Err(format!("not a batch answer: {answer}"));
        };
        answers.sort_by_key(|a| a.get("id").and_then(Value::as_u64).unwrap_or(u64::MAX));
        Ok(answers)
    }

    /// Checks that `tx` is `sender`'s next transaction and traces it on the sequencer's
    /// pending state with its own nonce and fees; the refusal if it is not next, any frame
    /// creates a contract, or the trace cannot be had.
    async fn simulate(&self, id: &Value, sender: Address, tx: &TxEnvelope) -> Option<Value> {
        let Ok(_slot) = tokio::time::timeout(SIMULATION_QUEUE_TIMEOUT, self.slots.acquire()).await
        else {
            return Some(unchecked(
                id,
                "the Gateway is checking many transactions now; retry shortly",
            ));
        };
        metrics::counter!("gateway_public_rpc_simulations_total").increment(1);
        let mut call = json!({
            "from": sender,
            "to": tx.to(),
            "input": tx.input(),
            "value": tx.value(),
            "gas": format!("{:#x}", tx.gas_limit()),
            "nonce": format!("{:#x}", tx.nonce()),
        });
        if let Some(price) = tx.gas_price() {
            call["gasPrice"] = json!(format!("{price:#x}"));
        } else {
            call["maxFeePerGas"] = json!(format!("{:#x}", tx.max_fee_per_gas()));
            call["maxPriorityFeePerGas"] =
                json!(format!("{:#x}", tx.max_priority_fee_per_gas().unwrap_or_default()));
        }
        if let Some(list) = tx.access_list() {
            call["accessList"] = json!(list);
        }
        if let Some(hashes) = tx.blob_versioned_hashes() {
            call["blobVersionedHashes"] = json!(hashes);
            call["maxFeePerBlobGas"] =
                json!(format!("{:#x}", tx.max_fee_per_blob_gas().unwrap_or_default()));
        }
        let batch = json!([
            {"jsonrpc": "2.0", "id": 1, "method": "eth_getTransactionCount", "params": [sender, "pending"]},
            {"jsonrpc": "2.0", "id": 2, "method": "debug_traceCall", "params": [call, "pending", {"tracer": "callTracer"}]},
        ]);
        let answers = match self.upstream_call(&batch).await {
            Ok(answers) if answers.len() == 2 => answers,
            Ok(answers) => return Some(unsimulated(id, sender, &format!("{answers:?}"))),
            Err(reason) => return Some(unsimulated(id, sender, &reason)),
        };
        let next = answers[0]
            .get("result")
            .and_then(Value::as_str)
            .and_then(|hex| u64::from_str_radix(hex.trim_start_matches("0x"), 16).ok());
        match next {
            Some(next) if next == tx.nonce() => {}
            Some(next) => {
                return Some(unchecked(
                    id,
                    &format!(
                        "nonce {} is not {sender}'s next ({next}): the Gateway accepts only an account's next transaction from accounts off the deployment allowlist",
                        tx.nonce()
                    ),
                ));
            }
            None => return Some(unsimulated(id, sender, &answers[0].to_string())),
        }
        let trace = match answers[1].get("result") {
            Some(trace) if trace.is_object() => trace,
            _ => {
                let reason = answers[1].get("error").unwrap_or(&answers[1]).to_string();
                return Some(unsimulated(id, sender, &reason));
            }
        };
        if !trace
            .get("type")
            .and_then(Value::as_str)
            .is_some_and(|kind| CALL_FRAMES.iter().any(|call| call.eq_ignore_ascii_case(kind)))
        {
            return Some(unsimulated(id, sender, &format!("not a call trace: {trace}")));
        }
        creation_frame(trace).map(|kind| {
            refused(id, sender, &format!("creates a contract ({kind} in a nested call)"))
        })
    }
}

/// Frame types that do not create a contract; any other (CREATE, CREATE2, a creation kind of a
/// later fork) counts as a creation.
const CALL_FRAMES: &[&str] = &["CALL", "STATICCALL", "DELEGATECALL", "CALLCODE", "SELFDESTRUCT"];

/// The refusal of a transaction the front cannot check as it would run (a later nonce, another
/// chain, over a trace limit): not a deployment, so not counted as one.
fn unchecked(id: &Value, message: &str) -> Value {
    metrics::counter!("gateway_public_rpc_unchecked_total").increment(1);
    error_body(id, DEPLOYMENT_REFUSED_CODE, message, None)
}

/// The kind of the first frame of `trace` (a `callTracer` tree) that is not a plain call: a
/// creation, or a frame kind not known here.
pub(crate) fn creation_frame(trace: &Value) -> Option<String> {
    let kind = trace.get("type").and_then(Value::as_str).unwrap_or("(no type)");
    if !CALL_FRAMES.iter().any(|call| call.eq_ignore_ascii_case(kind)) {
        return Some(kind.to_ascii_uppercase());
    }
    trace.get("calls").and_then(Value::as_array)?.iter().find_map(creation_frame)
}

/// The refusal of a transaction whose simulation failed (fail closed).
fn unsimulated(id: &Value, sender: Address, reason: &str) -> Value {
    metrics::counter!("gateway_public_rpc_simulation_failures_total").increment(1);
    warn!(target: "gateway::public_rpc", %sender, reason, "cannot simulate a transaction: refused");
    error_body(
        id,
        DEPLOYMENT_REFUSED_CODE,
        &format!(
            "the Gateway could not simulate this transaction from {sender} to check that it deploys no contract ({reason}), so it is refused; retry later"
        ),
        Some(json!({ "sender": sender.to_string(), "reason": "simulation-failed" })),
    )
}

fn refused(id: &Value, deployer: Address, how: &str) -> Value {
    metrics::counter!("gateway_deployments_refused_total").increment(1);
    warn!(target: "gateway::public_rpc", %deployer, how, "deployment refused: not on the allowlist");
    error_body(
        id,
        DEPLOYMENT_REFUSED_CODE,
        &format!(
            "contract deployment on the Gateway is restricted: this transaction {how}, and {deployer} is not on the deployment allowlist; ask the Gateway's operators to add it (gateway_allowDeployer)"
        ),
        Some(json!({ "deployer": deployer.to_string(), "reason": "deployer-not-allowlisted" })),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_create_in_any_frame_is_found() {
        let leaf = json!({"type": "CALL", "calls": [{"type": "STATICCALL"}]});
        assert_eq!(creation_frame(&leaf), None);
        let nested = json!({"type": "CALL", "calls": [
            {"type": "CALL"},
            {"type": "DELEGATECALL", "calls": [{"type": "create2"}]},
        ]});
        assert_eq!(creation_frame(&nested).as_deref(), Some("CREATE2"));
        assert_eq!(creation_frame(&json!({"type": "CREATE"})).as_deref(), Some("CREATE"));
        // A frame kind not known here counts as a creation (fail closed).
        let unknown = json!({"type": "CALL", "calls": [{"type": "EOFCREATE"}]});
        assert_eq!(creation_frame(&unknown).as_deref(), Some("EOFCREATE"));
        assert_eq!(creation_frame(&json!({})).as_deref(), Some("(NO TYPE)"));
    }
}
