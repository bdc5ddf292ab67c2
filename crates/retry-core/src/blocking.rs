//! `op.retry(policy)…call()` for blocking operations, in backon's shape.

use std::borrow::Borrow;
use std::fmt;
use std::marker::PhantomData;
use std::time::Duration;

use crate::budget::RetryBudget;
use crate::chain::{ByClassify, Classifier, DefaultSetup, Setup};
use crate::error::RetryError;
use crate::policy::RetryPolicy;
use crate::rng::{RandomSource, ThreadRandom};
use crate::sleep::{Sleeper, ThreadSleeper};
use crate::time::{Clock, SystemClock};

/// Adds `.retry(policy)` to every `FnMut() -> Result<T, E>`.
///
/// The policy is taken by value or by reference (it is `Copy`). The
/// chain runs on the thread sleeper and the system clock unless told
/// otherwise, and [`call`](BlockingRetry::call) runs it.
///
/// ```
/// use std::time::Duration;
/// use retry_core::{BlockingRetryable, RetryPolicy};
///
/// let policy = RetryPolicy::builder().base_delay(Duration::from_millis(1)).build()?;
/// let mut calls = 0;
/// let read = || {
///     calls += 1;
///     if calls < 3 { Err(std::io::Error::from(std::io::ErrorKind::Interrupted)) } else { Ok(calls) }
/// };
/// let value = read
///     .retry(&policy)
///     .when(|e| e.kind() == std::io::ErrorKind::Interrupted)
///     .call()?;
/// assert_eq!(value, 3);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub trait BlockingRetryable<T, E>: Sized {
    /// The retry chain for this operation under `policy`.
    fn retry(self, policy: impl Into<RetryPolicy>) -> BlockingRetry<Self, T, E>;
}

impl<F, T, E> BlockingRetryable<T, E> for F
where
    F: FnMut() -> Result<T, E>,
{
    fn retry(self, policy: impl Into<RetryPolicy>) -> BlockingRetry<Self, T, E> {
        BlockingRetry {
            op: self,
            sleeper: ThreadSleeper,
            setup: DefaultSetup::new(policy.into(), SystemClock, std::any::type_name::<F>()),
            _output: PhantomData,
        }
    }
}

/// A blocking retry chain, made by [`BlockingRetryable::retry`]; run it
/// with [`call`](Self::call).
///
/// The guarantees are those of [`Retry`](crate::Retry): the cap holds
/// after jitter, no sleep ends past the deadline, a budget refusal defers
/// the retry, and giving up returns a [`RetryError`] with the attempts, the
/// last error and the operation name.
#[must_use = "a retry chain does nothing until `.call()`"]
pub struct BlockingRetry<
    F,
    T,
    E,
    K = ByClassify,
    N = fn(&E, Duration),
    A = fn(&E, Duration) -> Option<Duration>,
    S = ThreadSleeper,
    C = SystemClock,
    B = &'static RetryBudget,
    O = &'static str,
    R = ThreadRandom,
> {
    op: F,
    sleeper: S,
    setup: Setup<K, N, A, C, B, O, R>,
    _output: PhantomData<fn() -> (T, E)>,
}

impl<F, T, E, K, N, A, S, C, B, O, R> BlockingRetry<F, T, E, K, N, A, S, C, B, O, R> {
    /// The same chain with one setting changed.
    fn map<K2, N2, A2, C2, B2, O2, R2>(
        self,
        change: impl FnOnce(Setup<K, N, A, C, B, O, R>) -> Setup<K2, N2, A2, C2, B2, O2, R2>,
    ) -> BlockingRetry<F, T, E, K2, N2, A2, S, C2, B2, O2, R2> {
        BlockingRetry {
            op: self.op,
            sleeper: self.sleeper,
            setup: change(self.setup),
            _output: PhantomData,
        }
    }

    /// Retries only the errors for which `retryable` returns `true`; the
    /// others are returned at once (as [`RetryError::Permanent`]). The error
    /// then needs no [`Classify`](crate::Classify), so foreign errors work
    /// as they are.
    ///
    /// ```
    /// use std::io::{Error, ErrorKind};
    /// use retry_core::{BlockingRetryable, RetryError, RetryPolicy};
    ///
    /// let error = (|| Err::<(), _>(Error::from(ErrorKind::PermissionDenied)))
    ///     .retry(RetryPolicy::default())
    ///     .when(|e: &Error| e.kind() == ErrorKind::TimedOut)
    ///     .call()
    ///     .unwrap_err();
    /// assert!(matches!(error, RetryError::Permanent { attempts: 1, .. }));
    /// ```
    pub fn when<W: FnMut(&E) -> bool>(
        self,
        retryable: W,
    ) -> BlockingRetry<F, T, E, W, N, A, S, C, B, O, R> {
        self.map(|setup| setup.when(retryable))
    }

