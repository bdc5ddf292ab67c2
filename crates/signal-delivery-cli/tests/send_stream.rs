//! `send` on streams, as a subprocess against a verifying signal server and
//! the fake Bot API on 127.0.0.1: a bad line fails alone and reading goes
//! on, repeated ids follow enqueue's rules, outcomes stream one by one, and
//! a secret in the server URL reaches no output and no alert.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{Running, command, delivery_env, run, signal_json};
use loopback_fakes::signal_server::{FakeSignalServer, Reply};
use loopback_fakes::telegram::FakeBotApi;
use serde_json::Value;
use std::time::Duration;

async fn server() -> FakeSignalServer {
    FakeSignalServer::start(hmac_client::SigningKeys::parse(common::SECRET).unwrap())
        .await
        .unwrap()
}

/// The outcome lines keyed by input line.
fn by_line(lines: &[Value]) -> std::collections::BTreeMap<u64, Value> {
    lines
        .iter()
        .map(|l| (l["line"].as_u64().unwrap(), l.clone()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_line_fails_alone_alerted_and_reading_goes_on() {
    let two_mb = format!(
        r#"{{"id":"big","instrument":"X","side":"buy","pad":"{}"}}"#,
        "x".repeat(2_000_000)
    );
    let over_small_limit = format!(
        r#"{{"id":"big","instrument":"X","side":"buy","pad":"{}"}}"#,
        "x".repeat(2_000)
    );
    let cases: Vec<(&str, Vec<u8>, Option<&str>, &str)> = vec![
        (
            "invalid UTF-8",
            b"{\"id\":\"bad\",\"instrument\":\"X\xff\",\"side\":\"buy\"}".to_vec(),
            None,
            "not valid UTF-8",
        ),
        (
            "a 2 MB line, default SIGNAL_MAX_BYTES",
            two_mb.into_bytes(),
            None,
            "over the limit of 1048576 bytes",
        ),
        (
            "a 2 kB line, SIGNAL_MAX_BYTES=1024",
            over_small_limit.into_bytes(),
            Some("1024"),
            "over the limit of 1024 bytes",
        ),
        (
            "a duplicate key",
            br#"{"id":"dk","instrument":"X","side":"hold","side":"buy"}"#.to_vec(),
            None,
            "duplicate key `side`",
        ),
        (
            "not JSON",
            b"id=bad instrument=X side=buy".to_vec(),
            None,
            "not valid JSON",
        ),
    ];
    for (case, bad_line, max_bytes, expected_error) in cases {
        let server = server().await;
        let bot = FakeBotApi::start().await.unwrap();
        let mut vars = delivery_env(&server.url(), Some(&bot));
        if let Some(max) = max_bytes {
            vars.push(("SIGNAL_MAX_BYTES", max.to_owned()));
        }
        let mut input = Vec::new();
        for line in [
            signal_json("one").into_bytes(),
            bad_line,
            signal_json("three").into_bytes(),
            signal_json("four").into_bytes(),
        ] {
            input.extend_from_slice(&line);
            input.push(b'\n');
        }

        let out = run(command(&["send"], &vars), input);

        assert_eq!(out.code(), Some(1), "{case}: {}", out.stderr);
        let lines = by_line(&out.json());
        assert_eq!(lines.len(), 4, "{case}: one outcome per line: {lines:?}");
        for (line, id) in [(1, "one"), (3, "three"), (4, "four")] {
            assert_eq!(lines[&line]["outcome"], "delivered", "{case}: {lines:?}");
            assert_eq!(lines[&line]["id"], id, "{case}");
        }
        let bad = &lines[&2];
        assert_eq!(bad["outcome"], "failed", "{case}: {bad}");
        assert_eq!(bad["reason"], "invalid_signal", "{case}: {bad}");
        assert_eq!(bad["attempts"], 0, "{case}: {bad}");
        let error = bad["error"].as_str().unwrap();
        assert!(error.contains(expected_error), "{case}: {error}");
        assert!(
            error.len() < 1000,
            "{case}: the error holds the line: {} bytes",
            error.len()
        );

        let mut sent: Vec<String> = server.received().into_iter().map(|r| r.id).collect();
        sent.sort();
        assert_eq!(
            sent,
            ["four", "one", "three"],
            "{case}: the bad line is never sent"
        );
        let alerts = bot.wait_for_messages(1, Duration::from_secs(5)).await;
        assert_eq!(alerts.len(), 1, "{case}: {alerts:?}");
        assert!(
            alerts[0]
                .text
                .contains(expected_error.split('`').next().unwrap()),
            "{case}: the alert says why: {}",
            alerts[0].text
        );
        assert!(
            out.stderr
                .contains("4 signal(s): 3 delivered, 1 failed (invalid_signal=1)"),
            "{case}: {}",
            out.stderr
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repeated_id_with_the_same_bytes_is_sent_once_and_follows_its_first_copy() {
    // (case, the first copy's answers, exit code, the first copy's outcome)
    for (case, answers, code, first) in [
        (
            "delivered after a retry",
            vec![Reply::status(503), Reply::Accept],
            0,
            "delivered",
        ),
        ("rejected", vec![Reply::status(422)], 1, "failed"),
    ] {
        let server = server().await;
        let bot = FakeBotApi::start().await.unwrap();
        let script = std::sync::Mutex::new(std::collections::VecDeque::from(answers));
        server.set_responder(move |r| {
            if r.id == "rep" {
                script.lock().unwrap().pop_front().unwrap_or(Reply::Accept)
            } else {
                Reply::Accept
            }
        });
        let input =
            [signal_json("rep"), signal_json("rep"), signal_json("other")].join("\n") + "\n";

        let out = run(
            command(&["send"], &delivery_env(&server.url(), Some(&bot))),
            input,
        );

        assert_eq!(out.code(), Some(code), "{case}: {}", out.stderr);
        let lines = out.json();
        assert_eq!(lines.len(), 3, "{case}: {lines:?}");
        let position = |line: u64| lines.iter().position(|l| l["line"] == line).unwrap();
        assert_eq!(lines[position(1)]["outcome"], first, "{case}: {lines:?}");
        let repeat = &lines[position(2)];
        assert_eq!(repeat["outcome"], "duplicate", "{case}: {repeat}");
        assert_eq!(repeat["duplicate_of"], 1, "{case}: {repeat}");
        assert_eq!(repeat["id"], "rep", "{case}: {repeat}");
        assert_eq!(repeat["attempts"], 0, "{case}: {repeat}");
        // The repeat's line waits for the first copy's outcome; line 3,
        // read after both, is not held back by them.
        assert!(position(1) < position(2), "{case}: {lines:?}");
        if case == "delivered after a retry" {
            assert!(
                position(3) < position(1),
                "{case}: outcomes stream: {lines:?}"
            );
        }
        let first_copy_requests = server.received().iter().filter(|r| r.id == "rep").count();
        let attempts = lines[position(1)]["attempts"].as_u64().unwrap();
        assert_eq!(
            first_copy_requests as u64, attempts,
            "{case}: the repeat is never sent"
        );
        assert!(
            out.stderr.contains("1 duplicate(s) not sent again"),
            "{case}: {}",
            out.stderr
        );
        let alerts = bot
            .wait_for_messages(code as usize, Duration::from_secs(5))
            .await;
        assert_eq!(
            alerts.len(),
            code as usize,
            "{case}: only a failure is alerted: {alerts:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repeated_id_with_other_bytes_is_a_conflict_alerted_and_never_sent() {
    let server = server().await;
    let bot = FakeBotApi::start().await.unwrap();
    let first = signal_json("same-id");
    let other = r#"{"id":"same-id","instrument":"ETH-USD","side":"sell"}"#;
    let input = format!("{first}\n{other}\n");

    let out = run(
        command(&["send"], &delivery_env(&server.url(), Some(&bot))),
        input,
    );

    assert_eq!(out.code(), Some(1), "{}", out.stderr);
    let lines = by_line(&out.json());
    assert_eq!(lines[&1]["outcome"], "delivered");
    let conflict = &lines[&2];
    assert_eq!(conflict["outcome"], "failed", "{conflict}");
    assert_eq!(conflict["reason"], "conflict", "{conflict}");
    assert_eq!(conflict["attempts"], 0, "{conflict}");
    assert!(
        conflict["error"]
            .as_str()
            .unwrap()
            .contains("line 2 has the id of line 1 with a different body"),
        "{conflict}"
    );
    let received = server.received();
    assert_eq!(received.len(), 1, "only the first copy is sent");
    assert_eq!(received[0].body.as_ref(), first.as_bytes());
    let alerts = bot.wait_for_messages(1, Duration::from_secs(5)).await;
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert!(alerts[0].text.contains("same-id"), "{}", alerts[0].text);
    assert!(
        alerts[0].text.contains("different body"),
        "{}",
        alerts[0].text
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_outcome_is_written_before_the_next_line_is_read() {
    let server = server().await;
    let mut send = Running::spawn(command(&["send"], &delivery_env(&server.url(), None)));
    // A producer that waits for each outcome before writing the next line:
    // this deadlocks unless every outcome is written and flushed at once.
    for i in 0..3 {
        let id = format!("stream-{i}");
        send.write_line(&signal_json(&id));
        let outcome = send.next_json(Duration::from_secs(10));
        assert_eq!(outcome["id"], id.as_str(), "{outcome}");
        assert_eq!(outcome["outcome"], "delivered", "{outcome}");
        assert_eq!(server.request_count(), i + 1);
    }
    let out = send.finish(common::LIMIT);
    assert_eq!(out.code(), Some(0), "{}", out.stderr);
    assert_eq!(out.lines.len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_secret_in_the_server_url_reaches_no_output_and_no_alert() {
    let bot = FakeBotApi::start().await.unwrap();
    let refused = loopback_fakes::signal_server::refused_url().unwrap();
    let url = format!("{refused}?api_key=SECRETQUERYVALUE&mode=live");
    let mut vars = delivery_env(&url, Some(&bot));
    // Every log line there is, so that none can hide the value.
    vars.push(("RUST_LOG", "trace".to_owned()));

    let out = run(command(&["send"], &vars), signal_json("leak-1") + "\n");

    assert_eq!(out.code(), Some(1), "{}", out.stderr);
    let lines = out.json();
    assert_eq!(lines[0]["reason"], "exhausted", "{}", lines[0]);
    let alerts = bot.wait_for_messages(1, Duration::from_secs(5)).await;
    assert_eq!(alerts.len(), 1);
    let everything = format!(
        "{}\n{}",
        out.all_text(),
        alerts
            .iter()
            .map(|m| m.text.as_str())
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert!(
        !everything.contains("SECRETQUERYVALUE"),
        "leaked:\n{everything}"
    );
    assert!(
        !everything.contains(common::TOKEN_PART),
        "token leaked:\n{everything}"
    );
    assert!(!everything.contains(common::SECRET_PART), "secret leaked");
    // The URL is still recognisable, with its query values redacted.
    assert!(everything.contains("api_key=REDACTED"), "{everything}");

    let out = run(command(&["check-config"], &vars), "");
    assert_eq!(out.code(), Some(0), "{}", out.stderr);
    assert!(
        !out.all_text().contains("SECRETQUERYVALUE"),
        "{}",
        out.all_text()
    );
}

/// True when `text` holds a colour code (SGR: `ESC [ digits;... m`). The
/// progress line's "erase line" (`ESC [ 2K`) on a terminal is not a colour.
fn has_colour(text: &str) -> bool {
    text.split("\x1b[").skip(1).any(|rest| {
        let code: String = rest
            .chars()
            .take_while(|c| c.is_ascii_digit() || *c == ';')
            .collect();
        rest[code.len()..].starts_with('m')
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_colours_only_on_a_terminal_and_without_no_color() {
    let server = server().await;
    server.set_default(Reply::status(422));
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.ndjson");
    std::fs::write(&input, signal_json("tty-1") + "\n").unwrap();
    // (case, through a terminal, extra variable, colours expected)
    for (case, tty, extra, colours) in [
        ("a pipe", false, None, false),
        ("a terminal", true, None, true),
        (
            "a terminal, NO_COLOR=1",
            true,
            Some(("NO_COLOR", "1")),
            false,
        ),
        (
            "a terminal, JSON logs",
            true,
            Some(("LOG_FORMAT", "json")),
            false,
        ),
    ] {
        let mut vars = delivery_env(&server.url(), None);
        if let Some((k, v)) = extra {
            vars.push((k, v.to_owned()));
        }
        let send = format!("exec {} send --input {}", common::BIN, input.display());
        let output = if tty {
            // util-linux `script` runs the command on a pseudo-terminal.
            let mut script = std::process::Command::new("script");
            script
                .args(["-qec", &send, "/dev/null"])
                .env_clear()
                .env("PATH", std::env::var_os("PATH").unwrap_or_default())
                .envs(vars.iter().map(|(k, v)| (*k, v.as_str())))
                .stdin(std::process::Stdio::null());
            script.output().unwrap()
        } else {
            let mut sh = std::process::Command::new("sh");
            sh.args(["-c", &send])
                .env_clear()
                .envs(vars.iter().map(|(k, v)| (*k, v.as_str())));
            sh.output().unwrap()
        };
        let text = String::from_utf8_lossy(&output.stdout).into_owned()
            + &String::from_utf8_lossy(&output.stderr);
        assert!(
            text.contains("tty-1"),
            "{case}: the run did not happen:\n{text}"
        );
        assert_eq!(has_colour(&text), colours, "{case}:\n{text:?}");
    }
}
