//! [`MemoryQueue`]: the reference implementation of [`AlertQueue`], in
//! memory, on tokio's clock. Tests use it; the outbox adapter keeps its
//! semantics (each method's docs say what a store must do).

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use chrono::Utc;
use tokio::time::Instant;

use super::queue::{
    AlertId, AlertQueue, AlertState, AlertUpdate, BoxFuture, GroupState, LeaseToken, NewAlert,
    QueueError, SenderLease, StoredAlert, Timestamp,
};

/// Alerts in memory, with a sender lease, on a clock that follows tokio's
/// (so paused-clock tests move it): Unix milliseconds of its creation plus
/// the tokio time elapsed since.
///
/// ```
/// use std::sync::Arc;
/// use std::time::Duration;
/// use ops_alerts::durable::{AlertQueue, MemoryQueue, NewAlert};
/// use ops_alerts::{AlertPayload, ConflictAlert};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let queue = Arc::new(MemoryQueue::new());
/// let payload = AlertPayload::Conflict(ConflictAlert { signal_id: "s1".into(), line: None });
/// queue.record_alerts(vec![NewAlert::from_payload(&payload).unwrap()]).await.unwrap();
///
/// let lease = queue.acquire_sender("a", Duration::from_secs(30)).await.unwrap().unwrap();
/// // Another sender waits while the lease is held...
/// assert!(queue.acquire_sender("b", Duration::from_secs(30)).await.unwrap().is_none());
/// assert_eq!(queue.pending_alerts(&lease, 10).await.unwrap().len(), 1);
/// // ...and takes it once it expired; the old holder is fenced.
/// tokio::time::sleep(Duration::from_secs(31)).await;
/// assert!(queue.acquire_sender("b", Duration::from_secs(30)).await.unwrap().is_some());
/// assert!(queue.pending_alerts(&lease, 10).await.is_err());
/// # }
/// ```
#[derive(Debug)]
pub struct MemoryQueue {
    state: Mutex<State>,
    epoch: Timestamp,
    start: Instant,
}

#[derive(Debug, Default)]
struct State {
    rows: Vec<StoredAlert>,
    next_id: i64,
    lease: Option<Held>,
    next_token: i64,
}

#[derive(Debug, Clone)]
struct Held {
    worker: String,
    token: LeaseToken,
    until: Timestamp,
}

impl Default for MemoryQueue {
    fn default() -> MemoryQueue {
        MemoryQueue::new()
    }
}

fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

impl MemoryQueue {
    /// An empty queue whose clock starts at the wall-clock time now.
    pub fn new() -> MemoryQueue {
        MemoryQueue {
            state: Mutex::new(State {
                next_id: 1,
                next_token: 1,
                ..State::default()
            }),
            epoch: Utc::now().timestamp_millis(),
            start: Instant::now(),
        }
    }

    /// The queue's clock.
    pub fn now(&self) -> Timestamp {
        self.epoch.saturating_add(millis(self.start.elapsed()))
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Every change is applied whole under the lock; a panic elsewhere
        // leaves a consistent state.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Stores one pending alert with its `consecutive` count, as the outbox
    /// does for a dead letter (the count of its ledger, in the same
    /// transaction).
    pub fn push(&self, alert: NewAlert, consecutive: u32) -> AlertId {
        let now = self.now();
        self.lock()
            .insert(alert, consecutive, now, AlertState::Pending)
    }

    /// Every stored alert, oldest first.
    pub fn alerts(&self) -> Vec<StoredAlert> {
        self.lock().rows.clone()
    }

    /// One stored alert.
    pub fn get(&self, id: AlertId) -> Option<StoredAlert> {
        self.lock().rows.iter().find(|row| row.id == id).cloned()
    }

    /// The holder of the sender lease, if it has not expired.
    pub fn lease_holder(&self) -> Option<String> {
        let now = self.now();
        self.lock()
            .lease
            .as_ref()
            .filter(|held| held.until > now)
            .map(|held| held.worker.clone())
    }
}

impl State {
    fn insert(
        &mut self,
        alert: NewAlert,
        consecutive: u32,
        now: Timestamp,
        state: AlertState,
    ) -> AlertId {
        let id = AlertId(self.next_id);
        self.next_id += 1;
        self.rows.push(StoredAlert {
            id,
            kind: alert.kind,
            group_key: alert.group_key,
            signal_id: alert.signal_id,
            payload: alert.payload,
            created_at: now,
            state,
            consecutive,
            attempts: 0,
            not_before: now,
            sent_at: None,
            message_id: None,
            last_error: None,
            summary_of: None,
        });
        id
    }

