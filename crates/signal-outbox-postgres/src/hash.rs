//! The body fingerprint stored next to each body.
//!
//! SHA-256 rather than a fast non-cryptographic hash: it is also what an
//! operator can compute with `sha256sum` to check which payload a row holds,
//! and `sha2` is already in the workspace for request signing.

use sha2::{Digest, Sha256};

/// Lowercase hex SHA-256 of `body`.
pub(crate) fn body_hash(body: &[u8]) -> String {
    let digest = Sha256::digest(body);
    let mut out = String::with_capacity(64);
    for byte in digest.iter() {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        out.push(char::from(HEX[usize::from(byte >> 4)]));
        out.push(char::from(HEX[usize::from(byte & 0x0f)]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::body_hash;

    #[test]
    fn matches_the_known_sha256_of_abc() {
        assert_eq!(
            body_hash(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
