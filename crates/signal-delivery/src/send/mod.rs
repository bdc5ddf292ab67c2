//! `send`: newline-delimited signals in, each one delivered with retries in
//! memory, exactly one outcome line out per signal read, written as soon as
//! that signal's outcome is known.
//!
//! # The rules
//!
//! - **A stream is never cut short.** A line that is not UTF-8, is longer
//!   than `SIGNAL_MAX_BYTES`, is not JSON, repeats a key, or has a bad field
//!   is an `invalid_signal` outcome for that line, alerted; reading goes on.
//!   A line is never held whole in memory beyond the limit.
//! - **Repeated ids follow `enqueue`'s rules** ([`SEEN_WINDOW`]): the same id
//!   with the same bytes is sent once, and the repeat's line (`duplicate`,
//!   naming the first copy's line in `duplicate_of`) is written once the
//!   first copy's outcome is known; the same id with other bytes is
//!   `failed` with reason `conflict`, alerted and never sent.
//! - **Bounded work in flight.** At most `concurrency` signals are being
//!   delivered; the next line is read when one of them ends, so a producer
//!   may wait for each outcome before writing its next line.
//! - **Stopping** (the `stop` future, SIGTERM/SIGINT in the command): reading
//!   stops; signals waiting for a retry end at once, attempts in flight get
//!   the grace period, then are cut. Every signal read gets its outcome:
//!   those not delivered are `failed` with reason `interrupted`, alerted.
//! - **Output failures stop reading** (`on_outcome` returning an error): the
//!   signals already read still end, and their outcomes still reach
//!   `on_outcome` (the command logs what it cannot print).

mod seen;

pub use seen::SEEN_WINDOW;

use crate::interrupt::Interrupt;
use crate::outcome::{DeliveryError, DeliveryResult};
use crate::service::DeliveryService;
use seen::{FirstOutcome, Seen, SeenIds};
use serde::Serialize;
use signal_model::{Frame, FrameReader, MaxBytes, ReadError, Signal};
use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::time::Duration;
use tokio::io::AsyncRead;
use tokio::task::JoinSet;

/// The machine-readable result of one input line (one JSON line on stdout).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OutcomeLine {
    /// The signal id, or `null` when the input had no valid id.
    pub id: Option<String>,
    /// `"delivered"`, `"failed"` or `"duplicate"`.
    pub outcome: &'static str,
    /// Why it failed (`null` otherwise); see [`crate::FailureReason`].
    pub reason: Option<&'static str>,
    /// Attempts made (0 for a duplicate: its first copy made them).
    pub attempts: u32,
    /// The 1-based input line.
    pub line: u64,
    /// For a duplicate: the line of the first copy, whose outcome it shares.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duplicate_of: Option<u64>,
    /// The HTTP status of the last response, when there was one.
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
                duplicate_of: None,
                status: Some(delivered.receipt.status),
                error: None,
            },
            Err(error) => OutcomeLine {
                id: error.signal_id().map(str::to_owned).or(id),
                outcome: "failed",
                reason: Some(error.reason().as_str()),
                attempts: error.attempts(),
                line,
                duplicate_of: None,
                status: error.last_post_error().and_then(|e| e.status()),
                error: Some(error.to_string()),
            },
        }
    }

    fn duplicate(line: u64, id: &str, first_line: u64) -> OutcomeLine {
        OutcomeLine {
            id: Some(id.to_owned()),
            outcome: "duplicate",
            reason: None,
            attempts: 0,
            line,
            duplicate_of: Some(first_line),
            status: None,
            error: None,
        }
    }

    /// True when the signal was delivered.
    pub fn is_delivered(&self) -> bool {
        self.outcome == "delivered"
    }

    fn first_outcome(&self) -> FirstOutcome {
        match self.reason {
            None => FirstOutcome::Delivered,
            Some(reason) => FirstOutcome::Failed(reason),
        }
    }
}

/// Totals of a `send` run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SendSummary {
    /// Signals delivered.
    pub delivered: u64,
    /// Signals failed, by reason.
    pub failed: BTreeMap<&'static str, u64>,
    /// Repeats of an earlier line (same id, same bytes), not sent again.
    pub duplicates: u64,
    /// Whitespace-only lines, which are not signals (counted, not alerted).
    pub blank_lines: u64,
}

impl SendSummary {
    /// Signals failed, all reasons.
    pub fn failed_total(&self) -> u64 {
        self.failed.values().sum()
    }

    /// Signal lines seen (delivered + failed + duplicates).
    pub fn total(&self) -> u64 {
        self.delivered + self.failed_total() + self.duplicates
    }

