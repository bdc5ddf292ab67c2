//! `signal_line`: the NDJSON framer and the strict signal parser of
//! `signal-model`, on any bytes.
//!
//! The input is the stream itself (a seed is a plain `.ndjson` file). Each
//! input is framed whole and in three chunkings derived from it (one byte at
//! a time, random sizes with empty feeds, sizes around the limit), under two
//! limits, and every chunking must give the frames of a reference framer
//! written from the documentation. Every frame is turned into a signal, and
//! the whole input is parsed directly too:
//!
//! - an accepted signal has a valid id, a non-blank instrument, a body that
//!   is exactly the line's bytes (trimmed of ASCII whitespace) in UTF-8, and
//!   `serde_json` reads the same id, instrument and side from that body;
//! - the three entry points (`Frame::to_signal`, `Signal::from_json`,
//!   `Signal::from_json_bytes`) agree, and `from_json_limited` refuses
//!   exactly the inputs over the limit;
//! - bad UTF-8 is always reported as such, with the right offset;
//! - every error renders a bounded message without control characters, and
//!   a class that names its field.

use bytes::Bytes;
use signal_model::{
    Frame, LineFramer, MaxBytes, Signal, SignalError, SignalSize, id_hint, is_valid_id,
};

use crate::text::{Rng, assert_shown, fnv1a};

/// Longest error message accepted: a duplicate key's path is the longest
/// (8 segments of at most 40 bytes, about 500 bytes in all).
const MAX_ERROR_BYTES: usize = 1024;

/// The limits every input is framed under: the smallest (long lines are
/// reachable within libFuzzer's default input length) and the default.
const LIMITS: [MaxBytes; 2] = [MaxBytes::MIN, MaxBytes::DEFAULT];

/// Checks every invariant on one input.
pub fn run(data: &[u8]) {
    for limit in LIMITS {
        let expected = reference_frames(data, limit);
        let whole: Vec<Frame> = LineFramer::split(data, limit).collect();
        assert_eq!(whole, expected, "split under {limit}");

        let mut rng = Rng::new(fnv1a(data) ^ limit.get() as u64);
        let around = [limit.get() - 1, limit.get(), limit.get() + 1, 2, 1];
        let mut turn = 0;
        let chunkings: [(&str, &mut dyn FnMut() -> usize); 3] = [
            ("one byte at a time", &mut || 1),
            ("random sizes", &mut || rng.below(65) as usize),
            ("around the limit", &mut || {
                turn += 1;
                around[turn % around.len()]
            }),
        ];
        for (name, sizes) in chunkings {
            let frames = frame_in_chunks(data, limit, sizes);
            assert_eq!(frames, expected, "{name} under {limit}");
        }
        for frame in &expected {
            check_frame(frame, limit);
        }
    }
    check_direct(data);
}

/// The frames the documentation promises: `\n` ends a line, one `\r` before
/// it (or before the end of input) belongs to the ending, a last line
/// without `\n` counts, the limit is on the line without its ending.
fn reference_frames(data: &[u8], limit: MaxBytes) -> Vec<Frame> {
    let mut lines: Vec<&[u8]> = data.split(|&b| b == b'\n').collect();
    if data.is_empty() || data.ends_with(b"\n") {
        lines.pop();
    }
    lines
        .into_iter()
        .zip(1..)
        .map(|(raw, line)| {
            let content = raw.strip_suffix(b"\r").unwrap_or(raw);
            if content.len() > limit.get() {
                Frame::TooLong {
                    line,
                    bytes_seen: content.len() as u64,
                    limit,
                }
            } else if content.iter().all(|&b| matches!(b, b' ' | b'\t' | b'\r')) {
                Frame::Blank { line }
            } else {
                match std::str::from_utf8(content) {
                    Ok(_) => Frame::Line {
                        line,
                        bytes: Bytes::copy_from_slice(content),
                    },
                    Err(e) => Frame::NotUtf8 {
                        line,
                        valid_up_to: e.valid_up_to(),
                    },
                }
            }
        })
        .collect()
}

/// Feeds `data` in chunks of the sizes `next_size` gives (0: an empty feed),
/// checking the framer's own bounds after each chunk.
fn frame_in_chunks(
    data: &[u8],
    limit: MaxBytes,
    next_size: &mut dyn FnMut() -> usize,
) -> Vec<Frame> {
    let mut framer = LineFramer::new(limit);
    let mut frames = Vec::new();
    let mut rest = data;
    loop {
        let (chunk, tail) = rest.split_at(next_size().min(rest.len()));
        rest = tail;
        let mut input = chunk;
        while let Some(frame) = framer.next_frame(&mut input) {
            frames.push(frame);
        }
        assert!(
            input.is_empty(),
            "next_frame left bytes it returned None for"
        );
        assert!(
            framer.buffer_capacity() <= limit.get() + 1,
            "the framer holds {} bytes, over the limit {limit} + 1",
            framer.buffer_capacity()
        );
        assert_eq!(framer.lines(), frames.len() as u64);
        if rest.is_empty() {
            break;
        }
    }
    let unfinished = data.len() - data.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    assert_eq!(framer.pending_bytes(), unfinished as u64, "pending bytes");
    frames.extend(framer.finish());
    assert_eq!(framer.finish(), None, "a second finish yields nothing");
    assert_eq!(framer.pending_bytes(), 0);
    frames
}

