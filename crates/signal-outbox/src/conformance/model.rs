//! The model-based property test: random sequences of operations (with
//! stale tokens, restarts, purges and clock jumps) run against a real
//! backend and against a small in-memory model of the contract. After every
//! step they must agree: every enqueued id is in exactly one state, counts
//! add up, nothing is lost (only purged), bodies never change, the ledger
//! and the stored alerts match, and every call succeeded or failed exactly
//! as the model predicts.

use crate::{AlertStore as _, OutboxAdmin as _, SignalStore as _};
use std::collections::BTreeMap;
use std::time::Duration;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

use super::{TestBackend, block_on, failure_alert};
use crate::{
    AlertKind, AttemptRecord, ClaimToken, EnqueueOutcome, FailureReason, ListFilter, NewSignal,
    OutboxError, OutboxExt, Outcome, State, Timestamp,
};

/// Cases the model test runs by default: each is a fresh backend with
/// durable commits, so the count stays moderate for two cores.
pub const MODEL_CASES: u32 = 48;

const IDS: usize = 6;
const WORKERS: usize = 3;

/// A token no backend hands out for these rows (for "never claimed").
const FOREIGN: ClaimToken = ClaimToken(i64::MIN + 7);

#[derive(Debug, Clone, Copy)]
enum Kind {
    Deliver,
    Retry(u64),
    Defer(u64),
    Dead { outage: bool },
    Release,
}

#[derive(Debug, Clone)]
enum Op {
    Enqueue(Vec<(usize, bool)>),
    Claim {
        worker: usize,
        limit: usize,
        lease_ms: u64,
    },
    /// One outcome by `worker`, with the row's current token or a stale one.
    Record {
        worker: usize,
        items: Vec<(usize, Kind, bool)>,
    },
    ReleaseAll {
        worker: usize,
    },
    Extend {
        id: usize,
        lease_ms: u64,
        stale: bool,
    },
    Replay {
        id: usize,
    },
    Purge(u64),
    Advance(u64),
    Restart,
}

fn kind() -> impl Strategy<Value = Kind> {
    prop_oneof![
        3 => Just(Kind::Deliver),
        2 => (0u64..3_000).prop_map(Kind::Retry),
        1 => (1u64..2_000).prop_map(Kind::Defer),
        1 => any::<bool>().prop_map(|outage| Kind::Dead { outage }),
        1 => Just(Kind::Release),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => prop::collection::vec((0..IDS, any::<bool>()), 0..4).prop_map(Op::Enqueue),
        3 => (0..WORKERS, 0usize..4, 1u64..3_000)
            .prop_map(|(worker, limit, lease_ms)| Op::Claim { worker, limit, lease_ms }),
        4 => (0..WORKERS, prop::collection::vec((0..IDS, kind(), prop::bool::weighted(0.2)), 1..4))
            .prop_map(|(worker, items)| Op::Record { worker, items }),
        1 => (0..WORKERS).prop_map(|worker| Op::ReleaseAll { worker }),
        1 => (0..IDS, 1u64..3_000, any::<bool>())
            .prop_map(|(id, lease_ms, stale)| Op::Extend { id, lease_ms, stale }),
        1 => (0..IDS).prop_map(|id| Op::Replay { id }),
        1 => (0u64..4_000).prop_map(Op::Purge),
        2 => (0u64..4_000).prop_map(Op::Advance),
        1 => Just(Op::Restart),
    ]
}

#[derive(Debug, Clone)]
struct Row {
    body: Vec<u8>,
    state: State,
    attempts: u32,
    next_attempt_at: Timestamp,
    owner: Option<String>,
    lease_until: Option<Timestamp>,
    token: Option<ClaimToken>,
    stale: Option<ClaimToken>,
    last_error: Option<String>,
    enqueued_at: Timestamp,
    delivered_at: Option<Timestamp>,
}

#[derive(Debug, Default)]
struct Model {
    rows: BTreeMap<String, Row>,
    /// Purged ids: body and delivery time, for the dedup window.
    tombstones: BTreeMap<String, (Vec<u8>, Timestamp)>,
    consecutive: u32,
    outage: Option<(Timestamp, u64)>,
    alerts: BTreeMap<&'static str, usize>,
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
    fn token_for(&self, id: &str, stale: bool) -> ClaimToken {
        self.rows
            .get(id)
            .and_then(|row| if stale { row.stale } else { row.token })
            .unwrap_or(FOREIGN)
    }

