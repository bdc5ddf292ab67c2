//! Pure formatting: the alert layouts, HTML escaping and cutting to Telegram's limit.
//!
//! Telegram accepts 1 to 4096 characters *after entity parsing*, i.e. the text the
//! user sees. Every layout here is built from parts (fixed labels, dynamic values),
//! rendered twice: as HTML (labels in `<b>`, values escaped, in `<code>`) and as
//! plain text (the fallback when Telegram cannot parse the HTML). The plain text is
//! exactly what the user sees of the HTML, so its length is the length Telegram
//! checks. Values are cut *before* escaping, so no `&amp;` or tag is ever split,
//! and a visible marker says how much was cut.

use std::borrow::Cow;

use chrono::{DateTime, SecondsFormat, Utc};

use crate::severity::Severity;

/// Telegram's limit on a message, in characters after entity parsing.
pub const TELEGRAM_MAX_CHARS: usize = 4096;
/// What the layouts aim for: under the limit with a margin, because Telegram
/// counts UTF-16 code units in some places and characters in others.
pub const MESSAGE_BUDGET: usize = 4000;
/// The action line of delivery alerts (from the plan).
pub const ACTION_MANUAL_REVIEW: &str = "Manual review required";

/// Longest operation name, signal id, error class or action shown.
pub(crate) const FIELD_CAP: usize = 256;
/// Longest list of signal ids in a summary.
const IDS_CAP: usize = 1500;

/// How many delivery attempts were made, of how many allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Attempts {
    /// Attempts actually made.
    pub made: u32,
    /// Attempts the retry policy allowed (first try plus retries).
    pub allowed: u32,
}

/// One message in both renderings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormattedAlert {
    /// For `parse_mode = HTML`.
    pub html: String,
    /// The same content without markup: the plain-text fallback, and exactly
    /// the text a user sees of `html`.
    pub plain: String,
}

/// The fields of a "signal delivery failed" alert.
#[derive(Debug, Clone, Copy)]
pub struct DeliveryAlert<'a> {
    /// Severity (marker and title).
    pub severity: Severity,
    /// The signal that could not be delivered.
    pub signal_id: &'a str,
    /// What was being done (e.g. `deliver_signal`).
    pub operation: &'a str,
    /// The final error, as text (already free of secrets).
    pub error: &'a str,
    /// Attempts made / allowed.
    pub attempts: Attempts,
    /// When it happened.
    pub timestamp: DateTime<Utc>,
}

/// The fields of a group summary: repeats folded during a cooldown window.
#[derive(Debug, Clone, Copy)]
pub struct SummaryAlert<'a> {
    /// The highest severity among the folded alerts.
    pub severity: Severity,
    /// The operation of the group.
    pub operation: &'a str,
    /// The error class of the group.
    pub error_class: &'a str,
    /// The last folded error, as text.
    pub last_error: &'a str,
    /// How many alerts were folded (all of them are counted here).
    pub folded: u64,
    /// The first folded signal ids (at most the configured limit).
    pub signal_ids: &'a [String],
    /// When the first alert of the group went out.
    pub window_start: DateTime<Utc>,
    /// When the summary is sent.
    pub timestamp: DateTime<Utc>,
}

/// Escapes `&`, `<` and `>` for Telegram's HTML mode. Quotes need no escaping
/// outside attributes, and Telegram's parser accepts them as they are.
///
/// ```
/// assert_eq!(ops_alerts::escape_html(r#"<b>&"'"#), r#"&lt;b&gt;&amp;"'"#);
/// ```
// Hand-written rather than `teloxide::utils::html::escape` (which does exactly
// this, `&`, `<`, `>` only) so that formatting builds without the `telegram`
// feature; `tests/format_properties.rs` checks the two agree on any text.
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 8);
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}

/// Length as Telegram measures it: UTF-16 code units (an emoji counts 2).
/// Never less than the number of characters, so staying under it is safe.
pub fn telegram_len(text: &str) -> usize {
    text.encode_utf16().count()
}

