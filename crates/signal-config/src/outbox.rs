//! The outbox settings: where it lives and how the worker claims from it.

use std::path::PathBuf;
use std::time::Duration;

use crate::names::{OUTBOX_BATCH_SIZE, OUTBOX_LEASE_SECONDS, OUTBOX_PATH, OUTBOX_POLL_INTERVAL_MS};
use crate::problem::ConfigProblem;
use crate::values::parse_ranged;

/// The database file used when `OUTBOX_PATH` is unset.
pub const DEFAULT_OUTBOX_PATH: &str = "./signal-outbox.db";

/// Where the outbox lives and how the worker claims from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxSettings {
    /// `OUTBOX_PATH`: the SQLite file (default `./signal-outbox.db`).
    pub path: PathBuf,
    /// `OUTBOX_LEASE_SECONDS`: how long a claimed row stays with its worker
    /// before another worker may take it over (a crashed worker's rows come
    /// back after this long).
    pub lease: Duration,
    /// `OUTBOX_POLL_INTERVAL_MS`: how long an idle worker waits before it
    /// looks for due rows again.
    pub poll_interval: Duration,
    /// `OUTBOX_BATCH_SIZE`: most rows claimed in one transaction.
    pub batch_size: usize,
}

impl OutboxSettings {
    /// 30 s lease, 200 ms idle poll, batches of 64.
    pub const DEFAULT_LEASE: Duration = Duration::from_secs(30);
    /// Default idle poll interval.
    pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_millis(200);
    /// Default claim batch size.
    pub const DEFAULT_BATCH_SIZE: usize = 64;
    /// Longest lease allowed, in seconds (one hour).
    pub const MAX_LEASE_SECONDS: u64 = 3600;
    /// Longest idle poll interval allowed, in milliseconds (one minute).
    pub const MAX_POLL_INTERVAL_MS: u64 = 60_000;
    /// Shortest idle poll interval allowed, in milliseconds.
    pub const MIN_POLL_INTERVAL_MS: u64 = 10;
    /// Largest claim batch allowed.
    pub const MAX_BATCH_SIZE: usize = 1000;

    /// The settings for an outbox at `path`, everything else default.
    pub fn with_path(path: PathBuf) -> OutboxSettings {
        OutboxSettings {
            path,
            lease: OutboxSettings::DEFAULT_LEASE,
            poll_interval: OutboxSettings::DEFAULT_POLL_INTERVAL,
            batch_size: OutboxSettings::DEFAULT_BATCH_SIZE,
        }
    }

    /// Reads the `OUTBOX_*` variables through `lookup`, every problem at
    /// once. Unset means the default; an empty or malformed value is an
    /// error naming the variable, the value and the allowed range.
    pub fn from_lookup(
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<OutboxSettings, Vec<ConfigProblem>> {
        let mut problems = Vec::new();
        let path = match lookup(OUTBOX_PATH) {
            None => Some(PathBuf::from(DEFAULT_OUTBOX_PATH)),
            Some(v) if v.trim().is_empty() => {
                problems.push(ConfigProblem {
                    variable: OUTBOX_PATH.to_owned(),
                    message: format!(
                        "{OUTBOX_PATH} is set but empty; expected a file path, or unset it for the default {}",
                        DEFAULT_OUTBOX_PATH
                    ),
                });
                None
            }
            Some(v) => Some(PathBuf::from(v)),
        };
        let lease = parse_ranged(
            &lookup,
            OUTBOX_LEASE_SECONDS,
            1,
            OutboxSettings::MAX_LEASE_SECONDS,
            "an integer number of seconds from 1 to 3600, default 30",
        )
        .map_err(|p| problems.push(p))
        .ok()
        .map(|v| v.map_or(OutboxSettings::DEFAULT_LEASE, Duration::from_secs));
        let poll_interval = parse_ranged(
            &lookup,
            OUTBOX_POLL_INTERVAL_MS,
            OutboxSettings::MIN_POLL_INTERVAL_MS,
            OutboxSettings::MAX_POLL_INTERVAL_MS,
            "an integer number of milliseconds from 10 to 60000, default 200",
        )
        .map_err(|p| problems.push(p))
        .ok()
        .map(|v| v.map_or(OutboxSettings::DEFAULT_POLL_INTERVAL, Duration::from_millis));
        let batch_size = parse_ranged(
            &lookup,
            OUTBOX_BATCH_SIZE,
            1,
            OutboxSettings::MAX_BATCH_SIZE as u64,
            "an integer from 1 to 1000, default 64",
        )
        .map_err(|p| problems.push(p))
        .ok()
        .map(|v| {
            v.and_then(|n| usize::try_from(n).ok())
                .unwrap_or(OutboxSettings::DEFAULT_BATCH_SIZE)
        });
        match (path, lease, poll_interval, batch_size) {
            (Some(path), Some(lease), Some(poll_interval), Some(batch_size))
                if problems.is_empty() =>
            {
                Ok(OutboxSettings {
                    path,
                    lease,
                    poll_interval,
                    batch_size,
                })
            }
            _ => Err(problems),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn outbox(vars: &[(&str, &str)]) -> Result<OutboxSettings, Vec<ConfigProblem>> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        OutboxSettings::from_lookup(|name| vars.get(name).cloned())
    }

    #[test]
    fn outbox_defaults() {
        let settings = outbox(&[]).unwrap();
        assert_eq!(
            settings,
            OutboxSettings::with_path("./signal-outbox.db".into())
        );
        assert_eq!(settings.lease, Duration::from_secs(30));
        assert_eq!(settings.poll_interval, Duration::from_millis(200));
        assert_eq!(settings.batch_size, 64);
    }

    #[test]
    fn outbox_values_in_range() {
        let settings = outbox(&[
            ("OUTBOX_PATH", "/var/lib/signals/outbox.db"),
            ("OUTBOX_LEASE_SECONDS", "2"),
            ("OUTBOX_POLL_INTERVAL_MS", "50"),
            ("OUTBOX_BATCH_SIZE", "1000"),
        ])
        .unwrap();
        assert_eq!(settings.path, PathBuf::from("/var/lib/signals/outbox.db"));
        assert_eq!(settings.lease, Duration::from_secs(2));
        assert_eq!(settings.poll_interval, Duration::from_millis(50));
        assert_eq!(settings.batch_size, 1000);
    }

    #[test]
    fn bad_outbox_values_name_variable_value_and_range() {
        let problems = outbox(&[
            ("OUTBOX_PATH", ""),
            ("OUTBOX_LEASE_SECONDS", ""),
            ("OUTBOX_POLL_INTERVAL_MS", "5"),
            ("OUTBOX_BATCH_SIZE", "1001"),
        ])
        .unwrap_err();
        let text: Vec<String> = problems.iter().map(ToString::to_string).collect();
        assert_eq!(text.len(), 4, "{text:?}");
        assert!(
            text[0].contains("OUTBOX_PATH is set but empty"),
            "{}",
            text[0]
        );
        assert_eq!(
            text[1],
            "OUTBOX_LEASE_SECONDS=\"\" is invalid; expected an integer number of seconds from 1 to 3600, default 30"
        );
        assert!(text[2].contains("\"5\"") && text[2].contains("10 to 60000"));
        assert!(text[3].contains("\"1001\"") && text[3].contains("1 to 1000"));
        for lease in ["0", "3601", "-1", "1.5", "abc"] {
            assert!(
                outbox(&[("OUTBOX_LEASE_SECONDS", lease)]).is_err(),
                "{lease}"
            );
        }
    }
}
