//! The signal-outbox conformance suite on PostgreSQL, unchanged: every
//! lifecycle, fencing, alert, admin and retention behaviour and the
//! model-based property test, each on a fresh schema (its own tables,
//! migrated by `connect` as in production) of the test binary's own
//! cluster, with a test clock shared by every handle.

#![allow(clippy::expect_used)] // test set-up: a failure to open is a failed test

use test_postgres as support;

use std::time::Duration;

use signal_outbox::Timestamp;
use signal_outbox::conformance::TestBackend;
use signal_outbox_postgres::{PgConfig, PgOptions, PgOutbox, TestClock};

/// Where the test clock starts: an ordinary recent time.
const START: Timestamp = 1_700_000_000_000;

/// A fresh database on the shared cluster, on a test clock.
struct Postgres {
    outbox: PgOutbox,
    clock: TestClock,
    url: String,
}

impl Postgres {
    async fn open(url: &str, clock: &TestClock) -> PgOutbox {
        let config = PgConfig::from_url_with(url, &support::no_env).expect("a valid test URL");
        let options = PgOptions::default()
            .with_test_clock(clock.clone())
            .with_dedup_window(<Postgres as TestBackend>::DEDUP_WINDOW)
            .with_pool_size(4);
        PgOutbox::connect_with(config, options)
            .await
            .expect("open the outbox")
    }
}

impl TestBackend for Postgres {
    type Store = PgOutbox;
    const DEDUP_WINDOW: Duration = Duration::from_secs(3 * 24 * 3600);

    async fn fresh() -> Postgres {
        let cluster = support::cluster();
        let url = cluster.fresh_schema_url().await;
        let clock = TestClock::new(START);
        Postgres {
            outbox: Postgres::open(&url, &clock).await,
            clock,
            url,
        }
    }

    fn store(&self) -> &PgOutbox {
        &self.outbox
    }

    async fn now(&self) -> Timestamp {
        self.clock.now()
    }

    async fn advance(&self, by: Duration) {
        self.clock.advance(by);
    }

    async fn restart(self) -> Postgres {
        let Postgres { outbox, clock, url } = self;
        drop(outbox);
        Postgres {
            outbox: Postgres::open(&url, &clock).await,
            clock,
            url,
        }
    }

    async fn second(&self) -> PgOutbox {
        Postgres::open(&self.url, &self.clock).await
    }

    fn skip_reason() -> Option<String> {
        support::skip_reason()
    }
}

signal_outbox::conformance_tests!(Postgres);
