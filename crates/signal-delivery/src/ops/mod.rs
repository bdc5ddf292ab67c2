//! Two-way Telegram ops (issue 16): `signal-delivery run` answers a few
//! commands from allow-listed admins in the ops chat.
//!
//! # Security model
//!
//! - **Who**: only Telegram user ids in `OPS_TELEGRAM_ADMIN_USER_IDS`, and
//!   only in the ops chat (`OPS_TELEGRAM_CHAT_ID`, a numeric id: channel
//!   posts carry no user). Everyone else, in any chat, gets **silence**: no
//!   answer, no hint that commands exist; a WARN line with their user and
//!   chat ids, and `signal_delivery_ops_commands_refused_total` ([`gate`]).
//! - **Audit**: every admitted command is written to the outbox's audit log
//!   (who, what, when, result) and answered in the ops chat.
//! - **Once**: the update offset is stored in the outbox *before* an update
//!   is acted on, so a restart never runs a command twice (a crash in
//!   between loses that one command instead; the admin sees no answer and
//!   sends it again). Commands older than [`PollerSettings::max_age`] when
//!   they arrive (sent while no poller ran) are skipped, not run late.
//! - **One poller per fleet**: it polls only while this worker holds the
//!   outbox's alert sender lease (the same lease, under the worker's name,
//!   so it runs beside the one alert sender), and every offset write is
//!   fenced by that lease.
//! - **409 Conflict** means another deployment polls with the same token:
//!   an ERROR line and one message in the ops chat per episode, then a slow
//!   retry ([`PollerSettings::conflict_pause`]), never a tight loop.
//!
//! The poller is its own task: nothing in delivery waits for it.

mod bot_api;
mod commands;
mod confirm;
mod gate;
pub mod metrics;
mod replay;
mod update;

use std::sync::Arc;
use std::time::Duration;

use ops_alerts::{AlertConfig, AlertSink, ChatTarget, ParseMode, TelegramSink};
use signal_config::CommandSettings;
use signal_outbox::{Outbox, SenderLease};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use bot_api::{BotApi, BotApiError};
pub use commands::{DEFAULT_FAILURES, MAX_FAILURES, REPLAY_MAX_AGE};
pub use confirm::CONFIRM_WITHIN;
pub use gate::Gate;

/// The longest an answer waits out Telegram's 429s before it is given up.
pub const MAX_ANSWER_WAIT: Duration = Duration::from_secs(30);

/// How the poller paces itself.
///
/// Defaults: long-poll 10 s, retry passing errors after 1 s doubling up to
/// 60 s, wait 5 min after a 409 or a refused token, look for the lease
/// every 5 s while another worker holds it, skip commands older than 5 min,
/// lease = alert timeout + 10 s (as the alert sender's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PollerSettings {
    /// `getUpdates`' `timeout`.
    pub poll_timeout: Duration,
    /// First pause after a passing error.
    pub backoff_base: Duration,
    /// Longest pause after passing errors.
    pub backoff_max: Duration,
    /// Pause after a 409 Conflict or a refused token.
    pub conflict_pause: Duration,
    /// Pause while another worker holds the sender lease.
    pub standby: Duration,
    /// Commands sent longer ago than this are skipped.
    pub max_age: Duration,
    /// How long each renewal of the sender lease lasts.
    pub lease: Duration,
}

impl PollerSettings {
    /// The defaults for `config`'s alert timeout.
    pub fn for_config(config: &AlertConfig) -> PollerSettings {
        PollerSettings {
            poll_timeout: Duration::from_secs(10),
            backoff_base: Duration::from_secs(1),
            backoff_max: Duration::from_secs(60),
            conflict_pause: Duration::from_secs(300),
            standby: Duration::from_secs(5),
            max_age: Duration::from_secs(300),
            lease: ops_alerts::durable::DispatcherSettings::for_config(config).lease,
        }
    }
}

/// Why the poller could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OpsError {
    /// Commands need a numeric ops chat (checked by the configuration too).
    #[error(
        "OPS_TELEGRAM_CHAT_ID must be a numeric chat id for commands (channel posts carry no user)"
    )]
    ChatNotNumeric,
    /// The HTTP client could not be built.
    #[error("cannot start the ops command poller: {0}")]
    Client(String),
}

/// Long-polls the Bot API and answers admins' commands in the ops chat.
pub struct CommandPoller {
    api: BotApi,
    replies: Arc<dyn AlertSink>,
    outbox: Arc<dyn Outbox>,
    gate: Gate,
    worker: String,
    settings: PollerSettings,
    pending: confirm::Confirmations,
}

