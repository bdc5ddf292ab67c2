//! The `signal-delivery` binary as a subprocess: environment variables in,
//! NDJSON on stdin, one JSON line per signal out, and the exit codes, against
//! a real local signal server and the fake Bot API. Real time: the schedule
//! is one retry after one second.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use loopback_fakes::signal_server::{FakeSignalServer, Reply};
use loopback_fakes::telegram::FakeBotApi;
use serde_json::Value;
mod common;

use common::{Finished, SECRET, TOKEN};

fn run(vars: &[(&str, String)], args: &[&str], stdin: &str) -> Finished {
    common::run(common::command(args, vars), stdin)
}

fn lines(output: &Finished) -> Vec<Value> {
    output.json()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_reports_each_signal_alerts_failures_and_exits_1() {
    let server = FakeSignalServer::start(hmac_client::SigningKeys::parse(SECRET).unwrap())
        .await
        .unwrap();
    server.set_responder(|r| {
        if r.id.starts_with("fail") {
            Reply::status(500)
        } else {
            Reply::Accept
        }
    });
    let bot = FakeBotApi::start().await.unwrap();
    let vars = vec![
        ("SIGNAL_SERVER_URL", server.url()),
        ("SIGNAL_HMAC_SECRET", SECRET.to_owned()),
        ("OPS_TELEGRAM_BOT_TOKEN", TOKEN.to_owned()),
        ("OPS_TELEGRAM_CHAT_ID", "-1001234567890".to_owned()),
        ("OPS_TELEGRAM_API_URL", bot.api_url()),
        ("MAX_RETRIES", "1".to_owned()),
        ("RETRY_DELAY_SECONDS", "1".to_owned()),
        ("RETRY_JITTER", "none".to_owned()),
    ];
    let input = concat!(
        r#"{"id":"ok-1","instrument":"BTC-USD","side":"buy"}"#,
        "\n",
        r#"{"id":"fail-1","instrument":"BTC-USD","side":"sell"}"#,
        "\n",
        r#"{"id":"bad-1","instrument":"BTC-USD","side":"hold"}"#,
        "\n",
    );

    let output = run(&vars, &["send", "--concurrency", "2"], input);

    let stderr = &output.stderr;
    assert_eq!(output.status.code(), Some(1), "stderr:\n{stderr}");
    let mut by_id: Vec<(String, String, String, u64)> = lines(&output)
        .into_iter()
        .map(|l| {
            (
                l["id"].as_str().unwrap().to_owned(),
                l["outcome"].as_str().unwrap().to_owned(),
                l["reason"].to_string(),
                l["attempts"].as_u64().unwrap(),
            )
        })
        .collect();
    by_id.sort();
    assert_eq!(
        by_id,
        vec![
            (
                "bad-1".into(),
                "failed".into(),
                "\"invalid_signal\"".into(),
                0
            ),
            ("fail-1".into(), "failed".into(), "\"exhausted\"".into(), 2),
            ("ok-1".into(), "delivered".into(), "null".into(), 1),
        ]
    );
    assert!(
        stderr.contains("3 signal(s): 1 delivered, 2 failed"),
        "{stderr}"
    );
    assert!(!stderr.contains("AAH-secret"), "token leaked:\n{stderr}");
    let alerts: Vec<String> = bot.messages().into_iter().map(|m| m.text).collect();
    assert_eq!(alerts.len(), 2, "{alerts:?}");
    assert!(alerts.iter().any(|t| t.contains("fail-1")));
    assert!(alerts.iter().any(|t| t.contains("bad-1")));
    assert_eq!(
        server.request_count(),
        3,
        "ok-1 once, fail-1 twice, bad-1 never"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn all_delivered_exits_0() {
    let server = FakeSignalServer::start(hmac_client::SigningKeys::parse(SECRET).unwrap())
        .await
        .unwrap();
    let vars = vec![
        ("SIGNAL_SERVER_URL", server.url()),
        ("SIGNAL_HMAC_SECRET", SECRET.to_owned()),
        ("OPS_ALERTS_DISABLED", "true".to_owned()),
    ];
    let input = r#"{"id":"a","instrument":"X","side":"buy"}
{"id":"b","instrument":"X","side":"sell"}
"#;
    let output = run(&vars, &["send"], input);
    assert_eq!(output.status.code(), Some(0), "{}", output.stderr.as_str());
    assert_eq!(lines(&output).len(), 2);
    assert_eq!(server.request_count(), 2);
}

#[test]
fn configuration_errors_exit_2_listing_every_problem_before_sending() {
    let vars = vec![
        ("SIGNAL_HMAC_SECRET", "not-a-secret".to_owned()),
        ("MAX_RETRIES", "abc".to_owned()),
        ("OPS_TELEGRAM_CHAT_ID", "42".to_owned()),
    ];
    let output = run(
        &vars,
        &["send"],
        "{\"id\":\"a\",\"instrument\":\"X\",\"side\":\"buy\"}\n",
    );
    let stderr = &output.stderr;
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    for variable in [
        "SIGNAL_SERVER_URL",
        "SIGNAL_HMAC_SECRET",
        "MAX_RETRIES",
        "OPS_TELEGRAM_BOT_TOKEN",
    ] {
        assert!(stderr.contains(variable), "{variable} not named:\n{stderr}");
    }
    assert!(output.lines.is_empty());
}

#[test]
fn usage_errors_exit_2() {
    let output = run(&[], &["send", "--concurrency", "0"], "");
    assert_eq!(output.status.code(), Some(2));
    assert!(output.stderr.as_str().contains("--concurrency"));
}

#[test]
fn check_config_redacts_secrets() {
    let vars = vec![
        ("SIGNAL_SERVER_URL", "http://127.0.0.1:9/signals".to_owned()),
        ("SIGNAL_HMAC_SECRET", SECRET.to_owned()),
        ("OPS_TELEGRAM_BOT_TOKEN", TOKEN.to_owned()),
        ("OPS_TELEGRAM_CHAT_ID", "42".to_owned()),
    ];
    let output = run(&vars, &["check-config"], "");
    let stdout = output.lines.join("\n");
    assert_eq!(output.status.code(), Some(0), "{}", output.stderr.as_str());
    assert!(
        stdout.contains("SIGNAL_SERVER_URL=http://127.0.0.1:9/signals"),
        "{stdout}"
    );
    assert!(stdout.contains("MAX_RETRIES=5"), "{stdout}");
    assert!(
        !stdout.contains("C2FVsBQIhrscChlQIMV"),
        "secret leaked:\n{stdout}"
    );
    assert!(!stdout.contains("AAH-secret"), "token leaked:\n{stdout}");
}
