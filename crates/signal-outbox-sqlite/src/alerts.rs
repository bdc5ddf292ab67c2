//! The stored alerts, the sender lease that fences them, and the ledger.

use std::collections::BTreeMap;
use std::time::Duration;

use rusqlite::{OptionalExtension, Row, Transaction};
use signal_outbox::{
    AlertId, AlertUpdate, ClaimToken, GroupState, Ledger, MAX_ERROR_LEN, NewAlert, Outage,
    OutboxError, SenderLease, StoredAlert, Timestamp, after, truncate_utf8,
};

use crate::codec::{count, limit as limit_param, parsed};
use crate::diagnose::Sql;
use crate::signals::{check_lease, check_worker};
use crate::thread::Db;

const ALERT_COLUMNS: &str = "id, kind, group_key, signal_id, payload, created_at, state, \
     consecutive, attempts, not_before, sent_at, message_id, last_error, summary_of";

fn alert_from_row(row: &Row<'_>) -> rusqlite::Result<StoredAlert> {
    Ok(StoredAlert {
        id: AlertId(row.get(0)?),
        kind: parsed(row, 1)?,
        group_key: row.get(2)?,
        signal_id: row.get(3)?,
        payload: row.get(4)?,
        created_at: row.get(5)?,
        state: parsed(row, 6)?,
        consecutive: row.get(7)?,
        attempts: row.get(8)?,
        not_before: row.get(9)?,
        sent_at: row.get(10)?,
        message_id: row.get(11)?,
        last_error: row.get(12)?,
        summary_of: row.get::<_, Option<i64>>(13)?.map(AlertId),
    })
}

/// Stores one pending alert, due now, with the ledger's current count.
pub(crate) fn insert_alert(tx: &Transaction<'_>, alert: &NewAlert, now: Timestamp) -> Sql<AlertId> {
    insert(tx, alert, now, "pending", None)
}

fn insert(
    tx: &Transaction<'_>,
    alert: &NewAlert,
    now: Timestamp,
    state: &str,
    message_id: Option<i64>,
) -> Sql<AlertId> {
    let sent_at = (state == "sent").then_some(now);
    let id = tx
        .prepare_cached(
            "INSERT INTO alerts (kind, group_key, signal_id, payload, created_at, state, \
                 consecutive, not_before, sent_at, message_id) \
             SELECT ?1, ?2, ?3, ?4, ?5, ?6, consecutive_failures, ?5, ?7, ?8 FROM ledger \
             WHERE id = 1 RETURNING id",
        )?
        .query_row(
            (
                alert.kind.as_str(),
                &alert.group_key,
                alert.signal_id.as_deref(),
                &alert.payload,
                now,
                state,
                sent_at,
                message_id,
            ),
            |row| row.get(0),
        )?;
    Ok(AlertId(id))
}

pub(crate) fn record_alerts(db: &mut Db, alerts: Vec<NewAlert>) -> Sql<Vec<AlertId>> {
    if alerts.is_empty() {
        return Ok(Vec::new());
    }
    db.write(|tx, now| {
        alerts
            .iter()
            .map(|alert| insert_alert(tx, alert, now))
            .collect()
    })
}

/// Grants, renews or refuses the sender lease. The token changes only when
/// the lease changes hands, and only an expired lease can.
pub(crate) fn acquire_sender(
    db: &mut Db,
    worker: &str,
    lease: Duration,
) -> Sql<Option<SenderLease>> {
    check_worker(worker)?;
    check_lease(lease)?;
    db.write(|tx, now| {
        let until = after(now, lease);
        let current: Option<(String, i64, Timestamp)> = tx
            .prepare_cached("SELECT owner, token, until FROM sender_lease WHERE id = 1")?
            .query_row([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))
            .optional()?;
        let token = match current {
            Some((owner, token, _)) if owner == worker => token,
            Some((_, _, held_until)) if held_until > now => return Ok(None),
            Some((_, token, _)) => token.saturating_add(1),
            None => 1,
        };
        tx.prepare_cached(
            "INSERT INTO sender_lease (id, owner, token, until) VALUES (1, ?1, ?2, ?3) \
             ON CONFLICT (id) DO UPDATE SET owner = excluded.owner, token = excluded.token, \
                 until = excluded.until",
        )?
        .execute((worker, token, until))?;
        Ok(Some(SenderLease {
            token: ClaimToken(token),
            until,
            now,
        }))
    })
}

/// Refuses a lease that changed hands since it was granted.
pub(crate) fn check_sender(tx: &Transaction<'_>, lease: &SenderLease) -> Sql<()> {
    let current: Option<(String, i64)> = tx
        .prepare_cached("SELECT owner, token FROM sender_lease WHERE id = 1")?
        .query_row([], |row| Ok((row.get(0)?, row.get(1)?)))
        .optional()?;
    match current {
        Some((_, token)) if token == lease.token.0 => Ok(()),
        other => Err(OutboxError::SenderFenced {
            holder: other.map(|(owner, _)| owner),
        }
        .into()),
    }
}

pub(crate) fn pending_alerts(
    db: &mut Db,
    lease: SenderLease,
    limit: usize,
) -> Sql<Vec<StoredAlert>> {
    db.read(|tx, now| {
        check_sender(tx, &lease)?;
        let mut stmt = tx.prepare_cached(&format!(
            "SELECT {ALERT_COLUMNS} FROM alerts INDEXED BY alerts_pending \
             WHERE state = 'pending' AND not_before <= ?1 ORDER BY id LIMIT ?2"
        ))?;
        let rows = stmt
            .query_map((now, limit_param(limit)), alert_from_row)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    })
}

