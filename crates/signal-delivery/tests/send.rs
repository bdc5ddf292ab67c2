//! The `send` pipeline (`signal_delivery::send::send_stream`) against a real
//! signal server and the fake Bot API on 127.0.0.1, on tokio's paused clock:
//! every line read ends in exactly one outcome, streamed; bad lines never cut
//! the stream short; repeated ids follow `enqueue`'s rules; a stop ends
//! every signal read as `interrupted`; an output failure stops reading.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use loopback_fakes::signal_server::Reply;
use signal_delivery::send::{OutcomeLine, OutputFailed, SendReport, SendSettings, send_stream};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use support::{signal_json, stack};

fn settings(concurrency: usize) -> SendSettings {
    SendSettings::new(&signal_delivery::InputSettings::default(), concurrency)
}

/// Runs `send` over `input` to its end, collecting the outcome lines.
async fn send_all(
    service: &signal_delivery::DeliveryService,
    input: &[u8],
    settings: &SendSettings,
) -> (SendReport, Vec<OutcomeLine>) {
    let mut lines = Vec::new();
    let report = send_stream(service, input, settings, std::future::pending(), |line| {
        lines.push(line.clone());
        Ok(())
    })
    .await;
    (report, lines)
}

fn by_line(lines: &[OutcomeLine]) -> Vec<(u64, &'static str, Option<&'static str>)> {
    let mut v: Vec<_> = lines
        .iter()
        .map(|l| (l.line, l.outcome, l.reason))
        .collect();
    v.sort();
    v
}

/// SplitMix64 step: deterministic "random" failures, the same on every run.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[tokio::test(start_paused = true)]
async fn thousand_signals_with_random_transient_failures_each_end_once() {
    let s = stack(&[("MAX_RETRIES", "4")]).await;
    let counter = AtomicU64::new(7);
    s.server.set_responder(move |_| {
        let roll = mix(counter.fetch_add(1, Ordering::Relaxed)) % 100;
        match roll {
            0..=19 => Reply::status(503),
            20..=24 => Reply::status_retry_after(429, "1"),
            25..=29 => Reply::status(502),
            _ => Reply::Accept,
        }
    });
    let mut input = String::new();
    // One invalid line in the middle: it must be reported, not skipped.
    for i in 0..1000 {
        if i == 500 {
            input.push_str("{\"id\":\"broken\",\"side\":\"buy\"}\n");
        }
        input.push_str(&signal_json(&format!("bulk-{i:04}")));
        input.push('\n');
    }

    let (report, lines) = send_all(&s.service, input.as_bytes(), &settings(32)).await;
    s.service.shutdown().await;
    let summary = report.summary;

    assert!(report.read_error.is_none());
    assert_eq!(lines.len(), 1001);
    assert_eq!(summary.total(), 1001);
    let ids: Vec<&str> = lines.iter().filter_map(|l| l.id.as_deref()).collect();
    let unique: HashSet<&str> = ids.iter().copied().collect();
    assert_eq!(unique.len(), 1001, "every id exactly once");
    assert!(unique.contains("broken"));
    for i in 0..1000 {
        assert!(unique.contains(format!("bulk-{i:04}").as_str()));
    }
    let delivered = lines.iter().filter(|l| l.is_delivered()).count() as u64;
    assert_eq!(delivered, summary.delivered);
    assert_eq!(summary.delivered + summary.failed_total(), 1001);
    assert!(summary.delivered > 500, "{summary}");
    assert_eq!(summary.failed.get("invalid_signal"), Some(&1));

    // The server saw each id with one body only, and every delivered id arrived verified.
    let mut bodies: HashMap<String, HashSet<Vec<u8>>> = HashMap::new();
    for r in s.server.received() {
        assert!(r.verified);
        bodies
            .entry(r.id.clone())
            .or_default()
            .insert(r.body.to_vec());
    }
    assert!(bodies.values().all(|b| b.len() == 1));
    for line in lines.iter().filter(|l| l.is_delivered()) {
        assert!(bodies.contains_key(line.id.as_deref().unwrap()));
    }
    // Failures were alerted, grouped: far fewer messages than failures, at
    // least one (a recovered message after an outage is not a failure's).
    let failed = summary.failed_total();
    let messages = s
        .bot
        .messages()
        .iter()
        .filter(|m| !m.text.contains("RESOLVED"))
        .count() as u64;
    assert!(
        messages >= 1 && messages <= failed,
        "{messages} messages for {failed} failures"
    );
}

