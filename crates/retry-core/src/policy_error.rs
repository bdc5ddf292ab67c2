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

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}=\"{}\" is invalid: expected {}",
            self.field, self.value, self.allowed
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
}
