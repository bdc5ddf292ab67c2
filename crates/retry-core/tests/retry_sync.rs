//! The blocking retry loop, on a simulated clock: no test sleeps for real.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::cell::{Cell, RefCell};
use std::fmt;
use std::sync::Mutex;
use std::time::Duration;

use retry_core::{
    Classify, GiveUpEvent, GiveUpReason, Jitter, ManualClock, Retry, RetryBudget, RetryError,
    RetryEvent, RetryObserver, RetryPolicy, Retryability, SplitMix64, with_retry,
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

#[test]
fn budget_refuses_retries_with_a_distinct_error_and_recovers_on_successes() {
    let h = Harness::new();
    let policy = no_jitter();
    let budget = RetryBudget::new(10, 0.5).unwrap();
    let recorder = Recorder::default();
    // Failures drain the bucket: 10 -> 5 tokens after five failed attempts.
    let error = Retry::new(&policy, "post_signal")
        .clock(&h.clock)
        .budget(&budget)
        .observer(&recorder)
        .run_blocking(&h.sleeper(), |n| Err::<(), _>(OpError::Refused(n)))
        .unwrap_err();
    assert!(
        matches!(error, RetryError::BudgetExhausted { attempts: 5, .. }),
        "{error:?}"
    );
    assert_eq!(error.reason(), GiveUpReason::BudgetExhausted);
    assert!(error.to_string().contains("retry budget exhausted"));
    assert_eq!(
        recorder.give_ups.into_inner().unwrap()[0].1,
        GiveUpReason::BudgetExhausted
    );
    assert!(!budget.can_retry());

    // While the budget is low, a failure gets no retry at all.
    let error = h.run_with_budget(&policy, &budget, |n| Err::<(), _>(OpError::Refused(n)));
    assert_eq!(error.unwrap_err().attempts(), 1);

    // Successes earn tokens back (4 + 6 * 0.5 = 7), and retries return:
    // the next failure leaves 6 > 5 tokens.
    for _ in 0..6 {
        h.run_with_budget(&policy, &budget, Ok::<_, OpError>)
            .unwrap();
    }
    assert!(budget.can_retry());
    let result = h.run_with_budget(&policy, &budget, |n| {
        if n < 2 {
            Err(OpError::Refused(n))
        } else {
            Ok(n)
        }
    });
    assert_eq!(result.unwrap(), 2);
}

#[test]
fn permanent_failures_do_not_drain_the_budget() {
    let h = Harness::new();
    let budget = RetryBudget::default();
    for _ in 0..20 {
        let _ = h.run_with_budget(&no_jitter(), &budget, |n| {
            Err::<(), _>(OpError::Rejected(n))
        });
    }
    assert_eq!(budget.tokens(), 10.0);
}

#[test]
fn the_final_attempt_reports_exhausted_rather_than_budget() {
    let h = Harness::new();
    let policy = RetryPolicy::builder()
        .max_retries(1)
        .jitter(Jitter::None)
        .build()
        .unwrap();
    let budget = RetryBudget::new(4, 0.1).unwrap(); // can retry while tokens > 2
    let error = h.run_with_budget(&policy, &budget, |n| Err::<(), _>(OpError::Refused(n)));
    // Two failures leave 2 tokens, which refuses retries, but none was left anyway.
    assert_eq!(error.unwrap_err().reason(), GiveUpReason::Exhausted);
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
