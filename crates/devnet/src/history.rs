//! What an account had mined on a node: the end-to-end tests' "nothing sent twice" checks.

use alloy::{
    consensus::Transaction as _,
    eips::BlockNumberOrTag,
    network::TransactionResponse as _,
    primitives::{Address, B256, Bytes},
    providers::{Provider, ProviderBuilder},
    transports::http::reqwest::Url,
};

use crate::anvil::{DevnetError, DevnetResult};

/// One mined transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MinedTx {
    /// Its hash.
    pub hash: B256,
    /// The block that holds it.
    pub block: u64,
    /// Its nonce.
    pub nonce: u64,
    /// Whom it called (`None`: a deployment).
    pub to: Option<Address>,
    /// Its calldata.
    pub input: Bytes,
    /// False when it reverted.
    pub success: bool,
}

/// How long the whole read may take.
const READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// Every transaction `from` had mined on the node at `url`, oldest first (reads every block:
/// for devnet-sized chains; at most a minute).
pub async fn mined_from(url: &Url, from: Address) -> DevnetResult<Vec<MinedTx>> {
    tokio::time::timeout(READ_TIMEOUT, read_mined_from(url, from)).await.map_err(|_| {
        DevnetError::Rpc(format!("{url}: the history was not read within {READ_TIMEOUT:?}"))
    })?
}

async fn read_mined_from(url: &Url, from: Address) -> DevnetResult<Vec<MinedTx>> {
    let rpc = |what: &'static str| {
        move |e: alloy::transports::TransportError| DevnetError::Rpc(format!("{what}: {e}"))
    };
    let provider = ProviderBuilder::new().connect_http(url.clone());
    let tip = provider.get_block_number().await.map_err(rpc("eth_blockNumber"))?;
    let mut mined = Vec::new();
    for number in 0..=tip {
        let Some(block) = provider
            .get_block_by_number(BlockNumberOrTag::Number(number))
            .full()
            .await
            .map_err(rpc("eth_getBlockByNumber"))?
        else {
            continue;
        };
        for tx in block.transactions.txns().filter(|tx| tx.from() == from) {
            let receipt = provider
                .get_transaction_receipt(tx.tx_hash())
                .await
                .map_err(rpc("eth_getTransactionReceipt"))?
                .ok_or_else(|| DevnetError::Rpc(format!("no receipt for {}", tx.tx_hash())))?;
            mined.push(MinedTx {
                hash: tx.tx_hash(),
                block: number,
                nonce: tx.nonce(),
                to: tx.to(),
                input: tx.input().clone(),
                success: receipt.status(),
            });
        }
    }
    Ok(mined)
}

/// The batches a chain operator's mined transactions carried to its `ChainExecutor`, per
/// call, in mining order: with [`SettlementCalls::check_each_batch_once`] a test shows that
/// nothing was sent twice and nothing skipped.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SettlementCalls {
    /// The batch numbers of every successful `commitBatches`, in order.
    pub committed: Vec<u64>,
    /// ... of every successful `proveBatches`.
    pub proved: Vec<u64>,
    /// ... of every successful `executeBatches`.
    pub executed: Vec<u64>,
    /// Transactions to the executor that reverted (a duplicate send would).
    pub reverted: Vec<B256>,
    /// How many batches each successful `commitBatches` carried, in order.
    pub commit_tx_sizes: Vec<usize>,
    /// How many batches each successful `executeBatches` carried, in order.
    pub execute_tx_sizes: Vec<usize>,
}

impl SettlementCalls {
    /// Sorts `mined` (from [`mined_from`]) calls to `executor`.
    pub fn of(mined: &[MinedTx], executor: Address) -> DevnetResult<Self> {
        use alloy::sol_types::SolCall;
        use gateway_contracts::ChainExecutor::{
            commitBatchesCall, executeBatchesCall, proveBatchesCall,
        };
        let mut calls = Self::default();
        for tx in mined.iter().filter(|tx| tx.to == Some(executor)) {
            if !tx.success {
                calls.reverted.push(tx.hash);
                continue;
            }
            let bad = |e: alloy::sol_types::Error| DevnetError::Rpc(format!("{}: {e}", tx.hash));
            match tx.input.get(..4).map(|s| <[u8; 4]>::try_from(s).unwrap_or_default()) {
                Some(commitBatchesCall::SELECTOR) => {
                    let call = commitBatchesCall::abi_decode(&tx.input).map_err(bad)?;
                    calls.commit_tx_sizes.push(call.newBatches.len());
                    calls.committed.extend(call.newBatches.iter().map(|b| b.batchNumber));
                }
                Some(proveBatchesCall::SELECTOR) => calls.proved.extend(
                    proveBatchesCall::abi_decode(&tx.input)
                        .map_err(bad)?
                        .batches
                        .iter()
                        .map(|b| b.batchNumber),
                ),
                Some(executeBatchesCall::SELECTOR) => {
                    let call = executeBatchesCall::abi_decode(&tx.input).map_err(bad)?;
                    calls.execute_tx_sizes.push(call.batches.len());
                    calls.executed.extend(call.batches.iter().map(|b| b.batchNumber));
                }
                _ => {}
            }
        }
        Ok(calls)
    }

    /// Fails unless no call reverted and batches `1..=through` were each committed, proved and
    /// executed exactly once, in order (batches above `through` may be under way).
    pub fn check_each_batch_once(&self, through: u64) -> Result<(), String> {
        if !self.reverted.is_empty() {
            return Err(format!("reverted settlement transactions: {:?}", self.reverted));
        }
        for (stage, numbers) in
            [("commit", &self.committed), ("prove", &self.proved), ("execute", &self.executed)]
        {
            let settled: Vec<u64> = numbers.iter().copied().filter(|n| *n <= through).collect();
            if settled != (1..=through).collect::<Vec<_>>() {
                return Err(format!(
                    "{stage} carried batches {settled:?}, not 1..={through} once each"
                ));
            }
        }
        Ok(())
    }
}
