//! What can go wrong with one POST, and how the retry loop should treat it.

use std::fmt;
use std::time::Duration;

use retry_core::{Classify, Retryability};

/// Longest response-body excerpt kept in an error, in characters.
pub const MAX_BODY_EXCERPT_CHARS: usize = 200;

/// The class of a failed attempt. Each maps to one [`Retryability`]; see
/// [`PostError`]'s `Classify` implementation.
///
/// Deliberately exhaustive: callers in this workspace match on it, and a new
/// kind should be a compile error there rather than a silent wildcard.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PostErrorKind {
    /// No connection could be made (refused, DNS, TLS handshake, connect
    /// timeout). Transient.
    Connect,
    /// The attempt exceeded the per-attempt timeout. Transient: the server
    /// may have acted, which is why every retry carries the same id.
    Timeout,
    /// A passing failure: HTTP 408, 409, 425, 429 or 5xx, or the connection
    /// broke mid-exchange. Transient, with the server's `Retry-After` when
    /// given.
    Transient,
    /// The server rejected the content: HTTP 400, 404, 410, 413 or 422.
    /// Permanent: the same request would fail the same way.
    Validation,
    /// The server rejected our signature: HTTP 401 or 403. Permanent, and a
    /// security failure (wrong or rotated secret, clock skew, tampering):
    /// alerting should escalate it.
    SecurityRejected,
    /// We refused to send: the id is not 1 to 255 characters of
    /// `[A-Za-z0-9_-]`. Permanent, no I/O happened.
    InvalidRequest,
    /// Any other non-2xx answer (3xx, since redirects are not followed for a
    /// signed POST; 405, 415, other 4xx). Permanent: we do not know that
    /// retrying helps, so a human should look.
    Unexpected,
}

impl PostErrorKind {
    /// The kind for a non-2xx status.
    pub fn from_status(status: u16) -> PostErrorKind {
        match status {
            408 | 409 | 425 | 429 | 500..=599 => PostErrorKind::Transient,
            400 | 404 | 410 | 413 | 422 => PostErrorKind::Validation,
            401 | 403 => PostErrorKind::SecurityRejected,
            _ => PostErrorKind::Unexpected,
        }
    }

    /// Whether retrying may help.
    pub fn is_transient(self) -> bool {
        matches!(
            self,
            PostErrorKind::Connect | PostErrorKind::Timeout | PostErrorKind::Transient
        )
    }
}

/// A failed attempt to POST a signal.
///
/// `Display` gives the status and a short sanitized excerpt of what the
/// server said (at most [`MAX_BODY_EXCERPT_CHARS`] characters, control
/// characters removed), or the network failure with the server URL in its
/// redacted form ([`redact_url`](crate::redact_url)). It never contains a
/// secret: not the signature (it is not kept), not a query value of the URL
/// (the transport error is kept without its URL), and `Debug` holds the same
/// redacted text. There is no `source`: the cause chain is already in the
/// message, as text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostError {
    kind: PostErrorKind,
    status: Option<u16>,
    retry_after: Option<Duration>,
    body_excerpt: Option<String>,
    /// What failed, for non-HTTP errors (already sanitized and bounded).
    detail: String,
    /// The server URL, redacted, for transport errors.
    url: Option<String>,
}

impl PostError {
    /// An HTTP answer with a non-2xx `status`.
    pub(crate) fn http(status: u16, retry_after: Option<Duration>, body: &[u8]) -> PostError {
        let excerpt = sanitize_excerpt(&String::from_utf8_lossy(body));
        PostError {
            kind: PostErrorKind::from_status(status),
            status: Some(status),
            retry_after,
            body_excerpt: (!excerpt.is_empty()).then_some(excerpt),
            detail: String::new(),
            url: None,
        }
    }

    /// A failure without an HTTP answer.
    pub(crate) fn other(kind: PostErrorKind, detail: &str) -> PostError {
        PostError {
            kind,
            status: None,
            retry_after: None,
            body_excerpt: None,
            detail: sanitize_excerpt(detail),
            url: None,
        }
    }

    /// A transport failure talking to `url` (already redacted).
    pub(crate) fn transport(kind: PostErrorKind, redacted_url: String, detail: &str) -> PostError {
        PostError {
            url: Some(redacted_url),
            ..PostError::other(kind, detail)
        }
    }

    /// The class of failure.
    pub fn kind(&self) -> PostErrorKind {
        self.kind
    }

    /// The HTTP status, when the server answered.
    pub fn status(&self) -> Option<u16> {
        self.status
    }

    /// The server's `Retry-After` (delta seconds, or an HTTP date relative to
    /// the client's clock at the answer; a past date is zero).
    pub fn retry_after(&self) -> Option<Duration> {
        self.retry_after
    }

    /// The server URL with its query values redacted, for a transport
    /// failure (no answer); `None` otherwise.
    pub fn url(&self) -> Option<&str> {
        self.url.as_deref()
    }

    /// A short sanitized excerpt of the response body, when there was one.
    pub fn body_excerpt(&self) -> Option<&str> {
        self.body_excerpt.as_deref()
    }

    /// Whether the server rejected our signature (401 or 403).
    pub fn is_security_failure(&self) -> bool {
        self.kind == PostErrorKind::SecurityRejected
    }

