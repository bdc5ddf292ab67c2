//! A receiver on 127.0.0.1 built with `hmac_client::axum::VerifiedWebhook`,
//! sent one genuine and one forged request with reqwest: the genuine one is
//! answered 200, the forged one (signed with another key) 401 with a small
//! JSON problem body.
//!
//! ```sh
//! cargo run -p hmac-client --features axum --example axum_receiver
//! ```
//!
//! Exits non-zero if either status differs. Takes well under a second.

mod receiver {
    use std::error::Error;
    use std::time::{SystemTime, UNIX_EPOCH};

    use axum::Router;
    use axum::routing::post;
    use hmac_client::axum::VerifiedWebhook;
    use hmac_client::{HEADER_ID, HEADER_SIGNATURE, HEADER_TIMESTAMP, SigningKeys, Verifier, sign};

    const SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
    const FORGER_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

    /// The handler only runs for requests that verified.
    async fn receive(mut hook: VerifiedWebhook) -> String {
        let answer = format!("accepted {} ({} bytes)", hook.verified.id, hook.body.len());
        hook.verified.complete();
        answer
    }

    /// POSTs `body` signed with `keys`; returns the status and the answer.
    async fn send(
        client: &reqwest::Client,
        url: &str,
        keys: &SigningKeys,
        id: &str,
        body: &'static [u8],
    ) -> Result<(u16, String), Box<dyn Error>> {
        let now = i64::try_from(SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs())?;
        let response = client
            .post(url)
            .header(HEADER_ID, id)
            .header(HEADER_TIMESTAMP, now)
            .header(HEADER_SIGNATURE, sign(keys, id, now, body))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await?;
        let status = response.status().as_u16();
        Ok((status, response.text().await?))
    }

    pub(crate) async fn run() -> Result<(), Box<dyn Error>> {
        let keys = SigningKeys::parse(SECRET)?;
        // The `Verifier` is the router's state (`FromRef` takes it from a
        // larger state just as well).
        let app = Router::new()
            .route("/signals", post(receive))
            .with_state(Verifier::new(keys.clone()));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}/signals", listener.local_addr()?);
        let server = tokio::spawn(async move { axum::serve(listener, app).await });
        println!("receiver listening on {url}");

        let client = reqwest::Client::builder().no_proxy().build()?;
        let body = br#"{"id":"sig-1","instrument":"BTC-USD","side":"buy"}"#;
        let (genuine, answer) = send(&client, &url, &keys, "sig-1", body).await?;
        println!("genuine request: {genuine} {answer}");
        let forger = SigningKeys::parse(FORGER_SECRET)?;
        let (forged, problem) = send(&client, &url, &forger, "sig-2", body).await?;
        println!("forged request:  {forged} {problem}");
        server.abort();

        if genuine != 200 || forged != 401 {
            return Err(format!("expected 200 and 401, got {genuine} and {forged}").into());
        }
        println!("ok: the genuine request was accepted and the forged one refused");
        Ok(())
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    receiver::run().await
}
