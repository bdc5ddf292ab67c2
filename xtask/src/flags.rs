//! A small flags parser: `--name value`, `--name=value` and boolean `--name`.

use std::collections::VecDeque;

/// The arguments of one task, consumed flag by flag.
#[derive(Debug)]
pub(crate) struct Flags {
    task: String,
    args: VecDeque<String>,
}

impl Flags {
    pub(crate) fn new(task: &str, args: impl IntoIterator<Item = String>) -> Flags {
        let mut split = VecDeque::new();
        for arg in args {
            match arg.split_once('=') {
                Some((name, value)) if name.starts_with("--") => {
                    split.push_back(name.to_owned());
                    split.push_back(value.to_owned());
                }
                _ => split.push_back(arg),
            }
        }
        Flags {
            task: task.to_owned(),
            args: split,
        }
    }

    /// Removes a boolean flag; true when it was given.
    pub(crate) fn switch(&mut self, name: &str) -> bool {
        let before = self.args.len();
        self.args.retain(|a| a != name);
        self.args.len() != before
    }

    /// Removes `name VALUE` and parses VALUE; `None` when the flag is absent.
    pub(crate) fn value<T>(
        &mut self,
        name: &str,
        allowed: &str,
        parse: impl Fn(&str) -> Option<T>,
    ) -> Result<Option<T>, String> {
        let Some(at) = self.args.iter().position(|a| a == name) else {
            return Ok(None);
        };
        self.args.remove(at);
        let raw = self
            .args
            .remove(at)
            .ok_or_else(|| format!("{name} needs a value: {allowed}"))?;
        parse(&raw)
            .map(Some)
            .ok_or_else(|| format!("{name} {raw:?} is invalid; expected {allowed}"))
    }

    /// Fails on anything left over.
    pub(crate) fn finish(self) -> Result<(), String> {
        match self.args.front() {
            None => Ok(()),
            Some(extra) => Err(format!("unknown argument {extra:?} for {}", self.task)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flags(args: &[&str]) -> Flags {
        Flags::new("t", args.iter().map(|s| (*s).to_owned()))
    }

    #[test]
    fn values_in_both_forms_and_switches() {
        let mut f = flags(&["--a", "1", "--b=two", "--local"]);
        assert!(f.switch("--local"));
        assert_eq!(f.value("--a", "n", |s| s.parse::<u32>().ok()), Ok(Some(1)));
        assert_eq!(
            f.value("--b", "s", |s| Some(s.to_owned())),
            Ok(Some("two".to_owned()))
        );
        assert_eq!(f.value("--c", "s", |s| Some(s.to_owned())), Ok(None));
        assert_eq!(f.finish(), Ok(()));
    }

    #[test]
    fn errors_name_the_flag_and_the_allowed_values() {
        let mut f = flags(&["--a", "x"]);
        let err = f
            .value("--a", "an integer", |s| s.parse::<u32>().ok())
            .unwrap_err();
        assert!(err.contains("--a") && err.contains("an integer"), "{err}");
        let mut f = flags(&["--a"]);
        assert!(
            f.value("--a", "n", |s| s.parse::<u32>().ok())
                .unwrap_err()
                .contains("needs a value")
        );
        assert!(flags(&["--zzz"]).finish().unwrap_err().contains("--zzz"));
    }
}
