//! The operators' side: stats, lists, one signal's history, replay, audit.

use rusqlite::types::Value;
use rusqlite::{OptionalExtension, Row, Transaction};
use signal_outbox::{
    AuditEntry, ListFilter, MAX_REPORTED_IDS, NewAuditEntry, OutboxStats, ReplayReport,
    ReplayRequest, ReplaySelection, RowSummary, SignalDetail, State, StoredAttempt, Timestamp,
    elapsed_between,
};

use crate::codec::{count, limit as limit_param, millis, parsed, parsed_opt};
use crate::diagnose::Sql;
use crate::thread::Db;

/// Columns read into a [`RowSummary`], in the order `summary_from_row` expects.
pub(crate) const SUMMARY_COLUMNS: &str = "id, state, attempts, claims, next_attempt_at, lease_owner, \
     lease_until, last_error, dead_reason, dead_at, enqueued_at, updated_at, delivered_at, \
     length(body), body_hash";

pub(crate) fn summary_from_row(row: &Row<'_>) -> rusqlite::Result<RowSummary> {
    Ok(RowSummary {
        id: row.get(0)?,
        state: parsed(row, 1)?,
        attempts: row.get(2)?,
        claims: row.get(3)?,
        next_attempt_at: row.get(4)?,
        lease_owner: row.get(5)?,
        lease_until: row.get(6)?,
        last_error: row.get(7)?,
        dead_reason: parsed_opt(row, 8)?,
        dead_at: row.get(9)?,
        enqueued_at: row.get(10)?,
        updated_at: row.get(11)?,
        delivered_at: row.get(12)?,
        body_len: count(row.get(13)?),
        body_hash: row.get(14)?,
    })
}

pub(crate) fn stats(db: &mut Db) -> Sql<OutboxStats> {
    db.read(|tx, now| {
        let mut stats = OutboxStats::default();
        let mut counts = tx.prepare_cached("SELECT state, count(*) FROM outbox GROUP BY state")?;
        let rows =
            counts.query_map([], |row| Ok((parsed::<State>(row, 0)?, count(row.get(1)?))))?;
        for row in rows {
            let (state, n) = row?;
            match state {
                State::Pending => stats.pending = n,
                State::InFlight => stats.in_flight = n,
                State::Delivered => stats.delivered = n,
                State::DeadLettered => stats.dead_lettered = n,
            }
        }
        let oldest: Option<i64> = tx
            .prepare_cached("SELECT min(enqueued_at) FROM outbox WHERE state = 'pending'")?
            .query_row([], |row| row.get(0))?;
        stats.oldest_pending_age = oldest.map(|enqueued| elapsed_between(enqueued, now));
        stats.alerts_pending = count(
            tx.prepare_cached("SELECT count(*) FROM alerts WHERE state = 'pending'")?
                .query_row([], |row| row.get(0))?,
        );
        Ok(stats)
    })
}

/// The first text that does not start with `prefix` and sorts after every
/// text that does (binary collation); `None` when there is none.
fn prefix_end(prefix: &str) -> Option<String> {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
        // The next scalar value, stepping over the surrogate gap.
        let next = match last {
            '\u{D7FF}' => Some('\u{E000}'),
            other => char::from_u32(u32::from(other) + 1),
        };
        if let Some(next) = next {
            chars.push(next);
            return Some(chars.into_iter().collect());
        }
    }
    None
}

