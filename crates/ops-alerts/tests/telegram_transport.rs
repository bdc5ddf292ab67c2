//! The teloxide transport against a local fake Bot API: every answer Telegram
//! can give, on tokio's paused clock (retry delays, `retry_after` and
//! teloxide's 10 s sleep on 5xx take no real time).

// Through the teloxide transport: only with the `telegram` feature.
#![cfg(feature = "telegram")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::{CHAT, Failure, LONG, TOKEN, capture_logs, fake, visible};
use loopback_fakes::telegram::FakeReply;
use ops_alerts::{
    AlertErrorKind, AlertOutcome, Attempts, OpsAlertService, Severity, SinkErrorKind, telegram_len,
};
use serde_json::json;
use tokio::time::Instant;

const ATTEMPTS: Attempts = Attempts {
    made: 6,
    allowed: 6,
};

#[tokio::test(start_paused = true)]
async fn success_sends_html_to_the_chat_and_thread() {
    let (fake, config) = fake().await;
    let alerts = OpsAlertService::new(config.with_thread_id(Some(9)));
    let error = Failure::new("http_503", "receiver said <503> & gave up");
    let outcome = alerts
        .send_signal_delivery_error("sig-1", &error, ATTEMPTS, "deliver_signal")
        .await;
    assert_eq!(outcome, AlertOutcome::Sent { message_id: 1 });

    let messages = fake.messages();
    assert_eq!(messages.len(), 1);
    let message = &messages[0];
    assert_eq!(message.token, TOKEN);
    assert_eq!(message.chat_id, json!(CHAT));
    assert_eq!(message.parse_mode.as_deref(), Some("HTML"));
    assert_eq!(message.message_thread_id, Some(9));
    assert!(
        message
            .text
            .contains("<b>Error:</b> <code>receiver said &lt;503&gt; &amp; gave up</code>")
    );
    let shown = visible(&message.text);
    for field in [
        "ERROR: Signal delivery failed",
        "Operation: deliver_signal",
        "Signal ID: sig-1",
        "Error: receiver said <503> & gave up",
        "Attempts: 6/6",
        "Timestamp: ",
        "Action: Manual review required",
    ] {
        assert!(shown.contains(field), "{field} missing from {shown}");
    }
    let timestamp = shown
        .split("Timestamp: ")
        .nth(1)
        .unwrap()
        .lines()
        .next()
        .unwrap();
    assert_eq!(timestamp.len(), "2026-11-29T02:18:10Z".len());
    assert!(timestamp.ends_with('Z') && timestamp.contains('T'));
}

