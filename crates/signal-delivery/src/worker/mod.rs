//! The outbox worker: claims due signals from the durable outbox, makes one
//! delivery attempt per claim, and records the outcome.
//!
//! It works with any backend of the `signal-outbox` contract
//! (`Arc<dyn Outbox>`). Claim, attempt and record are named steps, one file
//! each (`worker/claim.rs`, `worker/attempt.rs`, `worker/record.rs`).
//!
//! # One attempt per claim
//!
//! The in-memory retry loop of [`DeliveryService::deliver`] sleeps between
//! attempts, and a crash during that sleep loses the signal. The worker never
//! sleeps holding a signal: each claim is one attempt, and a failure is
//! decided with [`retry_core::decide_after_failure`] (the loop's own rule)
//! and stored, as one [`Outcome`](signal_outbox::Outcome) carrying the
//! claim's token:
//!
//! - delivered: `Outcome::Delivered`, with the attempt's status and latency;
//! - retry: `Outcome::Retry` with the attempt count and the delay, so a
//!   restarted worker continues the same schedule;
//! - give up: `Outcome::DeadLetter` with the reason **and the alert**, stored
//!   in the same transaction (same metrics and alert text as `deliver`).
//!
//! # Alerts from the outbox
//!
//! The worker runs the outbox's alert sender next to its claims: the
//! `ops-alerts` dispatcher when Telegram is configured, else a drain that
//! writes each stored alert to the log. Whichever worker holds the sender
//! lease sends every stored alert (dead letters, enqueue's invalid lines
//! and conflicts, the recovered message that the outbox stores when a
//! delivery ends an outage), folded, paced and escalated from the stored
//! rows, so a crash between a dead letter and its Telegram message delays
//! the alert and never loses it. The recorder wakes the sender after each
//! commit; its poll is the backstop.
//!
//! Every attempt is written to the outbox's attempt log: status or error
//! class, latency, and a short redacted excerpt of the server's answer when
//! the client exposes one (`hmac-client` keeps a sanitized excerpt of the
//! body of an HTTP error; a transport failure has none).
//!
//! # Retry budget
//!
//! The service's shared [`retry_core::RetryBudget`] is asked right before
//! each attempt, as the in-memory loop asks it: a first attempt (a row with
//! no attempts yet) deposits, a retry withdraws. When the budget refuses a
//! due retry, the claim makes **no attempt**: the row is deferred
//! (`Outcome::Defer`) by [`retry_core::decide_after_refusal`] (0.5 s to 1.5 s,
//! never past the deadline) with its attempt count and last error
//! unchanged, and counted in `signal_delivery_retry_deferrals_total`. Only a retry still
//! refused when the deadline has come is dead-lettered, with reason `budget`.
//!
//! Outcomes are recorded by one recorder task that commits whatever has
//! accumulated in one transaction (group commit), so a busy worker pays one
//! fsync per batch, not per signal.
//!
//! # Deadline and time
//!
//! `RETRY_MAX_ELAPSED_SECONDS` is measured from the signal's **enqueue time**
//! (stored with the row), not from its first attempt: a trading signal's
//! value decays from the moment it was produced. The age is the backend's
//! `claims.now - enqueued_at` plus this process's monotonic time since the
//! claim, so no host clock is compared with the backend's. A signal that
//! waited longer than the deadline still gets an attempt; if that attempt
//! fails it is dead-lettered with reason `deadline`. The same holds for a
//! replayed signal: a replay gives an old signal one more attempt, not a
//! fresh schedule.
//!
//! # At least once
//!
//! The `webhook-id` is the row id on every attempt. A crash after a send but
//! before its outcome was committed sends the signal again once the lease
//! expires; receivers deduplicate on the id.
//!
//! # Long attempts
//!
//! While attempts run, their leases are extended every third of
//! `OUTBOX_LEASE_SECONDS`, all in one `extend` call (`worker/lease.rs`), so
//! an attempt slower than the lease (a slow receiver, a long request
//! timeout) is not claimed again by another worker meanwhile.
//!
//! # Retention
//!
//! With [`WorkerSettings::retention`] (`OUTBOX_RETENTION_DAYS`) set, the
//! worker purges delivered rows older than it at start and every hour (see
//! `worker/retention.rs`).
//!
//! # An outbox that does not answer
//!
//! A failed claim is retried after the poll interval times the failures in
//! a row (at most 50 times it); `/healthz` reports unhealthy meanwhile. After
//! [`ALERT_AFTER_UNAVAILABLE`](claim::ALERT_AFTER_UNAVAILABLE) (30 s) of
//! failures the owner is alerted from memory (the outbox cannot store that
//! alert), and told again when claims work. After
//! [`WorkerSettings::exit_after_unavailable`] (`OUTBOX_UNAVAILABLE_EXIT_SECONDS`,
//! 10 minutes by default) the
//! worker shuts down gracefully and `run` returns
//! [`WorkerError::Unavailable`], so a supervisor restarts it. Rows it held
//! come back to any worker once their lease expires: none is lost, none
//! stays in flight.
//!
//! # Heartbeat and shutdown
//!
//! The worker records a heartbeat at start and every
//! [`WorkerSettings::heartbeat_interval`]. When the `shutdown` future passed
//! to [`Worker::run`] completes, it stops claiming, lets the attempts
//! already started finish (each is bounded by the HTTP request timeout) and
//! records them, hands back anything it still holds (`release_all`), marks
//! itself stopped in the registry, and lets the alert sender run one last
//! round (bounded by the alert timeout; what it cannot send stays stored).

