//! Helpers shared by the SQLite-specific tests: a temporary directory with
//! an outbox file in it, on a manual clock.

// Each test file uses a different subset of these helpers.
#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::Arc;

use signal_outbox::{EnqueueOutcome, NewSignal, OutboxExt, Timestamp};
use signal_outbox_sqlite::{ManualClock, SqliteOptions, SqliteOutbox};

/// Where the manual clock starts.
pub(crate) const T0: Timestamp = 1_700_000_000_000;

/// A temporary directory for one outbox, removed when dropped.
pub(crate) struct Dir {
    pub(crate) dir: tempfile::TempDir,
    pub(crate) clock: ManualClock,
}

impl Dir {
    pub(crate) fn new() -> Dir {
        Dir {
            dir: tempfile::tempdir().unwrap(),
            clock: ManualClock::new(T0),
        }
    }

    /// The database path inside the directory.
    pub(crate) fn db(&self) -> PathBuf {
        self.dir.path().join("outbox.db")
    }

    /// Opens (or reopens) the outbox on the manual clock.
    pub(crate) fn open(&self) -> SqliteOutbox {
        self.open_with(SqliteOptions::default())
    }

    pub(crate) fn open_with(&self, options: SqliteOptions) -> SqliteOutbox {
        SqliteOutbox::open_with(&self.db(), options.with_clock(Arc::new(self.clock.clone())))
            .unwrap()
    }
}

/// Enqueues `id` with `body` and asserts it was inserted.
pub(crate) async fn put(outbox: &SqliteOutbox, id: &str, body: &[u8]) {
    let outcome = outbox
        .enqueue_one(NewSignal::new(id, body.to_vec()))
        .await
        .unwrap();
    assert_eq!(outcome, EnqueueOutcome::Inserted, "{id}");
}
