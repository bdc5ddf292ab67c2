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

mod error;
mod limit;
mod render;
mod scan;
mod signal;

pub use error::{SignalError, SignalSize};
pub use limit::{MaxBytes, MaxBytesError, SIGNAL_MAX_BYTES};
pub use signal::{MAX_ID_LEN, Side, Signal, id_hint, is_valid_id};
