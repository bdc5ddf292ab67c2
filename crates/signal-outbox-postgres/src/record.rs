//! Recording outcomes: each fenced by its claim token, with the attempt
//! log, then the failure ledger and the alerts they cause, all in the
//! batch's one transaction.
//!
//! Each outcome is one statement (the fenced update and its attempt-log row
//! together), sent pipelined in id order (locks taken in one order, see
//! `record`); the sort is stable, so a later outcome for the same id still
//! sees the earlier one. The ledger is read once per batch and locked only
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
    let mut results: Vec<Option<Result<(), OutboxError>>> = Vec::new();
    results.resize_with(outcomes.len(), || None);
    // Rows are locked in id order, as `extend` does: a lease renewal and a
    // group commit of the same worker touch the same rows at the same time,
    // and in different orders they deadlock (PostgreSQL aborts one). The
    // sort is stable: outcomes for one id keep their batch order.
    let mut valid = Vec::with_capacity(outcomes.len());
    for index in in_id_order(outcomes.iter().map(Outcome::id)) {
        match check_attempt(outcomes[index].attempt()) {
            Ok(()) => valid.push(index),
            Err(error) => results[index] = Some(Err(error)),
        }
    }
    let applied = if has_duplicates(valid.iter().map(|&index| outcomes[index].id())) {
        // A later outcome for an id must see the earlier one: one at a time.
        let mut applied = Vec::with_capacity(valid.len());
        for &index in &valid {
            applied.push(apply(db, &tx, worker, &outcomes[index]).await?);
        }
        applied
    } else {
        // Pipelined on the one connection: sent without waiting for each
        // answer (one round trip for the batch, not one per row). The
        // statements are prepared first, so that no statement waits for
        // its preparation while a later one is sent.
        let mut prepared = std::collections::HashSet::new();
        for &index in &valid {
            let (sql, _) = statement(&outcomes[index]);
            if prepared.insert(sql.clone()) {
                let _ = tx.prepare_cached(&sql).await.map_err(|e| db.pg(e))?;
            }
        }
        futures_util::future::try_join_all(
            valid
                .iter()
                .map(|&index| apply(db, &tx, worker, &outcomes[index])),
        )
        .await?
    };
    let mut held: Vec<usize> = Vec::new();
    let mut wake = false;
    for (index, result) in valid.into_iter().zip(applied) {
        match result {
            Ok(()) => {
                wake |= match &outcomes[index] {
                    Outcome::Retry { delay, .. } | Outcome::Defer { delay, .. } => delay.is_zero(),
                    Outcome::Release { .. } => true,
                    Outcome::Delivered { .. } | Outcome::DeadLetter { .. } => false,
                };
                held.push(index);
                results[index] = Some(Ok(()));
            }
            Err(error) => results[index] = Some(Err(error)),
        }
    }
    held.sort_unstable();
    let held: Vec<&Outcome> = held.into_iter().map(|index| &outcomes[index]).collect();
    ledger(db, &tx, &held).await?;
    if wake {
        notify(db, &tx).await?;
    }
    tx.commit().await.map_err(|e| db.pg(e))?;
    Ok(results.into_iter().flatten().collect())
}

/// The indices of `ids`, sorted by id (byte order, the `COLLATE "C"` of the
/// column), so that every statement locks rows in one order.
pub(crate) fn in_id_order<'a>(ids: impl Iterator<Item = &'a str>) -> Vec<usize> {
    let ids: Vec<&str> = ids.collect();
    let mut order: Vec<usize> = (0..ids.len()).collect();
    order.sort_by(|a, b| ids[*a].cmp(ids[*b]));
    order
}

/// A statement's SQL and its parameters after the common ones.
type Statement = (String, Vec<Box<dyn ToSql + Sync + Send>>);

/// The statement that records `outcome`.
fn statement(outcome: &Outcome) -> Statement {
    match outcome {
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
    }
}

/// Whether an id appears twice.
fn has_duplicates<'a>(ids: impl Iterator<Item = &'a str>) -> bool {
    let mut seen = std::collections::HashSet::new();
    !ids.into_iter().all(|id| seen.insert(id))
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
    let (sql, extra) = statement(outcome);
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
