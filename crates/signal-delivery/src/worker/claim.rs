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

/// Claim failures in a row after which the owner is alerted: one failure
/// is a busy moment, three (with the back-off between them) a problem.
const ALERT_AFTER_FAILURES: u32 = 3;

/// Claims for one worker, tracking failures for the health flag, the idle
/// back-off and the storage alert.
pub(super) struct Claimer {
    outbox: Arc<dyn Outbox>,
    name: Arc<str>,
    lease: Duration,
    healthy: Arc<AtomicBool>,
    failures: u32,
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
            alerts,
        }
    }

    /// Up to `limit` due rows; none when the outbox failed (logged, the
    /// health flag turns false until a claim succeeds again).
    pub(super) async fn claim(&mut self, limit: usize) -> Vec<Job> {
        match self.outbox.claim(&self.name, limit, self.lease).await {
            Ok(claims) => {
                if self.failures >= ALERT_AFTER_FAILURES {
                    self.alert(
                        format!(
                            "The worker {} can read the outbox {} again; delivery goes on.",
                            self.name,
                            self.outbox.describe()
                        ),
                        Severity::Info,
                    );
                }
                self.failures = 0;
                self.healthy.store(true, Ordering::Relaxed);
                let (claimed_now, claimed_at) = (claims.now, Instant::now());
                claims
                    .rows
                    .into_iter()
                    .map(|row| Job {
                        row,
                        claimed_now,
                        claimed_at,
                    })
                    .collect()
            }
            Err(error) => {
                self.failures = self.failures.saturating_add(1);
                self.healthy.store(false, Ordering::Relaxed);
                tracing::error!(error = %error, failures = self.failures, "cannot claim from the outbox; retrying");
                // The outbox cannot store this alert (it is what fails), so
                // it goes from memory: the one alert that cannot wait for it.
                if self.failures == ALERT_AFTER_FAILURES {
                    self.alert(
                        format!(
                            "The worker {} cannot claim signals from the outbox {}: {error}. \
                             Nothing is delivered until this is fixed (a full disk or a lost \
                             database connection?); the worker keeps retrying.",
                            self.name,
                            self.outbox.describe()
                        ),
                        Severity::Critical,
                    );
                }
                Vec::new()
            }
        }
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
