//! Where the outbox file lives: `OUTBOX_PATH`, default `./signal-outbox.db`.
//!
//! Kept here so the `enqueue`, `run` and `outbox` commands (and the docs)
//! cannot drift apart on the variable name or the default. Reading and
//! validating the variable is the configuration's job (signal-delivery): an
//! empty value is an error there, never a silent default.

/// The environment variable naming the outbox database file.
pub const OUTBOX_PATH_ENV: &str = "OUTBOX_PATH";

/// The database file used when [`OUTBOX_PATH_ENV`] is unset.
pub const DEFAULT_OUTBOX_PATH: &str = "./signal-outbox.db";
