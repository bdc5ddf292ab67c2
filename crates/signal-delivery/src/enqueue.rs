//! Durable intake: newline-delimited signals in, stored in the outbox in
//! group-committed batches, one acknowledgement per signal **only after its
//! batch committed** (the `enqueue` command).
//!
//! Each line is validated like `send` validates it. An invalid line is
//! acknowledged as `invalid` and alerted, never skipped; a signal whose id is
//! already stored with the same body is a `duplicate` (a producer's retry),
//! with a different body a `conflict` (alerted: a `webhook-id` must name one
//! payload).

use crate::service::DeliveryService;
use crate::signal::{self, Signal};
use serde::Serialize;
use signal_outbox::{EnqueueOutcome, NewSignal, Outbox, now_millis};
use std::sync::Arc;
use tokio::io::{AsyncBufRead, AsyncBufReadExt};
use tokio::sync::mpsc;

/// Most signals committed in one enqueue transaction (group commit). Lines
/// that arrive while a commit runs go into the next one, so a slow producer
/// gets its ack at once and a bulk load pays one fsync per thousand signals.
pub const ENQUEUE_BATCH: usize = 1000;

/// One acknowledgement line of `enqueue`, printed after its batch committed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Ack {
    /// The signal id, or `null` when the input had no valid id.
    pub id: Option<String>,
    /// `enqueued`, `duplicate`, `conflict` or `invalid`.
    pub outcome: &'static str,
    /// The 1-based input line.
    pub line: u64,
    /// Why a line was refused (`invalid_signal`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<&'static str>,
    /// What went wrong, for a conflict or an invalid line.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Counts of an `enqueue` run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EnqueueSummary {
    /// Stored now.
    pub enqueued: u64,
    /// Already stored with the same body.
    pub duplicate: u64,
    /// Already stored with a different body (alerted).
    pub conflict: u64,
    /// Not a valid signal (alerted).
    pub invalid: u64,
    /// Whitespace-only lines, which are not signals.
    pub blank: u64,
}

impl std::fmt::Display for EnqueueSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} signal(s): {} enqueued, {} duplicate, {} conflict, {} invalid",
            self.enqueued + self.duplicate + self.conflict + self.invalid,
            self.enqueued,
            self.duplicate,
            self.conflict,
            self.invalid
        )?;
        if self.blank > 0 {
            write!(f, "; {} blank line(s) ignored", self.blank)?;
        }
        Ok(())
    }
}

/// What an `enqueue` run did.
#[derive(Debug, Default)]
pub struct EnqueueReport {
    /// The counts.
    pub summary: EnqueueSummary,
    /// Why reading or storing stopped early, if it did: lines without an
    /// acknowledgement were **not** stored.
    pub failure: Option<String>,
}

impl EnqueueReport {
    /// True when every signal read is in the outbox (enqueued or duplicate)
    /// and nothing stopped the run.
    pub fn is_success(&self) -> bool {
        self.failure.is_none() && self.summary.conflict == 0 && self.summary.invalid == 0
    }
}

enum Line {
    Text(u64, String),
    ReadError(u64, std::io::Error),
}

