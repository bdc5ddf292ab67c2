//! Claiming, and the worker's two background chores: its heartbeat and the
//! outbox depth gauges.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use ops_alerts::{OpsAlertService, Severity};
use signal_outbox::{Claimed, Outbox, Timestamp, WorkerInfo, elapsed_between};
use tokio::time::Instant;

use crate::telemetry;

/// A claimed row, with the backend's time of the claim and this process's
/// monotonic time of it: a signal's age is measured from both, so no host
/// clock is ever compared with the backend's.
#[derive(Debug)]
pub(super) struct Job {
    pub(super) row: Claimed,
    claimed_now: Timestamp,
    claimed_at: Instant,
}

impl Job {
    /// How long ago the signal was enqueued: its age at the claim (backend
    /// clock) plus the time since (monotonic).
    pub(super) fn age(&self) -> Duration {
        elapsed_between(self.row.enqueued_at, self.claimed_now)
            .saturating_add(self.claimed_at.elapsed())
    }
}

/// How long claims must have failed without a break before the owner is
/// alerted: a busy moment or a database restart passes sooner.
pub(super) const ALERT_AFTER_UNAVAILABLE: Duration = Duration::from_secs(30);

/// How far the outbox's clock may be from this host's before the worker
/// warns: leases and schedules follow the outbox's clock, but receivers
/// check the `webhook-timestamp` (this host's) against theirs.
const CLOCK_TOLERANCE_MS: i64 = 5_000;

/// How often a persistent clock difference is logged again.
const CLOCK_WARN_EVERY: Duration = Duration::from_secs(600);

/// The outbox could not be claimed from for longer than
/// [`WorkerSettings::exit_after_unavailable`](super::WorkerSettings::exit_after_unavailable).
#[derive(Debug, Clone)]
pub(super) struct Unavailable {
    pub(super) for_how_long: Duration,
    pub(super) last_error: String,
}

/// Claims for one worker, tracking failures for the health flag, the idle
/// back-off, the storage alert and the exit bound.
pub(super) struct Claimer {
    outbox: Arc<dyn Outbox>,
    name: Arc<str>,
    lease: Duration,
    healthy: Arc<AtomicBool>,
    failures: u32,
    failing_since: Option<Instant>,
    alerted: bool,
    last_error: String,
    clock_warned_at: Option<Instant>,
    alerts: OpsAlertService,
}

impl Claimer {
    pub(super) fn new(
        outbox: Arc<dyn Outbox>,
        name: Arc<str>,
        lease: Duration,
        healthy: Arc<AtomicBool>,
        alerts: OpsAlertService,
    ) -> Claimer {
        Claimer {
            outbox,
            name,
            lease,
            healthy,
            failures: 0,
            failing_since: None,
            alerted: false,
            last_error: String::new(),
            clock_warned_at: None,
            alerts,
        }
    }

    /// Up to `limit` due rows; none when the outbox failed (logged, the
    /// health flag turns false until a claim succeeds again, the owner is
    /// alerted once it has failed for [`ALERT_AFTER_UNAVAILABLE`]).
    pub(super) async fn claim(&mut self, limit: usize) -> Vec<Job> {
        let started = Instant::now();
        match self.outbox.claim(&self.name, limit, self.lease).await {
            Ok(claims) => {
                let offset = claims.now.saturating_sub(signal_outbox::now_millis());
                telemetry::record_claim(started.elapsed(), Some(offset));
                self.check_clock(offset);
                if self.alerted {
                    self.alert(
                        format!(
                            "The worker {} can claim from the outbox {} again; delivery goes on.",
                            self.name,
                            self.outbox.describe()
                        ),
                        Severity::Info,
                    );
                }
                if self.failures > 0 {
                    tracing::info!(failures = self.failures, "the outbox answers again");
                }
                self.failures = 0;
                self.failing_since = None;
                self.alerted = false;
                self.healthy.store(true, Ordering::Relaxed);
                let (claimed_now, claimed_at) = (claims.now, Instant::now());
                claims
                    .rows
                    .into_iter()
                    .inspect(|row| {
                        if row.lease_expired {
                            telemetry::record_lease_expiry();
                            tracing::warn!(
                                signal_id = %row.id,
                                claims = row.claims,
                                "claimed a signal whose earlier lease expired: its worker stopped mid-attempt (it may have been sent already; the receiver deduplicates on webhook-id)"
                            );
                        }
                    })
                    .map(|row| Job {
                        row,
                        claimed_now,
                        claimed_at,
                    })
                    .collect()
            }
            Err(error) => {
                telemetry::record_claim_failure();
                self.failures = self.failures.saturating_add(1);
                let since = *self.failing_since.get_or_insert(started);
                self.last_error = error.to_string();
                self.healthy.store(false, Ordering::Relaxed);
                tracing::error!(error = %error, failures = self.failures, "cannot claim from the outbox; retrying");
                // The outbox cannot store this alert (it is what fails), so
                // it goes from memory: the one alert that cannot wait for it.
                if !self.alerted && since.elapsed() >= ALERT_AFTER_UNAVAILABLE {
                    self.alerted = true;
                    self.alert(
                        format!(
                            "The worker {} cannot claim signals from the outbox {} (for {} s): {error}. \
                             Nothing is delivered until this is fixed (a full disk, a database \
                             down or unreachable?); the worker keeps retrying.",
                            self.name,
                            self.outbox.describe(),
                            since.elapsed().as_secs()
                        ),
                        Severity::Critical,
                    );
                }
                Vec::new()
            }
        }
    }

