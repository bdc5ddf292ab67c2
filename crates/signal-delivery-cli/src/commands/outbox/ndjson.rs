//! The export format, version 1: one JSON object per signal row, each with
//! `"format": 1`, so a file cut or concatenated stays readable line by line.
//!
//! The body is kept byte for byte: as the JSON value itself (`"body"`) when
//! it is JSON on one line with nothing around it, so the file stays
//! readable; otherwise (not UTF-8, not JSON, several lines, surrounding
//! space) as `"body_base64"`. `body_hash` lets the importing outbox check
//! that the bytes arrived unchanged.

use base64::Engine as _;
use serde::de::{DeserializeOwned, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::value::RawValue;
use signal_outbox::{ExportedSignal, FailureReason, State, StoredAttempt};
use std::fmt;
use std::time::Duration;

/// The format version written, and the only one read.
pub(super) const FORMAT: u64 = 1;

const FIELDS: &str = "format, id, body, body_base64, body_hash, state, attempts, claims, \
     due_in_ms, next_attempt_at, enqueued_at, updated_at, last_error, dead_reason, dead_at, \
     delivered_at, was_in_flight, attempt_log";

/// One exported row as written.
#[derive(Debug, Serialize)]
pub(super) struct LineOut<'a> {
    format: u64,
    id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    body: Option<&'a RawValue>,
    #[serde(skip_serializing_if = "Option::is_none")]
    body_base64: Option<String>,
    body_hash: &'a str,
    state: &'static str,
    attempts: u32,
    claims: u32,
    /// The delay left at export; the importing outbox adds it to its now.
    due_in_ms: u64,
    /// On the exporting outbox's clock (informative).
    next_attempt_at: i64,
    enqueued_at: i64,
    updated_at: i64,
    last_error: Option<&'a str>,
    dead_reason: Option<&'static str>,
    dead_at: Option<i64>,
    delivered_at: Option<i64>,
    was_in_flight: bool,
    attempt_log: Vec<AttemptLine>,
}

/// One attempt of the log, as written and read.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct AttemptLine {
    attempt: u32,
    at: i64,
    worker: String,
    status: Option<u16>,
    error_class: Option<String>,
    latency_ms: u64,
    excerpt: Option<String>,
}

/// The body as a JSON value when that keeps every byte, else `None`.
fn body_as_json(body: &[u8]) -> Option<&RawValue> {
    if body.contains(&b'\n') || body.contains(&b'\r') {
        return None;
    }
    let raw: &RawValue = serde_json::from_slice(body).ok()?;
    (raw.get().as_bytes() == body).then_some(raw)
}

impl<'a> From<&'a ExportedSignal> for LineOut<'a> {
    fn from(row: &'a ExportedSignal) -> LineOut<'a> {
        let body = body_as_json(&row.body);
        LineOut {
            format: FORMAT,
            id: &row.id,
            body,
            body_base64: body
                .is_none()
                .then(|| base64::engine::general_purpose::STANDARD.encode(&row.body)),
            body_hash: &row.body_hash,
            state: row.state.as_str(),
            attempts: row.attempts,
            claims: row.claims,
            due_in_ms: u64::try_from(row.due_in.as_millis()).unwrap_or(u64::MAX),
            next_attempt_at: row.next_attempt_at,
            enqueued_at: row.enqueued_at,
            updated_at: row.updated_at,
            last_error: row.last_error.as_deref(),
            dead_reason: row.dead_reason.map(FailureReason::as_str),
            dead_at: row.dead_at,
            delivered_at: row.delivered_at,
            was_in_flight: row.was_in_flight,
            attempt_log: row
                .attempt_log
                .iter()
                .map(|a| AttemptLine {
                    attempt: a.attempt,
                    at: a.at,
                    worker: a.worker.clone(),
                    status: a.status,
                    error_class: a.error_class.clone(),
                    latency_ms: u64::try_from(a.latency.as_millis()).unwrap_or(u64::MAX),
                    excerpt: a.excerpt.clone(),
                })
                .collect(),
        }
    }
}

/// A line that cannot be imported: its number, the field, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct LineError {
    /// The line number, from 1.
    pub(super) line: u64,
    /// The field at fault, when one is.
    pub(super) field: Option<String>,
    /// What is wrong.
    pub(super) reason: String,
}

impl fmt::Display for LineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.field {
            Some(field) => write!(f, "line {}: field `{field}`: {}", self.line, self.reason),
            None => write!(f, "line {}: {}", self.line, self.reason),
        }
    }
}

