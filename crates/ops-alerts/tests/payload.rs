//! Formatting from a stored payload gives, byte for byte, the message of
//! today's path for the same inputs: as functions on any text (property
//! tests), through JSON, and end to end (the service and the durable
//! dispatcher post the same bytes to the fake Bot API).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![cfg_attr(not(feature = "telegram"), allow(unused_imports, dead_code))]

mod common;

use chrono::{DateTime, TimeZone, Utc};
use ops_alerts::{
    ACTION_MANUAL_REVIEW, AlertPayload, Attempts, DeliveryAlert, FailureAlert, FormatContext,
    NoticeAlert, ReplayHint, Severity, SummaryAlert, SummaryPayload, format_delivery_alert,
    format_message, format_summary,
};
use proptest::prelude::*;

fn context() -> FormatContext {
    FormatContext {
        recorded_at: Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap(),
        replay: ReplayHint::Outbox,
    }
}

/// Through storage: what another process reads back.
fn stored(payload: &AlertPayload) -> AlertPayload {
    AlertPayload::from_json(&payload.to_json().unwrap()).unwrap()
}

fn severity() -> impl Strategy<Value = Severity> {
    prop::sample::select(Severity::ALL.to_vec())
}

/// Millisecond times (what storage keeps) over a few centuries.
fn time() -> impl Strategy<Value = DateTime<Utc>> {
    (0i64..10_000_000_000_000).prop_map(|ms| DateTime::from_timestamp_millis(ms).unwrap())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn failure_payloads_format_like_format_delivery_alert(
        signal_id in "\\PC{0,300}",
        operation in "[a-z_<&>]{0,40}",
        error in "\\PC{0,5000}",
        made in 0u32..20,
        allowed in 0u32..20,
        severity in severity(),
        occurred_at in time(),
    ) {
        let today = format_delivery_alert(&DeliveryAlert {
            severity,
            signal_id: &signal_id,
            operation: &operation,
            error: &error,
            attempts: Attempts { made, allowed },
            timestamp: occurred_at,
        });
        let alert = FailureAlert {
            signal_id: signal_id.clone(),
            operation: operation.clone(),
            reason: None,
            error: error.clone(),
            error_class: "class".to_owned(),
            attempts: Attempts { made, allowed },
            security: false,
            opens_outage: false,
            occurred_at,
            action: ACTION_MANUAL_REVIEW.to_owned(),
        };
        for payload in [AlertPayload::SignalFailure(alert.clone()), AlertPayload::InvalidLine(alert)] {
            prop_assert_eq!(&payload.format(severity, &context()), &today);
            prop_assert_eq!(&stored(&payload).format(severity, &context()), &today);
        }
    }

    #[test]
    fn summary_payloads_format_like_format_summary(
        operation in "\\PC{0,40}",
        error_class in "\\PC{0,40}",
        last_error in "\\PC{0,3000}",
        ids in prop::collection::vec("\\PC{0,40}", 0..30),
        extra in 0u64..1_000,
        severity in severity(),
        window_start in time(),
        summarized_at in time(),
    ) {
        let folded = ids.len() as u64 + extra;
        let today = format_summary(&SummaryAlert {
            severity,
            operation: &operation,
            error_class: &error_class,
            last_error: &last_error,
            folded,
            signal_ids: &ids,
            window_start,
            timestamp: summarized_at,
        });
        let payload = AlertPayload::Summary(SummaryPayload {
            severity,
            operation,
            error_class,
            last_error,
            folded,
            signal_ids: ids,
            window_start,
            summarized_at,
        });
        prop_assert_eq!(payload.severity(0, 3), severity);
        prop_assert_eq!(&stored(&payload).format(severity, &context()), &today);
    }

    #[test]
    fn notice_payloads_format_like_format_message(
        message in "\\PC{0,5000}",
        severity in severity(),
        occurred_at in prop::option::of(time()),
    ) {
        let today = format_message(&message, severity, occurred_at);
        let payload = AlertPayload::Notice(NoticeAlert { message, severity, occurred_at });
        prop_assert_eq!(&stored(&payload).format(severity, &context()), &today);
    }
}

