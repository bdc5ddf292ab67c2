//! Keys and paths from the input, shown in errors: bounded, so a hostile key
//! cannot flood a log line or an alert, and escaped, so control characters
//! (terminal escapes, bidi overrides, newlines that forge log lines) are never
//! echoed.

use std::fmt::Write as _;

/// Most bytes one rendered key takes, quotes and escapes included.
const MAX_KEY_BYTES: usize = 40;
/// Most segments a rendered path shows; the middle of a deeper one is `[…]`.
const MAX_SEGMENTS: usize = 8;
/// Segments kept before the elided middle (the rest are kept after it).
const HEAD_SEGMENTS: usize = 3;

/// One step of a path, already rendered (so nothing unbounded is kept).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Segment {
    /// An object key: `bare` (shown as `.key`) or quoted (shown as `["k y"]`).
    Key { text: String, bare: bool },
    /// An array index, shown as `[3]`.
    Index(usize),
}

impl Segment {
    pub(crate) fn key(key: &str) -> Segment {
        if is_bare(key) {
            Segment::Key {
                text: key.to_owned(),
                bare: true,
            }
        } else {
            Segment::Key {
                text: quoted(key),
                bare: false,
            }
        }
    }
}

/// A key as shown on its own: bare when it is a plain name, else quoted.
pub(crate) fn key(key: &str) -> String {
    if is_bare(key) {
        key.to_owned()
    } else {
        quoted(key)
    }
}

/// `segments` from the outermost to the innermost, e.g. `legs[0].side`.
pub(crate) fn path(segments: &[Segment]) -> String {
    let mut out = String::new();
    if segments.len() <= MAX_SEGMENTS {
        push_all(&mut out, segments);
    } else {
        let tail = MAX_SEGMENTS - HEAD_SEGMENTS;
        push_all(&mut out, &segments[..HEAD_SEGMENTS]);
        out.push_str("[…]");
        for segment in &segments[segments.len() - tail..] {
            push(&mut out, segment);
        }
    }
    out
}

fn push_all(out: &mut String, segments: &[Segment]) {
    for segment in segments {
        push(out, segment);
    }
}

fn push(out: &mut String, segment: &Segment) {
    match segment {
        Segment::Key { text, bare: true } => {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(text);
        }
        Segment::Key { text, bare: false } => {
            out.push('[');
            out.push_str(text);
            out.push(']');
        }
        Segment::Index(index) => {
            // Writing to a String cannot fail.
            let _ = write!(out, "[{index}]");
        }
    }
}

fn is_bare(key: &str) -> bool {
    !key.is_empty()
        && key.len() <= MAX_KEY_BYTES
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// `"…"` with `"` and `\` escaped, and every character that is neither
/// alphanumeric nor printable ASCII written as `\u{…}`; cut with `…` at
/// [`MAX_KEY_BYTES`].
fn quoted(key: &str) -> String {
    let mut out = String::from("\"");
    let mut escaped = String::new();
    for c in key.chars() {
        escaped.clear();
        match c {
            '"' => escaped.push_str("\\\""),
            '\\' => escaped.push_str("\\\\"),
            ' '..='~' => escaped.push(c),
            c if c.is_alphanumeric() => escaped.push(c),
            c => {
                let _ = write!(escaped, "\\u{{{:x}}}", u32::from(c));
            }
        }
        // Room is kept for the closing `…"`.
        if out.len() + escaped.len() > MAX_KEY_BYTES - "…\"".len() {
            out.push('…');
            break;
        }
        out.push_str(&escaped);
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(names: &[&str]) -> Vec<Segment> {
        names.iter().map(|k| Segment::key(k)).collect()
    }

    #[test]
    fn plain_paths_read_like_code() {
        let segments = vec![
            Segment::key("legs"),
            Segment::Index(0),
            Segment::key("side"),
        ];
        assert_eq!(path(&segments), "legs[0].side");
        assert_eq!(path(&keys(&["side"])), "side");
        assert_eq!(path(&[Segment::Index(2), Segment::key("a")]), "[2].a");
    }

    #[test]
    fn odd_keys_are_quoted_and_escaped() {
        assert_eq!(key("a b"), r#""a b""#);
        assert_eq!(key(""), r#""""#);
        assert_eq!(key("prix€"), "\"prix\\u{20ac}\"");
        assert_eq!(key("é"), "\"é\"");
        assert_eq!(key("q\"\\"), r#""q\"\\""#);
        assert_eq!(key("\u{1b}[31m\n"), "\"\\u{1b}[31m\\u{a}\"");
        assert_eq!(key("\u{202e}"), "\"\\u{202e}\"");
        assert_eq!(
            path(&[Segment::key("a.b"), Segment::key("c")]),
            r#"["a.b"].c"#
        );
    }

    #[test]
    fn long_keys_and_deep_paths_are_bounded() {
        let long = "k".repeat(10_000);
        let shown = key(&long);
        assert!(shown.len() <= MAX_KEY_BYTES, "{shown}");
        assert!(shown.ends_with("…\""), "{shown}");
        let controls = "\u{7}".repeat(10_000);
        let shown = key(&controls);
        assert!(shown.len() <= MAX_KEY_BYTES, "{shown}");
        assert!(!shown.contains('\u{7}'));

        let names: Vec<String> = (0..100).map(|i| format!("k{i}")).collect();
        let deep: Vec<Segment> = names.iter().map(|k| Segment::key(k)).collect();
        assert_eq!(path(&deep), "k0.k1.k2[…].k95.k96.k97.k98.k99");
        let hostile: Vec<Segment> = (0..100).map(|_| Segment::key(&controls)).collect();
        assert!(path(&hostile).len() <= MAX_SEGMENTS * (MAX_KEY_BYTES + 2) + 8);
    }
}
