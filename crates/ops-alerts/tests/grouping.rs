//! No spam: repeats of one failure fold into one summary per cooldown window,
//! and messages are paced to Telegram's limits. Paused clock throughout.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
// The tests through the fake Bot API need the teloxide transport; the pacing
// test, through a sink of its own, runs in both builds.
#![cfg_attr(not(feature = "telegram"), allow(unused_imports, dead_code))]

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{Failure, LONG, fake, visible};
use ops_alerts::{
    AlertOutcome, AlertSink, Attempts, OpsAlertService, ParseMode, SendFuture, SentMessage,
    Severity,
};
use tokio::time::Instant;

const ATTEMPTS: Attempts = Attempts {
    made: 6,
    allowed: 6,
};

#[cfg(feature = "telegram")]
#[tokio::test(start_paused = true)]
async fn hundred_failures_of_one_kind_make_exactly_two_messages() {
    let (fake, config) = fake().await;
    let alerts = OpsAlertService::new(config);
    let error = Failure::new("http_503", "receiver answered 503");
    let first = alerts
        .send_signal_delivery_error("sig-0", &error, ATTEMPTS, "deliver")
        .await;
    assert!(first.is_sent(), "{first:?}");
    for i in 1..100 {
        let outcome = alerts
            .send_signal_delivery_error(&format!("sig-{i}"), &error, ATTEMPTS, "deliver")
            .await;
        assert_eq!(
            outcome,
            AlertOutcome::Folded {
                pending_in_group: i
            }
        );
    }
    assert_eq!(
        fake.messages().len(),
        1,
        "folded alerts are not sent during the window"
    );

    // The window closes after the cooldown (300 s of paused time): one summary.
    let messages = fake.wait_for_messages(2, LONG).await;
    assert_eq!(messages.len(), 2);
    let summary = visible(&messages[1].text);
    assert!(
        summary.contains("99 more signals failed the same way: ids sig-1, sig-2,"),
        "{summary}"
    );
    assert!(
        summary.contains("sig-20 and 79 more"),
        "ids up to the limit, then the rest counted: {summary}"
    );
    assert!(summary.contains("Operation: deliver") && summary.contains("Error class: http_503"));
    // Escalated: the 3rd consecutive failure and later are CRITICAL.
    assert!(summary.starts_with("🚨 CRITICAL"), "{summary}");

    // Nothing more: no third message however long we wait.
    assert_eq!(fake.wait_for_messages(3, LONG).await.len(), 2);

    // After the window, the same failure opens a new group and goes out at once.
    let again = alerts
        .send_signal_delivery_error("sig-100", &error, ATTEMPTS, "deliver")
        .await;
    assert!(again.is_sent());
}

#[cfg(feature = "telegram")]
#[tokio::test(start_paused = true)]
async fn two_kinds_make_two_groups() {
    let (fake, config) = fake().await;
    let alerts = OpsAlertService::new(config);
    let a = Failure::new("http_503", "503");
    let b = Failure::new("timeout", "timed out");
    for i in 0..10 {
        let _ = alerts
            .send_signal_delivery_error(&format!("a{i}"), &a, ATTEMPTS, "deliver")
            .await;
        let _ = alerts
            .send_signal_delivery_error(&format!("b{i}"), &b, ATTEMPTS, "deliver")
            .await;
    }
    // Same class, other operation: another group too.
    let _ = alerts
        .send_signal_delivery_error("c0", &a, ATTEMPTS, "sign")
        .await;
    assert_eq!(fake.messages().len(), 3);
    let messages = fake.wait_for_messages(5, LONG).await;
    assert_eq!(messages.len(), 5);
    let summaries: Vec<String> = messages[3..].iter().map(|m| visible(&m.text)).collect();
    assert!(
        summaries
            .iter()
            .any(|s| s.contains("9 more signals failed the same way: ids a1, a2"))
    );
    assert!(
        summaries
            .iter()
            .any(|s| s.contains("9 more signals failed the same way: ids b1, b2"))
    );
    assert_eq!(
        fake.wait_for_messages(6, LONG).await.len(),
        5,
        "no summary for a group with nothing folded"
    );
}

