//! Worker heartbeats.

use std::time::Duration;

use signal_outbox::{OutboxError, WorkerInfo, WorkerSeen, duration_millis};

use crate::diagnose::Sql;
use crate::thread::Db;

/// Workers not seen for this long are forgotten by the next heartbeat, so
/// the registry of a long-lived outbox (one row per process start) stays
/// small.
pub(crate) const FORGET_AFTER: Duration = Duration::from_secs(7 * 24 * 3600);

pub(crate) fn heartbeat(db: &mut Db, worker: WorkerInfo) -> Sql<()> {
    if worker.name.is_empty() {
        return Err(OutboxError::InvalidInput {
            reason: "the worker name must not be empty".to_owned(),
        }
        .into());
    }
    db.write(|tx, now| {
        tx.prepare_cached(
            "INSERT INTO workers (name, host, pid, version, started_at, last_seen, stopped) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?5, 0) \
             ON CONFLICT (name) DO UPDATE SET host = excluded.host, pid = excluded.pid, \
                 version = excluded.version, last_seen = excluded.last_seen, stopped = 0",
        )?
        .execute((&worker.name, &worker.host, worker.pid, &worker.version, now))?;
        tx.prepare_cached("DELETE FROM workers WHERE last_seen < ?1")?
            .execute([now.saturating_sub(duration_millis(FORGET_AFTER))])?;
        Ok(())
    })
}

/// Marks `worker` stopped; a name never registered changes nothing (its
/// heartbeats failed, and there is nothing to mark).
pub(crate) fn worker_stopped(db: &mut Db, worker: &str) -> Sql<()> {
    db.write(|tx, now| {
        tx.prepare_cached("UPDATE workers SET stopped = 1, last_seen = ?2 WHERE name = ?1")?
            .execute((worker, now))?;
        Ok(())
    })
}

pub(crate) fn workers(db: &mut Db, seen_within: Duration) -> Sql<Vec<WorkerSeen>> {
    db.read(|tx, now| {
        let mut stmt = tx.prepare_cached(
            "SELECT name, host, pid, version, started_at, last_seen, stopped FROM workers \
             WHERE last_seen >= ?1 ORDER BY last_seen DESC, name",
        )?;
        let rows = stmt
            .query_map([now.saturating_sub(duration_millis(seen_within))], |row| {
                Ok(WorkerSeen {
                    name: row.get(0)?,
                    host: row.get(1)?,
                    pid: row.get(2)?,
                    version: row.get(3)?,
                    started_at: row.get(4)?,
                    last_seen: row.get(5)?,
                    stopped: row.get::<_, i64>(6)? != 0,
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    })
}
