//! Project tasks, run as `cargo xtask <task>`. `main` only parses and
//! dispatches; each task lives in its own module.

use std::process::ExitCode;

const USAGE: &str = "\
usage: cargo xtask <task> [flags]

tasks:
  verify-alert   the forced-failure drill: a local signal server fails, delivery
                 retries, and the Telegram alert is observed (see --help)
  bench          a short run of every benchmark (a few minutes on 2 cores) and the
                 report in docs/benchmarks.md (see --help)";

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    match args.next().as_deref() {
        Some("verify-alert") => xtask::verify_alert::run(args.collect()),
        Some("bench") => xtask::bench::run(args.collect()),
        Some("help" | "--help" | "-h") => {
            println!("{USAGE}");
            ExitCode::SUCCESS
        }
        Some(other) => {
            eprintln!("unknown task {other:?}\n\n{USAGE}");
            ExitCode::from(2)
        }
        None => {
            eprintln!("{USAGE}");
            ExitCode::from(2)
        }
    }
}
