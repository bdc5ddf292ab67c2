//! The blocking retry loop, on a simulated clock: no test sleeps for real.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::cell::{Cell, RefCell};
use std::fmt;
use std::sync::Mutex;
use std::time::Duration;

use retry_core::{
    Classify, Clock, DeferEvent, GiveUpEvent, GiveUpReason, Jitter, ManualClock, Retry,
    RetryBudget, RetryError, RetryEvent, RetryObserver, RetryPolicy, Retryability, SplitMix64,
    with_retry,
};

/// An operation error that remembers which attempt produced it.
#[derive(Debug, Clone, PartialEq)]
enum OpError {
    Refused(u32),
    Rejected(u32),
    Busy(u32, Duration),
}

impl fmt::Display for OpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OpError::Refused(n) => write!(f, "connection refused (attempt {n})"),
            OpError::Rejected(n) => write!(f, "rejected (attempt {n})"),
            OpError::Busy(n, d) => write!(f, "busy, retry after {d:?} (attempt {n})"),
        }
    }
}

impl std::error::Error for OpError {}

impl Classify for OpError {
    fn retryability(&self) -> Retryability {
        match self {
            OpError::Refused(_) => Retryability::Transient,
            OpError::Rejected(_) => Retryability::Permanent,
            OpError::Busy(_, d) => Retryability::RetryAfter(*d),
        }
    }
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn no_jitter() -> RetryPolicy {
    RetryPolicy::builder().jitter(Jitter::None).build().unwrap()
}

/// A fake clock plus a sleeper that advances it and records every delay.
struct Harness {
    clock: ManualClock,
    slept: RefCell<Vec<Duration>>,
}

impl Harness {
    fn new() -> Self {
        Harness {
            clock: ManualClock::new(),
            slept: RefCell::new(Vec::new()),
        }
    }

    fn sleeper(&self) -> impl Fn(Duration) + '_ {
        |d| {
            self.slept.borrow_mut().push(d);
            self.clock.advance(d);
        }
    }

    fn slept(&self) -> Vec<Duration> {
        self.slept.borrow().clone()
    }

    fn run<T>(
        &self,
        policy: &RetryPolicy,
        op: impl FnMut(u32) -> Result<T, OpError>,
    ) -> Result<T, RetryError<OpError>> {
        Retry::new(policy, "post_signal")
            .clock(&self.clock)
            .rng(SplitMix64::new(7))
            .run_blocking(&self.sleeper(), op)
    }
}

#[derive(Default)]
struct Recorder {
    retries: Mutex<Vec<(u32, Duration, OpError, Duration)>>,
    give_ups: Mutex<Vec<(u32, GiveUpReason, OpError, Duration)>>,
}

impl RetryObserver<OpError> for Recorder {
    fn on_retry(&self, e: &RetryEvent<'_, OpError>) {
        assert_eq!(e.operation, "post_signal");
        self.retries
            .lock()
            .unwrap()
            .push((e.attempt, e.delay, e.error.clone(), e.elapsed));
    }

    fn on_give_up(&self, e: &GiveUpEvent<'_, OpError>) {
        assert_eq!(e.operation, "post_signal");
        self.give_ups
            .lock()
            .unwrap()
            .push((e.attempts, e.reason, e.error.clone(), e.elapsed));
    }
}

#[test]
fn succeeds_on_the_first_try_without_sleeping() {
    let h = Harness::new();
    let calls = Cell::new(0);
    let result = h.run(&no_jitter(), |attempt| {
        calls.set(calls.get() + 1);
        assert_eq!(attempt, 1);
        Ok::<_, OpError>("sent")
    });
    assert_eq!(result.unwrap(), "sent");
    assert_eq!(calls.get(), 1);
    assert!(h.slept().is_empty());
}

#[test]
fn succeeds_after_failures_with_the_backoff_delays_in_between() {
    let h = Harness::new();
    let result = h.run(&no_jitter(), |n| {
        if n < 4 {
            Err(OpError::Refused(n))
        } else {
            Ok(n)
        }
    });
    assert_eq!(result.unwrap(), 4);
    assert_eq!(h.slept(), [secs(5), secs(10), secs(20)]);
}

