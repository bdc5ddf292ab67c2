//! The alert service: formats, groups, rate-limits, retries, bounds the time
//! spent, counts and logs every alert.

use std::fmt;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use chrono::Utc;
use retry_core::{GiveUpEvent, Jitter, Retry, RetryError, RetryEvent, RetryObserver, RetryPolicy};
use secrecy::ExposeSecret;
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::alertable::AlertableError;
use crate::config::{AlertConfig, AlertConfigError, DEFAULT_ESCALATE_AFTER};
use crate::format::{
    Attempts, DeliveryAlert, FormattedAlert, SummaryAlert, format_delivery_alert, format_message,
    format_summary,
};
use crate::grouping::{Closed, Fingerprint, Groups, Observed};
use crate::outcome::{AlertError, AlertErrorKind, AlertOutcome};
use crate::rate_limit::RateLimiter;
use crate::redact::redact_token;
use crate::severity::Severity;
use crate::sink::{AlertSink, ParseMode, SentMessage, SinkError};
use crate::telegram::TelegramSink;

/// Counter: messages delivered to Telegram (alerts and summaries), by `severity`.
pub const METRIC_SENT: &str = "alerts_sent_total";
/// Counter: alerts that could not be sent (logged at ERROR instead), by `severity`.
pub const METRIC_FAILED: &str = "alerts_failed_total";
/// Counter: alerts folded into a group summary, by `severity`.
pub const METRIC_FOLDED: &str = "alerts_folded_total";
/// Counter: alerts only logged (DEBUG, or alerts disabled), by `severity`.
pub const METRIC_LOGGED: &str = "alerts_logged_total";

/// The retry loop's operation name (in retry events and logs).
const OPERATION: &str = "send_alert";

/// Sends ops alerts. Cheap to clone (an `Arc` inside): one instance is shared
/// by every concurrent delivery, so grouping, rate limiting and the
/// consecutive-failure count see all of them. `Debug` never shows the token.
///
/// Create one per process and clone it: the rate limit and the groups are
/// per instance, so two instances posting to one chat could exceed Telegram's
/// limits and would not fold each other's repeats.
///
/// Must be used on a tokio runtime (timers, and one task per open group
/// that sends its summary when the cooldown window closes). Constructing it
/// needs no runtime.
#[derive(Clone)]
pub struct OpsAlertService {
    inner: Arc<Inner>,
}

struct Inner {
    /// `None`: alerts explicitly disabled, log lines only.
    telegram: Option<Telegram>,
    consecutive_failures: AtomicU32,
    /// Summaries being sent by window tasks, so `flush` can wait for them.
    in_flight: AtomicUsize,
    idle: Notify,
}

struct Telegram {
    config: AlertConfig,
    sink: Arc<dyn AlertSink>,
    limiter: RateLimiter,
    groups: Mutex<Groups>,
    policy: RetryPolicy,
}

impl fmt::Debug for OpsAlertService {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = f.debug_struct("OpsAlertService");
        match &self.inner.telegram {
            Some(telegram) => s
                .field("config", &telegram.config)
                .field("sink", &telegram.sink)
                .field("pending_in_groups", &telegram.lock_groups().pending()),
            None => s.field("mode", &"log_only"),
        };
        s.field(
            "consecutive_failures",
            &self.inner.consecutive_failures.load(Ordering::Relaxed),
        )
        .finish()
    }
}

impl Telegram {
    fn lock_groups(&self) -> MutexGuard<'_, Groups> {
        // The table stays consistent across a panic elsewhere; keep using it.
        self.groups.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn redact(&self, text: &str) -> String {
        redact_token(text, self.config.bot_token().expose_secret())
    }
}

impl OpsAlertService {
    /// Alerts through Telegram ([`TelegramSink`]) as configured.
    pub fn new(config: AlertConfig) -> OpsAlertService {
        let sink = Arc::new(TelegramSink::new(&config));
        OpsAlertService::with_sink(config, sink)
    }

