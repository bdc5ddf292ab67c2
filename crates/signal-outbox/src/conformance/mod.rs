//! The conformance suite: every behaviour of the contract, written once
//! against the traits, run by every backend (feature `conformance`).
//!
//! A backend implements [`TestBackend`] in its test file and lists the whole
//! suite with one macro line:
//!
//! ```text
//! struct MyBackend { /* the outbox, its storage, its test clock */ }
//! impl signal_outbox::conformance::TestBackend for MyBackend { ... }
//!
//! signal_outbox::conformance_tests!(MyBackend);
//! ```
//!
//! Each behaviour is a `pub async fn` taking the backend type, so a failure
//! names the behaviour; [`model`] is the model-based property test, and
//! [`run_all`] runs every behaviour in sequence. The functions assert (they
//! are tests): a failure panics with what differed.
//!
//! # The test clock
//!
//! No test sleeps. Every time a test compares is the backend's own clock,
//! which **must stand still** between [`TestBackend::advance`] calls (the
//! suite compares exact times, such as `lease_until == now + lease`): SQLite
//! gets a manual clock, PostgreSQL a settable "now" used in place of
//! `now()`.

// The suite is test code: assertions panic by design, and unwrapping a
// result the test has just asked for is the clearest way to say "this must
// have worked".
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod admin;
mod alerts;
mod bot_state;
mod lifecycle;
mod model;
mod outcomes;
mod retention;
mod transfer;

use crate::SignalStore as _;
use std::future::Future;
use std::time::Duration;

use crate::{
    AttemptRecord, Claimed, Claims, EnqueueOutcome, FailureReason, NewAlert, NewAuditEntry,
    NewSignal, Outbox, OutboxExt, Outcome, Timestamp,
};

pub use admin::*;
pub use alerts::*;
pub use bot_state::*;
pub use lifecycle::*;
pub use model::{MODEL_CASES, model};
pub use outcomes::*;
pub use retention::*;
pub use transfer::*;

/// A backend under test: a fresh, empty outbox with a test clock.
pub trait TestBackend: Sized + Send + Sync + 'static {
    /// The outbox type.
    type Store: Outbox + 'static;

    /// The dedup window [`fresh`](TestBackend::fresh) configures (how long
    /// a purged delivered id is still recognised at enqueue).
    const DEDUP_WINDOW: Duration;

    /// An empty outbox on fresh storage, its clock standing still.
    fn fresh() -> impl Future<Output = Self> + Send;

    /// The outbox.
    fn store(&self) -> &Self::Store;

    /// The backend's current time, as its clock reads it.
    fn now(&self) -> impl Future<Output = Timestamp> + Send;

    /// Moves the backend's clock forward by `by` (for every handle on the
    /// same storage).
    fn advance(&self, by: Duration) -> impl Future<Output = ()> + Send;

    /// Closes everything and opens the same storage again (a process
    /// restart); the clock keeps its time.
    fn restart(self) -> impl Future<Output = Self> + Send;

    /// A second, independent handle on the same storage and clock (another
    /// process or host).
    fn second(&self) -> impl Future<Output = Self::Store> + Send;

    /// Why this backend cannot be tested on this machine (for example: no
    /// PostgreSQL binaries), or `None` (the default) when it can. The
    /// generated tests print `SKIPPED: <reason>` on standard error and
    /// return without testing; a backend that must not be skipped (in CI)
    /// panics here instead of returning a reason.
    fn skip_reason() -> Option<String> {
        None
    }
}

/// True (after saying so loudly on standard error) when `B` cannot be
/// tested here; the generated tests return at once then.
#[doc(hidden)]
pub fn skipped<B: TestBackend>(test: &str) -> bool {
    match B::skip_reason() {
        Some(reason) => {
            eprintln!("SKIPPED: {test}: {reason}");
            true
        }
        None => false,
    }
}

/// Runs `future` to completion on a fresh current-thread runtime (what the
/// generated tests do, so a backend's test crate needs no tokio macros).
///
/// # Panics
/// If the runtime cannot be built.
pub fn block_on<F: Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a current-thread runtime")
        .block_on(future)
}

