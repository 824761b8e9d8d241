//! [`PublicRpc`]: the Gateway's public JSON-RPC front. It serves an explicit allowlist of methods
//! ([`PUBLIC_METHODS`]: reads, and transactions their senders signed) by forwarding them to the
//! Gateway's sequencer, answers every other method itself with `-32601`, and refuses contract
//! deployments from accounts not on the [`DeploymentAllowlist`] on every route it can see
//! ([`deployment`]). Batches are split: refused requests are answered here, the rest are
//! forwarded together.

mod answer;
mod clients;
mod deployment;
mod methods;

pub use clients::{DEFAULT_TRACE_BURST, DEFAULT_TRACES_PER_SECOND};
pub use deployment::{DEPLOYMENT_REFUSED_CODE, MAX_SIMULATIONS_PER_REQUEST};
pub use methods::PUBLIC_METHODS;

use std::{net::SocketAddr, sync::Arc, time::Duration};

use alloy::{
    primitives::Bytes,
    transports::http::reqwest::{self, Url},
};
use http_body_util::{BodyExt, Full, Limited};
use hyper::{Request, Response, StatusCode, body::Incoming, service::service_fn};
use hyper_util::rt::{TokioIo, TokioTimer};
use serde_json::{Value, json};
use tokio::{net::TcpListener, task::JoinHandle};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use self::deployment::{Budget, Judge};

use self::answer::error_body;
use crate::{
    allowlist::DeploymentAllowlist,
    error::{GatewayError, GatewayResult},
};

/// Largest request body accepted by default.
pub const DEFAULT_MAX_BODY_BYTES: usize = 8 * 1024 * 1024;
/// Most requests in one batch.
pub const MAX_BATCH: usize = 1_000;
/// How long a client may take to send a request's headers and body.
const CLIENT_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// How long the sequencer may take to answer by default.
pub const DEFAULT_UPSTREAM_TIMEOUT: Duration = Duration::from_secs(30);

/// Settings of the public front.
#[derive(Debug, Clone)]
pub struct PublicRpcConfig {
    /// Where it listens.
    pub listen: SocketAddr,
    /// The Gateway sequencer's JSON-RPC endpoint.
    pub upstream: Url,
    /// Largest request body.
    pub max_body_bytes: usize,
    /// How long the sequencer may take to answer.
    pub upstream_timeout: Duration,
    /// Transactions from accounts off the deployment allowlist each client address may have
    /// traced per second ([`DEFAULT_TRACES_PER_SECOND`]).
    pub traces_per_second: f64,
    /// ... and at once ([`DEFAULT_TRACE_BURST`]).
    pub trace_burst: u32,
}

impl PublicRpcConfig {
    /// Defaults for a front on `listen` before `upstream`.
    pub const fn new(listen: SocketAddr, upstream: Url) -> Self {
        Self {
            listen,
            upstream,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            upstream_timeout: DEFAULT_UPSTREAM_TIMEOUT,
            traces_per_second: DEFAULT_TRACES_PER_SECOND,
            trace_burst: DEFAULT_TRACE_BURST,
        }
    }
}

struct State {
    upstream: Url,
    client: reqwest::Client,
    allowlist: Arc<DeploymentAllowlist>,
    max_body_bytes: usize,
    chain_id: tokio::sync::OnceCell<u64>,
    simulation_slots: tokio::sync::Semaphore,
    trace_budgets: clients::TraceBudgets,
}

impl State {
    fn judge(&self) -> Judge<'_> {
        Judge {
            client: &self.client,
            upstream: &self.upstream,
            allowlist: &self.allowlist,
            chain_id: &self.chain_id,
            slots: &self.simulation_slots,
            budgets: &self.trace_budgets,
        }
    }
}

/// The running front; stops when dropped or [`PublicRpc::stop`]ped.
#[derive(Debug)]
pub struct PublicRpc {
    local_addr: SocketAddr,
    shutdown: CancellationToken,
    task: Option<JoinHandle<()>>,
}

