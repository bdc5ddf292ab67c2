//! The environment of the `signal-delivery` commands, read once at start-up
//! and validated before anything is sent.
//!
//! Every problem of every variable is collected before returning, so one run
//! shows the operator the whole list. A variable that is **unset** takes its
//! default; a variable that is **set** (the empty string included) must be
//! valid: nothing is silently defaulted. Secrets are never echoed, and each
//! may come from a file (`NAME_FILE`, see [`Env`]).
//!
//! The lower crates take values (`retry-core`'s policy, held here to the
//! environment's tighter limits, `hmac-client`'s
//! client configuration, `ops-alerts`' alert configuration); this crate owns
//! the variable names (see [`names`]) and the `check-config` listing
//! ([`describe`]).
//!
//! ```
//! use signal_config::{AlertSetting, DeliveryConfig};
//!
//! let env = |name: &str| match name {
//!     "SIGNAL_SERVER_URL" => Some("http://127.0.0.1:8080/signals".to_owned()),
//!     "SIGNAL_HMAC_SECRET" => Some("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD".to_owned()),
//!     "OPS_ALERTS_DISABLED" => Some("true".to_owned()),
//!     _ => None,
//! };
//! let config = DeliveryConfig::from_lookup(env)?;
//! assert!(matches!(config.alerts, AlertSetting::Disabled));
//! assert_eq!(config.input.max_signal_bytes.get(), 1024 * 1024);
//!
//! // Every problem at once, each naming its variable.
//! let bad = |name: &str| match name {
//!     "MAX_RETRIES" => Some("11".to_owned()),
//!     "LOG_FORMAT" => Some("xml".to_owned()),
//!     other => env(other),
//! };
//! let errors = DeliveryConfig::from_lookup(bad).unwrap_err();
//! assert_eq!(errors.0.len(), 2);
//! assert!(errors.to_string().contains("MAX_RETRIES"));
//! assert!(errors.to_string().contains("LOG_FORMAT"));
//! # Ok::<(), signal_config::ConfigErrors>(())
//! ```

mod budget;
mod commands;
mod describe;
mod env;
pub mod names;
mod outbox;
mod problem;
mod retry;
mod send;
mod target;
mod telemetry;
mod values;

use hmac_client::ClientConfig;
use ops_alerts::{AlertConfig, AlertConfigErrorKind};
use retry_core::RetryPolicy;

pub use budget::{BudgetSetting, parse_budget};
pub use commands::{ADMIN_IDS_FORM, CommandSettings};
pub use describe::describe;
pub use env::{Env, MAX_SECRET_FILE_BYTES, SecretSource};
pub use outbox::{DEFAULT_OUTBOX_PATH, OutboxSettings};
pub use problem::{ConfigErrors, ConfigProblem, ConfigWarning};
pub use retry::{ENV_MAX_DURATION, ENV_MAX_RETRIES, ENV_MIN_DELAY, parse_retry};
pub use send::{DEFAULT_SHUTDOWN_GRACE, InputSettings, MAX_SHUTDOWN_GRACE_SECONDS};
pub use target::{OutboxTarget, OutboxTargetError, SecretUrl};
pub use telemetry::{DEFAULT_LOG_FILTER, LogFormat, TelemetrySettings};

/// Whether alerts go to Telegram or only to the log.
#[derive(Debug, Clone)]
pub enum AlertSetting {
    /// Alerts are sent to Telegram with this configuration.
    Telegram(AlertConfig),
    /// `OPS_ALERTS_DISABLED=true`: alerts are ERROR log lines only. Only for
    /// development: in production nobody reads those at 3 a.m.
    Disabled,
}

/// Everything the commands need, validated.
#[derive(Debug, Clone)]
pub struct DeliveryConfig {
    /// The retry schedule for `post_signal`.
    pub retry: RetryPolicy,
    /// The signal server and its signing keys.
    pub client: ClientConfig,
    /// Where alerts go.
    pub alerts: AlertSetting,
    /// Two-way ops: whether `run` answers commands, and whom.
    pub commands: CommandSettings,
    /// The shared retry budget (`RETRY_BUDGET*`; off when `RETRY_BUDGET=off`).
    pub budget: BudgetSetting,
    /// Logs and metrics.
    pub telemetry: TelemetrySettings,
    /// The input side of `send` and `enqueue`.
    pub input: InputSettings,
    /// The durable outbox (`enqueue`, `run`, `outbox`).
    pub outbox: OutboxSettings,
    /// Where each secret came from (variable or file), for `check-config`.
    pub secret_sources: Vec<(&'static str, SecretSource)>,
    /// Unknown variables that look like ours (probably typos).
    pub warnings: Vec<ConfigWarning>,
}

impl DeliveryConfig {
    /// Reads the configuration from the process environment.
    ///
    /// # Errors
    /// Every problem found, at once.
    pub fn from_env() -> Result<DeliveryConfig, ConfigErrors> {
        DeliveryConfig::from_source(Env::from_process())
    }