#[test]
fn exhausts_after_max_attempts_with_the_full_default_schedule() {
    let h = Harness::new();
    let seen = RefCell::new(Vec::new());
    let error = h
        .run(&no_jitter(), |n| {
            seen.borrow_mut().push(n);
            Err::<(), _>(OpError::Refused(n))
        })
        .unwrap_err();
    assert_eq!(seen.into_inner(), [1, 2, 3, 4, 5, 6]);
    assert_eq!(h.slept(), [secs(5), secs(10), secs(20), secs(40), secs(80)]);
    assert_eq!(h.clock.elapsed(), secs(155));
    let RetryError::Exhausted(exhausted) = error else {
        panic!("{error:?}")
    };
    assert_eq!(exhausted.attempts, 6);
    assert_eq!(exhausted.last_error, OpError::Refused(6));
    assert_eq!(exhausted.operation, "post_signal");
}

#[test]
fn error_preserves_the_last_error_and_the_operation_in_its_message() {
    let h = Harness::new();
    let policy = RetryPolicy::builder()
        .max_retries(2)
        .jitter(Jitter::None)
        .build()
        .unwrap();
    let error = h
        .run(&policy, |n| Err::<(), _>(OpError::Refused(n)))
        .unwrap_err();
    assert_eq!(error.attempts(), 3);
    assert_eq!(error.operation(), "post_signal");
    assert_eq!(error.last_error(), &OpError::Refused(3));
    assert_eq!(
        error.to_string(),
        "post_signal: gave up after 3 attempts (retries exhausted): connection refused (attempt 3)"
    );
    let source = std::error::Error::source(&error).unwrap();
    assert_eq!(source.to_string(), "connection refused (attempt 3)");
    assert_eq!(error.into_last_error(), OpError::Refused(3));
}

#[test]
fn zero_retries_means_one_attempt() {
    let h = Harness::new();
    let policy = RetryPolicy::builder().max_retries(0).build().unwrap();
    let error = h
        .run(&policy, |n| Err::<(), _>(OpError::Refused(n)))
        .unwrap_err();
    assert_eq!(error.reason(), GiveUpReason::Exhausted);
    assert_eq!(error.attempts(), 1);
    assert!(h.slept().is_empty());
}

#[test]
fn observer_sees_every_retry_with_attempt_numbers_delays_and_the_give_up() {
    let h = Harness::new();
    let recorder = Recorder::default();
    let policy = no_jitter();
    let _ = Retry::new(&policy, "post_signal")
        .clock(&h.clock)
        .observer(&recorder)
        .run_blocking(&h.sleeper(), |n| Err::<(), _>(OpError::Refused(n)));
    let retries = recorder.retries.into_inner().unwrap();
    let expected_delays = [5, 10, 20, 40, 80];
    let mut expected_elapsed = 0;
    assert_eq!(retries.len(), 5);
    for (i, (attempt, delay, error, elapsed)) in retries.into_iter().enumerate() {
        let n = u32::try_from(i).unwrap() + 1;
        assert_eq!(attempt, n);
        assert_eq!(delay, secs(expected_delays[i]));
        assert_eq!(error, OpError::Refused(n));
        assert_eq!(elapsed, secs(expected_elapsed));
        expected_elapsed += expected_delays[i];
    }
    let give_ups = recorder.give_ups.into_inner().unwrap();
    assert_eq!(
        give_ups,
        [(6, GiveUpReason::Exhausted, OpError::Refused(6), secs(155))]
    );
}

#[test]
fn observer_delays_are_the_delays_actually_slept_with_jitter() {
    for jitter in Jitter::ALL {
        let h = Harness::new();
        let recorder = Recorder::default();
        let policy = RetryPolicy::builder().jitter(jitter).build().unwrap();
        let _ = Retry::new(&policy, "post_signal")
            .clock(&h.clock)
            .observer(&recorder)
            .run_blocking(&h.sleeper(), |n| Err::<(), _>(OpError::Refused(n)));
        let observed: Vec<Duration> = recorder
            .retries
            .into_inner()
            .unwrap()
            .iter()
            .map(|r| r.1)
            .collect();
        assert_eq!(observed, h.slept(), "{jitter}");
        assert!(
            observed.iter().all(|d| *d <= policy.max_delay()),
            "{jitter}"
        );
    }
}

#[test]
fn permanent_errors_are_not_retried() {
    let h = Harness::new();
    let recorder = Recorder::default();
    let policy = no_jitter();
    let error = Retry::new(&policy, "post_signal")
        .clock(&h.clock)
        .observer(&recorder)
        .run_blocking(&h.sleeper(), |n| {
            if n == 1 {
                Err(OpError::Refused(n))
            } else {
                Err::<(), _>(OpError::Rejected(n))
            }
        })
        .unwrap_err();
    assert!(matches!(
        error,
        RetryError::Permanent {
            attempts: 2,
            error: OpError::Rejected(2),
            ..
        }
    ));
    assert_eq!(h.slept(), [secs(5)]);
    assert_eq!(
        recorder.give_ups.into_inner().unwrap()[0].1,
        GiveUpReason::Permanent
    );
}

