//! Enqueue and claim: the write path of a signal up to its delivery.

use std::time::Duration;

use rusqlite::{OptionalExtension, Transaction};
use signal_outbox::{
    AlertKind, CONFLICT_GROUP, ClaimToken, Claimed, Claims, EnqueueBatch, EnqueueOutcome, NewAlert,
    OutboxError, Timestamp, after, conflict_payload,
};

use crate::alerts::insert_alert;
use crate::codec::limit as limit_param;
use crate::diagnose::Sql;
use crate::thread::Db;
use signal_outbox::body_hash;

/// The due pending rows, earliest due first: read from the partial index
/// `outbox_pending_due`, whose columns are exactly this WHERE and ORDER BY
/// (and cover the SELECT), so a claim reads `limit` index entries however
/// long the backlog is. `INDEXED BY` pins it: if the index were missing
/// the statement would fail to prepare rather than quietly scan.
pub(crate) const DUE_PENDING: &str = "\
SELECT id, next_attempt_at, enqueued_at FROM outbox INDEXED BY outbox_pending_due \
WHERE state = 'pending' AND next_attempt_at <= ?1 \
ORDER BY next_attempt_at, enqueued_at, id LIMIT ?2";

/// The in-flight rows whose lease expired, earliest first, from the partial
/// index `outbox_lease_expiry` (the other half of a claim).
pub(crate) const EXPIRED_LEASES: &str = "\
SELECT id, lease_until, enqueued_at FROM outbox INDEXED BY outbox_lease_expiry \
WHERE state = 'in_flight' AND lease_until <= ?1 \
ORDER BY lease_until, enqueued_at, id LIMIT ?2";

/// Takes one chosen row: in flight for this claim, with a fresh token.
///
/// The token is `(claim sequence << 32) | 32 random bits`. The sequence
/// grows with every claim of the row and is never reset (a replay resets
/// `claims`, not the token), so a token differs from every earlier token of
/// its row; the random half keeps it distinct from the tokens of a row that
/// was purged and enqueued again under the same id after the dedup window.
const TAKE: &str = "\
UPDATE outbox SET state = 'in_flight', lease_owner = ?2, lease_until = ?3, \
    claims = claims + 1, updated_at = ?4, \
    claim_token = (((coalesce(claim_token, 0) >> 32) + 1) << 32) | (random() & 4294967295) \
WHERE id = ?1 \
RETURNING body, attempts, claims, enqueued_at, last_error, claim_token";

/// Written once in the contract, so that every backend checks alike.
pub(crate) use signal_outbox::{check_lease, check_worker};

/// Stores a batch (signals, conflict alerts, the batch's alerts) in one
/// transaction.
pub(crate) fn enqueue(db: &mut Db, batch: EnqueueBatch) -> Sql<Vec<EnqueueOutcome>> {
    if let Some(index) = batch.signals.iter().position(|s| s.id.is_empty()) {
        return Err(OutboxError::InvalidInput {
            reason: format!("signal {index} of the batch has an empty id; nothing was stored"),
        }
        .into());
    }
    if batch.signals.is_empty() && batch.alerts.is_empty() {
        return Ok(Vec::new());
    }
    db.write(|tx, now| {
        let mut outcomes = Vec::with_capacity(batch.signals.len());
        for signal in &batch.signals {
            let outcome = enqueue_one(tx, &signal.id, &signal.body, now)?;
            if outcome == EnqueueOutcome::Conflict {
                tracing::warn!(
                    signal_id = %signal.id,
                    "enqueue rejected: id already stored with a different body"
                );
                let alert = NewAlert {
                    kind: AlertKind::Conflict,
                    group_key: CONFLICT_GROUP.to_owned(),
                    signal_id: Some(signal.id.clone()),
                    payload: conflict_payload(&signal.id, signal.line),
                };
                insert_alert(tx, &alert, now)?;
            }
            outcomes.push(outcome);
        }
        for alert in &batch.alerts {
            insert_alert(tx, alert, now)?;
        }
        Ok(outcomes)
    })
}

