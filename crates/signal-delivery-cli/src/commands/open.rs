//! The one place that opens an outbox: from `--outbox` if given, else from
//! the configuration (`OUTBOX_URL` or `OUTBOX_PATH`), with the dedup window
//! of `OUTBOX_DEDUP_DAYS`. Every command goes through here, so a backend is
//! added in one place.

use crate::args::OutboxArg;
use crate::exit;
use signal_config::{OutboxSettings, OutboxTarget, SecretUrl};
use signal_outbox::Outbox;
use signal_outbox_sqlite::{SqliteOptions, SqliteOutbox};
use std::process::ExitCode;
use std::sync::Arc;

/// Opens the outbox for `enqueue` and `run`, creating a missing SQLite file;
/// or exits 2 with the problem and `not_done` ("Nothing was enqueued.").
pub(super) fn outbox(
    arg: &OutboxArg,
    settings: &OutboxSettings,
    not_done: &str,
) -> Result<Arc<dyn Outbox>, ExitCode> {
    let target = target(arg, settings).map_err(|e| exit::usage(format_args!("{e}\n{not_done}")))?;
    open(&target, settings).map_err(|e| exit::usage(format_args!("{e}\n{not_done}")))
}

/// Opens an existing outbox for the operator commands: a SQLite file that
/// does not exist is an error (a typo must not create an empty outbox that
/// then looks healthy), exit 2.
pub(super) fn existing(
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
    open(&target, settings).map_err(|e| exit::usage(format_args!("{e}\n{not_done}")))
}

/// Whether this binary has the backend `target` needs (`check-config`
/// asks too, so that it fails where `run` would).
///
/// # Errors
/// What to do, for a backend that is not built in.
pub(super) fn supported(target: &OutboxTarget) -> Result<(), String> {
    match target {
        OutboxTarget::Sqlite(_) => Ok(()),
        OutboxTarget::Postgres(url) => Err(not_built(url)),
    }
}

fn not_built(url: &SecretUrl) -> String {
    // `url` displays redacted: the password never reaches the message.
    format!(
        "the outbox {url} is a PostgreSQL database: PostgreSQL outboxes come with the \
         signal-outbox-postgres backend; not built into this binary (use a SQLite file: a \
         path or sqlite:///absolute/path.db)"
    )
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

fn open(target: &OutboxTarget, settings: &OutboxSettings) -> Result<Arc<dyn Outbox>, String> {
    match target {
        OutboxTarget::Sqlite(path) => {
            let options = SqliteOptions::default().with_dedup_window(settings.dedup_window);
            SqliteOutbox::open_with(path, options)
                .map(|outbox| Arc::new(outbox) as Arc<dyn Outbox>)
                .map_err(|e| e.to_string())
        }
        OutboxTarget::Postgres(url) => Err(not_built(url)),
    }
}
