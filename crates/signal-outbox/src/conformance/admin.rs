//! What operators see and do: the attempt log, stats, lists with keyset
//! pagination, show, replay with selections and audit, heartbeats.

use crate::{OutboxAdmin as _, WorkerRegistry as _};
use std::time::Duration;

use super::{TestBackend, audit, claim, dead, delivered, ms, put, record_ok};
use crate::{
    AttemptRecord, Cursor, FailureReason, ListFilter, NewAuditEntry, OutboxError, OutboxExt,
    Outcome, ReplayRequest, ReplaySelection, State, WorkerInfo,
};

/// Each attempt is logged with the backend's time, the recording worker,
/// status, class, latency and excerpt; outcomes without an attempt log
/// nothing.
pub async fn attempt_log_records_each_attempt<B: TestBackend>() {
    let b = B::fresh().await;
    let o = b.store();
    put(&b, "s", b"x").await;
    let row = claim(&b, "w-1", 1).await.rows.remove(0);
    let first_at = b.now().await;
    let mut failed = AttemptRecord::failed(1, Some(503), "http_503", ms(7));
    failed.excerpt = Some("upstream unavailable".into());
    let outcome = Outcome::Retry {
        id: "s".into(),
        token: row.token,
        attempt: failed,
        delay: ms(0),
        last_error: "503".into(),
    };
    record_ok(&b, "w-1", outcome).await;
    let row = claim(&b, "w-2", 1).await.rows.remove(0);
    record_ok(
        &b,
        "w-2",
        Outcome::Defer {
            id: "s".into(),
            token: row.token,
            delay: ms(10),
        },
    )
    .await;
    b.advance(ms(10)).await;
    let row = claim(&b, "w-2", 1).await.rows.remove(0);
    let second_at = b.now().await;
    record_ok(&b, "w-2", delivered(&row)).await;

    let detail = o.detail("s").await.unwrap().unwrap();
    assert_eq!(&detail.body[..], b"x");
    assert_eq!(detail.row.state, State::Delivered);
    let log: Vec<_> = detail
        .attempts
        .iter()
        .map(|a| {
            (
                a.attempt,
                a.at,
                a.worker.as_str(),
                a.status,
                a.error_class.as_deref(),
                a.latency,
                a.excerpt.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        log,
        [
            (
                1,
                first_at,
                "w-1",
                Some(503),
                Some("http_503"),
                ms(7),
                Some("upstream unavailable")
            ),
            (2, second_at, "w-2", Some(200), None, ms(5), None),
        ]
    );
    assert!(o.detail("ghost").await.unwrap().is_none());
}

/// Counts by state, alerts waiting, and the oldest pending signal's age by
/// the backend's clock.
pub async fn stats_count_states_alerts_and_the_oldest_pending_age<B: TestBackend>() {
    let b = B::fresh().await;
    let o = b.store();
    let empty = o.stats().await.unwrap();
    assert_eq!(
        (
            empty.total(),
            empty.oldest_pending_age,
            empty.alerts_pending
        ),
        (0, None, 0)
    );
    for id in ["d", "x", "f", "p1", "p2"] {
        put(&b, id, id.as_bytes()).await;
        b.advance(ms(1_000)).await;
    }
    let rows = claim(&b, "w", 3).await.rows; // d, x, f
    record_ok(&b, "w", delivered(&rows[0])).await;
    record_ok(
        &b,
        "w",
        dead(&rows[1], FailureReason::SignatureRejected, false),
    )
    .await;
    b.advance(ms(55_000)).await;
    let stats = o.stats().await.unwrap();
    assert_eq!(
        (
            stats.pending,
            stats.in_flight,
            stats.delivered,
            stats.dead_lettered
        ),
        (2, 1, 1, 1)
    );
    assert_eq!(
        (
            stats.total(),
            stats.count(State::InFlight),
            stats.alerts_pending
        ),
        (5, 1, 1)
    );
    // p1 was enqueued 3 s after the start, 60 s have passed.
    assert_eq!(stats.oldest_pending_age, Some(Duration::from_secs(57)));
}

fn ids(rows: &[crate::RowSummary]) -> Vec<&str> {
    rows.iter().map(|r| r.id.as_str()).collect()
}

/// Filters by state, reason, time and id prefix, ordered by enqueue time
/// and id, paged by a keyset cursor.
pub async fn list_filters_and_pages_by_keyset<B: TestBackend>() {
    let b = B::fresh().await;
    let o = b.store();
    let t0 = b.now().await;
    for id in ["a1", "a2", "b1", "b2", "c1"] {
        put(&b, id, b"body").await;
    }
    b.advance(ms(10)).await;
    put(&b, "a3", b"body").await;
    let rows = claim(&b, "w", 2).await.rows; // a1, a2
    record_ok(&b, "w", dead(&rows[0], FailureReason::Deadline, true)).await;
    b.advance(ms(10)).await;
    record_ok(&b, "w", dead(&rows[1], FailureReason::Rejected, false)).await;

    let pending = o
        .list(ListFilter::new(10).state(State::Pending))
        .await
        .unwrap();
    assert_eq!(ids(&pending), ["b1", "b2", "c1", "a3"]);
    assert!(
        pending
            .iter()
            .all(|r| r.state == State::Pending && r.body_len == 4)
    );
    let all = o.list(ListFilter::new(10)).await.unwrap();
    assert_eq!(ids(&all), ["a1", "a2", "b1", "b2", "c1", "a3"]);
    let prefix = ListFilter {
        id_prefix: Some("a".into()),
        ..ListFilter::new(10)
    };
    assert_eq!(ids(&o.list(prefix).await.unwrap()), ["a1", "a2", "a3"]);
    let dead = o
        .list(
            ListFilter::new(10)
                .state(State::DeadLettered)
                .reason(FailureReason::Rejected),
        )
        .await
        .unwrap();
    assert_eq!(ids(&dead), ["a2"]);
    assert_eq!(
        (dead[0].dead_reason, dead[0].dead_at),
        (Some(FailureReason::Rejected), Some(t0 + 20))
    );
    // Time windows: dead-letter time for dead rows, enqueue time otherwise.
    let early_dead = ListFilter {
        until: Some(t0 + 20),
        ..ListFilter::new(10).state(State::DeadLettered)
    };
    assert_eq!(ids(&o.list(early_dead).await.unwrap()), ["a1"]);
    let late = ListFilter {
        since: Some(t0 + 10),
        ..ListFilter::new(10)
    };
    assert_eq!(ids(&o.list(late).await.unwrap()), ["a3"]);

    // Pages of two, each after the previous page's last row.
    let mut pages = Vec::new();
    let mut filter = ListFilter::new(2);
    loop {
        let page = o.list(filter.clone()).await.unwrap();
        let Some(last) = page.last() else { break };
        filter = filter.after(Cursor::after(last));
        pages.push(ids(&page).iter().map(|s| s.to_string()).collect::<Vec<_>>());
    }
    assert_eq!(
        pages,
        [vec!["a1", "a2"], vec!["b1", "b2"], vec!["c1", "a3"]]
    );
    assert!(o.list(ListFilter::new(0)).await.unwrap().is_empty());
}

/// `show` returns bodies and rows in the order asked, leaving out unknown ids.
pub async fn show_returns_rows_in_the_order_asked<B: TestBackend>() {
    let b = B::fresh().await;
    for id in ["a", "b", "c"] {
        put(&b, id, format!("body-{id}").as_bytes()).await;
    }
    let shown = b
        .store()
        .show(vec!["c".into(), "ghost".into(), "a".into()])
        .await
        .unwrap();
    let got: Vec<(&str, &[u8])> = shown
        .iter()
        .map(|d| (d.row.id.as_str(), &d.body[..]))
        .collect();
    assert_eq!(got, [("c", &b"body-c"[..]), ("a", &b"body-a"[..])]);
    assert!(shown.iter().all(|d| d.attempts.is_empty()));
}

/// Replaying ids reports unknown and not-dead ones; the one-id helper turns
/// them into typed errors.
pub async fn replay_reports_unknown_and_not_dead_ids<B: TestBackend>() {
    let b = B::fresh().await;
    let o = b.store();
    put(&b, "dead", b"x").await;
    let row = claim(&b, "w", 1).await.rows.remove(0);
    record_ok(&b, "w", dead(&row, FailureReason::Exhausted, true)).await;
    put(&b, "p", b"x").await;
    let request = ReplayRequest {
        selection: ReplaySelection::Ids(vec!["dead".into(), "p".into(), "ghost".into()]),
        max_age: None,
        dry_run: false,
        audit: audit("replay"),
    };
    let report = o.replay(request).await.unwrap();
    assert_eq!((report.matched, report.replayed), (1, 1));
    assert_eq!(report.not_dead, [("p".to_owned(), State::Pending)]);
    assert_eq!(report.unknown, ["ghost"]);
    assert_eq!(o.get("dead").await.unwrap().unwrap().state, State::Pending);

    let err = o.replay_one("nope", audit("replay")).await.unwrap_err();
    assert!(
        matches!(&err, OutboxError::UnknownId { id } if id == "nope"),
        "{err:?}"
    );
    let err = o.replay_one("p", audit("replay")).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "signal p is pending, but this operation needs it to be dead_lettered"
    );
}

/// A selection by reason and dead-letter time; a dry run counts and writes
/// nothing; `max_age` refuses stale signals; the audit row is written with
/// the counts.
pub async fn replay_selection_dry_run_max_age_and_audit<B: TestBackend>() {
    let b = B::fresh().await;
    let o = b.store();
    put(&b, "old", b"x").await;
    b.advance(Duration::from_secs(3_600)).await;
    for id in ["e1", "e2", "r1"] {
        put(&b, id, b"x").await;
    }
    let t0 = b.now().await;
    let rows = claim(&b, "w", 4).await.rows; // old, e1, e2, r1
    record_ok(&b, "w", dead(&rows[0], FailureReason::Exhausted, true)).await;
    record_ok(&b, "w", dead(&rows[1], FailureReason::Exhausted, true)).await;
    record_ok(&b, "w", dead(&rows[3], FailureReason::Rejected, false)).await;
    b.advance(ms(100)).await;
    record_ok(&b, "w", dead(&rows[2], FailureReason::Exhausted, true)).await;

    let exhausted_early = ReplaySelection::Dead {
        reason: Some(FailureReason::Exhausted),
        since: Some(t0),
        until: Some(t0 + 100),
    };
    let request = |dry_run, max_age| ReplayRequest {
        selection: exhausted_early.clone(),
        max_age,
        dry_run,
        audit: NewAuditEntry {
            detail: r#"{"reason":"exhausted"}"#.into(),
            ..audit("replay")
        },
    };
    let dry = o
        .replay(request(true, Some(Duration::from_secs(600))))
        .await
        .unwrap();
    assert_eq!((dry.matched, dry.replayed, dry.too_old_count), (2, 1, 1));
    assert_eq!(dry.too_old, ["old"]);
    assert_eq!(
        o.get("e1").await.unwrap().unwrap().state,
        State::DeadLettered,
        "a dry run changes nothing"
    );
    assert!(
        o.audit(None, 10).await.unwrap().is_empty(),
        "a dry run writes no audit row"
    );

    let report = o
        .replay(request(false, Some(Duration::from_secs(600))))
        .await
        .unwrap();
    assert_eq!(
        (report.matched, report.replayed, report.too_old_count),
        (2, 1, 1)
    );
    let state = |id: &'static str| async move { o.get(id).await.unwrap().unwrap().state };
    assert_eq!(state("e1").await, State::Pending);
    assert_eq!(state("old").await, State::DeadLettered, "too old: refused");
    assert_eq!(
        state("e2").await,
        State::DeadLettered,
        "dead-lettered after `until`"
    );
    assert_eq!(state("r1").await, State::DeadLettered, "another reason");
    let entries = o.audit(None, 10).await.unwrap();
    assert_eq!(entries.len(), 1);
    let entry = &entries[0];
    assert_eq!(
        (entry.action.as_str(), entry.actor.as_str()),
        ("replay", "os:test@localhost pid 1")
    );
    assert_eq!(
        (entry.at, entry.detail.as_str()),
        (b.now().await, r#"{"reason":"exhausted"}"#)
    );
    let result: serde_json::Value = serde_json::from_str(&entry.result).unwrap();
    assert_eq!(
        (
            result["matched"].as_u64(),
            result["replayed"].as_u64(),
            result["too_old"].as_u64()
        ),
        (Some(2), Some(1), Some(1))
    );

    // Forced (no max age), every reason, any time: the rest comes back.
    let all = ReplayRequest {
        selection: ReplaySelection::Dead {
            reason: None,
            since: None,
            until: None,
        },
        max_age: None,
        dry_run: false,
        audit: audit("replay"),
    };
    let report = o.replay(all).await.unwrap();
    assert_eq!(
        (report.matched, report.replayed, report.too_old_count),
        (3, 3, 0)
    );
    assert_eq!(o.stats().await.unwrap().dead_lettered, 0);
}

/// Audit rows come back in order, paged by id.
pub async fn audit_entries_page_in_order<B: TestBackend>() {
    let b = B::fresh().await;
    let o = b.store();
    let now = b.now().await;
    o.record_audit(vec![audit("one"), audit("two"), audit("three")])
        .await
        .unwrap();
    let first = o.audit(None, 2).await.unwrap();
    assert_eq!(
        first.iter().map(|e| e.action.as_str()).collect::<Vec<_>>(),
        ["one", "two"]
    );
    assert!(first.iter().all(|e| e.at == now && e.detail == "{}"));
    let rest = o.audit(Some(first[1].id), 10).await.unwrap();
    assert_eq!(
        rest.iter().map(|e| e.action.as_str()).collect::<Vec<_>>(),
        ["three"]
    );
    assert!(first[0].id < first[1].id && first[1].id < rest[0].id);
}

/// Heartbeats register workers with first and last sight; a stop is
/// recorded; old sightings drop out of the window.
pub async fn heartbeats_register_workers_until_they_stop<B: TestBackend>() {
    let b = B::fresh().await;
    let o = b.store();
    let info = |name: &str| WorkerInfo {
        name: name.into(),
        host: "host-a".into(),
        pid: 42,
        version: "0.1.0".into(),
    };
    let t0 = b.now().await;
    o.heartbeat(info("w1")).await.unwrap();
    b.advance(ms(3_000)).await;
    o.heartbeat(info("w1")).await.unwrap();
    o.heartbeat(info("w2")).await.unwrap();
    let seen = o.workers(Duration::from_secs(10)).await.unwrap();
    assert_eq!(seen.len(), 2);
    let w1 = seen.iter().find(|w| w.name == "w1").unwrap();
    assert_eq!(
        (w1.started_at, w1.last_seen, w1.stopped),
        (t0, t0 + 3_000, false)
    );
    assert_eq!(
        (w1.host.as_str(), w1.pid, w1.version.as_str()),
        ("host-a", 42, "0.1.0")
    );
    o.worker_stopped("w1").await.unwrap();
    let seen = o.workers(Duration::from_secs(10)).await.unwrap();
    assert!(seen.iter().find(|w| w.name == "w1").unwrap().stopped);
    b.advance(ms(10_001)).await;
    assert!(o.workers(Duration::from_secs(10)).await.unwrap().is_empty());
    assert!(matches!(
        o.heartbeat(info("")).await,
        Err(OutboxError::InvalidInput { .. })
    ));
}
