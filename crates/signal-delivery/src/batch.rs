//! Many signals at once: bounded concurrency over one shared service.

use crate::outcome::DeliveryResult;
use crate::service::DeliveryService;
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::Arc;
use tokio::io::{AsyncBufRead, AsyncBufReadExt};
use tokio::sync::{Semaphore, mpsc};

/// The machine-readable result of one input line (one JSON line on stdout).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OutcomeLine {
    /// The signal id, or `null` when the input had no valid id.
    pub id: Option<String>,
    /// `"delivered"` or `"failed"`.
    pub outcome: &'static str,
    /// Why it failed (`null` when delivered); see [`crate::FailureReason`].
    pub reason: Option<&'static str>,
    /// Attempts made.
    pub attempts: u32,
    /// The 1-based input line.
    pub line: u64,
    /// The HTTP status of the delivering response.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// What went wrong, for failures.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl OutcomeLine {
    fn new(line: u64, result: &DeliveryResult, id: Option<String>) -> OutcomeLine {
        match result {
            Ok(delivered) => OutcomeLine {
                id,
                outcome: "delivered",
                reason: None,
                attempts: delivered.attempts,
                line,
                status: Some(delivered.receipt.status),
                error: None,
            },
            Err(error) => OutcomeLine {
                id: error.signal_id().map(str::to_owned).or(id),
                outcome: "failed",
                reason: Some(error.reason().as_str()),
                attempts: error.attempts(),
                line,
                status: error.last_post_error().and_then(|e| e.status()),
                error: Some(error.to_string()),
            },
        }
    }

    /// True when the signal was delivered.
    pub fn is_delivered(&self) -> bool {
        self.outcome == "delivered"
    }
}

/// Totals of a batch.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BatchSummary {
    /// Signals delivered.
    pub delivered: u64,
    /// Signals failed, by reason.
    pub failed: BTreeMap<&'static str, u64>,
    /// Whitespace-only lines, which are not signals (counted, not alerted).
    pub blank_lines: u64,
}

impl BatchSummary {
    /// Signals failed, all reasons.
    pub fn failed_total(&self) -> u64 {
        self.failed.values().sum()
    }

    /// Signals seen (delivered + failed).
    pub fn total(&self) -> u64 {
        self.delivered + self.failed_total()
    }

    fn add(&mut self, line: &OutcomeLine) {
        match line.reason {
            None => self.delivered += 1,
            Some(reason) => *self.failed.entry(reason).or_default() += 1,
        }
    }
}

impl std::fmt::Display for BatchSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} signal(s): {} delivered, {} failed",
            self.total(),
            self.delivered,
            self.failed_total()
        )?;
        if !self.failed.is_empty() {
            let parts: Vec<String> = self
                .failed
                .iter()
                .map(|(r, n)| format!("{r}={n}"))
                .collect();
            write!(f, " ({})", parts.join(", "))?;
        }
        if self.blank_lines > 0 {
            write!(f, "; {} blank line(s) ignored", self.blank_lines)?;
        }
        Ok(())
    }
}

/// Why a batch stopped reading its input.
#[derive(Debug, thiserror::Error)]
#[error("cannot read signals at line {line}: {source}")]
pub struct InputError {
    /// The line that could not be read.
    pub line: u64,
    /// The I/O error.
    #[source]
    pub source: std::io::Error,
}

/// Delivers every newline-delimited JSON signal read from `input`, at most
/// `concurrency` at a time, calling `on_outcome` once per signal as each one
/// ends (completion order). Whitespace-only lines are not signals: they are
/// counted in the summary. A read error stops reading, but every signal
/// already started still ends in an outcome before this returns.
pub async fn deliver_lines<R>(
    service: &DeliveryService,
    input: R,
    concurrency: usize,
    mut on_outcome: impl FnMut(&OutcomeLine),
) -> (BatchSummary, Option<InputError>)
where
    R: AsyncBufRead + Unpin,
{
    let permits = Arc::new(Semaphore::new(concurrency.max(1)));
    let (sender, mut receiver) = mpsc::unbounded_channel::<OutcomeLine>();
    let mut summary = BatchSummary::default();
    let mut lines = input.lines();
    let mut line_no = 0u64;
    let mut read_error = None;
    let mut started = 0u64;

    loop {
        // Drain finished outcomes while reading, so output is live.
        while let Ok(done) = receiver.try_recv() {
            summary.add(&done);
            on_outcome(&done);
        }
        let next = match lines.next_line().await {
            Ok(Some(text)) => text,
            Ok(None) => break,
            Err(source) => {
                read_error = Some(InputError {
                    line: line_no + 1,
                    source,
                });
                break;
            }
        };
        line_no += 1;
        if next.trim().is_empty() {
            summary.blank_lines += 1;
            continue;
        }
        let Ok(permit) = permits.clone().acquire_owned().await else {
            break; // the semaphore is never closed
        };
        let service = service.clone();
        let sender = sender.clone();
        let line = line_no;
        started += 1;
        tokio::spawn(async move {
            let id = crate::signal::id_hint(next.as_bytes());
            let result = service.deliver_json(next.as_bytes()).await;
            let _ = sender.send(OutcomeLine::new(line, &result, id));
            drop(permit);
        });
    }
    drop(sender);
    while let Some(done) = receiver.recv().await {
        summary.add(&done);
        on_outcome(&done);
    }
    // A task can only vanish by panicking; never let that pass silently.
    let lost = started.saturating_sub(summary.total());
    if lost > 0 {
        tracing::error!(
            lost,
            "signal tasks ended without an outcome (internal error)"
        );
        *summary.failed.entry("internal_error").or_default() += lost;
    }
    (summary, read_error)
}
