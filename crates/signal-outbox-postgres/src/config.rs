//! The outbox URL: `postgres://user:password@host:port/database?...`, with
//! libpq's conventions where the URL lacks a part, and its password kept
//! out of every text this crate shows.
//!
//! # What is read, in order
//!
//! | part | from the URL | else | else |
//! |------|--------------|------|------|
//! | host | `host` of the URL, or `?host=` (several: `h1,h2`; a path: a Unix socket) | `PGHOST` | refused: no default socket guessing |
//! | port | `:port` or `?port=` | `PGPORT` | 5432 |
//! | user | `user@` or `?user=` | `PGUSER` | the operating-system user |
//! | database | `/database` or `?dbname=` | `PGDATABASE` | the user name (the server's rule) |
//! | password | `:password@` or `?password=` | `PGPASSWORD` | the passfile: `?passfile=`, `PGPASSFILE`, `~/.pgpass` (must be 0600) |
//! | TLS | `?sslmode=` | `PGSSLMODE` | `verify-full` (`disable` for a Unix socket) |
//! | roots | `?sslrootcert=` (a PEM path, or `system`) | `PGSSLROOTCERT` | `~/.postgresql/root.crt` |
//! | name | `?application_name=` | `PGAPPNAME` | `signal-outbox` |
//! | connect timeout | `?connect_timeout=` (seconds) | `PGCONNECT_TIMEOUT` | 10 s |
//!
//! Also accepted in the query, as tokio-postgres reads them: `options`,
//! `hostaddr`, `tcp_user_timeout`, `keepalives`, `keepalives_idle`,
//! `keepalives_interval`, `keepalives_retries`, `target_session_attrs`,
//! `channel_binding`, `load_balance_hosts`, `sslnegotiation`. Anything else
//! (client certificates `sslcert`/`sslkey`, `service`, ...) is refused by
//! name rather than ignored.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use signal_outbox::OutboxError;
use tokio_postgres::config::Host;
use url::Url;

use crate::passfile;
use crate::tls::{Roots, SslMode};

/// Query parameters passed through to tokio-postgres as they are.
const PASSED: [&str; 17] = [
    "user",
    "password",
    "dbname",
    "host",
    "hostaddr",
    "port",
    "options",
    "application_name",
    "connect_timeout",
    "tcp_user_timeout",
    "keepalives",
    "keepalives_idle",
    "keepalives_interval",
    "keepalives_retries",
    "target_session_attrs",
    "channel_binding",
    "load_balance_hosts",
];

/// Query parameters this crate reads itself.
const OWN: [&str; 4] = ["sslmode", "sslrootcert", "passfile", "sslnegotiation"];

/// Query parameters whose values are secrets.
const SECRET_PARAMS: [&str; 2] = ["password", "sslpassword"];

/// The default connect timeout: a dead host fails the start-up instead of
/// hanging it.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// A parsed outbox URL with every default applied: what to connect to and
/// how. Its `Debug` and `Display` show the redacted form only.
///
/// ```
/// use signal_outbox_postgres::{PgConfig, SslMode};
///
/// let env = |name: &str| (name == "PGPASSWORD").then(|| "from-env".to_owned());
/// let config = PgConfig::from_url_with("postgres://outbox:s3cret@db.internal/signals", &env).unwrap();
/// assert_eq!(config.ssl_mode(), SslMode::VerifyFull); // the default when TLS is on
/// assert_eq!(config.to_string(), "postgres://outbox@db.internal:5432/signals?sslmode=verify-full");
/// assert!(!format!("{config:?}").contains("s3cret"));
/// ```
#[derive(Clone)]
pub struct PgConfig {
    pub(crate) pg: tokio_postgres::Config,
    pub(crate) ssl_mode: SslMode,
    pub(crate) roots: Option<Roots>,
    redacted: String,
}

impl fmt::Debug for PgConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgConfig")
            .field("url", &self.redacted)
            .field("ssl_mode", &self.ssl_mode)
            .finish_non_exhaustive()
    }
}

impl fmt::Display for PgConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted)
    }
}

