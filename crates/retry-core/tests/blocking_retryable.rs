//! `op.retry(policy)…call()`: backon's shape, `Retry`'s guarantees.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::cell::{Cell, RefCell};
use std::io::{Error, ErrorKind};
use std::sync::Arc;
use std::time::Duration;

// Both traits in scope at once, as a user switching from backon would have
// them: a blocking closure must still resolve to `BlockingRetryable`.
use retry_core::{
    BlockingRetryable, Classify, Clock, GiveUpReason, Jitter, ManualClock, RetryBudget, RetryError,
    RetryPolicy, Retryability, Retryable as _, SplitMix64,
};

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn ms(m: u64) -> Duration {
    Duration::from_millis(m)
}

fn no_jitter() -> RetryPolicy {
    RetryPolicy::builder().jitter(Jitter::None).build().unwrap()
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Flaky {
    Busy,
    Hint(Duration),
    Rejected,
}

impl std::fmt::Display for Flaky {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{self:?}")
    }
}

impl Classify for Flaky {
    fn retryability(&self) -> Retryability {
        match self {
            Flaky::Busy => Retryability::Transient,
            Flaky::Hint(d) => Retryability::RetryAfter(*d),
            Flaky::Rejected => Retryability::Permanent,
        }
    }
}

#[test]
fn a_classified_error_is_retried_on_the_policy_schedule_until_success() {
    let clock = ManualClock::new();
    let calls = Cell::new(0u32);
    let value = (|| {
        calls.set(calls.get() + 1);
        if calls.get() < 4 {
            Err(Flaky::Busy)
        } else {
            Ok(calls.get())
        }
    })
    .retry(no_jitter())
    .clock(&clock)
    .sleep(|d| clock.advance(d))
    .call()
    .unwrap();
    assert_eq!(value, 4);
    assert_eq!(clock.elapsed(), secs(5 + 10 + 20));
}

#[test]
fn when_makes_a_foreign_error_retryable_without_classify() {
    let policy = RetryPolicy::builder()
        .base_delay(ms(1))
        .jitter(Jitter::None)
        .build()
        .unwrap();
    let kinds = RefCell::new(vec![
        ErrorKind::TimedOut,
        ErrorKind::Interrupted,
        ErrorKind::NotFound,
    ]);
    let slept = RefCell::new(Vec::new());
    // A reference is accepted too (backon's habit); clippy prefers the copy.
    #[allow(clippy::needless_borrows_for_generic_args)]
    let error = (|| Err::<(), _>(Error::from(kinds.borrow_mut().remove(0))))
        .retry(&policy)
        .when(|e: &Error| matches!(e.kind(), ErrorKind::TimedOut | ErrorKind::Interrupted))
        .sleep(|d| slept.borrow_mut().push(d))
        .context("read_quote")
        .call()
        .unwrap_err();
    // Two retried kinds, then one that is not: a permanent give-up at attempt 3.
    assert_eq!(error.reason(), GiveUpReason::Permanent);
    assert_eq!(error.attempts(), 3);
    assert_eq!(error.last_error().kind(), ErrorKind::NotFound);
    assert_eq!(error.operation(), "read_quote");
    assert_eq!(slept.into_inner(), [ms(1), ms(2)]);
}

#[test]
fn the_final_error_names_the_function_when_no_context_is_given() {
    fn fetch_price() -> Result<u32, Flaky> {
        Err(Flaky::Rejected)
    }
    let error = fetch_price.retry(RetryPolicy::DEFAULT).call().unwrap_err();
    assert!(
        error.operation().ends_with("fetch_price"),
        "{}",
        error.operation()
    );
    assert!(matches!(
        error,
        RetryError::Permanent {
            attempts: 1,
            error: Flaky::Rejected,
            ..
        }
    ));
}

