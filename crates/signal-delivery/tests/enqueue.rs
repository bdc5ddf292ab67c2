//! The `enqueue` pipeline (`signal_delivery::enqueue::enqueue_stream`) on a
//! real SQLite file: bad lines are acknowledged as invalid and reading goes
//! on, conflicts are alerted, and a stop or an output failure still stores
//! and acknowledges every line read.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use signal_delivery::enqueue::{Ack, OutputFailed, enqueue_stream};
use signal_delivery::worker::{Worker, WorkerSettings};
use signal_model::MaxBytes;
use signal_outbox::{AlertKind, AlertState, AlertStore, Outbox, OutboxAdmin, OutboxExt, State};
use signal_outbox_sqlite::SqliteOutbox;
use std::sync::Arc;
use support::{signal_json, stack};

fn outbox(dir: &tempfile::TempDir) -> Arc<SqliteOutbox> {
    Arc::new(SqliteOutbox::open(&dir.path().join("outbox.db")).unwrap())
}

#[tokio::test]
async fn bad_lines_are_acknowledged_invalid_and_conflicts_alerted() {
    let s = stack(&[]).await;
    let dir = tempfile::tempdir().unwrap();
    let store = outbox(&dir);
    let mut input = Vec::new();
    input.extend_from_slice(signal_json("e-1").as_bytes());
    input.push(b'\n');
    input.extend_from_slice(b"{\"id\":\"e-2\",\"instrument\":\"\xc3\",\"side\":\"buy\"}\n");
    input.extend_from_slice(br#"{"id":"e-3","instrument":"X","side":"buy","side":"sell"}"#);
    input.push(b'\n');
    input.extend_from_slice(signal_json("e-1").as_bytes());
    input.push(b'\n');
    input.extend_from_slice(br#"{"id":"e-1","instrument":"ETH-USD","side":"sell"}"#);
    input.push(b'\n');
    input.extend_from_slice(
        format!("{{\"id\":\"e-6\",\"pad\":\"{}\"}}\n", "y".repeat(5000)).as_bytes(),
    );
    input.extend_from_slice(signal_json("e-7").as_bytes());
    let mut acks: Vec<Ack> = Vec::new();
    let report = enqueue_stream(
        &s.service,
        store.clone(),
        std::io::Cursor::new(input),
        MaxBytes::new(4096).unwrap(),
        std::future::pending(),
        |ack| {
            acks.push(ack.clone());
            Ok(())
        },
    )
    .await;
    let outcomes: Vec<(u64, &str)> = acks.iter().map(|a| (a.line, a.outcome)).collect();
    assert_eq!(
        outcomes,
        [
            (1, "enqueued"),
            (2, "invalid"),
            (3, "invalid"),
            (4, "duplicate"),
            (5, "conflict"),
            (6, "invalid"),
            (7, "enqueued"),
        ]
    );
    assert!(acks[1].error.as_deref().unwrap().contains("UTF-8"));
    assert!(acks[2].error.as_deref().unwrap().contains("side"));
    assert!(
        acks[5]
            .error
            .as_deref()
            .unwrap()
            .contains("SIGNAL_MAX_BYTES")
    );
    assert_eq!(acks[4].reason, Some("conflict"));
    assert!(!report.is_success());
    assert_eq!(
        store.get("e-7").await.unwrap().unwrap().state,
        State::Pending
    );
    // Nothing is sent from memory: every alert is stored with its batch,
    // three invalid lines and the conflict on line 5, for a worker to send.
    assert!(s.bot.messages().is_empty(), "{:?}", s.bot.messages());
    assert_eq!(report.alerts_stored, 3);
    let stored = store.alerts(None, 100).await.unwrap();
    let kinds: Vec<AlertKind> = stored.iter().map(|a| a.kind).collect();
    assert_eq!(
        kinds
            .iter()
            .filter(|k| **k == AlertKind::InvalidLine)
            .count(),
        3,
        "{stored:?}"
    );
    let conflict = stored
        .iter()
        .find(|a| a.kind == AlertKind::Conflict)
        .expect("the conflict alert");
    assert_eq!(
        conflict.payload,
        signal_outbox::conflict_payload("e-1", Some(5))
    );
    let invalid = stored
        .iter()
        .find(|a| a.kind == AlertKind::InvalidLine)
        .unwrap();
    assert!(
        invalid.group_key.starts_with("validate_signal:"),
        "{}",
        invalid.group_key
    );

    // A worker's alert sender sends them: the conflict and the invalid
    // lines reach Telegram, named by id, and none is left pending.
    let outbox: Arc<dyn Outbox> = store.clone();
    let settings = WorkerSettings::new(&s.config.outbox, 2);
    let bot = &s.bot;
    let all_sent = async move {
        for _ in 0..400 {
            let texts: Vec<String> = bot.messages().into_iter().map(|m| m.text).collect();
            let conflict = texts.iter().any(|t| t.contains("e-1"));
            let invalid = texts.iter().any(|t| t.contains("e-3"));
            if conflict && invalid {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    };
    Worker::new(outbox, s.service.clone(), settings)
        .run(all_sent)
        .await
        .unwrap();
    let texts: Vec<String> = s.bot.messages().into_iter().map(|m| m.text).collect();
    assert!(texts.iter().any(|t| t.contains("e-1")), "{texts:?}");
    assert!(texts.iter().any(|t| t.contains("e-3")), "{texts:?}");
    let stored = store.alerts(None, 100).await.unwrap();
    assert!(
        stored.iter().all(|a| a.state != AlertState::Pending),
        "{stored:?}"
    );
}

#[tokio::test]
async fn a_stop_stores_and_acknowledges_every_line_already_read() {
    use tokio::io::AsyncWriteExt;
    let s = stack(&[]).await;
    let dir = tempfile::tempdir().unwrap();
    let store = outbox(&dir);
    let (mut writer, reader) = tokio::io::duplex(64 * 1024);
    for i in 0..5 {
        writer
            .write_all(format!("{}\n", signal_json(&format!("t-{i}"))).as_bytes())
            .await
            .unwrap();
    }
    // The input stays open: only the stop ends the run, once the five lines
    // written are stored.
    let watched = store.clone();
    let stop = async move {
        loop {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            if watched.stats().await.unwrap().pending == 5 {
                return;
            }
        }
    };
    let mut acks = Vec::new();
    let report = tokio::time::timeout(
        std::time::Duration::from_secs(20),
        enqueue_stream(
            &s.service,
            store.clone(),
            reader,
            MaxBytes::DEFAULT,
            stop,
            |ack| {
                acks.push(ack.clone());
                Ok(())
            },
        ),
    )
    .await
    .expect("the stop ends the run although the input is still open");
    drop(writer);
    assert!(report.stopped);
    assert_eq!(report.summary.enqueued, 5);
    let lines: Vec<u64> = acks.iter().map(|a| a.line).collect();
    assert_eq!(lines, [1, 2, 3, 4, 5]);
}

#[tokio::test]
async fn an_output_failure_stops_reading_after_storing_what_was_read() {
    let s = stack(&[]).await;
    let dir = tempfile::tempdir().unwrap();
    let store = outbox(&dir);
    let input: String = (0..3000)
        .map(|i| signal_json(&format!("f-{i}")) + "\n")
        .collect();
    let mut calls = 0u64;
    let report = enqueue_stream(
        &s.service,
        store.clone(),
        std::io::Cursor::new(input.into_bytes()),
        MaxBytes::DEFAULT,
        std::future::pending(),
        |_ack| {
            calls += 1;
            Err(OutputFailed)
        },
    )
    .await;
    assert!(report.output_failed);
    assert!(!report.is_success());
    // Every acknowledgement handed over belongs to a stored signal.
    let stored = store.stats().await.unwrap().pending;
    assert_eq!(stored, calls);
    assert_eq!(report.summary.enqueued, calls);
}

#[tokio::test]
async fn a_full_outbox_acknowledges_nothing_it_did_not_store_and_alerts_the_owner() {
    let s = stack(&[]).await;
    let dir = tempfile::tempdir().unwrap();
    let options = signal_outbox_sqlite::SqliteOptions::default().with_max_pages(80);
    let store = Arc::new(SqliteOutbox::open_with(&dir.path().join("outbox.db"), options).unwrap());
    // Big signals (16 KiB each) until the capped file is full.
    let pad = "x".repeat(16 * 1024);
    let mut input = String::new();
    for i in 0..200 {
        input.push_str(&format!(
            "{{\"id\":\"f-{i}\",\"instrument\":\"BTC-USD\",\"side\":\"buy\",\"note\":\"{pad}\"}}\n"
        ));
    }
    let mut acks: Vec<Ack> = Vec::new();
    let report = enqueue_stream(
        &s.service,
        store.clone(),
        std::io::Cursor::new(input.into_bytes()),
        MaxBytes::new(64 * 1024).unwrap(),
        std::future::pending(),
        |ack| {
            acks.push(ack.clone());
            Ok(())
        },
    )
    .await;
    let failure = report
        .failure
        .as_deref()
        .expect("the full outbox stops the run");
    assert!(failure.contains("NOT enqueued"), "{failure}");
    assert!(!report.is_success());
    // Every acknowledged signal is stored; nothing unstored was acknowledged.
    let stats = store.stats().await.unwrap();
    assert_eq!(stats.pending, acks.len() as u64, "{failure}");
    assert!(acks.len() < 200, "the cap never bit");
    for ack in &acks {
        assert_eq!(ack.outcome, "enqueued");
        let id = ack.id.as_deref().unwrap();
        assert!(store.get(id).await.unwrap().is_some(), "{id}");
    }
    // The owner is told at once, from memory (the outbox cannot take it).
    let alerts = s
        .bot
        .wait_for_messages(1, std::time::Duration::from_secs(5))
        .await;
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    let text = &alerts[0].text;
    assert!(
        text.contains("CRITICAL")
            && text.contains("could not store signals")
            && text.contains("NOT acknowledged"),
        "{text}"
    );
}
