//! What operators read: counts, rows, one signal's history, and filters.

use std::time::Duration;

use bytes::Bytes;

use crate::FailureReason;
use crate::state::State;
use crate::time::Timestamp;

/// Outbox depth by state, for `outbox stats` and the metrics exporter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct OutboxStats {
    /// Rows waiting for their next attempt.
    pub pending: u64,
    /// Rows claimed by a worker (including ones whose lease has expired and
    /// that will be claimed again).
    pub in_flight: u64,
    /// Rows delivered (and not purged yet).
    pub delivered: u64,
    /// Rows given up on.
    pub dead_lettered: u64,
    /// How long the oldest pending signal has been in the outbox (since it
    /// was enqueued, by the backend's clock), or `None` when nothing is
    /// pending. A growing value means delivery is not keeping up or failing.
    pub oldest_pending_age: Option<Duration>,
    /// Alerts stored and not sent yet.
    pub alerts_pending: u64,
}

impl OutboxStats {
    /// All rows, whatever their state.
    ///
    /// ```
    /// let stats = signal_outbox::OutboxStats { pending: 2, delivered: 3, ..Default::default() };
    /// assert_eq!(stats.total(), 5);
    /// ```
    #[must_use]
    pub const fn total(&self) -> u64 {
        self.pending + self.in_flight + self.delivered + self.dead_lettered
    }

    /// The count for one state.
    #[must_use]
    pub const fn count(&self, state: State) -> u64 {
        match state {
            State::Pending => self.pending,
            State::InFlight => self.in_flight,
            State::Delivered => self.delivered,
            State::DeadLettered => self.dead_lettered,
        }
    }
}

/// One row as `outbox list` shows it. The body itself is left out (it can
/// be large); its length and SHA-256 identify it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowSummary {
    /// The signal id (`webhook-id`).
    pub id: String,
    /// The current state.
    pub state: State,
    /// Delivery attempts made so far.
    pub attempts: u32,
    /// Times the row has been claimed (see [`crate::Claimed::claims`]).
    pub claims: u32,
    /// When the next attempt is due (meaningful while pending).
    pub next_attempt_at: Timestamp,
    /// The worker holding the lease, while in flight (for display: the
    /// claim token is what fences).
    pub lease_owner: Option<String>,
    /// When the lease expires, while in flight.
    pub lease_until: Option<Timestamp>,
    /// The last delivery error, if any attempt failed.
    pub last_error: Option<String>,
    /// Why it was dead-lettered, while dead-lettered.
    pub dead_reason: Option<FailureReason>,
    /// When it was dead-lettered, while dead-lettered.
    pub dead_at: Option<Timestamp>,
    /// When it was first enqueued.
    pub enqueued_at: Timestamp,
    /// When the row last changed.
    pub updated_at: Timestamp,
    /// When it was delivered, once delivered.
    pub delivered_at: Option<Timestamp>,
    /// Length of the body in bytes.
    pub body_len: u64,
    /// Lowercase hex SHA-256 of the body.
    pub body_hash: String,
}

/// One signal with its body and its attempt history (`outbox show`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignalDetail {
    /// The row.
    pub row: RowSummary,
    /// The exact body bytes.
    pub body: Bytes,
    /// Every recorded attempt, oldest first (replays included).
    pub attempts: Vec<StoredAttempt>,
}

/// One attempt from the attempt log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredAttempt {
    /// The attempt number (1-based; starts again at 1 after a replay).
    pub attempt: u32,
    /// When it was recorded (backend clock).
    pub at: Timestamp,
    /// The worker that recorded it.
    pub worker: String,
    /// The HTTP status, if an answer came.
    pub status: Option<u16>,
    /// The error class, `None` when it delivered.
    pub error_class: Option<String>,
    /// How long it took.
    pub latency: Duration,
    /// A short redacted excerpt of the answer.
    pub excerpt: Option<String>,
}

/// Where a page of [`ListFilter`] results ended: the last row's
/// `(enqueued_at, id)`. The next page starts strictly after it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Cursor {
    /// The last row's enqueue time.
    pub enqueued_at: Timestamp,
    /// The last row's id.
    pub id: String,
}

impl Cursor {
    /// The cursor after `row`.
    #[must_use]
    pub fn after(row: &RowSummary) -> Cursor {
        Cursor {
            enqueued_at: row.enqueued_at,
            id: row.id.clone(),
        }
    }
}

