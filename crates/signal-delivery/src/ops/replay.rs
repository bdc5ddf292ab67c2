//! `/replay ID` and `/replay --reason R` with its `/confirm`: the same
//! `OutboxAdmin::replay` requests as `signal-delivery outbox replay`, so the
//! backend applies the same rules (dead-lettered only, the age limit) and
//! writes the audit row in the replay's own transaction.

use serde_json::json;
use signal_outbox::{
    FailureReason, NewAuditEntry, Outbox, ReplayReport, ReplayRequest, ReplaySelection,
};

use super::commands::{Answer, REPLAY_MAX_AGE, actor, age, one_id, render};
use super::confirm::{CONFIRM_WITHIN, Confirmations};

/// The same request as `signal-delivery outbox replay ID`: the backend
/// checks the row is dead-lettered and young enough, and writes the audit
/// row in the replay's own transaction.
pub(crate) async fn replay(outbox: &dyn Outbox, user_id: u64, args: &str) -> Answer {
    let audit = |result: String| {
        Some(NewAuditEntry {
            actor: actor(user_id),
            action: "telegram /replay".to_owned(),
            detail: json!({ "args": args }).to_string(),
            result,
        })
    };
    let id = match one_id(args, "replay") {
        Ok(id) => id,
        Err(usage) => {
            return Answer {
                html: render("Usage", &usage),
                audit: audit("refused: usage".to_owned()),
                name: "replay",
            };
        }
    };
    let request = ReplayRequest {
        selection: ReplaySelection::Ids(vec![id.to_owned()]),
        max_age: Some(REPLAY_MAX_AGE),
        dry_run: false,
        audit: NewAuditEntry {
            actor: actor(user_id),
            action: "replay".to_owned(),
            detail: json!({ "ids": [id], "via": "telegram", "max_age_seconds": REPLAY_MAX_AGE.as_secs() })
                .to_string(),
            result: String::new(),
        },
    };
    match outbox.replay(request).await {
        Ok(report) => {
            let body = if report.replayed == 1 {
                format!(
                    "{id} is pending again, due now (replayed by {}; audited)",
                    actor(user_id)
                )
            } else if report.too_old_count > 0 {
                format!(
                    "{id} was not replayed: enqueued more than {} ago (use `signal-delivery outbox replay --force` from a host)",
                    age(REPLAY_MAX_AGE)
                )
            } else if let Some((_, state)) = report.not_dead.first() {
                format!(
                    "{id} was not replayed: it is {}, not dead-lettered",
                    state.as_str()
                )
            } else {
                format!("{id} was not replayed: no such signal in the outbox")
            };
            Answer {
                html: render("Replay", &body),
                audit: None,
                name: "replay",
            }
        }
        Err(error) => Answer {
            html: render("Replay failed", &format!("nothing was replayed: {error}")),
            audit: audit(format!("error: {error}")),
            name: "replay",
        },
    }
}

/// The bulk replay of every dead letter with `reason` (young enough), as
/// `signal-delivery outbox replay --reason R` builds it.
fn bulk_request(user_id: u64, reason: FailureReason, dry_run: bool) -> ReplayRequest {
    ReplayRequest {
        selection: ReplaySelection::Dead {
            reason: Some(reason),
            since: None,
            until: None,
        },
        max_age: Some(REPLAY_MAX_AGE),
        dry_run,
        audit: NewAuditEntry {
            actor: actor(user_id),
            action: "replay".to_owned(),
            detail: json!({
                "reason": reason.as_str(),
                "via": "telegram",
                "confirmed": true,
                "max_age_seconds": REPLAY_MAX_AGE.as_secs(),
            })
            .to_string(),
            result: String::new(),
        },
    }
}

fn too_old_note(report: &ReplayReport) -> String {
    if report.too_old_count == 0 {
        String::new()
    } else {
        format!(
            "; {} enqueued more than {} ago stay dead (outbox replay --force from a host)",
            report.too_old_count,
            age(REPLAY_MAX_AGE)
        )
    }
}

/// `/replay --reason R`: a dry run, and a pending request for `/confirm`.
pub(crate) async fn ask_bulk_replay(
    outbox: &dyn Outbox,
    user_id: u64,
    args: &str,
    pending: &Confirmations,
) -> Answer {
    let answer = |title: &str, body: String, result: String| Answer {
        html: render(title, &body),
        audit: Some(NewAuditEntry {
            actor: actor(user_id),
            action: "telegram /replay --reason".to_owned(),
            detail: json!({ "args": args }).to_string(),
            result,
        }),
        name: "replay",
    };
    let words: Vec<&str> = args.split_whitespace().collect();
    let reason = match words.as_slice() {
        ["--reason", reason] => reason.parse::<FailureReason>().ok(),
        _ => None,
    };
    let Some(reason) = reason else {
        let allowed: Vec<&str> = FailureReason::ALL.iter().map(|r| r.as_str()).collect();
        return answer(
            "Usage",
            format!(
                "usage: /replay --reason R, with R one of {}",
                allowed.join(", ")
            ),
            "refused: usage".to_owned(),
        );
    };
    match outbox.replay(bulk_request(user_id, reason, true)).await {
        Ok(report) if report.replayed == 0 => answer(
            "Replay",
            format!(
                "no dead letter with reason {reason} to replay{}",
                too_old_note(&report)
            ),
            "nothing to replay".to_owned(),
        ),
        Ok(report) => {
            pending.ask(user_id, reason);
            answer(
                "Replay: confirm",
                format!(
                    "{} dead letter(s) with reason {reason} would be sent again{}. \
                     Send /confirm within {} to replay them (those dead-lettered by then), /cancel to drop it.",
                    report.replayed,
                    too_old_note(&report),
                    age(CONFIRM_WITHIN)
                ),
                format!(
                    "awaiting confirmation: {} would be replayed",
                    report.replayed
                ),
            )
        }
        Err(error) => answer(
            "Replay failed",
            format!("nothing was replayed: {error}"),
            format!("error: {error}"),
        ),
    }
}

/// `/confirm`: the pending bulk replay of this admin, if still valid.
pub(crate) async fn confirm_bulk_replay(
    outbox: &dyn Outbox,
    user_id: u64,
    pending: &Confirmations,
) -> Answer {
    let Some(reason) = pending.take(user_id) else {
        return Answer {
            html: render(
                "Nothing to confirm",
                &format!(
                    "no /replay --reason of yours is waiting (each waits {})",
                    age(CONFIRM_WITHIN)
                ),
            ),
            audit: Some(NewAuditEntry {
                actor: actor(user_id),
                action: "telegram /confirm".to_owned(),
                detail: "{}".to_owned(),
                result: "nothing pending".to_owned(),
            }),
            name: "confirm",
        };
    };
    // The backend writes the audit row in the replay's transaction.
    let (title, body, audit) = match outbox.replay(bulk_request(user_id, reason, false)).await {
        Ok(report) => (
            "Replay",
            format!(
                "{} dead letter(s) with reason {reason} are pending again, due now (replayed by {}; audited){}",
                report.replayed,
                actor(user_id),
                too_old_note(&report)
            ),
            None,
        ),
        Err(error) => (
            "Replay failed",
            format!("nothing was replayed: {error}"),
            Some(NewAuditEntry {
                actor: actor(user_id),
                action: "telegram /confirm".to_owned(),
                detail: json!({ "reason": reason.as_str() }).to_string(),
                result: format!("error: {error}"),
            }),
        ),
    };
    Answer {
        html: render(title, &body),
        audit,
        name: "confirm",
    }
}
