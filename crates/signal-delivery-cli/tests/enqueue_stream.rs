//! `enqueue` on streams, as a subprocess with a real SQLite outbox and the
//! fake Bot API on 127.0.0.1: a bad line is acknowledged `invalid` and the
//! rest is stored, a conflict is alerted, and a stop (SIGTERM, SIGINT) with
//! the input still open stores and acknowledges every line read.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{Running, command, delivery_env, run, signal_json, worker_sends_stored_alerts};
use loopback_fakes::telegram::FakeBotApi;
use signal_outbox::{ListFilter, OutboxAdmin, RowSummary, State};
use signal_outbox_sqlite::SqliteOutbox;
use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

/// A configuration whose server is never called (`enqueue` only stores),
/// alerts to `bot`, the outbox at `db`.
fn vars(bot: &FakeBotApi, db: &Path) -> Vec<(&'static str, String)> {
    let mut vars = delivery_env("http://127.0.0.1:9/signals", Some(bot));
    vars.push(("OUTBOX_PATH", db.to_str().unwrap().to_owned()));
    vars
}

/// The rows in `state`, read with the outbox's own API.
async fn rows(db: &Path, state: State, limit: usize) -> Vec<RowSummary> {
    let outbox = SqliteOutbox::open(db).unwrap();
    outbox
        .list(ListFilter::new(limit).state(state))
        .await
        .unwrap()
}

async fn stored(db: &Path, state: State) -> BTreeSet<String> {
    rows(db, state, 100_000)
        .await
        .into_iter()
        .map(|row| row.id)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_line_that_is_not_utf8_is_acknowledged_invalid_and_the_rest_is_stored() {
    let bot = FakeBotApi::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("outbox.db");
    let mut input = Vec::new();
    input.extend_from_slice((signal_json("e-1") + "\n").as_bytes());
    input.extend_from_slice(b"{\"id\":\"e-2\",\"instrument\":\"\xc3\x28\",\"side\":\"buy\"}\n");
    input.extend_from_slice((signal_json("e-3") + "\n").as_bytes());

    let out = run(command(&["enqueue"], &vars(&bot, &db)), input);

    assert_eq!(out.code(), Some(1), "{}", out.stderr);
    let acks = out.json();
    let outcomes: Vec<(u64, &str)> = acks
        .iter()
        .map(|a| (a["line"].as_u64().unwrap(), a["outcome"].as_str().unwrap()))
        .collect();
    assert_eq!(outcomes, [(1, "enqueued"), (2, "invalid"), (3, "enqueued")]);
    assert_eq!(acks[1]["reason"], "invalid_signal");
    assert!(
        acks[1]["error"]
            .as_str()
            .unwrap()
            .contains("not valid UTF-8"),
        "{}",
        acks[1]
    );
    assert_eq!(
        stored(&db, State::Pending).await,
        BTreeSet::from(["e-1".to_owned(), "e-3".to_owned()])
    );
    // Stored, not sent: a worker sends it.
    assert!(bot.messages().is_empty(), "{:?}", bot.messages());
    let alerts =
        worker_sends_stored_alerts(&vars(&bot, &db), &bot, 1, Duration::from_secs(10)).await;
    assert!(
        alerts.iter().any(|a| a.text.contains("UTF-8")),
        "{alerts:?}"
    );
    assert!(
        out.stderr
            .contains("3 signal(s): 2 enqueued, 0 duplicate, 0 conflict, 1 invalid"),
        "{}",
        out.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_conflict_with_a_stored_signal_is_alerted_and_the_stored_body_kept() {
    let bot = FakeBotApi::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("outbox.db");
    let first = signal_json("c-1");
    let out = run(
        command(&["enqueue"], &vars(&bot, &db)),
        first.clone() + "\n",
    );
    assert_eq!(out.code(), Some(0), "{}", out.stderr);

    // A later run, the same id with another body.
    let other = r#"{"id":"c-1","instrument":"ETH-USD","side":"sell"}"#;
    let out = run(
        command(&["enqueue"], &vars(&bot, &db)),
        format!("{other}\n"),
    );

    assert_eq!(out.code(), Some(1), "{}", out.stderr);
    let acks = out.json();
    assert_eq!(acks.len(), 1);
    assert_eq!(acks[0]["outcome"], "conflict", "{}", acks[0]);
    assert_eq!(acks[0]["reason"], "conflict", "{}", acks[0]);
    assert!(bot.messages().is_empty(), "{:?}", bot.messages());
    let alerts =
        worker_sends_stored_alerts(&vars(&bot, &db), &bot, 1, Duration::from_secs(10)).await;
    assert!(
        alerts
            .iter()
            .any(|a| a.text.contains("c-1") && a.text.contains("different body")),
        "{alerts:?}"
    );
    let rows = rows(&db, State::Pending, 10).await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].body_len, first.len() as u64, "the first body stays");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_with_the_input_open_stores_and_acknowledges_every_line_read() {
    for (signal, code, name) in [("TERM", 143, "SIGTERM"), ("INT", 130, "SIGINT")] {
        let bot = FakeBotApi::start().await.unwrap();
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("outbox.db");
        let mut enqueue = Running::spawn(command(&["enqueue"], &vars(&bot, &db)));
        // Three lines, each acknowledged before the next is written.
        for i in 0..3 {
            enqueue.write_line(&signal_json(&format!("{name}-{i}")));
            let ack = enqueue.next_json(Duration::from_secs(10));
            assert_eq!(ack["outcome"], "enqueued", "{name}: {ack}");
        }
        // Then a burst the command may be reading when the stop comes.
        let burst: String = (3..500)
            .map(|i| signal_json(&format!("{name}-{i}")) + "\n")
            .collect();
        enqueue.write(burst.as_bytes());
        enqueue.signal(signal);
        let out = enqueue.finish(Duration::from_secs(10));

        assert_eq!(out.code(), Some(code), "{name}: {}", out.stderr);
        assert!(
            out.stderr.contains(&format!("stopped by {name}")),
            "{name}: {}",
            out.stderr
        );
        let acked: BTreeSet<String> = out
            .json()
            .iter()
            .map(|a| {
                assert_eq!(a["outcome"], "enqueued", "{name}: {a}");
                a["id"].as_str().unwrap().to_owned()
            })
            .collect();
        assert!(acked.len() >= 3, "{name}: {}", acked.len());
        // Acknowledged means stored, and stored means acknowledged.
        assert_eq!(acked, stored(&db, State::Pending).await, "{name}");
        assert!(bot.messages().is_empty(), "{name}: a stop is not a failure");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_output_failure_stops_reading_and_logs_every_ack_it_cannot_print() {
    let bot = FakeBotApi::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("outbox.db");
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .unwrap();
    let mut enqueue = Running::spawn_with(
        command(&["enqueue"], &vars(&bot, &db)),
        common::Out::File(full),
    );
    let input: String = (0..5)
        .map(|i| signal_json(&format!("full-{i}")) + "\n")
        .collect();
    enqueue.write(input.as_bytes());
    let out = enqueue.finish(common::LIMIT);

    assert_eq!(out.code(), Some(1), "{}", out.stderr);
    assert!(
        out.stderr.contains("standard output failed"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("No space left on device"),
        "{}",
        out.stderr
    );
    let stored = stored(&db, State::Pending).await;
    assert!(!stored.is_empty(), "nothing was read");
    for id in &stored {
        assert!(
            out.stderr
                .lines()
                .any(|l| l.contains("output line not printed")
                    && l.contains(&format!(r#""id":"{id}""#))),
            "the ack of {id} is lost:\n{}",
            out.stderr
        );
    }
}
