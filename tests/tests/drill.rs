//! The `cargo xtask verify-alert` drill, run as a test: in local mode for
//! every failure kind, and in real mode against the fake Bot API (its URL
//! in `OPS_TELEGRAM_API_URL`), on tokio's paused clock (the schedule costs
//! no time).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use loopback_fakes::telegram::{FakeBotApi, FakeReply};
use xtask::verify_alert::{DrillError, REQUIRED_FIELDS, drill, parse};

async fn run(args: &[&str]) -> xtask::verify_alert::DrillReport {
    let mut all: Vec<String> = vec!["--local".to_owned()];
    all.extend(args.iter().map(|s| (*s).to_owned()));
    let options = parse(all).unwrap().unwrap();
    // No variables at all: the drill must work on embedded defaults.
    drill(&options, &|_| None).await.unwrap()
}

#[tokio::test(start_paused = true)]
async fn default_drill_http_500_exhausts_and_alert_has_every_field() {
    let report = run(&[]).await;
    assert!(!report.real_telegram);
    assert_eq!(report.reason, "exhausted");
    assert_eq!(report.attempts, 3, "2 retries by default");
    for field in REQUIRED_FIELDS {
        assert!(
            report.alert.contains(field),
            "{field} missing:\n{}",
            report.alert
        );
    }
    assert!(report.alert.contains(&report.signal_id));
    assert!(report.alert.contains("500"));
}

#[tokio::test(start_paused = true)]
async fn every_failure_kind_ends_in_its_alert() {
    for (failure, reason, attempts, marker) in [
        ("refused", "exhausted", 2, "ERROR"),
        ("timeout", "exhausted", 2, "ERROR"),
        ("http-401", "signature_rejected", 1, "CRITICAL"),
    ] {
        let report = run(&["--failure", failure, "--max-retries", "1"]).await;
        assert_eq!(report.reason, reason, "{failure}");
        assert_eq!(report.attempts, attempts, "{failure}");
        assert!(
            report.alert.contains(marker),
            "{failure}:\n{}",
            report.alert
        );
    }
}

const TOKEN: &str = "123456:AAH-drill-test-token";

fn env_of(vars: &[(&'static str, String)]) -> impl Fn(&str) -> Option<String> + use<> {
    let vars = vars.to_vec();
    move |name| {
        vars.iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.clone())
    }
}

fn options(args: &[&str]) -> xtask::verify_alert::Options {
    parse(args.iter().map(|s| (*s).to_owned()).collect())
        .unwrap()
        .unwrap()
}

/// One credential without the other used to run the local drill and pass:
/// the operator believed the real chat was verified.
#[tokio::test(start_paused = true)]
async fn one_telegram_credential_without_the_other_is_a_configuration_error() {
    for (set, missing) in [
        (
            vec![("OPS_TELEGRAM_BOT_TOKEN", TOKEN)],
            "OPS_TELEGRAM_CHAT_ID",
        ),
        (
            vec![("OPS_TELEGRAM_CHAT_ID", "42")],
            "OPS_TELEGRAM_BOT_TOKEN",
        ),
        // An empty value counts as set.
        (vec![("OPS_TELEGRAM_BOT_TOKEN", "")], "OPS_TELEGRAM_CHAT_ID"),
        (vec![("OPS_TELEGRAM_CHAT_ID", "")], "OPS_TELEGRAM_BOT_TOKEN"),
    ] {
        let vars: Vec<_> = set.iter().map(|(k, v)| (*k, (*v).to_owned())).collect();
        let error = drill(&options(&[]), &env_of(&vars)).await.unwrap_err();
        assert_eq!(error.exit_code(), 2, "{set:?}: {error:?}");
        let DrillError::Config(reason) = &error else {
            panic!("{set:?}: a configuration error, got {error:?}");
        };
        assert!(
            reason.starts_with(&format!("{missing} is not set, but ")),
            "{set:?}: {reason}"
        );
        assert!(reason.contains("--local"), "says what to do: {reason}");
        assert!(!reason.contains("AAH-drill"), "never the token: {reason}");

        // --local asks for the fake explicitly: the credentials are not used.
        let report = drill(&options(&["--local", "--max-retries", "0"]), &env_of(&vars))
            .await
            .unwrap();
        assert!(!report.real_telegram);
    }
}

/// Real mode against the fake Bot API: a refusal by Telegram fails the
/// drill (exit 1) with Telegram's own words and what to fix.
#[tokio::test(start_paused = true)]
async fn a_refusal_by_telegram_is_shown_in_its_own_words_with_the_fix() {
    for (reply, words, fix) in [
        (
            FakeReply::chat_not_found(),
            "Telegram refused the alert: \"Bad Request: chat not found\"",
            "check OPS_TELEGRAM_CHAT_ID (42)",
        ),
        (
            FakeReply::Unauthorized,
            "\"Unauthorized\"",
            "check OPS_TELEGRAM_BOT_TOKEN",
        ),
        (
            FakeReply::bot_blocked(),
            "Telegram refused the alert: \"Forbidden: bot was blocked by the user\"",
            "unblock the bot",
        ),
        (
            FakeReply::BadRequest("Bad Request: message thread not found".to_owned()),
            "Telegram refused the alert: \"Bad Request: message thread not found\"",
            "OPS_TELEGRAM_THREAD_ID",
        ),
    ] {
        let bot = FakeBotApi::start().await.unwrap();
        bot.set_default_reply(reply.clone());
        let env = env_of(&[
            ("OPS_TELEGRAM_BOT_TOKEN", TOKEN.to_owned()),
            ("OPS_TELEGRAM_CHAT_ID", "42".to_owned()),
            (
                "OPS_TELEGRAM_API_URL",
                format!("{}?key=drill-query-secret", bot.api_url()),
            ),
        ]);
        let error = drill(&options(&["--max-retries", "0"]), &env)
            .await
            .unwrap_err();
        assert_eq!(error.exit_code(), 1, "{reply:?}: {error:?}");
        let DrillError::Failed(reason) = &error else {
            panic!("{reply:?}: a failed drill, got {error:?}");
        };
        assert!(reason.contains(words), "{reply:?}: {reason}");
        assert!(reason.contains("to fix: "), "{reason}");
        assert!(reason.contains(fix), "{reply:?}: {reason}");
        assert!(!reason.contains("AAH-drill") && !reason.contains("drill-query-secret"));
        assert_eq!(bot.requests(), 1, "the alert was really sent, once");
    }
}

#[tokio::test(start_paused = true)]
async fn real_mode_passes_when_the_bot_api_takes_the_alert() {
    let bot = FakeBotApi::start().await.unwrap();
    let env = env_of(&[
        ("OPS_TELEGRAM_BOT_TOKEN", TOKEN.to_owned()),
        ("OPS_TELEGRAM_CHAT_ID", "-1001234567890".to_owned()),
        ("OPS_TELEGRAM_API_URL", bot.api_url()),
    ]);
    let report = drill(&options(&["--max-retries", "0"]), &env)
        .await
        .unwrap();
    assert!(report.real_telegram);
    let messages = bot.messages();
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0].token, TOKEN);
    assert_eq!(
        messages[0].chat_id,
        serde_json::json!(-1_001_234_567_890_i64)
    );
    assert_eq!(messages[0].text, report.alert);
    assert_eq!(messages[0].message_id, report.message_id);
}

