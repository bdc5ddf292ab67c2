//! The schema, its versions, and how several workers agree on them.
//!
//! # Migrations
//!
//! [`MIGRATIONS`] lists every version in order. [`migrate`] applies the
//! missing ones in **one transaction under an advisory lock**, so N workers
//! starting together do not race: the first migrates, the others wait for
//! the lock and then find the schema current. PostgreSQL's DDL is
//! transactional, so a failed migration leaves the schema as it was.
//!
//! # Rolling upgrades
//!
//! A release's migration only *expands* (new tables, new nullable columns,
//! new indexes), so the previous release keeps running beside it; removing
//! or changing what an older build writes (*contracting*) waits for a later
//! release. Each applied version records, in `schema_migrations`, the
//! oldest binary version that may use the schema from then on
//! (`min_binary_version`): an expanding migration keeps the previous
//! minimum, a contracting one raises it. At start a build reads the highest
//! minimum and refuses to run if it is older
//! ([`OutboxError::BinaryTooOld`]); a schema newer than the build but
//! still allowing it is used as it is (the newer release's expansion).

use signal_outbox::{OutboxError, Timestamp};

/// The newest schema version this build creates.
pub const SCHEMA_VERSION: i32 = 2;

/// This build's version, compared with the schema's minimum.
pub const BINARY_VERSION: &str = env!("CARGO_PKG_VERSION");

/// The advisory lock key migrations hold ("SGOB" and "MIGR" in ASCII).
pub(crate) const MIGRATION_LOCK: i64 = 0x5347_4F42_4D49_4752;

/// One schema version: its number, the oldest binary that may use the
/// schema once it is applied, and its DDL.
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    /// The version number (1, 2, ...).
    pub version: i32,
    /// The oldest binary version allowed once this version is applied.
    pub min_binary_version: &'static str,
    /// The statements.
    pub sql: &'static str,
}

/// Version 1: the contract of issue 12 on PostgreSQL.
///
/// - Ids are `COLLATE "C"`: byte order, as SQLite's, for keyset pages and
///   prefix ranges on the primary key whatever the database's locale.
/// - Partial indexes, one per access path, so that claiming never reads
///   history: due pending rows and expired leases (the two halves of a
///   claim), in-flight rows by owner, dead rows by time, delivered rows by
///   time (purge), alerts by state.
/// - Claim tokens come from a sequence: unique across rows and claims for
///   the life of the database.
/// - One-row tables (`ledger`, `sender_lease`) hold the failure ledger and
///   the alert sender's lease.
pub const V1: &str = r#"
CREATE TABLE outbox (
    id              text COLLATE "C" NOT NULL PRIMARY KEY CHECK (length(id) > 0),
    body            bytea   NOT NULL,
    body_hash       text    NOT NULL,
    state           text    NOT NULL
                    CHECK (state IN ('pending', 'in_flight', 'delivered', 'dead_lettered')),
    attempts        bigint  NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    claims          bigint  NOT NULL DEFAULT 0 CHECK (claims >= 0),
    next_attempt_at bigint  NOT NULL,
    lease_owner     text,
    lease_until     bigint,
    claim_token     bigint,
    last_error      text,
    dead_reason     text,
    dead_at         bigint,
    enqueued_at     bigint  NOT NULL,
    updated_at      bigint  NOT NULL,
    delivered_at    bigint,
    CHECK ((state = 'in_flight') = (lease_owner IS NOT NULL AND lease_until IS NOT NULL)),
    CHECK (state <> 'in_flight' OR claim_token IS NOT NULL),
    CHECK ((state = 'dead_lettered') = (dead_reason IS NOT NULL AND dead_at IS NOT NULL)),
    CHECK ((state = 'delivered') = (delivered_at IS NOT NULL))
);
CREATE SEQUENCE outbox_claim_token AS bigint;

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
    seq         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    signal_id   text COLLATE "C" NOT NULL,
    attempt     bigint  NOT NULL CHECK (attempt >= 1),
    at          bigint  NOT NULL,
    worker      text    NOT NULL,
    status      integer CHECK (status IS NULL OR status BETWEEN 100 AND 999),
    error_class text,
    latency_ms  bigint  NOT NULL CHECK (latency_ms >= 0),
    excerpt     text
);
CREATE INDEX attempts_signal ON attempts (signal_id, seq);

CREATE TABLE alerts (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind        text    NOT NULL CHECK (kind IN ('signal_failure', 'invalid_line', 'conflict',
                                                 'recovered', 'summary', 'notice')),
    group_key   text    NOT NULL,
    signal_id   text,
    payload     text    NOT NULL,
    created_at  bigint  NOT NULL,
    state       text    NOT NULL CHECK (state IN ('pending', 'sent', 'folded', 'summarized',
                                                  'failed')),
    consecutive bigint  NOT NULL CHECK (consecutive >= 0),
    attempts    bigint  NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    not_before  bigint  NOT NULL,
    sent_at     bigint,
    message_id  bigint,
    last_error  text,
    summary_of  bigint REFERENCES alerts (id),
    CHECK ((state = 'sent') = (sent_at IS NOT NULL)),
    CHECK ((state = 'summarized') = (summary_of IS NOT NULL))
);
CREATE INDEX alerts_pending ON alerts (id) WHERE state = 'pending';
CREATE INDEX alerts_sent ON alerts (sent_at, group_key) WHERE state = 'sent';
CREATE INDEX alerts_folded ON alerts (group_key, id) WHERE state = 'folded';

