//! A full disk: `SQLITE_FULL` (made on demand with `max_page_count`) is
//! refused as `OutboxError::Full`, the batch is not stored, and the outbox
//! keeps working for what still fits.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::Dir;
use signal_outbox::{EnqueueOutcome, NewSignal, OutboxAdmin, OutboxError, OutboxExt};
use signal_outbox_sqlite::SqliteOptions;

#[tokio::test]
async fn a_full_database_refuses_the_batch_with_a_clear_error_and_stores_none_of_it() {
    let dir = Dir::new();
    let outbox = dir.open_with(SqliteOptions::default().with_max_pages(80));
    let body = vec![b'x'; 16 * 1024];
    let mut stored = 0u64;
    let err = loop {
        let batch = (0..4)
            .map(|i| NewSignal::new(format!("s{stored}-{i}"), body.clone()))
            .collect();
        match outbox.enqueue_signals(batch).await {
            Ok(outcomes) => {
                assert!(outcomes.iter().all(|o| *o == EnqueueOutcome::Inserted));
                stored += 4;
                assert!(stored < 1_000, "the page cap never bit");
            }
            Err(err) => break err,
        }
    };
    match &err {
        OutboxError::Full { target, detail } => {
            assert_eq!(*target, dir.db().display().to_string());
            assert!(detail.contains("full"), "{detail}");
        }
        other => panic!("expected Full, got {other:?}"),
    }
    let msg = err.to_string();
    assert!(
        msg.contains("free disk space") && msg.contains("NOT stored"),
        "{msg}"
    );
    assert!(!err.is_retryable());
    // Nothing of the refused batch was stored; reads still work.
    let stats = outbox.stats().await.unwrap();
    assert_eq!(stats.pending, stored);
    assert!(outbox.get(&format!("s{stored}-0")).await.unwrap().is_none());
    // A small signal may still fit: the outbox is not wedged.
    let small = outbox.enqueue_one(NewSignal::new("tiny", &b"{}"[..])).await;
    assert!(
        matches!(
            small,
            Ok(EnqueueOutcome::Inserted) | Err(OutboxError::Full { .. })
        ),
        "{small:?}"
    );
}
