//! Which JSON-RPC methods the public front serves: an explicit allowlist. Everything else, in any
//! letter case, is answered here with `-32601` naming the method and never reaches the sequencer.

/// The methods the Gateway's public front forwards: the reads a wallet, an explorer or an indexer
/// needs, and sending transactions that the sender signed itself. Nothing here makes the
/// sequencer sign, mine, change state outside a signed transaction or reveal its accounts.
pub const PUBLIC_METHODS: &[&str] = &[
    "web3_clientVersion",
    "web3_sha3",
    "net_version",
    "net_listening",
    "eth_chainId",
    "eth_syncing",
    "eth_blockNumber",
    "eth_gasPrice",
    "eth_maxPriorityFeePerGas",
    "eth_blobBaseFee",
    "eth_feeHistory",
    "eth_getBalance",
    "eth_getCode",
    "eth_getStorageAt",
    "eth_getTransactionCount",
    "eth_getProof",
    "eth_call",
    "eth_estimateGas",
    "eth_createAccessList",
    "eth_getBlockByNumber",
    "eth_getBlockByHash",
    "eth_getBlockReceipts",
    "eth_getBlockTransactionCountByNumber",
    "eth_getBlockTransactionCountByHash",
    "eth_getUncleCountByBlockNumber",
    "eth_getUncleCountByBlockHash",
    "eth_getTransactionByHash",
    "eth_getTransactionByBlockNumberAndIndex",
    "eth_getTransactionByBlockHashAndIndex",
    "eth_getTransactionReceipt",
    "eth_getLogs",
    "eth_newFilter",
    "eth_newBlockFilter",
    "eth_getFilterChanges",
    "eth_getFilterLogs",
    "eth_uninstallFilter",
    "eth_sendRawTransaction",
    "eth_sendRawTransactionSync",
];

/// Whether the front forwards `method` (exact spelling: `ETH_CALL` is not `eth_call`).
pub(crate) fn served(method: &str) -> bool {
    PUBLIC_METHODS.contains(&method)
}

/// Whether `method` sends a signed transaction (and so may deploy).
pub(crate) fn sends_raw(method: &str) -> bool {
    matches!(method, "eth_sendRawTransaction" | "eth_sendRawTransactionSync")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_that_signs_mines_or_reveals_accounts_is_served() {
        for method in [
            "eth_sendTransaction",
            "eth_sendTransactionSync",
            "eth_sign",
            "eth_signTransaction",
            "eth_signTypedData_v4",
            "eth_accounts",
            "eth_sendUnsignedTransaction",
            "personal_sign",
            "wallet_sendCalls",
            "anvil_setCode",
            "evm_mine",
            "debug_traceCall",
            "txpool_content",
            "ETH_SENDRAWTRANSACTION",
            "Eth_call",
            "",
        ] {
            assert!(!served(method), "{method} must not be served");
        }
        assert!(PUBLIC_METHODS.iter().all(|m| served(m)));
        assert!(PUBLIC_METHODS.iter().filter(|m| sends_raw(m)).count() == 2);
    }
}
