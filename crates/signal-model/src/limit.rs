//! How large one signal may be: the bound that keeps a hostile or broken
//! producer from making the reader hold an unbounded line in memory.

use std::fmt;
use std::str::FromStr;

/// The setting that sets the limit, named in every "too large" message so an
/// operator knows what to raise.
pub const SIGNAL_MAX_BYTES: &str = "SIGNAL_MAX_BYTES";

/// The largest signal accepted, in bytes: between [`MaxBytes::MIN`] (1 KiB)
/// and [`MaxBytes::MAX`] (16 MiB), [`MaxBytes::DEFAULT`] 1 MiB.
///
/// The default is the receiver's own limit (`hmac_client::DEFAULT_MAX_BODY_BYTES`
/// of the verifier): a larger signal would be refused by a default receiver
/// anyway. The minimum keeps a typo (`SIGNAL_MAX_BYTES=10`) from refusing
/// every signal; the maximum bounds the memory of one line.
///
/// ```
/// use signal_model::MaxBytes;
///
/// assert_eq!(MaxBytes::DEFAULT.get(), 1_048_576);
/// assert_eq!("4096".parse::<MaxBytes>()?.get(), 4096);
/// let error = "10".parse::<MaxBytes>().unwrap_err();
/// assert!(error.to_string().contains("1024 to 16777216"));
/// # Ok::<(), signal_model::MaxBytesError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MaxBytes(usize);

impl MaxBytes {
    /// 1 MiB (1,048,576 bytes): the verifier's default body limit.
    pub const DEFAULT: MaxBytes = MaxBytes(1_048_576);
    /// 1 KiB (1,024 bytes): the smallest limit allowed.
    pub const MIN: MaxBytes = MaxBytes(1_024);
    /// 16 MiB (16,777,216 bytes): the largest limit allowed.
    pub const MAX: MaxBytes = MaxBytes(16_777_216);

    /// A limit of `bytes`, if it is within [`MaxBytes::MIN`]..=[`MaxBytes::MAX`].
    ///
    /// ```
    /// use signal_model::MaxBytes;
    ///
    /// assert_eq!(MaxBytes::new(2048)?.get(), 2048);
    /// assert!(MaxBytes::new(17 * 1024 * 1024).is_err());
    /// # Ok::<(), signal_model::MaxBytesError>(())
    /// ```
    pub const fn new(bytes: usize) -> Result<MaxBytes, MaxBytesError> {
        if bytes < MaxBytes::MIN.0 || bytes > MaxBytes::MAX.0 {
            Err(MaxBytesError::OutOfRange {
                value: bytes as u64,
            })
        } else {
            Ok(MaxBytes(bytes))
        }
    }

    /// The limit in bytes.
    pub const fn get(self) -> usize {
        self.0
    }
}

impl Default for MaxBytes {
    fn default() -> MaxBytes {
        MaxBytes::DEFAULT
    }
}

impl fmt::Display for MaxBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} bytes", self.0)
    }
}

/// Parses a `SIGNAL_MAX_BYTES` value: a whole number of bytes, surrounding
/// whitespace ignored, nothing else (no units, no sign).
impl FromStr for MaxBytes {
    type Err = MaxBytesError;

    fn from_str(value: &str) -> Result<MaxBytes, MaxBytesError> {
        let trimmed = value.trim();
        // Digits only: `u64::from_str` would also take a leading `+`.
        if trimmed.is_empty() || !trimmed.bytes().all(|b| b.is_ascii_digit()) {
            return Err(MaxBytesError::NotAnInteger {
                found: shown(value),
            });
        }
        match trimmed.parse::<u64>() {
            Ok(n) => match usize::try_from(n) {
                Ok(n) => MaxBytes::new(n),
                Err(_) => Err(MaxBytesError::OutOfRange { value: n }),
            },
            // Only overflow is left: every byte is a digit.
            Err(_) => Err(MaxBytesError::OutOfRange { value: u64::MAX }),
        }
    }
}

/// A value shown in an error: bounded and without control characters.
fn shown(value: &str) -> String {
    const MAX: usize = 24;
    let mut out: String = value
        .chars()
        .filter(|c| !c.is_control())
        .take(MAX)
        .collect();
    if value.chars().count() > MAX {
        out.push('…');
    }
    out
}

/// Why a limit was refused. The message names [`SIGNAL_MAX_BYTES`] and the
/// allowed range.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MaxBytesError {
    /// Not a whole number of bytes.
    #[error(
        "{SIGNAL_MAX_BYTES}={found:?} is not a whole number of bytes; expected an integer from {min} to {max}",
        min = MaxBytes::MIN.0,
        max = MaxBytes::MAX.0
    )]
    NotAnInteger {
        /// The value given (bounded, control characters removed).
        found: String,
    },
    /// A number outside the allowed range (saturated at `u64::MAX`).
    #[error(
        "{SIGNAL_MAX_BYTES}={value} is out of range; expected an integer from {min} to {max} (bytes)",
        min = MaxBytes::MIN.0,
        max = MaxBytes::MAX.0
    )]
    OutOfRange {
        /// The number given.
        value: u64,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_are_inclusive() {
        assert_eq!(MaxBytes::new(1024), Ok(MaxBytes::MIN));
        assert_eq!(MaxBytes::new(16_777_216), Ok(MaxBytes::MAX));
        assert_eq!(
            MaxBytes::new(1023),
            Err(MaxBytesError::OutOfRange { value: 1023 })
        );
        assert_eq!(
            MaxBytes::new(16_777_217),
            Err(MaxBytesError::OutOfRange { value: 16_777_217 })
        );
        assert_eq!(MaxBytes::default(), MaxBytes::DEFAULT);
        assert_eq!(MaxBytes::DEFAULT.to_string(), "1048576 bytes");
    }

    #[test]
    fn parsing_takes_digits_only_and_names_the_setting() {
        assert_eq!(" 2048\n".parse::<MaxBytes>().map(MaxBytes::get), Ok(2048));
        for bad in ["", "  ", "+2048", "-1", "1 MiB", "1e6", "2048.0", "0x400"] {
            let error = bad.parse::<MaxBytes>().unwrap_err();
            assert!(
                matches!(error, MaxBytesError::NotAnInteger { .. }),
                "{bad:?}"
            );
            let message = error.to_string();
            assert!(message.starts_with("SIGNAL_MAX_BYTES="), "{message}");
            assert!(message.contains("1024 to 16777216"), "{message}");
        }
        assert_eq!(
            "99999999999999999999999".parse::<MaxBytes>(),
            Err(MaxBytesError::OutOfRange { value: u64::MAX })
        );
        let message = "512".parse::<MaxBytes>().unwrap_err().to_string();
        assert!(message.contains("512 is out of range"), "{message}");
    }

    #[test]
    fn a_hostile_value_is_bounded_in_the_message() {
        let value = format!("\u{1b}[31m{}", "9x".repeat(10_000));
        let message = value.parse::<MaxBytes>().unwrap_err().to_string();
        assert!(message.len() < 200, "{message}");
        assert!(!message.contains('\u{1b}'));
    }
}