#[tokio::test(start_paused = true)]
async fn bad_lines_are_invalid_signals_and_reading_goes_on() {
    let s = stack(&[]).await;
    let mut input = Vec::new();
    input.extend_from_slice(signal_json("ok-1").as_bytes());
    input.push(b'\n');
    input.extend_from_slice(b"{\"id\":\"bad-utf8\",\"instrument\":\"B\xff\",\"side\":\"buy\"}\n");
    input.extend_from_slice(
        b"{\"id\":\"dup-key\",\"instrument\":\"BTC\",\"side\":\"hold\",\"side\":\"buy\"}\n",
    );
    // Over the limit: refused without being held whole.
    let huge = format!(
        "{{\"id\":\"huge\",\"instrument\":\"BTC\",\"side\":\"buy\",\"pad\":\"{}\"}}\n",
        "x".repeat(2 * 1024 * 1024)
    );
    input.extend_from_slice(huge.as_bytes());
    input.extend_from_slice(b"\n   \n");
    input.extend_from_slice(signal_json("ok-2").as_bytes());
    input.push(b'\n');
    let (report, lines) = send_all(&s.service, &input, &settings(4)).await;
    s.service.shutdown().await;

    assert_eq!(
        by_line(&lines),
        [
            (1, "delivered", None),
            (2, "failed", Some("invalid_signal")),
            (3, "failed", Some("invalid_signal")),
            (4, "failed", Some("invalid_signal")),
            (7, "delivered", None),
        ]
    );
    let error = |line: u64| {
        lines
            .iter()
            .find(|l| l.line == line)
            .and_then(|l| l.error.clone())
            .unwrap()
    };
    assert!(error(2).contains("UTF-8"), "{}", error(2));
    assert!(error(3).contains("side"), "{}", error(3));
    assert!(error(4).contains("SIGNAL_MAX_BYTES"), "{}", error(4));
    assert_eq!(report.summary.blank_lines, 2);
    assert_eq!(
        s.server.request_count(),
        2,
        "only the two good signals were sent"
    );
    let alerts = s.bot.messages();
    assert!(!alerts.is_empty(), "the invalid lines were alerted");
}

#[tokio::test(start_paused = true)]
async fn repeated_ids_are_sent_once_and_conflicts_never() {
    let s = stack(&[]).await;
    // The first copy fails once, so its repeat must wait for the outcome.
    s.server.push(Reply::status(503));
    let buy = r#"{"id":"s1","instrument":"BTC-USD","side":"buy"}"#;
    let sell = r#"{"id":"s1","instrument":"BTC-USD","side":"sell"}"#;
    let input = format!("{buy}\n{buy}\n{sell}\n{buy}\n");
    let (report, lines) = send_all(&s.service, input.as_bytes(), &settings(4)).await;
    s.service.shutdown().await;

    assert_eq!(
        by_line(&lines),
        [
            (1, "delivered", None),
            (2, "duplicate", None),
            (3, "failed", Some("conflict")),
            (4, "duplicate", None),
        ]
    );
    for line in lines.iter().filter(|l| l.outcome == "duplicate") {
        assert_eq!(line.duplicate_of, Some(1));
        assert_eq!(line.id.as_deref(), Some("s1"));
    }
    // The duplicate's line comes after its first copy's outcome.
    let position = |n: u64| lines.iter().position(|l| l.line == n).unwrap();
    assert!(position(2) > position(1));
    let conflict = lines.iter().find(|l| l.line == 3).unwrap();
    assert!(
        conflict
            .error
            .as_deref()
            .unwrap()
            .contains("line 3 has the id of line 1"),
        "{conflict:?}"
    );
    // Two attempts of line 1 (503, then 200); the sell was never sent.
    let received = s.server.received();
    assert_eq!(received.len(), 2);
    assert!(received.iter().all(|r| r.body.as_ref() == buy.as_bytes()));
    assert_eq!(report.summary.duplicates, 2);
    assert_eq!(report.summary.failed.get("conflict"), Some(&1));
    let alerts: Vec<String> = s.bot.messages().into_iter().map(|m| m.text).collect();
    assert!(alerts.iter().any(|t| t.contains("s1")), "{alerts:?}");
}

