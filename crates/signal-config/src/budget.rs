//! The shared retry budget's settings (see docs/configuration.md, "The
//! retry budget"): a share of first attempts plus a floor per second, over a
//! sliding window. A refusal defers a retry; it never fails a signal.

use std::time::Duration;

use retry_core::{MAX_BUDGET_MIN_PER_SECOND, MAX_BUDGET_PERCENT, MAX_BUDGET_WINDOW, RetryBudget};

use crate::problem::ConfigProblem;
use crate::values::shown;

use crate::names::{
    RETRY_BUDGET as BUDGET, RETRY_BUDGET_MIN_PER_SECOND as BUDGET_MIN_PER_SECOND,
    RETRY_BUDGET_PERCENT as BUDGET_PERCENT, RETRY_BUDGET_WINDOW_SECONDS as BUDGET_WINDOW_SECONDS,
};

/// The shared retry budget: on or off, and its three parameters (see
/// docs/configuration.md, "The retry budget").
///
/// Every value is kept even when the budget is off, so that a `NAME=value`
/// listing shows what was read: [`BudgetSetting::vars`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BudgetSetting {
    /// `RETRY_BUDGET`: `on` (the default) or `off`.
    pub enabled: bool,
    /// `RETRY_BUDGET_PERCENT`: retries allowed as a percentage of the first
    /// attempts in the window (1 to 1000).
    pub percent: u32,
    /// `RETRY_BUDGET_MIN_PER_SECOND`: retries always allowed per second of
    /// the window (1 to 10000).
    pub min_per_second: u32,
    /// `RETRY_BUDGET_WINDOW_SECONDS`: the sliding window (1 to 600).
    pub window_seconds: u32,
}

impl BudgetSetting {
    /// On; 30 % of first attempts plus 10 retries per second, over 10 s
    /// (retry-core's [`RetryBudget`] defaults).
    pub const DEFAULT: BudgetSetting = BudgetSetting {
        enabled: true,
        percent: RetryBudget::DEFAULT_PERCENT,
        min_per_second: RetryBudget::DEFAULT_MIN_PER_SECOND,
        window_seconds: 10,
    };

    /// Builds the shared budget, or `None` when it is off.
    ///
    /// # Errors
    /// retry-core's own check of the parameters (values from
    /// [`parse_budget`] always pass it).
    pub fn build(&self) -> Result<Option<RetryBudget>, retry_core::PolicyError> {
        if !self.enabled {
            return Ok(None);
        }
        RetryBudget::new(
            self.percent,
            self.min_per_second,
            Duration::from_secs(u64::from(self.window_seconds)),
        )
        .map(Some)
    }

    /// The four variables and their values, for a `NAME=value` listing:
    /// `RETRY_BUDGET=on|off` first, then the parameters.
    pub fn vars(&self) -> [(&'static str, String); 4] {
        [
            (BUDGET, if self.enabled { "on" } else { "off" }.to_owned()),
            (BUDGET_PERCENT, self.percent.to_string()),
            (BUDGET_MIN_PER_SECOND, self.min_per_second.to_string()),
            (BUDGET_WINDOW_SECONDS, self.window_seconds.to_string()),
        ]
    }
}

impl Default for BudgetSetting {
    fn default() -> Self {
        BudgetSetting::DEFAULT
    }
}

/// Reads the `RETRY_BUDGET*` variables through `lookup`, every problem at
/// once. Unset means the default; a set value (empty included) must be
/// valid, and each error names the variable, the value, the allowed values
/// and the default. The parameters are checked even when the budget is off.
/// (A variable of the old token-bucket budget is refused by [`crate::Env`],
/// with what replaced it.)
///
/// ```
/// use signal_config::{BudgetSetting, parse_budget};
///
/// let env = |name: &str| (name == "RETRY_BUDGET_PERCENT").then(|| "50".to_owned());
/// let setting = parse_budget(&env).unwrap();
/// assert_eq!(setting, BudgetSetting { percent: 50, ..BudgetSetting::DEFAULT });
///
/// ```
///
/// # Errors
/// Every [`ConfigProblem`] found, in variable order.
pub fn parse_budget(
    lookup: &impl Fn(&str) -> Option<String>,
) -> Result<BudgetSetting, Vec<ConfigProblem>> {
    let mut problems = Vec::new();
    let enabled = match lookup(BUDGET) {
        None => Some(true),
        Some(value) => match value.trim().to_ascii_lowercase().as_str() {
            "on" => Some(true),
            "off" => Some(false),
            _ => {
                problems.push(ConfigProblem {
                    variable: BUDGET.to_owned(),
                    message: format!(
                        "{BUDGET}={:?} is invalid; expected on or off, default on",
                        shown(&value)
                    ),
                });
                None
            }
        },
    };
    let default = BudgetSetting::DEFAULT;
    let mut number = |name: &'static str, max: u32, default: u32, unit: &str| {
        budget_number(&lookup, name, max, default, unit)
            .map_err(|problem| problems.push(problem))
            .ok()
    };
    let percent = number(
        BUDGET_PERCENT,
        MAX_BUDGET_PERCENT,
        default.percent,
        " (percent of first attempts)",
    );
    let min_per_second = number(
        BUDGET_MIN_PER_SECOND,
        MAX_BUDGET_MIN_PER_SECOND,
        default.min_per_second,
        " (retries per second)",
    );
    let max_window = u32::try_from(MAX_BUDGET_WINDOW.as_secs()).unwrap_or(u32::MAX);
    let window_seconds = number(
        BUDGET_WINDOW_SECONDS,
        max_window,
        default.window_seconds,
        " (seconds)",
    );
    match (enabled, percent, min_per_second, window_seconds) {
        (Some(enabled), Some(percent), Some(min_per_second), Some(window_seconds))
            if problems.is_empty() =>
        {
            Ok(BudgetSetting {
                enabled,
                percent,
                min_per_second,
                window_seconds,
            })
        }
        _ => Err(problems),
    }
}

