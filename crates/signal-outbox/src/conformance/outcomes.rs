//! Recording outcomes: batches, fencing, defer, release, lease extension,
//! bounded texts, dead letters and replay.

use crate::{AlertStore as _, SignalStore as _};
use std::time::Duration;

use super::{LEASE, TestBackend, audit, claim, dead, delivered, ids, ms, put, record_ok, retry};
use crate::{
    AttemptRecord, ClaimToken, FailureReason, MAX_ERROR_LEN, MAX_EXCERPT_LEN, OutboxError,
    OutboxExt, Outcome, State,
};

/// One transaction records a mixed batch; rows not held (another worker's,
/// unknown, already recorded) get their own error and stay unchanged.
pub async fn record_applies_a_batch_and_reports_rows_not_held<B: TestBackend>() {
    let b = B::fresh().await;
    let o = b.store();
    for id in ["a", "b", "c", "d", "e"] {
        put(&b, id, id.as_bytes()).await;
    }
    let mine = claim(&b, "w", 4).await;
    assert_eq!(ids(&mine), ["a", "b", "c", "d"]);
    let theirs = claim(&b, "other", 1).await;
    assert_eq!(ids(&theirs), ["e"]);
    let now = b.now().await;
    let [a, b_row, c, d] = [0, 1, 2, 3].map(|i| &mine.rows[i]);
    let results = o
        .record(
            "w",
            vec![
                delivered(a),
                retry(b_row, ms(500), "502"),
                dead(c, FailureReason::InvalidSignal, false),
                Outcome::Release {
                    id: d.id.clone(),
                    token: d.token,
                },
                // Held by "other": this token is not the row's.
                delivered(&crate::Claimed {
                    token: a.token,
                    ..theirs.rows[0].clone()
                }),
                Outcome::Release {
                    id: "ghost".into(),
                    token: ClaimToken(1),
                },
                delivered(a), // already recorded above
            ],
        )
        .await
        .unwrap();
    assert_eq!(results.len(), 7);
    assert!(results[..4].iter().all(Result::is_ok), "{results:?}");
    assert!(
        matches!(&results[4], Err(OutboxError::Fenced { owner: Some(o), .. }) if o == "other"),
        "{results:?}"
    );
    assert!(matches!(&results[5], Err(OutboxError::UnknownId { id }) if id == "ghost"));
    assert!(matches!(
        &results[6],
        Err(OutboxError::Fenced {
            state: State::Delivered,
            ..
        })
    ));
    assert!(results[4].as_ref().unwrap_err().is_not_held());

    let row = |id: &'static str| async move { o.get(id).await.unwrap().unwrap() };
    let a = row("a").await;
    assert_eq!(
        (a.state, a.attempts, a.delivered_at),
        (State::Delivered, 1, Some(now))
    );
    let b_row = row("b").await;
    assert_eq!((b_row.state, b_row.attempts), (State::Pending, 1));
    assert_eq!(
        (b_row.next_attempt_at, b_row.last_error.as_deref()),
        (now + 500, Some("502"))
    );
    let c = row("c").await;
    assert_eq!(
        (c.state, c.dead_reason, c.dead_at),
        (
            State::DeadLettered,
            Some(FailureReason::InvalidSignal),
            Some(now)
        )
    );
    let d = row("d").await;
    assert_eq!((d.state, d.attempts), (State::Pending, 0));
    assert_eq!(
        row("e").await.lease_owner.as_deref(),
        Some("other"),
        "untouched"
    );
    assert!(o.record("w", Vec::new()).await.unwrap().is_empty());
}

/// A worker that lost its claim (its token was replaced) cannot overwrite
/// the newer claim's outcome, whatever it tries and whatever its name.
pub async fn a_stale_token_never_overwrites_a_newer_claim<B: TestBackend>() {
    let b = B::fresh().await;
    let o = b.store();
    put(&b, "s", b"x").await;
    let old = o
        .claim("same-name", 1, ms(1_000))
        .await
        .unwrap()
        .rows
        .remove(0);
    b.advance(ms(1_000)).await;
    // The same worker name claims again (a restarted process that reused
    // its name): only the token tells the claims apart.
    let new = o.claim("same-name", 1, LEASE).await.unwrap().rows.remove(0);
    assert_ne!(old.token, new.token);
    for stale in [
        delivered(&old),
        retry(&old, ms(0), "stale"),
        dead(&old, FailureReason::Rejected, false),
        Outcome::Defer {
            id: "s".into(),
            token: old.token,
            delay: ms(1),
        },
        Outcome::Release {
            id: "s".into(),
            token: old.token,
        },
    ] {
        let err = o.record_one("same-name", stale).await.unwrap_err();
        assert!(
            matches!(
                err,
                OutboxError::Fenced {
                    state: State::InFlight,
                    ..
                }
            ),
            "{err:?}"
        );
    }
    let extended = o
        .extend(vec![("s".into(), old.token)], LEASE)
        .await
        .unwrap();
    assert!(matches!(extended[0], Err(OutboxError::Fenced { .. })));
    let row = o.get("s").await.unwrap().unwrap();
    assert_eq!(
        (row.state, row.attempts, row.last_error),
        (State::InFlight, 0, None)
    );
    assert_eq!(
        o.ledger().await.unwrap().consecutive_failures,
        0,
        "no stale dead letter counted"
    );
    record_ok(&b, "same-name", retry(&new, ms(10), "the real 503")).await;
    assert_eq!(
        o.get("s").await.unwrap().unwrap().last_error.as_deref(),
        Some("the real 503")
    );
}

