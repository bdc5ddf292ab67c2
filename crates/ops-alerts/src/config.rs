//! Alert configuration: the bot token, the chat, and the policy knobs, read from
//! the environment and validated all at once.
//!
//! The chat's parsing is in `chat`, the Bot API URL's in `api_url`, the error
//! type in `error`; this file reads the variables and holds the result.

mod api_url;
mod chat;
mod error;

use std::fmt;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use url::Url;

use api_url::{URL_FORM, check_url, default_api_url, normalize_url, problem_of_parsed};
pub use chat::ChatTarget;
use chat::check_chat;
pub use error::{AlertConfigError, AlertConfigErrorKind};

/// The public Bot API server.
pub const DEFAULT_API_URL: &str = "https://api.telegram.org";
/// Default cooldown window of a fingerprint group: 5 minutes.
pub const DEFAULT_COOLDOWN: Duration = Duration::from_secs(300);
/// Default bound on the time spent on one alert (rate-limit wait, retries, 5xx sleeps).
pub const DEFAULT_ALERT_TIMEOUT: Duration = Duration::from_secs(60);
/// Longest accepted alert timeout: alerts must never block signal delivery for long.
pub const MAX_ALERT_TIMEOUT: Duration = Duration::from_secs(600);
/// Default number of consecutive failed deliveries before alerts become CRITICAL.
pub const DEFAULT_ESCALATE_AFTER: u32 = 3;
/// Default number of signal ids listed in a group summary.
pub const DEFAULT_SUMMARY_ID_LIMIT: usize = 20;

/// Environment variable: the bot token, `<digits>:<secret>`.
pub const ENV_BOT_TOKEN: &str = "OPS_TELEGRAM_BOT_TOKEN";
/// Environment variable: the chat, an integer id or `@channelname`.
pub const ENV_CHAT_ID: &str = "OPS_TELEGRAM_CHAT_ID";
/// Environment variable (optional): the Bot API base URL.
pub const ENV_API_URL: &str = "OPS_TELEGRAM_API_URL";
/// Environment variable (optional): the forum topic (message thread) id.
pub const ENV_THREAD_ID: &str = "OPS_TELEGRAM_THREAD_ID";
/// Environment variable (optional): the cooldown window in seconds.
pub const ENV_COOLDOWN: &str = "OPS_ALERT_COOLDOWN_SECONDS";
/// Environment variable (optional): the per-alert time bound in seconds.
pub const ENV_ALERT_TIMEOUT: &str = "OPS_ALERT_TIMEOUT_SECONDS";
/// Environment variable (optional): consecutive failures before CRITICAL.
pub const ENV_ESCALATE_AFTER: &str = "OPS_ALERT_ESCALATE_AFTER";

const TOKEN_FORM: &str = "<bot id digits>:<secret of A-Z a-z 0-9 _ -> as given by @BotFather";
const THREAD_FORM: &str = "a positive integer forum topic id";
const COOLDOWN_FORM: &str = "a whole number of seconds, 0 to 86400";
const TIMEOUT_FORM: &str = "a whole number of seconds, 1 to 600";
const ESCALATE_FORM: &str = "a whole number, at least 1";

/// Where and how alerts are sent.
///
/// Defaults: API URL [`DEFAULT_API_URL`], no thread, cooldown 300 s, alert timeout
/// 60 s, escalation after 3 consecutive failed deliveries, 20 ids per summary.
/// `Debug` never shows the token.
///
/// ```
/// use ops_alerts::{AlertConfig, ChatTarget};
/// use std::time::Duration;
///
/// let config = AlertConfig::new("123456:AAH-example-token", "@ops")
///     .unwrap()
///     .with_cooldown(Duration::from_secs(60))
///     .with_thread_id(Some(7));
/// assert_eq!(config.chat(), &ChatTarget::Username("@ops".into()));
/// assert!(!format!("{config:?}").contains("AAH-example-token"));
/// assert!(config.validate().is_ok());
/// ```
#[derive(Clone)]
pub struct AlertConfig {
    bot_token: SecretString,
    chat: ChatTarget,
    api_url: Url,
    thread_id: Option<i32>,
    cooldown: Duration,
    alert_timeout: Duration,
    escalate_after: u32,
    summary_id_limit: usize,
}

