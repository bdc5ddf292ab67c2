//! The result of one claim, as a value, so a worker records many at once
//! (group commit), and the attempt record that goes into the attempt log.

use std::time::Duration;

use crate::FailureReason;
use crate::alert::NewAlert;
use crate::signal::ClaimToken;

/// Longest `last_error` a backend stores, in bytes. Error texts can embed
/// whole HTTP response bodies; the outbox needs the gist, not megabytes per
/// retry. Backends cut longer texts on a character boundary.
pub const MAX_ERROR_LEN: usize = 2048;

/// Longest response excerpt in an [`AttemptRecord`], in bytes. Backends cut
/// longer ones on a character boundary.
pub const MAX_EXCERPT_LEN: usize = 512;

/// `text` cut to at most `max` bytes on a character boundary.
///
/// ```
/// assert_eq!(signal_outbox::truncate_utf8("héllo", 2), "h");
/// assert_eq!(signal_outbox::truncate_utf8("hello", 10), "hello");
/// ```
#[must_use]
pub fn truncate_utf8(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// One delivery attempt, for the attempt log. The backend stamps it with
/// its own time and the name of the worker that recorded the batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptRecord {
    /// The attempt number, 1-based (the row's stored attempt count after it).
    pub attempt: u32,
    /// The HTTP status, if an answer came.
    pub status: Option<u16>,
    /// A short stable class (`http_503`, `connect`, `timeout`, ...); `None`
    /// when the attempt delivered.
    pub error_class: Option<String>,
    /// From sending the request to the answer (or the failure).
    pub latency: Duration,
    /// A short excerpt of the server's answer, already redacted by the
    /// caller; at most [`MAX_EXCERPT_LEN`] bytes are stored.
    pub excerpt: Option<String>,
}

impl AttemptRecord {
    /// A successful attempt number `attempt` with this status and latency.
    ///
    /// ```
    /// use std::time::Duration;
    /// let record = signal_outbox::AttemptRecord::delivered(1, 200, Duration::from_millis(12));
    /// assert_eq!((record.status, record.error_class), (Some(200), None));
    /// ```
    #[must_use]
    pub fn delivered(attempt: u32, status: u16, latency: Duration) -> AttemptRecord {
        AttemptRecord {
            attempt,
            status: Some(status),
            error_class: None,
            latency,
            excerpt: None,
        }
    }

    /// A failed attempt number `attempt`, of class `error_class`.
    #[must_use]
    pub fn failed(
        attempt: u32,
        status: Option<u16>,
        error_class: impl Into<String>,
        latency: Duration,
    ) -> AttemptRecord {
        AttemptRecord {
            attempt,
            status,
            error_class: Some(error_class.into()),
            latency,
            excerpt: None,
        }
    }
}

/// What became of one claimed row. `SignalStore::record` applies a batch of
/// these in one transaction, each only if the row is still in flight with
/// the outcome's token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Delivered: the row becomes delivered with `attempt.attempt` attempts;
    /// the ledger's consecutive failures go back to 0 and an open outage is
    /// closed with one stored recovered alert.
    Delivered {
        /// The signal id.
        id: String,
        /// The claim's token.
        token: ClaimToken,
        /// The delivering attempt.
        attempt: AttemptRecord,
    },
    /// Failed, try again after `delay`: the row goes back to pending with
    /// `attempt.attempt` attempts and `last_error`, so a restarted worker
    /// continues the same schedule.
    Retry {
        /// The signal id.
        id: String,
        /// The claim's token.
        token: ClaimToken,
        /// The failed attempt.
        attempt: AttemptRecord,
        /// From the backend's now to the next attempt.
        delay: Duration,
        /// Why the attempt failed (cut to [`MAX_ERROR_LEN`]).
        last_error: String,
    },
    /// No attempt was made (the retry budget refused it): reschedule by
    /// `delay`; the attempt count and the last error stay as they were.
    Defer {
        /// The signal id.
        id: String,
        /// The claim's token.
        token: ClaimToken,
        /// From the backend's now to the next claim.
        delay: Duration,
    },
    /// Given up: the row becomes dead-lettered with `reason`, and `alert`
    /// is stored in the same transaction (so a crash cannot lose it).
    DeadLetter {
        /// The signal id.
        id: String,
        /// The claim's token.
        token: ClaimToken,
        /// The last attempt, if this claim made one.
        attempt: Option<AttemptRecord>,
        /// Attempts made in all.
        attempts: u32,
        /// Why it is given up on.
        reason: FailureReason,
        /// The last failure (cut to [`MAX_ERROR_LEN`]).
        last_error: String,
        /// The alert that tells the owner.
        alert: NewAlert,
        /// True for a failure of the server or the network (exhausted,
        /// deadline, budget, connect errors, timeouts, 5xx): it opens an
        /// outage, or counts in the open one. False for a rejected or
        /// invalid signal.
        outage: bool,
    },
    /// Handed back unattempted (graceful shutdown): pending again, due at
    /// its stored time.
    Release {
        /// The signal id.
        id: String,
        /// The claim's token.
        token: ClaimToken,
    },
}

impl Outcome {
    /// The signal id this outcome is for.
    ///
    /// ```
    /// use signal_outbox::{ClaimToken, Outcome};
    /// let outcome = Outcome::Release { id: "a".into(), token: ClaimToken(7) };
    /// assert_eq!((outcome.id(), outcome.token()), ("a", ClaimToken(7)));
    /// ```
    #[must_use]
    pub fn id(&self) -> &str {
        match self {
            Outcome::Delivered { id, .. }
            | Outcome::Retry { id, .. }
            | Outcome::Defer { id, .. }
            | Outcome::DeadLetter { id, .. }
            | Outcome::Release { id, .. } => id,
        }
    }

    /// The claim token this outcome is fenced by.
    #[must_use]
    pub fn token(&self) -> ClaimToken {
        match self {
            Outcome::Delivered { token, .. }
            | Outcome::Retry { token, .. }
            | Outcome::Defer { token, .. }
            | Outcome::DeadLetter { token, .. }
            | Outcome::Release { token, .. } => *token,
        }
    }

    /// The attempt record this outcome carries, if any.
    #[must_use]
    pub fn attempt(&self) -> Option<&AttemptRecord> {
        match self {
            Outcome::Delivered { attempt, .. } | Outcome::Retry { attempt, .. } => Some(attempt),
            Outcome::DeadLetter { attempt, .. } => attempt.as_ref(),
            Outcome::Defer { .. } | Outcome::Release { .. } => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncation_never_splits_a_character() {
        let text = "é".repeat(10);
        assert_eq!(truncate_utf8(&text, 5), "éé");
        assert_eq!(truncate_utf8("", 0), "");
        assert_eq!(truncate_utf8("abc", 0), "");
    }
}
