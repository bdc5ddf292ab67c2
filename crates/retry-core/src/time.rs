//! Injected monotonic time, so deadlines can be tested without waiting.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// A monotonic clock. The retry loop measures its deadline with it, from the
/// start of the first attempt.
pub trait Clock {
    /// The current instant.
    fn now(&self) -> Instant;
}

impl<C: Clock + ?Sized> Clock for &C {
    #[inline]
    fn now(&self) -> Instant {
        (**self).now()
    }
}

/// [`Instant::now`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SystemClock;

impl Clock for SystemClock {
    #[inline]
    fn now(&self) -> Instant {
        Instant::now()
    }
}

/// A clock that only moves when told to: for tests, where a sleeper
/// advances it instead of sleeping. `Send + Sync`, so one instance can be
/// shared by reference between the retry loop (as its clock) and the sleeper.
///
/// ```
/// use std::time::Duration;
/// use retry_core::{Clock, ManualClock, Retry, RetryPolicy, Retryability, Classify};
///
/// #[derive(Debug)]
/// struct Flaky;
/// impl Classify for Flaky {
///     fn retryability(&self) -> Retryability { Retryability::Transient }
/// }
///
/// let clock = ManualClock::new();
/// let policy = RetryPolicy::default();
/// let result = Retry::new(&policy, "demo")
///     .clock(&clock)
///     .run_blocking(&|d| clock.advance(d), |attempt| if attempt < 3 { Err(Flaky) } else { Ok(attempt) });
/// assert_eq!(result.unwrap(), 3);
/// assert!(clock.elapsed() >= Duration::from_secs(15)); // 5 s + 10 s, plus jitter
/// ```
#[derive(Debug)]
pub struct ManualClock {
    start: Instant,
    offset_nanos: AtomicU64,
}

impl ManualClock {
    /// A clock standing at the current real instant.
    pub fn new() -> Self {
        Self {
            start: Instant::now(),
            offset_nanos: AtomicU64::new(0),
        }
    }

    /// Moves the clock forward by `by` (saturating at about 584 years).
    pub fn advance(&self, by: Duration) {
        let by = u64::try_from(by.as_nanos()).unwrap_or(u64::MAX);
        let _ = self
            .offset_nanos
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                Some(n.saturating_add(by))
            });
    }

    /// How far the clock has been advanced since it was made.
    pub fn elapsed(&self) -> Duration {
        Duration::from_nanos(self.offset_nanos.load(Ordering::Acquire))
    }
}

impl Default for ManualClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Instant {
        // Instant + Duration can only overflow centuries from now; stay at the
        // latest representable point rather than panic.
        let elapsed = self.elapsed();
        self.start.checked_add(elapsed).unwrap_or(self.start)
    }
}

/// tokio's clock, as a [`Clock`]: `tokio::time::Instant::now().into_std()`.
///
/// Follows tokio's paused test clock (`#[tokio::test(start_paused = true)]`),
/// which [`SystemClock`] does not, so deadline tests run in virtual time.
/// The default clock of [`Retryable`](crate::Retryable) with the `tokio` feature.
#[cfg(feature = "tokio")]
#[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TokioClock;

/// The clock of an async retry when none was given: [`TokioClock`] with the
/// `tokio` feature (it follows tokio's paused clock), otherwise [`SystemClock`].
#[cfg(feature = "tokio")]
pub type DefaultAsyncClock = TokioClock;
/// The clock of an async retry when none was given: `TokioClock` with the
/// `tokio` feature (it follows tokio's paused clock), otherwise [`SystemClock`].
#[cfg(not(feature = "tokio"))]
pub type DefaultAsyncClock = SystemClock;

#[cfg(feature = "tokio")]
impl Clock for TokioClock {
    fn now(&self) -> Instant {
        tokio::time::Instant::now().into_std()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_moves_only_when_advanced() {
        let clock = ManualClock::new();
        let t0 = clock.now();
        assert_eq!(clock.now(), t0);
        clock.advance(Duration::from_secs(3));
        assert_eq!(clock.now() - t0, Duration::from_secs(3));
        clock.advance(Duration::MAX);
        assert!(clock.now() >= t0);
    }
}
