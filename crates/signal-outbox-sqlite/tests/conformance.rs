//! The signal-outbox conformance suite on SQLite: every lifecycle, fencing,
//! alert, admin and retention behaviour of the contract, and the
//! model-based property test, on a real file per test with a manual clock.

#![allow(clippy::expect_used)] // test set-up: a failure to open is a failed test

use std::sync::Arc;
use std::time::Duration;

use signal_outbox::Timestamp;
use signal_outbox::conformance::TestBackend;
use signal_outbox_sqlite::{Clock, ManualClock, SqliteOptions, SqliteOutbox};

/// Where the manual clock starts: an ordinary recent time.
const START: Timestamp = 1_700_000_000_000;

/// A fresh outbox file in its own temporary directory, on a manual clock.
struct Sqlite {
    outbox: SqliteOutbox,
    clock: ManualClock,
    dir: Arc<tempfile::TempDir>,
}

impl Sqlite {
    fn open(dir: &tempfile::TempDir, clock: &ManualClock) -> SqliteOutbox {
        let options = SqliteOptions::default()
            .with_clock(Arc::new(clock.clone()))
            .with_dedup_window(<Sqlite as TestBackend>::DEDUP_WINDOW);
        SqliteOutbox::open_with(&dir.path().join("outbox.db"), options).expect("open the outbox")
    }
}

impl TestBackend for Sqlite {
    type Store = SqliteOutbox;
    const DEDUP_WINDOW: Duration = Duration::from_secs(3 * 24 * 3600);

    async fn fresh() -> Sqlite {
        let dir = Arc::new(tempfile::tempdir().expect("a temporary directory"));
        let clock = ManualClock::new(START);
        Sqlite {
            outbox: Sqlite::open(&dir, &clock),
            clock,
            dir,
        }
    }

    fn store(&self) -> &SqliteOutbox {
        &self.outbox
    }

    async fn now(&self) -> Timestamp {
        self.clock.now()
    }

    async fn advance(&self, by: Duration) {
        self.clock.advance(by);
    }

    async fn restart(self) -> Sqlite {
        let Sqlite { outbox, clock, dir } = self;
        // Dropping closes the file (the connection thread is joined).
        drop(outbox);
        Sqlite {
            outbox: Sqlite::open(&dir, &clock),
            clock,
            dir,
        }
    }

    async fn second(&self) -> SqliteOutbox {
        Sqlite::open(&self.dir, &self.clock)
    }
}

signal_outbox::conformance_tests!(Sqlite);
