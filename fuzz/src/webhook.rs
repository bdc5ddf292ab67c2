//! `webhook_verify`: Standard Webhooks header parsing and verification
//! (`hmac-client`, feature `verify` only), on any input.
//!
//! The input is text lines, so a seed is readable: the `webhook-id`,
//! `webhook-timestamp` and `webhook-signature` values, then the receiver's
//! clock (Unix seconds), then the body (everything after the fourth `\n`).
//! A missing line is a missing header; a `0x1f` byte inside a header line
//! separates repeated values of that header.
//!
//! Checked:
//!
//! - [`WebhookHeaders::from_strs`] and [`Verifier::verify_at`] give exactly
//!   what a reference written from their documentation gives (the same
//!   error kind, or success), for two verifiers (defaults, and a strict one:
//!   zero tolerance, a 32-byte body limit); an accepted request really
//!   carries a signature of one of the verifier's keys (computed with
//!   [`sign`], compared as text); errors render a bounded, fixed message;
//! - [`Verifier::verify`] on the system clock never panics and never accepts
//!   a forgery;
//! - the round trip: for keys, an id, a timestamp and a body derived from the
//!   input, a request signed as `SignalClient` signs it verifies within the
//!   tolerance, under any one of the keys (rotation), and fails with the
//!   right kind once the body, the key or the clock is off; the replay guard
//!   then follows its table (in flight, replayed, a newer retry, duplicate).

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac_client::{
    DEFAULT_MAX_BODY_BYTES, DEFAULT_TOLERANCE, MAX_ID_LEN, MAX_SIGNATURE_ENTRIES,
    MAX_SIGNATURE_HEADER_BYTES, ReplayGuard, SigningKeys, Verifier, VerifyError, VerifyErrorKind,
    WebhookHeaders, is_valid_id, sign,
};
use http::{HeaderMap, HeaderValue};

use crate::text::{Rng, assert_shown, fnv1a};

/// The Standard Webhooks specification's secret (its test vector is a seed).
pub const VECTOR_SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";

/// Longest verification error message: the details are fixed strings.
const MAX_ERROR_BYTES: usize = 160;

const HEADER_NAMES: [&str; 3] = ["webhook-id", "webhook-timestamp", "webhook-signature"];

/// Checks every invariant on one input.
pub fn run(data: &[u8]) {
    let mut parts = data.splitn(5, |&b| b == b'\n');
    let lines: [Option<&[u8]>; 4] = std::array::from_fn(|_| parts.next());
    let body = parts.next().unwrap_or_default();
    let mut rng = Rng::new(fnv1a(data));

    if let (Some(id), Some(ts), Some(sig)) = (text(lines[0]), text(lines[1]), text(lines[2])) {
        check_from_strs(id, ts, sig);
    }

    let headers = header_map(&lines[..3]);
    let now = lines[3]
        .and_then(|l| std::str::from_utf8(l).ok())
        .and_then(|l| l.trim().parse::<i64>().ok())
        .unwrap_or(0);
    let other_key = derived_secret(&mut rng);
    let keys = SigningKeys::parse(&format!("{VECTOR_SECRET} {other_key}"));
    let keys = keys.unwrap_or_else(|e| panic!("the fixed secrets do not parse: {e}"));
    let default = Verifier::new(keys.clone());
    check_verify(
        &default,
        &keys,
        DEFAULT_TOLERANCE,
        DEFAULT_MAX_BODY_BYTES,
        &headers,
        body,
        now,
    );
    let strict = Verifier::new(keys.clone())
        .with_tolerance(Duration::ZERO)
        .with_max_body_bytes(32);
    check_verify(&strict, &keys, Duration::ZERO, 32, &headers, body, now);
    if let Ok(verified) = default.verify(&headers, body) {
        assert!(
            expected_verify(&keys, 0, usize::MAX, &headers, body, verified.timestamp).is_ok(),
            "verify on the system clock accepted a request the keys did not sign"
        );
    }

    round_trip(lines[0], lines[1], body, &mut rng);
}

/// A header line as text; a missing line is the empty string.
fn text(line: Option<&[u8]>) -> Option<&str> {
    line.map_or(Some(""), |l| std::str::from_utf8(l).ok())
}

