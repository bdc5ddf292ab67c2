//! Delivers trading signals: signs and posts them with `hmac-client`, retries
//! transient failures with `retry-core`, and alerts the owner on Telegram with
//! `ops-alerts` when a signal cannot be delivered. Nothing is dropped silently:
//! every signal ends in exactly one outcome.
//!
//! | outcome | retries | alert |
//! | --- | --- | --- |
//! | delivered | as needed | none |
//! | [`FailureReason::Exhausted`] / [`FailureReason::Deadline`] | all allowed | ERROR |
//! | [`FailureReason::Rejected`] (400, 404, 410, 413, 422) | none | ERROR, with the server's reason |
//! | [`FailureReason::SignatureRejected`] (401, 403) | none | CRITICAL |
//! | [`FailureReason::Budget`] | deferred by the shared budget until the deadline | ERROR |
//! | [`FailureReason::InvalidSignal`] | no network call | ERROR |
//!
//! Two ways to deliver: [`DeliveryService::deliver`] retries in memory (the
//! `send` command), and the [`worker`] delivers from the durable
//! `signal-outbox` (the `enqueue` and `run` commands), one attempt per claim,
//! with the retry schedule stored so it survives crashes and restarts. Both
//! decide with the same `retry_core::decide_after_failure` (and, when the
//! shared budget refuses a due retry, `retry_core::decide_after_refusal`)
//! and fail with the same [`DeliveryError`], so alerts and metrics look alike.
//!
//! With `OPS_TELEGRAM_COMMANDS=true`, [`ops`] answers a few commands
//! (`/status`, `/failures`, `/show`, `/replay`) from allow-listed admins in
//! the ops chat, beside the worker; everyone else gets silence.
//!
//! ```
//! use signal_delivery::{DeliveryConfig, FailureReason};
//!
//! // One typed configuration, every problem reported at once.
//! let env = |name: &str| match name {
//!     "SIGNAL_SERVER_URL" => Some("http://127.0.0.1:8080/signals".to_owned()),
//!     "SIGNAL_HMAC_SECRET" => Some("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD".to_owned()),
//!     "OPS_ALERTS_DISABLED" => Some("true".to_owned()),
//!     "MAX_RETRIES" => Some("11".to_owned()),
//!     "LOG_FORMAT" => Some("xml".to_owned()),
//!     _ => None,
//! };
//! let errors = DeliveryConfig::from_lookup(env).unwrap_err();
//! assert_eq!(errors.0.len(), 2);
//! assert!(errors.to_string().contains("MAX_RETRIES"));
//! assert!(errors.to_string().contains("LOG_FORMAT"));
//! assert_eq!(FailureReason::SignatureRejected.as_str(), "signature_rejected");
//! ```

mod alerts;
pub mod enqueue;
mod interrupt;
pub mod ops;
mod outcome;
pub mod send;
mod service;
mod signal;
pub mod telemetry;
pub mod worker;

pub use alerts::OutboxAlerts;
pub use interrupt::{Interrupt, InterruptHandle};
pub use outcome::{Delivered, DeliveryError, DeliveryResult, FailureCause, FailureReason};
pub use service::{BuildError, DeliveryService};
pub use signal::{MAX_ID_LEN, Side, Signal, SignalError, id_hint, is_valid_id};
/// The configuration, read from the environment (re-exported from `signal-config`).
pub use signal_config::{
    AlertSetting, BudgetSetting, ConfigErrors, ConfigProblem, DeliveryConfig, InputSettings,
    LogFormat, OutboxSettings, TelemetrySettings, parse_budget,
};

// The README's examples run as doctests, so the crates.io page cannot drift.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
