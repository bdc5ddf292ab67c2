//! [`PgOutbox`]: the contract on PostgreSQL, for a fleet of workers.

use std::fmt;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use signal_outbox::{
    AlertId, AlertStore, AlertUpdate, AuditEntry, BoxFuture, ClaimToken, Claims, EnqueueBatch,
    EnqueueOutcome, ExportRequest, ExportedSignal, GroupState, ImportOutcome, Ledger, ListFilter,
    NewAlert, NewAuditEntry, Outbox, OutboxAdmin, OutboxError, OutboxStats, Outcome, PurgeReport,
    ReplayReport, ReplayRequest, RowSummary, SenderLease, SignalDetail, SignalStore, StoredAlert,
    Timestamp, WakeHints, WorkerInfo, WorkerRegistry, WorkerSeen,
};
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::clock::{Clock, TestClock};
use crate::config::PgConfig;
use crate::db::Db;
use crate::notify::Listener;
use crate::schema::{self, MigrationReport};
use crate::tls::{SslMode, client_config, install_crypto_provider};
use crate::{admin, alerts, bot_state, record, registry, retention, signals, transfer};

/// How long a purged delivered id is still recognised at enqueue by
/// default: 30 days (`OUTBOX_DEDUP_DAYS`).
pub const DEFAULT_DEDUP_WINDOW: Duration = Duration::from_secs(30 * 24 * 3600);

/// Connections per handle by default: the worker's claim loop, its recorder,
/// the alert sender, the heartbeat and the stats refresh each hold at most
/// one at a time, with room for bursts.
pub const DEFAULT_POOL_SIZE: usize = 8;

/// What to do about the schema at start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Migrate {
    /// Apply missing versions under the advisory lock (the default: N
    /// workers starting together do not race).
    #[default]
    Auto,
    /// Only check: refuse to start when a version this build needs is
    /// missing (operators who run `signal-delivery outbox migrate` as a
    /// separate step).
    Check,
    /// Neither at connect: the caller calls [`PgOutbox::migrate`] next and
    /// reports what it applied (`signal-delivery outbox migrate`).
    Manual,
}

/// How the outbox is opened. Every setting has a default: the database's
/// clock, a 30-day dedup window, 8 connections, automatic migration.
///
/// ```
/// use std::time::Duration;
/// use signal_outbox_postgres::{Migrate, PgOptions};
///
/// let options = PgOptions::default()
///     .with_pool_size(4)
///     .with_dedup_window(Duration::from_secs(86_400))
///     .with_migrate(Migrate::Check);
/// assert_eq!(options.pool_size(), 4);
/// ```
#[derive(Debug, Clone)]
pub struct PgOptions {
    clock: Clock,
    dedup_window: Duration,
    pool_size: usize,
    migrate: Migrate,
}

impl Default for PgOptions {
    fn default() -> PgOptions {
        PgOptions {
            clock: Clock::Database,
            dedup_window: DEFAULT_DEDUP_WINDOW,
            pool_size: DEFAULT_POOL_SIZE,
            migrate: Migrate::Auto,
        }
    }
}

impl PgOptions {
    /// Uses `clock` in place of the database's `now()` in every statement
    /// (tests only: production must use the database's clock).
    #[must_use]
    pub fn with_test_clock(mut self, clock: TestClock) -> PgOptions {
        self.clock = Clock::Test(clock);
        self
    }

    /// How long purged delivered ids stay recognised at enqueue.
    #[must_use]
    pub fn with_dedup_window(mut self, window: Duration) -> PgOptions {
        self.dedup_window = window;
        self
    }

    /// The most connections this handle opens (at least 1).
    #[must_use]
    pub fn with_pool_size(mut self, size: usize) -> PgOptions {
        self.pool_size = size.max(1);
        self
    }

    /// What to do about the schema at start.
    #[must_use]
    pub fn with_migrate(mut self, migrate: Migrate) -> PgOptions {
        self.migrate = migrate;
        self
    }

    /// The pool size.
    #[must_use]
    pub fn pool_size(&self) -> usize {
        self.pool_size
    }
}

/// The durable outbox in a PostgreSQL database, shared by any number of
/// workers on any number of hosts.
///
/// A handle owns a small connection pool (and, once a worker asks for wake
/// hints, one listening connection). Every method is one short transaction;
/// none is held across a delivery. Dropping the handle closes its
/// connections.
pub struct PgOutbox {
    db: Db,
    config: PgConfig,
    tls: MakeRustlsConnect,
    listener: OnceLock<Option<Listener>>,
}

impl fmt::Debug for PgOutbox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgOutbox")
            .field("url", &self.config.redacted())
            .field("ssl_mode", &self.config.ssl_mode())
            .field("pool_size", &self.db.pool.status().max_size)
            .finish_non_exhaustive()
    }
}

