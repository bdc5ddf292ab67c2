//! The strict parser against plain serde_json, side by side in one run.
//!
//! The baseline is `serde_json::from_slice::<Value>`: what parsing a signal
//! cost before duplicate keys were checked, without any validation. The
//! other side is `Signal::from_json`, the whole job: syntax and duplicate
//! keys at every depth, the fields validated, the body copied into `Bytes`.
//! Two sizes: a typical ~200-byte signal and a 4 KiB one with nested
//! objects and arrays (more keys to check). A third group frames and parses
//! 1,000 lines of NDJSON against splitting on `\n` and parsing to `Value`.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use serde_json::Value;
use signal_model::{LineFramer, MaxBytes, Signal};

fn small() -> String {
    let signal = r#"{"id":"sig_2026_11_29_0001","instrument":"BTC-USD","side":"buy","price":97123.5,"volume":0.25,"created_at":"2026-11-29T08:30:00Z","strategy":"momentum-v3","note":"breakout above the 4h range"}"#;
    signal.to_owned()
}

/// About 4 KiB: the named fields, then indicator objects and order legs.
fn large() -> String {
    let mut legs = Vec::new();
    let mut i = 0;
    loop {
        legs.push(format!(
            r#"{{"venue":"venue-{i}","side":"buy","qty":{q},"limit":{p},"tags":["a{i}","b{i}"],"risk":{{"max_slippage_bps":{i},"ttl_ms":30000,"post_only":true}}}}"#,
            q = 0.01 * f64::from(i + 1),
            p = 97_000.5 + f64::from(i),
        ));
        let indicators: Vec<String> = (0..24)
            .map(|k| format!(r#""ind_{k}":{}"#, 0.5 + f64::from(k)))
            .collect();
        let body = format!(
            r#"{{"id":"sig_2026_11_29_0002","instrument":"BTC-USD","side":"sell","price":97123.5,"volume":1.5,"created_at":"2026-11-29T08:30:00Z","indicators":{{{}}},"legs":[{}]}}"#,
            indicators.join(","),
            legs.join(",")
        );
        if body.len() >= 4096 {
            return body;
        }
        i += 1;
    }
}

fn one_signal(c: &mut Criterion) {
    let mut group = c.benchmark_group("signal_parse");
    for (name, json) in [("200B", small()), ("4KiB", large())] {
        // Both sides accept the input, and it is what it claims to be.
        assert!(serde_json::from_slice::<Value>(json.as_bytes()).is_ok());
        assert!(Signal::from_json(json.as_bytes()).is_ok());
        eprintln!("signal_parse/{name}: {} bytes", json.len());
        group.throughput(Throughput::Bytes(json.len() as u64));
        group.bench_with_input(
            BenchmarkId::new("serde_json-value", name),
            &json,
            |b, json| {
                b.iter(|| serde_json::from_slice::<Value>(black_box(json.as_bytes())).unwrap())
            },
        );
        group.bench_with_input(BenchmarkId::new("signal-model", name), &json, |b, json| {
            b.iter(|| Signal::from_json(black_box(json.as_bytes())).unwrap())
        });
    }
    group.finish();
}

fn ndjson(c: &mut Criterion) {
    let line = small();
    let input: Vec<u8> = (0..1000)
        .flat_map(|_| format!("{line}\n").into_bytes())
        .collect();
    let mut group = c.benchmark_group("ndjson_1000_lines");
    group.throughput(Throughput::Bytes(input.len() as u64));
    group.bench_function("split-serde_json-value", |b| {
        b.iter(|| {
            for line in black_box(&input).split(|&b| b == b'\n') {
                if !line.is_empty() {
                    black_box(serde_json::from_slice::<Value>(line).unwrap());
                }
            }
        })
    });
    group.bench_function("signal-model-framer", |b| {
        b.iter(|| {
            for frame in LineFramer::split(black_box(&input), MaxBytes::DEFAULT) {
                if let Some(signal) = frame.to_signal() {
                    black_box(signal.unwrap());
                }
            }
        })
    });
    group.finish();
}

criterion_group!(benches, one_signal, ndjson);
criterion_main!(benches);
