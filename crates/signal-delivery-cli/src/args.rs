//! The command line, declared once: clap derives the parser, the help and
//! the shell completions from these types.
//!
//! Environment variables are the configuration (docs/configuration.md);
//! flags override the few that are also flags. Paths are `PathBuf`, so a
//! non-UTF-8 path works; any other argument that is not UTF-8 is a usage
//! error (exit 2), never a panic.

use crate::when::{When, parse_duration, parse_when};
use clap::builder::{PossibleValuesParser, TypedValueParser};
use clap::{ArgGroup, Args, Parser, Subcommand, ValueEnum};
use signal_outbox::FailureReason;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Largest `--concurrency`.
pub(crate) const MAX_CONCURRENCY: u64 = 4096;
/// Largest `outbox list --limit`.
pub(crate) const MAX_LIST_LIMIT: u64 = 1_000_000;
/// Largest `outbox audit --limit` (the newest rows are kept in memory).
pub(crate) const MAX_AUDIT_LIMIT: u64 = 10_000;
/// Largest `outbox purge --batch`.
pub(crate) const MAX_PURGE_BATCH: u64 = 10_000;
/// `outbox replay --max-age` when not given.
pub(crate) const DEFAULT_MAX_AGE: &str = "1h";

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

/// The outbox, overriding `OUTBOX_URL` and `OUTBOX_PATH`.
#[derive(Debug, Clone, Args)]
pub(crate) struct OutboxArg {
    /// The outbox: a file path, sqlite:///absolute/path.db or
    /// postgres://user@host/database (overrides OUTBOX_URL and
    /// OUTBOX_PATH; put a password in OUTBOX_URL_FILE or PGPASSWORD, not
    /// on the command line, where `ps` shows it). A path that is not UTF-8
    /// is a path.
    #[arg(long, value_name = "PATH|URL")]
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
    /// Signals with their body and attempt history, one JSON line each;
    /// exits 1 naming any unknown id.
    Show {
        /// The signal ids.
        #[arg(value_name = "ID", required = true, value_parser = non_empty)]
        ids: Vec<String>,
        #[command(flatten)]
        outbox: OutboxArg,
    },
    /// Sends dead-lettered signals again (after fixing their cause): by id,
    /// or a selection; each replay is written to the audit log.
    Replay(ReplayArgs),
    /// Deletes delivered signals and their attempt log, keeping their id and
    /// body hash for duplicate detection (OUTBOX_DEDUP_DAYS). Dead letters
    /// are never purged.
    Purge(PurgeArgs),
    /// The audit log (who replayed what), newest first, one JSON line each.
    Audit {
        /// Most rows shown.
        #[arg(long, value_name = "N", default_value_t = 20,
              value_parser = clap::value_parser!(u64).range(1..=MAX_AUDIT_LIMIT))]
        limit: u64,
        #[command(flatten)]
        outbox: OutboxArg,
    },
    /// Writes every signal row, with its state, attempts, schedule and
    /// attempt log, as one JSON line each (format 1) on standard output, for
    /// `outbox import` into another outbox. In-flight rows are written as
    /// pending and due now: stop the workers first.
    Export {
        /// Only rows in this state (repeat for several); every state when
        /// absent.
        #[arg(long, value_enum, value_name = "STATE")]
        state: Vec<StateArg>,
        #[command(flatten)]
        outbox: OutboxArg,
    },
    /// Reads `outbox export` lines from standard input and stores the rows
    /// not in the outbox yet (same id and body: skipped; another body:
    /// refused). Prints the counts; exits 1 naming every bad line.
    Import {
        #[command(flatten)]
        outbox: OutboxArg,
    },
    /// Applies the schema versions this build knows and the outbox lacks,
    /// and prints what it found and did as one JSON line (for operators who
    /// migrate as a separate step before a rolling upgrade; workers also
    /// migrate at start). A SQLite file is migrated whenever it is opened:
    /// this opens it and prints the same line.
    Migrate {
        #[command(flatten)]
        outbox: OutboxArg,
    },
}

