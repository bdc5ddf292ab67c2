//! The chat alerts go to: an integer id or a public `@channelname`.

use std::fmt;

use super::ENV_CHAT_ID;
use super::error::AlertConfigError;

const CHAT_FORM: &str = "an integer chat id (e.g. -1001234567890) or @channelname";

/// Where alerts go: a chat id or a public `@channelname`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ChatTarget {
    /// A numeric chat id (users are positive, groups and channels negative).
    Id(i64),
    /// A public channel or supergroup username, including the leading `@`.
    Username(String),
}

impl ChatTarget {
    /// Parses an integer id or `@name` (letters, digits, `_`).
    ///
    /// ```
    /// use ops_alerts::ChatTarget;
    ///
    /// assert_eq!(ChatTarget::parse("-100123"), Some(ChatTarget::Id(-100123)));
    /// assert_eq!(ChatTarget::parse("@ops_alerts"), Some(ChatTarget::Username("@ops_alerts".into())));
    /// assert_eq!(ChatTarget::parse("ops"), None);
    /// ```
    pub fn parse(text: &str) -> Option<ChatTarget> {
        let text = text.trim();
        if let Some(name) = text.strip_prefix('@') {
            let valid = !name.is_empty()
                && name.len() <= 64
                && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
            return valid.then(|| ChatTarget::Username(text.to_owned()));
        }
        text.parse::<i64>()
            .ok()
            .filter(|id| *id != 0)
            .map(ChatTarget::Id)
    }
}

impl fmt::Display for ChatTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ChatTarget::Id(id) => write!(f, "{id}"),
            ChatTarget::Username(name) => f.write_str(name),
        }
    }
}

pub(super) fn check_chat(
    value: Option<&str>,
    errors: &mut Vec<AlertConfigError>,
) -> Option<ChatTarget> {
    let Some(value) = value else {
        errors.push(AlertConfigError::missing(ENV_CHAT_ID, CHAT_FORM));
        return None;
    };
    let chat = ChatTarget::parse(value);
    if chat.is_none() {
        let problem = if value.is_empty() {
            "empty"
        } else {
            "not a chat id or @name"
        };
        errors.push(AlertConfigError::malformed(ENV_CHAT_ID, problem, CHAT_FORM));
    }
    chat
}
