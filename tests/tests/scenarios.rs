//! The delivery contract end to end, through the public crates only: one
//! table of server behaviours, each ending in exactly one outcome, with the
//! alert the owner would see. Runs on tokio's paused clock.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use hmac_client::SigningKeys;
use loopback_fakes::signal_server::{FakeSignalServer, Reply, refused_url};
use loopback_fakes::telegram::{FakeBotApi, FakeReply};
use signal_delivery::{DeliveryConfig, DeliveryService, Signal};
use std::collections::HashMap;
use std::time::Duration;

const SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";

/// What the signal server does in one scenario.
enum Server {
    Script(Vec<Reply>, Reply),
    Refused,
}

struct Case {
    name: &'static str,
    server: Server,
    vars: &'static [(&'static str, &'static str)],
    /// `None`: delivered; `Some(reason)`: failed with that reason.
    reason: Option<&'static str>,
    attempts: u32,
    /// Text the alert must contain (`None`: no alert at all).
    alert: Option<&'static [&'static str]>,
}

fn cases() -> Vec<Case> {
    vec![
        Case {
            name: "first try",
            server: Server::Script(vec![], Reply::Accept),
            vars: &[],
            reason: None,
            attempts: 1,
            alert: None,
        },
        Case {
            name: "500 twice then success",
            server: Server::Script(vec![Reply::status(500), Reply::status(500)], Reply::Accept),
            vars: &[],
            reason: None,
            attempts: 3,
            alert: None,
        },
        Case {
            name: "always 503",
            server: Server::Script(vec![], Reply::status(503)),
            vars: &[],
            reason: Some("exhausted"),
            attempts: 3,
            alert: Some(&["ERROR", "post_signal", "503", "3/3"]),
        },
        Case {
            name: "422 validation",
            server: Server::Script(vec![], Reply::status_with_body(422, "volume above limit")),
            vars: &[],
            reason: Some("rejected"),
            attempts: 1,
            alert: Some(&["ERROR", "422", "volume above limit", "1/3"]),
        },
        Case {
            name: "403 signature",
            server: Server::Script(vec![], Reply::status(403)),
            vars: &[],
            reason: Some("signature_rejected"),
            attempts: 1,
            alert: Some(&["CRITICAL", "403"]),
        },
        Case {
            name: "retry-after beyond the deadline",
            server: Server::Script(vec![Reply::status_retry_after(429, "120")], Reply::Accept),
            vars: &[("RETRY_MAX_ELAPSED_SECONDS", "60")],
            reason: Some("deadline"),
            attempts: 1,
            alert: Some(&["ERROR", "429"]),
        },
        Case {
            name: "connection refused",
            server: Server::Refused,
            vars: &[],
            reason: Some("exhausted"),
            attempts: 3,
            alert: Some(&["ERROR", "3/3"]),
        },
        Case {
            name: "per-attempt timeout",
            server: Server::Script(vec![Reply::Hang], Reply::Accept),
            vars: &[("SIGNAL_REQUEST_TIMEOUT_SECONDS", "2")],
            reason: None,
            attempts: 2,
            alert: None,
        },
    ]
}

