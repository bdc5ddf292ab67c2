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
//! # Sender
//!
//! ```no_run
//! use bytes::Bytes;
//! use hmac_client::{ClientConfig, SignalClient};
//! use retry_core::{Classify, Retryability};
//!
//! # async fn send() -> Result<(), Box<dyn std::error::Error>> {
//! // Usually `ClientConfig::from_env()` (SIGNAL_SERVER_URL, SIGNAL_HMAC_SECRET,
//! // SIGNAL_REQUEST_TIMEOUT_SECONDS); every problem is reported at once.
//! let config = ClientConfig::new(
//!     "https://signals.example.com/v1/signals",
//!     "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD",
//! )
//! .map_err(|errors| format!("{} configuration problem(s)", errors.len()))?;
//! let client = SignalClient::new(config)?;
//!
//! // Serialize once; the same id on every retry.
//! let body = Bytes::from_static(br#"{"symbol":"BTCUSDT","side":"buy"}"#);
//! match client.post_signal("sig_2026_11_29_0001", body).await {
//!     Ok(receipt) => println!("delivered: {} in {:?}", receipt.status, receipt.latency),
//!     Err(error) => match error.retryability() {
//!         Retryability::Permanent if error.is_security_failure() => {
//!             eprintln!("signature rejected, escalate: {error}")
//!         }
//!         Retryability::Permanent => eprintln!("will not retry: {error}"),
//!         _ => eprintln!("retry later ({}): {error}", error.error_class()),
//!     },
//! }
//! # Ok(())
//! # }
//! ```
//!
//! Signing needs no network:
//!
//! ```
//! use hmac_client::{ClientConfig, SignalClient, SigningKeys, sign};
//!
//! let keys = SigningKeys::parse("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD").unwrap();
//! let signature = sign(
//!     &keys,
//!     "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk",
//!     1649367553,
//!     br#"{"email":"test@example.com","username":"test_user"}"#,
//! );
//! assert_eq!(signature, "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=");
//!
//! // Building a client does no I/O either; Debug never shows the key.
//! let config = ClientConfig::new("http://127.0.0.1:9/signals", "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD").unwrap();
//! let client = SignalClient::new(config).unwrap();
//! assert!(!format!("{client:?}").contains("C2FVsBQ"));
//! ```
//!
//! # Receiver
//!
//! Verify before parsing the body. With a [`ReplayGuard`], a retry of an id
//! that is still being processed gets 409 (the sender retries later), a retry
//! of a completed id is reported as a duplicate (answer 2xx, do not act
//! again), and an id whose processing failed is released for the next retry.
//!
//! ```
//! use axum::body::Bytes;
//! use axum::extract::State;
//! use axum::http::{HeaderMap, HeaderValue, StatusCode};
//! use axum::response::IntoResponse;
//! use hmac_client::{ReplayGuard, SigningKeys, Verifier, sign};
//!
//! // The handler of an axum route: `post(receive).with_state(verifier)`.
//! async fn receive(State(verifier): State<Verifier>, headers: HeaderMap, body: Bytes) -> impl IntoResponse {
//!     let mut verified = match verifier.verify(&headers, &body) {
//!         Ok(verified) => verified,
//!         // The status says enough; the log says which check failed.
//!         Err(error) => return error.response_parts(),
//!     };
//!     if verified.is_duplicate() {
//!         return (StatusCode::OK, "already processed");
//!     }
//!     // ... parse and act on the body; on failure return a 5xx and the id is
//!     // released when `verified` is dropped ...
//!     verified.complete();
//!     (StatusCode::OK, "accepted")
//! }
//! # let _ = receive;
//!
//! // The same checks, without a server:
//! let keys = SigningKeys::parse("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD").unwrap();
//! let verifier = Verifier::new(keys.clone()).with_replay_guard(ReplayGuard::default());
//! let body = br#"{"symbol":"BTCUSDT","side":"buy"}"#;
//! let now = 1_700_000_000;
//! let mut headers = HeaderMap::new();
//! headers.insert("webhook-id", HeaderValue::from_static("sig_1"));
//! headers.insert("webhook-timestamp", HeaderValue::from(now));
//! headers.insert("webhook-signature", sign(&keys, "sig_1", now, body).parse().unwrap());
//!
//! let mut verified = verifier.verify_at(&headers, body, now).unwrap();
//! assert_eq!(verified.id, "sig_1");
//! // While in flight, the same id is refused with 409 ...
//! assert_eq!(verifier.verify_at(&headers, body, now).unwrap_err().status(), StatusCode::CONFLICT);
//! verified.complete();
//! // ... and once completed it is a duplicate to acknowledge.
//! assert!(verifier.verify_at(&headers, body, now).unwrap().is_duplicate());
//!
//! // A tampered body fails, and the public message does not say why.
//! let error = verifier.verify_at(&headers, b"{}", now).unwrap_err();
//! assert_eq!(error.status(), StatusCode::UNAUTHORIZED);
//! assert_eq!(error.public_message(), "webhook verification failed");
//! ```

mod client;
mod config;
mod error;
mod replay;
mod secret;
mod sign;
mod verify;

pub use client::{ClientBuildError, Receipt, SignalClient};
pub use config::{
    ClientConfig, ClientConfigError, DEFAULT_CONNECT_TIMEOUT, DEFAULT_REQUEST_TIMEOUT,
    ENV_HMAC_SECRET, ENV_REQUEST_TIMEOUT_SECONDS, ENV_SERVER_URL, REQUEST_TIMEOUT_RANGE_SECS,
};
pub use error::{MAX_BODY_EXCERPT_CHARS, PostError, PostErrorKind};
pub use replay::{DEFAULT_REPLAY_CAPACITY, DEFAULT_REPLAY_TTL, ReplayGuard};
pub use secret::{
    MAX_KEY_BYTES, MAX_KEYS, MIN_KEY_BYTES, SECRET_PREFIX, SecretError, SigningKeys, SigningSecret,
};
pub use sign::{
    HEADER_ID, HEADER_IDEMPOTENCY_KEY, HEADER_SIGNATURE, HEADER_TIMESTAMP, MAX_ID_LEN, is_valid_id,
    sign,
};
pub use verify::{
    DEFAULT_MAX_BODY_BYTES, DEFAULT_TOLERANCE, MAX_SIGNATURE_ENTRIES, MAX_SIGNATURE_HEADER_BYTES,
    Verified, Verifier, VerifyError, VerifyErrorKind,
};
