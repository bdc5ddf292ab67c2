//! Reading a policy from environment-style variables, testably: the lookup
//! is a function, so tests never touch the process environment.

use std::str::FromStr;
use std::time::Duration;

use crate::jitter::Jitter;
use crate::policy::{
    ALLOWED_BASE_DELAY, ALLOWED_JITTER, ALLOWED_MAX_DELAY, ALLOWED_MAX_ELAPSED,
    ALLOWED_MAX_RETRIES, ALLOWED_MULTIPLIER, RetryPolicy, seconds,
};
use crate::policy_error::{PolicyError, PolicyErrors};

/// Each field with its variable, in the order errors are reported.
const VARIABLES: [(&str, &str); 6] = [
    ("max_retries", "MAX_RETRIES"),
    ("base_delay", "RETRY_DELAY_SECONDS"),
    ("backoff_multiplier", "RETRY_BACKOFF_MULTIPLIER"),
    ("max_delay", "RETRY_MAX_DELAY_SECONDS"),
    ("max_elapsed", "RETRY_MAX_ELAPSED_SECONDS"),
    ("jitter", "RETRY_JITTER"),
];

impl RetryPolicy {
    /// A policy from environment-style variables, looked up through `lookup`.
    ///
    /// | variable | meaning | format |
    /// |---|---|---|
    /// | `MAX_RETRIES` | retries after the first attempt | integer, 0 to 10 |
    /// | `RETRY_DELAY_SECONDS` | base delay | seconds, may be fractional (`2.5`) |
    /// | `RETRY_BACKOFF_MULTIPLIER` | multiplier | number |
    /// | `RETRY_MAX_DELAY_SECONDS` | cap on one delay | seconds |
    /// | `RETRY_MAX_ELAPSED_SECONDS` | deadline | seconds |
    /// | `RETRY_JITTER` | strategy | `none`, `proportional`, `full`, `equal`, `decorrelated` |
    ///
    /// An unset variable (`None`) keeps the default. A set variable that does
    /// not parse or is out of range is an error naming the variable, never a
    /// silent fallback; the empty string counts as set. Every problem is
    /// reported at once, including cross-field ones (a max delay below the
    /// base delay).
    ///
    /// ```
    /// use std::collections::HashMap;
    /// use std::time::Duration;
    /// use retry_core::{Jitter, RetryPolicy};
    ///
    /// let vars = HashMap::from([("MAX_RETRIES", "3"), ("RETRY_JITTER", "full")]);
    /// let policy = RetryPolicy::from_lookup(|k| vars.get(k).map(|v| v.to_string()))?;
    /// assert_eq!(policy.max_retries(), 3);
    /// assert_eq!(policy.jitter(), Jitter::Full);
    /// assert_eq!(policy.base_delay(), Duration::from_secs(5)); // unset: default
    ///
    /// let bad = HashMap::from([("MAX_RETRIES", "11"), ("RETRY_DELAY_SECONDS", "0.5")]);
    /// let errors = RetryPolicy::from_lookup(|k| bad.get(k).map(|v| v.to_string())).unwrap_err();
    /// assert_eq!(errors.len(), 2);
    /// # Ok::<(), retry_core::PolicyErrors>(())
    /// ```
    pub fn from_lookup(
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<RetryPolicy, PolicyErrors> {
        let raw: [Option<String>; 6] = VARIABLES.map(|(_, variable)| lookup(variable));
        let mut errors = Vec::new();
        // Fields whose text did not even parse: their range and cross-field
        // checks would only repeat the problem (against a default value).
        let mut unparsed = [false; 6];
        let mut builder = RetryPolicy::builder();

        let [
            max_retries,
            base,
            multiplier,
            max_delay,
            max_elapsed,
            jitter,
        ] = &raw;
        let mut parse_error = |index: usize, text: &str, allowed: &str| {
            unparsed[index] = true;
            let (field, variable) = VARIABLES[index];
            errors.push(PolicyError::new(field, text, allowed).with_variable(variable));
        };
        if let Some(text) = max_retries {
            match u32::from_str(text) {
                Ok(v) => builder = builder.max_retries(v),
                Err(_) => parse_error(0, text, ALLOWED_MAX_RETRIES),
            }
        }
        if let Some(text) = base {
            match parse_seconds(text) {
                Some(v) => builder = builder.base_delay(v),
                None => parse_error(1, text, ALLOWED_BASE_DELAY),
            }
        }
        if let Some(text) = multiplier {
            match f64::from_str(text) {
                Ok(v) if v.is_finite() => builder = builder.backoff_multiplier(v),
                _ => parse_error(2, text, ALLOWED_MULTIPLIER),
            }
        }
        if let Some(text) = max_delay {
            match parse_seconds(text) {
                Some(v) => builder = builder.max_delay(v),
                None => parse_error(3, text, ALLOWED_MAX_DELAY),
            }
        }
        if let Some(text) = max_elapsed {
            match parse_seconds(text) {
                Some(v) => builder = builder.max_elapsed(v),
                None => parse_error(4, text, ALLOWED_MAX_ELAPSED),
            }
        }
        if let Some(text) = jitter {
            match Jitter::from_str(text) {
                Ok(v) => builder = builder.jitter(v),
                Err(_) => parse_error(5, text, ALLOWED_JITTER),
            }
        }

        let candidate = builder.policy_unchecked();
        for problem in candidate.problems() {
            let index = VARIABLES
                .iter()
                .position(|(field, _)| *field == problem.error.field())
                .unwrap_or(0);
            if unparsed[index] || (problem.cross && unparsed[1]) {
                continue;
            }
            errors.push(match (&raw[index], problem.cross, &raw[1]) {
                (Some(text), _, _) => PolicyError::new(
                    VARIABLES[index].0,
                    text.as_str(),
                    problem.error.allowed(),
                )
                .with_variable(VARIABLES[index].1),
                // A default max delay below a base delay that was set: the
                // variable to fix is the base delay.
                (None, true, Some(base_text)) => PolicyError::new(
                    "base_delay",
                    base_text.as_str(),
                    format!(
                        "a number of seconds from 1 to the max delay ({}, the default of the unset RETRY_MAX_DELAY_SECONDS)",
                        seconds(candidate.max_delay())
                    ),
                )
                .with_variable("RETRY_DELAY_SECONDS"),
                // Unreachable with valid defaults; report it rather than hide it.
                _ => problem.error,
            });
        }
        // Report in variable order whatever check found the problem.
        errors.sort_by_key(|e| {
            VARIABLES
                .iter()
                .position(|(field, _)| *field == e.field())
                .unwrap_or(VARIABLES.len())
        });
        if errors.is_empty() {
            Ok(candidate)
        } else {
            Err(PolicyErrors::new(errors))
        }
    }

    /// [`from_lookup`](Self::from_lookup) on the process environment. A
    /// variable that is set but not valid Unicode counts as unset.
    pub fn from_env() -> Result<RetryPolicy, PolicyErrors> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }
}

