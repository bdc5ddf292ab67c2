//! What goes into the outbox, and what a worker gets back out of a claim.

use bytes::Bytes;

use crate::alert::NewAlert;
use crate::error::OutboxError;
use crate::time::Timestamp;

/// A signal to enqueue: its id, its exact body bytes, and where it came from.
///
/// ```
/// use signal_outbox::NewSignal;
///
/// let signal = NewSignal::new("sig-1", &b"{}"[..]).at_line(7);
/// assert_eq!((signal.id.as_str(), signal.line), ("sig-1", Some(7)));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSignal {
    /// The signal id, sent as the `webhook-id` header on every delivery
    /// attempt so receivers can deduplicate. Must not be empty.
    pub id: String,
    /// The body exactly as it will be signed and sent.
    pub body: Bytes,
    /// The 1-based input line it was read from, if any: named in the
    /// conflict alert the backend stores when the id is already taken.
    pub line: Option<u64>,
}

impl NewSignal {
    /// A signal with this id and body, from no particular input line.
    #[must_use]
    pub fn new(id: impl Into<String>, body: impl Into<Bytes>) -> NewSignal {
        NewSignal {
            id: id.into(),
            body: body.into(),
            line: None,
        }
    }

    /// The same signal, read from input line `line`.
    #[must_use]
    pub fn at_line(mut self, line: u64) -> NewSignal {
        self.line = Some(line);
        self
    }
}

/// One `enqueue` call: signals and the alerts that go with them (for lines
/// that were not valid signals), stored in **one** transaction.
///
/// Storing the alerts with the signals is what makes them as durable as the
/// signals: a crash after the commit delays an alert, it never loses it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EnqueueBatch {
    /// The signals, in input order.
    pub signals: Vec<NewSignal>,
    /// Alerts to store in the same transaction (invalid input lines).
    pub alerts: Vec<NewAlert>,
}

impl EnqueueBatch {
    /// A batch of signals and no alerts.
    ///
    /// ```
    /// use signal_outbox::{EnqueueBatch, NewSignal};
    /// let batch = EnqueueBatch::of(vec![NewSignal::new("a", &b"{}"[..])]);
    /// assert!(batch.alerts.is_empty());
    /// ```
    #[must_use]
    pub fn of(signals: Vec<NewSignal>) -> EnqueueBatch {
        EnqueueBatch {
            signals,
            alerts: Vec::new(),
        }
    }
}

/// What enqueueing one signal did. Returned only after the batch committed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[must_use]
pub enum EnqueueOutcome {
    /// A new row was written; the signal is durable.
    Inserted,
    /// The same id with the same body was already there (or was delivered
    /// and purged within the dedup window): a producer retry. Nothing
    /// changed, and that is fine (enqueue is idempotent).
    AlreadyPresent,
    /// The same id was already there with a different body. The existing
    /// row was left untouched, this signal was not stored, and a conflict
    /// alert was stored in the same transaction.
    Conflict,
}

impl EnqueueOutcome {
    /// `Ok(())` if the signal is durably in the outbox with this body
    /// (inserted now or before), [`OutboxError::Conflict`] otherwise.
    ///
    /// ```
    /// use signal_outbox::EnqueueOutcome;
    /// assert!(EnqueueOutcome::AlreadyPresent.into_result("a").is_ok());
    /// assert!(EnqueueOutcome::Conflict.into_result("a").is_err());
    /// ```
    pub fn into_result(self, id: &str) -> Result<(), OutboxError> {
        match self {
            EnqueueOutcome::Inserted | EnqueueOutcome::AlreadyPresent => Ok(()),
            EnqueueOutcome::Conflict => Err(OutboxError::Conflict { id: id.to_owned() }),
        }
    }
}

/// The fencing token of one claim.
///
/// Every claim gives each row a fresh token, different from every earlier
/// token of that row. An outcome, a lease extension or a release carries the
/// token and is applied only while the row is still in flight **with that
/// token**, so a worker that lost its lease (paused, partitioned, slow) can
/// never overwrite the outcome of the claim that replaced it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ClaimToken(pub i64);

/// The result of one claim: the rows, and the backend's clock when it ran.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claims {
    /// The backend's time of the claim. A worker computes a signal's age as
    /// `now - row.enqueued_at`, so no host clock is compared with the
    /// backend's.
    pub now: Timestamp,
    /// The claimed rows, earliest due first.
    pub rows: Vec<Claimed>,
}

/// A row a worker claimed: deliver it, then record the outcome with its
/// [`token`](Claimed::token) before [`lease_until`](Claimed::lease_until).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claimed {
    /// The signal id (`webhook-id`).
    pub id: String,
    /// The exact body bytes that were enqueued.
    pub body: Bytes,
    /// Delivery attempts already made (recorded by earlier outcomes). The
    /// retry schedule continues from here after a restart.
    pub attempts: u32,
    /// How many times the row has been claimed since it was enqueued (or
    /// replayed), this claim included. Larger than `attempts + 1` means
    /// earlier holders died or released it, or retries were deferred.
    pub claims: u32,
    /// The error of the last attempt, as recorded (`None` before the first).
    pub last_error: Option<String>,
    /// When the signal was first enqueued (for deadlines and age metrics).
    pub enqueued_at: Timestamp,
    /// This claim's fencing token.
    pub token: ClaimToken,
    /// When this claim's lease runs out unless extended.
    pub lease_until: Timestamp,
    /// Whether this claim took the row from an earlier claim whose lease ran
    /// out (its worker died, hung, or lost the outbox), rather than from
    /// the pending queue. Counted by the worker: a steady rise means
    /// workers stop mid-attempt, and signals may be sent twice.
    pub lease_expired: bool,
}
