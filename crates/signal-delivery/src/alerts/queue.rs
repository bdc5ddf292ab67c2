//! The outbox's alert rows as the alert dispatcher's queue: `ops-alerts`
//! knows no outbox and the outbox knows no Telegram, so this adapter, in
//! the crate that composes both, maps one contract onto the other, field
//! for field.

use std::sync::Arc;
use std::time::Duration;

use ops_alerts::AlertKind;
use ops_alerts::durable::{
    AlertId, AlertQueue, AlertState, AlertUpdate, BoxFuture, GroupState, LeaseToken, NewAlert,
    QueueError, SenderLease, StoredAlert,
};
use signal_outbox::{ClaimToken, Outbox, OutboxError};

/// An [`Outbox`]'s alert rows, as the [`AlertQueue`] a
/// [`Dispatcher`](ops_alerts::durable::Dispatcher) sends from.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use std::sync::Arc;
/// use ops_alerts::durable::AlertQueue;
/// use signal_delivery::OutboxAlerts;
///
/// let dir = tempfile::tempdir()?;
/// let outbox = signal_outbox_sqlite::SqliteOutbox::open(&dir.path().join("o.db"))?;
/// let queue = OutboxAlerts::new(Arc::new(outbox));
/// let lease = queue.acquire_sender("worker-1", std::time::Duration::from_secs(60)).await?;
/// assert!(lease.is_some());
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct OutboxAlerts {
    outbox: Arc<dyn Outbox>,
}

impl OutboxAlerts {
    /// The alert rows of `outbox`.
    pub fn new(outbox: Arc<dyn Outbox>) -> OutboxAlerts {
        OutboxAlerts { outbox }
    }
}

impl AlertQueue for OutboxAlerts {
    fn record_alerts(
        &self,
        alerts: Vec<NewAlert>,
    ) -> BoxFuture<'_, Result<Vec<AlertId>, QueueError>> {
        Box::pin(async move {
            let alerts = alerts.into_iter().map(new_alert).collect();
            let ids = self
                .outbox
                .record_alerts(alerts)
                .await
                .map_err(queue_error)?;
            Ok(ids.into_iter().map(|id| AlertId(id.0)).collect())
        })
    }

    fn acquire_sender(
        &self,
        worker: &str,
        lease: Duration,
    ) -> BoxFuture<'_, Result<Option<SenderLease>, QueueError>> {
        let worker = worker.to_owned();
        Box::pin(async move {
            let lease = self
                .outbox
                .acquire_sender(&worker, lease)
                .await
                .map_err(queue_error)?;
            Ok(lease.map(|lease| SenderLease {
                token: LeaseToken(lease.token.0),
                until: lease.until,
                now: lease.now,
            }))
        })
    }

    fn pending_alerts(
        &self,
        lease: &SenderLease,
        limit: usize,
    ) -> BoxFuture<'_, Result<Vec<StoredAlert>, QueueError>> {
        let lease = outbox_lease(lease);
        Box::pin(async move {
            let rows = self
                .outbox
                .pending_alerts(&lease, limit)
                .await
                .map_err(queue_error)?;
            Ok(rows.into_iter().map(stored_alert).collect())
        })
    }

    fn alert_groups(
        &self,
        lease: &SenderLease,
        since: Duration,
    ) -> BoxFuture<'_, Result<Vec<GroupState>, QueueError>> {
        let lease = outbox_lease(lease);
        Box::pin(async move {
            let groups = self
                .outbox
                .alert_groups(&lease, since)
                .await
                .map_err(queue_error)?;
            Ok(groups
                .into_iter()
                .map(|group| GroupState {
                    group_key: group.group_key,
                    last_sent_at: group.last_sent_at,
                    recent_sends: group.recent_sends,
                    folded: group.folded.into_iter().map(stored_alert).collect(),
                    oldest_folded_at: group.oldest_folded_at,
                })
                .collect())
        })
    }

    fn update_alerts(
        &self,
        lease: &SenderLease,
        updates: Vec<AlertUpdate>,
    ) -> BoxFuture<'_, Result<(), QueueError>> {
        let lease = outbox_lease(lease);
        Box::pin(async move {
            let updates = updates.into_iter().map(update).collect();
            self.outbox
                .update_alerts(&lease, updates)
                .await
                .map_err(queue_error)
        })
    }
}

fn outbox_lease(lease: &SenderLease) -> signal_outbox::SenderLease {
    signal_outbox::SenderLease {
        token: ClaimToken(lease.token.0),
        until: lease.until,
        now: lease.now,
    }
}

/// The dispatcher stops sending on `Fenced`, retries `Unavailable` later,
/// and logs the rest: the outbox's errors sorted by what the caller can do.
fn queue_error(error: OutboxError) -> QueueError {
    let detail = error.to_string();
    match error {
        OutboxError::SenderFenced { .. } => QueueError::Fenced { detail },
        _ if error.is_retryable() => QueueError::Unavailable { detail },
        OutboxError::WrongState { .. }
        | OutboxError::UnknownId { .. }
        | OutboxError::InvalidInput { .. } => QueueError::Refused { detail },
        _ => QueueError::Failed { detail },
    }
}

