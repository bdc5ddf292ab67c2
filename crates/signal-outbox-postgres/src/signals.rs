//! Enqueue and claim: the write path of a signal up to its delivery.

use std::time::Duration;

use bytes::Bytes;
use signal_outbox::{
    AlertKind, CONFLICT_GROUP, ClaimToken, Claimed, Claims, EnqueueBatch, EnqueueOutcome, NewAlert,
    OutboxError, Timestamp, conflict_payload,
};

use crate::alerts::insert_alert;
use crate::clock::NOW;
use crate::db::{CHANNEL, Db, delay_ms, limit as limit_param};
use signal_outbox::body_hash;

/// Written once in the contract, so that every backend checks alike.
pub(crate) use signal_outbox::{check_lease, check_worker};

/// One signal: the tombstone, the insert and the comparison in one round
/// trip. The last SELECT sees the statement's snapshot: the stored row of
/// an earlier statement or transaction, not this statement's own insert.
fn enqueue_sql() -> String {
    format!(
        "WITH tomb AS (SELECT body_hash FROM tombstones WHERE id = $2), \
         ins AS (INSERT INTO outbox (id, body, body_hash, state, attempts, claims, \
                     next_attempt_at, enqueued_at, updated_at) \
                 SELECT $2, $3, $4, 'pending', 0, 0, {NOW}, {NOW}, {NOW} \
                 WHERE NOT EXISTS (SELECT 1 FROM tomb) \
                 ON CONFLICT (id) DO NOTHING RETURNING 1) \
         SELECT (SELECT count(*) FROM ins), (SELECT body_hash FROM tomb), \
             (SELECT body_hash = $4 AND body = $3 FROM outbox WHERE id = $2)"
    )
}

/// Stores a batch (signals, conflict alerts, the batch's alerts) in one
/// transaction, with a NOTIFY when a row became due.
pub(crate) async fn enqueue(
    db: &Db,
    batch: EnqueueBatch,
) -> Result<Vec<EnqueueOutcome>, OutboxError> {
    if let Some(index) = batch.signals.iter().position(|s| s.id.is_empty()) {
        return Err(OutboxError::InvalidInput {
            reason: format!("signal {index} of the batch has an empty id; nothing was stored"),
        });
    }
    if batch.signals.is_empty() && batch.alerts.is_empty() {
        return Ok(Vec::new());
    }
    let now = db.now();
    let mut conn = db.conn().await?;
    let tx = conn.transaction().await.map_err(|e| db.pg(e))?;
    let insert = tx
        .prepare_cached(&enqueue_sql())
        .await
        .map_err(|e| db.pg(e))?;
    let mut outcomes = Vec::with_capacity(batch.signals.len());
    let mut any_inserted = false;
    for signal in &batch.signals {
        let hash = body_hash(&signal.body);
        let body: &[u8] = &signal.body;
        let row = tx
            .query_one(&insert, &[&now, &signal.id, &body, &hash])
            .await
            .map_err(|e| db.pg(e))?;
        let inserted: i64 = db.get(&row, 0)?;
        let tombstone: Option<String> = db.get(&row, 1)?;
        let same: Option<bool> = db.get(&row, 2)?;
        let outcome = if inserted == 1 {
            any_inserted = true;
            EnqueueOutcome::Inserted
        } else if let Some(stored) = tombstone {
            if stored == hash {
                EnqueueOutcome::AlreadyPresent
            } else {
                EnqueueOutcome::Conflict
            }
        } else {
            // Inserted by a transaction that committed after this
            // statement's snapshot: a fresh statement sees it.
            let same = match same {
                Some(same) => same,
                None => {
                    let again = tx
                        .query_opt(
                            "SELECT body_hash = $2 AND body = $3 FROM outbox WHERE id = $1",
                            &[&signal.id, &hash, &body],
                        )
                        .await
                        .map_err(|e| db.pg(e))?;
                    match again {
                        Some(row) => db.get(&row, 0)?,
                        None => {
                            return Err(OutboxError::Unavailable {
                                target: db.target.to_string(),
                                detail: format!(
                                    "signal {} was removed while this batch was stored (a \
                                     concurrent purge)",
                                    signal.id
                                ),
                            });
                        }
                    }
                }
            };
            if same {
                EnqueueOutcome::AlreadyPresent
            } else {
                EnqueueOutcome::Conflict
            }
        };
        if outcome == EnqueueOutcome::Conflict {
            tracing::warn!(signal_id = %signal.id, "enqueue rejected: id already stored with a different body");
            let alert = NewAlert {
                kind: AlertKind::Conflict,
                group_key: CONFLICT_GROUP.to_owned(),
                signal_id: Some(signal.id.clone()),
                payload: conflict_payload(&signal.id, signal.line),
            };
            insert_alert(db, &tx, &alert, None).await?;
        }
        outcomes.push(outcome);
    }
    for alert in &batch.alerts {
        insert_alert(db, &tx, alert, None).await?;
    }
    if any_inserted {
        notify(db, &tx).await?;
    }
    tx.commit().await.map_err(|e| db.pg(e))?;
    Ok(outcomes)
}

