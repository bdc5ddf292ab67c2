//! The in-memory outage of `send` (no outbox): opened by the first alerted
//! failure of the server or the network, counted by every later one, closed
//! by the first delivery that works, which sends one recovered message.
//!
//! The outage's length is measured on tokio's clock (monotonic, and the
//! paused clock of tests); its start is the wall-clock time of the first
//! failure, and its end that start plus the length, so the two times shown
//! always differ by exactly the length shown.

use std::sync::atomic::Ordering;
use std::sync::{Mutex, MutexGuard, PoisonError};

use chrono::{DateTime, Utc};
use tokio::time::Instant;

use super::log::log_only;
use super::{OpsAlertService, Telegram};
use crate::format::format_timestamp;
use crate::outcome::AlertOutcome;
use crate::payload::ReplayHint;
use crate::recovered::{RESOLVED_TITLE, RecoveredAlert, format_outage_length, format_recovered};
use crate::severity::Severity;

/// The open outage and the recovered messages not sent yet.
#[derive(Debug, Default)]
pub(super) struct Outages {
    open: Mutex<Option<Open>>,
    /// Recovered messages that found no tokio runtime to be sent on: `flush`
    /// sends them.
    unsent: Mutex<Vec<RecoveredAlert>>,
}

#[derive(Debug)]
struct Open {
    started_at: DateTime<Utc>,
    started: Instant,
    failed: u64,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // The state stays consistent across a panic elsewhere; keep using it.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Outages {
    /// An alerted failure of the server or the network.
    pub(super) fn note_failure(&self) {
        let mut open = lock(&self.open);
        match open.as_mut() {
            Some(outage) => outage.failed = outage.failed.saturating_add(1),
            None => {
                *open = Some(Open {
                    started_at: Utc::now(),
                    started: Instant::now(),
                    failed: 1,
                });
            }
        }
    }

    /// A delivery worked: the outage, if one was open, is over.
    fn close(&self) -> Option<RecoveredAlert> {
        let outage = lock(&self.open).take()?;
        let length = chrono::TimeDelta::from_std(outage.started.elapsed()).unwrap_or_default();
        Some(RecoveredAlert {
            started_at: outage.started_at,
            ended_at: outage.started_at + length,
            failed: outage.failed,
        })
    }

    pub(super) fn take_unsent(&self) -> Vec<RecoveredAlert> {
        std::mem::take(&mut *lock(&self.unsent))
    }
}

impl OpsAlertService {
    /// Closes the open outage, if any, and sends its recovered message.
    pub(super) fn recover(&self) {
        let Some(recovered) = self.inner.outages.close() else {
            return;
        };
        if self.inner.telegram.is_none() {
            log_recovered(&recovered);
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            tracing::warn!("no tokio runtime: the recovered message will only go out on flush()");
            lock(&self.inner.outages.unsent).push(recovered);
            return;
        };
        // Counted before the task exists, so a flush that starts now waits for it.
        self.inner.in_flight.fetch_add(1, Ordering::AcqRel);
        let service = self.clone();
        runtime.spawn(async move {
            if let Some(telegram) = service.inner.telegram.as_ref() {
                let _ = service.send_recovered(telegram, &recovered).await;
            }
            service.inner.in_flight.fetch_sub(1, Ordering::AcqRel);
            service.inner.idle.notify_waiters();
        });
    }

    /// One recovered message (INFO in the metrics), never folded.
    pub(super) async fn send_recovered(
        &self,
        telegram: &Telegram,
        recovered: &RecoveredAlert,
    ) -> AlertOutcome {
        let formatted = format_recovered(recovered, ReplayHint::SendAgain);
        let length = outage_length(recovered);
        let failed = recovered.failed.to_string();
        let since = format_timestamp(recovered.started_at);
        let fields = [
            ("outage", length.as_str()),
            ("since", since.as_str()),
            ("failed", failed.as_str()),
        ];
        self.deliver(telegram, &formatted, Severity::Info, &fields)
            .await
    }
}

fn outage_length(recovered: &RecoveredAlert) -> String {
    format_outage_length(
        (recovered.ended_at - recovered.started_at)
            .to_std()
            .unwrap_or_default(),
    )
}

/// Alerts disabled: the recovery is a log line, like every other alert.
fn log_recovered(recovered: &RecoveredAlert) {
    let length = outage_length(recovered);
    let failed = recovered.failed.to_string();
    let since = format_timestamp(recovered.started_at);
    log_only(
        Severity::Info,
        format_args!("{RESOLVED_TITLE} (alert not sent)"),
        &[("outage", &length), ("since", &since), ("failed", &failed)],
    );
}
