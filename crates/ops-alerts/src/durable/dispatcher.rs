//! [`Dispatcher`]: the loop that sends stored alerts, one sender at a time.
//!
//! Each round: take (or renew) the sender lease; read the groups; send the
//! summaries whose window closed; then the pending alerts, oldest first,
//! each sent or folded by the [planner](super::planner). Between rounds it
//! sleeps until the next window closes or the poll interval passes, and
//! wakes at once when an [`AlertWaker`] is poked. One round is in `round`.

use std::fmt;
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::Notify;

use super::queue::AlertQueue;
use super::round::{Mode, Run};
use crate::config::AlertConfig;
use crate::courier::Courier;
use crate::sink::AlertSink;
#[cfg(feature = "telegram")]
use crate::telegram::TelegramSink;

/// Default pause between two rounds when nothing wakes the dispatcher.
pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_secs(2);
/// Default number of pending alerts read per round.
pub const DEFAULT_BATCH: usize = 100;
/// Default delay before a row Telegram failed to take is tried again; it
/// doubles with each failure of the row.
pub const DEFAULT_RETRY_BASE: Duration = Duration::from_secs(30);
/// Default longest delay between two tries of one row.
pub const DEFAULT_RETRY_MAX: Duration = Duration::from_secs(900);
/// How much longer than one alert's time bound the lease lasts by default:
/// a sender renews it before each message, so it must outlive one message
/// and the update that records it.
pub const LEASE_MARGIN: Duration = Duration::from_secs(10);

/// How the dispatcher paces itself. Defaults: a worker name unique to this
/// process and dispatcher, lease = alert timeout + 10 s, poll every 2 s,
/// 100 alerts per round, retry after 30 s doubling up to 15 min.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DispatcherSettings {
    /// The name the lease is held under (shown to operators).
    pub worker: String,
    /// How long the sender lease lasts from each renewal; must be longer
    /// than the alert timeout.
    pub lease: Duration,
    /// Longest pause between rounds (the backstop of the waker).
    pub poll_interval: Duration,
    /// Pending alerts read per round (at least 1).
    pub batch: usize,
    /// First retry delay of a row Telegram failed to take.
    pub retry_base: Duration,
    /// Longest retry delay.
    pub retry_max: Duration,
}

impl DispatcherSettings {
    /// The defaults for `config`'s alert timeout.
    pub fn for_config(config: &AlertConfig) -> DispatcherSettings {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        DispatcherSettings {
            worker: format!(
                "ops-alerts pid {} #{}",
                std::process::id(),
                NEXT.fetch_add(1, Ordering::Relaxed)
            ),
            lease: config.alert_timeout().saturating_add(LEASE_MARGIN),
            poll_interval: DEFAULT_POLL_INTERVAL,
            batch: DEFAULT_BATCH,
            retry_base: DEFAULT_RETRY_BASE,
            retry_max: DEFAULT_RETRY_MAX,
        }
    }

    fn validate(&self, alert_timeout: Duration) -> Result<(), Vec<DispatcherSettingsError>> {
        let mut errors = Vec::new();
        let mut check = |ok: bool, setting: &'static str, expected: String| {
            if !ok {
                errors.push(DispatcherSettingsError { setting, expected });
            }
        };
        check(
            !self.worker.trim().is_empty(),
            "worker",
            "a non-empty name".to_owned(),
        );
        check(
            self.lease > alert_timeout,
            "lease",
            format!(
                "longer than the alert timeout ({} s), or a send could outlive it",
                alert_timeout.as_secs()
            ),
        );
        check(
            !self.poll_interval.is_zero(),
            "poll_interval",
            "more than zero".to_owned(),
        );
        check(self.batch >= 1, "batch", "at least 1".to_owned());
        check(
            !self.retry_base.is_zero() && self.retry_base <= self.retry_max,
            "retry_base",
            "more than zero and at most retry_max".to_owned(),
        );
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }

    /// The delay before try `attempts + 1` of a row: `retry_base` doubled
    /// per earlier failure, at most `retry_max`.
    pub(crate) fn retry_delay(&self, attempts: u32) -> Duration {
        let factor = 2_u32.saturating_pow(attempts.min(16));
        self.retry_base.saturating_mul(factor).min(self.retry_max)
    }
}

/// A setting of [`DispatcherSettings`] is out of range.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("dispatcher setting `{setting}` is out of range; expected {expected}")]
pub struct DispatcherSettingsError {
    setting: &'static str,
    expected: String,
}

impl DispatcherSettingsError {
    /// The setting (`worker`, `lease`, `poll_interval`, `batch`, `retry_base`).
    pub fn setting(&self) -> &'static str {
        self.setting
    }
}

/// Wakes a [`Dispatcher`] before its poll interval ends: poke it after
/// recording alerts. Cheap to clone. A poke while the dispatcher is busy
/// is kept, and makes the next pause end at once.
#[derive(Debug, Clone)]
pub struct AlertWaker(Arc<Notify>);

impl AlertWaker {
    /// New alerts were recorded.
    pub fn wake(&self) {
        self.0.notify_one();
    }
}

/// What one [`Dispatcher::run`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DispatchStats {
    /// Alerts and recovered messages sent.
    pub sent: u64,
    /// Alerts folded into their group's summary.
    pub folded: u64,
    /// Summaries sent.
    pub summaries: u64,
    /// Sends Telegram failed in a passing way, rows kept to try later.
    pub retried: u64,
    /// Alerts that ended failed (refused for good, or unreadable).
    pub failed: u64,
    /// Rounds run while holding the lease.
    pub rounds: u64,
}

