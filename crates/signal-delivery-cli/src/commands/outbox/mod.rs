//! `signal-delivery outbox stats|list|show|replay|purge|audit|export|import|migrate`: operator
//! commands, one file each. They read only the `OUTBOX_*` settings, never
//! the signing secret or the alert token, can run while the worker runs,
//! and never create an outbox (a typo in the path is an error), except
//! `import`, whose destination is often new.

mod actor;
mod audit;
mod export;
mod import;
mod list;
mod migrate;
mod ndjson;
mod purge;
mod replay;
mod rows;
mod show;
mod stats;

use crate::args::OutboxCommand;
use crate::exit;
use crate::output::JsonLines;
use serde::Serialize;
use signal_config::{Env, OutboxSettings};
use signal_outbox::{Outbox, OutboxError};
use std::process::ExitCode;

/// Why an operator command does not exit 0.
#[derive(Debug)]
enum Failure {
    /// The outbox failed or refused (exit 1).
    Outbox(OutboxError),
    /// Standard output failed (exit 1); the lines not printed are logged.
    Output,
    /// The command ran, but not everything asked for was done (exit 1);
    /// what was not is already on standard error.
    Incomplete,
    /// Arguments that only make sense together were not (exit 2).
    Usage(String),
    /// Already reported on standard error; exit with this code.
    Exit(ExitCode),
}

impl From<OutboxError> for Failure {
    fn from(e: OutboxError) -> Failure {
        Failure::Outbox(e)
    }
}

/// How a subcommand ended.
type Done = Result<(), Failure>;

/// Writes one JSON line.
fn emit(output: &mut JsonLines, line: &impl Serialize) -> Done {
    output.write(line).map_err(|()| Failure::Output)
}

/// Prints a note for the operator on standard error.
fn note(message: impl std::fmt::Display) {
    eprintln!("signal-delivery: {message}");
}

/// Runs one operator command.
pub(super) fn exec(command: OutboxCommand) -> ExitCode {
    let settings = match settings() {
        Ok(settings) => settings,
        Err(code) => return code,
    };
    super::block_on(async move {
        let mut output = JsonLines::default();
        let out = &mut output;
        let done = match command {
            // It opens the outbox itself: it must connect without checking
            // the schema it is about to bring up to date.
            OutboxCommand::Migrate { outbox } => migrate::run(&outbox, &settings, out).await,
            // Import fills a new outbox as often as an existing one: the one
            // operator command that creates a missing SQLite file (its report
            // names the outbox it wrote to).
            OutboxCommand::Import { outbox } => {
                let outbox =
                    match super::open::outbox(&outbox, &settings, "Nothing was imported.").await {
                        Ok(outbox) => outbox,
                        Err(code) => return code,
                    };
                import::run(&*outbox, out).await
            }
            command => {
                let outbox = match super::open::existing(command.outbox(), &settings).await {
                    Ok(outbox) => outbox,
                    Err(code) => return code,
                };
                operate(&*outbox, command, &settings, out).await
            }
        };
        finish(done, &output)
    })
}

/// Runs a command on an open outbox.
async fn operate(
    outbox: &dyn Outbox,
    command: OutboxCommand,
    settings: &OutboxSettings,
    out: &mut JsonLines,
) -> Done {
    match command {
        OutboxCommand::Stats { .. } => stats::run(outbox, out).await,
        OutboxCommand::List { state, limit, .. } => list::run(outbox, state, limit, out).await,
        OutboxCommand::Show { ids, .. } => show::run(outbox, ids, out).await,
        OutboxCommand::Replay(args) => replay::run(outbox, args, out).await,
        OutboxCommand::Purge(args) => purge::run(outbox, args, settings, out).await,
        OutboxCommand::Audit { limit, .. } => audit::run(outbox, limit, out).await,
        OutboxCommand::Export { state, .. } => export::run(outbox, state, out).await,
        OutboxCommand::Import { .. } => import::run(outbox, out).await,
        OutboxCommand::Migrate { outbox: arg } => migrate::run(&arg, settings, out).await,
    }
}

/// The exit code for how a command ended.
fn finish(done: Done, output: &JsonLines) -> ExitCode {
    match done {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Outbox(e)) => exit::failure(e),
        Err(Failure::Output) => exit::failure(format_args!(
            "cannot write to standard output: {}",
            output
                .error()
                .map_or_else(|| "serialization failed".to_owned(), ToString::to_string)
        )),
        Err(Failure::Incomplete) => ExitCode::from(exit::FAILURE),
        Err(Failure::Usage(message)) => exit::usage(message),
        Err(Failure::Exit(code)) => code,
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
