//! The table layout, the connection settings, and versioned migrations.
//!
//! The file is marked with `PRAGMA application_id` (so another program's
//! SQLite file is refused instead of being written into) and
//! `PRAGMA user_version` (the schema version). Migrations run in order,
//! each version once, **all in one IMMEDIATE transaction**: a fresh file
//! gets v1 then v2, a v1 file only v2, and a crash in the middle leaves the
//! file as it was. Each applied version is recorded in `schema_migrations`
//! with the time and the binary's version. A file newer than this build is
//! refused ([`OutboxError::SchemaTooNew`]) instead of misread.

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, TransactionBehavior};
use signal_outbox::{OutboxError, Timestamp};

use crate::diagnose::Sql;

/// `application_id` of an outbox file: "SGOB" in ASCII.
pub(crate) const APPLICATION_ID: i32 = 0x5347_4F42;

/// The newest layout version this build reads and writes.
pub const SCHEMA_VERSION: i32 = 3;

/// How long a write waits for another process's write to finish (an
/// `enqueue` command and a worker sharing the file) before failing with
/// [`OutboxError::Unavailable`].
pub(crate) const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Version 1, as shipped before the contract (issue 8): kept verbatim,
/// because a fresh file is built by replaying every migration.
///
/// `STRICT` makes SQLite enforce the column types, and the `CHECK`s tie the
/// optional columns to the state, so even a buggy writer cannot store an
/// in-flight row without a lease or a dead-lettered row without a reason.
pub const SCHEMA_V1: &str = "
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

/// Version 2: the contract of issue 12.
///
/// - `outbox` is rebuilt (SQLite cannot add table constraints in place)
///   with `claim_token` (fencing) and `dead_at`; rows keep every value, an
///   in-flight v1 row gets token 0 (its next claim gets a fresh one), a
///   dead v1 row gets `dead_at = updated_at`.
/// - Indexes, one per access path: the two halves of the claim (partial,
///   so claiming never reads history), lists by state and by time, dead
///   rows by time and reason (replay selections), delivered rows by time
///   (purge), in-flight rows by owner (`release_all`).
/// - `attempts` (the attempt log), `alerts` (durable alerts), `ledger`
///   (consecutive failures, the open outage), `sender_lease` (one alert
///   sender at a time), `audit`, `workers` (heartbeats), `tombstones`
///   (duplicate detection after purge), `schema_migrations`.
pub const MIGRATION_V2: &str = "
CREATE TABLE outbox_v2 (
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
    claim_token     INTEGER,
    last_error      TEXT,
    dead_reason     TEXT,
    dead_at         INTEGER,
    enqueued_at     INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    delivered_at    INTEGER,
    CHECK ((state = 'in_flight') = (lease_owner IS NOT NULL AND lease_until IS NOT NULL)),
    CHECK (state <> 'in_flight' OR claim_token IS NOT NULL),
    CHECK ((state = 'dead_lettered') = (dead_reason IS NOT NULL AND dead_at IS NOT NULL)),
    CHECK ((state = 'delivered') = (delivered_at IS NOT NULL))
) STRICT;

INSERT INTO outbox_v2 (id, body, body_hash, state, attempts, claims, next_attempt_at,
        lease_owner, lease_until, claim_token, last_error, dead_reason, dead_at,
        enqueued_at, updated_at, delivered_at)
    SELECT id, body, body_hash, state, attempts, claims, next_attempt_at,
        lease_owner, lease_until, CASE WHEN state = 'in_flight' THEN 0 END, last_error,
        dead_reason, CASE WHEN state = 'dead_lettered' THEN updated_at END,
        enqueued_at, updated_at, delivered_at
    FROM outbox;
DROP TABLE outbox;
ALTER TABLE outbox_v2 RENAME TO outbox;

CREATE INDEX outbox_pending_due ON outbox (next_attempt_at, enqueued_at, id)
    WHERE state = 'pending';
CREATE INDEX outbox_lease_expiry ON outbox (lease_until, enqueued_at, id)
    WHERE state = 'in_flight';
CREATE INDEX outbox_lease_owner ON outbox (lease_owner) WHERE state = 'in_flight';
CREATE INDEX outbox_state_enqueued ON outbox (state, enqueued_at, id);
CREATE INDEX outbox_enqueued ON outbox (enqueued_at, id);
CREATE INDEX outbox_delivered_at ON outbox (delivered_at) WHERE state = 'delivered';
CREATE INDEX outbox_dead ON outbox (dead_at, dead_reason) WHERE state = 'dead_lettered';

