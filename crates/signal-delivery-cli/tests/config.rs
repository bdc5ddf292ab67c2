//! The configuration as the binary reads it: `check-config` lists every
//! variable with secrets redacted, secrets come from `_FILE` variables,
//! look-alike variables get a warning, and bad values (new variables, URLs,
//! non-UTF-8 values) exit 2 naming the variable, before anything is sent.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{CHAT_ID, SECRET, SECRET_PART, TOKEN, TOKEN_PART, bare, command, run, signal_json};
use loopback_fakes::signal_server::{FakeSignalServer, Reply};
use loopback_fakes::telegram::FakeBotApi;
use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::time::Duration;

fn telegram_vars() -> Vec<(&'static str, String)> {
    vec![
        ("SIGNAL_SERVER_URL", "http://127.0.0.1:9/signals".to_owned()),
        ("SIGNAL_HMAC_SECRET", SECRET.to_owned()),
        ("OPS_TELEGRAM_BOT_TOKEN", TOKEN.to_owned()),
        ("OPS_TELEGRAM_CHAT_ID", CHAT_ID.to_owned()),
    ]
}

#[test]
fn check_config_lists_every_variable_with_secrets_redacted() {
    let mut disabled = telegram_vars();
    disabled.retain(|(k, _)| !k.starts_with("OPS_"));
    disabled.push(("OPS_ALERTS_DISABLED", "true".to_owned()));
    for (case, vars) in [("telegram", telegram_vars()), ("alerts disabled", disabled)] {
        let out = run(command(&["check-config"], &vars), "");
        assert_eq!(out.code(), Some(0), "{case}: {}", out.stderr);
        for name in signal_config::names::KNOWN {
            let listed = out.lines.iter().any(|l| {
                l.starts_with(&format!("{name}=")) || l.starts_with(&format!("# {name} "))
            });
            assert!(
                listed,
                "{case}: {name} is not listed:\n{}",
                out.lines.join("\n")
            );
        }
        // Every line is a setting or a comment: the listing can be sourced.
        for line in &out.lines {
            assert!(
                line.starts_with('#') || line.split_once('=').is_some_and(|(k, _)| !k.is_empty()),
                "{case}: {line:?}"
            );
        }
        let text = out.all_text();
        assert!(!text.contains(SECRET_PART), "{case}: secret shown:\n{text}");
        assert!(!text.contains(TOKEN_PART), "{case}: token shown:\n{text}");
        assert!(
            out.lines
                .contains(&"SIGNAL_HMAC_SECRET=[REDACTED] (1 key(s))".to_owned()),
            "{case}: {text}"
        );
        assert!(out.lines.contains(&"RUST_LOG=info".to_owned()), "{case}");
        assert!(
            out.lines.contains(&"SIGNAL_MAX_BYTES=1048576".to_owned()),
            "{case}"
        );
        assert!(
            out.lines
                .contains(&"SEND_SHUTDOWN_GRACE_SECONDS=5".to_owned()),
            "{case}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_from_files_are_used_listed_by_path_and_never_shown() {
    let server = FakeSignalServer::start(hmac_client::SigningKeys::parse(SECRET).unwrap())
        .await
        .unwrap();
    server.set_default(Reply::status(422));
    let bot = FakeBotApi::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let secret_file = dir.path().join("hmac");
    let token_file = dir.path().join("token");
    // Editors and `echo` add a newline: it is not part of the secret.
    std::fs::write(&secret_file, format!("{SECRET}\n")).unwrap();
    std::fs::write(&token_file, format!("{TOKEN}\r\n")).unwrap();
    let vars = vec![
        ("SIGNAL_SERVER_URL", server.url()),
        (
            "SIGNAL_HMAC_SECRET_FILE",
            secret_file.to_str().unwrap().to_owned(),
        ),
        (
            "OPS_TELEGRAM_BOT_TOKEN_FILE",
            token_file.to_str().unwrap().to_owned(),
        ),
        ("OPS_TELEGRAM_CHAT_ID", CHAT_ID.to_owned()),
        ("OPS_TELEGRAM_API_URL", bot.api_url()),
    ];

    let out = run(command(&["check-config"], &vars), "");
    assert_eq!(out.code(), Some(0), "{}", out.stderr);
    for expected in [
        format!("SIGNAL_HMAC_SECRET_FILE={}", secret_file.display()),
        format!("OPS_TELEGRAM_BOT_TOKEN_FILE={}", token_file.display()),
        "SIGNAL_HMAC_SECRET=[REDACTED] (1 key(s))".to_owned(),
        "OPS_TELEGRAM_BOT_TOKEN=[REDACTED]".to_owned(),
    ] {
        assert!(
            out.lines.contains(&expected),
            "{expected}:\n{}",
            out.lines.join("\n")
        );
    }
    assert!(!out.all_text().contains(SECRET_PART));
    assert!(!out.all_text().contains(TOKEN_PART));

    // The secrets work: the server verifies the signature, and the alert
    // for the rejected signal goes out with the token from the file.
    let out = run(command(&["send"], &vars), signal_json("file-1") + "\n");
    assert_eq!(out.code(), Some(1), "{}", out.stderr);
    assert_eq!(out.json()[0]["reason"], "rejected");
    let received = server.received();
    assert_eq!(received.len(), 1);
    assert!(received[0].verified, "signed with the secret from the file");
    let alerts = bot.wait_for_messages(1, Duration::from_secs(5)).await;
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(alerts[0].token, TOKEN, "the token without its line ending");
    assert!(!out.all_text().contains(TOKEN_PART));
}

#[test]
fn a_secret_set_both_ways_or_from_a_bad_file_exits_2_naming_the_variable() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("secret");
    std::fs::write(&file, SECRET).unwrap();
    let file = file.to_str().unwrap().to_owned();
    let not_utf8 = dir.path().join("binary");
    std::fs::write(&not_utf8, [0xff, 0xfe, 0x00]).unwrap();
    let not_utf8 = not_utf8.to_str().unwrap().to_owned();
    let missing = dir.path().join("missing").to_str().unwrap().to_owned();
    let a_dir = dir.path().to_str().unwrap().to_owned();
    for (extra, needle) in [
        (
            vec![("SIGNAL_HMAC_SECRET_FILE", file.clone())],
            "both SIGNAL_HMAC_SECRET and SIGNAL_HMAC_SECRET_FILE are set",
        ),
        (
            vec![("OPS_TELEGRAM_BOT_TOKEN_FILE", file.clone())],
            "both OPS_TELEGRAM_BOT_TOKEN and OPS_TELEGRAM_BOT_TOKEN_FILE are set",
        ),
        (
            vec![("OPS_TELEGRAM_BOT_TOKEN_FILE", missing)],
            "cannot read OPS_TELEGRAM_BOT_TOKEN_FILE=",
        ),
        (
            vec![("OPS_TELEGRAM_BOT_TOKEN_FILE", a_dir)],
            "is not a regular file",
        ),
        (
            vec![("OPS_TELEGRAM_BOT_TOKEN_FILE", not_utf8)],
            "is not UTF-8 text",
        ),
    ] {
        let mut vars = telegram_vars();
        // The token variable itself goes when only its file is meant.
        if extra[0].0 == "OPS_TELEGRAM_BOT_TOKEN_FILE" && !needle.starts_with("both") {
            vars.retain(|(k, _)| *k != "OPS_TELEGRAM_BOT_TOKEN");
        }
        vars.extend(extra);
        for args in [["check-config"], ["send"]] {
            let out = run(command(&args, &vars), signal_json("never") + "\n");
            assert_eq!(out.code(), Some(2), "{needle}: {}", out.stderr);
            assert!(out.stderr.contains(needle), "{needle}:\n{}", out.stderr);
            // Only the real problem: not also a false "... is not set".
            assert!(
                out.stderr.contains("1 configuration problem(s)"),
                "{needle}:\n{}",
                out.stderr
            );
            assert!(out.lines.is_empty(), "{needle}: {:?}", out.lines);
            assert!(!out.stderr.contains(SECRET_PART), "{}", out.stderr);
            assert!(!out.stderr.contains(TOKEN_PART), "{}", out.stderr);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_look_alike_variable_gets_a_warning_with_a_suggestion() {
    let server = FakeSignalServer::start(hmac_client::SigningKeys::parse(SECRET).unwrap())
        .await
        .unwrap();
    let mut vars = common::delivery_env(&server.url(), None);
    vars.push((
        "SIGNAL_HMAC_SECRETS",
        "whsec_typo-value-never-shown".to_owned(),
    ));
    let warning = "SIGNAL_HMAC_SECRETS is not a variable of signal-delivery and is ignored; did you mean SIGNAL_HMAC_SECRET?";

    let out = run(command(&["check-config"], &vars), "");
    assert_eq!(out.code(), Some(0), "{}", out.stderr);
    assert!(
        out.lines.contains(&format!("# warning: {warning}")),
        "{}",
        out.lines.join("\n")
    );

    let out = run(command(&["send"], &vars), signal_json("warned") + "\n");
    assert_eq!(out.code(), Some(0), "{}", out.stderr);
    assert!(
        out.stderr
            .lines()
            .next()
            .is_some_and(|l| l == format!("signal-delivery: warning: {warning}")),
        "the warning comes first:\n{}",
        out.stderr
    );
    assert!(!out.all_text().contains("typo-value"), "{}", out.all_text());
}

#[test]
fn bad_values_exit_2_naming_the_variable_before_anything_is_read() {
    for (name, value, needle) in [
        ("SIGNAL_MAX_BYTES", "1023", "SIGNAL_MAX_BYTES"),
        ("SIGNAL_MAX_BYTES", "16777217", "16777216"),
        (
            "SEND_SHUTDOWN_GRACE_SECONDS",
            "301",
            "from 0 to 300, default 5",
        ),
        ("RETRY_BUDGET", "yes", "expected on or off"),
        ("RETRY_BUDGET_PERCENT", "0", "RETRY_BUDGET_PERCENT"),
        (
            "RETRY_BUDGET_MAX_TOKENS",
            "10",
            "replaced by RETRY_BUDGET_PERCENT",
        ),
        (
            "RETRY_BUDGET_TOKEN_RATIO",
            "",
            "replaced by RETRY_BUDGET_PERCENT",
        ),
        ("SIGNAL_SERVER_URL", "http:///signals", "SIGNAL_SERVER_URL"),
        (
            "SIGNAL_SERVER_URL",
            "http:/127.0.0.1/signals",
            "SIGNAL_SERVER_URL",
        ),
        (
            "SIGNAL_SERVER_URL",
            "ftp://127.0.0.1/signals",
            "SIGNAL_SERVER_URL",
        ),
        (
            "OPS_TELEGRAM_API_URL",
            "http:///bot",
            "OPS_TELEGRAM_API_URL",
        ),
    ] {
        let mut vars = telegram_vars();
        vars.retain(|(k, _)| *k != name);
        vars.push((name, value.to_owned()));
        let out = run(command(&["send"], &vars), signal_json("never") + "\n");
        assert_eq!(out.code(), Some(2), "{name}={value}: {}", out.stderr);
        assert!(
            out.stderr.contains(needle),
            "{name}={value}:\n{}",
            out.stderr
        );
        assert!(out.stderr.contains("Nothing was done"), "{}", out.stderr);
        assert!(out.lines.is_empty());
    }
}

#[test]
fn credentials_in_a_url_are_refused_without_being_echoed() {
    for name in ["SIGNAL_SERVER_URL", "OPS_TELEGRAM_API_URL"] {
        let mut vars = telegram_vars();
        vars.retain(|(k, _)| *k != name);
        vars.push((name, "http://user:PASSWORDVALUE@127.0.0.1:9/x".to_owned()));
        for args in [["check-config"], ["send"]] {
            let out = run(command(&args, &vars), "");
            assert_eq!(out.code(), Some(2), "{name}: {}", out.stderr);
            assert!(out.stderr.contains(name), "{name}: {}", out.stderr);
            assert!(
                !out.all_text().contains("PASSWORDVALUE"),
                "{}",
                out.all_text()
            );
        }
    }
}

#[test]
fn a_value_that_is_not_utf8_is_an_error_not_unset() {
    for name in [
        "MAX_RETRIES",
        "SIGNAL_HMAC_SECRET",
        "OUTBOX_PATH",
        "RUST_LOG",
    ] {
        let mut cmd = bare(["check-config"]);
        for (k, v) in telegram_vars() {
            if k != name {
                cmd.env(k, v);
            }
        }
        cmd.env(name, OsString::from_vec(vec![b'5', 0xff]));
        let out = run(cmd, "");
        assert_eq!(out.code(), Some(2), "{name}: {}", out.stderr);
        assert!(
            out.stderr.contains(&format!("{name} is not valid UTF-8")),
            "{name}: {}",
            out.stderr
        );
    }
}
