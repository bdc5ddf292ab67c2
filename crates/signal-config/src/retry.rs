//! The retry schedule of `post_signal`, from `MAX_RETRIES` and `RETRY_*`
//! (see docs/configuration.md).
//!
//! retry-core takes values and checks only structural bounds (a policy built
//! in code may retry after milliseconds); the environment of the commands is
//! held to the seed's tighter limits here, where the names live: at most 10
//! retries, delays from 1 s, at most 10 minutes in all. Remote signal servers
//! hit again within a second mostly fail again, and a signal older than ten
//! minutes is stale.

use std::str::FromStr;
use std::time::Duration;

use retry_core::{Jitter, RetryPolicy};

use crate::names::{
    MAX_RETRIES, RETRY_BACKOFF_MULTIPLIER, RETRY_DELAY_SECONDS, RETRY_JITTER,
    RETRY_MAX_DELAY_SECONDS, RETRY_MAX_ELAPSED_SECONDS,
};
use crate::problem::ConfigProblem;

/// The most retries `MAX_RETRIES` may ask for.
pub const ENV_MAX_RETRIES: u32 = 10;
/// The shortest `RETRY_DELAY_SECONDS` and `RETRY_MAX_DELAY_SECONDS`.
pub const ENV_MIN_DELAY: Duration = Duration::from_secs(1);
/// The longest `RETRY_DELAY_SECONDS`, `RETRY_MAX_DELAY_SECONDS` and
/// `RETRY_MAX_ELAPSED_SECONDS`.
pub const ENV_MAX_DURATION: Duration = Duration::from_secs(600);

const ALLOWED_MAX_RETRIES: &str = "an integer from 0 to 10";
const ALLOWED_DELAY: &str = "a number of seconds from 1 to 600";
const ALLOWED_MULTIPLIER: &str = "a finite number from 1 to 10";
const ALLOWED_MAX_DELAY: &str = "a number of seconds from 1 to 600, and at least the base delay";
const ALLOWED_MAX_ELAPSED: &str = "a number of seconds greater than 0, at most 600";
const ALLOWED_JITTER: &str = "one of none, proportional, full, equal, decorrelated";

/// Each variable in the order problems are reported.
const ORDER: [&str; 6] = [
    MAX_RETRIES,
    RETRY_DELAY_SECONDS,
    RETRY_BACKOFF_MULTIPLIER,
    RETRY_MAX_DELAY_SECONDS,
    RETRY_MAX_ELAPSED_SECONDS,
    RETRY_JITTER,
];

/// One variable as read: unset (the default applies), valid, or reported.
enum Read<T> {
    Unset,
    Valid(T),
    Invalid,
}

impl<T: Copy> Read<T> {
    /// The value in force, if the variable did not fail.
    fn or(&self, default: T) -> Option<T> {
        match self {
            Read::Unset => Some(default),
            Read::Valid(value) => Some(*value),
            Read::Invalid => None,
        }
    }
}

