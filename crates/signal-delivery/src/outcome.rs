//! How one signal ends: delivered with a receipt, or failed for one named reason.

use crate::signal::SignalError;
use hmac_client::{PostError, Receipt};
use ops_alerts::AlertableError;
use retry_core::GiveUpReason;
use std::borrow::Cow;
use std::fmt;
use std::time::Duration;

/// Why a signal was not delivered: the one vocabulary of `send`, the outbox
/// and the alerts (defined in `signal-model`).
pub use signal_model::FailureReason;

/// The cause under a failed delivery.
#[derive(Debug, Clone)]
pub enum FailureCause {
    /// The signal itself was invalid.
    Signal(SignalError),
    /// The last attempt's error.
    Post(PostError),
    /// The last attempt's error as the outbox recorded it (its text): the
    /// give-up came on a later claim that made no attempt, because the retry
    /// budget held the retry back until the deadline.
    Recorded(String),
    /// The same id was seen before with a different body.
    Conflict {
        /// The input line of the signal's first copy, or `None` when the
        /// first copy is already in the outbox.
        first_line: Option<u64>,
        /// The input line of this copy.
        line: u64,
    },
    /// The command was stopped before the signal was delivered.
    Interrupted {
        /// True when an attempt was in flight and was cut (the server may
        /// have received it); false when the signal was waiting for a retry.
        during_attempt: bool,
        /// The last attempt's error, if an attempt had failed before.
        last: Option<PostError>,
    },
}

/// A signal that was not delivered, with everything the owner needs to act.
#[derive(Debug, Clone)]
pub struct DeliveryError {
    reason: FailureReason,
    signal_id: Option<String>,
    attempts: u32,
    elapsed: Duration,
    cause: FailureCause,
}

impl DeliveryError {
    pub(crate) fn invalid(signal_id: Option<String>, error: SignalError) -> DeliveryError {
        DeliveryError {
            reason: FailureReason::InvalidSignal,
            signal_id,
            attempts: 0,
            elapsed: Duration::ZERO,
            cause: FailureCause::Signal(error),
        }
    }

    /// A give-up decided outside the in-memory loop (the outbox worker, one
    /// attempt per claim, with [`retry_core::decide_after_failure`]): the
    /// same mapping from the retry-core reason as the in-memory loop, so
    /// alerts and metrics look the same whichever path gave up.
    pub(crate) fn gave_up(
        signal_id: &str,
        reason: GiveUpReason,
        attempts: u32,
        elapsed: Duration,
        last_error: PostError,
    ) -> DeliveryError {
        let reason = match reason {
            GiveUpReason::Exhausted => FailureReason::Exhausted,
            GiveUpReason::DeadlineExceeded => FailureReason::Deadline,
            GiveUpReason::BudgetExhausted => FailureReason::Budget,
            GiveUpReason::Permanent if last_error.is_security_failure() => {
                FailureReason::SignatureRejected
            }
            GiveUpReason::Permanent => FailureReason::Rejected,
        };
        DeliveryError {
            reason,
            signal_id: Some(signal_id.to_owned()),
            attempts,
            elapsed,
            cause: FailureCause::Post(last_error),
        }
    }

    /// The retry budget held a stored retry back until the deadline (the
    /// outbox worker): no attempt was made on this claim, so the cause is the
    /// text recorded for the last attempt.
    pub(crate) fn held_back(
        signal_id: &str,
        attempts: u32,
        elapsed: Duration,
        last_error: String,
    ) -> DeliveryError {
        DeliveryError {
            reason: FailureReason::Budget,
            signal_id: Some(signal_id.to_owned()),
            attempts,
            elapsed,
            cause: FailureCause::Recorded(last_error),
        }
    }

    /// The same id as a signal seen before (first read on `first_line`, or
    /// already in the outbox), with another body: refused, never sent.
    pub(crate) fn conflict(signal_id: &str, line: u64, first_line: Option<u64>) -> DeliveryError {
        DeliveryError {
            reason: FailureReason::Conflict,
            signal_id: Some(signal_id.to_owned()),
            attempts: 0,
            elapsed: Duration::ZERO,
            cause: FailureCause::Conflict { first_line, line },
        }
    }

    /// Stopped before delivery, after `attempts` attempts.
    pub(crate) fn interrupted(
        signal_id: &str,
        attempts: u32,
        elapsed: Duration,
        during_attempt: bool,
        last: Option<PostError>,
    ) -> DeliveryError {
        DeliveryError {
            reason: FailureReason::Interrupted,
            signal_id: Some(signal_id.to_owned()),
            attempts,
            elapsed,
            cause: FailureCause::Interrupted {
                during_attempt,
                last,
            },
        }
    }

    /// Which outcome this is.
    pub fn reason(&self) -> FailureReason {
        self.reason
    }

