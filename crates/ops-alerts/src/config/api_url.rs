//! The Bot API base URL (`OPS_TELEGRAM_API_URL`).
//!
//! Checked on the raw text before the `url` crate sees it: WHATWG parsing is
//! forgiving in ways that hide mistakes (`http:///x` and `http:/x` both become
//! host `x`), and the host is where alerts go.

use url::Url;

use super::error::AlertConfigError;
use super::{DEFAULT_API_URL, ENV_API_URL};

pub(super) const URL_FORM: &str = "an http:// or https:// URL such as https://api.telegram.org";

/// Why a URL is refused. Each says what to do; none repeats the value, which
/// may hold a password or a query secret.
pub(super) const NOT_HTTP: &str = "not an http:// or https:// URL";
pub(super) const NO_HOST: &str =
    "has no host: write http://HOST or https://HOST, e.g. https://api.telegram.org";
pub(super) const CREDENTIALS: &str = "contains credentials (user:password@), which would end up in \
     logs; remove them: the Bot API authenticates with OPS_TELEGRAM_BOT_TOKEN alone";
const INVALID: &str = "not a valid URL";
const EMPTY: &str = "empty";

// A constant that parses (checked by a unit test): the expect cannot fire.
#[allow(clippy::expect_used)]
pub(super) fn default_api_url() -> Url {
    Url::parse(DEFAULT_API_URL).expect("DEFAULT_API_URL is a valid URL")
}

pub(super) fn normalize_url(mut url: Url) -> Url {
    let path = url.path();
    if path.len() > 1 && path.ends_with('/') {
        let trimmed = path.trim_end_matches('/').to_owned();
        url.set_path(&trimmed);
    }
    url
}

pub(super) fn check_url(value: &str, errors: &mut Vec<AlertConfigError>) -> Option<Url> {
    match parse_api_url(value) {
        Ok(url) => Some(url),
        Err(problem) => {
            errors.push(AlertConfigError::malformed(ENV_API_URL, problem, URL_FORM));
            None
        }
    }
}

/// What [`validate`](super::AlertConfig::validate) finds wrong with a URL
/// given to `with_api_url` (already parsed, so only what parsing lets through).
pub(super) fn problem_of_parsed(url: &Url) -> Option<&'static str> {
    if !matches!(url.scheme(), "http" | "https") {
        Some(NOT_HTTP)
    } else if url.host_str().is_none_or(str::is_empty) {
        Some(NO_HOST)
    } else if !url.username().is_empty() || url.password().is_some() {
        Some(CREDENTIALS)
    } else {
        None
    }
}

fn parse_api_url(value: &str) -> Result<Url, &'static str> {
    let text = value.trim();
    if text.is_empty() {
        return Err(EMPTY);
    }
    let (scheme, rest) = text.split_once(':').ok_or(NOT_HTTP)?;
    if !scheme.eq_ignore_ascii_case("http") && !scheme.eq_ignore_ascii_case("https") {
        return Err(NOT_HTTP);
    }
    // `http:/x`, `http:x`, and `http:\\x` (a backslash counts as a slash
    // for the WHATWG parser): no `//` authority, so no host of our choosing.
    let after = rest.strip_prefix("//").ok_or(NO_HOST)?;
    let authority_end = after.find(['/', '\\', '?', '#']).unwrap_or(after.len());
    let authority = &after[..authority_end];
    // Any user info, even an empty one (`http://@host`), is refused: it has
    // no use with the Bot API, and a password there would be printed.
    if authority.contains('@') {
        return Err(CREDENTIALS);
    }
    if host_of(authority).is_empty() {
        return Err(NO_HOST);
    }
    let url = Url::parse(text).map_err(|_| INVALID)?;
    match problem_of_parsed(&url) {
        Some(problem) => Err(problem),
        None => Ok(normalize_url(url)),
    }
}

