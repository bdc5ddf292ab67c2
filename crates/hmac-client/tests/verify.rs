//! Signing and verification against the specification's test vector, and
//! every way a request must fail verification.
#![cfg(feature = "verify")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac_client::{
    ReplayGuard, SigningKeys, Verified, Verifier, VerifyError, VerifyErrorKind, sign,
};
use http::{HeaderMap, HeaderValue, StatusCode};

// The Standard Webhooks specification's official test vector.
const VECTOR_SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
const VECTOR_ID: &str = "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk";
const VECTOR_TS: i64 = 1649367553;
const VECTOR_BODY: &[u8] = br#"{"email":"test@example.com","username":"test_user"}"#;
const VECTOR_SIGNATURE: &str = "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=";

fn secret_of(byte: u8) -> String {
    format!("whsec_{}", STANDARD.encode([byte; 32]))
}

fn keys(value: &str) -> SigningKeys {
    SigningKeys::parse(value).unwrap()
}

fn headers(id: &str, timestamp: &str, signature: &str) -> HeaderMap {
    let mut map = HeaderMap::new();
    map.insert("webhook-id", HeaderValue::from_str(id).unwrap());
    map.insert(
        "webhook-timestamp",
        HeaderValue::from_str(timestamp).unwrap(),
    );
    map.insert(
        "webhook-signature",
        HeaderValue::from_str(signature).unwrap(),
    );
    map
}

fn vector_headers(signature: &str) -> HeaderMap {
    headers(VECTOR_ID, &VECTOR_TS.to_string(), signature)
}

fn vector_verifier() -> Verifier {
    Verifier::new(keys(VECTOR_SECRET))
}

fn kind(result: Result<Verified, VerifyError>) -> VerifyErrorKind {
    result.expect_err("verification should fail").kind()
}

#[test]
fn official_vector_signs() {
    assert_eq!(
        sign(&keys(VECTOR_SECRET), VECTOR_ID, VECTOR_TS, VECTOR_BODY),
        VECTOR_SIGNATURE
    );
}

#[test]
fn official_vector_verifies() {
    let verified = vector_verifier()
        .verify_at(&vector_headers(VECTOR_SIGNATURE), VECTOR_BODY, VECTOR_TS)
        .unwrap();
    assert_eq!(verified.id, VECTOR_ID);
    assert_eq!(verified.timestamp, VECTOR_TS);
    assert!(!verified.is_duplicate());
}

#[test]
fn round_trip_on_the_system_clock() {
    let now = i64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs(),
    )
    .unwrap();
    let keys = keys(&secret_of(3));
    let body = br#"{"symbol":"ETHUSDT","side":"sell"}"#;
    let map = headers("sig-1", &now.to_string(), &sign(&keys, "sig-1", now, body));
    let verified = Verifier::new(keys).verify(&map, body).unwrap();
    assert_eq!(verified.id, "sig-1");
}

#[test]
fn any_change_to_body_id_or_timestamp_fails() {
    let verifier = vector_verifier();
    let mut body = VECTOR_BODY.to_vec();
    body[10] ^= 1;
    assert_eq!(
        kind(verifier.verify_at(&vector_headers(VECTOR_SIGNATURE), &body, VECTOR_TS)),
        VerifyErrorKind::BadSignature
    );
    let mut longer = VECTOR_BODY.to_vec();
    longer.push(b' ');
    assert_eq!(
        kind(verifier.verify_at(&vector_headers(VECTOR_SIGNATURE), &longer, VECTOR_TS)),
        VerifyErrorKind::BadSignature
    );
    let other_id = headers(
        "msg_27UH4WbU6Z5A5EzD8u03UvzRbpK",
        &VECTOR_TS.to_string(),
        VECTOR_SIGNATURE,
    );
    assert_eq!(
        kind(verifier.verify_at(&other_id, VECTOR_BODY, VECTOR_TS)),
        VerifyErrorKind::BadSignature
    );
    let other_ts = headers(VECTOR_ID, &(VECTOR_TS + 1).to_string(), VECTOR_SIGNATURE);
    assert_eq!(
        kind(verifier.verify_at(&other_ts, VECTOR_BODY, VECTOR_TS)),
        VerifyErrorKind::BadSignature
    );
}

