//! The life of a signal: enqueue, claim under a lease, outcomes, lease
//! expiry, restarts, dead letters and replay, and the operator views.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::{LEASE, T0, TempDir, ids, put};
use signal_outbox::{
    DeadReason, EnqueueOutcome, MAX_ERROR_LEN, NewSignal, Outbox, OutboxError, Outcome,
    SqliteOutbox, State,
};

#[test]
fn enqueue_reports_inserted_already_present_and_conflict() {
    let dir = TempDir::new("enqueue");
    let outbox = dir.open();
    let outcomes = outbox
        .enqueue_batch(
            &[
                NewSignal::new("a", b"body-a"),
                NewSignal::new("b", b"body-b"),
                // Same id twice in one batch: the second sees the first.
                NewSignal::new("a", b"body-a"),
                NewSignal::new("b", b"DIFFERENT"),
            ],
            T0,
        )
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
    let again = outbox
        .enqueue_batch(
            &[
                NewSignal::new("a", b"body-a"),
                NewSignal::new("c", b"body-c"),
            ],
            T0 + 5,
        )
        .unwrap();
    assert_eq!(
        again,
        [EnqueueOutcome::AlreadyPresent, EnqueueOutcome::Inserted]
    );

    // A conflicting body leaves the stored row exactly as it was.
    let before = outbox.get("a").unwrap().unwrap();
    let conflict = outbox
        .enqueue(NewSignal::new("a", b"body-A"), T0 + 9)
        .unwrap();
    assert_eq!(conflict, EnqueueOutcome::Conflict);
    let err = conflict.into_result("a").unwrap_err();
    assert!(
        matches!(&err, OutboxError::Conflict { id } if id == "a"),
        "{err:?}"
    );
    assert!(err.to_string().contains("different body"));
    assert_eq!(outbox.get("a").unwrap().unwrap(), before);
    let claimed = outbox.claim_due("w", T0 + 10, 10, LEASE).unwrap();
    let a = claimed.iter().find(|c| c.id == "a").unwrap();
    assert_eq!(
        a.body, b"body-a",
        "the original body is what gets delivered"
    );

    assert_eq!(outbox.stats(T0 + 10).unwrap().total(), 3);
    assert!(EnqueueOutcome::AlreadyPresent.into_result("a").is_ok());
}

#[test]
fn enqueue_stores_exact_bytes_and_rejects_empty_ids() {
    let dir = TempDir::new("bytes");
    let outbox = dir.open();
    let body: Vec<u8> = (0..=255u8).cycle().take(100_000).collect();
    put(&outbox, "big", &body, T0);
    put(&outbox, "empty-body", b"", T0);
    let claimed = outbox.claim_due("w", T0, 10, LEASE).unwrap();
    assert_eq!(claimed.len(), 2);
    assert_eq!(claimed.iter().find(|c| c.id == "big").unwrap().body, body);
    assert!(
        claimed
            .iter()
            .find(|c| c.id == "empty-body")
            .unwrap()
            .body
            .is_empty()
    );
    let row = outbox.get("big").unwrap().unwrap();
    assert_eq!(row.body_len, 100_000);
    assert_eq!(row.body_hash.len(), 64);

    let err = outbox
        .enqueue_batch(&[NewSignal::new("ok", b"x"), NewSignal::new("", b"y")], T0)
        .unwrap_err();
    assert!(matches!(err, OutboxError::InvalidInput { .. }), "{err:?}");
    assert!(
        outbox.get("ok").unwrap().is_none(),
        "an invalid batch stores nothing"
    );
    assert!(outbox.enqueue_batch(&[], T0).unwrap().is_empty());
}