impl std::fmt::Debug for CommandPoller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CommandPoller")
            .field("api", &self.api)
            .field("gate", &self.gate)
            .field("worker", &self.worker)
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

/// A running poller: [`stop`](PollerHandle::stop) it at shutdown.
#[derive(Debug)]
pub struct PollerHandle {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl PollerHandle {
    /// Stops the poller (an unanswered long poll is dropped) and waits for it.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

impl CommandPoller {
    /// A poller for `config`'s bot and ops chat, `commands`' admins, on
    /// `outbox`, holding the sender lease as `worker` (the worker's name,
    /// so that it shares the lease with this process's alert sender).
    ///
    /// # Errors
    /// An `@channel` ops chat; an HTTP client that cannot be built.
    pub fn new(
        config: &AlertConfig,
        commands: &CommandSettings,
        outbox: Arc<dyn Outbox>,
        worker: &str,
    ) -> Result<CommandPoller, OpsError> {
        let ChatTarget::Id(chat) = config.chat() else {
            return Err(OpsError::ChatNotNumeric);
        };
        let api = BotApi::new(config).map_err(|e| OpsError::Client(e.to_string()))?;
        Ok(CommandPoller {
            api,
            replies: Arc::new(TelegramSink::new(config)),
            outbox,
            gate: Gate::new(commands.admin_user_ids.clone(), *chat),
            worker: worker.to_owned(),
            settings: PollerSettings::for_config(config),
            pending: confirm::Confirmations::default(),
        })
    }

    /// Other pacing (tests use short pauses).
    #[must_use]
    pub fn with_settings(mut self, settings: PollerSettings) -> CommandPoller {
        self.settings = settings;
        self
    }

    /// Runs on its own task until stopped.
    pub fn spawn(self) -> PollerHandle {
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(self.run(stopped));
        PollerHandle { stop, task }
    }

    async fn run(self, mut stopped: watch::Receiver<bool>) {
        tracing::info!(worker = %self.worker, ops_chat = self.gate.ops_chat(), "ops command poller started");
        let mut state = Loop::default();
        loop {
            let pause = tokio::select! {
                pause = self.round(&mut state) => pause,
                _ = stopped.wait_for(|s| *s) => break,
            };
            if let Some(pause) = pause {
                tokio::select! {
                    () = tokio::time::sleep(pause) => {}
                    _ = stopped.wait_for(|s| *s) => break,
                }
            }
        }
        tracing::info!("ops command poller stopped");
    }

    /// One long poll and the updates it brought; the pause before the next.
    async fn round(&self, state: &mut Loop) -> Option<Duration> {
        let lease = match self
            .outbox
            .acquire_sender(&self.worker, self.settings.lease)
            .await
        {
            Ok(Some(lease)) => lease,
            // Another worker sends the alerts and polls.
            Ok(None) => return Some(self.settings.standby),
            Err(error) => {
                tracing::warn!(%error, "ops commands: cannot take the sender lease; retrying");
                return Some(state.backoff(&self.settings));
            }
        };
        let username = match &state.username {
            Some(name) => name.clone(),
            None => match self.api.get_me().await {
                Ok(name) => state.username.insert(name).clone(),
                Err(error) => return Some(self.api_error(state, error).await),
            },
        };
        let offset = match self.outbox.bot_offset().await {
            Ok(offset) => offset.unwrap_or(0),
            Err(error) => {
                tracing::warn!(%error, "ops commands: cannot read the update offset; retrying");
                return Some(state.backoff(&self.settings));
            }
        };
        let updates = match self
            .api
            .get_updates(offset, self.settings.poll_timeout)
            .await
        {
            Ok(updates) => updates,
            Err(error) => return Some(self.api_error(state, error).await),
        };
        state.errors = 0;
        if state.conflicted {
            tracing::info!("ops commands: getUpdates works again (no other poller on this token)");
            state.conflicted = false;
        }
        for update in updates {
            if !self.handle(&lease, &username, &update).await {
                return Some(state.backoff(&self.settings));
            }
        }
        None
    }

