//! The retry policy: how many retries, how far apart, for how long, and the
//! validation that keeps every policy inside sane bounds.

use std::time::Duration;

use crate::backoff::Backoff;
use crate::jitter::Jitter;
use crate::policy_error::PolicyError;
use crate::rng::RandomSource;

/// The most retries a policy built in code may allow: a structural bound
/// (beyond a hundred, a loop is a poller, and should be written as one).
/// A product's configuration may allow fewer: signal-config keeps the
/// environment at 10.
pub const MAX_RETRIES_LIMIT: u32 = 100;
/// The shortest allowed base delay (and cap): 1 ms. In-process calls and
/// local services are retried after milliseconds; below one, the delay is
/// shorter than the timer can honour and the loop is a busy loop.
pub const MIN_BASE_DELAY: Duration = Duration::from_millis(1);
/// The longest allowed `base_delay`, `max_delay` and `max_elapsed` (24 h):
/// a call that still fails after a day wants a person, not another retry.
/// A product's configuration may allow less: signal-config keeps the
/// environment at 10 minutes, after which a signal is stale.
pub const MAX_DURATION_LIMIT: Duration = Duration::from_secs(24 * 60 * 60);
/// The largest allowed backoff multiplier: beyond 10 the second retry is
/// already at the cap and the schedule degenerates into "retry once, then wait".
pub const MAX_MULTIPLIER: f64 = 10.0;

/// When and how often a failed operation is retried.
///
/// | parameter | default | allowed |
/// |---|---|---|
/// | `max_retries` (retries after the first attempt) | 5 | 0 to 100 |
/// | `base_delay` (delay before the first retry) | 5 s | 1 ms to 24 h |
/// | `backoff_multiplier` | 2.0 | 1.0 to 10.0, finite |
/// | `max_delay` (cap on one delay, after jitter) | 120 s | `base_delay` to 24 h |
/// | `max_elapsed` (deadline from the first attempt) | 600 s | more than 0, at most 24 h |
/// | `jitter` | proportional | see [`Jitter`] |
///
/// These are structural bounds, for policies built in code. Configuration
/// read from the environment is held to tighter limits by the product's
/// configuration crate (signal-config: at most 10 retries, delays from 1 s,
/// 10 minutes in all); this crate reads no environment variable.
///
/// `max_delay` is deliberately not required to be below `max_elapsed`: a delay
/// that cannot fit in the remaining time simply ends the loop early with a
/// deadline error, so lowering only the deadline stays valid.
///
/// A policy can only be obtained through validation ([`RetryPolicy::builder`])
/// or [`Default`], so every `RetryPolicy` value is within these bounds. It
/// is `Copy` (a few numbers, nothing on the heap), so a loop can own its
/// policy: [`Retryable::retry`](crate::Retryable::retry) takes it by value
/// or by reference.
///
/// ```
/// use std::time::Duration;
/// use retry_core::{Jitter, RetryPolicy};
///
/// // An in-process call: 3 retries from 50 ms, at most 2 s in all.
/// let policy = RetryPolicy::builder()
///     .max_retries(3)
///     .base_delay(Duration::from_millis(50))
///     .max_delay(Duration::from_millis(500))
///     .max_elapsed(Duration::from_secs(2))
///     .jitter(Jitter::None)
///     .build()?;
/// assert_eq!(policy.max_attempts(), 4);
///
/// let error = RetryPolicy::builder().max_retries(101).build().unwrap_err();
/// assert_eq!(error.field(), "max_retries");
/// assert_eq!(error.to_string(), "max_retries=\"101\" is invalid: expected an integer from 0 to 100");
/// # Ok::<(), retry_core::PolicyError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryPolicy {
    max_retries: u32,
    base_delay: Duration,
    backoff_multiplier: f64,
    max_delay: Duration,
    max_elapsed: Duration,
    jitter: Jitter,
}