/// One budget parameter: an integer from 1 to `max`, `default` when unset.
fn budget_number(
    lookup: &impl Fn(&str) -> Option<String>,
    name: &str,
    max: u32,
    default: u32,
    unit: &str,
) -> Result<u32, ConfigProblem> {
    let Some(value) = lookup(name) else {
        return Ok(default);
    };
    match value.trim().parse::<u32>() {
        Ok(n) if (1..=max).contains(&n) => Ok(n),
        _ => Err(ConfigProblem {
            variable: name.to_owned(),
            message: format!(
                "{name}={:?} is invalid; expected an integer from 1 to {max}{unit}, default {default}",
                shown(&value)
            ),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn budget(vars: &[(&str, &str)]) -> Result<BudgetSetting, Vec<ConfigProblem>> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        parse_budget(&|name: &str| vars.get(name).cloned())
    }

    fn budget_messages(vars: &[(&str, &str)]) -> Vec<String> {
        budget(vars)
            .unwrap_err()
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn budget_defaults_when_nothing_is_set() {
        let setting = budget(&[]).unwrap();
        assert_eq!(setting, BudgetSetting::DEFAULT);
        assert_eq!(setting, BudgetSetting::default());
        assert_eq!(
            (
                setting.enabled,
                setting.percent,
                setting.min_per_second,
                setting.window_seconds
            ),
            (true, 30, 10, 10)
        );
        let built = setting.build().unwrap().unwrap();
        assert_eq!(built.percent(), 30);
        assert_eq!(built.min_per_second(), 10);
        assert_eq!(built.window(), Duration::from_secs(10));
    }

    #[test]
    fn budget_values_at_the_edges_of_their_ranges_are_read() {
        for (percent, per_second, window) in [("1", "1", "1"), ("1000", "10000", "600")] {
            let setting = budget(&[
                ("RETRY_BUDGET", "on"),
                ("RETRY_BUDGET_PERCENT", percent),
                ("RETRY_BUDGET_MIN_PER_SECOND", per_second),
                ("RETRY_BUDGET_WINDOW_SECONDS", window),
            ])
            .unwrap();
            assert_eq!(setting.percent.to_string(), percent);
            assert_eq!(setting.min_per_second.to_string(), per_second);
            assert_eq!(setting.window_seconds.to_string(), window);
            assert!(setting.build().unwrap().is_some());
        }
    }

    #[test]
    fn budget_off_builds_nothing_and_still_lists_every_value() {
        let setting = budget(&[("RETRY_BUDGET", "off"), ("RETRY_BUDGET_PERCENT", "50")]).unwrap();
        assert!(!setting.enabled);
        assert!(setting.build().unwrap().is_none());
        let listing: Vec<String> = setting
            .vars()
            .iter()
            .map(|(name, value)| format!("{name}={value}"))
            .collect();
        assert_eq!(
            listing,
            [
                "RETRY_BUDGET=off",
                "RETRY_BUDGET_PERCENT=50",
                "RETRY_BUDGET_MIN_PER_SECOND=10",
                "RETRY_BUDGET_WINDOW_SECONDS=10"
            ]
        );
        assert!(!budget(&[("RETRY_BUDGET", "OFF")]).unwrap().enabled);
    }

    #[test]
    fn a_bad_budget_value_names_variable_value_range_and_default() {
        let cases = [
            (
                "RETRY_BUDGET",
                "",
                "RETRY_BUDGET=\"\" is invalid; expected on or off, default on",
            ),
            (
                "RETRY_BUDGET",
                "false",
                "RETRY_BUDGET=\"false\" is invalid; expected on or off, default on",
            ),
            (
                "RETRY_BUDGET_PERCENT",
                "0",
                "RETRY_BUDGET_PERCENT=\"0\" is invalid; expected an integer from 1 to 1000 (percent of first attempts), default 30",
            ),
            (
                "RETRY_BUDGET_PERCENT",
                "1001",
                "RETRY_BUDGET_PERCENT=\"1001\" is invalid; expected an integer from 1 to 1000 (percent of first attempts), default 30",
            ),
            (
                "RETRY_BUDGET_PERCENT",
                "",
                "RETRY_BUDGET_PERCENT=\"\" is invalid; expected an integer from 1 to 1000 (percent of first attempts), default 30",
            ),
            (
                "RETRY_BUDGET_MIN_PER_SECOND",
                "0",
                "RETRY_BUDGET_MIN_PER_SECOND=\"0\" is invalid; expected an integer from 1 to 10000 (retries per second), default 10",
            ),
            (
                "RETRY_BUDGET_MIN_PER_SECOND",
                "2.5",
                "RETRY_BUDGET_MIN_PER_SECOND=\"2.5\" is invalid; expected an integer from 1 to 10000 (retries per second), default 10",
            ),
            (
                "RETRY_BUDGET_WINDOW_SECONDS",
                "601",
                "RETRY_BUDGET_WINDOW_SECONDS=\"601\" is invalid; expected an integer from 1 to 600 (seconds), default 10",
            ),
            (
                "RETRY_BUDGET_WINDOW_SECONDS",
                "-1",
                "RETRY_BUDGET_WINDOW_SECONDS=\"-1\" is invalid; expected an integer from 1 to 600 (seconds), default 10",
            ),
        ];
        for (name, value, message) in cases {
            let problems = budget(&[(name, value)]).unwrap_err();
            assert_eq!(problems.len(), 1, "{name}={value:?}: {problems:?}");
            assert_eq!(problems[0].variable, name);
            assert_eq!(problems[0].to_string(), message);
        }
        // A bad parameter is an error even with the budget off.
        assert_eq!(
            budget_messages(&[("RETRY_BUDGET", "off"), ("RETRY_BUDGET_PERCENT", "x")]).len(),
            1
        );
    }

    // Found by the `config` fuzz target: the value was echoed whole.
    #[test]
    fn a_long_budget_value_is_cut_in_the_message() {
        let long = format!("100{}", "\0".repeat(5000));
        for name in ["RETRY_BUDGET", "RETRY_BUDGET_PERCENT"] {
            let problems = budget(&[(name, &long)]).unwrap_err();
            let message = problems[0].to_string();
            assert!(message.len() < 600, "{} bytes: {message}", message.len());
            assert!(
                message.starts_with(&format!("{name}=\"100\\0\\0")),
                "{message}"
            );
            assert!(message.contains("…\" is invalid"), "{message}");
        }
    }

    #[test]
    fn every_budget_problem_is_reported_at_once_in_variable_order() {
        let problems = budget(&[
            ("RETRY_BUDGET_WINDOW_SECONDS", "0"),
            ("RETRY_BUDGET", "maybe"),
            ("RETRY_BUDGET_PERCENT", "abc"),
            ("RETRY_BUDGET_MIN_PER_SECOND", "10001"),
        ])
        .unwrap_err();
        let names: Vec<&str> = problems.iter().map(|p| p.variable.as_str()).collect();
        assert_eq!(
            names,
            [
                "RETRY_BUDGET",
                "RETRY_BUDGET_PERCENT",
                "RETRY_BUDGET_MIN_PER_SECOND",
                "RETRY_BUDGET_WINDOW_SECONDS",
            ]
        );
    }
}
