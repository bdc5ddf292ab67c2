//! `outbox list --state S`: the rows in one state, oldest first.

use super::rows::RowLine;
use super::{Done, emit};
use crate::args::StateArg;
use crate::output::JsonLines;
use signal_outbox::{ListFilter, Outbox};

pub(super) async fn run(
    outbox: &dyn Outbox,
    state: StateArg,
    limit: u64,
    output: &mut JsonLines,
) -> Done {
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    let rows = outbox
        .list(ListFilter::new(limit).state(state.into()))
        .await?;
    rows.into_iter()
        .try_for_each(|row| emit(output, &RowLine::from(row)))
}
