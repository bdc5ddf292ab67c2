//! The names on the wire and the webhook-id rule: plain constants and one
//! pure function, available without any feature so that a crate validating
//! signal ids needs nothing else from this one.

/// The header carrying the message id (stable across retries).
pub const HEADER_ID: &str = "webhook-id";
/// The header carrying the Unix seconds of this attempt.
pub const HEADER_TIMESTAMP: &str = "webhook-timestamp";
/// The header carrying the space-separated `v1,<base64>` signatures.
pub const HEADER_SIGNATURE: &str = "webhook-signature";
/// The header repeating the id for servers that deduplicate on it.
pub const HEADER_IDEMPOTENCY_KEY: &str = "idempotency-key";

/// The longest id accepted, in bytes.
pub const MAX_ID_LEN: usize = 255;

/// Whether `id` is a valid message id: 1 to 255 characters from
/// `[A-Za-z0-9_-]`. No `.` is allowed, because the signed content uses `.` as
/// its separator: an id with a dot could make two different
/// (id, timestamp) pairs sign the same bytes.
///
/// ```
/// use hmac_client::{MAX_ID_LEN, is_valid_id};
///
/// assert!(is_valid_id("sig_2026-11-29_0001"));
/// assert!(is_valid_id(&"x".repeat(MAX_ID_LEN)));
/// assert!(!is_valid_id(&"x".repeat(MAX_ID_LEN + 1)));
/// assert!(!is_valid_id("a.b"));
/// assert!(!is_valid_id(""));
/// ```
pub fn is_valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_ID_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids() {
        assert!(is_valid_id("msg_27UH4WbU6Z5A5EzD8u03UvzRbpk"));
        assert!(is_valid_id("a-b_C9"));
        assert!(is_valid_id(&"x".repeat(255)));
        assert!(!is_valid_id(""));
        assert!(!is_valid_id(&"x".repeat(256)));
        assert!(!is_valid_id("a.b"));
        assert!(!is_valid_id("a b"));
        assert!(!is_valid_id("é"));
    }
}
