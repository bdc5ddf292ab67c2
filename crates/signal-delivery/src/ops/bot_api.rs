//! The two Bot API calls the poller makes itself, `getMe` and `getUpdates`,
//! over reqwest (the HTTP stack teloxide uses), reading updates as plain
//! JSON: an update of a shape we do not know is skipped by its
//! `update_id`, never a parse failure that would stall the poller on it.
//!
//! The token is in every request URL, so no reqwest error is shown with its
//! URL, and every text is redacted of the token and of the API URL's query
//! before it leaves this file.

use std::time::Duration;

use ops_alerts::{AlertConfig, redact_query_of, redact_token};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};
use url::Url;

/// Extra time over the long-poll timeout before the HTTP request gives up.
const HTTP_MARGIN: Duration = Duration::from_secs(10);

/// Why a Bot API call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum BotApiError {
    /// 429: wait this long before the next call.
    #[error("Telegram asked to slow down for {0:?}")]
    RetryAfter(Duration),
    /// 409: another process polls with this token (or a webhook is set).
    #[error("Telegram refused getUpdates: {0}")]
    Conflict(String),
    /// 401/404: the token is not (or no longer) valid.
    #[error("Telegram refused the bot token")]
    Unauthorized,
    /// Anything else: a refused connection, a 5xx, an answer that is not
    /// Bot API JSON. Passing: retry with backoff.
    #[error("Bot API call failed: {0}")]
    Transient(String),
}

/// A minimal Bot API client for the poller.
pub(crate) struct BotApi {
    http: reqwest::Client,
    token: SecretString,
    api_url: Url,
}

impl std::fmt::Debug for BotApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BotApi")
            .field("token", &ops_alerts::REDACTED)
            .field("api_url", &ops_alerts::redact_url(&self.api_url))
            .finish()
    }
}

impl BotApi {
    /// A client for `config`'s token and API URL.
    pub(crate) fn new(config: &AlertConfig) -> Result<BotApi, BotApiError> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| BotApiError::Transient(format!("cannot build the HTTP client: {e}")))?;
        Ok(BotApi {
            http,
            token: config.bot_token().clone(),
            api_url: config.api_url().clone(),
        })
    }

    /// The bot's `@username` (without the `@`), for `/cmd@botname`.
    pub(crate) async fn get_me(&self) -> Result<String, BotApiError> {
        let result = self.call("getMe", &json!({}), Duration::ZERO).await?;
        result
            .get("username")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| BotApiError::Transient("getMe answered without a username".into()))
    }

    /// Updates from `offset` on, waiting up to `timeout` for the first.
    pub(crate) async fn get_updates(
        &self,
        offset: i64,
        timeout: Duration,
    ) -> Result<Vec<Value>, BotApiError> {
        let body = json!({
            "offset": offset,
            "timeout": timeout.as_secs(),
            "allowed_updates": ["message"],
        });
        match self.call("getUpdates", &body, timeout).await? {
            Value::Array(updates) => Ok(updates),
            _ => Err(BotApiError::Transient(
                "getUpdates answered without a list".into(),
            )),
        }
    }

    async fn call(&self, method: &str, body: &Value, wait: Duration) -> Result<Value, BotApiError> {
        let base = self.api_url.as_str().trim_end_matches('/');
        let url = format!("{base}/bot{}/{method}", self.token.expose_secret());
        let response = self
            .http
            .post(url)
            .header("content-type", "application/json")
            .body(body.to_string())
            .timeout(wait + HTTP_MARGIN)
            .send()
            .await
            .map_err(|e| BotApiError::Transient(self.clean(&chain(&e.without_url()))))?;
        let status = response.status().as_u16();
        let bytes = response
            .bytes()
            .await
            .map_err(|e| BotApiError::Transient(self.clean(&chain(&e.without_url()))))?;
        let answer: Value = serde_json::from_slice(&bytes).map_err(|_| {
            BotApiError::Transient(format!("HTTP {status} without a Bot API answer"))
        })?;
        if answer.get("ok").and_then(Value::as_bool) == Some(true) {
            return Ok(answer.get("result").cloned().unwrap_or(Value::Null));
        }
        let code = answer
            .get("error_code")
            .and_then(Value::as_i64)
            .unwrap_or(i64::from(status));
        let description = self.clean(
            answer
                .get("description")
                .and_then(Value::as_str)
                .unwrap_or("no description"),
        );
        Err(match code {
            429 => {
                let seconds = answer
                    .pointer("/parameters/retry_after")
                    .and_then(Value::as_u64)
                    .unwrap_or(1);
                BotApiError::RetryAfter(Duration::from_secs(seconds))
            }
            409 => BotApiError::Conflict(description),
            401 | 404 => BotApiError::Unauthorized,
            _ => BotApiError::Transient(format!("{code} {description}")),
        })
    }

    fn clean(&self, text: &str) -> String {
        redact_query_of(
            &redact_token(text, self.token.expose_secret()),
            &self.api_url,
        )
    }
}

/// An error with its causes ("error sending request: connection refused").
fn chain(error: &dyn std::error::Error) -> String {
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
    text
}
