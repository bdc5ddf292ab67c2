//! The `check-config` listing: every effective setting as a `NAME=value`
//! line, in the order of docs/configuration.md, secrets redacted. A setting
//! that is unset and has no default is a `# NAME unset (...)` comment, so the
//! output can be pasted into an environment file as it is.

use std::fmt::Write as _;

use crate::names::*;
use crate::{AlertSetting, DeliveryConfig, SecretSource};

/// What a redacted secret is replaced with.
const REDACTED: &str = "[REDACTED]";

/// The effective configuration, one `NAME=value` per line.
///
/// ```
/// let config = signal_config::DeliveryConfig::from_lookup(|name| match name {
///     "SIGNAL_SERVER_URL" => Some("https://signals.example.com/v1?api_key=hunter2".to_owned()),
///     "SIGNAL_HMAC_SECRET" => Some("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD".to_owned()),
///     "OPS_ALERTS_DISABLED" => Some("true".to_owned()),
///     _ => None,
/// })?;
/// let listing = signal_config::describe(&config);
/// assert!(listing.contains("MAX_RETRIES=5\n"));
/// assert!(listing.contains("SIGNAL_HMAC_SECRET=[REDACTED]"));
/// assert!(!listing.contains("hunter2"));
/// assert!(!listing.contains("C2FVsBQIhrscChlQIMV"));
/// # Ok::<(), signal_config::ConfigErrors>(())
/// ```
pub fn describe(config: &DeliveryConfig) -> String {
    let mut out = Listing::default();
    let client = &config.client;
    out.set(SIGNAL_SERVER_URL, client.server_url.redacted());
    out.set(
        SIGNAL_HMAC_SECRET,
        format!("{REDACTED} ({} key(s))", client.keys.len()),
    );
    out.set(
        SIGNAL_REQUEST_TIMEOUT_SECONDS,
        client.request_timeout.as_secs(),
    );
    out.set(SIGNAL_MAX_BYTES, config.input.max_signal_bytes.get());
    out.set(
        SEND_SHUTDOWN_GRACE_SECONDS,
        config.input.shutdown_grace.as_secs(),
    );

    let retry = &config.retry;
    out.set(MAX_RETRIES, retry.max_retries());
    out.set(RETRY_DELAY_SECONDS, retry.base_delay().as_secs_f64());
    out.set(RETRY_BACKOFF_MULTIPLIER, retry.backoff_multiplier());
    out.set(RETRY_MAX_DELAY_SECONDS, retry.max_delay().as_secs_f64());
    out.set(RETRY_MAX_ELAPSED_SECONDS, retry.max_elapsed().as_secs_f64());
    out.set(RETRY_JITTER, retry.jitter());
    for (name, value) in config.budget.vars() {
        out.set(name, value);
    }

    match &config.alerts {
        AlertSetting::Disabled => {
            out.set(OPS_ALERTS_DISABLED, true);
            // Listed, so that a token set here is seen to be ignored.
            for name in [
                OPS_TELEGRAM_BOT_TOKEN,
                OPS_TELEGRAM_CHAT_ID,
                OPS_TELEGRAM_API_URL,
                OPS_TELEGRAM_THREAD_ID,
                OPS_ALERT_COOLDOWN_SECONDS,
                OPS_ALERT_TIMEOUT_SECONDS,
                OPS_ALERT_ESCALATE_AFTER,
            ] {
                out.comment(&format!(
                    "{name} not read ({OPS_ALERTS_DISABLED}=true: alerts are log lines)"
                ));
            }
        }
        AlertSetting::Telegram(alerts) => {
            out.set(OPS_ALERTS_DISABLED, false);
            out.set(OPS_TELEGRAM_BOT_TOKEN, REDACTED);
            out.set(OPS_TELEGRAM_CHAT_ID, alerts.chat());
            out.set(
                OPS_TELEGRAM_API_URL,
                hmac_client::redact_url(alerts.api_url()),
            );
            match alerts.thread_id() {
                Some(thread) => out.set(OPS_TELEGRAM_THREAD_ID, thread),
                None => out.unset(OPS_TELEGRAM_THREAD_ID, "alerts go to the main chat"),
            }
            out.set(OPS_ALERT_COOLDOWN_SECONDS, alerts.cooldown().as_secs());
            out.set(OPS_ALERT_TIMEOUT_SECONDS, alerts.alert_timeout().as_secs());
            out.set(OPS_ALERT_ESCALATE_AFTER, alerts.escalate_after());
        }
    }
    let commands = &config.commands;
    out.set(OPS_TELEGRAM_COMMANDS, commands.enabled);
    if commands.admin_user_ids.is_empty() {
        out.unset(OPS_TELEGRAM_ADMIN_USER_IDS, "nobody may act");
    } else {
        let ids: Vec<String> = commands.admin_user_ids.iter().map(u64::to_string).collect();
        out.set(OPS_TELEGRAM_ADMIN_USER_IDS, ids.join(","));
    }
    for (name, source) in &config.secret_sources {
        if let SecretSource::File(path) = source {
            out.set(&format!("{name}_FILE"), path);
        }
    }

    let telemetry = &config.telemetry;
    match telemetry.metrics_addr {
        Some(addr) => out.set(METRICS_ADDR, addr),
        None => out.unset(METRICS_ADDR, "no metrics endpoint"),
    }
    out.set(LOG_FORMAT, telemetry.log_format.as_str());
    out.set(RUST_LOG, &telemetry.log_filter);

    let outbox = &config.outbox;
    // The target's Display redacts a database password.
    if outbox.target_variable == OUTBOX_URL {
        out.set(OUTBOX_URL, &outbox.target);
        out.unset(OUTBOX_PATH, "OUTBOX_URL is used");
    } else {
        out.unset(OUTBOX_URL, "OUTBOX_PATH is used");
        out.set(OUTBOX_PATH, &outbox.target);
    }
    out.set(OUTBOX_LEASE_SECONDS, outbox.lease.as_secs());
    out.set(OUTBOX_POLL_INTERVAL_MS, outbox.poll_interval.as_millis());
    out.set(OUTBOX_BATCH_SIZE, outbox.batch_size);
    out.set(OUTBOX_DEDUP_DAYS, outbox.dedup_window.as_secs() / 86_400);
    out.set(
        OUTBOX_UNAVAILABLE_EXIT_SECONDS,
        outbox.exit_after_unavailable.as_secs(),
    );
    match outbox.retention {
        Some(retention) => out.set(OUTBOX_RETENTION_DAYS, retention.as_secs() / 86_400),
        None => out.unset(
            OUTBOX_RETENTION_DAYS,
            "delivered rows are kept until `outbox purge`",
        ),
    }
    for warning in &config.warnings {
        out.comment(&format!("warning: {warning}"));
    }
    out.0
}

/// The listing being written.
#[derive(Default)]
struct Listing(String);

impl Listing {
    fn set(&mut self, name: &str, value: impl std::fmt::Display) {
        let _ = writeln!(self.0, "{name}={value}");
    }

    fn unset(&mut self, name: &str, meaning: &str) {
        let _ = writeln!(self.0, "# {name} unset ({meaning})");
    }

    fn comment(&mut self, text: &str) {
        let _ = writeln!(self.0, "# {text}");
    }
}
