//! The durable dispatcher against the fake Bot API on 127.0.0.1, on a
//! paused clock: one sender at a time, folded alerts summarized once across
//! a change of sender, the rate limit from stored send times, transient and
//! permanent Telegram failures, stored message ids, CRITICAL from the stored
//! count, and the recovered row.

// Through the teloxide transport: only with the `telegram` feature.
#![cfg(feature = "telegram")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use chrono::{TimeDelta, TimeZone, Utc};
use common::{LONG, SECRET_PART, TOKEN, capture_logs, fake, visible};
use loopback_fakes::telegram::{FakeBotApi, FakeReply};
use ops_alerts::durable::{
    AlertId, AlertQueue, AlertState, AlertUpdate, BoxFuture, DispatchStats, Dispatcher,
    DispatcherSettings, GroupState, MemoryQueue, NewAlert, QueueError, SenderLease, StoredAlert,
};
use ops_alerts::{
    ACTION_MANUAL_REVIEW, AlertConfig, AlertKind, AlertPayload, Attempts, FailureAlert,
    METRIC_QUEUED,
};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio::time::Instant;

fn failure(signal_id: &str, class: &str, error: &str) -> NewAlert {
    NewAlert::from_payload(&AlertPayload::SignalFailure(FailureAlert {
        signal_id: signal_id.to_owned(),
        operation: "post_signal".to_owned(),
        reason: Some("rejected".to_owned()),
        error: error.to_owned(),
        error_class: class.to_owned(),
        attempts: Attempts {
            made: 1,
            allowed: 6,
        },
        security: false,
        opens_outage: false,
        occurred_at: Utc::now(),
        action: ACTION_MANUAL_REVIEW.to_owned(),
    }))
    .unwrap()
}

fn settings(config: &AlertConfig, worker: &str) -> DispatcherSettings {
    DispatcherSettings {
        worker: worker.to_owned(),
        poll_interval: Duration::from_secs(1),
        ..DispatcherSettings::for_config(config)
    }
}

struct Running {
    stop: oneshot::Sender<()>,
    task: JoinHandle<DispatchStats>,
}

fn start(config: &AlertConfig, queue: &Arc<MemoryQueue>, worker: &str) -> Running {
    start_with(settings(config, worker), config, queue)
}

fn start_with(
    settings: DispatcherSettings,
    config: &AlertConfig,
    queue: &Arc<MemoryQueue>,
) -> Running {
    let dispatcher = Dispatcher::telegram(config.clone(), queue.clone())
        .with_settings(settings)
        .unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(dispatcher.run(async {
        let _ = stopped.await;
    }));
    Running { stop, task }
}

impl Running {
    async fn stop(self) -> DispatchStats {
        let _ = self.stop.send(());
        self.task.await.unwrap()
    }

    /// The process dies: the future is dropped wherever it was.
    async fn kill(self) {
        self.task.abort();
        assert!(self.task.await.unwrap_err().is_cancelled());
    }
}

