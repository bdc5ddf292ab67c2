//! Where the variables come from: the process environment (or a map, in
//! tests), with three rules applied before any value is parsed.
//!
//! - **Secrets from files.** Every secret variable `NAME` may instead be
//!   given as `NAME_FILE`, the path of a file holding it (systemd
//!   credentials, container secrets), so the secret never sits in the
//!   environment where `ps e` or a crash dump shows it. Trailing whitespace
//!   (the newline an editor adds) is dropped. Setting both is an error: which
//!   one wins would be a guess.
//! - **Renamed variables.** A variable whose meaning changed is refused while
//!   it is still set, with what replaced it, instead of being silently ignored.
//! - **Not UTF-8.** A value that is not UTF-8 is an error naming the
//!   variable; `std::env::var(..).ok()` would have turned it into "unset",
//!   that is, the default.

use std::collections::HashMap;
use std::ffi::OsString;
use std::path::Path;

use crate::names::{KNOWN, PREFIXES, RENAMED, SECRETS};
use crate::problem::{ConfigProblem, ConfigWarning};

/// Largest secret file read: secrets are short; a bigger file is the wrong file.
pub const MAX_SECRET_FILE_BYTES: u64 = 64 * 1024;

/// Where a secret's value came from, for the `check-config` listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretSource {
    /// Not set at all.
    Unset,
    /// The variable itself.
    Variable,
    /// `NAME_FILE`, with this path.
    File(String),
}

/// A raw variable source: a name in, its value out (`None`: unset).
type Lookup<'a> = Box<dyn Fn(&str) -> Option<String> + 'a>;

/// The variables, with secret files read and the rules above checked.
pub struct Env<'a> {
    raw: Lookup<'a>,
    secrets: HashMap<&'static str, Option<String>>,
    sources: HashMap<&'static str, SecretSource>,
    problems: Vec<ConfigProblem>,
    warnings: Vec<ConfigWarning>,
}

impl std::fmt::Debug for Env<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Values are never shown: some are secrets.
        f.debug_struct("Env")
            .field("sources", &self.sources)
            .field("problems", &self.problems.len())
            .finish_non_exhaustive()
    }
}

impl<'a> Env<'a> {
    /// The process environment. Non-UTF-8 values of our variables are
    /// problems; unknown variables that carry one of our prefixes are
    /// warnings ("did you mean ...").
    pub fn from_process() -> Env<'static> {
        let mut problems = Vec::new();
        let mut warnings = Vec::new();
        for (name, value) in std::env::vars_os() {
            let Some(name) = name.to_str() else { continue };
            let renamed = RENAMED.iter().any(|(old, _)| *old == name);
            // Every variable we read, prefixed or not (MAX_RETRIES, RUST_LOG):
            // the lookup below would see a non-UTF-8 value as unset.
            if value.to_str().is_none() && (is_known(name) || renamed) {
                problems.push(ConfigProblem::new(
                    name,
                    format!("{name} is not valid UTF-8; expected text (see docs/configuration.md)"),
                ));
            }
            let ours = PREFIXES.iter().any(|p| name.starts_with(p));
            if ours && !is_known(name) && !renamed {
                warnings.push(unknown_variable(name));
            }
        }
        let raw = |name: &str| std::env::var_os(name).and_then(|v: OsString| v.into_string().ok());
        let mut env = Env::from_lookup(raw);
        problems.append(&mut env.problems);
        env.problems = problems;
        warnings.sort_by(|a, b| a.0.cmp(&b.0));
        env.warnings = warnings;
        env
    }

    /// Variables from `lookup` (tests, or a caller with its own source).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String> + 'a) -> Env<'a> {
        let mut problems = Vec::new();
        for (old, replaced_by) in RENAMED {
            if lookup(old).is_some() {
                problems.push(ConfigProblem::new(
                    old.to_string(),
                    format!("{old} {replaced_by}"),
                ));
            }
        }
        let mut secrets = HashMap::new();
        let mut sources = HashMap::new();
        for name in SECRETS {
            let file_var = format!("{name}_FILE");
            let (value, source) = match (lookup(name), lookup(&file_var)) {
                (None, None) => (None, SecretSource::Unset),
                (Some(value), None) => (Some(value), SecretSource::Variable),
                (Some(value), Some(_)) => {
                    problems.push(ConfigProblem::new(
                        name,
                        format!("both {name} and {file_var} are set; set only one of them (the file is preferred: it keeps the secret out of the environment)"),
                    ));
                    // The configuration fails on the problem above either way;
                    // passing the value on keeps the parser from adding a false
                    // "{name} is not set".
                    (Some(value), SecretSource::Variable)
                }
                (None, Some(path)) => match read_secret_file(&file_var, &path) {
                    Ok(value) => (Some(value), SecretSource::File(path)),
                    Err(problem) => {
                        problems.push(problem);
                        (None, SecretSource::File(path))
                    }
                },
            };
            secrets.insert(name, value);
            sources.insert(name, source);
        }
        Env {
            raw: Box::new(lookup),
            secrets,
            sources,
            problems,
            warnings: Vec::new(),
        }
    }

    /// The value of `name`: for a secret, from the variable or its file.
    pub fn get(&self, name: &str) -> Option<String> {
        match self.secrets.get(name) {
            Some(value) => value.clone(),
            None => (self.raw)(name),
        }
    }

    /// Where a secret came from (`Unset` for a name that is not a secret).
    pub fn source(&self, name: &str) -> SecretSource {
        self.sources
            .get(name)
            .cloned()
            .unwrap_or(SecretSource::Unset)
    }

    /// Problems found before parsing (both forms of a secret set, an
    /// unreadable secret file, a renamed variable, a non-UTF-8 value).
    pub fn take_problems(&mut self) -> Vec<ConfigProblem> {
        std::mem::take(&mut self.problems)
    }

    /// Unknown variables that look like ours.
    pub fn warnings(&self) -> &[ConfigWarning] {
        &self.warnings
    }
}

