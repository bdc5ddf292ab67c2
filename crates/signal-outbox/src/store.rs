//! The contract: four capability traits and the umbrella [`Outbox`].
//!
//! Every method is a batch operation, async, and returns a [`BoxFuture`], so
//! that `Arc<dyn Outbox>` works: the command picks the backend from a URL at
//! run time. A backend implements the four capability traits, `Debug`, and
//! [`Outbox`]'s one method; the single-row conveniences of
//! [`OutboxExt`](crate::OutboxExt) then come for free.
//!
//! Every method that changes rows does so in one transaction: when it
//! returns `Ok`, the whole change is durable; when it returns `Err`, nothing
//! changed. Per-row refusals inside a batch (a fenced claim, an unknown id)
//! are reported per item, and the rest of the batch still applies.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use crate::alert::{AlertId, AlertUpdate, GroupState, Ledger, NewAlert, SenderLease, StoredAlert};
use crate::error::OutboxError;
use crate::export::{ExportRequest, ExportedSignal, ImportOutcome};
use crate::outcome::Outcome;
use crate::registry::{WorkerInfo, WorkerSeen};
use crate::report::{
    AuditEntry, ListFilter, NewAuditEntry, OutboxStats, PurgeReport, ReplayReport, ReplayRequest,
    RowSummary, SignalDetail,
};
use crate::signal::{ClaimToken, Claims, EnqueueBatch, EnqueueOutcome};
use crate::time::Timestamp;
use crate::wake::WakeHints;

/// The future every contract method returns: boxed, so the traits are
/// dyn-compatible without a macro crate. The box is one allocation per call,
/// nothing next to the fsync or the network round trip each call makes.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The signal rows: enqueue, claim under a fenced lease, record outcomes.
pub trait SignalStore: Send + Sync {
    /// Stores a batch in one transaction, returning one outcome per signal
    /// in order, only after the commit (so the producer may be acknowledged
    /// as soon as this returns).
    ///
    /// New rows are pending and due now with zero attempts. An id that
    /// appears twice in one batch is handled as if the signals came one
    /// after the other. For every [`EnqueueOutcome::Conflict`] an alert of
    /// kind conflict ([`crate::conflict_payload`]) is stored in the same
    /// transaction, and so are `batch.alerts`. A delivered id purged within
    /// the dedup window is still recognised by its stored body hash.
    ///
    /// # Errors
    /// [`OutboxError::InvalidInput`] if an id is empty (nothing is stored);
    /// a storage error ([`OutboxError::Full`], ...) stores nothing.
    fn enqueue(
        &self,
        batch: EnqueueBatch,
    ) -> BoxFuture<'_, Result<Vec<EnqueueOutcome>, OutboxError>>;

    /// Claims up to `limit` due rows for `worker`, earliest due first,
    /// leasing each until the backend's now + `lease` with a fresh
    /// [`ClaimToken`]. Due means pending with `next_attempt_at <= now`, or in
    /// flight with an expired lease (its worker died or stalled). A `limit`
    /// of 0 claims nothing and still reports the backend's now.
    ///
    /// # Errors
    /// [`OutboxError::InvalidInput`] for an empty `worker` or a zero lease.
    fn claim(
        &self,
        worker: &str,
        limit: usize,
        lease: Duration,
    ) -> BoxFuture<'_, Result<Claims, OutboxError>>;

    /// Records outcomes in one transaction (group commit), each only if its
    /// row is still in flight with its token: otherwise that item is
    /// [`OutboxError::Fenced`] (or [`OutboxError::UnknownId`]) and the
    /// others still apply. The backend stamps attempt records with its time
    /// and `worker`, and maintains the [`Ledger`] and the dead-letter and
    /// recovered alerts in the same transaction (see [`Outcome`]).
    ///
    /// # Errors
    /// The outer error is a storage failure: then nothing was recorded.
    fn record(
        &self,
        worker: &str,
        outcomes: Vec<Outcome>,
    ) -> BoxFuture<'_, Result<Vec<Result<(), OutboxError>>, OutboxError>>;

    /// Extends leases to the backend's now + `lease` (slow deliveries still
    /// making progress), each only while its claim is held; returns the new
    /// expiry per item.
    ///
    /// # Errors
    /// [`OutboxError::InvalidInput`] for a zero lease; storage errors.
    fn extend(
        &self,
        leases: Vec<(String, ClaimToken)>,
        lease: Duration,
    ) -> BoxFuture<'_, Result<Vec<Result<Timestamp, OutboxError>>, OutboxError>>;

    /// Hands back every row `worker` holds (shutdown after its in-flight
    /// attempts were recorded), without counting an attempt. Returns how
    /// many rows were released.
    ///
    /// # Errors
    /// [`OutboxError::InvalidInput`] for an empty `worker`; storage errors.
    fn release_all(&self, worker: &str) -> BoxFuture<'_, Result<u64, OutboxError>>;

