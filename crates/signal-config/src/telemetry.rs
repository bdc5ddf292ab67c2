//! Logs and metrics settings: `LOG_FORMAT`, `RUST_LOG`, `METRICS_ADDR`.

use std::net::SocketAddr;

use crate::names::{LOG_FORMAT, METRICS_ADDR, RUST_LOG};
use crate::problem::ConfigProblem;
use crate::values::shown;

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// Human-readable lines (default).
    #[default]
    Text,
    /// One JSON object per line (`LOG_FORMAT=json`).
    Json,
}

impl LogFormat {
    /// The variable's spelling of this format.
    pub fn as_str(self) -> &'static str {
        match self {
            LogFormat::Text => "text",
            LogFormat::Json => "json",
        }
    }
}

/// The default log filter when `RUST_LOG` is unset.
pub const DEFAULT_LOG_FILTER: &str = "info";

/// Logs and metrics, as configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TelemetrySettings {
    /// `METRICS_ADDR`: serve Prometheus `/metrics` here (`None`: not served).
    pub metrics_addr: Option<SocketAddr>,
    /// `LOG_FORMAT`.
    pub log_format: LogFormat,
    /// `RUST_LOG`, checked to be a valid filter (default `info`).
    pub log_filter: String,
}

impl TelemetrySettings {
    /// Reads the three variables through `lookup`, every problem at once.
    pub fn from_lookup(
        lookup: &impl Fn(&str) -> Option<String>,
    ) -> Result<TelemetrySettings, Vec<ConfigProblem>> {
        let mut problems = Vec::new();
        let metrics_addr = match lookup(METRICS_ADDR) {
            None => Some(None),
            Some(value) => match value.trim().parse::<SocketAddr>() {
                Ok(addr) => Some(Some(addr)),
                Err(_) => {
                    problems.push(ConfigProblem::new(
                        METRICS_ADDR,
                        format!(
                            "{:?} is not a socket address; expected IP:PORT, e.g. 127.0.0.1:9464",
                            shown(&value)
                        ),
                    ));
                    None
                }
            },
        };
        let log_format = match lookup(LOG_FORMAT).as_deref() {
            None | Some("text") => Some(LogFormat::Text),
            Some("json") => Some(LogFormat::Json),
            Some(other) => {
                problems.push(ConfigProblem::new(
                    LOG_FORMAT,
                    format!(
                        "{:?} is not a log format; expected text or json",
                        shown(other)
                    ),
                ));
                None
            }
        };
        // RUST_LOG is read by the subscriber; checked here so that a typo is
        // reported with the rest instead of silently logging at the default.
        let log_filter = match lookup(RUST_LOG) {
            None => Some(DEFAULT_LOG_FILTER.to_owned()),
            Some(filter) => match tracing_subscriber::EnvFilter::try_new(&filter) {
                Ok(_) => Some(filter),
                Err(e) => {
                    problems.push(ConfigProblem::new(
                        RUST_LOG,
                        format!(
                            "{:?} is not a log filter ({e}); expected e.g. info, debug or signal_delivery=debug,warn",
                            shown(&filter)
                        ),
                    ));
                    None
                }
            },
        };
        match (metrics_addr, log_format, log_filter) {
            (Some(metrics_addr), Some(log_format), Some(log_filter)) if problems.is_empty() => {
                Ok(TelemetrySettings {
                    metrics_addr,
                    log_format,
                    log_filter,
                })
            }
            _ => Err(problems),
        }
    }
}
