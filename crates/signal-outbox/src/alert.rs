//! Alerts as stored rows, the sender's lease, and the failure ledger.
//!
//! Every alert that becomes due is stored in the same transaction as the
//! state change that caused it (a dead letter, a conflict at enqueue, an
//! invalid line, a recovery), so a crash between the change and the Telegram
//! message delays the alert and never loses it. One process at a time sends
//! them: it holds the sender lease ([`SenderLease`]), and every read or
//! update of the alert rows is fenced by that lease's token.
//!
//! The payload is opaque JSON owned by the alert sender (`ops-alerts`): the
//! outbox stores it and hands it back. Only two payloads are built by the
//! backends themselves, inside their transactions: the conflict alert
//! ([`conflict_payload`]) and the recovered alert ([`recovered_payload`]).

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use crate::signal::ClaimToken;
use crate::time::Timestamp;

/// The group key of the conflict alerts stored by `enqueue`.
pub const CONFLICT_GROUP: &str = "enqueue:conflict";

/// The group key of the recovered alert stored when an outage ends.
pub const RECOVERED_GROUP: &str = "post_signal:recovered";

macro_rules! text_enum {
    ($(#[$meta:meta])* $name:ident, $error:ident, $what:literal, { $($(#[$vmeta:meta])* $variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vmeta])* $variant),+
        }

        impl $name {
            /// Every value.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The stored text form.
            #[must_use]
            pub const fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        #[doc = concat!("A text that is not one of the [`", stringify!($name), "`] names.")]
        #[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
        #[error("unknown {} `{input}`; expected one of: {}", $what, [$($text),+].join(", "))]
        pub struct $error {
            /// The text that was given (bounded, control characters removed).
            pub input: String,
        }

        impl FromStr for $name {
            type Err = $error;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                $name::ALL
                    .iter()
                    .copied()
                    .find(|value| value.as_str() == s)
                    .ok_or_else(|| $error {
                        input: s.chars().filter(|c| !c.is_control()).take(40).collect(),
                    })
            }
        }
    };
}

text_enum!(
    /// What an alert is about.
    ///
    /// ```
    /// use signal_outbox::AlertKind;
    /// assert_eq!("recovered".parse::<AlertKind>(), Ok(AlertKind::Recovered));
    /// assert!("nope".parse::<AlertKind>().unwrap_err().to_string().contains("signal_failure"));
    /// ```
    AlertKind, ParseAlertKindError, "alert kind", {
        /// A signal was dead-lettered.
        SignalFailure => "signal_failure",
        /// An input line was not a valid signal.
        InvalidLine => "invalid_line",
        /// An id came again with a different body.
        Conflict => "conflict",
        /// Delivery works again after an outage.
        Recovered => "recovered",
        /// A summary of folded alerts (stored as sent).
        Summary => "summary",
        /// Anything else worth telling the owner.
        Notice => "notice",
    }
);

text_enum!(
    /// Where a stored alert is in its life.
    ///
    /// ```text
    /// Pending --Sent--> Sent
    ///    |  \--Folded--> Folded --Summarized--> Summarized
    ///    +--Retry (attempts+1, not_before later)
    ///    +--Failed (permanent) --> Failed
    /// ```
    AlertState, ParseAlertStateError, "alert state", {
        /// Waiting to be sent (from `not_before` on).
        Pending => "pending",
        /// Sent to Telegram.
        Sent => "sent",
        /// Counted into its group's open summary instead of being sent alone.
        Folded => "folded",
        /// Folded, and the summary that counts it was sent.
        Summarized => "summarized",
        /// Could not be sent, permanently (for example: chat not found).
        Failed => "failed",
    }
);

/// An alert to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAlert {
    /// What it is about.
    pub kind: AlertKind,
    /// The grouping key (for example `post_signal:exhausted:http_503`):
    /// alerts of one group are folded into summaries. Never a signal id, so
    /// a hundred signals failing the same way make one group.
    pub group_key: String,
    /// The signal it is about, if one.
    pub signal_id: Option<String>,
    /// Opaque JSON for the sender: everything needed to format it later.
    pub payload: String,
}

/// The id of a stored alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AlertId(pub i64);

/// A stored alert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredAlert {
    /// Its id (increasing in creation order).
    pub id: AlertId,
    /// What it is about.
    pub kind: AlertKind,
    /// The grouping key.
    pub group_key: String,
    /// The signal it is about, if one.
    pub signal_id: Option<String>,
    /// The sender's JSON.
    pub payload: String,
    /// When it was stored (backend clock).
    pub created_at: Timestamp,
    /// Where it is in its life.
    pub state: AlertState,
    /// Delivery failures in a row when it was stored (the ledger's
    /// `consecutive_failures`), for CRITICAL escalation across restarts.
    pub consecutive: u32,
    /// Failed sending attempts so far.
    pub attempts: u32,
    /// Not sent before this time (set by [`AlertUpdate::Retry`]).
    pub not_before: Timestamp,
    /// When it was sent.
    pub sent_at: Option<Timestamp>,
    /// Telegram's `message_id` of the sent message, so it can be edited.
    pub message_id: Option<i64>,
    /// The last sending error.
    pub last_error: Option<String>,
    /// For a summarized alert: the summary row that counted it.
    pub summary_of: Option<AlertId>,
}

