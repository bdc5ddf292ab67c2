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

/// The replay guard's rules, through the verifier, on an injected clock.
mod replay_guard {
    use super::*;

    const BODY: &[u8] = br#"{"symbol":"BTCUSDT","side":"buy"}"#;
    const TOL: i64 = 300;

    struct Receiver {
        keys: SigningKeys,
        verifier: Verifier,
    }

    impl Receiver {
        fn new(capacity: usize, tolerance: i64) -> Receiver {
            let keys = keys(VECTOR_SECRET);
            let verifier = Verifier::new(keys.clone())
                .with_tolerance(Duration::from_secs(tolerance.unsigned_abs()))
                .with_replay_guard(ReplayGuard::new(capacity));
            Receiver { keys, verifier }
        }

        /// The request a sender makes for `id` at `ts`.
        fn request(&self, id: &str, ts: i64) -> HeaderMap {
            headers(id, &ts.to_string(), &sign(&self.keys, id, ts, BODY))
        }

        fn at(&self, request: &HeaderMap, now: i64) -> Result<Verified, VerifyError> {
            self.verifier.verify_at(request, BODY, now)
        }

        fn remembered(&self) -> usize {
            self.verifier.replay_guard().unwrap().len()
        }
    }

    #[test]
    fn a_replay_of_the_same_request_after_a_failed_handler_is_refused() {
        let receiver = Receiver::new(100, TOL);
        let captured = receiver.request("sig_1", 1_000);
        drop(receiver.at(&captured, 1_000).unwrap());

        // Every second of its window, the captured request stays refused.
        for now in [1_000, 1_001, 1_150, 1_000 + TOL] {
            let error = receiver.at(&captured, now).unwrap_err();
            assert_eq!(error.kind(), VerifyErrorKind::Replayed, "at {now}");
            assert_eq!(error.status(), StatusCode::CONFLICT);
            assert_eq!(
                error.public_message(),
                "webhook already being processed, retry later"
            );
        }
        // And then the timestamp check refuses it.
        assert_eq!(
            kind(receiver.at(&captured, 1_001 + TOL)),
            VerifyErrorKind::Stale
        );
    }

    #[test]
    fn a_genuine_retry_after_a_failed_handler_is_accepted() {
        let receiver = Receiver::new(100, TOL);
        let first = receiver.request("sig_1", 1_000);
        drop(receiver.at(&first, 1_000).unwrap());

        let retry = receiver.request("sig_1", 1_004);
        let mut accepted = receiver.at(&retry, 1_004).unwrap();
        assert!(!accepted.is_duplicate());
        assert_eq!(accepted.timestamp, 1_004);
        accepted.complete();

        // Now both the original and the retry are duplicates, not new work.
        assert!(receiver.at(&first, 1_005).unwrap().is_duplicate());
        assert!(receiver.at(&retry, 1_005).unwrap().is_duplicate());
    }

    #[test]
    fn a_failed_retry_is_released_too_and_older_attempts_stay_refused() {
        let receiver = Receiver::new(100, TOL);
        let attempts: Vec<_> = [1_000, 1_010, 1_020]
            .iter()
            .map(|&ts| receiver.request("sig_1", ts))
            .collect();
        drop(receiver.at(&attempts[0], 1_000).unwrap());
        drop(receiver.at(&attempts[1], 1_010).unwrap());
        for (request, now) in [(&attempts[0], 1_011), (&attempts[1], 1_011)] {
            assert_eq!(kind(receiver.at(request, now)), VerifyErrorKind::Replayed);
        }
        assert!(receiver.at(&attempts[2], 1_020).is_ok());
    }

    #[test]
    fn a_retry_in_the_same_second_is_the_same_bytes_and_waits_a_second() {
        let receiver = Receiver::new(100, TOL);
        drop(
            receiver
                .at(&receiver.request("sig_1", 1_000), 1_000)
                .unwrap(),
        );
        // Same id, same second: byte-identical to a replay, so 409 (retryable).
        let same_second = receiver.request("sig_1", 1_000);
        assert_eq!(
            kind(receiver.at(&same_second, 1_000)),
            VerifyErrorKind::Replayed
        );
        // The sender's next retry, a second later, gets in.
        assert!(
            receiver
                .at(&receiver.request("sig_1", 1_001), 1_001)
                .is_ok()
        );
    }