/// A deferred retry (no attempt made) is rescheduled by its delay with the
/// attempt count and the last error unchanged, and logs no attempt.
pub async fn defer_keeps_attempts_and_last_error<B: TestBackend>() {
    let b = B::fresh().await;
    let o = b.store();
    put(&b, "s", b"x").await;
    let first = claim(&b, "w", 1).await.rows.remove(0);
    record_ok(&b, "w", retry(&first, ms(0), "503 first")).await;
    let second = claim(&b, "w", 1).await.rows.remove(0);
    assert_eq!(second.attempts, 1);
    let now = b.now().await;
    record_ok(
        &b,
        "w",
        Outcome::Defer {
            id: "s".into(),
            token: second.token,
            delay: ms(750),
        },
    )
    .await;
    let row = o.get("s").await.unwrap().unwrap();
    assert_eq!(
        (row.state, row.attempts, row.claims),
        (State::Pending, 1, 2)
    );
    assert_eq!(row.next_attempt_at, now + 750);
    assert_eq!(row.last_error.as_deref(), Some("503 first"));
    let detail = o.detail("s").await.unwrap().unwrap();
    assert_eq!(detail.attempts.len(), 1, "a deferral is not an attempt");
    b.advance(ms(750)).await;
    let third = claim(&b, "w", 1).await.rows.remove(0);
    assert_eq!((third.attempts, third.claims), (1, 3));
}

