//! Getting one formatted message to Telegram: the rate limit, retries of
//! passing failures, the plain-text fallback and the time bound. Shared by
//! the in-memory service and the durable dispatcher, which differ only in
//! what they do with the result (log it, or store it and retry the row).

use std::fmt;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use retry_core::{GiveUpEvent, Jitter, Retry, RetryError, RetryEvent, RetryObserver, RetryPolicy};
use secrecy::ExposeSecret;

use crate::config::AlertConfig;
use crate::format::FormattedAlert;
use crate::outcome::{AlertError, AlertErrorKind};
use crate::rate_limit::RateLimiter;
use crate::redact::{redact_query_of, redact_token};
use crate::sink::{AlertSink, ParseMode, SentMessage, SinkError};

/// The retry loop's operation name (in retry events and logs).
const OPERATION: &str = "send_alert";

/// A sink with its configuration and retry policy.
pub(crate) struct Courier {
    config: AlertConfig,
    sink: Arc<dyn AlertSink>,
    policy: RetryPolicy,
}

impl fmt::Debug for Courier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Courier")
            .field("config", &self.config)
            .field("sink", &self.sink)
            .finish_non_exhaustive()
    }
}

impl Courier {
    pub(crate) fn new(config: AlertConfig, sink: Arc<dyn AlertSink>) -> Courier {
        let policy = alert_retry_policy(config.alert_timeout());
        Courier {
            config,
            sink,
            policy,
        }
    }

    pub(crate) fn config(&self) -> &AlertConfig {
        &self.config
    }

    pub(crate) fn sink(&self) -> &Arc<dyn AlertSink> {
        &self.sink
    }

    /// `text` without the bot token or the API URL's query values.
    pub(crate) fn redact(&self, text: &str) -> String {
        let text = redact_token(text, self.config.bot_token().expose_secret());
        redact_query_of(&text, self.config.api_url())
    }

    /// Rate limit, retry, plain-text fallback, all within the alert timeout.
    /// Counts and logs nothing: that is the caller's.
    pub(crate) async fn send(
        &self,
        limiter: &RateLimiter,
        formatted: &FormattedAlert,
    ) -> Result<SentMessage, AlertError> {
        let bound = self.config.alert_timeout();
        let tracker = Tracker::default();
        match tokio::time::timeout(bound, self.send_unbounded(limiter, formatted, &tracker)).await {
            Ok(result) => result,
            Err(_elapsed) => Err(AlertError::new(
                AlertErrorKind::TimedOut(bound),
                tracker.attempts.load(Ordering::Relaxed),
                tracker.last_error(),
            )),
        }
    }

    async fn send_unbounded(
        &self,
        limiter: &RateLimiter,
        formatted: &FormattedAlert,
        tracker: &Tracker,
    ) -> Result<SentMessage, AlertError> {
        match self
            .send_with_retry(limiter, &formatted.html, ParseMode::Html, tracker)
            .await
        {
            Err(error) if error.last_error().is_cant_parse_entities() => {
                tracing::warn!(
                    error = %error.last_error(),
                    "Telegram could not parse the alert's HTML; resending once as plain text"
                );
                self.send_with_retry(limiter, &formatted.plain, ParseMode::PlainText, tracker)
                    .await
                    .map_err(|e| to_alert_error(&e, tracker))
            }
            other => other.map_err(|e| to_alert_error(&e, tracker)),
        }
    }

    async fn send_with_retry(
        &self,
        limiter: &RateLimiter,
        text: &str,
        mode: ParseMode,
        tracker: &Tracker,
    ) -> Result<SentMessage, RetryError<SinkError>> {
        let observer = AttemptLog;
        Retry::new(&self.policy, OPERATION)
            .observer(&observer)
            .clock(retry_core::TokioClock)
            .run_async(&retry_core::TokioSleeper, |attempt| async move {
                limiter.acquire().await;
                tracker.attempts.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(attempt, ?mode, "sending ops alert to Telegram");
                let result = self.sink.send_message(text, mode).await;
                if let Err(error) = &result {
                    tracker.set_last_error(error);
                }
                result
            })
            .await
    }
}

/// The retry policy of one alert: quick first retries from 250 ms
/// (Telegram hiccups are short; a policy built in code may start below the
/// 1 s floor of the environment's `RETRY_*`), within the alert timeout so
/// the loop stops on its own before the hard bound cuts it.
///
/// The values are valid for every alert timeout the configuration accepts
/// (1 to 600 s, clamped again here; a test builds both ends), so the error
/// arm is unreachable in practice; should it ever be reached it is logged,
/// never silent, and the library default (1 s, 3 retries) is used.
fn alert_retry_policy(alert_timeout: Duration) -> RetryPolicy {
    let max_elapsed = alert_timeout.clamp(Duration::from_secs(1), Duration::from_secs(600));
    RetryPolicy::builder()
        .max_retries(6)
        .base_delay(Duration::from_millis(250))
        .backoff_multiplier(2.0)
        .max_delay(Duration::from_secs(15))
        .max_elapsed(max_elapsed)
        .jitter(Jitter::Proportional)
        .build()
        .unwrap_or_else(|errors| {
            tracing::error!(%errors, "the alert retry policy was refused; using retry-core's default policy");
            RetryPolicy::DEFAULT
        })
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_alert_retry_policy_builds_for_every_accepted_timeout() {
        for secs in [1, 10, 600] {
            let policy = alert_retry_policy(Duration::from_secs(secs));
            assert_eq!(policy.base_delay(), Duration::from_millis(250), "{secs} s");
            assert_eq!(policy.max_attempts(), 7, "{secs} s");
        }
    }
}
