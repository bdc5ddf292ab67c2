//! The trading signal: parsed and validated before any network call.
//!
//! The body that is signed and sent is kept as the input bytes: a signal read
//! from JSON is sent exactly as it was given (field order, extra fields and
//! number formatting included), so the receiver sees what the producer wrote
//! and every retry carries the same bytes.

use std::borrow::Cow;
use std::fmt;

use bytes::Bytes;
use serde_json::{Map, Value};

use crate::error::{SignalError, SignalSize};
use crate::limit::MaxBytes;
use crate::scan::{self, Fields, Mode, Scalar, Shape};

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

const ID_EXPECTED: &str = "1 to 255 characters of A-Z, a-z, 0-9, '_' or '-'";
const INSTRUMENT_EXPECTED: &str = "a non-empty string";
const SIDE_EXPECTED: &str = "\"buy\" or \"sell\"";
const POSITIVE_EXPECTED: &str = "a positive number";
const CREATED_AT_EXPECTED: &str = "an RFC 3339 date-time string, e.g. 2026-11-29T08:30:00Z";

impl Signal {
    /// Parses and validates one signal from JSON bytes. The bytes (trimmed of
    /// surrounding whitespace) become the body that is signed and sent.
    ///
    /// In order: the JSON syntax and duplicate keys at any depth (one pass),
    /// then the shape (an object), then the fields. No size limit: for input
    /// from outside, use [`Signal::from_json_limited`].
    pub fn from_json(input: &[u8]) -> Result<Signal, SignalError> {
        let trimmed = input.trim_ascii();
        let (id, instrument, side) = parse(trimmed)?;
        Ok(Signal {
            id,
            instrument,
            side,
            body: Bytes::copy_from_slice(trimmed),
        })
    }

    /// [`Signal::from_json`], refusing input longer than `limit` (whitespace
    /// included: the limit is on what was read) before parsing anything.
    ///
    /// ```
    /// use signal_model::{MaxBytes, Signal, SignalError, SignalSize};
    ///
    /// let big = format!(r#"{{"id":"a","instrument":"B","side":"buy","pad":"{}"}}"#, "x".repeat(2000));
    /// let error = Signal::from_json_limited(big.as_bytes(), MaxBytes::MIN).unwrap_err();
    /// assert_eq!(
    ///     error,
    ///     SignalError::TooLarge { size: SignalSize::Exactly(big.len() as u64), limit: MaxBytes::MIN }
    /// );
    /// assert_eq!(error.class(), "invalid_signal:too_large");
    /// ```
    pub fn from_json_limited(input: &[u8], limit: MaxBytes) -> Result<Signal, SignalError> {
        check_size(input.len(), limit)?;
        Signal::from_json(input)
    }

    /// [`Signal::from_json_limited`] for input already in [`Bytes`] (a line
    /// from [`LineFramer`](crate::LineFramer)): the body shares `input`'s
    /// memory instead of copying it.
    pub fn from_json_bytes(input: Bytes, limit: MaxBytes) -> Result<Signal, SignalError> {
        check_size(input.len(), limit)?;
        Signal::from_bytes_unchecked(input)
    }

    /// Parses `input` without a size check (the framer has made one).
    pub(crate) fn from_bytes_unchecked(input: Bytes) -> Result<Signal, SignalError> {
        let trimmed = input.trim_ascii();
        let (id, instrument, side) = parse(trimmed)?;
        // `trimmed` is a subslice of `input`: slice_ref shares, never copies.
        let body = input.slice_ref(trimmed);
        Ok(Signal {
            id,
            instrument,
            side,
            body,
        })
    }

