//! The default budget against a fleet of concurrent retry loops, on tokio's
//! paused clock with seeded randomness: flakiness never fails a signal, and a
//! full outage keeps retries within the documented rate.
//!
//! Each loop is the default policy (5 retries, 5 s doubling to at most
//! 120 s, 600 s deadline, proportional jitter) sharing one default budget
//! (30 %, 10 per second, 10 s). No network: the operation draws its outcome
//! from a seeded generator, so every run sees the same failures.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use retry_core::{
    Classify, Clock, DeferEvent, GiveUpReason, RandomSource, Retry, RetryBudget, RetryError,
    RetryObserver, RetryPolicy, Retryability, SplitMix64,
};

const SIGNALS: u64 = 2000;

#[derive(Debug, Clone, Copy, PartialEq)]
struct Unavailable;

impl Classify for Unavailable {
    fn retryability(&self) -> Retryability {
        Retryability::Transient
    }
}

/// tokio's clock, without the crate's `tokio` feature.
#[derive(Debug, Clone, Copy)]
struct TokioNow;

impl Clock for TokioNow {
    fn now(&self) -> Instant {
        tokio::time::Instant::now().into_std()
    }
}

static TOKIO_SLEEP: fn(Duration) -> tokio::time::Sleep = tokio::time::sleep;
static POLICY: RetryPolicy = RetryPolicy::DEFAULT;

#[derive(Default)]
struct CountDeferrals(AtomicU32);

