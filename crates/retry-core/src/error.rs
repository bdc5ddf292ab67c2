//! What the caller gets when the loop gives up: always the last error, the
//! attempt count and the operation name, so nothing is dropped silently.

use std::fmt;
use std::time::Duration;

use crate::classify::{Classify, Retryability};
use crate::observer::GiveUpReason;

/// Every allowed attempt failed with a retryable error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryExhaustedError<E> {
    /// Attempts made (the policy's `max_attempts`).
    pub attempts: u32,
    /// The last attempt's error.
    pub last_error: E,
    /// The operation name given to the loop.
    pub operation: String,
}

impl<E: fmt::Display> fmt::Display for RetryExhaustedError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: gave up after {} (retries exhausted): {}",
            self.operation,
            Attempts(self.attempts),
            self.last_error
        )
    }
}

impl<E: std::error::Error + 'static> std::error::Error for RetryExhaustedError<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.last_error)
    }
}

/// Why a retry loop failed; each case keeps the last error.
///
/// ```
/// use retry_core::{with_retry, Classify, GiveUpReason, RetryError, RetryPolicy, Retryability};
///
/// #[derive(Debug)]
/// struct Rejected;
/// impl std::fmt::Display for Rejected {
///     fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
///         f.write_str("signature rejected")
///     }
/// }
/// impl Classify for Rejected {
///     fn retryability(&self) -> Retryability { Retryability::Permanent }
/// }
///
/// let error = with_retry(&RetryPolicy::default(), "post_signal", |_| Err::<(), _>(Rejected))
///     .unwrap_err();
/// assert_eq!(error.reason(), GiveUpReason::Permanent);
/// assert_eq!(error.attempts(), 1);
/// assert_eq!(
///     error.to_string(),
///     "post_signal: gave up after 1 attempt (permanent error): signature rejected"
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RetryError<E> {
    /// Every allowed attempt failed.
    Exhausted(RetryExhaustedError<E>),
    /// The error was classified permanent and was not retried.
    Permanent {
        /// Attempts made, the failing one included.
        attempts: u32,
        /// The permanent error.
        error: E,
        /// The operation name given to the loop.
        operation: String,
    },
    /// The next delay would have ended past the policy's `max_elapsed`.
    DeadlineExceeded {
        /// Attempts made.
        attempts: u32,
        /// Time from the start of the first attempt to giving up.
        elapsed: Duration,
        /// The last attempt's error.
        last_error: E,
        /// The operation name given to the loop.
        operation: String,
    },
    /// The shared [`RetryBudget`](crate::RetryBudget) kept refusing the due
    /// retry until the deadline (each refusal deferred it; none of those
    /// waits counts as an attempt).
    BudgetExhausted {
        /// Attempts made.
        attempts: u32,
        /// Time from the start of the first attempt to giving up (the
        /// deadline, or just past it).
        elapsed: Duration,
        /// The last attempt's error.
        last_error: E,
        /// The operation name given to the loop.
        operation: String,
    },
}

impl<E> RetryError<E> {
    /// Attempts made in all.
    pub fn attempts(&self) -> u32 {
        match self {
            RetryError::Exhausted(e) => e.attempts,
            RetryError::Permanent { attempts, .. }
            | RetryError::DeadlineExceeded { attempts, .. }
            | RetryError::BudgetExhausted { attempts, .. } => *attempts,
        }
    }

    /// The last attempt's error.
    pub fn last_error(&self) -> &E {
        match self {
            RetryError::Exhausted(e) => &e.last_error,
            RetryError::Permanent { error, .. } => error,
            RetryError::DeadlineExceeded { last_error, .. }
            | RetryError::BudgetExhausted { last_error, .. } => last_error,
        }
    }

    /// The last attempt's error, by value.
    pub fn into_last_error(self) -> E {
        match self {
            RetryError::Exhausted(e) => e.last_error,
            RetryError::Permanent { error, .. } => error,
            RetryError::DeadlineExceeded { last_error, .. }
            | RetryError::BudgetExhausted { last_error, .. } => last_error,
        }
    }

    /// The operation name given to the loop.
    pub fn operation(&self) -> &str {
        match self {
            RetryError::Exhausted(e) => &e.operation,
            RetryError::Permanent { operation, .. }
            | RetryError::DeadlineExceeded { operation, .. }
            | RetryError::BudgetExhausted { operation, .. } => operation,
        }
    }

    /// Why the loop gave up.
    pub fn reason(&self) -> GiveUpReason {
        match self {
            RetryError::Exhausted(_) => GiveUpReason::Exhausted,
            RetryError::Permanent { .. } => GiveUpReason::Permanent,
            RetryError::DeadlineExceeded { .. } => GiveUpReason::DeadlineExceeded,
            RetryError::BudgetExhausted { .. } => GiveUpReason::BudgetExhausted,
        }
    }

