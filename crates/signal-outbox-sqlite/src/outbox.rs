//! [`SqliteOutbox`]: the outbox in one embedded SQLite file.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use rusqlite::{
    Connection, OpenFlags, OptionalExtension, Row, ToSql, Transaction, TransactionBehavior,
};

use crate::diagnose::{classify, preflight};
use crate::error::OutboxError;
use crate::hash::body_hash;
use crate::outbox::Outbox;
use crate::outcome::Outcome;
use crate::report::{OutboxStats, RowSummary};
use crate::schema;
use crate::signal::{Claimed, EnqueueOutcome, NewSignal};
use crate::state::{DeadReason, State};
use crate::time::{UnixMillis, duration_to_millis, millis_between};

/// Longest `last_error` stored, in bytes. Error texts can embed whole HTTP
/// response bodies; the outbox needs the gist, not megabytes per retry.
pub const MAX_ERROR_LEN: usize = 2048;

/// The durable outbox in one SQLite file (plus its `-wal` and `-shm` files).
///
/// One connection behind a [`Mutex`] is enough: SQLite admits one writer at
/// a time per file anyway, every operation is a short transaction (its cost
/// is dominated by the fsync at commit, which a second connection would have
/// to wait for too), and the operator commands run in their own processes
/// with their own connections, which WAL lets read while the worker writes.
/// The mutex also makes the type `Sync`, which `rusqlite::Connection` is not.
///
/// A poisoned mutex (a panic in another thread while it held the lock) is
/// recovered rather than propagated: every operation is a transaction that
/// rolls back when dropped during unwinding, so the connection is consistent.
#[derive(Debug)]
pub struct SqliteOutbox {
    path: PathBuf,
    conn: Mutex<Connection>,
}

/// Columns read into a [`RowSummary`], in the order `summary_from_row` expects.
const SUMMARY_COLUMNS: &str = "id, state, attempts, claims, next_attempt_at, lease_owner, \
     lease_until, last_error, dead_reason, enqueued_at, updated_at, delivered_at, \
     length(body), body_hash";

impl SqliteOutbox {
    /// Opens the outbox at `path`, creating the file and the schema if they
    /// do not exist, in WAL mode with `synchronous=FULL` (see below).
    ///
    /// Durability: with `synchronous=FULL` every commit waits for the WAL to
    /// reach stable storage (fsync), so a signal acknowledged after
    /// [`Outbox::enqueue_batch`] returned survives a power loss or a kernel
    /// crash, not just the death of this process. Batching many signals per
    /// commit (group commit) is what keeps that affordable.
    ///
    /// # Errors
    /// - [`OutboxError::Open`] if the path is a directory, its directory does
    ///   not exist or is a file, the file cannot be opened or written, it is
    ///   another program's SQLite file, or it was written by a newer schema.
    /// - [`OutboxError::Corrupt`] if the file is not a SQLite database or is
    ///   damaged.
    ///
    /// Each message names the path, what is wrong and what to do.
    pub fn open(path: &Path) -> Result<SqliteOutbox, OutboxError> {
        preflight(path)?;
        // No SQLITE_OPEN_URI: a path is a path, even if it starts with "file:".
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let setup = || -> Result<Connection, OutboxError> {
            let mut conn = Connection::open_with_flags(path, flags)?;
            schema::configure(&conn, path)?;
            schema::migrate(&mut conn, path)?;
            Ok(conn)
        };
        let conn = setup().map_err(|err| classify(path, err))?;
        tracing::debug!(path = %path.display(), "opened signal outbox");
        Ok(SqliteOutbox {
            path: path.to_path_buf(),
            conn: Mutex::new(conn),
        })
    }