CREATE TABLE attempts (
    seq         INTEGER PRIMARY KEY,
    signal_id   TEXT    NOT NULL,
    attempt     INTEGER NOT NULL CHECK (attempt >= 1),
    at          INTEGER NOT NULL,
    worker      TEXT    NOT NULL,
    status      INTEGER CHECK (status IS NULL OR status BETWEEN 100 AND 999),
    error_class TEXT,
    latency_ms  INTEGER NOT NULL CHECK (latency_ms >= 0),
    excerpt     TEXT
) STRICT;
CREATE INDEX attempts_signal ON attempts (signal_id, seq);

CREATE TABLE alerts (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    kind        TEXT    NOT NULL CHECK (kind IN ('signal_failure', 'invalid_line', 'conflict',
                                                 'recovered', 'summary', 'notice')),
    group_key   TEXT    NOT NULL,
    signal_id   TEXT,
    payload     TEXT    NOT NULL,
    created_at  INTEGER NOT NULL,
    state       TEXT    NOT NULL CHECK (state IN ('pending', 'sent', 'folded', 'summarized',
                                                  'failed')),
    consecutive INTEGER NOT NULL CHECK (consecutive >= 0),
    attempts    INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    not_before  INTEGER NOT NULL,
    sent_at     INTEGER,
    message_id  INTEGER,
    last_error  TEXT,
    summary_of  INTEGER REFERENCES alerts (id),
    CHECK ((state = 'sent') = (sent_at IS NOT NULL)),
    CHECK ((state = 'summarized') = (summary_of IS NOT NULL))
) STRICT;
CREATE INDEX alerts_pending ON alerts (id) WHERE state = 'pending';
CREATE INDEX alerts_sent ON alerts (sent_at, group_key) WHERE state = 'sent';
CREATE INDEX alerts_folded ON alerts (group_key, id) WHERE state = 'folded';

CREATE TABLE ledger (
    id                   INTEGER PRIMARY KEY CHECK (id = 1),
    consecutive_failures INTEGER NOT NULL CHECK (consecutive_failures >= 0),
    outage_started_at    INTEGER,
    outage_failed        INTEGER NOT NULL CHECK (outage_failed >= 0),
    CHECK ((outage_started_at IS NULL) = (outage_failed = 0))
) STRICT;
INSERT INTO ledger (id, consecutive_failures, outage_started_at, outage_failed)
    VALUES (1, 0, NULL, 0);

CREATE TABLE sender_lease (
    id    INTEGER PRIMARY KEY CHECK (id = 1),
    owner TEXT    NOT NULL,
    token INTEGER NOT NULL,
    until INTEGER NOT NULL
) STRICT;

CREATE TABLE audit (
    id     INTEGER PRIMARY KEY AUTOINCREMENT,
    at     INTEGER NOT NULL,
    actor  TEXT    NOT NULL,
    action TEXT    NOT NULL,
    detail TEXT    NOT NULL,
    result TEXT    NOT NULL
) STRICT;

CREATE TABLE workers (
    name       TEXT    NOT NULL PRIMARY KEY CHECK (length(name) > 0),
    host       TEXT    NOT NULL,
    pid        INTEGER NOT NULL,
    version    TEXT    NOT NULL,
    started_at INTEGER NOT NULL,
    last_seen  INTEGER NOT NULL,
    stopped    INTEGER NOT NULL CHECK (stopped IN (0, 1))
) STRICT;
CREATE INDEX workers_last_seen ON workers (last_seen);

CREATE TABLE tombstones (
    id           TEXT    NOT NULL PRIMARY KEY,
    body_hash    TEXT    NOT NULL,
    delivered_at INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
CREATE INDEX tombstones_delivered ON tombstones (delivered_at);

CREATE TABLE schema_migrations (
    version        INTEGER NOT NULL PRIMARY KEY,
    applied_at     INTEGER,
    binary_version TEXT    NOT NULL
) STRICT;
";

/// Version 3: two-way ops (issue 16). `bot_state` holds the ops-command
/// poller's Bot API update offset (one row), so that no update is handled
/// twice across restarts.
pub const MIGRATION_V3: &str = "
CREATE TABLE bot_state (
    id            INTEGER PRIMARY KEY CHECK (id = 1),
    update_offset INTEGER NOT NULL CHECK (update_offset >= 0)
) STRICT;
";

/// Every migration, in order.
const MIGRATIONS: [(i32, &str); 3] = [(1, SCHEMA_V1), (2, MIGRATION_V2), (3, MIGRATION_V3)];

/// Applies the per-connection settings. This is the first statement that
/// reads the file, so a file that is not a database fails here.
///
/// - `journal_mode=WAL`: readers (`outbox stats`) never block the writer,
///   and a commit appends to the log instead of rewriting pages in place.
/// - `synchronous=FULL`: every commit fsyncs the WAL before returning, so a
///   committed (acknowledged) signal survives a power loss or kernel crash,
///   not only a process crash. With `NORMAL`, WAL mode only syncs at
///   checkpoints and the last commits can vanish on power loss. Group commit
///   (many rows per transaction) keeps the cost of one fsync per commit low.
pub(crate) fn configure(conn: &Connection, path: &Path, max_pages: Option<u32>) -> Sql<()> {
    conn.busy_timeout(BUSY_TIMEOUT)?;
    let mode: String =
        conn.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(OutboxError::Open {
            target: path.display().to_string(),
            reason: format!(
                "SQLite could not switch the database to WAL mode (it stayed in {mode} mode)"
            ),
            hint: "put the outbox on a local filesystem (WAL needs shared memory; NFS and some \
                   container volumes lack it)"
                .to_owned(),
        }
        .into());
    }
    conn.pragma_update(None, "synchronous", "FULL")?;
    if let Some(pages) = max_pages {
        conn.pragma_update(None, "max_page_count", pages)?;
    }
    Ok(())
}

