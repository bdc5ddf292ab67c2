//! The stored alerts, the sender lease that fences them, and the ledger.
//!
//! One sender for the whole fleet: the lease is one row, taken over with a
//! single conditional upsert (`... WHERE owner = me OR until <= now`), and
//! every alert read or update checks its token in the same transaction
//! (`FOR SHARE` while updating, so a takeover waits for the update to end).
//! The per-chat pace, grouping and summaries are computed by the sender
//! from stored send times ([`AlertStore::alert_groups`]), so they hold for
//! the fleet as a whole, across restarts and changes of sender.
//!
//! [`AlertStore::alert_groups`]: signal_outbox::AlertStore::alert_groups

use std::collections::BTreeMap;
use std::time::Duration;

use deadpool_postgres::Transaction;
use signal_outbox::{
    AlertId, AlertUpdate, ClaimToken, GroupState, Ledger, MAX_ERROR_LEN, NewAlert, Outage,
    OutboxError, SenderLease, StoredAlert, Timestamp, duration_millis, truncate_utf8,
};
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

use crate::clock::NOW;
use crate::db::{Db, delay_ms, limit as limit_param};
use crate::signals::{check_lease, check_worker};

const ALERT_COLUMNS: &str = "id, kind, group_key, signal_id, payload, created_at, state, \
     consecutive, attempts, not_before, sent_at, message_id, last_error, summary_of";

fn alert_from_row(db: &Db, row: &Row) -> Result<StoredAlert, OutboxError> {
    Ok(StoredAlert {
        id: AlertId(db.get(row, 0)?),
        kind: db.parsed(row, 1)?,
        group_key: db.get(row, 2)?,
        signal_id: db.get(row, 3)?,
        payload: db.get(row, 4)?,
        created_at: db.get(row, 5)?,
        state: db.parsed(row, 6)?,
        consecutive: db.count(row, 7)?,
        attempts: db.count(row, 8)?,
        not_before: db.get(row, 9)?,
        sent_at: db.get(row, 10)?,
        message_id: db.get(row, 11)?,
        last_error: db.get(row, 12)?,
        summary_of: db.get::<Option<i64>>(row, 13)?.map(AlertId),
    })
}

/// Stores one pending alert, due now; its `consecutive` is the given count,
/// or the ledger's current one.
pub(crate) async fn insert_alert(
    db: &Db,
    tx: &Transaction<'_>,
    alert: &NewAlert,
    consecutive: Option<i64>,
) -> Result<AlertId, OutboxError> {
    insert(db, tx, alert, consecutive, "pending", None).await
}

async fn insert(
    db: &Db,
    tx: &Transaction<'_>,
    alert: &NewAlert,
    consecutive: Option<i64>,
    state: &str,
    message_id: Option<i64>,
) -> Result<AlertId, OutboxError> {
    let sql = format!(
        "INSERT INTO alerts (kind, group_key, signal_id, payload, created_at, state, consecutive, \
             not_before, sent_at, message_id) \
         SELECT $2, $3, $4, $5, {NOW}, $6, COALESCE($7, consecutive_failures), {NOW}, \
             CASE WHEN $6 = 'sent' THEN {NOW} END, $8 \
         FROM ledger WHERE id = 1 RETURNING id"
    );
    let statement = tx.prepare_cached(&sql).await.map_err(|e| db.pg(e))?;
    let row = tx
        .query_one(
            &statement,
            &[
                &db.now(),
                &alert.kind.as_str(),
                &alert.group_key,
                &alert.signal_id,
                &alert.payload,
                &state,
                &consecutive,
                &message_id,
            ],
        )
        .await
        .map_err(|e| db.pg(e))?;
    Ok(AlertId(db.get(&row, 0)?))
}

pub(crate) async fn record_alerts(
    db: &Db,
    alerts: Vec<NewAlert>,
) -> Result<Vec<AlertId>, OutboxError> {
    if alerts.is_empty() {
        return Ok(Vec::new());
    }
    let mut conn = db.conn().await?;
    let tx = conn.transaction().await.map_err(|e| db.pg(e))?;
    let mut ids = Vec::with_capacity(alerts.len());
    for alert in &alerts {
        ids.push(insert_alert(db, &tx, alert, None).await?);
    }
    tx.commit().await.map_err(|e| db.pg(e))?;
    Ok(ids)
}

