//! The port: what the dispatcher needs from a store of alerts, as a trait of
//! its own, so that ops-alerts knows no outbox. The outbox's `AlertStore`
//! is adapted to it by the application (see the [module docs](super) for
//! the semantics an adapter must keep).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use crate::payload::{AlertKind, AlertPayload, PayloadError};

/// Unix milliseconds, from the store's clock (never the sender's).
pub type Timestamp = i64;

/// A boxed future, so that `Arc<dyn AlertQueue>` works: one allocation per
/// call, nothing next to a database round trip or a Telegram message.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A stored alert's id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AlertId(pub i64);

/// Fences the sender lease: updates carrying an older token are refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LeaseToken(pub i64);

/// Where a stored alert is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AlertState {
    /// Waiting to be sent (from `not_before` on).
    Pending,
    /// Sent to Telegram (its `message_id` kept).
    Sent,
    /// Counted into its group's open summary, not sent on its own.
    Folded,
    /// Counted in a summary that was sent (`summary_of`).
    Summarized,
    /// Telegram refused it for good (chat not found, bot blocked, invalid
    /// token) or it could not be read; logged at ERROR with all its fields.
    Failed,
}

impl AlertState {
    /// The stored name: `pending`, `sent`, `folded`, `summarized`, `failed`.
    pub const fn as_str(self) -> &'static str {
        match self {
            AlertState::Pending => "pending",
            AlertState::Sent => "sent",
            AlertState::Folded => "folded",
            AlertState::Summarized => "summarized",
            AlertState::Failed => "failed",
        }
    }
}

impl fmt::Display for AlertState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An alert to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAlert {
    /// Its kind (the payload's `"kind"`).
    pub kind: AlertKind,
    /// Its group (e.g. `post_signal:exhausted:http_503`), never an id.
    pub group_key: String,
    /// The signal it is about, if one.
    pub signal_id: Option<String>,
    /// The [`AlertPayload`] as JSON.
    pub payload: String,
}

impl NewAlert {
    /// The row for `payload`: its kind, group key, signal id and JSON.
    ///
    /// ```
    /// use ops_alerts::durable::NewAlert;
    /// use ops_alerts::{AlertKind, AlertPayload, ConflictAlert};
    ///
    /// let payload = AlertPayload::Conflict(ConflictAlert { signal_id: "s1".into(), line: Some(4) });
    /// let row = NewAlert::from_payload(&payload).unwrap();
    /// assert_eq!(row.kind, AlertKind::Conflict);
    /// assert_eq!(row.group_key, "enqueue:conflict");
    /// assert_eq!(row.payload, r#"{"kind":"conflict","signal_id":"s1","line":4}"#);
    /// ```
    ///
    /// # Errors
    /// If the payload cannot be serialized (these types always can).
    pub fn from_payload(payload: &AlertPayload) -> Result<NewAlert, PayloadError> {
        Ok(NewAlert {
            kind: payload.kind(),
            group_key: payload.group_key(),
            signal_id: payload.signal_id().map(str::to_owned),
            payload: payload.to_json()?,
        })
    }
}

/// A stored alert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredAlert {
    /// Its id; ids grow with insertion.
    pub id: AlertId,
    /// Its kind.
    pub kind: AlertKind,
    /// Its group.
    pub group_key: String,
    /// The signal it is about, if one.
    pub signal_id: Option<String>,
    /// The [`AlertPayload`] as JSON.
    pub payload: String,
    /// When it was recorded.
    pub created_at: Timestamp,
    /// Where it is.
    pub state: AlertState,
    /// Delivery failures in a row when it was recorded (CRITICAL escalation).
    pub consecutive: u32,
    /// Sender attempts that failed and were retried later.
    pub attempts: u32,
    /// Not sent before this time (a retry's delay).
    pub not_before: Timestamp,
    /// When it was sent.
    pub sent_at: Option<Timestamp>,
    /// The Telegram message id, once sent.
    pub message_id: Option<i64>,
    /// The last sender error.
    pub last_error: Option<String>,
    /// For a summarized alert: the summary row it was counted in.
    pub summary_of: Option<AlertId>,
}

/// The sender lease, while held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SenderLease {
    /// Fences every call made under it.
    pub token: LeaseToken,
    /// Held until then unless renewed.
    pub until: Timestamp,
    /// The store's clock when it was granted or renewed.
    pub now: Timestamp,
}