    /// What a fenced call on `id` with `token` must return.
    fn guard(&self, id: &str, token: ClaimToken) -> Result<(), &'static str> {
        match self.rows.get(id) {
            None => Err("unknown"),
            Some(row) if row.state == State::InFlight && row.token == Some(token) => Ok(()),
            Some(_) => Err("fenced"),
        }
    }

    fn due_order(&self, now: Timestamp) -> Vec<String> {
        let mut due: Vec<(Timestamp, Timestamp, String)> = self
            .rows
            .iter()
            .filter_map(|(id, row)| match (row.state, row.lease_until) {
                (State::Pending, _) if row.next_attempt_at <= now => {
                    Some((row.next_attempt_at, row.enqueued_at, id.clone()))
                }
                (State::InFlight, Some(until)) if until <= now => {
                    Some((until, row.enqueued_at, id.clone()))
                }
                _ => None,
            })
            .collect();
        due.sort();
        due.into_iter().map(|(_, _, id)| id).collect()
    }

    fn settle(&mut self, id: &str, state: State) -> &mut Row {
        let row = self.rows.get_mut(id).unwrap();
        row.state = state;
        row.owner = None;
        row.lease_until = None;
        row
    }

    fn alert(&mut self, kind: &'static str) {
        *self.alerts.entry(kind).or_default() += 1;
    }

    fn apply(&mut self, id: &str, kind: Kind, now: Timestamp) {
        let attempts = self.rows[id].attempts + 1;
        match kind {
            Kind::Deliver => {
                let row = self.settle(id, State::Delivered);
                row.attempts = attempts;
                row.delivered_at = Some(now);
                self.consecutive = 0;
                if self.outage.take().is_some() {
                    self.alert("recovered");
                }
            }
            Kind::Retry(delay) => {
                let row = self.settle(id, State::Pending);
                row.attempts = attempts;
                row.next_attempt_at = now + delay as i64;
                row.last_error = Some("503".into());
            }
            Kind::Defer(delay) => {
                self.settle(id, State::Pending).next_attempt_at = now + delay as i64;
            }
            Kind::Dead { outage } => {
                let row = self.settle(id, State::DeadLettered);
                row.attempts = attempts;
                row.last_error = Some("gave up".into());
                self.consecutive += 1;
                self.alert("signal_failure");
                if outage {
                    let (started, failed) = self.outage.unwrap_or((now, 0));
                    self.outage = Some((started, failed + 1));
                }
            }
            Kind::Release => {
                self.settle(id, State::Pending);
            }
        }
    }
}

fn outcome(id: &str, token: ClaimToken, kind: Kind, attempts: u32) -> Outcome {
    let attempt = AttemptRecord::failed(
        attempts + 1,
        Some(503),
        "http_503",
        Duration::from_millis(3),
    );
    match kind {
        Kind::Deliver => Outcome::Delivered {
            id: id.into(),
            token,
            attempt: AttemptRecord::delivered(attempts + 1, 200, Duration::from_millis(2)),
        },
        Kind::Retry(delay) => Outcome::Retry {
            id: id.into(),
            token,
            attempt,
            delay: Duration::from_millis(delay),
            last_error: "503".into(),
        },
        Kind::Defer(delay) => Outcome::Defer {
            id: id.into(),
            token,
            delay: Duration::from_millis(delay),
        },
        Kind::Dead { outage } => Outcome::DeadLetter {
            id: id.into(),
            token,
            attempt: Some(attempt),
            attempts: attempts + 1,
            reason: if outage {
                FailureReason::Exhausted
            } else {
                FailureReason::Rejected
            },
            last_error: "gave up".into(),
            alert: failure_alert(id, FailureReason::Exhausted),
            outage,
        },
        Kind::Release => Outcome::Release {
            id: id.into(),
            token,
        },
    }
}

fn result_kind<T>(result: &Result<T, OutboxError>) -> Result<(), &'static str> {
    match result {
        Ok(_) => Ok(()),
        Err(OutboxError::UnknownId { .. }) => Err("unknown"),
        Err(OutboxError::Fenced { .. }) => Err("fenced"),
        Err(OutboxError::WrongState { .. }) => Err("wrong_state"),
        Err(other) => panic!("unexpected error: {other:?}"),
    }
}

