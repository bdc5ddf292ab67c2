//! What each command does and answers (the replays are in `replay`). Every answer is plain text cut under
//! Telegram's limit first, then HTML-escaped (so a cut never splits an
//! entity), under a bold title that is ours.

use std::fmt::Write as _;
use std::time::Duration;

use ops_alerts::{MESSAGE_BUDGET, cut_text, escape_html, format_timestamp};
use serde_json::json;
use signal_outbox::{ListFilter, NewAuditEntry, Outbox, OutboxError, State, Timestamp};

use super::confirm::{CONFIRM_WITHIN, Confirmations};
use super::replay;
use super::update::Command;

/// Most dead letters `/failures` lists.
pub const MAX_FAILURES: usize = 20;
/// `/failures` without a number.
pub const DEFAULT_FAILURES: usize = 5;
/// `/replay` refuses signals enqueued longer ago than this, as
/// `signal-delivery outbox replay` does by default: a stale trading signal
/// is worse than none.
pub const REPLAY_MAX_AGE: Duration = Duration::from_secs(3600);
/// Workers seen within this are "alive" in `/status`.
const ALIVE_WITHIN: Duration = Duration::from_secs(120);
/// Dead letters read to find the latest ones (the list is ordered oldest
/// first); older ones are not shown.
const FAILURE_SCAN: usize = 1_000;
/// Attempts `/show` lists (the latest).
const SHOWN_ATTEMPTS: usize = 10;

/// An answer for the ops chat and the audit row of the action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Answer {
    /// HTML, ready to send.
    pub(crate) html: String,
    /// Written after the answer was built; `None` when the backend wrote
    /// it itself (a replay audits in its own transaction).
    pub(crate) audit: Option<NewAuditEntry>,
    /// The command's fixed name, for the metric.
    pub(crate) name: &'static str,
}

/// Who acted, as the audit log names them.
pub(crate) fn actor(user_id: u64) -> String {
    format!("telegram:user {user_id}")
}

/// Runs `command` for admin `user_id`; `pending` holds the bulk replays
/// waiting for their `/confirm`.
pub(crate) async fn run(
    outbox: &dyn Outbox,
    user_id: u64,
    command: &Command<'_>,
    pending: &Confirmations,
) -> Answer {
    let (name, result) = match command.name.as_str() {
        "help" | "start" => ("help", Ok(("Commands".to_owned(), help()))),
        "status" => ("status", status(outbox).await),
        "failures" => ("failures", failures(outbox, command.args).await),
        "show" => ("show", show(outbox, command.args).await),
        "replay" if command.args.starts_with("--reason") => {
            return replay::ask_bulk_replay(outbox, user_id, command.args, pending).await;
        }
        "replay" => return replay::replay(outbox, user_id, command.args).await,
        "confirm" => return replay::confirm_bulk_replay(outbox, user_id, pending).await,
        "cancel" => (
            "cancel",
            Ok((
                "Cancel".to_owned(),
                if pending.take(user_id).is_some() {
                    "the pending bulk replay was dropped; nothing was replayed".to_owned()
                } else {
                    "nothing was pending".to_owned()
                },
            )),
        ),
        _ => (
            "unknown",
            Ok((
                "Unknown command".to_owned(),
                format!("/{} is not a command. {}", command.name, help()),
            )),
        ),
    };
    let (title, body, outcome) = match result {
        Ok((title, body)) => (title, body, "ok".to_owned()),
        Err(error) => (
            "Outbox unavailable".to_owned(),
            format!("The outbox could not be read: {error}"),
            format!("error: {error}"),
        ),
    };
    Answer {
        html: render(&title, &body),
        audit: Some(NewAuditEntry {
            actor: actor(user_id),
            action: format!("telegram /{name}"),
            detail: json!({ "args": command.args }).to_string(),
            result: outcome,
        }),
        name,
    }
}

/// A bold title and a body, cut then escaped.
pub(crate) fn render(title: &str, body: &str) -> String {
    let title = escape_html(title);
    // The title, a newline and the tags count too.
    let room = MESSAGE_BUDGET.saturating_sub(title.chars().count() + 8);
    format!("<b>{title}</b>\n{}", escape_html(&cut_text(body, room)))
}

