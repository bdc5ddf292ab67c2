//! Signs a signal the way `SignalClient` does and verifies it the way a
//! receiver does with `Verifier`: the genuine request passes; a changed
//! body, another key and a stale timestamp are refused with 401.
//!
//! ```sh
//! cargo run -p hmac-client --example sign_and_verify
//! ```
//!
//! Needs the `verify` feature (in the default `client`); no network. Exits
//! non-zero if any check does not come out as described.

use std::error::Error;
use std::time::{SystemTime, UNIX_EPOCH};

use hmac_client::{
    HEADER_ID, HEADER_SIGNATURE, HEADER_TIMESTAMP, SigningKeys, Verifier, VerifyErrorKind, sign,
};
use http::{HeaderMap, HeaderValue};

const SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
const OTHER_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// The three Standard Webhooks headers of one attempt.
fn signed_headers(
    keys: &SigningKeys,
    id: &str,
    timestamp: i64,
    body: &[u8],
) -> Result<HeaderMap, Box<dyn Error>> {
    let mut headers = HeaderMap::new();
    headers.insert(HEADER_ID, HeaderValue::from_str(id)?);
    headers.insert(HEADER_TIMESTAMP, HeaderValue::from(timestamp));
    headers.insert(
        HEADER_SIGNATURE,
        HeaderValue::from_str(&sign(keys, id, timestamp, body))?,
    );
    Ok(headers)
}

fn main() -> Result<(), Box<dyn Error>> {
    let keys = SigningKeys::parse(SECRET)?;
    let verifier = Verifier::new(keys.clone());
    let now = i64::try_from(SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs())?;
    let body = br#"{"id":"sig-1","instrument":"BTC-USD","side":"buy"}"#;

    let headers = signed_headers(&keys, "sig-1", now, body)?;
    let signature = headers
        .get(HEADER_SIGNATURE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    println!("signed sig-1 at {now}: {signature}");
    let verified = verifier.verify(&headers, body)?;
    println!("genuine request: verified, id {}", verified.id);
    if verified.id != "sig-1" || verified.timestamp != now {
        return Err("the verified id or timestamp differs from what was signed".into());
    }

    let tampered = br#"{"id":"sig-1","instrument":"BTC-USD","side":"sell"}"#;
    let other_key = signed_headers(&SigningKeys::parse(OTHER_SECRET)?, "sig-1", now, body)?;
    let stale = signed_headers(&keys, "sig-1", now - 3600, body)?;
    let refusals: [(&str, &HeaderMap, &[u8], VerifyErrorKind); 3] = [
        (
            "changed body",
            &headers,
            tampered,
            VerifyErrorKind::BadSignature,
        ),
        (
            "another key",
            &other_key,
            body,
            VerifyErrorKind::BadSignature,
        ),
        ("an hour old", &stale, body, VerifyErrorKind::Stale),
    ];
    for (what, headers, body, expected) in refusals {
        match verifier.verify(headers, body) {
            Ok(_) => return Err(format!("{what}: accepted, expected {expected:?}").into()),
            Err(error) => {
                println!("{what}: refused with {} ({error})", error.status());
                if error.kind() != expected || error.status() != 401 {
                    return Err(format!("{what}: expected {expected:?} and 401").into());
                }
            }
        }
    }
    println!("ok: the genuine request verified and the three forgeries were refused");
    Ok(())
}
