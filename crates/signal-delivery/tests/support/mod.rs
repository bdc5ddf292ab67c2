//! Shared set-up: a real signal server and a real fake Bot API on 127.0.0.1,
//! and a delivery service configured the way the command configures itself.

#![allow(
    dead_code,
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use loopback_fakes::signal_server::FakeSignalServer;
use loopback_fakes::telegram::FakeBotApi;
use metrics_util::debugging::{DebugValue, Snapshotter};
use signal_delivery::{DeliveryConfig, DeliveryService};
use std::collections::HashMap;

pub const SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
pub const TOKEN: &str = "123456:AAH-secret-token-value-for-tests-0";

pub struct Stack {
    pub server: FakeSignalServer,
    pub bot: FakeBotApi,
    pub service: DeliveryService,
    pub config: DeliveryConfig,
}

/// Builds the stack with extra variables on top of fast test defaults.
pub async fn stack(extra: &[(&str, &str)]) -> Stack {
    let server = FakeSignalServer::start(hmac_client::SigningKeys::parse(SECRET).unwrap())
        .await
        .unwrap();
    let bot = FakeBotApi::start().await.unwrap();
    let mut vars: HashMap<String, String> = [
        ("SIGNAL_SERVER_URL", server.url()),
        ("SIGNAL_HMAC_SECRET", SECRET.to_owned()),
        ("OPS_TELEGRAM_BOT_TOKEN", TOKEN.to_owned()),
        ("OPS_TELEGRAM_CHAT_ID", "42".to_owned()),
        ("OPS_TELEGRAM_API_URL", bot.api_url()),
        ("MAX_RETRIES", "3".to_owned()),
        ("RETRY_DELAY_SECONDS", "1".to_owned()),
        ("RETRY_JITTER", "none".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    for (k, v) in extra {
        vars.insert((*k).to_owned(), (*v).to_owned());
    }
    let config = DeliveryConfig::from_lookup(|name| vars.get(name).cloned()).unwrap();
    let service = DeliveryService::new(&config).unwrap();
    Stack {
        server,
        bot,
        service,
        config,
    }
}

pub fn signal_json(id: &str) -> String {
    format!(r#"{{"id":"{id}","instrument":"BTC-USD","side":"buy","price":101.5}}"#)
}

pub fn signal(id: &str) -> signal_delivery::Signal {
    signal_delivery::Signal::from_json(signal_json(id).as_bytes()).unwrap()
}

/// One snapshot of the debugging recorder. Taking a snapshot drains it
/// (counters are swapped to zero), so a test takes exactly one, after acting.
pub struct Metrics(Vec<(metrics_util::CompositeKey, DebugValue)>);

impl Metrics {
    pub fn take(snapshotter: &Snapshotter) -> Metrics {
        Metrics(
            snapshotter
                .snapshot()
                .into_vec()
                .into_iter()
                .map(|(key, _, _, value)| (key, value))
                .collect(),
        )
    }

    /// Sum of a counter across label sets matching `labels` (all given pairs must match).
    pub fn counter(&self, name: &str, labels: &[(&str, &str)]) -> u64 {
        self.0
            .iter()
            .filter(|(key, _)| {
                key.key().name() == name
                    && labels
                        .iter()
                        .all(|(k, v)| key.key().labels().any(|l| l.key() == *k && l.value() == *v))
            })
            .map(|(_, value)| match value {
                DebugValue::Counter(n) => *n,
                _ => 0,
            })
            .sum()
    }

    /// Number of values recorded in a histogram, all label sets.
    pub fn histogram_count(&self, name: &str) -> usize {
        self.0
            .iter()
            .filter(|(key, _)| key.key().name() == name)
            .map(|(_, value)| match value {
                DebugValue::Histogram(v) => v.len(),
                _ => 0,
            })
            .sum()
    }
}

/// Unix milliseconds that follow tokio's clock (paused in these tests),
/// from `base`: the outbox's clock, so leases and schedules move with
/// `tokio::time` and nothing sleeps for real. The SQLite connection thread
/// has no runtime of its own, so each reading enters the test's runtime.
#[derive(Debug)]
pub struct TokioTime {
    handle: tokio::runtime::Handle,
    start: tokio::time::Instant,
    base: i64,
}

impl TokioTime {
    /// A clock reading `base` now; call it inside the test's runtime.
    pub fn new(base: i64) -> std::sync::Arc<TokioTime> {
        std::sync::Arc::new(TokioTime {
            handle: tokio::runtime::Handle::current(),
            start: tokio::time::Instant::now(),
            base,
        })
    }
}

impl signal_outbox_sqlite::Clock for TokioTime {
    fn now(&self) -> i64 {
        let _runtime = self.handle.enter();
        self.base + i64::try_from(self.start.elapsed().as_millis()).unwrap()
    }
}

/// An outbox file in a fresh temporary directory, on `clock`.
pub fn outbox_on(
    clock: std::sync::Arc<TokioTime>,
) -> (
    tempfile::TempDir,
    std::sync::Arc<signal_outbox_sqlite::SqliteOutbox>,
) {
    let dir = tempfile::tempdir().unwrap();
    let outbox =
        signal_outbox_sqlite::SqliteOutbox::open_with_clock(&dir.path().join("outbox.db"), clock)
            .unwrap();
    (dir, std::sync::Arc::new(outbox))
}

/// An audit entry for a test's replay.
pub fn audit() -> signal_outbox::NewAuditEntry {
    signal_outbox::NewAuditEntry {
        actor: "os:test@localhost pid 1".to_owned(),
        action: "replay".to_owned(),
        detail: "{}".to_owned(),
        result: String::new(),
    }
}
pub mod failing;
