//! What only PostgreSQL can show: concurrent claimers on separate
//! connections, N workers migrating at once, the minimum-binary refusal,
//! the password kept out of every error and log line, LISTEN/NOTIFY
//! wake-ups, TLS modes, and the plans of the hot statements.
//!
//! Every test runs on a fresh database of this binary's throwaway cluster
//! (see `support`), on the database's own clock (production's statements,
//! no test clock).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use test_postgres as support;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use signal_outbox::{
    AttemptRecord, NewSignal, Outbox, OutboxAdmin, OutboxError, OutboxExt, Outcome, SignalStore,
};
use signal_outbox_postgres::{
    BINARY_VERSION, Migrate, PgConfig, PgOptions, PgOutbox, SCHEMA_VERSION, sql,
};

const LEASE: Duration = Duration::from_secs(30);

async fn open(url: &str, options: PgOptions) -> Result<PgOutbox, OutboxError> {
    let config = PgConfig::from_url_with(url, &support::no_env)?;
    PgOutbox::connect_with(config, options).await
}

/// A fresh database's URL, or `None` when the test is skipped.
async fn fresh(test: &str) -> Option<(&'static support::Cluster, String)> {
    let cluster = support::cluster_or_skip(test)?;
    let name = cluster.fresh_database().await;
    Some((cluster, name))
}

