//! `outbox audit`: who replayed what, newest first.

use super::{Done, emit};
use crate::output::JsonLines;
use serde::Serialize;
use serde_json::Value;
use signal_outbox::{AuditEntry, Outbox, Timestamp};
use std::collections::VecDeque;

/// Rows read per call while walking to the newest.
const PAGE: usize = 1000;

#[derive(Debug, Serialize)]
struct AuditLine {
    id: i64,
    at: Timestamp,
    actor: String,
    action: String,
    /// The stored JSON, as JSON (as text if it is not JSON).
    detail: Value,
    result: Value,
}

impl From<AuditEntry> for AuditLine {
    fn from(entry: AuditEntry) -> AuditLine {
        let json = |text: String| serde_json::from_str(&text).unwrap_or(Value::String(text));
        AuditLine {
            id: entry.id,
            at: entry.at,
            actor: entry.actor,
            action: entry.action,
            detail: json(entry.detail),
            result: json(entry.result),
        }
    }
}

pub(super) async fn run(outbox: &dyn Outbox, limit: u64, output: &mut JsonLines) -> Done {
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    // The contract pages oldest first; keep the last `limit` rows. The
    // audit log holds operator actions, so walking it is cheap.
    let mut newest: VecDeque<AuditEntry> = VecDeque::with_capacity(limit.min(PAGE));
    let mut after = None;
    loop {
        let page = outbox.audit(after, PAGE).await?;
        let full = page.len() == PAGE;
        after = page.last().map(|entry| entry.id);
        for entry in page {
            if newest.len() == limit {
                newest.pop_front();
            }
            newest.push_back(entry);
        }
        if !full {
            break;
        }
    }
    newest
        .into_iter()
        .rev()
        .try_for_each(|entry| emit(output, &AuditLine::from(entry)))
}
