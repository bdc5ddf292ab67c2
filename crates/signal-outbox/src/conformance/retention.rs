//! Retention: purging delivered rows in bounded transactions, tombstones
//! that keep duplicate detection working, and their expiry.

use crate::{AlertStore as _, OutboxAdmin as _};
use std::time::Duration;

use super::{TestBackend, claim, dead, delivered, ms, put, record_ok};
use crate::{AlertKind, EnqueueOutcome, FailureReason, NewSignal, OutboxError, OutboxExt};

/// Only rows delivered longer ago than the cutoff go, with their attempt
/// log, in transactions of at most `limit` rows; a producer's late retry of
/// a purged id is still a duplicate (or a conflict) by its body hash.
pub async fn purge_removes_only_old_delivered_rows_and_keeps_tombstones<B: TestBackend>() {
    let b = B::fresh().await;
    let o = b.store();
    for id in ["old1", "old2", "old3", "new", "dead", "waiting"] {
        put(&b, id, id.as_bytes()).await;
    }
    let rows = claim(&b, "w", 5).await.rows; // dead, new, old1, old2, old3
    assert_eq!(
        rows.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(),
        ["dead", "new", "old1", "old2", "old3"]
    );
    b.advance(ms(1_000)).await;
    record_ok(&b, "w", dead(&rows[0], FailureReason::Rejected, false)).await;
    for row in &rows[2..] {
        record_ok(&b, "w", delivered(row)).await;
    }
    b.advance(ms(8_000)).await;
    record_ok(&b, "w", delivered(&rows[1])).await;
    b.advance(ms(5_000)).await; // old* delivered 13 s ago, new 5 s ago

    let err = o
        .purge_delivered(Duration::from_secs(10), 0)
        .await
        .unwrap_err();
    assert!(matches!(err, OutboxError::InvalidInput { .. }), "{err:?}");
    let report = o.purge_delivered(Duration::from_secs(10), 1).await.unwrap();
    assert_eq!(
        (report.purged, report.attempts_removed),
        (3, 3),
        "three transactions of one row"
    );
    for id in ["old1", "old2", "old3"] {
        assert!(o.get(id).await.unwrap().is_none(), "{id} purged");
    }
    for id in ["new", "dead", "waiting"] {
        assert!(o.get(id).await.unwrap().is_some(), "{id} kept");
    }
    assert_eq!(o.stats().await.unwrap().total(), 3);
    assert_eq!(
        o.purge_delivered(Duration::from_secs(10), 100)
            .await
            .unwrap()
            .purged,
        0
    );

    // The tombstone answers for the purged id.
    let again = o
        .enqueue_one(NewSignal::new("old1", &b"old1"[..]))
        .await
        .unwrap();
    assert_eq!(again, EnqueueOutcome::AlreadyPresent);
    let other = o
        .enqueue_one(NewSignal::new("old2", &b"another body"[..]).at_line(9))
        .await
        .unwrap();
    assert_eq!(other, EnqueueOutcome::Conflict);
    let alerts = o.alerts(None, 100).await.unwrap();
    assert!(
        alerts
            .iter()
            .any(|a| a.kind == AlertKind::Conflict && a.signal_id.as_deref() == Some("old2"))
    );
    assert!(
        o.get("old1").await.unwrap().is_none(),
        "nothing was stored again"
    );
}

/// Past the dedup window a tombstone is deleted by the next purge, and the
/// id can be enqueued again (and is delivered again: documented).
pub async fn tombstones_expire_after_the_dedup_window<B: TestBackend>() {
    let b = B::fresh().await;
    let o = b.store();
    put(&b, "s", b"x").await;
    let row = claim(&b, "w", 1).await.rows.remove(0);
    record_ok(&b, "w", delivered(&row)).await;
    b.advance(ms(1)).await;
    assert_eq!(
        o.purge_delivered(Duration::ZERO, 10).await.unwrap().purged,
        1
    );
    b.advance(B::DEDUP_WINDOW - ms(2)).await;
    o.purge_delivered(Duration::ZERO, 10).await.unwrap();
    assert_eq!(
        o.enqueue_one(NewSignal::new("s", &b"x"[..])).await.unwrap(),
        EnqueueOutcome::AlreadyPresent,
        "still inside the window"
    );
    b.advance(ms(2)).await;
    o.purge_delivered(Duration::ZERO, 10).await.unwrap();
    assert_eq!(
        o.enqueue_one(NewSignal::new("s", &b"y"[..])).await.unwrap(),
        EnqueueOutcome::Inserted
    );
}
