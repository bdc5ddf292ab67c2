//! The signal server's URL: strict validation of the raw text, and a redacted
//! form for every place the URL is shown.
//!
//! Operators put API keys in query strings (`?api_key=...`), so the URL is
//! treated as a secret-bearing value: [`ServerUrl`]'s `Display` and `Debug`
//! print [`redact_url`]'s form, and only the request itself sees the full URL.

use std::fmt;

use url::Url;

/// What replaces each query value (and the fragment) in [`redact_url`].
pub const REDACTED: &str = "REDACTED";

/// `url` in a form safe for logs, errors and alerts: scheme, host, port and
/// path as they are, query *names* kept and each query value replaced with
/// `REDACTED`, a fragment replaced with `#REDACTED`, and the userinfo
/// (`user:password@`) never printed.
///
/// A query piece without `=` (`?s3cr3t`) cannot be told from a bare value, so
/// it is redacted whole. A URL with nothing to hide comes out exactly as
/// [`Url::as_str`].
///
/// ```
/// use hmac_client::redact_url;
/// use url::Url;
///
/// let url = Url::parse("https://user:pw@signals.example.com:8443/v1/signals?api_key=SECRET&region=eu#frag").unwrap();
/// assert_eq!(
///     redact_url(&url),
///     "https://signals.example.com:8443/v1/signals?api_key=REDACTED&region=REDACTED#REDACTED"
/// );
/// let plain = Url::parse("http://127.0.0.1:8080/signals").unwrap();
/// assert_eq!(redact_url(&plain), plain.as_str());
/// ```
pub fn redact_url(url: &Url) -> String {
    let mut out = String::with_capacity(url.as_str().len());
    out.push_str(url.scheme());
    out.push(':');
    if let Some(host) = url.host_str() {
        out.push_str("//");
        out.push_str(host);
        if let Some(port) = url.port() {
            out.push(':');
            out.push_str(&port.to_string());
        }
    }
    out.push_str(url.path());
    if let Some(query) = url.query() {
        out.push('?');
        for (index, piece) in query.split('&').enumerate() {
            if index > 0 {
                out.push('&');
            }
            match piece.split_once('=') {
                Some((name, _value)) => {
                    out.push_str(name);
                    out.push('=');
                    out.push_str(REDACTED);
                }
                None if piece.is_empty() => {}
                None => out.push_str(REDACTED),
            }
        }
    }
    if url.fragment().is_some() {
        out.push('#');
        out.push_str(REDACTED);
    }
    out
}

/// A validated signal server URL: absolute `http` or `https`, with a host,
/// without credentials. `Display` and `Debug` show [`redact_url`]'s form;
/// [`ServerUrl::as_url`] is the full URL, for sending the request only.
///
/// ```
/// use hmac_client::ServerUrl;
///
/// let url = ServerUrl::parse("https://signals.example.com/v1?api_key=SECRET").unwrap();
/// assert_eq!(url.to_string(), "https://signals.example.com/v1?api_key=REDACTED");
/// assert_eq!(format!("{url:?}"), "ServerUrl(\"https://signals.example.com/v1?api_key=REDACTED\")");
/// assert_eq!(url.as_url().query(), Some("api_key=SECRET"));
///
/// // `http:///x` would become host `x` under WHATWG parsing; the raw text is refused.
/// assert!(ServerUrl::parse("http:///x").is_err());
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct ServerUrl {
    url: Url,
}

/// Why a signal server URL was refused. `Display` says what is wrong and
/// never repeats the URL (it may carry a secret).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct ServerUrlError {
    reason: &'static str,
}

impl ServerUrlError {
    fn new(reason: &'static str) -> ServerUrlError {
        ServerUrlError { reason }
    }

    /// What is wrong, e.g. `has no host`.
    pub fn reason(&self) -> &'static str {
        self.reason
    }
}

