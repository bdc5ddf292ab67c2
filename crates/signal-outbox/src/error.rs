//! The one error type of this crate.
//!
//! Every variant names what went wrong in terms an operator can act on: the
//! database path, the signal id, the state the row was really in. Messages
//! for start-up failures also say what to do next, because they are what an
//! operator reads at 3 a.m. when the worker refuses to start.

use std::path::PathBuf;

use crate::state::State;

/// Everything that can go wrong in the outbox.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OutboxError {
    /// The database could not be opened or prepared at start-up (bad path,
    /// a directory, a missing parent, a newer schema, not an outbox file).
    #[error("cannot open the signal outbox at {}: {reason}; {hint}", path.display())]
    Open {
        /// The path that was given.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
        /// What the operator should do about it.
        hint: &'static str,
    },

    /// The file is not a SQLite database, or SQLite found corruption in it.
    #[error(
        "the signal outbox at {} is corrupted or is not a SQLite database ({detail}); \
         stop every process using it, then restore it from a backup or move it aside \
         (and its -wal and -shm files) so an empty outbox is created; signals still \
         pending in the damaged file must be re-enqueued",
        path.display()
    )]
    Corrupt {
        /// The database path.
        path: PathBuf,
        /// What SQLite (or this crate, for an impossible value) reported.
        detail: String,
    },

    /// A signal with this id is already in the outbox with a different body.
    ///
    /// [`crate::Outbox::enqueue_batch`] reports this per item as
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

    /// The worker no longer holds the lease on this row: it expired and
    /// another worker claimed the row, or the row already has an outcome.
    /// The worker must drop its result; the new holder records the outcome.
    #[error(
        "worker {worker} no longer holds the lease on signal {id} \
         (it is now {state}{}); its outcome was not recorded",
        owner.as_deref().map(|o| format!(", leased by {o}")).unwrap_or_default()
    )]
    LeaseLost {
        /// The signal id.
        id: String,
        /// The worker that tried to record an outcome.
        worker: String,
        /// The state the row is in now.
        state: State,
        /// The worker now holding the lease, if the row is in flight.
        owner: Option<String>,
    },

    /// An argument was invalid (for example an empty signal id or worker name).
    #[error("invalid argument: {reason}")]
    InvalidInput {
        /// What is wrong with the argument.
        reason: String,
    },

    /// Any other SQLite failure (disk full, I/O error, busy beyond the timeout).
    #[error("signal outbox SQLite error: {0}")]
    Sqlite(#[from] rusqlite::Error),
}
