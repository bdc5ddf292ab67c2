//! Metrics (Prometheus through the `metrics` facade) and log set-up.
//!
//! Metric names are constants here so tests, docs and dashboards agree.

use crate::outcome::FailureReason;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder};
use retry_core::{DeferEvent, GiveUpEvent, RetryEvent, RetryObserver};
use signal_config::LogFormat;
use std::net::SocketAddr;
use std::time::Duration;

/// Counter: retries scheduled, by `operation` (`post_signal`). One of the
/// two names the project started with, kept without the common prefix.
pub const RETRIES_TOTAL: &str = "retries_total";
/// Counter: due retries that the retry budget deferred (no attempt made),
/// by `operation`. A steady rise means the server is failing for many
/// signals at once; see docs/operations.md.
pub const RETRY_DEFERRALS_TOTAL: &str = "signal_delivery_retry_deferrals_total";
/// Counter: signals delivered.
pub const SIGNALS_DELIVERED_TOTAL: &str = "signal_delivery_signals_delivered_total";
/// Counter: signals not delivered, by `reason` (see [`FailureReason::as_str`]).
pub const SIGNALS_FAILED_TOTAL: &str = "signal_delivery_signals_failed_total";
/// Histogram: seconds from a signal's acceptance to its outcome, by
/// `outcome` (`delivered`, `failed`). Accepted means enqueued, for the
/// outbox worker (so `outcome="delivered"` is the time from enqueue to
/// delivery, retries and waits for a worker included), and handed to
/// `deliver`, for `send`.
pub const DELIVERY_SECONDS: &str = "signal_delivery_duration_seconds";
/// Counter: attempts made (first tries and retries), by `operation`.
pub const ATTEMPTS_TOTAL: &str = "signal_delivery_attempts_total";
/// Histogram: seconds one HTTP attempt took, by `operation` and `result`
/// (`ok`: the server accepted it; `error`: any failure, the request
/// timeout included).
pub const ATTEMPT_SECONDS: &str = "signal_delivery_attempt_duration_seconds";

/// Gauge: outbox rows by `state` (pending, in_flight, delivered, dead_lettered),
/// refreshed by the worker.
pub const OUTBOX_SIGNALS: &str = "signal_delivery_outbox_signals";
/// Gauge: seconds since the oldest pending signal was enqueued (0 when none).
pub const OUTBOX_OLDEST_PENDING_AGE: &str = "signal_delivery_outbox_oldest_pending_age_seconds";

/// Histogram: seconds one claim transaction took (the worker's view of the
/// outbox's latency).
pub const OUTBOX_CLAIM_SECONDS: &str = "signal_delivery_outbox_claim_duration_seconds";
/// Counter: claims that failed (storage busy or unreachable; each is
/// retried with back-off, so a rise is a lost or failing database).
pub const OUTBOX_CLAIM_FAILURES_TOTAL: &str = "signal_delivery_outbox_claim_failures_total";
/// Counter: rows this worker claimed from an earlier claim whose lease had
/// run out (that worker died, hung, or lost the outbox mid-attempt).
pub const OUTBOX_LEASE_EXPIRIES_TOTAL: &str = "signal_delivery_outbox_lease_expiries_total";
/// Counter: outcomes dropped because this worker's claim was fenced (its
/// lease expired and another worker claimed the row again).
pub const OUTBOX_FENCED_TOTAL: &str = "signal_delivery_outbox_fenced_total";
/// Gauge: the outbox's clock minus this host's, in seconds, at the last
/// claim (leases and schedules follow the outbox's clock; the
/// `webhook-timestamp` follows the host's).
pub const OUTBOX_CLOCK_OFFSET: &str = "signal_delivery_outbox_clock_offset_seconds";

/// Gauge: 1 while this process's outbox worker runs its loop, 0 once it
/// has stopped (while it drains, and in `send`).
pub const WORKER_UP: &str = "signal_delivery_worker_up";
/// Gauge: always 1, with the build's `version` as a label (join on it to
/// see which version each instance runs).
pub const BUILD_INFO: &str = "signal_delivery_build_info";

/// The operation name used in retry metrics and alerts.
pub const POST_SIGNAL: &str = "post_signal";

/// Histogram buckets (seconds): from a fast first try to a full 10-minute schedule.
const DELIVERY_BUCKETS: [f64; 12] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0, 30.0, 155.0, 600.0,
];

/// Histogram buckets (seconds) of one attempt: up to the longest request
/// timeout anyone should set.
const ATTEMPT_BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0, 30.0,
];

