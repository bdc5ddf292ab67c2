//! Configuration errors: which variable, what is wrong, what is allowed.

/// What is wrong with a configuration value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum AlertConfigErrorKind {
    /// A required variable is not set.
    Missing,
    /// The variable is set but its value is not allowed (an empty value included).
    Malformed,
}

/// One missing or malformed configuration value. Names the variable, says what
/// is wrong and which form is allowed; never repeats the value (it may be the
/// token).
///
/// ```
/// use ops_alerts::AlertConfig;
///
/// let errors = AlertConfig::new("not-a-token", "").unwrap_err();
/// assert_eq!(errors.len(), 2);
/// assert_eq!(errors[0].variable(), "OPS_TELEGRAM_BOT_TOKEN");
/// assert!(!errors[0].to_string().contains("not-a-token"));
/// assert_eq!(errors[1].variable(), "OPS_TELEGRAM_CHAT_ID");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{variable}: {problem}; expected {expected}")]
pub struct AlertConfigError {
    variable: &'static str,
    kind: AlertConfigErrorKind,
    problem: &'static str,
    expected: &'static str,
}

impl AlertConfigError {
    pub(super) fn missing(variable: &'static str, expected: &'static str) -> AlertConfigError {
        AlertConfigError {
            variable,
            kind: AlertConfigErrorKind::Missing,
            problem: "not set",
            expected,
        }
    }

    pub(super) fn malformed(
        variable: &'static str,
        problem: &'static str,
        expected: &'static str,
    ) -> AlertConfigError {
        AlertConfigError {
            variable,
            kind: AlertConfigErrorKind::Malformed,
            problem,
            expected,
        }
    }

    /// The environment variable the problem is about, e.g. `OPS_TELEGRAM_CHAT_ID`.
    pub fn variable(&self) -> &'static str {
        self.variable
    }

    /// Missing or malformed.
    pub fn kind(&self) -> AlertConfigErrorKind {
        self.kind
    }

    /// The allowed form of the value.
    pub fn expected(&self) -> &'static str {
        self.expected
    }
}