impl RetryPolicy {
    /// The defaults of the table above: 6 attempts, 5 s doubling to at most
    /// 120 s per delay, 10 minutes in all, proportional jitter.
    pub const DEFAULT: RetryPolicy = RetryPolicy {
        max_retries: 5,
        base_delay: Duration::from_secs(5),
        backoff_multiplier: 2.0,
        max_delay: Duration::from_secs(120),
        max_elapsed: Duration::from_secs(600),
        jitter: Jitter::Proportional,
    };

    /// A builder starting from the defaults.
    pub const fn builder() -> RetryPolicyBuilder {
        RetryPolicyBuilder {
            policy: RetryPolicy::DEFAULT,
        }
    }

    /// Retries allowed after the first attempt.
    pub const fn max_retries(&self) -> u32 {
        self.max_retries
    }

    /// Attempts in all: `max_retries + 1`.
    pub const fn max_attempts(&self) -> u32 {
        self.max_retries.saturating_add(1)
    }

    /// The nominal delay before the first retry.
    pub const fn base_delay(&self) -> Duration {
        self.base_delay
    }

    /// The factor by which the nominal delay grows per retry.
    pub const fn backoff_multiplier(&self) -> f64 {
        self.backoff_multiplier
    }

    /// The cap on a single computed delay, applied after jitter. A server's
    /// `Retry-After` hint is not subject to it (only to the deadline).
    pub const fn max_delay(&self) -> Duration {
        self.max_delay
    }

    /// The deadline, measured from the start of the first attempt: no sleep
    /// is started that would end after it.
    pub const fn max_elapsed(&self) -> Duration {
        self.max_elapsed
    }

    /// The jitter strategy.
    pub const fn jitter(&self) -> Jitter {
        self.jitter
    }

    /// The delays before retries `0..max_retries`, drawing jitter from `rng`.
    ///
    /// Stateful, unlike [`calculate_backoff_delay`](crate::calculate_backoff_delay):
    /// decorrelated jitter grows from the previous *actual* delay.
    ///
    /// ```
    /// use std::time::Duration;
    /// use retry_core::{Jitter, RetryPolicy, SplitMix64};
    ///
    /// let policy = RetryPolicy::builder().jitter(Jitter::None).build()?;
    /// let secs: Vec<u64> = policy.backoff(SplitMix64::new(1)).map(|d| d.as_secs()).collect();
    /// assert_eq!(secs, [5, 10, 20, 40, 80]);
    /// # Ok::<(), retry_core::PolicyError>(())
    /// ```
    pub fn backoff<R: RandomSource>(&self, rng: R) -> Backoff<R> {
        Backoff::new(*self, rng)
    }

    /// The first problem with this combination of values, in field order.
    fn validate(&self) -> Result<(), PolicyError> {
        let fail =
            |field, value: String, allowed: String| Err(PolicyError::new(field, value, allowed));
        if self.max_retries > MAX_RETRIES_LIMIT {
            return fail(
                "max_retries",
                self.max_retries.to_string(),
                ALLOWED_MAX_RETRIES.to_owned(),
            );
        }
        if !(MIN_BASE_DELAY..=MAX_DURATION_LIMIT).contains(&self.base_delay) {
            return fail(
                "base_delay",
                duration_text(self.base_delay),
                ALLOWED_BASE_DELAY.to_owned(),
            );
        }
        let m = self.backoff_multiplier;
        if !(m.is_finite() && (1.0..=MAX_MULTIPLIER).contains(&m)) {
            return fail(
                "backoff_multiplier",
                m.to_string(),
                ALLOWED_MULTIPLIER.to_owned(),
            );
        }
        if !(MIN_BASE_DELAY..=MAX_DURATION_LIMIT).contains(&self.max_delay) {
            return fail(
                "max_delay",
                duration_text(self.max_delay),
                ALLOWED_MAX_DELAY.to_owned(),
            );
        }
        if self.max_delay < self.base_delay {
            return fail(
                "max_delay",
                duration_text(self.max_delay),
                format!(
                    "a duration from the base delay ({}) to 24 h",
                    duration_text(self.base_delay)
                ),
            );
        }
        if self.max_elapsed.is_zero() || self.max_elapsed > MAX_DURATION_LIMIT {
            return fail(
                "max_elapsed",
                duration_text(self.max_elapsed),
                ALLOWED_MAX_ELAPSED.to_owned(),
            );
        }
        Ok(())
    }
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy::DEFAULT
    }
}

