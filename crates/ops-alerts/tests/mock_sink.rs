//! The `AlertSink` seam with mockall: the service's retry and fallback policy
//! in isolation from any transport.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use mockall::Sequence;
use mockall::predicate::eq;
use ops_alerts::{
    AlertErrorKind, AlertOutcome, AlertSink, OpsAlertService, ParseMode, SendFuture, SentMessage,
    Severity, SinkError, SinkErrorKind,
};

/// The seam mocked: one synchronous answer per send. mockall cannot return a
/// future borrowing the call's arguments, so the mock answers and a thin
/// adapter implements `AlertSink` over it.
#[mockall::automock]
trait Transport {
    fn send_message(&self, text: &str, mode: ParseMode) -> Result<SentMessage, SinkError>;
}

#[derive(Debug)]
struct Mocked(MockTransport);

impl AlertSink for Mocked {
    fn send_message<'a>(&'a self, text: &'a str, mode: ParseMode) -> SendFuture<'a> {
        let result = self.0.send_message(text, mode);
        Box::pin(async move { result })
    }
}

#[tokio::test(start_paused = true)]
async fn retries_transient_then_falls_back_to_plain_text() {
    let mut sink = MockTransport::new();
    let mut order = Sequence::new();
    sink.expect_send_message()
        .with(mockall::predicate::always(), eq(ParseMode::Html))
        .times(1)
        .in_sequence(&mut order)
        .returning(|_, _| Err(SinkError::new(SinkErrorKind::Network, "refused")));
    sink.expect_send_message()
        .with(mockall::predicate::always(), eq(ParseMode::Html))
        .times(1)
        .in_sequence(&mut order)
        .returning(|_, _| Err(SinkError::new(SinkErrorKind::CantParseEntities, "bad html")));
    sink.expect_send_message()
        .withf(|text, mode| *mode == ParseMode::PlainText && text.contains("a <b> c"))
        .times(1)
        .in_sequence(&mut order)
        .returning(|_, _| Ok(SentMessage { message_id: 77 }));

    let alerts = OpsAlertService::with_sink(
        common::config_for("http://127.0.0.1:9"),
        Arc::new(Mocked(sink)),
    );
    let outcome = alerts.send_owner_alert("a <b> c", Severity::Warning).await;
    assert_eq!(outcome, AlertOutcome::Sent { message_id: 77 });
}

#[tokio::test(start_paused = true)]
async fn permanent_errors_are_not_retried() {
    let mut sink = MockTransport::new();
    sink.expect_send_message()
        .times(1)
        .returning(|_, _| Err(SinkError::new(SinkErrorKind::Forbidden, "blocked")));
    let alerts = OpsAlertService::with_sink(
        common::config_for("http://127.0.0.1:9"),
        Arc::new(Mocked(sink)),
    );
    let AlertOutcome::Failed(error) = alerts.send_owner_alert("x", Severity::Error).await else {
        panic!("must fail");
    };
    assert_eq!(error.kind(), AlertErrorKind::Permanent);
    assert_eq!(error.attempts(), 1);
}

#[tokio::test(start_paused = true)]
async fn retry_after_is_honoured() {
    let mut sink = MockTransport::new();
    let mut order = Sequence::new();
    sink.expect_send_message()
        .times(1)
        .in_sequence(&mut order)
        .returning(|_, _| {
            Err(SinkError::new(
                SinkErrorKind::RetryAfter(Duration::from_secs(12)),
                "flood",
            ))
        });
    sink.expect_send_message()
        .times(1)
        .in_sequence(&mut order)
        .returning(|_, _| Ok(SentMessage { message_id: 1 }));
    let alerts = OpsAlertService::with_sink(
        common::config_for("http://127.0.0.1:9"),
        Arc::new(Mocked(sink)),
    );
    let start = tokio::time::Instant::now();
    assert!(
        alerts
            .send_owner_alert("x", Severity::Error)
            .await
            .is_sent()
    );
    assert!(start.elapsed() >= Duration::from_secs(12));
}
