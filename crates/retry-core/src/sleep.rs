//! Injected sleeping: the loop says how long, the caller decides how.

use std::future::Future;
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
/// timer fits; closures returning a future are sleepers:
///
/// ```
/// use std::time::Duration;
/// use retry_core::AsyncSleeper;
///
/// fn assert_sleeper(_: &impl AsyncSleeper) {}
/// assert_sleeper(&|_d: Duration| std::future::ready(()));
/// ```
///
/// The future must be `Send` so that retry loops can run in spawned tasks.
pub trait AsyncSleeper {
    /// Completes after `delay`.
    fn sleep(&self, delay: Duration) -> impl Future<Output = ()> + Send;
}

impl<F, Fut> AsyncSleeper for F
where
    F: Fn(Duration) -> Fut,
    Fut: Future<Output = ()> + Send,
{
    fn sleep(&self, delay: Duration) -> impl Future<Output = ()> + Send {
        self(delay)
    }
}

/// `tokio::time::sleep`, which follows tokio's paused test clock.
#[cfg(feature = "tokio")]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TokioSleeper;

#[cfg(feature = "tokio")]
impl AsyncSleeper for TokioSleeper {
    fn sleep(&self, delay: Duration) -> impl Future<Output = ()> + Send {
        tokio::time::sleep(delay)
    }
}