    pub(crate) fn new(
        reason: GiveUpReason,
        attempts: u32,
        elapsed: Duration,
        last_error: E,
        operation: &str,
    ) -> Self {
        let operation = operation.to_owned();
        match reason {
            GiveUpReason::Exhausted => RetryError::Exhausted(RetryExhaustedError {
                attempts,
                last_error,
                operation,
            }),
            GiveUpReason::Permanent => RetryError::Permanent {
                attempts,
                error: last_error,
                operation,
            },
            GiveUpReason::DeadlineExceeded => RetryError::DeadlineExceeded {
                attempts,
                elapsed,
                last_error,
                operation,
            },
            GiveUpReason::BudgetExhausted => RetryError::BudgetExhausted {
                attempts,
                elapsed,
                last_error,
                operation,
            },
        }
    }
}

impl<E> From<RetryExhaustedError<E>> for RetryError<E> {
    fn from(error: RetryExhaustedError<E>) -> Self {
        RetryError::Exhausted(error)
    }
}

impl<E: fmt::Display> fmt::Display for RetryError<E> {
    /// `"<operation>: gave up after <n> attempts (<why>): <last error>"`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: gave up after {} (",
            self.operation(),
            Attempts(self.attempts())
        )?;
        match self {
            RetryError::Exhausted(_) => f.write_str("retries exhausted")?,
            RetryError::Permanent { .. } => f.write_str("permanent error")?,
            RetryError::DeadlineExceeded { elapsed, .. } => {
                write!(f, "deadline reached after {elapsed:?}")?;
            }
            RetryError::BudgetExhausted { elapsed, .. } => {
                write!(
                    f,
                    "retry budget held the retry back until the deadline, {elapsed:?}"
                )?;
            }
        }
        write!(f, "): {}", self.last_error())
    }
}

impl<E: std::error::Error + 'static> std::error::Error for RetryError<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(self.last_error())
    }
}

/// "1 attempt", "6 attempts".
struct Attempts(u32);

impl fmt::Display for Attempts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            1 => f.write_str("1 attempt"),
            n => write!(f, "{n} attempts"),
        }
    }
}

/// An attempt did not finish within the per-attempt timeout of
/// [`Retry::run_async_with_timeout`](crate::Retry::run_async_with_timeout).
///
/// Transient: a slow attempt may well succeed next time. Operation errors
/// implement `From<AttemptTimedOut>` to carry it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("attempt timed out after {after:?}")]
pub struct AttemptTimedOut {
    /// The timeout that expired.
    pub after: Duration,
}

impl Classify for AttemptTimedOut {
    fn retryability(&self) -> Retryability {
        Retryability::Transient
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::error::Error as _;

    #[derive(Debug, PartialEq, thiserror::Error)]
    #[error("connection refused")]
    struct Refused;

    #[test]
    fn display_names_operation_attempts_reason_and_last_error() {
        let cases = [
            (
                GiveUpReason::Exhausted,
                "post_signal: gave up after 6 attempts (retries exhausted): connection refused",
            ),
            (
                GiveUpReason::Permanent,
                "post_signal: gave up after 6 attempts (permanent error): connection refused",
            ),
            (
                GiveUpReason::DeadlineExceeded,
                "post_signal: gave up after 6 attempts (deadline reached after 155s): connection refused",
            ),
            (
                GiveUpReason::BudgetExhausted,
                "post_signal: gave up after 6 attempts (retry budget held the retry back until the deadline, 155s): connection refused",
            ),
        ];
        for (reason, text) in cases {
            let e = RetryError::new(reason, 6, Duration::from_secs(155), Refused, "post_signal");
            assert_eq!(e.to_string(), text);
            assert_eq!(e.reason(), reason);
            assert_eq!(e.attempts(), 6);
            assert_eq!(e.operation(), "post_signal");
            assert_eq!(e.last_error(), &Refused);
            assert_eq!(
                e.source().map(ToString::to_string).as_deref(),
                Some("connection refused")
            );
            assert_eq!(e.into_last_error(), Refused);
        }
    }

    #[test]
    fn exhausted_error_carries_attempts_last_error_and_operation() {
        let e = RetryExhaustedError {
            attempts: 6,
            last_error: Refused,
            operation: "op".into(),
        };
        assert_eq!(
            e.to_string(),
            "op: gave up after 6 attempts (retries exhausted): connection refused"
        );
        assert!(e.source().is_some());
        let e: RetryError<Refused> = e.into();
        assert_eq!(e.reason(), GiveUpReason::Exhausted);
    }

    #[test]
    fn attempt_timed_out_is_transient_and_says_after_how_long() {
        let e = AttemptTimedOut {
            after: Duration::from_secs(2),
        };
        assert_eq!(e.to_string(), "attempt timed out after 2s");
        assert_eq!(e.retryability(), Retryability::Transient);
    }
}
