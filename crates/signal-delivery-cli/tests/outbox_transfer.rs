//! `outbox export` and `outbox import` as subprocesses on real SQLite
//! files: a backlog with a row in every state moves from file A to file B
//! with its state, attempts, schedule and attempt log; importing again
//! changes nothing; bad lines and other bodies are named, never skipped.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{Finished, command, run};
use serde_json::Value;
use signal_outbox::{
    AttemptRecord, EnqueueOutcome, FailureReason, NewAlert, NewSignal, OutboxAdmin, OutboxExt,
    Outcome, SignalDetail, SignalStore, State, now_millis,
};
use signal_outbox_sqlite::{ManualClock, SqliteOutbox};
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

const IDS: [&str; 6] = [
    "a-pending",
    "b-retry",
    "c-delivered",
    "d-dead",
    "e-in-flight",
    "f-binary",
];

fn block_on<F: Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(future)
}

fn new_db(dir: &tempfile::TempDir, name: &str) -> PathBuf {
    let db = dir.path().join(name);
    drop(SqliteOutbox::open(&db).unwrap());
    db
}

/// A row in every state, built on a clock a minute behind the real one:
/// `b-retry` failed once and is due in an hour.
fn backlog(db: &Path) {
    let clock = ManualClock::new(now_millis() - 60_000);
    let outbox = SqliteOutbox::open_with_clock(db, Arc::new(clock.clone())).unwrap();
    for id in IDS {
        let body = if id == "f-binary" {
            vec![0xff, 0x00, b'\n', 0xfe]
        } else {
            format!(r#"{{"id":"{id}","side":"buy"}}"#).into_bytes()
        };
        let outcome = block_on(outbox.enqueue_one(NewSignal::new(id, body))).unwrap();
        assert_eq!(outcome, EnqueueOutcome::Inserted);
    }
    let rows = block_on(outbox.claim("w", 5, Duration::from_secs(3_600)))
        .unwrap()
        .rows;
    let token = |id: &str| rows.iter().find(|r| r.id == id).unwrap().token;
    let outcomes = vec![
        Outcome::Release {
            id: "a-pending".into(),
            token: token("a-pending"),
        },
        Outcome::Retry {
            id: "b-retry".into(),
            token: token("b-retry"),
            attempt: AttemptRecord::failed(1, Some(503), "http_503", Duration::from_millis(40)),
            delay: Duration::from_secs(3_600),
            last_error: "HTTP 503".into(),
        },
        Outcome::Delivered {
            id: "c-delivered".into(),
            token: token("c-delivered"),
            attempt: AttemptRecord::delivered(1, 200, Duration::from_millis(12)),
        },
        Outcome::DeadLetter {
            id: "d-dead".into(),
            token: token("d-dead"),
            attempt: Some(AttemptRecord::failed(
                1,
                Some(422),
                "http_422",
                Duration::from_millis(7),
            )),
            attempts: 1,
            reason: FailureReason::Rejected,
            last_error: "rejected: 422".into(),
            alert: NewAlert {
                kind: signal_outbox::AlertKind::SignalFailure,
                group_key: "post_signal:rejected".into(),
                signal_id: Some("d-dead".into()),
                payload: "{}".into(),
            },
            outage: false,
        },
    ];
    for result in block_on(outbox.record("w", outcomes)).unwrap() {
        result.unwrap();
    }
    // e-in-flight stays claimed by "w"; f-binary was never claimed.
    clock.advance(Duration::from_secs(60));
}

fn details(db: &Path) -> Vec<SignalDetail> {
    let outbox = SqliteOutbox::open(db).unwrap();
    block_on(outbox.show(IDS.iter().map(|id| (*id).to_owned()).collect())).unwrap()
}

fn ops(db: &Path, args: &[&str], stdin: impl Into<Vec<u8>>) -> Finished {
    run(
        command(args, &[("OUTBOX_URL", db.to_str().unwrap().to_owned())]),
        stdin,
    )
}

fn export(db: &Path, args: &[&str]) -> Finished {
    let mut all = vec!["outbox", "export"];
    all.extend_from_slice(args);
    let finished = ops(db, &all, "");
    assert_eq!(finished.code(), Some(0), "{}", finished.stderr);
    finished
}

fn import(db: &Path, lines: &[String]) -> (Finished, Value) {
    let input = lines.iter().map(|l| format!("{l}\n")).collect::<String>();
    let finished = ops(db, &["outbox", "import"], input);
    let counts = finished
        .json()
        .pop()
        .unwrap_or_else(|| panic!("no counts: {}", finished.stderr));
    (finished, counts)
}

#[test]
fn a_backlog_moves_between_files_with_state_attempts_and_schedule() {
    let dir = tempfile::tempdir().unwrap();
    // B does not exist yet: import creates it.
    let (a, b) = (dir.path().join("a.db"), dir.path().join("b.db"));
    backlog(&a);

    let exported = export(&a, &[]);
    let lines = exported.json();
    assert_eq!(lines.len(), 6, "{}", exported.stderr);
    assert!(
        lines.iter().all(|l| l["format"] == 1),
        "every line is versioned"
    );
    let ids: Vec<&str> = lines.iter().map(|l| l["id"].as_str().unwrap()).collect();
    assert_eq!(ids, IDS, "ordered by id");
    assert_eq!(
        lines[0]["body"]["side"], "buy",
        "a JSON body is written as JSON"
    );
    assert!(
        lines[5]["body_base64"].is_string(),
        "another body as base64"
    );
    assert_eq!(
        (lines[4]["state"].as_str(), &lines[4]["was_in_flight"]),
        (Some("pending"), &Value::Bool(true))
    );
    assert!(
        exported.stderr.contains("1 of them were in flight"),
        "{}",
        exported.stderr
    );

    let imported_at = now_millis();
    let (first, counts) = import(&b, &exported.lines);
    assert_eq!(first.code(), Some(0), "{}", first.stderr);
    assert_eq!(
        counts,
        serde_json::json!({"imported": 6, "skipped": 0, "conflict": 0, "invalid": 0})
    );

    let (before, after) = (details(&a), details(&b));
    assert_eq!(after.len(), 6);
    for (old, new) in before.iter().zip(&after) {
        let id = old.row.id.as_str();
        assert_eq!(
            (&new.body, &new.attempts),
            (&old.body, &old.attempts),
            "{id}"
        );
        assert_eq!(
            (
                new.row.attempts,
                new.row.claims,
                new.row.enqueued_at,
                new.row.delivered_at,
                new.row.dead_at
            ),
            (
                old.row.attempts,
                old.row.claims,
                old.row.enqueued_at,
                old.row.delivered_at,
                old.row.dead_at
            ),
            "{id}"
        );
        assert_eq!(
            (&new.row.last_error, new.row.dead_reason),
            (&old.row.last_error, old.row.dead_reason),
            "{id}"
        );
        let state = if id == "e-in-flight" {
            State::Pending
        } else {
            old.row.state
        };
        assert_eq!(new.row.state, state, "{id}");
        if new.row.state == State::Pending {
            // Both files run on the host's clock: a future schedule is the
            // same within the time the commands took; an overdue one (or an
            // in-flight row) is due at the import.
            let expected = old.row.next_attempt_at.max(imported_at);
            let skew = (new.row.next_attempt_at - expected).abs();
            assert!(skew < 10_000, "{id}: schedule moved by {skew} ms");
        }
    }
    let retry = after.iter().find(|d| d.row.id == "b-retry").unwrap();
    assert!(
        retry.row.next_attempt_at > now_millis() + 3_000_000,
        "still due in about an hour"
    );

    let (second, counts) = import(&b, &exported.lines);
    assert_eq!(second.code(), Some(0), "{}", second.stderr);
    assert_eq!(
        counts,
        serde_json::json!({"imported": 0, "skipped": 6, "conflict": 0, "invalid": 0})
    );
    assert_eq!(details(&b), after, "a second import changes nothing");

    let dead = export(&a, &["--state", "dead_lettered", "--state", "delivered"]).json();
    let ids: Vec<&str> = dead.iter().map(|l| l["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["c-delivered", "d-dead"]);
}

#[test]
fn bad_lines_and_other_bodies_are_named_and_the_rest_is_imported() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a.db"), new_db(&dir, "b.db"));
    backlog(&a);
    let mut lines = export(&a, &[]).lines;
    {
        let outbox = SqliteOutbox::open(&b).unwrap();
        let outcome = block_on(outbox.enqueue_one(NewSignal::new("a-pending", &b"{}"[..])));
        assert_eq!(outcome.unwrap(), EnqueueOutcome::Inserted);
    }
    lines[1] = lines[1].replace(r#""state":"pending""#, r#""state":"bogus""#);
    lines[2] = "not json".to_owned();
    lines[3] = lines[3].replace(
        r#""body":{"id":"d-dead","side":"buy"}"#,
        r#""body":{"id":"tampered"}"#,
    );
    let (finished, counts) = import(&b, &lines);
    assert_eq!(finished.code(), Some(1), "{}", finished.stderr);
    assert_eq!(
        counts,
        serde_json::json!({"imported": 2, "skipped": 0, "conflict": 1, "invalid": 3})
    );
    let stderr = &finished.stderr;
    assert!(
        stderr.contains("line 1: signal a-pending is already in the outbox with another body"),
        "{stderr}"
    );
    assert!(stderr.contains("line 2: field `state`"), "{stderr}");
    assert!(stderr.contains("line 3: not a JSON object"), "{stderr}");
    assert!(
        stderr.contains("line 4: ") && stderr.contains("body_hash"),
        "{stderr}"
    );
    let stored: Vec<String> = details(&b).into_iter().map(|d| d.row.id).collect();
    assert_eq!(
        stored,
        ["a-pending", "e-in-flight", "f-binary"],
        "only the good rows, a untouched"
    );
}

#[test]
fn a_line_that_is_not_utf8_or_a_bad_format_version_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a.db"), new_db(&dir, "b.db"));
    backlog(&a);
    let lines = export(&a, &["--state", "dead_lettered"]).lines;
    let mut input = b"\xff\xfe\n\n".to_vec(); // line 1 not UTF-8, line 2 blank
    input.extend(
        lines[0]
            .replace(r#""format":1"#, r#""format":2"#)
            .into_bytes(),
    );
    input.extend(b"\n");
    let finished = ops(&b, &["outbox", "import"], input);
    assert_eq!(finished.code(), Some(1), "{}", finished.stderr);
    assert!(
        finished.stderr.contains("line 1: not UTF-8"),
        "{}",
        finished.stderr
    );
    assert!(
        finished
            .stderr
            .contains("line 3: field `format`: 2 is not supported"),
        "{}",
        finished.stderr
    );
    let counts = finished.json().pop().unwrap();
    assert_eq!(
        counts,
        serde_json::json!({"imported": 0, "skipped": 0, "conflict": 0, "invalid": 2})
    );
    assert!(details(&b).is_empty(), "nothing stored");
}
