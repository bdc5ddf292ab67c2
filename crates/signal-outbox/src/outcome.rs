//! The result of one delivery, as a value, for recording several at once.

use crate::state::DeadReason;
use crate::time::UnixMillis;

/// What happened to one claimed signal. [`crate::Outbox::record_outcomes`]
/// records a batch of these in one transaction; each variant does what the
/// matching single-row method does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome<'a> {
    /// Delivered; see [`crate::Outbox::mark_delivered`].
    Delivered {
        /// The signal id.
        id: &'a str,
        /// Attempts made, the successful one included.
        attempts: u32,
    },
    /// Failed, try again later; see [`crate::Outbox::reschedule`].
    Retry {
        /// The signal id.
        id: &'a str,
        /// Attempts made so far.
        attempts: u32,
        /// When the next attempt is due.
        next_attempt_at: UnixMillis,
        /// Why this attempt failed.
        last_error: &'a str,
    },
    /// Given up; see [`crate::Outbox::dead_letter`].
    DeadLetter {
        /// The signal id.
        id: &'a str,
        /// Attempts made.
        attempts: u32,
        /// Why it is given up on.
        reason: DeadReason,
        /// The last failure.
        last_error: &'a str,
    },
    /// Handed back unattempted; see [`crate::Outbox::release`].
    Release {
        /// The signal id.
        id: &'a str,
    },
}

impl Outcome<'_> {
    /// The signal id this outcome is for.
    #[must_use]
    pub const fn id(&self) -> &str {
        match self {
            Outcome::Delivered { id, .. }
            | Outcome::Retry { id, .. }
            | Outcome::DeadLetter { id, .. }
            | Outcome::Release { id } => id,
        }
    }
}
