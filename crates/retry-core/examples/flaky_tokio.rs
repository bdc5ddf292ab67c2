//! A flaky in-process operation retried on tokio with the `tokio` feature:
//! no `.sleep(..)` in the chain, tokio's timer and clock are the defaults.
//!
//! ```sh
//! cargo run -p retry-core --features tokio --example flaky_tokio
//! ```
//!
//! The order gateway is simulated: it resets the connection three times,
//! then accepts. The example checks that the fourth attempt succeeds, that
//! a gateway that never recovers is given up on after the policy's attempts
//! with the last error kept, and exits non-zero otherwise. About 100 ms.

use std::error::Error;
use std::io::{self, ErrorKind};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use retry_core::{GiveUpReason, RetryPolicy, Retryable};

/// A gateway that fails its first `failures` calls with a reset connection.
#[derive(Debug)]
struct FlakyGateway {
    failures: u32,
    calls: AtomicU32,
}

impl FlakyGateway {
    fn new(failures: u32) -> FlakyGateway {
        FlakyGateway {
            failures,
            calls: AtomicU32::new(0),
        }
    }

    async fn place_order(&self, order: &str) -> Result<String, io::Error> {
        let call = self.calls.fetch_add(1, Ordering::Relaxed) + 1;
        if call <= self.failures {
            return Err(io::Error::new(
                ErrorKind::ConnectionReset,
                format!("call {call}: connection reset"),
            ));
        }
        Ok(format!("{order} accepted on call {call}"))
    }

    fn calls(&self) -> u32 {
        self.calls.load(Ordering::Relaxed)
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn Error>> {
    let policy = RetryPolicy::builder()
        .max_retries(4)
        .base_delay(Duration::from_millis(10))
        .max_delay(Duration::from_millis(40))
        .max_elapsed(Duration::from_secs(2))
        .build()?;
    let transient = |e: &io::Error| e.kind() == ErrorKind::ConnectionReset;

    // Three resets, then accepted: the fourth attempt delivers.
    let gateway = FlakyGateway::new(3);
    let started = Instant::now();
    let receipt = (|| gateway.place_order("BUY 1 BTC-USD"))
        .retry(policy)
        .when(transient)
        .notify(|e, next| println!("  {e}; retrying in {next:?}"))
        .context("place_order")
        .await?;
    println!("{receipt} after {:?}", started.elapsed());
    if gateway.calls() != 4 {
        return Err(format!("expected 4 calls, made {}", gateway.calls()).into());
    }

    // Never recovers: given up after 1 + 4 attempts, the last error kept.
    let down = FlakyGateway::new(u32::MAX);
    let Err(error) = (|| down.place_order("SELL 1 BTC-USD"))
        .retry(policy)
        .when(transient)
        .context("place_order")
        .await
    else {
        return Err("a gateway that is always down accepted an order".into());
    };
    println!("gave up: {error}");
    if error.reason() != GiveUpReason::Exhausted || error.attempts() != 5 || down.calls() != 5 {
        return Err(format!(
            "expected exhausted after 5 attempts, got {} after {} ({} calls)",
            error.reason().as_str(),
            error.attempts(),
            down.calls()
        )
        .into());
    }
    if error.last_error().kind() != ErrorKind::ConnectionReset {
        return Err("the last error was not kept".into());
    }
    println!("ok: retried until accepted, and gave up on a gateway that never recovered");
    Ok(())
}
