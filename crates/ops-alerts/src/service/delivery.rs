//! Delivering one formatted alert through the courier, then counting and
//! logging the outcome.

use super::log::emit;
use super::{OpsAlertService, Telegram};
use crate::format::FormattedAlert;
use crate::outcome::AlertOutcome;
use crate::service::{METRIC_FAILED, METRIC_SENT};
use crate::severity::Severity;

impl OpsAlertService {
    /// Rate limit, retry, plain-text fallback, all within the alert timeout;
    /// then count and log the outcome.
    pub(super) async fn deliver(
        &self,
        telegram: &Telegram,
        formatted: &FormattedAlert,
        severity: Severity,
        fields: &[(&str, &str)],
    ) -> AlertOutcome {
        match telegram.courier.send(&telegram.limiter, formatted).await {
            Ok(sent) => {
                metrics::counter!(METRIC_SENT, "severity" => severity.as_str()).increment(1);
                tracing::info!(message_id = sent.message_id, %severity, "ops alert sent to Telegram");
                AlertOutcome::Sent {
                    message_id: sent.message_id,
                }
            }
            Err(error) => {
                metrics::counter!(METRIC_FAILED, "severity" => severity.as_str()).increment(1);
                // The alert's content goes to the log instead: the owner's
                // log pipeline is the fallback channel.
                let reason = telegram.courier.redact(&error.to_string());
                emit(
                    tracing::Level::ERROR,
                    format_args!("ops alert could not be sent to Telegram: {reason}"),
                    &[
                        ("severity", severity.as_str()),
                        ("alert", formatted.plain.as_str()),
                    ]
                    .into_iter()
                    .chain(fields.iter().copied())
                    .collect::<Vec<_>>(),
                );
                AlertOutcome::Failed(error)
            }
        }
    }
}
