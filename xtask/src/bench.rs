//! `cargo xtask bench`: a short run of every benchmark and the report.
//!
//! Runs the criterion benchmarks of retry-core, hmac-client, ops-alerts and
//! signal-delivery (release builds through `cargo bench`, with short warm-up
//! and measurement times; the end-to-end one three times), the
//! parked-signals memory measurement, the durable-path program (outbox
//! workers against `deliver`), the zero-allocation test and the outbox's
//! enqueue example; with `--external`, the end-to-end and durable benches
//! again against nginx. Then it reads criterion's estimates
//! (`<target>/criterion/<group>/<bench>/new/estimates.json`, the mean) and
//! writes `docs/benchmarks.md`: each comparison with both sides, the ratio,
//! the goal and whether it was met, and the machine it ran on.

mod commands;
mod durable;
mod e2e;
mod external;
mod machine;
mod nginx;
mod report;
mod reproduce;
mod steps;

use crate::flags::Flags;
use commands::{cargo, run_alloc_test, run_outbox_enqueue, stream};
use machine::{load_average, machine};
use report::*;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
pub use steps::Step;

const HELP: &str = "\
usage: cargo xtask bench [--warm-up SECONDS] [--measurement SECONDS] [--external]
                         [--only STEPS] [--report-only] [--output PATH]

  --warm-up SECONDS      criterion warm-up time per benchmark, 1 to 60 (default 1)
  --measurement SECONDS  criterion measurement time per benchmark, 1 to 600 (default 2)
  --external             also measure against a receiver outside the process: starts
                         nginx (its own config, 127.0.0.1, a free port) and measures wrk,
                         then the e2e bench and the SQLite worker against it (section 8).
                         Needs nginx and wrk: apt-get install -y nginx-light wrk
  --only STEPS           run only these steps (comma-separated): retry, signing, format,
                         parked_memory, durable, e2e, zero_alloc, enqueue, external
                         (external implies --external). The report is still written,
                         with the other figures as earlier runs left them (criterion's)
                         or not measured; missing figures are then not an error. Pass
                         --output elsewhere to keep docs/benchmarks.md.
  --report-only          do not run anything: rewrite the report from the last results
                         (with --external, section 8 from the last --external run)
  --output PATH          where to write the report (default docs/benchmarks.md)

Runs, in release mode and one after the other (about ten minutes on 2 cores once built):
  cargo bench -p retry-core --bench retry            backoff schedule and retry loop vs backon, backoff
  cargo bench -p hmac-client --bench signing         sign/verify 512 B and 4 KiB vs plain hmac+sha2
  cargo bench -p ops-alerts --bench format           alert formatting of a 10,000-character error
  cargo bench -p signal-delivery --bench parked_memory   RSS with 10,000 signals waiting to retry
  cargo bench -p signal-delivery --bench durable     outbox worker (SQLite, PostgreSQL) vs deliver, latency
  cargo bench -p signal-delivery --bench e2e         three times: loopback delivery vs bare reqwest,
                                                     concurrency 1-256, the median of the three ratios
  cargo test -p retry-core --test zero_alloc         zero heap allocations per retry attempt
  cargo run --release -p signal-outbox-sqlite --example enqueue_throughput
and with --external (nginx running; BENCH_RECEIVER_URL makes both benches post to it):
  wrk -t1 -c1|8|64|256 -d5s                          POSTs of the signal body, the receiver's baseline
  cargo bench -p signal-delivery --bench e2e         once, every row to nginx
  cargo bench -p signal-delivery --bench durable     the SQLite drains only, to nginx
then writes the report. Criterion's results go to $CARGO_TARGET_DIR/criterion (default
target/criterion): e2e-run-1..3/ for the three e2e runs, external/ for --external.";

