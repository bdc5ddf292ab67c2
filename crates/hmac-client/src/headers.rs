//! Parsing the three Standard Webhooks headers: pure, bounded, no MAC and no
//! clock, so that it can be fuzzed on its own and the verifier can run the
//! cheap structural checks before any cryptography.

use std::fmt;

use http::{HeaderMap, HeaderName};

use crate::verify::{VerifyError, VerifyErrorKind};
use crate::wire::{HEADER_ID, HEADER_SIGNATURE, HEADER_TIMESTAMP, MAX_ID_LEN, is_valid_id};

/// Most entries accepted in `webhook-signature`: enough for any rotation,
/// small enough that a hostile header cannot make us compute many MACs.
pub const MAX_SIGNATURE_ENTRIES: usize = 16;
/// Largest `webhook-signature` value accepted, in bytes (16 entries of
/// `v1,` + 44 base64 characters + a space is about 770).
pub const MAX_SIGNATURE_HEADER_BYTES: usize = 1024;
/// Largest `webhook-timestamp` value accepted (i64 seconds have 19 digits).
const MAX_TIMESTAMP_LEN: usize = 19;

/// The three Standard Webhooks headers of one request, checked for form
/// only: the id is `[A-Za-z0-9_-]{1,255}`, the timestamp digits-only Unix
/// seconds that fit in an `i64`, and the signature a space-separated list of
/// 1 to [`MAX_SIGNATURE_ENTRIES`] entries within
/// [`MAX_SIGNATURE_HEADER_BYTES`]. Nothing here looks at the time or a key:
/// [`Verifier`](crate::Verifier) does that next.
///
/// ```
/// use hmac_client::{VerifyErrorKind, WebhookHeaders};
///
/// let parsed = WebhookHeaders::from_strs("sig_1", "1700000000", "v1,AAAA  v1a,BBBB").unwrap();
/// assert_eq!(parsed.id, "sig_1");
/// assert_eq!(parsed.timestamp, 1_700_000_000);
/// assert_eq!(parsed.signatures(), ["v1,AAAA", "v1a,BBBB"]);
/// assert_eq!(parsed.v1_signatures().collect::<Vec<_>>(), ["AAAA"]);
///
/// let error = WebhookHeaders::from_strs("sig.1", "1700000000", "v1,AAAA").unwrap_err();
/// assert_eq!(error.kind(), VerifyErrorKind::Malformed);
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookHeaders<'a> {
    /// `webhook-id`.
    pub id: &'a str,
    /// `webhook-timestamp`, Unix seconds.
    pub timestamp: i64,
    /// The entries, in the first `count` places: on the stack, since every
    /// verification parses these headers and there is at most
    /// [`MAX_SIGNATURE_ENTRIES`].
    signatures: [&'a str; MAX_SIGNATURE_ENTRIES],
    count: usize,
}

impl<'a> WebhookHeaders<'a> {
    /// Reads the three headers from `headers`: each must be present exactly
    /// once, within its size bound (checked before anything else reads the
    /// value), and visible ASCII; then [`WebhookHeaders::from_strs`].
    pub fn parse(headers: &'a HeaderMap) -> Result<WebhookHeaders<'a>, VerifyError> {
        let id = single_header(headers, &ID_NAME, MAX_ID_LEN)?;
        let timestamp = single_header(headers, &TIMESTAMP_NAME, MAX_TIMESTAMP_LEN)?;
        let signature = single_header(headers, &SIGNATURE_NAME, MAX_SIGNATURE_HEADER_BYTES)?;
        WebhookHeaders::from_strs(id, timestamp, signature)
    }

    /// Checks the three header values given as text (sizes included).
    pub fn from_strs(
        id: &'a str,
        timestamp: &'a str,
        signature: &'a str,
    ) -> Result<WebhookHeaders<'a>, VerifyError> {
        use VerifyErrorKind::{Malformed, TooLarge};

        if id.len() > MAX_ID_LEN {
            return Err(VerifyError::new(TooLarge, "webhook-id header too long"));
        }
        if !is_valid_id(id) {
            return Err(VerifyError::new(
                Malformed,
                "webhook-id is not 1 to 255 characters of [A-Za-z0-9_-]",
            ));
        }

        if timestamp.len() > MAX_TIMESTAMP_LEN {
            return Err(VerifyError::new(
                TooLarge,
                "webhook-timestamp header too long",
            ));
        }
        if timestamp.is_empty() || !timestamp.bytes().all(|b| b.is_ascii_digit()) {
            return Err(VerifyError::new(
                Malformed,
                "webhook-timestamp is not digits-only Unix seconds",
            ));
        }
        let timestamp: i64 = timestamp.parse().map_err(|_| {
            VerifyError::new(Malformed, "webhook-timestamp does not fit in 64 bits")
        })?;

        if signature.len() > MAX_SIGNATURE_HEADER_BYTES {
            return Err(VerifyError::new(
                TooLarge,
                "webhook-signature header too long",
            ));
        }
        let mut signatures = [""; MAX_SIGNATURE_ENTRIES];
        let mut count = 0;
        for entry in signature.split(' ').filter(|e| !e.is_empty()) {
            let Some(slot) = signatures.get_mut(count) else {
                return Err(VerifyError::new(
                    TooLarge,
                    "webhook-signature has too many entries",
                ));
            };
            *slot = entry;
            count += 1;
        }
        if count == 0 {
            return Err(VerifyError::new(Malformed, "webhook-signature is empty"));
        }
        Ok(WebhookHeaders {
            id,
            timestamp,
            signatures,
            count,
        })
    }

