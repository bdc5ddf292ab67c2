//! The receiver the middleware test binaries send to: axum on 127.0.0.1,
//! verifying every request with `Verifier` (or taking unsigned ones), giving
//! scripted replies, and recording what it saw; and the client under test.
//!
//! Shared by `middleware.rs` and `middleware_logs.rs` through `#[path]`;
//! each uses part of it.

#![allow(dead_code)]

use std::collections::VecDeque;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use hmac_client::middleware::{RetryMiddleware, SigningMiddleware};
use hmac_client::{SigningKeys, Verifier};
use reqwest_middleware::{ClientBuilder, ClientWithMiddleware};
use retry_core::{Jitter, RetryPolicy};
use tokio::time::Instant;

pub(crate) const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
/// In every receiver URL's query, as an API key would be.
pub(crate) const QUERY_SECRET: &str = "qsSecret-7f3a9c-Value_42";

/// A scripted reply: a status and, optionally, a `Retry-After` value.
pub(crate) type Reply = (u16, Option<&'static str>);

/// One request as the receiver saw it.
#[derive(Debug, Clone)]
pub(crate) struct Seen {
    pub(crate) id: String,
    pub(crate) idempotency_key: String,
    pub(crate) timestamp: i64,
    pub(crate) body: Vec<u8>,
    pub(crate) at: Instant,
}

#[derive(Clone, Default)]
pub(crate) struct Receiver {
    pub(crate) seen: Arc<Mutex<Vec<Seen>>>,
    /// Replies to give, in order; then 200.
    pub(crate) script: Arc<Mutex<VecDeque<Reply>>>,
    /// `None`: a receiver that takes unsigned requests too.
    pub(crate) verifier: Option<Verifier>,
}

async fn receive(State(rx): State<Receiver>, headers: HeaderMap, body: Bytes) -> Response {
    let header = |name: &str| {
        headers
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default()
    };
    let timestamp: i64 = header("webhook-timestamp").parse().unwrap_or(0);
    // Verify at the timestamp the request carries: the test's signer clock
    // hands out made-up but increasing times.
    if let Some(Err(e)) = rx
        .verifier
        .as_ref()
        .map(|v| v.verify_at(&headers, &body, timestamp))
    {
        return (e.status(), format!("refused: {e}")).into_response();
    }
    rx.seen.lock().unwrap().push(Seen {
        id: header("webhook-id"),
        idempotency_key: header("idempotency-key"),
        timestamp,
        body: body.to_vec(),
        at: Instant::now(),
    });
    match rx.script.lock().unwrap().pop_front() {
        None => StatusCode::OK.into_response(),
        Some((status, retry_after)) => {
            let mut response = StatusCode::from_u16(status).unwrap().into_response();
            if let Some(value) = retry_after {
                response
                    .headers_mut()
                    .insert("retry-after", HeaderValue::from_static(value));
            }
            response
        }
    }
}

pub(crate) async fn serve(script: &[Reply]) -> (String, Receiver) {
    serve_with(
        script,
        Some(Verifier::new(SigningKeys::parse(SECRET).unwrap())),
    )
    .await
}

pub(crate) async fn serve_with(script: &[Reply], verifier: Option<Verifier>) -> (String, Receiver) {
    let rx = Receiver {
        script: Arc::new(Mutex::new(script.iter().copied().collect())),
        verifier,
        ..Receiver::default()
    };
    let app = Router::new()
        .route("/signals", post(receive))
        .with_state(rx.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!(
        "http://{}/signals?api_key={QUERY_SECRET}",
        listener.local_addr().unwrap()
    );
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, rx)
}

pub(crate) fn policy(max_retries: u32) -> RetryPolicy {
    RetryPolicy::builder()
        .max_retries(max_retries)
        .base_delay(Duration::from_millis(100))
        .jitter(Jitter::None)
        .build()
        .unwrap()
}

/// Retry first, signing second (the documented order), with a signer clock
/// that ticks one second per attempt so each attempt's timestamp differs.
pub(crate) fn client(policy: RetryPolicy) -> ClientWithMiddleware {
    let tick = Arc::new(AtomicI64::new(1_764_000_000));
    let signer = SigningMiddleware::new(SigningKeys::parse(SECRET).unwrap())
        .with_unix_time(Arc::new(move || tick.fetch_add(1, Ordering::SeqCst)));
    ClientBuilder::new(reqwest::Client::new())
        .with(RetryMiddleware::new(policy))
        .with(signer)
        .build()
}
