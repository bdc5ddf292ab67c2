//! The command line itself, as a subprocess: `--version`, `-h`/`--help` on
//! every subcommand, usage errors (exit 2, never a panic), arguments that
//! are not UTF-8, non-UTF-8 paths, and the completion scripts.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{Finished, bare, run};
use loopback_fakes::signal_server::FakeSignalServer;
use std::collections::BTreeSet;
use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;

/// The subcommands a help text lists under `Commands:` (clap's own `help`
/// aside: it is tested apart).
fn listed_subcommands(help: &str) -> Vec<String> {
    help.lines()
        .skip_while(|l| l.trim() != "Commands:")
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        // Continuation lines of a wrapped description are indented further.
        .filter(|l| l.starts_with("  ") && !l.starts_with("   "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|name| *name != "help")
        .map(str::to_owned)
        .collect()
}

fn run_args(args: &[&str]) -> Finished {
    run(bare(args), "")
}

#[test]
fn version_is_the_package_version_on_every_level() {
    let expected = format!("signal-delivery {}", env!("CARGO_PKG_VERSION"));
    for args in [
        vec!["--version"],
        vec!["-V"],
        vec!["send", "--version"],
        vec!["outbox", "list", "-V"],
    ] {
        let out = run_args(&args);
        assert_eq!(out.code(), Some(0), "{args:?}: {}", out.stderr);
        assert_eq!(out.lines.len(), 1, "{args:?}: {:?}", out.lines);
        // Subcommands print their path ("signal-delivery-send 0.1.0").
        assert!(
            out.lines[0].starts_with("signal-delivery"),
            "{:?}",
            out.lines
        );
        assert!(
            out.lines[0].ends_with(&format!(" {}", env!("CARGO_PKG_VERSION"))),
            "{:?}",
            out.lines
        );
        if args.len() == 1 {
            assert_eq!(out.lines[0], expected);
        }
    }
}

#[test]
fn help_on_every_subcommand_exits_0_with_its_usage() {
    // Walk the tree the binary itself lists, so a new subcommand is covered
    // without editing this test.
    let mut pending: Vec<Vec<String>> = vec![vec![]];
    let mut seen: BTreeSet<String> = BTreeSet::new();
    while let Some(path) = pending.pop() {
        let mut help_text = None;
        for flag in ["-h", "--help"] {
            let mut args = path.clone();
            args.push(flag.to_owned());
            let out = run(bare(&args), "");
            assert_eq!(out.code(), Some(0), "{args:?}: {}", out.stderr);
            assert!(out.stderr.is_empty(), "{args:?}: {}", out.stderr);
            let text = out.lines.join("\n");
            let usage = format!("Usage: signal-delivery {}", path.join(" "));
            assert!(
                text.contains(usage.trim_end()),
                "{args:?} lacks {usage:?}:\n{text}"
            );
            help_text = Some(text);
        }
        // `help <path>` prints the same help.
        if !path.is_empty() {
            let mut args = vec!["help".to_owned()];
            args.extend(path.iter().cloned());
            let out = run(bare(&args), "");
            assert_eq!(out.code(), Some(0), "{args:?}: {}", out.stderr);
            assert!(
                out.lines.join("\n").contains("Usage: signal-delivery"),
                "{args:?}"
            );
        }
        seen.insert(path.join(" "));
        for sub in listed_subcommands(&help_text.unwrap()) {
            let mut child = path.clone();
            child.push(sub);
            pending.push(child);
        }
    }
    let expected: BTreeSet<String> = [
        "",
        "send",
        "enqueue",
        "run",
        "outbox",
        "outbox stats",
        "outbox list",
        "outbox show",
        "outbox replay",
        "outbox purge",
        "outbox audit",
        "outbox export",
        "outbox import",
        "outbox migrate",
        "check-config",
        "completions",
    ]
    .into_iter()
    .map(str::to_owned)
    .collect();
    assert_eq!(seen, expected);
}

#[test]
fn the_help_states_the_exit_codes_and_where_the_configuration_is() {
    let out = run_args(&["--help"]);
    let text = out.lines.join("\n");
    for needle in ["Exit codes", "130", "143", "docs/configuration.md"] {
        assert!(text.contains(needle), "{needle}:\n{text}");
    }
}

#[test]
fn usage_errors_exit_2_naming_the_problem_without_output() {
    for (args, needle) in [
        (vec![], "Usage: signal-delivery <COMMAND>"),
        (vec!["deliver"], "unrecognized subcommand 'deliver'"),
        (vec!["send", "--concurrency", "0"], "1..=4096"),
        (vec!["send", "--concurrency", "many"], "--concurrency"),
        (vec!["send", "--concurrency"], "a value is required"),
        (
            vec!["send", "--metrics-addr", "localhost:9"],
            "--metrics-addr",
        ),
        (vec!["send", "--verbose"], "unexpected argument '--verbose'"),
        (vec!["enqueue", "--concurrency", "2"], "unexpected argument"),
        (vec!["run", "--concurrency", "5000"], "1..=4096"),
        (vec!["check-config", "now"], "unexpected argument 'now'"),
        (vec!["outbox"], "Usage: signal-delivery outbox <COMMAND>"),
        (vec!["outbox", "prune"], "unrecognized subcommand 'prune'"),
        (vec!["outbox", "purge"], "--delivered-before <DURATION>"),
        (vec!["outbox", "list"], "--state"),
        (vec!["outbox", "list", "--state", "done"], "dead_lettered"),
        (
            vec!["outbox", "list", "--state", "pending", "--limit", "0"],
            "--limit",
        ),
        (vec!["outbox", "replay"], "--all-dead"),
        (vec!["outbox", "replay", ""], "empty"),
        (vec!["completions"], "<SHELL>"),
        (vec!["completions", "powershell"], "bash, zsh, fish"),
    ] {
        let out = run_args(&args);
        assert_eq!(out.code(), Some(2), "{args:?}: {}", out.stderr);
        assert!(out.lines.is_empty(), "{args:?}: {:?}", out.lines);
        assert!(
            out.stderr.contains(needle),
            "{args:?} lacks {needle:?}:\n{}",
            out.stderr
        );
    }
}

#[test]
fn arguments_that_are_not_utf8_are_usage_errors_not_panics() {
    let bad = || OsString::from_vec(vec![b'x', 0xff, b'y']);
    for args in [
        vec![bad()],
        vec!["outbox".into(), "replay".into(), bad()],
        vec!["send".into(), "--concurrency".into(), bad()],
        vec!["send".into(), "--metrics-addr".into(), bad()],
        vec!["send".into(), OsString::from_vec(b"--\xff".to_vec())],
        vec!["outbox".into(), "list".into(), "--state".into(), bad()],
        vec!["completions".into(), bad()],
    ] {
        // Finished::finish already fails on "panicked" in stderr.
        let out = run(bare(&args), "");
        assert_eq!(out.code(), Some(2), "{args:?}: {}", out.stderr);
        assert!(out.lines.is_empty(), "{args:?}");
        // clap's message, pointing at the help.
        assert!(
            out.stderr.starts_with("error: "),
            "{args:?}: {}",
            out.stderr
        );
        assert!(
            out.stderr.contains("try '--help'"),
            "{args:?}: {}",
            out.stderr
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paths_that_are_not_utf8_work() {
    let server = FakeSignalServer::start(hmac_client::SigningKeys::parse(common::SECRET).unwrap())
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut name = b"o\xff".to_vec();
    name.extend_from_slice(b".db");
    let db = dir.path().join(OsString::from_vec(name));
    let input = dir
        .path()
        .join(OsString::from_vec(b"in\xfe.ndjson".to_vec()));
    std::fs::write(&input, common::signal_json("path-1") + "\n").unwrap();
    let vars = common::delivery_env(&server.url(), None);

    let enqueue: Vec<OsString> = vec![
        "enqueue".into(),
        "--outbox".into(),
        db.clone().into(),
        "--input".into(),
        input.clone().into(),
    ];
    let out = run(common::command(&enqueue, &vars), "");
    assert_eq!(out.code(), Some(0), "{}", out.stderr);
    assert_eq!(out.json()[0]["outcome"], "enqueued");
    assert!(
        db.exists(),
        "the outbox was not created under its non-UTF-8 name"
    );

    let stats: Vec<OsString> = vec![
        "outbox".into(),
        "stats".into(),
        "--outbox".into(),
        db.into(),
    ];
    let out = run(bare(&stats), "");
    assert_eq!(out.code(), Some(0), "{}", out.stderr);
    assert_eq!(out.json()[0]["pending"], 1);

    let send: Vec<OsString> = vec!["send".into(), "--input".into(), input.into()];
    let out = run(common::command(&send, &vars), "");
    assert_eq!(out.code(), Some(0), "{}", out.stderr);
    assert_eq!(out.json()[0]["outcome"], "delivered");
    assert_eq!(server.request_count(), 1);

    // A missing file under a non-UTF-8 name is named (lossily) and exits 2.
    let missing: Vec<OsString> = vec![
        "send".into(),
        "--input".into(),
        dir.path()
            .join(OsString::from_vec(b"gone\xff".to_vec()))
            .into(),
    ];
    let out = run(common::command(&missing, &vars), "");
    assert_eq!(out.code(), Some(2), "{}", out.stderr);
    assert!(out.stderr.contains("cannot open --input"), "{}", out.stderr);
    assert!(out.stderr.contains("gone\u{fffd}"), "{}", out.stderr);
    assert_eq!(server.request_count(), 1, "nothing more was sent");
}

#[test]
fn completion_scripts_for_bash_zsh_and_fish() {
    for (shell, marker) in [
        ("bash", "complete -F _signal__delivery"),
        ("zsh", "#compdef signal-delivery"),
        ("fish", "complete -c signal-delivery"),
    ] {
        let out = run_args(&["completions", shell]);
        assert_eq!(out.code(), Some(0), "{shell}: {}", out.stderr);
        let script = out.lines.join("\n");
        assert!(script.contains(marker), "{shell}: no {marker:?}");
        // fish names long flags without their dashes (`-l concurrency`).
        for word in ["check-config", "enqueue", "dead_lettered", "concurrency"] {
            assert!(script.contains(word), "{shell}: no {word:?}");
        }
    }
    // The bash script is valid bash (bash is on every machine this runs on).
    let out = run_args(&["completions", "bash"]);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("signal-delivery.bash");
    std::fs::write(&path, out.lines.join("\n")).unwrap();
    let check = std::process::Command::new("bash")
        .arg("-n")
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
}
