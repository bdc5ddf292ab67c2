//! `signal-delivery completions bash|zsh|fish`.

use crate::args::{Cli, Shell};
use clap::CommandFactory;
use std::process::ExitCode;

/// Prints the completion script for `shell` on standard output.
pub(super) fn exec(shell: Shell) -> ExitCode {
    let shell = match shell {
        Shell::Bash => clap_complete::Shell::Bash,
        Shell::Zsh => clap_complete::Shell::Zsh,
        Shell::Fish => clap_complete::Shell::Fish,
    };
    let mut command = Cli::command();
    clap_complete::generate(
        shell,
        &mut command,
        "signal-delivery",
        &mut std::io::stdout(),
    );
    ExitCode::SUCCESS
}