    /// A short stable label for grouping alerts and metrics: `connect`,
    /// `timeout`, `network`, `invalid_id`, or `http_<status>`.
    pub fn error_class(&self) -> String {
        match (self.kind, self.status) {
            (_, Some(status)) => format!("http_{status}"),
            (PostErrorKind::Connect, None) => "connect".to_owned(),
            (PostErrorKind::Timeout, None) => "timeout".to_owned(),
            (PostErrorKind::InvalidRequest, None) => "invalid_id".to_owned(),
            (_, None) => "network".to_owned(),
        }
    }
}

impl fmt::Display for PostError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.status {
            Some(status) => {
                let reason = http::StatusCode::from_u16(status)
                    .ok()
                    .and_then(|s| s.canonical_reason())
                    .unwrap_or("");
                let class = match self.kind {
                    PostErrorKind::Transient => "transient",
                    PostErrorKind::Validation => "rejected as invalid",
                    PostErrorKind::SecurityRejected => "signature rejected",
                    _ => "unexpected status",
                };
                write!(f, "signal server answered {status} {reason} ({class})")?;
                if let Some(delay) = self.retry_after {
                    write!(f, ", retry after {} s", delay.as_secs())?;
                }
                if let Some(excerpt) = &self.body_excerpt {
                    write!(f, ": {excerpt}")?;
                }
                Ok(())
            }
            None => {
                let what = match self.kind {
                    PostErrorKind::Connect => "could not connect to the signal server",
                    PostErrorKind::Timeout => "signal server did not answer in time",
                    PostErrorKind::InvalidRequest => "signal not sent",
                    _ => "signal request failed",
                };
                match &self.url {
                    Some(url) => write!(f, "{what} at {url}: {}", self.detail),
                    None => write!(f, "{what}: {}", self.detail),
                }
            }
        }
    }
}

impl std::error::Error for PostError {}

impl Classify for PostError {
    /// Connection errors, timeouts, 408, 409, 425, 429 and 5xx are transient
    /// (with the server's `Retry-After` as the hint when given); 400, 404,
    /// 410, 413, 422, 401, 403, an invalid id and any other non-2xx are
    /// permanent.
    fn retryability(&self) -> Retryability {
        if !self.kind.is_transient() {
            return Retryability::Permanent;
        }
        match self.retry_after {
            Some(delay) => Retryability::RetryAfter(delay),
            None => Retryability::Transient,
        }
    }
}

/// Removes control characters (log injection, terminal escapes), collapses
/// whitespace runs, and bounds the length to [`MAX_BODY_EXCERPT_CHARS`]
/// characters (an ellipsis marks a cut).
pub(crate) fn sanitize_excerpt(text: &str) -> String {
    let mut out = String::new();
    let mut count = 0;
    let mut pending_space = false;
    for c in text.chars() {
        if c.is_whitespace() {
            pending_space = !out.is_empty();
            continue;
        }
        if c.is_control() {
            continue;
        }
        if count + usize::from(pending_space) >= MAX_BODY_EXCERPT_CHARS {
            out.push('…');
            return out;
        }
        if pending_space {
            out.push(' ');
            count += 1;
            pending_space = false;
        }
        out.push(c);
        count += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classification_table() {
        for status in [408, 409, 425, 429, 500, 502, 503, 504, 599] {
            let e = PostError::http(status, None, b"");
            assert_eq!(e.retryability(), Retryability::Transient, "{status}");
        }
        for status in [400, 404, 410, 413, 422] {
            let e = PostError::http(status, None, b"");
            assert_eq!(e.kind(), PostErrorKind::Validation);
            assert_eq!(e.retryability(), Retryability::Permanent, "{status}");
        }
        for status in [401, 403] {
            let e = PostError::http(status, Some(Duration::from_secs(5)), b"");
            assert!(e.is_security_failure());
            assert_eq!(e.retryability(), Retryability::Permanent);
        }
        for status in [301, 302, 304, 405, 415, 418, 451] {
            let e = PostError::http(status, None, b"");
            assert_eq!(e.kind(), PostErrorKind::Unexpected, "{status}");
            assert_eq!(e.retryability(), Retryability::Permanent);
        }
        let e = PostError::http(503, Some(Duration::from_secs(7)), b"");
        assert_eq!(
            e.retryability(),
            Retryability::RetryAfter(Duration::from_secs(7))
        );
        assert_eq!(e.error_class(), "http_503");
        assert_eq!(
            PostError::other(PostErrorKind::Connect, "refused").retryability(),
            Retryability::Transient
        );
        assert_eq!(
            PostError::other(PostErrorKind::InvalidRequest, "bad id").retryability(),
            Retryability::Permanent
        );
    }

    #[test]
    fn excerpt_is_bounded_and_clean() {
        assert_eq!(sanitize_excerpt("  a\n\tb\u{1b}[31m c  "), "a b[31m c");
        let long = sanitize_excerpt(&"x".repeat(1_000));
        assert_eq!(long.chars().count(), MAX_BODY_EXCERPT_CHARS + 1);
        assert!(long.ends_with('…'));
        assert_eq!(sanitize_excerpt("\u{0}\u{7f}"), "");
    }
}
