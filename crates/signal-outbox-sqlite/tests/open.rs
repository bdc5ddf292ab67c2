//! Opening the outbox: schema creation, reopening, and the start-up errors
//! an operator sees for a bad `OUTBOX_PATH`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::future::Future;

use common::{Dir, put};
use signal_outbox::{OutboxAdmin, OutboxError, OutboxExt, State};
use signal_outbox_sqlite::{SCHEMA_VERSION, SqliteOutbox};

#[tokio::test]
async fn creates_the_file_and_schema_and_reopen_keeps_rows() {
    let dir = Dir::new();
    let db = dir.db();
    assert!(!db.exists());
    {
        let outbox = dir.open();
        assert_eq!(outbox.path(), db.as_path());
        assert_eq!(
            signal_outbox::Outbox::describe(&outbox),
            db.display().to_string()
        );
        assert!(db.is_file(), "open must create the database file");
        put(&outbox, "a", b"alpha").await;
        put(&outbox, "b", b"\x00\xffbinary\n").await;
    }
    // Reopen (a restart): the schema is recognised, rows are all there.
    let outbox = dir.open();
    let stats = outbox.stats().await.unwrap();
    assert_eq!((stats.pending, stats.total()), (2, 2));
    let row = outbox.get("b").await.unwrap().unwrap();
    assert_eq!(
        (row.state, row.body_len, row.enqueued_at),
        (State::Pending, 9, common::T0)
    );
    // And a third open of the same file alongside works (a second process).
    let other = SqliteOutbox::open(&db).unwrap();
    assert_eq!(other.stats().await.unwrap().pending, 2);
    assert!(format!("{other:?}").contains("outbox.db"));
}

