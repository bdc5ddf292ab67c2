//! An outbox that stops answering, on tokio's paused clock: the worker keeps
//! retrying with back-off and reports unhealthy, alerts the owner from
//! memory after 30 s, says so again when claims work, and after its bound
//! (`OUTBOX_UNAVAILABLE_EXIT_SECONDS`) stops with `WorkerError::Unavailable`
//! rather than spinning for ever.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use signal_delivery::worker::{Worker, WorkerError, WorkerSettings};
use signal_outbox::{NewSignal, Outbox, OutboxExt, State};
use std::sync::atomic::Ordering;
use std::time::Duration;
use support::failing::FailingClaims;
use support::{TokioTime, outbox_on};

fn settings(exit_after: Duration) -> WorkerSettings {
    WorkerSettings {
        lease: Duration::from_secs(30),
        poll_interval: Duration::from_millis(100),
        batch_size: 10,
        concurrency: 2,
        stats_interval: Duration::from_secs(5),
        heartbeat_interval: Duration::from_secs(5),
        retention: None,
        exit_after_unavailable: exit_after,
    }
}

const FAST: &[(&str, &str)] = &[("MAX_RETRIES", "1"), ("RETRY_BUDGET", "off")];

#[tokio::test(start_paused = true)]
async fn a_lost_outbox_is_alerted_and_the_worker_exits_after_its_bound() {
    let stack = support::stack(FAST).await;
    let (_dir, inner) = outbox_on(TokioTime::new(1_700_000_000_000));
    let outbox = FailingClaims::new(inner.clone());
    outbox.failing.store(true, Ordering::SeqCst);
    let dyn_outbox: std::sync::Arc<dyn Outbox> = outbox.clone();
    let worker = Worker::new(
        dyn_outbox,
        stack.service.clone(),
        settings(Duration::from_secs(120)),
    );
    let health = worker.health();
    let error = worker
        .run(std::future::pending())
        .await
        .expect_err("the worker gives up on a lost outbox");
    let WorkerError::Unavailable {
        for_how_long,
        limit,
        last_error,
    } = &error
    else {
        panic!("{error:?}")
    };
    assert!(*for_how_long >= Duration::from_secs(120), "{error}");
    assert_eq!(*limit, Duration::from_secs(120));
    assert!(last_error.contains("connection refused"), "{error}");
    let text = error.to_string();
    assert!(
        text.contains("supervisor") && text.contains("120 s"),
        "{text}"
    );
    assert!(!health.load(Ordering::Relaxed), "unhealthy meanwhile");
    // Retried with back-off: far fewer claims than one per poll interval.
    let refused = outbox.refused.load(Ordering::SeqCst);
    assert!((5..200).contains(&refused), "{refused} claims in 120 s");
    let alerts = stack.bot.wait_for_messages(1, Duration::from_secs(5)).await;
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert!(
        alerts[0].text.contains("CRITICAL") && alerts[0].text.contains("cannot claim signals"),
        "{}",
        alerts[0].text
    );
}

#[tokio::test(start_paused = true)]
async fn an_outbox_back_within_the_bound_is_said_so_and_nothing_is_lost() {
    let stack = support::stack(FAST).await;
    let (_dir, inner) = outbox_on(TokioTime::new(1_700_000_000_000));
    let body = support::signal_json("u-1").into_bytes();
    let _ = inner
        .enqueue_one(NewSignal::new("u-1", body))
        .await
        .unwrap();
    let outbox = FailingClaims::new(inner.clone());
    outbox.failing.store(true, Ordering::SeqCst);
    let dyn_outbox: std::sync::Arc<dyn Outbox> = outbox.clone();
    let worker = Worker::new(
        dyn_outbox,
        stack.service.clone(),
        settings(Duration::from_secs(600)),
    );
    let switch = outbox.clone();
    let run = tokio::spawn(worker.run(async move {
        tokio::time::sleep(Duration::from_secs(45)).await;
        switch.failing.store(false, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_secs(60)).await;
    }));
    let report = run.await.unwrap().unwrap();
    assert_eq!(report.delivered, 1, "{report:?}");
    assert_eq!(
        inner.get("u-1").await.unwrap().unwrap().state,
        State::Delivered
    );
    let texts: Vec<String> = stack.bot.messages().into_iter().map(|m| m.text).collect();
    assert_eq!(texts.len(), 2, "{texts:#?}");
    assert!(texts[0].contains("cannot claim signals"), "{}", texts[0]);
    assert!(
        texts[1].contains("can claim from the outbox"),
        "{}",
        texts[1]
    );
}

#[tokio::test(start_paused = true)]
async fn a_commit_refused_for_now_is_retried_so_nothing_is_sent_twice() {
    let stack = support::stack(FAST).await;
    let (_dir, inner) = outbox_on(TokioTime::new(1_700_000_000_000));
    let body = support::signal_json("r-1").into_bytes();
    let _ = inner
        .enqueue_one(NewSignal::new("r-1", body))
        .await
        .unwrap();
    let outbox = FailingClaims::new(inner.clone());
    outbox.failing_records.store(2, Ordering::SeqCst);
    let dyn_outbox: std::sync::Arc<dyn Outbox> = outbox.clone();
    let report = Worker::new(
        dyn_outbox,
        stack.service.clone(),
        settings(Duration::from_secs(600)),
    )
    .run(tokio::time::sleep(Duration::from_secs(5)))
    .await
    .unwrap();
    assert_eq!(
        (report.delivered, report.not_recorded),
        (1, 0),
        "{report:?}"
    );
    assert_eq!(stack.server.request_count(), 1, "sent once");
    assert_eq!(
        inner.get("r-1").await.unwrap().unwrap().state,
        State::Delivered
    );
    assert_eq!(outbox.failing_records.load(Ordering::SeqCst), 0);
}