#[cfg(feature = "telegram")]
#[tokio::test(start_paused = true)]
async fn flush_sends_pending_summaries_now() {
    let (fake, config) = fake().await;
    let alerts = OpsAlertService::new(config);
    let error = Failure::new("http_503", "503");
    for i in 0..4 {
        let _ = alerts
            .send_signal_delivery_error(&format!("s{i}"), &error, ATTEMPTS, "deliver")
            .await;
    }
    let start = Instant::now();
    alerts.flush().await;
    assert!(start.elapsed() < Duration::from_secs(60));
    let messages = fake.messages();
    assert_eq!(messages.len(), 2);
    assert!(
        visible(&messages[1].text).contains("3 more signals failed the same way: ids s1, s2, s3")
    );
    // The window task finds its group gone and sends nothing more.
    assert_eq!(fake.wait_for_messages(3, LONG).await.len(), 2);
}

#[cfg(feature = "telegram")]
#[tokio::test(start_paused = true)]
async fn escalation_and_reset() {
    let (fake, config) = fake().await;
    let alerts = OpsAlertService::new(config.with_cooldown(Duration::ZERO).with_escalate_after(2));
    let error = Failure::new("http_503", "503");
    let _ = alerts
        .send_signal_delivery_error("s1", &error, ATTEMPTS, "deliver")
        .await;
    let _ = alerts
        .send_signal_delivery_error("s2", &error, ATTEMPTS, "deliver")
        .await;
    alerts.note_delivery_success();
    assert_eq!(alerts.consecutive_failures(), 0);
    let _ = alerts
        .send_signal_delivery_error("s3", &error, ATTEMPTS, "deliver")
        .await;
    let security = Failure {
        security: true,
        ..Failure::new("signature_rejected", "bad signature")
    };
    let _ = alerts
        .send_signal_delivery_error("s4", &security, ATTEMPTS, "deliver")
        .await;
    let titles: Vec<String> = fake
        .wait_for_messages(4, LONG)
        .await
        .iter()
        .map(|m| visible(&m.text).lines().next().unwrap().to_owned())
        .collect();
    assert_eq!(
        titles,
        [
            "❌ ERROR: Signal delivery failed",
            "🚨 CRITICAL: Signal delivery failed",
            "❌ ERROR: Signal delivery failed",
            "🚨 CRITICAL: Signal delivery failed",
        ]
    );
}

/// Records when each message was sent, on tokio's clock.
#[derive(Debug, Default)]
struct Timed(Mutex<Vec<Instant>>);

impl AlertSink for Timed {
    fn send_message<'a>(&'a self, _text: &'a str, _mode: ParseMode) -> SendFuture<'a> {
        Box::pin(async move {
            let mut sent = self.0.lock().unwrap();
            sent.push(Instant::now());
            Ok(SentMessage {
                message_id: i32::try_from(sent.len()).unwrap(),
            })
        })
    }
}

#[tokio::test(start_paused = true)]
async fn messages_are_paced_one_per_second_and_twenty_per_minute() {
    let sink = Arc::new(Timed::default());
    let config =
        common::config_for("http://127.0.0.1:9").with_alert_timeout(Duration::from_secs(600));
    let alerts = OpsAlertService::with_sink(config, sink.clone());
    // 25 different failures at once, from concurrent deliveries.
    let mut tasks = Vec::new();
    for i in 0..25 {
        let alerts = alerts.clone();
        tasks.push(tokio::spawn(async move {
            let error = Failure::new(&format!("class_{i}"), "x");
            alerts
                .send_signal_delivery_error(&format!("s{i}"), &error, ATTEMPTS, "deliver")
                .await
        }));
    }
    for task in tasks {
        assert!(task.await.unwrap().is_sent());
    }
    let times = sink.0.lock().unwrap().clone();
    assert_eq!(times.len(), 25);
    for pair in times.windows(2) {
        assert!(
            pair[1] - pair[0] >= Duration::from_secs(1),
            "two messages less than 1 s apart"
        );
    }
    for (i, t) in times.iter().enumerate() {
        let in_last_minute = times[..=i]
            .iter()
            .filter(|u| *t - **u < Duration::from_secs(60))
            .count();
        assert!(
            in_last_minute <= 20,
            "more than 20 messages in a minute at message {i}"
        );
    }
}