impl PgOutbox {
    /// Connects with the default options to `url` (see [`PgConfig`] for
    /// what it may hold and the `PG*` variables read when it lacks a
    /// part), applying missing schema versions.
    ///
    /// # Errors
    /// [`OutboxError::InvalidInput`] for a bad URL; [`OutboxError::Open`]
    /// when the server cannot be reached, refuses the credentials or fails
    /// the TLS check (each with a hint); [`OutboxError::BinaryTooOld`] when
    /// the schema requires a newer build. No message contains the password.
    pub async fn connect(url: &str) -> Result<PgOutbox, OutboxError> {
        PgOutbox::connect_with(PgConfig::from_url(url)?, PgOptions::default()).await
    }

    /// Connects with `config` and `options`.
    ///
    /// # Errors
    /// As for [`connect`](PgOutbox::connect).
    pub async fn connect_with(
        config: PgConfig,
        options: PgOptions,
    ) -> Result<PgOutbox, OutboxError> {
        install_crypto_provider();
        let target = config.redacted().to_owned();
        match config.ssl_mode() {
            SslMode::Require => tracing::warn!(
                target = %target,
                "sslmode=require: the connection is encrypted but the server's certificate is \
                 not checked; use verify-full with sslrootcert"
            ),
            SslMode::Disable if !config.is_local() => tracing::warn!(
                target = %target,
                "sslmode=disable to a host that is not this machine: credentials and signals \
                 cross the network in plain text"
            ),
            _ => {}
        }
        let tls = MakeRustlsConnect::new(client_config(
            if config.ssl_mode().encrypts() {
                config.ssl_mode()
            } else {
                SslMode::Require
            },
            config.roots.as_ref(),
            &target,
        )?);
        let manager = Manager::from_config(
            config.pg.clone(),
            tls.clone(),
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let connect_timeout = config.pg.get_connect_timeout().copied();
        let pool = Pool::builder(manager)
            .max_size(options.pool_size)
            .runtime(Runtime::Tokio1)
            .create_timeout(connect_timeout)
            .wait_timeout(Some(Duration::from_secs(30)))
            .build()
            .map_err(|e| OutboxError::Internal {
                detail: format!("cannot build the connection pool: {e}"),
            })?;
        let db = Db {
            pool,
            clock: options.clock,
            target: target.clone().into(),
            dedup_window: options.dedup_window,
        };
        let outbox = PgOutbox {
            db,
            config,
            tls,
            listener: OnceLock::new(),
        };
        let mut conn = outbox
            .db
            .pool
            .get()
            .await
            .map_err(|e| open_error(&target, &e))?;
        match options.migrate {
            Migrate::Auto => {
                schema::migrate(&mut conn, &target, outbox.db.now()).await?;
            }
            Migrate::Check => {
                schema::check(&**conn, &target).await?;
            }
            Migrate::Manual => {}
        }
        tracing::debug!(target = %target, "opened signal outbox");
        Ok(outbox)
    }

    /// Applies the schema versions this build knows and the database lacks,
    /// under the advisory lock (`signal-delivery outbox migrate`); a no-op
    /// on a current schema.
    ///
    /// # Errors
    /// [`OutboxError::BinaryTooOld`] when the schema requires a newer
    /// build; [`OutboxError::Open`] when a migration fails (nothing of it
    /// stays applied).
    pub async fn migrate(&self) -> Result<MigrationReport, OutboxError> {
        let mut conn = self.db.conn().await?;
        schema::migrate(&mut conn, &self.db.target, self.db.now()).await
    }

    /// The database's clock now (Unix ms), for comparing with this host's:
    /// a worker should warn when they differ by more than a few seconds
    /// (leases and schedules follow the database; the `webhook-timestamp`
    /// follows the host, and receivers check it). Through the contract,
    /// [`Claims::now`] gives the same reading at every claim.
    ///
    /// # Errors
    /// Storage errors.
    pub async fn database_now(&self) -> Result<Timestamp, OutboxError> {
        let conn = self.db.conn().await?;
        signals::database_now(&self.db, &conn).await
    }

    /// The configuration it connected with.
    #[must_use]
    pub fn config(&self) -> &PgConfig {
        &self.config
    }
}

/// The first connection failed: say what to check.
/// The hints of the connect failures that may pass by themselves (see
/// [`PgOutbox::may_pass`]): one place, so the check cannot drift from
/// the messages.
const HINT_NOT_NOW: &str =
    "the server is not accepting connections now (starting, shutting down, or full); try again";
const HINT_TIMEOUT: &str = "the server did not answer within the connect timeout; check the \
                            host, the port and the firewall";
const HINT_UNREACHABLE: &str = "check that PostgreSQL runs at that host and port and accepts \
                                connections from this host (listen_addresses, pg_hba.conf)";

impl PgOutbox {
    /// Whether a failed [`connect`](PgOutbox::connect) may succeed by
    /// itself soon: the server is starting, shutting down, full, not
    /// listening, or slow to answer. A worker starting beside a restarting
    /// database retries these for a bounded time; credentials, a missing
    /// database, TLS and schema errors need an operator and are final.
    ///
    /// ```
    /// use signal_outbox::OutboxError;
    /// use signal_outbox_postgres::PgOutbox;
    ///
    /// let bad_url = OutboxError::InvalidInput { reason: "bad URL".to_owned() };
    /// assert!(!PgOutbox::may_pass(&bad_url));
    /// ```
    #[must_use]
    pub fn may_pass(error: &OutboxError) -> bool {
        match error {
            OutboxError::Open { hint, .. } => {
                [HINT_NOT_NOW, HINT_TIMEOUT, HINT_UNREACHABLE].contains(&hint.as_str())
            }
            OutboxError::Unavailable { .. } => true,
            _ => false,
        }
    }
}

fn open_error(target: &str, error: &deadpool_postgres::PoolError) -> OutboxError {
    let detail = crate::error::chain(error);
    if let deadpool_postgres::PoolError::Backend(pg) = error
        && pg.as_db_error().is_some()
    {
        return match crate::error::from_pg(target, pg) {
            OutboxError::Unavailable { target, detail } => OutboxError::Open {
                target,
                reason: detail,
                hint: HINT_NOT_NOW.to_owned(),
            },
            other => other,
        };
    }
    let lower = detail.to_lowercase();
    let hint = if lower.contains("certificate")
        || lower.contains("tls")
        || lower.contains("handshake")
    {
        "check sslmode and sslrootcert: with verify-full the server's certificate must chain to \
         the root in sslrootcert and name the host in the URL"
    } else if lower.contains("timed out") || lower.contains("timeout") {
        HINT_TIMEOUT
    } else {
        HINT_UNREACHABLE
    };
    OutboxError::Open {
        target: target.to_owned(),
        reason: detail,
        hint: hint.to_owned(),
    }
}

impl SignalStore for PgOutbox {
    fn enqueue(
        &self,
        batch: EnqueueBatch,
    ) -> BoxFuture<'_, Result<Vec<EnqueueOutcome>, OutboxError>> {
        Box::pin(signals::enqueue(&self.db, batch))
    }

