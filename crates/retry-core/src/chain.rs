//! What the chain methods of [`crate::Retryable`] and
//! [`crate::BlockingRetryable`] set, in one place for both: which errors are
//! retried, who is told, server hints, the budget, the name, the clock and
//! the jitter source.

use std::borrow::Borrow;
use std::fmt;
use std::time::Duration;

use crate::budget::RetryBudget;
use crate::classify::{Classify, Retryability};
use crate::engine::{Engine, Hooks};
use crate::observer::RetryEvent;
use crate::policy::RetryPolicy;
use crate::rng::{RandomSource, ThreadRandom};
use crate::time::Clock;

/// Decides whether an error is retried: the error's own [`Classify`] (the
/// default, [`ByClassify`]) or the predicate given to `.when(..)`.
///
/// Implemented for [`ByClassify`] when the error implements [`Classify`], and
/// for every `FnMut(&E) -> bool` (`true`: transient, retried on the
/// policy's schedule; `false`: permanent, returned at once).
///
/// ```
/// use retry_core::{ByClassify, Classifier, Classify, Retryability};
///
/// struct Busy;
/// impl Classify for Busy {
///     fn retryability(&self) -> Retryability { Retryability::Transient }
/// }
/// assert_eq!(ByClassify.retryability(&Busy), Retryability::Transient);
///
/// let mut only_timeouts = |e: &std::io::Error| e.kind() == std::io::ErrorKind::TimedOut;
/// let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
/// assert_eq!(only_timeouts.retryability(&refused), Retryability::Permanent);
/// ```
#[diagnostic::on_unimplemented(
    message = "cannot tell which `{E}` errors to retry",
    label = "`{E}` implements neither `Classify` nor is a `.when(..)` predicate given",
    note = "implement `retry_core::Classify` for the error type, or call `.when(|e| ...)` to say which errors are retried (it needs no `Classify`)"
)]
pub trait Classifier<E> {
    /// How the loop treats `error`.
    fn retryability(&mut self, error: &E) -> Retryability;
}

/// The default [`Classifier`]: the error's own [`Classify`] decides,
/// server hints ([`Retryability::RetryAfter`]) included.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ByClassify;

impl<E: Classify> Classifier<E> for ByClassify {
    fn retryability(&mut self, error: &E) -> Retryability {
        error.retryability()
    }
}

impl<E, W: FnMut(&E) -> bool> Classifier<E> for W {
    fn retryability(&mut self, error: &E) -> Retryability {
        if self(error) {
            Retryability::Transient
        } else {
            Retryability::Permanent
        }
    }
}

/// Every setting of a chain but the operation and the sleeper.
pub(crate) struct Setup<K, N, A, C, B, O, R> {
    pub(crate) policy: RetryPolicy,
    pub(crate) classify: K,
    /// `None` until `.notify(..)`: the type stays a function pointer, but
    /// the loop tests an option instead of calling through the pointer.
    pub(crate) notify: Option<N>,
    /// `None` until `.adjust(..)`, likewise.
    pub(crate) adjust: Option<A>,
    pub(crate) clock: C,
    pub(crate) budget: Option<B>,
    pub(crate) operation: O,
    pub(crate) rng: R,
}

/// The settings of a chain fresh from `.retry(policy)`.
pub(crate) type DefaultSetup<E, C> = Setup<
    ByClassify,
    fn(&E, Duration),
    fn(&E, Duration) -> Option<Duration>,
    C,
    &'static RetryBudget,
    &'static str,
    ThreadRandom,
>;

impl<E, C> DefaultSetup<E, C> {
    pub(crate) fn new(policy: RetryPolicy, clock: C, operation: &'static str) -> Self {
        Setup {
            policy,
            classify: ByClassify,
            notify: None,
            adjust: None,
            clock,
            budget: None,
            operation,
            rng: ThreadRandom,
        }
    }
}

impl<K, N, A, C, B, O, R> Setup<K, N, A, C, B, O, R> {
    pub(crate) fn when<W>(self, classify: W) -> Setup<W, N, A, C, B, O, R> {
        Setup {
            policy: self.policy,
            classify,
            notify: self.notify,
            adjust: self.adjust,
            clock: self.clock,
            budget: self.budget,
            operation: self.operation,
            rng: self.rng,
        }
    }