#[test]
fn stale_and_future_timestamps_fail_both_ways() {
    let verifier = vector_verifier();
    let map = vector_headers(VECTOR_SIGNATURE);
    // Exactly at the tolerance is still accepted, one second beyond is not.
    assert!(
        verifier
            .verify_at(&map, VECTOR_BODY, VECTOR_TS + 300)
            .is_ok()
    );
    assert!(
        verifier
            .verify_at(&map, VECTOR_BODY, VECTOR_TS - 300)
            .is_ok()
    );
    let stale = verifier
        .verify_at(&map, VECTOR_BODY, VECTOR_TS + 301)
        .unwrap_err();
    assert_eq!(stale.kind(), VerifyErrorKind::Stale);
    assert_eq!(stale.status(), StatusCode::UNAUTHORIZED);
    let future = verifier
        .verify_at(&map, VECTOR_BODY, VECTOR_TS - 301)
        .unwrap_err();
    assert_eq!(future.kind(), VerifyErrorKind::Future);
    assert_eq!(future.status(), StatusCode::UNAUTHORIZED);
    // Stale and forged look the same to the sender.
    assert_eq!(stale.public_message(), future.public_message());

    let strict = vector_verifier().with_tolerance(Duration::from_secs(5));
    assert_eq!(
        kind(strict.verify_at(&map, VECTOR_BODY, VECTOR_TS + 6)),
        VerifyErrorKind::Stale
    );
    assert_eq!(
        kind(strict.verify_at(&map, VECTOR_BODY, VECTOR_TS - 6)),
        VerifyErrorKind::Future
    );
    // Extreme clocks do not overflow.
    assert_eq!(
        kind(strict.verify_at(&map, VECTOR_BODY, i64::MIN)),
        VerifyErrorKind::Future
    );
    assert_eq!(
        kind(strict.verify_at(&map, VECTOR_BODY, i64::MAX)),
        VerifyErrorKind::Stale
    );
}

#[test]
fn rotation_old_key_new_key_and_both() {
    let old = secret_of(1);
    let new = secret_of(2);
    let both = format!("{old} {new}");
    let body = b"{}";
    let ts = 1_700_000_000;
    let signed_by = |secrets: &str| {
        headers(
            "sig_rot",
            &ts.to_string(),
            &sign(&keys(secrets), "sig_rot", ts, body),
        )
    };

    // A sender mid-rotation signs with both keys: two entries.
    assert_eq!(
        sign(&keys(&both), "sig_rot", ts, body).split(' ').count(),
        2
    );

    for (sender, receiver, ok) in [
        (&old, &old, true),
        (&old, &both, true),
        (&new, &both, true),
        (&both, &old, true),
        (&both, &new, true),
        (&both, &both, true),
        (&new, &new, true),
        (&old, &new, false),
        (&new, &old, false),
    ] {
        let result = Verifier::new(keys(receiver)).verify_at(&signed_by(sender), body, ts);
        assert_eq!(result.is_ok(), ok, "sender {sender} receiver {receiver}");
    }
}

#[test]
fn empty_truncated_and_foreign_signatures_fail_cleanly() {
    let verifier = vector_verifier();
    let tag = VECTOR_SIGNATURE.strip_prefix("v1,").unwrap();
    let decoded = STANDARD.decode(tag).unwrap();
    let truncated = format!("v1,{}", STANDARD.encode(&decoded[..16]));
    let extended = format!(
        "v1,{}",
        STANDARD.encode([decoded.as_slice(), b"x"].concat())
    );
    for signature in [
        "v1,",
        "v1",
        ",",
        "v1,!!!not-base64!!!",
        "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw",
        &truncated,
        &extended,
        &format!("v2,{tag}"),
        &format!("V1,{tag}"),
        &format!("v1a,{tag}"),
        &format!("v1 {tag}"),
        tag,
        &format!("v1,,{tag}"),
        "v1, v1, v1,",
    ] {
        let result = verifier.verify_at(&vector_headers(signature), VECTOR_BODY, VECTOR_TS);
        let error = result.expect_err(signature);
        assert_eq!(
            error.status(),
            StatusCode::UNAUTHORIZED,
            "{signature}: {error}"
        );
    }
    // Unknown versions are skipped, so the valid entry among them still counts.
    let mixed = format!("v1a,{tag} v2,abc v1, {VECTOR_SIGNATURE}");
    assert!(
        verifier
            .verify_at(&vector_headers(&mixed), VECTOR_BODY, VECTOR_TS)
            .is_ok()
    );
    // Extra spaces between entries are tolerated.
    let spaced = format!("  v1,AAAA   {VECTOR_SIGNATURE} ");
    assert!(
        verifier
            .verify_at(&vector_headers(&spaced), VECTOR_BODY, VECTOR_TS)
            .is_ok()
    );
}

