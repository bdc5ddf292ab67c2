//! The outbox worker in process, on tokio's paused clock: lease expiry,
//! a retry schedule that survives restarts, and give-ups that dead-letter
//! and alert like `deliver` does.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use loopback_fakes::signal_server::Reply;
use signal_delivery::worker::{Worker, WorkerClock, WorkerReport, WorkerSettings};
use signal_outbox::{DeadReason, NewSignal, Outbox, SqliteOutbox, State};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

const BASE: i64 = 1_700_000_000_000;

/// Unix milliseconds that follow tokio's (paused) clock, from `BASE`.
fn clock() -> WorkerClock {
    let start = Instant::now();
    Arc::new(move || BASE + i64::try_from(start.elapsed().as_millis()).unwrap())
}

fn temp_db(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "sd-worker-{name}-{}-{}",
        std::process::id(),
        signal_outbox::now_millis()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join("outbox.db")
}

fn settings() -> WorkerSettings {
    WorkerSettings {
        lease: Duration::from_secs(30),
        poll_interval: Duration::from_millis(50),
        batch_size: 10,
        concurrency: 4,
        stats_interval: Duration::from_secs(5),
    }
}

const FAST: &[(&str, &str)] = &[
    ("MAX_RETRIES", "5"),
    ("RETRY_DELAY_SECONDS", "1"),
    ("RETRY_JITTER", "none"),
    ("RETRY_BUDGET", "off"),
];

async fn run_for(
    outbox: &Arc<SqliteOutbox>,
    stack: &support::Stack,
    clock: &WorkerClock,
    name: &str,
    settings: WorkerSettings,
    duration: Duration,
) -> WorkerReport {
    let outbox: Arc<dyn Outbox> = outbox.clone();
    Worker::new(outbox, stack.service.clone(), settings)
        .with_clock(clock.clone())
        .with_name(name)
        .run(tokio::time::sleep(duration))
        .await
        .unwrap()
}

#[tokio::test(start_paused = true)]
async fn a_row_claimed_by_a_dead_worker_is_picked_up_after_its_lease() {
    let stack = support::stack(FAST).await;
    let outbox = Arc::new(SqliteOutbox::open(&temp_db("lease")).unwrap());
    let clock = clock();
    let body = support::signal_json("sig-lease");
    let _ = outbox
        .enqueue(NewSignal::new("sig-lease", body.as_bytes()), clock())
        .unwrap();
    // A worker claims the row for 2 s and dies without recording anything.
    let claimed = outbox
        .claim_due("dead-worker", clock(), 10, Duration::from_secs(2))
        .unwrap();
    assert_eq!(claimed.len(), 1);

    // Within the lease nobody else may take it.
    let report = run_for(
        &outbox,
        &stack,
        &clock,
        "w-new",
        settings(),
        Duration::from_millis(1500),
    )
    .await;
    assert_eq!(report.claimed, 0);
    assert_eq!(stack.server.request_count(), 0);
    let row = outbox.get("sig-lease").unwrap().unwrap();
    assert_eq!(row.state, State::InFlight);
    assert_eq!(row.lease_owner.as_deref(), Some("dead-worker"));

    // Once the lease has expired, a live worker takes it over and delivers.
    let report = run_for(
        &outbox,
        &stack,
        &clock,
        "w-newer",
        settings(),
        Duration::from_millis(1500),
    )
    .await;
    assert_eq!((report.claimed, report.delivered), (1, 1), "{report:?}");
    let row = outbox.get("sig-lease").unwrap().unwrap();
    assert_eq!(row.state, State::Delivered);
    assert_eq!((row.attempts, row.claims), (1, 2));
    let received = stack.server.received();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].id, "sig-lease");
    assert!(received[0].verified);
}

