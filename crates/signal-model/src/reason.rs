//! Why a signal was not delivered: one vocabulary for the in-memory `send`,
//! the durable outbox (its dead-letter reasons), output lines, metric labels
//! and alerts, so that nothing maps one list onto another by hand.

use std::fmt;
use std::str::FromStr;

/// Why a signal was not delivered. Each variant is one outcome of the
/// delivery contract, and each one was alerted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FailureReason {
    /// The signal was rejected before any network call (bad field, not JSON).
    InvalidSignal,
    /// Every allowed attempt failed with a transient error.
    Exhausted,
    /// The next retry would have ended past the deadline (`RETRY_MAX_ELAPSED_SECONDS`).
    Deadline,
    /// The server refused the signal as invalid (400, 404, 410, 413, 422, or another
    /// permanent status): retrying cannot help.
    Rejected,
    /// The server rejected the signature (401, 403): a security failure.
    SignatureRejected,
    /// The shared retry budget held the due retry back until the deadline:
    /// the server is failing for many signals at once, and retrying faster
    /// would only add load. (A refusal alone only defers a retry.)
    Budget,
    /// The same id came again with a different body: never sent, because a
    /// receiver that deduplicates on the `webhook-id` would drop it silently.
    Conflict,
    /// The command was stopped (SIGTERM, SIGINT) before the signal was
    /// delivered: it waited for a retry, or its attempt outlived the grace
    /// period. It may have reached the server if an attempt was cut.
    Interrupted,
}

impl FailureReason {
    /// Every reason, for metric descriptions and docs.
    pub const ALL: [FailureReason; 8] = [
        FailureReason::InvalidSignal,
        FailureReason::Exhausted,
        FailureReason::Deadline,
        FailureReason::Rejected,
        FailureReason::SignatureRejected,
        FailureReason::Budget,
        FailureReason::Conflict,
        FailureReason::Interrupted,
    ];

    /// The stable label used in output lines and the `signal_delivery_signals_failed_total{reason}` metric.
    pub fn as_str(self) -> &'static str {
        match self {
            FailureReason::InvalidSignal => "invalid_signal",
            FailureReason::Exhausted => "exhausted",
            FailureReason::Deadline => "deadline",
            FailureReason::Rejected => "rejected",
            FailureReason::SignatureRejected => "signature_rejected",
            FailureReason::Budget => "budget",
            FailureReason::Conflict => "conflict",
            FailureReason::Interrupted => "interrupted",
        }
    }
}

impl FailureReason {
    /// True for the failures of the server or the network (every attempt
    /// failed transiently, or time ran out): they open an outage, which a
    /// later delivery closes with one "recovered" message. A rejected,
    /// invalid, conflicting or interrupted signal says nothing about the
    /// server's health.
    ///
    /// ```
    /// use signal_model::FailureReason;
    ///
    /// assert!(FailureReason::Exhausted.is_outage());
    /// assert!(!FailureReason::Rejected.is_outage());
    /// ```
    pub fn is_outage(self) -> bool {
        matches!(
            self,
            FailureReason::Exhausted | FailureReason::Deadline | FailureReason::Budget
        )
    }
}

impl FromStr for FailureReason {
    type Err = ParseFailureReasonError;

    /// The stable label back to its reason.
    ///
    /// ```
    /// use signal_model::FailureReason;
    ///
    /// assert_eq!("budget".parse::<FailureReason>(), Ok(FailureReason::Budget));
    /// assert!("maybe".parse::<FailureReason>().unwrap_err().to_string().contains("expected one of"));
    /// ```
    fn from_str(text: &str) -> Result<FailureReason, ParseFailureReasonError> {
        FailureReason::ALL
            .into_iter()
            .find(|reason| reason.as_str() == text)
            .ok_or_else(|| ParseFailureReasonError {
                found: text.chars().filter(|c| !c.is_control()).take(40).collect(),
            })
    }
}

/// A text that is not one of the [`FailureReason`] labels.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown failure reason {found:?}; expected one of: invalid_signal, exhausted, deadline, rejected, signature_rejected, budget, conflict, interrupted"
)]
pub struct ParseFailureReasonError {
    /// The text given (bounded, control characters removed).
    pub found: String,
}

impl fmt::Display for FailureReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_label_parses_back() {
        for reason in FailureReason::ALL {
            assert_eq!(reason.as_str().parse::<FailureReason>(), Ok(reason));
            assert_eq!(reason.to_string(), reason.as_str());
        }
        assert!("".parse::<FailureReason>().is_err());
    }
}
