//! The alerts the outbox stores with the change that caused them (a dead
//! letter, an invalid line at enqueue), so that a crash cannot lose one.
//!
//! The payload is JSON holding everything a sender needs to format the
//! alert later, in another process: the signal id, the operation, the
//! reason, the error text, the attempts made and allowed, the error class
//! and whether it is a security failure. (Interim shape: the durable alert
//! dispatcher of `ops-alerts` will own the payload type.)

use hmac_client::PostErrorKind;
use ops_alerts::AlertableError;
use signal_outbox::{AlertKind, NewAlert};

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

/// The stored alert for `error`, about `operation`, after `attempts_allowed`
/// allowed attempts. Grouped by operation and error class, never by id.
pub(crate) fn failure_alert(
    error: &DeliveryError,
    operation: &str,
    attempts_allowed: u32,
) -> NewAlert {
    let class = error.error_class();
    let payload = serde_json::json!({
        "signal_id": error.signal_id(),
        "operation": operation,
        "reason": error.reason().as_str(),
        "error": error.to_string(),
        "attempts_made": error.attempts(),
        "attempts_allowed": attempts_allowed,
        "error_class": class,
        "security": error.is_security_failure(),
    });
    NewAlert {
        kind: match error.reason() {
            FailureReason::InvalidSignal => AlertKind::InvalidLine,
            FailureReason::Conflict => AlertKind::Conflict,
            _ => AlertKind::SignalFailure,
        },
        group_key: format!("{operation}:{class}"),
        signal_id: error.signal_id().map(str::to_owned),
        payload: payload.to_string(),
    }
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

    #[test]
    fn an_invalid_signal_is_an_invalid_line_alert_and_no_outage() {
        let error = Signal::from_json(br#"{"id":"x-1"}"#).unwrap_err();
        let error = DeliveryError::invalid(Some("x-1".to_owned()), error);
        let alert = failure_alert(&error, "validate_signal", 5);
        assert_eq!(alert.kind, AlertKind::InvalidLine);
        assert_eq!(alert.signal_id.as_deref(), Some("x-1"));
        assert!(
            alert.group_key.starts_with("validate_signal:"),
            "{}",
            alert.group_key
        );
        let payload: serde_json::Value = serde_json::from_str(&alert.payload).unwrap();
        assert_eq!(payload["reason"], "invalid_signal");
        assert_eq!(payload["attempts_made"], 0);
        assert_eq!(payload["attempts_allowed"], 5);
        assert_eq!(payload["security"], false);
        assert!(
            payload["error"].as_str().unwrap().contains("instrument"),
            "{payload}"
        );
        assert!(!is_outage(&error));
    }

    #[test]
    fn a_held_back_retry_is_a_budget_outage() {
        let error =
            DeliveryError::held_back("s-1", 2, std::time::Duration::from_secs(9), "503".into());
        let alert = failure_alert(&error, "post_signal", 5);
        assert_eq!(
            (alert.kind, alert.group_key.as_str()),
            (AlertKind::SignalFailure, "post_signal:budget:held_back")
        );
        assert!(is_outage(&error));
    }
}
