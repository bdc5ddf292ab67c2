//! Wake-up hints: "new work may be due", so an idle worker need not wait for
//! its next poll.
//!
//! A hint is only a hint. The poll interval stays the backstop: a hint may
//! be lost (a dropped connection, a full socket buffer) and may come for
//! work another worker has already taken. So a worker waits on "a hint or
//! the poll interval, whichever comes first", and then claims as usual.
//!
//! Backends send hints from the transaction that makes work due now (an
//! enqueue, a replay, a retry or release due at once), so a hint never
//! arrives before the work is visible. PostgreSQL uses `LISTEN`/`NOTIFY`; a
//! backend without a channel of its own (SQLite today) returns `None` from
//! [`SignalStore::wake_hints`](crate::SignalStore::wake_hints), and a
//! socket or datagram wake-up between processes fits the same trait.

use std::fmt;

use crate::store::BoxFuture;

/// One subscriber's stream of wake-up hints (see the [module docs](self)).
///
/// Each [`SignalStore::wake_hints`](crate::SignalStore::wake_hints) call
/// gives an independent subscription. Hints that arrive while nobody waits
/// are not lost: the next [`next`](WakeHints::next) returns at once. Several
/// hints between two waits count as one.
///
/// A worker waits on `hints.next()` or its poll timer, whichever comes
/// first (for example with `tokio::select!`). A source that is always ready
/// shows the shape:
///
/// ```
/// use signal_outbox::{BoxFuture, WakeHints};
///
/// #[derive(Debug)]
/// struct Always;
///
/// impl WakeHints for Always {
///     fn next(&mut self) -> BoxFuture<'_, ()> {
///         Box::pin(async {})
///     }
/// }
///
/// let mut hints: Box<dyn WakeHints> = Box::new(Always);
/// let wait = hints.next(); // select this against the poll interval
/// # drop(wait);
/// ```
pub trait WakeHints: Send + fmt::Debug {
    /// Resolves at the next hint, or at once if one arrived since the
    /// previous call. It may also resolve when hints may have been missed
    /// (the backend's channel was re-established): a spurious wake-up costs
    /// one claim, a missed one a poll interval.
    fn next(&mut self) -> BoxFuture<'_, ()>;
}
