//! The outbox settings: where it lives, how the worker claims from it, and
//! how long delivered history is kept.

use std::path::PathBuf;
use std::time::Duration;

use crate::names::{
    OUTBOX_BATCH_SIZE, OUTBOX_DEDUP_DAYS, OUTBOX_LEASE_SECONDS, OUTBOX_PATH,
    OUTBOX_POLL_INTERVAL_MS, OUTBOX_RETENTION_DAYS, OUTBOX_UNAVAILABLE_EXIT_SECONDS, OUTBOX_URL,
};
use crate::problem::ConfigProblem;
use crate::target::OutboxTarget;
use crate::values::parse_ranged;

/// The database file used when neither `OUTBOX_URL` nor `OUTBOX_PATH` is set.
pub const DEFAULT_OUTBOX_PATH: &str = "./signal-outbox.db";

/// One day.
const DAY: Duration = Duration::from_secs(24 * 3600);

/// Where the outbox lives, how the worker claims from it, and how long
/// delivered history is kept.
///
/// ```
/// use std::time::Duration;
/// use signal_config::{OutboxSettings, OutboxTarget};
///
/// let settings = OutboxSettings::from_lookup(|name| match name {
///     "OUTBOX_URL" => Some("sqlite:///var/lib/signals/outbox.db".to_owned()),
///     "OUTBOX_RETENTION_DAYS" => Some("14".to_owned()),
///     _ => None,
/// })
/// .map_err(|problems| problems[0].to_string())?;
/// assert_eq!(settings.target, OutboxTarget::Sqlite("/var/lib/signals/outbox.db".into()));
/// assert_eq!(settings.retention, Some(Duration::from_secs(14 * 86_400)));
/// assert_eq!(settings.dedup_window, Duration::from_secs(30 * 86_400));
/// # Ok::<(), String>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxSettings {
    /// `OUTBOX_URL` or `OUTBOX_PATH`: the backend and its location
    /// (default the SQLite file `./signal-outbox.db`). `--outbox` overrides it.
    pub target: OutboxTarget,
    /// The variable [`target`](OutboxSettings::target) came from:
    /// [`OUTBOX_URL`] or [`OUTBOX_PATH`] (also for the default), for
    /// `check-config`.
    pub target_variable: &'static str,
    /// `OUTBOX_LEASE_SECONDS`: how long a claimed row stays with its worker
    /// before another worker may take it over (a crashed worker's rows come
    /// back after this long).
    pub lease: Duration,
    /// `OUTBOX_POLL_INTERVAL_MS`: how long an idle worker waits before it
    /// looks for due rows again.
    pub poll_interval: Duration,
    /// `OUTBOX_BATCH_SIZE`: most rows claimed in one transaction.
    pub batch_size: usize,
    /// `OUTBOX_DEDUP_DAYS` (default 30): how long after its delivery a
    /// purged signal's id and body hash are still kept, so that `enqueue`
    /// still reports a late producer retry as a duplicate (or a conflict).
    pub dedup_window: Duration,
    /// `OUTBOX_RETENTION_DAYS`: the worker purges delivered rows (and their
    /// attempt log) delivered longer ago than this; `None` (unset) keeps
    /// everything until `outbox purge`.
    pub retention: Option<Duration>,
    /// `OUTBOX_UNAVAILABLE_EXIT_SECONDS` (default 600, 10 to 86400): a worker
    /// whose claims have failed without a break for this long stops (exit 1)
    /// so that its supervisor restarts it.
    pub exit_after_unavailable: Duration,
}

impl OutboxSettings {
    /// Default `OUTBOX_UNAVAILABLE_EXIT_SECONDS`: a database restart or a
    /// failover fits in it; a supervisor still notices a lost database.
    pub const DEFAULT_EXIT_AFTER_UNAVAILABLE: Duration = Duration::from_secs(600);
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
    /// Default `OUTBOX_DEDUP_DAYS`.
    pub const DEFAULT_DEDUP_DAYS: u64 = 30;
    /// Largest `OUTBOX_DEDUP_DAYS` and `OUTBOX_RETENTION_DAYS` (ten years).
    pub const MAX_DAYS: u64 = 3650;

