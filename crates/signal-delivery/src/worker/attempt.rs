//! One claim, one attempt: deliver, retry later, defer (budget), or give up
//! (dead letter with its alert), and the outcome recorded.

use hmac_client::PostError;
use retry_core::{
    Classify, Clock, RetryDecision, SplitMix64, TokioClock, calculate_backoff_delay,
    decide_after_failure, decide_after_refusal,
};
use signal_outbox::{AttemptRecord, MAX_EXCERPT_LEN, Outcome, truncate_utf8};
use tokio::time::Instant;

use super::claim::Job;
use super::record::{NotRecorded, Recorder, Slot};
use crate::alerts::stored::{failure_alert, is_outage};
use crate::outcome::DeliveryError;
use crate::service::DeliveryService;
use crate::signal::Signal;
use crate::telemetry::{self, RetryNotice};

/// What every attempt task shares.
pub(super) struct Ctx {
    pub(super) service: DeliveryService,
    pub(super) recorder: Recorder,
}

/// What one attempt task ended with.
#[derive(Debug, Clone, Copy)]
pub(super) enum Done {
    Delivered,
    Rescheduled,
    Deferred,
    DeadLettered,
    LeaseLost,
    NotRecorded,
}

fn millis(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// One attempt for one claimed row, and its recorded outcome. `slot` is the
/// attempt's place among the worker's concurrent attempts: it is given back
/// once the outcome is handed to the recorder, so the next claim need not
/// wait for this one's commit.
pub(super) async fn attempt(ctx: &Ctx, job: Job, mut slot: Slot) -> Done {
    let slot = &mut slot;
    let service = &ctx.service;
    let row = &job.row;
    let attempt_no = row.attempts.saturating_add(1);
    // Enqueue validated the body; a row written by other means is checked
    // again so that nothing malformed is ever signed and sent.
    if let Err(error) = Signal::from_json(&row.body) {
        let error = DeliveryError::invalid(Some(row.id.clone()), error);
        return give_up(ctx, &job, slot, row.attempts, None, error).await;
    }
    // Asked right before the attempt, not when the retry was scheduled, so
    // that a refusal really holds the retry back (the in-memory loop's rule).
    if let Some(budget) = service.budget() {
        let now = TokioClock.now();
        if row.attempts == 0 {
            budget.deposit(now);
        } else if !budget.try_withdraw(now) {
            return defer(ctx, &job, slot).await;
        }
    }
    telemetry::record_attempt();
    let sent = Instant::now();
    let result = service
        .client()
        .post_signal(&row.id, row.body.clone())
        .await;
    let latency = sent.elapsed();
    telemetry::record_attempt_duration(result.is_ok(), latency);
    let age = job.age();
    let error = match result {
        Ok(receipt) => {
            let attempt = AttemptRecord::delivered(attempt_no, receipt.status, receipt.latency);
            let outcome = Outcome::Delivered {
                id: row.id.clone(),
                token: row.token,
                attempt,
            };
            // A delivery that ends an outage stores the recovered alert in
            // the same transaction (the outbox's ledger decides).
            let recorded = ctx.recorder.record(outcome, slot).await;
            return match recorded {
                Ok(()) => {
                    telemetry::record_delivered(age);
                    tracing::info!(
                        outcome = "delivered",
                        status = receipt.status,
                        attempts = attempt_no,
                        age_ms = millis(age),
                        "signal delivered"
                    );
                    Done::Delivered
                }
                Err(failure) => not_recorded(&row.id, failure),
            };
        }
        Err(error) => error,
    };
    let record = failed_attempt(attempt_no, &error, latency);
    let policy = service.policy();
    let decision = decide_after_failure(policy, attempt_no, age, error.retryability(), || {
        let mut rng = SplitMix64::from_entropy();
        Some(calculate_backoff_delay(
            policy,
            attempt_no.saturating_sub(1),
            &mut rng,
        ))
    });
    match decision {
        RetryDecision::RetryAfter(delay) => {
            let text = error.to_string();
            let outcome = Outcome::Retry {
                id: row.id.clone(),
                token: row.token,
                attempt: record,
                delay,
                last_error: text.clone(),
            };
            match ctx.recorder.record(outcome, slot).await {
                Ok(()) => {
                    telemetry::record_retry();
                    tracing::debug!(attempt = attempt_no, delay_ms = millis(delay), error = %text, "attempt failed, rescheduled");
                    if let Some(listener) = service.listener() {
                        listener(&RetryNotice {
                            signal_id: row.id.clone(),
                            attempt: attempt_no,
                            max_attempts: policy.max_attempts(),
                            error: text,
                            delay,
                        });
                    }
                    Done::Rescheduled
                }
                Err(failure) => not_recorded(&row.id, failure),
            }
        }
        RetryDecision::GiveUp(reason) => {
            let error = DeliveryError::gave_up(&row.id, reason, attempt_no, age, error);
            give_up(ctx, &job, slot, attempt_no, Some(record), error).await
        }
    }
}

/// The attempt-log entry of a failed attempt: status, class, latency, and
/// the server's answer as far as the client exposes it (an excerpt of the
/// body, already sanitized and bounded by `hmac-client`), redacted again
/// here. A transport failure has no answer: no status, no excerpt.
fn failed_attempt(attempt: u32, error: &PostError, latency: std::time::Duration) -> AttemptRecord {
    let mut record = AttemptRecord::failed(attempt, error.status(), error.error_class(), latency);
    record.excerpt = error.body_excerpt().map(redact_excerpt);
    record
}

/// A response excerpt with anything that looks like a signing secret
/// (`whsec_...`) or a signature (`v1,<base64>`) replaced, bounded to
/// [`MAX_EXCERPT_LEN`] bytes. A receiver that echoes our headers back must
/// not put them into the outbox.
pub(super) fn redact_excerpt(text: &str) -> String {
    let is_secret_char =
        |c: char| c.is_ascii_alphanumeric() || matches!(c, '+' | '/' | '=' | '_' | '-');
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while !rest.is_empty() {
        let secret = rest.find("whsec_");
        let signature = rest.find("v1,").filter(|&at| {
            rest[at + 3..]
                .chars()
                .take_while(|c| is_secret_char(*c))
                .count()
                >= 16
        });
        let Some(at) = [secret, signature].into_iter().flatten().min() else {
            out.push_str(rest);
            break;
        };
        out.push_str(&rest[..at]);
        let skip = if Some(at) == secret {
            "whsec_".len()
        } else {
            "v1,".len()
        };
        let tail = &rest[at + skip..];
        let end = tail
            .find(|c: char| !is_secret_char(c))
            .unwrap_or(tail.len());
        out.push_str("[redacted]");
        rest = &tail[end..];
    }
    truncate_utf8(&out, MAX_EXCERPT_LEN).to_owned()
}

/// The budget refused this due retry: reschedule it without an attempt
/// (attempts and last error unchanged), or dead-letter it with `budget` once
/// the deadline has come.
async fn defer(ctx: &Ctx, job: &Job, slot: &mut Slot) -> Done {
    let row = &job.row;
    let age = job.age();
    let decision = decide_after_refusal(ctx.service.policy(), age, &mut SplitMix64::from_entropy());
    let delay = match decision {
        RetryDecision::RetryAfter(delay) => delay,
        RetryDecision::GiveUp(_) => {
            let last_error = row
                .last_error
                .clone()
                .unwrap_or_else(|| "(no error recorded)".to_owned());
            let error = DeliveryError::held_back(&row.id, row.attempts, age, last_error);
            return give_up(ctx, job, slot, row.attempts, None, error).await;
        }
    };
    let outcome = Outcome::Defer {
        id: row.id.clone(),
        token: row.token,
        delay,
    };
    match ctx.recorder.record(outcome, slot).await {
        Ok(()) => {
            telemetry::record_deferral();
            tracing::debug!(
                attempt = row.attempts.saturating_add(1),
                delay_ms = millis(delay),
                age_ms = millis(age),
                "retry deferred by the retry budget"
            );
            Done::Deferred
        }
        Err(failure) => not_recorded(&row.id, failure),
    }
}

/// Dead-letters the row with its alert (one transaction): the alert sender
/// sends it from the outbox, so a crash right after the commit delays the
/// alert and never loses it. Counted and logged once durable.
async fn give_up(
    ctx: &Ctx,
    job: &Job,
    slot: &mut Slot,
    attempts: u32,
    attempt: Option<AttemptRecord>,
    error: DeliveryError,
) -> Done {
    let row = &job.row;
    let allowed = ctx.service.policy().max_attempts();
    let outcome = Outcome::DeadLetter {
        id: row.id.clone(),
        token: row.token,
        attempt,
        attempts,
        reason: error.reason(),
        last_error: error.to_string(),
        alert: failure_alert(ctx.service.alerts(), &error, allowed),
        outage: is_outage(&error),
    };
    match ctx.recorder.record(outcome, slot).await {
        Ok(()) => {
            ctx.service.report_stored_failure(&error);
            Done::DeadLettered
        }
        Err(failure) => not_recorded(&row.id, failure),
    }
}

fn not_recorded(id: &str, failure: NotRecorded) -> Done {
    match failure {
        NotRecorded::NotHeld(error) => {
            telemetry::record_fenced();
            tracing::warn!(signal_id = %id, error = %error, "outcome dropped: another worker holds the signal now");
            Done::LeaseLost
        }
        NotRecorded::Storage(error) => {
            tracing::error!(signal_id = %id, error = %error, "outcome not recorded; the signal is attempted again after its lease");
            Done::NotRecorded
        }
    }
}

#[cfg(test)]
mod tests {
    use super::redact_excerpt;

    #[test]
    fn excerpts_lose_secrets_and_signatures_and_stay_bounded() {
        let text = "bad signature v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw= for key whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD, sorry";
        assert_eq!(
            redact_excerpt(text),
            "bad signature [redacted] for key [redacted], sorry"
        );
        assert_eq!(redact_excerpt("v1,short is fine"), "v1,short is fine");
        assert_eq!(redact_excerpt("plain"), "plain");
        assert!(redact_excerpt(&"é".repeat(1_000)).len() <= signal_outbox::MAX_EXCERPT_LEN);
    }
}