#[test]
fn the_stored_json_is_plain_and_stable() {
    let at = Utc.with_ymd_and_hms(2026, 12, 1, 10, 0, 0).unwrap();
    let payload = AlertPayload::SignalFailure(FailureAlert {
        signal_id: "sig-1".to_owned(),
        operation: "post_signal".to_owned(),
        reason: Some("exhausted".to_owned()),
        error: "HTTP 503 <upstream>".to_owned(),
        error_class: "exhausted:http_503".to_owned(),
        attempts: Attempts {
            made: 6,
            allowed: 6,
        },
        security: false,
        opens_outage: true,
        occurred_at: at,
        action: ACTION_MANUAL_REVIEW.to_owned(),
    });
    // Times are Unix milliseconds, like the outbox's own timestamps.
    assert_eq!(
        payload.to_json().unwrap(),
        format!(
            r#"{{"kind":"signal_failure","signal_id":"sig-1","operation":"post_signal","reason":"exhausted","error":"HTTP 503 <upstream>","error_class":"exhausted:http_503","attempts":{{"made":6,"allowed":6}},"security":false,"opens_outage":true,"occurred_at":{},"action":"Manual review required"}}"#,
            at.timestamp_millis()
        )
    );
    assert_eq!(payload.group_key(), "post_signal:exhausted:http_503");
}

#[cfg(feature = "telegram")]
mod end_to_end {
    use std::sync::Arc;

    use super::common::{Failure, LONG, TOKEN, fake, visible};
    use chrono::{DateTime, Utc};
    use ops_alerts::durable::{Dispatcher, MemoryQueue, NewAlert};
    use ops_alerts::{AlertPayload, Attempts, OpsAlertService};

    /// The service sends a failure; the same inputs, stored as a payload,
    /// are sent by the dispatcher: the two messages are the same bytes.
    #[tokio::test(start_paused = true)]
    async fn the_service_and_the_dispatcher_post_the_same_bytes() {
        let (fake_a, config) = fake().await;
        let alerts = OpsAlertService::new(config.clone());
        let error = Failure::new(
            "exhausted:http_503",
            &format!("HTTP 503 <b>&</b> via /bot{TOKEN}/x {}", "é🚀".repeat(3000)),
        );
        let attempts = Attempts {
            made: 6,
            allowed: 6,
        };
        let sent = alerts
            .send_signal_delivery_error("sig-<1>", &error, attempts, "post_signal")
            .await;
        assert!(sent.is_sent(), "{sent:?}");
        let by_service = fake_a.messages().remove(0);

        // The time is an input: the one the service's message shows.
        let shown = visible(&by_service.text);
        let at = shown
            .lines()
            .find_map(|l| l.strip_prefix("Timestamp: "))
            .unwrap();
        let mut alert = alerts.failure_alert("sig-<1>", &error, attempts, "post_signal");
        alert.occurred_at = DateTime::parse_from_rfc3339(at)
            .unwrap()
            .with_timezone(&Utc);
        let queue = Arc::new(MemoryQueue::new());
        let row = NewAlert::from_payload(&AlertPayload::SignalFailure(alert)).unwrap();
        queue.push(row, 1); // the service's first failure in a row

        let (fake_b, _) = fake().await;
        let dispatcher = Dispatcher::telegram(
            config.with_api_url(url::Url::parse(&fake_b.api_url()).unwrap()),
            queue.clone(),
        );
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(dispatcher.run(async {
            let _ = stopped.await;
        }));
        let by_dispatcher = fake_b.wait_for_messages(1, LONG).await.remove(0);
        let _ = stop.send(());
        assert_eq!(task.await.unwrap().sent, 1);

        assert_eq!(by_dispatcher.text, by_service.text);
        assert_eq!(by_dispatcher.parse_mode, by_service.parse_mode);
        assert!(!by_service.text.contains(TOKEN));
    }
}
