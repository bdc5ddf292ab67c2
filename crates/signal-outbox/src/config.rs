//! Where the outbox file lives: `OUTBOX_PATH`, default `./signal-outbox.db`.
//!
//! Kept here so the `enqueue`, `run` and `outbox` commands (and the docs)
//! cannot drift apart on the variable name or the default.

use std::ffi::OsStr;
use std::path::PathBuf;

/// The environment variable naming the outbox database file.
pub const OUTBOX_PATH_ENV: &str = "OUTBOX_PATH";

/// The database file used when [`OUTBOX_PATH_ENV`] is unset or empty.
pub const DEFAULT_OUTBOX_PATH: &str = "./signal-outbox.db";

/// The outbox path for a given value of `OUTBOX_PATH`: the value itself, or
/// [`DEFAULT_OUTBOX_PATH`] when it is unset or empty (an empty path can
/// never be opened, so it is treated as "not set").
#[must_use]
pub fn outbox_path(value: Option<&OsStr>) -> PathBuf {
    match value {
        Some(value) if !value.is_empty() => PathBuf::from(value),
        _ => PathBuf::from(DEFAULT_OUTBOX_PATH),
    }
}

/// [`outbox_path`] for the current process environment.
#[must_use]
pub fn outbox_path_from_env() -> PathBuf {
    outbox_path(std::env::var_os(OUTBOX_PATH_ENV).as_deref())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unset_or_empty_means_the_default() {
        assert_eq!(outbox_path(None), PathBuf::from("./signal-outbox.db"));
        assert_eq!(
            outbox_path(Some(OsStr::new(""))),
            PathBuf::from(DEFAULT_OUTBOX_PATH)
        );
        assert_eq!(
            outbox_path(Some(OsStr::new("/var/lib/signals/outbox.db"))),
            PathBuf::from("/var/lib/signals/outbox.db")
        );
    }
}
