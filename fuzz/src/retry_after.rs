//! `retry_after`: `hmac_client::parse_retry_after` on any text.
//!
//! The input is the header value (a seed is one `Retry-After` form). It is
//! parsed at a set of clocks from `i64::MIN` to `i64::MAX`, pairs of them one
//! second and one day apart, and checked:
//!
//! - never above [`MAX_RETRY_AFTER`];
//! - delta-seconds (digits only, after trimming) are always a wait, the same
//!   at every clock, equal to the number capped at one day;
//! - anything else is `None` at every clock or a wait at every clock (the
//!   clock cannot make text a date), and an HTTP-date's wait never grows as
//!   the clock moves on, and shrinks by at most the time that passed;
//! - surrounding whitespace changes nothing.

use std::time::Duration;

use hmac_client::{MAX_RETRY_AFTER, parse_retry_after};

/// The clocks every value is read at: the edges of `i64`, the epoch, the
/// obsolete forms' 1900s and 2000s, and now-ish.
const CLOCKS: [i64; 8] = [
    i64::MIN,
    -1,
    0,
    784_111_777,
    1_700_000_000,
    4_102_444_800,
    253_402_300_799,
    i64::MAX,
];

/// Checks every invariant on one input.
pub fn run(data: &[u8]) {
    let value = String::from_utf8_lossy(data);
    let trimmed = value.trim();
    let digits = !trimmed.is_empty() && trimmed.bytes().all(|b| b.is_ascii_digit());
    let mut parsed_somewhere = None;
    for now in CLOCKS {
        let wait = parse_retry_after(&value, now);
        if let Some(wait) = wait {
            assert!(wait <= MAX_RETRY_AFTER, "{wait:?} for {value:?} at {now}");
        }
        assert_eq!(
            parse_retry_after(trimmed, now),
            wait,
            "whitespace changed {value:?}"
        );
        let padded = format!(" \t{value}\t ");
        assert_eq!(
            parse_retry_after(&padded, now),
            wait,
            "padding changed {value:?}"
        );
        if digits {
            let expected = trimmed.parse::<u64>().map_or(MAX_RETRY_AFTER, |n| {
                Duration::from_secs(n).min(MAX_RETRY_AFTER)
            });
            assert_eq!(wait, Some(expected), "delta-seconds {value:?} at {now}");
        }
        match parsed_somewhere {
            None => parsed_somewhere = Some(wait.is_some()),
            Some(parsed) => assert_eq!(
                parsed,
                wait.is_some(),
                "{value:?} parses at some clocks only"
            ),
        }
        for step in [1, 86_400] {
            let Some(later) = now.checked_add(step) else {
                continue;
            };
            let (Some(before), Some(after)) = (wait, parse_retry_after(&value, later)) else {
                continue;
            };
            assert!(
                after <= before,
                "{value:?}: the wait grew from {now} to {later}"
            );
            let passed = Duration::from_secs(step.unsigned_abs());
            assert!(
                before <= after + passed,
                "{value:?}: the wait shrank by more than {passed:?} from {now} to {later}"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_documented_form_passes() {
        for value in [
            "120",
            "  7\t",
            "99999999999999999999999",
            "Sun, 06 Nov 1994 08:49:37 GMT",
            "Sunday, 06-Nov-94 08:49:37 GMT",
            "Sun Nov  6 08:49:37 1994",
            "soon",
            "",
            "-1",
        ] {
            run(value.as_bytes());
        }
    }
}
