//! The one place that opens an outbox: from `--outbox` if given, else from
//! the configuration (`OUTBOX_URL` or `OUTBOX_PATH`), with the dedup window
//! of `OUTBOX_DEDUP_DAYS`. Every command goes through here, so a backend is
//! added in one place: a SQLite file, or a PostgreSQL database shared by a
//! fleet of workers.

use crate::args::OutboxArg;
use crate::exit;
use signal_config::{OutboxSettings, OutboxTarget, SecretUrl};
use signal_outbox::{Outbox, OutboxError};
use signal_outbox_postgres::{Migrate, PgConfig, PgOptions, PgOutbox};
use signal_outbox_sqlite::{SqliteOptions, SqliteOutbox};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// What opening may do to the schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Schema {
    /// `enqueue` and `run`: create a missing SQLite file, apply missing
    /// PostgreSQL migrations (under the advisory lock: N workers starting
    /// together do not race).
    Create,
    /// Operator commands: the outbox must exist and be current; they never
    /// change a schema (a typo must not create an empty outbox that then
    /// looks healthy).
    Existing,
}

/// Opens the outbox for `enqueue` and `run`, creating a missing SQLite file
/// or applying missing PostgreSQL migrations; or exits 2 with the problem
/// and `not_done` ("Nothing was enqueued.").
pub(super) async fn outbox(
    arg: &OutboxArg,
    settings: &OutboxSettings,
    not_done: &str,
) -> Result<Arc<dyn Outbox>, ExitCode> {
    let target = target(arg, settings).map_err(|e| exit::usage(format_args!("{e}\n{not_done}")))?;
    open(&target, settings, Schema::Create)
        .await
        .map_err(|e| exit::usage(format_args!("{e}\n{not_done}")))
}

/// How long `run` keeps trying to reach a PostgreSQL server that is
/// starting, restarting or not listening yet, before it exits 2: a worker
/// started beside its database (at boot, during a failover) waits for it
/// instead of failing, while a wrong password or database name fails at
/// once.
pub(super) const START_PATIENCE: Duration = Duration::from_secs(20);
/// The longest pause between two start-up attempts.
const MAX_START_DELAY: Duration = Duration::from_secs(2);

/// As [`outbox`], for `run`: a PostgreSQL server that is not reachable yet
/// is retried with back-off for [`START_PATIENCE`] (each retry logged).
pub(super) async fn outbox_patiently(
    arg: &OutboxArg,
    settings: &OutboxSettings,
    not_done: &str,
) -> Result<Arc<dyn Outbox>, ExitCode> {
    let target = target(arg, settings).map_err(|e| exit::usage(format_args!("{e}\n{not_done}")))?;
    let OutboxTarget::Postgres(url) = &target else {
        return outbox(arg, settings, not_done).await;
    };
    let deadline = Instant::now() + START_PATIENCE;
    let mut delay = Duration::from_millis(100);
    loop {
        match postgres(url, settings, Migrate::Auto).await {
            Ok(outbox) => return Ok(Arc::new(outbox)),
            Err(e) if PgOutbox::may_pass(&e) && Instant::now() + delay < deadline => {
                tracing::warn!(
                    error = %e,
                    retry_in_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                    "cannot open the outbox yet; retrying"
                );
                tokio::time::sleep(delay).await;
                delay = delay.saturating_mul(2).min(MAX_START_DELAY);
            }
            Err(e) => return Err(exit::usage(format_args!("{e}\n{not_done}"))),
        }
    }
}

/// Opens an existing outbox for the operator commands: a SQLite file that
/// does not exist, or a PostgreSQL schema that is missing or behind, is an
/// error (exit 2).
pub(super) async fn existing(
    arg: &OutboxArg,
    settings: &OutboxSettings,
) -> Result<Arc<dyn Outbox>, ExitCode> {
    let not_done = "Nothing was done.";
    let target = target(arg, settings).map_err(|e| exit::usage(format_args!("{e}\n{not_done}")))?;
    if let Some(path) = target.sqlite_path()
        && !path.exists()
    {
        return Err(exit::usage(format_args!(
            "no signal outbox at {} (set OUTBOX_URL, OUTBOX_PATH or --outbox to the file the worker uses)\n{not_done}",
            path.display()
        )));
    }
    open(&target, settings, Schema::Existing)
        .await
        .map_err(|e| exit::usage(format_args!("{e}\n{not_done}")))
}

/// The configured (or `--outbox`) target, checked as [`outbox`] does, for
/// `outbox migrate`, which opens it itself.
pub(super) fn resolve(arg: &OutboxArg, settings: &OutboxSettings) -> Result<OutboxTarget, String> {
    target(arg, settings)
}

/// Connects to a PostgreSQL outbox without touching its schema, for
/// `outbox migrate` (which then applies and reports the missing versions).
///
/// # Errors
/// The connection's problem, naming the host but never the password.
pub(super) async fn postgres_unmigrated(
    url: &SecretUrl,
    settings: &OutboxSettings,
) -> Result<PgOutbox, String> {
    postgres(url, settings, Migrate::Manual)
        .await
        .map_err(|e| e.to_string())
}

/// Whether this binary has the backend `target` needs (`check-config`
/// asks too, so that it fails where `run` would). Both backends are built
/// in; the check stays so that a backend behind a feature has one place
/// to say so.
///
/// # Errors
/// What to do, for a backend that is not built in.
pub(super) fn supported(target: &OutboxTarget) -> Result<(), String> {
    match target {
        OutboxTarget::Sqlite(_) | OutboxTarget::Postgres(_) => Ok(()),
    }
}

/// `--outbox` (the same forms as `OUTBOX_URL`; a path that is not UTF-8 is
/// a path), else the configured target.
fn target(arg: &OutboxArg, settings: &OutboxSettings) -> Result<OutboxTarget, String> {
    let target = match &arg.outbox {
        None => settings.target.clone(),
        Some(flag) => match flag.to_str() {
            Some(text) => OutboxTarget::parse("--outbox", text).map_err(|e| e.to_string())?,
            None => OutboxTarget::Sqlite(flag.clone()),
        },
    };
    supported(&target)?;
    Ok(target)
}

async fn open(
    target: &OutboxTarget,
    settings: &OutboxSettings,
    schema: Schema,
) -> Result<Arc<dyn Outbox>, String> {
    match target {
        OutboxTarget::Sqlite(path) => {
            let options = SqliteOptions::default().with_dedup_window(settings.dedup_window);
            SqliteOutbox::open_with(path, options)
                .map(|outbox| Arc::new(outbox) as Arc<dyn Outbox>)
                .map_err(|e| e.to_string())
        }
        OutboxTarget::Postgres(url) => {
            let migrate = match schema {
                Schema::Create => Migrate::Auto,
                Schema::Existing => Migrate::Check,
            };
            postgres(url, settings, migrate)
                .await
                .map(|outbox| Arc::new(outbox) as Arc<dyn Outbox>)
                .map_err(|e| e.to_string())
        }
    }
}

async fn postgres(
    url: &SecretUrl,
    settings: &OutboxSettings,
    migrate: Migrate,
) -> Result<PgOutbox, OutboxError> {
    // The backend's errors carry the redacted URL (host, port, database,
    // user), never the password: they are safe to print as they are.
    let config = PgConfig::from_url(url.expose_secret())?;
    let options = PgOptions::default()
        .with_dedup_window(settings.dedup_window)
        .with_migrate(migrate);
    PgOutbox::connect_with(config, options).await
}
