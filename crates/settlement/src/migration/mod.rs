//! Switching the settlement layer at runtime, L1 ⇄ Gateway, in-process and any number of times.
//!
//! A migration is a persisted state machine (`gateway_store::MigrationRecord`):
//!
//! ```text
//! Settling(L) ──settlement_migrate──▶ Draining(L→M) ──▶ Migrating(L→M) ──▶ Settling(M)
//!                                         │ settlement_cancel_migration
//!                                         ▼
//!                                     Settling(L)
//! ```
//!
//! - **Draining**: first the chain admin opens the move on the Bridgehub
//!   (`startMigrationToGateway` / `startMigrationFromGateway`): from then on the chain's new
//!   L1 -> L2 transactions are parked on L1, so the old layer's queue can only shrink. No batch
//!   is sealed any more (blocks keep flowing into the store), except the blocks up to the last
//!   one that processed an L1 -> L2 transaction or imported an interop root; the batches sealed
//!   for L are proved, committed and executed there as usual. Done when L's executor has
//!   executed every sealed batch, nothing is in flight, every operation routed to the chain
//!   through the Gateway reached its executor there (off the Gateway) and none waits; the last
//!   batch settled on L is recorded (`drainedThrough`).
//! - **Migrating**, every step decided from on-chain state (the Bridgehub and both executors
//!   are the truth) and so idempotent: L1 → Gateway: the chain admin's
//!   `Bridgehub.migrateToGateway` with the last batch (it deactivates the L1 executor), then the
//!   Gateway's executor is activated after that batch (by the relayer, which stands in for
//!   L1 → Gateway message delivery). Gateway → L1: the admin's `startMigrationFromGateway`, the
//!   relayer deactivates the Gateway's executor and, once the Gateway's own executor on L1
//!   holds the chain's last batch as L1-final (the Gateway's node settled it there; L1 refuses
//!   anything else with `NotFinalOnL1`), calls `finalizeMigrationFromGateway` (which activates
//!   the L1 executor). Then, on the new layer: the executor is active, its counters
//!   continue at `drainedThrough`, and the operator has every role (the admin grants them if
//!   not).
//! - **Settling(M)**: the next batch is sealed with `slChainId = M`, continuing the numbering.
//!   The node then forwards what the Bridgehub parked (`forwardParked`) to M's queue; a
//!   cancelled migration's request is cancelled on the Bridgehub and what was parked goes to L.
//!
//! A sent migration transaction is persisted before the node waits for it, so a restart waits
//! for that transaction instead of sending another.

mod error;
mod requests;
mod run;
mod transactions;

use std::{
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use alloy::{
    network::EthereumWallet,
    primitives::{Address, B256, U256},
    providers::{DynProvider, Provider},
};
use gateway_contracts::{Bridgehub, ChainExecutor, GatewayExecutor, convert};
use gateway_store::{InFlightSlot, MigrationPhase, MigrationRecord, Store};
use tracing::info;

pub use self::error::MigrationError;
pub(crate) use self::requests::{STEP_GIVEN_UP, STEP_TIDY, STEP_TIMED_OUT};
pub(crate) use self::run::{MigrationRunner, cancel_migration, migration_status};
use crate::{
    commitment::{last_block_to_drain, stored_info},
    config::{LayerKind, MigrationConfig, SettlementConfig},
    error::{LayerCall, LayerError, SettlementError},
    failpoint::failpoint,
    send::{Signer, broadcast_signed, confirm_broadcast},
    status::TxStage,
    support::{lock, within},
};

/// The trigger recorded for a migration asked for through `settlement_migrate`.
pub const RPC_TRIGGER: &str = "rpc";
/// Every operator role of a `ChainExecutor` (commit, prove, execute).
const ALL_ROLES: u8 = 7;

/// What one step of a running migration did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Advance {
    /// It waits for this.
    Waiting(String),
    /// It changed something; step again.
    Progressed,
    /// It is complete: the chain settles on the target.
    Completed,
    /// The Bridgehub no longer holds the move: the migration is given up, for this reason
    /// (a [`MigrationError::CancelledOnBridgehub`], rendered).
    Abandoned(String),
}

/// Unix milliseconds now.
pub(crate) fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or_default()
}

/// What a drain waits for.
#[derive(Debug)]
pub(crate) struct DrainWait {
    /// What, for the status.
    pub(crate) reason: String,
    /// How many priority operations wait on the old layer, when that is what it waits for.
    pub(crate) priority_ops: Option<u64>,
}

