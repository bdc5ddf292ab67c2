//! Section 4: `deliver` against bare reqwest on loopback, three runs of the
//! e2e bench and the median of their ratios.
//!
//! These machines are shared and noisy: one short criterion run can put the
//! ratio 20 % either way. Each run is its own `cargo bench` process with its
//! own `CRITERION_HOME` (`<criterion>/e2e-run-N`), so the three sets of
//! estimates stay side by side for `--report-only`. The ratio is taken
//! within each run (both rows measured in the same process, minutes apart at
//! most) and the median of the three ratios is held against the goal.

use super::commands::{cargo, stream};
use super::report::{elements, mean_ns, met, rate, ratio_value};
use super::{Bench, CONCURRENCY};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Runs of the e2e bench per `cargo xtask bench`.
pub(super) const RUNS: usize = 3;
/// `deliver` against bare reqwest, at every concurrency (issue 14).
pub(super) const GOAL: f64 = 0.95;
/// The criterion group of the e2e bench.
pub(super) const GROUP: &str = "e2e_loopback";
const SIGNED: &str = "signal-delivery";
const BARE: &str = "bare-reqwest";
/// Diagnostic rows, measured at concurrency 64 only.
const DIAGNOSTICS: [&str; 2] = ["hmac-client/64", "bare-reqwest-signed/64"];

/// Where run `n` (from 1) keeps criterion's results.
pub(super) fn run_dir(criterion_dir: &Path, n: usize) -> PathBuf {
    criterion_dir.join(format!("e2e-run-{n}"))
}

/// Runs the e2e bench [`RUNS`] times, each into its own directory (cleared
/// first). A failed run does not stop the others.
pub(super) fn run(bench: &Bench, root: &Path, criterion_dir: &Path) -> Result<(), String> {
    let mut problems = Vec::new();
    for n in 1..=RUNS {
        let dir = run_dir(criterion_dir, n);
        if dir.exists() {
            std::fs::remove_dir_all(&dir)
                .map_err(|e| format!("cannot clear {}: {e}", dir.display()))?;
        }
        println!("\n== e2e run {n} of {RUNS} ==");
        let mut command = command(bench, root);
        command.env("CRITERION_HOME", &dir);
        if let Err(problem) = stream(&mut command, &mut Vec::new()) {
            problems.push(format!("e2e run {n}: {problem}"));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("\n"))
    }
}

/// `cargo bench -p signal-delivery --bench e2e` with the run's criterion times.
pub(super) fn command(bench: &Bench, root: &Path) -> Command {
    let mut command = Command::new(cargo());
    command
        .current_dir(root)
        .args(["bench", "-p", "signal-delivery", "--bench", "e2e", "--"])
        .args(bench.criterion_args());
    command
}

/// One run's throughputs in requests per second, by benchmark id within the
/// group (`signal-delivery/64`).
#[derive(Debug, Clone, Default, PartialEq)]
pub(super) struct Run {
    pub(super) rates: BTreeMap<String, f64>,
}

impl Run {
    /// The ids this report uses.
    fn ids() -> Vec<String> {
        let mut ids: Vec<String> = CONCURRENCY
            .iter()
            .flat_map(|c| [format!("{SIGNED}/{c}"), format!("{BARE}/{c}")])
            .collect();
        ids.extend(DIAGNOSTICS.map(str::to_owned));
        ids
    }

    /// Reads criterion's estimates under `dir` (a `CRITERION_HOME`); the
    /// ids it has no result for are absent.
    pub(super) fn read(dir: &Path) -> Run {
        let mut rates = BTreeMap::new();
        for id in Run::ids() {
            let bench = format!("{GROUP}/{id}");
            if let Some((ns, n)) = mean_ns(dir, &bench).zip(elements(dir, &bench)) {
                rates.insert(id, n / (ns * 1e-9));
            }
        }
        Run { rates }
    }

    fn rate(&self, id: &str) -> Option<f64> {
        self.rates.get(id).copied()
    }

    /// `deliver` over bare reqwest at concurrency `c`, within this run.
    pub(super) fn ratio(&self, c: u32) -> Option<f64> {
        let signed = self.rate(&format!("{SIGNED}/{c}"))?;
        Some(signed / self.rate(&format!("{BARE}/{c}"))?)
    }

    /// The ids of [`Run::ids`] this run has no result for.
    fn missing(&self) -> Vec<String> {
        Run::ids()
            .into_iter()
            .filter(|id| !self.rates.contains_key(id))
            .collect()
    }
}

