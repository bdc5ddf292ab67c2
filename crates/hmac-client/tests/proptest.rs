//! Property tests: random keys, ids and bodies round-trip; random mutations
//! of any signed part never verify; the pure parsers never panic and stay
//! within their bounds on any input.
#![cfg(feature = "verify")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac_client::{
    MAX_RETRY_AFTER, MAX_SIGNATURE_ENTRIES, SigningKeys, Verifier, WebhookHeaders,
    parse_retry_after, sign,
};
use http::{HeaderMap, HeaderValue};
use proptest::prelude::*;

fn keys_of(key: &[u8]) -> SigningKeys {
    SigningKeys::parse(&format!("whsec_{}", STANDARD.encode(key))).unwrap()
}

fn headers(id: &str, timestamp: i64, signature: &str) -> HeaderMap {
    let mut map = HeaderMap::new();
    map.insert("webhook-id", HeaderValue::from_str(id).unwrap());
    map.insert("webhook-timestamp", HeaderValue::from(timestamp));
    map.insert(
        "webhook-signature",
        HeaderValue::from_str(signature).unwrap(),
    );
    map
}

fn padded(key: &[u8]) -> [u8; 64] {
    let mut block = [0u8; 64];
    block[..key.len()].copy_from_slice(key);
    block
}

fn key() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(any::<u8>(), 24..=64)
}

fn body() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(any::<u8>(), 0..2048)
}

const ID: &str = "[A-Za-z0-9_-]{1,64}";
const NOW: i64 = 1_700_000_000;

proptest! {
    #[test]
    fn random_bodies_and_keys_round_trip(key in key(), id in ID, body in body(), skew in -300i64..=300) {
        let keys = keys_of(&key);
        let ts = NOW + skew;
        let signature = sign(&keys, &id, ts, &body);
        let verified = Verifier::new(keys).verify_at(&headers(&id, ts, &signature), &body, NOW).unwrap();
        prop_assert_eq!(verified.id, id);
        prop_assert_eq!(verified.timestamp, ts);
    }

    #[test]
    fn a_flipped_body_bit_never_verifies(key in key(), id in ID, body in body().prop_filter("non-empty", |b| !b.is_empty()), index in any::<prop::sample::Index>(), bit in 0u8..8) {
        let keys = keys_of(&key);
        let signature = sign(&keys, &id, NOW, &body);
        let mut tampered = body.clone();
        let i = index.index(tampered.len());
        tampered[i] ^= 1 << bit;
        prop_assert!(Verifier::new(keys).verify_at(&headers(&id, NOW, &signature), &tampered, NOW).is_err());
    }

    #[test]
    fn appended_or_truncated_bodies_never_verify(key in key(), id in ID, body in body(), extra in proptest::collection::vec(any::<u8>(), 1..16)) {
        let keys = keys_of(&key);
        let signature = sign(&keys, &id, NOW, &body);
        let verifier = Verifier::new(keys);
        let longer = [body.as_slice(), extra.as_slice()].concat();
        prop_assert!(verifier.verify_at(&headers(&id, NOW, &signature), &longer, NOW).is_err());
        if !body.is_empty() {
            prop_assert!(verifier.verify_at(&headers(&id, NOW, &signature), &body[..body.len() - 1], NOW).is_err());
        }
    }

    #[test]
    fn another_id_or_timestamp_never_verifies(key in key(), id in ID, other in ID, body in body(), shift in -300i64..=300) {
        let keys = keys_of(&key);
        let signature = sign(&keys, &id, NOW, &body);
        let verifier = Verifier::new(keys);
        if other != id {
            prop_assert!(verifier.verify_at(&headers(&other, NOW, &signature), &body, NOW).is_err());
        }
        if shift != 0 {
            prop_assert!(verifier.verify_at(&headers(&id, NOW + shift, &signature), &body, NOW).is_err());
        }
    }

    #[test]
    fn a_flipped_signature_bit_never_verifies(key in key(), id in ID, body in body(), index in 0usize..32, bit in 0u8..8) {
        let keys = keys_of(&key);
        let signature = sign(&keys, &id, NOW, &body);
        let mut tag = STANDARD.decode(signature.strip_prefix("v1,").unwrap()).unwrap();
        tag[index] ^= 1 << bit;
        let forged = format!("v1,{}", STANDARD.encode(&tag));
        prop_assert!(Verifier::new(keys).verify_at(&headers(&id, NOW, &forged), &body, NOW).is_err());
    }

    #[test]
    fn another_key_never_verifies(key in key(), other in key(), id in ID, body in body()) {
        // HMAC zero-pads keys to the block size, so `k` and `k || 0x00` are
        // the same key by design: only keys that differ after padding count.
        prop_assume!(padded(&key) != padded(&other));
        let signature = sign(&keys_of(&key), &id, NOW, &body);
        prop_assert!(Verifier::new(keys_of(&other)).verify_at(&headers(&id, NOW, &signature), &body, NOW).is_err());
    }

    #[test]
    fn arbitrary_signature_headers_never_panic_or_verify(key in key(), id in ID, body in body(), signature in "[ -~]{0,200}") {
        let verifier = Verifier::new(keys_of(&key));
        prop_assert!(verifier.verify_at(&headers(&id, NOW, &signature), &body, NOW).is_err());
    }

    #[test]
    fn retry_after_never_panics_and_stays_bounded(value in any::<String>(), now in any::<i64>()) {
        if let Some(wait) = parse_retry_after(&value, now) {
            prop_assert!(wait <= MAX_RETRY_AFTER);
        }
    }

    #[test]
    fn retry_after_delta_seconds_round_trip(seconds in any::<u64>(), now in any::<i64>()) {
        let expected = std::time::Duration::from_secs(seconds).min(MAX_RETRY_AFTER);
        prop_assert_eq!(parse_retry_after(&seconds.to_string(), now), Some(expected));
    }

    #[test]
    fn webhook_headers_never_panic_and_respect_their_bounds(id in any::<String>(), ts in any::<String>(), sig in any::<String>()) {
        if let Ok(parsed) = WebhookHeaders::from_strs(&id, &ts, &sig) {
            prop_assert!(hmac_client::is_valid_id(parsed.id));
            prop_assert!(parsed.timestamp >= 0);
            prop_assert!((1..=MAX_SIGNATURE_ENTRIES).contains(&parsed.signatures().len()));
        }
    }
}
