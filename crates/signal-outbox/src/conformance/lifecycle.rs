//! Enqueue and claim: idempotence, exact bytes, due order, leases, fresh
//! tokens, restarts, and two handles on one storage.

use crate::{OutboxAdmin as _, SignalStore as _};
use std::collections::HashSet;
use std::time::Duration;

use super::{LEASE, TestBackend, audit, claim, dead, delivered, ids, ms, put, record_ok, retry};
use crate::{EnqueueBatch, EnqueueOutcome, NewSignal, OutboxError, OutboxExt, State};

/// Inserted, then `AlreadyPresent` for the same body and `Conflict` for
/// another one, within a batch and across batches; a conflict leaves the
/// stored row untouched.
pub async fn enqueue_reports_inserted_already_present_and_conflict<B: TestBackend>() {
    let b = B::fresh().await;
    let o = b.store();
    let outcomes = o
        .enqueue_signals(vec![
            NewSignal::new("a", &b"body-a"[..]),
            NewSignal::new("b", &b"body-b"[..]),
            // The same id twice in one batch: the second sees the first.
            NewSignal::new("a", &b"body-a"[..]),
            NewSignal::new("b", &b"DIFFERENT"[..]),
        ])
        .await
        .unwrap();
    assert_eq!(
        outcomes,
        [
            EnqueueOutcome::Inserted,
            EnqueueOutcome::Inserted,
            EnqueueOutcome::AlreadyPresent,
            EnqueueOutcome::Conflict,
        ]
    );
    // A producer retry in a later batch: idempotent.
    b.advance(ms(5)).await;
    let again = o
        .enqueue_signals(vec![
            NewSignal::new("a", &b"body-a"[..]),
            NewSignal::new("c", &b"body-c"[..]),
        ])
        .await
        .unwrap();
    assert_eq!(
        again,
        [EnqueueOutcome::AlreadyPresent, EnqueueOutcome::Inserted]
    );

    let before = o.get("a").await.unwrap().unwrap();
    let conflict = o
        .enqueue_one(NewSignal::new("a", &b"body-A"[..]))
        .await
        .unwrap();
    assert_eq!(conflict, EnqueueOutcome::Conflict);
    let err = conflict.into_result("a").unwrap_err();
    assert!(
        matches!(&err, OutboxError::Conflict { id } if id == "a"),
        "{err:?}"
    );
    assert_eq!(
        o.get("a").await.unwrap().unwrap(),
        before,
        "a conflict changes nothing"
    );
    let claims = claim(&b, "w", 10).await;
    let a = claims.rows.iter().find(|c| c.id == "a").unwrap();
    assert_eq!(
        &a.body[..],
        b"body-a",
        "the original body is what gets delivered"
    );
    assert_eq!(o.stats().await.unwrap().total(), 3);
}

/// Bodies come back byte for byte (large, binary, empty); an empty id fails
/// the whole batch and stores nothing; an empty batch is fine.
pub async fn enqueue_stores_exact_bytes_and_rejects_empty_ids<B: TestBackend>() {
    let b = B::fresh().await;
    let o = b.store();
    let body: Vec<u8> = (0..=255u8).cycle().take(100_000).collect();
    put(&b, "big", &body).await;
    put(&b, "empty-body", b"").await;
    let claims = claim(&b, "w", 10).await;
    assert_eq!(claims.rows.len(), 2);
    let big = claims.rows.iter().find(|c| c.id == "big").unwrap();
    assert_eq!(&big.body[..], &body[..]);
    assert!(
        claims
            .rows
            .iter()
            .any(|c| c.id == "empty-body" && c.body.is_empty())
    );
    let row = o.get("big").await.unwrap().unwrap();
    assert_eq!(row.body_len, 100_000);
    assert_eq!(row.body_hash.len(), 64);
    assert!(
        row.body_hash
            .bytes()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
    );

    let err = o
        .enqueue_signals(vec![
            NewSignal::new("ok", &b"x"[..]),
            NewSignal::new("", &b"y"[..]),
        ])
        .await
        .unwrap_err();
    assert!(matches!(err, OutboxError::InvalidInput { .. }), "{err:?}");
    assert!(
        o.get("ok").await.unwrap().is_none(),
        "an invalid batch stores nothing"
    );
    assert!(o.enqueue(EnqueueBatch::default()).await.unwrap().is_empty());
}

