//! Pure retry logic for the trading-signal platform: exponential backoff with
//! jitter, caps that hold after jitter, deadlines that are never overshot,
//! server pushback (`Retry-After`) and retry budgets; sync and async.
//!
//! This crate does no I/O: sleeping, time and randomness are injected.

mod classify;

pub use classify::{Classify, Retryability};
