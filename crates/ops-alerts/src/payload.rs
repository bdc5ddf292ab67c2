//! The stored form of an alert, [`AlertPayload`]: everything needed to
//! format it later, possibly in another process after a restart.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::alertable::AlertableError;
use crate::format::{
    Attempts, DeliveryAlert, FIELD_CAP, FormattedAlert, Layout, SummaryAlert, Value, cap,
    format_delivery_alert_with_action, format_message, format_summary, format_timestamp,
};
use crate::recovered::{RecoveredAlert, format_recovered};
use crate::severity::Severity;

/// What an alert is about; the `"kind"` of its payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AlertKind {
    /// A signal could not be delivered (dead-lettered, or failed in `send`).
    SignalFailure,
    /// An input line was not a valid signal.
    InvalidLine,
    /// An id came again with another body.
    Conflict,
    /// Delivery works again after an outage.
    Recovered,
    /// Alerts folded during a cooldown window, counted in one message.
    Summary,
    /// A free-form message (start-up, shutdown, configuration).
    Notice,
}

impl AlertKind {
    /// Every kind.
    pub const ALL: [AlertKind; 6] = [
        AlertKind::SignalFailure,
        AlertKind::InvalidLine,
        AlertKind::Conflict,
        AlertKind::Recovered,
        AlertKind::Summary,
        AlertKind::Notice,
    ];

    /// The stored name: `signal_failure`, `invalid_line`, `conflict`,
    /// `recovered`, `summary` or `notice`.
    pub const fn as_str(self) -> &'static str {
        match self {
            AlertKind::SignalFailure => "signal_failure",
            AlertKind::InvalidLine => "invalid_line",
            AlertKind::Conflict => "conflict",
            AlertKind::Recovered => "recovered",
            AlertKind::Summary => "summary",
            AlertKind::Notice => "notice",
        }
    }

    /// Whether alerts of this kind are folded into their group's summary
    /// when their group sent a message within the cooldown. A recovered
    /// message, a summary or a notice is always sent on its own.
    pub const fn folds(self) -> bool {
        matches!(
            self,
            AlertKind::SignalFailure | AlertKind::InvalidLine | AlertKind::Conflict
        )
    }
}

impl fmt::Display for AlertKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The text given to [`AlertKind::from_str`] is not a kind's name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown alert kind {found:?} (expected one of signal_failure, invalid_line, conflict, recovered, summary, notice)"
)]
pub struct ParseAlertKindError {
    found: String,
}

impl FromStr for AlertKind {
    type Err = ParseAlertKindError;

    /// The exact stored name.
    ///
    /// ```
    /// use ops_alerts::AlertKind;
    ///
    /// assert_eq!("recovered".parse::<AlertKind>(), Ok(AlertKind::Recovered));
    /// assert!("Recovered".parse::<AlertKind>().is_err());
    /// ```
    fn from_str(s: &str) -> Result<AlertKind, ParseAlertKindError> {
        AlertKind::ALL
            .into_iter()
            .find(|kind| kind.as_str() == s)
            .ok_or_else(|| ParseAlertKindError {
                found: s.to_owned(),
            })
    }
}

