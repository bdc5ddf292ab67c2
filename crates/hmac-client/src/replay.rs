//! A bounded memory of message ids that lasts exactly as long as their
//! requests could still verify, so a receiver can tell a replay from a
//! legitimate retry (see [`ReplayGuard`]).

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

/// Default number of remembered ids. An id is held for about one to two
/// tolerances (5 to 10 minutes with the default ±300 s), so this covers a
/// sustained rate of roughly 160 to 330 new signals per second.
pub const DEFAULT_REPLAY_CAPACITY: usize = 100_000;

/// The `Retry-After` suggested when the guard is full and no remembered id
/// has a known expiry yet (all are in flight).
const FULL_RETRY_AFTER_UNKNOWN: Duration = Duration::from_secs(1);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum IdState {
    /// Being processed; `token` identifies the attempt that owns it.
    InFlight { token: u64 },
    /// The handler gave up (dropped its `Verified` without `complete`).
    Released,
    /// Processed to completion.
    Completed,
}

#[derive(Debug)]
struct Entry {
    state: IdState,
    /// The newest timestamp ever *admitted* (handed to a handler) for this
    /// id: a released id accepts only timestamps after it.
    newest_admitted: i64,
    /// The last second (Unix) in which any request seen for this id would
    /// still pass the timestamp check: its timestamp plus the tolerance,
    /// maximised over every authentic request seen.
    live_until: i64,
}

#[derive(Debug, Default)]
struct State {
    ids: HashMap<Arc<str>, Entry>,
    /// `(live_until, id)` of every entry that is *not* in flight, oldest
    /// first: what can be swept, and when the next slot frees. In-flight
    /// entries are left out so that a slow handler never loses its claim.
    expiries: BTreeSet<(i64, Arc<str>)>,
    next_token: u64,
}

impl State {
    /// Forgets every settled entry whose requests can no longer verify.
    fn sweep(&mut self, now: i64) {
        while let Some((live_until, _)) = self.expiries.first() {
            if *live_until >= now {
                break;
            }
            if let Some((_, id)) = self.expiries.pop_first() {
                self.ids.remove(&id);
            }
        }
    }

    /// Puts a settled entry (not in flight) into the expiry index.
    fn settle(&mut self, id: &Arc<str>, state: IdState) {
        if let Some(entry) = self.ids.get_mut(id) {
            entry.state = state;
            self.expiries.insert((entry.live_until, id.clone()));
        }
    }
}

