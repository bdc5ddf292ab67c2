//! `/metrics` served for real on 127.0.0.1 and scraped over HTTP, as
//! Prometheus would. Its own test binary: the exporter installs the
//! process-wide recorder.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use loopback_fakes::signal_server::Reply;
use std::io::{Read, Write};
use support::{signal, stack};

fn scrape(addr: std::net::SocketAddr) -> String {
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response
}

fn free_addr() -> std::net::SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_endpoint_serves_the_delivery_counters() {
    let addr = free_addr();
    let healthy: signal_delivery::telemetry::HealthCheck = std::sync::Arc::new(|| true);
    signal_delivery::telemetry::serve_metrics(addr, healthy.clone())
        .await
        .unwrap();
    // A second exporter on the same address is a clear error, not a panic.
    let err = signal_delivery::telemetry::serve_metrics(addr, healthy)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("METRICS_ADDR") && err.contains(&addr.to_string()),
        "{err}"
    );

    let s = stack(&[("MAX_RETRIES", "1")]).await;
    s.server.push(Reply::status(503));
    s.service.deliver(&signal("m-1")).await.unwrap();
    s.server.set_default(Reply::status(400));
    s.service.deliver(&signal("m-2")).await.unwrap_err();

    let body = tokio::task::spawn_blocking(move || scrape(addr))
        .await
        .unwrap();
    assert!(body.starts_with("HTTP/1.1 200"), "{body}");
    for line in [
        "signals_delivered_total 1",
        "signals_failed_total{reason=\"rejected\"} 1",
        "retries_total{operation=\"post_signal\"} 1",
        "attempts_total{operation=\"post_signal\"} 3",
        "alerts_sent_total{severity=\"ERROR\"} 1",
        "signal_delivery_duration_seconds_bucket",
        "# HELP signals_failed_total",
    ] {
        assert!(body.contains(line), "{line:?} missing from:\n{body}");
    }
    assert!(
        !body.contains("AAH-secret"),
        "the token leaked into metrics"
    );
}
