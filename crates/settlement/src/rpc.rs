//! The `settlement_*` and `interop_*` JSON-RPC methods. Each handler calls the service through
//! its handle ([`Settlement`]) and turns the answer or the error into JSON-RPC.

use gateway_store::MigrationPhase;
use jsonrpsee::{RpcModule, types::ErrorObjectOwned};

use crate::{
    config::{LayerKind, UnknownLayer},
    handle::Settlement,
    interop::ProofTarget,
};

/// `settlement_migrate`'s parameter.
#[derive(Debug, serde::Deserialize)]
struct MigrateRequest {
    /// `gateway` or `l1`.
    to: String,
}

/// The settlement ExEx's JSON-RPC methods, served through `settlement` (a handle):
/// `settlement_status`, `settlement_pause`, `settlement_resume`, `settlement_migrate`,
/// `settlement_cancel_migration` and `interop_getMessageProof`.
pub(crate) fn module(settlement: &Settlement) -> RpcModule<()> {
    let mut module = RpcModule::new(());
    let this = settlement.clone();
    let migrate = module
        .register_async_method("settlement_migrate", move |params, _, _| {
            let this = this.clone();
            async move {
                let request: MigrateRequest =
                    params.one().or_else(|_| params.parse()).map_err(|e| {
                        ErrorObjectOwned::owned(
                            -32602,
                            format!(
                                "settlement_migrate takes {{\"to\": \"gateway\" | \"l1\"}}: {e}"
                            ),
                            None::<()>,
                        )
                    })?;
                let to: LayerKind = request.to.parse().map_err(|e: UnknownLayer| {
                    ErrorObjectOwned::owned(-32602, e.to_string(), None::<()>)
                })?;
                let record = this
                    .migrate(to, "rpc")
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
    let proof = module
        .register_async_method("interop_getMessageProof", move |params, _, _| {
            let this = this.clone();
            async move {
                let invalid = |e: String| ErrorObjectOwned::owned(-32602, e, None::<()>);
                let mut seq = params.sequence();
                let tx_hash: alloy::primitives::B256 = seq.next().map_err(|e| {
                    invalid(format!("interop_getMessageProof(txHash, logIndex[, \"interop\" | \"l1\"[, rootBlock]]): txHash: {e}"))
                })?;
                let log_index: u64 = seq.next().map_err(|e| invalid(format!("logIndex: {e}")))?;
                let target: Option<ProofTarget> =
                    seq.optional_next().map_err(|e| invalid(format!("target: {e}")))?;
                let at_block: Option<u64> =
                    seq.optional_next().map_err(|e| invalid(format!("rootBlock: {e}")))?;
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
    let this = settlement.clone();
    let cancel = module
        .register_method("settlement_cancel_migration", move |_, _, _| {
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
    let status = module
        .register_method("settlement_status", move |_, _, _| {
            this.status().map_err(|e| ErrorObjectOwned::owned(-32000, e.to_string(), None::<()>))
        })
        .is_ok();
    let this = settlement.clone();
    let pause = module
        .register_method("settlement_pause", move |_, _, _| {
            this.pause();
            "paused"
        })
        .is_ok();
    let this = settlement.clone();
    let resume = module
        .register_method("settlement_resume", move |_, _, _| {
            this.resume();
            "settling"
        })
        .is_ok();
    // Method names are unique constants: registering cannot fail.
    debug_assert!(status && pause && resume && migrate && cancel && proof);
    module
}