    /// Calls `notify` with the error and the coming delay before each
    /// retry's sleep (not for the give-up, which is the returned error).
    ///
    /// ```
    /// use std::time::Duration;
    /// use retry_core::{BlockingRetryable, Jitter, RetryPolicy};
    ///
    /// let policy = RetryPolicy::builder()
    ///     .max_retries(2)
    ///     .base_delay(Duration::from_millis(1))
    ///     .jitter(Jitter::None)
    ///     .build()?;
    /// let mut heard = Vec::new();
    /// let _ = (|| Err::<(), _>("busy"))
    ///     .retry(policy)
    ///     .when(|_| true)
    ///     .notify(|e, next| heard.push((*e, next)))
    ///     .call();
    /// assert_eq!(heard, [("busy", Duration::from_millis(1)), ("busy", Duration::from_millis(2))]);
    /// # Ok::<(), retry_core::PolicyError>(())
    /// ```
    pub fn notify<N2: FnMut(&E, Duration)>(
        self,
        notify: N2,
    ) -> BlockingRetry<F, T, E, K, N2, A, S, C, B, O, R> {
        self.map(|setup| setup.notify(notify))
    }

    /// Reads a server hint (`Retry-After`) from the error: `adjust` gets
    /// the error and the backoff delay, and a `Some(hint)` it returns is
    /// treated like [`Retryability::RetryAfter`](crate::Retryability): the
    /// longer of the hint and the backoff is slept, not capped by
    /// `max_delay`, and a hint that cannot end before the deadline gives up
    /// at once. `None` keeps the backoff delay. (An error that implements
    /// [`Classify`](crate::Classify) may give its hint there instead.)
    ///
    /// ```
    /// use std::time::Duration;
    /// use retry_core::{BlockingRetryable, ManualClock, RetryPolicy};
    ///
    /// struct TooMany {
    ///     retry_after: Duration,
    /// }
    ///
    /// let clock = ManualClock::new();
    /// let mut calls = 0;
    /// let send = || {
    ///     calls += 1;
    ///     if calls == 1 { Err(TooMany { retry_after: Duration::from_secs(30) }) } else { Ok(calls) }
    /// };
    /// let sent = send
    ///     .retry(RetryPolicy::default())
    ///     .when(|_| true)
    ///     .adjust(|e, _backoff| Some(e.retry_after))
    ///     .clock(&clock)
    ///     .sleep(|d| clock.advance(d))
    ///     .call();
    /// assert!(sent.is_ok());
    /// assert_eq!(clock.elapsed(), Duration::from_secs(30)); // the hint, not the 5 s backoff
    /// ```
    pub fn adjust<A2: FnMut(&E, Duration) -> Option<Duration>>(
        self,
        adjust: A2,
    ) -> BlockingRetry<F, T, E, K, N, A2, S, C, B, O, R> {
        self.map(|setup| setup.adjust(adjust))
    }

    /// Sleeps with `sleeper` between attempts (default: [`ThreadSleeper`]).
    /// Any `Fn(Duration)` is a sleeper, `std::thread::sleep` included; a
    /// test passes one that advances a [`ManualClock`](crate::ManualClock).
    ///
    /// ```
    /// use std::cell::RefCell;
    /// use std::time::Duration;
    /// use retry_core::{BlockingRetryable, Jitter, RetryPolicy};
    ///
    /// let policy = RetryPolicy::builder().max_retries(1).jitter(Jitter::None).build()?;
    /// let slept = RefCell::new(Vec::new());
    /// let _ = (|| Err::<(), _>("down"))
    ///     .retry(policy)
    ///     .when(|_| true)
    ///     .sleep(|d| slept.borrow_mut().push(d))
    ///     .call();
    /// assert_eq!(slept.into_inner(), [Duration::from_secs(5)]);
    /// # Ok::<(), retry_core::PolicyError>(())
    /// ```
    pub fn sleep<S2: Sleeper>(
        self,
        sleeper: S2,
    ) -> BlockingRetry<F, T, E, K, N, A, S2, C, B, O, R> {
        BlockingRetry {
            op: self.op,
            sleeper,
            setup: self.setup,
            _output: PhantomData,
        }
    }

    /// Draws on a shared [`RetryBudget`], by reference or in an `Arc`: a
    /// deposit before the first attempt, a withdrawal before each retry, and
    /// a deferral (0.5 to 1.5 s, not an attempt) while it refuses. Only a
    /// deadline reached while refused gives up, with
    /// [`RetryError::BudgetExhausted`].
    ///
    /// ```
    /// use std::sync::Arc;
    /// use std::time::Duration;
    /// use retry_core::{BlockingRetryable, Clock, ManualClock, RetryBudget, RetryPolicy};
    ///
    /// let budget = Arc::new(RetryBudget::default());
    /// let clock = ManualClock::new();
    /// let mut calls = 0;
    /// let value = (|| { calls += 1; if calls < 2 { Err("busy") } else { Ok(calls) } })
    ///     .retry(RetryPolicy::default())
    ///     .when(|_| true)
    ///     .budget(Arc::clone(&budget))
    ///     .clock(&clock)
    ///     .sleep(|d| clock.advance(d))
    ///     .call();
    /// assert_eq!(value.unwrap(), 2);
    /// // The floor (10 per second over 10 s) less the one retry made.
    /// assert_eq!(budget.retries_left(clock.now()), 99);
    /// ```
    pub fn budget<B2: Borrow<RetryBudget>>(
        self,
        budget: B2,
    ) -> BlockingRetry<F, T, E, K, N, A, S, C, B2, O, R> {
        self.map(|setup| setup.budget(budget))
    }