fn help() -> String {
    format!(
        "/status: depth by state, oldest pending, last failure, workers alive\n\
         /failures [N]: the latest N dead letters (1 to {MAX_FAILURES}, default {DEFAULT_FAILURES})\n\
         /show ID: a signal's attempt history\n\
         /replay ID: send a dead letter round again (enqueued within the last hour)\n\
         /replay --reason R: every dead letter with reason R, after a /confirm within {confirm}\n\
         /confirm, /cancel: go ahead with, or drop, your pending /replay --reason\n\
         /help: this list",
        confirm = age(CONFIRM_WITHIN)
    )
}

type Text = Result<(String, String), OutboxError>;

fn when(at: Timestamp) -> String {
    chrono::DateTime::from_timestamp_millis(at).map_or_else(|| at.to_string(), format_timestamp)
}

pub(crate) fn age(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m{}s", s / 60, s % 60),
        _ => format!("{}h{}m", s / 3600, (s % 3600) / 60),
    }
}

async fn status(outbox: &dyn Outbox) -> Text {
    let stats = outbox.stats().await?;
    let ledger = outbox.ledger().await?;
    let workers = outbox.workers(ALIVE_WITHIN).await?;
    let mut body = format!(
        "pending {}, in flight {}, delivered {}, dead-lettered {}\n",
        stats.pending, stats.in_flight, stats.delivered, stats.dead_lettered
    );
    match stats.oldest_pending_age {
        Some(d) => {
            let _ = writeln!(body, "oldest pending: {}", age(d));
        }
        None => body.push_str("oldest pending: none\n"),
    }
    match latest_dead(outbox, 1).await?.first() {
        Some(row) => {
            let _ = writeln!(
                body,
                "last failure: {} ({}) at {}",
                row.id,
                row.dead_reason.map_or("unknown", |r| r.as_str()),
                row.dead_at.map_or_else(String::new, when)
            );
        }
        None => body.push_str("last failure: none\n"),
    }
    let _ = writeln!(
        body,
        "consecutive failed deliveries: {}{}",
        ledger.consecutive_failures,
        if ledger.outage.is_some() {
            " (outage open)"
        } else {
            ""
        }
    );
    let _ = writeln!(body, "alerts waiting: {}", stats.alerts_pending);
    let alive: Vec<&str> = workers
        .iter()
        .filter(|w| !w.stopped)
        .map(|w| w.name.as_str())
        .collect();
    let _ = write!(
        body,
        "workers alive (seen within {}): {}",
        age(ALIVE_WITHIN),
        if alive.is_empty() {
            "none".to_owned()
        } else {
            alive.join(", ")
        }
    );
    Ok(("Outbox status".to_owned(), body))
}

/// The latest `n` dead letters, newest first.
async fn latest_dead(
    outbox: &dyn Outbox,
    n: usize,
) -> Result<Vec<signal_outbox::RowSummary>, OutboxError> {
    let mut rows = outbox
        .list(ListFilter::new(FAILURE_SCAN).state(State::DeadLettered))
        .await?;
    rows.sort_by(|a, b| (b.dead_at, &b.id).cmp(&(a.dead_at, &a.id)));
    rows.truncate(n);
    Ok(rows)
}

async fn failures(outbox: &dyn Outbox, args: &str) -> Text {
    let n = if args.is_empty() {
        DEFAULT_FAILURES
    } else {
        match args.parse::<usize>() {
            Ok(n) if (1..=MAX_FAILURES).contains(&n) => n,
            _ => {
                return Ok((
                    "Bad number".to_owned(),
                    format!(
                        "/failures takes a whole number from 1 to {MAX_FAILURES} (default {DEFAULT_FAILURES}), not \"{}\"",
                        cut_text(args, 40)
                    ),
                ));
            }
        }
    };
    let rows = latest_dead(outbox, n).await?;
    if rows.is_empty() {
        return Ok(("Dead letters".to_owned(), "none".to_owned()));
    }
    let mut body = String::new();
    for row in &rows {
        let _ = writeln!(
            body,
            "{} — {} at {}, {} attempt(s){}",
            row.id,
            row.dead_reason.map_or("unknown", |r| r.as_str()),
            row.dead_at.map_or_else(String::new, when),
            row.attempts,
            row.last_error
                .as_deref()
                .map_or_else(String::new, |e| format!(": {}", cut_text(e, 200)))
        );
    }
    Ok((format!("Latest {} dead letter(s)", rows.len()), body))
}