    /// Stores the offset past `update`, then acts on it. False if the
    /// offset could not be stored (then nothing was done).
    async fn handle(
        &self,
        lease: &SenderLease,
        username: &str,
        update: &serde_json::Value,
    ) -> bool {
        let (id, incoming) = update::parse(update);
        let Some(id) = id else {
            tracing::warn!("ops commands: an update without update_id; skipped");
            return true;
        };
        if let Err(error) = self
            .outbox
            .set_bot_offset(lease, id.saturating_add(1))
            .await
        {
            tracing::warn!(%error, "ops commands: cannot store the update offset; the update waits");
            return false;
        }
        let Some(message) = incoming else {
            return true;
        };
        let Some(command) = update::command(&message.text, username) else {
            return true;
        };
        let Ok(user_id) = self.gate.admit(&message) else {
            return true;
        };
        // Telegram's send time against this host's clock: a few seconds of
        // skew do not matter next to max_age.
        let now_s = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let age = now_s.saturating_sub(u64::try_from(message.date).unwrap_or(0));
        if age > self.settings.max_age.as_secs() {
            tracing::info!(
                user_id,
                age_s = age,
                command = %command.name,
                "ops commands: skipped a command sent while no poller ran (too old to act on now)"
            );
            return true;
        }
        let answer = commands::run(self.outbox.as_ref(), user_id, &command, &self.pending).await;
        metrics::carried_out(answer.name);
        tracing::info!(user_id, command = answer.name, "ops command carried out");
        if let Some(audit) = answer.audit
            && let Err(error) = self.outbox.record_audit(vec![audit]).await
        {
            tracing::warn!(%error, "ops commands: cannot write the audit row");
        }
        self.answer(&answer.html).await;
        true
    }

    /// Sends an answer to the ops chat; a 429 is waited out (up to
    /// [`MAX_ANSWER_WAIT`] in all) and tried again, since the admin is
    /// waiting for it. Other errors are logged: the action and its audit
    /// row stand either way.
    async fn answer(&self, html: &str) {
        let mut waited = Duration::ZERO;
        loop {
            match self.replies.send_message(html, ParseMode::Html).await {
                Ok(_) => return,
                Err(error) => match error.retry_after() {
                    Some(wait) if waited + wait <= MAX_ANSWER_WAIT => {
                        tracing::warn!(
                            wait_s = wait.as_secs(),
                            "ops commands: Telegram asked to slow down; the answer waits"
                        );
                        tokio::time::sleep(wait).await;
                        waited += wait;
                    }
                    _ => {
                        tracing::warn!(%error, "ops commands: the answer could not be sent");
                        return;
                    }
                },
            }
        }
    }

    /// Logs and counts a Bot API error; the pause before the next call.
    async fn api_error(&self, state: &mut Loop, error: BotApiError) -> Duration {
        match error {
            BotApiError::RetryAfter(wait) => {
                metrics::poll_error("retry_after");
                tracing::warn!(
                    wait_s = wait.as_secs(),
                    "ops commands: Telegram asked to slow down"
                );
                wait.min(Duration::from_secs(3600))
            }
            BotApiError::Conflict(description) => {
                metrics::poll_error("conflict");
                tracing::error!(
                    %description,
                    "ops commands: another process polls getUpdates with this bot token (or a \
                     webhook is set): the token is shared by mistake. Give each deployment its own \
                     bot, or turn OPS_TELEGRAM_COMMANDS off on all but one"
                );
                if !state.conflicted {
                    state.conflicted = true;
                    let text = commands::render(
                        "🔴 Ops commands stopped: bot token shared",
                        &format!(
                            "Telegram refused getUpdates ({description}): another deployment polls with this bot's token. \
                             Commands are not answered here until only one does. Give each deployment its own bot \
                             (OPS_TELEGRAM_BOT_TOKEN), or set OPS_TELEGRAM_COMMANDS=false on the others."
                        ),
                    );
                    if let Err(error) = self.replies.send_message(&text, ParseMode::Html).await {
                        tracing::warn!(%error, "ops commands: the conflict alert could not be sent");
                    }
                }
                self.settings.conflict_pause
            }
            BotApiError::Unauthorized => {
                metrics::poll_error("unauthorized");
                tracing::error!(
                    "ops commands: Telegram refused OPS_TELEGRAM_BOT_TOKEN; commands are not answered"
                );
                self.settings.conflict_pause
            }
            BotApiError::Transient(text) => {
                metrics::poll_error("transient");
                tracing::warn!(error = %text, "ops commands: getUpdates failed; retrying");
                state.backoff(&self.settings)
            }
        }
    }
}

/// What the loop remembers between rounds.
#[derive(Debug, Default)]
struct Loop {
    username: Option<String>,
    errors: u32,
    conflicted: bool,
}

impl Loop {
    fn backoff(&mut self, settings: &PollerSettings) -> Duration {
        let pause = settings
            .backoff_base
            .saturating_mul(2_u32.saturating_pow(self.errors.min(16)))
            .min(settings.backoff_max);
        self.errors = self.errors.saturating_add(1);
        pause
    }
}