fn delivered(row: &signal_outbox::Claimed) -> Outcome {
    Outcome::Delivered {
        id: row.id.clone(),
        token: row.token,
        attempt: AttemptRecord::delivered(row.attempts + 1, 200, Duration::from_millis(3)),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_claimers_on_separate_connections_never_claim_the_same_row() {
    let Some((cluster, db)) = fresh("concurrent_claimers").await else {
        return;
    };
    let url = cluster.url(&db);
    const ROWS: usize = 1200;
    const CLAIMERS: usize = 6;
    let first = open(&url, PgOptions::default()).await.unwrap();
    let signals = (0..ROWS)
        .map(|i| NewSignal::new(format!("c{i:05}"), &b"{}"[..]))
        .collect();
    first.enqueue_signals(signals).await.unwrap();
    // Three handles (three pools, like three hosts), two claimers each.
    let mut handles = vec![Arc::new(first)];
    for _ in 1..3 {
        handles.push(Arc::new(
            open(&url, PgOptions::default().with_pool_size(2))
                .await
                .unwrap(),
        ));
    }
    let claimed = Arc::new(Mutex::new(Vec::<String>::new()));
    let mut tasks = Vec::new();
    for n in 0..CLAIMERS {
        let outbox = Arc::clone(&handles[n % handles.len()]);
        let claimed = Arc::clone(&claimed);
        tasks.push(tokio::spawn(async move {
            let worker = format!("w{n}");
            loop {
                let claims = outbox.claim(&worker, 16, LEASE).await.unwrap();
                if claims.rows.is_empty() {
                    // Every row is delivered or held by another claimer.
                    return;
                }
                claimed
                    .lock()
                    .unwrap()
                    .extend(claims.rows.iter().map(|r| r.id.clone()));
                let results = outbox
                    .record(&worker, claims.rows.iter().map(delivered).collect())
                    .await
                    .unwrap();
                assert!(results.iter().all(Result::is_ok), "{worker}: {results:?}");
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let claimed = claimed.lock().unwrap().clone();
    let distinct: HashSet<&String> = claimed.iter().collect();
    assert_eq!(distinct.len(), claimed.len(), "a row was claimed twice");
    assert_eq!(claimed.len(), ROWS, "every row claimed exactly once");
    let stats = handles[0].stats().await.unwrap();
    assert_eq!(stats.delivered, ROWS as u64, "{stats:?}");
    assert_eq!(stats.in_flight, 0, "{stats:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workers_starting_together_migrate_once_under_the_advisory_lock() {
    let Some((cluster, db)) = fresh("concurrent_migrations").await else {
        return;
    };
    let url = cluster.url(&db);
    let starts = (0..8).map(|_| {
        let url = url.clone();
        tokio::spawn(async move { open(&url, PgOptions::default().with_pool_size(1)).await })
    });
    let mut opened = Vec::new();
    for start in starts {
        opened.push(start.await.unwrap().expect("every worker starts"));
    }
    let admin = cluster.admin(&db).await;
    let rows = admin
        .query(
            "SELECT version, binary_version FROM schema_migrations ORDER BY version",
            &[],
        )
        .await
        .unwrap();
    let versions: Vec<i32> = rows.iter().map(|r| r.get(0)).collect();
    assert_eq!(
        versions,
        (1..=SCHEMA_VERSION).collect::<Vec<_>>(),
        "each version applied once"
    );
    assert_eq!(rows[0].get::<_, String>(1), BINARY_VERSION);
    let report = opened[0].migrate().await.unwrap();
    assert!(
        report.applied.is_empty(),
        "nothing left to apply: {report:?}"
    );
    assert_eq!(report.to, SCHEMA_VERSION);
    // An operator's `Migrate::Check` start finds the schema current.
    open(&url, PgOptions::default().with_migrate(Migrate::Check))
        .await
        .unwrap();
}

#[tokio::test]
async fn check_mode_refuses_an_unmigrated_database() {
    let Some((cluster, db)) = fresh("check_mode").await else {
        return;
    };
    let error = open(
        &cluster.url(&db),
        PgOptions::default().with_migrate(Migrate::Check),
    )
    .await
    .unwrap_err();
    let text = error.to_string();
    assert!(text.contains("outbox migrate"), "{text}");
}

#[tokio::test]
async fn a_schema_that_requires_a_newer_binary_is_refused() {
    let Some((cluster, db)) = fresh("binary_too_old").await else {
        return;
    };
    let url = cluster.url(&db);
    let outbox = open(&url, PgOptions::default()).await.unwrap();
    // What a later, contracting release records when it migrates.
    cluster
        .admin(&db)
        .await
        .batch_execute(
            "INSERT INTO schema_migrations (version, applied_at, binary_version, min_binary_version) \
             VALUES (99, 0, '999.0.0', '999.0.0')",
        )
        .await
        .unwrap();
    for migrate in [Migrate::Auto, Migrate::Check] {
        let error = open(&url, PgOptions::default().with_migrate(migrate))
            .await
            .unwrap_err();
        match &error {
            OutboxError::BinaryTooOld {
                required, running, ..
            } => {
                assert_eq!(required, "999.0.0");
                assert_eq!(running, BINARY_VERSION);
            }
            other => panic!("{migrate:?}: expected BinaryTooOld, got {other:?}"),
        }
        assert!(error.to_string().contains("999.0.0"), "{error}");
    }
    assert!(matches!(
        outbox.migrate().await,
        Err(OutboxError::BinaryTooOld { .. })
    ));
}

/// Log lines written while the closure's future runs on this thread.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

#[tokio::test]
async fn the_password_appears_in_no_error_debug_display_or_log() {
    let Some(cluster) = support::cluster_or_skip("password_redaction") else {
        return;
    };
    let admin = cluster.admin("postgres").await;
    // pg_hba.conf asks this role for a password (scram-sha-256) over TCP.
    admin
        .batch_execute(
            "DO $$ BEGIN \
               IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'pwuser') THEN \
                 CREATE ROLE pwuser LOGIN PASSWORD 'Right-Pass-4711'; \
               END IF; END $$",
        )
        .await
        .unwrap();
    let logs = Captured::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let closed_port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let port = cluster.port;
    let cases = [
        // Wrong password: the server refuses the credentials.
        (
            "Wr0ng-Pass-0815",
            format!("postgres://pwuser:Wr0ng-Pass-0815@127.0.0.1:{port}/postgres?sslmode=disable"),
        ),
        // Nobody listens: the connection is refused.
        (
            "Refused-Pass-42",
            format!(
                "postgres://pwuser:Refused-Pass-42@127.0.0.1:{closed_port}/postgres?sslmode=disable&connect_timeout=2"
            ),
        ),
        // In the query, percent-encoded.
        (
            "Query-Pass/7",
            format!(
                "postgres://pwuser@127.0.0.1:{port}/postgres?sslmode=disable&password=Query-Pass%2F7"
            ),
        ),
    ];
    for (password, url) in &cases {
        let config = PgConfig::from_url_with(url, &support::no_env).unwrap();
        for shown in [
            format!("{config}"),
            format!("{config:?}"),
            config.redacted().to_owned(),
        ] {
            assert!(
                !shown.contains(password),
                "config shows {password}: {shown}"
            );
        }
        let error = PgOutbox::connect_with(config, PgOptions::default())
            .await
            .unwrap_err();
        assert!(matches!(error, OutboxError::Open { .. }), "{error:?}");
        for shown in [error.to_string(), format!("{error:?}")] {
            assert!(!shown.contains(password), "error shows {password}: {shown}");
            assert!(
                !shown.contains("Pass-"),
                "error shows part of the password: {shown}"
            );
        }
    }
    // The right password connects; the handle describes itself without it.
    let url =
        format!("postgres://pwuser:Right-Pass-4711@127.0.0.1:{port}/postgres?sslmode=disable");
    let error = open(&url, PgOptions::default()).await;
    // pwuser may not create tables in `postgres`'s public schema (PG 15):
    // the refusal must not name the password either.
    match error {
        Ok(outbox) => {
            for shown in [outbox.describe(), format!("{outbox:?}")] {
                assert!(!shown.contains("Right-Pass"), "{shown}");
            }
        }
        Err(error) => assert!(
            !format!("{error} {error:?}").contains("Right-Pass"),
            "{error:?}"
        ),
    }
    let logs = logs.text();
    assert!(
        !logs.contains("Pass-"),
        "a log line shows a password: {logs}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_enqueue_on_another_handle_wakes_a_listening_worker_at_once() {
    let Some((cluster, db)) = fresh("wake_hints").await else {
        return;
    };
    let url = cluster.url(&db);
    let idle = open(&url, PgOptions::default()).await.unwrap();
    let producer = open(&url, PgOptions::default()).await.unwrap();
    let mut hints = idle.wake_hints().expect("PostgreSQL offers wake hints");
    // The first hint says "listening now" (hints before it were lost).
    tokio::time::timeout(Duration::from_secs(10), hints.next())
        .await
        .expect("listening");
    let mut latencies = Vec::new();
    for n in 0..5 {
        let sent = Instant::now();
        let outcome = producer
            .enqueue_one(NewSignal::new(format!("wake-{n}"), &b"{}"[..]))
            .await
            .unwrap();
        assert_eq!(outcome, signal_outbox::EnqueueOutcome::Inserted);
        tokio::time::timeout(Duration::from_secs(5), hints.next())
            .await
            .expect("a hint within 5 s of the commit");
        latencies.push(sent.elapsed());
    }
    eprintln!("wake-up latency (enqueue + commit + notify), 5 runs: {latencies:?}");
    let worst = latencies.iter().max().unwrap();
    assert!(*worst < Duration::from_secs(1), "{latencies:?}");
    // The hint is only a hint: the claim finds the work.
    let claims = idle.claim("w", 10, LEASE).await.unwrap();
    assert_eq!(claims.rows.len(), 5);
}

#[tokio::test]
async fn tls_verify_full_checks_the_ca_and_the_host_and_require_only_encrypts() {
    let Some((cluster, db)) = fresh("tls_modes").await else {
        return;
    };
    let port = cluster.port;
    let ca = cluster.ca_file.display().to_string();
    let base = format!("postgres://postgres@localhost:{port}/{db}?hostaddr=127.0.0.1");
    // The right CA and the certificate's name: connects, encrypted.
    let outbox = open(
        &format!("{base}&sslmode=verify-full&sslrootcert={ca}"),
        PgOptions::default(),
    )
    .await
    .expect("verify-full with the right CA and host");
    let conn = cluster.admin(&db).await;
    let ssl: i64 = conn
        .query_one("SELECT count(*) FROM pg_stat_ssl JOIN pg_stat_activity USING (pid) \
                    WHERE ssl AND datname = current_database() AND application_name = 'signal-outbox'", &[])
        .await
        .unwrap()
        .get(0);
    assert!(ssl >= 1, "the outbox's connections use TLS");
    drop(outbox);
    // Another CA: refused, saying why.
    let other = tempfile::tempdir().unwrap();
    let other_ca = other.path().join("other-ca.pem");
    std::fs::write(&other_ca, other_ca_pem()).unwrap();
    let error = open(
        &format!(
            "{base}&sslmode=verify-full&sslrootcert={}",
            other_ca.display()
        ),
        PgOptions::default(),
    )
    .await
    .unwrap_err();
    let text = error.to_string().to_lowercase();
    assert!(text.contains("certificate"), "{text}");
    // The right CA but a name the certificate does not carry: refused.
    let by_ip =
        format!("postgres://postgres@127.0.0.1:{port}/{db}?sslmode=verify-full&sslrootcert={ca}");
    let error = open(&by_ip, PgOptions::default()).await.unwrap_err();
    let text = error.to_string().to_lowercase();
    assert!(
        text.contains("certificate") || text.contains("name"),
        "{text}"
    );
    // require: encrypted, not verified: connects with no CA at all.
    open(&format!("{base}&sslmode=require"), PgOptions::default())
        .await
        .expect("require connects without checking the certificate");
}

fn other_ca_pem() -> String {
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap())
        .unwrap()
        .pem()
}

/// The plan of `statement` with `args` (literals), as text.
async fn explain(
    client: &tokio_postgres::Client,
    name: &str,
    statement: &str,
    args: &str,
) -> String {
    client
        .batch_execute(&format!("PREPARE {name} AS {statement}"))
        .await
        .unwrap();
    let rows = client
        .query(&format!("EXPLAIN EXECUTE {name}({args})"), &[])
        .await
        .unwrap();
    rows.iter()
        .map(|r| r.get::<_, String>(0))
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test]
async fn the_hot_statements_never_scan_the_signals_table() {
    let Some((cluster, db)) = fresh("explain").await else {
        return;
    };
    let _outbox = open(&cluster.url(&db), PgOptions::default()).await.unwrap();
    let client = cluster.admin(&db).await;
    // A long history and a little live work, as after months of running.
    client
        .batch_execute(
            "INSERT INTO outbox (id, body, body_hash, state, next_attempt_at, enqueued_at, updated_at, delivered_at) \
               SELECT 'd' || g, '\\x7b7d', 'h', 'delivered', g, g, g, g FROM generate_series(1, 60000) g; \
             INSERT INTO outbox (id, body, body_hash, state, next_attempt_at, enqueued_at, updated_at) \
               SELECT 'p' || g, '\\x7b7d', 'h', 'pending', 60000 + g, 60000 + g, 60000 + g FROM generate_series(1, 300) g; \
             INSERT INTO outbox (id, body, body_hash, state, next_attempt_at, enqueued_at, updated_at, \
                                 lease_owner, lease_until, claim_token) \
               SELECT 'f' || g, '\\x7b7d', 'h', 'in_flight', g, g, g, 'w', 70000 + g, g FROM generate_series(1, 100) g; \
             ANALYZE",
        )
        .await
        .unwrap();
    let plans = [
        (
            "claim",
            explain(&client, "claim", sql::CLAIM, "NULL, 64, 'w', 30000").await,
        ),
        (
            "record_delivered",
            explain(
                &client,
                "record",
                sql::RECORD_DELIVERED,
                "NULL, 'f1', 1, 1, 'w', 200, NULL, 3, NULL",
            )
            .await,
        ),
        (
            "due_count",
            explain(&client, "due", sql::DUE_COUNT, "NULL, 10000").await,
        ),
    ];
    for (name, plan) in &plans {
        eprintln!("EXPLAIN {name}:\n{plan}\n");
        assert!(
            !plan.contains("Seq Scan on outbox"),
            "{name} scans the table:\n{plan}"
        );
        assert!(plan.contains("Index"), "{name} uses no index:\n{plan}");
    }
}
