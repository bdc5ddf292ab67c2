//! The line framer over any `tokio::io::AsyncRead` (stdin, a file, a socket):
//! the one way `send` and `enqueue` read their NDJSON input.

use std::{fmt, io};

use tokio::io::{AsyncRead, AsyncReadExt};

use crate::frame::{Frame, LineFramer};
use crate::limit::MaxBytes;

/// How much is read from the source at a time.
const READ_CHUNK: usize = 64 * 1024;

/// Reads [`Frame`]s from an async source, holding at most one read chunk
/// (64 KiB) and one line of at most the limit.
///
/// Yields every line as a frame, then the last line if it had no `\n`, then
/// `None`. A read error is yielded once, as a [`ReadError`] naming the line it
/// interrupted, and ends the frames: what came before it was yielded, what
/// follows it is unknown.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// use signal_model::{Frame, FrameReader, MaxBytes};
///
/// let input: &[u8] = b"{\"a\":1}\n\n";
/// let mut reader = FrameReader::new(input, MaxBytes::DEFAULT);
/// assert_eq!(reader.next_frame().await.unwrap()?, Frame::Line { line: 1, bytes: "{\"a\":1}".into() });
/// assert_eq!(reader.next_frame().await.unwrap()?, Frame::Blank { line: 2 });
/// assert!(reader.next_frame().await.is_none());
/// # Ok::<(), signal_model::ReadError>(())
/// # }).unwrap();
/// ```
pub struct FrameReader<R> {
    source: R,
    framer: LineFramer,
    chunk: Box<[u8]>,
    /// `chunk[start..end]` is read but not yet framed.
    start: usize,
    end: usize,
    done: bool,
}

impl<R> fmt::Debug for FrameReader<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Not the chunk: 64 KiB of input has no place in a log line.
        f.debug_struct("FrameReader")
            .field("framer", &self.framer)
            .field("unread", &(self.end - self.start))
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

/// A read from the source failed; no frames follow.
#[derive(Debug, thiserror::Error)]
#[error("reading the input failed in line {line} ({pending_bytes} bytes of it read): {source}")]
pub struct ReadError {
    /// The line the failure interrupted (the one after the last frame).
    pub line: u64,
    /// Bytes of that line read before the failure (not yielded as a frame).
    pub pending_bytes: u64,
    /// The I/O error.
    #[source]
    pub source: io::Error,
}

impl<R: AsyncRead + Unpin> FrameReader<R> {
    /// A reader of lines of at most `limit` bytes from `source`.
    pub fn new(source: R, limit: MaxBytes) -> FrameReader<R> {
        FrameReader {
            source,
            framer: LineFramer::new(limit),
            chunk: vec![0; READ_CHUNK].into_boxed_slice(),
            start: 0,
            end: 0,
            done: false,
        }
    }

    /// The next frame, a read error, or `None` once the input has ended.
    ///
    /// Cancel safe: if the future is dropped before it completes, no input is
    /// lost and the next call goes on where this one was.
    pub async fn next_frame(&mut self) -> Option<Result<Frame, ReadError>> {
        loop {
            if self.done {
                return None;
            }
            let mut unread = &self.chunk[self.start..self.end];
            let frame = self.framer.next_frame(&mut unread);
            self.start = self.end - unread.len();
            if let Some(frame) = frame {
                return Some(Ok(frame));
            }
            match self.source.read(&mut self.chunk).await {
                Ok(0) => {
                    self.done = true;
                    return self.framer.finish().map(Ok);
                }
                Ok(n) => {
                    self.start = 0;
                    self.end = n;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(source) => {
                    self.done = true;
                    return Some(Err(ReadError {
                        line: self.framer.lines() + 1,
                        pending_bytes: self.framer.pending_bytes(),
                        source,
                    }));
                }
            }
        }
    }

    /// The framer's state (lines so far, buffer capacity).
    pub fn framer(&self) -> &LineFramer {
        &self.framer
    }

    /// The source, e.g. to close it.
    pub fn into_inner(self) -> R {
        self.source
    }
}
