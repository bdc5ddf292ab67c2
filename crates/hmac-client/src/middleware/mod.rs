//! Standard Webhooks signing and retries for any
//! [reqwest-middleware](https://docs.rs/reqwest-middleware/0.4) 0.4 client
//! (feature `middleware`), for code that already sends through a
//! `ClientWithMiddleware` rather than through [`SignalClient`](crate::SignalClient).
//!
//! - [`SigningMiddleware`] signs every request with the Standard Webhooks v1
//!   headers. The `webhook-id` is the one the caller set as a header
//!   (checked against [`is_valid_id`](crate::is_valid_id)), or one it
//!   generates; either way every retry of the request keeps it, while the
//!   timestamp and signature are made fresh for each attempt.
//! - [`RetryMiddleware`] retries transient failures by a retry-core
//!   [`RetryPolicy`](retry_core::RetryPolicy): connection errors, timeouts,
//!   408, 409, 425, 429 and 5xx (the same classification as
//!   [`PostErrorKind::from_status`](crate::PostErrorKind::from_status)), and
//!   waits at least what a `Retry-After` header asks (reqwest-retry ignores
//!   it), within the policy's deadline.
//!
//! # Order
//!
//! Attach the retry first and the signing second: middleware runs in the
//! order it was attached, so each retry passes through the signer again and
//! gets a fresh timestamp, as receivers that reject stale timestamps need.
//! The other way round every retry would resend the first attempt's
//! timestamp.
//!
//! ```
//! use std::time::Duration;
//! use axum::{Router, http::HeaderMap, http::StatusCode, routing::post};
//! use hmac_client::middleware::{RetryMiddleware, SigningMiddleware};
//! use hmac_client::{SigningKeys, Verifier};
//! use retry_core::RetryPolicy;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
//!
//! // A receiver on 127.0.0.1 that verifies what it gets.
//! let verifier = Verifier::new(SigningKeys::parse(secret)?);
//! let receiver = Router::new().route(
//!     "/signals",
//!     post(move |headers: HeaderMap, body: axum::body::Bytes| async move {
//!         match verifier.verify(&headers, &body) {
//!             Ok(_) => StatusCode::OK,
//!             Err(e) => e.status(),
//!         }
//!     }),
//! );
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! let url = format!("http://{}/signals", listener.local_addr()?);
//! tokio::spawn(async move { axum::serve(listener, receiver).await });
//!
//! let policy = RetryPolicy::builder()
//!     .max_retries(3)
//!     .base_delay(Duration::from_millis(50))
//!     .build()?;
//! let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
//!     .with(RetryMiddleware::new(policy))
//!     .with(SigningMiddleware::new(SigningKeys::parse(secret)?))
//!     .build();
//!
//! let response = client
//!     .post(&url)
//!     .header("webhook-id", "sig_2026_12_02_0001") // optional: generated if absent
//!     .body(r#"{"symbol":"EURUSD","side":"buy"}"#)
//!     .send()
//!     .await?;
//! assert_eq!(response.status(), 200);
//! # Ok(())
//! # }
//! ```
//!
//! # What is not retried
//!
//! A request whose body is a stream cannot be cloned, so it cannot be sent
//! twice: [`RetryMiddleware`] sends it once and logs that it could not
//! retry it, and [`SigningMiddleware`] refuses it with
//! [`SigningError::StreamingBody`], since the signature covers the exact
//! bytes. Errors raised by other middleware are returned at once.

mod retry;
mod signing;

pub use retry::RetryMiddleware;
pub use signing::{SigningError, SigningMiddleware};
