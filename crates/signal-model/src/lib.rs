//! The trading signal: parsed, validated and bounded before anything else
//! sees it. No runtime, no network: the parser's fuzz targets build from this
//! crate alone, and the `send` and `enqueue` commands read their input
//! through the same framer.
//!
//! # One signal
//!
//! [`Signal::from_json`] checks, in order: the JSON syntax and duplicate keys
//! at any depth (one pass), then that it is an object, then each field. The
//! body that is signed and sent is the input itself, byte for byte.
//!
//! ```
//! use signal_model::{Signal, SignalError};
//!
//! let signal = Signal::from_json(br#"{"id":"sig-1","instrument":"BTC-USD","side":"buy"}"#)?;
//! assert_eq!(signal.id(), "sig-1");
//!
//! // serde_json would keep the last "side" and accept this; receivers that
//! // keep the first would read "hold". Refused, with the place named.
//! let error = Signal::from_json(br#"{"id":"sig-2","instrument":"X","side":"hold","side":"buy"}"#)
//!     .unwrap_err();
//! assert_eq!(
//!     error,
//!     SignalError::DuplicateKey { key: "side".into(), path: "side".into() }
//! );
//! let nested = Signal::from_json(br#"{"legs":[{"side":"buy","side":"sell"}]}"#).unwrap_err();
//! assert!(nested.to_string().contains("`legs[0].side`"));
//! assert_eq!(nested.class(), "invalid_signal:duplicate_key");
//! # Ok::<(), SignalError>(())
//! ```
//!
//! # A stream of signals
//!
//! [`LineFramer`] cuts newline-delimited input into [`Frame`]s, holding at
//! most one line of at most [`MaxBytes`] (default 1 MiB, the
//! `SIGNAL_MAX_BYTES` setting). A bad line is one frame, and reading goes on:
//!
//! ```
//! use signal_model::{Frame, LineFramer, MaxBytes, SignalError, SignalSize};
//!
//! let limit = MaxBytes::MIN; // 1 KiB
//! let mut input = b"{\"id\":\"a\",\"instrument\":\"B\",\"side\":\"buy\"}\n".to_vec();
//! input.extend_from_slice(&[b'x'; 5000]); // a line over the limit
//! input.extend_from_slice(b"\n\n{\"id\":\"b\",\"instrument\":\"B\",\"side\":\"sell\"}");
//!
//! let mut framer = LineFramer::new(limit);
//! let mut outcomes = Vec::new();
//! for chunk in input.chunks(100) {
//!     let mut rest = chunk;
//!     while let Some(frame) = framer.next_frame(&mut rest) {
//!         outcomes.push((frame.line(), frame.to_signal()));
//!     }
//! }
//! outcomes.extend(framer.finish().map(|frame| (frame.line(), frame.to_signal())));
//!
//! assert_eq!(outcomes[0].1.clone().unwrap()?.id(), "a");
//! assert_eq!(
//!     outcomes[1],
//!     (2, Some(Err(SignalError::TooLarge { size: SignalSize::Exactly(5000), limit })))
//! );
//! assert_eq!(outcomes[2], (3, None)); // blank: counted, not a signal
//! assert_eq!(outcomes[3].1.clone().unwrap()?.id(), "b");
//! assert!(framer.buffer_capacity() <= limit.get() + 1);
//! # Ok::<(), SignalError>(())
//! ```
//!
//! With the `tokio` feature, `FrameReader` yields the same frames from any
//! `tokio::io::AsyncRead`.

mod error;
mod frame;
mod limit;
#[cfg(feature = "tokio")]
mod reader;
mod reason;
mod render;
mod scan;
mod signal;

pub use error::{SignalError, SignalSize};
pub use frame::{Frame, LineFramer, Split};
pub use limit::{MaxBytes, MaxBytesError, SIGNAL_MAX_BYTES};
#[cfg(feature = "tokio")]
pub use reader::{FrameReader, ReadError};
pub use reason::{FailureReason, ParseFailureReasonError};
pub use signal::{MAX_ID_LEN, Side, Signal, id_hint, is_valid_id};

// The README's examples run as doctests, so the crates.io page cannot drift.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