#[tokio::test(start_paused = true)]
async fn each_outcome_is_written_before_the_next_line_is_read() {
    let s = stack(&[]).await;
    let (mut writer, reader) = tokio::io::duplex(64 * 1024);
    let (outcomes_tx, mut outcomes) = tokio::sync::mpsc::unbounded_channel::<OutcomeLine>();
    let producer = tokio::spawn(async move {
        use tokio::io::AsyncWriteExt;
        let mut seen = Vec::new();
        for i in 0..3 {
            let line = format!("{}\n", signal_json(&format!("p-{i}")));
            writer.write_all(line.as_bytes()).await.unwrap();
            // A producer that waits for each outcome before writing the next.
            let outcome = outcomes.recv().await.unwrap();
            seen.push(outcome.id.unwrap());
        }
        drop(writer);
        seen
    });
    let settings = settings(4);
    let report = send_stream(
        &s.service,
        reader,
        &settings,
        std::future::pending(),
        |line| {
            outcomes_tx.send(line.clone()).unwrap();
            Ok(())
        },
    )
    .await;
    assert_eq!(producer.await.unwrap(), ["p-0", "p-1", "p-2"]);
    assert_eq!(report.summary.delivered, 3);
}

#[tokio::test(start_paused = true)]
async fn a_stop_ends_every_signal_read_as_interrupted_and_alerts_it() {
    let s = stack(&[("MAX_RETRIES", "5"), ("RETRY_DELAY_SECONDS", "30")]).await;
    s.server.set_responder(|r| {
        if r.id.starts_with("wait") {
            Reply::status(503)
        } else if r.id.starts_with("slow") {
            Reply::Hang
        } else {
            Reply::Accept
        }
    });
    let input = format!(
        "{}\n{}\n{}\n",
        signal_json("ok-0"),
        signal_json("wait-1"),
        signal_json("slow-2")
    );
    let mut settings = settings(8);
    settings.shutdown_grace = Duration::from_secs(2);
    let stop = tokio::time::sleep(Duration::from_secs(5));
    let mut lines = Vec::new();
    let report = send_stream(&s.service, input.as_bytes(), &settings, stop, |line| {
        lines.push(line.clone());
        Ok(())
    })
    .await;
    s.service.shutdown().await;

    assert!(report.stopped);
    assert_eq!(
        by_line(&lines),
        [
            (1, "delivered", None),
            (2, "failed", Some("interrupted")),
            (3, "failed", Some("interrupted")),
        ]
    );
    let wait = lines.iter().find(|l| l.line == 2).unwrap();
    assert_eq!(wait.attempts, 1, "the retry that was waiting was not made");
    assert!(wait.error.as_deref().unwrap().contains("503"), "{wait:?}");
    let slow = lines.iter().find(|l| l.line == 3).unwrap();
    assert_eq!(slow.attempts, 1);
    assert!(
        slow.error.as_deref().unwrap().contains("grace period"),
        "{slow:?}"
    );
    let alerts: Vec<String> = s.bot.messages().into_iter().map(|m| m.text).collect();
    assert!(
        alerts
            .iter()
            .any(|t| t.contains("wait-1") || t.contains("slow-2")),
        "{alerts:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn an_output_failure_stops_reading_but_ends_what_was_read() {
    let s = stack(&[]).await;
    let input: String = (0..50)
        .map(|i| signal_json(&format!("o-{i}")) + "\n")
        .collect();
    let mut calls = 0;
    let report = send_stream(
        &s.service,
        input.as_bytes(),
        &settings(4),
        std::future::pending(),
        |_line| {
            calls += 1;
            Err(OutputFailed)
        },
    )
    .await;
    assert!(report.output_failed);
    // Every signal read got its outcome (handed to the sink, which logs it),
    // and reading stopped long before the end of the input.
    assert_eq!(calls as u64, report.summary.total());
    assert_eq!(report.summary.total() as usize, s.server.request_count());
    assert!(report.summary.total() < 50, "{}", report.summary);
}
