//! Signing secrets: parsing `whsec_<base64>` values and keeping the key bytes
//! out of every `Debug`, `Display`, error and log line.

use std::fmt;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use hmac::KeyInit;
use secrecy::{ExposeSecret, SecretSlice};

use crate::sign::HmacSha256;

/// The prefix every Standard Webhooks symmetric secret carries.
pub const SECRET_PREFIX: &str = "whsec_";
/// The shortest decoded key accepted, in bytes (Standard Webhooks: 24).
pub const MIN_KEY_BYTES: usize = 24;
/// The longest decoded key accepted, in bytes (Standard Webhooks: 64).
pub const MAX_KEY_BYTES: usize = 64;
/// The most secrets one [`SigningKeys`] may hold. Rotation needs two or three;
/// the bound keeps signing cost and the `webhook-signature` header small.
pub const MAX_KEYS: usize = 10;

/// The form a secret must have, repeated in every error so the operator knows
/// what to fix without us echoing what they typed.
const ALLOWED_FORM: &str = "expected `whsec_` followed by standard base64 of a 24 to 64 byte key (32 recommended), several separated by spaces";

/// Standard base64 that accepts the secret with or without `=` padding: the
/// official libraries and dashboards are not consistent about padding, and
/// being strict here would only produce confusing configuration errors.
const LENIENT_STANDARD: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Why a secret list was rejected. Never contains any part of the secret: an
/// entry is named by its 1-based position only.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    /// The value is empty or only whitespace.
    #[error("no secret given: {ALLOWED_FORM}")]
    Empty,
    /// An entry does not start with `whsec_`.
    #[error("secret #{position} does not start with `whsec_`: {ALLOWED_FORM}")]
    MissingPrefix {
        /// 1-based position of the entry in the space-separated list.
        position: usize,
    },
    /// An entry's part after `whsec_` is not standard base64.
    #[error("secret #{position} is not valid base64 after `whsec_`: {ALLOWED_FORM}")]
    InvalidBase64 {
        /// 1-based position of the entry in the space-separated list.
        position: usize,
    },
    /// An entry decodes to a key shorter than 24 or longer than 64 bytes.
    #[error("secret #{position} decodes to {length} bytes: {ALLOWED_FORM}")]
    InvalidLength {
        /// 1-based position of the entry in the space-separated list.
        position: usize,
        /// The decoded length in bytes (the length only, never the content).
        length: usize,
    },
    /// More than [`MAX_KEYS`] entries.
    #[error("{count} secrets given, at most {MAX_KEYS} are allowed: {ALLOWED_FORM}")]
    TooMany {
        /// How many entries were given.
        count: usize,
    },
}

/// One decoded HMAC key from a `whsec_<base64>` secret.
///
/// The decoded bytes live in a [`secrecy`] box (zeroed on drop) only until
/// the MAC is keyed with them; what is kept is the keyed MAC state, which is
/// wiped on drop too and never leaves this crate. `Debug` prints
/// `SigningSecret([REDACTED])`.
#[derive(Clone)]
pub struct SigningSecret {
    /// The MAC keyed with the decoded key (its inner and outer pads already
    /// hashed), the only form in which the key is kept: each signature
    /// clones it instead of keying anew, two SHA-256 blocks saved per
    /// signature. Wiped on drop (the `zeroize` features of hmac and sha2).
    keyed: HmacSha256,
}

impl SigningSecret {
    /// Parses one `whsec_<base64>` secret (decoded key 24 to 64 bytes).
    ///
    /// Errors name the entry as position 1.
    pub fn parse(value: &str) -> Result<SigningSecret, SecretError> {
        let value = value.trim();
        if value.is_empty() {
            return Err(SecretError::Empty);
        }
        SigningSecret::parse_entry(value, 1)
    }

    fn parse_entry(entry: &str, position: usize) -> Result<SigningSecret, SecretError> {
        let encoded = entry
            .strip_prefix(SECRET_PREFIX)
            .ok_or(SecretError::MissingPrefix { position })?;
        // Decoding straight into a secret box: the intermediate Vec is moved,
        // not copied, so no stray copy of the key outlives this function.
        let bytes = LENIENT_STANDARD
            .decode(encoded)
            .map_err(|_| SecretError::InvalidBase64 { position })?;
        let length = bytes.len();
        let key = SecretSlice::from(bytes);
        if !(MIN_KEY_BYTES..=MAX_KEY_BYTES).contains(&length) {
            return Err(SecretError::InvalidLength { position, length });
        }
        // HMAC takes keys of any length; the error cannot happen, and if it
        // did it would name the length, not fail later at signing.
        let keyed = <HmacSha256 as KeyInit>::new_from_slice(key.expose_secret())
            .map_err(|_| SecretError::InvalidLength { position, length })?;
        Ok(SigningSecret { keyed })
    }

    /// A MAC keyed with this secret, ready to absorb a message.
    pub(crate) fn mac(&self) -> HmacSha256 {
        self.keyed.clone()
    }
}

impl fmt::Debug for SigningSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SigningSecret([REDACTED])")
    }
}

/// The active signing keys: one, or several during a rotation.
///
/// The client signs with every key (one `v1,` entry each) and the verifier
/// accepts a signature from any of them, so a rotation is: add the new secret
/// on both sides, then remove the old one. Cloning is cheap (shared, immutable).
/// `Debug` prints only the count, e.g. `SigningKeys { count: 2 }`.
#[derive(Clone)]
pub struct SigningKeys {
    secrets: Arc<[SigningSecret]>,
}

