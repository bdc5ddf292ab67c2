//! Exit codes, shared by every subcommand (documented in `--help` and
//! docs/operations.md).

use std::process::ExitCode;

/// Every signal delivered, enqueued, or the command did its job.
pub(crate) const SUCCESS: u8 = 0;
/// Some signal failed (each alerted), or could not be stored or reported.
pub(crate) const FAILURE: u8 = 1;
/// Configuration or usage error, reported before anything is sent.
pub(crate) const USAGE: u8 = 2;
/// Stopped by SIGINT (128 + 2), once every signal read had its outcome.
pub(crate) const INTERRUPTED: u8 = 130;
/// Stopped by SIGTERM (128 + 15), once every signal read had its outcome.
pub(crate) const TERMINATED: u8 = 143;

/// Prints `message` prefixed with the program name on standard error and
/// returns the configuration/usage exit code.
pub(crate) fn usage(message: impl std::fmt::Display) -> ExitCode {
    eprintln!("signal-delivery: {message}");
    ExitCode::from(USAGE)
}

/// Prints `message` and returns the failure exit code.
pub(crate) fn failure(message: impl std::fmt::Display) -> ExitCode {
    eprintln!("signal-delivery: {message}");
    ExitCode::from(FAILURE)
}
