//! Two-way ops over real HTTP: the command poller against the fake Bot API
//! (`getUpdates`, `getMe`, `sendMessage` on 127.0.0.1) and a real SQLite
//! outbox (the restart also on a throwaway PostgreSQL cluster). Admins in the ops chat get answers and an audit row; strangers,
//! and admins elsewhere, get silence, a WARN line and a count. The offset
//! survives a restart; a 409 gives one alert and no tight loop.
//!
//! Real time, short pauses: the poller's HTTP timeouts and the fake's held
//! long polls are tokio timers, and a paused clock would fire them while a
//! request is on the wire (the SQLite thread is outside the runtime). Every
//! wait below is for an event, bounded by a generous limit.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use loopback_fakes::telegram::{FakeBotApi, FakeReply, RecordedMessage, updates};
use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
use ops_alerts::AlertConfig;
use signal_config::CommandSettings;
use signal_delivery::ops::metrics::{
    OPS_COMMANDS_REFUSED_TOTAL, OPS_COMMANDS_TOTAL, OPS_POLL_ERRORS_TOTAL,
};
use signal_delivery::ops::{CommandPoller, PollerHandle, PollerSettings};
use signal_outbox::{
    AlertKind, AttemptRecord, EnqueueOutcome, FailureReason, NewAlert, NewSignal, Outbox,
    OutboxExt as _, Outcome, State,
};
use signal_outbox_postgres::{PgConfig, PgOptions, PgOutbox};
use signal_outbox_sqlite::SqliteOutbox;

const TOKEN: &str = "123456:AAH-secret-token-value-for-ops-tests";
const TOKEN_PART: &str = "AAH-secret";
const OPS_CHAT: i64 = -100_555;
const ADMIN: u64 = 111;
const STRANGER: u64 = 999;
const LIMIT: Duration = Duration::from_secs(15);

#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl Write for Logs {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Logs {
    fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

/// A counter's name, labels and value.
type Count = (String, Vec<(String, String)>, u64);

struct Ops {
    bot: FakeBotApi,
    dir: tempfile::TempDir,
    outbox: Arc<dyn Outbox>,
    logs: Logs,
    snapshotter: Snapshotter,
    _log_guard: tracing::subscriber::DefaultGuard,
    _metrics_guard: metrics::LocalRecorderGuard<'static>,
}

fn settings(config: &AlertConfig) -> PollerSettings {
    PollerSettings {
        poll_timeout: Duration::from_secs(1),
        backoff_base: Duration::from_millis(50),
        backoff_max: Duration::from_millis(200),
        conflict_pause: Duration::from_millis(400),
        standby: Duration::from_millis(100),
        lease: Duration::from_secs(1),
        ..PollerSettings::for_config(config)
    }
}

impl Ops {
    async fn new() -> Ops {
        let logs = Logs::default();
        let writer = logs.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::INFO)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        let log_guard = tracing::subscriber::set_default(subscriber);
        // Leaked: the guard borrows the recorder for the test's life.
        let recorder: &'static DebuggingRecorder = Box::leak(Box::new(DebuggingRecorder::new()));
        let snapshotter = recorder.snapshotter();
        let metrics_guard = metrics::set_default_local_recorder(recorder);
        let bot = FakeBotApi::start().await.unwrap();
        let dir = tempfile::tempdir().unwrap();
        let outbox: Arc<dyn Outbox> =
            Arc::new(SqliteOutbox::open(&dir.path().join("outbox.db")).unwrap());
        Ops {
            bot,
            dir,
            outbox,
            logs,
            snapshotter,
            _log_guard: log_guard,
            _metrics_guard: metrics_guard,
        }
    }

    fn config(&self) -> AlertConfig {
        AlertConfig::new(TOKEN, &OPS_CHAT.to_string())
            .unwrap()
            .with_api_url(self.bot.api_url().parse().unwrap())
    }

    fn start(&self, worker: &str, outbox: Arc<dyn Outbox>) -> PollerHandle {
        let config = self.config();
        let commands = CommandSettings {
            enabled: true,
            admin_user_ids: vec![ADMIN],
        };
        CommandPoller::new(&config, &commands, outbox, worker)
            .unwrap()
            .with_settings(settings(&config))
            .spawn()
    }

    /// Sends `text` as `user` in `chat`.
    fn say(&self, chat: i64, user: u64, text: &str) -> i64 {
        self.bot
            .push_update(updates::text_message(chat, user, text))
    }

    async fn wait_messages(&self, n: usize) -> Vec<RecordedMessage> {
        let messages = self.bot.wait_for_messages(n, LIMIT).await;
        assert!(messages.len() >= n, "{n} message(s) expected: {messages:?}");
        messages
    }

    /// Counter values by name and one label, from one snapshot (taking a
    /// snapshot drains the recorder, so a test takes one, after acting).
    fn counters(&self) -> Vec<Count> {
        self.snapshotter
            .snapshot()
            .into_vec()
            .into_iter()
            .filter_map(|(key, _, _, value)| match value {
                DebugValue::Counter(n) => Some((
                    key.key().name().to_owned(),
                    key.key()
                        .labels()
                        .map(|l| (l.key().to_owned(), l.value().to_owned()))
                        .collect(),
                    n,
                )),
                _ => None,
            })
            .collect()
    }
}