/// Which rows `OutboxAdmin::list` returns, ordered by `(enqueued_at, id)`
/// (keyset pagination: pass the last row as [`after`](ListFilter::after)).
///
/// `since` (inclusive) and `until` (exclusive) apply to the dead-letter time
/// when `state` is [`State::DeadLettered`], to the enqueue time otherwise.
///
/// ```
/// use signal_outbox::{FailureReason, ListFilter, State};
/// let filter = ListFilter::new(50).state(State::DeadLettered).reason(FailureReason::Exhausted);
/// assert_eq!((filter.limit, filter.state), (50, Some(State::DeadLettered)));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ListFilter {
    /// Only rows in this state.
    pub state: Option<State>,
    /// Only dead-lettered rows with this reason.
    pub reason: Option<FailureReason>,
    /// Only rows at or after this time.
    pub since: Option<Timestamp>,
    /// Only rows before this time.
    pub until: Option<Timestamp>,
    /// Only ids that start with this text.
    pub id_prefix: Option<String>,
    /// Only rows after this one (the previous page's last row).
    pub after: Option<Cursor>,
    /// Most rows returned.
    pub limit: usize,
}

impl ListFilter {
    /// Every row, at most `limit` of them.
    #[must_use]
    pub fn new(limit: usize) -> ListFilter {
        ListFilter {
            limit,
            ..ListFilter::default()
        }
    }

    /// Only rows in `state`.
    #[must_use]
    pub fn state(mut self, state: State) -> ListFilter {
        self.state = Some(state);
        self
    }

    /// Only dead-lettered rows with `reason`.
    #[must_use]
    pub fn reason(mut self, reason: FailureReason) -> ListFilter {
        self.reason = Some(reason);
        self
    }

    /// Only rows after `cursor`.
    #[must_use]
    pub fn after(mut self, cursor: Cursor) -> ListFilter {
        self.after = Some(cursor);
        self
    }
}

/// A page of dead-lettered signals to send round again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplaySelection {
    /// These ids (each reported: replayed, too old, not dead, or unknown).
    Ids(Vec<String>),
    /// Every dead-lettered row with this reason (any when `None`),
    /// dead-lettered at or after `since` and before `until`.
    Dead {
        /// Only this reason.
        reason: Option<FailureReason>,
        /// Dead-lettered at or after this time.
        since: Option<Timestamp>,
        /// Dead-lettered before this time.
        until: Option<Timestamp>,
    },
}

/// A replay: which rows, how old they may be, and who asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplayRequest {
    /// The rows.
    pub selection: ReplaySelection,
    /// Refuse rows enqueued longer ago than this (a stale trading signal is
    /// worse than none); `None` replays them anyway (`--force`).
    pub max_age: Option<Duration>,
    /// Only count: change nothing, write no audit row.
    pub dry_run: bool,
    /// The audit row written in the same transaction (not on a dry run).
    /// Its `result` is replaced by the report's counts as JSON.
    pub audit: NewAuditEntry,
}

/// Longest list of ids a [`ReplayReport`] carries in `too_old`; the count
/// is always exact.
pub const MAX_REPORTED_IDS: usize = 100;

/// What a replay did (or, on a dry run, would do).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ReplayReport {
    /// Dead-lettered rows selected (replayed or too old).
    pub matched: u64,
    /// Rows sent back to pending (on a dry run: that would be).
    pub replayed: u64,
    /// Some of the ids refused as too old (at most [`MAX_REPORTED_IDS`]).
    pub too_old: Vec<String>,
    /// How many were refused as too old.
    pub too_old_count: u64,
    /// Asked-for ids that are not dead-lettered, with their state.
    pub not_dead: Vec<(String, State)>,
    /// Asked-for ids that are not in the outbox.
    pub unknown: Vec<String>,
}

/// What `OutboxAdmin::purge_delivered` removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PurgeReport {
    /// Delivered rows deleted (each kept as a tombstone for duplicate
    /// detection within the dedup window).
    pub purged: u64,
    /// Attempt-log entries deleted with them.
    pub attempts_removed: u64,
}

/// An audit row to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAuditEntry {
    /// Who: the operating-system user, host and process
    /// (`os:alice@host pid 123`), or the bot user.
    pub actor: String,
    /// What: `replay`, ...
    pub action: String,
    /// The arguments, as JSON.
    pub detail: String,
    /// How it ended (for a replay: set by the backend to the counts).
    pub result: String,
}

/// A stored audit row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    /// Increasing id (pagination: pass the last one as `after`).
    pub id: i64,
    /// When (backend clock).
    pub at: Timestamp,
    /// Who.
    pub actor: String,
    /// What.
    pub action: String,
    /// The arguments, as JSON.
    pub detail: String,
    /// How it ended.
    pub result: String,
}
