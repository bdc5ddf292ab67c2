//! The receiver side: verifies a Standard Webhooks v1 request before anything
//! looks at the body.
//!
//! See [`Verifier`] for the checks and their order.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::Mac;
use http::header::RETRY_AFTER;
use http::{HeaderMap, HeaderValue, StatusCode};
use subtle::ConstantTimeEq;

use crate::headers::WebhookHeaders;
use crate::replay::{Admission, InFlight, ReplayGuard};
use crate::secret::SigningKeys;
use crate::sign::mac_for;

/// Default tolerance between the request's timestamp and the receiver's
/// clock, in both directions (the Standard Webhooks libraries' default).
pub const DEFAULT_TOLERANCE: Duration = Duration::from_secs(300);
/// Default largest body accepted, in bytes (1 MiB; a signal is a few hundred).
pub const DEFAULT_MAX_BODY_BYTES: usize = 1024 * 1024;
/// A base64 HMAC-SHA256 tag (32 bytes, padded) is 44 characters.
const ENCODED_TAG_LEN: usize = 44;

/// Which check rejected a request. Each maps to one HTTP status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VerifyErrorKind {
    /// A required header is missing, repeated, not text, or not of the
    /// required form. HTTP 400.
    Malformed,
    /// The body, a header, or the number of signature entries exceeds its
    /// bound. HTTP 413.
    TooLarge,
    /// The timestamp is older than the tolerance. HTTP 401.
    Stale,
    /// The timestamp is further in the future than the tolerance. HTTP 401.
    Future,
    /// No `v1` signature matches any configured key. HTTP 401.
    BadSignature,
    /// The id is being processed by another request right now (replay
    /// guard). HTTP 409: the sender retries later.
    InFlight,
    /// This attempt was already accepted once: the id was released by a
    /// failed handler and the timestamp is not newer than one already
    /// accepted, i.e. the captured request played again (replay guard).
    /// HTTP 409: a genuine sender's next attempt carries a newer timestamp.
    Replayed,
    /// The replay guard is full of ids whose requests could still verify, so
    /// a new id cannot be remembered safely. HTTP 503 with `Retry-After`
    /// ([`VerifyError::retry_after`]).
    GuardFull,
}

/// Why a request failed verification.
///
/// `Display` is for the receiver's logs (it names the check, never a key or
/// a header value); answer the sender with [`VerifyError::status`] and
/// [`VerifyError::public_message`], which do not reveal which check failed
/// beyond what the status already says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyError {
    kind: VerifyErrorKind,
    detail: &'static str,
    retry_after: Option<Duration>,
}

impl VerifyError {
    pub(crate) fn new(kind: VerifyErrorKind, detail: &'static str) -> VerifyError {
        VerifyError {
            kind,
            detail,
            retry_after: None,
        }
    }

    /// Which check failed.
    pub fn kind(&self) -> VerifyErrorKind {
        self.kind
    }

