//! Where the outbox lives, as one setting: `OUTBOX_URL` (or the `--outbox`
//! flag) names the backend and its location; `OUTBOX_PATH` is the older
//! spelling of a plain file path.
//!
//! Accepted forms:
//!
//! | value | outbox |
//! | --- | --- |
//! | `/var/lib/signals/outbox.db`, `./outbox.db`, `outbox.db` | SQLite file at that path (relative to the working directory) |
//! | `sqlite:///var/lib/signals/outbox.db` | SQLite file at the absolute path `/var/lib/signals/outbox.db` |
//! | `sqlite://localhost/var/lib/signals/outbox.db` | the same (an RFC 8089 local host) |
//! | `postgres://user:password@host/db`, `postgresql://...` | PostgreSQL, for the backend of the next release |
//!
//! A URL only ever names an **absolute** path. The conventions disagree on
//! relative ones (sqlx reads `sqlite://outbox.db` as a relative file,
//! SQLAlchemy reads `sqlite:///outbox.db` as one, RFC 8089 and this crate
//! read three slashes as the root), so a relative SQLite URL would be read
//! differently by different people; a plain path says what it means. The
//! refused forms each get an error saying which form to use.

use std::fmt;
use std::path::{Path, PathBuf};

use secrecy::{ExposeSecret, SecretString};
use url::Url;

use crate::values::shown;

/// What the errors list as allowed.
const EXPECTED: &str = "a file path, sqlite:///absolute/path.db, or postgres://user@host/database";

/// What replaces a password or a query value when a URL is shown.
const REDACTED: &str = "REDACTED";

/// Where the outbox lives.
///
/// `Display` and `Debug` never show a password: a PostgreSQL URL is shown
/// with its password and query values replaced by `REDACTED`.
///
/// ```
/// use std::path::Path;
/// use signal_config::OutboxTarget;
///
/// let file = OutboxTarget::parse("OUTBOX_URL", "sqlite:///var/lib/signals/outbox.db")?;
/// assert_eq!(file.sqlite_path(), Some(Path::new("/var/lib/signals/outbox.db")));
/// assert_eq!(OutboxTarget::parse("OUTBOX_URL", "./outbox.db")?.to_string(), "./outbox.db");
///
/// let pg = OutboxTarget::parse("OUTBOX_URL", "postgres://app:hunter2@db.internal/signals")?;
/// assert_eq!(pg.to_string(), "postgres://app:REDACTED@db.internal/signals");
/// assert!(!format!("{pg:?}").contains("hunter2"));
///
/// let relative = OutboxTarget::parse("OUTBOX_URL", "sqlite://outbox.db").unwrap_err();
/// assert!(relative.to_string().contains("sqlite:///absolute/path.db"));
/// # Ok::<(), signal_config::OutboxTargetError>(())
/// ```
#[derive(Clone, PartialEq, Eq)]
pub enum OutboxTarget {
    /// An embedded SQLite file (created if missing by `enqueue` and `run`).
    Sqlite(PathBuf),
    /// A PostgreSQL database (`postgres://` or `postgresql://`).
    Postgres(SecretUrl),
}

impl OutboxTarget {
    /// Reads the value of `OUTBOX_URL` or `--outbox` (`name` is what the
    /// errors call it): a plain path or one of the URL forms above.
    ///
    /// # Errors
    /// An empty value, an unknown scheme, a SQLite URL that is not an
    /// absolute local path (or carries credentials or options), a URL that
    /// does not parse. Messages never include a password.
    pub fn parse(name: &str, value: &str) -> Result<OutboxTarget, OutboxTargetError> {
        if value.trim().is_empty() {
            return Err(OutboxTargetError::Empty {
                name: name.to_owned(),
            });
        }
        let Some(scheme) = scheme_of(value) else {
            return Ok(OutboxTarget::Sqlite(PathBuf::from(value)));
        };
        if !value[scheme.len() + 1..].starts_with("//") {
            return Err(OutboxTargetError::MissingSlashes {
                name: name.to_owned(),
                scheme: scheme.to_ascii_lowercase(),
            });
        }
        match scheme.to_ascii_lowercase().as_str() {
            "sqlite" => sqlite_url(name, value).map(OutboxTarget::Sqlite),
            "postgres" | "postgresql" => SecretUrl::parse(name, value).map(OutboxTarget::Postgres),
            other => Err(OutboxTargetError::UnknownScheme {
                name: name.to_owned(),
                scheme: shown(other),
            }),
        }
    }

