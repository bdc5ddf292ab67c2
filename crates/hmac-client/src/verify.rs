//! The receiver side: verifies a Standard Webhooks v1 request before anything
//! looks at the body.
//!
//! See [`Verifier`] for the checks and their order.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::Mac;
use http::{HeaderMap, StatusCode};

use crate::replay::{Admission, InFlight, ReplayGuard};
use crate::secret::SigningKeys;
use crate::sign::{
    HEADER_ID, HEADER_SIGNATURE, HEADER_TIMESTAMP, MAX_ID_LEN, is_valid_id, mac_for,
};

/// Default tolerance between the request's timestamp and the receiver's
/// clock, in both directions (the Standard Webhooks libraries' default).
pub const DEFAULT_TOLERANCE: Duration = Duration::from_secs(300);
/// Default largest body accepted, in bytes (1 MiB; a signal is a few hundred).
pub const DEFAULT_MAX_BODY_BYTES: usize = 1024 * 1024;
/// Most entries accepted in `webhook-signature`: enough for any rotation,
/// small enough that a hostile header cannot make us compute many MACs.
pub const MAX_SIGNATURE_ENTRIES: usize = 16;
/// Largest `webhook-signature` value accepted, in bytes (16 entries of
/// `v1,` + 44 base64 characters + a space is about 770).
pub const MAX_SIGNATURE_HEADER_BYTES: usize = 1024;
/// Largest `webhook-timestamp` value accepted (i64 seconds have 19 digits).
const MAX_TIMESTAMP_LEN: usize = 19;
/// A base64 HMAC-SHA256 tag is 44 characters; anything much longer cannot
/// match, so it is not even decoded.
const MAX_ENCODED_TAG_LEN: usize = 64;

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
    /// The id is being processed by another request right now. HTTP 409.
    Replayed,
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
}

impl VerifyError {
    fn new(kind: VerifyErrorKind, detail: &'static str) -> VerifyError {
        VerifyError { kind, detail }
    }

    /// Which check failed.
    pub fn kind(&self) -> VerifyErrorKind {
        self.kind
    }

    /// The conventional status: 400 malformed, 401 stale, future or bad
    /// signature, 409 replayed while in flight, 413 too large.
    pub fn status(&self) -> StatusCode {
        match self.kind {
            VerifyErrorKind::Malformed => StatusCode::BAD_REQUEST,
            VerifyErrorKind::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            VerifyErrorKind::Stale | VerifyErrorKind::Future | VerifyErrorKind::BadSignature => {
                StatusCode::UNAUTHORIZED
            }
            VerifyErrorKind::Replayed => StatusCode::CONFLICT,
        }
    }