pub(crate) fn list(db: &mut Db, filter: ListFilter) -> Sql<Vec<RowSummary>> {
    if filter.limit == 0 {
        return Ok(Vec::new());
    }
    let mut clauses: Vec<&str> = Vec::new();
    let mut params: Vec<Value> = Vec::new();
    if let Some(state) = filter.state {
        clauses.push("state = ?");
        params.push(Value::Text(state.as_str().to_owned()));
    }
    if let Some(reason) = filter.reason {
        clauses.push("dead_reason = ?");
        params.push(Value::Text(reason.as_str().to_owned()));
    }
    let dead = filter.state == Some(State::DeadLettered);
    if let Some(since) = filter.since {
        clauses.push(if dead {
            "dead_at >= ?"
        } else {
            "enqueued_at >= ?"
        });
        params.push(Value::Integer(since));
    }
    if let Some(until) = filter.until {
        clauses.push(if dead {
            "dead_at < ?"
        } else {
            "enqueued_at < ?"
        });
        params.push(Value::Integer(until));
    }
    if let Some(prefix) = &filter.id_prefix {
        // A range the primary key can seek to, then the exact test.
        clauses.push("id >= ?");
        params.push(Value::Text(prefix.clone()));
        if let Some(end) = prefix_end(prefix) {
            clauses.push("id < ?");
            params.push(Value::Text(end));
        }
        clauses.push("substr(id, 1, length(?)) = ?");
        params.push(Value::Text(prefix.clone()));
        params.push(Value::Text(prefix.clone()));
    }
    if let Some(cursor) = &filter.after {
        clauses.push("(enqueued_at, id) > (?, ?)");
        params.push(Value::Integer(cursor.enqueued_at));
        params.push(Value::Text(cursor.id.clone()));
    }
    params.push(Value::Integer(limit_param(filter.limit)));
    let condition = if clauses.is_empty() {
        "1".to_owned()
    } else {
        clauses.join(" AND ")
    };
    let sql = format!(
        "SELECT {SUMMARY_COLUMNS} FROM outbox WHERE {condition} ORDER BY enqueued_at, id LIMIT ?"
    );
    db.read(|tx, _| {
        let mut stmt = tx.prepare_cached(&sql)?;
        let rows = stmt
            .query_map(rusqlite::params_from_iter(params), summary_from_row)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    })
}