    /// Reads the value of `OUTBOX_PATH`: always a file path. A value that
    /// starts like a URL is refused (without echoing it: it may hold a
    /// password) rather than read as a strange relative path.
    ///
    /// ```
    /// use signal_config::OutboxTarget;
    /// assert!(OutboxTarget::parse_path("OUTBOX_PATH", "outbox.db").is_ok());
    /// let err = OutboxTarget::parse_path("OUTBOX_PATH", "postgres://a:secret@h/db").unwrap_err();
    /// assert!(err.to_string().contains("OUTBOX_URL") && !err.to_string().contains("secret"));
    /// ```
    ///
    /// # Errors
    /// An empty value, or one that looks like a URL.
    pub fn parse_path(name: &str, value: &str) -> Result<OutboxTarget, OutboxTargetError> {
        if value.trim().is_empty() {
            return Err(OutboxTargetError::Empty {
                name: name.to_owned(),
            });
        }
        if let Some(scheme) = scheme_of(value) {
            return Err(OutboxTargetError::PathIsUrl {
                name: name.to_owned(),
                scheme: shown(&scheme.to_ascii_lowercase()),
            });
        }
        Ok(OutboxTarget::Sqlite(PathBuf::from(value)))
    }

    /// The SQLite file, for a SQLite outbox.
    #[must_use]
    pub fn sqlite_path(&self) -> Option<&Path> {
        match self {
            OutboxTarget::Sqlite(path) => Some(path),
            OutboxTarget::Postgres(_) => None,
        }
    }

    /// The backend's name: `sqlite` or `postgres`.
    #[must_use]
    pub fn backend(&self) -> &'static str {
        match self {
            OutboxTarget::Sqlite(_) => "sqlite",
            OutboxTarget::Postgres(_) => "postgres",
        }
    }
}

impl fmt::Display for OutboxTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OutboxTarget::Sqlite(path) => write!(f, "{}", path.display()),
            OutboxTarget::Postgres(url) => fmt::Display::fmt(url, f),
        }
    }
}

impl fmt::Debug for OutboxTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OutboxTarget::Sqlite(path) => f.debug_tuple("Sqlite").field(path).finish(),
            OutboxTarget::Postgres(url) => f.debug_tuple("Postgres").field(url).finish(),
        }
    }
}

/// A database URL that may hold a password: the full text is a secret, only
/// for opening the connection; `Display` and `Debug` show the redacted form
/// (user kept, password, query values and fragment `REDACTED`).
///
/// ```
/// use signal_config::SecretUrl;
/// let url = SecretUrl::parse("OUTBOX_URL", "postgresql://app:pw@db:5432/signals?sslmode=require")?;
/// assert_eq!(url.to_string(), "postgresql://app:REDACTED@db:5432/signals?sslmode=REDACTED");
/// assert_eq!(url.expose_secret(), "postgresql://app:pw@db:5432/signals?sslmode=require");
/// # Ok::<(), signal_config::OutboxTargetError>(())
/// ```
#[derive(Clone)]
pub struct SecretUrl {
    url: SecretString,
    redacted: String,
}

impl SecretUrl {
    /// Parses `value` (`name` is what errors call it).
    ///
    /// # Errors
    /// [`OutboxTargetError::InvalidUrl`] if it does not parse (the message
    /// says why, without the value).
    pub fn parse(name: &str, value: &str) -> Result<SecretUrl, OutboxTargetError> {
        let url = Url::parse(value).map_err(|e| OutboxTargetError::InvalidUrl {
            name: name.to_owned(),
            reason: e.to_string(),
        })?;
        Ok(SecretUrl {
            redacted: redact(&url),
            url: SecretString::from(value.to_owned()),
        })
    }

    /// The full URL, password included: only for opening the connection.
    #[must_use]
    pub fn expose_secret(&self) -> &str {
        self.url.expose_secret()
    }

    /// The URL as it may be shown.
    #[must_use]
    pub fn redacted(&self) -> &str {
        &self.redacted
    }
}

impl PartialEq for SecretUrl {
    fn eq(&self, other: &SecretUrl) -> bool {
        self.expose_secret() == other.expose_secret()
    }
}

impl Eq for SecretUrl {}

impl fmt::Display for SecretUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted)
    }
}

impl fmt::Debug for SecretUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("SecretUrl").field(&self.redacted).finish()
    }
}