fn enqueue_one(tx: &Transaction<'_>, id: &str, body: &[u8], now: Timestamp) -> Sql<EnqueueOutcome> {
    let hash = body_hash(body);
    // A delivered id purged within the dedup window: only its hash is left.
    let tombstone: Option<String> = tx
        .prepare_cached("SELECT body_hash FROM tombstones WHERE id = ?1")?
        .query_row([id], |row| row.get(0))
        .optional()?;
    if let Some(stored) = tombstone {
        return Ok(if stored == hash {
            EnqueueOutcome::AlreadyPresent
        } else {
            EnqueueOutcome::Conflict
        });
    }
    let inserted = tx
        .prepare_cached(
            "INSERT INTO outbox (id, body, body_hash, state, attempts, claims, \
                 next_attempt_at, enqueued_at, updated_at) \
             VALUES (?1, ?2, ?3, 'pending', 0, 0, ?4, ?4, ?4) \
             ON CONFLICT (id) DO NOTHING",
        )?
        .execute((id, body, &hash, now))?
        == 1;
    if inserted {
        return Ok(EnqueueOutcome::Inserted);
    }
    // Compare the bytes, not only the hash: "same body" must mean exactly that.
    let (stored_hash, stored_body): (String, Vec<u8>) = tx
        .prepare_cached("SELECT body_hash, body FROM outbox WHERE id = ?1")?
        .query_row([id], |row| Ok((row.get(0)?, row.get(1)?)))?;
    Ok(if stored_hash == hash && stored_body == body {
        EnqueueOutcome::AlreadyPresent
    } else {
        EnqueueOutcome::Conflict
    })
}

/// One candidate of a claim: its due time, enqueue time, id, and whether
/// its lease expired (the sort puts due time first: the merge's order).
type Due = (Timestamp, Timestamp, String, bool);

fn due_rows(
    tx: &Transaction<'_>,
    sql: &str,
    now: Timestamp,
    limit: usize,
    lease_expired: bool,
) -> Sql<Vec<Due>> {
    let mut stmt = tx.prepare_cached(sql)?;
    let rows = stmt
        .query_map((now, limit_param(limit)), |row| {
            Ok((row.get(1)?, row.get(2)?, row.get(0)?, lease_expired))
        })?
        .collect::<rusqlite::Result<Vec<Due>>>()?;
    Ok(rows)
}

/// Claims up to `limit` due rows for `worker`.
pub(crate) fn claim(db: &mut Db, worker: &str, limit: usize, lease: Duration) -> Sql<Claims> {
    check_worker(worker)?;
    check_lease(lease)?;
    if limit == 0 {
        return Ok(Claims {
            now: db.now(),
            rows: Vec::new(),
        });
    }
    db.write(|tx, now| {
        // Each half reads at most `limit` entries of its own index; the
        // merge keeps the earliest `limit` by due time, so the claim costs
        // O(limit), not O(backlog).
        let mut due = due_rows(tx, DUE_PENDING, now, limit, false)?;
        due.extend(due_rows(tx, EXPIRED_LEASES, now, limit, true)?);
        due.sort();
        due.truncate(limit);
        let lease_until = after(now, lease);
        let mut take = tx.prepare_cached(TAKE)?;
        let mut rows = Vec::with_capacity(due.len());
        for (_, _, id, lease_expired) in due {
            let claimed = take.query_row((&id, worker, lease_until, now), |row| {
                Ok(Claimed {
                    body: bytes::Bytes::from(row.get::<_, Vec<u8>>(0)?),
                    attempts: row.get(1)?,
                    claims: row.get(2)?,
                    enqueued_at: row.get(3)?,
                    last_error: row.get(4)?,
                    token: ClaimToken(row.get(5)?),
                    id: String::new(),
                    lease_until,
                    lease_expired,
                })
            })?;
            rows.push(Claimed { id, ..claimed });
        }
        Ok(Claims { now, rows })
    })
}

