//! Replays the committed seed corpus through the same checks as the fuzz
//! targets, on stable Rust and without libFuzzer:
//! `cargo test --manifest-path fuzz/Cargo.toml`.

use std::path::Path;

fn replay(target: &str, run: fn(&[u8])) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("corpus")
        .join(target);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.map(|e| e.path()).unwrap_or_else(|e| panic!("{e}")))
        .collect();
    files.sort();
    assert!(files.len() >= 10, "{target}: only {} seeds", files.len());
    for file in files {
        let data = std::fs::read(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        run(&data);
    }
}

#[test]
fn signal_line_corpus() {
    replay("signal_line", parser_fuzz::signal_line::run);
}

#[test]
fn webhook_verify_corpus() {
    replay("webhook_verify", parser_fuzz::webhook::run);
}

#[test]
fn retry_after_corpus() {
    replay("retry_after", parser_fuzz::retry_after::run);
}

#[test]
fn config_corpus() {
    replay("config", parser_fuzz::config::run);
}