/// The token may come from its file, as for the commands: real mode then
/// uses it, and locally the fake token stands in for it without a "both
/// set" error.
#[tokio::test(start_paused = true)]
async fn the_token_may_come_from_its_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("token");
    std::fs::write(&file, format!("{TOKEN}\n")).unwrap();
    let file = file.to_str().unwrap().to_owned();
    let bot = FakeBotApi::start().await.unwrap();
    let env = env_of(&[
        ("OPS_TELEGRAM_BOT_TOKEN_FILE", file.clone()),
        ("OPS_TELEGRAM_CHAT_ID", "42".to_owned()),
        ("OPS_TELEGRAM_API_URL", bot.api_url()),
    ]);
    let report = drill(&options(&["--max-retries", "0"]), &env)
        .await
        .unwrap();
    assert!(report.real_telegram);
    assert_eq!(bot.messages()[0].token, TOKEN);

    let local = drill(
        &options(&["--local", "--max-retries", "0"]),
        &env_of(&[("OPS_TELEGRAM_BOT_TOKEN_FILE", file)]),
    )
    .await
    .unwrap();
    assert!(!local.real_telegram);
}

/// The durable path: the drill signal is enqueued into a temporary outbox,
/// a worker makes the attempts and dead-letters it, and the alert stored
/// with the dead letter is what the worker's alert sender delivers. Real
/// time: the outbox's clock is the wall clock.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_outbox_drill_goes_through_enqueue_worker_dead_letter_and_stored_alert() {
    for (failure, reason, attempts, marker) in [
        ("http-500", "exhausted", 2, "ERROR"),
        ("http-401", "signature_rejected", 1, "CRITICAL"),
    ] {
        let report = run(&["--outbox", "--failure", failure, "--max-retries", "1"]).await;
        assert_eq!(report.reason, reason, "{failure}");
        assert_eq!(report.attempts, attempts, "{failure}");
        assert!(
            report.alert.contains(marker),
            "{failure}:\n{}",
            report.alert
        );
        for field in REQUIRED_FIELDS {
            assert!(report.alert.contains(field), "{field}:\n{}", report.alert);
        }
        assert!(report.alert.contains(&report.signal_id));
    }
}

/// An outbox with a running worker is refused: that worker would claim the
/// drill signal and send it to its own signal server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_outbox_drill_refuses_an_outbox_with_a_running_worker() {
    use signal_outbox::{WorkerInfo, WorkerRegistry};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("busy.db");
    let outbox = signal_outbox_sqlite::SqliteOutbox::open(&path).unwrap();
    outbox
        .heartbeat(WorkerInfo {
            name: "prod-worker-1".to_owned(),
            host: "h".to_owned(),
            pid: 1,
            version: "0".to_owned(),
        })
        .await
        .unwrap();
    let options = parse(vec![
        "--local".to_owned(),
        "--outbox-url".to_owned(),
        path.to_str().unwrap().to_owned(),
    ])
    .unwrap()
    .unwrap();
    let error = drill(&options, &|_| None).await.unwrap_err();
    assert_eq!(error.exit_code(), 2, "{error:?}");
    let DrillError::Config(reason) = &error else {
        panic!("{error:?}")
    };
    assert!(
        reason.contains("prod-worker-1") && reason.contains("omit --outbox-url"),
        "{reason}"
    );
}