/// Cuts `text` to at most `max_len` [`telegram_len`] units, on a character
/// boundary, ending with a visible marker `… [cut N chars]` that counts what was
/// removed. Text that fits is returned unchanged. Cut before escaping.
///
/// ```
/// use ops_alerts::{cut_text, telegram_len};
///
/// assert_eq!(cut_text("short", 100), "short");
/// let long = "x".repeat(10_000);
/// let cut = cut_text(&long, 100);
/// assert!(telegram_len(&cut) <= 100);
/// assert!(cut.ends_with("… [cut 9919 chars]"));
/// ```
pub fn cut_text(text: &str, max_len: usize) -> Cow<'_, str> {
    let total = telegram_len(text);
    if total <= max_len {
        return Cow::Borrowed(text);
    }
    let total_chars = text.chars().count();
    // The marker is sized for the largest possible count, so it always fits.
    let marker_len = telegram_len(&marker(total_chars));
    if max_len <= marker_len {
        return Cow::Owned(take_units(text, max_len).to_owned());
    }
    let kept = take_units(text, max_len - marker_len);
    let removed = total_chars - kept.chars().count();
    Cow::Owned(format!("{kept}{}", marker(removed)))
}

fn marker(removed: usize) -> String {
    format!("… [cut {removed} chars]")
}

/// The longest prefix of `text` of at most `units` UTF-16 units.
fn take_units(text: &str, units: usize) -> &str {
    let mut used = 0;
    for (i, c) in text.char_indices() {
        used += c.len_utf16();
        if used > units {
            return &text[..i];
        }
    }
    text
}

