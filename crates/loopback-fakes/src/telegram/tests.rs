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

#[tokio::test]
async fn get_updates_confirms_below_the_offset_and_holds_while_empty() {
    let fake = FakeBotApi::start().await.unwrap();
    let first = fake.push_update(updates::text_message(-100, 7, "/help"));
    let second = fake.push_update(updates::channel_post(-200, "/status"));
    assert_eq!((first, second), (1, 2));
    let (status, reply) = post(fake.api_url(), "/bot1:abc/getUpdates", "{}").await;
    assert_eq!(status, 200);
    let ids: Vec<_> = reply["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["update_id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, [1, 2], "nothing confirmed yet");
    assert_eq!(reply["result"][0]["message"]["text"], "/help");
    let (_, reply) = post(fake.api_url(), "/bot1:abc/getUpdates", r#"{"offset":2}"#).await;
    assert_eq!(reply["result"][0]["update_id"], 2);
    assert_eq!(reply["result"].as_array().unwrap().len(), 1);

    // Nothing left: the request is held until an update is pushed.
    let url = fake.api_url();
    let held = tokio::spawn(async move {
        post(url, "/bot1:abc/getUpdates", r#"{"offset":3,"timeout":20}"#).await
    });
    fake.wait_for_requests(3, Duration::from_secs(5)).await;
    let started = std::time::Instant::now();
    assert_eq!(fake.push_update(updates::text_message(5, 5, "hi")), 3);
    let (_, reply) = held.await.unwrap();
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(reply["result"][0]["update_id"], 3);
    assert_eq!(fake.get_updates_offsets(), [0, 2, 3]);

    // A short timeout with nothing to give answers an empty list.
    let (_, reply) = post(
        fake.api_url(),
        "/bot1:abc/getUpdates",
        r#"{"offset":4,"timeout":0}"#,
    )
    .await;
    assert_eq!(reply["result"], json!([]));
}

#[tokio::test]
async fn get_updates_answers_scripted_failures_such_as_the_conflict() {
    let fake = FakeBotApi::start().await.unwrap();
    fake.push_update(updates::text_message(-100, 7, "/help"));
    fake.push_get_updates_reply(FakeReply::conflict());
    let (status, _) = post(fake.api_url(), "/bot1:abc/getMe", "{}").await;
    assert_eq!(status, 200, "only getUpdates is scripted");
    let (status, reply) = post(fake.api_url(), "/bot1:abc/getUpdates", "{}").await;
    assert_eq!(status, 409);
    assert_eq!(reply["error_code"], 409);
    assert!(
        reply["description"]
            .as_str()
            .unwrap()
            .starts_with("Conflict: terminated by other getUpdates")
    );
    let (_, reply) = post(fake.api_url(), "/bot1:abc/getUpdates", "{}").await;
    assert_eq!(
        reply["result"][0]["update_id"], 1,
        "the update is still there"
    );
}
