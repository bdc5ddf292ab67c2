//! `hmac_client::middleware` through a real reqwest-middleware client
//! against an axum receiver on 127.0.0.1 that verifies every request with
//! `Verifier`: signing with the caller's or a generated id, the same id on
//! every retry with a fresh timestamp, `Retry-After` honoured, permanent
//! statuses and refused ids not retried, and the give-up returning the last
//! response. Waits run on tokio's paused clock.

#![cfg(feature = "middleware")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "support/receiver.rs"]
mod receiver;

use std::time::Duration;

use hmac_client::middleware::{RetryMiddleware, SigningError, SigningMiddleware};
use hmac_client::{SigningKeys, is_valid_id};
use reqwest_middleware::ClientBuilder;
use retry_core::RetryPolicy;
use tokio::time::Instant;

use receiver::{SECRET, client, policy, serve, serve_with};

#[tokio::test(start_paused = true)]
async fn the_callers_id_is_signed_and_verified() {
    let (url, rx) = serve(&[]).await;

    let response = client(policy(3))
        .post(&url)
        .header("webhook-id", "sig_42")
        .body(r#"{"symbol":"EURUSD"}"#)
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), 200);
    let seen = rx.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].id, "sig_42");
    assert_eq!(seen[0].idempotency_key, "sig_42");
    assert_eq!(seen[0].body, br#"{"symbol":"EURUSD"}"#);
}

#[tokio::test(start_paused = true)]
async fn a_generated_id_is_kept_across_retries_with_fresh_timestamps() {
    let (url, rx) = serve(&[(503, None), (500, None)]).await;

    let response = client(policy(3)).post(&url).body("x").send().await.unwrap();

    assert_eq!(response.status(), 200);
    let seen = rx.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 3, "two transient failures, then success");
    assert!(seen[0].id.starts_with("msg_") && is_valid_id(&seen[0].id));
    assert!(
        seen.iter()
            .all(|s| s.id == seen[0].id && s.idempotency_key == s.id)
    );
    assert!(
        seen.windows(2).all(|w| w[1].timestamp > w[0].timestamp),
        "each attempt is signed anew: {seen:?}"
    );
    // The backoff: 100 ms, then 200 ms (no jitter).
    assert!(seen[1].at - seen[0].at >= Duration::from_millis(100));
    assert!(seen[2].at - seen[1].at >= Duration::from_millis(200));
}

#[tokio::test(start_paused = true)]
async fn two_requests_get_different_generated_ids() {
    let (url, rx) = serve(&[]).await;
    let client = client(policy(0));

    client.post(&url).body("a").send().await.unwrap();
    client.post(&url).body("b").send().await.unwrap();

    let seen = rx.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 2);
    assert_ne!(seen[0].id, seen[1].id);
}

#[tokio::test(start_paused = true)]
async fn retry_after_is_honoured_beyond_the_backoff() {
    let (url, rx) = serve(&[(429, Some("3"))]).await;

    let response = client(policy(3)).post(&url).body("x").send().await.unwrap();

    assert_eq!(response.status(), 200);
    let seen = rx.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 2);
    // The backoff alone would wait 100 ms; the server asked for 3 s.
    assert!(seen[1].at - seen[0].at >= Duration::from_secs(3));
}

#[tokio::test(start_paused = true)]
async fn a_retry_after_past_the_deadline_gives_up_with_the_servers_answer() {
    let (url, rx) = serve(&[(503, Some("60"))]).await;
    let policy = RetryPolicy::builder()
        .max_retries(5)
        .base_delay(Duration::from_millis(100))
        .max_elapsed(Duration::from_secs(10))
        .build()
        .unwrap();

    let response = client(policy).post(&url).body("x").send().await.unwrap();

    assert_eq!(
        response.status(),
        503,
        "the last response is returned as it came"
    );
    assert_eq!(
        rx.seen.lock().unwrap().len(),
        1,
        "no wait may end past max_elapsed"
    );
}