/// Sends the alerts of an [`AlertQueue`] to Telegram: while it holds the
/// sender lease, only it sends, so several workers can share one store.
///
/// ```
/// use std::sync::Arc;
/// use std::sync::atomic::{AtomicI32, Ordering};
/// use ops_alerts::durable::{AlertQueue, AlertState, Dispatcher, MemoryQueue, NewAlert};
/// use ops_alerts::{AlertConfig, AlertPayload, AlertSink, ConflictAlert, ParseMode, SendFuture, SentMessage};
///
/// #[derive(Debug, Default)]
/// struct Counter(AtomicI32);
///
/// impl AlertSink for Counter {
///     fn send_message<'a>(&'a self, _text: &'a str, _mode: ParseMode) -> SendFuture<'a> {
///         let message_id = self.0.fetch_add(1, Ordering::Relaxed) + 1;
///         Box::pin(async move { Ok(SentMessage { message_id }) })
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let queue = Arc::new(MemoryQueue::new());
/// let config = AlertConfig::new("123456:AAH-example-token", "42").unwrap();
/// let dispatcher = Dispatcher::new(config, Arc::new(Counter::default()), queue.clone());
/// let waker = dispatcher.waker();
/// let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
/// let running = tokio::spawn(dispatcher.run(async { let _ = stopped.await; }));
///
/// let payload = AlertPayload::Conflict(ConflictAlert { signal_id: "s1".into(), line: Some(3) });
/// queue.record_alerts(vec![NewAlert::from_payload(&payload).unwrap()]).await.unwrap();
/// waker.wake();
/// tokio::time::sleep(std::time::Duration::from_millis(10)).await;
///
/// stop.send(()).unwrap();
/// let stats = running.await.unwrap();
/// assert_eq!(stats.sent, 1);
/// let row = &queue.alerts()[0];
/// assert_eq!((row.state, row.message_id), (AlertState::Sent, Some(1)));
/// # }
/// ```
pub struct Dispatcher {
    pub(crate) courier: Courier,
    pub(crate) queue: Arc<dyn AlertQueue>,
    pub(crate) settings: DispatcherSettings,
    wake: Arc<Notify>,
}

impl fmt::Debug for Dispatcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Dispatcher")
            .field("courier", &self.courier)
            .field("queue", &self.queue)
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl Dispatcher {
    /// A dispatcher sending through `sink`, with the default settings.
    pub fn new(
        config: AlertConfig,
        sink: Arc<dyn AlertSink>,
        queue: Arc<dyn AlertQueue>,
    ) -> Dispatcher {
        let settings = DispatcherSettings::for_config(&config);
        Dispatcher {
            courier: Courier::new(config, sink),
            queue,
            settings,
            wake: Arc::new(Notify::new()),
        }
    }

    /// A dispatcher sending with teloxide ([`TelegramSink`]). Needs the
    /// `telegram` feature (on by default).
    #[cfg(feature = "telegram")]
    pub fn telegram(config: AlertConfig, queue: Arc<dyn AlertQueue>) -> Dispatcher {
        let sink = Arc::new(TelegramSink::new(&config));
        Dispatcher::new(config, sink, queue)
    }

    /// Other settings.
    ///
    /// # Errors
    /// Every setting out of range, each named.
    pub fn with_settings(
        mut self,
        settings: DispatcherSettings,
    ) -> Result<Dispatcher, Vec<DispatcherSettingsError>> {
        settings.validate(self.courier.config().alert_timeout())?;
        self.settings = settings;
        Ok(self)
    }

    /// The settings in use.
    pub fn settings(&self) -> &DispatcherSettings {
        &self.settings
    }

    /// The handle that wakes this dispatcher when alerts were recorded.
    pub fn waker(&self) -> AlertWaker {
        AlertWaker(Arc::clone(&self.wake))
    }

    /// Sends until `shutdown` completes, then runs one last round that also
    /// sends every open summary at once (the next sender would otherwise
    /// owe them), bounded by the alert timeout; whatever it cannot send
    /// stays stored for the next sender. The lease is not given back: it
    /// expires after [`DispatcherSettings::lease`].
    ///
    /// A message in flight when `shutdown` completes is finished and
    /// recorded first, so a stop never sends a message twice.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send) -> DispatchStats {
        let mut shutdown = pin!(shutdown);
        let stopping = AtomicBool::new(false);
        let mut run = Run::new(&self);
        loop {
            let pause = {
                let mut round = pin!(run.round(Mode::Normal, &stopping));
                tokio::select! {
                    biased;
                    pause = &mut round => pause,
                    () = &mut shutdown => {
                        stopping.store(true, Ordering::Relaxed);
                        round.await
                    }
                }
            };
            if stopping.load(Ordering::Relaxed) {
                break;
            }
            tokio::select! {
                biased;
                () = &mut shutdown => break,
                () = self.wake.notified() => {}
                () = tokio::time::sleep(pause) => {}
            }
        }
        let flush = tokio::time::Instant::now() + self.courier.config().alert_timeout();
        let _ = run.round(Mode::Flush(flush), &stopping).await;
        run.finish()
    }
}
