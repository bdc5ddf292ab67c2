//! The retry loop's state between attempts, shared by every driver
//! ([`crate::Retry`]'s `run_*`, [`crate::BlockingRetry::call`] and the
//! [`crate::AsyncRetry`]'s `poll`), so all of them give up for the same reasons at
//! the same points. The rules themselves are [`decide_after_failure`] and
//! [`decide_after_refusal`]; this file only keeps the state they need.

use std::borrow::Borrow;
use std::future::Future;
use std::time::{Duration, Instant};

use crate::backoff::Backoff;
use crate::budget::RetryBudget;
use crate::classify::Retryability;
use crate::decision::{RetryDecision, decide_after_failure, decide_after_refusal};
use crate::error::RetryError;
use crate::observer::{DeferEvent, GiveUpEvent, GiveUpReason, RetryEvent};
use crate::policy::RetryPolicy;
use crate::rng::RandomSource;
use crate::sleep::{AsyncSleeper, Sleeper};
use crate::time::Clock;

/// What the caller plugs into the loop: how an error is classified, a
/// server hint read from it, and who hears of retries and give-ups.
pub(crate) trait Hooks<E> {
    /// How the loop should treat `error`.
    fn retryability(&mut self, error: &E) -> Retryability;

    /// A server hint for the retry after `error`, given the backoff delay:
    /// treated like [`Retryability::RetryAfter`] (the longer delay wins).
    fn adjust(&mut self, error: &E, delay: Duration) -> Option<Duration> {
        let _ = (error, delay);
        None
    }

    /// A retry is about to wait `event.delay`.
    fn on_retry(&mut self, event: &RetryEvent<'_, E>) {
        let _ = event;
    }

    /// The budget refused the due retry.
    fn on_defer(&mut self, event: &DeferEvent<'_, E>) {
        let _ = event;
    }

    /// The loop gave up.
    fn on_give_up(&mut self, event: &GiveUpEvent<'_, E>) {
        let _ = event;
    }
}

/// The loop's next step.
pub(crate) enum Next<E> {
    /// Make attempt number [`Engine::attempt`].
    Attempt,
    /// Sleep, then call [`Engine::waited`]; the error is the last attempt's,
    /// kept for the give-up that may follow.
    Wait(Duration, E),
    /// Stop with this error.
    GiveUp(RetryError<E>),
}

/// One running loop: the policy's backoff, the deadline's start, the
/// attempt count and the budget handle.
pub(crate) struct Engine<C, R, B, O, H> {
    policy: RetryPolicy,
    backoff: Backoff<R>,
    clock: C,
    budget: Option<B>,
    operation: O,
    hooks: H,
    started: Instant,
    /// The 1-based number of the latest attempt made (or, before it is
    /// made, about to be made): the attempt count of a give-up.
    attempt: u32,
    /// Refusals of the retry now due.
    deferrals: u32,
}

