//! Typed validation errors: every rejection names the field, the value and
//! the allowed range, so a caller can fix a policy from the message alone.
//!
//! This crate reads no environment: a configuration crate that reads policy
//! values from variables reports problems in its own names (signal-config
//! names the variable), and uses [`PolicyError`] only for values built in code.

use std::fmt;

/// One invalid policy or budget parameter.
///
/// ```
/// use std::time::Duration;
/// use retry_core::RetryPolicy;
///
/// let error = RetryPolicy::builder()
///     .base_delay(Duration::from_micros(500))
///     .build()
///     .unwrap_err();
/// assert_eq!(error.field(), "base_delay");
/// assert_eq!(error.value(), "0.0005s");
/// assert_eq!(error.allowed(), "a duration from 1 ms to 24 h");
/// assert_eq!(
///     error.to_string(),
///     "base_delay=\"0.0005s\" is invalid: expected a duration from 1 ms to 24 h"
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyError {
    field: &'static str,
    value: String,
    allowed: String,
}

impl PolicyError {
    pub(crate) fn new(
        field: &'static str,
        value: impl Into<String>,
        allowed: impl Into<String>,
    ) -> Self {
        Self {
            field,
            value: value.into(),
            allowed: allowed.into(),
        }
    }

    /// The builder's name for the parameter (`base_delay`, `max_retries`, ...).
    pub fn field(&self) -> &str {
        self.field
    }

    /// The rejected value (durations in seconds with the unit: `0.0005s`).
    pub fn value(&self) -> &str {
        &self.value
    }

    /// What would have been accepted, in words.
    pub fn allowed(&self) -> &str {
        &self.allowed
    }
}

/// Most characters of a rejected value a message shows: enough to recognise
/// it, not enough for a pasted file to flood the terminal.
const MAX_SHOWN_CHARS: usize = 64;

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Quoted and escaped as `Debug` does: a newline in a value must not
        // forge a line of the one-problem-per-line list, nor an escape
        // sequence rewrite the operator's terminal. `value()` keeps it raw.
        let shown = match self.value.char_indices().nth(MAX_SHOWN_CHARS) {
            Some((cut, _)) => (&self.value[..cut], "…"),
            None => (self.value.as_str(), ""),
        };
        write!(
            f,
            "{}={:?}{} is invalid: expected {}",
            self.field, shown.0, shown.1, self.allowed
        )
    }
}

impl std::error::Error for PolicyError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_the_field_the_value_and_the_allowed_values() {
        let e = PolicyError::new("max_retries", "101", "an integer from 0 to 100");
        assert_eq!(
            e.to_string(),
            "max_retries=\"101\" is invalid: expected an integer from 0 to 100"
        );
        assert_eq!(
            (e.field(), e.value(), e.allowed()),
            ("max_retries", "101", "an integer from 0 to 100")
        );
    }

    // Found by the `config` fuzz target: the value was echoed raw and whole.
    #[test]
    fn display_escapes_and_bounds_the_value() {
        let hostile = format!("\u{1b}[31m\n\u{202e}{}", "9x".repeat(10_000));
        let error = PolicyError::new("max_retries", hostile.as_str(), "an integer from 0 to 10");
        let text = error.to_string();
        assert!(text.len() < 200, "{} bytes: {text}", text.len());
        assert!(!text.chars().any(char::is_control), "{text:?}");
        assert!(!text.contains('\u{202e}'), "{text:?}");
        assert!(
            text.starts_with(r#"max_retries="\u{1b}[31m\n\u{202e}9x9x"#),
            "{text}"
        );
        assert!(
            text.ends_with("9\"… is invalid: expected an integer from 0 to 10"),
            "{text}"
        );
        assert_eq!(error.value(), hostile, "the accessor keeps the value raw");
        let quoted = PolicyError::new("jitter", r#"say "hi"\"#, "x");
        assert_eq!(
            quoted.to_string(),
            r#"jitter="say \"hi\"\\" is invalid: expected x"#
        );
    }
}
