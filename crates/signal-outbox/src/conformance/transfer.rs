//! Export and import: a backlog moved between two outboxes of the backend
//! under test (each with its own clock) keeps every state, attempt and
//! schedule; importing again skips everything; another body is refused.

use crate::OutboxAdmin as _;
use std::time::Duration;

use super::{TestBackend, claim, dead, delivered, ids, ms, put, record_ok, retry};
use crate::{
    ExportRequest, ExportedSignal, FailureReason, ImportOutcome, OutboxError, SignalDetail, State,
};

/// Every row of `store`, in pages of `page` (keyset by id).
async fn export_all<B: TestBackend>(backend: &B, page: usize) -> Vec<ExportedSignal> {
    let mut out: Vec<ExportedSignal> = Vec::new();
    loop {
        let mut request = ExportRequest::new(page);
        if let Some(last) = out.last() {
            request = request.after(last.id.clone());
        }
        let rows = backend.store().export(request).await.unwrap();
        assert!(rows.len() <= page, "a page holds at most its limit");
        let done = rows.len() < page;
        out.extend(rows);
        if done {
            return out;
        }
    }
}

async fn details<B: TestBackend>(backend: &B, ids: &[&str]) -> Vec<SignalDetail> {
    let ids = ids.iter().map(|id| (*id).to_owned()).collect();
    backend.store().show(ids).await.unwrap()
}

