//! The operators' side: stats, lists, one signal's history, replay, audit.

use signal_outbox::{
    AuditEntry, ListFilter, MAX_REPORTED_IDS, NewAuditEntry, OutboxError, OutboxStats,
    ReplayReport, ReplayRequest, ReplaySelection, RowSummary, SignalDetail, State, StoredAttempt,
    Timestamp, elapsed_between,
};
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

use crate::clock::NOW;
use crate::db::{Db, limit as limit_param};
use crate::signals::notify;

/// Up to this many rows, the large states (pending, delivered) are counted
/// exactly, through their partial indexes; beyond it `outbox stats` shows
/// the planner's estimate (from the statistics autovacuum keeps), never
/// less than this. A count costs at most this many index entries, however
/// long the history, and no counter row is updated by deliveries.
pub const EXACT_COUNT_LIMIT: i64 = 10_000;

pub(crate) const SUMMARY_COLUMNS: &str = "id, state, attempts, claims, next_attempt_at, lease_owner, \
     lease_until, last_error, dead_reason, dead_at, enqueued_at, updated_at, delivered_at, \
     octet_length(body)::bigint, body_hash";

pub(crate) fn summary_from_row(db: &Db, row: &Row) -> Result<RowSummary, OutboxError> {
    Ok(RowSummary {
        id: db.get(row, 0)?,
        state: db.parsed(row, 1)?,
        attempts: db.count(row, 2)?,
        claims: db.count(row, 3)?,
        next_attempt_at: db.get(row, 4)?,
        lease_owner: db.get(row, 5)?,
        lease_until: db.get(row, 6)?,
        last_error: db.get(row, 7)?,
        dead_reason: db.parsed_opt(row, 8)?,
        dead_at: db.get(row, 9)?,
        enqueued_at: db.get(row, 10)?,
        updated_at: db.get(row, 11)?,
        delivered_at: db.get(row, 12)?,
        body_len: db.count(row, 13)?,
        body_hash: db.get(row, 14)?,
    })
}

/// The stats statement: exact small counts, capped large ones, the oldest
/// pending row by the state index, alerts waiting; one round trip.
fn stats_sql() -> String {
    format!(
        "SELECT (SELECT count(*) FROM (SELECT 1 FROM outbox WHERE state = 'pending' LIMIT $2) p), \
             (SELECT count(*) FROM outbox WHERE state = 'in_flight'), \
             (SELECT count(*) FROM (SELECT 1 FROM outbox WHERE state = 'delivered' LIMIT $2) d), \
             (SELECT count(*) FROM outbox WHERE state = 'dead_lettered'), \
             (SELECT enqueued_at FROM outbox WHERE state = 'pending' ORDER BY state, enqueued_at LIMIT 1), \
             (SELECT count(*) FROM alerts WHERE state = 'pending'), \
             {NOW}"
    )
}

/// The planner's row estimate for one state (used past the exact limit).
async fn estimate(
    db: &Db,
    client: &tokio_postgres::Client,
    state: State,
) -> Result<u64, OutboxError> {
    let row = client
        .query_one(
            &format!(
                "EXPLAIN (FORMAT JSON) SELECT 1 FROM outbox WHERE state = '{}'",
                state.as_str()
            ),
            &[],
        )
        .await
        .map_err(|e| db.pg(e))?;
    let plan: String = match db.get::<String>(&row, 0) {
        Ok(text) => text,
        Err(_) => return Ok(0),
    };
    let value: serde_json::Value = serde_json::from_str(&plan).unwrap_or_default();
    Ok(value[0]["Plan"]["Plan Rows"]
        .as_f64()
        .map_or(0, |rows| rows as u64))
}