fn is_known(name: &str) -> bool {
    KNOWN.contains(&name)
        || SECRETS
            .iter()
            .any(|s| name.strip_suffix("_FILE") == Some(*s))
}

fn unknown_variable(name: &str) -> ConfigWarning {
    let candidates = KNOWN
        .iter()
        .copied()
        .map(str::to_owned)
        .chain(SECRETS.iter().map(|s| format!("{s}_FILE")));
    let best = candidates
        .map(|known| (strsim::levenshtein(name, &known), known))
        .min_by_key(|(distance, _)| *distance);
    match best {
        Some((distance, known)) if distance <= 3 => ConfigWarning(format!(
            "{name} is not a variable of signal-delivery and is ignored; did you mean {known}?"
        )),
        _ => ConfigWarning(format!(
            "{name} is not a variable of signal-delivery and is ignored (see docs/configuration.md)"
        )),
    }
}

/// A path as a problem shows it: quoted and escaped as `Debug` does (a
/// newline or an escape sequence in a path must not forge a line of the
/// problem list or rewrite the terminal), its middle cut when it is long, so
/// the start and the file name stay readable.
fn shown_path(path: &str) -> String {
    const HEAD: usize = 40;
    const TAIL: usize = 60;
    let count = path.chars().count();
    if count <= HEAD + TAIL {
        return format!("{path:?}");
    }
    let head: String = path.chars().take(HEAD).collect();
    let tail: String = path.chars().skip(count - TAIL).collect();
    format!("{head:?}…{tail:?}")
}