    /// The settings for a SQLite outbox at `path`, everything else default.
    ///
    /// ```
    /// let settings = signal_config::OutboxSettings::with_path("o.db".into());
    /// assert_eq!(settings.target.to_string(), "o.db");
    /// assert_eq!(settings.retention, None);
    /// ```
    pub fn with_path(path: PathBuf) -> OutboxSettings {
        OutboxSettings {
            target_variable: OUTBOX_PATH,
            ..OutboxSettings::with_target(OutboxTarget::Sqlite(path))
        }
    }

    /// The settings for `target` (as if from `OUTBOX_URL`), everything else
    /// default.
    pub fn with_target(target: OutboxTarget) -> OutboxSettings {
        OutboxSettings {
            target,
            target_variable: OUTBOX_URL,
            lease: OutboxSettings::DEFAULT_LEASE,
            poll_interval: OutboxSettings::DEFAULT_POLL_INTERVAL,
            batch_size: OutboxSettings::DEFAULT_BATCH_SIZE,
            dedup_window: days(OutboxSettings::DEFAULT_DEDUP_DAYS),
            retention: None,
            exit_after_unavailable: OutboxSettings::DEFAULT_EXIT_AFTER_UNAVAILABLE,
        }
    }

    /// Reads the `OUTBOX_*` variables through `lookup`, every problem at
    /// once. Unset means the default; an empty or malformed value is an
    /// error naming the variable, the value and the allowed range. Setting
    /// both `OUTBOX_URL` and `OUTBOX_PATH` is an error naming both: which
    /// one should win would be a guess.
    pub fn from_lookup(
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<OutboxSettings, Vec<ConfigProblem>> {
        let mut problems = Vec::new();
        let target = target(&lookup).map_err(|p| problems.push(p)).ok();
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
        let dedup_window = parse_ranged(
            &lookup,
            OUTBOX_DEDUP_DAYS,
            1,
            OutboxSettings::MAX_DAYS,
            "a whole number of days from 1 to 3650, default 30",
        )
        .map_err(|p| problems.push(p))
        .ok()
        .map(|v| days(v.unwrap_or(OutboxSettings::DEFAULT_DEDUP_DAYS)));
        let retention = parse_ranged(
            &lookup,
            OUTBOX_RETENTION_DAYS,
            1,
            OutboxSettings::MAX_DAYS,
            "a whole number of days from 1 to 3650, or unset to keep delivered rows until `outbox purge`",
        )
        .map_err(|p| problems.push(p))
        .ok()
        .map(|v| v.map(days));
        let exit_after_unavailable = parse_ranged(
            &lookup,
            OUTBOX_UNAVAILABLE_EXIT_SECONDS,
            10,
            86_400,
            "an integer number of seconds from 10 to 86400, default 600",
        )
        .map_err(|p| problems.push(p))
        .ok()
        .map(|v| {
            v.map_or(
                OutboxSettings::DEFAULT_EXIT_AFTER_UNAVAILABLE,
                Duration::from_secs,
            )
        });
        match (
            target,
            lease,
            poll_interval,
            batch_size,
            dedup_window,
            retention,
            exit_after_unavailable,
        ) {
            (
                Some((target, target_variable)),
                Some(lease),
                Some(poll_interval),
                Some(batch_size),
                Some(dedup_window),
                Some(retention),
                Some(exit_after_unavailable),
            ) if problems.is_empty() => Ok(OutboxSettings {
                target,
                target_variable,
                lease,
                poll_interval,
                batch_size,
                dedup_window,
                retention,
                exit_after_unavailable,
            }),
            _ => Err(problems),
        }
    }
}

fn days(n: u64) -> Duration {
    DAY.saturating_mul(u32::try_from(n).unwrap_or(u32::MAX))
}

/// The target and the variable it came from.
fn target(
    lookup: &impl Fn(&str) -> Option<String>,
) -> Result<(OutboxTarget, &'static str), ConfigProblem> {
    let problem = |name: &str, e: crate::OutboxTargetError| ConfigProblem::new(name, e.to_string());
    match (lookup(OUTBOX_URL), lookup(OUTBOX_PATH)) {
        (Some(_), Some(_)) => Err(ConfigProblem::new(
            OUTBOX_URL,
            format!(
                "both {OUTBOX_URL} and {OUTBOX_PATH} are set; set only one of them \
                 ({OUTBOX_URL} takes a plain path too; {OUTBOX_PATH} is the older name)"
            ),
        )),
        (Some(url), None) => OutboxTarget::parse(OUTBOX_URL, &url)
            .map(|t| (t, OUTBOX_URL))
            .map_err(|e| problem(OUTBOX_URL, e)),
        (None, Some(path)) => OutboxTarget::parse_path(OUTBOX_PATH, &path)
            .map(|t| (t, OUTBOX_PATH))
            .map_err(|e| problem(OUTBOX_PATH, e)),
        (None, None) => Ok((
            OutboxTarget::Sqlite(PathBuf::from(DEFAULT_OUTBOX_PATH)),
            OUTBOX_PATH,
        )),
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
        assert_eq!(settings.dedup_window, Duration::from_secs(30 * 86_400));
        assert_eq!(settings.retention, None);
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
        assert_eq!(
            settings.target,
            OutboxTarget::Sqlite("/var/lib/signals/outbox.db".into())
        );
        assert_eq!(settings.target_variable, "OUTBOX_PATH");
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

#[cfg(test)]
mod target_tests {
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
    fn outbox_url_takes_paths_and_sqlite_urls() {
        for (value, path) in [
            ("sqlite:///var/lib/o.db", "/var/lib/o.db"),
            ("relative/o.db", "relative/o.db"),
        ] {
            let settings = outbox(&[("OUTBOX_URL", value)]).unwrap();
            assert_eq!(settings.target, OutboxTarget::Sqlite(path.into()));
            assert_eq!(settings.target_variable, "OUTBOX_URL");
        }
    }

    #[test]
    fn both_variables_set_is_one_problem_naming_both() {
        let problems = outbox(&[("OUTBOX_URL", "/a.db"), ("OUTBOX_PATH", "/a.db")]).unwrap_err();
        assert_eq!(problems.len(), 1, "{problems:?}");
        let text = problems[0].to_string();
        assert!(
            text.contains("both OUTBOX_URL and OUTBOX_PATH are set"),
            "{text}"
        );
    }

    #[test]
    fn bad_targets_and_days_name_the_variable() {
        for (vars, variable, needle) in [
            (vec![("OUTBOX_URL", "")], "OUTBOX_URL", "is set but empty"),
            (
                vec![("OUTBOX_URL", "sqlite://o.db")],
                "OUTBOX_URL",
                "sqlite:///absolute/path.db",
            ),
            (
                vec![("OUTBOX_PATH", "sqlite:///o.db")],
                "OUTBOX_PATH",
                "put URLs in OUTBOX_URL",
            ),
            (
                vec![("OUTBOX_DEDUP_DAYS", "0")],
                "OUTBOX_DEDUP_DAYS",
                "1 to 3650",
            ),
            (
                vec![("OUTBOX_DEDUP_DAYS", "")],
                "OUTBOX_DEDUP_DAYS",
                "1 to 3650",
            ),
            (
                vec![("OUTBOX_RETENTION_DAYS", "3651")],
                "OUTBOX_RETENTION_DAYS",
                "1 to 3650",
            ),
            (
                vec![("OUTBOX_RETENTION_DAYS", "7d")],
                "OUTBOX_RETENTION_DAYS",
                "whole number of days",
            ),
        ] {
            let problems = outbox(&vars).unwrap_err();
            assert_eq!(problems.len(), 1, "{vars:?}: {problems:?}");
            assert_eq!(problems[0].variable, variable);
            let text = problems[0].to_string();
            assert!(text.contains(variable) && text.contains(needle), "{text}");
        }
    }

    #[test]
    fn days_are_read() {
        let settings = outbox(&[
            ("OUTBOX_DEDUP_DAYS", "3650"),
            ("OUTBOX_RETENTION_DAYS", "1"),
        ])
        .unwrap();
        assert_eq!(settings.dedup_window, Duration::from_secs(3650 * 86_400));
        assert_eq!(settings.retention, Some(Duration::from_secs(86_400)));
    }

    #[test]
    fn a_postgres_url_is_read_and_never_shown() {
        let settings = outbox(&[("OUTBOX_URL", "postgres://app:hunter2@db/signals")]).unwrap();
        assert_eq!(settings.target.backend(), "postgres");
        assert!(!format!("{settings:?}").contains("hunter2"));
        assert_eq!(
            settings.target.to_string(),
            "postgres://app:REDACTED@db/signals"
        );
    }
}
