//! Delivering one formatted alert: rate limit, retries, the plain-text
//! fallback, the time bound, and counting and logging the outcome.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use retry_core::{GiveUpEvent, Jitter, Retry, RetryError, RetryEvent, RetryObserver, RetryPolicy};

use super::log::emit;
use super::{OpsAlertService, Telegram};
use crate::format::FormattedAlert;
use crate::outcome::{AlertError, AlertErrorKind, AlertOutcome};
use crate::service::{METRIC_FAILED, METRIC_SENT};
use crate::severity::Severity;
use crate::sink::{ParseMode, SentMessage, SinkError};

/// The retry loop's operation name (in retry events and logs).
const OPERATION: &str = "send_alert";

impl OpsAlertService {
    /// Rate limit, retry, plain-text fallback, all within the alert timeout;
    /// then count and log the outcome.
    pub(super) async fn deliver(
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

/// The retry policy of one alert: quick first retries (Telegram hiccups are
/// short), within the alert timeout so the loop stops on its own before the
/// hard bound cuts it.
pub(super) fn alert_retry_policy(alert_timeout: Duration) -> RetryPolicy {
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
