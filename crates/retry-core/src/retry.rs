//! The retry loop: sync and async drivers around one decision procedure, so
//! both paths give up for the same reasons at the same points.

use std::fmt;
use std::future::Future;
use std::pin::pin;
use std::task::Poll;
use std::time::{Duration, Instant};

use crate::backoff::Backoff;
use crate::budget::RetryBudget;
use crate::classify::{Classify, Retryability};
use crate::decision::{RetryDecision, decide_after_failure, decide_after_refusal};
use crate::error::{AttemptTimedOut, RetryError};
use crate::observer::{DeferEvent, GiveUpEvent, GiveUpReason, RetryEvent, RetryObserver};
use crate::policy::RetryPolicy;
use crate::rng::{RandomSource, SplitMix64};
use crate::sleep::{AsyncSleeper, Sleeper, ThreadSleeper};
use crate::time::{Clock, SystemClock};

/// One retry loop, configured with chainable calls and consumed by a `run_*`.
///
/// For each failed attempt, in this order (the rules of
/// [`decide_after_failure`], which persisted schedules use too):
///
/// 1. A [`Permanent`](Retryability::Permanent) error ends the loop at once.
/// 2. If that was attempt `max_attempts`, the loop ends: [`RetryError::Exhausted`].
/// 3. The next delay comes from the policy's backoff; a
///    [`RetryAfter`](Retryability::RetryAfter) hint replaces it when longer (the
///    hint is never shortened and not capped by `max_delay`).
/// 4. If elapsed time plus that delay would pass `max_elapsed`, the loop ends
///    *before* sleeping: [`RetryError::DeadlineExceeded`].
/// 5. The observer and a `tracing` trace event see the retry; then the sleep.
///
/// With a [budget](Self::budget), the loop deposits once before the first
/// attempt and withdraws right before each retry. When the budget refuses,
/// the retry is *deferred*: the observer's
/// [`on_defer`](RetryObserver::on_defer) hears of it, the loop sleeps for
/// the deferral ([`decide_after_refusal`]: 0.5 s to 1.5 s, never past
/// `max_elapsed`) and asks again. A deferral is not an attempt: the
/// operation is not called and the attempt count does not move. Only if the
/// deadline comes while the budget still refuses does the loop end, with
/// [`RetryError::BudgetExhausted`]: the budget held the retry back until the
/// deadline.
///
/// The sync path allocates nothing per attempt; the operation name is copied
/// into the error once, on give-up.
///
/// ```
/// use std::time::Duration;
/// use retry_core::{Classify, ManualClock, Retry, RetryPolicy, Retryability, SplitMix64};
///
/// #[derive(Debug)]
/// struct Busy;
/// impl Classify for Busy {
///     fn retryability(&self) -> Retryability {
///         Retryability::RetryAfter(Duration::from_secs(30))
///     }
/// }
///
/// let clock = ManualClock::new();
/// let policy = RetryPolicy::default();
/// let value = Retry::new(&policy, "post_signal")
///     .clock(&clock)
///     .rng(SplitMix64::new(1))
///     .run_blocking(&|d| clock.advance(d), |attempt| if attempt == 1 { Err(Busy) } else { Ok("sent") })
///     .unwrap();
/// assert_eq!(value, "sent");
/// assert_eq!(clock.elapsed(), Duration::from_secs(30)); // the server's hint, not 5 s
/// ```
pub struct Retry<'a, E, C = SystemClock, R = SplitMix64> {
    policy: &'a RetryPolicy,
    operation: &'a str,
    observer: Option<&'a (dyn RetryObserver<E> + Sync)>,
    budget: Option<&'a RetryBudget>,
    clock: C,
    rng: R,
}

impl<'a, E> Retry<'a, E> {
    /// A loop on the system clock with entropy-seeded jitter, no observer and
    /// no budget.
    pub fn new(policy: &'a RetryPolicy, operation: &'a str) -> Self {
        Retry {
            policy,
            operation,
            observer: None,
            budget: None,
            clock: SystemClock,
            rng: SplitMix64::from_entropy(),
        }
    }
}

