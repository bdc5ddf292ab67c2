//! `outbox export [--state S]...`: every signal row, one JSON line each
//! (format 1, see [`super::ndjson`]), ordered by id, for `outbox import`
//! into another outbox.

use super::ndjson::LineOut;
use super::{Done, emit, note};
use crate::args::StateArg;
use crate::output::JsonLines;
use signal_outbox::{ExportRequest, Outbox, State};

/// Rows read per page (one read transaction each).
const PAGE: usize = 500;

pub(super) async fn run(
    outbox: &dyn Outbox,
    states: Vec<StateArg>,
    output: &mut JsonLines,
) -> Done {
    let mut wanted: Vec<State> = states.into_iter().map(State::from).collect();
    wanted.sort();
    wanted.dedup();
    let (mut total, mut in_flight) = (0_u64, 0_u64);
    let mut after: Option<String> = None;
    loop {
        let mut request = ExportRequest::new(PAGE).states(wanted.clone());
        if let Some(last) = after.take() {
            request = request.after(last);
        }
        let rows = outbox.export(request).await?;
        for row in &rows {
            emit(output, &LineOut::from(row))?;
            total += 1;
            in_flight += u64::from(row.was_in_flight);
        }
        if rows.len() < PAGE {
            break;
        }
        after = rows.last().map(|row| row.id.clone());
    }
    note(format_args!(
        "exported {total} signals from {}",
        outbox.describe()
    ));
    if in_flight > 0 {
        note(format_args!(
            "{in_flight} of them were in flight: exported as pending and due now, without \
             their lease; if a worker still holds one and delivers it, it is sent twice (stop \
             the workers before exporting)"
        ));
    }
    Ok(())
}
