//! The `signal-delivery` command: flags, exit codes and output lines.
//!
//! Exit codes: 0 every signal delivered; 1 at least one failed (each one
//! alerted); 2 configuration or usage error, reported before anything is sent.
//! The outbox commands follow the same scheme: `enqueue` exits 0 when every
//! signal was enqueued (or already was), 1 on any conflict or invalid line,
//! 2 on configuration, usage or outbox-open errors; `run` exits 0 after a
//! graceful shutdown (SIGTERM/SIGINT), 2 if it cannot start.

use crate::batch::{OutcomeLine, deliver_lines};
use crate::config::{AlertSetting, ConfigErrors, DeliveryConfig, OutboxSettings};
use crate::service::DeliveryService;
use crate::telemetry;
use std::io::{IsTerminal, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

const USAGE: &str = "\
usage:
  signal-delivery send [--input PATH] [--concurrency N] [--metrics-addr IP:PORT]
      Reads newline-delimited JSON signals (default: standard input), delivers
      each one, prints one JSON line per signal on standard output and a
      summary on standard error.
  signal-delivery check-config
      Prints the effective configuration (secrets redacted), or every problem.
  signal-delivery enqueue [--input PATH] [--outbox PATH]
      Stores newline-delimited JSON signals durably in the outbox; prints one
      JSON ack line per signal after its batch is committed.
      Exit 0 all enqueued or duplicate, 1 any conflict or invalid line.
  signal-delivery run [--concurrency N] [--metrics-addr IP:PORT] [--outbox PATH]
      The worker: delivers due signals from the outbox until SIGTERM/SIGINT;
      /metrics and /healthz on METRICS_ADDR.
  signal-delivery outbox stats [--outbox PATH]
  signal-delivery outbox list --state STATE [--limit N] [--outbox PATH]
  signal-delivery outbox replay ID [--outbox PATH]
      Depth by state; rows in a state (pending, in_flight, delivered,
      dead_lettered); send a dead-lettered signal again after fixing its cause.

exit codes: 0 all delivered, 1 some failed (each alerted), 2 configuration or usage error
configuration: environment variables, see docs/configuration.md";

/// Default number of signals in flight at once.
pub const DEFAULT_CONCURRENCY: usize = 16;
/// Upper bound for `--concurrency`.
pub const MAX_CONCURRENCY: usize = 4096;

/// A parsed command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `send`.
    Send(SendArgs),
    /// `check-config`.
    CheckConfig,
    /// `help`, `--help`, `-h`.
    Help,
    /// `enqueue`.
    Enqueue(EnqueueArgs),
    /// `run`.
    Run(RunArgs),
    /// `outbox stats|list|replay`.
    Outbox(OutboxArgs),
}

/// Flags of `enqueue`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnqueueArgs {
    /// `--input PATH`; standard input when absent or `-`.
    pub input: Option<PathBuf>,
    /// `--outbox PATH`, overriding `OUTBOX_PATH`.
    pub outbox: Option<PathBuf>,
}

/// Flags of `run`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunArgs {
    /// `--concurrency N`: attempts in flight at once.
    pub concurrency: usize,
    /// `--metrics-addr IP:PORT`, overriding `METRICS_ADDR`.
    pub metrics_addr: Option<SocketAddr>,
    /// `--outbox PATH`, overriding `OUTBOX_PATH`.
    pub outbox: Option<PathBuf>,
}

/// `outbox` and its subcommand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxArgs {
    /// The subcommand.
    pub command: OutboxCommand,
    /// `--outbox PATH`, overriding `OUTBOX_PATH`.
    pub outbox: Option<PathBuf>,
}

/// The operator subcommands of `outbox`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutboxCommand {
    /// `stats`: depth by state and the oldest pending age.
    Stats,
    /// `list --state S [--limit N]`.
    List {
        /// The state to list.
        state: signal_outbox::State,
        /// Most rows shown (default 100).
        limit: usize,
    },
    /// `replay ID`: a dead-lettered signal goes back to pending.
    Replay {
        /// The signal id.
        id: String,
    },
}

/// Default `--limit` of `outbox list`.
pub const DEFAULT_LIST_LIMIT: usize = 100;
/// Upper bound for `--limit`.
pub const MAX_LIST_LIMIT: usize = 1_000_000;