async fn run_case(case: &Case) {
    let server = FakeSignalServer::start(SigningKeys::parse(SECRET).unwrap())
        .await
        .unwrap();
    let url = match &case.server {
        Server::Script(script, default) => {
            for reply in script {
                server.push(reply.clone());
            }
            server.set_default(default.clone());
            server.url()
        }
        Server::Refused => refused_url().unwrap(),
    };
    let bot = FakeBotApi::start().await.unwrap();
    let mut vars: HashMap<&str, String> = HashMap::from([
        ("SIGNAL_SERVER_URL", url),
        ("SIGNAL_HMAC_SECRET", SECRET.to_owned()),
        ("OPS_TELEGRAM_BOT_TOKEN", "42:scenario-token".to_owned()),
        ("OPS_TELEGRAM_CHAT_ID", "@ops_room".to_owned()),
        ("OPS_TELEGRAM_API_URL", bot.api_url()),
        ("MAX_RETRIES", "2".to_owned()),
        ("RETRY_DELAY_SECONDS", "1".to_owned()),
    ]);
    for (k, v) in case.vars {
        vars.insert(k, (*v).to_owned());
    }
    let config = DeliveryConfig::from_lookup(|k| vars.get(k).cloned()).unwrap();
    let service = DeliveryService::new(&config).unwrap();
    let id = format!("scenario-{}", case.name.replace(' ', "-"));
    let signal = Signal::from_json(
        format!(r#"{{"id":"{id}","instrument":"ETH-USD","side":"sell","volume":3}}"#).as_bytes(),
    )
    .unwrap();

    let result = service.deliver(&signal).await;
    service.shutdown().await;

    let (reason, attempts) = match &result {
        Ok(delivered) => (None, delivered.attempts),
        Err(error) => (Some(error.reason().as_str()), error.attempts()),
    };
    assert_eq!(reason, case.reason, "{}: {result:?}", case.name);
    assert_eq!(attempts, case.attempts, "{}", case.name);
    if !matches!(case.server, Server::Refused) {
        let received = server.received();
        assert_eq!(received.len() as u32, attempts, "{}", case.name);
        assert!(
            received.iter().all(|r| r.verified && r.id == id),
            "{}",
            case.name
        );
    }
    let messages = bot.messages();
    match case.alert {
        None => assert!(
            messages.is_empty(),
            "{}: unexpected alert {messages:?}",
            case.name
        ),
        Some(needles) => {
            assert_eq!(messages.len(), 1, "{}: {messages:?}", case.name);
            let text = &messages[0].text;
            assert!(text.contains(&id), "{}: {text}", case.name);
            for needle in needles {
                assert!(
                    text.contains(needle),
                    "{}: {needle:?} missing in\n{text}",
                    case.name
                );
            }
        }
    }
}

#[tokio::test(start_paused = true)]
async fn every_server_behaviour_ends_in_exactly_one_outcome() {
    for case in cases() {
        run_case(&case).await;
    }
}

#[tokio::test(start_paused = true)]
async fn telegram_down_does_not_hold_back_the_outcome() {
    let server = FakeSignalServer::start(SigningKeys::parse(SECRET).unwrap())
        .await
        .unwrap();
    server.set_default(Reply::status(500));
    let bot = FakeBotApi::start().await.unwrap();
    bot.set_default_reply(FakeReply::Hang);
    let vars: HashMap<&str, String> = HashMap::from([
        ("SIGNAL_SERVER_URL", server.url()),
        ("SIGNAL_HMAC_SECRET", SECRET.to_owned()),
        ("OPS_TELEGRAM_BOT_TOKEN", "42:scenario-token".to_owned()),
        ("OPS_TELEGRAM_CHAT_ID", "42".to_owned()),
        ("OPS_TELEGRAM_API_URL", bot.api_url()),
        ("MAX_RETRIES", "1".to_owned()),
        ("RETRY_DELAY_SECONDS", "1".to_owned()),
        ("OPS_ALERT_TIMEOUT_SECONDS", "3".to_owned()),
    ]);
    let config = DeliveryConfig::from_lookup(|k| vars.get(k).cloned()).unwrap();
    let service = DeliveryService::new(&config).unwrap();
    let started = tokio::time::Instant::now();

    let error = service
        .deliver(&Signal::from_json(br#"{"id":"dark","instrument":"X","side":"buy"}"#).unwrap())
        .await
        .unwrap_err();

    assert_eq!(error.reason().as_str(), "exhausted");
    // About 1 s of backoff (jitter at most 10 %) plus at most the 3 s alert bound.
    assert!(
        started.elapsed() <= Duration::from_millis(1_100 + 3_000 + 100),
        "{:?}",
        started.elapsed()
    );
    assert!(bot.messages().is_empty());
}