/// Waits (tokio time) until `check` holds for the stored rows.
async fn until(queue: &MemoryQueue, check: impl Fn(&[StoredAlert]) -> bool) {
    let deadline = Instant::now() + LONG;
    while !check(&queue.alerts()) {
        assert!(Instant::now() < deadline, "{:#?}", queue.alerts());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn in_state(rows: &[StoredAlert], state: AlertState) -> usize {
    rows.iter().filter(|row| row.state == state).count()
}

#[tokio::test(start_paused = true)]
async fn only_the_lease_holder_sends_and_message_ids_are_stored() {
    let (fake, config) = fake().await;
    let queue = Arc::new(MemoryQueue::new());
    for (id, class) in [("s1", "a"), ("s2", "b"), ("s3", "c")] {
        queue.push(failure(id, class, "HTTP 422"), 1);
    }
    let a = start(&config, &queue, "a");
    let b = start(&config, &queue, "b");
    assert_eq!(fake.wait_for_messages(3, LONG).await.len(), 3);
    // However long both run, nothing is sent twice.
    tokio::time::sleep(Duration::from_secs(600)).await;
    let messages = fake.messages();
    assert_eq!(messages.len(), 3);
    let (a, b) = (a.stop().await, b.stop().await);
    assert_eq!(a.sent + b.sent, 3);
    assert!(a.sent == 0 || b.sent == 0, "{a:?} {b:?}");

    let rows = queue.alerts();
    for (row, message) in rows.iter().zip(&messages) {
        assert_eq!(row.state, AlertState::Sent);
        assert_eq!(row.message_id, Some(i64::from(message.message_id)));
        let signal = row.signal_id.as_deref().unwrap();
        assert!(visible(&message.text).contains(&format!("Signal ID: {signal}")));
    }
    let sent: Vec<i64> = rows.iter().map(|row| row.sent_at.unwrap()).collect();
    assert!(sent.windows(2).all(|w| w[1] - w[0] >= 1_000), "{sent:?}");
}

#[tokio::test(start_paused = true)]
async fn a_new_sender_summarizes_the_folds_of_a_dead_one_once_with_every_id() {
    let (fake, config) = fake().await;
    let config = config.with_alert_timeout(Duration::from_secs(5));
    let queue = Arc::new(MemoryQueue::new());
    for i in 0..10 {
        queue.push(
            failure(&format!("sig-{i}"), "rejected:http_422", "HTTP 422"),
            1,
        );
    }
    let a = start(&config, &queue, "a");
    until(&queue, |rows| in_state(rows, AlertState::Folded) == 9).await;
    assert_eq!(fake.messages().len(), 1);
    // Killed mid-window: its memory is gone, the folded rows are not.
    a.kill().await;
    let b = start(&config, &queue, "b");
    let messages = fake.wait_for_messages(2, LONG).await;
    assert_eq!(messages.len(), 2);
    let summary = visible(&messages[1].text);
    let ids: Vec<String> = (1..10).map(|i| format!("sig-{i}")).collect();
    assert!(
        summary.contains(&format!(
            "9 more signals failed the same way: ids {}\n",
            ids.join(", ")
        )),
        "{summary}"
    );
    // The window closed 300 s after the opening message, not after the restart.
    until(&queue, |rows| {
        rows.iter().any(|r| r.kind == AlertKind::Summary)
    })
    .await;
    let rows = queue.alerts();
    let opened = rows[0].sent_at.unwrap();
    let summary_row = rows.iter().find(|r| r.kind == AlertKind::Summary).unwrap();
    assert_eq!(summary_row.state, AlertState::Sent);
    assert_eq!(
        summary_row.message_id,
        Some(i64::from(messages[1].message_id))
    );
    assert!((300_000..302_000).contains(&(summary_row.sent_at.unwrap() - opened)));
    assert!(
        rows[1..10]
            .iter()
            .all(|r| r.state == AlertState::Summarized && r.summary_of == Some(summary_row.id))
    );

    // Once: neither this sender nor the next sends it again.
    let stats = b.stop().await;
    assert_eq!(stats.summaries, 1);
    // It slept until the window closed (a round per poll), it did not spin.
    assert!(stats.rounds < 400, "{stats:?}");
    let c = start(&config, &queue, "c");
    assert_eq!(fake.wait_for_messages(3, LONG).await.len(), 2);
    assert_eq!(c.stop().await.sent, 0);
}

#[tokio::test(start_paused = true)]
async fn the_rate_limit_holds_across_senders_from_stored_send_times() {
    let (fake, config) = fake().await;
    let config = config.with_alert_timeout(Duration::from_secs(5));
    let queue = Arc::new(MemoryQueue::new());
    for i in 0..21 {
        queue.push(
            failure(&format!("s{i}"), &format!("class_{i}"), "HTTP 422"),
            1,
        );
    }
    let a = start(&config, &queue, "a");
    until(&queue, |rows| in_state(rows, AlertState::Sent) == 20).await;
    // 20 messages in 19 s: the 21st must wait for the first to be a minute old.
    a.kill().await;
    let b = start(&config, &queue, "b");
    assert_eq!(fake.wait_for_messages(21, LONG).await.len(), 21);
    until(&queue, |rows| in_state(rows, AlertState::Sent) == 21).await;
    let rows = queue.alerts();
    let first = rows[0].sent_at.unwrap();
    let last = rows[20].sent_at.unwrap();
    assert!(last - first >= 60_000, "{}", last - first);
    assert!(last - rows[19].sent_at.unwrap() >= 1_000);
    assert_eq!(b.stop().await.sent, 1);
}

#[tokio::test(start_paused = true)]
async fn passing_failures_are_retried_and_the_row_is_never_lost() {
    let (fake, config) = fake().await;
    let config = config.with_alert_timeout(Duration::from_secs(5));
    let queue = Arc::new(MemoryQueue::new());
    // A 429 within the alert's time bound: retried at once, sent.
    fake.push_reply(FakeReply::TooManyRequests { retry_after: 1 });
    let first = queue.push(failure("s1", "a", "HTTP 422"), 1);
    let running = start(&config, &queue, "a");
    assert_eq!(fake.wait_for_messages(1, LONG).await.len(), 1);
    assert_eq!(fake.requests(), 2);
    until(&queue, |_| {
        queue.get(first).unwrap().state == AlertState::Sent
    })
    .await;
    assert_eq!(queue.get(first).unwrap().attempts, 0);

    // Telegram down longer than the bound (teloxide sleeps 10 s on a 5xx):
    // kept, tried again later.
    fake.set_default_reply(FakeReply::ServerError { status: 502 });
    let second = queue.push(failure("s2", "b", "HTTP 422"), 1);
    until(&queue, |_| queue.get(second).unwrap().attempts == 1).await;
    let row = queue.get(second).unwrap();
    assert_eq!(row.state, AlertState::Pending);
    assert!(row.not_before >= queue.now() + 20_000, "retried after 30 s");
    let error = row.last_error.unwrap();
    assert!(error.contains("not sent within 5 s"), "{error}");
    fake.set_default_reply(FakeReply::Ok);
    until(&queue, |_| {
        queue.get(second).unwrap().state == AlertState::Sent
    })
    .await;
    let messages = fake.messages();
    assert_eq!(messages.len(), 2);
    assert!(visible(&messages[1].text).contains("Signal ID: s2"));
    let stats = running.stop().await;
    assert_eq!((stats.sent, stats.retried, stats.failed), (2, 1, 0));
}

#[tokio::test(start_paused = true)]
async fn a_permanent_refusal_fails_the_row_logs_every_field_and_never_the_token() {
    let (logs, _guard) = capture_logs();
    let (fake, config) = fake().await;
    let queue = Arc::new(MemoryQueue::new());
    fake.set_default_reply(FakeReply::chat_not_found());
    let error = format!("error sending request for url (http://x/bot{TOKEN}/SendMessage)");
    let id = queue.push(failure("sig-77", "exhausted:connect", &error), 1);
    let running = start(&config, &queue, "a");
    until(&queue, |_| {
        queue.get(id).unwrap().state == AlertState::Failed
    })
    .await;
    let stats = running.stop().await;
    assert_eq!((stats.failed, stats.sent), (1, 0));
    let row = queue.get(id).unwrap();
    assert!(
        row.last_error
            .as_deref()
            .unwrap()
            .contains("chat not found")
    );
    assert_eq!(fake.requests(), 1, "a permanent refusal is not retried");

    let logs = logs.contents();
    let line = logs
        .lines()
        .find(|l| l.contains("ERROR") && l.contains("could not be sent to Telegram"))
        .unwrap_or_else(|| panic!("{logs}"));
    for field in [
        "chat not found",
        "alert_id=\"1\"",
        "signal_id=\"sig-77\"",
        "group_key=\"post_signal:exhausted:connect\"",
        "Signal delivery failed",
    ] {
        assert!(line.contains(field), "{field} missing: {line}");
    }
    assert!(!logs.contains(SECRET_PART), "{logs}");
    assert!(!row.last_error.unwrap().contains(SECRET_PART));
}

#[tokio::test(start_paused = true)]
async fn messages_never_carry_the_token_even_when_the_payload_does() {
    let (fake, config) = fake().await;
    let queue = Arc::new(MemoryQueue::new());
    let error = format!("proxy said: /bot{TOKEN}/SendMessage refused");
    queue.push(failure("s1", "a", &error), 1);
    let running = start(&config, &queue, "a");
    let messages = fake.wait_for_messages(1, LONG).await;
    running.stop().await;
    assert!(
        !messages[0].text.contains(SECRET_PART),
        "{}",
        messages[0].text
    );
    assert!(messages[0].text.contains("/bot[REDACTED]/SendMessage"));
}

#[tokio::test(start_paused = true)]
async fn critical_follows_the_stored_consecutive_count() {
    let (fake, config) = fake().await;
    let config = config.with_escalate_after(3);
    let queue = Arc::new(MemoryQueue::new());
    queue.push(failure("s1", "a", "HTTP 503"), 2);
    queue.push(failure("s2", "b", "HTTP 503"), 3);
    let mut security =
        AlertPayload::from_json(&failure("s3", "c", "bad signature").payload).unwrap();
    if let AlertPayload::SignalFailure(f) = &mut security {
        f.security = true;
    }
    queue.push(NewAlert::from_payload(&security).unwrap(), 1);
    let running = start(&config, &queue, "a");
    let titles: Vec<String> = fake
        .wait_for_messages(3, LONG)
        .await
        .iter()
        .map(|m| visible(&m.text).lines().next().unwrap().to_owned())
        .collect();
    running.stop().await;
    assert_eq!(
        titles,
        [
            "❌ ERROR: Signal delivery failed",
            "🚨 CRITICAL: Signal delivery failed",
            "🚨 CRITICAL: Signal delivery failed",
        ]
    );
}

/// What the outbox writes when the first delivery after an outage works.
fn recovered_row(started_at: i64, ended_at: i64, failed: u64) -> NewAlert {
    NewAlert {
        kind: AlertKind::Recovered,
        group_key: "recovered".to_owned(),
        signal_id: None,
        payload: format!(
            r#"{{"kind":"recovered","started_at":{started_at},"ended_at":{ended_at},"failed":{failed}}}"#
        ),
    }
}

#[tokio::test(start_paused = true)]
async fn each_recovered_row_is_sent_once_and_never_folded() {
    let (fake, config) = fake().await;
    let queue = Arc::new(MemoryQueue::new());
    let start_at = Utc.with_ymd_and_hms(2026, 12, 1, 10, 0, 0).unwrap();
    let end_at = start_at + TimeDelta::seconds(750);
    let (s, e) = (start_at.timestamp_millis(), end_at.timestamp_millis());
    queue.push(failure("s1", "exhausted:http_503", "HTTP 503"), 1);
    queue.push(recovered_row(s, e, 3), 0);
    // A second outage right after: its own message, not folded into the first.
    queue.push(recovered_row(e + 1_000, e + 61_000, 1), 0);
    let running = start(&config, &queue, "a");
    let messages = fake.wait_for_messages(3, LONG).await;
    assert_eq!(messages.len(), 3);
    let first = visible(&messages[1].text);
    assert_eq!(
        first,
        "✅ RESOLVED: signal delivery recovered\n\nOutage: 12m 30s\nSince: 2026-12-01T10:00:00Z\n\
         Until: 2026-12-01T10:12:30Z\nFailed during it: 3 signals\n\
         Replay: signal-delivery outbox replay --all-dead --since 2026-12-01T10:00:00Z"
    );
    assert!(visible(&messages[2].text).contains("Outage: 1m 0s\n"));
    assert!(visible(&messages[2].text).contains("Failed during it: 1 signal\n"));
    assert_eq!(running.stop().await.sent, 3);
    // Not again, by this sender or the next.
    let next = start(&config, &queue, "b");
    assert_eq!(fake.wait_for_messages(4, LONG).await.len(), 3);
    assert_eq!(next.stop().await.sent, 0);
    assert_eq!(in_state(&queue.alerts(), AlertState::Sent), 3);
}

#[tokio::test(start_paused = true)]
async fn an_unreadable_row_fails_with_a_clear_error_and_the_others_go_out() {
    let (fake, config) = fake().await;
    let queue = Arc::new(MemoryQueue::new());
    let broken = queue.push(
        NewAlert {
            payload: r#"{"kind":"signal_failure","signal_id":"s0"}"#.to_owned(),
            ..failure("s0", "a", "x")
        },
        1,
    );
    let mismatched = queue.push(
        NewAlert {
            kind: AlertKind::Notice,
            ..failure("s1", "b", "x")
        },
        1,
    );
    queue.push(failure("s2", "c", "HTTP 422"), 1);
    let running = start(&config, &queue, "a");
    assert_eq!(fake.wait_for_messages(1, LONG).await.len(), 1);
    let stats = running.stop().await;
    assert_eq!((stats.sent, stats.failed), (1, 2));
    let broken = queue.get(broken).unwrap();
    assert_eq!(broken.state, AlertState::Failed);
    let error = broken.last_error.unwrap();
    assert!(
        error.contains("alert payload is not valid: missing field"),
        "{error}"
    );
    let mismatched = queue.get(mismatched).unwrap().last_error.unwrap();
    assert!(
        mismatched.contains("the row is of kind notice but its payload of kind signal_failure"),
        "{mismatched}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_poke_wakes_the_dispatcher_before_its_poll() {
    let (fake, config) = fake().await;
    let queue = Arc::new(MemoryQueue::new());
    let dispatcher = Dispatcher::telegram(config.clone(), queue.clone())
        .with_settings(DispatcherSettings {
            poll_interval: Duration::from_secs(600),
            ..settings(&config, "a")
        })
        .unwrap();
    let waker = dispatcher.waker();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(dispatcher.run(async {
        let _ = stopped.await;
    }));
    tokio::time::sleep(Duration::from_secs(5)).await;
    queue
        .record_alerts(vec![failure("s1", "a", "HTTP 422")])
        .await
        .unwrap();
    let poked = Instant::now();
    waker.wake();
    assert_eq!(fake.wait_for_messages(1, LONG).await.len(), 1);
    assert!(
        poked.elapsed() < Duration::from_secs(1),
        "{:?}",
        poked.elapsed()
    );
    let _ = stop.send(());
    assert_eq!(task.await.unwrap().sent, 1);
}

#[tokio::test(start_paused = true)]
async fn a_stop_sends_the_open_summaries_at_once() {
    let (fake, config) = fake().await;
    let queue = Arc::new(MemoryQueue::new());
    for i in 0..4 {
        queue.push(
            failure(&format!("s{i}"), "rejected:http_422", "HTTP 422"),
            1,
        );
    }
    let running = start(&config, &queue, "a");
    until(&queue, |rows| in_state(rows, AlertState::Folded) == 3).await;
    let stopped_at = Instant::now();
    let stats = running.stop().await;
    assert!(stopped_at.elapsed() < Duration::from_secs(60));
    assert_eq!((stats.sent, stats.summaries, stats.folded), (1, 1, 3));
    let messages = fake.messages();
    assert_eq!(messages.len(), 2);
    assert!(
        visible(&messages[1].text).contains("3 more signals failed the same way: ids s1, s2, s3")
    );
    assert_eq!(in_state(&queue.alerts(), AlertState::Summarized), 3);
}

#[tokio::test(start_paused = true)]
async fn settings_out_of_range_are_named() {
    let queue: Arc<dyn AlertQueue> = Arc::new(MemoryQueue::new());
    let config = AlertConfig::new(TOKEN, "42").unwrap();
    let errors = Dispatcher::telegram(config.clone(), queue)
        .with_settings(DispatcherSettings {
            worker: " ".to_owned(),
            lease: config.alert_timeout(),
            poll_interval: Duration::ZERO,
            batch: 0,
            retry_base: Duration::from_secs(3600),
            retry_max: Duration::from_secs(60),
        })
        .unwrap_err();
    let named: Vec<&str> = errors.iter().map(|e| e.setting()).collect();
    assert_eq!(
        named,
        ["worker", "lease", "poll_interval", "batch", "retry_base"]
    );
    assert!(
        errors[1]
            .to_string()
            .contains("longer than the alert timeout (60 s)")
    );
}

/// A store whose updates are busy the first `busy` times, and that counts
/// the reads of groups.
#[derive(Debug)]
struct Busy {
    inner: MemoryQueue,
    busy: AtomicU32,
    group_reads: AtomicU32,
}

impl AlertQueue for Busy {
    fn record_alerts(
        &self,
        alerts: Vec<NewAlert>,
    ) -> BoxFuture<'_, Result<Vec<AlertId>, QueueError>> {
        self.inner.record_alerts(alerts)
    }

    fn acquire_sender(
        &self,
        worker: &str,
        lease: Duration,
    ) -> BoxFuture<'_, Result<Option<SenderLease>, QueueError>> {
        self.inner.acquire_sender(worker, lease)
    }

    fn pending_alerts(
        &self,
        lease: &SenderLease,
        limit: usize,
    ) -> BoxFuture<'_, Result<Vec<StoredAlert>, QueueError>> {
        self.inner.pending_alerts(lease, limit)
    }

    fn alert_groups(
        &self,
        lease: &SenderLease,
        since: Duration,
    ) -> BoxFuture<'_, Result<Vec<GroupState>, QueueError>> {
        self.group_reads.fetch_add(1, Ordering::Relaxed);
        self.inner.alert_groups(lease, since)
    }

    fn update_alerts(
        &self,
        lease: &SenderLease,
        updates: Vec<AlertUpdate>,
    ) -> BoxFuture<'_, Result<(), QueueError>> {
        if self
            .busy
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
            .is_ok()
        {
            return Box::pin(async {
                Err(QueueError::Unavailable {
                    detail: "database is locked".to_owned(),
                })
            });
        }
        self.inner.update_alerts(lease, updates)
    }
}

