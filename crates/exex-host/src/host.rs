//! The host: a block source drives the [`ExExManager`], which feeds the installed ExExs
//! (reth's node builder and ExEx launcher, reduced to what an ExEx host needs).

use std::{future::Future, net::SocketAddr, path::PathBuf, sync::Arc, time::Duration};

use alloy::eips::BlockNumHash;
use eyre::WrapErr;
use futures::future::BoxFuture;
use jsonrpsee::{RpcModule, server::ServerHandle};
use reth_primitives_traits::NodePrimitives;
use tokio::{
    sync::{mpsc, watch},
    task::JoinSet,
};
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use crate::{
    BlockProvider, DEFAULT_EXEX_CHANNEL_CAPACITY, DEFAULT_EXEX_MANAGER_CAPACITY,
    DEFAULT_WAL_BLOCKS_WARNING, EthPrimitives, ExExContext, ExExHandle, ExExManager,
    ExExManagerHandle, FinishedExExHeight, HostComponents, Wal, WalHandle,
    auth::{AuthLayer, AuthRpcConfig, JwtSecret},
};

/// The host's settings, handed to every ExEx as `ctx.config` (reth's `NodeConfig`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostConfig {
    /// Where the host keeps its data: the WAL under `exex/wal`, ExEx stores beside it.
    pub datadir: PathBuf,
    /// Where the JSON-RPC server listens; `None` serves no RPC. It serves the methods hooks
    /// merge into [`RpcContext::modules`]: reads.
    pub http_addr: Option<SocketAddr>,
    /// The authenticated JSON-RPC listener (JWT, as reth's engine API) that serves the methods
    /// hooks merge into [`RpcContext::auth_modules`]: everything that changes state. `None`
    /// serves none of them (a warning names how many).
    pub auth: Option<AuthRpcConfig>,
    /// How many notifications the manager buffers.
    pub exex_manager_capacity: usize,
    /// How many notifications wait in each ExEx's channel.
    pub exex_channel_capacity: usize,
    /// Above this many blocks in the WAL the host warns.
    pub wal_blocks_warning: usize,
    /// The JSON-RPC endpoint of the node the host follows, when it follows one over RPC.
    pub source_url: Option<alloy::transports::http::reqwest::Url>,
}

impl HostConfig {
    /// Defaults for a host keeping its data in `datadir`.
    pub fn new(datadir: impl Into<PathBuf>) -> Self {
        Self {
            datadir: datadir.into(),
            http_addr: None,
            auth: None,
            exex_manager_capacity: DEFAULT_EXEX_MANAGER_CAPACITY,
            exex_channel_capacity: DEFAULT_EXEX_CHANNEL_CAPACITY,
            wal_blocks_warning: DEFAULT_WAL_BLOCKS_WARNING,
            source_url: None,
        }
    }

    /// The WAL directory, `<datadir>/exex/wal` as in reth.
    pub fn wal_dir(&self) -> PathBuf {
        self.datadir.join("exex").join("wal")
    }
}

/// What a block source gets to run with.
#[derive(Debug)]
pub struct SourceContext<N: NodePrimitives = EthPrimitives> {
    /// Where to send notifications; `send_async` waits while the manager is full.
    pub manager: ExExManagerHandle<N>,
    /// The last block the host delivered before it stopped, from the WAL; the source resumes
    /// after it, reverting first if it is no longer canonical.
    pub resume_from: Option<BlockNumHash>,
    /// The WAL, to rebuild blocks delivered before a restart.
    pub wal: WalHandle<N>,
    /// Where the source publishes the chain's finalized block.
    pub finalized: watch::Sender<Option<BlockNumHash>>,
    /// Cancelled when the host shuts down; the source then returns `Ok(())`.
    pub shutdown: CancellationToken,
}

/// Something that produces the canonical chain's notifications: a node to follow.
pub trait BlockSource<N: NodePrimitives = EthPrimitives>: Send + 'static {
    /// Read access to the same chain, for notification streams.
    fn provider(&self) -> Arc<dyn BlockProvider<N>>;

    /// Runs until `ctx.shutdown` is cancelled, sending notifications to the manager.
    fn run(self: Box<Self>, ctx: SourceContext<N>) -> BoxFuture<'static, eyre::Result<()>>;
}

