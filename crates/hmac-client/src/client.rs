//! The signing HTTP client: one attempt per call; retrying is the caller's
//! (`retry-core`'s) job, guided by the error's classification.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::CONTENT_TYPE;

use crate::config::ClientConfig;
use crate::error::{PostError, PostErrorKind};
use crate::retry_after::retry_after_header;
use crate::server_url::{REDACTED, ServerUrl};
use crate::sign::sign;
use crate::verify::unix_now;
use crate::wire::{
    HEADER_ID, HEADER_IDEMPOTENCY_KEY, HEADER_SIGNATURE, HEADER_TIMESTAMP, is_valid_id,
};

/// How much of an error answer is read for the excerpt: enough for any
/// useful message, bounded so a huge error page cannot stall us.
const MAX_ERROR_BODY_BYTES: usize = 4 * 1024;
/// How much of a success answer is drained so the connection can be reused;
/// beyond this the connection is dropped instead.
const MAX_DRAIN_BYTES: usize = 64 * 1024;

/// The client could not be built (e.g. the TLS backend failed to initialize).
#[derive(Debug, thiserror::Error)]
#[error("could not build the signal HTTP client: {source}")]
pub struct ClientBuildError {
    #[source]
    source: reqwest::Error,
}

/// A successful (2xx) attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Receipt {
    /// The HTTP status (2xx).
    pub status: u16,
    /// Time from sending to receiving the response head.
    pub latency: Duration,
    /// The `webhook-timestamp` this attempt was signed with.
    pub timestamp: i64,
}

/// The source of Unix seconds for `webhook-timestamp`.
type UnixClock = Arc<dyn Fn() -> i64 + Send + Sync>;

/// POSTs signals signed per Standard Webhooks v1.
///
/// Built on one `reqwest` client (rustls, connection pool), so clones are
/// cheap and share connections. Redirects are not followed: a signed POST
/// must reach the configured URL, and a 3xx is reported as
/// [`PostErrorKind::Unexpected`]. `Debug` redacts the keys and the URL's
/// query values; so do errors and log lines.
///
/// ```no_run
/// use bytes::Bytes;
/// use hmac_client::{ClientConfig, SignalClient};
/// use retry_core::{Classify, Retryability};
///
/// # async fn send() -> Result<(), Box<dyn std::error::Error>> {
/// // Usually `ClientConfig::from_env()` (SIGNAL_SERVER_URL, SIGNAL_HMAC_SECRET,
/// // SIGNAL_REQUEST_TIMEOUT_SECONDS); every problem is reported at once.
/// let config = ClientConfig::new(
///     "https://signals.example.com/v1/signals",
///     "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD",
/// )
/// .map_err(|errors| format!("{} configuration problem(s)", errors.len()))?;
/// let client = SignalClient::new(config)?;
///
/// // Serialize once; the same id on every retry.
/// let body = Bytes::from_static(br#"{"symbol":"BTCUSDT","side":"buy"}"#);
/// match client.post_signal("sig_2026_11_29_0001", body).await {
///     Ok(receipt) => println!("delivered: {} in {:?}", receipt.status, receipt.latency),
///     Err(error) => match error.retryability() {
///         Retryability::Permanent if error.is_security_failure() => {
///             eprintln!("signature rejected, escalate: {error}")
///         }
///         Retryability::Permanent => eprintln!("will not retry: {error}"),
///         _ => eprintln!("retry later ({}): {error}", error.error_class()),
///     },
/// }
/// # Ok(())
/// # }
/// ```
///
/// Building a client does no I/O; `Debug` shows neither the key nor a query
/// value of the URL:
///
/// ```
/// use hmac_client::{ClientConfig, SignalClient};
///
/// let config = ClientConfig::new(
///     "http://127.0.0.1:9/signals?api_key=SECRET",
///     "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD",
/// )
/// .unwrap();
/// let client = SignalClient::new(config).unwrap();
/// let shown = format!("{client:?}");
/// assert!(shown.contains("api_key=REDACTED"));
/// assert!(!shown.contains("C2FVsBQ") && !shown.contains("SECRET"));
/// ```
#[derive(Clone)]
pub struct SignalClient {
    http: reqwest::Client,
    config: Arc<ClientConfig>,
    now: UnixClock,
}

