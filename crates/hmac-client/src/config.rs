//! Client configuration, from code or from the environment.

use std::fmt;
use std::time::Duration;

use crate::secret::{SecretError, SigningKeys};
use crate::server_url::ServerUrl;

/// The signal server's URL (required): `http` or `https`, with a host, without
/// credentials; query values are redacted wherever the URL is shown.
pub const ENV_SERVER_URL: &str = "SIGNAL_SERVER_URL";
/// The signing secrets (required): `whsec_<base64>`, several separated by spaces.
pub const ENV_HMAC_SECRET: &str = "SIGNAL_HMAC_SECRET";
/// The per-attempt timeout in whole seconds (optional, 1 to 300, default 10).
pub const ENV_REQUEST_TIMEOUT_SECONDS: &str = "SIGNAL_REQUEST_TIMEOUT_SECONDS";

/// Default per-attempt timeout: 10 s, covering connect, send and the whole answer.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Default connect timeout: 5 s.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Accepted range of `SIGNAL_REQUEST_TIMEOUT_SECONDS`, in seconds.
pub const REQUEST_TIMEOUT_RANGE_SECS: std::ops::RangeInclusive<u64> = 1..=300;

/// One configuration problem. `Display` names the variable, says what is
/// wrong and what is allowed; it never repeats a secret (nor the URL, in case
/// a secret was pasted into the wrong variable).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClientConfigError {
    /// A required variable is not set (or is empty).
    #[error("{variable} is not set (or empty): {allowed}")]
    Missing {
        /// The variable's name.
        variable: &'static str,
        /// The allowed form.
        allowed: &'static str,
    },
    /// `SIGNAL_SERVER_URL` is not an absolute `http(s)` URL with a host (see
    /// [`ServerUrl::parse`] for every rule).
    #[error(
        "{ENV_SERVER_URL} {reason}: expected an absolute http:// or https:// URL with a host and no user:password@, e.g. https://signals.example.com/v1/signals"
    )]
    InvalidUrl {
        /// What is wrong.
        reason: &'static str,
    },
    /// `SIGNAL_HMAC_SECRET` is not a valid secret list.
    #[error("{ENV_HMAC_SECRET} is invalid: {0}")]
    InvalidSecret(#[source] SecretError),
    /// `SIGNAL_REQUEST_TIMEOUT_SECONDS` is not an integer in 1..=300.
    #[error(
        "{ENV_REQUEST_TIMEOUT_SECONDS} {reason}: expected whole seconds from 1 to 300 (default 10)"
    )]
    InvalidTimeout {
        /// What is wrong.
        reason: &'static str,
    },
}

impl ClientConfigError {
    /// The environment variable this problem is about (also for problems found
    /// by [`ClientConfig::new`], whose parameters stand for those variables).
    pub fn variable(&self) -> &'static str {
        match self {
            ClientConfigError::Missing { variable, .. } => variable,
            ClientConfigError::InvalidUrl { .. } => ENV_SERVER_URL,
            ClientConfigError::InvalidSecret(_) => ENV_HMAC_SECRET,
            ClientConfigError::InvalidTimeout { .. } => ENV_REQUEST_TIMEOUT_SECONDS,
        }
    }
}

/// Everything the signing client (`SignalClient`, feature `client`) needs.
///
/// Defaults: per-attempt (request) timeout 10 s, connect timeout 5 s. The
/// request timeout bounds the whole attempt (connect, send, read the answer);
/// the connect timeout fails fast when the server is unreachable.
/// `Debug` shows the key count, never the keys, and the URL with its query
/// values redacted ([`redact_url`](crate::redact_url)).
#[derive(Clone)]
pub struct ClientConfig {
    /// Where signals are POSTed. Its `Display` and `Debug` redact query
    /// values; [`ServerUrl::as_url`] is the full URL.
    pub server_url: ServerUrl,
    /// The signing keys (all are used: one signature each).
    pub keys: SigningKeys,
    /// The per-attempt timeout.
    pub request_timeout: Duration,
    /// The connect timeout.
    pub connect_timeout: Duration,
}

