//! The ids `send` has seen in its input, so that a repeated id follows the
//! same rules as in `enqueue`: the same bytes again are sent once, different
//! bytes under the same id are a conflict.
//!
//! # Bounded
//!
//! On an endless input the memory of ids cannot grow without bound, so it is
//! a window of the last [`SEEN_WINDOW`] signals (about 100 bytes each, so
//! some 10 MB at most). An id repeated after more signals than that is
//! treated as new: it is sent again with the same `webhook-id`, and a
//! receiver that deduplicates on the id (as it must) drops the copy. Ids
//! whose first copy is still being delivered are never forgotten, whatever
//! the window, so a duplicate's outcome line can always name its first copy.

use sha2::{Digest, Sha256};
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

/// How many signals back a repeated id is recognised.
pub const SEEN_WINDOW: usize = 100_000;

/// How the first copy of an id ended, as far as its repeats need to know.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FirstOutcome {
    /// Delivered.
    Delivered,
    /// Failed, with this reason label.
    Failed(&'static str),
}

/// What a new line's id is, relative to what came before.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Seen {
    /// First sight (or forgotten): deliver it.
    New,
    /// The same bytes as the first copy on `first_line`. `outcome` is
    /// `None` while the first copy is still being delivered: the repeat's
    /// line waits for it.
    Duplicate {
        first_line: u64,
        outcome: Option<FirstOutcome>,
    },
    /// Different bytes under an id first seen on `first_line`: never sent.
    Conflict { first_line: u64 },
}

#[derive(Debug)]
struct Entry {
    line: u64,
    digest: [u8; 32],
    outcome: Option<FirstOutcome>,
    /// Lines repeating this id while its outcome is unknown.
    waiting: Vec<u64>,
}

/// The window of ids seen; see the [module docs](self).
#[derive(Debug)]
pub(crate) struct SeenIds {
    capacity: usize,
    entries: HashMap<Arc<str>, Entry>,
    order: VecDeque<Arc<str>>,
}

impl SeenIds {
    pub(crate) fn new(capacity: usize) -> SeenIds {
        SeenIds {
            capacity: capacity.max(1),
            entries: HashMap::new(),
            order: VecDeque::new(),
        }
    }

    /// Classifies `id` with `body`, read on `line`, and remembers it.
    pub(crate) fn check(&mut self, id: &str, body: &[u8], line: u64) -> Seen {
        let digest: [u8; 32] = Sha256::digest(body).into();
        if let Some(entry) = self.entries.get_mut(id) {
            if entry.digest != digest {
                return Seen::Conflict {
                    first_line: entry.line,
                };
            }
            if entry.outcome.is_none() {
                entry.waiting.push(line);
            }
            return Seen::Duplicate {
                first_line: entry.line,
                outcome: entry.outcome,
            };
        }
        self.evict();
        let key: Arc<str> = Arc::from(id);
        self.order.push_back(Arc::clone(&key));
        self.entries.insert(
            key,
            Entry {
                line,
                digest,
                outcome: None,
                waiting: Vec::new(),
            },
        );
        Seen::New
    }

    /// Records how the first copy of `id` ended and returns the lines of its
    /// repeats that were waiting for it.
    pub(crate) fn resolve(&mut self, id: &str, outcome: FirstOutcome) -> (u64, Vec<u64>) {
        match self.entries.get_mut(id) {
            Some(entry) => {
                entry.outcome = Some(outcome);
                (entry.line, std::mem::take(&mut entry.waiting))
            }
            None => (0, Vec::new()),
        }
    }

    /// How many ids are remembered.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Forgets the oldest resolved ids until there is room for one more.
    fn evict(&mut self) {
        let mut kept = 0;
        while self.entries.len() >= self.capacity && kept < self.order.len() {
            let Some(oldest) = self.order.pop_front() else {
                break;
            };
            let resolved = self
                .entries
                .get(&*oldest)
                .is_some_and(|e| e.outcome.is_some());
            if resolved {
                self.entries.remove(&*oldest);
            } else {
                // Still being delivered: never forgotten.
                self.order.push_back(oldest);
                kept += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_bytes_are_a_duplicate_and_other_bytes_a_conflict() {
        let mut seen = SeenIds::new(10);
        assert_eq!(seen.check("a", b"buy", 1), Seen::New);
        assert_eq!(
            seen.check("a", b"buy", 2),
            Seen::Duplicate {
                first_line: 1,
                outcome: None
            }
        );
        assert_eq!(
            seen.check("a", b"sell", 3),
            Seen::Conflict { first_line: 1 }
        );
        assert_eq!(seen.resolve("a", FirstOutcome::Delivered), (1, vec![2]));
        assert_eq!(
            seen.check("a", b"buy", 4),
            Seen::Duplicate {
                first_line: 1,
                outcome: Some(FirstOutcome::Delivered)
            }
        );
    }

    #[test]
    fn the_window_forgets_the_oldest_resolved_ids_only() {
        let mut seen = SeenIds::new(3);
        for (i, id) in ["a", "b", "c"].iter().enumerate() {
            assert_eq!(seen.check(id, b"x", i as u64 + 1), Seen::New);
        }
        // "a" is still in flight: "b" and "c" resolve and go first.
        seen.resolve("b", FirstOutcome::Delivered);
        seen.resolve("c", FirstOutcome::Failed("rejected"));
        assert_eq!(seen.check("d", b"x", 4), Seen::New);
        assert_eq!(seen.len(), 3);
        assert!(matches!(
            seen.check("a", b"x", 5),
            Seen::Duplicate { first_line: 1, .. }
        ));
        assert_eq!(seen.check("b", b"x", 6), Seen::New, "b was forgotten");
    }

    #[test]
    fn memory_stays_bounded_on_an_endless_input() {
        let mut seen = SeenIds::new(1000);
        for i in 0..50_000u64 {
            let id = format!("s-{i}");
            assert_eq!(seen.check(&id, b"x", i + 1), Seen::New);
            seen.resolve(&id, FirstOutcome::Delivered);
            assert!(seen.len() <= 1000);
        }
    }
}
