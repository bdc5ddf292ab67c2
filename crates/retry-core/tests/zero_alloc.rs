//! The sync retry loop allocates nothing per attempt, through `Retry` and
//! through the extension trait (`op.retry(policy)…call()`).
//!
//! `allocation-counter` installs a counting global allocator in this test
//! binary only (it is a dev-dependency used by no other target) and counts the
//! allocations of the current thread, so the other tests running in parallel
//! do not disturb the count. No `unsafe` is written here: the workspace keeps
//! `unsafe_code = "forbid"` (docs/benchmarks.md says why this crate was
//! chosen over an allocator of our own).
//!
//! One-time costs (the operation name copied into the error on give-up) are
//! cancelled by comparing runs that differ only in the number of retries.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::hint::black_box;
use std::time::Duration;

use allocation_counter::{AllocationInfo, measure};
use retry_core::{
    BlockingRetryable, Classify, Clock, Jitter, ManualClock, Retry, RetryBudget, RetryPolicy,
    Retryability, SplitMix64,
};

#[derive(Debug)]
struct Refused;

impl Classify for Refused {
    fn retryability(&self) -> Retryability {
        Retryability::Transient
    }
}

fn policy(max_retries: u32, jitter: Jitter) -> RetryPolicy {
    RetryPolicy::builder()
        .max_retries(max_retries)
        .base_delay(Duration::from_secs(1))
        .max_elapsed(Duration::from_secs(600))
        .jitter(jitter)
        .build()
        .unwrap()
}

/// Allocations of one loop whose operation fails `failures` times, then
/// succeeds (or gives up if the policy runs out first). Both the default
/// constructor (system clock, entropy-seeded jitter) and a seeded generator
/// are exercised.
fn loop_allocations(policy: &RetryPolicy, failures: u32, seeded: bool) -> AllocationInfo {
    let no_sleep = |_delay: Duration| {};
    let op = |attempt: u32| {
        if attempt <= black_box(failures) {
            Err(Refused)
        } else {
            Ok(attempt)
        }
    };
    // Outside the measurement: the policy is built, and the first call warms
    // up lazily initialized thread-locals (the std hash keys).
    let _ = Retry::new(policy, "post_signal").run_blocking(&no_sleep, op);
    measure(|| {
        let result = if seeded {
            Retry::new(policy, "post_signal")
                .rng(SplitMix64::new(7))
                .run_blocking(&no_sleep, op)
        } else {
            Retry::new(policy, "post_signal").run_blocking(&no_sleep, op)
        };
        drop(black_box(result));
    })
}

#[test]
fn retries_that_end_in_success_allocate_nothing() {
    for jitter in Jitter::ALL {
        let policy = policy(10, jitter);
        for seeded in [false, true] {
            let first_try = loop_allocations(&policy, 0, seeded);
            assert_eq!(first_try.count_total, 0, "{jitter}: {first_try:?}");
            for failures in 1..=10 {
                let info = loop_allocations(&policy, failures, seeded);
                assert_eq!(
                    info.count_total, first_try.count_total,
                    "{jitter}, {failures} failures before success: {info:?}"
                );
                assert_eq!(info.bytes_total, first_try.bytes_total);
            }
        }
    }
}

#[test]
fn giving_up_allocates_the_same_after_one_attempt_or_eleven() {
    for jitter in Jitter::ALL {
        for seeded in [false, true] {
            // Always failing: 1 attempt (no retry allowed) against 2, 6 and 11.
            let one_attempt = loop_allocations(&policy(0, jitter), u32::MAX, seeded);
            // The error keeps the operation name: the only allocation, once.
            assert_eq!(one_attempt.count_total, 1, "{jitter}: {one_attempt:?}");
            for max_retries in [1, 5, 10] {
                let info = loop_allocations(&policy(max_retries, jitter), u32::MAX, seeded);
                assert_eq!(
                    (info.count_total, info.bytes_total),
                    (one_attempt.count_total, one_attempt.bytes_total),
                    "{jitter}, {max_retries} retries: {info:?}"
                );
            }
        }
    }
}

