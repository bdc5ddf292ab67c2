//! One round of the dispatcher under the sender lease: what each stored
//! alert becomes, sent, folded, retried later or failed, and how it is
//! recorded, counted and logged. A group's summary is in `summary`.

mod summary;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::time::Instant;

use super::dispatcher::{DispatchStats, Dispatcher};
use super::planner::{Book, Decision, millis, to_utc};
use super::queue::{AlertUpdate, LeaseToken, QueueError, SenderLease, StoredAlert, Timestamp};
use crate::format::FormattedAlert;
use crate::outcome::{AlertError, AlertErrorKind};
use crate::payload::{AlertPayload, FormatContext, PayloadError, ReplayHint};
use crate::rate_limit::{RateLimiter, WINDOW};
use crate::service::log::{emit, log_only};
use crate::service::{METRIC_FAILED, METRIC_FOLDED, METRIC_QUEUED, METRIC_SENT};
use crate::severity::Severity;
use crate::sink::SentMessage;

/// Normal rounds, or the last one at shutdown (until the instant given),
/// which also sends every open summary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    Normal,
    Flush(Instant),
}

/// Go on with the round, or stop it: Telegram is failing, the rest waits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flow {
    Continue,
    Stop,
}

/// Tries of an update that the store could not take for now.
const RECORD_TRIES: u32 = 3;
/// Longest pause after store errors in a row.
const MAX_ERROR_PAUSE: Duration = Duration::from_secs(60);

/// The dispatcher's state across rounds.
pub(crate) struct Run<'a> {
    d: &'a Dispatcher,
    stats: DispatchStats,
    /// Summaries Telegram failed to take, not tried again before then.
    summary_not_before: HashMap<String, Instant>,
    /// Store errors in a row, for the pause after them.
    errors: u32,
    /// The groups and the pace of the last round, reused while the lease is
    /// held without a break (a store read per round saved: a group can hold
    /// thousands of folded alerts during an outage).
    kept: Option<Kept>,
}

/// What a round leaves to the next one under the same lease token.
struct Kept {
    token: LeaseToken,
    book: Book,
    limiter: RateLimiter,
}

/// The lease and the store's clock, read at each renewal and moved on with
/// tokio's clock in between.
struct Held {
    lease: SenderLease,
    at: Instant,
}

impl Held {
    fn now(&self) -> Timestamp {
        self.lease.now.saturating_add(millis(self.at.elapsed()))
    }

    /// The local instant of a stored time (only differences matter, so the
    /// clocks of the store and of this host need not agree).
    fn instant_of(&self, at: Timestamp) -> Instant {
        let offset = at.saturating_sub(self.lease.now);
        let by = Duration::from_millis(offset.unsigned_abs());
        if offset >= 0 {
            self.at + by
        } else {
            // Before the monotonic clock's origin (just after boot): taken
            // as now, which only makes the pacing wait a little longer.
            self.at.checked_sub(by).unwrap_or(self.at)
        }
    }
}

/// One round's working state.
struct Round {
    held: Held,
    book: Book,
    limiter: RateLimiter,
}