    /// The conventional status: 400 malformed, 401 stale, future or bad
    /// signature, 409 in flight or replayed, 413 too large, 503 guard full.
    pub fn status(&self) -> StatusCode {
        match self.kind {
            VerifyErrorKind::Malformed => StatusCode::BAD_REQUEST,
            VerifyErrorKind::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            VerifyErrorKind::Stale | VerifyErrorKind::Future | VerifyErrorKind::BadSignature => {
                StatusCode::UNAUTHORIZED
            }
            VerifyErrorKind::InFlight | VerifyErrorKind::Replayed => StatusCode::CONFLICT,
            VerifyErrorKind::GuardFull => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// How long the sender should wait before retrying, when the receiver
    /// knows (a full replay guard). Send it as `Retry-After` (whole seconds);
    /// [`VerifyError::response_parts`] does.
    pub fn retry_after(&self) -> Option<Duration> {
        self.retry_after
    }

    /// A short message safe to send back: one per status, so a prober learns
    /// nothing more than the status (e.g. stale and forged look the same).
    pub fn public_message(&self) -> &'static str {
        match self.status() {
            StatusCode::BAD_REQUEST => "malformed webhook request",
            StatusCode::PAYLOAD_TOO_LARGE => "webhook request too large",
            StatusCode::CONFLICT => "webhook already being processed, retry later",
            StatusCode::SERVICE_UNAVAILABLE => "webhook receiver busy, retry later",
            _ => "webhook verification failed",
        }
    }

    /// `(status, headers, public message)`, the headers holding `Retry-After`
    /// when [`VerifyError::retry_after`] is known: with axum,
    /// `error.response_parts()` is directly an `IntoResponse`.
    ///
    /// ```
    /// use hmac_client::{VerifyErrorKind, WebhookHeaders};
    ///
    /// let error = WebhookHeaders::from_strs("", "1", "v1,A").unwrap_err();
    /// let (status, headers, message) = error.response_parts();
    /// assert_eq!(status.as_u16(), 400);
    /// assert!(headers.is_empty());
    /// assert_eq!(message, "malformed webhook request");
    /// ```
    pub fn response_parts(&self) -> (StatusCode, HeaderMap, &'static str) {
        let mut headers = HeaderMap::new();
        if let Some(wait) = self.retry_after {
            // Whole seconds, rounded up so the sender never comes back early.
            let seconds = wait
                .as_secs()
                .saturating_add(u64::from(wait.subsec_nanos() > 0));
            headers.insert(RETRY_AFTER, HeaderValue::from(seconds));
        }
        (self.status(), headers, self.public_message())
    }
}

impl fmt::Display for VerifyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "webhook rejected ({}): {}",
            self.status().as_u16(),
            self.detail
        )
    }
}

impl std::error::Error for VerifyError {}

/// An authentic request: its id and timestamp, and (with a replay guard)
/// the ownership of the id while the receiver processes it.
///
/// With a [`ReplayGuard`]: call [`Verified::complete`] once the signal is
/// processed; dropping it without that (an error, a panic, a 5xx answer)
/// releases the id, so the sender's next attempt (a newer timestamp) is
/// accepted while this very request, replayed, is still refused. When
/// [`Verified::is_duplicate`] is true the id was already completed: answer
/// 2xx without acting again.
#[derive(Debug)]
pub struct Verified {
    /// The `webhook-id`: the signal's id and idempotency key.
    pub id: String,
    /// The `webhook-timestamp` of this attempt, Unix seconds.
    pub timestamp: i64,
    in_flight: Option<InFlight>,
    duplicate: bool,
}

impl Verified {
    /// Whether this id was already processed to completion (replay guard
    /// only; always `false` without one).
    pub fn is_duplicate(&self) -> bool {
        self.duplicate
    }

    /// Marks the id as processed: later deliveries of it are duplicates.
    /// Does nothing without a replay guard or for a duplicate; calling it
    /// twice is harmless.
    pub fn complete(&mut self) {
        if let Some(handle) = self.in_flight.take() {
            handle.complete();
        }
    }
}

