//! Not an example of use: the program whose instructions callgrind counts,
//! for the retry loop of docs/benchmarks.md (valgrind's instruction counts
//! stay stable on a shared, noisy machine where timings do not).
//!
//! ```sh
//! cargo build --release -p retry-core --example profile_retry_loop
//! for n in 10000 20000; do
//!   valgrind --tool=callgrind --callgrind-out-file=/tmp/cg.$n \
//!     target/release/examples/profile_retry_loop chain $n
//! done
//! # instructions per loop = (total at 20000 - total at 10000) / 10000
//! ```
//!
//! `chain` is `op.retry(&policy).sleep(..).call()`, `retry` is
//! `Retry::run_blocking`, `backon` is backon's blocking retry; each loop
//! fails twice, then succeeds, with a sleeper that returns at once. Without
//! arguments it runs 10,000 `chain` loops.
#![allow(clippy::unwrap_used)]

use backon::ExponentialBuilder;
use retry_core::{Classify, Jitter, Retry, RetryPolicy, Retryability};
use std::hint::black_box;
use std::time::Duration;

/// The operation's error: always transient.
#[derive(Debug)]
struct Refused;
impl Classify for Refused {
    fn retryability(&self) -> Retryability {
        Retryability::Transient
    }
}

#[inline(never)]
fn ours_retry(policy: &RetryPolicy) -> u32 {
    Retry::new(black_box(policy), "post_signal")
        .run_blocking(&|_d| {}, |attempt| {
            if black_box(attempt) < 3 {
                Err(Refused)
            } else {
                Ok(attempt)
            }
        })
        .unwrap()
}

#[inline(never)]
fn ours_ext(policy: &RetryPolicy) -> u32 {
    let mut attempt = 0u32;
    retry_core::BlockingRetryable::retry(
        || {
            attempt += 1;
            if black_box(attempt) < 3 {
                Err(Refused)
            } else {
                Ok(attempt)
            }
        },
        black_box(policy),
    )
    .sleep(|_d: Duration| {})
    .call()
    .unwrap()
}

#[inline(never)]
fn theirs(builder: &ExponentialBuilder) -> u32 {
    let mut attempt = 0u32;
    backon::BlockingRetryable::retry(
        || {
            attempt += 1;
            if black_box(attempt) < 3 {
                Err(Refused)
            } else {
                Ok(attempt)
            }
        },
        black_box(builder),
    )
    .sleep(|_d: Duration| {})
    .call()
    .unwrap()
}

fn main() {
    let mut args = std::env::args().skip(1);
    let which = args.next().unwrap_or_else(|| "chain".to_owned());
    let n: u32 = args.next().map_or(10_000, |n| n.parse().unwrap());
    let policy = RetryPolicy::builder()
        .max_retries(5)
        .base_delay(Duration::from_secs(5))
        .backoff_multiplier(2.0)
        .max_delay(Duration::from_secs(120))
        .jitter(Jitter::Proportional)
        .build()
        .unwrap();
    let builder = ExponentialBuilder::new()
        .with_min_delay(Duration::from_secs(5))
        .with_factor(2.0)
        .with_max_delay(Duration::from_secs(120))
        .with_max_times(5)
        .with_jitter();
    let mut sum = 0u64;
    for _ in 0..n {
        sum += u64::from(match which.as_str() {
            "retry" => ours_retry(&policy),
            "chain" => ours_ext(&policy),
            "backon" => theirs(&builder),
            other => {
                eprintln!("unknown loop {other:?}: expected chain, retry or backon");
                std::process::exit(2);
            }
        });
    }
    println!("{sum}");
}
