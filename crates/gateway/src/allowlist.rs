//! [`DeploymentAllowlist`]: the accounts that may deploy contracts on the Gateway, persisted.

use std::{
    collections::BTreeSet,
    io::Write,
    path::{Path, PathBuf},
    sync::RwLock,
};

use alloy::primitives::Address;
use jsonrpsee::{RpcModule, types::ErrorObjectOwned};
use tracing::info;

use crate::error::{GatewayError, GatewayResult};

/// The allowlist's file under `<datadir>/gateway/`.
pub const ALLOWLIST_FILE: &str = "deployment-allowlist.json";

/// Who may deploy contracts on the Gateway. Changes are written to disk (temporary file, fsync,
/// rename) before they take effect, so a restart keeps them.
#[derive(Debug)]
pub struct DeploymentAllowlist {
    path: PathBuf,
    accounts: RwLock<BTreeSet<Address>>,
}

impl DeploymentAllowlist {
    /// Opens the allowlist kept under `dir`, adding `configured` accounts (from the operator's
    /// config) to what was persisted.
    pub fn open(dir: impl AsRef<Path>, configured: &[Address]) -> GatewayResult<Self> {
        let dir = dir.as_ref();
        std::fs::create_dir_all(dir).map_err(|e| GatewayError::io(dir, &e))?;
        let path = dir.join(ALLOWLIST_FILE);
        let mut accounts: BTreeSet<Address> = match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| GatewayError::Corrupt { path: path.clone(), reason: e.to_string() })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeSet::new(),
            Err(e) => return Err(GatewayError::io(&path, &e)),
        };
        let before = accounts.len();
        accounts.extend(configured.iter().copied());
        let list = Self { path, accounts: RwLock::new(BTreeSet::new()) };
        list.persist(&accounts)?;
        info!(target: "gateway::allowlist", deployers = accounts.len(), from_config = accounts.len() - before, "deployment allowlist loaded");
        *list.write() = accounts;
        Ok(list)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, BTreeSet<Address>> {
        self.accounts.write().unwrap_or_else(|e| e.into_inner())
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, BTreeSet<Address>> {
        self.accounts.read().unwrap_or_else(|e| e.into_inner())
    }

    fn persist(&self, accounts: &BTreeSet<Address>) -> GatewayResult<()> {
        let tmp = self.path.with_extension("json.tmp");
        let json = serde_json::to_vec_pretty(accounts).map_err(|e| GatewayError::Corrupt {
            path: self.path.clone(),
            reason: e.to_string(),
        })?;
        let mut file = std::fs::File::create(&tmp).map_err(|e| GatewayError::io(&tmp, &e))?;
        file.write_all(&json).map_err(|e| GatewayError::io(&tmp, &e))?;
        file.sync_all().map_err(|e| GatewayError::io(&tmp, &e))?;
        std::fs::rename(&tmp, &self.path).map_err(|e| GatewayError::io(&self.path, &e))?;
        // The rename itself is on disk only once the directory is.
        let dir = self.path.parent().unwrap_or_else(|| Path::new("."));
        std::fs::File::open(dir).and_then(|d| d.sync_all()).map_err(|e| GatewayError::io(dir, &e))
    }

    /// Whether `account` may deploy.
    pub fn contains(&self, account: &Address) -> bool {
        self.read().contains(account)
    }

    /// Every account that may deploy.
    pub fn accounts(&self) -> Vec<Address> {
        self.read().iter().copied().collect()
    }

    /// Lets `account` deploy; true when it was not on the list.
    pub fn add(&self, account: Address) -> GatewayResult<bool> {
        let mut accounts = self.write();
        let mut next = accounts.clone();
        let added = next.insert(account);
        if added {
            self.persist(&next)?;
            *accounts = next;
            info!(target: "gateway::allowlist", %account, "deployer added");
        }
        Ok(added)
    }

    /// Stops `account` from deploying; true when it was on the list.
    pub fn remove(&self, account: &Address) -> GatewayResult<bool> {
        let mut accounts = self.write();
        let mut next = accounts.clone();
        let removed = next.remove(account);
        if removed {
            self.persist(&next)?;
            *accounts = next;
            info!(target: "gateway::allowlist", %account, "deployer removed");
        }
        Ok(removed)
    }

    /// The admin JSON-RPC methods (serve them on the node's authenticated listener, never the
    /// public one): `gateway_deploymentAllowlist`, `gateway_allowDeployer(address)`,
    /// `gateway_disallowDeployer(address)`. Parameters are strict: anything but what each takes
    /// is refused with `-32602` naming it.
    pub fn admin_rpc_module(self: &std::sync::Arc<Self>) -> RpcModule<std::sync::Arc<Self>> {
        let mut module = RpcModule::new(std::sync::Arc::clone(self));
        let error = |e: GatewayError| ErrorObjectOwned::owned(-32000, e.to_string(), None::<()>);
        let list = module
            .register_method("gateway_deploymentAllowlist", |params, list, _| {
                match params.as_str().map(str::trim) {
                    None | Some("[]" | "{}" | "null") => Ok(list.accounts()),
                    Some(raw) => Err(invalid(format!(
                        "gateway_deploymentAllowlist takes no parameters, but was given {raw}"
                    ))),
                }
            })
            .is_ok();
        let allow = module
            .register_method("gateway_allowDeployer", move |params, list, _| {
                let account = one_address("gateway_allowDeployer", &params)?;
                list.add(account).map_err(error)
            })
            .is_ok();
        let disallow = module
            .register_method("gateway_disallowDeployer", move |params, list, _| {
                let account = one_address("gateway_disallowDeployer", &params)?;
                list.remove(&account).map_err(error)
            })
            .is_ok();
        // Method names are unique constants: registering cannot fail.
        debug_assert!(list && allow && disallow);
        module
    }
}

fn invalid(message: String) -> ErrorObjectOwned {
    ErrorObjectOwned::owned(-32602, message, None::<()>)
}

/// The one address `method` takes, as `["0x..."]`.
fn one_address(
    method: &str,
    params: &jsonrpsee::types::Params<'_>,
) -> Result<Address, ErrorObjectOwned> {
    let raw = params.as_str().unwrap_or("[]");
    serde_json::from_str::<[Address; 1]>(raw).map(|[account]| account).map_err(|e| {
        invalid(format!(
            "{method} takes one parameter, the account's address (\"0x\" and 40 hex characters), and was given {raw}: {e}"
        ))
    })
}