/// Why an outbox setting was refused. Every message names the setting,
/// says what is wrong and what to write instead, and never holds a password.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OutboxTargetError {
    /// Set, but empty.
    #[error(
        "{name} is set but empty; expected {EXPECTED}, or unset it for the default ./signal-outbox.db"
    )]
    Empty {
        /// The variable or flag.
        name: String,
    },
    /// A scheme no backend has.
    #[error("{name} has the unknown scheme `{scheme}://`; expected {EXPECTED}")]
    UnknownScheme {
        /// The variable or flag.
        name: String,
        /// The scheme, lowercased.
        scheme: String,
    },
    /// `sqlite:outbox.db`, `sqlite::memory:`: no `//`.
    #[error(
        "{name} starts with `{scheme}:` but not `{scheme}://`; expected {EXPECTED} \
         (an in-memory or relative SQLite URL is not an outbox: the signals must outlive the \
         process, and a URL names only an absolute path; give a relative path as a plain path)"
    )]
    MissingSlashes {
        /// The variable or flag.
        name: String,
        /// The scheme, lowercased.
        scheme: String,
    },
    /// `sqlite://outbox.db`: the part after `//` is a host.
    #[error(
        "{name}={value} names {host} as a host: in a URL the part after `//` is a host, and a \
         SQLite outbox is a local file, so a relative path cannot be written as a URL (sqlx, \
         SQLAlchemy and RFC 8089 disagree on what it would mean); write sqlite:///absolute/path.db \
         (three slashes), or give the path itself (relative paths are allowed there)"
    )]
    SqliteHost {
        /// The variable or flag.
        name: String,
        /// The value as given (bounded, escaped, quoted).
        value: String,
        /// What stood where the host goes (bounded, escaped, quoted).
        host: String,
    },
    /// `sqlite://user:pw@/x.db`.
    #[error(
        "{name} is a SQLite URL with a user or password; a SQLite outbox is a local file and \
         has no login: remove it (sqlite:///absolute/path.db)"
    )]
    SqliteCredentials {
        /// The variable or flag.
        name: String,
    },
    /// `sqlite:///x.db?mode=ro`.
    #[error(
        "{name}={value}... has a query or fragment (not shown: it may hold a key); SQLite URL options are not read (the outbox sets \
         its own: WAL, synchronous=FULL); remove them (sqlite:///absolute/path.db)"
    )]
    SqliteOptions {
        /// The variable or flag.
        name: String,
        /// The value up to its query or fragment (bounded, escaped, quoted).
        value: String,
    },
    /// `sqlite:///`, `sqlite:///dir/`, `sqlite:////x.db`, a NUL byte.
    #[error("{name}={value} does not name a file; {why}; expected sqlite:///absolute/path.db")]
    SqlitePath {
        /// The variable or flag.
        name: String,
        /// The value as given (bounded, escaped, quoted).
        value: String,
        /// What is wrong with the path.
        why: &'static str,
    },
    /// A URL that does not parse.
    #[error(
        "{name} is not a valid URL ({reason}); expected {EXPECTED} (percent-encode special \
         characters in a password)"
    )]
    InvalidUrl {
        /// The variable or flag.
        name: String,
        /// What the URL parser said (it never quotes the input).
        reason: String,
    },
    /// `OUTBOX_PATH=postgres://...`.
    #[error(
        "{name} holds a file path, and this value starts like a `{scheme}://` URL; put URLs in \
         OUTBOX_URL (and unset {name})"
    )]
    PathIsUrl {
        /// The variable.
        name: String,
        /// The scheme, lowercased.
        scheme: String,
    },
}

/// The scheme of `value` if it starts like a URL: `scheme://`, or the
/// `sqlite:`/`postgres:` prefixes written without the slashes.
fn scheme_of(value: &str) -> Option<&str> {
    let (scheme, rest) = value.split_once(':')?;
    let mut chars = scheme.chars();
    let valid = chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    if !valid {
        return None;
    }
    let known = ["sqlite", "postgres", "postgresql"]
        .iter()
        .any(|k| scheme.eq_ignore_ascii_case(k));
    (rest.starts_with("//") || known).then_some(scheme)
}

