//! Interop on a chain's node: importing the Gateway's interop roots into the chain, and
//! building message proofs (`interop_getMessageProof`).
//!
//! **Import.** While the chain settles on the Gateway, the importer watches the Gateway
//! `MessageRoot`'s `NewInteropRoot` events and writes the newest root into the chain's
//! `InteropRoots` contract (`importRoot(gatewayBlock, root)`, one transaction per new root). The
//! ExEx reads the `RootImported` logs of each block; a batch commits to the rolling hash of the
//! roots its blocks imported (`dependencyRootsRollingHash`) and the executor on the Gateway
//! checks every one against its `MessageRoot.historicalRoot` when the batch executes, so a
//! forged root makes the batch fail to execute.
//!
//! **Proofs.** `interop_getMessageProof(txHash, logIndex[, target])` finds the `L2Messenger`
//! log, its batch, and the batch's place in its settlement layer's `MessageRoot` (rebuilt from
//! that contract's events), and returns the nested proof of
//! [`gateway_primitives::MessageProof`]:
//! - `target = "interop"` (default): against the newest interop root of the layer the batch
//!   executed on: a Gateway block's root (checked on other chains against their imported roots)
//!   or, for a batch executed on L1, an L1 block's root (`MessageRoot.historicalRoot` on L1).
//! - `target = "l1"`: for a batch executed on the Gateway, against the Gateway batch that carried
//!   it to L1 (`GatewayExecutor.sharedRootOf`), once L1-final.
//!
//! While the batch is not final enough the answer has `proof: null` and a `reason`.

mod mirror;

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use alloy::{
    primitives::{Address, B256, Bytes, U256},
    providers::{DynProvider, Provider, ProviderBuilder},
    rpc::types::Filter,
    sol_types::SolEvent,
};
use gateway_contracts::{GatewayExecutor, InteropRoots, L2Messenger, MessageRoot, MessageVerifier};
use gateway_primitives::{merkle_proof, message_leaf_of_log};
use gateway_store::Store;
use serde::Serialize;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use self::mirror::Mirror;
use crate::{
    config::{InteropConfig, SettlementConfig},
    error::{LayerCall, LayerError, SettlementError, SettlementResult},
    state::Pipeline,
    support::{lock, within},
};

/// Which root a proof should end at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProofTarget {
    /// The newest interop root of the layer the batch executed on.
    Interop,
    /// L1: the Gateway batch that carried it (or L1's own root for a batch executed on L1).
    L1,
}

/// Where a proof is checked: which `MessageVerifier` root source its `rootId` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RootKind {
    /// A Gateway block's interop root, as chains import it (`InteropRoots.interopRoot`).
    GatewayBlock,
    /// A Gateway batch's root on L1 (`GatewayExecutor.sharedRootOf`).
    GatewayBatch,
    /// An L1 block's interop root (`MessageRoot.historicalRoot` on L1).
    L1Block,
}

/// What `interop_getMessageProof` returns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MessageProofResponse {
    /// The chain that sent it.
    pub src_chain_id: u64,
    /// The batch holding it.
    pub batch_number: u64,
    /// Who sent it.
    pub sender: Address,
    /// What was sent.
    pub data: Bytes,
    /// Its leaf.
    pub leaf: B256,
    /// The proof, or `None` while not final enough (see `reason`).
    pub proof: Option<ProofJson>,
    /// Why there is no proof yet.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// A [`gateway_primitives::MessageProof`] as JSON, with the root it ends at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProofJson {
    /// What `root_id` names.
    pub root_kind: RootKind,
    /// A Gateway block, a Gateway batch or an L1 block (see `root_kind`).
    pub root_id: u64,
    /// The root itself.
    pub root: B256,
    /// See [`gateway_primitives::MessageProof`].
    pub message_index: u64,
    /// See [`gateway_primitives::MessageProof`].
    pub message_path: Vec<B256>,
    /// See [`gateway_primitives::MessageProof`].
    pub batch_index: u64,
    /// See [`gateway_primitives::MessageProof`].
    pub batch_path: Vec<B256>,
    /// See [`gateway_primitives::MessageProof`].
    pub chain_index: u64,
    /// See [`gateway_primitives::MessageProof`].
    pub chain_path: Vec<B256>,
}