impl<'a> Run<'a> {
    pub(crate) fn new(d: &'a Dispatcher) -> Run<'a> {
        Run {
            d,
            stats: DispatchStats::default(),
            summary_not_before: HashMap::new(),
            errors: 0,
            kept: None,
        }
    }

    pub(crate) fn finish(self) -> DispatchStats {
        self.stats
    }

    /// One round; returns how long to pause before the next.
    pub(crate) async fn round(&mut self, mode: Mode, stopping: &AtomicBool) -> Duration {
        match self.try_round(mode, stopping).await {
            Ok(pause) => {
                self.errors = 0;
                pause
            }
            Err(error) => self.store_failed(&error),
        }
    }

    fn store_failed(&mut self, error: &QueueError) -> Duration {
        let poll = self.d.settings.poll_interval;
        if let QueueError::Fenced { .. } = error {
            tracing::info!(%error, worker = %self.d.settings.worker, "alert sender lease lost");
            return poll;
        }
        self.errors = self.errors.saturating_add(1);
        if error.is_retryable() {
            tracing::warn!(%error, "alert store unavailable; alerts wait in it");
        } else {
            tracing::error!(%error, "alert store failed; alerts wait in it");
        }
        poll.saturating_mul(2_u32.saturating_pow(self.errors.min(6)))
            .min(MAX_ERROR_PAUSE.max(poll))
    }

    async fn try_round(
        &mut self,
        mode: Mode,
        stopping: &AtomicBool,
    ) -> Result<Duration, QueueError> {
        let settings = &self.d.settings;
        let Some(lease) = self
            .d
            .queue
            .acquire_sender(&settings.worker, settings.lease)
            .await?
        else {
            // Another sender has them: this one owes nothing.
            metrics::gauge!(METRIC_QUEUED).set(0.0);
            return Ok(settings.poll_interval);
        };
        self.stats.rounds += 1;
        let held = Held {
            lease,
            at: Instant::now(),
        };
        let config = self.d.courier.config();
        let since = config.cooldown().max(WINDOW);
        let (book, limiter) = match self.kept.take() {
            // Held without a break since the last round: nobody else sent
            // or folded, so what this sender knows is what the store has.
            Some(kept) if kept.token == held.lease.token => {
                let mut book = kept.book;
                book.forget_before(held.now().saturating_sub(millis(since)));
                (book, kept.limiter)
            }
            _ => {
                let groups = self.d.queue.alert_groups(&held.lease, since).await?;
                let book = Book::new(groups, config.cooldown());
                let history = book.recent_sends().into_iter().map(|t| held.instant_of(t));
                (book, RateLimiter::with_history(history))
            }
        };
        let mut round = Round {
            held,
            book,
            limiter,
        };
        let result = self.work(&mut round, mode, stopping).await;
        if result.is_ok() {
            self.kept = Some(Kept {
                token: round.held.lease.token,
                book: round.book,
                limiter: round.limiter,
            });
        }
        result
    }

    /// The summaries and alerts of one round.
    async fn work(
        &mut self,
        round: &mut Round,
        mode: Mode,
        stopping: &AtomicBool,
    ) -> Result<Duration, QueueError> {
        if mode == Mode::Normal {
            for key in round.book.due_summaries(round.held.now(), false) {
                if stopping.load(Ordering::Relaxed) {
                    return Ok(Duration::ZERO);
                }
                if self.summary(round, &key).await? == Flow::Stop {
                    return Ok(self.d.settings.poll_interval);
                }
            }
        }
        let pending = self
            .d
            .queue
            .pending_alerts(&round.held.lease, self.d.settings.batch)
            .await?;
        let total = pending.len();
        let mut handled = 0;
        queued(total);
        for row in pending {
            if should_stop(mode, stopping) {
                break;
            }
            let flow = self.alert(round, row).await?;
            handled += 1;
            queued(total - handled);
            if flow == Flow::Stop {
                return Ok(self.d.settings.poll_interval);
            }
        }
        if let Mode::Flush(_) = mode {
            for key in round.book.due_summaries(round.held.now(), true) {
                if should_stop(mode, stopping) || self.summary(round, &key).await? == Flow::Stop {
                    break;
                }
            }
        }
        Ok(if handled == self.d.settings.batch {
            Duration::ZERO
        } else {
            self.pause(round)
        })
    }

    /// Until the next window closes (or its summary may be tried again),
    /// at most the poll interval.
    fn pause(&self, round: &Round) -> Duration {
        let poll = self.d.settings.poll_interval;
        let now = Instant::now();
        round
            .book
            .window_ends()
            .into_iter()
            .map(|(key, end)| {
                let end = round.held.instant_of(end).max(now);
                self.summary_not_before
                    .get(key)
                    .map_or(end, |retry| end.max(*retry))
            })
            .min()
            .map_or(poll, |due| due.saturating_duration_since(now).min(poll))
            .max(Duration::from_millis(1))
    }

    /// One pending alert: fold it, or send it.
    async fn alert(&mut self, round: &mut Round, row: StoredAlert) -> Result<Flow, QueueError> {
        let payload = match AlertPayload::from_json(&row.payload) {
            Ok(payload) if payload.kind() == row.kind => payload,
            Ok(payload) => {
                let error = PayloadError::new(format!(
                    "the row is of kind {} but its payload of kind {}",
                    row.kind,
                    payload.kind()
                ));
                return self.unreadable(round, &row, &error).await;
            }
            Err(error) => return self.unreadable(round, &row, &error).await,
        };
        let escalate_after = self.d.courier.config().escalate_after();
        let severity = payload.severity(row.consecutive, escalate_after);
        match round
            .book
            .decide(&row.group_key, payload.kind(), round.held.now())
        {
            Decision::Fold => {
                self.record(round, vec![AlertUpdate::Folded { id: row.id }])
                    .await?;
                metrics::counter!(METRIC_FOLDED, "severity" => severity.as_str()).increment(1);
                self.stats.folded += 1;
                tracing::warn!(
                    alert_id = row.id.0,
                    kind = %row.kind,
                    group_key = %row.group_key,
                    signal_id = row.signal_id.as_deref().unwrap_or(""),
                    %severity,
                    "stored alert folded into the open group's summary"
                );
                round.book.folded(row);
                Ok(Flow::Continue)
            }
            Decision::Send => self.send_alert(round, row, payload, severity).await,
        }
    }

    async fn send_alert(
        &mut self,
        round: &mut Round,
        row: StoredAlert,
        mut payload: AlertPayload,
        severity: Severity,
    ) -> Result<Flow, QueueError> {
        payload.redact_with(|text| self.d.courier.redact(text));
        let context = FormatContext {
            recorded_at: to_utc(row.created_at),
            replay: ReplayHint::Outbox,
        };
        let formatted = payload.format(severity, &context);
        if !severity.is_sent() {
            log_only(
                severity,
                format_args!("stored ops alert (not sent)"),
                &[("alert", formatted.plain.as_str())],
            );
            let logged = AlertUpdate::Sent {
                id: row.id,
                message_id: None,
            };
            self.record(round, vec![logged]).await?;
            return Ok(Flow::Continue);
        }
        match self.send(round, &formatted).await? {
            Ok(sent) => {
                let update = AlertUpdate::Sent {
                    id: row.id,
                    message_id: Some(i64::from(sent.message_id)),
                };
                self.record(round, vec![update]).await?;
                round.book.sent(&row.group_key, round.held.now());
                self.sent(severity);
                tracing::info!(
                    alert_id = row.id.0,
                    kind = %row.kind,
                    signal_id = row.signal_id.as_deref().unwrap_or(""),
                    message_id = sent.message_id,
                    %severity,
                    "stored ops alert sent to Telegram"
                );
                Ok(Flow::Continue)
            }
            Err(error) if error.kind() == AlertErrorKind::Permanent => {
                let reason = self.d.courier.redact(&error.to_string());
                let failed = AlertUpdate::Failed {
                    id: row.id,
                    error: reason.clone(),
                };
                self.record(round, vec![failed]).await?;
                self.failed(severity, 1);
                let id = row.id.0.to_string();
                emit(
                    tracing::Level::ERROR,
                    format_args!("ops alert could not be sent to Telegram: {reason}"),
                    &row_fields(&id, &row, severity, &formatted),
                );
                Ok(Flow::Continue)
            }
            Err(error) => {
                let reason = self.d.courier.redact(&error.to_string());
                let delay = self.d.settings.retry_delay(row.attempts);
                let retry = AlertUpdate::Retry {
                    id: row.id,
                    delay,
                    error: reason.clone(),
                };
                self.record(round, vec![retry]).await?;
                self.stats.retried += 1;
                tracing::warn!(
                    alert_id = row.id.0,
                    kind = %row.kind,
                    signal_id = row.signal_id.as_deref().unwrap_or(""),
                    retry_in_s = delay.as_secs(),
                    error = %reason,
                    "ops alert not sent yet; kept, and tried again later"
                );
                Ok(Flow::Stop)
            }
        }
    }

    /// Waits for the rate limit, renews the lease, then sends (bounded by
    /// the alert timeout, which starts after the pacing wait).
    async fn send(
        &mut self,
        round: &mut Round,
        formatted: &FormattedAlert,
    ) -> Result<Result<SentMessage, AlertError>, QueueError> {
        round.limiter.ready().await;
        let settings = &self.d.settings;
        let lease = self
            .d
            .queue
            .acquire_sender(&settings.worker, settings.lease)
            .await?
            .ok_or_else(|| QueueError::Fenced {
                detail: "another sender took the lease".to_owned(),
            })?;
        round.held = Held {
            lease,
            at: Instant::now(),
        };
        Ok(self.d.courier.send(&round.limiter, formatted).await)
    }

    /// Applies updates, trying again a few times while the store is busy:
    /// an update lost after a message went out means it may go out twice.
    async fn record(&mut self, round: &Round, updates: Vec<AlertUpdate>) -> Result<(), QueueError> {
        let mut tries = 0;
        loop {
            tries += 1;
            match self
                .d
                .queue
                .update_alerts(&round.held.lease, updates.clone())
                .await
            {
                Err(error) if error.is_retryable() && tries < RECORD_TRIES => {
                    tracing::warn!(%error, tries, "alert store busy; recording the update again");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
                Err(error) => {
                    tracing::error!(
                        %error,
                        updates = ?updates,
                        "alert update not recorded; a message already sent may be sent again"
                    );
                    return Err(error);
                }
                Ok(()) => return Ok(()),
            }
        }
    }

    /// A row whose payload cannot be read: failed, with everything logged.
    async fn unreadable(
        &mut self,
        round: &Round,
        row: &StoredAlert,
        error: &PayloadError,
    ) -> Result<Flow, QueueError> {
        let reason = self.d.courier.redact(&error.to_string());
        let failed = AlertUpdate::Failed {
            id: row.id,
            error: reason.clone(),
        };
        self.record(round, vec![failed]).await?;
        self.failed(Severity::Error, 1);
        let id = row.id.0.to_string();
        let payload = self.d.courier.redact(&row.payload);
        emit(
            tracing::Level::ERROR,
            format_args!("stored ops alert cannot be read, not sent: {reason}"),
            &[
                ("alert_id", id.as_str()),
                ("kind", row.kind.as_str()),
                ("group_key", row.group_key.as_str()),
                ("signal_id", row.signal_id.as_deref().unwrap_or("")),
                ("payload", payload.as_str()),
            ],
        );
        Ok(Flow::Continue)
    }

    fn sent(&mut self, severity: Severity) {
        metrics::counter!(METRIC_SENT, "severity" => severity.as_str()).increment(1);
        self.stats.sent += 1;
    }

    fn failed(&mut self, severity: Severity, alerts: u64) {
        metrics::counter!(METRIC_FAILED, "severity" => severity.as_str()).increment(alerts);
        self.stats.failed += alerts;
    }
}

fn should_stop(mode: Mode, stopping: &AtomicBool) -> bool {
    match mode {
        Mode::Normal => stopping.load(Ordering::Relaxed),
        Mode::Flush(deadline) => Instant::now() >= deadline,
    }
}

fn queued(count: usize) {
    // A gauge: exact up to 2^53 alerts.
    metrics::gauge!(METRIC_QUEUED).set(count as f64);
}

/// Everything about a row for its ERROR line.
fn row_fields<'a>(
    id: &'a str,
    row: &'a StoredAlert,
    severity: Severity,
    formatted: &'a FormattedAlert,
) -> Vec<(&'static str, &'a str)> {
    vec![
        ("alert_id", id),
        ("severity", severity.as_str()),
        ("kind", row.kind.as_str()),
        ("group_key", row.group_key.as_str()),
        ("signal_id", row.signal_id.as_deref().unwrap_or("")),
        ("alert", formatted.plain.as_str()),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn stored_times_map_to_instants_both_ways() {
        tokio::time::sleep(Duration::from_secs(100)).await;
        let held = Held {
            lease: SenderLease {
                token: LeaseToken(1),
                until: 0,
                now: 1_000_000,
            },
            at: Instant::now(),
        };
        assert_eq!(held.instant_of(1_000_000), held.at);
        assert_eq!(
            held.instant_of(1_300_000),
            held.at + Duration::from_secs(300)
        );
        assert_eq!(held.instant_of(990_000), held.at - Duration::from_secs(10));
        tokio::time::sleep(Duration::from_millis(1_500)).await;
        assert_eq!(held.now(), 1_001_500);
    }
}
