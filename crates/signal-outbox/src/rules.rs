//! Rules every backend applies the same way, written once here so that two
//! backends cannot disagree: the body fingerprint (an export from one is
//! checked against it on import into the other) and the argument checks of
//! claims and leases.

use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::error::OutboxError;

/// Lowercase hex SHA-256 of `body`: the fingerprint stored next to each
/// body, compared by `enqueue` (duplicate or conflict) and by `import`.
///
/// SHA-256 rather than a fast non-cryptographic hash: it is also what an
/// operator can compute with `sha256sum` to check which payload a row
/// holds, and `sha2` is already in the workspace for request signing.
///
/// ```
/// assert_eq!(
///     signal_outbox::body_hash(b"abc"),
///     "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
/// );
/// ```
#[must_use]
pub fn body_hash(body: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let digest = Sha256::digest(body);
    let mut out = String::with_capacity(64);
    for byte in digest.iter() {
        out.push(char::from(HEX[usize::from(byte >> 4)]));
        out.push(char::from(HEX[usize::from(byte & 0x0f)]));
    }
    out
}

/// A worker name must not be empty: it is the lease owner operators see.
///
/// ```
/// assert!(signal_outbox::check_worker("host:42:1700000000000").is_ok());
/// assert!(signal_outbox::check_worker("").unwrap_err().to_string().contains("must not be empty"));
/// ```
///
/// # Errors
/// [`OutboxError::InvalidInput`] for an empty name.
pub fn check_worker(worker: &str) -> Result<(), OutboxError> {
    if worker.is_empty() {
        return Err(OutboxError::InvalidInput {
            reason: "the worker name must not be empty (use a name unique to the process, such \
                     as host:pid:start)"
                .to_owned(),
        });
    }
    Ok(())
}

/// A lease must last at least a millisecond, the backends' time unit.
///
/// ```
/// use std::time::Duration;
/// assert!(signal_outbox::check_lease(Duration::from_secs(30)).is_ok());
/// assert!(signal_outbox::check_lease(Duration::ZERO).is_err());
/// ```
///
/// # Errors
/// [`OutboxError::InvalidInput`] for a shorter lease.
pub fn check_lease(lease: Duration) -> Result<(), OutboxError> {
    if lease < Duration::from_millis(1) {
        return Err(OutboxError::InvalidInput {
            reason: format!("the lease must be at least 1 ms, got {lease:?}"),
        });
    }
    Ok(())
}
