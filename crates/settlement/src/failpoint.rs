//! Crash points for the crash-recovery tests: when `GATEWAY_FAILPOINT` names a point, the
//! process kills itself with SIGKILL (as `kill -9` would) when it reaches it. A panic point
//! (`panic-in-sender`) panics the task that reaches it instead, for the supervision test. Unset,
//! they cost one comparison.

use std::sync::OnceLock;

/// The environment variable that names the crash point.
pub const FAILPOINT_ENV: &str = "GATEWAY_FAILPOINT";

/// Every crash point, in pipeline order.
pub const FAILPOINTS: [&str; 12] = [
    "after-seal",
    "after-proof",
    "after-commit-sent",
    "after-commit-mined",
    "after-prove-mined",
    "after-execute-sent",
    // Migrations: a proof made while draining (not yet stored), a migration transaction about
    // to be sent, one broadcast (not yet seen mined), and one just mined.
    "draining-proof",
    "before-migration-send",
    "after-migration-sent",
    "after-migration-mined",
    // Gateway mode: an aggregated proof made, not yet stored.
    "mid-aggregation",
    // A priority operation handed to the chain's inbox, its receipt not yet seen.
    "after-priority-op-sent",
];

/// Every panic point: the task named after `panic-in-` panics when it reaches it.
pub const PANIC_FAILPOINTS: [&str; 1] = ["panic-in-sender"];

/// True when `GATEWAY_FAILPOINT` is `name` (read once), for points that need a check of their
/// own before they fire.
pub(crate) fn armed(name: &str) -> bool {
    static ARMED: OnceLock<Option<String>> = OnceLock::new();
    ARMED.get_or_init(|| std::env::var(FAILPOINT_ENV).ok()).as_deref() == Some(name)
}

/// Kills the process if `GATEWAY_FAILPOINT` is `name`.
pub(crate) fn failpoint(name: &str) {
    if armed(name) {
        tracing::error!(target: "settlement::failpoint", name, "failpoint reached: killing the process");
        // At once, from this thread: other tasks must not get to persist anything more.
        // SAFETY: kill(2) on our own pid has no memory-safety preconditions.
        unsafe {
            libc::kill(libc::getpid(), libc::SIGKILL);
        }
        std::process::abort();
    }
}

/// Panics if `GATEWAY_FAILPOINT` is `name` (one of [`PANIC_FAILPOINTS`]).
pub(crate) fn panic_point(name: &str) {
    if armed(name) {
        tracing::error!(target: "settlement::failpoint", name, "panic point reached: panicking");
        panic!("failpoint {name} reached");
    }
}
