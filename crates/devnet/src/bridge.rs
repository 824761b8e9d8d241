//! What a user of the bridge does, on a devnet's nodes: deposit from L1 to a chain
//! (`Bridgehub.requestL2Transaction`), withdraw from a chain to L1 (`L2Bridge.withdraw`) and
//! claim the withdrawal on L1 once its batch is final there (`Bridgehub.finalizeWithdrawal`,
//! with the proof a chain node's `interop_getMessageProof(tx, logIndex, "l1")` serves).

use alloy::{
    primitives::{Address, B256, Bytes, U256},
    rpc::types::TransactionReceipt,
    sol_types::SolEvent,
};
use gateway_contracts::{Bridgehub, L2Bridge, L2Messenger};

use crate::{
    anvil::{DevnetError, DevnetResult},
    topology::{ChainTopology, L2_BRIDGE_ADDRESS, PRIORITY_OP_FEE_WEI, Topology},
    tx::{send, signer_provider},
};

/// The gas a plain deposit (value to an account) asks for on the chain.
pub const DEPOSIT_GAS_LIMIT: u64 = 50_000;

/// Deposits `amount` from L1 (signed with `key`) to `to` on chain `chain_id`, paying the
/// devnet's fee for an L1 -> L2 transaction; its receipt on L1.
pub async fn deposit(
    topology: &Topology,
    key: &str,
    chain_id: u64,
    to: Address,
    amount: U256,
) -> DevnetResult<TransactionReceipt> {
    let l1 = signer_provider(topology.l1.node.rpc_url.clone(), key)?;
    let bridgehub = Bridgehub::new(topology.bridgehub, &l1);
    let call = bridgehub
        .requestL2Transaction(
            U256::from(chain_id),
            to,
            amount,
            Bytes::new(),
            U256::from(DEPOSIT_GAS_LIMIT),
            Address::ZERO,
        )
        .value(amount + U256::from(PRIORITY_OP_FEE_WEI));
    send("a deposit", call.send()).await
}

/// A withdrawal sent on a chain: its transaction and the log index of its L2 -> L1 message
/// (what `interop_getMessageProof` takes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Withdrawal {
    /// The transaction on the chain.
    pub tx: B256,
    /// Its `MessageSent` log's index in the block.
    pub log_index: u64,
    /// Who receives it on L1.
    pub receiver: Address,
    /// How much.
    pub amount: U256,
}

/// Withdraws `amount` on `chain` (signed with `key`) to `receiver` on L1.
pub async fn withdraw(
    chain: &ChainTopology,
    key: &str,
    receiver: Address,
    amount: U256,
) -> DevnetResult<Withdrawal> {
    let l2 = signer_provider(chain.node.rpc_url.clone(), key)?;
    let bridge = L2Bridge::new(L2_BRIDGE_ADDRESS, &l2);
    let call = bridge.withdraw(receiver).value(amount);
    let receipt = send("a withdrawal", call.send()).await?;
    let log_index = receipt
        .inner
        .logs()
        .iter()
        .find(|l| l.topics().first() == Some(&L2Messenger::MessageSent::SIGNATURE_HASH))
        .and_then(|l| l.log_index)
        .ok_or_else(|| {
            DevnetError::Rpc(format!(
                "the withdrawal {} sent no L2 -> L1 message",
                receipt.transaction_hash
            ))
        })?;
    Ok(Withdrawal { tx: receipt.transaction_hash, log_index, receiver, amount })
}

/// Claims `withdrawal` of chain `chain_id` on L1 (signed with `key`), sent in batch
/// `batch_number` and proven by `proof` (the node's `"l1"` proof, as
/// `ProofJson::to_withdrawal_proof` converts it): the Bridgehub pays it out of the chain's
/// escrow, once.
pub async fn claim(
    topology: &Topology,
    key: &str,
    chain_id: u64,
    batch_number: u64,
    withdrawal: &Withdrawal,
    proof: Bridgehub::MessageProof,
) -> DevnetResult<TransactionReceipt> {
    use alloy::sol_types::SolValue as _;
    let l1 = signer_provider(topology.l1.node.rpc_url.clone(), key)?;
    let data = Bytes::from((withdrawal.receiver, withdrawal.amount).abi_encode_params());
    let bridgehub = Bridgehub::new(topology.bridgehub, &l1);
    let call = bridgehub.finalizeWithdrawal(U256::from(chain_id), batch_number, data, proof);
    send("a withdrawal's claim", call.send()).await
}
