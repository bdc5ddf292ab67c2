//! An alert sent through the real Telegram transport (teloxide) to a fake
//! Bot API on 127.0.0.1 (`loopback-fakes`): the fake first answers 429
//! "retry after 1", the service waits and sends again; a second failure of
//! the same kind is folded, and `flush` sends its summary.
//!
//! ```sh
//! cargo run -p ops-alerts --example telegram_fake
//! ```
//!
//! No credentials and no network beyond 127.0.0.1; about 2 s (the 429's
//! wait and the chat's rate limit of one message per second). Exits
//! non-zero if the fake did not receive what is described.

use std::borrow::Cow;
use std::error::Error;
use std::fmt;
use std::time::Duration;

use loopback_fakes::telegram::{FakeBotApi, FakeReply};
use ops_alerts::{AlertConfig, AlertOutcome, AlertableError, Attempts, OpsAlertService};

const TOKEN: &str = "123456:AAH-example-token";

/// The delivery failure being alerted on.
#[derive(Debug)]
struct Unavailable;

impl fmt::Display for Unavailable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("signal server answered 503 on every attempt")
    }
}

impl AlertableError for Unavailable {
    fn error_class(&self) -> Cow<'_, str> {
        Cow::Borrowed("exhausted:http_503")
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn Error>> {
    let fake = FakeBotApi::start().await?;
    fake.push_reply(FakeReply::TooManyRequests { retry_after: 1 });
    println!("fake Bot API on {}", fake.api_url());

    let config = AlertConfig::new(TOKEN, "42")
        .map_err(|errors| format!("configuration: {errors:?}"))?
        .with_api_url(url::Url::parse(&fake.api_url())?);
    let alerts = OpsAlertService::new(config);
    let attempts = Attempts {
        made: 6,
        allowed: 6,
    };

    let first = alerts
        .send_signal_delivery_error("sig-1", &Unavailable, attempts, "deliver_signal")
        .await;
    println!(
        "sig-1: {first:?} after {} request(s) to the fake",
        fake.requests()
    );
    if !matches!(first, AlertOutcome::Sent { .. }) || fake.requests() != 2 {
        return Err("expected the alert sent on the second request, after the 429".into());
    }

    let second = alerts
        .send_signal_delivery_error("sig-2", &Unavailable, attempts, "deliver_signal")
        .await;
    println!("sig-2: {second:?}");
    if !matches!(second, AlertOutcome::Folded { .. }) {
        return Err("expected the repeat within the cooldown to be folded".into());
    }
    alerts.flush().await;

    let messages = fake.wait_for_messages(2, Duration::from_secs(5)).await;
    for message in &messages {
        println!(
            "--- message {} to chat {}:\n{}",
            message.message_id, message.chat_id, message.text
        );
    }
    let [alert, summary] = messages.as_slice() else {
        return Err(format!("expected 2 messages, the fake recorded {}", messages.len()).into());
    };
    if alert.token != TOKEN || alert.chat_id != 42 || alert.parse_mode.as_deref() != Some("HTML") {
        return Err("the alert went to the wrong bot or chat, or not as HTML".into());
    }
    if !alert.text.contains("sig-1") || !alert.text.contains("503") {
        return Err("the alert does not name the signal and the error".into());
    }
    if !summary.text.contains("sig-2") {
        return Err("the summary does not name the folded signal".into());
    }
    println!("ok: alert retried after the 429 and delivered, the repeat folded into a summary");
    Ok(())
}
