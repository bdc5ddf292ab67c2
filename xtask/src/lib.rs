//! Project tasks behind `cargo xtask`. The binary only parses and dispatches;
//! the tasks are a library so the integration suite can run the drill as a test.

pub mod bench;
mod flags;
pub mod verify_alert;