#[test]
fn a_busy_store_is_retried_the_message_goes_out_once_and_groups_are_read_once() {
    let recorder = metrics_util::debugging::DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .unwrap();
    metrics::with_local_recorder(&recorder, || {
        runtime.block_on(async {
            let (fake, config): (FakeBotApi, AlertConfig) = fake().await;
            let queue = Arc::new(Busy {
                inner: MemoryQueue::new(),
                busy: AtomicU32::new(2),
                group_reads: AtomicU32::new(0),
            });
            let id = queue.inner.push(failure("s1", "a", "HTTP 422"), 1);
            let dispatcher = Dispatcher::telegram(config.clone(), queue.clone())
                .with_settings(settings(&config, "a"))
                .unwrap();
            let (stop, stopped) = oneshot::channel::<()>();
            let task = tokio::spawn(dispatcher.run(async {
                let _ = stopped.await;
            }));
            assert_eq!(fake.wait_for_messages(1, LONG).await.len(), 1);
            tokio::time::sleep(Duration::from_secs(60)).await;
            let _ = stop.send(());
            let stats = task.await.unwrap();
            assert_eq!(stats.sent, 1);
            assert_eq!(fake.messages().len(), 1);
            // Groups are read again only after an error broke the round:
            // while the lease is held, the sender's own account is kept.
            let reads = queue.group_reads.load(Ordering::Relaxed);
            assert!(
                stats.rounds > 50 && reads <= 3,
                "{reads} reads in {stats:?}"
            );
            assert_eq!(queue.inner.get(id).unwrap().state, AlertState::Sent);
        });
    });
    let gauge = snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .find(|(key, ..)| key.key().name() == METRIC_QUEUED)
        .map(|(.., value)| value);
    assert_eq!(
        gauge,
        Some(metrics_util::debugging::DebugValue::Gauge(0.0.into())),
        "nothing left queued"
    );
}
