//! The outbox from one setting (`OUTBOX_URL`, `OUTBOX_PATH`, `--outbox`)
//! and the operator commands `show`, `purge`, `replay` (bulk, dry run,
//! max age, audit) and `audit`, as subprocesses on real SQLite files.
//!
//! The rows are built with the library on a test clock set back from the
//! real time (the subprocess reads the host's clock), so "enqueued 5 h ago"
//! or "delivered 10 days ago" take no waiting.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{Finished, Running, bare, command, delivery_env, run, signal_json};
use serde_json::{Value, json};
use signal_outbox::{
    AlertKind, AttemptRecord, Claimed, EnqueueOutcome, FailureReason, NewAlert, NewSignal,
    OutboxExt, Outcome, SignalStore, State, now_millis,
};
use signal_outbox_sqlite::{ManualClock, SqliteOutbox};
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

const MINUTE: i64 = 60_000;
const HOUR: i64 = 60 * MINUTE;
const DAY: i64 = 24 * HOUR;
const PASSWORD: &str = "hunter2-pg-password";

fn block_on<F: Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(future)
}

/// Builds rows on a test clock, each at a time relative to the real now.
struct Builder {
    outbox: SqliteOutbox,
    clock: ManualClock,
    now: i64,
}

impl Builder {
    fn new(db: &Path) -> Builder {
        let now = now_millis();
        let clock = ManualClock::new(now - 60 * DAY);
        let outbox = SqliteOutbox::open_with_clock(db, Arc::new(clock.clone())).unwrap();
        Builder { outbox, clock, now }
    }

    /// Moves the test clock to `ago` before the real now.
    fn at(&self, ago: i64) {
        self.clock.set(self.now - ago);
    }

    fn enqueue(&self, id: &str, ago: i64) {
        self.at(ago);
        let outcome = block_on(
            self.outbox
                .enqueue_one(NewSignal::new(id, signal_json(id).into_bytes())),
        );
        assert_eq!(outcome.unwrap(), EnqueueOutcome::Inserted, "{id}");
    }

    /// Claims `id`, the only due row (rows are built one at a time).
    fn claim(&self, id: &str) -> Claimed {
        let claims = block_on(
            self.outbox
                .claim("fixture-worker", 1, Duration::from_secs(30)),
        );
        let row = claims.unwrap().rows.pop().unwrap();
        assert_eq!(row.id, id);
        row
    }

    fn record(&self, outcome: Outcome) {
        block_on(self.outbox.record_one("fixture-worker", outcome)).unwrap();
    }

    /// A signal enqueued `enqueued` ago and dead-lettered with `reason` at `dead` ago.
    fn dead(&self, id: &str, reason: FailureReason, enqueued: i64, dead: i64) {
        self.enqueue(id, enqueued);
        self.at(dead);
        let row = self.claim(id);
        self.record(Outcome::DeadLetter {
            id: id.to_owned(),
            token: row.token,
            attempt: Some(AttemptRecord::failed(
                1,
                Some(422),
                "http_422",
                Duration::from_millis(7),
            )),
            attempts: 1,
            reason,
            last_error: format!("{reason}: the server refused it"),
            alert: NewAlert {
                kind: AlertKind::SignalFailure,
                group_key: format!("post_signal:{reason}"),
                signal_id: Some(id.to_owned()),
                payload: format!(r#"{{"signal_id":"{id}"}}"#),
            },
            outage: false,
        });
    }

    /// A signal enqueued `enqueued` ago that failed once with a 503 and was
    /// delivered at `delivered` ago.
    fn delivered_after_a_retry(&self, id: &str, enqueued: i64, delivered: i64) {
        self.enqueue(id, enqueued);
        let row = self.claim(id);
        let mut failed = AttemptRecord::failed(1, Some(503), "http_503", Duration::from_millis(40));
        failed.excerpt = Some("Service Unavailable".to_owned());
        self.record(Outcome::Retry {
            id: id.to_owned(),
            token: row.token,
            attempt: failed,
            delay: Duration::from_secs(1),
            last_error: "HTTP 503 Service Unavailable".to_owned(),
        });
        self.at(delivered);
        let row = self.claim(id);
        self.record(Outcome::Delivered {
            id: id.to_owned(),
            token: row.token,
            attempt: AttemptRecord::delivered(2, 200, Duration::from_millis(12)),
        });
    }
}

/// A fresh outbox file in its own directory (kept alive by the guard).
fn new_db() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("outbox.db");
    (dir, db)
}

