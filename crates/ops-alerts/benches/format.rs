//! Alert formatting of a 10,000-character error: the alert path must never be
//! the bottleneck in an outage, when every failed signal is formatted.
//!
//! The error mixes characters to escape (`<`, `>`, `&`), quotes, accented
//! letters and an emoji (2 UTF-16 units), so escaping and Telegram-length
//! cutting both do real work. Measured through the public functions only.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::hint::black_box;

use chrono::{TimeZone, Utc};
use criterion::{Criterion, criterion_group, criterion_main};
use ops_alerts::{
    Attempts, DeliveryAlert, MESSAGE_BUDGET, Severity, cut_text, escape_html,
    format_delivery_alert, format_message,
};

const ERROR_CHARS: usize = 10_000;

fn long_error() -> String {
    let pattern = r#"HTTP 503 <upstream "pricing"> failed & retried: délai dépassé 🚨; "#;
    let error: String = pattern.chars().cycle().take(ERROR_CHARS).collect();
    assert_eq!(error.chars().count(), ERROR_CHARS);
    error
}

fn formatting(c: &mut Criterion) {
    let error = long_error();
    let timestamp = Utc.with_ymd_and_hms(2026, 11, 29, 2, 18, 10).unwrap();
    let alert = DeliveryAlert {
        severity: Severity::Error,
        signal_id: "sig_2026_11_29_0001",
        operation: "post_signal",
        error: &error,
        attempts: Attempts {
            made: 6,
            allowed: 6,
        },
        timestamp,
    };
    let mut group = c.benchmark_group("alert_format_10k");
    group.bench_function("format_delivery_alert", |b| {
        b.iter(|| format_delivery_alert(black_box(&alert)))
    });
    group.bench_function("format_message", |b| {
        b.iter(|| format_message(black_box(&error), Severity::Critical, Some(timestamp)))
    });
    group.bench_function("cut_then_escape", |b| {
        b.iter(|| escape_html(&cut_text(black_box(&error), MESSAGE_BUDGET)))
    });
    group.finish();
}

criterion_group!(benches, formatting);
criterion_main!(benches);
