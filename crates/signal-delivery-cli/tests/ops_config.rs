//! Two-way ops configuration as the binary reads it: with commands on, an
//! empty allow-list, an `@channel` ops chat or disabled alerts make `run`
//! (and `check-config`) refuse with what to set; with good values
//! `check-config` lists both variables.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{CHAT_ID, SECRET, TOKEN, TOKEN_PART, command, run};

fn vars(extra: &[(&'static str, &str)]) -> Vec<(&'static str, String)> {
    let mut vars = vec![
        ("SIGNAL_SERVER_URL", "http://127.0.0.1:9/signals".to_owned()),
        ("SIGNAL_HMAC_SECRET", SECRET.to_owned()),
        ("OPS_TELEGRAM_BOT_TOKEN", TOKEN.to_owned()),
        ("OPS_TELEGRAM_CHAT_ID", CHAT_ID.to_owned()),
    ];
    for (name, value) in extra {
        vars.retain(|(k, _)| k != name);
        vars.push((name, (*value).to_owned()));
    }
    vars
}

#[test]
fn run_refuses_commands_that_nobody_or_anybody_could_use() {
    let dir = tempfile::tempdir().unwrap();
    let outbox = dir.path().join("outbox.db");
    let outbox = outbox.to_str().unwrap();
    for (extra, needle) in [
        (
            &[("OPS_TELEGRAM_COMMANDS", "true")][..],
            "OPS_TELEGRAM_ADMIN_USER_IDS is empty or unset while OPS_TELEGRAM_COMMANDS=true",
        ),
        (
            &[
                ("OPS_TELEGRAM_COMMANDS", "true"),
                ("OPS_TELEGRAM_ADMIN_USER_IDS", "111"),
                ("OPS_TELEGRAM_CHAT_ID", "@ops_room"),
            ][..],
            "OPS_TELEGRAM_CHAT_ID is an @channelname while OPS_TELEGRAM_COMMANDS=true",
        ),
        (
            &[("OPS_TELEGRAM_COMMANDS", "on")][..],
            "OPS_TELEGRAM_COMMANDS=\"on\" is not a boolean; expected true or false",
        ),
        (
            &[("OPS_TELEGRAM_ADMIN_USER_IDS", "111;222")][..],
            "OPS_TELEGRAM_ADMIN_USER_IDS: entry 1 (\"111;222\") is not a Telegram user id",
        ),
    ] {
        let vars = vars(extra);
        for args in [&["run", "--outbox", outbox][..], &["check-config"][..]] {
            let out = run(command(args, &vars), "");
            assert_eq!(out.code(), Some(2), "{needle}: {}", out.stderr);
            assert!(out.stderr.contains(needle), "{needle}:\n{}", out.stderr);
            assert!(
                out.stderr.contains("1 configuration problem(s)"),
                "{}",
                out.stderr
            );
            assert!(!out.all_text().contains(TOKEN_PART));
        }
    }
    assert!(
        !dir.path().join("outbox.db").exists(),
        "run stopped before opening the outbox"
    );
}

#[test]
fn check_config_lists_the_command_settings() {
    let out = run(
        command(
            &["check-config"],
            &vars(&[
                ("OPS_TELEGRAM_COMMANDS", "true"),
                ("OPS_TELEGRAM_ADMIN_USER_IDS", "111, 222"),
            ]),
        ),
        "",
    );
    assert_eq!(out.code(), Some(0), "{}", out.stderr);
    assert!(out.lines.contains(&"OPS_TELEGRAM_COMMANDS=true".to_owned()));
    assert!(
        out.lines
            .contains(&"OPS_TELEGRAM_ADMIN_USER_IDS=111,222".to_owned())
    );
    let out = run(command(&["check-config"], &vars(&[])), "");
    assert!(
        out.lines
            .contains(&"OPS_TELEGRAM_COMMANDS=false".to_owned())
    );
    assert!(
        out.lines
            .contains(&"# OPS_TELEGRAM_ADMIN_USER_IDS unset (nobody may act)".to_owned())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_answers_an_admin_in_the_ops_chat_and_stops_cleanly() {
    use loopback_fakes::signal_server::FakeSignalServer;
    use loopback_fakes::telegram::{FakeBotApi, updates};

    let server = FakeSignalServer::start(hmac_client::SigningKeys::parse(SECRET).unwrap())
        .await
        .unwrap();
    let bot = FakeBotApi::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut vars = common::delivery_env(&server.url(), Some(&bot));
    vars.extend([
        ("OPS_TELEGRAM_COMMANDS", "true".to_owned()),
        ("OPS_TELEGRAM_ADMIN_USER_IDS", "111".to_owned()),
        (
            "OUTBOX_PATH",
            dir.path().join("outbox.db").to_str().unwrap().to_owned(),
        ),
    ]);
    let chat: i64 = CHAT_ID.parse().unwrap();
    bot.push_update(updates::text_message(chat, 999, "/status"));
    bot.push_update(updates::text_message(chat, 111, "/status"));
    let worker = common::Running::spawn(command(&["run"], &vars));
    let messages = bot.wait_for_messages(1, common::LIMIT).await;
    worker.signal("TERM");
    let done = worker.finish(common::LIMIT);
    assert_eq!(done.code(), Some(0), "{}", done.stderr);
    assert_eq!(messages.len(), 1, "the stranger got nothing: {messages:?}");
    assert!(
        messages[0].text.contains("Outbox status"),
        "{}",
        messages[0].text
    );
    assert!(
        done.stderr.contains("refused an ops command"),
        "{}",
        done.stderr
    );
    assert!(!done.all_text().contains(TOKEN_PART));
}