    /// Alerts through any [`AlertSink`] (a fake, another transport).
    pub fn with_sink(config: AlertConfig, sink: Arc<dyn AlertSink>) -> OpsAlertService {
        let policy = alert_retry_policy(config.alert_timeout());
        let groups = Mutex::new(Groups::new(config.summary_id_limit()));
        OpsAlertService::from_parts(Some(Telegram {
            config,
            sink,
            limiter: RateLimiter::new(),
            groups,
            policy,
        }))
    }

    /// [`AlertConfig::from_env`], then [`OpsAlertService::new`].
    ///
    /// # Errors
    /// Every missing or malformed variable, at once.
    pub fn from_env() -> Result<OpsAlertService, Vec<AlertConfigError>> {
        AlertConfig::from_env().map(OpsAlertService::new)
    }

    /// Alerts explicitly disabled: every alert becomes a log line at its level
    /// (ERROR and CRITICAL at `error`), counted in `alerts_logged_total`;
    /// nothing is sent.
    pub fn log_only() -> OpsAlertService {
        OpsAlertService::from_parts(None)
    }

    fn from_parts(telegram: Option<Telegram>) -> OpsAlertService {
        OpsAlertService {
            inner: Arc::new(Inner {
                telegram,
                consecutive_failures: AtomicU32::new(0),
                in_flight: AtomicUsize::new(0),
                idle: Notify::new(),
            }),
        }
    }

    /// Checks the configuration (call it at start-up). Always `Ok` for
    /// [`log_only`](OpsAlertService::log_only).
    ///
    /// # Errors
    /// Every out-of-range value, each naming its variable.
    pub fn validate_config(&self) -> Result<(), Vec<AlertConfigError>> {
        match &self.inner.telegram {
            Some(telegram) => telegram.config.validate(),
            None => Ok(()),
        }
    }

    /// The configuration, unless alerts are disabled.
    pub fn config(&self) -> Option<&AlertConfig> {
        self.inner.telegram.as_ref().map(|t| &t.config)
    }

    /// Sends a free-form alert. DEBUG is only logged. Not grouped: use it for
    /// rare events (start-up, shutdown, configuration problems).
    pub async fn send(
        &self,
        message: &str,
        severity: Severity,
        include_timestamp: bool,
    ) -> AlertOutcome {
        let Some(telegram) = self.telegram_for(severity) else {
            log_only(
                severity,
                format_args!("ops alert (not sent): {message}"),
                &[],
            );
            return AlertOutcome::Logged;
        };
        let message = telegram.redact(message);
        let timestamp = include_timestamp.then(Utc::now);
        let formatted = format_message(&message, severity, timestamp);
        let fields = [("message", message.as_str())];
        self.deliver(telegram, &formatted, severity, &fields).await
    }

    /// A free-form alert to the owner, with a timestamp.
    pub async fn send_owner_alert(&self, message: &str, severity: Severity) -> AlertOutcome {
        self.send(message, severity, true).await
    }

