//! `outbox replay`: dead letters back to pending, chosen by id or by a
//! selection (reason, time of dead-lettering, or all), refused when stale
//! unless `--force`, and written to the audit log in the same transaction.

use super::actor::Actor;
use super::{Done, Failure, emit, note};
use crate::args::ReplayArgs;
use crate::output::JsonLines;
use crate::when::{human, rfc3339};
use serde::Serialize;
use serde_json::{Value, json};
use signal_outbox::{
    ListFilter, MAX_REPORTED_IDS, NewAuditEntry, Outbox, ReplayReport, ReplayRequest,
    ReplaySelection, State, now_millis,
};
use std::collections::HashSet;
use std::time::Duration;

/// Most ids written into one audit row's detail; the count is always exact.
const MAX_AUDITED_IDS: usize = 1000;
/// Most ids named in one note on standard error.
const MAX_NOTED_IDS: usize = 20;

/// The one output line.
#[derive(Debug, Serialize)]
struct ReplayLine {
    dry_run: bool,
    /// Dead-lettered signals selected (replayed or too old).
    matched: u64,
    /// Sent back to pending (on a dry run: would be).
    replayed: u64,
    too_old: u64,
    not_dead: usize,
    unknown: usize,
    /// `null` with `--force`.
    max_age_seconds: Option<u64>,
    /// Dry run only: the selected dead-lettered ids, at most 100.
    #[serde(skip_serializing_if = "Option::is_none")]
    ids: Option<Vec<String>>,
    too_old_ids: Vec<String>,
    not_dead_ids: Vec<NotDead>,
    unknown_ids: Vec<String>,
}

#[derive(Debug, Serialize)]
struct NotDead {
    id: String,
    state: &'static str,
}

pub(super) async fn run(outbox: &dyn Outbox, args: ReplayArgs, output: &mut JsonLines) -> Done {
    let selection = selection(&args, now_millis())?;
    let max_age = (!args.force).then_some(args.max_age);
    let actor = Actor::current();
    let request = ReplayRequest {
        selection: selection.clone(),
        max_age,
        dry_run: args.dry_run,
        audit: NewAuditEntry {
            actor: actor.label(),
            action: "replay".to_owned(),
            detail: detail(&selection, &args, max_age, &actor).to_string(),
            // The backend replaces it with the counts.
            result: String::new(),
        },
    };
    let report = outbox.replay(request).await?;
    let ids = if args.dry_run {
        Some(selected_ids(outbox, &selection, &report).await?)
    } else {
        None
    };
    emit(
        output,
        &ReplayLine {
            dry_run: args.dry_run,
            matched: report.matched,
            replayed: report.replayed,
            too_old: report.too_old_count,
            not_dead: report.not_dead.len(),
            unknown: report.unknown.len(),
            max_age_seconds: max_age.map(|d| d.as_secs()),
            ids,
            too_old_ids: report.too_old.clone(),
            not_dead_ids: report
                .not_dead
                .iter()
                .map(|(id, state)| NotDead {
                    id: id.clone(),
                    state: state.as_str(),
                })
                .collect(),
            unknown_ids: report.unknown.clone(),
        },
    )?;
    explain(&report, args.dry_run, max_age, &actor)
}

/// The selection the flags describe (clap already enforced that there is
/// one, and that ids and the filters are not mixed).
fn selection(args: &ReplayArgs, now: i64) -> Result<ReplaySelection, Failure> {
    if !args.ids.is_empty() {
        // Each id once: a repeated id would be counted twice.
        let mut seen = HashSet::new();
        let ids = args
            .ids
            .iter()
            .filter(|id| seen.insert(id.as_str()))
            .cloned()
            .collect();
        return Ok(ReplaySelection::Ids(ids));
    }
    let since = args.since.map(|t| t.resolve(now));
    let until = args.until.map(|t| t.resolve(now));
    if let (Some(since), Some(until)) = (since, until)
        && since >= until
    {
        return Err(Failure::Usage(format!(
            "--since ({}) is not before --until ({}): no dead letter could match; \
             nothing was replayed",
            rfc3339(since),
            rfc3339(until)
        )));
    }
    Ok(ReplaySelection::Dead {
        reason: args.reason,
        since,
        until,
    })
}

