//! Helpers the `gateway-node` test binaries share.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::{
    collections::BTreeSet,
    process::{Command, Stdio},
};

/// Runs Prometheus' `promtool check metrics` over what the node serves on `port` (every name,
/// type and help text must pass; `make tools` installs Debian's prometheus package) and
/// returns the names of the exported series.
pub(crate) async fn promtool_checked_metrics(port: u16) -> BTreeSet<String> {
    let text = alloy::transports::http::reqwest::get(format!("http://127.0.0.1:{port}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let mut promtool = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool (make tools installs Debian's prometheus package)");
    {
        use std::io::Write as _;
        promtool.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    }
    let checked = promtool.wait_with_output().unwrap();
    assert!(
        checked.status.success(),
        "promtool check metrics: {}{}",
        String::from_utf8_lossy(&checked.stdout),
        String::from_utf8_lossy(&checked.stderr)
    );
    text.lines()
        .filter(|line| !line.starts_with('#') && !line.is_empty())
        .filter_map(|line| line.split(['{', ' ']).next())
        .map(str::to_string)
        .collect()
}
