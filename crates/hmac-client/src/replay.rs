//! A bounded, expiring memory of message ids, so a receiver can tell a replay
//! from a legitimate retry (see [`ReplayGuard`]).

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

/// Default number of remembered ids.
pub const DEFAULT_REPLAY_CAPACITY: usize = 10_000;
/// Default time an id is remembered: one hour, well beyond the ±300 s
/// timestamp tolerance and a typical sender's retry deadline.
pub const DEFAULT_REPLAY_TTL: Duration = Duration::from_secs(3600);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum IdState {
    /// Being processed; `token` identifies the attempt that owns it.
    InFlight {
        token: u64,
    },
    Completed,
}

#[derive(Debug)]
struct Entry {
    state: IdState,
    /// Unix seconds when the entry was (re)inserted; drives expiry and
    /// oldest-first eviction.
    since: i64,
}

#[derive(Debug, Default)]
struct State {
    ids: HashMap<String, Entry>,
    next_token: u64,
}

#[derive(Debug)]
struct Shared {
    state: Mutex<State>,
    capacity: usize,
    ttl_secs: i64,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic elsewhere while holding the lock leaves a map that is still
        // consistent (every update is a single insert/remove), so keep going
        // rather than propagate the poison as a panic.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn expired(&self, entry: &Entry, now: i64) -> bool {
        now.saturating_sub(entry.since) >= self.ttl_secs
    }
}

/// What the guard decided for one verified request.
#[derive(Debug)]
pub(crate) enum Admission {
    /// First sight (or released): the caller owns it until complete or drop.
    Fresh(InFlight),
    /// Already completed: a duplicate delivery.
    Duplicate,
    /// Another request holds it right now.
    InFlight,
}

/// A bounded (capacity), expiring (ttl) set of message ids shared by every
/// request of a receiver. Cloning shares the same set (it is an `Arc` inside).
///
/// # Why not simply "seen id => reject"
///
/// A correct sender *retries the same id* after a timeout or a 5xx (the id is
/// the idempotency key). A guard that rejects every id it has seen would turn
/// each of those retries into a permanent failure, and the signal would never
/// land. So the guard tracks what happened to the id:
///
/// | state of the id                          | verification result                           |
/// |------------------------------------------|-----------------------------------------------|
/// | unknown (or expired)                     | accepted, now *in flight*                     |
/// | in flight (another request is processing)| [`VerifyErrorKind::Replayed`], HTTP 409       |
/// | completed ([`Verified::complete`] called)| accepted as a duplicate: [`Verified::is_duplicate`], answer 2xx without acting again |
/// | failed (the [`Verified`] dropped without `complete`) | forgotten: the next retry is accepted |
///
/// The 409 for "in flight" is retryable for the sender (it is in the
/// transient class), so a retry that overtakes a slow first attempt simply
/// comes back later and then sees "completed".
///
/// # Bounds
///
/// At most `capacity` ids are remembered, each for `ttl`. When full, expired
/// ids are swept first, then the oldest id is evicted. Eviction can forget an
/// id early, so this guard is a defence against replays and double
/// processing within its window, not a durable idempotency store: a receiver
/// that must never act twice keeps its own record keyed by the id.
///
/// Time is the verification's `now_unix` (seconds), so tests drive expiry
/// without sleeping.
///
/// [`VerifyErrorKind::Replayed`]: crate::VerifyErrorKind::Replayed
/// [`Verified`]: crate::Verified
/// [`Verified::complete`]: crate::Verified::complete
/// [`Verified::is_duplicate`]: crate::Verified::is_duplicate
///
/// ```
/// use std::time::Duration;
/// use hmac_client::ReplayGuard;
///
/// let guard = ReplayGuard::new(1_000, Duration::from_secs(600));
/// assert_eq!(guard.capacity(), 1_000);
/// assert!(guard.is_empty());
/// ```
#[derive(Clone)]
pub struct ReplayGuard {
    shared: Arc<Shared>,
}

impl ReplayGuard {
    /// A guard remembering at most `capacity` ids (at least 1) for `ttl`
    /// (rounded up to whole seconds, at least 1 s).
    pub fn new(capacity: usize, ttl: Duration) -> ReplayGuard {
        let whole = ttl
            .as_secs()
            .saturating_add(u64::from(ttl.subsec_nanos() > 0));
        ReplayGuard {
            shared: Arc::new(Shared {
                state: Mutex::new(State::default()),
                capacity: capacity.max(1),
                ttl_secs: i64::try_from(whole).unwrap_or(i64::MAX).max(1),
            }),
        }
    }

    /// The most ids remembered at once.
    pub fn capacity(&self) -> usize {
        self.shared.capacity
    }

    /// How many ids are remembered now (expired ones included until swept).
    pub fn len(&self) -> usize {
        self.shared.lock().ids.len()
    }

