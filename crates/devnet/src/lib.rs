//! Real anvil nodes for tests, examples and the devnet.
//!
//! anvil comes from the pinned npm package installed by `scripts/tools.sh` (`make tools`) into
//! the project's `.tools/` folder; this crate finds it there (or at `$GATEWAY_ANVIL`), starts it
//! on a free 127.0.0.1 port, and stops it by its pid. The devnet topology grows here.
//!
//! # Examples
//! ```no_run
//! let anvil = devnet::Anvil::spawn(devnet::AnvilConfig::default())?;
//! println!("anvil {} listens on {}", anvil.pid(), anvil.endpoint());
//! # Ok::<_, devnet::DevnetError>(())
//! ```
#![cfg_attr(not(test), warn(unused_crate_dependencies))]

mod anvil;
/// What a user of the bridge does: deposit, withdraw, claim.
pub mod bridge;
mod gas_profile;
mod history;
mod init;
pub mod postgres;
mod process;
mod start;
mod topology;
mod traffic;
mod tx;

pub use anvil::{
    ANVIL_ENV, Anvil, AnvilConfig, DEV_ACCOUNT_KEYS, DevnetError, DevnetResult, anvil_path,
    project_root,
};
pub use gas_profile::{GasProfile, PCS_ENV as GAS_PROFILE_PCS_ENV, gas_profile};
pub use history::{MinedTx, SettlementCalls, mined_from};
pub use init::{
    ChainSpec, EcosystemSpec, address_of_key, check_chain, check_ecosystem, genesis_of, init_chain,
    init_ecosystem, node_at,
};
pub use process::{ChildProcess, local_http, local_rpc, process_alive};
pub use start::{Devnet, fund_key};
pub use topology::{
    ChainInterop, ChainTopology, DEFAULT_CHAINS, DEFAULT_FIRST_CHAIN_ID, DEFAULT_GATEWAY_CHAIN_ID,
    DEFAULT_L1_CHAIN_ID, DevnetConfig, DevnetProofs, GATEWAY_FEE_PER_BATCH_WEI, GenesisBatch,
    INBOX_ADDRESS, INBOX_DEV_SUPPLY_WEI, InitialSettlement, L1Interop, L2_BRIDGE_ADDRESS,
    MESSENGER_ADDRESS, NodeTopology, PRIORITY_OP_FEE_WEI, SettlementLayerTopology, Topology,
    VERIFIER_DELAY_BLOCKS, change_verifier,
};
pub use traffic::{LOG_EMITTER_INITCODE, Traffic, raw_call, rpc_call};
pub use tx::{confirm, signer_provider};
