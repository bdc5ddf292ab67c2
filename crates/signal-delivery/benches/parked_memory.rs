//! Peak memory with 10,000 signals waiting between retries.
//!
//! Not a criterion benchmark but a measurement program (`harness = false`):
//! `cargo bench -p signal-delivery --bench parked_memory` prints one line
//!
//! ```text
//! parked_memory signals=10000 rss_before_kib=… rss_parked_kib=… hwm_kib=… bytes_per_signal=…
//! ```
//!
//! which `cargo xtask bench` reads. The set-up: a local axum server on
//! 127.0.0.1 first answers 200 (to open and keep alive the connections of the
//! delivery service's pool, outside the measurement), then 503 to everything.
//! 10,000 `DeliveryService::deliver` futures, each with its own signal, are
//! spawned in waves of 256; each makes its first attempt, gets the 503 and
//! parks in its 60 s backoff sleep. Resident memory (`VmRSS`) is read from
//! `/proc/self/status` before the first wave and once every signal is parked,
//! with the peak (`VmHWM`), and the size of one `deliver` future (what a
//! parked signal's task holds beside its signal). The retry budget is off
//! (`RETRY_BUDGET=off`), so that only the parked retries are measured, not
//! the budget pacing the retries that follow. Arguments (criterion's flags from `cargo bench`) are ignored.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use signal_delivery::{DeliveryConfig, DeliveryService, Signal};

const SIGNALS: usize = 10_000;
const WAVE: usize = 256;
const SECRET: &str = "whsec_MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";

#[derive(Default)]
struct Server {
    failing: AtomicBool,
    failures: AtomicUsize,
}

async fn answer(State(server): State<Arc<Server>>) -> (StatusCode, &'static str) {
    if server.failing.load(Ordering::SeqCst) {
        server.failures.fetch_add(1, Ordering::SeqCst);
        (StatusCode::SERVICE_UNAVAILABLE, "unavailable")
    } else {
        (StatusCode::OK, r#"{"accepted":true}"#)
    }
}

/// `VmRSS` and `VmHWM` in KiB.
fn memory_kib() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|rest| {
                rest.trim()
                    .trim_end_matches("kB")
                    .trim()
                    .parse::<u64>()
                    .ok()
            })
            .unwrap()
    };
    (field("VmRSS:"), field("VmHWM:"))
}

fn signal(n: usize) -> Signal {
    let json = format!(
        r#"{{"id":"sig_parked_{n:05}","instrument":"BTC-USD","side":"buy","price":101.5,"quantity":0.25}}"#
    );
    Signal::from_json(json.as_bytes()).unwrap()
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let server = Arc::new(Server::default());
    let addr = runtime.block_on(async {
        let app = Router::new()
            .route("/signals", post(answer))
            .with_state(server.clone());
        let listener = tokio::net::TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, 0))
            .await
            .unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        addr
    });
    let vars = [
        ("SIGNAL_SERVER_URL", format!("http://{addr}/signals")),
        ("SIGNAL_HMAC_SECRET", SECRET.to_owned()),
        ("OPS_ALERTS_DISABLED", "true".to_owned()),
        ("MAX_RETRIES", "5".to_owned()),
        ("RETRY_DELAY_SECONDS", "60".to_owned()),
        ("RETRY_JITTER", "none".to_owned()),
        ("RETRY_BUDGET", "off".to_owned()),
    ];
    let config = DeliveryConfig::from_lookup(|name| {
        vars.iter()
            .find(|(key, _)| *key == name)
            .map(|(_, value)| value.clone())
    })
    .unwrap();
    let service = {
        let _guard = runtime.enter();
        DeliveryService::new(&config).unwrap()
    };

    // Warm up: the pool's connections, the runtime's workers, the allocator.
    runtime.block_on(async {
        let mut tasks = tokio::task::JoinSet::new();
        for n in 0..4 * WAVE {
            let service = service.clone();
            tasks.spawn(async move { service.deliver(&signal(n)).await.is_ok() });
        }
        while let Some(done) = tasks.join_next().await {
            assert!(done.unwrap(), "warm-up deliveries succeed");
        }
    });
    server.failing.store(true, Ordering::SeqCst);
    std::thread::sleep(Duration::from_millis(200));
    let (rss_before, _) = memory_kib();

    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    runtime.block_on(async {
        for wave_start in (0..SIGNALS).step_by(WAVE) {
            let wave_end = (wave_start + WAVE).min(SIGNALS);
            for n in wave_start..wave_end {
                let service = service.clone();
                tasks.spawn(async move { service.deliver(&signal(n)).await.is_ok() });
            }
            // Wait until this wave has failed its first attempt, so at most one
            // wave is in flight and the pool never grows past it.
            while server.failures.load(Ordering::SeqCst) < wave_end {
                assert!(
                    started.elapsed() < Duration::from_secs(50),
                    "first attempts too slow"
                );
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
        // Let the last answers reach their futures, which then park.
        tokio::time::sleep(Duration::from_millis(500)).await;
    });
    assert_eq!(server.failures.load(Ordering::SeqCst), SIGNALS);
    assert_eq!(tasks.len(), SIGNALS, "every signal is still waiting");
    let (rss_parked, hwm) = memory_kib();
    let per_signal = (rss_parked.saturating_sub(rss_before) * 1024) / SIGNALS as u64;
    let future_bytes = size_of_val(&service.deliver(&signal(0)));
    println!(
        "parked_memory signals={SIGNALS} rss_before_kib={rss_before} rss_parked_kib={rss_parked} hwm_kib={hwm} bytes_per_signal={per_signal} future_bytes={future_bytes} setup_seconds={:.1}",
        started.elapsed().as_secs_f64()
    );
    tasks.abort_all();
    drop(tasks);
    runtime.shutdown_timeout(Duration::from_secs(1));
}
