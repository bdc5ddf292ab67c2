//! `op.retry(policy)…await` on tokio's paused clock: backon's shape,
//! `Retry`'s guarantees, and a future that can be spawned with an owned policy.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{Error, ErrorKind};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

// Both traits in scope at once: an async closure must resolve to `Retryable`.
use retry_core::{
    BlockingRetryable as _, Classify, Clock, GiveUpReason, Jitter, RetryBudget, RetryError,
    RetryPolicy, Retryability, Retryable,
};

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// tokio's clock without the crate's `tokio` feature, so these tests run
/// the same with and without it.
#[derive(Debug, Clone, Copy)]
struct TokioNow;

impl Clock for TokioNow {
    fn now(&self) -> Instant {
        tokio::time::Instant::now().into_std()
    }
}

#[derive(Debug, Clone, PartialEq)]
enum PostError {
    Unavailable,
    Throttled(Duration),
}

impl Classify for PostError {
    fn retryability(&self) -> Retryability {
        match self {
            PostError::Unavailable => Retryability::Transient,
            PostError::Throttled(d) => Retryability::RetryAfter(*d),
        }
    }
}

fn no_jitter() -> RetryPolicy {
    RetryPolicy::builder().jitter(Jitter::None).build().unwrap()
}

#[tokio::test(start_paused = true)]
async fn the_default_schedule_runs_in_virtual_time_and_gives_up_with_every_attempt_counted() {
    let wall = Instant::now();
    let start = tokio::time::Instant::now();
    let calls = AtomicU32::new(0);
    let delays = Mutex::new(Vec::new());
    let error = (|| async {
        calls.fetch_add(1, Ordering::Relaxed);
        Err::<(), _>(PostError::Unavailable)
    })
    .retry(no_jitter())
    .sleep(tokio::time::sleep)
    .clock(TokioNow)
    .notify(|e, d| {
        assert_eq!(e, &PostError::Unavailable);
        delays.lock().unwrap().push(d);
    })
    .context("post_signal")
    .await
    .unwrap_err();
    assert_eq!(start.elapsed(), secs(155));
    assert!(wall.elapsed() < secs(1), "{:?}", wall.elapsed());
    assert_eq!(calls.load(Ordering::Relaxed), 6);
    assert_eq!(
        delays.into_inner().unwrap(),
        [secs(5), secs(10), secs(20), secs(40), secs(80)]
    );
    let RetryError::Exhausted(e) = error else {
        panic!("{error:?}")
    };
    assert_eq!(
        (e.attempts, e.last_error, e.operation.as_str()),
        (6, PostError::Unavailable, "post_signal")
    );
}

#[tokio::test(start_paused = true)]
async fn when_retries_a_foreign_error_and_returns_the_others_at_once() {
    async fn connect(kind: ErrorKind) -> Result<u32, Error> {
        Err(Error::from(kind))
    }
    let calls = AtomicU32::new(0);
    let error = (|| {
        let n = calls.fetch_add(1, Ordering::Relaxed);
        connect(if n < 2 {
            ErrorKind::ConnectionRefused
        } else {
            ErrorKind::PermissionDenied
        })
    })
    .retry(
        RetryPolicy::builder()
            .base_delay(Duration::from_millis(50))
            .build()
            .unwrap(),
    )
    .sleep(tokio::time::sleep)
    .when(|e| e.kind() == ErrorKind::ConnectionRefused)
    .await
    .unwrap_err();
    assert_eq!(error.reason(), GiveUpReason::Permanent);
    assert_eq!(error.attempts(), 3);
    assert_eq!(error.last_error().kind(), ErrorKind::PermissionDenied);
}

#[tokio::test(start_paused = true)]
async fn a_server_hint_is_slept_in_full_but_never_past_the_deadline() {
    let start = tokio::time::Instant::now();
    let calls = AtomicU32::new(0);
    let sent = (|| async {
        if calls.fetch_add(1, Ordering::Relaxed) == 0 {
            Err(PostError::Throttled(secs(200)))
        } else {
            Ok("sent")
        }
    })
    .retry(no_jitter())
    .sleep(tokio::time::sleep)
    .clock(TokioNow)
    .await
    .unwrap();
    assert_eq!(sent, "sent");
    assert_eq!(start.elapsed(), secs(200)); // not capped at max_delay (120 s)

    let start = tokio::time::Instant::now();
    let error = (|| async { Err::<(), _>(PostError::Unavailable) })
        .retry(no_jitter())
        .sleep(tokio::time::sleep)
        .clock(TokioNow)
        .adjust(|_, _| Some(secs(601)))
        .await
        .unwrap_err();
    assert_eq!(error.reason(), GiveUpReason::DeadlineExceeded);
    assert_eq!(start.elapsed(), Duration::ZERO);
}

