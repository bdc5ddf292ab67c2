//! The decisions of one round, with no I/O: which pending alert is sent and
//! which is folded, which group's summary is due, and what a summary says.
//!
//! Today's rules, read from stored state instead of memory: a group's window
//! opens when one of its alerts is sent and lasts the cooldown; alerts of the
//! group recorded meanwhile are folded; when the window closes, one summary
//! counts every folded alert (the folded rows are in the store, so a
//! restarted sender counts and names them too). Recovered messages,
//! summaries and notices are never folded.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::queue::{AlertId, GroupState, StoredAlert, Timestamp};
use crate::format::cut_text;
use crate::grouping::ID_CAP;
use crate::payload::{AlertKind, AlertPayload, SummaryPayload};
use crate::severity::Severity;

/// Sent now, or folded into the group's open window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Decision {
    Send,
    Fold,
}

/// The groups of one round, updated as the round sends and folds.
#[derive(Debug)]
pub(crate) struct Book {
    cooldown: i64,
    groups: BTreeMap<String, GroupState>,
}

/// A summary ready to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SummaryDraft {
    pub(crate) group_key: String,
    pub(crate) payload: SummaryPayload,
    pub(crate) folded: Vec<AlertId>,
}

pub(crate) fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

/// A stored time as UTC; a time out of chrono's range (no real store makes
/// one) is clamped to the nearest it can show.
pub(crate) fn to_utc(at: Timestamp) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(at).unwrap_or(if at < 0 {
        DateTime::<Utc>::MIN_UTC
    } else {
        DateTime::<Utc>::MAX_UTC
    })
}

impl Book {
    pub(crate) fn new(groups: Vec<GroupState>, cooldown: Duration) -> Book {
        Book {
            cooldown: millis(cooldown),
            groups: groups
                .into_iter()
                .map(|group| (group.group_key.clone(), group))
                .collect(),
        }
    }

    /// Drops what a round loaded `since` ago and no longer needs: sends
    /// before `cutoff`, and groups left with nothing.
    pub(crate) fn forget_before(&mut self, cutoff: Timestamp) {
        self.groups.retain(|_, group| {
            group.recent_sends.retain(|at| *at >= cutoff);
            if group.last_sent_at.is_some_and(|at| at < cutoff) {
                group.last_sent_at = None;
            }
            group.last_sent_at.is_some() || !group.folded.is_empty()
        });
    }

    /// Every stored send time of every group, for the rate limit.
    pub(crate) fn recent_sends(&self) -> Vec<Timestamp> {
        self.groups
            .values()
            .flat_map(|group| group.recent_sends.iter().copied())
            .collect()
    }

    fn window_open(&self, group: &GroupState, now: Timestamp) -> bool {
        group
            .last_sent_at
            .is_some_and(|sent| now.saturating_sub(sent) < self.cooldown)
    }

    /// What becomes of a pending alert of `kind` in `group_key` at `now`.
    pub(crate) fn decide(&self, group_key: &str, kind: AlertKind, now: Timestamp) -> Decision {
        if !kind.folds() || self.cooldown <= 0 {
            return Decision::Send;
        }
        match self.groups.get(group_key) {
            Some(group) if self.window_open(group, now) => Decision::Fold,
            _ => Decision::Send,
        }
    }

    /// A message of `group_key` went out at `now`: its window opens.
    pub(crate) fn sent(&mut self, group_key: &str, now: Timestamp) {
        let group = self.group_mut(group_key);
        group.last_sent_at = Some(now);
        group.recent_sends.push(now);
    }

    /// `alert` was folded into its group.
    pub(crate) fn folded(&mut self, alert: StoredAlert) {
        let group = self.group_mut(&alert.group_key);
        group.oldest_folded_at = Some(
            group
                .oldest_folded_at
                .map_or(alert.created_at, |t| t.min(alert.created_at)),
        );
        group.folded.push(alert);
    }

    fn group_mut(&mut self, group_key: &str) -> &mut GroupState {
        self.groups
            .entry(group_key.to_owned())
            .or_insert_with(|| GroupState {
                group_key: group_key.to_owned(),
                ..GroupState::default()
            })
    }

    /// Groups with folded alerts whose window has closed at `now` (every
    /// one with folded alerts when `all`, at shutdown), oldest window first.
    pub(crate) fn due_summaries(&self, now: Timestamp, all: bool) -> Vec<String> {
        let mut due: Vec<(Timestamp, &String)> = self
            .groups
            .iter()
            .filter(|(_, group)| !group.folded.is_empty())
            .filter(|(_, group)| all || !self.window_open(group, now))
            .map(|(key, group)| (window_start(group), key))
            .collect();
        due.sort();
        due.into_iter().map(|(_, key)| key.clone()).collect()
    }