#[test]
fn the_cap_holds_after_jitter_for_every_strategy() {
    for jitter in Jitter::ALL {
        let policy = RetryPolicy::builder()
            .max_retries(100)
            .base_delay(ms(10))
            .max_delay(ms(300))
            .max_elapsed(Duration::from_secs(86_400))
            .jitter(jitter)
            .build()
            .unwrap();
        for seed in 0..20 {
            let mut delays = Vec::new();
            let _ = (|| Err::<(), _>(Flaky::Busy))
                .retry(policy)
                .rng(SplitMix64::new(seed))
                .sleep(|_| {})
                .notify(|_, d| delays.push(d))
                .call();
            assert_eq!(delays.len(), 100, "{jitter}");
            assert!(delays.iter().all(|d| *d <= ms(300)), "{jitter}: {delays:?}");
        }
    }
}

#[test]
fn the_deadline_is_never_overshot_even_when_attempts_take_time() {
    let policy = RetryPolicy::builder()
        .max_retries(100)
        .base_delay(ms(50))
        .max_delay(ms(400))
        .max_elapsed(secs(2))
        .build()
        .unwrap();
    for seed in 0..50 {
        let clock = ManualClock::new();
        let error = (|| {
            clock.advance(ms(30)); // each attempt takes 30 ms
            Err::<(), _>(Flaky::Busy)
        })
        .retry(policy)
        .clock(&clock)
        .rng(SplitMix64::new(seed))
        .sleep(|d| clock.advance(d))
        .call()
        .unwrap_err();
        assert_eq!(error.reason(), GiveUpReason::DeadlineExceeded);
        // No sleep ended past the deadline; only the last attempt itself may.
        assert!(clock.elapsed() <= secs(2) + ms(30), "{:?}", clock.elapsed());
        let RetryError::DeadlineExceeded { elapsed, .. } = error else {
            panic!("{error:?}")
        };
        assert!(elapsed <= secs(2) + ms(30));
    }
}

#[test]
fn a_hint_from_adjust_wins_over_a_shorter_backoff_is_not_capped_and_respects_the_deadline() {
    let policy = RetryPolicy::builder()
        .max_delay(secs(10))
        .max_elapsed(secs(60))
        .jitter(Jitter::None)
        .build()
        .unwrap();
    // 30 s is past max_delay (10 s): still slept.
    let clock = ManualClock::new();
    let calls = Cell::new(0);
    let sent = (|| {
        calls.set(calls.get() + 1);
        if calls.get() == 1 {
            Err(Error::other("429"))
        } else {
            Ok(())
        }
    })
    .retry(policy)
    .when(|_| true)
    .adjust(|_, backoff| {
        assert_eq!(backoff, secs(5));
        Some(secs(30))
    })
    .clock(&clock)
    .sleep(|d| clock.advance(d))
    .call();
    assert!(sent.is_ok());
    assert_eq!(clock.elapsed(), secs(30));

    // A hint shorter than the backoff does not shorten it.
    let clock = ManualClock::new();
    let _ = (|| Err::<(), _>(Flaky::Busy))
        .retry(
            RetryPolicy::builder()
                .max_retries(1)
                .jitter(Jitter::None)
                .build()
                .unwrap(),
        )
        .adjust(|_, _| Some(ms(1)))
        .clock(&clock)
        .sleep(|d| clock.advance(d))
        .call();
    assert_eq!(clock.elapsed(), secs(5));

    // A hint that cannot end before the deadline gives up at once.
    let clock = ManualClock::new();
    let error = (|| Err::<(), _>(Flaky::Busy))
        .retry(policy)
        .adjust(|_, _| Some(secs(61)))
        .clock(&clock)
        .sleep(|d| clock.advance(d))
        .call()
        .unwrap_err();
    assert_eq!(error.reason(), GiveUpReason::DeadlineExceeded);
    assert_eq!(clock.elapsed(), Duration::ZERO);
}

#[test]
fn a_classify_hint_still_counts_and_the_longer_of_two_hints_wins() {
    let clock = ManualClock::new();
    let calls = Cell::new(0);
    (|| {
        calls.set(calls.get() + 1);
        if calls.get() == 1 {
            Err(Flaky::Hint(secs(20)))
        } else {
            Ok(())
        }
    })
    .retry(no_jitter())
    .adjust(|_, _| Some(secs(12)))
    .clock(&clock)
    .sleep(|d| clock.advance(d))
    .call()
    .unwrap();
    assert_eq!(clock.elapsed(), secs(20));
}