mod attempt;
mod claim;
mod lease;
mod record;
mod retention;
mod settings;

use std::collections::VecDeque;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use signal_outbox::{Outbox, OutboxError, WorkerInfo, now_millis};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tracing::Instrument;

use crate::alerts::sender::AlertSender;
use crate::service::DeliveryService;
use crate::telemetry;
use attempt::{Ctx, Done};
use claim::{Claimer, Job, keep_alive, refresh_once, refresh_stats};
use record::Recorder;
pub use settings::WorkerSettings;

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
    /// Outcomes not recorded because the claim was fenced: another worker
    /// had claimed the row again after this one's lease expired.
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
    /// Every claim failed for longer than
    /// [`WorkerSettings::exit_after_unavailable`]: the worker stopped (after
    /// its graceful shutdown) so that its supervisor restarts it.
    #[error(
        "the outbox could not be claimed from for {} s (the limit is {} s): {last_error}; \
         the worker stopped so that its supervisor (systemd, Kubernetes) restarts it — \
         check that the database is up and reachable and the disk is not full",
        for_how_long.as_secs(),
        limit.as_secs()
    )]
    Unavailable {
        /// How long claims had failed.
        for_how_long: std::time::Duration,
        /// The bound that was passed.
        limit: std::time::Duration,
        /// The last claim's error (no secret in it).
        last_error: String,
    },
}

/// The outbox worker; see the [module docs](self).
pub struct Worker {
    outbox: Arc<dyn Outbox>,
    service: DeliveryService,
    settings: WorkerSettings,
    name: String,
    healthy: Arc<AtomicBool>,
}

impl std::fmt::Debug for Worker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Worker")
            .field("name", &self.name)
            .field("outbox", &self.outbox)
            .field("settings", &self.settings)
            .field("service", &self.service)
            .finish_non_exhaustive()
    }
}

/// This host's name: `HOSTNAME`, else `/etc/hostname`, else `localhost`.
fn host_name() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.trim().is_empty())
        .or_else(|| {
            std::fs::read_to_string("/etc/hostname")
                .ok()
                .map(|h| h.trim().to_owned())
                .filter(|h| !h.is_empty())
        })
        .unwrap_or_else(|| "localhost".to_owned())
}

/// A worker name unique to this process instance: `host:pid:start-millis`.
/// It shows who holds a row (`lease_owner`) and names the worker in the
/// registry; claim tokens, not names, fence the outcomes.
pub fn unique_worker_name() -> String {
    format!("{}:{}:{}", host_name(), std::process::id(), now_millis())
}

