//! Retention: delivered rows purged in short transactions, kept as
//! tombstones (id, body hash, delivery time) so that `enqueue` still
//! recognises a producer's late retry, until the dedup window has passed.
//!
//! Each batch is one statement (and so its own transaction): the rows are
//! picked from the partial index `outbox_delivered_at`, locked with `SKIP
//! LOCKED` (two purges never wait for each other), deleted with their
//! attempt log, and written as tombstones. Short transactions keep vacuum
//! able to reclaim the dead rows as it goes.

use std::time::Duration;

use signal_outbox::{OutboxError, PurgeReport, Timestamp, duration_millis};

use crate::clock::NOW;
use crate::db::{Db, limit as limit_param};

const PURGE_BATCH: &str = "\
WITH gone AS (
    DELETE FROM outbox WHERE id IN (
        SELECT id FROM outbox WHERE state = 'delivered' AND delivered_at < $1
        ORDER BY delivered_at LIMIT $2 FOR UPDATE SKIP LOCKED)
    RETURNING id, body_hash, delivered_at
), tomb AS (
    INSERT INTO tombstones (id, body_hash, delivered_at)
    SELECT id, body_hash, delivered_at FROM gone
    ON CONFLICT (id) DO UPDATE SET body_hash = excluded.body_hash,
        delivered_at = excluded.delivered_at
), log AS (
    DELETE FROM attempts WHERE signal_id IN (SELECT id FROM gone) RETURNING 1
)
SELECT (SELECT count(*) FROM gone), (SELECT count(*) FROM log)";

const EXPIRE_TOMBSTONES: &str = "\
DELETE FROM tombstones WHERE id IN (
    SELECT id FROM tombstones WHERE delivered_at < $1 ORDER BY delivered_at LIMIT $2
    FOR UPDATE SKIP LOCKED)";

pub(crate) async fn purge_delivered(
    db: &Db,
    older_than: Duration,
    limit: usize,
) -> Result<PurgeReport, OutboxError> {
    if limit == 0 {
        return Err(OutboxError::InvalidInput {
            reason: "the purge limit (rows per transaction) must be at least 1".to_owned(),
        });
    }
    let conn = db.conn().await?;
    let now: Timestamp = {
        let row = conn
            .query_one(&format!("SELECT {NOW}"), &[&db.now()])
            .await
            .map_err(|e| db.pg(e))?;
        db.get(&row, 0)?
    };
    // One cutoff for the whole call, so rows delivered meanwhile wait for
    // the next purge and the loop ends.
    let cutoff = now.saturating_sub(duration_millis(older_than));
    let batch = limit_param(limit);
    let mut report = PurgeReport::default();
    let purge = conn
        .prepare_cached(PURGE_BATCH)
        .await
        .map_err(|e| db.pg(e))?;
    loop {
        let row = conn
            .query_one(&purge, &[&cutoff, &batch])
            .await
            .map_err(|e| db.pg(e))?;
        let purged: u64 = db.count(&row, 0)?;
        report.purged += purged;
        report.attempts_removed += db.count::<u64>(&row, 1)?;
        if purged < limit as u64 {
            break;
        }
    }
    let window_start = now.saturating_sub(duration_millis(db.dedup_window));
    let expire = conn
        .prepare_cached(EXPIRE_TOMBSTONES)
        .await
        .map_err(|e| db.pg(e))?;
    loop {
        let expired = conn
            .execute(&expire, &[&window_start, &batch])
            .await
            .map_err(|e| db.pg(e))?;
        if expired < limit as u64 {
            break;
        }
    }
    if report.purged > 0 {
        tracing::info!(
            purged = report.purged,
            attempts = report.attempts_removed,
            "purged delivered signals"
        );
    }
    Ok(report)
}