    pub(crate) fn notify<N2>(self, notify: N2) -> Setup<K, N2, A, C, B, O, R> {
        Setup {
            policy: self.policy,
            classify: self.classify,
            notify: Some(notify),
            adjust: self.adjust,
            clock: self.clock,
            budget: self.budget,
            operation: self.operation,
            rng: self.rng,
        }
    }

    pub(crate) fn adjust<A2>(self, adjust: A2) -> Setup<K, N, A2, C, B, O, R> {
        Setup {
            policy: self.policy,
            classify: self.classify,
            notify: self.notify,
            adjust: Some(adjust),
            clock: self.clock,
            budget: self.budget,
            operation: self.operation,
            rng: self.rng,
        }
    }

    pub(crate) fn clock<C2>(self, clock: C2) -> Setup<K, N, A, C2, B, O, R> {
        Setup {
            policy: self.policy,
            classify: self.classify,
            notify: self.notify,
            adjust: self.adjust,
            clock,
            budget: self.budget,
            operation: self.operation,
            rng: self.rng,
        }
    }

    pub(crate) fn budget<B2>(self, budget: B2) -> Setup<K, N, A, C, B2, O, R> {
        Setup {
            policy: self.policy,
            classify: self.classify,
            notify: self.notify,
            adjust: self.adjust,
            clock: self.clock,
            budget: Some(budget),
            operation: self.operation,
            rng: self.rng,
        }
    }

    pub(crate) fn context<O2>(self, operation: O2) -> Setup<K, N, A, C, B, O2, R> {
        Setup {
            policy: self.policy,
            classify: self.classify,
            notify: self.notify,
            adjust: self.adjust,
            clock: self.clock,
            budget: self.budget,
            operation,
            rng: self.rng,
        }
    }

    pub(crate) fn rng<R2>(self, rng: R2) -> Setup<K, N, A, C, B, O, R2> {
        Setup {
            policy: self.policy,
            classify: self.classify,
            notify: self.notify,
            adjust: self.adjust,
            clock: self.clock,
            budget: self.budget,
            operation: self.operation,
            rng,
        }
    }
}

impl<K, N, A, C, B, O, R> Setup<K, N, A, C, B, O, R>
where
    C: Clock,
    B: Borrow<RetryBudget>,
    O: AsRef<str>,
    R: RandomSource,
{
    /// The running loop: its deadline starts now.
    pub(crate) fn start(self) -> Engine<C, R, B, O, ChainHooks<K, N, A>> {
        Engine::start(
            self.policy,
            self.rng,
            self.clock,
            self.budget,
            self.operation,
            ChainHooks {
                classify: self.classify,
                notify: self.notify,
                adjust: self.adjust,
            },
        )
    }
}

impl<K, N, A, C, B, O, R> Setup<K, N, A, C, B, O, R>
where
    C: fmt::Debug,
    B: Borrow<RetryBudget>,
    O: AsRef<str>,
{
    /// The settings worth showing (closures have no `Debug`).
    pub(crate) fn debug(&self, name: &str, step: &str, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct(name)
            .field("policy", &self.policy)
            .field("operation", &self.operation.as_ref())
            .field("budget", &self.budget.as_ref().map(Borrow::borrow))
            .field("clock", &self.clock)
            .field("step", &step)
            .finish_non_exhaustive()
    }
}

/// The hooks of a chain: its classifier, `notify` and `adjust`.
pub(crate) struct ChainHooks<K, N, A> {
    classify: K,
    notify: Option<N>,
    adjust: Option<A>,
}

impl<E, K, N, A> Hooks<E> for ChainHooks<K, N, A>
where
    K: Classifier<E>,
    N: FnMut(&E, Duration),
    A: FnMut(&E, Duration) -> Option<Duration>,
{
    fn retryability(&mut self, error: &E) -> Retryability {
        self.classify.retryability(error)
    }

    fn adjust(&mut self, error: &E, delay: Duration) -> Option<Duration> {
        self.adjust.as_mut().and_then(|adjust| adjust(error, delay))
    }

    fn on_retry(&mut self, event: &RetryEvent<'_, E>) {
        if let Some(notify) = &mut self.notify {
            notify(event.error, event.delay);
        }
    }
}
