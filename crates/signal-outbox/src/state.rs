//! Row states and dead-letter reasons, with their stored text forms.
//!
//! The text forms are what the database stores and what operators type
//! (`outbox list --state dead_lettered`), so they are stable: renaming one
//! is a schema change.

use std::fmt;
use std::str::FromStr;

/// Where a signal is in its life.
///
/// ```text
/// Pending --claim--> InFlight --mark_delivered--> Delivered
///    ^                 |  |
///    +--reschedule-----+  +--dead_letter--> DeadLettered
///    +--release--------+                        |
///    +--replay----------------------------------+
/// ```
///
/// An `InFlight` row whose lease has expired is claimable again, as if it
/// were `Pending`: that is how a crashed worker's rows come back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum State {
    /// Waiting for its next attempt (`next_attempt_at`).
    Pending,
    /// Claimed by a worker that holds a lease until `lease_until`.
    InFlight,
    /// The receiver accepted it. Terminal.
    Delivered,
    /// Given up on, with a [`DeadReason`]. Terminal until replayed.
    DeadLettered,
}

impl State {
    /// Every state, in lifecycle order.
    pub const ALL: [State; 4] = [
        State::Pending,
        State::InFlight,
        State::Delivered,
        State::DeadLettered,
    ];

    /// The stored and displayed text form.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            State::Pending => "pending",
            State::InFlight => "in_flight",
            State::Delivered => "delivered",
            State::DeadLettered => "dead_lettered",
        }
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A string that is not one of the [`State`] names.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown outbox state `{input}`; expected one of: pending, in_flight, delivered, dead_lettered"
)]
pub struct ParseStateError {
    /// The text that was given.
    pub input: String,
}

impl FromStr for State {
    type Err = ParseStateError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        State::ALL
            .into_iter()
            .find(|state| state.as_str() == s)
            .ok_or_else(|| ParseStateError {
                input: s.to_owned(),
            })
    }
}

/// Why a signal was dead-lettered.
///
/// Stored as text next to the last error and the attempt count, so an
/// operator can decide whether a [replay](crate::Outbox::replay) makes sense.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeadReason {
    /// Every allowed attempt failed.
    Exhausted,
    /// The signal's delivery deadline passed (a stale trading signal is
    /// worse than none).
    Deadline,
    /// The receiver rejected it permanently (a 4xx other than auth).
    Rejected,
    /// The receiver rejected its signature: a key or clock problem, and a
    /// security event.
    SignatureRejected,
    /// The retry budget was exhausted (the receiver is failing broadly).
    Budget,
    /// The signal itself is malformed and can never be delivered.
    InvalidSignal,
    /// Its id names another body already (the `send` vocabulary; the outbox
    /// itself refuses such a signal at enqueue).
    Conflict,
    /// Delivery was stopped before it ended (the `send` vocabulary).
    Interrupted,
}

impl DeadReason {
    /// Every reason.
    pub const ALL: [DeadReason; 8] = [
        DeadReason::Exhausted,
        DeadReason::Deadline,
        DeadReason::Rejected,
        DeadReason::SignatureRejected,
        DeadReason::Budget,
        DeadReason::InvalidSignal,
        DeadReason::Conflict,
        DeadReason::Interrupted,
    ];

    /// The stored and displayed text form.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            DeadReason::Exhausted => "exhausted",
            DeadReason::Deadline => "deadline",
            DeadReason::Rejected => "rejected",
            DeadReason::SignatureRejected => "signature_rejected",
            DeadReason::Budget => "budget",
            DeadReason::InvalidSignal => "invalid_signal",
            DeadReason::Conflict => "conflict",
            DeadReason::Interrupted => "interrupted",
        }
    }
}

impl fmt::Display for DeadReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A string that is not one of the [`DeadReason`] names.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown dead-letter reason `{input}`; expected one of: exhausted, deadline, \
     rejected, signature_rejected, budget, invalid_signal, conflict, interrupted"
)]
pub struct ParseDeadReasonError {
    /// The text that was given.
    pub input: String,
}

impl FromStr for DeadReason {
    type Err = ParseDeadReasonError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        DeadReason::ALL
            .into_iter()
            .find(|reason| reason.as_str() == s)
            .ok_or_else(|| ParseDeadReasonError {
                input: s.to_owned(),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_text_round_trips() {
        for state in State::ALL {
            assert_eq!(state.to_string().parse::<State>(), Ok(state));
        }
        assert_eq!(State::InFlight.to_string(), "in_flight");
    }

    #[test]
    fn unknown_state_lists_the_allowed_values() {
        let err = "inflight".parse::<State>().unwrap_err();
        assert_eq!(err.input, "inflight");
        let msg = err.to_string();
        for state in State::ALL {
            assert!(msg.contains(state.as_str()), "{msg}");
        }
    }

    #[test]
    fn dead_reason_text_round_trips() {
        for reason in DeadReason::ALL {
            assert_eq!(reason.to_string().parse::<DeadReason>(), Ok(reason));
        }
        assert_eq!(DeadReason::SignatureRejected.as_str(), "signature_rejected");
        let err = "nope".parse::<DeadReason>().unwrap_err();
        assert!(err.to_string().contains("invalid_signal"));
    }
}
