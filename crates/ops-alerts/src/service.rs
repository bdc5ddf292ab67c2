//! The alert service: formats, groups, rate-limits, retries, bounds the time
//! spent, counts and logs every alert.
//!
//! This file holds the service's state and the entry points that decide what
//! an alert becomes (sent, folded, logged); how a message is delivered is in
//! `delivery`, the group summaries in `summaries`, log-only alerts in `log`,
//! the outage and its recovered message in `outage`.

mod delivery;
pub(crate) mod log;
mod outage;
mod summaries;

use std::fmt;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use chrono::Utc;
use tokio::sync::Notify;

use crate::alertable::AlertableError;
use crate::config::{AlertConfig, AlertConfigError, DEFAULT_ESCALATE_AFTER};
use crate::courier::Courier;
use crate::format::{Attempts, format_message};
use crate::grouping::{Fingerprint, Groups, Observed};
use crate::outcome::AlertOutcome;
use crate::payload::FailureAlert;
use crate::rate_limit::RateLimiter;
use crate::severity::Severity;
use crate::sink::AlertSink;
#[cfg(feature = "telegram")]
use crate::telegram::TelegramSink;
use log::log_only;
use outage::Outages;

/// Counter: messages delivered to Telegram (alerts and summaries), by `severity`.
pub const METRIC_SENT: &str = "alerts_sent_total";
/// Counter: alerts that could not be sent (logged at ERROR instead), by `severity`.
pub const METRIC_FAILED: &str = "alerts_failed_total";
/// Counter: alerts folded into a group summary, by `severity`.
pub const METRIC_FOLDED: &str = "alerts_folded_total";
/// Counter: alerts only logged (DEBUG, or alerts disabled), by `severity`.
pub const METRIC_LOGGED: &str = "alerts_logged_total";
/// Gauge: stored alerts due and not handled yet by the
/// [durable dispatcher](crate::durable) holding the sender lease (at most
/// one round's batch; 0 in a process that does not hold it).
pub const METRIC_QUEUED: &str = "alerts_queued";

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
    /// The open outage, and recovered messages waiting for `flush`.
    outages: Outages,
    /// Summaries and recovered messages being sent by tasks, so `flush`
    /// can wait for them.
    in_flight: AtomicUsize,
    idle: Notify,
}

struct Telegram {
    courier: Courier,
    limiter: RateLimiter,
    groups: Mutex<Groups>,
}

impl fmt::Debug for OpsAlertService {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = f.debug_struct("OpsAlertService");
        match &self.inner.telegram {
            Some(telegram) => s
                .field("config", telegram.courier.config())
                .field("sink", telegram.courier.sink())
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

    fn config(&self) -> &AlertConfig {
        self.courier.config()
    }

    fn redact(&self, text: &str) -> String {
        self.courier.redact(text)
    }
}

impl OpsAlertService {
    /// Alerts through Telegram ([`TelegramSink`]) as configured. Needs the
    /// `telegram` feature (on by default).
    #[cfg(feature = "telegram")]
    pub fn new(config: AlertConfig) -> OpsAlertService {
        let sink = Arc::new(TelegramSink::new(&config));
        OpsAlertService::with_sink(config, sink)
    }

    /// Alerts through any [`AlertSink`] (a fake, another transport).
    pub fn with_sink(config: AlertConfig, sink: Arc<dyn AlertSink>) -> OpsAlertService {
        let groups = Mutex::new(Groups::new(config.summary_id_limit()));
        OpsAlertService::from_parts(Some(Telegram {
            courier: Courier::new(config, sink),
            limiter: RateLimiter::new(),
            groups,
        }))
    }

