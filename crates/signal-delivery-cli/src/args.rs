//! The command line, declared once: clap derives the parser, the help and
//! the shell completions from these types.
//!
//! Environment variables are the configuration (docs/configuration.md);
//! flags override the few that are also flags. Paths are `PathBuf`, so a
//! non-UTF-8 path works; any other argument that is not UTF-8 is a usage
//! error (exit 2), never a panic.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::net::SocketAddr;
use std::path::PathBuf;

/// Largest `--concurrency`.
pub(crate) const MAX_CONCURRENCY: u64 = 4096;
/// Largest `outbox list --limit`.
pub(crate) const MAX_LIST_LIMIT: u64 = 1_000_000;

const AFTER_HELP: &str = "\
Exit codes: 0 success; 1 some signal failed (each one alerted) or could not be stored;
2 configuration or usage error, reported before anything is sent;
130 after SIGINT and 143 after SIGTERM (send, enqueue), once every line read has its outcome.
Configuration: environment variables, see docs/configuration.md
(`signal-delivery check-config` prints the effective values).";

/// Delivers trading signals, signed (Standard Webhooks), retried, and alerted
/// on Telegram when they cannot be delivered.
#[derive(Debug, Parser)]
#[command(
    name = "signal-delivery",
    version,
    about,
    after_help = AFTER_HELP,
    propagate_version = true,
    arg_required_else_help = true
)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Delivers newline-delimited JSON signals now, with retries in memory;
    /// one JSON outcome line per signal on standard output.
    Send(SendArgs),
    /// Stores newline-delimited JSON signals durably in the outbox; one JSON
    /// acknowledgement per signal once its batch is committed.
    Enqueue(EnqueueArgs),
    /// The worker: delivers due signals from the outbox until SIGTERM/SIGINT.
    Run(RunArgs),
    /// Operator commands on the outbox (no secrets needed).
    #[command(subcommand)]
    Outbox(OutboxCommand),
    /// Prints every effective setting as NAME=value (secrets redacted), or
    /// every configuration problem.
    CheckConfig,
    /// Prints a shell completion script.
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: Shell,
    },
}

/// Where signals are read from.
#[derive(Debug, Clone, Args)]
pub(crate) struct InputArg {
    /// Newline-delimited JSON signals; standard input when absent or `-`.
    #[arg(long, value_name = "PATH")]
    pub(crate) input: Option<PathBuf>,
}

impl InputArg {
    /// The file to read, or `None` for standard input.
    pub(crate) fn path(&self) -> Option<&PathBuf> {
        self.input.as_ref().filter(|p| p.as_os_str() != "-")
    }
}

/// The outbox, overriding `OUTBOX_PATH`.
#[derive(Debug, Clone, Args)]
pub(crate) struct OutboxArg {
    /// The outbox database file (overrides OUTBOX_PATH).
    #[arg(long, value_name = "PATH")]
    pub(crate) outbox: Option<PathBuf>,
}

/// Flags of `send`.
#[derive(Debug, Args)]
pub(crate) struct SendArgs {
    #[command(flatten)]
    pub(crate) input: InputArg,
    /// Signals in flight at once.
    #[arg(long, value_name = "N", default_value_t = 16,
          value_parser = clap::value_parser!(u64).range(1..=MAX_CONCURRENCY))]
    pub(crate) concurrency: u64,
    /// Serve Prometheus /metrics here (overrides METRICS_ADDR).
    #[arg(long, value_name = "IP:PORT")]
    pub(crate) metrics_addr: Option<SocketAddr>,
}

/// Flags of `enqueue`.
#[derive(Debug, Args)]
pub(crate) struct EnqueueArgs {
    #[command(flatten)]
    pub(crate) input: InputArg,
    #[command(flatten)]
    pub(crate) outbox: OutboxArg,
}

/// Flags of `run`.
#[derive(Debug, Args)]
pub(crate) struct RunArgs {
    /// Attempts in flight at once.
    #[arg(long, value_name = "N", default_value_t = 16,
          value_parser = clap::value_parser!(u64).range(1..=MAX_CONCURRENCY))]
    pub(crate) concurrency: u64,
    /// Serve /metrics and /healthz here (overrides METRICS_ADDR).
    #[arg(long, value_name = "IP:PORT")]
    pub(crate) metrics_addr: Option<SocketAddr>,
    #[command(flatten)]
    pub(crate) outbox: OutboxArg,
}

/// `outbox` subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum OutboxCommand {
    /// Depth by state and the oldest pending signal's age, as one JSON line.
    Stats {
        #[command(flatten)]
        outbox: OutboxArg,
    },
    /// The rows in one state, one JSON line each, oldest first.
    List {
        /// The state to list.
        #[arg(long, value_enum)]
        state: StateArg,
        /// Most rows shown.
        #[arg(long, value_name = "N", default_value_t = 100,
              value_parser = clap::value_parser!(u64).range(1..=MAX_LIST_LIMIT))]
        limit: u64,
        #[command(flatten)]
        outbox: OutboxArg,
    },
    /// Sends a dead-lettered signal again (after fixing its cause).
    Replay {
        /// The signal id.
        #[arg(value_name = "ID", value_parser = non_empty)]
        id: String,
        #[command(flatten)]
        outbox: OutboxArg,
    },
}

