//! `cargo xtask bench`: a short run of every benchmark and the report.
//!
//! Runs the criterion benchmarks of retry-core, hmac-client, ops-alerts and
//! signal-delivery (release builds through `cargo bench`, with short warm-up
//! and measurement times), the parked-signals memory measurement and the
//! zero-allocation test, then reads criterion's estimates
//! (`<target>/criterion/<group>/<bench>/new/estimates.json`, the mean) and
//! writes `docs/benchmarks.md`: each comparison with both sides, the ratio,
//! the goal and whether it was met, and the machine it ran on.

use crate::flags::Flags;
use std::fmt::Write as _;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{SystemTime, UNIX_EPOCH};

const HELP: &str = "\
usage: cargo xtask bench [--warm-up SECONDS] [--measurement SECONDS] [--report-only] [--output PATH]

  --warm-up SECONDS      criterion warm-up time per benchmark, 1 to 60 (default 1)
  --measurement SECONDS  criterion measurement time per benchmark, 1 to 600 (default 2)
  --report-only          do not run anything: rewrite the report from the last results
  --output PATH          where to write the report (default docs/benchmarks.md)

Runs, in release mode and one after the other (a few minutes on 2 cores once built):
  cargo bench -p retry-core --bench retry            backoff schedule and retry loop vs backon, backoff
  cargo bench -p hmac-client --bench signing         sign/verify 512 B and 4 KiB vs plain hmac+sha2
  cargo bench -p ops-alerts --bench format           alert formatting of a 10,000-character error
  cargo bench -p signal-delivery --bench e2e         loopback delivery vs bare reqwest, concurrency 1-256
  cargo bench -p signal-delivery --bench parked_memory   RSS with 10,000 signals waiting to retry
  cargo test -p retry-core --test zero_alloc         zero heap allocations per retry attempt
then writes the report. Criterion's results go to $CARGO_TARGET_DIR/criterion (default target/criterion).";

/// The criterion targets, as `(package, bench target)`, in running order.
const CRITERION_TARGETS: [(&str, &str); 4] = [
    ("retry-core", "retry"),
    ("hmac-client", "signing"),
    ("ops-alerts", "format"),
    ("signal-delivery", "e2e"),
];
/// The criterion groups those targets write (cleared before a run so that a
/// failed benchmark cannot leave stale figures in the report).
const GROUPS: [&str; 6] = [
    "backoff_schedule",
    "retry_loop",
    "hmac_sign",
    "hmac_verify",
    "alert_format_10k",
    "e2e_loopback",
];
const CONCURRENCY: [u32; 4] = [1, 8, 64, 256];
const MEMORY_LINE: &str = "parked_memory ";

/// The options of `cargo xtask bench`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bench {
    /// Criterion `--warm-up-time`, seconds.
    pub warm_up: u32,
    /// Criterion `--measurement-time`, seconds.
    pub measurement: u32,
    /// Only rewrite the report from existing results.
    pub report_only: bool,
    /// The report's path (relative paths are from the workspace root).
    pub output: PathBuf,
}

/// Entry point of `cargo xtask bench`.
pub fn run(args: Vec<String>) -> ExitCode {
    let bench = match Bench::parse(args) {
        Ok(Some(bench)) => bench,
        Ok(None) => {
            println!("{HELP}");
            return ExitCode::SUCCESS;
        }
        Err(problem) => {
            eprintln!("bench: {problem}\n\n{HELP}");
            return ExitCode::from(2);
        }
    };
    match bench.run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(problem) => {
            eprintln!("bench: {problem}");
            ExitCode::from(1)
        }
    }
}

impl Bench {
    /// Parses the flags; `None` for `--help`.
    pub fn parse(args: Vec<String>) -> Result<Option<Bench>, String> {
        let mut flags = Flags::new("bench", args);
        if flags.switch("--help") || flags.switch("-h") {
            return Ok(None);
        }
        let seconds =
            |max: u32| move |s: &str| s.parse::<u32>().ok().filter(|n| (1..=max).contains(n));
        let warm_up = flags
            .value("--warm-up", "whole seconds, 1 to 60", seconds(60))?
            .unwrap_or(1);
        let measurement = flags
            .value("--measurement", "whole seconds, 1 to 600", seconds(600))?
            .unwrap_or(2);
        let report_only = flags.switch("--report-only");
        let output = flags
            .value("--output", "a file path", |s| {
                (!s.is_empty()).then(|| PathBuf::from(s))
            })?
            .unwrap_or_else(|| PathBuf::from("docs/benchmarks.md"));
        flags.finish()?;
        Ok(Some(Bench {
            warm_up,
            measurement,
            report_only,
            output,
        }))
    }

