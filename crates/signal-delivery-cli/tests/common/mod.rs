//! What every subprocess test of the binary shares: its path, the test
//! secrets, a clean environment for it, and running it with a time limit
//! (a hung child is killed and the test fails with its standard error,
//! instead of hanging the suite).
//!
//! Each test file uses a subset of these helpers.

#![allow(
    dead_code,
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use loopback_fakes::telegram::FakeBotApi;
use serde_json::Value;
use std::ffi::OsStr;
use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The binary under test, built by cargo for this package's tests.
pub const BIN: &str = env!("CARGO_BIN_EXE_signal-delivery");
/// The Standard Webhooks test vector's secret.
pub const SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
/// The part of [`SECRET`] that must never appear in any output.
pub const SECRET_PART: &str = "C2FVsBQIhrscChlQIMV";
/// A bot token that must never appear in any output.
pub const TOKEN: &str = "123456:AAH-secret-token-value-for-cli-test";
/// The part of [`TOKEN`] that must never appear in any output.
pub const TOKEN_PART: &str = "AAH-secret";
/// The chat the alerts go to.
pub const CHAT_ID: &str = "-1001234567890";
/// Long enough for any one run of the binary in these tests; a run that
/// takes longer is hung.
pub const LIMIT: Duration = Duration::from_secs(20);

/// A valid signal line (without the newline).
pub fn signal_json(id: &str) -> String {
    format!(r#"{{"id":"{id}","instrument":"BTC-USD","side":"buy","price":101.5}}"#)
}

/// The binary with `args` and an empty environment, except `PATH` and what
/// coverage runs (`cargo llvm-cov`) tell the child about its profile.
pub fn bare<I, S>(args: I) -> Command
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut command = Command::new(BIN);
    command
        .args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .envs(std::env::vars_os().filter(|(k, _)| {
            k.to_str()
                .is_some_and(|k| k.starts_with("LLVM_PROFILE") || k == "CARGO_LLVM_COV")
        }));
    command
}

/// A valid configuration against `server_url`: one retry after one second,
/// no jitter, alerts to `bot` (or disabled without one).
pub fn delivery_env(server_url: &str, bot: Option<&FakeBotApi>) -> Vec<(&'static str, String)> {
    let mut vars = vec![
        ("SIGNAL_SERVER_URL", server_url.to_owned()),
        ("SIGNAL_HMAC_SECRET", SECRET.to_owned()),
        ("MAX_RETRIES", "1".to_owned()),
        ("RETRY_DELAY_SECONDS", "1".to_owned()),
        ("RETRY_JITTER", "none".to_owned()),
    ];
    match bot {
        Some(bot) => vars.extend([
            ("OPS_TELEGRAM_BOT_TOKEN", TOKEN.to_owned()),
            ("OPS_TELEGRAM_CHAT_ID", CHAT_ID.to_owned()),
            ("OPS_TELEGRAM_API_URL", bot.api_url()),
        ]),
        None => vars.push(("OPS_ALERTS_DISABLED", "true".to_owned())),
    }
    vars
}

/// The binary with `args` and exactly `vars` (on top of [`bare`]).
pub fn command<S: AsRef<OsStr>>(args: &[S], vars: &[(&str, String)]) -> Command {
    let mut command = bare(args);
    command.envs(vars.iter().map(|(k, v)| (*k, v.as_str())));
    command
}

/// What a finished run left behind.
#[derive(Debug)]
pub struct Finished {
    /// How it exited.
    pub status: ExitStatus,
    /// Every standard output line, in order.
    pub lines: Vec<String>,
    /// Standard error, lossily decoded.
    pub stderr: String,
}

impl Finished {
    /// The exit code (`None` if a signal killed it).
    pub fn code(&self) -> Option<i32> {
        self.status.code()
    }

    /// Every standard output line as JSON.
    pub fn json(&self) -> Vec<Value> {
        self.lines
            .iter()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l:?}")))
            .collect()
    }

    /// Standard output and standard error together, for "never shown" checks.
    pub fn all_text(&self) -> String {
        format!("{}\n{}", self.lines.join("\n"), self.stderr)
    }
}

/// Fails if standard error shows a panic, or colour codes while it is not
/// a terminal (every test's stderr is a pipe).
pub fn assert_clean_stderr(stderr: &str) {
    assert!(!stderr.contains("panicked"), "a panic:\n{stderr}");
    assert!(
        !stderr.contains("\x1b["),
        "ANSI escapes on a stderr that is not a terminal:\n{stderr:?}"
    );
}

/// Where a child's standard output goes.
#[derive(Debug)]
pub enum Out {
    /// A pipe the test reads.
    Pipe,
    /// A pipe whose read end is closed at once: every write fails.
    ClosedPipe,
    /// A file, e.g. `/dev/full` (every write fails with "no space").
    File(std::fs::File),
}

/// A running child: standard input kept open for the test to write, output
/// lines collected as they come, standard error collected to the end.
#[derive(Debug)]
pub struct Running {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Option<mpsc::Receiver<String>>,
    taken: Vec<String>,
    stdout: Option<JoinHandle<()>>,
    stderr: Option<JoinHandle<Vec<u8>>>,
    started: Instant,
}

impl Running {
    /// Starts `command` with piped standard streams.
    pub fn spawn(command: Command) -> Running {
        Running::spawn_with(command, Out::Pipe)
    }

