//! Moving signal rows between backends: `export` pages them out with their
//! state, attempts and schedule; `import` recreates the missing ones.
//!
//! # Clocks
//!
//! Two backends may not share a clock (a host's for SQLite, the database's
//! for PostgreSQL). Historical times (enqueued, delivered, dead-lettered,
//! attempts) are kept as they were: they are facts. The schedule is not a
//! fact but a promise about the future, so it travels as the delay that was
//! left at export ([`ExportedSignal::due_in`], against the exporting
//! backend's now) and is re-based on the importing backend's now. A clock
//! skew between the two then neither fires a backoff early nor parks a row
//! for the size of the skew.
//!
//! # In-flight rows
//!
//! A lease means nothing on another backend, so an in-flight row is exported
//! as pending and due now, its lease dropped
//! ([`ExportedSignal::was_in_flight`] says it was). If a worker still holds
//! that lease and delivers, the signal is sent twice (once by that worker,
//! once from the new backend): **stop the workers before exporting**.
//! Receivers deduplicate on the `webhook-id`, which is the same both times.

use std::time::Duration;

use bytes::Bytes;

use crate::FailureReason;
use crate::error::OutboxError;
use crate::report::{SignalDetail, StoredAttempt};
use crate::state::State;
use crate::time::{Timestamp, elapsed_between};

/// A page of [`OutboxAdmin::export`](crate::OutboxAdmin::export): rows
/// ordered by id (bytewise), strictly after `after`.
///
/// ```
/// use signal_outbox::{ExportRequest, State};
/// let first = ExportRequest::new(500).states(vec![State::Pending, State::DeadLettered]);
/// let next = first.clone().after("sig-0499");
/// assert_eq!(next.after.as_deref(), Some("sig-0499"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ExportRequest {
    /// Only rows stored in one of these states; every state when empty.
    /// `InFlight` selects the rows in flight (exported as pending).
    pub states: Vec<State>,
    /// Only ids after this one (the previous page's last id).
    pub after: Option<String>,
    /// Most rows returned; 0 returns none.
    pub limit: usize,
}

impl ExportRequest {
    /// Every row, at most `limit` of them.
    #[must_use]
    pub fn new(limit: usize) -> ExportRequest {
        ExportRequest {
            limit,
            ..ExportRequest::default()
        }
    }

    /// Only rows in these states.
    #[must_use]
    pub fn states(mut self, states: Vec<State>) -> ExportRequest {
        self.states = states;
        self
    }

    /// Only rows after the id `after`.
    #[must_use]
    pub fn after(mut self, after: impl Into<String>) -> ExportRequest {
        self.after = Some(after.into());
        self
    }
}

/// One signal row with everything needed to recreate it on another backend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportedSignal {
    /// The signal id (`webhook-id`).
    pub id: String,
    /// The exact body bytes.
    pub body: Bytes,
    /// Lowercase hex SHA-256 of the body, as stored; `import` checks it.
    pub body_hash: String,
    /// Pending, delivered or dead-lettered: never in flight (see the module
    /// docs).
    pub state: State,
    /// Delivery attempts made so far.
    pub attempts: u32,
    /// Times the row has been claimed.
    pub claims: u32,
    /// The delay left until the next attempt, against the exporting
    /// backend's now (zero when due, and for terminal rows); `import` adds
    /// it to its own now.
    pub due_in: Duration,
    /// The next attempt time on the exporting backend's clock (for people
    /// reading the export; `import` uses [`due_in`](Self::due_in)).
    pub next_attempt_at: Timestamp,
    /// When it was first enqueued.
    pub enqueued_at: Timestamp,
    /// When the row last changed.
    pub updated_at: Timestamp,
    /// The last delivery error.
    pub last_error: Option<String>,
    /// Why it was dead-lettered (exactly when dead-lettered).
    pub dead_reason: Option<FailureReason>,
    /// When it was dead-lettered (exactly when dead-lettered).
    pub dead_at: Option<Timestamp>,
    /// When it was delivered (exactly when delivered).
    pub delivered_at: Option<Timestamp>,
    /// The row was in flight at export: its lease was dropped.
    pub was_in_flight: bool,
    /// The attempt log, oldest first.
    pub attempt_log: Vec<StoredAttempt>,
}

