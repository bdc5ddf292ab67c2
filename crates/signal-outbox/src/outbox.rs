//! The storage-agnostic outbox interface.
//!
//! The worker and the operator commands program against this trait, so a
//! server-backed implementation (Postgres with `FOR UPDATE SKIP LOCKED`, for
//! several hosts) could be added without touching them. [`crate::SqliteOutbox`]
//! is the default implementation.
//!
//! The methods are synchronous: the SQLite implementation does blocking file
//! I/O (and an fsync per commit), so async callers run them in
//! `tokio::task::spawn_blocking`. `Send + Sync` lets one instance be shared
//! in an `Arc` between those blocking tasks.

use std::time::Duration;

use crate::error::OutboxError;
use crate::outcome::Outcome;
use crate::report::{OutboxStats, RowSummary};
use crate::signal::{Claimed, EnqueueOutcome, NewSignal};
use crate::state::{DeadReason, State};
use crate::time::UnixMillis;

/// A durable outbox of signals: persist first, deliver, record the outcome.
///
/// Every method that changes a row does so in one transaction: either the
/// whole change is durable when it returns `Ok`, or nothing changed.
///
/// The outcome methods ([`mark_delivered`](Outbox::mark_delivered),
/// [`reschedule`](Outbox::reschedule), [`dead_letter`](Outbox::dead_letter),
/// [`release`](Outbox::release), [`extend_lease`](Outbox::extend_lease)) only
/// act on a row that is in flight *and* leased by the calling worker;
/// otherwise they fail with [`OutboxError::LeaseLost`] (or
/// [`OutboxError::UnknownId`]) and change nothing. A worker that stalled past
/// its lease therefore cannot overwrite the outcome of the worker that took
/// the row over. A worker whose lease expired but whose row nobody has
/// claimed yet may still record its outcome: it is still the only holder.
pub trait Outbox: Send + Sync {
    /// Stores a batch of signals in one transaction (group commit: one
    /// durable sync for the whole batch), returning one outcome per item in
    /// order. The outcomes are returned only after the commit, so a producer
    /// may be acknowledged as soon as this returns.
    ///
    /// New rows are pending and due at `now` with zero attempts. An id that
    /// appears twice in one batch is handled as if the items came one after
    /// the other.
    ///
    /// # Errors
    /// [`OutboxError::InvalidInput`] if an id is empty (nothing is stored);
    /// a storage error rolls the whole batch back.
    fn enqueue_batch(
        &self,
        items: &[NewSignal<'_>],
        now: UnixMillis,
    ) -> Result<Vec<EnqueueOutcome>, OutboxError>;

    /// Stores one signal; see [`enqueue_batch`](Outbox::enqueue_batch). Each
    /// call is its own commit, so prefer batches for throughput.
    ///
    /// # Errors
    /// As for [`enqueue_batch`](Outbox::enqueue_batch).
    fn enqueue(
        &self,
        signal: NewSignal<'_>,
        now: UnixMillis,
    ) -> Result<EnqueueOutcome, OutboxError> {
        let outcomes = self.enqueue_batch(std::slice::from_ref(&signal), now)?;
        outcomes
            .into_iter()
            .next()
            .ok_or_else(|| OutboxError::InvalidInput {
                reason: "enqueue_batch returned no outcome for one signal".to_owned(),
            })
    }

    /// Atomically claims up to `limit` due rows for `worker`, leasing them
    /// until `now + lease`, oldest due first.
    ///
    /// Due means pending with `next_attempt_at <= now`, or in flight with an
    /// expired lease (`lease_until <= now`: its worker died or stalled).
    ///
    /// `worker` must be unique to one live worker instance (for example
    /// `host:pid:start-time`): leases are matched by name, so a stalled old
    /// process sharing a name with its replacement could record outcomes for
    /// the replacement's rows.
    ///
    /// # Errors
    /// [`OutboxError::InvalidInput`] if `worker` is empty; storage errors.
    fn claim_due(
        &self,
        worker: &str,
        now: UnixMillis,
        limit: usize,
        lease: Duration,
    ) -> Result<Vec<Claimed>, OutboxError>;

    /// Records a successful delivery. `attempts` counts every attempt made,
    /// the successful one included.
    ///
    /// # Errors
    /// [`OutboxError::LeaseLost`] if `worker` does not hold the row,
    /// [`OutboxError::UnknownId`] if there is no such row.
    fn mark_delivered(
        &self,
        id: &str,
        worker: &str,
        attempts: u32,
        now: UnixMillis,
    ) -> Result<(), OutboxError>;

    /// Records a failed attempt and schedules the next one: the row goes back
    /// to pending, due at `next_attempt_at`, with `attempts` and `last_error`
    /// stored, so a restarted worker continues the same retry schedule.
    ///
    /// # Errors
    /// As for [`mark_delivered`](Outbox::mark_delivered).
    fn reschedule(
        &self,
        id: &str,
        worker: &str,
        attempts: u32,
        next_attempt_at: UnixMillis,
        last_error: &str,
        now: UnixMillis,
    ) -> Result<(), OutboxError>;

    /// Gives up on a signal: it becomes dead-lettered with `reason`,
    /// `last_error` and `attempts` recorded, until an operator replays it.
    ///
    /// # Errors
    /// As for [`mark_delivered`](Outbox::mark_delivered).
    fn dead_letter(
        &self,
        id: &str,
        worker: &str,
        attempts: u32,
        reason: DeadReason,
        last_error: &str,
        now: UnixMillis,
    ) -> Result<(), OutboxError>;

    /// Hands a claimed row back without counting an attempt (graceful
    /// shutdown): it becomes pending and due again at its stored time.
    ///
    /// # Errors
    /// As for [`mark_delivered`](Outbox::mark_delivered).
    fn release(&self, id: &str, worker: &str, now: UnixMillis) -> Result<(), OutboxError>;

    /// Records the outcomes of several deliveries by one worker in one
    /// transaction: group commit for outcomes, so a worker finishing many
    /// deliveries pays one fsync instead of one per signal.
    ///
    /// Each outcome is checked like its single-row method. A row the worker
    /// no longer holds gets its own `Err` ([`OutboxError::LeaseLost`] or
    /// [`OutboxError::UnknownId`]) in the returned vector, in input order,
    /// and is left unchanged; the other outcomes are still recorded.
    ///
    /// # Errors
    /// The outer error is a storage failure: then nothing was recorded.
    fn record_outcomes(
        &self,
        worker: &str,
        outcomes: &[Outcome<'_>],
        now: UnixMillis,
    ) -> Result<Vec<Result<(), OutboxError>>, OutboxError>;

    /// Hands back every row `worker` holds (shutdown after the in-flight
    /// deliveries were abandoned). Returns how many rows were released.
    ///
    /// # Errors
    /// Storage errors.
    fn release_all(&self, worker: &str, now: UnixMillis) -> Result<u64, OutboxError>;

    /// Extends the worker's lease on a row to `now + lease` (a slow delivery
    /// that is still making progress). Returns the new `lease_until`.
    ///
    /// # Errors
    /// As for [`mark_delivered`](Outbox::mark_delivered).
    fn extend_lease(
        &self,
        id: &str,
        worker: &str,
        now: UnixMillis,
        lease: Duration,
    ) -> Result<UnixMillis, OutboxError>;

    /// Deletes up to `limit` rows delivered before `delivered_before`,
    /// oldest first, and returns how many went. Dead-lettered rows are never
    /// purged: they wait for an operator.
    ///
    /// Delivered rows are what makes a producer's retry of an old signal an
    /// idempotent [`EnqueueOutcome::AlreadyPresent`]; once purged, the same
    /// id would be inserted and delivered again. Keep them longer than any
    /// producer may retry. The limit keeps each delete transaction short.
    ///
    /// # Errors
    /// Storage errors.
    fn purge_delivered(
        &self,
        delivered_before: UnixMillis,
        limit: usize,
    ) -> Result<u64, OutboxError>;

    /// Counts rows by state and measures the oldest pending signal's age.
    ///
    /// # Errors
    /// Storage errors.
    fn stats(&self, now: UnixMillis) -> Result<OutboxStats, OutboxError>;

    /// Up to `limit` rows in `state`, oldest enqueued first.
    ///
    /// # Errors
    /// Storage errors.
    fn list(&self, state: State, limit: usize) -> Result<Vec<RowSummary>, OutboxError>;

    /// One row by id, or `None`.
    ///
    /// # Errors
    /// Storage errors.
    fn get(&self, id: &str) -> Result<Option<RowSummary>, OutboxError>;

    /// Sends a dead-lettered signal round again after its cause was fixed:
    /// pending, due at `now`, attempts and claims reset to 0, the dead reason
    /// cleared (the last error is kept until the next attempt replaces it).
    ///
    /// # Errors
    /// [`OutboxError::UnknownId`] for an unknown id,
    /// [`OutboxError::WrongState`] if the row is not dead-lettered.
    fn replay(&self, id: &str, now: UnixMillis) -> Result<(), OutboxError>;
}