impl ServerUrl {
    /// Validates `value` (surrounding whitespace trimmed).
    ///
    /// The raw text is checked before the `url` crate sees it, because WHATWG
    /// parsing repairs what an operator should fix: it reads `http:///x`,
    /// `http:/x`, `http:x` and `http:\\x` all as host `x`, and silently drops
    /// tabs and newlines inside the URL. So the text must start with
    /// `http://` or `https://` (scheme in any case) followed directly by a
    /// host; no whitespace or control character may appear; `\` is refused;
    /// and any `@` before the path (userinfo, even empty) is refused because
    /// credentials in the URL would end up wherever the URL is shown, and the
    /// signature is the authentication.
    pub fn parse(value: &str) -> Result<ServerUrl, ServerUrlError> {
        let value = value.trim();
        if value.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(ServerUrlError::new(
                "contains whitespace or control characters",
            ));
        }
        if value.contains('\\') {
            return Err(ServerUrlError::new("contains a backslash"));
        }
        let rest = strip_prefix_ignore_case(value, "https://")
            .or_else(|| strip_prefix_ignore_case(value, "http://"));
        let Some(rest) = rest else {
            return Err(if has_scheme(value) {
                if strip_prefix_ignore_case(value, "http:").is_some()
                    || strip_prefix_ignore_case(value, "https:").is_some()
                {
                    ServerUrlError::new("has no `//host` after the scheme")
                } else {
                    ServerUrlError::new("has a scheme other than http or https")
                }
            } else {
                ServerUrlError::new("is not an absolute URL (no http:// or https:// scheme)")
            });
        };
        let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
        if authority.contains('@') {
            return Err(ServerUrlError::new("contains credentials (user:password@)"));
        }
        let host = if authority.starts_with('[') {
            authority
                .split_once(']')
                .map_or(authority, |(host, _)| host.trim_start_matches('['))
        } else {
            authority.split(':').next().unwrap_or_default()
        };
        if host.is_empty() {
            return Err(ServerUrlError::new("has no host"));
        }
        let url =
            Url::parse(value).map_err(|_| ServerUrlError::new("is not a valid absolute URL"))?;
        // Belt and braces: the raw checks above imply these.
        if !matches!(url.scheme(), "http" | "https") {
            return Err(ServerUrlError::new("has a scheme other than http or https"));
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(ServerUrlError::new("has no host"));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(ServerUrlError::new("contains credentials (user:password@)"));
        }
        Ok(ServerUrl { url })
    }

    /// The full URL, query values included: for the request, never for display.
    pub fn as_url(&self) -> &Url {
        &self.url
    }

    /// [`redact_url`] of this URL.
    pub fn redacted(&self) -> String {
        redact_url(&self.url)
    }
}

impl fmt::Display for ServerUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl fmt::Debug for ServerUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ServerUrl").field(&self.redacted()).finish()
    }
}

fn strip_prefix_ignore_case<'a>(value: &'a str, prefix: &str) -> Option<&'a str> {
    let head = value.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &value[prefix.len()..])
}

