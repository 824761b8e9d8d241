//! The alert rules an operator loads into Prometheus (`etc/prometheus/alerts.yml`) are valid
//! and fire when they should: Prometheus' own `promtool check rules` and `promtool test rules`
//! (the cases in `etc/prometheus/alerts.test.yml`, one or more per alert). `make tools` installs
//! Debian's prometheus package, which has promtool.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{path::Path, process::Command};

fn promtool(args: &[&str]) -> String {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../etc/prometheus");
    let out = Command::new("promtool")
        .args(args)
        .current_dir(&dir)
        .output()
        .expect("promtool (make tools installs Debian's prometheus package)");
    let text =
        format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "promtool {args:?}: {text}");
    text
}

#[test]
fn the_alert_rules_are_valid_and_their_cases_pass() {
    let checked = promtool(&["check", "rules", "alerts.yml"]);
    assert!(checked.contains("SUCCESS"), "{checked}");
    promtool(&["test", "rules", "alerts.test.yml"]);
}

#[test]
fn every_alert_has_a_case_that_fires_it() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../etc/prometheus");
    let rules = std::fs::read_to_string(dir.join("alerts.yml")).unwrap();
    let cases = std::fs::read_to_string(dir.join("alerts.test.yml")).unwrap();
    let alerts: Vec<&str> =
        rules.lines().filter_map(|l| l.trim().strip_prefix("- alert: ")).map(str::trim).collect();
    assert!(alerts.len() >= 10, "{alerts:?}");
    // A case that fires an alert names it and expects labels (a quiet case expects none).
    let firing: Vec<&str> =
        cases.split("- eval_time:").filter(|case| case.contains("exp_labels:")).collect();
    for alert in alerts {
        let name = format!("alertname: {alert}\n");
        assert!(firing.iter().any(|case| case.contains(&name)), "no test case fires {alert}");
    }
}