/// An operator command with only `OUTBOX_URL` set.
fn ops(db: &Path, args: &[&str]) -> Finished {
    run(
        command(args, &[("OUTBOX_URL", db.to_str().unwrap().to_owned())]),
        "",
    )
}

fn state_of(db: &Path, id: &str) -> Option<State> {
    let outbox = SqliteOutbox::open(db).unwrap();
    block_on(outbox.get(id)).unwrap().map(|row| row.state)
}

#[test]
fn the_outbox_comes_from_outbox_url_outbox_path_or_the_flag() {
    let (dir, db) = new_db();
    Builder::new(&db).enqueue("one", MINUTE);
    let abs = db.to_str().unwrap().to_owned();
    let missing = dir.path().join("missing.db").to_str().unwrap().to_owned();
    let url_file = dir.path().join("url");
    std::fs::write(&url_file, format!("sqlite://{abs}\n")).unwrap();
    let url_file = url_file.to_str().unwrap().to_owned();

    for (vars, args) in [
        (vec![("OUTBOX_URL", format!("sqlite://{abs}"))], vec![]),
        (
            vec![("OUTBOX_URL", format!("sqlite://localhost{abs}"))],
            vec![],
        ),
        (vec![("OUTBOX_URL", abs.clone())], vec![]),
        (vec![("OUTBOX_PATH", abs.clone())], vec![]),
        (vec![("OUTBOX_URL_FILE", url_file.clone())], vec![]),
        // The flag overrides either variable.
        (
            vec![("OUTBOX_PATH", missing.clone())],
            vec!["--outbox".to_owned(), format!("sqlite://{abs}")],
        ),
        (
            vec![("OUTBOX_URL", missing.clone())],
            vec!["--outbox".to_owned(), abs.clone()],
        ),
    ] {
        let mut full = vec!["outbox".to_owned(), "stats".to_owned()];
        full.extend(args.iter().cloned());
        let out = run(command(&full, &vars), "");
        assert_eq!(out.code(), Some(0), "{vars:?} {args:?}: {}", out.stderr);
        let stats = &out.json()[0];
        assert_eq!(stats["pending"], 1, "{vars:?}");
        assert_eq!(stats["path"], abs.as_str(), "{vars:?}");
    }
    assert!(
        !Path::new(&missing).exists(),
        "an operator command created a file"
    );

    // `enqueue` creates a missing file named by a URL, with the dedup window passed on.
    let created = dir.path().join("created.db");
    let mut vars = delivery_env("http://127.0.0.1:9/signals", None);
    vars.push(("OUTBOX_URL", format!("sqlite://{}", created.display())));
    vars.push(("OUTBOX_DEDUP_DAYS", "7".to_owned()));
    let out = run(command(&["enqueue"], &vars), signal_json("made") + "\n");
    assert_eq!(out.code(), Some(0), "{}", out.stderr);
    assert_eq!(state_of(&created, "made"), Some(State::Pending));
}

