//! Alerts as durable as signals: a [`Dispatcher`] sends alerts recorded in a
//! store ([`AlertQueue`]), so a crash between a dead letter and its Telegram
//! message delays the alert and never loses it.
//!
//! The producer (the outbox worker, `enqueue`) records an alert in the same
//! transaction as the state change that caused it, with an
//! [`AlertPayload`](crate::AlertPayload) that says everything needed to
//! format it later, then pokes the dispatcher's [`AlertWaker`]. The
//! dispatcher holds a sender lease, so one process sends at a time even
//! when several workers share a store, and it works from stored state:
//! grouping, the per-chat rate limit, summaries and CRITICAL escalation
//! read the rows, so they hold across restarts and across senders.
//!
//! ops-alerts knows no outbox: [`AlertQueue`] is its port, and the
//! application adapts the outbox's alert store to it. [`MemoryQueue`] is
//! the reference implementation. What an implementation must keep:
//!
//! - **Time is the store's.** Every time stored or compared (`created_at`,
//!   `not_before`, `sent_at`, lease expiry) is the store's clock; delays are
//!   durations added to it. The sender never passes "now".
//! - **The lease.** [`acquire_sender`](AlertQueue::acquire_sender) grants
//!   the lease when it is free or expired (with a token different from
//!   every earlier one), renews it (same token, new expiry) when the same
//!   worker holds it, and answers `None` while another holds it. Every
//!   other call carries the lease and fails with [`QueueError::Fenced`]
//!   unless its token is the current one and it has not expired. The
//!   dispatcher renews it before every message, so a lease must outlive
//!   one message (the alert timeout) and its update. While its token stays
//!   the same, the dispatcher trusts that nobody else sent or folded and
//!   keeps the groups it read in memory; a new token makes it read them again.
//! - **Pending alerts** are those in [`AlertState::Pending`] with
//!   `not_before` <= now, oldest first (by insertion), at most `limit`.
//! - **Groups.** [`alert_groups`](AlertQueue::alert_groups) returns every
//!   `group_key` that has a row sent within `since` or a row
//!   [`Folded`](AlertState::Folded): `last_sent_at` is the latest `sent_at`
//!   within `since` (`None` if older), `recent_sends` every `sent_at` within
//!   `since`, oldest first (the rate limit is paced from them), and `folded`
//!   the folded rows themselves, whole, oldest first (a restarted sender
//!   names their ids in the summary). Summary rows count as sends of their
//!   own group key (`<group> summary`).
//! - **Updates** ([`update_alerts`](AlertQueue::update_alerts)) apply all
//!   or none (one transaction), stamped with the store's now: `Sent`
//!   (pending → sent, `sent_at`, `message_id`); `Folded` (pending → folded);
//!   `Summarized` (inserts the summary row as sent, with `sent_at` and
//!   `message_id`, and marks each listed folded row summarized with
//!   `summary_of` = the new row); `Retry` (stays pending, `attempts` + 1,
//!   `not_before` = now + delay, `last_error`); `Failed` (pending or folded →
//!   failed, `last_error`). Anything else is [`QueueError::Refused`].
//! - **`consecutive`** is stored with each alert when it is recorded (the
//!   outbox's ledger count for a dead letter): the dispatcher escalates to
//!   CRITICAL from it, so escalation survives restarts.
//! - **Errors** carry no store types and no secrets; a busy store or a lost
//!   connection is [`QueueError::Unavailable`] (retried).
//!
//! What the dispatcher does with them, each round: renew the lease; read
//! the groups; send the summary of every group whose window closed (one
//! message counting every folded alert, across restarts); then the pending
//! alerts, oldest first: the first of its group within the cooldown is
//! sent, later ones are folded; recovered messages, summaries and notices
//! are never folded. Each message waits for the per-chat limit (1 per
//! second, 20 per minute, from the stored send times), is retried within
//! `OPS_ALERT_TIMEOUT_SECONDS`, and then: sent (its `message_id` stored);
//! refused for good (chat not found, bot blocked, invalid token: `Failed`,
//! logged at ERROR with all its fields, counted in `alerts_failed_total`);
//! or failing in a passing way (`Retry` after 30 s, doubling up to 15 min:
//! the row is never lost, and the round stops, since Telegram is down).
//! `alerts_queued` (a gauge) is the number of due alerts the holder has
//! not handled yet (at most one round's batch; 0 in a process that does
//! not hold the lease).
//!
//! Delivery to Telegram is at least once: a crash after a message went out
//! and before its update was recorded sends it again after the restart.
//!
//! ```
//! use std::sync::Arc;
//! use std::time::Duration;
//! use ops_alerts::durable::{AlertState, MemoryQueue, NewAlert};
//! use ops_alerts::{AlertPayload, RecoveredAlert};
//! use chrono::{TimeDelta, Utc};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() {
//! // What the outbox does when the first delivery after an outage works:
//! let queue = Arc::new(MemoryQueue::new());
//! let ended_at = Utc::now();
//! let payload = AlertPayload::Recovered(RecoveredAlert {
//!     started_at: ended_at - TimeDelta::minutes(12),
//!     ended_at,
//!     failed: 7,
//! });
//! let id = queue.push(NewAlert::from_payload(&payload).unwrap(), 0);
//! assert_eq!(queue.get(id).unwrap().state, AlertState::Pending);
//! # }
//! ```

mod dispatcher;
mod memory;
mod planner;
mod queue;
mod round;

pub use dispatcher::{
    AlertWaker, DEFAULT_BATCH, DEFAULT_POLL_INTERVAL, DEFAULT_RETRY_BASE, DEFAULT_RETRY_MAX,
    DispatchStats, Dispatcher, DispatcherSettings, DispatcherSettingsError, LEASE_MARGIN,
};
pub use memory::MemoryQueue;
pub use queue::{
    AlertId, AlertQueue, AlertState, AlertUpdate, BoxFuture, GroupState, LeaseToken, NewAlert,
    QueueError, SenderLease, StoredAlert, Timestamp,
};
