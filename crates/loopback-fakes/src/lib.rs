//! Real HTTP fakes bound to 127.0.0.1, for tests and the `verify-alert` drill:
//! a fake Telegram Bot API that records messages and answers as scripted, and a
//! Standard Webhooks signal server that verifies every request and fails on demand.

pub mod signal_server;
pub mod telegram;