/// Everything needed to format one alert later, possibly in another
/// process after a restart.
///
/// Why the inputs are stored and not the finished message: the severity of
/// a delivery alert follows the consecutive-failure count stored beside it,
/// a summary is only known when its window closes, and a restarted sender
/// must produce the bytes the recording process would have sent. So the
/// payload keeps the inputs, and [`AlertPayload::format`] is the one place
/// that turns them into a message, for [`OpsAlertService`](crate::OpsAlertService)
/// and for the [durable dispatcher](crate::durable) alike.
///
/// # JSON
///
/// An object tagged by `"kind"` (`signal_failure`, `invalid_line`,
/// `conflict`, `recovered`, `summary`, `notice`) with that kind's fields;
/// times are Unix milliseconds, UTC (the outbox's `Timestamp`). Two shapes are
/// written by the outbox itself and must stay exactly this small:
/// `{"kind":"conflict","signal_id":"s1","line":12}` and
/// `{"kind":"recovered","started_at":..,"ended_at":..,"failed":3}`.
/// Fields this version does not know are ignored (a newer writer may add
/// some); an unknown kind, a missing field or a field of the wrong type is a
/// [`PayloadError`] naming it.
///
/// ```
/// use chrono::{TimeZone, Utc};
/// use ops_alerts::{AlertPayload, Attempts, FailureAlert, FormatContext, ReplayHint, Severity};
///
/// let at = Utc.with_ymd_and_hms(2026, 11, 29, 2, 18, 10).unwrap();
/// let payload = AlertPayload::SignalFailure(FailureAlert {
///     signal_id: "sig-42".into(),
///     operation: "post_signal".into(),
///     reason: Some("exhausted".into()),
///     error: "HTTP 503".into(),
///     error_class: "exhausted:http_503".into(),
///     attempts: Attempts { made: 6, allowed: 6 },
///     security: false,
///     opens_outage: true,
///     occurred_at: at,
///     action: ops_alerts::ACTION_MANUAL_REVIEW.into(),
/// });
/// let json = payload.to_json().unwrap();
/// assert!(json.starts_with(r#"{"kind":"signal_failure","signal_id":"sig-42""#));
/// let back = AlertPayload::from_json(&json).unwrap();
/// assert_eq!(back, payload);
/// // The 3rd failure in a row, with escalation after 3: CRITICAL.
/// let severity = back.severity(3, 3);
/// assert_eq!(severity, Severity::Critical);
/// let message = back.format(severity, &FormatContext { recorded_at: at, replay: ReplayHint::Outbox });
/// assert!(message.plain.starts_with("🚨 CRITICAL: Signal delivery failed"));
///
/// let error = AlertPayload::from_json(r#"{"kind":"page_everyone"}"#).unwrap_err();
/// assert!(error.to_string().contains("unknown variant `page_everyone`"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum AlertPayload {
    /// A signal could not be delivered.
    SignalFailure(FailureAlert),
    /// An input line was not a valid signal (laid out as a failure).
    InvalidLine(FailureAlert),
    /// An id came again with another body (written by the outbox).
    Conflict(ConflictAlert),
    /// Delivery works again (written by the outbox when an outage closes).
    Recovered(RecoveredAlert),
    /// A sent summary of folded alerts.
    Summary(SummaryPayload),
    /// A free-form message.
    Notice(NoticeAlert),
}

/// A failed signal (or an invalid line): the fields of today's "Signal
/// delivery failed" message, and what grouping and escalation need.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailureAlert {
    /// The signal's id (`"(no valid id)"` when the input had none).
    pub signal_id: String,
    /// What was being done, e.g. `post_signal`.
    pub operation: String,
    /// The failure reason's label (`exhausted`, `rejected`, ...), when the
    /// caller's error has one.
    pub reason: Option<String>,
    /// The final error as text, free of secrets.
    pub error: String,
    /// The grouping class ([`AlertableError::error_class`]).
    pub error_class: String,
    /// Attempts made / allowed, stored as `{"made":6,"allowed":6}`.
    pub attempts: Attempts,
    /// A security failure: CRITICAL at once.
    pub security: bool,
    /// A failure of the server or the network, which opens an outage.
    pub opens_outage: bool,
    /// When it happened (UTC).
    #[serde(with = "chrono::serde::ts_milliseconds")]
    pub occurred_at: DateTime<Utc>,
    /// The Action line, e.g. [`ACTION_MANUAL_REVIEW`](crate::ACTION_MANUAL_REVIEW).
    pub action: String,
}

impl FailureAlert {
    /// What [`OpsAlertService::send_signal_delivery_error`](crate::OpsAlertService::send_signal_delivery_error)
    /// reads from its inputs, with the Action
    /// [`ACTION_MANUAL_REVIEW`](crate::ACTION_MANUAL_REVIEW). The error text is
    /// taken as it is: use [`OpsAlertService::failure_alert`](crate::OpsAlertService::failure_alert)
    /// to have the bot token redacted from it before it is stored.
    pub fn from_error(
        signal_id: &str,
        error: &dyn AlertableError,
        attempts: Attempts,
        operation: &str,
        occurred_at: DateTime<Utc>,
    ) -> FailureAlert {
        FailureAlert {
            signal_id: signal_id.to_owned(),
            operation: operation.to_owned(),
            reason: error.reason_label().map(Cow::into_owned),
            error: error.to_string(),
            error_class: error.error_class().into_owned(),
            attempts,
            security: error.is_security_failure(),
            opens_outage: error.opens_outage(),
            occurred_at,
            action: crate::format::ACTION_MANUAL_REVIEW.to_owned(),
        }
    }