#[cfg(feature = "telegram")]
#[tokio::test(start_paused = true)]
async fn one_service_is_shared_by_concurrent_deliveries() {
    fn assert_send<T: Send>(_: &T) {}
    let (fake, config) = fake().await;
    let alerts = OpsAlertService::new(config);
    let error = Failure::new("http_503", "503");
    let future = alerts.send_signal_delivery_error("s", &error, ATTEMPTS, "deliver");
    assert_send(&future);
    drop(future);
    let mut tasks = Vec::new();
    for i in 0..20 {
        let alerts = alerts.clone();
        tasks.push(tokio::spawn(async move {
            let error = Failure::new("http_503", "503");
            alerts
                .send_signal_delivery_error(&format!("s{i}"), &error, ATTEMPTS, "deliver")
                .await
        }));
    }
    let mut sent = 0;
    let mut folded = 0;
    for task in tasks {
        match task.await.unwrap() {
            AlertOutcome::Sent { .. } => sent += 1,
            AlertOutcome::Folded { .. } => folded += 1,
            other => panic!("{other:?}"),
        }
    }
    assert_eq!((sent, folded), (1, 19));
    alerts.flush().await;
    assert_eq!(fake.messages().len(), 2);
    let _ = alerts.send_owner_alert("bye", Severity::Info).await;
}

#[cfg(feature = "telegram")]
#[tokio::test(start_paused = true)]
async fn a_summary_that_cannot_be_sent_is_logged_with_its_count() {
    let (logs, _guard) = common::capture_logs();
    let (fake, config) = fake().await;
    let alerts = OpsAlertService::new(config);
    let error = Failure::new("http_503", "503");
    for i in 0..6 {
        let _ = alerts
            .send_signal_delivery_error(&format!("s{i}"), &error, ATTEMPTS, "deliver")
            .await;
    }
    fake.set_default_reply(loopback_fakes::telegram::FakeReply::chat_not_found());
    // The window closes, the summary is refused: it must land in the log.
    assert_eq!(fake.wait_for_requests(2, LONG).await, 2);
    tokio::task::yield_now().await;
    let logs = logs.contents();
    assert!(logs.contains("ops alert could not be sent"), "{logs}");
    assert!(logs.contains("5 more signals failed the same way: ids s1, s2, s3, s4, s5"));
}

#[cfg(feature = "telegram")]
#[tokio::test(start_paused = true)]
async fn flush_is_bounded_when_telegram_hangs() {
    let (logs, _guard) = common::capture_logs();
    let (fake, config) = fake().await;
    let alerts = OpsAlertService::new(config.with_alert_timeout(Duration::from_secs(20)));
    for class in ["a", "b"] {
        let error = Failure::new(class, "x");
        for i in 0..3 {
            let _ = alerts
                .send_signal_delivery_error(&format!("{class}{i}"), &error, ATTEMPTS, "deliver")
                .await;
        }
    }
    fake.set_default_reply(loopback_fakes::telegram::FakeReply::Hang);
    let start = Instant::now();
    alerts.flush().await;
    assert!(
        start.elapsed() <= Duration::from_secs(20),
        "{:?}",
        start.elapsed()
    );
    let logs = logs.contents();
    // The first summary timed out, the second did not get a chance: both are
    // logged at ERROR (which of the two equal deadlines fires first decides
    // the wording of the first).
    assert!(logs.contains("group summary not sent"), "{logs}");
    let errors = logs.lines().filter(|l| l.contains(" ERROR ")).count();
    assert!(errors >= 2, "{logs}");
}
