//! `outbox import`: rows written by `outbox export`, read from standard
//! input line by line and stored in batches as it goes. Rows already in the
//! outbox are skipped (same body) or refused (another body); nothing is
//! overwritten, so importing the same file twice is harmless. Every line
//! that cannot be imported is named with its number and field; the command
//! then exits 1, after importing the others.

use super::ndjson::{LineError, parse_line};
use super::{Done, Failure, emit, note};
use crate::output::JsonLines;
use serde::Serialize;
use signal_model::{Frame, FrameReader, MaxBytes};
use signal_outbox::{ExportedSignal, ImportOutcome, Outbox, OutboxError};

/// Rows per transaction.
const BATCH_ROWS: usize = 500;
/// Body bytes per transaction, so a batch of large bodies stays small.
const BATCH_BYTES: usize = 8 << 20;

/// The counts, printed as one JSON line at the end.
#[derive(Debug, Default, Serialize)]
struct ImportLine {
    imported: u64,
    skipped: u64,
    conflict: u64,
    invalid: u64,
}

impl ImportLine {
    fn invalid(&mut self, error: &LineError) {
        self.invalid += 1;
        note(error);
    }
}

/// Stores one batch; a batch refused as invalid is stored row by row, so
/// that only the bad rows (each named) are left out.
async fn flush(
    outbox: &dyn Outbox,
    batch: &mut Vec<(u64, ExportedSignal)>,
    counts: &mut ImportLine,
) -> Result<(), OutboxError> {
    let rows: Vec<(u64, ExportedSignal)> = std::mem::take(batch);
    if rows.is_empty() {
        return Ok(());
    }
    let signals = rows.iter().map(|(_, row)| row.clone()).collect();
    let outcomes = match outbox.import(signals).await {
        Ok(outcomes) => outcomes,
        Err(OutboxError::InvalidInput { .. }) => {
            for (line, row) in rows {
                match outbox.import(vec![row.clone()]).await {
                    Ok(outcome) => tally(counts, line, &row, outcome.first().copied()),
                    Err(OutboxError::InvalidInput { reason }) => counts.invalid(&LineError {
                        line,
                        field: None,
                        reason,
                    }),
                    Err(e) => return Err(e),
                }
            }
            return Ok(());
        }
        Err(e) => return Err(e),
    };
    for ((line, row), outcome) in rows.iter().zip(outcomes) {
        tally(counts, *line, row, Some(outcome));
    }
    Ok(())
}

fn tally(counts: &mut ImportLine, line: u64, row: &ExportedSignal, outcome: Option<ImportOutcome>) {
    match outcome {
        Some(ImportOutcome::Imported) => counts.imported += 1,
        Some(ImportOutcome::Skipped) => counts.skipped += 1,
        Some(ImportOutcome::Conflict) | None => {
            counts.conflict += 1;
            note(format_args!(
                "line {line}: signal {} is already in the outbox with another body; not imported",
                row.id
            ));
        }
    }
}

pub(super) async fn run(outbox: &dyn Outbox, output: &mut JsonLines) -> Done {
    // The largest body base64-encoded, plus room for the attempt log.
    let mut reader = FrameReader::new(tokio::io::stdin(), MaxBytes::MAX);
    let mut counts = ImportLine::default();
    let mut batch: Vec<(u64, ExportedSignal)> = Vec::new();
    let mut bytes = 0_usize;
    let mut failure: Option<Failure> = None;
    while let Some(frame) = reader.next_frame().await {
        let frame = match frame {
            Ok(frame) => frame,
            Err(e) => {
                note(format_args!("{e}; the lines before it are imported"));
                failure = Some(Failure::Incomplete);
                break;
            }
        };
        match frame {
            Frame::Line { line, bytes: text } => {
                let text = String::from_utf8_lossy(&text);
                match parse_line(line, &text) {
                    Ok(row) => {
                        bytes += row.body.len();
                        batch.push((line, row));
                    }
                    Err(e) => counts.invalid(&e),
                }
            }
            Frame::Blank { .. } => {}
            Frame::TooLong {
                line,
                bytes_seen,
                limit,
            } => counts.invalid(&LineError {
                line,
                field: None,
                reason: format!("{bytes_seen} bytes, longer than the limit of {limit}"),
            }),
            Frame::NotUtf8 { line, valid_up_to } => counts.invalid(&LineError {
                line,
                field: None,
                reason: format!("not UTF-8 (valid up to byte {valid_up_to})"),
            }),
        }
        if batch.len() >= BATCH_ROWS || bytes >= BATCH_BYTES {
            bytes = 0;
            if let Err(e) = flush(outbox, &mut batch, &mut counts).await {
                failure = Some(Failure::Outbox(e));
                break;
            }
        }
    }
    if failure.is_none()
        && let Err(e) = flush(outbox, &mut batch, &mut counts).await
    {
        failure = Some(Failure::Outbox(e));
    }
    note(format_args!(
        "into {}: {} imported, {} skipped (already there), {} conflict, {} invalid",
        outbox.describe(),
        counts.imported,
        counts.skipped,
        counts.conflict,
        counts.invalid
    ));
    emit(output, &counts)?;
    match failure {
        Some(failure) => Err(failure),
        None if counts.conflict + counts.invalid > 0 => Err(Failure::Incomplete),
        None => Ok(()),
    }
}
