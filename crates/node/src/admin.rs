//! `gateway-node admin <method> [params...]`: calls a node's authenticated JSON-RPC with a token
//! made from its secret file and prints the answer as JSON.
//!
//! ```text
//! gateway-node admin settlement_pause
//! gateway-node admin settlement_migrate '{"to": "gateway"}'
//! gateway-node admin gateway_allowDeployer 0x70997970C51812dc3A010C7d01b50e0d17dc79C8
//! ```

use std::path::PathBuf;

use alloy::transports::http::reqwest::Url;
use clap::Args;
use exex_host::{AdminClient, JwtSecret};
use eyre::WrapErr;
use serde_json::Value;

/// `gateway-node admin`'s flags.
#[derive(Debug, Args)]
pub struct AdminArgs {
    /// The node's authenticated JSON-RPC endpoint.
    #[arg(
        long = "authrpc.url",
        env = "GATEWAY_AUTHRPC_URL",
        value_name = "URL",
        default_value = "http://127.0.0.1:8646"
    )]
    pub url: Url,
    /// The node's secret file (`--authrpc.jwtsecret` of the node; by default
    /// `<datadir>/jwt.hex`).
    #[arg(
        long = "authrpc.jwtsecret",
        env = "GATEWAY_AUTHRPC_JWTSECRET",
        value_name = "FILE",
        default_value = "./data/jwt.hex"
    )]
    pub jwt_secret: PathBuf,
    /// The method, e.g. `settlement_pause`.
    pub method: String,
    /// Its parameters, each as JSON (a bare word is taken as a string).
    pub params: Vec<String>,
}

/// Runs the call; prints the result as JSON on stdout.
pub async fn run(args: AdminArgs) -> eyre::Result<()> {
    let secret = JwtSecret::read(&args.jwt_secret).wrap_err_with(|| {
        format!(
            "--authrpc.jwtsecret {}: name the secret file of the node (its --authrpc.jwtsecret, by default <datadir>/jwt.hex)",
            args.jwt_secret.display()
        )
    })?;
    let params: Vec<Value> = args
        .params
        .iter()
        .map(|p| serde_json::from_str(p).unwrap_or_else(|_| Value::String(p.clone())))
        .collect();
    let result =
        AdminClient::new(args.url, secret).call(&args.method, Value::Array(params)).await?;
    println!("{}", serde_json::to_string_pretty(&result)?);
    Ok(())
}
