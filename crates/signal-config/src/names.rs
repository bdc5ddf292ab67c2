//! Every variable the commands read, in one place: the lower crates take
//! values, this crate owns the names.

/// `SIGNAL_SERVER_URL`: where signals are POSTed.
pub const SIGNAL_SERVER_URL: &str = hmac_client::ENV_SERVER_URL;
/// `SIGNAL_HMAC_SECRET` (or `SIGNAL_HMAC_SECRET_FILE`): the signing secrets.
pub const SIGNAL_HMAC_SECRET: &str = hmac_client::ENV_HMAC_SECRET;
/// `SIGNAL_REQUEST_TIMEOUT_SECONDS`: the bound on one attempt.
pub const SIGNAL_REQUEST_TIMEOUT_SECONDS: &str = hmac_client::ENV_REQUEST_TIMEOUT_SECONDS;
/// `SIGNAL_MAX_BYTES`: the largest signal (one input line) accepted.
pub const SIGNAL_MAX_BYTES: &str = signal_model::SIGNAL_MAX_BYTES;
/// `SEND_SHUTDOWN_GRACE_SECONDS`: how long `send` lets attempts in flight
/// finish after SIGTERM or SIGINT.
pub const SEND_SHUTDOWN_GRACE_SECONDS: &str = "SEND_SHUTDOWN_GRACE_SECONDS";

/// `MAX_RETRIES`: retries after the first attempt.
pub const MAX_RETRIES: &str = "MAX_RETRIES";
/// `RETRY_DELAY_SECONDS`: the first retry's delay.
pub const RETRY_DELAY_SECONDS: &str = "RETRY_DELAY_SECONDS";
/// `RETRY_BACKOFF_MULTIPLIER`: growth of the delay per retry.
pub const RETRY_BACKOFF_MULTIPLIER: &str = "RETRY_BACKOFF_MULTIPLIER";
/// `RETRY_MAX_DELAY_SECONDS`: the cap on one delay, after jitter.
pub const RETRY_MAX_DELAY_SECONDS: &str = "RETRY_MAX_DELAY_SECONDS";
/// `RETRY_MAX_ELAPSED_SECONDS`: the deadline of a signal.
pub const RETRY_MAX_ELAPSED_SECONDS: &str = "RETRY_MAX_ELAPSED_SECONDS";
/// `RETRY_JITTER`: the jitter strategy.
pub const RETRY_JITTER: &str = "RETRY_JITTER";
/// `RETRY_BUDGET`: `on` (default) or `off`.
pub const RETRY_BUDGET: &str = "RETRY_BUDGET";
/// `RETRY_BUDGET_PERCENT`: retries allowed, as a share of first attempts.
pub const RETRY_BUDGET_PERCENT: &str = "RETRY_BUDGET_PERCENT";
/// `RETRY_BUDGET_MIN_PER_SECOND`: retries always allowed per second.
pub const RETRY_BUDGET_MIN_PER_SECOND: &str = "RETRY_BUDGET_MIN_PER_SECOND";
/// `RETRY_BUDGET_WINDOW_SECONDS`: the budget's sliding window.
pub const RETRY_BUDGET_WINDOW_SECONDS: &str = "RETRY_BUDGET_WINDOW_SECONDS";

/// `OPS_TELEGRAM_BOT_TOKEN` (or `OPS_TELEGRAM_BOT_TOKEN_FILE`).
pub const OPS_TELEGRAM_BOT_TOKEN: &str = ops_alerts::ENV_BOT_TOKEN;
/// `OPS_TELEGRAM_CHAT_ID`.
pub const OPS_TELEGRAM_CHAT_ID: &str = ops_alerts::ENV_CHAT_ID;
/// `OPS_TELEGRAM_API_URL`.
pub const OPS_TELEGRAM_API_URL: &str = ops_alerts::ENV_API_URL;
/// `OPS_TELEGRAM_THREAD_ID`.
pub const OPS_TELEGRAM_THREAD_ID: &str = ops_alerts::ENV_THREAD_ID;
/// `OPS_ALERT_COOLDOWN_SECONDS`.
pub const OPS_ALERT_COOLDOWN_SECONDS: &str = ops_alerts::ENV_COOLDOWN;
/// `OPS_ALERT_TIMEOUT_SECONDS`.
pub const OPS_ALERT_TIMEOUT_SECONDS: &str = ops_alerts::ENV_ALERT_TIMEOUT;
/// `OPS_ALERT_ESCALATE_AFTER`.
pub const OPS_ALERT_ESCALATE_AFTER: &str = ops_alerts::ENV_ESCALATE_AFTER;
/// `OPS_TELEGRAM_COMMANDS`: `true` to answer commands from the ops chat
/// (`run` long-polls the Bot API).
pub const OPS_TELEGRAM_COMMANDS: &str = "OPS_TELEGRAM_COMMANDS";
/// `OPS_TELEGRAM_ADMIN_USER_IDS`: the Telegram user ids allowed to act.
pub const OPS_TELEGRAM_ADMIN_USER_IDS: &str = "OPS_TELEGRAM_ADMIN_USER_IDS";
/// `OPS_ALERTS_DISABLED`: `true` to run without Telegram (alerts become log lines).
pub const OPS_ALERTS_DISABLED: &str = "OPS_ALERTS_DISABLED";