    /// Whether no id is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Decides for `id` at `now` (Unix seconds) and records the decision.
    pub(crate) fn admit(&self, id: &str, now: i64) -> Admission {
        let shared = &self.shared;
        let mut state = shared.lock();
        if let Some(entry) = state.ids.get(id) {
            if !shared.expired(entry, now) {
                return match entry.state {
                    IdState::Completed => Admission::Duplicate,
                    IdState::InFlight { .. } => Admission::InFlight,
                };
            }
            state.ids.remove(id);
        }
        if state.ids.len() >= shared.capacity {
            state.ids.retain(|_, entry| !shared.expired(entry, now));
        }
        while state.ids.len() >= shared.capacity {
            // O(capacity) scan, only when full of live ids: simple, and the
            // map only grows after a valid signature, so an outsider cannot
            // force it.
            let oldest = state
                .ids
                .iter()
                .min_by_key(|(_, entry)| entry.since)
                .map(|(key, _)| key.clone());
            match oldest {
                Some(key) => {
                    state.ids.remove(&key);
                }
                None => break,
            }
        }
        let token = state.next_token;
        state.next_token = state.next_token.wrapping_add(1);
        state.ids.insert(
            id.to_owned(),
            Entry {
                state: IdState::InFlight { token },
                since: now,
            },
        );
        Admission::Fresh(InFlight {
            guard: self.clone(),
            id: id.to_owned(),
            token,
            now,
            done: false,
        })
    }
}

impl Default for ReplayGuard {
    /// [`DEFAULT_REPLAY_CAPACITY`] ids for [`DEFAULT_REPLAY_TTL`].
    fn default() -> ReplayGuard {
        ReplayGuard::new(DEFAULT_REPLAY_CAPACITY, DEFAULT_REPLAY_TTL)
    }
}

impl fmt::Debug for ReplayGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReplayGuard")
            .field("capacity", &self.shared.capacity)
            .field("ttl_secs", &self.shared.ttl_secs)
            .field("len", &self.len())
            .finish()
    }
}

/// Ownership of an id while its request is processed. Dropping it without
/// [`InFlight::complete`] releases the id so the sender's retry is accepted.
#[derive(Debug)]
pub(crate) struct InFlight {
    guard: ReplayGuard,
    id: String,
    token: u64,
    now: i64,
    done: bool,
}

impl InFlight {
    /// Marks the id completed: later deliveries are duplicates.
    pub(crate) fn complete(mut self) {
        self.done = true;
        let mut state = self.guard.shared.lock();
        match state.ids.get_mut(&self.id) {
            Some(entry) if entry.state == (IdState::InFlight { token: self.token }) => {
                entry.state = IdState::Completed;
            }
            // Evicted or expired meanwhile and maybe taken by another request:
            // leave that request's entry alone.
            Some(_) => {}
            None => {
                state.ids.insert(
                    std::mem::take(&mut self.id),
                    Entry {
                        state: IdState::Completed,
                        since: self.now,
                    },
                );
            }
        }
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        let mut state = self.guard.shared.lock();
        // Only remove our own claim: after an eviction the id may belong to a
        // newer request.
        if state
            .ids
            .get(&self.id)
            .is_some_and(|entry| entry.state == (IdState::InFlight { token: self.token }))
        {
            state.ids.remove(&self.id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fresh(admission: Admission) -> InFlight {
        match admission {
            Admission::Fresh(handle) => handle,
            other => panic!("expected fresh, got {other:?}"),
        }
    }

    #[test]
    fn in_flight_then_completed_then_duplicate() {
        let guard = ReplayGuard::new(10, Duration::from_secs(60));
        let handle = fresh(guard.admit("a", 0));
        assert!(matches!(guard.admit("a", 1), Admission::InFlight));
        handle.complete();
        assert!(matches!(guard.admit("a", 2), Admission::Duplicate));
    }

    #[test]
    fn dropped_without_complete_is_released() {
        let guard = ReplayGuard::new(10, Duration::from_secs(60));
        drop(fresh(guard.admit("a", 0)));
        assert!(guard.is_empty());
        fresh(guard.admit("a", 1)).complete();
    }

    #[test]
    fn entries_expire() {
        let guard = ReplayGuard::new(10, Duration::from_secs(60));
        fresh(guard.admit("a", 0)).complete();
        assert!(matches!(guard.admit("a", 59), Admission::Duplicate));
        drop(fresh(guard.admit("a", 60)));
    }

    #[test]
    fn never_grows_past_capacity() {
        let guard = ReplayGuard::new(3, Duration::from_secs(1_000));
        for (i, id) in ["a", "b", "c", "d", "e"].iter().enumerate() {
            fresh(guard.admit(id, i as i64)).complete();
            assert!(guard.len() <= 3);
        }
        // The oldest ("a", "b") were evicted; the newest are remembered.
        assert!(matches!(guard.admit("e", 10), Admission::Duplicate));
        drop(fresh(guard.admit("a", 10)));
    }

    #[test]
    fn a_stale_handle_does_not_release_a_newer_claim() {
        let guard = ReplayGuard::new(1, Duration::from_secs(1_000));
        let old = fresh(guard.admit("a", 0));
        let _evictor = fresh(guard.admit("b", 1));
        let newer = fresh(guard.admit("a", 2));
        drop(old);
        assert!(matches!(guard.admit("a", 3), Admission::InFlight));
        drop(newer);
    }
}
