//! Retries with the guarantees a trading signal needs: exponential backoff
//! with jitter, a cap that holds *after* jitter, a deadline that is never
//! overshot, server hints (`Retry-After`) that are honoured, and a retry
//! budget against retry storms; blocking and async, in backon's shape.
//!
//! This crate does no I/O of its own: sleeping, time and randomness are
//! injected (with defaults), so it works under any runtime and every
//! schedule can be tested without waiting.
//!
//! # Quick start
//!
//! Any `FnMut() -> impl Future<Output = Result<T, E>>` gets `.retry(policy)`
//! from [`Retryable`]; any `FnMut() -> Result<T, E>` gets it from
//! [`BlockingRetryable`]. The chain is awaited, or run with `.call()`:
//!
//! ```
//! use std::time::Duration;
//! use retry_core::{Retryable, RetryPolicy};
//!
//! async fn fetch_quote() -> Result<f64, std::io::Error> {
//!     Ok(101.25)
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let policy = RetryPolicy::builder()
//!     .max_retries(4)
//!     .base_delay(Duration::from_millis(50)) // in code, milliseconds are fine
//!     .max_elapsed(Duration::from_secs(2))
//!     .build()?;
//! let quote = fetch_quote
//!     .retry(policy)                // owned (it is Copy) or `&policy`
//!     .sleep(tokio::time::sleep)    // the default with the `tokio` feature
//!     .when(|e| e.kind() == std::io::ErrorKind::TimedOut) // std::io::Error needs no Classify
//!     .notify(|e, next| eprintln!("fetch_quote: {e}; retrying in {next:?}"))
//!     .context("fetch_quote")
//!     .await?;
//! assert_eq!(quote, 101.25);
//! # Ok(())
//! # }
//! ```
//!
//! Giving up is a [`RetryError`]: the attempts made, the last error, the
//! operation name and why (permanent, retries exhausted, deadline, budget).
//!
//! # Switching from backon
//!
//! The chain has backon's names where they mean the same thing, so a switch
//! is mostly a rename of the imports and of the backoff builder:
//!
//! | backon | retry-core | note |
//! |---|---|---|
//! | `backon::Retryable`, `backon::BlockingRetryable` | [`Retryable`], [`BlockingRetryable`] | same shape: `op.retry(..)` |
//! | `ExponentialBuilder::default()` | [`RetryPolicy::default()`](RetryPolicy) | 5 retries from 5 s, doubling, capped at 120 s, 10 min in all |
//! | `.with_min_delay(d)` | [`.base_delay(d)`](RetryPolicyBuilder::base_delay) | 1 ms to 24 h |
//! | `.with_max_delay(d)` | [`.max_delay(d)`](RetryPolicyBuilder::max_delay) | the cap holds after jitter (in backon jitter is added after it) |
//! | `.with_factor(f)` | [`.backoff_multiplier(f)`](RetryPolicyBuilder::backoff_multiplier) | 1 to 10 |
//! | `.with_max_times(n)` | [`.max_retries(n)`](RetryPolicyBuilder::max_retries) | 0 to 100 |
//! | `.with_total_delay(Some(d))` | [`.max_elapsed(d)`](RetryPolicyBuilder::max_elapsed) | a wall-clock deadline from the first attempt, attempts included; no sleep ends past it |
//! | `.with_jitter()` | [`.jitter(Jitter::Full)`](Jitter) | proportional (+0–10 %) by default; full, equal, decorrelated, none |
//! | `.retry(builder)` | `.retry(policy)` or `.retry(&policy)` | checked once by [`RetryPolicy::builder`]`…build()` |
//! | `.when(\|e\| ..)` | [`.when(\|e\| ..)`](AsyncRetry::when) | same; without it the error's [`Classify`] decides |
//! | `.notify(\|e, dur\| ..)` | [`.notify(\|e, next\| ..)`](AsyncRetry::notify) | same |
//! | `.adjust(\|e, dur\| ..)` | [`.adjust(\|e, next\| ..)`](AsyncRetry::adjust) | returns a server hint: `Some(hint)` waits at least that long (not capped, deadline-bound), `None` keeps the backoff; to stop retrying, use `when` |
//! | `.sleep(tokio::time::sleep)` | [`.sleep(tokio::time::sleep)`](AsyncRetry::sleep) | default: tokio's with the `tokio` feature, the thread's for blocking |
//! | `.context(ctx)` (`RetryableWithContext`) | [`.context(name)`](AsyncRetry::context) | here: the operation's name in errors and traces |
//! | — | [`.budget(&budget)`](AsyncRetry::budget), [`.clock(..)`](AsyncRetry::clock), [`.rng(..)`](AsyncRetry::rng) | a shared [`RetryBudget`]; injected time and jitter for tests |
//! | `.await?` → `E` | `.await?` → [`RetryError<E>`] | [`into_last_error`](RetryError::into_last_error) gives backon's `E` |
//! | `.call()` | [`.call()`](BlockingRetry::call) | same |
//!
//! A spawned retry owns its policy (and an `Arc` budget), so it needs no
//! `static`: `tokio::spawn(op.retry(policy))`, as with backon.
//!
//! # The guarantees
//!
//! Every driver ([`Retryable`], [`BlockingRetryable`], [`Retry`]) runs the
//! same rules, those of [`decide_after_failure`] and [`decide_after_refusal`]:
//!
//! - a permanent error (by `when` or [`Classify`]) is returned at once;
//! - a delay is `base * multiplier^n`, jittered, then capped at `max_delay`;
//! - a server hint replaces a shorter delay, is never shortened nor capped,
//!   only bounded by the deadline;
//! - no sleep is started that would end past `max_elapsed` (measured from the
//!   first attempt, on the injected [`Clock`]);
//! - with a [`RetryBudget`], a refused retry is deferred (0.5 to 1.5 s, not
//!   an attempt), and fails with the budget reason only at the deadline;
//! - the synchronous loop allocates nothing per attempt (the name is copied
//!   into the error once, on give-up).
//!
//! # Limits
//!
//! A policy built in code is checked against structural bounds only: at most
//! 100 retries, delays from 1 ms, at most 24 h in all ([`MAX_RETRIES_LIMIT`],
//! [`MIN_BASE_DELAY`], [`MAX_DURATION_LIMIT`]), with a [`PolicyError`] naming
//! the field and the allowed range. The crate reads no environment variable:
//! a product's configuration applies its own, tighter limits (signal-config
//! keeps the seed's 10 retries, 1 s and 10 minutes for `MAX_RETRIES` and
//! `RETRY_*`).
//!
//! # The pieces
//!
//! - A [`RetryPolicy`] (validated by its builder) says how many retries, how
//!   far apart and for how long.
//! - [`calculate_backoff_delay`] and [`RetryPolicy::backoff`] turn it into
//!   delays: `base * multiplier^n`, then [`Jitter`], then the `max_delay` cap.
//! - The operation's error implements [`Classify`] (transient, permanent, or
//!   transient with a server hint), or the chain is given `.when(..)`.
//! - [`decide_after_failure`] and [`decide_after_refusal`] are the loop's
//!   rules as pure functions, for schedules persisted outside the loop (an
//!   outbox).
//! - [`Retry`] is the loop as a builder that hands the operation its attempt
//!   number and takes a [`RetryObserver`] ([`with_retry`] and
//!   [`retry_async`] are its short forms).
//! - A [`RetryBudget`] is shared by the loops calling one dependency: a share
//!   of recent requests plus a floor per second; a refusal defers a retry, it
//!   does not fail the call.
//!
//! # `Retry`, with a simulated clock
//!
//! A sleeper is anything that implements [`Sleeper`], closures included; the
//! real one is [`ThreadSleeper`]. Here time is simulated with a [`ManualClock`]:
//!
//! ```
//! use std::time::Duration;
//! use retry_core::{Classify, Jitter, ManualClock, Retry, RetryError, RetryPolicy, Retryability};
//!
//! #[derive(Debug)]
//! enum PostError { Refused, Rejected }
//!
//! impl Classify for PostError {
//!     fn retryability(&self) -> Retryability {
//!         match self {
//!             PostError::Refused => Retryability::Transient,
//!             PostError::Rejected => Retryability::Permanent,
//!         }
//!     }
//! }
//!
//! let policy = RetryPolicy::builder().jitter(Jitter::None).build()?;
//! let clock = ManualClock::new();
//! let sleeper = |delay| clock.advance(delay); // records instead of sleeping
//!
//! // Fails twice, then succeeds: 5 s + 10 s of (simulated) waiting.
//! let sent = Retry::new(&policy, "post_signal")
//!     .clock(&clock)
//!     .run_blocking(&sleeper, |attempt| if attempt < 3 { Err(PostError::Refused) } else { Ok(attempt) });
//! assert_eq!(sent.unwrap(), 3);
//! assert_eq!(clock.elapsed(), Duration::from_secs(15));
//!
//! // Always refused: 6 attempts, 155 s, then an error carrying the last failure.
//! let clock = ManualClock::new();
//! let error = Retry::new(&policy, "post_signal")
//!     .clock(&clock)
//!     .run_blocking(&|d| clock.advance(d), |_| Err::<(), _>(PostError::Refused))
//!     .unwrap_err();
//! assert!(matches!(error, RetryError::Exhausted(ref e) if e.attempts == 6));
//! assert_eq!(clock.elapsed(), Duration::from_secs(155));
//!
//! // Permanent errors are not retried.
//! let error = Retry::new(&policy, "post_signal")
//!     .run_blocking(&|_| {}, |_| Err::<(), _>(PostError::Rejected))
//!     .unwrap_err();
//! assert_eq!(error.attempts(), 1);
//! # Ok::<(), retry_core::PolicyError>(())
//! ```
//!
//! In production, [`with_retry`] uses the thread sleeper and system clock.
//!
//! # `Retry`, async
//!
//! [`retry_async`] and [`Retry::run_async`] take an [`AsyncSleeper`]: any
//! closure returning a future, or `TokioSleeper` with the `tokio` feature
//! (together with `TokioClock`, it follows tokio's paused test clock).
//! [`Retry::run_async_with_timeout`] also bounds each attempt.
//!
//! ```
//! use std::time::Duration;
//! use retry_core::{retry_async, Classify, RetryPolicy, Retryability};
//!
//! #[derive(Debug)]
//! struct Timeout;
//! impl Classify for Timeout {
//!     fn retryability(&self) -> Retryability { Retryability::Transient }
//! }
//!
//! # fn block_on<F: std::future::Future>(f: F) -> F::Output {
//! #     // A minimal executor, enough for futures that never wait.
//! #     use std::task::{Context, Poll, Waker};
//! #     let mut f = std::pin::pin!(f);
//! #     let mut cx = Context::from_waker(Waker::noop());
//! #     loop { if let Poll::Ready(v) = f.as_mut().poll(&mut cx) { return v; } }
//! # }
//! let policy = RetryPolicy::default();
//! let no_wait = |_delay: Duration| std::future::ready(());
//! let result = block_on(retry_async(&policy, "fetch_quote", &no_wait, |attempt| async move {
//!     if attempt < 2 { Err(Timeout) } else { Ok(42) }
//! }));
//! assert_eq!(result.unwrap(), 42);
//! ```
//!
//! # Features
//!
//! - `tokio` (off by default): `TokioSleeper` and `TokioClock`, and they become
//!   the defaults of [`Retryable`], so `.sleep(..)` can be left out. Without
//!   it the crate depends on no runtime, and an async retry must be given a
//!   sleeper: forgetting it is a compile error that says so
//!   ([`NoAsyncSleeper`]), never a panic.

