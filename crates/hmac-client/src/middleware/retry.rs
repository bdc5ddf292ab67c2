//! `RetryMiddleware`: retry-core's schedule for any request of a
//! reqwest-middleware client.

use http::Extensions;
use reqwest::{Request, Response};
use reqwest_middleware::{Middleware, Next};
use retry_core::{RetryDecision, RetryPolicy, Retryability, ThreadRandom, decide_after_failure};

use crate::error::PostErrorKind;
use crate::retry_after::retry_after_header;
use crate::server_url::redact_url;
use crate::verify::unix_now;

/// Retries a request while it fails transiently, by a retry-core
/// [`RetryPolicy`]: exponential backoff with jitter, the cap held after
/// jitter, at most `max_retries` retries, and no wait that would end past
/// `max_elapsed` from the first attempt.
///
/// Transient means a transport error (connection refused or reset, a
/// timeout) or a status of 408, 409, 425, 429 or 5xx. A `Retry-After`
/// header on such a response (seconds or an HTTP date, read by
/// [`parse_retry_after`](crate::parse_retry_after), so at most
/// [`MAX_RETRY_AFTER`](crate::MAX_RETRY_AFTER)) is honoured: the wait is at least what it asks, even past `max_delay`,
/// and the request gives up instead if that would pass the deadline. Any
/// other status is returned at once, as are builder errors and errors of
/// other middleware. When the retries run out, the last response (or
/// error) is returned as it came, so the caller sees the server's status.
///
/// Waits are on tokio's timer, so a paused test clock drives them. Every
/// retry is logged (`tracing`, target `hmac_client::middleware::retry`) with the
/// attempt, the failure, the wait and the URL without its query values.
///
/// A shared [`RetryBudget`](retry_core::RetryBudget) is not applied here;
/// use retry-core's [`Retryable`](retry_core::Retryable) chain where one is
/// needed. See the [module](super) for a complete client.
///
/// ```
/// use std::time::Duration;
/// use hmac_client::middleware::RetryMiddleware;
/// use retry_core::RetryPolicy;
///
/// let policy = RetryPolicy::builder()
///     .max_retries(3)
///     .base_delay(Duration::from_millis(100))
///     .max_elapsed(Duration::from_secs(5))
///     .build()?;
/// let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
///     .with(RetryMiddleware::new(policy))
///     .build();
/// # let _ = client;
/// # Ok::<(), retry_core::PolicyError>(())
/// ```
#[derive(Debug, Clone)]
pub struct RetryMiddleware {
    policy: RetryPolicy,
}

impl RetryMiddleware {
    /// Retries by this policy.
    pub fn new(policy: RetryPolicy) -> RetryMiddleware {
        RetryMiddleware { policy }
    }

    /// The policy it retries by.
    pub fn policy(&self) -> &RetryPolicy {
        &self.policy
    }
}

#[async_trait::async_trait]
impl Middleware for RetryMiddleware {
    async fn handle(
        &self,
        req: Request,
        extensions: &mut Extensions,
        next: Next<'_>,
    ) -> reqwest_middleware::Result<Response> {
        let started = tokio::time::Instant::now();
        let mut backoff = self.policy.backoff(ThreadRandom);
        let mut attempt: u32 = 1;
        loop {
            let Some(copy) = req.try_clone() else {
                tracing::warn!(
                    url = %redact_url(req.url()),
                    "the request body is a stream, which cannot be sent twice: sent once, without retries"
                );
                return next.run(req, extensions).await;
            };
            let outcome = next.clone().run(copy, extensions).await;
            let Some(retryability) = transient(&outcome, unix_now()) else {
                return outcome;
            };
            let decision = decide_after_failure(
                &self.policy,
                attempt,
                started.elapsed(),
                retryability,
                || backoff.next(),
            );
            match decision {
                RetryDecision::GiveUp(reason) => {
                    tracing::warn!(
                        url = %redact_url(req.url()),
                        attempts = attempt,
                        failure = %describe(&outcome),
                        reason = ?reason,
                        "giving up; the last failure is returned"
                    );
                    return outcome;
                }
                RetryDecision::RetryAfter(delay) => {
                    tracing::info!(
                        url = %redact_url(req.url()),
                        attempt,
                        failure = %describe(&outcome),
                        retry_in_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                        "transient failure; retrying"
                    );
                    // Dropping the response frees its connection during the wait.
                    drop(outcome);
                    tokio::time::sleep(delay).await;
                }
            }
            attempt = attempt.saturating_add(1);
        }
    }
}

/// `Some` when the outcome is worth another attempt, with the server's
/// hint when it gave one; `None` for success and permanent failures.
fn transient(
    outcome: &reqwest_middleware::Result<Response>,
    now_unix: i64,
) -> Option<Retryability> {
    match outcome {
        Ok(response) => {
            let status = response.status().as_u16();
            if !PostErrorKind::from_status(status).is_transient() {
                return None;
            }
            let hint = retry_after_header(response.headers(), now_unix);
            Some(hint.map_or(Retryability::Transient, Retryability::RetryAfter))
        }
        Err(reqwest_middleware::Error::Reqwest(error))
            if !error.is_builder() && !error.is_redirect() =>
        {
            Some(Retryability::Transient)
        }
        Err(_) => None,
    }
}

/// The failure in a few words, without the URL (reqwest's errors carry it,
/// query values included).
fn describe(outcome: &reqwest_middleware::Result<Response>) -> String {
    match outcome {
        Ok(response) => format!("HTTP {}", response.status().as_u16()),
        Err(reqwest_middleware::Error::Reqwest(error)) if error.is_connect() => {
            "could not connect".to_owned()
        }
        Err(reqwest_middleware::Error::Reqwest(error)) if error.is_timeout() => {
            "timed out".to_owned()
        }
        Err(_) => "request failed".to_owned(),
    }
}