/// Only due rows, oldest due first, up to the limit; leased rows are not
/// claimable; the claim reports the backend's now and the lease expiry.
pub async fn claim_takes_only_due_rows_oldest_first_up_to_the_limit<B: TestBackend>() {
    let b = B::fresh().await;
    let o = b.store();
    let t0 = b.now().await;
    put(&b, "a", b"1").await;
    b.advance(ms(1)).await;
    put(&b, "b", b"2").await;
    b.advance(ms(1)).await;
    put(&b, "c", b"3").await;
    b.advance(ms(3)).await;

    let empty = o.claim("w1", 0, LEASE).await.unwrap();
    assert!(empty.rows.is_empty(), "a zero limit claims nothing");
    assert_eq!(empty.now, t0 + 5, "and still reports the backend's now");

    let first = claim(&b, "w1", 2).await;
    assert_eq!(ids(&first), ["a", "b"], "oldest due first, limit respected");
    assert_eq!(first.now, t0 + 5);
    for c in &first.rows {
        assert_eq!(
            (c.attempts, c.claims, c.last_error.as_deref()),
            (0, 1, None)
        );
        assert_eq!(c.lease_until, t0 + 5 + 30_000);
    }
    assert_eq!(first.rows[0].enqueued_at, t0);
    assert_eq!(first.rows[1].enqueued_at, t0 + 1);
    let a = o.get("a").await.unwrap().unwrap();
    assert_eq!(a.state, State::InFlight);
    assert_eq!(a.lease_owner.as_deref(), Some("w1"));
    assert_eq!(a.lease_until, Some(t0 + 5 + 30_000));

    let rest = claim(&b, "w2", 10).await;
    assert_eq!(ids(&rest), ["c"], "leased rows are not claimable");
    assert!(claim(&b, "w3", 10).await.rows.is_empty());
    let stats = o.stats().await.unwrap();
    assert_eq!((stats.pending, stats.in_flight), (0, 3));
}

/// An empty worker name and a zero lease are refused, naming the problem.
pub async fn claim_validates_its_arguments<B: TestBackend>() {
    let b = B::fresh().await;
    let o = b.store();
    put(&b, "a", b"1").await;
    let err = o.claim("", 1, LEASE).await.unwrap_err();
    assert!(
        matches!(&err, OutboxError::InvalidInput { reason } if reason.contains("worker")),
        "{err:?}"
    );
    let err = o.claim("w", 1, Duration::ZERO).await.unwrap_err();
    assert!(
        matches!(&err, OutboxError::InvalidInput { reason } if reason.contains("lease")),
        "{err:?}"
    );
    assert_eq!(
        o.get("a").await.unwrap().unwrap().state,
        State::Pending,
        "nothing claimed"
    );
}

/// Every claim of a row gets a token different from all its earlier ones,
/// across releases, retries, expiries and replays.
pub async fn every_claim_gets_a_fresh_token<B: TestBackend>() {
    let b = B::fresh().await;
    let o = b.store();
    put(&b, "s", b"x").await;
    let mut seen = HashSet::new();
    for round in 0..7u64 {
        let claims = o.claim("w", 1, ms(100)).await.unwrap();
        let row = &claims.rows[0];
        assert_eq!(row.id, "s");
        assert!(
            seen.insert(row.token),
            "round {round}: token {:?} reused",
            row.token
        );
        match round % 4 {
            0 => {
                let release = crate::Outcome::Release {
                    id: row.id.clone(),
                    token: row.token,
                };
                record_ok(&b, "w", release).await;
            }
            1 => record_ok(&b, "w", retry(row, Duration::ZERO, "503")).await,
            2 => b.advance(ms(100)).await, // the lease expires
            _ => {
                // Dead-lettered and replayed: the claim count starts again,
                // the tokens do not.
                record_ok(&b, "w", dead(row, crate::FailureReason::Rejected, false)).await;
                o.replay_one("s", audit("replay")).await.unwrap();
            }
        }
    }
    assert_eq!(seen.len(), 7);
}

