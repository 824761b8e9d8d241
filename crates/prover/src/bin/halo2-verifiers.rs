//! Regenerates the Solidity verifiers of the halo2 backend's circuits into the contracts'
//! sources: `Halo2LeafVerifier.sol` and `Halo2AggregationVerifier.sol`, made by snark-verifier
//! from the verifying keys of the insecure dev SRS (the devnet's). Then `make contracts`
//! compiles them (optimizer off) into the committed artifacts.
//!
//! ```text
//! cargo run --release -p gateway-prover --bin halo2-verifiers [-- OUT_DIR]
//! ```

use std::path::PathBuf;

use gateway_prover::{Halo2Backend, Halo2Config};

fn main() -> eyre::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let out = std::env::args()
        .nth(1)
        .map_or_else(|| PathBuf::from("crates/contracts/contracts/verifiers"), PathBuf::from);
    std::fs::create_dir_all(&out)?;
    let backend = Halo2Backend::new(Halo2Config::dev(Halo2Config::default_cache_dir()))?;
    let leaf = backend.leaf_verifier_solidity()?;
    std::fs::write(out.join("Halo2LeafVerifier.sol"), leaf)?;
    let aggregation = backend.aggregation_verifier_solidity()?;
    std::fs::write(out.join("Halo2AggregationVerifier.sol"), aggregation)?;
    println!("wrote {}", out.display());
    Ok(())
}
