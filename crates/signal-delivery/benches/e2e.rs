//! End to end on loopback: the real delivery stack against a bare reqwest
//! POST, both to the same axum server on 127.0.0.1 in the same run.
//!
//! - `signal-delivery`: `DeliveryService::deliver` (retry loop, signing with
//!   hmac-client, POST, receipt); the server's `/signals` route verifies every
//!   request with hmac-client's `Verifier` before answering.
//! - `hmac-client`: `SignalClient::post_signal` alone (signing, no retry
//!   loop), to the same verifying route; at concurrency 64 only.
//! - `bare-reqwest-signed` (diagnostic, concurrency 64 only): the bare client
//!   adding hmac-client's signature headers itself, to the verifying route.
//! - `bare-reqwest`: the same body POSTed with a plain `reqwest::Client` to
//!   the server's `/bare` route, which reads the body and answers the same
//!   200 without any verification.
//!
//! Each iteration sends a fixed number of requests ([`REQUESTS`]) with
//! [`CONCURRENCY`] tasks pulling from a shared counter; connections are kept
//! alive between requests and iterations. Client and server share one
//! two-worker tokio runtime (the machine has 2 cores). Goal (issue 14): the
//! signed and verified path reaches at least 0.95x the bare throughput at
//! every concurrency; `cargo xtask bench` runs this bench three times and
//! takes the median of the three ratios.
//!
//! **External receiver**: with `BENCH_RECEIVER_URL` set (`cargo xtask bench
//! --external` points it at nginx answering 200 to everything), every row
//! posts to that URL and the in-process server is not started, so client and
//! server no longer share a runtime. That receiver verifies nothing: the
//! rows then compare the client side only.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use criterion::{
    BenchmarkId, Criterion, SamplingMode, Throughput, criterion_group, criterion_main,
};
use hmac_client::{
    ClientConfig, HEADER_ID, HEADER_SIGNATURE, HEADER_TIMESTAMP, SignalClient, SigningKeys,
    Verifier, sign,
};
use signal_delivery::{DeliveryConfig, DeliveryService, Signal};
use tokio::runtime::Runtime;
use tokio::task::JoinSet;

/// Requests per measured iteration, at every concurrency.
const REQUESTS: usize = 2048;
/// Concurrent requests in flight.
const CONCURRENCY: [usize; 4] = [1, 8, 64, 256];
const SECRET: &str = "whsec_MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";
type BoxedRequest = std::pin::Pin<Box<dyn Future<Output = bool> + Send>>;
const ACCEPTED: &str = r#"{"accepted":true}"#;
/// An URL that replaces the in-process server (`cargo xtask bench --external`).
const RECEIVER_URL_ENV: &str = "BENCH_RECEIVER_URL";

async fn verified(State(verifier): State<Verifier>, headers: HeaderMap, body: Bytes) -> Response {
    match verifier.verify(&headers, &body) {
        Ok(_) => (
            StatusCode::OK,
            [(CONTENT_TYPE, "application/json")],
            ACCEPTED,
        )
            .into_response(),
        Err(error) => error.response_parts().into_response(),
    }
}

async fn bare(body: Bytes) -> Response {
    std::hint::black_box(body.len());
    (
        StatusCode::OK,
        [(CONTENT_TYPE, "application/json")],
        ACCEPTED,
    )
        .into_response()
}

/// Runs `request` `total` times with `concurrency` tasks; panics on any failure.
async fn drive<F, Fut>(concurrency: usize, total: usize, request: F)
where
    F: Fn() -> Fut + Clone + Send + 'static,
    Fut: Future<Output = bool> + Send,
{
    let next = Arc::new(AtomicUsize::new(0));
    let mut tasks = JoinSet::new();
    for _ in 0..concurrency {
        let next = next.clone();
        let request = request.clone();
        tasks.spawn(async move {
            let mut ok = 0;
            while next.fetch_add(1, Ordering::Relaxed) < total {
                if request().await {
                    ok += 1;
                }
            }
            ok
        });
    }
    let mut ok = 0;
    while let Some(done) = tasks.join_next().await {
        ok += done.unwrap();
    }
    assert_eq!(ok, total, "every request must succeed");
}

struct Stack {
    runtime: Runtime,
    service: DeliveryService,
    client: SignalClient,
    signal: Arc<Signal>,
    bare: reqwest::Client,
    bare_url: String,
    signals_url: String,
}

