//! One typed configuration for the whole delivery stack, read from the
//! environment with every problem reported at once.

use hmac_client::ClientConfig;
use ops_alerts::{AlertConfig, AlertConfigErrorKind};
use retry_core::{
    MAX_BUDGET_MIN_PER_SECOND, MAX_BUDGET_PERCENT, MAX_BUDGET_WINDOW, RetryBudget, RetryPolicy,
};
use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Whether alerts go to Telegram or only to the log.
#[derive(Debug, Clone)]
pub enum AlertSetting {
    /// Alerts are sent to Telegram with this configuration.
    Telegram(AlertConfig),
    /// `OPS_ALERTS_DISABLED=true`: alerts are ERROR log lines only. Only for
    /// development: in production nobody reads those at 3 a.m.
    Disabled,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// Human-readable lines (default).
    #[default]
    Text,
    /// One JSON object per line (`LOG_FORMAT=json`).
    Json,
}

/// The shared retry budget: on or off, and its three parameters (see
/// docs/configuration.md, "The retry budget").
///
/// Every value is kept even when the budget is off, so that a `NAME=value`
/// listing shows what was read: [`BudgetSetting::vars`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BudgetSetting {
    /// `RETRY_BUDGET`: `on` (the default) or `off`.
    pub enabled: bool,
    /// `RETRY_BUDGET_PERCENT`: retries allowed as a percentage of the first
    /// attempts in the window (1 to 1000).
    pub percent: u32,
    /// `RETRY_BUDGET_MIN_PER_SECOND`: retries always allowed per second of
    /// the window (1 to 10000).
    pub min_per_second: u32,
    /// `RETRY_BUDGET_WINDOW_SECONDS`: the sliding window (1 to 600).
    pub window_seconds: u32,
}

impl BudgetSetting {
    /// On; 30 % of first attempts plus 10 retries per second, over 10 s
    /// (retry-core's [`RetryBudget`] defaults).
    pub const DEFAULT: BudgetSetting = BudgetSetting {
        enabled: true,
        percent: RetryBudget::DEFAULT_PERCENT,
        min_per_second: RetryBudget::DEFAULT_MIN_PER_SECOND,
        window_seconds: 10,
    };

    /// Builds the shared budget, or `None` when it is off.
    ///
    /// # Errors
    /// retry-core's own check of the parameters (values from
    /// [`parse_budget`] always pass it).
    pub fn build(&self) -> Result<Option<RetryBudget>, retry_core::PolicyError> {
        if !self.enabled {
            return Ok(None);
        }
        RetryBudget::new(
            self.percent,
            self.min_per_second,
            Duration::from_secs(u64::from(self.window_seconds)),
        )
        .map(Some)
    }

    /// The four variables and their values, for a `NAME=value` listing:
    /// `RETRY_BUDGET=on|off` first, then the parameters.
    pub fn vars(&self) -> [(&'static str, String); 4] {
        [
            (BUDGET, if self.enabled { "on" } else { "off" }.to_owned()),
            (BUDGET_PERCENT, self.percent.to_string()),
            (BUDGET_MIN_PER_SECOND, self.min_per_second.to_string()),
            (BUDGET_WINDOW_SECONDS, self.window_seconds.to_string()),
        ]
    }
}

impl Default for BudgetSetting {
    fn default() -> Self {
        BudgetSetting::DEFAULT
    }
}

/// Everything the delivery service needs.
#[derive(Debug, Clone)]
pub struct DeliveryConfig {
    /// The retry schedule for `post_signal`.
    pub retry: RetryPolicy,
    /// The signal server and its signing keys.
    pub client: ClientConfig,
    /// Where alerts go.
    pub alerts: AlertSetting,
    /// The shared retry budget (`RETRY_BUDGET*`; off when `RETRY_BUDGET=off`).
    pub budget: BudgetSetting,
    /// Serve Prometheus `/metrics` on this address.
    pub metrics_addr: Option<SocketAddr>,
    /// Log line format.
    pub log_format: LogFormat,
    /// The durable outbox (`enqueue`, `run`, `outbox`).
    pub outbox: OutboxSettings,
}

/// Where the outbox lives and how the worker claims from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxSettings {
    /// `OUTBOX_PATH`: the SQLite file (default `./signal-outbox.db`).
    pub path: PathBuf,
    /// `OUTBOX_LEASE_SECONDS`: how long a claimed row stays with its worker
    /// before another worker may take it over (a crashed worker's rows come
    /// back after this long).
    pub lease: Duration,
    /// `OUTBOX_POLL_INTERVAL_MS`: how long an idle worker waits before it
    /// looks for due rows again.
    pub poll_interval: Duration,
    /// `OUTBOX_BATCH_SIZE`: most rows claimed in one transaction.
    pub batch_size: usize,
}

