//! Alerts as durable as signals, as subprocesses: ten signals the server
//! refuses (422) are dead-lettered by a worker that is SIGKILLed at once,
//! before its alerts have all gone out (the first is sent, the others wait
//! in the folding window); after a restart every id reaches the fake Bot
//! API, and nothing stays owed in the outbox.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{LIMIT, Running, command, delivery_env, run, signal_json};
use loopback_fakes::signal_server::{FakeSignalServer, Reply};
use loopback_fakes::telegram::FakeBotApi;
use signal_outbox::{AlertState, AlertStore, OutboxAdmin};
use signal_outbox_sqlite::SqliteOutbox;
use std::time::{Duration, Instant};

const IDS: usize = 10;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_killed_right_after_dead_lettering_owes_no_alert_once_restarted() {
    let server = FakeSignalServer::start(hmac_client::SigningKeys::parse(common::SECRET).unwrap())
        .await
        .unwrap();
    server.set_default(Reply::status(422));
    let bot = FakeBotApi::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("outbox.db");
    let mut vars = delivery_env(&server.url(), Some(&bot));
    vars.extend([
        ("OUTBOX_PATH", db.to_str().unwrap().to_owned()),
        // The sender lease is the alert timeout + 10 s: the restarted
        // worker takes it over 11 s after the killed one last renewed it.
        ("OPS_ALERT_TIMEOUT_SECONDS", "1".to_owned()),
        ("OPS_ALERT_COOLDOWN_SECONDS", "3".to_owned()),
        ("OUTBOX_POLL_INTERVAL_MS", "50".to_owned()),
        ("RUST_LOG", "warn".to_owned()),
    ]);
    let ids: Vec<String> = (0..IDS).map(|i| format!("k-{i}")).collect();
    let input: String = ids.iter().map(|id| signal_json(id) + "\n").collect();
    let out = run(command(&["enqueue"], &vars), input);
    assert_eq!(out.code(), Some(0), "{}", out.stderr);

    // The first worker dead-letters all ten and is killed at once.
    let outbox = SqliteOutbox::open(&db).unwrap();
    let worker = Running::spawn(command(&["run"], &vars));
    let deadline = Instant::now() + LIMIT;
    while outbox.stats().await.unwrap().dead_lettered < IDS as u64 {
        assert!(Instant::now() < deadline, "not all dead-lettered in time");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    worker.signal("KILL");
    let killed = worker.finish(LIMIT);
    assert_eq!(killed.code(), None, "killed by a signal: {}", killed.stderr);
    let sent_before = bot.messages().len();
    assert!(
        sent_before < IDS,
        "the folding window was to hold some back"
    );

    // The restarted worker sends what the dead one owed.
    let worker = Running::spawn(command(&["run"], &vars));
    let deadline = Instant::now() + Duration::from_secs(45);
    let missing = loop {
        let texts: Vec<String> = bot.messages().into_iter().map(|m| m.text).collect();
        let missing: Vec<&String> = ids
            .iter()
            .filter(|id| !texts.iter().any(|t| t.contains(id.as_str())))
            .collect();
        if missing.is_empty() || Instant::now() > deadline {
            break missing;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    worker.signal("TERM");
    let stopped = worker.finish(LIMIT);
    assert_eq!(stopped.code(), Some(0), "{}", stopped.stderr);
    assert!(
        missing.is_empty(),
        "never alerted: {missing:?}; messages: {:#?}",
        bot.messages()
    );
    // Nothing is owed any more: every stored alert was sent or summarized.
    let owed: Vec<_> = outbox
        .alerts(None, 100)
        .await
        .unwrap()
        .into_iter()
        .filter(|a| matches!(a.state, AlertState::Pending | AlertState::Folded))
        .collect();
    assert!(owed.is_empty(), "{owed:?}");
}
