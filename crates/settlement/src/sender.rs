//! The sender: commits, proves and executes batches on the settlement layer.
//!
//! It decides what to send from the executor's on-chain counters, which are the truth: after a
//! restart or a lost transaction it simply sends what the counters say is missing, so nothing is
//! sent twice and nothing is skipped.

use std::sync::Arc;

use alloy::{
    network::EthereumWallet,
    primitives::{Bytes, U256},
    providers::{DynProvider, Provider, ProviderBuilder},
    signers::local::PrivateKeySigner,
};
use gateway_contracts::{ChainExecutor, convert};
use gateway_primitives::StoredBatchInfo;
use gateway_prover::{BatchProof, ProofBackend};
use gateway_store::{BatchStage, Store};
use tracing::info;

use crate::{
    SettlementConfig, SettlementError, SettlementResult,
    batcher::{decode_commit_info, stored_info},
    prover::batch_public_input,
};

/// The executor's counters on the settlement layer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct OnChainCounters {
    /// `totalBatchesCommitted`.
    pub committed: u64,
    /// `totalBatchesVerified`.
    pub proved: u64,
    /// `totalBatchesExecuted`.
    pub executed: u64,
}

/// What one step of the sender did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SenderAction {
    /// Committed batches `from..=to`.
    Committed(u64, u64),
    /// Proved batches `from..=to`.
    Proved(u64, u64),
    /// Executed batches `from..=to`.
    Executed(u64, u64),
    /// Nothing to do.
    Idle,
}

/// Sends the chain's batches to its executor on the settlement layer.
#[derive(Debug)]
pub struct Sender {
    config: Arc<SettlementConfig>,
    store: Arc<Store>,
    backend: Arc<dyn ProofBackend>,
    executor: ChainExecutor::ChainExecutorInstance<DynProvider>,
}

impl Sender {
    /// A sender signing with the configured operator key.
    pub fn new(
        config: Arc<SettlementConfig>,
        store: Arc<Store>,
        backend: Arc<dyn ProofBackend>,
    ) -> SettlementResult<Self> {
        let signer: PrivateKeySigner = config.operator_key.expose().parse().map_err(|e| {
            SettlementError::Config(format!("the operator key does not parse: {e}"))
        })?;
        let provider = ProviderBuilder::new()
            .disable_recommended_fillers()
            .with_gas_estimation()
            .with_simple_nonce_management()
            .fetch_chain_id()
            .wallet(EthereumWallet::from(signer))
            .connect_http(config.layer.rpc_url.clone())
            .erased();
        let executor = ChainExecutor::new(config.layer.executor, provider);
        Ok(Self { config, store, backend, executor })
    }

    /// The executor's counters.
    pub async fn counters(&self) -> SettlementResult<OnChainCounters> {
        let timeout = self.config.tx_timeout;
        let read = async {
            let committed = self.executor.totalBatchesCommitted().call().await?;
            let proved = self.executor.totalBatchesVerified().call().await?;
            let executed = self.executor.totalBatchesExecuted().call().await?;
            Ok::<_, alloy::contract::Error>(OnChainCounters {
                committed: committed.to(),
                proved: proved.to(),
                executed: executed.to(),
            })
        };
        tokio::time::timeout(timeout, read)
            .await
            .map_err(|_| {
                SettlementError::Layer(format!(
                    "no answer from {} within {timeout:?}",
                    self.config.layer.rpc_url
                ))
            })?
            .map_err(|e| SettlementError::Layer(format!("reading the executor's counters: {e}")))
    }

    /// Raises the stored stages to what the counters show.
    pub fn sync_stages(&self, counters: OnChainCounters) -> SettlementResult<()> {
        let upto = counters.committed.max(counters.executed);
        if upto == 0 {
            return Ok(());
        }
        let batches = self.store.batches(1..=upto)?;
        let changed: Vec<_> = batches
            .into_iter()
            .filter_map(|mut batch| {
                let stage = if batch.number <= counters.executed {
                    BatchStage::Executed
                } else if batch.number <= counters.proved {
                    BatchStage::ProvedOnChain
                } else {
                    BatchStage::Committed
                };
                (batch.stage < stage).then(|| {
                    batch.stage = stage;
                    batch
                })
            })
            .collect();
        if !changed.is_empty() {
            self.store.write(|tx| changed.iter().try_for_each(|b| tx.put_batch(b)))?;
        }
        Ok(())
    }

