//! `halo2-verifiers --srs-file`: the verifiers of a ceremony SRS, not the dev SRS's. With a small
//! SRS file made here (k = the leaf's), the leaf verifier it writes differs from the committed
//! one, which the same tool writes again, byte for byte, from the dev SRS.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{path::Path, process::Command};

use halo2_base::halo2_proofs::{
    halo2curves::bn256::Bn256,
    poly::{commitment::Params, kzg::commitment::ParamsKZG},
};
use rand_chacha::{ChaCha20Rng, rand_core::SeedableRng};

const BIN: &str = env!("CARGO_BIN_EXE_halo2-verifiers");

fn verifiers(args: &[&str], cache: &Path, out: &Path) -> Result<String, String> {
    let output = Command::new(BIN)
        .args(args)
        .arg("--cache-dir")
        .arg(cache)
        .arg("--leaf-only")
        .arg(out)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    if output.status.success() {
        Ok(std::fs::read_to_string(out.join("Halo2LeafVerifier.sol")).unwrap())
    } else {
        Err(String::from_utf8_lossy(&output.stderr).into_owned())
    }
}

#[test]
fn the_verifier_of_a_ceremony_srs_is_made_from_that_srs() {
    let dir = tempfile::tempdir().unwrap();
    let srs = dir.path().join("ceremony.srs");
    // A stand-in ceremony: another secret than the dev seed's.
    let params =
        ParamsKZG::<Bn256>::setup(gateway_prover::DEFAULT_LEAF_K, ChaCha20Rng::from_seed([42; 32]));
    params.write(&mut std::fs::File::create(&srs).unwrap()).unwrap();

    let committed = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../contracts/contracts/verifiers/Halo2LeafVerifier.sol"),
    )
    .unwrap();
    let ceremony = verifiers(
        &["--srs-file", srs.to_str().unwrap()],
        &dir.path().join("cache"),
        &dir.path().join("ceremony"),
    )
    .unwrap();
    assert!(ceremony.contains("contract Halo2LeafVerifier"));
    assert_ne!(ceremony, committed, "the ceremony SRS gives another verifier");
    let dev = verifiers(&[], &dir.path().join("dev-cache"), &dir.path().join("dev")).unwrap();
    assert_eq!(dev, committed, "the dev SRS gives the committed verifier");

    let err = verifiers(
        &["--srs-file", "/nonexistent.srs"],
        &dir.path().join("cache"),
        &dir.path().join("none"),
    )
    .unwrap_err();
    assert!(err.contains("/nonexistent.srs"), "{err}");
}
