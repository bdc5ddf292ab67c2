//! `--external` and section 8: the e2e comparison and the SQLite worker
//! against nginx, with `wrk`'s baseline beside them.
//!
//! Everything it measured is kept under `<criterion>/external`: criterion's
//! estimates of the e2e bench and `lines.txt` (the `external_wrk` lines and
//! the durable program's lines), so that `--report-only --external` rewrites
//! the section from them.

use super::commands::{cargo, stream};
use super::durable::{Drain, PREFIX};
use super::e2e::{self, Run};
use super::nginx::{Nginx, Tools, WRK_SECONDS};
use super::report::{met, rate, ratio_value, thousands};
use super::{Bench, CONCURRENCY};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

const WRK_PREFIX: &str = "external_wrk ";
const VERSIONS_PREFIX: &str = "external_versions ";
/// The environment variable both benches read.
const RECEIVER_URL_ENV: &str = "BENCH_RECEIVER_URL";
/// The SQLite worker against `deliver` at a 100k backlog (as in section 7).
const SQLITE_GOAL: f64 = 0.8;

fn dir(criterion_dir: &Path) -> PathBuf {
    criterion_dir.join("external")
}

/// Starts nginx, measures wrk at every concurrency, runs the e2e and durable
/// benches against it, and stops it (also when a step failed). What was
/// measured is stored before the error, if any, is returned.
pub(super) fn run(bench: &Bench, root: &Path, criterion_dir: &Path) -> Result<(), String> {
    let tools = Tools::find()?;
    let dir = dir(criterion_dir);
    if dir.exists() {
        std::fs::remove_dir_all(&dir)
            .map_err(|e| format!("cannot clear {}: {e}", dir.display()))?;
    }
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let mut lines = vec![format!("{VERSIONS_PREFIX}{}", tools.versions())];
    let result = measure(bench, root, &tools, &dir, &mut lines);
    let kept: Vec<&str> = lines
        .iter()
        .map(String::as_str)
        .filter(|l| l.starts_with("external_") || l.starts_with(PREFIX))
        .collect();
    let file = dir.join("lines.txt");
    std::fs::write(&file, kept.join("\n") + "\n")
        .map_err(|e| format!("cannot write {}: {e}", file.display()))?;
    result
}

fn measure(
    bench: &Bench,
    root: &Path,
    tools: &Tools,
    dir: &Path,
    lines: &mut Vec<String>,
) -> Result<(), String> {
    let nginx = Nginx::start(tools)?;
    for c in CONCURRENCY {
        let per_s = nginx.wrk(tools, c)?;
        lines.push(format!(
            "{WRK_PREFIX}connections={c} requests_per_s={per_s:.0}"
        ));
    }
    let mut e2e = e2e::command(bench, root);
    e2e.env("CRITERION_HOME", dir)
        .env(RECEIVER_URL_ENV, nginx.url());
    let e2e_result = stream(&mut e2e, &mut Vec::new());
    let mut durable = Command::new(cargo());
    durable
        .current_dir(root)
        .args(["bench", "-p", "signal-delivery", "--bench", "durable"])
        .env(RECEIVER_URL_ENV, nginx.url());
    let durable_result = stream(&mut durable, lines);
    drop(nginx);
    e2e_result.and(durable_result)
}

/// What `--external` stored: its lines and the e2e run's estimates.
#[derive(Debug, Clone, Default)]
pub(super) struct Stored {
    pub(super) lines: Vec<String>,
    pub(super) run: Run,
}

impl Stored {
    /// `None` when no `--external` run stored anything.
    pub(super) fn read(criterion_dir: &Path) -> Option<Stored> {
        let dir = dir(criterion_dir);
        let text = std::fs::read_to_string(dir.join("lines.txt")).ok()?;
        Some(Stored {
            lines: text.lines().map(str::to_owned).collect(),
            run: Run::read(&dir),
        })
    }

    fn wrk(&self, connections: u32) -> Option<f64> {
        let key = format!("{WRK_PREFIX}connections={connections} requests_per_s=");
        self.lines
            .iter()
            .find_map(|l| l.strip_prefix(&key)?.parse().ok())
    }

    fn rate(&self, id: &str) -> Option<f64> {
        self.run.rates.get(id).copied()
    }
}