    /// The grouping key: `operation:error_class`, never an id.
    pub fn group_key(&self) -> String {
        format!("{}:{}", self.operation, self.error_class)
    }

    /// CRITICAL for a security failure or once `consecutive` (failures in a
    /// row, this one included) reaches `escalate_after`; ERROR otherwise.
    pub fn severity(&self, consecutive: u32, escalate_after: u32) -> Severity {
        if self.security || consecutive >= escalate_after.max(1) {
            Severity::Critical
        } else {
            Severity::Error
        }
    }

    /// The "Signal delivery failed" message.
    pub fn format(&self, severity: Severity) -> FormattedAlert {
        format_delivery_alert_with_action(
            &DeliveryAlert {
                severity,
                signal_id: &self.signal_id,
                operation: &self.operation,
                error: &self.error,
                attempts: self.attempts,
                timestamp: self.occurred_at,
            },
            &self.action,
        )
    }
}

/// A conflict found at enqueue: the id of a stored signal with another body.
/// The outbox writes this payload itself, in the enqueue transaction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConflictAlert {
    /// The id that came again.
    pub signal_id: String,
    /// The input line, when the producer's input had lines.
    pub line: Option<u64>,
}

/// The error line of a conflict alert.
const CONFLICT_ERROR: &str = "a signal with this id is already in the outbox with a different body; \
     a webhook-id must name one payload (receivers deduplicate on it), so it was not sent";
/// The action line of a conflict alert.
const CONFLICT_ACTION: &str = "Give it a new id and enqueue it again";

/// A summary that was sent: what [`format_summary`](crate::format_summary) needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SummaryPayload {
    /// The highest severity of the folded alerts.
    pub severity: Severity,
    /// The group's operation.
    pub operation: String,
    /// The group's error class.
    pub error_class: String,
    /// The last folded error.
    pub last_error: String,
    /// How many alerts were folded: every one is counted.
    pub folded: u64,
    /// The first folded ids (up to the configured limit).
    pub signal_ids: Vec<String>,
    /// When the group's window opened.
    #[serde(with = "chrono::serde::ts_milliseconds")]
    pub window_start: DateTime<Utc>,
    /// When the summary was made.
    #[serde(with = "chrono::serde::ts_milliseconds")]
    pub summarized_at: DateTime<Utc>,
}

/// A free-form message ([`OpsAlertService::send`](crate::OpsAlertService::send)).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoticeAlert {
    /// The text, free of secrets.
    pub message: String,
    /// Its severity (DEBUG is only logged).
    pub severity: Severity,
    /// The timestamp line, if the message has one.
    #[serde(with = "chrono::serde::ts_milliseconds_option")]
    pub occurred_at: Option<DateTime<Utc>>,
}

/// What a message needs besides its payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FormatContext {
    /// When the alert was recorded: the timestamp of payloads that carry
    /// none of their own (a conflict written by the outbox).
    pub recorded_at: DateTime<Utc>,
    /// How the failed signals of an outage are brought back.
    pub replay: ReplayHint,
}

/// How the signals that failed during an outage are brought back, for the
/// recovered message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReplayHint {
    /// They are dead letters in the outbox: the message gives the
    /// `signal-delivery outbox replay --all-dead --since <start>` command.
    Outbox,
    /// `send` kept nothing: the message says to send them again.
    SendAgain,
}

/// A payload could not be read or written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "alert payload is not valid: {detail}; expected a JSON object whose \"kind\" is one of \
     signal_failure, invalid_line, conflict, recovered, summary, notice, with that kind's fields"
)]
pub struct PayloadError {
    detail: String,
}

impl PayloadError {
    pub(crate) fn new(detail: impl Into<String>) -> PayloadError {
        PayloadError {
            detail: detail.into(),
        }
    }

    /// What is wrong, e.g. `missing field `failed` at line 1 column 40`.
    pub fn detail(&self) -> &str {
        &self.detail
    }
}

impl AlertPayload {
    /// Reads a stored payload.
    ///
    /// # Errors
    /// Not JSON, an unknown kind, a missing field or one of the wrong type.
    pub fn from_json(text: &str) -> Result<AlertPayload, PayloadError> {
        serde_json::from_str(text).map_err(|e| PayloadError::new(e.to_string()))
    }

    /// The stored form.
    ///
    /// # Errors
    /// Only if serialization fails, which these types do not do; an error
    /// rather than a panic all the same.
    pub fn to_json(&self) -> Result<String, PayloadError> {
        serde_json::to_string(self).map_err(|e| PayloadError::new(e.to_string()))
    }

