//! `signal-delivery outbox stats|list|replay`: operator commands. They read
//! only the outbox settings, never the signing secret or the alert token,
//! and can run while the worker runs.

use crate::args::{OutboxArg, OutboxCommand};
use crate::exit;
use crate::output::JsonLines;
use serde::Serialize;
use signal_config::{Env, OutboxSettings};
use signal_outbox::{ListFilter, NewAuditEntry, OutboxAdmin, OutboxExt};
use signal_outbox_sqlite::SqliteOutbox;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, Serialize)]
struct StatsLine<'a> {
    path: &'a str,
    pending: u64,
    in_flight: u64,
    delivered: u64,
    dead_lettered: u64,
    total: u64,
    oldest_pending_age_seconds: Option<f64>,
}

#[derive(Debug, Serialize)]
struct RowLine {
    id: String,
    state: &'static str,
    attempts: u32,
    claims: u32,
    next_attempt_at: i64,
    lease_owner: Option<String>,
    lease_until: Option<i64>,
    dead_reason: Option<&'static str>,
    last_error: Option<String>,
    enqueued_at: i64,
    updated_at: i64,
    delivered_at: Option<i64>,
    body_len: u64,
    body_sha256: String,
}

impl From<signal_outbox::RowSummary> for RowLine {
    fn from(row: signal_outbox::RowSummary) -> RowLine {
        RowLine {
            id: row.id,
            state: row.state.as_str(),
            attempts: row.attempts,
            claims: row.claims,
            next_attempt_at: row.next_attempt_at,
            lease_owner: row.lease_owner,
            lease_until: row.lease_until,
            dead_reason: row.dead_reason.map(|r| r.as_str()),
            last_error: row.last_error,
            enqueued_at: row.enqueued_at,
            updated_at: row.updated_at,
            delivered_at: row.delivered_at,
            body_len: row.body_len,
            body_sha256: row.body_hash,
        }
    }
}

/// Runs one operator command.
pub(super) fn exec(command: OutboxCommand) -> ExitCode {
    let settings = match settings() {
        Ok(settings) => settings,
        Err(code) => return code,
    };
    let (OutboxCommand::Stats { outbox }
    | OutboxCommand::List { outbox, .. }
    | OutboxCommand::Replay { outbox, .. }) = &command;
    let path = outbox_path(outbox, &settings);
    if !path.exists() {
        return exit::usage(format_args!(
            "no signal outbox at {} (set OUTBOX_PATH or --outbox to the file the worker uses)",
            path.display()
        ));
    }
    let outbox = match SqliteOutbox::open(&path) {
        Ok(outbox) => outbox,
        Err(e) => return exit::usage(format_args!("{e}\nNothing was done.")),
    };
    super::block_on(run(command, outbox, path))
}

/// Runs the command on the open outbox and prints its lines.
async fn run(command: OutboxCommand, outbox: SqliteOutbox, path: PathBuf) -> ExitCode {
    let mut output = JsonLines::default();
    let done = match command {
        OutboxCommand::Stats { .. } => outbox.stats().await.map(|stats| {
            output.write(&StatsLine {
                path: &path.to_string_lossy(),
                pending: stats.pending,
                in_flight: stats.in_flight,
                delivered: stats.delivered,
                dead_lettered: stats.dead_lettered,
                total: stats.total(),
                oldest_pending_age_seconds: stats.oldest_pending_age.map(|d| d.as_secs_f64()),
            })
        }),
        OutboxCommand::List { state, limit, .. } => {
            let limit = usize::try_from(limit).unwrap_or(usize::MAX);
            let filter = ListFilter::new(limit).state(state.into());
            outbox.list(filter).await.map(|rows| {
                rows.into_iter()
                    .try_for_each(|row| output.write(&RowLine::from(row)))
            })
        }
        OutboxCommand::Replay { id, .. } => {
            let audit = NewAuditEntry {
                actor: actor(),
                action: "replay".to_owned(),
                detail: serde_json::json!({"ids": [&id], "force": true}).to_string(),
                result: String::new(),
            };
            outbox
                .replay_one(&id, audit)
                .await
                .map(|()| output.write(&serde_json::json!({"id": id, "outcome": "replayed"})))
        }
    };
    match done {
        Ok(Ok(())) => ExitCode::SUCCESS,
        Ok(Err(())) => exit::failure(format_args!(
            "cannot write to standard output: {}",
            output
                .error()
                .map_or_else(|| "serialization failed".to_owned(), ToString::to_string)
        )),
        Err(e) => exit::failure(e),
    }
}

/// The outbox settings from the environment, or exit 2 naming the problems.
fn settings() -> Result<OutboxSettings, ExitCode> {
    let mut env = Env::from_process();
    let mut problems: Vec<_> = env
        .take_problems()
        .into_iter()
        .filter(|p| p.variable.starts_with("OUTBOX_"))
        .collect();
    match OutboxSettings::from_lookup(|name| env.get(name)) {
        Ok(settings) if problems.is_empty() => Ok(settings),
        Ok(_) => Err(exit::usage(signal_config::ConfigErrors(problems))),
        Err(mut more) => {
            problems.append(&mut more);
            Err(exit::usage(signal_config::ConfigErrors(problems)))
        }
    }
}

/// Who runs this command, for the audit table: `os:user@host pid N`.
fn actor() -> String {
    let user = ["USER", "LOGNAME"]
        .iter()
        .find_map(|name| std::env::var(name).ok().filter(|v| !v.trim().is_empty()))
        .unwrap_or_else(|| "unknown".to_owned());
    let host = std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.trim().is_empty())
        .or_else(|| {
            std::fs::read_to_string("/etc/hostname")
                .ok()
                .map(|h| h.trim().to_owned())
                .filter(|h| !h.is_empty())
        })
        .unwrap_or_else(|| "localhost".to_owned());
    format!("os:{user}@{host} pid {}", std::process::id())
}

fn outbox_path(arg: &OutboxArg, settings: &OutboxSettings) -> PathBuf {
    arg.outbox.clone().unwrap_or_else(|| settings.path.clone())
}
