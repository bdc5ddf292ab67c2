//! A fake Telegram Bot API on 127.0.0.1 that records messages and answers as scripted.
//!
//! [`FakeBotApi`] is a real HTTP server (axum) bound to `127.0.0.1:0`, so the code
//! under test goes through its real HTTP client (teloxide's reqwest) and real
//! error paths. Point a bot at it with `Bot::set_api_url` or `OPS_TELEGRAM_API_URL`
//! set to [`FakeBotApi::api_url`].
//!
//! What it mimics, because teloxide depends on it (verified against teloxide 0.17):
//! - requests are `POST /bot<TOKEN>/<method>`; teloxide spells methods
//!   `SendMessage` with a capital S, so methods are matched case-insensitively;
//! - teloxide ignores the HTTP status and reads only the JSON body, so every reply,
//!   success or failure, has a Bot API body (`ok`, `result` or
//!   `error_code`/`description`/`parameters`); the status is still set like
//!   Telegram's, because teloxide sleeps 10 s before reading any 5xx answer;
//! - a successful `sendMessage` result carries `message_id`, `date`, `chat.id` and
//!   `chat.type` (teloxide rejects a message without them);
//! - `parameters` is only present when it has content (teloxide rejects `{}`).
//!
//! Replies are scripted: [`FakeBotApi::push_reply`] queues replies consumed one
//! per request, in order; when the queue is empty the default reply
//! ([`FakeBotApi::set_default_reply`], initially [`FakeReply::Ok`]) answers.
//! Only successful `sendMessage` calls are recorded as [`RecordedMessage`]s;
//! [`FakeBotApi::requests`] counts every request, failures included.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> std::io::Result<()> {
//! use loopback_fakes::telegram::{FakeBotApi, FakeReply};
//! use std::time::Duration;
//!
//! let fake = FakeBotApi::start().await?;
//! assert!(fake.api_url().starts_with("http://127.0.0.1:"));
//! fake.push_reply(FakeReply::TooManyRequests { retry_after: 3 });
//! // ... point the code under test at `fake.api_url()` ...
//! let none = fake.wait_for_messages(1, Duration::from_millis(10)).await;
//! assert!(none.is_empty());
//! assert_eq!(fake.requests(), 0);
//! # Ok(())
//! # }
//! ```

use std::collections::VecDeque;
use std::fmt;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;

/// A successful `sendMessage` call as the fake received it.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedMessage {
    /// The bot token from the URL path (`/bot<TOKEN>/sendMessage`).
    pub token: String,
    /// `chat_id` exactly as sent: a JSON number for ids, a string for `@channel` names.
    pub chat_id: Value,
    /// The message text, as sent (still HTML-escaped in HTML mode).
    pub text: String,
    /// `parse_mode` (`"HTML"`, `"MarkdownV2"`, ...) or `None` for plain text.
    pub parse_mode: Option<String>,
    /// `message_thread_id` (forum topic), if any.
    pub message_thread_id: Option<i64>,
    /// The `message_id` the fake answered with (1, 2, 3, ... in arrival order).
    pub message_id: i32,
}

/// How the fake answers one request. Bodies follow the real Bot API.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FakeReply {
    /// Success: `sendMessage` is recorded and answered with a minimal `Message`;
    /// `getMe` is answered with a minimal bot `User`; other methods with `true`.
    Ok,
    /// HTTP 429, `error_code` 429 and `parameters.retry_after` (seconds).
    TooManyRequests {
        /// Seconds the client must wait before retrying.
        retry_after: u32,
    },
    /// A 5xx answer with this status (teloxide sleeps 10 s before reading it).
    ServerError {
        /// The HTTP status and `error_code`, e.g. 500 or 502.
        status: u16,
    },
    /// HTTP 400 with this description, e.g. `"Bad Request: chat not found"`.
    BadRequest(String),
    /// HTTP 401 `"Unauthorized"`: what Telegram answers for an invalid token.
    Unauthorized,
    /// HTTP 403 with this description, e.g. `"Forbidden: bot was blocked by the user"`.
    Forbidden(String),
    /// HTTP 400 "group chat was upgraded to a supergroup chat" with
    /// `parameters.migrate_to_chat_id` set to this id.
    MigrateToChat(i64),
    /// Never answers (until the fake is shut down): for timeout tests.
    Hang,
    /// Any status and raw body, for cases the variants above do not cover.
    Raw {
        /// The HTTP status.
        status: u16,
        /// The response body, sent as `application/json`.
        body: String,
    },
}

impl FakeReply {
    /// `400 Bad Request: chat not found`.
    pub fn chat_not_found() -> FakeReply {
        FakeReply::BadRequest("Bad Request: chat not found".to_owned())
    }