#[tokio::test(start_paused = true)]
async fn too_many_requests_waits_retry_after_then_succeeds() {
    let (fake, config) = fake().await;
    fake.push_reply(FakeReply::TooManyRequests { retry_after: 7 });
    let alerts = OpsAlertService::new(config);
    let start = Instant::now();
    let outcome = alerts.send_owner_alert("hello", Severity::Warning).await;
    assert!(outcome.is_sent(), "{outcome:?}");
    assert!(
        start.elapsed() >= Duration::from_secs(7),
        "retry_after honoured: {:?}",
        start.elapsed()
    );
    assert!(start.elapsed() < Duration::from_secs(20));
    assert_eq!(fake.requests(), 2);
    assert_eq!(fake.messages().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn refused_connection_is_retried_then_fails_within_the_bound() {
    let url = common::refused_url().await;
    let alerts = OpsAlertService::new(common::config_for(&url));
    let start = Instant::now();
    let outcome = alerts.send_owner_alert("hello", Severity::Error).await;
    let AlertOutcome::Failed(error) = outcome else {
        panic!("{outcome:?}")
    };
    assert!(error.attempts() >= 2, "network errors are retried: {error}");
    assert_eq!(error.last_error().unwrap().kind(), SinkErrorKind::Network);
    assert!(start.elapsed() <= Duration::from_secs(60));
}

#[tokio::test(start_paused = true)]
async fn invalid_token_is_permanent() {
    let (fake, config) = fake().await;
    fake.set_default_reply(FakeReply::Unauthorized);
    let alerts = OpsAlertService::new(config);
    let AlertOutcome::Failed(error) = alerts.send_owner_alert("x", Severity::Error).await else {
        panic!("must fail");
    };
    assert_eq!(error.kind(), AlertErrorKind::Permanent);
    assert_eq!(
        error.last_error().unwrap().kind(),
        SinkErrorKind::InvalidToken
    );
    assert_eq!(error.attempts(), 1);
    assert_eq!(fake.requests(), 1);
}

#[tokio::test(start_paused = true)]
async fn chat_not_found_is_permanent() {
    let (fake, config) = fake().await;
    fake.set_default_reply(FakeReply::chat_not_found());
    let alerts = OpsAlertService::new(config);
    let AlertOutcome::Failed(error) = alerts.send_owner_alert("x", Severity::Error).await else {
        panic!("must fail");
    };
    assert_eq!(error.kind(), AlertErrorKind::Permanent);
    assert_eq!(
        error.last_error().unwrap().kind(),
        SinkErrorKind::ChatNotFound
    );
    assert_eq!(
        error.last_error().unwrap().description(),
        Some("Bad Request: chat not found"),
        "Telegram's own words, for whoever fixes the chat id"
    );
    assert_eq!(fake.requests(), 1);
}

#[tokio::test(start_paused = true)]
async fn bot_blocked_is_permanent() {
    let (fake, config) = fake().await;
    fake.set_default_reply(FakeReply::bot_blocked());
    let alerts = OpsAlertService::new(config);
    let AlertOutcome::Failed(error) = alerts.send_owner_alert("x", Severity::Error).await else {
        panic!("must fail");
    };
    assert_eq!(error.last_error().unwrap().kind(), SinkErrorKind::Forbidden);
    assert_eq!(
        error.last_error().unwrap().description(),
        Some("Forbidden: bot was blocked by the user")
    );
    assert_eq!(fake.requests(), 1);
}

#[tokio::test(start_paused = true)]
async fn cant_parse_entities_is_resent_once_as_plain_text() {
    let (fake, config) = fake().await;
    fake.push_reply(FakeReply::cant_parse_entities());
    let alerts = OpsAlertService::new(config);
    let error = Failure::new("boom", "a <b> & c");
    let outcome = alerts
        .send_signal_delivery_error("sig-9", &error, ATTEMPTS, "deliver_signal")
        .await;
    assert!(outcome.is_sent(), "{outcome:?}");
    let messages = fake.messages();
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0].parse_mode, None);
    assert!(
        messages[0].text.contains("Error: a <b> & c"),
        "plain text, unescaped: {}",
        messages[0].text
    );
    assert_eq!(fake.requests(), 2);

    // Only once: a second refusal of the plain text is final.
    fake.push_reply(FakeReply::cant_parse_entities());
    fake.push_reply(FakeReply::cant_parse_entities());
    let outcome = alerts.send_owner_alert("y", Severity::Info).await;
    assert!(outcome.is_failed());
    assert_eq!(fake.requests(), 4);
}

#[tokio::test(start_paused = true)]
async fn migrated_group_is_followed_once_with_a_warning() {
    let (logs, _guard) = capture_logs();
    let (fake, config) = fake().await;
    fake.push_reply(FakeReply::MigrateToChat(-100_777));
    let alerts = OpsAlertService::new(config);
    assert!(
        alerts
            .send_owner_alert("first", Severity::Info)
            .await
            .is_sent()
    );
    assert_eq!(fake.requests(), 2);
    let messages = fake.messages();
    assert_eq!(messages[0].chat_id, json!(-100_777));
    let logs = logs.contents();
    assert!(
        logs.contains("WARN") && logs.contains("update OPS_TELEGRAM_CHAT_ID to -100777"),
        "{logs}"
    );

    // Later alerts go straight to the new chat.
    assert!(
        alerts
            .send_owner_alert("second", Severity::Info)
            .await
            .is_sent()
    );
    assert_eq!(fake.requests(), 3);
    assert_eq!(fake.messages()[1].chat_id, json!(-100_777));

    // A second migration in a row is not followed again.
    fake.push_reply(FakeReply::MigrateToChat(-100_888));
    fake.push_reply(FakeReply::MigrateToChat(-100_999));
    let outcome = alerts.send_owner_alert("third", Severity::Info).await;
    let AlertOutcome::Failed(error) = outcome else {
        panic!("{outcome:?}")
    };
    assert_eq!(
        error.last_error().unwrap().migrate_to_chat_id(),
        Some(-100_999)
    );
}