    /// Runs everything and writes the report. The report is written even
    /// when a step failed (the missing figures say so); the error follows.
    pub fn run(self) -> Result<(), String> {
        let root = workspace_root();
        let criterion_dir = target_dir(&root).join("criterion");
        let load_before = load_average();
        let mut problems = Vec::new();
        let mut memory = None;
        let mut alloc_test = None;
        let mut outbox = None;
        if !self.report_only {
            for group in GROUPS {
                let dir = criterion_dir.join(group);
                if dir.exists() {
                    std::fs::remove_dir_all(&dir)
                        .map_err(|e| format!("cannot clear {}: {e}", dir.display()))?;
                }
            }
            match self.run_benches(&root, &criterion_dir) {
                Ok(line) => memory = line,
                Err(problem) => problems.push(problem),
            }
            alloc_test = Some(run_alloc_test(&root));
            outbox = Some(run_outbox_enqueue(&root));
        }
        let mut figures = Figures::read(&criterion_dir, memory, alloc_test);
        figures.outbox = outbox;
        let mut machine = machine();
        machine.load = format!("{load_before} before the run, {} after", load_average());
        let report = figures.report(&self, &machine);
        let output = root.join(&self.output);
        if let Some(dir) = output.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        }
        std::fs::write(&output, report)
            .map_err(|e| format!("cannot write {}: {e}", output.display()))?;
        println!("\nwrote {}", output.display());
        problems.extend(figures.missing.iter().map(|m| format!("no result for {m}")));
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems.join("\n"))
        }
    }

    /// One `cargo bench` for every target; its output is shown as it comes
    /// and the memory program's line is picked out of it.
    fn run_benches(&self, root: &Path, criterion_dir: &Path) -> Result<Option<String>, String> {
        let mut command = Command::new(cargo());
        command.current_dir(root).arg("bench");
        for (package, _) in CRITERION_TARGETS {
            command.args(["-p", package]);
        }
        for (_, bench) in CRITERION_TARGETS {
            command.args(["--bench", bench]);
        }
        command.args(["--bench", "parked_memory", "--"]);
        command.args([
            "--warm-up-time",
            &self.warm_up.to_string(),
            "--measurement-time",
            &self.measurement.to_string(),
            "--noplot",
        ]);
        command.env("CRITERION_HOME", criterion_dir);
        println!("$ {}", describe(&command));
        let mut child = command
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot run cargo bench: {e}"))?;
        let mut memory = None;
        if let Some(stdout) = child.stdout.take() {
            for line in BufReader::new(stdout).lines() {
                let line = line.map_err(|e| format!("reading cargo bench output: {e}"))?;
                println!("{line}");
                if line.starts_with(MEMORY_LINE) {
                    memory = Some(line);
                }
            }
        }
        let status = child
            .wait()
            .map_err(|e| format!("waiting for cargo bench: {e}"))?;
        if status.success() {
            Ok(memory)
        } else {
            Err(format!("cargo bench failed ({status})"))
        }
    }
}

/// Runs the zero-allocation test; `Ok` with its summary line when it passed.
fn run_alloc_test(root: &Path) -> Result<String, String> {
    let mut command = Command::new(cargo());
    command
        .current_dir(root)
        .args(["test", "-p", "retry-core", "--test", "zero_alloc"]);
    println!("$ {}", describe(&command));
    let output = command
        .output()
        .map_err(|e| format!("cannot run cargo test: {e}"))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    print!("{stdout}");
    let summary = stdout
        .lines()
        .find(|l| l.starts_with("test result:"))
        .unwrap_or("no test result line")
        .to_owned();
    if output.status.success() {
        Ok(summary)
    } else {
        Err(summary)
    }
}

/// The outbox's enqueue throughput with durability on (issue: at least
/// 5,000 signals/s): its example program, in release mode, prints one
/// `enqueue: ... N signals/s` line.
fn run_outbox_enqueue(root: &Path) -> Result<String, String> {
    let mut command = Command::new(cargo());
    command.current_dir(root).args([
        "run",
        "--release",
        "-p",
        "signal-outbox-sqlite",
        "--example",
        "enqueue_throughput",
    ]);
    println!("$ {}", describe(&command));
    let output = command
        .output()
        .map_err(|e| format!("cannot run cargo run: {e}"))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    print!("{stdout}");
    match stdout.lines().find(|l| l.starts_with("enqueue:")) {
        Some(line) if output.status.success() => Ok(line.to_owned()),
        _ => Err(format!(
            "enqueue_throughput failed: {}",
            String::from_utf8_lossy(&output.stderr)
                .lines()
                .last()
                .unwrap_or("no output")
        )),
    }
}