/// A change to stored alerts, applied under the sender lease.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AlertUpdate {
    /// A pending alert was sent.
    Sent {
        /// The alert.
        id: AlertId,
        /// The Telegram message id (`None` for an alert only logged).
        message_id: Option<i64>,
    },
    /// A pending alert was counted into its group's open summary.
    Folded {
        /// The alert.
        id: AlertId,
    },
    /// A summary was sent: store it as sent and mark the folded alerts it
    /// counted summarized.
    Summarized {
        /// The summary row (inserted as sent).
        summary: NewAlert,
        /// The folded alerts it counted.
        folded: Vec<AlertId>,
        /// The Telegram message id.
        message_id: Option<i64>,
    },
    /// Telegram failed in a passing way: try again after `delay`.
    Retry {
        /// The alert (pending).
        id: AlertId,
        /// How long to wait.
        delay: Duration,
        /// Why, free of secrets.
        error: String,
    },
    /// Telegram refused it for good, or it cannot be read: a pending or a
    /// folded alert ends here.
    Failed {
        /// The alert.
        id: AlertId,
        /// Why, free of secrets.
        error: String,
    },
}

/// What the dispatcher needs to know of one group at the start of a round.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GroupState {
    /// The group.
    pub group_key: String,
    /// The group's latest message (`sent_at` of its rows), if within `since`.
    pub last_sent_at: Option<Timestamp>,
    /// Every `sent_at` of the group within `since`, oldest first: the
    /// per-chat rate limit is paced from them across senders.
    pub recent_sends: Vec<Timestamp>,
    /// The group's folded alerts not yet summarized, oldest first, whole:
    /// the summary names their ids, even after a restart.
    pub folded: Vec<StoredAlert>,
    /// `created_at` of the oldest of `folded`.
    pub oldest_folded_at: Option<Timestamp>,
}

/// Why a queue call failed. Messages are free of secrets.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum QueueError {
    /// The lease was lost (expired, or another sender holds it): stop
    /// sending; take the lease again before going on.
    #[error(
        "the alert sender lease is lost (it expired or another sender holds it): {detail}; \
         this sender stops until it holds the lease again"
    )]
    Fenced {
        /// What the store said.
        detail: String,
    },
    /// The store cannot answer now (busy, connection lost): try again later.
    #[error("the alert store is unavailable for now: {detail}; retried")]
    Unavailable {
        /// What the store said.
        detail: String,
    },
    /// An update does not fit the stored state (unknown id, wrong state);
    /// nothing of the batch was applied.
    #[error("the alert store refused the update: {detail}")]
    Refused {
        /// What is wrong.
        detail: String,
    },
    /// Anything else (corrupt store, I/O error).
    #[error("the alert store failed: {detail}")]
    Failed {
        /// What the store said.
        detail: String,
    },
}

impl QueueError {
    /// Trying the same call later can work.
    pub fn is_retryable(&self) -> bool {
        matches!(self, QueueError::Unavailable { .. })
    }
}

/// A store of alerts with one sender at a time. See the
/// [module docs](super) for the semantics every implementation keeps;
/// [`MemoryQueue`](super::MemoryQueue) is the reference.
pub trait AlertQueue: Send + Sync + fmt::Debug {
    /// Stores alerts as pending, due now, `consecutive` 0 (the outbox records
    /// delivery failures itself, with the count of its ledger).
    fn record_alerts(
        &self,
        alerts: Vec<NewAlert>,
    ) -> BoxFuture<'_, Result<Vec<AlertId>, QueueError>>;

    /// The sender lease for `worker`, for `lease` from now: granted when
    /// free or expired, renewed (same token) when `worker` holds it; `None`
    /// while another holds it.
    fn acquire_sender(
        &self,
        worker: &str,
        lease: Duration,
    ) -> BoxFuture<'_, Result<Option<SenderLease>, QueueError>>;

    /// Pending alerts due now (`not_before` <= now), oldest first, at most
    /// `limit`. Fenced.
    fn pending_alerts(
        &self,
        lease: &SenderLease,
        limit: usize,
    ) -> BoxFuture<'_, Result<Vec<StoredAlert>, QueueError>>;

    /// Every group that sent a message within `since` or has folded alerts
    /// not yet summarized. Fenced.
    fn alert_groups(
        &self,
        lease: &SenderLease,
        since: Duration,
    ) -> BoxFuture<'_, Result<Vec<GroupState>, QueueError>>;

    /// Applies `updates` all or none, stamping times with the store's clock.
    /// Fenced.
    fn update_alerts(
        &self,
        lease: &SenderLease,
        updates: Vec<AlertUpdate>,
    ) -> BoxFuture<'_, Result<(), QueueError>>;
}
