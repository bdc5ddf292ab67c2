//! The outbox worker: claims due signals from the durable outbox, makes one
//! delivery attempt per claim, and records the outcome.
//!
//! # One attempt per claim
//!
//! The in-memory retry loop of [`DeliveryService::deliver`] sleeps between
//! attempts, and a crash during that sleep loses the signal. The worker never
//! sleeps holding a signal: each claim is one attempt, and a failure is
//! decided with [`retry_core::decide_after_failure`] (the loop's own rule)
//! and stored:
//!
//! - delivered: [`Outbox::mark_delivered`];
//! - retry: [`Outbox::reschedule`] with the attempt count and the next
//!   attempt time, so a restarted worker continues the same schedule;
//! - give up: [`Outbox::dead_letter`] with the reason, then the alert through
//!   the same path as `deliver` (same metrics, same alert text).
//!
//! # Retry budget
//!
//! The service's shared [`retry_core::RetryBudget`] is asked right before
//! each attempt, as the in-memory loop asks it: a first attempt (a row with
//! no attempts yet) deposits, a retry withdraws. When the budget refuses a
//! due retry, the claim makes **no attempt**: the row is rescheduled by the
//! deferral of [`retry_core::decide_after_refusal`] (0.5 s to 1.5 s, never
//! past the deadline) with its attempt count and last error unchanged, and
//! counted in `retry_deferrals_total`. Only a retry still refused when the
//! deadline has come is dead-lettered, with reason `budget`.
//!
//! Outcomes are recorded by one recorder task that commits whatever has
//! accumulated in one transaction ([`Outbox::record_outcomes`], group commit),
//! so a busy worker pays one fsync per batch, not per signal. An attempt's
//! alert is sent only after its dead-letter is committed.
//!
//! # Deadline
//!
//! `RETRY_MAX_ELAPSED_SECONDS` is measured from the signal's **enqueue time**
//! (stored with the row), not from its first attempt: a trading signal's
//! value decays from the moment it was produced, and a backlog or an outage
//! before the first attempt is part of its age. A signal that waited longer
//! than the deadline still gets an attempt; if that attempt fails it is
//! dead-lettered with reason `deadline` instead of being retried. The same
//! holds for a replayed signal: a replay gives an old signal one more
//! attempt, not a fresh schedule.
//!
//! # At least once
//!
//! The `webhook-id` is the row id on every attempt. A crash after a send but
//! before its outcome was committed sends the signal again once the lease
//! expires; receivers deduplicate on the id.
//!
//! # Shutdown
//!
//! When the `shutdown` future passed to [`Worker::run`] completes, the worker
//! stops claiming, lets the attempts already started finish (each is bounded
//! by the HTTP request timeout) and records them, hands back anything it
//! still holds ([`Outbox::release_all`]), and flushes pending alert
//! summaries.

use crate::outcome::DeliveryError;
use crate::service::DeliveryService;
use crate::signal::Signal;
use crate::telemetry::{self, RetryNotice};
use bytes::Bytes;
use retry_core::{
    Classify, Clock, RetryDecision, SplitMix64, TokioClock, calculate_backoff_delay,
    decide_after_failure, decide_after_refusal,
};
use signal_config::OutboxSettings;
use signal_outbox::{Claimed, DeadReason, Outbox, OutboxError, Outcome, UnixMillis, now_millis};
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::sync::{Semaphore, mpsc, oneshot};
use tokio::task::JoinSet;
use tracing::Instrument;

/// The time source of the worker, in Unix milliseconds. The default is the
/// wall clock ([`now_millis`]); tests inject one driven by tokio's paused
/// clock.
pub type WorkerClock = Arc<dyn Fn() -> UnixMillis + Send + Sync>;

/// Most outcomes committed in one transaction by the recorder.
const MAX_RECORD_BATCH: usize = 256;

/// How the worker claims and paces itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerSettings {
    /// How long a claim is leased (`OUTBOX_LEASE_SECONDS`).
    pub lease: Duration,
    /// Idle wait before looking for due rows again (`OUTBOX_POLL_INTERVAL_MS`).
    pub poll_interval: Duration,
    /// Most rows claimed per transaction (`OUTBOX_BATCH_SIZE`).
    pub batch_size: usize,
    /// Most attempts in flight at once (`run --concurrency`).
    pub concurrency: usize,
    /// How often the outbox depth gauges are refreshed.
    pub stats_interval: Duration,
}