/// One frame as a signal, through every entry point.
fn check_frame(frame: &Frame, limit: MaxBytes) {
    let signal = frame.to_signal();
    match (frame, signal) {
        (Frame::Blank { .. }, None) => {}
        (Frame::Line { bytes, .. }, Some(result)) => {
            assert_eq!(
                Signal::from_json(bytes),
                result,
                "Frame::to_signal and Signal::from_json disagree"
            );
            assert_eq!(
                Signal::from_json_bytes(bytes.clone(), limit),
                result,
                "Frame::to_signal and Signal::from_json_bytes disagree"
            );
            match result {
                Ok(signal) => check_accepted(&signal, bytes),
                Err(error) => check_refused(&error, bytes),
            }
        }
        (
            Frame::TooLong {
                bytes_seen,
                limit: frame_limit,
                ..
            },
            Some(Err(error)),
        ) => {
            assert_eq!(*frame_limit, limit);
            assert_eq!(
                error,
                SignalError::TooLarge {
                    size: SignalSize::Exactly(*bytes_seen),
                    limit
                }
            );
            check_error(&error);
        }
        (Frame::NotUtf8 { valid_up_to, .. }, Some(Err(error))) => {
            assert_eq!(
                error,
                SignalError::NotUtf8 {
                    valid_up_to: *valid_up_to
                }
            );
            check_error(&error);
        }
        (frame, signal) => panic!("{frame:?} became {signal:?}"),
    }
}

/// The whole input as one signal, with and without a limit.
fn check_direct(data: &[u8]) {
    let result = Signal::from_json(data);
    for limit in LIMITS {
        let limited = Signal::from_json_limited(data, limit);
        if data.len() > limit.get() {
            assert_eq!(
                limited,
                Err(SignalError::TooLarge {
                    size: SignalSize::Exactly(data.len() as u64),
                    limit
                })
            );
        } else {
            assert_eq!(limited, result, "from_json_limited under {limit}");
        }
    }
    match result {
        Ok(signal) => check_accepted(&signal, data),
        Err(error) => check_refused(&error, data),
    }
}

/// An accepted signal, parsed from `source`.
fn check_accepted(signal: &Signal, source: &[u8]) {
    let body = signal.body();
    assert_eq!(&body[..], source.trim_ascii(), "the body is not the input");
    assert!(is_valid_id(signal.id()), "accepted id {:?}", signal.id());
    assert!(!signal.instrument().trim().is_empty(), "blank instrument");
    assert!(
        std::str::from_utf8(body).is_ok(),
        "an accepted body is not UTF-8"
    );
    // A second, independent parser reads the same signal from the body.
    let value: serde_json::Value = match serde_json::from_slice(body) {
        Ok(value) => value,
        Err(e) => panic!("accepted, but serde_json refuses the body: {e}"),
    };
    assert_eq!(value["id"].as_str(), Some(signal.id()));
    assert_eq!(value["instrument"].as_str(), Some(signal.instrument()));
    assert_eq!(
        value["side"].as_str(),
        Some(signal.side().to_string().as_str())
    );
    assert_eq!(id_hint(source).as_deref(), Some(signal.id()), "id_hint");
}

/// A refused input: the error is well formed, and bad UTF-8 is what is
/// reported whenever the input has some.
fn check_refused(error: &SignalError, source: &[u8]) {
    check_error(error);
    match std::str::from_utf8(source.trim_ascii()) {
        Err(e) => assert_eq!(
            *error,
            SignalError::NotUtf8 {
                valid_up_to: e.valid_up_to()
            },
            "bad UTF-8 reported as something else"
        ),
        Ok(_) => assert!(
            !matches!(error, SignalError::NotUtf8 { .. }),
            "UTF-8 input reported as not UTF-8"
        ),
    }
    if let Some(id) = id_hint(source) {
        assert!(is_valid_id(&id), "id_hint returned {id:?}");
    }
}

fn check_error(error: &SignalError) {
    assert_shown(&error.to_string(), MAX_ERROR_BYTES, "a signal error");
    let class = error.class();
    assert!(class.starts_with("invalid_signal:"), "class {class}");
    if let Some(field) = error.field() {
        assert_eq!(class, format!("invalid_signal:{field}"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reference_framer_follows_the_documented_examples() {
        let frames = reference_frames(b"{\"a\":1}\r\n\n{\"b\":2}", MaxBytes::DEFAULT);
        assert_eq!(
            frames,
            [
                Frame::Line {
                    line: 1,
                    bytes: "{\"a\":1}".into()
                },
                Frame::Blank { line: 2 },
                Frame::Line {
                    line: 3,
                    bytes: "{\"b\":2}".into()
                },
            ]
        );
        assert_eq!(reference_frames(b"", MaxBytes::MIN), []);
        assert_eq!(
            reference_frames(b"\n", MaxBytes::MIN),
            [Frame::Blank { line: 1 }]
        );
    }

    #[test]
    fn valid_and_invalid_streams_pass_every_check() {
        run(b"{\"id\":\"a\",\"instrument\":\"B\",\"side\":\"buy\"}\n\xff\n\n{\"id\":\"a\",\"id\":\"b\"}");
        run(&[b'x'; 3000]);
        run(b"");
    }
}
