//! The alerts the outbox stores with the change that caused them (a dead
//! letter, an invalid line at enqueue), so that a crash cannot lose one.
//!
//! The payload is `ops-alerts`' [`AlertPayload`] as JSON: everything the
//! sender needs to format the alert later, in another process, into the
//! very message the in-memory path would have sent.

use hmac_client::PostErrorKind;
use ops_alerts::durable::NewAlert as DispatcherAlert;
use ops_alerts::{AlertPayload, Attempts, NoticeAlert, OpsAlertService, Severity};
use signal_outbox::NewAlert;

use super::queue::new_alert;
use crate::outcome::{DeliveryError, FailureReason};
use crate::telemetry::POST_SIGNAL;

/// The operation a failure is reported under: `validate_signal` for a
/// signal refused before sending, `post_signal` otherwise.
pub(crate) fn operation(reason: FailureReason) -> &'static str {
    match reason {
        FailureReason::InvalidSignal => "validate_signal",
        _ => POST_SIGNAL,
    }
}

/// The stored alert for `error`, after `attempts_allowed` allowed attempts,
/// with the error text redacted as the in-memory path redacts it. Grouped
/// by operation and error class, never by id.
pub(crate) fn failure_alert(
    alerts: &OpsAlertService,
    error: &DeliveryError,
    attempts_allowed: u32,
) -> NewAlert {
    let attempts = Attempts {
        made: error.attempts(),
        allowed: attempts_allowed,
    };
    let id = error.signal_id().unwrap_or("(no valid id)");
    let mut alert = alerts.failure_alert(id, error, attempts, operation(error.reason()));
    // The outbox's rule, wider than the reason alone: a rejection whose
    // last answer was a 5xx or a connect error is the server's fault too.
    alert.opens_outage = is_outage(error);
    let payload = match error.reason() {
        FailureReason::InvalidSignal => AlertPayload::InvalidLine(alert),
        _ => AlertPayload::SignalFailure(alert),
    };
    let mut row = match DispatcherAlert::from_payload(&payload) {
        Ok(row) => row,
        // Serializing these types cannot fail; if it ever did, the owner
        // still gets a message saying which signal, rather than nothing.
        Err(problem) => {
            let notice = AlertPayload::Notice(NoticeAlert {
                message: format!(
                    "signal {id} was not delivered ({}), and its alert could not be stored whole: {problem}",
                    error.reason()
                ),
                severity: Severity::Error,
                occurred_at: None,
            });
            DispatcherAlert {
                kind: notice.kind(),
                group_key: payload.group_key(),
                signal_id: error.signal_id().map(str::to_owned),
                payload: notice.to_json().unwrap_or_default(),
            }
        }
    };
    row.signal_id = error.signal_id().map(str::to_owned);
    new_alert(row)
}

/// Whether the failure is the server's or the network's (it opens an
/// outage, or counts in the open one): exhausted, deadline and budget, and
/// a give-up whose last error is a connect error, a timeout or a 5xx. A
/// rejected or invalid signal says nothing about the server's health.
pub(crate) fn is_outage(error: &DeliveryError) -> bool {
    match error.reason() {
        FailureReason::Exhausted | FailureReason::Deadline | FailureReason::Budget => true,
        _ => error.last_post_error().is_some_and(|last| {
            matches!(last.kind(), PostErrorKind::Connect | PostErrorKind::Timeout)
                || last
                    .status()
                    .is_some_and(|status| (500..600).contains(&status))
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signal::Signal;
    use signal_outbox::AlertKind;

    #[test]
    fn an_invalid_signal_is_an_invalid_line_alert_and_no_outage() {
        let error = Signal::from_json(br#"{"id":"x-1"}"#).unwrap_err();
        let error = DeliveryError::invalid(Some("x-1".to_owned()), error);
        let alert = failure_alert(&OpsAlertService::log_only(), &error, 5);
        assert_eq!(alert.kind, AlertKind::InvalidLine);
        assert_eq!(alert.signal_id.as_deref(), Some("x-1"));
        assert!(
            alert.group_key.starts_with("validate_signal:"),
            "{}",
            alert.group_key
        );
        let payload = AlertPayload::from_json(&alert.payload).unwrap();
        let AlertPayload::InvalidLine(failure) = payload else {
            panic!("{payload:?}")
        };
        assert_eq!(failure.reason.as_deref(), Some("invalid_signal"));
        assert_eq!((failure.attempts.made, failure.attempts.allowed), (0, 5));
        assert!(!failure.security);
        assert!(failure.error.contains("instrument"), "{failure:?}");
        assert!(!is_outage(&error));
    }

    #[test]
    fn a_held_back_retry_is_a_budget_outage() {
        let error =
            DeliveryError::held_back("s-1", 2, std::time::Duration::from_secs(9), "503".into());
        let alert = failure_alert(&OpsAlertService::log_only(), &error, 5);
        assert_eq!(
            (alert.kind, alert.group_key.as_str()),
            (AlertKind::SignalFailure, "post_signal:budget:held_back")
        );
        assert!(is_outage(&error));
    }
}
