//! The recovered message of `send` (no outbox): after an alerted outage the
//! first delivery that works sends exactly one, with the outage's length and
//! count; a run without failures, or with only rejected signals, sends none.
//! Paused clock, fake Bot API on 127.0.0.1.

// Through the teloxide transport: only with the `telegram` feature.
#![cfg(feature = "telegram")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::{Failure, LONG, capture_logs, fake, visible};
use ops_alerts::{Attempts, OpsAlertService, SEND_AGAIN};

const ATTEMPTS: Attempts = Attempts {
    made: 6,
    allowed: 6,
};

fn resolved(texts: &[String]) -> Vec<&String> {
    texts
        .iter()
        .filter(|t| t.starts_with("✅ RESOLVED: signal delivery recovered"))
        .collect()
}

#[tokio::test(start_paused = true)]
async fn an_outage_then_a_recovery_sends_exactly_one_recovered_message() {
    let (fake, config) = fake().await;
    let alerts = OpsAlertService::new(config);
    let down = Failure::outage("exhausted:http_503", "receiver answered 503");
    for i in 0..3 {
        let _ = alerts
            .send_signal_delivery_error(&format!("s{i}"), &down, ATTEMPTS, "post_signal")
            .await;
        tokio::time::sleep(Duration::from_secs(40)).await;
    }
    tokio::time::sleep(Duration::from_secs(10)).await;
    // The server is back: one message, however many deliveries follow.
    alerts.note_delivery_success();
    alerts.note_delivery_success();
    alerts.flush().await;
    let texts: Vec<String> = fake.messages().iter().map(|m| visible(&m.text)).collect();
    let recovered = resolved(&texts);
    assert_eq!(recovered.len(), 1, "{texts:#?}");
    let message = recovered[0];
    assert!(message.contains("\nOutage: 2m 10s\n"), "{message}");
    assert!(
        message.contains("\nFailed during it: 3 signals\n"),
        "{message}"
    );
    assert!(
        message.ends_with(&format!("Replay: {SEND_AGAIN}")),
        "{message}"
    );
    // The failures' own alerts are all there too: the first, and the summary
    // of the two folded ones (sent by the flush).
    assert_eq!(texts.len(), 3, "{texts:#?}");
    assert!(
        texts
            .iter()
            .any(|t| t.contains("2 more signals failed the same way: ids s1, s2"))
    );

    // Later successes send nothing more.
    alerts.note_delivery_success();
    alerts.flush().await;
    assert_eq!(fake.wait_for_messages(4, LONG).await.len(), 3);
}

#[tokio::test(start_paused = true)]
async fn each_outage_gets_its_own_recovered_message() {
    let (fake, config) = fake().await;
    let alerts = OpsAlertService::new(config.with_cooldown(Duration::ZERO));
    let down = Failure::outage("deadline:timeout", "no answer in time");
    for outage in 0..2 {
        let _ = alerts
            .send_signal_delivery_error(&format!("s{outage}"), &down, ATTEMPTS, "post_signal")
            .await;
        tokio::time::sleep(Duration::from_secs(5)).await;
        alerts.note_delivery_success();
    }
    alerts.flush().await;
    let texts: Vec<String> = fake.messages().iter().map(|m| visible(&m.text)).collect();
    let recovered = resolved(&texts);
    assert_eq!(recovered.len(), 2, "{texts:#?}");
    assert!(
        recovered
            .iter()
            .all(|m| m.contains("\nOutage: 5s\n") && m.contains("\nFailed during it: 1 signal\n"))
    );
}

#[tokio::test(start_paused = true)]
async fn a_run_without_failures_sends_no_recovered_message() {
    let (fake, config) = fake().await;
    let alerts = OpsAlertService::new(config);
    for _ in 0..5 {
        alerts.note_delivery_success();
    }
    alerts.flush().await;
    assert!(fake.wait_for_messages(1, LONG).await.is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_rejected_signal_opens_no_outage() {
    let (fake, config) = fake().await;
    let alerts = OpsAlertService::new(config);
    let rejected = Failure::new("rejected:http_422", "receiver answered 422");
    let _ = alerts
        .send_signal_delivery_error("s1", &rejected, ATTEMPTS, "post_signal")
        .await;
    alerts.note_delivery_success();
    alerts.flush().await;
    let texts: Vec<String> = fake
        .wait_for_messages(2, LONG)
        .await
        .iter()
        .map(|m| visible(&m.text))
        .collect();
    assert_eq!(texts.len(), 1, "{texts:#?}");
    assert!(texts[0].contains("Signal delivery failed"));
    assert!(resolved(&texts).is_empty());
}

#[tokio::test(start_paused = true)]
async fn with_alerts_disabled_the_recovery_is_a_log_line() {
    let (logs, _guard) = capture_logs();
    let alerts = OpsAlertService::log_only();
    let down = Failure::outage("exhausted:connect", "connection refused");
    let _ = alerts
        .send_signal_delivery_error("s1", &down, ATTEMPTS, "post_signal")
        .await;
    tokio::time::sleep(Duration::from_secs(75)).await;
    alerts.note_delivery_success();
    alerts.note_delivery_success();
    let logs = logs.contents();
    let lines: Vec<&str> = logs
        .lines()
        .filter(|l| l.contains("RESOLVED: signal delivery recovered"))
        .collect();
    assert_eq!(lines.len(), 1, "{logs}");
    assert!(lines[0].contains("INFO"), "{}", lines[0]);
    assert!(lines[0].contains("outage=\"1m 15s\""), "{}", lines[0]);
    assert!(lines[0].contains("failed=\"1\""), "{}", lines[0]);
}