impl OutboxCommand {
    /// The `--outbox` flag of any subcommand.
    pub(crate) fn outbox(&self) -> &OutboxArg {
        match self {
            OutboxCommand::Stats { outbox }
            | OutboxCommand::List { outbox, .. }
            | OutboxCommand::Show { outbox, .. }
            | OutboxCommand::Audit { outbox, .. }
            | OutboxCommand::Export { outbox, .. }
            | OutboxCommand::Import { outbox }
            | OutboxCommand::Migrate { outbox } => outbox,
            OutboxCommand::Replay(args) => &args.outbox,
            OutboxCommand::Purge(args) => &args.outbox,
        }
    }
}

const REPLAY_HELP: &str = "\
Select by id, or by --reason/--since/--until (combined, matched against the time of
dead-lettering), or every dead letter with --all-dead; one of them is required.
T is RFC 3339 (2026-12-01T08:00:00Z) or a duration ago (2h, 90m, 7d).
Signals enqueued longer ago than --max-age are refused unless --force: a stale
trading signal can do more harm than none.
Exit codes: 0 everything selected was replayed (or a dry run); 1 some signal was too
old, not dead-lettered, or unknown (each named); 2 usage.";

/// Flags of `outbox replay`.
#[derive(Debug, Args)]
#[command(
    after_help = REPLAY_HELP,
    group(ArgGroup::new("selection").required(true).multiple(true)
        .args(["ids", "reason", "since", "until", "all_dead"]))
)]
pub(crate) struct ReplayArgs {
    /// The ids of dead-lettered signals.
    #[arg(value_name = "ID", value_parser = non_empty,
          conflicts_with_all = ["reason", "since", "until", "all_dead"])]
    pub(crate) ids: Vec<String>,
    /// Only dead letters with this reason.
    #[arg(long, value_name = "REASON", value_parser = reason_parser())]
    pub(crate) reason: Option<FailureReason>,
    /// Only signals dead-lettered at or after T.
    #[arg(long, value_name = "T", value_parser = parse_when)]
    pub(crate) since: Option<When>,
    /// Only signals dead-lettered before T.
    #[arg(long, value_name = "T", value_parser = parse_when)]
    pub(crate) until: Option<When>,
    /// Every dead-lettered signal.
    #[arg(long, conflicts_with_all = ["reason", "since", "until"])]
    pub(crate) all_dead: bool,
    /// Refuse signals enqueued longer ago than this.
    #[arg(long, value_name = "DURATION", default_value = DEFAULT_MAX_AGE,
          value_parser = parse_duration)]
    pub(crate) max_age: Duration,
    /// Replay whatever their age.
    #[arg(long, conflicts_with = "max_age")]
    pub(crate) force: bool,
    /// Count (and list, bounded) what would be replayed; change nothing.
    #[arg(long)]
    pub(crate) dry_run: bool,
    #[command(flatten)]
    pub(crate) outbox: OutboxArg,
}

/// Flags of `outbox purge`.
#[derive(Debug, Args)]
pub(crate) struct PurgeArgs {
    /// Purge signals delivered longer ago than this (e.g. 7d, 36h, 90m).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub(crate) delivered_before: Duration,
    /// Most rows deleted per transaction (the worker's own writes go in
    /// between).
    #[arg(long, value_name = "N", default_value_t = 500,
          value_parser = clap::value_parser!(u64).range(1..=MAX_PURGE_BATCH))]
    pub(crate) batch: u64,
    /// Count the rows that would go; delete nothing.
    #[arg(long)]
    pub(crate) dry_run: bool,
    #[command(flatten)]
    pub(crate) outbox: OutboxArg,
}

