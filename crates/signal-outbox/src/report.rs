//! Read-only views for operators and metrics: counts by state and row summaries.

use std::time::Duration;

use crate::state::{DeadReason, State};
use crate::time::UnixMillis;

/// Outbox depth by state, for `outbox stats` and the metrics exporter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct OutboxStats {
    /// Rows waiting for their next attempt.
    pub pending: u64,
    /// Rows claimed by a worker (including ones whose lease has expired and
    /// that will be claimed again).
    pub in_flight: u64,
    /// Rows delivered.
    pub delivered: u64,
    /// Rows given up on.
    pub dead_lettered: u64,
    /// How long the oldest pending signal has been in the outbox (since it
    /// was enqueued), or `None` when nothing is pending. A growing value
    /// means delivery is not keeping up or is failing.
    pub oldest_pending_age: Option<Duration>,
}

impl OutboxStats {
    /// All rows, whatever their state.
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
    pub next_attempt_at: UnixMillis,
    /// The worker holding the lease, while in flight.
    pub lease_owner: Option<String>,
    /// When the lease expires, while in flight.
    pub lease_until: Option<UnixMillis>,
    /// The last delivery error, if any attempt failed.
    pub last_error: Option<String>,
    /// Why it was dead-lettered, while dead-lettered.
    pub dead_reason: Option<DeadReason>,
    /// When it was first enqueued.
    pub enqueued_at: UnixMillis,
    /// When the row last changed.
    pub updated_at: UnixMillis,
    /// When it was delivered, once delivered.
    pub delivered_at: Option<UnixMillis>,
    /// Length of the body in bytes.
    pub body_len: u64,
    /// Lowercase hex SHA-256 of the body.
    pub body_hash: String,
}