    /// `400 Bad Request: can't parse entities: ...` (bad HTML in the text).
    pub fn cant_parse_entities() -> FakeReply {
        FakeReply::BadRequest(
            "Bad Request: can't parse entities: Unsupported start tag \"x\" at byte offset 0"
                .to_owned(),
        )
    }

    /// `403 Forbidden: bot was blocked by the user`.
    pub fn bot_blocked() -> FakeReply {
        FakeReply::Forbidden("Forbidden: bot was blocked by the user".to_owned())
    }
}

/// Everything the handler and the test share.
#[derive(Debug)]
struct Shared {
    state: Mutex<FakeState>,
    /// Woken on every request, so waiters re-check without polling.
    changed: Notify,
}

#[derive(Debug)]
struct FakeState {
    script: VecDeque<FakeReply>,
    default_reply: FakeReply,
    messages: Vec<RecordedMessage>,
    requests: usize,
    next_message_id: i32,
}

impl Shared {
    /// A panic in one test thread must not make every later call fail: the
    /// state stays meaningful after a poisoned lock, so take it anyway.
    fn lock(&self) -> MutexGuard<'_, FakeState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A fake Telegram Bot API server on `127.0.0.1:<random port>`.
///
/// Started with [`FakeBotApi::start`] on the current tokio runtime; it stops when
/// dropped (or on [`FakeBotApi::shutdown`]): the accept loop is aborted and
/// [`FakeReply::Hang`] requests are released with a 500 answer.
pub struct FakeBotApi {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: watch::Sender<bool>,
    server: JoinHandle<()>,
}

impl fmt::Debug for FakeBotApi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.shared.lock();
        f.debug_struct("FakeBotApi")
            .field("addr", &self.addr)
            .field("requests", &state.requests)
            .field("messages", &state.messages.len())
            .field("scripted_replies", &state.script.len())
            .finish()
    }
}

impl FakeBotApi {
    /// Binds `127.0.0.1:0` and serves on the current tokio runtime.
    ///
    /// # Errors
    /// If the socket cannot be bound. Must be called inside a tokio runtime.
    pub async fn start() -> std::io::Result<FakeBotApi> {
        let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            state: Mutex::new(FakeState {
                script: VecDeque::new(),
                default_reply: FakeReply::Ok,
                messages: Vec::new(),
                requests: 0,
                next_message_id: 1,
            }),
            changed: Notify::new(),
        });
        let (stop, stop_rx) = watch::channel(false);
        let app = Router::new().fallback(handle).with_state(AppState {
            shared: Arc::clone(&shared),
            stop: stop_rx.clone(),
        });
        // Graceful shutdown closes kept-alive connections too: without it a
        // client's pooled connection would keep reaching a "stopped" fake.
        let mut stopped = stop_rx;
        let server = tokio::spawn(async move {
            let serve = axum::serve(listener, app).with_graceful_shutdown(async move {
                // Also ends if the sender is dropped.
                let _ = stopped.wait_for(|stopped| *stopped).await;
            });
            if let Err(error) = serve.await {
                tracing::warn!(%error, "fake Bot API server stopped");
            }
        });
        tracing::debug!(%addr, "fake Bot API listening");
        Ok(FakeBotApi {
            addr,
            shared,
            stop,
            server,
        })
    }

    /// The base URL, `http://127.0.0.1:PORT` (no trailing slash), for
    /// `Bot::set_api_url` or `OPS_TELEGRAM_API_URL`.
    pub fn api_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Successfully "sent" messages, in arrival order.
    pub fn messages(&self) -> Vec<RecordedMessage> {
        self.shared.lock().messages.clone()
    }

    /// Every request received so far, including scripted failures and hangs.
    pub fn requests(&self) -> usize {
        self.shared.lock().requests
    }

    /// Queues a reply; queued replies answer requests in order, before the default.
    pub fn push_reply(&self, reply: FakeReply) {
        self.shared.lock().script.push_back(reply);
    }

    /// The reply used once the queue is empty (initially [`FakeReply::Ok`]).
    pub fn set_default_reply(&self, reply: FakeReply) {
        self.shared.lock().default_reply = reply;
    }

    /// Waits until at least `n` messages were recorded or `timeout` passed (tokio
    /// time, so it works on a paused clock), and returns the messages recorded by
    /// then: fewer than `n` means the timeout passed.
    pub async fn wait_for_messages(&self, n: usize, timeout: Duration) -> Vec<RecordedMessage> {
        let _ = tokio::time::timeout(timeout, async {
            loop {
                // Register interest before checking, so a request that lands
                // between the check and the await is not missed.
                let notified = self.shared.changed.notified();
                if self.shared.lock().messages.len() >= n {
                    return;
                }
                notified.await;
            }
        })
        .await;
        self.messages()
    }

    /// Waits until at least `n` requests arrived or `timeout` passed (tokio time);
    /// returns the request count.
    pub async fn wait_for_requests(&self, n: usize, timeout: Duration) -> usize {
        let _ = tokio::time::timeout(timeout, async {
            loop {
                let notified = self.shared.changed.notified();
                if self.shared.lock().requests >= n {
                    return;
                }
                notified.await;
            }
        })
        .await;
        self.requests()
    }

    /// Stops the server; the same happens on drop. New connections are refused
    /// from the next scheduling point on (the listener is dropped), open
    /// connections are closed once their current request is answered, and
    /// [`FakeReply::Hang`] requests are released with a 500 answer.
    pub fn shutdown(&self) {
        // Release hanging handlers and start the graceful close of open
        // connections (their tasks watch this signal), then drop the listener
        // by aborting the accept loop.
        let _ = self.stop.send(true);
        self.server.abort();
    }
}

