//! One outbox row as `list` and `show` print it.

use serde::Serialize;
use signal_outbox::{RowSummary, Timestamp};

/// A row, times in Unix milliseconds (the outbox's clock).
#[derive(Debug, Serialize)]
pub(super) struct RowLine {
    id: String,
    state: &'static str,
    attempts: u32,
    claims: u32,
    next_attempt_at: Timestamp,
    lease_owner: Option<String>,
    lease_until: Option<Timestamp>,
    dead_reason: Option<&'static str>,
    dead_at: Option<Timestamp>,
    last_error: Option<String>,
    enqueued_at: Timestamp,
    updated_at: Timestamp,
    delivered_at: Option<Timestamp>,
    body_len: u64,
    body_sha256: String,
}

impl From<RowSummary> for RowLine {
    fn from(row: RowSummary) -> RowLine {
        RowLine {
            id: row.id,
            state: row.state.as_str(),
            attempts: row.attempts,
            claims: row.claims,
            next_attempt_at: row.next_attempt_at,
            lease_owner: row.lease_owner,
            lease_until: row.lease_until,
            dead_reason: row.dead_reason.map(|r| r.as_str()),
            dead_at: row.dead_at,
            last_error: row.last_error,
            enqueued_at: row.enqueued_at,
            updated_at: row.updated_at,
            delivered_at: row.delivered_at,
            body_len: row.body_len,
            body_sha256: row.body_hash,
        }
    }
}
