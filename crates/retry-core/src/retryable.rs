//! `op.retry(policy)…await` for async operations, in backon's shape.
//!
//! The chain ([`AsyncRetry`]) is itself the future, as backon's `Retry` is:
//! awaited directly, or spawned as it is. It is written by hand rather than
//! as an `async fn` so that it has a name (a stored retry needs one) and
//! holds the attempt and the sleep without boxing them; and so that a
//! missing sleeper is reported as such (an `IntoFuture` whose bounds fail
//! is reported as "not a future").

use std::borrow::Borrow;
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use pin_project_lite::pin_project;

use crate::budget::RetryBudget;
use crate::chain::{ByClassify, ChainHooks, Classifier, DefaultSetup, Setup};
use crate::engine::{Engine, Next};
use crate::error::RetryError;
use crate::policy::RetryPolicy;
use crate::rng::{RandomSource, ThreadRandom};
use crate::sleep::{AsyncSleeper, DefaultAsyncSleeper, MaybeAsyncSleeper};
use crate::time::{Clock, DefaultAsyncClock};

/// Adds `.retry(policy)` to every `FnMut() -> impl Future<Output = Result<T, E>>`:
/// async functions and closures returning an `async` block.
///
/// The policy is taken by value or by reference (it is `Copy`), so a
/// spawned retry owns everything it needs: no `static` policy. With the
/// `tokio` feature, tokio's timer and clock are the defaults; without it,
/// give a sleeper with [`.sleep(..)`](AsyncRetry::sleep) (forgetting it is a
/// compile error, see [`NoAsyncSleeper`](crate::NoAsyncSleeper)).
///
/// ```
/// use std::time::Duration;
/// use retry_core::{Retryable, RetryPolicy};
///
/// async fn fetch_quote() -> Result<u32, std::io::Error> {
///     Ok(42)
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let policy = RetryPolicy::builder().base_delay(Duration::from_millis(50)).build()?;
/// let quote = fetch_quote
///     .retry(policy)
///     .sleep(tokio::time::sleep)
///     .when(|e| e.kind() == std::io::ErrorKind::TimedOut)
///     .notify(|e, next| eprintln!("fetch_quote failed ({e}); retrying in {next:?}"))
///     .await?;
/// assert_eq!(quote, 42);
///
/// // Spawned: the task owns the policy (a copy), nothing borrowed.
/// let task = tokio::spawn(
///     fetch_quote
///         .retry(policy)
///         .sleep(tokio::time::sleep)
///         .when(|_| true)
///         .context("fetch_quote"),
/// );
/// assert_eq!(task.await??, 42);
/// # Ok(())
/// # }
/// ```
pub trait Retryable<T, E, Fut>: Sized {
    /// The retry chain for this operation under `policy`.
    fn retry(self, policy: impl Into<RetryPolicy>) -> AsyncRetry<Self, Fut, T, E>;
}

impl<F, Fut, T, E> Retryable<T, E, Fut> for F
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    fn retry(self, policy: impl Into<RetryPolicy>) -> AsyncRetry<Self, Fut, T, E> {
        AsyncRetry::new(
            self,
            DefaultAsyncSleeper::default(),
            DefaultSetup::new(
                policy.into(),
                DefaultAsyncClock::default(),
                std::any::type_name::<F>(),
            ),
        )
    }
}

