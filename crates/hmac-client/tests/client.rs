//! The signing client against a real axum server on 127.0.0.1 that verifies
//! every request with this crate's verifier and answers as scripted.
#![cfg(feature = "client")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::VecDeque;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac_client::{
    ClientConfig, PostErrorKind, ReplayGuard, SignalClient, SigningKeys, Verifier, VerifyErrorKind,
};
use retry_core::{Classify, Retryability};

const T0: i64 = 1_700_000_000;
const BODY: &[u8] = br#"{"symbol":"BTCUSDT","side":"buy","qty":"0.5"}"#;

fn secret(byte: u8) -> String {
    format!("whsec_{}", STANDARD.encode([byte; 32]))
}

/// How the test server answers a correctly signed request.
#[derive(Clone)]
enum Reply {
    Status {
        code: u16,
        headers: Vec<(&'static str, String)>,
        body: String,
    },
    Hang,
}

fn status(code: u16) -> Reply {
    Reply::Status {
        code,
        headers: Vec::new(),
        body: format!("scripted {code}"),
    }
}

/// One request as the server saw it.
#[derive(Debug, Clone)]
struct Seen {
    id: Option<String>,
    timestamp: Option<String>,
    signature: Option<String>,
    idempotency_key: Option<String>,
    content_type: Option<String>,
    body: Bytes,
    verified: Result<(), VerifyErrorKind>,
}

struct ServerState {
    verifier: Verifier,
    clock: Arc<AtomicI64>,
    script: Mutex<VecDeque<Reply>>,
    seen: Mutex<Vec<Seen>>,
}

struct TestServer {
    url: String,
    state: Arc<ServerState>,
    clock: Arc<AtomicI64>,
}

impl TestServer {
    /// Starts a server on 127.0.0.1:0 verifying with `secrets`; its clock and
    /// the clients' (see `client`) are the same atomic, starting at `T0`.
    async fn start(secrets: &str) -> TestServer {
        TestServer::start_with(Verifier::new(SigningKeys::parse(secrets).unwrap())).await
    }

    /// Like `start`, with a verifier configured by the test (replay guard).
    async fn start_with(verifier: Verifier) -> TestServer {
        let clock = Arc::new(AtomicI64::new(T0));
        let state = Arc::new(ServerState {
            verifier,
            clock: clock.clone(),
            script: Mutex::new(VecDeque::new()),
            seen: Mutex::new(Vec::new()),
        });
        let router = Router::new()
            .route("/signals", post(handle))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            axum::serve(listener, router).await.unwrap();
        });
        TestServer {
            url: format!("http://{addr}/signals"),
            state,
            clock,
        }
    }

    fn script(&self, replies: impl IntoIterator<Item = Reply>) {
        self.state.script.lock().unwrap().extend(replies);
    }

    fn seen(&self) -> Vec<Seen> {
        self.state.seen.lock().unwrap().clone()
    }

    /// A client signing with `secrets`, on the shared test clock.
    fn client(&self, secrets: &str) -> SignalClient {
        client_for(
            &self.url,
            secrets,
            Duration::from_secs(5),
            self.clock.clone(),
        )
    }
}

fn client_for(url: &str, secrets: &str, timeout: Duration, clock: Arc<AtomicI64>) -> SignalClient {
    let config = ClientConfig::new(url, secrets)
        .unwrap()
        .with_request_timeout(timeout)
        .with_connect_timeout(timeout);
    SignalClient::new(config)
        .unwrap()
        .with_unix_time(Arc::new(move || clock.load(Ordering::SeqCst)))
}

fn text(headers: &HeaderMap, name: &str) -> Option<String> {
    headers.get(name).map(|v| v.to_str().unwrap().to_owned())
}