    /// Validates a JSON object built in code and serializes it once. (A map
    /// cannot hold a key twice, so there is no duplicate to refuse.)
    pub fn from_object(object: Map<String, Value>) -> Result<Signal, SignalError> {
        let (id, instrument, side) = validate(fields_of(&object))?;
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
/// Returns the id only when it is itself valid and appears once at the top
/// level: an invalid or ambiguous id is never echoed into logs or alerts as
/// if it were an identifier. Duplicate keys elsewhere do not hide it (the
/// report is about them, and it should say which signal had them).
///
/// ```
/// use signal_model::id_hint;
///
/// assert_eq!(id_hint(br#"{"id":"sig-1","side":"buy","side":"sell"}"#).as_deref(), Some("sig-1"));
/// assert_eq!(id_hint(br#"{"id":"sig-1","id":"sig-2"}"#), None);
/// ```
pub fn id_hint(input: &[u8]) -> Option<String> {
    let Ok(Shape::Object(fields)) = scan::scan(input.trim_ascii(), Mode::Hint) else {
        return None;
    };
    match fields.id {
        Some(Scalar::Str(id)) if !fields.id_repeated && is_valid_id(&id) => Some(id.into_owned()),
        _ => None,
    }
}

fn check_size(len: usize, limit: MaxBytes) -> Result<(), SignalError> {
    if len > limit.get() {
        return Err(SignalError::TooLarge {
            size: SignalSize::Exactly(len as u64),
            limit,
        });
    }
    Ok(())
}

fn parse(trimmed: &[u8]) -> Result<(String, String, Side), SignalError> {
    match scan::scan(trimmed, Mode::Strict)? {
        Shape::Object(fields) => validate(fields),
        Shape::Other(found) => Err(SignalError::NotAnObject { found }),
    }
}

fn fields_of(object: &Map<String, Value>) -> Fields<'_> {
    let get = |name: &str| object.get(name).map(scalar_of);
    Fields {
        id: get("id"),
        instrument: get("instrument"),
        side: get("side"),
        price: get("price"),
        volume: get("volume"),
        created_at: get("created_at"),
        id_repeated: false,
    }
}

fn scalar_of(value: &Value) -> Scalar<'_> {
    match value {
        Value::String(s) => Scalar::Str(Cow::Borrowed(s)),
        Value::Number(n) => Scalar::Number(n.clone()),
        Value::Null => Scalar::Other("null"),
        Value::Bool(_) => Scalar::Other("boolean"),
        Value::Array(_) => Scalar::Other("array"),
        Value::Object(_) => Scalar::Other("object"),
    }
}

fn validate(fields: Fields<'_>) -> Result<(String, String, Side), SignalError> {
    let id = match fields.id {
        None => return Err(missing("id", ID_EXPECTED)),
        Some(Scalar::Str(id)) if is_valid_id(&id) => id.into_owned(),
        Some(other) => return Err(invalid("id", &other, ID_EXPECTED)),
    };
    let instrument = match fields.instrument {
        None => return Err(missing("instrument", INSTRUMENT_EXPECTED)),
        Some(Scalar::Str(s)) if !s.trim().is_empty() => s.into_owned(),
        Some(other) => return Err(invalid("instrument", &other, INSTRUMENT_EXPECTED)),
    };
    let side = match fields.side {
        None => return Err(missing("side", SIDE_EXPECTED)),
        Some(Scalar::Str(s)) if s == "buy" => Side::Buy,
        Some(Scalar::Str(s)) if s == "sell" => Side::Sell,
        Some(other) => return Err(invalid("side", &other, SIDE_EXPECTED)),
    };
    for (field, value) in [("price", &fields.price), ("volume", &fields.volume)] {
        if let Some(value) = value {
            let positive = matches!(value, Scalar::Number(n)
                if n.as_f64().is_some_and(|n| n.is_finite() && n > 0.0));
            if !positive {
                return Err(invalid(field, value, POSITIVE_EXPECTED));
            }
        }
    }
    if let Some(value) = &fields.created_at {
        let valid = matches!(value, Scalar::Str(s)
            if chrono::DateTime::parse_from_rfc3339(s).is_ok());
        if !valid {
            return Err(invalid("created_at", value, CREATED_AT_EXPECTED));
        }
    }
    Ok((id, instrument, side))
}

fn missing(field: &'static str, expected: &'static str) -> SignalError {
    SignalError::Missing { field, expected }
}

fn invalid(field: &'static str, value: &Scalar<'_>, expected: &'static str) -> SignalError {
    SignalError::Invalid {
        field,
        found: describe(value),
        expected,
    }
}