/// `--reason`: one of the failure reasons, listed in the help.
fn reason_parser() -> impl TypedValueParser<Value = FailureReason> {
    PossibleValuesParser::new(FailureReason::ALL.map(FailureReason::as_str))
        .try_map(|text| text.parse::<FailureReason>())
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
            (vec!["outbox", "purge"], "--delivered-before"),
            (
                vec!["outbox", "purge", "--delivered-before", "7"],
                "not a duration",
            ),
            (
                vec!["outbox", "purge", "--delivered-before", "0d"],
                "is zero",
            ),
            (
                vec![
                    "outbox",
                    "purge",
                    "--delivered-before",
                    "7d",
                    "--batch",
                    "0",
                ],
                "--batch",
            ),
            (vec!["outbox", "show"], "<ID>"),
            (vec!["outbox", "show", ""], "empty"),
            (vec!["outbox", "audit", "--limit", "0"], "--limit"),
            (
                vec!["outbox", "replay", "a", "--all-dead"],
                "cannot be used with",
            ),
            (
                vec!["outbox", "replay", "a", "--reason", "rejected"],
                "cannot be used with",
            ),
            (
                vec!["outbox", "replay", "--all-dead", "--since", "2h"],
                "cannot be used with",
            ),
            (
                vec!["outbox", "replay", "--reason", "late"],
                "signature_rejected",
            ),
            (vec!["outbox", "replay", "--since", "yesterday"], "RFC 3339"),
            (
                vec!["outbox", "replay", "--until", "2026-12-01"],
                "RFC 3339",
            ),
            (
                vec![
                    "outbox",
                    "replay",
                    "--all-dead",
                    "--max-age",
                    "2h",
                    "--force",
                ],
                "cannot be used with",
            ),
            (vec!["outbox", "replay", "--max-age", "2h"], "<ID|"),
            (vec!["outbox", "replay", "--dry-run"], "<ID|"),
            (vec!["outbox", "list"], "--state"),
            (vec!["outbox", "list", "--state", "done"], "dead_lettered"),
            (
                vec!["outbox", "list", "--state", "pending", "--limit", "0"],
                "--limit",
            ),
            (vec!["outbox", "replay"], "--all-dead"),
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
        let Command::Outbox(OutboxCommand::Replay(replay)) = parse(&[
            "outbox",
            "replay",
            "sig-1",
            "sig-2",
            "--outbox",
            "sqlite:///tmp/o.db",
        ])
        .unwrap()
        .command
        else {
            panic!("expected outbox replay");
        };
        assert_eq!(replay.ids, ["sig-1", "sig-2"]);
        assert_eq!(
            replay.outbox.outbox,
            Some(PathBuf::from("sqlite:///tmp/o.db"))
        );
        assert_eq!(replay.max_age, Duration::from_secs(3600), "the default");
        assert!(!replay.force && !replay.dry_run && !replay.all_dead);
    }

    #[test]
    fn replay_selections_parse() {
        let replay = |args: &[&str]| {
            let mut all = vec!["outbox", "replay"];
            all.extend_from_slice(args);
            match parse(&all).unwrap().command {
                Command::Outbox(OutboxCommand::Replay(replay)) => replay,
                other => panic!("expected outbox replay, got {other:?}"),
            }
        };
        let r = replay(&[
            "--reason",
            "exhausted",
            "--since",
            "2h",
            "--until",
            "2026-12-01T08:00:00Z",
            "--dry-run",
            "--force",
        ]);
        assert_eq!(r.reason, Some(FailureReason::Exhausted));
        assert_eq!(r.since, Some(When::Ago(Duration::from_secs(7200))));
        assert_eq!(r.until, Some(When::At(1_796_112_000_000)));
        assert!(r.dry_run && r.force && r.ids.is_empty());
        let r = replay(&["--all-dead", "--max-age", "36h"]);
        assert!(r.all_dead);
        assert_eq!(r.max_age, Duration::from_secs(36 * 3600));
        let Command::Outbox(OutboxCommand::Purge(purge)) =
            parse(&["outbox", "purge", "--delivered-before", "7d", "--dry-run"])
                .unwrap()
                .command
        else {
            panic!("expected outbox purge");
        };
        assert_eq!(purge.delivered_before, Duration::from_secs(7 * 86_400));
        assert_eq!(purge.batch, 500);
        assert!(purge.dry_run);
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