/// Why a fenced change on `id` did not apply: no such row, or not (or no
/// longer) this claim.
pub(crate) fn not_held(tx: &Transaction<'_>, id: &str) -> Sql<OutboxError> {
    let current: Option<(String, Option<String>)> = tx
        .prepare_cached("SELECT state, lease_owner FROM outbox WHERE id = ?1")?
        .query_row([id], |row| Ok((row.get(0)?, row.get(1)?)))
        .optional()?;
    Ok(match current {
        None => OutboxError::UnknownId { id: id.to_owned() },
        Some((state, owner)) => OutboxError::Fenced {
            id: id.to_owned(),
            state: state.parse().map_err(|error| {
                rusqlite::Error::FromSqlConversionFailure(
                    0,
                    rusqlite::types::Type::Text,
                    Box::new(error),
                )
            })?,
            owner,
        },
    })
}

/// Extends each lease still held.
pub(crate) fn extend(
    db: &mut Db,
    leases: Vec<(String, ClaimToken)>,
    lease: Duration,
) -> Sql<Vec<Result<Timestamp, OutboxError>>> {
    check_lease(lease)?;
    if leases.is_empty() {
        return Ok(Vec::new());
    }
    db.write(|tx, now| {
        let until = after(now, lease);
        let mut update = tx.prepare_cached(
            "UPDATE outbox SET lease_until = ?3, updated_at = ?4 \
             WHERE id = ?1 AND state = 'in_flight' AND claim_token = ?2",
        )?;
        let mut results = Vec::with_capacity(leases.len());
        for (id, token) in &leases {
            if update.execute((id, token.0, until, now))? == 1 {
                results.push(Ok(until));
            } else {
                results.push(Err(not_held(tx, id)?));
            }
        }
        Ok(results)
    })
}

/// Hands back every row `worker` holds.
pub(crate) fn release_all(db: &mut Db, worker: &str) -> Sql<u64> {
    check_worker(worker)?;
    db.write(|tx, now| {
        let released = tx
            .prepare_cached(
                "UPDATE outbox SET state = 'pending', updated_at = ?2, \
                     lease_owner = NULL, lease_until = NULL \
                 WHERE state = 'in_flight' AND lease_owner = ?1",
            )?
            .execute((worker, now))?;
        Ok(u64::try_from(released).unwrap_or(u64::MAX))
    })
}

#[cfg(test)]
mod tests {
    //! The claim's cost, pinned: its two halves must read their partial
    //! indexes in order (no sort, no scan, not the state index), so a claim
    //! reads O(limit) rows however long the backlog.

    use std::sync::Arc;
    use std::time::Duration;

    use rusqlite::StatementStatus;

    use super::{DUE_PENDING, EXPIRED_LEASES, claim};
    use crate::clock::ManualClock;
    use crate::thread::{Db, Settings, open_db};

    const T0: i64 = 1_700_000_000_000;

    fn db(dir: &tempfile::TempDir) -> Db {
        let settings = Settings {
            clock: Arc::new(ManualClock::new(T0 + 1_000_000)),
            dedup_window: Duration::from_secs(60),
            max_pages: None,
        };
        open_db(&dir.path().join("outbox.db"), settings).unwrap()
    }

    /// `rows` rows: half delivered (history), the rest due pending, and
    /// (among the first 10,000) a few in flight, some with an expired lease.
    fn fill(db: &mut Db, rows: i64) {
        db.conn()
            .execute_batch(&format!(
                "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {rows}) \
                 INSERT INTO outbox (id, body, body_hash, state, attempts, claims, next_attempt_at, \
                     enqueued_at, updated_at, delivered_at, lease_owner, lease_until, claim_token) \
                 SELECT printf('s%08d', i), randomblob(200), 'h', \
                     CASE WHEN i % 2 = 0 THEN 'delivered' WHEN i % 101 = 0 AND i <= 10000 THEN 'in_flight' ELSE 'pending' END, \
                     0, 0, {T0} + i, {T0} + i, {T0} + i, \
                     CASE WHEN i % 2 = 0 THEN {T0} + i END, \
                     CASE WHEN i % 2 = 1 AND i % 101 = 0 AND i <= 10000 THEN 'w' END, \
                     CASE WHEN i % 2 = 1 AND i % 101 = 0 AND i <= 10000 THEN {T0} + i * (i % 3) END, \
                     CASE WHEN i % 2 = 1 AND i % 101 = 0 AND i <= 10000 THEN 1 END \
                 FROM n;"
            ))
            .unwrap();
    }