impl<E, C: fmt::Debug, R> fmt::Debug for Retry<'_, E, C, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Retry")
            .field("policy", self.policy)
            .field("operation", &self.operation)
            .field("observer", &self.observer.is_some())
            .field("budget", &self.budget)
            .field("clock", &self.clock)
            .finish_non_exhaustive()
    }
}

impl<'a, E, C: Clock, R: RandomSource> Retry<'a, E, C, R> {
    /// Reports every retry and the give-up to `observer`.
    pub fn observer(mut self, observer: &'a (dyn RetryObserver<E> + Sync)) -> Self {
        self.observer = Some(observer);
        self
    }

    /// Draws on a shared retry budget (see [`RetryBudget`]): a deposit before
    /// the first attempt, a withdrawal before each retry, deferrals while it
    /// refuses. The budget reads time from this loop's [clock](Self::clock).
    pub fn budget(mut self, budget: &'a RetryBudget) -> Self {
        self.budget = Some(budget);
        self
    }

    /// Measures the deadline with `clock` (a `&ManualClock` in tests,
    /// `TokioClock` on tokio's paused clock).
    pub fn clock<C2: Clock>(self, clock: C2) -> Retry<'a, E, C2, R> {
        Retry {
            policy: self.policy,
            operation: self.operation,
            observer: self.observer,
            budget: self.budget,
            clock,
            rng: self.rng,
        }
    }

    /// Draws jitter from `rng` (a seeded [`SplitMix64`] makes runs repeatable).
    pub fn rng<R2: RandomSource>(self, rng: R2) -> Retry<'a, E, C, R2> {
        Retry {
            policy: self.policy,
            operation: self.operation,
            observer: self.observer,
            budget: self.budget,
            clock: self.clock,
            rng,
        }
    }

    /// Runs `op` until it succeeds or the loop gives up, blocking in
    /// `sleeper` between attempts. `op` receives the 1-based attempt number.
    pub fn run_blocking<T>(
        self,
        sleeper: &impl Sleeper,
        mut op: impl FnMut(u32) -> Result<T, E>,
    ) -> Result<T, RetryError<E>>
    where
        E: Classify,
    {
        let mut state = State::start(self);
        let mut next = Next::Attempt;
        loop {
            next = match next {
                Next::Attempt => match op(state.attempt) {
                    Ok(value) => return Ok(value),
                    Err(error) => state.failed(error),
                },
                Next::Wait(delay, error) => {
                    sleeper.sleep(delay);
                    state.waited(error)
                }
                Next::GiveUp(error) => return Err(error),
            };
        }
    }

    /// Like [`run_blocking`](Self::run_blocking), awaiting `sleeper` between
    /// attempts. The future is `Send` when `E`, `T`, the attempt futures, the
    /// clock and the rng are `Send` and the sleeper is `Sync`, so it can be
    /// spawned.
    pub async fn run_async<T, Fut>(
        self,
        sleeper: &impl AsyncSleeper,
        mut op: impl FnMut(u32) -> Fut,
    ) -> Result<T, RetryError<E>>
    where
        E: Classify,
        Fut: Future<Output = Result<T, E>>,
    {
        let mut state = State::start(self);
        let mut next = Next::Attempt;
        loop {
            next = match next {
                Next::Attempt => match op(state.attempt).await {
                    Ok(value) => return Ok(value),
                    Err(error) => state.failed(error),
                },
                Next::Wait(delay, error) => {
                    sleeper.sleep(delay).await;
                    state.waited(error)
                }
                Next::GiveUp(error) => return Err(error),
            };
        }
    }

    /// Like [`run_async`](Self::run_async), but an attempt that takes longer
    /// than `attempt_timeout` is abandoned (its future dropped) and counts as
    /// a failure with `E::from(AttemptTimedOut)`, which is transient.
    ///
    /// The timeout is clamped to the time left before `max_elapsed`, so a slow
    /// last attempt cannot carry the loop past its deadline; the error then
    /// reports the clamped duration. The race is a small hand-written select
    /// on `sleeper`, so no runtime is required; the attempt is polled first,
    /// so an attempt that is ready when the timer fires still wins. When a
    /// retry's delay ended exactly at the deadline, the next attempt starts
    /// with no time left: it is polled once (an immediately ready result
    /// still counts) and otherwise times out at once, and the loop then gives
    /// up with [`RetryError::DeadlineExceeded`].
    pub async fn run_async_with_timeout<T, Fut>(
        self,
        sleeper: &impl AsyncSleeper,
        attempt_timeout: Duration,
        mut op: impl FnMut(u32) -> Fut,
    ) -> Result<T, RetryError<E>>
    where
        E: Classify + From<AttemptTimedOut>,
        Fut: Future<Output = Result<T, E>>,
    {
        let mut state = State::start(self);
        let mut next = Next::Attempt;
        loop {
            next = match next {
                Next::Attempt => {
                    let timeout = attempt_timeout.min(state.remaining());
                    match race(op(state.attempt), sleeper.sleep(timeout)).await {
                        Some(Ok(value)) => return Ok(value),
                        Some(Err(error)) => state.failed(error),
                        None => state.failed(E::from(AttemptTimedOut { after: timeout })),
                    }
                }
                Next::Wait(delay, error) => {
                    sleeper.sleep(delay).await;
                    state.waited(error)
                }
                Next::GiveUp(error) => return Err(error),
            };
        }
    }
}