async fn handle(
    State(state): State<Arc<ServerState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let now = state.clock.load(Ordering::SeqCst);
    let mut verified = state.verifier.verify_at(&headers, &body, now);
    state.seen.lock().unwrap().push(Seen {
        id: text(&headers, "webhook-id"),
        timestamp: text(&headers, "webhook-timestamp"),
        signature: text(&headers, "webhook-signature"),
        idempotency_key: text(&headers, "idempotency-key"),
        content_type: text(&headers, "content-type"),
        body,
        verified: verified.as_ref().map(|_| ()).map_err(|e| e.kind()),
    });
    let verified = match &mut verified {
        Ok(verified) => verified,
        Err(error) => return error.response_parts().into_response(),
    };
    if verified.is_duplicate() {
        return (StatusCode::OK, "duplicate").into_response();
    }
    let reply = state.script.lock().unwrap().pop_front();
    // Like a real receiver: only a success completes the id; any other
    // answer drops `verified` and so releases it.
    if matches!(
        &reply,
        None | Some(Reply::Status {
            code: 200..=299,
            ..
        })
    ) {
        verified.complete();
    }
    match reply {
        None => (StatusCode::OK, r#"{"accepted":true}"#).into_response(),
        Some(Reply::Status {
            code,
            headers,
            body,
        }) => {
            let mut response = (StatusCode::from_u16(code).unwrap(), body).into_response();
            for (name, value) in headers {
                response.headers_mut().insert(
                    HeaderName::from_static(name),
                    HeaderValue::from_str(&value).unwrap(),
                );
            }
            response
        }
        Some(Reply::Hang) => std::future::pending().await,
    }
}

/// A port on 127.0.0.1 with nothing listening: bind, read the port, drop.
async fn refused_url() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{addr}/signals")
}

#[tokio::test]
async fn every_retry_keeps_the_id_and_gets_a_fresh_timestamp_and_signature() {
    let key = secret(1);
    let server = TestServer::start(&key).await;
    server.script([status(503), status(502)]);
    let client = server.client(&key);

    let mut outcomes = Vec::new();
    for attempt in 0..3 {
        server.clock.store(T0 + 7 * attempt, Ordering::SeqCst);
        outcomes.push(
            client
                .post_signal("sig_2026-11-29_0001", Bytes::from_static(BODY))
                .await,
        );
    }
    assert_eq!(outcomes[0].as_ref().unwrap_err().status(), Some(503));
    assert_eq!(outcomes[1].as_ref().unwrap_err().status(), Some(502));
    let receipt = outcomes[2].as_ref().unwrap();
    assert_eq!(receipt.status, 200);
    assert_eq!(receipt.timestamp, T0 + 14);
    assert!(receipt.latency < Duration::from_secs(5));

    let seen = server.seen();
    assert_eq!(seen.len(), 3);
    for (attempt, request) in (0i64..).zip(&seen) {
        assert_eq!(request.id.as_deref(), Some("sig_2026-11-29_0001"));
        assert_eq!(
            request.idempotency_key.as_deref(),
            Some("sig_2026-11-29_0001")
        );
        assert_eq!(request.content_type.as_deref(), Some("application/json"));
        assert_eq!(request.timestamp, Some((T0 + 7 * attempt).to_string()));
        assert_eq!(request.body, BODY);
        assert_eq!(request.verified, Ok(()));
    }
    let mut signatures: Vec<_> = seen.iter().map(|s| s.signature.clone().unwrap()).collect();
    signatures.dedup();
    assert_eq!(signatures.len(), 3, "each attempt is signed afresh");
}

#[tokio::test]
async fn rotation_sends_one_signature_per_key() {
    let (old, new) = (secret(1), secret(2));
    let server = TestServer::start(&new).await;
    let receipt = server
        .client(&format!("{old} {new}"))
        .post_signal("sig_rotation", Bytes::from_static(BODY))
        .await
        .unwrap();
    assert_eq!(receipt.status, 200);
    let seen = server.seen();
    assert_eq!(seen[0].signature.as_ref().unwrap().split(' ').count(), 2);
}

#[tokio::test]
async fn transient_statuses_are_retryable() {
    let key = secret(1);
    let server = TestServer::start(&key).await;
    let client = server.client(&key);
    for code in [408, 409, 425, 429, 500, 502, 503, 504] {
        server.script([status(code)]);
        let error = client
            .post_signal("sig_t", Bytes::from_static(BODY))
            .await
            .unwrap_err();
        assert_eq!(error.kind(), PostErrorKind::Transient, "{code}");
        assert_eq!(error.retryability(), Retryability::Transient, "{code}");
        assert_eq!(error.status(), Some(code));
        assert_eq!(error.error_class(), format!("http_{code}"));
        assert!(!error.is_security_failure());
        assert_eq!(
            error.body_excerpt(),
            Some(format!("scripted {code}").as_str())
        );
        assert!(error.to_string().contains(&code.to_string()), "{error}");
    }
}

#[tokio::test]
async fn retry_after_in_delta_seconds_is_the_hint() {
    let key = secret(1);
    let server = TestServer::start(&key).await;
    server.script([Reply::Status {
        code: 429,
        headers: vec![("retry-after", "7".to_owned())],
        body: "slow down".to_owned(),
    }]);
    let error = server
        .client(&key)
        .post_signal("sig_ra", Bytes::from_static(BODY))
        .await
        .unwrap_err();
    assert_eq!(error.kind(), PostErrorKind::Transient);
    assert_eq!(error.retry_after(), Some(Duration::from_secs(7)));
    assert_eq!(
        error.retryability(),
        Retryability::RetryAfter(Duration::from_secs(7))
    );
}