impl WorkerSettings {
    /// Default refresh interval of the depth gauges.
    pub const DEFAULT_STATS_INTERVAL: Duration = Duration::from_secs(5);

    /// The settings from the outbox configuration and a concurrency.
    pub fn new(outbox: &OutboxSettings, concurrency: usize) -> WorkerSettings {
        WorkerSettings {
            lease: outbox.lease,
            poll_interval: outbox.poll_interval,
            batch_size: outbox.batch_size.max(1),
            concurrency: concurrency.max(1),
            stats_interval: WorkerSettings::DEFAULT_STATS_INTERVAL,
        }
    }
}

/// What one run of the worker did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WorkerReport {
    /// Rows claimed.
    pub claimed: u64,
    /// Signals delivered (and recorded).
    pub delivered: u64,
    /// Failed attempts rescheduled.
    pub rescheduled: u64,
    /// Due retries the retry budget deferred: rescheduled without an attempt.
    pub deferred: u64,
    /// Signals dead-lettered (each alerted).
    pub dead_lettered: u64,
    /// Outcomes not recorded because another worker had taken the row over.
    pub lease_lost: u64,
    /// Outcomes not recorded because the database failed (the rows come
    /// back when their lease expires).
    pub not_recorded: u64,
    /// Rows handed back unattempted at shutdown.
    pub released: u64,
}

impl WorkerReport {
    fn add(&mut self, done: Done) {
        match done {
            Done::Delivered => self.delivered += 1,
            Done::Rescheduled => self.rescheduled += 1,
            Done::Deferred => self.deferred += 1,
            Done::DeadLettered => self.dead_lettered += 1,
            Done::LeaseLost => self.lease_lost += 1,
            Done::NotRecorded => self.not_recorded += 1,
        }
    }
}

/// Why the worker stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    /// The outbox failed in a way the worker cannot continue from.
    #[error(transparent)]
    Outbox(#[from] OutboxError),
    /// A blocking outbox task did not complete (it panicked).
    #[error("an outbox task failed: {0}")]
    Task(String),
}

/// The outbox worker; see the [module docs](self).
pub struct Worker {
    outbox: Arc<dyn Outbox>,
    service: DeliveryService,
    settings: WorkerSettings,
    name: String,
    clock: WorkerClock,
    healthy: Arc<AtomicBool>,
}

impl std::fmt::Debug for Worker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Worker")
            .field("name", &self.name)
            .field("settings", &self.settings)
            .field("service", &self.service)
            .finish_non_exhaustive()
    }
}

/// A worker name unique to this process instance: `host:pid:start-millis`.
/// Leases are matched by name, so a restarted process must not reuse one.
pub fn unique_worker_name() -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.trim().is_empty())
        .or_else(|| {
            std::fs::read_to_string("/etc/hostname")
                .ok()
                .map(|h| h.trim().to_owned())
                .filter(|h| !h.is_empty())
        })
        .unwrap_or_else(|| "localhost".to_owned());
    format!("{host}:{}:{}", std::process::id(), now_millis())
}

/// What one attempt task ended with.
#[derive(Debug, Clone, Copy)]
enum Done {
    Delivered,
    Rescheduled,
    Deferred,
    DeadLettered,
    LeaseLost,
    NotRecorded,
}

/// An outcome with owned strings, sent to the recorder.
#[derive(Debug)]
enum OwnedOutcome {
    Delivered {
        id: String,
        attempts: u32,
    },
    Retry {
        id: String,
        attempts: u32,
        next_attempt_at: UnixMillis,
        last_error: String,
    },
    DeadLetter {
        id: String,
        attempts: u32,
        reason: DeadReason,
        last_error: String,
    },
}

impl OwnedOutcome {
    fn as_outcome(&self) -> Outcome<'_> {
        match self {
            OwnedOutcome::Delivered { id, attempts } => Outcome::Delivered {
                id,
                attempts: *attempts,
            },
            OwnedOutcome::Retry {
                id,
                attempts,
                next_attempt_at,
                last_error,
            } => Outcome::Retry {
                id,
                attempts: *attempts,
                next_attempt_at: *next_attempt_at,
                last_error,
            },
            OwnedOutcome::DeadLetter {
                id,
                attempts,
                reason,
                last_error,
            } => Outcome::DeadLetter {
                id,
                attempts: *attempts,
                reason: *reason,
                last_error,
            },
        }
    }
}

