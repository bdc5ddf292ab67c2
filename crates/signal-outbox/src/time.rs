//! Time as the outbox sees it: Unix milliseconds passed in by the caller.
//!
//! Every operation takes `now` as a parameter instead of reading the clock,
//! so tests can drive lease expiry and retry schedules without sleeping, and
//! so several processes agree on one timeline (the stored numbers).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch (UTC), as stored in the database.
pub type UnixMillis = i64;

/// The current wall-clock time in Unix milliseconds.
///
/// A clock before 1970 gives 0 and one past year 292 million saturates,
/// rather than panicking.
#[must_use]
pub fn now_millis() -> UnixMillis {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, duration_to_millis)
}

/// A duration in whole milliseconds, saturating at `i64::MAX`.
pub(crate) fn duration_to_millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// The duration from `earlier` to `later`, zero if `later` is not after it
/// (clocks of different processes may disagree slightly).
pub(crate) fn millis_between(earlier: UnixMillis, later: UnixMillis) -> Duration {
    let diff = later.saturating_sub(earlier).max(0);
    Duration::from_millis(u64::try_from(diff).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversions_saturate_instead_of_panicking() {
        assert_eq!(duration_to_millis(Duration::from_millis(1500)), 1500);
        assert_eq!(duration_to_millis(Duration::MAX), i64::MAX);
        assert_eq!(millis_between(10, 5), Duration::ZERO);
        assert_eq!(
            millis_between(i64::MIN, i64::MAX),
            Duration::from_millis(i64::MAX as u64)
        );
        assert_eq!(millis_between(1_000, 3_500), Duration::from_millis(2_500));
        assert!(now_millis() > 1_600_000_000_000);
    }
}