fn kind_to_outbox(kind: AlertKind) -> signal_outbox::AlertKind {
    match kind {
        AlertKind::SignalFailure => signal_outbox::AlertKind::SignalFailure,
        AlertKind::InvalidLine => signal_outbox::AlertKind::InvalidLine,
        AlertKind::Conflict => signal_outbox::AlertKind::Conflict,
        AlertKind::Recovered => signal_outbox::AlertKind::Recovered,
        AlertKind::Summary => signal_outbox::AlertKind::Summary,
        AlertKind::Notice => signal_outbox::AlertKind::Notice,
    }
}

fn kind_from_outbox(kind: signal_outbox::AlertKind) -> AlertKind {
    match kind {
        signal_outbox::AlertKind::SignalFailure => AlertKind::SignalFailure,
        signal_outbox::AlertKind::InvalidLine => AlertKind::InvalidLine,
        signal_outbox::AlertKind::Conflict => AlertKind::Conflict,
        signal_outbox::AlertKind::Recovered => AlertKind::Recovered,
        signal_outbox::AlertKind::Summary => AlertKind::Summary,
        signal_outbox::AlertKind::Notice => AlertKind::Notice,
    }
}

fn state_from_outbox(state: signal_outbox::AlertState) -> AlertState {
    match state {
        signal_outbox::AlertState::Pending => AlertState::Pending,
        signal_outbox::AlertState::Sent => AlertState::Sent,
        signal_outbox::AlertState::Folded => AlertState::Folded,
        signal_outbox::AlertState::Summarized => AlertState::Summarized,
        signal_outbox::AlertState::Failed => AlertState::Failed,
    }
}

/// The outbox row of a dispatcher's alert.
pub(crate) fn new_alert(alert: NewAlert) -> signal_outbox::NewAlert {
    signal_outbox::NewAlert {
        kind: kind_to_outbox(alert.kind),
        group_key: alert.group_key,
        signal_id: alert.signal_id,
        payload: alert.payload,
    }
}

fn stored_alert(row: signal_outbox::StoredAlert) -> StoredAlert {
    StoredAlert {
        id: AlertId(row.id.0),
        kind: kind_from_outbox(row.kind),
        group_key: row.group_key,
        signal_id: row.signal_id,
        payload: row.payload,
        created_at: row.created_at,
        state: state_from_outbox(row.state),
        consecutive: row.consecutive,
        attempts: row.attempts,
        not_before: row.not_before,
        sent_at: row.sent_at,
        message_id: row.message_id,
        last_error: row.last_error,
        summary_of: row.summary_of.map(|id| AlertId(id.0)),
    }
}

fn update(update: AlertUpdate) -> signal_outbox::AlertUpdate {
    use signal_outbox::AlertId as Id;
    match update {
        AlertUpdate::Sent { id, message_id } => signal_outbox::AlertUpdate::Sent {
            id: Id(id.0),
            message_id,
        },
        AlertUpdate::Folded { id } => signal_outbox::AlertUpdate::Folded { id: Id(id.0) },
        AlertUpdate::Summarized {
            summary,
            folded,
            message_id,
        } => signal_outbox::AlertUpdate::Summarized {
            summary: new_alert(summary),
            folded: folded.into_iter().map(|id| Id(id.0)).collect(),
            message_id,
        },
        AlertUpdate::Retry { id, delay, error } => signal_outbox::AlertUpdate::Retry {
            id: Id(id.0),
            delay,
            error,
        },
        AlertUpdate::Failed { id, error } => signal_outbox::AlertUpdate::Failed {
            id: Id(id.0),
            error,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_maps_both_ways_by_its_stored_name() {
        for kind in signal_outbox::AlertKind::ALL {
            let ours = kind_from_outbox(*kind);
            assert_eq!(kind_to_outbox(ours), *kind);
            assert_eq!(ours.as_str(), kind.as_str());
        }
        for state in signal_outbox::AlertState::ALL {
            assert_eq!(state_from_outbox(*state).as_str(), state.as_str());
        }
    }

    #[test]
    fn errors_sort_by_what_the_dispatcher_can_do() {
        let fenced = queue_error(OutboxError::SenderFenced {
            holder: Some("w2".into()),
        });
        assert!(matches!(fenced, QueueError::Fenced { .. }), "{fenced:?}");
        let busy = queue_error(OutboxError::Unavailable {
            target: "o.db".into(),
            detail: "database is locked".into(),
        });
        assert!(busy.is_retryable(), "{busy:?}");
        let unknown = queue_error(OutboxError::UnknownId { id: "7".into() });
        assert!(matches!(unknown, QueueError::Refused { .. }), "{unknown:?}");
        let internal = queue_error(OutboxError::Internal { detail: "x".into() });
        assert!(
            matches!(internal, QueueError::Failed { .. }),
            "{internal:?}"
        );
    }
}
