//! Times on the command line: a duration (`90m`, `36h`, `7d`, `1h30m`) or,
//! where a point in time is asked for, an RFC 3339 instant
//! (`2026-12-01T08:00:00Z`, `2026-12-01T09:00:00+01:00`) or a duration
//! meaning "that long ago".
//!
//! The duration grammar is deliberately small and written here rather than
//! taken from a crate: whole numbers with the units `s`, `m`, `h` and `d`
//! only. General parsers also accept months and years of 30.44 and 365.25
//! days, or fractions, which is not what an operator purging a trading
//! outbox should have to think about. RFC 3339 is chrono's, already in the
//! tree.

use std::time::Duration;

use chrono::{DateTime, SecondsFormat};
use signal_outbox::{Timestamp, duration_millis};

/// Longest duration accepted: about 100 years, so that no sum overflows.
const MAX_SECONDS: u64 = 100 * 366 * 24 * 3600;

const DURATION_FORMS: &str = "a whole number with a unit: s, m, h or d, e.g. 90m, 36h, 7d or 1h30m";

/// A positive duration: `90m`, `36h`, `7d`, `1h30m`.
pub(crate) fn parse_duration(text: &str) -> Result<Duration, String> {
    let bad = || {
        format!(
            "`{}` is not a duration; expected {DURATION_FORMS}",
            shown(text)
        )
    };
    let mut total: u64 = 0;
    let mut digits = String::new();
    let mut any = false;
    for c in text.trim().chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let unit = match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            _ => return Err(bad()),
        };
        let n: u64 = digits.parse().map_err(|_| bad())?;
        digits.clear();
        total = n
            .checked_mul(unit)
            .and_then(|s| total.checked_add(s))
            .filter(|s| *s <= MAX_SECONDS)
            .ok_or_else(|| format!("`{}` is too long; at most 36600d", shown(text)))?;
        any = true;
    }
    if !any || !digits.is_empty() {
        return Err(bad());
    }
    if total == 0 {
        return Err(format!(
            "`{}` is zero; expected a positive duration ({DURATION_FORMS})",
            shown(text)
        ));
    }
    Ok(Duration::from_secs(total))
}

/// A point in time as given: that long before now, or an instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum When {
    /// `2h`: two hours before the command runs.
    Ago(Duration),
    /// An RFC 3339 instant, in Unix milliseconds.
    At(Timestamp),
}

impl When {
    /// The instant, with `now` for a relative time.
    pub(crate) fn resolve(self, now: Timestamp) -> Timestamp {
        match self {
            When::Ago(ago) => now.saturating_sub(duration_millis(ago)),
            When::At(at) => at,
        }
    }
}

/// `2h` (two hours ago) or `2026-12-01T08:00:00Z`.
pub(crate) fn parse_when(text: &str) -> Result<When, String> {
    if let Ok(ago) = parse_duration(text) {
        return Ok(When::Ago(ago));
    }
    match DateTime::parse_from_rfc3339(text.trim()) {
        Ok(at) => Ok(When::At(at.timestamp_millis())),
        Err(e) => Err(format!(
            "`{}` is neither an RFC 3339 time ({e}; e.g. 2026-12-01T08:00:00Z or \
             2026-12-01T09:00:00+01:00) nor a duration ago ({DURATION_FORMS})",
            shown(text)
        )),
    }
}

/// `ms` as RFC 3339 in UTC, to the millisecond.
pub(crate) fn rfc3339(ms: Timestamp) -> String {
    DateTime::from_timestamp_millis(ms).map_or_else(
        || format!("{ms} ms since 1970"),
        |at| at.to_rfc3339_opts(SecondsFormat::Millis, true),
    )
}

/// A duration the way an operator typed it: `1h30m`, `7d`.
pub(crate) fn human(duration: Duration) -> String {
    let mut left = duration.as_secs();
    if left == 0 {
        return "0s".to_owned();
    }
    let mut out = String::new();
    for (unit, seconds) in [("d", 86_400), ("h", 3600), ("m", 60), ("s", 1)] {
        if left >= seconds {
            out.push_str(&format!("{}{unit}", left / seconds));
            left %= seconds;
        }
    }
    out
}

/// Bounded and without control characters, for an error message.
fn shown(text: &str) -> String {
    text.chars().filter(|c| !c.is_control()).take(40).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        for (text, seconds) in [
            ("90m", 5400),
            ("36h", 129_600),
            ("7d", 604_800),
            ("1h30m", 5400),
            ("1d12h", 129_600),
            ("45s", 45),
            (" 2h ", 7200),
        ] {
            assert_eq!(
                parse_duration(text),
                Ok(Duration::from_secs(seconds)),
                "{text}"
            );
            assert_eq!(
                parse_duration(&human(Duration::from_secs(seconds))),
                Ok(Duration::from_secs(seconds))
            );
        }
        for (text, needle) in [
            ("", "not a duration"),
            ("7", "not a duration"),
            ("h", "not a duration"),
            ("1.5h", "not a duration"),
            ("7 days", "not a duration"),
            ("1w", "not a duration"),
            ("-2h", "not a duration"),
            ("0s", "is zero"),
            ("0h0m", "is zero"),
            ("99999999999999999999d", "not a duration"),
            ("40000d", "too long"),
        ] {
            let err = parse_duration(text).unwrap_err();
            assert!(err.contains(needle), "{text}: {err}");
        }
    }

    #[test]
    fn points_in_time() {
        assert_eq!(parse_when("2h"), Ok(When::Ago(Duration::from_secs(7200))));
        assert_eq!(When::Ago(Duration::from_secs(2)).resolve(10_000), 8_000);
        let utc = parse_when("2026-12-01T08:00:00Z").unwrap();
        let offset = parse_when("2026-12-01T09:00:00+01:00").unwrap();
        assert_eq!(utc, offset);
        assert_eq!(utc.resolve(0), 1_796_112_000_000);
        assert_eq!(rfc3339(1_796_112_000_000), "2026-12-01T08:00:00.000Z");
        for bad in ["2026-12-01", "yesterday", "2026-13-01T00:00:00Z"] {
            let err = parse_when(bad).unwrap_err();
            assert!(
                err.contains("RFC 3339") && err.contains("duration"),
                "{err}"
            );
        }
    }
}
