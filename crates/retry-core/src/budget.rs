//! A retry budget shared by every retry loop of a process: retries may add
//! at most a share of the recent requests, plus a small floor per second,
//! over a sliding window. This is the design of Finagle's `RetryBudget` and
//! tower's `TpsBudget`.
//!
//! # Why a budget, and not only a retry limit
//!
//! A per-call limit such as "at most 5 retries" bounds what one caller does,
//! not what the fleet does. When a dependency goes down, every caller fails
//! at once and every caller retries: with 5 retries each, an outage turns one
//! unit of traffic into six, aimed at the one service that is struggling. Its
//! recovery is then delayed by the very clients waiting for it (a *retry
//! storm*), and the longer the outage, the bigger the wave that hits it when
//! it comes back. Jitter spreads that wave out in time, but does not make it
//! smaller.
//!
//! A budget bounds the *extra* traffic that retries add, for the whole
//! process. Every request (a first attempt) deposits one; every retry
//! withdraws one; a retry is allowed while
//!
//! ```text
//! retries in the window + 1  <=  min_per_second * window  +  percent / 100 * requests in the window
//! ```
//!
//! With the defaults (30 %, 10 per second, 10 s) a process that starts 2,000
//! signals at once may make 100 + 600 = 700 retries in the next ten seconds;
//! a process whose server is down for everyone retries at most about 10
//! times a second plus 30 % of its new signals, however many signals are
//! waiting. Outcomes are never looked at: a budget that only counts traffic
//! cannot be drained by ordinary flakiness, only outgrown by it.
//!
//! # Why 30 % and not Finagle's 20 %
//!
//! Against a server failing a share `p` of attempts independently, each
//! signal needs `p + p² + ... + p⁵` retries on average: 0.25 at `p = 20 %`.
//! A budget of 20 % covers that only while the floor makes up the
//! difference, that is up to about 200 signals per second; above that the
//! retries it defers pile up and signals reach their deadline (measured with
//! `examples/budget_steady_state.rs`: at 1,000 signals/s for 5 minutes, 2 %
//! of the signals failed with 20 %, none with 25 % or 30 %). 30 % covers
//! independent failure of up to 23 % of attempts at any volume, for an
//! outage cost of 1.3 times the normal traffic instead of 1.2.
//!
//! # Why not gRPC's retry throttling
//!
//! gRPC (gRFC A6) keeps a token bucket that every failure drains and every
//! success refills by `token_ratio`, and refuses retries at or below half.
//! With ratio 0.1 it stops retrying once about one attempt in eleven fails,
//! whatever the volume: a server failing 20 % of attempts at random drains
//! it, and signals that their own schedule would have delivered fail. That is
//! the right trade for a client that can shed requests, not for one that
//! must not drop a signal. Finagle and tower bound the retry *rate* instead,
//! which is the thing that hurts a struggling server.
//!
//! # A refusal defers, it does not give up
//!
//! The retry loop ([`crate::Retry`]) deposits before a signal's first attempt
//! and withdraws right before each retry. When the budget refuses, the retry
//! waits (see [`decide_after_refusal`](crate::decide_after_refusal)) and asks
//! again; only a deadline reached while still refused ends the signal, with
//! [`GiveUpReason::BudgetExhausted`](crate::GiveUpReason). A refusal is
//! therefore a delay, and the budget a pacer of retries during an outage.
//!
//! # The window
//!
//! The window is cut into ten slots. A deposit or withdrawal counts while its
//! slot is one of the ten most recent, that is for between 0.9 and 1.0 times
//! the window. Over any stretch of `T` seconds this allows at most
//! `min_per_second * (T + 2 * window)` retries plus `percent` % of the
//! requests made from one window before the stretch to its end; on average,
//! `min_per_second` per second plus `percent` % of the request rate.
//!
//! Time is passed in by the caller (from a [`crate::Clock`]: the retry loop
//! uses its own), so tests drive the window with a [`crate::ManualClock`] or
//! tokio's paused clock. Pass instants from one clock to one budget.

use std::fmt;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use crate::policy_error::PolicyError;

