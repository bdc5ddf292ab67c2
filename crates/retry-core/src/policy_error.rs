//! Typed validation errors: every rejection names the field (and the
//! environment variable, when there was one), the value and the allowed range,
//! so an operator can fix a configuration from the message alone.

use std::fmt;

/// One invalid policy or budget parameter.
///
/// ```
/// use retry_core::RetryPolicy;
///
/// let errors = RetryPolicy::from_lookup(|name| {
///     (name == "RETRY_DELAY_SECONDS").then(|| "abc".to_owned())
/// })
/// .unwrap_err();
/// let error = errors.iter().next().unwrap();
/// assert_eq!(error.field(), "base_delay");
/// assert_eq!(error.variable(), Some("RETRY_DELAY_SECONDS"));
/// assert_eq!(error.value(), "abc");
/// assert_eq!(
///     error.to_string(),
///     "RETRY_DELAY_SECONDS=\"abc\" is invalid: expected a number of seconds from 1 to 600"
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyError {
    field: &'static str,
    variable: Option<&'static str>,
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
            variable: None,
            value: value.into(),
            allowed: allowed.into(),
        }
    }

    pub(crate) fn with_variable(mut self, variable: &'static str) -> Self {
        self.variable = Some(variable);
        self
    }

    /// The builder's name for the parameter (`base_delay`, `max_retries`, ...).
    pub fn field(&self) -> &str {
        self.field
    }

    /// The environment variable the value came from, when it came from one.
    pub fn variable(&self) -> Option<&str> {
        self.variable
    }

    /// The rejected value as it was given (the raw text for environment values).
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
        let name = self.variable.unwrap_or(self.field);
        // Quoted and escaped as `Debug` does: a newline in a value must not
        // forge a line of the one-problem-per-line list, nor an escape
        // sequence rewrite the operator's terminal. `value()` keeps it raw.
        let shown = match self.value.char_indices().nth(MAX_SHOWN_CHARS) {
            Some((cut, _)) => (&self.value[..cut], "…"),
            None => (self.value.as_str(), ""),
        };
        write!(
            f,
            "{name}={:?}{} is invalid: expected {}",
            shown.0, shown.1, self.allowed
        )
    }
}

impl std::error::Error for PolicyError {}

/// Every problem found in a configuration, reported at once so that fixing
/// one value does not just reveal the next.
///
/// Never empty when returned as an error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyErrors(Vec<PolicyError>);

impl PolicyErrors {
    pub(crate) fn new(errors: Vec<PolicyError>) -> Self {
        Self(errors)
    }

    /// The individual problems, in variable order.
    pub fn iter(&self) -> std::slice::Iter<'_, PolicyError> {
        self.0.iter()
    }

    /// How many problems were found.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are no problems (never the case for a returned error).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The problems, by value.
    pub fn into_vec(self) -> Vec<PolicyError> {
        self.0
    }
}

impl From<PolicyError> for PolicyErrors {
    fn from(error: PolicyError) -> Self {
        Self(vec![error])
    }
}

impl IntoIterator for PolicyErrors {
    type Item = PolicyError;
    type IntoIter = std::vec::IntoIter<PolicyError>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl<'a> IntoIterator for &'a PolicyErrors {
    type Item = &'a PolicyError;
    type IntoIter = std::slice::Iter<'a, PolicyError>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

impl fmt::Display for PolicyErrors {
    /// One problem per line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, error) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{error}")?;
        }
        Ok(())
    }
}

impl std::error::Error for PolicyErrors {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_prefers_the_variable_name_and_lists_one_error_per_line() {
        let a = PolicyError::new("max_retries", "11", "an integer from 0 to 10");
        let b = PolicyError::new("base_delay", "0.5", "x").with_variable("RETRY_DELAY_SECONDS");
        assert_eq!(
            a.to_string(),
            "max_retries=\"11\" is invalid: expected an integer from 0 to 10"
        );
        let all = PolicyErrors::new(vec![a, b]);
        let text = all.to_string();
        assert_eq!(text.lines().count(), 2);
        assert!(
            text.lines()
                .nth(1)
                .unwrap()
                .starts_with("RETRY_DELAY_SECONDS=\"0.5\"")
        );
        assert_eq!(all.len(), 2);
        assert_eq!(all.into_vec().len(), 2);
    }

    // Found by the `config` fuzz target: the value was echoed raw and whole.
    #[test]
    fn display_escapes_and_bounds_the_value() {
        let hostile = format!("\u{1b}[31m\n\u{202e}{}", "9x".repeat(10_000));
        let error = PolicyError::new("max_retries", hostile.as_str(), "an integer from 0 to 10")
            .with_variable("MAX_RETRIES");
        let text = error.to_string();
        assert!(text.len() < 200, "{} bytes: {text}", text.len());
        assert!(!text.chars().any(char::is_control), "{text:?}");
        assert!(!text.contains('\u{202e}'), "{text:?}");
        assert!(
            text.starts_with(r#"MAX_RETRIES="\u{1b}[31m\n\u{202e}9x9x"#),
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