impl SignalClient {
    /// Builds the client with the configured timeouts.
    pub fn new(config: ClientConfig) -> Result<SignalClient, ClientBuildError> {
        let http = reqwest::Client::builder()
            .timeout(config.request_timeout)
            .connect_timeout(config.connect_timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("hmac-client/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|source| ClientBuildError { source })?;
        Ok(SignalClient {
            http,
            config: Arc::new(config),
            now: Arc::new(unix_now),
        })
    }

    /// Replaces the clock that stamps each attempt (Unix seconds); for tests.
    /// The same clock is "now" for an HTTP-date `Retry-After`.
    pub fn with_unix_time(mut self, now: Arc<dyn Fn() -> i64 + Send + Sync>) -> SignalClient {
        self.now = now;
        self
    }

    /// The configuration the client was built with.
    pub fn config(&self) -> &ClientConfig {
        &self.config
    }

    /// Makes one attempt to POST `body` (JSON) as signal `id`.
    ///
    /// `id` must be 1 to 255 characters of `[A-Za-z0-9_-]`, otherwise a
    /// permanent [`PostErrorKind::InvalidRequest`] is returned before any I/O.
    /// Pass the same `id` on every retry: it is the `webhook-id` and the
    /// `Idempotency-Key`. The timestamp is taken now, for this attempt, and
    /// the exact bytes of `body` are signed and sent.
    pub async fn post_signal(&self, id: &str, body: Bytes) -> Result<Receipt, PostError> {
        let result = self.attempt(id, body).await;
        // Debug level: the delivery layer above decides what is worth a
        // warning (it knows whether a retry follows). Never the signature.
        match &result {
            Ok(receipt) => tracing::debug!(
                signal_id = id,
                timestamp = receipt.timestamp,
                status = receipt.status,
                latency_ms = u64::try_from(receipt.latency.as_millis()).unwrap_or(u64::MAX),
                "signal attempt accepted"
            ),
            Err(error) => tracing::debug!(
                signal_id = id,
                error_class = %error.error_class(),
                %error,
                "signal attempt failed"
            ),
        }
        result
    }

    async fn attempt(&self, id: &str, body: Bytes) -> Result<Receipt, PostError> {
        if !is_valid_id(id) {
            return Err(PostError::other(
                PostErrorKind::InvalidRequest,
                "the signal id must be 1 to 255 characters of [A-Za-z0-9_-]",
            ));
        }
        let timestamp = (self.now)();
        let signature = sign(&self.config.keys, id, timestamp, &body);

        let started = Instant::now();
        let response = self
            .http
            .post(self.config.server_url.as_url().clone())
            .header(HEADER_ID, id)
            .header(HEADER_TIMESTAMP, timestamp)
            .header(HEADER_SIGNATURE, signature)
            .header(HEADER_IDEMPOTENCY_KEY, id)
            .header(CONTENT_TYPE, "application/json")
            .body(body)
            .send()
            .await
            .map_err(|e| network_error(e, &self.config.server_url))?;
        let latency = started.elapsed();
        let status = response.status();

        if status.is_success() {
            // The server has accepted the signal: a failure while draining
            // the answer must not turn a delivery into a retry.
            let _ = read_bounded(response, MAX_DRAIN_BYTES).await;
            return Ok(Receipt {
                status: status.as_u16(),
                latency,
                timestamp,
            });
        }

        let retry_after = retry_after_header(response.headers(), (self.now)());
        let body = read_bounded(response, MAX_ERROR_BODY_BYTES)
            .await
            .unwrap_or_default();
        Err(PostError::http(status.as_u16(), retry_after, &body))
    }
}

impl fmt::Debug for SignalClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SignalClient")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// Reads at most `limit` bytes of the body (then stops: the rest is dropped).
async fn read_bounded(
    mut response: reqwest::Response,
    limit: usize,
) -> Result<Vec<u8>, reqwest::Error> {
    let mut out = Vec::new();
    while out.len() < limit {
        match response.chunk().await? {
            Some(chunk) => {
                let take = chunk.len().min(limit - out.len());
                out.extend_from_slice(&chunk[..take]);
            }
            None => break,
        }
    }
    Ok(out)
}

/// Classifies a transport error and keeps its whole cause chain as text
/// (reqwest's top-level message alone hides "connection refused").
///
/// reqwest's `Display` includes the request URL, query and all; the error is
/// stripped of it first, and any trace of the full URL or its raw query that
/// a cause might still carry is replaced by the redacted form.
fn network_error(error: reqwest::Error, url: &ServerUrl) -> PostError {
    let kind = if error.is_connect() {
        PostErrorKind::Connect
    } else if error.is_timeout() {
        PostErrorKind::Timeout
    } else {
        PostErrorKind::Transient
    };
    let error = error.without_url();
    let mut detail = error.to_string();
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        detail.push_str(": ");
        detail.push_str(&cause.to_string());
        source = cause.source();
    }
    let redacted = url.redacted();
    let full = url.as_url();
    let mut detail = detail.replace(full.as_str(), &redacted);
    if let Some(query) = full.query().filter(|q| !q.is_empty()) {
        detail = detail.replace(query, REDACTED);
    }
    PostError::transport(kind, redacted, &detail)
}
