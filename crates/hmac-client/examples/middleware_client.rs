//! A reqwest-middleware client with `RetryMiddleware` and
//! `SigningMiddleware`, sending one signal to a receiver on 127.0.0.1 that
//! verifies every request and answers the first one 503 with
//! `Retry-After: 1`: the retry waits the second the server asked for, keeps
//! the `webhook-id` and carries a fresh signature.
//!
//! ```sh
//! cargo run -p hmac-client --features middleware --example middleware_client
//! ```
//!
//! Exits non-zero if the signal is not delivered on the second attempt, or
//! if the two attempts differ in id. Takes about a second.

use std::error::Error;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use hmac_client::middleware::{RetryMiddleware, SigningMiddleware};
use hmac_client::{SigningKeys, Verifier};
use retry_core::RetryPolicy;

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn Error>> {
    let verifier = Verifier::new(SigningKeys::parse(SECRET)?);
    let ids: Arc<Mutex<Vec<String>>> = Arc::default();
    let seen = ids.clone();
    let receiver = Router::new().route(
        "/signals",
        post(move |headers: HeaderMap, body: Bytes| async move {
            let verified = match verifier.verify(&headers, &body) {
                Ok(verified) => verified,
                Err(e) => return e.status().into_response(),
            };
            let mut ids = seen.lock().unwrap_or_else(|e| e.into_inner());
            ids.push(verified.id);
            let reply: Response = if ids.len() == 1 {
                (StatusCode::SERVICE_UNAVAILABLE, [("retry-after", "1")]).into_response()
            } else {
                StatusCode::OK.into_response()
            };
            reply
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/signals", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, receiver).await });

    let policy = RetryPolicy::builder()
        .max_retries(3)
        .base_delay(Duration::from_millis(50))
        .max_elapsed(Duration::from_secs(10))
        .build()?;
    let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
        .with(RetryMiddleware::new(policy))
        .with(SigningMiddleware::new(SigningKeys::parse(SECRET)?))
        .build();

    let started = Instant::now();
    let response = client
        .post(&url)
        .body(r#"{"symbol":"EURUSD","side":"buy"}"#)
        .send()
        .await?;
    let waited = started.elapsed();

    let ids = ids.lock().unwrap_or_else(|e| e.into_inner()).clone();
    println!(
        "status {} after {} attempts in {waited:?}; ids {ids:?}",
        response.status(),
        ids.len()
    );
    if response.status() != 200 || ids.len() != 2 || ids[0] != ids[1] {
        return Err("expected 200 on the second attempt, with the same webhook-id".into());
    }
    if waited < Duration::from_secs(1) {
        return Err(format!("the retry did not wait for Retry-After: {waited:?}").into());
    }
    println!("ok: retried after the server's Retry-After, same id, both attempts verified");
    Ok(())
}
