//! Pure retry logic for the trading-signal platform: exponential backoff with
//! jitter, caps that hold after jitter, deadlines that are never overshot,
//! server pushback (`Retry-After`) and retry budgets; sync and async.
//!
//! This crate does no I/O: sleeping, time and randomness are injected, so it
//! works under any runtime and every schedule can be tested without waiting.
//!
//! # The pieces
//!
//! - A [`RetryPolicy`] (validated; from a builder or environment-style
//!   variables) says how many retries, how far apart and for how long.
//! - [`calculate_backoff_delay`] and [`RetryPolicy::backoff`] turn it into
//!   delays: `base * multiplier^n`, then [`Jitter`], then the `max_delay` cap.
//! - The operation's error implements [`Classify`]: transient, permanent, or
//!   transient with a server hint.
//! - [`decide_after_failure`] and [`decide_after_refusal`] are the loop's
//!   rules as pure functions, for schedules persisted outside the loop (an
//!   outbox).
//! - [`Retry`] runs the loop ([`with_retry`] and [`retry_async`] are the short
//!   forms), with an optional [`RetryObserver`] and shared [`RetryBudget`]
//!   (a share of recent requests plus a floor per second; a refusal defers a
//!   retry, it does not fail the call).
//! - Giving up is a [`RetryError`] that keeps the last error, the attempt
//!   count and the operation name: a signal is never dropped silently.
//!
//! # Sync
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
//! # Async
//!
//! [`retry_async`] and [`Retry::run_async`] take an [`AsyncSleeper`]: any
//! closure returning a `Send` future, or `TokioSleeper` with the `tokio`
//! feature (together with `TokioClock`, it follows tokio's paused test clock).
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
//! - `tokio`: `TokioSleeper` and `TokioClock`. Without it the crate depends
//!   on no runtime.

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
pub use retryable::{AsyncRetry, RetryFuture, Retryable};
pub use rng::{RandomSource, SplitMix64, ThreadRandom};
#[cfg(feature = "tokio")]
pub use sleep::TokioSleeper;
pub use sleep::{AsyncSleeper, DefaultAsyncSleeper, NoAsyncSleeper, Sleeper, ThreadSleeper};
#[cfg(feature = "tokio")]
pub use time::TokioClock;
pub use time::{Clock, DefaultAsyncClock, ManualClock, SystemClock};
