//! Sending the summary of a group whose window closed: one message that
//! counts every folded alert, then the folded rows marked summarized (or
//! failed, if Telegram refuses it for good).

use tokio::time::Instant;

use super::{Flow, Round, Run};
use crate::durable::planner::to_utc;
use crate::durable::queue::{AlertUpdate, NewAlert, QueueError};
use crate::outcome::AlertErrorKind;
use crate::payload::{AlertKind, AlertPayload, FormatContext, ReplayHint};
use crate::service::METRIC_SENT;

impl Run<'_> {
    /// The summary of a group whose window closed.
    pub(super) async fn summary(
        &mut self,
        round: &mut Round,
        key: &str,
    ) -> Result<Flow, QueueError> {
        if self
            .summary_not_before
            .get(key)
            .is_some_and(|retry| Instant::now() < *retry)
        {
            return Ok(Flow::Continue);
        }
        let config = self.d.courier.config();
        let Some(draft) = round.book.summary(
            key,
            round.held.now(),
            config.summary_id_limit(),
            config.escalate_after(),
        ) else {
            return Ok(Flow::Continue);
        };
        let mut payload = AlertPayload::Summary(draft.payload);
        payload.redact_with(|text| self.d.courier.redact(text));
        let severity = payload.severity(0, config.escalate_after());
        let context = FormatContext {
            recorded_at: to_utc(round.held.now()),
            replay: ReplayHint::Outbox,
        };
        let formatted = payload.format(severity, &context);
        let ids = summary_ids(&payload);
        let count = draft.folded.len();
        match self.send(round, &formatted).await? {
            Ok(sent) => {
                let summary_key = format!("{key} summary");
                let summary = NewAlert {
                    kind: AlertKind::Summary,
                    group_key: summary_key.clone(),
                    signal_id: None,
                    payload: payload.to_json().map_err(|e| QueueError::Failed {
                        detail: e.to_string(),
                    })?,
                };
                let update = AlertUpdate::Summarized {
                    summary,
                    folded: draft.folded,
                    message_id: Some(i64::from(sent.message_id)),
                };
                self.record(round, vec![update]).await?;
                round.book.close(key);
                round.book.sent(&summary_key, round.held.now());
                self.summary_not_before.remove(key);
                metrics::counter!(METRIC_SENT, "severity" => severity.as_str()).increment(1);
                self.stats.summaries += 1;
                tracing::info!(
                    group_key = key,
                    folded = count,
                    message_id = sent.message_id,
                    %severity,
                    "group summary sent to Telegram"
                );
                Ok(Flow::Continue)
            }
            Err(error) if error.kind() == AlertErrorKind::Permanent => {
                let reason = self.d.courier.redact(&error.to_string());
                let updates = draft
                    .folded
                    .iter()
                    .map(|id| AlertUpdate::Failed {
                        id: *id,
                        error: reason.clone(),
                    })
                    .collect();
                self.record(round, updates).await?;
                round.book.close(key);
                self.failed(severity, u64::try_from(count).unwrap_or(u64::MAX));
                tracing::error!(
                    group_key = key,
                    folded = count,
                    signal_ids = %ids,
                    %severity,
                    alert = %formatted.plain,
                    "group summary could not be sent to Telegram ({reason}): {count} more signals failed the same way"
                );
                Ok(Flow::Continue)
            }
            Err(error) => {
                let retry = Instant::now() + self.d.settings.retry_base;
                self.summary_not_before.insert(key.to_owned(), retry);
                tracing::warn!(
                    group_key = key,
                    folded = count,
                    error = %self.d.courier.redact(&error.to_string()),
                    retry_in_s = self.d.settings.retry_base.as_secs(),
                    "group summary not sent yet; its alerts stay folded, tried again later"
                );
                Ok(Flow::Stop)
            }
        }
    }
}

fn summary_ids(payload: &AlertPayload) -> String {
    match payload {
        AlertPayload::Summary(s) => s.signal_ids.join(", "),
        _ => String::new(),
    }
}
