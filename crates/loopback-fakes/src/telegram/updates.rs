//! Bot API updates as Telegram sends them, for [`FakeBotApi::push_update`]
//! (which sets `update_id`).
//!
//! [`FakeBotApi::push_update`]: super::FakeBotApi::push_update

use serde_json::{Value, json};

/// Now, in Unix seconds: updates carry their send time, and a poller may
/// skip commands that are too old.
fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// A text message from user `user_id` in chat `chat_id` (negative: a
/// supergroup; positive: the user's private chat with the bot), sent now.
///
/// ```
/// let update = loopback_fakes::telegram::updates::text_message(-100_123, 42, "/status");
/// assert_eq!(update["message"]["from"]["id"], 42);
/// assert_eq!(update["message"]["chat"]["type"], "supergroup");
/// ```
pub fn text_message(chat_id: i64, user_id: u64, text: &str) -> Value {
    let chat = if chat_id < 0 {
        json!({ "id": chat_id, "type": "supergroup", "title": "ops" })
    } else {
        json!({ "id": chat_id, "type": "private", "first_name": "Op" })
    };
    json!({
        "message": {
            "message_id": 1,
            "date": now(),
            "chat": chat,
            "from": { "id": user_id, "is_bot": false, "first_name": "Op" },
            "text": text,
        }
    })
}

/// A post in a channel: it carries no user, only the channel as sender.
pub fn channel_post(chat_id: i64, text: &str) -> Value {
    let chat = json!({ "id": chat_id, "type": "channel", "title": "ops" });
    json!({
        "channel_post": {
            "message_id": 1,
            "date": now(),
            "chat": chat,
            "sender_chat": chat,
            "text": text,
        }
    })
}

/// [`text_message`] sent `seconds_ago` seconds ago (a command that waited
/// while no poller ran).
pub fn old_text_message(chat_id: i64, user_id: u64, text: &str, seconds_ago: u64) -> Value {
    let mut update = text_message(chat_id, user_id, text);
    update["message"]["date"] = Value::from(now().saturating_sub(seconds_ago));
    update
}
