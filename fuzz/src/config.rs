//! `config`: `signal_config::DeliveryConfig::from_lookup` over any set of
//! our variables.
//!
//! The input is an env file, `NAME=value` per line (a seed is a readable
//! configuration). `NAME` is one of our variables, or a number `N` standing
//! for the `N`th of them (`names::KNOWN`, then the two `_FILE` forms, then
//! the renamed variables: the fuzzer reaches every name without guessing
//! it), or anything else (an unknown variable). Two rewrites keep the
//! checks sound and the run hermetic:
//!
//! - in the secret variables, `MARKER` is replaced by [`MARKER`], 32
//!   alphanumerics that make `whsec_MARKER` a valid signing secret and
//!   `123:MARKER` a valid bot token, and that no message has any business
//!   showing;
//! - a `_FILE` value becomes a path under a directory that does not exist
//!   (`..` cannot climb out of it), so no file is ever read.
//!
//! Checked: `from_lookup` never panics; a refused configuration has at
//! least one problem, each naming a variable that was set or a required
//! one, every required variable that is unset is named, and no problem
//! shows any 8 characters of the marker, control characters or more than
//! [`MAX_PROBLEM_BYTES`]; an accepted one had its required variables set,
//! uses the values given, and neither `describe` nor `Debug` shows any 8
//! characters of the marker.

use signal_config::{DeliveryConfig, describe, names};

use crate::text::assert_shown;

/// What `MARKER` becomes in a secret's value.
pub const MARKER: &str = "Zq9XK7vWm3PjT5Rb8YcN2LhD6FgS4AeU";

/// Longest problem message accepted. A problem echoes at most a bounded
/// excerpt of a value; the longest fixed texts are about 300 bytes.
pub const MAX_PROBLEM_BYTES: usize = 640;

/// Where `_FILE` paths are put: a directory that does not exist.
const NO_DIR: &str = "/nonexistent-fuzz-dir/";

/// A leak is any run of this many characters of the marker.
const LEAK_WINDOW: usize = 8;

/// Every name the numeric form `N` can stand for.
fn names() -> Vec<String> {
    let files = names::SECRETS.iter().map(|s| format!("{s}_FILE"));
    let renamed = names::RENAMED.iter().map(|(old, _)| (*old).to_owned());
    names::KNOWN
        .iter()
        .map(|s| (*s).to_owned())
        .chain(files)
        .chain(renamed)
        .collect()
}

/// The variables that must be set unless a default or a switch covers them.
const REQUIRED: [&str; 4] = [
    names::SIGNAL_SERVER_URL,
    names::SIGNAL_HMAC_SECRET,
    names::OPS_TELEGRAM_BOT_TOKEN,
    names::OPS_TELEGRAM_CHAT_ID,
];

/// The variables of one input, after the rewrites; the last of a name wins,
/// as in an env file.
pub fn variables(data: &[u8]) -> Vec<(String, String)> {
    let text = String::from_utf8_lossy(data);
    let known = names();
    let mut vars: Vec<(String, String)> = Vec::new();
    for line in text.split('\n') {
        let Some((name, value)) = line.split_once('=') else {
            continue;
        };
        let name = match name.parse::<usize>() {
            Ok(n) if name.len() <= 3 => known[n % known.len()].clone(),
            _ => name.to_owned(),
        };
        let value = if names::SECRETS.contains(&name.as_str()) {
            value.replace("MARKER", MARKER)
        } else if name.ends_with("_FILE") && !value.trim().is_empty() {
            format!("{NO_DIR}{value}")
        } else {
            value.to_owned()
        };
        vars.retain(|(k, _)| *k != name);
        vars.push((name, value));
    }
    vars
}

/// Whether `text` shows any [`LEAK_WINDOW`] characters of the marker.
fn leaks(text: &str) -> bool {
    MARKER
        .as_bytes()
        .windows(LEAK_WINDOW)
        .any(|window| text.as_bytes().windows(LEAK_WINDOW).any(|w| w == window))
}

