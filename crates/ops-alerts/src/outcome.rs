//! What became of an alert, and why one could not be sent.

use std::fmt;
use std::time::Duration;

use crate::sink::SinkError;

/// What became of one alert. Every variant is accounted for in a message, a
/// metric or a log line: nothing is dropped silently.
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub enum AlertOutcome {
    /// Sent to Telegram.
    Sent {
        /// The Telegram message id.
        message_id: i32,
    },
    /// Folded into an open group; it will be counted in the group's summary.
    Folded {
        /// Alerts folded into the group so far, this one included.
        pending_in_group: u32,
    },
    /// Logged only: DEBUG severity, or alerts disabled ([`OpsAlertService::log_only`](crate::OpsAlertService::log_only)).
    Logged,
    /// Could not be sent; it was logged at ERROR with all its fields and counted.
    Failed(AlertError),
}

impl AlertOutcome {
    /// The alert could not be sent.
    pub fn is_failed(&self) -> bool {
        matches!(self, AlertOutcome::Failed(_))
    }

    /// The alert was sent now.
    pub fn is_sent(&self) -> bool {
        matches!(self, AlertOutcome::Sent { .. })
    }
}

/// Why an alert gave up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum AlertErrorKind {
    /// Telegram refused it in a way retrying cannot fix (chat not found, bot
    /// blocked, invalid token, message too long).
    Permanent,
    /// Every retry allowed failed with passing errors.
    Exhausted,
    /// The per-alert time bound passed (Telegram dead or hanging, long rate-limit wait).
    TimedOut(Duration),
}

/// Why an alert could not be sent, with the attempts made and the last
/// transport error (already free of the token).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct AlertError {
    kind: AlertErrorKind,
    attempts: u32,
    last_error: Option<SinkError>,
}

impl AlertError {
    pub(crate) fn new(kind: AlertErrorKind, attempts: u32, last_error: Option<SinkError>) -> Self {
        AlertError {
            kind,
            attempts,
            last_error,
        }
    }

    /// Why it gave up.
    pub fn kind(&self) -> AlertErrorKind {
        self.kind
    }

    /// Send attempts made (HTML and plain-text fallback together).
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    /// The last transport error, if an attempt finished.
    pub fn last_error(&self) -> Option<&SinkError> {
        self.last_error.as_ref()
    }
}

impl fmt::Display for AlertError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            AlertErrorKind::Permanent => f.write_str("Telegram refused the alert")?,
            AlertErrorKind::Exhausted => f.write_str("the alert failed on every retry")?,
            AlertErrorKind::TimedOut(bound) => {
                write!(f, "the alert was not sent within {} s", bound.as_secs_f64())?;
            }
        }
        write!(
            f,
            " ({} attempt{})",
            self.attempts,
            if self.attempts == 1 { "" } else { "s" }
        )?;
        if let Some(error) = &self.last_error {
            write!(f, ": {error}")?;
        }
        Ok(())
    }
}
