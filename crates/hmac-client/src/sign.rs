//! Standard Webhooks v1 signing: HMAC-SHA256 over `{id}.{timestamp}.{body}`.
//!
//! All cryptography is the `hmac` and `sha2` crates'; this file only builds
//! the signed content and the header value.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::secret::{SigningKeys, SigningSecret};

/// HMAC-SHA256, the only algorithm of Standard Webhooks v1 (symmetric).
pub(crate) type HmacSha256 = Hmac<Sha256>;

/// A MAC keyed with `secret` that has absorbed `{id}.{timestamp}.{body}`,
/// ready to finalize (sign) or to verify a tag in constant time.
pub(crate) fn mac_for(secret: &SigningSecret, id: &str, timestamp: i64, body: &[u8]) -> HmacSha256 {
    let mut mac = secret.mac();
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(itoa::Buffer::new().format(timestamp).as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// The length of one `v1,<base64 of 32 bytes>` entry.
const ENTRY_LEN: usize = 3 + 44;

/// The `webhook-signature` header value for one message: one `v1,<base64>`
/// entry per key, separated by spaces, in the order of `keys`.
///
/// `body` must be the exact bytes that will be sent (serialize once, sign,
/// send the same bytes). `timestamp` is the Unix seconds of this attempt.
///
/// ```
/// use hmac_client::{SigningKeys, sign};
///
/// // The Standard Webhooks specification's test vector.
/// let keys = SigningKeys::parse("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD").unwrap();
/// let signature = sign(
///     &keys,
///     "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk",
///     1649367553,
///     br#"{"email":"test@example.com","username":"test_user"}"#,
/// );
/// assert_eq!(signature, "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=");
/// ```
pub fn sign(keys: &SigningKeys, id: &str, timestamp: i64, body: &[u8]) -> String {
    // One allocation, of the exact size: this runs once per attempt.
    let mut header = String::with_capacity(keys.len() * (ENTRY_LEN + 1));
    for secret in keys.iter() {
        if !header.is_empty() {
            header.push(' ');
        }
        header.push_str("v1,");
        let tag = mac_for(secret, id, timestamp, body).finalize().into_bytes();
        STANDARD.encode_string(tag, &mut header);
    }
    header
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_entry_per_key() {
        let secret = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
        let keys = SigningKeys::parse(&format!("{secret} {secret}")).unwrap();
        let signature = sign(&keys, "id", 1, b"{}");
        let entries: Vec<&str> = signature.split(' ').collect();
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[0], entries[1]);
        assert!(entries[0].starts_with("v1,"));
    }
}
