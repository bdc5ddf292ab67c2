//! The after-failure decision as a pure function, shared by the in-memory
//! loop ([`crate::Retry`]) and by persisted schedules (an outbox worker that
//! makes one attempt per claim and stores the next attempt time).
//!
//! Keeping the rules in one function means both paths give up for the same
//! reasons at the same points: a restarted worker that continues a stored
//! schedule behaves exactly like an uninterrupted retry loop.

use std::time::Duration;

use crate::budget::RetryBudget;
use crate::classify::Retryability;
use crate::observer::GiveUpReason;
use crate::policy::RetryPolicy;

/// What to do after a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub enum RetryDecision {
    /// Try again after this delay.
    RetryAfter(Duration),
    /// Stop: the signal cannot be delivered under this policy.
    GiveUp(GiveUpReason),
}

/// Decides what follows failed attempt number `failed_attempt` (1-based),
/// `elapsed` after the first attempt started.
///
/// The rules, in order (the same as [`crate::Retry`]'s loop):
///
/// 1. [`Permanent`](Retryability::Permanent): give up with
///    [`GiveUpReason::Permanent`]; no budget token is spent.
/// 2. With a `budget`, the failure costs a token
///    ([`RetryBudget::record_failure`]); this is the function's only side
///    effect, and it happens on the budget the caller passes in.
/// 3. If `failed_attempt >= policy.max_attempts()`:
///    [`GiveUpReason::Exhausted`].
/// 4. If the budget now refuses retries: [`GiveUpReason::BudgetExhausted`].
/// 5. The next delay is `next_delay()` (the policy's backoff; `None` means the
///    backoff has no more delays: [`GiveUpReason::Exhausted`]). A
///    [`RetryAfter`](Retryability::RetryAfter) hint replaces it when longer.
///    `next_delay` is called exactly when this step is reached, so a caller
///    drawing from a stateful [`crate::Backoff`] keeps its sequence intact.
/// 6. If `elapsed + delay` would pass `policy.max_elapsed()`:
///    [`GiveUpReason::DeadlineExceeded`].
/// 7. Otherwise: [`RetryDecision::RetryAfter`] that delay.
///
/// A persisted schedule passes the stored attempt count and the time since
/// its chosen start, and computes the delay with
/// [`calculate_backoff_delay`](crate::calculate_backoff_delay) for retry
/// number `failed_attempt - 1`.
///
/// ```
/// use std::time::Duration;
/// use retry_core::{
///     GiveUpReason, Jitter, RetryDecision, RetryPolicy, Retryability, decide_after_failure,
/// };
///
/// let policy = RetryPolicy::builder().jitter(Jitter::None).build()?; // 5 retries, 5 s base
/// let five = || Some(Duration::from_secs(5));
///
/// // A transient failure early on: retry after the backoff delay.
/// let next = decide_after_failure(&policy, 1, Duration::ZERO, Retryability::Transient, None, five);
/// assert_eq!(next, RetryDecision::RetryAfter(Duration::from_secs(5)));
///
/// // A server hint longer than the backoff wins.
/// let hint = Retryability::RetryAfter(Duration::from_secs(30));
/// let next = decide_after_failure(&policy, 1, Duration::ZERO, hint, None, five);
/// assert_eq!(next, RetryDecision::RetryAfter(Duration::from_secs(30)));
///
/// // The last allowed attempt failed.
/// let next = decide_after_failure(&policy, 6, Duration::ZERO, Retryability::Transient, None, five);
/// assert_eq!(next, RetryDecision::GiveUp(GiveUpReason::Exhausted));
///
/// // Permanent errors are never retried.
/// let next = decide_after_failure(&policy, 1, Duration::ZERO, Retryability::Permanent, None, five);
/// assert_eq!(next, RetryDecision::GiveUp(GiveUpReason::Permanent));
///
/// // The retry would end past max_elapsed (600 s by default).
/// let late = Duration::from_secs(599);
/// let next = decide_after_failure(&policy, 2, late, Retryability::Transient, None, five);
/// assert_eq!(next, RetryDecision::GiveUp(GiveUpReason::DeadlineExceeded));
/// # Ok::<(), retry_core::PolicyError>(())
/// ```
pub fn decide_after_failure(
    policy: &RetryPolicy,
    failed_attempt: u32,
    elapsed: Duration,
    retryability: Retryability,
    budget: Option<&RetryBudget>,
    next_delay: impl FnOnce() -> Option<Duration>,
) -> RetryDecision {
    let hint = match retryability {
        Retryability::Permanent => return RetryDecision::GiveUp(GiveUpReason::Permanent),
        Retryability::Transient => None,
        Retryability::RetryAfter(hint) => Some(hint),
    };
    if let Some(budget) = budget {
        budget.record_failure();
    }
    if failed_attempt >= policy.max_attempts() {
        return RetryDecision::GiveUp(GiveUpReason::Exhausted);
    }
    if budget.is_some_and(|b| !b.can_retry()) {
        return RetryDecision::GiveUp(GiveUpReason::BudgetExhausted);
    }
    let Some(computed) = next_delay() else {
        return RetryDecision::GiveUp(GiveUpReason::Exhausted);
    };
    let delay = hint.map_or(computed, |hint| hint.max(computed));
    let ends_in_time = elapsed
        .checked_add(delay)
        .is_some_and(|end| end <= policy.max_elapsed());
    if !ends_in_time {
        return RetryDecision::GiveUp(GiveUpReason::DeadlineExceeded);
    }
    RetryDecision::RetryAfter(delay)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jitter::Jitter;

    fn policy() -> RetryPolicy {
        RetryPolicy::builder()
            .max_retries(2)
            .jitter(Jitter::None)
            .build()
            .unwrap()
    }

    #[test]
    fn permanent_spends_no_budget_and_does_not_draw_a_delay() {
        let budget = RetryBudget::new(10, 0.1).unwrap();
        let next = decide_after_failure(
            &policy(),
            1,
            Duration::ZERO,
            Retryability::Permanent,
            Some(&budget),
            || panic!("no delay needed"),
        );
        assert_eq!(next, RetryDecision::GiveUp(GiveUpReason::Permanent));
        assert_eq!(budget.tokens(), 10.0);
    }

    #[test]
    fn exhausted_is_checked_before_the_budget() {
        let budget = RetryBudget::new(2, 0.1).unwrap();
        let next = decide_after_failure(
            &policy(),
            3,
            Duration::ZERO,
            Retryability::Transient,
            Some(&budget),
            || None,
        );
        assert_eq!(next, RetryDecision::GiveUp(GiveUpReason::Exhausted));
        assert_eq!(budget.tokens(), 1.0);
    }

    #[test]
    fn a_drained_budget_refuses() {
        let budget = RetryBudget::new(2, 0.1).unwrap();
        let next = decide_after_failure(
            &policy(),
            1,
            Duration::ZERO,
            Retryability::Transient,
            Some(&budget),
            || Some(Duration::from_secs(1)),
        );
        assert_eq!(next, RetryDecision::GiveUp(GiveUpReason::BudgetExhausted));
    }

    #[test]
    fn no_more_delays_means_exhausted_and_deadline_is_inclusive() {
        let p = policy();
        let next =
            decide_after_failure(&p, 1, Duration::ZERO, Retryability::Transient, None, || {
                None
            });
        assert_eq!(next, RetryDecision::GiveUp(GiveUpReason::Exhausted));
        let at_limit = p.max_elapsed() - Duration::from_secs(5);
        let next = decide_after_failure(&p, 1, at_limit, Retryability::Transient, None, || {
            Some(Duration::from_secs(5))
        });
        assert_eq!(next, RetryDecision::RetryAfter(Duration::from_secs(5)));
        let next =
            decide_after_failure(&p, 1, Duration::MAX, Retryability::Transient, None, || {
                Some(Duration::from_secs(5))
            });
        assert_eq!(next, RetryDecision::GiveUp(GiveUpReason::DeadlineExceeded));
    }
}
