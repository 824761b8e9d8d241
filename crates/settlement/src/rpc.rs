//! The `settlement_*` and `interop_*` JSON-RPC methods. Each handler calls the service through
//! its handle ([`Settlement`]) and turns the answer or the error into JSON-RPC.

use gateway_store::MigrationPhase;
use jsonrpsee::{
    RpcModule,
    types::{ErrorObjectOwned, Params},
};
use serde_json::Value;

use crate::{
    config::{LayerKind, UnknownLayer},
    handle::Settlement,
    interop::ProofTarget,
};

/// `settlement_migrate`'s parameter (unknown fields are refused, not ignored).
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct MigrateRequest {
    /// `gateway` or `l1`.
    to: String,
}

/// `settlement_migrate`'s one parameter, `{"to": ...}`, given alone or in a one-element array.
fn parse_migrate(params: &Params<'_>) -> Result<MigrateRequest, ErrorObjectOwned> {
    let raw = params.as_str().unwrap_or("null");
    let value: Value = serde_json::from_str(raw).map_err(|e| invalid(e.to_string()))?;
    let request = match value {
        Value::Array(mut items) if items.len() == 1 => items.remove(0),
        object @ Value::Object(_) => object,
        _ => Value::Null,
    };
    serde_json::from_value(request).map_err(|e| {
        invalid(format!(
            "settlement_migrate takes one parameter, {{\"to\": \"gateway\" | \"l1\"}}, and was given {raw}: {e}"
        ))
    })
}

/// What a parameter error says, without jsonrpsee's debug wrapping.
fn reason(e: &ErrorObjectOwned) -> String {
    e.data().map_or_else(|| e.message().to_string(), |d| d.get().trim_matches('"').to_string())
}

/// An invalid-params error (`-32602`) with `message`.
fn invalid(message: String) -> ErrorObjectOwned {
    ErrorObjectOwned::owned(-32602, message, None::<()>)
}

/// Refuses any parameter to a method that takes none.
fn no_params(method: &str, params: &Params<'_>) -> Result<(), ErrorObjectOwned> {
    let Some(raw) = params.as_str() else { return Ok(()) };
    match serde_json::from_str::<Value>(raw) {
        Ok(Value::Array(items)) if items.is_empty() => Ok(()),
        Ok(Value::Object(fields)) if fields.is_empty() => Ok(()),
        Ok(Value::Null) => Ok(()),
        _ => Err(invalid(format!("{method} takes no parameters, but was given {raw}"))),
    }
}

