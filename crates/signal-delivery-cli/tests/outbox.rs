//! The outbox commands as subprocesses: the crash test (SIGKILL at random
//! moments, nothing lost), graceful shutdown on SIGTERM, start-up errors for
//! a corrupted or unwritable database, and `enqueue` acknowledgements.
//!
//! These run in real time against a `FakeSignalServer` on 127.0.0.1 in the
//! test process, with short settings so the whole file stays well under a
//! minute in a debug build.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use loopback_fakes::signal_server::{FakeSignalServer, Reply};
use signal_outbox::{ListFilter, OutboxAdmin, State};
use signal_outbox_sqlite::SqliteOutbox;
use std::collections::HashSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "sd-outbox-cli-{name}-{}-{}",
        std::process::id(),
        signal_outbox::now_millis()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The binary with a clean, fast configuration pointing at `server_url`.
fn command(server_url: &str, outbox: &Path, args: &[&str]) -> Command {
    let mut command = common::bare(args);
    command
        .env("SIGNAL_SERVER_URL", server_url)
        .env("SIGNAL_HMAC_SECRET", common::SECRET)
        .env("OPS_ALERTS_DISABLED", "true")
        .env("OUTBOX_PATH", outbox)
        .env("RETRY_BUDGET", "off")
        .env("RETRY_DELAY_SECONDS", "1")
        .env("RETRY_MAX_DELAY_SECONDS", "2")
        .env("RETRY_JITTER", "none")
        .env("MAX_RETRIES", "10")
        .env("SIGNAL_REQUEST_TIMEOUT_SECONDS", "2")
        .env("OUTBOX_LEASE_SECONDS", "2")
        .env("OUTBOX_POLL_INTERVAL_MS", "50")
        .env("OUTBOX_BATCH_SIZE", "100")
        .env("RUST_LOG", "warn");
    command
}

fn enqueue(mut command: Command, input: &str) -> Output {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_owned();
    // A command that exits early (exit 2) closes its stdin: a broken pipe
    // here is expected then, and the exit code tells the story.
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(input.as_bytes());
    });
    let output = child.wait_with_output().unwrap();
    writer.join().unwrap();
    output
}

fn spawn_worker(mut command: Command, log: &Path) -> Child {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .unwrap();
    command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap()
}

