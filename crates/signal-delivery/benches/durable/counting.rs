//! Arrivals without a receiver of our own: an outbox that announces every
//! delivered outcome once it is committed.
//!
//! Against an external receiver (`BENCH_RECEIVER_URL`, nginx in `cargo
//! xtask bench --external`) the bench cannot see requests arrive, so a drain
//! ends when the last `Delivered` outcome is committed instead: a few
//! milliseconds (one group commit) later than its arrival, on drains of
//! seconds. Every call goes to the wrapped outbox unchanged.

use signal_outbox::*;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// Forwards to `inner`; sends an instant on `arrivals` for every delivered
/// outcome that `record` committed.
#[derive(Debug)]
pub(crate) struct Counting {
    inner: Arc<dyn Outbox>,
    arrivals: mpsc::UnboundedSender<Instant>,
}

impl Counting {
    pub(crate) fn wrap(
        inner: Arc<dyn Outbox>,
        arrivals: mpsc::UnboundedSender<Instant>,
    ) -> Arc<dyn Outbox> {
        Arc::new(Counting { inner, arrivals })
    }
}

impl SignalStore for Counting {
    fn enqueue(
        &self,
        batch: EnqueueBatch,
    ) -> BoxFuture<'_, Result<Vec<EnqueueOutcome>, OutboxError>> {
        self.inner.enqueue(batch)
    }
    fn claim(
        &self,
        worker: &str,
        limit: usize,
        lease: Duration,
    ) -> BoxFuture<'_, Result<Claims, OutboxError>> {
        self.inner.claim(worker, limit, lease)
    }
    fn record(
        &self,
        worker: &str,
        outcomes: Vec<Outcome>,
    ) -> BoxFuture<'_, Result<Vec<Result<(), OutboxError>>, OutboxError>> {
        let delivered: Vec<bool> = outcomes
            .iter()
            .map(|o| matches!(o, Outcome::Delivered { .. }))
            .collect();
        let recorded = self.inner.record(worker, outcomes);
        Box::pin(async move {
            let results = recorded.await?;
            let now = Instant::now();
            for (result, delivered) in results.iter().zip(delivered) {
                if delivered && result.is_ok() {
                    let _ = self.arrivals.send(now);
                }
            }
            Ok(results)
        })
    }
    fn extend(
        &self,
        leases: Vec<(String, ClaimToken)>,
        lease: Duration,
    ) -> BoxFuture<'_, Result<Vec<Result<Timestamp, OutboxError>>, OutboxError>> {
        self.inner.extend(leases, lease)
    }
    fn release_all(&self, worker: &str) -> BoxFuture<'_, Result<u64, OutboxError>> {
        self.inner.release_all(worker)
    }
    fn wake_hints(&self) -> Option<Box<dyn WakeHints>> {
        self.inner.wake_hints()
    }
}

impl AlertStore for Counting {
    fn record_alerts(
        &self,
        alerts: Vec<NewAlert>,
    ) -> BoxFuture<'_, Result<Vec<AlertId>, OutboxError>> {
        self.inner.record_alerts(alerts)
    }
    fn acquire_sender(
        &self,
        worker: &str,
        lease: Duration,
    ) -> BoxFuture<'_, Result<Option<SenderLease>, OutboxError>> {
        self.inner.acquire_sender(worker, lease)
    }
    fn pending_alerts(
        &self,
        lease: &SenderLease,
        limit: usize,
    ) -> BoxFuture<'_, Result<Vec<StoredAlert>, OutboxError>> {
        self.inner.pending_alerts(lease, limit)
    }
    fn alert_groups(
        &self,
        lease: &SenderLease,
        since: Duration,
    ) -> BoxFuture<'_, Result<Vec<GroupState>, OutboxError>> {
        self.inner.alert_groups(lease, since)
    }
    fn update_alerts(
        &self,
        lease: &SenderLease,
        updates: Vec<AlertUpdate>,
    ) -> BoxFuture<'_, Result<(), OutboxError>> {
        self.inner.update_alerts(lease, updates)
    }
    fn alerts(
        &self,
        after: Option<AlertId>,
        limit: usize,
    ) -> BoxFuture<'_, Result<Vec<StoredAlert>, OutboxError>> {
        self.inner.alerts(after, limit)
    }
    fn ledger(&self) -> BoxFuture<'_, Result<Ledger, OutboxError>> {
        self.inner.ledger()
    }
    fn bot_offset(&self) -> BoxFuture<'_, Result<Option<i64>, OutboxError>> {
        self.inner.bot_offset()
    }
    fn set_bot_offset(
        &self,
        lease: &SenderLease,
        offset: i64,
    ) -> BoxFuture<'_, Result<(), OutboxError>> {
        self.inner.set_bot_offset(lease, offset)
    }
}

impl OutboxAdmin for Counting {
    fn stats(&self) -> BoxFuture<'_, Result<OutboxStats, OutboxError>> {
        self.inner.stats()
    }
    fn list(&self, filter: ListFilter) -> BoxFuture<'_, Result<Vec<RowSummary>, OutboxError>> {
        self.inner.list(filter)
    }
    fn show(&self, ids: Vec<String>) -> BoxFuture<'_, Result<Vec<SignalDetail>, OutboxError>> {
        self.inner.show(ids)
    }
    fn replay(&self, request: ReplayRequest) -> BoxFuture<'_, Result<ReplayReport, OutboxError>> {
        self.inner.replay(request)
    }
    fn purge_delivered(
        &self,
        older_than: Duration,
        limit: usize,
    ) -> BoxFuture<'_, Result<PurgeReport, OutboxError>> {
        self.inner.purge_delivered(older_than, limit)
    }
    fn export(
        &self,
        request: ExportRequest,
    ) -> BoxFuture<'_, Result<Vec<ExportedSignal>, OutboxError>> {
        self.inner.export(request)
    }
    fn import(
        &self,
        rows: Vec<ExportedSignal>,
    ) -> BoxFuture<'_, Result<Vec<ImportOutcome>, OutboxError>> {
        self.inner.import(rows)
    }
    fn record_audit(&self, entries: Vec<NewAuditEntry>) -> BoxFuture<'_, Result<(), OutboxError>> {
        self.inner.record_audit(entries)
    }
    fn audit(
        &self,
        after: Option<i64>,
        limit: usize,
    ) -> BoxFuture<'_, Result<Vec<AuditEntry>, OutboxError>> {
        self.inner.audit(after, limit)
    }
}

impl WorkerRegistry for Counting {
    fn heartbeat(&self, worker: WorkerInfo) -> BoxFuture<'_, Result<(), OutboxError>> {
        self.inner.heartbeat(worker)
    }
    fn worker_stopped(&self, worker: &str) -> BoxFuture<'_, Result<(), OutboxError>> {
        self.inner.worker_stopped(worker)
    }
    fn workers(
        &self,
        seen_within: Duration,
    ) -> BoxFuture<'_, Result<Vec<WorkerSeen>, OutboxError>> {
        self.inner.workers(seen_within)
    }
}

impl Outbox for Counting {
    fn describe(&self) -> String {
        format!("{} (delivered outcomes counted)", self.inner.describe())
    }
}
