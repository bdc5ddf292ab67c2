//! Alerts that are only logged, and events at a level chosen at run time.

use std::fmt;

use crate::service::METRIC_LOGGED;
use crate::severity::Severity;

/// The tracing level for an alert of `severity` that is only logged.
fn level_of(severity: Severity) -> tracing::Level {
    match severity {
        Severity::Debug => tracing::Level::DEBUG,
        Severity::Info => tracing::Level::INFO,
        Severity::Warning => tracing::Level::WARN,
        Severity::Error | Severity::Critical => tracing::Level::ERROR,
    }
}

/// An alert that is only logged, at its own level, and counted as such.
pub(crate) fn log_only(severity: Severity, message: fmt::Arguments<'_>, fields: &[(&str, &str)]) {
    metrics::counter!(METRIC_LOGGED, "severity" => severity.as_str()).increment(1);
    let mut all = vec![("severity", severity.as_str())];
    all.extend_from_slice(fields);
    emit(level_of(severity), message, &all);
}

/// One event at a runtime-chosen level (tracing's macros need a constant one),
/// with the alert's fields rendered into a single `fields` value.
pub(crate) fn emit(level: tracing::Level, message: fmt::Arguments<'_>, fields: &[(&str, &str)]) {
    let fields = fields
        .iter()
        .map(|(k, v)| format!("{k}={v:?}"))
        .collect::<Vec<_>>()
        .join(" ");
    match level {
        tracing::Level::ERROR => tracing::error!(fields = %fields, "{message}"),
        tracing::Level::WARN => tracing::warn!(fields = %fields, "{message}"),
        tracing::Level::INFO => tracing::info!(fields = %fields, "{message}"),
        tracing::Level::DEBUG => tracing::debug!(fields = %fields, "{message}"),
        tracing::Level::TRACE => tracing::trace!(fields = %fields, "{message}"),
    }
}
