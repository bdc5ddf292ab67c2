//! The retry loop: sync and async drivers around one decision procedure, so
//! both paths give up for the same reasons at the same points.

use std::fmt;
use std::future::Future;
use std::pin::pin;
use std::task::Poll;
use std::time::Duration;

use crate::budget::RetryBudget;
use crate::classify::{Classify, Retryability};
use crate::engine::{Engine, Hooks, Next};
use crate::error::{AttemptTimedOut, RetryError};
use crate::observer::{DeferEvent, GiveUpEvent, RetryEvent, RetryObserver};
use crate::policy::RetryPolicy;
use crate::rng::{RandomSource, ThreadRandom};
use crate::sleep::{AsyncSleeper, Sleeper, ThreadSleeper};
use crate::time::{Clock, SystemClock};

/// One retry loop, configured with chainable calls and consumed by a `run_*`.
///
/// For each failed attempt, in this order (the rules of
/// [`decide_after_failure`](crate::decide_after_failure), which persisted schedules use too):
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
/// the deferral ([`decide_after_refusal`](crate::decide_after_refusal): 0.5 s to 1.5 s, never past
/// `max_elapsed`) and asks again. A deferral is not an attempt: the
/// operation is not called and the attempt count does not move. Only if the
/// deadline comes while the budget still refuses does the loop end, with
/// [`RetryError::BudgetExhausted`]: the budget held the retry back until the
/// deadline.
///
/// The sync path allocates nothing per attempt; the operation name is copied
/// into the error once, on give-up.
///
/// [`Retryable`](crate::Retryable) and [`BlockingRetryable`](crate::BlockingRetryable)
/// run the same loop in backon's shape (`op.retry(policy).when(..).await`);
/// `Retry` is the form that hands the operation its attempt number and takes
/// a [`RetryObserver`].
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
pub struct Retry<'a, E, C = SystemClock, R = ThreadRandom> {
    policy: &'a RetryPolicy,
    operation: &'a str,
    observer: Option<&'a (dyn RetryObserver<E> + Sync)>,
    budget: Option<&'a RetryBudget>,
    clock: C,
    rng: R,
}

impl<'a, E> Retry<'a, E> {
    /// A loop on the system clock with jitter from [`ThreadRandom`], no
    /// observer and no budget.
    pub fn new(policy: &'a RetryPolicy, operation: &'a str) -> Self {
        Retry {
            policy,
            operation,
            observer: None,
            budget: None,
            clock: SystemClock,
            rng: ThreadRandom,
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

    /// Draws jitter from `rng` (a seeded [`SplitMix64`](crate::SplitMix64)
    /// makes runs repeatable).
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
        op: impl FnMut(u32) -> Result<T, E>,
    ) -> Result<T, RetryError<E>>
    where
        E: Classify,
    {
        self.start().run_blocking(sleeper, op)
    }

    /// Like [`run_blocking`](Self::run_blocking), awaiting `sleeper` between
    /// attempts. The future is `Send` when `E`, `T`, the attempt futures, the
    /// clock and the rng are `Send` and the sleeper is `Sync`, so it can be
    /// spawned.
    ///
    /// Not an `async fn`, so that the future is the loop's own, not a second
    /// one holding `self` and `op` again around it.
    pub fn run_async<T, Fut>(
        self,
        sleeper: &impl AsyncSleeper,
        op: impl FnMut(u32) -> Fut,
    ) -> impl Future<Output = Result<T, RetryError<E>>>
    where
        E: Classify,
        Fut: Future<Output = Result<T, E>>,
    {
        self.start().run_async(sleeper, op)
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
        let mut state = self.start();
        let mut next = Next::Attempt;
        loop {
            next = match next {
                Next::Attempt => {
                    let timeout = attempt_timeout.min(state.remaining());
                    match race(op(state.attempt()), sleeper.sleep(timeout)).await {
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

impl<'a, E, C: Clock, R: RandomSource> Retry<'a, E, C, R> {
    fn start(self) -> Engine<C, R, &'a RetryBudget, &'a str, Observed<'a, E>> {
        Engine::start(
            *self.policy,
            self.rng,
            self.clock,
            self.budget,
            self.operation,
            Observed(self.observer),
        )
    }
}

/// [`Retry`]'s hooks: the error's own [`Classify`], and the observer if any.
struct Observed<'a, E>(Option<&'a (dyn RetryObserver<E> + Sync)>);

impl<E: Classify> Hooks<E> for Observed<'_, E> {
    fn retryability(&mut self, error: &E) -> Retryability {
        error.retryability()
    }

    fn on_retry(&mut self, event: &RetryEvent<'_, E>) {
        if let Some(observer) = self.0 {
            observer.on_retry(event);
        }
    }

    fn on_defer(&mut self, event: &DeferEvent<'_, E>) {
        if let Some(observer) = self.0 {
            observer.on_defer(event);
        }
    }

    fn on_give_up(&mut self, event: &GiveUpEvent<'_, E>) {
        if let Some(observer) = self.0 {
            observer.on_give_up(event);
        }
    }
}

/// Retries `op` under `policy`, sleeping the thread between attempts.
///
/// The simple entry point: system clock, no observer, no budget. Use
/// [`Retry`] or [`BlockingRetryable`](crate::BlockingRetryable) for more
/// control (and for tests without sleeps).
pub fn with_retry<T, E: Classify>(
    policy: &RetryPolicy,
    operation: &str,
    op: impl FnMut(u32) -> Result<T, E>,
) -> Result<T, RetryError<E>> {
    Retry::new(policy, operation).run_blocking(&ThreadSleeper, op)
}

/// Retries the futures made by `op` under `policy`, awaiting `sleeper`
/// between attempts (system clock, no observer, no budget).
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