/// Histogram buckets (seconds) of one claim: an embedded SQLite claim
/// takes well under a millisecond, a busy PostgreSQL one can take seconds.
const CLAIM_BUCKETS: [f64; 10] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.25, 1.0,
];

/// Why the Prometheus endpoint could not start.
#[derive(Debug, thiserror::Error)]
#[error("cannot serve metrics on {addr} (METRICS_ADDR): {reason}; choose a free IP:PORT")]
pub struct MetricsError {
    addr: SocketAddr,
    reason: String,
}

/// A health probe for `/healthz`: true while the process can do its work.
pub type HealthCheck = std::sync::Arc<dyn Fn() -> bool + Send + Sync>;

/// Installs the global Prometheus recorder and serves `/metrics` and
/// `/healthz` on `addr` with a small axum server (the exporter's own listener
/// cannot add routes). `/healthz` answers 200 `ok` while `healthy` returns
/// true, 503 otherwise. Histogram upkeep runs every 5 s in the background.
/// Must be called inside a tokio runtime.
pub async fn serve_metrics(
    addr: SocketAddr,
    healthy: HealthCheck,
) -> Result<metrics_exporter_prometheus::PrometheusHandle, MetricsError> {
    use axum::http::StatusCode;
    use axum::routing::get;
    let fail = |reason: String| MetricsError { addr, reason };
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| fail(e.to_string()))?;
    let mut builder = PrometheusBuilder::new();
    for (name, buckets) in [
        (DELIVERY_SECONDS, &DELIVERY_BUCKETS[..]),
        (ATTEMPT_SECONDS, &ATTEMPT_BUCKETS[..]),
        (OUTBOX_CLAIM_SECONDS, &CLAIM_BUCKETS[..]),
    ] {
        builder = builder
            .set_buckets_for_metric(Matcher::Full(name.to_owned()), buckets)
            .map_err(|e| fail(e.to_string()))?;
    }
    let handle = builder
        .install_recorder()
        .map_err(|e| fail(e.to_string()))?;
    describe();
    register_at_zero();
    let render = handle.clone();
    let app = axum::Router::new()
        .route("/metrics", get(move || std::future::ready(render.render())))
        .route(
            "/healthz",
            get(move || {
                std::future::ready(if healthy() {
                    (StatusCode::OK, "ok\n")
                } else {
                    (StatusCode::SERVICE_UNAVAILABLE, "unhealthy\n")
                })
            }),
        );
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(error = %e, "metrics endpoint stopped");
        }
    });
    let upkeep = handle.clone();
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_secs(5)).await;
            upkeep.run_upkeep();
        }
    });
    Ok(handle)
}

/// Registers help texts (shown by Prometheus as `# HELP`).
pub fn describe() {
    metrics::describe_counter!(
        RETRIES_TOTAL,
        "Retries scheduled after a failed attempt, by operation."
    );
    metrics::describe_counter!(
        RETRY_DEFERRALS_TOTAL,
        "Due retries deferred by the retry budget (no attempt made), by operation."
    );
    metrics::describe_counter!(
        ATTEMPTS_TOTAL,
        "Attempts made, first tries and retries, by operation."
    );
    metrics::describe_counter!(
        SIGNALS_DELIVERED_TOTAL,
        "Signals delivered to the signal server."
    );
    metrics::describe_counter!(
        SIGNALS_FAILED_TOTAL,
        "Signals not delivered (each one alerted), by reason."
    );
    metrics::describe_gauge!(
        OUTBOX_SIGNALS,
        "Signals in the outbox, by state; refreshed by the worker."
    );
    metrics::describe_gauge!(
        OUTBOX_OLDEST_PENDING_AGE,
        metrics::Unit::Seconds,
        "Age of the oldest pending signal in the outbox (0 when none is pending)."
    );
    metrics::describe_histogram!(
        OUTBOX_CLAIM_SECONDS,
        metrics::Unit::Seconds,
        "Seconds one claim from the outbox took."
    );
    metrics::describe_counter!(
        OUTBOX_CLAIM_FAILURES_TOTAL,
        "Claims from the outbox that failed (retried with back-off)."
    );
    metrics::describe_counter!(
        OUTBOX_FENCED_TOTAL,
        "Outcomes dropped because the claim was fenced (the lease expired and another worker claimed the row)."
    );
    metrics::describe_gauge!(
        OUTBOX_CLOCK_OFFSET,
        metrics::Unit::Seconds,
        "The outbox's clock minus this host's clock at the last claim."
    );
    metrics::describe_histogram!(
        DELIVERY_SECONDS,
        metrics::Unit::Seconds,
        "Seconds from a signal's acceptance (enqueue, or send) to its outcome, by outcome."
    );
    metrics::describe_histogram!(
        ATTEMPT_SECONDS,
        metrics::Unit::Seconds,
        "Seconds one HTTP attempt to the signal server took, by operation and result (ok, error)."
    );
    metrics::describe_counter!(
        OUTBOX_LEASE_EXPIRIES_TOTAL,
        "Rows claimed from an earlier claim whose lease had run out (its worker died, hung or lost the outbox)."
    );
    metrics::describe_gauge!(
        WORKER_UP,
        "1 while this process's outbox worker runs, 0 once it has stopped."
    );
    metrics::describe_gauge!(
        BUILD_INFO,
        "Always 1; the version label says which build this process runs."
    );
    ops_alerts::describe_metrics();
}

