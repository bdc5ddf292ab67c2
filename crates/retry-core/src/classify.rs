//! How an operation's error tells the retry loop what to do with it.

use std::time::Duration;

/// What the retry loop may do after a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retryability {
    /// A passing failure (connection refused, timeout, 5xx): retry on the policy's schedule.
    Transient,
    /// A passing failure with a server hint (`Retry-After`): retry, but not before this delay.
    /// The hint is never shortened; it is still bounded by the deadline.
    RetryAfter(Duration),
    /// Retrying cannot help (validation error, signature rejected): stop now.
    Permanent,
}

/// Implemented by operation errors so the retry loop can classify them.
///
/// ```
/// use retry_core::{Classify, Retryability};
///
/// enum PostError { Refused, BadRequest }
///
/// impl Classify for PostError {
///     fn retryability(&self) -> Retryability {
///         match self {
///             PostError::Refused => Retryability::Transient,
///             PostError::BadRequest => Retryability::Permanent,
///         }
///     }
/// }
///
/// assert_eq!(PostError::BadRequest.retryability(), Retryability::Permanent);
/// assert_eq!(PostError::Refused.retryability(), Retryability::Transient);
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` does not implement `retry_core::Classify`: the retry loop cannot tell which of these errors to retry",
    label = "no `Classify` for `{Self}`",
    note = "implement `Classify` for the error type, or, with `.retry(..)`, call `.when(|e| ...)` to say which errors are retried (it needs no `Classify`)"
)]
pub trait Classify {
    /// How the retry loop should treat this error.
    fn retryability(&self) -> Retryability;
}