/// `N` from the `..., N signals/s` line of the outbox example.
fn signals_per_second(line: &str) -> Option<f64> {
    let rest = line.strip_suffix(" signals/s")?;
    rest.rsplit(' ').next()?.parse().ok()
}

fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned())
}

fn describe(command: &Command) -> String {
    let args: Vec<String> = command
        .get_args()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    format!("cargo {}", args.join(" "))
}

/// The workspace root: the parent of this crate's directory.
fn workspace_root() -> PathBuf {
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest_dir.parent().unwrap_or(manifest_dir).to_path_buf()
}

fn target_dir(root: &Path) -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => root.join(dir),
        None => root.join("target"),
    }
}

/// Where and when the figures were taken.
#[derive(Debug, Clone)]
struct Machine {
    cpu: String,
    cores: usize,
    rustc: String,
    date: String,
    /// 1, 5 and 15 minute load averages: other work on a shared machine.
    load: String,
}

/// The three load averages of `/proc/loadavg`.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|| "unknown".to_owned())
}

fn machine() -> Machine {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, model)| model.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown (no /proc/cpuinfo model name)".to_owned());
    let cores = std::thread::available_parallelism().map_or(0, usize::from);
    let rustc = Command::new(std::env::var("RUSTC").unwrap_or_else(|_| "rustc".to_owned()))
        .arg("--version")
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_else(|| "unknown".to_owned());
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    Machine {
        cpu,
        cores,
        rustc,
        date: utc_date_time(now),
        load: load_average(),
    }
}

/// `YYYY-MM-DD HH:MM UTC` from Unix seconds (Howard Hinnant's civil_from_days).
fn utc_date_time(unix: u64) -> String {
    let days = i64::try_from(unix / 86_400).unwrap_or(0);
    let secs = unix % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02} UTC",
        secs / 3600,
        (secs % 3600) / 60
    )
}

/// Reads criterion's mean estimate (ns) of one benchmark.
fn mean_ns(criterion_dir: &Path, bench: &str) -> Option<f64> {
    let path = criterion_dir.join(bench).join("new/estimates.json");
    let text = std::fs::read_to_string(path).ok()?;
    let json: serde_json::Value = serde_json::from_str(&text).ok()?;
    json["mean"]["point_estimate"].as_f64()
}

/// The elements per iteration criterion recorded for a benchmark.
fn elements(criterion_dir: &Path, bench: &str) -> Option<f64> {
    let path = criterion_dir.join(bench).join("new/benchmark.json");
    let text = std::fs::read_to_string(path).ok()?;
    let json: serde_json::Value = serde_json::from_str(&text).ok()?;
    json["throughput"]["Elements"].as_f64()
}

/// The memory program's figures, from its `key=value` line.
#[derive(Debug, Clone, Default)]
struct Memory {
    signals: u64,
    rss_before_kib: u64,
    rss_parked_kib: u64,
    hwm_kib: u64,
    bytes_per_signal: u64,
}

impl Memory {
    fn parse(line: &str) -> Option<Memory> {
        let field = |name: &str| {
            line.split_whitespace()
                .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
                .and_then(|v| v.parse::<u64>().ok())
        };
        Some(Memory {
            signals: field("signals")?,
            rss_before_kib: field("rss_before_kib")?,
            rss_parked_kib: field("rss_parked_kib")?,
            hwm_kib: field("hwm_kib")?,
            bytes_per_signal: field("bytes_per_signal")?,
        })
    }
}

/// Every figure the report needs; `missing` names those that were not found.
#[derive(Debug, Default)]
struct Figures {
    criterion_dir: PathBuf,
    memory: Option<Memory>,
    memory_line: Option<String>,
    alloc_test: Option<Result<String, String>>,
    outbox: Option<Result<String, String>>,
    missing: Vec<String>,
}

impl Figures {
    fn read(
        criterion_dir: &Path,
        memory_line: Option<String>,
        alloc_test: Option<Result<String, String>>,
    ) -> Figures {
        let mut figures = Figures {
            criterion_dir: criterion_dir.to_path_buf(),
            memory: memory_line.as_deref().and_then(Memory::parse),
            memory_line,
            alloc_test,
            outbox: None,
            missing: Vec::new(),
        };
        if figures.memory.is_none() && figures.memory_line.is_some() {
            figures
                .missing
                .push("parked_memory (unreadable line)".to_owned());
        }
        figures
    }

    /// The mean of `bench` in ns, recording it as missing when absent.
    fn ns(&mut self, bench: &str) -> Option<f64> {
        let value = mean_ns(&self.criterion_dir, bench);
        if value.is_none() {
            self.missing.push(bench.to_owned());
        }
        value
    }