pub(crate) fn show(db: &mut Db, ids: Vec<String>) -> Sql<Vec<SignalDetail>> {
    db.read(|tx, _| {
        let mut row = tx.prepare_cached(&format!(
            "SELECT {SUMMARY_COLUMNS}, body FROM outbox WHERE id = ?1"
        ))?;
        let mut attempts = tx.prepare_cached(
            "SELECT attempt, at, worker, status, error_class, latency_ms, excerpt FROM attempts \
             WHERE signal_id = ?1 ORDER BY seq",
        )?;
        let mut details = Vec::with_capacity(ids.len());
        for id in &ids {
            let found = row
                .query_row([id], |r| {
                    Ok((summary_from_row(r)?, r.get::<_, Vec<u8>>(15)?))
                })
                .optional()?;
            let Some((summary, body)) = found else {
                continue;
            };
            let history = attempts
                .query_map([id], |r| {
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
            details.push(SignalDetail {
                row: summary,
                body: body.into(),
                attempts: history,
            });
        }
        Ok(details)
    })
}

/// The dead-lettered candidates of a replay, `(id, enqueued_at)`, plus the
/// asked-for ids that are not candidates.
fn candidates(
    tx: &Transaction<'_>,
    selection: &ReplaySelection,
    report: &mut ReplayReport,
) -> Sql<Vec<(String, Timestamp)>> {
    let mut found = Vec::new();
    match selection {
        ReplaySelection::Ids(ids) => {
            let mut stmt =
                tx.prepare_cached("SELECT state, enqueued_at FROM outbox WHERE id = ?1")?;
            for id in ids {
                let row: Option<(State, Timestamp)> = stmt
                    .query_row([id], |row| Ok((parsed(row, 0)?, row.get(1)?)))
                    .optional()?;
                match row {
                    None => report.unknown.push(id.clone()),
                    Some((State::DeadLettered, enqueued_at)) => {
                        found.push((id.clone(), enqueued_at))
                    }
                    Some((state, _)) => report.not_dead.push((id.clone(), state)),
                }
            }
        }
        ReplaySelection::Dead {
            reason,
            since,
            until,
        } => {
            let mut stmt = tx.prepare_cached(
                "SELECT id, enqueued_at FROM outbox INDEXED BY outbox_dead \
                 WHERE state = 'dead_lettered' AND (?1 IS NULL OR dead_reason = ?1) \
                   AND dead_at >= coalesce(?2, -9223372036854775808) \
                   AND dead_at < coalesce(?3, 9223372036854775807) \
                 ORDER BY dead_at, id",
            )?;
            let rows = stmt.query_map((reason.map(|r| r.as_str()), since, until), |row| {
                Ok((row.get(0)?, row.get(1)?))
            })?;
            for row in rows {
                found.push(row?);
            }
        }
    }
    Ok(found)
}

fn replay_in(tx: &Transaction<'_>, now: Timestamp, request: &ReplayRequest) -> Sql<ReplayReport> {
    let mut report = ReplayReport::default();
    let found = candidates(tx, &request.selection, &mut report)?;
    let mut replay = tx.prepare_cached(
        "UPDATE outbox SET state = 'pending', attempts = 0, claims = 0, next_attempt_at = ?2, \
             dead_reason = NULL, dead_at = NULL, updated_at = ?2 \
         WHERE id = ?1 AND state = 'dead_lettered'",
    )?;
    for (id, enqueued_at) in found {
        report.matched += 1;
        if request
            .max_age
            .is_some_and(|max| elapsed_between(enqueued_at, now) > max)
        {
            report.too_old_count += 1;
            if report.too_old.len() < MAX_REPORTED_IDS {
                report.too_old.push(id);
            }
            continue;
        }
        report.replayed += 1;
        if !request.dry_run {
            replay.execute((&id, now))?;
        }
    }
    if !request.dry_run {
        let result = serde_json::json!({
            "matched": report.matched,
            "replayed": report.replayed,
            "too_old": report.too_old_count,
            "not_dead": report.not_dead.len(),
            "unknown": report.unknown.len(),
        });
        let entry = NewAuditEntry {
            result: result.to_string(),
            ..request.audit.clone()
        };
        insert_audit(tx, &entry, now)?;
        tracing::info!(replayed = report.replayed, too_old = report.too_old_count, actor = %entry.actor, "dead-lettered signals replayed");
    }
    Ok(report)
}

pub(crate) fn replay(db: &mut Db, request: ReplayRequest) -> Sql<ReplayReport> {
    if request.dry_run {
        db.read(|tx, now| replay_in(tx, now, &request))
    } else {
        db.write(|tx, now| replay_in(tx, now, &request))
    }
}

fn insert_audit(tx: &Transaction<'_>, entry: &NewAuditEntry, now: Timestamp) -> Sql<()> {
    tx.prepare_cached(
        "INSERT INTO audit (at, actor, action, detail, result) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute((
        now,
        &entry.actor,
        &entry.action,
        &entry.detail,
        &entry.result,
    ))?;
    Ok(())
}

pub(crate) fn record_audit(db: &mut Db, entries: Vec<NewAuditEntry>) -> Sql<()> {
    if entries.is_empty() {
        return Ok(());
    }
    db.write(|tx, now| {
        entries
            .iter()
            .try_for_each(|entry| insert_audit(tx, entry, now))
    })
}

pub(crate) fn audit(db: &mut Db, after: Option<i64>, limit: usize) -> Sql<Vec<AuditEntry>> {
    db.read(|tx, _| {
        let mut stmt = tx.prepare_cached(
            "SELECT id, at, actor, action, detail, result FROM audit WHERE id > ?1 \
             ORDER BY id LIMIT ?2",
        )?;
        let rows = stmt
            .query_map((after.unwrap_or(0), limit_param(limit)), |row| {
                Ok(AuditEntry {
                    id: row.get(0)?,
                    at: row.get(1)?,
                    actor: row.get(2)?,
                    action: row.get(3)?,
                    detail: row.get(4)?,
                    result: row.get(5)?,
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    })
}

#[cfg(test)]
mod tests {
    use super::prefix_end;

    #[test]
    fn prefix_end_sorts_after_every_extension() {
        assert_eq!(prefix_end("ab").as_deref(), Some("ac"));
        assert_eq!(prefix_end("").as_deref(), None);
        assert_eq!(prefix_end("a\u{10FFFF}").as_deref(), Some("b"));
        let end = prefix_end("sig-").unwrap();
        for id in ["sig-", "sig-1", "sig-\u{10FFFF}x"] {
            assert!(id < end.as_str(), "{id}");
        }
    }
}