/// `Some(output)` if `work` finishes first, `None` if `timer` does.
async fn race<T>(work: impl Future<Output = T>, timer: impl Future<Output = ()>) -> Option<T> {
    let mut work = pin!(work);
    let mut timer = pin!(timer);
    std::future::poll_fn(move |cx| {
        if let Poll::Ready(output) = work.as_mut().poll(cx) {
            return Poll::Ready(Some(output));
        }
        if timer.as_mut().poll(cx).is_ready() {
            return Poll::Ready(None);
        }
        Poll::Pending
    })
    .await
}

/// The loop's next step.
enum Next<E> {
    /// Make attempt number `State::attempt`.
    Attempt,
    /// Sleep, then ask whether the retry may go; the error is the last
    /// attempt's, kept for the give-up that may follow.
    Wait(Duration, E),
    /// Stop with this error.
    GiveUp(RetryError<E>),
}

/// The loop's state between attempts, shared by every driver.
struct State<'a, E, C, R> {
    policy: &'a RetryPolicy,
    operation: &'a str,
    observer: Option<&'a (dyn RetryObserver<E> + Sync)>,
    budget: Option<&'a RetryBudget>,
    clock: C,
    backoff: Backoff<R>,
    started: Instant,
    /// The 1-based number of the latest attempt made (or, before it is
    /// made, about to be made): the attempt count of a give-up.
    attempt: u32,
    /// Refusals of the retry now due.
    deferrals: u32,
}

impl<'a, E: Classify, C: Clock, R: RandomSource> State<'a, E, C, R> {
    fn start(retry: Retry<'a, E, C, R>) -> Self {
        let started = retry.clock.now();
        if let Some(budget) = retry.budget {
            budget.deposit(started);
        }
        State {
            policy: retry.policy,
            operation: retry.operation,
            observer: retry.observer,
            budget: retry.budget,
            backoff: retry.policy.backoff(retry.rng),
            clock: retry.clock,
            started,
            attempt: 1,
            deferrals: 0,
        }
    }

    fn elapsed(&self) -> Duration {
        self.clock.now().saturating_duration_since(self.started)
    }

    fn remaining(&self) -> Duration {
        self.policy.max_elapsed().saturating_sub(self.elapsed())
    }

