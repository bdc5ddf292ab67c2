//! The commands `cargo xtask bench` runs: `cargo bench` with its output
//! shown as it comes and kept, the zero-allocation test, and the outbox's
//! enqueue example.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

/// Runs `command`, printing its stdout line by line; every line is pushed to
/// `lines` as it comes, so that a failure later keeps what came before.
pub(super) fn stream(command: &mut Command, lines: &mut Vec<String>) -> Result<(), String> {
    println!("$ {}", describe(command));
    let mut child = command
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run {}: {e}", describe(command)))?;
    if let Some(stdout) = child.stdout.take() {
        for line in BufReader::new(stdout).lines() {
            let line = line.map_err(|e| format!("reading the output of cargo: {e}"))?;
            println!("{line}");
            lines.push(line);
        }
    }
    let status = child
        .wait()
        .map_err(|e| format!("waiting for cargo: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{} failed ({status})", describe(command)))
    }
}

/// Runs the zero-allocation test; `Ok` with its summary line when it passed.
pub(super) fn run_alloc_test(root: &Path) -> Result<String, String> {
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
pub(super) fn run_outbox_enqueue(root: &Path) -> Result<String, String> {
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

pub(super) fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned())
}

/// The command as a shell line, with the variables it sets in front.
pub(super) fn describe(command: &Command) -> String {
    let mut words: Vec<String> = command
        .get_envs()
        .filter_map(|(k, v)| Some(format!("{}={}", k.to_string_lossy(), v?.to_string_lossy())))
        .collect();
    words.push(
        Path::new(command.get_program())
            .file_name()
            .map_or_else(|| "?".to_owned(), |n| n.to_string_lossy().into_owned()),
    );
    words.extend(command.get_args().map(|a| a.to_string_lossy().into_owned()));
    words.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outbox_rate_is_read_from_the_example_line() {
        let line = "enqueue: 50000 signals of ~198 B in batches of 500 (WAL, synchronous=FULL): 1.41 s, 35549 signals/s";
        assert_eq!(signals_per_second(line), Some(35549.0));
        assert_eq!(signals_per_second("enqueue: broken"), None);
    }

    #[test]
    fn commands_are_described_with_their_variables() {
        let mut command = Command::new("/usr/bin/cargo");
        command
            .args(["bench", "--bench", "e2e"])
            .env("CRITERION_HOME", "/t/c");
        assert_eq!(
            describe(&command),
            "CRITERION_HOME=/t/c cargo bench --bench e2e"
        );
    }
}