#[test]
fn bad_outbox_settings_exit_2_naming_the_setting_and_never_the_password() {
    let (dir, db) = new_db();
    Builder::new(&db).enqueue("one", MINUTE);
    let abs = db.to_str().unwrap().to_owned();
    // A port nothing listens on: every PostgreSQL open is refused at once.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let pg = format!("postgres://app:{PASSWORD}@127.0.0.1:{closed}/signals?sslmode=disable");
    let delivery = delivery_env("http://127.0.0.1:9/signals", None);
    let with = |extra: &[(&'static str, String)]| {
        let mut vars = delivery.clone();
        vars.extend(extra.iter().cloned());
        vars
    };
    for (vars, args, needle) in [
        (
            with(&[("OUTBOX_URL", abs.clone()), ("OUTBOX_PATH", abs.clone())]),
            vec!["outbox", "stats"],
            "both OUTBOX_URL and OUTBOX_PATH are set",
        ),
        (
            with(&[("OUTBOX_URL", abs.clone()), ("OUTBOX_PATH", abs.clone())]),
            vec!["check-config"],
            "both OUTBOX_URL and OUTBOX_PATH are set",
        ),
        (
            with(&[("OUTBOX_URL", "sqlite://outbox.db".to_owned())]),
            vec!["outbox", "stats"],
            "a relative path cannot be written as a URL",
        ),
        (
            with(&[("OUTBOX_URL", "sqlite:outbox.db".to_owned())]),
            vec!["enqueue"],
            "sqlite:///absolute/path.db",
        ),
        (
            with(&[("OUTBOX_URL", String::new())]),
            vec!["outbox", "stats"],
            "OUTBOX_URL is set but empty",
        ),
        (
            with(&[("OUTBOX_URL", String::new())]),
            vec!["run"],
            "OUTBOX_URL is set but empty",
        ),
        (
            with(&[("OUTBOX_DEDUP_DAYS", "0".to_owned())]),
            vec!["outbox", "stats"],
            "OUTBOX_DEDUP_DAYS=\"0\" is invalid",
        ),
        (
            with(&[("OUTBOX_RETENTION_DAYS", "7d".to_owned())]),
            vec!["check-config"],
            "OUTBOX_RETENTION_DAYS",
        ),
        (
            with(&[("OUTBOX_PATH", pg.clone())]),
            vec!["outbox", "stats"],
            "put URLs in OUTBOX_URL",
        ),
    ] {
        let out = run(command(&args, &vars), "");
        assert_eq!(out.code(), Some(2), "{args:?}: {}", out.stderr);
        assert!(out.stderr.contains(needle), "{args:?}: {}", out.stderr);
        assert!(out.lines.is_empty(), "{args:?}: {:?}", out.lines);
        assert!(!out.all_text().contains(PASSWORD), "{}", out.all_text());
    }

    // PostgreSQL is built in: an unreachable server fails every command
    // that opens it with exit 2, naming the host, never the password, from
    // the variable or the flag; check-config lists it redacted.
    let redacted = format!("postgres://app:REDACTED@127.0.0.1:{closed}/signals");
    for (vars, args) in [
        (with(&[("OUTBOX_URL", pg.clone())]), vec!["outbox", "stats"]),
        (
            with(&[("OUTBOX_URL", pg.clone())]),
            vec!["outbox", "migrate"],
        ),
        // (`run` waits up to 20 s for a server that may be starting: the
        // fleet test covers it.)
        (with(&[("OUTBOX_URL", pg.clone())]), vec!["enqueue"]),
        (
            with(&[("OUTBOX_URL", abs.clone())]),
            vec!["outbox", "replay", "--all-dead", "--outbox", pg.as_str()],
        ),
    ] {
        let out = run(command(&args, &vars), signal_json("never") + "\n");
        assert_eq!(out.code(), Some(2), "{args:?}: {}", out.stderr);
        assert!(
            out.stderr.contains(&format!("127.0.0.1:{closed}")),
            "{args:?}: {}",
            out.stderr
        );
        assert!(
            out.stderr.contains("Nothing was") || out.stderr.contains("did not start"),
            "{args:?}: {}",
            out.stderr
        );
        assert!(!out.all_text().contains(PASSWORD), "{}", out.all_text());
    }
    let out = run(
        command(&["check-config"], &with(&[("OUTBOX_URL", pg.clone())])),
        "",
    );
    assert_eq!(out.code(), Some(0), "{}", out.stderr);
    assert!(
        out.lines.iter().any(|l| l.contains(&redacted)),
        "{}",
        out.lines.join("\n")
    );
    assert!(!out.all_text().contains(PASSWORD), "{}", out.all_text());
    assert_eq!(state_of(&db, "never"), None, "nothing was enqueued");

    // check-config lists the outbox settings, from the variable in use.
    let mut vars = with(&[("OUTBOX_URL", format!("sqlite://{abs}"))]);
    vars.push(("OUTBOX_RETENTION_DAYS", "14".to_owned()));
    let out = run(command(&["check-config"], &vars), "");
    assert_eq!(out.code(), Some(0), "{}", out.stderr);
    for line in [
        format!("OUTBOX_URL={abs}"),
        "# OUTBOX_PATH unset (OUTBOX_URL is used)".to_owned(),
        "OUTBOX_DEDUP_DAYS=30".to_owned(),
        "OUTBOX_RETENTION_DAYS=14".to_owned(),
    ] {
        assert!(
            out.lines.contains(&line),
            "{line:?} missing:\n{}",
            out.lines.join("\n")
        );
    }
    drop(dir);
}

#[test]
fn show_prints_the_row_the_body_and_the_attempt_history() {
    let (_dir, db) = new_db();
    let builder = Builder::new(&db);
    builder.delivered_after_a_retry("shown", 2 * HOUR, HOUR);
    builder.enqueue("waiting", MINUTE);
    let worker_at = (builder.now - 2 * HOUR, builder.now - HOUR);
    drop(builder);

    let out = ops(
        &db,
        &["outbox", "show", "shown", "nope", "waiting", "shown"],
    );
    assert_eq!(out.code(), Some(1), "{}", out.stderr);
    assert!(
        out.stderr.contains("no signal with id nope in the outbox"),
        "{}",
        out.stderr
    );
    let lines = out.json();
    assert_eq!(lines.len(), 2, "each id once, unknown left out: {lines:?}");
    let shown = &lines[0];
    assert_eq!(shown["id"], "shown");
    assert_eq!(shown["state"], "delivered");
    assert_eq!(shown["attempts"].as_array().unwrap().len(), 2);
    assert_eq!(shown["body"], signal_json("shown"));
    assert_eq!(shown["delivered_at"], worker_at.1);
    assert_eq!(
        shown["attempts"],
        json!([
            {"attempt": 1, "at": worker_at.0, "worker": "fixture-worker", "status": 503,
             "error_class": "http_503", "latency_ms": 40, "excerpt": "Service Unavailable"},
            {"attempt": 2, "at": worker_at.1, "worker": "fixture-worker", "status": 200,
             "error_class": null, "latency_ms": 12, "excerpt": null},
        ])
    );
    assert_eq!(lines[1]["id"], "waiting");
    assert_eq!(lines[1]["state"], "pending");
    assert_eq!(lines[1]["attempts"], json!([]));

    let out = ops(&db, &["outbox", "show", "waiting"]);
    assert_eq!(out.code(), Some(0), "{}", out.stderr);
}

#[test]
fn purge_keeps_recent_and_dead_rows_and_a_purged_id_is_still_a_duplicate() {
    let (_dir, db) = new_db();
    let builder = Builder::new(&db);
    builder.delivered_after_a_retry("old-a", 10 * DAY + HOUR, 10 * DAY);
    builder.delivered_after_a_retry("old-b", 9 * DAY + HOUR, 9 * DAY);
    builder.dead("old-dead", FailureReason::Rejected, 9 * DAY, 8 * DAY);
    builder.delivered_after_a_retry("recent", 2 * HOUR, HOUR);
    drop(builder);
    let stats = |db: &Path| ops(db, &["outbox", "stats"]).json()[0].clone();

    let out = ops(
        &db,
        &["outbox", "purge", "--delivered-before", "7d", "--dry-run"],
    );
    assert_eq!(out.code(), Some(0), "{}", out.stderr);
    let line = &out.json()[0];
    assert_eq!(line["dry_run"], true);
    assert_eq!(line["purged"], 2);
    assert_eq!(line["attempts_removed"], Value::Null);
    assert!(out.stderr.contains("counts rows only"), "{}", out.stderr);
    assert_eq!(stats(&db)["delivered"], 3, "a dry run deletes nothing");

    let out = ops(
        &db,
        &[
            "outbox",
            "purge",
            "--delivered-before",
            "7d",
            "--batch",
            "1",
        ],
    );
    assert_eq!(out.code(), Some(0), "{}", out.stderr);
    let line = &out.json()[0];
    assert_eq!(
        (
            &line["purged"],
            &line["attempts_removed"],
            &line["dedup_window_days"]
        ),
        (&json!(2), &json!(4), &json!(30))
    );
    assert!(
        out.stderr
            .contains("30 day(s) after its delivery (OUTBOX_DEDUP_DAYS)"),
        "{}",
        out.stderr
    );
    let after = stats(&db);
    assert_eq!(
        (&after["delivered"], &after["dead_lettered"]),
        (&json!(1), &json!(1))
    );
    assert_eq!(state_of(&db, "old-a"), None);
    assert_eq!(state_of(&db, "recent"), Some(State::Delivered));

    // A producer's late retry of a purged id: a duplicate, or a conflict for another body.
    let mut vars = delivery_env("http://127.0.0.1:9/signals", None);
    vars.push(("OUTBOX_URL", db.to_str().unwrap().to_owned()));
    let input = format!(
        "{}\n{}\n",
        signal_json("old-a"),
        signal_json("old-b").replace("101.5", "99.0")
    );
    let out = run(command(&["enqueue"], &vars), input);
    let outcomes: Vec<Value> = out.json().iter().map(|l| l["outcome"].clone()).collect();
    assert_eq!(
        outcomes,
        [json!("duplicate"), json!("conflict")],
        "{}",
        out.stderr
    );
    assert_eq!(state_of(&db, "old-a"), None, "not stored again");

    // With a 5-day dedup window, a purge forgets ids delivered longer ago.
    let (_dir2, db2) = new_db();
    Builder::new(&db2).delivered_after_a_retry("gone", 10 * DAY + HOUR, 10 * DAY);
    let mut vars2 = vec![("OUTBOX_URL", db2.to_str().unwrap().to_owned())];
    vars2.push(("OUTBOX_DEDUP_DAYS", "5".to_owned()));
    let out = run(
        command(&["outbox", "purge", "--delivered-before", "7d"], &vars2),
        "",
    );
    assert_eq!(out.code(), Some(0), "{}", out.stderr);
    let mut vars = delivery_env("http://127.0.0.1:9/signals", None);
    vars.extend(vars2);
    let out = run(command(&["enqueue"], &vars), signal_json("gone") + "\n");
    assert_eq!(out.json()[0]["outcome"], "enqueued", "{}", out.stderr);
}

/// Three dead letters and a pending row:
/// - `e-old`: exhausted, enqueued 5 h ago, dead 4 h ago (too old for 1 h);
/// - `e-new`: exhausted, enqueued 40 min ago, dead 30 min ago;
/// - `r-new`: rejected, enqueued 20 min ago, dead 10 min ago;
/// - `p`: pending, enqueued 5 min ago.
fn dead_letters() -> (tempfile::TempDir, PathBuf, i64) {
    let (dir, db) = new_db();
    let builder = Builder::new(&db);
    builder.dead("e-old", FailureReason::Exhausted, 5 * HOUR, 4 * HOUR);
    builder.dead("e-new", FailureReason::Exhausted, 40 * MINUTE, 30 * MINUTE);
    builder.dead("r-new", FailureReason::Rejected, 20 * MINUTE, 10 * MINUTE);
    builder.enqueue("p", 5 * MINUTE);
    let now = builder.now;
    (dir, db, now)
}

fn replay(db: &Path, args: &[&str]) -> (Finished, Value) {
    let mut full = vec!["outbox", "replay"];
    full.extend_from_slice(args);
    let out = ops(db, &full);
    let line = out.json().first().cloned().unwrap_or(Value::Null);
    (out, line)
}

fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

#[test]
fn dry_runs_count_each_selection_and_change_nothing() {
    let (_dir, db, now) = dead_letters();
    let ids = |line: &Value| -> Vec<String> {
        let mut ids: Vec<String> = line["ids"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_owned())
            .collect();
        ids.sort();
        ids
    };
    let since = rfc3339(now - 45 * MINUTE);
    let until = rfc3339(now - 20 * MINUTE);
    for (args, matched, replayed, selected) in [
        (vec!["--reason", "exhausted"], 2, 1, vec!["e-new", "e-old"]),
        (vec!["--reason", "rejected"], 1, 1, vec!["r-new"]),
        (vec!["--since", "1h"], 2, 2, vec!["e-new", "r-new"]),
        (vec!["--until", "1h"], 1, 0, vec!["e-old"]),
        (vec!["--until", "1h", "--force"], 1, 1, vec!["e-old"]),
        (
            vec!["--until", "1h", "--max-age", "6h"],
            1,
            1,
            vec!["e-old"],
        ),
        (
            vec!["--since", &since, "--until", &until],
            1,
            1,
            vec!["e-new"],
        ),
        (
            vec!["--reason", "exhausted", "--since", "2h"],
            1,
            1,
            vec!["e-new"],
        ),
        (vec!["--all-dead"], 3, 2, vec!["e-new", "e-old", "r-new"]),
        (vec!["e-new", "p", "nope"], 1, 1, vec!["e-new"]),
    ] {
        let mut all = args.clone();
        all.push("--dry-run");
        let (out, line) = replay(&db, &all);
        assert_eq!(out.code(), Some(0), "{args:?}: {}", out.stderr);
        assert_eq!(line["dry_run"], true);
        assert_eq!(line["matched"], matched, "{args:?}: {line}");
        assert_eq!(line["replayed"], replayed, "{args:?}: {line}");
        assert_eq!(line["too_old"], matched - replayed, "{args:?}: {line}");
        assert_eq!(ids(&line), selected, "{args:?}: {line}");
        assert!(out.stderr.contains("dry run"), "{}", out.stderr);
        // The count comes first on the line.
        assert!(
            out.lines[0].starts_with(r#"{"dry_run":true,"matched":"#),
            "{}",
            out.lines[0]
        );
    }
    let (_, line) = replay(&db, &["e-new", "p", "nope", "--dry-run"]);
    assert_eq!(
        line["not_dead_ids"],
        json!([{"id": "p", "state": "pending"}])
    );
    assert_eq!(line["unknown_ids"], json!(["nope"]));
    for id in ["e-old", "e-new", "r-new"] {
        assert_eq!(state_of(&db, id), Some(State::DeadLettered), "{id}");
    }
    let out = ops(&db, &["outbox", "audit"]);
    assert_eq!(out.code(), Some(0), "{}", out.stderr);
    assert!(
        out.lines.is_empty(),
        "a dry run writes no audit row: {:?}",
        out.lines
    );
}

#[test]
fn replay_refuses_stale_signals_unless_forced_and_audits_who_did_it() {
    let (_dir, db, _) = dead_letters();

    // By id: one replayed, the others named; exit 1.
    let (out, line) = replay(&db, &["r-new", "p", "nope"]);
    assert_eq!(out.code(), Some(1), "{}", out.stderr);
    assert_eq!(
        (
            &line["dry_run"],
            &line["matched"],
            &line["replayed"],
            &line["not_dead"],
            &line["unknown"]
        ),
        (&json!(false), &json!(1), &json!(1), &json!(1), &json!(1))
    );
    assert!(
        out.stderr.contains("p is pending, not dead_lettered"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("no signal with id nope"),
        "{}",
        out.stderr
    );
    assert_eq!(state_of(&db, "r-new"), Some(State::Pending));

    // Every dead letter: the one enqueued 5 h ago is too old for the default 1 h.
    let (out, line) = replay(&db, &["--all-dead"]);
    assert_eq!(out.code(), Some(1), "{}", out.stderr);
    assert_eq!(
        (
            &line["matched"],
            &line["replayed"],
            &line["too_old"],
            &line["max_age_seconds"]
        ),
        (&json!(2), &json!(1), &json!(1), &json!(3600))
    );
    assert_eq!(line["too_old_ids"], json!(["e-old"]));
    assert!(
        out.stderr
            .contains("1 signal(s) enqueued more than 1h ago were NOT replayed"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("--force"), "{}", out.stderr);
    assert_eq!(state_of(&db, "e-old"), Some(State::DeadLettered));
    assert_eq!(state_of(&db, "e-new"), Some(State::Pending));

    // Forced: replayed whatever its age; exit 0. Its process is the audit's actor.
    let running = Running::spawn(command(
        &["outbox", "replay", "e-old", "--force"],
        &[("OUTBOX_URL", db.to_str().unwrap().to_owned())],
    ));
    let pid = running.pid();
    let out = running.finish(common::LIMIT);
    assert_eq!(out.code(), Some(0), "{}", out.stderr);
    assert_eq!(out.json()[0]["max_age_seconds"], Value::Null);
    assert_eq!(state_of(&db, "e-old"), Some(State::Pending));

    // Nothing left to replay: exit 0, said so.
    let (out, line) = replay(&db, &["--reason", "exhausted"]);
    assert_eq!(out.code(), Some(0), "{}", out.stderr);
    assert_eq!(line["matched"], 0);
    assert!(
        out.stderr.contains("nothing was replayed"),
        "{}",
        out.stderr
    );

    let user = String::from_utf8(
        std::process::Command::new("id")
            .arg("-un")
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap()
    .trim()
    .to_owned();
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .unwrap()
        .trim()
        .to_owned();
    let out = ops(&db, &["outbox", "audit", "--limit", "3"]);
    assert_eq!(out.code(), Some(0), "{}", out.stderr);
    let rows = out.json();
    assert_eq!(rows.len(), 3, "newest three of four: {rows:?}");
    let forced = &rows[1];
    assert_eq!(forced["action"], "replay");
    assert_eq!(forced["actor"], format!("os:{user}@{host} pid {pid}"));
    assert_eq!(forced["detail"]["os"]["user"], user.as_str());
    assert_eq!(forced["detail"]["os"]["user_source"], "passwd");
    assert_eq!(forced["detail"]["os"]["pid"], pid);
    assert_eq!(forced["detail"]["force"], true);
    assert_eq!(
        forced["detail"]["selection"],
        json!({"ids": ["e-old"], "ids_count": 1, "ids_truncated": false})
    );
    assert_eq!(forced["result"]["replayed"], 1);
    // Newest first: ids go down, and the oldest (by id) was left out.
    let ids: Vec<i64> = rows.iter().map(|r| r["id"].as_i64().unwrap()).collect();
    assert!(ids.windows(2).all(|w| w[0] > w[1]), "{ids:?}");
    assert_eq!(rows[2]["detail"]["selection"]["all_dead"], true);
    assert_eq!(rows[2]["result"]["too_old"], 1);
    assert_eq!(rows[0]["detail"]["selection"]["reason"], "exhausted");
    let all = ops(&db, &["outbox", "audit"]).json();
    assert_eq!(all.len(), 4);
    assert_eq!(
        all[3]["detail"]["selection"]["ids"],
        json!(["r-new", "p", "nope"])
    );
}

#[test]
fn usage_errors_exit_2_and_change_nothing() {
    let (_dir, db, _) = dead_letters();
    for (args, needle) in [
        (vec!["outbox", "replay"], "<ID|--reason <REASON>|"),
        (vec!["outbox", "replay", "--dry-run"], "required"),
        (
            vec!["outbox", "replay", "e-old", "--all-dead"],
            "cannot be used with",
        ),
        (
            vec!["outbox", "replay", "--reason", "late"],
            "possible values",
        ),
        (vec!["outbox", "replay", "--since", "yesterday"], "RFC 3339"),
        (
            vec![
                "outbox",
                "replay",
                "--all-dead",
                "--force",
                "--max-age",
                "2h",
            ],
            "cannot be used with",
        ),
        (
            vec!["outbox", "replay", "--since", "1h", "--until", "2h"],
            "is not before --until",
        ),
        (vec!["outbox", "purge"], "--delivered-before"),
        (
            vec!["outbox", "purge", "--delivered-before", "soon"],
            "not a duration",
        ),
        (vec!["outbox", "show"], "<ID>"),
        (vec!["outbox", "audit", "--limit", "0"], "--limit"),
    ] {
        let out = ops(&db, &args);
        assert_eq!(out.code(), Some(2), "{args:?}: {}", out.stderr);
        assert!(out.stderr.contains(needle), "{args:?}: {}", out.stderr);
        assert!(out.lines.is_empty(), "{args:?}");
    }
    for id in ["e-old", "e-new", "r-new"] {
        assert_eq!(state_of(&db, id), Some(State::DeadLettered), "{id}");
    }
    assert!(ops(&db, &["outbox", "audit"]).lines.is_empty());
    // An operator command never creates a missing outbox.
    let missing = db.with_file_name("typo.db");
    let out = run(
        bare([
            "outbox",
            "replay",
            "--all-dead",
            "--outbox",
            missing.to_str().unwrap(),
        ]),
        "",
    );
    assert_eq!(out.code(), Some(2), "{}", out.stderr);
    assert!(out.stderr.contains("no signal outbox at"), "{}", out.stderr);
    assert!(!missing.exists());
}
