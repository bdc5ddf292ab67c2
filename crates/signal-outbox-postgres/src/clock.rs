//! Time from the database: every stored or compared time is PostgreSQL's
//! clock, in Unix milliseconds.
//!
//! Every statement that needs "now" reads it as [`NOW`]:
//! `COALESCE($1::bigint, <the database's now() in ms>)`. Production binds
//! `$1` to NULL, so the database's clock decides; the conformance suite
//! binds it to a [`TestClock`] shared by every handle of a test, which
//! stands still between `advance` calls. Production and tests run the same
//! statements.
//!
//! `now()` is the start of the current transaction: one transaction sees
//! one time, as on SQLite. With several hosts, lease expiry and schedules
//! then depend on one clock (the database's), never on a host's.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use signal_outbox::{Timestamp, duration_millis};

/// The SQL for "now" in Unix milliseconds, reading the test clock from `$1`.
pub(crate) const NOW: &str =
    "COALESCE($1::bigint, floor(extract(epoch from now()) * 1000)::bigint)";

/// A clock that stands still until told to move, for tests: pass it to
/// [`PgOptions::with_test_clock`](crate::PgOptions::with_test_clock) and
/// every statement uses its time instead of the database's. Clones share
/// one time, so every handle of a test agrees.
///
/// ```
/// use std::time::Duration;
/// use signal_outbox_postgres::TestClock;
///
/// let clock = TestClock::new(1_000);
/// clock.clone().advance(Duration::from_millis(250));
/// assert_eq!(clock.now(), 1_250);
/// ```
#[derive(Debug, Clone)]
pub struct TestClock {
    now: Arc<AtomicI64>,
}

impl TestClock {
    /// A clock reading `start`.
    #[must_use]
    pub fn new(start: Timestamp) -> TestClock {
        TestClock {
            now: Arc::new(AtomicI64::new(start)),
        }
    }

    /// The time it reads.
    #[must_use]
    pub fn now(&self) -> Timestamp {
        self.now.load(Ordering::SeqCst)
    }

    /// Moves the time forward by `by` (saturating).
    pub fn advance(&self, by: Duration) {
        let by = duration_millis(by);
        let _ = self
            .now
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |now| {
                Some(now.saturating_add(by))
            });
    }
}

/// Where "now" comes from: the database (production) or a test clock.
#[derive(Debug, Clone, Default)]
pub(crate) enum Clock {
    #[default]
    Database,
    Test(TestClock),
}

impl Clock {
    /// The value bound to `$1`: NULL for the database's clock.
    pub(crate) fn param(&self) -> Option<i64> {
        match self {
            Clock::Database => None,
            Clock::Test(clock) => Some(clock.now()),
        }
    }
}
