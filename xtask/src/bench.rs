//! `cargo xtask bench`: a short run of every benchmark and the report.
//!
//! Runs the criterion benchmarks of retry-core, hmac-client, ops-alerts and
//! signal-delivery (release builds through `cargo bench`, with short warm-up
//! and measurement times), the parked-signals memory measurement, the
//! durable-path program (outbox workers against `deliver`) and the
//! zero-allocation test, then reads criterion's estimates
//! (`<target>/criterion/<group>/<bench>/new/estimates.json`, the mean) and
//! writes `docs/benchmarks.md`: each comparison with both sides, the ratio,
//! the goal and whether it was met, and the machine it ran on.

mod durable;
mod machine;
mod report;
mod reproduce;

use crate::flags::Flags;
use machine::{load_average, machine};
use report::*;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};

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
  cargo bench -p signal-delivery --bench durable     outbox worker (SQLite, PostgreSQL) vs deliver, latency
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
        let mut lines = Lines::default();
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
            if let Err(problem) = self.run_benches(&root, &criterion_dir, &mut lines) {
                problems.push(problem);
            }
            alloc_test = Some(run_alloc_test(&root));
            outbox = Some(run_outbox_enqueue(&root));
        }
        let mut figures = Figures::read(&criterion_dir, lines.memory, alloc_test);
        figures.outbox = outbox;
        figures.durable = lines.durable;
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
    /// and the measurement programs' lines are picked out of it (kept even
    /// when a later benchmark fails).
    fn run_benches(
        &self,
        root: &Path,
        criterion_dir: &Path,
        lines: &mut Lines,
    ) -> Result<(), String> {
        let mut command = Command::new(cargo());
        command.current_dir(root).arg("bench");
        for (package, _) in CRITERION_TARGETS {
            command.args(["-p", package]);
        }
        for (_, bench) in CRITERION_TARGETS {
            command.args(["--bench", bench]);
        }
        command.args(["--bench", "parked_memory", "--bench", "durable", "--"]);
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
        if let Some(stdout) = child.stdout.take() {
            for line in BufReader::new(stdout).lines() {
                let line = line.map_err(|e| format!("reading cargo bench output: {e}"))?;
                println!("{line}");
                if line.starts_with(MEMORY_LINE) {
                    lines.memory = Some(line);
                } else if line.starts_with(durable::PREFIX) {
                    lines.durable.push(line);
                }
            }
        }
        let status = child
            .wait()
            .map_err(|e| format!("waiting for cargo bench: {e}"))?;
        if status.success() {
            Ok(())
        } else {
            Err(format!("cargo bench failed ({status})"))
        }
    }
}

/// The lines of the measurement programs, from `cargo bench`'s output.
#[derive(Debug, Default)]
struct Lines {
    memory: Option<String>,
    durable: Vec<String>,
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
pub(super) fn signals_per_second(line: &str) -> Option<f64> {
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

#[cfg(test)]
mod tests {
    use super::machine::{Machine, utc_date_time};

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
