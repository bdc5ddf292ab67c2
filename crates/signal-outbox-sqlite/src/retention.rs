//! Retention: delivered rows purged in short transactions, kept as
//! tombstones (id, body hash, delivery time) so that `enqueue` still
//! recognises a producer's late retry, until the dedup window has passed.

use std::time::Duration;

use signal_outbox::{PurgeReport, Timestamp, duration_millis};

use crate::codec::limit as limit_param;
use crate::diagnose::Sql;
use crate::thread::Db;

/// What one purge transaction did.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Batch {
    /// The cutoff used (delivered before it), fixed by the first batch.
    pub(crate) cutoff: Timestamp,
    pub(crate) purged: u64,
    pub(crate) attempts_removed: u64,
    /// Tombstones past the dedup window deleted.
    pub(crate) expired: u64,
}

/// One transaction: up to `limit` delivered rows delivered before the
/// cutoff (now - `older_than` on the first batch, `cutoff` after), oldest
/// first, become tombstones; then up to `limit` tombstones past the dedup
/// window go.
pub(crate) fn purge_batch(
    db: &mut Db,
    older_than: Duration,
    cutoff: Option<Timestamp>,
    limit: usize,
) -> Sql<Batch> {
    let window = duration_millis(db.dedup_window);
    db.write(|tx, now| {
        let cutoff = cutoff.unwrap_or_else(|| now.saturating_sub(duration_millis(older_than)));
        let mut batch = Batch {
            cutoff,
            ..Batch::default()
        };
        let rows: Vec<(String, String, Timestamp)> = tx
            .prepare_cached(
                "SELECT id, body_hash, delivered_at FROM outbox INDEXED BY outbox_delivered_at \
                 WHERE state = 'delivered' AND delivered_at < ?1 ORDER BY delivered_at LIMIT ?2",
            )?
            .query_map((cutoff, limit_param(limit)), |row| {
                Ok((row.get(0)?, row.get(1)?, row.get(2)?))
            })?
            .collect::<rusqlite::Result<_>>()?;
        let mut tombstone = tx.prepare_cached(
            "INSERT INTO tombstones (id, body_hash, delivered_at) VALUES (?1, ?2, ?3) \
             ON CONFLICT (id) DO UPDATE SET body_hash = excluded.body_hash, \
                 delivered_at = excluded.delivered_at",
        )?;
        let mut forget = tx.prepare_cached("DELETE FROM attempts WHERE signal_id = ?1")?;
        let mut delete = tx.prepare_cached("DELETE FROM outbox WHERE id = ?1")?;
        for (id, hash, delivered_at) in &rows {
            tombstone.execute((id, hash, delivered_at))?;
            batch.attempts_removed += u64::try_from(forget.execute([id])?).unwrap_or(0);
            batch.purged += u64::try_from(delete.execute([id])?).unwrap_or(0);
        }
        // DELETE ... LIMIT needs a compile-time option the bundled SQLite
        // lacks; a key subquery does the same.
        batch.expired = u64::try_from(
            tx.prepare_cached(
                "DELETE FROM tombstones WHERE id IN (SELECT id FROM tombstones \
                 WHERE delivered_at < ?1 ORDER BY delivered_at LIMIT ?2)",
            )?
            .execute((now.saturating_sub(window), limit_param(limit)))?,
        )
        .unwrap_or(0);
        Ok(batch)
    })
}

/// Sums batches into the report.
pub(crate) fn add(report: &mut PurgeReport, batch: &Batch) {
    report.purged += batch.purged;
    report.attempts_removed += batch.attempts_removed;
}