    /// Refuses a call under a lease that is not the current, live one.
    fn check(&self, lease: &SenderLease, now: Timestamp) -> Result<(), QueueError> {
        match &self.lease {
            Some(held) if held.token == lease.token && held.until > now => Ok(()),
            Some(held) if held.token == lease.token => Err(QueueError::Fenced {
                detail: format!("the lease of {} expired", held.worker),
            }),
            Some(held) => Err(QueueError::Fenced {
                detail: format!("{} holds the lease now", held.worker),
            }),
            None => Err(QueueError::Fenced {
                detail: "no sender holds the lease".to_owned(),
            }),
        }
    }

    fn row_mut(&mut self, id: AlertId) -> Result<&mut StoredAlert, QueueError> {
        self.rows
            .iter_mut()
            .find(|row| row.id == id)
            .ok_or_else(|| QueueError::Refused {
                detail: format!("alert {} does not exist", id.0),
            })
    }

    fn apply(&mut self, update: AlertUpdate, now: Timestamp) -> Result<(), QueueError> {
        match update {
            AlertUpdate::Sent { id, message_id } => {
                let row = expect_state(self.row_mut(id)?, &[AlertState::Pending])?;
                row.state = AlertState::Sent;
                row.sent_at = Some(now);
                row.message_id = message_id;
            }
            AlertUpdate::Folded { id } => {
                expect_state(self.row_mut(id)?, &[AlertState::Pending])?.state = AlertState::Folded;
            }
            AlertUpdate::Summarized {
                summary,
                folded,
                message_id,
            } => {
                let summary_id = AlertId(self.next_id);
                for id in &folded {
                    let row = expect_state(self.row_mut(*id)?, &[AlertState::Folded])?;
                    row.state = AlertState::Summarized;
                    row.summary_of = Some(summary_id);
                }
                self.insert(summary, 0, now, AlertState::Sent);
                let row = self.row_mut(summary_id)?;
                row.sent_at = Some(now);
                row.message_id = message_id;
            }
            AlertUpdate::Retry { id, delay, error } => {
                let row = expect_state(self.row_mut(id)?, &[AlertState::Pending])?;
                row.attempts = row.attempts.saturating_add(1);
                row.not_before = now.saturating_add(millis(delay));
                row.last_error = Some(error);
            }
            AlertUpdate::Failed { id, error } => {
                let row = expect_state(
                    self.row_mut(id)?,
                    &[AlertState::Pending, AlertState::Folded],
                )?;
                row.state = AlertState::Failed;
                row.last_error = Some(error);
            }
        }
        Ok(())
    }
}

fn expect_state<'a>(
    row: &'a mut StoredAlert,
    expected: &[AlertState],
) -> Result<&'a mut StoredAlert, QueueError> {
    if expected.contains(&row.state) {
        return Ok(row);
    }
    let expected: Vec<&str> = expected.iter().map(|s| s.as_str()).collect();
    Err(QueueError::Refused {
        detail: format!(
            "alert {} is {}, expected {}",
            row.id.0,
            row.state,
            expected.join(" or ")
        ),
    })
}

