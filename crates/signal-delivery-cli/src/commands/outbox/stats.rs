//! `outbox stats`: depth by state, as one JSON line.

use super::{Done, emit};
use crate::output::JsonLines;
use serde::Serialize;
use signal_outbox::Outbox;

#[derive(Debug, Serialize)]
struct StatsLine {
    /// What the outbox calls itself (a path; a URL with its password redacted).
    path: String,
    pending: u64,
    in_flight: u64,
    delivered: u64,
    dead_lettered: u64,
    total: u64,
    oldest_pending_age_seconds: Option<f64>,
    alerts_pending: u64,
}

pub(super) async fn run(outbox: &dyn Outbox, output: &mut JsonLines) -> Done {
    let stats = outbox.stats().await?;
    emit(
        output,
        &StatsLine {
            path: outbox.describe(),
            pending: stats.pending,
            in_flight: stats.in_flight,
            delivered: stats.delivered,
            dead_lettered: stats.dead_lettered,
            total: stats.total(),
            oldest_pending_age_seconds: stats.oldest_pending_age.map(|d| d.as_secs_f64()),
            alerts_pending: stats.alerts_pending,
        },
    )
}
