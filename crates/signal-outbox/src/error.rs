//! The one error type of the contract, with no backend type inside.
//!
//! Every variant names what went wrong in terms an operator can act on (the
//! outbox as [`describe`](crate::Outbox::describe) shows it, the signal id,
//! the state the row was really in) and, where there is something to do,
//! what to do. Backend details (SQLite codes, PostgreSQL messages) are kept
//! as text, so callers never depend on a driver crate. A `target` is what an
//! operator recognises: a path, or a URL with its password redacted.

use crate::state::State;

/// Everything that can go wrong in an outbox.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OutboxError {
    /// The outbox could not be opened or prepared at start-up (bad path or
    /// URL, a directory, a missing parent, not an outbox, no permission).
    #[error("cannot open the signal outbox at {target}: {reason}; {hint}")]
    Open {
        /// The path or (redacted) URL.
        target: String,
        /// What is wrong with it.
        reason: String,
        /// What the operator should do about it.
        hint: String,
    },

    /// The storage is damaged, or is not an outbox database at all.
    #[error("the signal outbox at {target} is corrupted or unreadable ({detail}); {hint}")]
    Corrupt {
        /// The path or (redacted) URL.
        target: String,
        /// What the backend reported.
        detail: String,
        /// What the operator should do about it.
        hint: String,
    },

    /// The disk (or the database's quota) is full: the change was refused.
    #[error(
        "the signal outbox at {target} is full ({detail}); free disk space; \
         the signals in this batch were NOT stored"
    )]
    Full {
        /// The path or (redacted) URL.
        target: String,
        /// What the backend reported.
        detail: String,
    },

    /// Reading or writing the storage failed: the change was not stored.
    #[error(
        "I/O error on the signal outbox at {target} ({detail}); check the disk and the \
         filesystem; the change was NOT stored"
    )]
    Io {
        /// The path or (redacted) URL.
        target: String,
        /// What the backend reported.
        detail: String,
    },

    /// The storage is busy or unreachable for now (locked beyond the busy
    /// timeout, connection lost): nothing was changed, and trying again
    /// later may work ([`OutboxError::is_retryable`]).
    #[error(
        "the signal outbox at {target} is unavailable for now ({detail}); nothing was changed, try again"
    )]
    Unavailable {
        /// The path or (redacted) URL.
        target: String,
        /// What the backend reported.
        detail: String,
    },

    /// The storage was written by a newer build, with a schema this build
    /// does not know: refused rather than misread.
    #[error(
        "the signal outbox at {target} was written by a newer version (schema {found}, \
         this build understands up to {supported}); {hint}"
    )]
    SchemaTooNew {
        /// The path or (redacted) URL.
        target: String,
        /// The schema version found.
        found: i64,
        /// The newest schema version this build knows.
        supported: i64,
        /// What the operator should do about it.
        hint: String,
    },

    /// The storage's schema was upgraded by a newer build that declared this
    /// build too old to use it (a contracting migration: a column this
    /// build still writes was dropped or changed). Refused rather than
    /// misused. Schemas that only expanded keep older builds working, so
    /// a rolling upgrade runs old and new builds side by side.
    #[error(
        "the signal outbox at {target} needs signal-delivery {required} or newer \
         (this build is {running}); {hint}"
    )]
    BinaryTooOld {
        /// The path or (redacted) URL.
        target: String,
        /// The oldest binary version the schema allows.
        required: String,
        /// This build's version.
        running: String,
        /// What the operator should do about it.
        hint: String,
    },

    /// A signal with this id is already in the outbox with a different body.
    ///
    /// `enqueue` reports this per item as
    /// [`crate::EnqueueOutcome::Conflict`]; this variant is what
    /// [`crate::EnqueueOutcome::into_result`] turns it into.
    #[error(
        "signal {id} is already in the outbox with a different body; \
         a webhook-id must identify one payload (receivers deduplicate on it)"
    )]
    Conflict {
        /// The signal id (`webhook-id`).
        id: String,
    },

    /// No row with this id exists.
    #[error("no signal with id {id} in the outbox")]
    UnknownId {
        /// The signal id that was asked for.
        id: String,
    },

    /// The row exists but is in a state that does not allow the operation
    /// (for example replaying a signal that is not dead-lettered).
    #[error("signal {id} is {state}, but this operation needs it to be {expected}")]
    WrongState {
        /// The signal id.
        id: String,
        /// The state the row is actually in.
        state: State,
        /// The state the operation needs.
        expected: State,
    },

    /// The claim is no longer held: the row was claimed again (a new
    /// token), or it already has an outcome. The caller must drop its
    /// result; the current holder records the outcome.
    #[error(
        "the claim on signal {id} is no longer held (it is now {state}{}); \
         this change was not recorded",
        owner.as_deref().map(|o| format!(", leased by {o}")).unwrap_or_default()
    )]
    Fenced {
        /// The signal id.
        id: String,
        /// The state the row is in now.
        state: State,
        /// The worker now holding the row, if it is in flight.
        owner: Option<String>,
    },

    /// The alert sender's lease is no longer held (it expired and another
    /// worker took it): the alert read or update was refused.
    #[error(
        "this worker no longer holds the alert sender lease{}; the alert change was not \
         recorded (acquire the lease again before sending)",
        holder.as_deref().map(|h| format!(" (now held by {h})")).unwrap_or_default()
    )]
    SenderFenced {
        /// The worker holding it now, if any.
        holder: Option<String>,
    },

    /// An argument was invalid (an empty id or worker name, a zero lease).
    #[error("invalid argument: {reason}")]
    InvalidInput {
        /// What is wrong, and what is allowed.
        reason: String,
    },

    /// A bug or an impossible state inside the backend.
    #[error("internal outbox error: {detail}")]
    Internal {
        /// What happened.
        detail: String,
    },
}

impl OutboxError {
    /// True when the same call may succeed later without anyone changing
    /// anything (the storage was busy or unreachable).
    ///
    /// ```
    /// use signal_outbox::OutboxError;
    /// let busy = OutboxError::Unavailable { target: "o.db".into(), detail: "database is locked".into() };
    /// assert!(busy.is_retryable());
    /// assert!(!OutboxError::UnknownId { id: "a".into() }.is_retryable());
    /// ```
    #[must_use]
    pub fn is_retryable(&self) -> bool {
        matches!(self, OutboxError::Unavailable { .. })
    }

    /// True for the per-row refusals of a batch (fenced or unknown row): the
    /// row was left unchanged and the rest of the batch was applied.
    #[must_use]
    pub fn is_not_held(&self) -> bool {
        matches!(
            self,
            OutboxError::Fenced { .. } | OutboxError::UnknownId { .. }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_target_and_what_to_do() {
        let full = OutboxError::Full {
            target: "/var/lib/o.db".into(),
            detail: "database or disk is full".into(),
        };
        let text = full.to_string();
        assert!(
            text.contains("/var/lib/o.db") && text.contains("NOT stored"),
            "{text}"
        );
        let fenced = OutboxError::Fenced {
            id: "s".into(),
            state: State::InFlight,
            owner: Some("w2".into()),
        };
        assert!(fenced.to_string().contains("leased by w2"), "{fenced}");
        assert!(fenced.is_not_held());
        let sender = OutboxError::SenderFenced { holder: None };
        assert!(!sender.to_string().contains("held by"), "{sender}");
    }
}