/// A reference is as good as the policy: it is copied (a few numbers), so
/// [`Retryable::retry`](crate::Retryable::retry) takes `policy` or `&policy`.
impl From<&RetryPolicy> for RetryPolicy {
    fn from(policy: &RetryPolicy) -> Self {
        *policy
    }
}

const ALLOWED_MAX_RETRIES: &str = "an integer from 0 to 100";
const ALLOWED_BASE_DELAY: &str = "a duration from 1 ms to 24 h";
const ALLOWED_MULTIPLIER: &str = "a finite number from 1 to 10";
const ALLOWED_MAX_DELAY: &str = "a duration from 1 ms to 24 h, and at least the base delay";
const ALLOWED_MAX_ELAPSED: &str = "a duration greater than 0, at most 24 h";

/// `5s`, `0.05s`: seconds with the unit, exact to the nanosecond.
fn duration_text(d: Duration) -> String {
    format!("{}s", d.as_secs_f64())
}

/// Builds a validated [`RetryPolicy`]; unset parameters keep their defaults.
///
/// Setters only record values; all checks happen in [`build`](Self::build),
/// so the order of the calls does not matter.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicyBuilder {
    policy: RetryPolicy,
}

impl Default for RetryPolicyBuilder {
    fn default() -> Self {
        RetryPolicy::builder()
    }
}

impl RetryPolicyBuilder {
    /// Retries after the first attempt (0 to 100).
    pub const fn max_retries(mut self, max_retries: u32) -> Self {
        self.policy.max_retries = max_retries;
        self
    }

    /// Delay before the first retry (1 ms to 24 h).
    pub const fn base_delay(mut self, base_delay: Duration) -> Self {
        self.policy.base_delay = base_delay;
        self
    }

    /// Growth factor per retry (1 to 10, finite).
    pub const fn backoff_multiplier(mut self, multiplier: f64) -> Self {
        self.policy.backoff_multiplier = multiplier;
        self
    }

    /// Cap on one computed delay, after jitter (`base_delay` to 24 h).
    pub const fn max_delay(mut self, max_delay: Duration) -> Self {
        self.policy.max_delay = max_delay;
        self
    }

    /// Deadline from the start of the first attempt (more than 0, at most 24 h).
    pub const fn max_elapsed(mut self, max_elapsed: Duration) -> Self {
        self.policy.max_elapsed = max_elapsed;
        self
    }

    /// Jitter strategy.
    pub const fn jitter(mut self, jitter: Jitter) -> Self {
        self.policy.jitter = jitter;
        self
    }

