//! Gateway mode's metrics (prefix `gateway_`), with their descriptions.

use metrics::describe_counter;

/// Describes gateway mode's metrics to the installed recorder; [`crate::PublicRpc::start`] calls it.
/// Idempotent.
pub fn describe_metrics() {
    describe_counter!(
        "gateway_public_rpc_requests_total",
        "HTTP requests received by the Gateway's public JSON-RPC front"
    );
    describe_counter!(
        "gateway_public_rpc_refused_methods_total",
        "JSON-RPC requests the public front refused because it does not serve their method"
    );
    describe_counter!(
        "gateway_public_rpc_upstream_errors_total",
        "requests the public front could not forward because the Gateway sequencer did not answer"
    );
    describe_counter!(
        "gateway_public_rpc_simulations_total",
        "signed transactions from accounts off the deployment allowlist traced before forwarding"
    );
    describe_counter!(
        "gateway_public_rpc_simulation_failures_total",
        "signed transactions refused because their trace could not be had (fail closed)"
    );
    describe_counter!(
        "gateway_public_rpc_unchecked_total",
        "signed transactions refused because the front could not check them as they would run (a later nonce, another chain, over a trace limit)"
    );
    describe_counter!(
        "gateway_public_rpc_trace_budget_refusals_total",
        "signed transactions refused because their client used up its trace budget"
    );
    describe_counter!(
        "gateway_deployments_refused_total",
        "transactions refused because they deploy a contract from an account off the allowlist"
    );
}
