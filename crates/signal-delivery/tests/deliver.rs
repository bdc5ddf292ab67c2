//! The delivery contract against a real local signal server and a real fake
//! Bot API: each scenario ends in exactly one outcome, alerted when it fails.
//! Time-based scenarios run on tokio's paused clock.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use loopback_fakes::signal_server::Reply;
use loopback_fakes::telegram::FakeReply;
use metrics_util::debugging::DebuggingRecorder;
use signal_delivery::FailureReason;
use signal_delivery::telemetry::{
    DELIVERY_SECONDS, RETRIES_TOTAL, RETRY_DEFERRALS_TOTAL, SIGNALS_DELIVERED_TOTAL,
    SIGNALS_FAILED_TOTAL,
};
use std::time::Duration;
use support::{Metrics, signal, stack};

#[tokio::test(start_paused = true)]
async fn success_on_first_try_sends_no_alert() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let _guard = metrics::set_default_local_recorder(&recorder);
    let s = stack(&[]).await;

    let delivered = s.service.deliver(&signal("ok-1")).await.unwrap();

    assert_eq!(delivered.attempts, 1);
    assert_eq!(delivered.receipt.status, 200);
    let received = s.server.received();
    assert_eq!(received.len(), 1);
    assert!(received[0].verified);
    assert_eq!(received[0].id, "ok-1");
    assert_eq!(received[0].idempotency_key.as_deref(), Some("ok-1"));
    assert!(s.bot.messages().is_empty());
    let metrics = Metrics::take(&snapshotter);
    assert_eq!(metrics.counter(SIGNALS_DELIVERED_TOTAL, &[]), 1);
    assert_eq!(metrics.counter(RETRIES_TOTAL, &[]), 0);
    assert_eq!(metrics.histogram_count(DELIVERY_SECONDS), 1);
}

#[tokio::test(start_paused = true)]
async fn two_500s_then_success_retries_with_the_same_id() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let _guard = metrics::set_default_local_recorder(&recorder);
    let s = stack(&[]).await;
    s.server.push_n(Reply::status(500), 2);

    let delivered = s.service.deliver(&signal("retry-1")).await.unwrap();

    assert_eq!(delivered.attempts, 3);
    let received = s.server.received();
    assert_eq!(received.len(), 3);
    assert!(received.iter().all(|r| r.id == "retry-1" && r.verified));
    assert!(received.iter().all(|r| r.body == received[0].body));
    // Backoff 1 s then 2 s (jitter off) on the paused clock.
    assert_eq!(received[1].at - received[0].at, Duration::from_secs(1));
    assert_eq!(received[2].at - received[1].at, Duration::from_secs(2));
    assert!(s.bot.messages().is_empty());
    let metrics = Metrics::take(&snapshotter);
    assert_eq!(
        metrics.counter(RETRIES_TOTAL, &[("operation", "post_signal")]),
        2
    );
    assert_eq!(metrics.counter(SIGNALS_DELIVERED_TOTAL, &[]), 1);
}

#[tokio::test(start_paused = true)]
async fn always_500_exhausts_and_alerts_once_with_every_field() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let _guard = metrics::set_default_local_recorder(&recorder);
    let s = stack(&[]).await;
    s.server
        .set_default(Reply::status_with_body(500, "database unavailable"));

    let error = s.service.deliver(&signal("dead-1")).await.unwrap_err();

    assert_eq!(error.reason(), FailureReason::Exhausted);
    assert_eq!(error.attempts(), 4);
    assert_eq!(s.server.request_count(), 4);
    assert_eq!(error.last_post_error().unwrap().status(), Some(500));
    let messages = s.bot.messages();
    assert_eq!(messages.len(), 1, "{messages:?}");
    let text = &messages[0].text;
    for field in [
        "Operation",
        "post_signal",
        "Signal ID",
        "dead-1",
        "Error",
        "500",
        "database unavailable",
        "Attempts",
        "4/4",
        "Timestamp",
    ] {
        assert!(text.contains(field), "alert lacks {field:?}:\n{text}");
    }
    let metrics = Metrics::take(&snapshotter);
    assert_eq!(
        metrics.counter(RETRIES_TOTAL, &[("operation", "post_signal")]),
        3
    );
    assert_eq!(
        metrics.counter(SIGNALS_FAILED_TOTAL, &[("reason", "exhausted")]),
        1
    );
    assert_eq!(metrics.counter("alerts_sent_total", &[]), 1);
}

#[tokio::test(start_paused = true)]
async fn validation_400_is_not_retried_and_alerts_with_the_server_reason() {
    let s = stack(&[]).await;
    s.server.push(Reply::status_with_body(
        400,
        r#"{"error":"unknown instrument BTC-USD"}"#,
    ));

    let error = s.service.deliver(&signal("bad-1")).await.unwrap_err();

    assert_eq!(error.reason(), FailureReason::Rejected);
    assert_eq!(error.attempts(), 1);
    assert_eq!(s.server.request_count(), 1);
    let messages = s.bot.messages();
    assert_eq!(messages.len(), 1);
    assert!(
        messages[0].text.contains("unknown instrument BTC-USD"),
        "{}",
        messages[0].text
    );
    assert!(messages[0].text.contains("ERROR"), "{}", messages[0].text);
}