#[test]
fn claim_takes_only_due_rows_oldest_first_up_to_the_limit() {
    let dir = TempDir::new("claim");
    let outbox = dir.open();
    put(&outbox, "c", b"3", T0 + 2);
    put(&outbox, "a", b"1", T0);
    put(&outbox, "b", b"2", T0 + 1);
    put(&outbox, "future", b"4", T0 + 1_000);

    // Nothing is due before its enqueue time.
    assert!(
        outbox
            .claim_due("w1", T0 - 1, 10, LEASE)
            .unwrap()
            .is_empty()
    );
    // A zero limit claims nothing and is not an error.
    assert!(outbox.claim_due("w1", T0 + 5, 0, LEASE).unwrap().is_empty());

    let first = outbox.claim_due("w1", T0 + 5, 2, LEASE).unwrap();
    assert_eq!(ids(&first), ["a", "b"], "oldest due first, limit respected");
    for c in &first {
        assert_eq!(c.attempts, 0);
        assert_eq!(c.claims, 1);
        assert_eq!(c.lease_until, T0 + 5 + 30_000);
    }
    assert_eq!(first[0].enqueued_at, T0);
    let a = outbox.get("a").unwrap().unwrap();
    assert_eq!(a.state, State::InFlight);
    assert_eq!(a.lease_owner.as_deref(), Some("w1"));
    assert_eq!(a.lease_until, Some(T0 + 5 + 30_000));

    let rest = outbox.claim_due("w2", T0 + 5, 10, LEASE).unwrap();
    assert_eq!(
        ids(&rest),
        ["c"],
        "leased rows and future rows are not claimable"
    );
    assert!(
        outbox
            .claim_due("w3", T0 + 6, 10, LEASE)
            .unwrap()
            .is_empty()
    );

    let stats = outbox.stats(T0 + 6).unwrap();
    assert_eq!((stats.pending, stats.in_flight), (1, 3));

    let err = outbox.claim_due("", T0, 1, LEASE).unwrap_err();
    assert!(matches!(err, OutboxError::InvalidInput { .. }), "{err:?}");
}

