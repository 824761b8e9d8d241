//! The bridge example runs to its end as a user would run it: both routes deposit, transfer,
//! withdraw and claim once, and it says so.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{process::Command, time::Duration};

use devnet::ChildProcess;

const BIN: &str = env!("CARGO_BIN_EXE_bridge");
/// The whole example: two devnet chains, a deposit and a claimed withdrawal on each.
const LIMIT: Duration = Duration::from_secs(300);

#[test]
fn the_bridge_example_deposits_withdraws_and_claims_once_on_both_routes() {
    let dir = tempfile::tempdir().unwrap();
    let (out, err) = (dir.path().join("stdout"), dir.path().join("stderr"));
    let child = Command::new(BIN)
        .env("RUST_LOG", "warn")
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(std::fs::File::create(&err).unwrap())
        .spawn()
        .unwrap();
    // Stopped by its pid if it overruns (ChildProcess kills it when dropped).
    let mut child = ChildProcess(child);
    let status =
        child.wait_exit(LIMIT).unwrap_or_else(|| panic!("the bridge example ran past {LIMIT:?}"));
    let stdout = std::fs::read_to_string(&out).unwrap();
    let stderr = std::fs::read_to_string(&err).unwrap();
    assert!(status.success(), "the bridge example failed: {stdout}\n{stderr}");
    for route in ["settles on L1", "settles on the Gateway"] {
        assert!(stdout.contains(route), "no chain that {route}: {stdout}");
    }
    // Each chain: credited, claimed for exactly what was withdrawn, a second claim refused.
    assert_eq!(stdout.matches("credited on chain").count(), 2, "{stdout}");
    assert_eq!(
        stdout.matches("the user got 500000000000000000 wei").count(),
        2,
        "each claim pays the 0.5 ETH withdrawn: {stdout}"
    );
    assert_eq!(stdout.matches("a second claim is refused").count(), 2, "{stdout}");
}