impl ProofJson {
    /// The proof as `MessageVerifier.proveMessageInclusion` takes it.
    pub fn to_contract(&self) -> MessageVerifier::MessageProof {
        MessageVerifier::MessageProof {
            rootId: U256::from(self.root_id),
            messageIndex: U256::from(self.message_index),
            messagePath: self.message_path.clone(),
            batchIndex: U256::from(self.batch_index),
            batchPath: self.batch_path.clone(),
            chainIndex: U256::from(self.chain_index),
            chainPath: self.chain_path.clone(),
        }
    }

    /// The proof as `Bridgehub.finalizeWithdrawal` takes it (the same fields as
    /// [`Self::to_contract`]).
    pub fn to_withdrawal_proof(&self) -> gateway_contracts::Bridgehub::MessageProof {
        let p = self.to_contract();
        gateway_contracts::Bridgehub::MessageProof {
            rootId: p.rootId,
            messageIndex: p.messageIndex,
            messagePath: p.messagePath,
            batchIndex: p.batchIndex,
            batchPath: p.batchPath,
            chainIndex: p.chainIndex,
            chainPath: p.chainPath,
        }
    }
}

/// The Gateway's newest interop root as the importer last saw it.
#[derive(Debug, Default)]
struct NewestRoot {
    /// Gateway blocks read for `NewInteropRoot` events so far.
    scanned_through: u64,
    /// The newest root: its Gateway block, and the root.
    newest: Option<(u64, B256)>,
}

/// Interop on a chain's node: the importer and the proof builder.
#[derive(Debug)]
pub struct Interop {
    config: InteropConfig,
    chain_id: u64,
    messenger: Option<Address>,
    chain: DynProvider,
    gateway: DynProvider,
    l1: DynProvider,
    timeout: Duration,
    gateway_mirror: tokio::sync::Mutex<Mirror>,
    l1_mirror: tokio::sync::Mutex<Mirror>,
    /// The newest Gateway root seen (block, root) and the last block scanned for them.
    newest_root: Mutex<NewestRoot>,
    import_gate: tokio::sync::Mutex<()>,
    importer: Address,
    /// The chain block that holds the last import (0: none yet).
    last_import_block: std::sync::atomic::AtomicU64,
}

impl Interop {
    /// Interop for the chain `config` settles; `None` without interop settings.
    pub fn new(config: &SettlementConfig) -> SettlementResult<Option<Self>> {
        let Some(interop) = config.interop.clone() else { return Ok(None) };
        let importer_address = interop.importer_key.signer("interop importer")?.address();
        let chain = interop.importer_key.provider("interop importer", &interop.chain_rpc_url)?;
        let gateway = ProviderBuilder::new().connect_http(interop.gateway.rpc_url.clone()).erased();
        let l1 = ProviderBuilder::new().connect_http(interop.l1.rpc_url.clone()).erased();
        Ok(Some(Self {
            chain_id: config.chain_id,
            messenger: config.messenger,
            chain,
            gateway,
            l1,
            timeout: config.tx_timeout,
            config: interop,
            gateway_mirror: tokio::sync::Mutex::default(),
            l1_mirror: tokio::sync::Mutex::default(),
            newest_root: Mutex::default(),
            import_gate: tokio::sync::Mutex::new(()),
            importer: importer_address,
            last_import_block: std::sync::atomic::AtomicU64::new(0),
        }))
    }

    async fn within<T, E: Into<LayerError>>(
        &self,
        what: &str,
        call: impl std::future::IntoFuture<Output = Result<T, E>>,
    ) -> SettlementResult<T> {
        Ok(within(self.timeout, what, call).await?)
    }

    /// Runs the import task until `shutdown`: imports the Gateway's newest interop root into
    /// the chain while the chain settles on the Gateway and no migration runs (roots imported
    /// then could land in a batch settled on L1, which cannot check them).
    pub(crate) async fn run_imports(
        self: Arc<Self>,
        pipeline: Arc<Pipeline>,
        shutdown: CancellationToken,
    ) -> SettlementResult<()> {
        loop {
            {
                let _gate = self.import_gate().lock().await;
                // A store error counts as "migrating": better no import than a stray one.
                let migrating = !matches!(pipeline.running_migration(), Ok(None));
                if pipeline.active_config().layer.chain_id == self.config.gateway.chain_id
                    && !migrating
                {
                    let result = self.import_newest().await;
                    pipeline.record("interop", &result);
                }
            }
            tokio::select! {
                () = shutdown.cancelled() => return Ok(()),
                () = tokio::time::sleep(pipeline.config.poll_interval) => {}
            }
        }
    }