async fn check_agrees<B: TestBackend>(b: &B, model: &Model, now: Timestamp) {
    let o = b.store();
    let stats = o.stats().await.unwrap();
    assert_eq!(
        stats.total(),
        model.rows.len() as u64,
        "no row lost or invented"
    );
    let mut seen = BTreeMap::new();
    for state in State::ALL {
        let listed = o.list(ListFilter::new(1_000).state(state)).await.unwrap();
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
    let details = o.show(model.rows.keys().cloned().collect()).await.unwrap();
    for (got, (id, want)) in details.iter().zip(&model.rows) {
        assert_eq!(&got.row.id, id);
        assert_eq!(&got.body[..], &want.body[..], "{id} body");
        assert_eq!(got.row.attempts, want.attempts, "{id} attempts");
        assert_eq!(got.row.lease_owner, want.owner, "{id} owner");
        assert_eq!(got.row.lease_until, want.lease_until, "{id} lease");
        assert_eq!(got.row.enqueued_at, want.enqueued_at, "{id} enqueued_at");
        assert_eq!(got.row.delivered_at, want.delivered_at, "{id} delivered_at");
        assert_eq!(got.row.last_error, want.last_error, "{id} last error");
        if want.state == State::Pending {
            assert_eq!(
                got.row.next_attempt_at, want.next_attempt_at,
                "{id} next attempt"
            );
        }
    }
    let oldest = model
        .rows
        .values()
        .filter(|r| r.state == State::Pending)
        .map(|r| r.enqueued_at)
        .min();
    assert_eq!(
        stats.oldest_pending_age,
        oldest.map(|at| crate::elapsed_between(at, now))
    );
    let ledger = o.ledger().await.unwrap();
    assert_eq!(
        ledger.consecutive_failures, model.consecutive,
        "consecutive failures"
    );
    assert_eq!(
        ledger.outage.map(|x| (x.started_at, x.failed)),
        model.outage,
        "outage"
    );
    let mut alerts: BTreeMap<&'static str, usize> = BTreeMap::new();
    for alert in o.alerts(None, 10_000).await.unwrap() {
        let kind = AlertKind::ALL
            .iter()
            .find(|k| **k == alert.kind)
            .unwrap()
            .as_str();
        *alerts.entry(kind).or_default() += 1;
    }
    assert_eq!(alerts, model.alerts, "stored alerts");
}

async fn run<B: TestBackend>(ops: Vec<Op>) {
    let mut b = B::fresh().await;
    let mut model = Model::default();
    let mut now = b.now().await;
    for op in ops {
        match op {
            Op::Enqueue(items) => {
                let signals = items
                    .iter()
                    .map(|&(i, v)| NewSignal::new(id_name(i), body(i, v)))
                    .collect();
                let outcomes = b.store().enqueue_signals(signals).await.unwrap();
                assert_eq!(outcomes.len(), items.len());
                for (&(i, v), got) in items.iter().zip(outcomes) {
                    let (id, body) = (id_name(i), body(i, v));
                    let known = model
                        .rows
                        .get(&id)
                        .map(|r| r.body.clone())
                        .or_else(|| model.tombstones.get(&id).map(|t| t.0.clone()));
                    let expected = match known {
                        None => {
                            let row = Row {
                                body,
                                state: State::Pending,
                                attempts: 0,
                                next_attempt_at: now,
                                owner: None,
                                lease_until: None,
                                token: None,
                                stale: None,
                                last_error: None,
                                enqueued_at: now,
                                delivered_at: None,
                            };
                            model.rows.insert(id, row);
                            EnqueueOutcome::Inserted
                        }
                        Some(stored) if stored == body => EnqueueOutcome::AlreadyPresent,
                        Some(_) => {
                            model.alert("conflict");
                            EnqueueOutcome::Conflict
                        }
                    };
                    assert_eq!(got, expected);
                }
            }
            Op::Claim {
                worker,
                limit,
                lease_ms,
            } => {
                let worker = worker_name(worker);
                let claims = b
                    .store()
                    .claim(&worker, limit, Duration::from_millis(lease_ms))
                    .await
                    .unwrap();
                assert_eq!(claims.now, now, "the claim reports the backend's time");
                let expected: Vec<String> = model.due_order(now).into_iter().take(limit).collect();
                let got: Vec<String> = claims.rows.iter().map(|c| c.id.clone()).collect();
                assert_eq!(got, expected, "claim order and limit");
                for c in claims.rows {
                    let row = model.rows.get_mut(&c.id).unwrap();
                    assert_eq!(&c.body[..], &row.body[..], "body unchanged");
                    assert_eq!((c.attempts, &c.last_error), (row.attempts, &row.last_error));
                    assert!(
                        row.token != Some(c.token) && row.stale != Some(c.token),
                        "fresh token"
                    );
                    row.state = State::InFlight;
                    row.owner = Some(worker.clone());
                    row.lease_until = Some(now + lease_ms as i64);
                    row.stale = row.token.or(row.stale);
                    row.token = Some(c.token);
                }
            }
            Op::Record { worker, items } => {
                let worker = worker_name(worker);
                let outcomes: Vec<Outcome> = items
                    .iter()
                    .map(|&(i, kind, stale)| {
                        let id = id_name(i);
                        let attempts = model.rows.get(&id).map_or(0, |r| r.attempts);
                        outcome(&id, model.token_for(&id, stale), kind, attempts)
                    })
                    .collect();
                let results = b.store().record(&worker, outcomes.clone()).await.unwrap();
                assert_eq!(results.len(), outcomes.len());
                // Applied in order: a second outcome for one id in a batch
                // finds the claim gone.
                for ((outcome, &(_, kind, _)), result) in outcomes.iter().zip(&items).zip(results) {
                    let expected = model.guard(outcome.id(), outcome.token());
                    assert_eq!(result_kind(&result), expected, "{outcome:?}");
                    if expected.is_ok() {
                        model.apply(outcome.id(), kind, now);
                    }
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
                assert_eq!(
                    b.store().release_all(&worker).await.unwrap(),
                    held.len() as u64
                );
                for id in held {
                    model.settle(&id, State::Pending);
                }
            }
            Op::Extend {
                id,
                lease_ms,
                stale,
            } => {
                let id = id_name(id);
                let token = model.token_for(&id, stale);
                let expected = model.guard(&id, token);
                let result = b
                    .store()
                    .extend_one(&id, token, Duration::from_millis(lease_ms))
                    .await;
                assert_eq!(result_kind(&result), expected);
                if expected.is_ok() {
                    assert_eq!(result.unwrap(), now + lease_ms as i64);
                    model.rows.get_mut(&id).unwrap().lease_until = Some(now + lease_ms as i64);
                }
            }
            Op::Replay { id } => {
                let id = id_name(id);
                let expected = match model.rows.get(&id) {
                    None => Err("unknown"),
                    Some(row) if row.state == State::DeadLettered => Ok(()),
                    Some(_) => Err("wrong_state"),
                };
                let result = b.store().replay_one(&id, super::audit("replay")).await;
                assert_eq!(result_kind(&result), expected);
                if expected.is_ok() {
                    let row = model.settle(&id, State::Pending);
                    row.attempts = 0;
                    row.next_attempt_at = now;
                }
            }
            Op::Purge(back) => {
                let cutoff = now - back as i64;
                let old: Vec<String> = model
                    .rows
                    .iter()
                    .filter(|(_, r)| {
                        r.state == State::Delivered && r.delivered_at.is_some_and(|at| at < cutoff)
                    })
                    .map(|(id, _)| id.clone())
                    .collect();
                let report = b
                    .store()
                    .purge_delivered(Duration::from_millis(back), 2)
                    .await
                    .unwrap();
                assert_eq!(report.purged, old.len() as u64);
                for id in old {
                    let row = model.rows.remove(&id).unwrap();
                    model
                        .tombstones
                        .insert(id, (row.body, row.delivered_at.unwrap()));
                }
                let window = crate::duration_millis(B::DEDUP_WINDOW);
                model.tombstones.retain(|_, (_, at)| *at >= now - window);
            }
            Op::Advance(by) => {
                b.advance(Duration::from_millis(by)).await;
                now += by as i64;
            }
            Op::Restart => b = b.restart().await,
        }
        check_agrees(&b, &model, now).await;
    }
}

/// Runs the model-based property test for `cases` random sequences of up to
/// 40 operations, each on a fresh backend (its own runtime per case).
///
/// # Panics
/// On the first disagreement, after shrinking it to a minimal sequence.
pub fn model<B: TestBackend>(cases: u32) {
    let mut runner = TestRunner::new(Config {
        cases,
        ..Config::default()
    });
    let result = runner.run(&prop::collection::vec(op(), 1..40), |ops| {
        block_on(run::<B>(ops));
        Ok(())
    });
    if let Err(failure) = result {
        panic!("the backend disagrees with the model: {failure}");
    }
}