    fn claim(
        &self,
        worker: &str,
        limit: usize,
        lease: Duration,
    ) -> BoxFuture<'_, Result<Claims, OutboxError>> {
        let worker = worker.to_owned();
        Box::pin(async move { signals::claim(&self.db, &worker, limit, lease).await })
    }

    fn record(
        &self,
        worker: &str,
        outcomes: Vec<Outcome>,
    ) -> BoxFuture<'_, Result<Vec<Result<(), OutboxError>>, OutboxError>> {
        let worker = worker.to_owned();
        Box::pin(async move { record::record(&self.db, &worker, outcomes).await })
    }

    fn extend(
        &self,
        leases: Vec<(String, ClaimToken)>,
        lease: Duration,
    ) -> BoxFuture<'_, Result<Vec<Result<Timestamp, OutboxError>>, OutboxError>> {
        Box::pin(signals::extend(&self.db, leases, lease))
    }

    fn release_all(&self, worker: &str) -> BoxFuture<'_, Result<u64, OutboxError>> {
        let worker = worker.to_owned();
        Box::pin(async move { signals::release_all(&self.db, &worker).await })
    }

    fn wake_hints(&self) -> Option<Box<dyn WakeHints>> {
        let listener = self.listener.get_or_init(|| {
            if tokio::runtime::Handle::try_current().is_err() {
                tracing::warn!("wake hints need a tokio runtime; the worker will poll");
                return None;
            }
            let mut pg = self.config.pg.clone();
            // A dead peer must be noticed on an idle session too.
            pg.keepalives(true).keepalives_idle(Duration::from_secs(30));
            Some(Listener::start(
                pg,
                self.tls.clone(),
                self.db.target.to_string(),
            ))
        });
        listener.as_ref().map(Listener::subscribe)
    }
}