#[test]
fn retry_after_hint_is_honoured_when_longer_than_the_backoff() {
    let h = Harness::new();
    let result = h.run(&no_jitter(), |n| match n {
        1 => Err(OpError::Busy(n, secs(30))),
        _ => Ok(n),
    });
    assert_eq!(result.unwrap(), 2);
    assert_eq!(h.slept(), [secs(30)]);
}

#[test]
fn retry_after_hint_never_shortens_the_backoff() {
    let h = Harness::new();
    let result = h.run(&no_jitter(), |n| match n {
        1 | 2 => Err(OpError::Busy(n, secs(1))),
        _ => Ok(n),
    });
    assert_eq!(result.unwrap(), 3);
    assert_eq!(h.slept(), [secs(5), secs(10)]);
}

#[test]
fn retry_after_hint_is_not_capped_by_max_delay() {
    let h = Harness::new();
    let result = h.run(&no_jitter(), |n| match n {
        1 => Err(OpError::Busy(n, secs(300))),
        _ => Ok(n),
    });
    assert_eq!(result.unwrap(), 2);
    assert_eq!(h.slept(), [secs(300)]);
}

#[test]
fn retry_after_hint_that_cannot_fit_the_deadline_gives_up_before_sleeping() {
    let h = Harness::new();
    let error = h
        .run(&no_jitter(), |n| Err::<(), _>(OpError::Busy(n, secs(601))))
        .unwrap_err();
    assert!(
        matches!(error, RetryError::DeadlineExceeded { attempts: 1, .. }),
        "{error:?}"
    );
    assert!(h.slept().is_empty());
    assert!(error.to_string().contains("deadline"));
}

#[test]
fn retry_after_hint_that_ends_exactly_at_the_deadline_is_honoured() {
    let h = Harness::new();
    let result = h.run(&no_jitter(), |n| match n {
        1 => Err(OpError::Busy(n, secs(600))),
        _ => Ok(n),
    });
    assert_eq!(result.unwrap(), 2);
    assert_eq!(h.clock.elapsed(), secs(600));
}

#[test]
fn observer_hears_about_a_deadline_give_up_with_its_elapsed_time() {
    let h = Harness::new();
    let recorder = Recorder::default();
    let policy = no_jitter();
    let error = Retry::new(&policy, "post_signal")
        .clock(&h.clock)
        .observer(&recorder)
        .run_blocking(&h.sleeper(), |n| {
            h.clock.advance(secs(7));
            Err::<(), _>(OpError::Busy(n, secs(595)))
        })
        .unwrap_err();
    assert_eq!(
        recorder.give_ups.into_inner().unwrap(),
        [(
            1,
            GiveUpReason::DeadlineExceeded,
            OpError::Busy(1, secs(595)),
            secs(7)
        )]
    );
    assert!(recorder.retries.into_inner().unwrap().is_empty());
    assert_eq!(error.reason(), GiveUpReason::DeadlineExceeded);
}

#[test]
fn deadline_stops_before_a_sleep_that_would_end_past_it() {
    // Each attempt takes 20 s of (simulated) work; deadline 100 s.
    // t=0 a1 fails at 20, +5 -> 25; a2 fails at 45, +10 -> 55; a3 fails at 75,
    // +20 would end at 95 <= 100 -> a4 at 95 fails at 115: past, so stop.
    let h = Harness::new();
    let policy = RetryPolicy::builder()
        .jitter(Jitter::None)
        .max_elapsed(secs(100))
        .build()
        .unwrap();
    let error = h
        .run(&policy, |n| {
            h.clock.advance(secs(20));
            Err::<(), _>(OpError::Refused(n))
        })
        .unwrap_err();
    let RetryError::DeadlineExceeded {
        attempts, elapsed, ..
    } = error
    else {
        panic!("{error:?}")
    };
    assert_eq!(attempts, 4);
    assert_eq!(elapsed, secs(115));
    assert_eq!(h.slept(), [secs(5), secs(10), secs(20)]);
}