#[test]
fn a_thousand_entries_and_oversized_headers_fail_cleanly() {
    let verifier = vector_verifier();
    let thousand = vec![VECTOR_SIGNATURE; 1_000].join(" ");
    let error = verifier
        .verify_at(&vector_headers(&thousand), VECTOR_BODY, VECTOR_TS)
        .unwrap_err();
    assert_eq!(error.kind(), VerifyErrorKind::TooLarge);
    assert_eq!(error.status(), StatusCode::PAYLOAD_TOO_LARGE);

    // Short entries: within the byte bound but too many of them.
    let many_short = vec!["v1,AA"; hmac_client::MAX_SIGNATURE_ENTRIES + 1].join(" ");
    assert_eq!(
        kind(verifier.verify_at(&vector_headers(&many_short), VECTOR_BODY, VECTOR_TS)),
        VerifyErrorKind::TooLarge
    );

    let long_id = "a".repeat(10_000);
    assert_eq!(
        kind(verifier.verify_at(
            &headers(&long_id, &VECTOR_TS.to_string(), VECTOR_SIGNATURE),
            VECTOR_BODY,
            VECTOR_TS
        )),
        VerifyErrorKind::TooLarge
    );
    let long_ts = "1".repeat(10_000);
    assert_eq!(
        kind(verifier.verify_at(
            &headers(VECTOR_ID, &long_ts, VECTOR_SIGNATURE),
            VECTOR_BODY,
            VECTOR_TS
        )),
        VerifyErrorKind::TooLarge
    );
    let long_sig = format!("{VECTOR_SIGNATURE} v1,{}", "A".repeat(100_000));
    assert_eq!(
        kind(verifier.verify_at(&vector_headers(&long_sig), VECTOR_BODY, VECTOR_TS)),
        VerifyErrorKind::TooLarge
    );

    let small = vector_verifier().with_max_body_bytes(10);
    assert_eq!(
        kind(small.verify_at(&vector_headers(VECTOR_SIGNATURE), VECTOR_BODY, VECTOR_TS)),
        VerifyErrorKind::TooLarge
    );
}

#[test]
fn malformed_headers_are_400() {
    let verifier = vector_verifier();
    let ts = VECTOR_TS.to_string();
    let mut cases: Vec<(&str, HeaderMap)> = Vec::new();
    for missing in ["webhook-id", "webhook-timestamp", "webhook-signature"] {
        let mut map = vector_headers(VECTOR_SIGNATURE);
        map.remove(missing);
        cases.push((missing, map));
    }
    for repeated in ["webhook-id", "webhook-timestamp", "webhook-signature"] {
        let mut map = vector_headers(VECTOR_SIGNATURE);
        let value = map.get(repeated).unwrap().clone();
        map.append(repeated, value);
        cases.push((repeated, map));
    }
    cases.push(("dot in id", headers("msg.1", &ts, VECTOR_SIGNATURE)));
    cases.push(("space in id", headers("msg 1", &ts, VECTOR_SIGNATURE)));
    cases.push(("empty id", headers("", &ts, VECTOR_SIGNATURE)));
    for bad_ts in [
        "",
        "-1649367553",
        "+1649367553",
        "1649367553.0",
        "1e9",
        " 1649367553",
        "9999999999999999999",
    ] {
        cases.push(("timestamp", headers(VECTOR_ID, bad_ts, VECTOR_SIGNATURE)));
    }
    cases.push(("empty signature", vector_headers("")));
    cases.push(("blank signature", vector_headers("   ")));
    let mut not_text = vector_headers(VECTOR_SIGNATURE);
    not_text.insert("webhook-id", HeaderValue::from_bytes(b"msg\xff").unwrap());
    cases.push(("non-ASCII id", not_text));

    for (name, map) in cases {
        let error = verifier
            .verify_at(&map, VECTOR_BODY, VECTOR_TS)
            .expect_err(name);
        assert_eq!(error.kind(), VerifyErrorKind::Malformed, "{name}: {error}");
        assert_eq!(error.status(), StatusCode::BAD_REQUEST, "{name}");
        assert_eq!(error.public_message(), "malformed webhook request");
    }
}

