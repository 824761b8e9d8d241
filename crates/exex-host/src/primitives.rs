//! The node primitives the host uses by default.
//!
//! reth's `reth-ethereum-primitives` is not published on crates.io, so the host defines its own
//! [`EthPrimitives`] from the same alloy types reth uses for Ethereum: an EIP-2718 transaction
//! envelope whose EIP-4844 variant carries no sidecar, and alloy's `EthereumReceipt`.

use alloy::consensus::{EthereumReceipt, EthereumTxEnvelope, TxEip4844};
use reth_primitives_traits::NodePrimitives;

/// A signed Ethereum transaction as it appears in a block (reth's `TransactionSigned`).
pub type TransactionSigned = EthereumTxEnvelope<TxEip4844>;

/// An Ethereum block (reth's `reth_ethereum_primitives::Block`).
pub type Block = alloy::consensus::Block<TransactionSigned>;

/// The body of an Ethereum block.
pub type BlockBody = alloy::consensus::BlockBody<TransactionSigned>;

/// An Ethereum receipt (reth's `reth_ethereum_primitives::Receipt`).
pub type Receipt = EthereumReceipt;

/// Ethereum's node primitives, the host's default `N`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct EthPrimitives;

impl NodePrimitives for EthPrimitives {
    type Block = Block;
    type BlockHeader = alloy::consensus::Header;
    type BlockBody = BlockBody;
    type SignedTx = TransactionSigned;
    type Receipt = Receipt;
}