    #[test]
    fn ids_expire_exactly_at_timestamp_plus_tolerance() {
        for tolerance in [TOL, 5, 0] {
            let receiver = Receiver::new(100, tolerance);
            let first = receiver.request("sig_1", 1_000);
            receiver.at(&first, 1_000).unwrap().complete();

            // The last second the request verifies: remembered.
            let end = 1_000 + tolerance;
            assert!(
                receiver.at(&first, end).unwrap().is_duplicate(),
                "tolerance {tolerance}"
            );
            assert_eq!(receiver.remembered(), 1);

            // From the next second, it is stale, and the id is forgotten: a
            // new attempt of it (whatever its origin) is fresh work again.
            assert_eq!(kind(receiver.at(&first, end + 1)), VerifyErrorKind::Stale);
            let later = receiver.request("sig_1", end + 1);
            let fresh = receiver.at(&later, end + 1).unwrap();
            assert!(!fresh.is_duplicate(), "tolerance {tolerance}");
            assert_eq!(receiver.remembered(), 1);
        }
    }

    #[test]
    fn a_request_signed_ahead_of_the_clock_is_remembered_for_its_whole_window() {
        let receiver = Receiver::new(100, TOL);
        // Signed at the far end of the tolerance, seen at once: it verifies
        // for twice the tolerance.
        let ahead = receiver.request("sig_1", 1_000 + TOL);
        drop(receiver.at(&ahead, 1_000).unwrap());
        for now in [1_000 + TOL, 1_000 + 2 * TOL] {
            assert_eq!(
                kind(receiver.at(&ahead, now)),
                VerifyErrorKind::Replayed,
                "at {now}"
            );
        }
        assert_eq!(
            kind(receiver.at(&ahead, 1_001 + 2 * TOL)),
            VerifyErrorKind::Stale
        );
    }

    #[test]
    fn a_full_guard_of_live_ids_answers_503_with_retry_after() {
        let receiver = Receiver::new(2, TOL);
        receiver
            .at(&receiver.request("a", 1_000), 1_000)
            .unwrap()
            .complete();
        drop(receiver.at(&receiver.request("b", 1_050), 1_050).unwrap());

        let error = receiver
            .at(&receiver.request("c", 1_100), 1_100)
            .unwrap_err();
        assert_eq!(error.kind(), VerifyErrorKind::GuardFull);
        assert_eq!(error.status(), StatusCode::SERVICE_UNAVAILABLE);
        // "a" verifies until 1_300 and is forgotten at 1_301.
        assert_eq!(error.retry_after(), Some(Duration::from_secs(201)));
        let (status, response_headers, message) = error.response_parts();
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response_headers.get("retry-after").unwrap(), "201");
        assert_eq!(message, "webhook receiver busy, retry later");
        assert!(
            error.to_string().starts_with("webhook rejected (503)"),
            "{error}"
        );

        // Nothing live was evicted: both known ids are still decided.
        assert!(
            receiver
                .at(&receiver.request("a", 1_100), 1_100)
                .unwrap()
                .is_duplicate()
        );
        assert_eq!(
            kind(receiver.at(&receiver.request("b", 1_050), 1_100)),
            VerifyErrorKind::Replayed
        );
        // "a" was just seen again signed at 1_100, so "b" (live until 1_350)
        // now frees first.
        assert_eq!(
            receiver
                .at(&receiver.request("c", 1_101), 1_101)
                .unwrap_err()
                .retry_after(),
            Some(Duration::from_secs(1_351 - 1_101))
        );
        assert!(receiver.at(&receiver.request("c", 1_351), 1_351).is_ok());
    }

    #[test]
    fn other_errors_carry_no_retry_after() {
        let receiver = Receiver::new(100, TOL);
        let request = receiver.request("sig_1", 1_000);
        let _held = receiver.at(&request, 1_000).unwrap();
        for error in [
            receiver.at(&request, 1_001).unwrap_err(),
            receiver.at(&request, 9_999).unwrap_err(),
            receiver
                .verifier
                .verify_at(&request, b"{}", 1_000)
                .unwrap_err(),
        ] {
            assert_eq!(error.retry_after(), None, "{error}");
            assert!(error.response_parts().1.is_empty());
        }
    }
}
