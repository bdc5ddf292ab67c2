//! `VerifiedWebhook`, an axum extractor for receivers (feature `axum`): it
//! takes the [`Verifier`] from the router's state (`FromRef`), reads the
//! body up to the verifier's limit, verifies, and rejects with the right
//! status and a small JSON problem body — the same answer
//! [`VerifyError::response_parts`] gives, so a sender retries or stops as
//! the status says.
//!
//! ```
//! use axum::{Router, extract::FromRef, routing::post};
//! use hmac_client::axum::VerifiedWebhook;
//! use hmac_client::{SigningKeys, Verifier};
//!
//! #[derive(Clone)]
//! struct App {
//!     verifier: Verifier,
//! }
//!
//! impl FromRef<App> for Verifier {
//!     fn from_ref(app: &App) -> Verifier {
//!         app.verifier.clone()
//!     }
//! }
//!
//! async fn receive(mut hook: VerifiedWebhook) -> &'static str {
//!     if !hook.verified.is_duplicate() {
//!         // ... act on hook.body (verified bytes) once ...
//!         hook.verified.complete();
//!     }
//!     "ok"
//! }
//!
//! let keys = SigningKeys::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
//! let app: Router = Router::new()
//!     .route("/signals", post(receive))
//!     .with_state(App { verifier: Verifier::new(keys) });
//! # let _ = app;
//! ```

use axum::body::Bytes;
use axum::extract::{FromRef, FromRequest, Request};
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::verify::{Verified, Verifier, VerifyError, VerifyErrorKind};

/// A request whose Standard Webhooks signature verified: its `webhook-id`
/// and timestamp, and the body exactly as signed.
///
/// Call [`Verified::complete`] on `verified` once the webhook was handled,
/// so that a replay guard answers later deliveries of the id as duplicates;
/// dropping it uncompleted lets the sender's retry through.
#[derive(Debug)]
pub struct VerifiedWebhook {
    /// The verified id and timestamp.
    pub verified: Verified,
    /// The body, as signed.
    pub body: Bytes,
}

/// Why a request was refused: the status, headers (`Retry-After` when the
/// replay guard is full) and a JSON body `{"error": "...", "kind": "..."}`
/// that names no secret and does not say which check failed beyond its kind.
#[derive(Debug)]
pub struct WebhookRejection {
    status: StatusCode,
    headers: HeaderMap,
    error: &'static str,
    kind: &'static str,
}

impl WebhookRejection {
    /// The status answered.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The failed check, e.g. `bad_signature`, `stale`, `too_large`.
    pub fn kind(&self) -> &'static str {
        self.kind
    }

    fn from_error(error: &VerifyError) -> WebhookRejection {
        let (status, headers, message) = error.response_parts();
        WebhookRejection {
            status,
            headers,
            error: message,
            kind: kind_name(error.kind()),
        }
    }
}

impl IntoResponse for WebhookRejection {
    fn into_response(self) -> Response {
        // Both strings are fixed, lowercase ASCII: no escaping needed.
        let body = format!(r#"{{"error":"{}","kind":"{}"}}"#, self.error, self.kind);
        let mut response = (self.status, self.headers, body).into_response();
        response
            .headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        response
    }
}

fn kind_name(kind: VerifyErrorKind) -> &'static str {
    match kind {
        VerifyErrorKind::Malformed => "malformed",
        VerifyErrorKind::TooLarge => "too_large",
        VerifyErrorKind::Stale => "stale",
        VerifyErrorKind::Future => "future",
        VerifyErrorKind::BadSignature => "bad_signature",
        VerifyErrorKind::InFlight => "in_flight",
        VerifyErrorKind::Replayed => "replayed",
        VerifyErrorKind::GuardFull => "guard_full",
    }
}

impl<S> FromRequest<S> for VerifiedWebhook
where
    Verifier: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = WebhookRejection;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let verifier = Verifier::from_ref(state);
        let (parts, body) = request.into_parts();
        // One byte over the limit is enough for the verifier to refuse it
        // as too large; nothing larger is ever held.
        let limit = verifier.max_body_bytes().saturating_add(1);
        let body = match axum::body::to_bytes(body, limit).await {
            Ok(body) => body,
            Err(_) => {
                return Err(WebhookRejection {
                    status: StatusCode::PAYLOAD_TOO_LARGE,
                    headers: HeaderMap::new(),
                    error: "webhook body too large or unreadable",
                    kind: "too_large",
                });
            }
        };
        match verifier.verify(&parts.headers, &body) {
            Ok(verified) => Ok(VerifiedWebhook { verified, body }),
            Err(error) => Err(WebhookRejection::from_error(&error)),
        }
    }
}
