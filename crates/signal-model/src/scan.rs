//! One pass over the JSON: checks the syntax, refuses duplicate keys at any
//! depth, and keeps only what validation needs (the named top-level fields,
//! as scalars). Nothing else is built: no `Value` tree, no owned keys unless
//! a key has escapes, which is what makes the strict parse cheaper than
//! `serde_json::from_slice::<Value>` rather than dearer.
//!
//! Why not `Value` and a second look: serde_json keeps the last of two equal
//! keys, so the first is gone before anyone can look. Why not a second,
//! key-only pass: it would read every byte twice on the hot path of `enqueue`.

use std::borrow::Cow;
use std::collections::HashSet;
use std::fmt;

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Number;

use crate::error::SignalError;
use crate::render::{self, Segment};

/// What the scan keeps of a named field: enough to validate and describe it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Scalar<'a> {
    Str(Cow<'a, str>),
    Number(Number),
    /// `null`, a boolean, an array or an object: only its JSON type.
    Other(&'static str),
}

/// The named top-level fields, as found.
#[derive(Debug, Default)]
pub(crate) struct Fields<'a> {
    pub(crate) id: Option<Scalar<'a>>,
    pub(crate) instrument: Option<Scalar<'a>>,
    pub(crate) side: Option<Scalar<'a>>,
    pub(crate) price: Option<Scalar<'a>>,
    pub(crate) volume: Option<Scalar<'a>>,
    pub(crate) created_at: Option<Scalar<'a>>,
    /// In [`Mode::Hint`]: `id` appeared more than once, so no copy can be trusted.
    pub(crate) id_repeated: bool,
}

/// What the input turned out to be.
#[derive(Debug)]
pub(crate) enum Shape<'a> {
    Object(Fields<'a>),
    /// Valid JSON of another type.
    Other(&'static str),
}

/// How strict the scan is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Duplicate keys at any depth are an error.
    Strict,
    /// Only the syntax and the top-level fields matter (naming a rejected
    /// signal): nested values are skipped unchecked.
    Hint,
}

/// Scans `input` (one JSON value, surrounding whitespace allowed).
pub(crate) fn scan(input: &[u8], mode: Mode) -> Result<Shape<'_>, SignalError> {
    let mut state = State {
        keys: Vec::new(),
        duplicate: None,
        mode,
    };
    let mut deserializer = serde_json::Deserializer::from_slice(input);
    let result = Top(&mut state)
        .deserialize(&mut deserializer)
        .and_then(|shape| deserializer.end().map(|()| shape));
    // UTF-8 is checked on the error path only (serde_json checks it inside
    // strings, and any other invalid byte is a syntax error), and first, so
    // the error is the same as for a line from the framer, which checks it
    // before parsing.
    result.map_err(|error| match std::str::from_utf8(input) {
        Err(e) => SignalError::NotUtf8 {
            valid_up_to: e.valid_up_to(),
        },
        Ok(_) => match state.duplicate.take() {
            Some(duplicate) => duplicate.into_error(),
            None => SignalError::NotJson {
                reason: error.to_string(),
            },
        },
    })
}

/// Shared by every level of one scan.
struct State<'de> {
    /// The keys of the open objects, innermost last: each object checks its
    /// own slice of this stack, so one allocation serves every object.
    keys: Vec<Cow<'de, str>>,
    /// Set when a duplicate is found; the levels it unwinds through add
    /// their segment, so the happy path never tracks a path at all.
    duplicate: Option<Duplicate>,
    mode: Mode,
}

impl State<'_> {
    fn duplicate_at<E: de::Error>(&mut self, key: &str) -> E {
        self.duplicate = Some(Duplicate {
            key: render::key(key),
            segments: vec![Segment::key(key)],
        });
        E::custom("duplicate key")
    }

    fn unwinding_through(&mut self, segment: impl FnOnce() -> Segment) {
        if let Some(duplicate) = &mut self.duplicate {
            duplicate.segments.push(segment());
        }
    }
}

struct Duplicate {
    key: String,
    /// Innermost first, the duplicate key itself included.
    segments: Vec<Segment>,
}

impl Duplicate {
    fn into_error(mut self) -> SignalError {
        self.segments.reverse();
        SignalError::DuplicateKey {
            key: self.key,
            path: render::path(&self.segments),
        }
    }
}