impl fmt::Debug for AlertConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AlertConfig")
            .field("bot_token", &crate::redact::REDACTED)
            .field("chat", &self.chat)
            .field("api_url", &self.redacted_api_url())
            .field("thread_id", &self.thread_id)
            .field("cooldown", &self.cooldown)
            .field("alert_timeout", &self.alert_timeout)
            .field("escalate_after", &self.escalate_after)
            .field("summary_id_limit", &self.summary_id_limit)
            .finish()
    }
}

impl AlertConfig {
    /// A configuration with the defaults for everything but the token and chat.
    ///
    /// # Errors
    /// Every problem with the two values, at once.
    pub fn new(bot_token: &str, chat_id: &str) -> Result<AlertConfig, Vec<AlertConfigError>> {
        let mut errors = Vec::new();
        let token = check_token(Some(bot_token), &mut errors);
        let chat = check_chat(Some(chat_id), &mut errors);
        match (token, chat) {
            (Some(token), Some(chat)) if errors.is_empty() => {
                Ok(AlertConfig::with_defaults(token, chat))
            }
            _ => Err(errors),
        }
    }

    /// Reads the `OPS_TELEGRAM_*` and `OPS_ALERT_*` variables through `lookup`
    /// (so tests need not touch the process environment).
    ///
    /// # Errors
    /// Every missing or malformed value, at once; an empty value is malformed.
    pub fn from_lookup(
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<AlertConfig, Vec<AlertConfigError>> {
        let mut errors = Vec::new();
        let token = check_token(lookup(ENV_BOT_TOKEN).as_deref(), &mut errors);
        let chat = check_chat(lookup(ENV_CHAT_ID).as_deref(), &mut errors);
        let api_url = lookup(ENV_API_URL).and_then(|v| check_url(&v, &mut errors));
        let thread_id = lookup(ENV_THREAD_ID).and_then(|v| {
            parse_in(&v, 1..=i64::from(i32::MAX))
                .and_then(|n| i32::try_from(n).ok())
                .or_else(|| push(&mut errors, ENV_THREAD_ID, THREAD_FORM))
        });
        let cooldown = lookup(ENV_COOLDOWN).and_then(|v| {
            parse_in(&v, 0..=86_400)
                .map(secs)
                .or_else(|| push(&mut errors, ENV_COOLDOWN, COOLDOWN_FORM))
        });
        let alert_timeout = lookup(ENV_ALERT_TIMEOUT).and_then(|v| {
            parse_in(&v, 1..=600)
                .map(secs)
                .or_else(|| push(&mut errors, ENV_ALERT_TIMEOUT, TIMEOUT_FORM))
        });
        let escalate_after = lookup(ENV_ESCALATE_AFTER).and_then(|v| {
            parse_in(&v, 1..=i64::from(u32::MAX))
                .and_then(|n| u32::try_from(n).ok())
                .or_else(|| push(&mut errors, ENV_ESCALATE_AFTER, ESCALATE_FORM))
        });
        let (Some(token), Some(chat)) = (token, chat) else {
            return Err(errors);
        };
        if !errors.is_empty() {
            return Err(errors);
        }
        let mut config = AlertConfig::with_defaults(token, chat);
        if let Some(url) = api_url {
            config.api_url = url;
        }
        config.thread_id = thread_id;
        config.cooldown = cooldown.unwrap_or(config.cooldown);
        config.alert_timeout = alert_timeout.unwrap_or(config.alert_timeout);
        config.escalate_after = escalate_after.unwrap_or(config.escalate_after);
        Ok(config)
    }

    /// [`AlertConfig::from_lookup`] on the process environment.
    ///
    /// # Errors
    /// Every missing or malformed value, at once.
    pub fn from_env() -> Result<AlertConfig, Vec<AlertConfigError>> {
        AlertConfig::from_lookup(|name| std::env::var(name).ok())
    }

    fn with_defaults(bot_token: SecretString, chat: ChatTarget) -> AlertConfig {
        AlertConfig {
            bot_token,
            chat,
            api_url: default_api_url(),
            thread_id: None,
            cooldown: DEFAULT_COOLDOWN,
            alert_timeout: DEFAULT_ALERT_TIMEOUT,
            escalate_after: DEFAULT_ESCALATE_AFTER,
            summary_id_limit: DEFAULT_SUMMARY_ID_LIMIT,
        }
    }

    /// Uses another Bot API server (self-hosted, or a test fake). A trailing `/`
    /// after a path is dropped: teloxide would otherwise build `//bot<TOKEN>`.
    #[must_use]
    pub fn with_api_url(mut self, api_url: Url) -> AlertConfig {
        self.api_url = normalize_url(api_url);
        self
    }

    /// Posts into this forum topic (message thread), or the main chat with `None`.
    #[must_use]
    pub fn with_thread_id(mut self, thread_id: Option<i32>) -> AlertConfig {
        self.thread_id = thread_id;
        self
    }

    /// The window in which repeats of one fingerprint are folded into a summary.
    /// Zero disables folding.
    #[must_use]
    pub fn with_cooldown(mut self, cooldown: Duration) -> AlertConfig {
        self.cooldown = cooldown;
        self
    }

    /// The bound on the total time spent on one alert (1 to 600 s).
    #[must_use]
    pub fn with_alert_timeout(mut self, alert_timeout: Duration) -> AlertConfig {
        self.alert_timeout = alert_timeout;
        self
    }

    /// Consecutive failed deliveries after which delivery alerts are CRITICAL (at least 1).
    #[must_use]
    pub fn with_escalate_after(mut self, escalate_after: u32) -> AlertConfig {
        self.escalate_after = escalate_after;
        self
    }

    /// How many signal ids a summary lists before "and K more".
    #[must_use]
    pub fn with_summary_id_limit(mut self, summary_id_limit: usize) -> AlertConfig {
        self.summary_id_limit = summary_id_limit;
        self
    }

    /// The bot token; reading it needs [`ExposeSecret`], so it is never printed by accident.
    pub fn bot_token(&self) -> &SecretString {
        &self.bot_token
    }

    /// Where alerts go.
    pub fn chat(&self) -> &ChatTarget {
        &self.chat
    }

    /// The Bot API base URL. It may carry a query secret: show it with
    /// [`redacted_api_url`](AlertConfig::redacted_api_url).
    pub fn api_url(&self) -> &Url {
        &self.api_url
    }

    /// The Bot API base URL fit for logs and `Debug`: query values (and user
    /// info, which [`validate`](AlertConfig::validate) refuses) redacted.
    ///
    /// ```
    /// use ops_alerts::AlertConfig;
    ///
    /// let config = AlertConfig::from_lookup(|name| match name {
    ///     "OPS_TELEGRAM_BOT_TOKEN" => Some("123456:AAH-example-token".to_owned()),
    ///     "OPS_TELEGRAM_CHAT_ID" => Some("42".to_owned()),
    ///     "OPS_TELEGRAM_API_URL" => Some("https://tg.example.com?key=s3cr3t".to_owned()),
    ///     _ => None,
    /// })
    /// .unwrap();
    /// assert_eq!(config.redacted_api_url(), "https://tg.example.com/?key=[REDACTED]");
    /// assert!(!format!("{config:?}").contains("s3cr3t"));
    /// ```
    pub fn redacted_api_url(&self) -> String {
        crate::redact::redact_url(&self.api_url)
    }

    /// The forum topic, if any.
    pub fn thread_id(&self) -> Option<i32> {
        self.thread_id
    }

    /// The fold window.
    pub fn cooldown(&self) -> Duration {
        self.cooldown
    }

    /// The per-alert time bound.
    pub fn alert_timeout(&self) -> Duration {
        self.alert_timeout
    }

    /// Consecutive failures before CRITICAL.
    pub fn escalate_after(&self) -> u32 {
        self.escalate_after
    }

    /// Ids listed per summary.
    pub fn summary_id_limit(&self) -> usize {
        self.summary_id_limit
    }

    /// Checks the values the setters may have put out of range.
    ///
    /// # Errors
    /// Every problem, at once.
    pub fn validate(&self) -> Result<(), Vec<AlertConfigError>> {
        let mut errors = Vec::new();
        check_token(Some(self.bot_token.expose_secret()), &mut errors);
        if let Some(problem) = problem_of_parsed(&self.api_url) {
            errors.push(AlertConfigError::malformed(ENV_API_URL, problem, URL_FORM));
        }
        if self.thread_id.is_some_and(|t| t <= 0) {
            errors.push(AlertConfigError::malformed(
                ENV_THREAD_ID,
                "out of range",
                THREAD_FORM,
            ));
        }
        if self.cooldown > Duration::from_secs(86_400) {
            errors.push(AlertConfigError::malformed(
                ENV_COOLDOWN,
                "out of range",
                COOLDOWN_FORM,
            ));
        }
        if self.alert_timeout < Duration::from_secs(1) || self.alert_timeout > MAX_ALERT_TIMEOUT {
            errors.push(AlertConfigError::malformed(
                ENV_ALERT_TIMEOUT,
                "out of range",
                TIMEOUT_FORM,
            ));
        }
        if self.escalate_after == 0 {
            errors.push(AlertConfigError::malformed(
                ENV_ESCALATE_AFTER,
                "out of range",
                ESCALATE_FORM,
            ));
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }
}
fn secs(n: i64) -> Duration {
    Duration::from_secs(n.unsigned_abs())
}

fn parse_in(value: &str, range: std::ops::RangeInclusive<i64>) -> Option<i64> {
    value
        .trim()
        .parse::<i64>()
        .ok()
        .filter(|n| range.contains(n))
}

fn push<T>(
    errors: &mut Vec<AlertConfigError>,
    variable: &'static str,
    expected: &'static str,
) -> Option<T> {
    errors.push(AlertConfigError::malformed(
        variable,
        "not a valid value",
        expected,
    ));
    None
}

fn check_token(value: Option<&str>, errors: &mut Vec<AlertConfigError>) -> Option<SecretString> {
    let Some(value) = value else {
        errors.push(AlertConfigError::missing(ENV_BOT_TOKEN, TOKEN_FORM));
        return None;
    };
    let valid = value.split_once(':').is_some_and(|(id, secret)| {
        !id.is_empty()
            && id.len() <= 20
            && id.bytes().all(|b| b.is_ascii_digit())
            && !secret.is_empty()
            && secret.len() <= 128
            && secret
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    });
    if valid {
        Some(SecretString::from(value.to_owned()))
    } else {
        let problem = if value.is_empty() {
            "empty"
        } else {
            "not a bot token"
        };
        errors.push(AlertConfigError::malformed(
            ENV_BOT_TOKEN,
            problem,
            TOKEN_FORM,
        ));
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    const TOKEN: &str = "123456:AAH-secret-token-value";

    fn lookup(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |name| map.get(name).cloned()
    }

    #[test]
    fn defaults_and_every_optional_value() {
        let config =
            AlertConfig::from_lookup(lookup(&[(ENV_BOT_TOKEN, TOKEN), (ENV_CHAT_ID, "-1001234")]))
                .unwrap();
        assert_eq!(config.api_url().as_str(), "https://api.telegram.org/");
        assert_eq!(config.cooldown(), DEFAULT_COOLDOWN);
        assert_eq!(config.alert_timeout(), DEFAULT_ALERT_TIMEOUT);
        assert_eq!(config.escalate_after(), 3);
        assert_eq!(config.thread_id(), None);
        assert_eq!(config.chat(), &ChatTarget::Id(-1_001_234));
        assert_eq!(config.bot_token().expose_secret(), TOKEN);

        let config = AlertConfig::from_lookup(lookup(&[
            (ENV_BOT_TOKEN, TOKEN),
            (ENV_CHAT_ID, "@ops_room"),
            (ENV_API_URL, "http://127.0.0.1:8081/tg/"),
            (ENV_THREAD_ID, "12"),
            (ENV_COOLDOWN, "0"),
            (ENV_ALERT_TIMEOUT, "5"),
            (ENV_ESCALATE_AFTER, "1"),
        ]))
        .unwrap();
        assert_eq!(config.api_url().as_str(), "http://127.0.0.1:8081/tg");
        assert_eq!(config.thread_id(), Some(12));
        assert_eq!(config.cooldown(), Duration::ZERO);
        assert_eq!(config.alert_timeout(), Duration::from_secs(5));
        assert_eq!(config.escalate_after(), 1);
        assert!(config.validate().is_ok());
    }

    #[test]
    fn reports_every_problem_at_once_without_echoing_the_token() {
        let bad_token = "123456:AAH secret with spaces";
        let errors = AlertConfig::from_lookup(lookup(&[
            (ENV_BOT_TOKEN, bad_token),
            (ENV_CHAT_ID, ""),
            (ENV_API_URL, "ftp://x"),
            (ENV_THREAD_ID, "-1"),
            (ENV_COOLDOWN, "soon"),
            (ENV_ALERT_TIMEOUT, "601"),
            (ENV_ESCALATE_AFTER, "0"),
        ]))
        .unwrap_err();
        let variables: Vec<_> = errors.iter().map(AlertConfigError::variable).collect();
        assert_eq!(
            variables,
            [
                ENV_BOT_TOKEN,
                ENV_CHAT_ID,
                ENV_API_URL,
                ENV_THREAD_ID,
                ENV_COOLDOWN,
                ENV_ALERT_TIMEOUT,
                ENV_ESCALATE_AFTER
            ]
        );
        assert!(
            errors
                .iter()
                .all(|e| e.kind() == AlertConfigErrorKind::Malformed)
        );
        for error in &errors {
            let shown = format!("{error} {error:?}");
            assert!(!shown.contains("AAH"), "{shown}");
            assert!(shown.contains(error.variable()));
        }
        assert_eq!(
            errors[0].to_string(),
            format!("{ENV_BOT_TOKEN}: not a bot token; expected {TOKEN_FORM}")
        );
    }

    #[test]
    fn missing_required_values_are_named() {
        let errors = AlertConfig::from_lookup(lookup(&[])).unwrap_err();
        assert_eq!(errors.len(), 2);
        assert!(
            errors
                .iter()
                .all(|e| e.kind() == AlertConfigErrorKind::Missing)
        );
        assert_eq!(
            errors[0].to_string(),
            format!("{ENV_BOT_TOKEN}: not set; expected {TOKEN_FORM}")
        );
        let errors = AlertConfig::new("", "42").unwrap_err();
        assert_eq!(
            errors[0].to_string(),
            format!("{ENV_BOT_TOKEN}: empty; expected {TOKEN_FORM}")
        );
    }

    #[test]
    fn validate_catches_out_of_range_setters() {
        let config = AlertConfig::new(TOKEN, "42")
            .unwrap()
            .with_alert_timeout(Duration::ZERO)
            .with_escalate_after(0)
            .with_thread_id(Some(0));
        let errors = config.validate().unwrap_err();
        let variables: Vec<_> = errors.iter().map(AlertConfigError::variable).collect();
        assert_eq!(
            variables,
            [ENV_THREAD_ID, ENV_ALERT_TIMEOUT, ENV_ESCALATE_AFTER]
        );
        assert!(!format!("{config:?}").contains("AAH"));
        assert_eq!(default_api_url().as_str(), "https://api.telegram.org/");
    }
}
