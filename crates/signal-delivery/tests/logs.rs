//! The log contract: one span per signal carrying its id and attempt number,
//! one DEBUG event per retry, and exactly one outcome line (INFO or ERROR)
//! with the id, attempts and elapsed time. Secrets never appear.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use loopback_fakes::signal_server::Reply;
use serde_json::Value;
use std::io::Write;
use std::sync::{Arc, Mutex};
use support::{signal, stack};

#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Write for Buffer {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn json_lines(buffer: &Buffer) -> Vec<Value> {
    String::from_utf8(buffer.0.lock().unwrap().clone())
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn from_signal_delivery(line: &Value) -> bool {
    line["target"]
        .as_str()
        .is_some_and(|t| t.starts_with("signal_delivery"))
}

#[tokio::test(start_paused = true)]
async fn one_span_per_signal_one_debug_event_per_retry_one_outcome_line() {
    let buffer = Buffer::default();
    let writer = buffer.clone();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let s = stack(&[]).await;
    s.server.push_n(Reply::status(503), 2);

    s.service.deliver(&signal("log-1")).await.unwrap();
    s.server.set_default(Reply::status(422));
    s.service.deliver(&signal("log-2")).await.unwrap_err();

    let lines: Vec<Value> = json_lines(&buffer)
        .into_iter()
        .filter(from_signal_delivery)
        .collect();
    let retries: Vec<&Value> = lines
        .iter()
        .filter(|l| l["level"] == "DEBUG" && l["fields"]["message"] == "attempt failed, retrying")
        .collect();
    assert_eq!(retries.len(), 2, "{lines:#?}");
    for (n, event) in retries.iter().enumerate() {
        assert_eq!(event["span"]["name"], "signal");
        assert_eq!(event["span"]["id"], "log-1");
        assert_eq!(event["fields"]["attempt"], n as u64 + 1);
        assert!(event["fields"]["error"].as_str().unwrap().contains("503"));
        assert!(event["fields"]["delay_ms"].as_u64().is_some());
    }
    let outcomes: Vec<&Value> = lines
        .iter()
        .filter(|l| l["fields"]["outcome"].is_string())
        .collect();
    assert_eq!(
        outcomes.len(),
        2,
        "exactly one outcome line per signal: {outcomes:#?}"
    );
    assert_eq!(outcomes[0]["level"], "INFO");
    assert_eq!(outcomes[0]["span"]["id"], "log-1");
    assert_eq!(outcomes[0]["span"]["attempt"], 3);
    assert_eq!(outcomes[0]["fields"]["attempts"], 3);
    assert!(outcomes[0]["fields"]["elapsed_ms"].as_u64().is_some());
    assert_eq!(outcomes[1]["level"], "ERROR");
    assert_eq!(outcomes[1]["fields"]["signal_id"], "log-2");
    assert_eq!(outcomes[1]["fields"]["reason"], "rejected");
    assert_eq!(outcomes[1]["fields"]["attempts"], 1);
    assert!(outcomes[1]["fields"]["elapsed_ms"].as_u64().is_some());

    let all = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
    assert!(
        !all.contains("C2FVsBQIhrscChlQIMV"),
        "the HMAC secret leaked into the logs"
    );
    assert!(
        !all.contains("AAH-secret-token"),
        "the bot token leaked into the logs"
    );
}
