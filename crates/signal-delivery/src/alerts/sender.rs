//! Who sends the alerts stored in the outbox: the `ops-alerts` dispatcher
//! when Telegram is configured, else a drain that writes each stored alert
//! to the log, so that a stored alert always ends somewhere and the table
//! never grows without bound when alerts are disabled.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use ops_alerts::durable::{AlertQueue, AlertUpdate, AlertWaker, StoredAlert};
use ops_alerts::{AlertKind, AlertPayload, DEFAULT_ESCALATE_AFTER, FormatContext, ReplayHint};
use signal_outbox::Outbox;
use tokio::sync::{Notify, oneshot};
use tokio::task::JoinHandle;

use super::queue::OutboxAlerts;
use crate::service::DeliveryService;

/// How long the log drain holds the sender lease from each renewal.
const LOG_LEASE: Duration = Duration::from_secs(60);
/// The log drain's longest pause between rounds (the waker ends it sooner).
const LOG_POLL: Duration = Duration::from_secs(2);
/// Stored alerts the log drain reads per page.
const LOG_PAGE: usize = 100;

/// Wakes whichever sender runs, after alerts were stored.
#[derive(Debug, Clone)]
pub(crate) enum AlertWake {
    /// The Telegram dispatcher.
    Dispatcher(AlertWaker),
    /// The log drain.
    Log(Arc<Notify>),
}

impl AlertWake {
    /// Alerts were stored: send them now rather than at the next poll.
    pub(crate) fn wake(&self) {
        match self {
            AlertWake::Dispatcher(waker) => waker.wake(),
            AlertWake::Log(notify) => notify.notify_one(),
        }
    }
}

/// The running sender; [`AlertSender::stop`] ends it after one last round.
#[derive(Debug)]
pub(crate) struct AlertSender {
    wake: AlertWake,
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

impl AlertSender {
    /// Starts sending the alerts stored in `outbox`, holding the sender
    /// lease as `worker`: through Telegram when `service` has it configured,
    /// else into the log.
    pub(crate) fn start(
        service: &DeliveryService,
        outbox: Arc<dyn Outbox>,
        worker: &str,
    ) -> AlertSender {
        let queue = OutboxAlerts::new(outbox);
        let (stop, stopped) = oneshot::channel::<()>();
        let stopped = async move {
            let _ = stopped.await;
        };
        match service
            .alerts()
            .durable_dispatcher(Arc::new(queue.clone()), worker)
        {
            Ok(Some(dispatcher)) => {
                let wake = AlertWake::Dispatcher(dispatcher.waker());
                let task = tokio::spawn(async move {
                    let stats = dispatcher.run(stopped).await;
                    tracing::info!(
                        sent = stats.sent,
                        folded = stats.folded,
                        summaries = stats.summaries,
                        retried = stats.retried,
                        failed = stats.failed,
                        "alert sender stopped"
                    );
                });
                AlertSender { wake, stop, task }
            }
            Ok(None) => Self::log_drain(queue, worker, stopped, stop),
            Err(problems) => {
                // Only an empty worker name is refused; the log drain still
                // writes every stored alert where an operator sees it.
                tracing::error!(
                    ?problems,
                    "the Telegram alert sender cannot start; stored alerts go to the log"
                );
                Self::log_drain(queue, worker, stopped, stop)
            }
        }
    }

    fn log_drain(
        queue: OutboxAlerts,
        worker: &str,
        stopped: impl Future<Output = ()> + Send + 'static,
        stop: oneshot::Sender<()>,
    ) -> AlertSender {
        let notify = Arc::new(Notify::new());
        let wake = AlertWake::Log(Arc::clone(&notify));
        let worker = worker.to_owned();
        let task = tokio::spawn(async move {
            let mut stopped = std::pin::pin!(stopped);
            loop {
                drain_round(&queue, &worker).await;
                tokio::select! {
                    biased;
                    () = &mut stopped => break,
                    () = notify.notified() => {}
                    () = tokio::time::sleep(LOG_POLL) => {}
                }
            }
            drain_round(&queue, &worker).await;
        });
        AlertSender { wake, stop, task }
    }

    /// The handle that wakes the sender after alerts were stored.
    pub(crate) fn waker(&self) -> AlertWake {
        self.wake.clone()
    }

    /// Sends what is due in one last round, then stops. Whatever it could
    /// not send stays stored for the next sender.
    pub(crate) async fn stop(self) {
        let _ = self.stop.send(());
        if let Err(error) = self.task.await {
            tracing::error!(error = %error, "the alert sender task failed; stored alerts wait for the next sender");
        }
    }
}

/// Writes every due stored alert to the log and marks it sent (with no
/// Telegram message id), page by page, while this process holds the lease.
async fn drain_round(queue: &OutboxAlerts, worker: &str) {
    let lease = match queue.acquire_sender(worker, LOG_LEASE).await {
        Ok(Some(lease)) => lease,
        // Another process sends: its alerts, its job.
        Ok(None) => return,
        Err(error) => {
            tracing::warn!(error = %error, "cannot take the alert sender lease; stored alerts wait");
            return;
        }
    };
    loop {
        let rows = match queue.pending_alerts(&lease, LOG_PAGE).await {
            Ok(rows) => rows,
            Err(error) => {
                tracing::warn!(error = %error, "cannot read the stored alerts; retried at the next round");
                return;
            }
        };
        if rows.is_empty() {
            return;
        }
        let full_page = rows.len() == LOG_PAGE;
        let updates = rows.iter().map(log_alert).collect();
        if let Err(error) = queue.update_alerts(&lease, updates).await {
            tracing::warn!(error = %error, "cannot mark the logged alerts; they may be logged again");
            return;
        }
        if !full_page {
            return;
        }
    }
}

/// Logs one stored alert as its owner would have read it on Telegram.
fn log_alert(row: &StoredAlert) -> AlertUpdate {
    match AlertPayload::from_json(&row.payload) {
        Ok(payload) => {
            let severity = payload.severity(row.consecutive, DEFAULT_ESCALATE_AFTER);
            let context = FormatContext {
                recorded_at: to_utc(row.created_at),
                replay: ReplayHint::Outbox,
            };
            let text = payload.format(severity, &context).plain;
            if row.kind == AlertKind::Recovered {
                tracing::info!(alert_id = row.id.0, kind = %row.kind.as_str(), alert = %text, "alert (Telegram disabled)");
            } else {
                tracing::error!(alert_id = row.id.0, kind = %row.kind.as_str(), alert = %text, "alert (Telegram disabled)");
            }
            AlertUpdate::Sent {
                id: row.id,
                message_id: None,
            }
        }
        Err(error) => {
            tracing::error!(
                alert_id = row.id.0,
                kind = %row.kind.as_str(),
                group = %row.group_key,
                signal_id = row.signal_id.as_deref().unwrap_or("-"),
                error = %error,
                "stored alert cannot be read; marked failed"
            );
            AlertUpdate::Failed {
                id: row.id,
                error: error.to_string(),
            }
        }
    }
}

fn to_utc(millis: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(millis).unwrap_or(DateTime::<Utc>::UNIX_EPOCH)
}
