//! The `signal-delivery` command: flags, exit codes and output lines.
//!
//! Exit codes: 0 every signal delivered; 1 at least one failed (each one
//! alerted); 2 configuration or usage error, reported before anything is sent.

use crate::batch::{OutcomeLine, deliver_lines};
use crate::config::{AlertSetting, DeliveryConfig};
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
}

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
        Some(other) => {
            return Err(UsageError(format!(
                "unknown command {other:?}; expected send or check-config"
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
        Command::Help => ExitCode::SUCCESS,
    }
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
        match config.budget {
            Some(b) => format!(
                "RETRY_BUDGET_MAX_TOKENS={}\nRETRY_BUDGET_TOKEN_RATIO={}",
                b.max_tokens, b.token_ratio
            ),
            None => "RETRY_BUDGET_MAX_TOKENS=0 (budget off)".to_owned(),
        },
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
}
