//! [`SqliteOutbox`]: the contract on one embedded SQLite file.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use signal_outbox::{
    AlertId, AlertStore, AlertUpdate, AuditEntry, BoxFuture, ClaimToken, Claims, EnqueueBatch,
    EnqueueOutcome, ExportRequest, ExportedSignal, GroupState, ImportOutcome, Ledger, ListFilter,
    NewAlert, NewAuditEntry, Outbox, OutboxAdmin, OutboxError, OutboxStats, Outcome, PurgeReport,
    ReplayReport, ReplayRequest, RowSummary, SenderLease, SignalDetail, SignalStore, StoredAlert,
    Timestamp, WorkerInfo, WorkerRegistry, WorkerSeen,
};

use crate::clock::{Clock, SystemClock};
use crate::thread::{Connector, Settings};
use crate::{admin, alerts, bot_state, record, registry, retention, signals, transfer};

/// How long a purged delivered id is still recognised at enqueue by
/// default: 30 days (`OUTBOX_DEDUP_DAYS`).
pub const DEFAULT_DEDUP_WINDOW: Duration = Duration::from_secs(30 * 24 * 3600);

/// How an outbox file is opened. Every setting has a default:
/// the wall clock, a 30-day dedup window, no size cap.
///
/// ```
/// use std::sync::Arc;
/// use std::time::Duration;
/// use signal_outbox_sqlite::{ManualClock, SqliteOptions};
///
/// let options = SqliteOptions::default()
///     .with_clock(Arc::new(ManualClock::new(0)))
///     .with_dedup_window(Duration::from_secs(86_400))
///     .with_max_pages(10_000);
/// assert_eq!(options.dedup_window(), Duration::from_secs(86_400));
/// ```
#[derive(Debug, Clone)]
pub struct SqliteOptions {
    clock: Arc<dyn Clock>,
    dedup_window: Duration,
    max_pages: Option<u32>,
}

impl Default for SqliteOptions {
    fn default() -> SqliteOptions {
        SqliteOptions {
            clock: Arc::new(SystemClock),
            dedup_window: DEFAULT_DEDUP_WINDOW,
            max_pages: None,
        }
    }
}

impl SqliteOptions {
    /// Reads every time from `clock` (tests: a [`ManualClock`](crate::ManualClock)).
    #[must_use]
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> SqliteOptions {
        self.clock = clock;
        self
    }

    /// How long purged delivered ids stay recognised at enqueue.
    #[must_use]
    pub fn with_dedup_window(mut self, window: Duration) -> SqliteOptions {
        self.dedup_window = window;
        self
    }

    /// Caps the file at `pages` database pages (`PRAGMA max_page_count`,
    /// 4 KiB each by default): past it, writes fail with
    /// [`OutboxError::Full`], as on a full disk, instead of filling a shared
    /// volume.
    #[must_use]
    pub fn with_max_pages(mut self, pages: u32) -> SqliteOptions {
        self.max_pages = Some(pages);
        self
    }

    /// The dedup window.
    #[must_use]
    pub fn dedup_window(&self) -> Duration {
        self.dedup_window
    }
}

/// The durable outbox in one SQLite file (plus its `-wal` and `-shm` files).
///
/// One connection, on a thread of its own: SQLite admits one writer per file
/// anyway, every operation is a short transaction dominated by its fsync,
/// and operator commands run in their own processes with their own
/// connections, which WAL lets read while the worker writes. Dropping the
/// outbox waits for the job in hand and closes the file.
pub struct SqliteOutbox {
    path: PathBuf,
    connector: Connector,
    #[cfg(unix)]
    wake: crate::wake::WakeDir,
}

