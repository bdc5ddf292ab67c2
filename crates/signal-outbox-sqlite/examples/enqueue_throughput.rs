//! Measures durable enqueue throughput with group commit.
//!
//! Enqueues 50,000 signals of about 200 bytes in batches of 500 into a
//! fresh outbox file (WAL, `synchronous=FULL`: one fsync per batch), then,
//! for reference, times claiming and recording outcomes: one transaction
//! (and so one fsync) per outcome, and batched with `record_outcomes`.
//!
//! ```text
//! cargo run -p signal-outbox --release --example enqueue_throughput [SIGNALS] [BATCH]
//! ```

use std::error::Error;
use std::time::{Duration, Instant};

use signal_outbox::{NewSignal, Outbox, Outcome, SqliteOutbox, now_millis};

fn main() -> Result<(), Box<dyn Error>> {
    let mut args = std::env::args().skip(1);
    let total: usize = args.next().map_or(Ok(50_000), |s| s.parse())?;
    let batch: usize = args.next().map_or(Ok(500), |s| s.parse())?.max(1);

    let dir = std::env::temp_dir().join(format!(
        "signal-outbox-throughput-{}-{}",
        std::process::id(),
        now_millis()
    ));
    std::fs::create_dir_all(&dir)?;
    let result = run(&dir, total, batch);
    std::fs::remove_dir_all(&dir)?;
    result
}

fn run(dir: &std::path::Path, total: usize, batch: usize) -> Result<(), Box<dyn Error>> {
    let outbox = SqliteOutbox::open(&dir.join("outbox.db"))?;

    // ~200-byte JSON bodies with distinct ids, prepared up front so only the
    // outbox is timed.
    let signals: Vec<(String, Vec<u8>)> = (0..total)
        .map(|i| {
            let id = format!("msg_{i:012}");
            let body = format!(
                r#"{{"id":"{id}","symbol":"BTCUSDT","side":"buy","price":"64123.50","qty":"0.015","strategy":"mean-reversion-4h","ts":1700000000{i:06},"note":"throughput sample for the durable outbox test"}}"#
            );
            (id, body.into_bytes())
        })
        .collect();
    let avg_len = signals.iter().map(|(_, b)| b.len()).sum::<usize>() / total.max(1);

    let now = now_millis();
    let start = Instant::now();
    for chunk in signals.chunks(batch) {
        let items: Vec<NewSignal<'_>> = chunk
            .iter()
            .map(|(id, body)| NewSignal::new(id, body))
            .collect();
        outbox.enqueue_batch(&items, now)?;
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
        let claimed = outbox.claim_due(
            "bench",
            now,
            batch.min(outcomes - done),
            Duration::from_secs(60),
        )?;
        if claimed.is_empty() {
            break;
        }
        for c in &claimed {
            outbox.mark_delivered(&c.id, "bench", 1, now)?;
        }
        done += claimed.len();
    }
    let deliver = start.elapsed();
    println!(
        "claim + mark_delivered: {done} signals, one commit per outcome: {:.2} s, {:.0} outcomes/s",
        deliver.as_secs_f64(),
        rate(done, deliver)
    );
    // Reference: the same, with each claimed batch's outcomes in one commit.
    let start = Instant::now();
    let mut batched = 0;
    while batched < outcomes {
        let claimed = outbox.claim_due(
            "bench",
            now,
            batch.min(outcomes - batched),
            Duration::from_secs(60),
        )?;
        if claimed.is_empty() {
            break;
        }
        let results: Vec<Outcome<'_>> = claimed
            .iter()
            .map(|c| Outcome::Delivered {
                id: &c.id,
                attempts: 1,
            })
            .collect();
        outbox.record_outcomes("bench", &results, now)?;
        batched += claimed.len();
    }
    let deliver = start.elapsed();
    println!(
        "claim + record_outcomes: {batched} signals, one commit per claimed batch: {:.2} s, {:.0} outcomes/s",
        deliver.as_secs_f64(),
        rate(batched, deliver)
    );
    let stats = outbox.stats(now)?;
    println!("stats: {stats:?}");
    Ok(())
}

fn rate(count: usize, elapsed: Duration) -> f64 {
    count as f64 / elapsed.as_secs_f64().max(f64::EPSILON)
}