    /// A short message safe to send back: one per status, so a prober learns
    /// nothing more than the status (e.g. stale and forged look the same).
    pub fn public_message(&self) -> &'static str {
        match self.status() {
            StatusCode::BAD_REQUEST => "malformed webhook request",
            StatusCode::PAYLOAD_TOO_LARGE => "webhook request too large",
            StatusCode::CONFLICT => "webhook already being processed, retry later",
            _ => "webhook verification failed",
        }
    }

    /// `(status, public message)`: with axum, `error.response_parts()` is
    /// directly an `IntoResponse`.
    pub fn response_parts(&self) -> (StatusCode, &'static str) {
        (self.status(), self.public_message())
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
/// releases the id so the sender's retry is accepted. When
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
///    [`MAX_SIGNATURE_ENTRIES`] signature entries;
/// 2. timestamp within the tolerance, in the past *and* in the future;
/// 3. at least one `v1` entry matching at least one key, compared by the MAC's
///    constant-time `verify_slice` (an empty `v1,` or truncated tag fails
///    because the length differs; entries of other versions are ignored);
/// 4. the optional [`ReplayGuard`].
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

    /// Sets the largest accepted body, in bytes.
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
        use VerifyErrorKind::{BadSignature, Future, Malformed, Replayed, Stale, TooLarge};

        if body.len() > self.max_body_bytes {
            return Err(VerifyError::new(TooLarge, "body exceeds the size limit"));
        }

        let id = single_header(headers, HEADER_ID, MAX_ID_LEN)?;
        if !is_valid_id(id) {
            return Err(VerifyError::new(
                Malformed,
                "webhook-id is not 1 to 255 characters of [A-Za-z0-9_-]",
            ));
        }

        let timestamp_text = single_header(headers, HEADER_TIMESTAMP, MAX_TIMESTAMP_LEN)?;
        if timestamp_text.is_empty() || !timestamp_text.bytes().all(|b| b.is_ascii_digit()) {
            return Err(VerifyError::new(
                Malformed,
                "webhook-timestamp is not digits-only Unix seconds",
            ));
        }
        let timestamp: i64 = timestamp_text.parse().map_err(|_| {
            VerifyError::new(Malformed, "webhook-timestamp does not fit in 64 bits")
        })?;

        let signature = single_header(headers, HEADER_SIGNATURE, MAX_SIGNATURE_HEADER_BYTES)?;
        let entries: Vec<&str> = signature.split(' ').filter(|e| !e.is_empty()).collect();
        if entries.is_empty() {
            return Err(VerifyError::new(Malformed, "webhook-signature is empty"));
        }
        if entries.len() > MAX_SIGNATURE_ENTRIES {
            return Err(VerifyError::new(
                TooLarge,
                "webhook-signature has too many entries",
            ));
        }

        if now_unix.saturating_sub(timestamp) > self.tolerance() {
            return Err(VerifyError::new(
                Stale,
                "timestamp older than the tolerance",
            ));
        }
        if timestamp.saturating_sub(now_unix) > self.tolerance() {
            return Err(VerifyError::new(Future, "timestamp too far in the future"));
        }

        // Decode each `v1` tag once; other versions (e.g. `v1a`, asymmetric)
        // are not ours to judge and are skipped, as the specification asks.
        let tags: Vec<Vec<u8>> = entries
            .iter()
            .filter_map(|entry| entry.strip_prefix("v1,"))
            .filter(|encoded| encoded.len() <= MAX_ENCODED_TAG_LEN)
            .filter_map(|encoded| STANDARD.decode(encoded).ok())
            .collect();
        let authentic = self.keys.iter().any(|secret| {
            mac_for(secret, id, timestamp, body)
                .is_some_and(|mac| tags.iter().any(|tag| mac.clone().verify_slice(tag).is_ok()))
        });
        if !authentic {
            return Err(VerifyError::new(
                BadSignature,
                "no v1 signature matches a configured key",
            ));
        }

        let (in_flight, duplicate) = match &self.replay {
            None => (None, false),
            Some(guard) => match guard.admit(id, now_unix) {
                Admission::Fresh(handle) => (Some(handle), false),
                Admission::Duplicate => (None, true),
                Admission::InFlight => {
                    return Err(VerifyError::new(
                        Replayed,
                        "id is being processed by another request",
                    ));
                }
            },
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

/// The one value of a header that must appear exactly once, as text, within
/// `max_len` bytes. Size is checked before anything else reads the value.
fn single_header<'a>(
    headers: &'a HeaderMap,
    name: &'static str,
    max_len: usize,
) -> Result<&'a str, VerifyError> {
    let mut values = headers.get_all(name).iter();
    let value = values
        .next()
        .ok_or_else(|| VerifyError::new(VerifyErrorKind::Malformed, missing_detail(name)))?;
    if values.next().is_some() {
        // Two ids or two timestamps would be ambiguous; refuse to guess.
        return Err(VerifyError::new(
            VerifyErrorKind::Malformed,
            repeated_detail(name),
        ));
    }
    if value.len() > max_len {
        return Err(VerifyError::new(
            VerifyErrorKind::TooLarge,
            too_large_detail(name),
        ));
    }
    value
        .to_str()
        .map_err(|_| VerifyError::new(VerifyErrorKind::Malformed, not_text_detail(name)))
}

// Static details (no allocation, no header content) per header.
fn missing_detail(name: &str) -> &'static str {
    match name {
        HEADER_ID => "webhook-id header missing",
        HEADER_TIMESTAMP => "webhook-timestamp header missing",
        _ => "webhook-signature header missing",
    }
}

fn repeated_detail(name: &str) -> &'static str {
    match name {
        HEADER_ID => "webhook-id header repeated",
        HEADER_TIMESTAMP => "webhook-timestamp header repeated",
        _ => "webhook-signature header repeated",
    }
}

fn too_large_detail(name: &str) -> &'static str {
    match name {
        HEADER_ID => "webhook-id header too long",
        HEADER_TIMESTAMP => "webhook-timestamp header too long",
        _ => "webhook-signature header too long",
    }
}

fn not_text_detail(name: &str) -> &'static str {
    match name {
        HEADER_ID => "webhook-id header is not visible ASCII",
        HEADER_TIMESTAMP => "webhook-timestamp header is not visible ASCII",
        _ => "webhook-signature header is not visible ASCII",
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