/// The object's fields in order, so a field given twice is an error rather
/// than the last one silently winning.
struct Fields(Vec<(String, Box<RawValue>)>);

impl<'de> Deserialize<'de> for Fields {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Fields, D::Error> {
        struct FieldsVisitor;
        impl<'de> Visitor<'de> for FieldsVisitor {
            type Value = Fields;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Fields, A::Error> {
                let mut fields = Vec::new();
                while let Some(entry) = map.next_entry::<String, Box<RawValue>>()? {
                    fields.push(entry);
                }
                Ok(Fields(fields))
            }
        }
        deserializer.deserialize_map(FieldsVisitor)
    }
}

/// Reads the fields of one line, each at most once, naming any at fault.
struct Reader {
    line: u64,
    fields: Vec<(String, Box<RawValue>)>,
}

impl Reader {
    fn error(&self, field: &str, reason: impl fmt::Display) -> LineError {
        LineError {
            line: self.line,
            field: Some(field.to_owned()),
            reason: reason.to_string(),
        }
    }

    fn take(&mut self, name: &str) -> Option<Box<RawValue>> {
        let at = self.fields.iter().position(|(key, _)| key == name)?;
        Some(self.fields.remove(at).1)
    }

    /// A field that may be absent or null.
    fn optional<T: DeserializeOwned>(&mut self, name: &str) -> Result<Option<T>, LineError> {
        match self.take(name) {
            None => Ok(None),
            Some(raw) => serde_json::from_str(raw.get()).map_err(|e| self.error(name, e)),
        }
    }

    fn required<T: DeserializeOwned>(&mut self, name: &str) -> Result<T, LineError> {
        match self.take(name) {
            None => Err(self.error(name, "missing")),
            Some(raw) => serde_json::from_str(raw.get()).map_err(|e| self.error(name, e)),
        }
    }

    fn parsed<T>(&mut self, name: &str) -> Result<Option<T>, LineError>
    where
        T: std::str::FromStr,
        T::Err: fmt::Display,
    {
        self.optional::<String>(name)?
            .map(|text| text.parse().map_err(|e| self.error(name, e)))
            .transpose()
    }
}

