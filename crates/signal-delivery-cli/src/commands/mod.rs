//! One module per subcommand; this one dispatches and holds what they
//! share: the configuration, the runtime, the input.

mod check_config;
mod completions;
mod enqueue;
mod open;
mod outbox;
mod run;
mod send;

use crate::args::Command;
use crate::exit;
use signal_delivery::DeliveryConfig;
use std::future::Future;
use std::path::Path;
use std::process::ExitCode;

/// Runs the subcommand.
pub(crate) fn dispatch(command: Command) -> ExitCode {
    match command {
        Command::Completions { shell } => completions::exec(shell),
        // Operator commands need only the outbox path: no secrets.
        Command::Outbox(command) => outbox::exec(command),
        Command::CheckConfig => check_config::exec(),
        Command::Send(args) => with_config(|config| block_on(send::exec(config, args))),
        Command::Enqueue(args) => with_config(|config| block_on(enqueue::exec(config, args))),
        Command::Run(args) => with_config(|config| block_on(run::exec(config, args))),
    }
}

/// Reads and validates the whole configuration, or exits 2 listing every
/// problem before anything is done.
fn with_config(f: impl FnOnce(DeliveryConfig) -> ExitCode) -> ExitCode {
    match DeliveryConfig::from_env() {
        Ok(config) => {
            for warning in &config.warnings {
                eprintln!("signal-delivery: warning: {warning}");
            }
            f(config)
        }
        Err(errors) => exit::usage(format_args!(
            "{errors}\nNothing was done. See docs/configuration.md."
        )),
    }
}

/// Runs `future` on a multi-threaded runtime (one per process).
fn block_on(future: impl Future<Output = ExitCode>) -> ExitCode {
    match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime.block_on(future),
        Err(e) => exit::usage(format_args!("cannot start the async runtime: {e}")),
    }
}

/// Input of `send` and `enqueue`.
type Input = Box<dyn tokio::io::AsyncBufRead + Unpin + Send>;

/// Opens `--input` (or standard input), before anything else is built, so
/// that a typo in the path sends nothing.
async fn open_input(path: Option<&Path>) -> Result<Input, ExitCode> {
    match path {
        None => Ok(Box::new(tokio::io::BufReader::new(tokio::io::stdin()))),
        Some(path) => match tokio::fs::File::open(path).await {
            Ok(file) => Ok(Box::new(tokio::io::BufReader::new(file))),
            Err(e) => Err(exit::usage(format_args!(
                "cannot open --input {}: {e}\nNothing was done.",
                path.display()
            ))),
        },
    }
}

/// Waits for SIGTERM or SIGINT and returns which one came.
async fn termination() -> std::io::Result<impl Future<Output = Stop>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => { tracing::info!("SIGTERM received"); Stop::Terminated }
            _ = int.recv() => { tracing::info!("SIGINT received"); Stop::Interrupted }
        }
    })
}

/// Which signal stopped the command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stop {
    /// SIGTERM.
    Terminated,
    /// SIGINT.
    Interrupted,
}

impl Stop {
    /// The signal's name.
    fn name(self) -> &'static str {
        match self {
            Stop::Terminated => "SIGTERM",
            Stop::Interrupted => "SIGINT",
        }
    }

    /// The shell's convention: 128 + the signal number.
    fn exit_code(self) -> ExitCode {
        ExitCode::from(match self {
            Stop::Terminated => exit::TERMINATED,
            Stop::Interrupted => exit::INTERRUPTED,
        })
    }
}