    /// Its kind.
    pub fn kind(&self) -> AlertKind {
        match self {
            AlertPayload::SignalFailure(_) => AlertKind::SignalFailure,
            AlertPayload::InvalidLine(_) => AlertKind::InvalidLine,
            AlertPayload::Conflict(_) => AlertKind::Conflict,
            AlertPayload::Recovered(_) => AlertKind::Recovered,
            AlertPayload::Summary(_) => AlertKind::Summary,
            AlertPayload::Notice(_) => AlertKind::Notice,
        }
    }

    /// The signal it is about, if one.
    pub fn signal_id(&self) -> Option<&str> {
        match self {
            AlertPayload::SignalFailure(f) | AlertPayload::InvalidLine(f) => Some(&f.signal_id),
            AlertPayload::Conflict(c) => Some(&c.signal_id),
            AlertPayload::Recovered(_) | AlertPayload::Summary(_) | AlertPayload::Notice(_) => None,
        }
    }

    /// The error it reports, for a failure or a conflict: what a summary
    /// shows as its last error.
    pub fn error_text(&self) -> Option<&str> {
        match self {
            AlertPayload::SignalFailure(f) | AlertPayload::InvalidLine(f) => Some(&f.error),
            AlertPayload::Conflict(_) => Some(CONFLICT_ERROR),
            AlertPayload::Recovered(_) | AlertPayload::Summary(_) | AlertPayload::Notice(_) => None,
        }
    }

    /// Passes every free text through `redact` (a second layer: a sender
    /// redacts what it reads back, whoever stored it).
    pub(crate) fn redact_with(&mut self, redact: impl Fn(&str) -> String) {
        match self {
            AlertPayload::SignalFailure(f) | AlertPayload::InvalidLine(f) => {
                f.error = redact(&f.error);
            }
            AlertPayload::Summary(s) => s.last_error = redact(&s.last_error),
            AlertPayload::Notice(n) => n.message = redact(&n.message),
            AlertPayload::Conflict(_) | AlertPayload::Recovered(_) => {}
        }
    }

    /// The grouping key (never an id): `operation:error_class` for a
    /// failure, `enqueue:conflict`, `recovered`, `<operation>:<class> summary`
    /// and `notice` for the others.
    pub fn group_key(&self) -> String {
        match self {
            AlertPayload::SignalFailure(f) | AlertPayload::InvalidLine(f) => f.group_key(),
            AlertPayload::Conflict(_) => "enqueue:conflict".to_owned(),
            AlertPayload::Recovered(_) => "recovered".to_owned(),
            AlertPayload::Summary(s) => format!("{}:{} summary", s.operation, s.error_class),
            AlertPayload::Notice(_) => "notice".to_owned(),
        }
    }

    /// The severity it is sent with, by today's rules: a failure (or a
    /// conflict) is CRITICAL for a security failure or once `consecutive`
    /// (failures in a row when it was recorded) reaches `escalate_after`,
    /// ERROR otherwise; a recovered message is INFO; a summary and a notice
    /// keep their own.
    pub fn severity(&self, consecutive: u32, escalate_after: u32) -> Severity {
        match self {
            AlertPayload::SignalFailure(f) | AlertPayload::InvalidLine(f) => {
                f.severity(consecutive, escalate_after)
            }
            AlertPayload::Conflict(_) if consecutive >= escalate_after.max(1) => Severity::Critical,
            AlertPayload::Conflict(_) => Severity::Error,
            AlertPayload::Recovered(_) => Severity::Info,
            AlertPayload::Summary(s) => s.severity,
            AlertPayload::Notice(n) => n.severity,
        }
    }

    /// The message, byte for byte what the in-memory path formats for the
    /// same inputs. `severity` is usually [`AlertPayload::severity`]'s; a
    /// recovered message has its own marker and title whatever it is.
    pub fn format(&self, severity: Severity, context: &FormatContext) -> FormattedAlert {
        match self {
            AlertPayload::SignalFailure(f) | AlertPayload::InvalidLine(f) => f.format(severity),
            AlertPayload::Conflict(c) => format_conflict(c, severity, context.recorded_at),
            AlertPayload::Recovered(r) => format_recovered(r, context.replay),
            AlertPayload::Summary(s) => format_summary(&SummaryAlert {
                severity,
                operation: &s.operation,
                error_class: &s.error_class,
                last_error: &s.last_error,
                folded: s.folded,
                signal_ids: &s.signal_ids,
                window_start: s.window_start,
                timestamp: s.summarized_at,
            }),
            AlertPayload::Notice(n) => format_message(&n.message, severity, n.occurred_at),
        }
    }
}