#[tokio::test]
async fn uses_wal_and_full_sync_and_marks_the_file() {
    let dir = Dir::new();
    drop(dir.open());
    // Inspect the file with a separate raw connection.
    let conn = rusqlite::Connection::open(dir.db()).unwrap();
    let mode: String = conn
        .pragma_query_value(None, "journal_mode", |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal", "WAL mode is persistent in the file");
    let app_id: i32 = conn
        .pragma_query_value(None, "application_id", |r| r.get(0))
        .unwrap();
    assert_eq!(app_id, 0x5347_4F42);
    let version: i32 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap();
    assert_eq!(version, SCHEMA_VERSION);
    // A fresh file records every migration, applied now by this build.
    let applied: Vec<(i32, Option<i64>, String)> = conn
        .prepare(
            "SELECT version, applied_at, binary_version FROM schema_migrations ORDER BY version",
        )
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(applied.len(), usize::try_from(SCHEMA_VERSION).unwrap());
    assert!(
        applied.iter().all(|(_, at, binary)| *at == Some(common::T0)
            && binary.starts_with("signal-outbox-sqlite "))
    );
}

#[test]
fn garbage_file_is_reported_as_corrupt_with_the_path_and_a_remedy() {
    let dir = Dir::new();
    let db = dir.db();
    std::fs::write(
        &db,
        b"this is not a database, it is a text file that got here by mistake\n".repeat(100),
    )
    .unwrap();
    let err = SqliteOutbox::open(&db).unwrap_err();
    assert!(
        matches!(&err, OutboxError::Corrupt { target, .. } if *target == db.display().to_string()),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(msg.contains(&db.display().to_string()), "{msg}");
    assert!(msg.contains("not a SQLite database"), "{msg}");
    assert!(
        msg.contains("restore it from a backup or move it aside"),
        "{msg}"
    );
    // The file was not modified by the failed open.
    assert!(
        std::fs::read(&db)
            .unwrap()
            .starts_with(b"this is not a database")
    );
}

#[test]
fn directory_path_is_refused() {
    let dir = Dir::new();
    let err = SqliteOutbox::open(dir.dir.path()).unwrap_err();
    match &err {
        OutboxError::Open {
            target,
            reason,
            hint,
        } => {
            assert_eq!(*target, dir.dir.path().display().to_string());
            assert!(reason.contains("is a directory"), "{reason}");
            assert!(hint.contains("OUTBOX_PATH"), "{hint}");
        }
        other => panic!("expected Open, got {other:?}"),
    }
}

#[test]
fn parent_that_is_a_file_is_refused() {
    let dir = Dir::new();
    let file = dir.dir.path().join("plain-file");
    std::fs::write(&file, b"x").unwrap();
    let db = file.join("outbox.db");
    match SqliteOutbox::open(&db).unwrap_err() {
        OutboxError::Open { target, reason, .. } => {
            assert_eq!(target, db.display().to_string());
            assert!(reason.contains("is a file, not a directory"), "{reason}");
            assert!(reason.contains("plain-file"), "{reason}");
        }
        other => panic!("expected Open, got {other:?}"),
    }
}

#[test]
fn missing_parent_directory_is_refused_not_created() {
    let dir = Dir::new();
    let missing = dir.dir.path().join("no-such-dir");
    match SqliteOutbox::open(&missing.join("outbox.db")).unwrap_err() {
        OutboxError::Open { reason, hint, .. } => {
            assert!(reason.contains("does not exist"), "{reason}");
            assert!(hint.contains("mkdir"), "{hint}");
        }
        other => panic!("expected Open, got {other:?}"),
    }
    assert!(
        !missing.exists(),
        "a typo in OUTBOX_PATH must not create directories"
    );
}

#[test]
fn empty_path_is_refused() {
    let err = SqliteOutbox::open(std::path::Path::new("")).unwrap_err();
    assert!(matches!(err, OutboxError::Open { .. }), "{err:?}");
}

#[test]
fn another_programs_sqlite_file_is_refused_untouched() {
    let dir = Dir::new();
    let db = dir.db();
    {
        let conn = rusqlite::Connection::open(&db).unwrap();
        conn.execute_batch("CREATE TABLE accounts (id INTEGER PRIMARY KEY, name TEXT);")
            .unwrap();
    }
    match SqliteOutbox::open(&db).unwrap_err() {
        OutboxError::Open { reason, .. } => {
            assert!(reason.contains("not a signal outbox"), "{reason}")
        }
        other => panic!("expected Open, got {other:?}"),
    }
    let conn = rusqlite::Connection::open(&db).unwrap();
    let tables: i64 = conn
        .query_row(
            "SELECT count(*) FROM sqlite_schema WHERE name = 'outbox'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(tables, 0, "nothing was created in the foreign file");
}

#[test]
fn newer_schema_version_is_refused() {
    let dir = Dir::new();
    drop(dir.open());
    {
        let conn = rusqlite::Connection::open(dir.db()).unwrap();
        conn.pragma_update(None, "user_version", SCHEMA_VERSION + 1)
            .unwrap();
    }
    let err = SqliteOutbox::open(&dir.db()).unwrap_err();
    match &err {
        OutboxError::SchemaTooNew {
            found, supported, ..
        } => {
            assert_eq!(
                (*found, *supported),
                (i64::from(SCHEMA_VERSION + 1), i64::from(SCHEMA_VERSION))
            );
        }
        other => panic!("expected SchemaTooNew, got {other:?}"),
    }
    let msg = err.to_string();
    assert!(
        msg.contains("newer version") && msg.contains(&format!("schema {}", SCHEMA_VERSION + 1)),
        "{msg}"
    );
}

#[tokio::test]
async fn tampered_row_is_a_corrupt_error_not_a_panic() {
    let dir = Dir::new();
    {
        let outbox = dir.open();
        put(&outbox, "a", b"alpha").await;
    }
    {
        // Bypass the CHECK constraints the way a hand edit or disk damage would.
        let conn = rusqlite::Connection::open(dir.db()).unwrap();
        conn.pragma_update(None, "ignore_check_constraints", true)
            .unwrap();
        conn.execute("UPDATE outbox SET state = 'bogus' WHERE id = 'a'", [])
            .unwrap();
    }
    let outbox = dir.open();
    let err = outbox.get("a").await.unwrap_err();
    assert!(matches!(err, OutboxError::Corrupt { .. }), "{err:?}");
    assert!(err.to_string().contains("bogus"), "{err}");
    let err = outbox.stats().await.unwrap_err();
    assert!(matches!(err, OutboxError::Corrupt { .. }), "{err:?}");
}

#[cfg(unix)]
#[test]
fn read_only_directory_is_refused_when_permissions_apply() {
    use std::os::unix::fs::PermissionsExt;

    let dir = Dir::new();
    let locked = dir.dir.path().join("locked");
    std::fs::create_dir(&locked).unwrap();
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o555)).unwrap();
    let restore = || std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o755));

    // Root (as in CI here) ignores directory permissions: nothing to test then.
    let probe = locked.join("probe");
    if std::fs::write(&probe, b"x").is_ok() {
        let _ = std::fs::remove_file(&probe);
        restore().unwrap();
        eprintln!("skipped: running with privileges that bypass permissions");
        return;
    }
    let db = locked.join("outbox.db");
    let err = SqliteOutbox::open(&db).unwrap_err();
    restore().unwrap();
    match &err {
        OutboxError::Open { target, hint, .. } => {
            assert_eq!(*target, db.display().to_string());
            assert!(hint.contains("writable"), "{hint}");
        }
        other => panic!("expected Open, got {other:?}"),
    }
}

#[test]
fn the_outbox_works_without_any_async_runtime() {
    // The connection has its own thread: a plain executor (here a
    // hand-rolled block_on) needs no tokio runtime around it.
    let dir = Dir::new();
    let outbox = dir.open();
    let stats = futures_lite_block_on(outbox.stats()).unwrap();
    assert_eq!(stats.total(), 0);
}

/// The smallest executor: polls `future` on this thread, parking between
/// wake-ups.
fn futures_lite_block_on<F: Future>(future: F) -> F::Output {
    use std::sync::Arc;
    use std::task::{Context, Poll, Wake, Waker};
    struct Unpark(std::thread::Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut future = std::pin::pin!(future);
    loop {
        if let Poll::Ready(value) = future.as_mut().poll(&mut cx) {
            return value;
        }
        std::thread::park();
    }
}
