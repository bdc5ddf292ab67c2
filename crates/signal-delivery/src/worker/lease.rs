//! Lease renewal for long attempts: while a claimed row's attempt runs, the
//! worker extends its lease every third of the lease, all rows in one
//! `extend` call, so a slow receiver (or a long request timeout) does not
//! let another worker claim the row and send it a second time. A row whose
//! claim was fenced meanwhile is logged; its outcome will be dropped.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use signal_outbox::{ClaimToken, Outbox};

/// The claims this worker is attempting now, by row id.
#[derive(Debug, Default, Clone)]
pub(super) struct Held(Arc<Mutex<HashMap<String, ClaimToken>>>);

impl Held {
    /// An attempt on `id` under `token` starts.
    pub(super) fn insert(&self, id: &str, token: ClaimToken) {
        self.lock().insert(id.to_owned(), token);
    }

    /// The attempt on `id` ended (its outcome recorded or dropped).
    pub(super) fn remove(&self, id: &str) {
        self.lock().remove(id);
    }

    fn snapshot(&self) -> Vec<(String, ClaimToken)> {
        self.lock()
            .iter()
            .map(|(id, token)| (id.clone(), *token))
            .collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, ClaimToken>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Extends the leases of every held claim every `lease / 3`, until aborted.
pub(super) async fn keep_leases(outbox: Arc<dyn Outbox>, held: Held, lease: Duration) {
    let every = (lease / 3).max(Duration::from_millis(100));
    loop {
        tokio::time::sleep(every).await;
        let leases = held.snapshot();
        if leases.is_empty() {
            continue;
        }
        match outbox.extend(leases.clone(), lease).await {
            Ok(results) => {
                for ((id, _), result) in leases.iter().zip(results) {
                    // An attempt that ended since the snapshot is not held
                    // any more: nothing to say about it.
                    if let Err(error) = result
                        && held.lock().contains_key(id)
                    {
                        tracing::warn!(signal_id = %id, error = %error, "cannot extend the lease of an attempt in flight; another worker may send it again");
                    }
                }
            }
            Err(error) => {
                tracing::warn!(error = %error, held = leases.len(), "cannot extend the leases of the attempts in flight; retried at the next renewal");
            }
        }
    }
}
