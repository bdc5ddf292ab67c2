//! Newline-delimited input cut into lines, holding at most one line of at
//! most the limit: a 200 MB line costs the same memory as a 1 MB one, and
//! one bad line never ends the stream.
//!
//! Pure and synchronous: bytes in, [`Frame`]s out, in any chunking. The async
//! adapter (`FrameReader`, feature `tokio`) and any
//! blocking reader drive the same framer, so `send` and `enqueue` cut their
//! input the same way.

use std::fmt;

use bytes::Bytes;

use crate::error::{SignalError, SignalSize};
use crate::limit::MaxBytes;
use crate::signal::Signal;

/// One line of input, classified. Lines are numbered from 1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// A line to parse: valid UTF-8, without its `\n` or `\r\n`, at most the
    /// limit in length, and not blank.
    Line {
        /// The line number.
        line: u64,
        /// The line's bytes (valid UTF-8).
        bytes: Bytes,
    },
    /// An empty line or one of only spaces, tabs and `\r`: counted, not a
    /// signal. (Other whitespace, e.g. U+00A0, makes a [`Frame::Line`] that
    /// fails to parse: nothing unusual is skipped quietly.)
    Blank {
        /// The line number.
        line: u64,
    },
    /// A line longer than the limit. Nothing of it was kept: the framer
    /// counted it up to its end and goes on with the next line.
    TooLong {
        /// The line number.
        line: u64,
        /// The line's length without its line ending: the whole line was
        /// seen, so this is its exact size.
        bytes_seen: u64,
        /// The limit it broke.
        limit: MaxBytes,
    },
    /// A line that is not valid UTF-8.
    NotUtf8 {
        /// The line number.
        line: u64,
        /// How many bytes from the start of the line are valid UTF-8.
        valid_up_to: usize,
    },
}

impl Frame {
    /// The line number of this frame, from 1.
    pub fn line(&self) -> u64 {
        match self {
            Frame::Line { line, .. }
            | Frame::Blank { line }
            | Frame::TooLong { line, .. }
            | Frame::NotUtf8 { line, .. } => *line,
        }
    }

    /// The signal this frame holds, or why it holds none; `None` for a blank
    /// line, which is not a signal. The body of a parsed signal shares the
    /// line's memory.
    ///
    /// ```
    /// use signal_model::{LineFramer, MaxBytes};
    ///
    /// let frames: Vec<_> = LineFramer::split(b"\n{\"id\":\"a\",\"instrument\":\"B\",\"side\":\"buy\"}\n", MaxBytes::DEFAULT).collect();
    /// assert!(frames[0].to_signal().is_none());
    /// assert_eq!(frames[1].to_signal().unwrap()?.id(), "a");
    /// # Ok::<(), signal_model::SignalError>(())
    /// ```
    pub fn to_signal(&self) -> Option<Result<Signal, SignalError>> {
        match self {
            Frame::Line { bytes, .. } => Some(Signal::from_bytes_unchecked(bytes.clone())),
            Frame::Blank { .. } => None,
            Frame::TooLong {
                bytes_seen, limit, ..
            } => Some(Err(SignalError::TooLarge {
                size: SignalSize::Exactly(*bytes_seen),
                limit: *limit,
            })),
            Frame::NotUtf8 { valid_up_to, .. } => Some(Err(SignalError::NotUtf8 {
                valid_up_to: *valid_up_to,
            })),
        }
    }
}

/// Cuts newline-delimited bytes into [`Frame`]s, fed in chunks of any size.
///
/// `\n` ends a line; a `\r` just before it is part of the line ending. The
/// last line may lack its `\n`: [`LineFramer::finish`] yields it. The framer
/// keeps at most `limit + 1` bytes (a full line and the `\r` that may end it),
/// whatever it is fed.
///
/// ```
/// use signal_model::{Frame, LineFramer, MaxBytes};
///
/// let mut framer = LineFramer::new(MaxBytes::DEFAULT);
/// let mut frames = Vec::new();
/// for chunk in [&b"{\"a\":1}\r\n\n{\"b"[..], b"\":2}"] {
///     let mut rest = chunk;
///     while let Some(frame) = framer.next_frame(&mut rest) {
///         frames.push(frame);
///     }
/// }
/// frames.extend(framer.finish());
/// assert_eq!(frames, [
///     Frame::Line { line: 1, bytes: "{\"a\":1}".into() },
///     Frame::Blank { line: 2 },
///     Frame::Line { line: 3, bytes: "{\"b\":2}".into() },
/// ]);
/// ```
pub struct LineFramer {
    limit: MaxBytes,
    /// The current line while it fits (`limit + 1` bytes at most).
    buf: Vec<u8>,
    /// Bytes of the current line seen so far, kept or not.
    seen: u64,
    /// The current line outgrew the limit: it is counted, not kept.
    overflow: bool,
    /// The last byte seen of the current line was `\r`.
    last_cr: bool,
    /// Lines finished so far.
    lines: u64,
}