    /// A signal could not be delivered. ERROR, or CRITICAL for a security
    /// failure or once `escalate_after` deliveries in a row have failed
    /// (reset by [`note_delivery_success`](OpsAlertService::note_delivery_success)).
    ///
    /// The first alert of a fingerprint (`operation` + the error's class) goes
    /// out at once; repeats within the cooldown window are folded and one
    /// summary follows when the window closes. A CRITICAL repeat folded into an
    /// open group raises the summary to CRITICAL (the owner already has the
    /// first alert of that failure; the summary carries the escalation).
    ///
    /// Not an `async fn` so that the returned future is `Send` (it can be
    /// spawned) even though `&dyn AlertableError` is not `Sync`: everything
    /// needed from `error` is read before the future is built.
    pub fn send_signal_delivery_error<'a>(
        &'a self,
        signal_id: &'a str,
        error: &dyn AlertableError,
        attempts: Attempts,
        operation: &'a str,
    ) -> impl Future<Output = AlertOutcome> + Send + 'a {
        let report = ErrorReport {
            class: error.error_class().into_owned(),
            text: error.to_string(),
            security: error.is_security_failure(),
        };
        self.report_delivery_error(signal_id, report, attempts, operation)
    }

    async fn report_delivery_error(
        &self,
        signal_id: &str,
        error: ErrorReport,
        attempts: Attempts,
        operation: &str,
    ) -> AlertOutcome {
        let failures = self
            .inner
            .consecutive_failures
            .fetch_add(1, Ordering::Relaxed)
            .saturating_add(1);
        let escalate_after = self
            .inner
            .telegram
            .as_ref()
            .map_or(DEFAULT_ESCALATE_AFTER, |t| t.config.escalate_after());
        let severity = if error.security || failures >= escalate_after.max(1) {
            Severity::Critical
        } else {
            Severity::Error
        };
        let ErrorReport {
            class: error_class,
            text: error_text,
            ..
        } = error;
        let Some(telegram) = self.inner.telegram.as_ref() else {
            log_only(
                severity,
                format_args!("signal delivery failed (alert not sent)"),
                &[
                    ("signal_id", signal_id),
                    ("operation", operation),
                    ("error_class", &error_class),
                    ("error", &error_text),
                    (
                        "attempts",
                        &format!("{}/{}", attempts.made, attempts.allowed),
                    ),
                ],
            );
            return AlertOutcome::Logged;
        };
        let error_text = telegram.redact(&error_text);
        let fingerprint = Fingerprint {
            operation: operation.to_owned(),
            error_class,
        };
        let now = Utc::now();
        let observed = if telegram.config.cooldown().is_zero() {
            None
        } else {
            Some(telegram.lock_groups().observe(
                &fingerprint,
                signal_id,
                severity,
                &error_text,
                now,
            ))
        };
        if let Some(Observed::Folded { pending }) = observed {
            metrics::counter!(METRIC_FOLDED, "severity" => severity.as_str()).increment(1);
            tracing::warn!(
                signal_id,
                operation,
                error_class = %fingerprint.error_class,
                error = %error_text,
                attempts_made = attempts.made,
                attempts_allowed = attempts.allowed,
                %severity,
                pending_in_group = pending,
                "signal delivery failed; alert folded into the open group's summary"
            );
            return AlertOutcome::Folded {
                pending_in_group: u32::try_from(pending).unwrap_or(u32::MAX),
            };
        }
        if let Some(Observed::Opened { group_id }) = observed {
            self.schedule_window_end(fingerprint.clone(), group_id, telegram.config.cooldown());
        }
        let formatted = format_delivery_alert(&DeliveryAlert {
            severity,
            signal_id,
            operation,
            error: &error_text,
            attempts,
            timestamp: now,
        });
        let attempts_text = format!("{}/{}", attempts.made, attempts.allowed);
        let fields = [
            ("signal_id", signal_id),
            ("operation", operation),
            ("error_class", fingerprint.error_class.as_str()),
            ("error", error_text.as_str()),
            ("attempts", attempts_text.as_str()),
        ];
        self.deliver(telegram, &formatted, severity, &fields).await
    }

    /// A signal was delivered: the consecutive-failure count starts again.
    pub fn note_delivery_success(&self) {
        self.inner.consecutive_failures.store(0, Ordering::Relaxed);
    }

    /// Deliveries failed in a row so far.
    pub fn consecutive_failures(&self) -> u32 {
        self.inner.consecutive_failures.load(Ordering::Relaxed)
    }

    /// Sends every pending group summary now and waits for summaries already
    /// being sent; call it at shutdown so folded alerts are never lost. Takes at
    /// most the alert timeout: summaries that do not make it are logged at
    /// ERROR with their counts and ids.
    pub async fn flush(&self) {
        let Some(telegram) = self.inner.telegram.as_ref() else {
            return;
        };
        let deadline = Instant::now() + telegram.config.alert_timeout();
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
        // Summaries taken by window tasks just before the drain.
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

    fn telegram_for(&self, severity: Severity) -> Option<&Telegram> {
        self.inner.telegram.as_ref().filter(|_| severity.is_sent())
    }

    /// One task per open group: at the end of the window, close the group and
    /// send its summary. Holding a clone of the service keeps it alive until
    /// then, so dropping the last handle early does not lose the summary.
    fn schedule_window_end(&self, fingerprint: Fingerprint, group_id: u64, cooldown: Duration) {
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

    /// Rate limit, retry, plain-text fallback, all within the alert timeout;
    /// then count and log the outcome.
    async fn deliver(
        &self,
        telegram: &Telegram,
        formatted: &FormattedAlert,
        severity: Severity,
        fields: &[(&str, &str)],
    ) -> AlertOutcome {
        let bound = telegram.config.alert_timeout();
        let tracker = Tracker::default();
        let result = match tokio::time::timeout(
            bound,
            self.deliver_unbounded(telegram, formatted, &tracker),
        )
        .await
        {
            Ok(result) => result,
            Err(_elapsed) => Err(AlertError::new(
                AlertErrorKind::TimedOut(bound),
                tracker.attempts.load(Ordering::Relaxed),
                tracker.last_error(),
            )),
        };
        match result {
            Ok(sent) => {
                metrics::counter!(METRIC_SENT, "severity" => severity.as_str()).increment(1);
                tracing::info!(message_id = sent.message_id, %severity, "ops alert sent to Telegram");
                AlertOutcome::Sent {
                    message_id: sent.message_id,
                }
            }
            Err(error) => {
                metrics::counter!(METRIC_FAILED, "severity" => severity.as_str()).increment(1);
                // The alert's content goes to the log instead: the owner's
                // log pipeline is the fallback channel.
                let reason = telegram.redact(&error.to_string());
                emit(
                    tracing::Level::ERROR,
                    format_args!("ops alert could not be sent to Telegram: {reason}"),
                    &[
                        ("severity", severity.as_str()),
                        ("alert", formatted.plain.as_str()),
                    ]
                    .into_iter()
                    .chain(fields.iter().copied())
                    .collect::<Vec<_>>(),
                );
                AlertOutcome::Failed(error)
            }
        }
    }

    async fn deliver_unbounded(
        &self,
        telegram: &Telegram,
        formatted: &FormattedAlert,
        tracker: &Tracker,
    ) -> Result<SentMessage, AlertError> {
        match self
            .send_with_retry(telegram, &formatted.html, ParseMode::Html, tracker)
            .await
        {
            Err(error) if error.last_error().is_cant_parse_entities() => {
                tracing::warn!(
                    error = %error.last_error(),
                    "Telegram could not parse the alert's HTML; resending once as plain text"
                );
                self.send_with_retry(telegram, &formatted.plain, ParseMode::PlainText, tracker)
                    .await
                    .map_err(|e| to_alert_error(&e, tracker))
            }
            other => other.map_err(|e| to_alert_error(&e, tracker)),
        }
    }

    async fn send_with_retry(
        &self,
        telegram: &Telegram,
        text: &str,
        mode: ParseMode,
        tracker: &Tracker,
    ) -> Result<SentMessage, RetryError<SinkError>> {
        let observer = AttemptLog;
        Retry::new(&telegram.policy, OPERATION)
            .observer(&observer)
            .clock(retry_core::TokioClock)
            .run_async(&retry_core::TokioSleeper, |attempt| async move {
                telegram.limiter.acquire().await;
                tracker.attempts.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(attempt, ?mode, "sending ops alert to Telegram");
                let result = telegram.sink.send_message(text, mode).await;
                if let Err(error) = &result {
                    tracker.set_last_error(error);
                }
                result
            })
            .await
    }
}

/// What a delivery alert needs from the caller's error, read up front.
#[derive(Debug)]
struct ErrorReport {
    class: String,
    text: String,
    security: bool,
}

/// The retry policy of one alert: quick first retries (Telegram hiccups are
/// short), within the alert timeout so the loop stops on its own before the
/// hard bound cuts it.
fn alert_retry_policy(alert_timeout: Duration) -> RetryPolicy {
    let max_elapsed = alert_timeout.clamp(Duration::from_secs(1), Duration::from_secs(600));
    RetryPolicy::builder()
        .max_retries(6)
        .base_delay(Duration::from_secs(1))
        .backoff_multiplier(2.0)
        .max_delay(Duration::from_secs(15))
        .max_elapsed(max_elapsed)
        .jitter(Jitter::Proportional)
        .build()
        .unwrap_or(RetryPolicy::DEFAULT)
}

fn to_alert_error(error: &RetryError<SinkError>, tracker: &Tracker) -> AlertError {
    let kind = if error.last_error().is_permanent() {
        AlertErrorKind::Permanent
    } else {
        AlertErrorKind::Exhausted
    };
    AlertError::new(
        kind,
        tracker.attempts.load(Ordering::Relaxed),
        Some(error.last_error().clone()),
    )
}

/// Attempts and the last error of one alert, readable after the time bound
/// cancelled the retry loop.
#[derive(Debug, Default)]
struct Tracker {
    attempts: AtomicU32,
    last_error: Mutex<Option<SinkError>>,
}

impl Tracker {
    fn set_last_error(&self, error: &SinkError) {
        *self
            .last_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(error.clone());
    }

    fn last_error(&self) -> Option<SinkError> {
        self.last_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

/// A tracing event for every failed attempt.
#[derive(Debug)]
struct AttemptLog;

impl RetryObserver<SinkError> for AttemptLog {
    fn on_retry(&self, event: &RetryEvent<'_, SinkError>) {
        tracing::warn!(
            attempt = event.attempt,
            delay_ms = u64::try_from(event.delay.as_millis()).unwrap_or(u64::MAX),
            error = %event.error,
            "ops alert attempt failed; retrying"
        );
    }

    fn on_give_up(&self, event: &GiveUpEvent<'_, SinkError>) {
        tracing::warn!(
            attempts = event.attempts,
            reason = ?event.reason,
            error = %event.error,
            "ops alert attempts given up"
        );
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

/// The tracing level for an alert of `severity` that is only logged.
fn level_of(severity: Severity) -> tracing::Level {
    match severity {
        Severity::Debug => tracing::Level::DEBUG,
        Severity::Info => tracing::Level::INFO,
        Severity::Warning => tracing::Level::WARN,
        Severity::Error | Severity::Critical => tracing::Level::ERROR,
    }
}

/// An alert that is only logged, at its own level, and counted as such.
fn log_only(severity: Severity, message: fmt::Arguments<'_>, fields: &[(&str, &str)]) {
    metrics::counter!(METRIC_LOGGED, "severity" => severity.as_str()).increment(1);
    let mut all = vec![("severity", severity.as_str())];
    all.extend_from_slice(fields);
    emit(level_of(severity), message, &all);
}

/// One event at a runtime-chosen level (tracing's macros need a constant one),
/// with the alert's fields rendered into a single `fields` value.
fn emit(level: tracing::Level, message: fmt::Arguments<'_>, fields: &[(&str, &str)]) {
    let fields = fields
        .iter()
        .map(|(k, v)| format!("{k}={v:?}"))
        .collect::<Vec<_>>()
        .join(" ");
    match level {
        tracing::Level::ERROR => tracing::error!(fields = %fields, "{message}"),
        tracing::Level::WARN => tracing::warn!(fields = %fields, "{message}"),
        tracing::Level::INFO => tracing::info!(fields = %fields, "{message}"),
        tracing::Level::DEBUG => tracing::debug!(fields = %fields, "{message}"),
        tracing::Level::TRACE => tracing::trace!(fields = %fields, "{message}"),
    }
}
