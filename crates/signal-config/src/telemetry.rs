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
            Some(filter) => {
                match tracing_subscriber::EnvFilter::try_new(trimmed_directives(&filter)) {
                    Ok(_) => Some(trimmed_directives(&filter)),
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
                }
            }
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

/// `RUST_LOG` with the whitespace around each comma-separated directive
/// removed (a directive of only whitespace is kept, and refused as before).
///
/// tracing-subscriber 0.3 (0.3.23 here) walks the trimmed directive but
/// slices the untrimmed one with the walk's indices: leading whitespace
/// shifts every cut, and before a non-ASCII character, as in
/// `info, é=debug`, `EnvFilter::try_new` panics on a char boundary (found by
/// the `config` fuzz target). Trimmed here, each directive means what it
/// says, and the filter kept in [`TelemetrySettings::log_filter`] is safe
/// for every `EnvFilter` built from it later.
fn trimmed_directives(filter: &str) -> String {
    filter
        .split(',')
        .map(|directive| match directive.trim() {
            "" => directive,
            trimmed => trimmed,
        })
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log_filter(value: &str) -> Result<String, Vec<ConfigProblem>> {
        let value = value.to_owned();
        TelemetrySettings::from_lookup(&|name: &str| (name == RUST_LOG).then(|| value.clone()))
            .map(|settings| settings.log_filter)
    }

    // Found by the `config` fuzz target: this panicked inside tracing-subscriber.
    #[test]
    fn whitespace_before_a_non_ascii_directive_is_trimmed_not_a_panic() {
        assert_eq!(log_filter(" é=debug").as_deref(), Ok("é=debug"));
        assert_eq!(log_filter("info, é=debug").as_deref(), Ok("info,é=debug"));
        assert_eq!(
            log_filter("\tgna\u{95}ry[x]=info").as_deref(),
            Ok("gna\u{95}ry[x]=info")
        );
        // Trimmed, a level keeps meaning a level (untrimmed, `warn ` was a target).
        assert_eq!(
            log_filter(" signal_delivery=debug , warn ").as_deref(),
            Ok("signal_delivery=debug,warn")
        );
        assert_eq!(log_filter("info").as_deref(), Ok("info"));
    }

    #[test]
    fn a_blank_directive_is_still_refused_naming_the_variable() {
        for bad in ["  ", "info, ,debug", "=bad"] {
            let problems = log_filter(bad).unwrap_err();
            assert_eq!(problems.len(), 1, "{bad:?}");
            assert_eq!(problems[0].variable, RUST_LOG);
            assert!(
                problems[0].message.contains("is not a log filter"),
                "{}",
                problems[0]
            );
        }
    }
}
