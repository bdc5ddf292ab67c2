//! Row states, with their stored text forms.
//!
//! The text forms are what the database stores and what operators type
//! (`outbox list --state dead_lettered`), so they are stable: renaming one
//! is a schema change. The dead-letter reason is
//! [`FailureReason`](crate::FailureReason), shared with `send` and the
//! alerts through `signal-model`.

use std::fmt;
use std::str::FromStr;

/// Where a signal is in its life.
///
/// ```text
/// Pending --claim--> InFlight --Delivered--> Delivered
///    ^                 |  |
///    +--Retry/Defer----+  +--DeadLetter--> DeadLettered
///    +--Release--------+                        |
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
    /// Given up on, with a [`FailureReason`](crate::FailureReason).
    /// Terminal until replayed.
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
    ///
    /// ```
    /// assert_eq!(signal_outbox::State::InFlight.as_str(), "in_flight");
    /// ```
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

    /// ```
    /// use signal_outbox::State;
    /// assert_eq!("dead_lettered".parse::<State>(), Ok(State::DeadLettered));
    /// assert!("inflight".parse::<State>().is_err());
    /// ```
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        State::ALL
            .into_iter()
            .find(|state| state.as_str() == s)
            .ok_or_else(|| ParseStateError {
                input: s.chars().filter(|c| !c.is_control()).take(40).collect(),
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
}