    /// Requests per second of an e2e benchmark.
    fn throughput(&mut self, bench: &str) -> Option<f64> {
        let ns = self.ns(bench)?;
        let n = elements(&self.criterion_dir, bench)?;
        Some(n / (ns * 1e-9))
    }

    fn report(&mut self, bench: &Bench, machine: &Machine) -> String {
        let mut out = String::new();
        let mut summary: Vec<[String; 6]> = Vec::new();
        let body = self.sections(&mut summary);

        let _ = writeln!(out, "# Benchmarks\n");
        let _ = writeln!(
            out,
            "Generated by `cargo xtask bench` on {}; do not edit by hand (rerun it). \
             Absolute times on a shared 2-core machine mean little; the ratios, measured \
             side by side in the same process with the same parameters, are what the goals are \
             about. Each figure is criterion's mean over a short run (warm-up {} s, measurement \
             {} s per benchmark), so ratios within a few per cent of a goal are within run-to-run \
             noise: rerun before drawing conclusions from them.\n",
            machine.date, bench.warm_up, bench.measurement
        );
        let _ = writeln!(out, "## Machine\n");
        let _ = writeln!(out, "| | |\n|---|---|");
        let _ = writeln!(out, "| CPU | {} |", machine.cpu);
        let _ = writeln!(
            out,
            "| cores (`available_parallelism`) | {} |",
            machine.cores
        );
        let _ = writeln!(out, "| compiler | {} |", machine.rustc);
        let _ = writeln!(out, "| date | {} |", machine.date);
        let _ = writeln!(
            out,
            "| load average (1, 5, 15 min) | {} (shared machine: above 2, other work competed for the 2 cores) |",
            machine.load
        );
        let _ = writeln!(
            out,
            "| profile | `cargo bench` (release, workspace defaults) |\n"
        );

        let _ = writeln!(out, "## Summary\n");
        let _ = writeln!(
            out,
            "| comparison | ours | theirs | ratio | goal | met |\n|---|---|---|---|---|---|"
        );
        for row in &summary {
            let _ = writeln!(out, "| {} |", row.join(" | "));
        }
        out.push('\n');
        out.push_str(&body);
        out.push_str(&reproduce(bench));
        out.push_str(METHOD);
        out
    }