#[tokio::test(start_paused = true)]
async fn signature_rejected_401_is_a_critical_alert_without_retry() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let _guard = metrics::set_default_local_recorder(&recorder);
    let s = stack(&[]).await;
    s.server.set_default(Reply::status(401));

    let error = s.service.deliver(&signal("sec-1")).await.unwrap_err();

    assert_eq!(error.reason(), FailureReason::SignatureRejected);
    assert_eq!(error.attempts(), 1);
    assert_eq!(s.server.request_count(), 1);
    let messages = s.bot.messages();
    assert_eq!(messages.len(), 1);
    assert!(
        messages[0].text.contains("CRITICAL"),
        "{}",
        messages[0].text
    );
    let metrics = Metrics::take(&snapshotter);
    assert_eq!(
        metrics.counter(SIGNALS_FAILED_TOTAL, &[("reason", "signature_rejected")]),
        1
    );
}

#[tokio::test(start_paused = true)]
async fn retry_after_is_honoured_on_the_paused_clock() {
    let s = stack(&[]).await;
    s.server.push(Reply::status_retry_after(503, "2"));

    let delivered = s.service.deliver(&signal("busy-1")).await.unwrap();

    assert_eq!(delivered.attempts, 2);
    let received = s.server.received();
    // The policy alone would wait 1 s; the server asked for 2.
    assert!(received[1].at - received[0].at >= Duration::from_secs(2));
}

#[tokio::test(start_paused = true)]
async fn connection_refused_exhausts_and_alerts() {
    let url = loopback_fakes::signal_server::refused_url().unwrap();
    let s = stack(&[("SIGNAL_SERVER_URL", &url)]).await;

    let error = s.service.deliver(&signal("refused-1")).await.unwrap_err();

    assert_eq!(error.reason(), FailureReason::Exhausted);
    assert_eq!(error.attempts(), 4);
    assert_eq!(s.bot.messages().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn per_attempt_timeout_counts_as_transient() {
    let s = stack(&[
        ("SIGNAL_REQUEST_TIMEOUT_SECONDS", "1"),
        ("MAX_RETRIES", "1"),
    ])
    .await;
    s.server.set_default(Reply::Hang);

    let error = s.service.deliver(&signal("slow-1")).await.unwrap_err();

    assert_eq!(error.reason(), FailureReason::Exhausted);
    assert_eq!(error.attempts(), 2);
    assert_eq!(s.server.request_count(), 2);
    assert_eq!(s.bot.messages().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn invalid_signal_is_rejected_before_any_request_and_alerted() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let _guard = metrics::set_default_local_recorder(&recorder);
    let s = stack(&[]).await;

    let error = s
        .service
        .deliver_json(br#"{"id":"inv-1","instrument":"BTC-USD","side":"hold"}"#)
        .await
        .unwrap_err();

    assert_eq!(error.reason(), FailureReason::InvalidSignal);
    assert_eq!(error.attempts(), 0);
    assert!(error.to_string().contains("side"), "{error}");
    assert_eq!(s.server.request_count(), 0);
    let messages = s.bot.messages();
    assert_eq!(messages.len(), 1);
    assert!(messages[0].text.contains("inv-1") && messages[0].text.contains("side"));
    let metrics = Metrics::take(&snapshotter);
    assert_eq!(
        metrics.counter(SIGNALS_FAILED_TOTAL, &[("reason", "invalid_signal")]),
        1
    );
}

#[tokio::test(start_paused = true)]
async fn telegram_down_still_reports_the_failure_in_bounded_time() {
    let s = stack(&[("OPS_ALERT_TIMEOUT_SECONDS", "5")]).await;
    s.server.set_default(Reply::status(500));
    s.bot
        .set_default_reply(FakeReply::ServerError { status: 502 });
    let started = tokio::time::Instant::now();

    let error = s.service.deliver(&signal("dark-1")).await.unwrap_err();

    assert_eq!(error.reason(), FailureReason::Exhausted);
    // Delivery schedule 1 + 2 + 4 s, then at most the 5 s alert bound.
    assert!(
        started.elapsed() <= Duration::from_secs(7 + 5 + 1),
        "{:?}",
        started.elapsed()
    );
    assert!(s.bot.messages().is_empty());
    assert!(s.bot.requests() >= 1);
}

#[tokio::test(start_paused = true)]
async fn the_budget_defers_a_retry_it_refuses_and_both_signals_are_delivered() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let _guard = metrics::set_default_local_recorder(&recorder);
    // One retry per second (floor 1 per second over 1 s, 1 % of first attempts).
    let s = stack(&[
        ("RETRY_BUDGET_PERCENT", "1"),
        ("RETRY_BUDGET_MIN_PER_SECOND", "1"),
        ("RETRY_BUDGET_WINDOW_SECONDS", "1"),
    ])
    .await;
    s.server.push_n(Reply::status(503), 2);

    // Both fail at 0 s; both retries fall due at 1 s, and only one may go.
    let (first, second) = (signal("paced-a"), signal("paced-b"));
    let (a, b) = tokio::join!(s.service.deliver(&first), s.service.deliver(&second));

    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(
        (a.attempts, b.attempts),
        (2, 2),
        "a deferral is not an attempt"
    );
    let mut received = s.server.received();
    received.sort_by_key(|r| r.at);
    assert_eq!(received.len(), 4);
    let gap = received[3].at - received[2].at;
    assert!(gap >= Duration::from_millis(900), "retries {gap:?} apart");
    assert!(s.bot.messages().is_empty());
    let metrics = Metrics::take(&snapshotter);
    assert!(
        metrics.counter(RETRY_DEFERRALS_TOTAL, &[("operation", "post_signal")]) >= 1,
        "the refused retry was deferred"
    );
    assert_eq!(metrics.counter(SIGNALS_DELIVERED_TOTAL, &[]), 2);
    assert_eq!(metrics.counter(SIGNALS_FAILED_TOTAL, &[]), 0);
}
