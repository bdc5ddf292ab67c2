//! `outbox purge --delivered-before DURATION`: retention by hand.
//!
//! The backend deletes delivered rows and their attempt log in short
//! transactions of at most `--batch` rows (so the worker's writes go in
//! between) and keeps each purged id with its body hash as a tombstone, so
//! that `enqueue` still reports a producer's late retry as a duplicate (or a
//! conflict) for the dedup window (`OUTBOX_DEDUP_DAYS`). One
//! `purge_delivered` call does every batch: its cutoff is fixed by the
//! first, so calling it again would only chase rows delivered meanwhile.
//! Dead letters are never purged.

use super::{Done, emit, note};
use crate::args::PurgeArgs;
use crate::output::JsonLines;
use crate::when::{human, rfc3339};
use serde::Serialize;
use signal_config::OutboxSettings;
use signal_outbox::{Cursor, ListFilter, Outbox, State, duration_millis, now_millis};

#[derive(Debug, Serialize)]
struct PurgeLine {
    dry_run: bool,
    /// Delivered rows deleted (on a dry run: that would be).
    purged: u64,
    /// Attempt-log entries deleted; `null` on a dry run (not counted).
    attempts_removed: Option<u64>,
    /// The cutoff, by this host's clock: rows delivered before it go.
    delivered_before: String,
    /// How long after its delivery a purged id is still a duplicate.
    dedup_window_days: u64,
}

pub(super) async fn run(
    outbox: &dyn Outbox,
    args: PurgeArgs,
    settings: &OutboxSettings,
    output: &mut JsonLines,
) -> Done {
    let batch = usize::try_from(args.batch).unwrap_or(usize::MAX);
    let cutoff = now_millis().saturating_sub(duration_millis(args.delivered_before));
    let dedup_days = settings.dedup_window.as_secs() / 86_400;
    let line = if args.dry_run {
        PurgeLine {
            dry_run: true,
            purged: count_purgeable(outbox, cutoff, batch).await?,
            attempts_removed: None,
            delivered_before: rfc3339(cutoff),
            dedup_window_days: dedup_days,
        }
    } else {
        let report = outbox.purge_delivered(args.delivered_before, batch).await?;
        PurgeLine {
            dry_run: false,
            purged: report.purged,
            attempts_removed: Some(report.attempts_removed),
            delivered_before: rfc3339(cutoff),
            dedup_window_days: dedup_days,
        }
    };
    emit(output, &line)?;
    let what = if args.dry_run {
        "dry run: would purge"
    } else {
        "purged"
    };
    note(format_args!(
        "{what} {} signal(s) delivered more than {} ago; dead-lettered signals are never purged",
        line.purged,
        human(args.delivered_before)
    ));
    if args.dry_run {
        note(
            "a dry run counts rows only: the outbox contract has no count-only purge, so the \
             attempt-log entries that would go with them are not counted (attempts_removed: null)",
        );
    }
    note(format_args!(
        "duplicate detection keeps each purged signal's id and body hash until \
         {dedup_days} day(s) after its delivery (OUTBOX_DEDUP_DAYS): until then enqueue reports \
         the same id as a duplicate (same body) or a conflict; after that the id is a new \
         signal, and the body and attempt log are gone"
    ));
    Ok(())
}

/// Counts the delivered rows delivered before `cutoff`, reading only rows
/// enqueued before it (a row is delivered after it is enqueued), a page of
/// `page` rows at a time.
async fn count_purgeable(
    outbox: &dyn Outbox,
    cutoff: i64,
    page: usize,
) -> Result<u64, super::Failure> {
    let mut count = 0;
    let mut after: Option<Cursor> = None;
    loop {
        let filter = ListFilter {
            state: Some(State::Delivered),
            until: Some(cutoff),
            after: after.take(),
            ..ListFilter::new(page)
        };
        let rows = outbox.list(filter).await?;
        count += rows
            .iter()
            .filter(|row| row.delivered_at.is_some_and(|at| at < cutoff))
            .count() as u64;
        match rows.last() {
            Some(last) if rows.len() == page => after = Some(Cursor::after(last)),
            _ => return Ok(count),
        }
    }
}
