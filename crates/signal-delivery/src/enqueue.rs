//! Durable intake: newline-delimited signals in, stored in the outbox in
//! group-committed batches, one acknowledgement per signal **only after its
//! batch committed** (the `enqueue` command).
//!
//! Each line is validated like `send` validates it. An invalid line is
//! acknowledged as `invalid` and alerted, never skipped; a signal whose id is
//! already stored with the same body is a `duplicate` (a producer's retry),
//! with a different body a `conflict` (alerted: a `webhook-id` must name one
//! payload).
//!
//! Lines are read with the same framer as `send`: a line that is not UTF-8
//! or is longer than `SIGNAL_MAX_BYTES` is an `invalid` acknowledgement for
//! that line, and reading goes on.

use crate::alerts::stored::failure_alert;
use crate::outcome::DeliveryError;
use crate::service::DeliveryService;
use crate::signal::{self, Signal};
use serde::Serialize;
use signal_model::{Frame, FrameReader, MaxBytes, ReadError};
use signal_outbox::{EnqueueBatch, EnqueueOutcome, NewAlert, NewSignal, Outbox};
use std::future::Future;
use std::sync::Arc;
use tokio::io::AsyncRead;
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
    /// Why a line was refused (`invalid_signal` or `conflict`).
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
    /// True when `on_ack` failed once (reading stopped then).
    pub output_failed: bool,
    /// True when the `stop` future completed (reading stopped then).
    pub stopped: bool,
    /// Alerts stored with the batches (invalid lines; conflicts are stored
    /// by the outbox and not counted here): a worker sends them.
    pub alerts_stored: u64,
}

impl EnqueueReport {
    /// True when every signal read is in the outbox (enqueued or duplicate)
    /// and nothing stopped the run.
    pub fn is_success(&self) -> bool {
        self.failure.is_none()
            && !self.output_failed
            && self.summary.conflict == 0
            && self.summary.invalid == 0
    }
}

/// The output could not take an acknowledgement (a full disk, a closed pipe).
pub use crate::send::OutputFailed;

/// Reads signals from `input` (lines of at most `max_bytes`), stores them in
/// `outbox` in batches and calls `on_ack` once per signal line, in input
/// order, after its batch is durable. Invalid lines and conflicts are
/// acknowledged and alerted through `service`; nothing read is skipped.
///
/// When `stop` completes (SIGTERM/SIGINT) or `on_ack` fails, reading stops:
/// every line already read is still stored and acknowledged (or its
/// acknowledgement logged), then this returns.
pub async fn enqueue_stream<R>(
    service: &DeliveryService,
    outbox: Arc<dyn Outbox>,
    input: R,
    max_bytes: MaxBytes,
    stop: impl Future<Output = ()>,
    mut on_ack: impl FnMut(&Ack) -> Result<(), OutputFailed>,
) -> EnqueueReport
where
    R: AsyncRead + Unpin + Send + 'static,
{
    // Read on a task so lines keep arriving while a batch commits.
    let (tx, mut rx) = mpsc::channel::<Result<Frame, ReadError>>(ENQUEUE_BATCH * 2);
    let reader = tokio::spawn(async move {
        let mut frames = FrameReader::new(input, max_bytes);
        while let Some(frame) = frames.next_frame().await {
            let stop = frame.is_err();
            if tx.send(frame).await.is_err() || stop {
                break;
            }
        }
    });
    let mut report = EnqueueReport::default();
    let mut stop = std::pin::pin!(stop);
    let mut stopping = false;
    loop {
        let first = if stopping {
            // Drain what was read before the stop; nothing more comes.
            match rx.try_recv() {
                Ok(frame) => frame,
                Err(_) => break,
            }
        } else {
            tokio::select! {
                biased;
                () = &mut stop => {
                    tracing::warn!("stopping: no more input is read; the lines already read are stored and acknowledged");
                    report.stopped = true;
                    stopping = true;
                    reader.abort();
                    continue;
                }
                frame = rx.recv() => match frame {
                    Some(frame) => frame,
                    None => break,
                },
            }
        };
        let mut batch = vec![first];
        while batch.len() < ENQUEUE_BATCH {
            match rx.try_recv() {
                Ok(frame) => batch.push(frame),
                Err(_) => break,
            }
        }
        let done = store_batch(service, &outbox, batch, &mut report, &mut on_ack).await;
        if !done {
            break;
        }
        if report.output_failed && !stopping {
            tracing::error!("standard output failed: no more input is read");
            stopping = true;
            reader.abort();
        }
    }
    reader.abort();
    if report.alerts_stored > 0 || report.summary.conflict > 0 {
        warn_if_no_worker(outbox.as_ref()).await;
    }
    service.shutdown().await;
    report
}

/// How recently a worker must have been seen for enqueue to count on it to
/// send the alerts it stored (a few heartbeats).
const WORKER_SEEN_WITHIN: std::time::Duration = std::time::Duration::from_secs(120);

