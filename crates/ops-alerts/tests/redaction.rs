//! The bot token never appears in a log line, an error's Display or Debug, or
//! a Debug of any public type, even when the transport fails with the token
//! in its URL.

// Through the teloxide transport: only with the `telegram` feature.
#![cfg(feature = "telegram")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{Failure, SECRET_PART, TOKEN, capture_logs, config_for, fake, refused_url};
use loopback_fakes::telegram::FakeReply;
use ops_alerts::{AlertConfig, AlertOutcome, Attempts, OpsAlertService, Severity, TelegramSink};

const ATTEMPTS: Attempts = Attempts {
    made: 6,
    allowed: 6,
};

fn assert_clean(what: &str, text: &str) {
    assert!(!text.contains(TOKEN), "token in {what}: {text}");
    assert!(!text.contains(SECRET_PART), "secret part in {what}: {text}");
}

#[tokio::test(start_paused = true)]
async fn token_is_absent_from_logs_and_errors_with_a_failing_transport() {
    let (logs, _guard) = capture_logs();
    let mut shown = Vec::new();

    // Refused connection: reqwest's error carries the URL with the token.
    let config = config_for(&refused_url().await);
    shown.push(format!("{config:?}"));
    shown.push(format!("{:?}", TelegramSink::new(&config)));
    let alerts = OpsAlertService::new(config);
    shown.push(format!("{alerts:?}"));
    let error = Failure::new("http_503", "receiver down");
    let outcomes = [
        alerts
            .send_owner_alert("owner alert", Severity::Critical)
            .await,
        alerts
            .send_signal_delivery_error("sig-1", &error, ATTEMPTS, "deliver")
            .await,
    ];
    // Every other way the transport can fail.
    let (fake, config) = fake().await;
    let alerts = OpsAlertService::new(config.with_cooldown(std::time::Duration::ZERO));
    let mut more = Vec::new();
    for reply in [
        FakeReply::Unauthorized,
        FakeReply::chat_not_found(),
        FakeReply::Raw {
            status: 502,
            body: "<html>bad gateway</html>".to_owned(),
        },
        // A transport error that carries the token itself (teloxide strips it
        // from reqwest URLs, but not from answers): our redaction must catch it.
        FakeReply::BadRequest(format!("Bad Request: url /bot{TOKEN}/sendMessage rejected")),
    ] {
        fake.set_default_reply(reply);
        more.push(alerts.send_owner_alert("x", Severity::Error).await);
    }
    fake.set_default_reply(FakeReply::Hang);
    more.push(alerts.send_owner_alert("x", Severity::Error).await);

    for outcome in outcomes.iter().chain(&more) {
        let AlertOutcome::Failed(error) = outcome else {
            panic!("must fail: {outcome:?}")
        };
        shown.push(format!("{outcome:?}"));
        shown.push(error.to_string());
        shown.push(format!("{error:?}"));
        if let Some(last) = error.last_error() {
            shown.push(last.to_string());
            shown.push(format!("{last:?}"));
        }
    }
    // A rejected token in configuration is not echoed either.
    for error in AlertConfig::new("123456:AAH-secret-token-value!", "42").unwrap_err() {
        shown.push(error.to_string());
        shown.push(format!("{error:?}"));
    }

    for text in &shown {
        assert_clean("an error or Debug string", text);
    }
    let logs = logs.contents();
    assert!(
        logs.contains("ops alert could not be sent"),
        "the failure is logged: {logs}"
    );
    assert!(
        logs.contains("/bot[REDACTED]/sendMessage"),
        "the token was there, redacted: {logs}"
    );
    assert!(
        logs.contains("Connection refused"),
        "the transport failure is logged"
    );
    assert_clean("the logs", &logs);
}

/// A query value of `OPS_TELEGRAM_API_URL` (a self-hosted Bot API's access
/// key, say) is carried into every request URL, and so into every transport
/// error: it must be redacted like the token, in errors, Debug and logs.
#[tokio::test(start_paused = true)]
async fn api_url_query_values_are_absent_from_logs_errors_and_debug() {
    const QUERY_SECRET: &str = "q-s3cr3t-access-key";
    let (logs, _guard) = capture_logs();
    let mut shown = Vec::new();

    let refused = refused_url().await;
    let (fake, _) = fake().await;
    for base in [refused, fake.api_url()] {
        let config = AlertConfig::from_lookup(|name| match name {
            "OPS_TELEGRAM_BOT_TOKEN" => Some(TOKEN.to_owned()),
            "OPS_TELEGRAM_CHAT_ID" => Some("42".to_owned()),
            "OPS_TELEGRAM_API_URL" => Some(format!("{base}/tg?access_key={QUERY_SECRET}&x=1")),
            "OPS_ALERT_COOLDOWN_SECONDS" => Some("0".to_owned()),
            _ => None,
        })
        .unwrap();
        assert_eq!(
            config.redacted_api_url(),
            format!("{base}/tg?access_key=[REDACTED]&x=[REDACTED]")
        );
        shown.push(format!("{config:?}"));
        shown.push(format!("{:?}", TelegramSink::new(&config)));
        let alerts = OpsAlertService::new(config);
        shown.push(format!("{alerts:?}"));
        // The fake's answer quotes the URL with its query, as a proxy might.
        fake.set_default_reply(FakeReply::BadRequest(format!(
            "Bad Request: /tg/bot1:x/SendMessage?access_key={QUERY_SECRET}&x=1 rejected"
        )));
        let outcome = alerts
            .send_owner_alert("owner alert", Severity::Error)
            .await;
        let AlertOutcome::Failed(error) = &outcome else {
            panic!("must fail: {outcome:?}")
        };
        shown.push(format!("{outcome:?}"));
        shown.push(error.to_string());
        if let Some(last) = error.last_error() {
            shown.push(last.to_string());
        }
    }
    // The fake really was asked with the query: the secret was on the wire.
    assert!(fake.requests() >= 1);

    let logs = logs.contents();
    assert!(logs.contains("access_key=[REDACTED]"), "{logs}");
    shown.push(logs);
    for text in &shown {
        assert!(!text.contains(QUERY_SECRET), "query secret in: {text}");
        assert_clean("an error, Debug string or log", text);
    }
}