/// The audit row's detail: what was selected, the age rule, and who.
fn detail(
    selection: &ReplaySelection,
    args: &ReplayArgs,
    max_age: Option<Duration>,
    actor: &Actor,
) -> Value {
    let selected = match selection {
        ReplaySelection::Ids(ids) => json!({
            "ids": ids.iter().take(MAX_AUDITED_IDS).collect::<Vec<_>>(),
            "ids_count": ids.len(),
            "ids_truncated": ids.len() > MAX_AUDITED_IDS,
        }),
        ReplaySelection::Dead {
            reason,
            since,
            until,
        } => json!({
            "all_dead": args.all_dead,
            "reason": reason.map(|r| r.as_str()),
            "dead_since": since,
            "dead_until": until,
            "dead_since_utc": since.map(rfc3339),
            "dead_until_utc": until.map(rfc3339),
        }),
    };
    json!({
        "selection": selected,
        "max_age_seconds": max_age.map(|d| d.as_secs()),
        "force": args.force,
        "os": actor,
    })
}

/// On a dry run, the dead-lettered ids the selection holds (at most
/// [`MAX_REPORTED_IDS`]), too-old ones included (they are also listed
/// apart).
async fn selected_ids(
    outbox: &dyn Outbox,
    selection: &ReplaySelection,
    report: &ReplayReport,
) -> Result<Vec<String>, Failure> {
    match selection {
        ReplaySelection::Ids(ids) => {
            let not_dead: HashSet<&str> =
                report.not_dead.iter().map(|(id, _)| id.as_str()).collect();
            let unknown: HashSet<&str> = report.unknown.iter().map(String::as_str).collect();
            Ok(ids
                .iter()
                .filter(|id| !not_dead.contains(id.as_str()) && !unknown.contains(id.as_str()))
                .take(MAX_REPORTED_IDS)
                .cloned()
                .collect())
        }
        ReplaySelection::Dead {
            reason,
            since,
            until,
        } => {
            let filter = ListFilter {
                state: Some(State::DeadLettered),
                reason: *reason,
                since: *since,
                until: *until,
                ..ListFilter::new(MAX_REPORTED_IDS)
            };
            Ok(outbox
                .list(filter)
                .await?
                .into_iter()
                .map(|row| row.id)
                .collect())
        }
    }
}

/// What was and was not done, on standard error; exit 1 when something
/// selected was not replayed.
fn explain(report: &ReplayReport, dry_run: bool, max_age: Option<Duration>, actor: &Actor) -> Done {
    let age = max_age.map_or_else(String::new, human);
    if dry_run {
        note(format_args!(
            "dry run: {} of {} selected dead-lettered signal(s) would be replayed; nothing was \
             changed and no audit row was written",
            report.replayed, report.matched
        ));
        if report.too_old_count > 0 {
            note(format_args!(
                "{} would be refused as enqueued more than {age} ago (add --force, or a larger \
                 --max-age, to include them)",
                report.too_old_count
            ));
        }
        return Ok(());
    }
    if report.matched == 0 && report.not_dead.is_empty() && report.unknown.is_empty() {
        note("no dead-lettered signal matched the selection; nothing was replayed");
        return Ok(());
    }
    note(format_args!(
        "replayed {} of {} selected dead-lettered signal(s): pending and due now; recorded in \
         the audit log as {}",
        report.replayed,
        report.matched,
        actor.label()
    ));
    let mut complete = true;
    if report.too_old_count > 0 {
        complete = false;
        note(format_args!(
            "{} signal(s) enqueued more than {age} ago were NOT replayed (a stale trading signal \
             can do more harm than none): {}; check them, then run the same command with --force \
             (or a larger --max-age) to replay them",
            report.too_old_count,
            listed(&report.too_old, report.too_old_count)
        ));
    }
    for (id, state) in report.not_dead.iter().take(MAX_NOTED_IDS) {
        complete = false;
        note(format_args!(
            "{id} is {state}, not dead_lettered: nothing to replay"
        ));
    }
    for id in report.unknown.iter().take(MAX_NOTED_IDS) {
        complete = false;
        note(format_args!("no signal with id {id} in the outbox"));
    }
    let more = report.not_dead.len().saturating_sub(MAX_NOTED_IDS)
        + report.unknown.len().saturating_sub(MAX_NOTED_IDS);
    if more > 0 {
        note(format_args!(
            "and {more} more id(s) not dead-lettered or unknown (see the JSON line)"
        ));
    }
    if complete {
        Ok(())
    } else {
        Err(Failure::Incomplete)
    }
}

/// `a, b, c and 7 more`.
fn listed(ids: &[String], total: u64) -> String {
    let shown: Vec<&str> = ids.iter().take(MAX_NOTED_IDS).map(String::as_str).collect();
    let rest = total.saturating_sub(shown.len() as u64);
    if rest == 0 {
        shown.join(", ")
    } else {
        format!("{} and {rest} more", shown.join(", "))
    }
}
