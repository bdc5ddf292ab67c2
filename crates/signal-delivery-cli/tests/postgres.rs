//! The binary on a PostgreSQL outbox (`OUTBOX_URL=postgres://…`), as
//! subprocesses against the test binary's own throwaway cluster: enqueue,
//! run, and the operator commands work exactly as on SQLite; a wrong
//! password exits 2 naming the host, never the password; `outbox migrate`
//! prints its report. Without PostgreSQL binaries each test prints
//! SKIPPED (a failure with SIGNAL_OUTBOX_REQUIRE_POSTGRES=1).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{Running, run, signal_json};
use loopback_fakes::signal_server::{FakeSignalServer, Reply};
use loopback_fakes::telegram::FakeBotApi;
use serde_json::Value;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// The binary on the outbox at `url`, delivering to `server_url`, with
/// short leases and polls, alerts to `bot`.
fn pg_command(url: &str, server_url: &str, bot: &FakeBotApi, args: &[&str]) -> Command {
    let mut vars = common::delivery_env(server_url, Some(bot));
    vars.extend([
        ("OUTBOX_URL", url.to_owned()),
        ("OUTBOX_LEASE_SECONDS", "3".to_owned()),
        ("OUTBOX_POLL_INTERVAL_MS", "50".to_owned()),
        ("SIGNAL_REQUEST_TIMEOUT_SECONDS", "2".to_owned()),
        ("RETRY_BUDGET", "off".to_owned()),
        ("RUST_LOG", "warn".to_owned()),
    ]);
    common::command(args, &vars)
}

/// `outbox stats` as JSON, through the binary.
fn stats(url: &str, server_url: &str, bot: &FakeBotApi) -> Value {
    let out = run(pg_command(url, server_url, bot, &["outbox", "stats"]), "");
    assert_eq!(out.code(), Some(0), "{}", out.stderr);
    out.json().remove(0)
}

/// Runs a worker until `outbox stats` shows nothing pending or in flight,
/// then stops it with SIGTERM (exit 0).
fn run_until_settled(url: &str, server_url: &str, bot: &FakeBotApi) -> Value {
    let worker = Running::spawn(pg_command(url, server_url, bot, &["run"]));
    let deadline = Instant::now() + Duration::from_secs(30);
    let settled = loop {
        let stats = stats(url, server_url, bot);
        if stats["pending"] == 0 && stats["in_flight"] == 0 {
            break stats;
        }
        assert!(Instant::now() < deadline, "not settled: {stats}");
        std::thread::sleep(Duration::from_millis(100));
    };
    worker.signal("TERM");
    let done = worker.finish(common::LIMIT);
    assert_eq!(done.code(), Some(0), "{}", done.stderr);
    assert!(
        done.stderr
            .contains("delivering from postgres://postgres@127.0.0.1:"),
        "{}",
        done.stderr
    );
    settled
}