    /// Names the operation in the error, the trace events and the hooks
    /// (default: the operation's type name, for a function its path).
    ///
    /// ```
    /// use retry_core::{BlockingRetryable, RetryPolicy};
    ///
    /// let error = (|| Err::<(), _>("refused"))
    ///     .retry(RetryPolicy::builder().max_retries(0).build()?)
    ///     .when(|_| true)
    ///     .context("post_signal")
    ///     .call()
    ///     .unwrap_err();
    /// assert_eq!(error.to_string(), "post_signal: gave up after 1 attempt (retries exhausted): refused");
    /// # Ok::<(), retry_core::PolicyError>(())
    /// ```
    pub fn context<O2: AsRef<str>>(
        self,
        operation: O2,
    ) -> BlockingRetry<F, T, E, K, N, A, S, C, B, O2, R> {
        self.map(|setup| setup.context(operation))
    }

    /// Measures the deadline with `clock` (default: [`SystemClock`]); a
    /// `&ManualClock` in tests.
    ///
    /// ```
    /// use std::time::Duration;
    /// use retry_core::{BlockingRetryable, GiveUpReason, Jitter, ManualClock, RetryPolicy};
    ///
    /// let policy = RetryPolicy::builder()
    ///     .max_elapsed(Duration::from_secs(12))
    ///     .jitter(Jitter::None)
    ///     .build()?;
    /// let clock = ManualClock::new();
    /// let error = (|| Err::<(), _>("down"))
    ///     .retry(policy)
    ///     .when(|_| true)
    ///     .clock(&clock)
    ///     .sleep(|d| clock.advance(d))
    ///     .call()
    ///     .unwrap_err();
    /// // 5 s, then 10 s would end at 15 s, past the 12 s deadline: given up before sleeping.
    /// assert_eq!(error.reason(), GiveUpReason::DeadlineExceeded);
    /// assert_eq!(clock.elapsed(), Duration::from_secs(5));
    /// # Ok::<(), retry_core::PolicyError>(())
    /// ```
    pub fn clock<C2: Clock>(self, clock: C2) -> BlockingRetry<F, T, E, K, N, A, S, C2, B, O, R> {
        self.map(|setup| setup.clock(clock))
    }

    /// Draws jitter from `rng` (default: [`ThreadRandom`]); a seeded
    /// [`SplitMix64`](crate::SplitMix64) makes the schedule repeatable.
    ///
    /// ```
    /// use std::time::Duration;
    /// use retry_core::{BlockingRetryable, RetryPolicy, SplitMix64};
    ///
    /// let delays = |seed| {
    ///     let mut heard = Vec::new();
    ///     let _ = (|| Err::<(), _>(()))
    ///         .retry(RetryPolicy::default())
    ///         .when(|_| true)
    ///         .rng(SplitMix64::new(seed))
    ///         .sleep(|_| {})
    ///         .notify(|_, d| heard.push(d))
    ///         .call();
    ///     heard
    /// };
    /// assert_eq!(delays(7), delays(7));
    /// assert_ne!(delays(7), delays(8));
    /// ```
    pub fn rng<R2: RandomSource>(self, rng: R2) -> BlockingRetry<F, T, E, K, N, A, S, C, B, O, R2> {
        self.map(|setup| setup.rng(rng))
    }
}

impl<F, T, E, K, N, A, S, C, B, O, R> BlockingRetry<F, T, E, K, N, A, S, C, B, O, R> {
    /// Runs the loop: the operation's value, or the [`RetryError`] that
    /// ended it. The deadline starts here.
    ///
    /// # Errors
    /// [`RetryError`] when the loop gives up: a permanent error, the
    /// attempts used up, the deadline, or the budget held the retry back
    /// until the deadline. It keeps the last error
    /// ([`into_last_error`](RetryError::into_last_error) for backon's shape).
    // The bounds are on the method, not the impl, so that a missing one is
    // reported with its own message (an error without `Classify` and no
    // `when`, say) rather than as "method not found".
    pub fn call(self) -> Result<T, RetryError<E>>
    where
        F: FnMut() -> Result<T, E>,
        K: Classifier<E>,
        N: FnMut(&E, Duration),
        A: FnMut(&E, Duration) -> Option<Duration>,
        S: Sleeper,
        C: Clock,
        B: Borrow<RetryBudget>,
        O: AsRef<str>,
        R: RandomSource,
    {
        let mut op = self.op;
        self.setup.start().run_blocking(&self.sleeper, |_| op())
    }
}

impl<F, T, E, K, N, A, S, C: fmt::Debug, B: Borrow<RetryBudget>, O: AsRef<str>, R> fmt::Debug
    for BlockingRetry<F, T, E, K, N, A, S, C, B, O, R>
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.setup.debug("BlockingRetry", "not run", f)
    }
}