impl fmt::Debug for SqliteOutbox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteOutbox")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl SqliteOutbox {
    /// Opens the outbox at `path` with the default options, creating the
    /// file and the schema if they do not exist, upgrading an older schema
    /// in place, in WAL mode with `synchronous=FULL`: every commit waits for
    /// the WAL to reach stable storage, so an acknowledged signal survives a
    /// power loss, not just the death of this process.
    ///
    /// Blocking (it opens and migrates the file): call it at start-up.
    ///
    /// # Errors
    /// - [`OutboxError::Open`] if the path is a directory, its directory does
    ///   not exist or is a file, the file cannot be opened or written, or it
    ///   is another program's SQLite file.
    /// - [`OutboxError::SchemaTooNew`] if a newer build wrote it.
    /// - [`OutboxError::Corrupt`] if it is not a SQLite database or damaged.
    ///
    /// Each message names the path, what is wrong and what to do.
    pub fn open(path: &Path) -> Result<SqliteOutbox, OutboxError> {
        SqliteOutbox::open_with(path, SqliteOptions::default())
    }

    /// Opens the outbox reading every time from `clock`.
    ///
    /// # Errors
    /// As for [`open`](SqliteOutbox::open).
    pub fn open_with_clock(
        path: &Path,
        clock: Arc<dyn Clock>,
    ) -> Result<SqliteOutbox, OutboxError> {
        SqliteOutbox::open_with(path, SqliteOptions::default().with_clock(clock))
    }

    /// Opens the outbox with `options`.
    ///
    /// # Errors
    /// As for [`open`](SqliteOutbox::open).
    pub fn open_with(path: &Path, options: SqliteOptions) -> Result<SqliteOutbox, OutboxError> {
        let settings = Settings {
            clock: options.clock,
            dedup_window: options.dedup_window,
            max_pages: options.max_pages,
        };
        let connector = Connector::start(path, settings)?;
        tracing::debug!(path = %path.display(), "opened signal outbox");
        Ok(SqliteOutbox {
            path: path.to_path_buf(),
            connector,
            #[cfg(unix)]
            wake: crate::wake::WakeDir::beside(path),
        })
    }

    /// Wakes the workers subscribed to this file, after a commit that made
    /// work due now.
    fn wake_workers(&self) {
        #[cfg(unix)]
        self.wake.notify();
    }

    /// The path this outbox was opened with.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl SignalStore for SqliteOutbox {
    fn enqueue(
        &self,
        batch: EnqueueBatch,
    ) -> BoxFuture<'_, Result<Vec<EnqueueOutcome>, OutboxError>> {
        Box::pin(async move {
            let outcomes = self
                .connector
                .call(move |db| signals::enqueue(db, batch))
                .await?;
            if outcomes.contains(&EnqueueOutcome::Inserted) {
                self.wake_workers();
            }
            Ok(outcomes)
        })
    }

    fn claim(
        &self,
        worker: &str,
        limit: usize,
        lease: Duration,
    ) -> BoxFuture<'_, Result<Claims, OutboxError>> {
        let worker = worker.to_owned();
        Box::pin(
            self.connector
                .call(move |db| signals::claim(db, &worker, limit, lease)),
        )
    }

    fn record(
        &self,
        worker: &str,
        outcomes: Vec<Outcome>,
    ) -> BoxFuture<'_, Result<Vec<Result<(), OutboxError>>, OutboxError>> {
        let worker = worker.to_owned();
        Box::pin(
            self.connector
                .call(move |db| record::record(db, &worker, outcomes)),
        )
    }

    fn extend(
        &self,
        leases: Vec<(String, ClaimToken)>,
        lease: Duration,
    ) -> BoxFuture<'_, Result<Vec<Result<Timestamp, OutboxError>>, OutboxError>> {
        Box::pin(
            self.connector
                .call(move |db| signals::extend(db, leases, lease)),
        )
    }

    fn release_all(&self, worker: &str) -> BoxFuture<'_, Result<u64, OutboxError>> {
        let worker = worker.to_owned();
        Box::pin(async move {
            let released = self
                .connector
                .call(move |db| signals::release_all(db, &worker))
                .await?;
            if released > 0 {
                self.wake_workers();
            }
            Ok(released)
        })
    }

    /// Datagrams on a Unix socket beside the file (`<file>.wake/`): see
    /// `src/wake.rs`. `None` outside a tokio runtime, or where the socket
    /// cannot be made; the worker then polls.
    fn wake_hints(&self) -> Option<Box<dyn signal_outbox::WakeHints>> {
        #[cfg(unix)]
        return self.wake.subscribe();
        #[cfg(not(unix))]
        None
    }
}

impl AlertStore for SqliteOutbox {
    fn record_alerts(
        &self,
        alerts: Vec<NewAlert>,
    ) -> BoxFuture<'_, Result<Vec<AlertId>, OutboxError>> {
        Box::pin(
            self.connector
                .call(move |db| alerts::record_alerts(db, alerts)),
        )
    }

    fn acquire_sender(
        &self,
        worker: &str,
        lease: Duration,
    ) -> BoxFuture<'_, Result<Option<SenderLease>, OutboxError>> {
        let worker = worker.to_owned();
        Box::pin(
            self.connector
                .call(move |db| alerts::acquire_sender(db, &worker, lease)),
        )
    }

    fn pending_alerts(
        &self,
        lease: &SenderLease,
        limit: usize,
    ) -> BoxFuture<'_, Result<Vec<StoredAlert>, OutboxError>> {
        let lease = *lease;
        Box::pin(
            self.connector
                .call(move |db| alerts::pending_alerts(db, lease, limit)),
        )
    }

    fn alert_groups(
        &self,
        lease: &SenderLease,
        since: Duration,
    ) -> BoxFuture<'_, Result<Vec<GroupState>, OutboxError>> {
        let lease = *lease;
        Box::pin(
            self.connector
                .call(move |db| alerts::alert_groups(db, lease, since)),
        )
    }

    fn update_alerts(
        &self,
        lease: &SenderLease,
        updates: Vec<AlertUpdate>,
    ) -> BoxFuture<'_, Result<(), OutboxError>> {
        let lease = *lease;
        Box::pin(
            self.connector
                .call(move |db| alerts::update_alerts(db, lease, updates)),
        )
    }

    fn alerts(
        &self,
        after: Option<AlertId>,
        limit: usize,
    ) -> BoxFuture<'_, Result<Vec<StoredAlert>, OutboxError>> {
        Box::pin(
            self.connector
                .call(move |db| alerts::alerts(db, after, limit)),
        )
    }

    fn ledger(&self) -> BoxFuture<'_, Result<Ledger, OutboxError>> {
        Box::pin(self.connector.call(alerts::ledger))
    }

    fn bot_offset(&self) -> BoxFuture<'_, Result<Option<i64>, OutboxError>> {
        Box::pin(self.connector.call(bot_state::bot_offset))
    }

    fn set_bot_offset(
        &self,
        lease: &SenderLease,
        offset: i64,
    ) -> BoxFuture<'_, Result<(), OutboxError>> {
        let lease = *lease;
        Box::pin(
            self.connector
                .call(move |db| bot_state::set_bot_offset(db, lease, offset)),
        )
    }
}