    /// A subscription to "new work may be due" hints from every process on
    /// this storage, or `None` when the backend has no such channel (the
    /// default): then the worker polls. See [`WakeHints`].
    ///
    /// ```
    /// use signal_outbox::SignalStore;
    /// fn has_hints(store: &dyn SignalStore) -> bool {
    ///     store.wake_hints().is_some()
    /// }
    /// # let _ = has_hints;
    /// ```
    fn wake_hints(&self) -> Option<Box<dyn WakeHints>> {
        None
    }
}

/// The stored alerts, sent by one lease holder at a time.
pub trait AlertStore: Send + Sync {
    /// Stores alerts (pending, due now), each with the ledger's current
    /// consecutive failures; returns their ids in order.
    ///
    /// # Errors
    /// Storage errors.
    fn record_alerts(
        &self,
        alerts: Vec<NewAlert>,
    ) -> BoxFuture<'_, Result<Vec<AlertId>, OutboxError>>;

    /// The sender lease: `Some` while `worker` holds it, `None` while another
    /// worker holds an unexpired one. Calling again renews it with the same
    /// token; the token changes only when the lease changes hands, which is
    /// possible once it has expired. A holder whose lease expired keeps it
    /// (and may still use it) until another worker acquires it.
    ///
    /// # Errors
    /// [`OutboxError::InvalidInput`] for an empty `worker` or a zero lease.
    fn acquire_sender(
        &self,
        worker: &str,
        lease: Duration,
    ) -> BoxFuture<'_, Result<Option<SenderLease>, OutboxError>>;

    /// Pending alerts due now (`not_before <= now`), oldest first.
    ///
    /// # Errors
    /// [`OutboxError::SenderFenced`] if another worker acquired the lease
    /// since `lease` was granted.
    fn pending_alerts(
        &self,
        lease: &SenderLease,
        limit: usize,
    ) -> BoxFuture<'_, Result<Vec<StoredAlert>, OutboxError>>;

    /// The groups with a send within `since` of now, or with folded alerts
    /// not yet summarized (across restarts: they are rows).
    ///
    /// # Errors
    /// [`OutboxError::SenderFenced`] as for
    /// [`pending_alerts`](AlertStore::pending_alerts).
    fn alert_groups(
        &self,
        lease: &SenderLease,
        since: Duration,
    ) -> BoxFuture<'_, Result<Vec<GroupState>, OutboxError>>;

    /// Applies sender updates in one transaction. `Sent`, `Folded`, `Retry`
    /// and `Failed` apply to pending alerts, `Summarized` to folded ones.
    ///
    /// # Errors
    /// [`OutboxError::SenderFenced`] as for
    /// [`pending_alerts`](AlertStore::pending_alerts);
    /// [`OutboxError::InvalidInput`] for an unknown alert or one in another
    /// state (a summary counted twice, ...). Either way nothing is applied.
    fn update_alerts(
        &self,
        lease: &SenderLease,
        updates: Vec<AlertUpdate>,
    ) -> BoxFuture<'_, Result<(), OutboxError>>;

    /// Every stored alert with an id above `after`, oldest first, whatever
    /// its state (operators' view; not fenced, it changes nothing).
    ///
    /// # Errors
    /// Storage errors.
    fn alerts(
        &self,
        after: Option<AlertId>,
        limit: usize,
    ) -> BoxFuture<'_, Result<Vec<StoredAlert>, OutboxError>>;

    /// The failure ledger (consecutive failures, the open outage).
    ///
    /// # Errors
    /// Storage errors.
    fn ledger(&self) -> BoxFuture<'_, Result<Ledger, OutboxError>>;

    /// The Bot API update offset of the ops-command poller: the id of the
    /// next update to fetch (`getUpdates`' `offset`), or `None` before the
    /// first update was handled. Stored so that no update is handled twice
    /// across restarts.
    ///
    /// # Errors
    /// Storage errors.
    fn bot_offset(&self) -> BoxFuture<'_, Result<Option<i64>, OutboxError>>;

    /// Stores the update offset, fenced by the sender lease (the poller runs
    /// beside the alert sender: one per fleet). The offset never moves
    /// backwards: a smaller value leaves the stored one as it is.
    ///
    /// # Errors
    /// [`OutboxError::SenderFenced`] as for
    /// [`pending_alerts`](AlertStore::pending_alerts); storage errors.
    fn set_bot_offset(
        &self,
        lease: &SenderLease,
        offset: i64,
    ) -> BoxFuture<'_, Result<(), OutboxError>>;
}

/// What operators do: look, replay, purge, audit.
pub trait OutboxAdmin: Send + Sync {
    /// Counts by state, the oldest pending age, alerts waiting.
    ///
    /// # Errors
    /// Storage errors.
    fn stats(&self) -> BoxFuture<'_, Result<OutboxStats, OutboxError>>;