    /// Sends at most one transaction: execute what is proved, else prove what is committed and
    /// proved locally, else commit what is sealed.
    pub async fn step(&self, counters: OnChainCounters) -> SettlementResult<SenderAction> {
        let max = self.config.max_batches_per_tx.max(1) as u64;
        if counters.proved > counters.executed {
            let (from, to) = (counters.executed + 1, counters.proved.min(counters.executed + max));
            let infos = self.stored_infos(from, to)?;
            let call = self.executor.executeBatches(infos);
            self.send("execute", from, to, call.send().await).await?;
            return Ok(SenderAction::Executed(from, to));
        }
        if counters.committed > counters.proved {
            let from = counters.proved + 1;
            let mut proofs = Vec::new();
            for number in from..=counters.committed.min(counters.proved + max) {
                let Some(batch) = self.store.batch(number)? else { break };
                if batch.proof.is_empty() {
                    break;
                }
                let input = batch_public_input(&self.store, &self.config, number)?;
                proofs.push(BatchProof {
                    backend: self.backend.kind(),
                    input,
                    bytes: batch.proof.into(),
                });
            }
            if !proofs.is_empty() {
                let to = from + proofs.len() as u64 - 1;
                let prev = convert(&stored_info(&self.store, &self.config, from - 1)?)?;
                let infos = self.stored_infos(from, to)?;
                let calldata: Bytes = self.backend.batches_calldata(&proofs);
                let call = self.executor.proveBatches(prev, infos, calldata);
                self.send("prove", from, to, call.send().await).await?;
                return Ok(SenderAction::Proved(from, to));
            }
        }
        let from = counters.committed + 1;
        let mut batches = Vec::new();
        for number in from..from + max {
            let Some(batch) = self.store.batch(number)? else { break };
            if batch.sl_chain_id != self.config.layer.chain_id {
                return Err(SettlementError::WrongLayer {
                    batch: number,
                    built_for: batch.sl_chain_id,
                    layer: self.config.layer.chain_id,
                });
            }
            batches
                .push(convert::<_, ChainExecutor::CommitBatchInfo>(&decode_commit_info(&batch)?)?);
        }
        if batches.is_empty() {
            return Ok(SenderAction::Idle);
        }
        let to = from + batches.len() as u64 - 1;
        let prev = convert(&stored_info(&self.store, &self.config, from - 1)?)?;
        let call = self.executor.commitBatches(prev, batches);
        self.send("commit", from, to, call.send().await).await?;
        Ok(SenderAction::Committed(from, to))
    }

    fn stored_infos(
        &self,
        from: u64,
        to: u64,
    ) -> SettlementResult<Vec<ChainExecutor::StoredBatchInfo>> {
        (from..=to)
            .map(|n| {
                let info: StoredBatchInfo = stored_info(&self.store, &self.config, n)?;
                Ok(convert(&info)?)
            })
            .collect()
    }

    async fn send(
        &self,
        stage: &'static str,
        from: u64,
        to: u64,
        sent: Result<
            alloy::providers::PendingTransactionBuilder<alloy::network::Ethereum>,
            alloy::contract::Error,
        >,
    ) -> SettlementResult<()> {
        let pending = sent.map_err(|e| {
            SettlementError::Layer(format!("{stage} batches {from}..={to}: {}", describe(&e)))
        })?;
        let hash = *pending.tx_hash();
        metrics::counter!("settlement_txs_sent_total", "stage" => stage).increment(1);
        let receipt =
            pending.with_timeout(Some(self.config.tx_timeout)).get_receipt().await.map_err(
                |e| SettlementError::Layer(format!("{stage} batches {from}..={to} ({hash}): {e}")),
            )?;
        if !receipt.status() {
            return Err(SettlementError::Layer(format!(
                "{stage} batches {from}..={to} reverted in {hash}"
            )));
        }
        metrics::counter!("settlement_gas_used_total", "stage" => stage)
            .increment(receipt.gas_used);
        let fee = U256::from(receipt.gas_used) * U256::from(receipt.effective_gas_price);
        metrics::counter!("settlement_fees_wei_total", "stage" => stage)
            .increment(fee.saturating_to::<u64>());
        info!(target: "settlement::sender", stage, from, to, %hash, gas = receipt.gas_used, "sent");
        Ok(())
    }
}

/// The contract's custom error by name when there is one, else the transport's message.
fn describe(err: &alloy::contract::Error) -> String {
    match err.as_decoded_interface_error::<ChainExecutor::ChainExecutorErrors>() {
        Some(decoded) => format!("{decoded:?}"),
        None => err.to_string(),
    }
}