/// The one id argument, or the usage line.
pub(crate) fn one_id<'a>(args: &'a str, command: &str) -> Result<&'a str, String> {
    let mut words = args.split_whitespace();
    match (words.next(), words.next()) {
        (Some(id), None) if crate::is_valid_id(id) => Ok(id),
        _ => Err(format!("usage: /{command} ID (one signal id)")),
    }
}

async fn show(outbox: &dyn Outbox, args: &str) -> Text {
    let id = match one_id(args, "show") {
        Ok(id) => id,
        Err(usage) => return Ok(("Usage".to_owned(), usage)),
    };
    let Some(detail) = outbox.show(vec![id.to_owned()]).await?.into_iter().next() else {
        return Ok((
            "Not found".to_owned(),
            format!("no signal {id} in the outbox"),
        ));
    };
    let row = &detail.row;
    let mut body = format!(
        "state: {}\nenqueued: {}\nattempts: {}\n",
        row.state.as_str(),
        when(row.enqueued_at),
        row.attempts
    );
    if let Some(reason) = row.dead_reason {
        let _ = writeln!(
            body,
            "dead: {} at {}",
            reason.as_str(),
            row.dead_at.map_or_else(String::new, when)
        );
    }
    if let Some(error) = &row.last_error {
        let _ = writeln!(body, "last error: {}", cut_text(error, 300));
    }
    let skip = detail.attempts.len().saturating_sub(SHOWN_ATTEMPTS);
    if skip > 0 {
        let _ = writeln!(body, "({skip} earlier attempt(s) not shown)");
    }
    for a in &detail.attempts[skip..] {
        let _ = writeln!(
            body,
            "#{} {} {} {} {}ms{}",
            a.attempt,
            when(a.at),
            a.status.map_or_else(|| "-".to_owned(), |s| s.to_string()),
            a.error_class.as_deref().unwrap_or("delivered"),
            a.latency.as_millis(),
            a.excerpt
                .as_deref()
                .map_or_else(String::new, |e| format!(" {}", cut_text(e, 120)))
        );
    }
    Ok((format!("Signal {id}"), body))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ops_alerts::{TELEGRAM_MAX_CHARS, telegram_len};

    #[test]
    fn long_answers_are_cut_before_escaping_under_the_limit() {
        let html = render("A <title>", &"&<".repeat(10_000));
        assert!(html.starts_with("<b>A &lt;title&gt;</b>\n"), "{html}");
        // Telegram counts the text after entity parsing: unescape to measure.
        let shown = html
            .replace("<b>", "")
            .replace("</b>", "")
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&amp;", "&");
        assert!(
            telegram_len(&shown) <= TELEGRAM_MAX_CHARS,
            "{}",
            telegram_len(&shown)
        );
        assert!(html.ends_with(" chars]"), "the cut is visible");
        // Every `&` starts a whole entity: the cut never splits one.
        assert_eq!(
            html.matches('&').count(),
            html.matches("&amp;").count()
                + html.matches("&lt;").count()
                + html.matches("&gt;").count()
        );
    }

    #[test]
    fn ages_and_ids() {
        assert_eq!(age(Duration::from_secs(59)), "59s");
        assert_eq!(age(Duration::from_secs(125)), "2m5s");
        assert_eq!(age(Duration::from_secs(7_260)), "2h1m");
        assert_eq!(one_id("sig-1", "show"), Ok("sig-1"));
        assert!(one_id("", "show").is_err());
        assert!(one_id("a b", "show").is_err());
        assert!(one_id("<b>", "show").is_err());
    }
}
