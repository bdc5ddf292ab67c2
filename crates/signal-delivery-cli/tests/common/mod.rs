//! What every subprocess test of the binary shares: its path, the test
//! secrets, and a signal line.

#![allow(dead_code, unreachable_pub)]

/// The binary under test, built by cargo for this package's tests.
pub const BIN: &str = env!("CARGO_BIN_EXE_signal-delivery");
/// The Standard Webhooks test vector's secret.
pub const SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
/// A bot token that must never appear in any output.
pub const TOKEN: &str = "123456:AAH-secret-token-value-for-cli-test";

/// A valid signal line (without the newline).
pub fn signal_json(id: &str) -> String {
    format!(r#"{{"id":"{id}","instrument":"BTC-USD","side":"buy","price":101.5}}"#)
}