/// Section 8. `stored` is what `--external` measured, `None` when it did
/// not run (or stored nothing); `requested` says whether it was asked for.
pub(super) fn section(
    stored: Option<&Stored>,
    requested: bool,
    summary: &mut Vec<[String; 6]>,
    missing: &mut Vec<String>,
) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "## 8. Against an external receiver (nginx)\n");
    if !requested {
        let _ = writeln!(
            out,
            "Not part of this run. `cargo xtask bench --external` writes this section: it \
             starts nginx (Debian's `nginx-light`) on 127.0.0.1 answering 200 to every request, \
             measures `wrk` against it, and runs the e2e comparison and the SQLite worker \
             against it instead of the in-process receiver. It needs `nginx` and `wrk` \
             (`apt-get install -y nginx-light wrk`).\n"
        );
        return out;
    }
    let Some(stored) = stored else {
        let _ = writeln!(
            out,
            "Not measured: no results of `--external` were found.\n"
        );
        missing.push("external (nginx)".to_owned());
        return out;
    };
    let versions = stored
        .lines
        .iter()
        .find_map(|l| l.strip_prefix(VERSIONS_PREFIX))
        .unwrap_or("nginx");
    let _ = writeln!(
        out,
        "The receiver is nginx ({versions}), a child process of `cargo xtask bench` with a \
         config of its own: one process, keep-alive, `return 200 '{{\"accepted\":true}}'` to \
         every request. It verifies no signature: the rows below compare the client side only \
         (signing, the retry loop, the outbox), with the receiver in another process, so \
         client and server no longer share one tokio runtime. `wrk` (one thread, POSTs of the \
         same body, {WRK_SECONDS} s per concurrency) is what nginx serves to a client that \
         costs next to nothing. `signal-delivery` and `bare reqwest` are the e2e bench's rows \
         with `BENCH_RECEIVER_URL` pointing both at nginx (one run, not three).\n"
    );
    let _ = writeln!(
        out,
        "| concurrency | wrk | bare reqwest | signal-delivery | signal-delivery / bare | signal-delivery / wrk | bare / wrk |\n|---|---|---|---|---|---|---|"
    );
    let mut ratios = Vec::new();
    for c in CONCURRENCY {
        let wrk = stored.wrk(c);
        let bare = stored.rate(&format!("bare-reqwest/{c}"));
        let signed = stored.rate(&format!("signal-delivery/{c}"));
        let ratio = |a: Option<f64>, b: Option<f64>| ratio_value(a.zip(b).map(|(a, b)| a / b));
        let _ = writeln!(
            out,
            "| {c} | {} | {} | {} | {} | {} | {} |",
            rate(wrk),
            rate(bare),
            rate(signed),
            ratio(signed, bare),
            ratio(signed, wrk),
            ratio(bare, wrk)
        );
        ratios.push(ratio(signed, bare));
        if wrk.is_none() {
            missing.push(format!("external wrk -c{c}"));
        }
        if signed.is_none() || bare.is_none() {
            missing.push(format!("external e2e at {c}"));
        }
    }
    let drains: Vec<Drain> = stored
        .lines
        .iter()
        .filter_map(|l| Drain::parse(l))
        .collect();
    let _ = writeln!(
        out,
        "\nThe durable program with the same variable: `deliver` of the backlog's signals, 64 at \
         a time, then the SQLite worker draining the same number, as in section 7, both posting \
         to nginx. Without a receiver of its own the program cannot see requests arrive: \
         `send` ends when the last `deliver` returned, the drain when the worker's last \
         delivered outcome was committed (one group commit later than its arrival).\n"
    );
    if drains.is_empty() {
        let _ = writeln!(out, "Not measured.\n");
        missing.push("external durable".to_owned());
    } else {
        let _ = writeln!(
            out,
            "| backlog | `deliver` | SQLite worker | worker / `deliver` |\n|---|---|---|---|"
        );
        for d in &drains {
            let _ = writeln!(
                out,
                "| {} | {} signals/s | {} signals/s | {:.2}× |",
                thousands(d.backlog),
                thousands(d.send.round() as u64),
                thousands(d.worker.round() as u64),
                d.worker / d.send
            );
        }
        out.push('\n');
    }
    summary.push([
        "8. nginx: wrk baseline, 64 connections".to_owned(),
        rate(stored.wrk(64)),
        String::new(),
        String::new(),
        "report only".to_owned(),
        "n/a".to_owned(),
    ]);
    summary.push([
        format!(
            "8. nginx: `deliver` / bare reqwest at {}",
            CONCURRENCY.map(|c| c.to_string()).join(", ")
        ),
        String::new(),
        String::new(),
        ratios.join(", "),
        "report only (one run; goal in 4)".to_owned(),
        "n/a".to_owned(),
    ]);
    if let Some(d) = drains.iter().find(|d| d.backlog == 100_000) {
        let r = d.worker / d.send;
        summary.push([
            "8. nginx: SQLite worker, 100,000 backlog".to_owned(),
            format!("{} signals/s", thousands(d.worker.round() as u64)),
            format!("{} signals/s (`deliver`)", thousands(d.send.round() as u64)),
            ratio_value(Some(r)),
            format!("≥ {SQLITE_GOAL:.2}×"),
            met(Some(r >= SQLITE_GOAL)),
        ]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn stored() -> Stored {
        let lines = [
            "external_versions nginx/1.22.1, wrk 4.1.0",
            "external_wrk connections=1 requests_per_s=20000",
            "external_wrk connections=8 requests_per_s=80000",
            "external_wrk connections=64 requests_per_s=100000",
            "external_wrk connections=256 requests_per_s=90000",
            "durable_drain backend=sqlite workers=1 backlog=10000 send_per_s=20000 worker_per_s=18000 rss_start_kib=30000 rss_peak_kib=40000",
            "durable_drain backend=sqlite workers=1 backlog=100000 send_per_s=20000 worker_per_s=15000 rss_start_kib=30000 rss_peak_kib=41000",
            "durable_external url=http://127.0.0.1:1/signals (signatures not verified; SQLite drains only)",
        ];
        let mut rates = BTreeMap::new();
        for c in CONCURRENCY {
            rates.insert(format!("signal-delivery/{c}"), 18_000.0);
            rates.insert(format!("bare-reqwest/{c}"), 20_000.0);
        }
        Stored {
            lines: lines.iter().map(|l| (*l).to_owned()).collect(),
            run: Run { rates },
        }
    }

    #[test]
    fn stored_results_become_the_section() {
        let (mut summary, mut missing) = (Vec::new(), Vec::new());
        let text = section(Some(&stored()), true, &mut summary, &mut missing);
        assert!(missing.is_empty(), "{missing:?}");
        assert!(text.contains("nginx (nginx/1.22.1, wrk 4.1.0)"), "{text}");
        assert!(
            text.contains(
                "| 64 | 100,000 req/s | 20,000 req/s | 18,000 req/s | 0.90× | 0.18× | 0.20× |"
            ),
            "{text}"
        );
        assert!(
            text.contains("| 100,000 | 20,000 signals/s | 15,000 signals/s | 0.75× |"),
            "{text}"
        );
        assert!(text.contains("verifies no signature"));
        let rows: Vec<String> = summary.iter().map(|r| r.join(" | ")).collect();
        assert_eq!(rows.len(), 3, "{rows:?}");
        assert!(rows[0].contains("| 100,000 req/s |"), "{rows:?}");
        assert!(rows[1].contains("0.90×, 0.90×, 0.90×, 0.90×"), "{rows:?}");
        assert!(rows[2].ends_with("| 0.75× | ≥ 0.80× | **no**"), "{rows:?}");
    }

    #[test]
    fn without_external_the_section_says_how_to_get_it() {
        let (mut summary, mut missing) = (Vec::new(), Vec::new());
        let text = section(Some(&stored()), false, &mut summary, &mut missing);
        assert!(text.contains("`cargo xtask bench --external`"), "{text}");
        assert!(
            text.contains("nginx-light") && text.contains("wrk"),
            "{text}"
        );
        assert!(summary.is_empty() && missing.is_empty());
        let text = section(None, true, &mut summary, &mut missing);
        assert!(text.contains("Not measured"), "{text}");
        assert_eq!(missing, ["external (nginx)"]);
    }

    #[test]
    fn nothing_stored_reads_as_none() {
        let dir = std::env::temp_dir().join("xtask-bench-no-external-results");
        assert!(Stored::read(&dir).is_none());
    }
}
