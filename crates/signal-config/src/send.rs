//! Settings of the input side of `send` and `enqueue`: how large a signal may
//! be, and how long `send` lets attempts finish when it is told to stop.

use std::time::Duration;

use crate::names::{SEND_SHUTDOWN_GRACE_SECONDS, SIGNAL_MAX_BYTES};
use crate::problem::ConfigProblem;
use crate::values::parse_ranged;
use signal_model::MaxBytes;

/// Default `SEND_SHUTDOWN_GRACE_SECONDS`.
pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(5);
/// Largest `SEND_SHUTDOWN_GRACE_SECONDS`.
pub const MAX_SHUTDOWN_GRACE_SECONDS: u64 = 300;

/// The input side of the commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InputSettings {
    /// `SIGNAL_MAX_BYTES`: the longest line (signal) accepted, in bytes
    /// (default 1 MiB, the verifier's default body limit, so that nothing is
    /// sent that our own receivers would refuse).
    pub max_signal_bytes: MaxBytes,
    /// `SEND_SHUTDOWN_GRACE_SECONDS`: how long attempts in flight may finish
    /// after SIGTERM/SIGINT before their signals fail as `interrupted`.
    pub shutdown_grace: Duration,
}

impl Default for InputSettings {
    fn default() -> InputSettings {
        InputSettings {
            max_signal_bytes: MaxBytes::DEFAULT,
            shutdown_grace: DEFAULT_SHUTDOWN_GRACE,
        }
    }
}

impl InputSettings {
    /// Reads both variables through `lookup`, every problem at once.
    pub fn from_lookup(
        lookup: &impl Fn(&str) -> Option<String>,
    ) -> Result<InputSettings, Vec<ConfigProblem>> {
        let mut problems = Vec::new();
        let max = match lookup(SIGNAL_MAX_BYTES) {
            None => Some(MaxBytes::DEFAULT),
            Some(value) => value
                .trim()
                .parse::<MaxBytes>()
                .map_err(|e| {
                    problems.push(ConfigProblem::new(
                        SIGNAL_MAX_BYTES,
                        format!("{e}; default 1048576 (1 MiB)"),
                    ));
                })
                .ok(),
        };
        let grace = parse_ranged(
            lookup,
            SEND_SHUTDOWN_GRACE_SECONDS,
            0,
            MAX_SHUTDOWN_GRACE_SECONDS,
            "whole seconds from 0 to 300, default 5",
        )
        .map_err(|p| problems.push(p))
        .ok();
        match (max, grace) {
            (Some(max), Some(grace)) if problems.is_empty() => Ok(InputSettings {
                max_signal_bytes: max,
                shutdown_grace: grace.map_or(DEFAULT_SHUTDOWN_GRACE, Duration::from_secs),
            }),
            _ => Err(problems),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn read(vars: &[(&str, &str)]) -> Result<InputSettings, Vec<ConfigProblem>> {
        let vars: HashMap<&str, &str> = vars.iter().copied().collect();
        InputSettings::from_lookup(&|k| vars.get(k).map(|v| (*v).to_owned()))
    }

    #[test]
    fn defaults_and_bounds() {
        assert_eq!(read(&[]).unwrap(), InputSettings::default());
        let s = read(&[
            ("SIGNAL_MAX_BYTES", "1024"),
            ("SEND_SHUTDOWN_GRACE_SECONDS", "0"),
        ])
        .unwrap();
        assert_eq!(s.max_signal_bytes.get(), 1024);
        assert_eq!(s.shutdown_grace, Duration::ZERO);
        assert_eq!(
            read(&[("SIGNAL_MAX_BYTES", "16777216")])
                .unwrap()
                .max_signal_bytes,
            MaxBytes::MAX
        );
        for (name, bad) in [
            ("SIGNAL_MAX_BYTES", "1023"),
            ("SIGNAL_MAX_BYTES", "16777217"),
            ("SIGNAL_MAX_BYTES", "1MiB"),
            ("SIGNAL_MAX_BYTES", ""),
            ("SEND_SHUTDOWN_GRACE_SECONDS", "301"),
            ("SEND_SHUTDOWN_GRACE_SECONDS", "-1"),
        ] {
            let problems = read(&[(name, bad)]).unwrap_err();
            assert_eq!(problems.len(), 1);
            assert_eq!(problems[0].variable, name);
            assert!(problems[0].message.contains("default"), "{}", problems[0]);
        }
    }
}