/// A short description of a bad value: bounded, so a huge or hostile field
/// cannot flood a log line or an alert.
fn describe(value: &Scalar<'_>) -> String {
    const MAX: usize = 40;
    match value {
        Scalar::Str(s) if s.is_empty() => "an empty string".to_owned(),
        Scalar::Str(s) => {
            let shown: String = s.chars().filter(|c| !c.is_control()).take(MAX).collect();
            let cut = if s.chars().count() > MAX { "…" } else { "" };
            format!("the string {shown:?}{cut}")
        }
        Scalar::Number(n) => format!("the number {n}"),
        Scalar::Other(json_type) => format!("a JSON {json_type}"),
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

    #[test]
    fn a_duplicate_key_is_refused_before_any_field_is_checked() {
        // The last "side" is valid and the first is not: serde_json alone
        // would have accepted this signal as a buy.
        let err = parse(r#"{"id":"a","instrument":"B","side":"hold","side":"buy"}"#).unwrap_err();
        assert_eq!(
            err,
            SignalError::DuplicateKey {
                key: "side".into(),
                path: "side".into()
            }
        );
        // Both ids are invalid, yet the duplicate is what is reported.
        let err = parse(r#"{"id":"x y","id":"a.b"}"#).unwrap_err();
        assert_eq!(err.class(), "invalid_signal:duplicate_key");
        assert_eq!(err.field(), None);
        let err = parse(
            r#"{"id":"a","instrument":"B","side":"buy","legs":[{"side":"buy","side":"sell"}]}"#,
        )
        .unwrap_err();
        let message = err.to_string();
        assert!(message.contains("`side` at `legs[0].side`"), "{message}");
    }

    #[test]
    fn a_hostile_duplicate_key_is_bounded_and_escaped_in_the_message() {
        let key = format!("\\u001b[2J\\n{}", "k".repeat(100_000));
        let mut input = String::from(r#"{"id":"a","instrument":"B","side":"buy","d":"#);
        for _ in 0..100 {
            input.push_str(&format!(r#"{{"{key}":1,"{key}":"#));
        }
        input.push_str("0}");
        let err = parse(&input).unwrap_err();
        let message = err.to_string();
        assert!(matches!(err, SignalError::DuplicateKey { .. }), "{message}");
        assert!(message.len() < 600, "{} bytes: {message}", message.len());
        assert!(!message.chars().any(char::is_control), "{message:?}");
        assert!(message.contains("\\u{1b}[2J\\u{a}kkk"), "{message}");
    }

    #[test]
    fn not_utf8_is_its_own_error() {
        let err = Signal::from_json(b"{\"id\":\"a\xff\",\"instrument\":\"B\",\"side\":\"buy\"}")
            .unwrap_err();
        assert_eq!(err, SignalError::NotUtf8 { valid_up_to: 8 });
        assert_eq!(err.class(), "invalid_signal:not_utf8");
    }

    #[test]
    fn the_limit_counts_what_was_read() {
        let limit = MaxBytes::MIN;
        let json = r#"{"id":"a","instrument":"B","side":"buy","pad":""}"#;
        let at = format!("{json}{}", " ".repeat(limit.get() - json.len()));
        assert_eq!(at.len(), limit.get());
        assert_eq!(
            Signal::from_json_limited(at.as_bytes(), limit)
                .unwrap()
                .body()
                .len(),
            json.len()
        );
        let over = format!("{at} ");
        assert_eq!(
            Signal::from_json_limited(over.as_bytes(), limit).unwrap_err(),
            SignalError::TooLarge {
                size: SignalSize::Exactly(limit.get() as u64 + 1),
                limit
            }
        );
        // Refused before parsing: even garbage is "too large", not "not JSON".
        let garbage = vec![b'{'; limit.get() + 1];
        assert_eq!(
            Signal::from_json_limited(&garbage, limit)
                .unwrap_err()
                .class(),
            "invalid_signal:too_large"
        );
        // No limit on from_json: rows already accepted stay readable.
        assert!(Signal::from_json(over.as_bytes()).is_ok());
    }

    #[test]
    fn from_json_bytes_shares_the_input() {
        let input = Bytes::from_static(b" {\"id\":\"a\",\"instrument\":\"B\",\"side\":\"buy\"}\n");
        let signal = Signal::from_json_bytes(input.clone(), MaxBytes::DEFAULT).unwrap();
        assert_eq!(&signal.body()[..], input.trim_ascii());
        assert_eq!(signal.body().as_ptr(), input[1..].as_ptr());
        let big = Bytes::from(vec![b' '; 2000]);
        assert_eq!(
            Signal::from_json_bytes(big, MaxBytes::MIN)
                .unwrap_err()
                .class(),
            "invalid_signal:too_large"
        );
    }

    #[test]
    fn id_hint_ignores_nested_duplicates_but_never_picks_between_two_ids() {
        assert_eq!(
            id_hint(br#"{"id":"ok-1","x":{"k":1,"k":2}}"#).as_deref(),
            Some("ok-1")
        );
        assert_eq!(id_hint(br#"{"id":"ok-1","id":"ok-2"}"#), None);
        assert_eq!(id_hint(br#"{"id":"ok-1"} trailing"#), None);
        assert_eq!(id_hint(b"[\"ok-1\"]"), None);
        assert_eq!(id_hint(br#"{"id":{"id":"ok-1"}}"#), None);
    }

    #[test]
    fn each_json_type_is_described_without_echoing_containers() {
        let cases = [
            (
                r#"{"id":null,"instrument":"B","side":"buy"}"#,
                "a JSON null",
            ),
            (
                r#"{"id":true,"instrument":"B","side":"buy"}"#,
                "a JSON boolean",
            ),
            (
                r#"{"id":[1],"instrument":"B","side":"buy"}"#,
                "a JSON array",
            ),
            (
                r#"{"id":{"a":1},"instrument":"B","side":"buy"}"#,
                "a JSON object",
            ),
            (
                r#"{"id":-1.5,"instrument":"B","side":"buy"}"#,
                "the number -1.5",
            ),
            (
                r#"{"id":"a","instrument":"","side":"buy"}"#,
                "an empty string",
            ),
        ];
        for (input, found) in cases {
            let message = parse(input).unwrap_err().to_string();
            assert!(message.contains(found), "{input}: {message}");
        }
    }
}