/// The header lines as a request's headers: `0x1f` separates repeated
/// values; a value HTTP cannot carry is left out (no request holds it).
fn header_map(lines: &[Option<&[u8]>]) -> HeaderMap {
    let mut headers = HeaderMap::new();
    for (name, line) in HEADER_NAMES.iter().zip(lines) {
        let Some(line) = line else { continue };
        for value in line.split(|&b| b == 0x1f) {
            if let Ok(value) = HeaderValue::from_bytes(value) {
                headers.append(*name, value);
            }
        }
    }
    headers
}

/// The rules of [`WebhookHeaders::from_strs`], in its documented order.
fn expected_headers<'a>(
    id: &'a str,
    ts: &str,
    sig: &'a str,
) -> Result<(i64, Vec<&'a str>), VerifyErrorKind> {
    use VerifyErrorKind::{Malformed, TooLarge};
    if id.len() > MAX_ID_LEN {
        return Err(TooLarge);
    }
    if !is_valid_id(id) {
        return Err(Malformed);
    }
    if ts.len() > 19 {
        return Err(TooLarge);
    }
    if ts.is_empty() || !ts.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Malformed);
    }
    let timestamp = ts.parse::<i64>().map_err(|_| Malformed)?;
    if sig.len() > MAX_SIGNATURE_HEADER_BYTES {
        return Err(TooLarge);
    }
    let entries: Vec<&str> = sig.split(' ').filter(|e| !e.is_empty()).collect();
    if entries.len() > MAX_SIGNATURE_ENTRIES {
        return Err(TooLarge);
    }
    if entries.is_empty() {
        return Err(Malformed);
    }
    Ok((timestamp, entries))
}

fn check_from_strs(id: &str, ts: &str, sig: &str) {
    let expected = expected_headers(id, ts, sig);
    match WebhookHeaders::from_strs(id, ts, sig) {
        Ok(parsed) => {
            let Ok((timestamp, entries)) = expected else {
                panic!("from_strs accepted what the rules refuse: {expected:?}");
            };
            assert_eq!(parsed.id, id);
            assert_eq!(parsed.timestamp, timestamp);
            assert!(parsed.timestamp >= 0);
            assert_eq!(parsed.signatures(), entries);
            let v1: Vec<&str> = entries
                .iter()
                .filter_map(|e| e.strip_prefix("v1,"))
                .collect();
            assert_eq!(parsed.v1_signatures().collect::<Vec<_>>(), v1);
        }
        Err(error) => {
            assert_eq!(Err(error.kind()), expected.map(|_| ()), "from_strs");
            check_error(&error);
        }
    }
}

/// What [`Verifier::verify_at`] must answer, from its documented checks.
fn expected_verify(
    keys: &SigningKeys,
    tolerance_secs: i64,
    max_body: usize,
    headers: &HeaderMap,
    body: &[u8],
    now: i64,
) -> Result<(), VerifyErrorKind> {
    use VerifyErrorKind::{BadSignature, Future, Malformed, Stale, TooLarge};
    if body.len() > max_body {
        return Err(TooLarge);
    }
    let mut values = Vec::new();
    for (name, max) in HEADER_NAMES
        .iter()
        .zip([MAX_ID_LEN, 19, MAX_SIGNATURE_HEADER_BYTES])
    {
        let mut all = headers.get_all(*name).iter();
        let (Some(value), None) = (all.next(), all.next()) else {
            return Err(Malformed);
        };
        if value.len() > max {
            return Err(TooLarge);
        }
        values.push(value.to_str().map_err(|_| Malformed)?);
    }
    let (id, timestamp, entries) = match expected_headers(values[0], values[1], values[2]) {
        Ok((timestamp, entries)) => (values[0], timestamp, entries),
        Err(kind) => return Err(kind),
    };
    if now.saturating_sub(timestamp) > tolerance_secs {
        return Err(Stale);
    }
    if timestamp.saturating_sub(now) > tolerance_secs {
        return Err(Future);
    }
    // One signature per key, compared as text: standard base64 with padding
    // is one string per tag, so this is the MAC comparison, done differently.
    let genuine: Vec<String> = sign(keys, id, timestamp, body)
        .split(' ')
        .map(str::to_owned)
        .collect();
    if entries
        .iter()
        .any(|entry| genuine.iter().any(|g| g == entry))
    {
        Ok(())
    } else {
        Err(BadSignature)
    }
}

