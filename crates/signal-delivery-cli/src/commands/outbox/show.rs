//! `outbox show ID...`: each signal's row, body and attempt history.

use super::rows::RowLine;
use super::{Done, Failure, emit, note};
use crate::output::JsonLines;
use base64::Engine as _;
use serde::Serialize;
use signal_outbox::{Outbox, SignalDetail, StoredAttempt, Timestamp};
use std::collections::HashSet;

/// One signal: its row, its body, its attempts.
#[derive(Debug, Serialize)]
struct ShowLine {
    #[serde(flatten)]
    row: RowLine,
    /// The exact body as text (every body `enqueue` stores is UTF-8 JSON).
    body: Option<String>,
    /// A body that is not UTF-8 (written by other means), so it is shown
    /// rather than dropped.
    #[serde(skip_serializing_if = "Option::is_none")]
    body_base64: Option<String>,
    /// Oldest first; the numbering starts again at 1 after a replay.
    attempts: Vec<AttemptLine>,
}

#[derive(Debug, Serialize)]
struct AttemptLine {
    attempt: u32,
    at: Timestamp,
    worker: String,
    status: Option<u16>,
    error_class: Option<String>,
    latency_ms: u64,
    /// Bounded and redacted by the worker before it was stored.
    excerpt: Option<String>,
}

impl From<StoredAttempt> for AttemptLine {
    fn from(a: StoredAttempt) -> AttemptLine {
        AttemptLine {
            attempt: a.attempt,
            at: a.at,
            worker: a.worker,
            status: a.status,
            error_class: a.error_class,
            latency_ms: u64::try_from(a.latency.as_millis()).unwrap_or(u64::MAX),
            excerpt: a.excerpt,
        }
    }
}

impl From<SignalDetail> for ShowLine {
    fn from(detail: SignalDetail) -> ShowLine {
        let (body, body_base64) = match std::str::from_utf8(&detail.body) {
            Ok(text) => (Some(text.to_owned()), None),
            Err(_) => (
                None,
                Some(base64::engine::general_purpose::STANDARD.encode(&detail.body)),
            ),
        };
        ShowLine {
            row: RowLine::from(detail.row),
            body,
            body_base64,
            attempts: detail.attempts.into_iter().map(AttemptLine::from).collect(),
        }
    }
}

pub(super) async fn run(outbox: &dyn Outbox, ids: Vec<String>, output: &mut JsonLines) -> Done {
    // Each id once, in the order given.
    let mut seen = HashSet::new();
    let ids: Vec<String> = ids
        .into_iter()
        .filter(|id| seen.insert(id.clone()))
        .collect();
    let details = outbox.show(ids.clone()).await?;
    let found: HashSet<String> = details.iter().map(|d| d.row.id.clone()).collect();
    for detail in details {
        emit(output, &ShowLine::from(detail))?;
    }
    let unknown: Vec<&String> = ids.iter().filter(|id| !found.contains(*id)).collect();
    if unknown.is_empty() {
        return Ok(());
    }
    for id in &unknown {
        note(format_args!("no signal with id {id} in the outbox"));
    }
    Err(Failure::Incomplete)
}
