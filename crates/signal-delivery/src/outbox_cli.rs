//! The outbox commands: `enqueue`, `run` and `outbox stats|list|replay`.
//! Parsing lives in [`crate::cli`]; this module does the work.

use crate::cli::{EnqueueArgs, OutboxArgs, OutboxCommand, RunArgs};
use crate::config::{DeliveryConfig, OutboxSettings};
use crate::service::DeliveryService;
use crate::signal::{self, Signal};
use crate::telemetry;
use crate::worker::{Worker, WorkerSettings};
use serde::Serialize;
use signal_outbox::{EnqueueOutcome, NewSignal, Outbox, SqliteOutbox, now_millis};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::io::AsyncBufReadExt;
use tokio::sync::mpsc;

/// Most signals committed in one enqueue transaction (group commit). Lines
/// that arrive while a commit runs go into the next one, so a slow producer
/// gets its ack at once and a bulk load pays one fsync per thousand signals.
pub(crate) const ENQUEUE_BATCH: usize = 1000;

fn exit_usage(message: impl std::fmt::Display) -> ExitCode {
    eprintln!("signal-delivery: {message}");
    ExitCode::from(2)
}

/// Opens (creating if needed) the outbox, or explains why not.
fn open(path: &Path) -> Result<SqliteOutbox, ExitCode> {
    SqliteOutbox::open(path).map_err(|e| exit_usage(format_args!("{e}\nNothing was done.")))
}

/// One acknowledgement line of `enqueue`, printed after its batch committed.
#[derive(Debug, Serialize)]
struct Ack {
    id: Option<String>,
    outcome: &'static str,
    line: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

/// Counts of an `enqueue` run.
#[derive(Debug, Default)]
struct EnqueueSummary {
    enqueued: u64,
    duplicate: u64,
    conflict: u64,
    invalid: u64,
    blank: u64,
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

enum Line {
    Text(u64, String),
    ReadError(u64, std::io::Error),
}

fn print_json(out: &mut impl Write, value: &impl Serialize) {
    match serde_json::to_string(value) {
        Ok(json) => {
            // A closed stdout must not stop the work: outcomes are also logged.
            let _ = writeln!(out, "{json}").and_then(|()| out.flush());
        }
        Err(e) => tracing::error!(error = %e, "cannot serialize an output line"),
    }
}

/// `signal-delivery enqueue`.
pub(crate) async fn enqueue(config: DeliveryConfig, args: EnqueueArgs) -> ExitCode {
    telemetry::init_logging(config.log_format);
    let path = args.outbox.unwrap_or_else(|| config.outbox.path.clone());
    let input: Box<dyn tokio::io::AsyncBufRead + Unpin + Send> = match &args.input {
        None => Box::new(tokio::io::BufReader::new(tokio::io::stdin())),
        Some(p) => match tokio::fs::File::open(p).await {
            Ok(file) => Box::new(tokio::io::BufReader::new(file)),
            Err(e) => {
                return exit_usage(format_args!(
                    "cannot open --input {}: {e}\nNothing was enqueued.",
                    p.display()
                ));
            }
        },
    };
    let outbox = match open(&path) {
        Ok(outbox) => Arc::new(outbox),
        Err(code) => return code,
    };
    let service = match DeliveryService::new(&config) {
        Ok(service) => service,
        Err(e) => return exit_usage(format_args!("{e}\nNothing was enqueued.")),
    };

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

    let mut summary = EnqueueSummary::default();
    let mut failure: Option<String> = None;
    let mut stdout = std::io::stdout();
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
                failure = Some(format!(
                    "cannot store signals in the outbox: {e}; the {} signal(s) from line {} on were NOT enqueued (no ack was printed for them)",
                    valid.len(),
                    valid.first().map_or(0, |(line, _)| *line)
                ));
                break 'batches;
            }
            Err(e) => {
                failure = Some(format!(
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
            print_json(&mut stdout, &ack);
        }
        if let Some(error) = read_error {
            failure = Some(format!("{error}; signals after it were not read"));
            break 'batches;
        }
    }
    service.shutdown().await;
    eprintln!("signal-delivery: {summary}");
    if let Some(failure) = &failure {
        eprintln!("signal-delivery: {failure}");
    }
    if failure.is_some() || summary.conflict > 0 || summary.invalid > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

/// Waits for SIGTERM or SIGINT.
async fn termination() -> std::io::Result<impl Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => tracing::info!("SIGTERM received"),
            _ = int.recv() => tracing::info!("SIGINT received"),
        }
    })
}

