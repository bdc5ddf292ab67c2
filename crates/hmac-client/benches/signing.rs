//! Signing and verifying against the plain MAC, side by side in one run.
//!
//! The baseline is `hmac` + `sha2` alone: a fresh HMAC-SHA256 keyed with the
//! same 32-byte key over `{id}.{timestamp}.` (prepared once, outside the
//! loop) and the body, then `finalize` (sign) or the constant-time
//! `verify_slice` against the raw 32-byte tag (verify). hmac-client's side is
//! the public API a sender and a receiver call: `sign` (which also formats
//! the timestamp, base64-encodes and builds the `v1,` header value) and
//! `Verifier::verify_at` (which also checks and parses the three headers,
//! the timestamp window and base64-decodes the tag). Goal: within 1.15x.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::hint::black_box;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use hmac::{Hmac, KeyInit, Mac};
use hmac_client::{HEADER_ID, HEADER_SIGNATURE, HEADER_TIMESTAMP, SigningKeys, Verifier, sign};
use http::{HeaderMap, HeaderValue};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

const KEY: [u8; 32] = *b"0123456789abcdef0123456789abcdef";
const ID: &str = "sig_2026_11_29_0001";
const TIMESTAMP: i64 = 1_764_380_000;
const SIZES: [(usize, &str); 2] = [(512, "512B"), (4096, "4KiB")];

fn body(len: usize) -> Vec<u8> {
    // JSON-looking bytes of exactly `len` bytes.
    let mut body =
        br#"{"id":"sig_2026_11_29_0001","instrument":"BTC-USD","side":"buy","note":""#.to_vec();
    body.resize(len - 2, b'x');
    body.extend_from_slice(b"\"}");
    body
}

fn plain_mac(prefix: &[u8], body: &[u8]) -> HmacSha256 {
    let mut mac = <HmacSha256 as KeyInit>::new_from_slice(&KEY).unwrap();
    mac.update(prefix);
    mac.update(body);
    mac
}

fn keys() -> SigningKeys {
    SigningKeys::parse(&format!("whsec_{}", STANDARD.encode(KEY))).unwrap()
}

fn signing(c: &mut Criterion) {
    let keys = keys();
    let prefix = format!("{ID}.{TIMESTAMP}.").into_bytes();
    let mut group = c.benchmark_group("hmac_sign");
    for (len, name) in SIZES {
        let body = body(len);
        // Both sides compute the same MAC.
        let expected = format!(
            "v1,{}",
            STANDARD.encode(plain_mac(&prefix, &body).finalize().into_bytes())
        );
        assert_eq!(sign(&keys, ID, TIMESTAMP, &body), expected);
        group.throughput(Throughput::Bytes(len as u64));
        group.bench_with_input(BenchmarkId::new("hmac-client", name), &body, |b, body| {
            b.iter(|| sign(black_box(&keys), ID, black_box(TIMESTAMP), black_box(body)))
        });
        group.bench_with_input(BenchmarkId::new("plain-hmac", name), &body, |b, body| {
            b.iter(|| {
                plain_mac(black_box(&prefix), black_box(body))
                    .finalize()
                    .into_bytes()
            })
        });
    }
    group.finish();
}

fn verifying(c: &mut Criterion) {
    let keys = keys();
    let verifier = Verifier::new(keys.clone());
    let prefix = format!("{ID}.{TIMESTAMP}.").into_bytes();
    let mut group = c.benchmark_group("hmac_verify");
    for (len, name) in SIZES {
        let body = body(len);
        let tag = plain_mac(&prefix, &body).finalize().into_bytes();
        let mut headers = HeaderMap::new();
        headers.insert(HEADER_ID, HeaderValue::from_static(ID));
        headers.insert(HEADER_TIMESTAMP, HeaderValue::from(TIMESTAMP));
        headers.insert(
            HEADER_SIGNATURE,
            HeaderValue::from_str(&sign(&keys, ID, TIMESTAMP, &body)).unwrap(),
        );
        assert!(verifier.verify_at(&headers, &body, TIMESTAMP).is_ok());
        assert!(plain_mac(&prefix, &body).verify_slice(&tag).is_ok());
        group.throughput(Throughput::Bytes(len as u64));
        group.bench_with_input(BenchmarkId::new("hmac-client", name), &body, |b, body| {
            b.iter(|| {
                verifier
                    .verify_at(black_box(&headers), black_box(body), TIMESTAMP)
                    .is_ok()
            })
        });
        group.bench_with_input(BenchmarkId::new("plain-hmac", name), &body, |b, body| {
            b.iter(|| {
                plain_mac(black_box(&prefix), black_box(body))
                    .verify_slice(black_box(&tag))
                    .is_ok()
            })
        });
    }
    group.finish();
}

criterion_group!(benches, signing, verifying);
criterion_main!(benches);