/// UTC, ISO 8601, second precision, with `Z`: `2026-11-29T02:18:10Z`.
pub fn format_timestamp(timestamp: DateTime<Utc>) -> String {
    timestamp.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// The "signal delivery failed" alert: severity marker and title, then
/// Operation, Signal ID, Error, Attempts, Timestamp and Action.
///
/// ```
/// use chrono::{TimeZone, Utc};
/// use ops_alerts::{Attempts, DeliveryAlert, Severity, format_delivery_alert};
///
/// let alert = format_delivery_alert(&DeliveryAlert {
///     severity: Severity::Error,
///     signal_id: "sig-42",
///     operation: "deliver_signal",
///     error: "HTTP 503 <upstream>",
///     attempts: Attempts { made: 5, allowed: 5 },
///     timestamp: Utc.with_ymd_and_hms(2026, 11, 29, 2, 18, 10).unwrap(),
/// });
/// assert!(alert.html.starts_with("❌ <b>ERROR: Signal delivery failed</b>"));
/// assert!(alert.html.contains("<b>Error:</b> <code>HTTP 503 &lt;upstream&gt;</code>"));
/// assert!(alert.plain.contains("Attempts: 5/5\nTimestamp: 2026-11-29T02:18:10Z\nAction: Manual review required"));
/// ```
pub fn format_delivery_alert(alert: &DeliveryAlert<'_>) -> FormattedAlert {
    format_delivery_alert_with_action(alert, ACTION_MANUAL_REVIEW)
}

/// [`format_delivery_alert`] with another Action line: a stored alert keeps
/// the action it was recorded with.
pub(crate) fn format_delivery_alert_with_action(
    alert: &DeliveryAlert<'_>,
    action: &str,
) -> FormattedAlert {
    let attempts = format!("{}/{}", alert.attempts.made, alert.attempts.allowed);
    let timestamp = format_timestamp(alert.timestamp);
    let title = format!("{}: Signal delivery failed", alert.severity);
    let mut layout = Layout::new(alert.severity, &title);
    layout.blank();
    layout.field("Operation", Value::Code(cap(alert.operation, FIELD_CAP)));
    layout.field("Signal ID", Value::Code(cap(alert.signal_id, FIELD_CAP)));
    layout.field("Error", Value::Elastic);
    layout.field("Attempts", Value::Text(attempts.into()));
    layout.field("Timestamp", Value::Text(timestamp.into()));
    layout.field("Action", Value::Text(cap(action, FIELD_CAP)));
    layout.render(alert.error, true)
}

/// A free-form alert (`send` and `send_owner_alert`): marker and title, the
/// message, and optionally the timestamp.
///
/// ```
/// use chrono::Utc;
/// use ops_alerts::{Severity, format_message};
///
/// let alert = format_message("disk <90%> full", Severity::Warning, None);
/// assert_eq!(alert.html, "⚠️ <b>WARNING</b>\n\ndisk &lt;90%&gt; full");
/// assert_eq!(alert.plain, "⚠️ WARNING\n\ndisk <90%> full");
/// ```
pub fn format_message(
    message: &str,
    severity: Severity,
    timestamp: Option<DateTime<Utc>>,
) -> FormattedAlert {
    let title = severity.as_str();
    let mut layout = Layout::new(severity, title);
    layout.blank();
    layout.line(Value::Elastic);
    if let Some(timestamp) = timestamp {
        layout.blank();
        layout.field("Timestamp", Value::Text(format_timestamp(timestamp).into()));
    }
    layout.render(message, false)
}

/// The summary sent when a cooldown window closes: "N more signals failed the
/// same way: ids a, b and K more".
///
/// ```
/// use chrono::Utc;
/// use ops_alerts::{Severity, SummaryAlert, format_summary};
///
/// let ids = vec!["s2".to_owned(), "s3".to_owned()];
/// let now = Utc::now();
/// let alert = format_summary(&SummaryAlert {
///     severity: Severity::Error,
///     operation: "deliver_signal",
///     error_class: "http_503",
///     last_error: "HTTP 503",
///     folded: 99,
///     signal_ids: &ids,
///     window_start: now,
///     timestamp: now,
/// });
/// assert!(alert.plain.contains("99 more signals failed the same way: ids s2, s3 and 97 more"));
/// ```
pub fn format_summary(summary: &SummaryAlert<'_>) -> FormattedAlert {
    let title = format!("{}: Repeated signal delivery failures", summary.severity);
    let mut ids = summary.signal_ids.join(", ");
    let listed = u64::try_from(summary.signal_ids.len()).unwrap_or(u64::MAX);
    let more = summary.folded.saturating_sub(listed);
    if more > 0 {
        ids.push_str(&format!(" and {more} more"));
    }
    let noun = if summary.folded == 1 {
        "signal"
    } else {
        "signals"
    };
    let headline = format!(
        "{} more {noun} failed the same way: ids {ids}",
        summary.folded
    );
    let mut layout = Layout::new(summary.severity, &title);
    layout.blank();
    layout.line(Value::Text(cap(&headline, IDS_CAP)));
    layout.blank();
    layout.field("Operation", Value::Code(cap(summary.operation, FIELD_CAP)));
    layout.field(
        "Error class",
        Value::Code(cap(summary.error_class, FIELD_CAP)),
    );
    layout.field("Last error", Value::Elastic);
    layout.field(
        "Since",
        Value::Text(format_timestamp(summary.window_start).into()),
    );
    layout.field(
        "Timestamp",
        Value::Text(format_timestamp(summary.timestamp).into()),
    );
    layout.field("Action", Value::Text(ACTION_MANUAL_REVIEW.into()));
    layout.render(summary.last_error, true)
}

/// `text` cut to `max` units, with the visible marker.
pub(crate) fn cap(text: &str, max: usize) -> Cow<'_, str> {
    cut_text(text, max)
}