    /// `Some` once claims have failed without a break for `limit`.
    pub(super) fn unavailable_for(&self, limit: Duration) -> Option<Unavailable> {
        let since = self.failing_since?;
        (since.elapsed() >= limit).then(|| Unavailable {
            for_how_long: since.elapsed(),
            last_error: self.last_error.clone(),
        })
    }

    /// The owner hears of a lost outbox before the worker exits on it, even
    /// when the exit bound is shorter than [`ALERT_AFTER_UNAVAILABLE`].
    pub(super) async fn alert_exit(&mut self, gone: &Unavailable) {
        if self.alerted {
            return;
        }
        self.alerted = true;
        let text = format!(
            "The worker {} stops: it could not claim signals from the outbox {} for {} s ({}). \
             Nothing is delivered by it until it is restarted and the outbox answers.",
            self.name,
            self.outbox.describe(),
            gone.for_how_long.as_secs(),
            gone.last_error
        );
        let _ = self
            .alerts
            .send_owner_alert(&text, Severity::Critical)
            .await;
    }

    /// Warns (and every [`CLOCK_WARN_EVERY`] again) when the outbox's clock
    /// and this host's differ by more than [`CLOCK_TOLERANCE_MS`].
    fn check_clock(&mut self, offset_ms: i64) {
        if offset_ms.abs() <= CLOCK_TOLERANCE_MS {
            return;
        }
        if self
            .clock_warned_at
            .is_some_and(|at| at.elapsed() < CLOCK_WARN_EVERY)
        {
            return;
        }
        self.clock_warned_at = Some(Instant::now());
        tracing::warn!(
            offset_ms,
            outbox = %self.outbox.describe(),
            "this host's clock and the outbox's differ by more than 5 s: leases and schedules follow \
             the outbox's clock, but receivers check webhook-timestamp (this host's) against theirs; \
             run NTP (chrony, systemd-timesyncd) on every host"
        );
    }

    /// Sends `text` from memory without holding up the claim loop.
    fn alert(&self, text: String, severity: Severity) {
        let alerts = self.alerts.clone();
        tokio::spawn(async move {
            let _ = alerts.send_owner_alert(&text, severity).await;
        });
    }

    /// How long to wait when there was nothing to claim: the poll interval,
    /// longer after repeated failures.
    pub(super) fn idle_wait(&self, poll_interval: Duration) -> Duration {
        poll_interval.saturating_mul(self.failures.clamp(1, 50))
    }

    /// True while the last claim failed (a wake-up hint must not cut the
    /// back-off short then).
    pub(super) fn is_failing(&self) -> bool {
        self.failures > 0
    }
}

/// Tells the outbox this worker is alive, at once and every `every`.
pub(super) async fn keep_alive(outbox: Arc<dyn Outbox>, info: WorkerInfo, every: Duration) {
    loop {
        if let Err(error) = outbox.heartbeat(info.clone()).await {
            tracing::warn!(error = %error, "cannot record the worker heartbeat");
        }
        tokio::time::sleep(every).await;
    }
}

/// Refreshes the depth gauges at once and every `every`.
pub(super) async fn refresh_stats(outbox: Arc<dyn Outbox>, every: Duration) {
    loop {
        refresh_once(outbox.as_ref()).await;
        tokio::time::sleep(every).await;
    }
}

pub(super) async fn refresh_once(outbox: &dyn Outbox) {
    match outbox.stats().await {
        Ok(stats) => telemetry::record_outbox_stats(&stats),
        Err(error) => tracing::warn!(error = %error, "cannot read outbox stats"),
    }
}