CREATE TABLE ledger (
    id                   integer PRIMARY KEY CHECK (id = 1),
    consecutive_failures bigint  NOT NULL CHECK (consecutive_failures >= 0),
    outage_started_at    bigint,
    outage_failed        bigint  NOT NULL CHECK (outage_failed >= 0),
    CHECK ((outage_started_at IS NULL) = (outage_failed = 0))
);
INSERT INTO ledger (id, consecutive_failures, outage_started_at, outage_failed)
    VALUES (1, 0, NULL, 0);

CREATE TABLE sender_lease (
    id    integer PRIMARY KEY CHECK (id = 1),
    owner text    NOT NULL,
    token bigint  NOT NULL,
    until bigint  NOT NULL
);

CREATE TABLE audit (
    id     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at     bigint NOT NULL,
    actor  text   NOT NULL,
    action text   NOT NULL,
    detail text   NOT NULL,
    result text   NOT NULL
);

CREATE TABLE workers (
    name       text    NOT NULL PRIMARY KEY CHECK (length(name) > 0),
    host       text    NOT NULL,
    pid        bigint  NOT NULL,
    version    text    NOT NULL,
    started_at bigint  NOT NULL,
    last_seen  bigint  NOT NULL,
    stopped    boolean NOT NULL
);
CREATE INDEX workers_last_seen ON workers (last_seen);

CREATE TABLE tombstones (
    id           text COLLATE "C" NOT NULL PRIMARY KEY,
    body_hash    text   NOT NULL,
    delivered_at bigint NOT NULL
);
CREATE INDEX tombstones_delivered ON tombstones (delivered_at);
"#;

/// Version 2: two-way ops (issue 16). `bot_state` holds the ops-command
/// poller's Bot API update offset (one row), so that no update is handled
/// twice across restarts. It only expands: a version-1 build keeps running
/// beside it.
pub const V2: &str = "
CREATE TABLE bot_state (
    id            integer PRIMARY KEY CHECK (id = 1),
    update_offset bigint  NOT NULL CHECK (update_offset >= 0)
);
";

/// Every version, in order.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        min_binary_version: "0.1.0",
        sql: V1,
    },
    Migration {
        version: 2,
        min_binary_version: "0.1.0",
        sql: V2,
    },
];

/// The bookkeeping table, created before any version (idempotent).
const BOOKKEEPING: &str = "
CREATE TABLE IF NOT EXISTS schema_migrations (
    version            integer PRIMARY KEY,
    applied_at         bigint  NOT NULL,
    binary_version     text    NOT NULL,
    min_binary_version text    NOT NULL
)";

/// What [`migrate`] found and did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationReport {
    /// The highest version applied before.
    pub from: i32,
    /// The highest version applied now.
    pub to: i32,
    /// The versions this call applied.
    pub applied: Vec<i32>,
    /// The oldest binary version the schema allows now.
    pub min_binary_version: String,
}

/// A version like `0.1.0` (pre-release or build suffixes are ignored) as
/// comparable numbers; `None` if it is not one.
pub(crate) fn parse_version(text: &str) -> Option<(u64, u64, u64)> {
    let core = text.split(['-', '+']).next()?;
    let mut parts = core.split('.').map(|part| part.parse::<u64>().ok());
    let version = (parts.next()??, parts.next()??, parts.next()??);
    parts.next().is_none().then_some(version)
}

/// The schema as found: versions applied and the highest minimum.
#[derive(Debug)]
pub(crate) struct Found {
    pub(crate) max_version: i32,
    pub(crate) min_binary: String,
    versions: Vec<i32>,
}

async fn found(
    client: &impl tokio_postgres::GenericClient,
    target: &str,
) -> Result<Found, OutboxError> {
    let rows = client
        .query(
            "SELECT version, min_binary_version FROM schema_migrations ORDER BY version",
            &[],
        )
        .await
        .map_err(|e| crate::error::from_pg(target, &e))?;
    let mut found = Found {
        max_version: 0,
        min_binary: "0.0.0".to_owned(),
        versions: Vec::new(),
    };
    for row in rows {
        let version: i32 = row
            .try_get(0)
            .map_err(|e| crate::error::from_pg(target, &e))?;
        let min: String = row
            .try_get(1)
            .map_err(|e| crate::error::from_pg(target, &e))?;
        let parsed = parse_version(&min).ok_or_else(|| {
            crate::error::corrupt(
                target,
                format!("schema_migrations version {version} has min_binary_version `{min}`, not a version"),
            )
        })?;
        if parse_version(&found.min_binary).is_none_or(|current| parsed > current) {
            found.min_binary = min;
        }
        found.max_version = found.max_version.max(version);
        found.versions.push(version);
    }
    Ok(found)
}