#[tokio::test]
async fn retry_after_as_an_http_date_is_relative_to_the_clients_clock() {
    let key = secret(1);
    let server = TestServer::start(&key).await;
    let at = UNIX_EPOCH + Duration::from_secs(u64::try_from(T0 + 30).unwrap());
    server.script([Reply::Status {
        code: 503,
        headers: vec![("retry-after", httpdate::fmt_http_date(at))],
        body: "maintenance".to_owned(),
    }]);
    let error = server
        .client(&key)
        .post_signal("sig_rd", Bytes::from_static(BODY))
        .await
        .unwrap_err();
    assert_eq!(error.retry_after(), Some(Duration::from_secs(30)));
    assert_eq!(
        error.retryability(),
        Retryability::RetryAfter(Duration::from_secs(30))
    );
}

#[tokio::test]
async fn validation_statuses_are_permanent_with_a_sanitized_excerpt() {
    let key = secret(1);
    let server = TestServer::start(&key).await;
    let client = server.client(&key);
    for code in [400, 404, 410, 413] {
        server.script([status(code)]);
        let error = client
            .post_signal("sig_v", Bytes::from_static(BODY))
            .await
            .unwrap_err();
        assert_eq!(error.kind(), PostErrorKind::Validation, "{code}");
        assert_eq!(error.retryability(), Retryability::Permanent, "{code}");
    }
    // A hostile or huge body: control characters removed, length bounded.
    let noisy = format!(
        "{{\"error\":\"qty\u{1b}[31m must be\r\npositive\"}}{}",
        "x".repeat(10_000)
    );
    server.script([Reply::Status {
        code: 422,
        headers: vec![("retry-after", "3".to_owned())],
        body: noisy,
    }]);
    let error = client
        .post_signal("sig_v", Bytes::from_static(BODY))
        .await
        .unwrap_err();
    assert_eq!(error.kind(), PostErrorKind::Validation);
    // A Retry-After on a permanent failure is kept but does not make it retryable.
    assert_eq!(error.retryability(), Retryability::Permanent);
    let excerpt = error.body_excerpt().unwrap();
    assert!(
        excerpt.starts_with(r#"{"error":"qty[31m must be positive"}"#),
        "{excerpt}"
    );
    assert!(excerpt.chars().count() <= hmac_client::MAX_BODY_EXCERPT_CHARS + 1);
    assert!(!excerpt.chars().any(char::is_control));
    let shown = error.to_string();
    assert!(shown.contains("422") && shown.contains("qty"), "{shown}");
    assert!(!shown.chars().any(char::is_control));
    assert_eq!(error.error_class(), "http_422");
}

#[tokio::test]
async fn a_rejected_signature_is_a_permanent_security_failure() {
    let server = TestServer::start(&secret(1)).await;
    // Signed with the wrong key: the server's verifier answers 401.
    let error = server
        .client(&secret(9))
        .post_signal("sig_s", Bytes::from_static(BODY))
        .await
        .unwrap_err();
    assert_eq!(
        server.seen()[0].verified,
        Err(VerifyErrorKind::BadSignature)
    );
    assert_eq!(error.status(), Some(401));
    assert_eq!(error.kind(), PostErrorKind::SecurityRejected);
    assert!(error.is_security_failure());
    assert_eq!(error.retryability(), Retryability::Permanent);
    assert_eq!(error.body_excerpt(), Some("webhook verification failed"));

    // A clock too far off is rejected the same way (stale).
    let key = secret(1);
    let skewed = client_for(
        &server.url,
        &key,
        Duration::from_secs(5),
        Arc::new(AtomicI64::new(T0 - 3_600)),
    );
    let error = skewed
        .post_signal("sig_s", Bytes::from_static(BODY))
        .await
        .unwrap_err();
    assert!(error.is_security_failure());

    server.script([status(403)]);
    let error = server
        .client(&key)
        .post_signal("sig_s", Bytes::from_static(BODY))
        .await
        .unwrap_err();
    assert_eq!(error.kind(), PostErrorKind::SecurityRejected);
    assert_eq!(error.retryability(), Retryability::Permanent);
}

#[tokio::test]
async fn unexpected_statuses_are_permanent_and_redirects_are_not_followed() {
    let key = secret(1);
    let server = TestServer::start(&key).await;
    let client = server.client(&key);
    server.script([Reply::Status {
        code: 307,
        headers: vec![("location", format!("{}?again", server.url))],
        body: String::new(),
    }]);
    let error = client
        .post_signal("sig_u", Bytes::from_static(BODY))
        .await
        .unwrap_err();
    assert_eq!(error.kind(), PostErrorKind::Unexpected);
    assert_eq!(error.retryability(), Retryability::Permanent);
    assert_eq!(error.body_excerpt(), None);
    assert_eq!(server.seen().len(), 1, "the redirect was not followed");
    for code in [405, 415, 418] {
        server.script([status(code)]);
        let error = client
            .post_signal("sig_u", Bytes::from_static(BODY))
            .await
            .unwrap_err();
        assert_eq!(error.kind(), PostErrorKind::Unexpected, "{code}");
        assert_eq!(error.retryability(), Retryability::Permanent);
    }
}

#[tokio::test]
async fn a_refused_connection_is_transient() {
    let url = refused_url().await;
    let client = client_for(
        &url,
        &secret(1),
        Duration::from_secs(5),
        Arc::new(AtomicI64::new(T0)),
    );
    let error = client
        .post_signal("sig_c", Bytes::from_static(BODY))
        .await
        .unwrap_err();
    assert_eq!(error.kind(), PostErrorKind::Connect, "{error}");
    assert_eq!(error.retryability(), Retryability::Transient);
    assert_eq!(error.status(), None);
    assert_eq!(error.error_class(), "connect");
    assert!(error.to_string().contains("connect"), "{error}");
}

// Real time, deliberately short: reqwest's timeout runs on tokio's timer, but
// hyper's connection I/O is real, so with a paused clock tokio would
// auto-advance to the deadline whenever the runtime idles waiting on the
// socket, firing the timeout before (or regardless of) the exchange: the test
// would no longer tell a timeout from a slow answer. A server that never
// answers plus a 200 ms budget costs 200 ms of wall time.
#[tokio::test]
async fn an_unanswered_attempt_hits_the_per_attempt_timeout() {
    let key = secret(1);
    let server = TestServer::start(&key).await;
    server.script([Reply::Hang]);
    let client = client_for(
        &server.url,
        &key,
        Duration::from_millis(200),
        server.clock.clone(),
    );
    let started = Instant::now();
    let error = client
        .post_signal("sig_to", Bytes::from_static(BODY))
        .await
        .unwrap_err();
    let elapsed = started.elapsed();
    assert_eq!(error.kind(), PostErrorKind::Timeout, "{error}");
    assert_eq!(error.retryability(), Retryability::Transient);
    assert_eq!(error.error_class(), "timeout");
    assert!(elapsed >= Duration::from_millis(190), "{elapsed:?}");
    assert!(elapsed < Duration::from_secs(3), "{elapsed:?}");
    // The server did get the request: this is why retries keep the id.
    assert_eq!(server.seen().len(), 1);
}

#[tokio::test]
async fn an_invalid_id_is_refused_before_any_io() {
    let key = secret(1);
    let server = TestServer::start(&key).await;
    let client = server.client(&key);
    for id in ["", "a.b", "with space", "ä", &"x".repeat(256), "id\n"] {
        let error = client
            .post_signal(id, Bytes::from_static(BODY))
            .await
            .unwrap_err();
        assert_eq!(error.kind(), PostErrorKind::InvalidRequest, "{id:?}");
        assert_eq!(error.retryability(), Retryability::Permanent);
        assert_eq!(error.error_class(), "invalid_id");
        assert_eq!(error.status(), None);
    }
    assert!(server.seen().is_empty());
    // The longest valid id goes through.
    let longest = "x".repeat(255);
    assert_eq!(
        client
            .post_signal(&longest, Bytes::from_static(BODY))
            .await
            .unwrap()
            .status,
        200
    );
}

#[tokio::test]
async fn clones_share_the_client_and_config() {
    let key = secret(1);
    let server = TestServer::start(&key).await;
    let client = server.client(&key);
    let clone = client.clone();
    let (a, b) = tokio::join!(
        client.post_signal("sig_a", Bytes::from_static(BODY)),
        clone.post_signal("sig_b", Bytes::from_static(BODY)),
    );
    assert_eq!(a.unwrap().status, 200);
    assert_eq!(b.unwrap().status, 200);
    assert_eq!(clone.config().server_url.as_url().as_str(), server.url);
}

#[tokio::test]
async fn sequential_attempts_reuse_one_connection() {
    use axum::extract::ConnectInfo;
    use std::net::SocketAddr;

    let peers: Arc<Mutex<Vec<SocketAddr>>> = Arc::default();
    let record = peers.clone();
    let router = Router::new().route(
        "/signals",
        post(move |ConnectInfo(peer): ConnectInfo<SocketAddr>| {
            let record = record.clone();
            async move {
                record.lock().unwrap().push(peer);
                StatusCode::OK
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(
            listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .unwrap();
    });
    let client = client_for(
        &format!("http://{addr}/signals"),
        &secret(1),
        Duration::from_secs(5),
        Arc::new(AtomicI64::new(T0)),
    );
    for id in ["sig_1", "sig_2", "sig_3"] {
        client
            .clone()
            .post_signal(id, Bytes::from_static(BODY))
            .await
            .unwrap();
    }
    let peers = peers.lock().unwrap().clone();
    assert_eq!(peers.len(), 3);
    assert!(
        peers.iter().all(|p| *p == peers[0]),
        "one pooled connection: {peers:?}"
    );
}

/// POSTs exactly what the server saw in `request` again: a captured request
/// replayed byte for byte.
async fn replay(url: &str, request: &Seen) -> reqwest::Response {
    reqwest::Client::new()
        .post(url)
        .header("webhook-id", request.id.clone().unwrap())
        .header("webhook-timestamp", request.timestamp.clone().unwrap())
        .header("webhook-signature", request.signature.clone().unwrap())
        .header("content-type", "application/json")
        .body(request.body.clone())
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_captured_request_replayed_after_a_failed_handler_is_refused_over_http() {
    let key = secret(1);
    let verifier =
        Verifier::new(SigningKeys::parse(&key).unwrap()).with_replay_guard(ReplayGuard::new(100));
    let server = TestServer::start_with(verifier).await;
    let client = server.client(&key);
    server.script([status(500)]);

    // The handler fails: the id is released.
    let failed = client
        .post_signal("sig_replay", Bytes::from_static(BODY))
        .await
        .unwrap_err();
    assert_eq!(failed.status(), Some(500));
    let captured = server.seen()[0].clone();

    // An attacker replays the captured request: refused, not processed.
    server.clock.store(T0 + 2, Ordering::SeqCst);
    let replayed = replay(&server.url, &captured).await;
    assert_eq!(replayed.status(), 409);
    assert_eq!(server.seen()[1].verified, Err(VerifyErrorKind::Replayed));

    // The sender's own retry, signed now, is accepted and completes.
    let receipt = client
        .post_signal("sig_replay", Bytes::from_static(BODY))
        .await
        .unwrap();
    assert_eq!(receipt.status, 200);
    assert_eq!(receipt.timestamp, T0 + 2);
    assert_eq!(server.seen()[2].verified, Ok(()));

    // Replaying either request now is a duplicate: answered 2xx, not acted on.
    for request in [&captured, &server.seen()[2]] {
        let again = replay(&server.url, request).await;
        assert_eq!(again.status(), 200);
        assert_eq!(again.text().await.unwrap(), "duplicate");
    }
}

#[tokio::test]
async fn a_full_replay_guard_answers_503_and_the_client_takes_its_retry_after() {
    let key = secret(1);
    let verifier =
        Verifier::new(SigningKeys::parse(&key).unwrap()).with_replay_guard(ReplayGuard::new(1));
    let server = TestServer::start_with(verifier).await;
    let client = server.client(&key);

    // One live id fills the guard: live until T0 + 300, free from T0 + 301.
    client
        .post_signal("sig_first", Bytes::from_static(BODY))
        .await
        .unwrap();
    server.clock.store(T0 + 100, Ordering::SeqCst);
    let error = client
        .post_signal("sig_second", Bytes::from_static(BODY))
        .await
        .unwrap_err();
    assert_eq!(server.seen()[1].verified, Err(VerifyErrorKind::GuardFull));
    assert_eq!(error.status(), Some(503));
    assert_eq!(error.retry_after(), Some(Duration::from_secs(201)));
    assert_eq!(
        error.retryability(),
        Retryability::RetryAfter(Duration::from_secs(201))
    );
    assert_eq!(
        error.body_excerpt(),
        Some("webhook receiver busy, retry later")
    );

    // After the wait, the first id has expired and the second gets in.
    server.clock.store(T0 + 301, Ordering::SeqCst);
    let receipt = client
        .post_signal("sig_second", Bytes::from_static(BODY))
        .await
        .unwrap();
    assert_eq!(receipt.status, 200);
}
