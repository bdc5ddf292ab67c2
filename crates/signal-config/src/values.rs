//! Small parsers shared by the settings: ranged integers and booleans.
//! Unset means "take the default" (`Ok(None)`); set, the empty string
//! included, means "must be valid".

use crate::problem::ConfigProblem;

/// An optional integer variable in `min..=max`: `Ok(None)` when unset.
pub(crate) fn parse_ranged(
    lookup: &impl Fn(&str) -> Option<String>,
    name: &str,
    min: u64,
    max: u64,
    allowed: &str,
) -> Result<Option<u64>, ConfigProblem> {
    let Some(value) = lookup(name) else {
        return Ok(None);
    };
    match value.trim().parse::<u64>() {
        Ok(n) if (min..=max).contains(&n) => Ok(Some(n)),
        _ => Err(ConfigProblem::new(
            name,
            format!("{name}={:?} is invalid; expected {allowed}", shown(&value)),
        )),
    }
}

/// An optional boolean: `true`/`false`, `1`/`0`, `yes`/`no`.
pub(crate) fn parse_bool(
    lookup: &impl Fn(&str) -> Option<String>,
    name: &str,
) -> Result<Option<bool>, ConfigProblem> {
    match lookup(name).as_deref().map(str::trim) {
        None => Ok(None),
        Some("true" | "1" | "yes") => Ok(Some(true)),
        Some("false" | "0" | "no") => Ok(Some(false)),
        Some(other) => Err(ConfigProblem::new(
            name,
            format!(
                "{name}={:?} is not a boolean; expected true or false",
                shown(other)
            ),
        )),
    }
}

/// A value as echoed in an error: bounded, so a variable holding a pasted
/// file cannot flood the terminal. Only used for variables that are not secret.
pub(crate) fn shown(value: &str) -> String {
    const MAX: usize = 64;
    if value.chars().count() <= MAX {
        return value.to_owned();
    }
    let mut cut: String = value.chars().take(MAX).collect();
    cut.push('…');
    cut
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup(value: Option<&str>) -> impl Fn(&str) -> Option<String> {
        let value = value.map(str::to_owned);
        move |_| value.clone()
    }

    #[test]
    fn ranged_unset_is_none_and_set_must_be_valid() {
        assert_eq!(parse_ranged(&lookup(None), "N", 1, 5, "1 to 5"), Ok(None));
        assert_eq!(
            parse_ranged(&lookup(Some(" 3 ")), "N", 1, 5, "1 to 5"),
            Ok(Some(3))
        );
        for bad in ["", "0", "6", "-1", "1.5", "x"] {
            let problem = parse_ranged(&lookup(Some(bad)), "N", 1, 5, "1 to 5").unwrap_err();
            assert_eq!(problem.variable, "N");
            assert!(problem.message.contains("expected 1 to 5"), "{problem}");
        }
    }

    #[test]
    fn booleans() {
        for (text, value) in [("true", true), ("1", true), ("yes", true), ("no", false)] {
            assert_eq!(parse_bool(&lookup(Some(text)), "B"), Ok(Some(value)));
        }
        assert!(parse_bool(&lookup(Some("maybe")), "B").is_err());
        assert!(parse_bool(&lookup(Some("")), "B").is_err());
    }

    #[test]
    fn long_values_are_cut_when_echoed() {
        let long = "x".repeat(500);
        assert!(shown(&long).chars().count() <= 65);
    }
}