impl Drop for FakeBotApi {
    fn drop(&mut self) {
        self.shutdown();
    }
}

#[derive(Debug, Clone)]
struct AppState {
    shared: Arc<Shared>,
    stop: watch::Receiver<bool>,
}

/// One handler for every path: the Bot API puts the token and the method in
/// the path, and matching `SendMessage` case-insensitively is simpler here
/// than in a router.
async fn handle(State(app): State<AppState>, uri: Uri, body: Bytes) -> Response {
    let Some((token, method)) = parse_path(uri.path()) else {
        // The real API answers unknown paths with 404 "Not Found", which
        // teloxide reads as an invalid token.
        app.shared.lock().requests += 1;
        app.shared.changed.notify_waiters();
        return api_error(StatusCode::NOT_FOUND, 404, "Not Found", None);
    };
    let method = method.to_ascii_lowercase();

    let (reply, response) = {
        let mut state = app.shared.lock();
        state.requests += 1;
        let reply = state
            .script
            .pop_front()
            .unwrap_or_else(|| state.default_reply.clone());
        let response = match &reply {
            FakeReply::Ok => Some(success(&mut state, token, &method, &body)),
            FakeReply::Hang => None,
            failure => Some(failure_response(failure)),
        };
        (reply, response)
    };
    app.shared.changed.notify_waiters();

    match response {
        Some(response) => response,
        None => {
            debug_assert_eq!(reply, FakeReply::Hang);
            let mut stop = app.stop;
            // Hang until the fake shuts down; `wait_for` also returns at once
            // if it already did (or if the sender is gone).
            let _ = stop.wait_for(|stopped| *stopped).await;
            api_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                500,
                "Internal Server Error",
                None,
            )
        }
    }
}

/// Splits `/bot<TOKEN>/<method>` (with an optional prefix path before `/bot`).
fn parse_path(path: &str) -> Option<(&str, &str)> {
    let (rest, method) = path.rsplit_once('/')?;
    let (_, bot_segment) = rest.rsplit_once('/')?;
    let token = bot_segment.strip_prefix("bot")?;
    if token.is_empty() || method.is_empty() {
        return None;
    }
    Some((token, method))
}

fn success(state: &mut FakeState, token: &str, method: &str, body: &[u8]) -> Response {
    match method {
        "sendmessage" => {
            let Ok(params) = serde_json::from_slice::<Value>(body) else {
                return api_error(
                    StatusCode::BAD_REQUEST,
                    400,
                    "Bad Request: request body is not JSON",
                    None,
                );
            };
            let text = params
                .get("text")
                .and_then(Value::as_str)
                .unwrap_or_default();
            if text.is_empty() {
                return api_error(
                    StatusCode::BAD_REQUEST,
                    400,
                    "Bad Request: message text is empty",
                    None,
                );
            }
            let chat_id = params.get("chat_id").cloned().unwrap_or(Value::Null);
            let message_id = state.next_message_id;
            state.next_message_id = state.next_message_id.saturating_add(1);
            state.messages.push(RecordedMessage {
                token: token.to_owned(),
                chat_id: chat_id.clone(),
                text: text.to_owned(),
                parse_mode: params
                    .get("parse_mode")
                    .and_then(Value::as_str)
                    .map(str::to_owned),
                message_thread_id: params.get("message_thread_id").and_then(Value::as_i64),
                message_id,
            });
            // A channel username is echoed as a negative id, like Telegram's
            // channel ids: teloxide needs a number in `chat.id`.
            let (id, kind) = match &chat_id {
                Value::Number(n) => {
                    let id = n.as_i64().unwrap_or(0);
                    (id, if id < 0 { "supergroup" } else { "private" })
                }
                _ => (-1_001_000_000_000, "channel"),
            };
            ok(json!({
                "message_id": message_id,
                "date": 0,
                "chat": { "id": id, "type": kind },
                "text": text,
            }))
        }
        "getme" => ok(json!({
            "id": 1,
            "is_bot": true,
            "first_name": "Fake Bot",
            "username": "fake_bot",
            "can_join_groups": true,
            "can_read_all_group_messages": false,
            "supports_inline_queries": false,
            "can_connect_to_business": false,
            "has_main_web_app": false,
        })),
        _ => ok(Value::Bool(true)),
    }
}

