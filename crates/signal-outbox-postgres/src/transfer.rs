//! Export and import: moving signal rows to or from another backend.

use std::collections::HashMap;
use std::time::Duration;

use signal_outbox::{
    ExportRequest, ExportedSignal, ImportOutcome, OutboxError, SignalDetail, StoredAttempt,
    Timestamp, check_import, duration_millis,
};

use crate::admin::{SUMMARY_COLUMNS, summary_from_row};
use crate::clock::NOW;
use crate::db::{Db, delay_ms, limit as limit_param};
use crate::signals::notify;
use signal_outbox::body_hash;

/// The backend's now, read inside `tx` (the transaction's start).
async fn now_in(
    db: &Db,
    tx: &deadpool_postgres::Transaction<'_>,
) -> Result<Timestamp, OutboxError> {
    let row = tx
        .query_one(&format!("SELECT {NOW}"), &[&db.now()])
        .await
        .map_err(|e| db.pg(e))?;
    db.get(&row, 0)
}

/// One page, rows and attempt logs from one snapshot.
pub(crate) async fn export(
    db: &Db,
    request: ExportRequest,
) -> Result<Vec<ExportedSignal>, OutboxError> {
    if request.limit == 0 {
        return Ok(Vec::new());
    }
    let states: Vec<&str> = request.states.iter().map(|s| s.as_str()).collect();
    let after = request.after.clone().unwrap_or_default();
    let mut conn = db.conn().await?;
    let tx = conn
        .build_transaction()
        .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .await
        .map_err(|e| db.pg(e))?;
    let now = now_in(db, &tx).await?;
    let rows = tx
        .query(
            &format!(
                "SELECT {SUMMARY_COLUMNS}, body FROM outbox \
                 WHERE id > $1 AND (cardinality($2::text[]) = 0 OR state = ANY($2)) \
                 ORDER BY id LIMIT $3"
            ),
            &[&after, &states, &limit_param(request.limit)],
        )
        .await
        .map_err(|e| db.pg(e))?;
    let mut details = Vec::with_capacity(rows.len());
    for row in &rows {
        let body: Vec<u8> = db.get(row, 15)?;
        details.push(SignalDetail {
            row: summary_from_row(db, row)?,
            body: body.into(),
            attempts: Vec::new(),
        });
    }
    let ids: Vec<&str> = details.iter().map(|d| d.row.id.as_str()).collect();
    let attempts = tx
        .query(
            "SELECT signal_id, attempt, at, worker, status, error_class, latency_ms, excerpt \
             FROM attempts WHERE signal_id = ANY($1) ORDER BY seq",
            &[&ids],
        )
        .await
        .map_err(|e| db.pg(e))?;
    tx.commit().await.map_err(|e| db.pg(e))?;
    let mut logs: HashMap<String, Vec<StoredAttempt>> = HashMap::new();
    for row in &attempts {
        let status: Option<i32> = db.get(row, 4)?;
        logs.entry(db.get(row, 0)?)
            .or_default()
            .push(StoredAttempt {
                attempt: db.count(row, 1)?,
                at: db.get(row, 2)?,
                worker: db.get(row, 3)?,
                status: status.and_then(|s| u16::try_from(s).ok()),
                error_class: db.get(row, 5)?,
                latency: Duration::from_millis(db.count(row, 6)?),
                excerpt: db.get(row, 7)?,
            });
    }
    Ok(details
        .into_iter()
        .map(|mut detail| {
            detail.attempts = logs.remove(&detail.row.id).unwrap_or_default();
            ExportedSignal::from_detail(detail, now)
        })
        .collect())
}

/// The stored hash for `id` (a row, else a tombstone), as seen now.
async fn stored_hash(
    db: &Db,
    tx: &deadpool_postgres::Transaction<'_>,
    id: &str,
) -> Result<Option<String>, OutboxError> {
    let row = tx
        .query_opt(
            "SELECT body_hash FROM outbox WHERE id = $1 \
             UNION ALL SELECT body_hash FROM tombstones WHERE id = $1 LIMIT 1",
            &[&id],
        )
        .await
        .map_err(|e| db.pg(e))?;
    row.map(|row| db.get(&row, 0)).transpose()
}