#[derive(Debug)]
struct Shared {
    state: Mutex<State>,
    capacity: usize,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // Nothing in this file panics while holding the lock (only map and
        // set updates, which abort rather than unwind on allocation failure),
        // so a poisoned lock still guards consistent data: keep going rather
        // than turn a panic elsewhere into a panic here.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// What the guard decided for one authentic request.
#[derive(Debug)]
pub(crate) enum Admission {
    /// First sight, or a newer attempt of a released id: the caller owns the
    /// id until complete or drop.
    Fresh(InFlight),
    /// Already completed: a duplicate delivery.
    Duplicate,
    /// Another request holds the id right now.
    InFlight,
    /// The id was released, and this attempt is not newer than one already
    /// admitted: the same request (or an older one) played again.
    Replayed,
    /// The id is unknown and every slot holds a live id; retry after this.
    Full { retry_after: Duration },
}

/// A bounded memory of message ids shared by every request of a receiver.
/// Cloning shares the same memory (it is an `Arc` inside).
///
/// # Why not simply "seen id => reject"
///
/// A correct sender *retries the same id* after a timeout or a 5xx (the id is
/// the idempotency key), each retry with a fresh timestamp and signature. A
/// guard that rejects every id it has seen would turn each of those retries
/// into a permanent failure, and the signal would never land. A guard that
/// forgets an id as soon as its handler fails would accept the *captured
/// original request* again. So the guard tracks what happened to the id and
/// the newest timestamp it let through:
///
/// | what the guard knows about the id | the request | result |
/// |---|---|---|
/// | nothing (never seen, or expired) | any | accepted, the id is now *in flight* |
/// | in flight (another request is processing it) | any | [`VerifyErrorKind::InFlight`], HTTP 409 |
/// | completed ([`Verified::complete`] was called) | any | accepted as a duplicate: [`Verified::is_duplicate`], answer 2xx without acting again |
/// | released (the [`Verified`] was dropped without `complete`) | timestamp newer than every attempt already accepted: the sender's retry | accepted, in flight again |
/// | released | timestamp not newer: the captured request (or an older one) replayed | [`VerifyErrorKind::Replayed`], HTTP 409 |
/// | nothing, and every slot holds a live id | any | [`VerifyErrorKind::GuardFull`], HTTP 503 with `Retry-After` |
///
/// Both 409s are retryable for the sender (the transient class). A sender
/// that retries within the same second as a failed attempt sends the very
/// same bytes (same id, same timestamp, same signature) and cannot be told
/// from a replay: it gets the 409, and its next retry, a second or more
/// later, is accepted.
///
/// # How long an id is remembered
///
/// A request verifies while `now` is within the tolerance of its signed
/// timestamp, `timestamp - tolerance ..= timestamp + tolerance`: a window of
/// twice the tolerance for a request signed ahead of the receiver's clock.
/// So an id is remembered while `now <= timestamp + tolerance` for the
/// newest timestamp seen with it (accepted, duplicate or refused), and
/// forgotten from the next second, when every request seen for it is stale
/// anyway. It is not a fixed time from first sight, which could forget a
/// request signed ahead of the clock while it still verifies. An id in
/// flight is never forgotten while its handler holds it.
///
/// # Bounds
///
/// At most `capacity` ids are remembered. Only expired ids are ever dropped;
/// a live one never is, because forgetting it early would reopen the door to
/// its replay. When every slot is live, requests for new ids are refused with
/// 503 and a `Retry-After` of the time until the oldest id expires; requests
/// for ids already remembered are still decided as above. Only requests with
/// a valid signature reach the guard, so an outsider cannot fill it.
///
/// The memory is in the process: it is a defence against replays and double
/// processing within the timestamp window, not a durable idempotency store.
/// A receiver that must never act twice, across restarts or beyond the
/// window, keeps its own record keyed by the id.
///
/// Time is the verification's `now_unix` (seconds), so tests drive expiry
/// without sleeping.
///
/// [`VerifyErrorKind::InFlight`]: crate::VerifyErrorKind::InFlight
/// [`VerifyErrorKind::Replayed`]: crate::VerifyErrorKind::Replayed
/// [`VerifyErrorKind::GuardFull`]: crate::VerifyErrorKind::GuardFull
/// [`Verified`]: crate::Verified
/// [`Verified::complete`]: crate::Verified::complete
/// [`Verified::is_duplicate`]: crate::Verified::is_duplicate
///
/// ```
/// use hmac_client::ReplayGuard;
///
/// let guard = ReplayGuard::new(1_000);
/// assert_eq!(guard.capacity(), 1_000);
/// assert!(guard.is_empty());
/// ```
#[derive(Clone)]
pub struct ReplayGuard {
    shared: Arc<Shared>,
}

impl ReplayGuard {
    /// A guard remembering at most `capacity` ids (at least 1). How long each
    /// is remembered follows from the verifier's tolerance (see above).
    pub fn new(capacity: usize) -> ReplayGuard {
        ReplayGuard {
            shared: Arc::new(Shared {
                state: Mutex::new(State::default()),
                capacity: capacity.max(1),
            }),
        }
    }

    /// The most ids remembered at once.
    pub fn capacity(&self) -> usize {
        self.shared.capacity
    }

    /// How many ids are remembered now (expired ones included until the
    /// next verification sweeps them).
    pub fn len(&self) -> usize {
        self.shared.lock().ids.len()
    }

    /// Whether no id is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Decides for an authentic request of `id` signed at `timestamp`, which
    /// verifies until `live_until` (its timestamp plus the tolerance), at
    /// `now` (Unix seconds), and records the decision.
    pub(crate) fn admit(&self, id: &str, timestamp: i64, live_until: i64, now: i64) -> Admission {
        let mut state = self.shared.lock();
        state.sweep(now);
        let state = &mut *state;

        if let Some((key, entry)) = state.ids.get_key_value(id) {
            let key = key.clone();
            let was = (entry.state, entry.live_until);
            let newest_admitted = entry.newest_admitted;
            let live_until = live_until.max(was.1);
            let settled = !matches!(was.0, IdState::InFlight { .. });
            if settled {
                state.expiries.remove(&(was.1, key.clone()));
            }
            let (next, admission) = match was.0 {
                IdState::Completed => (IdState::Completed, Admission::Duplicate),
                IdState::InFlight { token } => (IdState::InFlight { token }, Admission::InFlight),
                IdState::Released if timestamp > newest_admitted => {
                    let token = take_token(&mut state.next_token);
                    let handle = self.handle(&key, token);
                    (IdState::InFlight { token }, Admission::Fresh(handle))
                }
                IdState::Released => (IdState::Released, Admission::Replayed),
            };
            if let Some(entry) = state.ids.get_mut(&key) {
                entry.state = next;
                entry.live_until = live_until;
                if matches!(admission, Admission::Fresh(_)) {
                    entry.newest_admitted = timestamp;
                }
            }
            if !matches!(next, IdState::InFlight { .. }) {
                state.expiries.insert((live_until, key));
            }
            return admission;
        }

        if state.ids.len() >= self.shared.capacity {
            let retry_after = match state.expiries.first() {
                // Swept once `now` passes `live_until`: free from the next second.
                Some((live_until, _)) => Duration::from_secs(
                    u64::try_from(live_until.saturating_sub(now).saturating_add(1))
                        .unwrap_or(1)
                        .max(1),
                ),
                None => FULL_RETRY_AFTER_UNKNOWN,
            };
            return Admission::Full { retry_after };
        }

        let key: Arc<str> = Arc::from(id);
        let token = take_token(&mut state.next_token);
        state.ids.insert(
            key.clone(),
            Entry {
                state: IdState::InFlight { token },
                newest_admitted: timestamp,
                live_until,
            },
        );
        Admission::Fresh(self.handle(&key, token))
    }

