//! What goes into the outbox and what a worker gets back out.

use crate::error::OutboxError;
use crate::time::UnixMillis;

/// A signal to enqueue: its id and its exact body bytes.
///
/// Borrowed, so a batch of NDJSON lines can be enqueued without copying.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NewSignal<'a> {
    /// The signal id, sent as the `webhook-id` header on every delivery
    /// attempt so receivers can deduplicate. Must not be empty.
    pub id: &'a str,
    /// The body exactly as it will be signed and sent.
    pub body: &'a [u8],
}

impl<'a> NewSignal<'a> {
    /// A signal with this id and body.
    #[must_use]
    pub const fn new(id: &'a str, body: &'a [u8]) -> Self {
        Self { id, body }
    }
}

/// What enqueueing one signal did. Returned only after the batch committed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[must_use]
pub enum EnqueueOutcome {
    /// A new row was written; the signal is durable.
    Inserted,
    /// The same id with the same body was already there: a producer retry.
    /// Nothing changed, and that is fine (enqueue is idempotent).
    AlreadyPresent,
    /// The same id was already there with a different body. The existing
    /// row was left untouched and this signal was not stored.
    Conflict,
}

impl EnqueueOutcome {
    /// `Ok(())` if the signal is durably in the outbox with this body
    /// (inserted now or before), [`OutboxError::Conflict`] otherwise.
    pub fn into_result(self, id: &str) -> Result<(), OutboxError> {
        match self {
            EnqueueOutcome::Inserted | EnqueueOutcome::AlreadyPresent => Ok(()),
            EnqueueOutcome::Conflict => Err(OutboxError::Conflict { id: id.to_owned() }),
        }
    }
}

/// A row a worker claimed: deliver it, then record the outcome with the
/// same worker name before [`Claimed::lease_until`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claimed {
    /// The signal id (`webhook-id`).
    pub id: String,
    /// The exact body bytes that were enqueued.
    pub body: Vec<u8>,
    /// Delivery attempts already made (recorded by earlier outcomes). The
    /// retry schedule continues from here after a restart.
    pub attempts: u32,
    /// How many times the row has been claimed, this claim included. Larger
    /// than `attempts + 1` means earlier holders died or released it
    /// mid-flight, or that retries were deferred by a retry budget (a claim
    /// that makes no attempt).
    pub claims: u32,
    /// The error of the last attempt, as recorded (`None` before the first).
    /// A claim that makes no attempt (a deferred retry) records it again, so
    /// the operator still sees what the server last said.
    pub last_error: Option<String>,
    /// When the signal was first enqueued (for deadlines and age metrics).
    pub enqueued_at: UnixMillis,
    /// When this worker's lease runs out unless extended.
    pub lease_until: UnixMillis,
}
