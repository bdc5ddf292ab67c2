//! An async operation retried with the extension trait, then the same
//! retry spawned on tokio: it owns its policy and budget, nothing `static`.
//!
//! ```sh
//! cargo run -p retry-core --example async_tokio
//! ```
//!
//! The quote service is simulated (it fails twice with a timeout, then
//! answers), so the example needs no network and runs in about 50 ms. With
//! retry-core's `tokio` feature the `.sleep(tokio::time::sleep)` lines can
//! be left out: tokio's timer is then the default.

use std::io::{Error, ErrorKind};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use retry_core::{RetryBudget, RetryPolicy, Retryable};

/// A quote service that times out on the first two calls of each client.
#[derive(Debug, Default)]
struct QuoteService {
    calls: AtomicU32,
}

impl QuoteService {
    async fn quote(&self, symbol: &str) -> Result<f64, Error> {
        if self.calls.fetch_add(1, Ordering::Relaxed) < 2 {
            return Err(Error::new(
                ErrorKind::TimedOut,
                format!("{symbol}: no answer"),
            ));
        }
        Ok(101.25)
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    // In code, a policy may retry after milliseconds.
    let policy = RetryPolicy::builder()
        .max_retries(4)
        .base_delay(Duration::from_millis(10))
        .max_delay(Duration::from_millis(200))
        .max_elapsed(Duration::from_secs(2))
        .build()?;

    let service = QuoteService::default();
    let quote = (|| service.quote("EURUSD"))
        .retry(policy)
        .sleep(tokio::time::sleep)
        .when(|e| e.kind() == ErrorKind::TimedOut)
        .notify(|e, next| println!("attempt failed ({e}); retrying in {next:?}"))
        .context("quote EURUSD")
        .await?;
    println!(
        "EURUSD {quote} after {} calls",
        service.calls.load(Ordering::Relaxed)
    );

    // Spawned: the task owns a copy of the policy and an `Arc` of the budget.
    let budget = Arc::new(RetryBudget::default());
    let service = Arc::new(QuoteService::default());
    let task = tokio::spawn({
        let service = Arc::clone(&service);
        (move || {
            let service = Arc::clone(&service);
            async move { service.quote("GBPUSD").await }
        })
        .retry(policy)
        .sleep(tokio::time::sleep)
        .when(|e| e.kind() == ErrorKind::TimedOut)
        .budget(Arc::clone(&budget))
        .context("quote GBPUSD")
    });
    let quote = task.await??;
    println!(
        "GBPUSD {quote} after {} calls (spawned)",
        service.calls.load(Ordering::Relaxed)
    );

    // A permanent error is not retried, and the error says what happened.
    let error =
        (|| async { Err::<f64, _>(Error::new(ErrorKind::NotFound, "unknown symbol XAUEUR")) })
            .retry(policy)
            .sleep(tokio::time::sleep)
            .when(|e| e.kind() == ErrorKind::TimedOut)
            .context("quote XAUEUR")
            .await
            .err()
            .ok_or("an unknown symbol was quoted")?;
    println!("{error}");
    Ok(())
}