    fn handle(&self, id: &Arc<str>, token: u64) -> InFlight {
        InFlight {
            guard: self.clone(),
            id: id.clone(),
            token,
            done: false,
        }
    }

    /// Settles `id` as `outcome` if the attempt `token` still owns it.
    fn settle(&self, id: &Arc<str>, token: u64, outcome: IdState) {
        let mut state = self.shared.lock();
        let owned = state
            .ids
            .get(id)
            .is_some_and(|entry| entry.state == (IdState::InFlight { token }));
        if owned {
            state.settle(id, outcome);
        }
    }
}

fn take_token(next: &mut u64) -> u64 {
    let token = *next;
    *next = next.wrapping_add(1);
    token
}

impl Default for ReplayGuard {
    /// A guard of [`DEFAULT_REPLAY_CAPACITY`] ids.
    fn default() -> ReplayGuard {
        ReplayGuard::new(DEFAULT_REPLAY_CAPACITY)
    }
}

impl fmt::Debug for ReplayGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReplayGuard")
            .field("capacity", &self.shared.capacity)
            .field("len", &self.len())
            .finish()
    }
}

/// Ownership of an id while its request is processed. Dropping it without
/// [`InFlight::complete`] releases the id: a newer attempt is accepted, the
/// same one is not.
#[derive(Debug)]
pub(crate) struct InFlight {
    guard: ReplayGuard,
    id: Arc<str>,
    token: u64,
    done: bool,
}

