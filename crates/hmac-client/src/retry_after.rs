//! `Retry-After` parsing (RFC 9110, section 10.2.3): a pure function, kept
//! apart from the client so that fuzz targets and receivers can use it
//! without an HTTP stack.

use std::time::{Duration, UNIX_EPOCH};

/// The longest wait [`parse_retry_after`] returns: one day. Longer than any
/// signal's delivery deadline, so a larger hint still means "give up rather
/// than hammer the server", while keeping every `Instant + hint` computation
/// downstream far from overflow.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(24 * 60 * 60);

/// Parses a `Retry-After` value into the wait it asks for.
///
/// Accepts delta-seconds (`120`) and an HTTP-date
/// (`Sun, 06 Nov 1994 08:49:37 GMT`, and the obsolete RFC 850 and asctime
/// forms), taken relative to `now_unix` (Unix seconds): a date in the past
/// is a wait of zero. Surrounding whitespace is ignored. Every wait is
/// capped at [`MAX_RETRY_AFTER`], including delta-seconds too large for any
/// integer type: a server asking for a very long pause gets the longest one,
/// never a short one.
///
/// Anything else (`-1`, `1.5`, `soon`, an empty value) is `None`: a garbled
/// hint is ignored, so it can neither stop a retry nor shorten one. Never
/// panics, whatever the input.
///
/// ```
/// use std::time::Duration;
/// use hmac_client::{MAX_RETRY_AFTER, parse_retry_after};
///
/// assert_eq!(parse_retry_after("120", 0), Some(Duration::from_secs(120)));
/// assert_eq!(
///     parse_retry_after("Thu, 01 Jan 1970 00:01:40 GMT", 40),
///     Some(Duration::from_secs(60))
/// );
/// assert_eq!(parse_retry_after("99999999999999999999999", 0), Some(MAX_RETRY_AFTER));
/// assert_eq!(parse_retry_after("soon", 0), None);
/// ```
pub fn parse_retry_after(value: &str, now_unix: i64) -> Option<Duration> {
    let value = value.trim();
    if value.is_empty() {
        return None;
    }
    if value.bytes().all(|b| b.is_ascii_digit()) {
        // Only digits: a number too large for u64 is still a valid (huge)
        // delay, so it is capped instead of being thrown away.
        let seconds = value.parse::<u64>().unwrap_or(u64::MAX);
        return Some(Duration::from_secs(seconds).min(MAX_RETRY_AFTER));
    }
    let date = httpdate::parse_http_date(value).ok()?;
    let wait = match date.duration_since(UNIX_EPOCH) {
        Ok(since_epoch) => {
            let date_unix = i64::try_from(since_epoch.as_secs()).unwrap_or(i64::MAX);
            u64::try_from(date_unix.saturating_sub(now_unix)).unwrap_or(0)
        }
        // Before 1970: long past.
        Err(_) => 0,
    };
    Some(Duration::from_secs(wait).min(MAX_RETRY_AFTER))
}

/// The wait a response's `Retry-After` header asks for, by
/// [`parse_retry_after`]; `None` when the header is absent, not text, or
/// garbled. What the client and the retry middleware both read.
#[cfg(feature = "client")]
pub(crate) fn retry_after_header(headers: &http::HeaderMap, now_unix: i64) -> Option<Duration> {
    headers
        .get(http::header::RETRY_AFTER)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| parse_retry_after(value, now_unix))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(n: u64) -> Option<Duration> {
        Some(Duration::from_secs(n))
    }

    #[test]
    fn forms() {
        for (value, now, expected) in [
            ("120", 0, secs(120)),
            ("0", 0, secs(0)),
            ("  7\t", 0, secs(7)),
            ("007", 0, secs(7)),
            ("86400", 0, secs(86_400)),
            ("86401", 0, Some(MAX_RETRY_AFTER)),
            ("18446744073709551615", 0, Some(MAX_RETRY_AFTER)),
            ("18446744073709551616", 0, Some(MAX_RETRY_AFTER)),
            ("Thu, 01 Jan 1970 00:01:40 GMT", 40, secs(60)),
            ("Thu, 01 Jan 1970 00:01:40 GMT", 1_000, secs(0)),
            ("Thursday, 01-Jan-70 00:01:40 GMT", 40, secs(60)),
            ("Thu Jan  1 00:01:40 1970", 40, secs(60)),
            (
                "Thu, 01 Jan 1970 00:01:40 GMT",
                i64::MIN,
                Some(MAX_RETRY_AFTER),
            ),
            ("Thu, 01 Jan 1970 00:01:40 GMT", i64::MAX, secs(0)),
            ("Fri, 31 Dec 9999 23:59:59 GMT", 0, Some(MAX_RETRY_AFTER)),
            ("", 0, None),
            ("   ", 0, None),
            ("-1", 0, None),
            ("+5", 0, None),
            ("1.5", 0, None),
            ("1e3", 0, None),
            ("soon", 0, None),
            ("Thu, 32 Jan 1970 00:01:40 GMT", 0, None),
            ("٣", 0, None),
        ] {
            assert_eq!(
                parse_retry_after(value, now),
                expected,
                "{value:?} at {now}"
            );
        }
    }

    #[test]
    fn huge_inputs_do_not_panic() {
        assert_eq!(
            parse_retry_after(&"9".repeat(100_000), 0),
            Some(MAX_RETRY_AFTER)
        );
        assert_eq!(parse_retry_after(&"x".repeat(100_000), 0), None);
        for cut in 0..40 {
            let date = "Thu, 01 Jan 1970 00:01:40 GMT";
            let _ = parse_retry_after(&date[..cut.min(date.len())], 0);
        }
    }
}