/// The largest allowed `percent`: ten retries per request.
pub const MAX_BUDGET_PERCENT: u32 = 1000;
/// The largest allowed `min_per_second`.
pub const MAX_BUDGET_MIN_PER_SECOND: u32 = 10_000;
/// The shortest allowed window.
pub const MIN_BUDGET_WINDOW: Duration = Duration::from_secs(1);
/// The longest allowed window (ten minutes): a budget remembering longer
/// would let the calm before an outage pay for the retries during it.
pub const MAX_BUDGET_WINDOW: Duration = Duration::from_secs(600);

/// Slots per window: fine enough that the allowance slides smoothly, few
/// enough that a sum over them is a handful of additions under the lock.
const SLOTS: usize = 10;

/// One retry in the units of the balance. A request deposits `percent`
/// units, so every percentage from 1 to 1000 is exact in integers.
const RETRY_UNITS: u64 = 100;

/// Retries allowed as a share of recent requests plus a floor per second,
/// over a sliding window.
///
/// A request (a first attempt) [deposits](Self::deposit); a retry
/// [withdraws](Self::try_withdraw), and is allowed while
/// `retries in the window + 1 <= min_per_second * window + percent / 100 *
/// requests in the window`. Outcomes are not counted, so ordinary flakiness
/// cannot drain it, and a full outage is held to about `min_per_second`
/// retries per second plus `percent` % of the new requests. The window is
/// ten slots: an entry counts for 0.9 to 1.0 times the window. The retry
/// loop treats a refusal as a deferral (see
/// [`decide_after_refusal`](crate::decide_after_refusal)), not a failure.
///
/// Share one budget, by reference or in an `Arc`, between all the retry loops
/// that call the same dependency. The state is one small mutex held for a
/// few additions; nothing allocates after construction.
///
/// ```
/// use std::time::{Duration, Instant};
/// use retry_core::RetryBudget;
///
/// // 20 % of requests, plus 1 retry per second, over 10 s.
/// let budget = RetryBudget::new(20, 1, Duration::from_secs(10))?;
/// let t0 = Instant::now();
/// assert_eq!(budget.retries_left(t0), 10); // the floor: 1 per second * 10 s
///
/// for _ in 0..50 {
///     budget.deposit(t0); // 50 first attempts
/// }
/// assert_eq!(budget.retries_left(t0), 20); // 10 + 20 % of 50
/// for _ in 0..20 {
///     assert!(budget.try_withdraw(t0));
/// }
/// assert!(!budget.try_withdraw(t0)); // refused: the caller defers this retry
///
/// // Ten seconds later the window has slid past all of it.
/// assert_eq!(budget.retries_left(t0 + Duration::from_secs(10)), 10);
/// # Ok::<(), retry_core::PolicyError>(())
/// ```
pub struct RetryBudget {
    percent: u32,
    min_per_second: u32,
    window: Duration,
    slot_nanos: u64,
    /// `min_per_second * window`, in units.
    reserve: u64,
    slots: Mutex<Slots>,
}

/// Requests and retries per slot, in a ring.
#[derive(Debug, Clone, Copy)]
struct Slots {
    requests: [u64; SLOTS],
    retries: [u64; SLOTS],
    current: usize,
    /// Start of the current slot, on a grid from the first use; unset before.
    current_start: Option<Instant>,
}

impl RetryBudget {
    /// Default share of requests that may be retried: 30, not Finagle's 20.
    /// Against a server failing 20 % of attempts at random, each request
    /// needs 0.25 retries on average; 20 % covers that only while the floor
    /// makes up the difference (up to about 200 requests per second), 30 %
    /// at any volume, for independent failure of up to about 23 %.
    pub const DEFAULT_PERCENT: u32 = 30;
    /// Default floor of retries per second (Finagle's and tower's).
    pub const DEFAULT_MIN_PER_SECOND: u32 = 10;
    /// Default window (Finagle's and tower's).
    pub const DEFAULT_WINDOW: Duration = Duration::from_secs(10);

