//! Recording outcomes: each fenced by its claim token, with the attempt
//! log, then the failure ledger and the alerts they cause, all in the
//! batch's one transaction.
//!
//! Each outcome is one statement (the fenced update and its attempt-log row
//! together), in batch order, since a later outcome for the same id must
//! see the earlier one. The ledger is read once per batch and locked only
//! when something changes it (a dead letter, or a delivery with failures
//! to reset): in steady state deliveries from the whole fleet never queue
//! on its row.

use deadpool_postgres::Transaction;
use signal_outbox::{
    AlertKind, AttemptRecord, MAX_ERROR_LEN, MAX_EXCERPT_LEN, NewAlert, OutboxError, Outcome,
    RECOVERED_GROUP, Timestamp, recovered_payload, truncate_utf8,
};
use tokio_postgres::types::ToSql;

use crate::alerts::insert_alert;
use crate::clock::NOW;
use crate::db::{Db, delay_ms};
use crate::signals::{check_worker, not_held, notify};

/// The fenced update: `set` applies only while row `$2` is in flight with
/// token `$3`; with `log`, the attempt ($4 number, $5 worker, $6 status, $7
/// class, $8 latency, $9 excerpt) goes to the attempt log in the same
/// statement. Further parameters follow from `$4` (no log) or `$10`.
fn fenced_sql(set: &str, log: bool) -> String {
    let log_cte = if log {
        format!(
            ", log AS (INSERT INTO attempts (signal_id, attempt, at, worker, status, error_class, \
                 latency_ms, excerpt) SELECT id, $4, {NOW}, $5, $6, $7, $8, $9 FROM upd)"
        )
    } else {
        String::new()
    };
    format!(
        "WITH upd AS (UPDATE outbox SET {set}, updated_at = {NOW}, lease_owner = NULL, \
             lease_until = NULL \
             WHERE id = $2 AND state = 'in_flight' AND claim_token = $3 RETURNING id){log_cte} \
         SELECT (SELECT count(*) FROM upd), (SELECT state FROM outbox WHERE id = $2), \
             (SELECT lease_owner FROM outbox WHERE id = $2)"
    )
}

fn check_attempt(attempt: Option<&AttemptRecord>) -> Result<(), OutboxError> {
    match attempt {
        Some(record) if record.attempt == 0 => Err(OutboxError::InvalidInput {
            reason: "an attempt record's number starts at 1, got 0".to_owned(),
        }),
        _ => Ok(()),
    }
}

/// Applies a batch of outcomes; per-row refusals are reported per item.
pub(crate) async fn record(
    db: &Db,
    worker: &str,
    outcomes: Vec<Outcome>,
) -> Result<Vec<Result<(), OutboxError>>, OutboxError> {
    check_worker(worker)?;
    if outcomes.is_empty() {
        return Ok(Vec::new());
    }
    let mut conn = db.conn().await?;
    let tx = conn.transaction().await.map_err(|e| db.pg(e))?;
    let mut results = Vec::with_capacity(outcomes.len());
    let mut held: Vec<&Outcome> = Vec::new();
    let mut wake = false;
    for outcome in &outcomes {
        if let Err(error) = check_attempt(outcome.attempt()) {
            results.push(Err(error));
            continue;
        }
        match apply(db, &tx, worker, outcome).await? {
            Ok(()) => {
                wake |= match outcome {
                    Outcome::Retry { delay, .. } | Outcome::Defer { delay, .. } => delay.is_zero(),
                    Outcome::Release { .. } => true,
                    Outcome::Delivered { .. } | Outcome::DeadLetter { .. } => false,
                };
                held.push(outcome);
                results.push(Ok(()));
            }
            Err(error) => results.push(Err(error)),
        }
    }
    ledger(db, &tx, &held).await?;
    if wake {
        notify(db, &tx).await?;
    }
    tx.commit().await.map_err(|e| db.pg(e))?;
    Ok(results)
}

