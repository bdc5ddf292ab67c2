//! Removing secrets from text before it reaches a log, an error or a metric.
//!
//! The token is part of every Bot API URL (`/bot<TOKEN>/sendMessage`), so HTTP
//! client errors (`error sending request for url (...)`) carry it. Every error
//! text from the transport goes through [`redact_token`] before it is stored.
//! The API URL's query (a self-hosted server's access key, say) is carried
//! into every request URL too, so its values are redacted the same way
//! ([`redact_url`], [`redact_query_of`]).

use url::Url;

/// What replaces a token in text.
pub const REDACTED: &str = "[REDACTED]";

/// Replaces `token` and its secret part (after the `:`) in `text` with
/// [`REDACTED`], and also any other `bot<digits>:<secret>` URL segment (a token
/// we were not told about, e.g. after a configuration change).
///
/// ```
/// use ops_alerts::redact_token;
///
/// let text = "error sending request for url (http://127.0.0.1:9/bot123456:AAH-secret/SendMessage)";
/// let clean = redact_token(text, "123456:AAH-secret");
/// assert_eq!(clean, "error sending request for url (http://127.0.0.1:9/bot[REDACTED]/SendMessage)");
/// ```
pub fn redact_token(text: &str, token: &str) -> String {
    let mut out = text.to_owned();
    if !token.is_empty() {
        out = out.replace(token, REDACTED);
        // The secret part alone (e.g. percent-decoded or re-split by a URL
        // parser) is as sensitive as the whole token.
        if let Some((_, secret)) = token.split_once(':')
            && secret.len() >= 4
        {
            out = out.replace(secret, REDACTED);
        }
    }
    redact_bot_segments(&out)
}

