//! One typed configuration for the whole delivery stack, read from the
//! environment with every problem reported at once.

use hmac_client::ClientConfig;
use ops_alerts::{AlertConfig, AlertConfigErrorKind};
use retry_core::{MAX_BUDGET_TOKENS, RetryBudget, RetryPolicy};
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

/// Parameters of the shared retry budget (gRPC retry throttling).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BudgetSetting {
    /// Tokens in a full bucket; retries stop while at most half remain.
    pub max_tokens: u32,
    /// Tokens returned by each successful attempt.
    pub token_ratio: f64,
}

impl BudgetSetting {
    /// 100 tokens, 0.1 per success: a single signal can always use its whole
    /// schedule, but once about 50 attempts have failed more than ten times
    /// as often as they succeeded, retries stop until successes refill it.
    pub const DEFAULT: BudgetSetting = BudgetSetting {
        max_tokens: 100,
        token_ratio: 0.1,
    };

    /// Builds the shared budget.
    pub fn build(&self) -> Result<RetryBudget, retry_core::PolicyError> {
        RetryBudget::new(self.max_tokens, self.token_ratio)
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
    /// The shared retry budget; `None` when `RETRY_BUDGET_MAX_TOKENS=0`.
    pub budget: Option<BudgetSetting>,
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
/// `RETRY_BUDGET_MAX_TOKENS`: size of the shared retry budget; 0 disables it.
pub const BUDGET_MAX_TOKENS: &str = "RETRY_BUDGET_MAX_TOKENS";
/// `RETRY_BUDGET_TOKEN_RATIO`: tokens regained per success.
pub const BUDGET_TOKEN_RATIO: &str = "RETRY_BUDGET_TOKEN_RATIO";

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

fn parse_budget(
    lookup: &impl Fn(&str) -> Option<String>,
) -> Result<Option<BudgetSetting>, Vec<ConfigProblem>> {
    let mut problems = Vec::new();
    let max_tokens = match lookup(BUDGET_MAX_TOKENS) {
        None => Some(BudgetSetting::DEFAULT.max_tokens),
        Some(v) => match v.trim().parse::<u32>() {
            Ok(n) if n <= MAX_BUDGET_TOKENS => Some(n),
            _ => {
                problems.push(ConfigProblem {
                    variable: BUDGET_MAX_TOKENS.to_owned(),
                    message: format!(
                        "{v:?} is invalid; expected an integer from 0 (budget off) to {MAX_BUDGET_TOKENS}, default 100"
                    ),
                });
                None
            }
        },
    };
    let token_ratio = match lookup(BUDGET_TOKEN_RATIO) {
        None => Some(BudgetSetting::DEFAULT.token_ratio),
        Some(v) => match v.trim().parse::<f64>() {
            Ok(r) if r.is_finite() && r > 0.0 && r <= 1.0 => Some(r),
            _ => {
                problems.push(ConfigProblem {
                    variable: BUDGET_TOKEN_RATIO.to_owned(),
                    message: format!(
                        "{v:?} is invalid; expected a number greater than 0 and at most 1, default 0.1"
                    ),
                });
                None
            }
        },
    };
    match (max_tokens, token_ratio) {
        (Some(0), Some(_)) if problems.is_empty() => Ok(None),
        (Some(max_tokens), Some(token_ratio)) if problems.is_empty() => {
            let setting = BudgetSetting {
                max_tokens,
                token_ratio,
            };
            // Validate with retry-core's own rules so both layers agree.
            setting.build().map(|_| Some(setting)).map_err(|e| {
                vec![ConfigProblem {
                    variable: BUDGET_MAX_TOKENS.to_owned(),
                    message: e.to_string(),
                }]
            })
        }
        _ => Err(problems),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

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
