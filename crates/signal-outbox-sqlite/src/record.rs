//! Recording outcomes: each fenced by its claim token, with the attempt log,
//! the failure ledger and the alerts they cause, all in the batch's one
//! transaction.

use rusqlite::Transaction;
use signal_outbox::{
    AlertKind, AttemptRecord, MAX_ERROR_LEN, MAX_EXCERPT_LEN, NewAlert, OutboxError, Outcome,
    RECOVERED_GROUP, Timestamp, after, duration_millis, recovered_payload, truncate_utf8,
};

use crate::alerts::insert_alert;
use crate::diagnose::Sql;
use crate::signals::{check_worker, not_held};
use crate::thread::Db;

/// Columns every outcome clears: the row leaves its claim.
const UNLEASE: &str = "lease_owner = NULL, lease_until = NULL";

/// Applies a batch of outcomes; per-row refusals are reported per item.
pub(crate) fn record(
    db: &mut Db,
    worker: &str,
    outcomes: Vec<Outcome>,
) -> Sql<Vec<Result<(), OutboxError>>> {
    check_worker(worker)?;
    if outcomes.is_empty() {
        return Ok(Vec::new());
    }
    db.write(|tx, now| {
        let mut results = Vec::with_capacity(outcomes.len());
        for outcome in &outcomes {
            results.push(apply(tx, worker, outcome, now)?);
        }
        Ok(results)
    })
}

/// Runs the fenced update of one outcome: `Ok(true)` if the claim was held.
fn fenced(
    tx: &Transaction<'_>,
    set: &str,
    id: &str,
    token: i64,
    extra: &[&dyn rusqlite::ToSql],
) -> Sql<bool> {
    let sql = format!(
        "UPDATE outbox SET {set}, {UNLEASE} \
         WHERE id = ?1 AND state = 'in_flight' AND claim_token = ?2"
    );
    let mut params: Vec<&dyn rusqlite::ToSql> = vec![&id, &token];
    params.extend_from_slice(extra);
    Ok(tx.prepare_cached(&sql)?.execute(params.as_slice())? == 1)
}

fn check_attempt(attempt: Option<&AttemptRecord>) -> Result<(), OutboxError> {
    match attempt {
        Some(record) if record.attempt == 0 => Err(OutboxError::InvalidInput {
            reason: "an attempt record's number starts at 1, got 0".to_owned(),
        }),
        _ => Ok(()),
    }
}

fn apply(
    tx: &Transaction<'_>,
    worker: &str,
    outcome: &Outcome,
    now: Timestamp,
) -> Sql<Result<(), OutboxError>> {
    if let Err(error) = check_attempt(outcome.attempt()) {
        return Ok(Err(error));
    }
    let id = outcome.id();
    let token = outcome.token().0;
    let held = match outcome {
        Outcome::Delivered { attempt, .. } => fenced(
            tx,
            "state = 'delivered', attempts = ?3, delivered_at = ?4, updated_at = ?4",
            id,
            token,
            &[&attempt.attempt, &now],
        )?,
        Outcome::Retry {
            attempt,
            delay,
            last_error,
            ..
        } => fenced(
            tx,
            "state = 'pending', attempts = ?3, next_attempt_at = ?4, last_error = ?5, \
             updated_at = ?6",
            id,
            token,
            &[
                &attempt.attempt,
                &after(now, *delay),
                &truncate_utf8(last_error, MAX_ERROR_LEN),
                &now,
            ],
        )?,
        Outcome::Defer { delay, .. } => fenced(
            tx,
            "state = 'pending', next_attempt_at = ?3, updated_at = ?4",
            id,
            token,
            &[&after(now, *delay), &now],
        )?,
        Outcome::DeadLetter {
            attempts,
            reason,
            last_error,
            ..
        } => fenced(
            tx,
            "state = 'dead_lettered', attempts = ?3, dead_reason = ?4, dead_at = ?5, \
             last_error = ?6, updated_at = ?5",
            id,
            token,
            &[
                attempts,
                &reason.as_str(),
                &now,
                &truncate_utf8(last_error, MAX_ERROR_LEN),
            ],
        )?,
        Outcome::Release { .. } => {
            fenced(tx, "state = 'pending', updated_at = ?3", id, token, &[&now])?
        }
    };
    if !held {
        return Ok(Err(not_held(tx, id)?));
    }
    if let Some(attempt) = outcome.attempt() {
        log_attempt(tx, id, attempt, worker, now)?;
    }
    match outcome {
        Outcome::Delivered { .. } => delivered(tx, now)?,
        Outcome::DeadLetter {
            reason,
            attempts,
            alert,
            outage,
            ..
        } => {
            tracing::warn!(signal_id = %id, %reason, attempts, "signal dead-lettered");
            dead_lettered(tx, alert, *outage, now)?;
        }
        Outcome::Retry { .. } | Outcome::Defer { .. } | Outcome::Release { .. } => {}
    }
    Ok(Ok(()))
}

fn log_attempt(
    tx: &Transaction<'_>,
    id: &str,
    attempt: &AttemptRecord,
    worker: &str,
    now: Timestamp,
) -> Sql<()> {
    tx.prepare_cached(
        "INSERT INTO attempts (signal_id, attempt, at, worker, status, error_class, latency_ms, excerpt) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?
    .execute((
        id,
        attempt.attempt,
        now,
        worker,
        attempt.status,
        attempt.error_class.as_deref(),
        duration_millis(attempt.latency),
        attempt.excerpt.as_deref().map(|text| truncate_utf8(text, MAX_EXCERPT_LEN)),
    ))?;
    Ok(())
}

/// A delivery: the failure streak ends, and an open outage closes with one
/// recovered alert (stored here, so a crash cannot lose it and a second
/// delivery finds the outage already closed).
fn delivered(tx: &Transaction<'_>, now: Timestamp) -> Sql<()> {
    let (started, failed): (Option<Timestamp>, i64) = tx
        .prepare_cached("SELECT outage_started_at, outage_failed FROM ledger WHERE id = 1")?
        .query_row([], |row| Ok((row.get(0)?, row.get(1)?)))?;
    tx.prepare_cached(
        "UPDATE ledger SET consecutive_failures = 0, outage_started_at = NULL, outage_failed = 0 \
         WHERE id = 1",
    )?
    .execute([])?;
    if let Some(started) = started {
        let alert = NewAlert {
            kind: AlertKind::Recovered,
            group_key: RECOVERED_GROUP.to_owned(),
            signal_id: None,
            payload: recovered_payload(started, now, crate::codec::count(failed)),
        };
        insert_alert(tx, &alert, now)?;
        tracing::info!(
            outage_started_at = started,
            failed,
            "signal delivery recovered"
        );
    }
    Ok(())
}

/// A dead letter: one more failure in a row, the outage opened or counted,
/// and its alert stored with the new count.
fn dead_lettered(tx: &Transaction<'_>, alert: &NewAlert, outage: bool, now: Timestamp) -> Sql<()> {
    tx.prepare_cached(
        "UPDATE ledger SET consecutive_failures = consecutive_failures + 1, \
             outage_started_at = CASE WHEN ?1 THEN coalesce(outage_started_at, ?2) \
                                      ELSE outage_started_at END, \
             outage_failed = outage_failed + ?1 \
         WHERE id = 1",
    )?
    .execute((outage, now))?;
    insert_alert(tx, alert, now)?;
    Ok(())
}