/// Refuses to run a build older than the schema allows.
pub(crate) fn check_binary(found: &Found, target: &str) -> Result<(), OutboxError> {
    let running = parse_version(BINARY_VERSION);
    let required = parse_version(&found.min_binary);
    if let (Some(running), Some(required)) = (running, required)
        && running < required
    {
        return Err(OutboxError::BinaryTooOld {
            target: target.to_owned(),
            required: found.min_binary.clone(),
            running: BINARY_VERSION.to_owned(),
            hint: format!(
                "schema version {} was applied by a newer release that no longer supports \
                     this one; deploy signal-delivery {} or newer on this host",
                found.max_version, found.min_binary
            ),
        });
    }
    Ok(())
}

/// Reads the schema's state without changing anything (`Migrate::Check`):
/// the versions this build needs must be applied.
pub(crate) async fn check(
    client: &impl tokio_postgres::GenericClient,
    target: &str,
) -> Result<Found, OutboxError> {
    let exists: bool = client
        .query_one("SELECT to_regclass('schema_migrations') IS NOT NULL", &[])
        .await
        .and_then(|row| row.try_get(0))
        .map_err(|e| crate::error::from_pg(target, &e))?;
    if !exists {
        return Err(not_migrated(target, 0));
    }
    let found = found(client, target).await?;
    check_binary(&found, target)?;
    if let Some(missing) = MIGRATIONS
        .iter()
        .find(|m| !found.versions.contains(&m.version))
    {
        return Err(not_migrated(target, missing.version - 1));
    }
    Ok(found)
}

fn not_migrated(target: &str, at: i32) -> OutboxError {
    OutboxError::Open {
        target: target.to_owned(),
        reason: format!(
            "the outbox schema is at version {at}, this build needs {SCHEMA_VERSION}, and \
             automatic migration is off"
        ),
        hint: "run `signal-delivery outbox migrate` (or start one worker with automatic \
               migration) first"
            .to_owned(),
    }
}

/// Applies the missing versions in one transaction under the advisory
/// lock, and checks this build may use the result.
pub(crate) async fn migrate(
    client: &mut tokio_postgres::Client,
    target: &str,
    now: Option<Timestamp>,
) -> Result<MigrationReport, OutboxError> {
    let pg = |e: tokio_postgres::Error| crate::error::from_pg(target, &e);
    let tx = client.transaction().await.map_err(pg)?;
    // Transaction-scoped: released by the commit or the rollback, even if
    // this process dies in the middle.
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await
        .map_err(pg)?;
    tx.batch_execute(BOOKKEEPING).await.map_err(pg)?;
    let before = found(&tx, target).await?;
    check_binary(&before, target)?;
    let now_sql = format!("SELECT {}", crate::clock::NOW);
    let now: i64 = tx
        .query_one(&now_sql, &[&now])
        .await
        .and_then(|row| row.try_get(0))
        .map_err(pg)?;
    let mut applied = Vec::new();
    let mut min_binary = before.min_binary.clone();
    for migration in MIGRATIONS {
        if before.versions.contains(&migration.version) {
            continue;
        }
        tx.batch_execute(migration.sql)
            .await
            .map_err(|e| OutboxError::Open {
                target: target.to_owned(),
                reason: format!(
                    "applying outbox schema version {} failed ({}); the schema was left as it was",
                    migration.version,
                    crate::error::chain(&e)
                ),
                hint:
                    "check the database user's rights (CREATE on the schema) and the server's log"
                        .to_owned(),
            })?;
        if parse_version(migration.min_binary_version) > parse_version(&min_binary) {
            min_binary = migration.min_binary_version.to_owned();
        }
        tx.execute(
            "INSERT INTO schema_migrations (version, applied_at, binary_version, min_binary_version) \
             VALUES ($1, $2, $3, $4)",
            &[&migration.version, &now, &BINARY_VERSION, &migration.min_binary_version],
        )
        .await
        .map_err(pg)?;
        applied.push(migration.version);
    }
    tx.commit().await.map_err(pg)?;
    let to = applied
        .iter()
        .copied()
        .max()
        .unwrap_or(0)
        .max(before.max_version);
    if !applied.is_empty() {
        tracing::info!(target = %target, from = before.max_version, to, ?applied, "migrated the signal outbox schema");
    } else if before.max_version > SCHEMA_VERSION {
        tracing::info!(
            target = %target, schema = before.max_version, build = SCHEMA_VERSION,
            min_binary = %min_binary,
            "the outbox schema is newer than this build but still allows it (a rolling upgrade)"
        );
    }
    Ok(MigrationReport {
        from: before.max_version,
        to,
        applied,
        min_binary_version: min_binary,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_compare_as_numbers() {
        assert!(parse_version("0.10.0") > parse_version("0.9.9"));
        assert_eq!(parse_version("1.2.3-rc.1"), Some((1, 2, 3)));
        assert_eq!(parse_version("1.2"), None);
        assert_eq!(parse_version("x.1.2"), None);
        assert!(parse_version(BINARY_VERSION).is_some());
        for migration in MIGRATIONS {
            assert!(parse_version(migration.min_binary_version) <= parse_version(BINARY_VERSION));
        }
    }
}