    /// A budget allowing `percent` % of the requests in the window (1 to
    /// 1000) plus `min_per_second` retries per second of the window (1 to
    /// 10,000), over a sliding `window` (1 s to 600 s).
    ///
    /// # Errors
    /// A [`PolicyError`] naming the first parameter out of range (`percent`,
    /// `min_per_second` or `window`) and the allowed values.
    pub fn new(
        percent: u32,
        min_per_second: u32,
        window: Duration,
    ) -> Result<RetryBudget, PolicyError> {
        if !(1..=MAX_BUDGET_PERCENT).contains(&percent) {
            return Err(PolicyError::new(
                "percent",
                percent.to_string(),
                "an integer from 1 to 1000",
            ));
        }
        if !(1..=MAX_BUDGET_MIN_PER_SECOND).contains(&min_per_second) {
            return Err(PolicyError::new(
                "min_per_second",
                min_per_second.to_string(),
                "an integer from 1 to 10000",
            ));
        }
        if !(MIN_BUDGET_WINDOW..=MAX_BUDGET_WINDOW).contains(&window) {
            return Err(PolicyError::new(
                "window",
                format!("{}s", window.as_secs_f64()),
                "a duration from 1 s to 600 s",
            ));
        }
        // In range by the checks above: window <= 600 s, so these fit easily.
        let window_millis = u64::try_from(window.as_millis()).unwrap_or(u64::MAX);
        let slot_nanos = u64::try_from(window.as_nanos() / SLOTS as u128).unwrap_or(u64::MAX);
        let reserve = u64::from(min_per_second)
            .saturating_mul(window_millis)
            .saturating_mul(RETRY_UNITS)
            / 1000;
        Ok(RetryBudget {
            percent,
            min_per_second,
            window,
            slot_nanos,
            reserve,
            slots: Mutex::new(Slots {
                requests: [0; SLOTS],
                retries: [0; SLOTS],
                current: 0,
                current_start: None,
            }),
        })
    }

    /// A request (a first attempt) was made at `now`: it earns `percent` %
    /// of a retry for the length of the window.
    pub fn deposit(&self, now: Instant) {
        let mut slots = self.slots_at(now);
        let current = slots.current;
        slots.requests[current] = slots.requests[current].saturating_add(1);
    }

    /// Asks for one retry at `now`: `true` (and counted) if the window
    /// allows it, `false` if the retry must wait.
    pub fn try_withdraw(&self, now: Instant) -> bool {
        let mut slots = self.slots_at(now);
        if self.left(&slots) == 0 {
            return false;
        }
        let current = slots.current;
        slots.retries[current] = slots.retries[current].saturating_add(1);
        true
    }

    /// How many retries [`try_withdraw`](Self::try_withdraw) would allow at
    /// `now`, if nothing else happened first.
    pub fn retries_left(&self, now: Instant) -> u64 {
        self.left(&self.slots_at(now))
    }

    /// The share of requests that may be retried, in percent.
    pub fn percent(&self) -> u32 {
        self.percent
    }

    /// The floor of retries per second.
    pub fn min_per_second(&self) -> u32 {
        self.min_per_second
    }

    /// The sliding window.
    pub fn window(&self) -> Duration {
        self.window
    }

    /// The slots, moved on to `now`. A poisoned lock still holds plain
    /// counters that no panic can leave half-updated, so it is used as is.
    fn slots_at(&self, now: Instant) -> MutexGuard<'_, Slots> {
        let mut slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        slots.advance(now, self.slot_nanos);
        slots
    }

    fn left(&self, slots: &Slots) -> u64 {
        let sum = |counts: &[u64; SLOTS]| counts.iter().fold(0u64, |a, &n| a.saturating_add(n));
        let earned = sum(&slots.requests).saturating_mul(u64::from(self.percent));
        let allowed = self.reserve.saturating_add(earned) / RETRY_UNITS;
        allowed.saturating_sub(sum(&slots.retries))
    }
}

impl Slots {
    /// Clears the slots that have left the window by `now`. An instant
    /// before the current slot (another clock, or none monotonic) moves
    /// nothing rather than wrapping around.
    fn advance(&mut self, now: Instant, slot_nanos: u64) {
        let Some(start) = self.current_start else {
            self.current_start = Some(now);
            return;
        };
        let passed = now.saturating_duration_since(start).as_nanos() / u128::from(slot_nanos);
        if passed == 0 {
            return;
        }
        // At most SLOTS, so the cast cannot truncate.
        let expired = passed.min(SLOTS as u128) as usize;
        for step in 1..=expired {
            let slot = (self.current + step) % SLOTS;
            self.requests[slot] = 0;
            self.retries[slot] = 0;
        }
        self.current = (self.current + expired) % SLOTS;
        // Stay on the slot grid, so that slots keep their length however
        // irregularly the budget is asked.
        let moved = u64::try_from(passed.saturating_mul(u128::from(slot_nanos)))
            .map(Duration::from_nanos)
            .ok()
            .and_then(|d| start.checked_add(d));
        self.current_start = Some(moved.unwrap_or(now));
    }
}