/// Reads `MAX_RETRIES` and the `RETRY_*` schedule variables through
/// `lookup`, every problem at once, in variable order.
///
/// | variable | meaning | format |
/// |---|---|---|
/// | `MAX_RETRIES` | retries after the first attempt | integer, 0 to 10 |
/// | `RETRY_DELAY_SECONDS` | base delay | seconds, 1 to 600, may be fractional (`2.5`) |
/// | `RETRY_BACKOFF_MULTIPLIER` | multiplier | finite number, 1 to 10 |
/// | `RETRY_MAX_DELAY_SECONDS` | cap on one delay | seconds, 1 to 600, at least the base delay |
/// | `RETRY_MAX_ELAPSED_SECONDS` | deadline | seconds, more than 0, at most 600 |
/// | `RETRY_JITTER` | strategy | `none`, `proportional`, `full`, `equal`, `decorrelated` |
///
/// An unset variable keeps retry-core's default. A set variable (the empty
/// string included) that does not parse or is out of range is a problem
/// naming it, never a silent fallback; a cross-field problem (a max delay
/// below the base delay) is reported on the variable that was set.
///
/// ```
/// use std::time::Duration;
/// use retry_core::Jitter;
/// use signal_config::parse_retry;
///
/// let env = |name: &str| match name {
///     "MAX_RETRIES" => Some("3".to_owned()),
///     "RETRY_JITTER" => Some("full".to_owned()),
///     _ => None,
/// };
/// let policy = parse_retry(&env).unwrap();
/// assert_eq!(policy.max_retries(), 3);
/// assert_eq!(policy.jitter(), Jitter::Full);
/// assert_eq!(policy.base_delay(), Duration::from_secs(5)); // unset: the default
///
/// // Code may retry after 50 ms; the environment may not.
/// let fast = |name: &str| (name == "RETRY_DELAY_SECONDS").then(|| "0.05".to_owned());
/// let problems = parse_retry(&fast).unwrap_err();
/// assert_eq!(
///     problems[0].to_string(),
///     "RETRY_DELAY_SECONDS=\"0.05\" is invalid: expected a number of seconds from 1 to 600"
/// );
/// ```
///
/// # Errors
/// Every [`ConfigProblem`] found, in variable order.
pub fn parse_retry(
    lookup: &impl Fn(&str) -> Option<String>,
) -> Result<RetryPolicy, Vec<ConfigProblem>> {
    let mut problems = Vec::new();
    let (retries, _) = read(
        lookup,
        &mut problems,
        MAX_RETRIES,
        ALLOWED_MAX_RETRIES,
        |t| u32::from_str(t).ok().filter(|n| *n <= ENV_MAX_RETRIES),
    );
    let (base, base_text) = read(
        lookup,
        &mut problems,
        RETRY_DELAY_SECONDS,
        ALLOWED_DELAY,
        delay,
    );
    let (multiplier, _) = read(
        lookup,
        &mut problems,
        RETRY_BACKOFF_MULTIPLIER,
        ALLOWED_MULTIPLIER,
        |t| {
            f64::from_str(t)
                .ok()
                .filter(|m| m.is_finite() && (1.0..=10.0).contains(m))
        },
    );
    let (max_delay, max_delay_text) = read(
        lookup,
        &mut problems,
        RETRY_MAX_DELAY_SECONDS,
        ALLOWED_MAX_DELAY,
        delay,
    );
    let (max_elapsed, _) = read(
        lookup,
        &mut problems,
        RETRY_MAX_ELAPSED_SECONDS,
        ALLOWED_MAX_ELAPSED,
        |t| seconds(t).filter(|d| !d.is_zero() && *d <= ENV_MAX_DURATION),
    );
    let (jitter, _) = read(lookup, &mut problems, RETRY_JITTER, ALLOWED_JITTER, |t| {
        Jitter::from_str(t).ok()
    });
    let default = RetryPolicy::DEFAULT;

    // The cross-field check, only between values that are valid on their own.
    if let (Some(b), Some(m)) = (
        base.or(default.base_delay()),
        max_delay.or(default.max_delay()),
    ) && m < b
    {
        problems.push(match (max_delay_text, base_text) {
            (Some(text), _) => invalid(
                RETRY_MAX_DELAY_SECONDS,
                &text,
                &format!(
                    "a number of seconds from the base delay ({}) to 600",
                    b.as_secs_f64()
                ),
            ),
            // The max delay is the default: the variable to fix is the base delay.
            (None, Some(text)) => invalid(
                RETRY_DELAY_SECONDS,
                &text,
                &format!(
                    "a number of seconds from 1 to the max delay ({}, the default of the unset {RETRY_MAX_DELAY_SECONDS})",
                    m.as_secs_f64()
                ),
            ),
            // Both unset: retry-core's defaults, which are consistent.
            (None, None) => ConfigProblem::new(
                RETRY_MAX_DELAY_SECONDS,
                "the default max delay is below the default base delay",
            ),
        });
    }
    problems.sort_by_key(|p| ORDER.iter().position(|name| *name == p.variable));
    if !problems.is_empty() {
        return Err(problems);
    }

    let mut builder = RetryPolicy::builder();
    if let Read::Valid(v) = retries {
        builder = builder.max_retries(v);
    }
    if let Read::Valid(v) = base {
        builder = builder.base_delay(v);
    }
    if let Read::Valid(v) = multiplier {
        builder = builder.backoff_multiplier(v);
    }
    if let Read::Valid(v) = max_delay {
        builder = builder.max_delay(v);
    }
    if let Read::Valid(v) = max_elapsed {
        builder = builder.max_elapsed(v);
    }
    if let Read::Valid(v) = jitter {
        builder = builder.jitter(v);
    }
    // The environment limits are inside retry-core's bounds, so this only
    // fails if they drift apart; report it rather than hide it.
    builder
        .build()
        .map_err(|e| vec![ConfigProblem::new(MAX_RETRIES, e.to_string())])
}