fn check_verify(
    verifier: &Verifier,
    keys: &SigningKeys,
    tolerance: Duration,
    max_body: usize,
    headers: &HeaderMap,
    body: &[u8],
    now: i64,
) {
    let tolerance_secs = i64::try_from(tolerance.as_secs()).unwrap_or(i64::MAX);
    let expected = expected_verify(keys, tolerance_secs, max_body, headers, body, now);
    match verifier.verify_at(headers, body, now) {
        Ok(verified) => {
            assert_eq!(expected, Ok(()), "verify_at accepted what the rules refuse");
            let id = headers.get("webhook-id").and_then(|v| v.to_str().ok());
            assert_eq!(Some(verified.id.as_str()), id);
            assert!(
                !verified.is_duplicate(),
                "a duplicate without a replay guard"
            );
        }
        Err(error) => {
            assert_eq!(Err(error.kind()), expected, "verify_at at {now}");
            check_error(&error);
        }
    }
}

/// A verification error: a fixed, bounded message, one public message per
/// status.
fn check_error(error: &VerifyError) {
    assert_shown(&error.to_string(), MAX_ERROR_BYTES, "a verify error");
    let status = error.status().as_u16();
    assert!(
        matches!(status, 400 | 401 | 409 | 413 | 503),
        "status {status}"
    );
    let (parts_status, _, public) = error.response_parts();
    assert_eq!(parts_status, error.status());
    assert_eq!(public, error.public_message());
}

/// A `whsec_` secret of 24 to 64 random bytes, padded or not.
fn derived_secret(rng: &mut Rng) -> String {
    let len = 24 + rng.below(41) as usize;
    let encoded = STANDARD.encode(rng.bytes(len));
    if rng.below(2) == 0 {
        format!("whsec_{encoded}")
    } else {
        format!("whsec_{}", encoded.trim_end_matches('='))
    }
}