#[test]
fn deadline_is_never_overshot_by_a_sleep_for_any_strategy() {
    for jitter in Jitter::ALL {
        for seed in 0..20 {
            let h = Harness::new();
            let policy = RetryPolicy::builder()
                .jitter(jitter)
                .max_retries(10)
                .max_elapsed(secs(200))
                .build()
                .unwrap();
            let error = Retry::new(&policy, "post_signal")
                .clock(&h.clock)
                .rng(SplitMix64::new(seed))
                .run_blocking(&h.sleeper(), |n| Err::<(), _>(OpError::Refused(n)))
                .unwrap_err();
            assert!(
                h.clock.elapsed() <= secs(200),
                "{jitter}/{seed}: {:?}",
                h.clock.elapsed()
            );
            assert!(matches!(
                error.reason(),
                GiveUpReason::DeadlineExceeded | GiveUpReason::Exhausted
            ));
        }
    }
}

/// Records deferrals as (attempt held back, delay, deferrals so far, elapsed).
#[derive(Default)]
struct Deferrals {
    seen: Mutex<Vec<(u32, Duration, u32, Duration)>>,
    retries: Mutex<Vec<u32>>,
}

impl RetryObserver<OpError> for Deferrals {
    fn on_retry(&self, e: &RetryEvent<'_, OpError>) {
        self.retries.lock().unwrap().push(e.attempt);
    }

    fn on_defer(&self, e: &DeferEvent<'_, OpError>) {
        assert_eq!(e.operation, "post_signal");
        assert!(matches!(e.error, OpError::Refused(_)), "{:?}", e.error);
        self.seen
            .lock()
            .unwrap()
            .push((e.attempt, e.delay, e.deferrals, e.elapsed));
    }
}

/// A budget with no retries left for a while: the floor (1 per second over
/// 10 s) spent by ten retries at the start.
fn spent_budget(clock: &ManualClock) -> RetryBudget {
    let budget = RetryBudget::new(1, 1, secs(10)).unwrap();
    for _ in 0..10 {
        assert!(budget.try_withdraw(clock.now()));
    }
    budget
}

#[test]
fn a_refused_retry_is_deferred_not_counted_and_goes_once_the_window_frees_it() {
    let h = Harness::new();
    let budget = spent_budget(&h.clock);
    let observer = Deferrals::default();
    let calls = Cell::new(0);
    let result = Retry::new(&no_jitter(), "post_signal")
        .clock(&h.clock)
        .budget(&budget)
        .observer(&observer)
        .rng(SplitMix64::new(3))
        .run_blocking(&h.sleeper(), |n| {
            calls.set(calls.get() + 1);
            assert_eq!(n, calls.get(), "attempt numbers count attempts only");
            if n < 2 {
                Err(OpError::Refused(n))
            } else {
                Ok(n)
            }
        });
    assert_eq!(result.unwrap(), 2);
    assert_eq!(calls.get(), 2);
    // The 5 s backoff, then deferrals until the spent slot leaves the window at 10 s.
    let seen = observer.seen.into_inner().unwrap();
    assert!(!seen.is_empty());
    assert!(seen.iter().all(|(attempt, ..)| *attempt == 2));
    let counts: Vec<u32> = seen.iter().map(|(_, _, n, _)| *n).collect();
    assert_eq!(
        counts,
        (1..=u32::try_from(seen.len()).unwrap()).collect::<Vec<_>>()
    );
    assert!(
        seen.iter()
            .all(|(_, d, ..)| (500..1500).contains(&d.as_millis()))
    );
    assert_eq!(seen[0].3, secs(5));
    let slept = h.slept();
    assert_eq!(slept[0], secs(5));
    assert_eq!(slept.len(), 1 + seen.len());
    let total: Duration = slept.iter().sum();
    assert!((secs(10)..secs(12)).contains(&total), "{total:?}");
    assert_eq!(observer.retries.into_inner().unwrap(), [1]);
}

#[test]
fn deferrals_never_count_as_attempts_when_the_budget_holds_out_to_the_deadline() {
    let h = Harness::new();
    // Floor 1 per second over 600 s, all spent: nothing is freed before 600 s.
    let budget = RetryBudget::new(1, 1, secs(600)).unwrap();
    for _ in 0..600 {
        assert!(budget.try_withdraw(h.clock.now()));
    }
    let policy = RetryPolicy::builder()
        .jitter(Jitter::None)
        .max_elapsed(secs(60))
        .build()
        .unwrap();
    let observer = Deferrals::default();
    let calls = Cell::new(0u32);
    let error = Retry::new(&policy, "post_signal")
        .clock(&h.clock)
        .budget(&budget)
        .observer(&observer)
        .run_blocking(&h.sleeper(), |n| {
            calls.set(calls.get() + 1);
            Err::<(), _>(OpError::Refused(n))
        })
        .unwrap_err();
    assert_eq!(error.reason(), GiveUpReason::BudgetExhausted);
    assert_eq!(error.attempts(), calls.get());
    assert_eq!(error.attempts(), 1);
    assert_eq!(error.last_error(), &OpError::Refused(1));
    assert!(matches!(error, RetryError::BudgetExhausted { elapsed, .. } if elapsed == secs(60)));
    assert_eq!(
        error.to_string(),
        "post_signal: gave up after 1 attempt (retry budget held the retry back until the deadline, 60s): connection refused (attempt 1)"
    );
    // Deferred from 5 s to exactly the deadline, about once a second; never past it.
    let seen = observer.seen.into_inner().unwrap();
    assert!((40..=110).contains(&seen.len()), "{}", seen.len());
    assert_eq!(h.clock.elapsed(), secs(60));
}

