//! A Standard Webhooks signal server on 127.0.0.1 that verifies every request
//! with `hmac-client`'s verifier and answers as scripted, so tests and the
//! drill can make delivery fail in a chosen way.

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use hmac_client::{SigningKeys, Verifier};
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use tokio::task::JoinHandle;

/// How the server answers a correctly signed request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// `200 OK` with `{"accepted":true}`.
    Accept,
    /// This status, an optional `Retry-After` header value, and a body.
    Status {
        /// The HTTP status code.
        code: u16,
        /// A `Retry-After` value (delta seconds or an HTTP date), sent as is.
        retry_after: Option<String>,
        /// The response body.
        body: String,
    },
    /// Never answers: for per-attempt timeouts.
    Hang,
    /// Answers `200 OK` like [`Reply::Accept`], after this long (on tokio's
    /// clock): for attempts that outlive a lease.
    Slow(std::time::Duration),
}

impl Reply {
    /// A status with a short JSON body naming it.
    pub fn status(code: u16) -> Reply {
        Reply::Status {
            code,
            retry_after: None,
            body: format!(r#"{{"error":"scripted status {code}"}}"#),
        }
    }

    /// A status with a `Retry-After` header.
    pub fn status_retry_after(code: u16, retry_after: &str) -> Reply {
        Reply::Status {
            code,
            retry_after: Some(retry_after.to_owned()),
            body: format!(r#"{{"error":"scripted status {code}, retry after {retry_after}"}}"#),
        }
    }

    /// A status with a given body (e.g. a validation message).
    pub fn status_with_body(code: u16, body: &str) -> Reply {
        Reply::Status {
            code,
            retry_after: None,
            body: body.to_owned(),
        }
    }
}

/// One request the server received.
#[derive(Debug, Clone)]
pub struct ReceivedSignal {
    /// `webhook-id` (empty when absent).
    pub id: String,
    /// `webhook-timestamp` as sent (unparsed).
    pub timestamp: String,
    /// `webhook-signature` as sent.
    pub signature: String,
    /// `Idempotency-Key`, when sent.
    pub idempotency_key: Option<String>,
    /// The body bytes.
    pub body: Bytes,
    /// Whether the signature verified.
    pub verified: bool,
    /// The status answered (0 for [`Reply::Hang`]).
    pub answered: u16,
    /// When it arrived, on tokio's clock (paused-clock tests can check delays).
    pub at: tokio::time::Instant,
}

/// Chooses the reply for each verified request when no scripted reply is queued.
pub type Responder = Arc<dyn Fn(&ReceivedSignal) -> Reply + Send + Sync>;

struct Shared {
    verifier: Verifier,
    script: Mutex<VecDeque<Reply>>,
    default: Mutex<Reply>,
    responder: Mutex<Option<Responder>>,
    received: Mutex<Vec<ReceivedSignal>>,
}

/// The fake signal server. Stops when dropped.
pub struct FakeSignalServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

impl std::fmt::Debug for FakeSignalServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeSignalServer")
            .field("addr", &self.addr)
            .field("received", &lock(&self.shared.received).len())
            .finish()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panicking test thread must not hide the requests from the next assertion.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl FakeSignalServer {
    /// Starts on `127.0.0.1` on a free port, on the current tokio runtime,
    /// verifying with `keys` (default tolerance) and accepting everything.
    pub async fn start(keys: SigningKeys) -> std::io::Result<FakeSignalServer> {
        FakeSignalServer::start_with(Verifier::new(keys)).await
    }

    /// Starts with a verifier configured by the caller (tolerance, replay guard).
    pub async fn start_with(verifier: Verifier) -> std::io::Result<FakeSignalServer> {
        let listener = tokio::net::TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, 0)).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            verifier,
            script: Mutex::new(VecDeque::new()),
            default: Mutex::new(Reply::Accept),
            responder: Mutex::new(None),
            received: Mutex::new(Vec::new()),
        });
        let app = Router::new().fallback(handle).with_state(shared.clone());
        let task = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::error!(error = %e, "fake signal server stopped");
            }
        });
        Ok(FakeSignalServer { addr, shared, task })
    }

    /// The URL to post signals to (`http://127.0.0.1:PORT/signals`).
    pub fn url(&self) -> String {
        format!("http://{}/signals", self.addr)
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Queues a reply for the next verified request (replies are used in order).
    pub fn push(&self, reply: Reply) {
        lock(&self.shared.script).push_back(reply);
    }

    /// Queues `count` copies of a reply.
    pub fn push_n(&self, reply: Reply, count: usize) {
        let mut script = lock(&self.shared.script);
        script.extend(std::iter::repeat_n(reply, count));
    }

    /// The reply once the script is used up (initially [`Reply::Accept`]).
    pub fn set_default(&self, reply: Reply) {
        *lock(&self.shared.default) = reply;
        *lock(&self.shared.responder) = None;
    }

    /// Chooses each reply with a function once the script is used up.
    pub fn set_responder(
        &self,
        responder: impl Fn(&ReceivedSignal) -> Reply + Send + Sync + 'static,
    ) {
        *lock(&self.shared.responder) = Some(Arc::new(responder));
    }

    /// Every request received, in arrival order.
    pub fn received(&self) -> Vec<ReceivedSignal> {
        lock(&self.shared.received).clone()
    }

    /// Number of requests received.
    pub fn request_count(&self) -> usize {
        lock(&self.shared.received).len()
    }
}

impl Drop for FakeSignalServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A loopback URL on which nothing listens: connections are refused.
pub fn refused_url() -> std::io::Result<String> {
    let listener = std::net::TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, 0))?;
    let addr = listener.local_addr()?;
    drop(listener);
    Ok(format!("http://{addr}/signals"))
}

fn text(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

async fn handle(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    let verified = shared.verifier.verify(&headers, &body);
    let mut received = ReceivedSignal {
        id: text(&headers, "webhook-id").unwrap_or_default(),
        timestamp: text(&headers, "webhook-timestamp").unwrap_or_default(),
        signature: text(&headers, "webhook-signature").unwrap_or_default(),
        idempotency_key: text(&headers, "idempotency-key"),
        body,
        verified: verified.is_ok(),
        answered: 0,
        at: tokio::time::Instant::now(),
    };
    let reply = match &verified {
        Err(error) => Reply::Status {
            code: error.status().as_u16(),
            retry_after: None,
            body: format!(r#"{{"error":"{}"}}"#, error.public_message()),
        },
        Ok(_) => {
            let scripted = lock(&shared.script).pop_front();
            match scripted {
                Some(reply) => reply,
                None => {
                    let responder = lock(&shared.responder).clone();
                    match responder {
                        Some(responder) => responder(&received),
                        None => lock(&shared.default).clone(),
                    }
                }
            }
        }
    };
    received.answered = match &reply {
        Reply::Accept | Reply::Slow(_) => 200,
        Reply::Status { code, .. } => *code,
        Reply::Hang => 0,
    };
    lock(&shared.received).push(received);
    match reply {
        Reply::Accept => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json")],
            r#"{"accepted":true}"#,
        )
            .into_response(),
        Reply::Status {
            code,
            retry_after,
            body,
        } => {
            let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let mut response = (status, body).into_response();
            if let Some(value) = retry_after.and_then(|v| HeaderValue::from_str(&v).ok()) {
                response.headers_mut().insert(header::RETRY_AFTER, value);
            }
            response
        }
        Reply::Hang => std::future::pending().await,
        Reply::Slow(delay) => {
            tokio::time::sleep(delay).await;
            (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "application/json")],
                r#"{"accepted":true}"#,
            )
                .into_response()
        }
    }
}