    /// The signal id, when the input had a valid one.
    pub fn signal_id(&self) -> Option<&str> {
        self.signal_id.as_deref()
    }

    /// Attempts made (0 for a signal rejected before any network call).
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    /// Time from the first attempt to the give-up.
    pub fn elapsed(&self) -> Duration {
        self.elapsed
    }

    /// The underlying error.
    pub fn cause(&self) -> &FailureCause {
        &self.cause
    }

    /// The last attempt's error, if an attempt was made in this process
    /// (not for [`FailureCause::Recorded`]).
    pub fn last_post_error(&self) -> Option<&PostError> {
        match &self.cause {
            FailureCause::Post(e) | FailureCause::Interrupted { last: Some(e), .. } => Some(e),
            FailureCause::Signal(_)
            | FailureCause::Recorded(_)
            | FailureCause::Conflict { .. }
            | FailureCause::Interrupted { last: None, .. } => None,
        }
    }
}

impl fmt::Display for DeliveryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.reason {
            FailureReason::InvalidSignal => "signal rejected before sending",
            FailureReason::Exhausted => "retries exhausted",
            FailureReason::Deadline => "retry deadline reached",
            FailureReason::Rejected => "signal server rejected the signal",
            FailureReason::SignatureRejected => "signal server rejected our signature",
            FailureReason::Budget => {
                "retry budget held the retry back until the deadline (server failing for many signals)"
            }
            FailureReason::Conflict => "signal refused before sending",
            FailureReason::Interrupted => "stopped before delivery",
        };
        write!(f, "{what} after {} attempt(s): ", self.attempts)?;
        match &self.cause {
            FailureCause::Signal(e) => write!(f, "{e}"),
            FailureCause::Post(e) => write!(f, "{e}"),
            FailureCause::Recorded(text) => f.write_str(text),
            FailureCause::Conflict { first_line, line } => match first_line {
                Some(first) => write!(
                    f,
                    "line {line} has the id of line {first} with a different body; a webhook-id must name one payload (receivers deduplicate on it), so it was not sent: give it a new id"
                ),
                None => write!(
                    f,
                    "line {line} has the id of a signal already in the outbox with a different body; a webhook-id must name one payload (receivers deduplicate on it), so it was not stored: give it a new id"
                ),
            },
            FailureCause::Interrupted {
                during_attempt: true,
                ..
            } => f.write_str(
                "the command was stopped and the attempt in flight was cut after the grace period (SEND_SHUTDOWN_GRACE_SECONDS); the server may have received it: send it again, receivers deduplicate on the id",
            ),
            FailureCause::Interrupted { last, .. } => {
                f.write_str("the command was stopped while the signal waited for its next attempt; send it again")?;
                match last {
                    Some(e) => write!(f, " (last attempt: {e})"),
                    None => Ok(()),
                }
            }
        }
    }
}

impl std::error::Error for DeliveryError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.cause {
            FailureCause::Signal(e) => Some(e),
            FailureCause::Post(e) | FailureCause::Interrupted { last: Some(e), .. } => Some(e),
            FailureCause::Recorded(_)
            | FailureCause::Conflict { .. }
            | FailureCause::Interrupted { last: None, .. } => None,
        }
    }
}

impl AlertableError for DeliveryError {
    /// Groups alerts by outcome and by the server's error class, never by id:
    /// a hundred signals failing on the same 503 make one group.
    fn error_class(&self) -> Cow<'_, str> {
        match &self.cause {
            FailureCause::Signal(e) => Cow::Borrowed(e.class()),
            FailureCause::Conflict { .. } => Cow::Borrowed("conflict"),
            FailureCause::Interrupted { .. } => Cow::Borrowed("interrupted"),
            FailureCause::Post(e) => Cow::Owned(format!("{}:{}", self.reason, e.error_class())),
            // Only the text was stored; the reason alone groups an outage.
            FailureCause::Recorded(_) => Cow::Owned(format!("{}:held_back", self.reason)),
        }
    }

    fn is_security_failure(&self) -> bool {
        self.reason == FailureReason::SignatureRejected
    }

    fn opens_outage(&self) -> bool {
        self.reason.is_outage()
    }

    fn reason_label(&self) -> Option<Cow<'_, str>> {
        Some(Cow::Borrowed(self.reason.as_str()))
    }
}

/// A delivered signal.
#[derive(Debug, Clone)]
pub struct Delivered {
    /// The delivering attempt's receipt (status, latency, timestamp signed).
    pub receipt: Receipt,
    /// Attempts made, the delivering one included.
    pub attempts: u32,
    /// Time from the first attempt to the delivery.
    pub elapsed: Duration,
}

/// The result of delivering one signal.
pub type DeliveryResult = Result<Delivered, DeliveryError>;