impl fmt::Debug for RetryBudget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RetryBudget")
            .field("percent", &self.percent)
            .field("min_per_second", &self.min_per_second)
            .field("window", &self.window)
            .finish_non_exhaustive()
    }
}

impl Default for RetryBudget {
    /// [`DEFAULT_PERCENT`](Self::DEFAULT_PERCENT) of requests plus
    /// [`DEFAULT_MIN_PER_SECOND`](Self::DEFAULT_MIN_PER_SECOND) per second,
    /// over [`DEFAULT_WINDOW`](Self::DEFAULT_WINDOW).
    fn default() -> Self {
        match RetryBudget::new(
            Self::DEFAULT_PERCENT,
            Self::DEFAULT_MIN_PER_SECOND,
            Self::DEFAULT_WINDOW,
        ) {
            Ok(budget) => budget,
            // The defaults are in range (a unit test checks it); fall back
            // to the narrowest valid budget rather than panic.
            Err(_) => RetryBudget {
                percent: 1,
                min_per_second: 1,
                window: MIN_BUDGET_WINDOW,
                slot_nanos: 100_000_000,
                reserve: RETRY_UNITS,
                slots: Mutex::new(Slots {
                    requests: [0; SLOTS],
                    retries: [0; SLOTS],
                    current: 0,
                    current_start: None,
                }),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::{Clock, ManualClock};

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    fn ms(m: u64) -> Duration {
        Duration::from_millis(m)
    }

    #[test]
    fn the_defaults_are_thirty_percent_ten_per_second_over_ten_seconds() {
        let budget = RetryBudget::default();
        assert_eq!(
            (budget.percent(), budget.min_per_second(), budget.window()),
            (30, 10, secs(10))
        );
        let clock = ManualClock::new();
        assert_eq!(budget.retries_left(clock.now()), 100);
        for _ in 0..2000 {
            budget.deposit(clock.now());
        }
        // The worked example of docs/configuration.md.
        assert_eq!(budget.retries_left(clock.now()), 700);
    }

    #[test]
    fn the_floor_alone_allows_min_per_second_times_the_window() {
        let clock = ManualClock::new();
        let budget = RetryBudget::new(20, 3, secs(2)).unwrap();
        let granted = (0..10).filter(|_| budget.try_withdraw(clock.now())).count();
        assert_eq!(granted, 6);
        assert_eq!(budget.retries_left(clock.now()), 0);
    }

    #[test]
    fn each_request_earns_its_percentage_exactly() {
        let clock = ManualClock::new();
        // 1 % of a request: a hundred requests earn one retry beyond the floor.
        let budget = RetryBudget::new(1, 1, secs(1)).unwrap();
        for _ in 0..99 {
            budget.deposit(clock.now());
        }
        assert_eq!(budget.retries_left(clock.now()), 1);
        budget.deposit(clock.now());
        assert_eq!(budget.retries_left(clock.now()), 2);
        // 1000 %: each request earns ten retries.
        let budget = RetryBudget::new(1000, 1, secs(1)).unwrap();
        budget.deposit(clock.now());
        assert_eq!(budget.retries_left(clock.now()), 11);
    }

    #[test]
    fn withdrawals_count_until_their_slot_leaves_the_window() {
        let clock = ManualClock::new();
        // Window 10 s in 1 s slots; floor 1 per second: 10 retries per window.
        let budget = RetryBudget::new(20, 1, secs(10)).unwrap();
        for _ in 0..10 {
            assert!(budget.try_withdraw(clock.now()));
        }
        assert!(!budget.try_withdraw(clock.now()));
        // Still in the window 9.999 s later (same slot grid: the tenth slot).
        clock.advance(ms(9_999));
        assert_eq!(budget.retries_left(clock.now()), 0);
        // At 10 s the first slot is reused: all ten expire together.
        clock.advance(ms(1));
        assert_eq!(budget.retries_left(clock.now()), 10);
    }

    #[test]
    fn the_window_slides_slot_by_slot() {
        let clock = ManualClock::new();
        let budget = RetryBudget::new(100, 1, secs(10)).unwrap();
        // t = 0: 10 requests (10 retries earned) and 20 retries (floor + earned).
        for _ in 0..10 {
            budget.deposit(clock.now());
        }
        for _ in 0..20 {
            assert!(budget.try_withdraw(clock.now()));
        }
        // t = 5 s: 5 more requests earn 5 more retries.
        clock.advance(secs(5));
        for _ in 0..5 {
            budget.deposit(clock.now());
        }
        assert_eq!(budget.retries_left(clock.now()), 5);
        for _ in 0..5 {
            assert!(budget.try_withdraw(clock.now()));
        }
        // t = 10 s: the t = 0 slot left; the t = 5 s slot stays until 15 s.
        clock.advance(secs(5));
        assert_eq!(budget.retries_left(clock.now()), 10 + 5 - 5);
        clock.advance(secs(5));
        assert_eq!(budget.retries_left(clock.now()), 10);
    }

    #[test]
    fn a_long_pause_clears_everything_and_keeps_the_slot_grid() {
        let clock = ManualClock::new();
        let budget = RetryBudget::new(20, 1, secs(10)).unwrap();
        assert!(budget.try_withdraw(clock.now()));
        clock.advance(secs(3600) + ms(500));
        assert_eq!(budget.retries_left(clock.now()), 10);
        for _ in 0..10 {
            assert!(budget.try_withdraw(clock.now()));
        }
        // The slot started at 3600 s, not at 3600.5 s: it expires at 3610 s.
        clock.advance(ms(9_499));
        assert_eq!(budget.retries_left(clock.now()), 0);
        clock.advance(ms(1));
        assert_eq!(budget.retries_left(clock.now()), 10);
    }

    #[test]
    fn an_earlier_instant_moves_nothing() {
        let clock = ManualClock::new();
        let budget = RetryBudget::new(20, 1, secs(1)).unwrap();
        let t0 = clock.now();
        clock.advance(secs(5));
        assert!(budget.try_withdraw(clock.now()));
        assert!(!budget.try_withdraw(t0));
        assert_eq!(budget.retries_left(t0), 0);
    }

    #[test]
    fn invalid_parameters_are_typed_errors_naming_the_parameter() {
        let cases = [
            (RetryBudget::new(0, 10, secs(10)), "percent"),
            (RetryBudget::new(1001, 10, secs(10)), "percent"),
            (RetryBudget::new(20, 0, secs(10)), "min_per_second"),
            (RetryBudget::new(20, 10_001, secs(10)), "min_per_second"),
            (RetryBudget::new(20, 10, ms(999)), "window"),
            (RetryBudget::new(20, 10, secs(601)), "window"),
        ];
        for (result, field) in cases {
            let error = result.unwrap_err();
            assert_eq!(error.field(), field, "{error}");
            assert!(!error.allowed().is_empty());
        }
        let error = RetryBudget::new(20, 10, ms(500)).unwrap_err();
        assert_eq!(
            error.to_string(),
            "window=\"0.5s\" is invalid: expected a duration from 1 s to 600 s"
        );
        RetryBudget::new(1, 1, secs(1)).unwrap();
        RetryBudget::new(1000, 10_000, secs(600)).unwrap();
    }

    #[test]
    fn is_shared_across_threads_without_losing_a_count() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<RetryBudget>();
        let clock = ManualClock::new();
        let budget = RetryBudget::new(100, 1, secs(600)).unwrap(); // 600 floor
        let granted = std::sync::atomic::AtomicU64::new(0);
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| {
                    for _ in 0..100 {
                        budget.deposit(clock.now());
                    }
                    for _ in 0..400 {
                        if budget.try_withdraw(clock.now()) {
                            granted.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        }
                    }
                });
            }
        });
        // 600 (floor) + 400 requests at 100 %: exactly 1000, whatever the interleaving.
        assert_eq!(granted.into_inner(), 1000);
    }

    #[test]
    fn debug_shows_the_parameters() {
        let text = format!("{:?}", RetryBudget::default());
        assert!(text.contains("percent: 30") && text.contains("min_per_second: 10"));
    }
}
