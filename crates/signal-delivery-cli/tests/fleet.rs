//! The fleet crash test: three `signal-delivery run` workers on one
//! PostgreSQL outbox, 2,000 signals, SIGKILLs with restarts at
//! pseudo-random moments and one PostgreSQL restart in the middle. Every
//! id reaches the verifying receiver, nothing is left pending or in
//! flight, and redeliveries stay within what the kills and the restart
//! can explain (the figure is printed).
//!
//! Real time, real processes, a receiver on 127.0.0.1 in the test process
//! that fails a fifth of the requests with a 503; short leases and polls
//! keep it well under two minutes in a debug build. Without PostgreSQL
//! binaries it prints SKIPPED (a failure with
//! SIGNAL_OUTBOX_REQUIRE_POSTGRES=1).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use loopback_fakes::signal_server::{FakeSignalServer, Reply};
use signal_outbox::{OutboxAdmin, OutboxStats};
use signal_outbox_postgres::{PgConfig, PgOptions, PgOutbox};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

const SIGNALS: usize = 2000;
const WORKERS: usize = 3;
const KILLS: u64 = 6;
/// Attempts in flight per worker (`run --concurrency`).
const CONCURRENCY: usize = 16;
/// How long PostgreSQL stays down in the middle of the run.
const DOWN: Duration = Duration::from_millis(1500);

/// SplitMix64: deterministic pseudo-random numbers for the test.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn command(url: &str, server_url: &str, args: &[&str]) -> Command {
    let mut command = common::bare(args);
    command
        .env("SIGNAL_SERVER_URL", server_url)
        .env("SIGNAL_HMAC_SECRET", common::SECRET)
        .env("OPS_ALERTS_DISABLED", "true")
        .env("OUTBOX_URL", url)
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

fn spawn_worker(url: &str, server_url: &str, log: &Path) -> Child {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .unwrap();
    let concurrency = CONCURRENCY.to_string();
    command(url, server_url, &["run", "--concurrency", &concurrency])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap()
}