/// `METRICS_ADDR`: where to serve Prometheus `/metrics`.
pub const METRICS_ADDR: &str = "METRICS_ADDR";
/// `LOG_FORMAT`: `text` (default) or `json`.
pub const LOG_FORMAT: &str = "LOG_FORMAT";
/// `RUST_LOG`: the log filter (default `info`).
pub const RUST_LOG: &str = "RUST_LOG";

/// `OUTBOX_URL` (or `OUTBOX_URL_FILE`): where the outbox lives, a file
/// path or a URL (`sqlite:///abs/path.db`, `postgres://...`); a secret,
/// since a database URL may hold a password.
pub const OUTBOX_URL: &str = "OUTBOX_URL";
/// `OUTBOX_PATH`: the outbox database file (default `./signal-outbox.db`);
/// the older, path-only spelling of [`OUTBOX_URL`].
pub const OUTBOX_PATH: &str = "OUTBOX_PATH";
/// `OUTBOX_LEASE_SECONDS`: how long a worker holds a claimed row.
pub const OUTBOX_LEASE_SECONDS: &str = "OUTBOX_LEASE_SECONDS";
/// `OUTBOX_POLL_INTERVAL_MS`: idle wait between claims.
pub const OUTBOX_POLL_INTERVAL_MS: &str = "OUTBOX_POLL_INTERVAL_MS";
/// `OUTBOX_BATCH_SIZE`: most rows claimed per transaction.
pub const OUTBOX_BATCH_SIZE: &str = "OUTBOX_BATCH_SIZE";
/// `OUTBOX_DEDUP_DAYS`: how long a purged delivered id stays known to
/// `enqueue`'s duplicate detection.
pub const OUTBOX_DEDUP_DAYS: &str = "OUTBOX_DEDUP_DAYS";
/// `OUTBOX_RETENTION_DAYS`: the worker purges delivered rows older than this.
pub const OUTBOX_RETENTION_DAYS: &str = "OUTBOX_RETENTION_DAYS";
/// `OUTBOX_UNAVAILABLE_EXIT_SECONDS`: how long the worker keeps retrying an
/// outbox it cannot claim from before it exits for its supervisor.
pub const OUTBOX_UNAVAILABLE_EXIT_SECONDS: &str = "OUTBOX_UNAVAILABLE_EXIT_SECONDS";

/// Variables that hold secrets: each also accepts `NAME_FILE`, and none is
/// ever echoed.
pub const SECRETS: [&str; 3] = [SIGNAL_HMAC_SECRET, OPS_TELEGRAM_BOT_TOKEN, OUTBOX_URL];

/// Variables that changed meaning: refused while set (even to an empty
/// string), with what replaced them, instead of being silently ignored.
pub const RENAMED: [(&str, &str); 2] = [
    ("RETRY_BUDGET_MAX_TOKENS", TOKEN_BUCKET_REPLACED),
    ("RETRY_BUDGET_TOKEN_RATIO", TOKEN_BUCKET_REPLACED),
];

const TOKEN_BUCKET_REPLACED: &str = "was replaced by RETRY_BUDGET_PERCENT and RETRY_BUDGET_MIN_PER_SECOND \
     (see docs/configuration.md, \"The retry budget\"); unset it \
     (RETRY_BUDGET=off turns the budget off)";

/// Every variable read (secrets' `_FILE` forms aside), for the unknown-variable warning.
pub const KNOWN: [&str; 36] = [
    SIGNAL_SERVER_URL,
    SIGNAL_HMAC_SECRET,
    SIGNAL_REQUEST_TIMEOUT_SECONDS,
    SIGNAL_MAX_BYTES,
    SEND_SHUTDOWN_GRACE_SECONDS,
    MAX_RETRIES,
    RETRY_DELAY_SECONDS,
    RETRY_BACKOFF_MULTIPLIER,
    RETRY_MAX_DELAY_SECONDS,
    RETRY_MAX_ELAPSED_SECONDS,
    RETRY_JITTER,
    RETRY_BUDGET,
    RETRY_BUDGET_PERCENT,
    RETRY_BUDGET_MIN_PER_SECOND,
    RETRY_BUDGET_WINDOW_SECONDS,
    OPS_TELEGRAM_BOT_TOKEN,
    OPS_TELEGRAM_CHAT_ID,
    OPS_TELEGRAM_API_URL,
    OPS_TELEGRAM_THREAD_ID,
    OPS_ALERT_COOLDOWN_SECONDS,
    OPS_ALERT_TIMEOUT_SECONDS,
    OPS_ALERT_ESCALATE_AFTER,
    OPS_ALERTS_DISABLED,
    OPS_TELEGRAM_COMMANDS,
    OPS_TELEGRAM_ADMIN_USER_IDS,
    METRICS_ADDR,
    LOG_FORMAT,
    RUST_LOG,
    OUTBOX_URL,
    OUTBOX_PATH,
    OUTBOX_LEASE_SECONDS,
    OUTBOX_UNAVAILABLE_EXIT_SECONDS,
    OUTBOX_POLL_INTERVAL_MS,
    OUTBOX_BATCH_SIZE,
    OUTBOX_DEDUP_DAYS,
    OUTBOX_RETENTION_DAYS,
];

/// Prefixes of our variables: an unknown variable with one of these is
/// probably a typo, and gets a warning.
pub const PREFIXES: [&str; 5] = ["SIGNAL_", "RETRY_", "OPS_", "OUTBOX_", "SEND_"];
