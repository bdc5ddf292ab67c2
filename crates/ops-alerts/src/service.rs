//! The alert service: formats, groups, rate-limits, retries, bounds the time
//! spent, counts and logs every alert.
//!
//! This file holds the service's state and the entry points that decide what
//! an alert becomes (sent, folded, logged); how a message is delivered is in
//! `delivery`, the group summaries in `summaries`, log-only alerts in `log`.

mod delivery;
mod log;
mod summaries;

use std::fmt;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use chrono::Utc;
use retry_core::RetryPolicy;
use secrecy::ExposeSecret;
use tokio::sync::Notify;

use crate::alertable::AlertableError;
use crate::config::{AlertConfig, AlertConfigError, DEFAULT_ESCALATE_AFTER};
use crate::format::{Attempts, DeliveryAlert, format_delivery_alert, format_message};
use crate::grouping::{Fingerprint, Groups, Observed};
use crate::outcome::AlertOutcome;
use crate::rate_limit::RateLimiter;
use crate::redact::{redact_query_of, redact_token};
use crate::severity::Severity;
use crate::sink::AlertSink;
#[cfg(feature = "telegram")]
use crate::telegram::TelegramSink;
use delivery::alert_retry_policy;
use log::log_only;

/// Counter: messages delivered to Telegram (alerts and summaries), by `severity`.
pub const METRIC_SENT: &str = "alerts_sent_total";
/// Counter: alerts that could not be sent (logged at ERROR instead), by `severity`.
pub const METRIC_FAILED: &str = "alerts_failed_total";
/// Counter: alerts folded into a group summary, by `severity`.
pub const METRIC_FOLDED: &str = "alerts_folded_total";
/// Counter: alerts only logged (DEBUG, or alerts disabled), by `severity`.
pub const METRIC_LOGGED: &str = "alerts_logged_total";

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
        let text = redact_token(text, self.config.bot_token().expose_secret());
        redact_query_of(&text, self.config.api_url())
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

    fn telegram_for(&self, severity: Severity) -> Option<&Telegram> {
        self.inner.telegram.as_ref().filter(|_| severity.is_sent())
    }
}

/// What a delivery alert needs from the caller's error, read up front.
#[derive(Debug)]
struct ErrorReport {
    class: String,
    text: String,
    security: bool,
}