fn terminate(child: &Child) {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

/// Waits for the child to exit, at most `limit`.
async fn wait_exit(child: &mut Child, limit: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the worker did not exit within {limit:?}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// SplitMix64: deterministic pseudo-random numbers for the test.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

async fn server() -> FakeSignalServer {
    FakeSignalServer::start(hmac_client::SigningKeys::parse(common::SECRET).unwrap())
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_test_sigkill_at_random_moments_loses_nothing() {
    const SIGNALS: usize = 2000;
    const KILLS: u64 = 4;
    let started = Instant::now();
    let server = server().await;
    // About a third of the requests fail with a 503, deterministically.
    let requests = Arc::new(AtomicU64::new(0));
    let counter = Arc::clone(&requests);
    server.set_responder(move |_| {
        let n = counter.fetch_add(1, Ordering::Relaxed);
        if mix(n).is_multiple_of(3) {
            Reply::status(503)
        } else {
            Reply::Accept
        }
    });
    let dir = temp_dir("crash");
    let db = dir.join("outbox.db");
    let log = dir.join("worker.log");

    let input: String = (0..SIGNALS)
        .map(|i| common::signal_json(&format!("crash-{i:04}")) + "\n")
        .collect();
    let output = enqueue(command(&server.url(), &db, &["enqueue"]), &input);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let acks = String::from_utf8(output.stdout).unwrap();
    assert_eq!(acks.lines().count(), SIGNALS);
    assert!(acks.lines().all(|l| l.contains(r#""outcome":"enqueued""#)));

    let outbox = SqliteOutbox::open(&db).unwrap();
    let run_args = ["run", "--concurrency", "16"];
    for kill in 0..KILLS {
        let mut worker = spawn_worker(command(&server.url(), &db, &run_args), &log);
        // A random moment: 300 ms to 1.2 s into the run.
        let wait = 300 + mix(1000 + kill) % 900;
        tokio::time::sleep(Duration::from_millis(wait)).await;
        worker.kill().unwrap(); // SIGKILL on Unix
        let status = worker.wait().unwrap();
        assert!(!status.success(), "the worker was killed");
        let stats = outbox.stats().await.unwrap();
        eprintln!(
            "kill {} after {wait} ms: {} received, {stats:?}",
            kill + 1,
            server.request_count()
        );
    }
    let killed_at = server.request_count();

    // The last worker runs until everything has an outcome, then stops gracefully.
    let mut worker = spawn_worker(command(&server.url(), &db, &run_args), &log);
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        let stats = outbox.stats().await.unwrap();
        if stats.pending == 0 && stats.in_flight == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not finished in time: {stats:?}\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    terminate(&worker);
    let status = wait_exit(&mut worker, Duration::from_secs(10)).await;
    assert!(status.success(), "graceful exit after SIGTERM: {status:?}");

    // Nothing lost: every row has a final state, every id reached the receiver.
    let stats = outbox.stats().await.unwrap();
    assert_eq!(stats.total(), SIGNALS as u64);
    assert_eq!(
        stats.delivered + stats.dead_lettered,
        SIGNALS as u64,
        "{stats:?}"
    );
    let received = server.received();
    assert!(received.iter().all(|r| r.verified));
    let ids: HashSet<&str> = received.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(
        ids.len(),
        SIGNALS,
        "every webhook-id received at least once"
    );
    for i in 0..SIGNALS {
        assert!(ids.contains(format!("crash-{i:04}").as_str()));
    }
    // Every delivered row was really accepted by the receiver at least once.
    let accepted: HashSet<&str> = received
        .iter()
        .filter(|r| r.answered == 200)
        .map(|r| r.id.as_str())
        .collect();
    for row in outbox
        .list(ListFilter::new(SIGNALS).state(State::Delivered))
        .await
        .unwrap()
    {
        assert!(
            accepted.contains(row.id.as_str()),
            "{} never accepted",
            row.id
        );
    }
    let duplicates = received.iter().filter(|r| r.answered == 200).count() - accepted.len();
    eprintln!(
        "crash test: {} requests ({killed_at} before the last start), {} delivered, {} dead-lettered, \
         {duplicates} duplicate deliveries (at least once), {:.1} s",
        received.len(),
        stats.delivered,
        stats.dead_lettered,
        started.elapsed().as_secs_f64()
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_finishes_attempts_in_flight_and_leaves_nothing_claimed() {
    let server = server().await;
    // Every request hangs until the client's 2 s timeout: attempts are in
    // flight when SIGTERM arrives.
    server.set_default(Reply::Hang);
    let dir = temp_dir("sigterm");
    let db = dir.join("outbox.db");
    let log = dir.join("worker.log");
    let input: String = (0..20)
        .map(|i| common::signal_json(&format!("term-{i:02}")) + "\n")
        .collect();
    let output = enqueue(command(&server.url(), &db, &["enqueue"]), &input);
    assert_eq!(output.status.code(), Some(0));

    let mut worker = spawn_worker(
        command(&server.url(), &db, &["run", "--concurrency", "4"]),
        &log,
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while server.request_count() < 4 {
        assert!(Instant::now() < deadline, "the worker made no attempts");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    terminate(&worker);
    let status = wait_exit(&mut worker, Duration::from_secs(8)).await;
    let log_text = std::fs::read_to_string(&log).unwrap_or_default();
    assert_eq!(status.code(), Some(0), "{log_text}");
    assert!(log_text.contains("worker stopped"), "{log_text}");

    let outbox = SqliteOutbox::open(&db).unwrap();
    let stats = outbox.stats().await.unwrap();
    assert_eq!(stats.in_flight, 0, "{stats:?}");
    assert_eq!(stats.pending, 20, "{stats:?}");
    // The attempts in flight were finished (timed out) and recorded.
    let attempted: Vec<_> = outbox
        .list(ListFilter::new(100).state(State::Pending))
        .await
        .unwrap()
        .into_iter()
        .filter(|row| row.attempts == 1)
        .collect();
    assert_eq!(attempted.len(), server.request_count(), "{attempted:?}");
    assert!(attempted.iter().all(|row| row.last_error.is_some()));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_corrupted_or_unwritable_outbox_is_a_start_up_error_naming_the_path() {
    let dir = temp_dir("corrupt");
    let corrupt = dir.join("corrupt.db");
    std::fs::write(&corrupt, vec![0x5a; 8192]).unwrap();
    let file = dir.join("a-file");
    std::fs::write(&file, "not a directory").unwrap();
    let under_file = file.join("outbox.db");
    let missing_dir = dir.join("missing").join("outbox.db");
    let url = "http://127.0.0.1:9/signals";

    for (path, needle) in [
        (&corrupt, "is not a SQLite database"),
        (&under_file, "cannot open the signal outbox"),
        (&missing_dir, "does not exist"),
    ] {
        for args in [&["run"][..], &["enqueue"][..], &["outbox", "stats"][..]] {
            let output = enqueue(command(url, path, args), "");
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert_eq!(output.status.code(), Some(2), "{args:?} {path:?}: {stderr}");
            let shown = path.display().to_string();
            assert!(
                stderr.contains(&shown),
                "{args:?}: path not named:\n{stderr}"
            );
            if args[0] != "outbox" {
                assert!(stderr.contains(needle), "{args:?}: {stderr}");
            }
        }
    }
    // The corrupted file was left as it was.
    assert_eq!(std::fs::read(&corrupt).unwrap(), vec![0x5a; 8192]);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn enqueue_acknowledges_each_line_after_commit_with_its_outcome() {
    let dir = temp_dir("acks");
    let db = dir.join("outbox.db");
    let url = "http://127.0.0.1:9/signals";
    let a = common::signal_json("ack-a");
    let b = common::signal_json("ack-b");

    let output = enqueue(command(url, &db, &["enqueue"]), &format!("{a}\n{b}\n"));
    assert_eq!(output.status.code(), Some(0));
    let lines: Vec<serde_json::Value> = String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(
        lines,
        [
            serde_json::json!({"id": "ack-a", "outcome": "enqueued", "line": 1}),
            serde_json::json!({"id": "ack-b", "outcome": "enqueued", "line": 2}),
        ]
    );

    // A producer retry is a duplicate (exit 0); same id, other body is a conflict (exit 1).
    let output = enqueue(command(url, &db, &["enqueue"]), &format!("{a}\n"));
    assert_eq!(output.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&output.stdout).contains(r#""outcome":"duplicate""#));

    let changed = a.replace("101.5", "99.0");
    let input = format!("{changed}\n\n{{\"id\":\"ack-c\"}}\nnot json\n{b}\n");
    let output = enqueue(command(url, &db, &["enqueue"]), &input);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    let lines: Vec<serde_json::Value> = String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let outcomes: Vec<(&str, u64)> = lines
        .iter()
        .map(|l| (l["outcome"].as_str().unwrap(), l["line"].as_u64().unwrap()))
        .collect();
    assert_eq!(
        outcomes,
        [
            ("conflict", 1),
            ("invalid", 3),
            ("invalid", 4),
            ("duplicate", 5)
        ]
    );
    assert_eq!(lines[1]["id"], "ack-c");
    assert!(lines[1]["error"].as_str().unwrap().contains("instrument"));
    assert!(stderr.contains("1 conflict, 2 invalid"), "{stderr}");
    assert!(stderr.contains("1 blank line(s) ignored"), "{stderr}");

    // The stored body is the first one; nothing else was stored.
    let outbox = SqliteOutbox::open(&db).unwrap();
    let stats = tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(outbox.stats());
    assert_eq!(stats.unwrap().pending, 2);

    // Configuration errors exit 2 before reading anything.
    let mut bad = command(url, &db, &["enqueue"]);
    bad.env("OUTBOX_LEASE_SECONDS", "");
    let output = enqueue(bad, &format!("{a}\n"));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr.contains("OUTBOX_LEASE_SECONDS"), "{stderr}");
    assert!(output.stdout.is_empty());

    // The operator commands: list and replay.
    let output = command(url, &db, &["outbox", "list", "--state", "pending"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(String::from_utf8_lossy(&output.stdout).lines().count(), 2);
    let output = command(url, &db, &["outbox", "replay", "ack-a"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("dead_lettered"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_serves_metrics_with_outbox_depth_and_healthz() {
    let server = server().await;
    let dir = temp_dir("metrics");
    let db = dir.join("outbox.db");
    let log = dir.join("worker.log");
    let input: String = (0..3)
        .map(|i| common::signal_json(&format!("metric-{i}")) + "\n")
        .collect();
    assert_eq!(
        enqueue(command(&server.url(), &db, &["enqueue"]), &input)
            .status
            .code(),
        Some(0)
    );
    let addr = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let mut worker = spawn_worker(
        command(
            &server.url(),
            &db,
            &["run", "--metrics-addr", &addr.to_string()],
        ),
        &log,
    );
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(15);
    let metrics = loop {
        // The depth gauges are refreshed at start and every 5 s.
        if let Ok(response) = client.get(format!("http://{addr}/metrics")).send().await {
            let text = response.text().await.unwrap();
            if server.request_count() == 3
                && text.contains(r#"signal_delivery_outbox_signals{state="delivered"} 3"#)
            {
                break text;
            }
        }
        assert!(
            Instant::now() < deadline,
            "no metrics:\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(
        metrics.contains("signal_delivery_signals_delivered_total 3"),
        "{metrics}"
    );
    assert!(
        metrics.contains("signal_delivery_outbox_oldest_pending_age_seconds 0"),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"signal_delivery_outbox_signals{state="pending"} 0"#),
        "{metrics}"
    );
    // The worker loop runs, and says which build it is.
    assert!(
        metrics.contains("\nsignal_delivery_worker_up 1\n"),
        "{metrics}"
    );
    let build = format!(
        "signal_delivery_build_info{{version=\"{}\"}} 1",
        env!("CARGO_PKG_VERSION")
    );
    assert!(metrics.contains(&build), "{build} missing:\n{metrics}");
    let health = client
        .get(format!("http://{addr}/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    terminate(&worker);
    let status = wait_exit(&mut worker, Duration::from_secs(8)).await;
    assert_eq!(status.code(), Some(0));
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_while_busy_stops_claiming_and_records_every_attempt() {
    const SIGNALS: usize = 1500;
    let server = server().await;
    let dir = temp_dir("busy");
    let db = dir.join("outbox.db");
    let log = dir.join("worker.log");
    let input: String = (0..SIGNALS)
        .map(|i| common::signal_json(&format!("busy-{i:04}")) + "\n")
        .collect();
    assert_eq!(
        enqueue(command(&server.url(), &db, &["enqueue"]), &input)
            .status
            .code(),
        Some(0)
    );
    let mut worker = spawn_worker(command(&server.url(), &db, &["run"]), &log);
    let deadline = Instant::now() + Duration::from_secs(10);
    while server.request_count() < 100 {
        assert!(Instant::now() < deadline, "the worker made no attempts");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    terminate(&worker);
    let status = wait_exit(&mut worker, Duration::from_secs(8)).await;
    let log_text = std::fs::read_to_string(&log).unwrap_or_default();
    assert_eq!(status.code(), Some(0), "{log_text}");

    let outbox = SqliteOutbox::open(&db).unwrap();
    let stats = outbox.stats().await.unwrap();
    assert_eq!(stats.in_flight, 0, "{stats:?}");
    assert!(stats.pending > 0, "stopped before the end: {stats:?}");
    assert_eq!(stats.pending + stats.delivered, SIGNALS as u64, "{stats:?}");
    // Every attempt that reached the receiver was recorded, and only those.
    let accepted: HashSet<String> = server.received().into_iter().map(|r| r.id).collect();
    let delivered: HashSet<String> = outbox
        .list(ListFilter::new(SIGNALS).state(State::Delivered))
        .await
        .unwrap()
        .into_iter()
        .map(|row| row.id)
        .collect();
    assert_eq!(accepted, delivered);
    let _ = std::fs::remove_dir_all(&dir);
}