#[test]
fn a_budget_refusal_defers_without_counting_an_attempt_and_an_arc_budget_works() {
    // 1 % of requests plus 1 per second over 1 s: one retry per second.
    let budget = Arc::new(RetryBudget::new(1, 1, secs(1)).unwrap());
    let clock = ManualClock::new();
    assert!(budget.try_withdraw(clock.now())); // spend this second's retry
    let policy = RetryPolicy::builder()
        .max_retries(1)
        .base_delay(ms(10))
        .jitter(Jitter::None)
        .build()
        .unwrap();
    let calls = Cell::new(0);
    let slept = RefCell::new(Vec::new());
    let value = (|| {
        calls.set(calls.get() + 1);
        if calls.get() == 1 {
            Err(Flaky::Busy)
        } else {
            Ok(calls.get())
        }
    })
    .retry(policy)
    .budget(Arc::clone(&budget))
    .clock(&clock)
    .rng(SplitMix64::new(3))
    .sleep(|d| {
        slept.borrow_mut().push(d);
        clock.advance(d);
    })
    .call()
    .unwrap();
    // max_retries is 1, yet the retry went: deferrals are not attempts.
    assert_eq!(value, 2);
    let slept = slept.into_inner();
    assert_eq!(slept[0], ms(10));
    assert!(slept.len() >= 2, "{slept:?}");
    assert!(
        slept[1..].iter().all(|d| (ms(500)..ms(1500)).contains(d)),
        "{slept:?}"
    );
}

#[test]
fn a_budget_that_refuses_until_the_deadline_ends_with_budget_exhausted() {
    let budget = RetryBudget::new(1, 1, secs(600)).unwrap();
    let clock = ManualClock::new();
    while budget.try_withdraw(clock.now()) {}
    let policy = RetryPolicy::builder()
        .base_delay(ms(10))
        .max_elapsed(secs(5))
        .build()
        .unwrap();
    let error = (|| Err::<(), _>(Flaky::Busy))
        .retry(policy)
        .budget(&budget)
        .clock(&clock)
        .sleep(|d| clock.advance(d))
        .context("post_signal")
        .call()
        .unwrap_err();
    assert_eq!(error.reason(), GiveUpReason::BudgetExhausted);
    assert_eq!(error.attempts(), 1);
    assert!(clock.elapsed() <= secs(5));
    assert!(
        error
            .to_string()
            .starts_with("post_signal: gave up after 1 attempt (retry budget held"),
        "{error}"
    );
}

#[test]
fn exhausted_retries_report_every_attempt_and_the_last_error() {
    let calls = Cell::new(0u32);
    let error = (|| {
        calls.set(calls.get() + 1);
        Err::<(), _>(calls.get())
    })
    .retry(RetryPolicy::builder().max_retries(3).build().unwrap())
    .when(|_| true)
    .sleep(|_| {})
    .context(String::from("owned name"))
    .call()
    .unwrap_err();
    assert_eq!(error.reason(), GiveUpReason::Exhausted);
    assert_eq!(error.attempts(), 4);
    assert_eq!(error.into_last_error(), 4);
}

#[test]
fn with_both_traits_in_scope_each_closure_finds_its_own() {
    let sync = (|| Ok::<_, Flaky>(1)).retry(RetryPolicy::DEFAULT).call();
    let not_sync = (|| async { Ok::<_, Flaky>(2) }).retry(RetryPolicy::DEFAULT);
    assert_eq!(sync.unwrap(), 1);
    assert!(format!("{not_sync:?}").starts_with("AsyncRetry {"));
}

#[test]
fn debug_shows_the_settings_but_no_closure() {
    let chain = (|| Err::<(), _>(Flaky::Busy))
        .retry(RetryPolicy::DEFAULT)
        .context("post_signal");
    let text = format!("{chain:?}");
    assert!(text.starts_with("BlockingRetry {"), "{text}");
    assert!(text.contains("\"post_signal\""), "{text}");
}
