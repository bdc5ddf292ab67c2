//! The recovered message: after an outage was alerted, the first delivery
//! that works again says so, once, with how long it lasted, how many signals
//! failed during it and how to bring them back.
//!
//! Alertmanager (`send_resolved`) and Svix (the `recovered` operational
//! event) do the same: without it an owner who got CRITICAL alerts is left
//! with silence and cannot tell "still down" from "fine again".
//!
//! An outage is one or more alerted failures of the server or the network
//! ([`AlertableError::opens_outage`](crate::AlertableError::opens_outage)):
//! retries exhausted, deadline, budget, connection errors, 5xx. A rejected or
//! invalid signal is the signal's fault and opens none.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::format::{FormattedAlert, Layout, Value, format_timestamp};
use crate::payload::ReplayHint;

/// The marker that opens the recovered message.
pub const RESOLVED_MARKER: &str = "✅";
/// The recovered message's title.
pub const RESOLVED_TITLE: &str = "RESOLVED: signal delivery recovered";
/// What the recovered message of `send` says to do: nothing was kept.
pub const SEND_AGAIN: &str = "send them again (receivers deduplicate on the id)";

/// An outage that ended: the payload of a recovered alert. The outbox writes
/// it itself (`{"kind":"recovered","started_at":..,"ended_at":..,"failed":..}`,
/// Unix milliseconds) when the first delivery after an outage succeeds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecoveredAlert {
    /// When the first failure of the outage was recorded.
    #[serde(with = "chrono::serde::ts_milliseconds")]
    pub started_at: DateTime<Utc>,
    /// When the first delivery after it succeeded.
    #[serde(with = "chrono::serde::ts_milliseconds")]
    pub ended_at: DateTime<Utc>,
    /// Signals that failed during it (server or network failures only).
    pub failed: u64,
}

/// The command that brings back the dead letters of an outage that started
/// at `since`. The time is cut to the second, downwards, so the first
/// failure is included.
///
/// ```
/// use chrono::{TimeZone, Utc};
///
/// let since = Utc.with_ymd_and_hms(2026, 12, 1, 10, 0, 0).unwrap();
/// assert_eq!(
///     ops_alerts::replay_command(since),
///     "signal-delivery outbox replay --all-dead --since 2026-12-01T10:00:00Z"
/// );
/// ```
pub fn replay_command(since: DateTime<Utc>) -> String {
    format!(
        "signal-delivery outbox replay --all-dead --since {}",
        format_timestamp(since)
    )
}

/// An outage's length for people: `45s`, `12m 30s`, `2h 0m 5s`, `1d 3h 0m 0s`;
/// under a second, `under 1s`.
///
/// ```
/// use std::time::Duration;
///
/// assert_eq!(ops_alerts::format_outage_length(Duration::from_millis(750)), "under 1s");
/// assert_eq!(ops_alerts::format_outage_length(Duration::from_secs(750)), "12m 30s");
/// assert_eq!(ops_alerts::format_outage_length(Duration::from_secs(7205)), "2h 0m 5s");
/// ```
pub fn format_outage_length(length: std::time::Duration) -> String {
    let total = length.as_secs();
    if total == 0 {
        return "under 1s".to_owned();
    }
    let (days, hours, minutes, seconds) = (
        total / 86_400,
        total / 3_600 % 24,
        total / 60 % 60,
        total % 60,
    );
    if days > 0 {
        format!("{days}d {hours}h {minutes}m {seconds}s")
    } else if hours > 0 {
        format!("{hours}h {minutes}m {seconds}s")
    } else if minutes > 0 {
        format!("{minutes}m {seconds}s")
    } else {
        format!("{seconds}s")
    }
}

/// The recovered message: "✅ RESOLVED: signal delivery recovered", then
/// Outage (its length), Since, Until, Failed during it, and Replay (the
/// command for the outbox, or "send them again" for `send`).
///
/// ```
/// use chrono::{TimeZone, Utc};
/// use ops_alerts::{RecoveredAlert, ReplayHint, format_recovered};
///
/// let started_at = Utc.with_ymd_and_hms(2026, 12, 1, 10, 0, 0).unwrap();
/// let ended_at = Utc.with_ymd_and_hms(2026, 12, 1, 10, 12, 30).unwrap();
/// let message = format_recovered(&RecoveredAlert { started_at, ended_at, failed: 7 }, ReplayHint::Outbox);
/// assert_eq!(
///     message.plain,
///     "✅ RESOLVED: signal delivery recovered\n\nOutage: 12m 30s\nSince: 2026-12-01T10:00:00Z\n\
///      Until: 2026-12-01T10:12:30Z\nFailed during it: 7 signals\n\
///      Replay: signal-delivery outbox replay --all-dead --since 2026-12-01T10:00:00Z"
/// );
/// assert!(message.html.contains("<b>Replay:</b> <code>signal-delivery outbox replay"));
/// ```
pub fn format_recovered(alert: &RecoveredAlert, replay: ReplayHint) -> FormattedAlert {
    let length = (alert.ended_at - alert.started_at)
        .to_std()
        .unwrap_or_default();
    let failed = match alert.failed {
        1 => "1 signal".to_owned(),
        n => format!("{n} signals"),
    };
    let mut layout = Layout::with_marker(RESOLVED_MARKER, RESOLVED_TITLE);
    layout.blank();
    layout.field("Outage", Value::Text(format_outage_length(length).into()));
    layout.field(
        "Since",
        Value::Text(format_timestamp(alert.started_at).into()),
    );
    layout.field(
        "Until",
        Value::Text(format_timestamp(alert.ended_at).into()),
    );
    layout.field("Failed during it", Value::Text(failed.into()));
    let replay = match replay {
        ReplayHint::Outbox => Value::Code(replay_command(alert.started_at).into()),
        ReplayHint::SendAgain => Value::Text(SEND_AGAIN.into()),
    };
    layout.field("Replay", replay);
    layout.render("", false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use std::time::Duration;

    #[test]
    fn lengths() {
        for (secs, shown) in [
            (0, "under 1s"),
            (1, "1s"),
            (59, "59s"),
            (60, "1m 0s"),
            (3_599, "59m 59s"),
            (3_600, "1h 0m 0s"),
            (86_400 + 61, "1d 0h 1m 1s"),
        ] {
            assert_eq!(format_outage_length(Duration::from_secs(secs)), shown);
        }
    }

    #[test]
    fn send_says_send_again_and_a_backwards_clock_is_no_outage_length() {
        let at = Utc.with_ymd_and_hms(2026, 12, 1, 10, 0, 0).unwrap();
        let alert = RecoveredAlert {
            started_at: at,
            ended_at: at - chrono::TimeDelta::seconds(5),
            failed: 1,
        };
        let message = format_recovered(&alert, ReplayHint::SendAgain);
        assert!(
            message.plain.contains("Outage: under 1s\n"),
            "{}",
            message.plain
        );
        assert!(message.plain.contains("Failed during it: 1 signal\n"));
        assert!(message.plain.ends_with(&format!("Replay: {SEND_AGAIN}")));
        assert!(!message.html.contains("<code>"));
    }
}