impl SigningKeys {
    /// Parses a space-separated list of `whsec_<base64>` secrets (the form of
    /// `SIGNAL_HMAC_SECRET`). Any whitespace separates entries, so a trailing
    /// newline from a secrets file is harmless.
    ///
    /// Rejects an empty list, more than [`MAX_KEYS`] entries, and any entry
    /// without the `whsec_` prefix, with invalid base64 or with a decoded key
    /// outside 24..=64 bytes. The error names the entry by position, never by
    /// content.
    ///
    /// ```
    /// use hmac_client::SigningKeys;
    ///
    /// let keys = SigningKeys::parse("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD").unwrap();
    /// assert_eq!(keys.len(), 1);
    /// assert_eq!(format!("{keys:?}"), "SigningKeys { count: 1 }");
    /// assert!(SigningKeys::parse("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD oops").is_err());
    /// ```
    pub fn parse(value: &str) -> Result<SigningKeys, SecretError> {
        let entries: Vec<&str> = value.split_ascii_whitespace().collect();
        if entries.is_empty() {
            return Err(SecretError::Empty);
        }
        if entries.len() > MAX_KEYS {
            return Err(SecretError::TooMany {
                count: entries.len(),
            });
        }
        let secrets = entries
            .iter()
            .enumerate()
            .map(|(index, entry)| SigningSecret::parse_entry(entry, index + 1))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(SigningKeys {
            secrets: secrets.into(),
        })
    }

    /// Keys from already parsed secrets. Errors when `secrets` is empty or
    /// holds more than [`MAX_KEYS`].
    pub fn from_secrets(secrets: Vec<SigningSecret>) -> Result<SigningKeys, SecretError> {
        if secrets.is_empty() {
            return Err(SecretError::Empty);
        }
        if secrets.len() > MAX_KEYS {
            return Err(SecretError::TooMany {
                count: secrets.len(),
            });
        }
        Ok(SigningKeys {
            secrets: secrets.into(),
        })
    }

    /// How many keys are active.
    pub fn len(&self) -> usize {
        self.secrets.len()
    }

    /// Always `false` for a parsed list (parsing rejects an empty one); kept
    /// for the usual `len`/`is_empty` pair.
    pub fn is_empty(&self) -> bool {
        self.secrets.is_empty()
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = &SigningSecret> {
        self.secrets.iter()
    }
}

impl From<SigningSecret> for SigningKeys {
    fn from(secret: SigningSecret) -> SigningKeys {
        SigningKeys {
            secrets: Arc::new([secret]),
        }
    }
}

impl fmt::Debug for SigningKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKeys")
            .field("count", &self.len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The keyed MAC is the key in another form: it must be wiped on drop.
    /// hmac 0.13 puts no `ZeroizeOnDrop` marker on `Hmac` itself, but it is
    /// made of two SHA-256 states (the inner and outer pads), which are
    /// wiped with sha2's `zeroize` feature, and a block buffer, wiped with
    /// digest's. This fails to build if those features go missing.
    #[test]
    fn the_keyed_mac_is_wiped_on_drop() {
        use hmac::digest::block_api::CoreProxy;
        fn wiped_on_drop<T: hmac::digest::zeroize::ZeroizeOnDrop>() {}
        wiped_on_drop::<<sha2::Sha256 as CoreProxy>::Core>();
        wiped_on_drop::<
            hmac::digest::block_buffer::BlockBuffer<
                hmac::digest::consts::U64,
                hmac::digest::block_buffer::Eager,
            >,
        >();
    }

    const VECTOR: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";

    #[test]
    fn parses_one_and_several() {
        assert_eq!(SigningKeys::parse(VECTOR).unwrap().len(), 1);
        let two = format!("{VECTOR}  {VECTOR}\n");
        assert_eq!(SigningKeys::parse(&two).unwrap().len(), 2);
    }

    #[test]
    fn padding_is_optional() {
        // 32 bytes encode to 44 characters with one `=`.
        let padded = format!(
            "whsec_{}",
            base64::engine::general_purpose::STANDARD.encode([7u8; 32])
        );
        assert!(padded.ends_with('='));
        assert!(SigningSecret::parse(&padded).is_ok());
        assert!(SigningSecret::parse(padded.trim_end_matches('=')).is_ok());
    }

    #[test]
    fn rejects_each_bad_form_by_position() {
        assert_eq!(SigningKeys::parse("  ").unwrap_err(), SecretError::Empty);
        assert_eq!(
            SigningKeys::parse(&format!("{VECTOR} C2FVsBQIhrscChlQIMV+b5sSYspob7oD")).unwrap_err(),
            SecretError::MissingPrefix { position: 2 }
        );
        assert_eq!(
            SigningKeys::parse("whsec_***").unwrap_err(),
            SecretError::InvalidBase64 { position: 1 }
        );
        assert_eq!(
            SigningKeys::parse("whsec_AAAA").unwrap_err(),
            SecretError::InvalidLength {
                position: 1,
                length: 3
            }
        );
        let long = format!(
            "whsec_{}",
            base64::engine::general_purpose::STANDARD.encode([1u8; 65])
        );
        assert_eq!(
            SigningKeys::parse(&long).unwrap_err(),
            SecretError::InvalidLength {
                position: 1,
                length: 65
            }
        );
        let many = [VECTOR; MAX_KEYS + 1].join(" ");
        assert_eq!(
            SigningKeys::parse(&many).unwrap_err(),
            SecretError::TooMany {
                count: MAX_KEYS + 1
            }
        );
    }

    #[test]
    fn debug_never_shows_the_key() {
        let keys = SigningKeys::parse(VECTOR).unwrap();
        assert_eq!(format!("{keys:?}"), "SigningKeys { count: 1 }");
        let secret = SigningSecret::parse(VECTOR).unwrap();
        assert_eq!(format!("{secret:?}"), "SigningSecret([REDACTED])");
    }
}
