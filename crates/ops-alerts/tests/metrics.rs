//! Counters through the `metrics` facade, checked with a local debugging recorder.

// Through the teloxide transport: only with the `telegram` feature.
#![cfg(feature = "telegram")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{CHAT, Failure, SECRET_PART, fake};
use loopback_fakes::telegram::FakeReply;
use metrics_util::debugging::{DebugValue, DebuggingRecorder};
use ops_alerts::{Attempts, OpsAlertService, Severity};

const ATTEMPTS: Attempts = Attempts {
    made: 6,
    allowed: 6,
};

#[test]
fn sent_folded_failed_and_logged_are_counted_by_severity() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .unwrap();
    metrics::with_local_recorder(&recorder, || {
        runtime.block_on(async {
            let (fake, config) = fake().await;
            let alerts = OpsAlertService::new(config);
            let error = Failure::new("http_503", "503");
            // ERROR sent, ERROR folded, CRITICAL folded (3rd failure in a row).
            for i in 0..3 {
                let _ = alerts
                    .send_signal_delivery_error(&format!("s{i}"), &error, ATTEMPTS, "deliver")
                    .await;
            }
            fake.set_default_reply(FakeReply::Unauthorized);
            assert!(
                alerts
                    .send_owner_alert("x", Severity::Warning)
                    .await
                    .is_failed()
            );
            fake.set_default_reply(FakeReply::Ok);
            alerts.flush().await; // the summary: CRITICAL sent
            let _ = alerts.send("debug detail", Severity::Debug, false).await;
        });
    });

    let mut counters = Vec::new();
    for (key, _, _, value) in snapshotter.snapshot().into_vec() {
        let key = key.key();
        let labels: Vec<(String, String)> = key
            .labels()
            .map(|l| (l.key().to_owned(), l.value().to_owned()))
            .collect();
        for (k, v) in &labels {
            assert_eq!(k, "severity", "only the severity label");
            assert!(!v.contains(SECRET_PART) && !v.contains(&CHAT.to_string()));
        }
        let DebugValue::Counter(n) = value else {
            panic!("only counters")
        };
        counters.push((key.name().to_owned(), labels[0].1.clone(), n));
    }
    counters.sort();
    let expected = [
        ("alerts_failed_total", "WARNING", 1),
        ("alerts_folded_total", "CRITICAL", 1),
        ("alerts_folded_total", "ERROR", 1),
        ("alerts_logged_total", "DEBUG", 1),
        ("alerts_sent_total", "CRITICAL", 1),
        ("alerts_sent_total", "ERROR", 1),
    ];
    let expected: Vec<(String, String, u64)> = expected
        .iter()
        .map(|(n, s, c)| ((*n).to_owned(), (*s).to_owned(), *c))
        .collect();
    assert_eq!(counters, expected);
}