impl Worker {
    /// A worker on `outbox` delivering through `service` (its HTTP client,
    /// retry policy, budget and alerts), with a [unique
    /// name](unique_worker_name).
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
            healthy: Arc::new(AtomicBool::new(true)),
        }
    }

    /// Uses `name` as the lease owner and registry name; it should be unique
    /// to this instance.
    pub fn with_name(mut self, name: impl Into<String>) -> Worker {
        self.name = name.into();
        self
    }

    /// The worker's name.
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
    /// Only a failure of the final hand-back (`release_all`); the rows it
    /// could not release come back when their lease expires.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()>,
    ) -> Result<WorkerReport, WorkerError> {
        let Worker {
            outbox,
            service,
            settings,
            name,
            healthy,
        } = self;
        let name: Arc<str> = Arc::from(name);
        tracing::info!(
            worker = %name,
            outbox = %outbox.describe(),
            lease_s = settings.lease.as_secs_f64(),
            batch = settings.batch_size,
            concurrency = settings.concurrency,
            "outbox worker started"
        );
        let info = WorkerInfo {
            name: name.to_string(),
            host: host_name(),
            pid: std::process::id(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
        };
        let heartbeat = tokio::spawn(keep_alive(
            Arc::clone(&outbox),
            info,
            settings.heartbeat_interval,
        ));
        let alert_sender = AlertSender::start(&service, Arc::clone(&outbox), &name);
        let (recorder, recording) = Recorder::start(
            Arc::clone(&outbox),
            Arc::clone(&name),
            alert_sender.waker(),
            settings.concurrency,
        );
        let stats = tokio::spawn(refresh_stats(Arc::clone(&outbox), settings.stats_interval));
        let purge = settings.retention.map(|retention| {
            tokio::spawn(retention::purge_loop(
                Arc::clone(&outbox),
                retention,
                retention::PURGE_INTERVAL,
            ))
        });
        let held = lease::Held::default();
        let renewing = tokio::spawn(lease::keep_leases(
            Arc::clone(&outbox),
            held.clone(),
            settings.lease,
        ));
        let ctx = Arc::new(Ctx {
            service: service.clone(),
            recorder,
        });
        let mut claimer = Claimer::new(
            Arc::clone(&outbox),
            Arc::clone(&name),
            settings.lease,
            healthy,
            service.alerts().clone(),
        );
        let permits = Arc::new(Semaphore::new(settings.concurrency));
        let mut tasks: JoinSet<Done> = JoinSet::new();
        let mut report = WorkerReport::default();
        let mut shutdown = std::pin::pin!(shutdown);
        let mut hints = outbox.wake_hints();
        let mut unavailable = None;

        // Claimed rows not started yet. Claims run one batch ahead, while
        // attempts are in flight, so a slot that comes free starts its next
        // row at once instead of waiting for a claim's round trip and commit.
        let mut ready: VecDeque<Job> = VecDeque::new();
        // The last claim found fewer rows than it asked for.
        let mut drained = false;
        let starter = Starter {
            ctx: Arc::clone(&ctx),
            held: held.clone(),
        };
        // Every claim is a commit (an fsync): claim at least half a batch
        // while anything is under way, rather than one row at a time.
        let worth_claiming = settings
            .batch_size
            .min(settings.concurrency)
            .div_ceil(2)
            .max(1);

        telemetry::record_worker_up(true);
        'claiming: loop {
            while let Some(done) = tasks.try_join_next() {
                reap(&mut report, done);
            }
            // A busy worker never reaches the waits below: check here too.
            if is_ready(shutdown.as_mut()).await {
                break 'claiming;
            }
            while !ready.is_empty() {
                let Ok(permit) = Arc::clone(&permits).try_acquire_owned() else {
                    break;
                };
                if let Some(job) = ready.pop_front() {
                    starter.start(&mut tasks, job, permit);
                }
            }
            let busy = settings.concurrency - permits.available_permits();
            let room = (settings.concurrency + settings.batch_size)
                .saturating_sub(busy + ready.len())
                .min(settings.batch_size);
            let idle = busy == 0 && ready.is_empty();
            if (room < worth_claiming || (drained && !ready.is_empty())) && !idle {
                // A batch is waiting already, or the last claim found less
                // than it asked for (nothing more is due): start the queued
                // rows as slots come free rather than asking again.
                tokio::select! {
                    biased;
                    () = &mut shutdown => break 'claiming,
                    Ok(permit) = Arc::clone(&permits).acquire_owned() => {
                        if let Some(job) = ready.pop_front() {
                            starter.start(&mut tasks, job, permit);
                        }
                    }
                }
                continue;
            }
            let claimed = {
                let claim = claimer.claim(room);
                tokio::pin!(claim);
                loop {
                    tokio::select! {
                        biased;
                        claimed = &mut claim => break claimed,
                        Ok(permit) = Arc::clone(&permits).acquire_owned(), if !ready.is_empty() => {
                            if let Some(job) = ready.pop_front() {
                                starter.start(&mut tasks, job, permit);
                            }
                        }
                    }
                }
            };
            drained = claimed.len() < room;
            if claimed.is_empty() && ready.is_empty() {
                if let Some(gone) = claimer.unavailable_for(settings.exit_after_unavailable) {
                    tracing::error!(
                        for_s = gone.for_how_long.as_secs(),
                        error = %gone.last_error,
                        "the outbox has been unavailable too long: stopping"
                    );
                    claimer.alert_exit(&gone).await;
                    unavailable = Some(gone);
                    break 'claiming;
                }
                // Idle (or failing): wait, longer after repeated failures;
                // a hint of new work (PostgreSQL's NOTIFY) ends an idle wait
                // early, never a back-off.
                let failing = claimer.is_failing();
                tokio::select! {
                    biased;
                    () = &mut shutdown => break 'claiming,
                    () = next_hint(&mut hints), if !failing => {}
                    () = tokio::time::sleep(claimer.idle_wait(settings.poll_interval)) => {}
                }
                continue;
            }
            report.claimed += claimed.len() as u64;
            for job in claimed {
                // Held from the claim on: its lease is renewed while it waits
                // for a slot, and until its outcome is committed. Rows still
                // waiting at shutdown are handed back by release_all below.
                held.insert(&job.row.id, job.row.token);
                ready.push_back(job);
            }
        }

        // Down from here: the drain below claims nothing new.
        telemetry::record_worker_up(false);
        tracing::info!(worker = %name, in_flight = tasks.len(), "shutting down: finishing attempts in flight");
        while let Some(done) = tasks.join_next().await {
            reap(&mut report, done);
        }
        // The recorder ends once every handle on it is gone.
        drop(starter);
        drop(ctx);
        if let Err(error) = recording.await {
            tracing::error!(error = %error, "outbox recorder task failed");
        }
        stats.abort();
        heartbeat.abort();
        renewing.abort();
        if let Some(purge) = purge {
            purge.abort();
        }
        let released = outbox.release_all(&name).await;
        if let Err(error) = outbox.worker_stopped(&name).await {
            tracing::warn!(error = %error, "cannot mark the worker stopped in the outbox");
        }
        refresh_once(outbox.as_ref()).await;
        alert_sender.stop().await;
        service.shutdown().await;
        report.released = released?;
        if let Some(gone) = unavailable {
            return Err(WorkerError::Unavailable {
                for_how_long: gone.for_how_long,
                limit: settings.exit_after_unavailable,
                last_error: gone.last_error,
            });
        }
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

/// Starts attempt tasks: what each needs, shared.
struct Starter {
    ctx: Arc<Ctx>,
    held: lease::Held,
}

impl Starter {
    /// Starts the attempt of `job` in the slot `permit`.
    fn start(&self, tasks: &mut JoinSet<Done>, job: Job, permit: OwnedSemaphorePermit) {
        let ctx = Arc::clone(&self.ctx);
        let held = self.held.clone();
        let span = tracing::info_span!("signal", id = %job.row.id, attempt = job.row.attempts.saturating_add(1));
        tasks.spawn(
            async move {
                let id = job.row.id.clone();
                // The slot comes back when the outcome is handed to the
                // recorder; the lease is renewed until it is committed.
                let done = attempt::attempt(&ctx, job, Some(permit)).await;
                held.remove(&id);
                done
            }
            .instrument(span),
        );
    }
}

/// The next hint of new work, or never without a hint channel.
async fn next_hint(hints: &mut Option<Box<dyn signal_outbox::WakeHints>>) {
    match hints {
        Some(hints) => hints.next().await,
        None => std::future::pending().await,
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
