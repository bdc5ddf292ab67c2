//! The hook through which later crates count retries and alert on give-ups.

use std::fmt;
use std::time::Duration;

/// Why the retry loop stopped without success.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GiveUpReason {
    /// Every allowed attempt failed.
    Exhausted,
    /// The error was classified permanent: retrying could not help.
    Permanent,
    /// The next delay would have ended past `max_elapsed`.
    DeadlineExceeded,
    /// The shared retry budget kept refusing the due retry until the
    /// deadline: the signal was held back, not retried and failed. A single
    /// refusal only defers the retry (see
    /// [`decide_after_refusal`](crate::decide_after_refusal)).
    BudgetExhausted,
}

impl GiveUpReason {
    /// A short snake-case word, suitable as a metric label:
    /// `exhausted`, `permanent`, `deadline`, `budget`.
    pub const fn as_str(self) -> &'static str {
        match self {
            GiveUpReason::Exhausted => "exhausted",
            GiveUpReason::Permanent => "permanent",
            GiveUpReason::DeadlineExceeded => "deadline",
            GiveUpReason::BudgetExhausted => "budget",
        }
    }
}

impl fmt::Display for GiveUpReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A failed attempt that will be retried, reported before the delay starts.
#[derive(Debug)]
pub struct RetryEvent<'a, E> {
    /// The operation name given to the loop.
    pub operation: &'a str,
    /// The 1-based number of the attempt that just failed.
    pub attempt: u32,
    /// The delay chosen before the next attempt.
    pub delay: Duration,
    /// The error of the attempt that just failed.
    pub error: &'a E,
    /// Time since the first attempt started.
    pub elapsed: Duration,
}

/// A due retry that the budget refused, reported before the loop waits to
/// ask again. No attempt is made or counted for it.
#[derive(Debug)]
pub struct DeferEvent<'a, E> {
    /// The operation name given to the loop.
    pub operation: &'a str,
    /// The 1-based number of the attempt held back (the one not yet made).
    pub attempt: u32,
    /// How long the loop waits before asking the budget again.
    pub delay: Duration,
    /// How many times this retry has been refused, this time included.
    pub deferrals: u32,
    /// The error of the last attempt made.
    pub error: &'a E,
    /// Time since the first attempt started.
    pub elapsed: Duration,
}

/// The loop gave up; reported once, before the error is returned.
#[derive(Debug)]
pub struct GiveUpEvent<'a, E> {
    /// The operation name given to the loop.
    pub operation: &'a str,
    /// Attempts made in all.
    pub attempts: u32,
    /// Time since the first attempt started.
    pub elapsed: Duration,
    /// Why the loop stopped.
    pub reason: GiveUpReason,
    /// The last attempt's error.
    pub error: &'a E,
}

/// Called on every retry, every budget deferral and on give-up (metrics,
/// logs, alerts).
///
/// Every method defaults to doing nothing; `()` is the no-op observer.
/// Observers are called on the retry loop's path, so they should be quick.
///
/// ```
/// use std::sync::atomic::{AtomicU32, Ordering};
/// use retry_core::{RetryEvent, RetryObserver};
///
/// #[derive(Default)]
/// struct CountRetries(AtomicU32);
///
/// impl<E> RetryObserver<E> for CountRetries {
///     fn on_retry(&self, _event: &RetryEvent<'_, E>) {
///         self.0.fetch_add(1, Ordering::Relaxed);
///     }
/// }
/// ```
pub trait RetryObserver<E> {
    /// A failed attempt is about to be retried after `event.delay`.
    fn on_retry(&self, event: &RetryEvent<'_, E>) {
        let _ = event;
    }

    /// The budget refused a due retry; the loop waits `event.delay` and asks
    /// again (the retry is deferred, not given up).
    fn on_defer(&self, event: &DeferEvent<'_, E>) {
        let _ = event;
    }

    /// The loop gave up.
    fn on_give_up(&self, event: &GiveUpEvent<'_, E>) {
        let _ = event;
    }
}

impl<E> RetryObserver<E> for () {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn give_up_reasons_display_as_short_words() {
        let words: Vec<String> = [
            GiveUpReason::Exhausted,
            GiveUpReason::Permanent,
            GiveUpReason::DeadlineExceeded,
            GiveUpReason::BudgetExhausted,
        ]
        .iter()
        .map(ToString::to_string)
        .collect();
        assert_eq!(words, ["exhausted", "permanent", "deadline", "budget"]);
    }
}
