//! Alert severities, their names and their title markers.

use std::fmt;
use std::str::FromStr;

/// How serious an alert is. Ordered: `Debug < Info < Warning < Error < Critical`.
///
/// `Debug` never goes to Telegram: it is a log line. `Critical` is used for
/// security failures (a rejected signature) and for failures that repeat.
///
/// ```
/// use ops_alerts::Severity;
///
/// assert_eq!(Severity::Critical.to_string(), "CRITICAL");
/// assert_eq!("warning".parse::<Severity>(), Ok(Severity::Warning));
/// assert!(Severity::Error < Severity::Critical);
/// ```
///
/// Stored (in an [`AlertPayload`](crate::AlertPayload)) by its upper-case name.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "UPPERCASE")]
pub enum Severity {
    /// Diagnostics: logged only, never sent.
    Debug,
    /// Something worth knowing; no action needed.
    Info,
    /// Something degraded; may need attention.
    Warning,
    /// Something failed (a signal could not be delivered); needs review.
    Error,
    /// Security failure or repeated failures; needs action now.
    Critical,
}

impl Severity {
    /// Every severity, lowest first.
    pub const ALL: [Severity; 5] = [
        Severity::Debug,
        Severity::Info,
        Severity::Warning,
        Severity::Error,
        Severity::Critical,
    ];

    /// The upper-case name: `"DEBUG"` ... `"CRITICAL"` (also the metric label).
    pub const fn as_str(self) -> &'static str {
        match self {
            Severity::Debug => "DEBUG",
            Severity::Info => "INFO",
            Severity::Warning => "WARNING",
            Severity::Error => "ERROR",
            Severity::Critical => "CRITICAL",
        }
    }

    /// The marker that opens the message title, so the severity is visible
    /// in a notification preview before the message is opened.
    pub const fn marker(self) -> &'static str {
        match self {
            Severity::Debug => "🔍",
            Severity::Info => "ℹ️",
            Severity::Warning => "⚠️",
            Severity::Error => "❌",
            Severity::Critical => "🚨",
        }
    }

    /// Whether alerts of this severity are sent to Telegram (all but `Debug`).
    pub const fn is_sent(self) -> bool {
        !matches!(self, Severity::Debug)
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The text given to [`Severity::from_str`] is not a severity name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown severity (expected one of DEBUG, INFO, WARNING, ERROR, CRITICAL)")]
pub struct ParseSeverityError;

impl FromStr for Severity {
    type Err = ParseSeverityError;

    /// Case-insensitive; `WARN` is accepted for `WARNING` (the tracing spelling).
    fn from_str(s: &str) -> Result<Severity, ParseSeverityError> {
        let s = s.trim();
        Severity::ALL
            .into_iter()
            .find(|severity| severity.as_str().eq_ignore_ascii_case(s))
            .or_else(|| s.eq_ignore_ascii_case("WARN").then_some(Severity::Warning))
            .ok_or(ParseSeverityError)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for severity in Severity::ALL {
            assert_eq!(severity.to_string().parse::<Severity>(), Ok(severity));
            assert_eq!(
                severity.as_str().to_lowercase().parse::<Severity>(),
                Ok(severity)
            );
        }
        assert_eq!("warn".parse::<Severity>(), Ok(Severity::Warning));
        assert_eq!("fatal".parse::<Severity>(), Err(ParseSeverityError));
    }

    #[test]
    fn ordered_and_only_debug_is_not_sent() {
        assert!(Severity::ALL.windows(2).all(|w| w[0] < w[1]));
        assert!(!Severity::Debug.is_sent());
        assert!(Severity::Info.is_sent());
    }
}