pub(crate) async fn stats(db: &Db) -> Result<OutboxStats, OutboxError> {
    let conn = db.conn().await?;
    let statement = conn
        .prepare_cached(&stats_sql())
        .await
        .map_err(|e| db.pg(e))?;
    let row = conn
        .query_one(&statement, &[&db.now(), &EXACT_COUNT_LIMIT])
        .await
        .map_err(|e| db.pg(e))?;
    let now: Timestamp = db.get(&row, 6)?;
    let oldest: Option<Timestamp> = db.get(&row, 4)?;
    let mut stats = OutboxStats {
        pending: db.count(&row, 0)?,
        in_flight: db.count(&row, 1)?,
        delivered: db.count(&row, 2)?,
        dead_lettered: db.count(&row, 3)?,
        oldest_pending_age: oldest.map(|at| elapsed_between(at, now)),
        alerts_pending: db.count(&row, 5)?,
    };
    let cap = u64::try_from(EXACT_COUNT_LIMIT).unwrap_or(u64::MAX);
    if stats.pending >= cap {
        stats.pending = estimate(db, &conn, State::Pending).await?.max(cap);
    }
    if stats.delivered >= cap {
        stats.delivered = estimate(db, &conn, State::Delivered).await?.max(cap);
    }
    Ok(stats)
}

/// The first text that does not start with `prefix` and sorts after every
/// text that does (byte order, the ids' `C` collation); `None` when none.
fn prefix_end(prefix: &str) -> Option<String> {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
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

pub(crate) async fn list(db: &Db, filter: ListFilter) -> Result<Vec<RowSummary>, OutboxError> {
    if filter.limit == 0 {
        return Ok(Vec::new());
    }
    let mut clauses: Vec<String> = Vec::new();
    let mut params: Vec<Box<dyn ToSql + Sync + Send>> = Vec::new();
    let mut push = |clause: &str,
                    value: Box<dyn ToSql + Sync + Send>,
                    params: &mut Vec<Box<dyn ToSql + Sync + Send>>| {
        params.push(value);
        clauses.push(clause.replace('?', &format!("${}", params.len())));
    };
    if let Some(state) = filter.state {
        push(
            "state = ?",
            Box::new(state.as_str().to_owned()),
            &mut params,
        );
    }
    if let Some(reason) = filter.reason {
        push(
            "dead_reason = ?",
            Box::new(reason.as_str().to_owned()),
            &mut params,
        );
    }
    let dead = filter.state == Some(State::DeadLettered);
    let column = if dead { "dead_at" } else { "enqueued_at" };
    if let Some(since) = filter.since {
        push(&format!("{column} >= ?"), Box::new(since), &mut params);
    }
    if let Some(until) = filter.until {
        push(&format!("{column} < ?"), Box::new(until), &mut params);
    }
    if let Some(prefix) = &filter.id_prefix {
        // A range the primary key can seek to, then the exact test.
        push("id >= ?", Box::new(prefix.clone()), &mut params);
        if let Some(end) = prefix_end(prefix) {
            push("id < ?", Box::new(end), &mut params);
        }
        push("starts_with(id, ?)", Box::new(prefix.clone()), &mut params);
    }
    if let Some(cursor) = &filter.after {
        params.push(Box::new(cursor.enqueued_at));
        params.push(Box::new(cursor.id.clone()));
        clauses.push(format!(
            "(enqueued_at, id) > (${}, ${})",
            params.len() - 1,
            params.len()
        ));
    }
    params.push(Box::new(limit_param(filter.limit)));
    let condition = if clauses.is_empty() {
        "true".to_owned()
    } else {
        clauses.join(" AND ")
    };
    let sql = format!(
        "SELECT {SUMMARY_COLUMNS} FROM outbox WHERE {condition} ORDER BY enqueued_at, id LIMIT ${}",
        params.len()
    );
    let refs: Vec<&(dyn ToSql + Sync)> = params
        .iter()
        .map(|p| p.as_ref() as &(dyn ToSql + Sync))
        .collect();
    let conn = db.conn().await?;
    let rows = conn.query(&sql, &refs).await.map_err(|e| db.pg(e))?;
    rows.iter().map(|row| summary_from_row(db, row)).collect()
}

pub(crate) async fn show(db: &Db, ids: Vec<String>) -> Result<Vec<SignalDetail>, OutboxError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut conn = db.conn().await?;
    // One snapshot for the rows and their attempt logs.
    let tx = conn
        .build_transaction()
        .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .await
        .map_err(|e| db.pg(e))?;
    let rows = tx
        .query(
            &format!("SELECT {SUMMARY_COLUMNS}, body FROM outbox WHERE id = ANY($1)"),
            &[&ids],
        )
        .await
        .map_err(|e| db.pg(e))?;
    let attempts = tx
        .query(
            "SELECT signal_id, attempt, at, worker, status, error_class, latency_ms, excerpt \
             FROM attempts WHERE signal_id = ANY($1) ORDER BY seq",
            &[&ids],
        )
        .await
        .map_err(|e| db.pg(e))?;
    tx.commit().await.map_err(|e| db.pg(e))?;
    let mut found = std::collections::HashMap::new();
    for row in &rows {
        let summary = summary_from_row(db, row)?;
        let body: Vec<u8> = db.get(row, 15)?;
        found.insert(
            summary.id.clone(),
            SignalDetail {
                row: summary,
                body: body.into(),
                attempts: Vec::new(),
            },
        );
    }
    for row in &attempts {
        let id: String = db.get(row, 0)?;
        let status: Option<i32> = db.get(row, 4)?;
        let attempt = StoredAttempt {
            attempt: db.count(row, 1)?,
            at: db.get(row, 2)?,
            worker: db.get(row, 3)?,
            status: status.and_then(|s| u16::try_from(s).ok()),
            error_class: db.get(row, 5)?,
            latency: std::time::Duration::from_millis(db.count(row, 6)?),
            excerpt: db.get(row, 7)?,
        };
        if let Some(detail) = found.get_mut(&id) {
            detail.attempts.push(attempt);
        }
    }
    // In the order asked; an id asked twice is shown twice.
    Ok(ids.iter().filter_map(|id| found.get(id).cloned()).collect())
}