/// Checks every invariant on one input.
pub fn run(data: &[u8]) {
    let vars = variables(data);
    let get = |name: &str| {
        vars.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    // The marker may only be in the secrets; elsewhere it would be echoed
    // legitimately (a URL, a path) and prove nothing.
    let sound = !vars
        .iter()
        .any(|(k, v)| leaks(k) || (!names::SECRETS.contains(&k.as_str()) && leaks(v)));
    let set = |name: &str| get(name).is_some() || get(&format!("{name}_FILE")).is_some();
    let alerts_off = matches!(
        get(names::OPS_ALERTS_DISABLED).map(str::trim),
        Some("true" | "1" | "yes")
    );

    match DeliveryConfig::from_lookup(|name| get(name).map(str::to_owned)) {
        Err(errors) => {
            assert!(!errors.0.is_empty(), "refused without a problem");
            for problem in &errors.0 {
                let shown = problem.to_string();
                assert!(
                    set(&problem.variable) || REQUIRED.contains(&problem.variable.as_str()),
                    "a problem names {:?}, which was not set: {shown}",
                    problem.variable
                );
                assert!(
                    !sound || !leaks(&shown),
                    "a problem shows the secret: {shown}"
                );
                assert_shown(&shown, MAX_PROBLEM_BYTES, &problem.variable);
            }
            for required in [names::SIGNAL_SERVER_URL, names::SIGNAL_HMAC_SECRET] {
                if !set(required) {
                    assert!(
                        errors.0.iter().any(|p| p.variable == required),
                        "{required} is unset and no problem says so: {errors}"
                    );
                }
            }
            assert!(
                !sound || !leaks(&errors.to_string()),
                "the error list shows the secret"
            );
        }
        Ok(config) => {
            assert!(set(names::SIGNAL_SERVER_URL) && set(names::SIGNAL_HMAC_SECRET));
            assert!(
                alerts_off
                    || (set(names::OPS_TELEGRAM_BOT_TOKEN)
                        && get(names::OPS_TELEGRAM_CHAT_ID).is_some()),
                "alerts on without their credentials"
            );
            if let Some(value) = get(names::MAX_RETRIES) {
                assert_eq!(
                    value.trim().parse::<u32>().ok(),
                    Some(config.retry.max_retries())
                );
            }
            if let Some(value) = get(names::SIGNAL_MAX_BYTES) {
                assert_eq!(
                    value.trim().parse::<usize>().ok(),
                    Some(config.input.max_signal_bytes.get())
                );
            }
            if let Some(value) = get(names::OUTBOX_BATCH_SIZE) {
                assert_eq!(
                    value.trim().parse::<usize>().ok(),
                    Some(config.outbox.batch_size)
                );
            }
            let listing = describe(&config);
            assert!(
                !sound || !leaks(&listing),
                "describe shows the secret:\n{listing}"
            );
            let debug = format!("{config:?}");
            assert!(!sound || !leaks(&debug), "Debug shows the secret: {debug}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_numbers_markers_and_files_are_rewritten() {
        // Numbers index the list of names, so a new variable must not break
        // this test: look the number up.
        let token_file = names()
            .iter()
            .position(|n| n == "OPS_TELEGRAM_BOT_TOKEN_FILE")
            .unwrap();
        let vars = variables(
            format!("0=http://x\nSIGNAL_HMAC_SECRET=whsec_MARKER\n{token_file}=token\nFOO=1\nFOO=2\nno line")
                .as_bytes(),
        );
        assert_eq!(
            vars[0],
            ("SIGNAL_SERVER_URL".to_owned(), "http://x".to_owned())
        );
        assert_eq!(vars[1].1, format!("whsec_{MARKER}"));
        assert_eq!(
            vars[2],
            (
                "OPS_TELEGRAM_BOT_TOKEN_FILE".to_owned(),
                format!("{NO_DIR}token")
            )
        );
        assert_eq!(vars[3], ("FOO".to_owned(), "2".to_owned()));
        assert_eq!(vars.len(), 4);
        assert!(leaks(&MARKER[3..12]) && !leaks("whsec_"));
    }

    #[test]
    fn a_valid_configuration_with_marked_secrets_passes() {
        run(b"SIGNAL_SERVER_URL=https://signals.example.com/v1\nSIGNAL_HMAC_SECRET=whsec_MARKER\nOPS_TELEGRAM_BOT_TOKEN=123456:MARKER\nOPS_TELEGRAM_CHAT_ID=-100123");
        run(b"SIGNAL_HMAC_SECRET=MARKER\nOPS_TELEGRAM_BOT_TOKEN=MARKER x");
        run(b"");
    }
}
