//! Value through the bridge, end to end on a devnet (mock proofs). A user on L1:
//! 1. deposits 1 ETH to each chain (chain 270 settles on L1: the Bridgehub queues it in the
//!    chain's L1 executor; chain 271 settles on the Gateway: it goes through the Gateway's own
//!    L1 queue, which the Gateway's node forwards into the Gateway), and the chain's node hands
//!    it to the chain's inbox, which credits the user on the chain;
//! 2. sends 0.1 ETH to a friend on each chain;
//! 3. withdraws 0.5 ETH on each chain through its `L2Bridge`;
//! 4. claims each withdrawal on L1 once its batch is final there, with the proof the chain's
//!    node serves (`interop_getMessageProof(tx, logIndex, "l1")`): the Bridgehub pays it out
//!    of the chain's escrow, once.
//!
//! ```text
//! cargo run -p example-bridge
//! ```

use std::time::{Duration, Instant};

use alloy::{
    network::TransactionBuilder,
    primitives::{Address, U256},
    providers::{Provider, ProviderBuilder},
    rpc::types::TransactionRequest,
};
use devnet::bridge::{claim, deposit, withdraw};
use e2e_tests::{bridge_net::BridgeNet, fixtures::WAIT};

/// The user's key (a devnet account of this example's own; anvil funds it on L1).
const USER_KEY: &str = "0x4242424242424242424242424242424242424242424242424242424242424242";
const ETH: u128 = 1_000_000_000_000_000_000;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> eyre::Result<()> {
    let net = BridgeNet::start().await?;
    let topology = net.topology.clone();
    let user = devnet::address_of_key(USER_KEY, "the user key")?;
    devnet::rpc_call(
        &topology.l1.node.rpc_url,
        "anvil_setBalance",
        serde_json::json!([user, format!("{:#x}", 10 * ETH)]),
    )
    .await?;
    let friend = Address::repeat_byte(0xf7);
    let l1 = ProviderBuilder::new().connect_http(topology.l1.node.rpc_url.clone());

    for side in &net.chains {
        let chain = &side.chain;
        let id = chain.node.chain_id;
        let route = match chain.initial_settlement {
            devnet::InitialSettlement::L1 => "L1",
            devnet::InitialSettlement::Gateway => "the Gateway",
        };
        println!("chain {id} (settles on {route})");
        let l2 = ProviderBuilder::new().connect_http(chain.node.rpc_url.clone());

        // 1. Deposit.
        let started = Instant::now();
        let receipt = deposit(&topology, USER_KEY, id, user, U256::from(ETH)).await?;
        println!("  1. deposit of 1 ETH requested on L1 (tx {})", receipt.transaction_hash);
        while l2.get_balance(user).await? < U256::from(ETH) {
            eyre::ensure!(started.elapsed() < WAIT, "the deposit not credited within {WAIT:?}");
            side.traffic.blocks(1, 1).await?;
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        println!("     credited on chain {id} after {} ms", started.elapsed().as_millis());

        // 2. Transfer on the chain.
        let signer = devnet::signer_provider(chain.node.rpc_url.clone(), USER_KEY)?;
        let sent = signer
            .send_transaction(
                TransactionRequest::default().with_to(friend).with_value(U256::from(ETH / 10)),
            )
            .await?;
        devnet::confirm("a transfer", sent).await?;
        println!(
            "  2. sent 0.1 ETH to {friend} on chain {id}: it has {}",
            l2.get_balance(friend).await?
        );

        // 3. Withdraw.
        let started = Instant::now();
        let withdrawal = withdraw(chain, USER_KEY, user, U256::from(ETH / 2)).await?;
        println!("  3. withdrawal of 0.5 ETH sent on chain {id} (tx {})", withdrawal.tx);

        // 4. Claim on L1 once final there.
        let (batch, proof) = side.claimable(&withdrawal).await?;
        println!(
            "     claimable on L1 after {} ms (batch {batch} of chain {id})",
            started.elapsed().as_millis()
        );
        let before = l1.get_balance(user).await?;
        let receipt = claim(&topology, USER_KEY, id, batch, &withdrawal, proof.clone()).await?;
        let paid_gas = U256::from(receipt.gas_used) * U256::from(receipt.effective_gas_price);
        let after = l1.get_balance(user).await?;
        println!(
            "  4. claimed on L1: the user got {} wei (net of the claim's gas)",
            after + paid_gas - before
        );
        eyre::ensure!(
            after + paid_gas - before == U256::from(ETH / 2),
            "the claim paid the wrong amount"
        );
        let again = claim(&topology, USER_KEY, id, batch, &withdrawal, proof).await;
        eyre::ensure!(again.is_err(), "a second claim was paid");
        println!("     a second claim is refused");
    }
    net.stop().await;
    Ok(())
}