/// The result labels of [`ATTEMPT_SECONDS`].
const ATTEMPT_RESULTS: [&str; 2] = ["ok", "error"];
/// The outcome labels of [`DELIVERY_SECONDS`].
const OUTCOMES: [&str; 2] = ["delivered", "failed"];

/// Creates every series whose label set is known in advance, at zero, so
/// that the first scrape already has them: `rate()` then sees the first
/// increment as one (a series born at 1 is invisible to it), and
/// `absent()` only fires when something is really missing. Label sets
/// that depend on the input (none today) would appear on first use.
/// Gauges that measure the outbox are the exception: see below.
pub fn register_at_zero() {
    for name in [RETRIES_TOTAL, RETRY_DEFERRALS_TOTAL, ATTEMPTS_TOTAL] {
        metrics::counter!(name, "operation" => POST_SIGNAL).increment(0);
    }
    metrics::counter!(SIGNALS_DELIVERED_TOTAL).increment(0);
    for reason in FailureReason::ALL {
        metrics::counter!(SIGNALS_FAILED_TOTAL, "reason" => reason.as_str()).increment(0);
    }
    for outcome in OUTCOMES {
        // A histogram handle is registered by being created: the exporter
        // renders it with empty buckets until the first sample.
        let _ = metrics::histogram!(DELIVERY_SECONDS, "outcome" => outcome);
    }
    for result in ATTEMPT_RESULTS {
        let _ =
            metrics::histogram!(ATTEMPT_SECONDS, "operation" => POST_SIGNAL, "result" => result);
    }
    // Not the gauges read from the outbox (depth by state, oldest pending
    // age, clock offset): a zero there would be a false reading, e.g. a
    // restart's "0 dead letters" that SignalDeadLettersRising would take
    // for a fall. The worker sets them from its first reading, right at
    // its start; a process without a worker (`send`) has none.
    let _ = metrics::histogram!(OUTBOX_CLAIM_SECONDS);
    for name in [
        OUTBOX_CLAIM_FAILURES_TOTAL,
        OUTBOX_LEASE_EXPIRIES_TOTAL,
        OUTBOX_FENCED_TOTAL,
    ] {
        metrics::counter!(name).increment(0);
    }
    metrics::gauge!(WORKER_UP).set(0.0);
    metrics::gauge!(BUILD_INFO, "version" => env!("CARGO_PKG_VERSION")).set(1.0);
    ops_alerts::register_metrics_at_zero();
}

pub(crate) fn record_delivered(elapsed: Duration) {
    metrics::counter!(SIGNALS_DELIVERED_TOTAL).increment(1);
    metrics::histogram!(DELIVERY_SECONDS, "outcome" => "delivered").record(elapsed.as_secs_f64());
}

pub(crate) fn record_failed(reason: FailureReason, elapsed: Duration) {
    metrics::counter!(SIGNALS_FAILED_TOTAL, "reason" => reason.as_str()).increment(1);
    metrics::histogram!(DELIVERY_SECONDS, "outcome" => "failed").record(elapsed.as_secs_f64());
}

pub(crate) fn record_retry() {
    metrics::counter!(RETRIES_TOTAL, "operation" => POST_SIGNAL).increment(1);
}

pub(crate) fn record_deferral() {
    metrics::counter!(RETRY_DEFERRALS_TOTAL, "operation" => POST_SIGNAL).increment(1);
}

pub(crate) fn record_outbox_stats(stats: &signal_outbox::OutboxStats) {
    for state in signal_outbox::State::ALL {
        metrics::gauge!(OUTBOX_SIGNALS, "state" => state.as_str()).set(stats.count(state) as f64);
    }
    let age = stats.oldest_pending_age.unwrap_or_default();
    metrics::gauge!(OUTBOX_OLDEST_PENDING_AGE).set(age.as_secs_f64());
}

