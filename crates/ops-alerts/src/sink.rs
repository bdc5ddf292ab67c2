//! The seam between alert policy (format, group, rate-limit, retry) and the
//! transport that actually posts a message. [`TelegramSink`](crate::TelegramSink)
//! is the default; tests and users plug in their own.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use retry_core::{Classify, Retryability};

/// How the text of a message is to be parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ParseMode {
    /// Telegram HTML (`<b>`, `<code>`; `&`, `<`, `>` escaped).
    Html,
    /// No markup: what is sent is shown as is.
    PlainText,
}

/// A message the transport delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SentMessage {
    /// The id Telegram gave the message.
    pub message_id: i32,
}

/// The future returned by [`AlertSink::send_message`].
pub type SendFuture<'a> = Pin<Box<dyn Future<Output = Result<SentMessage, SinkError>> + Send + 'a>>;

/// Posts one message. Implementations do one attempt: retrying, rate limiting
/// and the time bound belong to the caller ([`OpsAlertService`](crate::OpsAlertService)).
///
/// Object safe, so a service holds an `Arc<dyn AlertSink>`; errors must already
/// be free of secrets.
///
/// ```
/// use ops_alerts::{AlertSink, ParseMode, SendFuture, SentMessage};
///
/// #[derive(Debug)]
/// struct Stdout;
///
/// impl AlertSink for Stdout {
///     fn send_message<'a>(&'a self, text: &'a str, _mode: ParseMode) -> SendFuture<'a> {
///         Box::pin(async move {
///             println!("{text}");
///             Ok(SentMessage { message_id: 1 })
///         })
///     }
/// }
/// ```
pub trait AlertSink: Send + Sync + fmt::Debug {
    /// Sends `text` in `mode` to the configured chat.
    fn send_message<'a>(&'a self, text: &'a str, mode: ParseMode) -> SendFuture<'a>;
}

/// What went wrong with one send, as far as retrying is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SinkErrorKind {
    /// Connection failed, reset, or an unreadable answer: retry.
    Network,
    /// No answer in time: retry.
    Timeout,
    /// Flood control (429): retry after the given delay.
    RetryAfter(Duration),
    /// The server failed (5xx): retry.
    Server,
    /// The chat does not exist or the bot is not in it: do not retry.
    ChatNotFound,
    /// The bot was blocked, kicked, or the user deactivated: do not retry.
    Forbidden,
    /// The token was rejected: do not retry.
    InvalidToken,
    /// The text is too long even after our cut: do not retry.
    MessageTooLong,
    /// Telegram could not parse the HTML: resend once as plain text.
    CantParseEntities,
    /// The group became a supergroup with this id: send there instead.
    MigrateToChatId(i64),
    /// Any other refusal by the API: do not retry.
    Rejected,
}

/// One failed send, classified for the retry loop. The message never contains
/// the bot token (transports redact it before building the error).
///
/// ```
/// use ops_alerts::{SinkError, SinkErrorKind};
/// use retry_core::{Classify, Retryability};
/// use std::time::Duration;
///
/// let error = SinkError::new(SinkErrorKind::RetryAfter(Duration::from_secs(3)), "flood");
/// assert_eq!(error.retryability(), Retryability::RetryAfter(Duration::from_secs(3)));
/// assert!(SinkError::new(SinkErrorKind::ChatNotFound, "gone").is_permanent());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct SinkError {
    kind: SinkErrorKind,
    message: String,
    description: Option<String>,
}

impl SinkError {
    /// An error of `kind`; `message` must not contain secrets.
    pub fn new(kind: SinkErrorKind, message: impl Into<String>) -> SinkError {
        SinkError {
            kind,
            message: message.into(),
            description: None,
        }
    }