/// One variable as read, and its text when it was set; a set value that
/// `parse` refuses is reported with `allowed`.
fn read<T>(
    lookup: &impl Fn(&str) -> Option<String>,
    problems: &mut Vec<ConfigProblem>,
    name: &'static str,
    allowed: &str,
    parse: impl Fn(&str) -> Option<T>,
) -> (Read<T>, Option<String>) {
    let Some(text) = lookup(name) else {
        return (Read::Unset, None);
    };
    match parse(&text) {
        Some(value) => (Read::Valid(value), Some(text)),
        None => {
            problems.push(invalid(name, &text, allowed));
            (Read::Invalid, Some(text))
        }
    }
}

/// A delay variable: seconds from 1 to 600.
fn delay(text: &str) -> Option<Duration> {
    seconds(text).filter(|d| (ENV_MIN_DELAY..=ENV_MAX_DURATION).contains(d))
}

/// `NAME="text" is invalid: expected <allowed>`, the wording of every
/// retry variable. The value is quoted and escaped as `Debug` does, and
/// bounded: a newline must not forge a line of the problem list, nor an
/// escape sequence reach the operator's terminal (found by the `config`
/// fuzz target).
fn invalid(name: &str, text: &str, allowed: &str) -> ConfigProblem {
    let (shown, cut) = match text.char_indices().nth(64) {
        Some((end, _)) => (&text[..end], "…"),
        None => (text, ""),
    };
    ConfigProblem::new(
        name,
        format!("{name}={shown:?}{cut} is invalid: expected {allowed}"),
    )
}