/// Verifies Standard Webhooks v1 requests against the configured keys.
///
/// Cloning is cheap and shares the replay guard, so one verifier can serve as
/// shared state of every request. `Debug` shows the key count only.
///
/// Checks, in this order (cheap and structural first, the MAC only for
/// requests that could be genuine, the replay guard only for authentic ones):
///
/// 1. body size ([`Verifier::with_max_body_bytes`]), then each header present
///    exactly once, within its size bound, and well formed: id
///    `[A-Za-z0-9_-]{1,255}`, timestamp digits only, at most
///    [`MAX_SIGNATURE_ENTRIES`](crate::MAX_SIGNATURE_ENTRIES) signature entries;
/// 2. timestamp within the tolerance, in the past *and* in the future;
/// 3. at least one `v1` entry matching at least one key, compared by the MAC's
///    constant-time `verify_slice` (an empty `v1,` or truncated tag fails
///    because the length differs; entries of other versions are ignored);
/// 4. the optional [`ReplayGuard`], which remembers each id until its
///    timestamp plus this verifier's tolerance.
///
/// The header rules alone are [`WebhookHeaders`].
///
/// # Receiving
///
/// Verify before parsing the body. With a [`ReplayGuard`], a retry of an id
/// that is still being processed gets 409 (the sender retries later), a retry
/// of a completed id is reported as a duplicate (answer 2xx, do not act
/// again), and after a failed processing the sender's next attempt is
/// accepted but a replay of the failed one is not.
///
/// ```
/// use axum::body::Bytes;
/// use axum::extract::State;
/// use axum::http::{HeaderMap, HeaderValue, StatusCode};
/// use axum::response::{IntoResponse, Response};
/// use hmac_client::{ReplayGuard, SigningKeys, Verifier, VerifyErrorKind, sign};
///
/// // The handler of an axum route: `post(receive).with_state(verifier)`.
/// async fn receive(State(verifier): State<Verifier>, headers: HeaderMap, body: Bytes) -> Response {
///     let mut verified = match verifier.verify(&headers, &body) {
///         Ok(verified) => verified,
///         // Status, `Retry-After` when known, and a message that says no
///         // more than the status; the log says which check failed.
///         Err(error) => return error.response_parts().into_response(),
///     };
///     if verified.is_duplicate() {
///         return (StatusCode::OK, "already processed").into_response();
///     }
///     // ... parse and act on the body; on failure return a 5xx: dropping
///     // `verified` releases the id for the sender's next attempt ...
///     verified.complete();
///     (StatusCode::OK, "accepted").into_response()
/// }
/// # let _ = receive;
///
/// // The same checks, without a server:
/// let keys = SigningKeys::parse("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD").unwrap();
/// let verifier = Verifier::new(keys.clone()).with_replay_guard(ReplayGuard::default());
/// let body = br#"{"symbol":"BTCUSDT","side":"buy"}"#;
/// let attempt = |ts: i64| {
///     let mut headers = HeaderMap::new();
///     headers.insert("webhook-id", HeaderValue::from_static("sig_1"));
///     headers.insert("webhook-timestamp", HeaderValue::from(ts));
///     headers.insert("webhook-signature", sign(&keys, "sig_1", ts, body).parse().unwrap());
///     headers
/// };
/// let now = 1_700_000_000;
///
/// // The first attempt; the handler fails and drops it.
/// let failed = verifier.verify_at(&attempt(now), body, now).unwrap();
/// assert_eq!(failed.id, "sig_1");
/// drop(failed);
/// // A replay of that request is refused ...
/// let replay = verifier.verify_at(&attempt(now), body, now + 5).unwrap_err();
/// assert_eq!(replay.kind(), VerifyErrorKind::Replayed);
/// // ... the sender's retry, signed later, is accepted ...
/// let mut retry = verifier.verify_at(&attempt(now + 5), body, now + 5).unwrap();
/// // ... and while it is processed, anything else for the id gets 409.
/// assert_eq!(verifier.verify_at(&attempt(now + 6), body, now + 6).unwrap_err().status(), StatusCode::CONFLICT);
/// retry.complete();
/// // Once completed, it is a duplicate to acknowledge.
/// assert!(verifier.verify_at(&attempt(now + 7), body, now + 7).unwrap().is_duplicate());
///
/// // A tampered body fails, and the public message does not say why.
/// let error = verifier.verify_at(&attempt(now), b"{}", now).unwrap_err();
/// assert_eq!(error.status(), StatusCode::UNAUTHORIZED);
/// assert_eq!(error.public_message(), "webhook verification failed");
/// ```
#[derive(Clone)]
pub struct Verifier {
    keys: SigningKeys,
    tolerance_secs: u64,
    max_body_bytes: usize,
    replay: Option<ReplayGuard>,
}

impl Verifier {
    /// A verifier accepting a signature by any of `keys`, with a ±300 s
    /// tolerance, a 1 MiB body limit and no replay guard.
    pub fn new(keys: SigningKeys) -> Verifier {
        Verifier {
            keys,
            tolerance_secs: DEFAULT_TOLERANCE.as_secs(),
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            replay: None,
        }
    }

    /// Sets the timestamp tolerance (whole seconds, applied both ways).
    pub fn with_tolerance(mut self, tolerance: Duration) -> Verifier {
        self.tolerance_secs = tolerance.as_secs();
        self
    }

    /// The largest body accepted, in bytes.
    pub fn max_body_bytes(&self) -> usize {
        self.max_body_bytes
    }

    /// Sets the largest accepted body, in bytes (larger ones: 413).
    pub fn with_max_body_bytes(mut self, max: usize) -> Verifier {
        self.max_body_bytes = max;
        self
    }