impl AlertQueue for MemoryQueue {
    fn record_alerts(
        &self,
        alerts: Vec<NewAlert>,
    ) -> BoxFuture<'_, Result<Vec<AlertId>, QueueError>> {
        let now = self.now();
        let ids = {
            let mut state = self.lock();
            alerts
                .into_iter()
                .map(|alert| state.insert(alert, 0, now, AlertState::Pending))
                .collect()
        };
        Box::pin(async move { Ok(ids) })
    }

    fn acquire_sender(
        &self,
        worker: &str,
        lease: Duration,
    ) -> BoxFuture<'_, Result<Option<SenderLease>, QueueError>> {
        let now = self.now();
        let until = now.saturating_add(millis(lease));
        let granted = {
            let mut state = self.lock();
            let token = match &state.lease {
                Some(held) if held.until > now && held.worker != worker => None,
                Some(held) if held.until > now => Some(held.token),
                _ => {
                    let token = LeaseToken(state.next_token);
                    state.next_token += 1;
                    Some(token)
                }
            };
            token.map(|token| {
                state.lease = Some(Held {
                    worker: worker.to_owned(),
                    token,
                    until,
                });
                SenderLease { token, until, now }
            })
        };
        Box::pin(async move { Ok(granted) })
    }

    fn pending_alerts(
        &self,
        lease: &SenderLease,
        limit: usize,
    ) -> BoxFuture<'_, Result<Vec<StoredAlert>, QueueError>> {
        let now = self.now();
        let result = {
            let state = self.lock();
            state.check(lease, now).map(|()| {
                // Rows are kept in insertion order: oldest first.
                state
                    .rows
                    .iter()
                    .filter(|row| row.state == AlertState::Pending && row.not_before <= now)
                    .take(limit)
                    .cloned()
                    .collect()
            })
        };
        Box::pin(async move { result })
    }

    fn alert_groups(
        &self,
        lease: &SenderLease,
        since: Duration,
    ) -> BoxFuture<'_, Result<Vec<GroupState>, QueueError>> {
        let now = self.now();
        let cutoff = now.saturating_sub(millis(since));
        let result = {
            let state = self.lock();
            state.check(lease, now).map(|()| {
                let mut groups: BTreeMap<&str, GroupState> = BTreeMap::new();
                for row in &state.rows {
                    let recent = row.sent_at.filter(|at| *at >= cutoff);
                    if recent.is_none() && row.state != AlertState::Folded {
                        continue;
                    }
                    let group = groups.entry(&row.group_key).or_insert_with(|| GroupState {
                        group_key: row.group_key.clone(),
                        ..GroupState::default()
                    });
                    if let Some(at) = recent {
                        group.recent_sends.push(at);
                        group.last_sent_at = group.last_sent_at.max(Some(at));
                    }
                    if row.state == AlertState::Folded {
                        group.oldest_folded_at = Some(
                            group
                                .oldest_folded_at
                                .map_or(row.created_at, |t| t.min(row.created_at)),
                        );
                        group.folded.push(row.clone());
                    }
                }
                groups
                    .into_values()
                    .map(|mut group| {
                        group.recent_sends.sort_unstable();
                        group
                    })
                    .collect()
            })
        };
        Box::pin(async move { result })
    }

    fn update_alerts(
        &self,
        lease: &SenderLease,
        updates: Vec<AlertUpdate>,
    ) -> BoxFuture<'_, Result<(), QueueError>> {
        let now = self.now();
        let result = {
            let mut state = self.lock();
            state.check(lease, now).and_then(|()| {
                // All or none: apply to a copy, keep it only if every update fits.
                let mut next = State {
                    rows: state.rows.clone(),
                    next_id: state.next_id,
                    lease: state.lease.clone(),
                    next_token: state.next_token,
                };
                for update in updates {
                    next.apply(update, now)?;
                }
                *state = next;
                Ok(())
            })
        };
        Box::pin(async move { result })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::payload::AlertKind;

    fn alert(group: &str) -> NewAlert {
        NewAlert {
            kind: AlertKind::SignalFailure,
            group_key: group.to_owned(),
            signal_id: Some("s".to_owned()),
            payload: "{}".to_owned(),
        }
    }

    const LEASE: Duration = Duration::from_secs(10);

    #[tokio::test(start_paused = true)]
    async fn updates_are_all_or_none_and_fenced() {
        let queue = MemoryQueue::new();
        let a = queue.push(alert("g"), 2);
        let b = queue.push(alert("g"), 3);
        let lease = queue.acquire_sender("w", LEASE).await.unwrap().unwrap();
        // The second update does not fit: the first is not applied either.
        let refused = queue
            .update_alerts(
                &lease,
                vec![
                    AlertUpdate::Sent {
                        id: a,
                        message_id: Some(1),
                    },
                    AlertUpdate::Summarized {
                        summary: alert("g summary"),
                        folded: vec![b],
                        message_id: Some(2),
                    },
                ],
            )
            .await
            .unwrap_err();
        assert_eq!(
            refused,
            QueueError::Refused {
                detail: "alert 2 is pending, expected folded".to_owned()
            }
        );
        assert_eq!(queue.get(a).unwrap().state, AlertState::Pending);

        let updates = vec![
            AlertUpdate::Sent {
                id: a,
                message_id: Some(1),
            },
            AlertUpdate::Folded { id: b },
        ];
        queue.update_alerts(&lease, updates).await.unwrap();
        tokio::time::sleep(Duration::from_secs(2)).await;
        let groups = queue.alert_groups(&lease, LEASE).await.unwrap();
        assert_eq!(groups.len(), 1);
        assert_eq!(groups[0].folded.len(), 1);
        assert_eq!(groups[0].folded[0].consecutive, 3);
        assert_eq!(groups[0].last_sent_at, queue.get(a).unwrap().sent_at);
        let summarized = AlertUpdate::Summarized {
            summary: alert("g summary"),
            folded: vec![b],
            message_id: Some(2),
        };
        queue.update_alerts(&lease, vec![summarized]).await.unwrap();
        let summary = queue.get(AlertId(3)).unwrap();
        assert_eq!(
            (summary.state, summary.message_id),
            (AlertState::Sent, Some(2))
        );
        assert_eq!(queue.get(b).unwrap().summary_of, Some(summary.id));

        // Expired: fenced, and a new holder gets a new token.
        tokio::time::sleep(LEASE).await;
        assert!(matches!(
            queue.pending_alerts(&lease, 1).await,
            Err(QueueError::Fenced { .. })
        ));
        let next = queue.acquire_sender("v", LEASE).await.unwrap().unwrap();
        assert_ne!(next.token, lease.token);
        assert_eq!(queue.lease_holder().as_deref(), Some("v"));
    }

    #[tokio::test(start_paused = true)]
    async fn retried_alerts_wait_and_groups_forget_old_sends() {
        let queue = MemoryQueue::new();
        let a = queue.push(alert("g"), 1);
        let lease = queue.acquire_sender("w", LEASE).await.unwrap().unwrap();
        let retry = AlertUpdate::Retry {
            id: a,
            delay: Duration::from_secs(5),
            error: "Telegram answered 502".to_owned(),
        };
        queue.update_alerts(&lease, vec![retry]).await.unwrap();
        assert!(queue.pending_alerts(&lease, 10).await.unwrap().is_empty());
        tokio::time::sleep(Duration::from_secs(5)).await;
        let lease = queue.acquire_sender("w", LEASE).await.unwrap().unwrap();
        let due = queue.pending_alerts(&lease, 10).await.unwrap();
        assert_eq!((due.len(), due[0].attempts), (1, 1));
        let sent = AlertUpdate::Sent {
            id: a,
            message_id: Some(9),
        };
        queue.update_alerts(&lease, vec![sent]).await.unwrap();
        assert_eq!(queue.alert_groups(&lease, LEASE).await.unwrap().len(), 1);
        tokio::time::sleep(Duration::from_secs(3)).await;
        let lease = queue.acquire_sender("w", LEASE).await.unwrap().unwrap();
        let groups = queue
            .alert_groups(&lease, Duration::from_secs(2))
            .await
            .unwrap();
        assert!(groups.is_empty(), "{groups:?}");
    }
}