    /// Rows matching `filter`, ordered by `(enqueued_at, id)`.
    ///
    /// # Errors
    /// Storage errors.
    fn list(&self, filter: ListFilter) -> BoxFuture<'_, Result<Vec<RowSummary>, OutboxError>>;

    /// The rows with these ids, with bodies and attempt history, in the
    /// order asked; unknown ids are left out.
    ///
    /// # Errors
    /// Storage errors.
    fn show(&self, ids: Vec<String>) -> BoxFuture<'_, Result<Vec<SignalDetail>, OutboxError>>;

    /// Sends dead-lettered rows round again: pending, due now, attempts and
    /// claims reset, dead reason cleared (the last error is kept). Rows
    /// enqueued longer ago than `max_age` are refused. The audit row is
    /// written in the same transaction; a dry run writes nothing.
    ///
    /// # Errors
    /// Storage errors (then nothing was replayed).
    fn replay(&self, request: ReplayRequest) -> BoxFuture<'_, Result<ReplayReport, OutboxError>>;

    /// Deletes delivered rows delivered more than `older_than` ago, oldest
    /// first, in transactions of at most `limit` rows, with their attempt
    /// log, keeping each `(id, body hash, delivered_at)` as a tombstone for
    /// the dedup window; tombstones older than the window go too.
    /// Dead-lettered rows are never purged.
    ///
    /// # Errors
    /// [`OutboxError::InvalidInput`] for a zero `limit`; storage errors
    /// (the transactions committed before it stay committed).
    fn purge_delivered(
        &self,
        older_than: Duration,
        limit: usize,
    ) -> BoxFuture<'_, Result<PurgeReport, OutboxError>>;

    /// A page of signal rows for moving them to another backend, ordered
    /// by id, with body, state, attempts, schedule (as the delay left) and
    /// attempt log, read in one snapshot. In-flight rows come out pending
    /// and due now, without their lease (see [`crate::ExportedSignal`]).
    /// Alerts, audit rows, workers and tombstones are not exported.
    ///
    /// # Errors
    /// Storage errors.
    fn export(
        &self,
        request: ExportRequest,
    ) -> BoxFuture<'_, Result<Vec<ExportedSignal>, OutboxError>>;

    /// Stores exported rows that are not here yet, in one transaction, with
    /// their state, attempts, claims, attempt log and history times; the
    /// next attempt is due at this backend's now + `due_in`. One outcome per
    /// row, in order: an id already stored (or kept as a purged tombstone)
    /// is [`ImportOutcome::Skipped`] with the same body and
    /// [`ImportOutcome::Conflict`] with another, and is never overwritten.
    /// An id twice in one batch is handled as if the rows came one after
    /// the other. Importing the same export twice changes nothing.
    ///
    /// # Errors
    /// [`OutboxError::InvalidInput`] if a row fails
    /// [`ExportedSignal::check`] or its body does not match its hash (then
    /// nothing is stored); storage errors (nothing stored).
    fn import(
        &self,
        rows: Vec<ExportedSignal>,
    ) -> BoxFuture<'_, Result<Vec<ImportOutcome>, OutboxError>>;

    /// Writes audit rows (the bot's actions, ...).
    ///
    /// # Errors
    /// Storage errors.
    fn record_audit(&self, entries: Vec<NewAuditEntry>) -> BoxFuture<'_, Result<(), OutboxError>>;

    /// Audit rows with an id above `after`, oldest first.
    ///
    /// # Errors
    /// Storage errors.
    fn audit(
        &self,
        after: Option<i64>,
        limit: usize,
    ) -> BoxFuture<'_, Result<Vec<AuditEntry>, OutboxError>>;
}

/// Which workers are alive.
pub trait WorkerRegistry: Send + Sync {
    /// Upserts the worker with `last_seen` = now (`started_at` on the first).
    ///
    /// # Errors
    /// [`OutboxError::InvalidInput`] for an empty name; storage errors.
    fn heartbeat(&self, worker: WorkerInfo) -> BoxFuture<'_, Result<(), OutboxError>>;

    /// Marks the worker as stopped gracefully.
    ///
    /// # Errors
    /// Storage errors.
    fn worker_stopped(&self, worker: &str) -> BoxFuture<'_, Result<(), OutboxError>>;

    /// Workers seen within `seen_within` of now, most recent first.
    ///
    /// # Errors
    /// Storage errors.
    fn workers(&self, seen_within: Duration)
    -> BoxFuture<'_, Result<Vec<WorkerSeen>, OutboxError>>;
}

/// A complete outbox backend: the four capabilities, a `Debug` that shows no
/// secret, and how to name it to an operator.
pub trait Outbox: SignalStore + AlertStore + OutboxAdmin + WorkerRegistry + fmt::Debug {
    /// What the operator sees: the path, or the URL with its password
    /// redacted.
    fn describe(&self) -> String;
}