/// Why an outcome was not recorded.
#[derive(Debug)]
enum NotRecorded {
    /// The worker no longer holds the row.
    NotHeld(String),
    /// The database failed.
    Storage(String),
}

type Recorded = Result<(), NotRecorded>;

struct Record {
    outcome: OwnedOutcome,
    reply: oneshot::Sender<Recorded>,
}

/// What every attempt task shares.
struct Ctx {
    service: DeliveryService,
    clock: WorkerClock,
    recorder: mpsc::UnboundedSender<Record>,
}

impl Ctx {
    async fn record(&self, outcome: OwnedOutcome) -> Recorded {
        let (reply, answer) = oneshot::channel();
        if self.recorder.send(Record { outcome, reply }).is_err() {
            return Err(NotRecorded::Storage("the recorder has stopped".to_owned()));
        }
        answer
            .await
            .unwrap_or_else(|_| Err(NotRecorded::Storage("the recorder has stopped".to_owned())))
    }
}

impl Worker {
    /// A worker on `outbox` delivering through `service` (its HTTP client,
    /// retry policy, budget and alerts), with a [unique
    /// name](unique_worker_name) and the wall clock.
    pub fn new(
        outbox: Arc<dyn Outbox>,
        service: DeliveryService,
        settings: WorkerSettings,
    ) -> Worker {
        Worker {
            outbox,
            service,
            settings,
            name: unique_worker_name(),
            clock: Arc::new(now_millis),
            healthy: Arc::new(AtomicBool::new(true)),
        }
    }

    /// Uses `clock` instead of the wall clock (tests on tokio's paused clock).
    pub fn with_clock(mut self, clock: WorkerClock) -> Worker {
        self.clock = clock;
        self
    }

    /// Uses `name` as the lease owner; it must be unique to this instance.
    pub fn with_name(mut self, name: impl Into<String>) -> Worker {
        self.name = name.into();
        self
    }

