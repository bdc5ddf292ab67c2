//! The retry decisions as pure functions, shared by the in-memory loop
//! ([`crate::Retry`]) and by persisted schedules (an outbox worker that
//! makes one attempt per claim and stores the next attempt time).
//!
//! Keeping the rules in one place means both paths give up for the same
//! reasons at the same points: a restarted worker that continues a stored
//! schedule behaves exactly like an uninterrupted retry loop.
//!
//! Two decisions, at two moments:
//!
//! 1. After a failed attempt, [`decide_after_failure`] schedules the retry
//!    (or gives up). It does not ask the budget: a retry is only *due* then.
//! 2. When a retry is due, the caller asks the shared
//!    [`RetryBudget`](crate::RetryBudget) with
//!    [`try_withdraw`](crate::RetryBudget::try_withdraw). If it refuses,
//!    [`decide_after_refusal`] defers the retry (no attempt is made or
//!    counted) or, once the deadline has come, gives up with
//!    [`GiveUpReason::BudgetExhausted`].
//!
//! Asking at the moment of the retry, not when scheduling it, is what makes
//! a refusal a real deferral: the budget paces the retries that are actually
//! sent, and a retry scheduled in a calm moment still waits if it falls due
//! in a storm.

use std::time::Duration;

use crate::classify::Retryability;
use crate::observer::GiveUpReason;
use crate::policy::RetryPolicy;
use crate::rng::RandomSource;

/// The nominal wait of a retry that the budget refused, before it asks
/// again. Each deferral waits this times a random factor from 0.5 to 1.5 (so
/// 0.5 s to 1.5 s), which spreads the refused retries of an outage instead
/// of bringing them back in one wave; and never past the deadline.
///
/// One second is a tenth of the default window, the granularity at which the
/// window frees retries: asking more often would find nothing new, asking
/// much less often would leave freed retries unused.
pub const BUDGET_DEFERRAL: Duration = Duration::from_secs(1);