fn failure_response(reply: &FakeReply) -> Response {
    match reply {
        FakeReply::TooManyRequests { retry_after } => api_error(
            StatusCode::TOO_MANY_REQUESTS,
            429,
            &format!("Too Many Requests: retry after {retry_after}"),
            Some(json!({ "retry_after": retry_after })),
        ),
        FakeReply::ServerError { status } => {
            let status = StatusCode::from_u16(*status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let description = status.canonical_reason().unwrap_or("Internal Server Error");
            api_error(status, i64::from(status.as_u16()), description, None)
        }
        FakeReply::BadRequest(description) => {
            api_error(StatusCode::BAD_REQUEST, 400, description, None)
        }
        FakeReply::Unauthorized => api_error(StatusCode::UNAUTHORIZED, 401, "Unauthorized", None),
        FakeReply::Forbidden(description) => {
            api_error(StatusCode::FORBIDDEN, 403, description, None)
        }
        FakeReply::MigrateToChat(new_id) => api_error(
            StatusCode::BAD_REQUEST,
            400,
            "Bad Request: group chat was upgraded to a supergroup chat",
            Some(json!({ "migrate_to_chat_id": new_id })),
        ),
        FakeReply::Raw { status, body } => {
            let status = StatusCode::from_u16(*status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            (status, [("content-type", "application/json")], body.clone()).into_response()
        }
        // Handled by the caller; answered like a success if it ever gets here.
        FakeReply::Ok | FakeReply::Hang => ok(Value::Bool(true)),
    }
}

fn ok(result: Value) -> Response {
    (
        StatusCode::OK,
        axum::Json(json!({ "ok": true, "result": result })),
    )
        .into_response()
}

/// A Bot API error body; `parameters` only when non-empty, because teloxide
/// fails to parse `"parameters": {}`.
fn api_error(
    status: StatusCode,
    code: i64,
    description: &str,
    parameters: Option<Value>,
) -> Response {
    let mut body = json!({ "ok": false, "error_code": code, "description": description });
    if let (Some(parameters), Some(map)) = (parameters, body.as_object_mut()) {
        map.insert("parameters".to_owned(), parameters);
    }
    (status, axum::Json(body)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_split_into_token_and_method() {
        assert_eq!(
            parse_path("/bot1:abc/SendMessage"),
            Some(("1:abc", "SendMessage"))
        );
        assert_eq!(
            parse_path("/prefix/bot1:abc/getMe"),
            Some(("1:abc", "getMe"))
        );
        assert_eq!(parse_path("/bot/getMe"), None);
        assert_eq!(parse_path("/bot1:abc/"), None);
        assert_eq!(parse_path("/favicon.ico"), None);
    }

    /// A minimal blocking HTTP/1.1 client: enough to drive the fake without
    /// adding an HTTP client dependency to this crate.
    async fn post(url: String, path: &str, body: &str) -> (u16, Value) {
        let addr = url.trim_start_matches("http://").to_owned();
        let request = format!(
            "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        tokio::task::spawn_blocking(move || {
            use std::io::{Read, Write};
            let mut stream = std::net::TcpStream::connect(addr).unwrap();
            stream.write_all(request.as_bytes()).unwrap();
            let mut response = String::new();
            stream.read_to_string(&mut response).unwrap();
            let status = response[9..12].parse().unwrap();
            let (_, json) = response.split_once("\r\n\r\n").unwrap();
            (status, serde_json::from_str(json).unwrap())
        })
        .await
        .unwrap()
    }

    #[tokio::test]
    async fn records_send_message_case_insensitively_and_echoes_the_chat() {
        let fake = FakeBotApi::start().await.unwrap();
        let body =
            r#"{"chat_id":42,"text":"hi <b>x</b>","parse_mode":"HTML","message_thread_id":7}"#;
        let (status, reply) = post(fake.api_url(), "/bot1:abc/SendMessage", body).await;
        assert_eq!(status, 200);
        assert_eq!(reply["ok"], true);
        assert_eq!(reply["result"]["message_id"], 1);
        assert_eq!(reply["result"]["date"], 0);
        assert_eq!(reply["result"]["chat"]["id"], 42);
        assert_eq!(reply["result"]["chat"]["type"], "private");

        let (_, reply) = post(
            fake.api_url(),
            "/bot1:abc/sendmessage",
            r#"{"chat_id":"@ops","text":"b"}"#,
        )
        .await;
        assert_eq!(reply["result"]["message_id"], 2);

        let messages = fake.messages();
        assert_eq!(messages.len(), 2);
        assert_eq!(
            messages[0],
            RecordedMessage {
                token: "1:abc".to_owned(),
                chat_id: json!(42),
                text: "hi <b>x</b>".to_owned(),
                parse_mode: Some("HTML".to_owned()),
                message_thread_id: Some(7),
                message_id: 1,
            }
        );
        assert_eq!(messages[1].chat_id, json!("@ops"));
        assert_eq!(messages[1].parse_mode, None);
        assert_eq!(fake.requests(), 2);
    }

    #[tokio::test]
    async fn scripted_replies_come_first_then_the_default() {
        let fake = FakeBotApi::start().await.unwrap();
        fake.push_reply(FakeReply::TooManyRequests { retry_after: 3 });
        fake.push_reply(FakeReply::MigrateToChat(-100_123));
        fake.push_reply(FakeReply::chat_not_found());
        fake.push_reply(FakeReply::Unauthorized);
        fake.set_default_reply(FakeReply::bot_blocked());
        let body = r#"{"chat_id":42,"text":"x"}"#;
        let path = "/bot1:abc/sendMessage";

        let (status, reply) = post(fake.api_url(), path, body).await;
        assert_eq!(status, 429);
        assert_eq!(reply["parameters"]["retry_after"], 3);
        assert_eq!(reply["error_code"], 429);
        let (_, reply) = post(fake.api_url(), path, body).await;
        assert_eq!(reply["parameters"]["migrate_to_chat_id"], -100_123);
        let (status, reply) = post(fake.api_url(), path, body).await;
        assert_eq!(status, 400);
        assert_eq!(reply["description"], "Bad Request: chat not found");
        assert!(
            reply.get("parameters").is_none(),
            "teloxide rejects an empty parameters object"
        );
        let (status, reply) = post(fake.api_url(), path, body).await;
        assert_eq!(
            (status, reply["description"].as_str()),
            (401, Some("Unauthorized"))
        );
        let (status, reply) = post(fake.api_url(), path, body).await;
        assert_eq!(status, 403);
        assert_eq!(reply["ok"], false);

        assert!(fake.messages().is_empty());
        assert_eq!(fake.requests(), 5);
    }

    #[tokio::test]
    async fn server_errors_and_get_me() {
        let fake = FakeBotApi::start().await.unwrap();
        fake.push_reply(FakeReply::ServerError { status: 502 });
        let (status, reply) = post(fake.api_url(), "/bot1:abc/getMe", "{}").await;
        assert_eq!(status, 502);
        assert_eq!(reply["description"], "Bad Gateway");
        let (_, reply) = post(fake.api_url(), "/bot1:abc/getMe", "{}").await;
        assert_eq!(reply["result"]["is_bot"], true);
        let (status, _) = post(fake.api_url(), "/nothing", "{}").await;
        assert_eq!(status, 404);
    }

    #[tokio::test]
    async fn hang_is_released_on_shutdown_and_waits_time_out() {
        let fake = FakeBotApi::start().await.unwrap();
        fake.push_reply(FakeReply::Hang);
        let url = fake.api_url();
        let pending = tokio::spawn(post(
            url,
            "/bot1:abc/sendMessage",
            r#"{"chat_id":1,"text":"x"}"#,
        ));
        assert_eq!(fake.wait_for_requests(1, Duration::from_secs(5)).await, 1);
        assert!(
            fake.wait_for_messages(1, Duration::from_millis(20))
                .await
                .is_empty()
        );
        fake.shutdown();
        let (status, _) = pending.await.unwrap();
        assert_eq!(status, 500);

        // The listener is gone once the aborted accept loop was dropped.
        tokio::time::sleep(Duration::from_millis(5)).await;
        let addr = fake.local_addr();
        let refused = tokio::task::spawn_blocking(move || std::net::TcpStream::connect(addr))
            .await
            .unwrap();
        assert!(refused.is_err(), "a stopped fake refuses connections");
    }
}