/// Up to this many keys an object is checked by a linear scan of its keys
/// (no hashing, no allocation); past it, by a hash set, so a hostile object
/// with 100,000 keys costs 100,000 lookups, not 5 billion comparisons.
const LINEAR_KEYS: usize = 12;

/// The keys of one open object.
struct KeySet<'de> {
    start: usize,
    many: Option<HashSet<Cow<'de, str>>>,
}

impl<'de> KeySet<'de> {
    fn open(keys: &[Cow<'de, str>]) -> KeySet<'de> {
        KeySet {
            start: keys.len(),
            many: None,
        }
    }

    /// Records `key`; false if this object already has it.
    #[allow(
        clippy::ptr_arg,
        reason = "cloning the Cow keeps a borrowed key borrowed; a &str would have to be copied"
    )]
    fn insert(&mut self, keys: &mut Vec<Cow<'de, str>>, key: &Cow<'de, str>) -> bool {
        if let Some(many) = &mut self.many {
            if many.contains(key.as_ref()) {
                return false;
            }
            many.insert(key.clone());
            return true;
        }
        let own = &keys[self.start..];
        if own.iter().any(|k| k == key) {
            return false;
        }
        if own.len() < LINEAR_KEYS {
            keys.push(key.clone());
        } else {
            let mut many: HashSet<_> = keys.drain(self.start..).collect();
            many.insert(key.clone());
            self.many = Some(many);
        }
        true
    }

    fn close(self, keys: &mut Vec<Cow<'de, str>>) {
        keys.truncate(self.start);
    }
}

/// An object key, borrowed from the input unless it has escapes.
struct Key;

impl<'de> DeserializeSeed<'de> for Key {
    type Value = Cow<'de, str>;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Cow<'de, str>, D::Error> {
        d.deserialize_str(Key)
    }
}

impl<'de> Visitor<'de> for Key {
    type Value = Cow<'de, str>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object key")
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Cow<'de, str>, E> {
        Ok(Cow::Borrowed(v))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Cow<'de, str>, E> {
        Ok(Cow::Owned(v.to_owned()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Cow<'de, str>, E> {
        Ok(Cow::Owned(v))
    }
}

/// The whole input.
struct Top<'s, 'de>(&'s mut State<'de>);

impl<'de> DeserializeSeed<'de> for Top<'_, 'de> {
    type Value = Shape<'de>;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Shape<'de>, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Top<'_, 'de> {
    type Value = Shape<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Shape<'de>, A::Error> {
        let state = self.0;
        let mut fields = Fields::default();
        let mut keys = KeySet::open(&state.keys);
        while let Some(key) = map.next_key_seed(Key)? {
            if state.mode == Mode::Strict && !keys.insert(&mut state.keys, &key) {
                return Err(state.duplicate_at(&key));
            }
            let slot = match key.as_ref() {
                "id" => Some(&mut fields.id),
                "instrument" => Some(&mut fields.instrument),
                "side" => Some(&mut fields.side),
                "price" => Some(&mut fields.price),
                "volume" => Some(&mut fields.volume),
                "created_at" => Some(&mut fields.created_at),
                _ => None,
            };
            let result = match slot {
                Some(slot) => {
                    // Only reachable in Mode::Hint: Strict refused the repeat above.
                    let repeated = slot.is_some();
                    map.next_value_seed(Capture(state)).map(|value| {
                        *slot = Some(value);
                        repeated
                    })
                }
                None => map.next_value_seed(Skip(state)).map(|()| false),
            };
            match result {
                Ok(repeated) => fields.id_repeated |= repeated && key == "id",
                Err(e) => {
                    state.unwinding_through(|| Segment::key(&key));
                    return Err(e);
                }
            }
        }
        keys.close(&mut state.keys);
        Ok(Shape::Object(fields))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Shape<'de>, A::Error> {
        skip_array(self.0, seq).map(|()| Shape::Other("array"))
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<Shape<'de>, E> {
        Ok(Shape::Other("string"))
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Shape<'de>, E> {
        Ok(Shape::Other("boolean"))
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Shape<'de>, E> {
        Ok(Shape::Other("number"))
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Shape<'de>, E> {
        Ok(Shape::Other("number"))
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Shape<'de>, E> {
        Ok(Shape::Other("number"))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Shape<'de>, E> {
        Ok(Shape::Other("null"))
    }
}

/// A named field's value: scalars kept, containers checked and dropped.
struct Capture<'s, 'de>(&'s mut State<'de>);

impl<'de> DeserializeSeed<'de> for Capture<'_, 'de> {
    type Value = Scalar<'de>;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Scalar<'de>, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Capture<'_, 'de> {
    type Value = Scalar<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Scalar<'de>, E> {
        Ok(Scalar::Str(Cow::Borrowed(v)))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Scalar<'de>, E> {
        Ok(Scalar::Str(Cow::Owned(v.to_owned())))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Scalar<'de>, E> {
        Ok(Scalar::Str(Cow::Owned(v)))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Scalar<'de>, E> {
        Ok(Scalar::Number(v.into()))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Scalar<'de>, E> {
        Ok(Scalar::Number(v.into()))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Scalar<'de>, E> {
        // serde_json refuses non-finite numbers ("number out of range")
        // before calling this; if one came, it would still fail validation.
        Ok(Number::from_f64(v).map_or(Scalar::Other("number"), Scalar::Number))
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Scalar<'de>, E> {
        Ok(Scalar::Other("boolean"))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Scalar<'de>, E> {
        Ok(Scalar::Other("null"))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Scalar<'de>, A::Error> {
        skip_array(self.0, seq).map(|()| Scalar::Other("array"))
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Scalar<'de>, A::Error> {
        skip_object(self.0, map).map(|()| Scalar::Other("object"))
    }
}

/// Any other value: checked for duplicate keys (in [`Mode::Strict`]), kept nowhere.
struct Skip<'s, 'de>(&'s mut State<'de>);

impl<'de> DeserializeSeed<'de> for Skip<'_, 'de> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        match self.0.mode {
            Mode::Strict => d.deserialize_any(self),
            Mode::Hint => d.deserialize_ignored_any(IgnoredAny).map(|_| ()),
        }
    }
}