impl DrainWait {
    fn other(reason: String) -> Self {
        Self { reason, priority_ops: None }
    }
}

/// Drives migrations: the checks before one starts, the drain test, and the migrating steps.
#[derive(Debug)]
pub(crate) struct Migrator {
    base: Arc<SettlementConfig>,
    config: MigrationConfig,
    store: Arc<Store>,
    l1_admin: DynProvider,
    admin: Address,
    operator: Address,
    /// On L1 and on the Gateway, when this node may relay.
    relayer: Option<(DynProvider, DynProvider)>,
    gateway_admin: DynProvider,
    /// Signs the admin's transactions.
    admin_wallet: EthereumWallet,
    /// The relayer's account and wallet, when this node may relay.
    relayer_signer: Option<(Address, EthereumWallet)>,
    /// The migration transaction last held at the fee cap (counted once).
    held: Mutex<Option<B256>>,
    /// The migration transaction waited for, and since when (in this process): replaced with a
    /// higher fee once it waited the tx timeout.
    pending_since: Mutex<Option<(B256, Instant)>>,
}

/// Who signs a migration step, on which layer.
#[derive(Debug, Clone, Copy)]
enum Who {
    /// The chain's admin.
    Admin(LayerKind),
    /// The Gateway's relayer.
    Relayer(LayerKind),
}

impl Migrator {
    pub(crate) fn new(
        base: Arc<SettlementConfig>,
        config: MigrationConfig,
        store: Arc<Store>,
    ) -> Result<Self, MigrationError> {
        let admin_key = config.admin_key.clone().unwrap_or_else(|| base.operator_key.clone());
        let admin = admin_key.signer("chain admin")?.address();
        let operator = base.operator_key.signer("operator")?.address();
        let l1_admin = admin_key.provider("chain admin", &config.l1.rpc_url)?;
        let gateway_admin = admin_key.provider("chain admin", &config.gateway.rpc_url)?;
        let relayer = match &config.relayer_key {
            Some(key) => Some((
                key.provider("relayer", &config.l1.rpc_url)?,
                key.provider("relayer", &config.gateway.rpc_url)?,
            )),
            None => None,
        };
        let admin_wallet = EthereumWallet::from(admin_key.signer("chain admin")?);
        let relayer_signer = match &config.relayer_key {
            Some(key) => {
                let signer = key.signer("relayer")?;
                Some((signer.address(), EthereumWallet::from(signer)))
            }
            None => None,
        };
        Ok(Self {
            base,
            config,
            store,
            l1_admin,
            admin,
            operator,
            relayer,
            gateway_admin,
            admin_wallet,
            relayer_signer,
            held: Mutex::new(None),
            pending_since: Mutex::new(None),
        })
    }