/// The point of an owned policy: a spawned retry borrows nothing, so no
/// `static` policy or budget is needed.
#[tokio::test(start_paused = true)]
async fn a_spawned_retry_owns_its_policy_budget_and_name() {
    let budget = Arc::new(RetryBudget::default());
    let mut tasks = Vec::new();
    for signal in 0..20u32 {
        let policy = RetryPolicy::builder()
            .max_retries(3)
            .base_delay(Duration::from_millis(10 + u64::from(signal)))
            .build()
            .unwrap();
        let calls = Arc::new(AtomicU32::new(0));
        let seen = Arc::clone(&calls);
        let retry = (move || {
            let calls = Arc::clone(&calls);
            async move {
                if calls.fetch_add(1, Ordering::Relaxed) < 2 {
                    Err(PostError::Unavailable)
                } else {
                    Ok(signal)
                }
            }
        })
        .retry(policy)
        .sleep(tokio::time::sleep)
        .clock(TokioNow)
        .budget(Arc::clone(&budget))
        .context(format!("signal {signal}"));
        tasks.push((tokio::spawn(retry), seen));
    }
    for (signal, (task, calls)) in (0..).zip(tasks) {
        assert_eq!(task.await.unwrap().unwrap(), signal);
        assert_eq!(calls.load(Ordering::Relaxed), 3);
    }
}

#[tokio::test(start_paused = true)]
async fn a_refusing_budget_defers_the_retry_and_gives_up_only_at_the_deadline() {
    let budget = Arc::new(RetryBudget::new(1, 1, secs(600)).unwrap());
    let now = TokioNow.now();
    while budget.try_withdraw(now) {}
    let start = tokio::time::Instant::now();
    let error = (|| async { Err::<(), _>(PostError::Unavailable) })
        .retry(
            RetryPolicy::builder()
                .max_elapsed(secs(30))
                .build()
                .unwrap(),
        )
        .sleep(tokio::time::sleep)
        .clock(TokioNow)
        .budget(budget)
        .await
        .unwrap_err();
    assert_eq!(error.reason(), GiveUpReason::BudgetExhausted);
    assert_eq!(error.attempts(), 1);
    assert!(start.elapsed() <= secs(30), "{:?}", start.elapsed());
    assert!(start.elapsed() >= secs(29), "{:?}", start.elapsed());
}

#[tokio::test]
async fn with_both_traits_in_scope_each_closure_finds_its_own() {
    let sync = (|| Ok::<_, PostError>(1))
        .retry(RetryPolicy::DEFAULT)
        .call();
    let not_sync = (|| async { Ok::<_, PostError>(2) })
        .retry(RetryPolicy::DEFAULT)
        .sleep(tokio::time::sleep)
        .await;
    assert_eq!((sync.unwrap(), not_sync.unwrap()), (1, 2));
}

#[test]
fn the_future_starts_its_deadline_at_the_first_poll_and_stays_pending_after_completion() {
    let mut future = Box::pin(
        (|| async { Ok::<_, PostError>(7) })
            .retry(RetryPolicy::DEFAULT)
            .sleep(|_: Duration| std::future::ready(())),
    );
    let mut cx = Context::from_waker(Waker::noop());
    assert!(format!("{future:?}").contains("idle"));
    assert!(matches!(future.as_mut().poll(&mut cx), Poll::Ready(Ok(7))));
    // Polling a finished future must not panic (nor run the operation again).
    assert!(future.as_mut().poll(&mut cx).is_pending());
    assert!(format!("{future:?}").contains("done"));
}

#[test]
fn the_retry_future_is_send_when_its_parts_are() {
    fn assert_send<T: Send>(_: &T) {}
    let budget = RetryBudget::default();
    let future = (|| async { Err::<(), _>(PostError::Unavailable) })
        .retry(RetryPolicy::DEFAULT)
        .sleep(tokio::time::sleep)
        .budget(&budget)
        .notify(|_, _| {});
    assert_send(&future);
}

/// With the `tokio` feature the sleeper and the clock need not be named:
/// tokio's are the defaults, and they follow the paused clock.
#[cfg(feature = "tokio")]
#[tokio::test(start_paused = true)]
async fn with_the_tokio_feature_tokio_time_is_the_default() {
    let start = tokio::time::Instant::now();
    let error = (|| async { Err::<(), _>(PostError::Unavailable) })
        .retry(
            RetryPolicy::builder()
                .max_elapsed(secs(30))
                .jitter(Jitter::None)
                .build()
                .unwrap(),
        )
        .await
        .unwrap_err();
    // 5 s + 10 s; the 20 s delay would end at 35 s, past the 30 s deadline,
    // which the default clock measured in paused time.
    assert_eq!(error.reason(), GiveUpReason::DeadlineExceeded);
    assert_eq!(start.elapsed(), secs(15));
}
