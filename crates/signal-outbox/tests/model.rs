//! Model-based property test: random sequences of operations (including
//! restarts and clock jumps) run against a real SQLite outbox and against a
//! small in-memory model of the intended semantics. After every step the
//! outbox must agree with the model: every enqueued id is in exactly one
//! state, the counts add up, no row is lost (only purged), bodies never change, and every
//! operation succeeded or failed exactly as the model predicts.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::{T0, TempDir};
use proptest::prelude::*;
use signal_outbox::{
    DeadReason, EnqueueOutcome, NewSignal, Outbox, OutboxError, Outcome, SqliteOutbox, State,
};

const IDS: usize = 6;
const WORKERS: usize = 3;

#[derive(Debug, Clone)]
enum Op {
    Enqueue(Vec<(usize, bool)>),
    Claim {
        worker: usize,
        limit: usize,
        lease_ms: u64,
    },
    Deliver {
        id: usize,
        worker: usize,
    },
    Reschedule {
        id: usize,
        worker: usize,
        delay_ms: i64,
    },
    DeadLetter {
        id: usize,
        worker: usize,
    },
    Release {
        id: usize,
        worker: usize,
    },
    ReleaseAll {
        worker: usize,
    },
    Extend {
        id: usize,
        worker: usize,
        lease_ms: u64,
    },
    Replay {
        id: usize,
    },
    /// 0 delivered, 1 retry, 2 dead letter, 3 release, all by one worker.
    Batch {
        worker: usize,
        items: Vec<(usize, u8)>,
    },
    /// Purge rows delivered more than this many ms ago.
    Purge(i64),
    Advance(i64),
    Reopen,
}

fn op() -> impl Strategy<Value = Op> {
    let id = 0..IDS;
    let worker = 0..WORKERS;
    prop_oneof![
        3 => prop::collection::vec((0..IDS, any::<bool>()), 0..4).prop_map(Op::Enqueue),
        3 => (worker.clone(), 0usize..4, 1u64..3_000)
            .prop_map(|(worker, limit, lease_ms)| Op::Claim { worker, limit, lease_ms }),
        2 => (id.clone(), worker.clone()).prop_map(|(id, worker)| Op::Deliver { id, worker }),
        2 => (id.clone(), worker.clone(), 0i64..3_000)
            .prop_map(|(id, worker, delay_ms)| Op::Reschedule { id, worker, delay_ms }),
        1 => (id.clone(), worker.clone()).prop_map(|(id, worker)| Op::DeadLetter { id, worker }),
        1 => (id.clone(), worker.clone()).prop_map(|(id, worker)| Op::Release { id, worker }),
        1 => worker.clone().prop_map(|worker| Op::ReleaseAll { worker }),
        1 => (id.clone(), worker, 1u64..3_000)
            .prop_map(|(id, worker, lease_ms)| Op::Extend { id, worker, lease_ms }),
        1 => id.prop_map(|id| Op::Replay { id }),
        2 => (0..WORKERS, prop::collection::vec((0..IDS, 0u8..4), 0..5))
            .prop_map(|(worker, items)| Op::Batch { worker, items }),
        2 => (0i64..4_000).prop_map(Op::Advance),
        1 => (0i64..4_000).prop_map(Op::Purge),
        1 => Just(Op::Reopen),
    ]
}

#[derive(Debug, Clone)]
struct ModelRow {
    body: Vec<u8>,
    state: State,
    attempts: u32,
    next_attempt_at: i64,
    owner: Option<String>,
    lease_until: Option<i64>,
    enqueued_at: i64,
    delivered_at: Option<i64>,
}

#[derive(Debug, Default)]
struct Model {
    rows: BTreeMap<String, ModelRow>,
}

fn id_name(i: usize) -> String {
    format!("sig-{i}")
}

fn worker_name(i: usize) -> String {
    format!("worker-{i}")
}

fn body(id: usize, variant: bool) -> Vec<u8> {
    format!("{{\"id\":{id},\"variant\":{variant}}}").into_bytes()
}

