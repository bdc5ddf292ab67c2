//! `/replay --reason R` asks before it acts: a dry run first, then the
//! replay only on `/confirm` from the same admin within
//! [`CONFIRM_WITHIN`]. A bulk replay re-sends trading signals; one typo'd
//! reason must not do that on its own.
//!
//! Pending requests live in memory: a restart drops them (the admin asks
//! again), which is the safe direction.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use signal_outbox::FailureReason;
use tokio::time::Instant;

/// How long a `/replay --reason` waits for its `/confirm`.
pub const CONFIRM_WITHIN: Duration = Duration::from_secs(120);

/// One pending request per admin; a new one replaces the old.
#[derive(Debug, Default)]
pub(crate) struct Confirmations(Mutex<HashMap<u64, (FailureReason, Instant)>>);

impl Confirmations {
    /// Remembers `reason` for `user` until [`CONFIRM_WITHIN`] from now.
    pub(crate) fn ask(&self, user: u64, reason: FailureReason) {
        self.lock()
            .insert(user, (reason, Instant::now() + CONFIRM_WITHIN));
    }

    /// The pending reason of `user`, if it has not expired; taken either way.
    pub(crate) fn take(&self, user: u64) -> Option<FailureReason> {
        self.lock()
            .remove(&user)
            .and_then(|(reason, until)| (Instant::now() < until).then_some(reason))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, (FailureReason, Instant)>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_confirmation_is_per_admin_taken_once_and_expires() {
        let pending = Confirmations::default();
        pending.ask(1, FailureReason::Exhausted);
        assert_eq!(pending.take(2), None, "another admin cannot confirm it");
        assert_eq!(pending.take(1), Some(FailureReason::Exhausted));
        assert_eq!(pending.take(1), None, "taken once");

        pending.ask(1, FailureReason::Rejected);
        tokio::time::advance(CONFIRM_WITHIN).await;
        assert_eq!(pending.take(1), None, "expired");
    }
}