/// Lists every behaviour of the suite as a `#[test]`, plus the model-based
/// property test, for one backend type.
///
/// `signal_outbox::conformance_tests!(MyBackend);` or, with fewer model
/// cases for a slow backend,
/// `signal_outbox::conformance_tests!(MyBackend, model_cases = 16);`.
#[macro_export]
macro_rules! conformance_tests {
    ($backend:ty) => {
        $crate::conformance_tests!($backend, model_cases = $crate::conformance::MODEL_CASES);
    };
    ($backend:ty, model_cases = $cases:expr) => {
        $crate::conformance_tests!(@each $backend;
            enqueue_reports_inserted_already_present_and_conflict,
            enqueue_stores_exact_bytes_and_rejects_empty_ids,
            claim_takes_only_due_rows_oldest_first_up_to_the_limit,
            claim_validates_its_arguments,
            every_claim_gets_a_fresh_token,
            expired_lease_is_claimed_again_and_the_stale_token_is_fenced,
            a_late_outcome_counts_if_nobody_took_the_row_over,
            retry_keeps_attempts_and_schedule_across_a_restart,
            rescheduled_rows_are_claimed_in_due_order,
            expired_leases_and_pending_rows_merge_by_due_time,
            two_handles_never_claim_the_same_row_twice,
            record_applies_a_batch_and_reports_rows_not_held,
            a_stale_token_never_overwrites_a_newer_claim,
            defer_keeps_attempts_and_last_error,
            outcomes_on_unknown_ids_are_typed_errors,
            release_returns_rows_without_counting_an_attempt,
            extend_keeps_the_row_from_being_taken_over,
            huge_texts_are_truncated_on_a_char_boundary,
            dead_letter_then_replay_back_to_pending_with_attempts_reset,
            dead_letter_stores_its_alert_and_counts_consecutive_failures,
            an_outage_ends_with_exactly_one_recovered_alert,
            no_recovered_alert_without_an_outage,
            conflict_and_invalid_line_alerts_are_stored_with_the_enqueue,
            only_one_sender_holds_the_lease,
            a_sender_that_stops_renewing_loses_the_lease,
            updates_with_a_stale_sender_lease_are_refused,
            the_bot_offset_survives_a_restart_and_is_fenced,
            alert_retries_wait_and_failures_are_final,
            folded_alerts_survive_a_restart_and_are_summarized_once,
            attempt_log_records_each_attempt,
            stats_count_states_alerts_and_the_oldest_pending_age,
            list_filters_and_pages_by_keyset,
            show_returns_rows_in_the_order_asked,
            replay_reports_unknown_and_not_dead_ids,
            replay_selection_dry_run_max_age_and_audit,
            audit_entries_page_in_order,
            heartbeats_register_workers_until_they_stop,
            purge_removes_only_old_delivered_rows_and_keeps_tombstones,
            tombstones_expire_after_the_dedup_window,
            export_import_round_trip_keeps_every_state,
            import_skips_present_rows_and_refuses_other_bodies,
        );
        #[test]
        fn model_based_property_test() {
            if $crate::conformance::skipped::<$backend>("model_based_property_test") {
                return;
            }
            $crate::conformance::model::<$backend>($cases);
        }
    };
    (@each $backend:ty; $($name:ident),+ $(,)?) => {
        $(
            #[test]
            fn $name() {
                if $crate::conformance::skipped::<$backend>(stringify!($name)) {
                    return;
                }
                $crate::conformance::block_on($crate::conformance::$name::<$backend>());
            }
        )+
    };
}

/// Runs every behaviour of the suite in sequence (not the model test).
pub async fn run_all<B: TestBackend>() {
    enqueue_reports_inserted_already_present_and_conflict::<B>().await;
    enqueue_stores_exact_bytes_and_rejects_empty_ids::<B>().await;
    claim_takes_only_due_rows_oldest_first_up_to_the_limit::<B>().await;
    claim_validates_its_arguments::<B>().await;
    every_claim_gets_a_fresh_token::<B>().await;
    expired_lease_is_claimed_again_and_the_stale_token_is_fenced::<B>().await;
    a_late_outcome_counts_if_nobody_took_the_row_over::<B>().await;
    retry_keeps_attempts_and_schedule_across_a_restart::<B>().await;
    rescheduled_rows_are_claimed_in_due_order::<B>().await;
    expired_leases_and_pending_rows_merge_by_due_time::<B>().await;
    two_handles_never_claim_the_same_row_twice::<B>().await;
    record_applies_a_batch_and_reports_rows_not_held::<B>().await;
    a_stale_token_never_overwrites_a_newer_claim::<B>().await;
    defer_keeps_attempts_and_last_error::<B>().await;
    outcomes_on_unknown_ids_are_typed_errors::<B>().await;
    release_returns_rows_without_counting_an_attempt::<B>().await;
    extend_keeps_the_row_from_being_taken_over::<B>().await;
    huge_texts_are_truncated_on_a_char_boundary::<B>().await;
    dead_letter_then_replay_back_to_pending_with_attempts_reset::<B>().await;
    dead_letter_stores_its_alert_and_counts_consecutive_failures::<B>().await;
    an_outage_ends_with_exactly_one_recovered_alert::<B>().await;
    no_recovered_alert_without_an_outage::<B>().await;
    conflict_and_invalid_line_alerts_are_stored_with_the_enqueue::<B>().await;
    only_one_sender_holds_the_lease::<B>().await;
    a_sender_that_stops_renewing_loses_the_lease::<B>().await;
    updates_with_a_stale_sender_lease_are_refused::<B>().await;
    the_bot_offset_survives_a_restart_and_is_fenced::<B>().await;
    alert_retries_wait_and_failures_are_final::<B>().await;
    folded_alerts_survive_a_restart_and_are_summarized_once::<B>().await;
    attempt_log_records_each_attempt::<B>().await;
    stats_count_states_alerts_and_the_oldest_pending_age::<B>().await;
    list_filters_and_pages_by_keyset::<B>().await;
    show_returns_rows_in_the_order_asked::<B>().await;
    replay_reports_unknown_and_not_dead_ids::<B>().await;
    replay_selection_dry_run_max_age_and_audit::<B>().await;
    audit_entries_page_in_order::<B>().await;
    heartbeats_register_workers_until_they_stop::<B>().await;
    purge_removes_only_old_delivered_rows_and_keeps_tombstones::<B>().await;
    tombstones_expire_after_the_dedup_window::<B>().await;
    export_import_round_trip_keeps_every_state::<B>().await;
    import_skips_present_rows_and_refuses_other_bodies::<B>().await;
}