impl OutboxSettings {
    /// 30 s lease, 200 ms idle poll, batches of 64.
    pub const DEFAULT_LEASE: Duration = Duration::from_secs(30);
    /// Default idle poll interval.
    pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_millis(200);
    /// Default claim batch size.
    pub const DEFAULT_BATCH_SIZE: usize = 64;
    /// Longest lease allowed, in seconds (one hour).
    pub const MAX_LEASE_SECONDS: u64 = 3600;
    /// Longest idle poll interval allowed, in milliseconds (one minute).
    pub const MAX_POLL_INTERVAL_MS: u64 = 60_000;
    /// Shortest idle poll interval allowed, in milliseconds.
    pub const MIN_POLL_INTERVAL_MS: u64 = 10;
    /// Largest claim batch allowed.
    pub const MAX_BATCH_SIZE: usize = 1000;

    /// The settings for an outbox at `path`, everything else default.
    pub fn with_path(path: PathBuf) -> OutboxSettings {
        OutboxSettings {
            path,
            lease: OutboxSettings::DEFAULT_LEASE,
            poll_interval: OutboxSettings::DEFAULT_POLL_INTERVAL,
            batch_size: OutboxSettings::DEFAULT_BATCH_SIZE,
        }
    }

    /// Reads the `OUTBOX_*` variables through `lookup`, every problem at
    /// once. Unset means the default; an empty or malformed value is an
    /// error naming the variable, the value and the allowed range.
    pub fn from_lookup(
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<OutboxSettings, Vec<ConfigProblem>> {
        let mut problems = Vec::new();
        let path = match lookup(OUTBOX_PATH) {
            None => Some(PathBuf::from(signal_outbox::DEFAULT_OUTBOX_PATH)),
            Some(v) if v.trim().is_empty() => {
                problems.push(ConfigProblem {
                    variable: OUTBOX_PATH.to_owned(),
                    message: format!(
                        "{OUTBOX_PATH} is set but empty; expected a file path, or unset it for the default {}",
                        signal_outbox::DEFAULT_OUTBOX_PATH
                    ),
                });
                None
            }
            Some(v) => Some(PathBuf::from(v)),
        };
        let lease = parse_ranged(
            &lookup,
            OUTBOX_LEASE_SECONDS,
            1,
            OutboxSettings::MAX_LEASE_SECONDS,
            "an integer number of seconds from 1 to 3600, default 30",
        )
        .map_err(|p| problems.push(p))
        .ok()
        .map(|v| v.map_or(OutboxSettings::DEFAULT_LEASE, Duration::from_secs));
        let poll_interval = parse_ranged(
            &lookup,
            OUTBOX_POLL_INTERVAL_MS,
            OutboxSettings::MIN_POLL_INTERVAL_MS,
            OutboxSettings::MAX_POLL_INTERVAL_MS,
            "an integer number of milliseconds from 10 to 60000, default 200",
        )
        .map_err(|p| problems.push(p))
        .ok()
        .map(|v| v.map_or(OutboxSettings::DEFAULT_POLL_INTERVAL, Duration::from_millis));
        let batch_size = parse_ranged(
            &lookup,
            OUTBOX_BATCH_SIZE,
            1,
            OutboxSettings::MAX_BATCH_SIZE as u64,
            "an integer from 1 to 1000, default 64",
        )
        .map_err(|p| problems.push(p))
        .ok()
        .map(|v| {
            v.and_then(|n| usize::try_from(n).ok())
                .unwrap_or(OutboxSettings::DEFAULT_BATCH_SIZE)
        });
        match (path, lease, poll_interval, batch_size) {
            (Some(path), Some(lease), Some(poll_interval), Some(batch_size))
                if problems.is_empty() =>
            {
                Ok(OutboxSettings {
                    path,
                    lease,
                    poll_interval,
                    batch_size,
                })
            }
            _ => Err(problems),
        }
    }
}

/// An optional integer variable in `min..=max`: `Ok(None)` when unset.
fn parse_ranged(
    lookup: &impl Fn(&str) -> Option<String>,
    name: &str,
    min: u64,
    max: u64,
    allowed: &str,
) -> Result<Option<u64>, ConfigProblem> {
    let Some(value) = lookup(name) else {
        return Ok(None);
    };
    match value.trim().parse::<u64>() {
        Ok(n) if (min..=max).contains(&n) => Ok(Some(n)),
        _ => Err(ConfigProblem {
            variable: name.to_owned(),
            message: format!("{name}={value:?} is invalid; expected {allowed}"),
        }),
    }
}

/// One configuration problem, naming the variable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblem {
    /// The environment variable at fault.
    pub variable: String,
    /// What is wrong and what is allowed (never a secret value).
    pub message: String,
}

