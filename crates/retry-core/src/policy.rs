//! The retry policy: how many retries, how far apart, for how long, and the
//! validation that keeps every policy inside sane bounds.

use std::time::Duration;

use crate::backoff::Backoff;
use crate::jitter::{JITTER_NAMES, Jitter};
use crate::policy_error::PolicyError;
use crate::rng::RandomSource;

/// The most retries a policy may allow. More retries than this stop being
/// resilience and start being load: use a longer `max_elapsed` instead.
pub const MAX_RETRIES_LIMIT: u32 = 10;
/// The shortest allowed base delay: sub-second retries against a remote
/// service mostly hit the same failure again.
pub const MIN_BASE_DELAY: Duration = Duration::from_secs(1);
/// The longest allowed `base_delay`, `max_delay` and `max_elapsed` (10 min):
/// a signal older than that is stale and should be alerted on, not retried.
pub const MAX_DURATION_LIMIT: Duration = Duration::from_secs(600);
/// The largest allowed backoff multiplier: beyond 10 the second retry is
/// already at the cap and the schedule degenerates into "retry once, then wait".
pub const MAX_MULTIPLIER: f64 = 10.0;

/// When and how often a failed operation is retried.
///
/// | parameter | default | allowed | environment variable |
/// |---|---|---|---|
/// | `max_retries` (retries after the first attempt) | 5 | 0 to 10 | `MAX_RETRIES` |
/// | `base_delay` (delay before the first retry) | 5 s | 1 s to 600 s | `RETRY_DELAY_SECONDS` |
/// | `backoff_multiplier` | 2.0 | 1.0 to 10.0, finite | `RETRY_BACKOFF_MULTIPLIER` |
/// | `max_delay` (cap on one delay, after jitter) | 120 s | `base_delay` to 600 s | `RETRY_MAX_DELAY_SECONDS` |
/// | `max_elapsed` (deadline from the first attempt) | 600 s | more than 0, at most 600 s | `RETRY_MAX_ELAPSED_SECONDS` |
/// | `jitter` | proportional | see [`Jitter`] | `RETRY_JITTER` |
///
/// `max_delay` is deliberately not required to be below `max_elapsed`: a delay
/// that cannot fit in the remaining time simply ends the loop early with a
/// deadline error, so lowering only `RETRY_MAX_ELAPSED_SECONDS` stays valid.
///
/// A policy can only be obtained through validation ([`RetryPolicy::builder`],
/// [`RetryPolicy::from_lookup`], [`RetryPolicy::from_env`]) or
/// [`Default`], so every `RetryPolicy` value is within these bounds.
///
/// ```
/// use std::time::Duration;
/// use retry_core::{Jitter, RetryPolicy};
///
/// let policy = RetryPolicy::builder()
///     .max_retries(3)
///     .base_delay(Duration::from_secs(2))
///     .jitter(Jitter::None)
///     .build()?;
/// assert_eq!(policy.max_attempts(), 4);
/// assert_eq!(policy.max_delay(), Duration::from_secs(120));
///
/// let error = RetryPolicy::builder().max_retries(11).build().unwrap_err();
/// assert_eq!(error.field(), "max_retries");
/// # Ok::<(), retry_core::PolicyError>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
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
        Backoff::new(self.clone(), rng)
    }

    /// Every problem with this combination of values, in field order.
    /// Cross-field problems are flagged so the environment reader can tell
    /// them apart from single-value ones.
    pub(crate) fn problems(&self) -> Vec<Problem> {
        let mut problems = Vec::new();
        let mut push = |field, cross, value: String, allowed: String| {
            problems.push(Problem {
                cross,
                error: PolicyError::new(field, value, allowed),
            });
        };
        if self.max_retries > MAX_RETRIES_LIMIT {
            push(
                "max_retries",
                false,
                self.max_retries.to_string(),
                ALLOWED_MAX_RETRIES.to_owned(),
            );
        }
        let base_ok = (MIN_BASE_DELAY..=MAX_DURATION_LIMIT).contains(&self.base_delay);
        if !base_ok {
            push(
                "base_delay",
                false,
                duration_text(self.base_delay),
                ALLOWED_BASE_DELAY.to_owned(),
            );
        }
        let m = self.backoff_multiplier;
        if !(m.is_finite() && (1.0..=MAX_MULTIPLIER).contains(&m)) {
            push(
                "backoff_multiplier",
                false,
                m.to_string(),
                ALLOWED_MULTIPLIER.to_owned(),
            );
        }
        if !(MIN_BASE_DELAY..=MAX_DURATION_LIMIT).contains(&self.max_delay) {
            push(
                "max_delay",
                false,
                duration_text(self.max_delay),
                ALLOWED_MAX_DELAY.to_owned(),
            );
        } else if base_ok && self.max_delay < self.base_delay {
            push(
                "max_delay",
                true,
                duration_text(self.max_delay),
                format!(
                    "a number of seconds from the base delay ({}) to {}",
                    seconds(self.base_delay),
                    seconds(MAX_DURATION_LIMIT)
                ),
            );
        }
        if self.max_elapsed.is_zero() || self.max_elapsed > MAX_DURATION_LIMIT {
            push(
                "max_elapsed",
                false,
                duration_text(self.max_elapsed),
                ALLOWED_MAX_ELAPSED.to_owned(),
            );
        }
        problems
    }
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy::DEFAULT
    }
}