fn counter(counters: &[Count], name: &str, label: (&str, &str)) -> u64 {
    counters
        .iter()
        .filter(|(n, labels, _)| {
            n == name && labels.iter().any(|(k, v)| k == label.0 && v == label.1)
        })
        .map(|(_, _, n)| n)
        .sum()
}

/// Enqueues `id` and dead-letters it after one failed attempt.
async fn dead_letter(outbox: &dyn Outbox, id: &str) {
    let enqueued = outbox
        .enqueue_one(NewSignal::new(id, br#"{"side":"buy"}"#.to_vec()))
        .await
        .unwrap();
    assert_eq!(enqueued, EnqueueOutcome::Inserted);
    kill(outbox, id).await;
}

/// Claims the pending row `id` and dead-letters it after one failed attempt.
async fn kill(outbox: &dyn Outbox, id: &str) {
    let claims = outbox
        .claim("w", 10, Duration::from_secs(30))
        .await
        .unwrap();
    let row = claims.rows.into_iter().find(|r| r.id == id).unwrap();
    let results = outbox
        .record(
            "w",
            vec![Outcome::DeadLetter {
                id: id.to_owned(),
                token: row.token,
                attempt: Some(AttemptRecord::failed(
                    1,
                    Some(422),
                    "http_422",
                    Duration::from_millis(7),
                )),
                attempts: 1,
                reason: FailureReason::Rejected,
                last_error: "rejected: HTTP 422 <bad> & worse".to_owned(),
                alert: NewAlert {
                    kind: AlertKind::SignalFailure,
                    group_key: "post_signal:rejected".to_owned(),
                    signal_id: Some(id.to_owned()),
                    payload: "{}".to_owned(),
                },
                outage: false,
            }],
        )
        .await
        .unwrap();
    assert!(results.iter().all(Result::is_ok), "{results:?}");
}

#[tokio::test]
async fn admins_in_the_ops_chat_get_every_command_answered_and_audited() {
    let ops = Ops::new().await;
    dead_letter(ops.outbox.as_ref(), "sig-dead-1").await;
    let poller = ops.start("w-ops", Arc::clone(&ops.outbox));

    ops.say(OPS_CHAT, ADMIN, "/help");
    let help = &ops.wait_messages(1).await[0];
    assert_eq!(help.chat_id, serde_json::json!(OPS_CHAT));
    assert_eq!(help.parse_mode.as_deref(), Some("HTML"));
    assert!(help.text.starts_with("<b>Commands</b>"), "{}", help.text);
    assert!(help.text.contains("/replay ID"), "{}", help.text);

    // `/cmd@thisbot` works in groups; `/cmd@otherbot` is someone else's.
    ops.say(OPS_CHAT, ADMIN, "/status@other_bot");
    ops.say(OPS_CHAT, ADMIN, "/status@fake_bot");
    let status = &ops.wait_messages(2).await[1];
    assert!(status.text.contains("Outbox status"), "{}", status.text);
    assert!(status.text.contains("dead-lettered 1"), "{}", status.text);
    assert!(
        status.text.contains("last failure: sig-dead-1 (rejected)"),
        "{}",
        status.text
    );

    ops.say(OPS_CHAT, ADMIN, "/failures 3");
    let failures = &ops.wait_messages(3).await[2];
    assert!(
        failures.text.contains("sig-dead-1 — rejected"),
        "{}",
        failures.text
    );
    // Escaped like the alerts: the error text cannot inject markup.
    assert!(
        failures.text.contains("HTTP 422 &lt;bad&gt; &amp; worse"),
        "{}",
        failures.text
    );

    ops.say(OPS_CHAT, ADMIN, "/failures lots");
    let bad = &ops.wait_messages(4).await[3];
    assert!(
        bad.text.contains("whole number from 1 to 20"),
        "{}",
        bad.text
    );

    ops.say(OPS_CHAT, ADMIN, "/show sig-dead-1");
    let show = &ops.wait_messages(5).await[4];
    assert!(show.text.contains("state: dead_lettered"), "{}", show.text);
    assert!(
        show.text.contains("#1 ") && show.text.contains("422 http_422 7ms"),
        "{}",
        show.text
    );

    ops.say(OPS_CHAT, ADMIN, "/replay sig-dead-1");
    let replay = &ops.wait_messages(6).await[5];
    assert!(
        replay.text.contains("sig-dead-1 is pending again"),
        "{}",
        replay.text
    );
    let row = &ops.outbox.show(vec!["sig-dead-1".into()]).await.unwrap()[0].row;
    assert_eq!(row.state, State::Pending, "replayed through the outbox");

    ops.say(OPS_CHAT, ADMIN, "/replay sig-dead-1");
    let again = &ops.wait_messages(7).await[6];
    assert!(
        again.text.contains("it is pending, not dead-lettered"),
        "{}",
        again.text
    );

    poller.stop().await;
    let audit = ops.outbox.audit(None, 100).await.unwrap();
    let actions: Vec<(&str, &str)> = audit
        .iter()
        .map(|a| (a.actor.as_str(), a.action.as_str()))
        .collect();
    let who = "telegram:user 111";
    assert_eq!(
        actions,
        [
            (who, "telegram /help"),
            (who, "telegram /status"),
            (who, "telegram /failures"),
            (who, "telegram /failures"),
            (who, "telegram /show"),
            (who, "replay"),
            (who, "replay"),
        ]
    );
    assert!(audit[5].result.contains("\"replayed\":1"), "{:?}", audit[5]);
    let counters = ops.counters();
    assert_eq!(
        counter(&counters, OPS_COMMANDS_TOTAL, ("command", "failures")),
        2
    );
    assert_eq!(
        counter(&counters, OPS_COMMANDS_TOTAL, ("command", "replay")),
        2
    );
    assert_eq!(
        counter(&counters, OPS_COMMANDS_REFUSED_TOTAL, ("why", "user")),
        0
    );
    assert!(!ops.logs.text().contains(TOKEN_PART), "{}", ops.logs.text());
}

#[tokio::test]
async fn strangers_and_admins_elsewhere_get_silence_a_warn_and_a_count() {
    let ops = Ops::new().await;
    dead_letter(ops.outbox.as_ref(), "sig-dead-2").await;
    let poller = ops.start("w-ops", Arc::clone(&ops.outbox));

    for text in [
        "/status",
        "/failures",
        "/show sig-dead-2",
        "/replay sig-dead-2",
        "/help",
        "/nonsense",
    ] {
        ops.say(OPS_CHAT, STRANGER, text);
        ops.say(STRANGER as i64, STRANGER, text);
        ops.say(ADMIN as i64, ADMIN, text);
    }
    ops.bot
        .push_update(updates::channel_post(OPS_CHAT, "/replay sig-dead-2"));
    // Updates are handled in order: once this is answered, all the above were.
    ops.say(OPS_CHAT, ADMIN, "/help");
    let messages = ops.wait_messages(1).await;
    poller.stop().await;

    assert_eq!(
        messages.len(),
        1,
        "only the admin's last /help: {messages:?}"
    );
    assert!(messages[0].text.starts_with("<b>Commands</b>"));
    let row = &ops.outbox.show(vec!["sig-dead-2".into()]).await.unwrap()[0].row;
    assert_eq!(row.state, State::DeadLettered, "nothing was replayed");
    let audit = ops.outbox.audit(None, 100).await.unwrap();
    assert_eq!(audit.len(), 1, "only the admin's /help: {audit:?}");

    let counters = ops.counters();
    assert_eq!(
        counter(&counters, OPS_COMMANDS_REFUSED_TOTAL, ("why", "user")),
        13
    );
    assert_eq!(
        counter(&counters, OPS_COMMANDS_REFUSED_TOTAL, ("why", "chat")),
        6
    );
    let logs = ops.logs.text();
    let warns: Vec<&str> = logs
        .lines()
        .filter(|l| l.contains("WARN") && l.contains("refused an ops command"))
        .collect();
    assert_eq!(warns.len(), 19, "{logs}");
    assert!(
        warns
            .iter()
            .any(|l| l.contains("user_id=999") && l.contains("chat_id=-100555"))
    );
    assert!(warns.iter().any(|l| l.contains("user_id=111")
        && l.contains("chat_id=111")
        && l.contains("why=\"chat\"")));
    assert!(
        !logs.contains("sig-dead-2"),
        "a stranger's text is not logged: {logs}"
    );
    assert!(!logs.contains(TOKEN_PART));
}

#[tokio::test]
async fn the_offset_survives_a_restart_and_no_update_runs_twice() {
    let ops = Ops::new().await;
    let path = ops.dir.path().join("outbox.db");
    offset_survives_a_restart(&ops, async move {
        let reopened: Arc<dyn Outbox> = Arc::new(SqliteOutbox::open(&path).unwrap());
        reopened
    })
    .await;
}

#[tokio::test]
async fn the_offset_survives_a_restart_on_postgresql() {
    let Some(cluster) = test_postgres::cluster_or_skip("ops_offset_restart") else {
        return;
    };
    let url = cluster.fresh_database_url().await;
    let open = |url: String| async move {
        let config = PgConfig::from_url_with(&url, &test_postgres::no_env).unwrap();
        let outbox: Arc<dyn Outbox> = Arc::new(
            PgOutbox::connect_with(config, PgOptions::default().with_pool_size(2))
                .await
                .unwrap(),
        );
        outbox
    };
    let mut ops = Ops::new().await;
    ops.outbox = open(url.clone()).await;
    offset_survives_a_restart(&ops, open(url)).await;
}

/// One poller replays a dead letter and stops; the row dies again; a new
/// process (another name, a new handle on the same storage) waits for the
/// first one's lease to run out, then goes on from the stored offset and
/// does not replay it a second time.
async fn offset_survives_a_restart(ops: &Ops, reopen: impl Future<Output = Arc<dyn Outbox>>) {
    dead_letter(ops.outbox.as_ref(), "sig-dead-3").await;
    let first = ops.start("w-before", Arc::clone(&ops.outbox));
    let replay = ops.say(OPS_CHAT, ADMIN, "/replay sig-dead-3");
    ops.wait_messages(1).await;
    first.stop().await;
    assert_eq!(ops.outbox.bot_offset().await.unwrap(), Some(replay + 1));

    // The same row dead again: a second run of the update would replay it.
    kill(ops.outbox.as_ref(), "sig-dead-3").await;
    let asked_before = ops.bot.get_updates_offsets().len();

    let second = ops.start("w-after", reopen.await);
    ops.say(OPS_CHAT, ADMIN, "/help");
    let messages = ops.wait_messages(2).await;
    second.stop().await;
    assert_eq!(messages.len(), 2, "{messages:?}");
    assert!(
        messages[1].text.starts_with("<b>Commands</b>"),
        "{}",
        messages[1].text
    );
    let asked = ops.bot.get_updates_offsets();
    assert_eq!(
        asked[asked_before],
        replay + 1,
        "the new poller starts after the handled update: {asked:?}"
    );
    let row = &ops.outbox.show(vec!["sig-dead-3".into()]).await.unwrap()[0].row;
    assert_eq!(row.state, State::DeadLettered, "not replayed a second time");
    let replays = ops
        .outbox
        .audit(None, 100)
        .await
        .unwrap()
        .into_iter()
        .filter(|a| a.action == "replay")
        .count();
    assert_eq!(replays, 1, "the replay ran once");
}

#[tokio::test]
async fn a_stale_command_is_not_run_late() {
    let ops = Ops::new().await;
    dead_letter(ops.outbox.as_ref(), "sig-dead-4").await;
    ops.bot.push_update(updates::old_text_message(
        OPS_CHAT,
        ADMIN,
        "/replay sig-dead-4",
        3_600,
    ));
    let poller = ops.start("w-ops", Arc::clone(&ops.outbox));
    ops.say(OPS_CHAT, ADMIN, "/help");
    let messages = ops.wait_messages(1).await;
    poller.stop().await;
    assert_eq!(messages.len(), 1, "{messages:?}");
    let row = &ops.outbox.show(vec!["sig-dead-4".into()]).await.unwrap()[0].row;
    assert_eq!(row.state, State::DeadLettered);
    assert!(ops.logs.text().contains("too old to act on now"));
}

#[tokio::test]
async fn a_conflict_is_alerted_once_and_retried_slowly() {
    let ops = Ops::new().await;
    for _ in 0..3 {
        ops.bot.push_get_updates_reply(FakeReply::conflict());
    }
    ops.bot
        .push_get_updates_reply(FakeReply::TooManyRequests { retry_after: 1 });
    let started = Instant::now();
    let poller = ops.start("w-ops", Arc::clone(&ops.outbox));
    ops.say(OPS_CHAT, ADMIN, "/help");
    let messages = ops.wait_messages(2).await;
    let elapsed = started.elapsed();
    poller.stop().await;

    assert_eq!(messages.len(), 2, "{messages:?}");
    assert!(
        messages[0].text.contains("bot token shared"),
        "{}",
        messages[0].text
    );
    assert!(
        messages[0].text.contains("another deployment polls"),
        "{}",
        messages[0].text
    );
    assert!(messages[1].text.starts_with("<b>Commands</b>"));
    // Three 409s at 0.4 s each, then a 429 honoured for 1 s.
    assert!(elapsed >= Duration::from_millis(2_200), "{elapsed:?}");
    let offsets = ops.bot.get_updates_offsets();
    assert!(offsets.len() <= 7, "no tight loop: {offsets:?}");
    let counters = ops.counters();
    assert_eq!(
        counter(&counters, OPS_POLL_ERRORS_TOTAL, ("kind", "conflict")),
        3
    );
    assert_eq!(
        counter(&counters, OPS_POLL_ERRORS_TOTAL, ("kind", "retry_after")),
        1
    );
    let logs = ops.logs.text();
    assert_eq!(
        logs.lines()
            .filter(|l| l.contains("ERROR") && l.contains("the token is shared by mistake"))
            .count(),
        3,
        "{logs}"
    );
    assert!(!logs.contains(TOKEN_PART));
}

#[tokio::test]
async fn bot_api_failures_are_retried_with_backoff_and_no_secret_is_shown() {
    let ops = Ops::new().await;
    ops.bot
        .push_get_updates_reply(FakeReply::ServerError { status: 502 });
    ops.bot.push_get_updates_reply(FakeReply::Unauthorized);
    let config = ops.config();
    let commands = CommandSettings {
        enabled: true,
        admin_user_ids: vec![ADMIN],
    };
    let poller = CommandPoller::new(&config, &commands, Arc::clone(&ops.outbox), "w-ops")
        .unwrap()
        .with_settings(settings(&config));
    let shown = format!("{poller:?}");
    assert!(!shown.contains(TOKEN_PART), "{shown}");
    let poller = poller.spawn();
    ops.say(OPS_CHAT, ADMIN, "/help");
    let messages = ops.wait_messages(1).await;
    poller.stop().await;
    assert_eq!(messages.len(), 1, "{messages:?}");
    let counters = ops.counters();
    assert_eq!(
        counter(&counters, OPS_POLL_ERRORS_TOTAL, ("kind", "transient")),
        1
    );
    assert_eq!(
        counter(&counters, OPS_POLL_ERRORS_TOTAL, ("kind", "unauthorized")),
        1
    );
    let logs = ops.logs.text();
    assert!(logs.contains("getUpdates failed; retrying"), "{logs}");
    assert!(
        logs.contains("Telegram refused OPS_TELEGRAM_BOT_TOKEN"),
        "{logs}"
    );
    assert!(!logs.contains(TOKEN_PART), "{logs}");
}

#[test]
fn an_at_channel_ops_chat_cannot_take_commands() {
    let config = AlertConfig::new(TOKEN, "@ops_room").unwrap();
    let commands = CommandSettings {
        enabled: true,
        admin_user_ids: vec![ADMIN],
    };
    let dir = tempfile::tempdir().unwrap();
    let outbox: Arc<dyn Outbox> =
        Arc::new(SqliteOutbox::open(&dir.path().join("outbox.db")).unwrap());
    let error = CommandPoller::new(&config, &commands, outbox, "w").unwrap_err();
    assert!(error.to_string().contains("numeric chat id"), "{error}");
}

#[tokio::test]
async fn a_bulk_replay_waits_for_the_same_admins_confirmation() {
    let ops = Ops::new().await;
    dead_letter(ops.outbox.as_ref(), "sig-bulk-a").await;
    dead_letter(ops.outbox.as_ref(), "sig-bulk-b").await;
    let poller = ops.start("w-ops", Arc::clone(&ops.outbox));
    let state = |id: &'static str| {
        let outbox = Arc::clone(&ops.outbox);
        async move { outbox.show(vec![id.into()]).await.unwrap()[0].row.state }
    };

    ops.say(OPS_CHAT, ADMIN, "/replay --reason nonsense");
    let usage = &ops.wait_messages(1).await[0];
    assert!(
        usage.text.contains("R one of invalid_signal, exhausted"),
        "{}",
        usage.text
    );

    ops.say(OPS_CHAT, ADMIN, "/replay --reason rejected");
    let ask = &ops.wait_messages(2).await[1];
    assert!(
        ask.text
            .contains("2 dead letter(s) with reason rejected would be sent again"),
        "{}",
        ask.text
    );
    assert!(ask.text.contains("/confirm within 2m0s"), "{}", ask.text);
    assert_eq!(
        state("sig-bulk-a").await,
        State::DeadLettered,
        "a dry run only"
    );

    // Nobody else can confirm it, in the ops chat or anywhere.
    ops.say(OPS_CHAT, STRANGER, "/confirm");
    ops.say(ADMIN as i64, ADMIN, "/confirm");
    ops.say(OPS_CHAT, ADMIN, "/confirm");
    let done = &ops.wait_messages(3).await[2];
    assert!(
        done.text
            .contains("2 dead letter(s) with reason rejected are pending again"),
        "{}",
        done.text
    );
    assert_eq!(state("sig-bulk-a").await, State::Pending);
    assert_eq!(state("sig-bulk-b").await, State::Pending);

    ops.say(OPS_CHAT, ADMIN, "/confirm");
    let again = &ops.wait_messages(4).await[3];
    assert!(again.text.contains("Nothing to confirm"), "{}", again.text);
    poller.stop().await;
    assert_eq!(
        ops.bot.messages().len(),
        4,
        "the refused /confirm got nothing"
    );

    let audit = ops.outbox.audit(None, 100).await.unwrap();
    let replays: Vec<_> = audit.iter().filter(|a| a.action == "replay").collect();
    assert_eq!(replays.len(), 1, "{audit:?}");
    assert_eq!(replays[0].actor, "telegram:user 111");
    assert!(
        replays[0].detail.contains("\"confirmed\":true"),
        "{:?}",
        replays[0]
    );
    assert!(
        replays[0].result.contains("\"replayed\":2"),
        "{:?}",
        replays[0]
    );
}

#[tokio::test]
async fn an_answer_waits_out_a_429_and_is_sent() {
    let ops = Ops::new().await;
    ops.bot
        .push_reply_for("sendMessage", FakeReply::TooManyRequests { retry_after: 1 });
    let poller = ops.start("w-ops", Arc::clone(&ops.outbox));
    let started = Instant::now();
    ops.say(OPS_CHAT, ADMIN, "/help");
    let messages = ops.wait_messages(1).await;
    poller.stop().await;
    assert!(messages[0].text.starts_with("<b>Commands</b>"));
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "retry_after honoured"
    );
    assert!(ops.logs.text().contains("the answer waits"));
}