/// Whether `value` starts with `scheme:` (RFC 3986: a letter, then letters,
/// digits, `+`, `-`, `.`).
fn has_scheme(value: &str) -> bool {
    match value.split_once(':') {
        Some((scheme, _)) => {
            let mut chars = scheme.chars();
            chars.next().is_some_and(|c| c.is_ascii_alphabetic())
                && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refused_forms_with_their_reason() {
        for (value, reason) in [
            ("http:///x", "has no host"),
            ("https:///x", "has no host"),
            ("HTTP:///x", "has no host"),
            ("http:////x", "has no host"),
            ("http://", "has no host"),
            ("http://?q=1", "has no host"),
            ("http://#f", "has no host"),
            ("http://:80/x", "has no host"),
            ("http://[]/x", "has no host"),
            ("http:/x", "has no `//host` after the scheme"),
            ("http:x", "has no `//host` after the scheme"),
            ("https:x.com", "has no `//host` after the scheme"),
            ("http:", "has no `//host` after the scheme"),
            ("http:\\\\x", "contains a backslash"),
            ("http:\\x", "contains a backslash"),
            ("http://\\x", "contains a backslash"),
            ("http:/\\x", "contains a backslash"),
            ("http://x\\y", "contains a backslash"),
            (
                "http://exa\nmple.com/",
                "contains whitespace or control characters",
            ),
            (
                "http://exa\tmple.com/",
                "contains whitespace or control characters",
            ),
            (
                "http://x .com/",
                "contains whitespace or control characters",
            ),
            (
                "http://x.com/\u{0}",
                "contains whitespace or control characters",
            ),
            ("http://@x.com/", "contains credentials (user:password@)"),
            ("http://u@x.com/", "contains credentials (user:password@)"),
            ("http://u:p@x.com/", "contains credentials (user:password@)"),
            ("https://:p@x.com/", "contains credentials (user:password@)"),
            ("ftp://x.com", "has a scheme other than http or https"),
            ("mailto:a@b.c", "has a scheme other than http or https"),
            ("unix:/tmp/s", "has a scheme other than http or https"),
            ("httpx://x.com", "has a scheme other than http or https"),
            (
                "/relative",
                "is not an absolute URL (no http:// or https:// scheme)",
            ),
            (
                "//x.com/signals",
                "is not an absolute URL (no http:// or https:// scheme)",
            ),
            (
                "x.com/signals",
                "is not an absolute URL (no http:// or https:// scheme)",
            ),
            ("", "is not an absolute URL (no http:// or https:// scheme)"),
            ("not a url", "contains whitespace or control characters"),
            ("http://x.com:99999/", "is not a valid absolute URL"),
            ("http://[::1/", "is not a valid absolute URL"),
            ("http://ex%00ample.com/", "is not a valid absolute URL"),
        ] {
            let error = ServerUrl::parse(value).expect_err(value);
            assert_eq!(error.reason(), reason, "{value:?}");
        }
    }

    #[test]
    fn accepted_forms_keep_their_meaning() {
        for (value, host, path) in [
            ("http://127.0.0.1:8080/signals", "127.0.0.1", "/signals"),
            ("https://signals.example.com", "signals.example.com", "/"),
            (
                "HTTPS://Signals.Example.com/V1",
                "signals.example.com",
                "/V1",
            ),
            ("  http://x.com/a  ", "x.com", "/a"),
            ("http://[::1]:8080/s", "[::1]", "/s"),
            ("http://x.com/a@b", "x.com", "/a@b"),
            ("http://x.com?a=b@c", "x.com", "/"),
            ("http://x.com:/s", "x.com", "/s"),
        ] {
            let url = ServerUrl::parse(value).unwrap_or_else(|e| panic!("{value:?}: {e}"));
            assert_eq!(url.as_url().host_str(), Some(host), "{value:?}");
            assert_eq!(url.as_url().path(), path, "{value:?}");
        }
    }

    #[test]
    fn redaction_keeps_names_and_hides_values() {
        for (value, shown) in [
            (
                "http://127.0.0.1:9/s?api_key=SECRET",
                "http://127.0.0.1:9/s?api_key=REDACTED",
            ),
            (
                "http://x.com/s?a=1&b=&c&&d=e=f",
                "http://x.com/s?a=REDACTED&b=REDACTED&REDACTED&&d=REDACTED",
            ),
            ("http://x.com/s?", "http://x.com/s?"),
            ("http://x.com/s#SECRET", "http://x.com/s#REDACTED"),
            ("https://x.com:443/s", "https://x.com/s"),
            (
                "http://[::1]:8080/s?k=SECRET",
                "http://[::1]:8080/s?k=REDACTED",
            ),
            ("http://x.com/s?k=%53ECRET", "http://x.com/s?k=REDACTED"),
        ] {
            let url = ServerUrl::parse(value).unwrap();
            assert_eq!(url.to_string(), shown, "{value:?}");
            assert!(!format!("{url:?}").contains("SECRET"));
        }
        // Userinfo is never printed, even for a URL we would refuse.
        let url = Url::parse("http://user:SECRET@x.com/").unwrap();
        assert_eq!(redact_url(&url), "http://x.com/");
    }
}