fn read_secret_file(variable: &str, raw_path: &str) -> Result<String, ConfigProblem> {
    let problem = |what: String| ConfigProblem::new(variable, what);
    let path = &shown_path(raw_path);
    if raw_path.trim().is_empty() {
        return Err(problem(format!(
            "{variable} is set but empty; expected the path of a file holding the secret"
        )));
    }
    let file = Path::new(raw_path);
    let meta = std::fs::metadata(file).map_err(|e| {
        problem(format!(
            "cannot read {variable}={path}: {e}; check the path and that this user may read it"
        ))
    })?;
    if !meta.is_file() {
        return Err(problem(format!(
            "{variable}={path} is not a regular file; expected the path of a file holding the secret"
        )));
    }
    if meta.len() > MAX_SECRET_FILE_BYTES {
        return Err(problem(format!(
            "{variable}={path} is {} bytes; a secret file holds at most {MAX_SECRET_FILE_BYTES} bytes (is it the right file?)",
            meta.len()
        )));
    }
    let bytes = std::fs::read(file).map_err(|e| {
        problem(format!(
            "cannot read {variable}={path}: {e}; check the path and that this user may read it"
        ))
    })?;
    let text = String::from_utf8(bytes).map_err(|_| {
        problem(format!(
            "{variable}={path} is not UTF-8 text; expected the secret as text"
        ))
    })?;
    Ok(text.trim_end().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(vars: &[(&str, &str)]) -> Env<'static> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Env::from_lookup(move |name| vars.get(name).cloned())
    }

    #[test]
    fn a_secret_is_read_from_its_file_without_the_trailing_newline() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        std::fs::write(&path, "123:abc\n").unwrap();
        let path = path.to_str().unwrap().to_owned();
        let mut env = env(&[("OPS_TELEGRAM_BOT_TOKEN_FILE", &path)]);
        assert!(env.take_problems().is_empty());
        assert_eq!(
            env.get("OPS_TELEGRAM_BOT_TOKEN").as_deref(),
            Some("123:abc")
        );
        assert_eq!(
            env.source("OPS_TELEGRAM_BOT_TOKEN"),
            SecretSource::File(path)
        );
    }

    #[test]
    fn both_forms_of_a_secret_are_an_error() {
        let mut env = env(&[
            ("SIGNAL_HMAC_SECRET", "whsec_x"),
            ("SIGNAL_HMAC_SECRET_FILE", "/nonexistent"),
        ]);
        let problems = env.take_problems();
        assert_eq!(problems.len(), 1);
        assert!(
            problems[0]
                .message
                .contains("both SIGNAL_HMAC_SECRET and SIGNAL_HMAC_SECRET_FILE")
        );
        assert!(!problems[0].message.contains("whsec_x"));
    }

    #[test]
    fn bad_secret_files_name_the_variable_and_what_to_do() {
        let dir = tempfile::tempdir().unwrap();
        let big = dir.path().join("big");
        std::fs::write(&big, vec![b'a'; 70 * 1024]).unwrap();
        let binary = dir.path().join("binary");
        std::fs::write(&binary, [0xff, 0xfe]).unwrap();
        for (path, needle) in [
            ("", "is set but empty"),
            ("/nonexistent/secret", "cannot read"),
            (dir.path().to_str().unwrap(), "not a regular file"),
            (big.to_str().unwrap(), "at most 65536 bytes"),
            (binary.to_str().unwrap(), "not UTF-8"),
        ] {
            let mut env = env(&[("OPS_TELEGRAM_BOT_TOKEN_FILE", path)]);
            let problems = env.take_problems();
            assert_eq!(problems.len(), 1, "{path}");
            assert_eq!(problems[0].variable, "OPS_TELEGRAM_BOT_TOKEN_FILE");
            assert!(
                problems[0].message.contains(needle),
                "{path}: {}",
                problems[0]
            );
        }
    }

    // Found by the `config` fuzz target: the path was echoed raw and whole.
    #[test]
    fn a_hostile_path_is_escaped_and_cut_in_the_problem() {
        let path = format!(
            "/nonexistent/\u{1b}[2J\n\0\u{202e}{}/token",
            "d".repeat(5000)
        );
        let mut env = env(&[("OPS_TELEGRAM_BOT_TOKEN_FILE", &path)]);
        let problems = env.take_problems();
        assert_eq!(problems.len(), 1);
        let message = problems[0].to_string();
        assert!(message.len() < 400, "{} bytes: {message}", message.len());
        assert!(!message.chars().any(char::is_control), "{message:?}");
        assert!(!message.contains('\u{202e}'), "{message:?}");
        assert!(
            message
                .contains(r#"OPS_TELEGRAM_BOT_TOKEN_FILE="/nonexistent/\u{1b}[2J\n\0\u{202e}ddd"#),
            "{message}"
        );
        assert!(
            message.contains(r#"ddd/token": "#),
            "the file name is kept: {message}"
        );
        assert_eq!(
            env.source("OPS_TELEGRAM_BOT_TOKEN"),
            SecretSource::File(path),
            "the source keeps the path as given"
        );
        assert_eq!(shown_path("/run/secrets/hmac"), r#""/run/secrets/hmac""#);
    }

    #[test]
    fn renamed_variables_are_refused_with_their_replacement() {
        let mut env = env(&[("RETRY_BUDGET_MAX_TOKENS", "")]);
        let problems = env.take_problems();
        assert_eq!(problems.len(), 1);
        assert!(
            problems[0].message.contains("RETRY_BUDGET_PERCENT"),
            "{}",
            problems[0]
        );
    }

    #[test]
    fn unknown_variables_get_a_suggestion() {
        let warning = unknown_variable("SIGNAL_HMAC_SECRETS");
        assert!(
            warning.0.contains("did you mean SIGNAL_HMAC_SECRET?"),
            "{warning}"
        );
        let warning = unknown_variable("OPS_SOMETHING_ELSE_ENTIRELY");
        assert!(!warning.0.contains("did you mean"), "{warning}");
    }
}