impl AlertStore for PgOutbox {
    fn record_alerts(
        &self,
        alerts: Vec<NewAlert>,
    ) -> BoxFuture<'_, Result<Vec<AlertId>, OutboxError>> {
        Box::pin(alerts::record_alerts(&self.db, alerts))
    }

    fn acquire_sender(
        &self,
        worker: &str,
        lease: Duration,
    ) -> BoxFuture<'_, Result<Option<SenderLease>, OutboxError>> {
        let worker = worker.to_owned();
        Box::pin(async move { alerts::acquire_sender(&self.db, &worker, lease).await })
    }

    fn pending_alerts(
        &self,
        lease: &SenderLease,
        limit: usize,
    ) -> BoxFuture<'_, Result<Vec<StoredAlert>, OutboxError>> {
        Box::pin(alerts::pending_alerts(&self.db, *lease, limit))
    }

    fn alert_groups(
        &self,
        lease: &SenderLease,
        since: Duration,
    ) -> BoxFuture<'_, Result<Vec<GroupState>, OutboxError>> {
        Box::pin(alerts::alert_groups(&self.db, *lease, since))
    }

    fn update_alerts(
        &self,
        lease: &SenderLease,
        updates: Vec<AlertUpdate>,
    ) -> BoxFuture<'_, Result<(), OutboxError>> {
        Box::pin(alerts::update_alerts(&self.db, *lease, updates))
    }

    fn alerts(
        &self,
        after: Option<AlertId>,
        limit: usize,
    ) -> BoxFuture<'_, Result<Vec<StoredAlert>, OutboxError>> {
        Box::pin(alerts::alerts(&self.db, after, limit))
    }

    fn ledger(&self) -> BoxFuture<'_, Result<Ledger, OutboxError>> {
        Box::pin(alerts::ledger(&self.db))
    }

    fn bot_offset(&self) -> BoxFuture<'_, Result<Option<i64>, OutboxError>> {
        Box::pin(bot_state::bot_offset(&self.db))
    }

    fn set_bot_offset(
        &self,
        lease: &SenderLease,
        offset: i64,
    ) -> BoxFuture<'_, Result<(), OutboxError>> {
        let lease = *lease;
        Box::pin(bot_state::set_bot_offset(&self.db, lease, offset))
    }
}

impl OutboxAdmin for PgOutbox {
    fn stats(&self) -> BoxFuture<'_, Result<OutboxStats, OutboxError>> {
        Box::pin(admin::stats(&self.db))
    }

    fn list(&self, filter: ListFilter) -> BoxFuture<'_, Result<Vec<RowSummary>, OutboxError>> {
        Box::pin(admin::list(&self.db, filter))
    }

    fn show(&self, ids: Vec<String>) -> BoxFuture<'_, Result<Vec<SignalDetail>, OutboxError>> {
        Box::pin(admin::show(&self.db, ids))
    }

    fn export(
        &self,
        request: ExportRequest,
    ) -> BoxFuture<'_, Result<Vec<ExportedSignal>, OutboxError>> {
        Box::pin(transfer::export(&self.db, request))
    }

    fn import(
        &self,
        rows: Vec<ExportedSignal>,
    ) -> BoxFuture<'_, Result<Vec<ImportOutcome>, OutboxError>> {
        Box::pin(transfer::import(&self.db, rows))
    }

    fn replay(&self, request: ReplayRequest) -> BoxFuture<'_, Result<ReplayReport, OutboxError>> {
        Box::pin(admin::replay(&self.db, request))
    }

    fn purge_delivered(
        &self,
        older_than: Duration,
        limit: usize,
    ) -> BoxFuture<'_, Result<PurgeReport, OutboxError>> {
        Box::pin(retention::purge_delivered(&self.db, older_than, limit))
    }

    fn record_audit(&self, entries: Vec<NewAuditEntry>) -> BoxFuture<'_, Result<(), OutboxError>> {
        Box::pin(admin::record_audit(&self.db, entries))
    }

    fn audit(
        &self,
        after: Option<i64>,
        limit: usize,
    ) -> BoxFuture<'_, Result<Vec<AuditEntry>, OutboxError>> {
        Box::pin(admin::audit(&self.db, after, limit))
    }
}

impl WorkerRegistry for PgOutbox {
    fn heartbeat(&self, worker: WorkerInfo) -> BoxFuture<'_, Result<(), OutboxError>> {
        Box::pin(registry::heartbeat(&self.db, worker))
    }

    fn worker_stopped(&self, worker: &str) -> BoxFuture<'_, Result<(), OutboxError>> {
        let worker = worker.to_owned();
        Box::pin(async move { registry::worker_stopped(&self.db, &worker).await })
    }

    fn workers(
        &self,
        seen_within: Duration,
    ) -> BoxFuture<'_, Result<Vec<WorkerSeen>, OutboxError>> {
        Box::pin(registry::workers(&self.db, seen_within))
    }
}

impl Outbox for PgOutbox {
    fn describe(&self) -> String {
        self.config.redacted().to_owned()
    }
}

#[allow(dead_code)]
fn _assert_send_sync(outbox: Arc<PgOutbox>) -> Arc<dyn Outbox> {
    outbox
}
