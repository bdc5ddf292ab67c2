//! The durable path against the direct one, side by side in one run.
//!
//! Not a criterion benchmark but a measurement program (`harness = false`):
//! a backlog drained by the outbox worker is seconds long, and what matters
//! is its rate beside `deliver`'s in the same process, against the same
//! receiver. `cargo bench -p signal-delivery --bench durable` prints lines
//! that `cargo xtask bench` reads:
//!
//! ```text
//! durable_drain backend=sqlite workers=1 backlog=100000 send_per_s=… worker_per_s=… worker_cpu_percent=… rss_start_kib=… rss_peak_kib=…
//! durable_drain backend=postgres workers=2 backlog=20000 send_per_s=… worker_per_s=… worker_cpu_percent=… rss_start_kib=… rss_peak_kib=…
//! durable_raw backend=postgres clients=4 batch=64 rows=20000 per_s=…
//! durable_latency backend=sqlite samples=200 p50_us=… p99_us=… idle_cpu_percent=…
//! durable_skipped backend=postgres reason=…
//! durable_external url=… (with BENCH_RECEIVER_URL, below)
//! ```
//!
//! - **Receiver**: an axum server on 127.0.0.1 that verifies every request
//!   with hmac-client's `Verifier` and answers 200; it notes the instant each
//!   request arrived.
//! - **send**: `DeliveryService::deliver` of the backlog's signals, 64 at a
//!   time (what `signal-delivery send` does), measured until the receiver has
//!   them all.
//! - **worker**: the same number of signals enqueued first (not timed), then
//!   [`Worker`]s with concurrency 64 and claims of 64 (the defaults of
//!   `run --concurrency 64`), measured from the worker's start until the
//!   receiver has them all. SQLite: a file in WAL mode with
//!   `synchronous=FULL`. PostgreSQL: a throwaway cluster with its default
//!   durability (`fsync=on`, see `test_postgres::durable_cluster`), one
//!   connection pool per worker, as if each were its own host.
//! - **raw**: PostgreSQL's own limit beside it: four connections claiming
//!   64 rows with `FOR UPDATE SKIP LOCKED` and marking them delivered, in two
//!   statements, on the same schema, with no HTTP at all.
//! - **latency**: an idle worker, and a second handle on the same outbox
//!   (for SQLite a second connection, as another process would have) that
//!   enqueues one signal at a time; from the moment `enqueue` returns (its ack)
//!   until the receiver has the signal. Then the whole process's CPU time
//!   over 5 s with the worker idle.
//!
//! **External receiver**: with `BENCH_RECEIVER_URL` set (`cargo xtask bench
//! --external` points it at nginx), `deliver` and the worker post there and
//! the in-process receiver is not started. That receiver does not verify
//! signatures, and the bench cannot see requests arrive: `send` ends when
//! the last `deliver` returned, a drain when the worker's last `Delivered`
//! outcome is committed (see `durable/counting.rs`). Only the SQLite drains
//! run then; the latency rows and PostgreSQL need the in-process receiver's
//! arrival times or are measured in-process already.
//!
//! Backlogs: `DURABLE_BENCH_BACKLOGS` (comma-separated, default
//! `10000,100000`; add `1000000` for the flatness check at a million) for
//! SQLite and `DURABLE_BENCH_PG_BACKLOG` (default 20000, 0 to skip) for PostgreSQL.
//! Without PostgreSQL binaries the PostgreSQL rows print `durable_skipped`.
//! Arguments (criterion's flags from `cargo bench`) are ignored.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "durable/counting.rs"]
mod counting;
#[path = "durable/postgres.rs"]
mod postgres;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use hmac_client::{SigningKeys, Verifier};
use signal_delivery::worker::{Worker, WorkerSettings};
use signal_delivery::{DeliveryConfig, DeliveryService, Signal};
use signal_outbox::{NewSignal, Outbox, OutboxExt};
use signal_outbox_sqlite::SqliteOutbox;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinSet;

pub(crate) const SECRET: &str = "whsec_MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";
pub(crate) const CONCURRENCY: usize = 64;
pub(crate) const BATCH: usize = 64;
const ENQUEUE_BATCH: usize = 500;
const LATENCY_SAMPLES: usize = 200;
/// An URL that replaces the in-process receiver (`cargo xtask bench --external`).
const RECEIVER_URL_ENV: &str = "BENCH_RECEIVER_URL";

