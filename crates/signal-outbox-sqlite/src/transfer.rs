//! Export and import: moving signal rows to or from another backend.

use rusqlite::types::Value;
use rusqlite::{OptionalExtension, Transaction};
use signal_outbox::{
    ExportRequest, ExportedSignal, ImportOutcome, OutboxError, SignalDetail, StoredAttempt,
    Timestamp, after, check_import, duration_millis,
};

use crate::admin::{SUMMARY_COLUMNS, summary_from_row};
use crate::codec::{limit as limit_param, millis};
use crate::diagnose::Sql;
use crate::thread::Db;
use signal_outbox::body_hash;

/// One page, rows and attempt logs from one read transaction.
pub(crate) fn export(db: &mut Db, request: ExportRequest) -> Sql<Vec<ExportedSignal>> {
    if request.limit == 0 {
        return Ok(Vec::new());
    }
    let mut params: Vec<Value> = vec![Value::Text(request.after.clone().unwrap_or_default())];
    let mut condition = "id > ?".to_owned();
    if !request.states.is_empty() {
        let marks = vec!["?"; request.states.len()].join(", ");
        condition.push_str(&format!(" AND state IN ({marks})"));
        params.extend(
            request
                .states
                .iter()
                .map(|s| Value::Text(s.as_str().to_owned())),
        );
    }
    params.push(Value::Integer(limit_param(request.limit)));
    let sql =
        format!("SELECT {SUMMARY_COLUMNS}, body FROM outbox WHERE {condition} ORDER BY id LIMIT ?");
    db.read(|tx, now| {
        let rows = tx
            .prepare_cached(&sql)?
            .query_map(rusqlite::params_from_iter(params), |r| {
                Ok((summary_from_row(r)?, r.get::<_, Vec<u8>>(15)?))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        let mut attempts = tx.prepare_cached(
            "SELECT attempt, at, worker, status, error_class, latency_ms, excerpt FROM attempts \
             WHERE signal_id = ?1 ORDER BY seq",
        )?;
        let mut out = Vec::with_capacity(rows.len());
        for (row, body) in rows {
            let log = attempts
                .query_map([&row.id], |r| {
                    Ok(StoredAttempt {
                        attempt: r.get(0)?,
                        at: r.get(1)?,
                        worker: r.get(2)?,
                        status: r.get(3)?,
                        error_class: r.get(4)?,
                        latency: millis(r.get(5)?),
                        excerpt: r.get(6)?,
                    })
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            let detail = SignalDetail {
                row,
                body: body.into(),
                attempts: log,
            };
            out.push(ExportedSignal::from_detail(detail, now));
        }
        Ok(out)
    })
}

/// Checks every row (and its hash), then stores the missing ones in one
/// write transaction.
pub(crate) fn import(db: &mut Db, rows: Vec<ExportedSignal>) -> Sql<Vec<ImportOutcome>> {
    check_import(&rows)?;
    if let Some(row) = rows.iter().find(|r| body_hash(&r.body) != r.body_hash) {
        return Err(OutboxError::InvalidInput {
            reason: format!(
                "imported signal {:?}: body_hash does not match the body's SHA-256; nothing was \
                 stored",
                row.id
            ),
        }
        .into());
    }
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    db.write(|tx, now| {
        rows.iter()
            .map(|row| import_one(tx, row, now))
            .collect::<Sql<Vec<_>>>()
    })
}

fn import_one(tx: &Transaction<'_>, row: &ExportedSignal, now: Timestamp) -> Sql<ImportOutcome> {
    let stored: Option<String> = tx
        .prepare_cached(
            "SELECT body_hash FROM outbox WHERE id = ?1 \
             UNION ALL SELECT body_hash FROM tombstones WHERE id = ?1 LIMIT 1",
        )?
        .query_row([&row.id], |r| r.get(0))
        .optional()?;
    if let Some(hash) = stored {
        return Ok(if hash == row.body_hash {
            ImportOutcome::Skipped
        } else {
            ImportOutcome::Conflict
        });
    }
    tx.prepare_cached(
        "INSERT INTO outbox (id, body, body_hash, state, attempts, claims, next_attempt_at, \
             last_error, dead_reason, dead_at, enqueued_at, updated_at, delivered_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
    )?
    .execute(rusqlite::params![
        row.id,
        &row.body[..],
        row.body_hash,
        row.state.as_str(),
        row.attempts,
        row.claims,
        after(now, row.due_in),
        row.last_error,
        row.dead_reason.map(|r| r.as_str()),
        row.dead_at,
        row.enqueued_at,
        row.updated_at,
        row.delivered_at,
    ])?;
    let mut log = tx.prepare_cached(
        "INSERT INTO attempts (signal_id, attempt, at, worker, status, error_class, latency_ms, \
             excerpt) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?;
    for a in &row.attempt_log {
        log.execute(rusqlite::params![
            row.id,
            a.attempt,
            a.at,
            a.worker,
            a.status,
            a.error_class,
            duration_millis(a.latency),
            a.excerpt,
        ])?;
    }
    Ok(ImportOutcome::Imported)
}