/// The settlement ExEx's admin JSON-RPC methods, which change its state (serve them only on the
/// authenticated listener): `settlement_pause`, `settlement_resume`, `settlement_migrate`,
/// `settlement_cancel_migration`, `settlement_clear_halt`, and in gateway mode
/// `settlement_gatewayHoldBackChain` and `settlement_gatewayRestoreChain`.
pub(crate) fn admin_module(settlement: &Settlement) -> RpcModule<()> {
    let mut module = RpcModule::new(());
    let this = settlement.clone();
    let migrate = module
        .register_async_method("settlement_migrate", move |params, _, _| {
            let this = this.clone();
            async move {
                let request: MigrateRequest = parse_migrate(&params)?;
                let to: LayerKind = request.to.parse().map_err(|e: UnknownLayer| {
                    ErrorObjectOwned::owned(-32602, e.to_string(), None::<()>)
                })?;
                let record = this
                    .migrate(to, crate::migration::RPC_TRIGGER)
                    .await
                    .map_err(|e| ErrorObjectOwned::owned(-32000, e.to_string(), None::<()>))?;
                Ok::<_, ErrorObjectOwned>(serde_json::json!({
                    "id": record.id,
                    "from": record.fromLayer,
                    "to": record.toLayer,
                    "phase": MigrationPhase::Draining.as_str(),
                }))
            }
        })
        .is_ok();
    let this = settlement.clone();
    let cancel = module
        .register_method("settlement_cancel_migration", move |params, _, _| {
            no_params("settlement_cancel_migration", &params)?;
            let record = this
                .cancel_migration()
                .map_err(|e| ErrorObjectOwned::owned(-32000, e.to_string(), None::<()>))?;
            Ok::<_, ErrorObjectOwned>(serde_json::json!({
                "id": record.id,
                "phase": MigrationPhase::Cancelled.as_str(),
            }))
        })
        .is_ok();
    let this = settlement.clone();
    let clear_halt = module
        .register_method("settlement_clear_halt", move |params, _, _| {
            no_params("settlement_clear_halt", &params)?;
            let from = this
                .clear_halt()
                .map_err(|e| ErrorObjectOwned::owned(-32000, e.to_string(), None::<()>))?;
            Ok::<_, ErrorObjectOwned>(serde_json::json!({ "settlingFromBatch": from }))
        })
        .is_ok();
    let this = settlement.clone();
    let pause = module
        .register_method("settlement_pause", move |params, _, _| {
            no_params("settlement_pause", &params)?;
            this.pause();
            Ok::<_, ErrorObjectOwned>("paused")
        })
        .is_ok();
    let this = settlement.clone();
    let resume = module
        .register_method("settlement_resume", move |params, _, _| {
            no_params("settlement_resume", &params)?;
            this.resume();
            Ok::<_, ErrorObjectOwned>("settling")
        })
        .is_ok();
    let this = settlement.clone();
    let hold_back = module
        .register_method("settlement_gatewayHoldBackChain", move |params, _, _| {
            let (chain_id, reason): (u64, String) = params.parse().map_err(|e| {
                invalid(format!(
                    "settlement_gatewayHoldBackChain takes (chainId, reason): {}",
                    reason(&e)
                ))
            })?;
            this.hold_back_chain(chain_id, &reason)
                .map_err(|e| ErrorObjectOwned::owned(-32000, e.to_string(), None::<()>))?;
            Ok::<_, ErrorObjectOwned>("held back")
        })
        .is_ok();
    let this = settlement.clone();
    let restore = module
        .register_method("settlement_gatewayRestoreChain", move |params, _, _| {
            let (chain_id,): (u64,) = params.parse().map_err(|e| {
                invalid(format!("settlement_gatewayRestoreChain takes (chainId): {}", reason(&e)))
            })?;
            this.restore_chain(chain_id)
                .map_err(|e| ErrorObjectOwned::owned(-32000, e.to_string(), None::<()>))?;
            Ok::<_, ErrorObjectOwned>("restored")
        })
        .is_ok();
    // Method names are unique constants: registering cannot fail.
    debug_assert!(pause && resume && migrate && cancel && clear_halt && hold_back && restore);
    module
}

/// The settlement ExEx's read JSON-RPC methods (safe to serve to anyone who can reach the
/// node): `settlement_status` and `interop_getMessageProof`.
pub(crate) fn read_module(settlement: &Settlement) -> RpcModule<()> {
    let mut module = RpcModule::new(());
    let this = settlement.clone();
    let status = module
        .register_method("settlement_status", move |params, _, _| {
            no_params("settlement_status", &params)?;
            this.status().map_err(|e| ErrorObjectOwned::owned(-32000, e.to_string(), None::<()>))
        })
        .is_ok();
    let this = settlement.clone();
    let proof = module
        .register_async_method("interop_getMessageProof", move |params, _, _| {
            let this = this.clone();
            async move {
                const USAGE: &str = "interop_getMessageProof takes (txHash, logIndex[, \"interop\" | \"l1\"[, rootBlock]])";
                let bad = |what: &str, e: &ErrorObjectOwned| {
                    invalid(format!("{USAGE}; {what} is not valid: {}", reason(e)))
                };
                let mut seq = params.sequence();
                let tx_hash: alloy::primitives::B256 =
                    seq.next().map_err(|e| bad("txHash (32 bytes of hex)", &e))?;
                let log_index: u64 = seq.next().map_err(|e| bad("logIndex (a number)", &e))?;
                let target: Option<ProofTarget> =
                    seq.optional_next().map_err(|e| bad("the target", &e))?;
                let at_block: Option<u64> =
                    seq.optional_next().map_err(|e| bad("rootBlock (a number)", &e))?;
                let given = params.parse::<Vec<Value>>().map_or(0, |all| all.len());
                if given > 4 {
                    return Err(invalid(format!("{USAGE}; {given} parameters were given")));
                }
                let proof = this
                    .message_proof(
                        tx_hash,
                        log_index,
                        target.unwrap_or(ProofTarget::Interop),
                        at_block,
                    )
                    .await
                    .ok_or_else(|| {
                        ErrorObjectOwned::owned(
                            -32000,
                            "interop is not configured on this node",
                            None::<()>,
                        )
                    })?;
                proof.map_err(|e| ErrorObjectOwned::owned(-32000, e.to_string(), None::<()>))
            }
        })
        .is_ok();
    // Method names are unique constants: registering cannot fail.
    debug_assert!(status && proof);
    module
}