/// Flags of `send`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendArgs {
    /// `--input PATH`; standard input when absent or `-`.
    pub input: Option<PathBuf>,
    /// `--concurrency N`.
    pub concurrency: usize,
    /// `--metrics-addr IP:PORT`, overriding `METRICS_ADDR`.
    pub metrics_addr: Option<SocketAddr>,
}

/// A bad command line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(String);

/// Parses the arguments after the program name.
pub fn parse_args<I, S>(args: I) -> Result<Command, UsageError>
where
    I: IntoIterator<Item = S>,
    S: Into<String>,
{
    let mut args = args.into_iter().map(Into::into);
    let command = match args.next().as_deref() {
        None => {
            return Err(UsageError(
                "a command is required: send or check-config".into(),
            ));
        }
        Some("help" | "--help" | "-h") => return Ok(Command::Help),
        Some("check-config") => {
            if let Some(extra) = args.next() {
                return Err(UsageError(format!(
                    "check-config takes no arguments, got {extra:?}"
                )));
            }
            return Ok(Command::CheckConfig);
        }
        Some("send") => "send",
        Some("enqueue") => return parse_enqueue(args),
        Some("run") => return parse_run(args),
        Some("outbox") => return parse_outbox(args),
        Some(other) => {
            return Err(UsageError(format!(
                "unknown command {other:?}; expected send, check-config, enqueue, run or outbox"
            )));
        }
    };
    debug_assert_eq!(command, "send");
    let mut send = SendArgs {
        input: None,
        concurrency: DEFAULT_CONCURRENCY,
        metrics_addr: None,
    };
    while let Some(flag) = args.next() {
        let (name, inline) = match flag.split_once('=') {
            Some((n, v)) if n.starts_with("--") => (n.to_owned(), Some(v.to_owned())),
            _ => (flag.clone(), None),
        };
        let mut value = |what: &str| {
            inline
                .clone()
                .or_else(|| args.next())
                .ok_or_else(|| UsageError(format!("{name} needs a value: {what}")))
        };
        match name.as_str() {
            "--input" => {
                let v = value("a file path, or - for standard input")?;
                send.input = (v != "-").then(|| PathBuf::from(v));
            }
            "--concurrency" => {
                let v = value("an integer from 1 to 4096")?;
                send.concurrency = match v.parse::<usize>() {
                    Ok(n) if (1..=MAX_CONCURRENCY).contains(&n) => n,
                    _ => {
                        return Err(UsageError(format!(
                            "--concurrency {v:?} is invalid; expected an integer from 1 to {MAX_CONCURRENCY}"
                        )));
                    }
                };
            }
            "--metrics-addr" => {
                let v = value("IP:PORT, e.g. 127.0.0.1:9464")?;
                send.metrics_addr = Some(v.parse().map_err(|_| {
                    UsageError(format!(
                        "--metrics-addr {v:?} is not a socket address; expected IP:PORT, e.g. 127.0.0.1:9464"
                    ))
                })?);
            }
            other => {
                return Err(UsageError(format!(
                    "unknown flag {other:?} for send; expected --input, --concurrency or --metrics-addr"
                )));
            }
        }
    }
    Ok(Command::Send(send))
}

/// `(flag, value)` pairs and positional arguments, in command-line order.
type ParsedFlags = (Vec<(String, String)>, Vec<String>);

/// Splits `--flag value` and `--flag=value` pairs; anything not starting
/// with `--` is positional. Every flag takes a value.
fn flags(
    command: &str,
    args: impl Iterator<Item = String>,
    allowed: &[&str],
) -> Result<ParsedFlags, UsageError> {
    let mut args = args.peekable();
    let mut pairs = Vec::new();
    let mut positional = Vec::new();
    while let Some(arg) = args.next() {
        if !arg.starts_with("--") {
            positional.push(arg);
            continue;
        }
        let (name, inline) = match arg.split_once('=') {
            Some((n, v)) => (n.to_owned(), Some(v.to_owned())),
            None => (arg.clone(), None),
        };
        if !allowed.contains(&name.as_str()) {
            return Err(UsageError(format!(
                "unknown flag {name:?} for {command}; expected {}",
                allowed.join(", ")
            )));
        }
        let value = match inline.or_else(|| args.next()) {
            Some(value) => value,
            None => return Err(UsageError(format!("{name} needs a value"))),
        };
        pairs.push((name, value));
    }
    Ok((pairs, positional))
}