async fn fakes() -> (FakeSignalServer, FakeBotApi) {
    let server = FakeSignalServer::start(hmac_client::SigningKeys::parse(common::SECRET).unwrap())
        .await
        .unwrap();
    (server, FakeBotApi::start().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enqueue_run_show_and_replay_work_on_postgres_as_on_sqlite() {
    let Some(cluster) = test_postgres::cluster_or_skip("enqueue_run_show_and_replay") else {
        return;
    };
    let url = cluster.fresh_database_url().await;
    let (server, bot) = fakes().await;
    // `pg-rejected` is refused (422, dead at once) until the receiver is fixed.
    let fixed = Arc::new(AtomicBool::new(false));
    let is_fixed = Arc::clone(&fixed);
    server.set_responder(move |signal| {
        if signal.id == "pg-rejected" && !is_fixed.load(Ordering::Relaxed) {
            Reply::status(422)
        } else {
            Reply::Accept
        }
    });
    let ids: Vec<String> = (0..20)
        .map(|i| format!("pg-{i:02}"))
        .chain(["pg-rejected".to_owned()])
        .collect();
    let input: String = ids.iter().map(|id| signal_json(id) + "\n").collect();
    let (s, b) = (server.url(), &bot);
    let acks = run(pg_command(&url, &s, b, &["enqueue"]), input.clone());
    assert_eq!(acks.code(), Some(0), "{}", acks.stderr);
    let acks = acks.json();
    assert_eq!(acks.len(), ids.len());
    assert!(acks.iter().all(|a| a["outcome"] == "enqueued"), "{acks:?}");
    // The same lines again are duplicates: the dedup index is the database's.
    let again = run(pg_command(&url, &s, b, &["enqueue"]), input);
    assert_eq!(again.code(), Some(0), "{}", again.stderr);
    assert!(again.json().iter().all(|a| a["outcome"] == "duplicate"));

    let settled = run_until_settled(&url, &s, b);
    assert_eq!(settled["delivered"], 20, "{settled}");
    assert_eq!(settled["dead_lettered"], 1, "{settled}");
    assert!(
        settled["path"]
            .as_str()
            .unwrap()
            .starts_with("postgres://postgres@127.0.0.1:")
    );
    // The dead letter's alert went through the stored alert to Telegram.
    let alerts = bot.wait_for_messages(1, Duration::from_secs(10)).await;
    assert!(
        alerts.iter().any(|m| m.text.contains("pg-rejected")),
        "{alerts:?}"
    );

    let show = run(
        pg_command(&url, &s, b, &["outbox", "show", "pg-rejected", "pg-03"]),
        "",
    );
    assert_eq!(show.code(), Some(0), "{}", show.stderr);
    let show = show.json();
    assert_eq!(show[0]["state"], "dead_lettered", "{show:?}");
    assert_eq!(show[0]["attempts"][0]["status"], 422, "{show:?}");
    assert_eq!(show[1]["state"], "delivered", "{show:?}");

    fixed.store(true, Ordering::Relaxed);
    let replay = run(
        pg_command(&url, &s, b, &["outbox", "replay", "pg-rejected"]),
        "",
    );
    assert_eq!(replay.code(), Some(0), "{}", replay.stderr);
    assert_eq!(replay.json()[0]["replayed"], 1, "{:?}", replay.lines);
    let settled = run_until_settled(&url, &s, b);
    assert_eq!(settled["delivered"], 21, "{settled}");
    assert_eq!(settled["dead_lettered"], 0, "{settled}");
    let audit = run(pg_command(&url, &s, b, &["outbox", "audit"]), "");
    assert_eq!(audit.code(), Some(0), "{}", audit.stderr);
    assert!(
        audit.lines.join("\n").contains("pg-rejected"),
        "{:?}",
        audit.lines
    );

    let received = server.received();
    assert!(received.iter().all(|r| r.verified));
    for id in &ids {
        assert!(
            received.iter().any(|r| &r.id == id && r.answered == 200),
            "{id} never accepted"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_password_exits_2_naming_the_host_but_never_the_password() {
    const WRONG: &str = "wrong-pg-password-4711";
    let Some(cluster) = test_postgres::cluster_or_skip("a_wrong_password_exits_2") else {
        return;
    };
    let db = cluster.fresh_database().await;
    // `pwuser` must give a password (scram-sha-256 in the test cluster's pg_hba).
    cluster
        .admin("postgres")
        .await
        .batch_execute(
            "DO $$ BEGIN CREATE ROLE pwuser LOGIN PASSWORD 'right-one'; \
             EXCEPTION WHEN duplicate_object THEN NULL; END $$",
        )
        .await
        .unwrap();
    let url = format!(
        "postgres://pwuser:{WRONG}@127.0.0.1:{}/{db}?sslmode=disable",
        cluster.port
    );
    let (server, bot) = fakes().await;
    for args in [
        vec!["outbox", "stats"],
        vec!["outbox", "migrate"],
        vec!["enqueue"],
        vec!["run"],
    ] {
        let out = run(
            pg_command(&url, &server.url(), &bot, &args),
            signal_json("never") + "\n",
        );
        assert_eq!(out.code(), Some(2), "{args:?}: {}", out.stderr);
        assert!(
            out.stderr.contains(&format!("127.0.0.1:{}", cluster.port)),
            "{args:?}: {}",
            out.stderr
        );
        assert!(out.stderr.contains("password"), "{args:?}: {}", out.stderr);
        assert!(!out.all_text().contains(WRONG), "{}", out.all_text());
        assert!(out.lines.is_empty(), "{args:?}: {:?}", out.lines);
    }
    assert_eq!(server.request_count(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outbox_migrate_prints_its_report_and_operator_commands_need_it() {
    let Some(cluster) = test_postgres::cluster_or_skip("outbox_migrate_prints_its_report") else {
        return;
    };
    let url = cluster.fresh_database_url().await;
    let (server, bot) = fakes().await;
    let (s, b) = (server.url(), &bot);

    // An operator command never creates a schema: it says what to run.
    let early = run(pg_command(&url, &s, b, &["outbox", "stats"]), "");
    assert_eq!(early.code(), Some(2), "{}", early.stderr);
    assert!(early.stderr.contains("outbox migrate"), "{}", early.stderr);

    let first = run(pg_command(&url, &s, b, &["outbox", "migrate"]), "");
    assert_eq!(first.code(), Some(0), "{}", first.stderr);
    let first = first.json();
    assert_eq!(first.len(), 1);
    let report = &first[0];
    assert_eq!(report["backend"], "postgres");
    assert_eq!(report["from"], 0, "{report}");
    let to = report["to"].as_i64().unwrap();
    assert!(to >= 1, "{report}");
    let applied: Vec<i64> = report["applied"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_i64().unwrap())
        .collect();
    assert_eq!(applied, (1..=to).collect::<Vec<_>>(), "{report}");
    assert!(report["min_binary_version"].is_string(), "{report}");

    let second = run(pg_command(&url, &s, b, &["outbox", "migrate"]), "");
    assert_eq!(second.code(), Some(0), "{}", second.stderr);
    let second = &second.json()[0];
    assert_eq!(
        (&second["from"], &second["to"]),
        (&report["to"], &report["to"])
    );
    assert_eq!(second["applied"], serde_json::json!([]));

    let now = run(pg_command(&url, &s, b, &["outbox", "stats"]), "");
    assert_eq!(now.code(), Some(0), "{}", now.stderr);
    assert_eq!(now.json()[0]["total"], 0);

    // SQLite migrates at open: the same line, with what it cannot know null.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("outbox.db");
    let sqlite = |args: &[&str]| {
        let mut vars = common::delivery_env(&s, None);
        vars.push(("OUTBOX_PATH", file.to_str().unwrap().to_owned()));
        run(common::command(args, &vars), "")
    };
    let missing = sqlite(&["outbox", "migrate"]);
    assert_eq!(missing.code(), Some(2), "{}", missing.stderr);
    assert!(
        missing.stderr.contains("no signal outbox at"),
        "{}",
        missing.stderr
    );
    assert_eq!(sqlite(&["enqueue"]).code(), Some(0));
    let line = sqlite(&["outbox", "migrate"]);
    assert_eq!(line.code(), Some(0), "{}", line.stderr);
    let line = &line.json()[0];
    assert_eq!(line["backend"], "sqlite");
    assert_eq!(line["to"], signal_outbox_sqlite::SCHEMA_VERSION);
    assert!(
        line["from"].is_null() && line["applied"].is_null(),
        "{line}"
    );
}
