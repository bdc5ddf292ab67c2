//! Durable alerts: stored with the change that caused them, the failure
//! ledger and the recovered message, the sender lease, folding and
//! summaries across restarts.

use crate::{AlertStore as _, OutboxAdmin as _, SignalStore as _};
use std::time::Duration;

use super::{TestBackend, claim, dead, delivered, ms, put, record_ok};
use crate::{
    AlertId, AlertKind, AlertState, AlertUpdate, CONFLICT_GROUP, EnqueueBatch, EnqueueOutcome,
    FailureReason, NewAlert, NewSignal, OutboxError, RECOVERED_GROUP, SenderLease, StoredAlert,
    conflict_payload, recovered_payload,
};

/// Every stored alert, oldest first.
async fn all_alerts<B: TestBackend>(b: &B) -> Vec<StoredAlert> {
    b.store().alerts(None, 1_000).await.unwrap()
}

fn notice(group: &str, n: u32) -> NewAlert {
    NewAlert {
        kind: AlertKind::Notice,
        group_key: group.to_owned(),
        signal_id: None,
        payload: format!(r#"{{"n":{n}}}"#),
    }
}

async fn lease<B: TestBackend>(b: &B, worker: &str) -> SenderLease {
    b.store()
        .acquire_sender(worker, Duration::from_secs(10))
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("{worker} could not get the sender lease"))
}

/// Dead letters store their alert in the same transaction, pending, with
/// the consecutive-failure count; the ledger survives a restart.
pub async fn dead_letter_stores_its_alert_and_counts_consecutive_failures<B: TestBackend>() {
    let b = B::fresh().await;
    for id in ["a", "b"] {
        put(&b, id, b"x").await;
    }
    let claims = claim(&b, "w", 2).await;
    let now = b.now().await;
    let results = b
        .store()
        .record(
            "w",
            vec![
                dead(&claims.rows[0], FailureReason::Exhausted, true),
                dead(&claims.rows[1], FailureReason::Rejected, false),
            ],
        )
        .await
        .unwrap();
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    let alerts = all_alerts(&b).await;
    assert_eq!(alerts.len(), 2, "{alerts:?}");
    for (alert, (id, reason, consecutive)) in alerts.iter().zip([
        ("a", FailureReason::Exhausted, 1),
        ("b", FailureReason::Rejected, 2),
    ]) {
        assert_eq!(alert.kind, AlertKind::SignalFailure);
        assert_eq!(alert.state, AlertState::Pending);
        assert_eq!(alert.signal_id.as_deref(), Some(id));
        assert_eq!(alert.payload, super::failure_alert(id, reason).payload);
        assert_eq!(alert.group_key, format!("post_signal:{reason}"));
        assert_eq!((alert.consecutive, alert.attempts), (consecutive, 0));
        assert_eq!((alert.created_at, alert.not_before), (now, now));
        assert_eq!(
            (alert.sent_at, alert.message_id, alert.summary_of),
            (None, None, None)
        );
    }
    assert!(alerts[0].id < alerts[1].id, "ids grow in creation order");
    let b = b.restart().await;
    let ledger = b.store().ledger().await.unwrap();
    assert_eq!(ledger.consecutive_failures, 2);
    let outage = ledger
        .outage
        .expect("an exhausted dead letter opens an outage");
    assert_eq!(
        (outage.started_at, outage.failed),
        (now, 1),
        "a rejection does not count"
    );
    assert_eq!(b.store().stats().await.unwrap().alerts_pending, 2);
}

/// An outage (server or network failures) ends at the first delivery with
/// exactly one recovered alert giving its length and failures; the next
/// outage gets its own.
pub async fn an_outage_ends_with_exactly_one_recovered_alert<B: TestBackend>() {
    let b = B::fresh().await;
    for id in ["f1", "f2", "ok1", "ok2", "f3", "ok3"] {
        put(&b, id, b"x").await;
    }
    let started = b.now().await;
    let rows = claim(&b, "w", 6).await.rows;
    record_ok(&b, "w", dead(&rows[0], FailureReason::Exhausted, true)).await;
    b.advance(ms(60_000)).await;
    record_ok(&b, "w", dead(&rows[1], FailureReason::Deadline, true)).await;
    b.advance(ms(1_000)).await;
    let ended = b.now().await;
    // Two deliveries in one batch: only the first closes the outage.
    let results = b
        .store()
        .record("w", vec![delivered(&rows[2]), delivered(&rows[3])])
        .await
        .unwrap();
    assert!(results.iter().all(Result::is_ok));
    let recovered: Vec<StoredAlert> = all_alerts(&b)
        .await
        .into_iter()
        .filter(|a| a.kind == AlertKind::Recovered)
        .collect();
    assert_eq!(recovered.len(), 1, "{recovered:?}");
    let alert = &recovered[0];
    assert_eq!(alert.payload, recovered_payload(started, ended, 2));
    assert_eq!(
        (alert.group_key.as_str(), alert.signal_id.as_deref()),
        (RECOVERED_GROUP, None)
    );
    assert_eq!(
        (alert.state, alert.created_at, alert.consecutive),
        (AlertState::Pending, ended, 0)
    );
    let ledger = b.store().ledger().await.unwrap();
    assert_eq!((ledger.consecutive_failures, ledger.outage), (0, None));

    // A second outage, a second (and only one more) recovered alert.
    record_ok(&b, "w", dead(&rows[4], FailureReason::Budget, true)).await;
    let second_start = b.now().await;
    b.advance(ms(5)).await;
    record_ok(&b, "w", delivered(&rows[5])).await;
    let recovered: Vec<StoredAlert> = all_alerts(&b)
        .await
        .into_iter()
        .filter(|a| a.kind == AlertKind::Recovered)
        .collect();
    assert_eq!(recovered.len(), 2);
    assert_eq!(
        recovered[1].payload,
        recovered_payload(second_start, second_start + 5, 1)
    );
}

