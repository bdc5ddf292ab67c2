//! Removing the bot token from text before it reaches a log, an error or a metric.
//!
//! The token is part of every Bot API URL (`/bot<TOKEN>/sendMessage`), so HTTP
//! client errors (`error sending request for url (...)`) carry it. Every error
//! text from the transport goes through [`redact_token`] before it is stored.

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