/// The dead-lettered candidates of a replay, locked, as `(id,
/// enqueued_at)`, plus the asked-for ids that are not candidates.
async fn candidates(
    db: &Db,
    tx: &deadpool_postgres::Transaction<'_>,
    selection: &ReplaySelection,
    report: &mut ReplayReport,
) -> Result<Vec<(String, Timestamp)>, OutboxError> {
    let mut found = Vec::new();
    match selection {
        ReplaySelection::Ids(ids) => {
            let rows = tx
                .query(
                    "SELECT id, state, enqueued_at FROM outbox WHERE id = ANY($1) FOR UPDATE",
                    &[ids],
                )
                .await
                .map_err(|e| db.pg(e))?;
            let mut by_id = std::collections::HashMap::new();
            for row in &rows {
                let id: String = db.get(row, 0)?;
                by_id.insert(
                    id,
                    (db.parsed::<State>(row, 1)?, db.get::<Timestamp>(row, 2)?),
                );
            }
            for id in ids {
                match by_id.get(id) {
                    None => report.unknown.push(id.clone()),
                    Some((State::DeadLettered, enqueued_at)) => {
                        found.push((id.clone(), *enqueued_at))
                    }
                    Some((state, _)) => report.not_dead.push((id.clone(), *state)),
                }
            }
        }
        ReplaySelection::Dead {
            reason,
            since,
            until,
        } => {
            let reason = reason.map(|r| r.as_str().to_owned());
            let rows = tx
                .query(
                    "SELECT id, enqueued_at FROM outbox \
                     WHERE state = 'dead_lettered' AND ($1::text IS NULL OR dead_reason = $1) \
                       AND dead_at >= COALESCE($2::bigint, -9223372036854775808) \
                       AND dead_at < COALESCE($3::bigint, 9223372036854775807) \
                     ORDER BY dead_at, id FOR UPDATE",
                    &[&reason, since, until],
                )
                .await
                .map_err(|e| db.pg(e))?;
            for row in &rows {
                found.push((db.get(row, 0)?, db.get(row, 1)?));
            }
        }
    }
    Ok(found)
}

