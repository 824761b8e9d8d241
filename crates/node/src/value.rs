//! The devnet's value traffic: on every chain, a deposit from L1 (through the Bridgehub), a
//! withdrawal through the chain's `L2Bridge`, and the claim of each withdrawal on L1 once its
//! batch is final there, every `interval`; and the totals the status view shows per chain
//! (escrowed, deposited, withdrawn). Its L1 transactions come from an account of its own, not
//! the chain operator's, whose L1 nonces the chain's node uses.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use alloy::primitives::U256;
use devnet::{
    ChainTopology, Topology,
    bridge::{Withdrawal, claim, deposit, withdraw},
};
use gateway_contracts::Bridgehub;
use gateway_settlement::{ProofTarget, Settlement};
use tokio_util::sync::CancellationToken;
use tracing::warn;

/// What one deposit and one withdrawal move (wei).
const DEPOSIT_WEI: u64 = 10_000_000_000_000_000;
const WITHDRAWAL_WEI: u64 = 1_000_000_000_000_000;

/// One chain's value totals, as the status view shows them.
#[derive(Debug, Clone, Copy, Default)]
pub struct ValueTotals {
    /// What the Bridgehub holds for the chain (wei), as last read.
    pub escrowed: U256,
    /// Deposits requested by the devnet, and their value (wei).
    pub deposits: u64,
    /// Their value.
    pub deposited: U256,
    /// Withdrawals sent on the chain.
    pub withdrawals: u64,
    /// Withdrawals claimed on L1, and their value (wei).
    pub claimed: u64,
    /// Their value.
    pub withdrawn: U256,
}

/// Runs the value traffic of `chain` until `stop`; `totals` is updated as it goes.
pub async fn value_loop(
    topology: Topology,
    chain: ChainTopology,
    settlement: Settlement,
    interval: Duration,
    totals: Arc<Mutex<ValueTotals>>,
    stop: CancellationToken,
) {
    let mut unclaimed: Vec<Withdrawal> = Vec::new();
    let mut l1_key = None;
    loop {
        if l1_key.is_none() {
            match l1_user_key(&topology, chain.node.chain_id).await {
                Ok(key) => l1_key = Some(key),
                Err(err) => {
                    warn!(target: "gateway_node::devnet", chain = chain.node.chain_id, %err, "funding the value traffic's L1 account failed; trying again");
                }
            }
        }
        let result = match &l1_key {
            Some(key) => round(&topology, &chain, key, &settlement, &totals, &mut unclaimed).await,
            None => Ok(()),
        };
        if let Err(err) = result {
            warn!(target: "gateway_node::devnet", chain = chain.node.chain_id, %err, "value traffic failed");
        }
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(interval) => {}
        }
    }
}

/// The L1 account `chain_id`'s value traffic sends from (deposits, claims), made from the chain
/// id and funded on the devnet's L1 anvil. Not the chain operator's: the chain's node commits on
/// L1 with that key, and a deposit sent at the nonce of its pending commit left the commit
/// waiting.
async fn l1_user_key(topology: &Topology, chain_id: u64) -> eyre::Result<String> {
    let key = alloy::primitives::keccak256(format!("gateway-exex devnet value traffic {chain_id}"))
        .to_string();
    devnet::fund_key(&topology.l1.node.rpc_url, &key).await?;
    Ok(key)
}

fn totals_of(totals: &Mutex<ValueTotals>) -> std::sync::MutexGuard<'_, ValueTotals> {
    totals.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

async fn round(
    topology: &Topology,
    chain: &ChainTopology,
    l1_key: &str,
    settlement: &Settlement,
    totals: &Mutex<ValueTotals>,
    unclaimed: &mut Vec<Withdrawal>,
) -> eyre::Result<()> {
    let key = &chain.operator_key;
    let id = chain.node.chain_id;
    // Claim what is final on L1; a withdrawal whose claim fails is tried again next round.
    let mut still = Vec::new();
    for withdrawal in std::mem::take(unclaimed) {
        match claim_when_final(topology, chain, l1_key, settlement, &withdrawal).await {
            Ok(true) => {
                let mut t = totals_of(totals);
                t.claimed += 1;
                t.withdrawn += withdrawal.amount;
            }
            Ok(false) => still.push(withdrawal),
            Err(err) => {
                warn!(target: "gateway_node::devnet", chain = id, tx = %withdrawal.tx, %err, "claiming a withdrawal failed; trying again");
                still.push(withdrawal);
            }
        }
    }
    *unclaimed = still;
    // A deposit to the operator's account on the chain.
    let amount = U256::from(DEPOSIT_WEI);
    deposit(topology, l1_key, id, chain.operator, amount).await?;
    {
        let mut t = totals_of(totals);
        t.deposits += 1;
        t.deposited += amount;
    }
    // A withdrawal back to the operator's account on L1 (only what deposits brought in).
    if totals_of(totals).deposits > 1 {
        let sent = withdraw(chain, key, chain.operator, U256::from(WITHDRAWAL_WEI)).await?;
        unclaimed.push(sent);
        totals_of(totals).withdrawals += 1;
    }
    let l1 = devnet::signer_provider(topology.l1.node.rpc_url.clone(), l1_key)?;
    let escrowed = Bridgehub::new(topology.bridgehub, &l1).escrowed(U256::from(id)).call().await?;
    totals_of(totals).escrowed = escrowed;
    Ok(())
}

impl ValueTotals {
    /// As `status.json` writes them (wei as decimal strings).
    pub fn to_json(self) -> serde_json::Value {
        serde_json::json!({
            "escrowedWei": self.escrowed.to_string(),
            "deposits": self.deposits,
            "depositedWei": self.deposited.to_string(),
            "withdrawals": self.withdrawals,
            "claimed": self.claimed,
            "withdrawnWei": self.withdrawn.to_string(),
        })
    }
}

/// Claims `withdrawal` once the node has its L1 proof: true when paid out, false while it is
/// not final on L1.
async fn claim_when_final(
    topology: &Topology,
    chain: &ChainTopology,
    l1_key: &str,
    settlement: &Settlement,
    withdrawal: &Withdrawal,
) -> eyre::Result<bool> {
    let Some(answer) =
        settlement.message_proof(withdrawal.tx, withdrawal.log_index, ProofTarget::L1, None).await
    else {
        eyre::bail!("the chain's node serves no message proofs (interop is not configured)");
    };
    let answer = answer?;
    let Some(proof) = answer.proof else { return Ok(false) };
    let id = chain.node.chain_id;
    claim(topology, l1_key, id, answer.batch_number, withdrawal, proof.to_withdrawal_proof())
        .await?;
    Ok(true)
}

/// The value line of the status view for `chain_id`.
pub fn render(chain_id: u64, totals: &ValueTotals) -> String {
    let eth = |wei: U256| format!("{:.3}", f64::from(wei) / 1e18);
    format!(
        "chain {chain_id} value: escrowed {} ETH; deposited {} ETH in {}; withdrawn {} ETH in {} claims of {} sent",
        eth(totals.escrowed),
        eth(totals.deposited),
        totals.deposits,
        eth(totals.withdrawn),
        totals.claimed,
        totals.withdrawals
    )
}
