//! Injected sleeping: the loop says how long, the caller decides how.

use std::future::Future;
use std::marker::PhantomData;
use std::time::Duration;

/// Blocks the current thread for a delay (the sync retry loop).
///
/// Closures are sleepers, which is how tests avoid real sleeps:
///
/// ```
/// use std::cell::RefCell;
/// use std::time::Duration;
/// use retry_core::Sleeper;
///
/// let slept = RefCell::new(Vec::new());
/// let recorder = |d: Duration| slept.borrow_mut().push(d);
/// recorder.sleep(Duration::from_secs(5));
/// assert_eq!(slept.into_inner(), [Duration::from_secs(5)]);
/// ```
pub trait Sleeper {
    /// Waits for `delay`.
    fn sleep(&self, delay: Duration);
}

impl<F: Fn(Duration)> Sleeper for F {
    fn sleep(&self, delay: Duration) {
        self(delay)
    }
}

/// [`std::thread::sleep`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ThreadSleeper;

impl Sleeper for ThreadSleeper {
    fn sleep(&self, delay: Duration) {
        std::thread::sleep(delay);
    }
}

/// Waits for a delay without blocking (the async retry loop). Any runtime's
/// timer fits; closures and functions returning a future are sleepers, so
/// `tokio::time::sleep` is one as it is:
///
/// ```
/// use std::time::Duration;
/// use retry_core::AsyncSleeper;
///
/// fn assert_sleeper(_: &impl AsyncSleeper) {}
/// assert_sleeper(&|_d: Duration| std::future::ready(()));
/// assert_sleeper(&tokio::time::sleep);
/// ```
///
/// The future is a named associated type (as in backon's `Sleeper`), so a
/// retry future can hold it without boxing; it is `Send` when the sleeper's
/// future is, and so is the retry future.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not an async sleeper",
    label = "no sleeper for the async retry",
    note = "an async retry needs a timer: call `.sleep(..)` with one (any `Fn(Duration) -> impl Future<Output = ()>`, e.g. `tokio::time::sleep`), or enable retry-core's `tokio` feature, which makes tokio's the default"
)]
pub trait AsyncSleeper {
    /// The future returned by [`sleep`](Self::sleep).
    type Sleep: Future<Output = ()>;

    /// Completes after `delay`.
    fn sleep(&self, delay: Duration) -> Self::Sleep;
}

impl<F, Fut> AsyncSleeper for F
where
    F: Fn(Duration) -> Fut,
    Fut: Future<Output = ()>,
{
    type Sleep = Fut;

    fn sleep(&self, delay: Duration) -> Fut {
        self(delay)
    }
}

/// `tokio::time::sleep`, which follows tokio's paused test clock. The
/// default sleeper of [`Retryable`](crate::Retryable) with the `tokio` feature.
#[cfg(feature = "tokio")]
#[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TokioSleeper;

#[cfg(feature = "tokio")]
impl AsyncSleeper for TokioSleeper {
    type Sleep = tokio::time::Sleep;

    fn sleep(&self, delay: Duration) -> tokio::time::Sleep {
        tokio::time::sleep(delay)
    }
}

/// The async sleeper in force when none was given: tokio's with the
/// `tokio` feature, otherwise [`NoAsyncSleeper`], which does not compile
/// when awaited (so a missing sleeper is a compile error, not a panic).
#[cfg(feature = "tokio")]
pub type DefaultAsyncSleeper = TokioSleeper;
/// The async sleeper in force when none was given: tokio's with the
/// `tokio` feature, otherwise [`NoAsyncSleeper`], which does not compile
/// when awaited (so a missing sleeper is a compile error, not a panic).
#[cfg(not(feature = "tokio"))]
pub type DefaultAsyncSleeper = NoAsyncSleeper;

/// A placeholder that is not an [`AsyncSleeper`]: the default of an async
/// retry built without the `tokio` feature. Awaiting such a retry without
/// calling `.sleep(..)` fails to compile, with [`AsyncSleeper`]'s message
/// saying what to do; with the feature, tokio's timer is the default and
/// the same code compiles:
///
#[cfg_attr(not(feature = "tokio"), doc = "```compile_fail")]
#[cfg_attr(feature = "tokio", doc = "```")]
/// use retry_core::{Retryable, RetryPolicy};
///
/// async fn fetch() -> Result<u32, std::io::Error> {
///     Ok(1)
/// }
/// async fn run() {
///     let _ = fetch.retry(RetryPolicy::default()).when(|_| true).await;
/// }
/// ```
///
/// (The parameter is always `()`: it only lets the impl below carry a bound
/// that nothing meets, which is how the compiler is made to print that
/// message.)
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NoAsyncSleeper<T = ()>(PhantomData<T>);

/// Implemented by nothing: the unmet bound that makes awaiting an async
/// retry without a sleeper fail with a message saying what to do.
#[diagnostic::on_unimplemented(
    message = "this async retry has no sleeper: call `.sleep(..)`, e.g. `.sleep(tokio::time::sleep)`, or enable retry-core's `tokio` feature",
    label = "no sleeper given, and the `tokio` feature is off",
    note = "any `Fn(Duration) -> impl Future<Output = ()>` is a sleeper; with the `tokio` feature, tokio's timer is the default"
)]
#[doc(hidden)]
pub trait SleeperRequired {}

impl<T: SleeperRequired> AsyncSleeper for NoAsyncSleeper<T> {
    type Sleep = std::future::Ready<()>;

    fn sleep(&self, _delay: Duration) -> Self::Sleep {
        std::future::ready(())
    }
}

/// What an [`AsyncRetry`](crate::AsyncRetry) may hold as its sleeper
/// before it is awaited: an [`AsyncSleeper`], or the [`NoAsyncSleeper`]
/// placeholder (which names the sleep future type, but is not a sleeper, so
/// awaiting fails to compile with the message of [`AsyncSleeper`]).
/// Implemented for exactly those; not to be implemented elsewhere.
#[doc(hidden)]
pub trait MaybeAsyncSleeper {
    /// The sleep future held between attempts.
    type Sleep: Future<Output = ()>;
}

impl<S: AsyncSleeper> MaybeAsyncSleeper for S {
    type Sleep = S::Sleep;
}

impl MaybeAsyncSleeper for NoAsyncSleeper<()> {
    type Sleep = std::future::Ready<()>;
}
