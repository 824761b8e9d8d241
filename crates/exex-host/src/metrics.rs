//! Descriptions of the host's metrics.

use metrics::{describe_counter, describe_gauge};

/// Registers a description for every metric the host records, and sets the reorg and error
/// counters to 0 where they do not exist yet (the first event after a start is then an
/// increase an alert rule sees). Idempotent.
pub fn describe() {
    for name in ["exex_source_reorgs_total", "exex_source_errors_total"] {
        metrics::counter!(name).increment(0);
    }
    describe_gauge!("exex_wal_blocks", "committed blocks held in the ExEx WAL");
    describe_gauge!("exex_wal_notifications", "notifications held in the ExEx WAL");
    describe_counter!(
        "exex_wal_blocks_warnings_total",
        "times the WAL held more blocks than the warning threshold after a commit"
    );
    describe_counter!("exex_notifications_sent_total", "notifications sent to an ExEx");
    describe_counter!(
        "exex_notifications_skipped_total",
        "commits skipped for an ExEx because it had already finished them"
    );
    describe_counter!("exex_events_sent_total", "events received from an ExEx");
    describe_gauge!("exex_manager_max_capacity", "capacity of the manager's notification buffer");
    describe_gauge!("exex_manager_current_capacity", "free slots in the manager's buffer");
    describe_gauge!("exex_manager_buffer_size", "notifications waiting in the manager's buffer");
    describe_gauge!("exex_manager_num_exexs", "installed ExExs");
    describe_counter!("exex_manager_notifications_total", "notifications received by the manager");
    describe_gauge!("exex_manager_finished_height", "lowest height every ExEx has finished");
    describe_counter!("exex_source_blocks_total", "blocks delivered by the block source");
    describe_counter!("exex_source_reorgs_total", "reorgs detected by the block source");
    describe_counter!("exex_source_errors_total", "failed requests of the block source");
    describe_gauge!("exex_source_tip", "highest block delivered by the block source");
    describe_counter!(
        "exex_host_authrpc_unauthorized_total",
        "requests to the authenticated JSON-RPC refused for a missing or bad JWT"
    );
    describe_gauge!(
        "exex_source_node_behind",
        "1 while the followed node is behind the host's last block (waited for, not reverted)"
    );
    describe_counter!(
        "exex_notifications_provider_retries_total",
        "block provider reads retried for an ExEx's head check, backfill or gap"
    );
}
