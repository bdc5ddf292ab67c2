//! Time as the outbox contract sees it: Unix milliseconds from the
//! **backend's** clock.
//!
//! Callers never pass "now". Every timestamp stored or compared (enqueue
//! time, next attempt, lease expiry, dead-letter time, heartbeats, alert
//! times) is read by the backend from its own clock: SQLite from an
//! injectable clock of its process, PostgreSQL from the database's `now()`.
//! With several workers on several hosts, lease expiry then depends on one
//! clock, not on each host's. Schedules are passed as delays
//! ([`std::time::Duration`]), and results that a worker needs for decisions
//! carry the backend's `now` (for example [`crate::Claims::now`]).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch (UTC), from the backend's clock.
pub type Timestamp = i64;

/// The earlier name of [`Timestamp`], kept for callers written against it.
pub type UnixMillis = Timestamp;

/// This host's wall-clock time in Unix milliseconds.
///
/// Backends whose clock is the host's (SQLite) use it; callers of the
/// contract should not need it. A clock before 1970 gives 0 and one past
/// year 292 million saturates, rather than panicking.
///
/// ```
/// assert!(signal_outbox::now_millis() > 1_600_000_000_000);
/// ```
#[must_use]
pub fn now_millis() -> Timestamp {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, duration_millis)
}

/// A duration in whole milliseconds, saturating at `i64::MAX`.
///
/// ```
/// use std::time::Duration;
/// assert_eq!(signal_outbox::duration_millis(Duration::from_millis(1500)), 1500);
/// assert_eq!(signal_outbox::duration_millis(Duration::MAX), i64::MAX);
/// ```
#[must_use]
pub fn duration_millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

/// The time from `earlier` to `later`, zero if `later` is not after it.
///
/// ```
/// use std::time::Duration;
/// assert_eq!(signal_outbox::elapsed_between(1_000, 3_500), Duration::from_millis(2_500));
/// assert_eq!(signal_outbox::elapsed_between(10, 5), Duration::ZERO);
/// ```
#[must_use]
pub fn elapsed_between(earlier: Timestamp, later: Timestamp) -> Duration {
    let diff = later.saturating_sub(earlier).max(0);
    Duration::from_millis(u64::try_from(diff).unwrap_or(0))
}

/// `at + delay`, saturating instead of overflowing.
///
/// ```
/// use std::time::Duration;
/// assert_eq!(signal_outbox::after(1_000, Duration::from_secs(2)), 3_000);
/// assert_eq!(signal_outbox::after(i64::MAX, Duration::from_secs(2)), i64::MAX);
/// ```
#[must_use]
pub fn after(at: Timestamp, delay: Duration) -> Timestamp {
    at.saturating_add(duration_millis(delay))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversions_saturate_instead_of_panicking() {
        assert_eq!(
            elapsed_between(i64::MIN, i64::MAX),
            Duration::from_millis(i64::MAX as u64)
        );
        assert_eq!(after(-5, Duration::ZERO), -5);
    }
}
