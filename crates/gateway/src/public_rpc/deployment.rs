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

use alloy::{
    consensus::{Transaction as _, TxEnvelope, transaction::SignerRecoverable},
    eips::Decodable2718,
    primitives::{Address, Bytes},
    transports::http::reqwest::{self, Url},
};
use serde_json::{Value, json};
use tracing::{info, warn};

use super::error_body;
use crate::DeploymentAllowlist;

/// The JSON-RPC error code of a refused deployment (EIP-1474: transaction rejected).
pub const DEPLOYMENT_REFUSED_CODE: i64 = -32003;

/// What the front does with a signed transaction.
#[derive(Debug)]
pub(crate) enum Verdict {
    /// Forward it.
    Forward,
    /// Answer with this error.
    Refuse(Value),
    /// Forward it only if a simulation by `sender` creates no contract.
    Simulate {
        /// Its signer.
        sender: Address,
        /// The call object to trace.
        call: Value,
    },
}

/// Judges `eth_sendRawTransaction(raw)` by `id` without touching the network.
pub(crate) fn inspect(
    id: &Value,
    method: &str,
    params: Option<&Value>,
    allowlist: &DeploymentAllowlist,
) -> Verdict {
    let unreadable = |what: &str| {
        Verdict::Refuse(error_body(
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
    let Ok(tx) = TxEnvelope::decode_2718(&mut raw.as_ref()) else {
        return unreadable("the transaction does not decode");
    };
    let Ok(sender) = tx.recover_signer() else {
        return unreadable("the transaction's signature does not recover");
    };
    if allowlist.contains(&sender) {
        if tx.kind().is_create() || tx.is_eip7702() {
            info!(target: "gateway::public_rpc", deployer = %sender, "deployment allowed");
        }
        return Verdict::Forward;
    }
    if tx.kind().is_create() {
        return Verdict::Refuse(refused(id, sender, "creates a contract"));
    }
    if tx.is_eip7702() {
        return Verdict::Refuse(refused(id, sender, "delegates code to an account (EIP-7702)"));
    }
    let mut call = json!({
        "from": sender,
        "to": tx.to(),
        "input": tx.input(),
        "value": tx.value(),
        "gas": format!("{:#x}", tx.gas_limit()),
    });
    if let Some(list) = tx.access_list() {
        call["accessList"] = json!(list);
    }
    Verdict::Simulate { sender, call }
}

/// Traces `call` on the sequencer's pending state; the refusal if any frame creates a contract
/// or the trace cannot be had.
pub(crate) async fn simulate(
    client: &reqwest::Client,
    upstream: &Url,
    id: &Value,
    sender: Address,
    call: Value,
) -> Option<Value> {
    metrics::counter!("gateway_public_rpc_simulations_total").increment(1);
    let request = json!({
        "jsonrpc": "2.0",
        "id": 1,
        "method": "debug_traceCall",
        "params": [call, "pending", {"tracer": "callTracer"}],
    });
    let answer = match client.post(upstream.clone()).json(&request).send().await {
        Ok(answer) => answer.json::<Value>().await.map_err(|e| e.to_string()),
        Err(err) => Err(err.to_string()),
    };
    let trace = match answer {
        Ok(mut answer) => match answer.get_mut("result").map(Value::take) {
            Some(trace) if !trace.is_null() => trace,
            _ => {
                let reason =
                    answer.get("error").map_or_else(|| answer.to_string(), Value::to_string);
                return Some(unsimulated(id, sender, &reason));
            }
        },
        Err(reason) => return Some(unsimulated(id, sender, &reason)),
    };
    creation_frame(&trace)
        .map(|kind| refused(id, sender, &format!("creates a contract ({kind} in a nested call)")))
}

/// The kind of the first frame of `trace` (a `callTracer` tree) that creates a contract.
pub(crate) fn creation_frame(trace: &Value) -> Option<String> {
    let kind = trace.get("type").and_then(Value::as_str).unwrap_or_default();
    if kind.eq_ignore_ascii_case("CREATE") || kind.eq_ignore_ascii_case("CREATE2") {
        return Some(kind.to_ascii_uppercase());
    }
    trace.get("calls").and_then(Value::as_array)?.iter().find_map(creation_frame)
}

/// The refusal of a transaction whose simulation failed (fail closed).
fn unsimulated(id: &Value, sender: Address, reason: &str) -> Value {
    metrics::counter!("gateway_public_rpc_simulation_failures_total").increment(1);
    metrics::counter!("gateway_deployments_refused_total").increment(1);
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
    }
}