    fn add(&mut self, line: &OutcomeLine) {
        match (line.outcome, line.reason) {
            ("duplicate", _) => self.duplicates += 1,
            (_, None) => self.delivered += 1,
            (_, Some(reason)) => *self.failed.entry(reason).or_default() += 1,
        }
    }
}

impl std::fmt::Display for SendSummary {
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
        if self.duplicates > 0 {
            write!(f, ", {} duplicate(s) not sent again", self.duplicates)?;
        }
        if self.blank_lines > 0 {
            write!(f, "; {} blank line(s) ignored", self.blank_lines)?;
        }
        Ok(())
    }
}

/// How `send` reads and stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SendSettings {
    /// Most signals being delivered at once.
    pub concurrency: usize,
    /// The longest line accepted (`SIGNAL_MAX_BYTES`).
    pub max_signal_bytes: MaxBytes,
    /// How long attempts in flight may finish once stopping
    /// (`SEND_SHUTDOWN_GRACE_SECONDS`).
    pub shutdown_grace: Duration,
    /// How many signals back a repeated id is recognised.
    pub seen_window: usize,
}

impl SendSettings {
    /// The settings from the configuration and a concurrency.
    pub fn new(input: &signal_config::InputSettings, concurrency: usize) -> SendSettings {
        SendSettings {
            concurrency: concurrency.max(1),
            max_signal_bytes: input.max_signal_bytes,
            shutdown_grace: input.shutdown_grace,
            seen_window: SEEN_WINDOW,
        }
    }
}

/// The output could not take an outcome line (a full disk, a closed pipe).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutputFailed;

/// What a `send` run did.
#[derive(Debug, Default)]
pub struct SendReport {
    /// The counts.
    pub summary: SendSummary,
    /// Why reading stopped early, if the input failed.
    pub read_error: Option<ReadError>,
    /// True when `on_outcome` failed once (reading stopped then).
    pub output_failed: bool,
    /// True when the `stop` future completed (reading stopped then).
    pub stopped: bool,
}

/// One finished task: the outcome of one line, and for a first copy the id
/// whose repeats wait for it.
struct Done {
    outcome: OutcomeLine,
    first_of: Option<String>,
}

/// What the loop knows of a task, so that a task that vanished (a panic)
/// still gets an outcome.
struct Running {
    line: u64,
    id: Option<String>,
    /// True for the first copy of an id, whose repeats wait for it.
    first: bool,
}

/// Delivers every signal read from `input`; see the [module docs](self).
/// `on_outcome` is called once per signal line, as each one ends.
pub async fn send_stream<R>(
    service: &DeliveryService,
    input: R,
    settings: &SendSettings,
    stop: impl Future<Output = ()>,
    mut on_outcome: impl FnMut(&OutcomeLine) -> Result<(), OutputFailed>,
) -> SendReport
where
    R: AsyncRead + Unpin,
{
    let mut reader = FrameReader::new(input, settings.max_signal_bytes);
    let mut seen = SeenIds::new(settings.seen_window.max(settings.concurrency * 2));
    let (handle, interrupt) = Interrupt::new();
    let mut tasks: JoinSet<Done> = JoinSet::new();
    let mut running: HashMap<tokio::task::Id, Running> = HashMap::new();
    let mut report = SendReport::default();
    let mut reading = true;
    let mut stop = std::pin::pin!(stop);
    let grace = tokio::time::sleep(Duration::MAX / 4);
    let mut grace = std::pin::pin!(grace);
    let mut grace_armed = false;

    let mut emit = |report: &mut SendReport, reading: &mut bool, line: &OutcomeLine| {
        report.summary.add(line);
        if on_outcome(line).is_err() && !report.output_failed {
            report.output_failed = true;
            *reading = false;
            tracing::error!(
                "standard output failed: no more input is read; the signals already read still end"
            );
        }
    };

    loop {
        if !reading && tasks.is_empty() {
            break;
        }
        tokio::select! {
            biased;
            () = &mut stop, if !report.stopped => {
                report.stopped = true;
                reading = false;
                handle.stop();
                tracing::warn!(
                    in_flight = tasks.len(),
                    grace_s = settings.shutdown_grace.as_secs_f64(),
                    "stopping: no more input is read; attempts in flight get the grace period"
                );
                grace.as_mut().reset(tokio::time::Instant::now() + settings.shutdown_grace);
                grace_armed = true;
            }
            () = &mut grace, if grace_armed => {
                grace_armed = false;
                tracing::warn!(in_flight = tasks.len(), "grace period over: cutting the attempts in flight");
                handle.abort();
            }
            Some(joined) = tasks.join_next_with_id(), if !tasks.is_empty() => {
                let done = match joined {
                    Ok((task, done)) => {
                        running.remove(&task);
                        done
                    }
                    Err(error) => vanished(&mut running, &error),
                };
                emit(&mut report, &mut reading, &done.outcome);
                if let Some(id) = done.first_of {
                    let (first_line, waiting) = seen.resolve(&id, done.outcome.first_outcome());
                    for line in waiting {
                        emit(&mut report, &mut reading, &OutcomeLine::duplicate(line, &id, first_line));
                    }
                }
            }
            frame = reader.next_frame(), if reading && tasks.len() < settings.concurrency => {
                match frame {
                    None => reading = false,
                    Some(Err(error)) => {
                        tracing::error!(error = %error, "cannot read the input; the signals already read still end");
                        report.read_error = Some(error);
                        reading = false;
                    }
                    Some(Ok(Frame::Blank { .. })) => report.summary.blank_lines += 1,
                    Some(Ok(frame)) => {
                        let line = frame.line();
                        match frame.to_signal() {
                            None => report.summary.blank_lines += 1,
                            Some(Err(error)) => {
                                let hint = match &frame {
                                    Frame::Line { bytes, .. } => signal_model::id_hint(bytes),
                                    _ => None,
                                };
                                let service = service.clone();
                                let task = tasks.spawn(async move {
                                    let error = service.reject_invalid(hint, error).await;
                                    Done { outcome: OutcomeLine::new(line, &Err(error), None), first_of: None }
                                });
                                running.insert(task.id(), Running { line, id: None, first: false });
                            }
                            Some(Ok(signal)) => {
                                if let Some(outcome) = admit(&mut seen, service, &interrupt, &mut tasks, &mut running, signal, line) {
                                    emit(&mut report, &mut reading, &outcome);
                                }
                            }
                        }
                    }
                }
            }
        }
    }
    report
}