/// Lease expiry: the row is claimed again with a new token; the dead
/// worker's outcomes are refused as `Fenced`, naming the new holder.
pub async fn expired_lease_is_claimed_again_and_the_stale_token_is_fenced<B: TestBackend>() {
    let b = B::fresh().await;
    let o = b.store();
    put(&b, "s", b"signal").await;
    let lease = Duration::from_secs(10);
    let mine = o.claim("dying", 10, lease).await.unwrap();
    assert_eq!(ids(&mine), ["s"]);
    assert!(
        !mine.rows[0].lease_expired,
        "a first claim takes a pending row"
    );
    b.advance(ms(9_999)).await;
    assert!(
        o.claim("rescuer", 10, lease).await.unwrap().rows.is_empty(),
        "still leased"
    );
    b.advance(ms(1)).await;
    let rescued = o.claim("rescuer", 10, lease).await.unwrap();
    assert_eq!(ids(&rescued), ["s"]);
    assert_eq!((rescued.rows[0].claims, rescued.rows[0].attempts), (2, 0));
    assert!(
        rescued.rows[0].lease_expired,
        "the rescue is a lease expiry"
    );
    assert_ne!(rescued.rows[0].token, mine.rows[0].token);

    // The zombie wakes up: every change it tries is refused.
    let zombie = &mine.rows[0];
    let err = o.record_one("dying", delivered(zombie)).await.unwrap_err();
    match &err {
        OutboxError::Fenced { id, state, owner } => {
            assert_eq!((id.as_str(), *state), ("s", State::InFlight));
            assert_eq!(owner.as_deref(), Some("rescuer"));
        }
        other => panic!("expected Fenced, got {other:?}"),
    }
    assert!(err.to_string().contains("leased by rescuer"), "{err}");
    let release = crate::Outcome::Release {
        id: "s".into(),
        token: zombie.token,
    };
    assert!(matches!(
        o.record_one("dying", release).await,
        Err(OutboxError::Fenced { .. })
    ));
    assert!(matches!(
        o.extend_one("s", zombie.token, lease).await,
        Err(OutboxError::Fenced { .. })
    ));
    let row = o.get("s").await.unwrap().unwrap();
    assert_eq!(
        row.lease_owner.as_deref(),
        Some("rescuer"),
        "nothing overwritten"
    );

    // The rescuer's outcome counts; once delivered, nobody can change it.
    let now = b.now().await;
    record_ok(&b, "rescuer", delivered(&rescued.rows[0])).await;
    let row = o.get("s").await.unwrap().unwrap();
    assert_eq!(
        (row.state, row.attempts, row.delivered_at),
        (State::Delivered, 1, Some(now))
    );
    assert_eq!((row.lease_owner, row.lease_until), (None, None));
    let err = o
        .record_one("rescuer", delivered(&rescued.rows[0]))
        .await
        .unwrap_err();
    assert!(
        matches!(
            &err,
            OutboxError::Fenced {
                state: State::Delivered,
                owner: None,
                ..
            }
        ),
        "{err:?}"
    );
}

/// A lease that expired while nobody claimed the row is still the only
/// claim: its outcome is recorded.
pub async fn a_late_outcome_counts_if_nobody_took_the_row_over<B: TestBackend>() {
    let b = B::fresh().await;
    let o = b.store();
    put(&b, "s", b"signal").await;
    let slow = o.claim("slow", 1, Duration::from_secs(1)).await.unwrap();
    b.advance(ms(5_000)).await;
    record_ok(&b, "slow", delivered(&slow.rows[0])).await;
    assert_eq!(o.get("s").await.unwrap().unwrap().state, State::Delivered);
    assert!(claim(&b, "other", 1).await.rows.is_empty());
}

/// A retry stores the attempt count, the next time and the error; a
/// restarted backend waits for that time, then continues at that attempt.
pub async fn retry_keeps_attempts_and_schedule_across_a_restart<B: TestBackend>() {
    let b = B::fresh().await;
    put(&b, "s", b"signal").await;
    let claims = claim(&b, "w", 1).await;
    b.advance(ms(100)).await;
    let now = b.now().await;
    record_ok(
        &b,
        "w",
        retry(
            &claims.rows[0],
            Duration::from_secs(120),
            "503 Service Unavailable",
        ),
    )
    .await;
    let row = b.store().get("s").await.unwrap().unwrap();
    assert_eq!((row.state, row.updated_at), (State::Pending, now));
    // The process "crashes" here: the storage is closed mid-backoff.
    let b = b.restart().await;
    let o = b.store();
    let row = o.get("s").await.unwrap().unwrap();
    assert_eq!((row.state, row.attempts), (State::Pending, 1));
    assert_eq!(row.next_attempt_at, now + 120_000);
    assert_eq!(row.last_error.as_deref(), Some("503 Service Unavailable"));
    assert_eq!((row.lease_owner, row.lease_until), (None, None));

    b.advance(ms(119_999)).await;
    assert!(claim(&b, "w2", 1).await.rows.is_empty(), "not due yet");
    b.advance(ms(1)).await;
    let claims = claim(&b, "w2", 1).await;
    assert_eq!(ids(&claims), ["s"]);
    let row = &claims.rows[0];
    assert_eq!((row.attempts, row.claims), (1, 2));
    assert_eq!(row.last_error.as_deref(), Some("503 Service Unavailable"));
}