    /// The lease owner name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// False while the outbox cannot be read (claims failing); for `/healthz`.
    pub fn health(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.healthy)
    }

    /// Runs until `shutdown` completes, then shuts down gracefully (see the
    /// [module docs](self)). Alert summaries are flushed before it returns.
    ///
    /// Storage errors while claiming are logged and retried (the health flag
    /// turns false meanwhile); they do not stop the worker.
    ///
    /// # Errors
    /// Only a failure of the final hand-back ([`Outbox::release_all`]); the
    /// rows it could not release come back when their lease expires.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()>,
    ) -> Result<WorkerReport, WorkerError> {
        let Worker {
            outbox,
            service,
            settings,
            name,
            clock,
            healthy,
        } = self;
        let name: Arc<str> = Arc::from(name);
        tracing::info!(
            worker = %name,
            lease_s = settings.lease.as_secs_f64(),
            batch = settings.batch_size,
            concurrency = settings.concurrency,
            "outbox worker started"
        );
        let (recorder_tx, recorder_rx) = mpsc::unbounded_channel();
        let recorder = tokio::spawn(recorder(
            Arc::clone(&outbox),
            Arc::clone(&name),
            Arc::clone(&clock),
            recorder_rx,
        ));
        let stats = tokio::spawn(refresh_stats(
            Arc::clone(&outbox),
            Arc::clone(&clock),
            settings.stats_interval,
        ));
        let ctx = Arc::new(Ctx {
            service: service.clone(),
            clock: Arc::clone(&clock),
            recorder: recorder_tx,
        });
        let permits = Arc::new(Semaphore::new(settings.concurrency));
        let mut tasks: JoinSet<Done> = JoinSet::new();
        let mut report = WorkerReport::default();
        let mut shutdown = std::pin::pin!(shutdown);
        let mut failures: u32 = 0;

        'claiming: loop {
            while let Some(done) = tasks.try_join_next() {
                reap(&mut report, done);
            }
            // A busy worker never reaches the waits below: check here too.
            if is_ready(shutdown.as_mut()).await {
                break 'claiming;
            }
            let free = permits.available_permits().min(settings.batch_size);
            // Every claim is a commit (an fsync): while attempts are in
            // flight, wait until at least half a batch of slots is free
            // rather than claiming one row at a time.
            let worth_claiming = settings
                .batch_size
                .min(settings.concurrency)
                .div_ceil(2)
                .max(1);
            if free == 0 || (free < worth_claiming && !tasks.is_empty()) {
                tokio::select! {
                    biased;
                    () = &mut shutdown => break 'claiming,
                    Some(done) = tasks.join_next() => reap(&mut report, done),
                }
                continue;
            }
            let claim = {
                let outbox = Arc::clone(&outbox);
                let name = Arc::clone(&name);
                let now = clock();
                let lease = settings.lease;
                tokio::task::spawn_blocking(move || outbox.claim_due(&name, now, free, lease))
            };
            let claimed = match claim.await {
                Ok(Ok(rows)) => {
                    failures = 0;
                    healthy.store(true, Ordering::Relaxed);
                    rows
                }
                Ok(Err(error)) => {
                    failures = failures.saturating_add(1);
                    healthy.store(false, Ordering::Relaxed);
                    tracing::error!(error = %error, failures, "cannot claim from the outbox; retrying");
                    Vec::new()
                }
                Err(error) => {
                    failures = failures.saturating_add(1);
                    healthy.store(false, Ordering::Relaxed);
                    tracing::error!(error = %error, "outbox claim task failed; retrying");
                    Vec::new()
                }
            };
            if claimed.is_empty() {
                // Idle (or failing): wait, longer after repeated failures.
                let wait = settings.poll_interval.saturating_mul(failures.clamp(1, 50));
                tokio::select! {
                    biased;
                    () = &mut shutdown => break 'claiming,
                    () = tokio::time::sleep(wait) => {}
                }
                continue;
            }
            report.claimed += claimed.len() as u64;
            if is_ready(shutdown.as_mut()).await {
                // Claimed but not attempted: handed back by release_all below.
                break 'claiming;
            }
            for row in claimed {
                // Only this loop takes permits, and it claimed at most the
                // free ones, so this succeeds; if not, the row stays claimed
                // and is released at shutdown or taken over after its lease.
                let Ok(permit) = Arc::clone(&permits).try_acquire_owned() else {
                    tracing::warn!(signal_id = %row.id, "no free slot for a claimed row");
                    continue;
                };
                let ctx = Arc::clone(&ctx);
                let span = tracing::info_span!(
                    "signal",
                    id = %row.id,
                    attempt = row.attempts.saturating_add(1)
                );
                tasks.spawn(
                    async move {
                        let done = attempt(&ctx, row).await;
                        drop(permit);
                        done
                    }
                    .instrument(span),
                );
            }
        }

        tracing::info!(worker = %name, in_flight = tasks.len(), "shutting down: finishing attempts in flight");
        while let Some(done) = tasks.join_next().await {
            reap(&mut report, done);
        }
        drop(ctx);
        if let Err(error) = recorder.await {
            tracing::error!(error = %error, "outbox recorder task failed");
        }
        stats.abort();
        let released = {
            let outbox = Arc::clone(&outbox);
            let name = Arc::clone(&name);
            let now = clock();
            tokio::task::spawn_blocking(move || outbox.release_all(&name, now))
                .await
                .map_err(|e| WorkerError::Task(e.to_string()))
        };
        refresh_once(&outbox, &clock).await;
        service.shutdown().await;
        report.released = released??;
        tracing::info!(
            worker = %name,
            claimed = report.claimed,
            delivered = report.delivered,
            rescheduled = report.rescheduled,
            deferred = report.deferred,
            dead_lettered = report.dead_lettered,
            released = report.released,
            "outbox worker stopped"
        );
        Ok(report)
    }
}

/// Polls `future` once: true if it has completed. Used on the shutdown
/// future only, which is never polled again once it was ready.
async fn is_ready(future: std::pin::Pin<&mut impl Future<Output = ()>>) -> bool {
    let mut future = future;
    std::future::poll_fn(|cx| std::task::Poll::Ready(future.as_mut().poll(cx).is_ready())).await
}

fn reap(report: &mut WorkerReport, done: Result<Done, tokio::task::JoinError>) {
    match done {
        Ok(done) => report.add(done),
        // The row stays in flight and comes back after its lease.
        Err(error) => {
            tracing::error!(error = %error, "a delivery task failed; its signal is retried after the lease");
            report.not_recorded += 1;
        }
    }
}

/// The dead-letter reason stored for a failure reason.
fn dead_reason(reason: crate::FailureReason) -> DeadReason {
    match reason {
        crate::FailureReason::InvalidSignal => DeadReason::InvalidSignal,
        crate::FailureReason::Exhausted => DeadReason::Exhausted,
        crate::FailureReason::Deadline => DeadReason::Deadline,
        crate::FailureReason::Rejected => DeadReason::Rejected,
        crate::FailureReason::SignatureRejected => DeadReason::SignatureRejected,
        crate::FailureReason::Budget => DeadReason::Budget,
        crate::FailureReason::Conflict => DeadReason::Conflict,
        crate::FailureReason::Interrupted => DeadReason::Interrupted,
    }
}