/// Wakes listening workers when this transaction commits (NOTIFY is
/// transactional: a rollback sends nothing, and the hint never arrives
/// before the rows are visible).
pub(crate) async fn notify(
    db: &Db,
    tx: &deadpool_postgres::Transaction<'_>,
) -> Result<(), OutboxError> {
    tx.execute("SELECT pg_notify($1, '')", &[&CHANNEL])
        .await
        .map_err(|e| db.pg(e))?;
    Ok(())
}

/// Claims up to `limit` due rows for `worker` ([`crate::sql::CLAIM`]).
pub(crate) async fn claim(
    db: &Db,
    worker: &str,
    limit: usize,
    lease: Duration,
) -> Result<Claims, OutboxError> {
    check_worker(worker)?;
    check_lease(lease)?;
    let now_param = db.now();
    let conn = db.conn().await?;
    if limit == 0 {
        let now = database_now(db, &conn).await?;
        return Ok(Claims {
            now,
            rows: Vec::new(),
        });
    }
    let statement = conn
        .prepare_cached(crate::sql::CLAIM)
        .await
        .map_err(|e| db.pg(e))?;
    let rows = conn
        .query(
            &statement,
            &[&now_param, &limit_param(limit), &worker, &delay_ms(lease)],
        )
        .await
        .map_err(|e| db.pg(e))?;
    let mut now: Timestamp = 0;
    let mut claimed: Vec<(Timestamp, Claimed)> = Vec::with_capacity(rows.len());
    for row in &rows {
        now = db.get(row, 0)?;
        let Some(id) = db.get::<Option<String>>(row, 1)? else {
            continue;
        };
        let body: Vec<u8> = db.get(row, 2)?;
        claimed.push((
            db.get(row, 9)?,
            Claimed {
                id,
                body: Bytes::from(body),
                attempts: db.count(row, 3)?,
                claims: db.count(row, 4)?,
                enqueued_at: db.get(row, 5)?,
                last_error: db.get(row, 6)?,
                token: ClaimToken(db.get(row, 7)?),
                lease_until: db.get(row, 8)?,
                lease_expired: db.get(row, 10)?,
            },
        ));
    }
    // RETURNING keeps no order: restore "earliest due first".
    claimed.sort_by(|(a_due, a), (b_due, b)| {
        (a_due, a.enqueued_at, &a.id).cmp(&(b_due, b.enqueued_at, &b.id))
    });
    Ok(Claims {
        now,
        rows: claimed.into_iter().map(|(_, row)| row).collect(),
    })
}

