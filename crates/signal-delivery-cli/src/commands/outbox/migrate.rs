//! `outbox migrate`: brings the schema up to date and says what it found
//! and did, as one JSON line.
//!
//! On PostgreSQL it connects without touching the schema and applies the
//! missing versions under the advisory lock (so that it may run while
//! workers start). A SQLite file is migrated whenever it is opened, by
//! whichever process opens it first: this opens it and prints the same
//! line, with `from` and `applied` unknown (`null`).

use super::{Done, Failure, emit};
use crate::args::OutboxArg;
use crate::output::JsonLines;
use serde::Serialize;
use signal_config::{OutboxSettings, OutboxTarget};

#[derive(Debug, Serialize)]
struct MigrateLine {
    /// What the outbox calls itself (a path; a URL with its password redacted).
    path: String,
    backend: &'static str,
    /// The highest version applied before; `null` when opening already migrated it.
    from: Option<i32>,
    /// The highest version applied now.
    to: i32,
    /// The versions this command applied; `null` when unknown.
    applied: Option<Vec<i32>>,
    /// The oldest binary version the schema allows; `null` where the
    /// backend records none (SQLite: one process family per file).
    min_binary_version: Option<String>,
}

pub(super) async fn run(
    arg: &OutboxArg,
    settings: &OutboxSettings,
    output: &mut JsonLines,
) -> Done {
    let target = super::super::open::resolve(arg, settings)
        .map_err(|e| Failure::Usage(format!("{e}\nNothing was done.")))?;
    let line = match &target {
        OutboxTarget::Postgres(url) => {
            let outbox = super::super::open::postgres_unmigrated(url, settings)
                .await
                .map_err(|e| Failure::Usage(format!("{e}\nNothing was done.")))?;
            let report = outbox.migrate().await?;
            MigrateLine {
                path: url.redacted().to_owned(),
                backend: "postgres",
                from: Some(report.from),
                to: report.to,
                applied: Some(report.applied),
                min_binary_version: Some(report.min_binary_version),
            }
        }
        OutboxTarget::Sqlite(_) => {
            let outbox = super::super::open::existing(arg, settings)
                .await
                .map_err(Failure::Exit)?;
            MigrateLine {
                path: outbox.describe(),
                backend: "sqlite",
                from: None,
                to: signal_outbox_sqlite::SCHEMA_VERSION,
                applied: None,
                min_binary_version: None,
            }
        }
    };
    emit(output, &line)
}