#[tokio::test(start_paused = true)]
async fn retries_run_out_and_the_last_status_is_returned() {
    let (url, rx) = serve(&[(502, None), (503, None), (504, None)]).await;

    let response = client(policy(2)).post(&url).body("x").send().await.unwrap();

    assert_eq!(response.status(), 504);
    assert_eq!(
        rx.seen.lock().unwrap().len(),
        3,
        "one attempt and two retries"
    );
}

#[tokio::test(start_paused = true)]
async fn permanent_statuses_are_not_retried() {
    for status in [400_u16, 401, 404, 422] {
        let (url, rx) = serve(&[(status, None)]).await;

        let response = client(policy(3)).post(&url).body("x").send().await.unwrap();

        assert_eq!(response.status().as_u16(), status);
        assert_eq!(rx.seen.lock().unwrap().len(), 1, "status {status} retried");
    }
}

#[tokio::test(start_paused = true)]
async fn a_refused_connection_is_retried_then_returned() {
    // A port that was just free: nothing listens there.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/signals", listener.local_addr().unwrap());
    drop(listener);
    let started = Instant::now();

    let error = client(policy(2))
        .post(&url)
        .body("x")
        .send()
        .await
        .unwrap_err();

    assert!(error.is_connect(), "{error}");
    // Two retries waited for: 100 ms + 200 ms.
    assert!(started.elapsed() >= Duration::from_millis(300));
}

#[tokio::test(start_paused = true)]
async fn an_invalid_caller_id_is_refused_before_sending() {
    let (url, rx) = serve(&[]).await;

    for bad in ["has space", "sig/1", &"a".repeat(256)] {
        let error = client(policy(3))
            .post(&url)
            .header("webhook-id", bad)
            .body("x")
            .send()
            .await
            .unwrap_err();

        let reqwest_middleware::Error::Middleware(error) = error else {
            panic!("expected the signer's error for {bad:?}, got {error:?}")
        };
        let signing = error.downcast_ref::<SigningError>().unwrap();
        assert_eq!(signing, &SigningError::InvalidId { len: bad.len() });
        let text = signing.to_string();
        assert!(
            text.contains("webhook-id") && text.contains("A-Z, a-z, 0-9"),
            "{text}"
        );
        assert!(!text.contains(bad), "the value is not echoed: {text}");
    }
    assert!(rx.seen.lock().unwrap().is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_streaming_body_is_refused_by_the_signer() {
    let (url, rx) = serve(&[]).await;
    // A body reqwest only knows as a stream of chunks.
    let stream = reqwest::Body::wrap(String::from("x"));

    let error = client(policy(3))
        .post(&url)
        .body(stream)
        .send()
        .await
        .unwrap_err();

    let reqwest_middleware::Error::Middleware(error) = error else {
        panic!("expected the signer's error, got {error:?}")
    };
    assert_eq!(
        error.downcast_ref::<SigningError>(),
        Some(&SigningError::StreamingBody)
    );
    assert!(rx.seen.lock().unwrap().is_empty());
}

#[test]
fn debug_shows_no_key() {
    let signer = SigningMiddleware::new(SigningKeys::parse(SECRET).unwrap());
    let text = format!("{signer:?}");
    assert!(!text.contains("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"), "{text}");
    assert!(text.contains("SigningMiddleware"));
}

#[tokio::test(start_paused = true)]
async fn a_streaming_body_is_sent_once_by_the_retry_alone() {
    let (url, rx) = serve_with(&[(503, None)], None).await;
    let client = ClientBuilder::new(reqwest::Client::new())
        .with(RetryMiddleware::new(policy(3)))
        .build();

    let response = client
        .post(&url)
        .body(reqwest::Body::wrap(String::from("x")))
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), 503, "a stream cannot be sent twice");
    assert_eq!(rx.seen.lock().unwrap().len(), 1);
}