/// Starts the delivery of a new signal, the report of a conflict, or
/// returns the line of a duplicate whose first copy has already ended.
fn admit(
    seen: &mut SeenIds,
    service: &DeliveryService,
    interrupt: &Interrupt,
    tasks: &mut JoinSet<Done>,
    running: &mut HashMap<tokio::task::Id, Running>,
    signal: Signal,
    line: u64,
) -> Option<OutcomeLine> {
    let id = signal.id().to_owned();
    let service = service.clone();
    let seen = seen.check(&id, signal.body(), line);
    let first = seen == Seen::New;
    let task = match seen {
        Seen::New => {
            let interrupt = interrupt.clone();
            let first = id.clone();
            tasks.spawn(async move {
                let result = service.deliver_interruptible(&signal, &interrupt).await;
                Done {
                    outcome: OutcomeLine::new(line, &result, Some(first.clone())),
                    first_of: Some(first),
                }
            })
        }
        Seen::Conflict { first_line } => {
            let conflict = id.clone();
            tasks.spawn(async move {
                let error = DeliveryError::conflict(&conflict, line, Some(first_line));
                service.report_failure(&error).await;
                Done {
                    outcome: OutcomeLine::new(line, &Err(error), None),
                    first_of: None,
                }
            })
        }
        Seen::Duplicate {
            first_line,
            outcome: Some(_),
        } => return Some(OutcomeLine::duplicate(line, &id, first_line)),
        // Written when the first copy ends.
        Seen::Duplicate { outcome: None, .. } => return None,
    };
    running.insert(
        task.id(),
        Running {
            line,
            id: Some(id),
            first,
        },
    );
    None
}

/// A task ended without an outcome (it panicked): never let that pass
/// silently. Its line still gets one, as an internal error.
fn vanished(
    running: &mut HashMap<tokio::task::Id, Running>,
    error: &tokio::task::JoinError,
) -> Done {
    let task = running.remove(&error.id());
    let (line, id, first) = task.map_or((0, None, false), |t| (t.line, t.id, t.first));
    tracing::error!(line, signal_id = ?id, error = %error, "a delivery task ended without an outcome (internal error)");
    Done {
        outcome: OutcomeLine {
            id: id.clone(),
            outcome: "failed",
            reason: Some("internal_error"),
            attempts: 0,
            line,
            duplicate_of: None,
            status: None,
            error: Some(format!(
                "internal error: {error}; the signal may or may not have been delivered"
            )),
        },
        first_of: if first { id } else { None },
    }
}