impl OutboxAdmin for SqliteOutbox {
    fn stats(&self) -> BoxFuture<'_, Result<OutboxStats, OutboxError>> {
        Box::pin(self.connector.call(admin::stats))
    }

    fn list(&self, filter: ListFilter) -> BoxFuture<'_, Result<Vec<RowSummary>, OutboxError>> {
        Box::pin(self.connector.call(move |db| admin::list(db, filter)))
    }

    fn show(&self, ids: Vec<String>) -> BoxFuture<'_, Result<Vec<SignalDetail>, OutboxError>> {
        Box::pin(self.connector.call(move |db| admin::show(db, ids)))
    }

    fn replay(&self, request: ReplayRequest) -> BoxFuture<'_, Result<ReplayReport, OutboxError>> {
        Box::pin(async move {
            let report = self
                .connector
                .call(move |db| admin::replay(db, request))
                .await?;
            self.wake_workers();
            Ok(report)
        })
    }

    fn export(
        &self,
        request: ExportRequest,
    ) -> BoxFuture<'_, Result<Vec<ExportedSignal>, OutboxError>> {
        Box::pin(self.connector.call(move |db| transfer::export(db, request)))
    }

    fn import(
        &self,
        rows: Vec<ExportedSignal>,
    ) -> BoxFuture<'_, Result<Vec<ImportOutcome>, OutboxError>> {
        Box::pin(async move {
            let outcomes = self
                .connector
                .call(move |db| transfer::import(db, rows))
                .await?;
            if outcomes.contains(&ImportOutcome::Imported) {
                self.wake_workers();
            }
            Ok(outcomes)
        })
    }

    fn purge_delivered(
        &self,
        older_than: Duration,
        limit: usize,
    ) -> BoxFuture<'_, Result<PurgeReport, OutboxError>> {
        Box::pin(async move {
            if limit == 0 {
                return Err(OutboxError::InvalidInput {
                    reason: "the purge limit (rows per transaction) must be at least 1".to_owned(),
                });
            }
            // One transaction per call, so the worker's own calls interleave
            // with a long purge instead of waiting for all of it.
            let mut report = PurgeReport::default();
            let mut cutoff = None;
            loop {
                let batch = self
                    .connector
                    .call(move |db| retention::purge_batch(db, older_than, cutoff, limit))
                    .await?;
                retention::add(&mut report, &batch);
                cutoff = Some(batch.cutoff);
                let full =
                    usize::try_from(batch.purged.max(batch.expired)).unwrap_or(usize::MAX) >= limit;
                if !full {
                    return Ok(report);
                }
            }
        })
    }

    fn record_audit(&self, entries: Vec<NewAuditEntry>) -> BoxFuture<'_, Result<(), OutboxError>> {
        Box::pin(
            self.connector
                .call(move |db| admin::record_audit(db, entries)),
        )
    }

    fn audit(
        &self,
        after: Option<i64>,
        limit: usize,
    ) -> BoxFuture<'_, Result<Vec<AuditEntry>, OutboxError>> {
        Box::pin(
            self.connector
                .call(move |db| admin::audit(db, after, limit)),
        )
    }
}

impl WorkerRegistry for SqliteOutbox {
    fn heartbeat(&self, worker: WorkerInfo) -> BoxFuture<'_, Result<(), OutboxError>> {
        Box::pin(
            self.connector
                .call(move |db| registry::heartbeat(db, worker)),
        )
    }

    fn worker_stopped(&self, worker: &str) -> BoxFuture<'_, Result<(), OutboxError>> {
        let worker = worker.to_owned();
        Box::pin(
            self.connector
                .call(move |db| registry::worker_stopped(db, &worker)),
        )
    }

    fn workers(
        &self,
        seen_within: Duration,
    ) -> BoxFuture<'_, Result<Vec<WorkerSeen>, OutboxError>> {
        Box::pin(
            self.connector
                .call(move |db| registry::workers(db, seen_within)),
        )
    }
}

impl Outbox for SqliteOutbox {
    fn describe(&self) -> String {
        self.path.display().to_string()
    }
}
