//! `verify-alert --outbox`: the drill through the durable path. The signal
//! is enqueued into an outbox, an outbox worker makes the attempts (one per
//! claim, the retries scheduled in the outbox), dead-letters it, and the
//! alert stored with the dead letter is sent by the worker's alert sender:
//! enqueue, worker, retries, dead letter, stored alert, alert observed.
//!
//! The outbox is a fresh SQLite file in a temporary directory, or the one
//! `--outbox-url` names (a SQLite URL or path, or `postgres://...` for a
//! drill on PostgreSQL). A named outbox must have no worker running: one
//! would claim the drill signal and send it to its own signal server.

use signal_config::OutboxTarget;
use signal_delivery::DeliveryService;
use signal_delivery::worker::{Worker, WorkerSettings};
use signal_outbox::{AlertState, NewSignal, Outbox, OutboxExt, State};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use super::DrillError;

/// How recently a worker must have been seen to count as running.
const WORKER_SEEN_WITHIN: Duration = Duration::from_secs(120);

/// What the durable path did with the drill signal.
#[derive(Debug)]
pub(super) struct DurableRun {
    /// Attempts recorded for the signal.
    pub(super) attempts: u32,
    /// Its dead-letter reason.
    pub(super) reason: String,
    /// Its last error.
    pub(super) last_error: String,
    /// Where the outbox is (redacted).
    pub(super) describe: String,
}

/// The outbox the drill uses: `url` if given, else a temporary SQLite file
/// (kept alive by the returned directory).
pub(super) async fn open(
    url: Option<&str>,
) -> Result<(Arc<dyn Outbox>, Option<tempfile::TempDir>), DrillError> {
    let Some(url) = url else {
        let dir = tempfile::tempdir().map_err(|e| {
            DrillError::Config(format!(
                "cannot create a temporary directory for the outbox: {e}"
            ))
        })?;
        let outbox = signal_outbox_sqlite::SqliteOutbox::open(&dir.path().join("drill-outbox.db"))
            .map_err(|e| DrillError::Config(e.to_string()))?;
        return Ok((Arc::new(outbox), Some(dir)));
    };
    let target =
        OutboxTarget::parse("--outbox-url", url).map_err(|e| DrillError::Config(e.to_string()))?;
    let outbox: Arc<dyn Outbox> = match &target {
        OutboxTarget::Sqlite(path) => Arc::new(
            signal_outbox_sqlite::SqliteOutbox::open(path)
                .map_err(|e| DrillError::Config(e.to_string()))?,
        ),
        OutboxTarget::Postgres(url) => Arc::new(
            signal_outbox_postgres::PgOutbox::connect(url.expose_secret())
                .await
                .map_err(|e| DrillError::Config(e.to_string()))?,
        ),
    };
    let running: Vec<String> = outbox
        .workers(WORKER_SEEN_WITHIN)
        .await
        .map_err(|e| DrillError::Config(e.to_string()))?
        .into_iter()
        .filter(|w| !w.stopped)
        .map(|w| w.name)
        .collect();
    if !running.is_empty() {
        return Err(DrillError::Config(format!(
            "the outbox {} has running workers ({}): one of them could claim the drill signal and send \
             it to its signal server; run the drill on an outbox of its own (omit --outbox-url for a \
             temporary one)",
            outbox.describe(),
            running.join(", ")
        )));
    }
    Ok((outbox, None))
}

/// Enqueues the drill signal `id` with `body`, runs a worker until
/// `observed` completes (the alert arrived) or `limit` passes, and reads
/// back the dead letter and its stored alert.
pub(super) async fn deliver(
    outbox: Arc<dyn Outbox>,
    service: &DeliveryService,
    settings: &signal_config::OutboxSettings,
    id: &str,
    body: Vec<u8>,
    observed: impl Future<Output = ()>,
    limit: Duration,
) -> Result<DurableRun, DrillError> {
    let describe = outbox.describe();
    println!("enqueueing signal {id} into the outbox {describe} ...");
    let _ = outbox
        .enqueue_one(NewSignal::new(id, body))
        .await
        .map_err(|e| DrillError::Failed(format!("cannot enqueue the drill signal: {e}")))?;
    let mut worker_settings = WorkerSettings::new(settings, 1);
    worker_settings.poll_interval = Duration::from_millis(50);
    println!(
        "running an outbox worker: one attempt per claim, retries scheduled in the outbox ..."
    );
    let worker = Worker::new(Arc::clone(&outbox), service.clone(), worker_settings)
        .with_name(format!("verify-alert-drill-{}", std::process::id()));
    let stop = async move {
        let _ = tokio::time::timeout(limit, observed).await;
    };
    worker
        .run(stop)
        .await
        .map_err(|e| DrillError::Failed(format!("the outbox worker stopped with an error: {e}")))?;
    let row = outbox
        .get(id)
        .await
        .map_err(|e| DrillError::Failed(e.to_string()))?
        .ok_or_else(|| DrillError::Failed(format!("signal {id} is not in the outbox any more")))?;
    if row.state != State::DeadLettered {
        return Err(DrillError::Failed(format!(
            "signal {id} is {} in the outbox, not dead-lettered, after {} attempt(s)",
            row.state, row.attempts
        )));
    }
    let stored = outbox
        .alerts(None, 1000)
        .await
        .map_err(|e| DrillError::Failed(e.to_string()))?;
    let Some(alert) = stored.iter().find(|a| a.signal_id.as_deref() == Some(id)) else {
        return Err(DrillError::Failed(format!(
            "no alert was stored with the dead letter of {id}"
        )));
    };
    println!(
        "dead letter stored: reason {}, {} attempt(s); its alert #{} is {}{}",
        row.dead_reason.map_or("-", |r| r.as_str()),
        row.attempts,
        alert.id.0,
        alert.state,
        alert
            .message_id
            .map(|m| format!(" (Telegram message {m})"))
            .unwrap_or_default()
    );
    if alert.state != AlertState::Sent {
        return Err(DrillError::Failed(format!(
            "the stored alert #{} of {id} is {}, not sent{}",
            alert.id.0,
            alert.state,
            alert
                .last_error
                .as_deref()
                .map(|e| format!(": {e}"))
                .unwrap_or_default()
        )));
    }
    Ok(DurableRun {
        attempts: row.attempts,
        reason: row.dead_reason.map_or("-", |r| r.as_str()).to_owned(),
        last_error: row.last_error.unwrap_or_default(),
        describe,
    })
}
