//! The default transport: teloxide's `Bot` (rustls only) posting `sendMessage`.

use std::error::Error as _;
use std::fmt;
use std::sync::{Mutex, PoisonError};

use secrecy::{ExposeSecret, SecretString};
use teloxide::payloads::SendMessageSetters;
use teloxide::requests::Requester;
use teloxide::types::{ChatId, MessageId, Recipient, ThreadId};
use teloxide::{ApiError, Bot, RequestError};

use crate::config::{AlertConfig, ChatTarget};
use crate::redact::{REDACTED, redact_query_of, redact_token};
use crate::sink::{AlertSink, ParseMode, SendFuture, SentMessage, SinkError, SinkErrorKind};

/// Sends alerts with teloxide to the configured chat (and forum topic).
///
/// One attempt per call: retries, rate limits and the time bound are the
/// service's. Two things are handled here because they are about the chat
/// itself: a "group upgraded to supergroup" answer is followed to the new chat
/// id once, with a WARN to update the configuration (later messages go to the
/// new id too), and every error text is redacted of the token before it leaves.
pub struct TelegramSink {
    /// `None` when the HTTP client could not be built: every send then fails
    /// permanently instead of panicking.
    bot: Option<Bot>,
    token: SecretString,
    /// For redacting its query from error texts (request URLs carry it).
    api_url: url::Url,
    chat: Mutex<ChatTarget>,
    thread_id: Option<i32>,
}

impl fmt::Debug for TelegramSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TelegramSink")
            .field("token", &REDACTED)
            .field("chat", &self.current_chat())
            .field("thread_id", &self.thread_id)
            .field("ready", &self.bot.is_some())
            .finish()
    }
}

impl TelegramSink {
    /// A sink for `config`'s token, chat, thread and API URL. Needs no runtime;
    /// sending needs tokio.
    pub fn new(config: &AlertConfig) -> TelegramSink {
        let token = config.bot_token().clone();
        // `Bot::new` panics if the client cannot be built; building it here
        // turns that into an error on send.
        let bot = match teloxide::net::default_reqwest_settings().build() {
            Ok(client) => Some(
                Bot::with_client(token.expose_secret(), client)
                    .set_api_url(config.api_url().clone()),
            ),
            Err(error) => {
                let error = redact_token(&error.to_string(), token.expose_secret());
                let error = redact_query_of(&error, config.api_url());
                tracing::error!(%error, "cannot build the HTTP client for Telegram alerts");
                None
            }
        };
        TelegramSink {
            bot,
            token,
            api_url: config.api_url().clone(),
            chat: Mutex::new(config.chat().clone()),
            thread_id: config.thread_id(),
        }
    }