/// The alerts enqueue stored are sent by a worker's alert sender: say so
/// when none is running, so a 3 a.m. operator knows where they are.
async fn warn_if_no_worker(outbox: &dyn Outbox) {
    match outbox.workers(WORKER_SEEN_WITHIN).await {
        Ok(workers) if workers.iter().any(|w| !w.stopped) => {}
        Ok(_) => tracing::warn!(
            outbox = %outbox.describe(),
            "alerts were stored in the outbox, but no worker has been seen in the last {} s: \
             they are sent to Telegram when `signal-delivery run` runs on this outbox",
            WORKER_SEEN_WITHIN.as_secs()
        ),
        Err(error) => {
            tracing::warn!(error = %error, "cannot tell whether a worker runs to send the stored alerts")
        }
    }
}

/// Validates, stores and acknowledges one batch. False when the run must
/// end (the input failed, or the outbox could not store the batch).
async fn store_batch(
    service: &DeliveryService,
    outbox: &Arc<dyn Outbox>,
    batch: Vec<Result<Frame, ReadError>>,
    report: &mut EnqueueReport,
    on_ack: &mut impl FnMut(&Ack) -> Result<(), OutputFailed>,
) -> bool {
    // Validate every line first; only valid signals are stored.
    let mut valid: Vec<(u64, Signal)> = Vec::new();
    let mut alerts: Vec<NewAlert> = Vec::new();
    let mut invalid: Vec<DeliveryError> = Vec::new();
    let mut acks: Vec<(u64, Option<Ack>)> = Vec::new();
    let mut read_error = None;
    for frame in batch {
        let frame = match frame {
            Ok(frame) => frame,
            Err(error) => {
                read_error = Some(error);
                break;
            }
        };
        let line = frame.line();
        match frame.to_signal() {
            None => report.summary.blank += 1,
            Some(Ok(signal)) => {
                acks.push((line, None));
                valid.push((line, signal));
            }
            Some(Err(error)) => {
                let hint = match &frame {
                    Frame::Line { bytes, .. } => signal::id_hint(bytes),
                    _ => None,
                };
                // The alert is stored with the batch, so it outlives this
                // process; a worker's alert sender sends it.
                let error = DeliveryError::invalid(hint, error);
                let allowed = service.policy().max_attempts();
                alerts.push(failure_alert(service.alerts(), &error, allowed));
                report.summary.invalid += 1;
                acks.push((
                    line,
                    Some(Ack {
                        id: error.signal_id().map(str::to_owned),
                        outcome: "invalid",
                        line,
                        reason: Some("invalid_signal"),
                        error: Some(error.to_string()),
                    }),
                ));
                invalid.push(error);
            }
        }
    }
    // One transaction: the valid signals, the alerts of the invalid lines
    // (and, stored by the outbox, one per conflict).
    let batch = EnqueueBatch {
        signals: valid
            .iter()
            .map(|(line, s)| NewSignal::new(s.id(), s.body().clone()).at_line(*line))
            .collect(),
        alerts,
    };
    let stored_alerts = batch.alerts.len();
    let outcomes = match outbox.enqueue(batch).await {
        Ok(outcomes) => {
            report.alerts_stored += stored_alerts as u64;
            for error in &invalid {
                service.report_stored_failure(error);
            }
            outcomes
        }
        Err(e) => {
            // Their alerts were not stored either: send them from memory,
            // the one place where an alert does not wait for the outbox
            // (it cannot take them now).
            for error in &invalid {
                service.report_failure(error).await;
            }
            let first_line = valid.first().map_or(0, |(line, _)| *line);
            let _ = service
                .alerts()
                .send_owner_alert(
                    &format!(
                        "enqueue could not store signals in the outbox {}: {e}. The {} signal(s) \
                         from line {first_line} on were NOT acknowledged: the producer must send \
                         them again once the outbox can be written.",
                        outbox.describe(),
                        valid.len()
                    ),
                    ops_alerts::Severity::Critical,
                )
                .await;
            report.failure = Some(format!(
                "cannot store signals in the outbox: {e}; the {} signal(s) from line {} on were NOT enqueued (no ack was printed for them)",
                valid.len(),
                valid.first().map_or(0, |(line, _)| *line)
            ));
            return false;
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
                acknowledge(service, signal.id(), line, outcome, &mut report.summary)
            }
        };
        if on_ack(&ack).is_err() {
            report.output_failed = true;
        }
    }
    if let Some(error) = read_error {
        tracing::error!(error = %error, "cannot read the input; the lines already read were stored and acknowledged");
        report.failure = Some(format!("{error}; lines after it were not read"));
        return false;
    }
    true
}

/// The acknowledgement of a stored signal; a conflict is alerted.
fn acknowledge(
    service: &DeliveryService,
    id: &str,
    line: u64,
    outcome: EnqueueOutcome,
    summary: &mut EnqueueSummary,
) -> Ack {
    let (outcome, error) = match outcome {
        EnqueueOutcome::Inserted => {
            summary.enqueued += 1;
            ("enqueued", None)
        }
        EnqueueOutcome::AlreadyPresent => {
            summary.duplicate += 1;
            ("duplicate", None)
        }
        EnqueueOutcome::Conflict => {
            summary.conflict += 1;
            // The outbox stored its alert in the same transaction.
            let error = DeliveryError::conflict(id, line, None);
            service.report_stored_failure(&error);
            ("conflict", Some(error.to_string()))
        }
    };
    Ack {
        id: Some(id.to_owned()),
        outcome,
        line,
        reason: (outcome == "conflict").then_some("conflict"),
        error,
    }
}
