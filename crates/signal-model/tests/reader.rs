//! The async reader: the same frames as the framer, from a real socket on
//! 127.0.0.1, a read error as its own last item, and no input lost when a
//! read is cancelled.
#![cfg(feature = "tokio")]
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use signal_model::{Frame, FrameReader, LineFramer, MaxBytes, ReadError};
use tokio::io::{AsyncRead, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

const LIMIT: MaxBytes = MaxBytes::MIN;

async fn read_all<R: AsyncRead + Unpin>(
    reader: &mut FrameReader<R>,
) -> Vec<Result<Frame, ReadError>> {
    let mut items = Vec::new();
    while let Some(item) = reader.next_frame().await {
        items.push(item);
    }
    items
}

fn stream_input() -> Vec<u8> {
    let mut input = Vec::new();
    for i in 0..200 {
        input.extend_from_slice(
            format!(r#"{{"id":"s{i}","instrument":"B","side":"buy"}}"#).as_bytes(),
        );
        input.extend_from_slice(match i % 5 {
            0 => b"\r\n".as_slice(),
            1 => b"\n\n".as_slice(),
            _ => b"\n".as_slice(),
        });
        if i == 50 {
            input.extend_from_slice(&vec![b'x'; 300_000]);
            input.push(b'\n');
        }
        if i == 120 {
            input.extend_from_slice(b"\xff\xfe\n");
        }
    }
    input.extend_from_slice(b"{\"id\":\"last\",\"instrument\":\"B\",\"side\":\"sell\"}");
    input
}

#[tokio::test]
async fn frames_from_a_socket_match_the_framer() {
    let input = stream_input();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let sent = input.clone();
    let writer = tokio::spawn(async move {
        let mut stream = TcpStream::connect(address).await.unwrap();
        // Odd-sized writes, so lines straddle reads.
        for piece in sent.chunks(7919) {
            stream.write_all(piece).await.unwrap();
        }
        stream.shutdown().await.unwrap();
    });
    let (socket, _) = listener.accept().await.unwrap();
    let mut reader = FrameReader::new(socket, LIMIT);
    let items = read_all(&mut reader).await;
    writer.await.unwrap();

    let frames: Vec<Frame> = items.into_iter().map(Result::unwrap).collect();
    let expected: Vec<Frame> = LineFramer::split(&input, LIMIT).collect();
    assert_eq!(frames, expected);
    assert!(frames.iter().any(|f| matches!(
        f,
        Frame::TooLong {
            bytes_seen: 300_000,
            ..
        }
    )));
    assert!(frames.iter().any(|f| matches!(f, Frame::NotUtf8 { .. })));
    assert!(reader.framer().buffer_capacity() <= LIMIT.get() + 1);
    assert!(reader.next_frame().await.is_none(), "the end is sticky");
}

/// A source that yields its chunks, one per read, then fails (or ends).
struct Scripted {
    reads: Vec<io::Result<Vec<u8>>>,
}

impl AsyncRead for Scripted {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.reads.is_empty() {
            return Poll::Ready(Ok(()));
        }
        match self.reads.remove(0) {
            Ok(bytes) => {
                buf.put_slice(&bytes);
                Poll::Ready(Ok(()))
            }
            Err(e) => Poll::Ready(Err(e)),
        }
    }
}

#[tokio::test]
async fn a_read_error_is_the_last_item_and_names_the_line() {
    let source = Scripted {
        reads: vec![
            Ok(b"{\"a\":1}\n\n{\"b\"".to_vec()),
            Err(io::Error::new(io::ErrorKind::Interrupted, "signal")),
            Ok(b":2".to_vec()),
            Err(io::Error::new(
                io::ErrorKind::ConnectionReset,
                "peer went away",
            )),
            Ok(b"}\n{\"never\":1}\n".to_vec()),
        ],
    };
    let mut reader = FrameReader::new(source, LIMIT);
    let items = read_all(&mut reader).await;
    assert_eq!(items.len(), 3, "{items:?}");
    assert_eq!(
        *items[0].as_ref().unwrap(),
        Frame::Line {
            line: 1,
            bytes: "{\"a\":1}".into()
        }
    );
    assert_eq!(*items[1].as_ref().unwrap(), Frame::Blank { line: 2 });
    let error = items[2].as_ref().unwrap_err();
    // Interrupted was retried; the reset is reported, with the partial third line.
    assert_eq!((error.line, error.pending_bytes), (3, 6));
    assert_eq!(error.source.kind(), io::ErrorKind::ConnectionReset);
    let message = error.to_string();
    assert!(message.contains("line 3 (6 bytes of it read)"), "{message}");
    assert!(message.contains("peer went away"), "{message}");
    assert!(reader.next_frame().await.is_none());
}

#[tokio::test]
async fn an_error_while_skipping_a_long_line_counts_what_was_read() {
    let source = Scripted {
        reads: vec![Ok(vec![b'x'; 5000]), Err(io::Error::other("disk"))],
    };
    let mut reader = FrameReader::new(source, LIMIT);
    let items = read_all(&mut reader).await;
    let [Err(error)] = items.as_slice() else {
        panic!("{items:?}");
    };
    assert_eq!((error.line, error.pending_bytes), (1, 5000));
}

#[tokio::test(start_paused = true)]
async fn a_cancelled_read_loses_nothing() {
    let (mut writer, source) = tokio::io::duplex(64);
    let mut reader = FrameReader::new(source, LIMIT);
    writer.write_all(b"{\"id\":").await.unwrap();
    // Nothing completes the line: the read is abandoned at the timeout (the
    // paused clock jumps there).
    let waited = tokio::time::timeout(Duration::from_secs(5), reader.next_frame()).await;
    assert!(waited.is_err());
    writer.write_all(b"\"a\"}\n").await.unwrap();
    drop(writer);
    let items = read_all(&mut reader).await;
    let frames: Vec<Frame> = items.into_iter().map(Result::unwrap).collect();
    assert_eq!(
        frames,
        [Frame::Line {
            line: 1,
            bytes: "{\"id\":\"a\"}".into()
        }]
    );
}

#[tokio::test]
async fn debug_does_not_dump_the_input() {
    let input: &[u8] = b"{\"secret_field\":1}\n{\"partial_field\"";
    let mut reader = FrameReader::new(input, LIMIT);
    // The first line is framed; the second is still in the read chunk.
    let _ = reader.next_frame().await;
    let shown = format!("{reader:?}");
    assert!(
        !shown.contains("secret_field") && !shown.contains("partial_field"),
        "{shown}"
    );
    assert!(shown.contains("unread: 16"), "{shown}");
    let source = reader.into_inner();
    assert!(source.is_empty());
}