impl PublicRpc {
    /// Binds and serves.
    pub async fn start(
        config: PublicRpcConfig,
        allowlist: Arc<DeploymentAllowlist>,
    ) -> GatewayResult<Self> {
        crate::metrics::describe_metrics();
        let listener = TcpListener::bind(config.listen)
            .await
            .map_err(|e| GatewayError::Bind { addr: config.listen, reason: e.to_string() })?;
        let local_addr = listener
            .local_addr()
            .map_err(|e| GatewayError::Bind { addr: config.listen, reason: e.to_string() })?;
        let client = reqwest::Client::builder()
            .timeout(config.upstream_timeout)
            .build()
            .map_err(|e| GatewayError::Upstream(e.to_string()))?;
        let state = Arc::new(State {
            upstream: config.upstream.clone(),
            client,
            allowlist,
            max_body_bytes: config.max_body_bytes,
            chain_id: tokio::sync::OnceCell::new(),
            simulation_slots: tokio::sync::Semaphore::new(deployment::MAX_CONCURRENT_SIMULATIONS),
            trace_budgets: clients::TraceBudgets::new(config.traces_per_second, config.trace_burst),
        });
        let shutdown = CancellationToken::new();
        let stop = shutdown.clone();
        let task = tokio::spawn(async move {
            loop {
                let (stream, peer) = tokio::select! {
                    () = stop.cancelled() => return,
                    accepted = listener.accept() => match accepted {
                        Ok((stream, peer)) => (stream, peer.ip()),
                        Err(err) => {
                            // Out of file handles, say: do not spin.
                            warn!(target: "gateway::public_rpc", %err, "accept failed");
                            tokio::time::sleep(Duration::from_millis(100)).await;
                            continue;
                        }
                    },
                };
                let state = Arc::clone(&state);
                let stop = stop.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |req| handle(Arc::clone(&state), req, peer));
                    let connection = hyper::server::conn::http1::Builder::new()
                        .timer(TokioTimer::new())
                        .header_read_timeout(CLIENT_READ_TIMEOUT)
                        .serve_connection(TokioIo::new(stream), service);
                    tokio::select! {
                        () = stop.cancelled() => {}
                        result = connection => if let Err(err) = result {
                            debug!(target: "gateway::public_rpc", %err, "connection ended");
                        },
                    }
                });
            }
        });
        info!(target: "gateway::public_rpc", %local_addr, upstream = %config.upstream, "public JSON-RPC front listening");
        Ok(Self { local_addr, shutdown, task: Some(task) })
    }

    /// Where it listens.
    pub const fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Stops serving.
    pub async fn stop(mut self) {
        self.shutdown.cancel();
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for PublicRpc {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

type HttpResponse = Response<Full<Bytes>>;

fn response(status: StatusCode, body: Vec<u8>) -> HttpResponse {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    response
}

async fn handle(
    state: Arc<State>,
    request: Request<Incoming>,
    peer: std::net::IpAddr,
) -> Result<HttpResponse, std::convert::Infallible> {
    metrics::counter!("gateway_public_rpc_requests_total").increment(1);
    if request.method() != hyper::Method::POST {
        let body = error_body(&Value::Null, -32600, "send JSON-RPC requests with POST", None);
        return Ok(response(StatusCode::METHOD_NOT_ALLOWED, body.to_string().into_bytes()));
    }
    let read = tokio::time::timeout(
        CLIENT_READ_TIMEOUT,
        Limited::new(request.into_body(), state.max_body_bytes).collect(),
    );
    let body = match read
        .await
        .map_err(|_| "timed out".to_string())
        .and_then(|r| r.map_err(|e| e.to_string()))
    {
        Ok(body) => body.to_bytes(),
        Err(err) => {
            let body =
                error_body(&Value::Null, -32600, &format!("request body refused: {err}"), None);
            return Ok(response(StatusCode::PAYLOAD_TOO_LARGE, body.to_string().into_bytes()));
        }
    };
    let Ok(parsed) = serde_json::from_slice::<Value>(&body) else {
        let body = error_body(&Value::Null, -32700, "the request body is not JSON", None);
        return Ok(response(StatusCode::OK, body.to_string().into_bytes()));
    };
    match parsed {
        Value::Array(requests) if requests.len() > MAX_BATCH => {
            let body = error_body(
                &Value::Null,
                -32600,
                &format!("a batch of {} requests; at most {MAX_BATCH}", requests.len()),
                None,
            );
            Ok(response(StatusCode::OK, body.to_string().into_bytes()))
        }
        Value::Array(requests) if requests.is_empty() => {
            let body = error_body(&Value::Null, -32600, "an empty batch", None);
            Ok(response(StatusCode::OK, body.to_string().into_bytes()))
        }
        Value::Array(requests) => Ok(batch(&state, requests, peer).await),
        // What was checked is what is forwarded (a duplicate key cannot mean one thing here
        // and another upstream).
        single => match refusal(&state, &single, &mut Budget::for_client(peer)).await {
            Some(refused) => Ok(response(StatusCode::OK, refused.to_string().into_bytes())),
            None => Ok(forward(&state, single.to_string().into_bytes().into()).await),
        },
    }
}

async fn batch(state: &State, requests: Vec<Value>, peer: std::net::IpAddr) -> HttpResponse {
    let mut refused = Vec::new();
    let mut allowed = Vec::new();
    let mut budget = Budget::for_client(peer);
    for request in requests {
        match refusal(state, &request, &mut budget).await {
            Some(error) => refused.push(error),
            None => allowed.push(request),
        }
    }
    if refused.is_empty() {
        return forward(state, Value::Array(allowed).to_string().into_bytes().into()).await;
    }
    let mut answers = Vec::new();
    if !allowed.is_empty() {
        let forwarded = forward(state, Value::Array(allowed).to_string().into_bytes().into()).await;
        let bytes = forwarded.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
        match serde_json::from_slice::<Value>(&bytes) {
            Ok(Value::Array(items)) => answers.extend(items),
            Ok(other) => answers.push(other),
            Err(_) => answers.push(error_body(
                &Value::Null,
                -32603,
                "the Gateway sequencer's answer to the batch is not JSON",
                None,
            )),
        }
    }
    answers.extend(refused);
    response(StatusCode::OK, Value::Array(answers).to_string().into_bytes())
}

async fn forward(state: &State, body: Bytes) -> HttpResponse {
    let sent = state
        .client
        .post(state.upstream.clone())
        .header("content-type", "application/json")
        .body(body.to_vec())
        .send()
        .await;
    match sent {
        Ok(answer) => {
            let status =
                StatusCode::from_u16(answer.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
            match answer.bytes().await {
                Ok(bytes) => response(status, bytes.to_vec()),
                Err(err) => upstream_error(&err.to_string()),
            }
        }
        Err(err) => upstream_error(&err.to_string()),
    }
}

fn upstream_error(reason: &str) -> HttpResponse {
    metrics::counter!("gateway_public_rpc_upstream_errors_total").increment(1);
    warn!(target: "gateway::public_rpc", reason, "the Gateway sequencer did not answer");
    let body = error_body(
        &Value::Null,
        -32603,
        &format!("the Gateway sequencer did not answer: {reason}"),
        None,
    );
    response(StatusCode::BAD_GATEWAY, body.to_string().into_bytes())
}

/// The error answer for `request` if the front refuses it: not a request, a method it does not
/// serve, a send it cannot read, or a deployment by an account not on the allowlist.
async fn refusal(state: &State, request: &Value, budget: &mut Budget) -> Option<Value> {
    let id = request.get("id").cloned().unwrap_or(Value::Null);
    let Some(method) = request.get("method").and_then(Value::as_str) else {
        return Some(error_body(
            &id,
            -32600,
            "not a JSON-RPC request: expected an object with a string `method`",
            None,
        ));
    };
    if !methods::served(method) {
        metrics::counter!("gateway_public_rpc_refused_methods_total").increment(1);
        debug!(target: "gateway::public_rpc", method, "method not served");
        return Some(error_body(
            &id,
            -32601,
            &format!(
                "{method} is not served by the Gateway's public JSON-RPC: it serves reads and eth_sendRawTransaction (transactions signed by their sender)"
            ),
            Some(json!({ "method": method })),
        ));
    }
    if !methods::sends_raw(method) {
        return None;
    }
    state.judge().refusal(&id, method, request.get("params"), budget).await
}