/// A non-negative, finite number of seconds; range checks happen later.
fn parse_seconds(text: &str) -> Option<Duration> {
    let secs = f64::from_str(text).ok()?;
    if !secs.is_finite() || secs < 0.0 {
        return None;
    }
    Duration::try_from_secs_f64(secs).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    #[test]
    fn nothing_set_gives_the_defaults() {
        assert_eq!(
            RetryPolicy::from_lookup(|_| None).unwrap(),
            RetryPolicy::default()
        );
    }

    #[test]
    fn good_values_are_all_applied() {
        let vars = [
            ("MAX_RETRIES", "3"),
            ("RETRY_DELAY_SECONDS", "2.5"),
            ("RETRY_BACKOFF_MULTIPLIER", "1.5"),
            ("RETRY_MAX_DELAY_SECONDS", "30"),
            ("RETRY_MAX_ELAPSED_SECONDS", "90"),
            ("RETRY_JITTER", "decorrelated"),
        ];
        let p = RetryPolicy::from_lookup(lookup(&vars)).unwrap();
        assert_eq!(p.max_retries(), 3);
        assert_eq!(p.base_delay(), Duration::from_millis(2500));
        assert_eq!(p.backoff_multiplier(), 1.5);
        assert_eq!(p.max_delay(), Duration::from_secs(30));
        assert_eq!(p.max_elapsed(), Duration::from_secs(90));
        assert_eq!(p.jitter(), Jitter::Decorrelated);
    }

    #[test]
    fn malformed_max_retries_are_errors_naming_the_variable() {
        for bad in ["abc", "-1", "11", "", "2.0", " 3"] {
            let errors = RetryPolicy::from_lookup(lookup(&[("MAX_RETRIES", bad)])).unwrap_err();
            assert_eq!(errors.len(), 1, "{bad}: {errors}");
            let e = errors.iter().next().unwrap();
            assert_eq!(e.variable(), Some("MAX_RETRIES"));
            assert_eq!(e.field(), "max_retries");
            assert_eq!(e.value(), bad);
            assert_eq!(
                e.to_string(),
                format!("MAX_RETRIES=\"{bad}\" is invalid: expected an integer from 0 to 10")
            );
        }
    }

    #[test]
    fn malformed_seconds_are_errors_naming_the_variable() {
        for bad in ["abc", "-1", "0.5", "", "NaN", "inf", "601", "1e9"] {
            let errors =
                RetryPolicy::from_lookup(lookup(&[("RETRY_DELAY_SECONDS", bad)])).unwrap_err();
            let e = errors.iter().next().unwrap();
            assert_eq!(e.variable(), Some("RETRY_DELAY_SECONDS"), "{bad}");
            assert_eq!(e.value(), bad);
        }
        let errors =
            RetryPolicy::from_lookup(lookup(&[("RETRY_DELAY_SECONDS", "abc")])).unwrap_err();
        assert_eq!(
            errors.to_string(),
            "RETRY_DELAY_SECONDS=\"abc\" is invalid: expected a number of seconds from 1 to 600"
        );
    }

    #[test]
    fn bad_jitter_name_lists_the_choices() {
        let errors = RetryPolicy::from_lookup(lookup(&[("RETRY_JITTER", "random")])).unwrap_err();
        let text = errors.to_string();
        assert!(
            text.starts_with("RETRY_JITTER=\"random\" is invalid"),
            "{text}"
        );
        assert!(text.contains("decorrelated"), "{text}");
    }

    #[test]
    fn every_problem_is_reported_at_once_in_variable_order() {
        let vars = [
            ("RETRY_JITTER", "nope"),
            ("MAX_RETRIES", "11"),
            ("RETRY_DELAY_SECONDS", "0.5"),
            ("RETRY_BACKOFF_MULTIPLIER", "0"),
            ("RETRY_MAX_DELAY_SECONDS", "abc"),
            ("RETRY_MAX_ELAPSED_SECONDS", "0"),
        ];
        let errors = RetryPolicy::from_lookup(lookup(&vars)).unwrap_err();
        let names: Vec<_> = errors.iter().map(|e| e.variable().unwrap()).collect();
        assert_eq!(
            names,
            [
                "MAX_RETRIES",
                "RETRY_DELAY_SECONDS",
                "RETRY_BACKOFF_MULTIPLIER",
                "RETRY_MAX_DELAY_SECONDS",
                "RETRY_MAX_ELAPSED_SECONDS",
                "RETRY_JITTER"
            ]
        );
        assert_eq!(errors.to_string().lines().count(), 6);
    }

    #[test]
    fn max_delay_below_base_delay_is_reported_on_the_variable_that_was_set() {
        let errors = RetryPolicy::from_lookup(lookup(&[
            ("RETRY_DELAY_SECONDS", "10"),
            ("RETRY_MAX_DELAY_SECONDS", "5"),
        ]))
        .unwrap_err();
        let e = errors.iter().next().unwrap();
        assert_eq!(
            (e.variable(), e.value()),
            (Some("RETRY_MAX_DELAY_SECONDS"), "5")
        );
        assert!(e.allowed().contains("base delay (10)"), "{e}");

        let errors =
            RetryPolicy::from_lookup(lookup(&[("RETRY_DELAY_SECONDS", "200")])).unwrap_err();
        let e = errors.iter().next().unwrap();
        assert_eq!(
            (e.variable(), e.value()),
            (Some("RETRY_DELAY_SECONDS"), "200")
        );
        assert!(e.allowed().contains("120"), "{e}");
    }

    #[test]
    fn an_unparsable_base_delay_does_not_cause_a_spurious_cross_field_error() {
        let errors = RetryPolicy::from_lookup(lookup(&[
            ("RETRY_DELAY_SECONDS", "abc"),
            ("RETRY_MAX_DELAY_SECONDS", "3"),
        ]))
        .unwrap_err();
        assert_eq!(errors.len(), 1, "{errors}");
    }
}