/// Signs as `SignalClient` does (a valid id, the Unix seconds of a clock
/// that never goes below 0, the exact body) and verifies.
fn round_trip(id_line: Option<&[u8]>, ts_line: Option<&[u8]>, body: &[u8], rng: &mut Rng) {
    use VerifyErrorKind::{BadSignature, Future, InFlight, Replayed, Stale};

    let mut id: String = id_line
        .unwrap_or_default()
        .iter()
        .map(|&b| char::from(b))
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-'))
        .take(MAX_ID_LEN)
        .collect();
    if id.is_empty() {
        id = format!("msg_{:x}", rng.next_u64());
    }
    let timestamp = match ts_line
        .and_then(|l| std::str::from_utf8(l).ok())
        .map(str::parse::<i64>)
    {
        Some(Ok(ts)) if ts >= 0 => ts,
        _ => match rng.below(4) {
            0 => 0,
            1 => i64::MAX,
            _ => (rng.next_u64() >> 1) as i64,
        },
    };
    let secrets: Vec<String> = (0..=rng.below(10)).map(|_| derived_secret(rng)).collect();
    let separators = [" ", "  ", "\n", "\t"];
    let list = secrets
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join(separators[rng.below(4) as usize]);
    let keys = SigningKeys::parse(&list).unwrap_or_else(|e| panic!("derived secrets refused: {e}"));
    let signature = sign(&keys, &id, timestamp, body);
    let request = |ts: i64| {
        let mut headers = HeaderMap::new();
        let value = |text: &str| {
            HeaderValue::from_str(text)
                .unwrap_or_else(|e| panic!("{text:?} is no header value: {e}"))
        };
        headers.insert("webhook-id", value(&id));
        headers.insert("webhook-timestamp", HeaderValue::from(ts));
        headers.insert("webhook-signature", value(&sign(&keys, &id, ts, body)));
        headers
    };
    let headers = request(timestamp);
    assert_eq!(headers["webhook-signature"], signature.as_str());
    let tolerance = DEFAULT_TOLERANCE.as_secs() as i64;
    let skew = rng.below(2 * tolerance as u64 + 1) as i64 - tolerance;
    let now = timestamp.saturating_add(skew);

    let verifier = Verifier::new(keys.clone());
    match verifier.verify_at(&headers, body, now) {
        Ok(verified) => {
            assert_eq!(verified.id, id);
            assert_eq!(verified.timestamp, timestamp);
        }
        Err(error) => panic!("a genuine request at skew {skew} refused: {error}"),
    }
    // Any one key of the rotation is enough.
    let one = &secrets[rng.below(secrets.len() as u64) as usize];
    let one = SigningKeys::parse(one).unwrap_or_else(|e| panic!("{e}"));
    assert!(
        Verifier::new(one).verify_at(&headers, body, now).is_ok(),
        "one key of several"
    );

    let kind = |verifier: &Verifier, headers: &HeaderMap, body: &[u8], now: i64| {
        verifier
            .verify_at(headers, body, now)
            .map(|_| ())
            .map_err(|e| e.kind())
    };
    let mut other = body.to_vec();
    match other.get_mut(rng.below(body.len().max(1) as u64) as usize) {
        Some(byte) => *byte ^= 1 << rng.below(8),
        None => other.push(b'x'),
    }
    assert_eq!(
        kind(&verifier, &headers, &other, now),
        Err(BadSignature),
        "changed body"
    );
    let stranger = SigningKeys::parse(&derived_secret(rng)).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        kind(&Verifier::new(stranger), &headers, body, now),
        Err(BadSignature),
        "another key"
    );
    if let Some(late) = timestamp.checked_add(tolerance + 1) {
        assert_eq!(kind(&verifier, &headers, body, late), Err(Stale), "late");
    }
    if timestamp > tolerance {
        let early = timestamp - tolerance - 1;
        assert_eq!(kind(&verifier, &headers, body, early), Err(Future), "early");
    }

    // The replay guard's table, in order.
    let guarded = Verifier::new(keys.clone()).with_replay_guard(ReplayGuard::default());
    let first = guarded.verify_at(&headers, body, now);
    let first = first.unwrap_or_else(|e| panic!("first sight refused: {e}"));
    assert!(!first.is_duplicate());
    assert_eq!(
        kind(&guarded, &headers, body, now),
        Err(InFlight),
        "while in flight"
    );
    drop(first);
    assert_eq!(
        kind(&guarded, &headers, body, now),
        Err(Replayed),
        "the same attempt again"
    );
    if let Some(retry_ts) = timestamp.checked_add(1) {
        let retry_now = now.max(retry_ts - tolerance);
        let retry = request(retry_ts);
        let mut accepted = guarded
            .verify_at(&retry, body, retry_now)
            .unwrap_or_else(|e| panic!("a newer retry refused: {e}"));
        assert!(!accepted.is_duplicate());
        accepted.complete();
        let again = guarded
            .verify_at(&retry, body, retry_now)
            .unwrap_or_else(|e| panic!("a completed id refused: {e}"));
        assert!(again.is_duplicate(), "a completed id is a duplicate");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_specification_vector_verifies_through_the_line_format() {
        let seed = b"msg_27UH4WbU6Z5A5EzD8u03UvzRbpk\n1649367553\nv1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=\n1649367553\n{\"email\":\"test@example.com\",\"username\":\"test_user\"}";
        let keys = SigningKeys::parse(VECTOR_SECRET).unwrap_or_else(|e| panic!("{e}"));
        let mut parts = seed.splitn(5, |&b| b == b'\n');
        let lines: Vec<Option<&[u8]>> = (0..3).map(|_| parts.next()).collect();
        let headers = header_map(&lines);
        let body = parts.nth(1).unwrap_or_default();
        assert_eq!(
            expected_verify(&keys, 300, 1 << 20, &headers, body, 1_649_367_553),
            Ok(())
        );
        run(seed);
    }

    #[test]
    fn repeated_and_missing_headers_are_malformed() {
        let keys = SigningKeys::parse(VECTOR_SECRET).unwrap_or_else(|e| panic!("{e}"));
        let headers = header_map(&[Some(b"a\x1fb"), Some(b"1"), Some(b"v1,x")]);
        assert_eq!(headers.get_all("webhook-id").iter().count(), 2);
        assert_eq!(
            expected_verify(&keys, 300, 1 << 20, &headers, b"", 1),
            Err(VerifyErrorKind::Malformed)
        );
        run(b"a\n1");
        run(b"");
    }
}
