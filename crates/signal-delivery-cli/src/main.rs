//! The `signal-delivery` command. `main` only parses the command line and
//! dispatches to one module per subcommand (`commands/`).

mod args;
mod commands;
mod exit;
mod output;
mod progress;
mod when;

use clap::Parser;

fn main() -> std::process::ExitCode {
    // Exits 0 for --help/--version and 2 for usage errors, printing clap's
    // message (which names the flag and the allowed values).
    let cli = args::Cli::parse();
    commands::dispatch(cli.command)
}