impl Model {
    /// What an outcome call on `id` by `worker` must return.
    fn guard(&self, id: &str, worker: &str) -> Result<(), &'static str> {
        match self.rows.get(id) {
            None => Err("unknown"),
            Some(row) if row.state == State::InFlight && row.owner.as_deref() == Some(worker) => {
                Ok(())
            }
            Some(_) => Err("lease_lost"),
        }
    }

    fn due_order(&self, now: i64) -> Vec<String> {
        let mut due: Vec<(i64, i64, String)> = self
            .rows
            .iter()
            .filter_map(|(id, row)| match row.state {
                State::Pending if row.next_attempt_at <= now => {
                    Some((row.next_attempt_at, row.enqueued_at, id.clone()))
                }
                State::InFlight if row.lease_until.is_some_and(|until| until <= now) => {
                    Some((row.lease_until.unwrap_or(0), row.enqueued_at, id.clone()))
                }
                _ => None,
            })
            .collect();
        due.sort();
        due.into_iter().map(|(_, _, id)| id).collect()
    }

    fn settle(&mut self, id: &str, state: State) -> &mut ModelRow {
        let row = self.rows.get_mut(id).unwrap();
        row.state = state;
        row.owner = None;
        row.lease_until = None;
        row
    }
}

fn kind(result: &Result<(), OutboxError>) -> Result<(), &'static str> {
    match result {
        Ok(()) => Ok(()),
        Err(OutboxError::UnknownId { .. }) => Err("unknown"),
        Err(OutboxError::LeaseLost { .. }) => Err("lease_lost"),
        Err(OutboxError::WrongState { .. }) => Err("wrong_state"),
        Err(other) => panic!("unexpected error: {other:?}"),
    }
}

fn check_agrees(outbox: &SqliteOutbox, model: &Model, now: i64) {
    let stats = outbox.stats(now).unwrap();
    assert_eq!(
        stats.total(),
        model.rows.len() as u64,
        "no row lost or invented"
    );
    let mut seen = BTreeMap::new();
    for state in State::ALL {
        let listed = outbox.list(state, 1_000).unwrap();
        assert_eq!(
            listed.len() as u64,
            stats.count(state),
            "counts match lists for {state}"
        );
        for row in listed {
            assert!(
                seen.insert(row.id.clone(), state).is_none(),
                "{} in two states",
                row.id
            );
        }
    }
    let expected: BTreeMap<String, State> = model
        .rows
        .iter()
        .map(|(id, row)| (id.clone(), row.state))
        .collect();
    assert_eq!(
        seen, expected,
        "every enqueued id is in exactly its modelled state"
    );

    for (id, want) in &model.rows {
        let got = outbox.get(id).unwrap().unwrap();
        assert_eq!(got.attempts, want.attempts, "{id} attempts");
        assert_eq!(got.lease_owner, want.owner, "{id} owner");
        assert_eq!(got.lease_until, want.lease_until, "{id} lease");
        assert_eq!(got.enqueued_at, want.enqueued_at, "{id} enqueued_at");
        assert_eq!(got.delivered_at, want.delivered_at, "{id} delivered_at");
        if want.state == State::Pending {
            assert_eq!(
                got.next_attempt_at, want.next_attempt_at,
                "{id} next attempt"
            );
        }
        assert_eq!(got.body_len, want.body.len() as u64, "{id} body");
    }
    let oldest = model
        .rows
        .values()
        .filter(|row| row.state == State::Pending)
        .map(|row| row.enqueued_at)
        .min();
    assert_eq!(
        stats.oldest_pending_age,
        oldest.map(|at| Duration::from_millis(u64::try_from((now - at).max(0)).unwrap()))
    );
}