#[tokio::test(start_paused = true)]
async fn server_error_is_retried_after_teloxides_sleep() {
    let (fake, config) = fake().await;
    fake.push_reply(FakeReply::ServerError { status: 502 });
    let alerts = OpsAlertService::new(config);
    let start = Instant::now();
    let outcome = alerts.send_owner_alert("x", Severity::Error).await;
    assert!(outcome.is_sent(), "{outcome:?}");
    assert!(
        start.elapsed() >= Duration::from_secs(10),
        "teloxide sleeps 10 s on a 5xx"
    );
    assert_eq!(fake.requests(), 2);
}

#[tokio::test(start_paused = true)]
async fn dead_telegram_is_bounded_by_the_alert_timeout() {
    let (fake, config) = fake().await;
    fake.set_default_reply(FakeReply::ServerError { status: 500 });
    let alerts = OpsAlertService::new(config);
    let start = Instant::now();
    let outcome = alerts.send_owner_alert("x", Severity::Critical).await;
    let elapsed = start.elapsed();
    let AlertOutcome::Failed(error) = outcome else {
        panic!("{outcome:?}")
    };
    assert!(elapsed <= Duration::from_secs(60), "{elapsed:?}");
    assert!(error.attempts() >= 2);
    assert!(fake.messages().is_empty());
}

#[tokio::test(start_paused = true)]
async fn hanging_telegram_is_bounded_by_the_alert_timeout() {
    let (fake, config) = fake().await;
    fake.set_default_reply(FakeReply::Hang);
    let alerts = OpsAlertService::new(config.with_alert_timeout(Duration::from_secs(30)));
    let start = Instant::now();
    let outcome = alerts.send_owner_alert("x", Severity::Critical).await;
    let elapsed = start.elapsed();
    assert!(outcome.is_failed(), "{outcome:?}");
    assert!(elapsed <= Duration::from_secs(30), "{elapsed:?}");
    assert!(fake.requests() >= 1);
}

#[tokio::test(start_paused = true)]
async fn a_10000_char_error_arrives_cut_and_under_the_limit() {
    let (fake, config) = fake().await;
    let alerts = OpsAlertService::new(config);
    let text = r#"<b>&"'"#.repeat(10_000 / 6 + 1);
    let error = Failure::new("huge", &text);
    let outcome = alerts
        .send_signal_delivery_error("sig-big", &error, ATTEMPTS, "op")
        .await;
    assert!(outcome.is_sent());
    let message = &fake.wait_for_messages(1, LONG).await[0];
    let shown = visible(&message.text);
    assert!(telegram_len(&shown) < 4096, "{}", telegram_len(&shown));
    assert!(shown.contains(" chars]"));
    assert!(shown.ends_with("Action: Manual review required"));
    assert!(message.text.contains("&lt;b&gt;&amp;\"'"));
}

#[tokio::test(start_paused = true)]
async fn debug_is_only_logged() {
    let (fake, config) = fake().await;
    let alerts = OpsAlertService::new(config);
    assert_eq!(
        alerts.send("details", Severity::Debug, false).await,
        AlertOutcome::Logged
    );
    assert_eq!(fake.requests(), 0);
}

#[tokio::test(start_paused = true)]
async fn log_only_sends_nothing_and_logs_at_error() {
    let (logs, _guard) = capture_logs();
    let alerts = OpsAlertService::log_only();
    assert!(alerts.validate_config().is_ok());
    let error = Failure::new("http_503", "down");
    let outcome = alerts
        .send_signal_delivery_error("sig-3", &error, ATTEMPTS, "deliver")
        .await;
    assert_eq!(outcome, AlertOutcome::Logged);
    assert_eq!(
        alerts.send_owner_alert("hi", Severity::Critical).await,
        AlertOutcome::Logged
    );
    let logs = logs.contents();
    assert!(
        logs.contains("ERROR") && logs.contains("sig-3") && logs.contains("http_503"),
        "{logs}"
    );
}
