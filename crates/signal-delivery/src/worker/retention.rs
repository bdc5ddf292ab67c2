//! Automatic retention (`OUTBOX_RETENTION_DAYS`): the worker purges
//! delivered rows older than the setting, with their attempt log, at start
//! and then every [`PURGE_INTERVAL`]. Dead letters are never purged, and the
//! outbox keeps each purged id's body hash for the dedup window
//! (`OUTBOX_DEDUP_DAYS`), so `enqueue` still calls a purged id a duplicate.

use std::sync::Arc;
use std::time::Duration;

use signal_outbox::Outbox;

/// How often the worker purges: retention is counted in days, so an hour's
/// lag is nothing, and the purge stays off the hot path.
pub(super) const PURGE_INTERVAL: Duration = Duration::from_secs(3600);

/// Rows per purge transaction: short transactions, so claims and records
/// of the same outbox never wait long behind a purge.
const PURGE_BATCH: usize = 500;

/// Purges rows delivered more than `retention` ago, at once and every
/// `every`, until the task is aborted.
pub(super) async fn purge_loop(outbox: Arc<dyn Outbox>, retention: Duration, every: Duration) {
    loop {
        purge_once(outbox.as_ref(), retention).await;
        tokio::time::sleep(every).await;
    }
}

async fn purge_once(outbox: &dyn Outbox, retention: Duration) {
    match outbox.purge_delivered(retention, PURGE_BATCH).await {
        Ok(report) if report.purged > 0 => tracing::info!(
            purged = report.purged,
            attempts_removed = report.attempts_removed,
            retention_days = retention.as_secs() / 86_400,
            "purged delivered signals past OUTBOX_RETENTION_DAYS"
        ),
        Ok(_) => {}
        Err(error) => tracing::warn!(
            error = %error,
            "cannot purge delivered signals (OUTBOX_RETENTION_DAYS); tried again in an hour"
        ),
    }
}