/// Reads signals from `input`, stores them in `outbox` in batches and calls
/// `on_ack` once per signal, in input order, after its batch is durable.
/// Invalid lines and conflicts are alerted through `service`.
pub async fn enqueue_lines<R>(
    service: &DeliveryService,
    outbox: Arc<dyn Outbox>,
    input: R,
    mut on_ack: impl FnMut(&Ack),
) -> EnqueueReport
where
    R: AsyncBufRead + Unpin + Send + 'static,
{
    // Read on a task so lines keep arriving while a batch commits.
    let (tx, mut rx) = mpsc::channel::<Line>(ENQUEUE_BATCH * 2);
    tokio::spawn(async move {
        let mut lines = input.lines();
        let mut line_no = 0u64;
        loop {
            line_no += 1;
            let item = match lines.next_line().await {
                Ok(Some(text)) => Line::Text(line_no, text),
                Ok(None) => break,
                Err(e) => Line::ReadError(line_no, e),
            };
            let stop = matches!(item, Line::ReadError(..));
            if tx.send(item).await.is_err() || stop {
                break;
            }
        }
    });

    let mut report = EnqueueReport::default();
    let summary = &mut report.summary;
    'batches: while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        while batch.len() < ENQUEUE_BATCH {
            match rx.try_recv() {
                Ok(line) => batch.push(line),
                Err(_) => break,
            }
        }
        // Validate every line first; only valid signals are stored.
        let mut valid: Vec<(u64, Signal)> = Vec::new();
        let mut acks: Vec<(u64, Option<Ack>)> = Vec::new();
        let mut read_error = None;
        for item in batch {
            match item {
                Line::ReadError(line, e) => {
                    read_error = Some(format!("cannot read signals at line {line}: {e}"));
                }
                Line::Text(_, text) if text.trim().is_empty() => summary.blank += 1,
                Line::Text(line, text) => match Signal::from_json(text.as_bytes()) {
                    Ok(signal) => {
                        acks.push((line, None));
                        valid.push((line, signal));
                    }
                    Err(error) => {
                        let error = service.reject_invalid(text.as_bytes(), error).await;
                        summary.invalid += 1;
                        acks.push((
                            line,
                            Some(Ack {
                                id: error
                                    .signal_id()
                                    .map(str::to_owned)
                                    .or_else(|| signal::id_hint(text.as_bytes())),
                                outcome: "invalid",
                                line,
                                reason: Some("invalid_signal"),
                                error: Some(error.to_string()),
                            }),
                        ));
                    }
                },
            }
        }
        let stored = {
            let outbox = Arc::clone(&outbox);
            let items: Vec<(String, bytes::Bytes)> = valid
                .iter()
                .map(|(_, s)| (s.id().to_owned(), s.body().clone()))
                .collect();
            tokio::task::spawn_blocking(move || {
                let batch: Vec<NewSignal<'_>> = items
                    .iter()
                    .map(|(id, body)| NewSignal::new(id, body.as_ref()))
                    .collect();
                outbox.enqueue_batch(&batch, now_millis())
            })
            .await
        };
        let outcomes = match stored {
            Ok(Ok(outcomes)) => outcomes,
            Ok(Err(e)) => {
                report.failure = Some(format!(
                    "cannot store signals in the outbox: {e}; the {} signal(s) from line {} on were NOT enqueued (no ack was printed for them)",
                    valid.len(),
                    valid.first().map_or(0, |(line, _)| *line)
                ));
                break 'batches;
            }
            Err(e) => {
                report.failure = Some(format!(
                    "the outbox task failed: {e}; signals without an ack were NOT enqueued"
                ));
                break 'batches;
            }
        };
        // The batch is durable: acknowledge, in input order.
        let mut stored = valid.iter().zip(outcomes);
        for (line, ack) in acks {
            let ack = match ack {
                Some(ack) => ack,
                None => {
                    let Some(((_, signal), outcome)) = stored.next() else {
                        continue;
                    };
                    let id = signal.id().to_owned();
                    match outcome {
                        EnqueueOutcome::Inserted => {
                            summary.enqueued += 1;
                            Ack {
                                id: Some(id),
                                outcome: "enqueued",
                                line,
                                reason: None,
                                error: None,
                            }
                        }
                        EnqueueOutcome::AlreadyPresent => {
                            summary.duplicate += 1;
                            Ack {
                                id: Some(id),
                                outcome: "duplicate",
                                line,
                                reason: None,
                                error: None,
                            }
                        }
                        EnqueueOutcome::Conflict => {
                            summary.conflict += 1;
                            let error =
                                signal_outbox::OutboxError::Conflict { id: id.clone() }.to_string();
                            tracing::error!(signal_id = %id, line, outcome = "conflict", "{error}");
                            Ack {
                                id: Some(id),
                                outcome: "conflict",
                                line,
                                reason: None,
                                error: Some(error),
                            }
                        }
                    }
                }
            };
            on_ack(&ack);
        }
        if let Some(error) = read_error {
            report.failure = Some(format!("{error}; signals after it were not read"));
            break 'batches;
        }
    }
    service.shutdown().await;
    report
}