/// Grants, renews or refuses the sender lease in one statement: the token
/// changes only when the lease changes hands, and only an expired lease
/// can.
pub(crate) async fn acquire_sender(
    db: &Db,
    worker: &str,
    lease: Duration,
) -> Result<Option<SenderLease>, OutboxError> {
    check_worker(worker)?;
    check_lease(lease)?;
    let sql = format!(
        "WITH up AS (INSERT INTO sender_lease AS l (id, owner, token, until) \
             VALUES (1, $2, 1, {NOW} + $3) \
             ON CONFLICT (id) DO UPDATE SET owner = excluded.owner, until = excluded.until, \
                 token = CASE WHEN l.owner = excluded.owner THEN l.token ELSE l.token + 1 END \
             WHERE l.owner = excluded.owner OR l.until <= {NOW} \
             RETURNING token, until) \
         SELECT {NOW}, up.token, up.until FROM (SELECT 1) AS one LEFT JOIN up ON true"
    );
    let conn = db.conn().await?;
    let statement = conn.prepare_cached(&sql).await.map_err(|e| db.pg(e))?;
    let row = conn
        .query_one(&statement, &[&db.now(), &worker, &delay_ms(lease)])
        .await
        .map_err(|e| db.pg(e))?;
    let now: Timestamp = db.get(&row, 0)?;
    let token: Option<i64> = db.get(&row, 1)?;
    Ok(match token {
        Some(token) => Some(SenderLease {
            token: ClaimToken(token),
            until: db.get(&row, 2)?,
            now,
        }),
        None => None,
    })
}

/// Refuses a lease that changed hands since it was granted. With `lock`,
/// the lease row is held (shared) until the transaction ends.
pub(crate) async fn check_sender(
    db: &Db,
    tx: &Transaction<'_>,
    lease: &SenderLease,
    lock: bool,
) -> Result<(), OutboxError> {
    let sql = if lock {
        "SELECT owner, token FROM sender_lease WHERE id = 1 FOR SHARE"
    } else {
        "SELECT owner, token FROM sender_lease WHERE id = 1"
    };
    let row = tx.query_opt(sql, &[]).await.map_err(|e| db.pg(e))?;
    let current: Option<(String, i64)> = match row {
        Some(row) => Some((db.get(&row, 0)?, db.get(&row, 1)?)),
        None => None,
    };
    match current {
        Some((_, token)) if token == lease.token.0 => Ok(()),
        other => Err(OutboxError::SenderFenced {
            holder: other.map(|(owner, _)| owner),
        }),
    }
}

pub(crate) async fn pending_alerts(
    db: &Db,
    lease: SenderLease,
    limit: usize,
) -> Result<Vec<StoredAlert>, OutboxError> {
    let mut conn = db.conn().await?;
    let tx = conn.transaction().await.map_err(|e| db.pg(e))?;
    check_sender(db, &tx, &lease, false).await?;
    let sql = format!(
        "SELECT {ALERT_COLUMNS} FROM alerts WHERE state = 'pending' AND not_before <= {NOW} \
         ORDER BY id LIMIT $2"
    );
    let rows = tx
        .query(&sql, &[&db.now(), &limit_param(limit)])
        .await
        .map_err(|e| db.pg(e))?;
    tx.commit().await.map_err(|e| db.pg(e))?;
    rows.iter().map(|row| alert_from_row(db, row)).collect()
}

pub(crate) async fn alert_groups(
    db: &Db,
    lease: SenderLease,
    since: Duration,
) -> Result<Vec<GroupState>, OutboxError> {
    let mut conn = db.conn().await?;
    let tx = conn.transaction().await.map_err(|e| db.pg(e))?;
    check_sender(db, &tx, &lease, false).await?;
    let sent = tx
        .query(
            &format!(
                "SELECT group_key, sent_at FROM alerts \
                 WHERE state = 'sent' AND sent_at >= {NOW} - $2 ORDER BY sent_at, id"
            ),
            &[&db.now(), &duration_millis(since)],
        )
        .await
        .map_err(|e| db.pg(e))?;
    let folded = tx
        .query(
            &format!(
                "SELECT {ALERT_COLUMNS} FROM alerts WHERE state = 'folded' ORDER BY group_key, id"
            ),
            &[],
        )
        .await
        .map_err(|e| db.pg(e))?;
    tx.commit().await.map_err(|e| db.pg(e))?;
    let mut groups: BTreeMap<String, GroupState> = BTreeMap::new();
    for row in &sent {
        let key: String = db.get(row, 0)?;
        let at: Timestamp = db.get(row, 1)?;
        let state = entry(&mut groups, key);
        state.last_sent_at = Some(state.last_sent_at.map_or(at, |t| t.max(at)));
        state.recent_sends.push(at);
    }
    for row in &folded {
        let alert = alert_from_row(db, row)?;
        let created = alert.created_at;
        let state = entry(&mut groups, alert.group_key.clone());
        state.folded.push(alert);
        state.oldest_folded_at = Some(state.oldest_folded_at.map_or(created, |t| t.min(created)));
    }
    Ok(groups.into_values().collect())
}

fn entry(groups: &mut BTreeMap<String, GroupState>, key: String) -> &mut GroupState {
    groups.entry(key.clone()).or_insert_with(|| GroupState {
        group_key: key,
        last_sent_at: None,
        recent_sends: Vec::new(),
        folded: Vec::new(),
        oldest_folded_at: None,
    })
}