pub(crate) fn record_claim(elapsed: Duration, clock_offset_ms: Option<i64>) {
    metrics::histogram!(OUTBOX_CLAIM_SECONDS).record(elapsed.as_secs_f64());
    if let Some(offset) = clock_offset_ms {
        metrics::gauge!(OUTBOX_CLOCK_OFFSET).set(offset as f64 / 1000.0);
    }
}

pub(crate) fn record_claim_failure() {
    metrics::counter!(OUTBOX_CLAIM_FAILURES_TOTAL).increment(1);
}

pub(crate) fn record_fenced() {
    metrics::counter!(OUTBOX_FENCED_TOTAL).increment(1);
}

pub(crate) fn record_attempt() {
    metrics::counter!(ATTEMPTS_TOTAL, "operation" => POST_SIGNAL).increment(1);
}

/// One HTTP attempt's duration, by whether the server accepted it.
pub(crate) fn record_attempt_duration(accepted: bool, elapsed: Duration) {
    let result = ATTEMPT_RESULTS[usize::from(!accepted)];
    metrics::histogram!(ATTEMPT_SECONDS, "operation" => POST_SIGNAL, "result" => result)
        .record(elapsed.as_secs_f64());
}

pub(crate) fn record_lease_expiry() {
    metrics::counter!(OUTBOX_LEASE_EXPIRIES_TOTAL).increment(1);
}

/// Whether the worker loop runs (see [`WORKER_UP`]).
pub(crate) fn record_worker_up(up: bool) {
    metrics::gauge!(WORKER_UP).set(if up { 1.0 } else { 0.0 });
}

/// A failed attempt that will be retried, as shown to listeners (the drill prints these).
#[derive(Debug, Clone)]
pub struct RetryNotice {
    /// The signal being delivered.
    pub signal_id: String,
    /// The 1-based attempt that failed.
    pub attempt: u32,
    /// Attempts allowed by the policy.
    pub max_attempts: u32,
    /// The attempt's error, as shown to operators.
    pub error: String,
    /// The delay chosen before the next attempt.
    pub delay: Duration,
}

/// Called on every scheduled retry, after metrics and logs.
pub type RetryListener = std::sync::Arc<dyn Fn(&RetryNotice) + Send + Sync>;

/// Feeds retry-core's observer hook into metrics, the log and an optional listener.
pub(crate) struct DeliveryObserver<'a> {
    pub(crate) signal_id: &'a str,
    pub(crate) max_attempts: u32,
    pub(crate) listener: Option<&'a RetryListener>,
}

impl<E: std::fmt::Display> RetryObserver<E> for DeliveryObserver<'_> {
    fn on_retry(&self, event: &RetryEvent<'_, E>) {
        metrics::counter!(RETRIES_TOTAL, "operation" => event.operation.to_owned()).increment(1);
        tracing::debug!(
            attempt = event.attempt,
            delay_ms = u64::try_from(event.delay.as_millis()).unwrap_or(u64::MAX),
            error = %event.error,
            "attempt failed, retrying"
        );
        if let Some(listener) = self.listener {
            listener(&RetryNotice {
                signal_id: self.signal_id.to_owned(),
                attempt: event.attempt,
                max_attempts: self.max_attempts,
                error: event.error.to_string(),
                delay: event.delay,
            });
        }
    }

    fn on_defer(&self, event: &DeferEvent<'_, E>) {
        metrics::counter!(RETRY_DEFERRALS_TOTAL, "operation" => event.operation.to_owned())
            .increment(1);
        tracing::debug!(
            attempt = event.attempt,
            deferrals = event.deferrals,
            delay_ms = u64::try_from(event.delay.as_millis()).unwrap_or(u64::MAX),
            "retry deferred by the retry budget"
        );
    }

    fn on_give_up(&self, event: &GiveUpEvent<'_, E>) {
        tracing::debug!(
            attempts = event.attempts,
            reason = %event.reason,
            error = %event.error,
            "giving up"
        );
    }
}

/// Installs the global log subscriber: human-readable or JSON, level from
/// `RUST_LOG` (already validated by the configuration), always on standard
/// error so standard output stays machine-readable. Colours only when
/// standard error is a terminal and `NO_COLOR` is unset.
pub fn init_logging(settings: &signal_config::TelemetrySettings) {
    use std::io::IsTerminal;
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_new(&settings.log_filter)
        .unwrap_or_else(|_| EnvFilter::new(signal_config::DEFAULT_LOG_FILTER));
    let ansi = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr);
    // A second initialisation (tests, embedding) keeps the first subscriber.
    let _ = match settings.log_format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}
