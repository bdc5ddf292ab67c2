//! Measures the outbox's durable throughput with group commit.
//!
//! Enqueues SIGNALS signals of about 200 bytes in batches of BATCH into a
//! fresh outbox file (WAL, `synchronous=FULL`: one fsync per batch), then
//! times claiming and recording outcomes: one transaction (so one fsync)
//! per outcome, one per claimed batch, and finally a worker-sized drain
//! (claims of 64) of up to 20,000 rows from the backlog that is left.
//!
//! ```text
//! cargo run -p signal-outbox-sqlite --release --example enqueue_throughput [SIGNALS] [BATCH]
//! ```

use std::error::Error;
use std::time::{Duration, Instant};

use signal_outbox::{
    AttemptRecord, Claimed, NewSignal, OutboxAdmin, OutboxExt, Outcome, SignalStore, now_millis,
};
use signal_outbox_sqlite::SqliteOutbox;

const LEASE: Duration = Duration::from_secs(60);

fn main() -> Result<(), Box<dyn Error>> {
    let mut args = std::env::args().skip(1);
    let total: usize = args.next().map_or(Ok(50_000), |s| s.parse())?;
    let batch: usize = args.next().map_or(Ok(500), |s| s.parse())?.max(1);
    let dir = tempfile::tempdir()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(run(&dir.path().join("outbox.db"), total, batch))
}

fn delivered(row: &Claimed) -> Outcome {
    let attempt = AttemptRecord::delivered(row.attempts + 1, 200, Duration::from_millis(2));
    Outcome::Delivered {
        id: row.id.clone(),
        token: row.token,
        attempt,
    }
}

async fn run(path: &std::path::Path, total: usize, batch: usize) -> Result<(), Box<dyn Error>> {
    let outbox = SqliteOutbox::open(path)?;

    // ~200-byte JSON bodies with distinct ids, prepared up front so only the
    // outbox is timed.
    let signals: Vec<NewSignal> = (0..total)
        .map(|i| {
            let id = format!("msg_{i:012}");
            let body = format!(
                r#"{{"id":"{id}","symbol":"BTCUSDT","side":"buy","price":"64123.50","qty":"0.015","strategy":"mean-reversion-4h","ts":1700000000{i:06},"note":"throughput sample for the durable outbox test"}}"#
            );
            NewSignal::new(id, body.into_bytes())
        })
        .collect();
    let avg_len = signals.iter().map(|s| s.body.len()).sum::<usize>() / total.max(1);

    let start = Instant::now();
    for chunk in signals.chunks(batch) {
        outbox.enqueue_signals(chunk.to_vec()).await?;
    }
    let enqueue = start.elapsed();
    println!(
        "enqueue: {total} signals of ~{avg_len} B in batches of {batch} (WAL, synchronous=FULL): \
         {:.2} s, {:.0} signals/s",
        enqueue.as_secs_f64(),
        rate(total, enqueue)
    );

    // Reference: claim in batches, one outcome transaction per signal.
    let outcomes = total.min(5_000);
    let start = Instant::now();
    let mut done = 0;
    while done < outcomes {
        let claims = outbox
            .claim("bench", batch.min(outcomes - done), LEASE)
            .await?;
        if claims.rows.is_empty() {
            break;
        }
        for row in &claims.rows {
            outbox.record_one("bench", delivered(row)).await?;
        }
        done += claims.rows.len();
    }
    let deliver = start.elapsed();
    println!(
        "claim + record, one commit per outcome: {done} signals: {:.2} s, {:.0} outcomes/s",
        deliver.as_secs_f64(),
        rate(done, deliver)
    );

    // The same, with each claimed batch's outcomes in one commit.
    let start = Instant::now();
    let mut batched = 0;
    while batched < outcomes {
        let claims = outbox
            .claim("bench", batch.min(outcomes - batched), LEASE)
            .await?;
        if claims.rows.is_empty() {
            break;
        }
        batched += claims.rows.len();
        outbox
            .record("bench", claims.rows.iter().map(delivered).collect())
            .await?;
    }
    let deliver = start.elapsed();
    println!(
        "claim + record, one commit per claimed batch of {batch}: {batched} signals: {:.2} s, {:.0} outcomes/s",
        deliver.as_secs_f64(),
        rate(batched, deliver)
    );

    // A worker draining the backlog: claims of 64, each batch recorded.
    let backlog = outbox.stats().await?.pending;
    let start = Instant::now();
    let mut drained = 0;
    while drained < 20_000 {
        let claims = outbox.claim("bench", 64, LEASE).await?;
        if claims.rows.is_empty() {
            break;
        }
        drained += claims.rows.len();
        outbox
            .record("bench", claims.rows.iter().map(delivered).collect())
            .await?;
    }
    let drain = start.elapsed();
    println!(
        "drain: {drained} signals in claims of 64 from a backlog of {backlog}: {:.2} s, {:.0} signals/s",
        drain.as_secs_f64(),
        rate(drained, drain)
    );
    let stats = outbox.stats().await?;
    println!("stats: {stats:?} (at {})", now_millis());
    Ok(())
}

fn rate(count: usize, elapsed: Duration) -> f64 {
    count as f64 / elapsed.as_secs_f64().max(f64::EPSILON)
}