/// The right to send alerts, held by one worker at a time until `until`.
///
/// Renew it by calling `AlertStore::acquire_sender` again before `until`:
/// the token stays the same while the lease is held without a gap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SenderLease {
    /// Fences every alert read and update: refused once another worker took
    /// the lease over.
    pub token: ClaimToken,
    /// When the lease runs out unless renewed (backend clock).
    pub until: Timestamp,
    /// The backend's time when it was granted.
    pub now: Timestamp,
}

/// A change to stored alerts, applied by the lease holder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AlertUpdate {
    /// Sent (`message_id` from Telegram, when it gave one).
    Sent {
        /// The alert.
        id: AlertId,
        /// Telegram's message id.
        message_id: Option<i64>,
    },
    /// Counted into its group's open summary instead of being sent alone.
    Folded {
        /// The alert.
        id: AlertId,
    },
    /// A summary was sent: it is stored as a sent alert, and every alert in
    /// `folded` becomes summarized with `summary_of` set to it.
    Summarized {
        /// The summary that was sent.
        summary: NewAlert,
        /// The folded alerts it counts.
        folded: Vec<AlertId>,
        /// Telegram's message id.
        message_id: Option<i64>,
    },
    /// A transient sending failure: try again after `delay`.
    Retry {
        /// The alert.
        id: AlertId,
        /// From the backend's now to the next try.
        delay: Duration,
        /// What went wrong (no secret in it: the caller redacts).
        error: String,
    },
    /// A permanent sending failure (chat not found, bot blocked): the alert
    /// is given up on; the caller logs it. Accepted for a pending alert and
    /// for a folded one (a summary refused for good fails what it folded).
    Failed {
        /// The alert.
        id: AlertId,
        /// What went wrong.
        error: String,
    },
}

/// One alert group as the sender needs it to decide: send, or fold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupState {
    /// The grouping key.
    pub group_key: String,
    /// The latest send of this group within the asked window, if any.
    pub last_sent_at: Option<Timestamp>,
    /// Every send of this group within the asked window, oldest first: a
    /// sender taking the lease over rebuilds the per-chat pace from these.
    pub recent_sends: Vec<Timestamp>,
    /// The folded alerts not yet counted in a sent summary, oldest first,
    /// whole: a sender taking the lease over after a crash must be able to
    /// name every id its summary counts, not only count them.
    pub folded: Vec<StoredAlert>,
    /// When the oldest of them was stored.
    pub oldest_folded_at: Option<Timestamp>,
}

/// The failure ledger: what escalation and the recovered message need,
/// kept with the rows so it survives restarts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Ledger {
    /// Dead letters since the last delivery.
    pub consecutive_failures: u32,
    /// The open outage, if the server or the network is failing.
    pub outage: Option<Outage>,
}

/// An outage: one or more dead letters of the server or the network
/// (exhausted, deadline, budget, connect errors, timeouts, 5xx) with no
/// delivery since.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outage {
    /// When its first failure was recorded.
    pub started_at: Timestamp,
    /// Signals dead-lettered during it.
    pub failed: u64,
}

/// The payload of the conflict alert a backend stores when `enqueue` finds
/// an id already taken by another body.
///
/// ```
/// let payload = signal_outbox::conflict_payload("sig-\"1\"", Some(4));
/// let value: serde_json::Value = serde_json::from_str(&payload).unwrap();
/// assert_eq!(value, serde_json::json!({"kind": "conflict", "signal_id": "sig-\"1\"", "line": 4}));
/// ```
#[must_use]
pub fn conflict_payload(signal_id: &str, line: Option<u64>) -> String {
    serde_json::json!({"kind": "conflict", "signal_id": signal_id, "line": line}).to_string()
}

/// The payload of the recovered alert a backend stores when a delivery
/// closes an outage.
///
/// ```
/// let payload = signal_outbox::recovered_payload(1_000, 61_000, 3);
/// let value: serde_json::Value = serde_json::from_str(&payload).unwrap();
/// assert_eq!(value["kind"], "recovered");
/// assert_eq!((value["started_at"].as_i64(), value["failed"].as_u64()), (Some(1_000), Some(3)));
/// ```
#[must_use]
pub fn recovered_payload(started_at: Timestamp, ended_at: Timestamp, failed: u64) -> String {
    serde_json::json!({
        "kind": "recovered",
        "started_at": started_at,
        "ended_at": ended_at,
        "failed": failed,
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_forms_round_trip() {
        for kind in AlertKind::ALL {
            assert_eq!(kind.as_str().parse::<AlertKind>(), Ok(*kind));
        }
        for state in AlertState::ALL {
            assert_eq!(state.to_string().parse::<AlertState>(), Ok(*state));
        }
        let err = "\u{1b}bogus".parse::<AlertState>().unwrap_err();
        assert_eq!(err.input, "bogus");
        assert!(err.to_string().contains("summarized"), "{err}");
    }
}
