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

    // Before anything happened, every series with a known label set is
    // there at zero, so that rate() and absent() work from the first scrape.
    let fresh = tokio::task::spawn_blocking(move || scrape(addr))
        .await
        .unwrap();
    assert_registered_at_zero(&fresh);

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
        "signal_delivery_signals_delivered_total 1",
        "signal_delivery_signals_failed_total{reason=\"rejected\"} 1",
        "retries_total{operation=\"post_signal\"} 1",
        "signal_delivery_attempts_total{operation=\"post_signal\"} 3",
        "alerts_sent_total{severity=\"ERROR\"} 1",
        "signal_delivery_duration_seconds_bucket",
        // One accepted attempt (m-1's retry) and two failed ones.
        "signal_delivery_attempt_duration_seconds_count{operation=\"post_signal\",result=\"ok\"} 1",
        "signal_delivery_attempt_duration_seconds_count{operation=\"post_signal\",result=\"error\"} 2",
        "# HELP signal_delivery_signals_failed_total",
    ] {
        assert!(body.contains(line), "{line:?} missing from:\n{body}");
    }
    assert!(
        !body.contains("AAH-secret"),
        "the token leaked into metrics"
    );
}

/// The value of the sample `series` (name and labels exactly as rendered).
fn sample<'a>(body: &'a str, series: &str) -> Option<&'a str> {
    body.lines().find_map(|line| {
        line.strip_prefix(series)
            .and_then(|rest| rest.strip_prefix(' '))
    })
}

fn assert_registered_at_zero(body: &str) {
    use signal_delivery::telemetry::*;
    let op = "{operation=\"post_signal\"}";
    let mut zero: Vec<String> = vec![
        format!("{RETRIES_TOTAL}{op}"),
        format!("{RETRY_DEFERRALS_TOTAL}{op}"),
        format!("{ATTEMPTS_TOTAL}{op}"),
        SIGNALS_DELIVERED_TOTAL.to_owned(),
        OUTBOX_CLAIM_FAILURES_TOTAL.to_owned(),
        OUTBOX_LEASE_EXPIRIES_TOTAL.to_owned(),
        OUTBOX_FENCED_TOTAL.to_owned(),
        format!("{OUTBOX_CLAIM_SECONDS}_count"),
        WORKER_UP.to_owned(),
        ops_alerts::METRIC_QUEUED.to_owned(),
    ];
    for reason in signal_delivery::FailureReason::ALL {
        zero.push(format!(
            "{SIGNALS_FAILED_TOTAL}{{reason=\"{}\"}}",
            reason.as_str()
        ));
    }
    for outcome in ["delivered", "failed"] {
        zero.push(format!("{DELIVERY_SECONDS}_count{{outcome=\"{outcome}\"}}"));
    }
    for result in ["ok", "error"] {
        zero.push(format!(
            "{ATTEMPT_SECONDS}_count{{operation=\"post_signal\",result=\"{result}\"}}"
        ));
    }
    // Readings of the outbox are not faked at zero: without a worker (as
    // here) they are absent; `run` sets them from its first reading (the
    // CLI's outbox tests and .ci/observability scrape them there).
    for name in [
        OUTBOX_SIGNALS,
        OUTBOX_OLDEST_PENDING_AGE,
        OUTBOX_CLOCK_OFFSET,
    ] {
        assert!(
            !body.lines().any(|l| l.starts_with(name)),
            "{name} has a value with no outbox read:\n{body}"
        );
    }
    for severity in ["INFO", "WARNING", "ERROR", "CRITICAL"] {
        for name in [
            ops_alerts::METRIC_SENT,
            ops_alerts::METRIC_FAILED,
            ops_alerts::METRIC_FOLDED,
            ops_alerts::METRIC_LOGGED,
        ] {
            zero.push(format!("{name}{{severity=\"{severity}\"}}"));
        }
    }
    for series in &zero {
        assert_eq!(
            sample(body, series),
            Some("0"),
            "{series} is not at 0 in the first scrape:\n{body}"
        );
    }
    let build = format!("{BUILD_INFO}{{version=\"{}\"}}", env!("CARGO_PKG_VERSION"));
    assert_eq!(sample(body, &build), Some("1"), "{build}:\n{body}");
    // The names the project started with keep their names.
    assert!(body.contains("# TYPE retries_total counter"), "{body}");
    assert!(body.contains("# TYPE alerts_sent_total counter"), "{body}");
    // Every name but those two and the alert family shares one prefix.
    for line in body.lines().filter(|l| l.starts_with("# TYPE ")) {
        let name = line.split(' ').nth(2).unwrap_or_default();
        assert!(
            name.starts_with("signal_delivery_")
                || name.starts_with("alerts_")
                || name == "retries_total",
            "{name} lacks the common prefix signal_delivery_"
        );
    }
}