impl ExportedSignal {
    /// The export form of a stored row, read at the backend's `now`: an
    /// in-flight row becomes pending and due now; the schedule becomes the
    /// delay left.
    ///
    /// ```
    /// use signal_outbox::{ExportedSignal, RowSummary, SignalDetail, State};
    /// let row = RowSummary {
    ///     id: "sig-1".into(), state: State::InFlight, attempts: 1, claims: 2,
    ///     next_attempt_at: 5_000, lease_owner: Some("w".into()), lease_until: Some(9_000),
    ///     last_error: None, dead_reason: None, dead_at: None, enqueued_at: 1_000,
    ///     updated_at: 4_000, delivered_at: None, body_len: 2, body_hash: "h".into(),
    /// };
    /// let detail = SignalDetail { row, body: "{}".into(), attempts: vec![] };
    /// let exported = ExportedSignal::from_detail(detail, 4_000);
    /// assert_eq!((exported.state, exported.was_in_flight), (State::Pending, true));
    /// assert_eq!(exported.due_in, std::time::Duration::ZERO);
    /// ```
    #[must_use]
    pub fn from_detail(detail: SignalDetail, now: Timestamp) -> ExportedSignal {
        let row = detail.row;
        let was_in_flight = row.state == State::InFlight;
        let (state, due_in) = match row.state {
            State::Pending => (State::Pending, elapsed_between(now, row.next_attempt_at)),
            State::InFlight => (State::Pending, Duration::ZERO),
            terminal => (terminal, Duration::ZERO),
        };
        ExportedSignal {
            id: row.id,
            body: detail.body,
            body_hash: row.body_hash,
            state,
            attempts: row.attempts,
            claims: row.claims,
            due_in,
            next_attempt_at: if was_in_flight {
                now
            } else {
                row.next_attempt_at
            },
            enqueued_at: row.enqueued_at,
            updated_at: row.updated_at,
            last_error: row.last_error,
            dead_reason: row.dead_reason,
            dead_at: row.dead_at,
            delivered_at: row.delivered_at,
            was_in_flight,
            attempt_log: detail.attempts,
        }
    }

    /// Checks that the row is one a backend can store: a non-empty id, not
    /// in flight, the dead-letter fields exactly when dead-lettered, the
    /// delivery time exactly when delivered, attempts numbered from 1 and
    /// statuses between 100 and 999. (The body hash is checked by the
    /// backend, which owns the hash function.)
    ///
    /// # Errors
    /// [`OutboxError::InvalidInput`] naming the id and the field.
    pub fn check(&self) -> Result<(), OutboxError> {
        let invalid = |what: &str| {
            Err(OutboxError::InvalidInput {
                reason: format!("imported signal {:?}: {what}", self.id),
            })
        };
        if self.id.is_empty() {
            return invalid("the id is empty");
        }
        let dead = self.state == State::DeadLettered;
        let delivered = self.state == State::Delivered;
        if self.state == State::InFlight {
            return invalid("state in_flight cannot be imported (export it as pending)");
        }
        if dead != self.dead_reason.is_some() || dead != self.dead_at.is_some() {
            return invalid(
                "dead_reason and dead_at must be set exactly when the state is dead_lettered",
            );
        }
        if delivered != self.delivered_at.is_some() {
            return invalid("delivered_at must be set exactly when the state is delivered");
        }
        for attempt in &self.attempt_log {
            if attempt.attempt == 0 {
                return invalid("an attempt number is 0 (they start at 1)");
            }
            if attempt.status.is_some_and(|s| !(100..=999).contains(&s)) {
                return invalid("an attempt status is outside 100..=999");
            }
        }
        Ok(())
    }
}

/// What [`OutboxAdmin::import`](crate::OutboxAdmin::import) did with one row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ImportOutcome {
    /// Stored with its state, attempts, schedule and attempt log.
    Imported,
    /// The id was already there (a row, or a purged delivered row's
    /// tombstone) with the same body: left as it is.
    Skipped,
    /// The id was already there with another body: refused, nothing
    /// overwritten.
    Conflict,
}

impl ImportOutcome {
    /// The name used in reports: `imported`, `skipped`, `conflict`.
    ///
    /// ```
    /// assert_eq!(signal_outbox::ImportOutcome::Conflict.as_str(), "conflict");
    /// ```
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            ImportOutcome::Imported => "imported",
            ImportOutcome::Skipped => "skipped",
            ImportOutcome::Conflict => "conflict",
        }
    }
}

/// Checks every row of an import batch before anything is stored.
///
/// ```
/// assert!(signal_outbox::check_import(&[]).is_ok());
/// ```
///
/// # Errors
/// The first row's [`ExportedSignal::check`] failure.
pub fn check_import(rows: &[ExportedSignal]) -> Result<(), OutboxError> {
    rows.iter().try_for_each(ExportedSignal::check)
}