async fn apply(
    db: &Db,
    tx: &Transaction<'_>,
    worker: &str,
    outcome: &Outcome,
) -> Result<Result<(), OutboxError>, OutboxError> {
    let now = db.now();
    let id = outcome.id().to_owned();
    let token = outcome.token().0;
    let attempt = outcome.attempt();
    let number = attempt.map(|a| i64::from(a.attempt));
    let status = attempt.and_then(|a| a.status).map(i32::from);
    let class = attempt.and_then(|a| a.error_class.clone());
    let latency = attempt.map(|a| signal_outbox::duration_millis(a.latency));
    let excerpt = attempt
        .and_then(|a| a.excerpt.as_deref())
        .map(|text| truncate_utf8(text, MAX_EXCERPT_LEN).to_owned());
    let mut params: Vec<&(dyn ToSql + Sync)> = vec![&now, &id, &token];
    let log_params: [&(dyn ToSql + Sync); 6] =
        [&number, &worker, &status, &class, &latency, &excerpt];
    let (sql, extra): (String, Vec<Box<dyn ToSql + Sync + Send>>) = match outcome {
        Outcome::Delivered { .. } => (crate::sql::RECORD_DELIVERED.to_owned(), Vec::new()),
        Outcome::Retry {
            delay, last_error, ..
        } => (
            fenced_sql(
                &format!(
                    "state = 'pending', attempts = $4, next_attempt_at = {NOW} + $10, last_error = $11"
                ),
                true,
            ),
            vec![
                Box::new(delay_ms(*delay)),
                Box::new(truncate_utf8(last_error, MAX_ERROR_LEN).to_owned()),
            ],
        ),
        Outcome::Defer { delay, .. } => (
            fenced_sql(
                &format!("state = 'pending', next_attempt_at = {NOW} + $4"),
                false,
            ),
            vec![Box::new(delay_ms(*delay))],
        ),
        Outcome::DeadLetter {
            attempts,
            reason,
            last_error,
            attempt,
            ..
        } => {
            let (first, log) = if attempt.is_some() {
                (10, true)
            } else {
                (4, false)
            };
            (
                fenced_sql(
                    &format!(
                        "state = 'dead_lettered', attempts = ${}, dead_reason = ${}, \
                         dead_at = {NOW}, last_error = ${}",
                        first,
                        first + 1,
                        first + 2
                    ),
                    log,
                ),
                vec![
                    Box::new(i64::from(*attempts)),
                    Box::new(reason.as_str().to_owned()),
                    Box::new(truncate_utf8(last_error, MAX_ERROR_LEN).to_owned()),
                ],
            )
        }
        Outcome::Release { .. } => (fenced_sql("state = 'pending'", false), Vec::new()),
    };
    if attempt.is_some() {
        params.extend_from_slice(&log_params);
    }
    for value in &extra {
        params.push(value.as_ref() as &(dyn ToSql + Sync));
    }
    let statement = tx.prepare_cached(&sql).await.map_err(|e| db.pg(e))?;
    let row = tx
        .query_one(&statement, &params)
        .await
        .map_err(|e| db.pg(e))?;
    let applied: i64 = db.get(&row, 0)?;
    if applied == 1 {
        if let Outcome::DeadLetter {
            reason, attempts, ..
        } = outcome
        {
            tracing::warn!(signal_id = %id, %reason, attempts, "signal dead-lettered");
        }
        Ok(Ok(()))
    } else {
        Ok(Err(not_held(db, &id, db.get(&row, 1)?, db.get(&row, 2)?)?))
    }
}

/// The ledger as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stored {
    consecutive: i64,
    outage: Option<(Timestamp, i64)>,
}

async fn read_ledger(db: &Db, tx: &Transaction<'_>, lock: bool) -> Result<Stored, OutboxError> {
    let sql = if lock {
        "SELECT consecutive_failures, outage_started_at, outage_failed FROM ledger WHERE id = 1 FOR UPDATE"
    } else {
        "SELECT consecutive_failures, outage_started_at, outage_failed FROM ledger WHERE id = 1"
    };
    let row = tx.query_one(sql, &[]).await.map_err(|e| db.pg(e))?;
    let started: Option<Timestamp> = db.get(&row, 1)?;
    Ok(Stored {
        consecutive: db.get(&row, 0)?,
        outage: started.map(|at| (at, db.get(&row, 2).unwrap_or(0))),
    })
}

/// Replays the held deliveries and dead letters, in order, on the ledger:
/// dead-letter alerts with their consecutive count, one recovered alert per
/// outage closed, then the ledger written once.
async fn ledger(db: &Db, tx: &Transaction<'_>, held: &[&Outcome]) -> Result<(), OutboxError> {
    let dead = held.iter().any(|o| matches!(o, Outcome::DeadLetter { .. }));
    let delivered = held.iter().any(|o| matches!(o, Outcome::Delivered { .. }));
    if !dead && !delivered {
        return Ok(());
    }
    let mut ledger = read_ledger(db, tx, dead).await?;
    if !dead {
        if ledger.consecutive == 0 && ledger.outage.is_none() {
            return Ok(()); // nothing to reset: no lock taken
        }
        ledger = read_ledger(db, tx, true).await?;
    }
    let before = ledger;
    let now: Timestamp = {
        let row = tx
            .query_one(&format!("SELECT {NOW}"), &[&db.now()])
            .await
            .map_err(|e| db.pg(e))?;
        db.get(&row, 0)?
    };
    for outcome in held {
        match outcome {
            Outcome::Delivered { .. } => {
                ledger.consecutive = 0;
                if let Some((started, failed)) = ledger.outage.take() {
                    let alert = NewAlert {
                        kind: AlertKind::Recovered,
                        group_key: RECOVERED_GROUP.to_owned(),
                        signal_id: None,
                        payload: recovered_payload(
                            started,
                            now,
                            u64::try_from(failed).unwrap_or(0),
                        ),
                    };
                    insert_alert(db, tx, &alert, Some(0)).await?;
                    tracing::info!(
                        outage_started_at = started,
                        failed,
                        "signal delivery recovered"
                    );
                }
            }
            Outcome::DeadLetter { alert, outage, .. } => {
                ledger.consecutive += 1;
                if *outage {
                    let (started, failed) = ledger.outage.unwrap_or((now, 0));
                    ledger.outage = Some((started, failed + 1));
                }
                insert_alert(db, tx, alert, Some(ledger.consecutive)).await?;
            }
            Outcome::Retry { .. } | Outcome::Defer { .. } | Outcome::Release { .. } => {}
        }
    }
    if ledger != before {
        let (started, failed) = match ledger.outage {
            Some((started, failed)) => (Some(started), failed),
            None => (None, 0),
        };
        tx.execute(
            "UPDATE ledger SET consecutive_failures = $1, outage_started_at = $2, outage_failed = $3 \
             WHERE id = 1",
            &[&ledger.consecutive, &started, &failed],
        )
        .await
        .map_err(|e| db.pg(e))?;
    }
    Ok(())
}