    /// Held while a root is imported, and by a migration while it starts: no import is under
    /// way once a migration drains, and none starts after.
    pub(crate) fn import_gate(&self) -> &tokio::sync::Mutex<()> {
        &self.import_gate
    }

    /// True when the importer has no transaction waiting in the chain's pool (an import sent
    /// before a timeout may still be mined later).
    pub(crate) async fn importer_idle(&self) -> SettlementResult<bool> {
        let importer = self.importer;
        let latest = self
            .within("the importer's nonce", self.chain.get_transaction_count(importer).latest())
            .await?;
        let pending = self
            .within(
                "the importer's pending nonce",
                self.chain.get_transaction_count(importer).pending(),
            )
            .await?;
        Ok(pending <= latest)
    }

    /// The chain's head block number.
    pub(crate) async fn chain_head(&self) -> SettlementResult<u64> {
        self.within("the chain's head", self.chain.get_block_number()).await
    }

    /// Imports the Gateway's newest interop root into the chain if it is newer than the last
    /// one imported; returns the Gateway block imported, if any.
    /// Imports ride on the chain's own activity: nothing is imported while the chain's newest
    /// block is still the one holding the last import (or two idle chains on one Gateway would
    /// keep each other busy: a batch changes the root, the other chain imports it in a new
    /// block, which makes a batch, which changes the root, ...).
    pub async fn import_newest(&self) -> SettlementResult<Option<u64>> {
        let chain_head = self.chain_head().await?;
        let last_import = self.last_import_block.load(std::sync::atomic::Ordering::Relaxed);
        if last_import != 0 && chain_head <= last_import {
            return Ok(None);
        }
        let tip = self.within("the Gateway's head", self.gateway.get_block_number()).await?;
        // Only roots that enough Gateway blocks follow: a shallower one can still be reorged
        // away after the chain imported it.
        let head = tip.saturating_sub(self.config.root_confirmations);
        let from = {
            let state = lock(&self.newest_root);
            state.scanned_through
        };
        if head > from || (from == 0 && tip >= self.config.root_confirmations) {
            let filter = Filter::new()
                .address(self.config.gateway.message_root)
                .event_signature(MessageRoot::NewInteropRoot::SIGNATURE_HASH)
                .from_block(from.saturating_add(u64::from(from > 0)))
                .to_block(head);
            let logs = self.within("NewInteropRoot events", self.gateway.get_logs(&filter)).await?;
            let mut state = lock(&self.newest_root);
            for log in logs {
                if let Ok(event) = MessageRoot::NewInteropRoot::decode_log_data(log.data()) {
                    state.newest = Some((event.blockNumber.saturating_to(), event.root));
                }
            }
            state.scanned_through = head;
        }
        let newest = lock(&self.newest_root).newest;
        let Some((block, root)) = newest else { return Ok(None) };
        // Still the Gateway's root at that block (a reorg deeper than the confirmations would
        // have replaced it): else forget it and scan again.
        let known = self
            .within(
                "MessageRoot.historicalRoot on the Gateway",
                MessageRoot::new(self.config.gateway.message_root, self.gateway.clone())
                    .historicalRoot(U256::from(block))
                    .call(),
            )
            .await?;
        if known != root {
            warn!(target: "settlement::interop", gateway_block = block, %root, %known, "the Gateway no longer has this interop root (reorged): not imported; scanning again");
            let mut state = lock(&self.newest_root);
            state.newest = None;
            state.scanned_through = block.saturating_sub(1);
            return Ok(None);
        }
        let roots = InteropRoots::new(self.config.interop_roots, self.chain.clone());
        let count: U256 =
            self.within("InteropRoots.importedCount", roots.importedCount().call()).await?;
        let last: U256 =
            self.within("InteropRoots.lastImportedBlock", roots.lastImportedBlock().call()).await?;
        if !count.is_zero() && last >= U256::from(block) {
            return Ok(None);
        }
        let pending =
            self.within("importRoot", roots.importRoot(U256::from(block), root).send()).await?;
        let receipt = self
            .within("importRoot receipt", pending.with_timeout(Some(self.timeout)).get_receipt())
            .await?;
        if !receipt.status() {
            return Err(LayerCall::new(
                format!("importRoot({block}, {root})"),
                LayerError::Reverted(receipt.transaction_hash),
            )
            .into());
        }
        if let Some(block) = receipt.block_number {
            self.last_import_block.store(block, std::sync::atomic::Ordering::Relaxed);
        }
        metrics::counter!("interop_roots_imported_total").increment(1);
        info!(target: "settlement::interop", gateway_block = block, %root, "imported the Gateway's interop root");
        Ok(Some(block))
    }