#[test]
fn expired_lease_is_claimed_again_and_the_dead_worker_loses_it() {
    let dir = TempDir::new("lease");
    let outbox = dir.open();
    put(&outbox, "s", b"signal", T0);
    let lease = Duration::from_secs(10);

    let mine = outbox.claim_due("dying", T0, 10, lease).unwrap();
    assert_eq!(ids(&mine), ["s"]);
    // Still leased one millisecond before expiry.
    assert!(
        outbox
            .claim_due("rescuer", T0 + 9_999, 10, lease)
            .unwrap()
            .is_empty()
    );

    // The worker "died"; its lease runs out and another worker takes over.
    let rescued = outbox.claim_due("rescuer", T0 + 10_000, 10, lease).unwrap();
    assert_eq!(ids(&rescued), ["s"]);
    assert_eq!(
        rescued[0].claims, 2,
        "the second claim is visible to the worker"
    );
    assert_eq!(rescued[0].attempts, 0);

    // The zombie wakes up and tries to record its outcome: refused.
    let err = outbox
        .mark_delivered("s", "dying", 1, T0 + 10_500)
        .unwrap_err();
    match &err {
        OutboxError::LeaseLost {
            id,
            worker,
            state,
            owner,
        } => {
            assert_eq!(id, "s");
            assert_eq!(worker, "dying");
            assert_eq!(*state, State::InFlight);
            assert_eq!(owner.as_deref(), Some("rescuer"));
        }
        other => panic!("expected LeaseLost, got {other:?}"),
    }
    assert!(err.to_string().contains("leased by rescuer"), "{err}");
    for result in [
        outbox.reschedule("s", "dying", 1, T0, "late", T0 + 10_500),
        outbox.dead_letter("s", "dying", 1, DeadReason::Rejected, "late", T0 + 10_500),
        outbox.release("s", "dying", T0 + 10_500),
        outbox
            .extend_lease("s", "dying", T0 + 10_500, lease)
            .map(|_| ()),
    ] {
        assert!(
            matches!(result, Err(OutboxError::LeaseLost { .. })),
            "{result:?}"
        );
    }
    let row = outbox.get("s").unwrap().unwrap();
    assert_eq!(
        row.lease_owner.as_deref(),
        Some("rescuer"),
        "nothing overwritten"
    );

    // The rescuer's outcome counts.
    outbox
        .mark_delivered("s", "rescuer", 1, T0 + 11_000)
        .unwrap();
    let row = outbox.get("s").unwrap().unwrap();
    assert_eq!(row.state, State::Delivered);
    assert_eq!(row.delivered_at, Some(T0 + 11_000));
    assert_eq!(row.attempts, 1);
    assert_eq!((row.lease_owner, row.lease_until), (None, None));
    // And once delivered, nobody can change it any more.
    let err = outbox
        .mark_delivered("s", "rescuer", 2, T0 + 12_000)
        .unwrap_err();
    assert!(
        matches!(
            &err,
            OutboxError::LeaseLost {
                state: State::Delivered,
                owner: None,
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn a_late_outcome_counts_if_nobody_took_the_row_over() {
    let dir = TempDir::new("late");
    let outbox = dir.open();
    put(&outbox, "s", b"signal", T0);
    outbox
        .claim_due("slow", T0, 1, Duration::from_secs(1))
        .unwrap();
    // Lease expired, but no other worker claimed it: the slow worker is
    // still the only holder and its (real) delivery is recorded.
    outbox.mark_delivered("s", "slow", 1, T0 + 5_000).unwrap();
    assert_eq!(outbox.get("s").unwrap().unwrap().state, State::Delivered);
    assert!(
        outbox
            .claim_due("other", T0 + 6_000, 1, LEASE)
            .unwrap()
            .is_empty()
    );
}

#[test]
fn reschedule_keeps_attempts_and_next_time_across_a_restart() {
    let dir = TempDir::new("reschedule");
    {
        let outbox = dir.open();
        put(&outbox, "s", b"signal", T0);
        outbox.claim_due("w", T0, 1, LEASE).unwrap();
        outbox
            .reschedule(
                "s",
                "w",
                3,
                T0 + 120_000,
                "503 Service Unavailable",
                T0 + 100,
            )
            .unwrap();
        let row = outbox.get("s").unwrap().unwrap();
        assert_eq!(row.state, State::Pending);
        assert_eq!(row.updated_at, T0 + 100);
        // The process "crashes" here: the outbox is dropped mid-backoff.
    }
    let outbox = dir.open();
    let row = outbox.get("s").unwrap().unwrap();
    assert_eq!(row.state, State::Pending);
    assert_eq!(row.attempts, 3);
    assert_eq!(row.next_attempt_at, T0 + 120_000);
    assert_eq!(row.last_error.as_deref(), Some("503 Service Unavailable"));
    assert_eq!((row.lease_owner, row.lease_until), (None, None));

    // The restarted worker waits for the stored time, then continues at attempt 3.
    assert!(
        outbox
            .claim_due("w2", T0 + 119_999, 1, LEASE)
            .unwrap()
            .is_empty()
    );
    let claimed = outbox.claim_due("w2", T0 + 120_000, 1, LEASE).unwrap();
    assert_eq!(ids(&claimed), ["s"]);
    assert_eq!(claimed[0].attempts, 3);
    assert_eq!(claimed[0].claims, 2);
    // The claim carries the last error, so a claim that makes no attempt (a
    // retry deferred by a budget) can record it again unchanged.
    assert_eq!(
        claimed[0].last_error.as_deref(),
        Some("503 Service Unavailable")
    );
}

#[test]
fn a_first_claim_has_no_last_error() {
    let dir = TempDir::new("no-last-error");
    let outbox = dir.open();
    put(&outbox, "s", b"signal", T0);
    let claimed = outbox.claim_due("w", T0, 1, LEASE).unwrap();
    assert_eq!(claimed[0].last_error, None);
}

#[test]
fn rescheduled_rows_are_claimed_in_due_order() {
    let dir = TempDir::new("dueorder");
    let outbox = dir.open();
    put(&outbox, "early-enqueued", b"1", T0);
    put(&outbox, "late-enqueued", b"2", T0 + 1);
    outbox.claim_due("w", T0 + 1, 10, LEASE).unwrap();
    outbox
        .reschedule("early-enqueued", "w", 1, T0 + 500, "e", T0 + 2)
        .unwrap();
    outbox
        .reschedule("late-enqueued", "w", 1, T0 + 300, "e", T0 + 2)
        .unwrap();
    let claimed = outbox.claim_due("w", T0 + 1_000, 10, LEASE).unwrap();
    assert_eq!(
        ids(&claimed),
        ["late-enqueued", "early-enqueued"],
        "earliest due first"
    );
}

#[test]
fn expired_leases_and_pending_rows_merge_by_due_time() {
    let dir = TempDir::new("merge");
    let outbox = dir.open();
    put(&outbox, "leased", b"1", T0);
    outbox
        .claim_due("dead", T0, 1, Duration::from_millis(100))
        .unwrap(); // due again at T0+100
    put(&outbox, "p200", b"2", T0 + 200);
    put(&outbox, "p50", b"3", T0 + 50);
    let claimed = outbox.claim_due("w", T0 + 1_000, 10, LEASE).unwrap();
    assert_eq!(ids(&claimed), ["p50", "leased", "p200"]);
    let claimed_one = {
        let dir = TempDir::new("merge-limit");
        let outbox = dir.open();
        put(&outbox, "leased", b"1", T0);
        outbox
            .claim_due("dead", T0, 1, Duration::from_millis(100))
            .unwrap();
        put(&outbox, "p200", b"2", T0 + 200);
        ids(&outbox.claim_due("w", T0 + 1_000, 1, LEASE).unwrap())
            .iter()
            .map(|s| s.to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(claimed_one, ["leased"]);
}

#[test]
fn dead_letter_then_replay_back_to_pending_with_attempts_reset() {
    let dir = TempDir::new("deadletter");
    let outbox = dir.open();
    put(&outbox, "s", b"signal", T0);
    outbox.claim_due("w", T0, 1, LEASE).unwrap();
    outbox
        .dead_letter(
            "s",
            "w",
            8,
            DeadReason::Exhausted,
            "timeout after 10s",
            T0 + 50,
        )
        .unwrap();
    let row = outbox.get("s").unwrap().unwrap();
    assert_eq!(row.state, State::DeadLettered);
    assert_eq!(row.dead_reason, Some(DeadReason::Exhausted));
    assert_eq!(row.attempts, 8);
    assert_eq!(row.last_error.as_deref(), Some("timeout after 10s"));
    // Dead letters are never claimed.
    assert!(
        outbox
            .claim_due("w", T0 + 1_000_000, 10, LEASE)
            .unwrap()
            .is_empty()
    );

    outbox.replay("s", T0 + 2_000).unwrap();
    let row = outbox.get("s").unwrap().unwrap();
    assert_eq!(row.state, State::Pending);
    assert_eq!(row.attempts, 0);
    assert_eq!(row.claims, 0);
    assert_eq!(row.next_attempt_at, T0 + 2_000);
    assert_eq!(row.dead_reason, None);
    assert_eq!(
        row.last_error.as_deref(),
        Some("timeout after 10s"),
        "kept for context"
    );
    let claimed = outbox.claim_due("w", T0 + 2_000, 10, LEASE).unwrap();
    assert_eq!(ids(&claimed), ["s"]);
    assert_eq!(claimed[0].attempts, 0);
    assert_eq!(claimed[0].body, b"signal");
}

#[test]
fn replay_errors_are_typed() {
    let dir = TempDir::new("replayerr");
    let outbox = dir.open();
    put(&outbox, "p", b"x", T0);
    let err = outbox.replay("nope", T0).unwrap_err();
    assert!(
        matches!(&err, OutboxError::UnknownId { id } if id == "nope"),
        "{err:?}"
    );
    let err = outbox.replay("p", T0).unwrap_err();
    match &err {
        OutboxError::WrongState {
            id,
            state,
            expected,
        } => {
            assert_eq!(id, "p");
            assert_eq!(*state, State::Pending);
            assert_eq!(*expected, State::DeadLettered);
        }
        other => panic!("expected WrongState, got {other:?}"),
    }
    assert_eq!(
        err.to_string(),
        "signal p is pending, but this operation needs it to be dead_lettered"
    );
    outbox.claim_due("w", T0, 1, LEASE).unwrap();
    outbox.mark_delivered("p", "w", 1, T0).unwrap();
    assert!(matches!(
        outbox.replay("p", T0),
        Err(OutboxError::WrongState {
            state: State::Delivered,
            ..
        })
    ));
}

#[test]
fn transitions_on_unknown_ids_are_typed_errors() {
    let dir = TempDir::new("unknown");
    let outbox = dir.open();
    for result in [
        outbox.mark_delivered("ghost", "w", 1, T0),
        outbox.reschedule("ghost", "w", 1, T0, "e", T0),
        outbox.dead_letter("ghost", "w", 1, DeadReason::Budget, "e", T0),
        outbox.release("ghost", "w", T0),
        outbox.extend_lease("ghost", "w", T0, LEASE).map(|_| ()),
    ] {
        assert!(
            matches!(&result, Err(OutboxError::UnknownId { id }) if id == "ghost"),
            "{result:?}"
        );
    }
    // A pending row (never claimed) cannot be given an outcome either.
    put(&outbox, "p", b"x", T0);
    assert!(matches!(
        outbox.mark_delivered("p", "w", 1, T0),
        Err(OutboxError::LeaseLost {
            state: State::Pending,
            owner: None,
            ..
        })
    ));
}

#[test]
fn release_returns_rows_without_counting_an_attempt() {
    let dir = TempDir::new("release");
    let outbox = dir.open();
    put(&outbox, "a", b"1", T0);
    put(&outbox, "b", b"2", T0);
    put(&outbox, "c", b"3", T0);
    let claimed = outbox.claim_due("w", T0, 2, LEASE).unwrap();
    assert_eq!(ids(&claimed), ["a", "b"]);
    outbox.claim_due("other", T0, 1, LEASE).unwrap();

    outbox.release("a", "w", T0 + 10).unwrap();
    let a = outbox.get("a").unwrap().unwrap();
    assert_eq!(a.state, State::Pending);
    assert_eq!(a.attempts, 0);
    assert_eq!(a.next_attempt_at, T0, "due again right away");

    assert_eq!(
        outbox.release_all("w", T0 + 20).unwrap(),
        1,
        "only b is still held by w"
    );
    assert_eq!(outbox.get("b").unwrap().unwrap().state, State::Pending);
    assert_eq!(
        outbox.get("c").unwrap().unwrap().lease_owner.as_deref(),
        Some("other")
    );
    assert_eq!(outbox.release_all("w", T0 + 30).unwrap(), 0);

    let again = outbox.claim_due("w2", T0 + 40, 10, LEASE).unwrap();
    assert_eq!(ids(&again), ["a", "b"]);
    assert!(again.iter().all(|c| c.attempts == 0 && c.claims == 2));
}

#[test]
fn extend_lease_keeps_the_row_from_being_taken_over() {
    let dir = TempDir::new("extend");
    let outbox = dir.open();
    put(&outbox, "s", b"x", T0);
    outbox
        .claim_due("w", T0, 1, Duration::from_secs(10))
        .unwrap();
    let until = outbox
        .extend_lease("s", "w", T0 + 8_000, Duration::from_secs(10))
        .unwrap();
    assert_eq!(until, T0 + 18_000);
    assert_eq!(
        outbox.get("s").unwrap().unwrap().lease_until,
        Some(T0 + 18_000)
    );
    assert!(
        outbox
            .claim_due("thief", T0 + 12_000, 1, LEASE)
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        ids(&outbox.claim_due("thief", T0 + 18_000, 1, LEASE).unwrap()),
        ["s"]
    );
}

#[test]
fn stats_count_states_and_measure_the_oldest_pending_age() {
    let dir = TempDir::new("stats");
    let outbox = dir.open();
    let empty = outbox.stats(T0).unwrap();
    assert_eq!(empty.total(), 0);
    assert_eq!(empty.oldest_pending_age, None);

    for (i, id) in ["d", "x", "f", "p1", "p2"].iter().enumerate() {
        put(
            &outbox,
            id,
            id.as_bytes(),
            T0 + i64::try_from(i).unwrap() * 1_000,
        );
    }
    // d, x, f are claimed (oldest first); d delivered, x dead-lettered, f stays in flight.
    assert_eq!(
        ids(&outbox.claim_due("w", T0 + 10_000, 3, LEASE).unwrap()),
        ["d", "x", "f"]
    );
    outbox.mark_delivered("d", "w", 1, T0 + 10_000).unwrap();
    outbox
        .dead_letter(
            "x",
            "w",
            1,
            DeadReason::SignatureRejected,
            "401",
            T0 + 10_000,
        )
        .unwrap();

    let stats = outbox.stats(T0 + 60_000).unwrap();
    assert_eq!(stats.pending, 2);
    assert_eq!(stats.in_flight, 1);
    assert_eq!(stats.delivered, 1);
    assert_eq!(stats.dead_lettered, 1);
    assert_eq!(stats.total(), 5);
    assert_eq!(stats.count(State::InFlight), 1);
    // p1 was enqueued at T0 + 3s: the oldest pending signal.
    assert_eq!(stats.oldest_pending_age, Some(Duration::from_secs(57)));
    // A clock behind the enqueue time gives zero, not a negative age.
    assert_eq!(
        outbox.stats(T0).unwrap().oldest_pending_age,
        Some(Duration::ZERO)
    );
}

#[test]
fn list_by_state_oldest_first_with_limit() {
    let dir = TempDir::new("list");
    let outbox = dir.open();
    for (i, id) in ["a", "b", "c", "d"].iter().enumerate() {
        put(&outbox, id, b"body", T0 + i64::try_from(i).unwrap());
    }
    outbox.claim_due("w", T0 + 10, 1, LEASE).unwrap(); // a
    outbox
        .dead_letter("a", "w", 2, DeadReason::Deadline, "too late", T0 + 20)
        .unwrap();

    let pending = outbox.list(State::Pending, 10).unwrap();
    assert_eq!(
        pending.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(),
        ["b", "c", "d"]
    );
    assert!(
        pending
            .iter()
            .all(|r| r.state == State::Pending && r.body_len == 4)
    );
    let limited = outbox.list(State::Pending, 2).unwrap();
    assert_eq!(
        limited.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(),
        ["b", "c"]
    );
    assert!(outbox.list(State::Pending, 0).unwrap().is_empty());

    let dead = outbox.list(State::DeadLettered, 10).unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].id, "a");
    assert_eq!(dead[0].dead_reason, Some(DeadReason::Deadline));
    assert_eq!(dead[0].attempts, 2);
    assert_eq!(dead[0].last_error.as_deref(), Some("too late"));
    assert!(outbox.list(State::Delivered, 10).unwrap().is_empty());
    assert!(outbox.list(State::InFlight, 10).unwrap().is_empty());
}

#[test]
fn huge_error_texts_are_truncated_on_a_char_boundary() {
    let dir = TempDir::new("truncate");
    let outbox = dir.open();
    put(&outbox, "s", b"x", T0);
    outbox.claim_due("w", T0, 1, LEASE).unwrap();
    let error = "é".repeat(MAX_ERROR_LEN); // 2 bytes per char
    outbox.reschedule("s", "w", 1, T0, &error, T0).unwrap();
    let stored = outbox.get("s").unwrap().unwrap().last_error.unwrap();
    assert_eq!(stored.len(), MAX_ERROR_LEN);
    assert!(stored.chars().all(|c| c == 'é'));
}

#[test]
fn the_outbox_is_shareable_across_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<SqliteOutbox>();

    let dir = TempDir::new("threads");
    let outbox = std::sync::Arc::new(dir.open());
    let ids_per_thread = 50;
    let handles: Vec<_> = (0..4)
        .map(|t| {
            let outbox = std::sync::Arc::clone(&outbox);
            std::thread::spawn(move || {
                let ids: Vec<String> = (0..ids_per_thread).map(|i| format!("t{t}-{i}")).collect();
                let items: Vec<_> = ids.iter().map(|id| NewSignal::new(id, b"body")).collect();
                outbox.enqueue_batch(&items, T0).unwrap();
                let mut claimed = 0;
                while let Ok(batch) = outbox.claim_due(&format!("w{t}"), T0, 7, LEASE) {
                    if batch.is_empty() {
                        break;
                    }
                    for c in &batch {
                        outbox
                            .mark_delivered(&c.id, &format!("w{t}"), 1, T0)
                            .unwrap();
                    }
                    claimed += batch.len();
                }
                claimed
            })
        })
        .collect();
    let claimed: usize = handles.into_iter().map(|h| h.join().unwrap()).sum();
    assert_eq!(
        claimed, 200,
        "every row claimed exactly once across workers"
    );
    assert_eq!(outbox.stats(T0).unwrap().delivered, 200);
}

#[test]
fn record_outcomes_applies_a_batch_and_reports_rows_not_held() {
    let dir = TempDir::new("outcomes");
    let outbox = dir.open();
    for id in ["a", "b", "c", "d", "e"] {
        put(&outbox, id, id.as_bytes(), T0);
    }
    assert_eq!(
        ids(&outbox.claim_due("w", T0, 4, LEASE).unwrap()),
        ["a", "b", "c", "d"]
    );
    assert_eq!(
        ids(&outbox.claim_due("other", T0, 1, LEASE).unwrap()),
        ["e"]
    );

    let results = outbox
        .record_outcomes(
            "w",
            &[
                Outcome::Delivered {
                    id: "a",
                    attempts: 1,
                },
                Outcome::Retry {
                    id: "b",
                    attempts: 1,
                    next_attempt_at: T0 + 500,
                    last_error: "502",
                },
                Outcome::DeadLetter {
                    id: "c",
                    attempts: 1,
                    reason: DeadReason::InvalidSignal,
                    last_error: "schema",
                },
                Outcome::Release { id: "d" },
                Outcome::Delivered {
                    id: "e",
                    attempts: 1,
                }, // held by "other"
                Outcome::Delivered {
                    id: "ghost",
                    attempts: 1,
                },
                Outcome::Delivered {
                    id: "a",
                    attempts: 2,
                }, // already recorded above
            ],
            T0 + 100,
        )
        .unwrap();
    assert_eq!(results.len(), 7);
    assert!(results[..4].iter().all(Result::is_ok), "{results:?}");
    assert!(
        matches!(&results[4], Err(OutboxError::LeaseLost { owner: Some(o), .. }) if o == "other")
    );
    assert!(matches!(&results[5], Err(OutboxError::UnknownId { id }) if id == "ghost"));
    assert!(matches!(
        &results[6],
        Err(OutboxError::LeaseLost {
            state: State::Delivered,
            ..
        })
    ));

    let state = |id: &str| outbox.get(id).unwrap().unwrap();
    assert_eq!(
        (state("a").state, state("a").attempts),
        (State::Delivered, 1)
    );
    assert_eq!(
        (state("b").state, state("b").next_attempt_at),
        (State::Pending, T0 + 500)
    );
    assert_eq!(state("c").dead_reason, Some(DeadReason::InvalidSignal));
    assert_eq!((state("d").state, state("d").attempts), (State::Pending, 0));
    assert_eq!(
        state("e").lease_owner.as_deref(),
        Some("other"),
        "untouched"
    );
    assert_eq!(Outcome::Release { id: "d" }.id(), "d");
    assert!(outbox.record_outcomes("w", &[], T0).unwrap().is_empty());
}

#[test]
fn purge_removes_only_old_delivered_rows() {
    let dir = TempDir::new("purge");
    let outbox = dir.open();
    for id in ["old", "new", "dead", "waiting"] {
        put(&outbox, id, id.as_bytes(), T0);
    }
    assert_eq!(
        ids(&outbox.claim_due("w", T0, 3, LEASE).unwrap()),
        ["dead", "new", "old"]
    );
    outbox.mark_delivered("old", "w", 1, T0 + 1_000).unwrap();
    outbox.mark_delivered("new", "w", 1, T0 + 9_000).unwrap();
    outbox
        .dead_letter("dead", "w", 1, DeadReason::Rejected, "400", T0 + 1_000)
        .unwrap();

    assert_eq!(outbox.purge_delivered(T0 + 5_000, 0).unwrap(), 0);
    assert_eq!(outbox.purge_delivered(T0 + 5_000, 100).unwrap(), 1);
    assert!(outbox.get("old").unwrap().is_none());
    for id in ["new", "dead", "waiting"] {
        assert!(outbox.get(id).unwrap().is_some(), "{id} kept");
    }
    // Once purged, the same id is a new signal again (documented trade-off).
    assert_eq!(
        outbox
            .enqueue(NewSignal::new("old", b"old"), T0 + 10_000)
            .unwrap(),
        EnqueueOutcome::Inserted
    );
    assert_eq!(
        outbox.purge_delivered(T0 + 100_000, 100).unwrap(),
        1,
        "only `new` is delivered now"
    );
    assert_eq!(outbox.stats(T0 + 100_000).unwrap().total(), 3);
}
