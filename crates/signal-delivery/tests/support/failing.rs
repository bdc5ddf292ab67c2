//! A fault-injecting seam: a real SQLite outbox whose claims fail while a
//! switch is on, as a lost database connection or a full disk would make
//! them fail. Everything else goes to the real outbox.

use signal_outbox::*;
use signal_outbox_sqlite::SqliteOutbox;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

#[derive(Debug)]
pub struct FailingClaims {
    pub inner: Arc<SqliteOutbox>,
    pub failing: AtomicBool,
    pub refused: AtomicU64,
    /// The next this many record calls fail as unavailable.
    pub failing_records: AtomicU64,
    /// Every claim call, refused or not.
    pub claims: AtomicU64,
    /// Notified when `claims` passes 100: a worker asking in a loop ends
    /// its test with a failure instead of a hang.
    pub claims_runaway: tokio::sync::Notify,
}

impl FailingClaims {
    pub fn new(inner: Arc<SqliteOutbox>) -> Arc<FailingClaims> {
        Arc::new(FailingClaims {
            inner,
            failing: AtomicBool::new(false),
            refused: AtomicU64::new(0),
            failing_records: AtomicU64::new(0),
            claims: AtomicU64::new(0),
            claims_runaway: tokio::sync::Notify::new(),
        })
    }
}

impl SignalStore for FailingClaims {
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
        if self.claims.fetch_add(1, Ordering::SeqCst) == 100 {
            self.claims_runaway.notify_one();
        }
        if self.failing.load(Ordering::SeqCst) {
            self.refused.fetch_add(1, Ordering::SeqCst);
            return Box::pin(async {
                Err(OutboxError::Unavailable {
                    target: "test-db".to_owned(),
                    detail: "connection refused (injected)".to_owned(),
                })
            });
        }
        self.inner.claim(worker, limit, lease)
    }
    fn record(
        &self,
        worker: &str,
        outcomes: Vec<Outcome>,
    ) -> BoxFuture<'_, Result<Vec<Result<(), OutboxError>>, OutboxError>> {
        if self
            .failing_records
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
        {
            return Box::pin(async {
                Err(OutboxError::Unavailable {
                    target: "test-db".to_owned(),
                    detail: "connection reset (injected)".to_owned(),
                })
            });
        }
        self.inner.record(worker, outcomes)
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
}

impl AlertStore for FailingClaims {
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

impl OutboxAdmin for FailingClaims {
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
}

impl WorkerRegistry for FailingClaims {
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

impl Outbox for FailingClaims {
    fn describe(&self) -> String {
        "test-db (claims fail on demand)".to_owned()
    }
}
