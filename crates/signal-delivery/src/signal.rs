//! The trading signal lives in `signal-model`, which the fuzz targets build
//! without the network stack; these are its names as this crate has always
//! exported them.

pub use signal_model::{MAX_ID_LEN, Side, Signal, SignalError, id_hint, is_valid_id};