fn no_positional(command: &str, positional: &[String]) -> Result<(), UsageError> {
    match positional.first() {
        None => Ok(()),
        Some(extra) => Err(UsageError(format!(
            "{command} takes no positional arguments, got {extra:?}"
        ))),
    }
}

fn parse_path(name: &str, value: String) -> Result<PathBuf, UsageError> {
    if value.is_empty() {
        return Err(UsageError(format!(
            "{name} needs a file path, got an empty value"
        )));
    }
    Ok(PathBuf::from(value))
}

fn parse_concurrency(value: &str) -> Result<usize, UsageError> {
    match value.parse::<usize>() {
        Ok(n) if (1..=MAX_CONCURRENCY).contains(&n) => Ok(n),
        _ => Err(UsageError(format!(
            "--concurrency {value:?} is invalid; expected an integer from 1 to {MAX_CONCURRENCY}"
        ))),
    }
}

fn parse_enqueue(args: impl Iterator<Item = String>) -> Result<Command, UsageError> {
    let (pairs, positional) = flags("enqueue", args, &["--input", "--outbox"])?;
    no_positional("enqueue", &positional)?;
    let mut enqueue = EnqueueArgs {
        input: None,
        outbox: None,
    };
    for (name, value) in pairs {
        match name.as_str() {
            "--input" => enqueue.input = (value != "-").then(|| PathBuf::from(value)),
            _ => enqueue.outbox = Some(parse_path("--outbox", value)?),
        }
    }
    Ok(Command::Enqueue(enqueue))
}

fn parse_run(args: impl Iterator<Item = String>) -> Result<Command, UsageError> {
    let (pairs, positional) = flags(
        "run",
        args,
        &["--concurrency", "--metrics-addr", "--outbox"],
    )?;
    no_positional("run", &positional)?;
    let mut run = RunArgs {
        concurrency: DEFAULT_CONCURRENCY,
        metrics_addr: None,
        outbox: None,
    };
    for (name, value) in pairs {
        match name.as_str() {
            "--concurrency" => run.concurrency = parse_concurrency(&value)?,
            "--metrics-addr" => {
                run.metrics_addr = Some(value.parse().map_err(|_| {
                    UsageError(format!(
                        "--metrics-addr {value:?} is not a socket address; expected IP:PORT, e.g. 127.0.0.1:9464"
                    ))
                })?);
            }
            _ => run.outbox = Some(parse_path("--outbox", value)?),
        }
    }
    Ok(Command::Run(run))
}

fn parse_outbox(mut args: impl Iterator<Item = String>) -> Result<Command, UsageError> {
    const EXPECTED: &str = "expected stats, list --state STATE or replay ID";
    let sub = args
        .next()
        .ok_or_else(|| UsageError(format!("outbox needs a subcommand; {EXPECTED}")))?;
    let allowed: &[&str] = match sub.as_str() {
        "stats" | "replay" => &["--outbox"],
        "list" => &["--state", "--limit", "--outbox"],
        other => {
            return Err(UsageError(format!(
                "unknown outbox subcommand {other:?}; {EXPECTED}"
            )));
        }
    };
    let command_name = format!("outbox {sub}");
    let (pairs, positional) = flags(&command_name, args, allowed)?;
    let mut outbox = None;
    let mut state = None;
    let mut limit = DEFAULT_LIST_LIMIT;
    for (name, value) in pairs {
        match name.as_str() {
            "--state" => {
                state = Some(
                    value
                        .parse::<signal_outbox::State>()
                        .map_err(|e| UsageError(format!("--state: {e}")))?,
                );
            }
            "--limit" => {
                limit = match value.parse::<usize>() {
                    Ok(n) if (1..=MAX_LIST_LIMIT).contains(&n) => n,
                    _ => {
                        return Err(UsageError(format!(
                            "--limit {value:?} is invalid; expected an integer from 1 to {MAX_LIST_LIMIT}"
                        )));
                    }
                };
            }
            _ => outbox = Some(parse_path("--outbox", value)?),
        }
    }
    let command = match sub.as_str() {
        "stats" => {
            no_positional(&command_name, &positional)?;
            OutboxCommand::Stats
        }
        "list" => {
            no_positional(&command_name, &positional)?;
            let state = state.ok_or_else(|| {
                UsageError(
                    "outbox list needs --state; expected one of: pending, in_flight, delivered, dead_lettered"
                        .to_owned(),
                )
            })?;
            OutboxCommand::List { state, limit }
        }
        _ => match positional.as_slice() {
            [id] if !id.is_empty() => OutboxCommand::Replay { id: id.clone() },
            _ => {
                return Err(UsageError(
                    "outbox replay needs exactly one signal id, e.g. outbox replay sig-1"
                        .to_owned(),
                ));
            }
        },
    };
    Ok(Command::Outbox(OutboxArgs { command, outbox }))
}

