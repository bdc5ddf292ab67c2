//! The worker's claims run one batch ahead of its slots, on tokio's paused
//! clock: with every slot busy on a slow receiver, the rows claimed ahead
//! wait for a slot, and once a claim has found less than it asked for
//! (nothing more is due) the worker does not ask the outbox again and again
//! while those rows wait.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use loopback_fakes::signal_server::Reply;
use signal_delivery::worker::{Worker, WorkerSettings};
use signal_outbox::{NewSignal, Outbox, OutboxExt, State};
use std::sync::atomic::Ordering;
use std::time::Duration;
use support::failing::FailingClaims;
use support::{TokioTime, outbox_on};

fn settings() -> WorkerSettings {
    WorkerSettings {
        lease: Duration::from_secs(30),
        poll_interval: Duration::from_millis(100),
        batch_size: 2,
        concurrency: 2,
        stats_interval: Duration::from_secs(5),
        heartbeat_interval: Duration::from_secs(5),
        retention: None,
        exit_after_unavailable: Duration::from_secs(600),
    }
}

#[tokio::test(start_paused = true)]
async fn rows_claimed_ahead_wait_for_a_slot_without_claims_spinning() {
    let stack = support::stack(&[("RETRY_BUDGET", "off")]).await;
    stack
        .server
        .set_default(Reply::Slow(Duration::from_secs(4)));
    let (_dir, inner) = outbox_on(TokioTime::new(1_700_000_000_000));
    for id in ["a-1", "a-2", "a-3"] {
        let body = support::signal_json(id).into_bytes();
        let _ = inner.enqueue_one(NewSignal::new(id, body)).await.unwrap();
    }
    let outbox = FailingClaims::new(inner.clone());
    let dyn_outbox: std::sync::Arc<dyn Outbox> = outbox.clone();
    // 3 s: both slots are still waiting for their 4 s answers. (A worker
    // claiming in a loop never lets the paused clock reach 3 s: the
    // runaway notice stops it instead, and the count below fails.)
    let stop = async {
        tokio::select! {
            () = tokio::time::sleep(Duration::from_secs(3)) => {}
            () = outbox.claims_runaway.notified() => {}
        }
    };
    let report = Worker::new(dyn_outbox, stack.service.clone(), settings())
        .run(stop)
        .await
        .unwrap();
    // Two claims: two rows for the slots, the third ahead (asked for two,
    // found one); none while it waited.
    let claims = outbox.claims.load(Ordering::SeqCst);
    assert!((2..=3).contains(&claims), "{claims} claims in 3 s");
    assert_eq!(report.claimed, 3, "{report:?}");
    // The row that waited was handed back at shutdown, never sent.
    let waiting = inner.get("a-3").await.unwrap().unwrap();
    assert_eq!(waiting.state, State::Pending, "{waiting:?}");
    assert_eq!(waiting.attempts, 0, "{waiting:?}");
}