/// One value of a layout.
pub(crate) enum Value<'a> {
    /// Escaped text.
    Text(Cow<'a, str>),
    /// Escaped text in `<code>`.
    Code(Cow<'a, str>),
    /// The one value that gets whatever budget is left (the error, the message).
    Elastic,
}

enum Part<'a> {
    Title(&'a str),
    Field(&'static str, Value<'a>),
    Line(Value<'a>),
    Blank,
}

/// A message built from parts, rendered as HTML and as plain text at once.
pub(crate) struct Layout<'a> {
    marker: &'static str,
    parts: Vec<Part<'a>>,
}

impl<'a> Layout<'a> {
    /// A layout titled `title`, opened by the severity's marker.
    pub(crate) fn new(severity: Severity, title: &'a str) -> Layout<'a> {
        Layout::with_marker(severity.marker(), title)
    }

    /// A layout opened by another marker (the recovered message's ✅).
    pub(crate) fn with_marker(marker: &'static str, title: &'a str) -> Layout<'a> {
        Layout {
            marker,
            parts: vec![Part::Title(title)],
        }
    }

    pub(crate) fn field(&mut self, label: &'static str, value: Value<'a>) {
        self.parts.push(Part::Field(label, value));
    }

    pub(crate) fn line(&mut self, value: Value<'a>) {
        self.parts.push(Part::Line(value));
    }

    pub(crate) fn blank(&mut self) {
        self.parts.push(Part::Blank);
    }

    /// Renders both versions; `elastic` fills the remaining budget, in `<code>`
    /// when `elastic_code` (error text), as escaped text otherwise (a message).
    pub(crate) fn render(self, elastic: &str, elastic_code: bool) -> FormattedAlert {
        let fixed = self.render_with("", elastic_code).plain;
        let room = MESSAGE_BUDGET.saturating_sub(telegram_len(&fixed));
        let elastic = cut_text(elastic, room);
        self.render_with(&elastic, elastic_code)
    }

    fn render_with(&self, elastic: &str, elastic_code: bool) -> FormattedAlert {
        let mut html = String::new();
        let mut plain = String::new();
        for (i, part) in self.parts.iter().enumerate() {
            if i > 0 {
                html.push('\n');
                plain.push('\n');
            }
            match part {
                Part::Title(title) => {
                    let marker = self.marker;
                    html.push_str(&format!("{marker} <b>{}</b>", escape_html(title)));
                    plain.push_str(&format!("{marker} {title}"));
                }
                Part::Field(label, value) => {
                    html.push_str(&format!("<b>{label}:</b> "));
                    plain.push_str(&format!("{label}: "));
                    push_value(&mut html, &mut plain, value, elastic, elastic_code);
                }
                Part::Line(value) => {
                    push_value(&mut html, &mut plain, value, elastic, elastic_code);
                }
                Part::Blank => {}
            }
        }
        FormattedAlert { html, plain }
    }
}

fn push_value(
    html: &mut String,
    plain: &mut String,
    value: &Value<'_>,
    elastic: &str,
    elastic_code: bool,
) {
    let (text, code) = match value {
        Value::Text(text) => (text.as_ref(), false),
        Value::Code(text) => (text.as_ref(), true),
        Value::Elastic => (elastic, elastic_code),
    };
    if code {
        html.push_str(&format!("<code>{}</code>", escape_html(text)));
    } else {
        html.push_str(&escape_html(text));
    }
    plain.push_str(text);
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 29, 2, 18, 10).unwrap()
    }

    /// What Telegram shows of our HTML: tags removed, entities decoded.
    fn visible(html: &str) -> String {
        let mut out = String::new();
        let mut in_tag = false;
        for c in html.chars() {
            match c {
                '<' => in_tag = true,
                '>' if in_tag => in_tag = false,
                c if !in_tag => out.push(c),
                _ => {}
            }
        }
        out.replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&amp;", "&")
    }

    fn delivery(error: &str) -> FormattedAlert {
        format_delivery_alert(&DeliveryAlert {
            severity: Severity::Critical,
            signal_id: "sig-<1>",
            operation: "deliver&sign",
            error,
            attempts: Attempts {
                made: 3,
                allowed: 6,
            },
            timestamp: at(),
        })
    }

    #[test]
    fn escapes_every_dynamic_value() {
        assert_eq!(escape_html(r#"<b>&"'"#), r#"&lt;b&gt;&amp;"'"#);
        let alert = delivery(r#"<b>&"'"#);
        assert!(alert.html.contains("<code>&lt;b&gt;&amp;\"'</code>"));
        assert!(alert.html.contains("<code>sig-&lt;1&gt;</code>"));
        assert!(alert.html.contains("<code>deliver&amp;sign</code>"));
        assert_eq!(visible(&alert.html), alert.plain);
    }

    #[test]
    fn all_plan_fields_present_in_order() {
        let alert = delivery("boom");
        let expected = "🚨 CRITICAL: Signal delivery failed\n\nOperation: deliver&sign\n\
                        Signal ID: sig-<1>\nError: boom\nAttempts: 3/6\n\
                        Timestamp: 2026-11-29T02:18:10Z\nAction: Manual review required";
        assert_eq!(alert.plain, expected);
        assert!(
            alert
                .html
                .starts_with("🚨 <b>CRITICAL: Signal delivery failed</b>\n\n")
        );
        assert!(alert.html.contains("<b>Attempts:</b> 3/6\n"));
    }

    #[test]
    fn a_10000_char_error_is_cut_before_escaping_and_fits() {
        // Worst case for escaping: every character becomes an entity.
        for unit in ["<", "&", "x", "é", "🚀"] {
            let error = unit.repeat(10_000);
            let alert = delivery(&error);
            let shown = visible(&alert.html);
            assert_eq!(shown, alert.plain);
            assert!(
                telegram_len(&shown) < TELEGRAM_MAX_CHARS,
                "{unit}: {}",
                telegram_len(&shown)
            );
            assert!(shown.contains(" chars]"), "visible cut marker");
            assert!(shown.ends_with("Action: Manual review required"));
            // No entity was split: after the last whole entity only plain text remains.
            let code = alert.html.split("<b>Error:</b> <code>").nth(1).unwrap();
            let code = code.split("</code>").next().unwrap();
            let rest = code
                .replace("&lt;", "")
                .replace("&gt;", "")
                .replace("&amp;", "");
            assert!(!rest.contains('&'), "a split entity for {unit}");
        }
    }

    #[test]
    fn cut_text_counts_what_it_removed() {
        let cut = cut_text("abcdefghijklmnopqrstuvwxyz0123456789", 30);
        assert_eq!(cut, "abcdefghijklmn… [cut 22 chars]");
        assert!(telegram_len(&cut) <= 30);
        assert_eq!(cut_text("🚀🚀🚀", 4), "🚀🚀");
        assert_eq!(cut_text("", 0), "");
    }

    #[test]
    fn message_and_summary_layouts() {
        let alert = format_message("a & b", Severity::Info, Some(at()));
        assert_eq!(
            alert.plain,
            "ℹ️ INFO\n\na & b\n\nTimestamp: 2026-11-29T02:18:10Z"
        );
        assert_eq!(
            alert.html,
            "ℹ️ <b>INFO</b>\n\na &amp; b\n\n<b>Timestamp:</b> 2026-11-29T02:18:10Z"
        );
        let long = "m".repeat(20_000);
        let alert = format_message(&long, Severity::Info, None);
        assert!(telegram_len(&alert.plain) <= MESSAGE_BUDGET);

        let ids: Vec<String> = (0..20).map(|i| format!("s{i}")).collect();
        let alert = format_summary(&SummaryAlert {
            severity: Severity::Error,
            operation: "op",
            error_class: "http_503",
            last_error: "<503>",
            folded: 99,
            signal_ids: &ids,
            window_start: at(),
            timestamp: at(),
        });
        assert!(
            alert
                .plain
                .contains("99 more signals failed the same way: ids s0, s1,")
        );
        assert!(alert.plain.contains("s19 and 79 more"));
        assert!(alert.html.contains("<code>&lt;503&gt;</code>"));
        assert_eq!(visible(&alert.html), alert.plain);
    }
}