/// Allocations of one loop on a budget: `spent` withdrawals are made first,
/// so that retries are deferred until the window frees them.
/// Also returns the simulated time the loop took.
fn budget_loop_allocations(failures: u32, spent: u32) -> (AllocationInfo, Duration) {
    let clock = ManualClock::new();
    let sleeper = |delay: Duration| clock.advance(delay);
    let policy = policy(10, Jitter::None);
    // Built outside the measurement: the test is about the loop.
    let budget = RetryBudget::new(1, 1, Duration::from_secs(10)).unwrap();
    for _ in 0..spent {
        let _ = budget.try_withdraw(clock.now());
    }
    let op = |attempt: u32| {
        if attempt <= black_box(failures) {
            Err(Refused)
        } else {
            Ok(attempt)
        }
    };
    let info = measure(|| {
        let result = Retry::new(&policy, "post_signal")
            .clock(&clock)
            .budget(&budget)
            .rng(SplitMix64::new(7))
            .run_blocking(&sleeper, op);
        drop(black_box(result));
    });
    (info, clock.elapsed())
}

#[test]
fn budget_withdrawals_and_deferrals_allocate_nothing() {
    let (first_try, _) = budget_loop_allocations(0, 0);
    assert_eq!(first_try.count_total, 0, "{first_try:?}");
    for (failures, spent) in [(1, 0), (5, 0), (3, 10)] {
        let (info, took) = budget_loop_allocations(failures, spent);
        assert_eq!(
            info.count_total, 0,
            "{failures} failures, {spent} retries spent beforehand: {info:?}"
        );
        if spent > 0 {
            // The spent floor is freed only at 10 s: the retries were deferred.
            assert!(took >= Duration::from_secs(10), "{took:?}");
        }
    }
}

/// Allocations of one extension-trait loop (`op.retry(&policy)…call()`)
/// whose operation fails `failures` times, with every chain method that
/// takes a closure or a handle in use.
fn chain_allocations(policy: &RetryPolicy, failures: u32, with_budget: bool) -> AllocationInfo {
    let clock = ManualClock::new();
    // A fresh budget per loop, on this loop's clock (built outside the measurement).
    let budget = RetryBudget::default();
    let budget = with_budget.then_some(&budget);
    let run = || {
        let mut attempt = 0;
        let mut heard = 0u32;
        let chain = (|| {
            attempt += 1;
            if attempt <= black_box(failures) {
                Err(Refused)
            } else {
                Ok(attempt)
            }
        })
        .retry(policy)
        .notify(|_, _| heard += 1)
        .adjust(|_, _| None)
        .clock(&clock)
        .sleep(|d| clock.advance(d))
        .context("post_signal");
        let result = match budget {
            Some(budget) => chain.budget(budget).call(),
            None => chain.call(),
        };
        drop(black_box(result));
    };
    run(); // warm up thread-locals outside the measurement
    measure(run)
}

#[test]
fn the_extension_trait_allocates_nothing_per_attempt() {
    for jitter in Jitter::ALL {
        let ten = policy(10, jitter);
        for budget in [false, true] {
            let first_try = chain_allocations(&ten, 0, budget);
            assert_eq!(first_try.count_total, 0, "{jitter}: {first_try:?}");
            for failures in 1..=10 {
                let info = chain_allocations(&ten, failures, budget);
                assert_eq!(
                    info.count_total, 0,
                    "{jitter}, {failures} failures: {info:?}"
                );
            }
            // Giving up copies the operation name once, however many attempts.
            let once = chain_allocations(&policy(0, jitter), u32::MAX, budget);
            let eleven = chain_allocations(&ten, u32::MAX, budget);
            assert_eq!(once.count_total, 1, "{jitter}: {once:?}");
            assert_eq!(
                (eleven.count_total, eleven.bytes_total),
                (once.count_total, once.bytes_total)
            );
        }
    }
}