/// The conflict alert: the id, the line, why it was refused and what to do.
fn format_conflict(alert: &ConflictAlert, severity: Severity, at: DateTime<Utc>) -> FormattedAlert {
    let title = format!("{severity}: Signal refused: id conflict");
    let line = alert
        .line
        .map_or_else(|| "not recorded".to_owned(), |line| line.to_string());
    let mut layout = Layout::new(severity, &title);
    layout.blank();
    layout.field("Operation", Value::Code("enqueue".into()));
    layout.field("Signal ID", Value::Code(cap(&alert.signal_id, FIELD_CAP)));
    layout.field("Line", Value::Text(line.into()));
    layout.field("Error", Value::Elastic);
    layout.field("Timestamp", Value::Text(format_timestamp(at).into()));
    layout.field("Action", Value::Text(CONFLICT_ACTION.into()));
    layout.render(CONFLICT_ERROR, true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 29, 2, 18, 10).unwrap()
    }

    #[test]
    fn kinds_round_trip_by_name() {
        for kind in AlertKind::ALL {
            assert_eq!(kind.as_str().parse::<AlertKind>(), Ok(kind));
        }
        let error = "pager".parse::<AlertKind>().unwrap_err();
        assert!(error.to_string().contains("\"pager\""), "{error}");
        assert!(error.to_string().contains("signal_failure"), "{error}");
    }

    #[test]
    fn the_outboxs_own_shapes_are_read() {
        let conflict =
            AlertPayload::from_json(r#"{"kind":"conflict","signal_id":"s1","line":12}"#).unwrap();
        assert_eq!(
            conflict,
            AlertPayload::Conflict(ConflictAlert {
                signal_id: "s1".into(),
                line: Some(12)
            })
        );
        let no_line =
            AlertPayload::from_json(r#"{"kind":"conflict","signal_id":"s1","line":null}"#).unwrap();
        assert_eq!(no_line.signal_id(), Some("s1"));
        let start = at().timestamp_millis();
        let recovered = AlertPayload::from_json(&format!(
            r#"{{"kind":"recovered","started_at":{start},"ended_at":{},"failed":3}}"#,
            start + 90_000
        ))
        .unwrap();
        let AlertPayload::Recovered(r) = &recovered else {
            panic!("{recovered:?}");
        };
        assert_eq!((r.started_at, r.failed), (at(), 3));
        assert_eq!(recovered.severity(99, 1), Severity::Info);
    }

    #[test]
    fn bad_payloads_name_what_is_wrong() {
        for (text, expected) in [
            ("not json", "expected ident"),
            (r#"{"signal_id":"s1"}"#, "missing field `kind`"),
            (
                r#"{"kind":"recovered","started_at":1,"ended_at":2}"#,
                "missing field `failed`",
            ),
            (
                r#"{"kind":"conflict","signal_id":7}"#,
                "invalid type: integer `7`, expected a string",
            ),
        ] {
            let error = AlertPayload::from_json(text).unwrap_err();
            assert!(error.detail().contains(expected), "{text}: {error}");
            assert!(error.to_string().contains("signal_failure, invalid_line"));
        }
    }

    #[test]
    fn a_conflict_names_the_id_the_line_and_what_to_do() {
        let payload = AlertPayload::Conflict(ConflictAlert {
            signal_id: "sig-<7>".into(),
            line: Some(3),
        });
        let context = FormatContext {
            recorded_at: at(),
            replay: ReplayHint::Outbox,
        };
        let message = payload.format(payload.severity(1, 3), &context);
        assert_eq!(
            message.plain,
            format!(
                "❌ ERROR: Signal refused: id conflict\n\nOperation: enqueue\nSignal ID: sig-<7>\n\
                 Line: 3\nError: {CONFLICT_ERROR}\nTimestamp: 2026-11-29T02:18:10Z\n\
                 Action: {CONFLICT_ACTION}"
            )
        );
        assert!(message.html.contains("<code>sig-&lt;7&gt;</code>"));
        assert_eq!(payload.severity(3, 3), Severity::Critical);
        assert_eq!(payload.group_key(), "enqueue:conflict");
    }
}
