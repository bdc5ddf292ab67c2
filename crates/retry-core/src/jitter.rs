//! Which randomisation spreads retries out so that clients that failed
//! together do not all come back at the same instant.

use std::fmt;
use std::str::FromStr;

/// How a nominal backoff delay is randomised.
///
/// Without jitter every client that failed at the same moment retries at the
/// same moment, and a recovering server is hit by synchronised waves. The
/// strategies below are the ones from the AWS Architecture Blog article
/// "Exponential Backoff And Jitter", plus the small proportional jitter of the
/// original retry plan. Whatever the strategy, the result is capped at
/// [`RetryPolicy::max_delay`](crate::RetryPolicy::max_delay) *after* jitter.
///
/// Parsing and display use the lowercase names (what a configuration file
/// or variable would hold):
///
/// ```
/// use retry_core::Jitter;
///
/// let jitter: Jitter = "equal".parse().unwrap();
/// assert_eq!(jitter, Jitter::Equal);
/// assert_eq!(jitter.to_string(), "equal");
/// assert!("gaussian".parse::<Jitter>().is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Jitter {
    /// The nominal delay, exactly: deterministic, for tests and comparisons.
    None,
    /// The nominal delay plus up to 10 % of it (`d + U[0, 0.1 d]`): keeps the
    /// schedule predictable while still breaking lock-step. The default.
    #[default]
    Proportional,
    /// `U[0, min(cap, d)]`: the most spread out, lowest total load.
    Full,
    /// `t/2 + U[0, t/2]` with `t = min(cap, d)`: never shorter than half the delay.
    Equal,
    /// `min(cap, U[base, 3 * previous])`: grows from the previous actual delay
    /// rather than from the retry index, so the multiplier is not used.
    Decorrelated,
}

impl Jitter {
    /// Every strategy, in declaration order.
    pub const ALL: [Jitter; 5] = [
        Jitter::None,
        Jitter::Proportional,
        Jitter::Full,
        Jitter::Equal,
        Jitter::Decorrelated,
    ];

    /// The lowercase name used by [`Display`](fmt::Display) and [`FromStr`].
    pub const fn as_str(self) -> &'static str {
        match self {
            Jitter::None => "none",
            Jitter::Proportional => "proportional",
            Jitter::Full => "full",
            Jitter::Equal => "equal",
            Jitter::Decorrelated => "decorrelated",
        }
    }
}

impl fmt::Display for Jitter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The allowed names, as shown in error messages.
pub(crate) const JITTER_NAMES: &str = "one of none, proportional, full, equal, decorrelated";

/// A jitter name that is not one of the five strategies.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown jitter strategy \"{value}\": expected {JITTER_NAMES}")]
pub struct ParseJitterError {
    value: String,
}

impl ParseJitterError {
    /// The text that failed to parse.
    pub fn value(&self) -> &str {
        &self.value
    }
}

impl FromStr for Jitter {
    type Err = ParseJitterError;

    /// Accepts the lowercase names in any ASCII case; anything else, the empty
    /// string included, is an error (a typo must never fall back to a default).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Jitter::ALL
            .into_iter()
            .find(|j| j.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| ParseJitterError {
                value: s.to_owned(),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_and_parse_round_trip_for_every_strategy() {
        for j in Jitter::ALL {
            assert_eq!(j.to_string().parse::<Jitter>().unwrap(), j);
        }
        assert_eq!("FULL".parse::<Jitter>().unwrap(), Jitter::Full);
    }

    #[test]
    fn unknown_or_empty_names_are_errors_listing_the_choices() {
        let err = "".parse::<Jitter>().unwrap_err();
        assert_eq!(err.value(), "");
        let err = "gauss".parse::<Jitter>().unwrap_err();
        let text = err.to_string();
        assert!(text.contains("\"gauss\""), "{text}");
        for j in Jitter::ALL {
            assert!(text.contains(j.as_str()), "{text}");
        }
    }

    #[test]
    fn default_is_proportional() {
        assert_eq!(Jitter::default(), Jitter::Proportional);
    }
}