/// Deliveries with no outage store no recovered alert, even after a
/// rejection (which resets nothing but the consecutive count on delivery).
pub async fn no_recovered_alert_without_an_outage<B: TestBackend>() {
    let b = B::fresh().await;
    for id in ["ok", "rejected", "ok2"] {
        put(&b, id, b"x").await;
    }
    let rows = claim(&b, "w", 3).await.rows;
    record_ok(&b, "w", delivered(&rows[0])).await;
    assert!(
        all_alerts(&b).await.is_empty(),
        "a delivery alone alerts nothing"
    );
    record_ok(&b, "w", dead(&rows[1], FailureReason::Rejected, false)).await;
    let ledger = b.store().ledger().await.unwrap();
    assert_eq!((ledger.consecutive_failures, ledger.outage), (1, None));
    record_ok(&b, "w", delivered(&rows[2])).await;
    let kinds: Vec<AlertKind> = all_alerts(&b).await.iter().map(|a| a.kind).collect();
    assert_eq!(
        kinds,
        [AlertKind::SignalFailure],
        "no recovered alert without an outage"
    );
    assert_eq!(b.store().ledger().await.unwrap().consecutive_failures, 0);
}

/// A conflict at enqueue and the alerts passed with the batch are stored
/// in the enqueue's transaction; a refused batch stores no alert.
pub async fn conflict_and_invalid_line_alerts_are_stored_with_the_enqueue<B: TestBackend>() {
    let b = B::fresh().await;
    let o = b.store();
    put(&b, "taken", b"first").await;
    let invalid = NewAlert {
        kind: AlertKind::InvalidLine,
        group_key: "validate_signal:invalid_json".into(),
        signal_id: None,
        payload: r#"{"line":2}"#.into(),
    };
    let batch = EnqueueBatch {
        signals: vec![
            NewSignal::new("new", &b"n"[..]).at_line(1),
            NewSignal::new("taken", &b"second"[..]).at_line(3),
        ],
        alerts: vec![invalid.clone()],
    };
    let now = b.now().await;
    let outcomes = o.enqueue(batch).await.unwrap();
    assert_eq!(
        outcomes,
        [EnqueueOutcome::Inserted, EnqueueOutcome::Conflict]
    );
    let alerts = all_alerts(&b).await;
    assert_eq!(alerts.len(), 2, "{alerts:?}");
    let conflict = alerts
        .iter()
        .find(|a| a.kind == AlertKind::Conflict)
        .unwrap();
    assert_eq!(conflict.payload, conflict_payload("taken", Some(3)));
    assert_eq!(
        (conflict.group_key.as_str(), conflict.signal_id.as_deref()),
        (CONFLICT_GROUP, Some("taken"))
    );
    assert_eq!(
        (conflict.state, conflict.created_at),
        (AlertState::Pending, now)
    );
    let stored = alerts
        .iter()
        .find(|a| a.kind == AlertKind::InvalidLine)
        .unwrap();
    assert_eq!(
        (&stored.group_key, &stored.payload),
        (&invalid.group_key, &invalid.payload)
    );

    let refused = EnqueueBatch {
        signals: vec![NewSignal::new("", &b"x"[..])],
        alerts: vec![invalid],
    };
    assert!(o.enqueue(refused).await.is_err());
    assert_eq!(
        all_alerts(&b).await.len(),
        2,
        "a refused batch stores no alert"
    );
}