    /// Every entry of `webhook-signature`, in order, `v1,` prefix included.
    pub fn signatures(&self) -> &[&'a str] {
        &self.signatures[..self.count]
    }

    /// The base64 tags of the `v1` entries (other versions, e.g. `v1a`, are
    /// not ours to judge and are skipped, as the specification asks).
    pub fn v1_signatures(&self) -> impl Iterator<Item = &'a str> + '_ {
        self.signatures()
            .iter()
            .filter_map(|entry| entry.strip_prefix("v1,"))
    }
}

/// The one value of a header that must appear exactly once, as text, within
/// `max_len` bytes. Size is checked before anything else reads the value.
fn single_header<'a>(
    headers: &'a HeaderMap,
    name: &HeaderName,
    max_len: usize,
) -> Result<&'a str, VerifyError> {
    let mut values = headers.get_all(name).iter();
    let value = values.next().ok_or_else(|| {
        VerifyError::new(VerifyErrorKind::Malformed, missing_detail(name.as_str()))
    })?;
    if values.next().is_some() {
        // Two ids or two timestamps would be ambiguous; refuse to guess.
        return Err(VerifyError::new(
            VerifyErrorKind::Malformed,
            repeated_detail(name.as_str()),
        ));
    }
    if value.len() > max_len {
        return Err(VerifyError::new(
            VerifyErrorKind::TooLarge,
            too_large_detail(name.as_str()),
        ));
    }
    value
        .to_str()
        .map_err(|_| VerifyError::new(VerifyErrorKind::Malformed, not_text_detail(name.as_str())))
}

impl fmt::Debug for WebhookHeaders<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookHeaders")
            .field("id", &self.id)
            .field("timestamp", &self.timestamp)
            .field("signatures", &self.signatures())
            .finish()
    }
}

// The names as parsed `HeaderName`s: a lookup by `&str` parses and checks
// the name on every call.
const ID_NAME: HeaderName = HeaderName::from_static(HEADER_ID);
const TIMESTAMP_NAME: HeaderName = HeaderName::from_static(HEADER_TIMESTAMP);
const SIGNATURE_NAME: HeaderName = HeaderName::from_static(HEADER_SIGNATURE);

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn from_strs_applies_every_rule() {
        use VerifyErrorKind::{Malformed, TooLarge};
        let long_id = "a".repeat(MAX_ID_LEN + 1);
        let many = vec!["v1,AA"; MAX_SIGNATURE_ENTRIES + 1].join(" ");
        let long_sig = "A".repeat(MAX_SIGNATURE_HEADER_BYTES + 1);
        for (id, ts, sig, kind) in [
            ("", "1", "v1,A", Malformed),
            ("a.b", "1", "v1,A", Malformed),
            (long_id.as_str(), "1", "v1,A", TooLarge),
            ("a", "", "v1,A", Malformed),
            ("a", "-1", "v1,A", Malformed),
            ("a", "1.0", "v1,A", Malformed),
            ("a", "9999999999999999999", "v1,A", Malformed),
            ("a", "12345678901234567890", "v1,A", TooLarge),
            ("a", "1", "", Malformed),
            ("a", "1", "   ", Malformed),
            ("a", "1", many.as_str(), TooLarge),
            ("a", "1", long_sig.as_str(), TooLarge),
        ] {
            let error = WebhookHeaders::from_strs(id, ts, sig).unwrap_err();
            assert_eq!(error.kind(), kind, "{id:?} {ts:?} {sig:?}: {error}");
        }
        let exactly = vec!["v1,AA"; MAX_SIGNATURE_ENTRIES].join(" ");
        let parsed = WebhookHeaders::from_strs("a", "9223372036854775807", &exactly).unwrap();
        assert_eq!(parsed.timestamp, i64::MAX);
        assert_eq!(parsed.signatures().len(), MAX_SIGNATURE_ENTRIES);
    }
}
