//! The durable outbox **contract** for trading signals: backend-neutral,
//! async, with a conformance suite every backend must pass.
//!
//! # Why an outbox
//!
//! Retries held only in memory die with the process: a deploy or a crash in
//! the middle of a two-minute backoff drops the signal silently. The
//! transactional outbox orders the work:
//!
//! 1. **Persist first.** [`SignalStore::enqueue`] stores the signal (its id,
//!    the `webhook-id`, and its exact body bytes) and commits durably. Only
//!    then is the producer acknowledged.
//! 2. **Deliver.** A worker [claims](SignalStore::claim) due rows under a
//!    time-limited lease, each with a fresh [`ClaimToken`], and sends them.
//! 3. **Record the outcome**, many per transaction ([`SignalStore::record`]):
//!    delivered, retry after a delay (the schedule survives restarts),
//!    deferred without an attempt, or dead-lettered with a
//!    [`FailureReason`] **and its alert in the same transaction**.
//!
//! A crash anywhere leaves every signal, and every alert owed, in a stored
//! state. A crash after a send but before its outcome was recorded means the
//! signal is sent again once the lease expires: delivery is *at least once*,
//! with the same `webhook-id` every time, so receivers deduplicate on it.
//!
//! # States and fencing
//!
//! ```text
//!              enqueue
//!                 |
//!                 v
//!   +-------> Pending <------------------------------------+
//!   |             |                                        |
//!   |       claim | (due: next_attempt_at <= now)          |
//!   |             v                                        |
//!   |   +----> InFlight (token, lease_owner, lease_until)  |
//!   |   |       |   |   |                                  |
//!   |   +-------+   |   +--- Retry / Defer / Release ------+
//!   | lease expired |
//!   | (claimed again|--- Delivered ---> Delivered --purge--> tombstone
//!   |  new token)   |
//!   |               +--- DeadLetter --> DeadLettered
//!   |                                       |
//!   +------------------ replay -------------+
//! ```
//!
//! Every outcome carries the claim's token and is applied only while the row
//! is still in flight **with that token**, otherwise it is
//! [`OutboxError::Fenced`]: a stalled ("zombie") worker cannot overwrite the
//! outcome of the claim that took its row over, whatever its clock or its
//! name. A worker whose lease expired but whose row nobody claimed since may
//! still record: it is still the only holder.
//!
//! # Design
//!
//! - **Async and dyn-compatible**: methods return [`BoxFuture`], so
//!   `Arc<dyn Outbox>` works and the command chooses the backend at run
//!   time. No macro crate: the box is one allocation per call, nothing next
//!   to an fsync or a network round trip.
//! - **Batch first**: the traits hold only batch methods; single-row
//!   conveniences come from [`OutboxExt`], implemented once for all.
//! - **Owned types**: no borrowed lifetimes in requests or results.
//! - **Time comes from the backend** ([`time`](crate::Timestamp)): callers
//!   never pass "now", schedules are delays, and results the worker decides
//!   on carry the backend's `now` ([`Claims::now`]).
//! - **Errors carry no backend types**: [`OutboxError`] holds text.
//! - **One failure vocabulary**: [`FailureReason`] from `signal-model`.
//!
//! Backends: `signal-outbox-sqlite` (one embedded file, one host) and
//! `signal-outbox-postgres` (a fleet of workers on several hosts, woken by
//! [`WakeHints`]).
//!
//! # Conformance suite
//!
//! With the `conformance` feature, [`conformance`] holds the lifecycle and
//! model-based tests, written once against the traits; a backend's test file
//! runs them all with one macro line (see its docs).
//!
//! # Example
//!
//! Code written against the contract works with any backend:
//!
//! ```
//! use std::time::Duration;
//! use signal_outbox::{AttemptRecord, EnqueueOutcome, NewSignal, Outbox, OutboxError, OutboxExt, Outcome};
//!
//! /// Enqueues one signal, then claims and delivers it.
//! async fn round_trip(outbox: &dyn Outbox) -> Result<(), OutboxError> {
//!     let outcome = outbox.enqueue_one(NewSignal::new("sig-1", &br#"{"side":"buy"}"#[..])).await?;
//!     assert_eq!(outcome, EnqueueOutcome::Inserted); // durable: acknowledge now
//!
//!     let claims = outbox.claim("worker-a", 10, Duration::from_secs(30)).await?;
//!     for row in claims.rows {
//!         // ... deliver row.body with webhook-id = row.id ...
//!         let attempt = AttemptRecord::delivered(row.attempts + 1, 200, Duration::from_millis(8));
//!         outbox.record_one("worker-a", Outcome::Delivered { id: row.id, token: row.token, attempt }).await?;
//!     }
//!     Ok(())
//! }
//! # let _ = round_trip;
//! ```

mod alert;
#[cfg(feature = "conformance")]
pub mod conformance;
mod error;
mod export;
mod ext;
mod outcome;
mod registry;
mod report;
mod rules;
mod signal;
mod state;
mod store;
mod time;
mod wake;

pub use alert::{
    AlertId, AlertKind, AlertState, AlertUpdate, CONFLICT_GROUP, GroupState, Ledger, NewAlert,
    Outage, ParseAlertKindError, ParseAlertStateError, RECOVERED_GROUP, SenderLease, StoredAlert,
    conflict_payload, recovered_payload,
};
pub use error::OutboxError;
pub use export::{ExportRequest, ExportedSignal, ImportOutcome, check_import};
pub use ext::OutboxExt;
pub use outcome::{AttemptRecord, MAX_ERROR_LEN, MAX_EXCERPT_LEN, Outcome, truncate_utf8};
pub use registry::{WorkerInfo, WorkerSeen};
pub use report::{
    AuditEntry, Cursor, ListFilter, MAX_REPORTED_IDS, NewAuditEntry, OutboxStats, PurgeReport,
    ReplayReport, ReplayRequest, ReplaySelection, RowSummary, SignalDetail, StoredAttempt,
};
pub use rules::{body_hash, check_lease, check_worker};
pub use signal::{ClaimToken, Claimed, Claims, EnqueueBatch, EnqueueOutcome, NewSignal};
/// Why a signal was not delivered: the dead-letter reason, shared with
/// `send` and the alerts (re-exported from `signal-model`).
pub use signal_model::{FailureReason, ParseFailureReasonError};
pub use state::{ParseStateError, State};
pub use store::{AlertStore, BoxFuture, Outbox, OutboxAdmin, SignalStore, WorkerRegistry};
pub use time::{Timestamp, UnixMillis, after, duration_millis, elapsed_between, now_millis};
pub use wake::WakeHints;

// The README's examples run as doctests, so the crates.io page cannot drift.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
