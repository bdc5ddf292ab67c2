//! The async retry loop on tokio's paused clock: virtual minutes, real milliseconds.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::{LazyLock, Mutex};
use std::time::{Duration, Instant};

use retry_core::{
    AttemptTimedOut, Classify, Clock, GiveUpReason, Jitter, ManualClock, Retry, RetryBudget,
    RetryError, RetryEvent, RetryObserver, RetryPolicy, Retryability, SplitMix64, retry_async,
};

#[derive(Debug, Clone, PartialEq)]
enum OpError {
    Refused(u32),
    TimedOut(Duration),
}

impl Classify for OpError {
    fn retryability(&self) -> Retryability {
        Retryability::Transient
    }
}

impl From<AttemptTimedOut> for OpError {
    fn from(t: AttemptTimedOut) -> Self {
        OpError::TimedOut(t.after)
    }
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// tokio's clock without the crate's `tokio` feature, so these tests also
/// run under plain `cargo test --workspace`.
#[derive(Debug, Clone, Copy)]
struct TokioNow;

impl Clock for TokioNow {
    fn now(&self) -> Instant {
        tokio::time::Instant::now().into_std()
    }
}

static TOKIO_SLEEP: fn(Duration) -> tokio::time::Sleep = tokio::time::sleep;
/// Spawned futures must be `'static`, so they borrow a static policy.
static POLICY: RetryPolicy = RetryPolicy::DEFAULT;

fn no_jitter() -> RetryPolicy {
    RetryPolicy::builder().jitter(Jitter::None).build().unwrap()
}

#[derive(Default)]
struct Delays(Mutex<Vec<(u32, Duration)>>);

impl<E> RetryObserver<E> for Delays {
    fn on_retry(&self, e: &RetryEvent<'_, E>) {
        self.0.lock().unwrap().push((e.attempt, e.delay));
    }
}

#[tokio::test(start_paused = true)]
async fn full_default_schedule_takes_155_virtual_seconds_in_well_under_a_second() {
    let wall = Instant::now();
    let virtual_start = tokio::time::Instant::now();
    let policy = no_jitter();
    let delays = Delays::default();
    let error = Retry::new(&policy, "post_signal")
        .clock(TokioNow)
        .observer(&delays)
        .run_async(&TOKIO_SLEEP, |n| async move {
            Err::<(), _>(OpError::Refused(n))
        })
        .await
        .unwrap_err();
    assert_eq!(virtual_start.elapsed(), secs(155));
    assert!(wall.elapsed() < secs(1), "wall time {:?}", wall.elapsed());
    let RetryError::Exhausted(e) = error else {
        panic!("{error:?}")
    };
    assert_eq!((e.attempts, e.last_error), (6, OpError::Refused(6)));
    assert_eq!(
        delays.0.into_inner().unwrap(),
        [
            (1, secs(5)),
            (2, secs(10)),
            (3, secs(20)),
            (4, secs(40)),
            (5, secs(80))
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn async_path_succeeds_after_failures() {
    let start = tokio::time::Instant::now();
    let result = Retry::new(&no_jitter(), "fetch")
        .clock(TokioNow)
        .run_async(&TOKIO_SLEEP, |n| async move {
            if n < 3 {
                Err(OpError::Refused(n))
            } else {
                Ok(n * 10)
            }
        })
        .await;
    assert_eq!(result.unwrap(), 30);
    assert_eq!(start.elapsed(), secs(15));
}

#[tokio::test(start_paused = true)]
async fn retry_async_entry_point_works_with_a_closure_sleeper() {
    let policy = RetryPolicy::builder().max_retries(2).build().unwrap();
    let result = retry_async(&policy, "fetch", &TOKIO_SLEEP, |n| async move {
        Err::<(), _>(OpError::Refused(n))
    })
    .await;
    let error = result.unwrap_err();
    assert_eq!(error.attempts(), 3);
    assert_eq!(error.operation(), "fetch");
}

#[tokio::test(start_paused = true)]
async fn per_attempt_timeout_abandons_slow_attempts_and_retries() {
    let start = tokio::time::Instant::now();
    let result = Retry::new(&no_jitter(), "fetch")
        .clock(TokioNow)
        .run_async_with_timeout(&TOKIO_SLEEP, secs(2), |n| async move {
            // The first two attempts hang for a minute; the third answers in 1 s.
            let work = if n < 3 { secs(60) } else { secs(1) };
            tokio::time::sleep(work).await;
            Ok::<_, OpError>(n)
        })
        .await;
    assert_eq!(result.unwrap(), 3);
    // 2 s timeout + 5 s + 2 s timeout + 10 s + 1 s of work.
    assert_eq!(start.elapsed(), secs(20));
}

#[tokio::test(start_paused = true)]
async fn timed_out_attempts_are_reported_with_their_timeout() {
    let policy = RetryPolicy::builder()
        .max_retries(1)
        .jitter(Jitter::None)
        .build()
        .unwrap();
    let error = Retry::new(&policy, "fetch")
        .clock(TokioNow)
        .run_async_with_timeout(&TOKIO_SLEEP, secs(3), |_| async {
            std::future::pending::<Result<(), OpError>>().await
        })
        .await
        .unwrap_err();
    assert_eq!(error.last_error(), &OpError::TimedOut(secs(3)));
    assert_eq!(error.attempts(), 2);
}

#[tokio::test(start_paused = true)]
async fn attempt_timeout_is_clamped_to_the_remaining_deadline() {
    let start = tokio::time::Instant::now();
    let policy = RetryPolicy::builder()
        .jitter(Jitter::None)
        .max_elapsed(secs(12))
        .build()
        .unwrap();
    let error = Retry::new(&policy, "fetch")
        .clock(TokioNow)
        .run_async_with_timeout(&TOKIO_SLEEP, secs(10), |n| async move {
            if n == 1 {
                Err(OpError::Refused(n))
            } else {
                std::future::pending::<Result<(), OpError>>().await
            }
        })
        .await
        .unwrap_err();
    // Attempt 2 starts at 5 s with 7 s left: its 10 s timeout becomes 7 s.
    assert_eq!(error.last_error(), &OpError::TimedOut(secs(7)));
    assert_eq!(error.reason(), GiveUpReason::DeadlineExceeded);
    assert_eq!(start.elapsed(), secs(12));
}

#[tokio::test(start_paused = true)]
async fn async_permanent_errors_are_not_retried() {
    #[derive(Debug)]
    struct Rejected;
    impl Classify for Rejected {
        fn retryability(&self) -> Retryability {
            Retryability::Permanent
        }
    }
    let start = tokio::time::Instant::now();
    let error = Retry::new(&no_jitter(), "post_signal")
        .clock(TokioNow)
        .run_async(&TOKIO_SLEEP, |_| async { Err::<(), _>(Rejected) })
        .await
        .unwrap_err();
    assert!(matches!(error, RetryError::Permanent { attempts: 1, .. }));
    assert_eq!(start.elapsed(), Duration::ZERO);
}

#[tokio::test(start_paused = true)]
async fn a_fast_attempt_beats_its_timeout() {
    let result = Retry::new(&no_jitter(), "fetch")
        .clock(TokioNow)
        .run_async_with_timeout(&TOKIO_SLEEP, secs(2), |n| async move {
            tokio::time::sleep(Duration::from_millis(1999)).await;
            Ok::<_, OpError>(n)
        })
        .await;
    assert_eq!(result.unwrap(), 1);
}

#[tokio::test]
async fn async_loop_works_with_a_manual_clock_and_no_timer_at_all() {
    let clock = ManualClock::new();
    let sleeper = |d| {
        clock.advance(d);
        std::future::ready(())
    };
    let budget = RetryBudget::default();
    let result = Retry::new(&no_jitter(), "fetch")
        .clock(&clock)
        .budget(&budget)
        .rng(SplitMix64::new(3))
        .run_async(&sleeper, |n| async move {
            if n < 3 {
                Err(OpError::Refused(n))
            } else {
                Ok(n)
            }
        })
        .await;
    assert_eq!(result.unwrap(), 3);
    assert_eq!(clock.elapsed(), secs(15));
    // Retries at 5 s and 15 s; by 15 s the deposit (0 s) and the first
    // withdrawal (5 s) have left the 10 s window: only the second counts.
    assert_eq!(budget.retries_left(clock.now()), 100 - 1);
}

fn assert_send<T: Send>(_: &T) {}

#[tokio::test(start_paused = true)]
async fn async_retry_futures_are_send_and_can_be_spawned() {
    static BUDGET: LazyLock<RetryBudget> = LazyLock::new(RetryBudget::default);
    static DELAYS: Mutex<Vec<(u32, Duration)>> = Mutex::new(Vec::new());
    struct Static;
    impl RetryObserver<OpError> for Static {
        fn on_retry(&self, e: &RetryEvent<'_, OpError>) {
            DELAYS.lock().unwrap().push((e.attempt, e.delay));
        }
    }
    static OBSERVER: Static = Static;

    let plain =
        Retry::new(&POLICY, "spawned")
            .clock(TokioNow)
            .run_async(&TOKIO_SLEEP, |n| async move {
                if n < 2 {
                    Err(OpError::Refused(n))
                } else {
                    Ok(n)
                }
            });
    assert_send(&plain);
    assert_eq!(tokio::spawn(plain).await.unwrap().unwrap(), 2);

    let full = Retry::new(&POLICY, "spawned")
        .clock(TokioNow)
        .observer(&OBSERVER)
        .budget(&BUDGET)
        .rng(SplitMix64::new(1))
        .run_async_with_timeout(&TOKIO_SLEEP, secs(1), |n| async move {
            if n < 2 {
                Err(OpError::Refused(n))
            } else {
                Ok(n)
            }
        });
    assert_send(&full);
    assert_eq!(tokio::spawn(full).await.unwrap().unwrap(), 2);
    assert_eq!(DELAYS.lock().unwrap().len(), 1);

    let short = retry_async(&POLICY, "spawned", &TOKIO_SLEEP, |n| async move {
        Ok::<_, OpError>(n)
    });
    assert_send(&short);
    assert_eq!(tokio::spawn(short).await.unwrap().unwrap(), 1);
}

#[cfg(feature = "tokio")]
#[tokio::test(start_paused = true)]
async fn tokio_sleeper_and_clock_follow_the_paused_clock() {
    use retry_core::{TokioClock, TokioSleeper};

    let wall = Instant::now();
    let start = tokio::time::Instant::now();
    let error = Retry::new(&no_jitter(), "post_signal")
        .clock(TokioClock)
        .run_async_with_timeout(&TokioSleeper, secs(30), |n| async move {
            Err::<(), _>(OpError::Refused(n))
        })
        .await
        .unwrap_err();
    assert_eq!(error.attempts(), 6);
    assert_eq!(start.elapsed(), secs(155));
    assert!(wall.elapsed() < secs(1));
    let future = Retry::new(&POLICY, "op")
        .clock(TokioClock)
        .run_async(&TokioSleeper, |n| async move { Ok::<_, OpError>(n) });
    assert_send(&future);
    assert_eq!(tokio::spawn(future).await.unwrap().unwrap(), 1);
}