    fn plan(db: &Db, sql: &str) -> String {
        let mut stmt = db
            .conn()
            .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
            .unwrap();
        let rows = stmt
            .query_map((T0 + 1_000_000, 64), |row| row.get::<_, String>(3))
            .unwrap()
            .collect::<Result<Vec<_>, _>>()
            .unwrap();
        rows.join("\n")
    }

    #[test]
    fn the_claim_plan_reads_the_partial_indexes_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let mut db = db(&dir);
        fill(&mut db, 20_000);
        for (sql, index) in [
            (DUE_PENDING, "outbox_pending_due"),
            (EXPIRED_LEASES, "outbox_lease_expiry"),
        ] {
            let plan = plan(&db, sql);
            eprintln!("EXPLAIN QUERY PLAN {sql}\n  {plan}");
            assert!(
                plan.contains(&format!("USING COVERING INDEX {index}")),
                "{plan}"
            );
            assert!(
                !plan.contains("TEMP B-TREE"),
                "a claim must not sort: {plan}"
            );
            assert!(
                !plan.contains("outbox_state_enqueued"),
                "not the state index: {plan}"
            );
            assert!(!plan.contains("SCAN"), "no scan: {plan}");
        }
    }

    /// Virtual-machine steps and full-scan steps of both claim queries.
    fn cost(db: &Db) -> (i32, i32, i32) {
        let mut total = (0, 0, 0);
        for sql in [DUE_PENDING, EXPIRED_LEASES] {
            let mut stmt = db.conn().prepare(sql).unwrap();
            let n = stmt
                .query_map((T0 + 1_000_000, 64), |_| Ok(()))
                .unwrap()
                .count();
            assert!(n <= 64);
            total.0 += stmt.get_status(StatementStatus::VmStep);
            total.1 += stmt.get_status(StatementStatus::FullscanStep);
            total.2 += stmt.get_status(StatementStatus::Sort);
        }
        total
    }

    #[test]
    fn a_claim_on_a_100k_row_outbox_reads_a_bounded_number_of_rows() {
        let small_dir = tempfile::tempdir().unwrap();
        let mut small = db(&small_dir);
        fill(&mut small, 10_000);
        let dir = tempfile::tempdir().unwrap();
        let mut big = db(&dir);
        fill(&mut big, 100_000);
        let (small_steps, _, _) = cost(&small);
        let (steps, scans, sorts) = cost(&big);
        eprintln!("claim of 64: {small_steps} VM steps on 10k rows, {steps} on 100k rows");
        assert_eq!((scans, sorts), (0, 0), "no full scan, no sort");
        assert!(steps < 64 * 40, "{steps} VM steps for 64 rows");
        assert_eq!(
            steps, small_steps,
            "the cost does not grow with the backlog"
        );

        // The same 64 rows as a plain (slow) query over every row says.
        let expected: Vec<String> = big
            .conn()
            .prepare(
                "SELECT id FROM outbox WHERE (state = 'pending' AND next_attempt_at <= ?1) \
                    OR (state = 'in_flight' AND lease_until <= ?1) \
                 ORDER BY CASE state WHEN 'pending' THEN next_attempt_at ELSE lease_until END, \
                    enqueued_at, id LIMIT 64",
            )
            .unwrap()
            .query_map([T0 + 1_000_000], |row| row.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let claims = claim(&mut big, "w", 64, Duration::from_secs(30)).unwrap();
        let got: Vec<String> = claims.rows.into_iter().map(|r| r.id).collect();
        assert_eq!(
            got, expected,
            "earliest due first, leases and pending rows merged"
        );
    }
}