fn millis_between(earlier: UnixMillis, later: UnixMillis) -> Duration {
    Duration::from_millis(u64::try_from(later.saturating_sub(earlier)).unwrap_or(0))
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// One attempt for one claimed row, and its recorded outcome.
async fn attempt(ctx: &Ctx, row: Claimed) -> Done {
    let service = &ctx.service;
    let attempt_no = row.attempts.saturating_add(1);
    let id = row.id;
    // Enqueue validated the body; a row written by other means is checked
    // again so that nothing malformed is ever signed and sent.
    if let Err(error) = Signal::from_json(&row.body) {
        let error = DeliveryError::invalid(Some(id.clone()), error);
        return give_up(ctx, id, row.attempts, error).await;
    }
    // Asked right before the attempt, not when the retry was scheduled, so
    // that a refusal really holds the retry back (the in-memory loop's rule).
    if let Some(budget) = service.budget() {
        let now = TokioClock.now();
        if row.attempts == 0 {
            budget.deposit(now);
        } else if !budget.try_withdraw(now) {
            return defer(ctx, id, row.attempts, row.enqueued_at, row.last_error).await;
        }
    }
    telemetry::record_attempt();
    let result = service
        .client()
        .post_signal(&id, Bytes::from(row.body))
        .await;
    let now = (ctx.clock)();
    let age = millis_between(row.enqueued_at, now);
    let error = match result {
        Ok(receipt) => {
            let outcome = OwnedOutcome::Delivered {
                id: id.clone(),
                attempts: attempt_no,
            };
            let recorded = ctx.record(outcome).await;
            // The receiver has it either way: count and log the delivery.
            service.alerts().note_delivery_success();
            return match recorded {
                Ok(()) => {
                    telemetry::record_delivered(age);
                    tracing::info!(
                        outcome = "delivered",
                        status = receipt.status,
                        attempts = attempt_no,
                        age_ms = millis(age),
                        "signal delivered"
                    );
                    Done::Delivered
                }
                Err(failure) => not_recorded(&id, failure),
            };
        }
        Err(error) => error,
    };
    let policy = service.policy();
    let decision = decide_after_failure(policy, attempt_no, age, error.retryability(), || {
        let mut rng = SplitMix64::from_entropy();
        Some(calculate_backoff_delay(
            policy,
            attempt_no.saturating_sub(1),
            &mut rng,
        ))
    });
    match decision {
        RetryDecision::RetryAfter(delay) => {
            let text = error.to_string();
            let outcome = OwnedOutcome::Retry {
                id: id.clone(),
                attempts: attempt_no,
                next_attempt_at: now.saturating_add(millis(delay)),
                last_error: text.clone(),
            };
            match ctx.record(outcome).await {
                Ok(()) => {
                    telemetry::record_retry();
                    tracing::debug!(
                        attempt = attempt_no,
                        delay_ms = millis(delay),
                        error = %text,
                        "attempt failed, rescheduled"
                    );
                    if let Some(listener) = service.listener() {
                        listener(&RetryNotice {
                            signal_id: id,
                            attempt: attempt_no,
                            max_attempts: policy.max_attempts(),
                            error: text,
                            delay,
                        });
                    }
                    Done::Rescheduled
                }
                Err(failure) => not_recorded(&id, failure),
            }
        }
        RetryDecision::GiveUp(reason) => {
            let error = DeliveryError::gave_up(&id, reason, attempt_no, age, error);
            give_up(ctx, id, attempt_no, error).await
        }
    }
}

/// The budget refused this due retry: reschedule it without an attempt
/// (attempts and last error unchanged), or dead-letter it with `budget` once
/// the deadline has come.
async fn defer(
    ctx: &Ctx,
    id: String,
    attempts: u32,
    enqueued_at: UnixMillis,
    last_error: Option<String>,
) -> Done {
    let now = (ctx.clock)();
    let age = millis_between(enqueued_at, now);
    let last_error = last_error.unwrap_or_else(|| "(no error recorded)".to_owned());
    let decision = decide_after_refusal(ctx.service.policy(), age, &mut SplitMix64::from_entropy());
    let delay = match decision {
        RetryDecision::RetryAfter(delay) => delay,
        RetryDecision::GiveUp(_) => {
            let error = DeliveryError::held_back(&id, attempts, age, last_error);
            return give_up(ctx, id, attempts, error).await;
        }
    };
    let outcome = OwnedOutcome::Retry {
        id: id.clone(),
        attempts,
        next_attempt_at: now.saturating_add(millis(delay)),
        last_error,
    };
    match ctx.record(outcome).await {
        Ok(()) => {
            telemetry::record_deferral();
            tracing::debug!(
                attempt = attempts.saturating_add(1),
                delay_ms = millis(delay),
                age_ms = millis(age),
                "retry deferred by the retry budget"
            );
            Done::Deferred
        }
        Err(failure) => not_recorded(&id, failure),
    }
}

/// Dead-letters the row, then alerts (only once the dead letter is durable).
async fn give_up(ctx: &Ctx, id: String, attempts: u32, error: DeliveryError) -> Done {
    let outcome = OwnedOutcome::DeadLetter {
        id: id.clone(),
        attempts,
        reason: dead_reason(error.reason()),
        last_error: error.to_string(),
    };
    match ctx.record(outcome).await {
        Ok(()) => {
            ctx.service.report_failure(&error).await;
            Done::DeadLettered
        }
        Err(failure) => not_recorded(&id, failure),
    }
}

fn not_recorded(id: &str, failure: NotRecorded) -> Done {
    match failure {
        NotRecorded::NotHeld(error) => {
            tracing::warn!(signal_id = %id, error = %error, "outcome dropped: another worker holds the signal now");
            Done::LeaseLost
        }
        NotRecorded::Storage(error) => {
            tracing::error!(signal_id = %id, error = %error, "outcome not recorded; the signal is attempted again after its lease");
            Done::NotRecorded
        }
    }
}

/// Commits outcomes in batches: whatever has arrived since the last commit.
async fn recorder(
    outbox: Arc<dyn Outbox>,
    name: Arc<str>,
    clock: WorkerClock,
    mut records: mpsc::UnboundedReceiver<Record>,
) {
    while let Some(first) = records.recv().await {
        let mut batch = vec![first];
        while batch.len() < MAX_RECORD_BATCH {
            match records.try_recv() {
                Ok(record) => batch.push(record),
                Err(_) => break,
            }
        }
        let (outcomes, replies): (Vec<OwnedOutcome>, Vec<oneshot::Sender<Recorded>>) =
            batch.into_iter().map(|r| (r.outcome, r.reply)).unzip();
        let now = clock();
        let outbox = Arc::clone(&outbox);
        let name = Arc::clone(&name);
        let result = tokio::task::spawn_blocking(move || {
            let borrowed: Vec<Outcome<'_>> =
                outcomes.iter().map(OwnedOutcome::as_outcome).collect();
            outbox.record_outcomes(&name, &borrowed, now)
        })
        .await;
        match result {
            Ok(Ok(results)) => {
                let mut results = results.into_iter();
                for reply in replies {
                    let answer = match results.next() {
                        Some(Ok(())) => Ok(()),
                        Some(Err(error)) => Err(NotRecorded::NotHeld(error.to_string())),
                        None => Err(NotRecorded::Storage(
                            "no result for this outcome".to_owned(),
                        )),
                    };
                    let _ = reply.send(answer);
                }
            }
            Ok(Err(error)) => {
                let text = error.to_string();
                for reply in replies {
                    let _ = reply.send(Err(NotRecorded::Storage(text.clone())));
                }
            }
            Err(error) => {
                let text = error.to_string();
                for reply in replies {
                    let _ = reply.send(Err(NotRecorded::Storage(text.clone())));
                }
            }
        }
    }
}

async fn refresh_stats(outbox: Arc<dyn Outbox>, clock: WorkerClock, every: Duration) {
    loop {
        refresh_once(&outbox, &clock).await;
        tokio::time::sleep(every).await;
    }
}

async fn refresh_once(outbox: &Arc<dyn Outbox>, clock: &WorkerClock) {
    let outbox = Arc::clone(outbox);
    let now = clock();
    match tokio::task::spawn_blocking(move || outbox.stats(now)).await {
        Ok(Ok(stats)) => telemetry::record_outbox_stats(&stats),
        Ok(Err(error)) => tracing::warn!(error = %error, "cannot read outbox stats"),
        Err(error) => tracing::warn!(error = %error, "outbox stats task failed"),
    }
}
