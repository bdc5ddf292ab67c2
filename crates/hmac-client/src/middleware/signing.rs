//! `SigningMiddleware`: the Standard Webhooks v1 headers on every request
//! of a reqwest-middleware client.

use std::fmt;
use std::sync::Arc;

use http::{Extensions, HeaderValue};
use reqwest::{Request, Response};
use reqwest_middleware::{Middleware, Next};
use retry_core::{RandomSource, ThreadRandom};

use crate::secret::SigningKeys;
use crate::sign::sign;
use crate::verify::unix_now;
use crate::wire::{
    HEADER_ID, HEADER_IDEMPOTENCY_KEY, HEADER_SIGNATURE, HEADER_TIMESTAMP, MAX_ID_LEN, is_valid_id,
};

/// Signs every request that passes through it: `webhook-id`,
/// `webhook-timestamp` and `webhook-signature` (one `v1,` entry per active
/// key), plus `Idempotency-Key` equal to the id.
///
/// The id is the request's own `webhook-id` header when the caller set one
/// (it must match `[A-Za-z0-9_-]{1,255}`), or a generated `msg_` followed by
/// 32 hex digits. A generated id is kept in the request's extensions, so a
/// [`RetryMiddleware`](super::RetryMiddleware) attached before this one
/// resends the same id on every attempt. See the [module](super) for a
/// complete client.
///
/// `Debug` shows no key material.
#[derive(Clone)]
pub struct SigningMiddleware {
    keys: Arc<SigningKeys>,
    now: Arc<dyn Fn() -> i64 + Send + Sync>,
}

/// Why [`SigningMiddleware`] refused to send a request. It reaches the
/// caller as `reqwest_middleware::Error::Middleware`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SigningError {
    /// The request's `webhook-id` header is not a valid id. The value is not
    /// repeated: it may be anything the caller put there.
    #[error(
        "the request's webhook-id header is not a valid id ({len} bytes): use 1 to {max} characters of A-Z, a-z, 0-9, '_' and '-', or leave the header out to have one generated",
        max = MAX_ID_LEN
    )]
    InvalidId {
        /// The header's length in bytes.
        len: usize,
    },
    /// The body is a stream, whose bytes are not known before sending, and
    /// the signature must cover them.
    #[error(
        "the request body is a stream and cannot be signed: the signature covers the exact body bytes, so pass the body as bytes or a string"
    )]
    StreamingBody,
    /// A header the signer computed is not a valid header value (not
    /// expected: ids are checked and signatures are base64).
    #[error("the {header} header the signer computed is not a valid header value")]
    InvalidHeader {
        /// The header's name.
        header: &'static str,
    },
}

/// The id generated for a request without a `webhook-id` header, kept in
/// its extensions so that every attempt of the request reuses it.
#[derive(Debug, Clone)]
struct GeneratedId(String);

impl SigningMiddleware {
    /// A signer with these keys (all of them sign, for a rotation).
    ///
    /// ```
    /// use hmac_client::SigningKeys;
    /// use hmac_client::middleware::SigningMiddleware;
    ///
    /// let keys = SigningKeys::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")?;
    /// let signer = SigningMiddleware::new(keys);
    /// assert!(!format!("{signer:?}").contains("MfKQ9r8G"));
    /// # Ok::<(), hmac_client::SecretError>(())
    /// ```
    pub fn new(keys: SigningKeys) -> SigningMiddleware {
        SigningMiddleware {
            keys: Arc::new(keys),
            now: Arc::new(unix_now),
        }
    }

    /// Replaces the clock that gives each attempt's `webhook-timestamp`
    /// (Unix seconds), for tests.
    #[must_use]
    pub fn with_unix_time(mut self, now: Arc<dyn Fn() -> i64 + Send + Sync>) -> SigningMiddleware {
        self.now = now;
        self
    }

    fn id(&self, request: &Request, extensions: &mut Extensions) -> Result<String, SigningError> {
        if let Some(value) = request.headers().get(HEADER_ID) {
            return match value.to_str() {
                Ok(id) if is_valid_id(id) => Ok(id.to_owned()),
                _ => Err(SigningError::InvalidId { len: value.len() }),
            };
        }
        if let Some(GeneratedId(id)) = extensions.get::<GeneratedId>() {
            return Ok(id.clone());
        }
        let id = generate_id();
        extensions.insert(GeneratedId(id.clone()));
        Ok(id)
    }

    fn sign_request(
        &self,
        request: &mut Request,
        extensions: &mut Extensions,
    ) -> Result<(), SigningError> {
        let id = self.id(request, extensions)?;
        let body: &[u8] = match request.body() {
            None => &[],
            Some(body) => body.as_bytes().ok_or(SigningError::StreamingBody)?,
        };
        let timestamp = (self.now)();
        let signature = header(HEADER_SIGNATURE, &sign(&self.keys, &id, timestamp, body))?;
        let id = header(HEADER_ID, &id)?;
        let headers = request.headers_mut();
        headers.insert(HEADER_TIMESTAMP, HeaderValue::from(timestamp));
        headers.insert(HEADER_SIGNATURE, signature);
        headers.insert(HEADER_IDEMPOTENCY_KEY, id.clone());
        headers.insert(HEADER_ID, id);
        Ok(())
    }
}

/// A header value from text that is ASCII by construction (a checked id,
/// base64); the error exists so that a bug shows as an error, not a panic.
fn header(name: &'static str, value: &str) -> Result<HeaderValue, SigningError> {
    HeaderValue::from_str(value).map_err(|_| SigningError::InvalidHeader { header: name })
}

/// `msg_` and 128 random bits in hex: unique enough to be an idempotency
/// key, and within the id alphabet.
fn generate_id() -> String {
    let mut rng = ThreadRandom;
    format!("msg_{:016x}{:016x}", rng.next_u64(), rng.next_u64())
}

#[async_trait::async_trait]
impl Middleware for SigningMiddleware {
    async fn handle(
        &self,
        mut req: Request,
        extensions: &mut Extensions,
        next: Next<'_>,
    ) -> reqwest_middleware::Result<Response> {
        self.sign_request(&mut req, extensions)
            .map_err(reqwest_middleware::Error::middleware)?;
        next.run(req, extensions).await
    }
}

impl fmt::Debug for SigningMiddleware {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningMiddleware")
            .field("keys", &self.keys)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_are_valid_and_distinct() {
        let a = generate_id();
        let b = generate_id();
        assert_ne!(a, b);
        for id in [a, b] {
            assert!(is_valid_id(&id), "{id}");
            assert_eq!(id.len(), 4 + 32, "{id}");
        }
    }
}