/// Parses one line of the format into a row to import.
pub(super) fn parse_line(line: u64, text: &str) -> Result<ExportedSignal, LineError> {
    let Fields(fields) = serde_json::from_str(text).map_err(|e| LineError {
        line,
        field: None,
        reason: format!("not a JSON object of the export format: {e}"),
    })?;
    let mut seen = std::collections::HashSet::new();
    if let Some((key, _)) = fields.iter().find(|(key, _)| !seen.insert(key.clone())) {
        return Err(LineError {
            line,
            field: Some(key.clone()),
            reason: "given twice".to_owned(),
        });
    }
    let mut r = Reader { line, fields };
    let format: u64 = r.required("format")?;
    if format != FORMAT {
        return Err(r.error(
            "format",
            format!("{format} is not supported (this version reads {FORMAT})"),
        ));
    }
    let id: String = r.required("id")?;
    if id.is_empty() {
        return Err(r.error("id", "empty"));
    }
    let body = match (r.take("body"), r.optional::<String>("body_base64")?) {
        (Some(raw), None) => raw.get().as_bytes().to_vec(),
        (None, Some(encoded)) => base64::engine::general_purpose::STANDARD
            .decode(encoded.as_bytes())
            .map_err(|e| r.error("body_base64", format!("not standard base64: {e}")))?,
        (Some(_), Some(_)) => return Err(r.error("body", "give body or body_base64, not both")),
        (None, None) => return Err(r.error("body", "missing (and no body_base64)")),
    };
    let state: State = r
        .parsed("state")?
        .ok_or_else(|| r.error("state", "missing"))?;
    if state == State::InFlight {
        return Err(r.error(
            "state",
            "in_flight is not importable (export writes in-flight rows as pending)",
        ));
    }
    let due_in_ms: u64 = r.required("due_in_ms")?;
    let mut log = Vec::new();
    for (index, raw) in r
        .optional::<Vec<Box<RawValue>>>("attempt_log")?
        .unwrap_or_default()
        .into_iter()
        .enumerate()
    {
        let a: AttemptLine = serde_json::from_str(raw.get())
            .map_err(|e| r.error(&format!("attempt_log[{index}]"), e))?;
        log.push(StoredAttempt {
            attempt: a.attempt,
            at: a.at,
            worker: a.worker,
            status: a.status,
            error_class: a.error_class,
            latency: Duration::from_millis(a.latency_ms),
            excerpt: a.excerpt,
        });
    }
    let row = ExportedSignal {
        body: body.into(),
        body_hash: r.required("body_hash")?,
        state,
        attempts: r.required("attempts")?,
        claims: r.required("claims")?,
        due_in: Duration::from_millis(due_in_ms),
        next_attempt_at: r.required("next_attempt_at")?,
        enqueued_at: r.required("enqueued_at")?,
        updated_at: r.required("updated_at")?,
        last_error: r.optional("last_error")?,
        dead_reason: r.parsed("dead_reason")?,
        dead_at: r.optional("dead_at")?,
        delivered_at: r.optional("delivered_at")?,
        was_in_flight: r.optional("was_in_flight")?.unwrap_or(false),
        attempt_log: log,
        id,
    };
    if let Some((key, _)) = r.fields.first() {
        return Err(r.error(key, format!("unknown (known fields: {FIELDS})")));
    }
    row.check().map_err(|e| LineError {
        line,
        field: None,
        reason: e.to_string(),
    })?;
    Ok(row)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(body: &[u8]) -> ExportedSignal {
        ExportedSignal {
            id: "sig-1".into(),
            body: body.to_vec().into(),
            body_hash: "h".into(),
            state: State::Pending,
            attempts: 2,
            claims: 3,
            due_in: Duration::from_millis(1500),
            next_attempt_at: 10,
            enqueued_at: 1,
            updated_at: 2,
            last_error: Some("503".into()),
            dead_reason: None,
            dead_at: None,
            delivered_at: None,
            was_in_flight: false,
            attempt_log: vec![StoredAttempt {
                attempt: 1,
                at: 5,
                worker: "w".into(),
                status: Some(503),
                error_class: Some("http_503".into()),
                latency: Duration::from_millis(7),
                excerpt: None,
            }],
        }
    }

    fn round_trip(body: &[u8]) -> (String, ExportedSignal) {
        let original = row(body);
        let text = serde_json::to_string(&LineOut::from(&original)).unwrap();
        assert!(!text.contains('\n'));
        let back = parse_line(1, &text).unwrap();
        assert_eq!(back, original);
        (text, back)
    }

    #[test]
    fn json_bodies_stay_readable_and_others_go_base64_byte_for_byte() {
        let (text, _) = round_trip(br#"{"side":"buy","qty":1.50}"#);
        assert!(
            text.contains(r#""body":{"side":"buy","qty":1.50}"#),
            "{text}"
        );
        for body in [&b" {}"[..], b"{\n}", b"\xff\x00", b"not json", b"{} "] {
            let (text, _) = round_trip(body);
            assert!(text.contains("body_base64"), "{text}");
        }
    }

    #[test]
    fn bad_lines_name_the_line_and_the_field() {
        let good = serde_json::to_string(&LineOut::from(&row(b"{}"))).unwrap();
        let cases = [
            (
                good.replace(r#""format":1"#, r#""format":2"#),
                Some("format"),
            ),
            (
                good.replace(r#""state":"pending""#, r#""state":"bogus""#),
                Some("state"),
            ),
            (
                good.replace(r#""attempts":2"#, r#""attempts":-1"#),
                Some("attempts"),
            ),
            (good.replace(r#""claims":3,"#, ""), Some("claims")),
            (
                good.replace(r#""format":1"#, r#""format":1,"extra":0"#),
                Some("extra"),
            ),
            (
                good.replace(r#""format":1"#, r#""format":1,"id":"x""#),
                Some("id"),
            ),
            (
                good.replace(r#""status":503"#, r#""status":"x""#),
                Some("attempt_log[0]"),
            ),
            (
                good.replace(r#""body":{}"#, r#""body_base64":"!!""#),
                Some("body_base64"),
            ),
            (
                good.replace(r#""state":"pending""#, r#""state":"in_flight""#),
                Some("state"),
            ),
            ("[1]".to_owned(), None),
        ];
        for (text, field) in cases {
            let err = parse_line(7, &text).unwrap_err();
            assert_eq!(
                (err.line, err.field.as_deref()),
                (7, field),
                "{text}: {err}"
            );
            assert!(err.to_string().starts_with("line 7: "), "{err}");
        }
        let dead = good.replace(r#""state":"pending""#, r#""state":"dead_lettered""#);
        let err = parse_line(3, &dead).unwrap_err();
        assert!(err.to_string().contains("dead_reason"), "{err}");
    }
}