    /// The per-comparison sections; pushes one summary row per goal.
    fn sections(&mut self, summary: &mut Vec<[String; 6]>) -> String {
        let mut out = String::new();

        // 1. Backoff schedule.
        let ours = self.ns("backoff_schedule/retry-core");
        let backon = self.ns("backoff_schedule/backon");
        let backoff = self.ns("backoff_schedule/backoff");
        let _ = writeln!(out, "## 1. Next-delay computation with jitter\n");
        let _ = writeln!(
            out,
            "Build the backoff and draw the 5 jittered delays of one retry loop (5 s doubling to \
             at most 120 s). Goal: retry-core no slower than the fastest of backon and backoff.\n"
        );
        let _ = writeln!(
            out,
            "| implementation | 5 delays | per delay | vs retry-core |\n|---|---|---|---|"
        );
        for (name, value) in [
            ("retry-core", ours),
            ("backon `ExponentialBuilder`", backon),
            ("backoff `ExponentialBackoff`", backoff),
        ] {
            let _ = writeln!(
                out,
                "| {name} | {} | {} | {} |",
                time(value),
                time(value.map(|v| v / 5.0)),
                ratio(value, ours)
            );
        }
        let fastest = match (backon, backoff) {
            (Some(a), Some(b)) if a <= b => Some(("backon", a)),
            (Some(_), Some(b)) => Some(("backoff", b)),
            _ => None,
        };
        let r = ours.zip(fastest).map(|(o, (_, f))| o / f);
        let _ = writeln!(out, "\nretry-core / fastest: {}.\n", ratio_value(r));
        summary.push([
            "1. next delay (5-delay schedule)".to_owned(),
            time(ours),
            fastest.map_or("n/a".to_owned(), |(n, v)| {
                format!("{} ({n})", time(Some(v)))
            }),
            ratio_value(r),
            "≤ 1.00× the fastest".to_owned(),
            met(r.map(|r| r <= 1.0)),
        ]);

        // 2. Retry loop.
        let ours = self.ns("retry_loop/retry-core");
        let backon = self.ns("retry_loop/backon");
        let r = ratio_of(ours, backon);
        let _ = writeln!(out, "## 2. The retry loop\n");
        let _ = writeln!(
            out,
            "An operation that fails twice then succeeds, blocking loop, a sleeper that returns \
             at once. Goal: no slower than backon.\n"
        );
        let with_retry = self.ns("retry_loop/retry-core-Retry");
        let deadline = self.ns("retry_loop/backon-with-deadline");
        let simulated = self.ns("retry_loop/retry-core-simulated-clock");
        let _ = writeln!(
            out,
            "| implementation | one loop (3 attempts) |\n|---|---|\n| retry-core `op.retry(&policy).sleep(..).call()` | {} |\n| retry-core `Retry::run_blocking` | {} |\n| backon `op.retry(&builder).sleep(..).call()` | {} |\n| backon with retry-core's wall-clock deadline (`when` reads the clock) | {} |\n| (diagnostic) retry-core on a simulated clock with a fixed seed | {} |\n",
            time(ours),
            time(with_retry),
            time(backon),
            time(deadline),
            time(simulated)
        );
        let _ = writeln!(
            out,
            "retry-core reads the system clock once before the first attempt and once per \
             failure, for its `max_elapsed` deadline; backon has no wall-clock deadline. The \
             fourth row gives backon the same clock reads, the diagnostic row takes them away \
             from retry-core (a `ManualClock`). retry-core / backon with the same deadline: {}; \
             on a simulated clock: {}.\n",
            ratio(ours, deadline),
            ratio(simulated, backon)
        );
        let _ = writeln!(out, "retry-core / backon: {}.\n", ratio_value(r));
        summary.push([
            "2. retry loop, 2 failures + success".to_owned(),
            time(ours),
            format!("{} (backon)", time(backon)),
            ratio_value(r),
            "≤ 1.00×".to_owned(),
            met(r.map(|r| r <= 1.0)),
        ]);
        summary.push([
            "2. the same, backon given the same wall-clock deadline".to_owned(),
            time(ours),
            format!("{} (backon + deadline)", time(deadline)),
            ratio(ours, deadline),
            String::new(),
            String::new(),
        ]);
        let alloc = match &self.alloc_test {
            Some(Ok(line)) => format!("passed ({line})"),
            Some(Err(line)) => format!("FAILED ({line})"),
            None => "not run (`--report-only`)".to_owned(),
        };
        let _ = writeln!(
            out,
            "Zero allocations per retry attempt: `cargo test -p retry-core --test zero_alloc` \
             {alloc}. It counts this thread's heap allocations with a counting global allocator \
             and asserts that a loop succeeding after 1 to 10 failures allocates exactly as much \
             as one succeeding at once (nothing), and that giving up after 1, 2, 6 or 11 attempts \
             allocates the same (the operation name copied into the error, once), for every \
             jitter strategy, through `Retry` and through `op.retry(policy)…call()` (with and \
             without a budget).\n"
        );
        summary.push([
            "2. heap allocations per retry (sync)".to_owned(),
            "0 (asserted)".to_owned(),
            String::new(),
            String::new(),
            "0".to_owned(),
            match &self.alloc_test {
                Some(Ok(_)) => "yes".to_owned(),
                Some(Err(_)) => "**no**".to_owned(),
                None => "not run".to_owned(),
            },
        ]);

        // 3. Signing and verifying.
        let _ = writeln!(out, "## 3. Signing and verifying\n");
        let _ = writeln!(
            out,
            "hmac-client's `sign` and `Verifier::verify_at` against a plain HMAC-SHA256 \
             (`hmac` + `sha2`) over the same `{{id}}.{{timestamp}}.` prefix and body. Goal: within \
             1.15× of the plain MAC.\n"
        );
        let _ = writeln!(
            out,
            "| operation | body | hmac-client | plain hmac+sha2 | ratio | met |\n|---|---|---|---|---|---|"
        );
        for (group, op) in [("hmac_sign", "sign"), ("hmac_verify", "verify")] {
            for size in ["512B", "4KiB"] {
                let ours = self.ns(&format!("{group}/hmac-client/{size}"));
                let plain = self.ns(&format!("{group}/plain-hmac/{size}"));
                let r = ratio_of(ours, plain);
                let ok = met(r.map(|r| r <= 1.15));
                let _ = writeln!(
                    out,
                    "| {op} | {size} | {} | {} | {} | {ok} |",
                    time(ours),
                    time(plain),
                    ratio_value(r)
                );
                summary.push([
                    format!("3. {op} {size}"),
                    time(ours),
                    format!("{} (plain MAC)", time(plain)),
                    ratio_value(r),
                    "≤ 1.15×".to_owned(),
                    ok,
                ]);
            }
        }
        out.push('\n');

        // 4. End to end.
        let _ = writeln!(out, "## 4. End to end on loopback\n");
        let _ = writeln!(
            out,
            "A fixed number of requests per iteration, keep-alive connections, client and axum \
             server in one process on 127.0.0.1 (one 2-worker tokio runtime). `signal-delivery` \
             is `DeliveryService::deliver` (retry loop + signing) to a route that verifies every \
             request with hmac-client's `Verifier`; `bare reqwest` POSTs the same body to a route \
             of the same server that only reads it. Goal: at least 0.9× the bare throughput at \
             concurrency 64.\n"
        );
        let _ = writeln!(
            out,
            "| concurrency | signal-delivery (signed + verified) | bare reqwest | ratio |\n|---|---|---|---|"
        );
        let mut signed_64 = None;
        for c in CONCURRENCY {
            let signed = self.throughput(&format!("e2e_loopback/signal-delivery/{c}"));
            let bare = self.throughput(&format!("e2e_loopback/bare-reqwest/{c}"));
            let r = ratio_of(signed, bare);
            let _ = writeln!(
                out,
                "| {c} | {} | {} | {} |",
                rate(signed),
                rate(bare),
                ratio_value(r)
            );
            if c == 64 {
                signed_64 = signed;
                summary.push([
                    "4. loopback throughput, 64 concurrent".to_owned(),
                    rate(signed),
                    format!("{} (bare reqwest)", rate(bare)),
                    ratio_value(r),
                    "≥ 0.90×".to_owned(),
                    met(r.map(|r| r >= 0.9)),
                ]);
            }
        }
        let client_64 = self.throughput("e2e_loopback/hmac-client/64");
        let bare_signed_64 = self.throughput("e2e_loopback/bare-reqwest-signed/64");
        let _ = writeln!(
            out,
            "\nDiagnostics at concurrency 64, to the verifying route: hmac-client's \
             `post_signal` alone (signing, no retry loop) {}; the bare reqwest client adding \
             the signature headers itself (`sign` + three headers) {}.\n",
            rate(client_64),
            rate(bare_signed_64)
        );
        let _ = writeln!(
            out,
            "### Memory with 10,000 signals waiting between retries\n"
        );
        match &self.memory {
            Some(m) => {
                let _ = writeln!(
                    out,
                    "{} `deliver` futures parked in their 60 s backoff sleep after a 503 from a \
                     local server (`cargo bench -p signal-delivery --bench parked_memory`):\n\n\
                     | resident memory (`/proc/self/status`) | |\n|---|---|\n\
                     | before (runtime, server, warm connection pool) | {} |\n\
                     | with every signal parked | {} |\n\
                     | peak (`VmHWM`) | {} |\n\
                     | per parked signal | {} bytes |\n\n\
                     The issue sets no goal here; the figure is for sizing.\n",
                    m.signals,
                    mib(m.rss_before_kib),
                    mib(m.rss_parked_kib),
                    mib(m.hwm_kib),
                    m.bytes_per_signal
                );
                summary.push([
                    format!("4. memory, {} parked signals", m.signals),
                    format!("{} peak RSS", mib(m.hwm_kib)),
                    String::new(),
                    format!("{} B/signal", m.bytes_per_signal),
                    "report only".to_owned(),
                    "n/a".to_owned(),
                ]);
            }
            None => {
                let _ = writeln!(out, "Not measured in this run.\n");
                self.missing.push("parked_memory".to_owned());
            }
        }

        // 5. Alert formatting.
        let delivery = self.ns("alert_format_10k/format_delivery_alert");
        let message = self.ns("alert_format_10k/format_message");
        let cut = self.ns("alert_format_10k/cut_then_escape");
        let per_signal = signed_64.map(|t| 1e9 / t);
        let r = ratio_of(delivery, per_signal);
        let _ = writeln!(out, "## 5. Alert formatting of a 10,000-character error\n");
        let _ = writeln!(
            out,
            "ops-alerts' public functions on an error of 10,000 characters with `<`, `>`, `&`, \
             accents and an emoji (escape + cut to the 4,000-unit budget). Goal (so that the \
             alert path never becomes the bottleneck in an outage, when every signal fails): \
             formatting one delivery alert costs less than delivering one signal, i.e. at most \
             1× the time per signal at the measured concurrency-64 throughput.\n"
        );
        let _ = writeln!(
            out,
            "| function | time |\n|---|---|\n| `format_delivery_alert` | {} |\n| `format_message` | {} |\n| `escape_html(&cut_text(..))` | {} |\n| (one signal delivered at concurrency 64) | {} |\n",
            time(delivery),
            time(message),
            time(cut),
            time(per_signal)
        );
        summary.push([
            "5. alert formatting, 10,000 chars".to_owned(),
            time(delivery),
            format!("{} (one delivery)", time(per_signal)),
            ratio_value(r),
            "≤ 1.00×".to_owned(),
            met(r.map(|r| r <= 1.0)),
        ]);

        // 6. The durable outbox.
        let _ = writeln!(
            out,
            "## 6. Outbox enqueue with durability on
"
        );
        let _ = writeln!(
            out,
            "signal-outbox-sqlite's `enqueue` into an SQLite file in WAL mode with              `synchronous=FULL` (every commit reaches the disk), 50,000 signals of about 200 bytes              in batches of 500 (group commit: one transaction per batch, each signal acknowledged              only after its batch committed). Goal: at least 5,000 signals/s. Command:              `cargo run --release -p signal-outbox-sqlite --example enqueue_throughput`.\n"
        );
        let rate = match &self.outbox {
            Some(Ok(line)) => {
                let _ = writeln!(out, "```text\n{line}\n```\n");
                signals_per_second(line)
            }
            Some(Err(problem)) => {
                let _ = writeln!(out, "Not measured: {problem}\n");
                None
            }
            None => {
                let _ = writeln!(out, "Not run (`--report-only`).\n");
                None
            }
        };
        summary.push([
            "6. outbox enqueue, synchronous=FULL".to_owned(),
            rate.map_or_else(|| "n/a".to_owned(), |r| format!("{r:.0} signals/s")),
            String::new(),
            String::new(),
            "≥ 5,000 signals/s".to_owned(),
            met(rate.map(|r| r >= 5_000.0)),
        ]);
        out
    }
}

