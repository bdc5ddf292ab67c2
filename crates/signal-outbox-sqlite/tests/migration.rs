//! Upgrading a v1 outbox file in place: rows in every state survive with
//! their values, and the upgraded file keeps working (claims, outcomes,
//! replays, duplicate detection, stats).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::{Dir, T0};
use signal_outbox::{
    AttemptRecord, EnqueueOutcome, FailureReason, NewAuditEntry, NewSignal, OutboxAdmin, OutboxExt,
    Outcome, SignalStore, State,
};
use signal_outbox_sqlite::{SCHEMA_V1, SCHEMA_VERSION};

/// The v1 layout exactly as the first release created it (frozen here, so
/// the fixture cannot drift with the crate).
const V1_DDL: &str = "
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

/// sha256 of the body, as v1 stored it.
fn sha256_hex(body: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(body)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A v1 file as the first release left it: one row in every state.
fn write_v1_file(dir: &Dir) {
    let conn = rusqlite::Connection::open(dir.db()).unwrap();
    conn.pragma_update(None, "journal_mode", "WAL").unwrap();
    conn.execute_batch(V1_DDL).unwrap();
    conn.pragma_update(None, "application_id", 0x5347_4F42)
        .unwrap();
    conn.pragma_update(None, "user_version", 1).unwrap();
    let insert = "INSERT INTO outbox (id, body, body_hash, state, attempts, claims, next_attempt_at, \
                  lease_owner, lease_until, last_error, dead_reason, enqueued_at, updated_at, delivered_at) \
                  VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)";
    type V1Row = (
        &'static str,
        &'static str,
        u32,
        u32,
        i64,
        Option<&'static str>,
        Option<i64>,
        Option<&'static str>,
        Option<&'static str>,
        i64,
        i64,
        Option<i64>,
    );
    let rows: [V1Row; 5] = [
        (
            "fresh",
            "pending",
            0,
            0,
            T0 - 5_000,
            None,
            None,
            None,
            None,
            T0 - 5_000,
            T0 - 5_000,
            None,
        ),
        (
            "retrying",
            "pending",
            2,
            2,
            T0 + 60_000,
            None,
            None,
            Some("503 Service Unavailable"),
            None,
            T0 - 9_000,
            T0 - 1_000,
            None,
        ),
        (
            "leased",
            "in_flight",
            1,
            2,
            T0 - 8_000,
            Some("old-host:7:1"),
            Some(T0 - 1),
            Some("timeout"),
            None,
            T0 - 8_000,
            T0 - 2_000,
            None,
        ),
        (
            "done",
            "delivered",
            1,
            1,
            T0 - 7_000,
            None,
            None,
            None,
            None,
            T0 - 7_000,
            T0 - 6_000,
            Some(T0 - 6_000),
        ),
        (
            "dead",
            "dead_lettered",
            5,
            5,
            T0 - 6_000,
            None,
            None,
            Some("retries exhausted"),
            Some("exhausted"),
            T0 - 6_500,
            T0 - 3_000,
            None,
        ),
    ];
    for (
        id,
        state,
        attempts,
        claims,
        next,
        owner,
        until,
        error,
        reason,
        enqueued,
        updated,
        delivered,
    ) in rows
    {
        let body = format!(r#"{{"id":"{id}"}}"#);
        conn.execute(
            insert,
            rusqlite::params![
                id,
                body.as_bytes(),
                sha256_hex(body.as_bytes()),
                state,
                attempts,
                claims,
                next,
                owner,
                until,
                error,
                reason,
                enqueued,
                updated,
                delivered
            ],
        )
        .unwrap();
    }
}

#[test]
fn the_crates_v1_ddl_is_the_frozen_one() {
    assert_eq!(SCHEMA_V1, V1_DDL, "v1 is history: it must never change");
}

#[tokio::test]
async fn a_v1_file_with_rows_in_every_state_upgrades_in_place_and_keeps_working() {
    let dir = Dir::new();
    write_v1_file(&dir);
    let outbox = dir.open();

    // The schema is current, and every version is recorded.
    {
        let conn = rusqlite::Connection::open(dir.db()).unwrap();
        let version: i32 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(version, SCHEMA_VERSION);
        let applied: Vec<(i32, Option<i64>)> = conn
            .prepare("SELECT version, applied_at FROM schema_migrations ORDER BY version")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(applied, [(1, None), (2, Some(T0)), (3, Some(T0))]);
    }

    // Every row kept its values; v2 columns were filled in.
    let stats = outbox.stats().await.unwrap();
    assert_eq!(
        (
            stats.pending,
            stats.in_flight,
            stats.delivered,
            stats.dead_lettered
        ),
        (2, 1, 1, 1)
    );
    let row = |id: &'static str| {
        let outbox = &outbox;
        async move { outbox.get(id).await.unwrap().unwrap() }
    };
    let retrying = row("retrying").await;
    assert_eq!(
        (retrying.state, retrying.attempts, retrying.next_attempt_at),
        (State::Pending, 2, T0 + 60_000)
    );
    assert_eq!(
        retrying.last_error.as_deref(),
        Some("503 Service Unavailable")
    );
    let dead = row("dead").await;
    assert_eq!(
        (dead.dead_reason, dead.dead_at, dead.attempts),
        (Some(FailureReason::Exhausted), Some(T0 - 3_000), 5)
    );
    let done = row("done").await;
    assert_eq!(
        (done.state, done.delivered_at),
        (State::Delivered, Some(T0 - 6_000))
    );
    let leased = row("leased").await;
    assert_eq!(
        (leased.lease_owner.as_deref(), leased.lease_until),
        (Some("old-host:7:1"), Some(T0 - 1))
    );
    assert_eq!(
        row("fresh").await.body_hash,
        sha256_hex(br#"{"id":"fresh"}"#)
    );

    // Claims: the due pending row and the expired v1 lease, with fresh tokens.
    let claims = outbox
        .claim("v2-worker", 10, Duration::from_secs(30))
        .await
        .unwrap();
    let ids: Vec<&str> = claims.rows.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(ids, ["fresh", "leased"]);
    let leased = &claims.rows[1];
    assert_eq!(
        (leased.attempts, leased.claims, leased.last_error.as_deref()),
        (1, 3, Some("timeout"))
    );
    assert_ne!(leased.token, claims.rows[0].token);
    for c in &claims.rows {
        let attempt = AttemptRecord::delivered(c.attempts + 1, 200, Duration::from_millis(3));
        outbox
            .record_one(
                "v2-worker",
                Outcome::Delivered {
                    id: c.id.clone(),
                    token: c.token,
                    attempt,
                },
            )
            .await
            .unwrap();
    }
    assert_eq!(
        outbox
            .detail("leased")
            .await
            .unwrap()
            .unwrap()
            .attempts
            .len(),
        1
    );

    // The v1 dead letter replays; the v1 delivered id is still a duplicate.
    let audit = NewAuditEntry {
        actor: "os:test".into(),
        action: "replay".into(),
        detail: "{}".into(),
        result: String::new(),
    };
    outbox.replay_one("dead", audit).await.unwrap();
    assert_eq!(row("dead").await.state, State::Pending);
    let again = outbox
        .enqueue_one(NewSignal::new("done", &br#"{"id":"done"}"#[..]))
        .await
        .unwrap();
    assert_eq!(again, EnqueueOutcome::AlreadyPresent);
    let stats = outbox.stats().await.unwrap();
    assert_eq!(
        (
            stats.pending,
            stats.in_flight,
            stats.delivered,
            stats.dead_lettered
        ),
        (2, 0, 3, 0)
    );

    // Reopening finds it current: nothing is migrated twice.
    drop(outbox);
    let outbox = dir.open();
    assert_eq!(outbox.stats().await.unwrap().total(), 5);
    let conn = rusqlite::Connection::open(dir.db()).unwrap();
    let recorded: i64 = conn
        .query_row("SELECT count(*) FROM schema_migrations", [], |r| r.get(0))
        .unwrap();
    assert_eq!(recorded, i64::from(SCHEMA_VERSION));
}

#[tokio::test]
async fn a_failed_upgrade_leaves_the_v1_file_as_it_was() {
    let dir = Dir::new();
    write_v1_file(&dir);
    {
        // A v1 row the v2 constraints refuse (an in-flight row cannot lack
        // its lease in v2 either; here: a dead row without a reason, which
        // only a hand edit could make).
        let conn = rusqlite::Connection::open(dir.db()).unwrap();
        conn.pragma_update(None, "ignore_check_constraints", true)
            .unwrap();
        conn.execute("UPDATE outbox SET dead_reason = NULL WHERE id = 'dead'", [])
            .unwrap();
    }
    let err = signal_outbox_sqlite::SqliteOutbox::open(&dir.db()).unwrap_err();
    assert!(
        err.to_string().contains(&dir.db().display().to_string()),
        "{err}"
    );
    let conn = rusqlite::Connection::open(dir.db()).unwrap();
    let version: i32 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap();
    assert_eq!(version, 1, "the migration rolled back as one transaction");
    let rows: i64 = conn
        .query_row("SELECT count(*) FROM outbox", [], |r| r.get(0))
        .unwrap();
    assert_eq!(rows, 5);
}