/// Checks every row (and its hash), then stores the missing ones in one
/// transaction, waking idle workers if any was stored.
pub(crate) async fn import(
    db: &Db,
    rows: Vec<ExportedSignal>,
) -> Result<Vec<ImportOutcome>, OutboxError> {
    check_import(&rows)?;
    if let Some(row) = rows.iter().find(|r| body_hash(&r.body) != r.body_hash) {
        return Err(OutboxError::InvalidInput {
            reason: format!(
                "imported signal {:?}: body_hash does not match the body's SHA-256; nothing was \
                 stored",
                row.id
            ),
        });
    }
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let mut conn = db.conn().await?;
    let tx = conn.transaction().await.map_err(|e| db.pg(e))?;
    let now = now_in(db, &tx).await?;
    let insert = tx
        .prepare_cached(
            "INSERT INTO outbox (id, body, body_hash, state, attempts, claims, next_attempt_at, \
                 last_error, dead_reason, dead_at, enqueued_at, updated_at, delivered_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) \
             ON CONFLICT (id) DO NOTHING",
        )
        .await
        .map_err(|e| db.pg(e))?;
    let log = tx
        .prepare_cached(
            "INSERT INTO attempts (signal_id, attempt, at, worker, status, error_class, \
                 latency_ms, excerpt) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .await
        .map_err(|e| db.pg(e))?;
    let mut outcomes = Vec::with_capacity(rows.len());
    for row in &rows {
        let outcome = match stored_hash(db, &tx, &row.id).await? {
            Some(hash) => same_or_conflict(&hash, row),
            None => {
                let body: &[u8] = &row.body;
                let inserted = tx
                    .execute(
                        &insert,
                        &[
                            &row.id,
                            &body,
                            &row.body_hash,
                            &row.state.as_str(),
                            &i64::from(row.attempts),
                            &i64::from(row.claims),
                            &now.saturating_add(delay_ms(row.due_in)),
                            &row.last_error,
                            &row.dead_reason.map(|r| r.as_str()),
                            &row.dead_at,
                            &row.enqueued_at,
                            &row.updated_at,
                            &row.delivered_at,
                        ],
                    )
                    .await
                    .map_err(|e| db.pg(e))?;
                if inserted == 1 {
                    insert_log(db, &tx, &log, row).await?;
                    ImportOutcome::Imported
                } else {
                    // Enqueued by a transaction that committed meanwhile.
                    match stored_hash(db, &tx, &row.id).await? {
                        Some(hash) => same_or_conflict(&hash, row),
                        None => {
                            return Err(OutboxError::Unavailable {
                                target: db.target.to_string(),
                                detail: format!(
                                    "signal {} was removed while this batch was imported",
                                    row.id
                                ),
                            });
                        }
                    }
                }
            }
        };
        outcomes.push(outcome);
    }
    if outcomes.contains(&ImportOutcome::Imported) {
        notify(db, &tx).await?;
    }
    tx.commit().await.map_err(|e| db.pg(e))?;
    Ok(outcomes)
}

fn same_or_conflict(stored: &str, row: &ExportedSignal) -> ImportOutcome {
    if stored == row.body_hash {
        ImportOutcome::Skipped
    } else {
        ImportOutcome::Conflict
    }
}

async fn insert_log(
    db: &Db,
    tx: &deadpool_postgres::Transaction<'_>,
    log: &tokio_postgres::Statement,
    row: &ExportedSignal,
) -> Result<(), OutboxError> {
    for a in &row.attempt_log {
        tx.execute(
            log,
            &[
                &row.id,
                &i64::from(a.attempt),
                &a.at,
                &a.worker,
                &a.status.map(i32::from),
                &a.error_class,
                &duration_millis(a.latency),
                &a.excerpt,
            ],
        )
        .await
        .map_err(|e| db.pg(e))?;
    }
    Ok(())
}
