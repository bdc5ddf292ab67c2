//! How the retry budget treats a *steady* stream of signals against a server
//! that fails a share of attempts at random: which signals it fails, how
//! often it defers retries. The numbers in docs/configuration.md ("The retry
//! budget") come from this program.
//!
//! ```sh
//! cargo run --release -p retry-core --example budget_steady_state -- [RATE] [FAILURE] [PERCENT] [SECONDS]
//! #   RATE     new signals per second (default 1000)
//! #   FAILURE  probability that one attempt fails (default 0.2)
//! #   PERCENT  the budget's percent (default 30; floor 10/s, window 10 s)
//! #   SECONDS  how long signals keep arriving (default 300)
//! ```
//!
//! Runs on tokio's paused clock (minutes of virtual time in seconds of real
//! time), with the default retry policy and seeded randomness, no network.
//! `exhausted` give-ups are the policy's own (six failures in a row), which
//! no budget could prevent; `budget` and `deadline` ones are the budget's.

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use retry_core::{
    Classify, Clock, DeferEvent, RandomSource, Retry, RetryBudget, RetryObserver, RetryPolicy,
    Retryability, SplitMix64,
};

#[derive(Debug, Clone, Copy)]
struct Unavailable;

impl Classify for Unavailable {
    fn retryability(&self) -> Retryability {
        Retryability::Transient
    }
}

#[derive(Debug, Clone, Copy)]
struct TokioNow;

impl Clock for TokioNow {
    fn now(&self) -> Instant {
        tokio::time::Instant::now().into_std()
    }
}

#[derive(Debug, Default)]
struct Counts {
    deferrals: AtomicU64,
}

impl<E> RetryObserver<E> for Counts {
    fn on_defer(&self, _event: &DeferEvent<'_, E>) {
        self.deferrals.fetch_add(1, Ordering::Relaxed);
    }
}

static TOKIO_SLEEP: fn(Duration) -> tokio::time::Sleep = tokio::time::sleep;
static POLICY: RetryPolicy = RetryPolicy::DEFAULT;

fn arg<T: std::str::FromStr>(
    args: &[String],
    index: usize,
    name: &str,
    default: T,
) -> Result<T, String> {
    match args.get(index) {
        None => Ok(default),
        Some(text) => text
            .parse()
            .map_err(|_| format!("{name} {text:?} is not a number")),
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let parsed = (|| {
        Ok::<_, String>((
            arg(&args, 0, "RATE", 1000u64)?,
            arg(&args, 1, "FAILURE", 0.2f64)?,
            arg(&args, 2, "PERCENT", 30u32)?,
            arg(&args, 3, "SECONDS", 300u64)?,
        ))
    })();
    let (rate, failure, percent, seconds) = match parsed {
        Ok(values) => values,
        Err(error) => {
            eprintln!("{error}; usage: budget_steady_state [RATE] [FAILURE] [PERCENT] [SECONDS]");
            return ExitCode::from(2);
        }
    };
    if !(0.0..=1.0).contains(&failure) || rate == 0 || rate % 10 != 0 {
        eprintln!("expected FAILURE from 0 to 1 and RATE a positive multiple of 10");
        return ExitCode::from(2);
    }
    let budget = match RetryBudget::new(percent, 10, Duration::from_secs(10)) {
        Ok(budget) => Arc::new(budget),
        Err(error) => {
            eprintln!("{error}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("cannot start tokio: {error}");
            return ExitCode::FAILURE;
        }
    };
    let counts = Arc::new(Counts::default());
    let retries = Arc::new(AtomicU64::new(0));
    let (signals, outcomes) = runtime.block_on(async {
        let mut tasks = tokio::task::JoinSet::new();
        let mut signals = 0u64;
        // A tenth of the rate every 100 ms: a steady stream, not one burst.
        for _ in 0..seconds * 10 {
            for _ in 0..rate / 10 {
                signals += 1;
                let (budget, counts, retries) = (
                    Arc::clone(&budget),
                    Arc::clone(&counts),
                    Arc::clone(&retries),
                );
                let seed = signals;
                tasks.spawn(async move {
                    let outcomes = Mutex::new(SplitMix64::new(seed.wrapping_mul(7919)));
                    let observer: &Counts = &counts;
                    Retry::new(&POLICY, "post_signal")
                        .clock(TokioNow)
                        .budget(&budget)
                        .observer(observer)
                        .rng(SplitMix64::new(seed))
                        .run_async(&TOKIO_SLEEP, |attempt| {
                            if attempt > 1 {
                                retries.fetch_add(1, Ordering::Relaxed);
                            }
                            let fails = outcomes
                                .lock()
                                .map(|mut rng| rng.next_f64() < failure)
                                .unwrap_or(true);
                            std::future::ready(if fails { Err(Unavailable) } else { Ok(()) })
                        })
                        .await
                });
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let mut outcomes: BTreeMap<&'static str, u64> = BTreeMap::new();
        while let Some(done) = tasks.join_next().await {
            let label = match done {
                Ok(Ok(())) => "delivered",
                Ok(Err(error)) => error.reason().as_str(),
                Err(_) => "task failed",
            };
            *outcomes.entry(label).or_default() += 1;
        }
        (signals, outcomes)
    });
    println!(
        "{rate} signals/s for {seconds} s, {:.0} % of attempts failing, budget {percent} % + 10/s over 10 s: \
         {signals} signals, {outcomes:?}, {} retries, {} deferrals",
        failure * 100.0,
        retries.load(Ordering::Relaxed),
        counts.deferrals.load(Ordering::Relaxed)
    );
    ExitCode::SUCCESS
}
