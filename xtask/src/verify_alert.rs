//! `cargo xtask verify-alert`: the forced-failure drill.
//!
//! A local signal server fails in a chosen way; one synthetic signal goes
//! through the real `signal-delivery` stack (signing client, retry loop,
//! alert service over teloxide); each attempt is shown as it happens; the
//! drill passes only when the Telegram alert was observed with every field.

mod outbox;
mod telegram;

use crate::flags::Flags;
use loopback_fakes::signal_server::{FakeSignalServer, Reply, refused_url};
use loopback_fakes::telegram::FakeBotApi;
use ops_alerts::OpsAlertService;
use signal_delivery::telemetry::RetryNotice;
use signal_delivery::{DeliveryConfig, DeliveryService, Signal};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use telegram::{RecordingSink, local_reason, real_telegram, telegram_refusal};

const HELP: &str = "\
usage: cargo xtask verify-alert [--failure KIND] [--local] [--max-retries N] [--base-delay SECONDS]
                               [--outbox] [--outbox-url URL]

  --failure KIND         how the local signal server fails: http-500 (default), refused, timeout, http-401
  --local                use the embedded fake Telegram Bot API even when credentials are set
  --max-retries N        retries after the first attempt, 0 to 10 (default: MAX_RETRIES, else 2)
  --base-delay SECONDS   first retry delay, 1 to 600 (default: RETRY_DELAY_SECONDS, else 1)
  --outbox               go through the durable path: enqueue, outbox worker, retries, dead letter,
                         stored alert sent by the worker (a temporary SQLite outbox)
  --outbox-url URL       the same on this outbox (a path, sqlite:///abs.db or postgres://...); it must
                         have no running worker (implies --outbox)

Telegram: with OPS_TELEGRAM_BOT_TOKEN and OPS_TELEGRAM_CHAT_ID set (and no --local) the alert goes to
the real chat through OPS_TELEGRAM_API_URL (default https://api.telegram.org); with neither set, an
embedded fake Bot API on 127.0.0.1 captures it; one without the other is a configuration problem.
Exit codes: 0 alert observed with every field; 1 not observed or incomplete (a refusal by Telegram is
shown in Telegram's own words, with what to fix); 2 configuration problem.";

/// The fields every delivery alert must show (the labels of the plan's layout).
pub const REQUIRED_FIELDS: [&str; 5] = ["Operation", "Signal ID", "Error", "Attempts", "Timestamp"];

/// A signing key for the drill's local server only: not a secret, never used elsewhere.
const DRILL_SECRET: &str = "whsec_BwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyAhIiMkJSY=";
/// Credentials of the embedded fake Bot API: not secrets, they never leave 127.0.0.1.
const FAKE_TOKEN: &str = "1234567890:AAdrill_local_fake_token_not_secret";
const FAKE_CHAT: &str = "424242";

/// How the local signal server fails (`--failure`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// `http-500`: every request answered with HTTP 500 (transient: retried).
    Http500,
    /// `refused`: nothing listens (transient: retried).
    Refused,
    /// `timeout`: the server never answers (transient: retried).
    Timeout,
    /// `http-401`: the signature is rejected (security: not retried, CRITICAL).
    Http401,
}

impl Failure {
    fn parse(s: &str) -> Option<Failure> {
        match s {
            "http-500" => Some(Failure::Http500),
            "refused" => Some(Failure::Refused),
            "timeout" => Some(Failure::Timeout),
            "http-401" => Some(Failure::Http401),
            _ => None,
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Failure::Http500 => "answers every request with HTTP 500",
            Failure::Refused => "is not listening: connections are refused",
            Failure::Timeout => "never answers: every attempt times out",
            Failure::Http401 => {
                "rejects the signature with HTTP 401 (a security failure: no retry)"
            }
        }
    }
}

/// The drill's flags.
#[derive(Debug, Clone)]
pub struct Options {
    /// `--failure`.
    pub failure: Failure,
    /// `--local`: use the embedded fake Bot API even when credentials are set.
    pub local: bool,
    /// `--max-retries`.
    pub max_retries: Option<u32>,
    /// `--base-delay` in seconds.
    pub base_delay: Option<u64>,
    /// `--outbox` (or `--outbox-url`): the durable path.
    pub outbox: bool,
    /// `--outbox-url`: the outbox to drill on instead of a temporary one.
    pub outbox_url: Option<String>,
}

/// What a passing drill observed.
#[derive(Debug, Clone)]
pub struct DrillReport {
    /// True when the alert went to the real Telegram.
    pub real_telegram: bool,
    /// The synthetic signal's id.
    pub signal_id: String,
    /// Attempts made before giving up.
    pub attempts: u32,
    /// The failure reason (`exhausted`, `signature_rejected`, ...).
    pub reason: String,
    /// The alert text as observed.
    pub alert: String,
    /// The Telegram message id of the alert.
    pub message_id: i32,
}

/// How the drill ended, mapped to the exit code.
#[derive(Debug)]
pub enum DrillError {
    /// Exit 2: the drill could not start.
    Config(String),
    /// Exit 1: it ran, but the alert was not observed complete.
    Failed(String),
}

impl DrillError {
    /// The exit code of `cargo xtask verify-alert` for this ending: 2 for a
    /// configuration problem, 1 for a drill that ran and failed.
    pub fn exit_code(&self) -> u8 {
        match self {
            DrillError::Config(_) => 2,
            DrillError::Failed(_) => 1,
        }
    }
}

/// Parses the flags; `Ok(None)` for `--help`.
pub fn parse(args: Vec<String>) -> Result<Option<Options>, String> {
    let mut flags = Flags::new("verify-alert", args);
    if flags.switch("--help") || flags.switch("-h") {
        return Ok(None);
    }
    let options = Options {
        local: flags.switch("--local"),
        failure: flags
            .value(
                "--failure",
                "http-500, refused, timeout or http-401",
                Failure::parse,
            )?
            .unwrap_or(Failure::Http500),
        max_retries: flags.value("--max-retries", "an integer from 0 to 10", |s| {
            s.parse().ok().filter(|n| *n <= 10)
        })?,
        base_delay: flags.value("--base-delay", "whole seconds from 1 to 600", |s| {
            s.parse().ok().filter(|n| (1..=600).contains(n))
        })?,
        outbox: flags.switch("--outbox"),
        outbox_url: flags.value(
            "--outbox-url",
            "a path, sqlite:///absolute/path.db or postgres://...",
            |s| (!s.trim().is_empty()).then(|| s.to_owned()),
        )?,
    };
    let options = Options {
        outbox: options.outbox || options.outbox_url.is_some(),
        ..options
    };
    flags.finish()?;
    Ok(Some(options))
}

/// Runs the drill with the process environment; the exit code of `cargo xtask verify-alert`.
pub fn run(args: Vec<String>) -> ExitCode {
    let options = match parse(args) {
        Ok(Some(options)) => options,
        Ok(None) => {
            println!("{HELP}");
            return ExitCode::SUCCESS;
        }
        Err(problem) => {
            eprintln!("verify-alert: {problem}\n\n{HELP}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("verify-alert: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    let env = |name: &str| std::env::var(name).ok();
    match runtime.block_on(drill(&options, &env)) {
        Ok(_) => ExitCode::SUCCESS,
        Err(error) => {
            match &error {
                DrillError::Config(reason) => {
                    eprintln!("verify-alert: configuration problem, drill not run:\n{reason}");
                }
                DrillError::Failed(reason) => eprintln!("\nFAIL: {reason}"),
            }
            ExitCode::from(error.exit_code())
        }
    }
}

/// Runs the drill, reading variables through `env`, printing as it goes.
pub async fn drill(
    options: &Options,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<DrillReport, DrillError> {
    let started = Instant::now();
    let real = real_telegram(options, env)?;

    // The Telegram side.
    let fake_bot = if real {
        None
    } else {
        Some(FakeBotApi::start().await.map_err(|e| {
            DrillError::Config(format!("cannot start the fake Bot API on 127.0.0.1: {e}"))
        })?)
    };
    if let Some(bot) = &fake_bot {
        println!(
            "mode: LOCAL: embedded fake Telegram Bot API at {} (nothing leaves this machine{})",
            bot.api_url(),
            local_reason(options, env)
        );
    }

    // The failing signal server.
    let server = match options.failure {
        Failure::Refused => None,
        _ => Some(FakeSignalServer::start(parse_keys()?).await.map_err(|e| {
            DrillError::Config(format!(
                "cannot start the local signal server on 127.0.0.1: {e}"
            ))
        })?),
    };
    let server_url = match &server {
        Some(server) => {
            server.set_default(match options.failure {
                Failure::Http500 => {
                    Reply::status_with_body(500, r#"{"error":"drill: forced internal error"}"#)
                }
                Failure::Http401 => {
                    Reply::status_with_body(401, r#"{"error":"drill: signature rejected"}"#)
                }
                Failure::Timeout => Reply::Hang,
                Failure::Refused => Reply::Accept,
            });
            server.url()
        }
        None => refused_url()
            .map_err(|e| DrillError::Config(format!("cannot find a free loopback port: {e}")))?,
    };
    println!("signal server: {server_url} {}", options.failure.describe());

    // One configuration, as the real command reads it, with the drill's overrides.
    let max_retries = options
        .max_retries
        .map(|n| n.to_string())
        .or_else(|| env("MAX_RETRIES"))
        .unwrap_or_else(|| "2".to_owned());
    let base_delay = options
        .base_delay
        .map(|n| n.to_string())
        .or_else(|| env("RETRY_DELAY_SECONDS"))
        .unwrap_or_else(|| "1".to_owned());
    let fake_api = fake_bot.as_ref().map(FakeBotApi::api_url);
    let lookup = |name: &str| -> Option<String> {
        match (name, &fake_api) {
            ("SIGNAL_SERVER_URL", _) => Some(server_url.clone()),
            ("SIGNAL_HMAC_SECRET", _) => Some(DRILL_SECRET.to_owned()),
            ("MAX_RETRIES", _) => Some(max_retries.clone()),
            ("RETRY_DELAY_SECONDS", _) => Some(base_delay.clone()),
            // A timeout drill with the 10 s production timeout would take half a minute.
            ("SIGNAL_REQUEST_TIMEOUT_SECONDS", _) if options.failure == Failure::Timeout => {
                env(name).or_else(|| Some("2".to_owned()))
            }
            // The drill exists to observe the alert: it cannot run with alerts off.
            ("OPS_ALERTS_DISABLED", _) => None,
            ("OPS_TELEGRAM_BOT_TOKEN", Some(_)) => Some(FAKE_TOKEN.to_owned()),
            // Locally the fake token stands in for the real one, from its file too.
            ("OPS_TELEGRAM_BOT_TOKEN_FILE", Some(_)) => None,
            // The drill signs with its own secret, whatever the environment holds.
            ("SIGNAL_HMAC_SECRET_FILE", _) => None,
            ("OPS_TELEGRAM_CHAT_ID", Some(_)) => Some(FAKE_CHAT.to_owned()),
            ("OPS_TELEGRAM_API_URL", Some(api)) => Some(api.clone()),
            ("OPS_TELEGRAM_THREAD_ID", Some(_)) => None,
            _ => env(name),
        }
    };
    let config =
        DeliveryConfig::from_lookup(lookup).map_err(|e| DrillError::Config(e.to_string()))?;
    let signal_delivery::AlertSetting::Telegram(alert_config) = &config.alerts else {
        return Err(DrillError::Config(
            "alerts are disabled; the drill needs them".to_owned(),
        ));
    };
    if fake_bot.is_none() {
        // From the parsed configuration: the URL's query values redacted.
        println!(
            "mode: REAL Telegram: the alert goes to chat {} through {}",
            alert_config.chat(),
            alert_config.redacted_api_url()
        );
    }
    println!(
        "schedule: {} attempt(s), first retry after {} s, jitter {}",
        config.retry.max_attempts(),
        config.retry.base_delay().as_secs_f64(),
        config.retry.jitter()
    );

    let sink = Arc::new(RecordingSink::new(alert_config));
    let alerts = OpsAlertService::with_sink(alert_config.clone(), sink.clone());
    let client = hmac_client::SignalClient::new(config.client.clone())
        .map_err(|e| DrillError::Config(e.to_string()))?;
    let service = DeliveryService::with_parts(&config, client, alerts)
        .map_err(|e| DrillError::Config(e.to_string()))?
        .with_retry_listener(Arc::new(move |n: &RetryNotice| {
            println!(
                "  [{:>6.2} s] attempt {}/{} failed: {}\n             next attempt in {:.2} s",
                started.elapsed().as_secs_f64(),
                n.attempt,
                n.max_attempts,
                n.error,
                n.delay.as_secs_f64()
            );
        }));

    let id = format!("drill-{}", unix_now());
    let signal = Signal::from_json(
        format!(r#"{{"id":"{id}","instrument":"DRILL-USD","side":"buy","price":1.0,"volume":1.0,"note":"verify-alert drill"}}"#)
            .as_bytes(),
    )
    .map_err(|e| DrillError::Config(format!("drill signal: {e}")))?;
    let (attempts, reason, gave_up) = if options.outbox {
        let (outbox, _dir) = outbox::open(options.outbox_url.as_deref()).await?;
        let observed = async {
            match &fake_bot {
                Some(bot) => {
                    let _ = bot.wait_for_messages(1, Duration::from_secs(120)).await;
                }
                None => {
                    while sink.sent().is_empty() && sink.last_error().is_none() {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                }
            }
        };
        let run = outbox::deliver(
            outbox,
            &service,
            &config.outbox,
            &id,
            signal.body().to_vec(),
            observed,
            Duration::from_secs(120),
        )
        .await?;
        println!("  (outbox {})", run.describe);
        (run.attempts, run.reason, run.last_error)
    } else {
        println!("delivering signal {id} through signal-delivery ...");
        let outcome = service.deliver(&signal).await;
        service.shutdown().await;
        let error = match outcome {
            Ok(delivered) => {
                return Err(DrillError::Failed(format!(
                    "the signal was delivered (status {}) although the server was set to fail",
                    delivered.receipt.status
                )));
            }
            Err(error) => error,
        };
        (
            error.attempts(),
            error.reason().to_string(),
            error.to_string(),
        )
    };
    println!(
        "  [{:>6.2} s] attempt {attempts}/{} failed; gave up: {reason} ({gave_up})",
        started.elapsed().as_secs_f64(),
        config.retry.max_attempts(),
    );

    // Observe the alert.
    let observed = match &fake_bot {
        Some(bot) => {
            let messages = bot.wait_for_messages(1, Duration::from_secs(10)).await;
            let Some(message) = messages.into_iter().next() else {
                return Err(DrillError::Failed(
                    "no alert reached the fake Bot API within 10 s".to_owned(),
                ));
            };
            println!(
                "\nalert captured by the fake Bot API (message {}):",
                message.message_id
            );
            (message.text, message.message_id)
        }
        None => {
            let Some((text, message)) = sink.sent().into_iter().next() else {
                return Err(DrillError::Failed(telegram_refusal(
                    sink.last_error().as_ref(),
                    alert_config,
                )));
            };
            println!(
                "\nalert sent to Telegram, message id {}:",
                message.message_id
            );
            (text, message.message_id)
        }
    };
    let (observed, message_id) = observed;
    println!("{}", indent(&observed));
    check_alert(&observed, &id)?;
    println!(
        "\nPASS: the alert was observed with all its fields ({}) in {:.1} s",
        REQUIRED_FIELDS.join(", "),
        started.elapsed().as_secs_f64()
    );
    Ok(DrillReport {
        real_telegram: fake_bot.is_none(),
        signal_id: id,
        attempts,
        reason,
        alert: observed,
        message_id,
    })
}

fn check_alert(text: &str, signal_id: &str) -> Result<(), DrillError> {
    let mut missing: Vec<String> = REQUIRED_FIELDS
        .iter()
        .filter(|field| !text.contains(*field))
        .map(|field| format!("field {field:?}"))
        .collect();
    if !text.contains(signal_id) {
        missing.push(format!("the signal id {signal_id:?}"));
    }
    if !text.contains("post_signal") {
        missing.push("the operation \"post_signal\"".to_owned());
    }
    if missing.is_empty() {
        Ok(())
    } else {
        Err(DrillError::Failed(format!(
            "the alert is missing {}",
            missing.join(", ")
        )))
    }
}

fn parse_keys() -> Result<hmac_client::SigningKeys, DrillError> {
    hmac_client::SigningKeys::parse(DRILL_SECRET).map_err(|e| DrillError::Config(e.to_string()))
}

fn indent(text: &str) -> String {
    text.lines()
        .map(|l| format!("  | {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn defaults_and_flags() {
        let o = parse(args(&[])).unwrap().unwrap();
        assert_eq!(o.failure, Failure::Http500);
        assert!(!o.local);
        let o = parse(args(&[
            "--failure",
            "timeout",
            "--local",
            "--max-retries=0",
            "--base-delay",
            "3",
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(
            (o.failure, o.local, o.max_retries, o.base_delay),
            (Failure::Timeout, true, Some(0), Some(3))
        );
        assert!(parse(args(&["--help"])).unwrap().is_none());
    }

    #[test]
    fn bad_flags_name_the_allowed_values() {
        assert!(
            parse(args(&["--failure", "boom"]))
                .unwrap_err()
                .contains("http-500, refused, timeout or http-401")
        );
        assert!(
            parse(args(&["--max-retries", "11"]))
                .unwrap_err()
                .contains("0 to 10")
        );
        assert!(
            parse(args(&["--base-delay", "0"]))
                .unwrap_err()
                .contains("1 to 600")
        );
        assert!(parse(args(&["--bogus"])).unwrap_err().contains("--bogus"));
    }

    #[test]
    fn alert_check_lists_what_is_missing() {
        let full =
            "Operation: post_signal\nSignal ID: drill-1\nError: x\nAttempts: 3/3\nTimestamp: t";
        assert!(check_alert(full, "drill-1").is_ok());
        let Err(DrillError::Failed(why)) =
            check_alert("Operation: post_signal\nError: x", "drill-1")
        else {
            panic!("expected a failure");
        };
        assert!(
            why.contains("Signal ID") && why.contains("Attempts") && why.contains("drill-1"),
            "{why}"
        );
    }
}
