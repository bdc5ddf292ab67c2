//! A retry budget: a token bucket shared by every retry loop of a process,
//! following gRPC's retry throttling.
//!
//! # Why a budget, and not only a retry limit
//!
//! A per-call limit such as "at most 5 retries" bounds what one caller does,
//! not what the fleet does. When a dependency goes down, every caller fails
//! at once and every caller retries: with 5 retries each, an outage turns one
//! unit of traffic into six, aimed at the one service that is struggling. Its
//! recovery is then delayed by the very clients waiting for it (a *retry
//! storm*), and the longer the outage, the bigger the wave that hits it when
//! it comes back. Jitter spreads that wave out in time, but does not make it
//! smaller.
//!
//! A budget makes retries depend on how the *whole* process is doing. Every
//! failure costs a token, every success earns back a fraction of one, and
//! retries are allowed only while more than half of the tokens are left.
//! When failures are rare, the budget stays full and retries behave as the
//! policy says, so isolated blips are still absorbed. When most calls fail,
//! the budget drains within a few failures and retries stop: the process
//! sends roughly its normal traffic, not a multiple of it, and the caller
//! gets a distinct [`GiveUpReason::BudgetExhausted`](crate::GiveUpReason)
//! error to alert on. As successes return, tokens return, and so do retries.
//!
//! This is the design of gRPC's retry throttling (gRFC A6); Finagle and tower
//! use a related time-windowed ratio.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::policy_error::PolicyError;

/// Tokens are counted in thousandths, the precision gRPC specifies for the
/// ratio, so the bucket fits in one atomic integer.
const SCALE: f64 = 1000.0;

/// The largest allowed `max_tokens` (gRPC's limit).
pub const MAX_BUDGET_TOKENS: u32 = 1000;

/// A shared token bucket that refuses retries when too many calls fail.
///
/// Lock-free (one atomic); share it by reference or in an `Arc` between all
/// the retry loops that call the same dependency. It starts full.
///
/// ```
/// use retry_core::RetryBudget;
///
/// let budget = RetryBudget::new(10, 0.1)?; // the recommended defaults
/// assert!(budget.can_retry());
/// for _ in 0..5 {
///     budget.record_failure();
/// }
/// assert_eq!(budget.tokens(), 5.0);
/// assert!(!budget.can_retry()); // no retries at or below half
/// for _ in 0..10 {
///     budget.record_success();
/// }
/// assert!(budget.can_retry());
/// # Ok::<(), retry_core::PolicyError>(())
/// ```
#[derive(Debug)]
pub struct RetryBudget {
    /// Current tokens, in thousandths.
    milli_tokens: AtomicU64,
    max_milli_tokens: u64,
    ratio_milli_tokens: u64,
}

impl RetryBudget {
    /// Recommended `max_tokens` (gRPC's example configuration).
    pub const DEFAULT_MAX_TOKENS: u32 = 10;
    /// Recommended `token_ratio`: ten successes earn back one failure.
    pub const DEFAULT_TOKEN_RATIO: f64 = 0.1;

    /// A full bucket of `max_tokens` (1 to 1000) that earns back
    /// `token_ratio` tokens per success (0.001 to `max_tokens`; precision
    /// beyond three decimals is rounded away).
    pub fn new(max_tokens: u32, token_ratio: f64) -> Result<RetryBudget, PolicyError> {
        if !(1..=MAX_BUDGET_TOKENS).contains(&max_tokens) {
            return Err(PolicyError::new(
                "max_tokens",
                max_tokens.to_string(),
                "an integer from 1 to 1000",
            ));
        }
        if !(token_ratio.is_finite() && (0.001..=f64::from(max_tokens)).contains(&token_ratio)) {
            return Err(PolicyError::new(
                "token_ratio",
                token_ratio.to_string(),
                format!("a number from 0.001 to max_tokens ({max_tokens})"),
            ));
        }
        let max_milli_tokens = u64::from(max_tokens) * 1000;
        // In range by the checks above, so the cast cannot truncate.
        let ratio_milli_tokens = (token_ratio * SCALE).round() as u64;
        Ok(RetryBudget {
            milli_tokens: AtomicU64::new(max_milli_tokens),
            max_milli_tokens,
            ratio_milli_tokens,
        })
    }

