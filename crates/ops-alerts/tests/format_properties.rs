//! Properties of the pure formatting functions on arbitrary text: never a
//! panic, always under Telegram's limit, never a split entity, the token
//! never left in redacted text.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use chrono::Utc;
use ops_alerts::{
    Attempts, DeliveryAlert, MESSAGE_BUDGET, Severity, TELEGRAM_MAX_CHARS, cut_text, escape_html,
    format_delivery_alert, format_message, redact_token, telegram_len,
};
use proptest::prelude::*;

proptest! {
    #[test]
    fn cut_text_fits_and_keeps_a_prefix(text in "\\PC{0,300}", max in 0usize..120) {
        let cut = cut_text(&text, max);
        prop_assert!(telegram_len(&cut) <= max);
        if telegram_len(&text) <= max {
            prop_assert_eq!(cut.as_ref(), text.as_str());
        } else {
            let kept = cut.split("… [cut ").next().unwrap();
            prop_assert!(text.starts_with(kept));
        }
    }

    #[test]
    fn escaped_text_has_only_whole_entities(text in "[<>&a-z\"' ]{0,200}") {
        let escaped = escape_html(&text);
        prop_assert!(!escaped.contains('<') && !escaped.contains('>'));
        let rest = escaped.replace("&lt;", "").replace("&gt;", "").replace("&amp;", "");
        prop_assert!(!rest.contains('&'));
        prop_assert_eq!(common::visible(&escaped), text);
    }

    /// Our escaping is teloxide's, so dropping the dependency (the
    /// `telegram` feature off) changes nothing Telegram sees.
    #[cfg(feature = "telegram")]
    #[test]
    fn escaping_is_teloxides(text in "\\PC{0,300}") {
        prop_assert_eq!(escape_html(&text), teloxide::utils::html::escape(&text));
    }

    #[test]
    fn delivery_alerts_always_fit(
        error in "\\PC{0,6000}",
        signal_id in "\\PC{0,400}",
        operation in "\\PC{0,400}",
    ) {
        let alert = format_delivery_alert(&DeliveryAlert {
            severity: Severity::Error,
            signal_id: &signal_id,
            operation: &operation,
            error: &error,
            attempts: Attempts { made: 1, allowed: 6 },
            timestamp: Utc::now(),
        });
        prop_assert!(telegram_len(&alert.plain) <= MESSAGE_BUDGET);
        prop_assert!(telegram_len(&alert.plain) < TELEGRAM_MAX_CHARS);
        prop_assert!(alert.plain.ends_with("Action: Manual review required"));
        let message = format_message(&error, Severity::Warning, None);
        prop_assert!(telegram_len(&message.plain) <= MESSAGE_BUDGET);
    }

    #[test]
    fn redaction_removes_the_token(prefix in "\\PC{0,50}", suffix in "\\PC{0,50}") {
        let text = format!("{prefix}/bot{}/send{suffix}{}", common::TOKEN, common::SECRET_PART);
        let clean = redact_token(&text, common::TOKEN);
        prop_assert!(!clean.contains(common::SECRET_PART));
    }
}
