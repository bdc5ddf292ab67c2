//! How the worker claims and paces itself.

use std::time::Duration;

use signal_config::OutboxSettings;

/// How the worker claims and paces itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerSettings {
    /// How long a claim is leased (`OUTBOX_LEASE_SECONDS`).
    pub lease: Duration,
    /// Idle wait before looking for due rows again (`OUTBOX_POLL_INTERVAL_MS`).
    pub poll_interval: Duration,
    /// Most rows claimed per transaction (`OUTBOX_BATCH_SIZE`).
    pub batch_size: usize,
    /// Most attempts in flight at once (`run --concurrency`).
    pub concurrency: usize,
    /// How often the outbox depth gauges are refreshed.
    pub stats_interval: Duration,
    /// How often the worker tells the outbox it is alive (its heartbeat).
    pub heartbeat_interval: Duration,
    /// Delivered rows older than this are purged in the background
    /// (`OUTBOX_RETENTION_DAYS`); `None` keeps every row.
    pub retention: Option<Duration>,
    /// After claims have failed without a break for this long, the worker
    /// stops with [`WorkerError::Unavailable`](super::WorkerError::Unavailable)
    /// (`OUTBOX_UNAVAILABLE_EXIT_SECONDS`, default 600).
    pub exit_after_unavailable: Duration,
}

impl WorkerSettings {
    /// Default refresh interval of the depth gauges.
    pub const DEFAULT_STATS_INTERVAL: Duration = Duration::from_secs(5);
    /// Default heartbeat interval: `enqueue` warns when no worker was seen
    /// for a few of these.
    pub const DEFAULT_HEARTBEAT_INTERVAL: Duration = Duration::from_secs(5);

    /// The settings from the outbox configuration and a concurrency.
    ///
    /// ```
    /// use signal_config::OutboxSettings;
    /// use signal_delivery::worker::WorkerSettings;
    ///
    /// let settings = WorkerSettings::new(&OutboxSettings::with_path("o.db".into()), 0);
    /// assert_eq!((settings.concurrency, settings.batch_size), (1, 64));
    /// ```
    pub fn new(outbox: &OutboxSettings, concurrency: usize) -> WorkerSettings {
        WorkerSettings {
            lease: outbox.lease,
            poll_interval: outbox.poll_interval,
            batch_size: outbox.batch_size.max(1),
            concurrency: concurrency.max(1),
            stats_interval: WorkerSettings::DEFAULT_STATS_INTERVAL,
            heartbeat_interval: WorkerSettings::DEFAULT_HEARTBEAT_INTERVAL,
            retention: outbox.retention,
            exit_after_unavailable: outbox.exit_after_unavailable,
        }
    }
}