    /// A failed attempt: one token less (never below zero).
    pub fn record_failure(&self) {
        self.update(|t| t.saturating_sub(1000));
    }

    /// A successful call: `token_ratio` tokens more (never above the maximum).
    pub fn record_success(&self) {
        let (ratio, max) = (self.ratio_milli_tokens, self.max_milli_tokens);
        self.update(|t| t.saturating_add(ratio).min(max));
    }

    /// Whether a retry is allowed: more than half of `max_tokens` are left.
    pub fn can_retry(&self) -> bool {
        self.milli_tokens.load(Ordering::Acquire).saturating_mul(2) > self.max_milli_tokens
    }

    /// Tokens currently in the bucket.
    pub fn tokens(&self) -> f64 {
        self.milli_tokens.load(Ordering::Acquire) as f64 / SCALE
    }

    /// The bucket's capacity.
    pub fn max_tokens(&self) -> f64 {
        self.max_milli_tokens as f64 / SCALE
    }

    fn update(&self, f: impl Fn(u64) -> u64) {
        // The closure always returns Some, so this cannot fail.
        let _ = self
            .milli_tokens
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |t| Some(f(t)));
    }
}

impl Default for RetryBudget {
    /// [`DEFAULT_MAX_TOKENS`](Self::DEFAULT_MAX_TOKENS) tokens,
    /// [`DEFAULT_TOKEN_RATIO`](Self::DEFAULT_TOKEN_RATIO) per success.
    fn default() -> Self {
        let max_milli_tokens = u64::from(Self::DEFAULT_MAX_TOKENS) * 1000;
        RetryBudget {
            milli_tokens: AtomicU64::new(max_milli_tokens),
            max_milli_tokens,
            ratio_milli_tokens: 100,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starts_full_and_stops_retries_at_half() {
        let budget = RetryBudget::default();
        assert_eq!(budget.tokens(), 10.0);
        assert_eq!(budget.max_tokens(), 10.0);
        for _ in 0..4 {
            budget.record_failure();
        }
        assert!(budget.can_retry()); // 6 > 5
        budget.record_failure();
        assert!(!budget.can_retry()); // 5 is not > 5
    }

    #[test]
    fn tokens_never_go_below_zero_or_above_the_maximum() {
        let budget = RetryBudget::new(3, 0.5).unwrap();
        for _ in 0..10 {
            budget.record_failure();
        }
        assert_eq!(budget.tokens(), 0.0);
        for _ in 0..100 {
            budget.record_success();
        }
        assert_eq!(budget.tokens(), 3.0);
    }

    #[test]
    fn successes_earn_retries_back() {
        let budget = RetryBudget::new(10, 0.1).unwrap();
        for _ in 0..10 {
            budget.record_failure();
        }
        assert!(!budget.can_retry());
        for _ in 0..51 {
            budget.record_success();
        }
        assert!((budget.tokens() - 5.1).abs() < 1e-9);
        assert!(budget.can_retry());
    }

    #[test]
    fn invalid_parameters_are_typed_errors() {
        assert_eq!(RetryBudget::new(0, 0.1).unwrap_err().field(), "max_tokens");
        assert_eq!(
            RetryBudget::new(1001, 0.1).unwrap_err().field(),
            "max_tokens"
        );
        for ratio in [0.0, -1.0, f64::NAN, f64::INFINITY, 11.0] {
            assert_eq!(
                RetryBudget::new(10, ratio).unwrap_err().field(),
                "token_ratio"
            );
        }
    }

    #[test]
    fn is_shared_across_threads() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<RetryBudget>();
        let budget = RetryBudget::new(1000, 1.0).unwrap();
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| {
                    for _ in 0..100 {
                        budget.record_failure();
                    }
                });
            }
        });
        assert_eq!(budget.tokens(), 600.0);
    }
}