fn run(ops: Vec<Op>) {
    let dir = TempDir::new("model");
    let mut outbox = dir.open();
    let mut model = Model::default();
    let mut now = T0;

    for op in ops {
        match op {
            Op::Enqueue(items) => {
                let owned: Vec<(String, Vec<u8>)> = items
                    .iter()
                    .map(|&(i, v)| (id_name(i), body(i, v)))
                    .collect();
                let signals: Vec<_> = owned
                    .iter()
                    .map(|(id, body)| NewSignal::new(id, body))
                    .collect();
                let outcomes = outbox.enqueue_batch(&signals, now).unwrap();
                assert_eq!(outcomes.len(), signals.len());
                for ((id, body), outcome) in owned.into_iter().zip(outcomes) {
                    let expected = match model.rows.get(&id) {
                        None => {
                            model.rows.insert(
                                id,
                                ModelRow {
                                    body,
                                    state: State::Pending,
                                    attempts: 0,
                                    next_attempt_at: now,
                                    owner: None,
                                    lease_until: None,
                                    enqueued_at: now,
                                    delivered_at: None,
                                },
                            );
                            EnqueueOutcome::Inserted
                        }
                        Some(row) if row.body == body => EnqueueOutcome::AlreadyPresent,
                        Some(_) => EnqueueOutcome::Conflict,
                    };
                    assert_eq!(outcome, expected);
                }
            }
            Op::Claim {
                worker,
                limit,
                lease_ms,
            } => {
                let worker = worker_name(worker);
                let claimed = outbox
                    .claim_due(&worker, now, limit, Duration::from_millis(lease_ms))
                    .unwrap();
                let expected: Vec<String> = model.due_order(now).into_iter().take(limit).collect();
                let got: Vec<String> = claimed.iter().map(|c| c.id.clone()).collect();
                assert_eq!(got, expected, "claim order and limit");
                for c in claimed {
                    let row = model.rows.get_mut(&c.id).unwrap();
                    assert_eq!(c.body, row.body, "body unchanged");
                    assert_eq!(c.attempts, row.attempts);
                    row.state = State::InFlight;
                    row.owner = Some(worker.clone());
                    row.lease_until = Some(now + i64::try_from(lease_ms).unwrap());
                }
            }
            Op::Deliver { id, worker } => {
                let (id, worker) = (id_name(id), worker_name(worker));
                let expected = model.guard(&id, &worker);
                let attempts = model.rows.get(&id).map_or(1, |r| r.attempts + 1);
                assert_eq!(
                    kind(&outbox.mark_delivered(&id, &worker, attempts, now)),
                    expected
                );
                if expected.is_ok() {
                    let row = model.settle(&id, State::Delivered);
                    row.attempts = attempts;
                    row.delivered_at = Some(now);
                }
            }
            Op::Reschedule {
                id,
                worker,
                delay_ms,
            } => {
                let (id, worker) = (id_name(id), worker_name(worker));
                let expected = model.guard(&id, &worker);
                let attempts = model.rows.get(&id).map_or(1, |r| r.attempts + 1);
                let result = outbox.reschedule(&id, &worker, attempts, now + delay_ms, "503", now);
                assert_eq!(kind(&result), expected);
                if expected.is_ok() {
                    let row = model.settle(&id, State::Pending);
                    row.attempts = attempts;
                    row.next_attempt_at = now + delay_ms;
                }
            }
            Op::DeadLetter { id, worker } => {
                let (id, worker) = (id_name(id), worker_name(worker));
                let expected = model.guard(&id, &worker);
                let attempts = model.rows.get(&id).map_or(1, |r| r.attempts + 1);
                let result =
                    outbox.dead_letter(&id, &worker, attempts, DeadReason::Rejected, "400", now);
                assert_eq!(kind(&result), expected);
                if expected.is_ok() {
                    model.settle(&id, State::DeadLettered).attempts = attempts;
                }
            }
            Op::Release { id, worker } => {
                let (id, worker) = (id_name(id), worker_name(worker));
                let expected = model.guard(&id, &worker);
                assert_eq!(kind(&outbox.release(&id, &worker, now)), expected);
                if expected.is_ok() {
                    model.settle(&id, State::Pending);
                }
            }
            Op::ReleaseAll { worker } => {
                let worker = worker_name(worker);
                let held: Vec<String> = model
                    .rows
                    .iter()
                    .filter(|(_, r)| {
                        r.state == State::InFlight && r.owner.as_deref() == Some(&worker)
                    })
                    .map(|(id, _)| id.clone())
                    .collect();
                assert_eq!(outbox.release_all(&worker, now).unwrap(), held.len() as u64);
                for id in held {
                    model.settle(&id, State::Pending);
                }
            }
            Op::Extend {
                id,
                worker,
                lease_ms,
            } => {
                let (id, worker) = (id_name(id), worker_name(worker));
                let expected = model.guard(&id, &worker);
                let result =
                    outbox.extend_lease(&id, &worker, now, Duration::from_millis(lease_ms));
                assert_eq!(kind(&result.map(|_| ())), expected);
                if expected.is_ok() {
                    model.rows.get_mut(&id).unwrap().lease_until =
                        Some(now + i64::try_from(lease_ms).unwrap());
                }
            }
            Op::Replay { id } => {
                let id = id_name(id);
                let expected = match model.rows.get(&id) {
                    None => Err("unknown"),
                    Some(row) if row.state == State::DeadLettered => Ok(()),
                    Some(_) => Err("wrong_state"),
                };
                assert_eq!(kind(&outbox.replay(&id, now)), expected);
                if expected.is_ok() {
                    let row = model.settle(&id, State::Pending);
                    row.attempts = 0;
                    row.next_attempt_at = now;
                }
            }
            Op::Batch { worker, items } => {
                let worker = worker_name(worker);
                let names: Vec<String> = items.iter().map(|&(id, _)| id_name(id)).collect();
                let outcomes: Vec<Outcome<'_>> = items
                    .iter()
                    .zip(&names)
                    .map(|(&(_, kind), id)| {
                        let attempts = model.rows.get(id).map_or(1, |r| r.attempts + 1);
                        match kind {
                            0 => Outcome::Delivered { id, attempts },
                            1 => Outcome::Retry {
                                id,
                                attempts,
                                next_attempt_at: now + 100,
                                last_error: "503",
                            },
                            2 => Outcome::DeadLetter {
                                id,
                                attempts,
                                reason: DeadReason::Exhausted,
                                last_error: "503",
                            },
                            _ => Outcome::Release { id },
                        }
                    })
                    .collect();
                let results = outbox.record_outcomes(&worker, &outcomes, now).unwrap();
                assert_eq!(results.len(), outcomes.len());
                // The model applies the batch in order, so a second outcome
                // for the same id in one batch finds the lease gone.
                for (outcome, result) in outcomes.iter().zip(results) {
                    let id = outcome.id();
                    let expected = model.guard(id, &worker);
                    assert_eq!(kind(&result), expected, "{outcome:?}");
                    if expected.is_err() {
                        continue;
                    }
                    match *outcome {
                        Outcome::Delivered { attempts, .. } => {
                            let row = model.settle(id, State::Delivered);
                            row.attempts = attempts;
                            row.delivered_at = Some(now);
                        }
                        Outcome::Retry {
                            attempts,
                            next_attempt_at,
                            ..
                        } => {
                            let row = model.settle(id, State::Pending);
                            row.attempts = attempts;
                            row.next_attempt_at = next_attempt_at;
                        }
                        Outcome::DeadLetter { attempts, .. } => {
                            model.settle(id, State::DeadLettered).attempts = attempts;
                        }
                        Outcome::Release { .. } => {
                            model.settle(id, State::Pending);
                        }
                    }
                }
            }
            Op::Purge(back) => {
                let before = now - back;
                let old: Vec<String> = model
                    .rows
                    .iter()
                    .filter(|(_, r)| {
                        r.state == State::Delivered && r.delivered_at.is_some_and(|at| at < before)
                    })
                    .map(|(id, _)| id.clone())
                    .collect();
                assert_eq!(
                    outbox.purge_delivered(before, 1_000).unwrap(),
                    old.len() as u64
                );
                for id in old {
                    model.rows.remove(&id);
                }
            }
            Op::Advance(ms) => now += ms,
            Op::Reopen => {
                drop(outbox);
                outbox = dir.open();
            }
        }
        check_agrees(&outbox, &model, now);
    }
}

proptest! {
    // Each case is a real database file with an fsync per commit: keep the
    // case count moderate so the suite stays fast on two cores.
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn outbox_agrees_with_the_model(ops in prop::collection::vec(op(), 1..40)) {
        run(ops);
    }
}
