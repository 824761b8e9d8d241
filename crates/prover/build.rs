//! Fingerprints the circuits: a hash of the sources that define the circuits and make their
//! keys, so a cached proving key is never used for a circuit that changed since it was made
//! (`CIRCUIT_HASH`, part of every key file's name).

use std::fmt::Write as _;

/// The files whose contents decide what the keys are.
const CIRCUIT_SOURCES: [&str; 2] = ["src/halo2/circuits.rs", "src/halo2/keys.rs"];

fn main() {
    // FNV-1a, 64 bits: stable across Rust versions and platforms.
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for file in CIRCUIT_SOURCES {
        println!("cargo:rerun-if-changed={file}");
        let bytes = match std::fs::read(file) {
            Ok(bytes) => bytes,
            Err(err) => {
                eprintln!("gateway-prover build: cannot read {file}: {err}");
                std::process::exit(1);
            }
        };
        // Line endings do not change a circuit.
        for byte in bytes.into_iter().filter(|b| *b != b'\r') {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    }
    let mut hex = String::new();
    let _ = write!(hex, "{hash:016x}");
    println!("cargo:rustc-env=GATEWAY_CIRCUIT_HASH={}", &hex[..10]);
}
