//! Many signals at once against a flaky server: every signal ends in exactly
//! one outcome, and no id is ever sent with two different bodies.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use loopback_fakes::signal_server::Reply;
use signal_delivery::batch::{OutcomeLine, deliver_lines};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use support::{signal_json, stack};

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

    let mut lines: Vec<OutcomeLine> = Vec::new();
    let (summary, read_error) = deliver_lines(&s.service, input.as_bytes(), 32, |line| {
        lines.push(line.clone())
    })
    .await;
    s.service.shutdown().await;

    assert!(read_error.is_none());
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
    // Failures were alerted, grouped: far fewer messages than failures, at least one.
    let failed = summary.failed_total();
    let messages = s.bot.messages().len() as u64;
    assert!(
        messages >= 1 && messages <= failed,
        "{messages} messages for {failed} failures"
    );
}
