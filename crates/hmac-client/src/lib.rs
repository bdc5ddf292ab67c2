//! Standard Webhooks v1 (HMAC-SHA256) signing client for trading signals, and
//! the matching verifier for receivers. Every retry of a signal keeps the same
//! `webhook-id` (the idempotency key) and gets a fresh timestamp and signature.