#[test]
fn checks_run_in_order_structure_then_time_then_signature() {
    let verifier = vector_verifier();
    // Malformed wins over stale; stale wins over a bad signature; a bad
    // signature wins over the replay guard.
    let malformed = headers("a.b", "1", "v1,");
    assert_eq!(
        kind(verifier.verify_at(&malformed, VECTOR_BODY, VECTOR_TS)),
        VerifyErrorKind::Malformed
    );
    let stale_and_forged = headers(VECTOR_ID, "1", "v1,AAAA");
    assert_eq!(
        kind(verifier.verify_at(&stale_and_forged, VECTOR_BODY, VECTOR_TS)),
        VerifyErrorKind::Stale
    );
    let guarded = vector_verifier().with_replay_guard(ReplayGuard::default());
    let _held = guarded
        .verify_at(&vector_headers(VECTOR_SIGNATURE), VECTOR_BODY, VECTOR_TS)
        .unwrap();
    assert_eq!(
        kind(guarded.verify_at(&vector_headers("v1,AAAA"), VECTOR_BODY, VECTOR_TS)),
        VerifyErrorKind::BadSignature
    );
}

#[test]
fn an_id_in_flight_is_409_and_once_completed_is_a_duplicate() {
    let verifier = vector_verifier().with_replay_guard(ReplayGuard::new(100));
    let map = vector_headers(VECTOR_SIGNATURE);

    // First delivery: accepted and in flight.
    let mut first = verifier.verify_at(&map, VECTOR_BODY, VECTOR_TS).unwrap();
    assert!(!first.is_duplicate());

    // A replay (or an overtaking retry) while in flight: 409, retryable.
    let replay = verifier
        .verify_at(&map, VECTOR_BODY, VECTOR_TS + 1)
        .unwrap_err();
    assert_eq!(replay.kind(), VerifyErrorKind::InFlight);
    assert_eq!(replay.status(), StatusCode::CONFLICT);
    assert_eq!(replay.retry_after(), None);
    // A clone of the verifier shares the guard.
    assert_eq!(
        kind(verifier.clone().verify_at(&map, VECTOR_BODY, VECTOR_TS + 1)),
        VerifyErrorKind::InFlight
    );

    // Completed: later deliveries are duplicates to acknowledge, not act on.
    first.complete();
    first.complete();
    let again = verifier
        .verify_at(&map, VECTOR_BODY, VECTOR_TS + 2)
        .unwrap();
    assert!(again.is_duplicate());
    assert_eq!(again.id, VECTOR_ID);
}

#[test]
fn a_retry_after_a_failed_attempt_is_accepted() {
    let keys = keys(VECTOR_SECRET);
    let verifier = Verifier::new(keys.clone()).with_replay_guard(ReplayGuard::default());
    let body = br#"{"n":1}"#;
    let attempt = |ts: i64| {
        headers(
            "sig_retry",
            &ts.to_string(),
            &sign(&keys, "sig_retry", ts, body),
        )
    };

    // The receiver fails while processing (answers 5xx): the handle is
    // dropped without `complete`, so the id is released.
    let failed = verifier.verify_at(&attempt(1_000), body, 1_000).unwrap();
    drop(failed);

    // The sender's retry: same id, fresh timestamp and signature.
    let mut retry = verifier.verify_at(&attempt(1_003), body, 1_003).unwrap();
    assert!(!retry.is_duplicate());
    retry.complete();
    assert!(
        verifier
            .verify_at(&attempt(1_010), body, 1_010)
            .unwrap()
            .is_duplicate()
    );
}

#[test]
fn a_verifier_without_guard_never_reports_duplicates() {
    let verifier = vector_verifier();
    for _ in 0..3 {
        let mut verified = verifier
            .verify_at(&vector_headers(VECTOR_SIGNATURE), VECTOR_BODY, VECTOR_TS)
            .unwrap();
        assert!(!verified.is_duplicate());
        verified.complete();
    }
}