    /// Adds the Bot API's own description of a refusal (the `description`
    /// of its answer), for the person who must fix the cause. Must not
    /// contain secrets.
    ///
    /// ```
    /// use ops_alerts::{SinkError, SinkErrorKind};
    ///
    /// let error = SinkError::new(SinkErrorKind::ChatNotFound, "A Telegram's error: Bad Request: chat not found")
    ///     .with_description("Bad Request: chat not found");
    /// assert_eq!(error.description(), Some("Bad Request: chat not found"));
    /// assert_eq!(SinkError::new(SinkErrorKind::Network, "refused").description(), None);
    /// ```
    #[must_use]
    pub fn with_description(mut self, description: impl Into<String>) -> SinkError {
        self.description = Some(description.into());
        self
    }

    /// The Bot API's own words when it refused the message, e.g.
    /// `"Bad Request: chat not found"` or `"Forbidden: bot was blocked by the
    /// user"`; `None` when there was no answer (network, timeout) or the
    /// transport does not keep them. [`TelegramSink`](crate::TelegramSink)
    /// keeps them for every refusal but a rejected token
    /// ([`SinkErrorKind::InvalidToken`]), for which teloxide folds
    /// `"Unauthorized"` and `"Not Found"` into one error without saying which.
    pub fn description(&self) -> Option<&str> {
        self.description.as_deref()
    }

    /// What went wrong.
    pub fn kind(&self) -> SinkErrorKind {
        self.kind
    }

    /// The description (secret-free).
    pub fn message(&self) -> &str {
        &self.message
    }

    /// Retrying can help (network, timeout, 429, 5xx).
    pub fn is_transient(&self) -> bool {
        !matches!(self.retryability(), Retryability::Permanent)
    }

    /// Retrying cannot help.
    pub fn is_permanent(&self) -> bool {
        !self.is_transient()
    }

    /// Telegram asked to wait this long (429).
    pub fn retry_after(&self) -> Option<Duration> {
        match self.kind {
            SinkErrorKind::RetryAfter(delay) => Some(delay),
            _ => None,
        }
    }

    /// Telegram could not parse the HTML.
    pub fn is_cant_parse_entities(&self) -> bool {
        self.kind == SinkErrorKind::CantParseEntities
    }

    /// The chat moved to this supergroup id.
    pub fn migrate_to_chat_id(&self) -> Option<i64> {
        match self.kind {
            SinkErrorKind::MigrateToChatId(id) => Some(id),
            _ => None,
        }
    }
}

impl Classify for SinkError {
    fn retryability(&self) -> Retryability {
        match self.kind {
            SinkErrorKind::Network | SinkErrorKind::Timeout | SinkErrorKind::Server => {
                Retryability::Transient
            }
            SinkErrorKind::RetryAfter(delay) => Retryability::RetryAfter(delay),
            // A migration is followed by the transport itself (once); if it
            // still surfaces here, the new chat moved again: stop.
            SinkErrorKind::ChatNotFound
            | SinkErrorKind::Forbidden
            | SinkErrorKind::InvalidToken
            | SinkErrorKind::MessageTooLong
            | SinkErrorKind::CantParseEntities
            | SinkErrorKind::MigrateToChatId(_)
            | SinkErrorKind::Rejected => Retryability::Permanent,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classification() {
        let transient = [
            SinkErrorKind::Network,
            SinkErrorKind::Timeout,
            SinkErrorKind::Server,
        ];
        for kind in transient {
            assert_eq!(
                SinkError::new(kind, "x").retryability(),
                Retryability::Transient
            );
        }
        let permanent = [
            SinkErrorKind::ChatNotFound,
            SinkErrorKind::Forbidden,
            SinkErrorKind::InvalidToken,
            SinkErrorKind::MessageTooLong,
            SinkErrorKind::CantParseEntities,
            SinkErrorKind::MigrateToChatId(-100),
            SinkErrorKind::Rejected,
        ];
        for kind in permanent {
            assert!(SinkError::new(kind, "x").is_permanent(), "{kind:?}");
        }
        let error = SinkError::new(SinkErrorKind::MigrateToChatId(-100), "moved");
        assert_eq!(error.migrate_to_chat_id(), Some(-100));
        assert_eq!(error.to_string(), "moved");
    }
}