/// Outcomes and extensions for ids that do not exist are `UnknownId`; a
/// pending row (never claimed) cannot be given one either.
pub async fn outcomes_on_unknown_ids_are_typed_errors<B: TestBackend>() {
    let b = B::fresh().await;
    let o = b.store();
    let ghost = crate::Claimed {
        id: "ghost".into(),
        body: bytes::Bytes::new(),
        attempts: 0,
        claims: 1,
        last_error: None,
        enqueued_at: 0,
        token: ClaimToken(42),
        lease_until: 0,
        lease_expired: false,
    };
    for outcome in [
        delivered(&ghost),
        retry(&ghost, ms(1), "e"),
        dead(&ghost, FailureReason::Budget, true),
    ] {
        let err = o.record_one("w", outcome).await.unwrap_err();
        assert!(
            matches!(&err, OutboxError::UnknownId { id } if id == "ghost"),
            "{err:?}"
        );
    }
    let err = o
        .extend_one("ghost", ClaimToken(42), LEASE)
        .await
        .unwrap_err();
    assert!(matches!(err, OutboxError::UnknownId { .. }), "{err:?}");
    put(&b, "p", b"x").await;
    let pending = crate::Claimed {
        id: "p".into(),
        ..ghost
    };
    let err = o.record_one("w", delivered(&pending)).await.unwrap_err();
    assert!(
        matches!(
            err,
            OutboxError::Fenced {
                state: State::Pending,
                owner: None,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(o.ledger().await.unwrap().consecutive_failures, 0);
}

/// Release hands a row back unattempted, due at its stored time;
/// `release_all` hands back exactly what one worker holds.
pub async fn release_returns_rows_without_counting_an_attempt<B: TestBackend>() {
    let b = B::fresh().await;
    let o = b.store();
    for id in ["a", "b", "c"] {
        put(&b, id, id.as_bytes()).await;
    }
    let t0 = b.now().await;
    let mine = claim(&b, "w", 2).await;
    assert_eq!(ids(&mine), ["a", "b"]);
    claim(&b, "other", 1).await;
    b.advance(ms(10)).await;
    let a = &mine.rows[0];
    record_ok(
        &b,
        "w",
        Outcome::Release {
            id: a.id.clone(),
            token: a.token,
        },
    )
    .await;
    let row = o.get("a").await.unwrap().unwrap();
    assert_eq!(
        (row.state, row.attempts, row.next_attempt_at),
        (State::Pending, 0, t0)
    );
    assert_eq!(
        o.release_all("w").await.unwrap(),
        1,
        "only b is still held by w"
    );
    assert_eq!(o.get("b").await.unwrap().unwrap().state, State::Pending);
    assert_eq!(
        o.get("c").await.unwrap().unwrap().lease_owner.as_deref(),
        Some("other")
    );
    assert_eq!(o.release_all("w").await.unwrap(), 0);
    assert!(matches!(
        o.release_all("").await,
        Err(OutboxError::InvalidInput { .. })
    ));
    let again = claim(&b, "w2", 10).await;
    assert_eq!(ids(&again), ["a", "b"]);
    assert!(again.rows.iter().all(|c| c.attempts == 0 && c.claims == 2));
}

/// An extended lease keeps other workers off until the new expiry; a zero
/// extension is refused.
pub async fn extend_keeps_the_row_from_being_taken_over<B: TestBackend>() {
    let b = B::fresh().await;
    let o = b.store();
    put(&b, "s", b"x").await;
    let t0 = b.now().await;
    let row = o
        .claim("w", 1, Duration::from_secs(10))
        .await
        .unwrap()
        .rows
        .remove(0);
    b.advance(ms(8_000)).await;
    let until = o
        .extend_one("s", row.token, Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(until, t0 + 18_000);
    assert_eq!(
        o.get("s").await.unwrap().unwrap().lease_until,
        Some(t0 + 18_000)
    );
    let err = o
        .extend(vec![("s".into(), row.token)], Duration::ZERO)
        .await
        .unwrap_err();
    assert!(matches!(err, OutboxError::InvalidInput { .. }), "{err:?}");
    b.advance(ms(4_000)).await;
    assert!(claim(&b, "thief", 1).await.rows.is_empty());
    b.advance(ms(6_000)).await;
    assert_eq!(ids(&claim(&b, "thief", 1).await), ["s"]);
}

/// Error texts and response excerpts are cut to their bounds on a
/// character boundary.
pub async fn huge_texts_are_truncated_on_a_char_boundary<B: TestBackend>() {
    let b = B::fresh().await;
    let o = b.store();
    put(&b, "s", b"x").await;
    let row = claim(&b, "w", 1).await.rows.remove(0);
    let mut attempt = AttemptRecord::failed(1, Some(500), "http_500", ms(3));
    attempt.excerpt = Some("ü".repeat(MAX_EXCERPT_LEN));
    let outcome = Outcome::Retry {
        id: "s".into(),
        token: row.token,
        attempt,
        delay: ms(0),
        last_error: "é".repeat(MAX_ERROR_LEN),
    };
    record_ok(&b, "w", outcome).await;
    let detail = o.detail("s").await.unwrap().unwrap();
    let stored = detail.row.last_error.unwrap();
    assert_eq!(stored.len(), MAX_ERROR_LEN);
    assert!(stored.chars().all(|c| c == 'é'));
    let excerpt = detail.attempts[0].excerpt.clone().unwrap();
    assert_eq!(excerpt.len(), MAX_EXCERPT_LEN);
    assert!(excerpt.chars().all(|c| c == 'ü'));
}

/// A dead letter stores reason, error, attempts and time; dead rows are
/// never claimed; a replay makes it pending and due now with attempts and
/// claims reset and the last error kept.
pub async fn dead_letter_then_replay_back_to_pending_with_attempts_reset<B: TestBackend>() {
    let b = B::fresh().await;
    let o = b.store();
    put(&b, "s", b"signal").await;
    let row = claim(&b, "w", 1).await.rows.remove(0);
    b.advance(ms(50)).await;
    let dead_at = b.now().await;
    let outcome = Outcome::DeadLetter {
        id: "s".into(),
        token: row.token,
        attempt: None,
        attempts: 8,
        reason: FailureReason::Exhausted,
        last_error: "timeout after 10s".into(),
        alert: super::failure_alert("s", FailureReason::Exhausted),
        outage: true,
    };
    record_ok(&b, "w", outcome).await;
    let row = o.get("s").await.unwrap().unwrap();
    assert_eq!(
        (row.state, row.dead_reason),
        (State::DeadLettered, Some(FailureReason::Exhausted))
    );
    assert_eq!((row.attempts, row.dead_at), (8, Some(dead_at)));
    assert_eq!(row.last_error.as_deref(), Some("timeout after 10s"));
    b.advance(Duration::from_secs(1_000)).await;
    assert!(
        claim(&b, "w", 10).await.rows.is_empty(),
        "dead letters are never claimed"
    );

    let replayed_at = b.now().await;
    o.replay_one("s", audit("replay")).await.unwrap();
    let row = o.get("s").await.unwrap().unwrap();
    assert_eq!(
        (row.state, row.attempts, row.claims),
        (State::Pending, 0, 0)
    );
    assert_eq!(
        (row.next_attempt_at, row.dead_reason, row.dead_at),
        (replayed_at, None, None)
    );
    assert_eq!(
        row.last_error.as_deref(),
        Some("timeout after 10s"),
        "kept for context"
    );
    let claims = claim(&b, "w", 10).await;
    assert_eq!(ids(&claims), ["s"]);
    assert_eq!(
        (claims.rows[0].attempts, &claims.rows[0].body[..]),
        (0, &b"signal"[..])
    );
}