/// `signal-delivery run`.
pub(crate) async fn run(mut config: DeliveryConfig, args: RunArgs) -> ExitCode {
    if args.metrics_addr.is_some() {
        config.metrics_addr = args.metrics_addr;
    }
    telemetry::init_logging(config.log_format);
    let path = args.outbox.unwrap_or_else(|| config.outbox.path.clone());
    let outbox: Arc<dyn Outbox> = match open(&path) {
        Ok(outbox) => Arc::new(outbox),
        Err(code) => return code,
    };
    let shutdown = match termination().await {
        Ok(shutdown) => shutdown,
        Err(e) => {
            return exit_usage(format_args!(
                "cannot install the SIGTERM/SIGINT handlers: {e}"
            ));
        }
    };
    let service = match DeliveryService::new(&config) {
        Ok(service) => service,
        Err(e) => return exit_usage(e),
    };
    let settings = WorkerSettings::new(&config.outbox, args.concurrency);
    if settings.lease <= config.client.request_timeout {
        tracing::warn!(
            lease_s = settings.lease.as_secs_f64(),
            request_timeout_s = config.client.request_timeout.as_secs_f64(),
            "OUTBOX_LEASE_SECONDS is not longer than SIGNAL_REQUEST_TIMEOUT_SECONDS: a slow attempt may outlive its lease and the signal may be sent twice (receivers deduplicate on webhook-id)"
        );
    }
    let worker = Worker::new(outbox, service, settings);
    if let Some(addr) = config.metrics_addr {
        let health = worker.health();
        let healthy = Arc::new(move || health.load(Ordering::Relaxed));
        match telemetry::serve_metrics_and_health(addr, healthy).await {
            Ok(handle) => {
                tokio::spawn(async move {
                    loop {
                        tokio::time::sleep(Duration::from_secs(5)).await;
                        handle.run_upkeep();
                    }
                });
            }
            Err(e) => return exit_usage(format_args!("{e}\nThe worker did not start.")),
        }
    }
    eprintln!(
        "signal-delivery: worker {} delivering from {}",
        worker.name(),
        path.display()
    );
    match worker.run(shutdown).await {
        Ok(report) => {
            eprintln!(
                "signal-delivery: worker stopped: {} claimed, {} delivered, {} rescheduled, {} dead-lettered, {} released",
                report.claimed,
                report.delivered,
                report.rescheduled,
                report.dead_lettered,
                report.released
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("signal-delivery: worker stopped with an error: {e}");
            ExitCode::from(1)
        }
    }
}

#[derive(Debug, Serialize)]
struct StatsLine<'a> {
    path: &'a str,
    pending: u64,
    in_flight: u64,
    delivered: u64,
    dead_lettered: u64,
    total: u64,
    oldest_pending_age_seconds: Option<f64>,
}

#[derive(Debug, Serialize)]
struct RowLine {
    id: String,
    state: &'static str,
    attempts: u32,
    claims: u32,
    next_attempt_at: i64,
    lease_owner: Option<String>,
    lease_until: Option<i64>,
    dead_reason: Option<&'static str>,
    last_error: Option<String>,
    enqueued_at: i64,
    updated_at: i64,
    delivered_at: Option<i64>,
    body_len: u64,
    body_sha256: String,
}

impl From<signal_outbox::RowSummary> for RowLine {
    fn from(row: signal_outbox::RowSummary) -> RowLine {
        RowLine {
            id: row.id,
            state: row.state.as_str(),
            attempts: row.attempts,
            claims: row.claims,
            next_attempt_at: row.next_attempt_at,
            lease_owner: row.lease_owner,
            lease_until: row.lease_until,
            dead_reason: row.dead_reason.map(|r| r.as_str()),
            last_error: row.last_error,
            enqueued_at: row.enqueued_at,
            updated_at: row.updated_at,
            delivered_at: row.delivered_at,
            body_len: row.body_len,
            body_sha256: row.body_hash,
        }
    }
}

/// `signal-delivery outbox stats|list|replay`: operator commands. They need
/// only the outbox path, never the signing secret or the alert token.
pub(crate) fn outbox(settings: &OutboxSettings, args: OutboxArgs) -> ExitCode {
    let path: PathBuf = args.outbox.unwrap_or_else(|| settings.path.clone());
    if !path.exists() {
        return exit_usage(format_args!(
            "no signal outbox at {} (set OUTBOX_PATH or --outbox to the file the worker uses)",
            path.display()
        ));
    }
    let outbox = match open(&path) {
        Ok(outbox) => outbox,
        Err(code) => return code,
    };
    let mut stdout = std::io::stdout().lock();
    let now = now_millis();
    match args.command {
        OutboxCommand::Stats => match outbox.stats(now) {
            Ok(stats) => {
                print_json(
                    &mut stdout,
                    &StatsLine {
                        path: &path.to_string_lossy(),
                        pending: stats.pending,
                        in_flight: stats.in_flight,
                        delivered: stats.delivered,
                        dead_lettered: stats.dead_lettered,
                        total: stats.total(),
                        oldest_pending_age_seconds: stats
                            .oldest_pending_age
                            .map(|d| d.as_secs_f64()),
                    },
                );
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("signal-delivery: {e}");
                ExitCode::from(1)
            }
        },
        OutboxCommand::List { state, limit } => match outbox.list(state, limit) {
            Ok(rows) => {
                for row in rows {
                    print_json(&mut stdout, &RowLine::from(row));
                }
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("signal-delivery: {e}");
                ExitCode::from(1)
            }
        },
        OutboxCommand::Replay { id } => match outbox.replay(&id, now) {
            Ok(()) => {
                print_json(
                    &mut stdout,
                    &serde_json::json!({"id": id, "outcome": "replayed"}),
                );
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("signal-delivery: {e}");
                ExitCode::from(1)
            }
        },
    }
}
