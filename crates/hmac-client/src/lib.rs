//! Standard Webhooks v1 (HMAC-SHA256) signing client for trading signals, and
//! the matching verifier for receivers. Every retry of a signal keeps the same
//! `webhook-id` (the idempotency key) and gets a fresh timestamp and signature.
//!
//! # Wire format
//!
//! Every request carries:
//!
//! - `webhook-id`: the signal's id, `[A-Za-z0-9_-]{1,255}`, the same on every
//!   retry; also sent as `Idempotency-Key`;
//! - `webhook-timestamp`: Unix seconds of *this* attempt;
//! - `webhook-signature`: `v1,<base64 HMAC-SHA256>` per active key, separated
//!   by spaces, over `{id}.{timestamp}.{body}` with the exact body bytes sent.
//!
//! Secrets are `whsec_<base64>` (24 to 64 byte keys, 32 recommended); several,
//! separated by spaces, during a rotation. They live in [`secrecy`] boxes and
//! no `Debug`, `Display` or error of this crate shows them. Receivers in other
//! languages can use the official Standard Webhooks libraries.
//!
//! Secrets in the server URL's query (`?api_key=...`) are treated the same
//! way: the URL is a [`ServerUrl`], whose `Display` and `Debug` show
//! [`redact_url`]'s form (query values replaced by `REDACTED`), and so do
//! the client's errors and log lines. Use [`redact_url`] wherever else a URL
//! is shown.
//!
//! # Sender and receiver
//!
//! - The sender is [`SignalClient`] (feature `client`): one signed POST per
//!   call, every failure classified for the retry loop.
//! - The receiver is [`Verifier`], optionally with a [`ReplayGuard`]: the
//!   checks, their order, and a complete axum handler are on [`Verifier`];
//!   the replay rules, with their table, on [`ReplayGuard`].
//! - The pure parsers, for fuzzing or for other crates: [`WebhookHeaders`]
//!   (the three headers) and [`parse_retry_after`].
//!
//! Signing needs no network:
//!
//! ```
//! # #[cfg(feature = "verify")] {
//! use hmac_client::{SigningKeys, sign};
//!
//! let keys = SigningKeys::parse("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD").unwrap();
//! let signature = sign(
//!     &keys,
//!     "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk",
//!     1649367553,
//!     br#"{"email":"test@example.com","username":"test_user"}"#,
//! );
//! assert_eq!(signature, "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=");
//! # }
//! ```
//!
//! # Features
//!
//! | feature | what it adds | dependencies it brings |
//! |---|---|---|
//! | *(none)* | the wire names (`HEADER_*`) and the webhook-id rule ([`is_valid_id`], [`MAX_ID_LEN`]) | none |
//! | `verify` | secrets ([`SigningKeys`]), [`sign`], [`WebhookHeaders`], [`Verifier`], [`ReplayGuard`], [`ClientConfig`] with [`ServerUrl`] and [`redact_url`], [`parse_retry_after`] | `hmac`, `sha2`, `base64`, `secrecy`, `http` (types only), `url`, `httpdate`, `thiserror`; no HTTP client, no async runtime |
//! | `client` (default; implies `verify`) | [`SignalClient`], [`PostError`] and its classification | `reqwest` (rustls), `retry-core`, `bytes`, `tracing` |
//! | `middleware` (implies `client`) | `middleware::SigningMiddleware` and `middleware::RetryMiddleware` for a reqwest-middleware 0.4 client | `reqwest-middleware`, `async-trait`, `tokio` (timer) |
//! | `axum` (implies `verify`) | `axum::VerifiedWebhook`, an extractor that verifies with the [`Verifier`] in the router's state and rejects with the right status and a JSON problem body | `axum` |
//!
//! A receiver, a fuzz target or a configuration crate depends on
//! `hmac-client = { default-features = false, features = ["verify"] }`.
//!
// Without `client`, its items do not exist: their links lead to the table above.
#![cfg_attr(
    feature = "client",
    doc = "[`SignalClient`]: crate::SignalClient\n[`PostError`]: crate::PostError"
)]
#![cfg_attr(
    not(feature = "client"),
    doc = "[`SignalClient`]: #features\n[`PostError`]: #features"
)]

#[cfg(feature = "axum")]
pub mod axum;
#[cfg(feature = "client")]
mod client;
#[cfg(feature = "verify")]
mod config;
#[cfg(feature = "client")]
mod error;
#[cfg(feature = "verify")]
mod headers;
#[cfg(feature = "middleware")]
pub mod middleware;
#[cfg(feature = "verify")]
mod replay;
#[cfg(feature = "verify")]
mod retry_after;
#[cfg(feature = "verify")]
mod secret;
#[cfg(feature = "verify")]
mod server_url;
#[cfg(feature = "verify")]
mod sign;
#[cfg(feature = "verify")]
mod verify;
mod wire;

#[cfg(feature = "client")]
pub use client::{ClientBuildError, Receipt, SignalClient};
#[cfg(feature = "verify")]
pub use config::{
    ClientConfig, ClientConfigError, DEFAULT_CONNECT_TIMEOUT, DEFAULT_REQUEST_TIMEOUT,
    ENV_HMAC_SECRET, ENV_REQUEST_TIMEOUT_SECONDS, ENV_SERVER_URL, REQUEST_TIMEOUT_RANGE_SECS,
};
#[cfg(feature = "client")]
pub use error::{MAX_BODY_EXCERPT_CHARS, PostError, PostErrorKind};
#[cfg(feature = "verify")]
pub use headers::{MAX_SIGNATURE_ENTRIES, MAX_SIGNATURE_HEADER_BYTES, WebhookHeaders};
#[cfg(feature = "verify")]
pub use replay::{DEFAULT_REPLAY_CAPACITY, ReplayGuard};
#[cfg(feature = "verify")]
pub use retry_after::{MAX_RETRY_AFTER, parse_retry_after};
#[cfg(feature = "verify")]
pub use secret::{
    MAX_KEY_BYTES, MAX_KEYS, MIN_KEY_BYTES, SECRET_PREFIX, SecretError, SigningKeys, SigningSecret,
};
#[cfg(feature = "verify")]
pub use server_url::{REDACTED, ServerUrl, ServerUrlError, redact_url};
#[cfg(feature = "verify")]
pub use sign::sign;
#[cfg(feature = "verify")]
pub use verify::{
    DEFAULT_MAX_BODY_BYTES, DEFAULT_TOLERANCE, Verified, Verifier, VerifyError, VerifyErrorKind,
};
pub use wire::{
    HEADER_ID, HEADER_IDEMPOTENCY_KEY, HEADER_SIGNATURE, HEADER_TIMESTAMP, MAX_ID_LEN, is_valid_id,
};

// The README's examples run as doctests (they need the `verify` feature).
#[cfg(all(doctest, feature = "verify"))]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
