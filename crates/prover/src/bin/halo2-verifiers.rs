//! Regenerates the Solidity verifiers of the halo2 backend's circuits into the contracts'
//! sources: `Halo2LeafVerifier.sol`, `Halo2AggregationVerifier.sol` and, with `--tree`,
//! `Halo2TreeVerifier.sol` (the top of a two-level tree of `arity × arity` leaves, at the tree's
//! `k`: its SRS and keys take about 20 minutes and 20 GB the first time), made by snark-verifier
//! from the circuits' verifying keys over an SRS: the insecure dev SRS (the devnet's, whose
//! verifiers are committed) or, with `--srs-file`, a ceremony SRS — the verifiers that accept
//! the proofs of a node started with `--settlement.srs-file` on that same file. Then
//! `make contracts` compiles them (without the Yul optimizer) into artifacts.
//!
//! ```text
//! cargo run --release -p gateway-prover --bin halo2-verifiers [-- [--srs-file FILE] [--cache-dir DIR] [--leaf-only] [--tree] [--aggregation-k K] [--arity N] [OUT_DIR]]
//! ```
//!
//! `--aggregation-k` and `--arity` override the backend's defaults, to try other shapes (the
//! aggregation verifier must stay under EIP-170's 24,576 bytes). `--leaf-only` writes only the
//! leaf verifier (its SRS needs only the leaf's `k`).

use std::path::PathBuf;

use eyre::{WrapErr, bail};
use gateway_prover::{Halo2Backend, Halo2Config, SrsSource};

fn main() -> eyre::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let mut config = Halo2Config::dev(Halo2Config::default_cache_dir());
    let mut out = PathBuf::from("crates/contracts/contracts/verifiers");
    let mut leaf_only = false;
    let mut tree = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--srs-file" => {
                let Some(path) = args.next() else { bail!("--srs-file needs a file") };
                config.srs = SrsSource::File(PathBuf::from(path));
            }
            "--cache-dir" => {
                let Some(dir) = args.next() else { bail!("--cache-dir needs a directory") };
                config.cache_dir = PathBuf::from(dir);
            }
            "--leaf-only" => leaf_only = true,
            "--tree" => tree = true,
            "--aggregation-k" => {
                let value = args.next().unwrap_or_default();
                config.aggregation_k = value
                    .parse()
                    .wrap_err_with(|| format!("--aggregation-k {value:?}: expected a number"))?;
            }
            "--arity" => {
                let value = args.next().unwrap_or_default();
                config.arity = value
                    .parse()
                    .wrap_err_with(|| format!("--arity {value:?}: expected a number"))?;
            }
            flag if flag.starts_with("--") => {
                bail!(
                    "unknown flag {flag:?}; known: --srs-file FILE, --cache-dir DIR, --leaf-only, --tree, --aggregation-k K, --arity N, OUT_DIR"
                )
            }
            dir => out = PathBuf::from(dir),
        }
    }
    std::fs::create_dir_all(&out)?;
    let backend = Halo2Backend::new(config)?;
    let leaf = backend.leaf_verifier_solidity()?;
    std::fs::write(out.join("Halo2LeafVerifier.sol"), leaf)?;
    if leaf_only {
        println!("wrote {}", out.display());
        return Ok(());
    }
    let aggregation = backend.aggregation_verifier_solidity()?;
    std::fs::write(out.join("Halo2AggregationVerifier.sol"), aggregation)?;
    if tree {
        let tree = backend.tree_verifier_solidity()?;
        std::fs::write(out.join("Halo2TreeVerifier.sol"), tree)?;
    }
    println!("wrote {}", out.display());
    Ok(())
}