    /// [`AlertConfig::from_env`], then [`OpsAlertService::new`]. Needs the
    /// `telegram` feature (on by default).
    ///
    /// # Errors
    /// Every missing or malformed variable, at once.
    #[cfg(feature = "telegram")]
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
                outages: Outages::default(),
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
            Some(telegram) => telegram.config().validate(),
            None => Ok(()),
        }
    }

    /// The configuration, unless alerts are disabled.
    pub fn config(&self) -> Option<&AlertConfig> {
        self.inner.telegram.as_ref().map(Telegram::config)
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
    /// A failure that [opens an outage](AlertableError::opens_outage) is
    /// counted in it: the next successful delivery sends one recovered message.
    ///
    /// The message is [`FailureAlert::format`] of
    /// [`failure_alert`](OpsAlertService::failure_alert)'s payload, the very
    /// bytes the durable dispatcher sends for the same payload.
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
        let alert = self.failure_alert(signal_id, error, attempts, operation);
        self.report_failure(alert)
    }

    /// A [`Dispatcher`](crate::durable::Dispatcher) that sends the alerts
    /// stored in `queue` through this service's sink and configuration (the
    /// same chat, cooldown, timeout and escalation), holding the sender lease
    /// as `worker`; `Ok(None)` when alerts are disabled (log lines only), so
    /// the caller drains the stored alerts into the log instead.
    ///
    /// # Errors
    /// `worker` is empty (the only setting taken from the caller).
    pub fn durable_dispatcher(
        &self,
        queue: Arc<dyn crate::durable::AlertQueue>,
        worker: &str,
    ) -> Result<Option<crate::durable::Dispatcher>, Vec<crate::durable::DispatcherSettingsError>>
    {
        let Some(telegram) = self.inner.telegram.as_ref() else {
            return Ok(None);
        };
        let config = telegram.config().clone();
        let mut settings = crate::durable::DispatcherSettings::for_config(&config);
        worker.clone_into(&mut settings.worker);
        crate::durable::Dispatcher::new(config, Arc::clone(telegram.courier.sink()), queue)
            .with_settings(settings)
            .map(Some)
    }

    /// The payload of a failure alert, as
    /// [`send_signal_delivery_error`](OpsAlertService::send_signal_delivery_error)
    /// computes it: the error's text (with the configured bot token and API
    /// URL query values redacted), class, reason, security and outage flags,
    /// the attempts, and now as the time it occurred. Store it with
    /// [`AlertPayload::SignalFailure`](crate::AlertPayload::SignalFailure)
    /// (or `InvalidLine`) for the [durable dispatcher](crate::durable).
    pub fn failure_alert(
        &self,
        signal_id: &str,
        error: &dyn AlertableError,
        attempts: Attempts,
        operation: &str,
    ) -> FailureAlert {
        let mut alert = FailureAlert::from_error(signal_id, error, attempts, operation, Utc::now());
        if let Some(telegram) = &self.inner.telegram {
            alert.error = telegram.redact(&alert.error);
        }
        alert
    }

    async fn report_failure(&self, alert: FailureAlert) -> AlertOutcome {
        let failures = self
            .inner
            .consecutive_failures
            .fetch_add(1, Ordering::Relaxed)
            .saturating_add(1);
        if alert.opens_outage {
            self.inner.outages.note_failure();
        }
        let escalate_after = self
            .inner
            .telegram
            .as_ref()
            .map_or(DEFAULT_ESCALATE_AFTER, |t| t.config().escalate_after());
        let severity = alert.severity(failures, escalate_after);
        let attempts_text = format!("{}/{}", alert.attempts.made, alert.attempts.allowed);
        let Some(telegram) = self.inner.telegram.as_ref() else {
            log_only(
                severity,
                format_args!("signal delivery failed (alert not sent)"),
                &[
                    ("signal_id", &alert.signal_id),
                    ("operation", &alert.operation),
                    ("error_class", &alert.error_class),
                    ("error", &alert.error),
                    ("attempts", &attempts_text),
                ],
            );
            return AlertOutcome::Logged;
        };
        let fingerprint = Fingerprint {
            operation: alert.operation.clone(),
            error_class: alert.error_class.clone(),
        };
        let observed = if telegram.config().cooldown().is_zero() {
            None
        } else {
            Some(telegram.lock_groups().observe(
                &fingerprint,
                &alert.signal_id,
                severity,
                &alert.error,
                alert.occurred_at,
            ))
        };
        if let Some(Observed::Folded { pending }) = observed {
            metrics::counter!(METRIC_FOLDED, "severity" => severity.as_str()).increment(1);
            tracing::warn!(
                signal_id = %alert.signal_id,
                operation = %alert.operation,
                error_class = %alert.error_class,
                error = %alert.error,
                attempts_made = alert.attempts.made,
                attempts_allowed = alert.attempts.allowed,
                %severity,
                pending_in_group = pending,
                "signal delivery failed; alert folded into the open group's summary"
            );
            return AlertOutcome::Folded {
                pending_in_group: u32::try_from(pending).unwrap_or(u32::MAX),
            };
        }
        if let Some(Observed::Opened { group_id }) = observed {
            self.schedule_window_end(fingerprint, group_id, telegram.config().cooldown());
        }
        let formatted = alert.format(severity);
        let fields = [
            ("signal_id", alert.signal_id.as_str()),
            ("operation", alert.operation.as_str()),
            ("error_class", alert.error_class.as_str()),
            ("error", alert.error.as_str()),
            ("attempts", attempts_text.as_str()),
        ];
        self.deliver(telegram, &formatted, severity, &fields).await
    }

    /// A signal was delivered: the consecutive-failure count starts again,
    /// and if failures of the server or the network were alerted since the
    /// last success, one recovered message goes out (on a task of its own;
    /// [`flush`](OpsAlertService::flush) waits for it).
    pub fn note_delivery_success(&self) {
        self.inner.consecutive_failures.store(0, Ordering::Relaxed);
        self.recover();
    }

    /// Deliveries failed in a row so far.
    pub fn consecutive_failures(&self) -> u32 {
        self.inner.consecutive_failures.load(Ordering::Relaxed)
    }

    fn telegram_for(&self, severity: Severity) -> Option<&Telegram> {
        self.inner.telegram.as_ref().filter(|_| severity.is_sent())
    }
}