/// Replaces every `bot<digits>:<[A-Za-z0-9_-]+>` with `bot[REDACTED]`.
fn redact_bot_segments(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(pos) = rest.find("bot") {
        let (before, from_bot) = rest.split_at(pos);
        out.push_str(before);
        let after = &from_bot[3..];
        let digits = after.bytes().take_while(u8::is_ascii_digit).count();
        let secret_len = after[digits..]
            .strip_prefix(':')
            .map(|s| {
                s.bytes()
                    .take_while(|b| b.is_ascii_alphanumeric() || *b == b'_' || *b == b'-')
                    .count()
            })
            .unwrap_or(0);
        if digits > 0 && secret_len > 0 {
            out.push_str("bot");
            out.push_str(REDACTED);
            rest = &after[digits + 1 + secret_len..];
        } else {
            out.push_str("bot");
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

/// `url` fit to be shown: each query value, any user info and the fragment
/// are replaced with [`REDACTED`]; the query's names stay, so a reader can
/// still tell which parameters are set. A query item without `=` could be a
/// bare secret, so it is redacted whole.
///
/// ```
/// use ops_alerts::redact_url;
/// use url::Url;
///
/// let url = Url::parse("https://tg.example.com/api?access_key=s3cr3t&region=eu&debug").unwrap();
/// assert_eq!(
///     redact_url(&url),
///     "https://tg.example.com/api?access_key=[REDACTED]&region=[REDACTED]&[REDACTED]"
/// );
/// assert_eq!(redact_url(&Url::parse("http://127.0.0.1:8081").unwrap()), "http://127.0.0.1:8081/");
/// ```
pub fn redact_url(url: &Url) -> String {
    let mut bare = url.clone();
    bare.set_query(None);
    bare.set_fragment(None);
    let has_user_info = !url.username().is_empty() || url.password().is_some();
    // Failing only for URLs that cannot have user info, which then have none.
    let _ = bare.set_username("");
    let _ = bare.set_password(None);
    let mut out = bare.to_string();
    if has_user_info && let Some(at) = out.find("://") {
        out.insert_str(at + 3, &format!("{REDACTED}@"));
    }
    if let Some(query) = url.query() {
        out.push('?');
        out.push_str(&redact_query(query));
    }
    if url.fragment().is_some() {
        out.push('#');
        out.push_str(REDACTED);
    }
    out
}

/// Replaces `url`'s query, wherever it appears in `text` (an HTTP client's
/// error quotes the request URL, which carries the API URL's query), with its
/// redacted form.
///
/// ```
/// use ops_alerts::redact_query_of;
/// use url::Url;
///
/// let api = Url::parse("http://127.0.0.1:8081?key=s3cr3t").unwrap();
/// let text = "error sending request for url (http://127.0.0.1:8081/bot[REDACTED]/SendMessage?key=s3cr3t)";
/// assert_eq!(
///     redact_query_of(text, &api),
///     "error sending request for url (http://127.0.0.1:8081/bot[REDACTED]/SendMessage?key=[REDACTED])"
/// );
/// ```
pub fn redact_query_of(text: &str, url: &Url) -> String {
    match url.query() {
        Some(query) if !query.is_empty() => {
            text.replace(&format!("?{query}"), &format!("?{}", redact_query(query)))
        }
        _ => text.to_owned(),
    }
}

fn redact_query(query: &str) -> String {
    query
        .split('&')
        .map(|item| match item.split_once('=') {
            Some((name, _value)) => format!("{name}={REDACTED}"),
            None if item.is_empty() => String::new(),
            None => REDACTED.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("&")
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "123456:AAH-secret-token-value";

    #[test]
    fn removes_the_token_and_its_secret_part() {
        let text = format!("url (http://x/bot{TOKEN}/SendMessage) secret=AAH-secret-token-value");
        let clean = redact_token(&text, TOKEN);
        assert!(!clean.contains(TOKEN));
        assert!(!clean.contains("AAH-secret-token-value"));
        assert_eq!(
            clean,
            "url (http://x/bot[REDACTED]/SendMessage) secret=[REDACTED]"
        );
    }

    #[test]
    fn urls_lose_query_values_user_info_and_fragment_but_keep_names() {
        for (raw, shown) in [
            ("https://api.telegram.org", "https://api.telegram.org/"),
            (
                "http://h/p?a=1&b=two",
                "http://h/p?a=[REDACTED]&b=[REDACTED]",
            ),
            (
                "http://h/?a=&flag&&c=x=y",
                "http://h/?a=[REDACTED]&[REDACTED]&&c=[REDACTED]",
            ),
            ("http://h/?", "http://h/?"),
            (
                "http://u:pw@h:81/p?k=v#frag",
                "http://[REDACTED]@h:81/p?k=[REDACTED]#[REDACTED]",
            ),
            ("http://h/#k=v", "http://h/#[REDACTED]"),
        ] {
            let url = Url::parse(raw).unwrap();
            let redacted = redact_url(&url);
            assert_eq!(redacted, shown, "{raw}");
            for secret in ["two", "=1", "pw", "frag", "x=y"] {
                assert!(!redacted.contains(secret), "{secret} in {redacted}");
            }
        }
    }

    #[test]
    fn the_query_is_redacted_inside_longer_text() {
        let api = Url::parse("http://h:1/tg?key=k3y&x=1").unwrap();
        let text = "url (http://h:1/tg/bot[REDACTED]/SendMessage?key=k3y&x=1): refused";
        assert_eq!(
            redact_query_of(text, &api),
            "url (http://h:1/tg/bot[REDACTED]/SendMessage?key=[REDACTED]&x=[REDACTED]): refused"
        );
        let plain = Url::parse("http://h:1").unwrap();
        assert_eq!(redact_query_of(text, &plain), text);
    }

    #[test]
    fn removes_unknown_tokens_in_bot_segments_and_keeps_other_text() {
        assert_eq!(
            redact_token("/bot99:zz_Z-9/getMe", ""),
            "/bot[REDACTED]/getMe"
        );
        assert_eq!(
            redact_token("robot bot: botany bot1", ""),
            "robot bot: botany bot1"
        );
        assert_eq!(
            redact_token("ünïcode bot1:x", "tok"),
            "ünïcode bot[REDACTED]"
        );
    }
}