    /// `interop_getMessageProof`: the message of log `log_index` (the block-wide index) of
    /// transaction `tx_hash`, and its proof against `target`; `at_block` pins an interop
    /// root (a block of the batch's settlement layer whose root the verifier knows, such as the
    /// last root the destination chain imported) instead of the newest.
    pub async fn message_proof(
        &self,
        store: &Store,
        tx_hash: B256,
        log_index: u64,
        target: ProofTarget,
        at_block: Option<u64>,
    ) -> SettlementResult<MessageProofResponse> {
        let messenger = self.messenger.ok_or(SettlementError::NoMessenger)?;
        let receipt = self
            .within("the receipt", self.chain.get_transaction_receipt(tx_hash))
            .await?
            .ok_or_else(|| {
                SettlementError::Request(format!(
                    "transaction {tx_hash} has no receipt on the chain"
                ))
            })?;
        let log = receipt.inner.logs().iter().find(|l| l.log_index == Some(log_index)).ok_or_else(
            || SettlementError::Request(format!("transaction {tx_hash} has no log {log_index}")),
        )?;
        if log.address() != messenger
            || log.topics().first() != Some(&L2Messenger::MessageSent::SIGNATURE_HASH)
        {
            return Err(SettlementError::Request(format!(
                "log {log_index} of {tx_hash} is not a MessageSent of the messenger {messenger}"
            )));
        }
        let sent = L2Messenger::MessageSent::decode_log_data(log.data())
            .map_err(|e| LayerCall::new("the MessageSent log", e))?;
        let leaf = message_leaf_of_log(messenger, &log.data().data);
        let block_number = receipt.block_number.unwrap_or_default();
        let mut response = MessageProofResponse {
            src_chain_id: self.chain_id,
            batch_number: 0,
            sender: sent.sender,
            data: sent.data.clone(),
            leaf,
            proof: None,
            reason: None,
        };
        // A sealed block is stored until retention prunes it.
        let sealed_through = store.last_batch()?.map_or(0, |b| b.last_block);
        if block_number <= sealed_through && store.block(block_number)?.is_none() {
            response.reason = Some(format!(
                "block {block_number} was pruned from this node's store (L1-final and past --settlement.retention)"
            ));
            return Ok(response);
        }
        let Some(batch) = batch_of_block(store, block_number)? else {
            response.reason = Some(format!("block {block_number} is not in a sealed batch yet"));
            return Ok(response);
        };
        response.batch_number = batch.number;
        // The message's place among the batch's messages: the leaves of its earlier blocks, then
        // the messenger's MessageSent logs before it in its block.
        let mut leaves = Vec::new();
        let mut index = None;
        for block in store.blocks(batch.first_block..=batch.last_block)? {
            if block.number == block_number {
                let receipts = self
                    .within(
                        "the block's receipts",
                        self.chain.get_block_receipts(block_number.into()),
                    )
                    .await?
                    .unwrap_or_default();
                let before = receipts
                    .iter()
                    .flat_map(|r| r.inner.logs())
                    .filter(|l| {
                        l.address() == messenger
                            && l.topics().first() == Some(&L2Messenger::MessageSent::SIGNATURE_HASH)
                            && l.log_index.is_some_and(|i| i < log_index)
                    })
                    .count();
                index = Some(leaves.len() + before);
            }
            leaves.extend(block.message_leaves);
        }
        let message_index = index.filter(|i| leaves.get(*i) == Some(&leaf)).ok_or_else(|| {
            SettlementError::Corrupt(format!(
                "the store's message leaves of batch {} do not hold {leaf} where block {block_number} puts it",
                batch.number
            ))
        })?;
        let on_gateway = batch.sl_chain_id == self.config.gateway.chain_id;
        let (layer, provider, mirror) = if on_gateway {
            (&self.config.gateway, &self.gateway, &self.gateway_mirror)
        } else {
            (&self.config.l1, &self.l1, &self.l1_mirror)
        };
        let mut mirror = mirror.lock().await;
        mirror.refresh(store, layer, provider, self.timeout).await?;
        let Some(added) =
            store.mirror_batch(layer.chain_id, self.chain_id, batch.number)?.map(|(_, l)| l.block)
        else {
            response.reason = Some(format!(
                "batch {} is not executed on settlement layer {} yet",
                batch.number, batch.sl_chain_id
            ));
            return Ok(response);
        };
        let (kind, root_id, at_block) = match (on_gateway, target) {
            (true, ProofTarget::L1) => {
                let executor =
                    GatewayExecutor::new(self.config.gateway_executor_on_l1, self.l1.clone());
                let chain = U256::from(self.chain_id);
                let filter = executor.ChainBatchesFinal_filter().topic1(chain).from_block(0);
                let events = self.within("ChainBatchesFinal events", filter.query()).await?;
                let carried = events.iter().find(|(e, _)| {
                    e.fromBatch <= U256::from(batch.number) && U256::from(batch.number) <= e.toBatch
                });
                let Some((event, _)) = carried else {
                    let through: U256 = self
                        .within("lastFinalBatch", executor.lastFinalBatch(chain).call())
                        .await?;
                    response.reason = Some(format!(
                        "batch {} is executed on the Gateway (interop-final) but not yet carried to L1 (L1-final through {through})",
                        batch.number
                    ));
                    return Ok(response);
                };
                let gateway_batch: u64 = event.gatewayBatch.saturating_to();
                let root = self
                    .within("sharedRootOf", executor.sharedRootOf(event.gatewayBatch).call())
                    .await?;
                let at = store.mirror_block_of_root(layer.chain_id, root)?.ok_or_else(|| {
                    LayerCall::new(
                        "the Gateway's interop roots",
                        LayerError::Unexpected(format!(
                            "Gateway batch {gateway_batch}'s root {root} is not among them"
                        )),
                    )
                })?;
                (RootKind::GatewayBatch, gateway_batch, at)
            }
            (on_gateway, _) => {
                let kind = if on_gateway { RootKind::GatewayBlock } else { RootKind::L1Block };
                let at = match at_block {
                    Some(block) => {
                        if store.mirror_root_at(layer.chain_id, block)?.is_none() {
                            return Err(SettlementError::Request(format!(
                                "settlement layer {} recorded no interop root at block {block}",
                                layer.chain_id
                            )));
                        }
                        block
                    }
                    None => store
                        .mirror_root_at_or_before(layer.chain_id, u64::MAX)?
                        .map(|(b, _)| b)
                        .ok_or_else(|| {
                            SettlementError::Request(format!(
                                "settlement layer {} has no interop root yet",
                                layer.chain_id
                            ))
                        })?,
                };
                (kind, at, at)
            }
        };
        if at_block < added {
            response.reason = Some(format!(
                "the root at block {at_block} predates batch {}'s execution (block {added}): ask for a later root",
                batch.number
            ));
            return Ok(response);
        }
        let placement =
            match Mirror::place(store, layer.chain_id, self.chain_id, batch.number, at_block)? {
                Ok(placement) => placement,
                Err(mismatch) => {
                    mirror.forget(store, layer.chain_id)?;
                    return Err(mismatch.into());
                }
            };
        drop(mirror);
        response.proof = Some(ProofJson {
            root_kind: kind,
            root_id,
            root: placement.root,
            message_index: message_index as u64,
            message_path: merkle_proof(&leaves, message_index).unwrap_or_default(),
            batch_index: placement.batch_index,
            batch_path: placement.batch_path,
            chain_index: placement.chain_index,
            chain_path: placement.chain_path,
        });
        Ok(response)
    }
}

/// The sealed batch holding `block`, if any.
fn batch_of_block(
    store: &Store,
    block: u64,
) -> SettlementResult<Option<gateway_store::BatchRecord>> {
    let Some(last) = store.last_batch()? else { return Ok(None) };
    if block > last.last_block {
        return Ok(None);
    }
    // Batches are contiguous and ascending from the first one still stored (retention prunes
    // older ones): bisect on their numbers.
    let first = store.first_batch()?.map_or(1, |b| b.number);
    let (mut low, mut high) = (first, last.number);
    while low <= high {
        let mid = low + (high - low) / 2;
        let Some(batch) = store.batch(mid)? else { return Ok(None) };
        if block < batch.first_block {
            high = mid - 1;
        } else if block > batch.last_block {
            low = mid + 1;
        } else {
            return Ok(Some(batch));
        }
    }
    Ok(None)
}