    /// Starts `command` with standard output as given.
    pub fn spawn_with(mut command: Command, out: Out) -> Running {
        let (stdout, closed) = match out {
            Out::Pipe => (Stdio::piped(), false),
            Out::ClosedPipe => (Stdio::piped(), true),
            Out::File(file) => (Stdio::from(file), false),
        };
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(stdout)
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take();
        if closed {
            // The read end closes here, before the child has anything to write.
            drop(child.stdout.take());
        }
        let (lines, stdout) = match child.stdout.take() {
            Some(out) => {
                let (tx, rx) = mpsc::channel();
                let reader = std::thread::spawn(move || {
                    for line in BufReader::new(out).lines() {
                        let Ok(line) = line else { break };
                        if tx.send(line).is_err() {
                            break;
                        }
                    }
                });
                (Some(rx), Some(reader))
            }
            None => (None, None),
        };
        let mut err = child.stderr.take().unwrap();
        let stderr = std::thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = err.read_to_end(&mut bytes);
            bytes
        });
        Running {
            child,
            stdin,
            lines,
            taken: Vec::new(),
            stdout,
            stderr: Some(stderr),
            started: Instant::now(),
        }
    }

    /// The child's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Writes `bytes` to the child's standard input (a broken pipe is
    /// ignored: the exit code tells that story).
    pub fn write(&mut self, bytes: &[u8]) {
        if let Some(stdin) = self.stdin.as_mut() {
            let _ = stdin.write_all(bytes).and_then(|()| stdin.flush());
        }
    }

    /// Writes one line and its newline.
    pub fn write_line(&mut self, line: &str) {
        self.write(format!("{line}\n").as_bytes());
    }

    /// Closes standard input (end of the stream).
    pub fn close_stdin(&mut self) {
        self.stdin = None;
    }

    /// The next output line as JSON, waiting at most `limit`.
    pub fn next_json(&mut self, limit: Duration) -> Value {
        let rx = self.lines.as_ref().expect("standard output is not a pipe");
        match rx.recv_timeout(limit) {
            Ok(line) => {
                self.taken.push(line.clone());
                serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line:?}"))
            }
            Err(e) => {
                let _ = self.child.kill();
                let stderr = self.stderr.take().map(|h| h.join().unwrap());
                panic!(
                    "no output line within {limit:?} ({e}); stderr:\n{}",
                    String::from_utf8_lossy(&stderr.unwrap_or_default())
                );
            }
        }
    }

    /// Sends the named signal (`TERM`, `INT`) to the child.
    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args([format!("-{name}"), self.pid().to_string()])
            .status()
            .unwrap();
        assert!(status.success(), "kill -{name} failed");
    }

    /// Time since the child started.
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// Closes standard input, waits for the exit (at most `limit`: a child
    /// still running then is killed and the test fails) and collects the
    /// output.
    pub fn finish(mut self, limit: Duration) -> Finished {
        self.stdin = None;
        let deadline = Instant::now() + limit;
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                let stderr = self.stderr.take().map(|h| h.join().unwrap());
                panic!(
                    "still running after {limit:?}; stderr:\n{}",
                    String::from_utf8_lossy(&stderr.unwrap_or_default())
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        if let Some(reader) = self.stdout.take() {
            reader.join().unwrap();
        }
        let mut lines = std::mem::take(&mut self.taken);
        if let Some(rx) = self.lines.take() {
            lines.extend(rx.try_iter());
        }
        let stderr = self.stderr.take().map(|h| h.join().unwrap());
        let stderr = String::from_utf8_lossy(&stderr.unwrap_or_default()).into_owned();
        assert_clean_stderr(&stderr);
        Finished {
            status,
            lines,
            stderr,
        }
    }
}

/// Runs `command` to its end with `stdin` as its input, within [`LIMIT`].
/// The input is written from another thread, so a large input cannot
/// deadlock against a full output pipe.
pub fn run(command: Command, stdin: impl Into<Vec<u8>>) -> Finished {
    let mut running = Running::spawn(command);
    let mut pipe = running.stdin.take();
    let input = stdin.into();
    let writer = std::thread::spawn(move || {
        if let Some(pipe) = pipe.as_mut() {
            // A command that exits early (exit 2) closes its input.
            let _ = pipe.write_all(&input);
        }
    });
    let finished = running.finish(LIMIT);
    writer.join().unwrap();
    finished
}

/// Waits until `condition` holds, checking every 10 ms, at most `limit`.
pub fn wait_until(limit: Duration, what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !condition() {
        assert!(Instant::now() < deadline, "not within {limit:?}: {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Runs `signal-delivery run` with `vars` until `bot` holds `n` messages
/// (at most `limit`), then stops it with SIGTERM and checks it exited 0:
/// the worker's alert sender sends what `enqueue` stored in the outbox.
pub async fn worker_sends_stored_alerts(
    vars: &[(&str, String)],
    bot: &FakeBotApi,
    n: usize,
    limit: Duration,
) -> Vec<loopback_fakes::telegram::RecordedMessage> {
    let worker = Running::spawn(command(&["run"], vars));
    let messages = bot.wait_for_messages(n, limit).await;
    worker.signal("TERM");
    let done = worker.finish(LIMIT);
    assert_eq!(done.code(), Some(0), "{}", done.stderr);
    messages
}
