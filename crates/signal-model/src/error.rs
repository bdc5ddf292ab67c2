//! Why a signal was refused, in words an operator can act on and in a short
//! class that alerts group on.

use std::fmt;

use crate::limit::{MaxBytes, SIGNAL_MAX_BYTES};

/// Why a signal was rejected before any network call. Names the field, the
/// key or the size at fault, and what is allowed.
///
/// ```
/// use signal_model::{Signal, SignalError};
///
/// let error = Signal::from_json(br#"{"id":"a","instrument":"B","side":"hold"}"#).unwrap_err();
/// assert_eq!(error.field(), Some("side"));
/// assert_eq!(error.class(), "invalid_signal:side");
///
/// let error = Signal::from_json(br#"{"id":"a","id":"b"}"#).unwrap_err();
/// assert!(matches!(error, SignalError::DuplicateKey { .. }));
/// assert_eq!(error.class(), "invalid_signal:duplicate_key");
/// ```
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum SignalError {
    /// The input is not JSON at all.
    #[error("signal is not valid JSON: {reason}; expected one JSON object per line")]
    NotJson {
        /// The parser's message (position included).
        reason: String,
    },
    /// The input is JSON but not an object.
    #[error("signal must be a JSON object with id, instrument and side, got {found}")]
    NotAnObject {
        /// The JSON type that was found.
        found: &'static str,
    },
    /// A required field is absent.
    #[error("signal field `{field}` is missing; expected {expected}")]
    Missing {
        /// The field name.
        field: &'static str,
        /// What the field must hold.
        expected: &'static str,
    },
    /// A field is present but its value is not allowed.
    #[error("signal field `{field}` is invalid ({found}); expected {expected}")]
    Invalid {
        /// The field name.
        field: &'static str,
        /// A short, bounded description of the value found.
        found: String,
        /// What the field must hold.
        expected: &'static str,
    },
    /// A key appears twice in one object, at any depth. JSON parsers disagree
    /// on which copy wins, so the producer and the receiver could read
    /// different signals from the same bytes: refused, never guessed.
    #[error(
        "signal has a duplicate key `{key}` at `{path}`; expected each key at most once per object"
    )]
    DuplicateKey {
        /// The key, bounded and escaped (control characters never echoed).
        key: String,
        /// Where it is, e.g. `legs[0].side`, bounded and escaped the same way.
        path: String,
    },
    /// The signal is larger than the limit.
    #[error(
        "signal is {size}, over the limit of {limit}; raise {SIGNAL_MAX_BYTES} (at most {max}) or split the signal",
        max = MaxBytes::MAX.get()
    )]
    TooLarge {
        /// How large it is, or how much was seen before reading stopped.
        size: SignalSize,
        /// The limit in force.
        limit: MaxBytes,
    },
    /// The input is not UTF-8, which JSON requires.
    #[error(
        "signal is not valid UTF-8 (invalid bytes after the first {valid_up_to}); expected UTF-8 JSON"
    )]
    NotUtf8 {
        /// How many bytes from the start are valid UTF-8.
        valid_up_to: usize,
    },
}

/// The size of a refused signal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignalSize {
    /// The whole signal was seen: exactly this many bytes.
    Exactly(u64),
    /// Reading stopped here: the signal is at least this many bytes.
    AtLeast(u64),
}

impl fmt::Display for SignalSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SignalSize::Exactly(n) => write!(f, "{n} bytes"),
            SignalSize::AtLeast(n) => write!(f, "at least {n} bytes (the rest was not read)"),
        }
    }
}

impl SignalError {
    /// The signal field at fault, if the error is about one of the named
    /// fields (`id`, `instrument`, `side`, `price`, `volume`, `created_at`).
    pub fn field(&self) -> Option<&'static str> {
        match self {
            SignalError::Missing { field, .. } | SignalError::Invalid { field, .. } => Some(field),
            SignalError::NotJson { .. }
            | SignalError::NotAnObject { .. }
            | SignalError::DuplicateKey { .. }
            | SignalError::TooLarge { .. }
            | SignalError::NotUtf8 { .. } => None,
        }
    }

    /// A stable short class for grouping alerts and labelling metrics: never
    /// a value from the input, so a thousand bad signals of one kind make one
    /// group.
    ///
    /// | error | class |
    /// | --- | --- |
    /// | not JSON, not an object | `invalid_signal:json` |
    /// | a field missing or invalid | `invalid_signal:{field}`, e.g. `invalid_signal:side` |
    /// | a duplicate key | `invalid_signal:duplicate_key` |
    /// | over the size limit | `invalid_signal:too_large` |
    /// | not UTF-8 | `invalid_signal:not_utf8` |
    pub fn class(&self) -> &'static str {
        match self {
            SignalError::NotJson { .. } | SignalError::NotAnObject { .. } => "invalid_signal:json",
            SignalError::Missing { field, .. } | SignalError::Invalid { field, .. } => {
                field_class(field)
            }
            SignalError::DuplicateKey { .. } => "invalid_signal:duplicate_key",
            SignalError::TooLarge { .. } => "invalid_signal:too_large",
            SignalError::NotUtf8 { .. } => "invalid_signal:not_utf8",
        }
    }
}

fn field_class(field: &str) -> &'static str {
    match field {
        "id" => "invalid_signal:id",
        "instrument" => "invalid_signal:instrument",
        "side" => "invalid_signal:side",
        "price" => "invalid_signal:price",
        "volume" => "invalid_signal:volume",
        "created_at" => "invalid_signal:created_at",
        // Only reachable for an error built outside this crate with a field
        // the parser does not know: still one stable group, never the input.
        _ => "invalid_signal:field",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_are_stable_and_name_the_field() {
        for field in ["id", "instrument", "side", "price", "volume", "created_at"] {
            let error = SignalError::Missing {
                field,
                expected: "x",
            };
            assert_eq!(error.class(), format!("invalid_signal:{field}"));
        }
        let odd = SignalError::Invalid {
            field: "other",
            found: "x".into(),
            expected: "y",
        };
        assert_eq!(odd.class(), "invalid_signal:field");
        assert_eq!(
            SignalError::NotAnObject { found: "array" }.class(),
            "invalid_signal:json"
        );
    }

    #[test]
    fn too_large_says_the_size_the_limit_and_what_to_do() {
        let exact = SignalError::TooLarge {
            size: SignalSize::Exactly(2_000_000),
            limit: MaxBytes::DEFAULT,
        };
        let message = exact.to_string();
        assert!(message.contains("2000000 bytes"), "{message}");
        assert!(message.contains("limit of 1048576 bytes"), "{message}");
        assert!(
            message.contains("raise SIGNAL_MAX_BYTES (at most 16777216)"),
            "{message}"
        );
        assert!(message.contains("split the signal"), "{message}");
        assert_eq!(exact.class(), "invalid_signal:too_large");
        assert_eq!(exact.field(), None);

        let partial = SignalError::TooLarge {
            size: SignalSize::AtLeast(1_048_577),
            limit: MaxBytes::DEFAULT,
        };
        assert!(
            partial
                .to_string()
                .contains("at least 1048577 bytes (the rest was not read)")
        );
    }

    #[test]
    fn not_utf8_says_where() {
        let error = SignalError::NotUtf8 { valid_up_to: 12 };
        assert!(error.to_string().contains("after the first 12"));
        assert_eq!(error.class(), "invalid_signal:not_utf8");
    }
}