/// `url` with its password (and any secret query value) replaced by
/// `***`, for logs, `check-config` and errors; a text that is not a URL is
/// not shown at all, since it may hold a password anywhere.
///
/// ```
/// use signal_outbox_postgres::redact_url;
/// assert_eq!(redact_url("postgres://u:hunter2@h/db?password=x&sslmode=disable"),
///            "postgres://u:***@h/db?password=***&sslmode=disable");
/// assert_eq!(redact_url("not a url hunter2"), "(not a URL; not shown)");
/// ```
#[must_use]
pub fn redact_url(url: &str) -> String {
    let Ok(mut parsed) = Url::parse(url) else {
        return "(not a URL; not shown)".to_owned();
    };
    if parsed.password().is_some() {
        let _ = parsed.set_password(Some("***"));
    }
    if parsed.query().is_some() {
        let pairs: Vec<(String, String)> = parsed
            .query_pairs()
            .map(|(k, v)| {
                let value = if SECRET_PARAMS.contains(&k.as_ref()) {
                    "***".to_owned()
                } else {
                    v.into_owned()
                };
                (k.into_owned(), value)
            })
            .collect();
        parsed.query_pairs_mut().clear().extend_pairs(pairs);
    }
    parsed.to_string()
}

fn invalid(reason: String) -> OutboxError {
    OutboxError::InvalidInput { reason }
}

impl PgConfig {
    /// Parses `url`, filling the parts it lacks from this process's `PG*`
    /// variables and passfile (see the [module docs](self)).
    ///
    /// # Errors
    /// [`OutboxError::InvalidInput`] naming the bad part and what is
    /// allowed; [`OutboxError::Open`] for an unreadable passfile or root
    /// certificate file. No error text contains the password.
    pub fn from_url(url: &str) -> Result<PgConfig, OutboxError> {
        PgConfig::from_url_with(url, &|name| std::env::var(name).ok())
    }

