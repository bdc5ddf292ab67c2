//! The trading signal: parsed, validated and bounded before anything else
//! sees it.

mod signal;

pub use signal::{MAX_ID_LEN, Side, Signal, SignalError, id_hint, is_valid_id};
