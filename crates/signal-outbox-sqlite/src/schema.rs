//! The table layout, the connection settings, and schema versioning.
//!
//! The file is marked with `PRAGMA application_id` (so another program's
//! SQLite file is refused instead of being written into) and
//! `PRAGMA user_version` (so a file written by a newer build with a changed
//! layout is refused instead of misread). Creating the schema and setting
//! both marks happen in one transaction: a crash during creation leaves an
//! empty file that the next open simply initialises again.

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, TransactionBehavior};

use crate::error::OutboxError;

/// `application_id` of an outbox file: "SGOB" in ASCII.
pub(crate) const APPLICATION_ID: i32 = 0x5347_4F42;

/// The layout version this build reads and writes.
pub(crate) const SCHEMA_VERSION: i32 = 1;

/// How long a write waits for another process's write to finish (an
/// `enqueue` command and a worker sharing the file) before failing with
/// "database is locked".
pub(crate) const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Version 1 of the layout.
///
/// `STRICT` makes SQLite enforce the column types, and the `CHECK`s tie the
/// optional columns to the state, so even a buggy writer cannot store an
/// in-flight row without a lease or a dead-lettered row without a reason.
/// The two partial indexes are exactly the two halves of the "due" query of
/// `claim_due`, so claiming never scans delivered history; the last one
/// serves `purge_delivered` the same way.
const SCHEMA_V1: &str = "
CREATE TABLE outbox (
    id              TEXT    NOT NULL PRIMARY KEY CHECK (length(id) > 0),
    body            BLOB    NOT NULL,
    body_hash       TEXT    NOT NULL,
    state           TEXT    NOT NULL
                    CHECK (state IN ('pending', 'in_flight', 'delivered', 'dead_lettered')),
    attempts        INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    claims          INTEGER NOT NULL DEFAULT 0 CHECK (claims >= 0),
    next_attempt_at INTEGER NOT NULL,
    lease_owner     TEXT,
    lease_until     INTEGER,
    last_error      TEXT,
    dead_reason     TEXT,
    enqueued_at     INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    delivered_at    INTEGER,
    CHECK ((state = 'in_flight') = (lease_owner IS NOT NULL AND lease_until IS NOT NULL)),
    CHECK ((state = 'dead_lettered') = (dead_reason IS NOT NULL)),
    CHECK ((state = 'delivered') = (delivered_at IS NOT NULL))
) STRICT;

CREATE INDEX outbox_pending_due ON outbox (next_attempt_at, enqueued_at, id)
    WHERE state = 'pending';
CREATE INDEX outbox_lease_expiry ON outbox (lease_until, enqueued_at, id)
    WHERE state = 'in_flight';
CREATE INDEX outbox_state_enqueued ON outbox (state, enqueued_at, id);
CREATE INDEX outbox_delivered_at ON outbox (delivered_at)
    WHERE state = 'delivered';
";

/// Applies the per-connection settings. This is the first statement that
/// reads the file, so a file that is not a database fails here.
///
/// - `journal_mode=WAL`: readers (`outbox stats`) never block the writer,
///   and a commit appends to the log instead of rewriting pages in place.
/// - `synchronous=FULL`: every commit fsyncs the WAL before returning, so a
///   committed (acknowledged) signal survives a power loss or kernel crash,
///   not only a process crash. With `NORMAL`, WAL mode only syncs at
///   checkpoints and the last commits can vanish on power loss, which would
///   break the promise made when the producer was acknowledged. Group commit
///   (many rows per transaction) keeps the cost of one fsync per commit low.
pub(crate) fn configure(conn: &Connection, path: &Path) -> Result<(), OutboxError> {
    conn.busy_timeout(BUSY_TIMEOUT)?;
    let mode: String =
        conn.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(OutboxError::Open {
            path: path.to_path_buf(),
            reason: format!(
                "SQLite could not switch the database to WAL mode (it stayed in {mode} mode)"
            ),
            hint: "put the outbox on a local filesystem (WAL needs shared memory; NFS and some container volumes lack it)",
        });
    }
    conn.pragma_update(None, "synchronous", "FULL")?;
    Ok(())
}

/// Creates the schema in an empty file, or checks that an existing file is
/// an outbox of a version this build understands.
pub(crate) fn migrate(conn: &mut Connection, path: &Path) -> Result<(), OutboxError> {
    // IMMEDIATE: two processes opening a fresh file at once must not both
    // try to create the table.
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let app_id: i32 = tx.pragma_query_value(None, "application_id", |row| row.get(0))?;
    let version: i32 = tx.pragma_query_value(None, "user_version", |row| row.get(0))?;
    let objects: i64 = tx.query_row(
        "SELECT count(*) FROM sqlite_schema WHERE name NOT LIKE 'sqlite_%'",
        [],
        |row| row.get(0),
    )?;

    if app_id == 0 && version == 0 && objects == 0 {
        tx.execute_batch(SCHEMA_V1)?;
        tx.pragma_update(None, "application_id", APPLICATION_ID)?;
        tx.pragma_update(None, "user_version", SCHEMA_VERSION)?;
        tx.commit()?;
        tracing::info!(path = %path.display(), version = SCHEMA_VERSION, "created signal outbox schema");
        return Ok(());
    }
    if app_id != APPLICATION_ID {
        return Err(OutboxError::Open {
            path: path.to_path_buf(),
            reason: format!(
                "the file is a SQLite database but not a signal outbox \
                 (application_id {app_id:#x}, {objects} tables or indexes)"
            ),
            hint: "point OUTBOX_PATH at the outbox file or at a new file; this one belongs to another program",
        });
    }
    if version > SCHEMA_VERSION {
        return Err(OutboxError::Open {
            path: path.to_path_buf(),
            reason: format!(
                "the outbox was written by a newer version (schema {version}, this build understands {SCHEMA_VERSION})"
            ),
            hint: "run the newer signal-delivery build, or restore a backup made by this version",
        });
    }
    if version < SCHEMA_VERSION {
        // No older layout has ever shipped; a marked file with an older
        // number was not written by this crate.
        return Err(OutboxError::Open {
            path: path.to_path_buf(),
            reason: format!("unknown outbox schema version {version}"),
            hint: "restore the outbox from a backup or move the file aside",
        });
    }
    tx.commit()?;
    Ok(())
}