    /// How `who` signs: its provider, wallet and account on the layer, and its slot for the
    /// transaction in flight.
    fn signer(&self, who: Who) -> Result<Signer<'_>, MigrationError> {
        let (provider, wallet, address, kind) = match who {
            Who::Admin(kind) => {
                let provider = match kind {
                    LayerKind::L1 => &self.l1_admin,
                    LayerKind::Gateway => &self.gateway_admin,
                };
                (provider, &self.admin_wallet, self.admin, kind)
            }
            Who::Relayer(kind) => {
                let (Some((l1, gateway)), Some((address, wallet))) =
                    (&self.relayer, &self.relayer_signer)
                else {
                    return Err(MigrationError::OnChain(
                        "a relayer's step, but no relayer key is configured (--settlement.relayer-key-file)".into(),
                    ));
                };
                let provider = match kind {
                    LayerKind::L1 => l1,
                    LayerKind::Gateway => gateway,
                };
                (provider, wallet, *address, kind)
            }
        };
        let endpoint = self.config.endpoint(kind);
        Ok(Signer {
            provider,
            wallet,
            address,
            layer: endpoint.chain_id,
            rpc_url: &endpoint.rpc_url,
            slot: InFlightSlot::Migration { layer: endpoint.chain_id, signer: address },
            held: &self.held,
        })
    }

    pub(crate) const fn config(&self) -> &MigrationConfig {
        &self.config
    }

    fn timeout(&self) -> Duration {
        self.base.tx_timeout
    }

    async fn read<T, E: Into<LayerError>>(
        &self,
        what: &str,
        call: impl std::future::IntoFuture<Output = Result<T, E>>,
    ) -> Result<T, MigrationError> {
        Ok(within(self.timeout(), what, call).await?)
    }

    fn bridgehub(&self) -> Bridgehub::BridgehubInstance<DynProvider> {
        Bridgehub::new(self.config.bridgehub, self.l1_admin.clone())
    }

    fn executor_on(&self, kind: LayerKind) -> ChainExecutor::ChainExecutorInstance<DynProvider> {
        let provider = match kind {
            LayerKind::L1 => self.l1_admin.clone(),
            LayerKind::Gateway => self.gateway_admin.clone(),
        };
        ChainExecutor::new(self.config.endpoint(kind).executor, provider)
    }

    /// `None` once the Gateway's executor on L1 holds batch `last` of this chain as its last
    /// final one (what `finalizeMigrationFromGateway` requires); else what the move waits for.
    async fn final_on_l1_through_gateway(
        &self,
        last: u64,
    ) -> Result<Option<String>, MigrationError> {
        let chain = U256::from(self.base.chain_id);
        let gateway = U256::from(self.config.gateway.chain_id);
        let l1 = U256::from(self.config.l1.chain_id);
        let on_l1 = self
            .read("Bridgehub.executorOn", self.bridgehub().executorOn(gateway, l1).call())
            .await?;
        let executor = GatewayExecutor::new(on_l1, self.l1_admin.clone());
        let final_batch: u64 = self
            .read("GatewayExecutor.lastFinalBatch", executor.lastFinalBatch(chain).call())
            .await?
            .saturating_to();
        Ok((final_batch < last).then(|| {
            format!(
                "batch {last} to be L1-final through the Gateway (L1 holds {final_batch}): the Gateway's node settles it on L1"
            )
        }))
    }

    /// The settlement layer the Bridgehub has for the chain.
    pub(crate) async fn bridgehub_layer(&self) -> Result<u64, MigrationError> {
        let chain = U256::from(self.base.chain_id);
        let layer = self
            .read("Bridgehub.settlementLayer", self.bridgehub().settlementLayer(chain).call())
            .await?;
        Ok(layer.saturating_to())
    }

    /// The on-chain refusals: the chain and its admin on the Bridgehub, the target whitelisted
    /// (a Gateway) and the chain registered there.
    pub(crate) async fn check_target(&self, target: LayerKind) -> Result<(), MigrationError> {
        let bridgehub = self.bridgehub();
        let chain = U256::from(self.base.chain_id);
        let info = self.read("Bridgehub.chains", bridgehub.chains(chain).call()).await?;
        if !info.registered {
            return Err(MigrationError::ChainNotRegistered {
                chain_id: self.base.chain_id,
                bridgehub: self.config.bridgehub,
            });
        }
        if info.admin != self.admin {
            return Err(MigrationError::NotChainAdmin {
                chain_id: self.base.chain_id,
                admin: info.admin,
                key: self.admin,
            });
        }
        let layer = self.config.endpoint(target).chain_id;
        if target == LayerKind::Gateway {
            let whitelisted = self
                .read("Bridgehub.whitelisted", bridgehub.whitelisted(U256::from(layer)).call())
                .await?;
            if !whitelisted {
                return Err(MigrationError::NotWhitelisted {
                    layer,
                    bridgehub: self.config.bridgehub,
                });
            }
        }
        let executor = self
            .read("Bridgehub.executorOn", bridgehub.executorOn(chain, U256::from(layer)).call())
            .await?;
        if executor == Address::ZERO {
            return Err(MigrationError::NotRegisteredOn { chain_id: self.base.chain_id, layer });
        }
        Ok(())
    }

    /// Draining: `Some(last batch settled on the old layer)` once every sealed batch is
    /// executed there, nothing is in flight and no priority operation waits; else what it waits
    /// for.
    pub(crate) async fn drained(
        &self,
        from: LayerKind,
    ) -> Result<Result<u64, DrainWait>, MigrationError> {
        // One read: a batch the batcher seals meanwhile (draining off the Gateway) is caught by
        // the transition's own check that the last batch is still this one.
        let last_batch = self.store.last_batch()?;
        let last = last_batch.as_ref().map(|b| b.number).unwrap_or_default();
        let sealed_to = last_batch.as_ref().map(|b| b.last_block).unwrap_or_default();
        let executor = self.executor_on(from);
        let executed: u64 = self
            .read("totalBatchesExecuted", executor.totalBatchesExecuted().call())
            .await?
            .saturating_to();
        if executed < last {
            return Ok(Err(DrainWait::other(format!(
                "{} sealed batch(es) to be executed on {} (executed {executed} of {last})",
                last - executed,
                from.as_str()
            ))));
        }
        let head = self.store.last_block()?.map(|b| b.number).unwrap_or_default();
        if let Some(block) = last_block_to_drain(&self.store, sealed_to + 1, head)? {
            return Ok(Err(DrainWait::other(format!(
                "block {block}, which imported an interop root or processed an L1 -> L2 transaction, to be sealed and settled on {}",
                from.as_str()
            ))));
        }
        if let Some(tx) = self.store.in_flight()? {
            return Ok(Err(DrainWait::other(format!(
                "the {} transaction {} to be mined",
                TxStage::name_of(tx.stage),
                tx.hash
            ))));
        }
        if from == LayerKind::Gateway {
            let unforwarded = self.unforwarded_through_gateway().await?;
            if unforwarded > 0 {
                return Ok(Err(DrainWait {
                    reason: format!(
                        "{unforwarded} L1 -> L2 transaction(s) the Bridgehub routed through the Gateway to reach the chain's executor there (the Gateway's node forwards them)"
                    ),
                    priority_ops: Some(unforwarded),
                }));
            }
        }
        let pending: u64 = self
            .read("pendingPriorityOps", executor.pendingPriorityOps().call())
            .await?
            .saturating_to();
        if pending > 0 {
            return Ok(Err(DrainWait {
                reason: format!(
                    "{pending} priority operation(s) pending on {} to be processed",
                    from.as_str()
                ),
                priority_ops: Some(pending),
            }));
        }
        Ok(Ok(last))
    }

    /// One step of `Migrating`: at most one transaction, decided from on-chain state. Persists
    /// what it sent in `record` (the caller's copy is updated too).
    pub(crate) async fn advance(
        &self,
        record: &mut MigrationRecord,
    ) -> Result<Advance, MigrationError> {
        if let Some(waiting) = self.settle_pending_tx(record).await? {
            return Ok(Advance::Waiting(waiting));
        }
        let to = self.config.kind_of(record.toLayer).ok_or_else(|| {
            MigrationError::OnChain(format!(
                "migration {} goes to unknown layer {}",
                record.id, record.toLayer
            ))
        })?;
        let last = record.drainedThrough;
        let info = stored_info(&self.store, &self.base, last)?;
        let on_bridgehub = self.bridgehub_layer().await?;
        let chain = U256::from(self.base.chain_id);
        if on_bridgehub == record.fromLayer
            && let Some(advance) = self.cancelled_on_bridgehub(record, &info).await?
        {
            return Ok(advance);
        }
        match to {
            LayerKind::Gateway if on_bridgehub == self.config.l1.chain_id => {
                let bridgehub = self.bridgehub();
                let call = bridgehub.migrateToGateway(
                    chain,
                    U256::from(record.toLayer),
                    convert(&info).map_err(crate::error::SettlementError::from)?,
                );
                return self
                    .send(record, Who::Admin(LayerKind::L1), "Bridgehub.migrateToGateway", call, 0)
                    .await;
            }
            LayerKind::L1 if on_bridgehub == self.config.gateway.chain_id => {
                // (The admin's startMigrationFromGateway was sent before the drain.)
                let Some((l1_relayer, gateway_relayer)) = &self.relayer else {
                    return Ok(Advance::Waiting("the Gateway's relayer to deactivate the chain's Gateway executor and finalize the migration on L1".into()));
                };
                let on_gateway =
                    ChainExecutor::new(self.config.gateway.executor, gateway_relayer.clone());
                // L1 cannot check the last batch coming back from the Gateway: the node does,
                // so L1 goes on exactly where the Gateway stopped.
                self.require_settled_through(LayerKind::Gateway, last, &info).await?;
                if self.read("active", on_gateway.active().call()).await? {
                    return self
                        .send(
                            record,
                            Who::Relayer(LayerKind::Gateway),
                            "deactivate on the Gateway",
                            on_gateway.deactivate(),
                            0,
                        )
                        .await;
                }
                // L1 takes the chain back only after `last` is L1-final through the Gateway.
                if let Some(waiting) = self.final_on_l1_through_gateway(last).await? {
                    return Ok(Advance::Waiting(waiting));
                }
                let bridgehub = Bridgehub::new(self.config.bridgehub, l1_relayer.clone());
                let call = bridgehub.finalizeMigrationFromGateway(
                    chain,
                    convert(&info).map_err(crate::error::SettlementError::from)?,
                );
                return self
                    .send(
                        record,
                        Who::Relayer(LayerKind::L1),
                        "Bridgehub.finalizeMigrationFromGateway",
                        call,
                        0,
                    )
                    .await;
            }
            _ if on_bridgehub == record.toLayer => {}
            _ => {
                return Err(MigrationError::OnChain(format!(
                    "the Bridgehub says chain {} settles on {on_bridgehub}, neither the migration's source {} nor its target {}",
                    self.base.chain_id, record.fromLayer, record.toLayer
                )));
            }
        }
        // The Bridgehub has the target: the executor there must be live after `last`.
        let executor = self.executor_on(to);
        if !self.read("active", executor.active().call()).await? {
            if to == LayerKind::L1 {
                return Ok(Advance::Waiting(
                    "the L1 executor to be activated (finalizeMigrationFromGateway)".into(),
                ));
            }
            let Some((_, gateway_relayer)) = &self.relayer else {
                return Ok(Advance::Waiting(
                    "the Gateway's relayer to activate the chain's executor on the Gateway".into(),
                ));
            };
            let on_gateway =
                ChainExecutor::new(self.config.gateway.executor, gateway_relayer.clone());
            let call =
                on_gateway.activate(convert(&info).map_err(crate::error::SettlementError::from)?);
            return self
                .send(record, Who::Relayer(LayerKind::Gateway), "activate on the Gateway", call, 0)
                .await;
        }
        self.require_settled_through(to, last, &info).await?;
        let roles =
            self.read("operatorRoles", executor.operatorRoles(self.operator).call()).await?;
        if roles & ALL_ROLES != ALL_ROLES {
            let admin: Address = self.read("admin", executor.admin().call()).await?;
            if admin != self.admin {
                return Err(MigrationError::OnChain(format!(
                    "the operator {} lacks roles on {}'s executor (has {roles:#b}) and the admin key is not its admin {admin}: its admin must call setOperator",
                    self.operator,
                    to.as_str()
                )));
            }
            return self
                .send(
                    record,
                    Who::Admin(to),
                    "setOperator",
                    executor.setOperator(self.operator, ALL_ROLES),
                    0,
                )
                .await;
        }
        Ok(Advance::Completed)
    }

    /// The executor on `layer` has committed and executed exactly through `last`, holding it
    /// as `info`.
    async fn require_settled_through(
        &self,
        layer: LayerKind,
        last: u64,
        info: &gateway_primitives::StoredBatchInfo,
    ) -> Result<(), MigrationError> {
        let executor = self.executor_on(layer);
        let executed: u64 = self
            .read("totalBatchesExecuted", executor.totalBatchesExecuted().call())
            .await?
            .saturating_to();
        let committed: u64 = self
            .read("totalBatchesCommitted", executor.totalBatchesCommitted().call())
            .await?
            .saturating_to();
        if executed != last || committed != last {
            return Err(MigrationError::OnChain(format!(
                "the executor on {} is at batch {executed} (committed {committed}), the chain's last settled batch is {last}",
                layer.as_str()
            )));
        }
        let hash =
            self.read("storedBatchHash", executor.storedBatchHash(U256::from(last)).call()).await?;
        let expected = gateway_primitives::stored_batch_hash(info);
        if hash != expected {
            return Err(MigrationError::OnChain(format!(
                "the executor on {} holds batch {last} as {hash}, the chain's is {expected}",
                layer.as_str()
            )));
        }
        Ok(())
    }

    /// The executor on `layer`'s `totalBatchesExecuted`.
    pub(crate) async fn executed_on(&self, layer: LayerKind) -> Result<u64, MigrationError> {
        let executor = self.executor_on(layer);
        Ok(self
            .read("totalBatchesExecuted", executor.totalBatchesExecuted().call())
            .await?
            .saturating_to())
    }
}

/// Marks `record` as entering `phase` now.
pub(crate) fn enter(record: &mut MigrationRecord, phase: MigrationPhase) {
    let now = now_ms();
    let seconds = now.saturating_sub(record.phaseStartedAtMs) as f64 / 1000.0;
    if let Ok(old) = record.migration_phase() {
        metrics::histogram!("settlement_migration_phase_seconds", "phase" => old.as_str())
            .record(seconds);
    }
    record.set_phase(phase);
    record.phaseStartedAtMs = now;
    if !phase.is_running() {
        record.finishedAtMs = now;
        metrics::counter!("settlement_migrations_total", "outcome" => phase.as_str()).increment(1);
    }
}