    /// The path this outbox was opened with.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `f` in one IMMEDIATE transaction and commits it.
    ///
    /// IMMEDIATE takes the write lock at BEGIN. With a deferred transaction a
    /// read-then-write could fail with SQLITE_BUSY at the upgrade, which the
    /// busy timeout does not retry, when another process writes meanwhile.
    fn write<T>(
        &self,
        f: impl FnOnce(&Transaction<'_>) -> Result<T, OutboxError>,
    ) -> Result<T, OutboxError> {
        let mut conn = self.conn.lock().unwrap_or_else(PoisonError::into_inner);
        let run = || -> Result<T, OutboxError> {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let value = f(&tx)?;
            tx.commit()?;
            Ok(value)
        };
        run().map_err(|err| classify(&self.path, err))
    }

    /// Runs `f` in a read transaction, so multi-query reads see one snapshot.
    fn read<T>(
        &self,
        f: impl FnOnce(&Transaction<'_>) -> Result<T, OutboxError>,
    ) -> Result<T, OutboxError> {
        let mut conn = self.conn.lock().unwrap_or_else(PoisonError::into_inner);
        let run = || -> Result<T, OutboxError> {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Deferred)?;
            let value = f(&tx)?;
            tx.commit()?;
            Ok(value)
        };
        run().map_err(|err| classify(&self.path, err))
    }
}

/// Rejects an empty worker name: leases are matched by name, so an empty
/// one would be an anonymous holder nobody can identify in `outbox list`.
fn check_worker(worker: &str) -> Result<(), OutboxError> {
    if worker.is_empty() {
        return Err(OutboxError::InvalidInput {
            reason: "the worker name must not be empty".to_owned(),
        });
    }
    Ok(())
}

/// Cuts `error` to at most [`MAX_ERROR_LEN`] bytes on a character boundary.
fn truncate_error(error: &str) -> &str {
    if error.len() <= MAX_ERROR_LEN {
        return error;
    }
    let mut end = MAX_ERROR_LEN;
    while !error.is_char_boundary(end) {
        end -= 1;
    }
    &error[..end]
}

/// A count or length, which SQLite returns as `i64` and is never negative.
fn non_negative(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

fn limit_param(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}

/// Runs an outcome update guarded by `WHERE id = ?1 AND state = 'in_flight'
/// AND lease_owner = ?2`. If it changed nothing, finds out why (no such row,
/// or someone else's / no lease) inside the same transaction.
fn guarded_update(
    tx: &Transaction<'_>,
    id: &str,
    worker: &str,
    set_clause: &str,
    extra: &[&dyn ToSql],
) -> Result<(), OutboxError> {
    let sql = format!(
        "UPDATE outbox SET {set_clause} WHERE id = ?1 AND state = 'in_flight' AND lease_owner = ?2"
    );
    let mut params: Vec<&dyn ToSql> = vec![&id, &worker];
    params.extend_from_slice(extra);
    let changed = tx.prepare_cached(&sql)?.execute(params.as_slice())?;
    if changed == 1 {
        return Ok(());
    }
    let current: Option<(State, Option<String>)> = tx
        .prepare_cached("SELECT state, lease_owner FROM outbox WHERE id = ?1")?
        .query_row([id], |row| Ok((row.get(0)?, row.get(1)?)))
        .optional()?;
    match current {
        None => Err(OutboxError::UnknownId { id: id.to_owned() }),
        Some((state, owner)) => Err(OutboxError::LeaseLost {
            id: id.to_owned(),
            worker: worker.to_owned(),
            state,
            owner,
        }),
    }
}

/// Applies one outcome inside `tx`, guarded by the worker's lease.
fn apply_outcome(
    tx: &Transaction<'_>,
    worker: &str,
    outcome: &Outcome<'_>,
    now: UnixMillis,
) -> Result<(), OutboxError> {
    match *outcome {
        Outcome::Delivered { id, attempts } => guarded_update(
            tx,
            id,
            worker,
            "state = 'delivered', attempts = ?3, delivered_at = ?4, updated_at = ?4, \
             lease_owner = NULL, lease_until = NULL",
            &[&attempts, &now],
        ),
        Outcome::Retry {
            id,
            attempts,
            next_attempt_at,
            last_error,
        } => guarded_update(
            tx,
            id,
            worker,
            "state = 'pending', attempts = ?3, next_attempt_at = ?4, last_error = ?5, \
             updated_at = ?6, lease_owner = NULL, lease_until = NULL",
            &[
                &attempts,
                &next_attempt_at,
                &truncate_error(last_error),
                &now,
            ],
        ),
        Outcome::DeadLetter {
            id,
            attempts,
            reason,
            last_error,
        } => {
            guarded_update(
                tx,
                id,
                worker,
                "state = 'dead_lettered', attempts = ?3, dead_reason = ?4, last_error = ?5, \
                 updated_at = ?6, lease_owner = NULL, lease_until = NULL",
                &[&attempts, &reason, &truncate_error(last_error), &now],
            )?;
            tracing::warn!(id, %reason, attempts, "signal dead-lettered");
            Ok(())
        }
        Outcome::Release { id } => guarded_update(
            tx,
            id,
            worker,
            "state = 'pending', updated_at = ?3, lease_owner = NULL, lease_until = NULL",
            &[&now],
        ),
    }
}

fn summary_from_row(row: &Row<'_>) -> rusqlite::Result<RowSummary> {
    Ok(RowSummary {
        id: row.get(0)?,
        state: row.get(1)?,
        attempts: row.get(2)?,
        claims: row.get(3)?,
        next_attempt_at: row.get(4)?,
        lease_owner: row.get(5)?,
        lease_until: row.get(6)?,
        last_error: row.get(7)?,
        dead_reason: row.get(8)?,
        enqueued_at: row.get(9)?,
        updated_at: row.get(10)?,
        delivered_at: row.get(11)?,
        body_len: non_negative(row.get(12)?),
        body_hash: row.get(13)?,
    })
}

impl Outbox for SqliteOutbox {
    fn enqueue_batch(
        &self,
        items: &[NewSignal<'_>],
        now: UnixMillis,
    ) -> Result<Vec<EnqueueOutcome>, OutboxError> {
        if let Some(index) = items.iter().position(|item| item.id.is_empty()) {
            return Err(OutboxError::InvalidInput {
                reason: format!("signal {index} of the batch has an empty id"),
            });
        }
        if items.is_empty() {
            return Ok(Vec::new());
        }
        self.write(|tx| {
            let mut insert = tx.prepare_cached(
                "INSERT INTO outbox (id, body, body_hash, state, attempts, claims, \
                     next_attempt_at, enqueued_at, updated_at) \
                 VALUES (?1, ?2, ?3, 'pending', 0, 0, ?4, ?4, ?4) \
                 ON CONFLICT (id) DO NOTHING",
            )?;
            let mut existing =
                tx.prepare_cached("SELECT body_hash, body FROM outbox WHERE id = ?1")?;
            let mut outcomes = Vec::with_capacity(items.len());
            for item in items {
                let hash = body_hash(item.body);
                let inserted = insert.execute((item.id, item.body, &hash, now))? == 1;
                let outcome = if inserted {
                    EnqueueOutcome::Inserted
                } else {
                    // Compare the bytes, not only the hash: "same body" must
                    // mean exactly that.
                    let (stored_hash, stored_body): (String, Vec<u8>) =
                        existing.query_row([item.id], |row| Ok((row.get(0)?, row.get(1)?)))?;
                    if stored_hash == hash && stored_body == item.body {
                        EnqueueOutcome::AlreadyPresent
                    } else {
                        tracing::warn!(
                            id = item.id,
                            "enqueue rejected: id already stored with a different body"
                        );
                        EnqueueOutcome::Conflict
                    }
                };
                outcomes.push(outcome);
            }
            Ok(outcomes)
        })
    }

    fn claim_due(
        &self,
        worker: &str,
        now: UnixMillis,
        limit: usize,
        lease: Duration,
    ) -> Result<Vec<Claimed>, OutboxError> {
        check_worker(worker)?;
        if limit == 0 {
            return Ok(Vec::new());
        }
        let lease_until = now.saturating_add(duration_to_millis(lease));
        self.write(|tx| {
            // Each half uses its partial index and stops after `limit` rows;
            // the outer query merges them by due time.
            let mut due = tx.prepare_cached(
                "SELECT id, body, attempts, claims, enqueued_at, last_error FROM ( \
                     SELECT * FROM ( \
                         SELECT id, body, attempts, claims, enqueued_at, last_error, \
                             next_attempt_at AS due \
                         FROM outbox WHERE state = 'pending' AND next_attempt_at <= ?1 \
                         ORDER BY next_attempt_at, enqueued_at, id LIMIT ?2) \
                     UNION ALL \
                     SELECT * FROM ( \
                         SELECT id, body, attempts, claims, enqueued_at, last_error, \
                             lease_until AS due \
                         FROM outbox WHERE state = 'in_flight' AND lease_until <= ?1 \
                         ORDER BY lease_until, enqueued_at, id LIMIT ?2)) \
                 ORDER BY due, enqueued_at, id LIMIT ?2",
            )?;
            let rows = due
                .query_map((now, limit_param(limit)), |row| {
                    Ok(Claimed {
                        id: row.get(0)?,
                        body: row.get(1)?,
                        attempts: row.get(2)?,
                        claims: row.get::<_, u32>(3)?.saturating_add(1),
                        enqueued_at: row.get(4)?,
                        last_error: row.get(5)?,
                        lease_until,
                    })
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            let mut take = tx.prepare_cached(
                "UPDATE outbox SET state = 'in_flight', lease_owner = ?2, lease_until = ?3, \
                     claims = ?4, updated_at = ?5 \
                 WHERE id = ?1",
            )?;
            for claimed in &rows {
                take.execute((&claimed.id, worker, lease_until, claimed.claims, now))?;
            }
            Ok(rows)
        })
    }

    fn mark_delivered(
        &self,
        id: &str,
        worker: &str,
        attempts: u32,
        now: UnixMillis,
    ) -> Result<(), OutboxError> {
        let outcome = Outcome::Delivered { id, attempts };
        self.write(|tx| apply_outcome(tx, worker, &outcome, now))
    }

    fn reschedule(
        &self,
        id: &str,
        worker: &str,
        attempts: u32,
        next_attempt_at: UnixMillis,
        last_error: &str,
        now: UnixMillis,
    ) -> Result<(), OutboxError> {
        let outcome = Outcome::Retry {
            id,
            attempts,
            next_attempt_at,
            last_error,
        };
        self.write(|tx| apply_outcome(tx, worker, &outcome, now))
    }

    fn dead_letter(
        &self,
        id: &str,
        worker: &str,
        attempts: u32,
        reason: DeadReason,
        last_error: &str,
        now: UnixMillis,
    ) -> Result<(), OutboxError> {
        let outcome = Outcome::DeadLetter {
            id,
            attempts,
            reason,
            last_error,
        };
        self.write(|tx| apply_outcome(tx, worker, &outcome, now))
    }

    fn release(&self, id: &str, worker: &str, now: UnixMillis) -> Result<(), OutboxError> {
        self.write(|tx| apply_outcome(tx, worker, &Outcome::Release { id }, now))
    }

    fn record_outcomes(
        &self,
        worker: &str,
        outcomes: &[Outcome<'_>],
        now: UnixMillis,
    ) -> Result<Vec<Result<(), OutboxError>>, OutboxError> {
        if outcomes.is_empty() {
            return Ok(Vec::new());
        }
        self.write(|tx| {
            let mut results = Vec::with_capacity(outcomes.len());
            for outcome in outcomes {
                match apply_outcome(tx, worker, outcome, now) {
                    Ok(()) => results.push(Ok(())),
                    // Guard failures concern one row, which was not changed:
                    // report it and keep the rest of the batch.
                    Err(err @ (OutboxError::LeaseLost { .. } | OutboxError::UnknownId { .. })) => {
                        results.push(Err(err));
                    }
                    // Anything else is a storage failure: roll everything back.
                    Err(err) => return Err(err),
                }
            }
            Ok(results)
        })
    }

    fn release_all(&self, worker: &str, now: UnixMillis) -> Result<u64, OutboxError> {
        check_worker(worker)?;
        self.write(|tx| {
            let released = tx.execute(
                "UPDATE outbox SET state = 'pending', updated_at = ?2, \
                     lease_owner = NULL, lease_until = NULL \
                 WHERE state = 'in_flight' AND lease_owner = ?1",
                (worker, now),
            )?;
            Ok(u64::try_from(released).unwrap_or(u64::MAX))
        })
    }

    fn extend_lease(
        &self,
        id: &str,
        worker: &str,
        now: UnixMillis,
        lease: Duration,
    ) -> Result<UnixMillis, OutboxError> {
        let lease_until = now.saturating_add(duration_to_millis(lease));
        self.write(|tx| {
            guarded_update(
                tx,
                id,
                worker,
                "lease_until = ?3, updated_at = ?4",
                &[&lease_until, &now],
            )
        })?;
        Ok(lease_until)
    }

    fn purge_delivered(
        &self,
        delivered_before: UnixMillis,
        limit: usize,
    ) -> Result<u64, OutboxError> {
        if limit == 0 {
            return Ok(0);
        }
        // DELETE ... LIMIT needs a compile-time option the bundled SQLite
        // lacks; a rowid subquery does the same.
        let purged = self.write(|tx| {
            Ok(tx.execute(
                "DELETE FROM outbox WHERE rowid IN ( \
                     SELECT rowid FROM outbox \
                     WHERE state = 'delivered' AND delivered_at < ?1 \
                     ORDER BY delivered_at LIMIT ?2)",
                (delivered_before, limit_param(limit)),
            )?)
        })?;
        Ok(u64::try_from(purged).unwrap_or(u64::MAX))
    }

    fn stats(&self, now: UnixMillis) -> Result<OutboxStats, OutboxError> {
        self.read(|tx| {
            let mut stats = OutboxStats::default();
            let mut counts =
                tx.prepare_cached("SELECT state, count(*) FROM outbox GROUP BY state")?;
            let rows = counts.query_map([], |row| {
                Ok((row.get::<_, State>(0)?, non_negative(row.get(1)?)))
            })?;
            for row in rows {
                let (state, count) = row?;
                match state {
                    State::Pending => stats.pending = count,
                    State::InFlight => stats.in_flight = count,
                    State::Delivered => stats.delivered = count,
                    State::DeadLettered => stats.dead_lettered = count,
                }
            }
            let oldest: Option<i64> = tx
                .prepare_cached("SELECT min(enqueued_at) FROM outbox WHERE state = 'pending'")?
                .query_row([], |row| row.get(0))?;
            stats.oldest_pending_age = oldest.map(|enqueued| millis_between(enqueued, now));
            Ok(stats)
        })
    }

    fn list(&self, state: State, limit: usize) -> Result<Vec<RowSummary>, OutboxError> {
        self.read(|tx| {
            let mut stmt = tx.prepare_cached(&format!(
                "SELECT {SUMMARY_COLUMNS} FROM outbox WHERE state = ?1 \
                 ORDER BY enqueued_at, id LIMIT ?2"
            ))?;
            let rows = stmt
                .query_map((state, limit_param(limit)), summary_from_row)?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(rows)
        })
    }

    fn get(&self, id: &str) -> Result<Option<RowSummary>, OutboxError> {
        self.read(|tx| {
            let row = tx
                .prepare_cached(&format!(
                    "SELECT {SUMMARY_COLUMNS} FROM outbox WHERE id = ?1"
                ))?
                .query_row([id], summary_from_row)
                .optional()?;
            Ok(row)
        })
    }

    fn replay(&self, id: &str, now: UnixMillis) -> Result<(), OutboxError> {
        self.write(|tx| {
            let state: Option<State> = tx
                .prepare_cached("SELECT state FROM outbox WHERE id = ?1")?
                .query_row([id], |row| row.get(0))
                .optional()?;
            match state {
                None => return Err(OutboxError::UnknownId { id: id.to_owned() }),
                Some(State::DeadLettered) => {}
                Some(state) => {
                    return Err(OutboxError::WrongState {
                        id: id.to_owned(),
                        state,
                        expected: State::DeadLettered,
                    });
                }
            }
            tx.prepare_cached(
                "UPDATE outbox SET state = 'pending', attempts = 0, claims = 0, \
                     next_attempt_at = ?2, dead_reason = NULL, updated_at = ?2 \
                 WHERE id = ?1",
            )?
            .execute((id, now))?;
            Ok(())
        })?;
        tracing::info!(id, "dead-lettered signal replayed");
        Ok(())
    }
}