/// What to do after a failed attempt, or when a due retry was refused.
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
///    [`GiveUpReason::Permanent`].
/// 2. If `failed_attempt >= policy.max_attempts()`:
///    [`GiveUpReason::Exhausted`].
/// 3. The next delay is `next_delay()` (the policy's backoff; `None` means the
///    backoff has no more delays: [`GiveUpReason::Exhausted`]). A
///    [`RetryAfter`](Retryability::RetryAfter) hint replaces it when longer.
///    `next_delay` is called exactly when this step is reached, so a caller
///    drawing from a stateful [`crate::Backoff`] keeps its sequence intact.
/// 4. If `elapsed + delay` would pass `policy.max_elapsed()`:
///    [`GiveUpReason::DeadlineExceeded`].
/// 5. Otherwise: [`RetryDecision::RetryAfter`] that delay.
///
/// The retry budget is not consulted here: the caller asks it
/// ([`RetryBudget::try_withdraw`](crate::RetryBudget::try_withdraw)) when
/// the retry is due, and on a refusal decides with [`decide_after_refusal`].
/// Asking at that moment, not when scheduling, is what makes a refusal a
/// real deferral: the budget paces the retries actually sent.
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
/// let next = decide_after_failure(&policy, 1, Duration::ZERO, Retryability::Transient, five);
/// assert_eq!(next, RetryDecision::RetryAfter(Duration::from_secs(5)));
///
/// // A server hint longer than the backoff wins.
/// let hint = Retryability::RetryAfter(Duration::from_secs(30));
/// let next = decide_after_failure(&policy, 1, Duration::ZERO, hint, five);
/// assert_eq!(next, RetryDecision::RetryAfter(Duration::from_secs(30)));
///
/// // The last allowed attempt failed.
/// let next = decide_after_failure(&policy, 6, Duration::ZERO, Retryability::Transient, five);
/// assert_eq!(next, RetryDecision::GiveUp(GiveUpReason::Exhausted));
///
/// // Permanent errors are never retried.
/// let next = decide_after_failure(&policy, 1, Duration::ZERO, Retryability::Permanent, five);
/// assert_eq!(next, RetryDecision::GiveUp(GiveUpReason::Permanent));
///
/// // The retry would end past max_elapsed (600 s by default).
/// let late = Duration::from_secs(599);
/// let next = decide_after_failure(&policy, 2, late, Retryability::Transient, five);
/// assert_eq!(next, RetryDecision::GiveUp(GiveUpReason::DeadlineExceeded));
/// # Ok::<(), retry_core::PolicyError>(())
/// ```
#[inline]
pub fn decide_after_failure(
    policy: &RetryPolicy,
    failed_attempt: u32,
    elapsed: Duration,
    retryability: Retryability,
    next_delay: impl FnOnce() -> Option<Duration>,
) -> RetryDecision {
    let hint = match retryability {
        Retryability::Permanent => return RetryDecision::GiveUp(GiveUpReason::Permanent),
        Retryability::Transient => None,
        Retryability::RetryAfter(hint) => Some(hint),
    };
    if failed_attempt >= policy.max_attempts() {
        return RetryDecision::GiveUp(GiveUpReason::Exhausted);
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

/// Decides what follows when the budget refused a retry that was due,
/// `elapsed` after the first attempt started (for a persisted schedule: after
/// its chosen start, as for [`decide_after_failure`]).
///
/// - While time is left before `policy.max_elapsed()`: defer, that is
///   [`RetryDecision::RetryAfter`] a [`BUDGET_DEFERRAL`] drawn from `rng`
///   (0.5 s to 1.5 s), cut to the time left, so the last question is asked
///   right at the deadline. Then ask the budget again. A deferral is not an
///   attempt: nothing is sent and nothing is counted.
/// - At or past the deadline: [`GiveUpReason::BudgetExhausted`]. The signal
///   is given up because the budget held its retry back until the deadline,
///   not because a retry was refused once.
///
/// ```
/// use std::time::Duration;
/// use retry_core::{
///     GiveUpReason, RetryDecision, RetryPolicy, SplitMix64, decide_after_refusal,
/// };
///
/// let policy = RetryPolicy::default(); // deadline 600 s
/// let mut rng = SplitMix64::new(1);
///
/// let RetryDecision::RetryAfter(wait) = decide_after_refusal(&policy, Duration::from_secs(20), &mut rng)
/// else { panic!("time is left: defer") };
/// assert!(wait >= Duration::from_millis(500) && wait < Duration::from_millis(1500));
///
/// // 0.2 s before the deadline: wait exactly that long, then ask once more.
/// let late = Duration::from_millis(599_800);
/// let next = decide_after_refusal(&policy, late, &mut rng);
/// assert_eq!(next, RetryDecision::RetryAfter(Duration::from_millis(200)));
///
/// let next = decide_after_refusal(&policy, Duration::from_secs(600), &mut rng);
/// assert_eq!(next, RetryDecision::GiveUp(GiveUpReason::BudgetExhausted));
/// ```
pub fn decide_after_refusal(
    policy: &RetryPolicy,
    elapsed: Duration,
    rng: &mut impl RandomSource,
) -> RetryDecision {
    let left = policy.max_elapsed().saturating_sub(elapsed);
    if left.is_zero() {
        return RetryDecision::GiveUp(GiveUpReason::BudgetExhausted);
    }
    RetryDecision::RetryAfter(deferral(rng).min(left))
}

/// [`BUDGET_DEFERRAL`] times a factor uniform in [0.5, 1.5).
fn deferral(rng: &mut impl RandomSource) -> Duration {
    // The constant is 1 s, far from u64::MAX nanoseconds.
    let nominal = u64::try_from(BUDGET_DEFERRAL.as_nanos()).unwrap_or(u64::MAX);
    let spread = rng.next_u64() % nominal.max(1);
    Duration::from_nanos((nominal / 2).saturating_add(spread))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jitter::Jitter;
    use crate::rng::SplitMix64;

    fn policy() -> RetryPolicy {
        RetryPolicy::builder()
            .max_retries(2)
            .jitter(Jitter::None)
            .build()
            .unwrap()
    }

    #[test]
    fn permanent_does_not_draw_a_delay() {
        let next = decide_after_failure(
            &policy(),
            1,
            Duration::ZERO,
            Retryability::Permanent,
            || panic!("no delay needed"),
        );
        assert_eq!(next, RetryDecision::GiveUp(GiveUpReason::Permanent));
    }

    #[test]
    fn the_last_attempt_is_exhausted_without_drawing_a_delay() {
        let next = decide_after_failure(
            &policy(),
            3,
            Duration::ZERO,
            Retryability::Transient,
            || panic!("no delay needed"),
        );
        assert_eq!(next, RetryDecision::GiveUp(GiveUpReason::Exhausted));
    }

    #[test]
    fn no_more_delays_means_exhausted_and_deadline_is_inclusive() {
        let p = policy();
        let next = decide_after_failure(&p, 1, Duration::ZERO, Retryability::Transient, || None);
        assert_eq!(next, RetryDecision::GiveUp(GiveUpReason::Exhausted));
        let at_limit = p.max_elapsed() - Duration::from_secs(5);
        let next = decide_after_failure(&p, 1, at_limit, Retryability::Transient, || {
            Some(Duration::from_secs(5))
        });
        assert_eq!(next, RetryDecision::RetryAfter(Duration::from_secs(5)));
        let next = decide_after_failure(&p, 1, Duration::MAX, Retryability::Transient, || {
            Some(Duration::from_secs(5))
        });
        assert_eq!(next, RetryDecision::GiveUp(GiveUpReason::DeadlineExceeded));
    }

    #[test]
    fn deferrals_spread_from_half_to_one_and_a_half_times_the_nominal_wait() {
        let p = RetryPolicy::default();
        let mut rng = SplitMix64::new(5);
        let waits: Vec<Duration> = (0..2000)
            .map(
                |_| match decide_after_refusal(&p, Duration::ZERO, &mut rng) {
                    RetryDecision::RetryAfter(wait) => wait,
                    RetryDecision::GiveUp(reason) => panic!("gave up: {reason}"),
                },
            )
            .collect();
        let (low, high) = (Duration::from_millis(500), Duration::from_millis(1500));
        assert!(waits.iter().all(|w| (low..high).contains(w)));
        let mean = waits.iter().sum::<Duration>() / 2000;
        assert!(
            (Duration::from_millis(970)..Duration::from_millis(1030)).contains(&mean),
            "{mean:?}"
        );
        assert!(waits.iter().any(|w| *w < Duration::from_millis(600)));
        assert!(waits.iter().any(|w| *w > Duration::from_millis(1400)));
    }

    #[test]
    fn a_refusal_at_or_past_the_deadline_gives_up_with_the_budget_reason() {
        let p = policy();
        let mut rng = SplitMix64::new(1);
        for elapsed in [p.max_elapsed(), p.max_elapsed() * 2, Duration::MAX] {
            assert_eq!(
                decide_after_refusal(&p, elapsed, &mut rng),
                RetryDecision::GiveUp(GiveUpReason::BudgetExhausted)
            );
        }
        let just_before = p.max_elapsed() - Duration::from_nanos(1);
        assert_eq!(
            decide_after_refusal(&p, just_before, &mut rng),
            RetryDecision::RetryAfter(Duration::from_nanos(1))
        );
    }
}
