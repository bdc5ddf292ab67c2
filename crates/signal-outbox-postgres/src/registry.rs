//! Worker heartbeats.

use std::time::Duration;

use signal_outbox::{OutboxError, WorkerInfo, WorkerSeen, duration_millis};

use crate::clock::NOW;
use crate::db::Db;

/// Workers not seen for this long are forgotten by the next heartbeat, so
/// the registry (one row per process start) stays small.
pub(crate) const FORGET_AFTER: Duration = Duration::from_secs(7 * 24 * 3600);

pub(crate) async fn heartbeat(db: &Db, worker: WorkerInfo) -> Result<(), OutboxError> {
    if worker.name.is_empty() {
        return Err(OutboxError::InvalidInput {
            reason: "the worker name must not be empty".to_owned(),
        });
    }
    let mut conn = db.conn().await?;
    let tx = conn.transaction().await.map_err(|e| db.pg(e))?;
    tx.execute(
        &format!(
            "INSERT INTO workers (name, host, pid, version, started_at, last_seen, stopped) \
             VALUES ($2, $3, $4, $5, {NOW}, {NOW}, false) \
             ON CONFLICT (name) DO UPDATE SET host = excluded.host, pid = excluded.pid, \
                 version = excluded.version, last_seen = excluded.last_seen, stopped = false"
        ),
        &[
            &db.now(),
            &worker.name,
            &worker.host,
            &i64::from(worker.pid),
            &worker.version,
        ],
    )
    .await
    .map_err(|e| db.pg(e))?;
    tx.execute(
        &format!("DELETE FROM workers WHERE last_seen < {NOW} - $2"),
        &[&db.now(), &duration_millis(FORGET_AFTER)],
    )
    .await
    .map_err(|e| db.pg(e))?;
    tx.commit().await.map_err(|e| db.pg(e))?;
    Ok(())
}

/// Marks `worker` stopped; a name never registered changes nothing.
pub(crate) async fn worker_stopped(db: &Db, worker: &str) -> Result<(), OutboxError> {
    let conn = db.conn().await?;
    conn.execute(
        &format!("UPDATE workers SET stopped = true, last_seen = {NOW} WHERE name = $2"),
        &[&db.now(), &worker],
    )
    .await
    .map_err(|e| db.pg(e))?;
    Ok(())
}

pub(crate) async fn workers(
    db: &Db,
    seen_within: Duration,
) -> Result<Vec<WorkerSeen>, OutboxError> {
    let conn = db.conn().await?;
    let rows = conn
        .query(
            &format!(
                "SELECT name, host, pid, version, started_at, last_seen, stopped FROM workers \
                 WHERE last_seen >= {NOW} - $2 ORDER BY last_seen DESC, name"
            ),
            &[&db.now(), &duration_millis(seen_within)],
        )
        .await
        .map_err(|e| db.pg(e))?;
    rows.iter()
        .map(|row| {
            Ok(WorkerSeen {
                name: db.get(row, 0)?,
                host: db.get(row, 1)?,
                pid: db.count(row, 2)?,
                version: db.get(row, 3)?,
                started_at: db.get(row, 4)?,
                last_seen: db.get(row, 5)?,
                stopped: db.get(row, 6)?,
            })
        })
        .collect()
}