/// A source outbox with a row in every state: `a` pending (fresh), `b`
/// retrying in 50 s (one failed attempt), `c` delivered, `d` dead-lettered,
/// `e` in flight, `f` pending with a body that is not UTF-8.
async fn source<B: TestBackend>() -> B {
    let b = B::fresh().await;
    for id in ["b", "c", "d", "e"] {
        put(&b, id, format!(r#"{{"id":"{id}"}}"#).as_bytes()).await;
    }
    let rows = claim(&b, "w-src", 10).await.rows;
    let claimed: Vec<&str> = rows.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(claimed, ["b", "c", "d", "e"]);
    record_ok(
        &b,
        "w-src",
        retry(&rows[0], Duration::from_secs(60), "503 upstream"),
    )
    .await;
    record_ok(&b, "w-src", delivered(&rows[1])).await;
    record_ok(&b, "w-src", dead(&rows[2], FailureReason::Rejected, false)).await;
    put(&b, "a", br#"{"id":"a"}"#).await;
    put(&b, "f", &[0xff, 0x00, 0xfe]).await;
    b.advance(Duration::from_secs(10)).await;
    b
}

/// Export pages by id; in-flight rows come out pending and due now; the
/// schedule travels as the delay left; an import into an outbox whose clock
/// reads another time stores every row with its state, attempts, history
/// and attempt log, re-basing the schedule on its own now.
pub async fn export_import_round_trip_keeps_every_state<B: TestBackend>() {
    let src = source::<B>().await;
    let exported = export_all(&src, 2).await;
    let exported_ids: Vec<&str> = exported.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(exported_ids, ["a", "b", "c", "d", "e", "f"]);
    let by_id = |id: &str| exported.iter().find(|r| r.id == id).unwrap().clone();
    let e = by_id("e");
    assert_eq!(
        (e.state, e.was_in_flight, e.due_in),
        (State::Pending, true, Duration::ZERO)
    );
    assert_eq!(
        by_id("b").due_in,
        Duration::from_secs(50),
        "60 s delay, 10 s later"
    );
    assert_eq!((by_id("b").attempts, by_id("b").attempt_log.len()), (1, 1));
    assert_eq!(by_id("c").state, State::Delivered);
    assert_eq!(by_id("d").dead_reason, Some(FailureReason::Rejected));
    assert_eq!(&by_id("f").body[..], &[0xff, 0x00, 0xfe]);

    let only = src
        .store()
        .export(ExportRequest::new(10).states(vec![State::DeadLettered, State::InFlight]))
        .await
        .unwrap();
    assert_eq!(
        only.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(),
        ["d", "e"]
    );
    assert!(
        src.store()
            .export(ExportRequest::new(0))
            .await
            .unwrap()
            .is_empty()
    );

    // The destination's clock reads another time entirely.
    let dst = B::fresh().await;
    dst.advance(Duration::from_secs(3_600)).await;
    let dst_now = dst.now().await;
    let outcomes = dst.store().import(exported.clone()).await.unwrap();
    assert_eq!(outcomes, vec![ImportOutcome::Imported; 6]);

    let all = ["a", "b", "c", "d", "e", "f"];
    let before = details(&src, &all).await;
    let after = details(&dst, &all).await;
    assert_eq!(after.len(), 6, "every row is in the destination");
    for (old, new) in before.iter().zip(&after) {
        let id = old.row.id.as_str();
        assert_eq!(new.body, old.body, "{id}: body");
        assert_eq!(new.row.body_hash, old.row.body_hash, "{id}: hash");
        assert_eq!(new.attempts, old.attempts, "{id}: attempt log");
        assert_eq!(
            (
                new.row.attempts,
                new.row.claims,
                new.row.enqueued_at,
                new.row.updated_at
            ),
            (
                old.row.attempts,
                old.row.claims,
                old.row.enqueued_at,
                old.row.updated_at
            ),
            "{id}: counts and history"
        );
        assert_eq!(
            (
                &new.row.last_error,
                new.row.dead_reason,
                new.row.dead_at,
                new.row.delivered_at
            ),
            (
                &old.row.last_error,
                old.row.dead_reason,
                old.row.dead_at,
                old.row.delivered_at
            ),
            "{id}: outcome fields"
        );
        let expected_state = if id == "e" {
            State::Pending
        } else {
            old.row.state
        };
        assert_eq!(new.row.state, expected_state, "{id}: state");
        assert_eq!(
            (&new.row.lease_owner, new.row.lease_until),
            (&None, None),
            "{id}: no lease"
        );
        if new.row.state == State::Pending {
            let due = if id == "b" { 50_000 } else { 0 };
            assert_eq!(
                new.row.next_attempt_at,
                dst_now + due,
                "{id}: re-based schedule"
            );
        }
    }

    // The schedule holds on the destination: b only once its 50 s are up.
    let now_due = claim(&dst, "w-dst", 10).await;
    assert_eq!(ids(&now_due), ["a", "e", "f"]);
    for row in &now_due.rows {
        record_ok(&dst, "w-dst", delivered(row)).await;
    }
    dst.advance(ms(49_999)).await;
    assert!(claim(&dst, "w-dst", 10).await.rows.is_empty());
    dst.advance(ms(1)).await;
    let later = claim(&dst, "w-dst", 10).await;
    assert_eq!(ids(&later), ["b"]);
    assert_eq!(later.rows[0].attempts, 1, "attempts kept");
}

/// Importing an export again skips every row (into the destination and back
/// into the source, where `e` is still in flight); an id stored with
/// another body is a conflict and keeps its body; a purged delivered row's
/// tombstone counts as present; a bad row stores nothing of its batch.
pub async fn import_skips_present_rows_and_refuses_other_bodies<B: TestBackend>() {
    let src = source::<B>().await;
    let exported = export_all(&src, 100).await;
    let dst = B::fresh().await;
    put(&dst, "a", br#"{"id":"other"}"#).await;
    let outcomes = dst.store().import(exported.clone()).await.unwrap();
    assert_eq!(outcomes[0], ImportOutcome::Conflict, "a holds another body");
    assert_eq!(&outcomes[1..], &[ImportOutcome::Imported; 5]);
    let a = details(&dst, &["a"]).await.remove(0);
    assert_eq!(
        &a.body[..],
        br#"{"id":"other"}"#,
        "a conflict overwrites nothing"
    );
    assert_eq!(a.row.attempts, 0);

    let again = dst.store().import(exported.clone()).await.unwrap();
    assert_eq!(&again[1..], &[ImportOutcome::Skipped; 5]);
    assert_eq!(again[0], ImportOutcome::Conflict);
    let back = src.store().import(exported.clone()).await.unwrap();
    assert_eq!(back, vec![ImportOutcome::Skipped; 6]);
    assert_eq!(
        src.store().stats().await.unwrap().in_flight,
        1,
        "e keeps its lease"
    );

    // A delivered row purged on the destination is still known by its hash.
    dst.advance(Duration::from_secs(60)).await;
    let purged = dst.store().purge_delivered(ms(1), 100).await.unwrap();
    assert_eq!(purged.purged, 1);
    let c = exported.iter().find(|r| r.id == "c").unwrap().clone();
    assert_eq!(
        dst.store().import(vec![c.clone()]).await.unwrap(),
        [ImportOutcome::Skipped]
    );
    // Another body under c's id (a's body with its own, valid hash).
    let mut other = c;
    other.body = exported[0].body.clone();
    other.body_hash = exported[0].body_hash.clone();
    assert_eq!(
        dst.store().import(vec![other]).await.unwrap(),
        [ImportOutcome::Conflict]
    );

    // Bad rows: the whole batch is refused, nothing stored.
    let fresh = B::fresh().await;
    let good = exported[1].clone();
    let mut bad_hash = exported[2].clone();
    bad_hash.body = "tampered".into();
    let mut in_flight = exported[3].clone();
    in_flight.state = State::InFlight;
    let mut dead_without_reason = exported[3].clone();
    dead_without_reason.dead_reason = None;
    for bad in [bad_hash, in_flight, dead_without_reason] {
        let err = fresh
            .store()
            .import(vec![good.clone(), bad.clone()])
            .await
            .unwrap_err();
        assert!(
            matches!(err, OutboxError::InvalidInput { .. }),
            "{}: {err:?}",
            bad.id
        );
        assert!(
            err.to_string().contains(&format!("{:?}", bad.id)),
            "names the row: {err}"
        );
    }
    assert_eq!(
        fresh.store().stats().await.unwrap().total(),
        0,
        "nothing stored"
    );
    assert!(fresh.store().import(Vec::new()).await.unwrap().is_empty());
}
