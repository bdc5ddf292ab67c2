//! Telegram ops alerts on teloxide: formatted, escaped, grouped against spam,
//! rate-limited, retried themselves, and never leaking the bot token.
//!
//! When a trading signal cannot be delivered, the owner must learn it at once.
//! This crate is that last line of defence, so it is built to survive
//! Telegram's own failures without ever blocking the caller for long:
//!
//! - **Format** ([`format_delivery_alert`], [`format_message`], [`format_summary`]):
//!   a severity marker and title, then Operation, Signal ID, Error, Attempts,
//!   Timestamp (UTC, ISO 8601 with `Z`) and Action, in Telegram HTML. Every value
//!   is [escaped](escape_html) and [cut](cut_text) *before* escaping, so no tag or
//!   entity is split, and the message stays under Telegram's 4096 characters
//!   with a visible marker saying what was cut.
//! - **Deliver** ([`OpsAlertService`]): each attempt waits for the chat's rate
//!   limit (1 message per second, 20 per rolling minute); passing failures
//!   (network, timeout, 429 with its `retry_after` honoured, 5xx) are retried with
//!   `retry-core`; permanent ones (chat not found, bot blocked, invalid token) are
//!   not; "can't parse entities" is resent once as plain text; a group upgraded to
//!   a supergroup is followed once ([`TelegramSink`]). The whole alert is bounded
//!   by [`AlertConfig::alert_timeout`] (default 60 s), because teloxide alone
//!   sleeps 10 s on every 5xx.
//! - **No spam**: delivery alerts are grouped by operation + error class. The first
//!   of a group goes out at once; repeats within the cooldown (default 5 min) are
//!   folded and one summary ("N more signals failed the same way: ids ...") goes
//!   out when the window closes, or on [`OpsAlertService::flush`] at shutdown.
//! - **Never silent**: every alert ends as a message, a fold counted in a later
//!   summary, or an ERROR log line with all its fields, and is counted in
//!   `alerts_sent_total`, `alerts_folded_total`, `alerts_failed_total` or
//!   `alerts_logged_total` (label `severity` only: never the token or chat).
//! - **Recovered**: after an alerted outage of the server or the network
//!   ([`AlertableError::opens_outage`]), the first delivery that works sends
//!   one "✅ RESOLVED: signal delivery recovered" ([`format_recovered`]) with
//!   the outage's length, its failed count and how to bring them back.
//! - **Durable** ([`durable`]): an alert stored as an [`AlertPayload`] (in the
//!   transaction that caused it) is sent later by a [`durable::Dispatcher`],
//!   from any process, under a sender lease, with the same grouping, pacing
//!   and escalation worked out from the stored rows, and the same bytes
//!   ([`AlertPayload::format`] is the one formatter of both paths).
//! - **No token leaks**: the token lives in a [`secrecy::SecretString`]; `Debug`
//!   of every type redacts it, and transport errors (whose URLs contain it) are
//!   [redacted](redact_token) before they are stored, displayed or logged.
//!
//! # Features
//!
//! `telegram` (default) brings the teloxide transport: [`TelegramSink`],
//! [`OpsAlertService::new`] and [`OpsAlertService::from_env`], and with them
//! reqwest and rustls. With `default-features = false` the crate keeps
//! everything else (configuration parsing, formatting, escaping and cutting,
//! grouping, [`OpsAlertService::with_sink`] and [`OpsAlertService::log_only`])
//! for users that must stay small, such as a configuration layer or fuzz targets.
//!
//! # Configuration
//!
//! [`AlertConfig::from_env`] reads `OPS_TELEGRAM_BOT_TOKEN`, `OPS_TELEGRAM_CHAT_ID`
//! (integer id or `@channelname`), and optionally `OPS_TELEGRAM_API_URL`,
//! `OPS_TELEGRAM_THREAD_ID`, `OPS_ALERT_COOLDOWN_SECONDS`,
//! `OPS_ALERT_TIMEOUT_SECONDS` and `OPS_ALERT_ESCALATE_AFTER`, reporting every
//! problem at once:
//!
//! ```
//! use ops_alerts::AlertConfig;
//!
//! let errors = AlertConfig::from_lookup(|name| match name {
//!     "OPS_TELEGRAM_CHAT_ID" => Some("@ops_room".to_owned()),
//!     "OPS_ALERT_TIMEOUT_SECONDS" => Some("forever".to_owned()),
//!     _ => None,
//! })
//! .unwrap_err();
//! let named: Vec<_> = errors.iter().map(|e| e.variable()).collect();
//! assert_eq!(named, ["OPS_TELEGRAM_BOT_TOKEN", "OPS_ALERT_TIMEOUT_SECONDS"]);
//! ```
//!
//! # Formatting
//!
//! ```
//! use chrono::{TimeZone, Utc};
//! use ops_alerts::{Attempts, DeliveryAlert, Severity, format_delivery_alert, telegram_len};
//!
//! let error = "<html> ".repeat(2_000); // 14,000 characters, each `<` escaped later
//! let alert = format_delivery_alert(&DeliveryAlert {
//!     severity: Severity::Error,
//!     signal_id: "sig-42",
//!     operation: "deliver_signal",
//!     error: &error,
//!     attempts: Attempts { made: 6, allowed: 6 },
//!     timestamp: Utc.with_ymd_and_hms(2026, 11, 29, 3, 0, 0).unwrap(),
//! });
//! assert!(alert.html.contains("&lt;html&gt;"));
//! assert!(telegram_len(&alert.plain) < 4096); // what the user sees of the HTML
//! assert!(alert.plain.contains(" chars]")); // the visible cut marker
//! assert!(alert.plain.ends_with("Timestamp: 2026-11-29T03:00:00Z\nAction: Manual review required"));
//! ```
//!
//! # Sending through any sink
//!
//! [`OpsAlertService::new`] sends with teloxide; [`OpsAlertService::with_sink`]
//! takes any [`AlertSink`], e.g. to print or to test:
//!
//! ```
//! use std::sync::{Arc, Mutex};
//! use ops_alerts::{
//!     AlertConfig, AlertOutcome, AlertSink, Attempts, OpsAlertService, ParseMode, SendFuture,
//!     SentMessage, Severity,
//! };
//!
//! #[derive(Debug, Default)]
//! struct Recorder(Mutex<Vec<String>>);
//!
//! impl AlertSink for Recorder {
//!     fn send_message<'a>(&'a self, text: &'a str, _mode: ParseMode) -> SendFuture<'a> {
//!         Box::pin(async move {
//!             let mut sent = self.0.lock().unwrap();
//!             sent.push(text.to_owned());
//!             Ok(SentMessage { message_id: sent.len() as i32 })
//!         })
//!     }
//! }
//!
//! #[derive(Debug)]
//! struct Http503;
//! impl std::fmt::Display for Http503 {
//!     fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
//!         f.write_str("receiver answered 503")
//!     }
//! }
//! impl ops_alerts::AlertableError for Http503 {
//!     fn error_class(&self) -> std::borrow::Cow<'_, str> {
//!         "http_503".into()
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() {
//! let sink = Arc::new(Recorder::default());
//! let config = AlertConfig::new("123456:AAH-example-token", "-1001234567890").unwrap();
//! let alerts = OpsAlertService::with_sink(config, sink.clone());
//! alerts.validate_config().unwrap();
//!
//! let attempts = Attempts { made: 6, allowed: 6 };
//! let first = alerts.send_signal_delivery_error("sig-1", &Http503, attempts, "deliver_signal").await;
//! assert_eq!(first, AlertOutcome::Sent { message_id: 1 });
//! // The same failure again within the cooldown: folded, not sent.
//! let second = alerts.send_signal_delivery_error("sig-2", &Http503, attempts, "deliver_signal").await;
//! assert_eq!(second, AlertOutcome::Folded { pending_in_group: 1 });
//! // At shutdown, the pending summary goes out.
//! alerts.flush().await;
//! let sent = sink.0.lock().unwrap();
//! assert!(sent[1].contains("1 more signal failed the same way: ids sig-2"));
//! # }
//! ```

// The docs describe the default build; without `telegram` their links to
// the transport have nothing to point at.
#![cfg_attr(not(feature = "telegram"), allow(rustdoc::broken_intra_doc_links))]

mod alert_metrics;
mod alertable;
mod config;
mod courier;
pub mod durable;
mod format;
mod grouping;
mod outcome;
mod payload;
mod rate_limit;
mod recovered;
mod redact;
mod service;
mod severity;
mod sink;
#[cfg(feature = "telegram")]
mod telegram;

pub use alert_metrics::{describe_metrics, register_metrics_at_zero};
pub use alertable::AlertableError;
pub use config::{
    AlertConfig, AlertConfigError, AlertConfigErrorKind, ChatTarget, DEFAULT_ALERT_TIMEOUT,
    DEFAULT_API_URL, DEFAULT_COOLDOWN, DEFAULT_ESCALATE_AFTER, DEFAULT_SUMMARY_ID_LIMIT,
    ENV_ALERT_TIMEOUT, ENV_API_URL, ENV_BOT_TOKEN, ENV_CHAT_ID, ENV_COOLDOWN, ENV_ESCALATE_AFTER,
    ENV_THREAD_ID, MAX_ALERT_TIMEOUT,
};
pub use format::{
    ACTION_MANUAL_REVIEW, Attempts, DeliveryAlert, FormattedAlert, MESSAGE_BUDGET, SummaryAlert,
    TELEGRAM_MAX_CHARS, cut_text, escape_html, format_delivery_alert, format_message,
    format_summary, format_timestamp, telegram_len,
};
pub use outcome::{AlertError, AlertErrorKind, AlertOutcome};
pub use payload::{
    AlertKind, AlertPayload, ConflictAlert, FailureAlert, FormatContext, NoticeAlert,
    ParseAlertKindError, PayloadError, ReplayHint, SummaryPayload,
};
pub use rate_limit::{MAX_PER_WINDOW, MIN_INTERVAL, WINDOW};
pub use recovered::{
    RESOLVED_MARKER, RESOLVED_TITLE, RecoveredAlert, SEND_AGAIN, format_outage_length,
    format_recovered, replay_command,
};
pub use redact::{REDACTED, redact_query_of, redact_token, redact_url};
pub use service::{
    METRIC_FAILED, METRIC_FOLDED, METRIC_LOGGED, METRIC_QUEUED, METRIC_SENT, OpsAlertService,
};
pub use severity::{ParseSeverityError, Severity};
pub use sink::{AlertSink, ParseMode, SendFuture, SentMessage, SinkError, SinkErrorKind};
#[cfg(feature = "telegram")]
pub use telegram::TelegramSink;

// The README's examples run as doctests, so the crates.io page cannot drift.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
