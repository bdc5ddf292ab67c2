//! A blocking operation retried with `BlockingRetryable`: an error type
//! that classifies itself (`Classify`), a server hint honoured, and the
//! give-up that names the operation, the attempts and the last error.
//!
//! ```sh
//! cargo run -p retry-core --example blocking
//! ```
//!
//! The flaky store is simulated, so the example needs no network; it sleeps
//! for real (the thread's sleep, the default), about 70 ms in all.

use std::fmt;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use retry_core::{BlockingRetryable, Classify, GiveUpReason, RetryPolicy, Retryability};

/// What a call to the order store can fail with.
#[derive(Debug)]
enum StoreError {
    /// Busy: try again later.
    Busy,
    /// Too many requests: the store says when to come back.
    Throttled(Duration),
    /// The order is malformed: retrying cannot help.
    Rejected(&'static str),
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::Busy => f.write_str("store busy"),
            StoreError::Throttled(after) => write!(f, "throttled, retry after {after:?}"),
            StoreError::Rejected(why) => write!(f, "rejected: {why}"),
        }
    }
}

impl std::error::Error for StoreError {}

impl Classify for StoreError {
    fn retryability(&self) -> Retryability {
        match self {
            StoreError::Busy => Retryability::Transient,
            StoreError::Throttled(after) => Retryability::RetryAfter(*after),
            StoreError::Rejected(_) => Retryability::Permanent,
        }
    }
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let policy = RetryPolicy::builder()
        .max_retries(3)
        .base_delay(Duration::from_millis(5))
        .max_delay(Duration::from_millis(20))
        .max_elapsed(Duration::from_secs(1))
        .build()?;

    // Busy, then throttled for 40 ms (longer than max_delay: still honoured), then stored.
    let mut replies = vec![
        Err(StoreError::Busy),
        Err(StoreError::Throttled(Duration::from_millis(40))),
        Ok("order 17 stored"),
    ]
    .into_iter();
    let started = Instant::now();
    let stored = (|| replies.next().unwrap_or(Err(StoreError::Busy)))
        .retry(policy)
        .notify(|e, next| println!("store failed ({e}); retrying in {next:?}"))
        .context("store_order")
        .call()?;
    println!("{stored} in {:?}", started.elapsed());

    // A rejected order is returned at once, with the operation and the attempt count.
    let error = (|| Err::<(), _>(StoreError::Rejected("quantity must be positive")))
        .retry(policy)
        .context("store_order")
        .call()
        .err()
        .ok_or("a malformed order was stored")?;
    assert_eq!(error.reason(), GiveUpReason::Permanent);
    println!("{error}");
    Ok(())
}