impl<'de> Visitor<'de> for Skip<'_, 'de> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        Ok(())
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        Ok(())
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        Ok(())
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        Ok(())
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        Ok(())
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<(), A::Error> {
        skip_array(self.0, seq)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<(), A::Error> {
        skip_object(self.0, map)
    }
}

fn skip_array<'de, A: SeqAccess<'de>>(state: &mut State<'de>, mut seq: A) -> Result<(), A::Error> {
    let mut index = 0usize;
    loop {
        match seq.next_element_seed(Skip(state)) {
            Ok(Some(())) => index += 1,
            Ok(None) => return Ok(()),
            Err(e) => {
                state.unwinding_through(|| Segment::Index(index));
                return Err(e);
            }
        }
    }
}

fn skip_object<'de, A: MapAccess<'de>>(state: &mut State<'de>, mut map: A) -> Result<(), A::Error> {
    if state.mode == Mode::Hint {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        return Ok(());
    }
    let mut keys = KeySet::open(&state.keys);
    while let Some(key) = map.next_key_seed(Key)? {
        if !keys.insert(&mut state.keys, &key) {
            return Err(state.duplicate_at(&key));
        }
        if let Err(e) = map.next_value_seed(Skip(state)) {
            state.unwinding_through(|| Segment::key(&key));
            return Err(e);
        }
    }
    keys.close(&mut state.keys);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strict(input: &str) -> Result<Shape<'_>, SignalError> {
        scan(input.as_bytes(), Mode::Strict)
    }

    fn duplicate(input: &str) -> (String, String) {
        match strict(input) {
            Err(SignalError::DuplicateKey { key, path }) => (key, path),
            other => panic!("{input}: expected a duplicate key, got {other:?}"),
        }
    }

    #[test]
    fn duplicates_are_found_at_any_depth_with_their_path() {
        let cases = [
            (r#"{"side":"hold","side":"buy"}"#, "side", "side"),
            (
                r#"{"legs":[{"side":"buy","side":"sell"}]}"#,
                "side",
                "legs[0].side",
            ),
            (r#"{"a":{"b":[1,[2,{"c":1,"c":2}]]}}"#, "c", "a.b[1][1].c"),
            (r#"{"x":1,"id":{"k":[],"k":{}}}"#, "k", "id.k"),
            (r#"[{"a":1},{"a":1,"a":2}]"#, "a", "[1].a"),
            (
                r#"{"we ird":{"\u0000":1,"\u0000":2}}"#,
                r#""\u{0}""#,
                r#"["we ird"]["\u{0}"]"#,
            ),
            // Escapes are compared decoded: "\u0061" is "a".
            (r#"{"a":1,"\u0061":2}"#, "a", "a"),
        ];
        for (input, key, path) in cases {
            assert_eq!(
                duplicate(input),
                (key.to_owned(), path.to_owned()),
                "{input}"
            );
        }
    }

    #[test]
    fn equal_keys_in_different_objects_are_not_duplicates() {
        let input = r#"{"a":{"a":{"a":1}},"b":[{"a":1},{"a":2}],"c":{"a":1}}"#;
        assert!(matches!(strict(input), Ok(Shape::Object(_))));
    }

    #[test]
    fn large_objects_switch_to_hashing_and_still_find_duplicates() {
        let keys: Vec<String> = (0..1000).map(|i| format!("\"k{i}\":{i}")).collect();
        let unique = format!("{{{}}}", keys.join(","));
        assert!(strict(&unique).is_ok());
        for at in [0, LINEAR_KEYS - 1, LINEAR_KEYS, LINEAR_KEYS + 1, 999] {
            let repeated = format!("{{{},\"k{at}\":0}}", keys.join(","));
            assert_eq!(duplicate(&repeated).1, format!("k{at}"));
            let nested = format!("{{\"n\":{{\"x\":[]}},\"m\":{repeated}}}");
            assert_eq!(duplicate(&nested).1, format!("m.k{at}"));
        }
    }

    #[test]
    fn the_scan_keeps_the_named_fields_as_scalars() {
        let Ok(Shape::Object(fields)) = strict(
            r#"{"id":"a\"b","side":"buy","price":1.5,"volume":-2,"instrument":{"x":1},"created_at":null,"more":[1]}"#,
        ) else {
            panic!("expected an object");
        };
        assert_eq!(fields.id, Some(Scalar::Str(Cow::Owned("a\"b".into()))));
        assert_eq!(fields.side, Some(Scalar::Str(Cow::Borrowed("buy"))));
        assert_eq!(
            fields.price.map(|p| format!("{p:?}")),
            Some("Number(Number(1.5))".into())
        );
        assert_eq!(fields.volume, Some(Scalar::Number((-2).into())));
        assert_eq!(fields.instrument, Some(Scalar::Other("object")));
        assert_eq!(fields.created_at, Some(Scalar::Other("null")));
    }

    #[test]
    fn other_json_types_are_named() {
        for (input, found) in [
            ("[1]", "array"),
            ("\"s\"", "string"),
            ("true", "boolean"),
            ("1", "number"),
            ("-1", "number"),
            ("1.5", "number"),
            ("null", "null"),
        ] {
            assert!(
                matches!(strict(input), Ok(Shape::Other(t)) if t == found),
                "{input}"
            );
        }
    }

    #[test]
    fn syntax_errors_and_bad_utf8_are_typed() {
        for input in [
            &b"{"[..],
            b"",
            b"{} {}",
            b"{\"a\":1,}",
            b"{\"a\" 1}",
            b"[1e400]",
        ] {
            assert!(
                matches!(scan(input, Mode::Strict), Err(SignalError::NotJson { .. })),
                "{input:?}"
            );
        }
        assert_eq!(
            scan(b"{\"a\":\"\xff\"}", Mode::Strict).unwrap_err(),
            SignalError::NotUtf8 { valid_up_to: 6 }
        );
        // Bad UTF-8 after a duplicate key: UTF-8 is reported, as the framer would.
        assert_eq!(
            scan(b"{\"a\":1,\"a\":2,\"b\":\"\xff\"}", Mode::Strict).unwrap_err(),
            SignalError::NotUtf8 { valid_up_to: 18 }
        );
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_stack_overflow() {
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        assert!(matches!(strict(&deep), Err(SignalError::NotJson { .. })));
        let deep_objects = "{\"a\":".repeat(100_000);
        assert!(matches!(
            strict(&deep_objects),
            Err(SignalError::NotJson { .. })
        ));
    }

    #[test]
    fn hint_mode_ignores_nested_duplicates_but_not_a_repeated_id() {
        let Ok(Shape::Object(fields)) = scan(br#"{"id":"a","x":{"k":1,"k":2}}"#, Mode::Hint) else {
            panic!("expected an object");
        };
        assert!(!fields.id_repeated);
        let Ok(Shape::Object(fields)) = scan(br#"{"id":"a","id":"b"}"#, Mode::Hint) else {
            panic!("expected an object");
        };
        assert!(fields.id_repeated);
    }
}