impl ClientConfig {
    /// A configuration from a URL and a secret list (the values of
    /// `SIGNAL_SERVER_URL` and `SIGNAL_HMAC_SECRET`), with default timeouts.
    /// Every problem is reported, not just the first.
    pub fn new(server_url: &str, secrets: &str) -> Result<ClientConfig, Vec<ClientConfigError>> {
        let url = parse_url(server_url);
        let keys = SigningKeys::parse(secrets).map_err(ClientConfigError::InvalidSecret);
        match (url, keys) {
            (Ok(server_url), Ok(keys)) => Ok(ClientConfig {
                server_url,
                keys,
                request_timeout: DEFAULT_REQUEST_TIMEOUT,
                connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            }),
            (url, keys) => Err(url.err().into_iter().chain(keys.err()).collect()),
        }
    }

    /// Reads `SIGNAL_SERVER_URL` (required, http/https with a host),
    /// `SIGNAL_HMAC_SECRET` (required, `whsec_<base64>` list) and
    /// `SIGNAL_REQUEST_TIMEOUT_SECONDS` (optional, 1..=300, default 10) through
    /// `lookup`, reporting every problem at once. An empty required value is
    /// reported as not set; an empty optional value is an error, never a
    /// silent default.
    ///
    /// ```
    /// use hmac_client::ClientConfig;
    ///
    /// let errors = ClientConfig::from_lookup(|name| match name {
    ///     "SIGNAL_SERVER_URL" => Some("ftp://example.com".to_owned()),
    ///     "SIGNAL_REQUEST_TIMEOUT_SECONDS" => Some("0".to_owned()),
    ///     _ => None,
    /// })
    /// .unwrap_err();
    /// let variables: Vec<_> = errors.iter().map(|e| e.variable()).collect();
    /// assert_eq!(
    ///     variables,
    ///     ["SIGNAL_SERVER_URL", "SIGNAL_HMAC_SECRET", "SIGNAL_REQUEST_TIMEOUT_SECONDS"]
    /// );
    /// ```
    pub fn from_lookup(
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<ClientConfig, Vec<ClientConfigError>> {
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let mut errors = Vec::new();

        let server_url = match get(ENV_SERVER_URL) {
            None => {
                errors.push(ClientConfigError::Missing {
                    variable: ENV_SERVER_URL,
                    allowed: "expected an absolute http:// or https:// URL with a host",
                });
                None
            }
            Some(value) => parse_url(&value).map_err(|e| errors.push(e)).ok(),
        };
        let keys = match get(ENV_HMAC_SECRET) {
            None => {
                errors.push(ClientConfigError::Missing {
                    variable: ENV_HMAC_SECRET,
                    allowed: "expected `whsec_` followed by base64 of a 24 to 64 byte key, several separated by spaces",
                });
                None
            }
            Some(value) => SigningKeys::parse(&value)
                .map_err(|e| errors.push(ClientConfigError::InvalidSecret(e)))
                .ok(),
        };
        // An optional variable set to "" is a mistake to report, not a request
        // for the default: nothing is silently defaulted.
        let request_timeout = match lookup(ENV_REQUEST_TIMEOUT_SECONDS) {
            None => Some(DEFAULT_REQUEST_TIMEOUT),
            Some(value) => parse_timeout(&value).map_err(|e| errors.push(e)).ok(),
        };

        match (server_url, keys, request_timeout) {
            (Some(server_url), Some(keys), Some(request_timeout)) if errors.is_empty() => {
                Ok(ClientConfig {
                    server_url,
                    keys,
                    request_timeout,
                    connect_timeout: DEFAULT_CONNECT_TIMEOUT,
                })
            }
            _ => Err(errors),
        }
    }

    /// [`ClientConfig::from_lookup`] on the process environment.
    pub fn from_env() -> Result<ClientConfig, Vec<ClientConfigError>> {
        ClientConfig::from_lookup(|name| std::env::var(name).ok())
    }

    /// Sets the per-attempt timeout.
    pub fn with_request_timeout(mut self, timeout: Duration) -> ClientConfig {
        self.request_timeout = timeout;
        self
    }

    /// Sets the connect timeout.
    pub fn with_connect_timeout(mut self, timeout: Duration) -> ClientConfig {
        self.connect_timeout = timeout;
        self
    }
}

impl fmt::Debug for ClientConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientConfig")
            .field("server_url", &self.server_url.redacted())
            .field("keys", &self.keys)
            .field("request_timeout", &self.request_timeout)
            .field("connect_timeout", &self.connect_timeout)
            .finish()
    }
}

fn parse_url(value: &str) -> Result<ServerUrl, ClientConfigError> {
    ServerUrl::parse(value).map_err(|error| ClientConfigError::InvalidUrl {
        reason: error.reason(),
    })
}