#[test]
fn the_observer_hears_the_give_up_after_deferrals_with_the_attempt_count() {
    let h = Harness::new();
    let budget = RetryBudget::new(1, 1, secs(600)).unwrap();
    while budget.try_withdraw(h.clock.now()) {}
    let policy = RetryPolicy::builder()
        .max_retries(3)
        .jitter(Jitter::None)
        .max_elapsed(secs(20))
        .build()
        .unwrap();
    let recorder = Recorder::default();
    let error = Retry::new(&policy, "post_signal")
        .clock(&h.clock)
        .budget(&budget)
        .observer(&recorder)
        .run_blocking(&h.sleeper(), |n| Err::<(), _>(OpError::Refused(n)))
        .unwrap_err();
    let give_ups = recorder.give_ups.into_inner().unwrap();
    assert_eq!(give_ups.len(), 1);
    assert_eq!(give_ups[0].0, 1);
    assert_eq!(give_ups[0].1, GiveUpReason::BudgetExhausted);
    assert_eq!(give_ups[0].3, secs(20));
    assert_eq!(error.attempts(), 1);
}

#[test]
fn each_loop_deposits_once_and_each_retry_withdraws_once() {
    let h = Harness::new();
    // 100 %: every request earns one retry, on a floor of 600 that nothing
    // leaves during this test (600 s window).
    let budget = RetryBudget::new(100, 1, secs(600)).unwrap();
    let left = || budget.retries_left(h.clock.now());
    assert_eq!(left(), 600);
    h.run_with_budget(&no_jitter(), &budget, Ok::<_, OpError>)
        .unwrap();
    assert_eq!(left(), 601, "a success deposits and withdraws nothing");
    let _ = h.run_with_budget(&no_jitter(), &budget, |n| {
        Err::<(), _>(OpError::Rejected(n))
    });
    assert_eq!(left(), 602, "a permanent failure is not retried");
    let result = h.run_with_budget(&no_jitter(), &budget, |n| {
        if n < 3 {
            Err(OpError::Refused(n))
        } else {
            Ok(n)
        }
    });
    assert_eq!(result.unwrap(), 3);
    assert_eq!(left(), 602 + 1 - 2, "one deposit, two withdrawals");
}

#[test]
fn with_retry_returns_immediately_when_no_sleep_is_needed() {
    let policy = RetryPolicy::default();
    assert_eq!(
        with_retry(&policy, "op", |_| Ok::<_, OpError>(1)).unwrap(),
        1
    );
    let error = with_retry(&policy, "op", |n| Err::<(), _>(OpError::Rejected(n))).unwrap_err();
    assert_eq!(error.reason(), GiveUpReason::Permanent);
    assert_eq!(error.operation(), "op");
}

#[test]
fn retry_debug_output_names_the_operation() {
    let policy = RetryPolicy::default();
    let retry: Retry<'_, OpError> = Retry::new(&policy, "post_signal");
    let text = format!("{retry:?}");
    assert!(text.contains("post_signal"), "{text}");
}

trait RunWithBudget {
    fn run_with_budget<T>(
        &self,
        policy: &RetryPolicy,
        budget: &RetryBudget,
        op: impl FnMut(u32) -> Result<T, OpError>,
    ) -> Result<T, RetryError<OpError>>;
}

impl RunWithBudget for Harness {
    fn run_with_budget<T>(
        &self,
        policy: &RetryPolicy,
        budget: &RetryBudget,
        op: impl FnMut(u32) -> Result<T, OpError>,
    ) -> Result<T, RetryError<OpError>> {
        Retry::new(policy, "post_signal")
            .clock(&self.clock)
            .budget(budget)
            .run_blocking(&self.sleeper(), op)
    }
}