/// A lease long enough that it never expires unless a test advances time.
pub(crate) const LEASE: Duration = Duration::from_secs(30);

/// Enqueues `id` with `body` and asserts it was inserted.
pub(crate) async fn put<B: TestBackend>(backend: &B, id: &str, body: &[u8]) {
    let outcome = backend
        .store()
        .enqueue_one(NewSignal::new(id, body.to_vec()))
        .await
        .unwrap();
    assert_eq!(outcome, EnqueueOutcome::Inserted, "{id}");
}

/// The ids of the claimed rows, in claim order.
pub(crate) fn ids(claims: &Claims) -> Vec<&str> {
    claims.rows.iter().map(|c| c.id.as_str()).collect()
}

/// Claims for `worker` with the default lease.
pub(crate) async fn claim<B: TestBackend>(backend: &B, worker: &str, limit: usize) -> Claims {
    backend.store().claim(worker, limit, LEASE).await.unwrap()
}

/// The next attempt of `row`, delivered.
pub(crate) fn delivered(row: &Claimed) -> Outcome {
    Outcome::Delivered {
        id: row.id.clone(),
        token: row.token,
        attempt: AttemptRecord::delivered(row.attempts + 1, 200, Duration::from_millis(5)),
    }
}

/// The next attempt of `row`, failed with a 503, retried after `delay`.
pub(crate) fn retry(row: &Claimed, delay: Duration, error: &str) -> Outcome {
    Outcome::Retry {
        id: row.id.clone(),
        token: row.token,
        attempt: AttemptRecord::failed(
            row.attempts + 1,
            Some(503),
            "http_503",
            Duration::from_millis(7),
        ),
        delay,
        last_error: error.to_owned(),
    }
}

/// The alert a worker would store with a dead letter of `id`.
pub(crate) fn failure_alert(id: &str, reason: FailureReason) -> NewAlert {
    NewAlert {
        kind: crate::AlertKind::SignalFailure,
        group_key: format!("post_signal:{reason}"),
        signal_id: Some(id.to_owned()),
        payload: format!(r#"{{"signal_id":"{id}","reason":"{reason}"}}"#),
    }
}

/// The next attempt of `row` failed for good with `reason`.
pub(crate) fn dead(row: &Claimed, reason: FailureReason, outage: bool) -> Outcome {
    Outcome::DeadLetter {
        id: row.id.clone(),
        token: row.token,
        attempt: Some(AttemptRecord::failed(
            row.attempts + 1,
            Some(503),
            "http_503",
            Duration::from_millis(9),
        )),
        attempts: row.attempts + 1,
        reason,
        last_error: format!("{reason}: gave up"),
        alert: failure_alert(&row.id, reason),
        outage,
    }
}

/// Records one outcome and asserts it applied.
pub(crate) async fn record_ok<B: TestBackend>(backend: &B, worker: &str, outcome: Outcome) {
    let id = outcome.id().to_owned();
    backend
        .store()
        .record_one(worker, outcome)
        .await
        .unwrap_or_else(|e| panic!("outcome for {id} not recorded: {e}"));
}

/// An audit entry for `action` by the test.
pub(crate) fn audit(action: &str) -> NewAuditEntry {
    NewAuditEntry {
        actor: "os:test@localhost pid 1".to_owned(),
        action: action.to_owned(),
        detail: "{}".to_owned(),
        result: String::new(),
    }
}

/// `ms` milliseconds.
pub(crate) const fn ms(ms: u64) -> Duration {
    Duration::from_millis(ms)
}