#![cfg_attr(docsrs, feature(doc_cfg))]

/// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

mod backoff;
mod blocking;
mod budget;
mod chain;
mod classify;
mod decision;
mod engine;
mod error;
mod jitter;
mod observer;
mod policy;
mod policy_error;
mod retry;
mod retryable;
mod rng;
mod sleep;
mod time;

pub use backoff::{Backoff, calculate_backoff_delay};
pub use blocking::{BlockingRetry, BlockingRetryable};
pub use budget::{
    MAX_BUDGET_MIN_PER_SECOND, MAX_BUDGET_PERCENT, MAX_BUDGET_WINDOW, MIN_BUDGET_WINDOW,
    RetryBudget,
};
pub use chain::{ByClassify, Classifier};
pub use classify::{Classify, Retryability};
pub use decision::{BUDGET_DEFERRAL, RetryDecision, decide_after_failure, decide_after_refusal};
pub use error::{AttemptTimedOut, RetryError, RetryExhaustedError};
pub use jitter::{Jitter, ParseJitterError};
pub use observer::{DeferEvent, GiveUpEvent, GiveUpReason, RetryEvent, RetryObserver};
pub use policy::{
    MAX_DURATION_LIMIT, MAX_MULTIPLIER, MAX_RETRIES_LIMIT, MIN_BASE_DELAY, RetryPolicy,
    RetryPolicyBuilder,
};
pub use policy_error::PolicyError;
pub use retry::{Retry, retry_async, with_retry};
pub use retryable::{AsyncRetry, Retryable};
pub use rng::{RandomSource, SplitMix64, ThreadRandom};
#[cfg(feature = "tokio")]
pub use sleep::TokioSleeper;
pub use sleep::{
    AsyncSleeper, DefaultAsyncSleeper, MaybeAsyncSleeper, NoAsyncSleeper, Sleeper, SleeperRequired,
    ThreadSleeper,
};
#[cfg(feature = "tokio")]
pub use time::TokioClock;
pub use time::{Clock, DefaultAsyncClock, ManualClock, SystemClock};