    /// The policy, or the first invalid parameter (in the order of the
    /// table on [`RetryPolicy`]), naming the field and the allowed values.
    ///
    /// # Errors
    /// A [`PolicyError`] for the first value out of its range.
    pub fn build(self) -> Result<RetryPolicy, PolicyError> {
        self.policy.validate().map(|()| self.policy)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_the_plan() {
        let p = RetryPolicy::default();
        assert_eq!(p.max_retries(), 5);
        assert_eq!(p.max_attempts(), 6);
        assert_eq!(p.base_delay(), Duration::from_secs(5));
        assert_eq!(p.backoff_multiplier(), 2.0);
        assert_eq!(p.max_delay(), Duration::from_secs(120));
        assert_eq!(p.max_elapsed(), Duration::from_secs(600));
        assert_eq!(p.jitter(), Jitter::Proportional);
        assert_eq!(p.validate(), Ok(()));
        assert_eq!(RetryPolicy::builder().build().unwrap(), p);
        assert_eq!(RetryPolicy::from(&p), p);
    }

    #[test]
    fn builder_accepts_the_edges_of_every_range() {
        let p = RetryPolicy::builder()
            .max_retries(0)
            .base_delay(Duration::from_millis(1))
            .backoff_multiplier(1.0)
            .max_delay(Duration::from_millis(1))
            .max_elapsed(Duration::from_nanos(1))
            .build()
            .unwrap();
        assert_eq!(p.max_attempts(), 1);
        let day = Duration::from_secs(86_400);
        let p = RetryPolicy::builder()
            .max_retries(100)
            .base_delay(day)
            .backoff_multiplier(10.0)
            .max_delay(day)
            .max_elapsed(day)
            .build()
            .unwrap();
        assert_eq!(p.max_attempts(), 101);
    }

    #[test]
    fn builder_rejects_each_out_of_range_value_naming_the_field() {
        let day = Duration::from_secs(86_400);
        let over = day + Duration::from_nanos(1);
        let cases = [
            (
                RetryPolicy::builder().max_retries(101),
                "max_retries",
                "101",
            ),
            (
                RetryPolicy::builder().base_delay(Duration::from_micros(999)),
                "base_delay",
                "0.000999s",
            ),
            (
                RetryPolicy::builder().base_delay(Duration::ZERO),
                "base_delay",
                "0s",
            ),
            (
                RetryPolicy::builder().base_delay(over),
                "base_delay",
                "86400.000000001s",
            ),
            (
                RetryPolicy::builder().backoff_multiplier(0.5),
                "backoff_multiplier",
                "0.5",
            ),
            (
                RetryPolicy::builder().backoff_multiplier(f64::NAN),
                "backoff_multiplier",
                "NaN",
            ),
            (
                RetryPolicy::builder().backoff_multiplier(f64::INFINITY),
                "backoff_multiplier",
                "inf",
            ),
            (
                RetryPolicy::builder().backoff_multiplier(10.5),
                "backoff_multiplier",
                "10.5",
            ),
            (
                RetryPolicy::builder().max_delay(over),
                "max_delay",
                "86400.000000001s",
            ),
            (
                RetryPolicy::builder().max_delay(Duration::from_secs(4)),
                "max_delay",
                "4s",
            ),
            (
                RetryPolicy::builder().max_elapsed(Duration::ZERO),
                "max_elapsed",
                "0s",
            ),
            (
                RetryPolicy::builder().max_elapsed(over),
                "max_elapsed",
                "86400.000000001s",
            ),
        ];
        for (builder, field, value) in cases {
            let err = builder.build().unwrap_err();
            assert_eq!(err.field(), field, "{err}");
            assert_eq!(err.value(), value, "{err}");
            assert!(!err.allowed().is_empty());
            assert!(
                err.to_string()
                    .starts_with(&format!("{field}=\"{value}\" is invalid: expected "))
            );
        }
    }

    #[test]
    fn the_allowed_ranges_are_spelled_out() {
        let message = |b: RetryPolicyBuilder| b.build().unwrap_err().to_string();
        assert_eq!(
            message(RetryPolicy::builder().base_delay(Duration::ZERO)),
            "base_delay=\"0s\" is invalid: expected a duration from 1 ms to 24 h"
        );
        assert_eq!(
            message(RetryPolicy::builder().max_elapsed(Duration::ZERO)),
            "max_elapsed=\"0s\" is invalid: expected a duration greater than 0, at most 24 h"
        );
        assert_eq!(
            message(RetryPolicy::builder().backoff_multiplier(0.0)),
            "backoff_multiplier=\"0\" is invalid: expected a finite number from 1 to 10"
        );
    }

    #[test]
    fn cross_field_error_says_which_base_delay_it_was_compared_with() {
        let err = RetryPolicy::builder()
            .base_delay(Duration::from_millis(300))
            .max_delay(Duration::from_millis(100))
            .build()
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "max_delay=\"0.1s\" is invalid: expected a duration from the base delay (0.3s) to 24 h"
        );
    }
}