    fn failed(&mut self, error: E) -> Next<E> {
        let retryability = error.retryability();
        let elapsed = self.elapsed();
        let backoff = &mut self.backoff;
        // Always draw from the backoff when the decision needs a delay, hint
        // or not, so that a hint does not shift which delay the following
        // retries get.
        let decision =
            decide_after_failure(self.policy, self.attempt, elapsed, retryability, || {
                backoff.next()
            });
        let delay = match decision {
            RetryDecision::RetryAfter(delay) => delay,
            RetryDecision::GiveUp(reason) => return self.give_up(reason, error),
        };
        let server_hint = matches!(retryability, Retryability::RetryAfter(_));
        let attempt = self.attempt;
        // TRACE, not DEBUG: the caller's observer is where a retry is logged with
        // its error (E needs no Display here), so a service logs one event per retry.
        tracing::trace!(
            operation = self.operation,
            attempt,
            delay_ms = millis(delay),
            elapsed_ms = millis(elapsed),
            server_hint,
            "attempt failed; retrying"
        );
        if let Some(observer) = self.observer {
            observer.on_retry(&RetryEvent {
                operation: self.operation,
                attempt,
                delay,
                error: &error,
                elapsed,
            });
        }
        Next::Wait(delay, error)
    }

    /// A wait is over: the next attempt goes if the budget (if any) allows
    /// it; otherwise it is deferred, or given up at the deadline.
    fn waited(&mut self, error: E) -> Next<E> {
        let Some(budget) = self.budget else {
            return self.admit();
        };
        let now = self.clock.now();
        if budget.try_withdraw(now) {
            return self.admit();
        }
        let elapsed = now.saturating_duration_since(self.started);
        let delay = match decide_after_refusal(self.policy, elapsed, self.backoff.rng_mut()) {
            RetryDecision::RetryAfter(delay) => delay,
            RetryDecision::GiveUp(reason) => return self.give_up(reason, error),
        };
        self.deferrals = self.deferrals.saturating_add(1);
        let attempt = self.attempt.saturating_add(1);
        tracing::trace!(
            operation = self.operation,
            attempt,
            deferrals = self.deferrals,
            delay_ms = millis(delay),
            elapsed_ms = millis(elapsed),
            "retry budget refused; deferring the retry"
        );
        if let Some(observer) = self.observer {
            observer.on_defer(&DeferEvent {
                operation: self.operation,
                attempt,
                delay,
                deferrals: self.deferrals,
                error: &error,
                elapsed,
            });
        }
        Next::Wait(delay, error)
    }

    fn admit(&mut self) -> Next<E> {
        self.attempt = self.attempt.saturating_add(1);
        self.deferrals = 0;
        Next::Attempt
    }

    fn give_up(&self, reason: GiveUpReason, error: E) -> Next<E> {
        let elapsed = self.elapsed();
        tracing::trace!(
            operation = self.operation,
            attempts = self.attempt,
            elapsed_ms = millis(elapsed),
            reason = reason.as_str(),
            "giving up"
        );
        if let Some(observer) = self.observer {
            observer.on_give_up(&GiveUpEvent {
                operation: self.operation,
                attempts: self.attempt,
                elapsed,
                reason,
                error: &error,
            });
        }
        Next::GiveUp(RetryError::new(
            reason,
            self.attempt,
            elapsed,
            error,
            self.operation,
        ))
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Retries `op` under `policy`, sleeping the thread between attempts.
///
/// The simple entry point: system clock, entropy-seeded jitter, no observer,
/// no budget. Use [`Retry`] for more control (and for tests without sleeps).
pub fn with_retry<T, E: Classify>(
    policy: &RetryPolicy,
    operation: &str,
    op: impl FnMut(u32) -> Result<T, E>,
) -> Result<T, RetryError<E>> {
    Retry::new(policy, operation).run_blocking(&ThreadSleeper, op)
}

/// Retries the futures made by `op` under `policy`, awaiting `sleeper`
/// between attempts (system clock, entropy-seeded jitter).
pub async fn retry_async<T, E: Classify, Fut>(
    policy: &RetryPolicy,
    operation: &str,
    sleeper: &impl AsyncSleeper,
    op: impl FnMut(u32) -> Fut,
) -> Result<T, RetryError<E>>
where
    Fut: Future<Output = Result<T, E>>,
{
    Retry::new(policy, operation).run_async(sleeper, op).await
}