/// Creates the schema in an empty file, or upgrades an outbox of an older
/// version in place, or checks that it is the current one.
pub(crate) fn migrate(conn: &mut Connection, path: &Path, now: Timestamp) -> Sql<()> {
    let target = path.display().to_string();
    // IMMEDIATE: two processes opening a fresh (or old) file at once must
    // not both migrate it; the second waits, then finds it current.
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let app_id: i32 = tx.pragma_query_value(None, "application_id", |row| row.get(0))?;
    let version: i32 = tx.pragma_query_value(None, "user_version", |row| row.get(0))?;
    let objects: i64 = tx.query_row(
        "SELECT count(*) FROM sqlite_schema WHERE name NOT LIKE 'sqlite_%'",
        [],
        |row| row.get(0),
    )?;
    let fresh = app_id == 0 && version == 0 && objects == 0;
    if !fresh && app_id != APPLICATION_ID {
        return Err(OutboxError::Open {
            target,
            reason: format!(
                "the file is a SQLite database but not a signal outbox \
                 (application_id {app_id:#x}, {objects} tables or indexes)"
            ),
            hint: "point OUTBOX_PATH at the outbox file or at a new file; this one belongs to \
                   another program"
                .to_owned(),
        }
        .into());
    }
    if version > SCHEMA_VERSION {
        return Err(OutboxError::SchemaTooNew {
            target,
            found: i64::from(version),
            supported: i64::from(SCHEMA_VERSION),
            hint: "run the newer signal-delivery build, or restore a backup made by this version"
                .to_owned(),
        }
        .into());
    }
    if !fresh && version < 1 {
        return Err(OutboxError::Open {
            target,
            reason: format!("unknown outbox schema version {version}"),
            hint: "restore the outbox from a backup or move the file aside".to_owned(),
        }
        .into());
    }
    if version == SCHEMA_VERSION {
        tx.commit()?;
        return Ok(());
    }
    let binary = concat!("signal-outbox-sqlite ", env!("CARGO_PKG_VERSION"));
    let mut applied = Vec::new();
    for (step, sql) in MIGRATIONS {
        if step > version {
            if let Err(error) = tx.execute_batch(sql) {
                if fresh {
                    return Err(error.into());
                }
                // Rolled back with the transaction: the file is as it was.
                return Err(OutboxError::Open {
                    target,
                    reason: format!(
                        "upgrading the outbox from schema {version} to {step} failed ({error}); \
                         the file was left as it was"
                    ),
                    hint: "keep running the previous build on it, and restore a backup or \
                           report the error (a row breaks the new schema's rules)"
                        .to_owned(),
                }
                .into());
            }
            applied.push(step);
        }
    }
    if version == 1 {
        // Recorded now, by the build that found it: v1 predates the table.
        tx.execute(
            "INSERT INTO schema_migrations (version, applied_at, binary_version) \
             VALUES (1, NULL, 'before schema_migrations (v1)')",
            [],
        )?;
    }
    for step in &applied {
        tx.execute(
            "INSERT INTO schema_migrations (version, applied_at, binary_version) VALUES (?1, ?2, ?3)",
            (step, now, binary),
        )?;
    }
    tx.pragma_update(None, "application_id", APPLICATION_ID)?;
    tx.pragma_update(None, "user_version", SCHEMA_VERSION)?;
    tx.commit()?;
    if fresh {
        tracing::info!(path = %target, version = SCHEMA_VERSION, "created signal outbox schema");
    } else {
        tracing::warn!(path = %target, from = version, to = SCHEMA_VERSION, "upgraded signal outbox schema in place");
    }
    Ok(())
}