/// Moves one alert out of state `from` (one state, or `a|b` for either)
/// with `set` ($1 now, $2 id, $3 from, then `extra` from $4), or explains
/// why it cannot.
async fn transition(
    db: &Db,
    tx: &Transaction<'_>,
    id: AlertId,
    from: &str,
    set: &str,
    extra: &[&(dyn ToSql + Sync)],
) -> Result<(), OutboxError> {
    let sql = format!(
        "UPDATE alerts SET {set} WHERE id = $2 AND state = ANY(string_to_array($3, '|')) \
         AND $1::bigint IS NOT DISTINCT FROM $1"
    );
    let now = db.now();
    let mut params: Vec<&(dyn ToSql + Sync)> = vec![&now, &id.0, &from];
    params.extend_from_slice(extra);
    let statement = tx.prepare_cached(&sql).await.map_err(|e| db.pg(e))?;
    if tx
        .execute(&statement, &params)
        .await
        .map_err(|e| db.pg(e))?
        == 1
    {
        return Ok(());
    }
    let state = tx
        .query_opt("SELECT state FROM alerts WHERE id = $1", &[&id.0])
        .await
        .map_err(|e| db.pg(e))?;
    let reason = match state {
        None => format!("no alert with id {}", id.0),
        Some(row) => {
            let state: String = db.get(&row, 0)?;
            format!(
                "alert {} is {state}, this update needs it {}",
                id.0,
                from.replace('|', " or ")
            )
        }
    };
    Err(OutboxError::InvalidInput { reason })
}

pub(crate) async fn update_alerts(
    db: &Db,
    lease: SenderLease,
    updates: Vec<AlertUpdate>,
) -> Result<(), OutboxError> {
    let mut conn = db.conn().await?;
    let tx = conn.transaction().await.map_err(|e| db.pg(e))?;
    check_sender(db, &tx, &lease, true).await?;
    for update in &updates {
        match update {
            AlertUpdate::Sent { id, message_id } => {
                transition(
                    db,
                    &tx,
                    *id,
                    "pending",
                    &format!("state = 'sent', sent_at = {NOW}, message_id = $4"),
                    &[message_id],
                )
                .await?;
            }
            AlertUpdate::Folded { id } => {
                transition(db, &tx, *id, "pending", "state = 'folded'", &[]).await?;
            }
            AlertUpdate::Summarized {
                summary,
                folded,
                message_id,
            } => {
                let summary_id = insert(db, &tx, summary, None, "sent", *message_id).await?;
                for id in folded {
                    transition(
                        db,
                        &tx,
                        *id,
                        "folded",
                        "state = 'summarized', summary_of = $4",
                        &[&summary_id.0],
                    )
                    .await?;
                }
            }
            AlertUpdate::Retry { id, delay, error } => {
                let error = truncate_utf8(error, MAX_ERROR_LEN).to_owned();
                transition(
                    db,
                    &tx,
                    *id,
                    "pending",
                    &format!("attempts = attempts + 1, not_before = {NOW} + $4, last_error = $5"),
                    &[&delay_ms(*delay), &error],
                )
                .await?;
            }
            AlertUpdate::Failed { id, error } => {
                let error = truncate_utf8(error, MAX_ERROR_LEN).to_owned();
                transition(
                    db,
                    &tx,
                    *id,
                    "pending|folded",
                    "state = 'failed', attempts = attempts + 1, last_error = $4",
                    &[&error],
                )
                .await?;
            }
        }
    }
    tx.commit().await.map_err(|e| db.pg(e))?;
    Ok(())
}

pub(crate) async fn alerts(
    db: &Db,
    after: Option<AlertId>,
    limit: usize,
) -> Result<Vec<StoredAlert>, OutboxError> {
    let conn = db.conn().await?;
    let rows = conn
        .query(
            &format!("SELECT {ALERT_COLUMNS} FROM alerts WHERE id > $1 ORDER BY id LIMIT $2"),
            &[&after.map_or(0, |id| id.0), &limit_param(limit)],
        )
        .await
        .map_err(|e| db.pg(e))?;
    rows.iter().map(|row| alert_from_row(db, row)).collect()
}

pub(crate) async fn ledger(db: &Db) -> Result<Ledger, OutboxError> {
    let conn = db.conn().await?;
    let row = conn
        .query_one(
            "SELECT consecutive_failures, outage_started_at, outage_failed FROM ledger WHERE id = 1",
            &[],
        )
        .await
        .map_err(|e| db.pg(e))?;
    let started: Option<Timestamp> = db.get(&row, 1)?;
    Ok(Ledger {
        consecutive_failures: db.count(&row, 0)?,
        outage: match started {
            Some(started_at) => Some(Outage {
                started_at,
                failed: db.count(&row, 2)?,
            }),
            None => None,
        },
    })
}