fn reproduce(bench: &Bench) -> String {
    format!(
        "## Reproduce\n\n\
         ```sh\n\
         cargo xtask bench                      # everything above, then this file\n\
         cargo bench --workspace --no-run       # build every benchmark (CI)\n\
         # one comparison at a time, with the same short times:\n\
         cargo bench -p retry-core --bench retry -- --warm-up-time {w} --measurement-time {m} --noplot\n\
         cargo bench -p hmac-client --bench signing -- --warm-up-time {w} --measurement-time {m} --noplot\n\
         cargo bench -p ops-alerts --bench format -- --warm-up-time {w} --measurement-time {m} --noplot\n\
         cargo bench -p signal-delivery --bench e2e -- --warm-up-time {w} --measurement-time {m} --noplot\n\
         cargo bench -p signal-delivery --bench parked_memory\n\
         cargo test -p retry-core --test zero_alloc\n\
         cargo run --release -p signal-outbox-sqlite --example enqueue_throughput\n\
         ```\n\n\
         Pass `-- --warm-up-time` and friends only with `--bench`: the library targets use \
         the standard bench harness, which rejects criterion's flags.\n\n",
        w = bench.warm_up,
        m = bench.measurement
    )
}

const METHOD: &str = "\
## Method notes

- Benchmarks live in the crate they measure (`crates/<crate>/benches/`); the
  end-to-end ones and the memory program are in signal-delivery. Only
  127.0.0.1 is used, and every run sends a bounded number of requests.
