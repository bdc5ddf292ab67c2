//! The drill's Telegram side: which mode the credentials select, the sink
//! that records what Telegram answered, and a refusal put in words with what
//! to fix.

use std::sync::{Mutex, PoisonError};

use ops_alerts::{
    AlertConfig, AlertSink, ENV_ALERT_TIMEOUT, ENV_API_URL, ENV_BOT_TOKEN, ENV_CHAT_ID,
    ENV_THREAD_ID, ParseMode, SendFuture, SentMessage, SinkError, SinkErrorKind, TelegramSink,
};

use super::{DrillError, Options};

/// Records what was handed to Telegram, and what Telegram answered, while
/// the real teloxide sink does the sending.
#[derive(Debug)]
pub(super) struct RecordingSink {
    inner: TelegramSink,
    sent: Mutex<Vec<(String, SentMessage)>>,
    /// The last refusal or failure, to say what went wrong when nothing was sent.
    last_error: Mutex<Option<SinkError>>,
}

impl RecordingSink {
    pub(super) fn new(config: &AlertConfig) -> RecordingSink {
        RecordingSink {
            inner: TelegramSink::new(config),
            sent: Mutex::new(Vec::new()),
            last_error: Mutex::new(None),
        }
    }

    /// What Telegram accepted, in order.
    pub(super) fn sent(&self) -> Vec<(String, SentMessage)> {
        self.sent
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The last refusal or failure.
    pub(super) fn last_error(&self) -> Option<SinkError> {
        self.last_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl AlertSink for RecordingSink {
    fn send_message<'a>(&'a self, text: &'a str, mode: ParseMode) -> SendFuture<'a> {
        Box::pin(async move {
            let sent = self
                .inner
                .send_message(text, mode)
                .await
                .inspect_err(|error| {
                    *self
                        .last_error
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner) = Some(error.clone());
                })?;
            self.sent
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push((text.to_owned(), sent));
            Ok(sent)
        })
    }
}

/// Whether the alert goes to the real Telegram: both credentials set (an
/// empty value counts as set; the configuration then says what is wrong
/// with it) and no `--local`. One credential without the other is a mistake
/// to report, not a reason to fall back to the fake and pass.
pub(super) fn real_telegram(
    options: &Options,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<bool, DrillError> {
    if options.local {
        return Ok(false);
    }
    let half = |missing: &str, set: &str| {
        DrillError::Config(format!(
            "{missing} is not set, but {set} is: set both to send the drill's alert to your \
             Telegram chat, or neither (or pass --local) to use the embedded fake Bot API"
        ))
    };
    // The token may come from its file (OPS_TELEGRAM_BOT_TOKEN_FILE), as for
    // the commands.
    let token = env(ENV_BOT_TOKEN).is_some() || env(&format!("{ENV_BOT_TOKEN}_FILE")).is_some();
    match (token, env(ENV_CHAT_ID).is_some()) {
        (true, true) => Ok(true),
        (false, false) => Ok(false),
        (true, false) => Err(half(ENV_CHAT_ID, ENV_BOT_TOKEN)),
        (false, true) => Err(half(ENV_BOT_TOKEN, ENV_CHAT_ID)),
    }
}

/// Why the drill runs locally, and which Telegram variables it leaves unused.
pub(super) fn local_reason(options: &Options, env: &dyn Fn(&str) -> Option<String>) -> String {
    let unused: Vec<&str> = [ENV_BOT_TOKEN, ENV_CHAT_ID, ENV_API_URL, ENV_THREAD_ID]
        .into_iter()
        .filter(|name| env(name).is_some())
        .collect();
    let mut reason = if options.local {
        "; --local".to_owned()
    } else {
        format!("; {ENV_BOT_TOKEN}/{ENV_CHAT_ID} not set")
    };
    if !unused.is_empty() {
        reason.push_str(&format!("; not used: {}", unused.join(", ")));
    }
    reason
}

/// What Telegram said, in its own words where it gave any, and what to fix.
pub(super) fn telegram_refusal(error: Option<&SinkError>, config: &AlertConfig) -> String {
    let Some(error) = error else {
        return "no alert reached Telegram, and no error came back from it".to_owned();
    };
    let chat = config.chat();
    let url = config.redacted_api_url();
    let what = match error.description() {
        Some(description) => format!("Telegram refused the alert: \"{description}\""),
        None if error.kind() == SinkErrorKind::InvalidToken => {
            "Telegram refused the bot token: it answered \"Unauthorized\" or \"Not Found\" \
             (teloxide reports both alike)"
                .to_owned()
        }
        None => format!("the alert could not be sent to Telegram: {error}"),
    };
    let fix = match error.kind() {
        SinkErrorKind::ChatNotFound => format!(
            "check {ENV_CHAT_ID} ({chat}): this bot can see no chat with that id. A user must \
             first send the bot a message (/start); a group or channel must have the bot added; \
             supergroup and channel ids start with -100"
        ),
        SinkErrorKind::InvalidToken => format!(
            "check {ENV_BOT_TOKEN}: @BotFather shows the bot's current token (/token); \
             \"Not Found\" also comes from a wrong {ENV_API_URL} ({url})"
        ),
        SinkErrorKind::Forbidden => format!(
            "the bot may not write to {ENV_CHAT_ID} ({chat}): unblock the bot in that user's \
             chat, or add it back to the group or channel with the right to post"
        ),
        SinkErrorKind::MigrateToChatId(id) => {
            format!("the group became a supergroup: set {ENV_CHAT_ID} to {id}")
        }
        SinkErrorKind::Network
        | SinkErrorKind::Timeout
        | SinkErrorKind::Server
        | SinkErrorKind::RetryAfter(_) => format!(
            "Telegram at {url} did not take the alert within {ENV_ALERT_TIMEOUT} ({} s): check \
             the network path and proxy to it, and {ENV_API_URL}",
            config.alert_timeout().as_secs()
        ),
        SinkErrorKind::CantParseEntities | SinkErrorKind::MessageTooLong => {
            "Telegram refused the alert's text itself: a formatting bug in ops-alerts; report it \
             with the output above"
                .to_owned()
        }
        _ => format!(
            "check {ENV_CHAT_ID} ({chat}) and {ENV_THREAD_ID} against the chat, and the bot's \
             rights in it"
        ),
    };
    format!("{what}\nto fix: {fix}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn config() -> AlertConfig {
        AlertConfig::from_lookup(|name| match name {
            "OPS_TELEGRAM_BOT_TOKEN" => Some("123456:AAH-unit-test-token".to_owned()),
            "OPS_TELEGRAM_CHAT_ID" => Some("@ops_room".to_owned()),
            "OPS_TELEGRAM_API_URL" => Some("https://tg.example.com?key=unit-secret".to_owned()),
            _ => None,
        })
        .unwrap()
    }

    #[test]
    fn every_kind_of_failure_says_what_to_fix() {
        let described = |kind, words: &str| SinkError::new(kind, "x").with_description(words);
        for (error, what, fix) in [
            (
                described(SinkErrorKind::ChatNotFound, "Bad Request: chat not found"),
                "Telegram refused the alert: \"Bad Request: chat not found\"",
                "check OPS_TELEGRAM_CHAT_ID (@ops_room)",
            ),
            (
                SinkError::new(
                    SinkErrorKind::InvalidToken,
                    "A Telegram's error: Invalid bot token",
                ),
                "it answered \"Unauthorized\" or \"Not Found\"",
                "check OPS_TELEGRAM_BOT_TOKEN",
            ),
            (
                described(
                    SinkErrorKind::Forbidden,
                    "Forbidden: bot was kicked from the group chat",
                ),
                "\"Forbidden: bot was kicked from the group chat\"",
                "add it back",
            ),
            (
                SinkError::new(SinkErrorKind::MigrateToChatId(-100_777), "moved"),
                "could not be sent to Telegram: moved",
                "set OPS_TELEGRAM_CHAT_ID to -100777",
            ),
            (
                SinkError::new(
                    SinkErrorKind::Network,
                    "error sending request: Connection refused",
                ),
                "could not be sent to Telegram: error sending request: Connection refused",
                "https://tg.example.com/?key=[REDACTED] did not take the alert within OPS_ALERT_TIMEOUT_SECONDS (60 s)",
            ),
            (
                SinkError::new(
                    SinkErrorKind::RetryAfter(Duration::from_secs(30)),
                    "Retry after 30s",
                ),
                "Retry after 30s",
                "OPS_ALERT_TIMEOUT_SECONDS",
            ),
            (
                described(
                    SinkErrorKind::CantParseEntities,
                    "Bad Request: can't parse entities: x",
                ),
                "\"Bad Request: can't parse entities: x\"",
                "a formatting bug in ops-alerts",
            ),
            (
                described(
                    SinkErrorKind::Rejected,
                    "Bad Request: message thread not found",
                ),
                "\"Bad Request: message thread not found\"",
                "OPS_TELEGRAM_THREAD_ID",
            ),
        ] {
            let text = telegram_refusal(Some(&error), &config());
            let (said, to_fix) = text.split_once("\nto fix: ").unwrap();
            assert!(said.contains(what), "{error:?}: {text}");
            assert!(to_fix.contains(fix), "{error:?}: {text}");
            assert!(
                !text.contains("unit-secret") && !text.contains("AAH-unit"),
                "{text}"
            );
        }
        assert!(telegram_refusal(None, &config()).contains("no error came back"));
    }

    #[test]
    fn local_mode_names_the_variables_it_does_not_use() {
        let options = |local| Options {
            failure: super::super::Failure::Http500,
            local,
            max_retries: None,
            base_delay: None,
            outbox: false,
            outbox_url: None,
        };
        let none = |_: &str| None;
        assert_eq!(
            local_reason(&options(false), &none),
            "; OPS_TELEGRAM_BOT_TOKEN/OPS_TELEGRAM_CHAT_ID not set"
        );
        let url_only = |name: &str| (name == ENV_API_URL).then(|| "http://x".to_owned());
        assert_eq!(
            local_reason(&options(false), &url_only),
            "; OPS_TELEGRAM_BOT_TOKEN/OPS_TELEGRAM_CHAT_ID not set; not used: OPS_TELEGRAM_API_URL"
        );
        let both = |name: &str| {
            [ENV_BOT_TOKEN, ENV_CHAT_ID]
                .contains(&name)
                .then(|| "v".to_owned())
        };
        assert_eq!(
            local_reason(&options(true), &both),
            "; --local; not used: OPS_TELEGRAM_BOT_TOKEN, OPS_TELEGRAM_CHAT_ID"
        );
        assert!(real_telegram(&options(false), &both).unwrap());
        assert!(!real_telegram(&options(true), &both).unwrap());
        assert!(!real_telegram(&options(false), &none).unwrap());
    }
}
