//! The outbox worker in process, on tokio's paused clock: lease expiry,
//! a retry schedule that survives restarts, and give-ups that dead-letter
//! and alert like `deliver` does.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use loopback_fakes::signal_server::Reply;
use signal_delivery::worker::{Worker, WorkerReport, WorkerSettings};
use signal_outbox::{
    AlertKind, AlertStore, FailureReason, NewSignal, Outbox, OutboxExt, SignalStore, State,
    WorkerRegistry,
};
use signal_outbox_sqlite::SqliteOutbox;
use std::sync::Arc;
use std::time::Duration;
use support::{TokioTime, audit, outbox_on};

/// Where the outbox's clock (following tokio's paused clock) starts.
const BASE: i64 = 1_700_000_000_000;

/// A fresh outbox whose clock follows tokio's.
fn outbox() -> (tempfile::TempDir, Arc<SqliteOutbox>) {
    outbox_on(TokioTime::new(BASE))
}

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

const FAST: &[(&str, &str)] = &[
    ("MAX_RETRIES", "5"),
    ("RETRY_DELAY_SECONDS", "1"),
    ("RETRY_JITTER", "none"),
    ("RETRY_BUDGET", "off"),
];

async fn run_for(
    outbox: &Arc<SqliteOutbox>,
    stack: &support::Stack,
    name: &str,
    settings: WorkerSettings,
    duration: Duration,
) -> WorkerReport {
    let outbox: Arc<dyn Outbox> = outbox.clone();
    Worker::new(outbox, stack.service.clone(), settings)
        .with_name(name)
        .run(tokio::time::sleep(duration))
        .await
        .unwrap()
}

#[tokio::test(start_paused = true)]
async fn a_row_claimed_by_a_dead_worker_is_picked_up_after_its_lease() {
    let recorder = metrics_util::debugging::DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let _guard = metrics::set_default_local_recorder(&recorder);
    let stack = support::stack(FAST).await;
    let (_dir, outbox) = outbox();
    let body = support::signal_json("sig-lease");
    let _ = outbox
        .enqueue_one(NewSignal::new("sig-lease", body.into_bytes()))
        .await
        .unwrap();
    // A worker claims the row for 2 s and dies without recording anything.
    let claimed = outbox
        .claim("dead-worker", 10, Duration::from_secs(2))
        .await
        .unwrap();
    assert_eq!(claimed.rows.len(), 1);

    // Within the lease nobody else may take it.
    let report = run_for(
        &outbox,
        &stack,
        "w-new",
        settings(),
        Duration::from_millis(1500),
    )
    .await;
    assert_eq!(report.claimed, 0);
    assert_eq!(stack.server.request_count(), 0);
    let row = outbox.get("sig-lease").await.unwrap().unwrap();
    assert_eq!(row.state, State::InFlight);
    assert_eq!(row.lease_owner.as_deref(), Some("dead-worker"));

    // Once the lease has expired, a live worker takes it over and delivers.
    let report = run_for(
        &outbox,
        &stack,
        "w-newer",
        settings(),
        Duration::from_millis(1500),
    )
    .await;
    assert_eq!((report.claimed, report.delivered), (1, 1), "{report:?}");
    let row = outbox.get("sig-lease").await.unwrap().unwrap();
    assert_eq!(row.state, State::Delivered);
    assert_eq!((row.attempts, row.claims), (1, 2));
    let received = stack.server.received();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].id, "sig-lease");
    assert!(received[0].verified);
    // The takeover is counted once, and nothing else was: the first worker
    // claimed nothing, and the second's outcome was not fenced.
    let metrics = support::Metrics::take(&snapshotter);
    use signal_delivery::telemetry::{
        ATTEMPT_SECONDS, OUTBOX_FENCED_TOTAL, OUTBOX_LEASE_EXPIRIES_TOTAL,
    };
    assert_eq!(metrics.counter(OUTBOX_LEASE_EXPIRIES_TOTAL, &[]), 1);
    assert_eq!(metrics.counter(OUTBOX_FENCED_TOTAL, &[]), 0);
    assert_eq!(metrics.histogram_count(ATTEMPT_SECONDS), 1);
}

