//! The fake over real HTTP: what a client sees for each scripted reply.

use std::time::Duration;

use serde_json::{Value, json};

use super::*;

/// A minimal blocking HTTP/1.1 client: enough to drive the fake without
/// adding an HTTP client dependency to this crate.
async fn post(url: String, path: &str, body: &str) -> (u16, Value) {
    let addr = url.trim_start_matches("http://").to_owned();
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    tokio::task::spawn_blocking(move || {
        use std::io::{Read, Write};
        let mut stream = std::net::TcpStream::connect(addr).unwrap();
        stream.write_all(request.as_bytes()).unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        let status = response[9..12].parse().unwrap();
        let (_, json) = response.split_once("\r\n\r\n").unwrap();
        (status, serde_json::from_str(json).unwrap())
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn records_send_message_case_insensitively_and_echoes_the_chat() {
    let fake = FakeBotApi::start().await.unwrap();
    let body = r#"{"chat_id":42,"text":"hi <b>x</b>","parse_mode":"HTML","message_thread_id":7}"#;
    let (status, reply) = post(fake.api_url(), "/bot1:abc/SendMessage", body).await;
    assert_eq!(status, 200);
    assert_eq!(reply["ok"], true);
    assert_eq!(reply["result"]["message_id"], 1);
    assert_eq!(reply["result"]["date"], 0);
    assert_eq!(reply["result"]["chat"]["id"], 42);
    assert_eq!(reply["result"]["chat"]["type"], "private");

    let (_, reply) = post(
        fake.api_url(),
        "/bot1:abc/sendmessage",
        r#"{"chat_id":"@ops","text":"b"}"#,
    )
    .await;
    assert_eq!(reply["result"]["message_id"], 2);

    let messages = fake.messages();
    assert_eq!(messages.len(), 2);
    assert_eq!(
        messages[0],
        RecordedMessage {
            token: "1:abc".to_owned(),
            chat_id: json!(42),
            text: "hi <b>x</b>".to_owned(),
            parse_mode: Some("HTML".to_owned()),
            message_thread_id: Some(7),
            message_id: 1,
        }
    );
    assert_eq!(messages[1].chat_id, json!("@ops"));
    assert_eq!(messages[1].parse_mode, None);
    assert_eq!(fake.requests(), 2);
}

#[tokio::test]
async fn scripted_replies_come_first_then_the_default() {
    let fake = FakeBotApi::start().await.unwrap();
    fake.push_reply(FakeReply::TooManyRequests { retry_after: 3 });
    fake.push_reply(FakeReply::MigrateToChat(-100_123));
    fake.push_reply(FakeReply::chat_not_found());
    fake.push_reply(FakeReply::Unauthorized);
    fake.set_default_reply(FakeReply::bot_blocked());
    let body = r#"{"chat_id":42,"text":"x"}"#;
    let path = "/bot1:abc/sendMessage";

    let (status, reply) = post(fake.api_url(), path, body).await;
    assert_eq!(status, 429);
    assert_eq!(reply["parameters"]["retry_after"], 3);
    assert_eq!(reply["error_code"], 429);
    let (_, reply) = post(fake.api_url(), path, body).await;
    assert_eq!(reply["parameters"]["migrate_to_chat_id"], -100_123);
    let (status, reply) = post(fake.api_url(), path, body).await;
    assert_eq!(status, 400);
    assert_eq!(reply["description"], "Bad Request: chat not found");
    assert!(
        reply.get("parameters").is_none(),
        "teloxide rejects an empty parameters object"
    );
    let (status, reply) = post(fake.api_url(), path, body).await;
    assert_eq!(
        (status, reply["description"].as_str()),
        (401, Some("Unauthorized"))
    );
    let (status, reply) = post(fake.api_url(), path, body).await;
    assert_eq!(status, 403);
    assert_eq!(reply["ok"], false);

    assert!(fake.messages().is_empty());
    assert_eq!(fake.requests(), 5);
}

#[tokio::test]
async fn server_errors_and_get_me() {
    let fake = FakeBotApi::start().await.unwrap();
    fake.push_reply(FakeReply::ServerError { status: 502 });
    let (status, reply) = post(fake.api_url(), "/bot1:abc/getMe", "{}").await;
    assert_eq!(status, 502);
    assert_eq!(reply["description"], "Bad Gateway");
    let (_, reply) = post(fake.api_url(), "/bot1:abc/getMe", "{}").await;
    assert_eq!(reply["result"]["is_bot"], true);
    let (status, _) = post(fake.api_url(), "/nothing", "{}").await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn hang_is_released_on_shutdown_and_waits_time_out() {
    let fake = FakeBotApi::start().await.unwrap();
    fake.push_reply(FakeReply::Hang);
    let url = fake.api_url();
    let pending = tokio::spawn(post(
        url,
        "/bot1:abc/sendMessage",
        r#"{"chat_id":1,"text":"x"}"#,
    ));
    assert_eq!(fake.wait_for_requests(1, Duration::from_secs(5)).await, 1);
    assert!(
        fake.wait_for_messages(1, Duration::from_millis(20))
            .await
            .is_empty()
    );
    fake.shutdown();
    let (status, _) = pending.await.unwrap();
    assert_eq!(status, 500);

    // The listener is gone once the aborted accept loop was dropped.
    tokio::time::sleep(Duration::from_millis(5)).await;
    let addr = fake.local_addr();
    let refused = tokio::task::spawn_blocking(move || std::net::TcpStream::connect(addr))
        .await
        .unwrap();
    assert!(refused.is_err(), "a stopped fake refuses connections");
}
