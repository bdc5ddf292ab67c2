//! The shared retry budget's settings.
//!
//! NOTE: being replaced by the windowed budget (see docs/configuration.md).

use retry_core::{MAX_BUDGET_TOKENS, RetryBudget};

use crate::problem::ConfigProblem;

/// `RETRY_BUDGET_MAX_TOKENS`: size of the shared retry budget; 0 disables it.
pub const BUDGET_MAX_TOKENS: &str = "RETRY_BUDGET_MAX_TOKENS";
/// `RETRY_BUDGET_TOKEN_RATIO`: tokens regained per success.
pub const BUDGET_TOKEN_RATIO: &str = "RETRY_BUDGET_TOKEN_RATIO";

/// Parameters of the shared retry budget (gRPC retry throttling).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BudgetSetting {
    /// Tokens in a full bucket; retries stop while at most half remain.
    pub max_tokens: u32,
    /// Tokens returned by each successful attempt.
    pub token_ratio: f64,
}

impl BudgetSetting {
    /// 100 tokens, 0.1 per success: a single signal can always use its whole
    /// schedule, but once about 50 attempts have failed more than ten times
    /// as often as they succeeded, retries stop until successes refill it.
    pub const DEFAULT: BudgetSetting = BudgetSetting {
        max_tokens: 100,
        token_ratio: 0.1,
    };

    /// Builds the shared budget.
    pub fn build(&self) -> Result<RetryBudget, retry_core::PolicyError> {
        RetryBudget::new(self.max_tokens, self.token_ratio)
    }
}

pub(crate) fn parse_budget(
    lookup: &impl Fn(&str) -> Option<String>,
) -> Result<Option<BudgetSetting>, Vec<ConfigProblem>> {
    let mut problems = Vec::new();
    let max_tokens = match lookup(BUDGET_MAX_TOKENS) {
        None => Some(BudgetSetting::DEFAULT.max_tokens),
        Some(v) => match v.trim().parse::<u32>() {
            Ok(n) if n <= MAX_BUDGET_TOKENS => Some(n),
            _ => {
                problems.push(ConfigProblem {
                    variable: BUDGET_MAX_TOKENS.to_owned(),
                    message: format!(
                        "{v:?} is invalid; expected an integer from 0 (budget off) to {MAX_BUDGET_TOKENS}, default 100"
                    ),
                });
                None
            }
        },
    };
    let token_ratio = match lookup(BUDGET_TOKEN_RATIO) {
        None => Some(BudgetSetting::DEFAULT.token_ratio),
        Some(v) => match v.trim().parse::<f64>() {
            Ok(r) if r.is_finite() && r > 0.0 && r <= 1.0 => Some(r),
            _ => {
                problems.push(ConfigProblem {
                    variable: BUDGET_TOKEN_RATIO.to_owned(),
                    message: format!(
                        "{v:?} is invalid; expected a number greater than 0 and at most 1, default 0.1"
                    ),
                });
                None
            }
        },
    };
    match (max_tokens, token_ratio) {
        (Some(0), Some(_)) if problems.is_empty() => Ok(None),
        (Some(max_tokens), Some(token_ratio)) if problems.is_empty() => {
            let setting = BudgetSetting {
                max_tokens,
                token_ratio,
            };
            // Validate with retry-core's own rules so both layers agree.
            setting.build().map(|_| Some(setting)).map_err(|e| {
                vec![ConfigProblem {
                    variable: BUDGET_MAX_TOKENS.to_owned(),
                    message: e.to_string(),
                }]
            })
        }
        _ => Err(problems),
    }
}

/// The budget's lines of the `check-config` listing.
pub(crate) fn describe(budget: Option<&BudgetSetting>) -> Vec<(&'static str, String)> {
    match budget {
        None => vec![(BUDGET_MAX_TOKENS, "0".to_owned())],
        Some(b) => vec![
            (BUDGET_MAX_TOKENS, b.max_tokens.to_string()),
            (BUDGET_TOKEN_RATIO, b.token_ratio.to_string()),
        ],
    }
}