/// The external receiver's URL, when one is set.
fn external_receiver() -> Option<String> {
    std::env::var(RECEIVER_URL_ENV)
        .ok()
        .filter(|url| !url.is_empty())
}

/// The receiver's state: the verifier and where arrivals are announced.
#[derive(Clone)]
struct Receiver {
    verifier: Verifier,
    arrivals: mpsc::UnboundedSender<Instant>,
}

async fn receive(
    State(receiver): State<Receiver>,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, &'static str) {
    let now = Instant::now();
    if receiver.verifier.verify(&headers, &body).is_err() {
        return (StatusCode::UNAUTHORIZED, "bad signature");
    }
    let _ = receiver.arrivals.send(now);
    (StatusCode::OK, r#"{"accepted":true}"#)
}

/// The receiver and the delivery service that posts to it.
pub(crate) struct Bench {
    pub(crate) service: DeliveryService,
    arrivals: mpsc::UnboundedReceiver<Instant>,
    /// Where arrivals are announced; set when the receiver is external and
    /// the bench itself must announce them.
    announce: Option<mpsc::UnboundedSender<Instant>>,
}

impl Bench {
    /// The in-process receiver, or `external`'s URL without one.
    async fn start(external: Option<String>) -> Bench {
        let (tx, arrivals) = mpsc::unbounded_channel();
        let (url, announce) = match external {
            Some(url) => (url, Some(tx)),
            None => (start_receiver(tx).await, None),
        };
        let vars = [
            ("SIGNAL_SERVER_URL", url),
            ("SIGNAL_HMAC_SECRET", SECRET.to_owned()),
            ("OPS_ALERTS_DISABLED", "true".to_owned()),
        ];
        let config = DeliveryConfig::from_lookup(|name| {
            vars.iter()
                .find(|(key, _)| *key == name)
                .map(|(_, value)| value.clone())
        })
        .unwrap();
        Bench {
            service: DeliveryService::new(&config).unwrap(),
            arrivals,
            announce,
        }
    }

    /// Waits for `count` arrivals; returns the last one's instant and the
    /// peak resident memory seen meanwhile (sampled every 5,000).
    pub(crate) async fn arrivals(&mut self, count: usize) -> (Instant, u64) {
        let mut last = Instant::now();
        let mut peak = rss_kib();
        for n in 0..count {
            last = tokio::time::timeout(Duration::from_secs(120), self.arrivals.recv())
                .await
                .unwrap_or_else(|_| panic!("only {n} of {count} signals arrived within 120 s"))
                .unwrap();
            if n % 5000 == 0 {
                peak = peak.max(rss_kib());
            }
        }
        (last, peak.max(rss_kib()))
    }

    fn drain_arrivals(&mut self) {
        while self.arrivals.try_recv().is_ok() {}
    }

    /// `deliver` of `count` signals, 64 at a time; signals per second.
    pub(crate) async fn send_rate(&mut self, count: usize, prefix: &str) -> f64 {
        let signals: Arc<Vec<Signal>> = Arc::new(
            (0..count)
                .map(|i| Signal::from_json(&body(&format!("{prefix}-{i:07}"))).unwrap())
                .collect(),
        );
        let next = Arc::new(AtomicUsize::new(0));
        let started = Instant::now();
        let mut tasks = JoinSet::new();
        for _ in 0..CONCURRENCY {
            let (service, signals, next) = (self.service.clone(), signals.clone(), next.clone());
            let announce = self.announce.clone();
            tasks.spawn(async move {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(signal) = signals.get(i) else { break };
                    assert!(service.deliver(signal).await.is_ok(), "deliver failed");
                    if let Some(announce) = &announce {
                        let _ = announce.send(Instant::now());
                    }
                }
            });
        }
        let (last, _) = self.arrivals(count).await;
        while tasks.join_next().await.is_some() {}
        count as f64 / last.duration_since(started).as_secs_f64()
    }

    /// Runs `workers` (one per outbox handle) until the receiver has
    /// `count` signals; signals per second and the memory figures.
    pub(crate) async fn drain(&mut self, handles: Vec<Arc<dyn Outbox>>, count: usize) -> Drain {
        let rss_start_kib = rss_kib();
        let cpu_start = cpu_ticks();
        let started = Instant::now();
        let mut stops = Vec::new();
        let mut runs = JoinSet::new();
        for (n, outbox) in handles.into_iter().enumerate() {
            let outbox = match &self.announce {
                Some(announce) => counting::Counting::wrap(outbox, announce.clone()),
                None => outbox,
            };
            let (stop, stopped) = oneshot::channel::<()>();
            stops.push(stop);
            let worker = Worker::new(outbox, self.service.clone(), settings())
                .with_name(format!("bench-{n}"));
            runs.spawn(worker.run(async move {
                let _ = stopped.await;
            }));
        }
        let (last, rss_peak_kib) = self.arrivals(count).await;
        let cpu = cpu_ticks() - cpu_start;
        for stop in stops {
            let _ = stop.send(());
        }
        while let Some(run) = runs.join_next().await {
            run.unwrap().unwrap();
        }
        let seconds = last.duration_since(started).as_secs_f64();
        Drain {
            per_s: count as f64 / seconds,
            cpu_percent: cpu as f64 / TICKS_PER_SECOND / seconds * 100.0,
            rss_start_kib,
            rss_peak_kib,
        }
    }

    /// With one idle worker on `worker`, enqueues through `enqueuer` one
    /// signal at a time; the latencies from ack to arrival, sorted, and the
    /// process's CPU use while the worker idles.
    pub(crate) async fn latency(
        &mut self,
        worker: Arc<dyn Outbox>,
        enqueuer: Arc<dyn Outbox>,
        prefix: &str,
    ) -> Latency {
        let (stop, stopped) = oneshot::channel::<()>();
        let run = tokio::spawn(
            Worker::new(worker, self.service.clone(), settings())
                .with_name("bench-idle")
                .run(async move {
                    let _ = stopped.await;
                }),
        );
        // Let the worker start and settle into its idle wait.
        tokio::time::sleep(Duration::from_millis(500)).await;
        self.drain_arrivals();
        let mut micros = Vec::with_capacity(LATENCY_SAMPLES);
        for i in 0..LATENCY_SAMPLES {
            let id = format!("{prefix}-{i:05}");
            let _ = enqueuer
                .enqueue_one(NewSignal::new(id.clone(), body(&id)))
                .await
                .unwrap();
            let acked = Instant::now();
            let (arrived, _) = self.arrivals(1).await;
            micros.push(arrived.saturating_duration_since(acked).as_micros() as u64);
            // Idle again before the next one, as a trickle of signals would be.
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        micros.sort_unstable();
        tokio::time::sleep(Duration::from_millis(500)).await;
        let (cpu_before, wall) = (cpu_ticks(), Instant::now());
        tokio::time::sleep(Duration::from_secs(5)).await;
        let ticks = cpu_ticks() - cpu_before;
        let idle_cpu_percent =
            ticks as f64 / TICKS_PER_SECOND / wall.elapsed().as_secs_f64() * 100.0;
        let _ = stop.send(());
        run.await.unwrap().unwrap();
        Latency {
            p50_us: percentile(&micros, 50),
            p99_us: percentile(&micros, 99),
            idle_cpu_percent,
        }
    }
}

pub(crate) struct Drain {
    pub(crate) per_s: f64,
    /// The whole process's CPU time over the drain, in per cent of one core.
    pub(crate) cpu_percent: f64,
    pub(crate) rss_start_kib: u64,
    pub(crate) rss_peak_kib: u64,
}

pub(crate) struct Latency {
    pub(crate) p50_us: u64,
    pub(crate) p99_us: u64,
    pub(crate) idle_cpu_percent: f64,
}

impl Latency {
    pub(crate) fn print(&self, backend: &str) {
        println!(
            "durable_latency backend={backend} samples={LATENCY_SAMPLES} p50_us={} p99_us={} idle_cpu_percent={:.2}",
            self.p50_us, self.p99_us, self.idle_cpu_percent
        );
    }
}

pub(crate) fn print_drain(backend: &str, workers: usize, backlog: usize, send: f64, drain: &Drain) {
    println!(
        "durable_drain backend={backend} workers={workers} backlog={backlog} send_per_s={send:.0} worker_per_s={:.0} worker_cpu_percent={:.0} rss_start_kib={} rss_peak_kib={}",
        drain.per_s, drain.cpu_percent, drain.rss_start_kib, drain.rss_peak_kib
    );
}

/// Claims of 64, 64 in flight, the default 200 ms poll as the backstop.
fn settings() -> WorkerSettings {
    WorkerSettings {
        lease: Duration::from_secs(30),
        poll_interval: Duration::from_millis(200),
        batch_size: BATCH,
        concurrency: CONCURRENCY,
        stats_interval: WorkerSettings::DEFAULT_STATS_INTERVAL,
        heartbeat_interval: WorkerSettings::DEFAULT_HEARTBEAT_INTERVAL,
        retention: None,
        exit_after_unavailable: Duration::from_secs(600),
    }
}

pub(crate) fn body(id: &str) -> Vec<u8> {
    format!(
        r#"{{"id":"{id}","instrument":"BTC-USD","side":"buy","price":101.5,"quantity":0.25,"strategy":"mean-reversion-4h"}}"#
    )
    .into_bytes()
}

/// Enqueues `count` signals named `prefix-N` in batches of 500.
pub(crate) async fn fill(outbox: &dyn Outbox, count: usize, prefix: &str) {
    for start in (0..count).step_by(ENQUEUE_BATCH) {
        let signals = (start..count.min(start + ENQUEUE_BATCH))
            .map(|i| {
                let id = format!("{prefix}-{i:07}");
                NewSignal::new(id.clone(), body(&id))
            })
            .collect();
        let _ = outbox.enqueue_signals(signals).await.unwrap();
    }
}

fn percentile(sorted: &[u64], p: usize) -> u64 {
    let index = (sorted.len() * p).div_ceil(100).saturating_sub(1);
    sorted.get(index).copied().unwrap_or(0)
}

/// `VmRSS` in KiB.
fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

/// Clock ticks per second of `/proc/self/stat` (USER_HZ, 100 on Linux).
const TICKS_PER_SECOND: f64 = 100.0;

/// User plus system CPU time of the whole process, in clock ticks.
fn cpu_ticks() -> u64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = rest.split(' ').collect();
    // utime and stime are fields 14 and 15 of the whole line: 11 and 12 here.
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

fn backlogs() -> Vec<usize> {
    std::env::var("DURABLE_BENCH_BACKLOGS")
        .unwrap_or_else(|_| "10000,100000".to_owned())
        .split(',')
        .map(|n| {
            n.trim()
                .parse()
                .unwrap_or_else(|_| panic!("DURABLE_BENCH_BACKLOGS: {n:?} is not a number of signals (example: 10000,100000)"))
        })
        .collect()
}

/// Starts the verifying receiver on 127.0.0.1; its URL.
async fn start_receiver(arrivals: mpsc::UnboundedSender<Instant>) -> String {
    let state = Receiver {
        verifier: Verifier::new(SigningKeys::parse(SECRET).unwrap()),
        arrivals,
    };
    let app = Router::new()
        .route("/signals", post(receive))
        .with_state(state);
    let listener = tokio::net::TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, 0))
        .await
        .unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}/signals")
}

async fn sqlite_drains(bench: &mut Bench) {
    for backlog in backlogs() {
        let send = bench.send_rate(backlog, &format!("s{backlog}")).await;
        let dir = tempfile::tempdir().unwrap();
        let outbox = Arc::new(SqliteOutbox::open(&dir.path().join("outbox.db")).unwrap());
        fill(outbox.as_ref(), backlog, &format!("q{backlog}")).await;
        let drain = bench.drain(vec![outbox as Arc<dyn Outbox>], backlog).await;
        print_drain("sqlite", 1, backlog, send, &drain);
    }
}

async fn sqlite_latency(bench: &mut Bench) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("outbox.db");
    let worker = Arc::new(SqliteOutbox::open(&path).unwrap());
    let enqueuer = Arc::new(SqliteOutbox::open(&path).unwrap());
    bench.latency(worker, enqueuer, "lat").await.print("sqlite");
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let external = external_receiver();
    runtime.block_on(async {
        let mut bench = Bench::start(external.clone()).await;
        sqlite_drains(&mut bench).await;
        if let Some(url) = external {
            println!("durable_external url={url} (signatures not verified; SQLite drains only)");
            return;
        }
        sqlite_latency(&mut bench).await;
        postgres::run(&mut bench).await;
    });
}