/// Runs the command with the process environment. `main` is only this.
pub fn run(args: Vec<String>) -> ExitCode {
    let command = match parse_args(args) {
        Ok(command) => command,
        Err(error) => {
            eprintln!("signal-delivery: {error}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let config = match command {
        Command::Help => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        // Operator commands need only the outbox path: no secrets.
        Command::Outbox(args) => {
            return match OutboxSettings::from_lookup(|name| std::env::var(name).ok()) {
                Ok(settings) => crate::outbox_cli::outbox(&settings, args),
                Err(problems) => {
                    eprintln!("signal-delivery: {}", ConfigErrors(problems));
                    ExitCode::from(2)
                }
            };
        }
        _ => DeliveryConfig::from_env(),
    };
    let config = match config {
        Ok(config) => config,
        Err(errors) => {
            eprintln!("signal-delivery: {errors}\nNothing was sent. See docs/configuration.md.");
            return ExitCode::from(2);
        }
    };
    match command {
        Command::CheckConfig => {
            print!("{}", describe_config(&config));
            ExitCode::SUCCESS
        }
        Command::Send(args) => {
            let runtime = match tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    eprintln!("signal-delivery: cannot start the async runtime: {e}");
                    return ExitCode::from(2);
                }
            };
            runtime.block_on(send(config, args))
        }
        Command::Enqueue(args) => match runtime() {
            Ok(rt) => rt.block_on(crate::outbox_cli::enqueue(config, args)),
            Err(code) => code,
        },
        Command::Run(args) => match runtime() {
            Ok(rt) => rt.block_on(crate::outbox_cli::run(config, args)),
            Err(code) => code,
        },
        Command::Help | Command::Outbox(_) => ExitCode::SUCCESS,
    }
}

fn runtime() -> Result<tokio::runtime::Runtime, ExitCode> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| {
            eprintln!("signal-delivery: cannot start the async runtime: {e}");
            ExitCode::from(2)
        })
}