    /// As [`from_url`](PgConfig::from_url), reading variables through `env`
    /// (tests, or a configuration layer that owns the environment).
    ///
    /// # Errors
    /// As for [`from_url`](PgConfig::from_url).
    pub fn from_url_with(
        url: &str,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<PgConfig, OutboxError> {
        let parsed = Url::parse(url).map_err(|e| match e {
            // `user@/db`: a URL cannot hold credentials without a host.
            url::ParseError::EmptyHost => invalid(
                "the outbox URL names a user but no host (`user@/database`); put the host in \
                 the URL (postgres://user@host/database), or leave both out \
                 (postgres:///database) and set PGHOST and PGUSER"
                    .to_owned(),
            ),
            e => invalid(format!(
                "the outbox URL is not a valid URL ({e}); expected \
                 postgres://user:password@host:5432/database?sslmode=verify-full"
            )),
        })?;
        if !matches!(parsed.scheme(), "postgres" | "postgresql") {
            return Err(invalid(format!(
                "the outbox URL has scheme `{}`; expected postgres:// or postgresql://",
                parsed.scheme()
            )));
        }
        let mut own: Vec<(String, String)> = Vec::new();
        let mut passed: Vec<(String, String)> = Vec::new();
        for (key, value) in parsed.query_pairs() {
            let (key, value) = (key.into_owned(), value.into_owned());
            if OWN.contains(&key.as_str()) {
                own.push((key, value));
            } else if PASSED.contains(&key.as_str()) {
                passed.push((key, value));
            } else {
                return Err(invalid(format!(
                    "the outbox URL has the unsupported parameter `{}`; supported: {}, {}",
                    key.chars()
                        .filter(|c| !c.is_control())
                        .take(40)
                        .collect::<String>(),
                    OWN.join(", "),
                    PASSED.join(", ")
                )));
            }
        }
        let own_value = |name: &str| {
            own.iter()
                .rev()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        };
        let mut stripped = parsed.clone();
        stripped.set_query(None);
        // tokio-postgres reads a host without a port as port 5432; libpq
        // takes PGPORT first (one host: several take their ports from the
        // URL or `?port=`).
        let has_port = parsed.port().is_some() || passed.iter().any(|(k, _)| k == "port");
        if !has_port
            && parsed
                .host_str()
                .is_some_and(|h| !h.is_empty() && !h.contains(','))
            && let Some(port) = env_port(env)?
        {
            let _ = stripped.set_port(Some(port));
        }
        if !passed.is_empty() {
            stripped.query_pairs_mut().extend_pairs(&passed);
            // Form encoding writes a space as `+` (a `+` as `%2B`), which
            // tokio-postgres does not decode: `options=-c x=y` would reach
            // the server as `-c+x=y`.
            let query = stripped.query().map(|q| q.replace('+', "%20"));
            stripped.set_query(query.as_deref());
        }
        let mut pg = tokio_postgres::Config::from_str(stripped.as_str()).map_err(|e| {
            invalid(format!(
                "the outbox URL is not a valid PostgreSQL URL ({})",
                crate::error::chain(&e)
            ))
        })?;
        if let Some(value) = own_value("sslnegotiation") {
            let negotiation = match value.as_str() {
                "postgres" => tokio_postgres::config::SslNegotiation::Postgres,
                "direct" => tokio_postgres::config::SslNegotiation::Direct,
                _ => {
                    return Err(invalid(
                        "sslnegotiation must be postgres or direct".to_owned(),
                    ));
                }
            };
            pg.ssl_negotiation(negotiation);
        }
        apply_env_defaults(&mut pg, env)?;
        let unix_only = pg.get_hosts().iter().all(|h| matches!(h, Host::Unix(_)));
        let ssl_mode = match own_value("sslmode").or_else(|| env("PGSSLMODE")) {
            Some(text) => text.parse::<SslMode>()?,
            None if unix_only => SslMode::Disable,
            None => SslMode::VerifyFull,
        };
        if unix_only && ssl_mode.encrypts() {
            return Err(invalid(format!(
                "sslmode={ssl_mode} was asked for a Unix-socket host, where TLS does not apply; \
                 use sslmode=disable, or a TCP host name"
            )));
        }
        pg.ssl_mode(if ssl_mode.encrypts() {
            tokio_postgres::config::SslMode::Require
        } else {
            tokio_postgres::config::SslMode::Disable
        });
        let redacted = describe(&pg, ssl_mode);
        let roots = match own_value("sslrootcert").or_else(|| env("PGSSLROOTCERT")) {
            Some(text) if text == "system" => Some(Roots::System),
            Some(text) if !text.is_empty() => Some(Roots::File(PathBuf::from(text))),
            Some(_) => {
                return Err(invalid(
                    "sslrootcert is empty; expected a PEM file path or `system`".to_owned(),
                ));
            }
            None => env("HOME")
                .map(|home| PathBuf::from(home).join(".postgresql").join("root.crt"))
                .filter(|path| path.is_file())
                .map(Roots::File),
        };
        if pg.get_password().is_none() {
            let password = match env("PGPASSWORD").filter(|p| !p.is_empty()) {
                Some(password) => Some(password),
                None => from_passfile(&pg, own_value("passfile").as_deref(), env, &redacted)?,
            };
            if let Some(password) = password {
                pg.password(password);
            }
        }
        Ok(PgConfig {
            pg,
            ssl_mode,
            roots,
            redacted,
        })
    }

    /// The TLS mode in force.
    #[must_use]
    pub fn ssl_mode(&self) -> SslMode {
        self.ssl_mode
    }

    /// The URL as an operator may see it: user, hosts, ports, database and
    /// TLS mode, never the password.
    #[must_use]
    pub fn redacted(&self) -> &str {
        &self.redacted
    }

    /// True when every host is this machine (a loopback address,
    /// `localhost`, or a Unix socket): plain text never leaves it.
    #[must_use]
    pub fn is_local(&self) -> bool {
        self.pg.get_hosts().iter().all(|host| match host {
            Host::Unix(_) => true,
            Host::Tcp(name) => {
                name == "localhost"
                    || name
                        .trim_start_matches('[')
                        .trim_end_matches(']')
                        .parse::<std::net::IpAddr>()
                        .is_ok_and(|ip| ip.is_loopback())
            }
        })
    }
}

/// `PGPORT`, checked, if set.
fn env_port(env: &dyn Fn(&str) -> Option<String>) -> Result<Option<u16>, OutboxError> {
    let Some(port) = env("PGPORT").filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    match port.parse::<u16>() {
        Ok(port) if port > 0 => Ok(Some(port)),
        _ => Err(invalid(format!(
            "PGPORT is `{}`; expected a port number from 1 to 65535",
            port.chars().take(20).collect::<String>()
        ))),
    }
}

fn apply_env_defaults(
    pg: &mut tokio_postgres::Config,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<(), OutboxError> {
    let var = |name: &str| env(name).filter(|v| !v.is_empty());
    if pg.get_hosts().is_empty() {
        let Some(hosts) = var("PGHOST") else {
            return Err(invalid(
                "the outbox URL names no host; put it in the URL (postgres://user@host/db) \
                 or set PGHOST"
                    .to_owned(),
            ));
        };
        for host in hosts.split(',') {
            if host.starts_with('/') {
                pg.host_path(host);
            } else {
                pg.host(host);
            }
        }
    }
    if pg.get_ports().is_empty()
        && let Some(port) = env_port(env)?
    {
        pg.port(port);
    }
    if pg.get_user().is_none()
        && let Some(user) = var("PGUSER")
    {
        pg.user(user);
    }
    if pg.get_dbname().is_none()
        && let Some(db) = var("PGDATABASE")
    {
        pg.dbname(db);
    }
    if pg.get_application_name().is_none() {
        pg.application_name(var("PGAPPNAME").as_deref().unwrap_or("signal-outbox"));
    }
    if pg.get_connect_timeout().is_none() {
        let timeout = match var("PGCONNECT_TIMEOUT") {
            Some(text) => text
                .parse::<u64>()
                .ok()
                .filter(|s| *s > 0)
                .map(Duration::from_secs)
                .ok_or_else(|| {
                    invalid(format!(
                        "PGCONNECT_TIMEOUT is `{}`; expected whole seconds, at least 1",
                        text.chars().take(20).collect::<String>()
                    ))
                })?,
            None => DEFAULT_CONNECT_TIMEOUT,
        };
        pg.connect_timeout(timeout);
    }
    Ok(())
}

fn default_user(pg: &tokio_postgres::Config, env: &dyn Fn(&str) -> Option<String>) -> String {
    pg.get_user()
        .map(str::to_owned)
        .or_else(|| env("USER"))
        .or_else(|| env("LOGNAME"))
        .unwrap_or_default()
}

fn from_passfile(
    pg: &tokio_postgres::Config,
    explicit: Option<&str>,
    env: &dyn Fn(&str) -> Option<String>,
    target: &str,
) -> Result<Option<String>, OutboxError> {
    let Some((path, required)) = passfile::location(explicit, env) else {
        return Ok(None);
    };
    let host = match pg.get_hosts().first() {
        Some(Host::Tcp(name)) => name.clone(),
        Some(Host::Unix(path)) => path.display().to_string(),
        None => String::new(),
    };
    let user = default_user(pg, env);
    let database = pg.get_dbname().map_or_else(|| user.clone(), str::to_owned);
    let wanted = passfile::Wanted {
        host: &host,
        port: pg.get_ports().first().copied().unwrap_or(5432),
        database: &database,
        user: &user,
    };
    passfile::lookup(&path, required, wanted, target)
}

/// The redacted description: `postgres://user@host:port/db?sslmode=...`.
fn describe(pg: &tokio_postgres::Config, ssl_mode: SslMode) -> String {
    let user = pg.get_user().map(|u| format!("{u}@")).unwrap_or_default();
    let ports = pg.get_ports();
    let hosts: Vec<String> = pg
        .get_hosts()
        .iter()
        .enumerate()
        .map(|(i, host)| {
            let port = ports.get(i).or(ports.first()).copied().unwrap_or(5432);
            match host {
                Host::Tcp(name) if name.contains(':') => format!("[{name}]:{port}"),
                Host::Tcp(name) => format!("{name}:{port}"),
                Host::Unix(path) => format!("{}:{port}", path.display()),
            }
        })
        .collect();
    let db = pg.get_dbname().unwrap_or("");
    format!(
        "postgres://{user}{}/{db}?sslmode={ssl_mode}",
        hosts.join(",")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_of(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    #[test]
    fn url_parts_win_over_the_environment() {
        let env = env_of(&[
            ("PGHOST", "envhost"),
            ("PGUSER", "envuser"),
            ("PGPASSWORD", "envpw"),
        ]);
        let config =
            PgConfig::from_url_with("postgres://me:urlpw@urlhost:6000/db?sslmode=disable", &env)
                .unwrap();
        assert_eq!(config.pg.get_password(), Some(&b"urlpw"[..]));
        assert_eq!(
            config.redacted(),
            "postgres://me@urlhost:6000/db?sslmode=disable"
        );
        assert_eq!(config.ssl_mode(), SslMode::Disable);
    }

    #[test]
    fn missing_parts_come_from_pg_variables() {
        let env = env_of(&[
            ("PGHOST", "127.0.0.1"),
            ("PGPORT", "5555"),
            ("PGUSER", "envuser"),
            ("PGDATABASE", "envdb"),
            ("PGPASSWORD", "envpw"),
            ("PGSSLMODE", "require"),
            ("PGCONNECT_TIMEOUT", "3"),
        ]);
        let config = PgConfig::from_url_with("postgres://", &env).unwrap();
        assert_eq!(
            config.redacted(),
            "postgres://envuser@127.0.0.1:5555/envdb?sslmode=require"
        );
        assert_eq!(config.pg.get_password(), Some(&b"envpw"[..]));
        assert_eq!(
            config.pg.get_connect_timeout(),
            Some(&Duration::from_secs(3))
        );
        assert!(config.is_local());
    }

    #[test]
    fn options_with_spaces_and_plus_signs_reach_the_driver_intact() {
        let url = "postgres://h/db?options=-c%20search_path%3Da%2Bb%20-c%20x%3D1";
        let config = PgConfig::from_url_with(url, &env_of(&[])).unwrap();
        assert_eq!(config.pg.get_options(), Some("-c search_path=a+b -c x=1"));
    }

    #[test]
    fn pgport_applies_when_the_url_has_a_host_but_no_port() {
        let env = env_of(&[("PGPORT", "6543")]);
        let config = PgConfig::from_url_with("postgres://h/db", &env).unwrap();
        assert!(config.to_string().contains("h:6543"), "{config}");
        let config = PgConfig::from_url_with("postgres://h:7000/db", &env).unwrap();
        assert!(config.to_string().contains("h:7000"), "{config}");
        let err =
            PgConfig::from_url_with("postgres://h/db", &env_of(&[("PGPORT", "0")])).unwrap_err();
        assert!(err.to_string().contains("PGPORT is `0`"), "{err}");
    }

    #[test]
    fn bad_values_are_named_and_never_echo_the_password() {
        let none = env_of(&[]);
        for (url, needle) in [
            ("mysql://u:hunter2@h/db", "scheme `mysql`"),
            ("postgres://u:hunter2@h/db?sslmode=prefer", "plain text"),
            ("postgres://u:hunter2@h/db?sslmode=bogus", "verify-full"),
            (
                "postgres://u:hunter2@h/db?sslcert=/c.pem",
                "unsupported parameter `sslcert`",
            ),
            ("postgres://u:hunter2@/db", "no host"),
            (
                "postgres://u:hunter2@h/db?connect_timeout=abc",
                "not a valid PostgreSQL URL",
            ),
            (
                "postgres://u:hunter2@%2Ftmp/db?sslmode=verify-full",
                "Unix-socket",
            ),
            (
                "postgres://u:hunter2@h/db?sslrootcert=",
                "sslrootcert is empty",
            ),
        ] {
            let err = PgConfig::from_url_with(url, &none).unwrap_err().to_string();
            assert!(err.contains(needle), "{url}: {err}");
            assert!(!err.contains("hunter2"), "{url}: {err}");
        }
        let err = PgConfig::from_url_with("postgres://h/db", &env_of(&[("PGPORT", "99999")]))
            .unwrap_err();
        assert!(err.to_string().contains("PGPORT"), "{err}");
    }

    #[test]
    fn a_unix_socket_defaults_to_no_tls_and_tcp_to_verify_full() {
        let none = env_of(&[]);
        let socket =
            PgConfig::from_url_with("postgres://u@%2Fvar%2Frun%2Fpostgresql/db", &none).unwrap();
        assert_eq!(
            (socket.ssl_mode(), socket.is_local()),
            (SslMode::Disable, true)
        );
        let remote = PgConfig::from_url_with("postgres://u@db.example/db", &none).unwrap();
        assert_eq!(
            (remote.ssl_mode(), remote.is_local()),
            (SslMode::VerifyFull, false)
        );
        let system =
            PgConfig::from_url_with("postgres://u@db.example/db?sslrootcert=system", &none)
                .unwrap();
        assert_eq!(system.roots, Some(Roots::System));
    }

    #[test]
    fn debug_and_display_never_show_the_password() {
        let none = env_of(&[]);
        let config =
            PgConfig::from_url_with("postgres://u:hunter2@h/db?sslmode=require", &none).unwrap();
        for text in [
            format!("{config:?}"),
            config.to_string(),
            config.redacted().to_owned(),
        ] {
            assert!(!text.contains("hunter2"), "{text}");
        }
        assert_eq!(
            redact_url("postgres://u:hunter2@h/db?password=hunter3"),
            "postgres://u:***@h/db?password=***"
        );
    }
}