pub(crate) async fn replay(db: &Db, request: ReplayRequest) -> Result<ReplayReport, OutboxError> {
    let mut conn = db.conn().await?;
    let tx = conn.transaction().await.map_err(|e| db.pg(e))?;
    let now: Timestamp = {
        let row = tx
            .query_one(&format!("SELECT {NOW}"), &[&db.now()])
            .await
            .map_err(|e| db.pg(e))?;
        db.get(&row, 0)?
    };
    let mut report = ReplayReport::default();
    let found = candidates(db, &tx, &request.selection, &mut report).await?;
    let mut replay_ids: Vec<String> = Vec::new();
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
        replay_ids.push(id);
    }
    if request.dry_run {
        tx.rollback().await.map_err(|e| db.pg(e))?;
        return Ok(report);
    }
    if !replay_ids.is_empty() {
        tx.execute(
            "UPDATE outbox SET state = 'pending', attempts = 0, claims = 0, next_attempt_at = $1, \
                 dead_reason = NULL, dead_at = NULL, updated_at = $1 \
             WHERE id = ANY($2) AND state = 'dead_lettered'",
            &[&now, &replay_ids],
        )
        .await
        .map_err(|e| db.pg(e))?;
        notify(db, &tx).await?;
    }
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
    insert_audit(db, &tx, &entry, now).await?;
    tx.commit().await.map_err(|e| db.pg(e))?;
    tracing::info!(replayed = report.replayed, too_old = report.too_old_count, actor = %entry.actor, "dead-lettered signals replayed");
    Ok(report)
}

async fn insert_audit(
    db: &Db,
    tx: &deadpool_postgres::Transaction<'_>,
    entry: &NewAuditEntry,
    now: Timestamp,
) -> Result<(), OutboxError> {
    tx.execute(
        "INSERT INTO audit (at, actor, action, detail, result) VALUES ($1, $2, $3, $4, $5)",
        &[
            &now,
            &entry.actor,
            &entry.action,
            &entry.detail,
            &entry.result,
        ],
    )
    .await
    .map_err(|e| db.pg(e))?;
    Ok(())
}

pub(crate) async fn record_audit(db: &Db, entries: Vec<NewAuditEntry>) -> Result<(), OutboxError> {
    if entries.is_empty() {
        return Ok(());
    }
    let mut conn = db.conn().await?;
    let tx = conn.transaction().await.map_err(|e| db.pg(e))?;
    let now: Timestamp = {
        let row = tx
            .query_one(&format!("SELECT {NOW}"), &[&db.now()])
            .await
            .map_err(|e| db.pg(e))?;
        db.get(&row, 0)?
    };
    for entry in &entries {
        insert_audit(db, &tx, entry, now).await?;
    }
    tx.commit().await.map_err(|e| db.pg(e))?;
    Ok(())
}

pub(crate) async fn audit(
    db: &Db,
    after: Option<i64>,
    limit: usize,
) -> Result<Vec<AuditEntry>, OutboxError> {
    let conn = db.conn().await?;
    let rows = conn
        .query(
            "SELECT id, at, actor, action, detail, result FROM audit WHERE id > $1 ORDER BY id LIMIT $2",
            &[&after.unwrap_or(0), &limit_param(limit)],
        )
        .await
        .map_err(|e| db.pg(e))?;
    rows.iter()
        .map(|row| {
            Ok(AuditEntry {
                id: db.get(row, 0)?,
                at: db.get(row, 1)?,
                actor: db.get(row, 2)?,
                action: db.get(row, 3)?,
                detail: db.get(row, 4)?,
                result: db.get(row, 5)?,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::prefix_end;

    #[test]
    fn prefix_end_sorts_after_every_extension() {
        assert_eq!(prefix_end("ab").as_deref(), Some("ac"));
        assert_eq!(prefix_end(""), None);
        assert_eq!(prefix_end("a\u{10FFFF}").as_deref(), Some("b"));
    }
}