/// The criterion targets of the first `cargo bench`, as `(step, package,
/// bench target, the groups it writes)`. Its groups are cleared before a run
/// so that a failed benchmark cannot leave stale figures in the report.
const CRITERION_TARGETS: [(Step, &str, &str, &[&str]); 3] = [
    (
        Step::Retry,
        "retry-core",
        "retry",
        &["backoff_schedule", "retry_loop"],
    ),
    (
        Step::Signing,
        "hmac-client",
        "signing",
        &["hmac_sign", "hmac_verify"],
    ),
    (Step::Format, "ops-alerts", "format", &["alert_format_10k"]),
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
    /// Also measure against nginx (section 8).
    pub external: bool,
    /// Run only these steps (`--only`); `None` runs them all.
    pub only: Option<Vec<Step>>,
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
        let only = flags.value(
            "--only",
            &format!("a comma-separated list of {}", Step::names()),
            Step::parse_list,
        )?;
        let external = flags.switch("--external")
            || only.as_ref().is_some_and(|o| o.contains(&Step::External));
        let report_only = flags.switch("--report-only");
        let output = flags
            .value("--output", "a file path", |s| {
                (!s.is_empty()).then(|| PathBuf::from(s))
            })?
            .unwrap_or_else(|| PathBuf::from("docs/benchmarks.md"));
        flags.finish()?;
        if report_only && only.is_some() {
            return Err("--only runs steps and --report-only runs none: pass one".to_owned());
        }
        Ok(Some(Bench {
            warm_up,
            measurement,
            external,
            only,
            report_only,
            output,
        }))
    }

    /// Whether this run runs `step`.
    pub fn runs(&self, step: Step) -> bool {
        if self.report_only {
            return false;
        }
        match &self.only {
            Some(only) => only.contains(&step),
            None => step != Step::External || self.external,
        }
    }

    /// Criterion's flags for the run's times.
    pub(crate) fn criterion_args(&self) -> Vec<String> {
        vec![
            "--warm-up-time".to_owned(),
            self.warm_up.to_string(),
            "--measurement-time".to_owned(),
            self.measurement.to_string(),
            "--noplot".to_owned(),
        ]
    }

    /// Runs everything and writes the report. The report is written even
    /// when a step failed (the missing figures say so); the error follows.
    pub fn run(self) -> Result<(), String> {
        let root = workspace_root();
        let criterion_dir = target_dir(&root).join("criterion");
        if self.runs(Step::External) {
            // Before the long steps, not after them.
            nginx::Tools::find()?;
        }
        let load_before = load_average();
        let mut problems = Vec::new();
        let mut lines = Lines::default();
        if let Err(problem) = self.run_benches(&root, &criterion_dir, &mut lines) {
            problems.push(problem);
        }
        if self.runs(Step::E2e)
            && let Err(problem) = e2e::run(&self, &root, &criterion_dir)
        {
            problems.push(problem);
        }
        let alloc_test = self.runs(Step::ZeroAlloc).then(|| run_alloc_test(&root));
        let outbox = self.runs(Step::Enqueue).then(|| run_outbox_enqueue(&root));
        if self.runs(Step::External)
            && let Err(problem) = external::run(&self, &root, &criterion_dir)
        {
            problems.push(format!("--external: {problem}"));
        }
        let mut figures = Figures::read(&criterion_dir, lines.memory, alloc_test);
        figures.outbox = outbox;
        figures.durable = lines.durable;
        figures.e2e = e2e::read(&criterion_dir);
        figures.external = external::Stored::read(&criterion_dir);
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
        if self.only.is_none() {
            problems.extend(figures.missing.iter().map(|m| format!("no result for {m}")));
        } else if !figures.missing.is_empty() {
            println!(
                "note (--only): {} figures not found, not an error with --only (first: {})",
                figures.missing.len(),
                figures.missing[..figures.missing.len().min(3)].join(", ")
            );
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems.join("\n"))
        }
    }

    /// One `cargo bench` for the criterion targets, the memory program and
    /// the durable program this run runs (none: nothing to do); the
    /// programs' lines are picked out of its output (kept even when a later
    /// benchmark fails).
    fn run_benches(
        &self,
        root: &Path,
        criterion_dir: &Path,
        lines: &mut Lines,
    ) -> Result<(), String> {
        let targets: Vec<_> = CRITERION_TARGETS
            .iter()
            .filter(|(step, ..)| self.runs(*step))
            .collect();
        let programs: Vec<&str> = [
            (Step::ParkedMemory, "parked_memory"),
            (Step::Durable, "durable"),
        ]
        .into_iter()
        .filter(|(step, _)| self.runs(*step))
        .map(|(_, name)| name)
        .collect();
        if targets.is_empty() && programs.is_empty() {
            return Ok(());
        }
        for (_, _, _, groups) in &targets {
            for group in *groups {
                let dir = criterion_dir.join(group);
                if dir.exists() {
                    std::fs::remove_dir_all(&dir)
                        .map_err(|e| format!("cannot clear {}: {e}", dir.display()))?;
                }
            }
        }
        let mut command = Command::new(cargo());
        command.current_dir(root).arg("bench");
        for (_, package, _, _) in &targets {
            command.args(["-p", package]);
        }
        if !programs.is_empty() {
            command.args(["-p", "signal-delivery"]);
        }
        for (_, _, bench, _) in &targets {
            command.args(["--bench", bench]);
        }
        for program in &programs {
            command.args(["--bench", program]);
        }
        command.arg("--").args(self.criterion_args());
        command.env("CRITERION_HOME", criterion_dir);
        let mut output = Vec::new();
        let result = stream(&mut command, &mut output);
        for line in output {
            if line.starts_with(MEMORY_LINE) {
                lines.memory = Some(line);
            } else if line.starts_with(durable::PREFIX) {
                lines.durable.push(line);
            }
        }
        result
    }
}

/// The lines of the measurement programs, from `cargo bench`'s output.
#[derive(Debug, Default)]
struct Lines {
    memory: Option<String>,
    durable: Vec<String>,
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
        assert!(Bench::parse(args(&["--only", "e2e", "--report-only"])).is_err());
        assert!(Bench::parse(args(&["--only", "e2e,nope"])).is_err());
        assert!(Bench::parse(args(&["--warm-up", "0"])).is_err());
        assert!(Bench::parse(args(&["--bogus"])).is_err());
    }

    #[test]
    fn steps_run_by_default_with_external_and_only() {
        let all = Bench::parse(args(&[])).unwrap().unwrap();
        assert!(!all.external);
        assert!(
            Step::ALL
                .iter()
                .all(|s| all.runs(*s) == (*s != Step::External))
        );
        let external = Bench::parse(args(&["--external"])).unwrap().unwrap();
        assert!(external.external && Step::ALL.iter().all(|s| external.runs(*s)));
        let only = Bench::parse(args(&["--only=e2e,external"]))
            .unwrap()
            .unwrap();
        assert!(only.external, "external in --only implies --external");
        let ran: Vec<Step> = Step::ALL.into_iter().filter(|s| only.runs(*s)).collect();
        assert_eq!(ran, [Step::E2e, Step::External]);
        let report = Bench::parse(args(&["--report-only", "--external"]))
            .unwrap()
            .unwrap();
        assert!(report.external && Step::ALL.iter().all(|s| !report.runs(*s)));
        assert!(
            all.criterion_args()
                .join(" ")
                .contains("--measurement-time 2")
        );
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