#[tokio::test(start_paused = true)]
async fn a_restarted_worker_continues_the_stored_schedule() {
    let stack = support::stack(FAST).await;
    stack.server.set_default(Reply::status(503));
    let (_dir, outbox) = outbox();
    let body = support::signal_json("sig-sched");
    let _ = outbox
        .enqueue_one(NewSignal::new("sig-sched", body.into_bytes()))
        .await
        .unwrap();

    // Attempts at 0 s and 1 s fail; the next is due 2 s later (at ~3 s). Stop at 2.5 s.
    let first = run_for(
        &outbox,
        &stack,
        "w1",
        settings(),
        Duration::from_millis(2500),
    )
    .await;
    assert_eq!(first.rescheduled, 2, "{first:?}");
    assert_eq!(first.released, 0);
    let row = outbox.get("sig-sched").await.unwrap().unwrap();
    assert_eq!((row.state, row.attempts), (State::Pending, 2));
    let due = row.next_attempt_at - BASE;
    assert!((3000..3200).contains(&due), "next attempt at +{due} ms");
    assert!(row.last_error.unwrap().contains("503"));

    // A new process: it continues with attempt 3 at ~3 s, then waits 4 s.
    let second = run_for(
        &outbox,
        &stack,
        "w2",
        settings(),
        Duration::from_millis(3000),
    )
    .await;
    assert_eq!(second.rescheduled, 1, "{second:?}");
    let row = outbox.get("sig-sched").await.unwrap().unwrap();
    assert_eq!((row.state, row.attempts), (State::Pending, 3));
    let due = row.next_attempt_at - BASE;
    assert!((7000..7300).contains(&due), "next attempt at +{due} ms");

    // The receiver recovers; a third process delivers on attempt 4.
    stack.server.set_default(Reply::Accept);
    let third = run_for(
        &outbox,
        &stack,
        "w3",
        settings(),
        Duration::from_millis(3000),
    )
    .await;
    assert_eq!(third.delivered, 1, "{third:?}");
    let row = outbox.get("sig-sched").await.unwrap().unwrap();
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
    let (_dir, outbox) = outbox();
    let body = support::signal_json("sig-dead");
    let _ = outbox
        .enqueue_one(NewSignal::new("sig-dead", body.into_bytes()))
        .await
        .unwrap();
    let report = run_for(&outbox, &stack, "w1", settings(), Duration::from_secs(3)).await;
    assert_eq!((report.rescheduled, report.dead_lettered), (1, 1));
    let row = outbox.get("sig-dead").await.unwrap().unwrap();
    assert_eq!(row.state, State::DeadLettered);
    assert_eq!(row.dead_reason, Some(FailureReason::Exhausted));
    assert_eq!(row.attempts, 2);
    let alerts = stack.bot.wait_for_messages(1, Duration::from_secs(5)).await;
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert!(alerts[0].text.contains("sig-dead"), "{}", alerts[0].text);

    // The alert is also stored, in the dead letter's transaction, and the
    // ledger counts an outage (a 503 is the server's failure).
    let stored = outbox.alerts(None, 10).await.unwrap();
    assert_eq!(stored.len(), 1, "{stored:?}");
    assert_eq!(stored[0].kind, AlertKind::SignalFailure);
    assert_eq!(stored[0].group_key, "post_signal:exhausted:http_503");
    assert_eq!(stored[0].consecutive, 1);
    let payload: serde_json::Value = serde_json::from_str(&stored[0].payload).unwrap();
    assert_eq!(payload["signal_id"], "sig-dead");
    assert_eq!(payload["reason"], "exhausted");
    assert_eq!(
        (
            payload["attempts"]["made"].as_u64(),
            payload["attempts"]["allowed"].as_u64()
        ),
        (Some(2), Some(2))
    );
    assert_eq!(payload["security"], false);
    assert!(
        payload["error"].as_str().unwrap().contains("503"),
        "{payload}"
    );
    let outage = outbox
        .ledger()
        .await
        .unwrap()
        .outage
        .expect("an outage is open");
    assert_eq!(outage.failed, 1);
    // Both attempts are in the attempt log, with the worker that made them.
    let log = outbox.detail("sig-dead").await.unwrap().unwrap().attempts;
    let seen: Vec<_> = log
        .iter()
        .map(|a| {
            (
                a.attempt,
                a.status,
                a.error_class.as_deref(),
                a.worker.as_str(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            (1, Some(503), Some("http_503"), "w1"),
            (2, Some(503), Some("http_503"), "w1")
        ]
    );
    assert!((log[1].at - log[0].at) >= 1000, "one second apart: {log:?}");

    // Replay after the cause is fixed: delivered on the next run, and the
    // outage ends with one stored recovered alert.
    stack.server.set_default(Reply::Accept);
    outbox.replay_one("sig-dead", audit()).await.unwrap();
    let report = run_for(&outbox, &stack, "w2", settings(), Duration::from_secs(1)).await;
    assert_eq!(report.delivered, 1);
    assert_eq!(
        outbox.get("sig-dead").await.unwrap().unwrap().state,
        State::Delivered
    );
    let kinds: Vec<AlertKind> = outbox
        .alerts(None, 10)
        .await
        .unwrap()
        .iter()
        .map(|a| a.kind)
        .collect();
    assert_eq!(kinds, [AlertKind::SignalFailure, AlertKind::Recovered]);
    assert_eq!(outbox.ledger().await.unwrap().outage, None);
}

#[tokio::test(start_paused = true)]
async fn the_worker_registers_a_heartbeat_and_says_when_it_stops() {
    let stack = support::stack(FAST).await;
    let (_dir, outbox) = outbox();
    let seen = {
        let watched = Arc::clone(&outbox);
        let watch = async move {
            // Well after start and one heartbeat interval later: alive.
            tokio::time::sleep(Duration::from_secs(7)).await;
            watched.workers(Duration::from_secs(60)).await.unwrap()
        };
        let work = run_for(
            &outbox,
            &stack,
            "w-beat",
            settings(),
            Duration::from_secs(8),
        );
        let (seen, _) = tokio::join!(watch, work);
        seen
    };
    assert_eq!(seen.len(), 1, "{seen:?}");
    let worker = &seen[0];
    assert_eq!((worker.name.as_str(), worker.stopped), ("w-beat", false));
    assert_eq!(worker.pid, std::process::id());
    assert!(
        worker.last_seen - worker.started_at >= 5_000,
        "a second heartbeat: {worker:?}"
    );
    let after = outbox.workers(Duration::from_secs(60)).await.unwrap();
    assert!(after[0].stopped, "a graceful stop is recorded: {after:?}");
}

#[tokio::test(start_paused = true)]
async fn permanent_rejections_are_dead_lettered_with_their_reason() {
    let stack = support::stack(FAST).await;
    let (_dir, outbox) = outbox();
    let (rejected, forged) = (
        support::signal_json("sig-400"),
        support::signal_json("sig-401"),
    );
    let _ = outbox
        .enqueue_signals(vec![
            NewSignal::new("sig-400", rejected.into_bytes()),
            NewSignal::new("sig-401", forged.into_bytes()),
        ])
        .await
        .unwrap();
    stack.server.set_responder(|request| {
        if request.id == "sig-400" {
            Reply::status(400)
        } else {
            Reply::status(401)
        }
    });
    let report = run_for(&outbox, &stack, "w1", settings(), Duration::from_secs(1)).await;
    assert_eq!(report.dead_lettered, 2, "{report:?}");
    let reason = |id: &'static str| {
        let outbox = &outbox;
        async move { outbox.get(id).await.unwrap().unwrap().dead_reason }
    };
    assert_eq!(reason("sig-400").await, Some(FailureReason::Rejected));
    assert_eq!(
        reason("sig-401").await,
        Some(FailureReason::SignatureRejected)
    );
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

async fn enqueue_all(outbox: &SqliteOutbox, ids: &[&str]) {
    let items = ids
        .iter()
        .map(|id| NewSignal::new(*id, support::signal_json(id).into_bytes()))
        .collect();
    let _ = outbox.enqueue_signals(items).await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_refused_retry_is_rescheduled_without_counting_an_attempt() {
    let stack = support::stack(TIGHT_BUDGET).await;
    stack.server.set_default(Reply::status(503));
    let (_dir, outbox) = outbox();
    enqueue_all(&outbox, &["sig-a", "sig-b"]).await;

    // 0 s: both first attempts fail. 1 s: both retries fall due, the window
    // (its first attempts gone) allows one: the other is deferred.
    let report = run_for(
        &outbox,
        &stack,
        "w1",
        settings(),
        Duration::from_millis(1300),
    )
    .await;
    assert_eq!((report.rescheduled, report.deferred), (3, 1), "{report:?}");
    assert_eq!(stack.server.request_count(), 3, "a deferral sends nothing");
    let mut rows = Vec::new();
    for id in ["sig-a", "sig-b"] {
        rows.push(outbox.get(id).await.unwrap().unwrap());
    }
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
    let report = run_for(&outbox, &stack, "w2", settings(), Duration::from_secs(4)).await;
    assert_eq!(report.delivered, 2, "{report:?}");
    let deferred = outbox.get(&deferred.id).await.unwrap().unwrap();
    assert_eq!((deferred.state, deferred.attempts), (State::Delivered, 2));
    let retried = outbox.get(&retried.id).await.unwrap().unwrap();
    assert_eq!((retried.state, retried.attempts), (State::Delivered, 3));
}

#[tokio::test(start_paused = true)]
async fn a_signal_is_dead_lettered_budget_only_once_its_deadline_passes_while_deferred() {
    let mut vars = TIGHT_BUDGET.to_vec();
    vars.push(("RETRY_MAX_ELAPSED_SECONDS", "3"));
    let stack = support::stack(&vars).await;
    stack.server.set_default(Reply::status(503));
    let (_dir, outbox) = outbox();
    let ids = ["sig-1", "sig-2", "sig-3", "sig-4", "sig-5"];
    enqueue_all(&outbox, &ids).await;

    // Before the 3 s deadline: retries are deferred, nothing fails for the budget.
    let report = run_for(
        &outbox,
        &stack,
        "w1",
        settings(),
        Duration::from_millis(2900),
    )
    .await;
    assert!(report.deferred >= 4, "{report:?}");
    for id in ids {
        let row = outbox.get(id).await.unwrap().unwrap();
        assert_ne!(row.dead_reason, Some(FailureReason::Budget), "{row:?}");
        if row.state == State::Pending {
            assert!(row.attempts <= 2, "{row:?}");
        }
    }
    let sent_before_deadline = stack.server.request_count();
    // 5 first attempts, then at most one retry per second of the window.
    assert!(sent_before_deadline <= 5 + 3, "{sent_before_deadline}");

    // Past the deadline: every signal is dead-lettered; those the budget held
    // back until then say `budget`, with their last real error and attempts.
    let report = run_for(&outbox, &stack, "w2", settings(), Duration::from_secs(2)).await;
    let mut rows = Vec::new();
    for id in ids {
        rows.push(outbox.get(id).await.unwrap().unwrap());
    }
    assert!(
        rows.iter().all(|r| r.state == State::DeadLettered),
        "{report:?} {rows:?}"
    );
    let held_back: Vec<_> = rows
        .iter()
        .filter(|r| r.dead_reason == Some(FailureReason::Budget))
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
        .filter(|r| r.dead_reason != Some(FailureReason::Budget))
        .collect();
    assert!(
        others
            .iter()
            .all(|r| r.dead_reason == Some(FailureReason::Deadline)),
        "{others:?}"
    );
    // Each give-up was alerted: the stored alerts the last worker's sender
    // had not sent yet when it stopped (Telegram's per-chat pace) are sent
    // by the next worker, from the outbox, once the stopped sender's lease
    // (alert timeout + 30 s) has run out.
    let _ = run_for(&outbox, &stack, "w3", settings(), Duration::from_secs(90)).await;
    let pending: Vec<_> = outbox
        .alerts(None, 100)
        .await
        .unwrap()
        .into_iter()
        .filter(|a| a.state == signal_outbox::AlertState::Pending)
        .collect();
    assert!(pending.is_empty(), "{pending:?}");
    let alerts = stack.bot.wait_for_messages(2, Duration::from_secs(5)).await;
    assert!(
        alerts.iter().any(|a| a.text.contains("retry budget held")),
        "{alerts:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn the_attempt_log_keeps_a_redacted_excerpt_of_the_answer() {
    let stack = support::stack(FAST).await;
    // A receiver that echoes our signature and the signing secret back.
    stack.server.set_responder(|request| Reply::Status {
        code: 422,
        retry_after: None,
        body: format!(
            "{{\"error\":\"unprocessable\",\"sig\":\"{}\",\"key\":\"{}\"}}",
            request.signature,
            support::SECRET
        ),
    });
    let (_dir, outbox) = outbox();
    let body = support::signal_json("sig-echo");
    let _ = outbox
        .enqueue_one(NewSignal::new("sig-echo", body.into_bytes()))
        .await
        .unwrap();
    let report = run_for(&outbox, &stack, "w1", settings(), Duration::from_secs(1)).await;
    assert_eq!(report.dead_lettered, 1, "{report:?}");
    let detail = outbox.detail("sig-echo").await.unwrap().unwrap();
    assert_eq!(detail.row.dead_reason, Some(FailureReason::Rejected));
    let attempt = &detail.attempts[0];
    assert_eq!(
        (attempt.status, attempt.error_class.as_deref()),
        (Some(422), Some("http_422"))
    );
    let excerpt = attempt.excerpt.as_deref().expect("the answer's excerpt");
    assert!(excerpt.contains("unprocessable"), "{excerpt}");
    let signature = stack.server.received()[0].signature.clone();
    let sig_value = signature.trim_start_matches("v1,");
    assert!(!excerpt.contains(sig_value), "signature leaked: {excerpt}");
    assert!(
        !excerpt.contains("C2FVsBQIhrscChlQIMV"),
        "secret leaked: {excerpt}"
    );
    assert!(excerpt.contains("[redacted]"), "{excerpt}");
    assert!(excerpt.len() <= signal_outbox::MAX_EXCERPT_LEN);
}

#[tokio::test(start_paused = true)]
async fn retention_purges_old_deliveries_at_start_and_keeps_their_ids_known() {
    let stack = support::stack(FAST).await;
    let (_dir, outbox) = outbox();
    enqueue_all(&outbox, &["old-1", "dead-1"]).await;
    stack.server.set_responder(|request| {
        if request.id == "dead-1" {
            Reply::status(422)
        } else {
            Reply::status(200)
        }
    });
    let _ = run_for(&outbox, &stack, "w1", settings(), Duration::from_secs(2)).await;
    assert_eq!(
        outbox.get("old-1").await.unwrap().unwrap().state,
        State::Delivered
    );
    tokio::time::sleep(Duration::from_secs(120)).await;
    enqueue_all(&outbox, &["new-1"]).await;

    // A worker keeping one minute of history purges the old delivery at
    // start; the new one and the dead letter stay.
    let mut keep_a_minute = settings();
    keep_a_minute.retention = Some(Duration::from_secs(60));
    stack.server.set_default(Reply::status(200));
    let _ = run_for(&outbox, &stack, "w2", keep_a_minute, Duration::from_secs(2)).await;
    assert!(outbox.get("old-1").await.unwrap().is_none(), "purged");
    assert_eq!(
        outbox.get("new-1").await.unwrap().unwrap().state,
        State::Delivered
    );
    assert_eq!(
        outbox.get("dead-1").await.unwrap().unwrap().state,
        State::DeadLettered
    );
    // enqueue still knows the purged id: the same body is a duplicate.
    let again = outbox
        .enqueue_one(NewSignal::new(
            "old-1",
            support::signal_json("old-1").into_bytes(),
        ))
        .await
        .unwrap();
    assert_eq!(again, signal_outbox::EnqueueOutcome::AlreadyPresent);
}

#[tokio::test(start_paused = true)]
async fn an_attempt_longer_than_its_lease_keeps_the_row_by_renewing_it() {
    let stack = support::stack(&[
        ("MAX_RETRIES", "1"),
        ("RETRY_BUDGET", "off"),
        ("SIGNAL_REQUEST_TIMEOUT_SECONDS", "30"),
    ])
    .await;
    // The receiver takes 7 s; the lease is 2 s.
    stack
        .server
        .set_default(Reply::Slow(Duration::from_secs(7)));
    let (_dir, outbox) = outbox();
    enqueue_all(&outbox, &["slow-1"]).await;
    let mut short = settings();
    short.lease = Duration::from_secs(2);
    let worker_outbox: Arc<dyn Outbox> = outbox.clone();
    let worker = Worker::new(worker_outbox, stack.service.clone(), short)
        .with_name("w1")
        .run(tokio::time::sleep(Duration::from_secs(10)));
    let rival = async {
        // Well past the first lease: without renewal the row would be free.
        tokio::time::sleep(Duration::from_secs(5)).await;
        outbox
            .claim("w2", 10, Duration::from_secs(2))
            .await
            .unwrap()
            .rows
            .len()
    };
    let (report, rival_claimed) = tokio::join!(worker, rival);
    let report = report.unwrap();
    assert_eq!(rival_claimed, 0, "the renewed lease kept the row");
    assert_eq!((report.delivered, report.lease_lost), (1, 0), "{report:?}");
    assert_eq!(stack.server.request_count(), 1, "sent once");
    assert_eq!(
        outbox.get("slow-1").await.unwrap().unwrap().state,
        State::Delivered
    );
}
