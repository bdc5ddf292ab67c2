//! retry-core against the crates people use instead, side by side in one run.
//!
//! - `backoff_schedule`: build a backoff from the policy and draw the 5
//!   jittered delays of one retry loop (5 s doubling to at most 120 s), for
//!   retry-core, backon's `ExponentialBuilder` and the `backoff` crate's
//!   `ExponentialBackoff`. Each side seeds its generator the way it does in
//!   production (retry-core and backon from a thread-local generator,
//!   `backoff` from `rand`'s thread rng).
//! - `retry_loop`: the whole blocking loop for an operation that fails twice
//!   then succeeds, with a sleeper that returns at once: retry-core's
//!   extension trait (`op.retry(&policy).sleep(..).call()`, the same line as
//!   backon's), retry-core's `Retry::run_blocking`, and backon's blocking
//!   retry.
//!
//! `cargo xtask bench` runs this with short times and reports the ratios.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use backoff::backoff::Backoff as _;
use backon::{BackoffBuilder as _, ExponentialBuilder};
use criterion::{Criterion, criterion_group, criterion_main};
use retry_core::{
    Classify, Jitter, ManualClock, Retry, RetryPolicy, Retryability, SplitMix64, ThreadRandom,
};

const BASE: Duration = Duration::from_secs(5);
const MULTIPLIER: f64 = 2.0;
const MAX_DELAY: Duration = Duration::from_secs(120);
const RETRIES: u32 = 5;

fn policy() -> RetryPolicy {
    RetryPolicy::builder()
        .max_retries(RETRIES)
        .base_delay(BASE)
        .backoff_multiplier(MULTIPLIER)
        .max_delay(MAX_DELAY)
        .jitter(Jitter::Proportional)
        .build()
        .unwrap()
}

fn backon_builder() -> ExponentialBuilder {
    ExponentialBuilder::new()
        .with_min_delay(BASE)
        .with_factor(MULTIPLIER as f32)
        .with_max_delay(MAX_DELAY)
        .with_max_times(RETRIES as usize)
        .with_jitter()
}

fn backoff_crate() -> backoff::ExponentialBackoff {
    backoff::ExponentialBackoffBuilder::new()
        .with_initial_interval(BASE)
        .with_multiplier(MULTIPLIER)
        .with_max_interval(MAX_DELAY)
        // +/-10 %, the closest to retry-core's proportional (+0..10 %).
        .with_randomization_factor(0.1)
        .with_max_elapsed_time(None)
        .build()
}

fn backoff_schedule(c: &mut Criterion) {
    let policy = policy();
    let builder = backon_builder();
    let mut group = c.benchmark_group("backoff_schedule");
    group.bench_function("retry-core", |b| {
        b.iter(|| black_box(&policy).backoff(ThreadRandom).sum::<Duration>())
    });
    group.bench_function("backon", |b| {
        b.iter(|| black_box(&builder).build().sum::<Duration>())
    });
    group.bench_function("backoff", |b| {
        b.iter(|| {
            let mut backoff = backoff_crate();
            let mut total = Duration::ZERO;
            for _ in 0..RETRIES {
                total += backoff.next_backoff().unwrap_or_default();
            }
            total
        })
    });
    group.finish();
}

#[derive(Debug)]
struct Refused;

impl Classify for Refused {
    fn retryability(&self) -> Retryability {
        Retryability::Transient
    }
}

/// Fails twice, then succeeds: the operation of every `retry_loop` row.
fn flaky() -> impl FnMut() -> Result<u32, Refused> {
    let mut attempt = 0u32;
    move || {
        attempt += 1;
        if black_box(attempt) < 3 {
            Err(Refused)
        } else {
            Ok(attempt)
        }
    }
}

fn retry_loop(c: &mut Criterion) {
    let policy = policy();
    let builder = backon_builder();
    let mut group = c.benchmark_group("retry_loop");
    group.bench_function("retry-core", |b| {
        b.iter(|| {
            retry_core::BlockingRetryable::retry(flaky(), black_box(&policy))
                .sleep(|_delay: Duration| {})
                .call()
        })
    });
    group.bench_function("retry-core-Retry", |b| {
        b.iter(|| {
            Retry::new(black_box(&policy), "post_signal").run_blocking(&|_delay| {}, |attempt| {
                if black_box(attempt) < 3 {
                    Err(Refused)
                } else {
                    Ok(attempt)
                }
            })
        })
    });
    // Diagnostic, not the comparison: the same loop on a simulated clock and
    // a fixed seed, to show what reading the system clock costs (the
    // `max_elapsed` deadline: once before the first attempt and once per
    // failure; backon has no wall-clock deadline).
    group.bench_function("retry-core-simulated-clock", |b| {
        let clock = ManualClock::new();
        b.iter(|| {
            retry_core::BlockingRetryable::retry(flaky(), black_box(&policy))
                .clock(&clock)
                .rng(SplitMix64::new(7))
                .sleep(|_delay: Duration| {})
                .call()
        })
    });
    group.bench_function("backon", |b| {
        b.iter(|| {
            backon::BlockingRetryable::retry(flaky(), black_box(&builder))
                .sleep(|_delay: Duration| {})
                .call()
        })
    });
    // Like for like: backon given the wall-clock deadline that retry-core
    // keeps (`max_elapsed`), the way a backon user adds one to a blocking
    // retry (which has no `adjust`): the start read once, and `when` reading
    // the clock at every failure. The same clock reads as retry-core's.
    group.bench_function("backon-with-deadline", |b| {
        let max_elapsed = policy.max_elapsed();
        b.iter(|| {
            let start = Instant::now();
            backon::BlockingRetryable::retry(flaky(), black_box(&builder))
                .sleep(|_delay: Duration| {})
                .when(|_| start.elapsed() < black_box(max_elapsed))
                .call()
        })
    });
    group.finish();
}

criterion_group!(benches, backoff_schedule, retry_loop);
criterion_main!(benches);
