//! The PostgreSQL rows of the durable bench: 1, 2 and 4 workers on one
//! database, the database's own claim/complete limit beside them, and the
//! enqueue-to-delivery latency through LISTEN/NOTIFY.

use std::sync::Arc;
use std::time::Instant;

use signal_outbox::Outbox;
use signal_outbox_postgres::{PgConfig, PgOptions, PgOutbox};
use tokio::task::JoinSet;

use crate::{BATCH, Bench, fill, print_drain};

const WORKERS: [usize; 3] = [1, 2, 4];
const RAW_CLIENTS: usize = 4;

/// One batch of the raw loop: claim 64 due rows nobody else holds.
const RAW_CLAIM: &str = "\
WITH due AS (
    SELECT id FROM outbox
     WHERE state = 'pending' AND next_attempt_at <= floor(extract(epoch from now()) * 1000)::bigint
     ORDER BY next_attempt_at, enqueued_at, id
     LIMIT $1 FOR UPDATE SKIP LOCKED)
UPDATE outbox o SET state = 'in_flight', lease_owner = 'raw',
       lease_until = floor(extract(epoch from now()) * 1000)::bigint + 30000,
       claims = claims + 1, claim_token = nextval('outbox_claim_token')
  FROM due WHERE o.id = due.id
RETURNING o.id, o.body";

/// The other half: the claimed rows delivered.
const RAW_COMPLETE: &str = "\
UPDATE outbox SET state = 'delivered', lease_owner = NULL, lease_until = NULL,
       attempts = attempts + 1, delivered_at = floor(extract(epoch from now()) * 1000)::bigint
 WHERE id = ANY($1)";

fn pg_backlog() -> usize {
    std::env::var("DURABLE_BENCH_PG_BACKLOG")
        .map(|n| {
            n.trim().parse().unwrap_or_else(|_| {
                panic!(
                    "DURABLE_BENCH_PG_BACKLOG: {n:?} is not a number of signals (example: 20000)"
                )
            })
        })
        .unwrap_or(20_000)
}

async fn open(url: &str) -> Arc<dyn Outbox> {
    let config = PgConfig::from_url_with(url, &test_postgres::no_env).unwrap();
    Arc::new(
        PgOutbox::connect_with(config, PgOptions::default())
            .await
            .unwrap(),
    )
}

pub(crate) async fn run(bench: &mut Bench) {
    if let Some(reason) = test_postgres::skip_reason() {
        println!("durable_skipped backend=postgres reason={reason}");
        return;
    }
    let backlog = pg_backlog();
    if backlog == 0 {
        println!("durable_skipped backend=postgres reason=DURABLE_BENCH_PG_BACKLOG=0");
        return;
    }
    let cluster = test_postgres::durable_cluster();
    for workers in WORKERS {
        let url = cluster.fresh_database_url().await;
        let mut handles = Vec::new();
        for _ in 0..workers {
            handles.push(open(&url).await);
        }
        fill(handles[0].as_ref(), backlog, &format!("p{workers}")).await;
        let send = bench.send_rate(backlog, &format!("ps{workers}")).await;
        let drain = bench.drain(handles, backlog).await;
        print_drain("postgres", workers, backlog, send, &drain);
    }
    raw(cluster, backlog).await;
    let url = cluster.fresh_database_url().await;
    let (worker, enqueuer) = (open(&url).await, open(&url).await);
    bench
        .latency(worker, enqueuer, "plat")
        .await
        .print("postgres");
}

/// The database's own limit: claim and complete with no HTTP in between.
async fn raw(cluster: &test_postgres::Cluster, backlog: usize) {
    let url = cluster.fresh_database_url().await;
    let outbox = open(&url).await; // creates the schema
    fill(outbox.as_ref(), backlog, "raw").await;
    let db = url
        .rsplit('/')
        .next()
        .and_then(|tail| tail.split('?').next())
        .unwrap()
        .to_owned();
    let started = Instant::now();
    let mut clients = JoinSet::new();
    for _ in 0..RAW_CLIENTS {
        let client = cluster.admin(&db).await;
        clients.spawn(async move {
            let (claim, complete) = (
                client.prepare(RAW_CLAIM).await.unwrap(),
                client.prepare(RAW_COMPLETE).await.unwrap(),
            );
            let mut done = 0usize;
            loop {
                let rows = client.query(&claim, &[&(BATCH as i64)]).await.unwrap();
                if rows.is_empty() {
                    return done;
                }
                let ids: Vec<String> = rows.iter().map(|row| row.get(0)).collect();
                let _ = client.execute(&complete, &[&ids]).await.unwrap();
                done += ids.len();
            }
        });
    }
    let mut total = 0;
    while let Some(done) = clients.join_next().await {
        total += done.unwrap();
    }
    assert_eq!(total, backlog, "the raw loop must complete every row");
    println!(
        "durable_raw backend=postgres clients={RAW_CLIENTS} batch={BATCH} rows={backlog} per_s={:.0}",
        backlog as f64 / started.elapsed().as_secs_f64()
    );
}
