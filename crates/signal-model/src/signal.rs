//! The trading signal: parsed and validated before any network call.
//!
//! The body that is signed and sent is serialized once and kept as bytes: a
//! signal read from JSON is sent exactly as it was given (field order, extra
//! fields and number formatting included), so the receiver sees what the
//! producer wrote and every retry carries the same bytes.

use bytes::Bytes;
use serde_json::{Map, Value};
use std::fmt;

/// Longest accepted signal id: the `webhook-id` limit of the wire format.
pub use hmac_client::MAX_ID_LEN;

/// A validated trading signal, ready to be signed and posted.
///
/// ```
/// use signal_model::Signal;
///
/// let signal = Signal::from_json(br#"{"id":"sig-1","instrument":"BTC-USD","side":"buy","note":"kept"}"#)?;
/// assert_eq!(signal.id(), "sig-1");
/// assert_eq!(signal.side(), signal_model::Side::Buy);
/// // Unknown fields are preserved: the exact input bytes are what gets sent.
/// assert!(std::str::from_utf8(signal.body()).unwrap().contains(r#""note":"kept""#));
/// # Ok::<(), signal_model::SignalError>(())
/// ```
#[derive(Clone, PartialEq)]
pub struct Signal {
    id: String,
    instrument: String,
    side: Side,
    body: Bytes,
}

/// The direction of a signal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// `"buy"`.
    Buy,
    /// `"sell"`.
    Sell,
}

impl fmt::Display for Side {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Side::Buy => "buy",
            Side::Sell => "sell",
        })
    }
}

/// Why a signal was rejected before any network call. Always names the field.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
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
}

impl SignalError {
    /// The signal field at fault, if the error is about one field.
    pub fn field(&self) -> Option<&'static str> {
        match self {
            SignalError::Missing { field, .. } | SignalError::Invalid { field, .. } => Some(field),
            SignalError::NotJson { .. } | SignalError::NotAnObject { .. } => None,
        }
    }
}

const ID_EXPECTED: &str = "1 to 255 characters of A-Z, a-z, 0-9, '_' or '-'";
const INSTRUMENT_EXPECTED: &str = "a non-empty string";
const SIDE_EXPECTED: &str = "\"buy\" or \"sell\"";
const POSITIVE_EXPECTED: &str = "a positive number";
const CREATED_AT_EXPECTED: &str = "an RFC 3339 date-time string, e.g. 2026-11-29T08:30:00Z";

impl Signal {
    /// Parses and validates one signal from JSON bytes. The bytes (trimmed of
    /// surrounding whitespace) become the body that is signed and sent.
    pub fn from_json(input: &[u8]) -> Result<Signal, SignalError> {
        let trimmed = input.trim_ascii();
        let value: Value = serde_json::from_slice(trimmed).map_err(|e| SignalError::NotJson {
            reason: e.to_string(),
        })?;
        let object = match value {
            Value::Object(map) => map,
            other => {
                return Err(SignalError::NotAnObject {
                    found: json_type(&other),
                });
            }
        };
        let (id, instrument, side) = validate(&object)?;
        Ok(Signal {
            id,
            instrument,
            side,
            body: Bytes::copy_from_slice(trimmed),
        })
    }

    /// Validates a JSON object built in code and serializes it once.
    pub fn from_object(object: Map<String, Value>) -> Result<Signal, SignalError> {
        let (id, instrument, side) = validate(&object)?;
        let body = serde_json::to_vec(&object).map_err(|e| SignalError::NotJson {
            reason: e.to_string(),
        })?;
        Ok(Signal {
            id,
            instrument,
            side,
            body: Bytes::from(body),
        })
    }

    /// The signal id: the `webhook-id` and idempotency key of every attempt.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The instrument traded.
    pub fn instrument(&self) -> &str {
        &self.instrument
    }

    /// Buy or sell.
    pub fn side(&self) -> Side {
        self.side
    }

    /// The exact bytes signed and sent on every attempt.
    pub fn body(&self) -> &Bytes {
        &self.body
    }
}