/// Rows come back in the order their retries fall due, not enqueue order.
pub async fn rescheduled_rows_are_claimed_in_due_order<B: TestBackend>() {
    let b = B::fresh().await;
    put(&b, "early-enqueued", b"1").await;
    b.advance(ms(1)).await;
    put(&b, "late-enqueued", b"2").await;
    let claims = claim(&b, "w", 10).await;
    record_ok(&b, "w", retry(&claims.rows[0], ms(500), "e")).await;
    record_ok(&b, "w", retry(&claims.rows[1], ms(300), "e")).await;
    b.advance(ms(1_000)).await;
    let claims = claim(&b, "w", 10).await;
    assert_eq!(
        ids(&claims),
        ["late-enqueued", "early-enqueued"],
        "earliest due first"
    );
}

/// Expired leases and pending rows are merged by the time they fell due.
pub async fn expired_leases_and_pending_rows_merge_by_due_time<B: TestBackend>() {
    for limit in [10, 1] {
        let b = B::fresh().await;
        let o = b.store();
        put(&b, "leased", b"1").await;
        o.claim("dead", 1, ms(100)).await.unwrap(); // due again at +100
        b.advance(ms(50)).await;
        put(&b, "p50", b"3").await;
        b.advance(ms(150)).await;
        put(&b, "p200", b"2").await;
        b.advance(ms(800)).await;
        let claims = o.claim("w", limit, LEASE).await.unwrap();
        let expected: &[&str] = if limit == 1 {
            &["p50"]
        } else {
            &["p50", "leased", "p200"]
        };
        assert_eq!(ids(&claims), expected, "limit {limit}");
        let expired: Vec<bool> = claims.rows.iter().map(|r| r.lease_expired).collect();
        let want: &[bool] = if limit == 1 {
            &[false]
        } else {
            &[false, true, false]
        };
        assert_eq!(expired, want, "which rows came from an expired lease");
    }
}

/// Two handles on one storage (two processes) never hold the same row at
/// once, and together deliver every row exactly once.
pub async fn two_handles_never_claim_the_same_row_twice<B: TestBackend>() {
    let b = B::fresh().await;
    let first = b.store();
    let second = b.second().await;
    let all: Vec<String> = (0..60).map(|i| format!("s{i:02}")).collect();
    let signals = all
        .iter()
        .map(|id| NewSignal::new(id.clone(), &b"b"[..]))
        .collect();
    first.enqueue_signals(signals).await.unwrap();
    let mut delivered_ids = Vec::new();
    loop {
        let (one, two) = tokio::join!(first.claim("w1", 7, LEASE), second.claim("w2", 5, LEASE));
        let (one, two) = (one.unwrap(), two.unwrap());
        if one.rows.is_empty() && two.rows.is_empty() {
            break;
        }
        let mut this_round: HashSet<&str> = HashSet::new();
        for row in one.rows.iter().chain(&two.rows) {
            assert!(this_round.insert(&row.id), "{} held twice", row.id);
        }
        let ones = one.rows.iter().map(delivered).collect();
        let twos = two.rows.iter().map(delivered).collect();
        assert!(
            first
                .record("w1", ones)
                .await
                .unwrap()
                .iter()
                .all(Result::is_ok)
        );
        assert!(
            second
                .record("w2", twos)
                .await
                .unwrap()
                .iter()
                .all(Result::is_ok)
        );
        delivered_ids.extend(one.rows.into_iter().chain(two.rows).map(|row| row.id));
    }
    delivered_ids.sort();
    assert_eq!(delivered_ids, all, "each row delivered exactly once");
    assert_eq!(second.stats().await.unwrap().delivered, 60);
}