impl InFlight {
    /// Marks the id completed: later deliveries are duplicates.
    pub(crate) fn complete(mut self) {
        self.done = true;
        self.guard.settle(&self.id, self.token, IdState::Completed);
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        if !self.done {
            self.guard.settle(&self.id, self.token, IdState::Released);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOL: i64 = 300;

    /// Admits `id` signed at `ts`, seen at `now`, with the tolerance `TOL`.
    fn admit(guard: &ReplayGuard, id: &str, ts: i64, now: i64) -> Admission {
        guard.admit(id, ts, ts + TOL, now)
    }

    fn fresh(admission: Admission) -> InFlight {
        match admission {
            Admission::Fresh(handle) => handle,
            other => panic!("expected fresh, got {other:?}"),
        }
    }

    #[test]
    fn in_flight_then_completed_then_duplicate() {
        let guard = ReplayGuard::new(10);
        let handle = fresh(admit(&guard, "a", 0, 0));
        assert!(matches!(admit(&guard, "a", 1, 1), Admission::InFlight));
        handle.complete();
        assert!(matches!(admit(&guard, "a", 0, 2), Admission::Duplicate));
        assert!(matches!(admit(&guard, "a", 5, 5), Admission::Duplicate));
    }

    #[test]
    fn released_accepts_only_newer_timestamps() {
        let guard = ReplayGuard::new(10);
        drop(fresh(admit(&guard, "a", 100, 100)));
        assert_eq!(guard.len(), 1, "a released id is still remembered");
        // The same attempt, or an older one: a replay.
        assert!(matches!(admit(&guard, "a", 100, 150), Admission::Replayed));
        assert!(matches!(admit(&guard, "a", 99, 150), Admission::Replayed));
        // The sender's retry, and then its own replay after it fails too.
        drop(fresh(admit(&guard, "a", 160, 160)));
        assert!(matches!(admit(&guard, "a", 160, 161), Admission::Replayed));
        assert!(matches!(admit(&guard, "a", 100, 161), Admission::Replayed));
        fresh(admit(&guard, "a", 170, 170)).complete();
        assert!(matches!(admit(&guard, "a", 170, 171), Admission::Duplicate));
    }

    #[test]
    fn forgotten_exactly_after_timestamp_plus_tolerance() {
        let guard = ReplayGuard::new(10);
        drop(fresh(admit(&guard, "a", 1_000, 1_000)));
        // The last second in which the request verifies: still remembered.
        assert!(matches!(
            admit(&guard, "a", 1_000, 1_000 + TOL),
            Admission::Replayed
        ));
        // One second later it is stale for the verifier, and forgotten here.
        guard.shared.lock().sweep(1_001 + TOL);
        assert!(guard.is_empty());
    }

    #[test]
    fn memory_follows_the_newest_request_seen() {
        let guard = ReplayGuard::new(10);
        fresh(admit(&guard, "a", 0, 0)).complete();
        // A duplicate signed later extends the memory to its own window.
        assert!(matches!(admit(&guard, "a", 200, 200), Admission::Duplicate));
        guard.shared.lock().sweep(TOL + 1);
        assert_eq!(guard.len(), 1);
        guard.shared.lock().sweep(200 + TOL + 1);
        assert!(guard.is_empty());
    }

    #[test]
    fn in_flight_ids_are_never_swept() {
        let guard = ReplayGuard::new(10);
        let slow = fresh(admit(&guard, "a", 0, 0));
        // Long after the window, the handler still holds it: a retry waits.
        assert!(matches!(
            admit(&guard, "a", 10_000, 10_000),
            Admission::InFlight
        ));
        slow.complete();
        assert!(matches!(
            admit(&guard, "a", 10_001, 10_001),
            Admission::Duplicate
        ));
    }

    #[test]
    fn full_of_live_ids_refuses_new_ones_and_says_when_to_come_back() {
        let guard = ReplayGuard::new(2);
        fresh(admit(&guard, "a", 10, 10)).complete();
        drop(fresh(admit(&guard, "b", 20, 20)));
        match admit(&guard, "c", 30, 30) {
            // "a" is live until 10 + TOL, swept the second after.
            Admission::Full { retry_after } => {
                assert_eq!(retry_after, Duration::from_secs(10 + 300 + 1 - 30));
            }
            other => panic!("expected full, got {other:?}"),
        }
        // Known ids are still decided, and nothing live was evicted.
        assert!(matches!(admit(&guard, "a", 31, 31), Admission::Duplicate));
        assert!(matches!(admit(&guard, "b", 20, 31), Admission::Replayed));
        assert_eq!(guard.len(), 2);
        // "a" was extended to 31 + TOL by its duplicate; "b" expires first.
        match admit(&guard, "c", 32, 32) {
            Admission::Full { retry_after } => {
                assert_eq!(retry_after, Duration::from_secs(20 + 300 + 1 - 32));
            }
            other => panic!("expected full, got {other:?}"),
        }
        drop(fresh(admit(&guard, "c", 20 + TOL + 1, 20 + TOL + 1)));
        assert_eq!(guard.len(), 2);
    }

    #[test]
    fn full_of_in_flight_ids_suggests_a_short_wait() {
        let guard = ReplayGuard::new(1);
        let _held = fresh(admit(&guard, "a", 0, 0));
        assert!(matches!(
            admit(&guard, "b", 0, 0),
            Admission::Full { retry_after } if retry_after == FULL_RETRY_AFTER_UNKNOWN
        ));
    }

    #[test]
    fn extreme_times_do_not_overflow() {
        let guard = ReplayGuard::new(1);
        fresh(guard.admit("a", i64::MAX, i64::MAX, i64::MIN)).complete();
        // Saturates at i64::MAX seconds instead of overflowing.
        let expected = Duration::from_secs(u64::try_from(i64::MAX).unwrap());
        assert!(matches!(
            guard.admit("b", 0, 0, i64::MIN),
            Admission::Full { retry_after } if retry_after == expected
        ));
        guard.shared.lock().sweep(i64::MAX);
        assert_eq!(guard.len(), 1, "live until the end of time");
    }

    #[test]
    fn a_stale_handle_does_not_settle_a_newer_claim() {
        let guard = ReplayGuard::new(10);
        let old = fresh(admit(&guard, "a", 0, 0));
        let old_token = old.token;
        old.complete();
        // Simulate the id expiring and being claimed again.
        guard.shared.lock().sweep(TOL + 1);
        let newer = fresh(admit(&guard, "a", TOL + 1, TOL + 1));
        guard.settle(&Arc::from("a"), old_token, IdState::Released);
        assert!(matches!(
            admit(&guard, "a", TOL + 2, TOL + 2),
            Admission::InFlight
        ));
        drop(newer);
    }
}
