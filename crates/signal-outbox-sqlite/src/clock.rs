//! The SQLite backend's clock: every time it stores or compares comes from
//! here, read on the connection's thread at the start of each transaction.
//!
//! The default is this host's wall clock. Tests inject a [`ManualClock`]
//! (the conformance suite's hook: time moves only when the test moves it),
//! or any [`Clock`] of their own, such as one that follows tokio's paused
//! clock.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use signal_outbox::{Timestamp, duration_millis, now_millis};

/// A source of Unix milliseconds for the outbox.
pub trait Clock: Send + Sync + fmt::Debug {
    /// The current time.
    fn now(&self) -> Timestamp;
}

/// This host's wall clock ([`now_millis`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        now_millis()
    }
}

/// A clock that stands still until told to move; clones share one time.
///
/// ```
/// use std::time::Duration;
/// use signal_outbox_sqlite::{Clock, ManualClock};
///
/// let clock = ManualClock::new(1_000);
/// let shared = clock.clone();
/// clock.advance(Duration::from_millis(250));
/// assert_eq!(shared.now(), 1_250);
/// ```
#[derive(Debug, Clone)]
pub struct ManualClock {
    now: Arc<AtomicI64>,
}

impl ManualClock {
    /// A clock reading `start`.
    #[must_use]
    pub fn new(start: Timestamp) -> ManualClock {
        ManualClock {
            now: Arc::new(AtomicI64::new(start)),
        }
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

    /// Sets the time.
    pub fn set(&self, now: Timestamp) {
        self.now.store(now, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        self.now.load(Ordering::SeqCst)
    }
}