/// The RPC modules ExExs add to the host's server (reth's `RpcContext`, reduced).
#[derive(Debug)]
pub struct RpcContext {
    /// The methods served on `--http`, to anyone who can reach it: merge reads into it.
    pub modules: RpcModule<()>,
    /// The methods served only on the authenticated listener (`--authrpc.*`): merge every
    /// method that changes state into it.
    pub auth_modules: RpcModule<()>,
}

/// A launched ExEx future.
pub type BoxExEx = BoxFuture<'static, eyre::Result<()>>;
type ExExLauncher<N> =
    Box<dyn FnOnce(ExExContext<N>) -> BoxFuture<'static, eyre::Result<BoxExEx>> + Send>;
type RpcHook = Box<dyn FnOnce(&mut RpcContext) -> eyre::Result<()> + Send>;

/// Builds and launches a host (reth's `NodeBuilder` with `install_exex`).
pub struct HostBuilder<N: NodePrimitives = EthPrimitives> {
    config: HostConfig,
    source: Box<dyn BlockSource<N>>,
    exexs: Vec<(String, ExExLauncher<N>)>,
    rpc_hooks: Vec<RpcHook>,
}

impl<N: NodePrimitives> std::fmt::Debug for HostBuilder<N> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HostBuilder")
            .field("config", &self.config)
            .field("exexs", &self.exexs.iter().map(|(id, _)| id).collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl<N: NodePrimitives> HostBuilder<N> {
    /// A host with `config` driven by `source`.
    pub fn new(config: HostConfig, source: impl BlockSource<N>) -> Self {
        Self { config, source: Box::new(source), exexs: Vec::new(), rpc_hooks: Vec::new() }
    }

    /// The host's configuration.
    pub const fn config(&self) -> &HostConfig {
        &self.config
    }

    /// Installs an ExEx: `exex` receives its context and returns (asynchronously) the ExEx
    /// future. That future must run as long as the host: if it returns, `Ok` or `Err`, the host
    /// stops with an error naming the ExEx.
    pub fn install_exex<F, R, E>(mut self, exex_id: impl Into<String>, exex: F) -> Self
    where
        F: FnOnce(ExExContext<N>) -> R + Send + 'static,
        R: Future<Output = eyre::Result<E>> + Send + 'static,
        E: Future<Output = eyre::Result<()>> + Send + 'static,
    {
        let launcher: ExExLauncher<N> = Box::new(move |ctx| {
            Box::pin(async move {
                let exex = exex(ctx).await?;
                Ok(Box::pin(exex) as BoxExEx)
            })
        });
        self.exexs.push((exex_id.into(), launcher));
        self
    }

    /// Installs the ExEx only when `cond` holds (for a config flag).
    pub fn install_exex_if<F, R, E>(self, cond: bool, exex_id: impl Into<String>, exex: F) -> Self
    where
        F: FnOnce(ExExContext<N>) -> R + Send + 'static,
        R: Future<Output = eyre::Result<E>> + Send + 'static,
        E: Future<Output = eyre::Result<()>> + Send + 'static,
    {
        if cond { self.install_exex(exex_id, exex) } else { self }
    }

    /// Adds RPC methods to the host's server, as reth's `extend_rpc_modules`.
    pub fn extend_rpc_modules<F>(mut self, hook: F) -> Self
    where
        F: FnOnce(&mut RpcContext) -> eyre::Result<()> + Send + 'static,
    {
        self.rpc_hooks.push(Box::new(hook));
        self
    }

    /// Opens the WAL, launches every ExEx, the manager, the RPC server and the block source.
    pub async fn launch(self) -> eyre::Result<HostHandle> {
        let Self { config, source, exexs, rpc_hooks } = self;
        crate::metrics::describe();
        let mut ids = std::collections::HashSet::new();
        for (id, _) in &exexs {
            if !ids.insert(id.clone()) {
                eyre::bail!("ExEx id {id:?} is installed twice; give each ExEx a unique id");
            }
        }
        let wal = Wal::<N>::open(config.wal_dir())
            .wrap_err_with(|| format!("opening the ExEx WAL in {}", config.wal_dir().display()))?
            .with_blocks_warning(config.wal_blocks_warning);
        let provider = source.provider();
        let head = match wal.head() {
            Some(head) => head,
            None => provider.best_block().await.wrap_err("reading the block source's tip")?,
        };
        let shutdown = CancellationToken::new();
        let components =
            HostComponents { provider: Arc::clone(&provider), shutdown: shutdown.clone() };

        let mut handles = Vec::with_capacity(exexs.len());
        let mut futures = Vec::with_capacity(exexs.len());
        for (id, launcher) in exexs {
            let (handle, events, notifications) = ExExHandle::new(
                id.clone(),
                config.exex_channel_capacity,
                Arc::clone(&provider),
                &wal,
            );
            let ctx = ExExContext {
                head,
                config: config.clone(),
                events,
                notifications,
                components: components.clone(),
            };
            let exex = launcher(ctx).await.wrap_err_with(|| format!("launching ExEx {id}"))?;
            info!(target: "exex::host", exex = %id, "ExEx launched");
            handles.push(handle);
            futures.push((id, exex));
        }

        let (finalized_tx, finalized_rx) = watch::channel(None);
        let manager =
            ExExManager::new(handles, config.exex_manager_capacity, wal.clone(), finalized_rx);
        let manager_handle = manager.handle();
        let (exit_tx, exit_rx) = mpsc::unbounded_channel::<eyre::Report>();
        let mut tasks = JoinSet::new();

        for (id, exex) in futures {
            let exit = exit_tx.clone();
            tasks.spawn(async move {
                let report = match exex.await {
                    Ok(()) => {
                        eyre::eyre!("ExEx {id} finished; an ExEx must run as long as the host")
                    }
                    Err(err) => err.wrap_err(format!("ExEx {id} crashed")),
                };
                let _ = exit.send(report);
            });
        }
        {
            let exit = exit_tx.clone();
            tasks.spawn(async move {
                let report = match manager.await {
                    Ok(()) => eyre::eyre!("the ExEx manager stopped"),
                    Err(err) => err.wrap_err("the ExEx manager failed"),
                };
                let _ = exit.send(report);
            });
        }

        let mut ctx = RpcContext { modules: RpcModule::new(()), auth_modules: RpcModule::new(()) };
        for hook in rpc_hooks {
            hook(&mut ctx)?;
        }
        let rpc = match config.http_addr {
            Some(addr) => {
                let server =
                    jsonrpsee::server::Server::builder().build(addr).await.wrap_err_with(|| {
                        format!("binding the JSON-RPC server to {addr} (--http.addr/--http.port)")
                    })?;
                let local = server.local_addr().wrap_err("reading the RPC server address")?;
                info!(target: "exex::host", %local, methods = ctx.modules.method_names().count(), "JSON-RPC server started");
                Some((local, server.start(ctx.modules)))
            }
            None => None,
        };
        let admin_methods = ctx.auth_modules.method_names().count();
        let auth = match &config.auth {
            _ if admin_methods == 0 => None,
            None => {
                warn!(target: "exex::host", methods = admin_methods, "the admin methods are not served: no authenticated RPC is configured (--authrpc.addr/--authrpc.port/--authrpc.jwtsecret)");
                None
            }
            Some(auth) => {
                let secret = JwtSecret::load_or_create(&auth.jwt_secret)
                    .wrap_err("--authrpc.jwtsecret: the authenticated RPC's secret")?;
                // HTTP only: a WebSocket connection would outlive its token.
                let server = jsonrpsee::server::Server::builder()
                    .set_config(jsonrpsee::server::ServerConfig::builder().http_only().build())
                    .set_http_middleware(tower::ServiceBuilder::new().layer(AuthLayer::new(secret)))
                    .build(auth.addr)
                    .await
                    .wrap_err_with(|| {
                        format!(
                            "binding the authenticated JSON-RPC server to {} (--authrpc.addr/--authrpc.port)",
                            auth.addr
                        )
                    })?;
                let local = server.local_addr().wrap_err("reading the auth RPC server address")?;
                if !local.ip().is_loopback() {
                    warn!(target: "exex::host", %local, "the authenticated RPC listens beyond loopback: keep the JWT secret file private");
                }
                info!(target: "exex::host", %local, methods = admin_methods, secret = %auth.jwt_secret.display(), "authenticated JSON-RPC server started");
                Some((local, server.start(ctx.auth_modules)))
            }
        };

        let source_ctx = SourceContext {
            manager: manager_handle.clone(),
            resume_from: wal.head(),
            wal: wal.handle(),
            finalized: finalized_tx,
            shutdown: shutdown.clone(),
        };
        {
            let exit = exit_tx;
            let shutdown = shutdown.clone();
            let run = source.run(source_ctx);
            tasks.spawn(async move {
                let result = run.await;
                if !shutdown.is_cancelled() {
                    let report = match result {
                        Ok(()) => eyre::eyre!("the block source stopped"),
                        Err(err) => err.wrap_err("the block source failed"),
                    };
                    let _ = exit.send(report);
                }
            });
        }

        Ok(HostHandle {
            rpc_addr: rpc.as_ref().map(|(addr, _)| *addr),
            rpc: rpc.map(|(_, handle)| handle),
            auth_addr: auth.as_ref().map(|(addr, _)| *addr),
            auth: auth.map(|(_, handle)| handle),
            finished_height: manager_handle.finished_height(),
            shutdown,
            exit: exit_rx,
            tasks,
        })
    }
}

/// A running host.
#[derive(Debug)]
pub struct HostHandle {
    rpc_addr: Option<SocketAddr>,
    rpc: Option<ServerHandle>,
    auth_addr: Option<SocketAddr>,
    auth: Option<ServerHandle>,
    finished_height: watch::Receiver<FinishedExExHeight>,
    shutdown: CancellationToken,
    exit: mpsc::UnboundedReceiver<eyre::Report>,
    tasks: JoinSet<()>,
}

impl HostHandle {
    /// Where the JSON-RPC server listens, if it runs.
    pub const fn rpc_addr(&self) -> Option<SocketAddr> {
        self.rpc_addr
    }

    /// Where the authenticated JSON-RPC server listens, if it runs.
    pub const fn auth_addr(&self) -> Option<SocketAddr> {
        self.auth_addr
    }

    /// The height every ExEx has finished.
    pub fn finished_height(&self) -> watch::Receiver<FinishedExExHeight> {
        self.finished_height.clone()
    }

    /// A token that stops the host when cancelled.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// Runs until the host stops: `Ok` after a requested shutdown, `Err` when an ExEx returned,
    /// or the manager or block source failed.
    pub async fn wait_for_node_exit(mut self) -> eyre::Result<()> {
        let result = tokio::select! {
            () = self.shutdown.cancelled() => Ok(()),
            report = self.exit.recv() => match report {
                Some(report) => Err(report),
                None => Err(eyre::eyre!("every host task stopped")),
            },
        };
        if let Err(err) = &result {
            error!(target: "exex::host", %err, "host stopping");
        }
        self.stop().await;
        result
    }

    /// Stops every task of the host and the RPC server.
    pub async fn stop(&mut self) {
        self.shutdown.cancel();
        for server in [self.rpc.take(), self.auth.take()].into_iter().flatten() {
            let _ = server.stop();
            let _ = tokio::time::timeout(Duration::from_secs(5), server.stopped()).await;
        }
        // Give the block source a moment to return cleanly, then abort the rest (ExExs run
        // until aborted).
        let _ = tokio::time::timeout(Duration::from_millis(200), async {
            while self.tasks.join_next().await.is_some() {}
        })
        .await;
        self.tasks.abort_all();
        while self.tasks.join_next().await.is_some() {}
    }
}
