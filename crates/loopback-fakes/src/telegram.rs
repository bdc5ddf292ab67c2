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
//! Updates: a test queues them with [`FakeBotApi::push_update`] (the fake
//! numbers them 1, 2, 3, ...; [`updates`] builds the common shapes).
//! `getUpdates` answers as Telegram does: an `offset` confirms (drops) every
//! update below it, the rest are returned, and with none left a `timeout`
//! (seconds, tokio time) holds the request until an update arrives. Every
//! `getUpdates` offset asked is kept ([`FakeBotApi::get_updates_offsets`]).
//! [`FakeReply::conflict`] is the 409 of two pollers sharing one token;
//! [`FakeBotApi::push_get_updates_reply`] scripts `getUpdates` alone, and
//! [`FakeBotApi::push_reply_for`] any one method.
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
mod handlers;
#[cfg(test)]
mod tests;
pub mod updates;

use axum::Router;
use serde_json::Value;
use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;

use handlers::{AppState, handle};

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

    /// `409 Conflict: terminated by other getUpdates request ...`: what
    /// Telegram answers when two processes long-poll with one token.
    pub fn conflict() -> FakeReply {
        FakeReply::Raw {
            status: 409,
            body: serde_json::json!({
                "ok": false,
                "error_code": 409,
                "description": "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running",
            })
            .to_string(),
        }
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
    /// Woken on every pushed update, for held `getUpdates` requests.
    updates_pushed: Notify,
}

#[derive(Debug)]
struct FakeState {
    script: VecDeque<FakeReply>,
    default_reply: FakeReply,
    messages: Vec<RecordedMessage>,
    requests: usize,
    next_message_id: i32,
    /// Replies for one method only (lowercase name), before the shared script.
    method_scripts: HashMap<String, VecDeque<FakeReply>>,
    /// Updates not yet confirmed by a `getUpdates` offset, oldest first.
    updates: VecDeque<Value>,
    next_update_id: i64,
    get_updates_offsets: Vec<i64>,
}

impl FakeState {
    /// The next reply scripted for `method` (lowercase) alone, if any.
    fn scripted_for(&mut self, method: &str) -> Option<FakeReply> {
        self.method_scripts.get_mut(method)?.pop_front()
    }
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
                method_scripts: HashMap::new(),
                updates: VecDeque::new(),
                next_update_id: 1,
                get_updates_offsets: Vec::new(),
            }),
            changed: Notify::new(),
            updates_pushed: Notify::new(),
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

    /// Queues an update for `getUpdates`, setting its `update_id` (1, 2, 3,
    /// ... in push order), and returns that id. Build `update` with
    /// [`updates`] or by hand (everything but `update_id`).
    pub fn push_update(&self, mut update: Value) -> i64 {
        let id = {
            let mut state = self.shared.lock();
            let id = state.next_update_id;
            state.next_update_id += 1;
            if let Some(map) = update.as_object_mut() {
                map.insert("update_id".to_owned(), Value::from(id));
            }
            state.updates.push_back(update);
            id
        };
        self.shared.updates_pushed.notify_waiters();
        id
    }

    /// Queues a reply for `getUpdates` only (answered before the shared
    /// queue of [`push_reply`](FakeBotApi::push_reply)), so a test can fail
    /// polls while messages still go through.
    pub fn push_get_updates_reply(&self, reply: FakeReply) {
        self.push_reply_for("getUpdates", reply);
    }

    /// Queues a reply for `method` only (matched case-insensitively),
    /// answered before the shared queue: a test can make one `sendMessage`
    /// fail while polls go through.
    pub fn push_reply_for(&self, method: &str, reply: FakeReply) {
        self.shared
            .lock()
            .method_scripts
            .entry(method.to_ascii_lowercase())
            .or_default()
            .push_back(reply);
    }

    /// The `offset` of every `getUpdates` request answered, in order (0 when
    /// the request had none).
    pub fn get_updates_offsets(&self) -> Vec<i64> {
        self.shared.lock().get_updates_offsets.clone()
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
