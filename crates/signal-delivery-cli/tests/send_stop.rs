//! How `send` ends when it is told to stop (SIGTERM, SIGINT) or cannot
//! print (a full disk, a closed pipe): every signal read still gets its
//! outcome, alerted when it was not delivered, and the exit code says why.
//! Real time, a few seconds at most: a subprocess's clock cannot be paused.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{Out, Running, command, delivery_env, signal_json, wait_until};
use loopback_fakes::signal_server::{FakeSignalServer, Reply};
use loopback_fakes::telegram::FakeBotApi;
use std::time::{Duration, Instant};

async fn server() -> FakeSignalServer {
    FakeSignalServer::start(hmac_client::SigningKeys::parse(common::SECRET).unwrap())
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_ends_a_signal_waiting_for_its_retry_at_once_interrupted_and_alerted() {
    for (signal, code, name) in [("TERM", 143, "SIGTERM"), ("INT", 130, "SIGINT")] {
        let server = server().await;
        server.set_default(Reply::status(503));
        let bot = FakeBotApi::start().await.unwrap();
        let mut vars = delivery_env(&server.url(), Some(&bot));
        // The next attempt would be a minute away.
        vars.extend([
            ("MAX_RETRIES", "3".to_owned()),
            ("RETRY_DELAY_SECONDS", "60".to_owned()),
        ]);
        let mut send = Running::spawn(command(&["send"], &vars));
        send.write_line(&signal_json("waiting"));
        // Standard input stays open: the stop must not wait for its end.
        wait_until(Duration::from_secs(10), "the first attempt", || {
            server.request_count() == 1
        });
        let stopped = Instant::now();
        send.signal(signal);
        let out = send.finish(Duration::from_secs(10));

        assert_eq!(out.code(), Some(code), "{name}: {}", out.stderr);
        assert!(
            stopped.elapsed() < Duration::from_secs(5),
            "{name}: the wait for the retry was not cut: {:?}",
            stopped.elapsed()
        );
        let lines = out.json();
        assert_eq!(lines.len(), 1, "{name}: {lines:?}");
        let line = &lines[0];
        assert_eq!(line["id"], "waiting", "{name}: {line}");
        assert_eq!(line["outcome"], "failed", "{name}: {line}");
        assert_eq!(line["reason"], "interrupted", "{name}: {line}");
        assert_eq!(line["attempts"], 1, "{name}: {line}");
        assert_eq!(
            line["status"], 503,
            "{name}: the last answer is kept: {line}"
        );
        assert_eq!(
            server.request_count(),
            1,
            "{name}: no attempt after the stop"
        );
        assert!(
            out.stderr.contains(&format!("stopped by {name}")),
            "{name}: {}",
            out.stderr
        );
        let alerts = bot.wait_for_messages(1, Duration::from_secs(5)).await;
        assert_eq!(alerts.len(), 1, "{name}: {alerts:?}");
        assert!(alerts[0].text.contains("waiting"), "{}", alerts[0].text);
        assert!(alerts[0].text.contains("stopped"), "{}", alerts[0].text);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_attempt_in_flight_is_cut_after_the_grace_period() {
    let server = server().await;
    server.set_default(Reply::Hang);
    let bot = FakeBotApi::start().await.unwrap();
    let mut vars = delivery_env(&server.url(), Some(&bot));
    vars.extend([
        ("SEND_SHUTDOWN_GRACE_SECONDS", "1".to_owned()),
        ("SIGNAL_REQUEST_TIMEOUT_SECONDS", "60".to_owned()),
    ]);
    let mut send = Running::spawn(command(&["send"], &vars));
    send.write_line(&signal_json("slow"));
    wait_until(Duration::from_secs(10), "the attempt", || {
        server.request_count() == 1
    });
    let stopped = Instant::now();
    send.signal("TERM");
    let out = send.finish(Duration::from_secs(10));
    let took = stopped.elapsed();

    assert_eq!(out.code(), Some(143), "{}", out.stderr);
    assert!(
        took >= Duration::from_secs(1),
        "cut before the grace period: {took:?}"
    );
    assert!(took < Duration::from_secs(6), "not cut: {took:?}");
    let lines = out.json();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!(lines[0]["reason"], "interrupted", "{}", lines[0]);
    assert_eq!(lines[0]["attempts"], 1, "{}", lines[0]);
    assert!(
        lines[0]["error"]
            .as_str()
            .unwrap()
            .contains("cut after the grace period"),
        "{}",
        lines[0]
    );
    let alerts = bot.wait_for_messages(1, Duration::from_secs(5)).await;
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert!(alerts[0].text.contains("slow"), "{}", alerts[0].text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_output_failure_stops_reading_and_logs_every_outcome_it_cannot_print() {
    let full = || {
        std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .unwrap()
    };
    for (case, out_to, error) in [
        ("> /dev/full", Out::File(full()), "No space left on device"),
        ("a closed pipe", Out::ClosedPipe, "Broken pipe"),
    ] {
        let server = server().await;
        let mut send = Running::spawn_with(
            command(&["send"], &delivery_env(&server.url(), None)),
            out_to,
        );
        let input: String = (0..5)
            .map(|i| signal_json(&format!("out-{i}")) + "\n")
            .collect();
        send.write(input.as_bytes());
        let out = send.finish(common::LIMIT);

        assert_eq!(out.code(), Some(1), "{case}: {}", out.stderr);
        assert!(
            out.stderr.contains("standard output failed"),
            "{case}: {}",
            out.stderr
        );
        assert!(out.stderr.contains(error), "{case}: {}", out.stderr);
        // Every signal that was read and sent has its outcome in the log.
        let sent: Vec<String> = server.received().into_iter().map(|r| r.id).collect();
        assert!(!sent.is_empty(), "{case}: nothing was read");
        for id in &sent {
            assert!(
                out.stderr
                    .lines()
                    .any(|l| l.contains("output line not printed")
                        && l.contains(&format!(r#""id":"{id}""#))
                        && l.contains(r#""outcome":"delivered""#)),
                "{case}: the outcome of {id} is lost:\n{}",
                out.stderr
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_sends_the_pending_alert_summary_before_exiting() {
    let server = server().await;
    server.set_default(Reply::status(503));
    let bot = FakeBotApi::start().await.unwrap();
    let mut vars = delivery_env(&server.url(), Some(&bot));
    vars.extend([
        ("MAX_RETRIES", "3".to_owned()),
        ("RETRY_DELAY_SECONDS", "60".to_owned()),
    ]);
    let mut send = Running::spawn(command(&["send"], &vars));
    let ids = ["fold-1", "fold-2", "fold-3"];
    for id in ids {
        send.write_line(&signal_json(id));
    }
    wait_until(Duration::from_secs(10), "three first attempts", || {
        server.request_count() == 3
    });
    send.signal("TERM");
    let out = send.finish(Duration::from_secs(15));

    assert_eq!(out.code(), Some(143), "{}", out.stderr);
    let lines = out.json();
    assert_eq!(lines.len(), 3, "{lines:?}");
    assert!(
        lines.iter().all(|l| l["reason"] == "interrupted"),
        "{lines:?}"
    );
    // One alert at once; the two of the same kind that followed are folded
    // into a summary, which must go out before the exit, not be lost.
    let messages = bot.messages();
    assert_eq!(messages.len(), 2, "{messages:?}");
    for id in ids {
        assert!(
            messages.iter().any(|m| m.text.contains(id)),
            "{id} is in no message: {messages:?}"
        );
    }
}