/// Reads the [`RUNS`] runs' results.
pub(super) fn read(criterion_dir: &Path) -> Vec<Run> {
    (1..=RUNS)
        .map(|n| Run::read(&run_dir(criterion_dir, n)))
        .collect()
}

/// The median: the middle value, or the mean of the two middle ones.
pub(super) fn median(values: &[f64]) -> Option<f64> {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let mid = sorted.len() / 2;
    match sorted.len() {
        0 => None,
        n if n % 2 == 1 => Some(sorted[mid]),
        _ => Some((sorted[mid - 1] + sorted[mid]) / 2.0),
    }
}

/// The median over the runs of what `f` finds in each (the runs without it
/// left out).
fn median_of(runs: &[Run], f: impl Fn(&Run) -> Option<f64>) -> Option<f64> {
    median(&runs.iter().filter_map(f).collect::<Vec<_>>())
}

/// The section; one summary row per concurrency. Returns the median
/// `deliver` throughput at 64 (section 5's time per signal).
pub(super) fn section(
    runs: &[Run],
    summary: &mut Vec<[String; 6]>,
    missing: &mut Vec<String>,
) -> (String, Option<f64>) {
    let mut out = String::new();
    let _ = writeln!(out, "## 4. End to end on loopback\n");
    let _ = writeln!(
        out,
        "A fixed number of requests per iteration, keep-alive connections, client and axum \
         server in one process on 127.0.0.1 (one 2-worker tokio runtime). `signal-delivery` \
         is `DeliveryService::deliver` (retry loop + signing) to a route that verifies every \
         request with hmac-client's `Verifier`; `bare reqwest` POSTs the same body to a route \
         of the same server that only reads it. The bench ran {RUNS} times, one `cargo bench` \
         after the other; each run's ratio compares the two rows of that run, and the median \
         of the {RUNS} ratios is held against the goal: at least {GOAL:.2}× the bare throughput \
         at every concurrency from 1 to 256. The throughput columns are the medians of the \
         runs.\n"
    );
    let mut header =
        "| concurrency | signal-delivery (signed + verified) | bare reqwest |".to_owned();
    let mut rule = "|---|---|---|".to_owned();
    for n in 1..=runs.len() {
        let _ = write!(header, " run {n} |");
        rule.push_str("---|");
    }
    let _ = writeln!(out, "{header} median ratio | met |\n{rule}---|---|");
    for c in CONCURRENCY {
        let signed = median_of(runs, |r| r.rate(&format!("{SIGNED}/{c}")));
        let bare = median_of(runs, |r| r.rate(&format!("{BARE}/{c}")));
        let ratios: Vec<Option<f64>> = runs.iter().map(|r| r.ratio(c)).collect();
        let measured: Vec<f64> = ratios.iter().flatten().copied().collect();
        let r = median(&measured);
        let ok = met(r.map(|r| r >= GOAL));
        let cells: Vec<String> = ratios.iter().map(|r| ratio_value(*r)).collect();
        let _ = writeln!(
            out,
            "| {c} | {} | {} | {} | {} | {ok} |",
            rate(signed),
            rate(bare),
            cells.join(" | "),
            ratio_value(r)
        );
        let of_runs = match measured.len() {
            n if n == runs.len() => format!("median of {n} runs"),
            0 => format!("none of {} runs measured", runs.len()),
            n => format!("median of {n} of {} runs", runs.len()),
        };
        summary.push([
            format!("4. loopback throughput, {c} concurrent ({of_runs})"),
            rate(signed),
            format!("{} (bare reqwest)", rate(bare)),
            ratio_value(r),
            format!("≥ {GOAL:.2}×"),
            ok,
        ]);
    }
    for (n, run) in runs.iter().enumerate() {
        missing.extend(
            run.missing()
                .into_iter()
                .map(|id| format!("e2e run {}: {GROUP}/{id}", n + 1)),
        );
    }
    let _ = writeln!(
        out,
        "\nDiagnostics at concurrency 64, to the verifying route (medians of the runs): \
         hmac-client's `post_signal` alone (signing, no retry loop) {}; the bare reqwest \
         client adding the signature headers itself (`sign` + three headers) {}.\n",
        rate(median_of(runs, |r| r.rate(DIAGNOSTICS[0]))),
        rate(median_of(runs, |r| r.rate(DIAGNOSTICS[1])))
    );
    (out, median_of(runs, |r| r.rate(&format!("{SIGNED}/64"))))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A run with `deliver` at `signed[i]` and bare reqwest at 10,000 req/s
    /// for the i-th concurrency.
    fn run(signed: [f64; 4]) -> Run {
        let mut rates = BTreeMap::new();
        for (c, s) in CONCURRENCY.iter().zip(signed) {
            rates.insert(format!("{SIGNED}/{c}"), s);
            rates.insert(format!("{BARE}/{c}"), 10_000.0);
        }
        rates.insert(DIAGNOSTICS[0].to_owned(), 9_000.0);
        rates.insert(DIAGNOSTICS[1].to_owned(), 9_500.0);
        Run { rates }
    }

    #[test]
    fn medians() {
        assert_eq!(median(&[]), None);
        assert_eq!(median(&[3.0]), Some(3.0));
        assert_eq!(median(&[0.9, 0.7, 1.1]), Some(0.9));
        assert_eq!(median(&[1.0, 0.5]), Some(0.75));
        assert_eq!(median(&[2.0, 9.0, 1.0, 3.0]), Some(2.5));
    }

    #[test]
    fn ratios_are_taken_within_a_run_then_the_median() {
        // At concurrency 1 the runs give 0.70, 0.99, 0.96: median 0.96, met.
        // At 8: 0.90, 0.94, 1.20: median 0.94, not met (one lucky run does
        // not carry it). 64 and 256 are met in every run.
        let runs = [
            run([7_000.0, 9_000.0, 9_600.0, 9_900.0]),
            run([9_900.0, 9_400.0, 9_700.0, 10_100.0]),
            run([9_600.0, 12_000.0, 9_800.0, 9_950.0]),
        ];
        assert_eq!(runs[0].ratio(1), Some(0.7));
        let (mut summary, mut missing) = (Vec::new(), Vec::new());
        let (text, signed_64) = section(&runs, &mut summary, &mut missing);
        assert!(missing.is_empty(), "{missing:?}");
        assert_eq!(signed_64, Some(9_700.0));
        assert!(
            text.contains(
                "| 1 | 9,600 req/s | 10,000 req/s | 0.70× | 0.99× | 0.96× | 0.96× | yes |"
            ),
            "{text}"
        );
        assert!(
            text.contains(
                "| 8 | 9,400 req/s | 10,000 req/s | 0.90× | 0.94× | 1.20× | 0.94× | **no** |"
            ),
            "{text}"
        );
        assert!(text.contains("| run 1 | run 2 | run 3 | median ratio | met |"));
        assert!(text.contains("alone (signing, no retry loop) 9,000 req/s"));
        let rows: Vec<String> = summary.iter().map(|r| r.join(" | ")).collect();
        assert_eq!(rows.len(), CONCURRENCY.len());
        assert_eq!(
            rows[0],
            "4. loopback throughput, 1 concurrent (median of 3 runs) | 9,600 req/s | \
             10,000 req/s (bare reqwest) | 0.96× | ≥ 0.95× | yes"
        );
        assert!(rows[1].ends_with("| 0.94× | ≥ 0.95× | **no**"), "{rows:?}");
        assert!(rows[3].starts_with("4. loopback throughput, 256 concurrent"));
    }

    #[test]
    fn a_missing_run_is_named_and_left_out_of_the_median() {
        let runs = [run([9_000.0; 4]), Run::default(), run([9_800.0; 4])];
        let (mut summary, mut missing) = (Vec::new(), Vec::new());
        let (text, _) = section(&runs, &mut summary, &mut missing);
        assert!(
            text.contains("| 0.90× | n/a | 0.98× | 0.94× | **no** |"),
            "{text}"
        );
        assert!(
            summary[0][0].contains("median of 2 of 3 runs"),
            "{summary:?}"
        );
        assert_eq!(missing.len(), Run::ids().len());
        assert!(
            missing
                .iter()
                .all(|m| m.starts_with("e2e run 2: e2e_loopback/"))
        );
    }

    #[test]
    fn no_runs_at_all_is_not_measured() {
        let dir = std::env::temp_dir().join("xtask-bench-no-e2e-runs");
        let runs = read(&dir);
        assert_eq!(runs.len(), RUNS);
        let (mut summary, mut missing) = (Vec::new(), Vec::new());
        let (_, signed_64) = section(&runs, &mut summary, &mut missing);
        assert_eq!(signed_64, None);
        assert!(
            summary.iter().all(|r| r[5] == "not measured"),
            "{summary:?}"
        );
        assert_eq!(missing.len(), RUNS * Run::ids().len());
    }
}