/// The host of `host[:port]`, where the host may be an `[IPv6]` literal.
fn host_of(host_port: &str) -> &str {
    if host_port.starts_with('[') {
        return host_port
            .find(']')
            .map_or(host_port, |end| &host_port[..=end]);
    }
    host_port
        .rsplit_once(':')
        .map_or(host_port, |(host, _port)| host)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{AlertConfig, AlertConfigErrorKind, ENV_BOT_TOKEN, ENV_CHAT_ID};

    const TOKEN: &str = "123456:AAH-secret-token-value";

    fn lookup(vars: &[(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        let vars = vars.to_vec();
        move |name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    #[test]
    fn accepted_urls_and_their_normal_form() {
        for (raw, normal) in [
            ("https://api.telegram.org", "https://api.telegram.org/"),
            ("  http://127.0.0.1:8081/tg/ ", "http://127.0.0.1:8081/tg"),
            ("HTTPS://Example.COM", "https://example.com/"),
            ("http://[::1]:8081", "http://[::1]:8081/"),
            ("http://localhost?k=v", "http://localhost/?k=v"),
        ] {
            assert_eq!(
                parse_api_url(raw).map(|u| u.to_string()),
                Ok(normal.to_owned()),
                "{raw}"
            );
        }
    }

    #[test]
    fn refused_urls_say_why() {
        for (raw, problem) in [
            ("", EMPTY),
            ("   ", EMPTY),
            ("api.telegram.org", NOT_HTTP),
            ("ftp://x", NOT_HTTP),
            ("file:///etc/passwd", NOT_HTTP),
            ("https", NOT_HTTP),
            ("http:///x", NO_HOST),
            ("http:/x", NO_HOST),
            ("http:x", NO_HOST),
            ("http:\\\\x", NO_HOST),
            ("https://", NO_HOST),
            ("https:///", NO_HOST),
            ("http://:8081/x", NO_HOST),
            ("http://?q=1", NO_HOST),
            ("http://#x", NO_HOST),
            ("http://user:hunter2@api.example.com", CREDENTIALS),
            ("http://user@api.example.com", CREDENTIALS),
            ("http://:hunter2@api.example.com/x", CREDENTIALS),
            ("http://@api.example.com", CREDENTIALS),
            ("http://a@b@api.example.com", CREDENTIALS),
            ("http://api.example.com:99999", INVALID),
            ("http://exa mple.com", INVALID),
        ] {
            assert_eq!(parse_api_url(raw), Err(problem), "{raw:?}");
        }
    }

    #[test]
    fn an_at_sign_after_the_host_is_not_user_info() {
        let url = parse_api_url("http://api.example.com/a@b?c=d@e").unwrap();
        assert_eq!(url.host_str(), Some("api.example.com"));
    }

    #[test]
    fn parsed_urls_from_the_setter() {
        let parse = |s: &str| Url::parse(s).unwrap();
        assert_eq!(problem_of_parsed(&parse("https://x.org")), None);
        assert_eq!(problem_of_parsed(&parse("ftp://x.org")), Some(NOT_HTTP));
        assert_eq!(
            problem_of_parsed(&parse("https://u:p@x.org")),
            Some(CREDENTIALS)
        );
        assert_eq!(problem_of_parsed(&parse("mailto:a@b")), Some(NOT_HTTP));
    }

    #[test]
    fn api_url_problems_name_the_variable_and_never_echo_the_url() {
        for (raw, problem) in [
            (
                "http://ops:hunter2@tg.example.com",
                "contains credentials (user:password@)",
            ),
            (
                "https://hunter2@tg.example.com/x?k=v",
                "contains credentials (user:password@)",
            ),
            ("http:///hunter2", "has no host"),
            ("http:/hunter2", "has no host"),
            ("https://", "has no host"),
            ("http://:8081/hunter2", "has no host"),
            ("hunter2://tg.example.com", "not an http:// or https:// URL"),
            ("", "empty"),
        ] {
            let errors = AlertConfig::from_lookup(lookup(&[
                (ENV_BOT_TOKEN, TOKEN),
                (ENV_CHAT_ID, "42"),
                (ENV_API_URL, raw),
            ]))
            .unwrap_err();
            assert_eq!(errors.len(), 1, "{raw:?}: {errors:?}");
            let error = &errors[0];
            assert_eq!(error.variable(), ENV_API_URL);
            assert_eq!(error.kind(), AlertConfigErrorKind::Malformed);
            let shown = format!("{error} {error:?}");
            assert!(
                shown.starts_with(&format!("{ENV_API_URL}: {problem}")),
                "{raw:?}: {shown}"
            );
            assert!(shown.contains(URL_FORM), "{shown}");
            assert!(!shown.contains("hunter2"), "{shown}");
        }
        let errors = AlertConfig::from_lookup(lookup(&[
            (ENV_BOT_TOKEN, TOKEN),
            (ENV_CHAT_ID, "42"),
            (ENV_API_URL, "http://u:hunter2@h"),
        ]))
        .unwrap_err();
        assert!(
            errors[0].to_string().contains("remove them")
                && errors[0].to_string().contains(ENV_BOT_TOKEN),
            "says what to do: {}",
            errors[0]
        );
    }

    #[test]
    fn debug_redacts_query_values_and_validate_refuses_credentials_from_the_setter() {
        let config = AlertConfig::from_lookup(lookup(&[
            (ENV_BOT_TOKEN, TOKEN),
            (ENV_CHAT_ID, "42"),
            (
                ENV_API_URL,
                "https://tg.example.com/api?key=hunter2&region=eu",
            ),
        ]))
        .unwrap();
        assert_eq!(config.api_url().query(), Some("key=hunter2&region=eu"));
        let debug = format!("{config:?}");
        assert!(
            debug.contains(
                r#"api_url: "https://tg.example.com/api?key=[REDACTED]&region=[REDACTED]""#
            ),
            "{debug}"
        );
        assert!(
            !debug.contains("hunter2") && !debug.contains("AAH"),
            "{debug}"
        );

        let config = config.with_api_url(Url::parse("https://u:hunter2@tg.example.com").unwrap());
        let errors = config.validate().unwrap_err();
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].variable(), ENV_API_URL);
        assert!(!format!("{config:?} {}", errors[0]).contains("hunter2"));
    }
}