/// The absolute path of a `sqlite://` URL.
fn sqlite_url(name: &str, value: &str) -> Result<PathBuf, OutboxTargetError> {
    let path_error = |why| OutboxTargetError::SqlitePath {
        name: name.to_owned(),
        value: echoed(value),
        why,
    };
    // Not echoed: the value may hold credentials, checked only after parsing.
    let url = Url::parse(value).map_err(|e| OutboxTargetError::InvalidUrl {
        name: name.to_owned(),
        reason: e.to_string(),
    })?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(OutboxTargetError::SqliteCredentials {
            name: name.to_owned(),
        });
    }
    match url.host_str() {
        None | Some("") => {}
        Some(host) if host.eq_ignore_ascii_case("localhost") => {}
        Some(host) => {
            return Err(OutboxTargetError::SqliteHost {
                name: name.to_owned(),
                value: echoed(value),
                host: echoed(host),
            });
        }
    }
    if url.port().is_some() {
        return Err(path_error(
            "a SQLite outbox is a local file and has no port",
        ));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(OutboxTargetError::SqliteOptions {
            name: name.to_owned(),
            value: echoed(value.split(['?', '#']).next().unwrap_or_default()),
        });
    }
    let raw = url.path();
    if raw.is_empty() || raw == "/" {
        return Err(path_error("there is no path after the host"));
    }
    if raw.starts_with("//") {
        return Err(path_error(
            "the path starts with two slashes (SQLAlchemy's spelling of an absolute path); \
             here three slashes in all are the root",
        ));
    }
    if raw.ends_with('/') {
        return Err(path_error("it ends with `/`, so it names a directory"));
    }
    // `to_file_path` percent-decodes (non-UTF-8 bytes included), but takes
    // only a host of exactly `localhost` (and `sqlite:` is not a special
    // scheme, so its host is not lowercased): the host, already checked
    // case-insensitively above, is left out of the `file:` URL it reads.
    let path = Url::parse(&format!("file://{raw}"))
        .ok()
        .and_then(|file| file.to_file_path().ok())
        .ok_or_else(|| path_error("it is not an absolute local path"))?;
    if path.as_os_str().as_encoded_bytes().contains(&0) {
        return Err(path_error("it holds a NUL byte (%00)"));
    }
    Ok(path)
}

/// A part of the value as an error shows it: bounded, then quoted and
/// escaped as `Debug` does, so a newline or an escape sequence in the
/// setting cannot forge a line of the problem list or rewrite the terminal.
/// Only for parts that cannot hold a password (checked before).
fn echoed(part: &str) -> String {
    format!("{:?}", shown(part))
}