impl fmt::Display for ConfigProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The lower crates' messages already name their variable; don't repeat it.
        if self.message.contains(&self.variable) {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.variable, self.message)
        }
    }
}

/// Every configuration problem found, in variable order.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigErrors(pub Vec<ConfigProblem>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} configuration problem(s):", self.0.len())?;
        for problem in &self.0 {
            write!(f, "\n  - {problem}")?;
        }
        Ok(())
    }
}

impl DeliveryConfig {
    /// Reads the configuration from the process environment.
    pub fn from_env() -> Result<DeliveryConfig, ConfigErrors> {
        DeliveryConfig::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the configuration through `lookup` (testable without touching
    /// the process environment). Every problem of every crate is collected
    /// before returning, so one run shows the operator the whole list.
    pub fn from_lookup(
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<DeliveryConfig, ConfigErrors> {
        let mut problems = Vec::new();

        let retry = RetryPolicy::from_lookup(&lookup)
            .map_err(|errors| {
                problems.extend(errors.iter().map(|e| ConfigProblem {
                    variable: e.variable().unwrap_or(e.field()).to_owned(),
                    message: e.to_string(),
                }));
            })
            .ok();

        let client = ClientConfig::from_lookup(&lookup)
            .map_err(|errors| {
                problems.extend(errors.iter().map(|e| ConfigProblem {
                    variable: e.variable().to_owned(),
                    message: e.to_string(),
                }));
            })
            .ok();

        let alerts = match parse_bool(&lookup, ALERTS_DISABLED) {
            Err(problem) => {
                problems.push(problem);
                None
            }
            Ok(Some(true)) => Some(AlertSetting::Disabled),
            Ok(Some(false) | None) => AlertConfig::from_lookup(&lookup)
                .map_err(|errors| {
                    problems.extend(errors.iter().map(|e| ConfigProblem {
                        variable: e.variable().to_owned(),
                        message: if e.kind() == AlertConfigErrorKind::Missing {
                            format!("{e} (alerts are required; {ALERTS_DISABLED}=true turns them into log lines, for development only)")
                        } else {
                            e.to_string()
                        },
                    }));
                })
                .ok()
                .map(AlertSetting::Telegram),
        };

        let budget = parse_budget(&lookup).map_err(|p| problems.extend(p)).ok();

        let metrics_addr = match lookup(METRICS_ADDR) {
            None => Some(None),
            Some(value) => match value.trim().parse::<SocketAddr>() {
                Ok(addr) => Some(Some(addr)),
                Err(_) => {
                    problems.push(ConfigProblem {
                        variable: METRICS_ADDR.to_owned(),
                        message: format!(
                            "{value:?} is not a socket address; expected IP:PORT, e.g. 127.0.0.1:9464"
                        ),
                    });
                    None
                }
            },
        };

        let log_format = match lookup(LOG_FORMAT).as_deref() {
            None | Some("text") => Some(LogFormat::Text),
            Some("json") => Some(LogFormat::Json),
            Some(other) => {
                problems.push(ConfigProblem {
                    variable: LOG_FORMAT.to_owned(),
                    message: format!("{other:?} is not a log format; expected text or json"),
                });
                None
            }
        };

        // RUST_LOG is read by the subscriber itself; checked here so a typo is
        // reported with the rest instead of silently logging at the default level.
        if let Some(filter) = lookup(RUST_LOG)
            && let Err(e) = tracing_subscriber::EnvFilter::try_new(&filter)
        {
            problems.push(ConfigProblem {
                variable: RUST_LOG.to_owned(),
                message: format!(
                    "{filter:?} is not a log filter ({e}); expected e.g. info, debug or signal_delivery=debug,warn"
                ),
            });
        }

        let outbox = OutboxSettings::from_lookup(&lookup)
            .map_err(|p| problems.extend(p))
            .ok();

        match (
            retry,
            client,
            alerts,
            budget,
            metrics_addr,
            log_format,
            outbox,
        ) {
            (
                Some(retry),
                Some(client),
                Some(alerts),
                Some(budget),
                Some(metrics_addr),
                Some(log_format),
                Some(outbox),
            ) if problems.is_empty() => Ok(DeliveryConfig {
                retry,
                client,
                alerts,
                budget,
                metrics_addr,
                log_format,
                outbox,
            }),
            _ => Err(ConfigErrors(problems)),
        }
    }
}

/// `OPS_ALERTS_DISABLED`: `true` to run without Telegram (alerts become log lines).
pub const ALERTS_DISABLED: &str = "OPS_ALERTS_DISABLED";
/// `METRICS_ADDR`: where to serve Prometheus `/metrics`.
pub const METRICS_ADDR: &str = "METRICS_ADDR";
/// `LOG_FORMAT`: `text` (default) or `json`.
pub const LOG_FORMAT: &str = "LOG_FORMAT";
/// `RUST_LOG`: the log filter (default `info`).
pub const RUST_LOG: &str = "RUST_LOG";
/// `OUTBOX_PATH`: the outbox database file (default `./signal-outbox.db`).
pub const OUTBOX_PATH: &str = signal_outbox::OUTBOX_PATH_ENV;
/// `OUTBOX_LEASE_SECONDS`: how long a worker holds a claimed row (1 to 3600, default 30).
pub const OUTBOX_LEASE_SECONDS: &str = "OUTBOX_LEASE_SECONDS";
/// `OUTBOX_POLL_INTERVAL_MS`: idle wait between claims (10 to 60000, default 200).
pub const OUTBOX_POLL_INTERVAL_MS: &str = "OUTBOX_POLL_INTERVAL_MS";
/// `OUTBOX_BATCH_SIZE`: most rows claimed per transaction (1 to 1000, default 64).
pub const OUTBOX_BATCH_SIZE: &str = "OUTBOX_BATCH_SIZE";
/// `RETRY_BUDGET`: `on` (default) or `off`, the shared retry budget.
pub const BUDGET: &str = "RETRY_BUDGET";
/// `RETRY_BUDGET_PERCENT`: retries allowed as a percentage of first attempts
/// in the window (1 to 1000, default 30).
pub const BUDGET_PERCENT: &str = "RETRY_BUDGET_PERCENT";
/// `RETRY_BUDGET_MIN_PER_SECOND`: retries always allowed per second (1 to
/// 10000, default 10).
pub const BUDGET_MIN_PER_SECOND: &str = "RETRY_BUDGET_MIN_PER_SECOND";
/// `RETRY_BUDGET_WINDOW_SECONDS`: the budget's sliding window (1 to 600,
/// default 10).
pub const BUDGET_WINDOW_SECONDS: &str = "RETRY_BUDGET_WINDOW_SECONDS";
/// The variables of the token-bucket budget, whose meaning changed: setting
/// one is an error that names what replaced it.
pub const REPLACED_BUDGET_VARIABLES: [&str; 2] =
    ["RETRY_BUDGET_MAX_TOKENS", "RETRY_BUDGET_TOKEN_RATIO"];

fn parse_bool(
    lookup: &impl Fn(&str) -> Option<String>,
    name: &str,
) -> Result<Option<bool>, ConfigProblem> {
    match lookup(name).as_deref().map(str::trim) {
        None => Ok(None),
        Some("true" | "1" | "yes") => Ok(Some(true)),
        Some("false" | "0" | "no") => Ok(Some(false)),
        Some(other) => Err(ConfigProblem {
            variable: name.to_owned(),
            message: format!("{other:?} is not a boolean; expected true or false"),
        }),
    }
}

/// Reads the `RETRY_BUDGET*` variables through `lookup`, every problem at
/// once. Unset means the default; a set value (empty included) must be
/// valid, and each error names the variable, the value, the allowed values
/// and the default. The parameters are checked even when the budget is off.
/// Setting a variable of the old token-bucket budget is an error that says
/// what replaced it.
///
/// ```
/// use signal_delivery::{BudgetSetting, parse_budget};
///
/// let env = |name: &str| (name == "RETRY_BUDGET_PERCENT").then(|| "50".to_owned());
/// let setting = parse_budget(&env).unwrap();
/// assert_eq!(setting, BudgetSetting { percent: 50, ..BudgetSetting::DEFAULT });
///
/// let env = |name: &str| (name == "RETRY_BUDGET_MAX_TOKENS").then(|| "0".to_owned());
/// let problems = parse_budget(&env).unwrap_err();
/// assert!(problems[0].to_string().starts_with(
///     "RETRY_BUDGET_MAX_TOKENS was replaced by RETRY_BUDGET_PERCENT and RETRY_BUDGET_MIN_PER_SECOND"
/// ));
/// ```
///
/// # Errors
/// Every [`ConfigProblem`] found, in variable order.
pub fn parse_budget(
    lookup: &impl Fn(&str) -> Option<String>,
) -> Result<BudgetSetting, Vec<ConfigProblem>> {
    let mut problems = Vec::new();
    let enabled = match lookup(BUDGET) {
        None => Some(true),
        Some(value) => match value.trim().to_ascii_lowercase().as_str() {
            "on" => Some(true),
            "off" => Some(false),
            _ => {
                problems.push(ConfigProblem {
                    variable: BUDGET.to_owned(),
                    message: format!(
                        "{BUDGET}={value:?} is invalid; expected on or off, default on"
                    ),
                });
                None
            }
        },
    };
    let default = BudgetSetting::DEFAULT;
    let mut number = |name: &'static str, max: u32, default: u32, unit: &str| {
        budget_number(&lookup, name, max, default, unit)
            .map_err(|problem| problems.push(problem))
            .ok()
    };
    let percent = number(
        BUDGET_PERCENT,
        MAX_BUDGET_PERCENT,
        default.percent,
        " (percent of first attempts)",
    );
    let min_per_second = number(
        BUDGET_MIN_PER_SECOND,
        MAX_BUDGET_MIN_PER_SECOND,
        default.min_per_second,
        " (retries per second)",
    );
    let max_window = u32::try_from(MAX_BUDGET_WINDOW.as_secs()).unwrap_or(u32::MAX);
    let window_seconds = number(
        BUDGET_WINDOW_SECONDS,
        max_window,
        default.window_seconds,
        " (seconds)",
    );
    for name in REPLACED_BUDGET_VARIABLES {
        if lookup(name).is_some() {
            problems.push(ConfigProblem {
                variable: name.to_owned(),
                message: format!(
                    "{name} was replaced by {BUDGET_PERCENT} and {BUDGET_MIN_PER_SECOND} \
                     (see docs/configuration.md, \"The retry budget\"); unset it \
                     ({BUDGET}=off turns the budget off)"
                ),
            });
        }
    }
    match (enabled, percent, min_per_second, window_seconds) {
        (Some(enabled), Some(percent), Some(min_per_second), Some(window_seconds))
            if problems.is_empty() =>
        {
            Ok(BudgetSetting {
                enabled,
                percent,
                min_per_second,
                window_seconds,
            })
        }
        _ => Err(problems),
    }
}

/// One budget parameter: an integer from 1 to `max`, `default` when unset.
fn budget_number(
    lookup: &impl Fn(&str) -> Option<String>,
    name: &str,
    max: u32,
    default: u32,
    unit: &str,
) -> Result<u32, ConfigProblem> {
    let Some(value) = lookup(name) else {
        return Ok(default);
    };
    match value.trim().parse::<u32>() {
        Ok(n) if (1..=max).contains(&n) => Ok(n),
        _ => Err(ConfigProblem {
            variable: name.to_owned(),
            message: format!(
                "{name}={value:?} is invalid; expected an integer from 1 to {max}{unit}, default {default}"
            ),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn budget(vars: &[(&str, &str)]) -> Result<BudgetSetting, Vec<ConfigProblem>> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        parse_budget(&|name: &str| vars.get(name).cloned())
    }

    fn budget_messages(vars: &[(&str, &str)]) -> Vec<String> {
        budget(vars)
            .unwrap_err()
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn budget_defaults_when_nothing_is_set() {
        let setting = budget(&[]).unwrap();
        assert_eq!(setting, BudgetSetting::DEFAULT);
        assert_eq!(setting, BudgetSetting::default());
        assert_eq!(
            (
                setting.enabled,
                setting.percent,
                setting.min_per_second,
                setting.window_seconds
            ),
            (true, 30, 10, 10)
        );
        let built = setting.build().unwrap().unwrap();
        assert_eq!(built.percent(), 30);
        assert_eq!(built.min_per_second(), 10);
        assert_eq!(built.window(), Duration::from_secs(10));
    }

    #[test]
    fn budget_values_at_the_edges_of_their_ranges_are_read() {
        for (percent, per_second, window) in [("1", "1", "1"), ("1000", "10000", "600")] {
            let setting = budget(&[
                ("RETRY_BUDGET", "on"),
                ("RETRY_BUDGET_PERCENT", percent),
                ("RETRY_BUDGET_MIN_PER_SECOND", per_second),
                ("RETRY_BUDGET_WINDOW_SECONDS", window),
            ])
            .unwrap();
            assert_eq!(setting.percent.to_string(), percent);
            assert_eq!(setting.min_per_second.to_string(), per_second);
            assert_eq!(setting.window_seconds.to_string(), window);
            assert!(setting.build().unwrap().is_some());
        }
    }

    #[test]
    fn budget_off_builds_nothing_and_still_lists_every_value() {
        let setting = budget(&[("RETRY_BUDGET", "off"), ("RETRY_BUDGET_PERCENT", "50")]).unwrap();
        assert!(!setting.enabled);
        assert!(setting.build().unwrap().is_none());
        let listing: Vec<String> = setting
            .vars()
            .iter()
            .map(|(name, value)| format!("{name}={value}"))
            .collect();
        assert_eq!(
            listing,
            [
                "RETRY_BUDGET=off",
                "RETRY_BUDGET_PERCENT=50",
                "RETRY_BUDGET_MIN_PER_SECOND=10",
                "RETRY_BUDGET_WINDOW_SECONDS=10"
            ]
        );
        assert!(!budget(&[("RETRY_BUDGET", "OFF")]).unwrap().enabled);
    }

    #[test]
    fn a_bad_budget_value_names_variable_value_range_and_default() {
        let cases = [
            (
                "RETRY_BUDGET",
                "",
                "RETRY_BUDGET=\"\" is invalid; expected on or off, default on",
            ),
            (
                "RETRY_BUDGET",
                "false",
                "RETRY_BUDGET=\"false\" is invalid; expected on or off, default on",
            ),
            (
                "RETRY_BUDGET_PERCENT",
                "0",
                "RETRY_BUDGET_PERCENT=\"0\" is invalid; expected an integer from 1 to 1000 (percent of first attempts), default 30",
            ),
            (
                "RETRY_BUDGET_PERCENT",
                "1001",
                "RETRY_BUDGET_PERCENT=\"1001\" is invalid; expected an integer from 1 to 1000 (percent of first attempts), default 30",
            ),
            (
                "RETRY_BUDGET_PERCENT",
                "",
                "RETRY_BUDGET_PERCENT=\"\" is invalid; expected an integer from 1 to 1000 (percent of first attempts), default 30",
            ),
            (
                "RETRY_BUDGET_MIN_PER_SECOND",
                "0",
                "RETRY_BUDGET_MIN_PER_SECOND=\"0\" is invalid; expected an integer from 1 to 10000 (retries per second), default 10",
            ),
            (
                "RETRY_BUDGET_MIN_PER_SECOND",
                "2.5",
                "RETRY_BUDGET_MIN_PER_SECOND=\"2.5\" is invalid; expected an integer from 1 to 10000 (retries per second), default 10",
            ),
            (
                "RETRY_BUDGET_WINDOW_SECONDS",
                "601",
                "RETRY_BUDGET_WINDOW_SECONDS=\"601\" is invalid; expected an integer from 1 to 600 (seconds), default 10",
            ),
            (
                "RETRY_BUDGET_WINDOW_SECONDS",
                "-1",
                "RETRY_BUDGET_WINDOW_SECONDS=\"-1\" is invalid; expected an integer from 1 to 600 (seconds), default 10",
            ),
        ];
        for (name, value, message) in cases {
            let problems = budget(&[(name, value)]).unwrap_err();
            assert_eq!(problems.len(), 1, "{name}={value:?}: {problems:?}");
            assert_eq!(problems[0].variable, name);
            assert_eq!(problems[0].to_string(), message);
        }
        // A bad parameter is an error even with the budget off.
        assert_eq!(
            budget_messages(&[("RETRY_BUDGET", "off"), ("RETRY_BUDGET_PERCENT", "x")]).len(),
            1
        );
    }

    #[test]
    fn the_old_token_bucket_variables_say_what_replaced_them() {
        for name in ["RETRY_BUDGET_MAX_TOKENS", "RETRY_BUDGET_TOKEN_RATIO"] {
            for value in ["", "0", "100", "0.1"] {
                let problems = budget(&[(name, value)]).unwrap_err();
                assert_eq!(problems.len(), 1);
                assert_eq!(problems[0].variable, name);
                assert_eq!(
                    problems[0].to_string(),
                    format!(
                        "{name} was replaced by RETRY_BUDGET_PERCENT and RETRY_BUDGET_MIN_PER_SECOND \
                         (see docs/configuration.md, \"The retry budget\"); unset it \
                         (RETRY_BUDGET=off turns the budget off)"
                    )
                );
            }
        }
    }

    #[test]
    fn every_budget_problem_is_reported_at_once_in_variable_order() {
        let problems = budget(&[
            ("RETRY_BUDGET_TOKEN_RATIO", "0.1"),
            ("RETRY_BUDGET_WINDOW_SECONDS", "0"),
            ("RETRY_BUDGET", "maybe"),
            ("RETRY_BUDGET_MAX_TOKENS", "0"),
            ("RETRY_BUDGET_PERCENT", "abc"),
            ("RETRY_BUDGET_MIN_PER_SECOND", "10001"),
        ])
        .unwrap_err();
        let names: Vec<&str> = problems.iter().map(|p| p.variable.as_str()).collect();
        assert_eq!(
            names,
            [
                "RETRY_BUDGET",
                "RETRY_BUDGET_PERCENT",
                "RETRY_BUDGET_MIN_PER_SECOND",
                "RETRY_BUDGET_WINDOW_SECONDS",
                "RETRY_BUDGET_MAX_TOKENS",
                "RETRY_BUDGET_TOKEN_RATIO"
            ]
        );
    }

    fn outbox(vars: &[(&str, &str)]) -> Result<OutboxSettings, Vec<ConfigProblem>> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        OutboxSettings::from_lookup(|name| vars.get(name).cloned())
    }

    #[test]
    fn outbox_defaults() {
        let settings = outbox(&[]).unwrap();
        assert_eq!(
            settings,
            OutboxSettings::with_path("./signal-outbox.db".into())
        );
        assert_eq!(settings.lease, Duration::from_secs(30));
        assert_eq!(settings.poll_interval, Duration::from_millis(200));
        assert_eq!(settings.batch_size, 64);
    }

    #[test]
    fn outbox_values_in_range() {
        let settings = outbox(&[
            ("OUTBOX_PATH", "/var/lib/signals/outbox.db"),
            ("OUTBOX_LEASE_SECONDS", "2"),
            ("OUTBOX_POLL_INTERVAL_MS", "50"),
            ("OUTBOX_BATCH_SIZE", "1000"),
        ])
        .unwrap();
        assert_eq!(settings.path, PathBuf::from("/var/lib/signals/outbox.db"));
        assert_eq!(settings.lease, Duration::from_secs(2));
        assert_eq!(settings.poll_interval, Duration::from_millis(50));
        assert_eq!(settings.batch_size, 1000);
    }

    #[test]
    fn bad_outbox_values_name_variable_value_and_range() {
        let problems = outbox(&[
            ("OUTBOX_PATH", ""),
            ("OUTBOX_LEASE_SECONDS", ""),
            ("OUTBOX_POLL_INTERVAL_MS", "5"),
            ("OUTBOX_BATCH_SIZE", "1001"),
        ])
        .unwrap_err();
        let text: Vec<String> = problems.iter().map(ToString::to_string).collect();
        assert_eq!(text.len(), 4, "{text:?}");
        assert!(
            text[0].contains("OUTBOX_PATH is set but empty"),
            "{}",
            text[0]
        );
        assert_eq!(
            text[1],
            "OUTBOX_LEASE_SECONDS=\"\" is invalid; expected an integer number of seconds from 1 to 3600, default 30"
        );
        assert!(text[2].contains("\"5\"") && text[2].contains("10 to 60000"));
        assert!(text[3].contains("\"1001\"") && text[3].contains("1 to 1000"));
        for lease in ["0", "3601", "-1", "1.5", "abc"] {
            assert!(
                outbox(&[("OUTBOX_LEASE_SECONDS", lease)]).is_err(),
                "{lease}"
            );
        }
    }
}
