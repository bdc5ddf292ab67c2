//! Wake-up hints between handles of one file, as between processes: a
//! worker subscribed on one handle is woken by an enqueue, a replay or a
//! release on another, only after the commit; a socket left behind by a
//! killed worker is cleaned up by the next sender.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use signal_outbox::{NewSignal, OutboxExt, SignalStore};
use signal_outbox_sqlite::SqliteOutbox;
use std::time::{Duration, Instant};

fn signal(id: &str) -> NewSignal {
    NewSignal::new(id, format!(r#"{{"id":"{id}"}}"#).into_bytes())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_enqueue_on_another_handle_wakes_a_subscribed_worker_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("outbox.db");
    let worker_side = SqliteOutbox::open(&path).unwrap();
    let producer_side = SqliteOutbox::open(&path).unwrap();
    let mut hints = worker_side.wake_hints().expect("hints on a short path");

    // Nothing happened: no hint.
    let quiet = tokio::time::timeout(Duration::from_millis(100), hints.next()).await;
    assert!(quiet.is_err(), "a hint without work");

    let sent = Instant::now();
    let _ = producer_side.enqueue_one(signal("w-1")).await.unwrap();
    tokio::time::timeout(Duration::from_secs(2), hints.next())
        .await
        .expect("woken by the enqueue");
    let latency = sent.elapsed();
    assert!(latency < Duration::from_secs(2), "{latency:?}");
    eprintln!("enqueue commit to hint: {latency:?}");
    // The work is visible when the hint arrives.
    let claims = worker_side
        .claim("w", 10, Duration::from_secs(30))
        .await
        .unwrap();
    assert_eq!(claims.rows.len(), 1);

    // A duplicate makes no work: no hint.
    let _ = producer_side.enqueue_one(signal("w-1")).await.unwrap();
    let quiet = tokio::time::timeout(Duration::from_millis(100), hints.next()).await;
    assert!(quiet.is_err(), "a hint for a duplicate");

    // A release makes the row due again: a hint.
    let _ = worker_side.release_all("w").await.unwrap();
    tokio::time::timeout(Duration::from_secs(2), hints.next())
        .await
        .expect("woken by the release");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_subscription_leaves_no_socket_and_a_dead_one_is_cleaned_up() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("outbox.db");
    let outbox = SqliteOutbox::open(&path).unwrap();
    let wake_dir = dir.path().join("outbox.db.wake");
    let hints = outbox.wake_hints().unwrap();
    assert_eq!(std::fs::read_dir(&wake_dir).unwrap().count(), 1);
    drop(hints);
    assert_eq!(std::fs::read_dir(&wake_dir).unwrap().count(), 0);

    // A socket file nobody listens on (its worker was SIGKILLed).
    let stale = wake_dir.join("999999-1.sock");
    drop(std::os::unix::net::UnixDatagram::bind(&stale).unwrap());
    assert!(stale.exists());
    let _ = outbox.enqueue_one(signal("s-1")).await.unwrap();
    assert!(!stale.exists(), "the refused send removed it");
}

#[test]
fn outside_a_runtime_there_are_no_hints_and_the_worker_polls() {
    let dir = tempfile::tempdir().unwrap();
    let outbox = SqliteOutbox::open(&dir.path().join("outbox.db")).unwrap();
    assert!(outbox.wake_hints().is_none());
}