- The alternatives are dev-dependencies only: backon 1 (with its `std`
  feature, so its jitter is seeded from entropy as by default) and the
  unmaintained `backoff` 0.4 (RUSTSEC-2025-0012), never runtime dependencies.
- Parameters are the same on both sides: 5 s base, factor 2, 120 s cap, 5
  retries; jitter as each crate does it (retry-core proportional +0..10 %,
  backoff ±10 %, backon +0..100 % of the current delay; backon has no
  proportional option). The `backoff` crate also reads the clock on every
  delay (its elapsed-time check), which is part of its cost.
- The signing baseline prepares `{id}.{timestamp}.` once, so the ratio
  includes everything hmac-client adds: formatting the timestamp, base64 and
  the `v1,` header value for signing; header parsing, the timestamp window
  and base64 decoding for verifying.
- The memory program turns the shared retry budget off
  (`RETRY_BUDGET=off`), so that only the parked retries are measured, not
  the budget pacing the retries that follow. Resident memory
  includes allocator slack (glibc malloc keeps freed memory), so the
  per-signal figure is an upper bound.

### Why `allocation-counter` for the zero-allocation test

A counting global allocator needs `unsafe impl GlobalAlloc`, and the
workspace forbids `unsafe_code` (`forbid` cannot be relaxed by an
`#![allow]` in a test file). The two clean ways out were a small
`publish = false` package of our own with its lints set to the workspace's
minus `unsafe_code` (downgraded to `deny`) around one documented unsafe
block, or an existing crate. We chose the crate
[`allocation-counter`](https://crates.io/crates/allocation-counter) 0.8, as a
dev-dependency of retry-core used by that one test file only:

- no `unsafe` is written anywhere in the workspace, and `forbid` stays in
  force for every target, tests included; no lint exception to audit;
- it counts per thread (thread-local counters around `System`), which is what
  a test in the parallel libtest harness needs: allocations of other tests'
  threads do not leak into the count. A hand-written global counter would
  have needed the same care;
- it is tiny (one 67-line allocator, no dependencies) and easy to read in
  full; MIT or Apache-2.0, which `deny.toml` allows;
- the allocator is installed only in the binary that uses the crate (the
  `zero_alloc` test): rustc does not link unused dev-dependencies, so the
  other test binaries keep the system allocator.

The test subtracts runs with different retry counts, so one-time allocations
(the operation name copied into the error on give-up) cancel out; it
asserts zero for loops that end in success and equality for loops that give
up.
";

fn time(ns: Option<f64>) -> String {
    match ns {
        None => "n/a".to_owned(),
        Some(ns) if ns < 1_000.0 => format!("{ns:.1} ns"),
        Some(ns) if ns < 1_000_000.0 => format!("{:.2} µs", ns / 1e3),
        Some(ns) if ns < 1_000_000_000.0 => format!("{:.2} ms", ns / 1e6),
        Some(ns) => format!("{:.2} s", ns / 1e9),
    }
}

fn rate(per_second: Option<f64>) -> String {
    match per_second {
        None => "n/a".to_owned(),
        Some(r) => format!("{} req/s", thousands(r.round() as u64)),
    }
}

fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

fn ratio_of(ours: Option<f64>, theirs: Option<f64>) -> Option<f64> {
    ours.zip(theirs).map(|(o, t)| o / t)
}

fn ratio(value: Option<f64>, base: Option<f64>) -> String {
    ratio_value(ratio_of(value, base))
}

fn ratio_value(r: Option<f64>) -> String {
    r.map_or("n/a".to_owned(), |r| format!("{r:.2}×"))
}

fn met(ok: Option<bool>) -> String {
    match ok {
        Some(true) => "yes".to_owned(),
        Some(false) => "**no**".to_owned(),
        None => "not measured".to_owned(),
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn outbox_rate_is_read_from_the_example_line() {
        let line = "enqueue: 50000 signals of ~198 B in batches of 500 (WAL, synchronous=FULL): 1.41 s, 35549 signals/s";
        assert_eq!(signals_per_second(line), Some(35549.0));
        assert_eq!(signals_per_second("enqueue: broken"), None);
    }

    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn flags_and_defaults() {
        let bench = Bench::parse(args(&[])).unwrap().unwrap();
        assert_eq!((bench.warm_up, bench.measurement), (1, 2));
        assert!(!bench.report_only);
        assert_eq!(bench.output, PathBuf::from("docs/benchmarks.md"));
        let bench = Bench::parse(args(&[
            "--warm-up=3",
            "--measurement",
            "5",
            "--report-only",
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(
            (bench.warm_up, bench.measurement, bench.report_only),
            (3, 5, true)
        );
        assert!(Bench::parse(args(&["--help"])).unwrap().is_none());
        assert!(Bench::parse(args(&["--warm-up", "0"])).is_err());
        assert!(Bench::parse(args(&["--bogus"])).is_err());
    }

    #[test]
    fn dates_are_utc_civil_dates() {
        assert_eq!(utc_date_time(0), "1970-01-01 00:00 UTC");
        assert_eq!(utc_date_time(951_782_400), "2000-02-29 00:00 UTC");
        assert_eq!(utc_date_time(1_795_824_000 + 3_660), "2026-11-28 01:01 UTC");
    }

    #[test]
    fn memory_line_and_formatting() {
        let m = Memory::parse(
            "parked_memory signals=10000 rss_before_kib=20480 rss_parked_kib=40960 hwm_kib=41000 bytes_per_signal=2097 setup_seconds=1.5",
        )
        .unwrap();
        assert_eq!(
            (m.signals, m.bytes_per_signal, m.hwm_kib),
            (10_000, 2097, 41_000)
        );
        assert!(Memory::parse("parked_memory signals=x").is_none());
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(thousands(999), "999");
        assert_eq!(time(Some(12.34)), "12.3 ns");
        assert_eq!(time(Some(3_100.0)), "3.10 µs");
        assert_eq!(ratio_value(Some(1.149)), "1.15×");
    }

    #[test]
    fn missing_results_are_reported_not_invented() {
        let dir = std::env::temp_dir().join("xtask-bench-empty-criterion-dir");
        let mut figures = Figures::read(&dir, None, None);
        let bench = Bench::parse(Vec::new()).unwrap().unwrap();
        let machine = Machine {
            cpu: "test".to_owned(),
            cores: 2,
            rustc: "rustc".to_owned(),
            date: "today".to_owned(),
            load: "0.00 0.00 0.00".to_owned(),
        };
        let report = figures.report(&bench, &machine);
        assert!(report.contains("not measured"));
        assert!(!figures.missing.is_empty());
        assert!(report.contains("allocation-counter"));
    }
}