impl fmt::Debug for LineFramer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Not the buffer: up to a whole line of input has no place in a log.
        f.debug_struct("LineFramer")
            .field("limit", &self.limit)
            .field("lines", &self.lines)
            .field("pending_bytes", &self.seen)
            .field("over_limit", &self.overflow)
            .field("buffer_capacity", &self.buf.capacity())
            .finish()
    }
}

impl LineFramer {
    /// A framer for lines of at most `limit` bytes (line ending excluded).
    pub fn new(limit: MaxBytes) -> LineFramer {
        LineFramer {
            limit,
            buf: Vec::new(),
            seen: 0,
            overflow: false,
            last_cr: false,
            lines: 0,
        }
    }

    /// Frames a complete input, the last line with or without its `\n`.
    ///
    /// ```
    /// use signal_model::{Frame, LineFramer, MaxBytes};
    ///
    /// let frames: Vec<_> = LineFramer::split(b"ok\n\xff\nfine", MaxBytes::DEFAULT).collect();
    /// assert_eq!(frames, [
    ///     Frame::Line { line: 1, bytes: "ok".into() },
    ///     Frame::NotUtf8 { line: 2, valid_up_to: 0 },
    ///     Frame::Line { line: 3, bytes: "fine".into() },
    /// ]);
    /// ```
    pub fn split(input: &[u8], limit: MaxBytes) -> Split<'_> {
        Split {
            framer: LineFramer::new(limit),
            rest: input,
            finished: false,
        }
    }

    /// The limit this framer enforces.
    pub fn limit(&self) -> MaxBytes {
        self.limit
    }

    /// Lines finished so far (the number of the last frame yielded).
    pub fn lines(&self) -> u64 {
        self.lines
    }

    /// The capacity of the framer's line buffer: never more than
    /// `limit + 1`, whatever it was fed (for tests and metrics).
    pub fn buffer_capacity(&self) -> usize {
        self.buf.capacity()
    }

    /// Consumes `input` up to and including the next `\n` and returns the
    /// frame of the line it ended, or consumes all of `input` and returns
    /// `None` when no line ended in it (the partial line is kept, or only
    /// counted once it is over the limit). Call it until it returns `None`,
    /// then feed the next chunk; bytes left in `input` were not read.
    pub fn next_frame(&mut self, input: &mut &[u8]) -> Option<Frame> {
        let chunk: &[u8] = input;
        match memchr::memchr(b'\n', chunk) {
            Some(newline) => {
                *input = &chunk[newline + 1..];
                Some(self.end_line(&chunk[..newline]))
            }
            None => {
                *input = &[];
                self.take(chunk);
                None
            }
        }
    }

    /// Ends the input: the frame of a last line that had no `\n`, if there
    /// is one. The framer can be fed again afterwards; numbering goes on.
    pub fn finish(&mut self) -> Option<Frame> {
        (self.seen > 0).then(|| self.end_line(&[]))
    }

    /// Bytes of the current line that was not ended yet (for reporting a
    /// read that stopped in the middle of a line).
    pub fn pending_bytes(&self) -> u64 {
        self.seen
    }

    /// Adds `part` to the current line.
    fn take(&mut self, part: &[u8]) {
        let Some(&last) = part.last() else {
            return;
        };
        self.seen += part.len() as u64;
        self.last_cr = last == b'\r';
        if self.overflow {
            return;
        }
        let keep = self.limit.get() + 1;
        let wanted = self.buf.len() + part.len();
        if wanted > keep {
            // Too long whatever follows. The allocation is kept (it is at
            // most `keep`) for the lines to come.
            self.overflow = true;
            self.buf.clear();
            return;
        }
        if wanted > self.buf.capacity() {
            // Grow by doubling, as Vec would, but never past `keep`.
            let target = wanted.max(self.buf.capacity() * 2).min(keep);
            self.buf.reserve_exact(target - self.buf.len());
        }
        self.buf.extend_from_slice(part);
    }

    /// Ends the current line with `last` (its bytes before the `\n`).
    fn end_line(&mut self, last: &[u8]) -> Frame {
        self.lines += 1;
        let line = self.lines;
        let frame = if !self.overflow && self.buf.is_empty() {
            // The whole line is in this chunk: classify it in place.
            self.seen = last.len() as u64;
            self.last_cr = last.last() == Some(&b'\r');
            self.classify(line, last)
        } else {
            self.take(last);
            let buf = std::mem::take(&mut self.buf);
            let frame = self.classify(line, &buf);
            self.buf = buf;
            frame
        };
        self.buf.clear();
        self.seen = 0;
        self.overflow = false;
        self.last_cr = false;
        frame
    }

    fn classify(&self, line: u64, kept: &[u8]) -> Frame {
        let len = self.seen - u64::from(self.last_cr);
        if self.overflow || len > self.limit.get() as u64 {
            return Frame::TooLong {
                line,
                bytes_seen: len,
                limit: self.limit,
            };
        }
        // Not overflowing: everything seen was kept.
        let content = &kept[..kept.len() - usize::from(self.last_cr)];
        if content.iter().all(|&b| matches!(b, b' ' | b'\t' | b'\r')) {
            return Frame::Blank { line };
        }
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
}

