//! Group summaries: the task that closes a group when its cooldown window
//! ends, the flush at shutdown, and the summary message itself.

use std::sync::atomic::Ordering;
use std::time::Duration;

use chrono::Utc;
use tokio::time::Instant;

use super::{OpsAlertService, Telegram};
use crate::format::{SummaryAlert, format_summary};
use crate::grouping::{Closed, Fingerprint};
use crate::outcome::AlertOutcome;
use crate::service::METRIC_FAILED;
use crate::severity::Severity;

impl OpsAlertService {
    /// Sends every pending group summary now, then any recovered message not
    /// sent yet, and waits for summaries and recovered messages already being
    /// sent; call it at shutdown (SIGTERM included) so folded alerts are never
    /// lost. Takes at most the alert timeout: summaries that do not make it
    /// are logged at ERROR with their counts and ids.
    pub async fn flush(&self) {
        let Some(telegram) = self.inner.telegram.as_ref() else {
            return;
        };
        let deadline = Instant::now() + telegram.config().alert_timeout();
        let closed = telegram.lock_groups().drain();
        for closed in closed {
            if closed.group.folded == 0 {
                continue;
            }
            if Instant::now() >= deadline {
                log_unsent_summary(&closed, "flush ran out of time");
                continue;
            }
            if tokio::time::timeout_at(deadline, self.send_summary(telegram, &closed))
                .await
                .is_err()
            {
                log_unsent_summary(&closed, "flush ran out of time");
            }
        }
        for recovered in self.inner.outages.take_unsent() {
            if tokio::time::timeout_at(deadline, self.send_recovered(telegram, &recovered))
                .await
                .is_err()
            {
                metrics::counter!(METRIC_FAILED, "severity" => Severity::Info.as_str())
                    .increment(1);
                tracing::error!(
                    failed = recovered.failed,
                    "recovered message not sent (flush ran out of time)"
                );
            }
        }
        // Summaries and recovered messages taken by tasks before the drain.
        let _ = tokio::time::timeout_at(deadline, async {
            loop {
                let idle = self.inner.idle.notified();
                if self.inner.in_flight.load(Ordering::Acquire) == 0 {
                    return;
                }
                idle.await;
            }
        })
        .await;
    }

    /// One task per open group: at the end of the window, close the group and
    /// send its summary. Holding a clone of the service keeps it alive until
    /// then, so dropping the last handle early does not lose the summary.
    pub(super) fn schedule_window_end(
        &self,
        fingerprint: Fingerprint,
        group_id: u64,
        cooldown: Duration,
    ) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            tracing::warn!("no tokio runtime: the group summary will only go out on flush()");
            return;
        };
        let service = self.clone();
        runtime.spawn(async move {
            tokio::time::sleep(cooldown).await;
            let Some(telegram) = service.inner.telegram.as_ref() else {
                return;
            };
            let closed = {
                let mut groups = telegram.lock_groups();
                let closed = groups.close(&fingerprint, group_id);
                if closed.as_ref().is_some_and(|c| c.group.folded > 0) {
                    // Counted under the lock, so a concurrent flush that finds
                    // the group gone knows to wait for this send.
                    service.inner.in_flight.fetch_add(1, Ordering::AcqRel);
                }
                closed
            };
            if let Some(closed) = closed.filter(|c| c.group.folded > 0) {
                let _ = service.send_summary(telegram, &closed).await;
                service.inner.in_flight.fetch_sub(1, Ordering::AcqRel);
                service.inner.idle.notify_waiters();
            }
        });
    }

    async fn send_summary(&self, telegram: &Telegram, closed: &Closed) -> AlertOutcome {
        let group = &closed.group;
        let formatted = format_summary(&SummaryAlert {
            severity: group.severity,
            operation: &closed.fingerprint.operation,
            error_class: &closed.fingerprint.error_class,
            last_error: &group.last_error,
            folded: group.folded,
            signal_ids: &group.signal_ids,
            window_start: group.opened_at,
            timestamp: Utc::now(),
        });
        let folded = group.folded.to_string();
        let ids = group.signal_ids.join(", ");
        let fields = [
            ("operation", closed.fingerprint.operation.as_str()),
            ("error_class", closed.fingerprint.error_class.as_str()),
            ("folded", folded.as_str()),
            ("signal_ids", ids.as_str()),
            ("last_error", group.last_error.as_str()),
        ];
        self.deliver(telegram, &formatted, group.severity, &fields)
            .await
    }
}

fn log_unsent_summary(closed: &Closed, why: &str) {
    metrics::counter!(METRIC_FAILED, "severity" => closed.group.severity.as_str()).increment(1);
    tracing::error!(
        operation = %closed.fingerprint.operation,
        error_class = %closed.fingerprint.error_class,
        folded = closed.group.folded,
        signal_ids = %closed.group.signal_ids.join(", "),
        last_error = %closed.group.last_error,
        severity = %closed.group.severity,
        "group summary not sent ({why}): {} more signals failed the same way",
        closed.group.folded
    );
}