impl<C, R, B, O, H> Engine<C, R, B, O, H>
where
    C: Clock,
    R: RandomSource,
    B: Borrow<RetryBudget>,
    O: AsRef<str>,
{
    /// Starts the deadline now and deposits the first attempt in the budget.
    #[inline]
    pub(crate) fn start(
        policy: RetryPolicy,
        rng: R,
        clock: C,
        budget: Option<B>,
        operation: O,
        hooks: H,
    ) -> Self {
        let started = clock.now();
        if let Some(budget) = &budget {
            budget.borrow().deposit(started);
        }
        Engine {
            policy,
            backoff: Backoff::new(policy, rng),
            clock,
            budget,
            operation,
            hooks,
            started,
            attempt: 1,
            deferrals: 0,
        }
    }

    /// The number of the attempt to make next (1-based).
    pub(crate) fn attempt(&self) -> u32 {
        self.attempt
    }

    #[inline]
    fn elapsed(&self) -> Duration {
        self.clock.now().saturating_duration_since(self.started)
    }

    /// Time left before the deadline.
    pub(crate) fn remaining(&self) -> Duration {
        self.policy.max_elapsed().saturating_sub(self.elapsed())
    }

    /// The attempt failed with `error`: wait and retry, or give up.
    #[inline]
    pub(crate) fn failed<E>(&mut self, error: E) -> Next<E>
    where
        H: Hooks<E>,
    {
        let retryability = self.hooks.retryability(&error);
        let elapsed = self.elapsed();
        let (policy, backoff, hooks) = (&self.policy, &mut self.backoff, &mut self.hooks);
        let mut adjusted = false;
        // Always draw from the backoff when the decision needs a delay, hint
        // or not, so that a hint does not shift which delay the following
        // retries get.
        let decision = decide_after_failure(policy, self.attempt, elapsed, retryability, || {
            let computed = backoff.next()?;
            Some(match hooks.adjust(&error, computed) {
                Some(hint) => {
                    adjusted = true;
                    hint.max(computed)
                }
                None => computed,
            })
        });
        let delay = match decision {
            RetryDecision::RetryAfter(delay) => delay,
            RetryDecision::GiveUp(reason) => return self.give_up(reason, elapsed, error),
        };
        let attempt = self.attempt;
        let operation = self.operation.as_ref();
        // TRACE, not DEBUG: the caller's observer is where a retry is logged with
        // its error (E needs no Display here), so a service logs one event per retry.
        tracing::trace!(
            operation,
            attempt,
            delay_ms = millis(delay),
            elapsed_ms = millis(elapsed),
            server_hint = adjusted || matches!(retryability, Retryability::RetryAfter(_)),
            "attempt failed; retrying"
        );
        self.hooks.on_retry(&RetryEvent {
            operation,
            attempt,
            delay,
            error: &error,
            elapsed,
        });
        Next::Wait(delay, error)
    }

    /// A wait is over: the next attempt goes if the budget (if any) allows
    /// it; otherwise it is deferred, or given up at the deadline.
    #[inline]
    pub(crate) fn waited<E>(&mut self, error: E) -> Next<E>
    where
        H: Hooks<E>,
    {
        let Some(budget) = &self.budget else {
            return self.admit();
        };
        let now = self.clock.now();
        if budget.borrow().try_withdraw(now) {
            return self.admit();
        }
        let elapsed = now.saturating_duration_since(self.started);
        let delay = match decide_after_refusal(&self.policy, elapsed, self.backoff.rng_mut()) {
            RetryDecision::RetryAfter(delay) => delay,
            RetryDecision::GiveUp(reason) => return self.give_up(reason, elapsed, error),
        };
        self.deferrals = self.deferrals.saturating_add(1);
        let attempt = self.attempt.saturating_add(1);
        let operation = self.operation.as_ref();
        tracing::trace!(
            operation,
            attempt,
            deferrals = self.deferrals,
            delay_ms = millis(delay),
            elapsed_ms = millis(elapsed),
            "retry budget refused; deferring the retry"
        );
        self.hooks.on_defer(&DeferEvent {
            operation,
            attempt,
            delay,
            deferrals: self.deferrals,
            error: &error,
            elapsed,
        });
        Next::Wait(delay, error)
    }

    #[inline]
    fn admit<E>(&mut self) -> Next<E> {
        self.attempt = self.attempt.saturating_add(1);
        self.deferrals = 0;
        Next::Attempt
    }

    fn give_up<E>(&mut self, reason: GiveUpReason, elapsed: Duration, error: E) -> Next<E>
    where
        H: Hooks<E>,
    {
        let operation = self.operation.as_ref();
        tracing::trace!(
            operation,
            attempts = self.attempt,
            elapsed_ms = millis(elapsed),
            reason = reason.as_str(),
            "giving up"
        );
        self.hooks.on_give_up(&GiveUpEvent {
            operation,
            attempts: self.attempt,
            elapsed,
            reason,
            error: &error,
        });
        Next::GiveUp(RetryError::new(
            reason,
            self.attempt,
            elapsed,
            error,
            operation,
        ))
    }

    /// The blocking loop: `op` gets the attempt number, `sleeper` blocks.
    #[inline]
    pub(crate) fn run_blocking<T, E>(
        mut self,
        sleeper: &impl Sleeper,
        mut op: impl FnMut(u32) -> Result<T, E>,
    ) -> Result<T, RetryError<E>>
    where
        H: Hooks<E>,
    {
        let mut next = Next::Attempt;
        loop {
            next = match next {
                Next::Attempt => match op(self.attempt) {
                    Ok(value) => return Ok(value),
                    Err(error) => self.failed(error),
                },
                Next::Wait(delay, error) => {
                    sleeper.sleep(delay);
                    self.waited(error)
                }
                Next::GiveUp(error) => return Err(error),
            };
        }
    }

    /// The async loop of [`crate::Retry::run_async`].
    ///
    /// An `async` block rather than an `async fn`: an `async fn` keeps its
    /// arguments twice in its future (rust-lang/rust#62958), and a signal
    /// parked between retries holds this future for the whole wait.
    #[allow(
        clippy::manual_async_fn,
        reason = "an async fn would store its arguments twice (rust-lang/rust#62958)"
    )]
    pub(crate) fn run_async<T, E, Fut>(
        mut self,
        sleeper: &impl AsyncSleeper,
        mut op: impl FnMut(u32) -> Fut,
    ) -> impl Future<Output = Result<T, RetryError<E>>>
    where
        H: Hooks<E>,
        Fut: Future<Output = Result<T, E>>,
    {
        async move {
            let mut next = Next::Attempt;
            loop {
                next = match next {
                    Next::Attempt => match op(self.attempt).await {
                        Ok(value) => return Ok(value),
                        Err(error) => self.failed(error),
                    },
                    Next::Wait(delay, error) => {
                        sleeper.sleep(delay).await;
                        self.waited(error)
                    }
                    Next::GiveUp(error) => return Err(error),
                };
            }
        }
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}
