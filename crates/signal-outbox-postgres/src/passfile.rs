//! libpq's password file (`~/.pgpass`, `PGPASSFILE`, or `passfile=` in the
//! URL): lines of `hostname:port:database:username:password`, `*` matching
//! anything, `\:` and `\\` escaping, `#` starting a comment; the first
//! matching line wins.
//!
//! As libpq, a file that its group or others may read is not trusted; where
//! libpq only warns and ignores it, this refuses to start with an error
//! naming the file and the `chmod` that fixes it, so a password is never
//! silently not used.

use std::path::{Path, PathBuf};

use signal_outbox::OutboxError;

/// What a passfile line is matched against.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Wanted<'a> {
    pub(crate) host: &'a str,
    pub(crate) port: u16,
    pub(crate) database: &'a str,
    pub(crate) user: &'a str,
}

/// Splits one line into its five fields, unescaping `\:` and `\\`.
fn fields(line: &str) -> Option<[String; 5]> {
    let mut out: Vec<String> = vec![String::new()];
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let Some(next) = chars.next() {
                    out.last_mut()?.push(next);
                }
            }
            ':' if out.len() < 5 => out.push(String::new()),
            other => out.last_mut()?.push(other),
        }
    }
    out.try_into().ok()
}

fn matches(pattern: &str, value: &str) -> bool {
    pattern == "*" || pattern == value
}

/// The password of the first line of `text` matching `wanted`.
pub(crate) fn find(text: &str, wanted: Wanted<'_>) -> Option<String> {
    let port = wanted.port.to_string();
    // libpq: "localhost" in the file also matches Unix-socket connections.
    let host = if wanted.host.starts_with('/') {
        "localhost"
    } else {
        wanted.host
    };
    text.lines()
        .map(|line| line.trim_end_matches('\r'))
        .filter(|line| !line.trim_start().starts_with('#') && !line.trim().is_empty())
        .filter_map(fields)
        .find(|[h, p, d, u, _]| {
            matches(h, host)
                && matches(p, &port)
                && matches(d, wanted.database)
                && matches(u, wanted.user)
        })
        .map(|[_, _, _, _, password]| password)
}

/// Reads the passfile at `path` and looks `wanted` up. A missing file is
/// `Ok(None)` when `required` is false (the default `~/.pgpass`), an error
/// when it was named explicitly.
pub(crate) fn lookup(
    path: &Path,
    required: bool,
    wanted: Wanted<'_>,
    target: &str,
) -> Result<Option<String>, OutboxError> {
    let open_error = |reason: String, hint: &str| OutboxError::Open {
        target: target.to_owned(),
        reason,
        hint: hint.to_owned(),
    };
    let metadata = match std::fs::metadata(path) {
        Ok(metadata) => metadata,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound && !required => {
            return Ok(None);
        }
        Err(error) => {
            return Err(open_error(
                format!("cannot read the password file {} ({error})", path.display()),
                "fix the path in passfile= or PGPASSFILE, or unset it",
            ));
        }
    };
    if !metadata.is_file() {
        return Err(open_error(
            format!("the password file {} is not a regular file", path.display()),
            "point passfile= or PGPASSFILE at a file",
        ));
    }
    check_mode(&metadata, path, target)?;
    let text = std::fs::read_to_string(path).map_err(|error| {
        open_error(
            format!("cannot read the password file {} ({error})", path.display()),
            "make it readable by this user, as UTF-8 text",
        )
    })?;
    Ok(find(&text, wanted))
}

#[cfg(unix)]
fn check_mode(metadata: &std::fs::Metadata, path: &Path, target: &str) -> Result<(), OutboxError> {
    use std::os::unix::fs::PermissionsExt;
    let mode = metadata.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(OutboxError::Open {
            target: target.to_owned(),
            reason: format!(
                "the password file {} has permissions {mode:04o}: its group or others may read it",
                path.display()
            ),
            hint: format!(
                "run `chmod 0600 {}` (libpq ignores such a file)",
                path.display()
            ),
        });
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_mode(_: &std::fs::Metadata, _: &Path, _: &str) -> Result<(), OutboxError> {
    Ok(())
}

/// Where the passfile is: `passfile=`, else `PGPASSFILE`, else
/// `$HOME/.pgpass`; the flag says whether it was named explicitly.
pub(crate) fn location(
    from_url: Option<&str>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Option<(PathBuf, bool)> {
    if let Some(path) = from_url {
        return Some((PathBuf::from(path), true));
    }
    if let Some(path) = env("PGPASSFILE").filter(|p| !p.is_empty()) {
        return Some((PathBuf::from(path), true));
    }
    env("HOME")
        .filter(|home| !home.is_empty())
        .map(|home| (Path::new(&home).join(".pgpass"), false))
}

#[cfg(test)]
mod tests {
    use super::*;

    const WANT: Wanted<'static> = Wanted {
        host: "db.internal",
        port: 5432,
        database: "signals",
        user: "outbox",
    };

    #[test]
    fn first_matching_line_wins_with_wildcards_and_escapes() {
        let text = "# comment\n\
                    other:5432:signals:outbox:nope\n\
                    db.internal:5433:*:outbox:wrong-port\n\
                    db.internal:*:signals:outbox:pa\\:ss\\\\word\n\
                    *:*:*:*:fallback\n";
        assert_eq!(find(text, WANT).as_deref(), Some("pa:ss\\word"));
        let other = Wanted {
            user: "admin",
            ..WANT
        };
        assert_eq!(find(text, other).as_deref(), Some("fallback"));
        assert_eq!(find("short:line\n", WANT), None);
    }

    #[test]
    fn localhost_matches_a_unix_socket() {
        let socket = Wanted {
            host: "/var/run/postgresql",
            ..WANT
        };
        assert_eq!(
            find("localhost:5432:*:*:sock\n", socket).as_deref(),
            Some("sock")
        );
    }

    #[cfg(unix)]
    #[test]
    fn a_file_others_may_read_is_refused_naming_the_fix() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pgpass");
        std::fs::write(&path, "*:*:*:*:secret-in-file\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = lookup(&path, true, WANT, "postgres://outbox@db/signals").unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("chmod 0600") && text.contains("0644"),
            "{text}"
        );
        assert!(!text.contains("secret-in-file"), "{text}");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        let found = lookup(&path, true, WANT, "t").unwrap();
        assert_eq!(found.as_deref(), Some("secret-in-file"));
        let missing = dir.path().join("absent");
        assert_eq!(lookup(&missing, false, WANT, "t").unwrap(), None);
        assert!(lookup(&missing, true, WANT, "t").is_err());
    }
}
