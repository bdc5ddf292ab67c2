//! `hmac_client::axum::VerifiedWebhook` on a real axum server on
//! 127.0.0.1, driven over HTTP: a signed request reaches the handler with
//! its verified id and body; a tampered one, a stale one and a too large one
//! are refused with their status and a JSON problem body; with a replay
//! guard, any delivery of an id after `complete` is a duplicate.

#![cfg(feature = "axum")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use axum::Router;
use axum::extract::FromRef;
use axum::routing::post;
use hmac_client::axum::VerifiedWebhook;
use hmac_client::{ReplayGuard, SigningKeys, Verifier, sign};
use std::time::{SystemTime, UNIX_EPOCH};

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

#[derive(Clone)]
struct App {
    verifier: Verifier,
}

impl FromRef<App> for Verifier {
    fn from_ref(app: &App) -> Verifier {
        app.verifier.clone()
    }
}

async fn receive(mut hook: VerifiedWebhook) -> String {
    let duplicate = hook.verified.is_duplicate();
    hook.verified.complete();
    format!(
        "{} {} {}",
        hook.verified.id,
        duplicate,
        String::from_utf8_lossy(&hook.body)
    )
}

async fn serve(verifier: Verifier) -> String {
    let app = Router::new()
        .route("/signals", post(receive))
        .with_state(App { verifier });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/signals", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}

fn now() -> i64 {
    i64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs(),
    )
    .unwrap()
}

async fn post_signed(
    url: &str,
    id: &str,
    at: i64,
    signed: &[u8],
    sent: &[u8],
) -> (u16, String, String) {
    let keys = SigningKeys::parse(SECRET).unwrap();
    let response = reqwest::Client::new()
        .post(url)
        .header("webhook-id", id)
        .header("webhook-timestamp", at.to_string())
        .header("webhook-signature", sign(&keys, id, at, signed))
        .body(sent.to_vec())
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let kind = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, kind, response.text().await.unwrap())
}

#[tokio::test]
async fn verified_requests_reach_the_handler_and_the_rest_are_refused_with_a_problem() {
    let verifier = Verifier::new(SigningKeys::parse(SECRET).unwrap()).with_max_body_bytes(64);
    let url = serve(verifier).await;
    let body = br#"{"id":"s-1","side":"buy"}"#;

    let (status, _, text) = post_signed(&url, "s-1", now(), body, body).await;
    assert_eq!(status, 200, "{text}");
    assert_eq!(text, format!("s-1 false {}", String::from_utf8_lossy(body)));

    for (what, at, sent, want_status, want_kind) in [
        (
            "tampered",
            now(),
            &br#"{"id":"s-1","side":"sell"}"#[..],
            401,
            "bad_signature",
        ),
        ("stale", now() - 3600, &body[..], 401, "stale"),
        ("too large", now(), &[b'x'; 65][..], 413, "too_large"),
    ] {
        let (status, content_type, text) = post_signed(&url, "s-1", at, body, sent).await;
        assert_eq!(status, want_status, "{what}: {text}");
        assert_eq!(content_type, "application/json", "{what}");
        let problem: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(problem["kind"], want_kind, "{what}: {text}");
        assert!(
            problem["error"].as_str().is_some_and(|e| !e.is_empty()),
            "{what}: {text}"
        );
        assert!(!text.contains("MfKQ9r8"), "{what}: never the secret");
    }
}

#[tokio::test]
async fn with_a_replay_guard_a_completed_id_comes_back_as_a_duplicate() {
    let verifier =
        Verifier::new(SigningKeys::parse(SECRET).unwrap()).with_replay_guard(ReplayGuard::new(100));
    let url = serve(verifier).await;
    let body = br#"{"id":"d-1"}"#;
    let at = now();
    let (status, _, first) = post_signed(&url, "d-1", at, body, body).await;
    assert_eq!(
        (status, first.starts_with("d-1 false")),
        (200, true),
        "{first}"
    );
    // The sender's retry (a newer timestamp) of a completed id: a duplicate.
    let (status, _, again) = post_signed(&url, "d-1", at + 1, body, body).await;
    assert_eq!(
        (status, again.starts_with("d-1 true")),
        (200, true),
        "{again}"
    );
    // The very same request captured and replayed: a duplicate too, which
    // the handler acknowledges without acting on it again.
    let (status, _, replayed) = post_signed(&url, "d-1", at + 1, body, body).await;
    assert_eq!(
        (status, replayed.starts_with("d-1 true")),
        (200, true),
        "{replayed}"
    );
}
