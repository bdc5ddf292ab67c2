//! Delivers trading signals: signs and posts them with `hmac-client`, retries
//! transient failures with `retry-core`, and alerts the owner on Telegram with
//! `ops-alerts` when a signal cannot be delivered. Nothing is dropped silently.