async fn send(mut config: DeliveryConfig, args: SendArgs) -> ExitCode {
    if args.metrics_addr.is_some() {
        config.metrics_addr = args.metrics_addr;
    }
    telemetry::init_logging(config.log_format);
    if let Some(addr) = config.metrics_addr
        && let Err(e) = telemetry::serve_metrics(addr)
    {
        eprintln!("signal-delivery: {e}\nNothing was sent.");
        return ExitCode::from(2);
    }
    // Open the input before building anything, so a typo in the path sends nothing.
    let input: Box<dyn tokio::io::AsyncBufRead + Unpin + Send> = match &args.input {
        None => Box::new(tokio::io::BufReader::new(tokio::io::stdin())),
        Some(path) => match tokio::fs::File::open(path).await {
            Ok(file) => Box::new(tokio::io::BufReader::new(file)),
            Err(e) => {
                eprintln!(
                    "signal-delivery: cannot open --input {}: {e}\nNothing was sent.",
                    path.display()
                );
                return ExitCode::from(2);
            }
        },
    };
    let service = match DeliveryService::new(&config) {
        Ok(service) => service,
        Err(e) => {
            eprintln!("signal-delivery: {e}\nNothing was sent.");
            return ExitCode::from(2);
        }
    };

    let mut progress = Progress::new(std::io::stderr().is_terminal());
    let mut stdout = std::io::stdout().lock();
    let (summary, read_error) =
        deliver_lines(&service, input, args.concurrency, |line: &OutcomeLine| {
            match serde_json::to_string(line) {
                Ok(json) => {
                    // A closed stdout must not lose the outcome: it is also in the log.
                    let _ = writeln!(stdout, "{json}").and_then(|()| stdout.flush());
                }
                Err(e) => tracing::error!(error = %e, "cannot serialize an outcome line"),
            }
            progress.tick(line.is_delivered());
        })
        .await;
    drop(stdout);
    progress.finish();
    service.shutdown().await;

    eprintln!("signal-delivery: {summary}");
    if let Some(error) = &read_error {
        eprintln!("signal-delivery: {error}; signals after it were not read");
    }
    if summary.failed_total() > 0 || read_error.is_some() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

/// Progress on standard error, only when it is a terminal, at most once a second.
struct Progress {
    enabled: bool,
    last: Instant,
    delivered: u64,
    failed: u64,
}

impl Progress {
    fn new(enabled: bool) -> Progress {
        Progress {
            enabled,
            last: Instant::now(),
            delivered: 0,
            failed: 0,
        }
    }

    fn tick(&mut self, delivered: bool) {
        if delivered {
            self.delivered += 1;
        } else {
            self.failed += 1;
        }
        if self.enabled && self.last.elapsed() >= Duration::from_secs(1) {
            self.last = Instant::now();
            eprint!("\r{} delivered, {} failed ...", self.delivered, self.failed);
        }
    }

    fn finish(&self) {
        if self.enabled {
            eprint!("\r\x1b[2K");
        }
    }
}

/// The effective configuration, one `VARIABLE=value` per line, secrets redacted.
pub fn describe_config(config: &DeliveryConfig) -> String {
    let retry = &config.retry;
    let mut lines = vec![
        format!("MAX_RETRIES={}", retry.max_retries()),
        format!("RETRY_DELAY_SECONDS={}", retry.base_delay().as_secs_f64()),
        format!("RETRY_BACKOFF_MULTIPLIER={}", retry.backoff_multiplier()),
        format!(
            "RETRY_MAX_DELAY_SECONDS={}",
            retry.max_delay().as_secs_f64()
        ),
        format!(
            "RETRY_MAX_ELAPSED_SECONDS={}",
            retry.max_elapsed().as_secs_f64()
        ),
        format!("RETRY_JITTER={}", retry.jitter()),
        config
            .budget
            .vars()
            .iter()
            .map(|(name, value)| format!("{name}={value}"))
            .collect::<Vec<_>>()
            .join("\n"),
        format!("SIGNAL_SERVER_URL={}", config.client.server_url),
        format!(
            "SIGNAL_HMAC_SECRET=<redacted: {} key(s)>",
            config.client.keys.len()
        ),
        format!(
            "SIGNAL_REQUEST_TIMEOUT_SECONDS={}",
            config.client.request_timeout.as_secs_f64()
        ),
    ];
    match &config.alerts {
        AlertSetting::Telegram(alerts) => lines.push(format!("telegram alerts: {alerts:?}")),
        AlertSetting::Disabled => {
            lines.push("OPS_ALERTS_DISABLED=true (alerts are log lines only)".to_owned())
        }
    }
    lines.push(match config.metrics_addr {
        Some(addr) => format!("METRICS_ADDR={addr}"),
        None => "METRICS_ADDR= (metrics not served)".to_owned(),
    });
    lines.push(format!("LOG_FORMAT={:?}", config.log_format).to_lowercase());
    let outbox = &config.outbox;
    lines.push(format!("OUTBOX_PATH={}", outbox.path.display()));
    lines.push(format!("OUTBOX_LEASE_SECONDS={}", outbox.lease.as_secs()));
    lines.push(format!(
        "OUTBOX_POLL_INTERVAL_MS={}",
        outbox.poll_interval.as_millis()
    ));
    lines.push(format!("OUTBOX_BATCH_SIZE={}", outbox.batch_size));
    let mut out = lines.join("\n");
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn send_defaults() {
        assert_eq!(
            parse_args(["send"]).unwrap(),
            Command::Send(SendArgs {
                input: None,
                concurrency: DEFAULT_CONCURRENCY,
                metrics_addr: None
            })
        );
    }

    #[test]
    fn send_flags_both_forms() {
        let parsed = parse_args([
            "send",
            "--input",
            "a.ndjson",
            "--concurrency=32",
            "--metrics-addr",
            "127.0.0.1:9464",
        ])
        .unwrap();
        assert_eq!(
            parsed,
            Command::Send(SendArgs {
                input: Some(PathBuf::from("a.ndjson")),
                concurrency: 32,
                metrics_addr: Some("127.0.0.1:9464".parse().unwrap())
            })
        );
        let Command::Send(stdin) = parse_args(["send", "--input", "-"]).unwrap() else {
            panic!("expected send");
        };
        assert_eq!(stdin.input, None);
    }

    #[test]
    fn bad_usage_names_the_flag_and_allowed_values() {
        for (args, needle) in [
            (vec![], "command is required"),
            (vec!["deliver"], "unknown command"),
            (vec!["send", "--concurrency", "0"], "from 1 to 4096"),
            (vec!["send", "--concurrency", "abc"], "--concurrency"),
            (vec!["send", "--concurrency"], "needs a value"),
            (vec!["send", "--metrics-addr", "localhost"], "IP:PORT"),
            (vec!["send", "--verbose"], "unknown flag"),
            (vec!["check-config", "x"], "no arguments"),
        ] {
            let err = parse_args(args.clone()).unwrap_err().to_string();
            assert!(err.contains(needle), "{args:?}: {err}");
        }
    }

    #[test]
    fn help_is_a_command() {
        assert_eq!(parse_args(["--help"]).unwrap(), Command::Help);
    }

    #[test]
    fn outbox_commands_parse() {
        assert_eq!(
            parse_args(["enqueue", "--outbox", "/tmp/o.db"]).unwrap(),
            Command::Enqueue(EnqueueArgs {
                input: None,
                outbox: Some(PathBuf::from("/tmp/o.db"))
            })
        );
        assert_eq!(
            parse_args(["run", "--concurrency=4"]).unwrap(),
            Command::Run(RunArgs {
                concurrency: 4,
                metrics_addr: None,
                outbox: None
            })
        );
        assert_eq!(
            parse_args(["outbox", "list", "--state", "dead_lettered", "--limit", "5"]).unwrap(),
            Command::Outbox(OutboxArgs {
                command: OutboxCommand::List {
                    state: signal_outbox::State::DeadLettered,
                    limit: 5
                },
                outbox: None
            })
        );
        assert_eq!(
            parse_args(["outbox", "replay", "sig-1"]).unwrap(),
            Command::Outbox(OutboxArgs {
                command: OutboxCommand::Replay { id: "sig-1".into() },
                outbox: None
            })
        );
        assert_eq!(
            parse_args(["outbox", "stats"]).unwrap(),
            Command::Outbox(OutboxArgs {
                command: OutboxCommand::Stats,
                outbox: None
            })
        );
    }

    #[test]
    fn bad_outbox_usage_names_the_flag_and_allowed_values() {
        for (args, needle) in [
            (vec!["outbox"], "needs a subcommand"),
            (vec!["outbox", "purge"], "unknown outbox subcommand"),
            (vec!["outbox", "list"], "needs --state"),
            (vec!["outbox", "list", "--state", "done"], "dead_lettered"),
            (
                vec!["outbox", "list", "--state", "pending", "--limit", "0"],
                "--limit",
            ),
            (vec!["outbox", "replay"], "exactly one signal id"),
            (vec!["outbox", "replay", "a", "b"], "exactly one signal id"),
            (
                vec!["outbox", "stats", "--state", "pending"],
                "unknown flag",
            ),
            (vec!["run", "--concurrency", "0"], "from 1 to 4096"),
            (vec!["run", "extra"], "no positional"),
            (vec!["run", "--outbox"], "needs a value"),
            (vec!["run", "--outbox="], "empty"),
            (vec!["enqueue", "--concurrency", "2"], "unknown flag"),
        ] {
            let err = parse_args(args.clone()).unwrap_err().to_string();
            assert!(err.contains(needle), "{args:?}: {err}");
        }
    }
}