/// `scheme://user:REDACTED@host:port/path?name=REDACTED#REDACTED`.
fn redact(url: &Url) -> String {
    let mut out = format!("{}://", url.scheme());
    let has_user = !url.username().is_empty();
    if has_user {
        out.push_str(url.username());
    }
    if url.password().is_some() {
        out.push(':');
        out.push_str(REDACTED);
    }
    if has_user || url.password().is_some() {
        out.push('@');
    }
    if let Some(host) = url.host_str() {
        out.push_str(host);
    }
    if let Some(port) = url.port() {
        out.push(':');
        out.push_str(&port.to_string());
    }
    out.push_str(url.path());
    if let Some(query) = url.query() {
        out.push('?');
        let pieces: Vec<String> = query
            .split('&')
            .filter(|piece| !piece.is_empty())
            .map(|piece| match piece.split_once('=') {
                Some((name, _)) => format!("{name}={REDACTED}"),
                None => REDACTED.to_owned(),
            })
            .collect();
        out.push_str(&pieces.join("&"));
    }
    if url.fragment().is_some() {
        out.push('#');
        out.push_str(REDACTED);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sqlite(value: &str) -> PathBuf {
        match OutboxTarget::parse("OUTBOX_URL", value) {
            Ok(OutboxTarget::Sqlite(path)) => path,
            other => panic!("{value}: {other:?}"),
        }
    }

    #[test]
    fn plain_paths_and_absolute_sqlite_urls() {
        for (value, path) in [
            ("outbox.db", "outbox.db"),
            ("./data/outbox.db", "./data/outbox.db"),
            ("/var/lib/o.db", "/var/lib/o.db"),
            // A colon without `//` is part of a file name.
            ("backup:2026.db", "backup:2026.db"),
            ("sqlite:///var/lib/o.db", "/var/lib/o.db"),
            ("SQLITE:///var/lib/o.db", "/var/lib/o.db"),
            ("sqlite://localhost/var/lib/o.db", "/var/lib/o.db"),
            ("sqlite://LOCALHOST/var/lib/o.db", "/var/lib/o.db"),
            ("sqlite:///var/lib/my%20outbox.db", "/var/lib/my outbox.db"),
        ] {
            assert_eq!(sqlite(value), PathBuf::from(path), "{value}");
        }
    }

    #[test]
    fn refused_forms_name_the_setting_and_the_form_to_use() {
        for (value, needle) in [
            ("", "is set but empty"),
            ("  ", "is set but empty"),
            (
                "sqlite://outbox.db",
                r#"="sqlite://outbox.db" names "outbox.db" as a host"#,
            ),
            ("sqlite://./outbox.db", r#"names "." as a host"#),
            ("sqlite:outbox.db", "not `sqlite://`"),
            ("sqlite::memory:", "in-memory"),
            ("sqlite://", "no path"),
            ("sqlite:///", "no path"),
            ("sqlite:///var/lib/", "names a directory"),
            ("sqlite:////var/lib/o.db", "two slashes"),
            ("sqlite:///o.db?mode=ro", "query or fragment"),
            ("sqlite:///o.db#x", "query or fragment"),
            ("sqlite://localhost:99/o.db", "no port"),
            ("sqlite:///o%00.db", "NUL"),
            ("mysql://db/signals", "unknown scheme `mysql://`"),
            ("file:///var/lib/o.db", "unknown scheme `file://`"),
        ] {
            let err = OutboxTarget::parse("OUTBOX_URL", value).unwrap_err();
            let text = err.to_string();
            assert!(text.contains("OUTBOX_URL"), "{value}: {text}");
            assert!(text.contains(needle), "{value}: {text}");
        }
    }

    #[test]
    fn credentials_are_never_echoed() {
        for value in [
            "sqlite://user:hunter2@localhost/o.db",
            "postgres://app:hunter2@[::1:bad/db",
        ] {
            let err = OutboxTarget::parse("OUTBOX_URL", value).unwrap_err();
            assert!(!err.to_string().contains("hunter2"), "{err}");
            assert!(!format!("{err:?}").contains("hunter2"), "{err:?}");
        }
        let err =
            OutboxTarget::parse_path("OUTBOX_PATH", "postgresql://a:hunter2@h/db").unwrap_err();
        assert!(matches!(err, OutboxTargetError::PathIsUrl { .. }), "{err}");
        assert!(!err.to_string().contains("hunter2"), "{err}");
        let err = OutboxTarget::parse_path("OUTBOX_PATH", "sqlite:///x.db").unwrap_err();
        assert!(err.to_string().contains("put URLs in OUTBOX_URL"), "{err}");
    }

    #[test]
    fn hostile_values_are_escaped_bounded_and_a_query_is_never_echoed() {
        let long = format!("sqlite://h\u{1b}[2J\n{}/o.db", "x".repeat(500));
        let err = OutboxTarget::parse("OUTBOX_URL", &long).unwrap_err();
        let text = err.to_string();
        assert!(!text.chars().any(char::is_control), "{text:?}");
        assert!(text.len() < 800, "{} bytes: {text}", text.len());
        let err = OutboxTarget::parse("OUTBOX_URL", "sqlite:///o.db?key=hunter2").unwrap_err();
        let text = err.to_string();
        assert!(text.contains(r#"OUTBOX_URL="sqlite:///o.db"..."#), "{text}");
        assert!(!text.contains("hunter2") && !format!("{err:?}").contains("hunter2"));
        let err = OutboxTarget::parse("OUTBOX_URL", "sqlite:///dir\n/").unwrap_err();
        assert!(!err.to_string().contains('\n'), "{err}");
    }

    #[test]
    fn postgres_urls_are_kept_whole_and_shown_redacted() {
        for (value, shown) in [
            (
                "postgres://app:hunter2@db.internal:5432/signals",
                "postgres://app:REDACTED@db.internal:5432/signals",
            ),
            (
                "postgresql://db.internal/signals?password=hunter2&sslmode=verify-full",
                "postgresql://db.internal/signals?password=REDACTED&sslmode=REDACTED",
            ),
            (
                "postgres://:hunter2@[::1]/db",
                "postgres://:REDACTED@[::1]/db",
            ),
            ("postgres:///signals", "postgres:///signals"),
        ] {
            let target = OutboxTarget::parse("OUTBOX_URL", value).unwrap();
            assert_eq!(target.backend(), "postgres");
            assert_eq!(target.to_string(), shown, "{value}");
            assert!(!format!("{target:?}").contains("hunter2"));
            let OutboxTarget::Postgres(url) = &target else {
                panic!("{target:?}")
            };
            assert_eq!(url.expose_secret(), value);
            assert_eq!(target.sqlite_path(), None);
        }
    }
}