/// Fails, with what the worker printed, if it is no longer running.
fn assert_running(slot: usize, worker: &mut Child, log: &Path, when: &str) {
    if let Some(status) = worker.try_wait().unwrap() {
        panic!(
            "worker {slot} exited {when} ({status}); its log:\n{}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
    }
}

async fn stats(outbox: &PgOutbox) -> OutboxStats {
    // The test's own pool loses its connections in the restart too.
    for _ in 0..50 {
        if let Ok(stats) = outbox.stats().await {
            return stats;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    outbox.stats().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fleet_of_three_survives_sigkills_and_a_postgres_restart_losing_nothing() {
    let Some(cluster) = test_postgres::cluster_or_skip("fleet_crash_test") else {
        return;
    };
    let started = Instant::now();
    let url = cluster.fresh_database_url().await;
    let server = FakeSignalServer::start(hmac_client::SigningKeys::parse(common::SECRET).unwrap())
        .await
        .unwrap();
    // A fifth of the requests fail with a 503, deterministically.
    let requests = Arc::new(AtomicU64::new(0));
    let counter = Arc::clone(&requests);
    server.set_responder(move |_| {
        if mix(counter.fetch_add(1, Ordering::Relaxed)).is_multiple_of(5) {
            Reply::status(503)
        } else {
            Reply::Accept
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let logs: Vec<PathBuf> = (0..WORKERS)
        .map(|i| dir.path().join(format!("worker-{i}.log")))
        .collect();

    let input: String = (0..SIGNALS)
        .map(|i| common::signal_json(&format!("fleet-{i:04}")) + "\n")
        .collect();
    let enqueued = common::run(command(&url, &server.url(), &["enqueue"]), input);
    assert_eq!(enqueued.code(), Some(0), "{}", enqueued.stderr);
    assert_eq!(enqueued.lines.len(), SIGNALS);
    let enqueue_s = started.elapsed().as_secs_f64();

    let config = PgConfig::from_url_with(&url, &test_postgres::no_env).unwrap();
    let outbox = PgOutbox::connect_with(config, PgOptions::default().with_pool_size(2))
        .await
        .unwrap();
    let mut workers: Vec<Child> = logs
        .iter()
        .map(|log| spawn_worker(&url, &server.url(), log))
        .collect();

    for kill in 0..KILLS {
        // A random moment: 300 ms to 1 s after the previous event.
        tokio::time::sleep(Duration::from_millis(300 + mix(1000 + kill) % 700)).await;
        let slot = usize::try_from(mix(2000 + kill) % WORKERS as u64).unwrap();
        workers[slot].kill().unwrap(); // SIGKILL
        assert!(!workers[slot].wait().unwrap().success());
        workers[slot] = spawn_worker(&url, &server.url(), &logs[slot]);
        eprintln!(
            "kill {} (worker {slot}) at {:.1} s: {} requests so far",
            kill + 1,
            started.elapsed().as_secs_f64(),
            server.request_count()
        );
        if kill == KILLS / 2 - 1 {
            let before = server.request_count();
            tokio::task::spawn_blocking(move || cluster.restart(DOWN))
                .await
                .unwrap()
                .unwrap();
            eprintln!(
                "PostgreSQL restarted at {:.1} s ({} ms down; {} requests during it)",
                started.elapsed().as_secs_f64(),
                DOWN.as_millis(),
                server.request_count() - before
            );
            // The workers must have ridden it out (claims retried with back-off).
            for (slot, worker) in workers.iter_mut().enumerate() {
                assert_running(slot, worker, &logs[slot], "during the PostgreSQL restart");
            }
        }
    }

    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let stats = stats(&outbox).await;
        if stats.pending == 0 && stats.in_flight == 0 {
            break;
        }
        for (slot, worker) in workers.iter_mut().enumerate() {
            assert_running(slot, worker, &logs[slot], "before the outbox was drained");
        }
        assert!(Instant::now() < deadline, "not drained in time: {stats:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for worker in &workers {
        let status = Command::new("kill")
            .args(["-TERM", &worker.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }
    for (slot, worker) in workers.iter_mut().enumerate() {
        let deadline = Instant::now() + Duration::from_secs(15);
        let status = loop {
            if let Some(status) = worker.try_wait().unwrap() {
                break status;
            }
            assert!(Instant::now() < deadline, "worker {slot} ignored SIGTERM");
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        assert!(
            status.success(),
            "worker {slot}: {status}\n{}",
            std::fs::read_to_string(&logs[slot]).unwrap_or_default()
        );
    }

    // Nothing lost, nothing stuck: every row final, every id received.
    let stats = stats(&outbox).await;
    assert_eq!(stats.total(), SIGNALS as u64, "{stats:?}");
    assert_eq!((stats.pending, stats.in_flight), (0, 0), "{stats:?}");
    assert_eq!(stats.delivered + stats.dead_lettered, SIGNALS as u64);
    let received = server.received();
    assert!(received.iter().all(|r| r.verified), "every request signed");
    let ids: HashSet<&str> = received.iter().map(|r| r.id.as_str()).collect();
    for i in 0..SIGNALS {
        assert!(
            ids.contains(format!("fleet-{i:04}").as_str()),
            "fleet-{i:04} never arrived"
        );
    }
    let accepted: HashSet<&str> = received
        .iter()
        .filter(|r| r.answered == 200)
        .map(|r| r.id.as_str())
        .collect();
    assert_eq!(
        accepted.len() as u64,
        stats.delivered,
        "delivered = accepted"
    );
    // A redelivery is an accepted attempt whose outcome was not committed:
    // at most what a killed worker had in flight (one per slot) and waiting
    // for its commit (up to one more per slot: the slot is given back when
    // the outcome is handed to the group commit), and the same for every
    // worker while PostgreSQL was down.
    let redeliveries = received.iter().filter(|r| r.answered == 200).count() - accepted.len();
    let bound = (KILLS as usize + WORKERS) * 2 * CONCURRENCY;
    eprintln!(
        "fleet crash test: {} requests for {SIGNALS} signals, {} delivered, {} dead-lettered, \
         {redeliveries} redeliveries (bound {bound}), enqueue {enqueue_s:.1} s, total {:.1} s",
        received.len(),
        stats.delivered,
        stats.dead_lettered,
        started.elapsed().as_secs_f64()
    );
    assert!(
        redeliveries <= bound,
        "{redeliveries} redeliveries > {bound}"
    );
    // The restart was felt, and ridden out: whichever of claims, group
    // commits, lease renewals or start-ups met it (which ones depends on
    // what each worker was doing in those 1.5 s) failed and were retried.
    let logs: String = logs
        .iter()
        .map(|log| std::fs::read_to_string(log).unwrap_or_default())
        .collect();
    let count = |needle: &str| logs.matches(needle).count();
    let claim_retries = count("cannot claim from the outbox; retrying");
    let record_retries = count("cannot record outcomes now; retrying");
    let lease_retries = count("cannot extend the leases of the attempts in flight");
    let start_retries = count("cannot open the outbox yet; retrying");
    eprintln!(
        "retried after failing: claims {claim_retries}, group commits {record_retries}, \
         lease renewals {lease_retries}, start-ups {start_retries}"
    );
    assert!(
        claim_retries + record_retries + lease_retries + start_retries > 0,
        "no worker saw the restart:\n{logs}"
    );
    // A worker's lease renewal and its group commit lock the same rows at
    // the same time: in one order (by id) they wait, in two they deadlock.
    assert!(!logs.contains("deadlock detected"), "{logs}");
    assert!(!logs.contains("panicked"), "{logs}");
    assert!(started.elapsed() < Duration::from_secs(100), "too slow");
}