#[tokio::test(start_paused = true)]
async fn a_restarted_worker_continues_the_stored_schedule() {
    let stack = support::stack(FAST).await;
    stack.server.set_default(Reply::status(503));
    let outbox = Arc::new(SqliteOutbox::open(&temp_db("schedule")).unwrap());
    let clock = clock();
    let body = support::signal_json("sig-sched");
    let _ = outbox
        .enqueue(NewSignal::new("sig-sched", body.as_bytes()), clock())
        .unwrap();

    // Attempts at 0 s and 1 s fail; the next is due 2 s later (at ~3 s). Stop at 2.5 s.
    let first = run_for(
        &outbox,
        &stack,
        &clock,
        "w1",
        settings(),
        Duration::from_millis(2500),
    )
    .await;
    assert_eq!(first.rescheduled, 2, "{first:?}");
    assert_eq!(first.released, 0);
    let row = outbox.get("sig-sched").unwrap().unwrap();
    assert_eq!((row.state, row.attempts), (State::Pending, 2));
    let due = row.next_attempt_at - BASE;
    assert!((3000..3200).contains(&due), "next attempt at +{due} ms");
    assert!(row.last_error.unwrap().contains("503"));

    // A new process: it continues with attempt 3 at ~3 s, then waits 4 s.
    let second = run_for(
        &outbox,
        &stack,
        &clock,
        "w2",
        settings(),
        Duration::from_millis(3000),
    )
    .await;
    assert_eq!(second.rescheduled, 1, "{second:?}");
    let row = outbox.get("sig-sched").unwrap().unwrap();
    assert_eq!((row.state, row.attempts), (State::Pending, 3));
    let due = row.next_attempt_at - BASE;
    assert!((7000..7300).contains(&due), "next attempt at +{due} ms");

    // The receiver recovers; a third process delivers on attempt 4.
    stack.server.set_default(Reply::Accept);
    let third = run_for(
        &outbox,
        &stack,
        &clock,
        "w3",
        settings(),
        Duration::from_millis(3000),
    )
    .await;
    assert_eq!(third.delivered, 1, "{third:?}");
    let row = outbox.get("sig-sched").unwrap().unwrap();
    assert_eq!((row.state, row.attempts), (State::Delivered, 4));

    // Same webhook-id every time; gaps 1 s, 2 s, 4 s as if never restarted.
    let received = stack.server.received();
    assert_eq!(received.len(), 4);
    assert!(received.iter().all(|r| r.id == "sig-sched" && r.verified));
    let gaps: Vec<u128> = received
        .windows(2)
        .map(|w| (w[1].at - w[0].at).as_millis())
        .collect();
    for (gap, expected) in gaps.iter().zip([1000u128, 2000, 4000]) {
        assert!(
            (expected..expected + 200).contains(gap),
            "gaps {gaps:?}, expected about 1000, 2000, 4000"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn exhausted_retries_dead_letter_and_alert_once() {
    let stack = support::stack(&[
        ("MAX_RETRIES", "1"),
        ("RETRY_DELAY_SECONDS", "1"),
        ("RETRY_JITTER", "none"),
        ("RETRY_BUDGET", "off"),
    ])
    .await;
    stack.server.set_default(Reply::status(503));
    let outbox = Arc::new(SqliteOutbox::open(&temp_db("exhausted")).unwrap());
    let clock = clock();
    let body = support::signal_json("sig-dead");
    let _ = outbox
        .enqueue(NewSignal::new("sig-dead", body.as_bytes()), clock())
        .unwrap();
    let report = run_for(
        &outbox,
        &stack,
        &clock,
        "w1",
        settings(),
        Duration::from_secs(3),
    )
    .await;
    assert_eq!((report.rescheduled, report.dead_lettered), (1, 1));
    let row = outbox.get("sig-dead").unwrap().unwrap();
    assert_eq!(row.state, State::DeadLettered);
    assert_eq!(row.dead_reason, Some(DeadReason::Exhausted));
    assert_eq!(row.attempts, 2);
    let alerts = stack.bot.wait_for_messages(1, Duration::from_secs(5)).await;
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert!(alerts[0].text.contains("sig-dead"), "{}", alerts[0].text);

    // Replay after the cause is fixed: delivered on the next run.
    stack.server.set_default(Reply::Accept);
    outbox.replay("sig-dead", clock()).unwrap();
    let report = run_for(
        &outbox,
        &stack,
        &clock,
        "w2",
        settings(),
        Duration::from_secs(1),
    )
    .await;
    assert_eq!(report.delivered, 1);
    assert_eq!(
        outbox.get("sig-dead").unwrap().unwrap().state,
        State::Delivered
    );
}

#[tokio::test(start_paused = true)]
async fn permanent_rejections_are_dead_lettered_with_their_reason() {
    let stack = support::stack(FAST).await;
    let outbox = Arc::new(SqliteOutbox::open(&temp_db("permanent")).unwrap());
    let clock = clock();
    let (rejected, forged) = (
        support::signal_json("sig-400"),
        support::signal_json("sig-401"),
    );
    let _ = outbox
        .enqueue_batch(
            &[
                NewSignal::new("sig-400", rejected.as_bytes()),
                NewSignal::new("sig-401", forged.as_bytes()),
            ],
            clock(),
        )
        .unwrap();
    stack.server.set_responder(|request| {
        if request.id == "sig-400" {
            Reply::status(400)
        } else {
            Reply::status(401)
        }
    });
    let report = run_for(
        &outbox,
        &stack,
        &clock,
        "w1",
        settings(),
        Duration::from_secs(1),
    )
    .await;
    assert_eq!(report.dead_lettered, 2, "{report:?}");
    let reason = |id: &str| outbox.get(id).unwrap().unwrap().dead_reason;
    assert_eq!(reason("sig-400"), Some(DeadReason::Rejected));
    assert_eq!(reason("sig-401"), Some(DeadReason::SignatureRejected));
    assert_eq!(
        stack.server.request_count(),
        2,
        "permanent errors are not retried"
    );
}

/// A budget of one retry per second (1 % of first attempts on a floor of
/// 1 per second, over 1 s): two or more signals failing together exceed it.
const TIGHT_BUDGET: &[(&str, &str)] = &[
    ("MAX_RETRIES", "5"),
    ("RETRY_DELAY_SECONDS", "1"),
    ("RETRY_JITTER", "none"),
    ("RETRY_BUDGET", "on"),
    ("RETRY_BUDGET_PERCENT", "1"),
    ("RETRY_BUDGET_MIN_PER_SECOND", "1"),
    ("RETRY_BUDGET_WINDOW_SECONDS", "1"),
];

fn enqueue_all(outbox: &SqliteOutbox, clock: &WorkerClock, ids: &[&str]) {
    let bodies: Vec<String> = ids.iter().map(|id| support::signal_json(id)).collect();
    let items: Vec<NewSignal<'_>> = ids
        .iter()
        .zip(&bodies)
        .map(|(id, body)| NewSignal::new(id, body.as_bytes()))
        .collect();
    let _ = outbox.enqueue_batch(&items, clock()).unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_refused_retry_is_rescheduled_without_counting_an_attempt() {
    let stack = support::stack(TIGHT_BUDGET).await;
    stack.server.set_default(Reply::status(503));
    let outbox = Arc::new(SqliteOutbox::open(&temp_db("deferred")).unwrap());
    let clock = clock();
    enqueue_all(&outbox, &clock, &["sig-a", "sig-b"]);

    // 0 s: both first attempts fail. 1 s: both retries fall due, the window
    // (its first attempts gone) allows one: the other is deferred.
    let report = run_for(
        &outbox,
        &stack,
        &clock,
        "w1",
        settings(),
        Duration::from_millis(1300),
    )
    .await;
    assert_eq!((report.rescheduled, report.deferred), (3, 1), "{report:?}");
    assert_eq!(stack.server.request_count(), 3, "a deferral sends nothing");
    let rows: Vec<_> = ["sig-a", "sig-b"]
        .iter()
        .map(|id| outbox.get(id).unwrap().unwrap())
        .collect();
    let retried = rows.iter().find(|r| r.attempts == 2).expect("one retried");
    let deferred = rows.iter().find(|r| r.attempts == 1).expect("one deferred");
    assert_eq!(retried.state, State::Pending);
    assert_eq!(deferred.state, State::Pending);
    // Deferred by 0.5 s to 1.5 s from the moment it fell due (about 1 s).
    let due = deferred.next_attempt_at - BASE;
    assert!((1500..2600).contains(&due), "deferred to +{due} ms");
    // The row still shows what the server said last, and one more claim.
    assert!(
        deferred.last_error.as_deref().unwrap().contains("503"),
        "{:?}",
        deferred.last_error
    );
    assert_eq!(deferred.claims, 2);

    // The server recovers: the deferred retry goes once the window frees it,
    // and it is attempt 2, not 3.
    stack.server.set_default(Reply::Accept);
    let report = run_for(
        &outbox,
        &stack,
        &clock,
        "w2",
        settings(),
        Duration::from_secs(4),
    )
    .await;
    assert_eq!(report.delivered, 2, "{report:?}");
    let deferred = outbox.get(&deferred.id).unwrap().unwrap();
    assert_eq!((deferred.state, deferred.attempts), (State::Delivered, 2));
    let retried = outbox.get(&retried.id).unwrap().unwrap();
    assert_eq!((retried.state, retried.attempts), (State::Delivered, 3));
}

#[tokio::test(start_paused = true)]
async fn a_signal_is_dead_lettered_budget_only_once_its_deadline_passes_while_deferred() {
    let mut vars = TIGHT_BUDGET.to_vec();
    vars.push(("RETRY_MAX_ELAPSED_SECONDS", "3"));
    let stack = support::stack(&vars).await;
    stack.server.set_default(Reply::status(503));
    let outbox = Arc::new(SqliteOutbox::open(&temp_db("held-back")).unwrap());
    let clock = clock();
    let ids = ["sig-1", "sig-2", "sig-3", "sig-4", "sig-5"];
    enqueue_all(&outbox, &clock, &ids);

    // Before the 3 s deadline: retries are deferred, nothing fails for the budget.
    let report = run_for(
        &outbox,
        &stack,
        &clock,
        "w1",
        settings(),
        Duration::from_millis(2900),
    )
    .await;
    assert!(report.deferred >= 4, "{report:?}");
    for id in ids {
        let row = outbox.get(id).unwrap().unwrap();
        assert_ne!(row.dead_reason, Some(DeadReason::Budget), "{row:?}");
        if row.state == State::Pending {
            assert!(row.attempts <= 2, "{row:?}");
        }
    }
    let sent_before_deadline = stack.server.request_count();
    // 5 first attempts, then at most one retry per second of the window.
    assert!(sent_before_deadline <= 5 + 3, "{sent_before_deadline}");

    // Past the deadline: every signal is dead-lettered; those the budget held
    // back until then say `budget`, with their last real error and attempts.
    let report = run_for(
        &outbox,
        &stack,
        &clock,
        "w2",
        settings(),
        Duration::from_secs(2),
    )
    .await;
    let rows: Vec<_> = ids
        .iter()
        .map(|id| outbox.get(id).unwrap().unwrap())
        .collect();
    assert!(
        rows.iter().all(|r| r.state == State::DeadLettered),
        "{report:?} {rows:?}"
    );
    let held_back: Vec<_> = rows
        .iter()
        .filter(|r| r.dead_reason == Some(DeadReason::Budget))
        .collect();
    assert!(!held_back.is_empty(), "{rows:?}");
    for row in &held_back {
        let age = row.updated_at - row.enqueued_at;
        assert!(
            age >= 3000,
            "dead-lettered at +{age} ms, before the deadline"
        );
        assert!((1..=2).contains(&row.attempts), "{row:?}");
        let text = row.last_error.as_deref().unwrap();
        assert!(
            text.contains("retry budget held the retry back until the deadline")
                && text.contains("503"),
            "{text}"
        );
    }
    let others: Vec<_> = rows
        .iter()
        .filter(|r| r.dead_reason != Some(DeadReason::Budget))
        .collect();
    assert!(
        others
            .iter()
            .all(|r| r.dead_reason == Some(DeadReason::Deadline)),
        "{others:?}"
    );
    // Each give-up was alerted (the first of each kind at once).
    let alerts = stack.bot.wait_for_messages(2, Duration::from_secs(5)).await;
    assert!(
        alerts.iter().any(|a| a.text.contains("retry budget held")),
        "{alerts:?}"
    );
}
