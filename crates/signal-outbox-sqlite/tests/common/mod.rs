//! Helpers shared by the integration tests: a unique temporary directory
//! per test, removed when dropped, and a few outbox shortcuts.

// Each test file uses a different subset of these helpers.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use signal_outbox::{NewSignal, Outbox, SqliteOutbox};

/// A fixed "now" for tests: time only moves when a test moves it.
pub(crate) const T0: i64 = 1_700_000_000_000;

/// A lease long enough that it never expires unless a test advances time.
pub(crate) const LEASE: Duration = Duration::from_secs(30);

/// A directory under the system temp dir, unique per test (pid + counter +
/// nanos, so parallel tests and repeated runs never share files).
#[derive(Debug)]
pub(crate) struct TempDir {
    path: PathBuf,
}

impl TempDir {
    pub(crate) fn new(label: &str) -> TempDir {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let path = std::env::temp_dir().join(format!(
            "signal-outbox-test-{label}-{}-{}-{nanos}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed),
        ));
        std::fs::create_dir_all(&path).unwrap();
        TempDir { path }
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// The database path inside this directory.
    pub(crate) fn db(&self) -> PathBuf {
        self.path.join("outbox.db")
    }

    pub(crate) fn open(&self) -> SqliteOutbox {
        SqliteOutbox::open(&self.db()).unwrap()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// Enqueues `id` with body `body` and asserts it was inserted.
pub(crate) fn put(outbox: &SqliteOutbox, id: &str, body: &[u8], now: i64) {
    let outcome = outbox.enqueue(NewSignal::new(id, body), now).unwrap();
    assert_eq!(outcome, signal_outbox::EnqueueOutcome::Inserted, "{id}");
}

/// The ids of the claimed rows, in claim order.
pub(crate) fn ids(claimed: &[signal_outbox::Claimed]) -> Vec<&str> {
    claimed.iter().map(|c| c.id.as_str()).collect()
}