pub(crate) fn alert_groups(
    db: &mut Db,
    lease: SenderLease,
    since: Duration,
) -> Sql<Vec<GroupState>> {
    db.read(|tx, now| {
        check_sender(tx, &lease)?;
        let cutoff = now.saturating_sub(signal_outbox::duration_millis(since));
        let mut groups: BTreeMap<String, GroupState> = BTreeMap::new();
        let mut sent = tx.prepare_cached(
            "SELECT group_key, sent_at FROM alerts INDEXED BY alerts_sent \
             WHERE state = 'sent' AND sent_at >= ?1 ORDER BY sent_at, id",
        )?;
        for row in sent.query_map([cutoff], |row| {
            Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?))
        })? {
            let (key, at) = row?;
            let state = entry(&mut groups, key);
            state.last_sent_at = Some(state.last_sent_at.map_or(at, |t| t.max(at)));
            state.recent_sends.push(at);
        }
        let mut folded = tx.prepare_cached(&format!(
            "SELECT {ALERT_COLUMNS} FROM alerts INDEXED BY alerts_folded \
             WHERE state = 'folded' ORDER BY group_key, id"
        ))?;
        for row in folded.query_map([], alert_from_row)? {
            let alert = row?;
            let created = alert.created_at;
            let state = entry(&mut groups, alert.group_key.clone());
            state.folded.push(alert);
            state.oldest_folded_at =
                Some(state.oldest_folded_at.map_or(created, |t| t.min(created)));
        }
        Ok(groups.into_values().collect())
    })
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

/// Moves one alert from `from` (one state, or `a|b` for either) with `set`,
/// or explains why it cannot.
fn transition(
    tx: &Transaction<'_>,
    id: AlertId,
    from: &str,
    set: &str,
    extra: &[&dyn rusqlite::ToSql],
) -> Sql<()> {
    let (first, second) = from.split_once('|').unwrap_or((from, from));
    let sql = format!(
        "UPDATE alerts SET {set} WHERE id = ?1 AND state IN (?2, ?{n})",
        n = 3 + extra.len()
    );
    let mut params: Vec<&dyn rusqlite::ToSql> = vec![&id.0, &first];
    params.extend_from_slice(extra);
    params.push(&second);
    if tx.prepare_cached(&sql)?.execute(params.as_slice())? == 1 {
        return Ok(());
    }
    let state: Option<String> = tx
        .prepare_cached("SELECT state FROM alerts WHERE id = ?1")?
        .query_row([id.0], |row| row.get(0))
        .optional()?;
    let reason = match state {
        None => format!("no alert with id {}", id.0),
        Some(state) => format!("alert {} is {state}, this update needs it {from}", id.0),
    };
    Err(OutboxError::InvalidInput { reason }.into())
}

pub(crate) fn update_alerts(db: &mut Db, lease: SenderLease, updates: Vec<AlertUpdate>) -> Sql<()> {
    db.write(|tx, now| {
        check_sender(tx, &lease)?;
        for update in &updates {
            match update {
                AlertUpdate::Sent { id, message_id } => transition(
                    tx,
                    *id,
                    "pending",
                    "state = 'sent', sent_at = ?3, message_id = ?4",
                    &[&now, message_id],
                )?,
                AlertUpdate::Folded { id } => {
                    transition(tx, *id, "pending", "state = 'folded'", &[])?
                }
                AlertUpdate::Summarized {
                    summary,
                    folded,
                    message_id,
                } => {
                    let summary_id = insert(tx, summary, now, "sent", *message_id)?;
                    for id in folded {
                        transition(
                            tx,
                            *id,
                            "folded",
                            "state = 'summarized', summary_of = ?3",
                            &[&summary_id.0],
                        )?;
                    }
                }
                AlertUpdate::Retry { id, delay, error } => transition(
                    tx,
                    *id,
                    "pending",
                    "attempts = attempts + 1, not_before = ?3, last_error = ?4",
                    &[&after(now, *delay), &truncate_utf8(error, MAX_ERROR_LEN)],
                )?,
                AlertUpdate::Failed { id, error } => transition(
                    tx,
                    *id,
                    "pending|folded",
                    "state = 'failed', attempts = attempts + 1, last_error = ?3",
                    &[&truncate_utf8(error, MAX_ERROR_LEN)],
                )?,
            }
        }
        Ok(())
    })
}

pub(crate) fn alerts(
    db: &mut Db,
    after_id: Option<AlertId>,
    limit: usize,
) -> Sql<Vec<StoredAlert>> {
    db.read(|tx, _| {
        let mut stmt = tx.prepare_cached(&format!(
            "SELECT {ALERT_COLUMNS} FROM alerts WHERE id > ?1 ORDER BY id LIMIT ?2"
        ))?;
        let rows = stmt
            .query_map(
                (after_id.map_or(0, |id| id.0), limit_param(limit)),
                alert_from_row,
            )?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    })
}

pub(crate) fn ledger(db: &mut Db) -> Sql<Ledger> {
    db.read(|tx, _| {
        let (consecutive, started, failed): (u32, Option<Timestamp>, i64) = tx
            .prepare_cached(
                "SELECT consecutive_failures, outage_started_at, outage_failed FROM ledger WHERE id = 1",
            )?
            .query_row([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))?;
        Ok(Ledger {
            consecutive_failures: consecutive,
            outage: started.map(|started_at| Outage { started_at, failed: count(failed) }),
        })
    })
}