/// An outbox state, as spelled on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
#[value(rename_all = "snake_case")]
pub(crate) enum StateArg {
    /// Waiting for its next attempt.
    Pending,
    /// Claimed by a worker.
    InFlight,
    /// Delivered.
    Delivered,
    /// Given up, waiting for a replay.
    DeadLettered,
}

impl From<StateArg> for signal_outbox::State {
    fn from(state: StateArg) -> signal_outbox::State {
        match state {
            StateArg::Pending => signal_outbox::State::Pending,
            StateArg::InFlight => signal_outbox::State::InFlight,
            StateArg::Delivered => signal_outbox::State::Delivered,
            StateArg::DeadLettered => signal_outbox::State::DeadLettered,
        }
    }
}

/// Shells with completion scripts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Shell {
    /// GNU Bash.
    Bash,
    /// Z shell.
    Zsh,
    /// fish.
    Fish,
}

fn non_empty(value: &str) -> Result<String, String> {
    if value.is_empty() {
        return Err("expected a signal id, got an empty value".to_owned());
    }
    Ok(value.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_declaration_is_consistent() {
        Cli::command().debug_assert();
    }

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("signal-delivery").chain(args.iter().copied()))
    }

    #[test]
    fn defaults_and_both_flag_forms() {
        let Command::Send(send) = parse(&["send"]).unwrap().command else {
            panic!("expected send");
        };
        assert_eq!(send.concurrency, 16);
        assert!(send.input.path().is_none());
        let Command::Send(send) = parse(&[
            "send",
            "--input",
            "a.ndjson",
            "--concurrency=32",
            "--metrics-addr",
            "127.0.0.1:9464",
        ])
        .unwrap()
        .command
        else {
            panic!("expected send");
        };
        assert_eq!(send.input.path(), Some(&PathBuf::from("a.ndjson")));
        assert_eq!(send.concurrency, 32);
        let Command::Send(stdin) = parse(&["send", "--input", "-"]).unwrap().command else {
            panic!("expected send");
        };
        assert!(stdin.input.path().is_none());
    }

    #[test]
    fn bad_usage_names_the_flag_and_allowed_values() {
        for (args, needle) in [
            (vec![], "Usage"),
            (vec!["deliver"], "unrecognized subcommand"),
            (vec!["send", "--concurrency", "0"], "1..=4096"),
            (vec!["send", "--concurrency", "abc"], "--concurrency"),
            (vec!["send", "--concurrency"], "a value is required"),
            (
                vec!["send", "--metrics-addr", "localhost"],
                "--metrics-addr",
            ),
            (vec!["send", "--verbose"], "unexpected argument"),
            (vec!["check-config", "x"], "unexpected argument"),
            (vec!["outbox"], "Usage"),
            (vec!["outbox", "purge"], "unrecognized subcommand"),
            (vec!["outbox", "list"], "--state"),
            (vec!["outbox", "list", "--state", "done"], "dead_lettered"),
            (
                vec!["outbox", "list", "--state", "pending", "--limit", "0"],
                "--limit",
            ),
            (vec!["outbox", "replay"], "<ID>"),
            (vec!["outbox", "replay", "a", "b"], "unexpected argument"),
            (vec!["outbox", "replay", ""], "empty"),
            (vec!["run", "--concurrency", "0"], "1..=4096"),
            (vec!["run", "--outbox="], "a value is required"),
            (vec!["enqueue", "--concurrency", "2"], "unexpected argument"),
            (vec!["completions", "powershell"], "bash"),
        ] {
            let err = parse(&args).unwrap_err();
            let text = err.to_string();
            assert!(text.contains(needle), "{args:?}: {text}");
        }
    }

    #[test]
    fn outbox_subcommands_parse() {
        let Command::Outbox(OutboxCommand::List { state, limit, .. }) =
            parse(&["outbox", "list", "--state", "dead_lettered", "--limit", "5"])
                .unwrap()
                .command
        else {
            panic!("expected outbox list");
        };
        assert_eq!((state, limit), (StateArg::DeadLettered, 5));
        let Command::Outbox(OutboxCommand::Replay { id, outbox }) =
            parse(&["outbox", "replay", "sig-1", "--outbox", "/tmp/o.db"])
                .unwrap()
                .command
        else {
            panic!("expected outbox replay");
        };
        assert_eq!(id, "sig-1");
        assert_eq!(outbox.outbox, Some(PathBuf::from("/tmp/o.db")));
    }

    #[cfg(unix)]
    #[test]
    fn non_utf8_paths_work_and_other_non_utf8_arguments_are_usage_errors() {
        use std::ffi::OsString;
        use std::os::unix::ffi::OsStringExt;
        let bad = OsString::from_vec(vec![b'o', 0xff, b'.', b'd', b'b']);
        let cli = Cli::try_parse_from([
            OsString::from("signal-delivery"),
            "enqueue".into(),
            "--outbox".into(),
            bad.clone(),
        ])
        .unwrap();
        let Command::Enqueue(enqueue) = cli.command else {
            panic!("expected enqueue");
        };
        assert_eq!(enqueue.outbox.outbox, Some(PathBuf::from(bad.clone())));
        let err = Cli::try_parse_from([
            OsString::from("signal-delivery"),
            "outbox".into(),
            "replay".into(),
            bad,
        ])
        .unwrap_err();
        assert_eq!(err.exit_code(), 2);
    }
}