impl fmt::Debug for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signal")
            .field("id", &self.id)
            .field("instrument", &self.instrument)
            .field("side", &self.side)
            .field("body_len", &self.body.len())
            .finish()
    }
}

/// Checks that `id` is a valid signal id. The signal id is the `webhook-id`,
/// so the wire format's rule is the only rule (one definition, in `hmac-client`).
pub use hmac_client::is_valid_id;

/// Best-effort id of a rejected input, so its failure report can name it.
/// Returns the id only when it is itself valid: an invalid id is never echoed
/// into logs or alerts as if it were an identifier.
pub fn id_hint(input: &[u8]) -> Option<String> {
    let value: Value = serde_json::from_slice(input.trim_ascii()).ok()?;
    let id = value.get("id")?.as_str()?;
    is_valid_id(id).then(|| id.to_owned())
}

fn validate(object: &Map<String, Value>) -> Result<(String, String, Side), SignalError> {
    let id = match object.get("id") {
        None => return Err(missing("id", ID_EXPECTED)),
        Some(Value::String(id)) if is_valid_id(id) => id.clone(),
        Some(other) => return Err(invalid("id", other, ID_EXPECTED)),
    };
    let instrument = match object.get("instrument") {
        None => return Err(missing("instrument", INSTRUMENT_EXPECTED)),
        Some(Value::String(s)) if !s.trim().is_empty() => s.clone(),
        Some(other) => return Err(invalid("instrument", other, INSTRUMENT_EXPECTED)),
    };
    let side = match object.get("side") {
        None => return Err(missing("side", SIDE_EXPECTED)),
        Some(Value::String(s)) if s == "buy" => Side::Buy,
        Some(Value::String(s)) if s == "sell" => Side::Sell,
        Some(other) => return Err(invalid("side", other, SIDE_EXPECTED)),
    };
    for field in ["price", "volume"] {
        if let Some(value) = object.get(field) {
            let positive = value.as_f64().is_some_and(|n| n.is_finite() && n > 0.0);
            if !positive {
                return Err(invalid(field, value, POSITIVE_EXPECTED));
            }
        }
    }
    if let Some(value) = object.get("created_at") {
        let valid = value
            .as_str()
            .is_some_and(|s| chrono::DateTime::parse_from_rfc3339(s).is_ok());
        if !valid {
            return Err(invalid("created_at", value, CREATED_AT_EXPECTED));
        }
    }
    Ok((id, instrument, side))
}

fn missing(field: &'static str, expected: &'static str) -> SignalError {
    SignalError::Missing { field, expected }
}

fn invalid(field: &'static str, value: &Value, expected: &'static str) -> SignalError {
    SignalError::Invalid {
        field,
        found: describe(value),
        expected,
    }
}

/// A short description of a bad value: bounded, so a huge or hostile field
/// cannot flood a log line or an alert.
fn describe(value: &Value) -> String {
    const MAX: usize = 40;
    match value {
        Value::String(s) if s.is_empty() => "an empty string".to_owned(),
        Value::String(s) => {
            let shown: String = s.chars().filter(|c| !c.is_control()).take(MAX).collect();
            let cut = if s.chars().count() > MAX { "…" } else { "" };
            format!("the string {shown:?}{cut}")
        }
        Value::Number(n) => format!("the number {n}"),
        other => format!("a JSON {}", json_type(other)),
    }
}

fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Signal, SignalError> {
        Signal::from_json(s.as_bytes())
    }

    #[test]
    fn minimal_signal_is_accepted_and_body_is_the_input() {
        let input = r#"  {"id":"a_1-B","instrument":"ETH-USD","side":"sell"}  "#;
        let s = parse(input).unwrap();
        assert_eq!(s.id(), "a_1-B");
        assert_eq!(s.instrument(), "ETH-USD");
        assert_eq!(s.side(), Side::Sell);
        assert_eq!(&s.body()[..], input.trim().as_bytes());
    }

    #[test]
    fn optional_fields_and_extras_are_accepted() {
        let s = parse(
            r#"{"id":"x","instrument":"BTC","side":"buy","price":1.5,"volume":2,"created_at":"2026-11-29T08:30:00+01:00","strategy":{"k":[1,2]}}"#,
        )
        .unwrap();
        assert!(std::str::from_utf8(s.body()).unwrap().contains("strategy"));
    }

    #[test]
    fn each_bad_field_is_named() {
        let cases = [
            (r#"{"instrument":"B","side":"buy"}"#, "id"),
            (r#"{"id":"","instrument":"B","side":"buy"}"#, "id"),
            (r#"{"id":"a.b","instrument":"B","side":"buy"}"#, "id"),
            (r#"{"id":7,"instrument":"B","side":"buy"}"#, "id"),
            (r#"{"id":"a","side":"buy"}"#, "instrument"),
            (r#"{"id":"a","instrument":"  ","side":"buy"}"#, "instrument"),
            (r#"{"id":"a","instrument":"B"}"#, "side"),
            (r#"{"id":"a","instrument":"B","side":"hold"}"#, "side"),
            (r#"{"id":"a","instrument":"B","side":"BUY"}"#, "side"),
            (
                r#"{"id":"a","instrument":"B","side":"buy","price":0}"#,
                "price",
            ),
            (
                r#"{"id":"a","instrument":"B","side":"buy","price":-1}"#,
                "price",
            ),
            (
                r#"{"id":"a","instrument":"B","side":"buy","price":"1"}"#,
                "price",
            ),
            (
                r#"{"id":"a","instrument":"B","side":"buy","volume":null}"#,
                "volume",
            ),
            (
                r#"{"id":"a","instrument":"B","side":"buy","created_at":"yesterday"}"#,
                "created_at",
            ),
        ];
        for (input, field) in cases {
            let err = parse(input).unwrap_err();
            assert_eq!(err.field(), Some(field), "{input}");
            assert!(err.to_string().contains(field), "{err}");
            assert!(err.to_string().contains("expected"), "{err}");
        }
    }

    #[test]
    fn id_length_bounds() {
        let ok = format!(
            r#"{{"id":"{}","instrument":"B","side":"buy"}}"#,
            "a".repeat(255)
        );
        assert!(parse(&ok).is_ok());
        let long = format!(
            r#"{{"id":"{}","instrument":"B","side":"buy"}}"#,
            "a".repeat(256)
        );
        assert_eq!(parse(&long).unwrap_err().field(), Some("id"));
    }

    #[test]
    fn not_json_and_not_object_are_typed() {
        assert!(matches!(parse("{nope"), Err(SignalError::NotJson { .. })));
        assert!(matches!(parse(""), Err(SignalError::NotJson { .. })));
        assert!(matches!(
            parse("[1,2]"),
            Err(SignalError::NotAnObject { found: "array" })
        ));
    }

    #[test]
    fn bad_values_are_described_bounded_and_without_control_characters() {
        let input = format!(
            r#"{{"id":"a","instrument":"B","side":"{}\u0007"}}"#,
            "x".repeat(500)
        );
        let msg = parse(&input).unwrap_err().to_string();
        assert!(msg.len() < 200, "{msg}");
        assert!(!msg.contains('\u{7}'));
    }

    #[test]
    fn id_hint_only_returns_valid_ids() {
        assert_eq!(
            id_hint(br#"{"id":"ok-1","side":"x"}"#).as_deref(),
            Some("ok-1")
        );
        assert_eq!(id_hint(br#"{"id":"bad id"}"#), None);
        assert_eq!(id_hint(b"garbage"), None);
    }

    #[test]
    fn from_object_serializes_once() {
        let mut m = Map::new();
        m.insert("id".into(), "z".into());
        m.insert("instrument".into(), "B".into());
        m.insert("side".into(), "buy".into());
        let s = Signal::from_object(m).unwrap();
        let back: Value = serde_json::from_slice(s.body()).unwrap();
        assert_eq!(back["id"], "z");
    }
}