    /// The chat messages go to now (after a migration, the new supergroup).
    pub fn current_chat(&self) -> ChatTarget {
        self.chat
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    async fn send_once(
        &self,
        bot: &Bot,
        text: &str,
        mode: ParseMode,
    ) -> Result<SentMessage, SinkError> {
        let recipient = match self.current_chat() {
            ChatTarget::Id(id) => Recipient::Id(ChatId(id)),
            ChatTarget::Username(name) => Recipient::ChannelUsername(name),
        };
        let mut request = bot.send_message(recipient, text);
        if mode == ParseMode::Html {
            request = request.parse_mode(teloxide::types::ParseMode::Html);
        }
        if let Some(thread) = self.thread_id {
            request = request.message_thread_id(ThreadId(MessageId(thread)));
        }
        match request.await {
            Ok(message) => Ok(SentMessage {
                message_id: message.id.0,
            }),
            Err(error) => Err(classify(&error, self.token.expose_secret(), &self.api_url)),
        }
    }
}

impl AlertSink for TelegramSink {
    fn send_message<'a>(&'a self, text: &'a str, mode: ParseMode) -> SendFuture<'a> {
        Box::pin(async move {
            let Some(bot) = &self.bot else {
                return Err(SinkError::new(
                    SinkErrorKind::Rejected,
                    "the HTTP client for Telegram could not be built",
                ));
            };
            match self.send_once(bot, text, mode).await {
                Err(error) if error.migrate_to_chat_id().is_some() => {
                    let new_id = error.migrate_to_chat_id().unwrap_or_default();
                    tracing::warn!(
                        new_chat_id = new_id,
                        "the Telegram group was upgraded to a supergroup: sending to the new chat id; \
                         update OPS_TELEGRAM_CHAT_ID to {new_id}"
                    );
                    *self.chat.lock().unwrap_or_else(PoisonError::into_inner) =
                        ChatTarget::Id(new_id);
                    // Followed once: a second migration answer is returned as is.
                    self.send_once(bot, text, mode).await
                }
                other => other,
            }
        })
    }
}

/// Maps a teloxide error to a classified [`SinkError`] free of the token and
/// of `api_url`'s query values.
fn classify(error: &RequestError, token: &str, api_url: &url::Url) -> SinkError {
    let kind = match error {
        RequestError::Api(api) => classify_api(api),
        RequestError::MigrateToChatId(ChatId(id)) => SinkErrorKind::MigrateToChatId(*id),
        RequestError::RetryAfter(seconds) => SinkErrorKind::RetryAfter(seconds.duration()),
        RequestError::Network(source) if source.is_timeout() => SinkErrorKind::Timeout,
        // A refused or reset connection, or an answer that is not Bot API JSON
        // (a proxy's HTML error page): passing, retry.
        RequestError::Network(_) | RequestError::InvalidJson { .. } | RequestError::Io(_) => {
            SinkErrorKind::Network
        }
    };
    // Network errors keep the cause ("connection refused") in their source
    // chain, not in their Display: include it, then redact the whole text.
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    let clean = |text: &str| redact_query_of(&redact_token(text, token), api_url);
    let sink_error = SinkError::new(kind, clean(&text));
    match error {
        RequestError::Api(api) => match description_of(api) {
            Some(description) => sink_error.with_description(clean(&description)),
            None => sink_error,
        },
        _ => sink_error,
    }
}

/// Telegram's own words for a refusal. teloxide matched the answer's
/// `description` against its list, so for a known error its `Display` is
/// that description; only an unknown one is wrapped (`Unknown error: "…"`),
/// and a rejected token stands for either "Unauthorized" or "Not Found".
fn description_of(error: &ApiError) -> Option<String> {
    match error {
        ApiError::InvalidToken => None,
        ApiError::Unknown(description) | ApiError::CantParseEntities(description) => {
            Some(description.clone())
        }
        known => Some(known.to_string()),
    }
}

fn classify_api(error: &ApiError) -> SinkErrorKind {
    match error {
        ApiError::ChatNotFound => SinkErrorKind::ChatNotFound,
        ApiError::InvalidToken => SinkErrorKind::InvalidToken,
        ApiError::MessageIsTooLong => SinkErrorKind::MessageTooLong,
        ApiError::CantParseEntities(_) => SinkErrorKind::CantParseEntities,
        ApiError::BotBlocked
        | ApiError::BotKicked
        | ApiError::BotKickedFromSupergroup
        | ApiError::BotKickedFromChannel
        | ApiError::UserDeactivated
        | ApiError::CantInitiateConversation
        | ApiError::CantTalkWithBots => SinkErrorKind::Forbidden,
        ApiError::Unknown(description) => classify_description(description),
        _ => SinkErrorKind::Rejected,
    }
}

/// Descriptions teloxide does not know. Telegram's 4xx descriptions start with
/// the status reason; anything else (5xx reasons, gateway pages) is passing.
fn classify_description(description: &str) -> SinkErrorKind {
    let lower = description.to_ascii_lowercase();
    if lower.contains("can't parse entities") {
        SinkErrorKind::CantParseEntities
    } else if lower.contains("message is too long") {
        SinkErrorKind::MessageTooLong
    } else if lower.contains("chat not found") {
        SinkErrorKind::ChatNotFound
    } else if lower.starts_with("forbidden") {
        SinkErrorKind::Forbidden
    } else if lower.starts_with("unauthorized") || lower.starts_with("not found") {
        SinkErrorKind::InvalidToken
    } else if lower.starts_with("bad request") || lower.starts_with("conflict") {
        SinkErrorKind::Rejected
    } else {
        SinkErrorKind::Server
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_descriptions() {
        assert_eq!(
            classify_description("Internal Server Error"),
            SinkErrorKind::Server
        );
        assert_eq!(classify_description("Bad Gateway"), SinkErrorKind::Server);
        assert_eq!(
            classify_description("Bad Request: wrong thing"),
            SinkErrorKind::Rejected
        );
        assert_eq!(
            classify_description("Forbidden: whatever"),
            SinkErrorKind::Forbidden
        );
        assert_eq!(
            classify_description("Bad Request: can't parse entities: x"),
            SinkErrorKind::CantParseEntities
        );
    }

    #[test]
    fn telegrams_own_descriptions_are_kept() {
        let url = url::Url::parse("http://127.0.0.1:9").unwrap();
        for (api, description) in [
            (ApiError::ChatNotFound, Some("Bad Request: chat not found")),
            (
                ApiError::BotBlocked,
                Some("Forbidden: bot was blocked by the user"),
            ),
            (
                ApiError::Unknown("Forbidden: something new".to_owned()),
                Some("Forbidden: something new"),
            ),
            (
                ApiError::CantParseEntities("Bad Request: can't parse entities: x".to_owned()),
                Some("Bad Request: can't parse entities: x"),
            ),
            (ApiError::InvalidToken, None),
        ] {
            let error = classify(&RequestError::Api(api.clone()), "1:t", &url);
            assert_eq!(error.description(), description, "{api:?}");
        }
        let network = classify(
            &RequestError::RetryAfter(teloxide::types::Seconds::from_seconds(1)),
            "1:t",
            &url,
        );
        assert_eq!(network.description(), None);
    }

    #[test]
    fn api_errors() {
        assert_eq!(
            classify_api(&ApiError::ChatNotFound),
            SinkErrorKind::ChatNotFound
        );
        assert_eq!(
            classify_api(&ApiError::BotBlocked),
            SinkErrorKind::Forbidden
        );
        assert_eq!(
            classify_api(&ApiError::InvalidToken),
            SinkErrorKind::InvalidToken
        );
        let error = classify(
            &RequestError::RetryAfter(teloxide::types::Seconds::from_seconds(3)),
            "t",
            &url::Url::parse("http://127.0.0.1:9").unwrap(),
        );
        assert_eq!(error.retry_after(), Some(std::time::Duration::from_secs(3)));
    }
}
