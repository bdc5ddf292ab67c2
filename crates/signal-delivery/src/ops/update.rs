//! What the poller reads from an update: who wrote what, in which chat, and
//! the command in it. Anything else is an update to skip.

use serde_json::Value;

/// A text message, as far as authorisation and commands need it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Incoming {
    /// The chat it was written in.
    pub(crate) chat_id: i64,
    /// The sender's user id; `None` for channel posts and anonymous group
    /// admins, who can never be on the allow-list.
    pub(crate) user_id: Option<u64>,
    /// Telegram's send time, Unix seconds.
    pub(crate) date: i64,
    /// The text.
    pub(crate) text: String,
}

/// The update's id and, if it is a text message (or a channel post), what
/// it says.
pub(crate) fn parse(update: &Value) -> (Option<i64>, Option<Incoming>) {
    let id = update.get("update_id").and_then(Value::as_i64);
    // Not `edited_message`: editing an old command must not run it again.
    let message = update.get("message").or_else(|| update.get("channel_post"));
    let incoming = message.and_then(|m| {
        let chat_id = m.pointer("/chat/id").and_then(Value::as_i64)?;
        let text = m.get("text").and_then(Value::as_str)?.to_owned();
        // A message sent "as the group" carries the group as sender_chat and
        // a placeholder user: not a person we can check.
        let user_id = if m.get("sender_chat").is_some() {
            None
        } else {
            m.pointer("/from/id").and_then(Value::as_u64)
        };
        Some(Incoming {
            chat_id,
            user_id,
            date: m.get("date").and_then(Value::as_i64).unwrap_or(0),
            text,
        })
    });
    (id, incoming)
}

/// A command: its lowercased name without the slash, and the rest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Command<'a> {
    pub(crate) name: String,
    pub(crate) args: &'a str,
}

/// `/name@bot args` into a command, if the text is one addressed to this
/// bot: `/name` and `/name@<bot_username>` (any case) are; `/name@otherbot`
/// is for another bot in the group and is `None`, as is plain text.
pub(crate) fn command<'a>(text: &'a str, bot_username: &str) -> Option<Command<'a>> {
    let rest = text.trim_start().strip_prefix('/')?;
    let (head, args) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
    let (name, target) = match head.split_once('@') {
        Some((name, target)) => (name, Some(target)),
        None => (head, None),
    };
    if target.is_some_and(|t| !t.eq_ignore_ascii_case(bot_username)) {
        return None;
    }
    let valid = !name.is_empty()
        && name.len() <= 32
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    valid.then(|| Command {
        name: name.to_ascii_lowercase(),
        args: args.trim(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn commands_for_this_bot_only() {
        let c = command("/status", "ops_bot").unwrap();
        assert_eq!((c.name.as_str(), c.args), ("status", ""));
        let c = command("/Failures@Ops_Bot  5 ", "ops_bot").unwrap();
        assert_eq!((c.name.as_str(), c.args), ("failures", "5"));
        assert_eq!(command("/status@other_bot", "ops_bot"), None);
        assert_eq!(command("status", "ops_bot"), None);
        assert_eq!(command("/", "ops_bot"), None);
        assert_eq!(command("/sta-tus", "ops_bot"), None);
        assert_eq!(command("/show\nabc", "ops_bot").unwrap().args, "abc");
    }

    #[test]
    fn updates_of_every_shape_give_their_id() {
        let (id, incoming) = parse(&json!({
            "update_id": 9,
            "message": {"date": 5, "chat": {"id": -100}, "from": {"id": 7}, "text": "/help"}
        }));
        assert_eq!(id, Some(9));
        let incoming = incoming.unwrap();
        assert_eq!(
            (incoming.chat_id, incoming.user_id, incoming.date),
            (-100, Some(7), 5)
        );
        let (_, post) = parse(&json!({
            "update_id": 10,
            "channel_post": {"chat": {"id": -200}, "sender_chat": {"id": -200}, "text": "/status"}
        }));
        assert_eq!(post.unwrap().user_id, None);
        assert_eq!(
            parse(&json!({"update_id": 11, "poll": {}})),
            (Some(11), None)
        );
        assert_eq!(parse(&json!({"message": 3})), (None, None));
    }
}
