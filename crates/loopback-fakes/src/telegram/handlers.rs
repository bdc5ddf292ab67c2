//! The fake's HTTP side: one handler for every path, and the Bot API bodies
//! it answers with.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tokio::sync::watch;

use super::{FakeReply, FakeState, RecordedMessage, Shared};

#[derive(Debug, Clone)]
pub(super) struct AppState {
    pub(super) shared: Arc<Shared>,
    pub(super) stop: watch::Receiver<bool>,
}

/// One handler for every path: the Bot API puts the token and the method in
/// the path, and matching `SendMessage` case-insensitively is simpler here
/// than in a router.
pub(super) async fn handle(State(app): State<AppState>, uri: Uri, body: Bytes) -> Response {
    let Some((token, method)) = parse_path(uri.path()) else {
        // The real API answers unknown paths with 404 "Not Found", which
        // teloxide reads as an invalid token.
        app.shared.lock().requests += 1;
        app.shared.changed.notify_waiters();
        return api_error(StatusCode::NOT_FOUND, 404, "Not Found", None);
    };
    let method = method.to_ascii_lowercase();
    if method == "getupdates" {
        return get_updates(app, &body).await;
    }

    let (reply, response) = {
        let mut state = app.shared.lock();
        state.requests += 1;
        let reply = match state.scripted_for(&method) {
            Some(reply) => reply,
            None => state
                .script
                .pop_front()
                .unwrap_or_else(|| state.default_reply.clone()),
        };
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

/// `getUpdates`: scripted failures first; otherwise confirm the updates
/// below `offset` and answer the rest, holding the request up to `timeout`
/// seconds (tokio time) while there are none.
async fn get_updates(app: AppState, body: &[u8]) -> Response {
    let params = serde_json::from_slice::<Value>(body).unwrap_or(Value::Null);
    let offset = params.get("offset").and_then(Value::as_i64).unwrap_or(0);
    let timeout = params.get("timeout").and_then(Value::as_u64).unwrap_or(0);
    let limit = params
        .get("limit")
        .and_then(Value::as_u64)
        .and_then(|n| usize::try_from(n).ok())
        .filter(|n| (1..=100).contains(n))
        .unwrap_or(100);
    let reply = {
        let mut state = app.shared.lock();
        state.requests += 1;
        state.get_updates_offsets.push(offset);
        match state.scripted_for("getupdates") {
            Some(reply) => reply,
            None => state
                .script
                .pop_front()
                .unwrap_or_else(|| state.default_reply.clone()),
        }
    };
    app.shared.changed.notify_waiters();
    match reply {
        FakeReply::Ok => {}
        FakeReply::Hang => {
            let mut stop = app.stop;
            let _ = stop.wait_for(|stopped| *stopped).await;
            return api_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                500,
                "Internal Server Error",
                None,
            );
        }
        failure => return failure_response(&failure),
    }
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(timeout);
    let mut stop = app.stop.clone();
    loop {
        let pushed = app.shared.updates_pushed.notified();
        let ready: Vec<Value> = {
            let mut state = app.shared.lock();
            let below =
                |u: &Value| u.get("update_id").and_then(Value::as_i64).unwrap_or(0) < offset;
            while state.updates.front().is_some_and(below) {
                state.updates.pop_front();
            }
            state.updates.iter().take(limit).cloned().collect()
        };
        if !ready.is_empty() || tokio::time::Instant::now() >= deadline || *stop.borrow() {
            return ok(Value::Array(ready));
        }
        tokio::select! {
            () = pushed => {}
            () = tokio::time::sleep_until(deadline) => {}
            _ = stop.wait_for(|stopped| *stopped) => {}
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
}