    /// Reads the configuration through `lookup` (testable without touching
    /// the process environment).
    ///
    /// # Errors
    /// Every problem found, at once.
    pub fn from_lookup(
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<DeliveryConfig, ConfigErrors> {
        DeliveryConfig::from_source(Env::from_lookup(lookup))
    }

    /// Reads the configuration from an [`Env`].
    ///
    /// # Errors
    /// Every problem found, at once.
    pub fn from_source(mut env: Env<'_>) -> Result<DeliveryConfig, ConfigErrors> {
        let mut problems = env.take_problems();
        // A secret whose file could not be read is already reported under
        // NAME_FILE; the parsers would add a false "NAME is not set".
        let unread: Vec<String> = problems
            .iter()
            .filter_map(|p| p.variable.strip_suffix("_FILE").map(str::to_owned))
            .collect();
        let lookup = |name: &str| env.get(name);

        let retry = parse_retry(&lookup).map_err(|p| problems.extend(p)).ok();

        let client = ClientConfig::from_lookup(lookup)
            .map_err(|errors| {
                problems.extend(
                    errors
                        .iter()
                        .map(|e| ConfigProblem::new(e.variable(), e.to_string())),
                );
            })
            .ok();

        let alerts = match values::parse_bool(&lookup, names::OPS_ALERTS_DISABLED) {
            Err(problem) => {
                problems.push(problem);
                None
            }
            Ok(Some(true)) => Some(AlertSetting::Disabled),
            Ok(Some(false) | None) => AlertConfig::from_lookup(lookup)
                .map_err(|errors| {
                    problems.extend(errors.iter().map(|e| {
                        let message = if e.kind() == AlertConfigErrorKind::Missing {
                            format!(
                                "{e} (alerts are required; {}=true turns them into log lines, for development only)",
                                names::OPS_ALERTS_DISABLED
                            )
                        } else {
                            e.to_string()
                        };
                        ConfigProblem::new(e.variable(), message)
                    }));
                })
                .ok()
                .map(AlertSetting::Telegram),
        };

        let commands = CommandSettings::from_lookup(&lookup)
            .map_err(|p| problems.extend(p))
            .ok();
        if let (Some(commands), Some(alerts)) = (&commands, &alerts) {
            let chat = match alerts {
                AlertSetting::Telegram(config) => Some(config.chat()),
                AlertSetting::Disabled => None,
            };
            problems.extend(commands.check_chat(chat));
        }

        let budget = parse_budget(&lookup).map_err(|p| problems.extend(p)).ok();
        let telemetry = TelemetrySettings::from_lookup(&lookup)
            .map_err(|p| problems.extend(p))
            .ok();
        let input = InputSettings::from_lookup(&lookup)
            .map_err(|p| problems.extend(p))
            .ok();
        let outbox = OutboxSettings::from_lookup(lookup)
            .map_err(|p| problems.extend(p))
            .ok();

        let secret_sources = names::SECRETS
            .iter()
            .map(|name| (*name, env.source(name)))
            .collect();
        let warnings = env.warnings().to_vec();
        problems.retain(|p| !unread.contains(&p.variable));
        match (
            retry, client, alerts, commands, budget, telemetry, input, outbox,
        ) {
            (
                Some(retry),
                Some(client),
                Some(alerts),
                Some(commands),
                Some(budget),
                Some(telemetry),
                Some(input),
                Some(outbox),
            ) if problems.is_empty() => Ok(DeliveryConfig {
                retry,
                client,
                alerts,
                commands,
                budget,
                telemetry,
                input,
                outbox,
                secret_sources,
                warnings,
            }),
            _ => Err(ConfigErrors(problems)),
        }
    }
}

// The README's examples run as doctests, so the crates.io page cannot drift.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