/// A non-negative, finite number of seconds; range checks happen after.
fn seconds(text: &str) -> Option<Duration> {
    let secs = f64::from_str(text).ok()?;
    if !secs.is_finite() || secs < 0.0 {
        return None;
    }
    Duration::try_from_secs_f64(secs).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_vars(vars: &[(&str, &str)]) -> Result<RetryPolicy, Vec<ConfigProblem>> {
        parse_retry(&|name: &str| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        })
    }

    fn messages(vars: &[(&str, &str)]) -> Vec<String> {
        read_vars(vars)
            .unwrap_err()
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn nothing_set_gives_the_defaults() {
        assert_eq!(read_vars(&[]).unwrap(), RetryPolicy::default());
    }

    #[test]
    fn good_values_are_all_applied() {
        let p = read_vars(&[
            ("MAX_RETRIES", "3"),
            ("RETRY_DELAY_SECONDS", "2.5"),
            ("RETRY_BACKOFF_MULTIPLIER", "1.5"),
            ("RETRY_MAX_DELAY_SECONDS", "30"),
            ("RETRY_MAX_ELAPSED_SECONDS", "90"),
            ("RETRY_JITTER", "decorrelated"),
        ])
        .unwrap();
        assert_eq!(p.max_retries(), 3);
        assert_eq!(p.base_delay(), Duration::from_millis(2500));
        assert_eq!(p.backoff_multiplier(), 1.5);
        assert_eq!(p.max_delay(), Duration::from_secs(30));
        assert_eq!(p.max_elapsed(), Duration::from_secs(90));
        assert_eq!(p.jitter(), Jitter::Decorrelated);
    }

    #[test]
    fn the_edges_of_the_environment_limits_are_accepted() {
        let p = read_vars(&[
            ("MAX_RETRIES", "10"),
            ("RETRY_DELAY_SECONDS", "1"),
            ("RETRY_MAX_DELAY_SECONDS", "600"),
            ("RETRY_MAX_ELAPSED_SECONDS", "600"),
            ("RETRY_BACKOFF_MULTIPLIER", "10"),
        ])
        .unwrap();
        assert_eq!(p.max_attempts(), 11);
        assert_eq!(p.base_delay(), ENV_MIN_DELAY);
        assert_eq!(p.max_elapsed(), ENV_MAX_DURATION);
    }

    #[test]
    fn malformed_max_retries_are_errors_naming_the_variable() {
        // 11 and 100 are fine for retry-core in code; the environment stops at 10.
        for bad in ["abc", "-1", "11", "100", "", "2.0", " 3"] {
            let problems = read_vars(&[("MAX_RETRIES", bad)]).unwrap_err();
            assert_eq!(problems.len(), 1, "{bad}: {problems:?}");
            assert_eq!(problems[0].variable, "MAX_RETRIES");
            assert_eq!(
                problems[0].to_string(),
                format!("MAX_RETRIES=\"{bad}\" is invalid: expected an integer from 0 to 10")
            );
        }
    }

    #[test]
    fn malformed_seconds_are_errors_naming_the_variable() {
        for bad in ["abc", "-1", "0.5", "0.001", "", "NaN", "inf", "601", "1e9"] {
            let problems = read_vars(&[("RETRY_DELAY_SECONDS", bad)]).unwrap_err();
            assert_eq!(problems.len(), 1, "{bad}: {problems:?}");
            assert_eq!(problems[0].variable, "RETRY_DELAY_SECONDS", "{bad}");
            assert!(
                problems[0]
                    .to_string()
                    .starts_with(&format!("RETRY_DELAY_SECONDS=\"{bad}\" is invalid")),
                "{}",
                problems[0]
            );
        }
        assert_eq!(
            messages(&[("RETRY_DELAY_SECONDS", "abc")]),
            ["RETRY_DELAY_SECONDS=\"abc\" is invalid: expected a number of seconds from 1 to 600"]
        );
    }

    #[test]
    fn each_variable_states_its_own_range() {
        for (name, value, text) in [
            (
                "RETRY_BACKOFF_MULTIPLIER",
                "abc",
                "RETRY_BACKOFF_MULTIPLIER=\"abc\" is invalid: expected a finite number from 1 to 10",
            ),
            (
                "RETRY_MAX_DELAY_SECONDS",
                "-1",
                "RETRY_MAX_DELAY_SECONDS=\"-1\" is invalid: expected a number of seconds from 1 to 600, and at least the base delay",
            ),
            (
                "RETRY_MAX_ELAPSED_SECONDS",
                "601",
                "RETRY_MAX_ELAPSED_SECONDS=\"601\" is invalid: expected a number of seconds greater than 0, at most 600",
            ),
            (
                "RETRY_JITTER",
                "random",
                "RETRY_JITTER=\"random\" is invalid: expected one of none, proportional, full, equal, decorrelated",
            ),
        ] {
            assert_eq!(messages(&[(name, value)]), [text]);
        }
    }

    #[test]
    fn every_problem_is_reported_at_once_in_variable_order() {
        let problems = read_vars(&[
            ("RETRY_JITTER", "nope"),
            ("MAX_RETRIES", "11"),
            ("RETRY_DELAY_SECONDS", "0.5"),
            ("RETRY_BACKOFF_MULTIPLIER", "0"),
            ("RETRY_MAX_DELAY_SECONDS", "abc"),
            ("RETRY_MAX_ELAPSED_SECONDS", "0"),
        ])
        .unwrap_err();
        let names: Vec<&str> = problems.iter().map(|p| p.variable.as_str()).collect();
        assert_eq!(names, ORDER);
    }

    #[test]
    fn max_delay_below_base_delay_is_reported_on_the_variable_that_was_set() {
        assert_eq!(
            messages(&[
                ("RETRY_DELAY_SECONDS", "10"),
                ("RETRY_MAX_DELAY_SECONDS", "5"),
            ]),
            [
                "RETRY_MAX_DELAY_SECONDS=\"5\" is invalid: expected a number of seconds from the base delay (10) to 600"
            ]
        );
        assert_eq!(
            messages(&[("RETRY_DELAY_SECONDS", "200")]),
            [
                "RETRY_DELAY_SECONDS=\"200\" is invalid: expected a number of seconds from 1 to the max delay (120, the default of the unset RETRY_MAX_DELAY_SECONDS)"
            ]
        );
        // Reported in variable order, after a problem of an earlier variable.
        let problems = read_vars(&[
            ("RETRY_DELAY_SECONDS", "200"),
            ("MAX_RETRIES", "x"),
            ("RETRY_BACKOFF_MULTIPLIER", "x"),
        ])
        .unwrap_err();
        let names: Vec<&str> = problems.iter().map(|p| p.variable.as_str()).collect();
        assert_eq!(
            names,
            [
                "MAX_RETRIES",
                "RETRY_DELAY_SECONDS",
                "RETRY_BACKOFF_MULTIPLIER"
            ]
        );
    }

    #[test]
    fn an_invalid_value_does_not_cause_a_spurious_cross_field_error() {
        for vars in [
            [
                ("RETRY_DELAY_SECONDS", "abc"),
                ("RETRY_MAX_DELAY_SECONDS", "3"),
            ],
            [
                ("RETRY_DELAY_SECONDS", "700"),
                ("RETRY_MAX_DELAY_SECONDS", "3"),
            ],
            [
                ("RETRY_DELAY_SECONDS", "30"),
                ("RETRY_MAX_DELAY_SECONDS", "0.5"),
            ],
        ] {
            let problems = read_vars(&vars).unwrap_err();
            assert_eq!(problems.len(), 1, "{vars:?}: {problems:?}");
        }
    }
}