fn stack() -> Stack {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let external = std::env::var(RECEIVER_URL_ENV)
        .ok()
        .filter(|url| !url.is_empty());
    let (signals_url, bare_url) = match external {
        Some(url) => {
            eprintln!("e2e: every row posts to {url} ({RECEIVER_URL_ENV}; nothing verifies)");
            (url.clone(), url)
        }
        None => {
            let addr = runtime.block_on(start_server());
            (
                format!("http://{addr}/signals"),
                format!("http://{addr}/bare"),
            )
        }
    };
    let vars = [
        ("SIGNAL_SERVER_URL", signals_url.clone()),
        ("SIGNAL_HMAC_SECRET", SECRET.to_owned()),
        ("OPS_ALERTS_DISABLED", "true".to_owned()),
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
    let client =
        SignalClient::new(ClientConfig::new(signals_url.as_str(), SECRET).unwrap()).unwrap();
    let signal = Arc::new(
        Signal::from_json(
            br#"{"id":"sig_2026_11_29_0001","instrument":"BTC-USD","side":"buy","price":101.5,"quantity":0.25,"strategy":"mean-reversion-4h"}"#,
        )
        .unwrap(),
    );
    let bare = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    Stack {
        runtime,
        service,
        client,
        signal,
        bare,
        bare_url,
        signals_url,
    }
}

/// The in-process server: `/signals` verifies, `/bare` only reads.
async fn start_server() -> std::net::SocketAddr {
    let verifier = Verifier::new(SigningKeys::parse(SECRET).unwrap());
    let app = Router::new()
        .route("/signals", post(verified))
        .route("/bare", post(bare))
        .with_state(verifier);
    let listener = tokio::net::TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, 0))
        .await
        .unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

fn deliver(stack: &Stack) -> impl Fn() -> BoxedRequest + Clone + Send + 'static {
    let service = stack.service.clone();
    let signal = stack.signal.clone();
    move || {
        let service = service.clone();
        let signal = signal.clone();
        Box::pin(async move { service.deliver(&signal).await.is_ok() })
    }
}

fn post_signal(stack: &Stack) -> impl Fn() -> BoxedRequest + Clone + Send + 'static {
    let client = stack.client.clone();
    let signal = stack.signal.clone();
    move || {
        let client = client.clone();
        let signal = signal.clone();
        Box::pin(async move {
            client
                .post_signal(signal.id(), signal.body().clone())
                .await
                .is_ok()
        })
    }
}

fn bare_post(stack: &Stack) -> impl Fn() -> BoxedRequest + Clone + Send + 'static {
    let client = stack.bare.clone();
    let url = stack.bare_url.clone();
    let body = stack.signal.body().clone();
    move || {
        let request = client
            .post(url.as_str())
            .header(CONTENT_TYPE, "application/json")
            .body(body.clone());
        Box::pin(async move {
            match request.send().await {
                Ok(response) => response.status().is_success() && response.bytes().await.is_ok(),
                Err(_) => false,
            }
        })
    }
}

/// Diagnostic: the bare client, signing with hmac-client's `sign` and
/// adding the three Standard Webhooks headers itself, to the verifying route.
/// Separates the cost of signing and verifying from that of the client stack.
fn bare_signed_post(stack: &Stack) -> impl Fn() -> BoxedRequest + Clone + Send + 'static {
    let client = stack.bare.clone();
    let url = stack.signals_url.clone();
    let keys = SigningKeys::parse(SECRET).unwrap();
    let id = stack.signal.id().to_owned();
    let body = stack.signal.body().clone();
    move || {
        let timestamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        let request = client
            .post(url.as_str())
            .header(CONTENT_TYPE, "application/json")
            .header(HEADER_ID, id.as_str())
            .header(HEADER_TIMESTAMP, timestamp)
            .header(HEADER_SIGNATURE, sign(&keys, &id, timestamp, &body))
            .body(body.clone());
        Box::pin(async move {
            match request.send().await {
                Ok(response) => response.status().is_success() && response.bytes().await.is_ok(),
                Err(_) => false,
            }
        })
    }
}

fn e2e_loopback(c: &mut Criterion) {
    let stack = stack();
    // Open the connections once (the largest pool), outside the measurement.
    let max = CONCURRENCY[CONCURRENCY.len() - 1];
    stack.runtime.block_on(async {
        drive(max, 4 * max, deliver(&stack)).await;
        drive(max, 4 * max, post_signal(&stack)).await;
        drive(max, 4 * max, bare_post(&stack)).await;
    });

    let mut group = c.benchmark_group("e2e_loopback");
    group.sample_size(10);
    group.sampling_mode(SamplingMode::Flat);
    group.throughput(Throughput::Elements(REQUESTS as u64));
    for concurrency in CONCURRENCY {
        group.bench_function(BenchmarkId::new("signal-delivery", concurrency), |b| {
            b.iter(|| {
                stack
                    .runtime
                    .block_on(drive(concurrency, REQUESTS, deliver(&stack)))
            })
        });
        if concurrency == 64 {
            group.bench_function(BenchmarkId::new("bare-reqwest-signed", concurrency), |b| {
                b.iter(|| {
                    stack
                        .runtime
                        .block_on(drive(concurrency, REQUESTS, bare_signed_post(&stack)))
                })
            });
            group.bench_function(BenchmarkId::new("hmac-client", concurrency), |b| {
                b.iter(|| {
                    stack
                        .runtime
                        .block_on(drive(concurrency, REQUESTS, post_signal(&stack)))
                })
            });
        }
        group.bench_function(BenchmarkId::new("bare-reqwest", concurrency), |b| {
            b.iter(|| {
                stack
                    .runtime
                    .block_on(drive(concurrency, REQUESTS, bare_post(&stack)))
            })
        });
    }
    group.finish();
}

criterion_group!(benches, e2e_loopback);
criterion_main!(benches);