fn parse_timeout(value: &str) -> Result<Duration, ClientConfigError> {
    let seconds: u64 = value
        .trim()
        .parse()
        .map_err(|_| ClientConfigError::InvalidTimeout {
            reason: "is not a whole number",
        })?;
    if !REQUEST_TIMEOUT_RANGE_SECS.contains(&seconds) {
        return Err(ClientConfigError::InvalidTimeout {
            reason: "is out of range",
        });
    }
    Ok(Duration::from_secs(seconds))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";

    fn lookup<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    #[test]
    fn defaults() {
        let config = ClientConfig::from_lookup(lookup(&[
            (ENV_SERVER_URL, "https://signals.example.com/v1/signals"),
            (ENV_HMAC_SECRET, SECRET),
        ]))
        .unwrap();
        assert_eq!(config.request_timeout, Duration::from_secs(10));
        assert_eq!(config.connect_timeout, Duration::from_secs(5));
        assert_eq!(config.keys.len(), 1);
    }

    #[test]
    fn timeout_range() {
        for (value, ok) in [
            ("1", true),
            ("300", true),
            ("0", false),
            ("301", false),
            ("1.5", false),
            ("x", false),
        ] {
            let result = ClientConfig::from_lookup(lookup(&[
                (ENV_SERVER_URL, "http://127.0.0.1:1/"),
                (ENV_HMAC_SECRET, SECRET),
                (ENV_REQUEST_TIMEOUT_SECONDS, value),
            ]));
            assert_eq!(result.is_ok(), ok, "{value}");
        }
    }

    #[test]
    fn empty_optional_value_is_an_error_not_the_default() {
        let vars = [
            ("SIGNAL_SERVER_URL", "http://127.0.0.1:1/signals"),
            ("SIGNAL_HMAC_SECRET", SECRET),
            ("SIGNAL_REQUEST_TIMEOUT_SECONDS", ""),
        ];
        let errors = ClientConfig::from_lookup(lookup(&vars)).unwrap_err();
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].variable(), "SIGNAL_REQUEST_TIMEOUT_SECONDS");
    }

    #[test]
    fn every_problem_at_once() {
        let errors = ClientConfig::from_lookup(lookup(&[
            (ENV_SERVER_URL, "not a url"),
            (ENV_HMAC_SECRET, "whsec_short"),
            (ENV_REQUEST_TIMEOUT_SECONDS, "999"),
        ]))
        .unwrap_err();
        let variables: Vec<_> = errors.iter().map(ClientConfigError::variable).collect();
        assert_eq!(
            variables,
            [ENV_SERVER_URL, ENV_HMAC_SECRET, ENV_REQUEST_TIMEOUT_SECONDS]
        );

        let errors = ClientConfig::from_lookup(lookup(&[])).unwrap_err();
        assert_eq!(errors.len(), 2);
        assert!(errors[0].to_string().contains(ENV_SERVER_URL));
        assert!(errors[1].to_string().contains(ENV_HMAC_SECRET));
    }

    #[test]
    fn urls() {
        // The full table of forms is in `server_url.rs`; here, that each
        // refusal becomes a `SIGNAL_SERVER_URL` error with the same reason
        // and without the URL itself.
        for bad in [
            "ftp://x.com/?k=SECRET",
            "http:///SECRET",
            "http:/SECRET",
            "http://u:SECRET@x.com/",
            "/SECRET",
        ] {
            let errors = ClientConfig::new(bad, SECRET).unwrap_err();
            assert_eq!(errors.len(), 1, "{bad}");
            let expected = ServerUrl::parse(bad).unwrap_err().reason();
            assert_eq!(
                errors[0],
                ClientConfigError::InvalidUrl { reason: expected },
                "{bad}"
            );
            assert_eq!(errors[0].variable(), ENV_SERVER_URL);
            let shown = errors[0].to_string();
            assert!(shown.contains(expected), "{shown}");
            assert!(!shown.contains("SECRET"), "{shown}");
        }
        for good in [
            "http://127.0.0.1:8080/signals",
            "https://signals.example.com",
        ] {
            let config = ClientConfig::new(good, SECRET).unwrap();
            assert_eq!(
                config.server_url.as_url().as_str().trim_end_matches('/'),
                good
            );
        }
        let config = ClientConfig::new("http://127.0.0.1:1/s?api_key=SECRET", SECRET).unwrap();
        let shown = format!("{config:?}");
        assert!(shown.contains("api_key=REDACTED"), "{shown}");
        assert!(!shown.contains("SECRET"), "{shown}");
    }
}