    /// When the window of each group with folded alerts closes (a time
    /// already past for a window whose opening send is too old to know).
    pub(crate) fn window_ends(&self) -> Vec<(&str, Timestamp)> {
        self.groups
            .iter()
            .filter(|(_, group)| !group.folded.is_empty())
            .map(|(key, group)| {
                let end = group
                    .last_sent_at
                    .map_or(Timestamp::MIN, |sent| sent.saturating_add(self.cooldown));
                (key.as_str(), end)
            })
            .collect()
    }

    /// The summary of `group_key`'s folded alerts, if it has any.
    pub(crate) fn summary(
        &self,
        group_key: &str,
        now: Timestamp,
        id_limit: usize,
        escalate_after: u32,
    ) -> Option<SummaryDraft> {
        let group = self
            .groups
            .get(group_key)
            .filter(|g| !g.folded.is_empty())?;
        Some(build_summary(group, now, id_limit, escalate_after))
    }

    /// The summary of `group_key` was sent, or its alerts failed: the
    /// folded alerts are no longer open.
    pub(crate) fn close(&mut self, group_key: &str) {
        if let Some(group) = self.groups.get_mut(group_key) {
            group.folded.clear();
            group.oldest_folded_at = None;
        }
    }
}

/// Where the summary's "Since" starts: the send that opened the window, or
/// the oldest folded alert if that send is too old to be known.
fn window_start(group: &GroupState) -> Timestamp {
    group
        .last_sent_at
        .or(group.oldest_folded_at)
        .unwrap_or_default()
}