/// One sender at a time; the holder renews with the same token and a later
/// expiry; an empty name or a zero lease is refused.
pub async fn only_one_sender_holds_the_lease<B: TestBackend>() {
    let b = B::fresh().await;
    let o = b.store();
    let now = b.now().await;
    let first = lease(&b, "w1").await;
    assert_eq!((first.now, first.until), (now, now + 10_000));
    assert_eq!(
        o.acquire_sender("w2", Duration::from_secs(10))
            .await
            .unwrap(),
        None
    );
    let second = b.second().await;
    assert_eq!(
        second
            .acquire_sender("w3", Duration::from_secs(10))
            .await
            .unwrap(),
        None
    );
    b.advance(ms(4_000)).await;
    let renewed = lease(&b, "w1").await;
    assert_eq!((renewed.token, renewed.until), (first.token, now + 14_000));
    assert!(matches!(
        o.acquire_sender("", ms(1)).await,
        Err(OutboxError::InvalidInput { .. })
    ));
    assert!(matches!(
        o.acquire_sender("w1", Duration::ZERO).await,
        Err(OutboxError::InvalidInput { .. })
    ));
}

/// A sender that stops renewing loses the lease to the next worker once it
/// expires, and its old lease is refused from then on.
pub async fn a_sender_that_stops_renewing_loses_the_lease<B: TestBackend>() {
    let b = B::fresh().await;
    let o = b.store();
    let old = lease(&b, "w1").await;
    b.advance(ms(9_999)).await;
    assert_eq!(
        o.acquire_sender("w2", Duration::from_secs(10))
            .await
            .unwrap(),
        None
    );
    b.advance(ms(1)).await;
    let new = lease(&b, "w2").await;
    assert_ne!(new.token, old.token);
    assert_eq!(
        o.acquire_sender("w1", Duration::from_secs(10))
            .await
            .unwrap(),
        None
    );
    let err = o.pending_alerts(&old, 10).await.unwrap_err();
    assert!(
        matches!(&err, OutboxError::SenderFenced { holder: Some(h) } if h == "w2"),
        "{err:?}"
    );
    assert!(matches!(
        o.alert_groups(&old, ms(1_000)).await,
        Err(OutboxError::SenderFenced { .. })
    ));
    assert!(o.pending_alerts(&new, 10).await.unwrap().is_empty());
}

/// Updates carrying a lease another worker has taken over are refused and
/// change nothing; the holder's updates apply.
pub async fn updates_with_a_stale_sender_lease_are_refused<B: TestBackend>() {
    let b = B::fresh().await;
    let o = b.store();
    let ids = o.record_alerts(vec![notice("g", 1)]).await.unwrap();
    let old = lease(&b, "w1").await;
    assert_eq!(o.pending_alerts(&old, 10).await.unwrap().len(), 1);
    b.advance(ms(10_000)).await;
    let new = lease(&b, "w2").await;
    let sent = AlertUpdate::Sent {
        id: ids[0],
        message_id: Some(77),
    };
    let err = o.update_alerts(&old, vec![sent.clone()]).await.unwrap_err();
    assert!(matches!(err, OutboxError::SenderFenced { .. }), "{err:?}");
    assert_eq!(
        all_alerts(&b).await[0].state,
        AlertState::Pending,
        "nothing applied"
    );
    let sent_at = b.now().await;
    o.update_alerts(&new, vec![sent]).await.unwrap();
    let alert = &all_alerts(&b).await[0];
    assert_eq!(
        (alert.state, alert.sent_at, alert.message_id),
        (AlertState::Sent, Some(sent_at), Some(77))
    );
    assert!(o.pending_alerts(&new, 10).await.unwrap().is_empty());
    let unknown = AlertUpdate::Folded {
        id: AlertId(ids[0].0 + 1_000),
    };
    assert!(matches!(
        o.update_alerts(&new, vec![unknown]).await,
        Err(OutboxError::InvalidInput { .. })
    ));
}

