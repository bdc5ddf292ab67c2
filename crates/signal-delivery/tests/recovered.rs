//! The recovered message from the outbox worker, on tokio's paused clock:
//! an outage (503s until signals are dead-lettered), then a delivery, gives
//! exactly one "RESOLVED" message, stored by the outbox with the delivery
//! and sent by the worker's alert sender; a run without failures gives none,
//! and so does a failure that opens no outage (a 422 rejection).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use loopback_fakes::signal_server::Reply;
use signal_delivery::worker::{Worker, WorkerSettings};
use signal_outbox::{AlertKind, AlertStore, NewSignal, Outbox, OutboxExt};
use signal_outbox_sqlite::SqliteOutbox;
use std::sync::Arc;
use std::time::Duration;
use support::{TokioTime, outbox_on};

const FAST: &[(&str, &str)] = &[
    ("MAX_RETRIES", "1"),
    ("RETRY_DELAY_SECONDS", "1"),
    ("RETRY_JITTER", "none"),
    ("RETRY_BUDGET", "off"),
];

fn settings() -> WorkerSettings {
    WorkerSettings {
        lease: Duration::from_secs(30),
        poll_interval: Duration::from_millis(50),
        batch_size: 10,
        concurrency: 4,
        stats_interval: Duration::from_secs(5),
        heartbeat_interval: Duration::from_secs(5),
        retention: None,
        exit_after_unavailable: Duration::from_secs(600),
    }
}

async fn enqueue(outbox: &SqliteOutbox, id: &str) {
    let body = support::signal_json(id).into_bytes();
    let _ = outbox.enqueue_one(NewSignal::new(id, body)).await.unwrap();
}

/// Runs one worker for `duration` (tokio time), named `name`.
async fn run_for(
    outbox: &Arc<SqliteOutbox>,
    stack: &support::Stack,
    name: &str,
    duration: Duration,
) {
    let outbox: Arc<dyn Outbox> = outbox.clone();
    let _ = Worker::new(outbox, stack.service.clone(), settings())
        .with_name(name)
        .run(tokio::time::sleep(duration))
        .await
        .unwrap();
}

fn resolved(stack: &support::Stack) -> Vec<String> {
    stack
        .bot
        .messages()
        .into_iter()
        .map(|m| m.text)
        .filter(|t| t.contains("RESOLVED"))
        .collect()
}

#[tokio::test(start_paused = true)]
async fn an_outage_then_a_delivery_gives_exactly_one_recovered_message() {
    let stack = support::stack(FAST).await;
    let (_dir, outbox) = outbox_on(TokioTime::new(1_700_000_000_000));
    stack.server.set_default(Reply::status(503));
    for id in ["o-1", "o-2", "o-3"] {
        enqueue(&outbox, id).await;
    }
    run_for(&outbox, &stack, "w1", Duration::from_secs(5)).await;
    assert!(resolved(&stack).is_empty(), "no recovery yet");
    let outage = outbox
        .ledger()
        .await
        .unwrap()
        .outage
        .expect("an open outage");
    assert_eq!(outage.failed, 3);

    // The server is back: the next deliveries close the outage, once.
    stack.server.set_default(Reply::status(200));
    for id in ["r-1", "r-2", "r-3"] {
        enqueue(&outbox, id).await;
    }
    // Long enough for the last worker's sender lease to run out.
    run_for(&outbox, &stack, "w1", Duration::from_secs(60)).await;
    for id in ["r-1", "r-2", "r-3"] {
        let row = outbox.get(id).await.unwrap().unwrap();
        assert_eq!(row.state, signal_outbox::State::Delivered, "{row:?}");
    }
    let messages = resolved(&stack);
    assert_eq!(messages.len(), 1, "{messages:#?}");
    let text = &messages[0];
    assert!(
        text.contains('3'),
        "the 3 failed signals are counted: {text}"
    );
    assert!(text.contains("outbox replay"), "the replay command: {text}");
    assert!(outbox.ledger().await.unwrap().outage.is_none());
    let stored = outbox.alerts(None, 100).await.unwrap();
    assert_eq!(
        stored
            .iter()
            .filter(|a| a.kind == AlertKind::Recovered)
            .count(),
        1,
        "{stored:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn no_recovered_message_without_an_outage() {
    let stack = support::stack(FAST).await;
    let (_dir, outbox) = outbox_on(TokioTime::new(1_700_000_000_000));
    for id in ["c-1", "c-2"] {
        enqueue(&outbox, id).await;
    }
    run_for(&outbox, &stack, "w1", Duration::from_secs(3)).await;
    assert!(
        stack.bot.messages().is_empty(),
        "{:?}",
        stack.bot.messages()
    );

    // A rejection is alerted but opens no outage: no recovery follows it.
    stack.server.set_default(Reply::status(422));
    enqueue(&outbox, "bad-1").await;
    run_for(&outbox, &stack, "w1", Duration::from_secs(3)).await;
    stack.server.set_default(Reply::status(200));
    enqueue(&outbox, "c-3").await;
    run_for(&outbox, &stack, "w1", Duration::from_secs(60)).await;
    let texts: Vec<String> = stack.bot.messages().into_iter().map(|m| m.text).collect();
    assert!(texts.iter().any(|t| t.contains("bad-1")), "{texts:?}");
    assert!(resolved(&stack).is_empty(), "{texts:#?}");
}