    /// Adds a replay guard (shared by clones of this verifier).
    pub fn with_replay_guard(mut self, guard: ReplayGuard) -> Verifier {
        self.replay = Some(guard);
        self
    }

    /// The replay guard, if any.
    pub fn replay_guard(&self) -> Option<&ReplayGuard> {
        self.replay.as_ref()
    }

    /// Verifies against the system clock. See [`Verifier::verify_at`].
    pub fn verify(&self, headers: &HeaderMap, body: &[u8]) -> Result<Verified, VerifyError> {
        self.verify_at(headers, body, unix_now())
    }

    /// Verifies `headers` and `body` as if the time were `now_unix` (Unix
    /// seconds), in the order given on [`Verifier`].
    /// Call it before parsing the body.
    pub fn verify_at(
        &self,
        headers: &HeaderMap,
        body: &[u8],
        now_unix: i64,
    ) -> Result<Verified, VerifyError> {
        use VerifyErrorKind::{
            BadSignature, Future, GuardFull, InFlight, Replayed, Stale, TooLarge,
        };

        if body.len() > self.max_body_bytes {
            return Err(VerifyError::new(TooLarge, "body exceeds the size limit"));
        }

        let parsed = WebhookHeaders::parse(headers)?;
        let (id, timestamp) = (parsed.id, parsed.timestamp);

        if now_unix.saturating_sub(timestamp) > self.tolerance() {
            return Err(VerifyError::new(
                Stale,
                "timestamp older than the tolerance",
            ));
        }
        if timestamp.saturating_sub(now_unix) > self.tolerance() {
            return Err(VerifyError::new(Future, "timestamp too far in the future"));
        }

        // Each key's tag, encoded once, compared in constant time with each
        // `v1` entry. Comparing the canonical base64 text is comparing the
        // bytes: the standard alphabet with padding has one encoding per tag,
        // and it is the only one a decoder with that alphabet accepts. It
        // spares decoding every entry and cloning the MAC per entry.
        let authentic = self.keys.iter().any(|secret| {
            let tag = mac_for(secret, id, timestamp, body).finalize().into_bytes();
            let mut expected = [0_u8; ENCODED_TAG_LEN];
            if STANDARD.encode_slice(tag, &mut expected) != Ok(ENCODED_TAG_LEN) {
                return false;
            }
            parsed.v1_signatures().any(|entry| {
                entry.len() == ENCODED_TAG_LEN && bool::from(entry.as_bytes().ct_eq(&expected))
            })
        });
        if !authentic {
            return Err(VerifyError::new(
                BadSignature,
                "no v1 signature matches a configured key",
            ));
        }

        let (in_flight, duplicate) = match &self.replay {
            None => (None, false),
            Some(guard) => {
                // The last second in which this very request still verifies.
                let live_until = timestamp.saturating_add(self.tolerance());
                match guard.admit(id, timestamp, live_until, now_unix) {
                    Admission::Fresh(handle) => (Some(handle), false),
                    Admission::Duplicate => (None, true),
                    Admission::InFlight => {
                        return Err(VerifyError::new(
                            InFlight,
                            "id is being processed by another request",
                        ));
                    }
                    Admission::Replayed => {
                        return Err(VerifyError::new(
                            Replayed,
                            "this attempt was already accepted once; only a newer timestamp is",
                        ));
                    }
                    Admission::Full { retry_after } => {
                        return Err(VerifyError {
                            retry_after: Some(retry_after),
                            ..VerifyError::new(
                                GuardFull,
                                "replay guard full of live ids; new ids wait for one to expire",
                            )
                        });
                    }
                }
            }
        };

        Ok(Verified {
            id: id.to_owned(),
            timestamp,
            in_flight,
            duplicate,
        })
    }

    fn tolerance(&self) -> i64 {
        i64::try_from(self.tolerance_secs).unwrap_or(i64::MAX)
    }
}

impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Verifier")
            .field("keys", &self.keys)
            .field("tolerance_secs", &self.tolerance_secs)
            .field("max_body_bytes", &self.max_body_bytes)
            .field("replay", &self.replay)
            .finish()
    }
}

/// The system clock in Unix seconds (0 if the clock is before 1970, which
/// then fails the tolerance check instead of panicking).
pub(crate) fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}