/// The frames of a complete input: see [`LineFramer::split`].
#[derive(Debug)]
pub struct Split<'a> {
    framer: LineFramer,
    rest: &'a [u8],
    finished: bool,
}

impl Iterator for Split<'_> {
    type Item = Frame;

    fn next(&mut self) -> Option<Frame> {
        if let Some(frame) = self.framer.next_frame(&mut self.rest) {
            return Some(frame);
        }
        if self.finished {
            return None;
        }
        self.finished = true;
        self.framer.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(input: &[u8]) -> Vec<Frame> {
        LineFramer::split(input, MaxBytes::MIN).collect()
    }

    fn line(line: u64, text: &str) -> Frame {
        Frame::Line {
            line,
            bytes: Bytes::copy_from_slice(text.as_bytes()),
        }
    }

    #[test]
    fn endings_blank_lines_and_the_last_line() {
        assert_eq!(frames(b""), []);
        assert_eq!(frames(b"\n"), [Frame::Blank { line: 1 }]);
        assert_eq!(frames(b"a"), [line(1, "a")]);
        assert_eq!(frames(b"a\n"), [line(1, "a")]);
        assert_eq!(
            frames(b"a\r\nb\n \t\r\n\r\nc\r"),
            [
                line(1, "a"),
                line(2, "b"),
                Frame::Blank { line: 3 },
                Frame::Blank { line: 4 },
                line(5, "c"),
            ]
        );
        // Only one `\r` belongs to the ending; a lone `\r` is not a line break.
        assert_eq!(frames(b"a\r\r\nb\rc\n"), [line(1, "a\r"), line(2, "b\rc")]);
        // Non-ASCII whitespace is not blank: it will fail to parse, loudly.
        assert_eq!(frames("\u{a0}\n".as_bytes()), [line(1, "\u{a0}")]);
        assert_eq!(frames(b"\x0c\n"), [line(1, "\x0c")]);
    }

    #[test]
    fn the_limit_is_on_the_line_without_its_ending() {
        let limit = MaxBytes::MIN.get();
        let at = "x".repeat(limit);
        let over = "x".repeat(limit + 1);
        let input = format!("{at}\n{at}\r\n{over}\n{over}\r\n{at}\r{at}");
        let got = frames(input.as_bytes());
        let too_long = |line, bytes_seen| Frame::TooLong {
            line,
            bytes_seen,
            limit: MaxBytes::MIN,
        };
        assert_eq!(
            got,
            [
                line(1, &at),
                line(2, &at),
                too_long(3, limit as u64 + 1),
                too_long(4, limit as u64 + 1),
                too_long(5, 2 * limit as u64 + 1),
            ]
        );
        let last = format!("{over}\r");
        assert_eq!(frames(last.as_bytes()), [too_long(1, limit as u64 + 1)]);
    }

    #[test]
    fn bad_utf8_is_one_bad_line() {
        assert_eq!(
            frames(b"ok\nab\xc3(\n\xe2\x82\nfine"),
            [
                line(1, "ok"),
                Frame::NotUtf8 {
                    line: 2,
                    valid_up_to: 2
                },
                Frame::NotUtf8 {
                    line: 3,
                    valid_up_to: 0
                },
                line(4, "fine"),
            ]
        );
    }

    #[test]
    fn a_partial_line_is_pending_until_it_ends() {
        let mut framer = LineFramer::new(MaxBytes::MIN);
        let mut rest: &[u8] = b"abc";
        assert_eq!(framer.next_frame(&mut rest), None);
        assert!(rest.is_empty());
        assert_eq!(framer.pending_bytes(), 3);
        let shown = format!("{framer:?}");
        assert!(
            shown.contains("pending_bytes: 3") && !shown.contains("97"),
            "{shown}"
        );
        let mut rest: &[u8] = b"d\nef\n";
        assert_eq!(framer.next_frame(&mut rest), Some(line(1, "abcd")));
        assert_eq!(rest, b"ef\n");
        assert_eq!(framer.next_frame(&mut rest), Some(line(2, "ef")));
        assert_eq!(framer.next_frame(&mut rest), None);
        assert_eq!(framer.finish(), None);
        assert_eq!(framer.lines(), 2);
        assert_eq!(framer.limit(), MaxBytes::MIN);
    }

    #[test]
    fn frames_become_signals_or_typed_errors() {
        let input = b"{\"id\":\"a\",\"instrument\":\"B\",\"side\":\"buy\"}\r\n\n\xff\n";
        let got: Vec<_> = frames(input).iter().map(Frame::to_signal).collect();
        assert_eq!(got[0].clone().unwrap().unwrap().id(), "a");
        assert_eq!(&got[0].clone().unwrap().unwrap().body()[..], &input[..40]);
        assert!(got[1].is_none());
        assert_eq!(got[2], Some(Err(SignalError::NotUtf8 { valid_up_to: 0 })));
        let long = vec![b'x'; 2000];
        let frame = &frames(&long)[0];
        assert_eq!(frame.line(), 1);
        assert_eq!(
            frame.to_signal(),
            Some(Err(SignalError::TooLarge {
                size: SignalSize::Exactly(2000),
                limit: MaxBytes::MIN
            }))
        );
    }
}