impl<E> RetryObserver<E> for CountDeferrals {
    fn on_defer(&self, _event: &DeferEvent<'_, E>) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

/// What one run of the fleet saw.
struct Fleet {
    outcomes: Vec<Result<u32, RetryError<Unavailable>>>,
    /// Seconds after the start at which each retry (attempt > 1) was made.
    retry_times: Vec<f64>,
    deferrals: u32,
    attempts_made: u32,
}

/// Starts `SIGNALS` loops at once; an attempt fails with probability
/// `failure_rate`, drawn from a generator seeded per loop.
async fn run_fleet(failure_rate: f64) -> Fleet {
    let budget = Arc::new(RetryBudget::default());
    let observer = Arc::new(CountDeferrals::default());
    let retry_times = Arc::new(Mutex::new(Vec::new()));
    let attempts_made = Arc::new(AtomicU32::new(0));
    let start = tokio::time::Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for signal in 0..SIGNALS {
        let (budget, observer) = (Arc::clone(&budget), Arc::clone(&observer));
        let (retry_times, attempts_made) = (Arc::clone(&retry_times), Arc::clone(&attempts_made));
        tasks.spawn(async move {
            let outcomes = Mutex::new(SplitMix64::new(0xF1EE7 + signal));
            let counted = AtomicU32::new(0);
            let observer: &CountDeferrals = &observer;
            let run = Retry::new(&POLICY, "post_signal")
                .clock(TokioNow)
                .budget(&budget)
                .observer(observer)
                .rng(SplitMix64::new(signal))
                .run_async(&TOKIO_SLEEP, |attempt| {
                    counted.fetch_add(1, Ordering::Relaxed);
                    attempts_made.fetch_add(1, Ordering::Relaxed);
                    if attempt > 1 {
                        retry_times
                            .lock()
                            .unwrap()
                            .push(start.elapsed().as_secs_f64());
                    }
                    let fails = outcomes.lock().unwrap().next_f64() < failure_rate;
                    std::future::ready(if fails { Err(Unavailable) } else { Ok(attempt) })
                });
            // A hung loop would show up as this timeout, in virtual time.
            let outcome = tokio::time::timeout(Duration::from_secs(700), run)
                .await
                .expect("every loop ends within its 600 s deadline");
            // Deferrals are not attempts: the operation's count is the loop's.
            let made = counted.load(Ordering::Relaxed);
            match &outcome {
                Ok(attempt) => assert_eq!(*attempt, made),
                Err(error) => assert_eq!(error.attempts(), made),
            }
            (outcome, start.elapsed())
        });
    }
    let mut outcomes = Vec::new();
    while let Some(done) = tasks.join_next().await {
        let (outcome, took) = done.unwrap();
        assert!(took <= Duration::from_secs(600), "{took:?}");
        outcomes.push(outcome);
    }
    let mut retry_times = Arc::try_unwrap(retry_times).unwrap().into_inner().unwrap();
    retry_times.sort_by(f64::total_cmp);
    Fleet {
        outcomes,
        retry_times,
        deferrals: observer.0.load(Ordering::Relaxed),
        attempts_made: attempts_made.load(Ordering::Relaxed),
    }
}

#[tokio::test(start_paused = true)]
async fn a_server_failing_a_fifth_of_attempts_at_random_fails_no_signal() {
    let fleet = run_fleet(0.2).await;
    let gave_up: Vec<_> = fleet
        .outcomes
        .iter()
        .filter_map(|o| o.as_ref().err())
        .collect();
    assert!(
        gave_up.is_empty(),
        "{} gave up: {:?}",
        gave_up.len(),
        gave_up.first()
    );
    // The flakiness was real: about a quarter of a retry per signal.
    let retries = fleet.retry_times.len() as u64;
    assert!((400..600).contains(&retries), "{retries} retries");
    assert_eq!(u64::from(fleet.attempts_made), SIGNALS + retries);
    println!(
        "20 % failing: {SIGNALS} delivered, {retries} retries, {} deferrals",
        fleet.deferrals
    );
}

#[tokio::test(start_paused = true)]
async fn a_server_down_for_everyone_sees_retries_within_the_documented_bound() {
    let fleet = run_fleet(1.0).await;
    // Every loop ended, with one of the three give-ups of an outage.
    assert_eq!(fleet.outcomes.len() as u64, SIGNALS);
    let mut by_reason = std::collections::BTreeMap::new();
    for outcome in &fleet.outcomes {
        let reason = outcome.as_ref().unwrap_err().reason();
        assert!(
            matches!(
                reason,
                GiveUpReason::Exhausted
                    | GiveUpReason::DeadlineExceeded
                    | GiveUpReason::BudgetExhausted
            ),
            "{reason}"
        );
        *by_reason.entry(reason.as_str()).or_insert(0u32) += 1;
    }
    assert!(fleet.deferrals > 0);
    assert!(
        by_reason.get("budget").copied().unwrap_or(0) > 0,
        "{by_reason:?}"
    );

    // The bound of docs/configuration.md: over any stretch of T seconds, at
    // most min_per_second * (T + 2 * window) retries, plus percent % of the
    // first attempts from one window before the stretch to its end. All
    // first attempts were at 0 s.
    let (min_per_second, window, percent) = (10.0, 10.0, 0.3);
    let requests_near = |from: f64| if from <= window { SIGNALS as f64 } else { 0.0 };
    let count_in = |from: f64, to: f64| {
        fleet
            .retry_times
            .iter()
            .filter(|t| (from..to).contains(*t))
            .count() as f64
    };
    let end = fleet.retry_times.last().copied().unwrap_or(0.0);
    let mut worst_window = 0.0f64;
    let mut from = 0.0;
    while from <= end {
        for length in [1.0, window, 60.0, 600.0] {
            let seen = count_in(from, from + length);
            let bound = min_per_second * (length + 2.0 * window) + percent * requests_near(from);
            assert!(
                seen <= bound,
                "{seen} retries in [{from}, {from}+{length}) > {bound}"
            );
            if length == window && from > 2.0 * window {
                worst_window = worst_window.max(seen);
            }
        }
        from += 0.5;
    }
    // The long-run rate, away from the start: min_per_second on average.
    let retries = fleet.retry_times.len() as f64;
    let late = count_in(2.0 * window, 600.0);
    let late_rate = late / (600.0 - 2.0 * window);
    assert!(late_rate <= min_per_second * 1.05, "{late_rate} retries/s");
    // Without a budget the fleet would make 5 retries per signal.
    assert!(retries < 5.0 * SIGNALS as f64 * 0.7, "{retries}");
    println!(
        "all failing: {retries} retries ({late_rate:.2}/s after {}s, worst 10 s window {worst_window}), \
         {} deferrals, give-ups {by_reason:?}",
        2.0 * window,
        fleet.deferrals
    );
}