/// Every folded alert counted; the first `id_limit` ids named; the highest
/// severity among them (each by its own stored consecutive count); the
/// latest error. Unreadable payloads are counted and named by the row's
/// signal id.
fn build_summary(
    group: &GroupState,
    now: Timestamp,
    id_limit: usize,
    escalate_after: u32,
) -> SummaryDraft {
    let mut severity = None;
    let mut last: Option<AlertPayload> = None;
    let mut signal_ids = Vec::new();
    for row in &group.folded {
        let payload = AlertPayload::from_json(&row.payload).ok();
        let row_severity = payload.as_ref().map_or(Severity::Error, |p| {
            p.severity(row.consecutive, escalate_after)
        });
        severity = severity.max(Some(row_severity));
        let id = row
            .signal_id
            .as_deref()
            .or_else(|| payload.as_ref().and_then(AlertPayload::signal_id));
        if let Some(id) = id
            && signal_ids.len() < id_limit
        {
            signal_ids.push(cut_text(id, ID_CAP).into_owned());
        }
        if payload.as_ref().is_some_and(|p| p.error_text().is_some()) {
            last = payload;
        }
    }
    let (operation, error_class) = match &last {
        Some(AlertPayload::SignalFailure(f) | AlertPayload::InvalidLine(f)) => {
            (f.operation.clone(), f.error_class.clone())
        }
        _ => match group.group_key.split_once(':') {
            Some((operation, class)) => (operation.to_owned(), class.to_owned()),
            None => (group.group_key.clone(), String::new()),
        },
    };
    SummaryDraft {
        group_key: group.group_key.clone(),
        payload: SummaryPayload {
            severity: severity.unwrap_or(Severity::Error),
            operation,
            error_class,
            last_error: last
                .as_ref()
                .and_then(AlertPayload::error_text)
                .unwrap_or_default()
                .to_owned(),
            folded: u64::try_from(group.folded.len()).unwrap_or(u64::MAX),
            signal_ids,
            window_start: to_utc(window_start(group)),
            summarized_at: to_utc(now),
        },
        folded: group.folded.iter().map(|row| row.id).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::durable::queue::AlertState;
    use crate::format::Attempts;
    use crate::payload::FailureAlert;

    const COOLDOWN: Duration = Duration::from_secs(300);

    fn folded(id: i64, signal: &str, consecutive: u32, error: &str) -> StoredAlert {
        let payload = AlertPayload::SignalFailure(FailureAlert {
            signal_id: signal.to_owned(),
            operation: "post_signal".to_owned(),
            reason: Some("rejected".to_owned()),
            error: error.to_owned(),
            error_class: "rejected:http_422".to_owned(),
            attempts: Attempts {
                made: 1,
                allowed: 6,
            },
            security: false,
            opens_outage: false,
            occurred_at: to_utc(1_000 * id),
            action: crate::ACTION_MANUAL_REVIEW.to_owned(),
        });
        StoredAlert {
            id: AlertId(id),
            kind: AlertKind::SignalFailure,
            group_key: "post_signal:rejected:http_422".to_owned(),
            signal_id: Some(signal.to_owned()),
            payload: payload.to_json().unwrap(),
            created_at: 1_000 * id,
            state: AlertState::Folded,
            consecutive,
            attempts: 0,
            not_before: 0,
            sent_at: None,
            message_id: None,
            last_error: None,
            summary_of: None,
        }
    }

    fn group(last_sent_at: Option<Timestamp>, folded: Vec<StoredAlert>) -> GroupState {
        GroupState {
            group_key: "post_signal:rejected:http_422".to_owned(),
            last_sent_at,
            recent_sends: last_sent_at.into_iter().collect(),
            oldest_folded_at: folded.first().map(|f| f.created_at),
            folded,
        }
    }

    #[test]
    fn the_window_opens_with_a_send_and_folds_until_the_cooldown_ends() {
        let key = "post_signal:rejected:http_422";
        let mut book = Book::new(Vec::new(), COOLDOWN);
        assert_eq!(
            book.decide(key, AlertKind::SignalFailure, 0),
            Decision::Send
        );
        book.sent(key, 1_000);
        assert_eq!(
            book.decide(key, AlertKind::SignalFailure, 300_999),
            Decision::Fold
        );
        assert_eq!(
            book.decide(key, AlertKind::SignalFailure, 301_000),
            Decision::Send
        );
        // Never folded, whatever the window.
        for kind in [AlertKind::Recovered, AlertKind::Summary, AlertKind::Notice] {
            assert_eq!(book.decide(key, kind, 2_000), Decision::Send, "{kind}");
        }
        // No cooldown: nothing folds.
        let book = Book::new(vec![group(Some(1_000), Vec::new())], Duration::ZERO);
        assert_eq!(book.decide(key, AlertKind::Conflict, 1_001), Decision::Send);
    }

    #[test]
    fn a_summary_counts_every_folded_alert_and_is_due_when_the_window_closes() {
        let rows: Vec<StoredAlert> = (2..=30)
            .map(|i| {
                folded(
                    i,
                    &format!("sig-{i}"),
                    u32::try_from(i).unwrap() % 4,
                    &format!("e{i}"),
                )
            })
            .collect();
        let book = Book::new(vec![group(Some(1_000), rows)], COOLDOWN);
        assert!(book.due_summaries(300_999, false).is_empty());
        assert_eq!(
            book.due_summaries(300_999, true).len(),
            1,
            "flush takes it early"
        );
        assert_eq!(
            book.window_ends(),
            [("post_signal:rejected:http_422", 301_000)]
        );
        let key = &book.due_summaries(301_000, false)[0];
        let draft = book.summary(key, 301_000, 20, 3).unwrap();
        assert_eq!(draft.payload.folded, 29);
        assert_eq!(draft.folded.len(), 29);
        assert_eq!(draft.payload.signal_ids.len(), 20);
        assert_eq!(draft.payload.signal_ids[0], "sig-2");
        assert_eq!(draft.payload.last_error, "e30");
        assert_eq!(
            draft.payload.severity,
            Severity::Critical,
            "consecutive 3 among them"
        );
        assert_eq!(draft.payload.operation, "post_signal");
        assert_eq!(draft.payload.error_class, "rejected:http_422");
        assert_eq!(draft.payload.window_start, to_utc(1_000));
    }

    #[test]
    fn after_a_restart_the_folded_rows_alone_say_everything() {
        // The opening send is too old to be known; a row cannot be read.
        let mut unreadable = folded(9, "sig-9", 1, "x");
        unreadable.payload = "{".to_owned();
        let rows = vec![folded(5, "sig-5", 1, "e5"), unreadable];
        let mut book = Book::new(vec![group(None, rows)], COOLDOWN);
        let key = "post_signal:rejected:http_422";
        assert_eq!(book.due_summaries(10_000, false), [key]);
        let draft = book.summary(key, 10_000, 20, 3).unwrap();
        assert_eq!(draft.payload.signal_ids, ["sig-5", "sig-9"]);
        assert_eq!(
            (draft.payload.folded, draft.payload.severity),
            (2, Severity::Error)
        );
        assert_eq!(draft.payload.last_error, "e5");
        assert_eq!(draft.payload.window_start, to_utc(5_000));
        book.close(key);
        assert!(book.summary(key, 10_000, 20, 3).is_none());
        assert!(book.window_ends().is_empty());
        book.sent(key, 20_000);
        book.forget_before(20_000);
        assert_eq!(
            book.decide(key, AlertKind::SignalFailure, 20_001),
            Decision::Fold
        );
        book.forget_before(20_001);
        assert_eq!(
            book.decide(key, AlertKind::SignalFailure, 20_001),
            Decision::Send
        );
        assert!(book.recent_sends().is_empty());
    }
}