/// A transient sending failure waits for its delay and counts an attempt;
/// a permanent one ends the alert.
pub async fn alert_retries_wait_and_failures_are_final<B: TestBackend>() {
    let b = B::fresh().await;
    let o = b.store();
    let ids = o
        .record_alerts(vec![notice("g", 1), notice("g", 2)])
        .await
        .unwrap();
    let held = lease(&b, "w").await;
    let pending = o.pending_alerts(&held, 10).await.unwrap();
    assert_eq!(
        pending.iter().map(|a| a.id).collect::<Vec<_>>(),
        ids,
        "oldest first"
    );
    assert_eq!(
        o.pending_alerts(&held, 1).await.unwrap().len(),
        1,
        "limit respected"
    );
    let now = b.now().await;
    let retry = AlertUpdate::Retry {
        id: ids[0],
        delay: ms(5_000),
        error: "429 retry after 5".into(),
    };
    let failed = AlertUpdate::Failed {
        id: ids[1],
        error: "chat not found".into(),
    };
    o.update_alerts(&held, vec![retry, failed]).await.unwrap();
    assert!(
        o.pending_alerts(&held, 10).await.unwrap().is_empty(),
        "the retry waits"
    );
    b.advance(ms(5_000)).await;
    let held = lease(&b, "w").await;
    let due = o.pending_alerts(&held, 10).await.unwrap();
    assert_eq!(due.len(), 1);
    assert_eq!(
        (due[0].id, due[0].attempts, due[0].not_before),
        (ids[0], 1, now + 5_000)
    );
    assert_eq!(due[0].last_error.as_deref(), Some("429 retry after 5"));
    let all = all_alerts(&b).await;
    assert_eq!((all[1].state, all[1].attempts), (AlertState::Failed, 1));
    assert_eq!(all[1].last_error.as_deref(), Some("chat not found"));
    assert_eq!(o.stats().await.unwrap().alerts_pending, 1);
}

/// Folded alerts are rows: after a restart the group still lists them, one
/// summary counts them all, and they are never counted twice.
pub async fn folded_alerts_survive_a_restart_and_are_summarized_once<B: TestBackend>() {
    let b = B::fresh().await;
    let o = b.store();
    let ids = o
        .record_alerts(vec![
            notice("g", 1),
            notice("g", 2),
            notice("g", 3),
            notice("h", 4),
        ])
        .await
        .unwrap();
    let held = lease(&b, "w").await;
    let sent_at = b.now().await;
    let updates = vec![
        AlertUpdate::Sent {
            id: ids[0],
            message_id: Some(1),
        },
        AlertUpdate::Folded { id: ids[1] },
        AlertUpdate::Folded { id: ids[2] },
    ];
    o.update_alerts(&held, updates).await.unwrap();
    b.advance(ms(30_000)).await;
    let b = b.restart().await;
    let o = b.store();
    let held = lease(&b, "w").await;
    let groups = o
        .alert_groups(&held, Duration::from_secs(60))
        .await
        .unwrap();
    let g = groups.iter().find(|g| g.group_key == "g").expect("group g");
    let folded: Vec<AlertId> = g.folded.iter().map(|a| a.id).collect();
    assert_eq!(
        (g.last_sent_at, folded),
        (Some(sent_at), vec![ids[1], ids[2]])
    );
    assert_eq!(g.recent_sends, vec![sent_at]);
    assert!(
        g.folded
            .iter()
            .all(|a| a.state == AlertState::Folded && a.group_key == "g"),
        "whole rows: {g:?}"
    );
    assert_eq!(g.oldest_folded_at, Some(sent_at));
    assert!(
        groups.iter().all(|g| g.group_key != "h"),
        "h has no send and no fold: {groups:?}"
    );

    let summary_at = b.now().await;
    let summary = NewAlert {
        kind: AlertKind::Summary,
        ..notice("g", 0)
    };
    let summarized = AlertUpdate::Summarized {
        summary,
        folded: vec![ids[1], ids[2]],
        message_id: Some(2),
    };
    o.update_alerts(&held, vec![summarized.clone()])
        .await
        .unwrap();
    let err = o.update_alerts(&held, vec![summarized]).await.unwrap_err();
    assert!(
        matches!(err, OutboxError::InvalidInput { .. }),
        "counted once: {err:?}"
    );
    let all = all_alerts(&b).await;
    let summaries: Vec<&StoredAlert> = all
        .iter()
        .filter(|a| a.kind == AlertKind::Summary)
        .collect();
    assert_eq!(summaries.len(), 1, "{all:?}");
    let summary = summaries[0];
    assert_eq!(
        (summary.state, summary.sent_at, summary.message_id),
        (AlertState::Sent, Some(summary_at), Some(2))
    );
    for id in [ids[1], ids[2]] {
        let folded = all.iter().find(|a| a.id == id).unwrap();
        assert_eq!(
            (folded.state, folded.summary_of),
            (AlertState::Summarized, Some(summary.id))
        );
    }
    let groups = o
        .alert_groups(&held, Duration::from_secs(60))
        .await
        .unwrap();
    let g = groups.iter().find(|g| g.group_key == "g").unwrap();
    assert_eq!(
        (g.last_sent_at, g.folded.is_empty()),
        (Some(summary_at), true)
    );
    assert_eq!(g.recent_sends, vec![sent_at, summary_at]);
    b.advance(ms(60_001)).await;
    let held = lease(&b, "w").await;
    let groups = o
        .alert_groups(&held, Duration::from_secs(60))
        .await
        .unwrap();
    assert!(
        groups.iter().all(|g| g.group_key != "g"),
        "no send within the window: {groups:?}"
    );
}