/// The database's time (or the test clock's).
pub(crate) async fn database_now(
    db: &Db,
    client: &tokio_postgres::Client,
) -> Result<Timestamp, OutboxError> {
    let row = client
        .query_one(&format!("SELECT {NOW}"), &[&db.now()])
        .await
        .map_err(|e| db.pg(e))?;
    db.get(&row, 0)
}

/// The `Fenced` or `UnknownId` error for a row a change did not apply to.
pub(crate) fn not_held(
    db: &Db,
    id: &str,
    state: Option<String>,
    owner: Option<String>,
) -> Result<OutboxError, OutboxError> {
    Ok(match state {
        None => OutboxError::UnknownId { id: id.to_owned() },
        Some(state) => OutboxError::Fenced {
            id: id.to_owned(),
            state: state.parse().map_err(|e: signal_outbox::ParseStateError| {
                crate::error::corrupt(&db.target, e.to_string())
            })?,
            owner,
        },
    })
}

/// Extends each lease still held.
pub(crate) async fn extend(
    db: &Db,
    leases: Vec<(String, ClaimToken)>,
    lease: Duration,
) -> Result<Vec<Result<Timestamp, OutboxError>>, OutboxError> {
    check_lease(lease)?;
    if leases.is_empty() {
        return Ok(Vec::new());
    }
    let now = db.now();
    let mut conn = db.conn().await?;
    let tx = conn.transaction().await.map_err(|e| db.pg(e))?;
    let sql = format!(
        "WITH upd AS (UPDATE outbox SET lease_until = {NOW} + $4, updated_at = {NOW} \
             WHERE id = $2 AND state = 'in_flight' AND claim_token = $3 RETURNING lease_until) \
         SELECT (SELECT lease_until FROM upd), (SELECT state FROM outbox WHERE id = $2), \
             (SELECT lease_owner FROM outbox WHERE id = $2)"
    );
    let update = tx.prepare_cached(&sql).await.map_err(|e| db.pg(e))?;
    let mut results: Vec<Option<Result<Timestamp, OutboxError>>> = Vec::new();
    results.resize_with(leases.len(), || None);
    // In id order, like `record` (see there why), pipelined on the one
    // connection.
    let order = crate::record::in_id_order(leases.iter().map(|(id, _)| id.as_str()));
    let delay = delay_ms(lease);
    let rows = futures_util::future::try_join_all(order.iter().map(|&index| {
        let (id, token) = &leases[index];
        let params: [&(dyn tokio_postgres::types::ToSql + Sync); 4] = [&now, id, &token.0, &delay];
        let update = &update;
        let tx = &tx;
        async move { tx.query_one(update, &params).await.map_err(|e| db.pg(e)) }
    }))
    .await?;
    for (index, row) in order.into_iter().zip(rows) {
        let id = &leases[index].0;
        results[index] = Some(match db.get::<Option<i64>>(&row, 0)? {
            Some(until) => Ok(until),
            None => Err(not_held(db, id, db.get(&row, 1)?, db.get(&row, 2)?)?),
        });
    }
    tx.commit().await.map_err(|e| db.pg(e))?;
    Ok(results.into_iter().flatten().collect())
}

/// Hands back every row `worker` holds, waking listeners if any.
pub(crate) async fn release_all(db: &Db, worker: &str) -> Result<u64, OutboxError> {
    check_worker(worker)?;
    let now = db.now();
    let mut conn = db.conn().await?;
    let tx = conn.transaction().await.map_err(|e| db.pg(e))?;
    let released = tx
        .execute(
            &format!(
                "UPDATE outbox SET state = 'pending', updated_at = {NOW}, lease_owner = NULL, \
                     lease_until = NULL \
                 WHERE state = 'in_flight' AND lease_owner = $2"
            ),
            &[&now, &worker],
        )
        .await
        .map_err(|e| db.pg(e))?;
    if released > 0 {
        notify(db, &tx).await?;
    }
    tx.commit().await.map_err(|e| db.pg(e))?;
    Ok(released)
}