pin_project! {
    /// What an attempt in progress is doing.
    #[project = StepProj]
    #[project_replace = StepOwned]
    enum Step<Fut, Sleep, E> {
        Idle,
        Attempt { #[pin] attempt: Fut },
        Sleep { #[pin] sleep: Sleep, error: E },
        Done,
    }
}

pin_project! {
    /// An async retry chain, made by [`Retryable::retry`], and the future
    /// that runs it: `.await` it, or spawn it as it is.
    ///
    /// The guarantees are those of [`Retry`](crate::Retry): the cap holds
    /// after jitter, no sleep ends past the deadline, a budget refusal
    /// defers the retry, and giving up returns a [`RetryError`] with the
    /// attempts, the last error and the operation name. The deadline starts,
    /// and the budget deposit is made, at the first poll. The future is
    /// `Send` when the operation, its futures, the hooks, the sleeper's
    /// futures and the clock are. Polled again after it completed, it stays
    /// pending (and runs nothing).
    #[must_use = "a retry does nothing until it is awaited"]
    pub struct AsyncRetry<
        F,
        Fut,
        T,
        E,
        K = ByClassify,
        N = fn(&E, Duration),
        A = fn(&E, Duration) -> Option<Duration>,
        S = DefaultAsyncSleeper,
        C = DefaultAsyncClock,
        B = &'static RetryBudget,
        O = &'static str,
        R = ThreadRandom,
    >
    where
        S: MaybeAsyncSleeper,
    {
        op: F,
        sleeper: S,
        setup: Option<Setup<K, N, A, C, B, O, R>>,
        engine: Option<Engine<C, R, B, O, ChainHooks<K, N, A>>>,
        #[pin]
        step: Step<Fut, S::Sleep, E>,
        _output: PhantomData<fn() -> T>,
    }
}

impl<F, Fut, T, E, K, N, A, S, C, B, O, R> AsyncRetry<F, Fut, T, E, K, N, A, S, C, B, O, R>
where
    S: MaybeAsyncSleeper,
{
    fn new(op: F, sleeper: S, setup: Setup<K, N, A, C, B, O, R>) -> Self {
        AsyncRetry {
            op,
            sleeper,
            setup: Some(setup),
            engine: None,
            step: Step::Idle,
            _output: PhantomData,
        }
    }

    /// The same chain with one setting changed. Chain methods take the
    /// chain by value, so they run before the first poll: no loop has
    /// started that could be lost.
    fn map<K2, N2, A2, C2, B2, O2, R2>(
        self,
        change: impl FnOnce(Setup<K, N, A, C, B, O, R>) -> Setup<K2, N2, A2, C2, B2, O2, R2>,
    ) -> AsyncRetry<F, Fut, T, E, K2, N2, A2, S, C2, B2, O2, R2> {
        AsyncRetry {
            op: self.op,
            sleeper: self.sleeper,
            setup: self.setup.map(change),
            engine: None,
            step: Step::Idle,
            _output: PhantomData,
        }
    }

    /// Retries only the errors for which `retryable` returns `true`; the
    /// others are returned at once (as [`RetryError::Permanent`]). The error
    /// then needs no [`Classify`](crate::Classify).
    ///
    /// ```
    /// use std::io::{Error, ErrorKind};
    /// use retry_core::{Retryable, RetryPolicy};
    ///
    /// async fn connect() -> Result<(), Error> {
    ///     Err(Error::from(ErrorKind::PermissionDenied))
    /// }
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let error = connect
    ///     .retry(RetryPolicy::default())
    ///     .sleep(tokio::time::sleep)
    ///     .when(|e| e.kind() == ErrorKind::ConnectionRefused)
    ///     .await
    ///     .unwrap_err();
    /// assert_eq!(error.attempts(), 1); // permission denied is not retried
    /// # }
    /// ```
    pub fn when<W: FnMut(&E) -> bool>(
        self,
        retryable: W,
    ) -> AsyncRetry<F, Fut, T, E, W, N, A, S, C, B, O, R> {
        self.map(|setup| setup.when(retryable))
    }

    /// Calls `notify` with the error and the coming delay before each
    /// retry's sleep.
    ///
    /// ```
    /// use std::time::Duration;
    /// use retry_core::{Jitter, Retryable, RetryPolicy};
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() -> Result<(), retry_core::PolicyError> {
    /// let policy = RetryPolicy::builder().max_retries(2).jitter(Jitter::None).build()?;
    /// let mut delays = Vec::new();
    /// let _ = (|| async { Err::<(), _>("busy") })
    ///     .retry(policy)
    ///     .sleep(tokio::time::sleep)
    ///     .when(|_| true)
    ///     .notify(|_, next| delays.push(next))
    ///     .await;
    /// assert_eq!(delays, [Duration::from_secs(5), Duration::from_secs(10)]);
    /// # Ok(())
    /// # }
    /// ```
    pub fn notify<N2: FnMut(&E, Duration)>(
        self,
        notify: N2,
    ) -> AsyncRetry<F, Fut, T, E, K, N2, A, S, C, B, O, R> {
        self.map(|setup| setup.notify(notify))
    }

    /// Reads a server hint from the error: a `Some(hint)` is slept instead
    /// of a shorter backoff delay, is not capped by `max_delay`, and gives
    /// up at once if it cannot end before the deadline. See
    /// [`BlockingRetry::adjust`](crate::BlockingRetry::adjust).
    ///
    /// ```
    /// use std::time::Duration;
    /// use retry_core::{Retryable, RetryPolicy};
    ///
    /// struct Throttled(Duration);
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let start = tokio::time::Instant::now();
    /// let mut calls = 0;
    /// let sent = (|| {
    ///     calls += 1;
    ///     let first = calls == 1;
    ///     async move { if first { Err(Throttled(Duration::from_secs(40))) } else { Ok(()) } }
    /// })
    /// .retry(RetryPolicy::default())
    /// .sleep(tokio::time::sleep)
    /// .when(|_| true)
    /// .adjust(|e, _backoff| Some(e.0))
    /// .await;
    /// assert!(sent.is_ok());
    /// assert_eq!(start.elapsed(), Duration::from_secs(40));
    /// # }
    /// ```
    pub fn adjust<A2: FnMut(&E, Duration) -> Option<Duration>>(
        self,
        adjust: A2,
    ) -> AsyncRetry<F, Fut, T, E, K, N, A2, S, C, B, O, R> {
        self.map(|setup| setup.adjust(adjust))
    }

    /// Waits with `sleeper` between attempts: any
    /// `Fn(Duration) -> impl Future<Output = ()>` (`tokio::time::sleep`, a
    /// closure over another runtime's timer). Required without the `tokio`
    /// feature; with it, [`TokioSleeper`](crate::AsyncSleeper) is the default.
    ///
    /// ```
    /// use std::time::Duration;
    /// use retry_core::{Retryable, RetryPolicy};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let mut calls = 0;
    /// let value = (|| { calls += 1; let n = calls; async move { if n < 3 { Err(()) } else { Ok(n) } } })
    ///     .retry(RetryPolicy::default())
    ///     .sleep(|_delay: Duration| std::future::ready(())) // never waits
    ///     .when(|_| true)
    ///     .await;
    /// assert_eq!(value.unwrap(), 3);
    /// # }
    /// ```
    pub fn sleep<S2: AsyncSleeper>(
        self,
        sleeper: S2,
    ) -> AsyncRetry<F, Fut, T, E, K, N, A, S2, C, B, O, R> {
        AsyncRetry {
            op: self.op,
            sleeper,
            setup: self.setup,
            engine: None,
            step: Step::Idle,
            _output: PhantomData,
        }
    }

    /// Draws on a shared [`RetryBudget`], by reference or in an `Arc` (an
    /// `Arc` for spawned retries): a refusal defers the retry, and only a
    /// deadline reached while refused gives up
    /// ([`RetryError::BudgetExhausted`]).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use retry_core::{Retryable, RetryBudget, RetryPolicy};
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let budget = Arc::new(RetryBudget::default());
    /// let task = tokio::spawn(
    ///     (|| async { Err::<(), _>("down") })
    ///         .retry(RetryPolicy::default())
    ///         .sleep(tokio::time::sleep)
    ///         .when(|_| true)
    ///         .budget(Arc::clone(&budget))
    /// );
    /// assert_eq!(task.await.unwrap().unwrap_err().attempts(), 6);
    /// # }
    /// ```
    pub fn budget<B2: Borrow<RetryBudget>>(
        self,
        budget: B2,
    ) -> AsyncRetry<F, Fut, T, E, K, N, A, S, C, B2, O, R> {
        self.map(|setup| setup.budget(budget))
    }

    /// Names the operation in the error, the trace events and the hooks
    /// (default: the operation's type name, for a function its path). Any
    /// `AsRef<str>`: a literal, or a `String` owned by a spawned retry.
    ///
    /// ```
    /// use retry_core::{Retryable, RetryPolicy};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), retry_core::PolicyError> {
    /// let chat = 42;
    /// let error = (|| async { Err::<(), _>("chat not found") })
    ///     .retry(RetryPolicy::builder().max_retries(0).build()?)
    ///     .sleep(tokio::time::sleep)
    ///     .when(|_| false)
    ///     .context(format!("send_alert to {chat}"))
    ///     .await
    ///     .unwrap_err();
    /// assert_eq!(error.operation(), "send_alert to 42");
    /// # Ok(())
    /// # }
    /// ```
    pub fn context<O2: AsRef<str>>(
        self,
        operation: O2,
    ) -> AsyncRetry<F, Fut, T, E, K, N, A, S, C, B, O2, R> {
        self.map(|setup| setup.context(operation))
    }

    /// Measures the deadline with `clock`. The default is `TokioClock`
    /// with the `tokio` feature (it follows tokio's paused test clock) and
    /// [`SystemClock`](crate::SystemClock) without.
    ///
    /// ```
    /// use std::time::Duration;
    /// use retry_core::{GiveUpReason, Jitter, ManualClock, Retryable, RetryPolicy};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), retry_core::PolicyError> {
    /// let policy = RetryPolicy::builder().max_elapsed(Duration::from_secs(12)).jitter(Jitter::None).build()?;
    /// let clock = ManualClock::new();
    /// let error = (|| async { Err::<(), _>("down") })
    ///     .retry(policy)
    ///     .when(|_| true)
    ///     .clock(&clock)
    ///     .sleep(|d| { clock.advance(d); std::future::ready(()) })
    ///     .await
    ///     .unwrap_err();
    /// assert_eq!(error.reason(), GiveUpReason::DeadlineExceeded);
    /// assert_eq!(clock.elapsed(), Duration::from_secs(5)); // 5 + 10 would pass 12
    /// # Ok(())
    /// # }
    /// ```
    pub fn clock<C2: Clock>(self, clock: C2) -> AsyncRetry<F, Fut, T, E, K, N, A, S, C2, B, O, R> {
        self.map(|setup| setup.clock(clock))
    }

    /// Draws jitter from `rng` (default: [`ThreadRandom`]); a seeded
    /// [`SplitMix64`](crate::SplitMix64) makes the schedule repeatable.
    ///
    /// ```
    /// use retry_core::{Retryable, RetryPolicy, SplitMix64};
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let mut delays = Vec::new();
    /// let _ = (|| async { Err::<(), _>(()) })
    ///     .retry(RetryPolicy::default())
    ///     .sleep(tokio::time::sleep)
    ///     .when(|_| true)
    ///     .rng(SplitMix64::new(7))
    ///     .notify(|_, d| delays.push(d))
    ///     .await;
    /// assert_eq!(delays.len(), 5);
    /// # }
    /// ```
    pub fn rng<R2: RandomSource>(
        self,
        rng: R2,
    ) -> AsyncRetry<F, Fut, T, E, K, N, A, S, C, B, O, R2> {
        self.map(|setup| setup.rng(rng))
    }
}

impl<F, Fut, T, E, K, N, A, S, C, B, O, R> Future
    for AsyncRetry<F, Fut, T, E, K, N, A, S, C, B, O, R>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
    K: Classifier<E>,
    N: FnMut(&E, Duration),
    A: FnMut(&E, Duration) -> Option<Duration>,
    S: AsyncSleeper,
    C: Clock,
    B: Borrow<RetryBudget>,
    O: AsRef<str>,
    R: RandomSource,
{
    type Output = Result<T, RetryError<E>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        if this.engine.is_none() {
            *this.engine = this.setup.take().map(Setup::start);
        }
        let Some(engine) = this.engine.as_mut() else {
            return Poll::Pending;
        };
        loop {
            let next = match this.step.as_mut().project() {
                StepProj::Idle => Next::Attempt,
                StepProj::Attempt { attempt } => match ready!(attempt.poll(cx)) {
                    Ok(value) => {
                        this.step.set(Step::Done);
                        return Poll::Ready(Ok(value));
                    }
                    Err(error) => engine.failed(error),
                },
                StepProj::Sleep { sleep, .. } => {
                    ready!(sleep.poll(cx));
                    match this.step.as_mut().project_replace(Step::Idle) {
                        StepOwned::Sleep { error, .. } => engine.waited(error),
                        // Matched as `Sleep` just above.
                        StepOwned::Idle | StepOwned::Attempt { .. } | StepOwned::Done => {
                            Next::Attempt
                        }
                    }
                }
                StepProj::Done => return Poll::Pending,
            };
            match next {
                Next::Attempt => this.step.set(Step::Attempt {
                    attempt: (this.op)(),
                }),
                Next::Wait(delay, error) => this.step.set(Step::Sleep {
                    sleep: this.sleeper.sleep(delay),
                    error,
                }),
                Next::GiveUp(error) => {
                    this.step.set(Step::Done);
                    return Poll::Ready(Err(error));
                }
            }
        }
    }
}

impl<F, Fut, T, E, K, N, A, S, C, B, O, R> fmt::Debug
    for AsyncRetry<F, Fut, T, E, K, N, A, S, C, B, O, R>
where
    S: MaybeAsyncSleeper,
    C: fmt::Debug,
    B: Borrow<RetryBudget>,
    O: AsRef<str>,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let step = match self.step {
            Step::Idle => "idle",
            Step::Attempt { .. } => "attempt",
            Step::Sleep { .. } => "sleep",
            Step::Done => "done",
        };
        match &self.setup {
            Some(setup) => setup.debug("AsyncRetry", step, f),
            None => f
                .debug_struct("AsyncRetry")
                .field("step", &step)
                .finish_non_exhaustive(),
        }
    }
}