pub(crate) const ALLOWED_MAX_RETRIES: &str = "an integer from 0 to 10";
pub(crate) const ALLOWED_BASE_DELAY: &str = "a number of seconds from 1 to 600";
pub(crate) const ALLOWED_MULTIPLIER: &str = "a finite number from 1 to 10";
pub(crate) const ALLOWED_MAX_DELAY: &str =
    "a number of seconds from 1 to 600, and at least the base delay";
pub(crate) const ALLOWED_MAX_ELAPSED: &str = "a number of seconds greater than 0, at most 600";
pub(crate) const ALLOWED_JITTER: &str = JITTER_NAMES;

/// A validation failure, and whether it is about the relation between two
/// fields rather than one value.
#[derive(Debug)]
pub(crate) struct Problem {
    pub(crate) cross: bool,
    pub(crate) error: PolicyError,
}

/// Seconds as a plain number (`5`, `0.5`), the unit of the environment variables.
pub(crate) fn seconds(d: Duration) -> String {
    d.as_secs_f64().to_string()
}

fn duration_text(d: Duration) -> String {
    format!("{}s", seconds(d))
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
    /// Retries after the first attempt (0 to 10).
    pub const fn max_retries(mut self, max_retries: u32) -> Self {
        self.policy.max_retries = max_retries;
        self
    }

    /// Delay before the first retry (1 s to 600 s).
    pub const fn base_delay(mut self, base_delay: Duration) -> Self {
        self.policy.base_delay = base_delay;
        self
    }

    /// Growth factor per retry (1 to 10, finite).
    pub const fn backoff_multiplier(mut self, multiplier: f64) -> Self {
        self.policy.backoff_multiplier = multiplier;
        self
    }

    /// Cap on one computed delay, after jitter (`base_delay` to 600 s).
    pub const fn max_delay(mut self, max_delay: Duration) -> Self {
        self.policy.max_delay = max_delay;
        self
    }

    /// Deadline from the start of the first attempt (more than 0, at most 600 s).
    pub const fn max_elapsed(mut self, max_elapsed: Duration) -> Self {
        self.policy.max_elapsed = max_elapsed;
        self
    }

    /// Jitter strategy.
    pub const fn jitter(mut self, jitter: Jitter) -> Self {
        self.policy.jitter = jitter;
        self
    }

    /// The values as set, without validation (the environment reader
    /// validates them itself to report every problem).
    pub(crate) fn policy_unchecked(self) -> RetryPolicy {
        self.policy
    }

    /// The policy, or the first invalid parameter.
    ///
    /// Use [`RetryPolicy::from_lookup`] to get every problem at once.
    pub fn build(self) -> Result<RetryPolicy, PolicyError> {
        match self.policy.problems().into_iter().next() {
            Some(problem) => Err(problem.error),
            None => Ok(self.policy),
        }
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
        assert!(p.problems().is_empty());
        assert_eq!(RetryPolicy::builder().build().unwrap(), p);
    }

    #[test]
    fn builder_accepts_the_edges_of_every_range() {
        let p = RetryPolicy::builder()
            .max_retries(0)
            .base_delay(Duration::from_secs(1))
            .backoff_multiplier(1.0)
            .max_delay(Duration::from_secs(1))
            .max_elapsed(Duration::from_millis(1))
            .build()
            .unwrap();
        assert_eq!(p.max_attempts(), 1);
        RetryPolicy::builder()
            .max_retries(10)
            .base_delay(Duration::from_secs(600))
            .backoff_multiplier(10.0)
            .max_delay(Duration::from_secs(600))
            .max_elapsed(Duration::from_secs(600))
            .build()
            .unwrap();
    }

    #[test]
    fn builder_rejects_each_out_of_range_value_naming_the_field() {
        let cases = [
            (RetryPolicy::builder().max_retries(11), "max_retries"),
            (
                RetryPolicy::builder().base_delay(Duration::from_millis(500)),
                "base_delay",
            ),
            (
                RetryPolicy::builder().base_delay(Duration::from_secs(601)),
                "base_delay",
            ),
            (
                RetryPolicy::builder().backoff_multiplier(0.5),
                "backoff_multiplier",
            ),
            (
                RetryPolicy::builder().backoff_multiplier(f64::NAN),
                "backoff_multiplier",
            ),
            (
                RetryPolicy::builder().backoff_multiplier(f64::INFINITY),
                "backoff_multiplier",
            ),
            (
                RetryPolicy::builder().backoff_multiplier(10.5),
                "backoff_multiplier",
            ),
            (
                RetryPolicy::builder().max_delay(Duration::from_secs(601)),
                "max_delay",
            ),
            (
                RetryPolicy::builder().max_delay(Duration::from_secs(4)),
                "max_delay",
            ),
            (
                RetryPolicy::builder().max_elapsed(Duration::ZERO),
                "max_elapsed",
            ),
            (
                RetryPolicy::builder().max_elapsed(Duration::from_secs(601)),
                "max_elapsed",
            ),
        ];
        for (builder, field) in cases {
            let err = builder.build().unwrap_err();
            assert_eq!(err.field(), field, "{err}");
            assert_eq!(err.variable(), None);
            assert!(!err.allowed().is_empty());
        }
    }

    #[test]
    fn cross_field_error_says_which_base_delay_it_was_compared_with() {
        let err = RetryPolicy::builder()
            .base_delay(Duration::from_secs(30))
            .max_delay(Duration::from_secs(10))
            .build()
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "max_delay=\"10s\" is invalid: expected a number of seconds from the base delay (30) to 600"
        );
    }
}
